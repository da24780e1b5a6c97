/*
 * test_log_file.c — unit tests of the file:// log store (store layer):
 * round trips, compare-and-append, segment rolls and random access, the
 * tail rules at open (torn tails cut, damage reported, never repaired),
 * damage found by reads, the offsets sidecar, the writer lock, and injected
 * ENOSPC/EIO through the lgfs_sys table. Each test runs in its own mkdtemp
 * directory under /tmp, removed afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/log.h"
#include "ledgerfs/sys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENV_MAX 120 /* largest generated envelope */
#define REC_MAX 250 /* largest generated record */
#define SEGENV "LEDGERFS_LOG_SEGMENT_BYTES"
#define SMALL_SEG 700 /* a few generated frames per segment */

/* Per test: a fresh temporary directory and the log directory inside it. */
struct ctx {
	char tmp[64];
	char dir[128];
};

/* The real system calls, for the injecting wrappers to call through. */
static struct lgfs_sys real_sys;

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	strcpy(c->tmp, "/tmp/lgfs_log_test.XXXXXX");
	if (!mkdtemp(c->tmp)) {
		free(c);
		return -1;
	}
	snprintf(c->dir, sizeof(c->dir), "%s/log", c->tmp);
	lgfs_sys_reset();
	real_sys = lgfs_sys;
	unsetenv(SEGENV);
	*state = c;
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	lgfs_sys_reset();
	unsetenv(SEGENV);
	nftw(c->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
	return 0;
}

/* ---- generated entries: contents are a function of the index ---- */

static size_t gen_env_len(uint64_t i)
{
	return 1 + (size_t)((i * 37) % ENV_MAX);
}

static size_t gen_rec_len(uint64_t i)
{
	return i % 5 == 0 ? 0 : (size_t)((i * 13) % REC_MAX);
}

static uint8_t gen_byte(uint64_t i, size_t j, int which)
{
	return (uint8_t)(i * 7 + j * 31 + (uint64_t)which * 101);
}

static uint64_t frame_size(uint64_t i)
{
	return 28 + gen_env_len(i) + gen_rec_len(i);
}

/* Fill e for entry i, using buf (ENV_MAX + REC_MAX bytes) for the bytes. */
static void gen_entry(uint64_t i, uint8_t *buf, struct lgfs_log_entry *e)
{
	size_t j;

	e->index = i;
	e->envelope_len = gen_env_len(i);
	e->record_len = gen_rec_len(i);
	for (j = 0; j < e->envelope_len; j++)
		buf[j] = gen_byte(i, j, 0);
	for (j = 0; j < e->record_len; j++)
		buf[ENV_MAX + j] = gen_byte(i, j, 1);
	e->envelope = buf;
	e->record = e->record_len ? buf + ENV_MAX : NULL;
}

/* Append generated entries [from, from+count) in batches; returns the first
 * failure's code (the entries before it stay appended). */
static int try_append_gen(struct lgfs_log *l, uint64_t from, uint64_t count, size_t batch)
{
	struct lgfs_log_entry *e = calloc(batch, sizeof(*e));
	uint8_t *bufs = malloc(batch * (ENV_MAX + REC_MAX));
	uint64_t at = from;
	int rc = 0;

	assert_non_null(e);
	assert_non_null(bufs);
	while (at < from + count) {
		size_t n = from + count - at < batch ? (size_t)(from + count - at) : batch, k;

		for (k = 0; k < n; k++)
			gen_entry(at + k, bufs + k * (ENV_MAX + REC_MAX), &e[k]);
		rc = lgfs_log_append(l, at, e, n);
		if (rc)
			break;
		at += n;
	}
	free(bufs);
	free(e);
	return rc;
}

static void append_gen(struct lgfs_log *l, uint64_t from, uint64_t count, size_t batch)
{
	int rc = try_append_gen(l, from, count, batch);

	if (rc)
		print_message("append: %s\n", lgfs_error_last());
	assert_int_equal(rc, 0);
}

/* Read callback state: entries must arrive in order and match the generator. */
struct check {
	uint64_t next;
	uint64_t seen;
	uint64_t stop_at; /* return 7 from this index on; UINT64_MAX: never */
};

static int check_cb(void *arg, const struct lgfs_log_entry *e)
{
	struct check *c = arg;
	size_t j;

	if (e->index == c->stop_at)
		return 7;
	if (e->index != c->next)
		return 100;
	if (e->envelope_len != gen_env_len(e->index) || e->record_len != gen_rec_len(e->index))
		return 101;
	for (j = 0; j < e->envelope_len; j++)
		if (e->envelope[j] != gen_byte(e->index, j, 0))
			return 102;
	for (j = 0; j < e->record_len; j++)
		if (e->record[j] != gen_byte(e->index, j, 1))
			return 103;
	if (e->record_len == 0 && e->record != NULL)
		return 104;
	c->next++;
	c->seen++;
	return 0;
}

static int try_verify(struct lgfs_log *l, uint64_t from, uint64_t count)
{
	struct check c = { from, 0, UINT64_MAX };
	int rc = lgfs_log_read(l, from, count, check_cb, &c);

	if (!rc && c.seen != count)
		return 99;
	return rc;
}

static void verify(struct lgfs_log *l, uint64_t from, uint64_t count)
{
	int rc = try_verify(l, from, count);

	if (rc)
		print_message("verify %" PRIu64 "+%" PRIu64 ": rc %d: %s\n", from, count, rc,
			      lgfs_error_last());
	assert_int_equal(rc, 0);
}

/* Where entry i lives when the segment limit is lim: segment name and
 * offset, by the documented roll rule (roll before a frame once the segment
 * holds >= lim bytes). */
static void layout(uint64_t i, uint64_t lim, uint64_t *seg, uint64_t *off)
{
	uint64_t bytes = 0, first = 0, k;

	for (k = 0;; k++) {
		if (bytes >= lim && bytes > 0) {
			first = k;
			bytes = 0;
		}
		if (k == i)
			break;
		bytes += frame_size(k);
	}
	*seg = first;
	*off = bytes;
}

/* ---- files ---- */

static void seg_path(char *out, size_t n, const struct ctx *c, uint64_t first, const char *ext)
{
	snprintf(out, n, "%s/%020" PRIu64 ".%s", c->dir, first, ext);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	assert_int_equal(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

static void spit(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	close(fd);
}

static uint64_t file_len(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static void xor_byte(const char *path, uint64_t off, uint8_t mask)
{
	uint8_t b;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= mask;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names, sizes and SHA-256 of every file in dir, as one string: equal
 * snapshots mean nothing on disk changed. */
static char *snapshot(const char *dir)
{
	char *names[256], *out, path[512], hex[65];
	uint8_t sum[32];
	size_t n = 0, k, len, cap = 1;
	struct dirent *de;
	DIR *d = opendir(dir);

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			assert_true(n < 256);
			names[n++] = strdup(de->d_name);
		}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	out = calloc(1, n * 200 + 1);
	assert_non_null(out);
	for (k = 0; k < n; k++) {
		uint8_t *data;
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
		assert_int_equal(lstat(path, &st), 0);
		if (S_ISREG(st.st_mode)) {
			data = slurp(path, &len);
			lgfs_sha256(sum, data, len);
			free(data);
		} else {
			len = 0;
			memset(sum, 0, sizeof(sum));
		}
		lgfs_hex(hex, sum, 32);
		cap += (size_t)sprintf(out + strlen(out), "%s %zu %s\n", names[k], len, hex);
		free(names[k]);
	}
	(void)cap;
	return out;
}

/* ---- opening ---- */

static struct lgfs_log *open_ok(const char *dir, int flags)
{
	struct lgfs_log *l = NULL;
	int rc = lgfs_log_open(&l, dir, flags);

	if (rc)
		print_message("open %s: %s\n", dir, lgfs_error_last());
	assert_int_equal(rc, 0);
	assert_non_null(l);
	return l;
}

static int open_rc(const char *dir, int flags)
{
	struct lgfs_log *l = NULL;
	int rc = lgfs_log_open(&l, dir, flags);

	if (rc == 0)
		lgfs_log_close(l);
	else
		assert_null(l);
	return rc;
}

static uint64_t size_of(struct lgfs_log *l)
{
	uint64_t n = 0;

	assert_int_equal(lgfs_log_size(l, &n), 0);
	return n;
}

/* A new log with entries [0, n). */
static void make_log(const struct ctx *c, uint64_t n, size_t batch)
{
	struct lgfs_log *l = open_ok(c->dir, LGFS_LOG_CREATE);

	append_gen(l, 0, n, batch);
	assert_int_equal(size_of(l), n);
	lgfs_log_close(l);
}

static void assert_msg_has(const char *want)
{
	const char *msg = lgfs_error_last();

	if (!strstr(msg, want))
		print_message("message '%s' lacks '%s'\n", msg, want);
	assert_non_null(strstr(msg, want));
}

/* Writable open must fail ECORRUPT naming `index`; a read-only open must
 * succeed, stop the log at `index` and report it. Nothing may change. */
static void expect_damage_at_open(const struct ctx *c, uint64_t index)
{
	char want[64], *before, *after;
	struct lgfs_log *l;

	before = snapshot(c->dir);
	assert_int_equal(open_rc(c->dir, 0), LGFS_ECORRUPT);
	snprintf(want, sizeof(want), "entry %" PRIu64 ":", index);
	assert_msg_has(want);
	assert_msg_has(".seg");
	assert_msg_has("byte offset");
	l = open_ok(c->dir, LGFS_LOG_RDONLY);
	assert_int_equal(l->damaged_at, index);
	assert_non_null(strstr(l->damage, want));
	assert_int_equal(size_of(l), index);
	if (index)
		verify(l, 0, index);
	assert_int_equal(try_verify(l, 0, index + 1), LGFS_ERANGE);
	assert_int_equal(lgfs_log_append(l, index, NULL, 0), LGFS_EROFS);
	lgfs_log_close(l);
	after = snapshot(c->dir);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* A read of [from, from+count) must fail ECORRUPT naming `index`. */
static void expect_read_damage(struct lgfs_log *l, uint64_t from, uint64_t count, uint64_t index)
{
	char want[64];

	assert_int_equal(try_verify(l, from, count), LGFS_ECORRUPT);
	snprintf(want, sizeof(want), "entry %" PRIu64 ":", index);
	assert_msg_has(want);
	assert_msg_has(".seg");
	assert_msg_has("byte offset");
}

/* ---- injected failures ---- */

/* Fail the countdown-th call from now with err (0 = off). */
struct inject {
	int countdown;
	int err;
};

static struct inject inj_fdatasync, inj_fsync, inj_pwrite, inj_create, inj_ftruncate;
static int pwrite_short;     /* the failing pwrite first writes half, the next call fails */
static int pwrite_fail_next; /* internal: the half was written */
static uint64_t pread_bytes; /* bytes returned by pread, for the "no full scan" checks */

static int fire(struct inject *i)
{
	if (i->countdown && --i->countdown == 0) {
		errno = i->err;
		return 1;
	}
	return 0;
}

static int inj_fdatasync_fn(int fd)
{
	return fire(&inj_fdatasync) ? -1 : real_sys.fdatasync(fd);
}

static int inj_fsync_fn(int fd)
{
	return fire(&inj_fsync) ? -1 : real_sys.fsync(fd);
}

static int inj_ftruncate_fn(int fd, off_t len)
{
	return fire(&inj_ftruncate) ? -1 : real_sys.ftruncate(fd, len);
}

static ssize_t inj_pwrite_fn(int fd, const void *b, size_t n, off_t off)
{
	if (pwrite_fail_next) {
		pwrite_fail_next = 0;
		errno = inj_pwrite.err;
		return -1;
	}
	if (inj_pwrite.countdown && --inj_pwrite.countdown == 0) {
		if (pwrite_short && n > 1) {
			pwrite_fail_next = 1;
			return real_sys.pwrite(fd, b, n / 2, off);
		}
		errno = inj_pwrite.err;
		return -1;
	}
	return real_sys.pwrite(fd, b, n, off);
}

static int inj_openat_fn(int dirfd, const char *path, int flags, mode_t mode)
{
	if ((flags & O_CREAT) && (flags & O_EXCL) && fire(&inj_create))
		return -1;
	return real_sys.openat(dirfd, path, flags, mode);
}

static ssize_t count_pread_fn(int fd, void *b, size_t n, off_t off)
{
	ssize_t r = real_sys.pread(fd, b, n, off);

	if (r > 0)
		pread_bytes += (uint64_t)r;
	return r;
}

static void inject_all(void)
{
	memset(&inj_fdatasync, 0, sizeof(inj_fdatasync));
	memset(&inj_fsync, 0, sizeof(inj_fsync));
	memset(&inj_pwrite, 0, sizeof(inj_pwrite));
	memset(&inj_create, 0, sizeof(inj_create));
	memset(&inj_ftruncate, 0, sizeof(inj_ftruncate));
	pwrite_short = pwrite_fail_next = 0;
	lgfs_sys.fdatasync = inj_fdatasync_fn;
	lgfs_sys.fsync = inj_fsync_fn;
	lgfs_sys.pwrite = inj_pwrite_fn;
	lgfs_sys.openat = inj_openat_fn;
	lgfs_sys.ftruncate = inj_ftruncate_fn;
}

/* Names of the .seg files in the log directory, ascending; returns count. */
static size_t list_segs(const struct ctx *c, uint64_t *out, size_t max)
{
	struct dirent *de;
	size_t n = 0, a, b;
	DIR *d = opendir(c->dir);

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (len == 24 && strcmp(de->d_name + 20, ".seg") == 0) {
			assert_true(n < max);
			out[n++] = strtoull(de->d_name, NULL, 10);
		}
	}
	closedir(d);
	for (a = 0; a < n; a++)
		for (b = a + 1; b < n; b++)
			if (out[b] < out[a]) {
				uint64_t t = out[a];

				out[a] = out[b];
				out[b] = t;
			}
	return n;
}

/* ================================ tests ================================ */

/* Entry 50 of test_roundtrip: envelope "E", empty record given as non-NULL. */
static int single_cb(void *arg, const struct lgfs_log_entry *e)
{
	(void)arg;
	if (e->index != 50 || e->envelope_len != 1 || e->envelope[0] != 'E' ||
	    e->record_len != 0 || e->record != NULL)
		return 100;
	return 0;
}

/* Entries come back exactly as appended, in batches of 1 and many, with
 * empty records returned as NULL; ranges are checked against the size. */
static void test_roundtrip(void **state)
{
	struct ctx *c = *state;
	struct lgfs_log *l = open_ok(c->dir, LGFS_LOG_CREATE);
	uint8_t env[1] = { 'E' }, dummy = 0;
	struct lgfs_log_entry e = { 50, env, 1, &dummy, 0 };

	assert_string_equal(l->scheme, "file");
	assert_int_equal(size_of(l), 0);
	assert_int_equal(l->damaged_at, UINT64_MAX);
	assert_int_equal(l->torn_bytes, 0);
	verify(l, 0, 0);
	append_gen(l, 0, 10, 1);
	append_gen(l, 10, 40, 40);
	assert_int_equal(size_of(l), 50);
	verify(l, 0, 50);
	verify(l, 10, 5);
	verify(l, 49, 1);
	verify(l, 50, 0);
	assert_int_equal(try_verify(l, 51, 0), LGFS_ERANGE);
	assert_int_equal(try_verify(l, 0, 51), LGFS_ERANGE);
	assert_int_equal(try_verify(l, 50, 1), LGFS_ERANGE);
	assert_int_equal(try_verify(l, 1, UINT64_MAX), LGFS_ERANGE);
	/* A non-NULL record pointer with length 0 is fine and reads back NULL. */
	assert_int_equal(lgfs_log_append(l, 50, &e, 1), 0);
	assert_int_equal(lgfs_log_read(l, 50, 1, single_cb, NULL), 0);
	verify(l, 0, 50);
	lgfs_log_close(l);
}

/* The largest envelope and record, and the smallest, survive a round trip
 * and a reopen. */
struct big_check {
	uint8_t *env, *rec;
	uint64_t seen;
};

static const size_t big_elen[4] = { LGFS_LOG_MAX_ENVELOPE, 1, LGFS_LOG_MAX_ENVELOPE, 1 };
static const size_t big_rlen[4] = { LGFS_LOG_MAX_RECORD, 0, 0, LGFS_LOG_MAX_RECORD };

static int big_cb(void *arg, const struct lgfs_log_entry *e)
{
	struct big_check *b = arg;

	if (e->index != b->seen || e->envelope_len != big_elen[e->index] ||
	    e->record_len != big_rlen[e->index])
		return 100;
	if (memcmp(e->envelope, b->env, e->envelope_len) != 0)
		return 101;
	if (e->record_len && memcmp(e->record, b->rec, e->record_len) != 0)
		return 102;
	b->seen++;
	return 0;
}

static void test_max_sizes(void **state)
{
	struct ctx *c = *state;
	struct lgfs_log_entry e[4];
	struct big_check b = { 0 };
	struct lgfs_log *l;
	size_t k;

	b.env = malloc(LGFS_LOG_MAX_ENVELOPE);
	b.rec = malloc(LGFS_LOG_MAX_RECORD);
	assert_non_null(b.env);
	assert_non_null(b.rec);
	for (k = 0; k < LGFS_LOG_MAX_ENVELOPE; k++)
		b.env[k] = (uint8_t)(k * 3 + 1);
	for (k = 0; k < LGFS_LOG_MAX_RECORD; k++)
		b.rec[k] = (uint8_t)(k * 5 + 7);
	for (k = 0; k < 4; k++) {
		e[k].index = k;
		e[k].envelope = b.env;
		e[k].envelope_len = big_elen[k];
		e[k].record = big_rlen[k] ? b.rec : NULL;
		e[k].record_len = big_rlen[k];
	}
	l = open_ok(c->dir, LGFS_LOG_CREATE);
	assert_int_equal(lgfs_log_append(l, 0, e, 4), 0);
	assert_int_equal(lgfs_log_read(l, 0, 4, big_cb, &b), 0);
	assert_int_equal(b.seen, 4);
	lgfs_log_close(l);
	l = open_ok(c->dir, 0);
	assert_int_equal(size_of(l), 4);
	b.seen = 3;
	assert_int_equal(lgfs_log_read(l, 3, 1, big_cb, &b), 0);
	b.seen = 0;
	assert_int_equal(lgfs_log_read(l, 0, 4, big_cb, &b), 0);
	assert_int_equal(b.seen, 4);
	lgfs_log_close(l);
	free(b.env);
	free(b.rec);
}

/* The bytes on disk are exactly the documented frame format, and the
 * sidecar holds big-endian offsets. */
static void test_frame_bytes(void **state)
{
	struct ctx *c = *state;
	struct lgfs_log_entry e[2] = {
		{ 0, (const uint8_t *)"abc", 3, (const uint8_t *)"hello", 5 },
		{ 1, (const uint8_t *)"Z", 1, NULL, 0 },
	};
	uint8_t want[128], sum[32], *got;
	char path[256];
	struct lgfs_log *l;
	size_t n = 0, len;

	l = open_ok(c->dir, LGFS_LOG_CREATE);
	assert_int_equal(lgfs_log_append(l, 0, e, 2), 0);
	lgfs_log_close(l);

	memcpy(want, "LGF1\0\0\0\0\0\0\0\0\0\0\0\3\0\0\0\5abchello", 28);
	lgfs_sha256(sum, want, 28);
	memcpy(want + 28, sum, 8);
	n = 36;
	memcpy(want + n, "LGF1\0\0\0\0\0\0\0\1\0\0\0\1\0\0\0\0Z", 21);
	lgfs_sha256(sum, want + n, 21);
	memcpy(want + n + 21, sum, 8);
	n += 29;
	seg_path(path, sizeof(path), c, 0, "seg");
	got = slurp(path, &len);
	assert_int_equal(len, n);
	assert_memory_equal(got, want, n);
	free(got);

	seg_path(path, sizeof(path), c, 0, "idx");
	got = slurp(path, &len);
	assert_int_equal(len, 16);
	assert_memory_equal(got, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x24", 16);
	free(got);
}

/* Compare-and-append: a wrong expected size or indexes that do not count up
 * from it are ECONFLICT and write nothing. */
static void test_conflict(void **state)
{
	struct ctx *c = *state;
	uint8_t env[1] = { 1 };
	struct lgfs_log_entry e[2] = { { 5, env, 1, NULL, 0 }, { 7, env, 1, NULL, 0 } };
	struct lgfs_log *l = open_ok(c->dir, LGFS_LOG_CREATE);
	char path[256];
	uint64_t bytes;

	append_gen(l, 0, 5, 5);
	seg_path(path, sizeof(path), c, 0, "seg");
	bytes = file_len(path);
	e[0].index = 3;
	assert_int_equal(lgfs_log_append(l, 3, e, 1), LGFS_ECONFLICT);
	assert_msg_has("expected 3");
	e[0].index = 6;
	assert_int_equal(lgfs_log_append(l, 6, e, 1), LGFS_ECONFLICT);
	e[0].index = 5;
	assert_int_equal(lgfs_log_append(l, 5, e, 2), LGFS_ECONFLICT); /* 5, 7 */
	e[0].index = 6;
	assert_int_equal(lgfs_log_append(l, 5, e, 1), LGFS_ECONFLICT); /* starts at 6 */
	assert_int_equal(lgfs_log_append(l, 4, e, 0), LGFS_ECONFLICT);
	assert_int_equal(lgfs_log_append(l, 5, e, 0), 0);
	assert_int_equal(size_of(l), 5);
	assert_int_equal(file_len(path), bytes);
	e[0].index = 5;
	e[1].index = 6;
	assert_int_equal(lgfs_log_append(l, 5, e, 2), 0);
	assert_int_equal(size_of(l), 7);
	lgfs_log_close(l);
}

/* Bad arguments are errors, never crashes, and write nothing. */
static void test_bad_inputs(void **state)
{
	struct ctx *c = *state;
	static uint8_t big[LGFS_LOG_MAX_ENVELOPE + 1];
	uint8_t rec[4] = { 0 };
	struct lgfs_log_entry e[2] = { { 0, big, 1, NULL, 0 }, { 1, big, 1, NULL, 0 } };
	struct lgfs_log *l = NULL;
	char path[256];
	uint64_t n;

	assert_int_equal(lgfs_log_open(NULL, c->dir, LGFS_LOG_CREATE), LGFS_EINVAL);
	assert_int_equal(lgfs_log_open(&l, "", LGFS_LOG_CREATE), LGFS_EINVAL);
	assert_int_equal(lgfs_log_open(&l, NULL, LGFS_LOG_CREATE), LGFS_EINVAL);
	assert_int_equal(lgfs_log_open(&l, c->dir, 0x100), LGFS_EINVAL);
	assert_int_equal(lgfs_log_open(&l, c->dir, LGFS_LOG_RDONLY | LGFS_LOG_CREATE), LGFS_EINVAL);
	assert_null(l);
	assert_int_equal(lgfs_log_append(NULL, 0, e, 1), LGFS_EINVAL);
	assert_int_equal(lgfs_log_read(NULL, 0, 0, check_cb, NULL), LGFS_EINVAL);
	assert_int_equal(lgfs_log_size(NULL, &n), LGFS_EINVAL);
	lgfs_log_close(NULL);

	l = open_ok(c->dir, LGFS_LOG_CREATE);
	assert_int_equal(lgfs_log_size(l, NULL), LGFS_EINVAL);
	assert_int_equal(lgfs_log_read(l, 0, 0, NULL, NULL), LGFS_EINVAL);
	assert_int_equal(lgfs_log_append(l, 0, NULL, 2), LGFS_EINVAL);
	e[1].envelope_len = 0;
	assert_int_equal(lgfs_log_append(l, 0, e, 2), LGFS_EINVAL); /* entry 0 not written either */
	e[1].envelope_len = LGFS_LOG_MAX_ENVELOPE + 1;
	assert_int_equal(lgfs_log_append(l, 0, e, 2), LGFS_EINVAL);
	assert_msg_has("envelope");
	e[1].envelope_len = 1;
	e[1].envelope = NULL;
	assert_int_equal(lgfs_log_append(l, 0, e, 2), LGFS_EINVAL);
	e[1].envelope = big;
	e[1].record_len = LGFS_LOG_MAX_RECORD + 1;
	e[1].record = rec;
	assert_int_equal(lgfs_log_append(l, 0, e, 2), LGFS_EINVAL);
	e[1].record_len = 3;
	e[1].record = NULL;
	assert_int_equal(lgfs_log_append(l, 0, e, 2), LGFS_EINVAL);
	assert_int_equal(size_of(l), 0);
	seg_path(path, sizeof(path), c, 0, "seg");
	assert_int_equal(file_len(path), 0);
	/* Exactly the maximum envelope is accepted. */
	e[1].record = rec;
	e[1].envelope_len = LGFS_LOG_MAX_ENVELOPE;
	assert_int_equal(lgfs_log_append(l, 0, e, 2), 0);
	lgfs_log_close(l);
}

/* Many rolls: segments are named by their first index as the roll rule
 * says, every range reads back (from the start, the middle, across
 * boundaries), before and after reopening, writable and read-only; opening
 * does not read the whole log, and a read from the middle reads little. */
static void test_segments_and_ranges(void **state)
{
	static const size_t batches[] = { 1, 2, 3, 7, 13, 30 };
	struct ctx *c = *state;
	uint64_t segs[512], want_seg, off, from, total = 0, last_seg = 0, k;
	size_t nseg, b = 0, expect_segs = 0;
	struct lgfs_log *l;
	char path[256];

	setenv(SEGENV, "700", 1);
	l = open_ok(c->dir, LGFS_LOG_CREATE);
	for (from = 0; from < 300;) {
		uint64_t n = batches[b++ % 6];

		if (from + n > 300)
			n = 300 - from;
		append_gen(l, from, n, 64);
		from += n;
	}
	assert_int_equal(size_of(l), 300);
	nseg = list_segs(c, segs, 512);
	assert_true(nseg > 40);
	for (k = 0; k < 300; k++) {
		layout(k, SMALL_SEG, &want_seg, &off);
		if (k == 0 || want_seg != last_seg)
			expect_segs++; /* a segment starts here */
		last_seg = want_seg;
	}
	assert_int_equal(nseg, expect_segs);
	for (k = 0; k < nseg; k++) {
		layout(segs[k], SMALL_SEG, &want_seg, &off);
		assert_int_equal(want_seg, segs[k]);
		assert_int_equal(off, 0);
	}
	verify(l, 0, 300);
	for (from = 0; from < 300; from++) {
		verify(l, from, 1);
		verify(l, from, 300 - from < 17 ? 300 - from : 17);
	}
	lgfs_log_close(l);

	/* Reopen: only the last segment is scanned. */
	for (k = 0; k < nseg; k++) {
		seg_path(path, sizeof(path), c, segs[k], "seg");
		total += file_len(path);
	}
	lgfs_sys.pread = count_pread_fn;
	pread_bytes = 0;
	l = open_ok(c->dir, 0);
	assert_true(pread_bytes < total / 4);
	assert_true(pread_bytes <= 2 * (SMALL_SEG + 400) + 20 * nseg);
	assert_int_equal(size_of(l), 300);
	pread_bytes = 0;
	verify(l, 150, 2);
	assert_true(pread_bytes <= 2 * (SMALL_SEG + 400) + 16);
	lgfs_sys.pread = real_sys.pread;
	for (from = 0; from < 300; from += 7)
		verify(l, from, 300 - from < 23 ? 300 - from : 23);
	append_gen(l, 300, 50, 9);
	verify(l, 0, 350);
	lgfs_log_close(l);

	l = open_ok(c->dir, LGFS_LOG_RDONLY);
	assert_int_equal(size_of(l), 350);
	verify(l, 0, 350);
	for (from = 1; from < 350; from += 11)
		verify(l, from, 5 < 350 - from ? 5 : 350 - from);
	lgfs_log_close(l);
}

/* The roll rule at its boundary: a new segment starts before a frame once
 * the last segment holds >= the limit, so limits equal to, one below and one
 * above a frame boundary give different layouts, all as simulated. */
static void test_roll_rule(void **state)
{
	struct ctx *c = *state;
	uint64_t f01 = frame_size(0) + frame_size(1), segs[64], seg, off, k, last;
	const uint64_t limits[] = { 1, frame_size(0), f01 - 1, f01, f01 + 1, 4 * f01 };
	char dir[sizeof(c->dir)], num[32];
	struct lgfs_log *l;
	size_t n, want, i;

	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		snprintf(num, sizeof(num), "%" PRIu64, limits[i]);
		setenv(SEGENV, num, 1);
		snprintf(dir, sizeof(dir), "%s/r%zu", c->tmp, i);
		l = open_ok(dir, LGFS_LOG_CREATE);
		append_gen(l, 0, 12, 12);
		lgfs_log_close(l);
		snprintf(c->dir, sizeof(c->dir), "%s", dir);
		n = list_segs(c, segs, 64);
		for (k = 0, want = 0, last = UINT64_MAX; k < 12; k++) {
			layout(k, limits[i], &seg, &off);
			if (seg != last) {
				assert_true(want < n);
				assert_int_equal(segs[want], seg);
				want++;
			}
			last = seg;
		}
		assert_int_equal(n, want);
		l = open_ok(dir, 0);
		verify(l, 0, 12);
		lgfs_log_close(l);
	}
	snprintf(c->dir, sizeof(c->dir), "%s/log", c->tmp);
}

/* The size survives close and reopen, appends continue, read-only sees it. */
static void test_reopen_size(void **state)
{
	struct ctx *c = *state;
	struct lgfs_log *l;

	make_log(c, 10, 3);
	l = open_ok(c->dir, 0);
	assert_int_equal(size_of(l), 10);
	assert_int_equal(l->torn_bytes, 0);
	append_gen(l, 10, 10, 4);
	lgfs_log_close(l);
	l = open_ok(c->dir, LGFS_LOG_CREATE); /* CREATE on an existing log opens it */
	assert_int_equal(size_of(l), 20);
	lgfs_log_close(l);
	l = open_ok(c->dir, LGFS_LOG_RDONLY);
	assert_int_equal(size_of(l), 20);
	assert_int_equal(l->damaged_at, UINT64_MAX);
	verify(l, 0, 20);
	lgfs_log_close(l);
}

/* Cut the last segment at every byte inside its last frame: read-only opens
 * report the torn bytes and change nothing; writable opens cut back to the
 * previous frame and appends continue (rewriting the same bytes). */
static void torn_every_offset(struct ctx *c, uint64_t n)
{
	uint64_t seg, off, k, fsz = frame_size(n - 1);
	uint8_t *full, *again;
	size_t len, len2;
	char path[256], *before, *after;
	struct lgfs_log *l;

	make_log(c, n, 2);
	layout(n - 1, getenv(SEGENV) ? strtoull(getenv(SEGENV), NULL, 10) : UINT64_MAX, &seg, &off);
	seg_path(path, sizeof(path), c, seg, "seg");
	full = slurp(path, &len);
	assert_int_equal(len, off + fsz);
	for (k = 0; k < fsz; k++) {
		spit(path, full, off + k);

		before = snapshot(c->dir);
		l = open_ok(c->dir, LGFS_LOG_RDONLY);
		assert_int_equal(l->torn_bytes, k);
		assert_int_equal(l->damaged_at, UINT64_MAX);
		assert_int_equal(size_of(l), n - 1);
		verify(l, 0, n - 1);
		lgfs_log_close(l);
		after = snapshot(c->dir);
		assert_string_equal(before, after);
		free(before);
		free(after);

		l = open_ok(c->dir, 0);
		assert_int_equal(l->torn_bytes, k);
		assert_int_equal(size_of(l), n - 1);
		assert_int_equal(file_len(path), off);
		append_gen(l, n - 1, 1, 1);
		verify(l, 0, n);
		lgfs_log_close(l);
		again = slurp(path, &len2);
		assert_int_equal(len2, len);
		assert_memory_equal(again, full, len);
		free(again);
	}
	free(full);
}

static void test_torn_every_offset(void **state)
{
	torn_every_offset(*state, 6); /* the last frame follows others in its segment */
}

static void test_torn_single_frame_segment(void **state)
{
	setenv(SEGENV, "1", 1); /* one frame per segment */
	torn_every_offset(*state, 4);
}

/* Zero bytes after the last frame (size reached the disk, data did not) are
 * a torn tail of any length. */
static void test_zero_tail(void **state)
{
	static const size_t zeros[] = { 1, 19, 20, 21, 100, 70000 };
	struct ctx *c = *state;
	char path[256], *before, *after;
	uint8_t *full, *pad;
	struct lgfs_log *l;
	size_t len, k;

	make_log(c, 5, 5);
	seg_path(path, sizeof(path), c, 0, "seg");
	full = slurp(path, &len);
	pad = calloc(1, len + 70000);
	assert_non_null(pad);
	memcpy(pad, full, len);
	for (k = 0; k < sizeof(zeros) / sizeof(zeros[0]); k++) {
		spit(path, pad, len + zeros[k]);
		before = snapshot(c->dir);
		l = open_ok(c->dir, LGFS_LOG_RDONLY);
		assert_int_equal(l->torn_bytes, zeros[k]);
		assert_int_equal(size_of(l), 5);
		verify(l, 0, 5);
		lgfs_log_close(l);
		after = snapshot(c->dir);
		assert_string_equal(before, after);
		free(before);
		free(after);

		l = open_ok(c->dir, 0);
		assert_int_equal(l->torn_bytes, zeros[k]);
		assert_int_equal(size_of(l), 5);
		assert_int_equal(file_len(path), len);
		lgfs_log_close(l);
	}
	l = open_ok(c->dir, 0);
	append_gen(l, 5, 3, 3);
	verify(l, 0, 8);
	lgfs_log_close(l);
	free(pad);
	free(full);
}

/* Every single damaged byte of a middle frame of the last segment (magic,
 * index, lengths, payload, check) is damage at that index: a writable open
 * refuses, a read-only open reports damaged_at and stops the log there. */
static void test_flip_last_segment(void **state)
{
	struct ctx *c = *state;
	uint64_t seg, off, p, fsz = frame_size(10);
	uint8_t *full;
	char path[256];
	size_t len;

	make_log(c, 20, 20);
	layout(10, UINT64_MAX, &seg, &off);
	seg_path(path, sizeof(path), c, 0, "seg");
	full = slurp(path, &len);
	for (p = 0; p < fsz; p++) {
		spit(path, full, len);
		xor_byte(path, off + p, 0xff);
		expect_damage_at_open(c, 10);
	}
	/* A record length that points past the end of the file, while the
	 * next frame follows: damage, not a torn tail (nothing is cut). */
	spit(path, full, len);
	xor_byte(path, off + 17, 0x01); /* record length += 65536 */
	expect_damage_at_open(c, 10);
	assert_int_equal(open_rc(c->dir, 0), LGFS_ECORRUPT);
	assert_msg_has("runs past the end");
	assert_int_equal(file_len(path), len);
	free(full);
}

/* Damage inside an earlier segment is not seen at open (only the last
 * segment is scanned) but every read that reaches it fails naming it; a
 * damaged first header of an earlier segment is found at open. */
static void test_flip_earlier_segment(void **state)
{
	struct ctx *c = *state;
	uint64_t seg, off, seg2, off2, k;
	struct lgfs_log *l;
	char path[256];

	setenv(SEGENV, "700", 1);
	make_log(c, 100, 10);
	/* An entry that is neither first in its segment nor in the last one. */
	for (k = 20;; k++) {
		layout(k, SMALL_SEG, &seg, &off);
		layout(k + 1, SMALL_SEG, &seg2, &off2);
		if (off > 0 && seg2 == seg)
			break;
	}
	seg_path(path, sizeof(path), c, seg, "seg");
	xor_byte(path, off + 20, 0x40); /* first envelope byte */

	l = open_ok(c->dir, 0);
	assert_int_equal(size_of(l), 100);
	expect_read_damage(l, 0, 100, k);
	expect_read_damage(l, k, 1, k);
	expect_read_damage(l, seg, k - seg + 1, k);
	verify(l, 0, k);
	verify(l, k + 1, 100 - k - 1);
	lgfs_log_close(l);
	l = open_ok(c->dir, LGFS_LOG_RDONLY);
	assert_int_equal(l->damaged_at, UINT64_MAX);
	expect_read_damage(l, 0, 100, k);
	lgfs_log_close(l);
	xor_byte(path, off + 20, 0x40);

	/* The first frame of that segment, index field: found at open. */
	xor_byte(path, 11, 0x02);
	expect_damage_at_open(c, seg);
}

/* Frames in the wrong order or missing, in the last segment (found at
 * open) and in an earlier one (found by reads), named at the right index. */
static void rewrite_frames(const char *path, const uint8_t *full, const uint64_t *offs,
			   const uint64_t *order, size_t n, uint64_t tail_from, size_t len)
{
	uint8_t *out = malloc(len);
	size_t k, at = 0;

	assert_non_null(out);
	for (k = 0; k < n; k++) {
		uint64_t o = offs[order[k]], e = offs[order[k] + 1];

		memcpy(out + at, full + o, e - o);
		at += e - o;
	}
	memcpy(out + at, full + tail_from, len - tail_from);
	at += len - tail_from;
	spit(path, out, at);
	free(out);
}

static void test_swap_and_delete_last(void **state)
{
	struct ctx *c = *state;
	uint64_t offs[64], order[64], k;
	struct lgfs_log *l;
	uint8_t *full;
	char path[256];
	size_t len;

	/* Last segment: entries 0..9 in segment 0. */
	make_log(c, 10, 10);
	seg_path(path, sizeof(path), c, 0, "seg");
	full = slurp(path, &len);
	for (k = 0; k <= 10; k++)
		offs[k] = k ? offs[k - 1] + frame_size(k - 1) : 0;
	for (k = 0; k < 10; k++)
		order[k] = k;
	order[4] = 5;
	order[5] = 4;
	rewrite_frames(path, full, offs, order, 10, len, len);
	expect_damage_at_open(c, 4);
	order[4] = 5;
	order[5] = 6;
	for (k = 6; k < 9; k++)
		order[k] = k + 1;
	rewrite_frames(path, full, offs, order, 9, len, len); /* entry 4 deleted */
	expect_damage_at_open(c, 4);
	spit(path, full, len);
	l = open_ok(c->dir, 0);
	verify(l, 0, 10);
	lgfs_log_close(l);
	free(full);
}

static void test_swap_and_delete_earlier(void **state)
{
	struct ctx *c = *state;
	uint64_t offs[64], order[64], k, seg, off, first, next, nf;
	struct lgfs_log *l;
	uint8_t *full;
	char path[256];
	size_t len;

	setenv(SEGENV, "1500", 1);
	make_log(c, 100, 7);
	layout(40, 1500, &first, &off);
	for (next = first + 1;; next++) {
		layout(next, 1500, &seg, &off);
		if (seg != first)
			break;
	}
	nf = next - first;
	assert_true(nf >= 4);
	seg_path(path, sizeof(path), c, first, "seg");
	full = slurp(path, &len);
	for (k = 0; k <= nf; k++)
		offs[k] = k ? offs[k - 1] + frame_size(first + k - 1) : 0;
	assert_int_equal(offs[nf], len);

	for (k = 0; k < nf; k++)
		order[k] = k;
	order[1] = 2;
	order[2] = 1;
	rewrite_frames(path, full, offs, order, nf, len, len);
	l = open_ok(c->dir, 0);
	expect_read_damage(l, 0, 100, first + 1);
	expect_read_damage(l, first + 2, 1, first + 1); /* the walk from the start meets it */
	verify(l, 0, first + 1);
	lgfs_log_close(l);

	for (k = 0; k + 1 < nf; k++)
		order[k] = k < 2 ? k : k + 1;
	rewrite_frames(path, full, offs, order, nf - 1, len, len); /* delete first+2 */
	l = open_ok(c->dir, 0);
	expect_read_damage(l, 0, 100, first + 2);
	lgfs_log_close(l);

	for (k = 0; k + 1 < nf; k++)
		order[k] = k;
	rewrite_frames(path, full, offs, order, nf - 1, len, len); /* delete the last one */
	l = open_ok(c->dir, LGFS_LOG_RDONLY);
	expect_read_damage(l, 0, 100, next - 1);
	assert_msg_has("ends before this entry");
	lgfs_log_close(l);

	spit(path, full, len);
	{
		uint8_t *more = malloc(len + 3);

		assert_non_null(more);
		memcpy(more, full, len);
		memcpy(more + len, "xyz", 3);
		spit(path, more, len + 3); /* extra bytes at the end of a full segment */
		free(more);
	}
	l = open_ok(c->dir, 0);
	/* every range that touches the boundary reports it: ending at the
	 * segment's last entry, crossing it, starting at the next segment */
	expect_read_damage(l, first, nf, next);
	assert_msg_has("unexpected bytes");
	expect_read_damage(l, first, nf + 1, next);
	assert_msg_has("unexpected bytes");
	expect_read_damage(l, next, 1, next);
	assert_msg_has("unexpected bytes");
	verify(l, first, nf - 1); /* entries before the boundary are fine */
	lgfs_log_close(l);
	l = open_ok(c->dir, LGFS_LOG_RDONLY);
	expect_read_damage(l, next, 3, next);
	expect_read_damage(l, next - 1, 1, next);
	lgfs_log_close(l);
	spit(path, full, len);
	l = open_ok(c->dir, 0);
	verify(l, 0, 100);
	lgfs_log_close(l);
	free(full);
}

/* The sidecar is not trusted: wrong, short, missing or forged sidecars
 * change no read's result, and reads leave them alone. */
static void test_idx_rebuild(void **state)
{
	struct ctx *c = *state;
	uint64_t seg, off, k;
	uint8_t *orig, *now, garbage[4096];
	size_t len, nlen, variant;
	struct lgfs_log *l;
	char path[256];
	int rdonly;

	setenv(SEGENV, "700", 1);
	make_log(c, 100, 100);
	for (k = 40;; k++) {
		layout(k, SMALL_SEG, &seg, &off);
		if (off == 0)
			break;
	}
	/* Segment seg starts at k; read from k+2. */
	seg_path(path, sizeof(path), c, seg, "idx");
	orig = slurp(path, &len);
	assert_true(len >= 24);
	for (k = 0; k < sizeof(garbage); k++)
		garbage[k] = (uint8_t)(k * 77 + 3);
	for (variant = 0; variant < 6; variant++) {
		switch (variant) {
		case 0:
			spit(path, garbage, len);
			break;
		case 1:
			spit(path, orig, 8);
			break;
		case 2:
			unlink(path);
			break;
		case 3: /* each offset one too far */
			now = malloc(len);
			memcpy(now, orig, len);
			for (k = 0; k < len; k += 8)
				now[k + 7]++;
			spit(path, now, len);
			free(now);
			break;
		case 4: /* offsets far past the end of the segment */
			memset(garbage, 0x7f, sizeof(garbage));
			spit(path, garbage, len);
			break;
		case 5: /* the right offsets */
			spit(path, orig, len);
			break;
		}
		for (rdonly = 0; rdonly < 2; rdonly++) {
			char *before = variant == 2 ? NULL : (char *)slurp(path, &nlen);

			l = open_ok(c->dir, rdonly ? LGFS_LOG_RDONLY : 0);
			verify(l, seg + 2, 3);
			verify(l, seg + 1, 1);
			verify(l, 0, 100);
			lgfs_log_close(l);
			if (variant == 2) {
				assert_int_equal(access(path, F_OK), -1);
			} else {
				now = slurp(path, &len);
				assert_int_equal(len, nlen);
				assert_memory_equal(now, before, len);
				free(now);
			}
			free(before);
		}
	}
	free(orig);
}

/* Where each frame of segment `first` starts (n frames, from the generator). */
static void frame_offsets(uint64_t first, uint64_t n, uint64_t *offs)
{
	uint64_t k;

	for (k = 0; k <= n; k++)
		offs[k] = k ? offs[k - 1] + frame_size(first + k - 1) : 0;
}

/* Junk inserted between two frames of an earlier segment, with a sidecar
 * that matches the moved frames: every range that starts at the frame after
 * the junk, or reads across it, reports it at that entry, read-only or not,
 * in one read or in several. */
static void test_continuity_junk_between(void **state)
{
	struct ctx *c = *state;
	uint64_t offs[64], first, next, seg, off, k, j, from;
	uint8_t *full, *out, idx[64 * 8];
	char path[256], ipath[256];
	struct lgfs_log *l;
	size_t len;
	int rdonly;

	setenv(SEGENV, "1500", 1);
	make_log(c, 100, 9);
	layout(40, 1500, &first, &off);
	for (next = first + 1;; next++) {
		layout(next, 1500, &seg, &off);
		if (seg != first)
			break;
	}
	assert_true(next - first >= 5);
	frame_offsets(first, next - first, offs);
	seg_path(path, sizeof(path), c, first, "seg");
	seg_path(ipath, sizeof(ipath), c, first, "idx");
	full = slurp(path, &len);
	assert_int_equal(len, offs[next - first]);
	for (j = first + 1; j < next; j++) { /* junk right before entry j */
		uint64_t at = offs[j - first];

		out = malloc(len + 7);
		memcpy(out, full, at);
		memcpy(out + at, "JUNK!!!", 7);
		memcpy(out + at + 7, full + at, len - at);
		spit(path, out, len + 7);
		free(out);
		for (k = 0; k < next - first; k++)
			lgfs_be64_put(idx + 8 * k, offs[k] + (first + k >= j ? 7 : 0));
		spit(ipath, idx, 8 * (next - first));
		for (rdonly = 0; rdonly < 2; rdonly++) {
			l = open_ok(c->dir, rdonly ? LGFS_LOG_RDONLY : 0);
			expect_read_damage(l, j, 1, j);
			expect_read_damage(l, j, 100 - j, j);
			expect_read_damage(l, 0, 100, j);
			expect_read_damage(l, first, next - first, j);
			expect_read_damage(l, j - 1, 2, j);
			/* read in ranges like an auditor: the range that
			 * starts at j reports it */
			for (from = 0; from < j; from += j - first)
				verify(l, from, j - from < j - first ? j - from : j - first);
			expect_read_damage(l, j, 2, j);
			verify(l, first, j - first); /* up to the junk: fine */
			lgfs_log_close(l);
		}
	}
	spit(path, full, len);
	l = open_ok(c->dir, LGFS_LOG_RDONLY);
	verify(l, 0, 100);
	lgfs_log_close(l);
	free(full);
}

/* A forged copy of an entry appended after an earlier segment's last frame,
 * with the sidecar pointing at it: readers of that entry get the entry the
 * chain of frames reaches, never the copy, and the extra bytes are damage
 * for any read that reaches the segment's end or starts at the next one. */
static void test_continuity_forged_copy(void **state)
{
	struct ctx *c = *state;
	uint64_t offs[64], first, next, seg, off, k, victim;
	uint8_t *full, *out, idx[64 * 8], sum[32];
	char path[256], ipath[256];
	struct lgfs_log *l;
	size_t len, fsz;

	setenv(SEGENV, "1500", 1);
	make_log(c, 100, 9);
	layout(40, 1500, &first, &off);
	for (next = first + 1;; next++) {
		layout(next, 1500, &seg, &off);
		if (seg != first)
			break;
	}
	frame_offsets(first, next - first, offs);
	victim = first + 2;
	seg_path(path, sizeof(path), c, first, "seg");
	seg_path(ipath, sizeof(ipath), c, first, "idx");
	full = slurp(path, &len);
	fsz = (size_t)frame_size(victim);
	out = malloc(len + fsz);
	memcpy(out, full, len);
	memcpy(out + len, full + offs[victim - first], fsz);
	out[len + 20] ^= 0x55; /* another envelope, with a recomputed check */
	lgfs_sha256(sum, out + len, fsz - 8);
	memcpy(out + len + fsz - 8, sum, 8);
	spit(path, out, len + fsz);
	for (k = 0; k < next - first; k++)
		lgfs_be64_put(idx + 8 * k, first + k == victim ? len : offs[k]);
	spit(ipath, idx, 8 * (next - first));
	l = open_ok(c->dir, LGFS_LOG_RDONLY);
	verify(l, victim, 1); /* the genuine entry, or check_cb would fail */
	verify(l, victim, next - victim - 1);
	expect_read_damage(l, victim, next - victim, next);
	assert_msg_has("unexpected bytes");
	expect_read_damage(l, next, 1, next);
	expect_read_damage(l, 0, 100, next);
	lgfs_log_close(l);
	free(out);
	free(full);
}

/* The torn-tail protocol: with LGFS_LOG_KEEP_TORN a writable open leaves
 * the tail on disk, says where it starts, and refuses appends until the
 * caller cuts it; read-only logs cannot cut. */
static void test_keep_torn(void **state)
{
	struct ctx *c = *state;
	uint64_t seg, off, fsz;
	uint8_t *full, zeros[64] = { 0 };
	char path[256], *before;
	struct lgfs_log *l;
	size_t len;

	make_log(c, 6, 2);
	layout(5, UINT64_MAX, &seg, &off);
	fsz = frame_size(5);
	seg_path(path, sizeof(path), c, seg, "seg");
	full = slurp(path, &len);

	/* the last frame cut in half: its header is valid, index 5 */
	spit(path, full, off + fsz / 2);
	l = open_ok(c->dir, LGFS_LOG_KEEP_TORN);
	assert_int_equal(l->version >= 2, 1);
	assert_int_equal(l->torn_bytes, fsz / 2);
	assert_int_equal(l->torn_index, 5);
	assert_int_equal(size_of(l), 5);
	verify(l, 0, 5);
	assert_int_equal(file_len(path), off + fsz / 2); /* nothing cut */
	assert_int_equal(try_append_gen(l, 5, 1, 1), LGFS_ECORRUPT);
	assert_msg_has("cut_torn");
	assert_int_equal(file_len(path), off + fsz / 2);
	lgfs_log_close(l);
	before = (char *)slurp(path, &len);
	assert_int_equal(len, off + fsz / 2);
	assert_memory_equal(before, full, len); /* the torn bytes are all still there */
	free(before);

	l = open_ok(c->dir, LGFS_LOG_RDONLY);
	assert_int_equal(l->torn_index, 5);
	assert_int_equal(lgfs_log_cut_torn(l), LGFS_EROFS);
	assert_int_equal(file_len(path), off + fsz / 2);
	lgfs_log_close(l);

	l = open_ok(c->dir, LGFS_LOG_KEEP_TORN);
	assert_int_equal(lgfs_log_cut_torn(l), 0);
	assert_int_equal(file_len(path), off);
	assert_int_equal(lgfs_log_cut_torn(l), 0); /* nothing left: a no-op */
	append_gen(l, 5, 2, 2);
	verify(l, 0, 7);
	lgfs_log_close(l);

	/* less than a header, and zeros: no frame header, torn_index unset */
	l = open_ok(c->dir, LGFS_LOG_KEEP_TORN);
	assert_int_equal(l->torn_bytes, 0);
	assert_int_equal(l->torn_index, UINT64_MAX);
	lgfs_log_close(l);
	len = (size_t)file_len(path);
	free(full);
	full = slurp(path, &len);
	{
		uint8_t *more = malloc(len + sizeof(zeros));

		memcpy(more, full, len);
		memcpy(more + len, "LGF1\0\0\0", 7);
		spit(path, more, len + 7);
		l = open_ok(c->dir, LGFS_LOG_KEEP_TORN);
		assert_int_equal(l->torn_bytes, 7);
		assert_int_equal(l->torn_index, UINT64_MAX);
		assert_int_equal(try_append_gen(l, 7, 1, 1), LGFS_ECORRUPT);
		lgfs_log_close(l);
		memcpy(more + len, zeros, sizeof(zeros));
		spit(path, more, len + sizeof(zeros));
		l = open_ok(c->dir, LGFS_LOG_KEEP_TORN);
		assert_int_equal(l->torn_bytes, sizeof(zeros));
		assert_int_equal(l->torn_index, UINT64_MAX);
		assert_int_equal(lgfs_log_cut_torn(l), 0);
		assert_int_equal(file_len(path), len);
		append_gen(l, 7, 1, 1);
		lgfs_log_close(l);
		free(more);
	}
	/* without the flag, open still cuts (transitional default) */
	len = (size_t)file_len(path);
	{
		uint8_t *more;

		free(full);
		full = slurp(path, &len);
		more = malloc(len + 10);
		memcpy(more, full, len);
		memset(more + len, 0, 10);
		spit(path, more, len + 10);
		l = open_ok(c->dir, 0);
		assert_int_equal(l->torn_bytes, 10);
		assert_int_equal(file_len(path), len);
		append_gen(l, 8, 1, 1);
		verify(l, 0, 9);
		lgfs_log_close(l);
		free(more);
	}
	assert_int_equal(open_rc(c->dir, LGFS_LOG_RDONLY | 0x100), LGFS_EINVAL);
	free(full);
}

/* Everything the log creates is private, whatever the umask. */
static void test_modes(void **state)
{
	struct ctx *c = *state;
	char path[512], sub[256];
	struct lgfs_log *l;
	struct stat st;
	mode_t old = umask(0);

	snprintf(sub, sizeof(sub), "%s/x/y", c->tmp);
	setenv(SEGENV, "300", 1);
	l = open_ok(sub, LGFS_LOG_CREATE);
	append_gen(l, 0, 10, 3);
	lgfs_log_close(l);
	umask(old);
	snprintf(path, sizeof(path), "%s/x", c->tmp);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	{
		DIR *d = opendir(sub);
		struct dirent *de;
		int files = 0;

		assert_non_null(d);
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", sub, de->d_name);
			assert_int_equal(stat(path, &st), 0);
			if ((st.st_mode & 07777) != 0600)
				print_message("%s has mode %o\n", path, st.st_mode & 07777);
			assert_int_equal(st.st_mode & 07777, 0600);
			files++;
		}
		closedir(d);
		assert_true(files >= 5); /* segments, sidecars, lock */
	}
}

/* A read-only open of a log without a lock file (a copy handed to an
 * auditor) creates nothing, also when it reads across segments. */
static void test_rdonly_no_droppings(void **state)
{
	struct ctx *c = *state;
	char path[256], *before, *after;
	struct lgfs_log *l;

	setenv(SEGENV, "500", 1);
	make_log(c, 40, 4);
	snprintf(path, sizeof(path), "%s/lock", c->dir);
	assert_int_equal(unlink(path), 0);
	seg_path(path, sizeof(path), c, 0, "idx");
	assert_int_equal(unlink(path), 0);
	before = snapshot(c->dir);
	l = open_ok(c->dir, LGFS_LOG_RDONLY);
	verify(l, 0, 40);
	verify(l, 17, 5);
	assert_int_equal(lgfs_log_cut_torn(l), LGFS_EROFS);
	lgfs_log_close(l);
	after = snapshot(c->dir);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* One writer at a time (flock per open file description, so also within a
 * process); readers need no lock. */
static void test_busy(void **state)
{
	struct ctx *c = *state;
	struct lgfs_log *a, *b = NULL, *r;

	a = open_ok(c->dir, LGFS_LOG_CREATE);
	append_gen(a, 0, 3, 3);
	assert_int_equal(lgfs_log_open(&b, c->dir, 0), LGFS_EBUSY);
	assert_null(b);
	assert_int_equal(lgfs_log_open(&b, c->dir, LGFS_LOG_CREATE), LGFS_EBUSY);
	r = open_ok(c->dir, LGFS_LOG_RDONLY);
	assert_int_equal(size_of(r), 3);
	verify(r, 0, 3);
	append_gen(a, 3, 2, 2);
	assert_int_equal(size_of(r), 3); /* a snapshot as of its open */
	lgfs_log_close(a);
	b = open_ok(c->dir, 0);
	assert_int_equal(size_of(b), 5);
	lgfs_log_close(b);
	lgfs_log_close(r);
}

/* After a failed append the log holds exactly what it held before, on disk
 * too, and accepts the same append afterwards. */
static void after_failure(struct ctx *c, struct lgfs_log *l, uint64_t n, const char *tail_path,
			  uint64_t tail_bytes, size_t nsegs)
{
	uint64_t segs[256];
	struct lgfs_log *r;

	assert_int_equal(size_of(l), n);
	assert_int_equal(file_len(tail_path), tail_bytes);
	assert_int_equal(list_segs(c, segs, 256), nsegs);
	verify(l, 0, n);
	r = open_ok(c->dir, LGFS_LOG_RDONLY);
	assert_int_equal(size_of(r), n);
	assert_int_equal(r->torn_bytes, 0);
	assert_int_equal(r->damaged_at, UINT64_MAX);
	lgfs_log_close(r);
}

static void test_enospc_fdatasync(void **state)
{
	struct ctx *c = *state;
	struct lgfs_log *l;
	char path[256];
	uint64_t bytes;

	l = open_ok(c->dir, LGFS_LOG_CREATE);
	append_gen(l, 0, 10, 10);
	seg_path(path, sizeof(path), c, 0, "seg");
	bytes = file_len(path);
	inject_all();

	inj_fdatasync = (struct inject){ 1, ENOSPC };
	assert_int_equal(try_append_gen(l, 10, 5, 5), LGFS_ENOSPC);
	assert_msg_has("syncing log segment");
	after_failure(c, l, 10, path, bytes, 1);

	inj_fdatasync = (struct inject){ 1, EIO };
	assert_int_equal(try_append_gen(l, 10, 5, 5), LGFS_EIO);
	after_failure(c, l, 10, path, bytes, 1);

	inj_pwrite = (struct inject){ 1, ENOSPC };
	assert_int_equal(try_append_gen(l, 10, 5, 5), LGFS_ENOSPC);
	assert_msg_has("No space left");
	after_failure(c, l, 10, path, bytes, 1);

	pwrite_short = 1; /* half the batch reaches the file, then ENOSPC */
	inj_pwrite = (struct inject){ 1, ENOSPC };
	assert_int_equal(try_append_gen(l, 10, 5, 5), LGFS_ENOSPC);
	after_failure(c, l, 10, path, bytes, 1);
	pwrite_short = 0;

	append_gen(l, 10, 5, 5);
	verify(l, 0, 15);
	lgfs_log_close(l);
	l = open_ok(c->dir, 0);
	assert_int_equal(size_of(l), 15);
	assert_int_equal(l->torn_bytes, 0);
	verify(l, 0, 15);
	lgfs_log_close(l);
}

/* Failures in a batch that rolls to new segments: every new segment file
 * is removed and the old last segment cut back. */
static void test_failure_during_roll(void **state)
{
	struct ctx *c = *state;
	uint64_t segs[256], bytes, last;
	struct lgfs_log *l;
	char path[256];
	size_t nsegs;
	int round;

	setenv(SEGENV, "700", 1);
	l = open_ok(c->dir, LGFS_LOG_CREATE);
	append_gen(l, 0, 20, 20);
	nsegs = list_segs(c, segs, 256);
	last = segs[nsegs - 1];
	seg_path(path, sizeof(path), c, last, "seg");
	bytes = file_len(path);
	inject_all();
	for (round = 0; round < 6; round++) {
		switch (round) {
		case 0: /* the sync of the first new segment */
			inj_fdatasync = (struct inject){ 2, ENOSPC };
			break;
		case 1: /* a later new segment */
			inj_fdatasync = (struct inject){ 4, EIO };
			break;
		case 2: /* creating a segment file */
			inj_create = (struct inject){ 2, ENOSPC };
			break;
		case 3: /* syncing the directory after creating one */
			inj_fsync = (struct inject){ 1, EIO };
			break;
		case 4: /* writing into a new segment */
			inj_pwrite = (struct inject){ 3, ENOSPC };
			break;
		case 5: /* half a write into a new segment */
			pwrite_short = 1;
			inj_pwrite = (struct inject){ 2, ENOSPC };
			break;
		}
		assert_int_not_equal(try_append_gen(l, 20, 30, 30), 0);
		after_failure(c, l, 20, path, bytes, nsegs);
		pwrite_short = 0;
	}
	append_gen(l, 20, 30, 30);
	verify(l, 0, 50);
	assert_true(list_segs(c, segs, 256) > nsegs + 3);
	lgfs_log_close(l);
	l = open_ok(c->dir, 0);
	assert_int_equal(size_of(l), 50);
	verify(l, 0, 50);
	lgfs_log_close(l);
}

/* When undoing a failed append fails too, the log refuses further appends
 * (reads go on); a reopen recovers a consistent log. */
static void test_rollback_failure(void **state)
{
	struct ctx *c = *state;
	struct lgfs_log *l;
	uint64_t n;

	l = open_ok(c->dir, LGFS_LOG_CREATE);
	append_gen(l, 0, 5, 5);
	inject_all();
	inj_fdatasync = (struct inject){ 1, EIO };
	inj_ftruncate = (struct inject){ 1, EIO };
	assert_int_equal(try_append_gen(l, 5, 3, 3), LGFS_EIO);
	assert_msg_has("must be reopened");
	assert_int_equal(try_append_gen(l, 5, 3, 3), LGFS_EIO);
	assert_msg_has("reopen");
	assert_int_equal(size_of(l), 5);
	verify(l, 0, 5);
	lgfs_log_close(l);
	lgfs_sys_reset();
	l = open_ok(c->dir, 0);
	n = size_of(l); /* the unsynced frames may or may not have survived */
	assert_true(n == 5 || n == 8);
	verify(l, 0, n);
	append_gen(l, n, 2, 2);
	lgfs_log_close(l);
}

/* Read-only: refuses appends, needs an existing log, writes nothing;
 * a missing or empty directory is no log. */
static void test_rdonly_and_missing(void **state)
{
	struct ctx *c = *state;
	uint8_t env[1] = { 1 };
	struct lgfs_log_entry e = { 3, env, 1, NULL, 0 };
	char path[256], *before, *after;
	struct lgfs_log *l;

	assert_int_equal(open_rc(c->dir, LGFS_LOG_RDONLY), LGFS_ENOTFOUND);
	assert_int_equal(open_rc(c->dir, 0), LGFS_ENOTFOUND);
	assert_int_equal(access(c->dir, F_OK), -1);
	assert_int_equal(mkdir(c->dir, 0755), 0);
	assert_int_equal(open_rc(c->dir, 0), LGFS_ENOTFOUND);
	assert_int_equal(open_rc(c->dir, LGFS_LOG_RDONLY), LGFS_ENOTFOUND);
	snprintf(path, sizeof(path), "%s/lock", c->dir);
	assert_int_equal(access(path, F_OK), -1); /* no droppings */
	rmdir(c->dir);

	make_log(c, 3, 3);
	before = snapshot(c->dir);
	l = open_ok(c->dir, LGFS_LOG_RDONLY);
	assert_int_equal(size_of(l), 3);
	assert_int_equal(lgfs_log_append(l, 3, &e, 1), LGFS_EROFS);
	verify(l, 0, 3);
	lgfs_log_close(l);
	after = snapshot(c->dir);
	assert_string_equal(before, after);
	free(before);
	free(after);

	/* CREATE makes missing parents too. */
	snprintf(path, sizeof(path), "%s/a/b/c", c->tmp);
	l = open_ok(path, LGFS_LOG_CREATE);
	assert_int_equal(size_of(l), 0);
	lgfs_log_close(l);
}

/* Unexpected things in the directory: foreign files are ignored, malformed
 * segment names and inconsistent segments are damage, never crashes. */
static void test_garbage_dir(void **state)
{
	struct ctx *c = *state;
	char path[256], seg0[256];
	struct lgfs_log *l;
	uint8_t *full;
	size_t len;

	make_log(c, 5, 5);
	seg_path(seg0, sizeof(seg0), c, 0, "seg");
	full = slurp(seg0, &len);

	snprintf(path, sizeof(path), "%s/notes.txt", c->dir);
	spit(path, "hello", 5);
	snprintf(path, sizeof(path), "%s/foo.idx", c->dir);
	spit(path, "x", 1);
	snprintf(path, sizeof(path), "%s/sub", c->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	l = open_ok(c->dir, 0);
	assert_int_equal(size_of(l), 5);
	lgfs_log_close(l);

	snprintf(path, sizeof(path), "%s/junk.seg", c->dir);
	spit(path, "x", 1);
	assert_int_equal(open_rc(c->dir, 0), LGFS_ECORRUPT);
	assert_msg_has("junk.seg");
	assert_int_equal(open_rc(c->dir, LGFS_LOG_RDONLY), LGFS_ECORRUPT);
	unlink(path);
	snprintf(path, sizeof(path), "%s/00000000000000000abc.seg", c->dir);
	spit(path, "x", 1);
	assert_int_equal(open_rc(c->dir, 0), LGFS_ECORRUPT);
	unlink(path);
	snprintf(path, sizeof(path), "%s/99999999999999999999.seg", c->dir);
	spit(path, "x", 1);
	assert_int_equal(open_rc(c->dir, 0), LGFS_ECORRUPT);
	unlink(path);

	/* A directory where the last segment should be. */
	seg_path(path, sizeof(path), c, 9, "seg");
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(open_rc(c->dir, 0), LGFS_ECORRUPT);
	l = open_ok(c->dir, LGFS_LOG_RDONLY);
	assert_int_equal(l->damaged_at, 9);
	lgfs_log_close(l);
	rmdir(path);

	/* An empty segment named inside the previous one's entries. */
	seg_path(path, sizeof(path), c, 3, "seg");
	spit(path, "", 0);
	expect_damage_at_open(c, 3);
	assert_int_equal(open_rc(c->dir, 0), LGFS_ECORRUPT);
	assert_msg_has("unexpected bytes");
	unlink(path);

	/* The first segment is gone: entry 0 is missing. */
	seg_path(path, sizeof(path), c, 5, "seg");
	assert_int_equal(rename(seg0, path), 0);
	expect_damage_at_open(c, 0);
	assert_int_equal(rename(path, seg0), 0);

	/* Not a log at all in the only segment: damage at entry 0. */
	spit(seg0, "this is not a log file at all, sorry", 36);
	expect_damage_at_open(c, 0);
	/* Shorter than a frame header: a torn tail, cut by a writable open. */
	spit(seg0, "hello", 5);
	l = open_ok(c->dir, LGFS_LOG_RDONLY);
	assert_int_equal(l->torn_bytes, 5);
	assert_int_equal(size_of(l), 0);
	lgfs_log_close(l);
	l = open_ok(c->dir, 0);
	assert_int_equal(l->torn_bytes, 5);
	assert_int_equal(size_of(l), 0);
	append_gen(l, 0, 5, 5);
	lgfs_log_close(l);
	l = open_ok(c->dir, 0);
	verify(l, 0, 5);
	lgfs_log_close(l);
	free(full);
}

/* A roll that crashed before the new segment's first frame leaves an empty
 * last segment: fine, appends go into it. One named after a gap is damage. */
static void test_empty_last_segment(void **state)
{
	struct ctx *c = *state;
	struct lgfs_log *l;
	char path[256];

	make_log(c, 5, 5);
	seg_path(path, sizeof(path), c, 7, "seg");
	spit(path, "", 0);
	expect_damage_at_open(c, 5);
	assert_int_equal(open_rc(c->dir, 0), LGFS_ECORRUPT);
	assert_msg_has("ends before this entry");
	unlink(path);

	seg_path(path, sizeof(path), c, 5, "seg");
	spit(path, "", 0);
	l = open_ok(c->dir, LGFS_LOG_RDONLY);
	assert_int_equal(size_of(l), 5);
	assert_int_equal(l->damaged_at, UINT64_MAX);
	verify(l, 0, 5);
	lgfs_log_close(l);
	l = open_ok(c->dir, 0);
	assert_int_equal(size_of(l), 5);
	append_gen(l, 5, 3, 3);
	verify(l, 0, 8);
	lgfs_log_close(l);
	assert_int_equal(file_len(path), frame_size(5) + frame_size(6) + frame_size(7));
	l = open_ok(c->dir, 0);
	assert_int_equal(size_of(l), 8);
	verify(l, 0, 8);
	verify(l, 2, 4);
	lgfs_log_close(l);
}

/* URIs: file:// with an absolute path, plain paths; other schemes refused. */
static void test_uri(void **state)
{
	struct ctx *c = *state;
	struct lgfs_log *l;
	char uri[300];

	snprintf(uri, sizeof(uri), "file://%s", c->dir);
	l = open_ok(uri, LGFS_LOG_CREATE);
	append_gen(l, 0, 2, 2);
	lgfs_log_close(l);
	l = open_ok(c->dir, LGFS_LOG_RDONLY);
	assert_int_equal(size_of(l), 2);
	lgfs_log_close(l);
	assert_int_equal(open_rc("nats://localhost/vol", 0), LGFS_EINVAL);
	assert_int_equal(open_rc("file://relative/dir", 0), LGFS_EINVAL);
}

/* A callback's non-zero return stops the read and is returned. */
static void test_callback_stop(void **state)
{
	struct ctx *c = *state;
	struct check ck = { 0, 0, 3 };
	struct lgfs_log *l;

	make_log(c, 6, 6);
	l = open_ok(c->dir, 0);
	assert_int_equal(lgfs_log_read(l, 0, 6, check_cb, &ck), 7);
	assert_int_equal(ck.seen, 3);
	lgfs_log_close(l);
}

/* The segment size variable must be a positive decimal number. */
static void test_segment_env(void **state)
{
	static const char *bad[] = { "abc", "0", "-5", "12x", " 7" };
	struct ctx *c = *state;
	size_t k;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		setenv(SEGENV, bad[k], 1);
		assert_int_equal(open_rc(c->dir, LGFS_LOG_CREATE), LGFS_EINVAL);
		assert_msg_has(SEGENV);
	}
	setenv(SEGENV, "", 1);
	assert_int_equal(open_rc(c->dir, LGFS_LOG_CREATE), 0);
}

/* Readers in several threads while one thread appends and rolls segments. */
struct reader_arg {
	struct lgfs_log *l;
	int stop;
	int failures;
	unsigned seed;
};

static void *reader_main(void *p)
{
	struct reader_arg *a = p;

	while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
		uint64_t n = 0, from, count;

		if (lgfs_log_size(a->l, &n) || n == 0)
			continue;
		from = rand_r(&a->seed) % n;
		count = 1 + rand_r(&a->seed) % 20;
		if (count > n - from)
			count = n - from;
		if (try_verify(a->l, from, count))
			a->failures++;
	}
	return NULL;
}

static void test_concurrent_readers(void **state)
{
	struct ctx *c = *state;
	struct reader_arg a[4];
	pthread_t th[4];
	struct lgfs_log *l;
	int k;

	setenv(SEGENV, "700", 1);
	l = open_ok(c->dir, LGFS_LOG_CREATE);
	append_gen(l, 0, 1, 1);
	for (k = 0; k < 4; k++) {
		a[k] = (struct reader_arg){ l, 0, 0, (unsigned)k + 1 };
		assert_int_equal(pthread_create(&th[k], NULL, reader_main, &a[k]), 0);
	}
	append_gen(l, 1, 299, 3);
	for (k = 0; k < 4; k++) {
		__atomic_store_n(&a[k].stop, 1, __ATOMIC_RELEASE);
		pthread_join(th[k], NULL);
		assert_int_equal(a[k].failures, 0);
	}
	verify(l, 0, 300);
	lgfs_log_close(l);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_roundtrip),
		T(test_max_sizes),
		T(test_frame_bytes),
		T(test_conflict),
		T(test_bad_inputs),
		T(test_segments_and_ranges),
		T(test_roll_rule),
		T(test_reopen_size),
		T(test_torn_every_offset),
		T(test_torn_single_frame_segment),
		T(test_zero_tail),
		T(test_flip_last_segment),
		T(test_flip_earlier_segment),
		T(test_swap_and_delete_last),
		T(test_swap_and_delete_earlier),
		T(test_idx_rebuild),
		T(test_continuity_junk_between),
		T(test_continuity_forged_copy),
		T(test_keep_torn),
		T(test_modes),
		T(test_rdonly_no_droppings),
		T(test_busy),
		T(test_enospc_fdatasync),
		T(test_failure_during_roll),
		T(test_rollback_failure),
		T(test_rdonly_and_missing),
		T(test_garbage_dir),
		T(test_empty_last_segment),
		T(test_uri),
		T(test_callback_stop),
		T(test_segment_env),
		T(test_concurrent_readers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
