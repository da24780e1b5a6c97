/*
 * test_chunks_pack.c — unit tests of the pack-file chunk store (store
 * layer), the default for file:// URIs: the bytes on disk as FORMAT.md §10
 * describes them, recovery at open (torn tails, damage, stale or missing
 * index), fault injection through lgfs_sys, concurrency, pack rolls and the
 * URI dispatch. Each test gets a fresh store in a temporary directory under
 * /tmp, removed afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <lmdb.h>
#include <zstd.h>

#include "ledgerfs/buf.h"
#include "ledgerfs/chunks.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/sys.h"

#define PACK_HDR 16
#define OBJ_HDR 48
#define OBJ_TRAILER 4

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
	unsetenv("LEDGERFS_PACK_BYTES");
	strcpy(f->dir, "/tmp/lgfs-test-pack-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 1), 0);
	assert_string_equal(f->c->scheme, "file");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	lgfs_sys_reset();
	unsetenv("LEDGERFS_PACK_BYTES");
	lgfs_chunks_close(f->c);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Close and open again (a clean restart, without sync unless the test did). */
static void reopen(struct fixture *f)
{
	lgfs_chunks_close(f->c);
	f->c = NULL;
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), 0);
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

/* Reference CRC-32C, bit by bit, written from the definition (reflected
 * polynomial 0x82F63B78, init and final xor 0xFFFFFFFF), independent of the
 * store's table and SSE4.2 code. */
static uint32_t ref_crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	int k;

	while (n--) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

static void pack_path(char *out, size_t cap, const struct fixture *f, uint32_t n)
{
	snprintf(out, cap, "%s/packs/%08u.pack", f->dir, n);
}

/* Size of pack n, or -1 if it does not exist. */
static off_t pack_size(const struct fixture *f, uint32_t n)
{
	char path[256];
	struct stat st;

	pack_path(path, sizeof(path), f, n);
	if (stat(path, &st) != 0)
		return -1;
	return st.st_size;
}

static int count_packs(const struct fixture *f)
{
	int n = 0;

	while (pack_size(f, (uint32_t)n) >= 0)
		n++;
	return n;
}

/* One object of a pack, as an independent reader per FORMAT.md §10 sees it. */
struct obj {
	uint64_t off;   /* of its header */
	uint64_t total; /* header + payload + check */
	uint8_t fmt;
	uint32_t plain, stored;
	uint8_t id[32];
};

/* Read a whole file. */
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

/* Parse pack n strictly by the spec: the header, then valid objects up to
 * exactly the end of the file. Returns the object count (<= max). */
static int parse_pack(const struct fixture *f, uint32_t n, struct obj *o, int max)
{
	char path[256];
	size_t len, pos = PACK_HDR;
	uint8_t *p;
	int cnt = 0;

	pack_path(path, sizeof(path), f, n);
	p = slurp(path, &len);
	assert_true(len >= PACK_HDR);
	assert_memory_equal(p, "LGPK", 4);
	assert_int_equal(lgfs_be32_get(p + 4), 1);
	assert_int_equal(lgfs_be32_get(p + 8), n);
	assert_int_equal(lgfs_be32_get(p + 12), 0);
	while (pos < len) {
		struct obj x;

		assert_true(len - pos >= OBJ_HDR + OBJ_TRAILER);
		assert_memory_equal(p + pos, "LGCP", 4);
		x.off = pos;
		x.fmt = p[pos + 4];
		assert_true(x.fmt <= 1);
		assert_int_equal(p[pos + 5] | p[pos + 6] | p[pos + 7], 0);
		x.plain = lgfs_be32_get(p + pos + 8);
		x.stored = lgfs_be32_get(p + pos + 12);
		memcpy(x.id, p + pos + 16, 32);
		if (x.fmt == 0)
			assert_int_equal(x.stored, x.plain);
		x.total = OBJ_HDR + (uint64_t)x.stored + OBJ_TRAILER;
		assert_true(x.total <= len - pos);
		assert_int_equal(ref_crc32c(p + pos, OBJ_HDR + x.stored),
				 lgfs_be32_get(p + pos + OBJ_HDR + x.stored));
		if (cnt < max)
			o[cnt] = x;
		cnt++;
		pos += x.total;
	}
	assert_int_equal(pos, len);
	free(p);
	return cnt;
}

/* Where id is in pack n (asserts that it is there). */
static struct obj find_obj(const struct fixture *f, uint32_t n, const uint8_t id[32])
{
	struct obj o[512];
	int cnt = parse_pack(f, n, o, 512), i;

	assert_true(cnt <= 512);
	for (i = 0; i < cnt; i++)
		if (memcmp(o[i].id, id, 32) == 0)
			return o[i];
	fail_msg("object not found in pack %u", n);
	return o[0];
}

/* Damage a pack in place: xor one byte. */
static void flip(const struct fixture *f, uint32_t n, uint64_t off)
{
	char path[256];
	uint8_t b;
	int fd;

	pack_path(path, sizeof(path), f, n);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x20;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

static void pack_truncate(const struct fixture *f, uint32_t n, off_t len)
{
	char path[256];

	pack_path(path, sizeof(path), f, n);
	assert_int_equal(truncate(path, len), 0);
}

static void pack_append(const struct fixture *f, uint32_t n, const void *p, size_t len)
{
	char path[256];
	int fd;

	pack_path(path, sizeof(path), f, n);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	close(fd);
}

static void put_ok(struct fixture *f, const uint8_t *p, size_t n, uint8_t id[32])
{
	lgfs_sha256(id, p, n);
	assert_int_equal(lgfs_chunks_put(f->c, id, p, n), 0);
}

static void get_equal(struct lgfs_chunks *c, const uint8_t id[32], const uint8_t *p, size_t n)
{
	struct lgfs_buf b = LGFS_BUF_INIT;

	assert_int_equal(lgfs_chunks_get(c, id, &b), 0);
	assert_int_equal(b.len, n);
	if (n)
		assert_memory_equal(b.data, p, n);
	lgfs_buf_free(&b);
}

/* The failure must name the chunk, and no bytes may come back. */
static void get_fails(struct lgfs_chunks *c, const uint8_t id[32], int code)
{
	struct lgfs_buf b = LGFS_BUF_INIT;
	char hex[65];

	lgfs_hex(hex, id, 32);
	lgfs_buf_put(&b, "junk", 4);
	assert_int_equal(lgfs_chunks_get(c, id, &b), code);
	assert_int_equal(b.len, 0);
	assert_non_null(strstr(lgfs_error_last(), hex));
	lgfs_buf_free(&b);
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

/* iterate must list exactly `want` (n ids), each once. */
static void iterate_exact(struct lgfs_chunks *c, uint8_t (*want)[32], int n)
{
	struct idset s = { 0 };
	uint8_t (*w)[32] = malloc((size_t)(n ? n : 1) * 32);

	s.cap = n + 16;
	s.ids = malloc((size_t)s.cap * 32);
	assert_int_equal(lgfs_chunks_iterate(c, collect_cb, &s), 0);
	assert_int_equal(s.n, n);
	memcpy(w, want, (size_t)n * 32);
	qsort(w, (size_t)n, 32, cmp_id);
	qsort(s.ids, (size_t)n, 32, cmp_id);
	assert_memory_equal(w, s.ids, (size_t)n * 32);
	free(s.ids);
	free(w);
}

/* ---------------------------------------------------------------------- */

/* The bytes on disk are exactly what FORMAT.md §10 says. */
static void test_format(void **state)
{
	struct fixture *f = *state;
	size_t nr = 100000, nt = 200000;
	uint8_t *r = malloc(nr), *t = malloc(nt), *z, idr[32], idt[32], ide[32];
	struct obj o[4];
	char path[256];
	size_t len;
	uint8_t *pk;

	assert_int_equal(ref_crc32c((const uint8_t *)"123456789", 9), 0xe3069283u);
	fill_random(r, nr, 1);
	fill_text(t, nt, 3);
	put_ok(f, r, nr, idr);
	put_ok(f, t, nt, idt);
	put_ok(f, (const uint8_t *)"", 0, ide);
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	assert_int_equal(parse_pack(f, 0, o, 4), 3);
	/* in put order, back to back */
	assert_int_equal(o[0].off, PACK_HDR);
	assert_memory_equal(o[0].id, idr, 32);
	assert_int_equal(o[0].fmt, 0);
	assert_int_equal(o[0].plain, nr);
	assert_memory_equal(o[1].id, idt, 32);
	assert_int_equal(o[1].off, o[0].off + o[0].total);
	assert_int_equal(o[1].fmt, 1);
	assert_int_equal(o[1].plain, nt);
	assert_true(o[1].stored < nt / 4);
	assert_memory_equal(o[2].id, ide, 32);
	assert_int_equal(o[2].total, OBJ_HDR + OBJ_TRAILER);
	/* payloads: the raw bytes; one zstd frame of the text */
	pack_path(path, sizeof(path), f, 0);
	pk = slurp(path, &len);
	assert_memory_equal(pk + o[0].off + OBJ_HDR, r, nr);
	z = malloc(nt);
	assert_int_equal(ZSTD_decompress(z, nt, pk + o[1].off + OBJ_HDR, o[1].stored), nt);
	assert_memory_equal(z, t, nt);
	snprintf(path, sizeof(path), "%s/index/data.mdb", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	get_equal(f->c, idr, r, nr);
	get_equal(f->c, idt, t, nt);
	get_equal(f->c, ide, NULL, 0);
	free(pk);
	free(z);
	free(r);
	free(t);
}

static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	size_t n = 256 << 10;
	uint8_t *p = malloc(n), id[4][32], small[3000];

	fill_text(p, n, 1);
	fill_random(p + n / 8 * 7, n / 8, 9); /* 7/8 text: compressed */
	put_ok(f, p, n, id[0]);
	assert_int_equal(find_obj(f, 0, id[0]).fmt, 1);
	get_equal(f->c, id[0], p, n);
	fill_random(p, n, 10);
	fill_text(p + n - n / 16, n / 16, 2); /* 1/16 text: not worth it */
	put_ok(f, p, n, id[1]);
	assert_int_equal(find_obj(f, 0, id[1]).fmt, 0);
	get_equal(f->c, id[1], p, n);
	put_ok(f, (const uint8_t *)"x", 1, id[2]);
	fill_text(small, sizeof(small), 0);
	put_ok(f, small, sizeof(small), id[3]);
	get_equal(f->c, id[2], (const uint8_t *)"x", 1);
	get_equal(f->c, id[3], small, sizeof(small));
	assert_int_equal(lgfs_chunks_has(f->c, id[3]), 1);
	/* and after a restart, from the index */
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	reopen(f);
	get_equal(f->c, id[1], p, n);
	get_equal(f->c, id[3], small, sizeof(small));
	free(p);
}

static void test_idempotent_put(void **state)
{
	struct fixture *f = *state;
	uint8_t p[5000], id[32];
	off_t sz;

	fill_random(p, sizeof(p), 4);
	put_ok(f, p, sizeof(p), id);
	sz = pack_size(f, 0);
	put_ok(f, p, sizeof(p), id);
	put_ok(f, p, sizeof(p), id);
	assert_int_equal(pack_size(f, 0), sz);
	iterate_exact(f->c, &id, 1);
	/* present in the index (after a restart) is a no-op too */
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	reopen(f);
	put_ok(f, p, sizeof(p), id);
	assert_int_equal(pack_size(f, 0), sz);
	iterate_exact(f->c, &id, 1);
	get_equal(f->c, id, p, sizeof(p));
}

/* A flipped byte anywhere in a stored object: get fails naming the chunk,
 * never returns wrong bytes; other chunks are unaffected. */
static void test_flip(void **state)
{
	struct fixture *f = *state;
	size_t n = 100000;
	uint8_t *t = malloc(n), r[70000], idt[32], idr[32];
	struct obj ot, orr;
	uint64_t i;

	fill_random(r, sizeof(r), 5);
	fill_text(t, n, 6);
	put_ok(f, r, sizeof(r), idr);
	put_ok(f, t, n, idt);
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	reopen(f); /* read through the index */
	orr = find_obj(f, 0, idr);
	ot = find_obj(f, 0, idt);
	assert_int_equal(ot.fmt, 1);
	flip(f, 0, orr.off + OBJ_HDR + 12345);
	get_fails(f->c, idr, LGFS_ECORRUPT);
	assert_int_equal(lgfs_chunks_has(f->c, idr), 1); /* has() does not verify */
	get_equal(f->c, idt, t, n);
	flip(f, 0, orr.off + OBJ_HDR + 12345);
	get_equal(f->c, idr, r, sizeof(r));
	/* every byte of the compressed object's header and payload */
	for (i = 0; i < OBJ_HDR + ot.stored; i++) {
		flip(f, 0, ot.off + i);
		get_fails(f->c, idt, LGFS_ECORRUPT);
		flip(f, 0, ot.off + i);
	}
	get_equal(f->c, idt, t, n);
	free(t);
}

/* get_many gives what get gives, chunk by chunk, for runs read in one go
 * (raw and compressed objects, unsynced and synced), gaps, repeats, order
 * changes, a missing id and a damaged object among good ones. */
static void test_get_many(void **state)
{
	struct fixture *f = *state;
	enum { N = 40 };
	uint8_t *data[N], ids[N + 4][32];
	size_t len[N], i, n;
	struct lgfs_buf outs[N + 4];
	int rcs[N + 4], round;
	struct obj o;

	memset(outs, 0, sizeof(outs));
	for (i = 0; i < N; i++) {
		len[i] = 1000 + (i * 7919) % 200000;
		data[i] = malloc(len[i]);
		if (i % 3 == 0)
			fill_text(data[i], len[i], (unsigned)i);
		else
			fill_random(data[i], len[i], 100 + i);
		put_ok(f, data[i], len[i], ids[i]);
	}
	/* after the N in order: a repeat, an earlier one, a missing one, the last */
	memcpy(ids[N], ids[5], 32);
	memcpy(ids[N + 1], ids[2], 32);
	lgfs_sha256(ids[N + 2], "not stored", 10);
	memcpy(ids[N + 3], ids[N - 1], 32);
	n = N + 4;
	for (round = 0; round < 3; round++) {
		if (round == 1) { /* durable, read through a new handle */
			assert_int_equal(lgfs_chunks_sync(f->c), 0);
			reopen(f);
		}
		if (round == 2) { /* damage one object in the middle of a run */
			o = find_obj(f, 0, ids[10]);
			flip(f, 0, o.off + OBJ_HDR + 7);
		}
		lgfs_chunks_get_many(f->c, (const uint8_t(*)[32])ids, n, outs, rcs);
		for (i = 0; i < n; i++) {
			size_t k = i < N ? i : i == N ? 5 : i == N + 1 ? 2 : N - 1;

			if (i == N + 2) {
				assert_int_equal(rcs[i], LGFS_ENOTFOUND);
				continue;
			}
			if (round == 2 && k == 10) {
				assert_int_equal(rcs[i], LGFS_ECORRUPT);
				assert_int_equal(outs[i].len, 0);
				continue;
			}
			assert_int_equal(rcs[i], 0);
			assert_int_equal(outs[i].len, len[k]);
			assert_memory_equal(outs[i].data, data[k], len[k]);
		}
	}
	for (i = 0; i < N; i++)
		free(data[i]);
	for (i = 0; i < n; i++)
		lgfs_buf_free(&outs[i]);
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
	get_fails(f->c, id, LGFS_ECORRUPT);
}

static void test_missing(void **state)
{
	struct fixture *f = *state;
	uint8_t id[32], p[100];

	lgfs_sha256(id, "nothing", 7);
	assert_int_equal(lgfs_chunks_has(f->c, id), 0);
	get_fails(f->c, id, LGFS_ENOTFOUND);
	fill_random(p, sizeof(p), 13);
	put_ok(f, p, sizeof(p), id);
	id[31] ^= 1;
	assert_int_equal(lgfs_chunks_has(f->c, id), 0);
	get_fails(f->c, id, LGFS_ENOTFOUND);
	assert_int_equal(lgfs_chunks_put(f->c, id, "", (size_t)LGFS_CHUNK_MAX + 1), LGFS_EINVAL);
}

/* A torn tail (an incomplete object, zeros, a partial header, a complete
 * last object failing its check) is cut at open; earlier objects stay,
 * puts continue after them. */
static void test_torn_tail(void **state)
{
	struct fixture *f = *state;
	uint8_t p[4][30000], id[4][32], zeros[5000] = { 0 };
	struct obj oc;
	off_t good;
	int i;

	for (i = 0; i < 4; i++)
		fill_random(p[i], sizeof(p[i]), 20 + i);
	put_ok(f, p[0], sizeof(p[0]), id[0]);
	put_ok(f, p[1], sizeof(p[1]), id[1]);
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	good = pack_size(f, 0);
	put_ok(f, p[2], sizeof(p[2]), id[2]); /* never synced */
	oc = find_obj(f, 0, id[2]);
	lgfs_chunks_close(f->c);
	f->c = NULL;

	/* the write of C only half reached the disk */
	pack_truncate(f, 0, (off_t)(oc.off + oc.total / 2));
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), 0);
	assert_int_equal(pack_size(f, 0), good);
	assert_int_equal(lgfs_chunks_has(f->c, id[2]), 0);
	get_fails(f->c, id[2], LGFS_ENOTFOUND);
	get_equal(f->c, id[0], p[0], sizeof(p[0]));
	get_equal(f->c, id[1], p[1], sizeof(p[1]));

	/* zeros (size reached the disk, data did not), then a partial header */
	lgfs_chunks_close(f->c);
	pack_append(f, 0, zeros, sizeof(zeros));
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), 0);
	assert_int_equal(pack_size(f, 0), good);
	lgfs_chunks_close(f->c);
	pack_append(f, 0, "LGCP\0\0", 6);
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), 0);
	assert_int_equal(pack_size(f, 0), good);

	/* a complete last object whose check fails is damage, not an
	 * incomplete write: the writer refuses and cuts nothing; a reader
	 * reports it; once it is gone (here: cut by hand, as a repair would)
	 * the writer goes on */
	put_ok(f, p[2], sizeof(p[2]), id[2]);
	oc = find_obj(f, 0, id[2]);
	lgfs_chunks_close(f->c);
	f->c = NULL;
	flip(f, 0, oc.off + OBJ_HDR + 100);
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), LGFS_ECORRUPT);
	assert_null(f->c);
	assert_non_null(strstr(lgfs_error_last(), "fails its check"));
	assert_int_equal(pack_size(f, 0), (off_t)(oc.off + oc.total));
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, LGFS_CHUNKS_RDONLY), 0);
	assert_int_equal(lgfs_chunks_has(f->c, id[2]), 0);
	get_equal(f->c, id[0], p[0], sizeof(p[0]));
	lgfs_chunks_close(f->c);
	f->c = NULL;
	assert_int_equal(pack_size(f, 0), (off_t)(oc.off + oc.total));
	pack_truncate(f, 0, good);
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), 0);
	assert_int_equal(lgfs_chunks_has(f->c, id[2]), 0);

	/* puts go on after the last good object */
	put_ok(f, p[2], sizeof(p[2]), id[2]);
	put_ok(f, p[3], sizeof(p[3]), id[3]);
	assert_int_equal(find_obj(f, 0, id[2]).off, (uint64_t)good);
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	reopen(f);
	for (i = 0; i < 4; i++)
		get_equal(f->c, id[i], p[i], sizeof(p[i]));
	iterate_exact(f->c, id, 4);
	assert_int_equal(parse_pack(f, 0, NULL, 0), 4);
}

/* Damage in the middle of the unindexed part of a pack is reported, not
 * cut: get names the chunk, iterate lists what is intact, a put of the
 * damaged chunk stores it again. */
static void test_damage_middle(void **state)
{
	struct fixture *f = *state;
	uint8_t p[3][20000], id[3][32], two[2][32];
	struct obj ob;
	off_t sz;
	int i;

	for (i = 0; i < 3; i++) {
		fill_random(p[i], sizeof(p[i]), 40 + i);
		put_ok(f, p[i], sizeof(p[i]), id[i]);
	}
	/* not synced: nothing is in the index, the scan at open finds all */
	ob = find_obj(f, 0, id[1]);
	lgfs_chunks_close(f->c);
	f->c = NULL;
	sz = pack_size(f, 0);
	flip(f, 0, ob.off + OBJ_HDR + 7);
	/* the writer refuses: damage is never repaired */
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), LGFS_ECORRUPT);
	assert_null(f->c);
	assert_non_null(strstr(lgfs_error_last(), "damaged at offset"));
	assert_int_equal(pack_size(f, 0), sz); /* not cut */
	/* a reader reports it, and serves what is intact */
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, LGFS_CHUNKS_RDONLY), 0);
	get_fails(f->c, id[1], LGFS_ECORRUPT);
	assert_non_null(strstr(lgfs_error_last(), "damaged"));
	assert_int_equal(lgfs_chunks_has(f->c, id[1]), 0);
	get_equal(f->c, id[0], p[0], sizeof(p[0]));
	get_equal(f->c, id[2], p[2], sizeof(p[2]));
	memcpy(two[0], id[0], 32);
	memcpy(two[1], id[2], 32);
	iterate_exact(f->c, two, 2);
	lgfs_chunks_close(f->c);
	f->c = NULL;
	assert_int_equal(pack_size(f, 0), sz);
	/* and again: nothing was changed by reading */
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), LGFS_ECORRUPT);
	assert_int_equal(pack_size(f, 0), sz);
}

/* An object whose bytes were replaced and its check recomputed (a forger
 * who knows the format): its read fails, and from then on the store counts
 * the chunk as absent, so that storing the right bytes again heals it. */
static void test_forged_object_healed_by_put(void **state)
{
	struct fixture *f = *state;
	uint8_t p[20000], id[32], *b;
	char path[256];
	struct obj ob;
	size_t len;
	int fd;

	fill_random(p, sizeof(p), 77);
	put_ok(f, p, sizeof(p), id);
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	ob = find_obj(f, 0, id);
	assert_int_equal(ob.fmt, 0); /* random bytes are stored raw */
	lgfs_chunks_close(f->c);
	f->c = NULL;
	pack_path(path, sizeof(path), f, 0);
	b = slurp(path, &len);
	b[ob.off + OBJ_HDR + 10] ^= 0x55;
	lgfs_be32_put(b + ob.off + OBJ_HDR + ob.stored, ref_crc32c(b + ob.off, OBJ_HDR + ob.stored));
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, len, 0), (ssize_t)len);
	close(fd);
	free(b);
	/* the writer opens (every check holds), the read fails */
	reopen(f);
	get_fails(f->c, id, LGFS_ECORRUPT);
	assert_int_equal(lgfs_chunks_has(f->c, id), 0);
	/* the right bytes stored again are served */
	assert_int_equal(lgfs_chunks_put(f->c, id, p, sizeof(p)), 0);
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	get_equal(f->c, id, p, sizeof(p));
	assert_int_equal(lgfs_chunks_has(f->c, id), 1);
	/* and by a later reader too */
	lgfs_chunks_close(f->c);
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, LGFS_CHUNKS_RDONLY), 0);
	get_equal(f->c, id, p, sizeof(p));
}

#define NREB 120

/* A deleted or garbage index is rebuilt from the packs. */
static void test_index_rebuild(void **state)
{
	struct fixture *f = *state;
	static uint8_t p[NREB][20000], id[NREB][32];
	char path[512], cmd[600];
	int i, fd;

	setenv("LEDGERFS_PACK_BYTES", "300000", 1);
	reopen(f);
	for (i = 0; i < NREB; i++) {
		if (i % 3 == 0)
			fill_text(p[i], sizeof(p[i]), (unsigned)i);
		else
			fill_random(p[i], sizeof(p[i]), 100 + i);
		memcpy(p[i], &i, sizeof(i));
		put_ok(f, p[i], sizeof(p[i]), id[i]);
	}
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	lgfs_chunks_close(f->c); /* commits the index */
	f->c = NULL;
	assert_true(count_packs(f) > 3);

	snprintf(cmd, sizeof(cmd), "rm -rf %s/index", f->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), 0);
	for (i = 0; i < NREB; i++)
		assert_int_equal(lgfs_chunks_has(f->c, id[i]), 1);
	iterate_exact(f->c, id, NREB);
	snprintf(path, sizeof(path), "%s/index/data.mdb", f->dir);
	assert_int_equal(access(path, F_OK), 0);

	/* garbage where the index was */
	lgfs_chunks_close(f->c);
	f->c = NULL;
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p[0], 16384), 16384);
	close(fd);
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), 0);
	for (i = 0; i < NREB; i++)
		get_equal(f->c, id[i], p[i], sizeof(p[i]));
	iterate_exact(f->c, id, NREB);
	/* and the rebuilt index serves a later open without a scan */
	reopen(f);
	iterate_exact(f->c, id, NREB);
}

/* A process that dies (no sync, no close) leaves objects the index does not
 * know: the next open finds them by scanning. */
static void test_crash_stale_index(void **state)
{
	struct fixture *f = *state;
	static uint8_t p[100][10000], id[100][32];
	pid_t pid;
	int i, st;

	for (i = 0; i < 100; i++) {
		fill_random(p[i], sizeof(p[i]), 300 + i);
		lgfs_sha256(id[i], p[i], sizeof(p[i]));
	}
	/* 0..9 reach the index (close commits what sync made durable) */
	for (i = 0; i < 10; i++)
		assert_int_equal(lgfs_chunks_put(f->c, id[i], p[i], sizeof(p[i])), 0);
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	lgfs_chunks_close(f->c);
	f->c = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct lgfs_chunks *c;

		if (lgfs_chunks_open(&c, f->dir, 0) != 0)
			_exit(1);
		for (i = 10; i < 100; i++) {
			if (lgfs_chunks_put(c, id[i], p[i], sizeof(p[i])) != 0)
				_exit(2);
			if (i == 49 && lgfs_chunks_sync(c) != 0)
				_exit(3);
		}
		_exit(0); /* no close, no sync of the last 50 */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), 0);
	for (i = 0; i < 100; i++)
		get_equal(f->c, id[i], p[i], sizeof(p[i]));
	iterate_exact(f->c, id, 100);
	/* and the scan was committed: a second crash-free restart agrees */
	reopen(f);
	iterate_exact(f->c, id, 100);
}

static struct lgfs_chunks *cb_store;
static int cb_hits;

/* Reads each listed chunk back from the store being iterated. */
static int has_cb(void *payload, const uint8_t id[32])
{
	struct lgfs_buf b = LGFS_BUF_INIT;

	(void)payload;
	if (lgfs_chunks_has(cb_store, id) == 1 && lgfs_chunks_get(cb_store, id, &b) == 0)
		cb_hits++;
	lgfs_buf_free(&b);
	return 0;
}

/* iterate lists exactly the stored ids, whether they are in the index, put
 * and synced since, or put and not synced; a callback's value stops it. */
static void test_iterate(void **state)
{
	struct fixture *f = *state;
	static uint8_t want[300][32];
	uint8_t p[300];
	struct idset s = { 0 };
	int i;

	iterate_exact(f->c, want, 0);
	for (i = 0; i < 300; i++) {
		fill_random(p, sizeof(p), 1000 + i);
		put_ok(f, p, sizeof(p), want[i]);
		if (i == 99) {
			assert_int_equal(lgfs_chunks_sync(f->c), 0);
			reopen(f); /* 0..99 in the index */
		}
		if (i == 199)
			assert_int_equal(lgfs_chunks_sync(f->c), 0);
	}
	iterate_exact(f->c, want, 300);
	s.ids = malloc(300 * 32);
	s.cap = 300;
	s.stop_after = 7;
	assert_int_equal(lgfs_chunks_iterate(f->c, collect_cb, &s), 42);
	assert_int_equal(s.n, 7);
	free(s.ids);
	reopen(f);
	iterate_exact(f->c, want, 300);
	/* a callback may call into the store */
	cb_store = f->c;
	cb_hits = 0;
	assert_int_equal(lgfs_chunks_iterate(f->c, has_cb, NULL), 0);
	assert_int_equal(cb_hits, 300);
}

/* Open the store's LMDB index directly (only while no store handle is open
 * in this process: LMDB must not be opened twice by one process). */
static void ix_open(const struct fixture *f, MDB_env **env, MDB_txn **txn, MDB_dbi *ids, int rdonly)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/index", f->dir);
	assert_int_equal(mdb_env_create(env), 0);
	assert_int_equal(mdb_env_set_maxdbs(*env, 2), 0);
	assert_int_equal(mdb_env_set_mapsize(*env, (size_t)1 << 30), 0);
	assert_int_equal(mdb_env_open(*env, path, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(*env, NULL, rdonly ? MDB_RDONLY : 0, txn), 0);
	assert_int_equal(mdb_dbi_open(*txn, "ids", 0, ids), 0);
}

/* The index is only a cache: an entry pointing at another object, or at a
 * pack that is gone, is an error naming the chunk, never wrong bytes. */
static void test_index_lies(void **state)
{
	struct fixture *f = *state;
	uint8_t p[3][4000], id[3][32], val[24];
	struct obj ob;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi ids;
	MDB_val k, v;
	int i;

	for (i = 0; i < 3; i++) {
		fill_random(p[i], sizeof(p[i]), 970 + i);
		put_ok(f, p[i], sizeof(p[i]), id[i]);
	}
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	ob = find_obj(f, 0, id[1]);
	lgfs_chunks_close(f->c); /* commits: all three are in the index */
	f->c = NULL;
	ix_open(f, &env, &txn, &ids, 0);
	/* A's entry points at B's object (same lengths) */
	lgfs_be32_put(val, 0);
	lgfs_be64_put(val + 4, ob.off);
	lgfs_be32_put(val + 12, ob.stored);
	lgfs_be32_put(val + 16, ob.plain);
	val[20] = ob.fmt;
	val[21] = val[22] = val[23] = 0;
	k.mv_data = id[0];
	k.mv_size = 32;
	v.mv_data = val;
	v.mv_size = sizeof(val);
	assert_int_equal(mdb_put(txn, ids, &k, &v, 0), 0);
	/* C's entry points into pack 7, which does not exist */
	lgfs_be32_put(val, 7);
	k.mv_data = id[2];
	assert_int_equal(mdb_put(txn, ids, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), 0);
	get_fails(f->c, id[0], LGFS_ECORRUPT);
	get_equal(f->c, id[1], p[1], sizeof(p[1]));
	get_fails(f->c, id[2], LGFS_ECORRUPT);
	assert_non_null(strstr(lgfs_error_last(), "missing"));
}

/* The hash of every file below the store (names, sizes, bytes). */
static void store_digest(const struct fixture *f, char out[65])
{
	char cmd[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "cd %s && find . -type f -o -type d | sort | while read x; do echo \"$x\"; [ -f \"$x\" ] && sha256sum < \"$x\"; done | sha256sum",
		 f->dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, 65, p));
	pclose(p);
}

/* A reader decides presence and damage from the packs, whatever the
 * derived index says (forged, missing), and changes no byte of the store:
 * no lock file, no index rebuilt, nothing cut. */
static void test_reader_decides_from_packs(void **state)
{
	struct fixture *f = *state;
	uint8_t p[4][4000], id[4][32], val[24];
	char before[65], after[65], cmd[600];
	struct obj ob;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi ids;
	MDB_val k, v;
	int i, pass;

	for (i = 0; i < 4; i++) {
		fill_random(p[i], sizeof(p[i]), 990 + i);
		put_ok(f, p[i], sizeof(p[i]), id[i]);
	}
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	ob = find_obj(f, 0, id[1]);
	lgfs_chunks_close(f->c);
	f->c = NULL;
	ix_open(f, &env, &txn, &ids, 0);
	lgfs_be32_put(val, 0); /* A's entry points at B's object */
	lgfs_be64_put(val + 4, ob.off);
	lgfs_be32_put(val + 12, ob.stored);
	lgfs_be32_put(val + 16, ob.plain);
	val[20] = ob.fmt;
	val[21] = val[22] = val[23] = 0;
	k.mv_data = id[0];
	k.mv_size = 32;
	v.mv_data = val;
	v.mv_size = sizeof(val);
	assert_int_equal(mdb_put(txn, ids, &k, &v, 0), 0);
	val[21] = 1; /* B marked damaged */
	k.mv_data = id[1];
	assert_int_equal(mdb_put(txn, ids, &k, &v, 0), 0);
	k.mv_data = id[3]; /* D forgotten */
	assert_int_equal(mdb_del(txn, ids, &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) { /* and with no index at all */
			snprintf(cmd, sizeof(cmd), "rm -rf %s/index", f->dir);
			assert_int_equal(system(cmd), 0);
		}
		store_digest(f, before);
		assert_int_equal(lgfs_chunks_open(&f->c, f->dir, LGFS_CHUNKS_RDONLY), 0);
		/* the forgotten one first: its miss alone must send us to the packs */
		for (i = 3; i >= 0; i--) {
			assert_int_equal(lgfs_chunks_has(f->c, id[i]), 1);
			get_equal(f->c, id[i], p[i], sizeof(p[i]));
		}
		{
			uint8_t q[100], qid[32];

			fill_random(q, sizeof(q), 999);
			lgfs_sha256(qid, q, sizeof(q));
			assert_int_equal(lgfs_chunks_put(f->c, qid, q, sizeof(q)), LGFS_EROFS);
		}
		lgfs_chunks_close(f->c);
		f->c = NULL;
		store_digest(f, after);
		assert_string_equal(before, after);
	}
}

/* Once enough objects gather, sync commits them to the index (a crash
 * after that needs no scan); checked in LMDB itself after a child process
 * that put and synced them died without closing. */
static void test_commit_at_sync(void **state)
{
	struct fixture *f = *state;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi ids;
	MDB_stat st;
	pid_t pid;
	int status;

	lgfs_chunks_close(f->c);
	f->c = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct lgfs_chunks *c;
		uint8_t id[32];
		uint32_t i;

		if (lgfs_chunks_open(&c, f->dir, 0) != 0)
			_exit(1);
		for (i = 0; i < 4100; i++) {
			lgfs_sha256(id, &i, sizeof(i));
			if (lgfs_chunks_put(c, id, &i, sizeof(i)) != 0)
				_exit(2);
		}
		if (lgfs_chunks_sync(c) != 0)
			_exit(3);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	ix_open(f, &env, &txn, &ids, 1);
	assert_int_equal(mdb_stat(txn, ids, &st), 0);
	assert_int_equal(st.ms_entries, 4100);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), 0);
	{
		uint8_t id[32];
		uint32_t i = 4099;
		struct lgfs_buf b = LGFS_BUF_INIT;

		lgfs_sha256(id, &i, sizeof(i));
		assert_int_equal(lgfs_chunks_get(f->c, id, &b), 0);
		assert_int_equal(b.len, 4);
		assert_memory_equal(b.data, &i, 4);
		lgfs_buf_free(&b);
	}
}

/* Fault injection through the lgfs_sys table. */
static int n_fdatasync, n_fsync, fail_after_bytes;

static ssize_t pwritev_enospc(int fd, const struct iovec *iov, int cnt, off_t off)
{
	(void)fd;
	(void)iov;
	(void)cnt;
	(void)off;
	errno = ENOSPC;
	return -1;
}

static ssize_t pwrite_enospc(int fd, const void *buf, size_t n, off_t off)
{
	(void)fd;
	(void)buf;
	(void)n;
	(void)off;
	errno = ENOSPC;
	return -1;
}

/* Writes part of the object, then the disk is full. */
static ssize_t pwritev_partial(int fd, const struct iovec *iov, int cnt, off_t off)
{
	size_t want = (size_t)fail_after_bytes;

	(void)cnt;
	if (want == 0) {
		errno = ENOSPC;
		return -1;
	}
	fail_after_bytes = 0;
	if (want > iov[0].iov_len)
		want = iov[0].iov_len;
	return pwrite(fd, iov[0].iov_base, want, off);
}

static int fdatasync_enospc(int fd)
{
	(void)fd;
	errno = ENOSPC;
	return -1;
}

static int fdatasync_count(int fd)
{
	n_fdatasync++;
	return fdatasync(fd);
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

/* ENOSPC while appending: the put fails, the pack is cut back to its last
 * good object, later puts and a restart are fine. */
static void test_enospc_put(void **state)
{
	struct fixture *f = *state;
	uint8_t p[3][10000], id[3][32];
	off_t sz;
	int i;

	for (i = 0; i < 3; i++)
		fill_random(p[i], sizeof(p[i]), 500 + i);
	put_ok(f, p[0], sizeof(p[0]), id[0]);
	sz = pack_size(f, 0);
	lgfs_sha256(id[1], p[1], sizeof(p[1]));
	lgfs_sys.pwritev = pwritev_enospc;
	lgfs_sys.pwrite = pwrite_enospc;
	assert_int_equal(lgfs_chunks_put(f->c, id[1], p[1], sizeof(p[1])), LGFS_ENOSPC);
	/* a write that got part of the object out before the disk filled */
	lgfs_sys.pwritev = pwritev_partial;
	fail_after_bytes = 30;
	assert_int_equal(lgfs_chunks_put(f->c, id[1], p[1], sizeof(p[1])), LGFS_ENOSPC);
	lgfs_sys_reset();
	assert_int_equal(pack_size(f, 0), sz);
	assert_int_equal(lgfs_chunks_has(f->c, id[1]), 0);
	put_ok(f, p[1], sizeof(p[1]), id[1]);
	put_ok(f, p[2], sizeof(p[2]), id[2]);
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	reopen(f);
	for (i = 0; i < 3; i++)
		get_equal(f->c, id[i], p[i], sizeof(p[i]));
	iterate_exact(f->c, id, 3);
	assert_int_equal(parse_pack(f, 0, NULL, 0), 3);
}

/* ENOSPC from fdatasync: what it should have made durable is dropped (cut
 * back, forgotten), sync reports it and keeps reporting it until every
 * lost chunk is put again; the store is consistent throughout. */
static void test_enospc_sync(void **state)
{
	struct fixture *f = *state;
	uint8_t p[3][10000], id[3][32];
	off_t sz;
	int i;

	for (i = 0; i < 3; i++)
		fill_random(p[i], sizeof(p[i]), 600 + i);
	put_ok(f, p[0], sizeof(p[0]), id[0]);
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	sz = pack_size(f, 0);
	put_ok(f, p[1], sizeof(p[1]), id[1]);
	put_ok(f, p[2], sizeof(p[2]), id[2]);
	lgfs_sys.fdatasync = fdatasync_enospc;
	assert_int_equal(lgfs_chunks_sync(f->c), LGFS_ENOSPC);
	assert_non_null(strstr(lgfs_error_last(), "2 chunks"));
	lgfs_sys_reset();
	assert_int_equal(pack_size(f, 0), sz);
	assert_int_equal(lgfs_chunks_has(f->c, id[0]), 1);
	assert_int_equal(lgfs_chunks_has(f->c, id[1]), 0);
	get_fails(f->c, id[2], LGFS_ENOTFOUND);
	iterate_exact(f->c, id, 1);
	/* not put again yet: sync must not claim they are durable */
	assert_int_equal(lgfs_chunks_sync(f->c), LGFS_EIO);
	put_ok(f, p[1], sizeof(p[1]), id[1]);
	assert_int_equal(lgfs_chunks_sync(f->c), LGFS_EIO);
	put_ok(f, p[2], sizeof(p[2]), id[2]);
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	reopen(f);
	for (i = 0; i < 3; i++)
		get_equal(f->c, id[i], p[i], sizeof(p[i]));
	iterate_exact(f->c, id, 3);
	assert_int_equal(parse_pack(f, 0, NULL, 0), 3);
}

static void test_eio_get(void **state)
{
	struct fixture *f = *state;
	struct lgfs_buf b = LGFS_BUF_INIT;
	uint8_t p[1000], id[32];

	fill_random(p, sizeof(p), 700);
	put_ok(f, p, sizeof(p), id);
	lgfs_sys.pread = pread_eio;
	assert_int_equal(lgfs_chunks_get(f->c, id, &b), LGFS_EIO);
	assert_int_equal(b.len, 0);
	lgfs_sys_reset();
	get_equal(f->c, id, p, sizeof(p));
	lgfs_buf_free(&b);
}

/* Packs roll at LEDGERFS_PACK_BYTES; sync then syncs each pack written and
 * the directory once; a sync with nothing new syncs nothing. */
static void test_roll(void **state)
{
	struct fixture *f = *state;
	static uint8_t p[20][65536], id[20][32];
	int i, n;

	setenv("LEDGERFS_PACK_BYTES", "200000", 1);
	reopen(f);
	for (i = 0; i < 20; i++) {
		fill_random(p[i], sizeof(p[i]), 800 + i);
		put_ok(f, p[i], sizeof(p[i]), id[i]);
	}
	n = count_packs(f);
	assert_int_equal(n, 7); /* 3 objects of 65588 bytes fit under 200000 */
	for (i = 0; i < n; i++) {
		assert_true(pack_size(f, (uint32_t)i) <= 200000);
		assert_int_equal(parse_pack(f, (uint32_t)i, NULL, 0), i < 6 ? 3 : 2);
	}
	lgfs_sys.fdatasync = fdatasync_count;
	lgfs_sys.fsync = fsync_count;
	n_fdatasync = n_fsync = 0;
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	assert_int_equal(n_fdatasync, 7);
	assert_int_equal(n_fsync, 1);
	n_fdatasync = n_fsync = 0;
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	assert_int_equal(n_fdatasync + n_fsync, 0);
	put_ok(f, p[0], sizeof(p[0]), id[0]); /* present: nothing new */
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	assert_int_equal(n_fdatasync + n_fsync, 0);
	lgfs_sys_reset();
	reopen(f);
	for (i = 0; i < 20; i++)
		get_equal(f->c, id[i], p[i], sizeof(p[i]));
	iterate_exact(f->c, id, 20);
}

/* A pack created just before a crash (no header yet) is repaired and used. */
static void test_empty_new_pack(void **state)
{
	struct fixture *f = *state;
	uint8_t p[2][5000], id[2][32];
	char path[256];
	struct obj o[2];
	int fd;

	fill_random(p[0], sizeof(p[0]), 900);
	fill_random(p[1], sizeof(p[1]), 901);
	put_ok(f, p[0], sizeof(p[0]), id[0]);
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	lgfs_chunks_close(f->c);
	f->c = NULL;
	pack_path(path, sizeof(path), f, 1);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), 0);
	assert_int_equal(pack_size(f, 1), PACK_HDR);
	put_ok(f, p[1], sizeof(p[1]), id[1]);
	assert_int_equal(parse_pack(f, 1, o, 2), 1);
	assert_memory_equal(o[0].id, id[1], 32);
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	reopen(f);
	get_equal(f->c, id[0], p[0], sizeof(p[0]));
	get_equal(f->c, id[1], p[1], sizeof(p[1]));
}

/* Two handles on one store (as two processes would be): one appends, the
 * other reads what it appends (also before a sync) and may not append until
 * the first one is closed. */
static void test_two_handles(void **state)
{
	struct fixture *f = *state;
	struct lgfs_chunks *b = NULL;
	uint8_t p[4][3000], id[4][32];
	int i;

	for (i = 0; i < 4; i++)
		fill_random(p[i], sizeof(p[i]), 950 + i);
	put_ok(f, p[0], sizeof(p[0]), id[0]);
	assert_int_equal(lgfs_chunks_open(&b, f->dir, 0), 0);
	get_equal(b, id[0], p[0], sizeof(p[0]));
	lgfs_sha256(id[1], p[1], sizeof(p[1]));
	assert_int_equal(lgfs_chunks_put(b, id[1], p[1], sizeof(p[1])), LGFS_EBUSY);
	put_ok(f, p[2], sizeof(p[2]), id[2]);
	assert_int_equal(lgfs_chunks_has(b, id[2]), 1); /* found by catching up */
	get_equal(b, id[2], p[2], sizeof(p[2]));
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	lgfs_chunks_close(f->c);
	f->c = NULL;
	assert_int_equal(lgfs_chunks_put(b, id[1], p[1], sizeof(p[1])), 0);
	lgfs_sha256(id[3], p[3], sizeof(p[3]));
	assert_int_equal(lgfs_chunks_put(b, id[3], p[3], sizeof(p[3])), 0);
	assert_int_equal(lgfs_chunks_sync(b), 0);
	lgfs_chunks_close(b);
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), 0);
	for (i = 0; i < 4; i++)
		get_equal(f->c, id[i], p[i], sizeof(p[i]));
	iterate_exact(f->c, id, 4);
}

/* Read-only media, as an auditor's copy may be: nothing can be created
 * or opened for writing. */
static int openat_rofs(int dirfd, const char *path, int flags, mode_t mode)
{
	if ((flags & (O_CREAT | O_WRONLY | O_RDWR)) != 0) {
		errno = EROFS;
		return -1;
	}
	return openat(dirfd, path, flags, mode);
}

static int mkdirat_rofs(int dirfd, const char *path, mode_t mode)
{
	struct stat st;

	if (fstatat(dirfd, path, &st, 0) == 0) {
		errno = EEXIST;
		return -1;
	}
	(void)mode;
	errno = EROFS;
	return -1;
}

/* A store on read-only media opens and reads; puts say so. */
static void test_read_only(void **state)
{
	struct fixture *f = *state;
	uint8_t p[2][3000], id[2][32];

	fill_random(p[0], sizeof(p[0]), 960);
	fill_random(p[1], sizeof(p[1]), 961);
	put_ok(f, p[0], sizeof(p[0]), id[0]);
	assert_int_equal(lgfs_chunks_sync(f->c), 0);
	lgfs_chunks_close(f->c);
	f->c = NULL;
	lgfs_sys.openat = openat_rofs;
	lgfs_sys.mkdirat = mkdirat_rofs;
	assert_int_equal(lgfs_chunks_open(&f->c, f->dir, 0), 0);
	get_equal(f->c, id[0], p[0], sizeof(p[0]));
	iterate_exact(f->c, id, 1);
	lgfs_sha256(id[1], p[1], sizeof(p[1]));
	assert_int_equal(lgfs_chunks_put(f->c, id[1], p[1], sizeof(p[1])), LGFS_EROFS);
	assert_int_equal(lgfs_chunks_sync(f->c), 0); /* nothing was put */
	lgfs_sys_reset();
}

#define THREADS 4
#define SHARED 64
#define OWN 48

/* One thread of the concurrency test. */
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
			memcpy(p, &seed, sizeof(seed));
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

static int count_cb(void *payload, const uint8_t id[32])
{
	(void)id;
	(*(int *)payload)++;
	return 0;
}

/* 4 threads put, has, get and sync at once, across pack rolls. */
static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	pthread_t th[THREADS];
	struct worker w[THREADS];
	int i, n = 0;

	setenv("LEDGERFS_PACK_BYTES", "500000", 1);
	reopen(f);
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
	assert_true(count_packs(f) > 3);
	/* no duplicate objects: each id was appended exactly once */
	for (i = 0, n = 0; i < count_packs(f); i++)
		n += parse_pack(f, (uint32_t)i, NULL, 0);
	assert_int_equal(n, SHARED + THREADS * OWN);
	reopen(f);
	n = 0;
	assert_int_equal(lgfs_chunks_iterate(f->c, count_cb, &n), 0);
	assert_int_equal(n, SHARED + THREADS * OWN);
}

/* file:// and plain paths open packs, except where the one-file-per-chunk
 * layout already is; dir:// always opens that layout. */
static void test_uri_dispatch(void **state)
{
	struct fixture *f = *state;
	struct lgfs_chunks *c = NULL;
	char uri[256], sub[128], path[256];
	uint8_t id[32], id2[32];
	struct stat st;

	(void)f;
	put_ok(f, (const uint8_t *)"abc", 3, id);
	snprintf(uri, sizeof(uri), "file://%s", f->dir);
	lgfs_chunks_close(f->c);
	f->c = NULL;
	assert_int_equal(lgfs_chunks_open(&c, uri, 0), 0);
	assert_int_equal(lgfs_chunks_has(c, id), 1);
	lgfs_chunks_close(c);

	/* an old-layout store keeps its implementation */
	snprintf(sub, sizeof(sub), "%s/old", f->dir);
	assert_int_equal(lgfs_chunks_file_open(&c, sub, 1), 0);
	lgfs_sha256(id2, "old", 3);
	assert_int_equal(lgfs_chunks_put(c, id2, "old", 3), 0);
	lgfs_chunks_close(c);
	assert_int_equal(lgfs_chunks_open(&c, sub, 0), 0);
	assert_int_equal(lgfs_chunks_has(c, id2), 1);
	lgfs_chunks_close(c);
	snprintf(path, sizeof(path), "%s/packs", sub);
	assert_int_equal(stat(path, &st), -1);

	/* dir:// on a new directory: the fan-out layout */
	snprintf(sub, sizeof(sub), "%s/dirstore", f->dir);
	snprintf(uri, sizeof(uri), "dir://%s", sub);
	assert_int_equal(lgfs_chunks_open(&c, uri, 1), 0);
	assert_int_equal(lgfs_chunks_put(c, id2, "old", 3), 0);
	lgfs_chunks_close(c);
	snprintf(path, sizeof(path), "%s/packs", sub);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(lgfs_chunks_open(&c, "dir://relative", 1), LGFS_EINVAL);

	/* missing directory without create */
	snprintf(sub, sizeof(sub), "%s/a/b/c", f->dir);
	assert_int_equal(lgfs_chunks_open(&c, sub, 0), LGFS_ENOTFOUND);
	assert_null(c);
	assert_int_equal(lgfs_chunks_open(&f->c, sub, 1), 0); /* mkdir -p */
	assert_int_equal(lgfs_chunks_has(f->c, id), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idempotent_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage_middle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged_object_healed_by_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_rebuild, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_stale_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iterate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_lies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_decides_from_packs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_at_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eio_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_new_pack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uri_dispatch, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
