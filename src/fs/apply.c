/*
 * apply.c — what each record does to the index (fs layer). See apply.h.
 */
#include "apply.h"

#include "ledgerfs/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define RENAME_NOREPLACE_FLAG 1
#define RENAME_EXCHANGE_FLAG 2
#define XATTR_CREATE_FLAG 1
#define XATTR_REPLACE_FLAG 2

int lgfs_name_check(const char *name, size_t len)
{
	if (len == 0)
		return -ENOENT;
	if (len > 255)
		return -ENAMETOOLONG;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return -EINVAL;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return -EEXIST;
	return 0;
}

/* A string argument as (pointer, length). */
static int arg_str(const struct lgfs_record *r, uint8_t field, const char **p, size_t *len)
{
	const struct lgfs_arg *a = lgfs_record_arg(r, field);

	if (!a)
		return -EINVAL;
	*p = (const char *)a->data;
	*len = a->len;
	return 0;
}

static uint64_t arg_u64(const struct lgfs_record *r, uint8_t field, uint64_t dflt)
{
	uint64_t v;

	return lgfs_record_get_u64(r, field, &v) ? dflt : v;
}

static uint32_t arg_u32(const struct lgfs_record *r, uint8_t field, uint32_t dflt)
{
	uint32_t v;

	return lgfs_record_get_u32(r, field, &v) ? dflt : v;
}

/* Load a live directory (exists, is a directory, not removed). */
static int get_dir(struct lgfs_index *x, MDB_txn *t, uint64_t ino, struct lgfs_inode *out)
{
	int rc = lgfs_inode_get(x, t, ino, out);

	if (rc)
		return rc;
	if (!S_ISDIR(out->mode))
		return -ENOTDIR;
	if (out->nlink == 0)
		return -ENOENT;
	return 0;
}

static int touch_dir(struct lgfs_index *x, MDB_txn *t, struct lgfs_inode *dir, int64_t time)
{
	dir->mtime = dir->ctime = time;
	return lgfs_inode_put(x, t, dir);
}

static int genesis(struct lgfs_index *x, MDB_txn *t, const struct lgfs_record *r, uint64_t index)
{
	struct lgfs_inode root;

	if (index != 0)
		return -EINVAL;
	memset(&root, 0, sizeof(root));
	root.ino = LGFS_ROOT_INO;
	root.mode = S_IFDIR | 0755;
	root.uid = r->uid;
	root.gid = r->gid;
	root.nlink = 2;
	root.atime = root.mtime = root.ctime = root.btime = r->time_ns;
	root.parent = LGFS_ROOT_INO;
	{
		const struct lgfs_arg *k = lgfs_record_arg(r, LGFS_F_KEY);
		MDB_val mk = { 7, "founder" }, mv;

		if (!k || k->len != 32)
			return -EINVAL;
		mv.mv_size = 32;
		mv.mv_data = (void *)k->data;
		if (mdb_put(t, x->meta, &mk, &mv, 0))
			return -EIO;
		memcpy(x->founder, k->data, 32);
		x->have_founder = 1;
	}
	return lgfs_inode_put(x, t, &root);
}

/* Only members' records change the state: today the founder is the one
 * member. A record by another key stays in the log, is never applied, and
 * audit lists it. */
static int check_member(struct lgfs_index *x, MDB_txn *t, const struct lgfs_record *r)
{
	if (!x->have_founder) {
		MDB_val mk = { 7, "founder" }, mv;

		if (mdb_get(t, x->meta, &mk, &mv) || mv.mv_size != 32)
			return -EIO;
		memcpy(x->founder, mv.mv_data, 32);
		x->have_founder = 1;
	}
	if (memcmp(r->author, x->founder, 32)) {
		lgfs_error_set(LGFS_EPERM, "its author is not a member of the volume");
		return -EACCES;
	}
	return 0;
}

/* create, mkdir, symlink, mknod: a new inode named in a directory. */
static int new_entry(struct lgfs_index *x, MDB_txn *t, const struct lgfs_record *r, uint64_t index)
{
	struct lgfs_inode parent, in;
	const char *name;
	size_t len;
	uint64_t existing;
	uint32_t mode = arg_u32(r, LGFS_F_MODE, 0);
	int rc;

	if ((rc = arg_str(r, LGFS_F_NAME, &name, &len)) || (rc = lgfs_name_check(name, len)))
		return rc;
	if ((rc = get_dir(x, t, arg_u64(r, LGFS_F_PARENT, 0), &parent)))
		return rc;
	rc = lgfs_dirent_get(x, t, parent.ino, name, len, &existing);
	if (rc == 0)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	switch (r->op) {
	case LGFS_OP_CREATE:
		if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode))
			return -EINVAL;
		break;
	case LGFS_OP_MKDIR:
		mode = S_IFDIR | (mode & 07777);
		break;
	case LGFS_OP_SYMLINK:
		mode = S_IFLNK | 0777;
		break;
	case LGFS_OP_MKNOD:
		if (!S_ISCHR(mode) && !S_ISBLK(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode) && !S_ISREG(mode))
			return -EINVAL;
		break;
	}
	memset(&in, 0, sizeof(in));
	in.ino = lgfs_ino_of_index(index);
	in.mode = mode;
	in.uid = arg_u32(r, LGFS_F_UID, r->uid);
	in.gid = arg_u32(r, LGFS_F_GID, r->gid);
	in.nlink = S_ISDIR(mode) ? 2 : 1;
	in.rdev = arg_u64(r, LGFS_F_RDEV, 0);
	in.atime = in.mtime = in.ctime = in.btime = r->time_ns;
	in.created = index;
	in.parent = parent.ino;
	if (r->op == LGFS_OP_SYMLINK) {
		const struct lgfs_arg *tg = lgfs_record_arg(r, LGFS_F_TARGET);

		if (!tg || tg->len == 0 || tg->len > 4095)
			return -EINVAL;
		in.size = tg->len;
		if ((rc = lgfs_symlink_put(x, t, in.ino, tg->data, tg->len)))
			return rc;
	}
	if ((rc = lgfs_inode_put(x, t, &in)) || (rc = lgfs_dirent_put(x, t, parent.ino, name, len, in.ino)))
		return rc;
	if (S_ISDIR(mode))
		parent.nlink++;
	return touch_dir(x, t, &parent, r->time_ns);
}

/* write, truncate: a new content version. */
static int new_version(struct lgfs_index *x, MDB_txn *t, const struct lgfs_record *r, uint64_t index)
{
	const struct lgfs_arg *m = lgfs_record_arg(r, LGFS_F_MANIFEST), *c = lgfs_record_arg(r, LGFS_F_CONTENT);
	struct lgfs_inode in;
	struct lgfs_version v;
	int64_t mtime;
	int rc;

	if ((rc = lgfs_inode_get(x, t, arg_u64(r, LGFS_F_INO, 0), &in)))
		return rc;
	if (!S_ISREG(in.mode))
		return S_ISDIR(in.mode) ? -EISDIR : -EINVAL;
	if ((rc = lgfs_policy_may_change(x, t, &in, r->time_ns)))
		return rc;
	if (lgfs_record_get_i64(r, LGFS_F_MTIME, &mtime))
		mtime = r->time_ns;
	in.size = arg_u64(r, LGFS_F_SIZE, 0);
	in.allocated = arg_u64(r, LGFS_F_ALLOCATED, in.size);
	if (in.allocated > in.size)
		return -EINVAL;
	memcpy(in.manifest, m->data, 32);
	memcpy(in.sha256, c->data, 32);
	in.mtime = mtime;
	in.ctime = r->time_ns;
	in.version = index;
	memset(&v, 0, sizeof(v));
	v.size = in.size;
	memcpy(v.manifest, m->data, 32);
	memcpy(v.sha256, c->data, 32);
	v.mtime = mtime;
	v.op = r->op;
	if ((rc = lgfs_inode_put(x, t, &in)))
		return rc;
	return lgfs_version_put(x, t, in.ino, index, &v);
}

/* Is `ino` the directory `anc` or below it? Walks parent links up. */
static int is_under(struct lgfs_index *x, MDB_txn *t, uint64_t ino, uint64_t anc)
{
	struct lgfs_inode in;
	int depth = 0, rc;

	while (depth++ < 100000) {
		if (ino == anc)
			return 1;
		if (ino == LGFS_ROOT_INO)
			return 0;
		if ((rc = lgfs_inode_get(x, t, ino, &in)))
			return rc;
		ino = in.parent;
	}
	return -ELOOP;
}

static int do_rename(struct lgfs_index *x, MDB_txn *t, const struct lgfs_record *r)
{
	struct lgfs_inode sp, dp, src, dst;
	const char *sn, *dn;
	size_t sl, dl;
	uint64_t sino, dino;
	uint32_t flags = arg_u32(r, LGFS_F_FLAGS, 0);
	int rc, have_dst, same_parent;

	if (flags & ~(uint32_t)(RENAME_NOREPLACE_FLAG | RENAME_EXCHANGE_FLAG) ||
	    flags == (RENAME_NOREPLACE_FLAG | RENAME_EXCHANGE_FLAG))
		return -EINVAL;
	if ((rc = arg_str(r, LGFS_F_NAME, &sn, &sl)) || (rc = lgfs_name_check(sn, sl)) ||
	    (rc = arg_str(r, LGFS_F_NEW_NAME, &dn, &dl)) || (rc = lgfs_name_check(dn, dl)))
		return rc == -EEXIST ? -EINVAL : rc;
	if ((rc = get_dir(x, t, arg_u64(r, LGFS_F_PARENT, 0), &sp)) ||
	    (rc = get_dir(x, t, arg_u64(r, LGFS_F_NEW_PARENT, 0), &dp)))
		return rc;
	same_parent = sp.ino == dp.ino;
	if ((rc = lgfs_dirent_get(x, t, sp.ino, sn, sl, &sino)) || (rc = lgfs_inode_get(x, t, sino, &src)))
		return rc;
	rc = lgfs_dirent_get(x, t, dp.ino, dn, dl, &dino);
	if (rc && rc != -ENOENT)
		return rc;
	have_dst = rc == 0;
	if (have_dst && (rc = lgfs_inode_get(x, t, dino, &dst)))
		return rc;
	if (have_dst && (flags & RENAME_NOREPLACE_FLAG))
		return -EEXIST;
	if (!have_dst && (flags & RENAME_EXCHANGE_FLAG))
		return -ENOENT;
	if (have_dst && dino == sino) /* same file: POSIX says do nothing */
		return 0;
	/* a directory may not move below itself */
	if (S_ISDIR(src.mode)) {
		rc = is_under(x, t, dp.ino, sino);
		if (rc < 0)
			return rc;
		if (rc)
			return -EINVAL;
	}
	/* retention and holds: what moves must stay protected; what a rename
	 * replaces is removed */
	if ((rc = lgfs_policy_may_move(x, t, sp.ino, sn, sl, &src, dp.ino, dn, dl, r->time_ns)))
		return rc;
	if (have_dst && (flags & RENAME_EXCHANGE_FLAG) &&
	    (rc = lgfs_policy_may_move(x, t, dp.ino, dn, dl, &dst, sp.ino, sn, sl, r->time_ns)))
		return rc;
	if (have_dst && !(flags & RENAME_EXCHANGE_FLAG) &&
	    (rc = lgfs_policy_may_remove(x, t, dp.ino, dn, dl, &dst, r->time_ns)))
		return rc;
	if (flags & RENAME_EXCHANGE_FLAG) {
		if (S_ISDIR(dst.mode)) {
			rc = is_under(x, t, sp.ino, dino);
			if (rc < 0)
				return rc;
			if (rc)
				return -EINVAL;
		}
		if ((rc = lgfs_dirent_put(x, t, sp.ino, sn, sl, dino)) ||
		    (rc = lgfs_dirent_put(x, t, dp.ino, dn, dl, sino)))
			return rc;
		if (!same_parent) {
			if (S_ISDIR(src.mode)) {
				sp.nlink--;
				dp.nlink++;
				src.parent = dp.ino;
			}
			if (S_ISDIR(dst.mode)) {
				dp.nlink--;
				sp.nlink++;
				dst.parent = sp.ino;
			}
		}
		src.ctime = dst.ctime = r->time_ns;
		if ((rc = lgfs_inode_put(x, t, &src)) || (rc = lgfs_inode_put(x, t, &dst)))
			return rc;
		goto parents;
	}
	if (have_dst) {
		if (S_ISDIR(dst.mode)) {
			if (!S_ISDIR(src.mode))
				return -EISDIR;
			rc = lgfs_dir_empty(x, t, dino);
			if (rc < 0)
				return rc;
			if (!rc)
				return -ENOTEMPTY;
			dst.nlink = 0;
			dp.nlink--;
		} else {
			if (S_ISDIR(src.mode))
				return -ENOTDIR;
			dst.nlink--;
		}
		dst.ctime = r->time_ns;
		if ((rc = lgfs_inode_put(x, t, &dst)))
			return rc;
	}
	if ((rc = lgfs_dirent_del(x, t, sp.ino, sn, sl)) || (rc = lgfs_dirent_put(x, t, dp.ino, dn, dl, sino)))
		return rc;
	if (S_ISDIR(src.mode) && !same_parent) {
		sp.nlink--;
		dp.nlink++;
		src.parent = dp.ino;
	}
	src.ctime = r->time_ns;
	if ((rc = lgfs_inode_put(x, t, &src)))
		return rc;
parents:
	if (same_parent) /* sp and dp are copies of one inode; only dp was changed */
		return touch_dir(x, t, &dp, r->time_ns);
	if ((rc = touch_dir(x, t, &sp, r->time_ns)))
		return rc;
	return touch_dir(x, t, &dp, r->time_ns);
}

static int do_link(struct lgfs_index *x, MDB_txn *t, const struct lgfs_record *r)
{
	struct lgfs_inode in, dp;
	const char *name;
	size_t len;
	uint64_t existing;
	int rc;

	if ((rc = arg_str(r, LGFS_F_NEW_NAME, &name, &len)) || (rc = lgfs_name_check(name, len)))
		return rc;
	if ((rc = lgfs_inode_get(x, t, arg_u64(r, LGFS_F_INO, 0), &in)))
		return rc;
	if (S_ISDIR(in.mode))
		return -EPERM;
	if ((rc = get_dir(x, t, arg_u64(r, LGFS_F_NEW_PARENT, 0), &dp)))
		return rc;
	rc = lgfs_dirent_get(x, t, dp.ino, name, len, &existing);
	if (rc == 0)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	if (in.nlink == 0)
		return -ENOENT; /* linkat of an unlinked file without AT_EMPTY_PATH */
	in.nlink++;
	in.ctime = r->time_ns;
	if ((rc = lgfs_inode_put(x, t, &in)) || (rc = lgfs_dirent_put(x, t, dp.ino, name, len, in.ino)))
		return rc;
	return touch_dir(x, t, &dp, r->time_ns);
}

static int do_remove(struct lgfs_index *x, MDB_txn *t, const struct lgfs_record *r)
{
	struct lgfs_inode dp, in;
	const char *name;
	size_t len;
	uint64_t ino, want;
	int rc;

	if ((rc = arg_str(r, LGFS_F_NAME, &name, &len)) || (rc = lgfs_name_check(name, len)))
		return rc == -EEXIST ? -EINVAL : rc;
	if ((rc = get_dir(x, t, arg_u64(r, LGFS_F_PARENT, 0), &dp)))
		return rc;
	if ((rc = lgfs_dirent_get(x, t, dp.ino, name, len, &ino)) || (rc = lgfs_inode_get(x, t, ino, &in)))
		return rc;
	if (!lgfs_record_get_u64(r, LGFS_F_INO, &want) && want != ino)
		return -ESTALE;
	if ((rc = lgfs_policy_may_remove(x, t, dp.ino, name, len, &in, r->time_ns)))
		return rc;
	if (r->op == LGFS_OP_RMDIR) {
		if (!S_ISDIR(in.mode))
			return -ENOTDIR;
		rc = lgfs_dir_empty(x, t, ino);
		if (rc < 0)
			return rc;
		if (!rc)
			return -ENOTEMPTY;
		in.nlink = 0;
		dp.nlink--;
	} else {
		if (S_ISDIR(in.mode))
			return -EISDIR;
		in.nlink--;
	}
	in.ctime = r->time_ns;
	if ((rc = lgfs_dirent_del(x, t, dp.ino, name, len)) || (rc = lgfs_inode_put(x, t, &in)))
		return rc;
	return touch_dir(x, t, &dp, r->time_ns);
}

static int do_setattr(struct lgfs_index *x, MDB_txn *t, const struct lgfs_record *r)
{
	struct lgfs_inode in;
	uint32_t v;
	int64_t tm;
	int rc;

	if ((rc = lgfs_inode_get(x, t, arg_u64(r, LGFS_F_INO, 0), &in)))
		return rc;
	if (!lgfs_record_get_u32(r, LGFS_F_MODE, &v))
		in.mode = (in.mode & S_IFMT) | (v & 07777);
	if (!lgfs_record_get_u32(r, LGFS_F_UID, &v))
		in.uid = v;
	if (!lgfs_record_get_u32(r, LGFS_F_GID, &v))
		in.gid = v;
	if (!lgfs_record_get_i64(r, LGFS_F_ATIME, &tm))
		in.atime = tm;
	if (!lgfs_record_get_i64(r, LGFS_F_MTIME, &tm))
		in.mtime = tm;
	in.ctime = r->time_ns;
	return lgfs_inode_put(x, t, &in);
}

static int do_xattr(struct lgfs_index *x, MDB_txn *t, const struct lgfs_record *r)
{
	struct lgfs_inode in;
	const char *name;
	size_t len;
	char nm[256];
	const void *old;
	size_t oldlen;
	int rc, exists;

	if ((rc = lgfs_inode_get(x, t, arg_u64(r, LGFS_F_INO, 0), &in)))
		return rc;
	if ((rc = arg_str(r, LGFS_F_XATTR_NAME, &name, &len)))
		return rc;
	if (len == 0 || len > 255)
		return -ERANGE;
	if (memchr(name, '\0', len))
		return -EINVAL;
	memcpy(nm, name, len);
	nm[len] = '\0';
	rc = lgfs_xattr_get(x, t, in.ino, nm, &old, &oldlen);
	if (rc && rc != -ENODATA)
		return rc;
	exists = rc == 0;
	if (r->op == LGFS_OP_SETXATTR) {
		const struct lgfs_arg *v = lgfs_record_arg(r, LGFS_F_XATTR_VALUE);
		uint32_t flags = arg_u32(r, LGFS_F_FLAGS, 0);

		if ((flags & XATTR_CREATE_FLAG) && exists)
			return -EEXIST;
		if ((flags & XATTR_REPLACE_FLAG) && !exists)
			return -ENODATA;
		if (v->len > 65536)
			return -E2BIG;
		rc = lgfs_xattr_put(x, t, in.ino, nm, v->data, v->len);
	} else {
		if (!exists)
			return -ENODATA;
		rc = lgfs_xattr_del(x, t, in.ino, nm);
	}
	if (rc)
		return rc;
	in.ctime = r->time_ns;
	return lgfs_inode_put(x, t, &in);
}

int lgfs_apply(struct lgfs_index *x, MDB_txn *t, const struct lgfs_record *r, uint64_t index)
{
	x->cur = index; /* the key of the temporal entries this record makes */
	if (r->op != LGFS_OP_GENESIS) {
		int rc = check_member(x, t, r);

		if (rc)
			return rc;
	}
	switch (r->op) {
	case LGFS_OP_GENESIS:
		return genesis(x, t, r, index);
	case LGFS_OP_CREATE:
	case LGFS_OP_MKDIR:
	case LGFS_OP_SYMLINK:
	case LGFS_OP_MKNOD:
		return new_entry(x, t, r, index);
	case LGFS_OP_WRITE:
	case LGFS_OP_TRUNCATE:
		return new_version(x, t, r, index);
	case LGFS_OP_RENAME:
		return do_rename(x, t, r);
	case LGFS_OP_LINK:
		return do_link(x, t, r);
	case LGFS_OP_UNLINK:
	case LGFS_OP_RMDIR:
		return do_remove(x, t, r);
	case LGFS_OP_SETATTR:
		return do_setattr(x, t, r);
	case LGFS_OP_SETXATTR:
	case LGFS_OP_REMOVEXATTR:
		return do_xattr(x, t, r);
	case LGFS_OP_RETENTION:
	case LGFS_OP_HOLD:
	case LGFS_OP_HOLD_RELEASE:
		return lgfs_policy_apply(x, t, r, index);
	case LGFS_OP_NOTE:
		return 0;
	}
	return -EOPNOTSUPP;
}
