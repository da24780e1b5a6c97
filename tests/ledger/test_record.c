/*
 * test_record.c — record and envelope encoding: round trips, canonical
 * form, and a strict decoder that fails cleanly on bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/record.h"

static const uint8_t hash_a[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

static void make_write(struct lgfs_record *r)
{
	lgfs_record_init(r, LGFS_OP_WRITE);
	memset(r->salt, 0x5a, sizeof(r->salt));
	strcpy(r->origin, "ledgerfs/demo/0123456789abcdef");
	r->index = 42;
	memset(r->prev, 0xab, 32);
	memset(r->author, 0xcd, 32);
	r->uid = 1000;
	r->gid = 100;
	r->time_ns = 1795400000123456789LL;
	/* deliberately out of field order: encode must sort */
	assert_int_equal(lgfs_record_add_str(r, LGFS_F_PATH, "/invoices/2026/ä.pdf"), 0);
	assert_int_equal(lgfs_record_add_bytes(r, LGFS_F_CONTENT, hash_a, 32), 0);
	assert_int_equal(lgfs_record_add_u64(r, LGFS_F_SIZE, 123456789), 0);
	assert_int_equal(lgfs_record_add_bytes(r, LGFS_F_MANIFEST, hash_a, 32), 0);
	assert_int_equal(lgfs_record_add_u64(r, LGFS_F_INO, 7), 0);
	assert_int_equal(lgfs_record_add_i64(r, LGFS_F_MTIME, -5), 0);
}

static void test_roundtrip(void **state)
{
	struct lgfs_record r, d;
	struct lgfs_buf b = LGFS_BUF_INIT, b2 = LGFS_BUF_INIT;
	uint64_t v;
	int64_t iv;
	unsigned int i;

	(void)state;
	make_write(&r);
	assert_int_equal(lgfs_record_encode(&b, &r), 0);
	assert_int_equal(lgfs_record_decode(&d, b.data, b.len), 0);
	assert_memory_equal(d.salt, r.salt, 16);
	assert_string_equal(d.origin, r.origin);
	assert_int_equal(d.index, 42);
	assert_int_equal(d.uid, 1000);
	assert_int_equal(d.gid, 100);
	assert_int_equal(d.time_ns, 1795400000123456789LL);
	assert_int_equal(d.op, LGFS_OP_WRITE);
	assert_int_equal(d.nargs, 6);
	for (i = 1; i < d.nargs; i++)
		assert_true(d.args[i - 1].field < d.args[i].field);
	assert_int_equal(lgfs_record_get_u64(&d, LGFS_F_SIZE, &v), 0);
	assert_int_equal(v, 123456789);
	assert_int_equal(lgfs_record_get_i64(&d, LGFS_F_MTIME, &iv), 0);
	assert_int_equal(iv, -5);
	assert_memory_equal(lgfs_record_arg(&d, LGFS_F_MANIFEST)->data, hash_a, 32);
	assert_int_equal(lgfs_record_get_u64(&d, LGFS_F_PARENT, &v), LGFS_ENOTFOUND);
	/* re-encoding the decoded record gives the same bytes */
	assert_int_equal(lgfs_record_encode(&b2, &d), 0);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.data, b2.data, b.len);
	lgfs_buf_free(&b);
	lgfs_buf_free(&b2);
}

/* The documented layout, checked byte by byte for a small record. */
static void test_layout(void **state)
{
	struct lgfs_record r;
	struct lgfs_buf b = LGFS_BUF_INIT;
	const uint8_t *p;

	(void)state;
	lgfs_record_init(&r, LGFS_OP_UNLINK);
	memset(r.salt, 0x11, 16);
	strcpy(r.origin, "o");
	r.index = 0x0102030405060708ULL;
	r.uid = 0x0a0b0c0d;
	r.gid = 1;
	r.time_ns = 2;
	assert_int_equal(lgfs_record_add_u64(&r, LGFS_F_PARENT, 1), 0);
	assert_int_equal(lgfs_record_add_str(&r, LGFS_F_NAME, "x"), 0);
	assert_int_equal(lgfs_record_encode(&b, &r), 0);
	p = b.data;
	assert_int_equal(b.len, 16 + 1 + 2 + 1 + 8 + 32 + 32 + 4 + 4 + 8 + 2 + 1 + (1 + 4 + 1) + (1 + 4 + 8));
	assert_int_equal(p[16], 1);            /* version */
	assert_int_equal(p[17], 0);            /* origin length, big-endian */
	assert_int_equal(p[18], 1);
	assert_int_equal(p[19], 'o');
	assert_int_equal(p[20], 1);            /* index big-endian */
	assert_int_equal(p[27], 8);
	assert_int_equal(p[92], 0x0a);         /* uid */
	assert_int_equal(p[96 + 3], 1);        /* gid */
	assert_int_equal(p[100 + 7], 2);       /* time */
	assert_int_equal(p[108], 0x01);        /* op 0x0109 */
	assert_int_equal(p[109], 0x09);
	assert_int_equal(p[110], 2);           /* nargs */
	assert_int_equal(p[111], LGFS_F_NAME); /* field 1 first */
	assert_int_equal(p[115], 1);           /* length 1 */
	assert_int_equal(p[116], 'x');
	assert_int_equal(p[117], LGFS_F_PARENT);
	assert_int_equal(p[121], 8);
	assert_int_equal(p[129], 1);
	lgfs_buf_free(&b);
}

static void test_builder_rejects(void **state)
{
	struct lgfs_record r;
	struct lgfs_buf b = LGFS_BUF_INIT;
	uint8_t big[LGFS_ARG_MAX_LEN + 1];
	int i;

	(void)state;
	lgfs_record_init(&r, LGFS_OP_UNLINK);
	assert_int_equal(lgfs_record_add_u64(&r, 99, 1), LGFS_EINVAL);          /* unknown field */
	assert_int_equal(lgfs_record_add_u32(&r, LGFS_F_PARENT, 1), LGFS_EINVAL);/* wrong kind */
	assert_int_equal(lgfs_record_add_bytes(&r, LGFS_F_MANIFEST, big, 31), LGFS_EINVAL);
	assert_int_equal(lgfs_record_add_bytes(&r, LGFS_F_PATH, "a\0b", 3), LGFS_EINVAL);
	assert_int_equal(lgfs_record_add_bytes(&r, LGFS_F_PATH, "\xc3\x28", 2), LGFS_EINVAL);
	assert_int_equal(lgfs_record_add_bytes(&r, LGFS_F_PATH, "\xed\xa0\x80", 3), LGFS_EINVAL); /* surrogate */
	assert_int_equal(lgfs_record_add_bytes(&r, LGFS_F_PATH, "\xc0\xaf", 2), LGFS_EINVAL);     /* overlong */
	memset(big, 'a', sizeof(big));
	assert_int_equal(lgfs_record_add_bytes(&r, LGFS_F_TARGET, big, sizeof(big)), LGFS_EINVAL);
	assert_int_equal(lgfs_record_add_u64(&r, LGFS_F_PARENT, 1), 0);
	assert_int_equal(lgfs_record_add_u64(&r, LGFS_F_PARENT, 2), LGFS_EINVAL); /* duplicate */
	/* schema: unlink lacks its name */
	assert_int_equal(lgfs_record_encode(&b, &r), LGFS_EINVAL);
	assert_non_null(strstr(lgfs_error_last(), "name"));
	/* schema: a field the operation may not have */
	assert_int_equal(lgfs_record_add_str(&r, LGFS_F_NAME, "n"), 0);
	assert_int_equal(lgfs_record_add_u32(&r, LGFS_F_VOTE, 1), 0);
	assert_int_equal(lgfs_record_encode(&b, &r), LGFS_EINVAL);
	/* unknown operation */
	lgfs_record_init(&r, 0x7777);
	assert_int_equal(lgfs_record_encode(&b, &r), LGFS_EINVAL);
	/* too many arguments */
	lgfs_record_init(&r, LGFS_OP_SETATTR);
	for (i = 1; i <= LGFS_RECORD_MAX_ARGS; i++)
		r.args[r.nargs++].field = (uint8_t)i;
	assert_int_equal(lgfs_record_add_u64(&r, LGFS_F_INO, 1), LGFS_EINVAL);
	lgfs_buf_free(&b);
}

/* Every strict prefix of a valid encoding is rejected; so is one more byte. */
static void test_truncated_and_trailing(void **state)
{
	struct lgfs_record r, d;
	struct lgfs_buf b = LGFS_BUF_INIT;
	uint8_t *copy;
	size_t n;

	(void)state;
	make_write(&r);
	assert_int_equal(lgfs_record_encode(&b, &r), 0);
	for (n = 0; n < b.len; n++) {
		copy = malloc(n ? n : 1); /* exact size so ASan sees any over-read */
		memcpy(copy, b.data, n);
		assert_int_equal(lgfs_record_decode(&d, copy, n), LGFS_ECORRUPT);
		free(copy);
	}
	copy = malloc(b.len + 1);
	memcpy(copy, b.data, b.len);
	copy[b.len] = 0;
	assert_int_equal(lgfs_record_decode(&d, copy, b.len + 1), LGFS_ECORRUPT);
	free(copy);
	lgfs_buf_free(&b);
}

/* Random garbage and random bit flips never crash the decoder; anything it
 * accepts re-encodes to exactly the same bytes (canonical). */
static void test_garbled(void **state)
{
	struct lgfs_record r, d;
	struct lgfs_buf b = LGFS_BUF_INIT, again = LGFS_BUF_INIT;
	uint32_t seed = 12345;
	int round, accepted = 0;

	(void)state;
	make_write(&r);
	assert_int_equal(lgfs_record_encode(&b, &r), 0);
	for (round = 0; round < 20000; round++) {
		uint8_t *copy = malloc(b.len);
		size_t len = b.len, k, flips;

		memcpy(copy, b.data, b.len);
		seed = seed * 1103515245 + 12345;
		flips = 1 + (seed >> 16) % 4;
		for (k = 0; k < flips; k++) {
			seed = seed * 1103515245 + 12345;
			copy[(seed >> 8) % len] ^= (uint8_t)(1u << ((seed >> 4) % 8));
		}
		if (round % 3 == 0) {
			seed = seed * 1103515245 + 12345;
			len = (seed >> 8) % (b.len + 1);
		}
		if (lgfs_record_decode(&d, copy, len) == 0) {
			accepted++;
			lgfs_buf_reset(&again);
			assert_int_equal(lgfs_record_encode(&again, &d), 0);
			assert_int_equal(again.len, len);
			assert_memory_equal(again.data, copy, len);
		}
		free(copy);
	}
	/* flips inside salt, hashes or numbers keep it valid: some must pass */
	assert_true(accepted > 0);
	lgfs_buf_free(&b);
	lgfs_buf_free(&again);
}

static void test_oversized(void **state)
{
	struct lgfs_record d;
	uint8_t *big = calloc(1, LGFS_RECORD_MAX_LEN + 1);
	uint8_t hdr[200];

	(void)state;
	assert_int_equal(lgfs_record_decode(&d, big, LGFS_RECORD_MAX_LEN + 1), LGFS_ECORRUPT);
	free(big);
	/* an origin length beyond the maximum */
	memset(hdr, 0, sizeof(hdr));
	hdr[16] = 1;
	hdr[17] = 0xff;
	hdr[18] = 0xff;
	assert_int_equal(lgfs_record_decode(&d, hdr, sizeof(hdr)), LGFS_ECORRUPT);
	/* an argument length of 4 GiB - 1 */
	{
		struct lgfs_record r;
		struct lgfs_buf b = LGFS_BUF_INIT;
		size_t off;

		lgfs_record_init(&r, LGFS_OP_NOTE);
		assert_int_equal(lgfs_record_add_str(&r, LGFS_F_REASON, "hello"), 0);
		assert_int_equal(lgfs_record_encode(&b, &r), 0);
		off = b.len - 5 - 4; /* the length of the only argument */
		b.data[off] = 0xff;
		b.data[off + 1] = 0xff;
		b.data[off + 2] = 0xff;
		b.data[off + 3] = 0xff;
		assert_int_equal(lgfs_record_decode(&d, b.data, b.len), LGFS_ECORRUPT);
		lgfs_buf_free(&b);
	}
}

static void test_noncanonical(void **state)
{
	struct lgfs_record r, d;
	struct lgfs_buf b = LGFS_BUF_INIT;
	uint8_t tmp[13];
	size_t a0;

	(void)state;
	lgfs_record_init(&r, LGFS_OP_UNLINK);
	assert_int_equal(lgfs_record_add_u64(&r, LGFS_F_PARENT, 1), 0);
	assert_int_equal(lgfs_record_add_str(&r, LGFS_F_NAME, "abcdefgh"), 0);
	assert_int_equal(lgfs_record_encode(&b, &r), 0);
	assert_int_equal(lgfs_record_decode(&d, b.data, b.len), 0);
	/* swap the two arguments (name: 1+4+8 = 13 bytes, parent: 13 bytes) */
	a0 = b.len - 26;
	memcpy(tmp, b.data + a0, 13);
	memmove(b.data + a0, b.data + a0 + 13, 13);
	memcpy(b.data + a0 + 13, tmp, 13);
	assert_int_equal(lgfs_record_decode(&d, b.data, b.len), LGFS_ECORRUPT);
	/* wrong version */
	memcpy(b.data + a0 + 13, b.data + a0, 13);
	b.data[16] = 2;
	assert_int_equal(lgfs_record_decode(&d, b.data, b.len), LGFS_ECORRUPT);
	lgfs_buf_free(&b);
}

static void test_envelope(void **state)
{
	struct lgfs_envelope e, d;
	uint8_t bytes[LGFS_ENVELOPE_LEN], h[32];
	struct lgfs_buf msg = LGFS_BUF_INIT;
	size_t n;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.version = 1;
	e.index = 77;
	memset(e.prev, 1, 32);
	memset(e.author, 2, 32);
	e.time_ns = -1;
	memset(e.commitment, 3, 32);
	memset(e.sig, 4, 64);
	lgfs_envelope_encode(bytes, &e);
	assert_int_equal(bytes[0], 1);
	assert_int_equal(bytes[8], 77);
	assert_int_equal(bytes[9], 1);
	assert_int_equal(bytes[41], 2);
	assert_int_equal(bytes[73], 0xff);
	assert_int_equal(bytes[81], 3);
	assert_int_equal(bytes[113], 4);
	assert_int_equal(lgfs_envelope_decode(&d, bytes, sizeof(bytes)), 0);
	assert_memory_equal(&d.sig, &e.sig, 64);
	assert_int_equal(d.time_ns, -1);
	assert_int_equal(d.index, 77);
	for (n = 0; n < sizeof(bytes); n++)
		assert_int_equal(lgfs_envelope_decode(&d, bytes, n), LGFS_ECORRUPT);
	bytes[0] = 9;
	assert_int_equal(lgfs_envelope_decode(&d, bytes, sizeof(bytes)), LGFS_ECORRUPT);
	bytes[0] = 1;
	/* the signed message: tag NUL, u16 origin length, origin, 113 bytes */
	assert_int_equal(lgfs_envelope_signed_message(&msg, "ab", bytes), 0);
	assert_int_equal(msg.len, sizeof(LGFS_TAG_ENVELOPE) + 2 + 2 + LGFS_ENVELOPE_SIGNED_LEN);
	assert_memory_equal(msg.data, "ledgerfs/envelope/v1\0\0\2ab", sizeof(LGFS_TAG_ENVELOPE) + 4);
	assert_memory_equal(msg.data + msg.len - 113, bytes, 113);
	lgfs_envelope_hash(h, bytes);
	{
		uint8_t ref[32];

		lgfs_sha256(ref, bytes, LGFS_ENVELOPE_SIGNED_LEN);
		assert_memory_equal(h, ref, 32);
	}
	lgfs_buf_free(&msg);
}

static void test_commitment_salted(void **state)
{
	struct lgfs_record r;
	struct lgfs_buf a = LGFS_BUF_INIT, b = LGFS_BUF_INIT;
	uint8_t ca[32], cb[32], ref[32];

	(void)state;
	make_write(&r);
	assert_int_equal(lgfs_record_encode(&a, &r), 0);
	r.salt[0] ^= 1;
	assert_int_equal(lgfs_record_encode(&b, &r), 0);
	lgfs_record_commitment(ca, a.data, a.len);
	lgfs_record_commitment(cb, b.data, b.len);
	assert_memory_not_equal(ca, cb, 32);
	/* SHA-256("ledgerfs/commitment/v1" NUL || record) */
	{
		struct lgfs_buf m = LGFS_BUF_INIT;

		lgfs_buf_put(&m, "ledgerfs/commitment/v1", 23);
		lgfs_buf_put(&m, a.data, a.len);
		lgfs_sha256(ref, m.data, m.len);
		assert_memory_equal(ca, ref, 32);
		lgfs_buf_free(&m);
	}
	lgfs_buf_free(&a);
	lgfs_buf_free(&b);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(lgfs_op_name(LGFS_OP_GENESIS), "genesis");
	assert_string_equal(lgfs_op_name(LGFS_OP_RENAME), "rename");
	assert_int_equal(lgfs_op_from_name("hold-release"), LGFS_OP_HOLD_RELEASE);
	assert_null(lgfs_op_name(0x9999));
	assert_int_equal(lgfs_op_from_name("nope"), 0);
	assert_string_equal(lgfs_field_name(LGFS_F_CONTENT), "sha256");
	assert_int_equal(lgfs_field_kind(0), 0);
	assert_int_equal(lgfs_field_kind(LGFS_F_MAX + 1), 0);
}

static void test_origin(void **state)
{
	char o[LGFS_ORIGIN_MAX + 1];
	uint8_t c[32];

	(void)state;
	memset(c, 0xab, 32);
	assert_int_equal(lgfs_origin_make(o, "demo", c), 0);
	assert_string_equal(o, "ledgerfs/demo/abababababababab");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_builder_rejects),
		cmocka_unit_test(test_truncated_and_trailing),
		cmocka_unit_test(test_garbled),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_noncanonical),
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_commitment_salted),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_origin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
