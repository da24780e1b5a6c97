/*
 * test_note.c — unit tests for src/ledger/note.c (ledger layer): C2SP
 * signed notes (exact bytes, strict parsing, verification rules), tlog
 * checkpoints, cosignature/v1 lines, and a mutation loop that must never
 * crash the parser nor produce a note that verifies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ledgerfs/error.h"
#include "ledgerfs/key.h"
#include "ledgerfs/note.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EM "\xe2\x80\x94"

static struct lgfs_key *klog, *kwit, *kother;

/* Key id computed with OpenSSL's SHA256(), independently of the library. */
static uint32_t ref_key_id(const char *name, uint8_t type, const uint8_t pub[32])
{
	uint8_t buf[128], h[32];
	size_t n = strlen(name);

	memcpy(buf, name, n);
	buf[n] = '\n';
	buf[n + 1] = type;
	memcpy(buf + n + 2, pub, 32);
	SHA256(buf, n + 2 + 32, h);
	return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* Strict-enough base64 decode for tests; returns the byte count or -1. */
static int b64dec(uint8_t *out, const char *s, size_t len)
{
	int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);

	if (n < 0)
		return -1;
	if (len >= 1 && s[len - 1] == '=')
		n--;
	if (len >= 2 && s[len - 2] == '=')
		n--;
	return n;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* "— name base64(raw)\n" built by hand. */
static void make_line(char *out, size_t cap, const char *name, const uint8_t *raw, size_t n)
{
	char b64[256];

	EVP_EncodeBlock((unsigned char *)b64, raw, (int)n);
	snprintf(out, cap, EM " %s %s\n", name, b64);
}

static char *concat(const char *a, const char *b)
{
	char *s = malloc(strlen(a) + strlen(b) + 1);

	assert_non_null(s);
	strcpy(s, a);
	strcat(s, b);
	return s;
}

static int verify_with(const char *note, size_t len, struct lgfs_key *k)
{
	struct lgfs_note *n = NULL;
	int rc = lgfs_note_parse(&n, note, len);

	if (rc)
		return rc;
	rc = lgfs_note_verify(n, &k, 1, NULL);
	lgfs_note_free(n);
	return rc;
}

static int group_setup(void **state)
{
	(void)state;
	if (lgfs_key_generate(&klog, "example.com/log") || lgfs_key_generate(&kwit, "witness.example/w1") ||
	    lgfs_key_generate(&kother, "other.example/k"))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	lgfs_key_free(klog);
	lgfs_key_free(kwit);
	lgfs_key_free(kother);
	return 0;
}

static void test_sign_parse_verify(void **state)
{
	static const char text[] = "hello\nworld \xc3\xa9\n";
	struct lgfs_key *keys[2] = { kother, klog };
	const struct lgfs_key *who = NULL;
	struct lgfs_note *n = NULL;
	char *note = NULL;

	(void)state;
	assert_int_equal(lgfs_note_sign(&note, text, strlen(text), klog), 0);
	assert_int_equal(strncmp(note, text, strlen(text)), 0);
	assert_int_equal(note[strlen(text)], '\n');
	assert_int_equal(lgfs_note_parse(&n, note, strlen(note)), 0);
	assert_int_equal(n->text_len, strlen(text));
	assert_string_equal(n->text, text);
	assert_int_equal(n->nsigs, 1);
	assert_string_equal(n->sigs[0].name, "example.com/log");
	assert_int_equal(n->sigs[0].key_id, lgfs_key_id(klog, 1));
	assert_int_equal(n->sigs[0].payload_len, 64);
	assert_int_equal(lgfs_note_verify(n, &klog, 1, &who), 0);
	assert_ptr_equal(who, klog);
	who = NULL;
	assert_int_equal(lgfs_note_verify(n, keys, 2, &who), 0);
	assert_ptr_equal(who, klog);
	assert_int_equal(lgfs_note_verify(n, keys, 2, NULL), 0);
	/* the signature is Ed25519 over the text including its final newline */
	assert_int_equal(lgfs_key_verify(klog, n->sigs[0].payload, text, strlen(text)), 0);
	lgfs_note_free(n);
	free(note);
}

static void test_checkpoint_exact_format(void **state)
{
	struct lgfs_checkpoint cp;
	char *note = NULL, expect_text[256], root_b64[64], *p, *nl;
	uint8_t raw[128];
	int i, nlines = 0;

	(void)state;
	memset(&cp, 0, sizeof(cp));
	strcpy(cp.origin, "ledgerfs/acme/0123456789abcdef");
	cp.size = 1234567;
	for (i = 0; i < 32; i++)
		cp.root[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(lgfs_checkpoint_sign(&note, &cp, klog), 0);

	EVP_EncodeBlock((unsigned char *)root_b64, cp.root, 32);
	snprintf(expect_text, sizeof(expect_text), "ledgerfs/acme/0123456789abcdef\n1234567\n%s\n", root_b64);
	assert_int_equal(strncmp(note, expect_text, strlen(expect_text)), 0);
	for (p = note; *p; p++)
		nlines += *p == '\n';
	assert_int_equal(nlines, 5);
	p = note + strlen(expect_text);
	/* the empty line, then "— " + name + " " */
	assert_memory_equal(p, "\n\xe2\x80\x94 example.com/log ", 1 + 3 + 1 + 15 + 1);
	p += 21;
	nl = strchr(p, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');
	assert_int_equal(nl - p, 92); /* base64 of 68 bytes */
	assert_int_equal(b64dec(raw, p, (size_t)(nl - p)), 68);
	assert_int_equal((uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3],
			 ref_key_id("example.com/log", 0x01, lgfs_key_public(klog)));
	assert_int_equal(lgfs_ed25519_verify(lgfs_key_public(klog), raw + 4, expect_text, strlen(expect_text)), 0);
	free(note);
}

static void test_verify_unknown_and_altered(void **state)
{
	static const char text[] = "origin\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
	struct lgfs_note *n = NULL;
	struct lgfs_key *nokey = NULL, *pub = NULL;
	const struct lgfs_key *who = (const struct lgfs_key *)1;
	char *note = NULL;

	(void)state;
	assert_int_equal(lgfs_note_sign(&note, text, strlen(text), klog), 0);
	assert_int_equal(lgfs_note_parse(&n, note, strlen(note)), 0);
	assert_int_equal(lgfs_note_verify(n, &kother, 1, &who), LGFS_ENOTFOUND);
	assert_null(who);
	assert_int_equal(lgfs_note_verify(n, NULL, 0, NULL), LGFS_ENOTFOUND);
	assert_int_equal(lgfs_note_verify(n, &nokey, 1, NULL), LGFS_ENOTFOUND);
	/* same name, other key: id differs, so the line is not "by" it */
	assert_int_equal(lgfs_key_generate(&pub, "example.com/log"), 0);
	assert_int_equal(lgfs_note_verify(n, &pub, 1, NULL), LGFS_ENOTFOUND);
	lgfs_key_free(pub);
	/* a public-only copy of the log key verifies */
	assert_int_equal(lgfs_key_from_public(&pub, "example.com/log", lgfs_key_public(klog)), 0);
	assert_int_equal(lgfs_note_verify(n, &pub, 1, NULL), 0);
	lgfs_key_free(pub);
	lgfs_note_free(n);

	/* altered text: still well-formed, signature fails */
	note[0] = 'O';
	assert_int_equal(verify_with(note, strlen(note), klog), LGFS_EBADSIG);
	note[0] = 'o';
	note[7] = '2';
	assert_int_equal(verify_with(note, strlen(note), klog), LGFS_EBADSIG);
	note[7] = '1';
	assert_int_equal(verify_with(note, strlen(note), klog), 0);
	free(note);
}

static void test_unknown_lines_ignored(void **state)
{
	static const char text[] = "some text\n";
	uint8_t raw[4 + 128];
	char line[512], *note = NULL, *two = NULL, *s;
	size_t i;

	(void)state;
	assert_int_equal(lgfs_note_sign(&note, text, strlen(text), klog), 0);
	/* a line by an unknown key */
	assert_int_equal(lgfs_note_add_signature(&two, note, strlen(note), kother), 0);
	assert_int_equal(verify_with(two, strlen(two), klog), 0);
	assert_int_equal(verify_with(two, strlen(two), kother), 0);
	assert_int_equal(verify_with(two, strlen(two), kwit), LGFS_ENOTFOUND);
	free(two);

	/* hand-made lines: unknown name with junk; our name with another id;
	 * another name with our id; an odd-sized payload by an unknown key */
	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 13);
	make_line(line, sizeof(line), "unknown.example", raw, 68);
	s = concat(note, line);
	assert_int_equal(verify_with(s, strlen(s), klog), 0);
	free(s);
	be32(raw, lgfs_key_id(klog, 1) ^ 1);
	make_line(line, sizeof(line), "example.com/log", raw, 68);
	s = concat(note, line);
	assert_int_equal(verify_with(s, strlen(s), klog), 0);
	free(s);
	be32(raw, lgfs_key_id(klog, 1));
	make_line(line, sizeof(line), "example.com/log2", raw, 68);
	s = concat(note, line);
	assert_int_equal(verify_with(s, strlen(s), klog), 0);
	free(s);
	be32(raw, 0x12345678);
	make_line(line, sizeof(line), "pq.example/w", raw, 4 + 128);
	s = concat(note, line);
	assert_int_equal(verify_with(s, strlen(s), klog), 0);
	free(s);

	/* a line by the known key (name and id) that does not verify fails
	 * the whole note, even next to a good one */
	be32(raw, lgfs_key_id(klog, 1));
	make_line(line, sizeof(line), "example.com/log", raw, 68);
	s = concat(note, line);
	assert_int_equal(verify_with(s, strlen(s), klog), LGFS_EBADSIG);
	free(s);
	/* ... or has the wrong length, even when it starts with the valid
	 * signature (the good line replaced by one with 4 extra bytes) */
	make_line(line, sizeof(line), "example.com/log", raw, 4 + 32);
	s = concat(note, line);
	assert_int_equal(verify_with(s, strlen(s), klog), LGFS_EBADSIG);
	free(s);
	{
		struct lgfs_note *n = NULL;
		char whole[1024];

		assert_int_equal(lgfs_note_parse(&n, note, strlen(note)), 0);
		be32(raw, n->sigs[0].key_id);
		memcpy(raw + 4, n->sigs[0].payload, 64);
		memset(raw + 68, 0, 4);
		make_line(line, sizeof(line), "example.com/log", raw, 72);
		snprintf(whole, sizeof(whole), "%s\n%s", text, line);
		assert_int_equal(verify_with(whole, strlen(whole), klog), LGFS_EBADSIG);
		lgfs_note_free(n);
	}
	free(note);
}

static void test_add_signature(void **state)
{
	static const char text[] = "checkpoint-ish\n42\n";
	struct lgfs_key *both[2] = { klog, kwit };
	struct lgfs_note *n = NULL;
	const struct lgfs_key *who = NULL;
	char *note = NULL, *two = NULL, *again = NULL, *line2;
	size_t first_len;

	(void)state;
	assert_int_equal(lgfs_note_sign(&note, text, strlen(text), klog), 0);
	first_len = strlen(note);
	assert_int_equal(lgfs_note_add_signature(&two, note, strlen(note), kwit), 0);
	/* the original note is a prefix; one more line follows */
	assert_int_equal(strncmp(two, note, first_len), 0);
	line2 = two + first_len;
	assert_int_equal(strncmp(line2, EM " witness.example/w1 ", 3 + 1 + 18 + 1), 0);
	assert_int_equal(strchr(line2, '\n')[1], '\0');
	assert_int_equal(lgfs_note_parse(&n, two, strlen(two)), 0);
	assert_int_equal(n->nsigs, 2);
	assert_int_equal(n->sigs[1].key_id, ref_key_id("witness.example/w1", 1, lgfs_key_public(kwit)));
	assert_int_equal(lgfs_note_verify(n, &klog, 1, NULL), 0);
	assert_int_equal(lgfs_note_verify(n, &kwit, 1, &who), 0);
	assert_ptr_equal(who, kwit);
	assert_int_equal(lgfs_note_verify(n, both, 2, &who), 0);
	assert_ptr_equal(who, klog);
	lgfs_note_free(n);
	/* signing again with the same key replaces its line: same bytes */
	assert_int_equal(lgfs_note_add_signature(&again, two, strlen(two), kwit), 0);
	assert_string_equal(again, two);
	free(again);
	/* adding to a malformed note fails */
	again = (char *)1;
	assert_int_equal(lgfs_note_add_signature(&again, text, strlen(text), kwit), LGFS_EINVAL);
	assert_null(again);
	free(two);
	free(note);
}

/* Builds a valid note by klog, then the variants the parser must refuse. */
static void expect_parse_error(const char *note, size_t len, const char *what)
{
	struct lgfs_note *n = (struct lgfs_note *)1;

	if (lgfs_note_parse(&n, note, len) != LGFS_EINVAL)
		fail_msg("parser accepted: %s", what);
	assert_null(n);
}

static void test_parse_rejects(void **state)
{
	static const char text[] = "line one\nline two\n";
	static char buf[LGFS_NOTE_MAX + 4096];
	char *note = NULL, *sigline, b64[256];
	uint8_t raw[4 + 129];
	struct lgfs_note *n = NULL;
	size_t len, tl = strlen(text), i, sl;

	(void)state;
	assert_int_equal(lgfs_note_sign(&note, text, tl, klog), 0);
	len = strlen(note);
	sigline = note + tl + 1;
	sl = strlen(sigline);

	/* control: the note itself parses */
	assert_int_equal(lgfs_note_parse(&n, note, len), 0);
	lgfs_note_free(n);

	expect_parse_error(note, 0, "empty");
	expect_parse_error(NULL, 0, "NULL");
	/* missing blank line */
	snprintf(buf, LGFS_NOTE_MAX, "%s%s", text, sigline);
	expect_parse_error(buf, strlen(buf), "missing blank line");
	/* missing final newline */
	expect_parse_error(note, len - 1, "missing final newline");
	/* no signature lines */
	snprintf(buf, LGFS_NOTE_MAX, "%s\n", text);
	expect_parse_error(buf, strlen(buf), "no signature lines");
	/* ASCII hyphen, en dash, missing space, double space */
	snprintf(buf, LGFS_NOTE_MAX, "%s\n- %s", text, sigline + 4);
	expect_parse_error(buf, strlen(buf), "hyphen");
	snprintf(buf, LGFS_NOTE_MAX, "%s\n\xe2\x80\x93 %s", text, sigline + 4);
	expect_parse_error(buf, strlen(buf), "en dash");
	snprintf(buf, LGFS_NOTE_MAX, "%s\n" EM "%s", text, sigline + 4);
	expect_parse_error(buf, strlen(buf), "no space after dash");
	snprintf(buf, LGFS_NOTE_MAX, "%s\n" EM "  %s", text, sigline + 4);
	expect_parse_error(buf, strlen(buf), "empty name");
	/* bad base64: bad char, missing padding, whitespace, non-canonical */
	memcpy(buf, note, len + 1);
	buf[len - 3] = '*';
	expect_parse_error(buf, len, "bad base64 char");
	snprintf(buf, LGFS_NOTE_MAX, EM " example.com/log AAAA\n");
	{
		char *s = concat(text, "\n");
		char *t = concat(s, buf);

		expect_parse_error(t, strlen(t), "base64 shorter than 5 bytes");
		free(t);
		free(s);
	}
	snprintf(buf, LGFS_NOTE_MAX, "%s\n" EM " k AAAAAAB=\n", text);
	expect_parse_error(buf, strlen(buf), "non-canonical base64");
	snprintf(buf, LGFS_NOTE_MAX, "%s\n" EM " k AAAAAAAA\n", text);
	assert_int_equal(lgfs_note_parse(&n, buf, strlen(buf)), 0); /* 6 bytes: fine */
	lgfs_note_free(n);
	snprintf(buf, LGFS_NOTE_MAX, "%s\n" EM " k AAAAAAA\n", text);
	expect_parse_error(buf, strlen(buf), "unpadded base64");
	snprintf(buf, LGFS_NOTE_MAX, "%s\n" EM " k AAAA AAAA\n", text);
	expect_parse_error(buf, strlen(buf), "space in base64");
	snprintf(buf, LGFS_NOTE_MAX, "%s\n" EM " k \n", text);
	expect_parse_error(buf, strlen(buf), "empty base64");
	snprintf(buf, LGFS_NOTE_MAX, "%s\n" EM " k\n", text);
	expect_parse_error(buf, strlen(buf), "no signature after name");
	/* payload over 128 bytes */
	memset(raw, 0x5a, sizeof(raw));
	EVP_EncodeBlock((unsigned char *)b64, raw, 4 + 129);
	snprintf(buf, LGFS_NOTE_MAX, "%s\n" EM " k %s\n", text, b64);
	expect_parse_error(buf, strlen(buf), "payload of 129 bytes");
	/* bad names: '+', Unicode space, too long */
	snprintf(buf, LGFS_NOTE_MAX, "%s\n" EM " a+b AAAAAAAA\n", text);
	expect_parse_error(buf, strlen(buf), "plus in name");
	snprintf(buf, LGFS_NOTE_MAX, "%s\n" EM " a\xc2\xa0" "b AAAAAAAA\n", text);
	expect_parse_error(buf, strlen(buf), "NBSP in name");
	snprintf(buf, LGFS_NOTE_MAX, "%s\n" EM " a\xe3\x80\x80" "b AAAAAAAA\n", text);
	expect_parse_error(buf, strlen(buf), "ideographic space in name");
	snprintf(buf, LGFS_NOTE_MAX, "%s\n" EM " %065d AAAAAAAA\n", text, 0);
	expect_parse_error(buf, strlen(buf), "65-byte name");
	snprintf(buf, LGFS_NOTE_MAX, "%s\n" EM " %064d AAAAAAAA\n", text, 0);
	assert_int_equal(lgfs_note_parse(&n, buf, strlen(buf)), 0); /* 64: fine */
	lgfs_note_free(n);
	snprintf(buf, LGFS_NOTE_MAX, "%s\n" EM " caf\xc3\xa9.example AAAAAAAA\n", text);
	assert_int_equal(lgfs_note_parse(&n, buf, strlen(buf)), 0); /* non-ASCII name: fine */
	assert_string_equal(n->sigs[0].name, "caf\xc3\xa9.example");
	lgfs_note_free(n);
	/* empty line between / after signature lines */
	snprintf(buf, LGFS_NOTE_MAX, "%s\n%s\n%s", text, sigline, sigline);
	expect_parse_error(buf, strlen(buf), "empty line between signatures");
	snprintf(buf, LGFS_NOTE_MAX, "%s\n%s\n", text, sigline);
	expect_parse_error(buf, strlen(buf), "empty line after signatures");
	/* empty line inside the text, empty text, leading empty line */
	snprintf(buf, LGFS_NOTE_MAX, "line one\n\nline two\n\n%s", sigline);
	expect_parse_error(buf, strlen(buf), "empty line in text");
	snprintf(buf, LGFS_NOTE_MAX, "\n%s", sigline);
	expect_parse_error(buf, strlen(buf), "empty text");
	snprintf(buf, LGFS_NOTE_MAX, "\n\n%s", sigline);
	expect_parse_error(buf, strlen(buf), "empty text line");
	snprintf(buf, LGFS_NOTE_MAX, "\n%s\n%s", text, sigline);
	expect_parse_error(buf, strlen(buf), "text starting with empty line");
	/* NUL, controls, invalid UTF-8 (in text and in a signature line) */
	memcpy(buf, note, len + 1);
	buf[4] = '\0';
	expect_parse_error(buf, len, "NUL in text");
	buf[4] = '\r';
	expect_parse_error(buf, len, "CR in text");
	buf[4] = '\t';
	expect_parse_error(buf, len, "tab in text");
	buf[4] = (char)0xff;
	expect_parse_error(buf, len, "0xff in text");
	buf[4] = (char)0xc3; /* truncated 2-byte sequence */
	expect_parse_error(buf, len, "truncated UTF-8");
	memcpy(buf, note, len + 1);
	buf[len - 2] = '\0';
	expect_parse_error(buf, len, "NUL in signature");
	snprintf(buf, LGFS_NOTE_MAX, "a\xc0\xaf\n\n%s", sigline);
	expect_parse_error(buf, strlen(buf), "overlong UTF-8");
	snprintf(buf, LGFS_NOTE_MAX, "a\xed\xa0\x80\n\n%s", sigline);
	expect_parse_error(buf, strlen(buf), "surrogate");
	snprintf(buf, LGFS_NOTE_MAX, "a\xf4\x90\x80\x80\n\n%s", sigline);
	expect_parse_error(buf, strlen(buf), "above U+10FFFF");
	snprintf(buf, LGFS_NOTE_MAX, "a\xf0\x9f\x98\x80\n\n%s", sigline);
	assert_int_equal(lgfs_note_parse(&n, buf, strlen(buf)), 0); /* emoji: fine */
	lgfs_note_free(n);

	/* 100 signature lines are accepted, 101 are not */
	len = (size_t)snprintf(buf, LGFS_NOTE_MAX, "%s\n", text);
	for (i = 0; i < LGFS_NOTE_MAX_SIGS; i++) {
		memcpy(buf + len, sigline, sl);
		len += sl;
	}
	assert_int_equal(lgfs_note_parse(&n, buf, len), 0);
	assert_int_equal(n->nsigs, LGFS_NOTE_MAX_SIGS);
	assert_int_equal(lgfs_note_verify(n, &klog, 1, NULL), 0);
	lgfs_note_free(n);
	memcpy(buf + len, sigline, sl);
	expect_parse_error(buf, len + sl, "101 signatures");

	/* oversize: a long text line pushing the note over LGFS_NOTE_MAX */
	memset(buf, 'x', LGFS_NOTE_MAX);
	buf[LGFS_NOTE_MAX - 1 - sl - 1] = '\n';
	buf[LGFS_NOTE_MAX - 1 - sl] = '\n';
	memcpy(buf + LGFS_NOTE_MAX - sl, sigline, sl); /* exactly LGFS_NOTE_MAX bytes */
	assert_int_equal(lgfs_note_parse(&n, buf, LGFS_NOTE_MAX), 0);
	lgfs_note_free(n);
	memmove(buf + 1, buf, LGFS_NOTE_MAX);
	expect_parse_error(buf, LGFS_NOTE_MAX + 1, "oversize note");

	free(note);
}

static void test_sign_rejects_bad_text(void **state)
{
	struct lgfs_checkpoint cp;
	char *out = (char *)1, *big;

	(void)state;
	assert_int_equal(lgfs_note_sign(&out, "", 0, klog), LGFS_EINVAL);
	assert_null(out);
	assert_int_equal(lgfs_note_sign(&out, "no newline", 10, klog), LGFS_EINVAL);
	assert_int_equal(lgfs_note_sign(&out, "a\n\nb\n", 5, klog), LGFS_EINVAL);
	assert_int_equal(lgfs_note_sign(&out, "\n", 1, klog), LGFS_EINVAL);
	assert_int_equal(lgfs_note_sign(&out, "a\0b\n", 4, klog), LGFS_EINVAL);
	assert_int_equal(lgfs_note_sign(&out, "a\rb\n", 4, klog), LGFS_EINVAL);
	assert_int_equal(lgfs_note_sign(&out, "\xff\n", 2, klog), LGFS_EINVAL);
	/* text fitting in LGFS_NOTE_MAX but not with its signature */
	big = malloc(LGFS_NOTE_MAX);
	assert_non_null(big);
	memset(big, 'y', LGFS_NOTE_MAX);
	big[LGFS_NOTE_MAX - 1] = '\n';
	assert_int_equal(lgfs_note_sign(&out, big, LGFS_NOTE_MAX, klog), LGFS_EINVAL);
	free(big);
	/* a public-only key cannot sign */
	{
		struct lgfs_key *pub = NULL;

		assert_int_equal(lgfs_key_from_public(&pub, "p", lgfs_key_public(klog)), 0);
		assert_true(lgfs_note_sign(&out, "x\n", 2, pub) < 0);
		assert_null(out);
		lgfs_key_free(pub);
	}
	/* checkpoint with a bad origin is not signed */
	memset(&cp, 0, sizeof(cp));
	assert_int_equal(lgfs_checkpoint_sign(&out, &cp, klog), LGFS_EINVAL);
	strcpy(cp.origin, "a\nb");
	assert_int_equal(lgfs_checkpoint_sign(&out, &cp, klog), LGFS_EINVAL);
	memset(cp.origin, 'o', sizeof(cp.origin)); /* not NUL-terminated */
	assert_int_equal(lgfs_checkpoint_text(&out, &cp), LGFS_EINVAL);
	assert_null(out);
}

static void test_checkpoint_roundtrip(void **state)
{
	static const uint64_t sizes[] = { 0, 1, 9, 10, 1234567890123ULL, UINT64_MAX };
	struct lgfs_checkpoint cp, back;
	char *text = NULL, *ext;
	size_t i;
	int j;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(&cp, 0, sizeof(cp));
		snprintf(cp.origin, sizeof(cp.origin), "example.com/log%zu \xc3\xa9", i);
		cp.size = sizes[i];
		for (j = 0; j < 32; j++)
			cp.root[j] = (uint8_t)(i * 31 + (size_t)j);
		assert_int_equal(lgfs_checkpoint_text(&text, &cp), 0);
		assert_int_equal(lgfs_checkpoint_parse(&back, text, strlen(text)), 0);
		assert_string_equal(back.origin, cp.origin);
		assert_int_equal(back.size, cp.size);
		assert_memory_equal(back.root, cp.root, 32);
		/* extension lines are allowed and ignored */
		ext = concat(text, "ext one\n\xe2\x80\x94 not a signature\n");
		memset(&back, 0, sizeof(back));
		assert_int_equal(lgfs_checkpoint_parse(&back, ext, strlen(ext)), 0);
		assert_int_equal(back.size, cp.size);
		free(ext);
		free(text);
	}
	/* exact text */
	memset(&cp, 0, sizeof(cp));
	strcpy(cp.origin, "o");
	cp.size = 20852163;
	assert_int_equal(lgfs_checkpoint_text(&text, &cp), 0);
	assert_string_equal(text, "o\n20852163\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
	free(text);
	/* a 255-byte origin is the maximum */
	memset(cp.origin, 'o', 255);
	cp.origin[255] = '\0';
	assert_int_equal(lgfs_checkpoint_text(&text, &cp), 0);
	assert_int_equal(lgfs_checkpoint_parse(&back, text, strlen(text)), 0);
	assert_int_equal(strlen(back.origin), 255);
	free(text);
}

static void expect_cp_error(const char *text, const char *what)
{
	struct lgfs_checkpoint cp;

	memset(&cp, 0x55, sizeof(cp));
	if (lgfs_checkpoint_parse(&cp, text, strlen(text)) != LGFS_EINVAL)
		fail_msg("checkpoint parser accepted: %s", what);
	assert_int_equal(cp.size, 0);
	assert_int_equal(cp.origin[0], '\0');
}

static void test_checkpoint_rejects(void **state)
{
	static const char r32[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	char buf[1024];

	(void)state;
#define CP(o, s, r) (snprintf(buf, sizeof(buf), "%s\n%s\n%s\n", o, s, r), buf)
	expect_cp_error(CP("o", "007", r32), "leading zeros");
	expect_cp_error(CP("o", "00", r32), "00");
	expect_cp_error(CP("o", "-1", r32), "negative");
	expect_cp_error(CP("o", "+1", r32), "plus sign");
	expect_cp_error(CP("o", " 1", r32), "leading space");
	expect_cp_error(CP("o", "1 ", r32), "trailing space");
	expect_cp_error(CP("o", "0x10", r32), "hex");
	expect_cp_error(CP("o", "1e3", r32), "exponent");
	expect_cp_error(CP("o", "", r32), "empty size");
	expect_cp_error(CP("o", "18446744073709551616", r32), "2^64");
	expect_cp_error(CP("o", "99999999999999999999", r32), "20 nines");
	expect_cp_error(CP("o", "184467440737095516150", r32), "21 digits");
	expect_cp_error(CP("o", "1", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="), "31-byte root");
	expect_cp_error(CP("o", "1", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "33-byte root");
	expect_cp_error(CP("o", "1", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "unpadded root");
	expect_cp_error(CP("o", "1", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB="), "non-canonical root");
	expect_cp_error(CP("o", "1", ""), "empty root");
	expect_cp_error(CP("", "1", r32), "empty origin");
	expect_cp_error(CP("o\tx", "1", r32), "tab in origin");
	expect_cp_error(CP("o\xc2\x85x", "1", r32), "C1 control in origin");
	expect_cp_error(CP("o\x7fx", "1", r32), "DEL in origin");
	memset(buf, 'o', 256);
	snprintf(buf + 256, sizeof(buf) - 256, "\n1\n%s\n", r32);
	expect_cp_error(buf, "256-byte origin");
	expect_cp_error("o\n1\n", "missing root line");
	expect_cp_error("o\n", "missing size and root");
	expect_cp_error("", "empty");
	snprintf(buf, sizeof(buf), "o\n1\n%s", r32);
	expect_cp_error(buf, "missing final newline");
	snprintf(buf, sizeof(buf), "o\n1\n%s\n\n", r32);
	expect_cp_error(buf, "empty extension line");
	snprintf(buf, sizeof(buf), "o\n1\n%s\next", r32);
	expect_cp_error(buf, "extension without newline");
	snprintf(buf, sizeof(buf), "o\r\n1\n%s\n", r32);
	expect_cp_error(buf, "CRLF");
	/* the control: the same lines, well-formed, parse */
	{
		struct lgfs_checkpoint cp;

		CP("o", "18446744073709551615", r32);
		assert_int_equal(lgfs_checkpoint_parse(&cp, buf, strlen(buf)), 0);
		assert_int_equal(cp.size, UINT64_MAX);
		CP("o", "0", r32);
		assert_int_equal(lgfs_checkpoint_parse(&cp, buf, strlen(buf)), 0);
		assert_int_equal(cp.size, 0);
	}
#undef CP
}

static void test_cosignature(void **state)
{
	const uint64_t ts = 1679315147;
	struct lgfs_checkpoint cp;
	struct lgfs_note *n = NULL;
	struct lgfs_note_sig fake;
	char *note = NULL, *line = NULL, *full, msg[512], *nl;
	uint8_t raw[128];
	uint64_t got = 0;
	int len;

	(void)state;
	memset(&cp, 0, sizeof(cp));
	strcpy(cp.origin, "example.com/behind-the-sofa");
	cp.size = 20852163;
	memset(cp.root, 0xab, 32);
	assert_int_equal(lgfs_checkpoint_sign(&note, &cp, klog), 0);
	nl = strstr(note, "\n\n");
	assert_int_equal(lgfs_cosignature_line(&line, note, (size_t)(nl - note) + 1, ts, kwit), 0);
	assert_int_equal(strncmp(line, EM " witness.example/w1 ", 3 + 1 + 18 + 1), 0);
	assert_int_equal(line[strlen(line) - 1], '\n');
	/* payload: id(type 4) || time || sig over "cosignature/v1\ntime T\n" || text */
	assert_int_equal(b64dec(raw, line + 23, strlen(line + 23) - 1), 76);
	assert_int_equal((uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3],
			 ref_key_id("witness.example/w1", 0x04, lgfs_key_public(kwit)));
	assert_memory_equal(raw + 4, "\x00\x00\x00\x00\x64\x18\x50\xcb", 8);
	len = snprintf(msg, sizeof(msg), "cosignature/v1\ntime 1679315147\n%.*s", (int)(nl - note) + 1, note);
	assert_int_equal(lgfs_ed25519_verify(lgfs_key_public(kwit), raw + 12, msg, (size_t)len), 0);

	full = concat(note, line);
	assert_int_equal(lgfs_note_parse(&n, full, strlen(full)), 0);
	assert_int_equal(n->nsigs, 2);
	assert_int_equal(lgfs_cosignature_verify(n, &n->sigs[1], kwit, &got), 0);
	assert_int_equal(got, ts);
	assert_int_equal(lgfs_cosignature_verify(n, &n->sigs[1], kwit, NULL), 0);
	/* the log's signature still verifies; a cosignature is not a note
	 * signature by kwit (type 0x04 id), so it is ignored there */
	assert_int_equal(lgfs_note_verify(n, &klog, 1, NULL), 0);
	assert_int_equal(lgfs_note_verify(n, &kwit, 1, NULL), LGFS_ENOTFOUND);
	/* wrong type id: the log's type-0x01 line is not a cosignature */
	assert_int_equal(lgfs_cosignature_verify(n, &n->sigs[0], klog, &got), LGFS_ENOTFOUND);
	/* another key, or the right payload under the type-0x01 id */
	assert_int_equal(lgfs_cosignature_verify(n, &n->sigs[1], kother, &got), LGFS_ENOTFOUND);
	fake = n->sigs[1];
	fake.key_id = lgfs_key_id(kwit, 0x01);
	assert_int_equal(lgfs_cosignature_verify(n, &fake, kwit, &got), LGFS_ENOTFOUND);
	/* altered timestamp, altered signature, wrong length */
	fake = n->sigs[1];
	fake.payload[7] ^= 1;
	got = 0;
	assert_int_equal(lgfs_cosignature_verify(n, &fake, kwit, &got), LGFS_EBADSIG);
	assert_int_equal(got, 0);
	fake = n->sigs[1];
	fake.payload[40] ^= 1;
	assert_int_equal(lgfs_cosignature_verify(n, &fake, kwit, &got), LGFS_EBADSIG);
	fake = n->sigs[1];
	fake.payload_len = 64;
	assert_int_equal(lgfs_cosignature_verify(n, &fake, kwit, &got), LGFS_EBADSIG);
	fake = n->sigs[1];
	fake.payload[0] = 0x80;
	assert_int_equal(lgfs_cosignature_verify(n, &fake, kwit, &got), LGFS_EBADSIG);
	/* altered text */
	n->text[0] = 'E';
	assert_int_equal(lgfs_cosignature_verify(n, &n->sigs[1], kwit, &got), LGFS_EBADSIG);
	lgfs_note_free(n);

	/* timestamps: 0 and 2^63-1 are fine, 2^63 is not */
	free(line);
	assert_int_equal(lgfs_cosignature_line(&line, "x\n", 2, 0, kwit), 0);
	free(line);
	assert_int_equal(lgfs_cosignature_line(&line, "x\n", 2, (uint64_t)INT64_MAX, kwit), 0);
	free(line);
	line = (char *)1;
	assert_int_equal(lgfs_cosignature_line(&line, "x\n", 2, (uint64_t)INT64_MAX + 1, kwit), LGFS_EINVAL);
	assert_null(line);
	assert_int_equal(lgfs_cosignature_line(&line, "x", 1, 5, kwit), LGFS_EINVAL);
	free(full);
	free(note);
}

/* xorshift64*: deterministic, so a failure can be reproduced. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void test_fuzz_mutations(void **state)
{
	struct lgfs_checkpoint cp;
	struct lgfs_note *n;
	char *note = NULL, *m;
	size_t len, mlen, i, parsed = 0, rounds = 20000;
	int j, kind, rc;

	(void)state;
	memset(&cp, 0, sizeof(cp));
	strcpy(cp.origin, "example.com/fuzz");
	cp.size = 77;
	memset(cp.root, 0x42, 32);
	assert_int_equal(lgfs_checkpoint_sign(&note, &cp, klog), 0);
	len = strlen(note);
	m = malloc(len + 16);
	assert_non_null(m);
	for (i = 0; i < rounds; i++) {
		memcpy(m, note, len);
		mlen = len;
		kind = (int)(rnd() % 5);
		for (j = 0; j < 1 + (int)(rnd() % 3); j++) {
			size_t pos = (size_t)(rnd() % mlen);

			if (kind == 0) { /* bit flips */
				m[pos] ^= (char)(1u << (rnd() % 8));
			} else if (kind == 1) { /* truncation */
				mlen = pos;
				break;
			} else if (kind == 2) { /* random byte */
				m[pos] = (char)rnd();
			} else if (kind == 3 && mlen > 1) { /* deletion */
				memmove(m + pos, m + pos + 1, mlen - pos - 1);
				mlen--;
			} else { /* insertion of a structural or random byte */
				static const char pick[] = "\n \xe2\x80\x94=+A\0";

				memmove(m + pos + 1, m + pos, mlen - pos);
				m[pos] = rnd() & 1 ? pick[rnd() % (sizeof(pick) - 1)] : (char)rnd();
				mlen++;
			}
		}
		if (mlen == len && !memcmp(m, note, len))
			continue; /* mutations cancelled out */
		n = NULL;
		rc = lgfs_note_parse(&n, m, mlen);
		if (rc) {
			assert_int_equal(rc, LGFS_EINVAL);
			assert_null(n);
			continue;
		}
		parsed++;
		assert_true(n->text_len > 0 && n->text[n->text_len - 1] == '\n');
		assert_true(n->nsigs >= 1 && n->nsigs <= LGFS_NOTE_MAX_SIGS);
		rc = lgfs_note_verify(n, &klog, 1, NULL);
		if (rc == 0)
			fail_msg("mutated note verified (round %zu): %.*s", i, (int)mlen, m);
		lgfs_note_free(n);
	}
	/* the loop must have reached verification, not only parse errors */
	assert_true(parsed > rounds / 10);
	free(m);
	free(note);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_parse_verify),
		cmocka_unit_test(test_checkpoint_exact_format),
		cmocka_unit_test(test_verify_unknown_and_altered),
		cmocka_unit_test(test_unknown_lines_ignored),
		cmocka_unit_test(test_add_signature),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_sign_rejects_bad_text),
		cmocka_unit_test(test_checkpoint_roundtrip),
		cmocka_unit_test(test_checkpoint_rejects),
		cmocka_unit_test(test_cosignature),
		cmocka_unit_test(test_fuzz_mutations),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
