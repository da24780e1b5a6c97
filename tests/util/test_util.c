/*
 * test_util.c — util layer: errors, buffers, bounds-checked reader, SHA-256,
 * hex, strict base64, JSON strings, time format.
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

static void test_json_time(void **state)
{
	struct lgfs_buf b = LGFS_BUF_INIT;
	char t[48];

	(void)state;
	assert_int_equal(lgfs_json_str(&b, "a\"b\\c\n\x01\xff\xc3\xa4", 10), 0);
	assert_int_equal(b.len, strlen("\"a\\\"b\\\\c\\n\\u0001\\u00ff\xc3\xa4\""));
	assert_memory_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\\u00ff\xc3\xa4\"", b.len);
	lgfs_buf_reset(&b);
	assert_int_equal(lgfs_quote(&b, "x\x02", 2), 0);
	assert_memory_equal(b.data, "\"x\\x02\"", b.len);
	lgfs_buf_free(&b);
	lgfs_time_format(t, sizeof(t), 0);
	assert_string_equal(t, "1970-01-01T00:00:00.000000000Z");
	lgfs_time_format(t, sizeof(t), 1795400000123456789LL);
	assert_string_equal(t, "2026-11-23T02:13:20.123456789Z");
	lgfs_time_format(t, sizeof(t), -1);
	assert_string_equal(t, "1969-12-31T23:59:59.999999999Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_buf_reader),
		cmocka_unit_test(test_sha256_hex),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_json_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
