/*
 * test_mount_past.c — the past as a file system, through real system
 * calls: a scripted workload in a read-write mount (create, overwrite,
 * append, truncate, renames of a file and a directory, a hard link, a
 * deletion, an editor's write-then-rename, an xattr, chmod, a symlink, a
 * large directory), a snapshot of the live tree and of the log position
 * after every step; then every snapshot must be what
 * /.ledgerfs/at/INDEX shows, and — for a sample — what `ledgerfs mount
 * --at INDEX` shows in a second mount point. Also: /.ledgerfs is hidden
 * from listings, everything in it and in an --at mount refuses changes
 * with EROFS, diff -r between points, an RFC 3339 point, the history
 * directory of a deleted file and its old contents, seekdir in a large
 * past directory, bad points refused by the command, and clean unmounts.
 *
 * A watchdog (SIGALRM) kills the daemons of a test that takes too long:
 * calls blocked on a dead mount then fail and the test fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ledgerfs/hash.h"
#include "mount_util.h"

#define VOL "past"
#define WATCHDOG_S 90 /* the test takes well under a minute */
#define MAX_STEPS 64

/* ---- watchdog ---- */

static struct mnt *volatile g_main, *volatile g_second;
static volatile sig_atomic_t g_timed_out;

static void on_alarm(int sig)
{
	static const char msg[] = "test_mount_past: watchdog: test too slow, killing its ledgerfs daemons\n";

	(void)sig;
	g_timed_out = 1;
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing to do */
	}
	if (g_main && g_main->pid > 0)
		kill(g_main->pid, SIGKILL);
	if (g_second && g_second->pid > 0)
		kill(g_second->pid, SIGKILL);
}

static void watchdog_arm(struct mnt *m)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	g_timed_out = 0;
	g_main = m;
	alarm(WATCHDOG_S);
}

static void watchdog_disarm(void)
{
	alarm(0);
	g_main = NULL;
	g_second = NULL;
}

/* ---- setup and teardown ---- */

/* The test's state: the read-write mount and a second mount point. */
struct fx {
	struct mnt m;  /* read-write mount */
	struct mnt m2; /* --at mounts, same store, mount point m.dir/mnt2 */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	watchdog_arm(&f->m);
	g_second = &f->m2;
	if (mu_setup(&f->m, VOL) != 0) {
		fprintf(stderr, "setup: creating a scratch store/key/volume failed\n");
		goto fail;
	}
	f->m2 = f->m;
	f->m2.pid = 0;
	f->m2.dir[0] = '\0'; /* removed with m's scratch directory */
	snprintf(f->m2.mp, sizeof(f->m2.mp), "%s/mnt2", f->m.dir);
	if (mkdir(f->m2.mp, 0755) != 0) {
		fprintf(stderr, "setup: mkdir %s: %s\n", f->m2.mp, strerror(errno));
		goto fail;
	}
	if (mu_mount(&f->m, "") != 0) {
		fprintf(stderr, "setup: mounting %s on %s failed\n", VOL, f->m.mp);
		goto fail;
	}
	*state = f;
	return 0;
fail:
	mu_teardown(&f->m2);
	mu_teardown(&f->m);
	watchdog_disarm();
	free(f);
	return -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f) {
		mu_teardown(&f->m2);
		mu_teardown(&f->m);
		free(f);
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

/* A path under a directory (a few rotating buffers, so several fit in one
 * call). */
static const char *P(const char *dir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *P(const char *dir, const char *fmt, ...)
{
	static char bufs[8][1024];
	static unsigned int next;
	char rel[512];
	char *b = bufs[next++ % 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, rel);
	return b;
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

/* Write a file (flags: O_TRUNC or O_APPEND) and fsync it before closing. */
static void put(const char *path, int flags, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_CREAT | O_WRONLY | flags, mode);

	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	write_all_fd(fd, data, len);
	if (fsync(fd) != 0)
		fail_msg("fsync %s: %s", path, strerror(errno));
	if (close(fd) != 0)
		fail_msg("close %s: %s", path, strerror(errno));
}

static void puts_(const char *path, int flags, const char *s)
{
	put(path, flags, s, strlen(s), 0644);
}

/* Whole content of a file (malloc'd, NUL-terminated); *len its size. */
static char *slurp(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *p = malloc(cap + 1);
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
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
			fail_msg("read %s: %s", path, strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	p[n] = '\0';
	if (len)
		*len = n;
	return p;
}

/* A growing string. */
struct str {
	char *p;
	size_t n, cap;
};

static void str_addf(struct str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void str_addf(struct str *s, const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert_true(len >= 0);
	if (s->n + (size_t)len + 1 > s->cap) {
		s->cap = (s->n + (size_t)len + 1) * 2;
		s->p = realloc(s->p, s->cap);
		assert_non_null(s->p);
	}
	va_start(ap, fmt);
	vsnprintf(s->p + s->n, s->cap - s->n, fmt, ap);
	va_end(ap);
	s->n += (size_t)len;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of a directory (without . and ..); *n how many. */
static char **list_dir(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t cap = 0;

	*n = 0;
	if (!d)
		fail_msg("opendir %s: %s", dir, strerror(errno));
	errno = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 32;
			v = realloc(v, cap * sizeof(*v));
			assert_non_null(v);
		}
		v[(*n)++] = strdup(e->d_name);
	}
	if (errno)
		fail_msg("readdir %s: %s", dir, strerror(errno));
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), name_cmp);
	return v;
}

static void free_list(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* One line per node under `root` (itself as "."), in name order: type and
 * mode, nlink, owner, size, mtime, then the SHA-256 of a file's content or
 * a symlink's target, and every xattr with its value. */
static void walk(const char *root, const char *rel, struct str *out)
{
	char path[4096], buf[4096], hex[65];
	uint8_t h[32];
	struct stat sb;
	ssize_t len;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (lstat(path, &sb) != 0)
		fail_msg("lstat %s: %s", path, strerror(errno));
	str_addf(out, "%s mode=%o nlink=%lu uid=%u gid=%u size=%lld mtime=%lld.%09ld", rel, (unsigned int)sb.st_mode,
		 (unsigned long)sb.st_nlink, (unsigned int)sb.st_uid, (unsigned int)sb.st_gid, (long long)sb.st_size,
		 (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
	if (S_ISREG(sb.st_mode)) {
		size_t n;
		char *data = slurp(path, &n);

		assert_int_equal(n, (size_t)sb.st_size);
		lgfs_sha256(h, data, n);
		lgfs_hex(hex, h, 32);
		str_addf(out, " sha256=%s", hex);
		free(data);
	} else if (S_ISLNK(sb.st_mode)) {
		len = readlink(path, buf, sizeof(buf) - 1);
		if (len < 0)
			fail_msg("readlink %s: %s", path, strerror(errno));
		buf[len] = '\0';
		str_addf(out, " -> %s", buf);
	}
	if (!S_ISLNK(sb.st_mode)) {
		char names[4096], val[4096];
		char *v[64];
		size_t nv = 0, i;
		char *p;

		len = llistxattr(path, names, sizeof(names));
		if (len < 0)
			fail_msg("llistxattr %s: %s", path, strerror(errno));
		for (p = names; p < names + len && nv < 64; p += strlen(p) + 1)
			v[nv++] = p;
		qsort(v, nv, sizeof(*v), name_cmp);
		for (i = 0; i < nv; i++) {
			ssize_t vl = lgetxattr(path, v[i], val, sizeof(val) - 1);

			if (vl < 0)
				fail_msg("lgetxattr %s %s: %s", path, v[i], strerror(errno));
			val[vl] = '\0';
			str_addf(out, " xattr:%s=%s", v[i], val);
		}
	}
	str_addf(out, "\n");
	if (S_ISDIR(sb.st_mode)) {
		size_t n, i;
		char **names = list_dir(path, &n);

		for (i = 0; i < n; i++) {
			char sub[4096];

			snprintf(sub, sizeof(sub), "%s/%s", rel, names[i]);
			walk(root, strcmp(rel, ".") ? sub : names[i], out);
		}
		free_list(names, n);
	}
}

static char *snapshot(const char *root)
{
	struct str s = { NULL, 0, 0 };

	walk(root, ".", &s);
	return s.p;
}

/* Compare two snapshots; on a difference, say where. */
static void assert_same_tree(const char *want, const char *got, const char *what)
{
	const char *a = want, *b = got;

	if (!strcmp(want, got))
		return;
	while (*a && *a == *b)
		a++, b++;
	while (a > want && a[-1] != '\n')
		a--, b--;
	fail_msg("%s differs from the live tree it was:\n  was: %.300s\n  now: %.300s", what, a, b);
}

/* ---- the log position ---- */

/* The entries the log holds on disk (`ledgerfs volumes --json`: readable
 * while mounted; counts what is durable). */
static unsigned long long durable_entries(struct mnt *m)
{
	char out[4096], *p;

	assert_int_equal(mu_run(out, sizeof(out), "%s volumes --store %s --json", mu_bin(), m->store), 0);
	p = strstr(out, "\"entries\":");
	assert_non_null(p);
	return strtoull(p + strlen("\"entries\":"), NULL, 10);
}

/* Make everything durable (fsync of the root directory syncs the volume),
 * then the index of the last record: what /.ledgerfs/at lists (only the
 * newest point), which must be what the log on disk says too. */
static unsigned long long position(struct mnt *m)
{
	unsigned long long idx;
	size_t n;
	char **v;
	int fd = open(m->mp, O_RDONLY | O_DIRECTORY);

	assert_true(fd >= 0);
	ASSERT_OK(fsync(fd));
	close(fd);
	v = list_dir(P(m->mp, ".ledgerfs/at"), &n);
	assert_int_equal(n, 1);
	idx = strtoull(v[0], NULL, 10);
	free_list(v, n);
	assert_int_equal(durable_entries(m), idx + 1);
	return idx;
}

/* A recorded state: the position after a step and the live tree then. */
struct shot {
	unsigned long long at;
	char *tree;
	const char *step;
};

struct shots {
	struct shot v[MAX_STEPS];
	size_t n;
};

static void record(struct shots *s, struct mnt *m, const char *step)
{
	assert_true(s->n < MAX_STEPS);
	s->v[s->n].at = position(m);
	s->v[s->n].tree = snapshot(m->mp);
	s->v[s->n].step = step;
	if (s->n)
		assert_true(s->v[s->n].at > s->v[s->n - 1].at); /* each step is new records */
	s->n++;
}

/* ---- checks ---- */

/* Every change under dir (an existing regular file `file` in it) is
 * EROFS. */
static void assert_readonly_dir(const char *dir, const char *file)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	ASSERT_ERRNO(open(P(dir, "new-file"), O_CREAT | O_WRONLY, 0644), EROFS);
	ASSERT_ERRNO(mkdir(P(dir, "new-dir"), 0755), EROFS);
	ASSERT_ERRNO(symlink("x", P(dir, "new-link")), EROFS);
	ASSERT_ERRNO(mknod(P(dir, "new-fifo"), S_IFIFO | 0644, 0), EROFS);
	ASSERT_ERRNO(open(p, O_WRONLY), EROFS);
	ASSERT_ERRNO(open(p, O_RDWR), EROFS);
	ASSERT_ERRNO(open(p, O_WRONLY | O_TRUNC), EROFS);
	ASSERT_ERRNO(truncate(p, 0), EROFS);
	ASSERT_ERRNO(unlink(p), EROFS);
	ASSERT_ERRNO(rename(p, P(dir, "renamed")), EROFS);
	ASSERT_ERRNO(link(p, P(dir, "hard")), EROFS);
	ASSERT_ERRNO(chmod(p, 0600), EROFS);
	ASSERT_ERRNO(chmod(dir, 0700), EROFS);
	ASSERT_ERRNO(setxattr(p, "user.x", "1", 1, 0), EROFS);
	ASSERT_ERRNO(removexattr(p, "user.x"), EROFS);
	ASSERT_ERRNO(utimensat(AT_FDCWD, p, NULL, 0), EROFS);
}

/* Exit status of diff -r between two directories (output discarded). */
static int diff_r(const char *a, const char *b)
{
	return mu_run(NULL, 0, "diff -r %s %s >/dev/null 2>&1", a, b);
}

/* ---- the test ---- */

static void test_past(void **state)
{
	struct fx *f = *state;
	struct mnt *m = &f->m;
	const char *mp = m->mp;
	struct shots s = { .n = 0 };
	char big[100000], buf[512], out[8192];
	unsigned long long gone_at = 0, last;
	size_t i, n;
	char *data, **names;
	int fd;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + (i * 7 + i / 13) % 26);

	/* ---- the workload, a snapshot after each step ---- */
	record(&s, m, "empty");
	puts_(P(mp, "f1"), O_TRUNC, "hello\n");
	record(&s, m, "create f1");
	puts_(P(mp, "f1"), O_TRUNC, "second version of f1\n");
	record(&s, m, "overwrite f1");
	puts_(P(mp, "f1"), O_APPEND, "appended line\n");
	record(&s, m, "append to f1");
	ASSERT_OK(mkdir(P(mp, "d"), 0755));
	put(P(mp, "d/x"), O_TRUNC, big, sizeof(big), 0640);
	record(&s, m, "mkdir d, write d/x");
	ASSERT_OK(truncate(P(mp, "d/x"), 1000));
	record(&s, m, "truncate d/x");
	ASSERT_OK(rename(P(mp, "f1"), P(mp, "d/f1moved")));
	record(&s, m, "rename f1 into d");
	ASSERT_OK(rename(P(mp, "d"), P(mp, "e")));
	record(&s, m, "rename directory d to e");
	ASSERT_OK(link(P(mp, "e/x"), P(mp, "hl")));
	record(&s, m, "hard link hl to e/x");
	puts_(P(mp, "gone.txt"), O_TRUNC, "old content of gone\n");
	record(&s, m, "create gone.txt");
	puts_(P(mp, "gone.txt"), O_TRUNC, "second content of gone, longer\n");
	record(&s, m, "overwrite gone.txt");
	ASSERT_OK(unlink(P(mp, "gone.txt")));
	record(&s, m, "delete gone.txt");
	gone_at = s.v[s.n - 1].at;
	puts_(P(mp, "e/doc"), O_TRUNC, "draft 1\n");
	record(&s, m, "create e/doc");
	puts_(P(mp, "e/.doc.swp"), O_TRUNC, "draft 2, saved the way editors do\n");
	ASSERT_OK(rename(P(mp, "e/.doc.swp"), P(mp, "e/doc")));
	record(&s, m, "editor save of e/doc");
	ASSERT_OK(setxattr(P(mp, "hl"), "user.note", "remember me", 11, 0));
	record(&s, m, "setxattr on hl");
	ASSERT_OK(chmod(P(mp, "hl"), 0600));
	record(&s, m, "chmod hl");
	ASSERT_OK(symlink("e/doc", P(mp, "ln")));
	record(&s, m, "symlink ln");
	ASSERT_OK(mkdir(P(mp, "e/sub"), 0700));
	puts_(P(mp, "e/sub/deep"), O_TRUNC, "deep\n");
	record(&s, m, "mkdir e/sub with a file");
	ASSERT_OK(unlink(P(mp, "e/sub/deep")));
	ASSERT_OK(rmdir(P(mp, "e/sub")));
	record(&s, m, "remove e/sub");
	ASSERT_OK(mkdir(P(mp, "many"), 0755));
	for (i = 0; i < 300; i++) {
		snprintf(buf, sizeof(buf), "many/file-with-a-longish-name-%03zu", i);
		fd = open(P(mp, "%s", buf), O_CREAT | O_WRONLY, 0644);
		assert_true(fd >= 0);
		close(fd);
	}
	record(&s, m, "300 files in many/");
	puts_(P(mp, "e/doc"), O_APPEND, "draft 3\n");
	record(&s, m, "append to e/doc");

	/* ---- /.ledgerfs is there but never listed ---- */
	names = list_dir(mp, &n);
	for (i = 0; i < n; i++)
		assert_string_not_equal(names[i], ".ledgerfs");
	free_list(names, n);
	assert_int_equal(mu_run(out, sizeof(out), "ls -a %s", mp), 0);
	assert_null(strstr(out, ".ledgerfs"));
	assert_non_null(strstr(out, "hl"));
	assert_int_equal(mu_run(out, sizeof(out), "find %s | grep -c -e ledgerfs -e /e/doc", mp), 0);
	assert_string_equal(out, "1\n"); /* e/doc, nothing of .ledgerfs */
	{
		struct stat sb;

		ASSERT_OK(stat(P(mp, ".ledgerfs"), &sb));
		assert_true(S_ISDIR(sb.st_mode));
		names = list_dir(P(mp, ".ledgerfs"), &n);
		assert_int_equal(n, 2);
		assert_string_equal(names[0], "at");
		assert_string_equal(names[1], "history");
		free_list(names, n);
	}
	/* the name cannot be taken in the root */
	ASSERT_ERRNO(mkdir(P(mp, ".ledgerfs"), 0755), EEXIST);
	ASSERT_ERRNO(open(P(mp, ".ledgerfs"), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
	ASSERT_ERRNO(symlink("x", P(mp, ".ledgerfs")), EEXIST);
	ASSERT_ERRNO(rmdir(P(mp, ".ledgerfs")), EROFS);
	ASSERT_ERRNO(rename(P(mp, ".ledgerfs"), P(mp, "meta")), EROFS);
	ASSERT_OK(mkdir(P(mp, "tmpdir"), 0755));
	ASSERT_ERRNO(rename(P(mp, "tmpdir"), P(mp, ".ledgerfs")), EROFS);
	ASSERT_OK(rmdir(P(mp, "tmpdir")));
	last = position(m); /* those two records */
	assert_int_equal(last, s.v[s.n - 1].at + 2);

	/* ---- every snapshot is what at/INDEX shows ---- */
	for (i = 0; i < s.n; i++) {
		char what[256], *t;

		snprintf(what, sizeof(what), ".ledgerfs/at/%llu (after \"%s\")", s.v[i].at, s.v[i].step);
		t = snapshot(P(mp, ".ledgerfs/at/%llu", s.v[i].at));
		assert_same_tree(s.v[i].tree, t, what);
		free(t);
	}
	/* a point between two steps is the state of the earlier one (the
	 * 300 creates are many records) */
	{
		size_t k;

		for (k = 1; k < s.n && s.v[k].at == s.v[k - 1].at + 1; k++)
			;
		assert_true(k < s.n);
		data = snapshot(P(mp, ".ledgerfs/at/%llu", s.v[k].at - 1));
		assert_string_not_equal(data, s.v[k].tree);
		free(data);
	}

	/* ---- diff -r between points ---- */
	assert_int_equal(diff_r(P(mp, ".ledgerfs/at/%llu", s.v[1].at), P(mp, ".ledgerfs/at/%llu", s.v[2].at)), 1);
	assert_int_equal(diff_r(P(mp, ".ledgerfs/at/%llu", s.v[3].at), P(mp, ".ledgerfs/at/%llu", s.v[3].at)), 0);
	assert_int_equal(diff_r(P(mp, ".ledgerfs/at/%llu", s.v[s.n - 1].at), mp), 0);

	/* ---- an RFC 3339 point: the time of a step's last record ---- */
	{
		size_t k = s.n / 2;
		char *t, *p, *q, name[128];

		assert_int_equal(mu_run(out, sizeof(out), "%s log --store %s --json --from %llu --limit 1 %s",
					mu_bin(), m->store, s.v[k].at, VOL),
				 0);
		p = strstr(out, "\"time\":\"");
		assert_non_null(p);
		p += strlen("\"time\":\"");
		q = strchr(p, '"');
		assert_non_null(q);
		snprintf(name, sizeof(name), "%.*s", (int)(q - p), p);
		t = snapshot(P(mp, ".ledgerfs/at/%s", name));
		assert_same_tree(s.v[k].tree, t, "the state at an RFC 3339 time");
		free(t);
		assert_int_equal(diff_r(P(mp, ".ledgerfs/at/%s", name), P(mp, ".ledgerfs/at/%llu", s.v[k].at)), 0);
	}
	/* not points */
	{
		struct stat sb;

		ASSERT_ERRNO(stat(P(mp, ".ledgerfs/at/%llu", s.v[s.n - 1].at + 1000), &sb), ENOENT);
		ASSERT_ERRNO(stat(P(mp, ".ledgerfs/at/yesterday"), &sb), ENOENT);
		ASSERT_ERRNO(stat(P(mp, ".ledgerfs/at/1999-01-01T00:00:00Z"), &sb), ENOENT);
		ASSERT_ERRNO(stat(P(mp, ".ledgerfs/nothing"), &sb), ENOENT);
		ASSERT_ERRNO(stat(P(mp, ".ledgerfs/history/never-was"), &sb), ENOENT);
	}

	/* ---- the history of a deleted file, reached by its name ---- */
	names = list_dir(P(mp, ".ledgerfs/history/gone.txt"), &n);
	assert_true(n >= 2);
	for (i = 0; i < n; i++)
		assert_null(strstr(names[i], "unlink")); /* the removal is not an entry */
	assert_string_equal(names[0], "0000000001-create");
	data = slurp(P(mp, ".ledgerfs/history/gone.txt/%s", names[n - 2]), NULL);
	assert_string_equal(data, "old content of gone\n");
	free(data);
	data = slurp(P(mp, ".ledgerfs/history/gone.txt/%s", names[n - 1]), NULL);
	assert_string_equal(data, "second content of gone, longer\n");
	free(data);
	assert_non_null(strstr(names[n - 1], "-write"));
	free_list(names, n);
	{
		struct stat sb;

		ASSERT_ERRNO(stat(P(mp, "gone.txt"), &sb), ENOENT);
		ASSERT_OK(stat(P(mp, ".ledgerfs/at/%llu/gone.txt", gone_at - 1), &sb));
		ASSERT_ERRNO(stat(P(mp, ".ledgerfs/at/%llu/gone.txt", gone_at), &sb), ENOENT);
	}
	/* the editor's save is a version of e/doc; its earlier draft too; a
	 * renamed-away name (d/x) still has its history */
	names = list_dir(P(mp, ".ledgerfs/history/e/doc"), &n);
	assert_true(n >= 3);
	{
		int saw_rename = 0, saw_draft1 = 0;

		for (i = 0; i < n; i++) {
			if (strstr(names[i], "-rename")) {
				saw_rename = 1;
				data = slurp(P(mp, ".ledgerfs/history/e/doc/%s", names[i]), NULL);
				assert_string_equal(data, "draft 2, saved the way editors do\n");
				free(data);
			} else if (strstr(names[i], "-write")) {
				data = slurp(P(mp, ".ledgerfs/history/e/doc/%s", names[i]), NULL);
				saw_draft1 |= !strcmp(data, "draft 1\n");
				free(data);
			}
		}
		assert_true(saw_rename);
		assert_true(saw_draft1);
	}
	free_list(names, n);
	names = list_dir(P(mp, ".ledgerfs/history/d/x"), &n);
	assert_true(n >= 2);
	free_list(names, n);
	/* history/ is the history of /, listing the root's entries after its
	 * versions; history/e/ lists e's entries as directories */
	names = list_dir(P(mp, ".ledgerfs/history"), &n);
	assert_string_equal(names[0], "0000000001-genesis");
	{
		int saw_e = 0, saw_many = 0;

		for (i = 0; i < n; i++) {
			saw_e |= !strcmp(names[i], "e");
			saw_many |= !strcmp(names[i], "many");
		}
		assert_true(saw_e && saw_many);
	}
	free_list(names, n);
	{
		struct stat sb;

		ASSERT_OK(lstat(P(mp, ".ledgerfs/history/e/doc"), &sb));
		assert_true(S_ISDIR(sb.st_mode));
		ASSERT_OK(lstat(P(mp, ".ledgerfs/history/ln/0000000001-symlink"), &sb));
		assert_true(S_ISLNK(sb.st_mode));
		assert_int_equal(readlink(P(mp, ".ledgerfs/history/ln/0000000001-symlink"), buf, sizeof(buf)), 5);
		ASSERT_OK(lstat(P(mp, ".ledgerfs/history/d/0000000001-mkdir"), &sb));
		assert_true(S_ISDIR(sb.st_mode)); /* a directory version is its tree then */
	}

	/* ---- seekdir in a large past directory ---- */
	{
		DIR *d = opendir(P(mp, ".ledgerfs/at/%llu/many", s.v[s.n - 1].at));
		struct dirent *e;
		char first[256] = "";
		long pos = -1;
		size_t seen = 0, again = 0;

		assert_non_null(d);
		while ((e = readdir(d))) {
			if (++seen == 150) {
				pos = telldir(d);
				continue;
			}
			if (seen == 151)
				snprintf(first, sizeof(first), "%s", e->d_name);
		}
		assert_int_equal(seen, 302);
		seekdir(d, pos);
		e = readdir(d);
		assert_non_null(e);
		assert_string_equal(e->d_name, first);
		while (readdir(d))
			again++;
		assert_int_equal(again, 302 - 151);
		rewinddir(d);
		for (again = 0; readdir(d); again++)
			;
		assert_int_equal(again, 302);
		closedir(d);
	}

	/* ---- everything under /.ledgerfs is read-only ---- */
	assert_readonly_dir(P(mp, ".ledgerfs/at/%llu", s.v[s.n - 1].at), "hl");
	assert_readonly_dir(P(mp, ".ledgerfs/at/%llu/e", s.v[s.n - 1].at), "doc");
	assert_readonly_dir(P(mp, ".ledgerfs/history/gone.txt"), "0000000001-create");
	ASSERT_ERRNO(mkdir(P(mp, ".ledgerfs/x"), 0755), EROFS);
	ASSERT_ERRNO(mkdir(P(mp, ".ledgerfs/at/x"), 0755), EROFS);
	ASSERT_ERRNO(rename(P(mp, "hl"), P(mp, ".ledgerfs/history/hl2")), EROFS);
	ASSERT_ERRNO(rename(P(mp, ".ledgerfs/at/%llu/hl", s.v[s.n - 1].at), P(mp, "hl3")), EROFS);
	ASSERT_ERRNO(link(P(mp, ".ledgerfs/at/%llu/hl", s.v[s.n - 1].at), P(mp, "hl4")), EROFS);
	ASSERT_ERRNO(link(P(mp, "hl"), P(mp, ".ledgerfs/at/%llu/hl5", s.v[s.n - 1].at)), EROFS);
	ASSERT_ERRNO(setxattr(P(mp, ".ledgerfs"), "user.x", "1", 1, 0), EROFS);
	ASSERT_ERRNO(rmdir(P(mp, ".ledgerfs/at/%llu/e", s.v[s.n - 1].at)), EROFS);
	ASSERT_ERRNO(rmdir(P(mp, ".ledgerfs/at/%llu", s.v[s.n - 1].at)), EROFS);
	ASSERT_ERRNO(rmdir(P(mp, ".ledgerfs/history/gone.txt")), EROFS);
	/* ... and none of that wrote a record */
	assert_int_equal(position(m), last);

	/* ---- mount --at: a sample of points, first, middle, last ---- */
	{
		size_t pick[3] = { 1, s.n / 2, s.n - 1 }, k;

		for (k = 0; k < 3; k++) {
			struct shot *sh = &s.v[pick[k]];
			char opts[64], what[256], *t;

			snprintf(opts, sizeof(opts), k == 1 ? "-o ro,at=%llu" : "--at %llu", sh->at);
			assert_int_equal(mu_mount(&f->m2, opts), 0);
			snprintf(what, sizeof(what), "mount --at %llu (after \"%s\")", sh->at, sh->step);
			t = snapshot(f->m2.mp);
			assert_same_tree(sh->tree, t, what);
			free(t);
			/* the hidden directory is there too, and not listed */
			assert_int_equal(mu_run(out, sizeof(out), "ls -a %s", f->m2.mp), 0);
			assert_null(strstr(out, ".ledgerfs"));
			names = list_dir(P(f->m2.mp, ".ledgerfs/at"), &n);
			assert_int_equal(n, 1);
			free_list(names, n);
			if (k == 2) {
				assert_readonly_dir(f->m2.mp, "hl");
				assert_readonly_dir(P(f->m2.mp, "e"), "doc");
				ASSERT_ERRNO(rmdir(P(f->m2.mp, "many")), EROFS);
				/* its .ledgerfs/at reaches other points */
				t = snapshot(P(f->m2.mp, ".ledgerfs/at/%llu", s.v[2].at));
				assert_same_tree(s.v[2].tree, t, "at/ of an --at mount");
				free(t);
			}
			assert_int_equal(mu_umount(&f->m2), 0);
		}
	}

	/* ---- points the command refuses before mounting ---- */
	assert_int_equal(mu_run(NULL, 0, "%s mount --store %s --at %llu %s %s 2>/dev/null", mu_bin(), m->store,
				s.v[s.n - 1].at + 1000, VOL, f->m2.mp),
			 1);
	assert_false(mu_is_mounted(f->m2.mp));
	assert_int_equal(mu_run(NULL, 0, "%s mount --store %s -o at=tomorrow %s %s 2>/dev/null", mu_bin(), m->store,
				VOL, f->m2.mp),
			 1);
	assert_int_equal(mu_run(NULL, 0, "%s mount --store %s --at '' %s %s 2>/dev/null", mu_bin(), m->store, VOL,
				f->m2.mp),
			 2);
	assert_int_equal(mu_run(NULL, 0, "%s mount --store %s --at 1 -o at=2 %s %s 2>/dev/null", mu_bin(),
				m->store, VOL, f->m2.mp),
			 2);
	assert_false(mu_is_mounted(f->m2.mp));

	/* ---- the read-write mount still works, and unmounts cleanly ---- */
	puts_(P(mp, "after"), O_TRUNC, "after all that\n");
	assert_int_equal(position(m), last + 2); /* create + write */
	data = slurp(P(mp, ".ledgerfs/at/%llu/after", last + 2), NULL);
	assert_string_equal(data, "after all that\n");
	free(data);
	assert_int_equal(mu_umount(m), 0);
	assert_false(mu_is_mounted(mp));

	for (i = 0; i < s.n; i++)
		free(s.v[i].tree);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_past, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
