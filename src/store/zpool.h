/*
 * zpool.h — zstd for the chunk stores: pooled contexts and the one rule for
 * when a chunk is stored compressed (store layer, private).
 */
#ifndef LGFS_STORE_ZPOOL_H
#define LGFS_STORE_ZPOOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#define LGFS_ZPOOL_MAX 8 /* idle contexts kept per direction */

/* Idle zstd contexts: creating one costs more than compressing a chunk. */
struct lgfs_zpool {
	pthread_mutex_t mu;
	ZSTD_CCtx *c[LGFS_ZPOOL_MAX];
	int nc;
	ZSTD_DCtx *d[LGFS_ZPOOL_MAX];
	int nd;
};

void lgfs_zpool_init(struct lgfs_zpool *p);
/* Frees the idle contexts. */
void lgfs_zpool_destroy(struct lgfs_zpool *p);

/* Compress buf into out (room for ZSTD_compressBound(len) bytes) with zstd
 * level 1. Returns the frame size when that saves at least 1/8, else 0:
 * store raw. Chunks of 32 KiB and more whose first 4 KiB look random (byte
 * histogram) are stored raw at once; others are probed on a 16 KiB prefix
 * first, so random or already-compressed data costs little. Never fails: any zstd
 * error just means raw. */
size_t lgfs_zpool_compress(struct lgfs_zpool *p, uint8_t *out, const uint8_t *buf, size_t len);

/* A decompression context (NULL if out of memory) and its return. */
ZSTD_DCtx *lgfs_zpool_dctx_get(struct lgfs_zpool *p);
void lgfs_zpool_dctx_put(struct lgfs_zpool *p, ZSTD_DCtx *z);

#endif
