/*
 * history.c — the past of a volume: points, past states, the versions of a
 * path (fs layer). See ledgerfs/history.h; the temporal tables are in
 * index.h.
 */
#include "ledgerfs/buf.h"
#include "ledgerfs/history.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fs_internal.h"
#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/json.h"

struct lgfs_ledger *lgfs_fs_ledger(struct lgfs_fs *fs)
{
	return fs->ledger;
}

uint64_t lgfs_fs_entries(struct lgfs_fs *fs)
{
	uint64_t n;

	pthread_mutex_lock(&fs->mu);
	n = fs->next_index;
	pthread_mutex_unlock(&fs->mu);
	return n;
}

/* A read transaction over a valid point. */
static int begin_at(struct lgfs_fs *fs, uint64_t at, MDB_txn **t)
{
	if (at >= lgfs_fs_entries(fs))
		return -ERANGE;
	return lgfs_index_begin(fs->index, 1, t);
}

static void past_stat(const struct lgfs_inode *in, struct lgfs_stat *st)
{
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
	st->blocks = ((S_ISREG(in->mode) ? in->allocated : in->size) + 511) / 512;
}

/* A live inode at `at`: it existed and had a name (nlink > 0), or it is
 * still open... the past has no open files: nlink 0 is gone. */
static int inode_at(struct lgfs_fs *fs, MDB_txn *t, uint64_t ino, uint64_t at, struct lgfs_inode *in)
{
	int rc = lgfs_inode_get_at(fs->index, t, ino, at, in);

	if (rc)
		return rc;
	return in->nlink ? 0 : -ENOENT;
}

int lgfs_past_getattr(struct lgfs_fs *fs, uint64_t at, uint64_t ino, struct lgfs_stat *st)
{
	struct lgfs_inode in;
	MDB_txn *t;
	int rc;

	if ((rc = begin_at(fs, at, &t)))
		return rc;
	rc = inode_at(fs, t, ino, at, &in);
	mdb_txn_abort(t);
	if (!rc)
		past_stat(&in, st);
	return rc;
}

int lgfs_past_content(struct lgfs_fs *fs, uint64_t at, uint64_t ino, uint8_t sha256[32], uint8_t manifest[32])
{
	struct lgfs_inode in;
	MDB_txn *t;
	int rc;

	if ((rc = begin_at(fs, at, &t)))
		return rc;
	rc = inode_at(fs, t, ino, at, &in);
	mdb_txn_abort(t);
	if (rc)
		return rc;
	if (!S_ISREG(in.mode))
		return S_ISDIR(in.mode) ? -EISDIR : -EINVAL;
	if (sha256)
		memcpy(sha256, in.sha256, 32);
	if (manifest)
		memcpy(manifest, in.manifest, 32);
	return 0;
}

static int lookup_in(struct lgfs_fs *fs, MDB_txn *t, uint64_t at, uint64_t parent, const char *name, size_t len,
		     struct lgfs_inode *in)
{
	uint64_t ino;
	int rc;

	if (len > 255)
		return -ENAMETOOLONG;
	if ((rc = inode_at(fs, t, parent, at, in)))
		return rc;
	if (!S_ISDIR(in->mode))
		return -ENOTDIR;
	if ((rc = lgfs_dirent_get_at(fs->index, t, parent, name, len, at, &ino)))
		return rc;
	return inode_at(fs, t, ino, at, in);
}

int lgfs_past_lookup(struct lgfs_fs *fs, uint64_t at, uint64_t parent, const char *name, struct lgfs_stat *st)
{
	struct lgfs_inode in;
	MDB_txn *t;
	int rc;

	if ((rc = begin_at(fs, at, &t)))
		return rc;
	rc = lookup_in(fs, t, at, parent, name, strlen(name), &in);
	mdb_txn_abort(t);
	if (!rc)
		past_stat(&in, st);
	return rc;
}

int lgfs_past_readlink(struct lgfs_fs *fs, uint64_t at, uint64_t ino, char *buf, size_t cap, size_t *len)
{
	struct lgfs_inode in;
	const void *tg;
	size_t n;
	MDB_txn *t;
	int rc;

	if ((rc = begin_at(fs, at, &t)))
		return rc;
	rc = inode_at(fs, t, ino, at, &in);
	if (!rc && !S_ISLNK(in.mode))
		rc = -EINVAL;
	if (!rc)
		rc = lgfs_symlink_get(fs->index, t, ino, &tg, &n);
	if (!rc) {
		*len = n;
		if (cap) {
			size_t c = n < cap ? n : cap;

			memcpy(buf, tg, c);
			if (n < cap)
				buf[n] = '\0';
		}
	}
	mdb_txn_abort(t);
	return rc;
}

int lgfs_past_getxattr(struct lgfs_fs *fs, uint64_t at, uint64_t ino, const char *name, void *buf, size_t cap,
		       size_t *len)
{
	struct lgfs_inode in;
	const void *v;
	size_t n;
	MDB_txn *t;
	int rc;

	if ((rc = begin_at(fs, at, &t)))
		return rc;
	rc = inode_at(fs, t, ino, at, &in);
	if (!rc)
		rc = lgfs_xattr_get_at(fs->index, t, ino, name, at, &v, &n);
	if (!rc) {
		*len = n;
		if (cap && n > cap)
			rc = -ERANGE;
		else if (cap)
			memcpy(buf, v, n);
	}
	mdb_txn_abort(t);
	return rc;
}

int lgfs_past_listxattr(struct lgfs_fs *fs, uint64_t at, uint64_t ino, char *buf, size_t cap, size_t *len)
{
	struct lgfs_inode in;
	struct lgfs_xlist l = { buf, cap, 0 };
	MDB_txn *t;
	int rc;

	if ((rc = begin_at(fs, at, &t)))
		return rc;
	rc = inode_at(fs, t, ino, at, &in);
	if (!rc)
		rc = lgfs_xattr_each_at(fs->index, t, ino, at, lgfs_xlist_cb, &l);
	mdb_txn_abort(t);
	if (rc)
		return rc;
	*len = l.len;
	return cap && l.len > cap ? -ERANGE : 0;
}

/* Resolve an absolute path in transaction t at `at`. */
static int resolve_in(struct lgfs_fs *fs, MDB_txn *t, uint64_t at, const char *path, struct lgfs_inode *in)
{
	const char *p = path, *q;
	int rc;

	if (*p != '/')
		return -EINVAL;
	if ((rc = inode_at(fs, t, LGFS_ROOT_INO, at, in)))
		return rc;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		q = strchr(p, '/');
		if (!q)
			q = p + strlen(p);
		if (q - p == 1 && p[0] == '.') {
			p = q;
			continue;
		}
		if (q - p == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		if ((rc = lookup_in(fs, t, at, in->ino, p, (size_t)(q - p), in)))
			return rc;
		p = q;
	}
	return 0;
}

int lgfs_past_resolve(struct lgfs_fs *fs, uint64_t at, const char *path, uint64_t *ino)
{
	struct lgfs_inode in;
	MDB_txn *t;
	int rc;

	if ((rc = begin_at(fs, at, &t)))
		return rc;
	rc = resolve_in(fs, t, at, path, &in);
	mdb_txn_abort(t);
	if (!rc)
		*ino = in.ino;
	return rc;
}

/* A name ino had at `at`: the one it was given last, else (that one was
 * removed, another hard link remains) the latest earlier one still held. */
struct held_name {
	struct lgfs_fs *fs;
	MDB_txn *t;
	uint64_t ino, at, parent;
	char name[256];
	size_t len;
	int found;
};

static int held_name_cb(void *arg, uint64_t index, uint64_t parent, const char *name, size_t len)
{
	struct held_name *h = arg;
	uint64_t bound;

	(void)index;
	if (lgfs_dirent_get_at(h->fs->index, h->t, parent, name, len, h->at, &bound) == 0 && bound == h->ino) {
		h->parent = parent;
		memcpy(h->name, name, len);
		h->len = len;
		h->found = 1;
	}
	return 0;
}

static int name_at(struct lgfs_fs *fs, MDB_txn *t, uint64_t at, uint64_t ino, struct held_name *h)
{
	const char *name;
	size_t len;
	uint64_t bound;
	int rc;

	memset(h, 0, sizeof(*h));
	h->fs = fs;
	h->t = t;
	h->ino = ino;
	h->at = at;
	if ((rc = lgfs_name_get_at(fs->index, t, ino, at, &h->parent, &name, &len)))
		return rc;
	rc = lgfs_dirent_get_at(fs->index, t, h->parent, name, len, at, &bound);
	if (rc == 0 && bound == ino) {
		memcpy(h->name, name, len);
		h->len = len;
		return 0;
	}
	if (rc && rc != -ENOENT)
		return rc;
	if ((rc = lgfs_names_each(fs->index, t, ino, 0, at, held_name_cb, h)))
		return rc;
	return h->found ? 0 : -ENOENT;
}

/* The path of ino at `at` into out (raw bytes), in transaction t. */
static int path_in(struct lgfs_fs *fs, MDB_txn *t, uint64_t at, uint64_t ino, char *out, size_t cap)
{
	size_t used = 0;
	int depth = 0, rc;

	if (cap < 2)
		return -ENAMETOOLONG;
	/* built backwards from the end of out, then moved to the front */
	out[cap - 1] = '\0';
	while (ino != LGFS_ROOT_INO) {
		struct held_name h;

		if (depth++ > 4096)
			return -ELOOP;
		if ((rc = name_at(fs, t, at, ino, &h)))
			return rc;
		if (used + h.len + 1 > cap - 1)
			return -ENAMETOOLONG;
		memcpy(out + cap - 1 - used - h.len, h.name, h.len);
		out[cap - 2 - used - h.len] = '/';
		used += h.len + 1;
		ino = h.parent;
	}
	if (used == 0) {
		out[0] = '/';
		out[1] = '\0';
		return 0;
	}
	memmove(out, out + cap - 1 - used, used + 1);
	return 0;
}

int lgfs_past_path(struct lgfs_fs *fs, uint64_t at, uint64_t ino, char *out, size_t cap)
{
	MDB_txn *t;
	int rc;

	if ((rc = begin_at(fs, at, &t)))
		return rc;
	rc = path_in(fs, t, at, ino, out, cap);
	mdb_txn_abort(t);
	return rc;
}

int lgfs_past_parent(struct lgfs_fs *fs, uint64_t at, uint64_t dir, uint64_t *parent)
{
	struct lgfs_inode in;
	MDB_txn *t;
	int rc;

	if ((rc = begin_at(fs, at, &t)))
		return rc;
	rc = inode_at(fs, t, dir, at, &in);
	if (!rc && !S_ISDIR(in.mode))
		rc = -ENOTDIR;
	mdb_txn_abort(t);
	if (!rc)
		*parent = in.parent;
	return rc;
}

struct rd_at {
	struct lgfs_fs *fs;
	MDB_txn *t;
	uint64_t at;
	lgfs_past_dir_cb cb;
	void *arg;
};

static int rd_at_cb(void *arg, const char *name, size_t len, uint64_t ino)
{
	struct rd_at *r = arg;
	struct lgfs_inode in;
	struct lgfs_stat st;
	int rc;

	if ((rc = lgfs_inode_get_at(r->fs->index, r->t, ino, r->at, &in)))
		return rc == -ENOENT ? -EIO : rc; /* an entry naming no inode: a broken index */
	past_stat(&in, &st);
	return r->cb(r->arg, name, len, &st);
}

int lgfs_past_readdir(struct lgfs_fs *fs, uint64_t at, uint64_t dir, const char *after, size_t after_len,
		      lgfs_past_dir_cb cb, void *arg)
{
	struct lgfs_inode in;
	struct rd_at r = { fs, NULL, at, cb, arg };
	int rc;

	if ((rc = begin_at(fs, at, &r.t)))
		return rc;
	rc = inode_at(fs, r.t, dir, at, &in);
	if (!rc && !S_ISDIR(in.mode))
		rc = -ENOTDIR;
	if (!rc)
		rc = lgfs_dir_each_at(fs->index, r.t, dir, at, after, after ? after_len : 0, rd_at_cb, &r);
	mdb_txn_abort(r.t);
	return rc;
}

/* ---- past content ---- */

struct lgfs_past_file {
	struct lgfs_manifest_reader *reader; /* NULL: empty content */
	uint64_t size;
	uint8_t sha256[32];
	struct lgfs_sha256_ctx *hash; /* NULL once a read left the sequential order */
	uint64_t hashed;              /* bytes hashed so far, from offset 0 */
	int checked;
};

int lgfs_past_open(struct lgfs_fs *fs, uint64_t at, uint64_t ino, struct lgfs_past_file **out)
{
	static const uint8_t zero[32];
	struct lgfs_past_file *f;
	struct lgfs_inode in;
	MDB_txn *t;
	int rc;

	*out = NULL;
	if ((rc = begin_at(fs, at, &t)))
		return rc;
	rc = inode_at(fs, t, ino, at, &in);
	mdb_txn_abort(t);
	if (rc)
		return rc;
	if (S_ISDIR(in.mode))
		return -EISDIR;
	if (!S_ISREG(in.mode))
		return -EINVAL;
	if (!(f = calloc(1, sizeof(*f))))
		return -ENOMEM;
	f->size = in.size;
	memcpy(f->sha256, in.sha256, 32);
	if (memcmp(in.manifest, zero, 32)) {
		if ((rc = lgfs_manifest_reader_open(&f->reader, fs->chunks, in.manifest))) {
			free(f);
			return lgfs_fs_errno(rc);
		}
		if (lgfs_manifest_reader_size(f->reader) != in.size) {
			lgfs_error_set(LGFS_ECORRUPT, "the content of inode %llu at %llu has %llu bytes, its record says %llu",
				       (unsigned long long)ino, (unsigned long long)at,
				       (unsigned long long)lgfs_manifest_reader_size(f->reader),
				       (unsigned long long)in.size);
			lgfs_past_close(f);
			return -EIO;
		}
	}
	/* Files over the hole limit carry no whole-content hash (zeros). */
	if (memcmp(f->sha256, zero, 32) || in.size == 0)
		f->hash = lgfs_sha256_ctx_new();
	*out = f;
	return 0;
}

uint64_t lgfs_past_size(const struct lgfs_past_file *f)
{
	return f->size;
}

int lgfs_past_read(struct lgfs_past_file *f, uint64_t off, void *buf, size_t size, size_t *got)
{
	static const uint8_t zero[32];
	size_t n = 0;
	int rc;

	*got = 0;
	if (off >= f->size || size == 0)
		n = 0;
	else if (f->reader && (rc = lgfs_manifest_reader_read(f->reader, off, buf, size, &n)))
		return lgfs_fs_errno(rc);
	if (!f->hash)
		goto out;
	if (off != f->hashed) {
		if (n || off < f->hashed) { /* out of order: no whole-content check */
			lgfs_sha256_ctx_free(f->hash);
			f->hash = NULL;
		}
		goto out;
	}
	lgfs_sha256_ctx_update(f->hash, buf, n);
	f->hashed += n;
	if (f->hashed == f->size && !f->checked) {
		uint8_t d[32];

		lgfs_sha256_ctx_final(f->hash, d);
		f->hash = NULL;
		f->checked = 1;
		/* an empty file's record carries zeros or the hash of nothing */
		if (memcmp(d, f->sha256, 32) && !(f->size == 0 && !memcmp(f->sha256, zero, 32))) {
			lgfs_error_set(LGFS_ECORRUPT, "the content read does not have the SHA-256 its record names");
			return -EIO;
		}
	}
out:
	*got = n;
	return 0;
}

void lgfs_past_close(struct lgfs_past_file *f)
{
	if (!f)
		return;
	if (f->reader)
		lgfs_manifest_reader_free(f->reader);
	if (f->hash)
		lgfs_sha256_ctx_free(f->hash);
	free(f);
}

/* ---- records ---- */

struct rec_info {
	int64_t time_ns;
	uint8_t author[32];
	uint32_t uid, gid;
	uint16_t op;
};

static int rec_info_cb(void *arg, const struct lgfs_ledger_entry *e)
{
	struct rec_info *ri = arg;

	ri->time_ns = e->env.time_ns;
	memcpy(ri->author, e->env.author, 32);
	if (e->rec) {
		ri->uid = e->rec->uid;
		ri->gid = e->rec->gid;
		ri->op = e->rec->op;
	}
	return 0;
}

/* Time, author and operation of log entry idx (verified by the ledger's
 * read). A writer's records may not be durable yet: it makes them so. */
static int rec_info(struct lgfs_fs *fs, uint64_t idx, struct rec_info *ri)
{
	int rc;

	memset(ri, 0, sizeof(*ri));
	rc = lgfs_ledger_read(fs->ledger, idx, 1, rec_info_cb, ri);
	if (rc == LGFS_ERANGE && !fs->rdonly && idx < lgfs_fs_entries(fs)) {
		if ((rc = lgfs_ledger_sync(fs->ledger, idx + 1)) == 0)
			rc = lgfs_ledger_read(fs->ledger, idx, 1, rec_info_cb, ri);
	}
	return rc ? lgfs_fs_errno(rc) : 0;
}

/* ---- points ---- */

struct version_find {
	uint64_t n, index;
	int found;
};

static int version_find_cb(void *arg, const struct lgfs_path_version *v)
{
	struct version_find *f = arg;

	if (v->n == f->n) {
		f->index = v->index;
		f->found = 1;
		return 1;
	}
	return 0;
}

int lgfs_fs_point(struct lgfs_fs *fs, const char *spec, uint64_t *at)
{
	uint64_t n = lgfs_fs_entries(fs);
	const char *atsign;
	char *esc;
	int rc;

	if (!spec || !*spec) {
		lgfs_error_set(LGFS_EINVAL, "empty point in history");
		return -EINVAL;
	}
	if (strspn(spec, "0123456789") == strlen(spec)) {
		unsigned long long v;
		char *end;

		errno = 0;
		v = strtoull(spec, &end, 10);
		if (errno || *end) {
			lgfs_error_set(LGFS_ERANGE, "log index %s is beyond the end of the log (%llu entries)", spec,
				       (unsigned long long)n);
			return -ERANGE;
		}
		if (v >= n) {
			lgfs_error_set(LGFS_ERANGE, "log index %llu is beyond the end of the log (%llu entries: 0..%llu)",
				       v, (unsigned long long)n, (unsigned long long)(n ? n - 1 : 0));
			return -ERANGE;
		}
		*at = v;
		return 0;
	}
	atsign = strrchr(spec, '@');
	if (spec[0] == '/' && atsign && atsign[1]) {
		struct version_find f = { 0, 0, 0 };
		char *path;
		unsigned long long v;
		char *end;

		errno = 0;
		v = strtoull(atsign + 1, &end, 10);
		esc = lgfs_escape_dup(spec, strlen(spec));
		if (errno || *end || v == 0 || strspn(atsign + 1, "0123456789") != strlen(atsign + 1)) {
			lgfs_error_set(LGFS_EINVAL, "%s: a version is PATH@N, N = 1, 2, ... as 'ledgerfs history' numbers them",
				       esc ? esc : "?");
			free(esc);
			return -EINVAL;
		}
		if (!(path = strndup(spec, (size_t)(atsign - spec)))) {
			free(esc);
			return -ENOMEM;
		}
		f.n = v;
		rc = lgfs_fs_history(fs, path, 0, version_find_cb, &f);
		free(path);
		if (rc < 0) {
			if (rc == -ENOENT)
				lgfs_error_set(LGFS_ENOTFOUND, "%s: that path never named anything", esc ? esc : "?");
			free(esc);
			return rc;
		}
		if (!f.found) {
			lgfs_error_set(LGFS_ERANGE, "%s: that path has fewer versions", esc ? esc : "?");
			free(esc);
			return -ERANGE;
		}
		free(esc);
		*at = f.index;
		return 0;
	}
	{
		int64_t t;
		struct rec_info ri;
		uint64_t lo = 0, hi;

		if (lgfs_time_parse(spec, &t)) {
			esc = lgfs_escape_dup(spec, strlen(spec));
			lgfs_error_set(LGFS_EINVAL,
				       "%s is not a point in history: give a log index (1234), an RFC 3339 time "
				       "(2026-11-23T10:00:00Z) or PATH@N",
				       esc ? esc : "?");
			free(esc);
			return -EINVAL;
		}
		if (n == 0)
			return -ERANGE;
		if ((rc = rec_info(fs, 0, &ri)))
			return rc;
		if (t < ri.time_ns) {
			char when[48];

			lgfs_time_format(when, sizeof(when), ri.time_ns);
			esc = lgfs_escape_dup(spec, strlen(spec));
			lgfs_error_set(LGFS_ERANGE, "%s is before the volume was created (%s)", esc ? esc : "?", when);
			free(esc);
			return -ERANGE;
		}
		/* times never go back in the log (verified at open): the last
		 * entry at or before t, by bisection */
		hi = n - 1;
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo + 1) / 2;

			if ((rc = rec_info(fs, mid, &ri)))
				return rc;
			if (ri.time_ns <= t)
				lo = mid;
			else
				hi = mid - 1;
		}
		*at = lo;
		return 0;
	}
}

/* ---- the versions of a path ---- */

/* The path named ino over [s, e]. */
struct seg {
	uint64_t s, e, ino;
};

struct segs {
	struct seg *v;
	size_t n, cap;
};

static int seg_add(struct segs *ss, uint64_t s, uint64_t e, uint64_t ino)
{
	if (ss->n && ss->v[ss->n - 1].ino == ino && ss->v[ss->n - 1].e + 1 == s) {
		ss->v[ss->n - 1].e = e;
		return 0;
	}
	if (lgfs_grow(&ss->v, &ss->cap, ss->n, sizeof(*ss->v)))
		return -ENOMEM;
	ss->v[ss->n].s = s;
	ss->v[ss->n].e = e;
	ss->v[ss->n].ino = ino;
	ss->n++;
	return 0;
}

struct seg_walk {
	struct segs *out;
	uint64_t start, cur, e;
	int rc;
};

static int seg_change_cb(void *arg, uint64_t index, uint64_t ino)
{
	struct seg_walk *w = arg;
	int rc;

	if (ino == w->cur)
		return 0;
	if (w->cur && (rc = seg_add(w->out, w->start, index - 1, w->cur)))
		return rc;
	w->cur = ino;
	w->start = index;
	return 0;
}

/* The segments of parent/name given the segments of parent. */
static int segs_child(struct lgfs_fs *fs, MDB_txn *t, const struct segs *in, const char *name, size_t len,
		      struct segs *out)
{
	size_t i;
	int rc;

	for (i = 0; i < in->n; i++) {
		struct seg_walk w = { out, in->v[i].s, 0, in->v[i].e, 0 };

		rc = lgfs_dirent_get_at(fs->index, t, in->v[i].ino, name, len, in->v[i].s, &w.cur);
		if (rc == -ENOENT)
			w.cur = 0;
		else if (rc)
			return rc;
		if (in->v[i].e > in->v[i].s &&
		    (rc = lgfs_dirent_changes(fs->index, t, in->v[i].ino, name, len, in->v[i].s + 1, in->v[i].e,
					      seg_change_cb, &w)))
			return rc;
		if (w.cur && (rc = seg_add(out, w.start, in->v[i].e, w.cur)))
			return rc;
	}
	return 0;
}

/* The segments during which `path` named something, up to `end`. */
static int path_segs(struct lgfs_fs *fs, MDB_txn *t, const char *path, uint64_t end, struct segs *out)
{
	struct segs cur = { NULL, 0, 0 };
	const char *p = path, *q;
	int rc;

	if (*p != '/')
		return -EINVAL;
	if ((rc = seg_add(&cur, 0, end, LGFS_ROOT_INO)))
		return rc;
	while (*p) {
		struct segs next = { NULL, 0, 0 };

		while (*p == '/')
			p++;
		if (!*p)
			break;
		q = strchr(p, '/');
		if (!q)
			q = p + strlen(p);
		if ((q - p == 1 && p[0] == '.') || (q - p == 2 && p[0] == '.' && p[1] == '.')) {
			free(cur.v);
			return -EINVAL;
		}
		if (q - p > 255) {
			free(cur.v);
			return -ENAMETOOLONG;
		}
		rc = segs_child(fs, t, &cur, p, (size_t)(q - p), &next);
		free(cur.v);
		cur = next;
		if (rc) {
			free(cur.v);
			return rc;
		}
		p = q;
	}
	*out = cur;
	return 0;
}

/* A list of (index, ino, present) rows before record details are added. */
struct row {
	uint64_t index, ino;
	int present;
};

struct rows {
	struct row *v;
	size_t n, cap;
	uint64_t ino; /* for the change callback */
};

static int row_add(struct rows *rs, uint64_t index, uint64_t ino, int present)
{
	if (rs->n && rs->v[rs->n - 1].index == index) { /* one row per record: the last word wins */
		rs->v[rs->n - 1].ino = ino;
		rs->v[rs->n - 1].present = present;
		return 0;
	}
	if (lgfs_grow(&rs->v, &rs->cap, rs->n, sizeof(*rs->v)))
		return -ENOMEM;
	rs->v[rs->n].index = index;
	rs->v[rs->n].ino = ino;
	rs->v[rs->n].present = present;
	rs->n++;
	return 0;
}

static int row_change_cb(void *arg, uint64_t index, const struct lgfs_inode *in)
{
	struct rows *rs = arg;

	return row_add(rs, index, rs->ino, in->nlink > 0);
}

static int rows_of_path(struct lgfs_fs *fs, MDB_txn *t, const char *path, uint64_t end, struct rows *rs)
{
	struct segs ss = { NULL, 0, 0 };
	size_t i;
	int rc;

	if ((rc = path_segs(fs, t, path, end, &ss)))
		return rc;
	for (i = 0; i < ss.n && !rc; i++) {
		const struct seg *sg = &ss.v[i];

		if ((rc = row_add(rs, sg->s, sg->ino, 1)))
			break;
		rs->ino = sg->ino;
		if (sg->e > sg->s && (rc = lgfs_inode_changes(fs->index, t, sg->ino, sg->s + 1, sg->e, row_change_cb, rs)))
			break;
		if (sg->e < end && (i + 1 == ss.n || ss.v[i + 1].s != sg->e + 1))
			rc = row_add(rs, sg->e + 1, 0, 0);
	}
	free(ss.v);
	return rc;
}

static int rows_of_inode(struct lgfs_fs *fs, MDB_txn *t, const char *path, uint64_t end, struct rows *rs)
{
	struct segs ss = { NULL, 0, 0 };
	uint64_t ino;
	int rc;

	if ((rc = path_segs(fs, t, path, end, &ss)))
		return rc;
	if (ss.n == 0) {
		free(ss.v);
		return 0;
	}
	ino = ss.v[ss.n - 1].ino; /* the file there now, or last */
	free(ss.v);
	rs->ino = ino;
	return lgfs_inode_changes(fs->index, t, ino, 0, end, row_change_cb, rs);
}

int lgfs_fs_history(struct lgfs_fs *fs, const char *path, int follow, lgfs_history_cb cb, void *arg)
{
	struct rows rs = { NULL, 0, 0, 0 };
	struct lgfs_path_version *v = NULL;
	uint64_t end = lgfs_fs_entries(fs);
	MDB_txn *t;
	size_t i;
	int rc;

	if (end == 0)
		return -ENOENT;
	end--;
	if ((rc = lgfs_index_begin(fs->index, 1, &t)))
		return rc;
	rc = follow ? rows_of_inode(fs, t, path, end, &rs) : rows_of_path(fs, t, path, end, &rs);
	if (!rc && rs.n == 0)
		rc = -ENOENT;
	if (!rc && !(v = malloc(sizeof(*v))))
		rc = -ENOMEM;
	for (i = 0; i < rs.n && !rc; i++) {
		struct lgfs_inode in;
		struct rec_info ri;

		memset(v, 0, sizeof(*v));
		v->n = i + 1;
		v->index = rs.v[i].index;
		v->present = rs.v[i].present;
		if ((rc = rec_info(fs, v->index, &ri)))
			break;
		v->op = ri.op;
		v->time_ns = ri.time_ns;
		memcpy(v->author, ri.author, 32);
		v->uid = ri.uid;
		v->gid = ri.gid;
		if (rs.v[i].ino && lgfs_inode_get_at(fs->index, t, rs.v[i].ino, v->index, &in) == 0) {
			past_stat(&in, &v->st);
			if (S_ISREG(in.mode))
				memcpy(v->sha256, in.sha256, 32);
		}
		if (!follow) {
			snprintf(v->path, sizeof(v->path), "%s", path);
		} else if (path_in(fs, t, v->index, rs.v[i].ino, v->path, sizeof(v->path)) &&
			   (v->index == 0 ||
			    path_in(fs, t, v->index - 1, rs.v[i].ino, v->path, sizeof(v->path)))) {
			/* no name then or just before (unlinked while open) */
			v->path[0] = '\0';
		}
		rc = cb(arg, v);
	}
	mdb_txn_abort(t);
	free(v);
	free(rs.v);
	return rc;
}
