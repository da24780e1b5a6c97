/*
 * escape.c — printable, reversible form of arbitrary names (util layer).
 * See escape.h for the rules.
 */
#include "ledgerfs/escape.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t lgfs_utf8_len(const void *s, size_t n)
{
	const uint8_t *p = s;
	size_t k, j;
	uint32_t cp;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		k = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		k = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		k = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < k)
		return 0;
	for (j = 1; j < k; j++) {
		if ((p[j] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[j] & 0x3f);
	}
	if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k;
}

int lgfs_utf8_valid(const void *s, size_t len)
{
	const uint8_t *p = s;
	size_t i = 0;

	while (i < len) {
		size_t k = lgfs_utf8_len(p + i, len - i);

		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

uint32_t lgfs_utf8_cp(const void *s, size_t k)
{
	const uint8_t *p = s;
	static const uint8_t lead_mask[5] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	uint32_t cp = p[0] & lead_mask[k];
	size_t j;

	for (j = 1; j < k; j++)
		cp = cp << 6 | (p[j] & 0x3f);
	return cp;
}

/* Valid characters that still must not reach a terminal raw: C1 controls act
 * like ESC on some terminals, the separators break lines, the bidirectional
 * controls make a name display as a different one. */
static int cp_unsafe(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
	       cp == 0x200e || cp == 0x200f || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

int lgfs_utf8_printable(const void *p, size_t k)
{
	return !cp_unsafe(lgfs_utf8_cp(p, k));
}

/*
 * The one walk over the name: calls emit(ctx, piece, n) for each whole piece
 * of output (a copied character or one escape) in order. Returns the total
 * output length.
 */
typedef int (*emit_fn)(void *ctx, const char *piece, size_t n);

static size_t escape_walk(const void *name, size_t len, emit_fn emit, void *ctx)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = name;
	size_t i = 0, total = 0;

	while (i < len) {
		size_t k = lgfs_utf8_len(p + i, len - i);
		char esc[4];

		if (k > 0 && p[i] != '\\' && lgfs_utf8_printable(p + i, k)) {
			emit(ctx, (const char *)p + i, k);
			total += k;
			i += k;
			continue;
		}
		if (k == 0)
			k = 1; /* an invalid byte: escape it alone, resync after it */
		for (size_t j = 0; j < k; j++, i++) {
			if (p[i] == '\\') {
				emit(ctx, "\\\\", 2);
				total += 2;
				continue;
			}
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[p[i] >> 4];
			esc[3] = hex[p[i] & 15];
			emit(ctx, esc, 4);
			total += 4;
		}
	}
	return total;
}

/* Fixed-size output: pieces are copied while they fit whole. */
struct fixed_out {
	char *out;
	size_t cap;  /* usable bytes, NUL excluded */
	size_t used;
	int full;    /* a piece did not fit: nothing more is copied */
};

static int emit_fixed(void *ctx, const char *piece, size_t n)
{
	struct fixed_out *f = ctx;

	if (f->full || f->used + n > f->cap) {
		f->full = 1;
		return 0;
	}
	memcpy(f->out + f->used, piece, n);
	f->used += n;
	return 0;
}

size_t lgfs_escape(char *out, size_t cap, const void *name, size_t len)
{
	struct fixed_out f = { out, cap ? cap - 1 : 0, 0, cap == 0 };
	size_t total = escape_walk(name, len, emit_fixed, &f);

	if (cap > 0)
		out[f.used] = '\0';
	return total;
}

static int emit_buf(void *ctx, const char *piece, size_t n)
{
	return lgfs_buf_put(ctx, piece, n);
}

int lgfs_escape_buf(struct lgfs_buf *b, const void *name, size_t len)
{
	escape_walk(name, len, emit_buf, b);
	return lgfs_buf_ok(b);
}

char *lgfs_escape_dup(const void *name, size_t len)
{
	size_t n = lgfs_escape(NULL, 0, name, len);
	char *s = malloc(n + 1);

	if (!s)
		return NULL;
	lgfs_escape(s, n + 1, name, len);
	return s;
}
