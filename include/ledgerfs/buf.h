/*
 * buf.h — growable byte buffer and big-endian encoding helpers (util layer).
 *
 * struct lgfs_buf owns its memory; lgfs_buf_free() releases it. Appends that
 * fail to allocate set buf->oom and return LGFS_ENOMEM; callers may append
 * several fields and check once at the end with lgfs_buf_ok().
 */
#ifndef LGFS_BUF_H
#define LGFS_BUF_H

#include <stddef.h>
#include <stdint.h>

struct lgfs_buf {
	uint8_t *data; /* bytes, owned; NULL when empty and never grown */
	size_t len;    /* bytes in use */
	size_t cap;    /* bytes allocated */
	int oom;       /* an append failed to allocate */
};

#define LGFS_BUF_INIT { NULL, 0, 0, 0 }

void lgfs_buf_init(struct lgfs_buf *b);
void lgfs_buf_free(struct lgfs_buf *b);
void lgfs_buf_reset(struct lgfs_buf *b); /* len = 0, keeps memory */
int lgfs_buf_reserve(struct lgfs_buf *b, size_t extra);
int lgfs_buf_put(struct lgfs_buf *b, const void *p, size_t n);
int lgfs_buf_put_u8(struct lgfs_buf *b, uint8_t v);
int lgfs_buf_put_u16(struct lgfs_buf *b, uint16_t v);
int lgfs_buf_put_u32(struct lgfs_buf *b, uint32_t v);
int lgfs_buf_put_u64(struct lgfs_buf *b, uint64_t v);
int lgfs_buf_printf(struct lgfs_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* 0 if no append has failed, else LGFS_ENOMEM (with message set). */
int lgfs_buf_ok(const struct lgfs_buf *b);
/* Hand the bytes to the caller (who frees them with free()); b is emptied. */
uint8_t *lgfs_buf_detach(struct lgfs_buf *b, size_t *len_out);

/* Big-endian stores and loads. */
static inline void lgfs_be16_put(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static inline void lgfs_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}
static inline void lgfs_be64_put(uint8_t *p, uint64_t v)
{
	lgfs_be32_put(p, (uint32_t)(v >> 32));
	lgfs_be32_put(p + 4, (uint32_t)v);
}
static inline uint16_t lgfs_be16_get(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t lgfs_be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t lgfs_be64_get(const uint8_t *p)
{
	return (uint64_t)lgfs_be32_get(p) << 32 | lgfs_be32_get(p + 4);
}

/*
 * A bounds-checked reader over a byte range. Every get fails (returns
 * LGFS_ECORRUPT and sets r->bad) instead of reading past the end, so a decoder
 * fed truncated input returns an error, never reads out of bounds.
 */
struct lgfs_reader {
	const uint8_t *p; /* next byte */
	size_t left;      /* bytes remaining */
	int bad;          /* a get ran past the end */
};

static inline void lgfs_reader_init(struct lgfs_reader *r, const void *p, size_t n)
{
	r->p = p; r->left = n; r->bad = 0;
}
int lgfs_reader_bytes(struct lgfs_reader *r, const uint8_t **out, size_t n);
int lgfs_reader_copy(struct lgfs_reader *r, void *out, size_t n);
int lgfs_reader_u8(struct lgfs_reader *r, uint8_t *out);
int lgfs_reader_u16(struct lgfs_reader *r, uint16_t *out);
int lgfs_reader_u32(struct lgfs_reader *r, uint32_t *out);
int lgfs_reader_u64(struct lgfs_reader *r, uint64_t *out);

/* Room for one more element in the array *pv of *cap elements of `elem`
 * bytes, n of them used: the array doubles (from 16) when full. 0, or
 * -ENOMEM with the array as it was. */
int lgfs_grow(void *pv, size_t *cap, size_t n, size_t elem);

#endif
