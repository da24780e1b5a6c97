/*
 * fuzz_note.c — signed notes (C2SP signed-note, tlog-cosignature/v1) as read
 * from the checkpoints file, a trust pin or another node: lgfs_note_parse,
 * lgfs_note_verify, lgfs_cosignature_verify, lgfs_note_add_signature; and
 * the same bytes as a note text to sign, and as a verifier key string
 * (lgfs_key_from_vkey).
 *
 * One fixed key ("fuzz-key", from a fixed seed) signs and verifies; the
 * seed corpus holds notes it signed and cosigned, so mutations reach the
 * signature checks.
 *
 * Invariants:
 *   - a note that parses is rebuilt byte for byte from the parse (text,
 *     empty line, one "— name base64(key id || payload)" line per
 *     signature): the parser accepts one spelling of each note;
 *   - verification gives 0, LGFS_EBADSIG or LGFS_ENOTFOUND, nothing else;
 *   - adding our signature to a note that parses gives a note that parses,
 *     has the same text and verifies with our key;
 *   - a text that lgfs_note_sign accepts gives a note that parses back to
 *     that text and verifies; a cosignature line over it verifies, with
 *     its timestamp;
 *   - a verifier key that parses prints (lgfs_key_vkey) to a string that
 *     parses to the same name and public key.
 */
#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/key.h"
#include "ledgerfs/note.h"

#include "fuzz.h"

#define FUZZ_KEY_NAME "fuzz-key"

static struct lgfs_key *key;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[32];
	size_t i;

	(void)argc;
	(void)argv;
	for (i = 0; i < sizeof(seed); i++)
		seed[i] = (uint8_t)(7 * i + 1);
	FUZZ_NEED(lgfs_key_from_private_raw(&key, FUZZ_KEY_NAME, seed) == 0);
	return 0;
}

/* The note n, printed again from its parse. */
static void rebuild(struct lgfs_buf *b, const struct lgfs_note *n)
{
	uint8_t raw[4 + sizeof(n->sigs[0].payload)];
	char b64[4 * ((sizeof(raw) + 2) / 3) + 1];
	size_t i;

	lgfs_buf_put(b, n->text, n->text_len);
	lgfs_buf_put_u8(b, '\n');
	for (i = 0; i < n->nsigs; i++) {
		const struct lgfs_note_sig *s = &n->sigs[i];

		FUZZ_CHECK(s->payload_len <= sizeof(s->payload));
		lgfs_be32_put(raw, s->key_id);
		memcpy(raw + 4, s->payload, s->payload_len);
		lgfs_b64_encode(b64, raw, 4 + s->payload_len);
		lgfs_buf_printf(b, "\xe2\x80\x94 %s %s\n", s->name, b64);
	}
	FUZZ_NEED(lgfs_buf_ok(b) == 0);
}

/* The input as a note. */
static void as_note(const uint8_t *data, size_t size)
{
	struct lgfs_buf b = LGFS_BUF_INIT;
	struct lgfs_note *n = NULL, *n2 = NULL;
	struct lgfs_key *keys[1] = { key };
	const struct lgfs_key *who;
	struct lgfs_checkpoint cp;
	uint64_t ts;
	char *out = NULL;
	size_t i;
	int rc;

	rc = lgfs_note_parse(&n, (const char *)data, size);
	if (rc) {
		FUZZ_CHECK(rc == LGFS_EINVAL && n == NULL);
		lgfs_error_clear();
		return;
	}
	FUZZ_CHECK(n->nsigs >= 1 && n->nsigs <= LGFS_NOTE_MAX_SIGS);
	FUZZ_CHECK(n->text_len < size && n->text[n->text_len] == '\0');
	FUZZ_CHECK(fuzz_eq(n->text, data, n->text_len));
	rebuild(&b, n);
	FUZZ_CHECK(b.len == size && fuzz_eq(b.data, data, size));
	lgfs_buf_free(&b);

	rc = lgfs_note_verify(n, keys, 1, &who);
	FUZZ_CHECK(rc == 0 || rc == LGFS_EBADSIG || rc == LGFS_ENOTFOUND);
	FUZZ_CHECK(rc ? who == NULL : who == key);
	for (i = 0; i < n->nsigs; i++) {
		rc = lgfs_cosignature_verify(n, &n->sigs[i], key, &ts);
		FUZZ_CHECK(rc == 0 || rc == LGFS_EBADSIG || rc == LGFS_ENOTFOUND);
	}
	if (lgfs_checkpoint_parse(&cp, n->text, n->text_len) == 0)
		FUZZ_CHECK(cp.origin[0] != '\0');
	lgfs_error_clear();

	rc = lgfs_note_add_signature(&out, (const char *)data, size, key);
	if (rc) {
		FUZZ_CHECK(rc == LGFS_EINVAL && out == NULL);
		lgfs_error_clear();
	} else {
		rc = lgfs_note_parse(&n2, out, strlen(out));
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(n2->text_len == n->text_len && fuzz_eq(n2->text, n->text, n->text_len));
		rc = lgfs_note_verify(n2, keys, 1, &who);
		FUZZ_CHECK(rc == 0 && who == key);
		lgfs_note_free(n2);
		free(out);
	}
	lgfs_note_free(n);
}

/* The input as a text to sign and cosign. */
static void as_text(const uint8_t *data, size_t size)
{
	struct lgfs_key *keys[1] = { key };
	struct lgfs_note *n = NULL;
	char *signed_note = NULL, *line = NULL, *both;
	uint64_t ts = 0, got = 0;
	size_t i, slen, llen;
	int rc;

	rc = lgfs_note_sign(&signed_note, (const char *)data, size, key);
	if (rc) {
		FUZZ_CHECK(rc == LGFS_EINVAL && signed_note == NULL);
		lgfs_error_clear();
		return;
	}
	slen = strlen(signed_note);
	rc = lgfs_note_parse(&n, signed_note, slen);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(n->text_len == size && fuzz_eq(n->text, data, size));
	FUZZ_CHECK(lgfs_note_verify(n, keys, 1, NULL) == 0);
	lgfs_note_free(n);
	n = NULL;

	for (i = 0; i < 8 && i < size; i++)
		ts = ts << 8 | data[i];
	ts &= INT64_MAX;
	rc = lgfs_cosignature_line(&line, (const char *)data, size, ts, key);
	FUZZ_CHECK(rc == 0);
	llen = strlen(line);
	both = malloc(slen + llen + 1);
	FUZZ_NEED(both);
	memcpy(both, signed_note, slen);
	memcpy(both + slen, line, llen + 1);
	rc = lgfs_note_parse(&n, both, slen + llen);
	if (rc == 0) {
		FUZZ_CHECK(n->nsigs == 2);
		FUZZ_CHECK(lgfs_cosignature_verify(n, &n->sigs[1], key, &got) == 0);
		FUZZ_CHECK(got == ts);
		FUZZ_CHECK(lgfs_note_verify(n, keys, 1, NULL) == 0);
		lgfs_note_free(n);
	} else {
		FUZZ_CHECK(slen + llen > LGFS_NOTE_MAX); /* only the size limit refuses it */
		lgfs_error_clear();
	}
	free(both);
	free(line);
	free(signed_note);
}

/* The input as a verifier key string. */
static void as_vkey(const uint8_t *data, size_t size)
{
	struct lgfs_key *k = NULL, *k2 = NULL;
	char *s = fuzz_strndup(data, size), *v = NULL;
	int rc;

	rc = lgfs_key_from_vkey(&k, s);
	if (rc) {
		FUZZ_CHECK(rc == LGFS_EINVAL && k == NULL);
		lgfs_error_clear();
	} else {
		FUZZ_CHECK(lgfs_key_vkey(k, &v) == 0);
		FUZZ_CHECK(lgfs_key_from_vkey(&k2, v) == 0);
		FUZZ_CHECK(strcmp(lgfs_key_name(k), lgfs_key_name(k2)) == 0);
		FUZZ_CHECK(fuzz_eq(lgfs_key_public(k), lgfs_key_public(k2), LGFS_PUBKEY_LEN));
		FUZZ_CHECK(!lgfs_key_has_private(k));
		lgfs_key_free(k2);
		lgfs_key_free(k);
		free(v);
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	as_note(data, size);
	as_text(data, size);
	if (size < 512)
		as_vkey(data, size);
	return 0;
}
