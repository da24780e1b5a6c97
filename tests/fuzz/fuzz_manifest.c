/*
 * fuzz_manifest.c — manifests as read from the chunk store: the strict
 * flat decoder (lgfs_manifest_decode), the loader of flat and split
 * manifests (lgfs_manifest_load) and the manifest reader (open, span,
 * read) over a store held in memory.
 *
 * Input: objects separated by SEP. The first is the manifest; the others
 * are chunks (or parts of a split manifest) the store holds under their
 * SHA-256. So that the fuzzer reaches chunks at all, the ids in the first
 * object are rewritten to name them: a flat manifest's k-th entry that is
 * not a hole names object 1 + k mod (objects - 1), a split manifest's part
 * reference i names object 1 + i mod (objects - 1) (with one object,
 * nothing is rewritten and every chunk is missing). Lengths, counts and
 * sizes stay as the fuzzer wrote them.
 *
 * Invariants:
 *   - decode succeeds only on the canonical encoding: encode gives the
 *     input back;
 *   - for a flat manifest, decode, load and reader open agree on success,
 *     and load gives the same manifest;
 *   - span walks the content in pieces that add up to its size and agree
 *     with the entries (hole or data);
 *   - a read returns exactly the content the entries and the stored chunks
 *     describe, and fails (never serves bytes) when a chunk it needs is
 *     missing or has another length than its entry says.
 */
#include "ledgerfs/buf.h"
#include "ledgerfs/chunks.h"
#include "ledgerfs/content.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"

#include "fuzz.h"

#define SEP "LGFSSEP!"
#define SEP_LEN 8
#define MAX_OBJS 16
#define READ_MAX (256u << 10)  /* content bytes read from the start */
#define READ_PIECE 4096
#define SPAN_STEPS 200000

/* A read-only chunk store over the input's objects. */
struct memstore {
	struct lgfs_chunks base;
	size_t n;
	const uint8_t *p[MAX_OBJS];
	size_t len[MAX_OBJS];
	uint8_t id[MAX_OBJS][32];
};

static int ms_find(const struct memstore *m, const uint8_t id[32])
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (fuzz_eq(m->id[i], id, 32))
			return (int)i;
	return -1;
}

static int ms_get(struct lgfs_chunks *c, const uint8_t id[32], struct lgfs_buf *out)
{
	struct memstore *m = (struct memstore *)c;
	int i = ms_find(m, id);

	lgfs_buf_reset(out);
	if (i < 0)
		return lgfs_error_set(LGFS_ENOTFOUND, "chunk not found");
	return lgfs_buf_put(out, m->p[i], m->len[i]);
}

static int ms_has(struct lgfs_chunks *c, const uint8_t id[32])
{
	return ms_find((struct memstore *)c, id) >= 0;
}

static void ms_close(struct lgfs_chunks *c)
{
	(void)c;
}

/* The bytes [off, off + len) of the content described by m over store s:
 * 1 with them in dst when every chunk they need is stored with the length
 * its entry gives, 0 when not. */
static int expected(uint8_t *dst, const struct lgfs_manifest *m, const struct memstore *s, uint64_t off,
		    size_t len)
{
	uint64_t start = 0;
	size_t i, done = 0;

	for (i = 0; i < m->count && done < len; i++) {
		const struct lgfs_manifest_entry *e = &m->entries[i];
		uint64_t end = start + e->len;

		if (end > off + done) {
			uint64_t within = off + done - start;
			size_t take = e->len - within < len - done ? (size_t)(e->len - within) : len - done;

			if (lgfs_manifest_entry_is_hole(e)) {
				memset(dst + done, 0, take);
			} else {
				int k = ms_find(s, e->id);

				if (k < 0 || s->len[k] != e->len)
					return 0;
				memcpy(dst + done, s->p[k] + within, take);
			}
			done += take;
		}
		start = end;
	}
	return 1;
}

/* Is the byte at pos (< m->size) in a hole? offs[i]: where entry i starts. */
static int hole_at(const struct lgfs_manifest *m, const uint64_t *offs, uint64_t pos)
{
	size_t lo = 0, hi = m->count;

	FUZZ_CHECK(pos < m->size && m->count > 0);
	while (hi - lo > 1) { /* the last entry starting at or before pos */
		size_t mid = lo + (hi - lo) / 2;

		if (offs[mid] <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return lgfs_manifest_entry_is_hole(&m->entries[lo]);
}

/* Rewrite the ids of the root so that they name objects 1.. of s. */
static void retarget(uint8_t *root, size_t len, const struct memstore *s)
{
	static const uint8_t zero[32];
	size_t k, n;

	if (s->n < 2)
		return;
	if (len >= 48 && fuzz_eq(root, "LGM1", 4)) {
		for (k = 0, n = (len - 48) / 36; k < n; k++) {
			uint8_t *id = root + 48 + 36 * k;

			if (memcmp(id, zero, 32))
				memcpy(id, s->id[1 + k % (s->n - 1)], 32);
		}
	} else if (len >= 56 && fuzz_eq(root, "LGMX", 4)) {
		for (k = 0, n = (len - 56) / 40; k < n; k++)
			memcpy(root + 56 + 40 * k, s->id[1 + k % (s->n - 1)], 32);
	}
}

static void check_reader(const struct memstore *s, const struct lgfs_manifest *m, int have_m)
{
	struct lgfs_manifest_reader *r = NULL;
	uint8_t *got, *want, sha[32];
	uint64_t *offs = NULL;
	uint64_t size, off, len;
	size_t n, steps, i;
	int rc, hole, last, flat = s->len[0] >= 4 && fuzz_eq(s->p[0], "LGM1", 4);

	rc = lgfs_manifest_reader_open(&r, (struct lgfs_chunks *)&s->base, s->id[0]);
	if (flat)
		FUZZ_CHECK((rc == 0) == have_m);
	if (rc) {
		FUZZ_CHECK(rc == LGFS_ECORRUPT || rc == LGFS_ENOTFOUND || rc == LGFS_ERANGE);
		FUZZ_CHECK(r == NULL);
		lgfs_error_clear();
		return;
	}
	size = lgfs_manifest_reader_size(r);
	lgfs_manifest_reader_sha256(r, sha);
	if (have_m) {
		FUZZ_CHECK(size == m->size);
		FUZZ_CHECK(fuzz_eq(sha, m->sha256, 32));
	}

	/* spans cover the content exactly, and say what the entries say */
	if (have_m) {
		offs = malloc((m->count + 1) * sizeof(*offs));
		FUZZ_NEED(offs);
		offs[0] = 0;
		for (i = 0; i < m->count; i++)
			offs[i + 1] = offs[i] + m->entries[i].len;
	}
	for (off = 0, steps = 0; off < size && steps < SPAN_STEPS; off += len, steps++) {
		rc = lgfs_manifest_reader_span(r, off, &len, &hole);
		if (rc) {
			FUZZ_CHECK(!have_m && (rc == LGFS_ECORRUPT || rc == LGFS_ENOTFOUND));
			lgfs_error_clear();
			break;
		}
		FUZZ_CHECK(len >= 1 && len <= size - off);
		if (have_m) {
			FUZZ_CHECK(hole == hole_at(m, offs, off));
			FUZZ_CHECK(hole == hole_at(m, offs, off + len - 1));
		}
	}
	rc = lgfs_manifest_reader_span(r, size, &len, &hole);
	FUZZ_CHECK(rc == LGFS_ERANGE);
	lgfs_error_clear();

	/* reads from the start, then one at the end */
	got = malloc(READ_PIECE);
	want = malloc(READ_PIECE);
	FUZZ_NEED(got && want);
	for (i = 0, last = 0; !last; i++) {
		size_t take;

		off = (uint64_t)i * READ_PIECE;
		if (off + READ_PIECE >= size) {
			last = 1; /* this piece reaches the end */
		} else if (off >= READ_MAX) {
			off = size - READ_PIECE / 2; /* then one piece at the end */
			last = 1;
		}
		take = size - off < READ_PIECE ? (size_t)(size - off) : READ_PIECE;
		rc = lgfs_manifest_reader_read(r, off, got, READ_PIECE, &n);
		if (rc) {
			FUZZ_CHECK(rc == LGFS_ECORRUPT || rc == LGFS_ENOTFOUND);
			FUZZ_CHECK(n == 0);
			if (have_m)
				FUZZ_CHECK(!expected(want, m, s, off, take));
			lgfs_error_clear();
		} else {
			FUZZ_CHECK(n == take);
			if (have_m) {
				FUZZ_CHECK(expected(want, m, s, off, take));
				FUZZ_CHECK(fuzz_eq(got, want, take));
			}
		}
	}
	free(offs);
	free(got);
	free(want);
	lgfs_manifest_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct memstore s;
	struct lgfs_manifest m, l;
	struct lgfs_buf b = LGFS_BUF_INIT;
	const uint8_t *p = data, *end = data + size, *q;
	uint8_t *root;
	size_t i;
	int rc, rc_dec, rc_load;

	memset(&s, 0, sizeof(s));
	s.base.version = 1;
	s.base.scheme = "fuzz";
	s.base.get = ms_get;
	s.base.has = ms_has;
	s.base.close = ms_close;
	while (s.n < MAX_OBJS) {
		q = memmem(p, (size_t)(end - p), SEP, SEP_LEN);
		s.p[s.n] = p;
		s.len[s.n] = q ? (size_t)(q - p) : (size_t)(end - p);
		s.n++;
		if (!q)
			break;
		p = q + SEP_LEN;
	}
	for (i = 1; i < s.n; i++)
		lgfs_sha256(s.id[i], s.p[i], s.len[i]);
	root = malloc(s.len[0] ? s.len[0] : 1);
	FUZZ_NEED(root);
	if (s.len[0])
		memcpy(root, s.p[0], s.len[0]);
	retarget(root, s.len[0], &s);
	s.p[0] = root;
	lgfs_sha256(s.id[0], root, s.len[0]);

	/* the strict flat decoder */
	rc_dec = lgfs_manifest_decode(&m, root, s.len[0]);
	if (rc_dec) {
		FUZZ_CHECK(rc_dec == LGFS_ECORRUPT);
		FUZZ_CHECK(m.entries == NULL && m.count == 0);
		lgfs_error_clear();
	} else {
		rc = lgfs_manifest_encode(&b, &m);
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(b.len == s.len[0] && fuzz_eq(b.data, root, b.len));
		FUZZ_CHECK(lgfs_manifest_holes(&m) <= m.size);
		(void)lgfs_manifest_hash_checked(&m);
		lgfs_buf_free(&b);
	}

	/* the loader: flat or split */
	rc_load = lgfs_manifest_load(&l, &s.base, s.id[0]);
	if (rc_load) {
		FUZZ_CHECK(rc_load == LGFS_ECORRUPT || rc_load == LGFS_ENOTFOUND || rc_load == LGFS_ERANGE);
		FUZZ_CHECK(l.entries == NULL && l.count == 0);
		lgfs_error_clear();
	}
	if (s.len[0] >= 4 && fuzz_eq(root, "LGM1", 4))
		FUZZ_CHECK((rc_dec == 0) == (rc_load == 0));
	if (!rc_dec && !rc_load) {
		FUZZ_CHECK(l.size == m.size && l.count == m.count);
		FUZZ_CHECK(fuzz_eq(l.sha256, m.sha256, 32));
		FUZZ_CHECK(l.count == 0 || fuzz_eq(l.entries, m.entries, l.count * sizeof(*l.entries)));
	}

	/* the reader */
	check_reader(&s, rc_load ? NULL : &l, rc_load == 0);

	if (!rc_dec)
		lgfs_manifest_free(&m);
	if (!rc_load)
		lgfs_manifest_free(&l);
	free(root);
	return 0;
}
