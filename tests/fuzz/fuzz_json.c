/*
 * fuzz_json.c — the JSON writers on arbitrary bytes (names and texts from
 * the store in `--json` output): lgfs_json_str and lgfs_json_bytes.
 *
 * Invariants (json.h): the output is one JSON value a strict reader takes
 * (checked by a small decoder here); it shows no raw control, DEL, C1,
 * separator or bidirectional character (they are \u escapes); json_str
 * decodes to the input with every byte that is not valid UTF-8 replaced
 * by U+FFFD; json_bytes decodes to the input exactly: a string when the
 * input is valid UTF-8, else {"b64":"..."} whose base64 gives the bytes.
 */
#include "ledgerfs/buf.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/json.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put_utf8(struct lgfs_buf *b, uint32_t cp)
{
	uint8_t u[4];

	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		lgfs_buf_put(b, u, 1);
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | cp >> 6);
		u[1] = (uint8_t)(0x80 | (cp & 0x3f));
		lgfs_buf_put(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xe0 | cp >> 12);
		u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp & 0x3f));
		lgfs_buf_put(b, u, 3);
	} else {
		u[0] = (uint8_t)(0xf0 | cp >> 18);
		u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (uint8_t)(0x80 | (cp & 0x3f));
		lgfs_buf_put(b, u, 4);
	}
}

static int hex4(const uint8_t *p, uint32_t *out)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		int c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return 0;
	}
	*out = v;
	return 1;
}

/* Decode the JSON string literal at p (n bytes available) into out; returns
 * the bytes it took, quotes included. Strict (RFC 8259): aborts on anything
 * a reader would refuse, and on raw characters a terminal would act on. */
static size_t json_string(struct lgfs_buf *out, const uint8_t *p, size_t n)
{
	size_t i = 1, k;
	uint32_t cp, lo;

	FUZZ_CHECK(n >= 2 && p[0] == '"');
	for (;;) {
		FUZZ_CHECK(i < n);
		if (p[i] == '"')
			return i + 1;
		if (p[i] != '\\') {
			k = fuzz_utf8(p + i, n - i, &cp);
			FUZZ_CHECK(k > 0);
			FUZZ_CHECK(!fuzz_cp_unsafe(cp));
			lgfs_buf_put(out, p + i, k);
			i += k;
			continue;
		}
		FUZZ_CHECK(i + 1 < n);
		switch (p[i + 1]) {
		case '"': case '\\': case '/':
			lgfs_buf_put_u8(out, p[i + 1]);
			i += 2;
			break;
		case 'b': lgfs_buf_put_u8(out, '\b'); i += 2; break;
		case 'f': lgfs_buf_put_u8(out, '\f'); i += 2; break;
		case 'n': lgfs_buf_put_u8(out, '\n'); i += 2; break;
		case 'r': lgfs_buf_put_u8(out, '\r'); i += 2; break;
		case 't': lgfs_buf_put_u8(out, '\t'); i += 2; break;
		case 'u':
			FUZZ_CHECK(i + 6 <= n && hex4(p + i + 2, &cp));
			i += 6;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				FUZZ_CHECK(i + 6 <= n && p[i] == '\\' && p[i + 1] == 'u' && hex4(p + i + 2, &lo));
				FUZZ_CHECK(lo >= 0xdc00 && lo <= 0xdfff);
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			}
			FUZZ_CHECK(cp < 0xdc00 || cp > 0xdfff);
			put_utf8(out, cp);
			break;
		default:
			FUZZ_CHECK(0);
		}
	}
}

/* What json_str promises to decode to: invalid bytes as U+FFFD. */
static void replaced(struct lgfs_buf *out, const uint8_t *p, size_t n)
{
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		k = fuzz_utf8(p + i, n - i, &cp);
		if (k) {
			lgfs_buf_put(out, p + i, k);
			i += k;
		} else {
			put_utf8(out, 0xfffd);
			i++;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lgfs_buf js = LGFS_BUF_INIT, dec = LGFS_BUF_INIT, want = LGFS_BUF_INIT;
	static const char pre[] = "{\"b64\":\"", post[] = "\"}";
	uint8_t *raw;
	size_t rawlen, b64len;

	FUZZ_CHECK(lgfs_json_str(&js, data, size) == 0);
	FUZZ_CHECK(json_string(&dec, js.data, js.len) == js.len);
	replaced(&want, data, size);
	FUZZ_NEED(lgfs_buf_ok(&dec) == 0 && lgfs_buf_ok(&want) == 0);
	FUZZ_CHECK(dec.len == want.len && fuzz_eq(dec.data, want.data, dec.len));

	lgfs_buf_reset(&js);
	lgfs_buf_reset(&dec);
	FUZZ_CHECK(lgfs_json_bytes(&js, data, size) == 0);
	if (fuzz_utf8_valid(data, size)) {
		FUZZ_CHECK(json_string(&dec, js.data, js.len) == js.len);
		FUZZ_NEED(lgfs_buf_ok(&dec) == 0);
		FUZZ_CHECK(dec.len == size && fuzz_eq(dec.data, data, size));
	} else {
		FUZZ_CHECK(js.len >= sizeof(pre) - 1 + sizeof(post) - 1);
		FUZZ_CHECK(fuzz_eq(js.data, pre, sizeof(pre) - 1));
		FUZZ_CHECK(fuzz_eq(js.data + js.len - 2, post, 2));
		b64len = js.len - (sizeof(pre) - 1) - (sizeof(post) - 1);
		raw = malloc(b64len + 1);
		FUZZ_NEED(raw);
		FUZZ_CHECK(lgfs_b64_decode(raw, b64len + 1, &rawlen, (const char *)js.data + sizeof(pre) - 1,
					   b64len) == 0);
		FUZZ_CHECK(rawlen == size && fuzz_eq(raw, data, size));
		free(raw);
	}
	lgfs_buf_free(&js);
	lgfs_buf_free(&dec);
	lgfs_buf_free(&want);
	return 0;
}
