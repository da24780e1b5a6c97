/*
 * trust.c — the user's own record of verified volumes, outside every store
 * (ledger layer). See trust.h for the layout and the rules.
 *
 * Nothing here verifies a signature: a pin is what this user verified
 * before, written only after a verification by the caller. The files are
 * still parsed strictly on every load, since a damaged pin must be reported,
 * never taken for "nothing verified yet" (that would let a rollback pass).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/sys.h"
#include "ledgerfs/trust.h"

#define DIR_PIN_MAGIC "ledgerfs trusted directory v1\n"
/* A directory pin holds an origin and an escaped path (up to 4 bytes per
 * path byte): anything longer is not one of ours. */
#define DIR_PIN_MAX (sizeof(DIR_PIN_MAGIC) + 8 + LGFS_ORIGIN_MAX + 6 + 4 * PATH_MAX + 2)

/* "a/b" malloc'd, or NULL when memory runs out. */
static char *join(const char *a, const char *b)
{
	char *s;

	return asprintf(&s, "%s/%s", a, b) < 0 ? NULL : s;
}

int lgfs_trust_state_dir(char **out)
{
	const char *s;

	*out = NULL;
	if ((s = getenv("LEDGERFS_STATE_DIR")) && *s)
		*out = strdup(s);
	else if ((s = getenv("XDG_STATE_HOME")) && s[0] == '/') /* relative ones are to be ignored */
		*out = join(s, "ledgerfs");
	else if ((s = getenv("HOME")) && *s)
		*out = join(s, ".local/state/ledgerfs");
	else
		return lgfs_error_set(LGFS_ENOTFOUND,
				      "no state directory for trusted checkpoints: set LEDGERFS_STATE_DIR or HOME");
	if (!*out)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	return 0;
}

/* Lower-case hex SHA-256 of p: the file name that keys a pin. */
static void hash_name(char out[2 * LGFS_HASH_LEN + 1], const void *p, size_t n)
{
	uint8_t h[LGFS_HASH_LEN];

	lgfs_sha256(h, p, n);
	lgfs_hex(out, h, sizeof(h));
}

/* The volume directory's realpath (*real, malloc'd) and the path of its pin
 * file under `state` (*pinpath, malloc'd). */
static int dir_pin_path(char **pinpath, char **real, const char *state, const char *voldir)
{
	char name[2 * LGFS_HASH_LEN + 1], *esc;
	int rc;

	*pinpath = NULL;
	*real = realpath(voldir, NULL);
	if (!*real) {
		esc = lgfs_escape_dup(voldir, strlen(voldir));
		rc = lgfs_error_errno(LGFS_EIO, "volume directory %s", esc ? esc : "?");
		free(esc);
		return rc;
	}
	hash_name(name, *real, strlen(*real));
	if (asprintf(pinpath, "%s/trusted/dirs/%s", state, name) < 0) {
		*pinpath = NULL;
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	}
	return 0;
}

static int origin_pin_path(char **out, const char *state, const char *origin)
{
	char name[2 * LGFS_HASH_LEN + 1];

	hash_name(name, origin, strlen(origin));
	if (asprintf(out, "%s/trusted/origins/%s", state, name) < 0) {
		*out = NULL;
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	}
	return 0;
}

/* Read a whole pin file of at most `max` bytes into *out (NUL-terminated,
 * malloc'd). LGFS_ENOTFOUND if it does not exist (nothing pinned),
 * LGFS_ECORRUPT if it is larger than any pin we write. */
static int read_pin_file(char **out, size_t *len, const char *path, size_t max)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	int fd, rc = 0;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return LGFS_ENOTFOUND;
		return lgfs_error_errno(LGFS_EIO, "opening trusted state %s", path);
	}
	if (fstat(fd, &st)) {
		rc = lgfs_error_errno(LGFS_EIO, "reading trusted state %s", path);
		goto done;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		rc = lgfs_error_set(LGFS_ECORRUPT, "trusted state %s is not a pin file (%s); "
				    "remove it only if you know why it changed", path,
				    S_ISREG(st.st_mode) ? "too large" : "not a regular file");
		goto done;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto done;
	}
	n = lgfs_sys_pread_full(fd, buf, (size_t)st.st_size, 0);
	if (n < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "reading trusted state %s", path);
		goto done;
	}
	buf[n] = '\0';
	*out = buf;
	*len = (size_t)n;
	buf = NULL;
done:
	free(buf);
	close(fd);
	return rc;
}

/* Replace dir/name with the bytes p..p+n: a temporary file in the same
 * directory, synced, then renamed over the old one, so a crash or a
 * concurrent reader sees the old or the new pin, never a part. */
static int write_atomic(const char *path, const void *p, size_t n)
{
	char *tmp = NULL;
	int fd = -1, rc = 0;

	if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0) {
		tmp = NULL;
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	}
	fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
	if (fd < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "creating %s", tmp);
		goto done;
	}
	if (lgfs_sys_pwrite_all(fd, p, n, 0) || fsync(fd)) {
		rc = lgfs_error_errno(LGFS_EIO, "writing %s", tmp);
		goto done;
	}
	if (close(fd)) {
		fd = -1;
		rc = lgfs_error_errno(LGFS_EIO, "writing %s", tmp);
		goto done;
	}
	fd = -1;
	if (rename(tmp, path)) {
		rc = lgfs_error_errno(LGFS_EIO, "renaming %s to %s", tmp, path);
		goto done;
	}
done:
	if (fd >= 0)
		close(fd);
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* An origin as a checkpoint's first line may be: 1..255 bytes, no control
 * characters. */
static int origin_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > LGFS_ORIGIN_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* Parse a directory pin: the magic line, "origin <origin>\n", "path ...\n". */
static int parse_dir_pin(char origin[LGFS_ORIGIN_MAX + 1], const char *text, size_t len, const char *path)
{
	const char *p = text, *end = text + len, *nl;
	size_t ml = strlen(DIR_PIN_MAGIC);

	if (len < ml || memcmp(p, DIR_PIN_MAGIC, ml))
		goto bad;
	p += ml;
	if ((size_t)(end - p) < 7 || memcmp(p, "origin ", 7))
		goto bad;
	p += 7;
	nl = memchr(p, '\n', (size_t)(end - p));
	if (!nl || !origin_ok(p, (size_t)(nl - p)))
		goto bad;
	memcpy(origin, p, (size_t)(nl - p));
	origin[nl - p] = '\0';
	p = nl + 1;
	/* The path line is for people reading the state directory; the file's
	 * name (hash of the realpath) is the key. It must still be there. */
	if ((size_t)(end - p) < 5 || memcmp(p, "path ", 5))
		goto bad;
	nl = memchr(p, '\n', (size_t)(end - p));
	if (!nl || nl + 1 != end || memchr(p, '\0', (size_t)(end - p)))
		goto bad;
	return 0;
bad:
	origin[0] = '\0';
	return lgfs_error_set(LGFS_ECORRUPT, "trusted directory pin %s cannot be parsed; "
			      "remove it only if you know why it changed", path);
}

/* Load the checkpoint pinned for `origin` into pin (have_cp, cp, note).
 * A missing file leaves have_cp 0. */
static int load_origin(struct lgfs_trust_pin *pin, const char *state, const char *origin)
{
	struct lgfs_note *n = NULL;
	struct lgfs_checkpoint cp;
	char *path = NULL, *text = NULL;
	size_t len;
	int rc;

	rc = origin_pin_path(&path, state, origin);
	if (rc)
		goto done;
	rc = read_pin_file(&text, &len, path, LGFS_NOTE_MAX);
	if (rc == LGFS_ENOTFOUND) {
		rc = 0;
		goto done;
	}
	if (rc)
		goto done;
	if (lgfs_note_parse(&n, text, len) || lgfs_checkpoint_parse(&cp, n->text, n->text_len)) {
		rc = lgfs_error_set(LGFS_ECORRUPT, "trusted checkpoint %s cannot be parsed (%s); "
				    "remove it only if you know why it changed", path, lgfs_error_last());
		goto done;
	}
	if (strcmp(cp.origin, origin)) {
		rc = lgfs_error_set(LGFS_ECORRUPT, "trusted checkpoint %s is for another origin", path);
		goto done;
	}
	pin->have_cp = 1;
	pin->cp = cp;
	pin->note = text;
	text = NULL;
done:
	lgfs_note_free(n);
	free(text);
	free(path);
	return rc;
}

int lgfs_trust_load(struct lgfs_trust_pin *out, const char *voldir, const char *origin)
{
	char *state = NULL, *pinpath = NULL, *real = NULL, *text = NULL;
	const char *which;
	size_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = lgfs_trust_state_dir(&state);
	if (rc)
		goto done;
	rc = dir_pin_path(&pinpath, &real, state, voldir);
	if (rc)
		goto done;
	rc = read_pin_file(&text, &len, pinpath, DIR_PIN_MAX);
	if (rc == LGFS_ENOTFOUND)
		rc = 0;
	else if (rc || (rc = parse_dir_pin(out->origin, text, len, pinpath)))
		goto done;
	which = out->origin[0] ? out->origin : origin;
	if (which && *which)
		rc = load_origin(out, state, which);
done:
	free(text);
	free(real);
	free(pinpath);
	free(state);
	return rc;
}

int lgfs_trust_save(const char *voldir, const char *note)
{
	struct lgfs_trust_pin old;
	struct lgfs_note *n = NULL;
	struct lgfs_checkpoint cp;
	char *state = NULL, *trusted = NULL, *sub = NULL, *pinpath = NULL, *real = NULL;
	char *text = NULL, *esc = NULL, *opath = NULL, *pin = NULL;
	size_t len;
	int rc, lockfd = -1;

	memset(&old, 0, sizeof(old));
	rc = lgfs_note_parse(&n, note, strlen(note));
	if (!rc)
		rc = lgfs_checkpoint_parse(&cp, n->text, n->text_len);
	if (rc) {
		rc = lgfs_error_wrap(LGFS_EINVAL, "checkpoint to trust");
		goto done;
	}
	rc = lgfs_trust_state_dir(&state);
	if (rc)
		goto done;
	if (!(trusted = join(state, "trusted"))) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto done;
	}
	if (!(sub = join(trusted, "dirs")) || (rc = lgfs_sys_mkdirs(sub, 0700)))
		goto mkdone;
	free(sub);
	if (!(sub = join(trusted, "origins")) || (rc = lgfs_sys_mkdirs(sub, 0700)))
		goto mkdone;
	free(sub);
	/* Two commands verifying at once must not both decide from the old
	 * state: one read-decide-write at a time. */
	if (!(sub = join(trusted, "lock"))) {
mkdone:
		if (!rc)
			rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto done;
	}
	lockfd = open(sub, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX)) {
		rc = lgfs_error_errno(LGFS_EIO, "locking %s", sub);
		goto done;
	}

	rc = dir_pin_path(&pinpath, &real, state, voldir);
	if (rc)
		goto done;
	rc = read_pin_file(&text, &len, pinpath, DIR_PIN_MAX);
	if (rc == LGFS_ENOTFOUND)
		rc = 0;
	else if (rc || (rc = parse_dir_pin(old.origin, text, len, pinpath)))
		goto done;
	if (!(esc = lgfs_escape_dup(real, strlen(real)))) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto done;
	}
	if (old.origin[0] && strcmp(old.origin, cp.origin)) {
		rc = lgfs_error_set(LGFS_ECONFLICT, "volume directory %s was verified before as origin "
				    "\"%s\", now it holds \"%s\": another volume's log", esc, old.origin, cp.origin);
		goto done;
	}
	rc = load_origin(&old, state, cp.origin);
	if (rc)
		goto done;
	if (old.have_cp && old.cp.size == cp.size && memcmp(old.cp.root, cp.root, sizeof(cp.root))) {
		rc = lgfs_error_set(LGFS_ECONFLICT, "a checkpoint of \"%s\" at size %llu with another root "
				    "was verified before: the log was forked", cp.origin,
				    (unsigned long long)cp.size);
		goto done;
	}
	if (!old.have_cp || old.cp.size < cp.size) {
		rc = origin_pin_path(&opath, state, cp.origin);
		if (!rc)
			rc = write_atomic(opath, note, strlen(note));
		if (rc)
			goto done;
	}
	if (!old.origin[0]) {
		if (asprintf(&pin, DIR_PIN_MAGIC "origin %s\npath %s\n", cp.origin, esc) < 0) {
			pin = NULL;
			rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
			goto done;
		}
		rc = write_atomic(pinpath, pin, strlen(pin));
	}
done:
	if (lockfd >= 0)
		close(lockfd); /* releases the lock */
	lgfs_trust_pin_free(&old);
	lgfs_note_free(n);
	free(pin);
	free(opath);
	free(esc);
	free(text);
	free(real);
	free(pinpath);
	free(sub);
	free(trusted);
	free(state);
	return rc;
}

int lgfs_trust_forget(const char *voldir)
{
	struct lgfs_trust_pin pin;
	char *state = NULL, *pinpath = NULL, *real = NULL, *opath = NULL;
	int rc;

	memset(&pin, 0, sizeof(pin));
	rc = lgfs_trust_state_dir(&state);
	if (rc)
		return rc == LGFS_ENOTFOUND ? 0 : rc;
	rc = dir_pin_path(&pinpath, &real, state, voldir);
	if (rc)
		goto done;
	/* The origin the directory was pinned to, if its pin can be read: its
	 * checkpoint goes too (a restored older copy would fail against it). */
	if (lgfs_trust_load(&pin, voldir, NULL) == 0 && pin.origin[0]) {
		if ((rc = origin_pin_path(&opath, state, pin.origin)))
			goto done;
		if (unlink(opath) && errno != ENOENT) {
			rc = lgfs_error_errno(LGFS_EIO, "removing %s", opath);
			goto done;
		}
	}
	if (unlink(pinpath) && errno != ENOENT)
		rc = lgfs_error_errno(LGFS_EIO, "removing %s", pinpath);
done:
	lgfs_trust_pin_free(&pin);
	free(opath);
	free(real);
	free(pinpath);
	free(state);
	return rc;
}

void lgfs_trust_pin_free(struct lgfs_trust_pin *p)
{
	if (!p)
		return;
	free(p->note);
	p->note = NULL;
	p->have_cp = 0;
}
