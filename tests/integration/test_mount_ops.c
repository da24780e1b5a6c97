/*
 * test_mount_ops.c — real system calls on a mounted volume (`ledgerfs mount
 * -f`, see mount_util.h): every operation the FUSE adapter serves, the
 * exact errno of the usual mistakes, a read-only mount, another user
 * refused by the permission bits, a file used after its last name is gone,
 * several processes at once, and then — after unmounting — the log holds
 * one record per change, naming who acted (also for data written by one
 * user and committed by another's close, fsync, futimens or the kernel's
 * page write-back), with the content hash of every file's last version,
 * and audit passes. `ledgerfs put`/`get`/`status` round trip last.
 *
 * Each test mounts a fresh volume in its setup and tears it down in its
 * teardown (so a failed assertion never leaves a mount behind). A watchdog
 * (SIGALRM) kills the daemon of a test that takes too long: every call
 * blocked on the dead mount then fails with ENOTCONN and the test fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "ledgerfs/hash.h"
#include "mount_util.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define VOL "ops"
#define WATCHDOG_S 40 /* per test; a healthy test takes a few seconds at most */
#define NOBODY 65534

/* ---- watchdog ---- */

static struct mnt *volatile g_cur; /* the mount of the running test */
static volatile sig_atomic_t g_timed_out;

static void on_alarm(int sig)
{
	static const char msg[] = "test_mount_ops: watchdog: test too slow, killing its ledgerfs daemon\n";
	struct mnt *m = g_cur;

	(void)sig;
	g_timed_out = 1;
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing to do */
	}
	if (m && m->pid > 0)
		kill(m->pid, SIGKILL); /* aborts the FUSE connection: blocked calls fail */
}

static void watchdog_arm(struct mnt *m)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	g_timed_out = 0;
	g_cur = m;
	alarm(WATCHDOG_S);
}

static void watchdog_disarm(void)
{
	alarm(0);
	g_cur = NULL;
}

/* ---- setup and teardown ---- */

static int setup_common(void **state, const char *mount_opts, int world_traversable)
{
	struct mnt *m = calloc(1, sizeof(*m));

	if (!m)
		return -1;
	watchdog_arm(m);
	if (mu_setup(m, VOL) != 0) {
		fprintf(stderr, "setup: creating a scratch store/key/volume failed\n");
		goto fail;
	}
	if (world_traversable && chmod(m->dir, 0755) != 0) {
		fprintf(stderr, "setup: chmod %s: %s\n", m->dir, strerror(errno));
		goto fail;
	}
	if (mount_opts && mu_mount(m, mount_opts) != 0) {
		fprintf(stderr, "setup: mounting %s on %s (%s) failed\n", VOL, m->mp, mount_opts);
		goto fail;
	}
	*state = m;
	return 0;
fail:
	mu_teardown(m);
	watchdog_disarm();
	free(m);
	return -1;
}

static int setup_mounted(void **state)
{
	return setup_common(state, "", 0);
}

/* For another user: allow_other, and a scratch directory others may traverse. */
static int setup_mounted_allow_other(void **state)
{
	return setup_common(state, "-o allow_other", 1);
}

static int setup_unmounted(void **state)
{
	return setup_common(state, NULL, 0);
}

static int teardown(void **state)
{
	struct mnt *m = *state;

	if (m) {
		mu_teardown(m);
		free(m);
	}
	watchdog_disarm();
	*state = NULL;
	return 0;
}

/* ---- helpers ---- */

#define ERRNAME(e) (strerrorname_np(e) ? strerrorname_np(e) : "E?")

/* expr must fail with -1 and errno e. */
#define ASSERT_ERRNO(expr, e)                                                                                 \
	do {                                                                                                  \
		long r_;                                                                                      \
		int e_;                                                                                       \
		errno = 0;                                                                                    \
		r_ = (long)(expr);                                                                            \
		e_ = errno;                                                                                   \
		if (r_ != -1 || e_ != (e))                                                                    \
			fail_msg("%s:%d: %s: expected -1 with %s, got %ld with %s%s", __FILE__, __LINE__,     \
				 #expr, ERRNAME(e), r_, r_ == -1 ? ERRNAME(e_) : "(no error)",                \
				 g_timed_out ? " [watchdog fired]" : "");                                      \
	} while (0)

/* expr must not return -1. */
#define ASSERT_OK(expr)                                                                                       \
	do {                                                                                                  \
		errno = 0;                                                                                    \
		if ((long)(expr) == -1)                                                                       \
			fail_msg("%s:%d: %s failed: %s%s", __FILE__, __LINE__, #expr, ERRNAME(errno),         \
				 g_timed_out ? " [watchdog fired]" : "");                                      \
	} while (0)

/* A path in the mount (a few rotating buffers, so several fit in one call). */
static const char *P(struct mnt *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *P(struct mnt *m, const char *fmt, ...)
{
	static char bufs[8][1024];
	static unsigned int next;
	char rel[512];
	char *b = bufs[next++ % 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	return mu_path(m, rel, b, sizeof(bufs[0]));
}

static void write_all_fd(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			fail_msg("write of %zu bytes: %s", n, w < 0 ? strerror(errno) : "wrote nothing");
		c += w;
		n -= (size_t)w;
	}
}

static void put_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);

	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	write_all_fd(fd, data, len);
	if (close(fd) != 0)
		fail_msg("close %s: %s", path, strerror(errno));
}

/* Whole content of a file (malloc'd, NUL-terminated); *len its size. */
static char *slurp_fd(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *p = malloc(cap + 1);

	assert_non_null(p);
	for (;;) {
		ssize_t r;

		if (n == cap) {
			cap *= 2;
			p = realloc(p, cap + 1);
			assert_non_null(p);
		}
		r = read(fd, p + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail_msg("read: %s", strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
	}
	p[n] = '\0';
	*len = n;
	return p;
}

static char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	char *p;

	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	p = slurp_fd(fd, len);
	close(fd);
	return p;
}

static void assert_content(const char *path, const void *want, size_t wlen)
{
	size_t len;
	char *got = slurp(path, &len);

	if (len != wlen || memcmp(got, want, wlen))
		fail_msg("%s: content differs (%zu bytes, expected %zu)", path, len, wlen);
	free(got);
}

static struct stat stat_of(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) != 0)
		fail_msg("stat %s: %s", path, strerror(errno));
	return sb;
}

static struct stat lstat_of(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) != 0)
		fail_msg("lstat %s: %s", path, strerror(errno));
	return sb;
}

static int64_t ts_ns(struct timespec ts)
{
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts_ns(ts);
}

/* ---- the log after a session ---- */

struct rec {
	unsigned long long index;
	char op[32];
	long long uid, gid; /* acting; -1 when missing */
	const char *args;   /* the "args" object's text, in the line */
	const char *line;
};

struct log {
	char *text;
	struct rec *r;
	size_t n;
};

/* The value of "key": in an object's text (key preceded by { or ,). */
static const char *json_find(const char *obj, const char *key)
{
	char pat[80];
	const char *p = obj;
	size_t n;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	n = strlen(pat);
	while ((p = strstr(p, pat))) {
		if (p > obj && (p[-1] == '{' || p[-1] == ','))
			return p + n;
		p++;
	}
	return NULL;
}

static int arg_u64(const struct rec *r, const char *key, unsigned long long *v)
{
	const char *p = r->args ? json_find(r->args, key) : NULL;

	if (!p || *p < '0' || *p > '9')
		return -1;
	*v = strtoull(p, NULL, 10);
	return 0;
}

/* A string argument (no escapes expected in what the tests use). */
static int arg_str(const struct rec *r, const char *key, char *out, size_t cap)
{
	const char *p = r->args ? json_find(r->args, key) : NULL;
	size_t n = 0;

	if (!p || *p != '"')
		return -1;
	for (p++; *p && *p != '"' && n + 1 < cap; p++)
		out[n++] = *p;
	out[n] = '\0';
	return *p == '"' ? 0 : -1;
}

static void log_free(struct log *lg)
{
	free(lg->text);
	free(lg->r);
	memset(lg, 0, sizeof(*lg));
}

/* `ledgerfs log --json`, parsed: one rec per line. */
static void log_read(struct mnt *m, struct log *lg)
{
	char path[256];
	char *line, *save = NULL;
	size_t len, cap = 0;
	int rc;

	memset(lg, 0, sizeof(*lg));
	snprintf(path, sizeof(path), "%s/log.jsonl", m->dir);
	rc = mu_run(NULL, 0, "%s log --json --store %s %s > %s", mu_bin(), m->store, m->vol, path);
	if (rc != 0)
		fail_msg("ledgerfs log --json exited %d", rc);
	lg->text = slurp(path, &len);
	unlink(path);
	for (line = strtok_r(lg->text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct rec *r;
		const char *p, *args;

		if (lg->n == cap) {
			cap = cap ? cap * 2 : 256;
			lg->r = realloc(lg->r, cap * sizeof(*lg->r));
			assert_non_null(lg->r);
		}
		r = &lg->r[lg->n++];
		memset(r, 0, sizeof(*r));
		r->line = line;
		r->uid = r->gid = -1;
		args = strstr(line, ",\"args\":{");
		r->args = args ? args + 8 : NULL;
		if (!(p = json_find(line, "index")))
			fail_msg("log line without an index: %s", line);
		r->index = strtoull(p, NULL, 10);
		if ((p = json_find(line, "op")) && *p == '"') {
			size_t n = 0;

			for (p++; *p && *p != '"' && n + 1 < sizeof(r->op); p++)
				r->op[n++] = *p;
			r->op[n] = '\0';
		}
		/* acting uid/gid: top level, before the arguments */
		if ((p = json_find(line, "uid")) && (!args || p < args))
			r->uid = strtoll(p, NULL, 10);
		if ((p = json_find(line, "gid")) && (!args || p < args))
			r->gid = strtoll(p, NULL, 10);
		if (r->index != lg->n - 1)
			fail_msg("log line %zu has index %llu", lg->n - 1, r->index);
	}
	if (lg->n == 0 || strcmp(lg->r[0].op, "genesis"))
		fail_msg("the log does not start with a genesis record");
}

/* Regular files seen through the mount before unmounting. */
struct seen_file {
	unsigned long long ino;
	unsigned long long size;
	char sha[65];
	char path[300];
};
static struct seen_file *g_seen;
static size_t g_nseen, g_seen_cap;
static size_t g_mp_len;

static int collect_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	uint8_t h[32];
	size_t len;
	char *data;

	(void)ftw;
	if (type != FTW_F || !S_ISREG(sb->st_mode))
		return 0;
	data = slurp(path, &len);
	if (len != (size_t)sb->st_size)
		fail_msg("%s: read %zu bytes, stat says %lld", path, len, (long long)sb->st_size);
	lgfs_sha256(h, data, len);
	free(data);
	if (g_nseen == g_seen_cap) {
		g_seen_cap = g_seen_cap ? g_seen_cap * 2 : 64;
		g_seen = realloc(g_seen, g_seen_cap * sizeof(*g_seen));
		assert_non_null(g_seen);
	}
	g_seen[g_nseen].ino = sb->st_ino;
	g_seen[g_nseen].size = (unsigned long long)sb->st_size;
	lgfs_hex(g_seen[g_nseen].sha, h, 32);
	snprintf(g_seen[g_nseen].path, sizeof(g_seen[0].path), "%s", path + g_mp_len);
	g_nseen++;
	return 0;
}

/*
 * End of a session: read every regular file through the mount, unmount,
 * then check the log (every change record names its acting uid/gid; each
 * file's content is that of its last version record) and run audit.
 * The log is left in *lg for the caller when lg is not NULL.
 */
static void end_session(struct mnt *m, struct log *lg_out)
{
	static const char empty_sha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	struct log lg;
	char out[16384];
	size_t i, j;
	int rc;

	g_nseen = 0;
	g_mp_len = strlen(m->mp);
	if (m->pid) {
		if (nftw(m->mp, collect_cb, 16, FTW_PHYS) != 0)
			fail_msg("walking %s: %s", m->mp, strerror(errno));
		if (mu_umount(m) != 0)
			fail_msg("unmounting %s: the daemon did not exit cleanly%s", m->mp,
				 g_timed_out ? " [watchdog fired]" : "");
	}
	log_read(m, &lg);
	for (i = 1; i < lg.n; i++) {
		if (!lg.r[i].op[0] || !lg.r[i].args)
			fail_msg("log entry %zu has no operation/arguments: %s", i, lg.r[i].line);
		if (lg.r[i].uid < 0 || lg.r[i].gid < 0)
			fail_msg("log entry %zu lacks the acting uid/gid: %s", i, lg.r[i].line);
	}
	for (j = 0; j < g_nseen; j++) {
		const struct rec *last = NULL;
		char sha[80];
		unsigned long long ino = 0, size = 0;

		for (i = 1; i < lg.n; i++)
			if ((!strcmp(lg.r[i].op, "write") || !strcmp(lg.r[i].op, "truncate")) &&
			    !arg_u64(&lg.r[i], "ino", &ino) && ino == g_seen[j].ino)
				last = &lg.r[i];
		if (!last) {
			/* never written: must be empty */
			if (g_seen[j].size != 0 || strcmp(g_seen[j].sha, empty_sha))
				fail_msg("%s (inode %llu) has %llu bytes but no write record", g_seen[j].path,
					 g_seen[j].ino, g_seen[j].size);
			continue;
		}
		if (arg_str(last, "sha256", sha, sizeof(sha)) || arg_u64(last, "size", &size))
			fail_msg("version record without sha256/size: %s", last->line);
		if (strcmp(sha, g_seen[j].sha) || size != g_seen[j].size)
			fail_msg("%s (inode %llu): content read through the mount (%llu bytes, sha256 %s) is not "
				 "its last version record's: %s",
				 g_seen[j].path, g_seen[j].ino, g_seen[j].size, g_seen[j].sha, last->line);
	}
	rc = mu_run(out, sizeof(out), "%s audit --store %s %s 2>&1", mu_bin(), m->store, m->vol);
	if (rc != 0)
		fail_msg("ledgerfs audit exited %d:\n%s", rc, out);
	if (lg_out)
		*lg_out = lg;
	else
		log_free(&lg);
}

/* ================= 1. operations ================= */

static void test_mkdir_create_rw_unlink_rmdir(void **state)
{
	struct mnt *m = *state;
	static const char text[] = "the quick brown fox jumps over the lazy dog\n";
	struct stat sb, root0, root1;
	char buf[256];
	int fd;

	root0 = stat_of(m->mp);
	ASSERT_OK(mkdir(P(m, "d"), 0750));
	sb = stat_of(P(m, "d"));
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0750);
	assert_int_equal(sb.st_nlink, 2);
	assert_int_equal(sb.st_uid, 0);
	root1 = stat_of(m->mp);
	assert_int_equal(root1.st_nlink, root0.st_nlink + 1);

	/* creat, write, close; open, read, close */
	fd = creat(P(m, "d/f"), 0640);
	ASSERT_OK(fd);
	write_all_fd(fd, text, sizeof(text) - 1);
	ASSERT_OK(close(fd));
	sb = stat_of(P(m, "d/f"));
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0640);
	assert_int_equal(sb.st_size, sizeof(text) - 1);
	assert_int_equal(sb.st_nlink, 1);
	fd = open(P(m, "d/f"), O_RDONLY);
	ASSERT_OK(fd);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(read(fd, buf, sizeof(buf)), sizeof(text) - 1);
	assert_memory_equal(buf, text, sizeof(text) - 1);
	assert_int_equal(read(fd, buf, sizeof(buf)), 0);
	ASSERT_OK(close(fd));

	/* O_RDWR: overwrite in the middle, extend, read back before and after close */
	fd = open(P(m, "d/f"), O_RDWR);
	ASSERT_OK(fd);
	assert_int_equal(pwrite(fd, "QUICK", 5, 4), 5);
	assert_int_equal(pwrite(fd, "++", 2, sizeof(text) - 1), 2);
	assert_int_equal(pread(fd, buf, 9, 0), 9);
	assert_memory_equal(buf, "the QUICK", 9);
	ASSERT_OK(close(fd));
	{
		char want[sizeof(text) + 2];

		memcpy(want, text, sizeof(text) - 1);
		memcpy(want + 4, "QUICK", 5);
		memcpy(want + sizeof(text) - 1, "++", 2);
		assert_content(P(m, "d/f"), want, sizeof(text) + 1);
	}

	/* a directory's mtime moves when an entry is made or removed */
	{
		struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
		int64_t t0;

		ASSERT_OK(utimensat(AT_FDCWD, P(m, "d"), old, 0));
		assert_int_equal(stat_of(P(m, "d")).st_mtim.tv_sec, 1000000000);
		t0 = now_ns();
		fd = creat(P(m, "d/tmp"), 0644);
		ASSERT_OK(fd);
		ASSERT_OK(close(fd));
		sb = stat_of(P(m, "d"));
		if (ts_ns(sb.st_mtim) < t0 || ts_ns(sb.st_ctim) < t0)
			fail_msg("d: mtime/ctime %lld/%lld not updated by a create at %lld", (long long)ts_ns(sb.st_mtim),
				 (long long)ts_ns(sb.st_ctim), (long long)t0);
		ASSERT_OK(utimensat(AT_FDCWD, P(m, "d"), old, 0));
		t0 = now_ns();
		ASSERT_OK(unlink(P(m, "d/tmp")));
		sb = stat_of(P(m, "d"));
		if (ts_ns(sb.st_mtim) < t0)
			fail_msg("d: mtime %lld not updated by an unlink at %lld", (long long)ts_ns(sb.st_mtim),
				 (long long)t0);
	}

	/* open(O_CREAT) of a new name with open() */
	fd = open(P(m, "d/g"), O_CREAT | O_WRONLY | O_EXCL, 0600);
	ASSERT_OK(fd);
	write_all_fd(fd, "g", 1);
	ASSERT_OK(close(fd));
	assert_content(P(m, "d/g"), "g", 1);

	ASSERT_OK(unlink(P(m, "d/f")));
	ASSERT_ERRNO(stat(P(m, "d/f"), &sb), ENOENT);
	ASSERT_OK(unlink(P(m, "d/g")));
	ASSERT_OK(rmdir(P(m, "d")));
	ASSERT_ERRNO(stat(P(m, "d"), &sb), ENOENT);
	root1 = stat_of(m->mp);
	assert_int_equal(root1.st_nlink, root0.st_nlink);
	end_session(m, NULL);
}

static void test_rename(void **state)
{
	struct mnt *m = *state;
	struct stat sb, src, old;
	char buf[64];
	int fd;

	ASSERT_OK(mkdir(P(m, "a"), 0755));
	ASSERT_OK(mkdir(P(m, "b"), 0755));
	put_file(P(m, "a/one"), "one", 3, 0644);

	/* plain, in one directory and across directories (ctime moves) */
	src = stat_of(P(m, "a/one"));
	{
		int64_t t0 = now_ns();

		ASSERT_OK(rename(P(m, "a/one"), P(m, "a/two")));
		if (ts_ns(stat_of(P(m, "a/two")).st_ctim) < t0)
			fail_msg("rename did not update the inode's ctime");
	}
	ASSERT_ERRNO(stat(P(m, "a/one"), &sb), ENOENT);
	sb = stat_of(P(m, "a/two"));
	assert_int_equal(sb.st_ino, src.st_ino);
	assert_content(P(m, "a/two"), "one", 3);
	ASSERT_OK(rename(P(m, "a/two"), P(m, "b/three")));
	ASSERT_ERRNO(stat(P(m, "a/two"), &sb), ENOENT);
	assert_int_equal(stat_of(P(m, "b/three")).st_ino, src.st_ino);
	assert_content(P(m, "b/three"), "one", 3);
	/* a directory across directories: link counts follow */
	ASSERT_OK(mkdir(P(m, "a/sub"), 0755));
	put_file(P(m, "a/sub/inner"), "inner", 5, 0644);
	assert_int_equal(stat_of(P(m, "a")).st_nlink, 3);
	ASSERT_OK(rename(P(m, "a/sub"), P(m, "b/sub")));
	assert_int_equal(stat_of(P(m, "a")).st_nlink, 2);
	assert_int_equal(stat_of(P(m, "b")).st_nlink, 3);
	assert_content(P(m, "b/sub/inner"), "inner", 5);

	/* over an existing file that has a second name and an open descriptor:
	 * the old inode loses one link, keeps its content */
	put_file(P(m, "b/victim"), "victim", 6, 0644);
	ASSERT_OK(link(P(m, "b/victim"), P(m, "a/victim-link")));
	old = stat_of(P(m, "b/victim"));
	assert_int_equal(old.st_nlink, 2);
	fd = open(P(m, "b/victim"), O_RDONLY);
	ASSERT_OK(fd);
	src = stat_of(P(m, "b/three"));
	ASSERT_OK(rename(P(m, "b/three"), P(m, "b/victim")));
	ASSERT_ERRNO(stat(P(m, "b/three"), &sb), ENOENT);
	sb = stat_of(P(m, "b/victim"));
	assert_int_equal(sb.st_ino, src.st_ino);
	assert_content(P(m, "b/victim"), "one", 3);
	sb = stat_of(P(m, "a/victim-link"));
	assert_int_equal(sb.st_ino, old.st_ino);
	assert_int_equal(sb.st_nlink, 1);
	ASSERT_OK(fstat(fd, &sb));
	assert_int_equal(sb.st_ino, old.st_ino);
	assert_int_equal(sb.st_nlink, 1);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 6);
	assert_memory_equal(buf, "victim", 6);
	ASSERT_OK(close(fd));
	/* over its last name, still open: st_nlink 0, content still readable */
	fd = open(P(m, "a/victim-link"), O_RDONLY);
	ASSERT_OK(fd);
	put_file(P(m, "a/newer"), "newer", 5, 0644);
	ASSERT_OK(rename(P(m, "a/newer"), P(m, "a/victim-link")));
	ASSERT_OK(fstat(fd, &sb));
	assert_int_equal(sb.st_ino, old.st_ino);
	assert_int_equal(sb.st_nlink, 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 6);
	assert_memory_equal(buf, "victim", 6);
	ASSERT_OK(close(fd));
	assert_content(P(m, "a/victim-link"), "newer", 5);

	/* a directory over an empty directory elsewhere: link counts */
	{
		struct stat pa0, pb0;

		ASSERT_OK(mkdir(P(m, "a/mover"), 0755));
		ASSERT_OK(mkdir(P(m, "a/mover/kid"), 0755));
		ASSERT_OK(mkdir(P(m, "b/empty"), 0755));
		pa0 = stat_of(P(m, "a"));
		pb0 = stat_of(P(m, "b"));
		src = stat_of(P(m, "a/mover"));
		ASSERT_OK(rename(P(m, "a/mover"), P(m, "b/empty")));
		assert_int_equal(stat_of(P(m, "a")).st_nlink, pa0.st_nlink - 1);
		assert_int_equal(stat_of(P(m, "b")).st_nlink, pb0.st_nlink);
		sb = stat_of(P(m, "b/empty"));
		assert_int_equal(sb.st_ino, src.st_ino);
		assert_int_equal(sb.st_nlink, 3);
		assert_true(S_ISDIR(stat_of(P(m, "b/empty/kid")).st_mode));
		/* and within one directory */
		ASSERT_OK(mkdir(P(m, "b/empty2"), 0755));
		pb0 = stat_of(P(m, "b"));
		ASSERT_OK(rename(P(m, "b/empty"), P(m, "b/empty2")));
		assert_int_equal(stat_of(P(m, "b")).st_nlink, pb0.st_nlink - 1);
		ASSERT_ERRNO(stat(P(m, "b/empty"), &sb), ENOENT);
		assert_int_equal(stat_of(P(m, "b/empty2")).st_ino, src.st_ino);
	}

	/* RENAME_NOREPLACE onto an existing name: EEXIST, nothing changes */
	put_file(P(m, "a/x"), "x", 1, 0644);
	put_file(P(m, "a/y"), "y", 1, 0644);
	ASSERT_ERRNO(syscall(SYS_renameat2, AT_FDCWD, P(m, "a/x"), AT_FDCWD, P(m, "a/y"), RENAME_NOREPLACE), EEXIST);
	assert_content(P(m, "a/x"), "x", 1);
	assert_content(P(m, "a/y"), "y", 1);
	/* ... and onto a free name it renames */
	ASSERT_OK(syscall(SYS_renameat2, AT_FDCWD, P(m, "a/x"), AT_FDCWD, P(m, "a/z"), RENAME_NOREPLACE));
	ASSERT_ERRNO(stat(P(m, "a/x"), &sb), ENOENT);
	assert_content(P(m, "a/z"), "x", 1);

	/* RENAME_EXCHANGE of a file and a directory in different directories */
	{
		struct stat f0, d0, pa0, pb0, pa, pb;
		DIR *dir;
		struct dirent *de;
		int seen_dotdot = 0;

		put_file(P(m, "a/xf"), "exchange-file", 13, 0644);
		ASSERT_OK(mkdir(P(m, "b/xd"), 0755));
		put_file(P(m, "b/xd/child"), "child", 5, 0644);
		f0 = stat_of(P(m, "a/xf"));
		d0 = stat_of(P(m, "b/xd"));
		pa0 = stat_of(P(m, "a"));
		pb0 = stat_of(P(m, "b"));
		ASSERT_OK(syscall(SYS_renameat2, AT_FDCWD, P(m, "a/xf"), AT_FDCWD, P(m, "b/xd"), RENAME_EXCHANGE));
		sb = stat_of(P(m, "a/xf"));
		assert_true(S_ISDIR(sb.st_mode));
		assert_int_equal(sb.st_ino, d0.st_ino);
		sb = stat_of(P(m, "b/xd"));
		assert_true(S_ISREG(sb.st_mode));
		assert_int_equal(sb.st_ino, f0.st_ino);
		assert_content(P(m, "b/xd"), "exchange-file", 13);
		assert_content(P(m, "a/xf/child"), "child", 5);
		pa = stat_of(P(m, "a"));
		pb = stat_of(P(m, "b"));
		assert_int_equal(pa.st_nlink, pa0.st_nlink + 1);
		assert_int_equal(pb.st_nlink, pb0.st_nlink - 1);
		/* the moved directory's ".." is its new parent */
		dir = opendir(P(m, "a/xf"));
		assert_non_null(dir);
		while ((de = readdir(dir)))
			if (!strcmp(de->d_name, "..")) {
				seen_dotdot = 1;
				if (de->d_ino != pa.st_ino)
					fail_msg("\"..\" of the exchanged directory has inode %llu, its new parent is %llu",
						 (unsigned long long)de->d_ino, (unsigned long long)pa.st_ino);
			}
		closedir(dir);
		assert_true(seen_dotdot);
		/* and exchanged back, in the same directory case too */
		ASSERT_OK(syscall(SYS_renameat2, AT_FDCWD, P(m, "a/xf"), AT_FDCWD, P(m, "b/xd"), RENAME_EXCHANGE));
		assert_int_equal(stat_of(P(m, "a/xf")).st_ino, f0.st_ino);
		assert_int_equal(stat_of(P(m, "b/xd")).st_ino, d0.st_ino);
		put_file(P(m, "a/pf"), "pf", 2, 0644);
		ASSERT_OK(mkdir(P(m, "a/pd"), 0755));
		pa0 = stat_of(P(m, "a"));
		ASSERT_OK(syscall(SYS_renameat2, AT_FDCWD, P(m, "a/pf"), AT_FDCWD, P(m, "a/pd"), RENAME_EXCHANGE));
		assert_true(S_ISDIR(stat_of(P(m, "a/pf")).st_mode));
		assert_content(P(m, "a/pd"), "pf", 2);
		assert_int_equal(stat_of(P(m, "a")).st_nlink, pa0.st_nlink);
		/* RENAME_EXCHANGE with a missing target: ENOENT */
		ASSERT_ERRNO(syscall(SYS_renameat2, AT_FDCWD, P(m, "a/pd"), AT_FDCWD, P(m, "a/nothing"),
				     RENAME_EXCHANGE),
			     ENOENT);
	}
	end_session(m, NULL);
}

static void test_hard_links(void **state)
{
	struct mnt *m = *state;
	struct stat s1, s2;
	int fd;

	ASSERT_OK(mkdir(P(m, "x"), 0755));
	ASSERT_OK(mkdir(P(m, "y"), 0755));
	put_file(P(m, "x/orig"), "shared content", 14, 0644);
	{
		int64_t t0 = now_ns();

		ASSERT_OK(link(P(m, "x/orig"), P(m, "y/alias")));
		if (ts_ns(stat_of(P(m, "x/orig")).st_ctim) < t0)
			fail_msg("link did not update the inode's ctime");
	}
	s1 = stat_of(P(m, "x/orig"));
	s2 = stat_of(P(m, "y/alias"));
	assert_int_equal(s1.st_ino, s2.st_ino);
	assert_int_equal(s1.st_nlink, 2);
	assert_int_equal(s2.st_nlink, 2);
	assert_content(P(m, "y/alias"), "shared content", 14);
	/* a write through one name is seen through the other */
	fd = open(P(m, "y/alias"), O_WRONLY | O_APPEND);
	ASSERT_OK(fd);
	write_all_fd(fd, " + more", 7);
	ASSERT_OK(close(fd));
	assert_content(P(m, "x/orig"), "shared content + more", 21);
	/* a third name, then drop two: the last keeps the content */
	ASSERT_OK(link(P(m, "y/alias"), P(m, "third")));
	assert_int_equal(stat_of(P(m, "third")).st_nlink, 3);
	ASSERT_OK(unlink(P(m, "x/orig")));
	ASSERT_ERRNO(stat(P(m, "x/orig"), &s1), ENOENT);
	s2 = stat_of(P(m, "y/alias"));
	assert_int_equal(s2.st_nlink, 2);
	ASSERT_OK(unlink(P(m, "third")));
	s2 = stat_of(P(m, "y/alias"));
	assert_int_equal(s2.st_nlink, 1);
	assert_content(P(m, "y/alias"), "shared content + more", 21);
	/* a directory cannot be hard-linked */
	ASSERT_ERRNO(link(P(m, "x"), P(m, "y/xdir")), EPERM);
	end_session(m, NULL);
}

static void test_symlink_fifo_chmod_chown(void **state)
{
	struct mnt *m = *state;
	static const char target[] = "dir/../real-file";
	char buf[256];
	struct stat sb;
	ssize_t n;

	ASSERT_OK(mkdir(P(m, "dir"), 0755));
	put_file(P(m, "real-file"), "real", 4, 0644);
	ASSERT_OK(symlink(target, P(m, "ln")));
	sb = lstat_of(P(m, "ln"));
	assert_true(S_ISLNK(sb.st_mode));
	assert_int_equal(sb.st_size, strlen(target));
	n = readlink(P(m, "ln"), buf, sizeof(buf));
	assert_int_equal(n, strlen(target));
	assert_memory_equal(buf, target, strlen(target));
	/* a short buffer gets the beginning */
	assert_int_equal(readlink(P(m, "ln"), buf, 3), 3);
	assert_memory_equal(buf, target, 3);
	/* followed */
	assert_content(P(m, "ln"), "real", 4);
	assert_int_equal(stat_of(P(m, "ln")).st_ino, stat_of(P(m, "real-file")).st_ino);
	/* dangling is fine */
	ASSERT_OK(symlink("/nowhere/at/all", P(m, "dangling")));
	ASSERT_ERRNO(stat(P(m, "dangling"), &sb), ENOENT);
	assert_true(S_ISLNK(lstat_of(P(m, "dangling")).st_mode));
	/* readlink of something that is not a link */
	ASSERT_ERRNO(readlink(P(m, "real-file"), buf, sizeof(buf)), EINVAL);
	/* the longest target there is (PATH_MAX - 1 bytes) */
	{
		char *t = malloc(4096), *back = malloc(4200);

		assert_non_null(t);
		assert_non_null(back);
		for (n = 0; n < 4095; n++)
			t[n] = (n % 64 == 63) ? '/' : (char)('a' + n % 26);
		t[4095] = '\0';
		ASSERT_OK(symlink(t, P(m, "longlink")));
		assert_int_equal(readlink(P(m, "longlink"), back, 4200), 4095);
		assert_memory_equal(back, t, 4095);
		assert_int_equal(lstat_of(P(m, "longlink")).st_size, 4095);
		free(t);
		free(back);
	}

	/* FIFOs, by mkfifo and by mknod */
	ASSERT_OK(mkfifo(P(m, "fifo1"), 0640));
	sb = lstat_of(P(m, "fifo1"));
	assert_true(S_ISFIFO(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0640);
	ASSERT_OK(mknod(P(m, "fifo2"), S_IFIFO | 0600, 0));
	sb = lstat_of(P(m, "fifo2"));
	assert_true(S_ISFIFO(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0600);
	{
		/* a FIFO on the volume works as one (the kernel serves it) */
		int r = open(P(m, "fifo1"), O_RDONLY | O_NONBLOCK), w;

		ASSERT_OK(r);
		w = open(P(m, "fifo1"), O_WRONLY | O_NONBLOCK);
		ASSERT_OK(w);
		assert_int_equal(write(w, "pipe", 4), 4);
		assert_int_equal(read(r, buf, sizeof(buf)), 4);
		assert_memory_equal(buf, "pipe", 4);
		close(w);
		close(r);
	}

	/* a character device node (root): type and device number kept (the
	 * mount is nodev, so it cannot be opened, only looked at) */
	ASSERT_OK(mknod(P(m, "cdev"), S_IFCHR | 0600, makedev(1, 3)));
	sb = lstat_of(P(m, "cdev"));
	assert_true(S_ISCHR(sb.st_mode));
	assert_int_equal(sb.st_rdev, makedev(1, 3));
	assert_int_equal(sb.st_mode & 07777, 0600);

	/* readdir names the types */
	{
		DIR *d = opendir(m->mp);
		struct dirent *de;
		int seen = 0;

		assert_non_null(d);
		while ((de = readdir(d))) {
			int want = -1;

			if (!strcmp(de->d_name, "dir"))
				want = DT_DIR;
			else if (!strcmp(de->d_name, "real-file"))
				want = DT_REG;
			else if (!strcmp(de->d_name, "ln"))
				want = DT_LNK;
			else if (!strcmp(de->d_name, "fifo1"))
				want = DT_FIFO;
			else if (!strcmp(de->d_name, "cdev"))
				want = DT_CHR;
			if (want < 0)
				continue;
			seen++;
			if (de->d_type != want)
				fail_msg("readdir: %s has d_type %d, expected %d", de->d_name, de->d_type, want);
		}
		closedir(d);
		assert_int_equal(seen, 5);
	}

	/* chmod: files, directories, special bits */
	ASSERT_OK(chmod(P(m, "real-file"), 0600));
	assert_int_equal(stat_of(P(m, "real-file")).st_mode & 07777, 0600);
	ASSERT_OK(chmod(P(m, "dir"), 01777));
	sb = stat_of(P(m, "dir"));
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 01777);
	ASSERT_OK(chmod(P(m, "real-file"), 04755));
	sb = stat_of(P(m, "real-file"));
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 04755);
	ASSERT_OK(chmod(P(m, "fifo2"), 0666));
	assert_int_equal(lstat_of(P(m, "fifo2")).st_mode & 07777, 0666);

	/* chown, as root (it clears set-user-ID, as on any Linux file system) */
	{
		int64_t t0 = now_ns();

		ASSERT_OK(chown(P(m, "real-file"), 1234, 5678));
		sb = stat_of(P(m, "real-file"));
		if (ts_ns(sb.st_ctim) < t0)
			fail_msg("chown did not update ctime");
	}
	assert_int_equal(sb.st_uid, 1234);
	assert_int_equal(sb.st_gid, 5678);
	assert_int_equal(sb.st_mode & 07777, 0755);
	ASSERT_OK(chmod(P(m, "real-file"), 0644));
	ASSERT_OK(chown(P(m, "real-file"), (uid_t)-1, 42));
	sb = stat_of(P(m, "real-file"));
	assert_int_equal(sb.st_uid, 1234);
	assert_int_equal(sb.st_gid, 42);
	ASSERT_OK(chown(P(m, "dir"), 7, 8));
	sb = stat_of(P(m, "dir"));
	assert_int_equal(sb.st_uid, 7);
	assert_int_equal(sb.st_gid, 8);
	ASSERT_OK(lchown(P(m, "ln"), 9, 10));
	sb = lstat_of(P(m, "ln"));
	assert_int_equal(sb.st_uid, 9);
	assert_int_equal(sb.st_gid, 10);
	assert_int_equal(stat_of(P(m, "real-file")).st_uid, 1234); /* not followed */
	/* a set-group-ID directory: new entries take its group, subdirectories its bit */
	ASSERT_OK(mkdir(P(m, "sg"), 0755));
	ASSERT_OK(chown(P(m, "sg"), 0, 777));
	ASSERT_OK(chmod(P(m, "sg"), 02775));
	put_file(P(m, "sg/file"), "g", 1, 0644);
	sb = stat_of(P(m, "sg/file"));
	assert_int_equal(sb.st_gid, 777);
	assert_int_equal(sb.st_uid, 0);
	ASSERT_OK(mkdir(P(m, "sg/sub"), 0755));
	sb = stat_of(P(m, "sg/sub"));
	assert_int_equal(sb.st_gid, 777);
	assert_true(sb.st_mode & S_ISGID);
	/* content untouched by all of it */
	assert_content(P(m, "real-file"), "real", 4);
	end_session(m, NULL);
}

static void test_truncate(void **state)
{
	struct mnt *m = *state;
	static const char zeros[64];
	char buf[64];
	int fd;

	/* truncate(2) of a closed file, down then up */
	put_file(P(m, "t"), "0123456789", 10, 0644);
	ASSERT_OK(truncate(P(m, "t"), 4));
	assert_int_equal(stat_of(P(m, "t")).st_size, 4);
	assert_content(P(m, "t"), "0123", 4);
	ASSERT_OK(truncate(P(m, "t"), 10));
	assert_int_equal(stat_of(P(m, "t")).st_size, 10);
	memcpy(buf, "0123", 4);
	memset(buf + 4, 0, 6);
	assert_content(P(m, "t"), buf, 10);
	ASSERT_OK(truncate(P(m, "t"), 0));
	assert_int_equal(stat_of(P(m, "t")).st_size, 0);
	ASSERT_OK(truncate(P(m, "t"), 3));
	assert_content(P(m, "t"), zeros, 3);

	/* ftruncate of written, not yet closed data: down, then up */
	fd = open(P(m, "u"), O_CREAT | O_RDWR, 0644);
	ASSERT_OK(fd);
	write_all_fd(fd, "abcdefghij", 10);
	ASSERT_OK(ftruncate(fd, 3));
	{
		struct stat sb;

		ASSERT_OK(fstat(fd, &sb));
		assert_int_equal(sb.st_size, 3);
	}
	ASSERT_OK(ftruncate(fd, 8));
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 8);
	assert_memory_equal(buf, "abc\0\0\0\0\0", 8);
	/* write past the end after a cut: the gap is zeros */
	assert_int_equal(pwrite(fd, "Z", 1, 12), 1);
	ASSERT_OK(close(fd));
	assert_content(P(m, "u"), "abc\0\0\0\0\0\0\0\0\0Z", 13);

	/* O_TRUNC of an existing file */
	fd = open(P(m, "u"), O_WRONLY | O_TRUNC);
	ASSERT_OK(fd);
	assert_int_equal(stat_of(P(m, "u")).st_size, 0);
	write_all_fd(fd, "new", 3);
	ASSERT_OK(close(fd));
	assert_content(P(m, "u"), "new", 3);

	/* a large file cut in the middle of its content, then regrown */
	{
		size_t big = 3u << 20, i;
		char *data = malloc(big), *got;
		size_t len;

		assert_non_null(data);
		for (i = 0; i < big; i++)
			data[i] = (char)(i * 7 + (i >> 12));
		put_file(P(m, "big"), data, big, 0644);
		ASSERT_OK(truncate(P(m, "big"), 1000001));
		ASSERT_OK(truncate(P(m, "big"), 2000000));
		got = slurp(P(m, "big"), &len);
		assert_int_equal(len, 2000000);
		assert_memory_equal(got, data, 1000001);
		for (i = 1000001; i < len; i++)
			if (got[i] != 0)
				fail_msg("big: byte %zu is 0x%02x after regrowing, expected 0", i, (unsigned char)got[i]);
		free(got);
		free(data);
	}
	end_session(m, NULL);
}

static void test_utimensat(void **state)
{
	struct mnt *m = *state;
	struct timespec ts[2];
	struct stat sb, before;
	int64_t t0, t1;

	put_file(P(m, "f"), "times", 5, 0644);
	ASSERT_OK(mkdir(P(m, "d"), 0755));

	/* explicit times, to the nanosecond; also before 1970 */
	ts[0].tv_sec = 1000000000;
	ts[0].tv_nsec = 123456789;
	ts[1].tv_sec = 1500000000;
	ts[1].tv_nsec = 987654321;
	ASSERT_OK(utimensat(AT_FDCWD, P(m, "f"), ts, 0));
	sb = stat_of(P(m, "f"));
	assert_int_equal(sb.st_atim.tv_sec, 1000000000);
	assert_int_equal(sb.st_atim.tv_nsec, 123456789);
	assert_int_equal(sb.st_mtim.tv_sec, 1500000000);
	assert_int_equal(sb.st_mtim.tv_nsec, 987654321);
	ts[0].tv_sec = -86400; /* 1969-12-31 */
	ts[0].tv_nsec = 5;
	ts[1].tv_sec = 2000000000;
	ts[1].tv_nsec = 0;
	ASSERT_OK(utimensat(AT_FDCWD, P(m, "d"), ts, 0));
	sb = stat_of(P(m, "d"));
	assert_int_equal(sb.st_atim.tv_sec, -86400);
	assert_int_equal(sb.st_atim.tv_nsec, 5);
	assert_int_equal(sb.st_mtim.tv_sec, 2000000000);

	/* UTIME_OMIT keeps one, sets the other */
	before = stat_of(P(m, "f"));
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = 1600000000;
	ts[1].tv_nsec = 1;
	ASSERT_OK(utimensat(AT_FDCWD, P(m, "f"), ts, 0));
	sb = stat_of(P(m, "f"));
	assert_int_equal(ts_ns(sb.st_atim), ts_ns(before.st_atim));
	assert_int_equal(sb.st_mtim.tv_sec, 1600000000);
	assert_int_equal(sb.st_mtim.tv_nsec, 1);

	/* UTIME_NOW: the server's clock, now */
	t0 = now_ns();
	ts[0].tv_nsec = UTIME_NOW;
	ts[1].tv_nsec = UTIME_NOW;
	ASSERT_OK(utimensat(AT_FDCWD, P(m, "f"), ts, 0));
	t1 = now_ns();
	sb = stat_of(P(m, "f"));
	if (ts_ns(sb.st_mtim) < t0 - 1000000000LL || ts_ns(sb.st_mtim) > t1 + 1000000000LL)
		fail_msg("UTIME_NOW: mtime %lld is not within [%lld, %lld]", (long long)ts_ns(sb.st_mtim),
			 (long long)t0, (long long)t1);
	if (ts_ns(sb.st_atim) < t0 - 1000000000LL || ts_ns(sb.st_atim) > t1 + 1000000000LL)
		fail_msg("UTIME_NOW: atime %lld is not within [%lld, %lld]", (long long)ts_ns(sb.st_atim),
			 (long long)t0, (long long)t1);
	/* utimes(NULL) too */
	ASSERT_OK(utimensat(AT_FDCWD, P(m, "d"), NULL, 0));
	sb = stat_of(P(m, "d"));
	if (ts_ns(sb.st_mtim) < t0 - 1000000000LL)
		fail_msg("utimensat(NULL): mtime %lld is older than the call", (long long)ts_ns(sb.st_mtim));

	/* the times survive a remount (they are in the log, not only in memory) */
	ts[0].tv_sec = 1111111111;
	ts[0].tv_nsec = 111;
	ts[1].tv_sec = 1222222222;
	ts[1].tv_nsec = 222;
	ASSERT_OK(utimensat(AT_FDCWD, P(m, "f"), ts, 0));
	assert_int_equal(mu_umount(m), 0);
	assert_int_equal(mu_mount(m, ""), 0);
	sb = stat_of(P(m, "f"));
	assert_int_equal(sb.st_atim.tv_sec, 1111111111);
	assert_int_equal(sb.st_atim.tv_nsec, 111);
	assert_int_equal(sb.st_mtim.tv_sec, 1222222222);
	assert_int_equal(sb.st_mtim.tv_nsec, 222);
	assert_content(P(m, "f"), "times", 5);
	end_session(m, NULL);
}

/* cp -p: write, set the times through the descriptor, close: the explicit
 * mtime stays (the version made at close must not override it). */
static void test_cp_p_keeps_mtime(void **state)
{
	struct mnt *m = *state;
	struct timespec ts[2];
	struct stat sb;
	size_t big = 300000, i;
	char *data = malloc(big);
	int fd;

	assert_non_null(data);
	for (i = 0; i < big; i++)
		data[i] = (char)(i % 251);
	ts[0].tv_sec = 1400000000;
	ts[0].tv_nsec = 11;
	ts[1].tv_sec = 1300000000;
	ts[1].tv_nsec = 22;

	fd = open(P(m, "copy"), O_CREAT | O_WRONLY | O_EXCL, 0644);
	ASSERT_OK(fd);
	write_all_fd(fd, data, big);
	ASSERT_OK(futimens(fd, ts));
	ASSERT_OK(fchmod(fd, 0640));
	ASSERT_OK(close(fd));
	sb = stat_of(P(m, "copy"));
	assert_int_equal(sb.st_size, big);
	assert_int_equal(sb.st_mode & 07777, 0640);
	assert_int_equal(sb.st_mtim.tv_sec, 1300000000);
	assert_int_equal(sb.st_mtim.tv_nsec, 22);
	assert_int_equal(sb.st_atim.tv_sec, 1400000000);
	assert_content(P(m, "copy"), data, big);

	/* the same over an existing file opened with O_TRUNC, and a second
	 * descriptor closing after the times were set */
	fd = open(P(m, "copy"), O_WRONLY | O_TRUNC);
	ASSERT_OK(fd);
	{
		int fd2 = open(P(m, "copy"), O_RDONLY);

		ASSERT_OK(fd2);
		write_all_fd(fd, "short", 5);
		ts[1].tv_sec = 1250000000;
		ts[1].tv_nsec = 33;
		ASSERT_OK(futimens(fd, ts));
		ASSERT_OK(close(fd));
		ASSERT_OK(close(fd2));
	}
	sb = stat_of(P(m, "copy"));
	assert_int_equal(sb.st_size, 5);
	assert_int_equal(sb.st_mtim.tv_sec, 1250000000);
	assert_int_equal(sb.st_mtim.tv_nsec, 33);

	/* and after a remount */
	assert_int_equal(mu_umount(m), 0);
	assert_int_equal(mu_mount(m, ""), 0);
	sb = stat_of(P(m, "copy"));
	assert_int_equal(sb.st_mtim.tv_sec, 1250000000);
	assert_int_equal(sb.st_mtim.tv_nsec, 33);
	assert_content(P(m, "copy"), "short", 5);
	free(data);
	end_session(m, NULL);
}

static void test_xattrs(void **state)
{
	struct mnt *m = *state;
	char buf[256];
	ssize_t n;

	put_file(P(m, "f"), "x", 1, 0644);
	ASSERT_OK(mkdir(P(m, "d"), 0755));

	ASSERT_ERRNO(getxattr(P(m, "f"), "user.a", buf, sizeof(buf)), ENODATA);
	assert_int_equal(listxattr(P(m, "f"), buf, sizeof(buf)), 0);
	ASSERT_OK(setxattr(P(m, "f"), "user.a", "value-1", 7, 0));
	n = getxattr(P(m, "f"), "user.a", buf, sizeof(buf));
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "value-1", 7);
	/* size query, too-small buffer */
	assert_int_equal(getxattr(P(m, "f"), "user.a", NULL, 0), 7);
	ASSERT_ERRNO(getxattr(P(m, "f"), "user.a", buf, 3), ERANGE);
	/* XATTR_CREATE on an existing name, XATTR_REPLACE on a missing one */
	ASSERT_ERRNO(setxattr(P(m, "f"), "user.a", "v", 1, XATTR_CREATE), EEXIST);
	ASSERT_ERRNO(setxattr(P(m, "f"), "user.missing", "v", 1, XATTR_REPLACE), ENODATA);
	ASSERT_ERRNO(getxattr(P(m, "f"), "user.missing", buf, sizeof(buf)), ENODATA);
	n = getxattr(P(m, "f"), "user.a", buf, sizeof(buf));
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "value-1", 7); /* the refused calls changed nothing */
	/* XATTR_REPLACE on an existing one, XATTR_CREATE of a new one */
	ASSERT_OK(setxattr(P(m, "f"), "user.a", "second", 6, XATTR_REPLACE));
	n = getxattr(P(m, "f"), "user.a", buf, sizeof(buf));
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "second", 6);
	ASSERT_OK(setxattr(P(m, "f"), "user.b", "\x00\x01\xff", 3, XATTR_CREATE));
	ASSERT_OK(setxattr(P(m, "f"), "user.empty", "", 0, 0));
	assert_int_equal(getxattr(P(m, "f"), "user.empty", buf, sizeof(buf)), 0);
	n = getxattr(P(m, "f"), "user.b", buf, sizeof(buf));
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "\x00\x01\xff", 3);
	/* listxattr: exactly the three names */
	{
		ssize_t need = listxattr(P(m, "f"), NULL, 0);
		size_t off;
		int a = 0, b = 0, e = 0, other = 0;

		assert_int_equal(need, strlen("user.a") + 1 + strlen("user.b") + 1 + strlen("user.empty") + 1);
		ASSERT_ERRNO(listxattr(P(m, "f"), buf, 5), ERANGE);
		n = listxattr(P(m, "f"), buf, sizeof(buf));
		assert_int_equal(n, need);
		for (off = 0; off < (size_t)n; off += strlen(buf + off) + 1) {
			if (!strcmp(buf + off, "user.a"))
				a++;
			else if (!strcmp(buf + off, "user.b"))
				b++;
			else if (!strcmp(buf + off, "user.empty"))
				e++;
			else
				other++;
		}
		assert_int_equal(a, 1);
		assert_int_equal(b, 1);
		assert_int_equal(e, 1);
		assert_int_equal(other, 0);
	}
	/* removexattr */
	ASSERT_OK(removexattr(P(m, "f"), "user.a"));
	ASSERT_ERRNO(getxattr(P(m, "f"), "user.a", buf, sizeof(buf)), ENODATA);
	ASSERT_ERRNO(removexattr(P(m, "f"), "user.a"), ENODATA);
	assert_int_equal(listxattr(P(m, "f"), buf, sizeof(buf)), strlen("user.b") + 1 + strlen("user.empty") + 1);
	/* on a directory, and through a descriptor */
	ASSERT_OK(setxattr(P(m, "d"), "user.dir", "D", 1, 0));
	assert_int_equal(getxattr(P(m, "d"), "user.dir", buf, sizeof(buf)), 1);
	{
		int fd = open(P(m, "f"), O_RDONLY);

		ASSERT_OK(fd);
		ASSERT_OK(fsetxattr(fd, "user.fd", "via-fd", 6, 0));
		assert_int_equal(fgetxattr(fd, "user.fd", buf, sizeof(buf)), 6);
		assert_memory_equal(buf, "via-fd", 6);
		ASSERT_OK(fremovexattr(fd, "user.fd"));
		ASSERT_ERRNO(fgetxattr(fd, "user.fd", buf, sizeof(buf)), ENODATA);
		close(fd);
	}
	/* missing file */
	ASSERT_ERRNO(setxattr(P(m, "nope"), "user.a", "v", 1, 0), ENOENT);
	/* content untouched */
	assert_content(P(m, "f"), "x", 1);
	end_session(m, NULL);
}

static void test_statvfs_access(void **state)
{
	struct mnt *m = *state;
	struct statvfs sv;

	ASSERT_OK(statvfs(m->mp, &sv));
	assert_int_equal(sv.f_namemax, 255);
	assert_true(sv.f_bsize > 0);
	assert_true(sv.f_blocks > 0);
	assert_true(sv.f_bavail <= sv.f_blocks);
	{
		int fd = open(m->mp, O_RDONLY | O_DIRECTORY);
		struct statvfs sv2;

		ASSERT_OK(fd);
		ASSERT_OK(fstatvfs(fd, &sv2));
		assert_int_equal(sv2.f_namemax, 255);
		close(fd);
	}

	put_file(P(m, "rw"), "a", 1, 0644);
	put_file(P(m, "exe"), "#!/bin/sh\n", 10, 0755);
	ASSERT_OK(mkdir(P(m, "d"), 0700));
	ASSERT_OK(access(P(m, "rw"), F_OK));
	ASSERT_OK(access(P(m, "rw"), R_OK | W_OK));
	ASSERT_ERRNO(access(P(m, "rw"), X_OK), EACCES); /* root too needs an x bit */
	ASSERT_OK(access(P(m, "exe"), R_OK | W_OK | X_OK));
	ASSERT_OK(access(P(m, "d"), R_OK | W_OK | X_OK));
	ASSERT_ERRNO(access(P(m, "missing"), F_OK), ENOENT);
	ASSERT_ERRNO(access(P(m, "rw/below"), F_OK), ENOTDIR);
	end_session(m, NULL);
}

static void test_fallocate_lseek_fsync(void **state)
{
	struct mnt *m = *state;
	char buf[512];
	struct stat sb;
	off_t o;
	int fd, i;

	fd = open(P(m, "f"), O_CREAT | O_RDWR, 0644);
	ASSERT_OK(fd);
	write_all_fd(fd, "0123456789", 10);
	/* fsync and fdatasync make a version of what is written so far */
	ASSERT_OK(fsync(fd));
	ASSERT_OK(fdatasync(fd));
	write_all_fd(fd, "abc", 3);
	ASSERT_OK(fdatasync(fd));
	ASSERT_OK(fsync(fd)); /* nothing new: still fine */

	/* posix_fallocate beyond the end extends with zeros */
	assert_int_equal(posix_fallocate(fd, 0, 100), 0);
	ASSERT_OK(fstat(fd, &sb));
	assert_int_equal(sb.st_size, 100);
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 100);
	assert_memory_equal(buf, "0123456789abc", 13);
	for (i = 13; i < 100; i++)
		if (buf[i])
			fail_msg("byte %d after posix_fallocate is 0x%02x, expected 0", i, (unsigned char)buf[i]);
	/* fallocate(2) mode 0 directly (not glibc's emulation): a range past the end */
	ASSERT_OK(fallocate(fd, 0, 200, 56));
	ASSERT_OK(fstat(fd, &sb));
	assert_int_equal(sb.st_size, 256);
	/* inside the file: the size stays */
	ASSERT_OK(fallocate(fd, 0, 10, 20));
	ASSERT_OK(fstat(fd, &sb));
	assert_int_equal(sb.st_size, 256);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 256);
	assert_memory_equal(buf, "0123456789abc", 13);
	for (i = 13; i < 256; i++)
		if (buf[i])
			fail_msg("byte %d after fallocate is 0x%02x, expected 0", i, (unsigned char)buf[i]);

	/* SEEK_DATA / SEEK_HOLE: the 13 written bytes are data; the ranges the
	 * file was extended over are holes (zeros, not stored), up to the end */
	o = lseek(fd, 0, SEEK_DATA);
	assert_int_equal(o, 0);
	o = lseek(fd, 5, SEEK_DATA);
	assert_int_equal(o, 5);
	o = lseek(fd, 0, SEEK_HOLE);
	assert_int_equal(o, 13);
	o = lseek(fd, 77, SEEK_HOLE);
	assert_int_equal(o, 77);
	ASSERT_ERRNO(lseek(fd, 13, SEEK_DATA), ENXIO);
	ASSERT_ERRNO(lseek(fd, 256, SEEK_DATA), ENXIO);
	ASSERT_ERRNO(lseek(fd, 256, SEEK_HOLE), ENXIO);
	ASSERT_ERRNO(lseek(fd, 100000, SEEK_DATA), ENXIO);
	/* and after a staged write that extends the file */
	assert_int_equal(pwrite(fd, "tail", 4, 300), 4);
	o = lseek(fd, 13, SEEK_DATA);
	assert_int_equal(o, 300);
	o = lseek(fd, 300, SEEK_HOLE);
	assert_int_equal(o, 304);
	o = lseek(fd, 0, SEEK_HOLE);
	assert_int_equal(o, 13);
	ASSERT_OK(fsync(fd));
	ASSERT_OK(close(fd));
	assert_int_equal(stat_of(P(m, "f")).st_size, 304);

	/* an empty file: no data anywhere */
	fd = open(P(m, "empty"), O_CREAT | O_RDWR, 0644);
	ASSERT_OK(fd);
	ASSERT_ERRNO(lseek(fd, 0, SEEK_DATA), ENXIO);
	ASSERT_OK(fsync(fd));
	ASSERT_OK(close(fd));

	/* fsync of a directory (fsyncdir) */
	fd = open(m->mp, O_RDONLY | O_DIRECTORY);
	ASSERT_OK(fd);
	ASSERT_OK(fsync(fd));
	ASSERT_OK(syncfs(fd));
	close(fd);
	end_session(m, NULL);
}

#define NENTRIES 3000

/* Entry k's name: "entry-NNNN", then a tail of 0..49 'x' so that names
 * of many lengths fill the kernel's readdir pages unevenly. */
static const char *entry_name(int k)
{
	static char b[80];
	int n = (k * 7) % 50, i;

	i = snprintf(b, sizeof(b), "entry-%04d", k);
	if (n) {
		b[i++] = '-';
		memset(b + i, 'x', (size_t)n);
		i += n;
	}
	b[i] = '\0';
	return b;
}

static void count_dir(DIR *d, unsigned char *seen, int *dots, int *others)
{
	struct dirent *de;

	memset(seen, 0, NENTRIES);
	*dots = *others = 0;
	errno = 0;
	while ((de = readdir(d))) {
		long k = -1;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
			(*dots)++;
			continue;
		}
		if (!strncmp(de->d_name, "entry-", 6))
			k = strtol(de->d_name + 6, NULL, 10);
		if (k >= 0 && k < NENTRIES && !strcmp(de->d_name, entry_name((int)k))) {
			seen[k]++;
			if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
				fail_msg("%s: d_type %d, expected DT_REG", de->d_name, de->d_type);
		} else {
			(*others)++;
		}
		errno = 0;
	}
	if (errno)
		fail_msg("readdir: %s", strerror(errno));
}

static void test_readdir_3000(void **state)
{
	struct mnt *m = *state;
	unsigned char *seen = calloc(1, NENTRIES);
	int i, dots, others;
	DIR *d;

	assert_non_null(seen);
	ASSERT_OK(mkdir(P(m, "big"), 0755));
	for (i = 0; i < NENTRIES; i++) {
		const char *path = P(m, "big/%s", entry_name(i));

		if (i % 3 == 0) {
			int fd = creat(path, 0644);

			ASSERT_OK(fd);
			ASSERT_OK(close(fd));
		} else {
			ASSERT_OK(mknod(path, S_IFREG | 0644, 0));
		}
	}
	d = opendir(P(m, "big"));
	assert_non_null(d);
	count_dir(d, seen, &dots, &others);
	assert_int_equal(dots, 2);
	assert_int_equal(others, 0);
	for (i = 0; i < NENTRIES; i++)
		if (seen[i] != 1)
			fail_msg("%s seen %d times in the first pass", entry_name(i), seen[i]);
	rewinddir(d);
	count_dir(d, seen, &dots, &others);
	assert_int_equal(dots, 2);
	assert_int_equal(others, 0);
	for (i = 0; i < NENTRIES; i++)
		if (seen[i] != 1)
			fail_msg("%s seen %d times after rewinddir", entry_name(i), seen[i]);
	/* telldir/seekdir: back to a position in the middle, the same names follow */
	{
		char first[10][300];
		struct dirent *de;
		long pos;
		int k;

		rewinddir(d);
		for (k = 0; k < 1700; k++)
			assert_non_null(readdir(d));
		pos = telldir(d);
		assert_true(pos >= 0);
		for (k = 0; k < 10; k++) {
			de = readdir(d);
			assert_non_null(de);
			snprintf(first[k], sizeof(first[k]), "%s", de->d_name);
		}
		for (k = 0; k < 500; k++)
			assert_non_null(readdir(d));
		seekdir(d, pos);
		for (k = 0; k < 10; k++) {
			de = readdir(d);
			assert_non_null(de);
			if (strcmp(de->d_name, first[k]))
				fail_msg("after seekdir: entry %d is %s, expected %s", k, de->d_name, first[k]);
		}
	}
	closedir(d);
	/* a second, independent opendir while removing every other entry
	 * between passes */
	for (i = 0; i < NENTRIES; i += 2)
		ASSERT_OK(unlink(P(m, "big/%s", entry_name(i))));
	d = opendir(P(m, "big"));
	assert_non_null(d);
	count_dir(d, seen, &dots, &others);
	closedir(d);
	assert_int_equal(dots, 2);
	assert_int_equal(others, 0);
	for (i = 0; i < NENTRIES; i++)
		if (seen[i] != (i % 2))
			fail_msg("%s seen %d times after removing the even ones", entry_name(i), seen[i]);
	free(seen);
	end_session(m, NULL);
}

/* Writes through a shared mapping, a sparse file, and a written file
 * replaced by rename while still open and written. */
static void test_mmap_sparse_replaced(void **state)
{
	struct mnt *m = *state;
	struct stat sb;
	char buf[64], *map;
	int fd;

	/* mmap(MAP_SHARED) writes become the file's content */
	fd = open(P(m, "mapped"), O_CREAT | O_RDWR, 0644);
	ASSERT_OK(fd);
	ASSERT_OK(ftruncate(fd, 8192));
	map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		fail_msg("mmap: %s", strerror(errno));
	memcpy(map, "mapped-head", 11);
	memcpy(map + 5000, "mapped-tail", 11);
	ASSERT_OK(msync(map, 8192, MS_SYNC));
	ASSERT_OK(munmap(map, 8192));
	ASSERT_OK(close(fd));
	fd = open(P(m, "mapped"), O_RDONLY);
	ASSERT_OK(fd);
	assert_int_equal(pread(fd, buf, 11, 0), 11);
	assert_memory_equal(buf, "mapped-head", 11);
	assert_int_equal(pread(fd, buf, 11, 5000), 11);
	assert_memory_equal(buf, "mapped-tail", 11);
	assert_int_equal(pread(fd, buf, 8, 100), 8);
	assert_memory_equal(buf, "\0\0\0\0\0\0\0\0", 8);
	ASSERT_OK(close(fd));

	/* a sparse file: one byte far out, zeros before it */
	fd = open(P(m, "sparse"), O_CREAT | O_RDWR, 0644);
	ASSERT_OK(fd);
	assert_int_equal(pwrite(fd, "!", 1, 20 << 20), 1);
	assert_int_equal(pwrite(fd, "?", 1, 7), 1);
	ASSERT_OK(close(fd));
	sb = stat_of(P(m, "sparse"));
	assert_int_equal(sb.st_size, (20 << 20) + 1);
	fd = open(P(m, "sparse"), O_RDONLY);
	ASSERT_OK(fd);
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(pread(fd, buf, 16, 0), 16);
	assert_memory_equal(buf, "\0\0\0\0\0\0\0?\0\0\0\0\0\0\0\0", 16);
	assert_int_equal(pread(fd, buf, 4, 10 << 20), 4);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	assert_int_equal(pread(fd, buf, 8, (20 << 20) - 3), 4);
	assert_memory_equal(buf, "\0\0\0!", 4);
	ASSERT_OK(close(fd));

	/* replaced by rename while open and written: the old inode keeps its
	 * descriptor's writes (a version of a nameless inode), the name gets
	 * the new file */
	put_file(P(m, "victim"), "old", 3, 0644);
	put_file(P(m, "replacement"), "replacement", 11, 0644);
	fd = open(P(m, "victim"), O_RDWR);
	ASSERT_OK(fd);
	assert_int_equal(pwrite(fd, "OLD staged", 10, 0), 10);
	ASSERT_OK(rename(P(m, "replacement"), P(m, "victim")));
	assert_int_equal(pwrite(fd, "!", 1, 10), 1);
	ASSERT_OK(fstat(fd, &sb));
	assert_int_equal(sb.st_nlink, 0);
	assert_int_equal(sb.st_size, 11);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 11);
	assert_memory_equal(buf, "OLD staged!", 11);
	ASSERT_OK(close(fd));
	assert_content(P(m, "victim"), "replacement", 11);
	end_session(m, NULL);
}

/* Several processes at once on the multi-threaded daemon: each makes,
 * writes, renames, links and removes files of its own and appends lines
 * to one shared file, while another lists and stats everything. */
#define WORKERS 4
#define PER_WORKER 60

static size_t work_size(int k, int i)
{
	return (size_t)((k * 7919 + i * 104729) % 150000) + 1;
}

static void work_fill(char *buf, size_t n, int k, int i)
{
	size_t j;

	for (j = 0; j < n; j++)
		buf[j] = (char)('A' + (k * 31 + i * 17 + (int)(j % 101)) % 26);
}

static int worker(struct mnt *m, int k)
{
	char *buf = malloc(150001), line[32];
	int i, fd, log;

	if (!buf)
		return 1;
	log = open(P(m, "shared.log"), O_WRONLY | O_APPEND);
	if (log < 0)
		return 2;
	for (i = 0; i < PER_WORKER; i++) {
		size_t n = work_size(k, i), off = 0;
		int len;

		work_fill(buf, n, k, i);
		fd = open(P(m, "w%d/f%d", k, i), O_CREAT | O_WRONLY | O_EXCL, 0644);
		if (fd < 0)
			return 3;
		while (off < n) { /* in pieces, so writes of workers interleave */
			size_t piece = n - off < 40000 ? n - off : 40000;

			if (write(fd, buf + off, piece) != (ssize_t)piece)
				return 4;
			off += piece;
		}
		if (close(fd) != 0)
			return 5;
		if (i % 3 == 0 && rename(P(m, "w%d/f%d", k, i), P(m, "w%d/g%d", k, i)) != 0)
			return 6;
		if (i % 7 == 0 && link(P(m, "w%d/%c%d", k, i % 3 ? 'f' : 'g', i), P(m, "common/%d-%d", k, i)) != 0)
			return 7;
		if (i % 5 == 0 && unlink(P(m, "w%d/%c%d", k, i % 3 ? 'f' : 'g', i)) != 0)
			return 8;
		if (i % 4 == 0 && setxattr(P(m, "w%d", k), "user.last", &i, sizeof(i), 0) != 0)
			return 9;
		len = snprintf(line, sizeof(line), "worker %d item %d\n", k, i);
		if (write(log, line, (size_t)len) != len)
			return 10;
	}
	close(log);
	free(buf);
	return 0;
}

/* List and stat until told to stop; only ENOENT (a race with a remove) is fine. */
static int lister(struct mnt *m, int stop_fd)
{
	int rounds = 0;

	for (;;) {
		char c;
		int k;

		if (read(stop_fd, &c, 1) >= 0 && rounds > 0)
			return 0; /* the parent wrote (or closed): stop */
		for (k = 0; k < WORKERS; k++) {
			DIR *d = opendir(P(m, "w%d", k));
			struct dirent *de;

			if (!d)
				return 20;
			while ((de = readdir(d))) {
				struct stat sb;

				if (de->d_name[0] == '.')
					continue;
				if (stat(P(m, "w%d/%s", k, de->d_name), &sb) != 0 && errno != ENOENT) {
					fprintf(stderr, "lister: stat w%d/%s: %s\n", k, de->d_name, strerror(errno));
					closedir(d);
					return 21;
				}
			}
			closedir(d);
		}
		rounds++;
	}
}

static void test_concurrent_processes(void **state)
{
	struct mnt *m = *state;
	pid_t pids[WORKERS + 1];
	int stop[2], k, i, status;
	char *buf = malloc(150001), *log;
	size_t len;

	assert_non_null(buf);
	for (k = 0; k < WORKERS; k++)
		ASSERT_OK(mkdir(P(m, "w%d", k), 0755));
	ASSERT_OK(mkdir(P(m, "common"), 0755));
	put_file(P(m, "shared.log"), "", 0, 0644);
	ASSERT_OK(pipe2(stop, O_NONBLOCK));
	fflush(NULL);
	for (k = 0; k <= WORKERS; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0) {
			alarm(0);
			close(stop[1]);
			_exit(k < WORKERS ? worker(m, k) : lister(m, stop[0]));
		}
	}
	close(stop[0]);
	for (k = 0; k < WORKERS; k++) {
		for (i = 0; i < 3000; i++) { /* ≤ 30 s each */
			if (waitpid(pids[k], &status, WNOHANG) == pids[k])
				break;
			usleep(10000);
		}
		if (i == 3000) {
			int j;

			for (j = 0; j <= WORKERS; j++)
				kill(pids[j], SIGKILL);
			while (wait(NULL) > 0)
				;
			fail_msg("worker %d did not finish in time", k);
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("worker %d failed: status 0x%x (exit %d)", k, status,
				 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	close(stop[1]); /* the lister stops */
	for (i = 0; i < 3000; i++) {
		if (waitpid(pids[WORKERS], &status, WNOHANG) == pids[WORKERS])
			break;
		usleep(10000);
	}
	if (i == 3000) {
		kill(pids[WORKERS], SIGKILL);
		waitpid(pids[WORKERS], &status, 0);
		fail_msg("the lister did not stop");
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the lister failed: status 0x%x", status);

	/* the end state is exactly what each worker did */
	for (k = 0; k < WORKERS; k++) {
		int v = -1;

		for (i = 0; i < PER_WORKER; i++) {
			const char *name = P(m, "w%d/%c%d", k, i % 3 ? 'f' : 'g', i);
			const char *other = P(m, "w%d/%c%d", k, i % 3 ? 'g' : 'f', i);
			size_t n = work_size(k, i);
			struct stat sb;

			ASSERT_ERRNO(stat(other, &sb), ENOENT);
			work_fill(buf, n, k, i);
			if (i % 5 == 0) {
				ASSERT_ERRNO(stat(name, &sb), ENOENT);
			} else {
				assert_content(name, buf, n);
				assert_int_equal(stat_of(name).st_nlink, i % 7 == 0 ? 2 : 1);
			}
			if (i % 7 == 0) {
				assert_content(P(m, "common/%d-%d", k, i), buf, n);
				assert_int_equal(stat_of(P(m, "common/%d-%d", k, i)).st_nlink, i % 5 == 0 ? 1 : 2);
			}
		}
		assert_int_equal(getxattr(P(m, "w%d", k), "user.last", &v, sizeof(v)), sizeof(v));
		assert_int_equal(v, (PER_WORKER - 1) / 4 * 4);
	}
	log = slurp(P(m, "shared.log"), &len);
	for (k = 0; k < WORKERS; k++)
		for (i = 0; i < PER_WORKER; i++) {
			char want[40], *p, *q;

			snprintf(want, sizeof(want), "worker %d item %d\n", k, i);
			p = strstr(log, want);
			if (!p || (p != log && p[-1] != '\n'))
				fail_msg("shared.log lacks the line '%.*s'", (int)strlen(want) - 1, want);
			q = strstr(p + 1, want);
			if (q && q[-1] == '\n')
				fail_msg("shared.log has '%.*s' twice", (int)strlen(want) - 1, want);
		}
	{
		size_t lines = 0, j;

		for (j = 0; j < len; j++)
			lines += log[j] == '\n';
		assert_int_equal(lines, WORKERS * PER_WORKER);
	}
	free(log);
	free(buf);
	end_session(m, NULL);
}

/* ================= 2. errors ================= */

static void test_errors(void **state)
{
	struct mnt *m = *state;
	char name[300], *p;
	struct stat sb;
	int fd;

	ASSERT_OK(mkdir(P(m, "d"), 0755));
	put_file(P(m, "d/f"), "f", 1, 0644);
	put_file(P(m, "file"), "file", 4, 0644);

	/* ENOENT */
	ASSERT_ERRNO(open(P(m, "missing"), O_RDONLY), ENOENT);
	ASSERT_ERRNO(stat(P(m, "missing"), &sb), ENOENT);
	ASSERT_ERRNO(unlink(P(m, "missing")), ENOENT);
	ASSERT_ERRNO(rmdir(P(m, "missing")), ENOENT);
	ASSERT_ERRNO(open(P(m, "missing/x"), O_CREAT | O_WRONLY, 0644), ENOENT);
	ASSERT_ERRNO(rename(P(m, "missing"), P(m, "other")), ENOENT);
	ASSERT_ERRNO(link(P(m, "missing"), P(m, "other")), ENOENT);
	/* EEXIST */
	ASSERT_ERRNO(mkdir(P(m, "d"), 0755), EEXIST);
	ASSERT_ERRNO(mkdir(P(m, "file"), 0755), EEXIST);
	ASSERT_ERRNO(open(P(m, "file"), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
	ASSERT_ERRNO(open(P(m, "d"), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
	ASSERT_ERRNO(link(P(m, "file"), P(m, "d/f")), EEXIST);
	ASSERT_ERRNO(symlink("x", P(m, "file")), EEXIST);
	ASSERT_ERRNO(mkfifo(P(m, "file"), 0644), EEXIST);
	assert_content(P(m, "d/f"), "f", 1);
	/* ENOTEMPTY */
	ASSERT_ERRNO(rmdir(P(m, "d")), ENOTEMPTY);
	ASSERT_OK(mkdir(P(m, "e"), 0755));
	ASSERT_ERRNO(rename(P(m, "e"), P(m, "d")), ENOTEMPTY);
	/* ENOTDIR */
	ASSERT_ERRNO(open(P(m, "file/x"), O_RDONLY), ENOTDIR);
	ASSERT_ERRNO(stat(P(m, "file/x"), &sb), ENOTDIR);
	ASSERT_ERRNO(mkdir(P(m, "file/x"), 0755), ENOTDIR);
	ASSERT_ERRNO(open(P(m, "file/x"), O_CREAT | O_WRONLY, 0644), ENOTDIR);
	ASSERT_ERRNO(rmdir(P(m, "file")), ENOTDIR);
	ASSERT_ERRNO(opendir(P(m, "file")) ? 0 : -1, ENOTDIR);
	ASSERT_ERRNO(rename(P(m, "e"), P(m, "file")), ENOTDIR);
	/* EISDIR */
	ASSERT_ERRNO(unlink(P(m, "d")), EISDIR);
	ASSERT_ERRNO(open(P(m, "d"), O_WRONLY), EISDIR);
	ASSERT_ERRNO(open(P(m, "d"), O_RDWR), EISDIR);
	ASSERT_ERRNO(rename(P(m, "file"), P(m, "e")), EISDIR);
	ASSERT_ERRNO(truncate(P(m, "d"), 0), EISDIR);
	/* ENAMETOOLONG: 256 bytes is one too many, 255 is fine */
	memset(name, 'n', 256);
	name[256] = '\0';
	ASSERT_ERRNO(open(P(m, "%s", name), O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
	ASSERT_ERRNO(mkdir(P(m, "%s", name), 0755), ENAMETOOLONG);
	ASSERT_ERRNO(stat(P(m, "%s", name), &sb), ENAMETOOLONG);
	ASSERT_ERRNO(symlink("t", P(m, "%s", name)), ENAMETOOLONG);
	ASSERT_ERRNO(rename(P(m, "file"), P(m, "%s", name)), ENAMETOOLONG);
	ASSERT_ERRNO(link(P(m, "file"), P(m, "%s", name)), ENAMETOOLONG);
	name[255] = '\0';
	fd = open(P(m, "%s", name), O_CREAT | O_WRONLY | O_EXCL, 0644);
	ASSERT_OK(fd);
	write_all_fd(fd, "255", 3);
	ASSERT_OK(close(fd));
	assert_content(P(m, "%s", name), "255", 3);
	{
		DIR *dir = opendir(m->mp);
		struct dirent *de;
		int found = 0;

		assert_non_null(dir);
		while ((de = readdir(dir)))
			if (!strcmp(de->d_name, name))
				found++;
		closedir(dir);
		assert_int_equal(found, 1);
	}
	p = strdup(P(m, "d/%s", name));
	ASSERT_OK(rename(P(m, "%s", name), p));
	assert_content(p, "255", 3);
	ASSERT_OK(unlink(p));
	free(p);
	ASSERT_OK(mkdir(P(m, "%s", name), 0755));
	ASSERT_OK(rmdir(P(m, "%s", name)));
	/* EINVAL: a directory into its own subdirectory */
	ASSERT_OK(mkdir(P(m, "d/sub"), 0755));
	ASSERT_ERRNO(rename(P(m, "d"), P(m, "d/sub/d")), EINVAL);
	ASSERT_ERRNO(rename(P(m, "d"), P(m, "d/inside")), EINVAL);
	ASSERT_ERRNO(syscall(SYS_renameat2, AT_FDCWD, P(m, "d"), AT_FDCWD, P(m, "d/sub"), RENAME_EXCHANGE), EINVAL);
	ASSERT_ERRNO(syscall(SYS_renameat2, AT_FDCWD, P(m, "d"), AT_FDCWD, P(m, "e"),
			     RENAME_EXCHANGE | RENAME_NOREPLACE),
		     EINVAL);
	assert_true(S_ISDIR(stat_of(P(m, "d/sub")).st_mode));
	assert_content(P(m, "d/f"), "f", 1);
	assert_content(P(m, "file"), "file", 4);
	end_session(m, NULL);
}

static void test_readonly_mount(void **state)
{
	struct mnt *m = *state;
	struct stat sb;
	char buf[16];
	DIR *d;
	struct dirent *de;
	int fd, n = 0;

	ASSERT_OK(mkdir(P(m, "dir"), 0755));
	put_file(P(m, "dir/kept"), "written before", 14, 0644);
	ASSERT_OK(setxattr(P(m, "dir/kept"), "user.k", "v", 1, 0));
	assert_int_equal(mu_umount(m), 0);
	assert_int_equal(mu_mount(m, "-o ro"), 0);

	/* changes: EROFS */
	ASSERT_ERRNO(creat(P(m, "new"), 0644), EROFS);
	ASSERT_ERRNO(open(P(m, "dir/new"), O_CREAT | O_WRONLY, 0644), EROFS);
	ASSERT_ERRNO(mkdir(P(m, "newdir"), 0755), EROFS);
	ASSERT_ERRNO(open(P(m, "dir/kept"), O_WRONLY), EROFS);
	ASSERT_ERRNO(open(P(m, "dir/kept"), O_RDWR), EROFS);
	ASSERT_ERRNO(unlink(P(m, "dir/kept")), EROFS);
	ASSERT_ERRNO(rename(P(m, "dir/kept"), P(m, "dir/moved")), EROFS);
	ASSERT_ERRNO(chmod(P(m, "dir/kept"), 0600), EROFS);
	ASSERT_ERRNO(truncate(P(m, "dir/kept"), 0), EROFS);
	ASSERT_ERRNO(symlink("x", P(m, "ln")), EROFS);
	ASSERT_ERRNO(setxattr(P(m, "dir/kept"), "user.k2", "v", 1, 0), EROFS);
	ASSERT_ERRNO(rmdir(P(m, "dir")), EROFS);
	/* reads work */
	assert_content(P(m, "dir/kept"), "written before", 14);
	sb = stat_of(P(m, "dir/kept"));
	assert_int_equal(sb.st_size, 14);
	assert_int_equal(getxattr(P(m, "dir/kept"), "user.k", buf, sizeof(buf)), 1);
	fd = open(P(m, "dir/kept"), O_RDONLY);
	ASSERT_OK(fd);
	ASSERT_ERRNO(write(fd, "x", 1), EBADF);
	close(fd);
	d = opendir(P(m, "dir"));
	assert_non_null(d);
	while ((de = readdir(d)))
		if (!strcmp(de->d_name, "kept"))
			n++;
	closedir(d);
	assert_int_equal(n, 1);
	{
		struct statvfs sv;

		ASSERT_OK(statvfs(m->mp, &sv));
		assert_true(sv.f_flag & ST_RDONLY);
	}
	end_session(m, NULL);
}

/* Child: become nobody, then try. Exit code: 0 all as expected, else the
 * number of the first step that was not. */
static int as_nobody(struct mnt *m)
{
	char buf[64];
	int fd;
	ssize_t n;

	if (setgroups(0, NULL) != 0)
		return 1;
	if (setresgid(NOBODY, NOBODY, NOBODY) != 0)
		return 2;
	if (setresuid(NOBODY, NOBODY, NOBODY) != 0)
		return 3;
	if (getuid() != NOBODY || geteuid() != NOBODY || getegid() != NOBODY)
		return 4;
	errno = 0;
	fd = open(P(m, "rootfile"), O_WRONLY);
	if (fd >= 0 || errno != EACCES) {
		fprintf(stderr, "nobody: open(rootfile, O_WRONLY): %s\n", fd >= 0 ? "succeeded" : strerror(errno));
		return 5;
	}
	errno = 0;
	if (mkdir(P(m, "rootdir/x"), 0755) == 0 || errno != EACCES) {
		fprintf(stderr, "nobody: mkdir(rootdir/x): %s\n", errno ? strerror(errno) : "succeeded");
		return 6;
	}
	errno = 0;
	fd = open(P(m, "rootdir/new"), O_CREAT | O_WRONLY, 0644);
	if (fd >= 0 || errno != EACCES) {
		fprintf(stderr, "nobody: creat(rootdir/new): %s\n", fd >= 0 ? "succeeded" : strerror(errno));
		return 7;
	}
	errno = 0;
	if (unlink(P(m, "rootdir/inner")) == 0 || errno != EACCES)
		return 8;
	errno = 0;
	if (chmod(P(m, "rootfile"), 0666) == 0 || errno != EPERM)
		return 9;
	errno = 0;
	if (truncate(P(m, "rootfile"), 0) == 0 || errno != EACCES)
		return 10;
	errno = 0;
	if (open(P(m, "secret"), O_RDONLY) >= 0 || errno != EACCES)
		return 11;
	/* reading what is readable works */
	fd = open(P(m, "rootfile"), O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "nobody: open(rootfile, O_RDONLY): %s\n", strerror(errno));
		return 12;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n != 9 || memcmp(buf, "root-only", 9))
		return 13;
	/* and writing where it may: a world-writable directory */
	fd = open(P(m, "pub/mine"), O_CREAT | O_WRONLY | O_EXCL, 0644);
	if (fd < 0) {
		fprintf(stderr, "nobody: creat(pub/mine): %s\n", strerror(errno));
		return 14;
	}
	if (write(fd, "nobody's", 8) != 8 || close(fd) != 0)
		return 15;
	/* a write by a user without CAP_FSETID clears set-user-ID */
	{
		struct stat sb;

		fd = open(P(m, "pub/suid"), O_CREAT | O_RDWR | O_EXCL, 0755);
		if (fd < 0 || fchmod(fd, 04755) != 0 || fstat(fd, &sb) != 0 || (sb.st_mode & 07777) != 04755)
			return 16;
		if (write(fd, "x", 1) != 1 || fstat(fd, &sb) != 0)
			return 17;
		close(fd);
		if ((sb.st_mode & 07777) != 0755) {
			fprintf(stderr, "nobody: mode after a write to a set-user-ID file is 0%o, expected 0755\n",
				sb.st_mode & 07777);
			return 18;
		}
	}
	return 0;
}

static void test_eacces_other_user(void **state)
{
	struct mnt *m = *state;
	struct stat sb;
	struct log lg;
	int status = 0, i, found = 0;
	pid_t pid;
	size_t k;

	put_file(P(m, "rootfile"), "root-only", 9, 0644);
	put_file(P(m, "secret"), "s", 1, 0600);
	ASSERT_OK(mkdir(P(m, "rootdir"), 0755));
	put_file(P(m, "rootdir/inner"), "i", 1, 0644);
	ASSERT_OK(mkdir(P(m, "pub"), 0777));
	ASSERT_OK(chmod(P(m, "pub"), 0777)); /* whatever the umask */
	assert_int_equal(stat_of(P(m, "rootfile")).st_uid, 0);

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(0);
		_exit(as_nobody(m));
	}
	for (i = 0; i < 3000; i++) { /* ≤ 30 s */
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		usleep(10000);
	}
	if (i == 3000) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("the child acting as uid %d did not finish in time", NOBODY);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the child acting as uid %d failed at step %d (status 0x%x): see its message above", NOBODY,
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1, status);
	/* nothing changed where it was refused */
	assert_content(P(m, "rootfile"), "root-only", 9);
	assert_int_equal(stat_of(P(m, "rootfile")).st_mode & 07777, 0644);
	ASSERT_ERRNO(stat(P(m, "rootdir/x"), &sb), ENOENT);
	assert_content(P(m, "rootdir/inner"), "i", 1);
	/* what it made is its own */
	sb = stat_of(P(m, "pub/mine"));
	assert_int_equal(sb.st_uid, NOBODY);
	assert_int_equal(sb.st_gid, NOBODY);
	assert_content(P(m, "pub/mine"), "nobody's", 8);
	end_session(m, &lg);
	/* and its records name it as the acting user */
	for (k = 1; k < lg.n; k++) {
		char nm[64];

		if (!strcmp(lg.r[k].op, "create") && !arg_str(&lg.r[k], "name", nm, sizeof(nm)) && !strcmp(nm, "mine")) {
			found = 1;
			if (lg.r[k].uid != NOBODY || lg.r[k].gid != NOBODY)
				fail_msg("create of pub/mine by uid %d has acting uid/gid %lld/%lld: %s", NOBODY,
					 lg.r[k].uid, lg.r[k].gid, lg.r[k].line);
		}
		if (!strcmp(lg.r[k].op, "write") && lg.r[k].uid != 0 && lg.r[k].uid != NOBODY)
			fail_msg("write record with an unexpected acting uid: %s", lg.r[k].line);
	}
	assert_true(found);
	/* the write of pub/mine is the child's too */
	found = 0;
	for (k = 1; k < lg.n; k++) {
		unsigned long long ino;

		if (!strcmp(lg.r[k].op, "write") && !arg_u64(&lg.r[k], "ino", &ino) && ino == sb.st_ino) {
			found = 1;
			if (lg.r[k].uid != NOBODY || lg.r[k].gid != NOBODY)
				fail_msg("write of pub/mine by uid %d has acting uid/gid %lld/%lld: %s", NOBODY,
					 lg.r[k].uid, lg.r[k].gid, lg.r[k].line);
		}
	}
	assert_true(found);
	log_free(&lg);
}

/* Who wrote is who the version record names: data written by uid 65534
 * stays attributed to 65534 (1) when it sets the times before closing
 * (cp -p, tar -p as an ordinary user), (2) when root merely opens the file
 * for reading and closes it before the writer does. */
static int await_byte(int fd, int timeout_ms)
{
	struct timespec pause = { 0, 10 * 1000 * 1000 };
	char c;
	int i;

	for (i = 0; i < timeout_ms / 10; i++) {
		ssize_t r = read(fd, &c, 1);

		if (r == 1)
			return 0;
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			return -1;
		nanosleep(&pause, NULL);
	}
	return -1;
}

static void test_writer_attribution(void **state)
{
	struct mnt *m = *state;
	int ready[2], go[2], status = 0, i, fd, nwrites = 0, ncp = 0;
	struct log lg;
	struct stat sb, cp;
	char buf[32];
	pid_t pid;
	size_t k;

	ASSERT_OK(mkdir(P(m, "pub"), 0777));
	ASSERT_OK(chmod(P(m, "pub"), 0777));
	ASSERT_OK(pipe2(ready, O_NONBLOCK));
	ASSERT_OK(pipe2(go, O_NONBLOCK));
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(0);
		close(ready[0]);
		close(go[1]);
		if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) || setresuid(NOBODY, NOBODY, NOBODY))
			_exit(1);
		{
			struct timespec ts[2] = { { 1300000000, 0 }, { 1300000000, 0 } };

			fd = open(P(m, "pub/cp-p"), O_CREAT | O_WRONLY | O_EXCL, 0644);
			if (fd < 0 || write(fd, "copied", 6) != 6 || futimens(fd, ts) != 0 || close(fd) != 0)
				_exit(7);
		}
		fd = open(P(m, "pub/shared"), O_CREAT | O_WRONLY | O_EXCL, 0644);
		if (fd < 0)
			_exit(2);
		if (write(fd, "by nobody", 9) != 9)
			_exit(3);
		if (write(ready[1], "r", 1) != 1)
			_exit(4);
		if (await_byte(go[0], 20000))
			_exit(5);
		if (close(fd) != 0)
			_exit(6);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	if (await_byte(ready[0], 20000)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("the writer (uid %d) did not get ready", NOBODY);
	}
	/* root reads the file while nobody's descriptor is still open */
	fd = open(P(m, "pub/shared"), O_RDONLY);
	if (fd < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("open pub/shared: %s", strerror(errno));
	}
	memset(buf, 0, sizeof(buf));
	i = (int)read(fd, buf, sizeof(buf));
	close(fd);
	if (write(go[1], "g", 1) != 1)
		kill(pid, SIGKILL);
	close(go[1]);
	close(ready[0]);
	for (i = 0; i < 2000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(10000);
	}
	if (i == 2000) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("the writer did not finish");
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the writer (uid %d) failed at step %d", NOBODY, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	assert_memory_equal(buf, "by nobody", 9);
	sb = stat_of(P(m, "pub/shared"));
	assert_int_equal(sb.st_uid, NOBODY);
	assert_content(P(m, "pub/shared"), "by nobody", 9);
	cp = stat_of(P(m, "pub/cp-p"));
	assert_int_equal(cp.st_uid, NOBODY);
	assert_int_equal(cp.st_mtim.tv_sec, 1300000000);
	assert_content(P(m, "pub/cp-p"), "copied", 6);
	end_session(m, &lg);
	for (k = 1; k < lg.n; k++) {
		unsigned long long ino;

		if (strcmp(lg.r[k].op, "write") || arg_u64(&lg.r[k], "ino", &ino))
			continue;
		if (ino == cp.st_ino) {
			ncp++;
			if (lg.r[k].uid != NOBODY || lg.r[k].gid != NOBODY)
				fail_msg("pub/cp-p was written by uid/gid %d (write, futimens, close), but its version "
					 "record names acting uid/gid %lld/%lld: %s",
					 NOBODY, lg.r[k].uid, lg.r[k].gid, lg.r[k].line);
		}
		if (ino == sb.st_ino) {
			nwrites++;
			if (lg.r[k].uid != NOBODY || lg.r[k].gid != NOBODY)
				fail_msg("the data of pub/shared was written only by uid/gid %d, but its version record "
					 "names acting uid/gid %lld/%lld (root only read it): %s",
					 NOBODY, lg.r[k].uid, lg.r[k].gid, lg.r[k].line);
		}
	}
	assert_int_equal(ncp, 1);
	assert_int_equal(nwrites, 1);
	log_free(&lg);
}

/* The same through a shared mapping: the kernel writes dirty pages back
 * without the caller's credentials (uid/gid 0 in the request), yet the
 * bytes are the mapping process's. */
static int nobody_maps(struct mnt *m)
{
	char *map;
	int fd;

	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) || setresuid(NOBODY, NOBODY, NOBODY))
		return 1;
	fd = open(P(m, "pub/mapped"), O_CREAT | O_RDWR | O_EXCL, 0644);
	if (fd < 0 || ftruncate(fd, 4096) != 0)
		return 2;
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return 3;
	memcpy(map, "mapped by nobody", 16);
	if (msync(map, 4096, MS_SYNC) != 0)
		return 4;
	memcpy(map + 100, "and more", 8); /* left to munmap/close to write back */
	if (munmap(map, 4096) != 0 || close(fd) != 0)
		return 5;
	return 0;
}

static void test_mmap_writer_attribution(void **state)
{
	struct mnt *m = *state;
	int status = 0, i, nwrites = 0;
	struct log lg;
	struct stat sb;
	char buf[128];
	pid_t pid;
	size_t k;

	ASSERT_OK(mkdir(P(m, "pub"), 0777));
	ASSERT_OK(chmod(P(m, "pub"), 0777));
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(0);
		_exit(nobody_maps(m));
	}
	for (i = 0; i < 2000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(10000);
	}
	if (i == 2000) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("the mapping process did not finish");
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the mapping process (uid %d) failed at step %d", NOBODY,
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	sb = stat_of(P(m, "pub/mapped"));
	assert_int_equal(sb.st_size, 4096);
	assert_int_equal(sb.st_uid, NOBODY);
	{
		int fd = open(P(m, "pub/mapped"), O_RDONLY);

		ASSERT_OK(fd);
		assert_int_equal(pread(fd, buf, 16, 0), 16);
		assert_memory_equal(buf, "mapped by nobody", 16);
		assert_int_equal(pread(fd, buf, 8, 100), 8);
		assert_memory_equal(buf, "and more", 8);
		close(fd);
	}
	end_session(m, &lg);
	for (k = 1; k < lg.n; k++) {
		unsigned long long ino;

		if ((strcmp(lg.r[k].op, "write") && strcmp(lg.r[k].op, "truncate")) ||
		    arg_u64(&lg.r[k], "ino", &ino) || ino != sb.st_ino)
			continue;
		nwrites++;
		if (lg.r[k].uid != NOBODY || lg.r[k].gid != NOBODY)
			fail_msg("pub/mapped was written only by uid/gid %d (ftruncate, then stores through a "
				 "MAP_SHARED mapping), but a version record names acting uid/gid %lld/%lld: %s",
				 NOBODY, lg.r[k].uid, lg.r[k].gid, lg.r[k].line);
	}
	assert_true(nwrites >= 2); /* the ftruncate, and at least one version of the mapped bytes */
	log_free(&lg);
}

/* ================= 3. open, unlinked ================= */

static void test_open_unlinked(void **state)
{
	struct mnt *m = *state;
	struct stat sb;
	struct log lg;
	char buf[64];
	unsigned long long ino;
	size_t k;
	int fd, unlink_at = -1, write_after = 0;
	DIR *d;
	struct dirent *de;

	fd = open(P(m, "ghost"), O_CREAT | O_RDWR, 0644);
	ASSERT_OK(fd);
	write_all_fd(fd, "hello", 5);
	ASSERT_OK(fstat(fd, &sb));
	ino = sb.st_ino;
	assert_int_equal(sb.st_nlink, 1);
	ASSERT_OK(unlink(P(m, "ghost")));
	ASSERT_ERRNO(stat(P(m, "ghost"), &sb), ENOENT);
	/* keep writing and reading through the descriptor */
	write_all_fd(fd, " world", 6);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 11);
	assert_memory_equal(buf, "hello world", 11);
	assert_int_equal(pwrite(fd, "J", 1, 0), 1);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 11);
	assert_memory_equal(buf, "Jello world", 11);
	ASSERT_OK(fstat(fd, &sb));
	assert_int_equal(sb.st_ino, ino);
	assert_int_equal(sb.st_nlink, 0);
	assert_int_equal(sb.st_size, 11);
	ASSERT_OK(fsync(fd));
	ASSERT_OK(ftruncate(fd, 5));
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 5);
	assert_memory_equal(buf, "Jello", 5);
	ASSERT_OK(close(fd));
	/* the name is gone; a new file of that name is another inode */
	ASSERT_ERRNO(stat(P(m, "ghost"), &sb), ENOENT);
	d = opendir(m->mp);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (!strcmp(de->d_name, "ghost"))
			fail_msg("readdir still lists the unlinked name");
	closedir(d);
	put_file(P(m, "ghost"), "new", 3, 0644);
	assert_true(stat_of(P(m, "ghost")).st_ino != ino);
	assert_content(P(m, "ghost"), "new", 3);
	end_session(m, &lg);
	/* the log: create, unlink, then versions of the unlinked inode */
	for (k = 1; k < lg.n; k++) {
		unsigned long long v;
		char nm[16];

		if (!strcmp(lg.r[k].op, "unlink") && !arg_str(&lg.r[k], "name", nm, sizeof(nm)) && !strcmp(nm, "ghost") &&
		    unlink_at < 0)
			unlink_at = (int)k;
		if (unlink_at > 0 && (!strcmp(lg.r[k].op, "write") || !strcmp(lg.r[k].op, "truncate")) &&
		    !arg_u64(&lg.r[k], "ino", &v) && v == ino)
			write_after++;
	}
	assert_true(unlink_at > 0);
	assert_true(write_after >= 2); /* fsync's write and ftruncate's truncate */
	log_free(&lg);
}

/* ================= 4. the log of a session ================= */

static void test_log_records(void **state)
{
	struct mnt *m = *state;
	static const char *const want[] = { "genesis", "mkdir",  "create",  "write",   "rename",
					    "link",    "symlink", "setattr", "setxattr", "unlink",
					    "mkdir",   "rmdir",  "create",  "write",   "truncate",
					    "write" };
	const size_t nwant = sizeof(want) / sizeof(want[0]);
	struct stat a, f, w;
	struct log lg;
	char s[128];
	unsigned long long v;
	size_t i;
	int fd;

	ASSERT_OK(mkdir(P(m, "a"), 0755));                          /* 1 mkdir */
	put_file(P(m, "a/f"), "hello ledger", 12, 0644);             /* 2 create, 3 write */
	ASSERT_OK(rename(P(m, "a/f"), P(m, "a/g")));                 /* 4 rename */
	ASSERT_OK(link(P(m, "a/g"), P(m, "h")));                     /* 5 link */
	ASSERT_OK(symlink("a/g", P(m, "s")));                        /* 6 symlink */
	ASSERT_OK(chmod(P(m, "h"), 0600));                           /* 7 setattr */
	ASSERT_OK(setxattr(P(m, "h"), "user.k", "v", 1, 0));         /* 8 setxattr */
	ASSERT_OK(unlink(P(m, "h")));                                /* 9 unlink */
	ASSERT_OK(mkdir(P(m, "tmpd"), 0700));                        /* 10 mkdir */
	ASSERT_OK(rmdir(P(m, "tmpd")));                              /* 11 rmdir */
	fd = open(P(m, "a/w"), O_CREAT | O_WRONLY | O_EXCL, 0644);  /* 12 create */
	ASSERT_OK(fd);
	write_all_fd(fd, "first", 5);
	ASSERT_OK(fsync(fd));                                        /* 13 write */
	ASSERT_OK(ftruncate(fd, 3));                                 /* 14 truncate */
	assert_int_equal(pwrite(fd, ", second", 8, 3), 8);
	ASSERT_OK(close(fd));                                        /* 15 write */
	a = stat_of(P(m, "a"));
	f = stat_of(P(m, "a/g"));
	w = stat_of(P(m, "a/w"));
	assert_content(P(m, "a/w"), "fir, second", 11);

	end_session(m, &lg); /* also: every file's last version hash, uid/gid, audit */
	if (lg.n != nwant) {
		for (i = 0; i < lg.n; i++)
			fprintf(stderr, "  %zu %s\n", i, lg.r[i].line);
		fail_msg("the log has %zu records, expected %zu (one per change)", lg.n, nwant);
	}
	for (i = 0; i < nwant; i++)
		if (strcmp(lg.r[i].op, want[i]))
			fail_msg("record %zu is \"%s\", expected \"%s\": %s", i, lg.r[i].op, want[i], lg.r[i].line);
	for (i = 1; i < nwant; i++)
		if (lg.r[i].uid != 0 || lg.r[i].gid != 0)
			fail_msg("record %zu: acting uid/gid %lld/%lld, expected 0/0", i, lg.r[i].uid, lg.r[i].gid);
	/* 1 mkdir /a */
	assert_int_equal(arg_str(&lg.r[1], "name", s, sizeof(s)), 0);
	assert_string_equal(s, "a");
	assert_int_equal(arg_u64(&lg.r[1], "parent", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(a.st_ino, 1 + 1); /* inode = creating record's index + 1 */
	/* 2 create /a/f */
	assert_int_equal(arg_str(&lg.r[2], "name", s, sizeof(s)), 0);
	assert_string_equal(s, "f");
	assert_int_equal(arg_u64(&lg.r[2], "parent", &v), 0);
	assert_int_equal(v, a.st_ino);
	assert_int_equal(arg_u64(&lg.r[2], "mode", &v), 0);
	assert_int_equal(v, S_IFREG | 0644);
	assert_int_equal(f.st_ino, 2 + 1);
	/* 3 write: size and sha256 of "hello ledger" */
	{
		uint8_t h[32];
		char hex[65];

		lgfs_sha256(h, "hello ledger", 12);
		lgfs_hex(hex, h, 32);
		assert_int_equal(arg_u64(&lg.r[3], "ino", &v), 0);
		assert_int_equal(v, f.st_ino);
		assert_int_equal(arg_u64(&lg.r[3], "size", &v), 0);
		assert_int_equal(v, 12);
		assert_int_equal(arg_str(&lg.r[3], "sha256", s, sizeof(s)), 0);
		assert_string_equal(s, hex);
	}
	/* 4 rename f -> g */
	assert_int_equal(arg_str(&lg.r[4], "name", s, sizeof(s)), 0);
	assert_string_equal(s, "f");
	assert_int_equal(arg_str(&lg.r[4], "new_name", s, sizeof(s)), 0);
	assert_string_equal(s, "g");
	assert_int_equal(arg_u64(&lg.r[4], "new_parent", &v), 0);
	assert_int_equal(v, a.st_ino);
	/* 5 link /a/g -> /h */
	assert_int_equal(arg_u64(&lg.r[5], "ino", &v), 0);
	assert_int_equal(v, f.st_ino);
	assert_int_equal(arg_str(&lg.r[5], "new_name", s, sizeof(s)), 0);
	assert_string_equal(s, "h");
	assert_int_equal(arg_u64(&lg.r[5], "new_parent", &v), 0);
	assert_int_equal(v, 1);
	/* 6 symlink s -> a/g */
	assert_int_equal(arg_str(&lg.r[6], "name", s, sizeof(s)), 0);
	assert_string_equal(s, "s");
	assert_int_equal(arg_str(&lg.r[6], "target", s, sizeof(s)), 0);
	assert_string_equal(s, "a/g");
	/* 7 setattr mode 0600 */
	assert_int_equal(arg_u64(&lg.r[7], "ino", &v), 0);
	assert_int_equal(v, f.st_ino);
	assert_int_equal(arg_u64(&lg.r[7], "mode", &v), 0);
	assert_int_equal(v & 07777, 0600);
	/* 8 setxattr user.k */
	assert_int_equal(arg_str(&lg.r[8], "xattr", s, sizeof(s)), 0);
	assert_string_equal(s, "user.k");
	assert_int_equal(arg_u64(&lg.r[8], "ino", &v), 0);
	assert_int_equal(v, f.st_ino);
	/* 9 unlink h */
	assert_int_equal(arg_str(&lg.r[9], "name", s, sizeof(s)), 0);
	assert_string_equal(s, "h");
	assert_int_equal(arg_u64(&lg.r[9], "parent", &v), 0);
	assert_int_equal(v, 1);
	/* 10, 11 mkdir and rmdir tmpd */
	assert_int_equal(arg_str(&lg.r[10], "name", s, sizeof(s)), 0);
	assert_string_equal(s, "tmpd");
	assert_int_equal(arg_str(&lg.r[11], "name", s, sizeof(s)), 0);
	assert_string_equal(s, "tmpd");
	/* 12 create a/w, 13 write at fsync ("first"), 14 truncate to 3 ("fir"),
	 * 15 write at close ("fir, second") */
	assert_int_equal(arg_str(&lg.r[12], "name", s, sizeof(s)), 0);
	assert_string_equal(s, "w");
	assert_int_equal(w.st_ino, 12 + 1);
	{
		static const struct {
			int idx;
			const char *content;
		} ver[] = { { 13, "first" }, { 14, "fir" }, { 15, "fir, second" } };
		uint8_t h[32];
		char hex[65];

		for (i = 0; i < 3; i++) {
			const struct rec *r = &lg.r[ver[i].idx];

			lgfs_sha256(h, ver[i].content, strlen(ver[i].content));
			lgfs_hex(hex, h, 32);
			assert_int_equal(arg_u64(r, "ino", &v), 0);
			assert_int_equal(v, w.st_ino);
			assert_int_equal(arg_u64(r, "size", &v), 0);
			assert_int_equal(v, strlen(ver[i].content));
			assert_int_equal(arg_str(r, "sha256", s, sizeof(s)), 0);
			if (strcmp(s, hex))
				fail_msg("record %d: sha256 %s, expected that of \"%s\" (%s)", ver[i].idx, s,
					 ver[i].content, hex);
		}
	}
	log_free(&lg);
}

/* ================= 5. put, get, status ================= */

static void test_put_get_status(void **state)
{
	struct mnt *m = *state;
	char src[256], got[256], out[8192];
	size_t big = 700000, i, len;
	char *data = malloc(big), *back;
	FILE *f;
	int rc;

	assert_non_null(data);
	srand(7);
	for (i = 0; i < big; i++)
		data[i] = (char)(rand() & 0xff);
	snprintf(src, sizeof(src), "%s/input.bin", m->dir);
	snprintf(got, sizeof(got), "%s/output.bin", m->dir);
	f = fopen(src, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, big, f), big);
	assert_int_equal(fclose(f), 0);

	/* put, get: the same bytes; parents are created */
	rc = mu_run(out, sizeof(out), "%s put --store %s --key %s %s /archive/2026/a.bin %s 2>&1", mu_bin(), m->store,
		    m->key, m->vol, src);
	if (rc != 0)
		fail_msg("put exited %d: %s", rc, out);
	rc = mu_run(NULL, 0, "%s get --store %s %s /archive/2026/a.bin > %s", mu_bin(), m->store, m->vol, got);
	assert_int_equal(rc, 0);
	back = slurp(got, &len);
	assert_int_equal(len, big);
	assert_memory_equal(back, data, big);
	free(back);
	/* a small text file through stdout */
	rc = mu_run(out, sizeof(out), "printf \"one\\ntwo\\n\" | %s put --store %s --key %s %s /notes.txt - 2>/dev/null",
		    mu_bin(), m->store, m->key, m->vol);
	assert_int_equal(rc, 0);
	rc = mu_run(out, sizeof(out), "%s get --store %s %s /notes.txt", mu_bin(), m->store, m->vol);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "one\ntwo\n");
	/* errors: missing path, a directory */
	assert_int_equal(mu_run(NULL, 0, "%s get --store %s %s /nope 2>/dev/null", mu_bin(), m->store, m->vol), 1);
	assert_int_equal(mu_run(NULL, 0, "%s get --store %s %s /archive 2>/dev/null", mu_bin(), m->store, m->vol), 1);
	/* status, not mounted */
	rc = mu_run(out, sizeof(out), "%s status --store %s %s", mu_bin(), m->store, m->vol);
	if (rc != 0)
		fail_msg("status exited %d: %s", rc, out);
	assert_non_null(strstr(out, "volume:      " VOL));
	assert_non_null(strstr(out, "writer:      none"));

	/* mounted: the file is there; put is refused; status works */
	assert_int_equal(mu_mount(m, ""), 0);
	assert_content(P(m, "archive/2026/a.bin"), data, big);
	assert_content(P(m, "notes.txt"), "one\ntwo\n", 8);
	rc = mu_run(out, sizeof(out), "%s put --store %s --key %s %s /while-mounted %s 2>&1", mu_bin(), m->store, m->key,
		    m->vol, src);
	if (rc != 1)
		fail_msg("put while mounted exited %d, expected 1: %s", rc, out);
	ASSERT_ERRNO(access(P(m, "while-mounted"), F_OK), ENOENT);
	rc = mu_run(out, sizeof(out), "%s status --store %s %s", mu_bin(), m->store, m->vol);
	if (rc != 0)
		fail_msg("status while mounted exited %d: %s", rc, out);
	assert_non_null(strstr(out, "volume:      " VOL));
	if (!strstr(out, "writer:      in use"))
		fail_msg("status while mounted does not say the volume is in use:\n%s", out);
	/* a change through the mount, then unmount */
	put_file(P(m, "archive/2026/b.txt"), "through the mount", 17, 0644);
	end_session(m, NULL);

	/* after: status, a new version by put over the old path, get */
	rc = mu_run(out, sizeof(out), "%s status --store %s %s", mu_bin(), m->store, m->vol);
	if (rc != 0)
		fail_msg("status after unmount exited %d: %s", rc, out);
	assert_non_null(strstr(out, "writer:      none"));
	rc = mu_run(out, sizeof(out), "%s get --store %s %s /archive/2026/b.txt", mu_bin(), m->store, m->vol);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "through the mount");
	rc = mu_run(out, sizeof(out), "printf \"v2\" | %s put --store %s --key %s %s /archive/2026/a.bin - 2>&1",
		    mu_bin(), m->store, m->key, m->vol);
	if (rc != 0)
		fail_msg("put of a second version exited %d: %s", rc, out);
	rc = mu_run(out, sizeof(out), "%s get --store %s %s /archive/2026/a.bin", mu_bin(), m->store, m->vol);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "v2");
	/* the log and audit agree once more (files checked through get) */
	{
		struct log lg;
		unsigned long long v;
		size_t k;
		int writes = 0;
		uint8_t h[32];
		char hex[65], sha[80];

		log_read(m, &lg);
		lgfs_sha256(h, "v2", 2);
		lgfs_hex(hex, h, 32);
		for (k = 1; k < lg.n; k++)
			if (!strcmp(lg.r[k].op, "write") && !arg_u64(&lg.r[k], "size", &v))
				writes++;
		assert_int_equal(writes, 4); /* a.bin, notes.txt, b.txt, a.bin again */
		assert_int_equal(strcmp(lg.r[lg.n - 1].op, "write"), 0);
		assert_int_equal(arg_str(&lg.r[lg.n - 1], "sha256", sha, sizeof(sha)), 0);
		assert_string_equal(sha, hex);
		log_free(&lg);
	}
	rc = mu_run(out, sizeof(out), "%s audit --store %s %s 2>&1", mu_bin(), m->store, m->vol);
	if (rc != 0)
		fail_msg("audit exited %d:\n%s", rc, out);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mkdir_create_rw_unlink_rmdir, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_rename, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_hard_links, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_fifo_chmod_chown, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_truncate, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_utimensat, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_cp_p_keeps_mtime, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_xattrs, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_statvfs_access, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_fallocate_lseek_fsync, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_readdir_3000, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_mmap_sparse_replaced, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_processes, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_mount, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_eacces_other_user, setup_mounted_allow_other, teardown),
		cmocka_unit_test_setup_teardown(test_writer_attribution, setup_mounted_allow_other, teardown),
		cmocka_unit_test_setup_teardown(test_mmap_writer_attribution, setup_mounted_allow_other, teardown),
		cmocka_unit_test_setup_teardown(test_open_unlinked, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_log_records, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_put_get_status, setup_unmounted, teardown),
	};

	umask(022);
	if (geteuid() != 0) {
		/* chown, setresuid and allow_other need root: fail loudly rather than skip */
		fprintf(stderr, "test_mount_ops must run as root\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
