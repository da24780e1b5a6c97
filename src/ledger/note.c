/*
 * note.c — C2SP signed notes, tlog checkpoints and tlog cosignatures
 * (ledger layer). See note.h.
 *
 * These texts are what other people's verifiers read, so they are produced
 * byte-exact and parsed strictly: anything this code accepts it could also
 * have produced, and nothing is normalised on the way in. Rules enforced on
 * every note (c2sp.org/signed-note, plus ledgerfs' own stricter limits):
 * valid UTF-8, no control characters but '\n', text non-empty and free of
 * empty lines, exactly one empty line before the signatures, 1..100
 * signature lines "— NAME BASE64\n", at most LGFS_NOTE_MAX bytes.
 */
#include "ledgerfs/note.h"
#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/key.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG_PREFIX "\xe2\x80\x94 "   /* U+2014 EM DASH, space */
#define SIG_PREFIX_LEN 4
#define NAME_MAX_LEN 64               /* = sizeof(lgfs_note_sig.name) - 1 */
#define PAYLOAD_MAX 128               /* = sizeof(lgfs_note_sig.payload) */
#define SIG_B64_MAX (4 * ((4 + PAYLOAD_MAX + 2) / 3))
#define SIG_LINE_MAX (SIG_PREFIX_LEN + NAME_MAX_LEN + 1 + SIG_B64_MAX + 1 + 1)
#define COSIG_PAYLOAD_LEN (8 + LGFS_SIG_LEN)
#define COSIG_HEADER_MAX 64           /* "cosignature/v1\ntime <20 digits>\n" */
#define TIMESTAMP_MAX ((uint64_t)INT64_MAX) /* tlog-cosignature: at most 2^63-1 */

/* Decode one UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF); returns its length, or 0 if invalid. The one decoder for all
 * checks below. */
static size_t utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t c, min;

	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Whole-note rule of the spec: UTF-8, and no ASCII control characters
 * other than newline (this also rules out NUL, which would cut C strings). */
static int check_chars(const char *p, size_t n, const char *what)
{
	const uint8_t *s = (const uint8_t *)p;
	size_t i = 0, l;
	uint32_t cp;

	while (i < n) {
		if (s[i] < 0x20 && s[i] != '\n')
			return lgfs_error_set(LGFS_EINVAL, "%s contains control character 0x%02x at byte %zu",
					      what, s[i], i);
		l = utf8_next(s + i, n - i, &cp);
		if (!l)
			return lgfs_error_set(LGFS_EINVAL, "%s is not valid UTF-8 at byte %zu", what, i);
		i += l;
	}
	return 0;
}

/* A note text must be signable and re-parse to itself: non-empty, ending in
 * a newline, no empty line (the empty line separates the signatures). */
static int check_text(const char *text, size_t len)
{
	if (!text || len == 0)
		return lgfs_error_set(LGFS_EINVAL, "note text is empty");
	if (len > LGFS_NOTE_MAX)
		return lgfs_error_set(LGFS_EINVAL, "note text longer than %d bytes", LGFS_NOTE_MAX);
	if (text[len - 1] != '\n')
		return lgfs_error_set(LGFS_EINVAL, "note text does not end in a newline");
	if (text[0] == '\n' || memmem(text, len, "\n\n", 2))
		return lgfs_error_set(LGFS_EINVAL, "note text contains an empty line");
	return check_chars(text, len, "note text");
}

/* Unicode White_Space: the spec forbids "any Unicode spaces" in key names. */
static int is_unicode_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
	       c == 0x205f || c == 0x3000;
}

/* Names on signature lines may come from other signers (witnesses), so they
 * get the spec's rule (non-empty, no Unicode space, no '+'), not our own
 * narrower ASCII rule for names we create. Also bounded by the struct. */
static int sig_name_valid(const char *p, size_t n)
{
	const uint8_t *s = (const uint8_t *)p;
	size_t i = 0, l;
	uint32_t cp;

	if (n == 0 || n > NAME_MAX_LEN)
		return 0;
	while (i < n) {
		l = utf8_next(s + i, n - i, &cp);
		if (!l || cp < 0x20 || cp == 0x7f || cp == '+' || is_unicode_space(cp))
			return 0;
		i += l;
	}
	return 1;
}

/* One "— NAME BASE64" line, without its newline. */
static int parse_sig_line(struct lgfs_note_sig *sig, const char *line, size_t n, size_t lineno)
{
	uint8_t raw[4 + PAYLOAD_MAX];
	const char *name, *sp, *b64;
	size_t namelen, rawlen;

	if (n < SIG_PREFIX_LEN || memcmp(line, SIG_PREFIX, SIG_PREFIX_LEN))
		return lgfs_error_set(LGFS_EINVAL, "signature line %zu does not start with an em dash and a space",
				      lineno);
	name = line + SIG_PREFIX_LEN;
	sp = memchr(name, ' ', n - SIG_PREFIX_LEN);
	if (!sp)
		return lgfs_error_set(LGFS_EINVAL, "signature line %zu has no space between name and signature",
				      lineno);
	namelen = (size_t)(sp - name);
	if (!sig_name_valid(name, namelen))
		return lgfs_error_set(LGFS_EINVAL, "signature line %zu has an invalid key name", lineno);
	b64 = sp + 1;
	if (lgfs_b64_decode(raw, sizeof(raw), &rawlen, b64, (size_t)(line + n - b64)))
		return lgfs_error_wrap(LGFS_EINVAL, "signature line %zu", lineno);
	if (rawlen < 5)
		return lgfs_error_set(LGFS_EINVAL, "signature line %zu: signature shorter than 5 bytes", lineno);
	memcpy(sig->name, name, namelen);
	sig->name[namelen] = '\0';
	sig->key_id = lgfs_be32_get(raw);
	sig->payload_len = rawlen - 4;
	memcpy(sig->payload, raw + 4, sig->payload_len);
	return 0;
}

/* Strict parse: see the file comment for the rules. The text is copied so
 * the caller's buffer can go away. */
int lgfs_note_parse(struct lgfs_note **out, const char *note, size_t len)
{
	struct lgfs_note *n = NULL;
	const char *sep, *p, *end, *nl;
	size_t textlen, count = 0;
	int rc = 0;

	*out = NULL;
	if (!note || len == 0) {
		rc = lgfs_error_set(LGFS_EINVAL, "empty note");
		goto done;
	}
	if (len > LGFS_NOTE_MAX) {
		rc = lgfs_error_set(LGFS_EINVAL, "note longer than %d bytes", LGFS_NOTE_MAX);
		goto done;
	}
	rc = check_chars(note, len, "note");
	if (rc)
		goto done;
	if (note[len - 1] != '\n') {
		rc = lgfs_error_set(LGFS_EINVAL, "note does not end in a newline");
		goto done;
	}
	/* the text has no empty line, so the first one is the separator */
	sep = memmem(note, len, "\n\n", 2);
	if (!sep) {
		rc = lgfs_error_set(LGFS_EINVAL, "note has no empty line before its signatures");
		goto done;
	}
	textlen = (size_t)(sep - note) + 1;
	rc = check_text(note, textlen);
	if (rc)
		goto done;
	p = sep + 2;
	end = note + len;
	if (p == end) {
		rc = lgfs_error_set(LGFS_EINVAL, "note has no signature lines");
		goto done;
	}
	for (nl = p; nl < end; nl++)
		count += *nl == '\n';
	if (count > LGFS_NOTE_MAX_SIGS) {
		rc = lgfs_error_set(LGFS_EINVAL, "note has more than %d signature lines", LGFS_NOTE_MAX_SIGS);
		goto done;
	}
	n = calloc(1, sizeof(*n));
	if (n)
		n->sigs = calloc(count, sizeof(*n->sigs));
	if (n)
		n->text = malloc(textlen + 1);
	if (!n || !n->sigs || !n->text) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory parsing a note");
		goto done;
	}
	memcpy(n->text, note, textlen);
	n->text[textlen] = '\0';
	n->text_len = textlen;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p)); /* found: the note ends in '\n' */
		rc = parse_sig_line(&n->sigs[n->nsigs], p, (size_t)(nl - p), n->nsigs + 1);
		if (rc)
			goto done;
		n->nsigs++;
		p = nl + 1;
	}
	*out = n;
	n = NULL;
done:
	lgfs_note_free(n);
	return rc;
}

/* Frees everything lgfs_note_parse allocated. */
void lgfs_note_free(struct lgfs_note *n)
{
	if (!n)
		return;
	free(n->text);
	free(n->sigs);
	free(n);
}

/* Encodes one signature line; `raw` is key id || payload. Returns its
 * length; `line` must hold SIG_LINE_MAX bytes. */
static size_t format_sig_line(char *line, const char *name, const uint8_t *raw, size_t rawlen)
{
	size_t namelen = strlen(name), o = 0;

	memcpy(line, SIG_PREFIX, SIG_PREFIX_LEN);
	o += SIG_PREFIX_LEN;
	memcpy(line + o, name, namelen);
	o += namelen;
	line[o++] = ' ';
	lgfs_b64_encode(line + o, raw, rawlen);
	o += strlen(line + o);
	line[o++] = '\n';
	line[o] = '\0';
	return o;
}

/* An Ed25519 note signature line by k over text. */
static int ed25519_sig_line(char *line, size_t *linelen, const char *text, size_t len,
			    const struct lgfs_key *k)
{
	uint8_t raw[4 + LGFS_SIG_LEN];
	int rc;

	lgfs_be32_put(raw, lgfs_key_id(k, 0x01));
	rc = lgfs_key_sign(k, raw + 4, text, len);
	if (rc)
		return rc;
	*linelen = format_sig_line(line, lgfs_key_name(k), raw, sizeof(raw));
	return 0;
}

/* The output must parse back: text rules are checked before signing, and
 * the size limit on the whole note after. */
int lgfs_note_sign(char **out, const char *text, size_t len, const struct lgfs_key *k)
{
	char line[SIG_LINE_MAX];
	size_t linelen = 0;
	char *s = NULL;
	int rc;

	*out = NULL;
	rc = check_text(text, len);
	if (rc)
		goto done;
	rc = ed25519_sig_line(line, &linelen, text, len, k);
	if (rc)
		goto done;
	if (len + 1 + linelen > LGFS_NOTE_MAX) {
		rc = lgfs_error_set(LGFS_EINVAL, "signed note would exceed %d bytes", LGFS_NOTE_MAX);
		goto done;
	}
	s = malloc(len + 1 + linelen + 1);
	if (!s) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory signing a note");
		goto done;
	}
	memcpy(s, text, len);
	s[len] = '\n';
	memcpy(s + len + 1, line, linelen + 1);
	*out = s;
done:
	return rc;
}

/* Existing lines are re-encoded from the parse, which is byte-identical
 * because the parser accepts canonical base64 only. A previous line by the
 * same key (name and id) is replaced, as Go's note.Sign does, so signing
 * twice does not grow the note. */
int lgfs_note_add_signature(char **out, const char *note, size_t len, const struct lgfs_key *k)
{
	struct lgfs_buf b = LGFS_BUF_INIT;
	struct lgfs_note *n = NULL;
	char line[SIG_LINE_MAX];
	uint8_t raw[4 + PAYLOAD_MAX];
	size_t i, linelen = 0, kept = 0;
	int rc;

	*out = NULL;
	rc = lgfs_note_parse(&n, note, len);
	if (rc)
		goto done;
	lgfs_buf_put(&b, n->text, n->text_len);
	lgfs_buf_put_u8(&b, '\n');
	for (i = 0; i < n->nsigs; i++) {
		const struct lgfs_note_sig *s = &n->sigs[i];

		if (s->key_id == lgfs_key_id(k, 0x01) && !strcmp(s->name, lgfs_key_name(k)))
			continue;
		lgfs_be32_put(raw, s->key_id);
		memcpy(raw + 4, s->payload, s->payload_len);
		linelen = format_sig_line(line, s->name, raw, 4 + s->payload_len);
		lgfs_buf_put(&b, line, linelen);
		kept++;
	}
	if (kept + 1 > LGFS_NOTE_MAX_SIGS) {
		rc = lgfs_error_set(LGFS_EINVAL, "note already has %d signature lines", LGFS_NOTE_MAX_SIGS);
		goto done;
	}
	rc = ed25519_sig_line(line, &linelen, n->text, n->text_len, k);
	if (rc)
		goto done;
	lgfs_buf_put(&b, line, linelen + 1); /* with the NUL */
	rc = lgfs_buf_ok(&b);
	if (rc)
		goto done;
	if (b.len - 1 > LGFS_NOTE_MAX) {
		rc = lgfs_error_set(LGFS_EINVAL, "signed note would exceed %d bytes", LGFS_NOTE_MAX);
		goto done;
	}
	*out = (char *)lgfs_buf_detach(&b, NULL);
done:
	lgfs_buf_free(&b);
	lgfs_note_free(n);
	return rc;
}

/* The signed-note verification rule: lines by unknown keys are ignored,
 * every line by a known key must verify, and at least one must exist. */
int lgfs_note_verify(const struct lgfs_note *n, struct lgfs_key *const *keys, size_t nkeys,
		     const struct lgfs_key **who)
{
	const struct lgfs_key *first = NULL;
	size_t i, j;
	int rc = 0;

	if (who)
		*who = NULL;
	for (i = 0; i < n->nsigs; i++) {
		const struct lgfs_note_sig *s = &n->sigs[i];

		for (j = 0; j < nkeys; j++) {
			const struct lgfs_key *k = keys[j];

			if (!k || s->key_id != lgfs_key_id(k, 0x01) || strcmp(s->name, lgfs_key_name(k)))
				continue;
			if (s->payload_len != LGFS_SIG_LEN) {
				rc = lgfs_error_set(LGFS_EBADSIG, "signature by %s is %zu bytes, not %d",
						    s->name, s->payload_len, LGFS_SIG_LEN);
				goto done;
			}
			rc = lgfs_key_verify(k, s->payload, n->text, n->text_len);
			if (rc) {
				if (rc == LGFS_EBADSIG)
					lgfs_error_set(rc, "signature by %s does not verify", s->name);
				goto done;
			}
			if (!first)
				first = k;
		}
	}
	if (!first) {
		rc = lgfs_error_set(LGFS_ENOTFOUND, "none of the %zu signature lines is by a known key",
				    n->nsigs);
		goto done;
	}
	if (who)
		*who = first;
done:
	return rc;
}

/* tlog-checkpoint origin: non-empty, bounded, one line of printable text
 * (no C0/C1 control characters, no DEL). */
static int origin_valid(const char *p, size_t n)
{
	const uint8_t *s = (const uint8_t *)p;
	size_t i = 0, l;
	uint32_t cp;

	if (n == 0 || n > LGFS_ORIGIN_MAX)
		return 0;
	while (i < n) {
		l = utf8_next(s + i, n - i, &cp);
		if (!l || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return 0;
		i += l;
	}
	return 1;
}

/* Produces exactly the three mandatory lines: ledgerfs writes no extension
 * lines. */
int lgfs_checkpoint_text(char **out, const struct lgfs_checkpoint *cp)
{
	char root[48], *s;
	size_t olen = strnlen(cp->origin, sizeof(cp->origin)), n;

	*out = NULL;
	if (olen == sizeof(cp->origin) || !origin_valid(cp->origin, olen))
		return lgfs_error_set(LGFS_EINVAL, "invalid checkpoint origin");
	lgfs_b64_encode(root, cp->root, sizeof(cp->root));
	n = olen + 1 + 20 + 1 + strlen(root) + 1 + 1;
	s = malloc(n);
	if (!s)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	snprintf(s, n, "%s\n%" PRIu64 "\n%s\n", cp->origin, cp->size, root);
	*out = s;
	return 0;
}

/* Decimal tree size: digits only, no sign, no leading zero, no overflow,
 * so that each size has exactly one spelling. */
static int parse_size(uint64_t *out, const char *s, size_t n)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || (n > 1 && s[0] == '0'))
		return lgfs_error_set(LGFS_EINVAL, "checkpoint size must be decimal without leading zeros");
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9')
			return lgfs_error_set(LGFS_EINVAL, "checkpoint size is not a decimal number");
		if (v > (UINT64_MAX - d) / 10)
			return lgfs_error_set(LGFS_EINVAL, "checkpoint size does not fit in 64 bits");
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Checkpoints come from other nodes and witnesses: parse strictly, and fill
 * *out only on success. Extension lines are checked for form, then ignored. */
int lgfs_checkpoint_parse(struct lgfs_checkpoint *out, const char *text, size_t len)
{
	struct lgfs_checkpoint cp;
	const char *p = text, *end = text + len, *nl[3];
	size_t i, rootlen;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&cp, 0, sizeof(cp));
	rc = check_text(text, len);
	if (rc)
		goto done;
	for (i = 0; i < 3; i++) {
		nl[i] = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
		if (!nl[i]) {
			rc = lgfs_error_set(LGFS_EINVAL, "checkpoint has fewer than 3 lines");
			goto done;
		}
		p = nl[i] + 1;
	}
	if (!origin_valid(text, (size_t)(nl[0] - text))) {
		rc = lgfs_error_set(LGFS_EINVAL, "invalid checkpoint origin");
		goto done;
	}
	memcpy(cp.origin, text, (size_t)(nl[0] - text));
	rc = parse_size(&cp.size, nl[0] + 1, (size_t)(nl[1] - nl[0] - 1));
	if (rc)
		goto done;
	if (lgfs_b64_decode(cp.root, sizeof(cp.root), &rootlen, nl[1] + 1, (size_t)(nl[2] - nl[1] - 1)) ||
	    rootlen != sizeof(cp.root)) {
		rc = lgfs_error_set(LGFS_EINVAL, "checkpoint root must be base64 of 32 bytes");
		goto done;
	}
	*out = cp;
done:
	return rc;
}

/* What a log publishes: the checkpoint text signed by the log key. */
int lgfs_checkpoint_sign(char **out, const struct lgfs_checkpoint *cp, const struct lgfs_key *k)
{
	char *text = NULL;
	int rc;

	*out = NULL;
	rc = lgfs_checkpoint_text(&text, cp);
	if (rc)
		goto done;
	rc = lgfs_note_sign(out, text, strlen(text), k);
done:
	free(text);
	return rc;
}

/* The cosigned message: "cosignature/v1\ntime T\n" || text. Ed25519 signs
 * one contiguous buffer, so it is assembled here; *msg is malloc'd. */
static int cosig_message(char **msg, size_t *mlen, const char *text, size_t len, uint64_t timestamp)
{
	char head[COSIG_HEADER_MAX];
	int hl;

	*msg = NULL;
	hl = snprintf(head, sizeof(head), "cosignature/v1\ntime %" PRIu64 "\n", timestamp);
	*msg = malloc((size_t)hl + len);
	if (!*msg)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	memcpy(*msg, head, (size_t)hl);
	memcpy(*msg + hl, text, len);
	*mlen = (size_t)hl + len;
	return 0;
}

/* A witness statement "at `timestamp` this was the largest consistent tree
 * I saw", as a signature line to append to the checkpoint note. */
int lgfs_cosignature_line(char **out, const char *text, size_t len, uint64_t timestamp,
			  const struct lgfs_key *k)
{
	uint8_t raw[4 + COSIG_PAYLOAD_LEN];
	char line[SIG_LINE_MAX], *msg = NULL;
	size_t mlen = 0, linelen;
	int rc;

	*out = NULL;
	rc = check_text(text, len);
	if (rc)
		goto done;
	if (timestamp > TIMESTAMP_MAX) {
		rc = lgfs_error_set(LGFS_EINVAL, "cosignature timestamp exceeds 2^63-1");
		goto done;
	}
	rc = cosig_message(&msg, &mlen, text, len, timestamp);
	if (rc)
		goto done;
	lgfs_be32_put(raw, lgfs_key_id(k, 0x04));
	lgfs_be64_put(raw + 4, timestamp);
	rc = lgfs_key_sign(k, raw + 12, msg, mlen);
	if (rc)
		goto done;
	linelen = format_sig_line(line, lgfs_key_name(k), raw, sizeof(raw));
	*out = malloc(linelen + 1);
	if (!*out) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto done;
	}
	memcpy(*out, line, linelen + 1);
done:
	free(msg);
	return rc;
}

/* ENOTFOUND when the line is not k's cosignature (name or type-0x04 key id
 * differ: e.g. k's plain note signature); EBADSIG when it is k's but is
 * malformed or does not verify. */
int lgfs_cosignature_verify(const struct lgfs_note *n, const struct lgfs_note_sig *sig,
			    const struct lgfs_key *k, uint64_t *timestamp)
{
	char *msg = NULL;
	size_t mlen = 0;
	uint64_t t;
	int rc;

	if (sig->key_id != lgfs_key_id(k, 0x04) || strcmp(sig->name, lgfs_key_name(k))) {
		rc = lgfs_error_set(LGFS_ENOTFOUND, "signature line is not a cosignature/v1 by %s",
				    lgfs_key_name(k));
		goto done;
	}
	if (sig->payload_len != COSIG_PAYLOAD_LEN) {
		rc = lgfs_error_set(LGFS_EBADSIG, "cosignature by %s is %zu bytes, not %d", sig->name,
				    sig->payload_len, COSIG_PAYLOAD_LEN);
		goto done;
	}
	t = lgfs_be64_get(sig->payload);
	if (t > TIMESTAMP_MAX) {
		rc = lgfs_error_set(LGFS_EBADSIG, "cosignature by %s has a timestamp above 2^63-1", sig->name);
		goto done;
	}
	rc = cosig_message(&msg, &mlen, n->text, n->text_len, t);
	if (rc)
		goto done;
	rc = lgfs_key_verify(k, sig->payload + 8, msg, mlen);
	if (rc) {
		if (rc == LGFS_EBADSIG)
			lgfs_error_set(rc, "cosignature by %s does not verify", sig->name);
		goto done;
	}
	if (timestamp)
		*timestamp = t;
done:
	free(msg);
	return rc;
}
