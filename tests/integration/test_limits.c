/*
 * test_limits.c — limits and hostile input through a mounted volume
 * (`ledgerfs mount -f`, see mount_util.h):
 *   - `ledgerfs umount` refuses a directory that is not a ledgerfs mount
 *     (a tmpfs, a bind mount, a plain directory) and leaves it mounted;
 *   - a size past the largest file (16 TiB) is EFBIG at once, by truncate,
 *     write and fallocate, and changes nothing;
 *   - a 100 GiB sparse file is cheap: truncate, a write far out, close, a
 *     SIGTERM of the daemon all take well under seconds (holes are never
 *     hashed byte by byte past 1 GiB; the record's sha256 is then zero),
 *     and such a volume audits clean in bounded time;
 *   - the directory stays usable while a version of a large file is built;
 *   - `ledgerfs log` never prints a raw control character or invalid UTF-8
 *     of a name, and `log --json` keeps every name exact.
 * A watchdog (SIGALRM) kills the daemon of a test that takes too long, so a
 * hang fails the test instead of blocking the suite.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ledgerfs/content.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/hash.h"
#include "mount_util.h"

#define VOL "limits"
#define WATCHDOG_S 120
#define GiB (1024ull * 1024 * 1024)
#define MiB (1024ull * 1024)
#define HUGE_SIZE 999999999999999ll /* the size of the report: ~0.9 PB */

/* ---- watchdog ---- */

static struct mnt *volatile g_cur;

static void on_alarm(int sig)
{
	static const char msg[] = "test_limits: watchdog: test too slow, killing its ledgerfs daemon\n";
	struct mnt *m = g_cur;

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing to do */
	}
	if (m && m->pid > 0)
		kill(m->pid, SIGKILL);
}

static void watchdog_arm(struct mnt *m)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	g_cur = m;
	alarm(WATCHDOG_S);
}

static void watchdog_disarm(void)
{
	alarm(0);
	g_cur = NULL;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- setup ---- */

static int setup_common(void **state, int mounted)
{
	struct mnt *m = calloc(1, sizeof(*m));

	if (!m)
		return -1;
	watchdog_arm(m);
	if (mu_setup(m, VOL) != 0) {
		fprintf(stderr, "setup: creating a scratch store/key/volume failed\n");
		goto fail;
	}
	if (mounted && mu_mount(m, "") != 0) {
		fprintf(stderr, "setup: mounting %s on %s failed\n", VOL, m->mp);
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
	return setup_common(state, 1);
}

static int setup_unmounted(void **state)
{
	return setup_common(state, 0);
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

/* Whole file into a NUL-terminated malloc'd buffer; *len its size. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		fail_msg("open %s: %s", path, strerror(errno));
	for (;;) {
		if (n + 65536 + 1 > cap) {
			cap = cap ? cap * 2 : 1 << 20;
			p = realloc(p, cap);
			assert_non_null(p);
		}
		size_t r = fread(p + n, 1, cap - n - 1, f);

		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	p[n] = '\0';
	*len = n;
	return p;
}

/* ---- umount refuses what is not ours ---- */

/* ledgerfs umount DIR: exit status, stderr in err. */
static int run_umount(const char *dir, char *err, size_t cap)
{
	return mu_run(err, cap, "%s umount %s 2>&1", mu_bin(), dir);
}

static void test_umount_refuses_foreign(void **state)
{
	struct mnt *m = *state;
	char dir[200], src[200], file[260], err[1024], *data;
	const char *kind;
	size_t len;
	int rc;

	/* a mount that is not ledgerfs: tmpfs, else a bind mount, else (no
	 * privilege) a plain directory, which must be refused as well */
	snprintf(dir, sizeof(dir), "%s/other", m->dir);
	snprintf(src, sizeof(src), "%s/bindsrc", m->dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(mkdir(src, 0755), 0);
	if (mount("lgfs-test", dir, "tmpfs", 0, "size=1m") == 0) {
		kind = "tmpfs";
	} else if (mount(src, dir, NULL, MS_BIND, NULL) == 0) {
		kind = "bind";
	} else {
		kind = "plain";
		print_message("no privilege to mount: testing a plain directory\n");
	}
	snprintf(file, sizeof(file), "%s/keep", dir);
	mu_run(NULL, 0, "echo still-here > %s", file);

	rc = run_umount(dir, err, sizeof(err));
	assert_int_equal(rc, 1);
	if (strcmp(kind, "plain")) {
		if (!strstr(err, "not a ledgerfs mount"))
			fail_msg("umount of a %s mount: unexpected message: %s", kind, err);
		assert_true(mu_is_mounted(dir));
	} else if (!strstr(err, "nothing is mounted there")) {
		fail_msg("umount of a plain directory: unexpected message: %s", err);
	}
	data = slurp(file, &len);
	assert_string_equal(data, "still-here\n");
	free(data);
	/* also with a trailing slash and through a relative path */
	{
		char withslash[210], rel[300];

		snprintf(withslash, sizeof(withslash), "%s/", dir);
		assert_int_equal(run_umount(withslash, err, sizeof(err)), 1);
		snprintf(rel, sizeof(rel), "cd %s && %s umount other 2>&1", m->dir, mu_bin());
		assert_int_equal(mu_run(err, sizeof(err), "%s", rel), 1);
	}
	if (strcmp(kind, "plain")) {
		assert_true(mu_is_mounted(dir));
		assert_int_equal(umount(dir), 0);
	}
	/* nothing at all there */
	snprintf(dir, sizeof(dir), "%s/missing", m->dir);
	assert_int_equal(run_umount(dir, err, sizeof(err)), 1);

	/* the volume's own mount point: unmounted, the daemon exits */
	assert_int_equal(mu_mount(m, ""), 0);
	assert_int_equal(run_umount(m->mp, err, sizeof(err)), 0);
	assert_false(mu_is_mounted(m->mp));
	assert_int_equal(mu_umount(m), 0); /* reaps the daemon */
}

/* ---- sizes ---- */

/* The report's case, and every way past the largest file: EFBIG, fast,
 * and nothing changes. */
static void test_efbig(void **state)
{
	struct mnt *m = *state;
	char path[256];
	struct stat st;
	double t0;
	int fd;

	mu_path(m, "f", path, sizeof(path));
	fd = open(path, O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "hello", 5, 0), 5);

	t0 = now_s();
	errno = 0;
	assert_int_equal(truncate(path, HUGE_SIZE), -1);
	assert_int_equal(errno, EFBIG);
	errno = 0;
	assert_int_equal(ftruncate(fd, HUGE_SIZE), -1);
	assert_int_equal(errno, EFBIG);
	errno = 0;
	assert_int_equal(ftruncate(fd, (off_t)LGFS_FILE_SIZE_MAX + 1), -1);
	assert_int_equal(errno, EFBIG);
	errno = 0;
	assert_int_equal(pwrite(fd, "x", 1, HUGE_SIZE), -1);
	assert_int_equal(errno, EFBIG);
	errno = 0;
	assert_int_equal(pwrite(fd, "xy", 2, (off_t)LGFS_FILE_SIZE_MAX - 1), -1);
	assert_int_equal(errno, EFBIG);
	assert_int_equal(posix_fallocate(fd, HUGE_SIZE - 10, 10), EFBIG);
	assert_true(now_s() - t0 < 5.0);
	/* the command-line tool sees the same */
	assert_true(mu_run(NULL, 0, "truncate -s %lld %s 2>/dev/null", HUGE_SIZE, path) != 0);

	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 5);
	{
		char buf[8] = { 0 };

		assert_int_equal(pread(fd, buf, sizeof(buf), 0), 5);
		assert_string_equal(buf, "hello");
	}
	/* exactly the largest size is allowed, and cheap */
	t0 = now_s();
	assert_int_equal(ftruncate(fd, (off_t)LGFS_FILE_SIZE_MAX), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true((uint64_t)st.st_size == LGFS_FILE_SIZE_MAX);
	assert_int_equal(ftruncate(fd, 5), 0);
	assert_true(now_s() - t0 < 5.0);
	assert_int_equal(close(fd), 0);
}

/* The last write/truncate record of an inode in `log --json`: its sha256. */
static int last_version_sha(struct mnt *m, unsigned long long ino, char sha[65])
{
	char path[256], want[64], *text, *line, *save = NULL;
	size_t len;
	int found = 0;

	snprintf(path, sizeof(path), "%s/log.jsonl", m->dir);
	if (mu_run(NULL, 0, "%s log --json --store %s %s > %s", mu_bin(), m->store, m->vol, path) != 0)
		fail_msg("ledgerfs log --json failed");
	text = slurp(path, &len);
	snprintf(want, sizeof(want), "\"ino\":%llu,", ino);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *s;

		if ((!strstr(line, "\"op\":\"write\"") && !strstr(line, "\"op\":\"truncate\"")) || !strstr(line, want))
			continue;
		s = strstr(line, "\"sha256\":\"");
		if (!s)
			continue;
		memcpy(sha, s + 10, 64);
		sha[64] = '\0';
		found = 1;
	}
	free(text);
	unlink(path);
	return found ? 0 : -1;
}

static void assert_zeros_at(int fd, off_t off)
{
	uint8_t buf[4096], zero[4096] = { 0 };

	assert_int_equal(pread(fd, buf, sizeof(buf), off), (ssize_t)sizeof(buf));
	assert_memory_equal(buf, zero, sizeof(buf));
}

/* 100 GiB sparse: every step bounded; the content reads back; the record's
 * hash says "not computed" (its holes pass 1 GiB). */
static void test_sparse_100gib(void **state)
{
	struct mnt *m = *state;
	char path[256], sha[65];
	unsigned long long ino;
	struct stat st;
	double t0;
	int fd;

	mu_path(m, "big", path, sizeof(path));
	fd = open(path, O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	t0 = now_s();
	assert_int_equal(mu_run(NULL, 0, "truncate -s 100G %s", path), 0);
	if (now_s() - t0 > 3.0)
		fail_msg("truncate -s 100G took %.1f s", now_s() - t0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true((uint64_t)st.st_size == 100 * GiB);
	ino = (unsigned long long)st.st_ino;
	assert_zeros_at(fd, 0);
	assert_zeros_at(fd, (off_t)(50 * GiB) + 12345);
	assert_zeros_at(fd, (off_t)(100 * GiB) - 4096);
	/* a write far out, then close: a new version, as cheap */
	t0 = now_s();
	assert_int_equal(pwrite(fd, "needle", 6, (off_t)(60 * GiB)), 6);
	assert_int_equal(close(fd), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(200 * GiB)), 0);
	if (now_s() - t0 > 3.0)
		fail_msg("a write at 60 GiB, close and truncate to 200 GiB took %.1f s", now_s() - t0);
	{
		char buf[6];

		assert_int_equal(pread(fd, buf, 6, (off_t)(60 * GiB)), 6);
		assert_memory_equal(buf, "needle", 6);
	}
	assert_zeros_at(fd, (off_t)(60 * GiB) - 4096);
	assert_zeros_at(fd, (off_t)(150 * GiB));
	assert_int_equal(close(fd), 0);

	/* after a remount (cold), the same bytes */
	assert_int_equal(mu_umount(m), 0);
	assert_int_equal(last_version_sha(m, ino, sha), 0);
	assert_string_equal(sha, "0000000000000000000000000000000000000000000000000000000000000000");
	assert_int_equal(mu_mount(m, ""), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true((uint64_t)st.st_size == 200 * GiB);
	{
		char buf[6];

		assert_int_equal(pread(fd, buf, 6, (off_t)(60 * GiB)), 6);
		assert_memory_equal(buf, "needle", 6);
	}
	assert_zeros_at(fd, (off_t)(200 * GiB) - 4096);
	assert_int_equal(close(fd), 0);
}

/* Up to 1 GiB of holes the record still carries the content's SHA-256. */
static void test_sparse_small_hashed(void **state)
{
	struct mnt *m = *state;
	char path[256], sha[65], hex[65];
	struct stat st;
	uint8_t h[32];
	int fd;

	mu_path(m, "small", path, sizeof(path));
	fd = open(path, O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8 * MiB), 0);
	assert_int_equal(pwrite(fd, "z", 1, 8 * MiB), 1);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(mu_umount(m), 0);
	assert_int_equal(last_version_sha(m, (unsigned long long)st.st_ino, sha), 0);
	{
		uint8_t *buf = calloc(1, 8 * MiB + 1);

		buf[8 * MiB] = 'z';
		lgfs_sha256(h, buf, 8 * MiB + 1);
		free(buf);
	}
	lgfs_hex(hex, h, 32);
	assert_string_equal(sha, hex);
	assert_int_equal(mu_mount(m, ""), 0);
}

/* A volume with a very sparse file is a clean volume: audit passes, and in
 * bounded time (its holes are not hashed: the record's hash is "not
 * computed", its chunks are what audit verifies). */
static void test_sparse_audit(void **state)
{
	struct mnt *m = *state;
	char path[256], out[8192];
	double t0;
	int fd, rc;

	mu_path(m, "sparse", path, sizeof(path));
	fd = open(path, O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "start", 5, 0), 5);
	assert_int_equal(pwrite(fd, "end", 3, (off_t)(50 * GiB)), 3);
	assert_int_equal(close(fd), 0);
	assert_int_equal(mu_umount(m), 0);
	t0 = now_s();
	rc = mu_run(out, sizeof(out), "%s audit --store %s %s 2>&1", mu_bin(), m->store, m->vol);
	if (rc != 0)
		fail_msg("audit of a volume with a 50 GiB sparse file exited %d:\n%s", rc, out);
	if (now_s() - t0 > 10.0)
		fail_msg("audit of a volume with a 50 GiB sparse file took %.1f s", now_s() - t0);
	assert_int_equal(mu_mount(m, ""), 0);
}

/* SIGTERM with a dirty 100 GiB sparse file open: the daemon commits it and
 * exits promptly, and the version is there after a remount. */
static void test_sigterm_sparse(void **state)
{
	struct mnt *m = *state;
	char path[256];
	struct stat st;
	double t0;
	int fd, status, i;

	mu_path(m, "open-big", path, sizeof(path));
	fd = open(path, O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "far", 3, (off_t)(100 * GiB)), 3);
	t0 = now_s();
	assert_int_equal(kill(m->pid, SIGTERM), 0);
	for (i = 0; i < 3000; i++) {
		if (waitpid(m->pid, &status, WNOHANG) == m->pid)
			break;
		usleep(10000);
	}
	if (i == 3000)
		fail_msg("the daemon did not exit within 30 s of SIGTERM");
	m->pid = 0;
	close(fd); /* the connection is gone: the result does not matter */
	if (now_s() - t0 > 10.0)
		fail_msg("SIGTERM took %.1f s", now_s() - t0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	mu_run(NULL, 0, "fusermount3 -uz %s 2>/dev/null", m->mp);
	assert_int_equal(mu_mount(m, ""), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true((uint64_t)st.st_size == 100 * GiB + 3);
}

/* ---- responsiveness while a version is built ---- */

struct closer {
	int fd;
	double took;
	int rc;
};

static void *close_thread(void *arg)
{
	struct closer *c = arg;
	double t0 = now_s();

	c->rc = close(c->fd);
	c->took = now_s() - t0;
	return NULL;
}

/* A file of 384 MiB of data, edited at its start: closing it rebuilds the
 * version (reads, cuts and hashes every data byte) under the file's lock.
 * Meanwhile the directory, the mount's root and another directory answer
 * stat at once. (A listing with attributes waits for the file's own
 * attributes, which take its lock: see the design notes of file.c.) */
static void test_dir_responsive_during_build(void **state)
{
	struct mnt *m = *state;
	char path[256], dirp[256], other[256];
	const size_t piece = 1 << 20, total = 384 * MiB;
	struct closer c = { -1, 0, 0 };
	double worst = 0, t0;
	uint8_t *buf = malloc(piece);
	uint64_t seed = 7;
	pthread_t tid;
	struct stat st;
	size_t off, i;
	int probes = 0, running = 1;

	assert_non_null(buf);
	mu_path(m, "other", other, sizeof(other));
	assert_int_equal(mkdir(other, 0755), 0);
	mu_path(m, "dir", dirp, sizeof(dirp));
	assert_int_equal(mkdir(dirp, 0755), 0);
	mu_path(m, "dir/large", path, sizeof(path));
	c.fd = open(path, O_CREAT | O_RDWR, 0644);
	assert_true(c.fd >= 0);
	for (off = 0; off < total; off += piece) {
		for (i = 0; i < piece; i += 8) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			memcpy(buf + i, &seed, 8);
		}
		assert_int_equal(pwrite(c.fd, buf, piece, (off_t)off), (ssize_t)piece);
	}
	assert_int_equal(pwrite(c.fd, "edit", 4, 0), 4); /* not sequential: a full rebuild at close */
	assert_int_equal(pthread_create(&tid, NULL, close_thread, &c), 0);
	while (running) {
		t0 = now_s();
		assert_int_equal(stat(dirp, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(stat(m->mp, &st), 0);
		assert_int_equal(stat(other, &st), 0);
		if (now_s() - t0 > worst)
			worst = now_s() - t0;
		probes++;
		usleep(10000);
		__sync_synchronize();
		running = c.took == 0;
	}
	pthread_join(tid, NULL);
	assert_int_equal(c.rc, 0);
	print_message("version build took %.2f s; %d probes, slowest %.3f s\n", c.took, probes, worst);
	if (worst > 0.5)
		fail_msg("stat of the directory took %.2f s during a version build", worst);
	if (probes < 3)
		fail_msg("the version build (%.2f s) was too short to probe during it", c.took);
	{
		DIR *d = opendir(dirp);
		struct dirent *e;
		int n = 0;

		assert_non_null(d);
		while ((e = readdir(d)))
			n++;
		closedir(d);
		assert_int_equal(n, 3); /* ., .., large */
	}
	free(buf);
}

/* ---- names in log output ---- */

/* Names made through the mount and through `ledgerfs put`. */
static const struct {
	const char *name;  /* bytes */
	const char *text;  /* `ledgerfs log` shows */
	const char *json;  /* `ledgerfs log --json` writes as the value */
} g_names[] = {
	{ "esc\x1b[31mred", "esc\\x1b[31mred", "\"esc\\u001b[31mred\"" },
	{ "nl\nforged 99 line", "nl\\x0aforged 99 line", "\"nl\\nforged 99 line\"" },
	{ "bad\xff\xfe", "bad\\xff\\xfe", "{\"b64\":\"YmFk//4=\"}" },
	{ "back\\slash", "back\\\\slash", "\"back\\\\slash\"" },
	{ "caf\xc3\xa9", "caf\xc3\xa9", "\"caf\xc3\xa9\"" },
	{ "csi\xc2\x9b", "csi\\xc2\\x9b", "\"csi\\u009b\"" },
	/* the escaped spelling of a name is another name, told apart */
	{ "bad\\xff\\xfe", "bad\\\\xff\\\\xfe", "\"bad\\\\xff\\\\xfe\"" },
};
#define NNAMES (sizeof(g_names) / sizeof(g_names[0]))

/* No raw control byte (but the newline ending each line), valid UTF-8. */
static void assert_clean_output(const char *what, const char *text, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];

		if ((ch < 0x20 && ch != '\n') || ch == 0x7f)
			fail_msg("%s: raw control byte 0x%02x at %zu", what, ch, i);
	}
	if (!lgfs_utf8_valid(text, len))
		fail_msg("%s: output is not valid UTF-8", what);
}

static size_t count_lines(const char *text, const char *prefix)
{
	size_t n = 0;
	const char *p = text;

	while (*p) {
		if (!prefix || !strncmp(p, prefix, strlen(prefix)))
			n++;
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
	return n;
}

static void test_log_escapes_names(void **state)
{
	struct mnt *m = *state;
	char path[512], out[512], *text, *json;
	size_t i, len, jlen, records;

	assert_int_equal(mu_mount(m, ""), 0);
	for (i = 0; i < NNAMES; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/%s", m->mp, g_names[i].name);
		fd = open(path, O_CREAT | O_WRONLY, 0644);
		if (fd < 0)
			fail_msg("creating name %zu through the mount: %s", i, strerror(errno));
		close(fd);
	}
	assert_int_equal(mu_umount(m), 0);
	/* and through put: a directory and a file with hostile names */
	snprintf(path, sizeof(path), "%s/input", m->dir);
	mu_run(NULL, 0, "echo content > %s", path);
	assert_int_equal(mu_run(NULL, 0, "%s put --store %s --key %s %s \"$(printf \"/put\\033]0;title\\007/f\\377\")\" %s"
				" 2>/dev/null", mu_bin(), m->store, m->key, m->vol, path), 0);

	snprintf(out, sizeof(out), "%s/log.txt", m->dir);
	assert_int_equal(mu_run(NULL, 0, "%s log --store %s %s > %s", mu_bin(), m->store, m->vol, out), 0);
	text = slurp(out, &len);
	snprintf(out, sizeof(out), "%s/log.jsonl", m->dir);
	assert_int_equal(mu_run(NULL, 0, "%s log --json --store %s %s > %s", mu_bin(), m->store, m->vol, out), 0);
	json = slurp(out, &jlen);

	assert_clean_output("log", text, len);
	assert_clean_output("log --json", json, jlen);
	/* one line per record, in both forms: no name forged a line */
	records = count_lines(json, NULL);
	assert_true(records > NNAMES);
	assert_int_equal(count_lines(json, "{\"index\":"), records);
	assert_int_equal(count_lines(text, NULL), records);
	for (i = 0; i < NNAMES; i++) {
		char want[256];

		snprintf(want, sizeof(want), "name=\"%s\"", g_names[i].text);
		if (!strstr(text, want))
			fail_msg("log: name %zu not shown as %s", i, want);
		snprintf(want, sizeof(want), "\"name\":%s", g_names[i].json);
		if (!strstr(json, want))
			fail_msg("log --json: name %zu not written as %s", i, want);
	}
	/* the names from put: "put<OSC>0;title<BEL>" and "f\xff" */
	if (!strstr(text, "name=\"put\\x1b]0;title\\x07\"") || !strstr(text, "name=\"f\\xff\""))
		fail_msg("log: the names from put are not escaped:\n%s", text);
	if (!strstr(json, "\"name\":\"put\\u001b]0;title\\u0007\"") || !strstr(json, "\"name\":{\"b64\":\"Zv8=\"}"))
		fail_msg("log --json: the names from put are not encoded:\n%s", json);
	free(text);
	free(json);
	assert_int_equal(mu_mount(m, ""), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_umount_refuses_foreign, setup_unmounted, teardown),
		cmocka_unit_test_setup_teardown(test_efbig, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_sparse_100gib, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_sparse_small_hashed, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_sparse_audit, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_sparse, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_dir_responsive_during_build, setup_mounted, teardown),
		cmocka_unit_test_setup_teardown(test_log_escapes_names, setup_unmounted, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
