/*
 * hash.h — SHA-256 (OpenSSL EVP, uses SHA-NI where the CPU has it), hex and
 * base64 (util layer).
 */
#ifndef LGFS_HASH_H
#define LGFS_HASH_H

#include <stddef.h>
#include <stdint.h>

#define LGFS_HASH_LEN 32

/* One-shot SHA-256 over up to three parts (NULL/0 parts are skipped). */
void lgfs_sha256(uint8_t out[LGFS_HASH_LEN], const void *a, size_t na);
void lgfs_sha256_3(uint8_t out[LGFS_HASH_LEN], const void *a, size_t na,
		   const void *b, size_t nb, const void *c, size_t nc);

/* Incremental SHA-256. lgfs_sha256_ctx_new returns NULL on allocation
 * failure; the context is freed by lgfs_sha256_ctx_final or _free. */
struct lgfs_sha256_ctx;
struct lgfs_sha256_ctx *lgfs_sha256_ctx_new(void);
void lgfs_sha256_ctx_update(struct lgfs_sha256_ctx *c, const void *p, size_t n);
void lgfs_sha256_ctx_final(struct lgfs_sha256_ctx *c, uint8_t out[LGFS_HASH_LEN]);
void lgfs_sha256_ctx_free(struct lgfs_sha256_ctx *c);

/* Lower-case hex. `out` must hold 2*n+1 bytes; it is NUL-terminated. */
void lgfs_hex(char *out, const void *p, size_t n);
/* Parse exactly 2*n hex digits into n bytes; LGFS_EINVAL otherwise. */
int lgfs_unhex(uint8_t *out, size_t n, const char *hex, size_t hexlen);

/* Standard base64 with padding (RFC 4648 §4). lgfs_b64_encode writes a
 * NUL-terminated string into `out`, which must hold lgfs_b64_len(n) bytes. */
static inline size_t lgfs_b64_len(size_t n) { return 4 * ((n + 2) / 3) + 1; }
void lgfs_b64_encode(char *out, const void *p, size_t n);
/* Decode strict, padded base64 of length `len` into at most `cap` bytes;
 * *outlen gets the length. LGFS_EINVAL on any malformed input. */
int lgfs_b64_decode(uint8_t *out, size_t cap, size_t *outlen, const char *s, size_t len);

/* Constant-time comparison; 0 when equal. */
int lgfs_memeq_ct(const void *a, const void *b, size_t n);

#endif
