/*
 * fuzz_pack.c — the pack chunk store (chunks_pack.c, FORMAT.md §10) opening
 * pack files of arbitrary bytes: the scan at open (object headers, CRC-32C,
 * torn tails, damage), iterate, has and get (zstd frames, SHA-256 check).
 * The parsing is static in chunks_pack.c, so the target writes the input as
 * pack files in a scratch store and goes through lgfs_chunks_pack_open().
 *
 * Input: byte 0 is a set of flags, the rest one to four pack files
 * (00000000.pack, ...) separated by SEP.
 *   bit 0  fix the CRC of every object the walk below finds, so mutations
 *          get past the check to the payload;
 *   bit 1  set the id of every such raw object to the SHA-256 of its
 *          payload, so it is a good chunk;
 *   bit 2  open as the writer (takes the lock, cuts a torn tail, builds the
 *          index), close, then check again through a read-only open that
 *          uses that index; otherwise read-only only.
 *
 * The walk (this file's own reading of the format): from byte 16 of a pack,
 * an object is well-formed when its 48-byte header is (magic "LGCP", format
 * raw or zstd, zero pad, lengths in range, raw: stored = plain) and the
 * whole object fits; it is valid when its CRC-32C matches too. A valid
 * object is skipped whole; anything else moves on to the next "LGCP".
 *
 * Invariants: opening gives 0 or LGFS_ECORRUPT (only the writer refuses
 * damage); every id iterate lists is present (has) and get gives its
 * verified bytes or LGFS_ECORRUPT; for every id, when the first valid copy
 * the walk meets holds the right bytes (its plain bytes hash to the id),
 * has says 1 and get returns those bytes: a good chunk is never lost.
 */
#include "ledgerfs/buf.h"
#include "ledgerfs/chunks.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"

#include <zstd.h>

#include "fuzz.h"

#define SEP "LGFSSEP!"
#define SEP_LEN 8
#define MAX_PACKS 4
#define PACK_HDR 16
#define OBJ_HDR 48
#define MAX_IDS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = c & 1 ? c >> 1 ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

/* Is there a well-formed object at p (n bytes to the end of the pack)?
 * *total gets its length. */
static int well_formed(const uint8_t *p, size_t n, size_t *total)
{
	uint32_t plain, stored;

	if (n < OBJ_HDR + 4 || memcmp(p, "LGCP", 4) || p[4] > 1 || p[5] || p[6] || p[7])
		return 0;
	plain = lgfs_be32_get(p + 8);
	stored = lgfs_be32_get(p + 12);
	if (plain > LGFS_CHUNK_MAX || (p[4] == 0 ? stored != plain : stored == 0 || stored > ZSTD_compressBound(plain)))
		return 0;
	*total = OBJ_HDR + (size_t)stored + 4;
	return *total <= n;
}

static int valid(const uint8_t *p, size_t n, size_t *total)
{
	return well_formed(p, n, total) &&
	       crc32c(p, *total - 4) == lgfs_be32_get(p + *total - 4);
}

/* One object the walk met first for its id. */
struct obj {
	uint8_t id[32];
	int good;        /* its plain bytes hash to its id */
	uint8_t *plain;  /* those bytes, owned (when good) */
	size_t len;
};

struct expect {
	struct obj o[MAX_IDS];
	size_t n;
};

static void expect_free(struct expect *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->o[i].plain);
	e->n = 0;
}

/* Record the valid object at p unless its id was met before. */
static void record(struct expect *e, const uint8_t *p)
{
	uint32_t plain = lgfs_be32_get(p + 8), stored = lgfs_be32_get(p + 12);
	struct obj *o;
	uint8_t sum[32];
	size_t i;

	for (i = 0; i < e->n; i++)
		if (fuzz_eq(e->o[i].id, p + 16, 32))
			return;
	if (e->n == MAX_IDS)
		return;
	o = &e->o[e->n++];
	memcpy(o->id, p + 16, 32);
	o->good = 0;
	o->len = plain;
	o->plain = malloc(plain ? plain : 1);
	FUZZ_NEED(o->plain);
	if (p[4] == 0) {
		memcpy(o->plain, p + OBJ_HDR, plain);
	} else if (ZSTD_getFrameContentSize(p + OBJ_HDR, stored) != plain ||
		   ZSTD_findFrameCompressedSize(p + OBJ_HDR, stored) != stored ||
		   ZSTD_decompress(o->plain, plain, p + OBJ_HDR, stored) != plain) {
		return;
	}
	lgfs_sha256(sum, o->plain, plain);
	o->good = fuzz_eq(sum, o->id, 32);
}

/* Walk pack p (n bytes): fix objects as the flags say, record valid ones. */
static void walk(uint8_t *p, size_t n, int flags, struct expect *e)
{
	size_t pos = PACK_HDR, total;
	uint8_t *m;

	if (n < PACK_HDR)
		return; /* a reader takes it for a pack being created */
	while (pos < n) {
		if (well_formed(p + pos, n - pos, &total)) {
			if ((flags & 2) && p[pos + 4] == 0)
				lgfs_sha256(p + pos + 16, p + pos + OBJ_HDR, total - OBJ_HDR - 4);
			if (flags & 1)
				lgfs_be32_put(p + pos + total - 4, crc32c(p + pos, total - 4));
		}
		if (valid(p + pos, n - pos, &total)) {
			record(e, p + pos);
			pos += total;
			continue;
		}
		m = memmem(p + pos + 1, n - pos - 1, "LGCP", 4);
		if (!m)
			break;
		pos = (size_t)(m - p);
	}
}

struct ids {
	uint8_t id[MAX_IDS][32];
	size_t n;
};

static int iter_cb(void *arg, const uint8_t id[32])
{
	struct ids *l = arg;

	if (l->n < MAX_IDS)
		memcpy(l->id[l->n++], id, 32);
	return 0;
}

/* Check store c against what the walk expects. */
static void check(struct lgfs_chunks *c, const struct expect *e)
{
	struct lgfs_buf b = LGFS_BUF_INIT;
	struct ids *l = malloc(sizeof(*l));
	uint8_t sum[32];
	size_t i;
	int rc;

	FUZZ_NEED(l);
	l->n = 0;
	rc = lgfs_chunks_iterate(c, iter_cb, l);
	FUZZ_CHECK(rc == 0);
	for (i = 0; i < l->n; i++) {
		FUZZ_CHECK(lgfs_chunks_has(c, l->id[i]) == 1);
		rc = lgfs_chunks_get(c, l->id[i], &b);
		FUZZ_CHECK(rc == 0 || rc == LGFS_ECORRUPT);
		if (rc == 0) {
			lgfs_sha256(sum, b.data, b.len);
			FUZZ_CHECK(fuzz_eq(sum, l->id[i], 32));
		}
		lgfs_error_clear();
	}
	for (i = 0; i < e->n; i++) {
		if (!e->o[i].good)
			continue;
		FUZZ_CHECK(lgfs_chunks_has(c, e->o[i].id) == 1);
		rc = lgfs_chunks_get(c, e->o[i].id, &b);
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(b.len == e->o[i].len && fuzz_eq(b.data, e->o[i].plain, b.len));
	}
	lgfs_buf_free(&b);
	free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct expect e;
	char dir[4200], path[4300];
	const uint8_t *p, *end, *q;
	struct lgfs_chunks *c = NULL;
	uint8_t *copy;
	int flags, rc, i;

	if (size < 1)
		return 0;
	flags = data[0];
	copy = malloc(size);
	FUZZ_NEED(copy);
	memcpy(copy, data, size);

	snprintf(dir, sizeof(dir), "%s/store", fuzz_scratch());
	fuzz_rmtree(dir);
	FUZZ_NEED(mkdir(dir, 0700) == 0);
	snprintf(path, sizeof(path), "%s/packs", dir);
	FUZZ_NEED(mkdir(path, 0700) == 0);
	p = copy + 1;
	end = copy + size;
	for (i = 0; i < MAX_PACKS; i++) {
		q = memmem(p, (size_t)(end - p), SEP, SEP_LEN);
		if (!q || i == MAX_PACKS - 1)
			q = end;
		walk((uint8_t *)p, (size_t)(q - p), flags, &e);
		snprintf(path, sizeof(path), "%s/packs/%08d.pack", dir, i);
		fuzz_write_file(path, p, (size_t)(q - p));
		if (q == end)
			break;
		p = q + SEP_LEN;
	}

	if (flags & 4) {
		rc = lgfs_chunks_pack_open(&c, dir, 0);
		FUZZ_CHECK(rc == 0 || rc == LGFS_ECORRUPT);
		if (rc == 0) {
			check(c, &e);
			lgfs_chunks_close(c);
			c = NULL;
		}
		lgfs_error_clear();
	}
	rc = lgfs_chunks_pack_open(&c, dir, LGFS_CHUNKS_RDONLY);
	FUZZ_CHECK(rc == 0);
	check(c, &e);
	lgfs_chunks_close(c);
	lgfs_error_clear();
	expect_free(&e);
	free(copy);
	return 0;
}
