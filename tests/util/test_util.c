/*
 * test_util.c — util layer: errors, buffers, bounds-checked reader, SHA-256,
 * hex, strict base64, escaped names, JSON strings, time format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/json.h"

static void test_errors(void **state)
{
	(void)state;
	assert_int_equal(lgfs_error_set(LGFS_EINVAL, "bad %d", 7), LGFS_EINVAL);
	assert_string_equal(lgfs_error_last(), "bad 7");
	assert_int_equal(lgfs_error_wrap(LGFS_EINVAL, "ctx"), LGFS_EINVAL);
	assert_string_equal(lgfs_error_last(), "ctx: bad 7");
	errno = ENOSPC;
	assert_int_equal(lgfs_error_errno(LGFS_EIO, "write"), LGFS_ENOSPC);
	assert_non_null(strstr(lgfs_error_last(), "write: "));
	errno = ENOENT;
	assert_int_equal(lgfs_error_errno(LGFS_EIO, "open"), LGFS_ENOTFOUND);
	errno = EIO;
	assert_int_equal(lgfs_error_errno(LGFS_EIO, "read"), LGFS_EIO);
	assert_string_equal(lgfs_error_name(LGFS_ECORRUPT), "ECORRUPT");
	lgfs_error_clear();
	assert_string_equal(lgfs_error_last(), "unknown error");
	{
		/* very long messages are cut, not overflowed */
		char big[3000];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		lgfs_error_set(LGFS_EIO, "%s", big);
		lgfs_error_wrap(LGFS_EIO, "%s", big);
		assert_true(strlen(lgfs_error_last()) < 1024);
	}
}

static void test_buf_reader(void **state)
{
	struct lgfs_buf b = LGFS_BUF_INIT;
	struct lgfs_reader r;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	const uint8_t *p;
	int i;

	(void)state;
	for (i = 0; i < 1000; i++)
		assert_int_equal(lgfs_buf_put_u32(&b, (uint32_t)i), 0);
	assert_int_equal(b.len, 4000);
	lgfs_buf_reset(&b);
	lgfs_buf_put_u8(&b, 0xfe);
	lgfs_buf_put_u16(&b, 0x1234);
	lgfs_buf_put_u32(&b, 0xdeadbeef);
	lgfs_buf_put_u64(&b, 0x0102030405060708ULL);
	lgfs_buf_printf(&b, "%s-%d", "ab", 5);
	assert_int_equal(lgfs_buf_ok(&b), 0);
	assert_int_equal(b.len, 1 + 2 + 4 + 8 + 4);
	assert_int_equal(b.data[1], 0x12);
	lgfs_reader_init(&r, b.data, b.len);
	assert_int_equal(lgfs_reader_u8(&r, &u8), 0);
	assert_int_equal(u8, 0xfe);
	assert_int_equal(lgfs_reader_u16(&r, &u16), 0);
	assert_int_equal(u16, 0x1234);
	assert_int_equal(lgfs_reader_u32(&r, &u32), 0);
	assert_int_equal(u32, 0xdeadbeef);
	assert_int_equal(lgfs_reader_u64(&r, &u64), 0);
	assert_int_equal(u64, 0x0102030405060708ULL);
	assert_int_equal(lgfs_reader_bytes(&r, &p, 4), 0);
	assert_memory_equal(p, "ab-5", 4);
	assert_int_equal(r.left, 0);
	/* past the end: error, sticky */
	assert_int_equal(lgfs_reader_u8(&r, &u8), LGFS_ECORRUPT);
	assert_true(r.bad);
	lgfs_reader_init(&r, b.data, 3);
	assert_int_equal(lgfs_reader_u32(&r, &u32), LGFS_ECORRUPT);
	assert_int_equal(u32, 0);
	assert_int_equal(lgfs_reader_u8(&r, &u8), LGFS_ECORRUPT); /* sticky even though 3 bytes remain */
	{
		size_t n;
		uint8_t *d = lgfs_buf_detach(&b, &n);

		assert_int_equal(n, 19);
		assert_null(b.data);
		free(d);
	}
}

static void test_sha256_hex(void **state)
{
	uint8_t h[32], h2[32];
	char hex[65];
	struct lgfs_sha256_ctx *c;

	(void)state;
	lgfs_sha256(h, "abc", 3);
	lgfs_hex(hex, h, 32);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	lgfs_sha256_3(h2, "a", 1, "b", 1, "c", 1);
	assert_memory_equal(h, h2, 32);
	c = lgfs_sha256_ctx_new();
	assert_non_null(c);
	lgfs_sha256_ctx_update(c, "ab", 2);
	lgfs_sha256_ctx_update(c, "c", 1);
	lgfs_sha256_ctx_final(c, h2);
	assert_memory_equal(h, h2, 32);
	assert_int_equal(lgfs_unhex(h2, 32, hex, 64), 0);
	assert_memory_equal(h, h2, 32);
	assert_int_equal(lgfs_unhex(h2, 32, hex, 63), LGFS_EINVAL);
	hex[5] = 'g';
	assert_int_equal(lgfs_unhex(h2, 32, hex, 64), LGFS_EINVAL);
	assert_int_equal(lgfs_memeq_ct("abc", "abc", 3), 0);
	assert_int_not_equal(lgfs_memeq_ct("abc", "abd", 3), 0);
}

static void test_base64(void **state)
{
	static const struct {
		const char *plain, *b64;
	} v[] = { { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		  { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" } };
	char out[64];
	uint8_t dec[64];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		lgfs_b64_encode(out, v[i].plain, strlen(v[i].plain));
		assert_string_equal(out, v[i].b64);
		if (!*v[i].plain)
			continue;
		assert_int_equal(lgfs_b64_decode(dec, sizeof(dec), &n, v[i].b64, strlen(v[i].b64)), 0);
		assert_int_equal(n, strlen(v[i].plain));
		assert_memory_equal(dec, v[i].plain, n);
	}
	/* strictness */
	assert_int_equal(lgfs_b64_decode(dec, sizeof(dec), &n, "", 0), LGFS_EINVAL);
	assert_int_equal(lgfs_b64_decode(dec, sizeof(dec), &n, "Zg=", 3), LGFS_EINVAL);
	assert_int_equal(lgfs_b64_decode(dec, sizeof(dec), &n, "Zh==", 4), LGFS_EINVAL); /* non-zero pad bits */
	assert_int_equal(lgfs_b64_decode(dec, sizeof(dec), &n, "Z===", 4), LGFS_EINVAL);
	assert_int_equal(lgfs_b64_decode(dec, sizeof(dec), &n, "Zg==Zg==", 8), LGFS_EINVAL);
	assert_int_equal(lgfs_b64_decode(dec, sizeof(dec), &n, "Zm 9", 4), LGFS_EINVAL);
	assert_int_equal(lgfs_b64_decode(dec, sizeof(dec), &n, "Zm=v", 4), LGFS_EINVAL);
	assert_int_equal(lgfs_b64_decode(dec, 2, &n, "Zm9v", 4), LGFS_EINVAL); /* too long for cap */
}

static void test_escape(void **state)
{
	/* name, its length, the escaped form */
#define C(in, out) { in, sizeof(in) - 1, out }
	static const struct { const char *in; size_t len; const char *out; } cases[] = {
		C("plain.txt", "plain.txt"),
		C("", ""),
		C("a\x1b[31mred", "a\\x1b[31mred"),
		C("two\nlines\r\t", "two\\x0alines\\x0d\\x09"),
		C("back\\slash", "back\\\\slash"),
		C("nul\0x", "nul\\x00x"),
		C("del\x7f", "del\\x7f"),
		C("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
		C("latin1 caf\xe9", "latin1 caf\\xe9"),
		C("\xc0\xaf overlong", "\\xc0\\xaf overlong"),
		C("\xed\xa0\x80 surrogate", "\\xed\\xa0\\x80 surrogate"),
		C("cut \xe2\x82", "cut \\xe2\\x82"),
		C("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"),      /* above U+10FFFF */
		C("c1 \xc2\x9b", "c1 \\xc2\\x9b"),                       /* CSI */
		C("rtl\xe2\x80\xae" "exe.txt", "rtl\\xe2\\x80\\xae" "exe.txt"), /* U+202E */
		C("ls\xe2\x80\xa8", "ls\\xe2\\x80\\xa8"),               /* U+2028 */
	};
#undef C
	char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = lgfs_escape(out, sizeof(out), cases[i].in, cases[i].len);
		char *d = lgfs_escape_dup(cases[i].in, cases[i].len);
		struct lgfs_buf b = LGFS_BUF_INIT;

		assert_string_equal(out, cases[i].out);
		assert_int_equal(n, strlen(cases[i].out));
		assert_non_null(d);
		assert_string_equal(d, cases[i].out);
		free(d);
		assert_int_equal(lgfs_escape_buf(&b, cases[i].in, cases[i].len), 0);
		assert_int_equal(b.len, n);
		assert_memory_equal(b.data ? (const char *)b.data : "", cases[i].out, n);
		lgfs_buf_free(&b);
		assert_int_equal(lgfs_utf8_valid(cases[i].in, cases[i].len), i < 8 || (i >= 13));
	}
	/* a short buffer: cut at a whole escape or character, always terminated */
	memset(out, 'z', sizeof(out));
	assert_int_equal(lgfs_escape(out, 6, "ab\x1b", 3), 6);
	assert_string_equal(out, "ab");
	assert_int_equal(lgfs_escape(out, 7, "ab\x1b", 3), 6);
	assert_string_equal(out, "ab\\x1b");
	assert_int_equal(lgfs_escape(out, 3, "a\xc3\xa9", 3), 3);
	assert_string_equal(out, "a");
	assert_int_equal(lgfs_escape(out, 1, "abc", 3), 3);
	assert_string_equal(out, "");
	assert_int_equal(lgfs_escape(NULL, 0, "a\\", 2), 3);
}

static void test_json_time(void **state)
{
	struct lgfs_buf b = LGFS_BUF_INIT;
	char t[48];

	(void)state;
	assert_int_equal(lgfs_json_str(&b, "a\"b\\c\n\x01\xff\xc3\xa4\xc2\x9b", 12), 0);
	assert_int_equal(b.len, strlen("\"a\\\"b\\\\c\\n\\u0001\\ufffd\xc3\xa4\\u009b\""));
	assert_memory_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\\ufffd\xc3\xa4\\u009b\"", b.len);
	lgfs_buf_reset(&b);
	assert_int_equal(lgfs_quote(&b, "x\x02\"\x1b[2J\\", 8), 0);
	assert_int_equal(b.len, strlen("\"x\\x02\\\"\\x1b[2J\\\\\""));
	assert_memory_equal(b.data, "\"x\\x02\\\"\\x1b[2J\\\\\"", b.len);
	/* names: valid UTF-8 stays a string, anything else is base64 in an object */
	lgfs_buf_reset(&b);
	assert_int_equal(lgfs_json_bytes(&b, "\xc3\xbf\n", 3), 0);
	assert_memory_equal(b.data, "\"\xc3\xbf\\n\"", b.len);
	lgfs_buf_reset(&b);
	assert_int_equal(lgfs_json_bytes(&b, "\xff", 1), 0);
	assert_int_equal(b.len, strlen("{\"b64\":\"/w==\"}"));
	assert_memory_equal(b.data, "{\"b64\":\"/w==\"}", b.len);
	lgfs_buf_reset(&b);
	assert_int_equal(lgfs_json_bytes(&b, "", 0), 0);
	assert_memory_equal(b.data, "\"\"", b.len);
	lgfs_buf_free(&b);
	lgfs_time_format(t, sizeof(t), 0);
	assert_string_equal(t, "1970-01-01T00:00:00.000000000Z");
	lgfs_time_format(t, sizeof(t), 1795400000123456789LL);
	assert_string_equal(t, "2026-11-23T02:13:20.123456789Z");
	lgfs_time_format(t, sizeof(t), -1);
	assert_string_equal(t, "1969-12-31T23:59:59.999999999Z");
}

/* RFC 3339 as people type it, and what is not a time. */
static void test_time_parse(void **state)
{
	int64_t ns;

	(void)state;
	assert_int_equal(lgfs_time_parse("2026-11-23T10:00:00Z", &ns), 0);
	assert_int_equal(ns, 1795428000LL * 1000000000);
	assert_int_equal(lgfs_time_parse("2026-11-23T11:00:00.5+01:00", &ns), 0);
	assert_int_equal(ns, 1795428000LL * 1000000000 + 500000000);
	assert_int_equal(lgfs_time_parse("2024-02-29T00:00:00Z", &ns), 0);
	assert_int_equal(lgfs_time_parse("2021-02-29T00:00:00Z", &ns), -1); /* no such day */
	assert_int_equal(lgfs_time_parse("2021-02-31T00:00:00Z", &ns), -1);
	assert_int_equal(lgfs_time_parse("2021-+2-01T00:00:00Z", &ns), -1); /* a sign inside a field */
	assert_int_equal(lgfs_time_parse("2021-02-01T00: 0:00Z", &ns), -1);
	assert_int_equal(lgfs_time_parse("2262-04-12T00:00:00Z", &ns), -1); /* past the i64 ns clock */
	assert_int_equal(lgfs_time_parse("1969-12-31T23:59:59Z", &ns), -1);
	assert_int_equal(lgfs_time_parse("2026-11-23T10:00:00", &ns), -1); /* no zone */
	assert_int_equal(lgfs_time_parse("2026-11-23T24:00:00Z", &ns), -1);
	assert_int_equal(lgfs_time_parse("", &ns), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_buf_reader),
		cmocka_unit_test(test_sha256_hex),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_json_time),
		cmocka_unit_test(test_time_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
