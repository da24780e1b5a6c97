/*
 * json.c — JSON strings, quoted text and timestamps for output (util layer).
 */
#include "ledgerfs/json.h"

#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int lgfs_json_str(struct lgfs_buf *b, const void *s, size_t n)
{
	const uint8_t *p = s;
	size_t i = 0;

	lgfs_buf_put_u8(b, '"');
	while (i < n) {
		size_t k = lgfs_utf8_len(p + i, n - i);
		uint32_t cp;

		if (k == 0) {
			lgfs_buf_put(b, "\\ufffd", 6);
			i++;
			continue;
		}
		if (lgfs_utf8_printable(p + i, k) && p[i] != '"' && p[i] != '\\') {
			lgfs_buf_put(b, p + i, k);
			i += k;
			continue;
		}
		/* Written as an escape even where JSON allows it raw (DEL, C1
		 * controls, separators, bidirectional controls): a terminal
		 * showing the JSON would act on them; the escape decodes to the
		 * same character, so the value is unchanged. */
		cp = lgfs_utf8_cp(p + i, k);
		if (cp == '"' || cp == '\\') {
			lgfs_buf_put_u8(b, '\\');
			lgfs_buf_put_u8(b, (uint8_t)cp);
		} else if (cp == '\n') {
			lgfs_buf_put(b, "\\n", 2);
		} else if (cp == '\t') {
			lgfs_buf_put(b, "\\t", 2);
		} else {
			lgfs_buf_printf(b, "\\u%04x", (unsigned int)cp);
		}
		i += k;
	}
	lgfs_buf_put_u8(b, '"');
	return lgfs_buf_ok(b);
}

int lgfs_json_bytes(struct lgfs_buf *b, const void *s, size_t n)
{
	char *enc;

	if (lgfs_utf8_valid(s, n))
		return lgfs_json_str(b, s, n);
	enc = malloc(lgfs_b64_len(n));
	if (!enc)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	lgfs_b64_encode(enc, s, n);
	lgfs_buf_printf(b, "{\"b64\":\"%s\"}", enc);
	free(enc);
	return lgfs_buf_ok(b);
}

int lgfs_quote(struct lgfs_buf *b, const void *s, size_t n)
{
	const uint8_t *p = s, *q;

	/* '"' is ASCII, never inside a multi-byte character: the pieces between
	 * quotes escape exactly as the whole would. */
	lgfs_buf_put_u8(b, '"');
	while ((q = memchr(p, '"', n))) {
		lgfs_escape_buf(b, p, (size_t)(q - p));
		lgfs_buf_put(b, "\\\"", 2);
		n -= (size_t)(q - p) + 1;
		p = q + 1;
	}
	lgfs_escape_buf(b, p, n);
	lgfs_buf_put_u8(b, '"');
	return lgfs_buf_ok(b);
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
