/*
 * fuse_ll.c — the FUSE low-level adapter (fuse layer).
 *
 * Kernel requests in, fs-layer calls out (fs.h), one reply per request.
 * The fs layer speaks POSIX already: its negative errno goes straight to
 * fuse_reply_err. Inode numbers of the current tree are the fs layer's
 * own, persistent in its index, so their lookup counts need no bookkeeping
 * and forget is a no-op for them. Numbers from 2^63 up are the past's
 * (ll_past.c): the hidden directory /.ledgerfs that every mount has, the
 * past trees and history directories under it; every request about one of
 * them, and in a mount of a past state (--at) every request, goes there.
 * /.ledgerfs is found by lookup but never listed in the root; in the root
 * of a read-write mount, creating that name is EEXIST and removing or
 * renaming it EROFS. The kernel checks permissions itself from our
 * attributes (mount option default_permissions); every change carries the
 * caller's uid/gid/umask.
 * Errors worth an operator's attention (EIO from a chunk failing its hash,
 * ENOSPC, ...) go to the daemon log with the operation, the inode and the
 * fs layer's message; ordinary POSIX outcomes (ENOENT, EEXIST, ...) do not,
 * except with debug on.
 *
 * Model: libfuse 3.14's examples passthrough_ll.c and hello_ll.c.
 */
#include "ll.h"

#include "ledgerfs/error.h"
#include "ledgerfs/fs.h"
#include "ledgerfs/fuse.h"

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Entries and attributes stay valid this long in the kernel: in local mode
 * this mount is the only writer of its volume, so nothing changes behind
 * the kernel's back. */
#define LL_TIMEOUT 1.0
/* st_blksize we report: cp, cat and stdio size their I/O by it, and large
 * writes mean fewer requests. */
#define LL_BLKSIZE (128 * 1024)
/* Largest write request the kernel may send (libfuse 3.14's buffer fits
 * 256 pages). */
#define LL_MAX_WRITE (1u << 20)

static void files_add(struct ll *ll, struct ll_file *f)
{
	pthread_mutex_lock(&ll->files_mu);
	f->prev = NULL;
	f->next = ll->files;
	if (ll->files)
		ll->files->prev = f;
	ll->files = f;
	pthread_mutex_unlock(&ll->files_mu);
}

static void files_del(struct ll *ll, struct ll_file *f)
{
	pthread_mutex_lock(&ll->files_mu);
	if (f->prev)
		f->prev->next = f->next;
	else
		ll->files = f->next;
	if (f->next)
		f->next->prev = f->prev;
	pthread_mutex_unlock(&ll->files_mu);
}

static uint64_t file_fh(const struct fuse_file_info *fi)
{
	return ((const struct ll_file *)(uintptr_t)fi->fh)->fh;
}

/* ---- the daemon log ---- */

static void vlogf(FILE *log, const char *fmt, va_list ap)
{
	char ts[32], *msg = NULL;
	struct timespec now;
	struct tm tm;
	size_t n;
	int len;

	if (!log)
		log = stderr;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);
	len = vasprintf(&msg, fmt, ap);
	if (len < 0) {
		fprintf(log, "%s (log message lost: out of memory)\n", ts);
		return;
	}
	while (len > 0 && msg[len - 1] == '\n') /* libfuse's messages end in one */
		msg[--len] = '\0';
	fprintf(log, "%s %s\n", ts, msg);
	free(msg);
}

void lgfs_fuse_logf(FILE *log, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlogf(log, fmt, ap);
	va_end(ap);
}

/* libfuse's own messages (mount errors, the debug trace) go to the daemon
 * log too. fuse_set_log_func() is process-wide, so is this. The last error
 * is kept for lgfs_error_set() when mounting fails. */
static FILE *g_log;
static pthread_mutex_t g_last_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_last[256];

static void fuse_log_to_file(enum fuse_log_level level, const char *fmt, va_list ap)
{
	if (level <= FUSE_LOG_ERR) {
		va_list cp;
		size_t n;

		va_copy(cp, ap);
		pthread_mutex_lock(&g_last_mu);
		vsnprintf(g_last, sizeof(g_last), fmt, cp);
		n = strlen(g_last);
		while (n > 0 && g_last[n - 1] == '\n')
			g_last[--n] = '\0';
		pthread_mutex_unlock(&g_last_mu);
		va_end(cp);
	}
	vlogf(g_log, fmt, ap);
}

static void last_fuse_error(char *out, size_t cap)
{
	pthread_mutex_lock(&g_last_mu);
	snprintf(out, cap, "%s", g_last[0] ? g_last : "see the log");
	pthread_mutex_unlock(&g_last_mu);
}

/* A file name for a log line: printable ASCII kept, the rest escaped, cut
 * at a length a log line can carry. Names come from users and must not be
 * able to forge log lines. */
static void name_for_log(char *out, size_t cap, const char *name)
{
	size_t o = 0;

	for (; *name && o + 6 < cap; name++) {
		unsigned char c = (unsigned char)*name;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	if (*name && o + 4 <= cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* Outcomes of ordinary POSIX use, not worth the operator's attention. */
static int err_is_ordinary(int err)
{
	switch (err) {
	case ENOENT: case EEXIST: case ENOTEMPTY: case ENOTDIR: case EISDIR:
	case EACCES: case ENODATA: case ERANGE: case ENAMETOOLONG: case EXDEV:
	case EROFS: case ELOOP: case EOPNOTSUPP: case EINVAL: case EMLINK:
	case ENOSYS: case EFBIG: case EINTR: case ENXIO: case ETXTBSY:
		return 1;
	default:
		return 0;
	}
}

/* Log an fs-layer failure if it deserves it: always when `always` (I/O on
 * an open file, where no error is an ordinary outcome), else when unusual.
 * err is a positive errno. */
static void log_failure(const struct ll *ll, fuse_req_t req, const char *op, uint64_t ino, const char *name,
			int err, int always)
{
	const struct fuse_ctx *c;
	char nm[300];
	const char *ename, *msg;

	if (!ll->debug && !always && err_is_ordinary(err))
		return;
	c = fuse_req_ctx(req);
	ename = strerrorname_np(err);
	msg = lgfs_error_last();
	if (!strcmp(msg, "unknown error")) /* the fs layer said nothing more */
		msg = NULL;
	if (name)
		name_for_log(nm, sizeof(nm), name);
	lgfs_fuse_logf(ll->log, "%s ino %llu%s%s%s (uid %u pid %d): %s %s%s%s", op, (unsigned long long)ino,
		       name ? " name \"" : "", name ? nm : "", name ? "\"" : "", (unsigned int)c->uid,
		       (int)c->pid, ename ? ename : "E?", strerror(err), msg ? ": " : "", msg ? msg : "");
}

/* The fs layer's result as an errno for the kernel: 0 or a positive errno.
 * A value out of errno's range would be a bug below: EIO, never a crash. */
static int to_errno(int rc)
{
	if (rc >= 0)
		return 0;
	if (rc < -4095)
		return EIO;
	return -rc;
}

/* Reply with the fs layer's error (logged when unusual). */
static void reply_err(fuse_req_t req, int rc, const char *op, uint64_t ino, const char *name)
{
	const struct ll *ll = fuse_req_userdata(req);
	int err = to_errno(rc);

	if (err)
		log_failure(ll, req, op, ino, name, err, 0);
	fuse_reply_err(req, err);
}

/* The same for I/O on an open file: every error is logged. */
static void reply_io_err(fuse_req_t req, int rc, const char *op, uint64_t ino)
{
	const struct ll *ll = fuse_req_userdata(req);
	int err = to_errno(rc);

	if (err)
		log_failure(ll, req, op, ino, NULL, err, err != EINTR);
	fuse_reply_err(req, err);
}

/* Start of every handler: the session, with no stale message left from an
 * earlier request on this worker thread. */
static struct ll *begin(fuse_req_t req)
{
	lgfs_error_clear();
	return fuse_req_userdata(req);
}

/* ---- for ll_past.c (ll.h) ---- */

struct ll *lgfs_ll_begin(fuse_req_t req)
{
	return begin(req);
}

void lgfs_ll_files_add(struct ll *ll, struct ll_file *f)
{
	files_add(ll, f);
}

void lgfs_ll_files_del(struct ll *ll, struct ll_file *f)
{
	files_del(ll, f);
}

void lgfs_ll_reply_err(fuse_req_t req, int rc, const char *op, uint64_t ino, const char *name)
{
	reply_err(req, rc, op, ino, name);
}

void lgfs_ll_reply_io_err(fuse_req_t req, int rc, const char *op, uint64_t ino)
{
	reply_io_err(req, rc, op, ino);
}

void lgfs_ll_log_failure(const struct ll *ll, fuse_req_t req, const char *op, uint64_t ino, const char *name,
			 int err, int always)
{
	log_failure(ll, req, op, ino, name, err, always);
}

int lgfs_ll_to_errno(int rc)
{
	return to_errno(rc);
}

/* ---- the past's nodes and the hidden name ---- */

/* Served by ll_past.c: the request goes there (see the top). */
static int is_past(const struct ll *ll, uint64_t ino)
{
	return lgfs_ll_past_owns(ll, ino);
}

/* A change whose parent directory (or inode) is not a current one. */
static int refuse_past(fuse_req_t req, struct ll *ll, uint64_t ino, const char *op, const char *name)
{
	if (!is_past(ll, ino))
		return 0;
	reply_err(req, -EROFS, op, ino, name);
	return 1;
}

/* The hidden directory's name in the root. */
static int is_meta_name(uint64_t parent, const char *name)
{
	return parent == 1 && !strcmp(name, LGFS_LL_META);
}

/* ---- conversions ---- */

static struct lgfs_fs_ctx req_ctx(fuse_req_t req)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct lgfs_fs_ctx x = { (uint32_t)c->uid, (uint32_t)c->gid, (uint32_t)c->umask };

	return x;
}

static struct timespec ns_to_ts(int64_t ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	if (ts.tv_nsec < 0) { /* before 1970: floor, not truncation */
		ts.tv_nsec += 1000000000;
		ts.tv_sec--;
	}
	return ts;
}

static int64_t ts_to_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void to_stat(struct stat *out, const struct lgfs_stat *st)
{
	memset(out, 0, sizeof(*out));
	out->st_ino = st->ino;
	out->st_mode = st->mode;
	out->st_nlink = st->nlink;
	out->st_uid = st->uid;
	out->st_gid = st->gid;
	out->st_size = (off_t)st->size;
	out->st_rdev = (dev_t)st->rdev;
	out->st_blocks = (blkcnt_t)st->blocks;
	out->st_blksize = LL_BLKSIZE;
	out->st_atim = ns_to_ts(st->atime);
	out->st_mtim = ns_to_ts(st->mtime);
	out->st_ctim = ns_to_ts(st->ctime);
}

void lgfs_ll_to_stat(struct stat *out, const struct lgfs_stat *st)
{
	to_stat(out, st);
}

static void to_entry(struct fuse_entry_param *e, const struct lgfs_stat *st)
{
	memset(e, 0, sizeof(*e));
	e->ino = st->ino;
	e->generation = 0; /* inode numbers are log indexes: never reused */
	to_stat(&e->attr, st);
	e->attr_timeout = LL_TIMEOUT;
	e->entry_timeout = LL_TIMEOUT;
}

static void reply_entry(fuse_req_t req, int rc, const struct lgfs_stat *st, const char *op, uint64_t ino,
			const char *name)
{
	struct fuse_entry_param e;

	if (rc) {
		reply_err(req, rc, op, ino, name);
		return;
	}
	to_entry(&e, st);
	fuse_reply_entry(req, &e);
}

static void reply_attr(fuse_req_t req, int rc, const struct lgfs_stat *st, const char *op, uint64_t ino)
{
	struct stat sb;

	if (rc) {
		reply_err(req, rc, op, ino, NULL);
		return;
	}
	to_stat(&sb, st);
	fuse_reply_attr(req, &sb, LL_TIMEOUT);
}

/* ---- session ---- */

static void ll_init(void *userdata, struct fuse_conn_info *conn)
{
	struct ll *ll = userdata;

	conn->max_write = LL_MAX_WRITE;
	/*
	 * Off, whatever libfuse defaults to:
	 * - splice: writes must reach us as memory (we hash them), and reads
	 *   are served from memory; splicing would only add a copy;
	 * - writeback cache: not yet (close/fsync must see every write);
	 * - kill-priv: the kernel clears setuid/setgid on write and chown
	 *   itself, through setattr, so it becomes a record like any chmod;
	 * - export support (NFS) and POSIX ACLs: not offered.
	 */
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
			FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_HANDLE_KILLPRIV | FUSE_CAP_EXPORT_SUPPORT |
			FUSE_CAP_POSIX_ACL);
	/* A symlink's target never changes: the kernel may keep it. */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (ll->debug)
		lgfs_fuse_logf(ll->log, "init: kernel FUSE %u.%u, max_write %u, capable 0x%x, want 0x%x",
			       conn->proto_major, conn->proto_minor, conn->max_write, conn->capable, conn->want);
}

static void ll_destroy(void *userdata)
{
	struct ll *ll = userdata;
	struct ll_file *f;
	int rc;

	lgfs_error_clear();
	/* The session ended (a signal, an unmount) with files the kernel
	 * never released: release them as their openers, which commits what
	 * they wrote, as a close would. */
	while ((f = ll->files)) {
		files_del(ll, f);
		if (f->past) {
			lgfs_ll_past_file_free(f);
			continue;
		}
		rc = lgfs_fs_release(ll->fs, &f->opener, f->fh);
		if (rc)
			lgfs_fuse_logf(ll->log, "destroy: releasing an open file of volume %s: %s: %s", ll->volume,
				       strerror(to_errno(rc)), lgfs_error_last());
		free(f);
	}
	rc = lgfs_fs_sync(ll->fs);
	if (rc)
		lgfs_fuse_logf(ll->log, "destroy: syncing volume %s: %s: %s", ll->volume, strerror(to_errno(rc)),
			       lgfs_error_last());
}

/* ---- names and attributes ---- */

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ll *ll = begin(req);
	struct lgfs_stat st;
	int rc;

	if (is_past(ll, parent)) {
		lgfs_ll_past_lookup(req, parent, name);
		return;
	}
	if (is_meta_name(parent, name)) {
		lgfs_ll_past_lookup_meta(req);
		return;
	}
	rc = lgfs_fs_lookup(ll->fs, parent, name, &st);
	if (rc == -ENOENT) {
		/* A negative entry the kernel may cache: nothing but this mount
		 * creates names in the volume, and the kernel drops the entry
		 * itself when it creates the name through us. */
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		e.ino = 0;
		e.entry_timeout = LL_TIMEOUT;
		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry(req, rc, &st, "lookup", parent, name);
}

/* Current inodes live in the index, not in memory: nothing to drop. Some
 * of the past's numbers are counted (ll_past.c). */
static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct ll *ll = fuse_req_userdata(req);

	if (is_past(ll, ino))
		lgfs_ll_past_forget(ll, ino, nlookup);
	fuse_reply_none(req);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct ll *ll = fuse_req_userdata(req);
	size_t i;

	for (i = 0; i < count; i++)
		if (is_past(ll, forgets[i].ino))
			lgfs_ll_past_forget(ll, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ll *ll = begin(req);
	struct lgfs_stat st;
	int rc;

	(void)fi;
	if (is_past(ll, ino)) {
		lgfs_ll_past_getattr(req, ino);
		return;
	}
	rc = lgfs_fs_getattr(ll->fs, ino, &st);
	reply_attr(req, rc, &st, "getattr", ino);
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid, struct fuse_file_info *fi)
{
	struct ll *ll = begin(req);
	struct lgfs_fs_ctx ctx = req_ctx(req);
	struct lgfs_setattr sa;
	struct lgfs_stat st;
	int rc;

	if (refuse_past(req, ll, ino, "setattr", NULL))
		return;
	memset(&sa, 0, sizeof(sa));
	if (valid & FUSE_SET_ATTR_MODE) {
		sa.valid |= LGFS_SET_MODE;
		sa.mode = attr->st_mode & 07777; /* the kernel sends the file type too */
	}
	if (valid & FUSE_SET_ATTR_UID) {
		sa.valid |= LGFS_SET_UID;
		sa.uid = attr->st_uid;
	}
	if (valid & FUSE_SET_ATTR_GID) {
		sa.valid |= LGFS_SET_GID;
		sa.gid = attr->st_gid;
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		sa.valid |= LGFS_SET_SIZE;
		sa.size = (uint64_t)attr->st_size;
	}
	/* The kernel sets ATIME together with ATIME_NOW: NOW wins. */
	if (valid & FUSE_SET_ATTR_ATIME_NOW) {
		sa.valid |= LGFS_SET_ATIME_NOW;
	} else if (valid & FUSE_SET_ATTR_ATIME) {
		sa.valid |= LGFS_SET_ATIME;
		sa.atime = ts_to_ns(&attr->st_atim);
	}
	if (valid & FUSE_SET_ATTR_MTIME_NOW) {
		sa.valid |= LGFS_SET_MTIME_NOW;
	} else if (valid & FUSE_SET_ATTR_MTIME) {
		sa.valid |= LGFS_SET_MTIME;
		sa.mtime = ts_to_ns(&attr->st_mtim);
	}
	/* FUSE_SET_ATTR_CTIME (writeback cache only) and the rest: ctime is
	 * the fs layer's to keep. Nothing left to change: just the attributes.
	 * The kernel passes an open file only for ftruncate(2), which works on
	 * regular files alone, so fi is one of ours (never a directory's). */
	if (sa.valid)
		rc = lgfs_fs_setattr(ll->fs, &ctx, ino, fi ? file_fh(fi) : 0, &sa, &st);
	else
		rc = lgfs_fs_getattr(ll->fs, ino, &st);
	reply_attr(req, rc, &st, "setattr", ino);
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct ll *ll = begin(req);
	char small[PATH_MAX + 1], *buf = small;
	size_t len = 0;
	int rc;

	if (is_past(ll, ino)) {
		lgfs_ll_past_readlink(req, ino);
		return;
	}
	rc = lgfs_fs_readlink(ll->fs, ino, small, sizeof(small), &len);
	if (!rc && len >= sizeof(small)) { /* longer than PATH_MAX: still say it */
		buf = malloc(len + 1);
		if (!buf) {
			reply_err(req, -ENOMEM, "readlink", ino, NULL);
			return;
		}
		rc = lgfs_fs_readlink(ll->fs, ino, buf, len + 1, &len);
	}
	if (rc) {
		reply_err(req, rc, "readlink", ino, NULL);
	} else {
		buf[len] = '\0';
		fuse_reply_readlink(req, buf);
	}
	if (buf != small)
		free(buf);
}

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct ll *ll = begin(req);
	struct lgfs_fs_ctx ctx = req_ctx(req);
	struct lgfs_stat st;
	int rc;

	if (refuse_past(req, ll, parent, "mknod", name))
		return;
	rc = is_meta_name(parent, name) ? -EEXIST : lgfs_fs_mknod(ll->fs, &ctx, parent, name, mode, rdev, &st);
	reply_entry(req, rc, &st, "mknod", parent, name);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct ll *ll = begin(req);
	struct lgfs_fs_ctx ctx = req_ctx(req);
	struct lgfs_stat st;
	int rc;

	if (refuse_past(req, ll, parent, "mkdir", name))
		return;
	rc = is_meta_name(parent, name) ? -EEXIST : lgfs_fs_mkdir(ll->fs, &ctx, parent, name, mode, &st);
	reply_entry(req, rc, &st, "mkdir", parent, name);
}

static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct ll *ll = begin(req);
	struct lgfs_fs_ctx ctx = req_ctx(req);
	struct lgfs_stat st;
	int rc;

	if (refuse_past(req, ll, parent, "symlink", name))
		return;
	rc = is_meta_name(parent, name) ? -EEXIST : lgfs_fs_symlink(ll->fs, &ctx, parent, name, link, &st);
	reply_entry(req, rc, &st, "symlink", parent, name);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ll *ll = begin(req);
	struct lgfs_fs_ctx ctx = req_ctx(req);

	if (refuse_past(req, ll, parent, "unlink", name))
		return;
	reply_err(req, is_meta_name(parent, name) ? -EROFS : lgfs_fs_unlink(ll->fs, &ctx, parent, name), "unlink", parent,
		  name);
}

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ll *ll = begin(req);
	struct lgfs_fs_ctx ctx = req_ctx(req);

	if (refuse_past(req, ll, parent, "rmdir", name))
		return;
	reply_err(req, is_meta_name(parent, name) ? -EROFS : lgfs_fs_rmdir(ll->fs, &ctx, parent, name), "rmdir", parent,
		  name);
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct ll *ll = begin(req);
	struct lgfs_fs_ctx ctx = req_ctx(req);
	int rc;

	/* RENAME_WHITEOUT (overlayfs) is not offered. */
	if (flags & ~(unsigned int)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		rc = -EINVAL;
	else if (is_past(ll, parent) || is_past(ll, newparent) || is_meta_name(parent, name) ||
		 is_meta_name(newparent, newname))
		rc = -EROFS;
	else
		rc = lgfs_fs_rename(ll->fs, &ctx, parent, name, newparent, newname, flags);
	reply_err(req, rc, "rename", parent, name);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct ll *ll = begin(req);
	struct lgfs_fs_ctx ctx = req_ctx(req);
	struct lgfs_stat st;
	int rc;

	if (is_past(ll, ino) || is_past(ll, newparent))
		rc = -EROFS;
	else if (is_meta_name(newparent, newname))
		rc = -EEXIST;
	else
		rc = lgfs_fs_link(ll->fs, &ctx, ino, newparent, newname, &st);

	reply_entry(req, rc, &st, "link", ino, newname);
}

/* ---- files ---- */

/* Page cache: kept across opens. The kernel sees every change of this
 * volume (it is the only writer) and drops pages itself on truncation,
 * O_TRUNC and mtime/size changes (FUSE_CAP_AUTO_INVAL_DATA). */
static void set_open_flags(struct fuse_file_info *fi)
{
	fi->keep_cache = 1;
	fi->direct_io = 0;
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ll *ll = begin(req);
	struct ll_file *f;
	int rc;

	if (is_past(ll, ino)) {
		lgfs_ll_past_open(req, ino, fi);
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		reply_err(req, -ENOMEM, "open", ino, NULL);
		return;
	}
	f->opener = req_ctx(req);
	rc = lgfs_fs_open_file(ll->fs, &f->opener, ino, fi->flags, &f->fh);
	if (rc) {
		free(f);
		reply_err(req, rc, "open", ino, NULL);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)f;
	set_open_flags(fi);
	files_add(ll, f);
	/* The request was interrupted: the kernel will never release it. */
	if (fuse_reply_open(req, fi) != 0) {
		files_del(ll, f);
		lgfs_fs_release(ll->fs, &f->opener, f->fh);
		free(f);
	}
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	struct ll *ll = begin(req);
	struct ll_file *f;
	struct fuse_entry_param e;
	struct lgfs_stat st;
	int rc;

	if (refuse_past(req, ll, parent, "create", name))
		return;
	if (is_meta_name(parent, name)) {
		reply_err(req, -EEXIST, "create", parent, name);
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		reply_err(req, -ENOMEM, "create", parent, name);
		return;
	}
	f->opener = req_ctx(req);
	rc = lgfs_fs_create(ll->fs, &f->opener, parent, name, mode, fi->flags, &st, &f->fh);
	if (rc) {
		free(f);
		reply_err(req, rc, "create", parent, name);
		return;
	}
	to_entry(&e, &st);
	fi->fh = (uint64_t)(uintptr_t)f;
	set_open_flags(fi);
	files_add(ll, f);
	if (fuse_reply_create(req, &e, fi) != 0) {
		files_del(ll, f);
		lgfs_fs_release(ll->fs, &f->opener, f->fh);
		free(f);
	}
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct ll *ll = begin(req);
	size_t got = 0;
	char *buf;
	int rc;

	if (((const struct ll_file *)(uintptr_t)fi->fh)->past) {
		lgfs_ll_past_read(req, ino, size, off, fi);
		return;
	}
	if (off < 0) {
		reply_io_err(req, -EINVAL, "read", ino);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		reply_io_err(req, -ENOMEM, "read", ino);
		return;
	}
	rc = lgfs_fs_read(ll->fs, file_fh(fi), (uint64_t)off, buf, size, &got);
	if (rc)
		reply_io_err(req, rc, "read", ino);
	else
		fuse_reply_buf(req, buf, got);
	free(buf);
}

static void ll_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
			 struct fuse_file_info *fi)
{
	struct ll *ll = begin(req);
	size_t size = fuse_buf_size(in);
	const char *data;
	char *copy = NULL;
	int rc;

	if (((const struct ll_file *)(uintptr_t)fi->fh)->past) {
		reply_io_err(req, -EROFS, "write", ino);
		return;
	}
	if (off < 0) {
		reply_io_err(req, -EINVAL, "write", ino);
		return;
	}
	if (in->count == 1 && in->idx == 0 && !(in->buf[0].flags & FUSE_BUF_IS_FD)) {
		/* The usual case (no splice): the request's own buffer. */
		data = (const char *)in->buf[0].mem + in->off;
		size -= in->off;
	} else {
		struct fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
		ssize_t n;

		copy = malloc(size ? size : 1);
		if (!copy) {
			reply_io_err(req, -ENOMEM, "write", ino);
			return;
		}
		dst.buf[0].mem = copy;
		n = fuse_buf_copy(&dst, in, 0);
		if (n < 0) {
			free(copy);
			reply_io_err(req, (int)n, "write", ino);
			return;
		}
		size = (size_t)n;
		data = copy;
	}
	{
		/* Writeback of a shared mapping comes from the kernel, not from
		 * a process (pid 0, uid 0): it is the opener's writing. */
		struct lgfs_fs_ctx ctx = req_ctx(req);
		const struct ll_file *f = (const struct ll_file *)(uintptr_t)fi->fh;

		if (fuse_req_ctx(req)->pid == 0 && f)
			ctx = f->opener;
		rc = lgfs_fs_write(ll->fs, &ctx, file_fh(fi), (uint64_t)off, data, size);
	}
	if (rc)
		reply_io_err(req, rc, "write", ino);
	else
		fuse_reply_write(req, size);
	free(copy);
}

/* close(2) of a descriptor: a written file becomes a version. */
static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ll *ll = begin(req);
	struct lgfs_fs_ctx ctx = req_ctx(req);

	if (((const struct ll_file *)(uintptr_t)fi->fh)->past) {
		fuse_reply_err(req, 0); /* nothing was written */
		return;
	}
	reply_io_err(req, lgfs_fs_flush(ll->fs, &ctx, file_fh(fi)), "flush", ino);
}

/* Last close. The kernel ignores the reply's error, the log does not. */
static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ll *ll = begin(req);
	struct ll_file *f = (struct ll_file *)(uintptr_t)fi->fh;
	int rc;

	if (f->past) {
		lgfs_ll_past_release(req, ino, fi);
		return;
	}
	files_del(ll, f);
	rc = lgfs_fs_release(ll->fs, &f->opener, f->fh);
	free(f);
	reply_io_err(req, rc, "release", ino);
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct ll *ll = begin(req);
	struct lgfs_fs_ctx ctx = req_ctx(req);

	(void)datasync; /* a version's record and chunks are durable together */
	if (((const struct ll_file *)(uintptr_t)fi->fh)->past) {
		fuse_reply_err(req, 0); /* the past is durable */
		return;
	}
	reply_io_err(req, lgfs_fs_fsync(ll->fs, &ctx, file_fh(fi)), "fsync", ino);
}

static void ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	struct ll *ll = begin(req);
	struct lgfs_fs_ctx ctx = req_ctx(req);
	int rc;

	if (((const struct ll_file *)(uintptr_t)fi->fh)->past)
		rc = -EROFS;
	else if (off < 0 || len <= 0)
		rc = -EINVAL;
	else
		rc = lgfs_fs_fallocate(ll->fs, &ctx, file_fh(fi), mode, (uint64_t)off, (uint64_t)len);
	reply_err(req, rc, "fallocate", ino, NULL);
}

/* The kernel asks only for SEEK_DATA and SEEK_HOLE. */
static void ll_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	struct ll *ll = begin(req);
	uint64_t out = 0;
	int rc;

	if (((const struct ll_file *)(uintptr_t)fi->fh)->past) {
		lgfs_ll_past_lseek(req, ino, off, whence, fi);
		return;
	}
	rc = lgfs_fs_lseek(ll->fs, file_fh(fi), (int64_t)off, whence, &out);

	if (rc) {
		reply_err(req, rc, "lseek", ino, NULL);
		return;
	}
	fuse_reply_lseek(req, (off_t)out);
}

/* ---- directories ---- */

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ll *ll = begin(req);
	uint64_t dh = 0;
	int rc;

	if (is_past(ll, ino)) {
		lgfs_ll_past_opendir(req, ino, fi);
		return;
	}
	rc = lgfs_fs_opendir(ll->fs, ino, &dh);

	if (rc) {
		reply_err(req, rc, "opendir", ino, NULL);
		return;
	}
	fi->fh = dh;
	if (fuse_reply_open(req, fi) != 0)
		lgfs_fs_releasedir(ll->fs, dh);
}

/* A readdir reply being filled. */
struct dir_fill {
	fuse_req_t req;
	char *buf;
	size_t size; /* the kernel's buffer size */
	size_t used;
	int plus;    /* readdirplus: entries with attributes */
	int root;    /* the root: the hidden directory's name is not listed */
};

static int dir_fill_cb(void *arg, const char *name, const struct lgfs_stat *st, uint64_t next)
{
	struct dir_fill *d = arg;
	size_t rem = d->size - d->used, n;

	/* A real entry of that name (made before the name was reserved, or
	 * without the mount) stays in the log and in the past, not here. */
	if (d->root && !strcmp(name, LGFS_LL_META))
		return 0;
	if (d->plus) {
		struct fuse_entry_param e;

		/* The kernel skips "." and ".." itself; inode lookups need no
		 * counting here (see forget). */
		to_entry(&e, st);
		n = fuse_add_direntry_plus(d->req, d->buf + d->used, rem, name, &e, (off_t)next);
	} else {
		struct stat sb;

		memset(&sb, 0, sizeof(sb));
		sb.st_ino = st->ino;
		sb.st_mode = st->mode;
		n = fuse_add_direntry(d->req, d->buf + d->used, rem, name, &sb, (off_t)next);
	}
	if (n > rem)
		return 1; /* full: the entry was not taken */
	d->used += n;
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi, int plus)
{
	struct ll *ll = begin(req);
	struct dir_fill d;
	int rc;

	if (is_past(ll, ino)) {
		lgfs_ll_past_readdir(req, ino, size, off, fi, plus);
		return;
	}
	if (off < 0) {
		reply_err(req, -EINVAL, "readdir", ino, NULL);
		return;
	}
	memset(&d, 0, sizeof(d));
	d.req = req;
	d.size = size;
	d.plus = plus;
	d.root = ino == 1;
	d.buf = malloc(size ? size : 1);
	if (!d.buf) {
		reply_err(req, -ENOMEM, "readdir", ino, NULL);
		return;
	}
	rc = lgfs_fs_readdir(ll->fs, fi->fh, (uint64_t)off, dir_fill_cb, &d);
	/* Entries already taken are answered; the error comes back on the
	 * next call, which starts after them. (The log line comes first: a
	 * reply frees req.) */
	if (rc && d.used == 0) {
		reply_err(req, rc, plus ? "readdirplus" : "readdir", ino, NULL);
	} else {
		if (rc)
			log_failure(ll, req, plus ? "readdirplus" : "readdir", ino, NULL, to_errno(rc), 1);
		fuse_reply_buf(req, d.buf, d.used);
	}
	free(d.buf);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 0);
}

static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 1);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ll *ll = begin(req);

	if (is_past(ll, ino)) {
		lgfs_ll_past_releasedir(req, ino, fi);
		return;
	}
	lgfs_fs_releasedir(ll->fs, fi->fh);
	fuse_reply_err(req, 0);
}

static void ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct ll *ll = begin(req);

	(void)datasync;
	(void)fi;
	reply_io_err(req, lgfs_fs_sync(ll->fs), "fsyncdir", ino);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct ll *ll = begin(req);
	struct statvfs sv;
	int rc;

	memset(&sv, 0, sizeof(sv));
	rc = lgfs_fs_statfs(ll->fs, &sv);
	if (rc) {
		reply_io_err(req, rc, "statfs", ino);
		return;
	}
	fuse_reply_statfs(req, &sv);
}

/* With default_permissions the kernel decides; only a vanished inode is
 * worth an answer other than yes. */
static void ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct ll *ll = begin(req);
	struct lgfs_stat st;

	(void)mask;
	if (is_past(ll, ino)) {
		lgfs_ll_past_access(req, ino);
		return;
	}
	reply_err(req, lgfs_fs_getattr(ll->fs, ino, &st), "access", ino, NULL);
}

/* ---- extended attributes ---- */

static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
			int flags)
{
	struct ll *ll = begin(req);
	struct lgfs_fs_ctx ctx = req_ctx(req);

	if (refuse_past(req, ll, ino, "setxattr", name))
		return;
	reply_err(req, lgfs_fs_setxattr(ll->fs, &ctx, ino, name, value, size, flags), "setxattr", ino, name);
}

static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct ll *ll = begin(req);
	size_t len = 0;
	char *buf;
	int rc;

	if (is_past(ll, ino)) {
		lgfs_ll_past_getxattr(req, ino, name, size);
		return;
	}
	if (size == 0) { /* the caller asks how large the value is */
		rc = lgfs_fs_getxattr(ll->fs, ino, name, NULL, 0, &len);
		if (rc) {
			reply_err(req, rc, "getxattr", ino, name);
			return;
		}
		fuse_reply_xattr(req, len);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		reply_err(req, -ENOMEM, "getxattr", ino, name);
		return;
	}
	rc = lgfs_fs_getxattr(ll->fs, ino, name, buf, size, &len);
	if (rc)
		reply_err(req, rc, "getxattr", ino, name);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct ll *ll = begin(req);
	size_t len = 0;
	char *buf;
	int rc;

	if (is_past(ll, ino)) {
		lgfs_ll_past_listxattr(req, ino, size);
		return;
	}
	if (size == 0) {
		rc = lgfs_fs_listxattr(ll->fs, ino, NULL, 0, &len);
		if (rc) {
			reply_err(req, rc, "listxattr", ino, NULL);
			return;
		}
		fuse_reply_xattr(req, len);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		reply_err(req, -ENOMEM, "listxattr", ino, NULL);
		return;
	}
	rc = lgfs_fs_listxattr(ll->fs, ino, buf, size, &len);
	if (rc)
		reply_err(req, rc, "listxattr", ino, NULL);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

static void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct ll *ll = begin(req);
	struct lgfs_fs_ctx ctx = req_ctx(req);

	if (refuse_past(req, ll, ino, "removexattr", name))
		return;
	reply_err(req, lgfs_fs_removexattr(ll->fs, &ctx, ino, name), "removexattr", ino, name);
}

static const struct fuse_lowlevel_ops ll_ops = {
	.init = ll_init,
	.destroy = ll_destroy,
	.lookup = ll_lookup,
	.forget = ll_forget,
	.forget_multi = ll_forget_multi,
	.getattr = ll_getattr,
	.setattr = ll_setattr,
	.readlink = ll_readlink,
	.mknod = ll_mknod,
	.mkdir = ll_mkdir,
	.unlink = ll_unlink,
	.rmdir = ll_rmdir,
	.symlink = ll_symlink,
	.rename = ll_rename,
	.link = ll_link,
	.open = ll_open,
	.read = ll_read,
	.write_buf = ll_write_buf,
	.flush = ll_flush,
	.release = ll_release,
	.fsync = ll_fsync,
	.opendir = ll_opendir,
	.readdir = ll_readdir,
	.readdirplus = ll_readdirplus,
	.releasedir = ll_releasedir,
	.fsyncdir = ll_fsyncdir,
	.statfs = ll_statfs,
	.setxattr = ll_setxattr,
	.getxattr = ll_getxattr,
	.listxattr = ll_listxattr,
	.removexattr = ll_removexattr,
	.access = ll_access,
	.create = ll_create,
	.fallocate = ll_fallocate,
	.lseek = ll_lseek,
};

/* ---- mount and serve ---- */

/* Background: leave the terminal (the caller forked and called setsid()
 * before opening the fs). */
static void detach(void)
{
	int fd;

	if (chdir("/") != 0) {
		/* "/" always exists; nothing useful to do otherwise */
	}
	fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/* "default_permissions,fsname=ledgerfs:<volume>,subtype=ledgerfs[,ro][,allow_other]" */
static int mount_options(char **out, const struct lgfs_fuse_opts *o, int rdonly)
{
	char fsname[16 + 256];

	*out = NULL;
	snprintf(fsname, sizeof(fsname), "fsname=ledgerfs%s%.255s", o->volume ? ":" : "",
		 o->volume ? o->volume : "");
	if (fuse_opt_add_opt(out, "default_permissions") || fuse_opt_add_opt_escaped(out, fsname) ||
	    fuse_opt_add_opt(out, "subtype=ledgerfs") || (rdonly && fuse_opt_add_opt(out, "ro")) ||
	    (o->allow_other && fuse_opt_add_opt(out, "allow_other"))) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Mount and serve the current tree (past 0) or the state at `at`. */
static int run(struct lgfs_fs *fs, const char *mountpoint, const struct lgfs_fuse_opts *o, int past, uint64_t at)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	struct fuse_loop_config cfg;
	char *mopts = NULL, *absmp = NULL, why[256];
	struct stat sb;
	struct ll ll;
	int rc = 0, sig_set = 0, mounted = 0;

	/* Each worker's request buffer holds up to max_write (1 MiB) of data.
	 * Above glibc's default mmap threshold every such buffer would be a
	 * fresh mapping, page-faulted and zeroed on each request; keep them on
	 * the heap and reused. */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);

	/* Absolute: a background daemon leaves its working directory before
	 * it unmounts. */
	absmp = realpath(mountpoint, NULL);
	if (!absmp || stat(absmp, &sb) != 0) {
		rc = -errno;
		lgfs_error_set(LGFS_EINVAL, "mount point %s: %s", mountpoint, strerror(errno));
		free(absmp);
		return rc;
	}
	if (!S_ISDIR(sb.st_mode)) {
		lgfs_error_set(LGFS_EINVAL, "mount point %s is not a directory", mountpoint);
		free(absmp);
		return -ENOTDIR;
	}
	mountpoint = absmp;
	memset(&ll, 0, sizeof(ll));
	ll.fs = fs;
	ll.log = o->log ? o->log : stderr;
	ll.debug = o->debug;
	ll.volume = o->volume ? o->volume : "(unnamed)";
	ll.past = past;
	ll.at = at;
	if ((rc = lgfs_ll_past_init(&ll))) {
		lgfs_error_set(LGFS_ENOMEM, "out of memory");
		free(absmp);
		return rc;
	}
	pthread_mutex_init(&ll.files_mu, NULL);

	pthread_mutex_lock(&g_last_mu);
	g_last[0] = '\0';
	pthread_mutex_unlock(&g_last_mu);
	g_log = ll.log;
	fuse_set_log_func(fuse_log_to_file);

	if ((rc = mount_options(&mopts, o, o->rdonly || past)) || fuse_opt_add_arg(&args, "ledgerfs") ||
	    fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, mopts) ||
	    (o->debug && fuse_opt_add_arg(&args, "-d"))) {
		rc = -ENOMEM;
		lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto out;
	}
	se = fuse_session_new(&args, &ll_ops, sizeof(ll_ops), &ll);
	if (!se) {
		last_fuse_error(why, sizeof(why));
		lgfs_error_set(LGFS_ERROR, "creating the FUSE session: %s", why);
		rc = -EIO;
		goto out;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		lgfs_error_set(LGFS_ERROR, "installing signal handlers");
		rc = -EIO;
		goto out;
	}
	sig_set = 1;
	if (fuse_session_mount(se, mountpoint) != 0) {
		last_fuse_error(why, sizeof(why));
		lgfs_error_set(LGFS_ERROR, "mounting on %s: %s", mountpoint, why);
		rc = -EIO;
		goto out;
	}
	mounted = 1;
	lgfs_fuse_logf(ll.log, "mounted volume %s on %s%s%s (pid %d)", ll.volume, mountpoint,
		       past ? " as it was at a point in history, read-only" : o->rdonly ? " read-only" : "",
		       o->allow_other ? ", allow_other" : "", (int)getpid());
	if (!o->foreground)
		detach();
	if (o->ready)
		o->ready(o->ready_arg);

	memset(&cfg, 0, sizeof(cfg));
	cfg.clone_fd = 0;
	cfg.max_idle_threads = o->max_threads ? o->max_threads : 10;
	rc = fuse_session_loop_mt(se, &cfg);
	if (rc > 0) {
		lgfs_fuse_logf(ll.log, "signal %d (%s): unmounting %s", rc, strsignal(rc), mountpoint);
		rc = 0;
	} else if (rc < 0) {
		lgfs_error_set(LGFS_ERROR, "serving %s: %s", mountpoint, strerror(-rc));
		lgfs_fuse_logf(ll.log, "serving %s failed: %s", mountpoint, strerror(-rc));
	}
out:
	if (mounted) {
		fuse_session_unmount(se);
		lgfs_fuse_logf(ll.log, "unmounted volume %s from %s", ll.volume, mountpoint);
	}
	if (sig_set)
		fuse_remove_signal_handlers(se);
	if (se)
		fuse_session_destroy(se); /* calls destroy: makes everything durable */
	fuse_opt_free_args(&args);
	free(mopts);
	free(absmp);
	fuse_set_log_func(NULL);
	g_log = NULL;
	pthread_mutex_destroy(&ll.files_mu);
	lgfs_ll_past_fini(&ll);
	return rc;
}

int lgfs_fuse_run(struct lgfs_fs *fs, const char *mountpoint, const struct lgfs_fuse_opts *o)
{
	return run(fs, mountpoint, o, 0, 0);
}

int lgfs_fuse_run_at(struct lgfs_fs *fs, const char *mountpoint, const struct lgfs_fuse_opts *o, uint64_t at)
{
	return run(fs, mountpoint, o, 1, at);
}
