/*
 * test_linediff.c — line diffs (linediff.h): exact hunks for empty texts,
 * equal texts, lines added and removed at the start, middle and end, a
 * missing final newline, several hunks and hunks joined by their context;
 * and, over many random texts, that applying the hunks to the old text
 * gives the new one and that the edit is a shortest one (checked against a
 * longest common subsequence by dynamic programming); the search budget's
 * fallback; the line limit; what counts as text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/linediff.h"

/* The hunks for a -> b with `context` lines of context (-1: defaults),
 * NUL-terminated, in a static buffer. */
static const char *diff_ctx(const char *a, const char *b, int context, struct lgfs_linediff_stats *st)
{
	static char text[65536];
	struct lgfs_buf out = LGFS_BUF_INIT;
	struct lgfs_linediff_opts o = { 0, 0, 0 };

	o.context = context < 0 ? LGFS_LINEDIFF_CONTEXT : (unsigned int)context;
	assert_int_equal(lgfs_linediff(&out, a, strlen(a), b, strlen(b), context < 0 ? NULL : &o, st), 0);
	assert_true(out.len < sizeof(text));
	if (out.len)
		memcpy(text, out.data, out.len);
	text[out.len] = '\0';
	lgfs_buf_free(&out);
	return text;
}

static const char *diff(const char *a, const char *b)
{
	return diff_ctx(a, b, -1, NULL);
}

/* "1\n2\n...n\n" with line k replaced by `repl` (k 0: none) */
static const char *numbered(char *buf, int n, int k, const char *repl)
{
	char *p = buf;

	for (int i = 1; i <= n; i++)
		p += i == k ? sprintf(p, "%s", repl) : sprintf(p, "%d\n", i);
	return buf;
}

static void test_empty_and_equal(void **state)
{
	struct lgfs_linediff_stats st;

	(void)state;
	assert_string_equal(diff_ctx("", "", -1, &st), "");
	assert_int_equal(st.hunks, 0);
	assert_int_equal(st.exact, 1);
	assert_string_equal(diff_ctx("a\nb\nc", "a\nb\nc", -1, &st), "");
	assert_int_equal(st.hunks, 0);
	assert_int_equal(st.added + st.removed, 0);
	assert_string_equal(diff_ctx("", "a\nb\n", -1, &st), "@@ -0,0 +1,2 @@\n+a\n+b\n");
	assert_int_equal(st.hunks, 1);
	assert_int_equal(st.added, 2);
	assert_int_equal(st.removed, 0);
	assert_string_equal(diff_ctx("a\nb\n", "", -1, &st), "@@ -1,2 +0,0 @@\n-a\n-b\n");
	assert_int_equal(st.removed, 2);
	assert_string_equal(diff("x\n", ""), "@@ -1 +0,0 @@\n-x\n");
	assert_string_equal(diff("", "x"), "@@ -0,0 +1 @@\n+x\n\\ No newline at end of file\n");
	/* an empty line is a line */
	assert_string_equal(diff("\n", "\n\n"), "@@ -1 +1,2 @@\n \n+\n");
}

static void test_start_middle_end(void **state)
{
	char a[256], b[512];

	(void)state;
	numbered(a, 10, 0, "");
	/* added at the start */
	snprintf(b, sizeof(b), "new\n%s", a);
	assert_string_equal(diff(a, b), "@@ -1,3 +1,4 @@\n+new\n 1\n 2\n 3\n");
	/* removed at the start */
	assert_string_equal(diff(b, a), "@@ -1,4 +1,3 @@\n-new\n 1\n 2\n 3\n");
	/* added at the end */
	snprintf(b, sizeof(b), "%snew\n", a);
	assert_string_equal(diff(a, b), "@@ -8,3 +8,4 @@\n 8\n 9\n 10\n+new\n");
	assert_string_equal(diff(b, a), "@@ -8,4 +8,3 @@\n 8\n 9\n 10\n-new\n");
	/* changed in the middle */
	numbered(b, 10, 5, "five\n");
	assert_string_equal(diff(a, b), "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
	/* removed in the middle */
	numbered(b, 10, 5, "");
	assert_string_equal(diff(a, b), "@@ -2,7 +2,6 @@\n 2\n 3\n 4\n-5\n 6\n 7\n 8\n");
	/* added in the middle: the empty old range names the line before */
	assert_string_equal(diff_ctx(b, a, 0, NULL), "@@ -4,0 +5 @@\n+5\n");
	assert_string_equal(diff_ctx(a, b, 0, NULL), "@@ -5 +4,0 @@\n-5\n");
	/* a change near the start has less context before it */
	numbered(b, 10, 2, "two\n");
	assert_string_equal(diff(a, b), "@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n");
}

static void test_no_newline_at_end(void **state)
{
	(void)state;
	assert_string_equal(diff("a\nb", "a\nb\n"), "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n");
	assert_string_equal(diff("a\nb\n", "a\nb"), "@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n");
	assert_string_equal(diff("a\nb", "a\nc"),
			    "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n");
	/* the unchanged last line without newline is shown as context with its mark */
	assert_string_equal(diff("x\na\nb", "y\na\nb"), "@@ -1,3 +1,3 @@\n-x\n+y\n a\n b\n\\ No newline at end of file\n");
}

static void test_hunks_apart_and_joined(void **state)
{
	static char a[1024], b[1024];
	char *p;
	struct lgfs_linediff_stats st;

	(void)state;
	numbered(a, 30, 0, "");
	/* lines 5 and 25: far apart, two hunks */
	strcpy(b, a);
	p = strstr(b, "\n5\n") + 1;
	*p = 'F';
	p = strstr(b, "\n25\n") + 1;
	p[0] = 'X';
	assert_string_equal(diff_ctx(a, b, -1, &st), "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+F\n 6\n 7\n 8\n"
						   "@@ -22,7 +22,7 @@\n 22\n 23\n 24\n-25\n+X5\n 26\n 27\n 28\n");
	assert_int_equal(st.hunks, 2);
	assert_int_equal(st.added, 2);
	assert_int_equal(st.removed, 2);
	/* lines 5 and 12: 6 unchanged lines between, the contexts touch: one hunk */
	numbered(b, 30, 5, "F\n");
	p = strstr(b, "\n12\n") + 1;
	p[0] = 'X';
	assert_string_equal(diff_ctx(a, b, -1, &st),
			    "@@ -2,14 +2,14 @@\n 2\n 3\n 4\n-5\n+F\n 6\n 7\n 8\n 9\n 10\n 11\n-12\n+X2\n 13\n 14\n 15\n");
	assert_int_equal(st.hunks, 1);
	/* lines 5 and 13: 7 between: two hunks */
	numbered(b, 30, 5, "F\n");
	p = strstr(b, "\n13\n") + 1;
	p[0] = 'X';
	assert_string_equal(diff_ctx(a, b, -1, &st), "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+F\n 6\n 7\n 8\n"
						   "@@ -10,7 +10,7 @@\n 10\n 11\n 12\n-13\n+X3\n 14\n 15\n 16\n");
	assert_int_equal(st.hunks, 2);
	/* with no context, changes one line apart are two hunks */
	numbered(b, 30, 5, "F\n");
	p = strstr(b, "\n7\n") + 1;
	p[0] = 'X';
	assert_string_equal(diff_ctx(a, b, 0, &st), "@@ -5 +5 @@\n-5\n+F\n@@ -7 +7 @@\n-7\n+X\n");
	assert_int_equal(st.hunks, 2);
}

static void test_slide_down(void **state)
{
	(void)state;
	/* whichever equal line the search picks, the added one is the last */
	assert_string_equal(diff("a\n", "a\na\n"), "@@ -1 +1,2 @@\n a\n+a\n");
	assert_string_equal(diff("a\na\na\n", "a\n"), "@@ -1,3 +1 @@\n a\n-a\n-a\n");
	assert_string_equal(diff("x\ny\n", "x\ny\nx\ny\n"), "@@ -1,2 +1,4 @@\n x\n y\n+x\n+y\n");
}

/* ---- random texts: applying the hunks gives the new text; the edit is shortest ---- */

/* Split s into lines (pointers into s, '\n' kept); returns the count. */
static int lines_of(const char *s, const char **l, size_t *len, int cap)
{
	int n = 0;

	while (*s) {
		const char *q = strchr(s, '\n');
		size_t k = q ? (size_t)(q - s) + 1 : strlen(s);

		assert_true(n < cap);
		l[n] = s;
		len[n++] = k;
		s += k;
	}
	return n;
}

/* Apply unified hunks to a; the result in out (NUL-terminated). Fails the
 * test when a hunk does not match a. */
static void apply(const char *a, const char *hunks, char *out, size_t cap)
{
	const char *al[256], *hl[1024];
	size_t alen[256], hlen[1024], o = 0;
	int na = lines_of(a, al, alen, 256), nh = lines_of(hunks, hl, hlen, 1024), i = 0, h = 0;

	while (h < nh) {
		long s1, c1 = 1, s2, c2 = 1;
		char line[64];

		assert_true(hlen[h] < sizeof(line));
		memcpy(line, hl[h], hlen[h]);
		line[hlen[h]] = '\0';
		if (sscanf(line, "@@ -%ld,%ld +", &s1, &c1) != 2) {
			assert_int_equal(sscanf(line, "@@ -%ld +", &s1), 1);
			c1 = 1;
		}
		{
			const char *plus = strchr(line, '+');

			if (sscanf(plus, "+%ld,%ld @@", &s2, &c2) != 2) {
				assert_int_equal(sscanf(plus, "+%ld @@", &s2), 1);
				c2 = 1;
			}
		}
		/* copy the lines before the hunk */
		for (long stop = c1 ? s1 - 1 : s1; i < stop; i++) {
			assert_true(i < na);
			memcpy(out + o, al[i], alen[i]);
			o += alen[i];
		}
		h++;
		while (h < nh && hl[h][0] != '@') {
			char kind = hl[h][0];
			const char *p = hl[h] + 1;
			size_t k = hlen[h] - 1;

			if (h + 1 < nh && hl[h + 1][0] == '\\')
				k--; /* the line had no newline */
			assert_true(kind == ' ' || kind == '-' || kind == '+');
			if (kind == ' ' || kind == '-') {
				assert_true(i < na);
				assert_int_equal(alen[i], k);
				assert_memory_equal(al[i], p, k);
				i++;
				c1--;
			}
			if (kind == ' ' || kind == '+') {
				assert_true(o + k < cap);
				memcpy(out + o, p, k);
				o += k;
				c2--;
			}
			h += (h + 1 < nh && hl[h + 1][0] == '\\') ? 2 : 1;
		}
		assert_int_equal(c1, 0);
		assert_int_equal(c2, 0);
	}
	for (; i < na; i++) {
		memcpy(out + o, al[i], alen[i]);
		o += alen[i];
	}
	out[o] = '\0';
}

static int lcs(const char *a, const char *b)
{
	const char *al[256], *bl[256];
	size_t alen[256], blen[256];
	int na = lines_of(a, al, alen, 256), nb = lines_of(b, bl, blen, 256);
	static int t[257][257];

	for (int i = na; i >= 0; i--)
		for (int j = nb; j >= 0; j--) {
			if (i == na || j == nb)
				t[i][j] = 0;
			else if (alen[i] == blen[j] && !memcmp(al[i], bl[j], alen[i]))
				t[i][j] = 1 + t[i + 1][j + 1];
			else
				t[i][j] = t[i + 1][j] > t[i][j + 1] ? t[i + 1][j] : t[i][j + 1];
		}
	return t[0][0];
}

static void random_text(char *s, int maxlines, unsigned int *seed)
{
	int n = rand_r(seed) % (maxlines + 1);
	char *p = s;

	/* mostly lines both texts have, some that only one may have */
	for (int i = 0; i < n; i++)
		p += sprintf(p, "%c\n", rand_r(seed) % 8 ? "abcd"[rand_r(seed) % 4] : "efghijkl"[rand_r(seed) % 8]);
	if (n && rand_r(seed) % 4 == 0)
		p[-1] = '\0'; /* no newline at the end */
	*p = '\0';
}

static void test_random_shortest(void **state)
{
	char a[1024], b[1024], got[2048];
	unsigned int seed = 12345;
	struct lgfs_linediff_stats st;

	(void)state;
	for (int round = 0; round < 3000; round++) {
		const char *lines[256];
		size_t len[256];
		int na, nb;

		random_text(a, round % 3 ? 12 : 60, &seed);
		random_text(b, round % 3 ? 12 : 60, &seed);
		na = lines_of(a, lines, len, 256);
		nb = lines_of(b, lines, len, 256);
		apply(a, diff_ctx(a, b, round % 4, &st), got, sizeof(got));
		assert_string_equal(got, b);
		assert_int_equal(st.exact, 1);
		assert_int_equal(st.removed, (size_t)(na - lcs(a, b)));
		assert_int_equal(st.added, (size_t)(nb - lcs(a, b)));
	}
}

static void test_budget_and_limits(void **state)
{
	struct lgfs_linediff_opts o = { 3, 1, 0 };
	struct lgfs_linediff_stats st;
	struct lgfs_buf out = LGFS_BUF_INIT;
	char a[4096], b[4096], got[8192];

	(void)state;
	/* a budget of one step: a correct diff, not a shortest one */
	for (int i = 0; i < 60; i++)
		sprintf(a + 2 * i, "%c\n", "abcd"[i % 4]);
	strcpy(b, a);
	b[10] = 'z';
	b[60] = 'z';
	assert_int_equal(lgfs_linediff(&out, a, strlen(a), b, strlen(b), &o, &st), 0);
	assert_int_equal(st.exact, 0);
	assert_true(st.hunks >= 1);
	assert_true(out.len < sizeof(got));
	lgfs_buf_put_u8(&out, 0);
	apply(a, (const char *)out.data, got, sizeof(got));
	assert_string_equal(got, b);
	/* too many lines */
	lgfs_buf_reset(&out);
	o.max_lines = 5;
	assert_int_equal(lgfs_linediff(&out, "1\n2\n3\n4\n5\n6\n", 12, "", 0, &o, &st), LGFS_ERANGE);
	assert_non_null(strstr(lgfs_error_last(), "too many lines"));
	assert_int_equal(lgfs_linediff(&out, "1\n2\n3\n4\n5\n", 10, "", 0, &o, &st), 0);
	assert_int_equal(st.removed, 5);
	lgfs_buf_free(&out);
}

static void test_is_text(void **state)
{
	(void)state;
	assert_int_equal(lgfs_linediff_is_text("", 0), 1);
	assert_int_equal(lgfs_linediff_is_text("plain\ttext\n", 11), 1);
	assert_int_equal(lgfs_linediff_is_text("dos\r\nline\r\n", 11), 1);
	assert_int_equal(lgfs_linediff_is_text("caf\xc3\xa9\n", 6), 1);
	assert_int_equal(lgfs_linediff_is_text("a\0b", 3), 0);
	assert_int_equal(lgfs_linediff_is_text("a\rb\n", 4), 0);
	assert_int_equal(lgfs_linediff_is_text("ends\r", 5), 0);
	assert_int_equal(lgfs_linediff_is_text("\x1b[2J", 4), 0);
	assert_int_equal(lgfs_linediff_is_text("\x7f", 1), 0);
	assert_int_equal(lgfs_linediff_is_text("latin \xe9\n", 8), 0);
	assert_int_equal(lgfs_linediff_is_text("bidi \xe2\x80\xae\n", 9), 0);
	assert_int_equal(lgfs_linediff_is_text("c1 \xc2\x9b\n", 6), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_and_equal),
		cmocka_unit_test(test_start_middle_end),
		cmocka_unit_test(test_no_newline_at_end),
		cmocka_unit_test(test_hunks_apart_and_joined),
		cmocka_unit_test(test_slide_down),
		cmocka_unit_test(test_random_shortest),
		cmocka_unit_test(test_budget_and_limits),
		cmocka_unit_test(test_is_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
