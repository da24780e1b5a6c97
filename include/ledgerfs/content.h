/*
 * content.h — file content as chunks: content-defined chunking, the chunk
 * writer, file manifests and the manifest reader (store layer).
 *
 * A file version is cut into chunks at content-defined boundaries (so an edit
 * changes only the chunks around it and the rest deduplicates), each chunk is
 * stored under the SHA-256 of its bytes, and the version is described by a
 * manifest: total size, SHA-256 of the whole content (so `sha256sum` of the
 * file matches what the log names; not computed for very sparse files, see
 * LGFS_HOLE_HASH_MAX) and the list of (chunk id, length). The
 * manifest is itself stored as a chunk; its id is what a write record names.
 * The byte-level formats are documented at the top of src/store/content.c.
 *
 * Typical use (fs/ layer):
 *
 *   write:  lgfs_chunk_writer_new -> _write (any piece sizes) / _hole ->
 *           _finish (manifest id, size, SHA-256) -> lgfs_chunks_sync
 *   read:   lgfs_manifest_reader_open(id) -> _read(offset, len) ... -> _free
 */
#ifndef LGFS_CONTENT_H
#define LGFS_CONTENT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "chunks.h"

/*
 * Content-defined chunking: gear hash, FastCDC-style normalized chunking.
 *
 * For each chunk, starting at its first byte with h = 0:
 *   - bytes at chunk index j < LGFS_CDC_MIN are not hashed;
 *   - for j = LGFS_CDC_MIN, LGFS_CDC_MIN + 1, ...:
 *         h = (h << 1) + G[byte_j]   (mod 2^64)
 *     the chunk ends after byte j if (h & mask) == 0, where mask is
 *     LGFS_CDC_MASK_S while j < LGFS_CDC_AVG and LGFS_CDC_MASK_L after;
 *     it ends after byte j in any case when j + 1 == LGFS_CDC_MAX;
 *   - the last chunk of a file ends at its end (it may be shorter than MIN).
 * The masks use the top bits of h because bit k of a gear hash depends only
 * on the last k + 1 bytes: the top bits see a 64-byte window.
 *
 * The gear table is G[i] = the first 8 bytes, read big-endian, of
 * SHA-256("ledgerfs cdc gear v1" || i) — the 20 ASCII bytes of the string
 * followed by the single byte i, for i = 0..255. G[0] = 0xc7f7f6559a16b2a9
 * (checked by the tests), so an independent implementation can reproduce
 * every boundary.
 *
 * Non-final chunks are LGFS_CDC_MIN + 1 .. LGFS_CDC_MAX bytes, about 73 KiB
 * on average for random data.
 */
#define LGFS_CDC_MIN (16u << 10)               /* bytes never hashed at a chunk's start */
#define LGFS_CDC_AVG (64u << 10)               /* where the stricter mask gives way */
#define LGFS_CDC_MAX (256u << 10)              /* hard cut */
#define LGFS_CDC_MASK_S 0xffffc00000000000ull  /* top 18 bits: cuts rare before AVG */
#define LGFS_CDC_MASK_L 0xfffc000000000000ull  /* top 14 bits: cuts likely after AVG */

/* The chunker's state between pieces of a stream. Plain data: copy it,
 * embed it, no free. */
struct lgfs_cdc {
	uint64_t hash; /* gear hash of the current chunk so far */
	uint32_t len;  /* bytes of the current chunk seen so far */
	int cut;       /* the last byte seen ended the chunk; reported on the next call */
};

/* Start a stream (or restart at a forced boundary). */
void lgfs_cdc_init(struct lgfs_cdc *st);

/* Feed the next n bytes of the stream. Returns k <= n, the number of bytes
 * of p that belong to the current chunk:
 *   k == n  no boundary yet (or one exactly at the end of p, which the next
 *           call reports by returning 0);
 *   k <  n  the current chunk ends after p[k - 1] (k == 0: it ended with the
 *           previous piece); the state now belongs to the next chunk, whose
 *           bytes start at p + k — call again with the rest.
 * Pieces of any size, down to one byte, give the same boundaries as one call
 * with the whole stream. */
size_t lgfs_cdc_next(struct lgfs_cdc *st, const uint8_t *p, size_t n);

/* End of the stream: returns the length of the final chunk (0 if the stream
 * ended on a boundary or was empty) and resets the state. */
uint32_t lgfs_cdc_end(struct lgfs_cdc *st);

/* The 256-entry gear table; borrowed, static. */
const uint64_t *lgfs_cdc_gear(void);

/*
 * Manifests.
 *
 * An entry is a stored chunk (id = SHA-256 of its bytes, length
 * 1..LGFS_CHUNK_MAX) or a hole: the all-zero id means `len` zero bytes that
 * are not stored (sparse and fallocated regions), length 1..LGFS_HOLE_MAX.
 * Canonical form: a hole is never directly followed by another hole unless
 * it has the maximum length (the writer merges them; decoders reject it).
 *
 * Up to LGFS_MANIFEST_FLAT_MAX entries (about 4 GiB of content at the average
 * chunk size) a manifest is one "LGM1" object; beyond, it is stored as parts
 * of LGFS_MANIFEST_FLAT_MAX entries and one "LGMX" root naming them, so no
 * stored object exceeds LGFS_CHUNK_MAX and a 1 TiB file needs 256 parts. The
 * manifest id is always the id of the single object (LGM1) or of the root.
 */
#define LGFS_HOLE_MAX (1u << 31)          /* longest hole entry, bytes */
#define LGFS_MANIFEST_FLAT_MAX 65536u     /* entries in a flat manifest and in one part */

/* The largest file content a writer accepts: 16 TiB. The formats would hold
 * more (u64 sizes); the bound keeps a version's manifest small (a 16 TiB
 * hole is 8192 entries) and gives `truncate -s` of absurd sizes a clear
 * error (EFBIG at the file system) instead of work. */
#define LGFS_FILE_SIZE_MAX (1ull << 44)

/*
 * The whole-content SHA-256 of a version is computed only when its holes
 * total at most LGFS_HOLE_HASH_MAX bytes (hashed as zeros, well under a
 * second); above that the manifest's hash field (and the write record's
 * sha256) is 32 zero bytes, "not computed: the content is verified chunk by
 * chunk through the manifest". So building a version costs what its stored
 * data costs, never what its holes would. Decoders reject 32 zero bytes
 * when the holes total at most the bound. Whoever recomputes the hash
 * (audit, tests) does so exactly when lgfs_manifest_hash_checked() says so.
 */
#define LGFS_HOLE_HASH_MAX (1ull << 30)

/* 1 if a version whose holes total hole_bytes carries its whole-content
 * SHA-256, 0 if its hash field is 32 zero bytes. */
static inline int lgfs_content_hashed(uint64_t hole_bytes)
{
	return hole_bytes <= LGFS_HOLE_HASH_MAX;
}

/* One entry. For a hole, id is all zero. */
struct lgfs_manifest_entry {
	uint8_t id[32]; /* SHA-256 of the chunk; all zero for a hole */
	uint32_t len;   /* content bytes this entry covers */
};

/* A decoded manifest (all entries in memory: 36 bytes per chunk). */
struct lgfs_manifest {
	uint64_t size;                        /* total content bytes = sum of entry lengths */
	uint8_t sha256[32];                   /* SHA-256 of the whole content (holes as zeros), or
					       * all zero above LGFS_HOLE_HASH_MAX of holes */
	size_t count;                         /* number of entries */
	struct lgfs_manifest_entry *entries;  /* owned; free with lgfs_manifest_free */
};

/* 1 if e is a hole. */
static inline int lgfs_manifest_entry_is_hole(const struct lgfs_manifest_entry *e)
{
	size_t i;

	for (i = 0; i < 32; i++)
		if (e->id[i])
			return 0;
	return 1;
}

/* Release m->entries and zero m. */
void lgfs_manifest_free(struct lgfs_manifest *m);

/* Bytes of m that are holes (sum of its hole entries). */
uint64_t lgfs_manifest_holes(const struct lgfs_manifest *m);

/* 1 if m->sha256 must equal the SHA-256 of the content m describes (a
 * checker recomputes and compares it), 0 if it is not to be recomputed
 * (holes above LGFS_HOLE_HASH_MAX: chunk hashes are what verifies the
 * content then). */
int lgfs_manifest_hash_checked(const struct lgfs_manifest *m);

/* Canonical flat ("LGM1") encoding of m, appended to out. LGFS_EINVAL if m
 * is not canonical (bad lengths, lengths not summing to size, adjacent
 * holes, an all-zero hash with at most LGFS_HOLE_HASH_MAX of holes) or has more than LGFS_MANIFEST_FLAT_MAX entries (use
 * lgfs_manifest_store). */
int lgfs_manifest_encode(struct lgfs_buf *out, const struct lgfs_manifest *m)
	__attribute__((warn_unused_result));

/* Strict decode of a flat manifest: LGFS_ECORRUPT for anything but the exact
 * canonical encoding (bad magic, truncation, trailing bytes, counts or
 * lengths that do not add up, overflow). On success out owns new entries. */
int lgfs_manifest_decode(struct lgfs_manifest *out, const void *p, size_t n)
	__attribute__((warn_unused_result));

/* Store m (flat, or parts + root when large) in c; id_out gets the manifest
 * id. LGFS_EINVAL if m is not canonical. Not durable before lgfs_chunks_sync. */
int lgfs_manifest_store(struct lgfs_chunks *c, const struct lgfs_manifest *m, uint8_t id_out[32])
	__attribute__((warn_unused_result));

/* Fetch (verified) and decode the manifest `id`, flat or split, with all its
 * entries. LGFS_ENOTFOUND, LGFS_ECORRUPT. */
int lgfs_manifest_load(struct lgfs_manifest *out, struct lgfs_chunks *c, const uint8_t id[32])
	__attribute__((warn_unused_result));

/*
 * Chunk writer: bytes in, chunks stored, manifest out. One writer per file
 * version being written; not thread-safe. Memory is bounded (one chunk and
 * one manifest part) whatever the file size.
 */
struct lgfs_chunk_writer;

/* c is borrowed and must outlive the writer. */
int lgfs_chunk_writer_new(struct lgfs_chunk_writer **out, struct lgfs_chunks *c);

/* Like lgfs_chunk_writer_new, but the work runs in the background: _write
 * only copies the bytes into a bounded queue (a few MiB; it waits when the
 * queue is full) and returns, while two threads of the writer's own cut,
 * hash and store them and hash the whole content, on other cores. The
 * result is identical to the synchronous writer's. An error of the
 * background work is returned by the next _write, _hole or _finish. _hole
 * first waits for the queue to drain. For a stream that arrives in pieces
 * over time (a file written sequentially through the mount). */
int lgfs_chunk_writer_new_async(struct lgfs_chunk_writer **out, struct lgfs_chunks *c);

/* Append n bytes of content (any piece size; boundaries do not depend on
 * it). Each chunk is hashed and put as soon as it is complete. After an
 * error every later call fails with the same code. */
int lgfs_chunk_writer_write(struct lgfs_chunk_writer *w, const void *p, size_t n);

/* Append len zero bytes as a hole (nothing stored). Pending data ends its
 * chunk here, and chunking restarts after the hole. Zeros passed to _write
 * stay data (a run of them dedupes to one stored chunk); only this call makes
 * holes. While the holes total at most LGFS_HOLE_HASH_MAX the whole-content
 * SHA-256 covers their zeros (hashed at 1-2 GB/s); once they pass it the
 * hash is dropped and _finish reports 32 zero bytes. Both _write and _hole
 * fail with LGFS_ERANGE when the content would exceed LGFS_FILE_SIZE_MAX. */
int lgfs_chunk_writer_hole(struct lgfs_chunk_writer *w, uint64_t len);

/* Finish: store the last chunk and the manifest. id_out gets the manifest
 * id; size_out and sha256_out (each may be NULL) the content size and
 * SHA-256 (32 zero bytes when not computed, see LGFS_HOLE_HASH_MAX). The writer accepts no more data; free it afterwards. */
int lgfs_chunk_writer_finish(struct lgfs_chunk_writer *w, uint8_t id_out[32],
			     uint64_t *size_out, uint8_t sha256_out[32])
	__attribute__((warn_unused_result));

void lgfs_chunk_writer_free(struct lgfs_chunk_writer *w);

/*
 * Manifest reader: random-access reads of one file version, fetching only
 * the chunks (and, for split manifests, the parts) a read touches; every
 * chunk is verified by the store's get(). It keeps the last chunk it fetched,
 * so sequential reads smaller than a chunk fetch each chunk once. After
 * three chunks read in order it reads ahead: a thread of its own fetches
 * the next chunks (lgfs_chunks_get_many, up to 32 of them) while the caller
 * copies; a read elsewhere drops them. Errors are still reported by the
 * read that needs the chunk. For a cache
 * shared between readers, pass a struct lgfs_chunks that caches (any
 * implementation of the interface). Not thread-safe: one per open file
 * handle, or lock around it.
 */
struct lgfs_manifest_reader;

/* c is borrowed and must outlive the reader. LGFS_ENOTFOUND, LGFS_ECORRUPT. */
int lgfs_manifest_reader_open(struct lgfs_manifest_reader **out, struct lgfs_chunks *c,
			      const uint8_t id[32]);

/* Content size and SHA-256 field from the manifest (32 zero bytes when not
 * computed). The reader checks the hash rule of LGFS_HOLE_HASH_MAX for a
 * flat manifest at open; for a split one only lgfs_manifest_load does (it
 * needs every part). Reads are verified chunk by chunk, never against the
 * whole-content hash. */
uint64_t lgfs_manifest_reader_size(const struct lgfs_manifest_reader *r);
void lgfs_manifest_reader_sha256(const struct lgfs_manifest_reader *r, uint8_t out[32]);

/* Read up to len bytes at offset off into dst; *n_out gets the count, which
 * is less than len only at the end of the content (0 at or past it). On
 * error (LGFS_ECORRUPT for a damaged chunk or part, LGFS_ENOTFOUND for a
 * missing one) *n_out is 0 and dst's contents are unspecified. */
int lgfs_manifest_reader_read(struct lgfs_manifest_reader *r, uint64_t off, void *dst,
			      size_t len, size_t *n_out)
	__attribute__((warn_unused_result));

/* What lies at offset off (< size): *hole gets 1 for a hole (zeros, not
 * stored), 0 for stored data, and *len the bytes from off on that are of
 * the same kind (at least 1; runs may be reported in several pieces).
 * Reads no chunk. LGFS_ERANGE at or past the end; LGFS_ECORRUPT,
 * LGFS_ENOTFOUND for a bad or missing manifest part. */
int lgfs_manifest_reader_span(struct lgfs_manifest_reader *r, uint64_t off, uint64_t *len, int *hole)
	__attribute__((warn_unused_result));

void lgfs_manifest_reader_free(struct lgfs_manifest_reader *r);

#endif
