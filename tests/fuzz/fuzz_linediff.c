/*
 * fuzz_linediff.c — lgfs_linediff() on two arbitrary texts (file versions
 * compared by `ledgerfs diff`) and lgfs_linediff_is_text().
 *
 * Input: byte 0 chooses the options (context 0..7 lines; a search budget
 * from tiny, so the fallback runs, to large; sometimes a limit of 8 lines),
 * bytes 1-2 (big-endian, modulo the rest's length + 1) where the rest is
 * split into the old text a and the new text b.
 *
 * Invariants (linediff.h):
 *   - the hunks, applied to a as a patch (a small applier here: context
 *     and removed lines must match a, ranges and counts must match the
 *     lines), give exactly b, "\ No newline at end of file" included;
 *   - no hunks iff a == b; the stats count the hunks and the +/- lines;
 *   - when the search was exact, the edit is a shortest one: added +
 *     removed = |a| + |b| - 2 LCS (LCS computed here for small texts);
 *   - more lines than max_lines gives LGFS_ERANGE;
 *   - lgfs_linediff_is_text agrees with its definition.
 */
#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/linediff.h"

#include "fuzz.h"

#define NO_NEWLINE "\\ No newline at end of file\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct line {
	const uint8_t *p;
	size_t len; /* '\n' included when the line has one */
};

/* Split t into lines (*out malloc'd); returns the count. */
static size_t lines_of(struct line **out, const uint8_t *t, size_t n)
{
	const uint8_t *end = t + n, *q;
	size_t k = 0;

	*out = malloc((n + 1) * sizeof(**out));
	FUZZ_NEED(*out);
	while (t < end) {
		q = memchr(t, '\n', (size_t)(end - t));
		q = q ? q + 1 : end;
		(*out)[k].p = t;
		(*out)[k].len = (size_t)(q - t);
		k++;
		t = q;
	}
	return k;
}

static int line_eq(const struct line *x, const struct line *y)
{
	return x->len == y->len && fuzz_eq(x->p, y->p, x->len);
}

/* Parse a decimal number at *s; advances *s. */
static long number(const char **s, const char *end)
{
	long v = 0;

	FUZZ_CHECK(*s < end && **s >= '0' && **s <= '9');
	while (*s < end && **s >= '0' && **s <= '9') {
		v = v * 10 + (**s - '0');
		FUZZ_CHECK(v < (1L << 40));
		(*s)++;
	}
	return v;
}

/* "S" or "S,C" of a hunk header; returns the 0-based index of the range's
 * first line. */
static long range(const char **s, const char *end, long *count)
{
	long start = number(s, end);

	*count = 1;
	if (*s < end && **s == ',') {
		(*s)++;
		*count = number(s, end);
		FUZZ_CHECK(*count != 1); /* ",1" is left out */
	}
	return *count == 0 ? start : start - 1; /* an empty range names the line before it */
}

/* Apply the diff d to a's lines; the result goes to out. Counts the hunks
 * and lines. */
static void apply(struct lgfs_buf *out, const char *d, size_t dn, const struct line *a, size_t na,
		  size_t *hunks, size_t *added, size_t *removed)
{
	const char *p = d, *end = dn ? d + dn : d;
	size_t pos = 0, outlines = 0;

	*hunks = *added = *removed = 0;
	while (p < end) {
		long as, ac, bs, bc, seen_a = 0, seen_b = 0;

		FUZZ_CHECK((size_t)(end - p) > 4 && fuzz_eq(p, "@@ -", 4));
		p += 4;
		as = range(&p, end, &ac);
		FUZZ_CHECK(end - p > 2 && p[0] == ' ' && p[1] == '+');
		p += 2;
		bs = range(&p, end, &bc);
		FUZZ_CHECK(end - p >= 4 && fuzz_eq(p, " @@\n", 4));
		p += 4;
		FUZZ_CHECK(as >= 0 && (size_t)as >= pos && (size_t)as <= na);
		(*hunks)++;
		for (; pos < (size_t)as; pos++, outlines++) /* unchanged lines before the hunk */
			lgfs_buf_put(out, a[pos].p, a[pos].len);
		FUZZ_CHECK(bs == (long)outlines);
		while (p < end && (*p == ' ' || *p == '-' || *p == '+')) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			struct line l;
			char kind = *p;

			FUZZ_CHECK(nl != NULL);
			l.p = (const uint8_t *)p + 1;
			l.len = (size_t)(nl - p);
			p = nl + 1;
			if ((size_t)(end - p) >= sizeof(NO_NEWLINE) - 1 &&
			    fuzz_eq(p, NO_NEWLINE, sizeof(NO_NEWLINE) - 1)) {
				l.len--; /* the line had no '\n' */
				p += sizeof(NO_NEWLINE) - 1;
			}
			if (kind != '+') {
				FUZZ_CHECK(pos < na && line_eq(&l, &a[pos]));
				pos++;
				seen_a++;
			}
			if (kind != '-') {
				lgfs_buf_put(out, l.p, l.len);
				outlines++;
				seen_b++;
			}
			*added += kind == '+';
			*removed += kind == '-';
		}
		FUZZ_CHECK(seen_a == ac && seen_b == bc);
	}
	for (; pos < na; pos++)
		lgfs_buf_put(out, a[pos].p, a[pos].len);
}

/* Length of a longest common subsequence of lines. */
static size_t lcs(const struct line *a, size_t na, const struct line *b, size_t nb)
{
	size_t *prev = calloc(nb + 1, sizeof(size_t)), *cur = calloc(nb + 1, sizeof(size_t)), *t, i, j, r;

	FUZZ_NEED(prev && cur);
	for (i = 1; i <= na; i++) {
		for (j = 1; j <= nb; j++)
			cur[j] = line_eq(&a[i - 1], &b[j - 1]) ? prev[j - 1] + 1
							       : (prev[j] > cur[j - 1] ? prev[j] : cur[j - 1]);
		t = prev, prev = cur, cur = t;
	}
	r = prev[nb];
	free(prev);
	free(cur);
	return r;
}

/* linediff.h's definition of text, written out. */
static int is_text(const uint8_t *p, size_t n)
{
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		k = fuzz_utf8(p + i, n - i, &cp);
		if (!k || cp == 0)
			return 0;
		if (fuzz_cp_unsafe(cp) && cp != '\t' && cp != '\n' && !(cp == '\r' && i + 1 < n && p[i + 1] == '\n'))
			return 0;
		i += k;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t budgets[4] = { 20, 2000, 200000, 5000000 };
	struct lgfs_linediff_opts o;
	struct lgfs_linediff_stats st;
	struct lgfs_buf d = LGFS_BUF_INIT, res = LGFS_BUF_INIT;
	struct line *la, *lb;
	const uint8_t *a, *b;
	size_t alen, blen, na, nb, hunks, added, removed, split;
	int rc;

	if (size < 3)
		return 0;
	memset(&o, 0, sizeof(o));
	o.context = data[0] & 7;
	o.max_work = budgets[data[0] >> 3 & 3];
	if (data[0] & 0x80)
		o.max_lines = 8;
	split = ((size_t)data[1] << 8 | data[2]) % (size - 3 + 1);
	a = data + 3;
	alen = split;
	b = a + alen;
	blen = size - 3 - alen;
	na = lines_of(&la, a, alen);
	nb = lines_of(&lb, b, blen);

	FUZZ_CHECK(lgfs_linediff_is_text(a, alen) == is_text(a, alen));
	FUZZ_CHECK(lgfs_linediff_is_text(b, blen) == is_text(b, blen));

	rc = lgfs_linediff(&d, a, alen, b, blen, &o, &st);
	if (o.max_lines && (na > o.max_lines || nb > o.max_lines)) {
		FUZZ_CHECK(rc == LGFS_ERANGE && d.len == 0);
		lgfs_error_clear();
		goto out;
	}
	FUZZ_CHECK(rc == 0);
	apply(&res, (const char *)d.data, d.len, la, na, &hunks, &added, &removed);
	FUZZ_NEED(lgfs_buf_ok(&res) == 0);
	FUZZ_CHECK(res.len == blen && (blen == 0 || fuzz_eq(res.data, b, blen)));
	FUZZ_CHECK((d.len == 0) == (alen == blen && fuzz_eq(a, b, alen)));
	FUZZ_CHECK(st.hunks == hunks && st.added == added && st.removed == removed);
	FUZZ_CHECK(st.exact == 0 || st.exact == 1);
	if (st.exact && na * nb <= 1000000)
		FUZZ_CHECK(added + removed == na + nb - 2 * lcs(la, na, lb, nb));
out:
	free(la);
	free(lb);
	lgfs_buf_free(&d);
	lgfs_buf_free(&res);
	return 0;
}
