/*
 * test_chunks.c — unit tests of the chunk store: URI dispatch and the
 * one-file-per-chunk implementation (store layer). Each test gets a fresh
 * store in a temporary directory under /tmp, removed afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledgerfs/chunks.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/sys.h"

/* Per-test state: the store directory and the open store. */
struct fixture {
	char dir[64];
	struct lgfs_chunks *c;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/lgfs-test-chunks-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	/* these tests check the one-file-per-chunk layout byte by byte: open
	 * that implementation explicitly (file:// now defaults to packs, see
	 * test_chunks_pack.c; reopening by URI finds this layout again) */
	assert_int_equal(lgfs_chunks_file_open(&f->c, f->dir, 1), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	lgfs_chunks_close(f->c);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Deterministic pseudo-random bytes (splitmix64). */
static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	size_t i;

	for (i = 0; i < n; i += 8) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		memcpy(p + i, &z, n - i < 8 ? n - i : 8);
	}
}

/* Compressible text-like bytes. */
static void fill_text(uint8_t *p, size_t n, unsigned salt)
{
	static const char *words[] = { "ledger ", "audit ", "invoice ", "2024 ", "GoBD ",
				       "retention ", "signed ", "record\n" };
	size_t i = 0, w = salt;

	while (i < n) {
		const char *s = words[(w * 7 + (w >> 3)) % 8];
		size_t l = strlen(s);

		if (l > n - i)
			l = n - i;
		memcpy(p + i, s, l);
		i += l;
		w++;
	}
}

static void obj_path(char *out, size_t cap, const struct fixture *f, const uint8_t id[32])
{
	char hex[65];

	lgfs_hex(hex, id, 32);
	snprintf(out, cap, "%s/%.2s/%s", f->dir, hex, hex);
}

static off_t obj_size(const struct fixture *f, const uint8_t id[32])
{
	char path[256];
	struct stat st;

	obj_path(path, sizeof(path), f, id);
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static uint8_t obj_byte(const struct fixture *f, const uint8_t id[32], off_t off)
{
	char path[256];
	uint8_t b = 0;
	int fd;

	obj_path(path, sizeof(path), f, id);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	close(fd);
	return b;
}

/* Damage a stored object in place: xor one byte. */
static void obj_flip(const struct fixture *f, const uint8_t id[32], off_t off)
{
	char path[256];
	uint8_t b;
	int fd;

	obj_path(path, sizeof(path), f, id);
	assert_int_equal(chmod(path, 0644), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x20;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void obj_truncate(const struct fixture *f, const uint8_t id[32], off_t len)
{
	char path[256];

	obj_path(path, sizeof(path), f, id);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(truncate(path, len), 0);
}

/* put then get it back; returns the id. */
static void put_ok(struct fixture *f, const uint8_t *p, size_t n, uint8_t id[32])
{
	lgfs_sha256(id, p, n);
	assert_int_equal(lgfs_chunks_put(f->c, id, p, n), 0);
}

static void get_equal(struct fixture *f, const uint8_t id[32], const uint8_t *p, size_t n)
{
	struct lgfs_buf b = LGFS_BUF_INIT;

	assert_int_equal(lgfs_chunks_get(f->c, id, &b), 0);
	assert_int_equal(b.len, n);
	if (n)
		assert_memory_equal(b.data, p, n);
	lgfs_buf_free(&b);
}

/* The failure must name the chunk, and no bytes may come back. */
static void get_fails(struct fixture *f, const uint8_t id[32], int code)
{
	struct lgfs_buf b = LGFS_BUF_INIT;
	char hex[65];

	lgfs_hex(hex, id, 32);
	lgfs_buf_put(&b, "junk", 4);
	assert_int_equal(lgfs_chunks_get(f->c, id, &b), code);
	assert_int_equal(b.len, 0);
	assert_non_null(strstr(lgfs_error_last(), hex));
	lgfs_buf_free(&b);
}

static void test_roundtrip_raw(void **state)
{
	struct fixture *f = *state;
	size_t n = 100000;
	uint8_t *p = malloc(n), id[32];

	fill_random(p, n, 1);
	put_ok(f, p, n, id);
	assert_int_equal(lgfs_chunks_has(f->c, id), 1);
	get_equal(f, id, p, n);
	/* random data is stored raw: header + the bytes */
	assert_int_equal(obj_size(f, id), 12 + n);
	assert_int_equal(obj_byte(f, id, 4), 0);
	free(p);
}

static void test_roundtrip_compressible(void **state)
{
	struct fixture *f = *state;
	size_t n = 200000;
	uint8_t *p = malloc(n), id[32];

	fill_text(p, n, 3);
	put_ok(f, p, n, id);
	get_equal(f, id, p, n);
	assert_int_equal(obj_byte(f, id, 4), 1);
	assert_true(obj_size(f, id) < (off_t)n / 4);
	free(p);
}

static void test_small_and_empty(void **state)
{
	struct fixture *f = *state;
	uint8_t id0[32], id1[32], id2[32], p[3000];

	put_ok(f, (const uint8_t *)"", 0, id0);
	get_equal(f, id0, NULL, 0);
	assert_int_equal(obj_size(f, id0), 12);
	put_ok(f, (const uint8_t *)"x", 1, id1);
	get_equal(f, id1, (const uint8_t *)"x", 1);
	/* compressible but tiny-ish: still round trips whatever the format */
	fill_text(p, sizeof(p), 0);
	put_ok(f, p, sizeof(p), id2);
	get_equal(f, id2, p, sizeof(p));
}

/* Half random, half text: the prefix probe must not hide real savings in
 * big chunks, and mixed data that saves less than 1/8 stays raw. */
static void test_compress_decision(void **state)
{
	struct fixture *f = *state;
	size_t n = 256 << 10;
	uint8_t *p = malloc(n), id[32];

	fill_text(p, n, 1);
	fill_random(p + n / 8 * 7, n / 8, 9); /* 7/8 text */
	put_ok(f, p, n, id);
	assert_int_equal(obj_byte(f, id, 4), 1);
	get_equal(f, id, p, n);

	fill_random(p, n, 10);
	fill_text(p + n - n / 16, n / 16, 2); /* 1/16 text: not worth it */
	put_ok(f, p, n, id);
	assert_int_equal(obj_byte(f, id, 4), 0);
	get_equal(f, id, p, n);
	free(p);
}

static int count_cb(void *payload, const uint8_t id[32])
{
	(void)id;
	(*(int *)payload)++;
	return 0;
}

/* Leftover temporary files in any fan-out directory. */
static int count_tmp(const struct fixture *f)
{
	char path[512];
	struct dirent *e, *e2;
	DIR *d, *d2;
	int n = 0;

	d = opendir(f->dir);
	assert_non_null(d);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", f->dir, e->d_name);
		d2 = opendir(path);
		if (!d2)
			continue;
		while ((e2 = readdir(d2)))
			if (strncmp(e2->d_name, ".tmp", 4) == 0)
				n++;
		closedir(d2);
	}
	closedir(d);
	return n;
}

static void test_idempotent_put(void **state)
{
	struct fixture *f = *state;
	uint8_t p[5000], id[32];
	char path[256];
	struct stat st1, st2;
	int n = 0;

	fill_random(p, sizeof(p), 4);
	put_ok(f, p, sizeof(p), id);
	obj_path(path, sizeof(path), f, id);
	assert_int_equal(stat(path, &st1), 0);
	put_ok(f, p, sizeof(p), id);
	put_ok(f, p, sizeof(p), id);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino); /* not rewritten */
	assert_int_equal(lgfs_chunks_iterate(f->c, count_cb, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(count_tmp(f), 0);
	get_equal(f, id, p, sizeof(p));
}

static void test_flip_raw(void **state)
{
	struct fixture *f = *state;
	uint8_t p[70000], id[32];

	fill_random(p, sizeof(p), 5);
	put_ok(f, p, sizeof(p), id);
	assert_int_equal(obj_byte(f, id, 4), 0);
	obj_flip(f, id, 12 + 12345);
	get_fails(f, id, LGFS_ECORRUPT);
	assert_int_equal(lgfs_chunks_has(f->c, id), 1); /* has() does not verify */
}

static void test_flip_zstd(void **state)
{
	struct fixture *f = *state;
	size_t n = 100000;
	uint8_t *p = malloc(n), id[32];
	off_t sz;
	int i;

	fill_text(p, n, 6);
	put_ok(f, p, n, id);
	assert_int_equal(obj_byte(f, id, 4), 1);
	sz = obj_size(f, id);
	/* every payload byte flipped, one at a time: always an error */
	for (i = 12; i < sz; i++) {
		obj_flip(f, id, i);
		get_fails(f, id, LGFS_ECORRUPT);
		obj_flip(f, id, i);
	}
	get_equal(f, id, p, n);
	free(p);
}

static void test_bad_header(void **state)
{
	struct fixture *f = *state;
	uint8_t p[4000], id[32];
	int i;

	fill_random(p, sizeof(p), 7);
	put_ok(f, p, sizeof(p), id);
	for (i = 0; i < 12; i++) {
		obj_flip(f, id, i);
		get_fails(f, id, LGFS_ECORRUPT);
		obj_flip(f, id, i);
	}
	/* a declared length over the limit is refused before allocating */
	obj_flip(f, id, 8); /* 0x00 -> 0x20: 512 MiB */
	get_fails(f, id, LGFS_ECORRUPT);
	assert_non_null(strstr(lgfs_error_last(), "limit"));
	obj_flip(f, id, 8);
	get_equal(f, id, p, sizeof(p));
}

static void test_truncated(void **state)
{
	struct fixture *f = *state;
	size_t n = 100000;
	uint8_t *p = malloc(n), *t = malloc(n), id[32], idz[32];
	off_t zs;

	fill_random(p, n, 8);
	put_ok(f, p, n, id);
	obj_truncate(f, id, 12 + n - 1);
	get_fails(f, id, LGFS_ECORRUPT);
	obj_truncate(f, id, 5);
	get_fails(f, id, LGFS_ECORRUPT);
	obj_truncate(f, id, 0);
	get_fails(f, id, LGFS_ECORRUPT);

	fill_text(t, n, 8);
	put_ok(f, t, n, idz);
	zs = obj_size(f, idz);
	obj_truncate(f, idz, zs - 1);
	get_fails(f, idz, LGFS_ECORRUPT);
	obj_truncate(f, idz, 13);
	get_fails(f, idz, LGFS_ECORRUPT);
	obj_truncate(f, idz, 12);
	get_fails(f, idz, LGFS_ECORRUPT);
	free(p);
	free(t);
}

/* A put of an id whose object a crash left empty or short replaces it. */
static void test_put_repairs(void **state)
{
	struct fixture *f = *state;
	uint8_t p[30000], id[32];

	fill_random(p, sizeof(p), 11);
	put_ok(f, p, sizeof(p), id);
	obj_truncate(f, id, 0);
	get_fails(f, id, LGFS_ECORRUPT);
	put_ok(f, p, sizeof(p), id);
	get_equal(f, id, p, sizeof(p));
	assert_int_equal(count_tmp(f), 0);
}

/* The store trusts put's id; get catches a wrong one. */
static void test_wrong_id(void **state)
{
	struct fixture *f = *state;
	uint8_t p[2000], id[32];

	fill_random(p, sizeof(p), 12);
	lgfs_sha256(id, p, sizeof(p));
	id[5] ^= 1;
	assert_int_equal(lgfs_chunks_put(f->c, id, p, sizeof(p)), 0);
	get_fails(f, id, LGFS_ECORRUPT);
}

static void test_missing(void **state)
{
	struct fixture *f = *state;
	uint8_t id[32], p[100];

	lgfs_sha256(id, "nothing", 7);
	assert_int_equal(lgfs_chunks_has(f->c, id), 0);
	get_fails(f, id, LGFS_ENOTFOUND); /* fan-out directory missing */
	/* an id whose fan-out directory exists */
	fill_random(p, sizeof(p), 13);
	put_ok(f, p, sizeof(p), id);
	id[31] ^= 1;
	assert_int_equal(lgfs_chunks_has(f->c, id), 0);
	get_fails(f, id, LGFS_ENOTFOUND);
}

static void test_too_large(void **state)
{
	struct fixture *f = *state;
	uint8_t id[32] = { 1 };

	assert_int_equal(lgfs_chunks_put(f->c, id, "", (size_t)LGFS_CHUNK_MAX + 1), LGFS_EINVAL);
}

/* Collects iterated ids. */
struct idset {
	uint8_t (*ids)[32];
	int n, cap, stop_after;
};

static int collect_cb(void *payload, const uint8_t id[32])
{
	struct idset *s = payload;

	assert_true(s->n < s->cap);
	memcpy(s->ids[s->n++], id, 32);
	if (s->stop_after && s->n == s->stop_after)
		return 42;
	return 0;
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static void test_iterate(void **state)
{
	struct fixture *f = *state;
	uint8_t want[100][32], p[300];
	struct idset s = { 0 };
	char path[256];
	int i, fd;

	s.ids = malloc(200 * 32);
	s.cap = 200;
	assert_int_equal(lgfs_chunks_iterate(f->c, collect_cb, &s), 0);
	assert_int_equal(s.n, 0);
	for (i = 0; i < 100; i++) {
		fill_random(p, sizeof(p), 100 + i);
		put_ok(f, p, sizeof(p), want[i]);
	}
	/* strangers: temp files, other names, a file where a fan-out dir goes */
	snprintf(path, sizeof(path), "%s/%02x/.tmp-leftover", f->dir, want[0][0]);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/%02x/README", f->dir, want[0][0]);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/zz", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/%02x", f->dir, (unsigned)(want[0][0] ^ 0x80));
	mkdir(path, 0755);

	assert_int_equal(lgfs_chunks_iterate(f->c, collect_cb, &s), 0);
	assert_int_equal(s.n, 100);
	qsort(want, 100, 32, cmp_id);
	qsort(s.ids, 100, 32, cmp_id);
	assert_memory_equal(want, s.ids, 100 * 32);

	/* a callback's non-zero value stops the walk and is returned */
	s.n = 0;
	s.stop_after = 7;
	assert_int_equal(lgfs_chunks_iterate(f->c, collect_cb, &s), 42);
	assert_int_equal(s.n, 7);
	free(s.ids);
}

static void test_sync_and_reopen(void **state)
{
	struct fixture *f = *state;
	uint8_t p[50][1000], ids[50][32];
	int i;

	assert_int_equal(lgfs_chunks_sync(f->c), 0); /* nothing pending */
	for (i = 0; i < 50; i++) {
		fill_random(p[i], sizeof(p[i]), 200 + i);
		put_ok(f, p[i], sizeof(p[i]), ids[i]);
	}
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	put_ok(f, p[0], sizeof(p[0]), ids[0]); /* present: nothing to sync */
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	lgfs_chunks_close(f->c);
	f->c = NULL;
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), 0);
	for (i = 0; i < 50; i++)
		get_equal(f, ids[i], p[i], sizeof(p[i]));
}

static void test_open_uri(void **state)
{
	struct fixture *f = *state;
	struct lgfs_chunks *c = NULL;
	char uri[128], sub[128];
	uint8_t id[32];

	put_ok(f, (const uint8_t *)"abc", 3, id);
	snprintf(uri, sizeof(uri), "file://%s", f->dir);
	assert_int_equal(lgfs_chunks_open(&c, uri, 0), 0);
	assert_string_equal(c->scheme, "file");
	assert_int_equal(lgfs_chunks_has(c, id), 1);
	lgfs_chunks_close(c);

	assert_int_equal(lgfs_chunks_open(&c, "nats://localhost/x", 1), LGFS_EINVAL);
	assert_null(c);
	assert_int_equal(lgfs_chunks_open(&c, "file://relative/dir", 1), LGFS_EINVAL);
	assert_int_equal(lgfs_chunks_open(&c, "", 1), LGFS_EINVAL);
	snprintf(sub, sizeof(sub), "%s/a/b/c", f->dir);
	assert_int_equal(lgfs_chunks_open(&c, sub, 0), LGFS_ENOTFOUND);
	assert_int_equal(lgfs_chunks_open(&c, sub, 1), 0); /* mkdir -p */
	assert_int_equal(lgfs_chunks_has(c, id), 0);
	lgfs_chunks_close(c);
}

/* A store whose methods are all NULL: the wrappers refuse, never crash. */
static void test_null_methods(void **state)
{
	struct lgfs_chunks c = { .version = 1, .scheme = "null" };
	struct lgfs_buf b = LGFS_BUF_INIT;
	uint8_t id[32] = { 0 };

	(void)state;
	assert_int_equal(lgfs_chunks_put(&c, id, "", 0), LGFS_EINVAL);
	assert_int_equal(lgfs_chunks_get(&c, id, &b), LGFS_EINVAL);
	assert_int_equal(lgfs_chunks_has(&c, id), LGFS_EINVAL);
	assert_int_equal(lgfs_chunks_iterate(&c, count_cb, NULL), LGFS_EINVAL);
	assert_int_equal(lgfs_chunks_sync(&c), LGFS_EINVAL);
	lgfs_chunks_close(&c);
}

/* Fault injection through the lgfs_sys table. */
static int n_fsync;

static ssize_t pwrite_enospc(int fd, const void *buf, size_t n, off_t off)
{
	(void)fd;
	(void)buf;
	(void)n;
	(void)off;
	errno = ENOSPC;
	return -1;
}

static int fsync_enospc(int fd)
{
	(void)fd;
	errno = ENOSPC;
	return -1;
}

static int fsync_count(int fd)
{
	n_fsync++;
	return fsync(fd);
}

static ssize_t pread_eio(int fd, void *buf, size_t n, off_t off)
{
	(void)fd;
	(void)buf;
	(void)n;
	(void)off;
	errno = EIO;
	return -1;
}

static void test_enospc_put(void **state)
{
	struct fixture *f = *state;
	uint8_t p[10000], id[32];

	fill_random(p, sizeof(p), 300);
	lgfs_sha256(id, p, sizeof(p));
	lgfs_sys.pwrite = pwrite_enospc;
	assert_int_equal(lgfs_chunks_put(f->c, id, p, sizeof(p)), LGFS_ENOSPC);
	lgfs_sys_reset();
	assert_int_equal(lgfs_chunks_has(f->c, id), 0);
	assert_int_equal(count_tmp(f), 0);
	put_ok(f, p, sizeof(p), id);
	get_equal(f, id, p, sizeof(p));
}

/* sync fsyncs each object put since the last sync, the fan-out directories
 * they went into and the store directory when a fan-out directory is new;
 * a failed sync keeps everything pending for the next one. */
static void test_sync_fsyncs(void **state)
{
	struct fixture *f = *state;
	uint8_t p[3][1000], id[3][32];
	int i, dirs;

	for (i = 0; i < 3; i++) {
		fill_random(p[i], sizeof(p[i]), 400 + i);
		put_ok(f, p[i], sizeof(p[i]), id[i]);
	}
	dirs = 1 + (id[1][0] != id[0][0]) + (id[2][0] != id[0][0] && id[2][0] != id[1][0]);
	lgfs_sys.fsync = fsync_enospc;
	assert_int_equal(lgfs_chunks_sync(f->c), LGFS_ENOSPC);
	lgfs_sys.fsync = fsync_count;
	n_fsync = 0;
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	assert_int_equal(n_fsync, 3 + dirs + 1);
	n_fsync = 0;
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	assert_int_equal(n_fsync, 0);
	put_ok(f, p[0], sizeof(p[0]), id[0]); /* present: nothing new */
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	assert_int_equal(n_fsync, 0);
	lgfs_sys_reset();
}

static void test_eio_get(void **state)
{
	struct fixture *f = *state;
	struct lgfs_buf b = LGFS_BUF_INIT;
	uint8_t p[1000], id[32];

	fill_random(p, sizeof(p), 500);
	put_ok(f, p, sizeof(p), id);
	lgfs_sys.pread = pread_eio;
	assert_int_equal(lgfs_chunks_get(f->c, id, &b), LGFS_EIO);
	assert_int_equal(b.len, 0);
	lgfs_sys_reset();
	get_equal(f, id, p, sizeof(p));
	lgfs_buf_free(&b);
}

#define THREADS 4
#define SHARED 64
#define OWN 32

struct worker {
	struct lgfs_chunks *c;
	int t;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct lgfs_buf b = LGFS_BUF_INIT;
	uint8_t p[20000], id[32];
	int i, k;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < SHARED + OWN; i++) {
			/* shared chunks are the same bytes in every thread,
			 * in a different order per thread */
			int j = (i + w->t * 17) % (SHARED + OWN);
			uint64_t seed = j < SHARED ? (uint64_t)(1000 + j) : (uint64_t)(5000 + 100 * w->t + j);

			if (j % 3 == 0)
				fill_text(p, sizeof(p), (unsigned)seed);
			else
				fill_random(p, sizeof(p), seed);
			memcpy(p, &seed, sizeof(seed)); /* distinct seeds, distinct chunks */
			lgfs_sha256(id, p, sizeof(p));
			if (lgfs_chunks_put(w->c, id, p, sizeof(p)) != 0)
				w->failures++;
			if (lgfs_chunks_has(w->c, id) != 1)
				w->failures++;
			if (lgfs_chunks_get(w->c, id, &b) != 0 || b.len != sizeof(p) ||
			    memcmp(b.data, p, sizeof(p)) != 0)
				w->failures++;
			if (i % 40 == 0 && lgfs_chunks_sync(w->c) != 0)
				w->failures++;
		}
	}
	lgfs_buf_free(&b);
	return NULL;
}

static void test_concurrent_puts(void **state)
{
	struct fixture *f = *state;
	pthread_t th[THREADS];
	struct worker w[THREADS];
	int i, n = 0;

	for (i = 0; i < THREADS; i++) {
		w[i].c = f->c;
		w[i].t = i;
		w[i].failures = 0;
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	assert_int_equal(lgfs_chunks_iterate(f->c, count_cb, &n), 0);
	assert_int_equal(n, SHARED + THREADS * OWN);
	assert_int_equal(count_tmp(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_compressible, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_and_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compress_decision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idempotent_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flip_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flip_zstd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_repairs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iterate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_uri, setup, teardown),
		cmocka_unit_test(test_null_methods),
		cmocka_unit_test_setup_teardown(test_enospc_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_fsyncs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eio_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_puts, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
