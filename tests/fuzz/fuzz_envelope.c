/*
 * fuzz_envelope.c — lgfs_envelope_decode() on arbitrary bytes (a log
 * entry's envelope as read from disk), and the signature check an open
 * applies to it.
 *
 * Input: the whole input is decoded once as it is (anything but 177 bytes
 * must be refused); when it is longer, its first 177 bytes are the
 * envelope and the rest the volume origin its signature covers.
 * Invariants: a decoded envelope re-encodes to the same bytes; the signed
 * message is exactly tag, NUL, origin length, origin and the signed part;
 * a signature check returns 0 or LGFS_EBADSIG, nothing else.
 */
#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/key.h"
#include "ledgerfs/record.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lgfs_buf msg = LGFS_BUF_INIT;
	struct lgfs_envelope e;
	uint8_t out[LGFS_ENVELOPE_LEN], h[32];
	char *origin;
	size_t olen;
	int rc;

	rc = lgfs_envelope_decode(&e, data, size);
	FUZZ_CHECK(rc == 0 || rc == LGFS_ECORRUPT);
	if (size != LGFS_ENVELOPE_LEN)
		FUZZ_CHECK(rc == LGFS_ECORRUPT);
	lgfs_error_clear();
	if (size < LGFS_ENVELOPE_LEN)
		return 0;

	rc = lgfs_envelope_decode(&e, data, LGFS_ENVELOPE_LEN);
	if (rc) {
		FUZZ_CHECK(rc == LGFS_ECORRUPT && data[0] != LGFS_FORMAT_VERSION);
		lgfs_error_clear();
		return 0;
	}
	lgfs_envelope_encode(out, &e);
	FUZZ_CHECK(fuzz_eq(out, data, LGFS_ENVELOPE_LEN));
	lgfs_envelope_hash(h, data);

	olen = size - LGFS_ENVELOPE_LEN;
	origin = fuzz_strndup(data + LGFS_ENVELOPE_LEN, olen);
	olen = strlen(origin); /* what a C string of it holds */
	rc = lgfs_envelope_signed_message(&msg, origin, data);
	if (olen > LGFS_ORIGIN_MAX) {
		FUZZ_CHECK(rc == LGFS_EINVAL);
	} else {
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(msg.len == sizeof(LGFS_TAG_ENVELOPE) + 2 + olen + LGFS_ENVELOPE_SIGNED_LEN);
		FUZZ_CHECK(fuzz_eq(msg.data, LGFS_TAG_ENVELOPE, sizeof(LGFS_TAG_ENVELOPE)));
		FUZZ_CHECK(lgfs_be16_get(msg.data + sizeof(LGFS_TAG_ENVELOPE)) == olen);
		FUZZ_CHECK(fuzz_eq(msg.data + sizeof(LGFS_TAG_ENVELOPE) + 2, origin, olen));
		FUZZ_CHECK(fuzz_eq(msg.data + msg.len - LGFS_ENVELOPE_SIGNED_LEN, data,
				  LGFS_ENVELOPE_SIGNED_LEN));
		rc = lgfs_ed25519_verify(e.author, e.sig, msg.data, msg.len);
		FUZZ_CHECK(rc == 0 || rc == LGFS_EBADSIG);
	}
	lgfs_error_clear();
	lgfs_buf_free(&msg);
	free(origin);
	return 0;
}
