/*
 * buf.c — growable byte buffer and bounds-checked reader (util layer).
 */
#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void lgfs_buf_init(struct lgfs_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void lgfs_buf_free(struct lgfs_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void lgfs_buf_reset(struct lgfs_buf *b)
{
	b->len = 0;
	b->oom = 0;
}

int lgfs_buf_reserve(struct lgfs_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (b->oom)
		return LGFS_ENOMEM;
	if (extra > SIZE_MAX - b->len)
		goto oom;
	need = b->len + extra;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		goto oom;
	b->data = p;
	b->cap = cap;
	return 0;
oom:
	b->oom = 1;
	return lgfs_error_set(LGFS_ENOMEM, "out of memory growing a buffer");
}

int lgfs_buf_put(struct lgfs_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return b->oom ? LGFS_ENOMEM : 0;
	if (lgfs_buf_reserve(b, n))
		return LGFS_ENOMEM;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int lgfs_buf_put_u8(struct lgfs_buf *b, uint8_t v)
{
	return lgfs_buf_put(b, &v, 1);
}

int lgfs_buf_put_u16(struct lgfs_buf *b, uint16_t v)
{
	uint8_t t[2];

	lgfs_be16_put(t, v);
	return lgfs_buf_put(b, t, 2);
}

int lgfs_buf_put_u32(struct lgfs_buf *b, uint32_t v)
{
	uint8_t t[4];

	lgfs_be32_put(t, v);
	return lgfs_buf_put(b, t, 4);
}

int lgfs_buf_put_u64(struct lgfs_buf *b, uint64_t v)
{
	uint8_t t[8];

	lgfs_be64_put(t, v);
	return lgfs_buf_put(b, t, 8);
}

int lgfs_buf_printf(struct lgfs_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return lgfs_error_set(LGFS_EINVAL, "bad format string");
	if (lgfs_buf_reserve(b, (size_t)n + 1))
		return LGFS_ENOMEM;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int lgfs_buf_ok(const struct lgfs_buf *b)
{
	if (b->oom)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory building a buffer");
	return 0;
}

uint8_t *lgfs_buf_detach(struct lgfs_buf *b, size_t *len_out)
{
	uint8_t *p = b->data;

	if (len_out)
		*len_out = b->len;
	memset(b, 0, sizeof(*b));
	return p;
}

int lgfs_reader_bytes(struct lgfs_reader *r, const uint8_t **out, size_t n)
{
	if (r->bad || n > r->left) {
		r->bad = 1;
		*out = NULL;
		return LGFS_ECORRUPT;
	}
	*out = r->p;
	r->p += n;
	r->left -= n;
	return 0;
}

int lgfs_reader_copy(struct lgfs_reader *r, void *out, size_t n)
{
	const uint8_t *p;

	if (lgfs_reader_bytes(r, &p, n))
		return LGFS_ECORRUPT;
	memcpy(out, p, n);
	return 0;
}

int lgfs_reader_u8(struct lgfs_reader *r, uint8_t *out)
{
	const uint8_t *p;

	*out = 0;
	if (lgfs_reader_bytes(r, &p, 1))
		return LGFS_ECORRUPT;
	*out = p[0];
	return 0;
}

int lgfs_reader_u16(struct lgfs_reader *r, uint16_t *out)
{
	const uint8_t *p;

	*out = 0;
	if (lgfs_reader_bytes(r, &p, 2))
		return LGFS_ECORRUPT;
	*out = lgfs_be16_get(p);
	return 0;
}

int lgfs_reader_u32(struct lgfs_reader *r, uint32_t *out)
{
	const uint8_t *p;

	*out = 0;
	if (lgfs_reader_bytes(r, &p, 4))
		return LGFS_ECORRUPT;
	*out = lgfs_be32_get(p);
	return 0;
}

int lgfs_reader_u64(struct lgfs_reader *r, uint64_t *out)
{
	const uint8_t *p;

	*out = 0;
	if (lgfs_reader_bytes(r, &p, 8))
		return LGFS_ECORRUPT;
	*out = lgfs_be64_get(p);
	return 0;
}

int lgfs_grow(void *pv, size_t *cap, size_t n, size_t elem)
{
	void **p = pv, *nv;
	size_t nc;

	if (n < *cap)
		return 0;
	nc = *cap ? 2 * *cap : 16;
	if (nc < *cap || nc > SIZE_MAX / elem || !(nv = realloc(*p, nc * elem)))
		return -ENOMEM;
	*p = nv;
	*cap = nc;
	return 0;
}
