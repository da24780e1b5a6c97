/*
 * ledger.c — an open volume: signed envelopes, group commit, Merkle tree,
 * checkpoints (ledger layer). See ledger.h.
 *
 * Group commit: every caller of lgfs_ledger_append() queues its records and
 * waits. Whoever finds no commit in progress becomes the leader: it takes
 * the whole queue, builds and signs the envelopes in order (each names the
 * hash of the one before), hands the batch to the log store (one write, one
 * fdatasync), extends the tree, signs one checkpoint, and wakes the others.
 */
#include "ledgerfs/ledger.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/log.h"
#include "ledgerfs/merkle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 8192 /* records per group commit */
/* A leader that sees fewer records queued than the last batch held waits up
 * to this long for the other writers to catch up, so that concurrent
 * writers share fdatasyncs instead of alternating one-record batches. A lone
 * writer (last batch of 1) never waits. */
#define GROUP_WAIT_NS 200000

/* One caller waiting in lgfs_ledger_append. */
struct pending {
	struct lgfs_record *const *recs;
	size_t n;
	int rc;              /* result, valid once done */
	int done;            /* set by the leader under l->mu */
	int skip;            /* leader-private: failed before the log write */
	char err[512];       /* the leader's message for this caller */
	struct pending *next;
};

struct lgfs_ledger {
	char *dir;                     /* volume directory */
	int rdonly;
	const struct lgfs_key *key;    /* borrowed; NULL when read-only */
	struct lgfs_log *log;
	struct lgfs_merkle *tree;      /* NULL until needed when read-only */
	struct lgfs_volume_info info;
	int cp_fd;                     /* checkpoints file, -1 when read-only */

	pthread_mutex_t mu;            /* guards everything below */
	pthread_cond_t cv;             /* signalled when a batch is done */
	pthread_cond_t qcv;            /* signalled when records are queued */
	int committing;                /* a leader is at work */
	struct pending *queue, **queue_tail;
	size_t queued;                 /* records in the queue */
	size_t last_batch;             /* records in the previous batch */
	uint64_t size;                 /* entries in the log */
	uint8_t prev[32];              /* hash of the last envelope */
	int64_t last_time;             /* time of the last record */
	uint64_t cp_size;              /* size of the latest stored checkpoint */
};

int lgfs_volume_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > LGFS_VOLUME_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int lgfs_store_default_path(char **out)
{
	const char *env = getenv("LEDGERFS_STORE"), *home = getenv("HOME");

	*out = NULL;
	if (env && *env)
		*out = strdup(env);
	else if (home && *home) {
		if (asprintf(out, "%s/.local/share/ledgerfs", home) < 0)
			*out = NULL;
	} else
		return lgfs_error_set(LGFS_EINVAL, "neither LEDGERFS_STORE nor HOME is set; use --store DIR");
	return *out ? 0 : lgfs_error_set(LGFS_ENOMEM, "out of memory");
}

int lgfs_volume_dir(char **out, const char *store, const char *name)
{
	*out = NULL;
	if (!lgfs_volume_name_valid(name))
		return lgfs_error_set(LGFS_EINVAL,
				      "invalid volume name '%s': use 1-64 of A-Z a-z 0-9 . _ -, not starting with . or -",
				      name);
	if (asprintf(out, "%s/volumes/%s", store, name) < 0) {
		*out = NULL;
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	}
	return 0;
}

static char *path_join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s/%s", a, b) < 0)
		return NULL;
	return p;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return lgfs_error_errno(LGFS_EIO, "opening %s", dir);
	if (fsync(fd))
		rc = lgfs_error_errno(LGFS_EIO, "syncing %s", dir);
	close(fd);
	return rc;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char *p = strdup(path), *s;
	int rc = 0;

	if (!p)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	for (s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, mode) && errno != EEXIST) {
				rc = lgfs_error_errno(LGFS_EIO, "creating %s", p);
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return rc;
}

/* ---- checkpoints file: frames of u32 BE length | note | u32 BE length ---- */

/* Scan the checkpoints file; call cb for each complete frame; *valid_end
 * gets the offset after the last complete frame. */
static int cp_scan(int fd, lgfs_checkpoint_cb cb, void *arg, off_t *valid_end)
{
	struct stat st;
	uint8_t *data = NULL;
	size_t off = 0, len;
	int rc = 0;

	*valid_end = 0;
	if (fstat(fd, &st))
		return lgfs_error_errno(LGFS_EIO, "reading checkpoints");
	len = (size_t)st.st_size;
	if (len == 0)
		return 0;
	data = malloc(len);
	if (!data)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory reading checkpoints");
	if (pread(fd, data, len, 0) != (ssize_t)len) {
		rc = lgfs_error_errno(LGFS_EIO, "reading checkpoints");
		goto out;
	}
	while (len - off >= 8) {
		uint32_t n = lgfs_be32_get(data + off);

		if (n == 0 || n > LGFS_NOTE_MAX || len - off - 8 < n || lgfs_be32_get(data + off + 4 + n) != n)
			break;
		if (cb) {
			rc = cb(arg, (const char *)data + off + 4, n);
			if (rc)
				goto out;
		}
		off += 8 + (size_t)n;
	}
	*valid_end = (off_t)off;
out:
	free(data);
	return rc;
}

/* Read the last frame cheaply through its trailing length. */
static int cp_latest(int fd, char **out)
{
	struct stat st;
	uint8_t t[4];
	uint32_t n;
	char *note;

	*out = NULL;
	if (fstat(fd, &st))
		return lgfs_error_errno(LGFS_EIO, "reading checkpoints");
	if (st.st_size < 8)
		return lgfs_error_set(LGFS_ENOTFOUND, "no checkpoint stored");
	if (pread(fd, t, 4, st.st_size - 4) != 4)
		return lgfs_error_errno(LGFS_EIO, "reading checkpoints");
	n = lgfs_be32_get(t);
	if (n == 0 || n > LGFS_NOTE_MAX || (off_t)n + 8 > st.st_size)
		return lgfs_error_set(LGFS_ECORRUPT, "checkpoints file ends in a damaged frame");
	note = malloc(n + 1);
	if (!note)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	if (pread(fd, t, 4, st.st_size - 8 - n) != 4 || lgfs_be32_get(t) != n ||
	    pread(fd, note, n, st.st_size - 4 - n) != (ssize_t)n) {
		free(note);
		return lgfs_error_set(LGFS_ECORRUPT, "checkpoints file ends in a damaged frame");
	}
	note[n] = '\0';
	*out = note;
	return 0;
}

static int cp_append(int fd, const char *note, int sync)
{
	size_t n = strlen(note);
	uint8_t *frame = malloc(n + 8);
	int rc = 0;

	if (!frame)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	lgfs_be32_put(frame, (uint32_t)n);
	memcpy(frame + 4, note, n);
	lgfs_be32_put(frame + 4 + n, (uint32_t)n);
	if (write(fd, frame, n + 8) != (ssize_t)(n + 8))
		rc = lgfs_error_errno(LGFS_EIO, "writing a checkpoint");
	else if (sync && fdatasync(fd))
		rc = lgfs_error_errno(LGFS_EIO, "syncing checkpoints");
	free(frame);
	return rc;
}

int lgfs_checkpoints_each(const char *voldir, lgfs_checkpoint_cb cb, void *arg)
{
	char *path = path_join(voldir, "checkpoints");
	off_t end;
	int fd, rc;

	if (!path)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : lgfs_error_errno(LGFS_EIO, "opening checkpoints");
	rc = cp_scan(fd, cb, arg, &end);
	close(fd);
	return rc;
}

/* ---- building entries ---- */

/* Sign an envelope in place (its last 64 bytes) for a volume's origin. */
static int sign_envelope(const struct lgfs_key *key, const char *origin, uint8_t env[LGFS_ENVELOPE_LEN])
{
	struct lgfs_buf msg = LGFS_BUF_INIT;
	int rc;

	rc = lgfs_envelope_signed_message(&msg, origin, env);
	if (!rc)
		rc = lgfs_key_sign(key, env + LGFS_ENVELOPE_SIGNED_LEN, msg.data, msg.len);
	lgfs_buf_free(&msg);
	return rc;
}

/* Fill the ledger-owned fields of r for position `index` and encode it;
 * env_out gets the envelope without its signature (sign_envelope does
 * that, possibly on another thread). rec_out gets the record bytes
 * appended. For the genesis record (index 0) the origin is derived here and
 * stored in *origin. */
static int build_entry(const struct lgfs_key *key, char *origin, uint64_t index, const uint8_t prev[32],
		       int64_t time_ns, struct lgfs_record *r, struct lgfs_buf *rec_out,
		       uint8_t env_out[LGFS_ENVELOPE_LEN])
{
	struct lgfs_envelope env;
	size_t start = rec_out->len;
	int rc;

	if ((index == 0) != (r->op == LGFS_OP_GENESIS))
		return lgfs_error_set(LGFS_EINVAL, "a genesis record must be exactly the first record");
	if (RAND_bytes(r->salt, LGFS_SALT_LEN) != 1)
		return lgfs_error_set(LGFS_ERROR, "no randomness for the record salt");
	r->version = LGFS_FORMAT_VERSION;
	snprintf(r->origin, sizeof(r->origin), "%s", index == 0 ? "" : origin);
	r->index = index;
	memcpy(r->prev, prev, 32);
	memcpy(r->author, lgfs_key_public(key), 32);
	r->time_ns = time_ns;
	rc = lgfs_record_encode(rec_out, r);
	if (rc)
		return rc;
	memset(&env, 0, sizeof(env));
	env.version = LGFS_FORMAT_VERSION;
	env.index = index;
	memcpy(env.prev, prev, 32);
	memcpy(env.author, r->author, 32);
	env.time_ns = time_ns;
	lgfs_record_commitment(env.commitment, rec_out->data + start, rec_out->len - start);
	if (index == 0) {
		const struct lgfs_arg *name = lgfs_record_arg(r, LGFS_F_NAME);
		char nm[LGFS_VOLUME_NAME_MAX + 1];

		if (!name || name->len > LGFS_VOLUME_NAME_MAX)
			return lgfs_error_set(LGFS_EINVAL, "genesis record needs a volume name");
		memcpy(nm, name->data, name->len);
		nm[name->len] = '\0';
		rc = lgfs_origin_make(origin, nm, env.commitment);
		if (rc)
			return rc;
	}
	lgfs_envelope_encode(env_out, &env);
	return 0;
}

/* Signing on all cores: each worker signs a slice of the batch. */
struct sign_work {
	const struct lgfs_key *key;
	const char *origin;
	uint8_t (*envs)[LGFS_ENVELOPE_LEN];
	size_t from, to;
	int rc;
};

static void *sign_worker(void *arg)
{
	struct sign_work *w = arg;
	size_t i;

	for (i = w->from; i < w->to && !w->rc; i++)
		w->rc = sign_envelope(w->key, w->origin, w->envs[i]);
	return NULL;
}

#define SIGN_PARALLEL_MIN 4 /* smaller batches are signed in the caller (a thread costs ~30 us, a signature ~65 us) */
#define SIGN_MAX_THREADS 16

static int sign_batch(const struct lgfs_key *key, const char *origin, uint8_t (*envs)[LGFS_ENVELOPE_LEN],
		      size_t n)
{
	struct sign_work w[SIGN_MAX_THREADS];
	pthread_t tid[SIGN_MAX_THREADS];
	int started[SIGN_MAX_THREADS] = { 0 };
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nt = n < SIGN_PARALLEL_MIN || ncpu < 2 ? 1 : (size_t)ncpu, t;
	int rc = 0;

	if (nt > SIGN_MAX_THREADS)
		nt = SIGN_MAX_THREADS;
	for (t = 0; t < nt; t++) {
		w[t] = (struct sign_work){ key, origin, envs, n * t / nt, n * (t + 1) / nt, 0 };
		if (t > 0)
			started[t] = pthread_create(&tid[t], NULL, sign_worker, &w[t]) == 0;
	}
	sign_worker(&w[0]);
	for (t = 1; t < nt; t++) {
		if (started[t])
			pthread_join(tid[t], NULL);
		else
			sign_worker(&w[t]); /* no thread to be had: sign here */
	}
	for (t = 0; t < nt; t++)
		if (w[t].rc && !rc)
			rc = w[t].rc;
	return rc;
}

/* Sign a checkpoint of the first `size` entries with the ledger's key. */
static int sign_checkpoint(struct lgfs_ledger *l, uint64_t size, char **out)
{
	struct lgfs_checkpoint cp;
	int rc;

	memset(&cp, 0, sizeof(cp));
	snprintf(cp.origin, sizeof(cp.origin), "%s", l->info.origin);
	cp.size = size;
	rc = lgfs_merkle_root(l->tree, size, cp.root);
	if (rc)
		return rc;
	return lgfs_checkpoint_sign(out, &cp, l->key);
}

/* ---- opening ---- */

/* Decode the genesis entry into l->info. */
static int load_genesis(struct lgfs_volume_info *info, const struct lgfs_log_entry *e)
{
	struct lgfs_envelope env;
	struct lgfs_record r;
	const struct lgfs_arg *a;
	uint32_t thr = 0;
	int rc;

	memset(info, 0, sizeof(*info));
	rc = lgfs_envelope_decode(&env, e->envelope, e->envelope_len);
	if (!rc)
		rc = lgfs_record_decode(&r, e->record, e->record_len);
	if (rc)
		return lgfs_error_wrap(LGFS_ECORRUPT, "genesis record");
	if (r.op != LGFS_OP_GENESIS)
		return lgfs_error_set(LGFS_ECORRUPT, "the first record is not a genesis record");
	a = lgfs_record_arg(&r, LGFS_F_NAME);
	if (a->len > LGFS_VOLUME_NAME_MAX)
		return lgfs_error_set(LGFS_ECORRUPT, "genesis volume name too long");
	memcpy(info->name, a->data, a->len);
	a = lgfs_record_arg(&r, LGFS_F_KEY);
	memcpy(info->founder, a->data, 32);
	a = lgfs_record_arg(&r, LGFS_F_KEY_NAME);
	if (a->len > LGFS_KEY_NAME_MAX)
		return lgfs_error_set(LGFS_ECORRUPT, "genesis key name too long");
	memcpy(info->founder_name, a->data, a->len);
	lgfs_record_get_u32(&r, LGFS_F_THRESHOLD, &thr);
	info->policy.threshold = thr;
	lgfs_record_get_u64(&r, LGFS_F_RETENTION, &info->policy.retention_s);
	info->created_ns = r.time_ns;
	return lgfs_origin_make(info->origin, info->name, env.commitment);
}

static int first_entry_cb(void *arg, const struct lgfs_log_entry *e)
{
	return load_genesis(arg, e);
}

/* Remember the last envelope's hash and time. */
static int last_entry_cb(void *arg, const struct lgfs_log_entry *e)
{
	struct lgfs_ledger *l = arg;
	struct lgfs_envelope env;
	int rc = lgfs_envelope_decode(&env, e->envelope, e->envelope_len);

	if (rc)
		return lgfs_error_wrap(rc, "log entry %llu", (unsigned long long)e->index);
	lgfs_envelope_hash(l->prev, e->envelope);
	l->last_time = env.time_ns;
	return 0;
}

static int tree_extend_cb(void *arg, const struct lgfs_log_entry *e)
{
	uint8_t leaf[32];

	lgfs_merkle_leaf_hash(leaf, e->envelope, e->envelope_len);
	return lgfs_merkle_append(arg, leaf);
}

/* Bring the tree to the log's size and check it against the latest
 * checkpoint; rebuild it from the log when it disagrees. */
static int tree_sync(struct lgfs_ledger *l, const struct lgfs_checkpoint *cp)
{
	uint64_t tsize = lgfs_merkle_size(l->tree);
	uint8_t root[32];
	int rc, attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		if (tsize > l->size && (rc = lgfs_merkle_truncate(l->tree, l->size)))
			return rc;
		tsize = lgfs_merkle_size(l->tree);
		if (tsize < l->size) {
			rc = lgfs_log_read(l->log, tsize, l->size - tsize, tree_extend_cb, l->tree);
			if (!rc)
				rc = lgfs_merkle_flush(l->tree);
			if (rc)
				return rc;
		}
		if (!cp || cp->size > l->size)
			return 0;
		rc = lgfs_merkle_root(l->tree, cp->size, root);
		if (rc)
			return rc;
		if (!memcmp(root, cp->root, 32))
			return 0;
		/* The derived tree is wrong (torn or damaged file): rebuild. */
		rc = lgfs_merkle_truncate(l->tree, 0);
		if (rc)
			return rc;
		tsize = 0;
	}
	return lgfs_error_set(LGFS_ECORRUPT,
			      "the log's first %llu entries do not match the latest signed checkpoint; run 'ledgerfs audit'",
			      (unsigned long long)cp->size);
}

int lgfs_ledger_open_dir(struct lgfs_ledger **out, const char *dir, const struct lgfs_key *key, int flags)
{
	struct lgfs_ledger *l;
	struct lgfs_checkpoint cp;
	char *path = NULL, *note = NULL;
	int rc, have_cp = 0;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	l->cp_fd = -1;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	pthread_cond_init(&l->qcv, NULL);
	l->queue_tail = &l->queue;
	l->rdonly = !!(flags & LGFS_LEDGER_RDONLY);
	l->dir = strdup(dir);
	if (!l->dir) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto fail;
	}
	if (!l->rdonly) {
		if (!key || !lgfs_key_has_private(key)) {
			rc = lgfs_error_set(LGFS_EINVAL, "writing to a volume needs a private key");
			goto fail;
		}
		l->key = key;
	}
	path = path_join(dir, "log");
	if (!path) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto fail;
	}
	rc = lgfs_log_open(&l->log, path, l->rdonly ? LGFS_LOG_RDONLY : 0);
	free(path);
	path = NULL;
	if (rc) {
		if (rc == LGFS_ENOTFOUND)
			lgfs_error_set(rc, "no volume at %s", dir);
		goto fail;
	}
	rc = lgfs_log_size(l->log, &l->size);
	if (rc)
		goto fail;
	if (l->size == 0) {
		rc = lgfs_error_set(LGFS_ECORRUPT, "volume at %s has an empty log (no genesis record)", dir);
		goto fail;
	}
	rc = lgfs_log_read(l->log, 0, 1, first_entry_cb, &l->info);
	if (!rc)
		rc = lgfs_log_read(l->log, l->size - 1, 1, last_entry_cb, l);
	if (rc)
		goto fail;
	if (!l->rdonly && memcmp(lgfs_key_public(key), l->info.founder, 32)) {
		rc = lgfs_error_set(LGFS_EPERM, "key '%s' is not a member of volume '%s'",
				    lgfs_key_name(key), l->info.name);
		goto fail;
	}
	if (l->rdonly)
		goto done;

	path = path_join(dir, "checkpoints");
	if (!path) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto fail;
	}
	l->cp_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	free(path);
	path = NULL;
	if (l->cp_fd < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "opening checkpoints");
		goto fail;
	}
	{
		/* Cut a torn last checkpoint frame (crash during its write). */
		off_t end;
		struct stat st;

		rc = cp_scan(l->cp_fd, NULL, NULL, &end);
		if (rc)
			goto fail;
		if (fstat(l->cp_fd, &st) == 0 && st.st_size != end && ftruncate(l->cp_fd, end)) {
			rc = lgfs_error_errno(LGFS_EIO, "repairing checkpoints");
			goto fail;
		}
	}
	rc = cp_latest(l->cp_fd, &note);
	if (rc == 0) {
		struct lgfs_note *n = NULL;

		rc = lgfs_note_parse(&n, note, strlen(note));
		if (!rc)
			rc = lgfs_checkpoint_parse(&cp, n->text, n->text_len);
		lgfs_note_free(n);
		if (rc) {
			lgfs_error_wrap(rc, "latest checkpoint");
			goto fail;
		}
		have_cp = 1;
		l->cp_size = cp.size;
		if (cp.size > l->size) {
			rc = lgfs_error_set(LGFS_ECORRUPT,
					    "the log has %llu entries but a signed checkpoint covers %llu: entries were lost; run 'ledgerfs audit'",
					    (unsigned long long)l->size, (unsigned long long)cp.size);
			goto fail;
		}
	} else if (rc != LGFS_ENOTFOUND) {
		goto fail;
	}
	path = path_join(dir, "tree");
	if (!path) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto fail;
	}
	rc = lgfs_merkle_open(&l->tree, path);
	free(path);
	path = NULL;
	if (!rc)
		rc = tree_sync(l, have_cp ? &cp : NULL);
	if (rc)
		goto fail;
done:
	free(note);
	*out = l;
	return 0;
fail:
	free(note);
	lgfs_ledger_close(l);
	return rc;
}

int lgfs_ledger_open(struct lgfs_ledger **out, const char *store, const char *name,
		     const struct lgfs_key *key, int flags)
{
	char *dir;
	int rc;

	*out = NULL;
	rc = lgfs_volume_dir(&dir, store, name);
	if (rc)
		return rc;
	if (access(dir, F_OK)) {
		rc = lgfs_error_set(LGFS_ENOTFOUND, "no volume '%s' in store %s", name, store);
		free(dir);
		return rc;
	}
	rc = lgfs_ledger_open_dir(out, dir, key, flags);
	free(dir);
	return rc;
}

void lgfs_ledger_close(struct lgfs_ledger *l)
{
	if (!l)
		return;
	if (!l->rdonly && l->tree && l->cp_fd >= 0) {
		char *note = NULL;

		/* A final checkpoint if the log grew since the last one; then make
		 * the checkpoints (written without sync after each batch) durable. */
		if (l->cp_size != l->size && sign_checkpoint(l, l->size, &note) == 0)
			cp_append(l->cp_fd, note, 0);
		fdatasync(l->cp_fd);
		free(note);
	}
	if (l->tree) {
		lgfs_merkle_flush(l->tree);
		lgfs_merkle_close(l->tree);
	}
	if (l->cp_fd >= 0)
		close(l->cp_fd);
	if (l->log)
		lgfs_log_close(l->log);
	pthread_cond_destroy(&l->cv);
	pthread_cond_destroy(&l->qcv);
	pthread_mutex_destroy(&l->mu);
	free(l->dir);
	free(l);
}

const struct lgfs_volume_info *lgfs_ledger_info(const struct lgfs_ledger *l)
{
	return &l->info;
}

const char *lgfs_ledger_dir(const struct lgfs_ledger *l)
{
	return l->dir;
}

uint64_t lgfs_ledger_size(struct lgfs_ledger *l)
{
	uint64_t n;

	pthread_mutex_lock(&l->mu);
	n = l->size;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* ---- appending ---- */

/*
 * Commit a batch of waiting callers (called by the leader without l->mu).
 * A caller whose records do not encode fails alone; a log failure fails
 * the whole batch and leaves the ledger as it was.
 */
static void commit_batch(struct lgfs_ledger *l, struct pending *batch)
{
	struct lgfs_buf recs = LGFS_BUF_INIT;
	struct lgfs_log_entry *entries = NULL;
	uint8_t (*envs)[LGFS_ENVELOPE_LEN] = NULL;
	size_t *rec_off = NULL, total = 0, n = 0, i;
	uint64_t index = l->size;
	uint8_t prev[32];
	int64_t t = now_ns();
	struct pending *p;
	char *note = NULL;
	int rc = 0;

	memcpy(prev, l->prev, 32);
	if (t < l->last_time)
		t = l->last_time; /* keep log time non-decreasing if the clock steps back */
	for (p = batch; p; p = p->next)
		total += p->n;
	entries = calloc(total ? total : 1, sizeof(*entries));
	envs = calloc(total ? total : 1, sizeof(*envs));
	rec_off = calloc(total + 1, sizeof(*rec_off));
	if (!entries || !envs || !rec_off) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory committing records");
		goto finish;
	}
	for (p = batch; p; p = p->next) {
		size_t n0 = n, len0 = recs.len;
		uint64_t index0 = index;
		uint8_t prev0[32];

		memcpy(prev0, prev, 32);
		p->rc = 0;
		for (i = 0; i < p->n; i++) {
			uint16_t fam = p->recs[i]->op >> 8;

			if (fam != 0x01 && p->recs[i]->op != LGFS_OP_NOTE) {
				p->rc = lgfs_error_set(LGFS_EINVAL,
						       "operation '%s' is reserved for a later version and cannot be written yet",
						       lgfs_op_name(p->recs[i]->op) ? lgfs_op_name(p->recs[i]->op) : "?");
				break;
			}
			rec_off[n] = recs.len;
			p->rc = build_entry(l->key, l->info.origin, index, prev, t, p->recs[i], &recs, envs[n]);
			if (p->rc)
				break;
			lgfs_envelope_hash(prev, envs[n]);
			index++;
			n++;
		}
		if (p->rc) {
			snprintf(p->err, sizeof(p->err), "%s", lgfs_error_last());
			p->skip = 1;
			n = n0;
			recs.len = len0;
			index = index0;
			memcpy(prev, prev0, 32);
		}
	}
	rec_off[n] = recs.len;
	if (n == 0)
		goto finish;
	rc = sign_batch(l->key, l->info.origin, envs, n);
	if (rc)
		goto finish;
	for (i = 0; i < n; i++) {
		entries[i].index = l->size + i;
		entries[i].envelope = envs[i];
		entries[i].envelope_len = LGFS_ENVELOPE_LEN;
		entries[i].record = recs.data + rec_off[i];
		entries[i].record_len = rec_off[i + 1] - rec_off[i];
	}
	rc = lgfs_log_append(l->log, l->size, entries, n);
	if (rc)
		goto finish;
	for (i = 0; i < n; i++) {
		uint8_t leaf[32];

		lgfs_merkle_leaf_hash(leaf, envs[i], LGFS_ENVELOPE_LEN);
		if ((rc = lgfs_merkle_append(l->tree, leaf)))
			break;
	}
	if (!rc)
		rc = lgfs_merkle_flush(l->tree);
	pthread_mutex_lock(&l->mu);
	l->size += n;
	memcpy(l->prev, prev, 32);
	l->last_time = t;
	pthread_mutex_unlock(&l->mu);
	if (rc) {
		/* The records are durable; only the derived tree failed. The next
		 * open rebuilds it; report the failure to the callers. */
		goto finish;
	}
	/* The records are durable: a checkpoint failure does not fail them. */
	if (sign_checkpoint(l, l->size, &note) == 0 && cp_append(l->cp_fd, note, 0) == 0)
		l->cp_size = l->size;
	free(note);
finish:
	for (p = batch; p; p = p->next) {
		if (p->skip)
			continue;
		p->rc = rc;
		if (rc)
			snprintf(p->err, sizeof(p->err), "%s", lgfs_error_last());
	}
	lgfs_buf_free(&recs);
	free(entries);
	free(envs);
	free(rec_off);
}

int lgfs_ledger_append(struct lgfs_ledger *l, struct lgfs_record *const *recs, size_t n)
{
	struct pending me;

	if (l->rdonly)
		return lgfs_error_set(LGFS_EROFS, "volume opened read-only");
	if (n == 0)
		return 0;
	memset(&me, 0, sizeof(me));
	me.recs = recs;
	me.n = n;
	pthread_mutex_lock(&l->mu);
	*l->queue_tail = &me;
	l->queue_tail = &me.next;
	l->queued += n;
	pthread_cond_signal(&l->qcv);
	while (!me.done) {
		struct pending *batch, *p, **cut;
		size_t taken = 0;

		if (l->committing) {
			pthread_cond_wait(&l->cv, &l->mu);
			continue;
		}
		/* Lead: take up to MAX_BATCH records (at least one caller). */
		l->committing = 1;
		if (l->last_batch > 1 && l->queued < l->last_batch) {
			struct timespec dl;

			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_nsec += GROUP_WAIT_NS;
			if (dl.tv_nsec >= 1000000000) {
				dl.tv_sec++;
				dl.tv_nsec -= 1000000000;
			}
			while (l->queued < l->last_batch)
				if (pthread_cond_timedwait(&l->qcv, &l->mu, &dl))
					break;
		}
		batch = l->queue;
		cut = &l->queue;
		while (*cut && (taken == 0 || taken + (*cut)->n <= MAX_BATCH)) {
			taken += (*cut)->n;
			cut = &(*cut)->next;
		}
		l->queue = *cut;
		if (!l->queue)
			l->queue_tail = &l->queue;
		*cut = NULL;
		l->queued -= taken;
		l->last_batch = taken;
		pthread_mutex_unlock(&l->mu);
		commit_batch(l, batch);
		pthread_mutex_lock(&l->mu);
		for (p = batch; p; p = p->next)
			p->done = 1;
		l->committing = 0;
		pthread_cond_broadcast(&l->cv);
	}
	pthread_mutex_unlock(&l->mu);
	if (me.rc)
		lgfs_error_set(me.rc, "%s", me.err);
	return me.rc;
}

/* Note: me.next is read by the leader only while me is queued or in its
 * batch; a caller returns only after its `done` is set under l->mu. */

int lgfs_ledger_checkpoint_latest(struct lgfs_ledger *l, char **out)
{
	char *path;
	int fd, rc;

	*out = NULL;
	if (l->cp_fd >= 0)
		return cp_latest(l->cp_fd, out);
	path = path_join(l->dir, "checkpoints");
	if (!path)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return errno == ENOENT ? lgfs_error_set(LGFS_ENOTFOUND, "no checkpoint stored")
				       : lgfs_error_errno(LGFS_EIO, "opening checkpoints");
	rc = cp_latest(fd, out);
	close(fd);
	return rc;
}

int lgfs_ledger_checkpoint_new(struct lgfs_ledger *l, char **out)
{
	int rc;

	*out = NULL;
	if (l->rdonly)
		return lgfs_error_set(LGFS_EROFS, "volume opened read-only");
	pthread_mutex_lock(&l->mu);
	while (l->committing)
		pthread_cond_wait(&l->cv, &l->mu);
	rc = sign_checkpoint(l, l->size, out);
	if (!rc)
		rc = cp_append(l->cp_fd, *out, 1);
	if (!rc)
		l->cp_size = l->size;
	pthread_mutex_unlock(&l->mu);
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

int lgfs_ledger_root(struct lgfs_ledger *l, uint64_t size, uint8_t out[32])
{
	int rc;

	pthread_mutex_lock(&l->mu);
	if (!l->tree) {
		/* Read-only: build the tree in memory on first use. */
		rc = lgfs_merkle_open(&l->tree, NULL);
		if (!rc)
			rc = lgfs_log_read(l->log, 0, l->size, tree_extend_cb, l->tree);
		if (rc) {
			lgfs_merkle_close(l->tree);
			l->tree = NULL;
			pthread_mutex_unlock(&l->mu);
			return rc;
		}
	}
	rc = size > l->size ? lgfs_error_set(LGFS_ERANGE, "the log has only %llu entries",
					     (unsigned long long)l->size)
			    : lgfs_merkle_root(l->tree, size, out);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

struct read_ctx {
	lgfs_ledger_cb cb;
	void *arg;
};

static int read_cb(void *arg, const struct lgfs_log_entry *e)
{
	struct read_ctx *c = arg;
	struct lgfs_ledger_entry le;
	struct lgfs_record *r = NULL;
	int rc;

	memset(&le, 0, sizeof(le));
	le.index = e->index;
	le.envelope = e->envelope;
	le.record = e->record;
	le.record_len = e->record_len;
	rc = lgfs_envelope_decode(&le.env, e->envelope, e->envelope_len);
	if (rc)
		return lgfs_error_wrap(rc, "entry %llu", (unsigned long long)e->index);
	if (e->record_len) {
		r = malloc(sizeof(*r));
		if (!r)
			return lgfs_error_set(LGFS_ENOMEM, "out of memory");
		rc = lgfs_record_decode(r, e->record, e->record_len);
		if (rc) {
			free(r);
			return lgfs_error_wrap(rc, "entry %llu", (unsigned long long)e->index);
		}
		le.rec = r;
	}
	rc = c->cb(c->arg, &le);
	free(r);
	return rc;
}

int lgfs_ledger_read(struct lgfs_ledger *l, uint64_t from, uint64_t count, lgfs_ledger_cb cb, void *arg)
{
	struct read_ctx c = { cb, arg };

	return lgfs_log_read(l->log, from, count, read_cb, &c);
}

/* ---- creating and listing volumes ---- */

int lgfs_volume_create(struct lgfs_volume_info *out, const char *store, const char *name,
		       const struct lgfs_key *founder, const struct lgfs_policy *policy,
		       uint32_t uid, uint32_t gid)
{
	char *vols = NULL, *dir = NULL, *tmp = NULL, *logdir = NULL, *cpath = NULL, *tpath = NULL;
	struct lgfs_record r;
	struct lgfs_buf rec = LGFS_BUF_INIT;
	uint8_t env[LGFS_ENVELOPE_LEN], zero[32] = { 0 }, leaf[32];
	struct lgfs_log *log = NULL;
	struct lgfs_log_entry e;
	struct lgfs_merkle *tree = NULL;
	struct lgfs_checkpoint cp;
	char *note = NULL;
	int rc, fd = -1;

	memset(out, 0, sizeof(*out));
	if (!lgfs_key_has_private(founder))
		return lgfs_error_set(LGFS_EINVAL, "creating a volume needs the founder's private key");
	if (policy->threshold < 1 || policy->threshold > 100)
		return lgfs_error_set(LGFS_EINVAL, "vote threshold must be 1..100 percent");
	rc = lgfs_volume_dir(&dir, store, name);
	if (rc)
		return rc;
	vols = path_join(store, "volumes");
	if (!vols || asprintf(&tmp, "%s/.%s.new-XXXXXX", vols, name) < 0) {
		tmp = NULL;
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto out;
	}
	if (access(dir, F_OK) == 0) {
		rc = lgfs_error_set(LGFS_EEXISTS, "volume '%s' already exists in %s", name, store);
		goto out;
	}
	rc = mkdir_p(vols, 0755);
	if (rc)
		goto out;
	if (!mkdtemp(tmp)) {
		rc = lgfs_error_errno(LGFS_EIO, "creating %s", tmp);
		goto out;
	}
	chmod(tmp, 0755);
	logdir = path_join(tmp, "log");
	cpath = path_join(tmp, "checkpoints");
	tpath = path_join(tmp, "tree");
	if (!logdir || !cpath || !tpath) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto out;
	}

	lgfs_record_init(&r, LGFS_OP_GENESIS);
	r.uid = uid;
	r.gid = gid;
	if ((rc = lgfs_record_add_str(&r, LGFS_F_NAME, name)) ||
	    (rc = lgfs_record_add_bytes(&r, LGFS_F_KEY, lgfs_key_public(founder), 32)) ||
	    (rc = lgfs_record_add_str(&r, LGFS_F_KEY_NAME, lgfs_key_name(founder))) ||
	    (rc = lgfs_record_add_u32(&r, LGFS_F_THRESHOLD, policy->threshold)) ||
	    (rc = lgfs_record_add_u64(&r, LGFS_F_RETENTION, policy->retention_s)))
		goto out;
	rc = build_entry(founder, out->origin, 0, zero, now_ns(), &r, &rec, env);
	if (!rc)
		rc = sign_envelope(founder, out->origin, env);
	if (rc)
		goto out;
	rc = lgfs_log_open(&log, logdir, LGFS_LOG_CREATE);
	if (rc)
		goto out;
	e.index = 0;
	e.envelope = env;
	e.envelope_len = LGFS_ENVELOPE_LEN;
	e.record = rec.data;
	e.record_len = rec.len;
	rc = lgfs_log_append(log, 0, &e, 1);
	if (rc)
		goto out;
	rc = lgfs_merkle_open(&tree, tpath);
	if (rc)
		goto out;
	lgfs_merkle_leaf_hash(leaf, env, LGFS_ENVELOPE_LEN);
	if ((rc = lgfs_merkle_append(tree, leaf)) || (rc = lgfs_merkle_flush(tree)))
		goto out;
	memset(&cp, 0, sizeof(cp));
	snprintf(cp.origin, sizeof(cp.origin), "%s", out->origin);
	cp.size = 1;
	if ((rc = lgfs_merkle_root(tree, 1, cp.root)) || (rc = lgfs_checkpoint_sign(&note, &cp, founder)))
		goto out;
	fd = open(cpath, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "creating %s", cpath);
		goto out;
	}
	rc = cp_append(fd, note, 1);
	if (rc)
		goto out;
	if ((rc = fsync_dir(tmp)))
		goto out;
	/* Publish atomically; RENAME_NOREPLACE so a racing init cannot clobber. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE)) {
		rc = errno == EEXIST ? lgfs_error_set(LGFS_EEXISTS, "volume '%s' already exists in %s", name, store)
				     : lgfs_error_errno(LGFS_EIO, "publishing volume %s", dir);
		goto out;
	}
	free(tmp);
	tmp = NULL;
	rc = fsync_dir(vols);
	if (rc)
		goto out;
	snprintf(out->name, sizeof(out->name), "%s", name);
	memcpy(out->founder, lgfs_key_public(founder), 32);
	snprintf(out->founder_name, sizeof(out->founder_name), "%s", lgfs_key_name(founder));
	out->created_ns = r.time_ns;
	out->policy = *policy;
out:
	if (fd >= 0)
		close(fd);
	lgfs_merkle_close(tree);
	if (log)
		lgfs_log_close(log);
	if (tmp && rc) {
		/* Remove the unpublished directory. */
		char *cmd_paths[] = { cpath, tpath };
		size_t i;

		for (i = 0; i < 2; i++)
			if (cmd_paths[i])
				unlink(cmd_paths[i]);
		if (logdir) {
			DIR *d = opendir(logdir);
			struct dirent *de;

			while (d && (de = readdir(d))) {
				char *f;

				if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
					continue;
				f = path_join(logdir, de->d_name);
				if (f)
					unlink(f);
				free(f);
			}
			if (d)
				closedir(d);
			rmdir(logdir);
		}
		rmdir(tmp);
	}
	lgfs_buf_free(&rec);
	free(note);
	free(vols);
	free(dir);
	free(tmp);
	free(logdir);
	free(cpath);
	free(tpath);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int lgfs_volume_list(const char *store, lgfs_volume_cb cb, void *arg)
{
	char *vols = path_join(store, "volumes");
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (!vols)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	d = opendir(vols);
	if (!d) {
		rc = errno == ENOENT ? 0 : lgfs_error_errno(LGFS_EIO, "listing %s", vols);
		free(vols);
		return rc;
	}
	while ((de = readdir(d))) {
		if (!lgfs_volume_name_valid(de->d_name))
			continue; /* dot entries and unpublished .NAME.new-* dirs */
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));

			if (!nn) {
				rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
				goto out;
			}
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
			goto out;
		}
		n++;
	}
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n && !rc; i++)
		rc = cb(arg, names[i]);
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	free(vols);
	return rc;
}
