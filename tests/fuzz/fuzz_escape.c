/*
 * fuzz_escape.c — escape.h on arbitrary bytes (names from the store or a
 * user, printed in messages and reports): lgfs_escape (whole and cut to a
 * small buffer), lgfs_escape_dup, lgfs_escape_buf, lgfs_quote, and the
 * UTF-8 helpers.
 *
 * Invariants (escape.h): the escaped form is valid UTF-8 with no control,
 * DEL, C1, separator or bidirectional character and no NUL; it reverses
 * ("\\" and "\xNN" are its only escapes) to the input; a name with nothing
 * to escape prints unchanged; the three entry points agree; a cut output
 * is NUL-terminated, a prefix of the whole, ends between two pieces and
 * holds as many pieces as fit. The UTF-8 helpers agree with an independent
 * decoder (fuzz.h).
 */
#include "ledgerfs/buf.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/json.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* upper case is not what escape.h writes */
}

/* Reverse an escaped text s (n bytes) into out (room for n bytes); quote:
 * also take \" for '"' (lgfs_quote). Returns the length, or -1 if s is not
 * something lgfs_escape writes. */
static long unescape(uint8_t *out, const char *s, size_t n, int quote)
{
	size_t i = 0, o = 0;

	while (i < n) {
		if (s[i] != '\\') {
			out[o++] = (uint8_t)s[i++];
			continue;
		}
		if (i + 1 < n && s[i + 1] == '\\') {
			out[o++] = '\\';
			i += 2;
		} else if (quote && i + 1 < n && s[i + 1] == '"') {
			out[o++] = '"';
			i += 2;
		} else if (i + 3 < n && s[i + 1] == 'x' && hexval(s[i + 2]) >= 0 && hexval(s[i + 3]) >= 0) {
			out[o++] = (uint8_t)(hexval(s[i + 2]) << 4 | hexval(s[i + 3]));
			i += 4;
		} else {
			return -1;
		}
	}
	return (long)o;
}

/* Printable, valid UTF-8, no NUL. */
static void check_safe(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		k = fuzz_utf8(p + i, n - i, &cp);
		FUZZ_CHECK(k > 0);
		FUZZ_CHECK(cp != 0 && !fuzz_cp_unsafe(cp));
		i += k;
	}
}

/* Length of the output piece (one escape or one character) at s. */
static size_t piece_len(const char *s, size_t n)
{
	uint32_t cp;
	size_t k;

	if (s[0] == '\\')
		return n >= 2 && s[1] == '\\' ? 2 : 4;
	k = fuzz_utf8((const uint8_t *)s, n, &cp);
	FUZZ_CHECK(k > 0);
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lgfs_buf b = LGFS_BUF_INIT, q = LGFS_BUF_INIT;
	size_t n, i, k, cap, used;
	uint8_t *back;
	char *dup, *cut;
	int plain = 1;
	uint32_t cp;
	long r;

	/* the UTF-8 helpers against fuzz.h's decoder */
	FUZZ_CHECK(lgfs_utf8_valid(data, size) == fuzz_utf8_valid(data, size));
	for (i = 0; i < size; i += k ? k : 1) {
		k = fuzz_utf8(data + i, size - i, &cp);
		FUZZ_CHECK(lgfs_utf8_len(data + i, size - i) == k);
		if (k) {
			FUZZ_CHECK(lgfs_utf8_cp(data + i, k) == cp);
			FUZZ_CHECK(lgfs_utf8_printable(data + i, k) == !fuzz_cp_unsafe(cp));
			if (fuzz_cp_unsafe(cp) || cp == '\\')
				plain = 0;
		} else {
			plain = 0;
		}
	}

	n = lgfs_escape(NULL, 0, data, size);
	dup = lgfs_escape_dup(data, size);
	FUZZ_NEED(dup);
	FUZZ_CHECK(strlen(dup) == n);
	check_safe(dup, n);
	FUZZ_CHECK(lgfs_escape_buf(&b, data, size) == 0);
	FUZZ_CHECK(b.len == n && fuzz_eq(b.data, dup, n));
	back = malloc(n + 1);
	FUZZ_NEED(back);
	r = unescape(back, dup, n, 0);
	FUZZ_CHECK(r == (long)size && fuzz_eq(back, data, size));
	if (plain)
		FUZZ_CHECK(n == size && fuzz_eq(dup, data, size));

	/* cut to a small buffer: whole pieces only, as many as fit */
	cap = size ? data[0] % 64 : 0;
	cut = malloc(cap + 1);
	FUZZ_NEED(cut);
	memset(cut, 'X', cap + 1);
	FUZZ_CHECK(lgfs_escape(cut, cap, data, size) == n);
	FUZZ_CHECK(cut[cap] == 'X'); /* nothing written past cap */
	if (cap > 0) {
		used = strnlen(cut, cap);
		FUZZ_CHECK(used < cap);
		FUZZ_CHECK(fuzz_eq(cut, dup, used));
		r = unescape(back, cut, used, 0);
		FUZZ_CHECK(r >= 0 && fuzz_eq(back, data, (size_t)r));
		if (used < n)
			FUZZ_CHECK(used + piece_len(dup + used, n - used) > cap - 1);
		else
			FUZZ_CHECK(n < cap);
	}

	/* quoted */
	FUZZ_CHECK(lgfs_quote(&q, data, size) == 0);
	FUZZ_CHECK(q.len >= 2 && q.data[0] == '"' && q.data[q.len - 1] == '"');
	check_safe((const char *)q.data, q.len);
	free(back);
	back = malloc(q.len);
	FUZZ_NEED(back);
	r = unescape(back, (const char *)q.data + 1, q.len - 2, 1);
	FUZZ_CHECK(r == (long)size && fuzz_eq(back, data, size));
	for (i = 1; i + 1 < q.len; i++) /* every inner quote is escaped */
		if (q.data[i] == '"')
			FUZZ_CHECK(q.data[i - 1] == '\\');

	free(back);
	free(cut);
	free(dup);
	lgfs_buf_free(&b);
	lgfs_buf_free(&q);
	return 0;
}
