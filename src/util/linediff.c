/*
 * linediff.c — unified diffs of two texts, line by line (util layer).
 * See linediff.h.
 *
 * Lines are first numbered by equivalence class (a hash table over their
 * bytes), so the search compares integers. The search is Myers' linear
 * space variant: find the middle snake of a shortest edit path by running
 * it from both ends at once, split there, and recurse; memory stays
 * proportional to the number of lines and time to lines times edits, with a
 * global budget of steps after which the rest is marked as replaced.
 */
#include "ledgerfs/linediff.h"

#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"

#include <stdlib.h>
#include <string.h>

/* One line of a text: its bytes, '\n' included when it has one. */
struct ld_line {
	const uint8_t *p;
	size_t len;
};

/* One text being compared. */
struct ld_side {
	struct ld_line *lines;
	int32_t n;     /* number of lines */
	uint32_t *cls; /* equivalence class of each line */
	uint8_t *chg;  /* 1: the line is only in this text */
};

/* The lines the search works on: those whose class is in both texts (a
 * line found in one text only is changed whatever the alignment, and
 * leaving it out changes no longest common subsequence). */
struct ld_seq {
	uint32_t *cls;  /* classes of the kept lines */
	uint8_t *chg;   /* 1: the line is only in this text */
	int32_t *orig;  /* its index among all lines */
	int32_t n;
};

/* The state of one comparison. */
struct ld {
	struct ld_side a, b;
	struct ld_seq sa, sb; /* what the search compares */
	uint32_t ncls;        /* number of classes */
	int32_t *v1, *v2;  /* furthest x per diagonal, forward and backward */
	uint64_t work;     /* steps taken so far */
	uint64_t max_work; /* the budget */
	int exact;         /* 0 once the budget cut a comparison short */
};

/* A group of changed lines: a[a0..a1) became b[b0..b1). */
struct ld_block {
	int32_t a0, a1, b0, b1;
};

static int32_t count_lines(const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n, *q;
	size_t k = 0;

	while (p < end && (q = memchr(p, '\n', (size_t)(end - p)))) {
		k++;
		p = q + 1;
		if (k > INT32_MAX / 4)
			return -1;
	}
	return (int32_t)(k + (p < end));
}

static void split_lines(struct ld_line *l, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n, *q;

	while (p < end) {
		q = memchr(p, '\n', (size_t)(end - p));
		q = q ? q + 1 : end;
		l->p = p;
		l->len = (size_t)(q - p);
		l++;
		p = q;
	}
}

static uint64_t hash_line(const struct ld_line *l)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < l->len; i++) {
		h ^= l->p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Number every line of both texts by its class: equal lines, equal numbers. */
static int classify(struct ld *d)
{
	size_t total = (size_t)d->a.n + (size_t)d->b.n, size = 16, i, mask;
	const struct ld_line **rep = NULL; /* a line of each class */
	uint32_t *slot = NULL;             /* class + 1, 0: free */
	uint32_t ncls = 0;
	int side;

	while (size < 2 * total)
		size <<= 1;
	mask = size - 1;
	slot = calloc(size, sizeof(*slot));
	rep = malloc((total ? total : 1) * sizeof(*rep));
	if (!slot || !rep) {
		free(slot);
		free(rep);
		return lgfs_error_set(LGFS_ENOMEM, "out of memory comparing lines");
	}
	for (side = 0; side < 2; side++) {
		struct ld_side *s = side ? &d->b : &d->a;

		for (i = 0; i < (size_t)s->n; i++) {
			const struct ld_line *l = &s->lines[i];
			size_t h = (size_t)hash_line(l) & mask;

			for (;;) {
				uint32_t c = slot[h];

				if (c == 0) {
					rep[ncls] = l;
					slot[h] = ++ncls;
					s->cls[i] = ncls - 1;
					break;
				}
				if (rep[c - 1]->len == l->len && !memcmp(rep[c - 1]->p, l->p, l->len)) {
					s->cls[i] = c - 1;
					break;
				}
				h = (h + 1) & mask;
			}
		}
	}
	free(slot);
	free(rep);
	d->ncls = ncls;
	return 0;
}

/* Keep the lines of s whose class occurs in the other text (`in`: 1 per
 * class that does); mark the others changed. */
static int keep_shared(struct ld_side *s, struct ld_seq *q, const uint8_t *in)
{
	int32_t i;

	q->cls = malloc(((size_t)s->n + 1) * sizeof(*q->cls));
	q->orig = malloc(((size_t)s->n + 1) * sizeof(*q->orig));
	q->chg = calloc((size_t)s->n + 1, 1);
	if (!q->cls || !q->orig || !q->chg)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory comparing lines");
	q->n = 0;
	for (i = 0; i < s->n; i++) {
		if (!in[s->cls[i]]) {
			s->chg[i] = 1;
			continue;
		}
		q->cls[q->n] = s->cls[i];
		q->orig[q->n++] = i;
	}
	return 0;
}

static void mark(struct ld *d, int32_t a0, int32_t a1, int32_t b0, int32_t b1)
{
	if (a1 > a0)
		memset(d->sa.chg + a0, 1, (size_t)(a1 - a0));
	if (b1 > b0)
		memset(d->sb.chg + b0, 1, (size_t)(b1 - b0));
}

/*
 * The middle snake of a[a0..a1) against b[b0..b1) (both non-empty): a point
 * (*sx, *sy) that a shortest edit path passes through, other than the two
 * corners. 1 when found; 0 when the texts have no line in common (the
 * shortest path is to remove all and add all); -1 when the budget ran out.
 */
static int bisect(struct ld *d, int32_t a0, int32_t a1, int32_t b0, int32_t b1, int32_t *sx, int32_t *sy)
{
	const uint32_t *A = d->sa.cls + a0, *B = d->sb.cls + b0;
	int32_t n = a1 - a0, m = b1 - b0;
	int32_t max_d = (n + m + 1) / 2, off = max_d, vlen = 2 * max_d + 2;
	int32_t delta = n - m, k1start = 0, k1end = 0, k2start = 0, k2end = 0;
	int front = delta & 1;
	int32_t dd, k1, k2, x1, y1, x2, y2, ko, xs;

	for (ko = 0; ko < vlen; ko++)
		d->v1[ko] = d->v2[ko] = -1;
	d->work += (uint64_t)vlen;
	d->v1[off + 1] = 0;
	d->v2[off + 1] = 0;
	for (dd = 0; dd < max_d; dd++) {
		if (d->work > d->max_work)
			return -1;
		/* forward: the furthest reaching dd-paths from the top left */
		for (k1 = -dd + k1start; k1 <= dd - k1end; k1 += 2) {
			ko = off + k1;
			if (k1 == -dd || (k1 != dd && d->v1[ko - 1] < d->v1[ko + 1]))
				x1 = d->v1[ko + 1];
			else
				x1 = d->v1[ko - 1] + 1;
			y1 = x1 - k1;
			xs = x1;
			while (x1 < n && y1 < m && A[x1] == B[y1]) {
				x1++;
				y1++;
			}
			d->work += (uint64_t)(x1 - xs) + 1;
			d->v1[ko] = x1;
			if (x1 > n) {
				k1end += 2; /* ran off the right */
			} else if (y1 > m) {
				k1start += 2; /* ran off the bottom */
			} else if (front) {
				int32_t k2o = off + delta - k1;

				if (k2o >= 0 && k2o < vlen && d->v2[k2o] != -1 && x1 >= n - d->v2[k2o]) {
					*sx = a0 + x1;
					*sy = b0 + y1;
					return 1;
				}
			}
		}
		/* backward: the furthest reaching dd-paths from the bottom right */
		for (k2 = -dd + k2start; k2 <= dd - k2end; k2 += 2) {
			ko = off + k2;
			if (k2 == -dd || (k2 != dd && d->v2[ko - 1] < d->v2[ko + 1]))
				x2 = d->v2[ko + 1];
			else
				x2 = d->v2[ko - 1] + 1;
			y2 = x2 - k2;
			xs = x2;
			while (x2 < n && y2 < m && A[n - x2 - 1] == B[m - y2 - 1]) {
				x2++;
				y2++;
			}
			d->work += (uint64_t)(x2 - xs) + 1;
			d->v2[ko] = x2;
			if (x2 > n) {
				k2end += 2;
			} else if (y2 > m) {
				k2start += 2;
			} else if (!front) {
				int32_t k1o = off + delta - k2;

				if (k1o >= 0 && k1o < vlen && d->v1[k1o] != -1) {
					x1 = d->v1[k1o];
					y1 = off + x1 - k1o;
					if (x1 >= n - x2) {
						*sx = a0 + x1;
						*sy = b0 + y1;
						return 1;
					}
				}
			}
		}
	}
	return 0;
}

/* Mark what changed between a[a0..a1) and b[b0..b1). The recursion halves
 * the edit distance at each level: its depth is logarithmic. */
static void compare(struct ld *d, int32_t a0, int32_t a1, int32_t b0, int32_t b1)
{
	const uint32_t *A = d->sa.cls, *B = d->sb.cls;
	int32_t x, y;
	int rc;

	while (a0 < a1 && b0 < b1 && A[a0] == B[b0]) {
		a0++;
		b0++;
	}
	while (a0 < a1 && b0 < b1 && A[a1 - 1] == B[b1 - 1]) {
		a1--;
		b1--;
	}
	d->work += 1;
	if (a0 == a1 || b0 == b1) {
		mark(d, a0, a1, b0, b1);
		return;
	}
	rc = d->work > d->max_work ? -1 : bisect(d, a0, a1, b0, b1, &x, &y);
	if (rc <= 0) {
		if (rc < 0)
			d->exact = 0;
		mark(d, a0, a1, b0, b1);
		return;
	}
	compare(d, a0, x, b0, y);
	compare(d, x, a1, y, b1);
}

/* Find what changed: the search over the shared lines, its marks carried
 * back to all lines. */
static int search(struct ld *d)
{
	uint8_t *ina = calloc((size_t)d->ncls + 1, 1), *inb = calloc((size_t)d->ncls + 1, 1);
	int32_t i;
	int rc = 0;

	if (!ina || !inb) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory comparing lines");
		goto out;
	}
	for (i = 0; i < d->a.n; i++)
		ina[d->a.cls[i]] = 1;
	for (i = 0; i < d->b.n; i++)
		inb[d->b.cls[i]] = 1;
	if ((rc = keep_shared(&d->a, &d->sa, inb)) || (rc = keep_shared(&d->b, &d->sb, ina)))
		goto out;
	compare(d, 0, d->sa.n, 0, d->sb.n);
	for (i = 0; i < d->sa.n; i++)
		d->a.chg[d->sa.orig[i]] |= d->sa.chg[i];
	for (i = 0; i < d->sb.n; i++)
		d->b.chg[d->sb.orig[i]] |= d->sb.chg[i];
out:
	free(ina);
	free(inb);
	return rc;
}

/* Move each group of changed lines down while the line after it equals its
 * first line (the result is the same text, read differently), joining the
 * groups it meets: one canonical diff whatever the search's tie-breaking. */
static void slide_down(struct ld_side *s)
{
	int32_t i = 0, start, end;

	while (i < s->n) {
		if (!s->chg[i]) {
			i++;
			continue;
		}
		start = i;
		end = i;
		while (end < s->n && s->chg[end])
			end++;
		while (end < s->n && s->cls[start] == s->cls[end]) {
			s->chg[start++] = 0;
			s->chg[end++] = 1;
			while (end < s->n && s->chg[end])
				end++;
		}
		i = end;
	}
}

static void put_range(struct lgfs_buf *out, int32_t start, int32_t count)
{
	if (count == 1)
		lgfs_buf_printf(out, "%ld", (long)start + 1);
	else
		lgfs_buf_printf(out, "%ld,%ld", (long)(count ? start + 1 : start), (long)count);
}

static void put_line(struct lgfs_buf *out, char prefix, const struct ld_line *l)
{
	lgfs_buf_put_u8(out, (uint8_t)prefix);
	lgfs_buf_put(out, l->p, l->len);
	if (l->len == 0 || l->p[l->len - 1] != '\n')
		lgfs_buf_put(out, "\n\\ No newline at end of file\n", 29);
}

/* The groups of changed lines, in order; *nb gets their number. */
static struct ld_block *blocks_of(const struct ld *d, size_t *nb)
{
	struct ld_block *bl = NULL, *nbl;
	size_t n = 0, cap = 0;
	int32_t i = 0, j = 0;

	while (i < d->a.n || j < d->b.n) {
		if ((i < d->a.n && d->a.chg[i]) || (j < d->b.n && d->b.chg[j])) {
			if (n == cap) {
				cap = cap ? 2 * cap : 16;
				if (!(nbl = realloc(bl, cap * sizeof(*bl)))) {
					free(bl);
					return NULL;
				}
				bl = nbl;
			}
			bl[n].a0 = i;
			bl[n].b0 = j;
			while (i < d->a.n && d->a.chg[i])
				i++;
			while (j < d->b.n && d->b.chg[j])
				j++;
			bl[n].a1 = i;
			bl[n].b1 = j;
			n++;
		} else {
			i++;
			j++;
		}
	}
	*nb = n;
	if (!bl)
		bl = malloc(1); /* no change: not an error */
	return bl;
}

/* Write the hunks: blocks closer than 2 * context unchanged lines share one. */
static size_t put_hunks(struct lgfs_buf *out, const struct ld *d, const struct ld_block *bl, size_t nb,
			int32_t ctx)
{
	size_t k = 0, first, last, t, hunks = 0;

	while (k < nb) {
		int32_t pre, post, hs_a, hs_b, he_a, he_b, i, next_a;

		first = last = k;
		while (last + 1 < nb && bl[last + 1].a0 - bl[last].a1 <= 2 * ctx)
			last++;
		pre = bl[first].a0 - (first ? bl[first - 1].a1 : 0);
		if (pre > ctx)
			pre = ctx;
		next_a = last + 1 < nb ? bl[last + 1].a0 : d->a.n;
		post = next_a - bl[last].a1;
		if (post > ctx)
			post = ctx;
		hs_a = bl[first].a0 - pre;
		hs_b = bl[first].b0 - pre;
		he_a = bl[last].a1 + post;
		he_b = bl[last].b1 + post;
		lgfs_buf_put(out, "@@ -", 4);
		put_range(out, hs_a, he_a - hs_a);
		lgfs_buf_put(out, " +", 2);
		put_range(out, hs_b, he_b - hs_b);
		lgfs_buf_put(out, " @@\n", 4);
		i = hs_a;
		for (t = first; t <= last; t++) {
			for (; i < bl[t].a0; i++)
				put_line(out, ' ', &d->a.lines[i]);
			for (; i < bl[t].a1; i++)
				put_line(out, '-', &d->a.lines[i]);
			for (int32_t j = bl[t].b0; j < bl[t].b1; j++)
				put_line(out, '+', &d->b.lines[j]);
		}
		for (; i < he_a; i++)
			put_line(out, ' ', &d->a.lines[i]);
		hunks++;
		k = last + 1;
	}
	return hunks;
}

int lgfs_linediff(struct lgfs_buf *out, const void *a, size_t alen, const void *b, size_t blen,
		  const struct lgfs_linediff_opts *opts, struct lgfs_linediff_stats *st)
{
	size_t max_lines = opts && opts->max_lines ? opts->max_lines : LGFS_LINEDIFF_MAX_LINES;
	int32_t ctx = opts ? (opts->context > INT32_MAX / 4 ? INT32_MAX / 4 : (int32_t)opts->context)
			   : LGFS_LINEDIFF_CONTEXT;
	struct ld_block *bl = NULL;
	struct ld d;
	size_t nb = 0, hunks = 0, i;
	int32_t na, nbl;
	int rc = 0;

	memset(&d, 0, sizeof(d));
	if (st)
		memset(st, 0, sizeof(*st));
	d.exact = 1;
	d.max_work = opts && opts->max_work ? opts->max_work : LGFS_LINEDIFF_WORK;
	na = count_lines(a, alen);
	nbl = count_lines(b, blen);
	if (na < 0 || nbl < 0 || (size_t)na > max_lines || (size_t)nbl > max_lines)
		return lgfs_error_set(LGFS_ERANGE, "too many lines to compare (more than %zu)", max_lines);
	d.a.n = na;
	d.b.n = nbl;
	d.a.lines = calloc((size_t)na + 1, sizeof(*d.a.lines));
	d.b.lines = calloc((size_t)nbl + 1, sizeof(*d.b.lines));
	d.a.cls = calloc((size_t)na + 1, sizeof(*d.a.cls));
	d.b.cls = calloc((size_t)nbl + 1, sizeof(*d.b.cls));
	d.a.chg = calloc((size_t)na + 1, 1);
	d.b.chg = calloc((size_t)nbl + 1, 1);
	/* bisect's arrays for the largest problem: 2 * ((n + m + 1) / 2) + 2 */
	d.v1 = calloc((size_t)na + nbl + 3, sizeof(*d.v1));
	d.v2 = calloc((size_t)na + nbl + 3, sizeof(*d.v2));
	if (!d.a.lines || !d.b.lines || !d.a.cls || !d.b.cls || !d.a.chg || !d.b.chg || !d.v1 || !d.v2) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory comparing lines");
		goto out;
	}
	split_lines(d.a.lines, a, alen);
	split_lines(d.b.lines, b, blen);
	if ((rc = classify(&d)) || (rc = search(&d)))
		goto out;
	slide_down(&d.a);
	slide_down(&d.b);
	if (!(bl = blocks_of(&d, &nb))) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory comparing lines");
		goto out;
	}
	hunks = put_hunks(out, &d, bl, nb, ctx);
	if ((rc = lgfs_buf_ok(out)))
		goto out;
	if (st) {
		st->hunks = hunks;
		st->exact = d.exact;
		for (i = 0; i < (size_t)na; i++)
			st->removed += d.a.chg[i];
		for (i = 0; i < (size_t)nbl; i++)
			st->added += d.b.chg[i];
	}
out:
	free(bl);
	free(d.sa.cls);
	free(d.sa.orig);
	free(d.sa.chg);
	free(d.sb.cls);
	free(d.sb.orig);
	free(d.sb.chg);
	free(d.v1);
	free(d.v2);
	free(d.a.chg);
	free(d.b.chg);
	free(d.a.cls);
	free(d.b.cls);
	free(d.a.lines);
	free(d.b.lines);
	return rc;
}

int lgfs_linediff_is_text(const void *s, size_t n)
{
	const uint8_t *p = s;
	size_t i = 0, k;

	while (i < n) {
		uint8_t c = p[i];

		if ((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || (c == '\r' && i + 1 < n && p[i + 1] == '\n')) {
			i++;
			continue;
		}
		k = lgfs_utf8_len(p + i, n - i);
		if (k == 0 || !lgfs_utf8_printable(p + i, k))
			return 0;
		i += k;
	}
	return 1;
}
