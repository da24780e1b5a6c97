/*
 * fuzz_checkpoint.c — lgfs_checkpoint_parse() on arbitrary text (a
 * checkpoint note's text as read from the checkpoints file, a trust pin or
 * another node).
 *
 * Invariants: a checkpoint that parses has a non-empty origin; printing it
 * again (lgfs_checkpoint_text) gives exactly the input's first three lines
 * (origin, size without leading zeros, canonical base64 root: one spelling
 * per checkpoint), and that text parses to the same checkpoint.
 */
#include "ledgerfs/error.h"
#include "ledgerfs/note.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lgfs_checkpoint cp, cp2;
	char *text = NULL;
	size_t n;
	int rc;

	rc = lgfs_checkpoint_parse(&cp, (const char *)data, size);
	if (rc) {
		FUZZ_CHECK(rc == LGFS_EINVAL);
		lgfs_error_clear();
		return 0;
	}
	n = strnlen(cp.origin, sizeof(cp.origin));
	FUZZ_CHECK(n > 0 && n <= LGFS_ORIGIN_MAX);
	rc = lgfs_checkpoint_text(&text, &cp);
	FUZZ_CHECK(rc == 0);
	n = strlen(text);
	FUZZ_CHECK(n <= size && fuzz_eq(text, data, n));
	FUZZ_CHECK(n == size || data[n - 1] == '\n');
	rc = lgfs_checkpoint_parse(&cp2, text, n);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(fuzz_eq(&cp, &cp2, sizeof(cp)));
	free(text);
	return 0;
}
