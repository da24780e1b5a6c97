/*
 * content.c — content-defined chunking, the chunk writer, manifests and the
 * manifest reader (store layer). See content.h.
 *
 * Manifest formats (for docs/FORMAT.md). All integers are unsigned
 * big-endian; ids are 32-byte SHA-256 digests; a manifest id is the SHA-256
 * of the stored object's bytes, like any chunk id.
 *
 * Entry (36 bytes), used by both forms:
 *   offset 0   32 bytes  chunk id, or 32 zero bytes for a hole
 *   offset 32  u32       length: 1..LGFS_CHUNK_MAX (4194304) for a chunk,
 *                        1..LGFS_HOLE_MAX (2147483648) for a hole
 * A hole stands for `length` zero bytes that are not stored. A hole entry is
 * never followed by another hole entry unless its length is LGFS_HOLE_MAX
 * (holes are merged), so each (content, chunk list) has one encoding.
 *
 * Flat manifest, for 0..65536 entries (LGFS_MANIFEST_FLAT_MAX):
 *   offset 0   4 bytes   magic "LGM1"
 *   offset 4   u64       total size in bytes
 *   offset 12  32 bytes  SHA-256 of the whole content (holes read as zeros),
 *                        or 32 zero bytes when the holes total more than
 *                        LGFS_HOLE_HASH_MAX (see "Whole-content hash" below)
 *   offset 44  u32       entry count n
 *   offset 48  n entries, in file order
 *   Exactly 48 + 36 n bytes. Entry lengths sum to the total size; an empty
 *   file has n = 0.
 *
 * Split manifest, for more than 65536 entries (never used below):
 *   root object:
 *     offset 0   4 bytes   magic "LGMX"
 *     offset 4   u64       total size in bytes
 *     offset 12  32 bytes  SHA-256 of the whole content
 *     offset 44  u64       entry count n (> 65536)
 *     offset 52  u32       part count p = ceil(n / 65536)
 *     offset 56  p part references, 40 bytes each:
 *                  32 bytes  id of the part object
 *                  u64       content bytes covered by the part's entries
 *     Exactly 56 + 40 p bytes; the parts' byte counts sum to the total size.
 *   part object k (0-based):
 *     offset 0   4 bytes   magic "LGMP"
 *     offset 4   entries 65536 k .. min(n, 65536 (k + 1)) - 1, in file order
 *     Exactly 4 + 36 m bytes for its m entries (65536, or the rest for the
 *     last part); lengths sum to its reference's byte count. The hole
 *     merging rule runs across part boundaries.
 *
 * Decoders accept only these exact encodings: anything else (bad magic,
 * truncation, trailing bytes, counts that do not match, lengths out of
 * range or not adding up, unmerged holes) is LGFS_ECORRUPT.
 *
 * Whole-content hash. SHA-256 has no shortcut over a run of zeros, so a
 * sparse file of a few TiB would cost hours to hash although nothing of it
 * is stored. The rule: when the hole entries of a version total at most
 * LGFS_HOLE_HASH_MAX (1 GiB) the field holds the SHA-256 of the whole
 * content (the holes hashed as zeros, about half a second per GiB at most);
 * above that the writer stores 32 zero bytes, meaning "not computed: the
 * content is verified chunk by chunk through the manifest". A decoder
 * rejects 32 zero bytes when the holes total at most the bound (the field
 * cannot be dropped from a version that has one). A computed hash above the
 * bound (written before this rule) is accepted; checkers do not recompute
 * it (lgfs_manifest_hash_checked).
 */
#include "ledgerfs/content.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENTRY_LEN 36
#define FLAT_HDR 48
#define ROOT_HDR 56
#define PART_REF 40
#define PART_HDR 4

/* ---------------------------------------------------------------------- */
/* Content-defined chunking                                                */

static uint64_t gear[256];
static pthread_once_t gear_once = PTHREAD_ONCE_INIT;

/* Derive the gear table (see content.h): deterministic, so boundaries are
 * part of the format and reproducible by anyone. */
static void gear_make(void)
{
	static const char domain[] = "ledgerfs cdc gear v1";
	uint8_t msg[sizeof(domain)], d[32];
	unsigned i;

	memcpy(msg, domain, sizeof(domain) - 1);
	for (i = 0; i < 256; i++) {
		msg[sizeof(domain) - 1] = (uint8_t)i;
		lgfs_sha256(d, msg, sizeof(msg));
		gear[i] = lgfs_be64_get(d);
	}
}

/* See content.h; exported so tests and tools can check the derivation. */
const uint64_t *lgfs_cdc_gear(void)
{
	pthread_once(&gear_once, gear_make);
	return gear;
}

/* See content.h. Builds the gear table on first use (thread-safe). */
void lgfs_cdc_init(struct lgfs_cdc *st)
{
	pthread_once(&gear_once, gear_make);
	st->hash = 0;
	st->len = 0;
	st->cut = 0;
}

/* One byte of the gear hash at p[i + k]; jumps to `cut` with i at the byte
 * that ends the chunk. */
#define GEAR_STEP(k, mask)                              \
	do {                                            \
		h = (h << 1) + gear[p[i + (k)]];        \
		if (!(h & (mask))) {                    \
			i += (k);                       \
			goto cut;                       \
		}                                       \
	} while (0)

/* The hot loop: one shift, one table load and one add per byte, unrolled by
 * four to halve the loop overhead. The phases (skip below MIN, strict mask
 * below AVG, loose mask up to MAX) are separate loops so the inner loop has
 * no other branches. */
size_t lgfs_cdc_next(struct lgfs_cdc *st, const uint8_t *p, size_t n)
{
	const size_t base = st->len; /* chunk index of p[0] */
	uint64_t h = st->hash;
	size_t i = 0, stop;

	if (n == 0)
		return 0;
	if (st->cut) {
		lgfs_cdc_init(st);
		return 0;
	}
	if (base < LGFS_CDC_MIN) {
		i = LGFS_CDC_MIN - base;
		if (i >= n) {
			st->len = (uint32_t)(base + n);
			return n;
		}
	}
	if (base + i < LGFS_CDC_AVG) {
		stop = LGFS_CDC_AVG - base;
		if (stop > n)
			stop = n;
		for (; i + 4 <= stop; i += 4) {
			GEAR_STEP(0, LGFS_CDC_MASK_S);
			GEAR_STEP(1, LGFS_CDC_MASK_S);
			GEAR_STEP(2, LGFS_CDC_MASK_S);
			GEAR_STEP(3, LGFS_CDC_MASK_S);
		}
		for (; i < stop; i++)
			GEAR_STEP(0, LGFS_CDC_MASK_S);
	}
	stop = LGFS_CDC_MAX - base;
	if (stop > n)
		stop = n;
	for (; i + 4 <= stop; i += 4) {
		GEAR_STEP(0, LGFS_CDC_MASK_L);
		GEAR_STEP(1, LGFS_CDC_MASK_L);
		GEAR_STEP(2, LGFS_CDC_MASK_L);
		GEAR_STEP(3, LGFS_CDC_MASK_L);
	}
	for (; i < stop; i++)
		GEAR_STEP(0, LGFS_CDC_MASK_L);
	if (base + stop == LGFS_CDC_MAX) {
		i = stop - 1;
		goto cut;
	}
	st->hash = h;
	st->len = (uint32_t)(base + n);
	return n;
cut:
	i++; /* the chunk ends after byte i */
	if (i == n) {
		/* Boundary exactly at the end of this piece: report it on the
		 * next call so the caller sees it in one place. */
		st->hash = h;
		st->len = (uint32_t)(base + n);
		st->cut = 1;
		return n;
	}
	st->hash = 0;
	st->len = 0;
	st->cut = 0;
	return i;
}

/* See content.h. */
uint32_t lgfs_cdc_end(struct lgfs_cdc *st)
{
	uint32_t len = st->len;

	lgfs_cdc_init(st);
	return len;
}

/* ---------------------------------------------------------------------- */
/* Entry checks shared by encoders and decoders                            */

static const uint8_t zero_id[32];

/* Running check of the entry rules over a sequence (one manifest, or the
 * parts of a split one in order). */
struct echeck {
	uint64_t sum;      /* lengths so far */
	uint64_t holes;    /* of which in hole entries */
	uint64_t size;     /* the total they must not exceed */
	int prev_hole;     /* the previous entry was a hole ... */
	uint32_t prev_len; /* ... of this length */
};

/* Start checking a sequence whose lengths must sum to size. */
static void echeck_init(struct echeck *k, uint64_t size)
{
	memset(k, 0, sizeof(*k));
	k->size = size;
}

/* Check one entry; `code` is LGFS_ECORRUPT for stored input, LGFS_EINVAL for
 * a caller's struct. Overflow-safe: the sum never passes size. */
static int echeck_add(struct echeck *k, const uint8_t id[32], uint32_t len, uint64_t idx, int code)
{
	int hole = memcmp(id, zero_id, 32) == 0;

	if (len == 0 || len > (hole ? LGFS_HOLE_MAX : LGFS_CHUNK_MAX))
		return lgfs_error_set(code, "manifest entry %llu: bad %s length %u",
				      (unsigned long long)idx, hole ? "hole" : "chunk", len);
	if (hole && k->prev_hole && k->prev_len != LGFS_HOLE_MAX)
		return lgfs_error_set(code, "manifest entry %llu: hole follows a short hole",
				      (unsigned long long)idx);
	if (len > k->size - k->sum)
		return lgfs_error_set(code, "manifest entry %llu: lengths exceed the total size %llu",
				      (unsigned long long)idx, (unsigned long long)k->size);
	k->sum += len;
	if (hole)
		k->holes += len;
	k->prev_hole = hole;
	k->prev_len = len;
	return 0;
}

/* After the last entry: the lengths must cover the size exactly. */
static int echeck_done(const struct echeck *k, int code)
{
	if (k->sum != k->size)
		return lgfs_error_set(code, "manifest lengths sum to %llu, total size is %llu",
				      (unsigned long long)k->sum, (unsigned long long)k->size);
	return 0;
}

/* The whole-content hash rule (top of this file) for a complete entry
 * sequence with hash field sha. */
static int echeck_sha(const struct echeck *k, const uint8_t sha[32], int code)
{
	if (lgfs_content_hashed(k->holes) && memcmp(sha, zero_id, 32) == 0)
		return lgfs_error_set(code, "manifest: no whole-content hash, but its holes total only %llu bytes",
				      (unsigned long long)k->holes);
	return 0;
}

/* See content.h. */
uint64_t lgfs_manifest_holes(const struct lgfs_manifest *m)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < m->count; i++)
		if (lgfs_manifest_entry_is_hole(&m->entries[i]))
			sum += m->entries[i].len;
	return sum;
}

/* See content.h. */
int lgfs_manifest_hash_checked(const struct lgfs_manifest *m)
{
	return lgfs_content_hashed(lgfs_manifest_holes(m));
}

/* Decode `count` wire entries from p into e (bounds checked by the caller),
 * checking each; *bytes_out gets their length sum. */
static int decode_entries(struct lgfs_manifest_entry *e, const uint8_t *p, size_t count,
			  struct echeck *k, uint64_t first_idx, uint64_t *bytes_out)
{
	uint64_t before = k->sum;
	size_t i;
	int rc;

	for (i = 0; i < count; i++, p += ENTRY_LEN) {
		memcpy(e[i].id, p, 32);
		e[i].len = lgfs_be32_get(p + 32);
		rc = echeck_add(k, e[i].id, e[i].len, first_idx + i, LGFS_ECORRUPT);
		if (rc)
			return rc;
	}
	*bytes_out = k->sum - before;
	return 0;
}

/* See content.h. */
void lgfs_manifest_free(struct lgfs_manifest *m)
{
	free(m->entries);
	memset(m, 0, sizeof(*m));
}

/* Check a caller's manifest before encoding or storing it. */
static int check_manifest(const struct lgfs_manifest *m)
{
	struct echeck k;
	size_t i;
	int rc;

	if (m->count && !m->entries)
		return lgfs_error_set(LGFS_EINVAL, "manifest has %zu entries but no array", m->count);
	echeck_init(&k, m->size);
	for (i = 0; i < m->count; i++) {
		rc = echeck_add(&k, m->entries[i].id, m->entries[i].len, i, LGFS_EINVAL);
		if (rc)
			return rc;
	}
	rc = echeck_done(&k, LGFS_EINVAL);
	return rc ? rc : echeck_sha(&k, m->sha256, LGFS_EINVAL);
}

/* See content.h; the format is at the top of this file. */
int lgfs_manifest_encode(struct lgfs_buf *out, const struct lgfs_manifest *m)
{
	size_t i;
	int rc;

	if (m->count > LGFS_MANIFEST_FLAT_MAX)
		return lgfs_error_set(LGFS_EINVAL, "manifest of %zu entries is too large for one object",
				      m->count);
	rc = check_manifest(m);
	if (rc)
		return rc;
	if (lgfs_buf_reserve(out, FLAT_HDR + ENTRY_LEN * m->count))
		return LGFS_ENOMEM;
	lgfs_buf_put(out, "LGM1", 4);
	lgfs_buf_put_u64(out, m->size);
	lgfs_buf_put(out, m->sha256, 32);
	lgfs_buf_put_u32(out, (uint32_t)m->count);
	for (i = 0; i < m->count; i++) {
		lgfs_buf_put(out, m->entries[i].id, 32);
		lgfs_buf_put_u32(out, m->entries[i].len);
	}
	return lgfs_buf_ok(out);
}

/* See content.h. Strict: only the canonical encoding decodes. */
int lgfs_manifest_decode(struct lgfs_manifest *out, const void *p, size_t n)
{
	struct lgfs_manifest m = { 0 };
	struct lgfs_reader r;
	const uint8_t *magic, *ents;
	struct echeck k;
	uint64_t bytes;
	uint32_t count;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	lgfs_reader_init(&r, p, n);
	lgfs_reader_bytes(&r, &magic, 4);
	lgfs_reader_u64(&r, &m.size);
	lgfs_reader_copy(&r, m.sha256, 32);
	lgfs_reader_u32(&r, &count);
	if (r.bad || memcmp(magic, "LGM1", 4) != 0) {
		rc = lgfs_error_set(LGFS_ECORRUPT, "not a manifest (bad magic or short header)");
		goto out;
	}
	if (count > LGFS_MANIFEST_FLAT_MAX || r.left != (size_t)count * ENTRY_LEN) {
		rc = lgfs_error_set(LGFS_ECORRUPT, "manifest: %u entries need %zu bytes, have %zu",
				    count, (size_t)count * ENTRY_LEN, r.left);
		goto out;
	}
	lgfs_reader_bytes(&r, &ents, r.left);
	m.count = count;
	if (count) {
		m.entries = malloc(count * sizeof(*m.entries));
		if (!m.entries) {
			rc = lgfs_error_set(LGFS_ENOMEM, "out of memory decoding a manifest");
			goto out;
		}
	}
	echeck_init(&k, m.size);
	rc = decode_entries(m.entries, ents, count, &k, 0, &bytes);
	if (!rc)
		rc = echeck_done(&k, LGFS_ECORRUPT);
	if (!rc)
		rc = echeck_sha(&k, m.sha256, LGFS_ECORRUPT);
out:
	if (rc)
		lgfs_manifest_free(&m);
	else
		*out = m;
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Manifest builder: entries in, flat manifest or parts + root out         */

/* Shared by the chunk writer and lgfs_manifest_store. Holds one part's
 * entries at most, flushing full parts to the store, so building the
 * manifest of a huge file takes bounded memory. */
struct mbuild {
	struct lgfs_chunks *store; /* borrowed */
	struct lgfs_buf cur;       /* "LGMP" + wire entries of the part being filled */
	size_t ncur;               /* entries in cur */
	uint64_t cur_bytes;        /* content bytes they cover */
	struct lgfs_buf refs;      /* wire part references of flushed parts */
	uint32_t nparts;           /* flushed parts */
	uint64_t count;            /* entries so far */
	uint64_t size;             /* content bytes so far */
};

/* An empty builder storing into c. */
static void mb_init(struct mbuild *mb, struct lgfs_chunks *c)
{
	memset(mb, 0, sizeof(*mb));
	mb->store = c;
}

/* Release the builder's buffers (stored objects stay). */
static void mb_free(struct mbuild *mb)
{
	lgfs_buf_free(&mb->cur);
	lgfs_buf_free(&mb->refs);
}

/* Hash and put one object; id gets its id. */
static int put_object(struct lgfs_chunks *c, const uint8_t *p, size_t n, uint8_t id[32])
{
	if (n > LGFS_CHUNK_MAX)
		return lgfs_error_set(LGFS_ERANGE, "manifest object of %zu bytes is too large", n);
	lgfs_sha256(id, p, n);
	return lgfs_chunks_put(c, id, p, n);
}

/* Store the full current part and start the next one. */
static int mb_flush(struct mbuild *mb)
{
	uint8_t id[32];
	int rc;

	rc = put_object(mb->store, mb->cur.data, mb->cur.len, id);
	if (rc)
		return rc;
	if (mb->nparts >= (LGFS_CHUNK_MAX - ROOT_HDR) / PART_REF)
		return lgfs_error_set(LGFS_ERANGE, "file has too many chunks for one manifest");
	lgfs_buf_put(&mb->refs, id, 32);
	lgfs_buf_put_u64(&mb->refs, mb->cur_bytes);
	rc = lgfs_buf_ok(&mb->refs);
	if (rc)
		return rc;
	mb->nparts++;
	lgfs_buf_reset(&mb->cur);
	mb->ncur = 0;
	mb->cur_bytes = 0;
	return 0;
}

/* Append an entry (id NULL: a hole of len bytes, any length, merged with a
 * preceding hole and split at LGFS_HOLE_MAX). The caller checked chunk
 * lengths. */
static int mb_add(struct mbuild *mb, const uint8_t *id, uint64_t len)
{
	uint8_t *last;
	uint32_t take;
	int rc;

	while (len) {
		take = len > LGFS_HOLE_MAX ? LGFS_HOLE_MAX : (uint32_t)len;
		if (!id && mb->ncur) {
			last = mb->cur.data + PART_HDR + (mb->ncur - 1) * ENTRY_LEN;
			if (memcmp(last, zero_id, 32) == 0 && lgfs_be32_get(last + 32) < LGFS_HOLE_MAX) {
				uint32_t have = lgfs_be32_get(last + 32);

				if (take > LGFS_HOLE_MAX - have)
					take = LGFS_HOLE_MAX - have;
				lgfs_be32_put(last + 32, have + take);
				goto added;
			}
		}
		if (mb->ncur == LGFS_MANIFEST_FLAT_MAX) {
			rc = mb_flush(mb);
			if (rc)
				return rc;
		}
		if (mb->ncur == 0)
			lgfs_buf_put(&mb->cur, "LGMP", 4);
		lgfs_buf_put(&mb->cur, id ? id : zero_id, 32);
		lgfs_buf_put_u32(&mb->cur, take);
		rc = lgfs_buf_ok(&mb->cur);
		if (rc)
			return rc;
		mb->ncur++;
		mb->count++;
added:
		mb->cur_bytes += take;
		mb->size += take;
		len -= take;
	}
	return 0;
}

/* Store what is left: one flat manifest if no part was flushed, else the
 * last part and the root. id_out gets the manifest id. */
static int mb_finish(struct mbuild *mb, const uint8_t sha[32], uint8_t id_out[32])
{
	struct lgfs_buf o = LGFS_BUF_INIT;
	int rc;

	if (mb->nparts == 0) {
		lgfs_buf_reserve(&o, FLAT_HDR + mb->ncur * ENTRY_LEN);
		lgfs_buf_put(&o, "LGM1", 4);
		lgfs_buf_put_u64(&o, mb->size);
		lgfs_buf_put(&o, sha, 32);
		lgfs_buf_put_u32(&o, (uint32_t)mb->ncur);
		if (mb->ncur)
			lgfs_buf_put(&o, mb->cur.data + PART_HDR, mb->ncur * ENTRY_LEN);
	} else {
		rc = mb_flush(mb); /* non-empty: a part is flushed only when an entry follows */
		if (rc)
			goto out;
		lgfs_buf_reserve(&o, ROOT_HDR + mb->refs.len);
		lgfs_buf_put(&o, "LGMX", 4);
		lgfs_buf_put_u64(&o, mb->size);
		lgfs_buf_put(&o, sha, 32);
		lgfs_buf_put_u64(&o, mb->count);
		lgfs_buf_put_u32(&o, mb->nparts);
		lgfs_buf_put(&o, mb->refs.data, mb->refs.len);
	}
	rc = lgfs_buf_ok(&o);
	if (rc)
		goto out;
	rc = put_object(mb->store, o.data, o.len, id_out);
out:
	lgfs_buf_free(&o);
	return rc;
}

/* See content.h. Goes through the builder so the flat/split choice is made
 * in one place. */
int lgfs_manifest_store(struct lgfs_chunks *c, const struct lgfs_manifest *m, uint8_t id_out[32])
{
	struct mbuild mb;
	size_t i;
	int rc;

	rc = check_manifest(m);
	if (rc)
		return rc;
	mb_init(&mb, c);
	for (i = 0; i < m->count && !rc; i++) {
		const struct lgfs_manifest_entry *e = &m->entries[i];

		/* canonical input: no merging happens, entries map 1:1 */
		rc = mb_add(&mb, lgfs_manifest_entry_is_hole(e) ? NULL : e->id, e->len);
	}
	if (!rc)
		rc = mb_finish(&mb, m->sha256, id_out);
	mb_free(&mb);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Loading manifests                                                       */

/* A part of a (split) manifest as the reader tracks it. A flat manifest is
 * one part whose entries are loaded at open. */
struct part {
	uint8_t id[32];   /* part object id (unused for a flat manifest) */
	uint64_t start;   /* content offset of the part's first byte */
	uint64_t bytes;   /* content bytes it covers */
	uint64_t first;   /* index of its first entry in the whole manifest */
	uint32_t count;   /* its entries */
};

/* A manifest root as stored: flat with entries, or split with parts. */
struct root {
	uint64_t size;
	uint8_t sha[32];
	uint64_t count;           /* entries in the whole manifest */
	struct part *parts;       /* owned */
	uint32_t nparts;
	struct lgfs_buf obj;      /* the fetched root object (flat: holds the entries) */
};

/* Release a root and zero it. */
static void root_free(struct root *rt)
{
	free(rt->parts);
	lgfs_buf_free(&rt->obj);
	memset(rt, 0, sizeof(*rt));
}

/* Fetch and parse a manifest root (flat or split), checking everything that
 * can be checked without fetching parts. */
static int root_load(struct root *rt, struct lgfs_chunks *c, const uint8_t id[32])
{
	struct lgfs_reader r;
	const uint8_t *magic;
	char hex[65];
	uint64_t sum = 0;
	uint32_t i, count32;
	int rc;

	memset(rt, 0, sizeof(*rt));
	rc = lgfs_chunks_get(c, id, &rt->obj);
	if (rc)
		goto out;
	lgfs_hex(hex, id, 32);
	lgfs_reader_init(&r, rt->obj.data, rt->obj.len);
	lgfs_reader_bytes(&r, &magic, 4);
	lgfs_reader_u64(&r, &rt->size);
	lgfs_reader_copy(&r, rt->sha, 32);
	if (r.bad) {
		rc = lgfs_error_set(LGFS_ECORRUPT, "manifest %s: short header", hex);
		goto out;
	}
	if (memcmp(magic, "LGM1", 4) == 0) {
		lgfs_reader_u32(&r, &count32);
		if (r.bad || count32 > LGFS_MANIFEST_FLAT_MAX || r.left != (size_t)count32 * ENTRY_LEN) {
			rc = lgfs_error_set(LGFS_ECORRUPT, "manifest %s: entry count does not match its size", hex);
			goto out;
		}
		rt->count = count32;
		rt->nparts = 1;
		rt->parts = calloc(1, sizeof(*rt->parts));
		if (!rt->parts) {
			rc = lgfs_error_set(LGFS_ENOMEM, "out of memory loading a manifest");
			goto out;
		}
		rt->parts[0].bytes = rt->size;
		rt->parts[0].count = count32;
		goto out;
	}
	if (memcmp(magic, "LGMX", 4) != 0) {
		rc = lgfs_error_set(LGFS_ECORRUPT, "chunk %s is not a manifest", hex);
		goto out;
	}
	lgfs_reader_u64(&r, &rt->count);
	lgfs_reader_u32(&r, &rt->nparts);
	if (r.bad || rt->count <= LGFS_MANIFEST_FLAT_MAX ||
	    rt->nparts != (rt->count - 1) / LGFS_MANIFEST_FLAT_MAX + 1 ||
	    r.left != (size_t)rt->nparts * PART_REF) {
		rc = lgfs_error_set(LGFS_ECORRUPT, "manifest %s: bad split manifest header", hex);
		goto out;
	}
	rt->parts = calloc(rt->nparts, sizeof(*rt->parts));
	if (!rt->parts) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory loading a manifest");
		goto out;
	}
	for (i = 0; i < rt->nparts; i++) {
		struct part *pt = &rt->parts[i];

		lgfs_reader_copy(&r, pt->id, 32);
		lgfs_reader_u64(&r, &pt->bytes);
		pt->first = (uint64_t)i * LGFS_MANIFEST_FLAT_MAX;
		pt->count = i + 1 < rt->nparts ? LGFS_MANIFEST_FLAT_MAX
					       : (uint32_t)(rt->count - pt->first);
		pt->start = sum;
		/* each part covers at least one byte per entry */
		if (pt->bytes < pt->count || pt->bytes > rt->size - sum) {
			rc = lgfs_error_set(LGFS_ECORRUPT, "manifest %s: part %u covers a bad byte count",
					    hex, i);
			goto out;
		}
		sum += pt->bytes;
	}
	if (sum != rt->size)
		rc = lgfs_error_set(LGFS_ECORRUPT, "manifest %s: parts cover %llu bytes, size is %llu",
				    hex, (unsigned long long)sum, (unsigned long long)rt->size);
out:
	if (rc)
		root_free(rt);
	return rc;
}

/* Decode part pt's entries into e (room for pt->count). A flat manifest's
 * entries come from the root object; a split one's part is fetched. */
static int part_load(struct root *rt, struct lgfs_chunks *c, const struct part *pt,
		     struct lgfs_manifest_entry *e, struct echeck *k, struct lgfs_buf *scratch)
{
	const uint8_t *p;
	uint64_t bytes;
	char hex[65];
	int rc;

	if (rt->obj.len >= 4 && memcmp(rt->obj.data, "LGM1", 4) == 0) {
		p = rt->obj.data + FLAT_HDR;
	} else {
		rc = lgfs_chunks_get(c, pt->id, scratch);
		if (rc)
			return rc;
		if (scratch->len != PART_HDR + (size_t)pt->count * ENTRY_LEN ||
		    memcmp(scratch->data, "LGMP", 4) != 0) {
			lgfs_hex(hex, pt->id, 32);
			return lgfs_error_set(LGFS_ECORRUPT, "manifest part %s: bad size or magic", hex);
		}
		p = scratch->data + PART_HDR;
	}
	rc = decode_entries(e, p, pt->count, k, pt->first, &bytes);
	if (rc)
		return rc;
	if (bytes != pt->bytes) {
		lgfs_hex(hex, pt->id, 32);
		return lgfs_error_set(LGFS_ECORRUPT, "manifest part %s covers %llu bytes, root says %llu",
				      hex, (unsigned long long)bytes, (unsigned long long)pt->bytes);
	}
	return 0;
}

/* See content.h. Checks every rule, including holes across parts. */
int lgfs_manifest_load(struct lgfs_manifest *out, struct lgfs_chunks *c, const uint8_t id[32])
{
	struct lgfs_manifest m = { 0 };
	struct lgfs_buf scratch = LGFS_BUF_INIT;
	struct root rt;
	struct echeck k;
	uint32_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = root_load(&rt, c, id);
	if (rc)
		return rc;
	if (rt.count > SIZE_MAX / sizeof(*m.entries)) {
		rc = lgfs_error_set(LGFS_ERANGE, "manifest too large for memory");
		goto out;
	}
	m.size = rt.size;
	memcpy(m.sha256, rt.sha, 32);
	m.count = (size_t)rt.count;
	if (m.count) {
		m.entries = malloc(m.count * sizeof(*m.entries));
		if (!m.entries) {
			rc = lgfs_error_set(LGFS_ENOMEM, "out of memory loading a manifest");
			goto out;
		}
	}
	echeck_init(&k, rt.size);
	for (i = 0; i < rt.nparts && !rc; i++)
		rc = part_load(&rt, c, &rt.parts[i], m.entries ? m.entries + rt.parts[i].first : NULL, &k, &scratch);
	if (!rc)
		rc = echeck_done(&k, LGFS_ECORRUPT);
	if (!rc)
		rc = echeck_sha(&k, rt.sha, LGFS_ECORRUPT);
out:
	if (rc)
		lgfs_manifest_free(&m);
	else
		*out = m;
	lgfs_buf_free(&scratch);
	root_free(&rt);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Chunk writer                                                            */

/* Background mode (lgfs_chunk_writer_new_async): the caller's bytes are
 * copied into a ring of slots; a cutter thread chunks, hashes and stores
 * them and a hasher thread computes the whole-content SHA-256, each walking
 * the ring in order. A slot is free again when both have passed it. */
#define RING_SLOTS 6
#define SLOT_BYTES (1u << 20)

struct ring {
	pthread_mutex_t mu;
	pthread_cond_t cv;          /* any cursor moved, or quit */
	uint8_t *slot[RING_SLOTS];
	size_t len[RING_SLOTS];     /* bytes in each published slot */
	size_t fill;                /* bytes in the slot being filled (index `published`) */
	uint64_t published;         /* slots handed to the threads */
	uint64_t cut, hashed;       /* slots each thread has finished */
	int quit;
	int err;                    /* the cutter's first error */
	char msg[256];              /* and its message (error text is per thread) */
	pthread_t cutter, hasher;
	int started;                /* threads running */
};

/* See content.h. */
struct lgfs_chunk_writer {
	struct lgfs_chunks *store;     /* borrowed */
	struct lgfs_cdc cdc;           /* boundary state of the current chunk */
	struct lgfs_sha256_ctx *whole; /* SHA-256 of all content so far; NULL after finish */
	uint8_t *pend;                 /* bytes of the current chunk not yet stored (LGFS_CDC_MAX) */
	size_t npend;
	struct mbuild mb;              /* the manifest being built */
	struct ring *ring;             /* background mode; NULL for a synchronous writer */
	uint64_t total;                /* content bytes accepted (data and holes), <= LGFS_FILE_SIZE_MAX */
	uint64_t holes;                /* of which holes */
	int unhashed;                  /* holes passed LGFS_HOLE_HASH_MAX: `whole` is no longer fed */
	int err;                       /* first error; every later call returns it */
};

/* See content.h. */
int lgfs_chunk_writer_new(struct lgfs_chunk_writer **out, struct lgfs_chunks *c)
{
	struct lgfs_chunk_writer *w;
	int rc = 0;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->pend = malloc(LGFS_CDC_MAX)) || !(w->whole = lgfs_sha256_ctx_new())) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory creating a chunk writer");
		goto out;
	}
	w->store = c;
	lgfs_cdc_init(&w->cdc);
	mb_init(&w->mb, c);
	*out = w;
out:
	if (rc && w) {
		free(w->pend);
		free(w);
	}
	return rc;
}

/* Hash, store and list one complete chunk. */
static int emit(struct lgfs_chunk_writer *w, const uint8_t *p, size_t n)
{
	uint8_t id[32];
	int rc;

	lgfs_sha256(id, p, n);
	rc = lgfs_chunks_put(w->store, id, p, n);
	if (rc)
		return rc;
	return mb_add(&w->mb, id, n);
}

/* Store pending bytes as a chunk ending here (end of data, or a hole). */
static int end_chunk(struct lgfs_chunk_writer *w)
{
	int rc = 0;

	lgfs_cdc_end(&w->cdc);
	if (w->npend)
		rc = emit(w, w->pend, w->npend);
	w->npend = 0;
	return rc;
}

/* Cut n bytes into chunks and store each complete one. Chunks wholly
 * inside p are hashed and stored from there; only a chunk spanning calls
 * is copied. The whole-content hash is the caller's business. */
static int cut(struct lgfs_chunk_writer *w, const uint8_t *p, size_t n)
{
	size_t k;
	int rc;

	while (n) {
		k = lgfs_cdc_next(&w->cdc, p, n);
		if (k == n) {
			memcpy(w->pend + w->npend, p, n);
			w->npend += n;
			break;
		}
		if (w->npend == 0) {
			rc = emit(w, p, k);
		} else {
			memcpy(w->pend + w->npend, p, k);
			rc = emit(w, w->pend, w->npend + k);
			w->npend = 0;
		}
		if (rc)
			return rc;
		p += k;
		n -= k;
	}
	return 0;
}

/* ---- background mode ---- */

/* Wait for the next published slot past *done; NULL once told to quit. */
static const uint8_t *ring_next(struct ring *g, uint64_t done, size_t *n)
{
	const uint8_t *p = NULL;

	pthread_mutex_lock(&g->mu);
	while (done == g->published && !g->quit)
		pthread_cond_wait(&g->cv, &g->mu);
	if (done < g->published) {
		p = g->slot[done % RING_SLOTS];
		*n = g->len[done % RING_SLOTS];
	}
	pthread_mutex_unlock(&g->mu);
	return p;
}

static void ring_advance(struct ring *g, uint64_t *cursor)
{
	pthread_mutex_lock(&g->mu);
	(*cursor)++;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static void *cutter_main(void *arg)
{
	struct lgfs_chunk_writer *w = arg;
	struct ring *g = w->ring;
	const uint8_t *p;
	size_t n;

	while ((p = ring_next(g, g->cut, &n))) {
		/* after an error, keep consuming so the writer never waits forever */
		if (!g->err) {
			int rc = cut(w, p, n);

			if (rc) {
				pthread_mutex_lock(&g->mu);
				g->err = rc;
				snprintf(g->msg, sizeof(g->msg), "%s", lgfs_error_last());
				pthread_mutex_unlock(&g->mu);
			}
		}
		ring_advance(g, &g->cut);
	}
	return NULL;
}

static void *hasher_main(void *arg)
{
	struct lgfs_chunk_writer *w = arg;
	struct ring *g = w->ring;
	const uint8_t *p;
	size_t n;

	while ((p = ring_next(g, g->hashed, &n))) {
		/* unhashed only changes while the ring is drained (in _hole);
		 * ring_next's lock orders it before this read */
		if (!w->unhashed)
			lgfs_sha256_ctx_update(w->whole, p, n);
		ring_advance(g, &g->hashed);
	}
	return NULL;
}

/* Stop and join the threads (whatever is still queued is dropped). */
static void ring_stop(struct ring *g)
{
	if (!g->started)
		return;
	pthread_mutex_lock(&g->mu);
	g->quit = 1;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->cutter, NULL);
	pthread_join(g->hasher, NULL);
	g->started = 0;
}

static void ring_free(struct ring *g)
{
	unsigned i;

	if (!g)
		return;
	ring_stop(g);
	for (i = 0; i < RING_SLOTS; i++)
		free(g->slot[i]);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

/* See content.h. */
int lgfs_chunk_writer_new_async(struct lgfs_chunk_writer **out, struct lgfs_chunks *c)
{
	struct lgfs_chunk_writer *w;
	struct ring *g;
	unsigned i;
	int rc;

	rc = lgfs_chunk_writer_new(&w, c);
	if (rc)
		return rc;
	g = calloc(1, sizeof(*g));
	if (!g)
		goto nomem;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	w->ring = g;
	for (i = 0; i < RING_SLOTS; i++)
		if (!(g->slot[i] = malloc(SLOT_BYTES)))
			goto nomem;
	if (pthread_create(&g->cutter, NULL, cutter_main, w) != 0)
		goto nothread;
	if (pthread_create(&g->hasher, NULL, hasher_main, w) != 0) {
		pthread_mutex_lock(&g->mu);
		g->quit = 1;
		pthread_cond_broadcast(&g->cv);
		pthread_mutex_unlock(&g->mu);
		pthread_join(g->cutter, NULL);
		goto nothread;
	}
	g->started = 1;
	*out = w;
	return 0;
nothread:
	lgfs_chunk_writer_free(w);
	return lgfs_error_set(LGFS_ENOMEM, "cannot start the chunk writer's threads");
nomem:
	lgfs_chunk_writer_free(w);
	return lgfs_error_set(LGFS_ENOMEM, "out of memory creating a chunk writer");
}

/* The cutter's error, moved to this thread (0 if none). */
static int ring_error(struct lgfs_chunk_writer *w)
{
	struct ring *g = w->ring;
	int rc;

	pthread_mutex_lock(&g->mu);
	rc = g->err;
	pthread_mutex_unlock(&g->mu);
	if (rc)
		w->err = lgfs_error_set(rc, "%s", g->msg);
	return rc;
}

/* Hand the slot being filled to the threads. */
static void ring_publish(struct ring *g)
{
	pthread_mutex_lock(&g->mu);
	g->len[g->published % RING_SLOTS] = g->fill;
	g->published++;
	g->fill = 0;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* Publish what is filled and wait until both threads have caught up; the
 * writer's state is then this thread's to use. */
static int ring_drain(struct lgfs_chunk_writer *w)
{
	struct ring *g = w->ring;

	if (g->fill)
		ring_publish(g);
	pthread_mutex_lock(&g->mu);
	while (g->cut < g->published || g->hashed < g->published)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	return ring_error(w);
}

/* Copy n bytes into the ring, waiting for a free slot when it is full. */
static int ring_write(struct lgfs_chunk_writer *w, const uint8_t *p, size_t n)
{
	struct ring *g = w->ring;

	while (n) {
		size_t take;

		if (g->fill == 0) {
			/* the slot at `published` must have been passed by both threads */
			pthread_mutex_lock(&g->mu);
			while (g->published - (g->cut < g->hashed ? g->cut : g->hashed) >= RING_SLOTS)
				pthread_cond_wait(&g->cv, &g->mu);
			pthread_mutex_unlock(&g->mu);
			if (ring_error(w))
				return w->err;
		}
		take = SLOT_BYTES - g->fill < n ? SLOT_BYTES - g->fill : n;
		memcpy(g->slot[g->published % RING_SLOTS] + g->fill, p, take);
		g->fill += take;
		p += take;
		n -= take;
		if (g->fill == SLOT_BYTES)
			ring_publish(g);
	}
	return 0;
}

/* ---- both modes ---- */

/* The whole-content hash of one buffer, run on a second core. */
struct whole_job {
	struct lgfs_sha256_ctx *ctx;
	const uint8_t *p;
	size_t n;
};

static void *whole_hash(void *arg)
{
	struct whole_job *j = arg;

	lgfs_sha256_ctx_update(j->ctx, j->p, j->n);
	return NULL;
}

/* Buffers at least this large have their whole-content hash computed on
 * another thread while this one cuts and hashes the chunks: the two SHA-256
 * passes are most of a version's cost. */
#define WHOLE_PARALLEL_MIN (256u << 10)

/* Account for n more content bytes: LGFS_ERANGE past the largest file. */
static int writer_grow(struct lgfs_chunk_writer *w, uint64_t n)
{
	if (n > LGFS_FILE_SIZE_MAX - w->total)
		return w->err = lgfs_error_set(LGFS_ERANGE, "content larger than the largest file (%llu bytes)",
					       (unsigned long long)LGFS_FILE_SIZE_MAX);
	w->total += n;
	return 0;
}

/* See content.h. */
int lgfs_chunk_writer_write(struct lgfs_chunk_writer *w, const void *buf, size_t n)
{
	struct whole_job job = { w->whole, buf, n };
	pthread_t tid;
	int rc, threaded = 0;

	if (w->err)
		return w->err;
	if (!w->whole)
		return lgfs_error_set(LGFS_EINVAL, "chunk writer already finished");
	if ((rc = writer_grow(w, n)))
		return rc;
	if (w->ring)
		return ring_write(w, buf, n);
	if (!w->unhashed && n >= WHOLE_PARALLEL_MIN && sysconf(_SC_NPROCESSORS_ONLN) > 1)
		threaded = pthread_create(&tid, NULL, whole_hash, &job) == 0;
	if (!threaded && !w->unhashed)
		lgfs_sha256_ctx_update(w->whole, buf, n);
	rc = cut(w, buf, n);
	if (threaded)
		pthread_join(tid, NULL);
	if (rc)
		w->err = rc;
	return rc;
}

/* See content.h. */
int lgfs_chunk_writer_hole(struct lgfs_chunk_writer *w, uint64_t len)
{
	static const uint8_t zeros[256 << 10];
	uint64_t left;
	int rc;

	if (w->err)
		return w->err;
	if (!w->whole)
		return lgfs_error_set(LGFS_EINVAL, "chunk writer already finished");
	if (len == 0)
		return 0;
	if ((rc = writer_grow(w, len)))
		return rc;
	if (w->ring && (rc = ring_drain(w)))
		return rc;
	rc = end_chunk(w);
	if (rc)
		goto out;
	/* The whole-content hash rule (top of this file): holes are hashed
	 * while they total at most LGFS_HOLE_HASH_MAX; past it the hash is
	 * dropped, so a version costs what its data costs, whatever its
	 * size. Deciding before hashing keeps one large hole free. */
	w->holes += len;
	if (!lgfs_content_hashed(w->holes))
		w->unhashed = 1;
	for (left = w->unhashed ? 0 : len; left; ) {
		size_t n = left > sizeof(zeros) ? sizeof(zeros) : (size_t)left;

		lgfs_sha256_ctx_update(w->whole, zeros, n);
		left -= n;
	}
	rc = mb_add(&w->mb, NULL, len);
out:
	if (rc)
		w->err = rc;
	return rc;
}

/* See content.h. */
int lgfs_chunk_writer_finish(struct lgfs_chunk_writer *w, uint8_t id_out[32],
			     uint64_t *size_out, uint8_t sha256_out[32])
{
	uint8_t sha[32];
	int rc;

	if (w->err)
		return w->err;
	if (!w->whole)
		return lgfs_error_set(LGFS_EINVAL, "chunk writer already finished");
	if (w->ring) {
		rc = ring_drain(w);
		ring_stop(w->ring);
		if (rc)
			return rc;
	}
	rc = end_chunk(w);
	if (rc)
		goto out;
	lgfs_sha256_ctx_final(w->whole, sha);
	w->whole = NULL;
	if (w->unhashed)
		memset(sha, 0, sizeof(sha)); /* "not computed" */
	rc = mb_finish(&w->mb, sha, id_out);
	if (rc)
		goto out;
	if (size_out)
		*size_out = w->mb.size;
	if (sha256_out)
		memcpy(sha256_out, sha, 32);
out:
	if (rc)
		w->err = rc;
	return rc;
}

/* See content.h; NULL is allowed. */
void lgfs_chunk_writer_free(struct lgfs_chunk_writer *w)
{
	if (!w)
		return;
	ring_free(w->ring); /* threads first: they use the rest */
	if (w->whole)
		lgfs_sha256_ctx_free(w->whole);
	mb_free(&w->mb);
	free(w->pend);
	free(w);
}

/* ---------------------------------------------------------------------- */
/* Manifest reader                                                         */

static int reader_load_part(struct lgfs_manifest_reader *r, uint32_t i);

/* Read-ahead: once a reader has fetched three chunks in file order, a
 * thread of its own fetches and verifies the next PF_SLOTS chunks of the
 * loaded part while the caller copies out the current one, so the disk,
 * the SHA-256 checks and the caller overlap. A read elsewhere drops what
 * was fetched ahead. */
#define PF_SLOTS 32
#define PF_AFTER 2 /* consecutive chunks that make a reader sequential */

enum { PF_FREE, PF_QUEUED, PF_BUSY, PF_DONE };

struct pf_slot {
	int state;
	int drop;              /* BUSY, no longer wanted: free it when done */
	uint64_t order;        /* queue order */
	int64_t part;          /* which entry: part and index in it */
	uint32_t ei;
	uint8_t id[32];
	struct lgfs_buf buf;   /* the chunk, when DONE */
	int rc;                /* and the result of fetching it */
	char msg[256];
};

struct prefetch {
	struct lgfs_chunks *store; /* borrowed */
	pthread_mutex_t mu;
	pthread_cond_t work;       /* a slot was queued, or quit */
	pthread_cond_t done;       /* a slot became DONE or FREE */
	pthread_t tid;
	int quit;
	int waiting;               /* the reader waits for a slot */
	int dead;                  /* the thread has stopped */
	uint64_t order;
	struct pf_slot s[PF_SLOTS];
};

/* See content.h. Holds the root and at most one part's entries (with their
 * offsets) and one chunk (plus up to PF_SLOTS read ahead), whatever the file
 * size. */
struct lgfs_manifest_reader {
	struct lgfs_chunks *store;          /* borrowed */
	struct root rt;                     /* size, SHA-256, part table */
	int64_t loaded;                     /* part whose entries are in ents, -1 none */
	struct lgfs_manifest_entry *ents;   /* entries of that part */
	uint64_t *offs;                     /* offs[i]: content offset of ents[i]; offs[count] = end */
	struct lgfs_buf scratch;            /* fetched part object */
	struct lgfs_buf chunk;              /* the last chunk fetched ... */
	uint8_t chunk_id[32];               /* ... and its id */
	int have_chunk;
	int64_t last_part;                  /* the entry fetched last */
	uint32_t last_ei;
	unsigned int seq;                   /* chunks fetched in order so far */
	struct prefetch *pf;                /* read-ahead, once sequential */
	uint32_t pf_next;                   /* next entry of the loaded part to queue */
};

/* The read-ahead thread: fetches queued slots in queue order, in batches
 * (one get_many call: the store may read them in one go), once half the
 * slots are queued or the reader waits for one. */
static void *pf_main(void *arg)
{
	struct prefetch *pf = arg;
	uint8_t (*ids)[32] = malloc(PF_SLOTS * sizeof(*ids));
	struct lgfs_buf *outs = calloc(PF_SLOTS, sizeof(*outs));
	struct pf_slot *batch[PF_SLOTS];
	int rcs[PF_SLOTS];

	pthread_mutex_lock(&pf->mu);
	while (ids && outs) { /* without its buffers it stops: pf_take fetches for itself */
		unsigned i, j, n = 0, queued = 0;

		for (i = 0; i < PF_SLOTS; i++)
			queued += pf->s[i].state == PF_QUEUED;
		if (pf->quit && !queued)
			break;
		if (queued == 0 || (queued < PF_SLOTS / 2 && !pf->waiting && !pf->quit)) {
			pthread_cond_wait(&pf->work, &pf->mu);
			continue;
		}
		/* the queued slots, oldest first */
		for (i = 0; i < PF_SLOTS; i++)
			if (pf->s[i].state == PF_QUEUED)
				batch[n++] = &pf->s[i];
		for (i = 1; i < n; i++)
			for (j = i; j > 0 && batch[j - 1]->order > batch[j]->order; j--) {
				struct pf_slot *t = batch[j];

				batch[j] = batch[j - 1];
				batch[j - 1] = t;
			}
		for (i = 0; i < n; i++) {
			batch[i]->state = PF_BUSY;
			memcpy(ids[i], batch[i]->id, 32);
			outs[i] = batch[i]->buf; /* reuse its buffer */
			memset(&batch[i]->buf, 0, sizeof(batch[i]->buf));
		}
		pthread_mutex_unlock(&pf->mu);
		lgfs_chunks_get_many(pf->store, (const uint8_t(*)[32])ids, n, outs, rcs);
		for (i = 0; i < n; i++)
			if (rcs[i])
				snprintf(batch[i]->msg, sizeof(batch[i]->msg), "%s", lgfs_error_last());
		pthread_mutex_lock(&pf->mu);
		for (i = 0; i < n; i++) {
			struct pf_slot *t = batch[i];

			t->buf = outs[i];
			t->rc = rcs[i];
			t->state = t->drop ? PF_FREE : PF_DONE;
			t->drop = 0;
		}
		pthread_cond_broadcast(&pf->done);
	}
	pf->dead = 1;
	pthread_cond_broadcast(&pf->done);
	pthread_mutex_unlock(&pf->mu);
	free(ids);
	free(outs);
	return NULL;
}

static void pf_free(struct prefetch *pf)
{
	unsigned i;

	if (!pf)
		return;
	pthread_mutex_lock(&pf->mu);
	pf->quit = 1;
	for (i = 0; i < PF_SLOTS; i++)
		if (pf->s[i].state == PF_QUEUED)
			pf->s[i].state = PF_FREE;
	pthread_cond_broadcast(&pf->work);
	pthread_mutex_unlock(&pf->mu);
	pthread_join(pf->tid, NULL);
	for (i = 0; i < PF_SLOTS; i++)
		lgfs_buf_free(&pf->s[i].buf);
	pthread_cond_destroy(&pf->work);
	pthread_cond_destroy(&pf->done);
	pthread_mutex_destroy(&pf->mu);
	free(pf);
}

/* Start read-ahead; without memory or a thread, the reader just goes on
 * without it. */
static void pf_start(struct lgfs_manifest_reader *r)
{
	struct prefetch *pf = calloc(1, sizeof(*pf));

	if (!pf)
		return;
	pf->store = r->store;
	pthread_mutex_init(&pf->mu, NULL);
	pthread_cond_init(&pf->work, NULL);
	pthread_cond_init(&pf->done, NULL);
	if (pthread_create(&pf->tid, NULL, pf_main, pf) != 0) {
		pthread_cond_destroy(&pf->work);
		pthread_cond_destroy(&pf->done);
		pthread_mutex_destroy(&pf->mu);
		free(pf);
		return;
	}
	r->pf = pf;
}

/* Forget everything fetched or queued ahead. pf->mu held. */
static void pf_drop_locked(struct prefetch *pf)
{
	unsigned i;

	for (i = 0; i < PF_SLOTS; i++) {
		if (pf->s[i].state == PF_BUSY)
			pf->s[i].drop = 1;
		else
			pf->s[i].state = PF_FREE;
	}
}

/* Take entry ei of the loaded part from the read-ahead into r->chunk.
 * Returns 1 with *rc set if it was fetched (or being fetched) ahead, 0 if
 * not (then everything ahead is dropped: the reader jumped). */
static int pf_take(struct lgfs_manifest_reader *r, uint32_t ei, int *rc)
{
	struct prefetch *pf = r->pf;
	struct pf_slot *t = NULL;
	struct lgfs_buf tmp;
	unsigned i;

	pthread_mutex_lock(&pf->mu);
	for (i = 0; i < PF_SLOTS; i++)
		if (pf->s[i].state != PF_FREE && !pf->s[i].drop && pf->s[i].part == r->loaded &&
		    pf->s[i].ei == ei)
			t = &pf->s[i];
	if (!t) {
		pf_drop_locked(pf);
		pthread_mutex_unlock(&pf->mu);
		return 0;
	}
	while (t->state != PF_DONE && !pf->dead) {
		pf->waiting = 1;
		pthread_cond_broadcast(&pf->work);
		pthread_cond_wait(&pf->done, &pf->mu);
	}
	pf->waiting = 0;
	if (t->state != PF_DONE) {
		/* the thread gave up: fetch it here */
		pf_drop_locked(pf);
		pthread_mutex_unlock(&pf->mu);
		return 0;
	}
	tmp = r->chunk;
	r->chunk = t->buf;
	t->buf = tmp;
	*rc = t->rc;
	if (t->rc)
		lgfs_error_set(t->rc, "%s", t->msg);
	t->state = PF_FREE;
	pthread_mutex_unlock(&pf->mu);
	return 1;
}

/* Queue the entries after ei (holes skipped) into the free slots. */
static void pf_fill(struct lgfs_manifest_reader *r, uint32_t ei)
{
	struct prefetch *pf = r->pf;
	uint32_t count = r->rt.parts[r->loaded].count;
	unsigned i;
	int queued = 0;

	if (r->pf_next <= ei)
		r->pf_next = ei + 1;
	pthread_mutex_lock(&pf->mu);
	for (i = 0; i < PF_SLOTS && r->pf_next < count; i++) {
		struct pf_slot *t = &pf->s[i];

		if (t->state != PF_FREE)
			continue;
		while (r->pf_next < count && lgfs_manifest_entry_is_hole(&r->ents[r->pf_next]))
			r->pf_next++;
		if (r->pf_next >= count)
			break;
		t->state = PF_QUEUED;
		t->order = pf->order++;
		t->part = r->loaded;
		t->ei = r->pf_next++;
		memcpy(t->id, r->ents[t->ei].id, 32);
		queued = 1;
	}
	if (queued)
		pthread_cond_broadcast(&pf->work);
	pthread_mutex_unlock(&pf->mu);
}

/* See content.h. */
int lgfs_manifest_reader_open(struct lgfs_manifest_reader **out, struct lgfs_chunks *c,
			      const uint8_t id[32])
{
	struct lgfs_manifest_reader *r;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory opening a manifest");
	r->store = c;
	r->loaded = -1;
	r->last_part = -1;
	rc = root_load(&r->rt, c, id);
	if (rc)
		goto out;
	/* a flat manifest's entries are already here: check them now, so a
	 * bad one fails at open rather than at some later read */
	if (r->rt.nparts == 1)
		rc = reader_load_part(r, 0);
	if (rc)
		goto out;
	*out = r;
out:
	if (rc)
		lgfs_manifest_reader_free(r);
	return rc;
}

/* See content.h. */
uint64_t lgfs_manifest_reader_size(const struct lgfs_manifest_reader *r)
{
	return r->rt.size;
}

/* See content.h. */
void lgfs_manifest_reader_sha256(const struct lgfs_manifest_reader *r, uint8_t out[32])
{
	memcpy(out, r->rt.sha, 32);
}

/* Make part i the loaded one. Entries are checked as they are decoded; the
 * hole rule across part boundaries is checked by lgfs_manifest_load only. */
static int reader_load_part(struct lgfs_manifest_reader *r, uint32_t i)
{
	const struct part *pt = &r->rt.parts[i];
	struct echeck k;
	uint32_t j;
	int rc;

	if (r->loaded == (int64_t)i)
		return 0;
	if (r->pf) {
		pthread_mutex_lock(&r->pf->mu);
		pf_drop_locked(r->pf);
		pthread_mutex_unlock(&r->pf->mu);
	}
	r->pf_next = 0;
	r->loaded = -1;
	free(r->ents);
	free(r->offs);
	r->ents = malloc((pt->count ? pt->count : 1) * sizeof(*r->ents));
	r->offs = malloc(((size_t)pt->count + 1) * sizeof(*r->offs));
	if (!r->ents || !r->offs)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory reading a manifest");
	echeck_init(&k, pt->bytes);
	rc = part_load(&r->rt, r->store, pt, r->ents, &k, &r->scratch);
	if (!rc)
		rc = echeck_done(&k, LGFS_ECORRUPT);
	if (!rc && r->rt.nparts == 1) /* flat: all holes are known here */
		rc = echeck_sha(&k, r->rt.sha, LGFS_ECORRUPT);
	if (rc)
		return rc;
	r->offs[0] = pt->start;
	for (j = 0; j < pt->count; j++)
		r->offs[j + 1] = r->offs[j] + r->ents[j].len;
	r->loaded = i;
	return 0;
}

/* The chunk of entry ei of the loaded part, from the one-chunk cache, the
 * read-ahead or the store. A chunk whose length differs from the
 * manifest's means a bad manifest, not wrong bytes. */
static int reader_chunk(struct lgfs_manifest_reader *r, uint32_t ei)
{
	const struct lgfs_manifest_entry *e = &r->ents[ei];
	char hex[65];
	int rc;

	if (r->have_chunk && memcmp(r->chunk_id, e->id, 32) == 0) {
		/* the same chunk named twice with two lengths: a bad manifest */
		if (r->chunk.len != e->len) {
			lgfs_hex(hex, e->id, 32);
			return lgfs_error_set(LGFS_ECORRUPT, "chunk %s is %zu bytes, the manifest says %u", hex,
					      r->chunk.len, e->len);
		}
		return 0;
	}
	r->have_chunk = 0;
	if (r->loaded == r->last_part && ei == r->last_ei + 1)
		r->seq++;
	else
		r->seq = 0;
	r->last_part = r->loaded;
	r->last_ei = ei;
	if (!r->pf && r->seq >= PF_AFTER)
		pf_start(r);
	if (!r->pf || !pf_take(r, ei, &rc)) {
		r->pf_next = ei + 1;
		rc = lgfs_chunks_get(r->store, e->id, &r->chunk);
	}
	if (r->pf)
		pf_fill(r, ei);
	if (rc)
		return rc;
	if (r->chunk.len != e->len) {
		lgfs_hex(hex, e->id, 32);
		return lgfs_error_set(LGFS_ECORRUPT, "chunk %s is %zu bytes, the manifest says %u",
				      hex, r->chunk.len, e->len);
	}
	memcpy(r->chunk_id, e->id, 32);
	r->have_chunk = 1;
	return 0;
}

/* Load the part holding pos (< size) and find its entry: two binary
 * searches (part, then entry). */
static int reader_locate(struct lgfs_manifest_reader *r, uint64_t pos, uint32_t *ei_out)
{
	uint32_t lo = 0, hi = r->rt.nparts, pi;
	int rc;

	/* the part holding pos: last one with start <= pos */
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (r->rt.parts[mid].start <= pos)
			lo = mid;
		else
			hi = mid;
	}
	pi = lo;
	rc = reader_load_part(r, pi);
	if (rc)
		return rc;
	/* the entry holding pos: last one with offs <= pos */
	lo = 0;
	hi = r->rt.parts[pi].count;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (r->offs[mid] <= pos)
			lo = mid;
		else
			hi = mid;
	}
	*ei_out = lo;
	return 0;
}

/* See content.h. */
int lgfs_manifest_reader_read(struct lgfs_manifest_reader *r, uint64_t off, void *dst,
			      size_t len, size_t *n_out)
{
	uint8_t *d = dst;
	size_t done = 0;
	int rc = 0;

	*n_out = 0;
	if (off >= r->rt.size)
		return 0;
	if (len > r->rt.size - off)
		len = (size_t)(r->rt.size - off);
	while (done < len) {
		uint64_t pos = off + done, within;
		const struct lgfs_manifest_entry *e;
		uint32_t ei;
		size_t take;

		rc = reader_locate(r, pos, &ei);
		if (rc)
			goto out;
		e = &r->ents[ei];
		within = pos - r->offs[ei];
		take = e->len - within < len - done ? (size_t)(e->len - within) : len - done;
		if (lgfs_manifest_entry_is_hole(e)) {
			memset(d + done, 0, take);
		} else {
			rc = reader_chunk(r, ei);
			if (rc)
				goto out;
			memcpy(d + done, r->chunk.data + within, take);
		}
		done += take;
	}
	*n_out = done;
out:
	return rc;
}

/* See content.h. */
int lgfs_manifest_reader_span(struct lgfs_manifest_reader *r, uint64_t off, uint64_t *len, int *hole)
{
	uint32_t ei, count;
	int rc;

	if (off >= r->rt.size)
		return lgfs_error_set(LGFS_ERANGE, "offset %llu is past the end (%llu bytes)",
				      (unsigned long long)off, (unsigned long long)r->rt.size);
	rc = reader_locate(r, off, &ei);
	if (rc)
		return rc;
	*hole = lgfs_manifest_entry_is_hole(&r->ents[ei]);
	/* this entry and the following ones of the same kind in the part */
	count = r->rt.parts[r->loaded].count;
	while (ei + 1 < count && lgfs_manifest_entry_is_hole(&r->ents[ei + 1]) == *hole)
		ei++;
	*len = r->offs[ei + 1] - off;
	return 0;
}

/* See content.h; NULL is allowed. */
void lgfs_manifest_reader_free(struct lgfs_manifest_reader *r)
{
	if (!r)
		return;
	pf_free(r->pf); /* its thread first: it uses the store */
	root_free(&r->rt);
	free(r->ents);
	free(r->offs);
	lgfs_buf_free(&r->scratch);
	lgfs_buf_free(&r->chunk);
	free(r);
}
