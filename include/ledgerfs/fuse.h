/*
 * fuse.h — serve an open volume to the kernel through FUSE (fuse layer).
 *
 * The only module that knows libfuse: it turns kernel requests into calls
 * of the fs layer (fs.h) and their results into replies, each request
 * answered exactly once. The kernel checks permissions itself from our
 * attributes (mount option default_permissions); the acting identity of
 * every change is the calling process's uid/gid/umask.
 *
 * Background mode and threads: the fs layer runs threads of its own from
 * lgfs_fs_open() on (the ledger's committer), and a fork() keeps only the
 * calling thread. lgfs_fuse_run() therefore never forks. A caller that wants
 * a daemon forks *before* lgfs_fs_open(), opens the fs in the child and asks
 * for `ready`: it is called once the mount is usable, so the waiting parent
 * can exit then (cli/cmd_mount.c does exactly this). libfuse's own
 * fuse_daemonize() — fork after mount — would lose those threads.
 */
#ifndef LGFS_FUSE_H
#define LGFS_FUSE_H

#include <stdint.h>

#include <stdio.h>

struct lgfs_fs;

/* How to mount and serve. Zero-initialise, then set what you need. */
struct lgfs_fuse_opts {
	int foreground;           /* 0: once mounted, detach from the terminal (chdir("/"),
				   * stdin/stdout/stderr to /dev/null); never forks, see above */
	int rdonly;               /* mount option "ro" (open the fs with LGFS_FS_RDONLY too) */
	int allow_other;          /* mount option "allow_other" (other users may enter) */
	int debug;                /* libfuse's request trace, into `log` */
	unsigned int max_threads; /* idle worker threads libfuse keeps (max_idle_threads);
				   * 0: 10. With API 3.4, libfuse 3.14 runs at most 10
				   * workers at once whatever this says */
	FILE *log;                /* daemon log: fs errors, libfuse messages, mount and
				   * unmount; one timestamped line each. NULL: stderr */
	const char *volume;       /* shown as fsname "ledgerfs:<volume>"; NULL: "ledgerfs" */
	/* Called once, from the calling thread, after the mount is usable and
	 * (unless foreground) the process detached, before requests are
	 * served. May be NULL. */
	void (*ready)(void *arg);
	void *ready_arg;
};

/* Mount fs at mountpoint and serve it until it is unmounted (fusermount3
 * -u, umount) or the process gets SIGINT, SIGTERM or SIGHUP; then unmount
 * if still mounted and return. fs is borrowed: the caller closes it after.
 * Returns 0, or a negative errno with a message in lgfs_error_last():
 * -ENOENT / -ENOTDIR for a bad mount point, -EIO when libfuse cannot
 * create the session or mount (its message is in the log and in
 * lgfs_error_last()). */
int lgfs_fuse_run(struct lgfs_fs *fs, const char *mountpoint, const struct lgfs_fuse_opts *o);

/* Like lgfs_fuse_run, serving the whole tree as it was at log index `at`
 * (history.h): read-only, every change EROFS, content read through
 * lgfs_past_*. The fs should be opened with LGFS_FS_RDONLY |
 * LGFS_FS_PRIVATE and o->rdonly set. Every mount, past or not, also has
 * the hidden directory /.ledgerfs (see fuse_ll.c). */
int lgfs_fuse_run_at(struct lgfs_fs *fs, const char *mountpoint, const struct lgfs_fuse_opts *o, uint64_t at);

/* One line in a daemon log: "2024-01-02T03:04:05.678Z <message>\n",
 * written with one stdio call (lines from threads do not interleave).
 * log NULL: stderr. */
void lgfs_fuse_logf(FILE *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
