/*
 * index.c — the LMDB index (fs layer). See index.h.
 */
#include "index.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"

#define MAP_SIZE (64ull << 30) /* address space only; the file grows as needed */
#define NAME_MAX_BYTES 255
#define XATTR_NAME_MAX_BYTES 255

int lgfs_index_errno(int rc)
{
	switch (rc) {
	case 0: return 0;
	case MDB_NOTFOUND: return -ENOENT;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL: return -ENOSPC;
	case MDB_KEYEXIST: return -EEXIST;
	case EACCES: return -EROFS;
	}
	if (rc > 0 && rc < 4096)
		return -rc;
	return -EIO;
}

static int fail(int rc, const char *what)
{
	lgfs_error_set(LGFS_EIO, "index: %s: %s", what, mdb_strerror(rc));
	return lgfs_index_errno(rc);
}

int lgfs_index_open(struct lgfs_index **out, const char *dir, int rdonly)
{
	struct lgfs_index *x = calloc(1, sizeof(*x));
	/* Read-only opens use no lock file: they must not change a byte of the
	 * store (a writer never shares its index with a reader that is not
	 * its own process; see fs.c). */
	unsigned int envf = MDB_NOSYNC | MDB_NOTLS | (rdonly ? MDB_RDONLY | MDB_NOLOCK : 0);
	unsigned int dbf = rdonly ? 0 : MDB_CREATE;
	MDB_txn *t = NULL;
	int rc;

	*out = NULL;
	if (!x)
		return -ENOMEM;
	x->rdonly = rdonly;
	if (!rdonly && mkdir(dir, 0700) && errno != EEXIST) {
		lgfs_error_errno(LGFS_EIO, "creating %s", dir);
		free(x);
		return -errno;
	}
	if ((rc = mdb_env_create(&x->env)) || (rc = mdb_env_set_maxdbs(x->env, 16)) ||
	    (rc = mdb_env_set_mapsize(x->env, MAP_SIZE)) || (rc = mdb_env_set_maxreaders(x->env, 512)))
		goto fail;
	/* The index is derived from the log: it need not be synced (MDB_NOSYNC
	 * keeps it consistent, a crash may lose its last transactions, which
	 * the mount replays from the log). */
	rc = mdb_env_open(x->env, dir, envf, 0600);
	if (rc)
		goto fail;
	rc = mdb_txn_begin(x->env, NULL, rdonly ? MDB_RDONLY : 0, &t);
	if (rc)
		goto fail;
	if ((rc = mdb_dbi_open(t, "meta", dbf, &x->meta)) || (rc = mdb_dbi_open(t, "inodes", dbf, &x->inodes)) ||
	    (rc = mdb_dbi_open(t, "dirents", dbf, &x->dirents)) ||
	    (rc = mdb_dbi_open(t, "symlinks", dbf, &x->symlinks)) ||
	    (rc = mdb_dbi_open(t, "xattrs", dbf, &x->xattrs)) ||
	    (rc = mdb_dbi_open(t, "versions", dbf, &x->versions)) ||
	    (rc = mdb_dbi_open(t, "h_inodes", dbf, &x->h_inodes)) ||
	    (rc = mdb_dbi_open(t, "h_dirents", dbf, &x->h_dirents)) ||
	    (rc = mdb_dbi_open(t, "h_xattrs", dbf, &x->h_xattrs)) ||
	    (rc = mdb_dbi_open(t, "h_names", dbf, &x->h_names)) ||
	    (rc = mdb_dbi_open(t, "policy", dbf, &x->policy)))
		goto fail;
	rc = mdb_txn_commit(t);
	t = NULL;
	if (rc)
		goto fail;
	*out = x;
	return 0;
fail:
	rc = fail(rc, dir);
	if (t)
		mdb_txn_abort(t);
	if (x->env)
		mdb_env_close(x->env);
	free(x);
	return rc;
}

void lgfs_index_close(struct lgfs_index *x)
{
	if (!x)
		return;
	if (!x->rdonly)
		mdb_env_sync(x->env, 1);
	mdb_env_close(x->env);
	free(x);
}

int lgfs_index_begin(struct lgfs_index *x, int rdonly, MDB_txn **out)
{
	int rc = mdb_txn_begin(x->env, NULL, rdonly ? MDB_RDONLY : 0, out);

	return rc ? fail(rc, "begin") : 0;
}

int lgfs_index_commit(MDB_txn *t)
{
	int rc = mdb_txn_commit(t);

	return rc ? fail(rc, "commit") : 0;
}

int lgfs_index_clear(struct lgfs_index *x, MDB_txn *t)
{
	MDB_dbi all[] = { x->meta,     x->inodes,   x->dirents,   x->symlinks, x->xattrs,
			  x->versions, x->h_inodes, x->h_dirents, x->h_xattrs, x->h_names, x->policy };
	size_t i;
	int rc;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if ((rc = mdb_drop(t, all[i], 0)))
			return fail(rc, "clear");
	return 0;
}

void lgfs_index_stamp(uint8_t out[32], const uint8_t *record, size_t len)
{
	memset(out, 0, 32);
	if (record && len >= 16)
		memcpy(out, record, 16);
}

int lgfs_index_applied(struct lgfs_index *x, MDB_txn *t, uint64_t *applied, uint8_t last[32])
{
	MDB_val k = { 7, "applied" }, v;
	uint32_t layout;
	int rc;

	*applied = 0;
	memset(last, 0, 32);
	k.mv_size = 6;
	k.mv_data = "layout";
	rc = mdb_get(t, x->meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return fail(rc, "meta");
	if (v.mv_size != 4)
		return 0;
	memcpy(&layout, v.mv_data, 4);
	if (layout != LGFS_INDEX_LAYOUT)
		return 0; /* another layout: treat as empty, the caller rebuilds */
	k.mv_size = 7;
	k.mv_data = "applied";
	rc = mdb_get(t, x->meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return fail(rc, "meta");
	if (v.mv_size != 40)
		return 0;
	memcpy(applied, v.mv_data, 8);
	memcpy(last, (uint8_t *)v.mv_data + 8, 32);
	return 0;
}

int lgfs_index_set_applied(struct lgfs_index *x, MDB_txn *t, uint64_t applied, const uint8_t last[32])
{
	uint8_t buf[40];
	uint32_t layout = LGFS_INDEX_LAYOUT;
	MDB_val k = { 7, "applied" }, v = { 40, buf };
	int rc;

	memcpy(buf, &applied, 8);
	memcpy(buf + 8, last, 32);
	rc = mdb_put(t, x->meta, &k, &v, 0);
	if (!rc) {
		k.mv_size = 6;
		k.mv_data = "layout";
		v.mv_size = 4;
		v.mv_data = &layout;
		rc = mdb_put(t, x->meta, &k, &v, 0);
	}
	return rc ? fail(rc, "meta") : 0;
}

static void key_u64(uint8_t *k, uint64_t v)
{
	lgfs_be64_put(k, v);
}

/* ---- temporal tables ---- */

#define HIST_KEY_MAX (8 + 255 + 1 + 8)

/* Record in a temporal table that `prefix` holds `val` (len bytes, after a
 * 0x01 marker byte when marked) from the record being applied on; val NULL:
 * it holds nothing from then on (an empty value). */
static int hist_put(struct lgfs_index *x, MDB_txn *t, MDB_dbi dbi, const uint8_t *prefix, size_t plen,
		    const void *val, size_t len, int marked)
{
	uint8_t kb[HIST_KEY_MAX];
	MDB_val k = { plen + 8, kb }, v = { 0, NULL };
	int rc;

	memcpy(kb, prefix, plen);
	key_u64(kb + plen, x->cur);
	if (val)
		v.mv_size = len + (marked ? 1 : 0);
	rc = mdb_put(t, dbi, &k, &v, val ? MDB_RESERVE : 0);
	if (rc)
		return fail(rc, "history");
	if (val) {
		uint8_t *d = v.mv_data;

		if (marked)
			*d++ = 1;
		memcpy(d, val, len);
	}
	return 0;
}

/* The first key suffix after every entry at or before `at` (log indexes
 * never reach 2^64 - 1, so all ones serves for "now"). */
static void seek_key(uint8_t *k, uint64_t at)
{
	if (at == UINT64_MAX)
		memset(k, 0xff, 8);
	else
		key_u64(k, at + 1);
}

/* The value `prefix` held at `at`: the entry with the greatest index <=
 * at. 0 (v set, possibly empty), -ENOENT when it held nothing before. */
static int hist_get(struct lgfs_index *x, MDB_txn *t, MDB_dbi dbi, const uint8_t *prefix, size_t plen,
		    uint64_t at, MDB_val *v)
{
	uint8_t kb[HIST_KEY_MAX];
	MDB_cursor *c;
	MDB_val k = { plen + 8, kb };
	int rc;

	(void)x;
	memcpy(kb, prefix, plen);
	seek_key(kb + plen, at);
	rc = mdb_cursor_open(t, dbi, &c);
	if (rc)
		return fail(rc, "cursor");
	rc = mdb_cursor_get(c, &k, v, MDB_SET_RANGE);
	if (rc == 0)
		rc = mdb_cursor_get(c, &k, v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, v, MDB_LAST);
	if (rc == 0 && (k.mv_size != plen + 8 || memcmp(k.mv_data, prefix, plen)))
		rc = MDB_NOTFOUND;
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	return rc ? fail(rc, "history") : 0;
}

/* Entries of `prefix` with index in [from, to], in order. */
typedef int (*hist_cb)(void *arg, uint64_t index, const MDB_val *v);
static int hist_range(MDB_txn *t, MDB_dbi dbi, const uint8_t *prefix, size_t plen, uint64_t from,
		      uint64_t to, hist_cb cb, void *arg)
{
	uint8_t kb[HIST_KEY_MAX];
	MDB_cursor *c;
	MDB_val k = { plen + 8, kb }, v;
	int rc;

	memcpy(kb, prefix, plen);
	key_u64(kb + plen, from);
	rc = mdb_cursor_open(t, dbi, &c);
	if (rc)
		return fail(rc, "cursor");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		uint64_t idx;
		int r;

		if (k.mv_size != plen + 8 || memcmp(k.mv_data, prefix, plen))
			break;
		idx = lgfs_be64_get((const uint8_t *)k.mv_data + plen);
		if (idx > to)
			break;
		if ((r = cb(arg, idx, &v))) {
			mdb_cursor_close(c);
			return r;
		}
	}
	mdb_cursor_close(c);
	return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : fail(rc, "cursor");
}

/* id || name || 0x00: the prefix of a name's temporal entries. */
static size_t name_prefix(uint8_t *kb, uint64_t id, const char *name, size_t len)
{
	key_u64(kb, id);
	memcpy(kb + 8, name, len);
	kb[8 + len] = 0;
	return 9 + len;
}

/* The names under `id` (ino or directory) that held a value at `at`, with
 * names > after, in name order: per name one seek for its value at `at`
 * and one past its entries. */
typedef int (*hist_name_cb)(void *arg, const char *name, size_t len, const MDB_val *v);
static int hist_names_at(MDB_txn *t, MDB_dbi dbi, uint64_t id, uint64_t at, const char *after, size_t after_len,
			 hist_name_cb cb, void *arg)
{
	uint8_t kb[HIST_KEY_MAX], nb[HIST_KEY_MAX];
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (after_len > 255)
		return -EINVAL;
	key_u64(kb, id);
	k.mv_data = kb;
	k.mv_size = 8;
	if (after && after_len) { /* the first key after every entry of `after` */
		memcpy(kb + 8, after, after_len);
		kb[8 + after_len] = 1;
		k.mv_size = 9 + after_len;
	}
	rc = mdb_cursor_open(t, dbi, &c);
	if (rc)
		return fail(rc, "cursor");
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		const uint8_t *kp = k.mv_data, *nul;
		size_t nlen, plen;
		MDB_val hk;

		if (k.mv_size < 18 || lgfs_be64_get(kp) != id)
			break;
		nul = memchr(kp + 8, 0, k.mv_size - 8);
		if (!nul || (size_t)(nul - kp) + 9 != k.mv_size) {
			rc = -EIO; /* not a key this table writes */
			goto out;
		}
		nlen = (size_t)(nul - kp) - 8;
		plen = 9 + nlen;
		memcpy(nb, kp, plen);
		/* its value at `at`: the last entry <= at */
		seek_key(nb + plen, at);
		hk.mv_data = nb;
		hk.mv_size = plen + 8;
		rc = mdb_cursor_get(c, &hk, &v, MDB_SET_RANGE);
		if (rc == 0)
			rc = mdb_cursor_get(c, &hk, &v, MDB_PREV);
		else if (rc == MDB_NOTFOUND)
			rc = mdb_cursor_get(c, &hk, &v, MDB_LAST);
		if (rc && rc != MDB_NOTFOUND)
			break;
		if (rc == 0 && hk.mv_size == plen + 8 && !memcmp(hk.mv_data, nb, plen) && v.mv_size) {
			int r = cb(arg, (const char *)nb + 8, nlen, &v);

			if (r) {
				rc = r;
				goto out;
			}
		}
		/* the next name: the first key after every entry of this one */
		nb[plen - 1] = 1;
		hk.mv_data = nb;
		hk.mv_size = plen;
		k = hk;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	rc = (rc == 0 || rc == MDB_NOTFOUND) ? 0 : fail(rc, "cursor");
out:
	mdb_cursor_close(c);
	return rc;
}

/* What an inode's past entries hold: the fields that change. The others
 * never do (ino, created, btime, rdev: from the current table, which keeps
 * every inode ever created), and the content's manifest and SHA-256 are
 * those of its version (the versions table): 72 bytes, not 176. */
struct past_inode {
	uint32_t mode, uid, gid, nlink;
	uint64_t size;
	int64_t atime, mtime, ctime;
	uint64_t version, parent, allocated;
};

static void past_pack(struct past_inode *p, const struct lgfs_inode *in)
{
	memset(p, 0, sizeof(*p));
	p->mode = in->mode;
	p->uid = in->uid;
	p->gid = in->gid;
	p->nlink = in->nlink;
	p->size = in->size;
	p->atime = in->atime;
	p->mtime = in->mtime;
	p->ctime = in->ctime;
	p->version = in->version;
	p->parent = in->parent;
	p->allocated = in->allocated;
}

static int past_unpack(struct lgfs_index *x, MDB_txn *t, uint64_t ino, const MDB_val *v, struct lgfs_inode *out)
{
	struct past_inode p;
	uint8_t kb[16];
	MDB_val k = { 16, kb }, vv;
	int rc;

	if (v->mv_size != sizeof(p))
		return -EIO;
	memcpy(&p, v->mv_data, sizeof(p));
	if ((rc = lgfs_inode_get(x, t, ino, out)))
		return rc == -ENOENT ? -EIO : rc; /* a past without a present: a broken index */
	out->mode = p.mode;
	out->uid = p.uid;
	out->gid = p.gid;
	out->nlink = p.nlink;
	out->size = p.size;
	out->atime = p.atime;
	out->mtime = p.mtime;
	out->ctime = p.ctime;
	out->version = p.version;
	out->parent = p.parent;
	out->allocated = p.allocated;
	memset(out->manifest, 0, 32);
	memset(out->sha256, 0, 32);
	if (!p.version)
		return 0;
	key_u64(kb, ino);
	key_u64(kb + 8, p.version);
	rc = mdb_get(t, x->versions, &k, &vv);
	if (rc == MDB_NOTFOUND || (rc == 0 && vv.mv_size != sizeof(struct lgfs_version)))
		return -EIO;
	if (rc)
		return fail(rc, "version");
	memcpy(out->manifest, ((const struct lgfs_version *)vv.mv_data)->manifest, 32);
	memcpy(out->sha256, ((const struct lgfs_version *)vv.mv_data)->sha256, 32);
	return 0;
}

int lgfs_inode_get(struct lgfs_index *x, MDB_txn *t, uint64_t ino, struct lgfs_inode *out)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v;
	int rc;

	key_u64(kb, ino);
	rc = mdb_get(t, x->inodes, &k, &v);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc)
		return fail(rc, "inode");
	if (v.mv_size != sizeof(*out))
		return -EIO;
	memcpy(out, v.mv_data, sizeof(*out));
	return 0;
}

int lgfs_inode_read(struct lgfs_index *x, uint64_t ino, struct lgfs_inode *out)
{
	MDB_txn *t;
	int rc = lgfs_index_begin(x, 1, &t);

	if (rc)
		return rc;
	rc = lgfs_inode_get(x, t, ino, out);
	mdb_txn_abort(t);
	return rc;
}

int lgfs_inode_put(struct lgfs_index *x, MDB_txn *t, const struct lgfs_inode *in)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v = { sizeof(*in), (void *)in };
	int rc;

	key_u64(kb, in->ino);
	rc = mdb_put(t, x->inodes, &k, &v, 0);
	if (rc)
		return fail(rc, "inode");
	{
		struct past_inode p;

		past_pack(&p, in);
		return hist_put(x, t, x->h_inodes, kb, 8, &p, sizeof(p), 0);
	}
}

/* parent || name; name ≤ 255 bytes (checked by callers: ENAMETOOLONG). */
static int dirent_key(uint8_t *kb, uint64_t parent, const char *name, size_t len, MDB_val *k)
{
	if (len == 0 || len > NAME_MAX_BYTES)
		return -ENAMETOOLONG;
	key_u64(kb, parent);
	memcpy(kb + 8, name, len);
	k->mv_size = 8 + len;
	k->mv_data = kb;
	return 0;
}

int lgfs_dirent_get(struct lgfs_index *x, MDB_txn *t, uint64_t parent, const char *name, size_t len,
		    uint64_t *ino)
{
	uint8_t kb[8 + NAME_MAX_BYTES];
	MDB_val k, v;
	int rc = dirent_key(kb, parent, name, len, &k);

	if (rc)
		return rc;
	rc = mdb_get(t, x->dirents, &k, &v);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc)
		return fail(rc, "dirent");
	if (v.mv_size != 8)
		return -EIO;
	*ino = lgfs_be64_get(v.mv_data);
	return 0;
}

/* The temporal entries of a directory entry set (ino) or removed (0): the
 * entry's own, and the name the inode was given. */
static int dirent_hist(struct lgfs_index *x, MDB_txn *t, uint64_t parent, const char *name, size_t len,
		       uint64_t ino)
{
	uint8_t kb[HIST_KEY_MAX], vb[8 + NAME_MAX_BYTES];
	size_t plen = name_prefix(kb, parent, name, len);
	int rc;

	key_u64(vb, ino);
	if ((rc = hist_put(x, t, x->h_dirents, kb, plen, ino ? vb : NULL, 8, 0)) || !ino)
		return rc;
	key_u64(kb, ino);
	key_u64(vb, parent);
	memcpy(vb + 8, name, len);
	return hist_put(x, t, x->h_names, kb, 8, vb, 8 + len, 0);
}

int lgfs_dirent_put(struct lgfs_index *x, MDB_txn *t, uint64_t parent, const char *name, size_t len,
		    uint64_t ino)
{
	uint8_t kb[8 + NAME_MAX_BYTES], vb[8];
	MDB_val k, v = { 8, vb };
	int rc = dirent_key(kb, parent, name, len, &k);

	if (rc)
		return rc;
	key_u64(vb, ino);
	rc = mdb_put(t, x->dirents, &k, &v, 0);
	if (rc)
		return fail(rc, "dirent");
	return dirent_hist(x, t, parent, name, len, ino);
}

int lgfs_dirent_del(struct lgfs_index *x, MDB_txn *t, uint64_t parent, const char *name, size_t len)
{
	uint8_t kb[8 + NAME_MAX_BYTES];
	MDB_val k;
	int rc = dirent_key(kb, parent, name, len, &k);

	if (rc)
		return rc;
	rc = mdb_del(t, x->dirents, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc)
		return fail(rc, "dirent");
	return dirent_hist(x, t, parent, name, len, 0);
}

int lgfs_dir_each(struct lgfs_index *x, MDB_txn *t, uint64_t dir, const char *after, size_t after_len,
		  lgfs_dirent_cb cb, void *arg)
{
	uint8_t kb[8 + NAME_MAX_BYTES + 1];
	MDB_cursor *c;
	MDB_val k, v;
	int rc, op = MDB_SET_RANGE;

	if (after_len > NAME_MAX_BYTES)
		return -EINVAL;
	key_u64(kb, dir);
	if (after && after_len) {
		memcpy(kb + 8, after, after_len);
		k.mv_size = 8 + after_len;
	} else {
		k.mv_size = 8;
	}
	k.mv_data = kb;
	rc = mdb_cursor_open(t, x->dirents, &c);
	if (rc)
		return fail(rc, "cursor");
	for (rc = mdb_cursor_get(c, &k, &v, op); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data;
		int r;

		if (k.mv_size < 8 || lgfs_be64_get(kp) != dir)
			break;
		if (after && after_len && k.mv_size - 8 == after_len && !memcmp(kp + 8, after, after_len))
			continue; /* strictly after */
		if (v.mv_size != 8) {
			rc = -EIO;
			goto out;
		}
		r = cb(arg, (const char *)kp + 8, k.mv_size - 8, lgfs_be64_get(v.mv_data));
		if (r) {
			rc = r;
			goto out;
		}
	}
	rc = (rc == 0 || rc == MDB_NOTFOUND) ? 0 : fail(rc, "cursor");
out:
	mdb_cursor_close(c);
	return rc;
}

static int stop_at_first(void *arg, const char *name, size_t len, uint64_t ino)
{
	(void)arg;
	(void)name;
	(void)len;
	(void)ino;
	return 1;
}

int lgfs_dir_empty(struct lgfs_index *x, MDB_txn *t, uint64_t dir)
{
	int rc = lgfs_dir_each(x, t, dir, NULL, 0, stop_at_first, NULL);

	if (rc < 0)
		return rc;
	return rc == 1 ? 0 : 1;
}

int lgfs_symlink_get(struct lgfs_index *x, MDB_txn *t, uint64_t ino, const void **target, size_t *len)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v;
	int rc;

	key_u64(kb, ino);
	rc = mdb_get(t, x->symlinks, &k, &v);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc)
		return fail(rc, "symlink");
	*target = v.mv_data;
	*len = v.mv_size;
	return 0;
}

int lgfs_symlink_put(struct lgfs_index *x, MDB_txn *t, uint64_t ino, const void *target, size_t len)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v = { len, (void *)target };
	int rc;

	key_u64(kb, ino);
	rc = mdb_put(t, x->symlinks, &k, &v, 0);
	return rc ? fail(rc, "symlink") : 0;
}

static int xattr_key(uint8_t *kb, uint64_t ino, const char *name, MDB_val *k)
{
	size_t len = strlen(name);

	if (len == 0 || len > XATTR_NAME_MAX_BYTES)
		return -ERANGE;
	key_u64(kb, ino);
	memcpy(kb + 8, name, len);
	k->mv_size = 8 + len;
	k->mv_data = kb;
	return 0;
}

int lgfs_xattr_get(struct lgfs_index *x, MDB_txn *t, uint64_t ino, const char *name, const void **val,
		   size_t *len)
{
	uint8_t kb[8 + XATTR_NAME_MAX_BYTES];
	MDB_val k, v;
	int rc = xattr_key(kb, ino, name, &k);

	if (rc)
		return rc;
	rc = mdb_get(t, x->xattrs, &k, &v);
	if (rc == MDB_NOTFOUND)
		return -ENODATA;
	if (rc)
		return fail(rc, "xattr");
	*val = v.mv_data;
	*len = v.mv_size;
	return 0;
}

/* An xattr set (val) or removed (NULL) from the record being applied on. */
static int xattr_hist(struct lgfs_index *x, MDB_txn *t, uint64_t ino, const char *name, const void *val,
		      size_t len)
{
	uint8_t kb[HIST_KEY_MAX];
	size_t plen = name_prefix(kb, ino, name, strlen(name));

	return hist_put(x, t, x->h_xattrs, kb, plen, val, len, 1);
}

int lgfs_xattr_put(struct lgfs_index *x, MDB_txn *t, uint64_t ino, const char *name, const void *val,
		   size_t len)
{
	uint8_t kb[8 + XATTR_NAME_MAX_BYTES];
	MDB_val k, v = { len, (void *)val };
	int rc = xattr_key(kb, ino, name, &k);

	if (rc)
		return rc;
	rc = mdb_put(t, x->xattrs, &k, &v, 0);
	if (rc)
		return fail(rc, "xattr");
	return xattr_hist(x, t, ino, name, val, len);
}

int lgfs_xattr_del(struct lgfs_index *x, MDB_txn *t, uint64_t ino, const char *name)
{
	uint8_t kb[8 + XATTR_NAME_MAX_BYTES];
	MDB_val k;
	int rc = xattr_key(kb, ino, name, &k);

	if (rc)
		return rc;
	rc = mdb_del(t, x->xattrs, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return -ENODATA;
	if (rc)
		return fail(rc, "xattr");
	return xattr_hist(x, t, ino, name, NULL, 0);
}

int lgfs_xattr_each(struct lgfs_index *x, MDB_txn *t, uint64_t ino, lgfs_xattr_cb cb, void *arg)
{
	uint8_t kb[8];
	MDB_cursor *c;
	MDB_val k = { 8, kb }, v;
	int rc;

	key_u64(kb, ino);
	rc = mdb_cursor_open(t, x->xattrs, &c);
	if (rc)
		return fail(rc, "cursor");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		int r;

		if (k.mv_size < 8 || lgfs_be64_get(k.mv_data) != ino)
			break;
		r = cb(arg, (const char *)k.mv_data + 8, k.mv_size - 8);
		if (r) {
			rc = r;
			goto out;
		}
	}
	rc = (rc == 0 || rc == MDB_NOTFOUND) ? 0 : fail(rc, "cursor");
out:
	mdb_cursor_close(c);
	return rc;
}

int lgfs_version_put(struct lgfs_index *x, MDB_txn *t, uint64_t ino, uint64_t index,
		     const struct lgfs_version *ver)
{
	uint8_t kb[16];
	MDB_val k = { 16, kb }, v = { sizeof(*ver), (void *)ver };
	int rc;

	key_u64(kb, ino);
	key_u64(kb + 8, index);
	rc = mdb_put(t, x->versions, &k, &v, 0);
	return rc ? fail(rc, "version") : 0;
}

/* ---- the past ---- */

int lgfs_inode_get_at(struct lgfs_index *x, MDB_txn *t, uint64_t ino, uint64_t at, struct lgfs_inode *out)
{
	uint8_t kb[8];
	MDB_val v;
	int rc;

	key_u64(kb, ino);
	if ((rc = hist_get(x, t, x->h_inodes, kb, 8, at, &v)))
		return rc;
	return past_unpack(x, t, ino, &v, out);
}

int lgfs_dirent_get_at(struct lgfs_index *x, MDB_txn *t, uint64_t parent, const char *name, size_t len,
		       uint64_t at, uint64_t *ino)
{
	uint8_t kb[HIST_KEY_MAX];
	MDB_val v;
	int rc;

	if (len == 0 || len > NAME_MAX_BYTES)
		return len ? -ENAMETOOLONG : -ENOENT;
	if ((rc = hist_get(x, t, x->h_dirents, kb, name_prefix(kb, parent, name, len), at, &v)))
		return rc;
	if (v.mv_size == 0)
		return -ENOENT;
	if (v.mv_size != 8)
		return -EIO;
	*ino = lgfs_be64_get(v.mv_data);
	return 0;
}

struct each_at {
	lgfs_dirent_cb dcb;
	lgfs_xattr_cb xcb;
	void *arg;
};

static int dirent_at_cb(void *arg, const char *name, size_t len, const MDB_val *v)
{
	struct each_at *e = arg;

	if (v->mv_size != 8)
		return -EIO;
	return e->dcb(e->arg, name, len, lgfs_be64_get(v->mv_data));
}

int lgfs_dir_each_at(struct lgfs_index *x, MDB_txn *t, uint64_t dir, uint64_t at, const char *after,
		     size_t after_len, lgfs_dirent_cb cb, void *arg)
{
	struct each_at e = { cb, NULL, arg };

	return hist_names_at(t, x->h_dirents, dir, at, after, after_len, dirent_at_cb, &e);
}

int lgfs_xattr_get_at(struct lgfs_index *x, MDB_txn *t, uint64_t ino, const char *name, uint64_t at,
		      const void **val, size_t *len)
{
	uint8_t kb[HIST_KEY_MAX];
	size_t nl = strlen(name);
	MDB_val v;
	int rc;

	if (nl == 0 || nl > XATTR_NAME_MAX_BYTES)
		return -ERANGE;
	rc = hist_get(x, t, x->h_xattrs, kb, name_prefix(kb, ino, name, nl), at, &v);
	if (rc == -ENOENT || (rc == 0 && v.mv_size == 0))
		return -ENODATA;
	if (rc)
		return rc;
	if (((const uint8_t *)v.mv_data)[0] != 1)
		return -EIO;
	*val = (const uint8_t *)v.mv_data + 1;
	*len = v.mv_size - 1;
	return 0;
}

static int xattr_at_cb(void *arg, const char *name, size_t len, const MDB_val *v)
{
	struct each_at *e = arg;

	(void)v;
	return e->xcb(e->arg, name, len);
}

int lgfs_xattr_each_at(struct lgfs_index *x, MDB_txn *t, uint64_t ino, uint64_t at, lgfs_xattr_cb cb,
		       void *arg)
{
	struct each_at e = { NULL, cb, arg };

	return hist_names_at(t, x->h_xattrs, ino, at, NULL, 0, xattr_at_cb, &e);
}

int lgfs_name_get_at(struct lgfs_index *x, MDB_txn *t, uint64_t ino, uint64_t at, uint64_t *parent,
		     const char **name, size_t *len)
{
	uint8_t kb[8];
	MDB_val v;
	int rc;

	key_u64(kb, ino);
	if ((rc = hist_get(x, t, x->h_names, kb, 8, at, &v)))
		return rc;
	if (v.mv_size < 9 || v.mv_size > 8 + NAME_MAX_BYTES)
		return -EIO;
	*parent = lgfs_be64_get(v.mv_data);
	*name = (const char *)v.mv_data + 8;
	*len = v.mv_size - 8;
	return 0;
}

struct change_ctx {
	struct lgfs_index *x;
	MDB_txn *t;
	uint64_t ino;
	lgfs_inode_change_cb icb;
	lgfs_dirent_change_cb dcb;
	lgfs_name_cb ncb;
	void *arg;
};

static int name_change_cb(void *arg, uint64_t index, const MDB_val *v)
{
	struct change_ctx *c = arg;

	if (v->mv_size < 9 || v->mv_size > 8 + NAME_MAX_BYTES)
		return -EIO;
	return c->ncb(c->arg, index, lgfs_be64_get(v->mv_data), (const char *)v->mv_data + 8, v->mv_size - 8);
}

int lgfs_names_each(struct lgfs_index *x, MDB_txn *t, uint64_t ino, uint64_t from, uint64_t to, lgfs_name_cb cb,
		    void *arg)
{
	struct change_ctx c = { x, t, ino, NULL, NULL, cb, arg };
	uint8_t kb[8];

	key_u64(kb, ino);
	return hist_range(t, x->h_names, kb, 8, from, to, name_change_cb, &c);
}

static int inode_change_cb(void *arg, uint64_t index, const MDB_val *v)
{
	struct change_ctx *c = arg;
	struct lgfs_inode in;
	int rc = past_unpack(c->x, c->t, c->ino, v, &in);

	return rc ? rc : c->icb(c->arg, index, &in);
}

int lgfs_inode_changes(struct lgfs_index *x, MDB_txn *t, uint64_t ino, uint64_t from, uint64_t to,
		       lgfs_inode_change_cb cb, void *arg)
{
	struct change_ctx c = { x, t, ino, cb, NULL, NULL, arg };
	uint8_t kb[8];

	key_u64(kb, ino);
	return hist_range(t, x->h_inodes, kb, 8, from, to, inode_change_cb, &c);
}

static int dirent_change_cb(void *arg, uint64_t index, const MDB_val *v)
{
	struct change_ctx *c = arg;

	if (v->mv_size != 0 && v->mv_size != 8)
		return -EIO;
	return c->dcb(c->arg, index, v->mv_size ? lgfs_be64_get(v->mv_data) : 0);
}

int lgfs_dirent_changes(struct lgfs_index *x, MDB_txn *t, uint64_t parent, const char *name, size_t len,
			uint64_t from, uint64_t to, lgfs_dirent_change_cb cb, void *arg)
{
	struct change_ctx c = { x, t, 0, NULL, cb, NULL, arg };
	uint8_t kb[HIST_KEY_MAX];

	if (len == 0 || len > NAME_MAX_BYTES)
		return len ? -ENAMETOOLONG : -ENOENT;
	return hist_range(t, x->h_dirents, kb, name_prefix(kb, parent, name, len), from, to, dirent_change_cb, &c);
}

int lgfs_index_each(struct lgfs_index *x, MDB_txn *t, MDB_dbi dbi, lgfs_kv_cb cb, void *arg)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	(void)x;
	rc = mdb_cursor_open(t, dbi, &c);
	if (rc)
		return fail(rc, "cursor");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		int r = cb(arg, &k, &v);

		if (r) {
			rc = r;
			goto out;
		}
	}
	rc = (rc == 0 || rc == MDB_NOTFOUND) ? 0 : fail(rc, "cursor");
out:
	mdb_cursor_close(c);
	return rc;
}

int lgfs_index_get(struct lgfs_index *x, MDB_txn *t, MDB_dbi dbi, const MDB_val *k, MDB_val *v)
{
	int rc;

	(void)x;
	rc = mdb_get(t, dbi, (MDB_val *)k, v);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	return rc ? fail(rc, "get") : 0;
}

/* ---- comparing two indexes, naming paths ---- */

/* The databases that hold state (meta, the stamp, is left out). */
#define STATE_DBS 10

static void state_dbs(const struct lgfs_index *x, MDB_dbi out[STATE_DBS])
{
	out[0] = x->inodes;
	out[1] = x->dirents;
	out[2] = x->symlinks;
	out[3] = x->xattrs;
	out[4] = x->versions;
	out[5] = x->h_inodes;
	out[6] = x->h_dirents;
	out[7] = x->h_xattrs;
	out[8] = x->h_names;
	out[9] = x->policy;
}

static const char *const state_db_names[STATE_DBS] = {
	"inode", "directory entry", "symlink", "xattr", "version",
	"past inode", "past directory entry", "past xattr", "past name", "retention or hold",
};

static int val_cmp(const MDB_val *a, const MDB_val *b)
{
	size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
	int c = memcmp(a->mv_data, b->mv_data, n);

	if (c)
		return c;
	return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

static void diff_fill(struct lgfs_index_diff *d, int db, const MDB_val *k, int only_in)
{
	memset(d, 0, sizeof(*d));
	d->what = state_db_names[db];
	d->only_in = only_in;
	if (k->mv_size >= 8)
		d->ino = lgfs_be64_get(k->mv_data);
	if ((db == 1 || db == 6) && k->mv_size > 8) { /* dirents: parent || name [|| 0 || index] */
		size_t n = db == 1 ? k->mv_size - 8 : k->mv_size > 17 ? k->mv_size - 17 : 0;

		d->name_len = n < sizeof(d->name) ? n : sizeof(d->name);
		memcpy(d->name, (const uint8_t *)k->mv_data + 8, d->name_len);
	}
}

int lgfs_index_diff(struct lgfs_index *a, MDB_txn *ta, struct lgfs_index *b, MDB_txn *tb,
		    struct lgfs_index_diff *out)
{
	MDB_dbi da[STATE_DBS], db[STATE_DBS];
	int i, rc = 0;

	state_dbs(a, da);
	state_dbs(b, db);
	for (i = 0; i < STATE_DBS && rc == 0; i++) {
		MDB_cursor *ca = NULL, *cb = NULL;
		MDB_val ka, va, kb, vb;
		int ra, rb = 0, c;

		if ((ra = mdb_cursor_open(ta, da[i], &ca)) || (rb = mdb_cursor_open(tb, db[i], &cb))) {
			if (ca)
				mdb_cursor_close(ca);
			return fail(ra ? ra : rb, "cursor");
		}
		ra = mdb_cursor_get(ca, &ka, &va, MDB_FIRST);
		rb = mdb_cursor_get(cb, &kb, &vb, MDB_FIRST);
		for (;;) {
			if ((ra && ra != MDB_NOTFOUND) || (rb && rb != MDB_NOTFOUND)) {
				rc = fail(ra && ra != MDB_NOTFOUND ? ra : rb, "cursor");
				break;
			}
			if (ra == MDB_NOTFOUND && rb == MDB_NOTFOUND)
				break;
			c = ra == MDB_NOTFOUND ? 1 : rb == MDB_NOTFOUND ? -1 : val_cmp(&ka, &kb);
			if (c < 0) {
				diff_fill(out, i, &ka, 1);
				rc = 1;
				break;
			}
			if (c > 0) {
				diff_fill(out, i, &kb, 2);
				rc = 1;
				break;
			}
			if (val_cmp(&va, &vb)) {
				diff_fill(out, i, &ka, 0);
				rc = 1;
				break;
			}
			ra = mdb_cursor_get(ca, &ka, &va, MDB_NEXT);
			rb = mdb_cursor_get(cb, &kb, &vb, MDB_NEXT);
		}
		mdb_cursor_close(ca);
		mdb_cursor_close(cb);
	}
	return rc;
}

/* The dirent naming ino under its recorded parent (directories have one
 * parent; other inodes: the one they were created in, else any). */
struct name_find {
	uint64_t ino;
	uint64_t parent;
	const void *name;
	size_t len;
};

static int name_find_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct name_find *f = arg;

	if (v->mv_size == 8 && k->mv_size > 8 && lgfs_be64_get(v->mv_data) == f->ino) {
		f->parent = lgfs_be64_get(k->mv_data);
		f->name = (const uint8_t *)k->mv_data + 8;
		f->len = k->mv_size - 8;
		return 1;
	}
	return 0;
}

void lgfs_index_path(struct lgfs_index *x, MDB_txn *t, uint64_t ino, char *out, size_t cap)
{
	char tmp[4096] = "", esc[4 * 255 + 1];
	int depth = 0;

	if (ino == 1) {
		snprintf(out, cap, "/");
		return;
	}
	while (ino != 1 && depth++ < 256) {
		struct name_find f = { ino, 0, NULL, 0 };
		size_t tl = strlen(tmp), nl;

		if (lgfs_index_each(x, t, x->dirents, name_find_cb, &f) != 1) {
			snprintf(out, cap, "(inode %llu, not linked)%s", (unsigned long long)ino, tmp);
			return;
		}
		lgfs_escape(esc, sizeof(esc), f.name, f.len);
		nl = strlen(esc) + 1;
		if (tl + nl + 1 > sizeof(tmp))
			break;
		memmove(tmp + nl, tmp, tl + 1);
		tmp[0] = '/';
		memcpy(tmp + 1, esc, nl - 1);
		ino = f.parent;
	}
	snprintf(out, cap, "%s", tmp);
}
