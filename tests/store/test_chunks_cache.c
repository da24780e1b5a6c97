/*
 * test_chunks_cache.c — the bounded cache of verified chunks
 * (lgfs_chunks_cache_wrap): hits return the verified bytes, misses go to
 * the store, the bytes held stay within the bound (least recently used go
 * first), a damaged chunk is never cached and still an error, read-ahead
 * passes through, and many threads at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ledgerfs/chunks.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"

#define N 64
#define LEN 16384

struct fx {
	char dir[64];
	struct lgfs_chunks *c;
	uint8_t ids[N][32];
	uint8_t data[N][LEN];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct lgfs_chunks *inner;
	int i, j;

	strcpy(f->dir, "/tmp/lgfs-test-ccache-XXXXXX");
	if (!mkdtemp(f->dir) || lgfs_chunks_file_open(&inner, f->dir, LGFS_CHUNKS_CREATE))
		return -1;
	for (i = 0; i < N; i++) {
		for (j = 0; j < LEN; j++)
			f->data[i][j] = (uint8_t)(i * 31 + j * 7);
		lgfs_sha256(f->ids[i], f->data[i], LEN);
		if (lgfs_chunks_put(inner, f->ids[i], f->data[i], LEN))
			return -1;
	}
	if (lgfs_chunks_sync(inner))
		return -1;
	/* room for 16 chunks */
	if (lgfs_chunks_cache_wrap(&f->c, inner, 16 * LEN))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	lgfs_chunks_close(f->c);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd))
		return -1;
	free(f);
	return 0;
}

static void get_ok(struct fx *f, int i)
{
	struct lgfs_buf b = LGFS_BUF_INIT;

	assert_int_equal(lgfs_chunks_get(f->c, f->ids[i], &b), 0);
	assert_int_equal(b.len, LEN);
	assert_memory_equal(b.data, f->data[i], LEN);
	lgfs_buf_free(&b);
}

static void test_hits_and_bound(void **state)
{
	struct fx *f = *state;
	uint64_t hits, misses;
	size_t bytes;
	int i;

	get_ok(f, 0);
	get_ok(f, 0);
	lgfs_chunks_cache_stats(f->c, &bytes, &hits, &misses);
	assert_int_equal(hits, 1);
	assert_int_equal(misses, 1);
	assert_int_equal(bytes, LEN);
	for (i = 0; i < N; i++)
		get_ok(f, i);
	lgfs_chunks_cache_stats(f->c, &bytes, &hits, &misses);
	assert_true(bytes <= 16 * LEN);
	assert_int_equal(bytes, 16 * LEN);
	/* the most recent 16 are held: reading them again is all hits */
	for (i = N - 16; i < N; i++)
		get_ok(f, i);
	{
		uint64_t h2, m2;

		lgfs_chunks_cache_stats(f->c, &bytes, &h2, &m2);
		assert_int_equal(h2, hits + 16);
		assert_int_equal(m2, misses);
		/* and the first one went */
		get_ok(f, 0);
		lgfs_chunks_cache_stats(f->c, &bytes, &h2, &m2);
		assert_int_equal(m2, misses + 1);
	}
}

/* A chunk damaged on disk before it was ever read is an error, and not
 * cached; one read (verified) before the damage is served as verified. */
static void test_damage(void **state)
{
	struct fx *f = *state;
	struct lgfs_buf b = LGFS_BUF_INIT;
	char hex[65], cmd[512];
	uint64_t hits, misses;
	size_t bytes;

	get_ok(f, 1);
	lgfs_hex(hex, f->ids[2], 32);
	/* flip bytes in every file that holds chunk 2 (the file store's layout
	 * is its own business: find it by name) */
	snprintf(cmd, sizeof(cmd),
		 "for p in $(find %s -type f -name '*%s*'); do printf 'XXXX' | dd of=$p bs=1 seek=100 conv=notrunc status=none; done",
		 f->dir, hex + 4);
	assert_int_equal(system(cmd), 0);
	assert_int_not_equal(lgfs_chunks_get(f->c, f->ids[2], &b), 0);
	assert_int_not_equal(lgfs_chunks_get(f->c, f->ids[2], &b), 0);
	lgfs_chunks_cache_stats(f->c, &bytes, &hits, &misses);
	assert_int_equal(bytes, LEN); /* only chunk 1 */
	lgfs_buf_free(&b);
}

static void test_get_many_passes_through(void **state)
{
	struct fx *f = *state;
	struct lgfs_buf outs[4] = { LGFS_BUF_INIT, LGFS_BUF_INIT, LGFS_BUF_INIT, LGFS_BUF_INIT };
	int rcs[4], i;
	uint64_t hits, misses;
	size_t bytes;

	lgfs_chunks_get_many(f->c, (const uint8_t(*)[32])f->ids, 4, outs, rcs);
	for (i = 0; i < 4; i++) {
		assert_int_equal(rcs[i], 0);
		assert_memory_equal(outs[i].data, f->data[i], LEN);
		lgfs_buf_free(&outs[i]);
	}
	lgfs_chunks_cache_stats(f->c, &bytes, &hits, &misses);
	assert_int_equal(bytes, 0);
}

static void *reader(void *arg)
{
	struct fx *f = arg;
	struct lgfs_buf b = LGFS_BUF_INIT;
	unsigned int seed = (unsigned int)(uintptr_t)&b;
	int k, bad = 0;

	for (k = 0; k < 2000; k++) {
		int i = rand_r(&seed) % N;

		if (lgfs_chunks_get(f->c, f->ids[i], &b) || b.len != LEN || memcmp(b.data, f->data[i], LEN))
			bad++;
	}
	lgfs_buf_free(&b);
	return (void *)(intptr_t)bad;
}

static void test_threads(void **state)
{
	struct fx *f = *state;
	pthread_t t[4];
	void *r;
	int i;

	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, f), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &r), 0);
		assert_int_equal((intptr_t)r, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hits_and_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_many_passes_through, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
