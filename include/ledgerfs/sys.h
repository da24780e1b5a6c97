/*
 * sys.h — the system calls of the file stores, behind a table of function
 * pointers (util layer).
 *
 * The file:// stores do all their file and directory I/O through lgfs_sys
 * instead of calling the C library directly. The table starts out pointing at
 * the real calls; a test may replace single entries with functions that fail
 * with EIO or ENOSPC on chosen calls, exercise the store, and then call
 * lgfs_sys_reset(). This is SQLite's VFS "system call override" idea: the
 * error paths that matter most (a full disk, a dying disk) get tested without
 * a special file system.
 *
 * Every entry behaves exactly like the call it is named after (return value,
 * errno). The table is process-global and not locked: override it only while
 * no store is in use by another thread, which is what tests do.
 */
#ifndef LGFS_SYS_H
#define LGFS_SYS_H

#include <dirent.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

struct lgfs_sys {
	/* open(2)/openat(2); `mode` is used only with O_CREAT or O_TMPFILE. */
	int (*open)(const char *path, int flags, mode_t mode);
	int (*openat)(int dirfd, const char *path, int flags, mode_t mode);
	int (*close)(int fd);
	ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
	ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
	ssize_t (*pwritev)(int fd, const struct iovec *iov, int iovcnt, off_t off);
	ssize_t (*write)(int fd, const void *buf, size_t n);
	int (*fsync)(int fd);
	int (*fdatasync)(int fd);
	int (*ftruncate)(int fd, off_t len);
	int (*fstat)(int fd, struct stat *st);
	int (*fstatat)(int dirfd, const char *path, struct stat *st, int flags);
	int (*mkdir)(const char *path, mode_t mode);
	int (*mkdirat)(int dirfd, const char *path, mode_t mode);
	int (*renameat2)(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
			 unsigned int flags);
	int (*unlinkat)(int dirfd, const char *path, int flags);
	int (*flock)(int fd, int op);
	/* Directory listing: fdopendir takes ownership of fd on success. */
	DIR *(*fdopendir)(int fd);
	struct dirent *(*readdir)(DIR *d);
	int (*closedir)(DIR *d);
	/* Only ever append entries here (tests assign them by name). */
};

/* The table used by the file stores. Starts out with the real calls. */
extern struct lgfs_sys lgfs_sys;

/* Put the real calls back into every entry of lgfs_sys. */
void lgfs_sys_reset(void);

/* pwrite until all n bytes are written at off, retrying on EINTR and short
 * writes. 0, or -1 with errno set (a write that makes no progress is ENOSPC). */
int lgfs_sys_pwrite_all(int fd, const void *buf, size_t n, off_t off);

/* pread until n bytes are read or end of file, retrying on EINTR. Returns the
 * bytes read (< n only at end of file), or -1 with errno set. */
ssize_t lgfs_sys_pread_full(int fd, void *buf, size_t n, off_t off);

/* mkdir -p: create every missing directory of `path` with `mode`, syncing
 * the parent of each one created so that it survives a crash. */
int lgfs_sys_mkdirs(const char *path, mode_t mode);

#endif
