/*
 * fuzz_record.c — lgfs_record_decode() on arbitrary bytes (a log entry's
 * record as read from disk).
 *
 * Invariants: the decoder is strict (only the canonical encoding decodes),
 * so a record that decodes re-encodes to exactly the input bytes, and that
 * encoding decodes again; every argument is found by lgfs_record_arg(), and
 * the operation's name maps back to its code.
 */
#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/record.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lgfs_buf b = LGFS_BUF_INIT;
	struct lgfs_record r, r2;
	uint8_t com[32];
	const char *name;
	unsigned int i;
	int rc;

	rc = lgfs_record_decode(&r, data, size);
	if (rc) {
		FUZZ_CHECK(rc == LGFS_ECORRUPT);
		FUZZ_CHECK(lgfs_error_isset());
		lgfs_error_clear();
		return 0;
	}
	FUZZ_CHECK(r.version == LGFS_FORMAT_VERSION);
	FUZZ_CHECK(r.nargs <= LGFS_RECORD_MAX_ARGS);
	name = lgfs_op_name(r.op);
	FUZZ_CHECK(name != NULL);
	FUZZ_CHECK(lgfs_op_from_name(name) == r.op);
	for (i = 0; i < r.nargs; i++) {
		const struct lgfs_arg *a = &r.args[i];

		FUZZ_CHECK(lgfs_field_kind(a->field) != 0);
		FUZZ_CHECK(lgfs_field_name(a->field) != NULL);
		FUZZ_CHECK(lgfs_record_arg(&r, a->field) == a);
		FUZZ_CHECK(i == 0 || r.args[i - 1].field < a->field);
		if (a->data) /* borrowed from the input */
			FUZZ_CHECK(a->data >= data && a->data + a->len <= data + size);
	}

	rc = lgfs_record_encode(&b, &r);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(b.len == size);
	FUZZ_CHECK(fuzz_eq(b.data, data, size));
	rc = lgfs_record_decode(&r2, b.data, b.len);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(r2.op == r.op && r2.nargs == r.nargs && r2.index == r.index && r2.time_ns == r.time_ns);
	lgfs_record_commitment(com, data, size);
	lgfs_buf_free(&b);
	return 0;
}
