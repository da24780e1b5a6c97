/*
 * merkle.h — RFC 6962 / RFC 9162 Merkle tree over log entries (ledger layer).
 *
 * Leaf hash  = SHA-256(0x00 || leaf bytes)     (the leaf bytes are an envelope)
 * Node hash  = SHA-256(0x01 || left || right)
 * Tree of n leaves: split at the largest power of two k < n.
 *
 * Two objects:
 *  - struct lgfs_merkle_frontier: the O(log n) right edge of a tree (one hash
 *    per set bit of the size). Enough to append and to compute the root; used
 *    by replay/audit and by writers.
 *  - struct lgfs_merkle: the whole tree with every complete (perfect) subtree
 *    hash stored, in post-order ("MMR" layout): appending leaf i stores the
 *    leaf hash and then each subtree it completes. Node of level l whose last
 *    leaf is j sits at position 2*j - popcount(j) + l. The store is an
 *    append-only array of 32-byte hashes, in memory or in a file; appending
 *    never rehashes old data; roots, inclusion and consistency proofs for any
 *    size <= the current size are computed from O(log^2 n) stored nodes.
 */
#ifndef LGFS_MERKLE_H
#define LGFS_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define LGFS_MERKLE_MAX_PROOF 64 /* hashes in any proof for sizes < 2^63 */

void lgfs_merkle_leaf_hash(uint8_t out[32], const void *leaf, size_t len);
void lgfs_merkle_node_hash(uint8_t out[32], const uint8_t left[32], const uint8_t right[32]);
/* SHA-256 of the empty string: the root of the empty tree. */
void lgfs_merkle_empty_root(uint8_t out[32]);

/* Right edge of a tree: peaks[i] is the root of the i-th perfect subtree from
 * the left, sizes decreasing (one per set bit of size, high bit first). */
struct lgfs_merkle_frontier {
	uint64_t size;          /* leaves so far */
	unsigned int npeaks;    /* == popcount(size) */
	uint8_t peaks[64][32];  /* perfect subtree roots, largest first */
};

void lgfs_merkle_frontier_init(struct lgfs_merkle_frontier *f);
void lgfs_merkle_frontier_append(struct lgfs_merkle_frontier *f, const uint8_t leaf_hash[32]);
void lgfs_merkle_frontier_root(const struct lgfs_merkle_frontier *f, uint8_t out[32]);

struct lgfs_merkle;

/* Open a tree whose node array lives in file `path` (created if missing), or
 * in memory when path is NULL. A file whose length is not a whole node count
 * is cut back to the largest complete tree it holds (the file is derived
 * data; the ledger re-extends it from the log). *out belongs to the caller:
 * free with lgfs_merkle_close(). */
int lgfs_merkle_open(struct lgfs_merkle **out, const char *path);
void lgfs_merkle_close(struct lgfs_merkle *t);

uint64_t lgfs_merkle_size(const struct lgfs_merkle *t);

/* Append one leaf (its leaf hash). Memory mode never fails but for ENOMEM;
 * file mode buffers writes until lgfs_merkle_flush(). */
int lgfs_merkle_append(struct lgfs_merkle *t, const uint8_t leaf_hash[32]);
/* Write buffered nodes to the file (no fsync: the file is derived data). */
int lgfs_merkle_flush(struct lgfs_merkle *t);
/* Forget leaves >= size (used when the log's torn tail was cut). */
int lgfs_merkle_truncate(struct lgfs_merkle *t, uint64_t size);

/* Hash of leaf `index` (its stored leaf hash). */
int lgfs_merkle_leaf(const struct lgfs_merkle *t, uint64_t index, uint8_t out[32]);
/* Root of the tree of the first `size` leaves, size <= lgfs_merkle_size(). */
int lgfs_merkle_root(const struct lgfs_merkle *t, uint64_t size, uint8_t out[32]);

/* Inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162
 * §2.1.3.1). `proof` must hold LGFS_MERKLE_MAX_PROOF hashes; *nproof gets
 * the count. LGFS_ERANGE if index >= size or size > current size. */
int lgfs_merkle_inclusion_proof(const struct lgfs_merkle *t, uint64_t index, uint64_t size,
				uint8_t proof[][32], size_t *nproof);
/* Consistency proof between sizes old_size <= new_size (RFC 9162 §2.1.4.1);
 * empty when old_size == 0 or old_size == new_size. */
int lgfs_merkle_consistency_proof(const struct lgfs_merkle *t, uint64_t old_size, uint64_t new_size,
				  uint8_t proof[][32], size_t *nproof);

/* Verifiers (RFC 9162 §2.1.3.2 and §2.1.4.2). 0 when the proof holds,
 * LGFS_EBADSIG (with a message) when it does not. Need no tree. */
int lgfs_merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf_hash[32],
				 const uint8_t proof[][32], size_t nproof, const uint8_t root[32])
	__attribute__((warn_unused_result));
int lgfs_merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
				   const uint8_t old_root[32], const uint8_t new_root[32],
				   const uint8_t proof[][32], size_t nproof)
	__attribute__((warn_unused_result));

#endif
