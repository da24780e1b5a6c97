/*
 * test_content.c — unit tests of content-defined chunking, the chunk writer,
 * manifests and the manifest reader (store layer). Stores live in temporary
 * directories under /tmp, removed afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ledgerfs/chunks.h"
#include "ledgerfs/content.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"

/* Boundaries of the first 8 MiB of fill_random(seed 42), one-shot: SHA-256
 * over the chunk lengths as u32 BE. Pins the chunking algorithm and gear
 * table; recomputed by an independent Python implementation of content.h's
 * description. Changing it changes every stored file's chunks. */
#define GOLDEN_8MIB "c507ad047b5c51a1f3d7ee26806959f5e6b36ef1feea83a52995756e1f3e844e"

/* Per-test state: a store in a temporary directory. */
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
	strcpy(f->dir, "/tmp/lgfs-test-content-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 1), 0);
	*state = f;
	return 0;
}

/* For the tests that damage a stored object in place: they know the
 * one-file-per-chunk layout, so they use that implementation explicitly. */
static int setup_dir(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/lgfs-test-content-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
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

/* Deterministic pseudo-random bytes: splitmix64 outputs, little-endian. */
static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	size_t i;

	for (i = 0; i < n; i += 8) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
		uint8_t b[8];
		int k;

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		for (k = 0; k < 8; k++)
			b[k] = (uint8_t)(z >> (8 * k));
		memcpy(p + i, b, n - i < 8 ? n - i : 8);
	}
}

/* A small PRNG for piece sizes and offsets. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Chunk lengths of a stream. */
struct cuts {
	uint32_t *len;
	size_t n, cap;
};

static void cuts_add(struct cuts *c, uint32_t len)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 256;
		c->len = realloc(c->len, c->cap * sizeof(*c->len));
		assert_non_null(c->len);
	}
	c->len[c->n++] = len;
}

/* Chunk p[0..n) feeding pieces whose sizes come from next_piece (NULL: one
 * piece). The caller tracks chunk lengths itself, as a real user would. */
static void chunk_stream(struct cuts *out, const uint8_t *p, size_t n,
			 size_t (*next_piece)(uint64_t *s, size_t done), uint64_t seed)
{
	struct lgfs_cdc st;
	size_t done = 0;
	uint64_t cur = 0, s = seed;
	uint32_t last;

	memset(out, 0, sizeof(*out));
	lgfs_cdc_init(&st);
	while (done < n) {
		size_t piece = next_piece ? next_piece(&s, done) : n;
		size_t left, k;

		if (piece > n - done)
			piece = n - done;
		left = piece;
		while (left) {
			k = lgfs_cdc_next(&st, p + done, left);
			assert_true(k <= left);
			cur += k;
			done += k;
			left -= k;
			if (left) { /* a cut after k bytes */
				assert_true(cur > 0);
				cuts_add(out, (uint32_t)cur);
				cur = 0;
			}
		}
	}
	last = lgfs_cdc_end(&st);
	assert_int_equal(last, cur);
	if (cur)
		cuts_add(out, (uint32_t)cur);
}

static size_t piece_random(uint64_t *s, size_t done)
{
	(void)done;
	switch (rng_next(s) % 4) {
	case 0: return 1 + rng_next(s) % 16;
	case 1: return 1 + rng_next(s) % 5000;
	case 2: return 4096;
	default: return 1 + rng_next(s) % (1 << 20);
	}
}

static size_t piece_4k(uint64_t *s, size_t done)
{
	(void)s;
	(void)done;
	return 4096;
}

static size_t piece_1(uint64_t *s, size_t done)
{
	(void)s;
	return done < (1 << 20) ? 1 : 65536;
}

/* Pieces that end exactly on the boundaries found one-shot, to exercise the
 * "boundary at the end of a piece" path. */
static const struct cuts *aligned_ref;
static size_t piece_aligned(uint64_t *s, size_t done)
{
	size_t i, pos = 0;

	(void)s;
	for (i = 0; i < aligned_ref->n; i++) {
		pos += aligned_ref->len[i];
		if (pos > done)
			return pos - done;
	}
	return 1;
}

static void assert_cuts_equal(const struct cuts *a, const struct cuts *b)
{
	assert_int_equal(a->n, b->n);
	assert_memory_equal(a->len, b->len, a->n * sizeof(*a->len));
}

static void test_gear_table(void **state)
{
	const uint64_t *g = lgfs_cdc_gear();
	uint8_t msg[21], d[32];
	int i;

	(void)state;
	assert_true(g[0] == 0xc7f7f6559a16b2a9ull);
	assert_true(g[255] == 0xefe7732caf5d9c62ull);
	memcpy(msg, "ledgerfs cdc gear v1", 20);
	for (i = 0; i < 256; i++) {
		msg[20] = (uint8_t)i;
		lgfs_sha256(d, msg, sizeof(msg));
		assert_true(g[i] == lgfs_be64_get(d));
	}
}

static void test_stream_equals_oneshot(void **state)
{
	size_t n = 12u << 20;
	uint8_t *p = malloc(n);
	struct cuts one, other;
	uint64_t seed;

	(void)state;
	fill_random(p, n, 7);
	chunk_stream(&one, p, n, NULL, 0);
	assert_true(one.n > 100);
	for (seed = 1; seed <= 3; seed++) {
		chunk_stream(&other, p, n, piece_random, seed);
		assert_cuts_equal(&one, &other);
		free(other.len);
	}
	chunk_stream(&other, p, n, piece_4k, 0);
	assert_cuts_equal(&one, &other);
	free(other.len);
	chunk_stream(&other, p, n, piece_1, 0);
	assert_cuts_equal(&one, &other);
	free(other.len);
	aligned_ref = &one;
	chunk_stream(&other, p, n, piece_aligned, 0);
	assert_cuts_equal(&one, &other);
	free(other.len);
	free(one.len);
	free(p);
}

static void test_min_max(void **state)
{
	size_t n = 8u << 20, i, total;
	uint8_t *p = malloc(n);
	struct cuts c;

	(void)state;
	/* random data */
	fill_random(p, n, 11);
	chunk_stream(&c, p, n, NULL, 0);
	for (i = 0, total = 0; i < c.n; i++) {
		if (i + 1 < c.n) {
			assert_true(c.len[i] > LGFS_CDC_MIN);
			assert_true(c.len[i] <= LGFS_CDC_MAX);
		}
		total += c.len[i];
	}
	assert_int_equal(total, n);
	free(c.len);
	/* zeros never match the mask: every chunk is cut at the maximum */
	memset(p, 0, n);
	chunk_stream(&c, p, n, NULL, 0);
	assert_int_equal(c.n, n / LGFS_CDC_MAX);
	for (i = 0; i < c.n; i++)
		assert_int_equal(c.len[i], LGFS_CDC_MAX);
	free(c.len);
	/* short streams are one chunk */
	chunk_stream(&c, p, 100, NULL, 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.len[0], 100);
	free(c.len);
	chunk_stream(&c, p, 0, NULL, 0);
	assert_int_equal(c.n, 0);
	free(c.len);
	free(p);
}

static void test_deterministic(void **state)
{
	size_t n = 8u << 20, i;
	uint8_t *p = malloc(n), *enc, d[32];
	struct cuts a, b;
	char hex[65];

	(void)state;
	fill_random(p, n, 42);
	chunk_stream(&a, p, n, NULL, 0);
	chunk_stream(&b, p, n, piece_random, 99);
	assert_cuts_equal(&a, &b);
	enc = malloc(4 * a.n);
	for (i = 0; i < a.n; i++)
		lgfs_be32_put(enc + 4 * i, a.len[i]);
	lgfs_sha256(d, enc, 4 * a.n);
	lgfs_hex(hex, d, 32);
	assert_string_equal(hex, GOLDEN_8MIB);
	free(enc);
	free(a.len);
	free(b.len);
	free(p);
}

static void test_distribution(void **state)
{
	size_t n = 64u << 20;
	uint8_t *p = malloc(n);
	struct cuts c;
	double avg;

	(void)state;
	fill_random(p, n, 5);
	chunk_stream(&c, p, n, NULL, 0);
	avg = (double)n / (double)c.n;
	assert_true(avg > 60 * 1024.0);
	assert_true(avg < 88 * 1024.0);
	free(c.len);
	free(p);
}

/* Chunk ids of a buffer, sorted. */
static size_t chunk_ids(uint8_t (**out)[32], const uint8_t *p, size_t n)
{
	struct cuts c;
	size_t i, off = 0;

	chunk_stream(&c, p, n, NULL, 0);
	*out = malloc(c.n * 32);
	assert_non_null(*out);
	for (i = 0; i < c.n; i++) {
		lgfs_sha256((*out)[i], p + off, c.len[i]);
		off += c.len[i];
	}
	free(c.len);
	return c.n;
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* How many of a's ids are not in b (b sorted). */
static size_t ids_missing(uint8_t (*a)[32], size_t na, uint8_t (*b)[32], size_t nb)
{
	size_t i, miss = 0;

	for (i = 0; i < na; i++)
		if (!bsearch(a[i], b, nb, 32, cmp_id))
			miss++;
	return miss;
}

static void test_edit_in_middle(void **state)
{
	size_t n = 64u << 20, na, nb;
	uint8_t *p = malloc(n), (*a)[32], (*b)[32];

	(void)state;
	fill_random(p, n, 21);
	na = chunk_ids(&a, p, n);
	fill_random(p + n / 2, 4096, 22);
	nb = chunk_ids(&b, p, n);
	qsort(a, na, 32, cmp_id);
	qsort(b, nb, 32, cmp_id);
	assert_true(ids_missing(b, nb, a, na) <= 3);
	assert_true(ids_missing(b, nb, a, na) >= 1);
	assert_true(ids_missing(a, na, b, nb) <= 3);
	free(a);
	free(b);
	free(p);
}

static void test_insertion_is_local(void **state)
{
	size_t n = 32u << 20, ins = 777, at = n / 3, i, j, na, nb;
	uint8_t *p = malloc(n), *q = malloc(n + ins), (*a)[32], (*b)[32];
	struct cuts ca, cb;
	uint64_t pa, pb;

	(void)state;
	fill_random(p, n, 31);
	memcpy(q, p, at);
	fill_random(q + at, ins, 32);
	memcpy(q + at + ins, p + at, n - at);
	na = chunk_ids(&a, p, n);
	nb = chunk_ids(&b, q, n + ins);
	qsort(a, na, 32, cmp_id);
	qsort(b, nb, 32, cmp_id);
	assert_true(ids_missing(b, nb, a, na) <= 3);
	assert_true(ids_missing(a, na, b, nb) <= 3);
	/* boundaries after the insertion re-synchronise: each boundary of the
	 * original more than MAX past the insertion appears shifted by ins */
	chunk_stream(&ca, p, n, NULL, 0);
	chunk_stream(&cb, q, n + ins, NULL, 0);
	for (i = 0, j = 0, pa = 0, pb = 0; i < ca.n; i++) {
		pa += ca.len[i];
		if (pa < at + 2 * LGFS_CDC_MAX)
			continue;
		while (j < cb.n && pb < pa + ins)
			pb += cb.len[j++];
		assert_true(pb == pa + ins);
	}
	free(ca.len);
	free(cb.len);
	free(a);
	free(b);
	free(q);
	free(p);
}

/* ---- manifests ---- */

static void sample_manifest(struct lgfs_manifest *m)
{
	static const uint32_t lens[] = { 70000, 5, 100000, 4096, LGFS_CHUNK_MAX, 1 };
	size_t i;

	memset(m, 0, sizeof(*m));
	m->count = 6;
	m->entries = calloc(m->count, sizeof(*m->entries));
	for (i = 0; i < m->count; i++) {
		m->entries[i].len = lens[i];
		if (i != 1 && i != 3) /* entries 1 and 3 are holes */
			lgfs_sha256(m->entries[i].id, &i, sizeof(i));
		m->size += lens[i];
	}
	lgfs_sha256(m->sha256, "whatever", 8);
}

static void assert_manifest_equal(const struct lgfs_manifest *a, const struct lgfs_manifest *b)
{
	size_t i;

	assert_true(a->size == b->size);
	assert_memory_equal(a->sha256, b->sha256, 32);
	assert_int_equal(a->count, b->count);
	for (i = 0; i < a->count; i++) {
		assert_memory_equal(a->entries[i].id, b->entries[i].id, 32);
		assert_int_equal(a->entries[i].len, b->entries[i].len);
	}
}

static void test_manifest_roundtrip(void **state)
{
	struct lgfs_manifest m, d;
	struct lgfs_buf e = LGFS_BUF_INIT, e2 = LGFS_BUF_INIT;

	(void)state;
	sample_manifest(&m);
	assert_int_equal(lgfs_manifest_encode(&e, &m), 0);
	assert_int_equal(e.len, 48 + 36 * m.count);
	assert_memory_equal(e.data, "LGM1", 4);
	assert_true(lgfs_be64_get(e.data + 4) == m.size);
	assert_int_equal(lgfs_be32_get(e.data + 44), m.count);
	assert_true(lgfs_manifest_entry_is_hole(&m.entries[1]));
	assert_int_equal(lgfs_manifest_decode(&d, e.data, e.len), 0);
	assert_manifest_equal(&m, &d);
	assert_int_equal(lgfs_manifest_encode(&e2, &d), 0);
	assert_int_equal(e.len, e2.len);
	assert_memory_equal(e.data, e2.data, e.len);
	lgfs_manifest_free(&d);
	lgfs_buf_free(&e);
	lgfs_buf_free(&e2);

	/* empty file: no entries */
	lgfs_manifest_free(&m);
	lgfs_sha256(m.sha256, "", 0);
	assert_int_equal(lgfs_manifest_encode(&e, &m), 0);
	assert_int_equal(e.len, 48);
	assert_int_equal(lgfs_manifest_decode(&d, e.data, e.len), 0);
	assert_int_equal(d.count, 0);
	assert_true(d.size == 0);
	lgfs_manifest_free(&d);
	lgfs_buf_free(&e);
}

/* Re-encode a manifest after patching its wire bytes, expecting rejection. */
static void expect_corrupt(const uint8_t *p, size_t n)
{
	struct lgfs_manifest d;

	assert_int_equal(lgfs_manifest_decode(&d, p, n), LGFS_ECORRUPT);
	assert_null(d.entries);
	assert_int_equal(d.count, 0);
}

static void test_manifest_decode_rejects(void **state)
{
	struct lgfs_manifest m, d;
	struct lgfs_buf e = LGFS_BUF_INIT;
	uint8_t *t;
	size_t i, n;
	uint64_t s = 12345;

	(void)state;
	sample_manifest(&m);
	assert_int_equal(lgfs_manifest_encode(&e, &m), 0);
	n = e.len;
	t = malloc(n + 64);
	/* every truncation */
	for (i = 0; i < n; i++) {
		memcpy(t, e.data, i);
		expect_corrupt(t, i);
	}
	/* trailing bytes */
	memcpy(t, e.data, n);
	t[n] = 0;
	expect_corrupt(t, n + 1);
	memcpy(t + n, e.data + 48, 36); /* one more whole entry, count not raised */
	expect_corrupt(t, n + 36);
	/* bad magic */
	memcpy(t, e.data, n);
	t[3] = '2';
	expect_corrupt(t, n);
	/* count off by one either way */
	memcpy(t, e.data, n);
	lgfs_be32_put(t + 44, (uint32_t)m.count + 1);
	expect_corrupt(t, n);
	lgfs_be32_put(t + 44, (uint32_t)m.count - 1);
	expect_corrupt(t, n);
	lgfs_be32_put(t + 44, 0xffffffffu);
	expect_corrupt(t, n);
	/* size not the sum of lengths (too small, too large, overflow) */
	memcpy(t, e.data, n);
	lgfs_be64_put(t + 4, m.size - 1);
	expect_corrupt(t, n);
	lgfs_be64_put(t + 4, m.size + 1);
	expect_corrupt(t, n);
	lgfs_be64_put(t + 4, UINT64_MAX);
	expect_corrupt(t, n);
	/* a zero-length chunk, a chunk over the limit */
	memcpy(t, e.data, n);
	lgfs_be32_put(t + 48 + 32, 0);
	lgfs_be64_put(t + 4, m.size - m.entries[0].len);
	expect_corrupt(t, n);
	memcpy(t, e.data, n);
	lgfs_be32_put(t + 48 + 4 * 36 + 32, LGFS_CHUNK_MAX + 1);
	lgfs_be64_put(t + 4, m.size + 1);
	expect_corrupt(t, n);
	/* two short holes in a row (entry 2 made a hole after hole 1) */
	memcpy(t, e.data, n);
	memset(t + 48 + 2 * 36, 0, 32);
	expect_corrupt(t, n);
	/* more entries than a flat manifest may hold, otherwise consistent */
	{
		size_t big = LGFS_MANIFEST_FLAT_MAX + 1, len = 48 + 36 * big;
		uint8_t *o = calloc(1, len);

		memcpy(o, "LGM1", 4);
		lgfs_be64_put(o + 4, big);
		lgfs_be32_put(o + 44, (uint32_t)big);
		for (i = 0; i < big; i++) {
			o[48 + 36 * i] = 1;
			lgfs_be32_put(o + 48 + 36 * i + 32, 1);
		}
		expect_corrupt(o, len);
		free(o);
	}
	/* the flipped-but-valid case decodes: a different chunk id */
	memcpy(t, e.data, n);
	t[48 + 7] ^= 1;
	assert_int_equal(lgfs_manifest_decode(&d, t, n), 0);
	lgfs_manifest_free(&d);
	/* random damage: never crashes; whatever decodes re-encodes to the
	 * same bytes (one encoding per manifest) */
	for (i = 0; i < 20000; i++) {
		struct lgfs_buf r = LGFS_BUF_INIT;
		size_t len = n, k, flips = 1 + rng_next(&s) % 4;

		memcpy(t, e.data, n);
		for (k = 0; k < flips; k++)
			t[rng_next(&s) % n] ^= (uint8_t)(1 + rng_next(&s) % 255);
		if (rng_next(&s) % 4 == 0)
			len = rng_next(&s) % (n + 64);
		if (len > n)
			memset(t + n, 0, len - n);
		if (lgfs_manifest_decode(&d, t, len) == 0) {
			assert_int_equal(lgfs_manifest_encode(&r, &d), 0);
			assert_int_equal(r.len, len);
			assert_memory_equal(r.data, t, len);
			lgfs_manifest_free(&d);
		}
		lgfs_buf_free(&r);
	}
	/* garbage */
	for (i = 0; i < 2000; i++) {
		size_t len = rng_next(&s) % (n + 64);

		fill_random(t, len, i);
		if (len >= 4)
			memcpy(t, "LGM1", 4);
		if (lgfs_manifest_decode(&d, t, len) == 0)
			lgfs_manifest_free(&d);
	}
	free(t);
	lgfs_buf_free(&e);
	lgfs_manifest_free(&m);
}

static void test_manifest_encode_rejects(void **state)
{
	struct lgfs_manifest m;
	struct lgfs_buf e = LGFS_BUF_INIT;

	(void)state;
	sample_manifest(&m);
	m.size++;
	assert_int_equal(lgfs_manifest_encode(&e, &m), LGFS_EINVAL);
	m.size--;
	m.entries[0].len = 0;
	assert_int_equal(lgfs_manifest_encode(&e, &m), LGFS_EINVAL);
	m.entries[0].len = 70000;
	memset(m.entries[2].id, 0, 32); /* hole after hole */
	assert_int_equal(lgfs_manifest_encode(&e, &m), LGFS_EINVAL);
	lgfs_manifest_free(&m);
	/* too many entries for a flat manifest */
	m.count = LGFS_MANIFEST_FLAT_MAX + 1;
	m.entries = calloc(m.count, sizeof(*m.entries));
	assert_int_equal(lgfs_manifest_encode(&e, &m), LGFS_EINVAL);
	assert_int_equal(e.len, 0);
	lgfs_manifest_free(&m);
}

/* A 1 GiB file's worth of entries (64 KiB chunks): store, load, read back. */
static void test_manifest_1gib(void **state)
{
	struct fixture *f = *state;
	struct lgfs_manifest m = { 0 }, d;
	struct lgfs_buf e = LGFS_BUF_INIT, g = LGFS_BUF_INIT;
	uint8_t id[32];
	size_t i;

	m.count = 16384;
	m.entries = calloc(m.count, sizeof(*m.entries));
	for (i = 0; i < m.count; i++) {
		lgfs_sha256(m.entries[i].id, &i, sizeof(i));
		m.entries[i].len = 65536;
	}
	m.size = 1ull << 30;
	lgfs_sha256(m.sha256, "any hash but none", 17); /* no holes: a hash is required */
	assert_int_equal(lgfs_manifest_encode(&e, &m), 0);
	assert_int_equal(e.len, 48 + 36 * 16384);
	assert_int_equal(lgfs_manifest_store(f->c, &m, id), 0);
	assert_int_equal(lgfs_chunks_get(f->c, id, &g), 0); /* stored as one object */
	assert_int_equal(g.len, e.len);
	assert_memory_equal(g.data, e.data, e.len);
	assert_int_equal(lgfs_manifest_load(&d, f->c, id), 0);
	assert_manifest_equal(&m, &d);
	lgfs_manifest_free(&d);
	lgfs_manifest_free(&m);
	lgfs_buf_free(&e);
	lgfs_buf_free(&g);
}

/* Write p with the writer in random pieces; returns the manifest id. */
static void write_all_pieces(struct lgfs_chunks *c, const uint8_t *p, size_t n, uint64_t seed,
			     uint8_t id[32], uint64_t *size, uint8_t sha[32])
{
	struct lgfs_chunk_writer *w;
	size_t done = 0;
	uint64_t s = seed;

	assert_int_equal(lgfs_chunk_writer_new(&w, c), 0);
	while (done < n) {
		size_t piece = seed ? piece_random(&s, done) : n;

		if (piece > n - done)
			piece = n - done;
		assert_int_equal(lgfs_chunk_writer_write(w, p + done, piece), 0);
		done += piece;
	}
	assert_int_equal(lgfs_chunk_writer_finish(w, id, size, sha), 0);
	lgfs_chunk_writer_free(w);
}

static void test_writer(void **state)
{
	struct fixture *f = *state;
	size_t n = (5u << 20) + 12345, i, off;
	uint8_t *p = malloc(n), id[32], id2[32], sha[32], want[32];
	struct lgfs_manifest m;
	struct cuts c;
	uint64_t size;
	struct lgfs_buf b = LGFS_BUF_INIT;

	fill_random(p, n, 41);
	write_all_pieces(f->c, p, n, 0, id, &size, sha);
	lgfs_sha256(want, p, n);
	assert_memory_equal(sha, want, 32);
	assert_true(size == n);
	/* piece sizes do not matter */
	write_all_pieces(f->c, p, n, 77, id2, NULL, NULL);
	assert_memory_equal(id, id2, 32);
	/* the manifest lists the chunker's boundaries, each chunk stored */
	assert_int_equal(lgfs_manifest_load(&m, f->c, id), 0);
	assert_memory_equal(m.sha256, want, 32);
	chunk_stream(&c, p, n, NULL, 0);
	assert_int_equal(m.count, c.n);
	for (i = 0, off = 0; i < m.count; i++) {
		uint8_t cid[32];

		assert_int_equal(m.entries[i].len, c.len[i]);
		lgfs_sha256(cid, p + off, c.len[i]);
		assert_memory_equal(m.entries[i].id, cid, 32);
		assert_int_equal(lgfs_chunks_get(f->c, cid, &b), 0);
		assert_int_equal(b.len, c.len[i]);
		off += c.len[i];
	}
	/* the manifest id is the SHA-256 of its encoding */
	{
		struct lgfs_buf e = LGFS_BUF_INIT;
		uint8_t mid[32];

		assert_int_equal(lgfs_manifest_encode(&e, &m), 0);
		lgfs_sha256(mid, e.data, e.len);
		assert_memory_equal(mid, id, 32);
		lgfs_buf_free(&e);
	}
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	free(c.len);
	lgfs_manifest_free(&m);
	lgfs_buf_free(&b);
	free(p);
}

static void test_writer_empty(void **state)
{
	struct fixture *f = *state;
	struct lgfs_chunk_writer *w;
	struct lgfs_manifest_reader *r;
	uint8_t id[32], sha[32], want[32], buf[8];
	uint64_t size = 99;
	size_t got = 7;

	assert_int_equal(lgfs_chunk_writer_new(&w, f->c), 0);
	assert_int_equal(lgfs_chunk_writer_write(w, "", 0), 0);
	assert_int_equal(lgfs_chunk_writer_finish(w, id, &size, sha), 0);
	assert_int_equal(lgfs_chunk_writer_write(w, "x", 1), LGFS_EINVAL); /* finished */
	lgfs_chunk_writer_free(w);
	lgfs_sha256(want, "", 0);
	assert_memory_equal(sha, want, 32);
	assert_true(size == 0);
	assert_int_equal(lgfs_manifest_reader_open(&r, f->c, id), 0);
	assert_true(lgfs_manifest_reader_size(r) == 0);
	assert_int_equal(lgfs_manifest_reader_read(r, 0, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, 0);
	lgfs_manifest_reader_free(r);
}

/* Content with holes: data, hole, data, hole, hole (merged), data, hole at
 * the end. Returns the manifest id; *out holds the expected bytes. */
static void write_sparse(struct lgfs_chunks *c, uint8_t **out, size_t *n_out, uint8_t id[32])
{
	static const size_t parts[][2] = { /* { data bytes, hole bytes } */
		{ 300000, (1u << 20) + 5 }, { 70001, 0 }, { 1, 4096 },
		{ 0, 10 }, { 2u << 20, 0 }, { 123457, 99999 },
	};
	struct lgfs_chunk_writer *w;
	size_t total = 0, i, off = 0;
	uint8_t *p, sha[32], want[32];
	uint64_t size;

	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		total += parts[i][0] + parts[i][1];
	p = calloc(1, total);
	assert_int_equal(lgfs_chunk_writer_new(&w, c), 0);
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		fill_random(p + off, parts[i][0], 500 + i);
		assert_int_equal(lgfs_chunk_writer_write(w, p + off, parts[i][0]), 0);
		off += parts[i][0];
		assert_int_equal(lgfs_chunk_writer_hole(w, parts[i][1]), 0);
		off += parts[i][1];
	}
	assert_int_equal(lgfs_chunk_writer_finish(w, id, &size, sha), 0);
	lgfs_chunk_writer_free(w);
	assert_true(size == total);
	lgfs_sha256(want, p, total);
	assert_memory_equal(sha, want, 32);
	*out = p;
	*n_out = total;
}

static void test_reader_random(void **state)
{
	struct fixture *f = *state;
	struct lgfs_manifest_reader *r;
	struct lgfs_manifest m;
	uint8_t *p, id[32], sha[32], *buf;
	size_t n, i, got, holes = 0;
	uint64_t s = 4242;

	write_sparse(f->c, &p, &n, id);
	/* holes are entries, merged when adjacent: 4096 + 10 is one hole */
	assert_int_equal(lgfs_manifest_load(&m, f->c, id), 0);
	for (i = 0; i < m.count; i++)
		if (lgfs_manifest_entry_is_hole(&m.entries[i])) {
			holes++;
			if (i + 1 < m.count)
				assert_false(lgfs_manifest_entry_is_hole(&m.entries[i + 1]));
		}
	assert_int_equal(holes, 3);
	lgfs_manifest_free(&m);

	assert_int_equal(lgfs_manifest_reader_open(&r, f->c, id), 0);
	assert_true(lgfs_manifest_reader_size(r) == n);
	lgfs_manifest_reader_sha256(r, sha);
	buf = malloc(n + 100);
	/* whole file in one read, then sequential 4 KiB and 128 KiB reads */
	assert_int_equal(lgfs_manifest_reader_read(r, 0, buf, n + 100, &got), 0);
	assert_int_equal(got, n);
	assert_memory_equal(buf, p, n);
	for (i = 0; i < n; i += got) {
		size_t want = (i / 4096) % 2 ? 4096 : 131072;

		assert_int_equal(lgfs_manifest_reader_read(r, i, buf, want, &got), 0);
		assert_true(got > 0);
		assert_memory_equal(buf, p + i, got);
	}
	/* random offsets and lengths, including the tail and past the end */
	for (i = 0; i < 2000; i++) {
		uint64_t off = rng_next(&s) % (n + 10);
		size_t len = rng_next(&s) % 3 == 0 ? rng_next(&s) % 300000 : rng_next(&s) % 5000;
		size_t exp;

		if (i % 10 == 0)
			off = n - rng_next(&s) % 1000 - 1; /* last partial chunk / end hole */
		exp = off >= n ? 0 : (len < n - off ? len : n - off);
		assert_int_equal(lgfs_manifest_reader_read(r, off, buf, len, &got), 0);
		assert_int_equal(got, exp);
		if (exp)
			assert_memory_equal(buf, p + off, exp);
	}
	assert_int_equal(lgfs_manifest_reader_read(r, n, buf, 10, &got), 0);
	assert_int_equal(got, 0);
	assert_int_equal(lgfs_manifest_reader_read(r, UINT64_MAX, buf, 10, &got), 0);
	assert_int_equal(got, 0);
	lgfs_manifest_reader_free(r);
	free(buf);
	free(p);
}

static void flip_object(const struct fixture *f, const uint8_t id[32], off_t off)
{
	char hex[65], path[256];
	uint8_t b;
	int fd;

	lgfs_hex(hex, id, 32);
	snprintf(path, sizeof(path), "%s/%.2s/%s", f->dir, hex, hex);
	assert_int_equal(chmod(path, 0644), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 1;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void test_reader_corrupt_chunk(void **state)
{
	struct fixture *f = *state;
	struct lgfs_manifest_reader *r;
	struct lgfs_manifest m;
	uint8_t *p, id[32], buf[4096];
	size_t n, got = 1, i, off = 0, victim_off = 0;
	char hex[65];

	write_sparse(f->c, &p, &n, id);
	assert_int_equal(lgfs_manifest_load(&m, f->c, id), 0);
	for (i = 0; i < m.count; i++) {
		if (i == 2) {
			assert_false(lgfs_manifest_entry_is_hole(&m.entries[i]));
			victim_off = off;
			flip_object(f, m.entries[i].id, 12 + 100);
			lgfs_hex(hex, m.entries[i].id, 32);
		}
		off += m.entries[i].len;
	}
	assert_int_equal(lgfs_manifest_reader_open(&r, f->c, id), 0);
	assert_int_equal(lgfs_manifest_reader_read(r, victim_off + 50, buf, sizeof(buf), &got),
			 LGFS_ECORRUPT);
	assert_int_equal(got, 0);
	assert_non_null(strstr(lgfs_error_last(), hex));
	/* other chunks still read */
	assert_int_equal(lgfs_manifest_reader_read(r, 0, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, sizeof(buf));
	assert_memory_equal(buf, p, sizeof(buf));
	/* and a whole-file read fails rather than return wrong bytes */
	{
		uint8_t *all = malloc(n);

		assert_int_equal(lgfs_manifest_reader_read(r, 0, all, n, &got), LGFS_ECORRUPT);
		free(all);
	}
	lgfs_manifest_reader_free(r);
	/* a damaged manifest object is refused at open */
	lgfs_manifest_free(&m);
	flip_object(f, id, 12 + 60);
	assert_int_equal(lgfs_manifest_reader_open(&r, f->c, id), LGFS_ECORRUPT);
	assert_int_equal(lgfs_manifest_load(&m, f->c, id), LGFS_ECORRUPT);
	assert_null(m.entries);
	free(p);
}

/* More entries than fit one object: parts + root, loaded and read back. */
static void test_split_manifest(void **state)
{
	struct fixture *f = *state;
	struct lgfs_manifest m = { 0 }, d;
	struct lgfs_manifest_reader *r;
	struct lgfs_buf root = LGFS_BUF_INIT;
	uint8_t cid[32], id[32], *content, buf[256];
	size_t i, off = 0, got;
	uint64_t s = 99;

	/* 3 data bytes "abc", then a 2-byte hole, repeated: 80000 entries */
	lgfs_sha256(cid, "abc", 3);
	assert_int_equal(lgfs_chunks_put(f->c, cid, "abc", 3), 0);
	m.count = 80000;
	m.entries = calloc(m.count, sizeof(*m.entries));
	content = calloc(1, 40000 * 5);
	for (i = 0; i < m.count; i++) {
		if (i % 2 == 0) {
			memcpy(m.entries[i].id, cid, 32);
			m.entries[i].len = 3;
			memcpy(content + off, "abc", 3);
		} else {
			m.entries[i].len = 2;
		}
		off += m.entries[i].len;
	}
	m.size = off;
	lgfs_sha256(m.sha256, content, off);
	assert_int_equal(lgfs_manifest_store(f->c, &m, id), 0);
	assert_int_equal(lgfs_chunks_get(f->c, id, &root), 0);
	assert_memory_equal(root.data, "LGMX", 4);
	assert_int_equal(root.len, 56 + 2 * 40);
	assert_int_equal(lgfs_manifest_load(&d, f->c, id), 0);
	assert_manifest_equal(&m, &d);
	lgfs_manifest_free(&d);
	assert_int_equal(lgfs_manifest_reader_open(&r, f->c, id), 0);
	assert_true(lgfs_manifest_reader_size(r) == off);
	for (i = 0; i < 3000; i++) {
		uint64_t o = rng_next(&s) % off;
		size_t len = rng_next(&s) % sizeof(buf), exp = len < off - o ? len : off - o;

		assert_int_equal(lgfs_manifest_reader_read(r, o, buf, len, &got), 0);
		assert_int_equal(got, exp);
		assert_memory_equal(buf, content + o, exp);
	}
	/* a read across the part boundary (entry 65536) */
	assert_int_equal(lgfs_manifest_reader_read(r, 32768 * 5 - 7, buf, 20, &got), 0);
	assert_memory_equal(buf, content + 32768 * 5 - 7, 20);
	lgfs_manifest_reader_free(r);
	/* a damaged root is refused */
	flip_object(f, id, 12 + 5);
	assert_int_equal(lgfs_manifest_load(&d, f->c, id), LGFS_ECORRUPT);
	lgfs_buf_free(&root);
	lgfs_manifest_free(&m);
	free(content);
}

/* A root whose fields disagree with its parts is refused, even when the
 * store has it intact (the hash only says the bytes are the ones stored). */
static void test_split_manifest_inconsistent(void **state)
{
	struct fixture *f = *state;
	struct lgfs_manifest m = { 0 }, d;
	struct lgfs_manifest_reader *r;
	struct lgfs_buf root = LGFS_BUF_INIT;
	uint8_t cid[32], id[32], id2[32];
	size_t i;

	lgfs_sha256(cid, "z", 1);
	assert_int_equal(lgfs_chunks_put(f->c, cid, "z", 1), 0);
	m.count = LGFS_MANIFEST_FLAT_MAX + 1;
	m.entries = calloc(m.count, sizeof(*m.entries));
	for (i = 0; i < m.count; i++) {
		memcpy(m.entries[i].id, cid, 32);
		m.entries[i].len = 1;
	}
	m.size = m.count;
	memset(m.sha256, 'z', 32);
	assert_int_equal(lgfs_manifest_store(f->c, &m, id), 0);
	assert_int_equal(lgfs_chunks_get(f->c, id, &root), 0);
	/* wrong entry count in the root, stored under its own (valid) hash */
	lgfs_be64_put(root.data + 44, m.count + 1);
	lgfs_sha256(id2, root.data, root.len);
	assert_int_equal(lgfs_chunks_put(f->c, id2, root.data, root.len), 0);
	assert_int_equal(lgfs_manifest_load(&d, f->c, id2), LGFS_ECORRUPT);
	assert_int_equal(lgfs_manifest_reader_open(&r, f->c, id2), LGFS_ECORRUPT);
	/* bytes covered by part 0 off by one */
	lgfs_be64_put(root.data + 44, m.count);
	lgfs_be64_put(root.data + 56 + 32, LGFS_MANIFEST_FLAT_MAX - 1);
	lgfs_be64_put(root.data + 56 + 40 + 32, 2);
	lgfs_sha256(id2, root.data, root.len);
	assert_int_equal(lgfs_chunks_put(f->c, id2, root.data, root.len), 0);
	assert_int_equal(lgfs_manifest_load(&d, f->c, id2), LGFS_ECORRUPT);
	lgfs_buf_free(&root);
	lgfs_manifest_free(&m);
}

/* Writer failures are sticky and reported. */
static void test_writer_store_failure(void **state)
{
	struct lgfs_chunks broken = { .version = 1, .scheme = "broken" };
	struct lgfs_chunk_writer *w;
	size_t n = 1u << 20;
	uint8_t *p = malloc(n), id[32];

	(void)state;
	fill_random(p, n, 3);
	assert_int_equal(lgfs_chunk_writer_new(&w, &broken), 0);
	assert_int_equal(lgfs_chunk_writer_write(w, p, n), LGFS_EINVAL); /* put unsupported */
	assert_int_equal(lgfs_chunk_writer_write(w, p, 10), LGFS_EINVAL);
	assert_int_equal(lgfs_chunk_writer_finish(w, id, NULL, NULL), LGFS_EINVAL);
	lgfs_chunk_writer_free(w);
	free(p);
}

/* The background writer gives the synchronous writer's manifest, whatever
 * the piece sizes (below, at and above its 1 MiB slots), with holes in
 * between (it drains first), and can be dropped unfinished. */
static void test_writer_async(void **state)
{
	struct fixture *f = *state;
	size_t n = (9u << 20) + 777, done = 0;
	uint8_t *p = malloc(n), id[32], id2[32], sha[32], sha2[32];
	struct lgfs_chunk_writer *w, *s;
	uint64_t size = 0, size2 = 0, seed = 5;
	static const size_t sizes[] = { 1, 4096, 131072, 1u << 20, (1u << 20) + 1, 3u << 20 };
	unsigned k;

	fill_random(p, n, 43);
	write_all_pieces(f->c, p, n, 0, id, &size, sha);
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		assert_int_equal(lgfs_chunk_writer_new_async(&w, f->c), 0);
		for (done = 0; done < n; ) {
			size_t piece = sizes[k] == 1 ? piece_random(&seed, done) : sizes[k];

			if (piece > n - done)
				piece = n - done;
			assert_int_equal(lgfs_chunk_writer_write(w, p + done, piece), 0);
			done += piece;
		}
		assert_int_equal(lgfs_chunk_writer_finish(w, id2, &size2, sha2), 0);
		assert_int_equal(lgfs_chunk_writer_write(w, "x", 1), LGFS_EINVAL); /* finished */
		lgfs_chunk_writer_free(w);
		assert_memory_equal(id, id2, 32);
		assert_memory_equal(sha, sha2, 32);
		assert_true(size2 == n);
	}

	/* data, hole, data: the same as the synchronous writer */
	assert_int_equal(lgfs_chunk_writer_new_async(&w, f->c), 0);
	assert_int_equal(lgfs_chunk_writer_new(&s, f->c), 0);
	assert_int_equal(lgfs_chunk_writer_write(w, p, 3u << 20), 0);
	assert_int_equal(lgfs_chunk_writer_write(s, p, 3u << 20), 0);
	assert_int_equal(lgfs_chunk_writer_hole(w, 5u << 20), 0);
	assert_int_equal(lgfs_chunk_writer_hole(s, 5u << 20), 0);
	assert_int_equal(lgfs_chunk_writer_write(w, p + 100, 2u << 20), 0);
	assert_int_equal(lgfs_chunk_writer_write(s, p + 100, 2u << 20), 0);
	assert_int_equal(lgfs_chunk_writer_finish(w, id, &size, sha), 0);
	assert_int_equal(lgfs_chunk_writer_finish(s, id2, &size2, sha2), 0);
	assert_memory_equal(id, id2, 32);
	assert_memory_equal(sha, sha2, 32);
	assert_true(size == (10u << 20) && size2 == size);
	lgfs_chunk_writer_free(w);
	lgfs_chunk_writer_free(s);

	/* dropped with queued data: no hang, no leak (the sanitizer build checks) */
	assert_int_equal(lgfs_chunk_writer_new_async(&w, f->c), 0);
	assert_int_equal(lgfs_chunk_writer_write(w, p, n), 0);
	lgfs_chunk_writer_free(w);
	free(p);
}

/* A failure of the background work reaches the caller at a later call,
 * with its message, and stays. */
static void test_writer_async_failure(void **state)
{
	struct lgfs_chunks broken = { .version = 1, .scheme = "broken" };
	struct lgfs_chunk_writer *w;
	size_t n = 8u << 20, done = 0;
	uint8_t *p = malloc(n), id[32];
	int rc = 0;

	(void)state;
	fill_random(p, n, 4);
	assert_int_equal(lgfs_chunk_writer_new_async(&w, &broken), 0);
	/* the ring holds a few MiB: writing more than that must see the error */
	while (done < n && rc == 0) {
		rc = lgfs_chunk_writer_write(w, p + done, 1u << 20);
		done += 1u << 20;
	}
	if (rc == 0)
		rc = lgfs_chunk_writer_finish(w, id, NULL, NULL);
	assert_int_equal(rc, LGFS_EINVAL); /* put unsupported */
	assert_non_null(strstr(lgfs_error_last(), "put"));
	assert_int_equal(lgfs_chunk_writer_write(w, p, 10), LGFS_EINVAL);
	assert_int_equal(lgfs_chunk_writer_finish(w, id, NULL, NULL), LGFS_EINVAL);
	lgfs_chunk_writer_free(w);
	free(p);
}

/* A store that passes everything to a real one, except one id that reads
 * as corrupt; it counts get_many calls. */
struct wrap {
	struct lgfs_chunks base;
	struct lgfs_chunks *inner;
	uint8_t bad[32];
	int many;
};

static int wrap_get(struct lgfs_chunks *c, const uint8_t id[32], struct lgfs_buf *out)
{
	struct wrap *w = (struct wrap *)c;

	if (memcmp(id, w->bad, 32) == 0) {
		lgfs_buf_reset(out);
		return lgfs_error_set(LGFS_ECORRUPT, "chunk is corrupt (test)");
	}
	return lgfs_chunks_get(w->inner, id, out);
}

static int wrap_get_many(struct lgfs_chunks *c, const uint8_t (*ids)[32], size_t n, struct lgfs_buf *outs,
			 int *rcs)
{
	struct wrap *w = (struct wrap *)c;
	size_t i;

	__atomic_add_fetch(&w->many, 1, __ATOMIC_RELAXED);
	for (i = 0; i < n; i++)
		rcs[i] = wrap_get(c, ids[i], &outs[i]);
	return 0;
}

/* A sequential reader reads ahead (get_many) and still reports a bad chunk
 * exactly where it is, with its message; reads after it, and jumps back,
 * give the right bytes. */
static void test_reader_read_ahead(void **state)
{
	struct fixture *f = *state;
	size_t n = 16u << 20, off = 0, got, bad_off = 0, i;
	uint8_t *p = malloc(n), *back = malloc(128u << 10), id[32];
	struct wrap w = { .base = { .version = 2, .scheme = "wrap", .get = wrap_get, .get_many = wrap_get_many } };
	struct lgfs_manifest_reader *r;
	struct lgfs_manifest m;
	int rc = 0;

	fill_random(p, n, 44);
	write_all_pieces(f->c, p, n, 0, id, NULL, NULL);
	assert_int_equal(lgfs_manifest_load(&m, f->c, id), 0);
	assert_true(m.count > 120);
	for (i = 0; i < 100; i++)
		bad_off += m.entries[i].len;
	memcpy(w.bad, m.entries[100].id, 32);
	w.inner = f->c;
	assert_int_equal(lgfs_manifest_reader_open(&r, &w.base, id), 0);
	while (off < n) {
		rc = lgfs_manifest_reader_read(r, off, back, 128u << 10, &got);
		if (rc)
			break;
		assert_int_equal(got, 128u << 10);
		assert_memory_equal(back, p + off, got);
		off += got;
	}
	assert_int_equal(rc, LGFS_ECORRUPT);
	assert_non_null(strstr(lgfs_error_last(), "corrupt (test)"));
	assert_true(off <= bad_off && bad_off < off + (128u << 10));
	assert_true(w.many > 0);
	/* past the bad chunk, and back to the start */
	off = bad_off + m.entries[100].len;
	assert_int_equal(lgfs_manifest_reader_read(r, off, back, 4096, &got), 0);
	assert_memory_equal(back, p + off, 4096);
	assert_int_equal(lgfs_manifest_reader_read(r, 10, back, 4096, &got), 0);
	assert_memory_equal(back, p + 10, 4096);
	lgfs_manifest_reader_free(r);
	lgfs_manifest_free(&m);
	free(p);
	free(back);
}


/* SHA-256 of `zeros` zero bytes then tail (n bytes). */
static void sha_zeros_then(uint8_t out[32], uint64_t zeros, const void *tail, size_t n)
{
	static const uint8_t z[1 << 20];
	struct lgfs_sha256_ctx *h = lgfs_sha256_ctx_new();

	assert_non_null(h);
	while (zeros) {
		size_t k = zeros < sizeof(z) ? (size_t)zeros : sizeof(z);

		lgfs_sha256_ctx_update(h, z, k);
		zeros -= k;
	}
	lgfs_sha256_ctx_update(h, tail, n);
	lgfs_sha256_ctx_final(h, out);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The whole-content hash rule: holes up to LGFS_HOLE_HASH_MAX are hashed,
 * beyond it the hash is 32 zero bytes and costs nothing; both writer modes. */
static void test_writer_hole_hash_rule(void **state)
{
	static const uint8_t zero[32];
	struct fixture *f = *state;
	struct lgfs_chunk_writer *w;
	struct lgfs_manifest m;
	uint8_t id[32], sha[32], want[32];
	uint64_t size;
	double t0;
	int async;

	/* exactly at the bound: computed, and equal to hashing the zeros */
	assert_int_equal(lgfs_chunk_writer_new(&w, f->c), 0);
	assert_int_equal(lgfs_chunk_writer_hole(w, LGFS_HOLE_HASH_MAX / 2), 0);
	assert_int_equal(lgfs_chunk_writer_write(w, "x", 1), 0);
	assert_int_equal(lgfs_chunk_writer_hole(w, LGFS_HOLE_HASH_MAX / 2), 0);
	assert_int_equal(lgfs_chunk_writer_finish(w, id, &size, sha), 0);
	lgfs_chunk_writer_free(w);
	{
		struct lgfs_sha256_ctx *h = lgfs_sha256_ctx_new();
		static const uint8_t z[1 << 20];
		uint64_t left;

		for (left = LGFS_HOLE_HASH_MAX / 2; left; left -= sizeof(z))
			lgfs_sha256_ctx_update(h, z, sizeof(z));
		lgfs_sha256_ctx_update(h, "x", 1);
		for (left = LGFS_HOLE_HASH_MAX / 2; left; left -= sizeof(z))
			lgfs_sha256_ctx_update(h, z, sizeof(z));
		lgfs_sha256_ctx_final(h, want);
	}
	assert_memory_equal(sha, want, 32);
	assert_int_equal(lgfs_manifest_load(&m, f->c, id), 0);
	assert_memory_equal(m.sha256, want, 32);
	assert_true(lgfs_manifest_holes(&m) == LGFS_HOLE_HASH_MAX);
	assert_int_equal(lgfs_manifest_hash_checked(&m), 1);
	lgfs_manifest_free(&m);

	/* one byte of holes more, in pieces, both modes: not computed. 100 GiB
	 * of holes costs no hashing: well under a second. */
	for (async = 0; async < 2; async++) {
		t0 = now_s();
		assert_int_equal(async ? lgfs_chunk_writer_new_async(&w, f->c) : lgfs_chunk_writer_new(&w, f->c), 0);
		assert_int_equal(lgfs_chunk_writer_write(w, "head", 4), 0);
		assert_int_equal(lgfs_chunk_writer_hole(w, LGFS_HOLE_HASH_MAX - 10), 0);
		assert_int_equal(lgfs_chunk_writer_hole(w, 11), 0);
		assert_int_equal(lgfs_chunk_writer_write(w, "tail", 4), 0);
		assert_int_equal(lgfs_chunk_writer_hole(w, 100ull << 30), 0);
		assert_int_equal(lgfs_chunk_writer_write(w, "end", 3), 0);
		assert_int_equal(lgfs_chunk_writer_finish(w, id, &size, sha), 0);
		lgfs_chunk_writer_free(w);
		assert_memory_equal(sha, zero, 32);
		assert_true(size == 4 + LGFS_HOLE_HASH_MAX + 1 + 4 + (100ull << 30) + 3);
		assert_int_equal(lgfs_manifest_load(&m, f->c, id), 0);
		assert_memory_equal(m.sha256, zero, 32);
		assert_int_equal(lgfs_manifest_hash_checked(&m), 0);
		lgfs_manifest_free(&m);
		/* the first hole (hashed up to the bound) is the only cost */
		assert_true(now_s() - t0 < 5.0);
	}
	/* a file of nothing but a huge hole: no hashing at all */
	t0 = now_s();
	assert_int_equal(lgfs_chunk_writer_new(&w, f->c), 0);
	assert_int_equal(lgfs_chunk_writer_hole(w, LGFS_FILE_SIZE_MAX), 0);
	assert_int_equal(lgfs_chunk_writer_finish(w, id, &size, sha), 0);
	lgfs_chunk_writer_free(w);
	assert_true(now_s() - t0 < 1.0);
	assert_true(size == LGFS_FILE_SIZE_MAX);
	assert_memory_equal(sha, zero, 32);
	{
		struct lgfs_manifest_reader *r;
		uint8_t buf[64], z64[64] = { 0 };
		size_t got;

		assert_int_equal(lgfs_manifest_reader_open(&r, f->c, id), 0);
		assert_int_equal(lgfs_manifest_reader_read(r, LGFS_FILE_SIZE_MAX - 64, buf, 64, &got), 0);
		assert_int_equal(got, 64);
		assert_memory_equal(buf, z64, 64);
		lgfs_manifest_reader_free(r);
	}
	/* small holes are still hashed */
	assert_int_equal(lgfs_chunk_writer_new(&w, f->c), 0);
	assert_int_equal(lgfs_chunk_writer_hole(w, 5000), 0);
	assert_int_equal(lgfs_chunk_writer_write(w, "abc", 3), 0);
	assert_int_equal(lgfs_chunk_writer_finish(w, id, NULL, sha), 0);
	lgfs_chunk_writer_free(w);
	sha_zeros_then(want, 5000, "abc", 3);
	assert_memory_equal(sha, want, 32);
}

/* No content past LGFS_FILE_SIZE_MAX, by data or by holes. */
static void test_writer_size_limit(void **state)
{
	struct fixture *f = *state;
	struct lgfs_chunk_writer *w;
	uint8_t id[32];
	int async;

	for (async = 0; async < 2; async++) {
		assert_int_equal(async ? lgfs_chunk_writer_new_async(&w, f->c) : lgfs_chunk_writer_new(&w, f->c), 0);
		assert_int_equal(lgfs_chunk_writer_hole(w, LGFS_FILE_SIZE_MAX - 1), 0);
		assert_int_equal(lgfs_chunk_writer_write(w, "ab", 2), LGFS_ERANGE);
		assert_int_equal(lgfs_chunk_writer_finish(w, id, NULL, NULL), LGFS_ERANGE); /* sticky */
		lgfs_chunk_writer_free(w);
	}
	assert_int_equal(lgfs_chunk_writer_new(&w, f->c), 0);
	assert_int_equal(lgfs_chunk_writer_write(w, "a", 1), 0);
	assert_int_equal(lgfs_chunk_writer_hole(w, LGFS_FILE_SIZE_MAX), LGFS_ERANGE);
	lgfs_chunk_writer_free(w);
	assert_int_equal(lgfs_chunk_writer_new(&w, f->c), 0);
	assert_int_equal(lgfs_chunk_writer_hole(w, UINT64_MAX), LGFS_ERANGE);
	lgfs_chunk_writer_free(w);
	/* exactly the maximum is fine */
	assert_int_equal(lgfs_chunk_writer_new(&w, f->c), 0);
	assert_int_equal(lgfs_chunk_writer_hole(w, LGFS_FILE_SIZE_MAX - 1), 0);
	assert_int_equal(lgfs_chunk_writer_write(w, "a", 1), 0);
	assert_int_equal(lgfs_chunk_writer_finish(w, id, NULL, NULL), 0);
	lgfs_chunk_writer_free(w);
}

/* Decoders follow the hash rule: an all-zero hash is refused unless the holes
 * pass the bound; a computed hash is accepted either way. */
static void test_manifest_hash_rule(void **state)
{
	struct fixture *f = *state;
	struct lgfs_manifest m = { 0 }, d;
	struct lgfs_manifest_entry e[3];
	struct lgfs_manifest_reader *r;
	struct lgfs_buf enc = LGFS_BUF_INIT;
	uint8_t cid[32], id[32];

	lgfs_sha256(cid, "q", 1);
	assert_int_equal(lgfs_chunks_put(f->c, cid, "q", 1), 0);
	memset(e, 0, sizeof(e));
	memcpy(e[0].id, cid, 32);
	e[0].len = 1;
	e[1].len = LGFS_HOLE_MAX; /* holes: 2 GiB + 1 > the bound */
	e[2].len = 1;
	m.entries = e;
	m.count = 3;
	m.size = 1 + (uint64_t)LGFS_HOLE_MAX + 1;
	assert_int_equal(lgfs_manifest_holes(&m), (uint64_t)LGFS_HOLE_MAX + 1);
	assert_int_equal(lgfs_manifest_hash_checked(&m), 0);
	/* zero hash, holes above the bound: fine everywhere */
	assert_int_equal(lgfs_manifest_encode(&enc, &m), 0);
	assert_int_equal(lgfs_manifest_decode(&d, enc.data, enc.len), 0);
	lgfs_manifest_free(&d);
	assert_int_equal(lgfs_manifest_store(f->c, &m, id), 0);
	assert_int_equal(lgfs_manifest_load(&d, f->c, id), 0);
	lgfs_manifest_free(&d);
	assert_int_equal(lgfs_manifest_reader_open(&r, f->c, id), 0);
	lgfs_manifest_reader_free(r);
	/* a computed hash there (an older writer's) is accepted too */
	memset(m.sha256, 7, 32);
	lgfs_buf_reset(&enc);
	assert_int_equal(lgfs_manifest_encode(&enc, &m), 0);
	assert_int_equal(lgfs_manifest_decode(&d, enc.data, enc.len), 0);
	lgfs_manifest_free(&d);
	/* holes at most the bound: the zero hash is refused by the encoder, and
	 * by every decoder when stored anyway */
	memset(m.sha256, 0, 32);
	e[1].len = LGFS_HOLE_HASH_MAX - 1;
	m.size = 1 + LGFS_HOLE_HASH_MAX - 1 + 1;
	assert_int_equal(lgfs_manifest_hash_checked(&m), 1);
	lgfs_buf_reset(&enc);
	assert_int_equal(lgfs_manifest_encode(&enc, &m), LGFS_EINVAL);
	assert_int_equal(lgfs_manifest_store(f->c, &m, id), LGFS_EINVAL);
	lgfs_buf_reset(&enc);
	lgfs_buf_put(&enc, "LGM1", 4);
	lgfs_buf_put_u64(&enc, m.size);
	lgfs_buf_put(&enc, m.sha256, 32);
	lgfs_buf_put_u32(&enc, 3);
	for (int i = 0; i < 3; i++) {
		lgfs_buf_put(&enc, e[i].id, 32);
		lgfs_buf_put_u32(&enc, e[i].len);
	}
	assert_int_equal(lgfs_manifest_decode(&d, enc.data, enc.len), LGFS_ECORRUPT);
	assert_null(d.entries);
	lgfs_sha256(id, enc.data, enc.len);
	assert_int_equal(lgfs_chunks_put(f->c, id, enc.data, enc.len), 0);
	assert_int_equal(lgfs_manifest_load(&d, f->c, id), LGFS_ECORRUPT);
	assert_int_equal(lgfs_manifest_reader_open(&r, f->c, id), LGFS_ECORRUPT);
	lgfs_buf_free(&enc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gear_table),
		cmocka_unit_test(test_stream_equals_oneshot),
		cmocka_unit_test(test_min_max),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_distribution),
		cmocka_unit_test(test_edit_in_middle),
		cmocka_unit_test(test_insertion_is_local),
		cmocka_unit_test(test_manifest_roundtrip),
		cmocka_unit_test(test_manifest_decode_rejects),
		cmocka_unit_test(test_manifest_encode_rejects),
		cmocka_unit_test_setup_teardown(test_manifest_1gib, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_corrupt_chunk, setup_dir, teardown),
		cmocka_unit_test_setup_teardown(test_split_manifest, setup_dir, teardown),
		cmocka_unit_test_setup_teardown(test_split_manifest_inconsistent, setup, teardown),
		cmocka_unit_test(test_writer_store_failure),
		cmocka_unit_test_setup_teardown(test_writer_async, setup, teardown),
		cmocka_unit_test(test_writer_async_failure),
		cmocka_unit_test_setup_teardown(test_reader_read_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_hole_hash_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_size_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_hash_rule, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
