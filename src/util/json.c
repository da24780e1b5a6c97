/*
 * json.c — JSON strings, quoted text and timestamps for output (util layer).
 */
#include "ledgerfs/json.h"

#include <stdio.h>
#include <time.h>

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
	size_t k, j;
	uint32_t cp;

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

static int put_escaped(struct lgfs_buf *b, const void *s, size_t n, int json)
{
	const uint8_t *p = s;
	size_t i = 0;

	lgfs_buf_put_u8(b, '"');
	while (i < n) {
		size_t k = utf8_seq(p + i, n - i);
		uint8_t c = p[i];

		if (k > 1) {
			lgfs_buf_put(b, p + i, k);
			i += k;
			continue;
		}
		if (k == 1 && c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
			lgfs_buf_put_u8(b, c);
		} else if (c == '"' || c == '\\') {
			lgfs_buf_put_u8(b, '\\');
			lgfs_buf_put_u8(b, c);
		} else if (c == '\n') {
			lgfs_buf_put(b, "\\n", 2);
		} else if (c == '\t') {
			lgfs_buf_put(b, "\\t", 2);
		} else if (json) {
			lgfs_buf_printf(b, "\\u%04x", c);
		} else {
			lgfs_buf_printf(b, "\\x%02x", c);
		}
		i++;
	}
	lgfs_buf_put_u8(b, '"');
	return lgfs_buf_ok(b);
}

int lgfs_json_str(struct lgfs_buf *b, const void *s, size_t n)
{
	return put_escaped(b, s, n, 1);
}

int lgfs_quote(struct lgfs_buf *b, const void *s, size_t n)
{
	return put_escaped(b, s, n, 0);
}

void lgfs_time_format(char *out, size_t cap, int64_t ns)
{
	time_t secs = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);
	struct tm tm;
	char day[32];

	if (frac < 0) {
		frac += 1000000000;
		secs -= 1;
	}
	if (!gmtime_r(&secs, &tm)) {
		snprintf(out, cap, "@%lld", (long long)ns);
		return;
	}
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, cap, "%s.%09ldZ", day, frac);
}
