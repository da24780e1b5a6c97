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

/* Whether the first SAMPLE_LEN bytes look like random bytes (encrypted or
 * already compressed data): the sum of squared byte counts estimates
 * n^2 * sum(p^2); below n + n(n-1)/128 = 135136 the sample has more than 7
 * bits of collision entropy per byte, hence more than 7 bits of Shannon
 * entropy, and no entropy coder can save 1/8 of it. zstd is not even asked
 * then. (Uniform bytes give 69616, standard deviation about 360.) */
#define SAMPLE_LEN 4096u
#define RANDOM_SUMSQ 135136u

static int looks_random(const uint8_t *buf)
{
	uint32_t h[256] = { 0 };
	uint64_t sq = 0;
	unsigned i;

	for (i = 0; i < SAMPLE_LEN; i++)
		h[buf[i]]++;
	for (i = 0; i < 256; i++)
		sq += (uint64_t)h[i] * h[i];
	return sq < RANDOM_SUMSQ;
}

size_t lgfs_zpool_compress(struct lgfs_zpool *p, uint8_t *out, const uint8_t *buf, size_t len)
{
	size_t cap = ZSTD_compressBound(len), r, res = 0;
	ZSTD_CCtx *z;

	if (len < SMALL_RAW || (len >= 2 * PROBE_LEN && looks_random(buf)))
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
