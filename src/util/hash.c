/*
 * hash.c — SHA-256 through OpenSSL EVP, hex and base64 (util layer).
 */
#include "ledgerfs/hash.h"
#include "ledgerfs/error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

/* OpenSSL 3 looks EVP_sha256() up in the provider tables on every
 * EVP_DigestInit_ex (locks and string compares, ~3x the cost of hashing a
 * small record); fetch the implementation once and keep it. */
static EVP_MD *fetched_md;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
	fetched_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!fetched_md)
		OPENSSL_die("SHA-256 is not available", __FILE__, __LINE__);
}

static const EVP_MD *sha256_md(void)
{
	pthread_once(&md_once, md_fetch);
	return fetched_md;
}

void lgfs_sha256(uint8_t out[LGFS_HASH_LEN], const void *a, size_t na)
{
	lgfs_sha256_3(out, a, na, NULL, 0, NULL, 0);
}

/* One digest context per thread, reused: creating one per hash costs more
 * than hashing a small record. A thread-key destructor frees it when the
 * thread exits. */
static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_free(void *p)
{
	EVP_MD_CTX_free(p);
}

static void ctx_key_init(void)
{
	if (pthread_key_create(&ctx_key, ctx_free))
		OPENSSL_die("no thread key for SHA-256 contexts", __FILE__, __LINE__);
}

static EVP_MD_CTX *thread_ctx(void)
{
	static __thread EVP_MD_CTX *ctx;

	if (!ctx) {
		pthread_once(&ctx_once, ctx_key_init);
		ctx = EVP_MD_CTX_new();
		if (ctx)
			pthread_setspecific(ctx_key, ctx);
	}
	return ctx;
}

void lgfs_sha256_3(uint8_t out[LGFS_HASH_LEN], const void *a, size_t na,
		   const void *b, size_t nb, const void *c, size_t nc)
{
	EVP_MD_CTX *ctx = thread_ctx();
	unsigned int n = 0;

	if (!ctx || !EVP_DigestInit_ex(ctx, sha256_md(), NULL))
		goto fail;
	if ((na && !EVP_DigestUpdate(ctx, a, na)) || (nb && !EVP_DigestUpdate(ctx, b, nb)) ||
	    (nc && !EVP_DigestUpdate(ctx, c, nc)))
		goto fail;
	if (!EVP_DigestFinal_ex(ctx, out, &n) || n != LGFS_HASH_LEN)
		goto fail;
	return;
fail:
	/* Only reachable on allocation failure inside OpenSSL; a wrong hash
	 * would be silent corruption, so stop. */
	OPENSSL_die("SHA-256 failed", __FILE__, __LINE__);
}

struct lgfs_sha256_ctx {
	EVP_MD_CTX *md;
};

struct lgfs_sha256_ctx *lgfs_sha256_ctx_new(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (!md)
		return NULL;
	if (!EVP_DigestInit_ex(md, sha256_md(), NULL)) {
		EVP_MD_CTX_free(md);
		return NULL;
	}
	return (struct lgfs_sha256_ctx *)md;
}

void lgfs_sha256_ctx_update(struct lgfs_sha256_ctx *c, const void *p, size_t n)
{
	if (n && !EVP_DigestUpdate((EVP_MD_CTX *)c, p, n))
		OPENSSL_die("SHA-256 update failed", __FILE__, __LINE__);
}

void lgfs_sha256_ctx_final(struct lgfs_sha256_ctx *c, uint8_t out[LGFS_HASH_LEN])
{
	unsigned int n = 0;

	if (!EVP_DigestFinal_ex((EVP_MD_CTX *)c, out, &n) || n != LGFS_HASH_LEN)
		OPENSSL_die("SHA-256 final failed", __FILE__, __LINE__);
	EVP_MD_CTX_free((EVP_MD_CTX *)c);
}

void lgfs_sha256_ctx_free(struct lgfs_sha256_ctx *c)
{
	EVP_MD_CTX_free((EVP_MD_CTX *)c);
}

void lgfs_hex(char *out, const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[s[i] >> 4];
		out[2 * i + 1] = digits[s[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int lgfs_unhex(uint8_t *out, size_t n, const char *hex, size_t hexlen)
{
	size_t i;

	if (hexlen != 2 * n)
		return lgfs_error_set(LGFS_EINVAL, "expected %zu hex digits, got %zu", 2 * n, hexlen);
	for (i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return lgfs_error_set(LGFS_EINVAL, "not a hex digit at position %zu", 2 * i);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void lgfs_b64_encode(char *out, const void *p, size_t n)
{
	/* EVP_EncodeBlock writes padded base64 and a NUL. */
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict decoder: OpenSSL's EVP_DecodeBlock accepts whitespace and does not
 * report the padding, so it cannot tell canonical input from sloppy input. */
int lgfs_b64_decode(uint8_t *out, size_t cap, size_t *outlen, const char *s, size_t len)
{
	size_t i, o = 0;

	*outlen = 0;
	if (len == 0 || len % 4)
		return lgfs_error_set(LGFS_EINVAL, "base64 length %zu is not a positive multiple of 4", len);
	for (i = 0; i < len; i += 4) {
		int v[4], pad = 0, k;
		uint32_t w;

		for (k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return lgfs_error_set(LGFS_EINVAL, "base64 data after padding");
			v[k] = b64val(s[i + k]);
			if (v[k] < 0)
				return lgfs_error_set(LGFS_EINVAL, "invalid base64 character");
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* canonical: bits dropped by padding must be zero */
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return lgfs_error_set(LGFS_EINVAL, "non-canonical base64 padding");
		if (o + 3 - (size_t)pad > cap)
			return lgfs_error_set(LGFS_EINVAL, "base64 data longer than %zu bytes", cap);
		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)w;
	}
	*outlen = o;
	return 0;
}

int lgfs_memeq_ct(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) != 0;
}
