/*
 * fs.c — the file system over the ledger: open, index upkeep, the change
 * path, namespace and attribute operations (fs layer). See fs.h; open
 * files and content are in file.c.
 *
 * The change path (lgfs_fs_mutate): under one mutex, apply the record to a
 * write transaction of the index with the index and time it will get; if
 * the state refuses it, that is the errno for the caller and nothing is
 * logged; else submit it to the ledger (which assigns exactly that index),
 * stamp the index with how far it reflects the log, and commit. So the log
 * never holds a record the state machine refuses, and the index never
 * reflects a record the log does not hold.
 */
#include "fs_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/log.h"
#include "ledgerfs/sys.h"
#include "ledgerfs/trust.h"

#define REPLAY_COMMIT_EVERY 4096
#define FREE_SPACE_RESERVE (64ull << 20) /* refuse changes below this much free space */
#define FS_PENDING_RECORDS 8192           /* records submitted but not yet durable, at most */
#define FS_PENDING_BYTES (16u << 20)

int lgfs_fs_errno(int code)
{
	switch (code) {
	case 0: return 0;
	case LGFS_ENOMEM: return -ENOMEM;
	case LGFS_ENOTFOUND: return -ENOENT;
	case LGFS_EEXISTS: return -EEXIST;
	case LGFS_EINVAL: return -EINVAL;
	case LGFS_ENOSPC: return -ENOSPC;
	case LGFS_EPERM: return -EPERM;
	case LGFS_ERANGE: return -ERANGE;
	case LGFS_EBUSY: return -EBUSY;
	case LGFS_EROFS: return -EROFS;
	}
	return -EIO; /* ECORRUPT, EBADSIG, EIO, ...: the data cannot be trusted */
}

static int64_t (*test_clock)(void);
static size_t chunk_cache_bytes = LGFS_FS_CHUNK_CACHE_DEFAULT;

void lgfs_fs_set_chunk_cache(size_t bytes)
{
	chunk_cache_bytes = bytes;
}

void lgfs_fs_set_clock(int64_t (*now)(void))
{
	test_clock = now;
	lgfs_ledger_set_clock(now);
}

int64_t lgfs_fs_now(void)
{
	struct timespec ts;

	if (test_clock)
		return test_clock();
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- keeping the index in step with the log ---- */

/* The index stamp: entries reflected, and the last one's salt (unique per
 * record) so that an index of another history is recognised. */
static void stamp_of(uint8_t out[32], const struct lgfs_record *r)
{
	lgfs_index_stamp(out, r->salt, LGFS_SALT_LEN);
}

struct replay {
	struct lgfs_index *x;
	MDB_txn *t;
	uint64_t applied;
	uint64_t since_commit;
	uint8_t stamp[32];
	int rc;
};

static int replay_cb(void *arg, const struct lgfs_ledger_entry *e)
{
	struct replay *rp = arg;
	MDB_txn *child = NULL;
	int rc;

	if (e->rec && e->rec->op == LGFS_OP_NOTE) {
		stamp_of(rp->stamp, e->rec); /* changes no state: no transaction to spend on it */
	} else if (e->rec) {
		/* A nested transaction per record: a record the state refuses
		 * (only a foreign or damaged log has one; audit reports it) is
		 * skipped whole. */
		rc = mdb_txn_begin(rp->x->env, rp->t, 0, &child);
		if (rc)
			return rp->rc = lgfs_index_errno(rc);
		if (lgfs_apply(rp->x, child, e->rec, e->index) == 0) {
			rc = mdb_txn_commit(child);
			if (rc)
				return rp->rc = lgfs_index_errno(rc);
		} else {
			mdb_txn_abort(child);
		}
		stamp_of(rp->stamp, e->rec);
	} else {
		memset(rp->stamp, 0, 32);
	}
	rp->applied = e->index + 1;
	if (++rp->since_commit >= REPLAY_COMMIT_EVERY) {
		if ((rc = lgfs_index_set_applied(rp->x, rp->t, rp->applied, rp->stamp)) ||
		    (rc = lgfs_index_commit(rp->t))) {
			rp->t = NULL;
			return rp->rc = rc;
		}
		rp->t = NULL;
		if ((rc = lgfs_index_begin(rp->x, 0, &rp->t)))
			return rp->rc = rc;
		rp->since_commit = 0;
	}
	return 0;
}

/* Replay log entries [from, size) into the index (from 0: after clearing). */
static int replay(struct lgfs_ledger *l, struct lgfs_index *x, uint64_t from, uint64_t size)
{
	struct replay rp;
	int rc;

	memset(&rp, 0, sizeof(rp));
	rp.x = x;
	rp.applied = from;
	if ((rc = lgfs_index_begin(x, 0, &rp.t)))
		return rc;
	if (from == 0 && (rc = lgfs_index_clear(x, rp.t)))
		goto fail;
	if (from < size) {
		rc = lgfs_ledger_read(l, from, size - from, replay_cb, &rp);
		if (rp.rc)
			rc = rp.rc;
		else if (rc)
			rc = lgfs_fs_errno(rc);
		if (rc)
			goto fail;
	}
	if ((rc = lgfs_index_set_applied(x, rp.t, rp.applied, rp.stamp)))
		goto fail;
	return lgfs_index_commit(rp.t);
fail:
	if (rp.t)
		mdb_txn_abort(rp.t);
	return rc;
}

struct stamp_probe {
	uint8_t stamp[32];
};

static int stamp_cb(void *arg, const struct lgfs_ledger_entry *e)
{
	struct stamp_probe *p = arg;

	lgfs_index_stamp(p->stamp, e->record, e->record_len);
	return 0;
}

static char *join(const char *a, const char *b)
{
	char *p;

	return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

/* Remove a private index directory (data.mdb, lock.mdb). */
static void remove_private(const char *dir)
{
	char *p;

	if ((p = join(dir, "data.mdb"))) {
		unlink(p);
		free(p);
	}
	if ((p = join(dir, "lock.mdb"))) {
		unlink(p);
		free(p);
	}
	rmdir(dir);
}

/*
 * ---- trusting the index ----
 *
 * The index lives in the store, where anyone who can write the store can
 * forge it; it decides nothing until it is verified. It is trusted when its
 * stamp says it reflects exactly the verified log (or a prefix of it) and
 * its bytes are the ones this user's last writer left at a clean close: that
 * writer stores the SHA-256 of data.mdb in the user's own state, outside the
 * store (trust.h). Otherwise a stamp that matches the log is checked by
 * replaying the verified log into a private index and comparing the two:
 * equal, and the digest is remembered; different, and the volume is refused
 * naming the path (the index would have served what the log does not say).
 * An index that is missing, unreadable or stamped with another history is a
 * cache miss: a writer rebuilds it, a reader replays into a private one.
 */

enum idx_state { IDX_MISS, IDX_PREFIX, IDX_EXACT };

/* What the stamp of the index at `dir` claims, read without writing a byte
 * (read-only, no lock file). *applied gets its entry count. */
static enum idx_state index_probe(struct lgfs_ledger *l, const char *dir, uint64_t *applied)
{
	uint64_t size = lgfs_ledger_size(l);
	struct lgfs_index *x = NULL;
	struct stamp_probe probe;
	uint8_t stamp[32];
	MDB_txn *t;
	char *data = join(dir, "data.mdb");
	int rc;

	*applied = 0;
	if (!data)
		return IDX_MISS;
	rc = access(data, F_OK);
	free(data);
	if (rc || lgfs_index_open(&x, dir, 1))
		return IDX_MISS;
	rc = lgfs_index_begin(x, 1, &t);
	if (!rc) {
		rc = lgfs_index_applied(x, t, applied, stamp);
		mdb_txn_abort(t);
	}
	lgfs_index_close(x);
	if (rc || *applied == 0 || *applied > size)
		return IDX_MISS;
	if (lgfs_ledger_read(l, *applied - 1, 1, stamp_cb, &probe) || memcmp(probe.stamp, stamp, 32))
		return IDX_MISS;
	return *applied == size ? IDX_EXACT : IDX_PREFIX;
}

/* <state>/index/<hex SHA-256 of the volume directory's path>: the digest
 * of the volume's data.mdb as this user's last writer left it. */
static char *digest_path(const char *voldir)
{
	char *state = NULL, *p = NULL, hex[65];
	uint8_t h[32];

	if (lgfs_trust_state_dir(&state))
		return NULL;
	lgfs_sha256(h, voldir, strlen(voldir));
	lgfs_hex(hex, h, 32);
	if (asprintf(&p, "%s/index/%s", state, hex) < 0)
		p = NULL;
	free(state);
	return p;
}

/* What this user's writer left: the SHA-256 of the index's data file and,
 * when the file did not change while it was hashed, the file's identity
 * (device, inode, size, modification and status-change times in ns). A
 * data file with that identity holds those bytes: any write through the
 * kernel changes its status-change time. */
struct idx_digest {
	uint8_t sha[32];
	int64_t id[5];
	int has_id;
};

static void file_identity(const struct stat *st, int64_t id[5])
{
	id[0] = (int64_t)st->st_dev;
	id[1] = (int64_t)st->st_ino;
	id[2] = (int64_t)st->st_size;
	id[3] = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	id[4] = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

/* An identity is worth remembering only for a file that has not changed
 * in the last 2 s: file times move in clock ticks. */
static int identity_settled(const int64_t id[5])
{
	struct timespec now;
	int64_t limit;

	if (clock_gettime(CLOCK_REALTIME, &now))
		return 0;
	limit = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - 2000000000LL;
	return id[3] < limit && id[4] < limit;
}

/* SHA-256 of the index's data file, and its identity when it held still. */
static int index_file_digest(const char *dir, struct idx_digest *out)
{
	struct lgfs_sha256_ctx *c = NULL;
	char *path = join(dir, "data.mdb");
	uint8_t *buf = malloc(1 << 20);
	struct stat st;
	int64_t before[5];
	ssize_t n;
	int fd = -1, rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (!path || !buf || !(c = lgfs_sha256_ctx_new()))
		goto out;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		rc = -errno;
		goto out;
	}
	file_identity(&st, before);
	while ((n = read(fd, buf, 1 << 20)) > 0)
		lgfs_sha256_ctx_update(c, buf, (size_t)n);
	if (n < 0 || fstat(fd, &st)) {
		rc = -errno;
		goto out;
	}
	lgfs_sha256_ctx_final(c, out->sha);
	c = NULL;
	file_identity(&st, out->id);
	/* An identity serves only for a file that held still while hashed and
	 * was last changed seconds ago: file times have the granularity of a
	 * clock tick, and a write within the tick of the last change may keep
	 * them all (the next reader hashes it and records it then). */
	out->has_id = !memcmp(before, out->id, sizeof(before)) && identity_settled(out->id);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	lgfs_sha256_ctx_free(c);
	free(buf);
	free(path);
	return rc;
}

/* The digest of the volume's data.mdb this user's last writer stored:
 * "<hex sha>\n" and, when known, "id <dev> <ino> <size> <mtime> <ctime>\n". */
static int digest_load(const char *voldir, struct idx_digest *want)
{
	char *p = digest_path(voldir), line[256];
	long long id[5];
	FILE *f;
	int rc = -ENOENT, i;

	memset(want, 0, sizeof(*want));
	if (!p)
		return -ENOMEM;
	f = fopen(p, "re");
	free(p);
	if (!f)
		return -ENOENT;
	if (fgets(line, sizeof(line), f) && strlen(line) >= 64 && lgfs_unhex(want->sha, 32, line, 64) == 0) {
		rc = 0;
		if (fgets(line, sizeof(line), f) &&
		    sscanf(line, "id %lld %lld %lld %lld %lld", &id[0], &id[1], &id[2], &id[3], &id[4]) == 5) {
			for (i = 0; i < 5; i++)
				want->id[i] = id[i];
			want->has_id = 1;
		}
	}
	fclose(f);
	return rc;
}

static void digest_store(const char *voldir, const struct idx_digest *d);

/* 1 when the index's data file has the identity or else the digest this
 * user's writer left. */
static int digest_matches(const char *voldir, const char *dir)
{
	struct idx_digest want, have;
	char *path;
	struct stat st;
	int64_t id[5];
	int same = 0;

	if (digest_load(voldir, &want))
		return 0;
	if (want.has_id && (path = join(dir, "data.mdb"))) {
		if (stat(path, &st) == 0) {
			file_identity(&st, id);
			same = !memcmp(id, want.id, sizeof(id));
		}
		free(path);
		if (same)
			return 1;
	}
	if (index_file_digest(dir, &have) || memcmp(want.sha, have.sha, 32))
		return 0;
	if (have.has_id && !want.has_id)
		digest_store(voldir, &have); /* its identity, for next time */
	return 1;
}

/* Remember (or, with d NULL, forget) the digest of the index's data file.
 * Written atomically; a failure only costs a verification next time. */
static void digest_store(const char *voldir, const struct idx_digest *d)
{
	char *p = digest_path(voldir), *tmp = NULL, *slash, hex[65];
	int fd, ok;

	if (!p)
		return;
	if (!d) {
		unlink(p);
		free(p);
		return;
	}
	slash = strrchr(p, '/');
	*slash = '\0';
	if (lgfs_sys_mkdirs(p, 0700) == 0)
		chmod(p, 0700);
	*slash = '/';
	if (asprintf(&tmp, "%s.tmp-%ld", p, (long)getpid()) < 0) {
		free(p);
		return;
	}
	lgfs_hex(hex, d->sha, 32);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		ok = dprintf(fd, "%s\n", hex) == 65;
		if (ok && d->has_id)
			ok = dprintf(fd, "id %lld %lld %lld %lld %lld\n", (long long)d->id[0], (long long)d->id[1],
				     (long long)d->id[2], (long long)d->id[3], (long long)d->id[4]) > 0;
		if (close(fd) == 0 && ok && rename(tmp, p) == 0)
			tmp[0] = '\0';
		if (tmp[0])
			unlink(tmp);
	}
	free(tmp);
	free(p);
}

/* A new private index directory under $TMPDIR (removed at close). */
static int private_dir(char **dir_out)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = NULL;
	int rc;

	*dir_out = NULL;
	if (asprintf(&dir, "%s/ledgerfs-index-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		return -ENOMEM;
	if (!mkdtemp(dir)) {
		rc = -errno;
		free(dir);
		return rc;
	}
	*dir_out = dir;
	return 0;
}

/* A private copy of the shared index at `dir` for a long-lived reader (a
 * read-only or past mount), which a writer starting later would change
 * under it. The bytes copied are the bytes hashed: the copy is used only
 * when they are the ones this user's writer left at a clean close, and
 * when it is stamped with exactly the verified log. Anything else (a writer
 * started meanwhile, no digest) is -EAGAIN: the caller replays. */
/* Copy all of in to out with copy_file_range. 0 done, -1 failed (errno),
 * 1 when this kernel or file system does not do it (nothing was copied):
 * the caller copies by read and write then. */
static ssize_t kernel_copy(int in, int out, off_t *off)
{
	ssize_t n;

	while ((n = copy_file_range(in, NULL, out, NULL, 64 << 20, 0)) > 0)
		*off += n;
	if (n < 0 && *off == 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL))
		return 1;
	return n < 0 ? -1 : 0;
}

static int private_copy(struct lgfs_fs *fs, const char *dir)
{
	struct lgfs_sha256_ctx *c = NULL;
	char *pdir = NULL, *src = join(dir, "data.mdb"), *dst = NULL;
	uint8_t *buf = malloc(1 << 20), have[32];
	struct idx_digest want;
	struct stat st;
	int64_t before[5], after[5];
	uint64_t applied;
	off_t off = 0;
	ssize_t n = 0;
	int in = -1, out = -1, rc = -EAGAIN, same;

	if (!src || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	if (digest_load(fs->voldir, &want) || private_dir(&pdir))
		goto out;
	if (!(dst = join(pdir, "data.mdb"))) {
		rc = -ENOMEM;
		goto out;
	}
	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0 || fstat(in, &st) ||
	    (out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		goto out;
	/* The file has the identity the writer left: its bytes need no hash
	 * if it keeps it until the copy is done. */
	file_identity(&st, before);
	same = want.has_id && !memcmp(before, want.id, sizeof(before));
	if (!same && !(c = lgfs_sha256_ctx_new())) {
		rc = -ENOMEM;
		goto out;
	}
	/* Bytes that need no hash are copied in the kernel where it can. */
	if (!c && (n = kernel_copy(in, out, &off)) != 1)
		goto copied;
	while ((n = read(in, buf, 1 << 20)) > 0) {
		if (c)
			lgfs_sha256_ctx_update(c, buf, (size_t)n);
		if (lgfs_sys_pwrite_all(out, buf, (size_t)n, off)) {
			n = -1;
			break;
		}
		off += n;
	}
copied:
	if (n < 0 || fstat(in, &st) || close(out)) {
		out = -1;
		goto out;
	}
	out = -1;
	file_identity(&st, after);
	if (c) {
		lgfs_sha256_ctx_final(c, have);
		c = NULL;
		if (memcmp(want.sha, have, 32))
			goto out;
		if (!memcmp(before, after, sizeof(before)) && identity_settled(after)) {
			/* its identity, so that the next copy needs no hash */
			want.has_id = 1;
			memcpy(want.id, after, sizeof(want.id));
			digest_store(fs->voldir, &want);
		}
	} else if (memcmp(before, after, sizeof(before))) {
		goto out;
	}
	if (index_probe(fs->ledger, pdir, &applied) != IDX_EXACT)
		goto out;
	if ((rc = lgfs_index_open(&fs->index, pdir, 1)))
		goto out;
	fs->private_index = pdir;
	pdir = NULL;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (pdir) {
		remove_private(pdir);
		free(pdir);
	}
	lgfs_sha256_ctx_free(c);
	free(buf);
	free(src);
	free(dst);
	if (rc == -EAGAIN)
		lgfs_error_clear();
	return rc;
}

/* A private index under $TMPDIR (removed at close) holding the verified
 * log's state. */
static int private_replay(struct lgfs_fs *fs, struct lgfs_index **out, char **dir_out)
{
	char *dir = NULL;
	int rc;

	*out = NULL;
	*dir_out = NULL;
	if ((rc = private_dir(&dir)))
		return rc;
	rc = lgfs_index_open(out, dir, 0);
	if (!rc)
		rc = replay(fs->ledger, *out, 0, lgfs_ledger_size(fs->ledger));
	if (rc) {
		lgfs_index_close(*out);
		*out = NULL;
		remove_private(dir);
		free(dir);
		return rc;
	}
	*dir_out = dir;
	return 0;
}

/* Compare the index at `dir` with a verified replay `good`: 0 when they
 * hold the same state, -EIO (message naming the path) when not. */
static int index_check(struct lgfs_fs *fs, const char *dir, struct lgfs_index *good)
{
	struct lgfs_index *x = NULL;
	struct lgfs_index_diff d;
	MDB_txn *ta = NULL, *tb = NULL;
	char path[4096], name[4 * 255 + 1];
	const char *vol = lgfs_ledger_info(fs->ledger)->name;
	int rc;

	if ((rc = lgfs_index_open(&x, dir, 1)))
		return rc;
	if ((rc = lgfs_index_begin(x, 1, &ta)) || (rc = lgfs_index_begin(good, 1, &tb)))
		goto out;
	rc = lgfs_index_diff(x, ta, good, tb, &d);
	if (rc == 1) {
		/* Name the path as the log has it, else as the altered index does. */
		lgfs_index_path(good, tb, d.ino, path, sizeof(path));
		if (path[0] != '/')
			lgfs_index_path(x, ta, d.ino, path, sizeof(path));
		name[0] = '\0';
		if (d.name_len)
			lgfs_escape(name, sizeof(name), d.name, d.name_len);
		lgfs_error_set(LGFS_ECORRUPT,
			       "the index of volume '%s' does not match its log at %s%s%s (%s %s): it was altered behind the volume's back and is not used; run 'ledgerfs audit %s' for details, 'ledgerfs rebuild %s' to rebuild it from the log",
			       vol, path, d.name_len && strcmp(path, "/") ? "/" : "", name, d.what,
			       d.only_in == 1 ? "that the log does not have"
			       : d.only_in == 2 ? "missing" : "different from the log's",
			       vol, vol);
		rc = -EIO;
	}
out:
	if (ta)
		mdb_txn_abort(ta);
	if (tb)
		mdb_txn_abort(tb);
	lgfs_index_close(x);
	return rc;
}

/* A writer's index: trusted, checked, or rebuilt (see above). */
static int open_index_writer(struct lgfs_fs *fs, const char *dir)
{
	uint64_t applied, size = lgfs_ledger_size(fs->ledger);
	enum idx_state st = index_probe(fs->ledger, dir, &applied);
	int rc, trusted = st != IDX_MISS && digest_matches(fs->voldir, dir);

	if (st == IDX_EXACT && !trusted) {
		struct lgfs_index *good = NULL;
		char *pdir = NULL;

		if ((rc = private_replay(fs, &good, &pdir)))
			return rc;
		rc = index_check(fs, dir, good);
		lgfs_index_close(good);
		remove_private(pdir);
		free(pdir);
		if (rc)
			return rc;
		trusted = 1;
	}
	/* The index changes from now on: its digest holds again only after a
	 * clean close. */
	digest_store(fs->voldir, NULL);
	rc = lgfs_index_open(&fs->index, dir, 0);
	if (rc && !trusted && rc != -ENOMEM && rc != -ENOSPC) {
		/* An index that cannot even be opened is a damaged cache, not
		 * evidence: start it over from the verified log. */
		lgfs_error_clear();
		remove_private(dir);
		rc = lgfs_index_open(&fs->index, dir, 0);
	}
	if (rc)
		return rc;
	if (!trusted)
		return replay(fs->ledger, fs->index, 0, size);
	return applied < size ? replay(fs->ledger, fs->index, applied, size) : 0;
}

/* 1 if a writer (a mount, a put) holds the volume now. */
static int volume_busy(const char *voldir)
{
	char *logdir = join(voldir, "log");
	int rc = logdir ? lgfs_log_file_busy(logdir) : 1;

	free(logdir);
	if (rc < 0)
		lgfs_error_clear();
	return rc != 0;
}

/* A reader never writes the store: the shared index read-only when it is
 * trusted and exactly in step, else a private verified replay. */
static int open_index_reader(struct lgfs_fs *fs, const char *dir)
{
	uint64_t applied;
	enum idx_state st = index_probe(fs->ledger, dir, &applied);
	struct idx_digest d;
	int rc;

	/* Read without a lock file, the shared index must not change under the
	 * reader: not while a writer holds the volume. */
	if (st == IDX_EXACT && !fs->private_only && !volume_busy(fs->voldir) && digest_matches(fs->voldir, dir))
		return lgfs_index_open(&fs->index, dir, 1);
	if (st == IDX_EXACT && fs->private_only && !volume_busy(fs->voldir) && (rc = private_copy(fs, dir)) != -EAGAIN)
		return rc;
	if ((rc = private_replay(fs, &fs->index, &fs->private_index)))
		return rc;
	if (st == IDX_EXACT) {
		/* Check it once, and remember it as verified. */
		if ((rc = index_check(fs, dir, fs->index)))
			return rc;
		if (index_file_digest(dir, &d) == 0)
			digest_store(fs->voldir, &d);
	}
	return 0;
}

/* The ledger's pre-write hook: chunks before the records that name them. */
static int chunks_presync(void *arg)
{
	return lgfs_chunks_sync(arg);
}

int lgfs_fs_open(struct lgfs_fs **out, const char *store, const char *volume, const struct lgfs_key *key,
		 int flags)
{
	struct lgfs_fs *fs;
	char *path = NULL;
	int rc;

	*out = NULL;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	pthread_mutex_init(&fs->mu, NULL);
	pthread_mutex_init(&fs->of_mu, NULL);
	fs->rdonly = !!(flags & LGFS_FS_RDONLY);
	fs->private_only = fs->rdonly && (flags & LGFS_FS_PRIVATE);
	if (!fs->rdonly && key)
		memcpy(fs->author, lgfs_key_public(key), 32);
	rc = lgfs_ledger_open(&fs->ledger, store, volume, fs->rdonly ? NULL : key,
			      fs->rdonly ? LGFS_LEDGER_RDONLY : 0);
	if (rc) {
		rc = rc == LGFS_ENOTFOUND ? -ENOENT : rc == LGFS_EBUSY ? -EBUSY : rc == LGFS_EPERM ? -EACCES
		     : lgfs_fs_errno(rc);
		goto fail;
	}
	/* absolute: a daemon changes its working directory */
	fs->voldir = realpath(lgfs_ledger_dir(fs->ledger), NULL);
	path = fs->voldir ? join(fs->voldir, "chunks") : NULL;
	fs->staging = fs->voldir ? join(fs->voldir, "staging") : NULL;
	if (!path || !fs->staging) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = lgfs_chunks_open(&fs->chunks, path, fs->rdonly ? LGFS_CHUNKS_RDONLY : LGFS_CHUNKS_CREATE);
	free(path);
	path = NULL;
	if (!rc) {
		struct lgfs_chunks *cached;

		if ((rc = lgfs_chunks_cache_wrap(&cached, fs->chunks, chunk_cache_bytes)))
			lgfs_chunks_close(fs->chunks);
		fs->chunks = rc ? NULL : cached;
	}
	if (rc) {
		rc = lgfs_fs_errno(rc);
		goto fail;
	}
	if (!fs->rdonly && mkdir(fs->staging, 0700) && errno != EEXIST) {
		rc = lgfs_error_errno(LGFS_EIO, "creating %s", fs->staging) ? -errno : -EIO;
		goto fail;
	}
	path = join(fs->voldir, "index");
	if (!path) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = fs->rdonly ? open_index_reader(fs, path) : open_index_writer(fs, path);
	free(path);
	path = NULL;
	if (rc)
		goto fail;
	if (!fs->rdonly) {
		lgfs_ledger_set_presync(fs->ledger, chunks_presync, fs->chunks);
		/* at most ~0.5 s of signing behind an fsync */
		lgfs_ledger_set_pending_limit(fs->ledger, FS_PENDING_RECORDS, FS_PENDING_BYTES);
	}
	fs->next_index = lgfs_ledger_size(fs->ledger);
	/* records never go back in time: not before the log's last one, even
	 * when this clock stepped back (the ledger would move them) */
	fs->last_time = lgfs_fs_now();
	if (fs->last_time < lgfs_ledger_last_time(fs->ledger))
		fs->last_time = lgfs_ledger_last_time(fs->ledger);
	*out = fs;
	return 0;
fail:
	free(path);
	lgfs_fs_close(fs);
	return rc;
}

int lgfs_fs_close(struct lgfs_fs *fs)
{
	int rc = 0, r;

	if (!fs)
		return 0;
	if (fs->ledger && fs->index && fs->chunks)
		rc = lgfs_ofile_commit_all(fs);
	/* The ledger first: its committer syncs the chunk store before each
	 * batch, so the chunk store must outlive it. */
	if (fs->ledger) {
		if (!fs->rdonly && (r = lgfs_ledger_sync(fs->ledger, 0)) && !rc)
			rc = lgfs_fs_errno(r);
		lgfs_ledger_close(fs->ledger);
	}
	if (fs->chunks) {
		if (!fs->rdonly && (r = lgfs_chunks_sync(fs->chunks)) && !rc)
			rc = lgfs_fs_errno(r);
		lgfs_chunks_close(fs->chunks);
	}
	lgfs_index_close(fs->index);
	if (!fs->rdonly && fs->index && fs->voldir && rc == 0 && !fs->failed) {
		/* A clean close: what the index holds is exactly the verified log
		 * this writer extended. Remember its bytes for the next open. */
		char *dir = join(fs->voldir, "index");
		struct idx_digest d;

		if (dir && index_file_digest(dir, &d) == 0)
			digest_store(fs->voldir, &d);
		free(dir);
	}
	if (fs->private_index) {
		remove_private(fs->private_index);
		free(fs->private_index);
	}
	pthread_mutex_destroy(&fs->mu);
	pthread_mutex_destroy(&fs->of_mu);
	free(fs->staging);
	free(fs->voldir);
	free(fs);
	return rc;
}

int lgfs_fs_rebuild(const char *store, const char *volume, uint64_t *entries)
{
	struct lgfs_ledger *l = NULL;
	struct lgfs_index *x = NULL;
	char *path = NULL, *voldir = NULL;
	struct idx_digest d;
	int rc;

	*entries = 0;
	rc = lgfs_ledger_open(&l, store, volume, NULL, LGFS_LEDGER_RDONLY);
	if (rc)
		return rc == LGFS_ENOTFOUND ? -ENOENT : lgfs_fs_errno(rc);
	path = join(lgfs_ledger_dir(l), "index");
	if (!path) {
		rc = -ENOMEM;
		goto out;
	}
	/* The caller holds the writer's lock (see fs.h): no mount meanwhile. */
	voldir = realpath(lgfs_ledger_dir(l), NULL);
	if (voldir)
		digest_store(voldir, NULL);
	if ((rc = lgfs_index_open(&x, path, 0)))
		goto out;
	*entries = lgfs_ledger_size(l);
	rc = replay(l, x, 0, *entries);
	lgfs_index_close(x);
	x = NULL;
	if (!rc && voldir && index_file_digest(path, &d) == 0)
		digest_store(voldir, &d);
out:
	free(voldir);
	lgfs_index_close(x);
	lgfs_ledger_close(l);
	free(path);
	return rc;
}

int lgfs_fs_checkpoint(struct lgfs_fs *fs, char **note)
{
	int rc;

	*note = NULL;
	if (fs->rdonly)
		return -EROFS;
	if ((rc = lgfs_ledger_sync(fs->ledger, 0)) || (rc = lgfs_ledger_checkpoint_new(fs->ledger, note)))
		return lgfs_fs_errno(rc);
	return 0;
}

void lgfs_fs_log_state(struct lgfs_fs *fs, uint64_t *entries, uint64_t *durable)
{
	*entries = fs->rdonly ? lgfs_ledger_size(fs->ledger) : lgfs_ledger_submitted(fs->ledger);
	*durable = fs->rdonly ? *entries : lgfs_ledger_durable(fs->ledger);
}

/* ---- the change path ---- */

static int space_check(struct lgfs_fs *fs)
{
	struct statvfs sv;

	if (statvfs(fs->voldir, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize < FREE_SPACE_RESERVE) {
		lgfs_error_set(LGFS_ENOSPC, "less than %llu MiB free under %s", FREE_SPACE_RESERVE >> 20, fs->voldir);
		return -ENOSPC;
	}
	return 0;
}

int lgfs_fs_mutate(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, struct lgfs_record *r, uint64_t *index)
{
	struct lgfs_record *rp = r;
	uint8_t stamp[32];
	uint64_t idx;
	int64_t t;
	MDB_txn *txn;
	int rc;

	if (fs->rdonly)
		return -EROFS;
	if ((rc = space_check(fs)))
		return rc;
	r->uid = ctx->uid;
	r->gid = ctx->gid;
	pthread_mutex_lock(&fs->mu);
	if (fs->failed) {
		rc = fs->failed;
		goto out;
	}
	t = lgfs_fs_now();
	if (t < fs->last_time)
		t = fs->last_time;
	r->time_ns = t;
	memcpy(r->author, fs->author, 32); /* applied as the ledger will sign it */
	idx = fs->next_index;
	if ((rc = lgfs_index_begin(fs->index, 0, &txn)))
		goto out;
	rc = lgfs_apply(fs->index, txn, r, idx);
	if (rc) {
		mdb_txn_abort(txn);
		goto out;
	}
	rc = lgfs_ledger_submit(fs->ledger, &rp, 1);
	if (rc) {
		mdb_txn_abort(txn);
		rc = lgfs_fs_errno(rc);
		if (rc != -EINVAL)
			fs->failed = rc; /* the log refuses writes: so must we */
		goto out;
	}
	if (r->index != idx || r->time_ns != t) {
		/* Cannot happen while this mount is the volume's only writer. */
		mdb_txn_abort(txn);
		lgfs_error_set(LGFS_EIO, "log and index out of step at index %llu", (unsigned long long)idx);
		rc = fs->failed = -EIO;
		goto out;
	}
	stamp_of(stamp, r);
	if ((rc = lgfs_index_set_applied(fs->index, txn, idx + 1, stamp)) || (rc = lgfs_index_commit(txn))) {
		/* The record is in the log; the index will catch up at the next
		 * open. Until then this mount cannot go on consistently. */
		fs->failed = rc;
		goto out;
	}
	fs->next_index = idx + 1;
	fs->last_time = t;
	if (index)
		*index = idx;
out:
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

/* ---- reading the namespace ---- */

void lgfs_fs_fill_stat(struct lgfs_fs *fs, const struct lgfs_inode *in, struct lgfs_stat *st)
{
	struct ofile *of;

	memset(st, 0, sizeof(*st));
	st->ino = in->ino;
	st->mode = in->mode;
	st->nlink = in->nlink;
	st->uid = in->uid;
	st->gid = in->gid;
	st->size = in->size;
	st->rdev = in->rdev;
	st->atime = in->atime;
	st->mtime = in->mtime;
	st->ctime = in->ctime;
	if (S_ISREG(in->mode)) {
		/* An open file's staged size and mtime. Take a reference and drop
		 * the table lock before waiting for the file (it may be busy
		 * building a version). */
		pthread_mutex_lock(&fs->of_mu);
		of = lgfs_ofile_find(fs, in->ino);
		if (of)
			of->refs++;
		pthread_mutex_unlock(&fs->of_mu);
		if (of) {
			/* The open file's size is current even when the inode read
			 * above predates a version committed meanwhile: a size that
			 * went backwards would misplace O_APPEND writes. */
			uint64_t size, blocks;
			int64_t mtime;
			int snap = 0;

			if (pthread_mutex_trylock(&of->mu) != 0) {
				/* busy: when it is building a version, its attributes
				 * were taken as it began; else wait (a write in flight
				 * must be seen) */
				pthread_mutex_lock(&of->snap_mu);
				if ((snap = of->committing)) {
					size = of->snap_size;
					blocks = of->snap_blocks;
					mtime = of->snap_mtime;
				}
				pthread_mutex_unlock(&of->snap_mu);
				if (!snap)
					pthread_mutex_lock(&of->mu);
			}
			if (!snap) {
				lgfs_ofile_attrs(of, &size, &blocks, &mtime);
				pthread_mutex_unlock(&of->mu);
			}
			st->size = size;
			st->blocks = blocks;
			if (mtime)
				st->mtime = mtime;
			lgfs_ofile_put(fs, of);
			return;
		} else {
			/* Not open (any more). The inode may come from a snapshot taken
			 * before a version committed by a close that finished since:
			 * read it again now, after that close. */
			struct lgfs_inode fresh;
			MDB_txn *t;

			if (lgfs_index_begin(fs->index, 1, &t) == 0) {
				if (lgfs_inode_get(fs->index, t, in->ino, &fresh) == 0) {
					st->size = fresh.size;
					st->mtime = fresh.mtime;
					st->ctime = fresh.ctime;
					st->nlink = fresh.nlink;
					st->mode = fresh.mode;
					st->uid = fresh.uid;
					st->gid = fresh.gid;
					st->blocks = (fresh.allocated + 511) / 512;
					mdb_txn_abort(t);
					return;
				}
				mdb_txn_abort(t);
			}
		}
	}
	/* 512-byte blocks actually stored: holes of sparse files cost nothing */
	st->blocks = ((S_ISREG(in->mode) ? in->allocated : st->size) + 511) / 512;
}

static int name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n > 255)
		return -ENAMETOOLONG;
	if (n == 0)
		return -ENOENT;
	return 0;
}

/* The root's ".ledgerfs" is the name every mount shows its history under
 * (the FUSE layer): new entries cannot take it. One made before this rule
 * stays in the log and in past states. */
static int reserved(uint64_t parent, const char *name)
{
	return parent == LGFS_ROOT_INO && !strcmp(name, ".ledgerfs") ? -EEXIST : 0;
}

int lgfs_fs_lookup(struct lgfs_fs *fs, uint64_t parent, const char *name, struct lgfs_stat *st)
{
	struct lgfs_inode in;
	uint64_t ino;
	MDB_txn *t;
	int rc;

	if ((rc = name_ok(name)))
		return rc;
	if ((rc = lgfs_index_begin(fs->index, 1, &t)))
		return rc;
	rc = lgfs_inode_get(fs->index, t, parent, &in);
	if (!rc && !S_ISDIR(in.mode))
		rc = -ENOTDIR;
	if (!rc)
		rc = lgfs_dirent_get(fs->index, t, parent, name, strlen(name), &ino);
	if (!rc)
		rc = lgfs_inode_get(fs->index, t, ino, &in);
	mdb_txn_abort(t);
	if (!rc)
		lgfs_fs_fill_stat(fs, &in, st);
	return rc;
}

int lgfs_fs_getattr(struct lgfs_fs *fs, uint64_t ino, struct lgfs_stat *st)
{
	struct lgfs_inode in;
	int rc;

	rc = lgfs_inode_read(fs->index, ino, &in);
	if (!rc)
		lgfs_fs_fill_stat(fs, &in, st);
	return rc;
}

int lgfs_fs_readlink(struct lgfs_fs *fs, uint64_t ino, char *buf, size_t cap, size_t *len)
{
	const void *target;
	MDB_txn *t;
	int rc;

	if ((rc = lgfs_index_begin(fs->index, 1, &t)))
		return rc;
	rc = lgfs_symlink_get(fs->index, t, ino, &target, len);
	if (rc == -ENOENT) {
		struct lgfs_inode in;

		rc = lgfs_inode_get(fs->index, t, ino, &in) ? -ENOENT : -EINVAL;
	}
	if (!rc && cap) {
		size_t n = *len < cap ? *len : cap;

		memcpy(buf, target, n);
		if (*len < cap)
			buf[*len] = '\0';
	}
	mdb_txn_abort(t);
	return rc;
}

/* ---- changing the namespace ---- */

/* The new inode's mode and group: umask, and the set-group-ID directory
 * rule (entries inherit the directory's group; subdirectories its bit). */
static int new_owner(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t parent, uint32_t *mode,
		     uint32_t *gid)
{
	struct lgfs_inode p;
	int rc;

	*gid = ctx->gid;
	rc = lgfs_inode_read(fs->index, parent, &p);
	if (rc)
		return rc;
	if (!S_ISDIR(p.mode))
		return -ENOTDIR;
	*mode = (*mode & S_IFMT) | (*mode & 07777 & ~ctx->umask);
	if (p.mode & S_ISGID) {
		*gid = p.gid;
		if (S_ISDIR(*mode))
			*mode |= S_ISGID;
	}
	return 0;
}

static int stat_of(struct lgfs_fs *fs, uint64_t ino, struct lgfs_stat *st)
{
	return st ? lgfs_fs_getattr(fs, ino, st) : 0;
}

/* create, mkdir, mknod, symlink: one record, inode = its index + 1. */
static int make_entry(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint16_t op, uint64_t parent,
		      const char *name, uint32_t mode, uint64_t rdev, const char *target, struct lgfs_stat *st)
{
	struct lgfs_record r;
	uint64_t idx;
	uint32_t gid;
	int rc;

	if ((rc = name_ok(name)) || (rc = lgfs_name_check(name, strlen(name))) || (rc = reserved(parent, name)))
		return rc;
	if ((rc = new_owner(fs, ctx, parent, &mode, &gid)))
		return rc;
	lgfs_record_init(&r, op);
	if ((rc = lgfs_record_add_u64(&r, LGFS_F_PARENT, parent)) || (rc = lgfs_record_add_str(&r, LGFS_F_NAME, name)) ||
	    (rc = lgfs_record_add_u32(&r, LGFS_F_UID, ctx->uid)) || (rc = lgfs_record_add_u32(&r, LGFS_F_GID, gid)))
		return lgfs_fs_errno(rc);
	if (op == LGFS_OP_SYMLINK) {
		size_t n = strlen(target);

		if (n == 0)
			return -ENOENT;
		if (n > 4095)
			return -ENAMETOOLONG;
		rc = lgfs_record_add_bytes(&r, LGFS_F_TARGET, target, n);
	} else {
		rc = lgfs_record_add_u32(&r, LGFS_F_MODE, mode);
		if (!rc && op == LGFS_OP_MKNOD)
			rc = lgfs_record_add_u64(&r, LGFS_F_RDEV, rdev);
	}
	if (rc)
		return lgfs_fs_errno(rc);
	if ((rc = lgfs_fs_mutate(fs, ctx, &r, &idx)))
		return rc;
	return stat_of(fs, lgfs_ino_of_index(idx), st);
}

int lgfs_fs_mknod(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t parent, const char *name,
		  uint32_t mode, uint64_t rdev, struct lgfs_stat *st)
{
	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	if (S_ISREG(mode))
		return make_entry(fs, ctx, LGFS_OP_CREATE, parent, name, mode, 0, NULL, st);
	if (!S_ISCHR(mode) && !S_ISBLK(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode))
		return -EINVAL;
	return make_entry(fs, ctx, LGFS_OP_MKNOD, parent, name, mode, rdev, NULL, st);
}

int lgfs_fs_mkdir(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t parent, const char *name,
		  uint32_t mode, struct lgfs_stat *st)
{
	return make_entry(fs, ctx, LGFS_OP_MKDIR, parent, name, S_IFDIR | (mode & 07777), 0, NULL, st);
}

int lgfs_fs_symlink(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t parent, const char *name,
		    const char *target, struct lgfs_stat *st)
{
	return make_entry(fs, ctx, LGFS_OP_SYMLINK, parent, name, S_IFLNK | 0777, 0, target, st);
}

static int remove_entry(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint16_t op, uint64_t parent,
			const char *name)
{
	struct lgfs_record r;
	int rc;

	if ((rc = name_ok(name)))
		return rc;
	if ((rc = lgfs_name_check(name, strlen(name))))
		return rc == -EEXIST ? (op == LGFS_OP_RMDIR && !strcmp(name, ".") ? -EINVAL : -ENOTEMPTY) : rc;
	lgfs_record_init(&r, op);
	if ((rc = lgfs_record_add_u64(&r, LGFS_F_PARENT, parent)) || (rc = lgfs_record_add_str(&r, LGFS_F_NAME, name)))
		return lgfs_fs_errno(rc);
	return lgfs_fs_mutate(fs, ctx, &r, NULL);
}

int lgfs_fs_unlink(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t parent, const char *name)
{
	return remove_entry(fs, ctx, LGFS_OP_UNLINK, parent, name);
}

int lgfs_fs_rmdir(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t parent, const char *name)
{
	return remove_entry(fs, ctx, LGFS_OP_RMDIR, parent, name);
}

int lgfs_fs_rename(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t parent, const char *name,
		   uint64_t newparent, const char *newname, unsigned int flags)
{
	struct lgfs_record r;
	int rc;

	if ((rc = name_ok(name)) || (rc = name_ok(newname)))
		return rc;
	if (lgfs_name_check(name, strlen(name)) == -EEXIST || lgfs_name_check(newname, strlen(newname)) == -EEXIST)
		return -EINVAL;
	if ((rc = reserved(newparent, newname)))
		return rc;
	if (flags & ~3u)
		return -EINVAL;
	lgfs_record_init(&r, LGFS_OP_RENAME);
	if ((rc = lgfs_record_add_u64(&r, LGFS_F_PARENT, parent)) || (rc = lgfs_record_add_str(&r, LGFS_F_NAME, name)) ||
	    (rc = lgfs_record_add_u64(&r, LGFS_F_NEW_PARENT, newparent)) ||
	    (rc = lgfs_record_add_str(&r, LGFS_F_NEW_NAME, newname)) ||
	    (flags && (rc = lgfs_record_add_u32(&r, LGFS_F_FLAGS, flags))))
		return lgfs_fs_errno(rc);
	return lgfs_fs_mutate(fs, ctx, &r, NULL);
}

int lgfs_fs_link(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t ino, uint64_t newparent,
		 const char *newname, struct lgfs_stat *st)
{
	struct lgfs_record r;
	int rc;

	if ((rc = name_ok(newname)) || (rc = lgfs_name_check(newname, strlen(newname))) ||
	    (rc = reserved(newparent, newname)))
		return rc;
	lgfs_record_init(&r, LGFS_OP_LINK);
	if ((rc = lgfs_record_add_u64(&r, LGFS_F_INO, ino)) || (rc = lgfs_record_add_u64(&r, LGFS_F_NEW_PARENT, newparent)) ||
	    (rc = lgfs_record_add_str(&r, LGFS_F_NEW_NAME, newname)))
		return lgfs_fs_errno(rc);
	if ((rc = lgfs_fs_mutate(fs, ctx, &r, NULL)))
		return rc;
	return stat_of(fs, ino, st);
}

int lgfs_fs_setattr(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t ino, uint64_t fh,
		    const struct lgfs_setattr *sa, struct lgfs_stat *st)
{
	struct lgfs_record r;
	struct lgfs_inode in;
	int64_t now = lgfs_fs_now();
	int rc;

	(void)fh;
	if (fs->rdonly)
		return -EROFS;
	rc = lgfs_inode_read(fs->index, ino, &in);
	if (rc)
		return rc;
	if (sa->valid & LGFS_SET_SIZE) {
		struct ofile *of;

		if (S_ISDIR(in.mode))
			return -EISDIR;
		if (!S_ISREG(in.mode))
			return -EINVAL;
		if ((rc = lgfs_ofile_get(fs, &in, &of)))
			return rc;
		pthread_mutex_lock(&of->mu);
		rc = lgfs_ofile_truncate(fs, ctx, of, sa->size);
		pthread_mutex_unlock(&of->mu);
		lgfs_ofile_put(fs, of);
		if (rc)
			return rc;
	}
	if (sa->valid & ~(unsigned int)LGFS_SET_SIZE) {
		/* Staged writes first: the data is older than this change (cp -p,
		 * tar -p write, then set times, then close); a version committed
		 * later would override the times set here. */
		if (S_ISREG(in.mode)) {
			struct ofile *of = NULL;

			pthread_mutex_lock(&fs->of_mu);
			of = lgfs_ofile_find(fs, ino);
			if (of)
				of->refs++;
			pthread_mutex_unlock(&fs->of_mu);
			if (of) {
				pthread_mutex_lock(&of->mu);
				rc = lgfs_ofile_commit(fs, of->dirty ? &of->writer : ctx, of, LGFS_OP_WRITE);
				pthread_mutex_unlock(&of->mu);
				lgfs_ofile_put(fs, of);
				if (rc)
					return rc;
			}
		}
		lgfs_record_init(&r, LGFS_OP_SETATTR);
		rc = lgfs_record_add_u64(&r, LGFS_F_INO, ino);
		if (!rc && (sa->valid & LGFS_SET_MODE))
			rc = lgfs_record_add_u32(&r, LGFS_F_MODE, sa->mode & 07777);
		if (!rc && (sa->valid & LGFS_SET_UID))
			rc = lgfs_record_add_u32(&r, LGFS_F_UID, sa->uid);
		if (!rc && (sa->valid & LGFS_SET_GID))
			rc = lgfs_record_add_u32(&r, LGFS_F_GID, sa->gid);
		if (!rc && (sa->valid & (LGFS_SET_ATIME | LGFS_SET_ATIME_NOW)))
			rc = lgfs_record_add_i64(&r, LGFS_F_ATIME, (sa->valid & LGFS_SET_ATIME_NOW) ? now : sa->atime);
		if (!rc && (sa->valid & (LGFS_SET_MTIME | LGFS_SET_MTIME_NOW)))
			rc = lgfs_record_add_i64(&r, LGFS_F_MTIME, (sa->valid & LGFS_SET_MTIME_NOW) ? now : sa->mtime);
		if (rc)
			return lgfs_fs_errno(rc);
		if ((rc = lgfs_fs_mutate(fs, ctx, &r, NULL)))
			return rc;
	}
	return stat_of(fs, ino, st);
}

/* ---- extended attributes ---- */

int lgfs_fs_setxattr(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t ino, const char *name,
		     const void *value, size_t size, int flags)
{
	struct lgfs_record r;
	size_t n = strlen(name);
	int rc;

	if (n == 0 || n > 255)
		return -ERANGE;
	if (size > 65536)
		return -E2BIG;
	if (!strncmp(name, "system.", 7))
		return -EOPNOTSUPP; /* no POSIX ACLs */
	if (flags & ~3)
		return -EINVAL;
	lgfs_record_init(&r, LGFS_OP_SETXATTR);
	if ((rc = lgfs_record_add_u64(&r, LGFS_F_INO, ino)) || (rc = lgfs_record_add_str(&r, LGFS_F_XATTR_NAME, name)) ||
	    (rc = lgfs_record_add_bytes(&r, LGFS_F_XATTR_VALUE, value, size)) ||
	    (flags && (rc = lgfs_record_add_u32(&r, LGFS_F_FLAGS, (uint32_t)flags))))
		return rc == LGFS_EINVAL ? -EINVAL : lgfs_fs_errno(rc);
	return lgfs_fs_mutate(fs, ctx, &r, NULL);
}

int lgfs_fs_getxattr(struct lgfs_fs *fs, uint64_t ino, const char *name, void *buf, size_t cap, size_t *len)
{
	const void *v;
	struct lgfs_inode in;
	MDB_txn *t;
	int rc;

	if (strlen(name) == 0 || strlen(name) > 255)
		return -ERANGE;
	if ((rc = lgfs_index_begin(fs->index, 1, &t)))
		return rc;
	rc = lgfs_inode_get(fs->index, t, ino, &in);
	if (!rc)
		rc = lgfs_xattr_get(fs->index, t, ino, name, &v, len);
	if (!rc && cap) {
		if (*len > cap)
			rc = -ERANGE;
		else
			memcpy(buf, v, *len);
	}
	mdb_txn_abort(t);
	return rc;
}

int lgfs_xlist_cb(void *arg, const char *name, size_t len)
{
	struct lgfs_xlist *x = arg;

	if (x->cap && x->len + len + 1 <= x->cap) {
		memcpy(x->buf + x->len, name, len);
		x->buf[x->len + len] = '\0';
	}
	x->len += len + 1;
	return 0;
}

int lgfs_fs_listxattr(struct lgfs_fs *fs, uint64_t ino, char *buf, size_t cap, size_t *len)
{
	struct lgfs_xlist xl = { buf, cap, 0 };
	struct lgfs_inode in;
	MDB_txn *t;
	int rc;

	if ((rc = lgfs_index_begin(fs->index, 1, &t)))
		return rc;
	rc = lgfs_inode_get(fs->index, t, ino, &in);
	if (!rc)
		rc = lgfs_xattr_each(fs->index, t, ino, lgfs_xlist_cb, &xl);
	mdb_txn_abort(t);
	*len = xl.len;
	if (!rc && cap && xl.len > cap)
		rc = -ERANGE;
	return rc;
}

int lgfs_fs_removexattr(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t ino, const char *name)
{
	struct lgfs_record r;
	int rc;

	if (strlen(name) == 0 || strlen(name) > 255)
		return -ERANGE;
	lgfs_record_init(&r, LGFS_OP_REMOVEXATTR);
	if ((rc = lgfs_record_add_u64(&r, LGFS_F_INO, ino)) || (rc = lgfs_record_add_str(&r, LGFS_F_XATTR_NAME, name)))
		return rc == LGFS_EINVAL ? -EINVAL : lgfs_fs_errno(rc);
	return lgfs_fs_mutate(fs, ctx, &r, NULL);
}

/* ---- directories ---- */

int lgfs_fs_opendir(struct lgfs_fs *fs, uint64_t ino, uint64_t *dh)
{
	struct lgfs_inode in;
	struct dirh *d;
	int rc;

	rc = lgfs_inode_read(fs->index, ino, &in);
	if (rc)
		return rc;
	if (!S_ISDIR(in.mode))
		return -ENOTDIR;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->ino = ino;
	*dh = (uint64_t)(uintptr_t)d;
	return 0;
}

void lgfs_fs_releasedir(struct lgfs_fs *fs, uint64_t dh)
{
	(void)fs;
	free((struct dirh *)(uintptr_t)dh);
}

struct rd {
	struct lgfs_fs *fs;
	MDB_txn *t;
	struct dirh *d;
	uint64_t off;      /* offset of the next entry to emit */
	uint64_t skip;     /* entries still to skip before emitting */
	lgfs_fs_dir_cb cb;
	void *arg;
	int full;
};

static int rd_cb(void *arg, const char *name, size_t len, uint64_t ino)
{
	struct rd *r = arg;
	struct lgfs_inode in;
	struct lgfs_stat st;
	char nm[256];
	int rc;

	if (r->skip) {
		r->skip--;
		return 0;
	}
	if ((rc = lgfs_inode_get(r->fs->index, r->t, ino, &in)))
		return rc;
	memcpy(nm, name, len);
	nm[len] = '\0';
	lgfs_fs_fill_stat(r->fs, &in, &st);
	if (r->cb(r->arg, nm, &st, r->off + 1)) {
		r->full = 1;
		return 1;
	}
	r->off++;
	r->d->last_off = r->off;
	memcpy(r->d->last_name, name, len);
	r->d->last_len = len;
	return 0;
}

int lgfs_fs_readdir(struct lgfs_fs *fs, uint64_t dh, uint64_t off, lgfs_fs_dir_cb cb, void *arg)
{
	struct dirh *d = (struct dirh *)(uintptr_t)dh;
	struct lgfs_inode self, parent;
	struct lgfs_stat st;
	struct rd r;
	MDB_txn *t;
	int rc;

	if ((rc = lgfs_index_begin(fs->index, 1, &t)))
		return rc;
	if ((rc = lgfs_inode_get(fs->index, t, d->ino, &self)))
		goto out;
	if (off == 0) {
		lgfs_fs_fill_stat(fs, &self, &st);
		if (cb(arg, ".", &st, 1))
			goto out;
		off = 1;
	}
	if (off == 1) {
		if (lgfs_inode_get(fs->index, t, self.parent, &parent))
			parent = self;
		lgfs_fs_fill_stat(fs, &parent, &st);
		if (cb(arg, "..", &st, 2))
			goto out;
		off = 2;
	}
	memset(&r, 0, sizeof(r));
	r.fs = fs;
	r.t = t;
	r.d = d;
	r.off = off;
	r.cb = cb;
	r.arg = arg;
	if (off > 2 && off == d->last_off) {
		rc = lgfs_dir_each(fs->index, t, d->ino, d->last_name, d->last_len, rd_cb, &r);
	} else {
		r.skip = off - 2; /* resume by position (seekdir/telldir or a changed directory) */
		rc = lgfs_dir_each(fs->index, t, d->ino, NULL, 0, rd_cb, &r);
	}
	if (rc == 1)
		rc = 0;
out:
	mdb_txn_abort(t);
	return rc;
}

int lgfs_fs_sync(struct lgfs_fs *fs)
{
	int rc;

	if (fs->rdonly)
		return 0;
	if ((rc = lgfs_chunks_sync(fs->chunks)))
		return lgfs_fs_errno(rc);
	if ((rc = lgfs_ledger_sync(fs->ledger, 0)))
		return lgfs_fs_errno(rc);
	return 0;
}

int lgfs_fs_statfs(struct lgfs_fs *fs, struct statvfs *out)
{
	struct statvfs sv;

	if (statvfs(fs->voldir, &sv))
		return -errno;
	memset(out, 0, sizeof(*out));
	out->f_bsize = 4096;
	out->f_frsize = sv.f_frsize;
	out->f_blocks = sv.f_blocks;
	out->f_bfree = sv.f_bfree;
	out->f_bavail = sv.f_bavail;
	out->f_files = fs->next_index + 1000000;
	out->f_ffree = 1000000;
	out->f_favail = 1000000;
	out->f_namemax = 255;
	return 0;
}

int lgfs_fs_resolve(struct lgfs_fs *fs, const char *path, uint64_t *ino)
{
	const char *p = path, *q;
	uint64_t cur = LGFS_ROOT_INO;
	char name[256];
	int rc;

	if (*p != '/')
		return -EINVAL;
	while (*p) {
		struct lgfs_stat st;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		q = strchr(p, '/');
		if (!q)
			q = p + strlen(p);
		if ((size_t)(q - p) > 255)
			return -ENAMETOOLONG;
		memcpy(name, p, (size_t)(q - p));
		name[q - p] = '\0';
		if (!strcmp(name, ".")) {
			p = q;
			continue;
		}
		if (!strcmp(name, ".."))
			return -EINVAL;
		if ((rc = lgfs_fs_lookup(fs, cur, name, &st)))
			return rc;
		cur = st.ino;
		p = q;
	}
	*ino = cur;
	return 0;
}
