/*
 * fuzz_time.c — lgfs_time_parse() on arbitrary strings (times a user gives
 * on the command line: retention ends, history points) and
 * lgfs_time_format() on what it returns.
 *
 * Invariants: json.h promises "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|
 * -HH:MM)", years 1970..2262, and -1 for anything else. So a string that
 * parses matches that grammar (checked here independently, with 't', ' '
 * and 'z' allowed as RFC 3339 allows, seconds up to 60 for a leap second)
 * and names a real day (no 31 February); and the time, formatted and
 * parsed again, gives the same nanoseconds.
 */
#include "ledgerfs/json.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int digits(const char *s, int n, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 1;
}

static int days_in(int year, int month)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* 1 if s is a time json.h says lgfs_time_parse accepts. */
static int strict_ok(const char *s)
{
	int y, mo, d, h, mi, sec, oh, om;
	const char *p;

	if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return 0;
	if (y < 1970 || y > 2262 || mo < 1 || mo > 12 || d < 1 || d > days_in(y, mo) || h > 23 || mi > 59 ||
	    sec > 60)
		return 0;
	p = s + 19;
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return 0;
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	}
	if (*p == 'Z' || *p == 'z')
		return p[1] == '\0';
	if (*p != '+' && *p != '-')
		return 0;
	return strlen(p) == 6 && digits(p + 1, 2, &oh) && p[3] == ':' && digits(p + 4, 2, &om) && oh <= 23 &&
	       om <= 59;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size), buf[64];
	int64_t ns = 0, again = 0;
	int rc;

	rc = lgfs_time_parse(s, &ns);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		FUZZ_CHECK(strict_ok(s));
		lgfs_time_format(buf, sizeof(buf), ns);
		/* times before 1970 (an offset from 1970-01-01) do not parse back */
		if (buf[0] != '@' && strncmp(buf, "1969", 4) != 0) {
			FUZZ_CHECK(lgfs_time_parse(buf, &again) == 0);
			FUZZ_CHECK(again == ns);
		}
	}
	free(s);
	return 0;
}
