/*
 * cmd_mount.c — `ledgerfs mount` and `ledgerfs umount` (cli layer).
 *
 * mount opens a volume as a file system (fs.h) and serves it through FUSE
 * (fuse.h). In the background — the default — the process forks *before*
 * opening the volume, because the fs layer starts threads that a later
 * fork would lose: the child opens, mounts and serves; the parent waits on
 * a pipe until the child says the mount is usable (exit 0) or why it is not
 * (message, exit 1). The daemon's log is <store>/volumes/<VOLUME>/mount.log.
 * With --at POINT (or -o at=POINT) the mount is read-only and shows the
 * volume as it was at that point in history (ledgerfs/fuse.h); the point is
 * resolved once the volume is open, before mounting, so a bad one fails
 * the command (exit 1).
 * umount first checks in /proc/self/mountinfo that DIR is a ledgerfs mount
 * (fuse.ledgerfs, source ledgerfs[:VOLUME], as fuse_ll.c mounts it) and
 * refuses anything else; then fusermount3 -u, then a wait for the daemon to
 * finish closing the volume (see "mount locks" below).
 */
#include "cli.h"

#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/fs.h"
#include "ledgerfs/fuse.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/history.h"
#include "ledgerfs/ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* First byte on the status pipe from the daemon to its waiting parent. */
#define MOUNT_READY 'R' /* mounted and serving */
#define MOUNT_ERROR 'E' /* followed by a message, then the pipe closes */

/* The point of --at / -o at= (malloc'd in *spec): given once, or twice
 * the same. 0, or a usage error. */
static int set_point(char **spec, const char *value)
{
	if (!*value)
		return cli_usage("mount", "--at needs a POINT: a log index, an RFC 3339 time or PATH@N");
	if (*spec && strcmp(*spec, value))
		return cli_usage("mount", "two different points in history given ('%s' and '%s')", *spec, value);
	if (!*spec && !(*spec = strdup(value)))
		return cli_fail("out of memory");
	return 0;
}

/* Parse one -o argument (comma-separated) into o and *at_spec. 0, or a
 * usage error. */
static int parse_mount_opts(const char *arg, struct lgfs_fuse_opts *o, char **at_spec)
{
	char *copy = strdup(arg), *save = NULL, *opt;
	int rc = 0;

	if (!copy)
		return cli_fail("out of memory");
	for (opt = strtok_r(copy, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		if (!strcmp(opt, "ro"))
			o->rdonly = 1;
		else if (!strcmp(opt, "allow_other"))
			o->allow_other = 1;
		else if (!strcmp(opt, "debug"))
			o->debug = 1;
		else if (!strncmp(opt, "at=", 3)) {
			if ((rc = set_point(at_spec, opt + 3)))
				break;
		} else if (!strncmp(opt, "chunk_cache=", 12)) {
			unsigned long long mib;

			if (cli_parse_u64(opt + 12, &mib) || mib > 65536) {
				rc = cli_usage("mount", "chunk_cache takes MiB, 0..65536");
				break;
			}
			lgfs_fs_set_chunk_cache((size_t)mib << 20);
		} else {
			rc = cli_usage("mount",
				       "unknown mount option '%s' (known: ro, allow_other, debug, at=POINT, chunk_cache=MiB)",
				       opt);
			break;
		}
	}
	free(copy);
	return rc;
}

/* A user's path made safe to print (escape.h) into buf; returns buf. */
static const char *shown(const char *path, char *buf, size_t cap)
{
	lgfs_escape(buf, cap, path, strlen(path));
	return buf;
}

/* Open the volume; a clear message (returned in msg) when it cannot be. */
static int open_volume(struct lgfs_fs **out, const char *store, const char *volume, const struct lgfs_key *key,
		       int rdonly, char *msg, size_t cap)
{
	int rc = lgfs_fs_open(out, store, volume, key, rdonly ? LGFS_FS_RDONLY | LGFS_FS_PRIVATE : 0);
	char esc[512];

	if (rc == -EBUSY)
		snprintf(msg, cap, "volume '%s' is already mounted (or open for writing by another process): %s",
			 volume, lgfs_error_last());
	else if (rc == -ENOENT)
		snprintf(msg, cap, "no volume '%s' in %s: %s", volume, shown(store, esc, sizeof(esc)),
			 lgfs_error_last());
	else if (rc == -EACCES)
		snprintf(msg, cap, "volume '%s': your key may not write to it: %s", volume, lgfs_error_last());
	else if (rc)
		snprintf(msg, cap, "opening volume '%s': %s", volume, lgfs_error_last());
	return rc;
}

/* With --at: the point in the open volume (*at), and o->volume shown as
 * VOLUME@INDEX (fsname, log lines) from shown_vol (cap bytes). A clear
 * message in msg when the point is not one. */
static int open_point(struct lgfs_fs *fs, const char *spec, uint64_t *at, struct lgfs_fuse_opts *o,
		      char *shown_vol, size_t cap, char *msg, size_t msgcap)
{
	char esc[512];
	int rc = lgfs_fs_point(fs, spec, at);

	if (rc) {
		snprintf(msg, msgcap, "volume '%s': --at %s: %s", o->volume, shown(spec, esc, sizeof(esc)),
			 lgfs_error_last());
		return rc;
	}
	snprintf(shown_vol, cap, "%s@%llu", o->volume, (unsigned long long)*at);
	o->volume = shown_vol;
	return 0;
}

/* ---- mount locks ----
 *
 * fusermount3 -u returns as soon as the kernel lets go of the mount, while
 * the daemon is still committing open files and closing the volume — and
 * holding the volume's writer lock: a mount or a write right after the
 * umount would find the volume busy. So a daemon holds an flock on a file
 * named after its mount point, in a runtime directory of the user, from
 * before it mounts until it has closed the volume; umount waits for it.
 * Best effort: without the directory, umount just does not wait.
 */

#define UMOUNT_WAIT_S 60

/* /run/ledgerfs for root, else $XDG_RUNTIME_DIR/ledgerfs, else
 * /tmp/ledgerfs-UID; created 0700, and trusted only if it is our own
 * directory (not a symlink planted in /tmp). */
static int run_dir(char *out, size_t cap)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	uid_t uid = geteuid();
	struct stat sb;

	if (uid == 0)
		snprintf(out, cap, "/run/ledgerfs");
	else if (xdg && xdg[0] == '/')
		snprintf(out, cap, "%s/ledgerfs", xdg);
	else
		snprintf(out, cap, "/tmp/ledgerfs-%u", (unsigned int)uid);
	if (mkdir(out, 0700) != 0 && errno != EEXIST)
		return -1;
	if (lstat(out, &sb) != 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != uid)
		return -1;
	return 0;
}

/* <run dir>/<first 32 hex of SHA-256 of the mount point's real path>.lock */
static int mount_lock_path(char *out, size_t cap, const char *dir)
{
	char rd[PATH_MAX], hex[2 * 16 + 1], *abs = realpath(dir, NULL);
	uint8_t h[LGFS_HASH_LEN];

	if (!abs)
		return -1;
	lgfs_sha256(h, abs, strlen(abs));
	free(abs);
	lgfs_hex(hex, h, 16);
	if (run_dir(rd, sizeof(rd)))
		return -1;
	return (size_t)snprintf(out, cap, "%s/%s.lock", rd, hex) < cap ? 0 : -1;
}

/* A daemon's hold on its mount lock. */
struct mount_lock {
	int fd; /* -1: none */
	char path[PATH_MAX];
};

static void mount_lock_take(struct mount_lock *ml, const char *dir)
{
	ml->fd = -1;
	if (mount_lock_path(ml->path, sizeof(ml->path), dir))
		return;
	ml->fd = open(ml->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (ml->fd >= 0 && flock(ml->fd, LOCK_EX | LOCK_NB) != 0) {
		close(ml->fd); /* another daemon on the same directory (stacked mounts) */
		ml->fd = -1;
	}
}

/* Unlinked while still held: a waiting umount holds the old file open and
 * gets its lock now; the next mount here makes a new one. */
static void mount_lock_release(struct mount_lock *ml)
{
	if (ml->fd < 0)
		return;
	unlink(ml->path);
	close(ml->fd);
	ml->fd = -1;
}

/* umount: wait until the daemon that served dir is done. */
static void mount_lock_wait(const char *path, const char *dir)
{
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), i;

	if (fd < 0)
		return; /* no daemon holds one */
	for (i = 0; i < UMOUNT_WAIT_S * 20; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR)
			break;
		nanosleep(&pause, NULL);
	}
	if (i == UMOUNT_WAIT_S * 20)
		fprintf(stderr, "ledgerfs: %s is unmounted; its daemon is still closing the volume\n", dir);
	close(fd);
}

/* Serve an open volume until it is unmounted, then close it. Returns 0,
 * or 1 with the reason in why (also in the log when it happened after the
 * mount, when only the log can still be read). */
static int serve(struct lgfs_fs *fs, const char *dir, struct lgfs_fuse_opts *o, int past, uint64_t at, char *why,
		 size_t cap)
{
	struct mount_lock ml;
	int rc, status = 0;

	why[0] = '\0';
	mount_lock_take(&ml, dir);
	rc = past ? lgfs_fuse_run_at(fs, dir, o, at) : lgfs_fuse_run(fs, dir, o);
	if (rc) {
		snprintf(why, cap, "%s", lgfs_error_last());
		status = 1;
	}
	rc = lgfs_fs_close(fs);
	if (rc) {
		lgfs_fuse_logf(o->log, "closing volume %s: %s: %s", o->volume, strerror(-rc), lgfs_error_last());
		if (!why[0])
			snprintf(why, cap, "closing volume %s: %s", o->volume, lgfs_error_last());
		status = 1;
	} else {
		lgfs_fuse_logf(o->log, "volume %s closed", o->volume);
	}
	mount_lock_release(&ml);
	return status;
}

/* ---- background ---- */

/* The daemon's end of the status pipe. */
struct daemon_pipe {
	int fd;
};

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Called by lgfs_fuse_run once the mount is usable: the parent may go. */
static void daemon_ready(void *arg)
{
	struct daemon_pipe *p = arg;
	char c = MOUNT_READY;

	if (p->fd >= 0) {
		write_all(p->fd, &c, 1);
		close(p->fd);
		p->fd = -1;
	}
}

static void daemon_fail(struct daemon_pipe *p, const char *msg)
{
	char c = MOUNT_ERROR;

	if (p->fd >= 0) {
		write_all(p->fd, &c, 1);
		write_all(p->fd, msg, strlen(msg));
		close(p->fd);
		p->fd = -1;
	}
}

/* The parent: wait for the daemon's word. */
static int await_daemon(int fd, pid_t pid, const char *logpath)
{
	char buf[1024];
	size_t n = 0;
	int status;

	for (;;) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == sizeof(buf) - 1)
			break;
	}
	close(fd);
	buf[n] = '\0';
	if (n >= 1 && buf[0] == MOUNT_READY)
		return 0;
	waitpid(pid, &status, 0);
	if (n >= 1 && buf[0] == MOUNT_ERROR)
		return cli_fail("%s", buf + 1);
	return cli_fail("mount failed: the daemon exited before mounting (see %s)", logpath);
}

/* The log file of a background mount: appended, one line per event. */
static FILE *open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	FILE *f;

	if (fd < 0)
		return NULL;
	f = fdopen(fd, "a");
	if (!f) {
		close(fd);
		return NULL;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	return f;
}

static int mount_background(const char *store, const char *volume, const char *dir, const struct lgfs_key *key,
			    struct lgfs_fuse_opts *o, const char *at_spec, const char *logpath)
{
	struct daemon_pipe dp;
	struct lgfs_fs *fs = NULL;
	char msg[1024], shown_vol[300];
	uint64_t at = 0;
	int fds[2], status;
	pid_t pid;

	o->log = open_log(logpath);
	if (!o->log)
		return cli_fail("cannot open the log %s: %s (mount with -f to log to the terminal)", logpath,
				strerror(errno));
	if (pipe2(fds, O_CLOEXEC) != 0) {
		fclose(o->log);
		return cli_fail("pipe: %s", strerror(errno));
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		fclose(o->log);
		return cli_fail("fork: %s", strerror(errno));
	}
	if (pid > 0) {
		close(fds[1]);
		fclose(o->log);
		return await_daemon(fds[0], pid, logpath);
	}

	/* The daemon: its own session, so the terminal's SIGINT and SIGHUP
	 * are not for it; it stops on SIGTERM or an unmount. */
	close(fds[0]);
	dp.fd = fds[1];
	setsid();
	if (open_volume(&fs, store, volume, key, o->rdonly, msg, sizeof(msg))) {
		lgfs_fuse_logf(o->log, "mount: %s", msg);
		daemon_fail(&dp, msg);
		fclose(o->log);
		return 1;
	}
	if (at_spec && open_point(fs, at_spec, &at, o, shown_vol, sizeof(shown_vol), msg, sizeof(msg))) {
		lgfs_fuse_logf(o->log, "mount: %s", msg);
		lgfs_fs_close(fs);
		daemon_fail(&dp, msg);
		fclose(o->log);
		return 1;
	}
	o->ready = daemon_ready;
	o->ready_arg = &dp;
	status = serve(fs, dir, o, at_spec != NULL, at, msg, sizeof(msg));
	if (status)
		lgfs_fuse_logf(o->log, "mount: %s", msg);
	if (dp.fd >= 0) /* never got mounted: tell the parent why */
		daemon_fail(&dp, msg[0] ? msg : "mount failed");
	fclose(o->log);
	return status;
}

int cmd_mount(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "options", required_argument, NULL, 'o' },
		{ "at", required_argument, NULL, 'a' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	const char *storeopt = NULL, *keyopt = NULL, *volume, *dir;
	struct lgfs_fuse_opts o;
	struct lgfs_key *k = NULL;
	struct lgfs_fs *fs = NULL;
	char *store = NULL, *abs, *voldir = NULL, *logpath = NULL, *at_spec = NULL, msg[1024], esc[512];
	char shown_vol[300];
	uint64_t at = 0;
	struct stat sb;
	int c, rc = 1;

	memset(&o, 0, sizeof(o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:k:fo:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'k': keyopt = optarg; break;
		case 'f': o.foreground = 1; break;
		case 'o':
			if ((rc = parse_mount_opts(optarg, &o, &at_spec)))
				goto out;
			break;
		case 'a':
			if ((rc = set_point(&at_spec, optarg)))
				goto out;
			break;
		case 'h': rc = cli_help("mount"); goto out;
		default: rc = cli_usage("mount", "unknown option"); goto out;
		}
	}
	rc = 1;
	if (optind + 2 != argc) {
		rc = cli_usage("mount", optind >= argc ? "missing VOLUME and DIR"
					: optind + 1 == argc ? "missing DIR" : "too many arguments");
		goto out;
	}
	volume = argv[optind];
	dir = argv[optind + 1];
	if (!lgfs_volume_name_valid(volume)) {
		rc = cli_usage("mount", "invalid volume name '%s'", shown(volume, esc, sizeof(esc)));
		goto out;
	}
	if (stat(dir, &sb) != 0) {
		rc = cli_fail("mount point %s: %s", shown(dir, esc, sizeof(esc)),
			      errno == ENOENT ? "does not exist" : strerror(errno));
		goto out;
	}
	if (!S_ISDIR(sb.st_mode)) {
		rc = cli_fail("mount point %s is not a directory", shown(dir, esc, sizeof(esc)));
		goto out;
	}
	if (at_spec)
		o.rdonly = 1; /* the past is read-only: no key needed */

	store = cli_store(storeopt);
	if (!store)
		goto out;
	/* Absolute: the daemon leaves the working directory (chdir("/")),
	 * and the fs layer opens files of the store for as long as it runs. */
	abs = realpath(store, NULL);
	if (!abs) {
		rc = errno == ENOENT
			     ? cli_fail("no store at %s (create a volume with 'ledgerfs init')",
					shown(store, esc, sizeof(esc)))
			     : cli_fail("store %s: %s", shown(store, esc, sizeof(esc)), strerror(errno));
		goto out;
	}
	free(store);
	store = abs;
	if (lgfs_volume_dir(&voldir, store, volume)) {
		rc = cli_fail_lib("mount");
		goto out;
	}
	if (stat(voldir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		rc = cli_fail("no volume '%s' in %s (see 'ledgerfs volumes')", volume, shown(store, esc, sizeof(esc)));
		goto out;
	}
	if (!o.rdonly) {
		k = cli_key(keyopt);
		if (!k) {
			rc = 1;
			goto out;
		}
	}
	o.volume = volume;

	if (!o.foreground) {
		if (asprintf(&logpath, "%s/mount.log", voldir) < 0) {
			logpath = NULL;
			rc = cli_fail("out of memory");
			goto out;
		}
		rc = mount_background(store, volume, dir, k, &o, at_spec, logpath);
		goto out;
	}

	o.log = stderr;
	if (open_volume(&fs, store, volume, k, o.rdonly, msg, sizeof(msg))) {
		rc = cli_fail("%s", msg);
		goto out;
	}
	if (at_spec && open_point(fs, at_spec, &at, &o, shown_vol, sizeof(shown_vol), msg, sizeof(msg))) {
		lgfs_fs_close(fs);
		rc = cli_fail("%s", msg);
		goto out;
	}
	rc = serve(fs, dir, &o, at_spec != NULL, at, msg, sizeof(msg));
	if (rc)
		cli_fail("%s", msg);
out:
	free(at_spec);
	lgfs_key_free(k);
	free(logpath);
	free(voldir);
	free(store);
	return rc;
}

/* ---- umount ---- */

/* What lgfs_fuse_run mounts: subtype=ledgerfs, fsname=ledgerfs[:VOLUME]. */
#define LEDGERFS_FSTYPE "fuse.ledgerfs"
#define LEDGERFS_SOURCE "ledgerfs"

/* Undo mountinfo's octal escapes (\040 space, \011 tab, \012 newline,
 * \134 backslash) in place. */
static void mountinfo_unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*w++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* The absolute path the kernel shows for mount point dir. realpath() of a
 * FUSE mount whose daemon died fails (ENOTCONN) on its last component, so
 * the parent is resolved and the last component appended. malloc'd, or
 * NULL with errno set. */
static char *mount_point_path(const char *dir)
{
	char *abs = realpath(dir, NULL), *copy, *slash, *parent, *out = NULL;
	const char *base;
	int err = errno;

	if (abs)
		return abs;
	copy = strdup(dir);
	if (!copy)
		return NULL;
	while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
		copy[strlen(copy) - 1] = '\0';
	slash = strrchr(copy, '/');
	if (slash) {
		*slash = '\0';
		base = slash + 1;
		parent = realpath(slash == copy ? "/" : copy, NULL);
	} else {
		base = copy;
		parent = realpath(".", NULL);
	}
	if (parent && *base && strcmp(base, ".") && strcmp(base, "..") &&
	    asprintf(&out, "%s/%s", strcmp(parent, "/") ? parent : "", base) < 0)
		out = NULL;
	free(parent);
	free(copy);
	if (!out)
		errno = err;
	return out;
}

/*
 * Is the mount on top of the absolute path mp a ledgerfs mount? 1 yes, 0 no
 * (with the kind of mount that is there in what, or "" when nothing is
 * mounted there), -1 when mountinfo cannot be read. The last matching line
 * is the mount on top, the one an unmount would remove.
 */
static int is_ledgerfs_mount(const char *mp, char *what, size_t cap)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char *line = NULL, ft[64], src[256];
	size_t lcap = 0;
	int found = 0;

	what[0] = '\0';
	if (!f)
		return -1;
	while (getline(&line, &lcap, f) > 0) {
		/* id parent maj:min root MOUNTPOINT opts [optional...] - FSTYPE SOURCE superopts */
		char *save = NULL, *tok, *point = NULL, *fstype = NULL, *source = NULL;
		int field = 0, after_sep = 0;

		line[strcspn(line, "\n")] = '\0';
		for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
			if (field == 4)
				point = tok;
			else if (field > 5 && !after_sep && !strcmp(tok, "-"))
				after_sep = 1;
			else if (after_sep == 1)
				fstype = tok, after_sep = 2;
			else if (after_sep == 2)
				source = tok, after_sep = 3;
		}
		if (!point || !fstype || !source)
			continue;
		mountinfo_unescape(point);
		if (strcmp(point, mp))
			continue;
		mountinfo_unescape(fstype);
		mountinfo_unescape(source);
		found = !strcmp(fstype, LEDGERFS_FSTYPE) &&
			(!strcmp(source, LEDGERFS_SOURCE) ||
			 !strncmp(source, LEDGERFS_SOURCE ":", strlen(LEDGERFS_SOURCE ":")));
		lgfs_escape(ft, sizeof(ft), fstype, strlen(fstype));
		lgfs_escape(src, sizeof(src), source, strlen(source));
		snprintf(what, cap, "a %s mount of %s", ft, src);
	}
	free(line);
	fclose(f);
	return found;
}

int cmd_umount(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	char *args[4], lockpath[PATH_MAX], what[400], shown[PATH_MAX], *mp;
	int c, fds[2], status, err = 0, have_lock, is_ours;
	ssize_t r;
	pid_t pid;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': return cli_help("umount");
		default: return cli_usage("umount", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("umount", optind >= argc ? "missing DIR" : "too many arguments");

	/* fusermount3 run by root unmounts whatever is there: only a mount
	 * this program made may go. */
	lgfs_escape(shown, sizeof(shown), argv[optind], strlen(argv[optind]));
	mp = mount_point_path(argv[optind]);
	if (!mp)
		return cli_fail("umount %s: %s", shown, strerror(errno));
	is_ours = is_ledgerfs_mount(mp, what, sizeof(what));
	free(mp);
	if (is_ours < 0)
		return cli_fail("umount %s: cannot read /proc/self/mountinfo: %s", shown, strerror(errno));
	if (!is_ours)
		return what[0] ? cli_fail("umount %s: not a ledgerfs mount (it is %s); nothing done", shown, what)
			       : cli_fail("umount %s: nothing is mounted there; nothing done", shown);

	/* Before unmounting: the real path of DIR is the mount point's. */
	have_lock = mount_lock_path(lockpath, sizeof(lockpath), argv[optind]) == 0;
	args[0] = "fusermount3";
	args[1] = "-u";
	args[2] = argv[optind];
	args[3] = NULL;
	/* The pipe closes on a successful exec; else it carries exec's errno. */
	if (pipe2(fds, O_CLOEXEC) != 0)
		return cli_fail("pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return cli_fail("fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(fds[0]);
		execvp(args[0], args);
		err = errno;
		write_all(fds[1], (const char *)&err, sizeof(err));
		_exit(127);
	}
	close(fds[1]);
	do
		r = read(fds[0], &err, sizeof(err));
	while (r < 0 && errno == EINTR);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return cli_fail("waiting for fusermount3: %s", strerror(errno));
	if (r == (ssize_t)sizeof(err)) {
		if (err == ENOENT)
			return cli_fail("fusermount3 not found: install the fuse3 package");
		return cli_fail("running fusermount3: %s", strerror(err));
	}
	if (WIFEXITED(status)) {
		if (WEXITSTATUS(status) == 0 && have_lock)
			mount_lock_wait(lockpath, argv[optind]);
		return WEXITSTATUS(status);
	}
	if (WIFSIGNALED(status))
		return cli_fail("fusermount3 killed by signal %d", WTERMSIG(status));
	return 1;
}
