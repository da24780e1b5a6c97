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
	if ((rc = mdb_env_create(&x->env)) || (rc = mdb_env_set_maxdbs(x->env, 8)) ||
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
	    (rc = mdb_dbi_open(t, "versions", dbf, &x->versions)))
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
	MDB_dbi all[] = { x->meta, x->inodes, x->dirents, x->symlinks, x->xattrs, x->versions };
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
	return rc ? fail(rc, "inode") : 0;
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
	return rc ? fail(rc, "dirent") : 0;
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
	return rc ? fail(rc, "dirent") : 0;
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

int lgfs_xattr_put(struct lgfs_index *x, MDB_txn *t, uint64_t ino, const char *name, const void *val,
		   size_t len)
{
	uint8_t kb[8 + XATTR_NAME_MAX_BYTES];
	MDB_val k, v = { len, (void *)val };
	int rc = xattr_key(kb, ino, name, &k);

	if (rc)
		return rc;
	rc = mdb_put(t, x->xattrs, &k, &v, 0);
	return rc ? fail(rc, "xattr") : 0;
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
	return rc ? fail(rc, "xattr") : 0;
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
static void state_dbs(const struct lgfs_index *x, MDB_dbi out[5])
{
	out[0] = x->inodes;
	out[1] = x->dirents;
	out[2] = x->symlinks;
	out[3] = x->xattrs;
	out[4] = x->versions;
}

static const char *const state_db_names[5] = { "inode", "directory entry", "symlink", "xattr", "version" };

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
	if (db == 1 && k->mv_size > 8) { /* dirents: parent || name */
		d->name_len = k->mv_size - 8 < sizeof(d->name) ? k->mv_size - 8 : sizeof(d->name);
		memcpy(d->name, (const uint8_t *)k->mv_data + 8, d->name_len);
	}
}

int lgfs_index_diff(struct lgfs_index *a, MDB_txn *ta, struct lgfs_index *b, MDB_txn *tb,
		    struct lgfs_index_diff *out)
{
	MDB_dbi da[5], db[5];
	int i, rc = 0;

	state_dbs(a, da);
	state_dbs(b, db);
	for (i = 0; i < 5 && rc == 0; i++) {
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
