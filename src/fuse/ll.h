/*
 * ll.h — what the FUSE adapter's two halves share (fuse layer, private).
 *
 * fuse_ll.c serves the volume's current tree and owns the session;
 * ll_past.c serves the past: the hidden directory /.ledgerfs (at/POINT,
 * history/PATH) in every mount, and the whole tree of a mount made with
 * --at. fuse_ll.c hands every request about a node that is not a current
 * inode to ll_past.c (lgfs_ll_past_owns decides).
 */
#ifndef LGFS_FUSE_LL_H
#define LGFS_FUSE_LL_H

#define FUSE_USE_VERSION 34

#include <fuse_lowlevel.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "ledgerfs/fs.h"

struct lgfs_past_file;
struct lgfs_ll_vtab;

/* The name of the hidden directory in the root of every mount. */
#define LGFS_LL_META ".ledgerfs"

/* One mounted session: what every handler reaches through
 * fuse_req_userdata(). */
struct ll {
	struct lgfs_fs *fs;   /* borrowed from the caller of lgfs_fuse_run */
	FILE *log;            /* daemon log (never NULL) */
	int debug;            /* log every error reply, not only the unusual ones */
	const char *volume;   /* for log lines */
	pthread_mutex_t files_mu;  /* guards the list of open files */
	struct ll_file *files;     /* open files the kernel has not released yet */
	int past;             /* a mount of the state at `at`: the whole tree is past (ll_past.c) */
	uint64_t at;          /* with past: the point mounted */
	struct lgfs_ll_vtab *vt;   /* numbers of past nodes and history directories (ll_past.c) */
	uint32_t uid, gid;    /* owner shown for the virtual directories: who mounted */
	int64_t started_ns;   /* their times: when the mount started */
};

/* What fi->fh points to for an open file. */
struct ll_file {
	uint64_t fh;               /* the fs layer's handle (current files) */
	struct lgfs_past_file *past; /* a past file instead (read-only): its reader */
	pthread_mutex_t mu;        /* with past: one read at a time (the reader keeps
				    * a running hash of what was read in order) */
	struct lgfs_fs_ctx opener; /* acts at release: the kernel sends RELEASE without
				    * the caller's credentials (uid 0), and release may
				    * still commit a version (writes through mmap) */
	struct ll_file *prev, *next; /* in ll->files: a session that ends (a signal)
				    * with files still open releases them itself */
};

/* ---- fuse_ll.c, for ll_past.c ---- */

struct ll *lgfs_ll_begin(fuse_req_t req);
void lgfs_ll_files_add(struct ll *ll, struct ll_file *f);
void lgfs_ll_files_del(struct ll *ll, struct ll_file *f);
void lgfs_ll_to_stat(struct stat *out, const struct lgfs_stat *st);
/* Reply with an fs-layer result (0 or a negative errno), logged when
 * unusual; the _io form logs every error (I/O on an open file). */
void lgfs_ll_reply_err(fuse_req_t req, int rc, const char *op, uint64_t ino, const char *name);
void lgfs_ll_reply_io_err(fuse_req_t req, int rc, const char *op, uint64_t ino);
void lgfs_ll_log_failure(const struct ll *ll, fuse_req_t req, const char *op, uint64_t ino, const char *name,
			 int err, int always);
int lgfs_ll_to_errno(int rc);

/* ---- ll_past.c ---- */

int lgfs_ll_past_init(struct ll *ll);
void lgfs_ll_past_fini(struct ll *ll);
/* Is FUSE inode `ino` served by ll_past.c (anything but a current inode)? */
int lgfs_ll_past_owns(const struct ll *ll, uint64_t ino);
/* Lookup of /.ledgerfs in the root of a mount of the current tree. */
void lgfs_ll_past_lookup_meta(fuse_req_t req);

/* The handlers of ll_past.c, with fuse_lowlevel_ops' arguments, for the
 * nodes it owns. Every change is EROFS. */
void lgfs_ll_past_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void lgfs_ll_past_forget(struct ll *ll, fuse_ino_t ino, uint64_t nlookup);
void lgfs_ll_past_getattr(fuse_req_t req, fuse_ino_t ino);
void lgfs_ll_past_readlink(fuse_req_t req, fuse_ino_t ino);
void lgfs_ll_past_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lgfs_ll_past_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void lgfs_ll_past_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lgfs_ll_past_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi);
void lgfs_ll_past_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lgfs_ll_past_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi,
			  int plus);
void lgfs_ll_past_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lgfs_ll_past_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void lgfs_ll_past_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void lgfs_ll_past_access(fuse_req_t req, fuse_ino_t ino);
/* Close a past file the kernel never released (the session ended). */
void lgfs_ll_past_file_free(struct ll_file *f);

#endif
