/*
 * zpool.c — pooled zstd contexts and the compress-or-raw rule shared by the
 * chunk stores (store layer). See zpool.h.
 */
#include "zpool.h"

#define ZLEVEL 1              /* fast: the chunker and SHA-256 run at GB/s */
#define SMALL_RAW 1024        /* below this, compression is not worth a call */
#define PROBE_LEN (16u << 10) /* prefix tried before compressing a big chunk */

void lgfs_zpool_init(struct lgfs_zpool *p)
{
	pthread_mutex_init(&p->mu, NULL);
	p->nc = p->nd = 0;
}

void lgfs_zpool_destroy(struct lgfs_zpool *p)
{
	int i;

	for (i = 0; i < p->nc; i++)
		ZSTD_freeCCtx(p->c[i]);
	for (i = 0; i < p->nd; i++)
		ZSTD_freeDCtx(p->d[i]);
	p->nc = p->nd = 0;
	pthread_mutex_destroy(&p->mu);
}

static ZSTD_CCtx *cctx_get(struct lgfs_zpool *p)
{
	ZSTD_CCtx *z = NULL;

	pthread_mutex_lock(&p->mu);
	if (p->nc)
		z = p->c[--p->nc];
	pthread_mutex_unlock(&p->mu);
	return z ? z : ZSTD_createCCtx();
}

static void cctx_put(struct lgfs_zpool *p, ZSTD_CCtx *z)
{
	if (!z)
		return;
	pthread_mutex_lock(&p->mu);
	if (p->nc < LGFS_ZPOOL_MAX) {
		p->c[p->nc++] = z;
		z = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	ZSTD_freeCCtx(z);
}

ZSTD_DCtx *lgfs_zpool_dctx_get(struct lgfs_zpool *p)
{
	ZSTD_DCtx *z = NULL;

	pthread_mutex_lock(&p->mu);
	if (p->nd)
		z = p->d[--p->nd];
	pthread_mutex_unlock(&p->mu);
	return z ? z : ZSTD_createDCtx();
}

void lgfs_zpool_dctx_put(struct lgfs_zpool *p, ZSTD_DCtx *z)
{
	if (!z)
		return;
	pthread_mutex_lock(&p->mu);
	if (p->nd < LGFS_ZPOOL_MAX) {
		p->d[p->nd++] = z;
		z = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	ZSTD_freeDCtx(z);
}

size_t lgfs_zpool_compress(struct lgfs_zpool *p, uint8_t *out, const uint8_t *buf, size_t len)
{
	size_t cap = ZSTD_compressBound(len), r, res = 0;
	ZSTD_CCtx *z;

	if (len < SMALL_RAW)
		return 0;
	z = cctx_get(p);
	if (!z)
		return 0;
	if (len > 2 * PROBE_LEN) {
		r = ZSTD_compressCCtx(z, out, cap, buf, PROBE_LEN, ZLEVEL);
		if (ZSTD_isError(r) || r > PROBE_LEN - PROBE_LEN / 16)
			goto done;
	}
	r = ZSTD_compressCCtx(z, out, cap, buf, len, ZLEVEL);
	if (!ZSTD_isError(r) && r <= len - len / 8)
		res = r;
done:
	cctx_put(p, z);
	return res;
}
