/*
 * json.c — JSON strings, quoted text and timestamps for output (util layer).
 */
#include "ledgerfs/json.h"

#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/hash.h"

#include <ctype.h>
#include <stdint.h>
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

/* n decimal digits at s (all must be digits). */
static int digits_at(const char *s, int n, int *out)
{
	int v = 0, k;

	for (k = 0; k < n; k++) {
		if (!isdigit((unsigned char)s[k]))
			return -1;
		v = v * 10 + (s[k] - '0');
	}
	*out = v;
	return 0;
}

int lgfs_time_parse(const char *s, int64_t *out)
{
	struct tm tm, back;
	int64_t ns = 0, secs;
	int off = 0, digits = 0, year, mon, day, hour, min, sec;
	const char *p;
	time_t tt;

	if (strlen(s) < 20 || digits_at(s, 4, &year) || s[4] != '-' || digits_at(s + 5, 2, &mon) || s[7] != '-' ||
	    digits_at(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits_at(s + 11, 2, &hour) || s[13] != ':' || digits_at(s + 14, 2, &min) || s[16] != ':' ||
	    digits_at(s + 17, 2, &sec))
		return -1;
	p = s + 19;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, digits++)
			if (digits < 9)
				ns = ns * 10 + (*p - '0');
		if (digits == 0)
			return -1;
		for (; digits < 9; digits++)
			ns *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh, mm;

		if (strlen(p) != 6 || digits_at(p + 1, 2, &hh) || p[3] != ':' || digits_at(p + 4, 2, &mm) || hh > 23 ||
		    mm > 59)
			return -1;
		off = (hh * 60 + mm) * 60 * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -1;
	}
	if (*p || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60 || year < 1970 ||
	    year > 2262)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec == 60 ? 59 : sec; /* a leap second: the second before */
	secs = (int64_t)timegm(&tm);
	tt = (time_t)secs;
	/* a day that month does not have (31 February) would be moved on */
	if (secs == -1 || !gmtime_r(&tt, &back) || back.tm_mday != day || back.tm_mon != mon - 1)
		return -1;
	secs -= off;
	/* the log's clock is i64 nanoseconds: it ends in April 2262 */
	if (secs < 0 || secs > INT64_MAX / 1000000000 - 1)
		return -1;
	*out = secs * 1000000000LL + ns;
	return 0;
}
