/*
 * sys.c — the table of system calls used by the file stores, and two loops
 * over it for complete reads and writes (util layer). See sys.h.
 *
 * The defaults are thin wrappers rather than the libc symbols themselves so
 * that every entry has exactly the table's prototype (open(2) is variadic,
 * and some libc functions are macros or have attributes that differ).
 */
#include "ledgerfs/sys.h"
#include "ledgerfs/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* Real calls, one wrapper each; see the table in sys.h for the contract. */
static int real_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags, mode);
}

static int real_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	return openat(dirfd, path, flags, mode);
}

static int real_close(int fd)
{
	return close(fd);
}

static ssize_t real_pread(int fd, void *buf, size_t n, off_t off)
{
	return pread(fd, buf, n, off);
}

static ssize_t real_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite(fd, buf, n, off);
}

static ssize_t real_pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	return pwritev(fd, iov, iovcnt, off);
}

static ssize_t real_write(int fd, const void *buf, size_t n)
{
	return write(fd, buf, n);
}

static int real_fsync(int fd)
{
	return fsync(fd);
}

static int real_fdatasync(int fd)
{
	return fdatasync(fd);
}

static int real_ftruncate(int fd, off_t len)
{
	return ftruncate(fd, len);
}

static int real_fstat(int fd, struct stat *st)
{
	return fstat(fd, st);
}

static int real_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	return fstatat(dirfd, path, st, flags);
}

static int real_mkdir(const char *path, mode_t mode)
{
	return mkdir(path, mode);
}

static int real_mkdirat(int dirfd, const char *path, mode_t mode)
{
	return mkdirat(dirfd, path, mode);
}

static int real_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
			  unsigned int flags)
{
	return renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

static int real_unlinkat(int dirfd, const char *path, int flags)
{
	return unlinkat(dirfd, path, flags);
}

static int real_flock(int fd, int op)
{
	return flock(fd, op);
}

static DIR *real_fdopendir(int fd)
{
	return fdopendir(fd);
}

static struct dirent *real_readdir(DIR *d)
{
	return readdir(d);
}

static int real_closedir(DIR *d)
{
	return closedir(d);
}

/* The defaults, kept separately so that lgfs_sys_reset() can restore them. */
static const struct lgfs_sys sys_default = {
	.open = real_open,
	.openat = real_openat,
	.close = real_close,
	.pread = real_pread,
	.pwrite = real_pwrite,
	.pwritev = real_pwritev,
	.write = real_write,
	.fsync = real_fsync,
	.fdatasync = real_fdatasync,
	.ftruncate = real_ftruncate,
	.fstat = real_fstat,
	.fstatat = real_fstatat,
	.mkdir = real_mkdir,
	.mkdirat = real_mkdirat,
	.renameat2 = real_renameat2,
	.unlinkat = real_unlinkat,
	.flock = real_flock,
	.fdopendir = real_fdopendir,
	.readdir = real_readdir,
	.closedir = real_closedir,
};

struct lgfs_sys lgfs_sys = {
	.open = real_open,
	.openat = real_openat,
	.close = real_close,
	.pread = real_pread,
	.pwrite = real_pwrite,
	.pwritev = real_pwritev,
	.write = real_write,
	.fsync = real_fsync,
	.fdatasync = real_fdatasync,
	.ftruncate = real_ftruncate,
	.fstat = real_fstat,
	.fstatat = real_fstatat,
	.mkdir = real_mkdir,
	.mkdirat = real_mkdirat,
	.renameat2 = real_renameat2,
	.unlinkat = real_unlinkat,
	.flock = real_flock,
	.fdopendir = real_fdopendir,
	.readdir = real_readdir,
	.closedir = real_closedir,
};

/* Tests override entries one by one; this undoes all of them at once. */
void lgfs_sys_reset(void)
{
	lgfs_sys = sys_default;
}

/* A single pwrite may write less than asked (signals, some file systems);
 * callers want all or an error. */
int lgfs_sys_pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
	const unsigned char *p = buf;

	while (n) {
		ssize_t w = lgfs_sys.pwrite(fd, p, n, off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

/* Readers want a full buffer unless the file ends; this hides short reads. */
ssize_t lgfs_sys_pread_full(int fd, void *buf, size_t n, off_t off)
{
	unsigned char *p = buf;
	size_t got = 0;

	while (got < n) {
		ssize_t r = lgfs_sys.pread(fd, p + got, n - got, off + (off_t)got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Sync the directory that holds `path`, so a new entry in it is durable. */
static int sync_parent_of(const char *path)
{
	char *p = strdup(path), *slash;
	int fd, rc = 0;

	if (!p)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	slash = strrchr(p, '/');
	if (slash == p)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(p, ".");
	fd = lgfs_sys.open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd >= 0) {
		if (lgfs_sys.fsync(fd) < 0)
			rc = lgfs_error_errno(LGFS_EIO, "syncing %s", p);
		lgfs_sys.close(fd);
	}
	free(p);
	return rc;
}

int lgfs_sys_mkdirs(const char *path, mode_t mode)
{
	char *p = strdup(path), *s, c;
	int rc = 0;

	if (!p)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	for (s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		c = *s;
		*s = '\0';
		if (lgfs_sys.mkdir(p, mode) == 0) {
			if ((rc = sync_parent_of(p)))
				break;
		} else if (errno != EEXIST) {
			rc = lgfs_error_errno(LGFS_EIO, "creating %s", p);
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return rc;
}
