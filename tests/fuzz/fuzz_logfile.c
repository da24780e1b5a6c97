/*
 * fuzz_logfile.c — the file:// log store (log_file.c) opening segment files
 * of arbitrary bytes: frame parsing, the frame check, the tail rules (clean,
 * torn, damaged) at open, reads, and a writer's cut of a torn tail followed
 * by an append. The parsing is static in log_file.c, so the target writes
 * the input as segment files in a scratch directory and goes through
 * lgfs_log_file_open().
 *
 * Input: byte 0 is a set of flags, the rest the first segment
 * (00000000000000000000.seg) and, with bit 2, a second one after SEP.
 *   bit 0  fix the check of every frame the model below reads whose header
 *          is valid, so mutations get past it;
 *   bit 1  also open as the writer (LGFS_LOG_KEEP_TORN): a torn tail is
 *          cut with cut_torn, one entry is appended, and a read-only open
 *          must then see the old entries and the new one, nothing else;
 *   bit 2  two segments: the second is named by the number of frames the
 *          model reads in the first.
 *
 * The model (this file's own reading of the tail rules at the top of
 * log_file.c): frames are read from the start while valid; then what
 * remains is nothing (clean), less than a header (torn), a valid header of
 * a frame running past the end (torn, unless a valid frame of the next
 * entry starts after it: damaged), or anything else: torn if all zero,
 * else damaged.
 *
 * Invariants, one segment: a read-only open succeeds with size = the
 * frames the model read, damaged_at, torn_bytes and torn_index as the
 * model says, and a read returns those frames' envelopes and records
 * byte for byte; a writer refuses damage and cuts exactly a torn tail.
 * Two segments: opens and reads give 0 or LGFS_ECORRUPT, and entries come
 * in order; when both segments are clean, all entries read back.
 */
#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/log.h"

#include <inttypes.h>

#include "fuzz.h"

#define SEP "LGFSSEP!"
#define SEP_LEN 8
#define HDR 20
#define CHECK 8
#define MAX_FRAMES 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum tail { CLEAN, TORN, DAMAGED };

/* What the model reads in one segment. */
struct model {
	uint64_t first;                 /* index of its first frame (its name) */
	size_t frames;                  /* valid frames from the start */
	size_t off[MAX_FRAMES];         /* where each starts */
	enum tail tail;                 /* what follows them */
	size_t valid;                   /* bytes of the valid frames */
	int torn_hdr;                   /* TORN, and the tail starts with a valid header */
};

/* Header of the frame of entry want at p (n >= HDR bytes)? *total gets
 * the frame's length. */
static int header_ok(const uint8_t *p, uint64_t want, size_t *total)
{
	uint32_t e, r;

	if (memcmp(p, "LGF1", 4) || lgfs_be64_get(p + 4) != want)
		return 0;
	e = lgfs_be32_get(p + 12);
	r = lgfs_be32_get(p + 16);
	if (e == 0 || e > LGFS_LOG_MAX_ENVELOPE || r > LGFS_LOG_MAX_RECORD)
		return 0;
	*total = HDR + (size_t)e + r + CHECK;
	return 1;
}

static int check_ok(const uint8_t *p, size_t total)
{
	uint8_t sum[32];

	lgfs_sha256(sum, p, total - CHECK);
	return fuzz_eq(sum, p + total - CHECK, CHECK);
}

static int all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* A valid frame of entry want starting in p[from, n)? */
static int later_frame(const uint8_t *p, size_t n, size_t from, uint64_t want)
{
	size_t i, total;

	for (i = from; i + HDR <= n; i++)
		if (header_ok(p + i, want, &total) && total <= n - i && check_ok(p + i, total))
			return 1;
	return 0;
}

/* Read segment p (n bytes) named first; fix checks when asked. */
static void model_read(struct model *m, uint8_t *p, size_t n, uint64_t first, int fix)
{
	size_t pos = 0, total;

	memset(m, 0, sizeof(*m));
	m->first = first;
	for (;;) {
		uint64_t want = first + m->frames;

		if (pos == n) {
			m->tail = CLEAN;
			break;
		}
		if (n - pos < HDR) {
			m->tail = TORN;
			break;
		}
		if (!header_ok(p + pos, want, &total)) {
			m->tail = all_zero(p + pos, n - pos) ? TORN : DAMAGED;
			break;
		}
		if (total > n - pos) {
			m->tail = later_frame(p, n, pos + 1, want + 1) ? DAMAGED : TORN;
			m->torn_hdr = m->tail == TORN;
			break;
		}
		if (fix) {
			uint8_t sum[32];

			lgfs_sha256(sum, p + pos, total - CHECK);
			memcpy(p + pos + total - CHECK, sum, CHECK);
		}
		if (!check_ok(p + pos, total) || m->frames == MAX_FRAMES) {
			m->tail = DAMAGED; /* starts with "LGF1": never all zero */
			break;
		}
		m->off[m->frames++] = pos;
		pos += total;
	}
	m->valid = pos;
}

/* Entries a read hands out, compared with the model's frames. */
struct reading {
	const uint8_t *seg;  /* the model's segment (one-segment case), or NULL */
	const struct model *m;
	uint64_t next;       /* index expected next */
	const uint8_t *extra_env; /* the entry appended by the writer, if any */
	size_t extra_len;
};

static int read_cb(void *arg, const struct lgfs_log_entry *e)
{
	struct reading *rd = arg;

	FUZZ_CHECK(e->index == rd->next);
	FUZZ_CHECK(e->envelope_len >= 1 && e->envelope_len <= LGFS_LOG_MAX_ENVELOPE);
	FUZZ_CHECK(e->record_len <= LGFS_LOG_MAX_RECORD);
	if (rd->seg && e->index < rd->m->frames) {
		const uint8_t *f = rd->seg + rd->m->off[e->index];

		FUZZ_CHECK(e->envelope_len == lgfs_be32_get(f + 12));
		FUZZ_CHECK(e->record_len == lgfs_be32_get(f + 16));
		FUZZ_CHECK(fuzz_eq(e->envelope, f + HDR, e->envelope_len));
		FUZZ_CHECK(e->record_len == 0 || fuzz_eq(e->record, f + HDR + e->envelope_len, e->record_len));
	} else if (rd->extra_env) {
		FUZZ_CHECK(e->envelope_len == rd->extra_len && fuzz_eq(e->envelope, rd->extra_env, rd->extra_len));
		FUZZ_CHECK(e->record_len == 0);
	}
	rd->next++;
	return 0;
}

/* The read-only view of a one-segment log against the model; extra: one
 * more entry (the writer's) is expected after the model's frames, and the
 * tail is gone. */
static void check_one(const char *dir, const uint8_t *seg, const struct model *m, size_t n, int extra,
		      const uint8_t *env, size_t envlen)
{
	struct lgfs_log *l = NULL;
	struct reading rd;
	uint64_t size;
	int rc;

	rc = lgfs_log_file_open(&l, dir, LGFS_LOG_RDONLY);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(lgfs_log_size(l, &size) == 0);
	FUZZ_CHECK(size == m->frames + (extra ? 1 : 0));
	if (extra || m->tail == CLEAN) {
		FUZZ_CHECK(l->damaged_at == UINT64_MAX && l->torn_bytes == 0 && l->torn_index == UINT64_MAX);
	} else if (m->tail == TORN) {
		FUZZ_CHECK(l->damaged_at == UINT64_MAX);
		FUZZ_CHECK(l->torn_bytes == n - m->valid);
		FUZZ_CHECK(l->torn_index == (m->torn_hdr ? m->frames : UINT64_MAX));
	} else {
		FUZZ_CHECK(l->damaged_at == m->frames);
		FUZZ_CHECK(l->damage[0] != '\0');
	}
	memset(&rd, 0, sizeof(rd));
	rd.seg = seg;
	rd.m = m;
	rd.extra_env = extra ? env : NULL;
	rd.extra_len = envlen;
	rc = lgfs_log_read(l, 0, size, read_cb, &rd);
	FUZZ_CHECK(rc == 0 && rd.next == size);
	rc = lgfs_log_read(l, size, 1, read_cb, &rd);
	FUZZ_CHECK(rc == LGFS_ERANGE);
	lgfs_error_clear();
	lgfs_log_close(l);
}

/* The writer: refuses damage, cuts a torn tail, appends one entry. */
static void writer(const char *dir, const uint8_t *seg, const struct model *m, size_t n)
{
	static const uint8_t env[] = "fuzz envelope";
	struct lgfs_log_entry e;
	struct lgfs_log *l = NULL;
	uint64_t size;
	int rc;

	rc = lgfs_log_file_open(&l, dir, LGFS_LOG_KEEP_TORN);
	if (m->tail == DAMAGED) {
		FUZZ_CHECK(rc == LGFS_ECORRUPT && l == NULL);
		lgfs_error_clear();
		return;
	}
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(lgfs_log_size(l, &size) == 0 && size == m->frames);
	memset(&e, 0, sizeof(e));
	e.index = size;
	e.envelope = env;
	e.envelope_len = sizeof(env);
	if (m->tail == TORN) {
		FUZZ_CHECK(l->torn_bytes == n - m->valid);
		rc = lgfs_log_append(l, size, &e, 1); /* refused until the tail is judged */
		FUZZ_CHECK(rc != 0);
		lgfs_error_clear();
		FUZZ_CHECK(lgfs_log_cut_torn(l) == 0);
	}
	FUZZ_CHECK(lgfs_log_append(l, size, &e, 1) == 0);
	lgfs_log_close(l);
	check_one(dir, seg, m, n, 1, env, sizeof(env));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model m0, m1;
	char dir[4200], path[4300];
	struct lgfs_log *l = NULL;
	struct reading rd;
	uint8_t *copy, *s0, *s1 = NULL;
	size_t n0, n1 = 0;
	const uint8_t *q;
	uint64_t lsize;
	int flags, rc;

	if (size < 1)
		return 0;
	flags = data[0];
	copy = malloc(size);
	FUZZ_NEED(copy);
	memcpy(copy, data, size);
	s0 = copy + 1;
	n0 = size - 1;
	if ((flags & 4) && (q = memmem(s0, n0, SEP, SEP_LEN))) {
		s1 = (uint8_t *)q + SEP_LEN;
		n1 = (size_t)(copy + size - s1);
		n0 = (size_t)(q - s0);
	}

	snprintf(dir, sizeof(dir), "%s/log", fuzz_scratch());
	fuzz_rmtree(dir);
	FUZZ_NEED(mkdir(dir, 0700) == 0);
	model_read(&m0, s0, n0, 0, flags & 1);
	snprintf(path, sizeof(path), "%s/%020d.seg", dir, 0);
	fuzz_write_file(path, s0, n0);
	if (!s1) {
		check_one(dir, s0, &m0, n0, 0, NULL, 0);
		if (flags & 2)
			writer(dir, s0, &m0, n0);
		goto out;
	}

	model_read(&m1, s1, n1, m0.frames, flags & 1);
	snprintf(path, sizeof(path), "%s/%020" PRIu64 ".seg", dir, (uint64_t)m0.frames);
	fuzz_write_file(path, s1, n1);
	rc = lgfs_log_file_open(&l, dir, LGFS_LOG_RDONLY);
	FUZZ_CHECK(rc == 0 || rc == LGFS_ECORRUPT);
	if (rc == 0) {
		FUZZ_CHECK(lgfs_log_size(l, &lsize) == 0);
		memset(&rd, 0, sizeof(rd));
		rc = lgfs_log_read(l, 0, lsize, read_cb, &rd);
		FUZZ_CHECK(rc == 0 || rc == LGFS_ECORRUPT);
		if (m0.tail == CLEAN && m1.tail == CLEAN && m0.frames > 0 && n1 > 0) {
			FUZZ_CHECK(l->damaged_at == UINT64_MAX);
			FUZZ_CHECK(lsize == m0.frames + m1.frames && rc == 0);
		}
		lgfs_log_close(l);
	}
	lgfs_error_clear();
out:
	free(copy);
	return 0;
}
