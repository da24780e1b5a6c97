/*
 * merkle.c — RFC 6962 / RFC 9162 Merkle tree: hashing, the frontier, the
 * stored tree with its proofs, and the proof verifiers (ledger layer). See
 * merkle.h for the API.
 *
 * Stored tree: every perfect subtree hash, in post-order. The node of level
 * l whose last leaf is j sits at 2*j - popcount(j) + l, so a tree of n
 * leaves holds exactly 2*n - popcount(n) nodes and appending leaf n writes
 * only at and after that position. A perfect, aligned range of leaves is one
 * stored node; any other range is split as RFC 6962 splits it, so roots and
 * proofs for every past size come from O(log^2 n) stored nodes and nothing
 * is ever rehashed. In file mode memory holds only the frontier (the peaks
 * the next leaf combines with) and the not yet written nodes.
 *
 * Threads: the const functions (size, leaf, root, proofs) change nothing,
 * not even a cache; in file mode they read with pread, so they may run
 * concurrently with each other. append, flush, truncate and close change the
 * object: the caller serialises them against every other call on the same
 * tree (e.g. a rwlock, readers shared, those four exclusive).
 */
#include "ledgerfs/merkle.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NODE 32 /* bytes per stored hash */

/* Nodes buffered in file mode before append writes them out by itself, so a
 * caller that appends millions of leaves between flushes still uses at most
 * 1 MiB. A leaf adds at most 65 nodes (itself and 64 completed subtrees). */
#define FLUSH_NODES 32768
#define MAX_NODES_PER_LEAF 65

/* Largest tree accepted: keeps node positions (2n) and file offsets (32 per
 * node) far from overflowing uint64_t and off_t. */
#define MAX_LEAVES (UINT64_C(1) << 57)

/* A tree whose perfect subtree hashes are stored: nodes [0, nfile) in the
 * file, nodes [nfile, nfile + nbuf) in buf. Memory mode is the same object
 * with no file, so every node lives in buf and flush has nothing to do. */
struct lgfs_merkle {
	int fd;                           /* node file; -1 in memory mode */
	uint64_t nfile;                   /* nodes written to the file (0 in memory mode) */
	uint8_t (*buf)[NODE];             /* nodes from position nfile on */
	size_t nbuf;                      /* nodes in buf */
	size_t capbuf;                    /* nodes buf has room for */
	struct lgfs_merkle_frontier edge; /* peaks of the current tree: what the next leaf
					   * combines with, and the current root without I/O */
};

/* The 0x00 / 0x01 prefixes keep a leaf from ever hashing like a node
 * (RFC 6962 §2.1 second-preimage protection). */
void lgfs_merkle_leaf_hash(uint8_t out[32], const void *leaf, size_t len)
{
	static const uint8_t prefix = 0x00;

	lgfs_sha256_3(out, &prefix, 1, leaf, len, NULL, 0);
}

/* Hashes into a temporary first so that `out` may be `left` or `right`: the
 * verifiers fold a running hash in place. */
void lgfs_merkle_node_hash(uint8_t out[32], const uint8_t left[32], const uint8_t right[32])
{
	static const uint8_t prefix = 0x01;
	uint8_t h[32];

	lgfs_sha256_3(h, &prefix, 1, left, 32, right, 32);
	memcpy(out, h, 32);
}

/* RFC 6962 defines the empty tree's hash as the hash of nothing. */
void lgfs_merkle_empty_root(uint8_t out[32])
{
	lgfs_sha256(out, NULL, 0);
}

/* Nodes stored for a tree of n leaves, which is also the position of leaf n. */
static uint64_t node_count(uint64_t n)
{
	return 2 * n - (uint64_t)__builtin_popcountll(n);
}

/* Position of the perfect subtree of 2^level leaves whose last leaf is `last`. */
static uint64_t node_pos(uint64_t last, unsigned int level)
{
	return node_count(last) + level;
}

/* Largest power of two strictly below n (n >= 2): where RFC 6962 splits. */
static uint64_t split_point(uint64_t n)
{
	return UINT64_C(1) << (63 - __builtin_clzll(n - 1));
}

/* Largest tree size whose node count fits in `count` nodes: what survives
 * of a file cut short (node_count is strictly increasing). */
static uint64_t leaves_in(uint64_t count)
{
	uint64_t lo = 0, hi = count, mid;

	while (lo < hi) {
		mid = lo + (hi - lo + 1) / 2;
		if (node_count(mid) <= count)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* Reverses a proof built top-down into RFC order (leaf end first). */
static void reverse(uint8_t proof[][32], size_t n)
{
	uint8_t tmp[32];
	size_t i;

	for (i = 0; i < n / 2; i++) {
		memcpy(tmp, proof[i], 32);
		memcpy(proof[i], proof[n - 1 - i], 32);
		memcpy(proof[n - 1 - i], tmp, 32);
	}
}

/* An empty tree has no peaks. */
void lgfs_merkle_frontier_init(struct lgfs_merkle_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

/* The one append step shared by the frontier and the stored tree: merges
 * the new leaf with the peaks it completes and, when `done` is not NULL,
 * writes the nodes to store (the leaf hash, then each completed subtree,
 * lowest first). Returns how many nodes that is. The frontier is full at
 * 2^64 - 1 leaves, which no log reaches. */
static unsigned int frontier_push(struct lgfs_merkle_frontier *f, const uint8_t leaf_hash[32],
				  uint8_t done[][32])
{
	uint8_t h[32];
	uint64_t s = f->size;
	unsigned int n = 0;

	memcpy(h, leaf_hash, 32);
	if (done)
		memcpy(done[n], h, 32);
	n++;
	while (s & 1) {
		lgfs_merkle_node_hash(h, f->peaks[f->npeaks - 1], h);
		f->npeaks--;
		if (done)
			memcpy(done[n], h, 32);
		n++;
		s >>= 1;
	}
	memcpy(f->peaks[f->npeaks++], h, 32);
	f->size++;
	return n;
}

/* Replay and audit need only the root, so nothing is kept of the merged nodes. */
void lgfs_merkle_frontier_append(struct lgfs_merkle_frontier *f, const uint8_t leaf_hash[32])
{
	frontier_push(f, leaf_hash, NULL);
}

/* The RFC 6962 root of a tree is its peaks folded right to left. */
void lgfs_merkle_frontier_root(const struct lgfs_merkle_frontier *f, uint8_t out[32])
{
	uint8_t h[32];
	unsigned int i;

	if (f->npeaks == 0) {
		lgfs_merkle_empty_root(out);
		return;
	}
	memcpy(h, f->peaks[f->npeaks - 1], 32);
	for (i = f->npeaks - 1; i-- > 0;)
		lgfs_merkle_node_hash(h, f->peaks[i], h);
	memcpy(out, h, 32);
}

/* One stored node by position, from the file or from the buffer. The caller
 * guarantees pos < nfile + nbuf. A file shorter than nfile means someone cut
 * it under us. */
static int read_node(const struct lgfs_merkle *t, uint64_t pos, uint8_t out[NODE])
{
	size_t got = 0;
	ssize_t r;

	if (pos >= t->nfile) {
		memcpy(out, t->buf[pos - t->nfile], NODE);
		return 0;
	}
	while (got < NODE) {
		r = pread(t->fd, out + got, NODE - got, (off_t)(pos * NODE + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return lgfs_error_errno(LGFS_EIO, "reading merkle node %" PRIu64, pos);
		if (r == 0)
			return lgfs_error_set(LGFS_ECORRUPT, "merkle file ends before node %" PRIu64,
					      pos);
		got += (size_t)r;
	}
	return 0;
}

/* MTH(D[lo:hi]) for lo < hi <= size: a perfect, aligned range is one stored
 * node; any other range is split at the largest power of two below its
 * length, exactly as RFC 6962 defines the hash. */
static int subtree_hash(const struct lgfs_merkle *t, uint64_t lo, uint64_t hi, uint8_t out[NODE])
{
	uint8_t left[NODE], right[NODE];
	uint64_t n = hi - lo, k;
	int rc;

	if ((n & (n - 1)) == 0 && (lo & (n - 1)) == 0)
		return read_node(t, node_pos(hi - 1, (unsigned int)__builtin_ctzll(n)), out);
	k = split_point(n);
	rc = subtree_hash(t, lo, lo + k, left);
	if (rc == 0)
		rc = subtree_hash(t, lo + k, hi, right);
	if (rc == 0)
		lgfs_merkle_node_hash(out, left, right);
	return rc;
}

/* The frontier of the tree of the first `size` leaves, read from stored
 * nodes: used at open and by truncate. Fills *out only on success. */
static int load_frontier(const struct lgfs_merkle *t, uint64_t size,
			 struct lgfs_merkle_frontier *out)
{
	struct lgfs_merkle_frontier f;
	uint64_t lo = 0, width;
	int level, rc;

	lgfs_merkle_frontier_init(&f);
	for (level = 63; level >= 0; level--) {
		width = UINT64_C(1) << level;
		if (!(size & width))
			continue;
		rc = read_node(t, node_pos(lo + width - 1, (unsigned int)level), f.peaks[f.npeaks]);
		if (rc)
			return rc;
		f.npeaks++;
		lo += width;
	}
	f.size = size;
	*out = f;
	return 0;
}

/* Room for `extra` more nodes in buf, doubling so appends stay amortised O(1). */
static int reserve(struct lgfs_merkle *t, size_t extra)
{
	size_t cap;
	void *p;

	if (t->capbuf - t->nbuf >= extra)
		return 0;
	cap = t->capbuf ? t->capbuf : 1024;
	while (cap - t->nbuf < extra) {
		if (cap > SIZE_MAX / 2 / NODE)
			return lgfs_error_set(LGFS_ENOMEM, "merkle tree too large for memory");
		cap *= 2;
	}
	p = realloc(t->buf, cap * NODE);
	if (!p)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory growing the merkle tree");
	t->buf = p;
	t->capbuf = cap;
	return 0;
}

/* File mode keeps no state but the file: its length says how many leaves it
 * holds, so a torn tail (crash during a write) is cut back here, and the
 * frontier is read back from the peaks. */
int lgfs_merkle_open(struct lgfs_merkle **out, const char *path)
{
	struct lgfs_merkle *t;
	struct stat st;
	uint64_t n, keep;
	int rc = 0;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory opening a merkle tree");
	t->fd = -1;
	lgfs_merkle_frontier_init(&t->edge);
	if (!path)
		goto done;
	t->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (t->fd < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "opening merkle file %s", path);
		goto done;
	}
	if (fstat(t->fd, &st)) {
		rc = lgfs_error_errno(LGFS_EIO, "stat of merkle file %s", path);
		goto done;
	}
	n = leaves_in((uint64_t)st.st_size / NODE);
	keep = node_count(n);
	if ((uint64_t)st.st_size != keep * NODE && ftruncate(t->fd, (off_t)(keep * NODE))) {
		rc = lgfs_error_errno(LGFS_EIO, "cutting merkle file %s back to %" PRIu64 " leaves",
				      path, n);
		goto done;
	}
	t->nfile = keep;
	rc = load_frontier(t, n, &t->edge);
	if (rc)
		lgfs_error_wrap(rc, "opening merkle file %s", path);
done:
	if (rc) {
		if (t->fd >= 0)
			close(t->fd);
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

/* Buffered nodes are written best effort: losing them costs only the
 * re-extension from the log at the next open. Call lgfs_merkle_flush first
 * to see errors. */
void lgfs_merkle_close(struct lgfs_merkle *t)
{
	if (!t)
		return;
	if (t->fd >= 0) {
		(void)lgfs_merkle_flush(t);
		close(t->fd);
	}
	free(t->buf);
	free(t);
}

/* The frontier always knows the size, in both modes. */
uint64_t lgfs_merkle_size(const struct lgfs_merkle *t)
{
	return t->edge.size;
}

/* Stores the leaf and the subtrees it completes, hashing only those: old
 * nodes are never touched. Nothing changes when it fails. In file mode a
 * full buffer is written out first, which is where a write error shows. */
int lgfs_merkle_append(struct lgfs_merkle *t, const uint8_t leaf_hash[32])
{
	unsigned int n;
	int rc;

	if (t->edge.size >= MAX_LEAVES)
		return lgfs_error_set(LGFS_ERANGE, "merkle tree full at %" PRIu64 " leaves",
				      t->edge.size);
	if (t->fd >= 0 && t->nbuf + MAX_NODES_PER_LEAF > FLUSH_NODES) {
		rc = lgfs_merkle_flush(t);
		if (rc)
			return rc;
	}
	rc = reserve(t, 1 + (size_t)__builtin_ctzll(~t->edge.size));
	if (rc)
		return rc;
	n = frontier_push(&t->edge, leaf_hash, &t->buf[t->nbuf]);
	t->nbuf += n;
	return 0;
}

/* Writes at the explicit end offset, so a retry after a failure rewrites the
 * same place. On failure whatever a partial write left beyond the written
 * nodes is cut (best effort), so that a later open cannot take it for nodes
 * of leaves that a truncate has since replaced; the buffer stays. */
int lgfs_merkle_flush(struct lgfs_merkle *t)
{
	const uint8_t *p;
	size_t left;
	uint64_t off;
	ssize_t w;
	int rc = 0;

	if (t->fd < 0 || t->nbuf == 0)
		return 0;
	p = t->buf[0];
	left = t->nbuf * NODE;
	off = t->nfile * NODE;
	while (left > 0) {
		w = pwrite(t->fd, p, left, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			rc = lgfs_error_errno(LGFS_EIO, "writing merkle nodes at %" PRIu64,
					      off / NODE);
			goto out;
		}
		p += w;
		left -= (size_t)w;
		off += (uint64_t)w;
	}
	t->nfile += t->nbuf;
	t->nbuf = 0;
out:
	/* Best effort: if this fails too, open still cuts a torn node by length. */
	if (rc)
		(void)!ftruncate(t->fd, (off_t)(t->nfile * NODE));
	return rc;
}

/* Cuts the file at once when nodes already written must go, so the file
 * never holds leaves the log no longer has. */
int lgfs_merkle_truncate(struct lgfs_merkle *t, uint64_t size)
{
	struct lgfs_merkle_frontier edge;
	uint64_t keep;
	int rc;

	if (size > t->edge.size)
		return lgfs_error_set(LGFS_ERANGE, "cannot truncate merkle tree of %" PRIu64
				      " leaves to %" PRIu64, t->edge.size, size);
	if (size == t->edge.size)
		return 0;
	rc = load_frontier(t, size, &edge);
	if (rc)
		return rc;
	keep = node_count(size);
	if (keep < t->nfile) {
		if (ftruncate(t->fd, (off_t)(keep * NODE)))
			return lgfs_error_errno(LGFS_EIO, "truncating merkle file to %" PRIu64
						" leaves", size);
		t->nfile = keep;
		t->nbuf = 0;
	} else {
		t->nbuf = (size_t)(keep - t->nfile);
	}
	t->edge = edge;
	return 0;
}

/* A leaf is the level-0 node ending at itself: one lookup. */
int lgfs_merkle_leaf(const struct lgfs_merkle *t, uint64_t index, uint8_t out[32])
{
	if (index >= t->edge.size)
		return lgfs_error_set(LGFS_ERANGE, "leaf %" PRIu64 " not in merkle tree of %" PRIu64
				      " leaves", index, t->edge.size);
	return read_node(t, node_count(index), out);
}

/* The current size is answered from the frontier, without I/O; older sizes
 * from O(log n) stored nodes. */
int lgfs_merkle_root(const struct lgfs_merkle *t, uint64_t size, uint8_t out[32])
{
	if (size > t->edge.size)
		return lgfs_error_set(LGFS_ERANGE, "no root for size %" PRIu64 ": tree has %" PRIu64
				      " leaves", size, t->edge.size);
	if (size == t->edge.size) {
		lgfs_merkle_frontier_root(&t->edge, out);
		return 0;
	}
	if (size == 0) {
		lgfs_merkle_empty_root(out);
		return 0;
	}
	return subtree_hash(t, 0, size, out);
}

/* RFC 6962 PATH(index, D[0:size]) walked from the root down: at each split
 * the sibling of the side holding the leaf is one proof hash. Collected top
 * first, then reversed into RFC order. */
int lgfs_merkle_inclusion_proof(const struct lgfs_merkle *t, uint64_t index, uint64_t size,
				uint8_t proof[][32], size_t *nproof)
{
	uint64_t lo = 0, hi = size, k;
	size_t n = 0;
	int rc;

	*nproof = 0;
	if (size > t->edge.size)
		return lgfs_error_set(LGFS_ERANGE, "inclusion proof for size %" PRIu64
				      ": tree has %" PRIu64 " leaves", size, t->edge.size);
	if (index >= size)
		return lgfs_error_set(LGFS_ERANGE, "inclusion proof for leaf %" PRIu64
				      " in a tree of %" PRIu64 " leaves", index, size);
	while (hi - lo > 1) {
		if (n == LGFS_MERKLE_MAX_PROOF)
			return lgfs_error_set(LGFS_ERANGE, "inclusion proof too long");
		k = split_point(hi - lo);
		if (index < lo + k) {
			rc = subtree_hash(t, lo + k, hi, proof[n]);
			hi = lo + k;
		} else {
			rc = subtree_hash(t, lo, lo + k, proof[n]);
			lo += k;
		}
		if (rc)
			return rc;
		n++;
	}
	reverse(proof, n);
	*nproof = n;
	return 0;
}

/* RFC 6962 SUBPROOF(m, D[0:n], true) walked from the root down: descend
 * towards the old tree's last leaf, taking the sibling at each split, until
 * the current range is exactly the old tree's part; that part is one more
 * hash unless it is the whole old tree (the verifier knows the old root).
 * Collected top first, then reversed into RFC order. */
int lgfs_merkle_consistency_proof(const struct lgfs_merkle *t, uint64_t old_size, uint64_t new_size,
				  uint8_t proof[][32], size_t *nproof)
{
	uint64_t lo = 0, hi = new_size, k;
	size_t n = 0;
	int whole = 1, rc;

	*nproof = 0;
	if (new_size > t->edge.size)
		return lgfs_error_set(LGFS_ERANGE, "consistency proof to size %" PRIu64
				      ": tree has %" PRIu64 " leaves", new_size, t->edge.size);
	if (old_size > new_size)
		return lgfs_error_set(LGFS_ERANGE, "consistency proof from size %" PRIu64
				      " to smaller size %" PRIu64, old_size, new_size);
	if (old_size == 0 || old_size == new_size)
		return 0;
	/* Invariant: lo < old_size <= hi. */
	while (old_size != hi) {
		if (n == LGFS_MERKLE_MAX_PROOF)
			return lgfs_error_set(LGFS_ERANGE, "consistency proof too long");
		k = split_point(hi - lo);
		if (old_size <= lo + k) {
			rc = subtree_hash(t, lo + k, hi, proof[n]);
			hi = lo + k;
		} else {
			rc = subtree_hash(t, lo, lo + k, proof[n]);
			lo += k;
			whole = 0;
		}
		if (rc)
			return rc;
		n++;
	}
	if (!whole) {
		if (n == LGFS_MERKLE_MAX_PROOF)
			return lgfs_error_set(LGFS_ERANGE, "consistency proof too long");
		rc = subtree_hash(t, lo, hi, proof[n]);
		if (rc)
			return rc;
		n++;
	}
	reverse(proof, n);
	*nproof = n;
	return 0;
}

/* RFC 9162 §2.1.3.2, step by step. */
int lgfs_merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf_hash[32],
				 const uint8_t proof[][32], size_t nproof, const uint8_t root[32])
{
	uint8_t r[32];
	uint64_t fn, sn;
	size_t i;

	if (index >= size)
		return lgfs_error_set(LGFS_EBADSIG, "inclusion proof: leaf %" PRIu64
				      " is not in a tree of %" PRIu64 " leaves", index, size);
	fn = index;
	sn = size - 1;
	memcpy(r, leaf_hash, 32);
	for (i = 0; i < nproof; i++) {
		if (sn == 0)
			return lgfs_error_set(LGFS_EBADSIG, "inclusion proof: %zu hashes, more than"
					      " the path of leaf %" PRIu64 " in %" PRIu64,
					      nproof, index, size);
		if ((fn & 1) || fn == sn) {
			lgfs_merkle_node_hash(r, proof[i], r);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			lgfs_merkle_node_hash(r, r, proof[i]);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return lgfs_error_set(LGFS_EBADSIG, "inclusion proof: %zu hashes, fewer than the"
				      " path of leaf %" PRIu64 " in %" PRIu64, nproof, index, size);
	if (memcmp(r, root, 32) != 0)
		return lgfs_error_set(LGFS_EBADSIG, "inclusion proof: leaf %" PRIu64
				      " does not lead to the root of size %" PRIu64, index, size);
	return 0;
}

/* RFC 9162 §2.1.4.2, step by step, for 0 < old_size < new_size. The RFC
 * leaves the other cases out: equal sizes need equal roots and an empty
 * proof; old size 0 needs an empty proof and the empty tree's root as old
 * root (and as new root when both are 0). */
int lgfs_merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
				   const uint8_t old_root[32], const uint8_t new_root[32],
				   const uint8_t proof[][32], size_t nproof)
{
	uint8_t fr[32], sr[32], empty[32];
	const uint8_t *first;
	uint64_t fn, sn;
	size_t i = 0;

	if (old_size > new_size)
		return lgfs_error_set(LGFS_EBADSIG, "consistency proof: old size %" PRIu64
				      " above new size %" PRIu64, old_size, new_size);
	if (old_size == 0) {
		lgfs_merkle_empty_root(empty);
		if (nproof != 0)
			return lgfs_error_set(LGFS_EBADSIG, "consistency proof from size 0 must be"
					      " empty, has %zu hashes", nproof);
		if (memcmp(old_root, empty, 32) != 0 ||
		    (new_size == 0 && memcmp(new_root, empty, 32) != 0))
			return lgfs_error_set(LGFS_EBADSIG, "consistency proof: root of size 0 is"
					      " not the empty tree's root");
		return 0;
	}
	if (old_size == new_size) {
		if (nproof != 0)
			return lgfs_error_set(LGFS_EBADSIG, "consistency proof between equal sizes"
					      " must be empty, has %zu hashes", nproof);
		if (memcmp(old_root, new_root, 32) != 0)
			return lgfs_error_set(LGFS_EBADSIG, "consistency proof: two roots for size %"
					      PRIu64, old_size);
		return 0;
	}
	if (nproof == 0)
		return lgfs_error_set(LGFS_EBADSIG, "consistency proof from %" PRIu64 " to %" PRIu64
				      " is empty", old_size, new_size);
	/* Step 1: an old tree that is a power of two is a node of the new tree
	 * the proof leaves out; the verifier knows it as the old root. */
	if ((old_size & (old_size - 1)) == 0)
		first = old_root;
	else
		first = proof[i++];
	fn = old_size - 1;
	sn = new_size - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	memcpy(fr, first, 32);
	memcpy(sr, first, 32);
	for (; i < nproof; i++) {
		if (sn == 0)
			return lgfs_error_set(LGFS_EBADSIG, "consistency proof from %" PRIu64 " to %"
					      PRIu64 ": %zu hashes, too many", old_size, new_size,
					      nproof);
		if ((fn & 1) || fn == sn) {
			lgfs_merkle_node_hash(fr, proof[i], fr);
			lgfs_merkle_node_hash(sr, proof[i], sr);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			lgfs_merkle_node_hash(sr, sr, proof[i]);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return lgfs_error_set(LGFS_EBADSIG, "consistency proof from %" PRIu64 " to %" PRIu64
				      ": %zu hashes, too few", old_size, new_size, nproof);
	if (memcmp(fr, old_root, 32) != 0)
		return lgfs_error_set(LGFS_EBADSIG, "consistency proof does not lead to the root"
				      " of size %" PRIu64, old_size);
	if (memcmp(sr, new_root, 32) != 0)
		return lgfs_error_set(LGFS_EBADSIG, "consistency proof does not lead to the root"
				      " of size %" PRIu64, new_size);
	return 0;
}
