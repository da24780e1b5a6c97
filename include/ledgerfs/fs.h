/*
 * fs.h — POSIX semantics over the ledger (fs layer).
 *
 * An open volume as a file system: namespace, inodes, open files with
 * staged writes, xattrs. Every state change becomes one record: validated
 * against the current state, appended to the log (which assigns its index:
 * inode numbers are the creating record's index + 1, the root is 1), and
 * applied to the LMDB index by the same function that replays the log.
 * Writes are staged locally while a file is open (readers in the same
 * mount see them) and become one version — one write record naming a
 * content manifest — per close or fsync of a written file.
 *
 * Every function returns 0 or a negative errno: this layer speaks POSIX.
 * Messages for the daemon's log are in lgfs_error_last(). Thread-safe.
 */
#ifndef LGFS_FS_H
#define LGFS_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/statvfs.h>
#include <sys/types.h>

struct lgfs_key;
struct lgfs_fs;

enum lgfs_fs_flags {
	LGFS_FS_RDONLY = 1 << 0, /* no key needed; every change is EROFS */
	LGFS_FS_PRIVATE = 1 << 1, /* with RDONLY, for long-lived readers (a read-only mount): always
				   * a private verified replay, never the shared index, which a
				   * writer starting later would change under the reader */
};

/* Who asks: the acting identity recorded in every record. */
struct lgfs_fs_ctx {
	uint32_t uid;
	uint32_t gid;
	uint32_t umask; /* applied to create/mkdir modes */
};

struct lgfs_stat {
	uint64_t ino;
	uint32_t mode, nlink, uid, gid;
	uint64_t size, rdev, blocks; /* blocks of 512 bytes */
	int64_t atime, mtime, ctime; /* ns since the epoch */
};

/* Open a volume as a file system: the index is brought up to date with the
 * log (rebuilt when missing, behind, or not matching it). `key` is borrowed
 * and must outlive the fs (NULL with LGFS_FS_RDONLY). */
int lgfs_fs_open(struct lgfs_fs **out, const char *store, const char *volume, const struct lgfs_key *key,
		 int flags);
/* The bound of the cache of verified chunks each fs opened after this call
 * keeps (0: none): random reads of a file then fetch and hash each chunk
 * once, not once per read. Process-wide; a mount sets it from -o
 * chunk_cache=MiB. */
#define LGFS_FS_CHUNK_CACHE_DEFAULT ((size_t)64 << 20)
void lgfs_fs_set_chunk_cache(size_t bytes);

/* Commit every written open file, make everything durable, close. */
int lgfs_fs_close(struct lgfs_fs *fs);
/* Rebuild a volume's index from its verified log (the volume must not be
 * mounted: the caller holds the writer's lock, as `ledgerfs rebuild` does).
 * *entries gets the number of log entries replayed. */
int lgfs_fs_rebuild(const char *store, const char *volume, uint64_t *entries);

/* Sign and store a checkpoint of everything so far (made durable first):
 * the writer's `ledgerfs checkpoint --new`, done through the file system so
 * that its open verified the index too. *note malloc'd. */
int lgfs_fs_checkpoint(struct lgfs_fs *fs, char **note);

/* Where the log stands: entries, and how many are durable. */
void lgfs_fs_log_state(struct lgfs_fs *fs, uint64_t *entries, uint64_t *durable);

int lgfs_fs_lookup(struct lgfs_fs *fs, uint64_t parent, const char *name, struct lgfs_stat *st);
int lgfs_fs_getattr(struct lgfs_fs *fs, uint64_t ino, struct lgfs_stat *st);

/* What setattr changes (bit mask). */
enum {
	LGFS_SET_MODE = 1 << 0,
	LGFS_SET_UID = 1 << 1,
	LGFS_SET_GID = 1 << 2,
	LGFS_SET_SIZE = 1 << 3,
	LGFS_SET_ATIME = 1 << 4,
	LGFS_SET_MTIME = 1 << 5,
	LGFS_SET_ATIME_NOW = 1 << 6,
	LGFS_SET_MTIME_NOW = 1 << 7,
};
struct lgfs_setattr {
	unsigned int valid;
	uint32_t mode, uid, gid;
	uint64_t size;
	int64_t atime, mtime;
};
/* fh: the open file through which it was asked (ftruncate), or 0. */
int lgfs_fs_setattr(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t ino, uint64_t fh,
		    const struct lgfs_setattr *sa, struct lgfs_stat *st);
/* *len gets the target's length; the target is copied, NUL-terminated when
 * it fits in cap. */
int lgfs_fs_readlink(struct lgfs_fs *fs, uint64_t ino, char *buf, size_t cap, size_t *len);

int lgfs_fs_mknod(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t parent, const char *name,
		  uint32_t mode, uint64_t rdev, struct lgfs_stat *st);
int lgfs_fs_mkdir(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t parent, const char *name,
		  uint32_t mode, struct lgfs_stat *st);
int lgfs_fs_symlink(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t parent, const char *name,
		    const char *target, struct lgfs_stat *st);
int lgfs_fs_unlink(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t parent, const char *name);
int lgfs_fs_rmdir(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t parent, const char *name);
/* flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE. */
int lgfs_fs_rename(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t parent, const char *name,
		   uint64_t newparent, const char *newname, unsigned int flags);
int lgfs_fs_link(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t ino, uint64_t newparent,
		 const char *newname, struct lgfs_stat *st);

/* Open files. flags are open(2) flags (O_TRUNC is honoured). *fh is an
 * opaque handle for read/write/flush/release/fsync. */
int lgfs_fs_open_file(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t ino, int flags,
		      uint64_t *fh);
int lgfs_fs_create(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t parent, const char *name,
		   uint32_t mode, int flags, struct lgfs_stat *st, uint64_t *fh);
/* Read up to size bytes at off; *got is less at end of file. */
int lgfs_fs_read(struct lgfs_fs *fs, uint64_t fh, uint64_t off, void *buf, size_t size, size_t *got);
/* ctx: who writes; the version these bytes become is recorded as theirs. */
int lgfs_fs_write(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t fh, uint64_t off, const void *buf,
		  size_t size);
/* close(2) of one descriptor: a written file becomes a new version. */
int lgfs_fs_flush(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t fh);
/* Last close of the handle (commits too if still written). */
int lgfs_fs_release(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t fh);
/* New version if written, then wait until its record and chunks are durable. */
int lgfs_fs_fsync(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t fh);
/* mode 0 only: make [off, off+len) part of the file (extends the size). */
int lgfs_fs_fallocate(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t fh, int mode, uint64_t off,
		      uint64_t len);
/* SEEK_DATA / SEEK_HOLE (the whole file counts as data). */
int lgfs_fs_lseek(struct lgfs_fs *fs, uint64_t fh, int64_t off, int whence, uint64_t *out);

/* Directories. An entry callback returns non-zero when its buffer is full
 * (the entry was not taken). `next` is the offset to resume after it. */
typedef int (*lgfs_fs_dir_cb)(void *arg, const char *name, const struct lgfs_stat *st, uint64_t next);
int lgfs_fs_opendir(struct lgfs_fs *fs, uint64_t ino, uint64_t *dh);
int lgfs_fs_readdir(struct lgfs_fs *fs, uint64_t dh, uint64_t off, lgfs_fs_dir_cb cb, void *arg);
void lgfs_fs_releasedir(struct lgfs_fs *fs, uint64_t dh);

/* Make everything so far durable (fsyncdir, syncfs). */
int lgfs_fs_sync(struct lgfs_fs *fs);
int lgfs_fs_statfs(struct lgfs_fs *fs, struct statvfs *out);

/* flags: 0, XATTR_CREATE or XATTR_REPLACE. */
int lgfs_fs_setxattr(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t ino, const char *name,
		     const void *value, size_t size, int flags);
/* cap 0: only *len (the value's size). -ERANGE when cap is too small. */
int lgfs_fs_getxattr(struct lgfs_fs *fs, uint64_t ino, const char *name, void *buf, size_t cap, size_t *len);
/* NUL-separated names, same cap rules. */
int lgfs_fs_listxattr(struct lgfs_fs *fs, uint64_t ino, char *buf, size_t cap, size_t *len);
int lgfs_fs_removexattr(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t ino, const char *name);

/* Archive ingest without mounting: make `path` (absolute in the volume)
 * hold exactly the bytes read from fd, as one new version (one create
 * record if it is new, one write record). Missing parent directories are
 * created with mode 0755. st gets the file's attributes. */
int lgfs_fs_put_fd(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, const char *path, int fd, uint32_t mode,
		   struct lgfs_stat *st);

/* Resolve an absolute path inside the volume ("/a/b"); symlinks are not
 * followed. */
int lgfs_fs_resolve(struct lgfs_fs *fs, const char *path, uint64_t *ino);

#endif
