/*
 * json.c — JSON strings, quoted text and timestamps for output (util layer).
 */
#include "ledgerfs/json.h"

#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/hash.h"

#include <ctype.h>
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

int lgfs_time_parse(const char *s, int64_t *out)
{
	struct tm tm;
	int64_t ns = 0, secs;
	int off = 0, digits = 0;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	for (p = s; *p; p++)
		if (!isdigit((unsigned char)*p) && !strchr("-:T.tZz+ ", *p))
			return -1;
	if (strlen(s) < 20 || !isdigit((unsigned char)s[0]))
		return -1;
	if (sscanf(s, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
		return -1;
	if (sscanf(s + 11, "%2d:%2d:%2d", &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 3 || s[13] != ':' ||
	    s[16] != ':')
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

		if (strlen(p) != 6 || p[3] != ':' || sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 || hh > 23 || mm > 59)
			return -1;
		off = (hh * 60 + mm) * 60 * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -1;
	}
	if (*p || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1970 || tm.tm_year > 2262)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	secs = (int64_t)timegm(&tm);
	if (secs == -1)
		return -1;
	*out = (secs - off) * 1000000000LL + ns;
	return 0;
}
