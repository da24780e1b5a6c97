/*
 * revert.c — make a path what it was at an earlier point by appending new
 * records (fs layer). See lgfs_fs_revert in ledgerfs/history.h.
 *
 * History is never rewritten: every step is an ordinary change through the
 * fs layer (create, mkdir, symlink, mknod, link, unlink, rmdir, setattr,
 * setxattr, removexattr), validated and logged like any other, except the
 * content of a file: its old version is named again by a write record with
 * the old manifest, SHA-256, size and allocated bytes, built as a close of
 * the file builds it (file.c) but without copying a byte — the chunks are
 * already in the store. The old manifest is opened and checked first, so a
 * revert never names content that no longer reads back.
 *
 * What is restored, for the path and everything below it: names, types,
 * content, symlink targets, device numbers, modes, owners, xattrs, mtimes,
 * and hard links between paths of the tree (paths that were one inode are
 * one inode again). Not restored: atimes and ctimes (a ctime says when the
 * inode last changed: now), inode numbers of files re-created (a deleted
 * file comes back as a new inode; one renamed away is re-created at its old
 * path, not moved back) and links to the tree's files from outside it. A
 * file that now sits at its old path as another inode linked elsewhere too
 * is replaced, not written into, so the other names keep their content.
 * Directories re-created above the path get their old mode, owner, xattrs
 * and mtime; existing ones above it are left alone (their mtime becomes
 * the time of the change, as for any new entry).
 */
#include "ledgerfs/buf.h"
#include "ledgerfs/history.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_internal.h"
#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"

/* One revert in progress. */
struct rv {
	struct lgfs_fs *fs;
	struct lgfs_fs_ctx ctx; /* the caller's identity, umask 0: modes are set as they were */
	uint64_t at;
	uint64_t records;       /* records appended so far */
	uint64_t top;           /* the reverted directory now (0: a file is reverted) */
	int top_set;
	struct link_map {       /* files with several links at `at`: what each became */
		uint64_t old, cur;
	} *links;
	size_t nlinks, links_cap;
};

/* A directory listing: names (NUL-terminated) and inode numbers. */
struct entry {
	char name[256];
	uint64_t ino;
};
struct listing {
	struct entry *v;
	size_t n, cap;
};

static void listing_free(struct listing *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int listing_add(struct listing *l, const char *name, size_t len, uint64_t ino)
{
	if (len > 255)
		return -ENAMETOOLONG;
	if (lgfs_grow(&l->v, &l->cap, l->n, sizeof(*l->v)))
		return -ENOMEM;
	memcpy(l->v[l->n].name, name, len);
	l->v[l->n].name[len] = '\0';
	l->v[l->n].ino = ino;
	l->n++;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static const struct entry *listing_find(const struct listing *l, const char *name)
{
	struct entry key;

	strcpy(key.name, name);
	return l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v), entry_cmp) : NULL;
}

static int past_list_cb(void *arg, const char *name, size_t len, const struct lgfs_stat *st)
{
	return listing_add(arg, name, len, st->ino);
}

static int cur_list_cb(void *arg, const char *name, size_t len, uint64_t ino)
{
	return listing_add(arg, name, len, ino);
}

/* The entries of directory `old_dir` at `at`, sorted by name. */
static int list_past(struct rv *r, uint64_t old_dir, struct listing *out)
{
	int rc = lgfs_past_readdir(r->fs, r->at, old_dir, NULL, 0, past_list_cb, out);

	if (rc)
		return rc < 0 ? rc : -EIO;
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), entry_cmp);
	return 0;
}

/* The entries of directory `dir` now, sorted by name. */
static int list_cur(struct rv *r, uint64_t dir, struct listing *out)
{
	MDB_txn *t;
	int rc;

	if ((rc = lgfs_index_begin(r->fs->index, 1, &t)))
		return rc;
	rc = lgfs_dir_each(r->fs->index, t, dir, NULL, 0, cur_list_cb, out);
	mdb_txn_abort(t);
	if (rc)
		return rc < 0 ? rc : -EIO;
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), entry_cmp);
	return 0;
}

/* The inode `ino` as it was at `at` (-ENOENT when it had no name then). */
static int past_inode(struct rv *r, uint64_t ino, struct lgfs_inode *in)
{
	MDB_txn *t;
	int rc;

	if ((rc = lgfs_index_begin(r->fs->index, 1, &t)))
		return rc;
	rc = lgfs_inode_get_at(r->fs->index, t, ino, r->at, in);
	mdb_txn_abort(t);
	if (!rc && in->nlink == 0)
		rc = -ENOENT;
	return rc;
}

static struct link_map *link_find(struct rv *r, uint64_t old)
{
	size_t i;

	for (i = 0; i < r->nlinks; i++)
		if (r->links[i].old == old)
			return &r->links[i];
	return NULL;
}

static int link_add(struct rv *r, uint64_t old, uint64_t cur)
{
	if (lgfs_grow(&r->links, &r->links_cap, r->nlinks, sizeof(*r->links)))
		return -ENOMEM;
	r->links[r->nlinks].old = old;
	r->links[r->nlinks].cur = cur;
	r->nlinks++;
	return 0;
}

/* Count one record when a change succeeded. */
static int counted(struct rv *r, int rc)
{
	if (rc == 0)
		r->records++;
	return rc;
}

/* Remove `name` in `parent` now, a directory with everything below it. */
static int remove_tree(struct rv *r, uint64_t parent, const char *name)
{
	struct listing l = { 0 };
	struct lgfs_stat st;
	size_t i;
	int rc;

	if ((rc = lgfs_fs_lookup(r->fs, parent, name, &st)))
		return rc;
	if (!S_ISDIR(st.mode))
		return counted(r, lgfs_fs_unlink(r->fs, &r->ctx, parent, name));
	if ((rc = list_cur(r, st.ino, &l)))
		goto out;
	for (i = 0; i < l.n; i++)
		if ((rc = remove_tree(r, st.ino, l.v[i].name)))
			goto out;
	rc = counted(r, lgfs_fs_rmdir(r->fs, &r->ctx, parent, name));
out:
	listing_free(&l);
	return rc;
}

/* Make the xattrs of `cur` now those of `old` at `at`. */
static int sync_xattrs(struct rv *r, uint64_t cur, uint64_t old)
{
	char *oldnames = NULL, *curnames = NULL, *p;
	void *ov = NULL, *cv = NULL;
	size_t olen = 0, clen = 0, n;
	int rc;

	if ((rc = lgfs_past_listxattr(r->fs, r->at, old, NULL, 0, &olen)) ||
	    (rc = lgfs_fs_listxattr(r->fs, cur, NULL, 0, &clen)))
		return rc;
	if (olen == 0 && clen == 0)
		return 0;
	oldnames = malloc(olen + 1);
	curnames = malloc(clen + 1);
	ov = malloc(65536);
	cv = malloc(65536);
	if (!oldnames || !curnames || !ov || !cv) {
		rc = -ENOMEM;
		goto out;
	}
	if ((olen && (rc = lgfs_past_listxattr(r->fs, r->at, old, oldnames, olen, &olen))) ||
	    (clen && (rc = lgfs_fs_listxattr(r->fs, cur, curnames, clen, &clen))))
		goto out;
	/* names it has now and did not have then */
	for (p = curnames; p < curnames + clen; p += strlen(p) + 1) {
		rc = lgfs_past_getxattr(r->fs, r->at, old, p, NULL, 0, &n);
		if (rc == -ENODATA)
			rc = counted(r, lgfs_fs_removexattr(r->fs, &r->ctx, cur, p));
		if (rc)
			goto out;
	}
	/* values it had then and has not now */
	for (p = oldnames; p < oldnames + olen; p += strlen(p) + 1) {
		size_t on, cn;

		if ((rc = lgfs_past_getxattr(r->fs, r->at, old, p, ov, 65536, &on)))
			goto out;
		rc = lgfs_fs_getxattr(r->fs, cur, p, cv, 65536, &cn);
		if (rc && rc != -ENODATA)
			goto out;
		if (rc == 0 && cn == on && !memcmp(cv, ov, on))
			continue;
		if ((rc = counted(r, lgfs_fs_setxattr(r->fs, &r->ctx, cur, p, ov, on, 0))))
			goto out;
	}
	rc = 0;
out:
	free(oldnames);
	free(curnames);
	free(ov);
	free(cv);
	return rc;
}

/* Mode, owner and mtime of `cur` now as `old` had them: one setattr when
 * anything differs. Last for an inode: a directory's mtime moves with
 * every entry made in it. */
static int sync_attrs(struct rv *r, uint64_t cur, const struct lgfs_inode *old)
{
	struct lgfs_setattr sa;
	struct lgfs_inode now;
	int rc;

	if ((rc = lgfs_inode_read(r->fs->index, cur, &now)))
		return rc;
	memset(&sa, 0, sizeof(sa));
	if (!S_ISLNK(old->mode) && (now.mode & 07777) != (old->mode & 07777)) {
		sa.valid |= LGFS_SET_MODE;
		sa.mode = old->mode & 07777;
	}
	if (now.uid != old->uid) {
		sa.valid |= LGFS_SET_UID;
		sa.uid = old->uid;
	}
	if (now.gid != old->gid) {
		sa.valid |= LGFS_SET_GID;
		sa.gid = old->gid;
	}
	if (now.mtime != old->mtime) {
		sa.valid |= LGFS_SET_MTIME;
		sa.mtime = old->mtime;
	}
	if (!sa.valid)
		return 0;
	return counted(r, lgfs_fs_setattr(r->fs, &r->ctx, cur, 0, &sa, NULL));
}

static int busy(struct rv *r, uint64_t ino)
{
	char path[4096], esc[1024];

	if (lgfs_past_path(r->fs, r->at, ino, path, sizeof(path)))
		snprintf(path, sizeof(path), "inode %llu", (unsigned long long)ino);
	lgfs_escape(esc, sizeof(esc), path, strlen(path));
	lgfs_error_set(LGFS_EBUSY, "%s is open: close it before reverting it", esc);
	return -EBUSY;
}

/* Give regular file `cur` the content `old` had: a write record naming the
 * old version (no byte copied). Refused while the file is open here: its
 * staged state would not know of the new version. The open-file table is
 * held across the change so that nobody opens it meanwhile. */
static int sync_content(struct rv *r, uint64_t cur, const struct lgfs_inode *old)
{
	struct lgfs_past_file *pf = NULL;
	struct lgfs_record rec;
	struct lgfs_inode now;
	int rc;

	if ((rc = lgfs_inode_read(r->fs->index, cur, &now)))
		return rc;
	if (now.size == old->size && !memcmp(now.manifest, old->manifest, 32) &&
	    !memcmp(now.sha256, old->sha256, 32))
		return 0;
	/* The old content must still read back: its manifest is checked and
	 * its size agrees with the record that named it. */
	if ((rc = lgfs_past_open(r->fs, r->at, old->ino, &pf)))
		return rc;
	lgfs_past_close(pf);
	lgfs_record_init(&rec, LGFS_OP_WRITE);
	if ((rc = lgfs_record_add_u64(&rec, LGFS_F_INO, cur)) || (rc = lgfs_record_add_u64(&rec, LGFS_F_SIZE, old->size)) ||
	    (rc = lgfs_record_add_bytes(&rec, LGFS_F_MANIFEST, old->manifest, 32)) ||
	    (rc = lgfs_record_add_bytes(&rec, LGFS_F_CONTENT, old->sha256, 32)) ||
	    (rc = lgfs_record_add_i64(&rec, LGFS_F_MTIME, old->mtime)) ||
	    (rc = lgfs_record_add_u64(&rec, LGFS_F_ALLOCATED, old->allocated)))
		return lgfs_fs_errno(rc);
	pthread_mutex_lock(&r->fs->of_mu);
	if (lgfs_ofile_find(r->fs, cur))
		rc = 1;
	else
		rc = counted(r, lgfs_fs_mutate(r->fs, &r->ctx, &rec, NULL));
	pthread_mutex_unlock(&r->fs->of_mu);
	return rc == 1 ? busy(r, old->ino) : rc;
}

static int revert_node(struct rv *r, uint64_t parent, const char *name, uint64_t old_ino);

/* Make directory `cur` hold what `old_dir` held at `at`. */
static int revert_entries(struct rv *r, uint64_t cur, uint64_t old_dir)
{
	struct listing then = { 0 }, now = { 0 };
	size_t i;
	int rc;

	if ((rc = list_past(r, old_dir, &then)) || (rc = list_cur(r, cur, &now)))
		goto out;
	/* first what came since: a name it frees may be needed below */
	for (i = 0; i < now.n; i++)
		if (!listing_find(&then, now.v[i].name) && (rc = remove_tree(r, cur, now.v[i].name)))
			goto out;
	for (i = 0; i < then.n; i++)
		if ((rc = revert_node(r, cur, then.v[i].name, then.v[i].ino)))
			goto out;
out:
	listing_free(&then);
	listing_free(&now);
	return rc;
}

/* Everything of inode `cur` (same type as `old`) as `old` was at `at`. */
static int revert_inode(struct rv *r, uint64_t cur, const struct lgfs_inode *old)
{
	int rc;

	if (S_ISREG(old->mode) && (rc = sync_content(r, cur, old)))
		return rc;
	if ((rc = sync_xattrs(r, cur, old->ino)))
		return rc;
	if (S_ISDIR(old->mode) && (rc = revert_entries(r, cur, old->ino)))
		return rc;
	return sync_attrs(r, cur, old);
}

/* Does a name of `ino` now lie outside the reverted tree? */
struct outside {
	struct rv *r;
	MDB_txn *t;
	uint64_t ino;
	int found;
};

static int outside_cb(void *arg, uint64_t index, uint64_t parent, const char *name, size_t len)
{
	struct outside *o = arg;
	struct lgfs_inode in;
	uint64_t bound, dir = parent;
	int depth = 0;

	(void)index;
	if (lgfs_dirent_get(o->r->fs->index, o->t, parent, name, len, &bound) || bound != o->ino)
		return 0; /* a name it no longer has */
	if (!o->r->top) {
		o->found = 1; /* reverting one file: any other name is outside */
		return 1;
	}
	while (dir != o->r->top) {
		if (dir == LGFS_ROOT_INO || depth++ > 100000 || lgfs_inode_get(o->r->fs->index, o->t, dir, &in)) {
			o->found = 1;
			return 1;
		}
		dir = in.parent;
	}
	return 0;
}

static int linked_outside(struct rv *r, uint64_t ino)
{
	struct outside o = { r, NULL, ino, 0 };
	int rc;

	if ((rc = lgfs_index_begin(r->fs->index, 1, &o.t)))
		return rc;
	rc = lgfs_names_each(r->fs->index, o.t, ino, 0, UINT64_MAX, outside_cb, &o);
	mdb_txn_abort(o.t);
	return rc < 0 ? rc : o.found;
}

/* 1 when the inode now at a path cannot become what `old` was there in
 * place: another type, another symlink target or device, or another file
 * that has a name outside the tree too (writing into it would change what
 * that name shows); < 0 on error. */
static int must_replace(struct rv *r, const struct lgfs_stat *now, const struct lgfs_inode *old)
{
	if ((now->mode & S_IFMT) != (old->mode & S_IFMT))
		return 1;
	if (S_ISLNK(old->mode)) {
		char a[4097], b[4097];
		size_t al, bl;

		if (lgfs_fs_readlink(r->fs, now->ino, a, sizeof(a), &al) ||
		    lgfs_past_readlink(r->fs, r->at, old->ino, b, sizeof(b), &bl))
			return 1;
		return al != bl || memcmp(a, b, al) != 0;
	}
	if (S_ISCHR(old->mode) || S_ISBLK(old->mode))
		return now->rdev != old->rdev;
	if (S_ISREG(old->mode) && now->ino != old->ino && now->nlink > 1)
		return linked_outside(r, now->ino);
	return 0;
}

/* Make `name` in directory `parent` (now) what inode old_ino was there at
 * `at`. */
static int revert_node(struct rv *r, uint64_t parent, const char *name, uint64_t old_ino)
{
	struct lgfs_inode old;
	struct lgfs_stat st;
	struct link_map *lm = NULL;
	int rc, exists;

	if ((rc = past_inode(r, old_ino, &old)))
		return rc == -ENOENT ? -EIO : rc; /* an entry at `at` naming no inode: a broken index */
	if (!S_ISDIR(old.mode) && old.nlink > 1)
		lm = link_find(r, old_ino);
	rc = lgfs_fs_lookup(r->fs, parent, name, &st);
	if (rc && rc != -ENOENT)
		return rc;
	exists = rc == 0;
	if (exists && lm && st.ino == lm->cur)
		return 0; /* already the one inode the other path became */
	if (exists && !lm && (rc = must_replace(r, &st, &old)) < 0)
		return rc;
	if (exists && (lm || rc)) {
		if ((rc = remove_tree(r, parent, name)))
			return rc;
		exists = 0;
	}
	if (lm)
		return counted(r, lgfs_fs_link(r->fs, &r->ctx, lm->cur, parent, name, NULL));
	if (!exists) {
		if (S_ISDIR(old.mode)) {
			rc = lgfs_fs_mkdir(r->fs, &r->ctx, parent, name, old.mode & 07777, &st);
		} else if (S_ISLNK(old.mode)) {
			char target[4097];
			size_t len;

			rc = lgfs_past_readlink(r->fs, r->at, old_ino, target, sizeof(target), &len);
			if (!rc && len >= sizeof(target))
				rc = -ENAMETOOLONG;
			if (!rc)
				rc = lgfs_fs_symlink(r->fs, &r->ctx, parent, name, target, &st);
		} else {
			rc = lgfs_fs_mknod(r->fs, &r->ctx, parent, name, old.mode, old.rdev, &st);
		}
		if ((rc = counted(r, rc)))
			return rc;
	}
	if (!r->top_set) {
		r->top = S_ISDIR(old.mode) ? st.ino : 0;
		r->top_set = 1;
	}
	if (!S_ISDIR(old.mode) && old.nlink > 1 && (rc = link_add(r, old_ino, st.ino)))
		return rc;
	return revert_inode(r, st.ino, &old);
}

/* A directory re-created above the path: its attributes are set at the end,
 * when nothing more is made in it. */
struct made_dir {
	uint64_t cur;
	struct lgfs_inode old;
};

int lgfs_fs_revert(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, const char *path, uint64_t at,
		   uint64_t *records)
{
	struct rv r;
	struct made_dir *made = NULL;
	size_t nmade = 0, i;
	struct lgfs_inode old;
	uint64_t old_ino = LGFS_ROOT_INO, cur = LGFS_ROOT_INO, target;
	const char *p = path, *q;
	char name[256], *esc = NULL;
	int rc;

	*records = 0;
	memset(&r, 0, sizeof(r));
	r.fs = fs;
	r.ctx = *ctx;
	r.ctx.umask = 0;
	r.at = at;
	if (fs->rdonly)
		return -EROFS;
	if (!path || path[0] != '/')
		return lgfs_error_set(LGFS_EINVAL, "a path to revert is absolute in the volume"), -EINVAL;
	esc = lgfs_escape_dup(path, strlen(path));
	if (!esc)
		return -ENOMEM;
	lgfs_error_clear(); /* a message left at the end is this revert's */
	rc = lgfs_past_resolve(fs, at, path, &target);
	if (rc == -ERANGE) {
		lgfs_error_set(LGFS_ERANGE, "log index %llu is beyond the end of the log (%llu entries)",
			       (unsigned long long)at, (unsigned long long)lgfs_fs_entries(fs));
		goto out;
	}
	if (rc == -ENOENT || rc == -ENOTDIR) {
		lgfs_error_set(LGFS_ENOTFOUND, "%s did not exist at log index %llu: nothing to revert to", esc,
			       (unsigned long long)at);
		rc = -ENOENT;
		goto out;
	}
	if (rc)
		goto out;
	if (!(made = calloc(strlen(path) / 2 + 1, sizeof(*made)))) {
		rc = -ENOMEM;
		goto out;
	}
	/* The parents: as they are now when they are directories, else made
	 * as they were at `at`. */
	for (;;) {
		struct lgfs_stat st;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		q = strchr(p, '/');
		if (!q)
			q = p + strlen(p);
		if ((size_t)(q - p) > 255) {
			rc = -ENAMETOOLONG;
			goto out;
		}
		memcpy(name, p, (size_t)(q - p));
		name[q - p] = '\0';
		p = q;
		if (!strcmp(name, "."))
			continue;
		while (*p == '/')
			p++;
		if (!*p || !strcmp(p, ".") || !strcmp(p, "./"))
			break; /* name is the last component */
		if ((rc = lgfs_past_lookup(fs, at, old_ino, name, &st)))
			goto out;
		old_ino = st.ino;
		rc = lgfs_fs_lookup(fs, cur, name, &st);
		if (rc && rc != -ENOENT)
			goto out;
		if (rc == 0 && S_ISDIR(st.mode)) {
			cur = st.ino;
			continue;
		}
		if (rc == 0 && (rc = remove_tree(&r, cur, name)))
			goto out;
		if ((rc = past_inode(&r, old_ino, &made[nmade].old)) ||
		    (rc = counted(&r, lgfs_fs_mkdir(fs, &r.ctx, cur, name, made[nmade].old.mode & 07777, &st))))
			goto out;
		cur = made[nmade++].cur = st.ino;
		if ((rc = sync_xattrs(&r, cur, old_ino)))
			goto out;
	}
	if (target == LGFS_ROOT_INO) {
		r.top = LGFS_ROOT_INO;
		r.top_set = 1;
		if ((rc = past_inode(&r, LGFS_ROOT_INO, &old)))
			goto out;
		rc = revert_inode(&r, LGFS_ROOT_INO, &old);
	} else {
		rc = revert_node(&r, cur, name, target);
	}
	for (i = nmade; !rc && i-- > 0;)
		rc = sync_attrs(&r, made[i].cur, &made[i].old);
out:
	*records = r.records;
	if (rc && rc != -ENOENT && rc != -ERANGE && rc != -EBUSY && !*lgfs_error_last())
		lgfs_error_set(LGFS_EIO, "reverting %s after %llu records: %s", esc, (unsigned long long)r.records,
			       strerror(-rc));
	free(esc);
	free(made);
	free(r.links);
	return rc;
}
