/*
 * chunks.h — the content-addressed chunk store interface (store layer).
 *
 * A chunk is a byte string of at most LGFS_CHUNK_MAX bytes named by the
 * SHA-256 of its plain bytes. get() always verifies the hash: a mismatch is
 * LGFS_ECORRUPT, never wrong bytes. Implementations are chosen by URI scheme
 * (file:// now, nats:// in cluster mode) and embed struct lgfs_chunks as their
 * first member. A NULL method means "not supported" (checked in the wrappers).
 */
#ifndef LGFS_CHUNKS_H
#define LGFS_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define LGFS_CHUNK_MAX (4u << 20) /* largest chunk (manifests included), bytes */

typedef int (*lgfs_chunk_cb)(void *payload, const uint8_t id[32]);

struct lgfs_chunks {
	unsigned int version; /* of this struct; only ever append fields */
	const char *scheme;   /* "file" */

	/* Store buf under id (the caller computed id = SHA-256(buf)). Storing
	 * an id that is present is a no-op. Durable only after sync(). */
	int (*put)(struct lgfs_chunks *c, const uint8_t id[32], const void *buf, size_t len);
	/* Read and verify; out is reset and filled. LGFS_ENOTFOUND, LGFS_ECORRUPT. */
	int (*get)(struct lgfs_chunks *c, const uint8_t id[32], struct lgfs_buf *out);
	/* 1 present, 0 absent, < 0 error. Does not verify content. */
	int (*has)(struct lgfs_chunks *c, const uint8_t id[32]);
	/* Every stored id, in no particular order; cb returning non-zero stops
	 * the walk and iterate returns that value. */
	int (*iterate)(struct lgfs_chunks *c, lgfs_chunk_cb cb, void *payload);
	/* Make every put so far durable. */
	int (*sync)(struct lgfs_chunks *c);
	/* Release the store; does not sync. */
	void (*close)(struct lgfs_chunks *c);
	/* version >= 2, optional: get n chunks, likely stored next to each
	 * other (the next chunks of a file read in order); outs[i] and rcs[i]
	 * get what get() would give for ids[i]. Returns 0 with the results in
	 * rcs, or an error when it could not try at all (then the wrapper gets
	 * them one by one). For read-ahead: it may read in larger units. */
	int (*get_many)(struct lgfs_chunks *c, const uint8_t (*ids)[32], size_t n, struct lgfs_buf *outs,
			int *rcs);
};

/* Flags of the open functions (the `create` argument). */
enum lgfs_chunks_flags {
	LGFS_CHUNKS_CREATE = 1 << 0, /* create the directory if missing */
	LGFS_CHUNKS_RDONLY = 1 << 1, /* read only: nothing in the store is created, locked, cut,
				      * rewritten or indexed; the derived index is a hint, and a
				      * miss or a damaged copy is confirmed from the packs */
};

/* Open by URI: "file:///abs/dir" or a plain directory path (created if missing
 * and LGFS_CHUNKS_CREATE is set). `create` takes enum lgfs_chunks_flags. */
int lgfs_chunks_open(struct lgfs_chunks **out, const char *uri, int create);

int lgfs_chunks_put(struct lgfs_chunks *c, const uint8_t id[32], const void *buf, size_t len);
int lgfs_chunks_get(struct lgfs_chunks *c, const uint8_t id[32], struct lgfs_buf *out);
int lgfs_chunks_has(struct lgfs_chunks *c, const uint8_t id[32]);
/* get_many when the store has it, else one get per id. */
void lgfs_chunks_get_many(struct lgfs_chunks *c, const uint8_t (*ids)[32], size_t n, struct lgfs_buf *outs,
			  int *rcs);
int lgfs_chunks_iterate(struct lgfs_chunks *c, lgfs_chunk_cb cb, void *payload);
int lgfs_chunks_sync(struct lgfs_chunks *c);
void lgfs_chunks_close(struct lgfs_chunks *c);

/* file:// implementation, for direct use and tests: `dir` is a plain path. */
int lgfs_chunks_file_open(struct lgfs_chunks **out, const char *dir, int create);

/* Pack-file implementation (chunks_pack.c): what lgfs_chunks_open() gives
 * for file:// URIs and plain paths, except for a directory that already
 * holds the one-file-per-chunk layout of lgfs_chunks_file_open() (reachable
 * explicitly as "dir:///abs/dir"). `dir` is a plain path. */
int lgfs_chunks_pack_open(struct lgfs_chunks **out, const char *dir, int create);

/* A bounded cache of verified chunks in front of `inner` (chunks_cache.c):
 * *out takes inner's place (and closes it at close). get() fills it;
 * get_many() (read-ahead of streams) passes through. max_bytes 0: *out is
 * inner itself. */
int lgfs_chunks_cache_wrap(struct lgfs_chunks **out, struct lgfs_chunks *inner, size_t max_bytes);
/* Bytes held, hits and misses of a cache from lgfs_chunks_cache_wrap
 * (zeros for any other store). */
void lgfs_chunks_cache_stats(struct lgfs_chunks *c, size_t *bytes, uint64_t *hits, uint64_t *misses);

#endif
