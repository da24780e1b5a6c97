/*
 * test_mount_data.c — file content through a mounted volume, with real
 * system calls: a 1 GiB file (cold read back, its write record, chunk
 * dedup of a 4 KiB edit), a sparse file, concurrent writers (threads and
 * processes) with a directory lister, tampering with the chunk store and
 * the index behind the daemon's back (audit findings naming the file; EIO,
 * never wrong bytes, from a damaged chunk), and kill -9 of the daemon at
 * three moments (fsync'd data intact, audit clean).
 *
 * Each test has its own scratch store and volume (mount_util.h) and a
 * watchdog: past its limit it kills the daemon, which ends any system call
 * hanging on the mount, and the test fails. Teardown always unmounts.
 * The daemons log to stderr (mount -f). LGFS_TEST_FILTER=NAME (a cmocka
 * glob) runs only the matching tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ledgerfs/hash.h"

#include "mount_util.h"

#define MiB (1024ull * 1024)
#define GiB (1024ull * 1024 * 1024)

#define OUT_CAP (1u << 20)     /* captured output of one command */
#define WATCHDOG_SECS 900      /* per test; generous for ASan, normal runs are far below */

/* ---- a fast PRNG (xoshiro256**, seeded by splitmix64) ---- */

struct prng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void prng_seed(struct prng *p, uint64_t seed)
{
	int i;

	for (i = 0; i < 4; i++)
		p->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t prng_next(struct prng *p)
{
	uint64_t *s = p->s, r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

static void prng_fill(struct prng *p, void *buf, size_t n)
{
	uint8_t *d = buf;
	uint64_t v;

	while (n >= 8) {
		v = prng_next(p);
		memcpy(d, &v, 8);
		d += 8;
		n -= 8;
	}
	if (n) {
		v = prng_next(p);
		memcpy(d, &v, n);
	}
}

/* ---- allocations of the running test ----
 * An assertion ends a test by a longjmp out of it: what it allocated is
 * freed at teardown (no leak reports under ASan), and descriptors it left
 * open on the mount are closed there (so that the unmount is not busy). */

#define TALLOC_MAX 256
static void *tallocs[TALLOC_MAX];
static struct lgfs_sha256_ctx *live_h; /* a hash in progress */

static void *talloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	int i;

	assert_non_null(p);
	for (i = 0; i < TALLOC_MAX; i++)
		if (!tallocs[i]) {
			tallocs[i] = p;
			return p;
		}
	free(p);
	fail_msg("talloc: too many live allocations");
	return NULL;
}

static void tfree(void *p)
{
	int i;

	if (!p)
		return;
	for (i = 0; i < TALLOC_MAX; i++)
		if (tallocs[i] == p) {
			tallocs[i] = NULL;
			break;
		}
	free(p);
}

static void tfree_all(void)
{
	int i;

	for (i = 0; i < TALLOC_MAX; i++) {
		free(tallocs[i]);
		tallocs[i] = NULL;
	}
	lgfs_sha256_ctx_free(live_h);
	live_h = NULL;
}

static struct lgfs_sha256_ctx *th_new(void)
{
	assert_null(live_h);
	live_h = lgfs_sha256_ctx_new();
	assert_non_null(live_h);
	return live_h;
}

static void th_final(uint8_t out[32])
{
	lgfs_sha256_ctx_final(live_h, out);
	live_h = NULL;
}

/* Close every descriptor of this process that is open under dir. */
static void close_fds_under(const char *dir)
{
	char link[64], target[4096];
	size_t dl = strlen(dir);
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");
	int fds[256], n = 0, i;

	if (!d)
		return;
	while ((e = readdir(d)) && n < 256) {
		int fd = atoi(e->d_name);
		ssize_t l;

		if (fd <= 2 || fd == dirfd(d))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		l = readlink(link, target, sizeof(target) - 1);
		if (l <= 0)
			continue;
		target[l] = '\0';
		if (!strncmp(target, dir, dl) && (target[dl] == '/' || target[dl] == '\0'))
			fds[n++] = fd;
	}
	closedir(d);
	for (i = 0; i < n; i++)
		close(fds[i]);
}

/* ---- per-test state and watchdog ---- */

struct t {
	struct mnt m;
	char voldir[256];
	char chunks[320];
	/* watchdog */
	pthread_t wd;
	pthread_mutex_t wd_mu;
	pthread_cond_t wd_cv;
	int wd_stop, wd_fired, wd_running;
};

static void *watchdog(void *arg)
{
	struct t *t = arg;
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += WATCHDOG_SECS;
	pthread_mutex_lock(&t->wd_mu);
	while (!t->wd_stop)
		if (pthread_cond_timedwait(&t->wd_cv, &t->wd_mu, &dl) == ETIMEDOUT)
			break;
	if (!t->wd_stop) {
		pid_t pid = t->m.pid;

		t->wd_fired = 1;
		fprintf(stderr, "watchdog: test ran past %d s; killing the daemon (pid %d) to end it\n",
			WATCHDOG_SECS, (int)pid);
		if (pid > 0)
			kill(pid, SIGKILL); /* aborts the FUSE connection: hung calls return */
	}
	pthread_mutex_unlock(&t->wd_mu);
	return NULL;
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	if (mu_setup(&t->m, "data")) {
		fprintf(stderr, "setup: cannot create a scratch store and volume (LEDGERFS_BIN=%s)\n", mu_bin());
		mu_teardown(&t->m);
		free(t);
		return -1;
	}
	snprintf(t->voldir, sizeof(t->voldir), "%s/volumes/%s", t->m.store, t->m.vol);
	snprintf(t->chunks, sizeof(t->chunks), "%s/chunks", t->voldir);
	pthread_mutex_init(&t->wd_mu, NULL);
	pthread_cond_init(&t->wd_cv, NULL);
	if (pthread_create(&t->wd, NULL, watchdog, t)) {
		mu_teardown(&t->m);
		free(t);
		return -1;
	}
	t->wd_running = 1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	int fired;

	if (!t)
		return 0;
	if (t->wd_running) {
		pthread_mutex_lock(&t->wd_mu);
		t->wd_stop = 1;
		pthread_cond_signal(&t->wd_cv);
		pthread_mutex_unlock(&t->wd_mu);
		pthread_join(t->wd, NULL);
	}
	fired = t->wd_fired;
	tfree_all();
	close_fds_under(t->m.mp);
	mu_teardown(&t->m);
	pthread_mutex_destroy(&t->wd_mu);
	pthread_cond_destroy(&t->wd_cv);
	free(t);
	*state = NULL;
	if (fired)
		fprintf(stderr, "teardown: the watchdog fired: the test did not finish in time\n");
	return fired ? -1 : 0;
}

/* ---- small helpers ---- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *P(struct t *t, const char *rel, char *buf, size_t cap)
{
	return mu_path(&t->m, rel, buf, cap);
}

static void do_mount(struct t *t)
{
	if (mu_mount(&t->m, ""))
		fail_msg("mounting volume %s on %s failed", t->m.vol, t->m.mp);
}

static void do_umount(struct t *t)
{
	if (mu_umount(&t->m))
		fail_msg("unmounting %s failed or the daemon did not exit cleanly", t->m.mp);
	assert_false(mu_is_mounted(t->m.mp));
}

/* 0 or -errno */
static int pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pwrite(fd, (const char *)buf + done, n - done, off + (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		done += (size_t)r;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(fd, (const char *)buf + done, n - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		done += (size_t)r;
	}
	return 0;
}

/* Read until n bytes or end of file; *got gets the count. 0 or -errno. */
static int pread_upto(int fd, void *buf, size_t n, off_t off, size_t *got)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, off + (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*got = done;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	*got = done;
	return 0;
}

/* SHA-256 and size of a file read through the mount in 1 MiB reads. */
static int hash_file(const char *path, uint8_t out[32], uint64_t *size)
{
	struct lgfs_sha256_ctx *h = lgfs_sha256_ctx_new();
	uint8_t *buf = malloc(MiB);
	uint64_t total = 0;
	int fd, rc = 0;

	if (!h || !buf) {
		lgfs_sha256_ctx_free(h);
		free(buf);
		return -ENOMEM;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf, MiB);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			break;
		}
		if (r == 0)
			break;
		lgfs_sha256_ctx_update(h, buf, (size_t)r);
		total += (uint64_t)r;
	}
	if (close(fd) && !rc)
		rc = -errno;
out:
	if (rc)
		lgfs_sha256_ctx_free(h);
	else
		lgfs_sha256_ctx_final(h, out);
	free(buf);
	*size = total;
	return rc;
}

/* Whole file into memory (talloc'd, *len its size); NULL + errno on error. */
static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *p;
	size_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	*len = 0;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st)) {
		close(fd);
		return NULL;
	}
	p = talloc((size_t)st.st_size + 1);
	rc = pread_upto(fd, p, (size_t)st.st_size + 1, 0, &got);
	close(fd);
	if (rc) {
		tfree(p);
		errno = -rc;
		return NULL;
	}
	*len = got;
	return p;
}

/* Create (or replace) rel with n PRNG bytes of seed, fsync'd if asked;
 * closes it. Asserts every call. Fills sha if not NULL. */
static void make_file(struct t *t, const char *rel, uint64_t seed, size_t n, int do_fsync, uint8_t sha[32])
{
	char path[512];
	uint8_t *buf = talloc(n);
	struct prng p;
	int fd, rc;

	prng_seed(&p, seed);
	prng_fill(&p, buf, n);
	fd = open(P(t, rel, path, sizeof(path)), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		fail_msg("create %s: %s", path, strerror(errno));
	/* a few writes of different sizes, not one */
	{
		size_t off = 0, step = 70001;

		while (off < n) {
			size_t k = n - off < step ? n - off : step;

			rc = pwrite_all(fd, buf + off, k, (off_t)off);
			if (rc)
				fail_msg("write %s at %zu: %s", path, off, strerror(-rc));
			off += k;
			step = step * 3 / 2;
		}
	}
	if (do_fsync && fsync(fd))
		fail_msg("fsync %s: %s", path, strerror(errno));
	if (close(fd))
		fail_msg("close %s: %s", path, strerror(errno));
	if (sha)
		lgfs_sha256(sha, buf, n);
	tfree(buf);
}

static void expect_hash(struct t *t, const char *rel, const uint8_t want[32], uint64_t want_size)
{
	char path[512], hw[65], hg[65];
	uint8_t got[32];
	uint64_t size = 0;
	int rc = hash_file(P(t, rel, path, sizeof(path)), got, &size);

	if (rc)
		fail_msg("reading %s: %s", path, strerror(-rc));
	if (size != want_size || memcmp(got, want, 32)) {
		lgfs_hex(hw, want, 32);
		lgfs_hex(hg, got, 32);
		fail_msg("%s: read %llu bytes with SHA-256 %s, expected %llu bytes with %s", rel,
			 (unsigned long long)size, hg, (unsigned long long)want_size, hw);
	}
}

static uint64_t ino_of(struct t *t, const char *rel)
{
	char path[512];
	struct stat st;

	if (stat(P(t, rel, path, sizeof(path)), &st))
		fail_msg("stat %s: %s", path, strerror(errno));
	return (uint64_t)st.st_ino;
}

/* ---- the ledgerfs command and the tools ---- */

static char *run_out(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *run_out(int *status, const char *fmt, ...)
{
	char cmd[4096];
	char *out = talloc(OUT_CAP);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	*status = mu_run(out, OUT_CAP, "%s", cmd);
	return out;
}

/* `ledgerfs audit`: exit status and report (free it). */
static char *audit(struct t *t, int *status)
{
	return run_out(status, "%s audit --store %s %s 2>&1", mu_bin(), t->m.store, t->m.vol);
}

static void expect_audit_clean(struct t *t, const char *when)
{
	int st;
	char *rep = audit(t, &st);

	if (st != 0 || !strstr(rep, "audit:       OK"))
		fail_msg("audit %s: exit %d, expected 0; report:\n%s", when, st, rep);
	tfree(rep);
}

static char *log_json(struct t *t)
{
	int st;
	char *out = run_out(&st, "%s log --json --store %s %s", mu_bin(), t->m.store, t->m.vol);

	if (st != 0)
		fail_msg("ledgerfs log --json exited %d", st);
	if (strlen(out) >= OUT_CAP - 1)
		fail_msg("ledgerfs log --json: output larger than the test's buffer");
	return out;
}

struct wrec {
	uint64_t index, size;
	char manifest[65], sha256[65];
};

/* Copy the JSON string value of "key" in line into out (cap 65). */
static int json_hex(const char *line, const char *key, char out[65])
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(line, pat);
	if (!p)
		return -1;
	p += strlen(pat);
	if (strspn(p, "0123456789abcdef") != 64 || p[64] != '"')
		return -1;
	memcpy(out, p, 64);
	out[64] = '\0';
	return 0;
}

static int json_u64(const char *line, const char *key, uint64_t *v)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	if (!p)
		return -1;
	return sscanf(p + strlen(pat), "%" SCNu64, v) == 1 ? 0 : -1;
}

/* Every write record of inode ino, in log order; returns the count. */
static size_t write_records(const char *log, uint64_t ino, struct wrec *out, size_t cap)
{
	const char *p = log;
	size_t n = 0;

	while (*p) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char *line = talloc(len + 1);
		uint64_t v;

		memcpy(line, p, len);
		line[len] = '\0';
		if (strstr(line, "\"op\":\"write\"") && json_u64(line, "ino", &v) == 0 && v == ino) {
			struct wrec w;

			memset(&w, 0, sizeof(w));
			if (json_u64(line, "index", &w.index) || json_u64(line, "size", &w.size) ||
			    json_hex(line, "manifest", w.manifest) || json_hex(line, "sha256", w.sha256))
				fail_msg("write record without index/size/manifest/sha256: %s", line);
			if (n < cap)
				out[n] = w;
			n++;
		}
		tfree(line);
		p += len;
		if (*p == '\n')
			p++;
	}
	return n;
}

/* The last write record of ino (fails if there is none). */
static struct wrec last_write(struct t *t, uint64_t ino)
{
	struct wrec w[64];
	char *log = log_json(t);
	size_t n = write_records(log, ino, w, 64);

	if (n == 0)
		fail_msg("the log has no write record for inode %llu:\n%.4000s", (unsigned long long)ino, log);
	if (n > 64)
		fail_msg("more write records for inode %llu than expected (%zu)", (unsigned long long)ino, n);
	tfree(log);
	return w[n - 1];
}

static unsigned long long chunk_count(struct t *t)
{
	int st;
	char *out = run_out(&st, "%s/tests/tools/lgfs_chunk_tool count %s 2>&1", mu_build(), t->chunks);
	unsigned long long n = 0;

	if (st != 0 || sscanf(out, "%llu", &n) != 1)
		fail_msg("lgfs_chunk_tool count %s: exit %d: %s", t->chunks, st, out);
	tfree(out);
	return n;
}

/* Disk usage of the chunk store in KiB (0 if it does not exist yet). */
static unsigned long long du_kib(const char *dir)
{
	int st;
	char *out;
	unsigned long long k = 0;
	struct stat sb;

	if (stat(dir, &sb) && errno == ENOENT)
		return 0;
	out = run_out(&st, "du -sk %s", dir);
	if (st != 0 || sscanf(out, "%llu", &k) != 1)
		fail_msg("du -sk %s: exit %d: %s", dir, st, out);
	tfree(out);
	return k;
}

/* Does the report hold a finding "[kind] PATH..." naming exactly PATH? */
static int has_finding(const char *rep, const char *kind, const char *path)
{
	char pat[512];
	const char *p = rep;

	snprintf(pat, sizeof(pat), "[%s] %s", kind, path);
	while ((p = strstr(p, pat))) {
		char c = p[strlen(pat)];

		if (c == ':' || c == ' ' || c == '\n' || c == '\0')
			return 1;
		p++;
	}
	return 0;
}

/* ======================================================================
 * 1 + 3. A 1 GiB file: written once, read back cold, its write record;
 * then a 4 KiB edit in the middle costs a few chunks and reads back right.
 * ====================================================================== */

#define BIG_SIZE GiB
#define BIG_SEED 0x1b16f11e
#define EDIT_SEED 0xed17
#define EDIT_OFF (512 * MiB + 12345)
#define EDIT_LEN 4096

static void test_large_file_and_dedup(void **state)
{
	struct t *t = *state;
	char path[512], hex[65];
	uint8_t *buf = talloc(MiB), want[32], want2[32], got[32], edit[EDIT_LEN];
	struct lgfs_sha256_ctx *h;
	struct prng p;
	struct stat st;
	struct wrec w;
	uint64_t size, ino, i;
	unsigned long long n0, n1;
	double t0;
	int fd, rc;

	do_mount(t);

	/* write 1 GiB in 1 MiB pwrites, hashing as we go */
	t0 = now_s();
	fd = open(P(t, "big.bin", path, sizeof(path)), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		fail_msg("create %s: %s", path, strerror(errno));
	h = th_new();
	prng_seed(&p, BIG_SEED);
	for (i = 0; i < BIG_SIZE / MiB; i++) {
		prng_fill(&p, buf, MiB);
		lgfs_sha256_ctx_update(h, buf, MiB);
		rc = pwrite_all(fd, buf, MiB, (off_t)(i * MiB));
		if (rc)
			fail_msg("pwrite at %llu MiB: %s", (unsigned long long)i, strerror(-rc));
	}
	th_final(want);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, BIG_SIZE);
	if (close(fd))
		fail_msg("close of the 1 GiB file (commit): %s", strerror(errno));
	fprintf(stderr, "  1 GiB written and committed in %.1f s\n", now_s() - t0);
	ino = ino_of(t, "big.bin");

	/* cold: unmount, remount, read it back */
	do_umount(t);
	do_mount(t);
	t0 = now_s();
	rc = hash_file(path, got, &size);
	if (rc)
		fail_msg("reading back %s: %s", path, strerror(-rc));
	fprintf(stderr, "  1 GiB read back cold in %.1f s\n", now_s() - t0);
	assert_int_equal(size, BIG_SIZE);
	assert_memory_equal(got, want, 32);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, BIG_SIZE);
	assert_int_equal((uint64_t)st.st_ino, ino);

	/* the log: a write record with the size and the same SHA-256 */
	w = last_write(t, ino);
	lgfs_hex(hex, want, 32);
	assert_int_equal(w.size, 1073741824ull);
	assert_string_equal(w.sha256, hex);

	/* 3. dedup: count chunks with the volume unmounted, edit 4 KiB, count again */
	do_umount(t);
	n0 = chunk_count(t);
	do_mount(t);
	prng_seed(&p, EDIT_SEED);
	prng_fill(&p, edit, EDIT_LEN);
	t0 = now_s();
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail_msg("open %s for writing: %s", path, strerror(errno));
	rc = pwrite_all(fd, edit, EDIT_LEN, (off_t)EDIT_OFF);
	if (rc)
		fail_msg("pwrite of the edit: %s", strerror(-rc));
	if (close(fd))
		fail_msg("close after the edit (commit): %s", strerror(errno));
	fprintf(stderr, "  4 KiB edit committed in %.1f s\n", now_s() - t0);
	do_umount(t);
	n1 = chunk_count(t);
	fprintf(stderr, "  chunks: %llu before the edit, %llu after\n", n0, n1);
	if (n1 < n0 + 2 || n1 - n0 > 6)
		fail_msg("a 4 KiB edit of a 1 GiB file added %lld chunks (expected 2..6: a few data chunks and the "
			 "manifest)",
			 (long long)n1 - (long long)n0);

	/* the expected content: the old stream with the 4 KiB replaced */
	h = th_new();
	prng_seed(&p, BIG_SEED);
	for (i = 0; i < BIG_SIZE / MiB; i++) {
		uint64_t bs = i * MiB, be = bs + MiB, es = EDIT_OFF, ee = EDIT_OFF + EDIT_LEN;

		prng_fill(&p, buf, MiB);
		if (es < be && ee > bs) {
			uint64_t s = es > bs ? es : bs, e = ee < be ? ee : be;

			memcpy(buf + (s - bs), edit + (s - es), (size_t)(e - s));
		}
		lgfs_sha256_ctx_update(h, buf, MiB);
	}
	th_final(want2);
	assert_memory_not_equal(want, want2, 32);

	do_mount(t);
	rc = hash_file(path, got, &size);
	if (rc)
		fail_msg("reading back the edited file: %s", strerror(-rc));
	assert_int_equal(size, BIG_SIZE);
	assert_memory_equal(got, want2, 32);
	/* the edited bytes themselves, and their neighbours */
	{
		uint8_t rd[EDIT_LEN + 2];
		size_t gotn;

		fd = open(path, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(pread_upto(fd, rd, sizeof(rd), (off_t)EDIT_OFF - 1, &gotn), 0);
		assert_int_equal(gotn, sizeof(rd));
		assert_memory_equal(rd + 1, edit, EDIT_LEN);
		close(fd);
	}
	do_umount(t);
	w = last_write(t, ino);
	lgfs_hex(hex, want2, 32);
	assert_int_equal(w.size, 1073741824ull);
	assert_string_equal(w.sha256, hex);
	tfree(buf);
}

/* ======================================================================
 * 2. Sparse: 4 KiB at offset 1 GiB of a new file.
 * ====================================================================== */

static void check_hole_reads(const char *path, const uint8_t *data)
{
	static const uint64_t offs[] = { 0, 4096, 65536 + 17, 123456789, 512 * MiB, GiB - 8192, GiB - 4096 };
	uint8_t rd[4096], zero[4096];
	size_t i, got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	memset(zero, 0, sizeof(zero));
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		memset(rd, 0xa5, sizeof(rd));
		assert_int_equal(pread_upto(fd, rd, sizeof(rd), (off_t)offs[i], &got), 0);
		assert_int_equal(got, sizeof(rd));
		if (memcmp(rd, zero, sizeof(rd)))
			fail_msg("the hole at offset %llu does not read as zeros", (unsigned long long)offs[i]);
	}
	/* the data, and the end of file after it */
	assert_int_equal(pread_upto(fd, rd, sizeof(rd), (off_t)GiB, &got), 0);
	assert_int_equal(got, sizeof(rd));
	assert_memory_equal(rd, data, sizeof(rd));
	assert_int_equal(pread_upto(fd, rd, sizeof(rd), (off_t)(GiB + 4096), &got), 0);
	assert_int_equal(got, 0);
	/* a read spanning the end of the hole and the data */
	assert_int_equal(pread_upto(fd, rd, sizeof(rd), (off_t)(GiB - 100), &got), 0);
	assert_int_equal(got, sizeof(rd));
	assert_memory_equal(rd, zero, 100);
	assert_memory_equal(rd + 100, data, sizeof(rd) - 100);
	close(fd);
}

static void test_sparse(void **state)
{
	struct t *t = *state;
	char path[512];
	uint8_t data[4096];
	struct prng p;
	struct stat st;
	unsigned long long k0, k1;
	blkcnt_t blocks_live, blocks_cold;
	int fd, rc;

	do_mount(t);
	/* a small file first so that the chunk store exists; measure after it */
	make_file(t, "small.txt", 7, 1000, 1, NULL);
	do_umount(t);
	k0 = du_kib(t->chunks);
	do_mount(t);

	prng_seed(&p, 0x5ba55e);
	prng_fill(&p, data, sizeof(data));
	fd = open(P(t, "sparse.bin", path, sizeof(path)), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		fail_msg("create %s: %s", path, strerror(errno));
	rc = pwrite_all(fd, data, sizeof(data), (off_t)GiB);
	if (rc)
		fail_msg("pwrite at 1 GiB: %s", strerror(-rc));
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, GiB + 4096);
	/* durable before the log is read below (it shows durable records only) */
	if (fsync(fd))
		fail_msg("fsync %s: %s", path, strerror(errno));
	if (close(fd))
		fail_msg("close %s: %s", path, strerror(errno));

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, GiB + 4096);
	blocks_live = st.st_blocks;
	check_hole_reads(path, data);
	{
		struct wrec w = last_write(t, (uint64_t)st.st_ino);

		assert_int_equal(w.size, GiB + 4096);
	}
	do_umount(t);
	k1 = du_kib(t->chunks);
	fprintf(stderr, "  chunk store: %llu KiB before, %llu KiB after the sparse file\n", k0, k1);
	if (k1 > k0 + 10 * 1024)
		fail_msg("the sparse file grew the chunk store by %llu KiB (limit 10 MiB)", k1 - k0);

	/* cold */
	do_mount(t);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, GiB + 4096);
	blocks_cold = st.st_blocks;
	check_hole_reads(path, data);
	do_umount(t);
	expect_audit_clean(t, "after the sparse file");

	fprintf(stderr, "  st_blocks: %lld while written, %lld after remount (512-byte blocks)\n",
		(long long)blocks_live, (long long)blocks_cold);
	if ((unsigned long long)blocks_live * 512 >= 100 * MiB || (unsigned long long)blocks_cold * 512 >= 100 * MiB)
		fail_msg("st_blocks of a sparse file holding 4 KiB of data: %lld / %lld blocks (%llu MiB): it counts "
			 "the hole as allocated (expected < 100 MiB worth)",
			 (long long)blocks_live, (long long)blocks_cold,
			 (unsigned long long)blocks_cold * 512 / MiB);
}

/* ======================================================================
 * 4. Concurrency: 4 threads and 2 processes write their own files in
 * interleaved appends while a thread lists the directory.
 * ====================================================================== */

#define NWRITERS 6
#define NTHREADS 4
#define NFILES 3
#define NSTEPS 200
#define MAXW 8192

/* The plan of writer w: which file each step appends to, and what. */
static void plan_step(struct prng *p, int *file, size_t *len, uint8_t *data)
{
	uint64_t r = prng_next(p);

	*file = (int)(r % NFILES);
	*len = 1 + (size_t)((r >> 16) % MAXW);
	prng_fill(p, data, *len);
}

static void plan_seed(struct prng *p, int w)
{
	prng_seed(p, 0xc0c0c0ull + (uint64_t)w * 7919);
}

/* Run writer w; 0, or -errno with a message in err. */
static int writer_run(const char *mp, int w, char *err, size_t cap)
{
	int fds[NFILES], k, f, rc = 0;
	uint8_t *data = malloc(MAXW);
	char path[512];
	struct prng p;
	size_t len;

	if (!data)
		return -ENOMEM;
	for (f = 0; f < NFILES; f++)
		fds[f] = -1;
	plan_seed(&p, w);
	for (k = 0; k < NSTEPS && !rc; k++) {
		plan_step(&p, &f, &len, data);
		snprintf(path, sizeof(path), "%s/w%d_f%d", mp, w, f);
		if (fds[f] < 0) {
			fds[f] = open(path, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0644);
			if (fds[f] < 0) {
				rc = -errno;
				snprintf(err, cap, "writer %d step %d: open %s: %s", w, k, path, strerror(errno));
				break;
			}
		}
		if ((rc = write_all(fds[f], data, len))) {
			snprintf(err, cap, "writer %d step %d: append %zu bytes to %s: %s", w, k, len, path,
				 strerror(-rc));
			break;
		}
		if (k % 50 == 49) { /* close: a version; the next append reopens */
			if (close(fds[f])) {
				rc = -errno;
				snprintf(err, cap, "writer %d step %d: close %s: %s", w, k, path, strerror(errno));
			}
			fds[f] = -1;
		} else if (k % 37 == 36 && fsync(fds[f])) {
			rc = -errno;
			snprintf(err, cap, "writer %d step %d: fsync %s: %s", w, k, path, strerror(errno));
		}
		if (k % 16 == 0)
			sched_yield();
	}
	for (f = 0; f < NFILES; f++)
		if (fds[f] >= 0 && close(fds[f]) && !rc) {
			rc = -errno;
			snprintf(err, cap, "writer %d: final close of file %d: %s", w, f, strerror(errno));
		}
	free(data);
	return rc;
}

struct writer_arg {
	const char *mp;
	int w;
	pthread_barrier_t *go;
	int rc;
	char err[600];
};

static void *writer_thread(void *arg)
{
	struct writer_arg *a = arg;

	pthread_barrier_wait(a->go);
	a->rc = writer_run(a->mp, a->w, a->err, sizeof(a->err));
	return NULL;
}

struct lister_arg {
	const char *mp;
	pthread_barrier_t *go;
	volatile int stop;
	unsigned long listings, entries;
	int rc;
	char err[600];
	/* the files only grow: a size seen smaller than before is stale */
	off_t max_size[NWRITERS][NFILES];
	unsigned long regressions;
	char regress[600];
};

static void *lister_thread(void *arg)
{
	struct lister_arg *a = arg;

	pthread_barrier_wait(a->go);
	while (!a->stop && !a->rc && a->listings < 1000000) {
		DIR *d = opendir(a->mp);
		struct dirent *e;

		if (!d) {
			a->rc = -errno;
			snprintf(a->err, sizeof(a->err), "opendir %s: %s", a->mp, strerror(errno));
			break;
		}
		errno = 0;
		while ((e = readdir(d))) {
			int w, f, n = 0;
			struct stat st;

			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			a->entries++;
			if (sscanf(e->d_name, "w%d_f%d%n", &w, &f, &n) != 2 || e->d_name[n] || w < 0 ||
			    w >= NWRITERS || f < 0 || f >= NFILES) {
				a->rc = -EINVAL;
				snprintf(a->err, sizeof(a->err), "listing: unexpected name '%s'", e->d_name);
				break;
			}
			if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode)) {
				a->rc = -EIO;
				snprintf(a->err, sizeof(a->err), "listing: stat of '%s' failed: %s", e->d_name,
					 strerror(errno));
				break;
			}
			if (st.st_size < a->max_size[w][f]) {
				if (!a->regressions++)
					snprintf(a->regress, sizeof(a->regress),
						 "stat of %s (append-only) went back from %lld to %lld bytes", e->d_name,
						 (long long)a->max_size[w][f], (long long)st.st_size);
			} else {
				a->max_size[w][f] = st.st_size;
			}
			errno = 0;
		}
		if (!a->rc && errno) {
			a->rc = -errno;
			snprintf(a->err, sizeof(a->err), "readdir: %s", strerror(errno));
		}
		closedir(d);
		a->listings++;
	}
	return NULL;
}

/* Check every writer's files against its plan (through the mount). */
static void verify_writers(struct t *t)
{
	uint8_t *exp[NFILES], *data = talloc(MAXW);
	size_t elen[NFILES], len;
	int w, f, k, nfiles = 0;
	char rel[64], path[512];
	struct prng p;
	DIR *d;
	struct dirent *e;

	for (w = 0; w < NWRITERS; w++) {
		for (f = 0; f < NFILES; f++) {
			exp[f] = talloc((size_t)NSTEPS * MAXW);
			elen[f] = 0;
		}
		plan_seed(&p, w);
		for (k = 0; k < NSTEPS; k++) {
			plan_step(&p, &f, &len, data);
			memcpy(exp[f] + elen[f], data, len);
			elen[f] += len;
		}
		for (f = 0; f < NFILES; f++) {
			size_t glen;
			uint8_t *got;

			snprintf(rel, sizeof(rel), "w%d_f%d", w, f);
			got = slurp(P(t, rel, path, sizeof(path)), &glen);
			if (!elen[f]) {
				if (got || errno != ENOENT)
					fail_msg("%s exists but its writer never wrote it", rel);
				continue;
			}
			nfiles++;
			if (!got)
				fail_msg("reading %s: %s", path, strerror(errno));
			if (glen != elen[f])
				fail_msg("%s: %zu bytes, its writer wrote %zu", rel, glen, elen[f]);
			if (memcmp(got, exp[f], glen)) {
				size_t i = 0;

				while (got[i] == exp[f][i])
					i++;
				fail_msg("%s: content differs from what its writer wrote, first at byte %zu", rel, i);
			}
			tfree(got);
		}
		for (f = 0; f < NFILES; f++)
			tfree(exp[f]);
	}
	tfree(data);
	/* and nothing else in the directory */
	d = opendir(t->m.mp);
	assert_non_null(d);
	k = 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			k++;
	closedir(d);
	assert_int_equal(k, nfiles);
}

/* waitpid with a deadline; kills the child when it passes. */
static int wait_child(pid_t pid, int secs, int *status)
{
	double end = now_s() + secs;

	while (now_s() < end) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		usleep(5000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return -1;
}

static void test_concurrency(void **state)
{
	struct t *t = *state;
	struct writer_arg wa[NTHREADS];
	struct lister_arg la;
	pthread_t wt[NTHREADS], lt;
	pthread_barrier_t go;
	pid_t kids[NWRITERS - NTHREADS];
	int gopipe[2], i, st;
	double t0;

	do_mount(t);
	/* processes first (fork before this test starts threads of its own) */
	assert_int_equal(pipe(gopipe), 0);
	for (i = 0; i < NWRITERS - NTHREADS; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			char err[600] = "", c;
			int rc;

			close(gopipe[1]);
			if (read(gopipe[0], &c, 1) != 1)
				_exit(3);
			rc = writer_run(t->m.mp, NTHREADS + i, err, sizeof(err));
			if (rc)
				fprintf(stderr, "%s\n", err);
			_exit(rc ? 1 : 0);
		}
	}
	close(gopipe[0]);
	assert_int_equal(pthread_barrier_init(&go, NULL, NTHREADS + 2), 0);
	for (i = 0; i < NTHREADS; i++) {
		memset(&wa[i], 0, sizeof(wa[i]));
		wa[i].mp = t->m.mp;
		wa[i].w = i;
		wa[i].go = &go;
		assert_int_equal(pthread_create(&wt[i], NULL, writer_thread, &wa[i]), 0);
	}
	memset(&la, 0, sizeof(la));
	la.mp = t->m.mp;
	la.go = &go;
	assert_int_equal(pthread_create(&lt, NULL, lister_thread, &la), 0);
	/* everyone at once */
	t0 = now_s();
	{
		char gobuf[NWRITERS - NTHREADS];

		memset(gobuf, 'g', sizeof(gobuf));
		assert_int_equal(write(gopipe[1], gobuf, sizeof(gobuf)), (ssize_t)sizeof(gobuf));
	}
	pthread_barrier_wait(&go);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(wt[i], NULL);
	for (i = 0; i < NWRITERS - NTHREADS; i++) {
		if (wait_child(kids[i], 180, &st))
			fail_msg("writer process %d did not finish within 180 s", NTHREADS + i);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail_msg("writer process %d failed (status 0x%x; its message is above)", NTHREADS + i, st);
	}
	la.stop = 1;
	pthread_join(lt, NULL);
	close(gopipe[1]);
	pthread_barrier_destroy(&go);
	fprintf(stderr, "  6 writers done in %.1f s; %lu listings (%lu entries) meanwhile\n", now_s() - t0,
		la.listings, la.entries);
	for (i = 0; i < NTHREADS; i++)
		if (wa[i].rc)
			fail_msg("%s", wa[i].err);
	if (la.regressions)
		fprintf(stderr, "  lister saw %lu stale sizes; first: %s\n", la.regressions, la.regress);
	if (la.rc)
		fail_msg("lister: %s", la.err);
	assert_true(la.listings >= 1);

	verify_writers(t);
	if (la.regressions)
		fail_msg("while writers appended, stat showed stale (smaller) sizes %lu times; first: %s",
			 la.regressions, la.regress);
	do_umount(t);
	expect_audit_clean(t, "after the concurrent writers");
	/* and the same content read cold */
	do_mount(t);
	verify_writers(t);
	do_umount(t);
}

/* ======================================================================
 * 5. Tampering behind the daemon's back.
 * ====================================================================== */

#define VICTIM "docs/invoice-2024.pdf"
#define VICTIM_ABS "/docs/invoice-2024.pdf"
#define VICTIM_SEED 0x71c71
#define VICTIM_SIZE (300 * 1000)
#define OTHER "other.bin"
#define OTHER_SEED 0x07e4
#define OTHER_SIZE (200 * 1000)

struct tamper {
	uint64_t victim_ino, other_ino;
	uint8_t victim_sha[32], other_sha[32];
	struct wrec victim_w;
};

/* A volume holding /docs/invoice-2024.pdf and /other.bin, unmounted. */
static void tamper_prepare(struct t *t, struct tamper *x)
{
	char path[512];

	do_mount(t);
	assert_int_equal(mkdir(P(t, "docs", path, sizeof(path)), 0755), 0);
	make_file(t, VICTIM, VICTIM_SEED, VICTIM_SIZE, 0, x->victim_sha);
	make_file(t, OTHER, OTHER_SEED, OTHER_SIZE, 0, x->other_sha);
	x->victim_ino = ino_of(t, VICTIM);
	x->other_ino = ino_of(t, OTHER);
	do_umount(t);
	expect_audit_clean(t, "before tampering");
	x->victim_w = last_write(t, x->victim_ino);
	{
		char hex[65];

		lgfs_hex(hex, x->victim_sha, 32);
		assert_string_equal(x->victim_w.sha256, hex);
	}
}

static void run_tool(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run_tool(const char *fmt, ...)
{
	char cmd[4096];
	char *out;
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	out = run_out(&st, "%s 2>&1", cmd);
	if (st != 0)
		fail_msg("%s: exit %d: %s", cmd, st, out);
	tfree(out);
}

static void expect_finding(struct t *t, const char *kind, const char *path)
{
	int st;
	char *rep = audit(t, &st);

	if (st != 1)
		fail_msg("audit after tampering: exit %d, expected 1; report:\n%s", st, rep);
	if (!has_finding(rep, kind, path))
		fail_msg("audit report has no finding [%s] naming %s; report:\n%s", kind, path, rep);
	tfree(rep);
}

/* Through a fresh mount: reading the damaged victim fails with EIO and
 * never returns wrong bytes; the daemon keeps serving other files. */
static void expect_eio_daemon_alive(struct t *t, const struct tamper *x)
{
	uint8_t *want = talloc(VICTIM_SIZE), buf[65536];
	char path[512];
	struct prng p;
	struct stat st;
	uint64_t off = 0;
	int fd, saw_eio = 0, bad_errno = 0, status;

	prng_seed(&p, VICTIM_SEED);
	prng_fill(&p, want, VICTIM_SIZE);
	do_mount(t);
	assert_int_equal(stat(P(t, VICTIM, path, sizeof(path)), &st), 0);
	assert_int_equal(st.st_size, VICTIM_SIZE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	while (off < VICTIM_SIZE) {
		ssize_t r = pread(fd, buf, sizeof(buf), (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			if (errno == EIO)
				saw_eio = 1;
			else if (!bad_errno)
				bad_errno = errno;
			off += sizeof(buf); /* the rest may still read */
			continue;
		}
		if (r == 0)
			fail_msg("early end of file at %llu", (unsigned long long)off);
		if (memcmp(buf, want + off, (size_t)r))
			fail_msg("reading the damaged file returned wrong bytes at %llu..%llu instead of EIO",
				 (unsigned long long)off, (unsigned long long)off + (unsigned long long)r);
		off += (uint64_t)r;
	}
	close(fd);
	/* the daemon is alive and serves the other file */
	assert_int_equal(waitpid(t->m.pid, &status, WNOHANG), 0);
	assert_true(mu_is_mounted(t->m.mp));
	expect_hash(t, OTHER, x->other_sha, OTHER_SIZE);
	make_file(t, "after-damage.txt", 99, 5000, 0, NULL);
	if (bad_errno)
		fail_msg("reading the damaged file failed with %s (errno %d), expected EIO", strerror(bad_errno),
			 bad_errno);
	if (!saw_eio)
		fail_msg("the damaged file read back without any EIO");
	do_umount(t);
	tfree(want);
}

static void test_tamper_altered_chunk(void **state)
{
	struct t *t = *state;
	struct tamper x;

	tamper_prepare(t, &x);
	run_tool("%s/tests/tools/lgfs_chunk_tool flip %s %s 0", mu_build(), t->chunks, x.victim_w.manifest);
	expect_finding(t, "altered chunk", VICTIM_ABS);
	/* (e) EIO, not wrong bytes; the daemon keeps running */
	expect_eio_daemon_alive(t, &x);
	/* undo: the second flip restores the byte; audit is clean again */
	run_tool("%s/tests/tools/lgfs_chunk_tool flip %s %s 0", mu_build(), t->chunks, x.victim_w.manifest);
	expect_audit_clean(t, "after undoing the flip");
	do_mount(t);
	expect_hash(t, VICTIM, x.victim_sha, VICTIM_SIZE);
	do_umount(t);
}

static void test_tamper_missing_chunk(void **state)
{
	struct t *t = *state;
	struct tamper x;

	tamper_prepare(t, &x);
	run_tool("%s/tests/tools/lgfs_chunk_tool delete %s %s 0", mu_build(), t->chunks, x.victim_w.manifest);
	expect_finding(t, "missing chunk", VICTIM_ABS);
	expect_eio_daemon_alive(t, &x);
}

static void test_tamper_index_repoint(void **state)
{
	struct t *t = *state;
	struct tamper x;

	tamper_prepare(t, &x);
	run_tool("%s/tests/tools/lgfs_index_tamper %s repoint %llu %llu", mu_build(), t->voldir,
		 (unsigned long long)x.victim_ino, (unsigned long long)x.other_ino);
	expect_finding(t, "index differs", VICTIM_ABS);
}

static void test_tamper_index_ghost(void **state)
{
	struct t *t = *state;
	struct tamper x;

	tamper_prepare(t, &x);
	run_tool("%s/tests/tools/lgfs_index_tamper %s ghost ghost-file", mu_build(), t->voldir);
	expect_finding(t, "index not backed by log", "/ghost-file");
}

/* ======================================================================
 * 6. kill -9 of the daemon at three moments.
 * ====================================================================== */

#define NSYNCED 5

struct synced {
	char rel[32];
	size_t size;
	uint8_t sha[32];
};

/* Five files, each fsync'd before close. */
static void write_synced(struct t *t, struct synced *s)
{
	int i;

	for (i = 0; i < NSYNCED; i++) {
		snprintf(s[i].rel, sizeof(s[i].rel), "synced-%d.bin", i);
		s[i].size = 50000 + (size_t)i * 170000;
		make_file(t, s[i].rel, 0x5000 + (uint64_t)i, s[i].size, 1, s[i].sha);
	}
}

static void verify_synced(struct t *t, const struct synced *s)
{
	int i;

	for (i = 0; i < NSYNCED; i++)
		expect_hash(t, s[i].rel, s[i].sha, s[i].size);
}

/* A file that was never fsync'd: absent, or one whole version (empty or
 * complete), never something in between. */
static void expect_absent_or_whole(struct t *t, const char *rel, uint64_t seed, size_t size)
{
	char path[512];
	uint8_t *got, *want;
	size_t glen;
	struct prng p;

	got = slurp(P(t, rel, path, sizeof(path)), &glen);
	if (!got) {
		if (errno != ENOENT)
			fail_msg("reading %s after the crash: %s", rel, strerror(errno));
		fprintf(stderr, "  %s: absent after the crash\n", rel);
		return;
	}
	fprintf(stderr, "  %s: %zu bytes after the crash\n", rel, glen);
	if (glen != 0) {
		want = talloc(size);
		prng_seed(&p, seed);
		prng_fill(&p, want, size);
		if (glen != size || memcmp(got, want, size))
			fail_msg("%s after the crash: %zu bytes that are neither empty nor its whole content", rel, glen);
		tfree(want);
	}
	tfree(got);
}

/* After the kill: remount, fsync'd files intact, the mount works, audit clean. */
static void after_crash(struct t *t, const struct synced *s)
{
	uint8_t sha[32];

	assert_int_equal(t->m.pid, 0);
	assert_false(mu_is_mounted(t->m.mp));
	do_mount(t);
	verify_synced(t, s);
	make_file(t, "after-crash.txt", 0xaf7e, 12345, 0, sha);
	expect_hash(t, "after-crash.txt", sha, 12345);
	do_umount(t);
	expect_audit_clean(t, "after the crash and a remount");
	/* once more, cold */
	do_mount(t);
	verify_synced(t, s);
	expect_hash(t, "after-crash.txt", sha, 12345);
	do_umount(t);
}

/* Moment 1: right after the fsyncs, with a closed unsynced file and an
 * open one holding staged writes. */
static void test_crash_after_fsync(void **state)
{
	struct t *t = *state;
	struct synced s[NSYNCED];
	char path[512];
	uint8_t *buf = talloc(300000);
	struct prng p;
	int fd;

	do_mount(t);
	write_synced(t, s);
	make_file(t, "unsynced-closed.bin", 0x6001, 777777, 0, NULL);
	prng_seed(&p, 0x6002);
	prng_fill(&p, buf, 300000);
	fd = open(P(t, "unsynced-open.bin", path, sizeof(path)), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite_all(fd, buf, 300000, 0), 0);
	mu_kill9(&t->m);
	close(fd); /* on a dead connection: its result does not matter */
	after_crash(t, s);
	do_mount(t);
	expect_absent_or_whole(t, "unsynced-closed.bin", 0x6001, 777777);
	expect_absent_or_whole(t, "unsynced-open.bin", 0x6002, 0); /* never closed: no version */
	do_umount(t);
	tfree(buf);
}

/* A child that does `what` on the mount and reports progress on a pipe,
 * one byte per unit; the parent kills the daemon after `units` units. */
static pid_t start_child(int *rfd, void (*what)(const char *mp, int wfd), const char *mp)
{
	int pfd[2];
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		signal(SIGPIPE, SIG_IGN);
		what(mp, pfd[1]);
		_exit(0);
	}
	close(pfd[1]);
	*rfd = pfd[0];
	return pid;
}

/* After the child ended: the progress bytes still in the pipe. */
static unsigned long drain_progress(int rfd)
{
	unsigned long got = 0;
	char buf[256];
	ssize_t r;

	while ((r = read(rfd, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR))
		if (r > 0)
			got += (unsigned long)r;
	return got;
}

/* Wait for `units` progress bytes (≤ secs); returns how many came. */
static unsigned long wait_progress(int rfd, unsigned long units, int secs)
{
	double end = now_s() + secs;
	unsigned long got = 0;
	char buf[256];

	while (got < units && now_s() < end) {
		struct pollfd pf = { rfd, POLLIN, 0 };
		ssize_t r;

		if (poll(&pf, 1, 100) <= 0)
			continue;
		r = read(rfd, buf, sizeof(buf));
		if (r <= 0)
			break; /* the child ended */
		got += (unsigned long)r;
	}
	return got;
}

static void big_unsynced_writer(const char *mp, int wfd)
{
	char path[512];
	uint8_t *buf = malloc(MiB);
	struct prng p;
	int fd, i;

	snprintf(path, sizeof(path), "%s/big-unsynced.bin", mp);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0 || !buf)
		_exit(2);
	prng_seed(&p, 0xb16);
	for (i = 0; i < 512; i++) {
		prng_fill(&p, buf, MiB);
		if (pwrite_all(fd, buf, MiB, (off_t)i * (off_t)MiB))
			_exit(0); /* the daemon died under us: expected */
		if (write(wfd, "x", 1) != 1)
			_exit(0);
	}
	_exit(0);
}

/* Moment 2: during a large unsynced write. */
static void test_crash_during_large_write(void **state)
{
	struct t *t = *state;
	struct synced s[NSYNCED];
	unsigned long got;
	pid_t kid;
	int rfd, st;

	do_mount(t);
	write_synced(t, s);
	kid = start_child(&rfd, big_unsynced_writer, t->m.mp);
	got = wait_progress(rfd, 48, 120);
	mu_kill9(&t->m);
	if (wait_child(kid, 60, &st))
		fail_msg("the writer did not end within 60 s of the daemon's death");
	got += drain_progress(rfd);
	close(rfd);
	fprintf(stderr, "  killed after %lu MiB of an unsynced write\n", got);
	if (got < 48)
		fail_msg("the large writer stopped after %lu MiB, before the kill", got);
	if (got >= 512)
		fail_msg("the large writer finished before the kill");
	after_crash(t, s);
	do_mount(t);
	expect_absent_or_whole(t, "big-unsynced.bin", 0xb16, 0); /* never closed: no version */
	do_umount(t);
}

#define BURST_MAX 5000
#define BURST_KILL_AT 150

static size_t burst_size(int i)
{
	return 100 + (size_t)(i % 300);
}

static void burst_creator(const char *mp, int wfd)
{
	char path[512];
	uint8_t buf[512];
	struct prng p;
	int i, fd;

	for (i = 0; i < BURST_MAX; i++) {
		snprintf(path, sizeof(path), "%s/burst/c%04d", mp, i);
		prng_seed(&p, 0xb000 + (uint64_t)i);
		prng_fill(&p, buf, burst_size(i));
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0)
			_exit(0);
		if (write_all(fd, buf, burst_size(i)) || close(fd))
			_exit(0);
		if (write(wfd, "x", 1) != 1)
			_exit(0);
	}
	_exit(0);
}

/* Moment 3: during a burst of creates. */
static void test_crash_during_creates(void **state)
{
	struct t *t = *state;
	struct synced s[NSYNCED];
	char path[512], rel[64];
	unsigned long got;
	int rfd, st, i, present = 0, last = -1;
	pid_t kid;
	DIR *d;
	struct dirent *e;
	static char seen[BURST_MAX];

	do_mount(t);
	assert_int_equal(mkdir(P(t, "burst", path, sizeof(path)), 0755), 0);
	write_synced(t, s);
	kid = start_child(&rfd, burst_creator, t->m.mp);
	got = wait_progress(rfd, BURST_KILL_AT, 120);
	mu_kill9(&t->m);
	if (wait_child(kid, 60, &st))
		fail_msg("the creator did not end within 60 s of the daemon's death");
	got += drain_progress(rfd);
	close(rfd);
	fprintf(stderr, "  killed after %lu files created\n", got);
	if (got < BURST_KILL_AT)
		fail_msg("the creator stopped after %lu files, before the kill", got);
	if (got >= BURST_MAX)
		fail_msg("the creator finished before the kill");
	after_crash(t, s);

	/* the burst: the log is a prefix, so the files present are c0000..c(k-1),
	 * all whole except perhaps the last (created, its version lost) */
	do_mount(t);
	memset(seen, 0, sizeof(seen));
	d = opendir(P(t, "burst", path, sizeof(path)));
	assert_non_null(d);
	while ((e = readdir(d))) {
		int n = 0;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (sscanf(e->d_name, "c%d%n", &i, &n) != 1 || e->d_name[n] || i < 0 || i >= BURST_MAX)
			fail_msg("unexpected name in burst/: %s", e->d_name);
		seen[i] = 1;
		present++;
		if (i > last)
			last = i;
	}
	closedir(d);
	fprintf(stderr, "  %d burst files present after the crash\n", present);
	if (present != last + 1)
		fail_msg("burst files after the crash are not a prefix: %d present, highest c%04d", present, last);
	for (i = 0; i <= last; i++) {
		uint8_t *g, want[512];
		size_t glen;
		struct prng p;

		snprintf(rel, sizeof(rel), "burst/c%04d", i);
		g = slurp(P(t, rel, path, sizeof(path)), &glen);
		if (!g)
			fail_msg("reading %s: %s", rel, strerror(errno));
		prng_seed(&p, 0xb000 + (uint64_t)i);
		prng_fill(&p, want, burst_size(i));
		if (glen == 0 && i == last) {
			tfree(g);
			continue;
		}
		if (glen != burst_size(i) || memcmp(g, want, glen))
			fail_msg("%s after the crash: %zu bytes, not its content (%zu bytes)", rel, glen, burst_size(i));
		tfree(g);
	}
	do_umount(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_large_file_and_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_altered_chunk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_missing_chunk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_index_repoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_index_ghost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_after_fsync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_during_large_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_during_creates, setup, teardown),
	};

	/* LGFS_TEST_FILTER=test_sparse (a glob) runs only the matching tests */
	if (getenv("LGFS_TEST_FILTER"))
		cmocka_set_test_filter(getenv("LGFS_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
