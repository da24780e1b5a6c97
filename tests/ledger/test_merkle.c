/*
 * test_merkle.c — unit tests of the Merkle tree (ledger layer, cmocka).
 *
 * The library is checked against a naive reference written straight from
 * RFC 6962 §2.1.1–2.1.2 (recursive MTH, PATH, PROOF/SUBPROOF), against the
 * Certificate Transparency test vectors, and against itself across memory
 * mode, file mode, reopen, cut-back and truncate.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/merkle.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define NMAX 300  /* every tree size 1..NMAX is checked against the reference */
#define NALL 128  /* every consistency pair (m, n) is checked up to this n */
#define MAXP LGFS_MERKLE_MAX_PROOF

/* ------------------------------------------------------------------------ */
/* Naive reference, RFC 6962 §2.1 as written.                                */

/* Leaves at index >= g_alt_from get other content: lets truncate tests
 * re-append different leaves and still have a reference. */
static uint64_t g_alt_from = UINT64_MAX;

/* MTH(D[lo:hi]) memo for hi <= NMAX: the definition stays recursive, the
 * memo only keeps the test fast. Cleared whenever leaf content changes. */
static uint8_t g_memo[NMAX + 1][NMAX + 1][32];
static uint8_t g_memo_ok[NMAX + 1][NMAX + 1];

/* Scratch directory for file-mode trees. */
static char g_dir[] = "/tmp/lgfs_merkle_test_XXXXXX";

/* Changes which leaves have the alternate content. */
static void set_alt(uint64_t from)
{
	g_alt_from = from;
	memset(g_memo_ok, 0, sizeof(g_memo_ok));
}

/* The bytes of leaf i: varying lengths, distinct per index and content. */
static size_t leaf_data(uint64_t i, char buf[64])
{
	int n = snprintf(buf, 64, "%s entry %" PRIu64, i >= g_alt_from ? "alternate" : "log", i);

	return (size_t)n;
}

/* SHA-256(0x00 || d) — written out here, not taken from the library. */
static void naive_leaf(uint64_t i, uint8_t out[32])
{
	static const uint8_t zero = 0x00;
	char buf[64];
	size_t n = leaf_data(i, buf);

	lgfs_sha256_3(out, &zero, 1, buf, n, NULL, 0);
}

/* SHA-256(0x01 || l || r). */
static void naive_node(uint8_t out[32], const uint8_t l[32], const uint8_t r[32])
{
	static const uint8_t one = 0x01;

	lgfs_sha256_3(out, &one, 1, l, 32, r, 32);
}

/* Largest power of two strictly below n (n >= 2), by counting. */
static uint64_t naive_k(uint64_t n)
{
	uint64_t k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

/* MTH(D[lo:hi]), hi > lo. */
static void naive_mth(uint64_t lo, uint64_t hi, uint8_t out[32])
{
	uint8_t l[32], r[32];
	uint64_t k;

	if (hi <= NMAX && g_memo_ok[lo][hi]) {
		memcpy(out, g_memo[lo][hi], 32);
		return;
	}
	if (hi - lo == 1) {
		naive_leaf(lo, out);
	} else {
		k = naive_k(hi - lo);
		naive_mth(lo, lo + k, l);
		naive_mth(lo + k, hi, r);
		naive_node(out, l, r);
	}
	if (hi <= NMAX) {
		memcpy(g_memo[lo][hi], out, 32);
		g_memo_ok[lo][hi] = 1;
	}
}

/* Root of the first n leaves; SHA-256("") for n == 0. */
static void naive_root(uint64_t n, uint8_t out[32])
{
	if (n == 0)
		lgfs_sha256(out, "", 0);
	else
		naive_mth(0, n, out);
}

/* PATH(m, D[lo:hi]). */
static void naive_path(uint64_t m, uint64_t lo, uint64_t hi, uint8_t out[][32], size_t *n)
{
	uint64_t k;

	if (hi - lo == 1)
		return;
	k = naive_k(hi - lo);
	if (m < k) {
		naive_path(m, lo, lo + k, out, n);
		naive_mth(lo + k, hi, out[(*n)++]);
	} else {
		naive_path(m - k, lo + k, hi, out, n);
		naive_mth(lo, lo + k, out[(*n)++]);
	}
}

/* SUBPROOF(m, D[lo:hi], b). */
static void naive_subproof(uint64_t m, uint64_t lo, uint64_t hi, int b, uint8_t out[][32],
			   size_t *n)
{
	uint64_t k;

	if (m == hi - lo) {
		if (!b)
			naive_mth(lo, hi, out[(*n)++]);
		return;
	}
	k = naive_k(hi - lo);
	if (m <= k) {
		naive_subproof(m, lo, lo + k, b, out, n);
		naive_mth(lo + k, hi, out[(*n)++]);
	} else {
		naive_subproof(m - k, lo + k, hi, 0, out, n);
		naive_mth(lo, lo + k, out[(*n)++]);
	}
}

/* PROOF(m, D[n]); empty for m == 0 and m == n, as merkle.h defines. */
static size_t naive_proof(uint64_t m, uint64_t n, uint8_t out[][32])
{
	size_t np = 0;

	if (m > 0 && m < n)
		naive_subproof(m, 0, n, 1, out, &np);
	return np;
}

/* ------------------------------------------------------------------------ */
/* Helpers.                                                                   */

/* Flips one bit of a hash: the smallest possible forgery. */
static void flip(uint8_t h[32], unsigned int bit)
{
	h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

/* Known answers are written in hex, as the specs print them. */
static void unhex32(uint8_t out[32], const char *hex)
{
	assert_int_equal(lgfs_unhex(out, 32, hex, strlen(hex)), 0);
}

/* 2n - popcount(n), computed the slow way: one leaf node plus one node per
 * subtree each leaf completes. */
static uint64_t naive_nodes(uint64_t n)
{
	uint64_t c = 0, i, j;

	for (i = 0; i < n; i++) {
		c++;
		for (j = i; j & 1; j >>= 1)
			c++;
	}
	return c;
}

/* File-mode trees live in the scratch directory. */
static void path_in_dir(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", g_dir, name);
}

/* The node file's length is its whole state: tests watch it. */
static off_t file_len(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* Opens a tree (file or, with NULL, memory) or fails the test. */
static struct lgfs_merkle *open_tree(const char *path)
{
	struct lgfs_merkle *t = NULL;

	assert_int_equal(lgfs_merkle_open(&t, path), 0);
	assert_non_null(t);
	return t;
}

/* Appends leaves [from, to) of the reference. */
static void append_range(struct lgfs_merkle *t, uint64_t from, uint64_t to)
{
	uint8_t h[32];
	uint64_t i;

	assert_int_equal(lgfs_merkle_size(t), from);
	for (i = from; i < to; i++) {
		naive_leaf(i, h);
		assert_int_equal(lgfs_merkle_append(t, h), 0);
	}
	assert_int_equal(lgfs_merkle_size(t), to);
}

/* The root of the first n leaves equals the reference. */
static void check_root(const struct lgfs_merkle *t, uint64_t n)
{
	uint8_t got[32], want[32];

	assert_int_equal(lgfs_merkle_root(t, n, got), 0);
	naive_root(n, want);
	assert_memory_equal(got, want, 32);
}

/* Every past size, down to 0, still has the reference root. */
static void check_all_roots(const struct lgfs_merkle *t)
{
	uint64_t m;

	for (m = 0; m <= lgfs_merkle_size(t); m++)
		check_root(t, m);
}

/* The bits to flip in hash number `which` of a proof check: all 256, or one
 * whose position moves with the arguments so that over many proofs every
 * byte and bit position is hit. SHA-256 treats every input bit alike, so
 * all bits are flipped only for small trees (test_bitflips_exhaustive). */
static unsigned int flip_bits(int all, unsigned int *bits, uint64_t a, uint64_t b, size_t which)
{
	unsigned int i;

	if (all) {
		for (i = 0; i < 256; i++)
			bits[i] = i;
		return 256;
	}
	bits[0] = (unsigned int)((a * 31 + b * 7 + which * 13) % 256);
	return 1;
}

/* Inclusion proof of leaf i in size n: equals the reference, verifies, and
 * fails after a flipped bit in a proof hash, the leaf hash or the root: every
 * bit of every one of them with all_bits, else one bit of one of them, the
 * choice moving with i and n so that a sweep over i hits every position. */
static void check_inclusion(const struct lgfs_merkle *t, uint64_t i, uint64_t n, int all_bits)
{
	uint8_t proof[MAXP][32], want[MAXP][32], leaf[32], root[32];
	unsigned int bits[256], nb, b;
	size_t np = 99, nw = 0, k;

	assert_int_equal(lgfs_merkle_inclusion_proof(t, i, n, proof, &np), 0);
	naive_path(i, 0, n, want, &nw);
	assert_int_equal(np, nw);
	if (nw)
		assert_memory_equal(proof, want, nw * 32);
	naive_leaf(i, leaf);
	naive_root(n, root);
	assert_int_equal(lgfs_merkle_verify_inclusion(i, n, leaf, (const uint8_t (*)[32])proof, np,
						      root), 0);
	for (k = 0; k < np + 2; k++) {
		uint8_t *h = k < np ? proof[k] : k == np ? leaf : root;

		if (!all_bits && k != (i + n) % (np + 2))
			continue;
		nb = flip_bits(all_bits, bits, i, n, k);
		for (b = 0; b < nb; b++) {
			flip(h, bits[b]);
			assert_int_equal(lgfs_merkle_verify_inclusion(i, n, leaf,
					 (const uint8_t (*)[32])proof, np, root), LGFS_EBADSIG);
			flip(h, bits[b]);
		}
	}
}

/* Consistency proof m -> n: equals the reference, verifies, and fails after
 * a flipped bit in a proof hash or either root (all of them with all_bits,
 * else one, chosen as in check_inclusion). */
static void check_consistency(const struct lgfs_merkle *t, uint64_t m, uint64_t n, int all_bits)
{
	uint8_t proof[MAXP][32], want[MAXP][32], r1[32], r2[32];
	unsigned int bits[256], nb, b;
	size_t np = 99, nw, k;

	assert_int_equal(lgfs_merkle_consistency_proof(t, m, n, proof, &np), 0);
	nw = naive_proof(m, n, want);
	assert_int_equal(np, nw);
	if (nw)
		assert_memory_equal(proof, want, nw * 32);
	naive_root(m, r1);
	naive_root(n, r2);
	assert_int_equal(lgfs_merkle_verify_consistency(m, n, r1, r2,
							(const uint8_t (*)[32])proof, np), 0);
	for (k = 0; k < np + 2; k++) {
		uint8_t *h = k < np ? proof[k] : k == np ? r1 : r2;

		/* From size 0 nothing binds the new root; with m == n the roots are
		 * compared to each other, so flipping either must fail. */
		if (m == 0 && n > 0 && h == r2)
			continue;
		if (!all_bits && k != (m + n) % (np + 2))
			continue;
		nb = flip_bits(all_bits, bits, m, n, k);
		for (b = 0; b < nb; b++) {
			flip(h, bits[b]);
			assert_int_equal(lgfs_merkle_verify_consistency(m, n, r1, r2,
					 (const uint8_t (*)[32])proof, np), LGFS_EBADSIG);
			flip(h, bits[b]);
		}
	}
}

/* Whether all consistency pairs of size n are checked: all up to NALL and
 * around every power of two; for other sizes a sample is enough. */
static int check_all_pairs(uint64_t n)
{
	return n <= NALL || ((n - 1) & (n - 2)) == 0 || (n & (n - 1)) == 0 ||
	       ((n + 1) & n) == 0;
}

/* The sampled old sizes for a large n: the ends, every power of two and its
 * neighbours, and a stride. */
static int sampled_m(uint64_t m, uint64_t n)
{
	return m <= 3 || m + 3 >= n || (m & (m - 1)) == 0 || ((m - 1) & (m - 2)) == 0 ||
	       ((m + 1) & m) == 0 || m % 11 == n % 11;
}

/* ------------------------------------------------------------------------ */
/* Tests.                                                                     */

/* Known answers: SHA-256(""), SHA-256(0x00), and the Certificate
 * Transparency reference roots, inclusion and consistency proofs. */
static void test_known_answers(void **state)
{
	static const char *ct_leaves[8] = {
		"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
		"606162636465666768696a6b6c6d6e6f",
	};
	static const char *ct_roots[8] = {
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	};
	/* index, size, proof */
	static const struct {
		uint64_t i, n;
		const char *p[3];
	} incl[] = {
		{ 0, 8, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			  "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
		{ 5, 8, { "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
			  "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
		{ 2, 3, { "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
		{ 1, 5, { "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
			  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			  "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	};
	/* old size, new size, proof */
	static const struct {
		uint64_t m, n;
		const char *p[4];
	} cons[] = {
		{ 1, 8, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			  "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
		{ 6, 8, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
			  "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
		{ 2, 5, { "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			  "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
		{ 3, 8, { "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
			  "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
			  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
			  "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	};
	struct lgfs_merkle_frontier f;
	struct lgfs_merkle *t;
	uint8_t got[32], want[32], leaf[16], h[32], roots[8][32];
	uint8_t proof[MAXP][32], wantp[MAXP][32];
	size_t i, k, np, nw;

	(void)state;
	unhex32(want, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	lgfs_merkle_empty_root(got);
	assert_memory_equal(got, want, 32);
	lgfs_merkle_frontier_init(&f);
	lgfs_merkle_frontier_root(&f, got);
	assert_memory_equal(got, want, 32);
	t = open_tree(NULL);
	assert_int_equal(lgfs_merkle_size(t), 0);
	assert_int_equal(lgfs_merkle_root(t, 0, got), 0);
	assert_memory_equal(got, want, 32);

	unhex32(want, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
	lgfs_merkle_leaf_hash(h, "", 0);
	assert_memory_equal(h, want, 32);
	lgfs_merkle_leaf_hash(h, NULL, 0);
	assert_memory_equal(h, want, 32);

	/* The CT reference tree, built through the library's own leaf hash. */
	for (i = 0; i < 8; i++) {
		size_t len = strlen(ct_leaves[i]) / 2;

		assert_int_equal(lgfs_unhex(leaf, len, ct_leaves[i], 2 * len), 0);
		lgfs_merkle_leaf_hash(h, leaf, len);
		assert_int_equal(lgfs_merkle_append(t, h), 0);
		lgfs_merkle_frontier_append(&f, h);
		unhex32(roots[i], ct_roots[i]);
		assert_int_equal(lgfs_merkle_root(t, i + 1, got), 0);
		assert_memory_equal(got, roots[i], 32);
		lgfs_merkle_frontier_root(&f, got);
		assert_memory_equal(got, roots[i], 32);
	}
	for (i = 0; i < 8; i++) {
		assert_int_equal(lgfs_merkle_root(t, i + 1, got), 0);
		assert_memory_equal(got, roots[i], 32);
	}
	for (i = 0; i < sizeof(incl) / sizeof(incl[0]); i++) {
		for (nw = 0; nw < 3 && incl[i].p[nw]; nw++)
			unhex32(wantp[nw], incl[i].p[nw]);
		assert_int_equal(lgfs_merkle_inclusion_proof(t, incl[i].i, incl[i].n, proof, &np), 0);
		assert_int_equal(np, nw);
		for (k = 0; k < nw; k++)
			assert_memory_equal(proof[k], wantp[k], 32);
		assert_int_equal(lgfs_merkle_leaf(t, incl[i].i, h), 0);
		assert_int_equal(lgfs_merkle_verify_inclusion(incl[i].i, incl[i].n, h,
				 (const uint8_t (*)[32])wantp, nw, roots[incl[i].n - 1]), 0);
	}
	for (i = 0; i < sizeof(cons) / sizeof(cons[0]); i++) {
		for (nw = 0; nw < 4 && cons[i].p[nw]; nw++)
			unhex32(wantp[nw], cons[i].p[nw]);
		assert_int_equal(lgfs_merkle_consistency_proof(t, cons[i].m, cons[i].n, proof, &np), 0);
		assert_int_equal(np, nw);
		for (k = 0; k < nw; k++)
			assert_memory_equal(proof[k], wantp[k], 32);
		assert_int_equal(lgfs_merkle_verify_consistency(cons[i].m, cons[i].n,
				 roots[cons[i].m - 1], roots[cons[i].n - 1],
				 (const uint8_t (*)[32])wantp, nw), 0);
	}
	lgfs_merkle_close(t);

	/* The reference itself agrees with the vectors' node hash. */
	lgfs_merkle_node_hash(got, roots[0], roots[0]);
	naive_node(want, roots[0], roots[0]);
	assert_memory_equal(got, want, 32);
}

/* Every size 1..NMAX in memory mode, built one leaf at a time: root (stored
 * and frontier), every leaf, every inclusion proof, every (or, for large
 * sizes away from powers of two, sampled) consistency proof, and the roots
 * of all past sizes. */
static void test_memory_all_sizes(void **state)
{
	struct lgfs_merkle_frontier f;
	struct lgfs_merkle *t;
	uint8_t h[32], got[32], want[32];
	uint64_t n, i, m;

	(void)state;
	set_alt(UINT64_MAX);
	t = open_tree(NULL);
	lgfs_merkle_frontier_init(&f);
	for (n = 1; n <= NMAX; n++) {
		naive_leaf(n - 1, h);
		assert_int_equal(lgfs_merkle_append(t, h), 0);
		lgfs_merkle_frontier_append(&f, h);
		assert_int_equal(lgfs_merkle_size(t), n);
		assert_int_equal(f.size, n);
		assert_int_equal(f.npeaks, __builtin_popcountll(n));
		naive_root(n, want);
		assert_int_equal(lgfs_merkle_root(t, n, got), 0);
		assert_memory_equal(got, want, 32);
		lgfs_merkle_frontier_root(&f, got);
		assert_memory_equal(got, want, 32);
		for (i = 0; i < n; i++) {
			naive_leaf(i, want);
			assert_int_equal(lgfs_merkle_leaf(t, i, got), 0);
			assert_memory_equal(got, want, 32);
			check_inclusion(t, i, n, 0);
		}
		for (m = 0; m <= n; m++) {
			if (check_all_pairs(n) || sampled_m(m, n))
				check_consistency(t, m, n, 0);
		}
	}
	/* Past sizes, now that the tree has grown past them. */
	check_all_roots(t);
	for (n = 1; n <= NMAX; n += 7) {
		for (i = 0; i < n; i += 3)
			check_inclusion(t, i, n, 0);
		for (m = 0; m <= n; m += 5)
			check_consistency(t, m, n, 0);
	}
	lgfs_merkle_close(t);
}

/* Every bit of every proof hash, leaf hash and root, for all proofs of small
 * trees and some around powers of two. */
static void test_bitflips_exhaustive(void **state)
{
	static const uint64_t big[] = { 15, 16, 17, 32, 33, 129 };
	struct lgfs_merkle *t;
	uint64_t n, i, m;
	size_t b;

	(void)state;
	set_alt(UINT64_MAX);
	t = open_tree(NULL);
	append_range(t, 0, 130);
	for (n = 1; n <= 10; n++) {
		for (i = 0; i < n; i++)
			check_inclusion(t, i, n, 1);
		for (m = 0; m <= n; m++)
			check_consistency(t, m, n, 1);
	}
	for (b = 0; b < sizeof(big) / sizeof(big[0]); b++) {
		n = big[b];
		check_inclusion(t, 0, n, 1);
		check_inclusion(t, n / 2 + 1, n, 1);
		check_inclusion(t, n - 1, n, 1);
		check_consistency(t, 1, n, 1);
		check_consistency(t, n / 2 + 1, n, 1);
		check_consistency(t, n - 1, n, 1);
	}
	lgfs_merkle_close(t);
}

/* Inclusion proofs are bound to their index, size, length and root. The
 * wrong size is tried with that size's own root: RFC 9162 proofs of two
 * sizes can share a path shape (leaf 0 in 3 and in 4 leaves), so a proof
 * replayed with the same root and another size is not, and need not be,
 * rejected; what must fail is proving membership in another tree. */
static void test_verify_inclusion_rejects(void **state)
{
	struct lgfs_merkle *t;
	uint8_t proof[MAXP + 2][32], leaf[32], leaf2[32], root[32], root2[32], junk[32];
	uint64_t n, i, j;
	size_t np;

	(void)state;
	set_alt(UINT64_MAX);
	t = open_tree(NULL);
	append_range(t, 0, 80);
	memset(junk, 0x5a, 32);
	for (n = 1; n <= 40; n++) {
		naive_root(n, root);
		for (i = 0; i < n; i++) {
			assert_int_equal(lgfs_merkle_inclusion_proof(t, i, n, proof, &np), 0);
			naive_leaf(i, leaf);
			assert_int_equal(lgfs_merkle_verify_inclusion(i, n, leaf,
					 (const uint8_t (*)[32])proof, np, root), 0);
			/* another index, with this leaf or with that index's leaf */
			for (j = 0; j < n + 2; j++) {
				if (j == i)
					continue;
				naive_leaf(j, leaf2);
				assert_int_equal(lgfs_merkle_verify_inclusion(j, n, leaf,
						 (const uint8_t (*)[32])proof, np, root), LGFS_EBADSIG);
				assert_int_equal(lgfs_merkle_verify_inclusion(j, n, leaf2,
						 (const uint8_t (*)[32])proof, np, root), LGFS_EBADSIG);
			}
			/* another size, with that size's root */
			for (j = i + 1; j <= 48; j++) {
				if (j == n)
					continue;
				naive_root(j, root2);
				assert_int_equal(lgfs_merkle_verify_inclusion(i, j, leaf,
						 (const uint8_t (*)[32])proof, np, root2), LGFS_EBADSIG);
			}
			/* index >= size, size 0 */
			assert_int_equal(lgfs_merkle_verify_inclusion(n, n, leaf,
					 (const uint8_t (*)[32])proof, np, root), LGFS_EBADSIG);
			assert_int_equal(lgfs_merkle_verify_inclusion(i, 0, leaf,
					 (const uint8_t (*)[32])proof, np, root), LGFS_EBADSIG);
			/* truncated: last hash dropped, first hash dropped */
			if (np > 0) {
				assert_int_equal(lgfs_merkle_verify_inclusion(i, n, leaf,
						 (const uint8_t (*)[32])proof, np - 1, root), LGFS_EBADSIG);
				assert_int_equal(lgfs_merkle_verify_inclusion(i, n, leaf,
						 (const uint8_t (*)[32])proof + 1, np - 1, root),
						 LGFS_EBADSIG);
			}
			/* extended at the end: junk, the root, a repeat */
			memcpy(proof[np], junk, 32);
			assert_int_equal(lgfs_merkle_verify_inclusion(i, n, leaf,
					 (const uint8_t (*)[32])proof, np + 1, root), LGFS_EBADSIG);
			memcpy(proof[np], root, 32);
			assert_int_equal(lgfs_merkle_verify_inclusion(i, n, leaf,
					 (const uint8_t (*)[32])proof, np + 1, root), LGFS_EBADSIG);
			if (np > 0) {
				memcpy(proof[np], proof[np - 1], 32);
				assert_int_equal(lgfs_merkle_verify_inclusion(i, n, leaf,
						 (const uint8_t (*)[32])proof, np + 1, root),
						 LGFS_EBADSIG);
			}
			/* extended at the front */
			memmove(proof[1], proof[0], np * 32);
			memcpy(proof[0], junk, 32);
			assert_int_equal(lgfs_merkle_verify_inclusion(i, n, leaf,
					 (const uint8_t (*)[32])proof, np + 1, root), LGFS_EBADSIG);
			/* the wrong root */
			lgfs_merkle_empty_root(root2);
			assert_int_equal(lgfs_merkle_verify_inclusion(i, n, leaf,
					 (const uint8_t (*)[32])proof + 1, np, root2), LGFS_EBADSIG);
		}
	}
	/* an empty proof only proves a one-leaf tree */
	naive_leaf(0, leaf);
	naive_root(1, root);
	assert_int_equal(lgfs_merkle_verify_inclusion(0, 1, leaf, NULL, 0, root), 0);
	naive_root(2, root);
	assert_int_equal(lgfs_merkle_verify_inclusion(0, 2, leaf, NULL, 0, root), LGFS_EBADSIG);
	assert_int_equal(lgfs_merkle_verify_inclusion(0, 0, leaf, NULL, 0, root), LGFS_EBADSIG);
	assert_int_equal(lgfs_merkle_verify_inclusion(UINT64_MAX, UINT64_MAX, leaf, NULL, 0, root),
			 LGFS_EBADSIG);
	lgfs_merkle_close(t);
}

/* Consistency proofs are bound to both sizes, both roots and their length;
 * the edge cases m == 0, m == n and m > n have fixed answers. */
static void test_verify_consistency_rejects(void **state)
{
	struct lgfs_merkle *t;
	uint8_t proof[MAXP + 2][32], r1[32], r2[32], ra[32], rb[32], empty[32], junk[32];
	uint64_t n, m, a;
	size_t np;

	(void)state;
	set_alt(UINT64_MAX);
	t = open_tree(NULL);
	append_range(t, 0, 64);
	lgfs_merkle_empty_root(empty);
	memset(junk, 0xa5, 32);
	for (n = 2; n <= 40; n++) {
		naive_root(n, r2);
		for (m = 1; m < n; m++) {
			naive_root(m, r1);
			assert_int_equal(lgfs_merkle_consistency_proof(t, m, n, proof, &np), 0);
			assert_true(np > 0);
			assert_int_equal(lgfs_merkle_verify_consistency(m, n, r1, r2,
					 (const uint8_t (*)[32])proof, np), 0);
			/* another old size, with its root */
			for (a = 0; a <= n + 1; a++) {
				if (a == m)
					continue;
				naive_root(a, ra);
				assert_int_equal(lgfs_merkle_verify_consistency(a, n, ra, r2,
						 (const uint8_t (*)[32])proof, np), LGFS_EBADSIG);
			}
			/* another new size, with its root */
			for (a = 0; a <= 64; a++) {
				if (a == n)
					continue;
				naive_root(a, rb);
				assert_int_equal(lgfs_merkle_verify_consistency(m, a, r1, rb,
						 (const uint8_t (*)[32])proof, np), LGFS_EBADSIG);
			}
			/* roots swapped, or both the same */
			assert_int_equal(lgfs_merkle_verify_consistency(m, n, r2, r1,
					 (const uint8_t (*)[32])proof, np), LGFS_EBADSIG);
			assert_int_equal(lgfs_merkle_verify_consistency(m, n, r1, r1,
					 (const uint8_t (*)[32])proof, np), LGFS_EBADSIG);
			assert_int_equal(lgfs_merkle_verify_consistency(m, n, r2, r2,
					 (const uint8_t (*)[32])proof, np), LGFS_EBADSIG);
			/* empty, truncated at either end */
			assert_int_equal(lgfs_merkle_verify_consistency(m, n, r1, r2,
					 (const uint8_t (*)[32])proof, 0), LGFS_EBADSIG);
			assert_int_equal(lgfs_merkle_verify_consistency(m, n, r1, r2,
					 (const uint8_t (*)[32])proof, np - 1), LGFS_EBADSIG);
			assert_int_equal(lgfs_merkle_verify_consistency(m, n, r1, r2,
					 (const uint8_t (*)[32])proof + 1, np - 1), LGFS_EBADSIG);
			/* extended at the end: junk, a root, a repeat */
			memcpy(proof[np], junk, 32);
			assert_int_equal(lgfs_merkle_verify_consistency(m, n, r1, r2,
					 (const uint8_t (*)[32])proof, np + 1), LGFS_EBADSIG);
			memcpy(proof[np], r1, 32);
			assert_int_equal(lgfs_merkle_verify_consistency(m, n, r1, r2,
					 (const uint8_t (*)[32])proof, np + 1), LGFS_EBADSIG);
			memcpy(proof[np], proof[np - 1], 32);
			assert_int_equal(lgfs_merkle_verify_consistency(m, n, r1, r2,
					 (const uint8_t (*)[32])proof, np + 1), LGFS_EBADSIG);
			/* extended at the front: junk, then a repeat of the first */
			memmove(proof[1], proof[0], np * 32);
			memcpy(proof[0], junk, 32);
			assert_int_equal(lgfs_merkle_verify_consistency(m, n, r1, r2,
					 (const uint8_t (*)[32])proof, np + 1), LGFS_EBADSIG);
			memcpy(proof[0], proof[1], 32);
			assert_int_equal(lgfs_merkle_verify_consistency(m, n, r1, r2,
					 (const uint8_t (*)[32])proof, np + 1), LGFS_EBADSIG);
			/* old size above new size */
			assert_int_equal(lgfs_merkle_verify_consistency(n, m, r2, r1,
					 (const uint8_t (*)[32])proof + 1, np), LGFS_EBADSIG);
		}
	}

	/* m == n: empty proof and equal roots */
	naive_root(5, r1);
	naive_root(6, r2);
	assert_int_equal(lgfs_merkle_verify_consistency(5, 5, r1, r1, NULL, 0), 0);
	assert_int_equal(lgfs_merkle_verify_consistency(5, 5, r1, r2, NULL, 0), LGFS_EBADSIG);
	memcpy(proof[0], r1, 32);
	assert_int_equal(lgfs_merkle_verify_consistency(5, 5, r1, r1,
			 (const uint8_t (*)[32])proof, 1), LGFS_EBADSIG);
	/* m == 0: empty proof, old root is the empty tree's */
	assert_int_equal(lgfs_merkle_verify_consistency(0, 6, empty, r2, NULL, 0), 0);
	assert_int_equal(lgfs_merkle_verify_consistency(0, 6, r1, r2, NULL, 0), LGFS_EBADSIG);
	memcpy(proof[0], empty, 32);
	assert_int_equal(lgfs_merkle_verify_consistency(0, 6, empty, r2,
			 (const uint8_t (*)[32])proof, 1), LGFS_EBADSIG);
	assert_int_equal(lgfs_merkle_verify_consistency(0, 0, empty, empty, NULL, 0), 0);
	assert_int_equal(lgfs_merkle_verify_consistency(0, 0, empty, r2, NULL, 0), LGFS_EBADSIG);
	assert_int_equal(lgfs_merkle_verify_consistency(0, 0, r1, r1, NULL, 0), LGFS_EBADSIG);
	/* m > n */
	assert_int_equal(lgfs_merkle_verify_consistency(6, 5, r2, r1, NULL, 0), LGFS_EBADSIG);
	assert_int_equal(lgfs_merkle_verify_consistency(1, 0, r2, empty, NULL, 0), LGFS_EBADSIG);
	lgfs_merkle_close(t);
}

/* Which hashes a verifier combines, and how many, follows from the claimed
 * index and sizes alone, never from the hash values; so a proof must be
 * rejected whenever its length differs from the honest proof's for the
 * claimed sizes, even with the roots its hashes really lead to. This is
 * what catches a proof replayed one level down: the proof of leaf j >= k in
 * a tree of n leaves is, without its last hash MTH(D[0:k]), the proof of leaf
 * j - k in the right subtree, so claiming (j - k, n - k) with the whole proof
 * folds to the real root of n unless the verifier stops at the claimed root
 * (the "sn == 0" checks of RFC 9162). Claims of the same length may verify
 * with the same roots (leaf 0 of 3 and of 4 leaves share a path shape), and
 * are not tried here. */
static void test_verify_length_bound(void **state)
{
	struct lgfs_merkle *t;
	uint8_t proof[MAXP][32], want[MAXP][32], leaf[32], r1[32], r2[32], x[32], y[32];
	uint64_t n, i, m, a, b;
	size_t np, nw;
	int replays = 0;

	(void)state;
	set_alt(UINT64_MAX);
	t = open_tree(NULL);
	append_range(t, 0, 64);
	for (n = 1; n <= 20; n++) {
		naive_root(n, r2);
		for (i = 0; i < n; i++) {
			assert_int_equal(lgfs_merkle_inclusion_proof(t, i, n, proof, &np), 0);
			naive_leaf(i, leaf);
			for (b = 1; b <= 24; b++) {
				for (a = 0; a < b; a++) {
					nw = 0;
					naive_path(a, 0, b, want, &nw);
					if (nw == np)
						continue;
					assert_int_equal(lgfs_merkle_verify_inclusion(a, b, leaf,
							 (const uint8_t (*)[32])proof, np, r2), LGFS_EBADSIG);
				}
			}
		}
		for (m = 1; m < n; m++) {
			naive_root(m, r1);
			assert_int_equal(lgfs_merkle_consistency_proof(t, m, n, proof, &np), 0);
			for (b = 2; b <= 24; b++) {
				for (a = 1; a < b; a++) {
					if (naive_proof(a, b, want) == np)
						continue;
					assert_int_equal(lgfs_merkle_verify_consistency(a, b, r1, r2,
							 (const uint8_t (*)[32])proof, np), LGFS_EBADSIG);
				}
			}
		}
	}
	/* the replay one level down, spelled out, for larger trees */
	for (n = 3; n <= 64; n++) {
		uint64_t k = naive_k(n);

		naive_root(n, r2);
		for (i = k; i < n; i++) {
			assert_int_equal(lgfs_merkle_inclusion_proof(t, i, n, proof, &np), 0);
			naive_leaf(i, leaf);
			assert_int_equal(lgfs_merkle_verify_inclusion(i - k, n - k, leaf,
					 (const uint8_t (*)[32])proof, np, r2), LGFS_EBADSIG);
			replays++;
		}
		for (m = k + 1; m < n; m++) {
			naive_root(m, r1);
			assert_int_equal(lgfs_merkle_consistency_proof(t, m, n, proof, &np), 0);
			assert_int_equal(lgfs_merkle_verify_consistency(m - k, n - k, r1, r2,
					 (const uint8_t (*)[32])proof, np), LGFS_EBADSIG);
			replays++;
		}
	}
	assert_true(replays > 1000);
	/* old size above new size, with hashes that would fold to the roots */
	memset(x, 0x11, 32);
	memset(y, 0x22, 32);
	memcpy(proof[0], x, 32);
	memcpy(proof[1], y, 32);
	lgfs_merkle_node_hash(r2, x, y);
	assert_int_equal(lgfs_merkle_verify_consistency(3, 2, x, r2,
			 (const uint8_t (*)[32])proof, 2), LGFS_EBADSIG);
	/* an empty proof is refused before anything is read from it */
	naive_root(3, r1);
	naive_root(5, r2);
	assert_int_equal(lgfs_merkle_verify_consistency(3, 5, r1, r2, NULL, 0), LGFS_EBADSIG);
	assert_int_equal(lgfs_merkle_verify_consistency(4, 5, r1, r2, NULL, 0), LGFS_EBADSIG);
	lgfs_merkle_close(t);
}

/* Arguments out of range are refused with LGFS_ERANGE and a message; the
 * trivial proofs are empty. */
static void test_range_errors(void **state)
{
	struct lgfs_merkle *t, *bad = (struct lgfs_merkle *)&bad;
	uint8_t proof[MAXP][32], h[32], want[32];
	size_t np;

	(void)state;
	set_alt(UINT64_MAX);
	t = open_tree(NULL);
	np = 7;
	assert_int_equal(lgfs_merkle_inclusion_proof(t, 0, 0, proof, &np), LGFS_ERANGE);
	assert_int_equal(np, 0);
	assert_int_equal(lgfs_merkle_leaf(t, 0, h), LGFS_ERANGE);
	assert_int_equal(lgfs_merkle_root(t, 1, h), LGFS_ERANGE);
	assert_int_equal(lgfs_merkle_consistency_proof(t, 0, 0, proof, &np), 0);
	assert_int_equal(np, 0);
	append_range(t, 0, 10);

	lgfs_error_clear();
	assert_int_equal(lgfs_merkle_root(t, 11, h), LGFS_ERANGE);
	assert_string_not_equal(lgfs_error_last(), "unknown error");
	assert_int_equal(lgfs_merkle_leaf(t, 10, h), LGFS_ERANGE);
	assert_int_equal(lgfs_merkle_leaf(t, UINT64_MAX, h), LGFS_ERANGE);
	np = 7;
	assert_int_equal(lgfs_merkle_inclusion_proof(t, 10, 10, proof, &np), LGFS_ERANGE);
	assert_int_equal(np, 0);
	assert_int_equal(lgfs_merkle_inclusion_proof(t, 3, 2, proof, &np), LGFS_ERANGE);
	assert_int_equal(lgfs_merkle_inclusion_proof(t, 0, 11, proof, &np), LGFS_ERANGE);
	assert_int_equal(lgfs_merkle_inclusion_proof(t, 0, UINT64_MAX, proof, &np), LGFS_ERANGE);
	np = 7;
	assert_int_equal(lgfs_merkle_consistency_proof(t, 5, 11, proof, &np), LGFS_ERANGE);
	assert_int_equal(np, 0);
	assert_int_equal(lgfs_merkle_consistency_proof(t, 6, 5, proof, &np), LGFS_ERANGE);
	assert_int_equal(lgfs_merkle_consistency_proof(t, 11, 11, proof, &np), LGFS_ERANGE);
	assert_int_equal(lgfs_merkle_truncate(t, 11), LGFS_ERANGE);
	assert_int_equal(lgfs_merkle_size(t), 10);

	np = 7;
	assert_int_equal(lgfs_merkle_consistency_proof(t, 0, 10, proof, &np), 0);
	assert_int_equal(np, 0);
	np = 7;
	assert_int_equal(lgfs_merkle_consistency_proof(t, 10, 10, proof, &np), 0);
	assert_int_equal(np, 0);
	np = 7;
	assert_int_equal(lgfs_merkle_consistency_proof(t, 4, 4, proof, &np), 0);
	assert_int_equal(np, 0);
	assert_int_equal(lgfs_merkle_root(t, 0, h), 0);
	lgfs_merkle_empty_root(want);
	assert_memory_equal(h, want, 32);
	/* memory mode: flush has nothing to do */
	assert_int_equal(lgfs_merkle_flush(t), 0);
	lgfs_merkle_close(t);
	lgfs_merkle_close(NULL);

	/* a file that cannot be created */
	assert_int_not_equal(lgfs_merkle_open(&bad, "/nonexistent-dir-lgfs/tree"), 0);
	assert_null(bad);
	assert_string_not_equal(lgfs_error_last(), "unknown error");
}

/* File mode, every size 1..NMAX: built one leaf at a time with flushes at odd
 * moments and a close/reopen now and then, so that reads mix the file and
 * the buffer; then the whole file reopened and checked at every size. */
static void test_file_all_sizes(void **state)
{
	static const uint64_t full[] = { 1, 2, 3, 4, 5, 7, 8, 9, 127, 128, 129, 255, 256, 257, 300 };
	char path[256];
	struct lgfs_merkle *t;
	uint8_t got[32], want[32];
	uint64_t n, i, m;
	size_t k;

	(void)state;
	set_alt(UINT64_MAX);
	path_in_dir(path, sizeof(path), "all_sizes.tree");
	unlink(path);
	t = open_tree(path);
	assert_int_equal(lgfs_merkle_size(t), 0);
	for (n = 1; n <= NMAX; n++) {
		append_range(t, n - 1, n);
		if (n % 7 == 0) {
			assert_int_equal(lgfs_merkle_flush(t), 0);
			assert_int_equal(file_len(path), (off_t)(naive_nodes(n) * 32));
		}
		if (n % 50 == 0) {
			lgfs_merkle_close(t);
			t = open_tree(path);
			assert_int_equal(lgfs_merkle_size(t), n);
		}
		check_root(t, n);
		check_root(t, n - 1);
		check_root(t, n / 2);
		check_root(t, 1);
		naive_leaf(n - 1, want);
		assert_int_equal(lgfs_merkle_leaf(t, n - 1, got), 0);
		assert_memory_equal(got, want, 32);
		check_inclusion(t, 0, n, 0);
		check_inclusion(t, n / 2, n, 0);
		check_inclusion(t, n - 1, n, 0);
		check_consistency(t, 1, n, 0);
		check_consistency(t, n / 2, n, 0);
		check_consistency(t, n - 1, n, 0);
	}
	assert_int_equal(lgfs_merkle_flush(t), 0);
	assert_int_equal(lgfs_merkle_flush(t), 0);
	assert_int_equal(file_len(path), (off_t)(naive_nodes(NMAX) * 32));
	lgfs_merkle_close(t);

	t = open_tree(path);
	assert_int_equal(lgfs_merkle_size(t), NMAX);
	check_all_roots(t);
	for (n = 1; n <= NMAX; n++) {
		naive_leaf(n - 1, want);
		assert_int_equal(lgfs_merkle_leaf(t, n - 1, got), 0);
		assert_memory_equal(got, want, 32);
		for (i = 0; i < n; i += 1 + n / 8)
			check_inclusion(t, i, n, 0);
		for (m = 0; m <= n; m += 1 + n / 8)
			check_consistency(t, m, n, 0);
	}
	for (k = 0; k < sizeof(full) / sizeof(full[0]); k++) {
		n = full[k];
		for (i = 0; i < n; i++)
			check_inclusion(t, i, n, 0);
		for (m = 0; m <= n; m++)
			check_consistency(t, m, n, 0);
	}
	/* closing without a flush still keeps the nodes */
	append_range(t, NMAX, NMAX + 5);
	lgfs_merkle_close(t);
	assert_int_equal(file_len(path), (off_t)(naive_nodes(NMAX + 5) * 32));
	t = open_tree(path);
	assert_int_equal(lgfs_merkle_size(t), NMAX + 5);
	naive_mth(0, NMAX + 5, want);
	assert_int_equal(lgfs_merkle_root(t, NMAX + 5, got), 0);
	assert_memory_equal(got, want, 32);
	lgfs_merkle_close(t);
	unlink(path);
}

/* Writes `len` bytes of `data` to path, replacing it. */
static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Appends `len` bytes to path. */
static void append_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Largest n with naive_nodes(n) <= count. */
static uint64_t naive_leaves_in(uint64_t count)
{
	uint64_t n = 0;

	while (naive_nodes(n + 1) <= count)
		n++;
	return n;
}

/* A file whose length is not a node count of a whole tree — a torn node, a
 * torn append of several nodes, garbage — is cut back to the largest tree
 * it holds, and that tree is intact. */
static void test_file_cut_back(void **state)
{
	char path[256];
	uint8_t garbage[200], *orig;
	struct lgfs_merkle *t;
	uint64_t c, n, total;
	size_t i, len;
	int fd;

	(void)state;
	set_alt(UINT64_MAX);
	for (i = 0; i < sizeof(garbage); i++)
		garbage[i] = (uint8_t)(i * 37 + 11);
	path_in_dir(path, sizeof(path), "cut.tree");
	unlink(path);

	/* 11 leaves = 19 nodes; leaf 11 would add 3 (22). */
	t = open_tree(path);
	append_range(t, 0, 11);
	assert_int_equal(lgfs_merkle_flush(t), 0);
	lgfs_merkle_close(t);
	assert_int_equal(file_len(path), 19 * 32);
	{
		static const size_t extra[] = { 5, 31, 32, 33, 64, 64 + 17, 95 };

		for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
			append_file(path, garbage, extra[i]);
			t = open_tree(path);
			assert_int_equal(lgfs_merkle_size(t), 11);
			assert_int_equal(file_len(path), 19 * 32);
			check_all_roots(t);
			lgfs_merkle_close(t);
		}
	}
	/* the cut tree grows on correctly */
	t = open_tree(path);
	append_range(t, 11, 21);
	assert_int_equal(lgfs_merkle_flush(t), 0);
	lgfs_merkle_close(t);
	t = open_tree(path);
	assert_int_equal(lgfs_merkle_size(t), 21);
	check_all_roots(t);
	check_inclusion(t, 11, 21, 0);
	check_consistency(t, 11, 21, 0);
	lgfs_merkle_close(t);

	/* garbage only: 100 bytes hold 3 nodes = 2 leaves; empty and short
	 * files hold none */
	write_file(path, garbage, 100);
	t = open_tree(path);
	assert_int_equal(lgfs_merkle_size(t), 2);
	assert_int_equal(file_len(path), 96);
	lgfs_merkle_close(t);
	write_file(path, garbage, 31);
	t = open_tree(path);
	assert_int_equal(lgfs_merkle_size(t), 0);
	assert_int_equal(file_len(path), 0);
	check_root(t, 0);
	lgfs_merkle_close(t);
	write_file(path, garbage, 0);
	t = open_tree(path);
	assert_int_equal(lgfs_merkle_size(t), 0);
	lgfs_merkle_close(t);

	/* every prefix of a real file, whole nodes or not */
	unlink(path);
	t = open_tree(path);
	append_range(t, 0, NMAX);
	lgfs_merkle_close(t);
	total = naive_nodes(NMAX) * 32;
	assert_int_equal(file_len(path), (off_t)total);
	orig = malloc(total);
	assert_non_null(orig);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, orig, total), (ssize_t)total);
	close(fd);
	for (c = 0; c <= total / 32; c++) {
		len = (size_t)(c * 32 + (c % 3 == 1 ? 17 : 0));
		if (len > total)
			len = (size_t)total;
		write_file(path, orig, len);
		n = naive_leaves_in(c);
		t = open_tree(path);
		assert_int_equal(lgfs_merkle_size(t), n);
		assert_int_equal(file_len(path), (off_t)(naive_nodes(n) * 32));
		check_root(t, n);
		check_root(t, n / 2);
		if (n > 0)
			check_inclusion(t, n - 1, n, 0);
		lgfs_merkle_close(t);
	}
	free(orig);
	unlink(path);
}

/* Memory mode: truncate forgets leaves, keeps the rest, and the tree grows
 * on with different leaves as if the old ones had never been. */
static void test_truncate_memory(void **state)
{
	struct lgfs_merkle *t;
	uint8_t h[32];
	uint64_t n;

	(void)state;
	set_alt(UINT64_MAX);
	t = open_tree(NULL);
	append_range(t, 0, 100);
	assert_int_equal(lgfs_merkle_truncate(t, 101), LGFS_ERANGE);
	assert_int_equal(lgfs_merkle_truncate(t, 100), 0);
	assert_int_equal(lgfs_merkle_size(t), 100);
	assert_int_equal(lgfs_merkle_truncate(t, 37), 0);
	assert_int_equal(lgfs_merkle_size(t), 37);
	check_all_roots(t);
	assert_int_equal(lgfs_merkle_root(t, 38, h), LGFS_ERANGE);
	assert_int_equal(lgfs_merkle_leaf(t, 37, h), LGFS_ERANGE);
	assert_int_equal(lgfs_merkle_leaf(t, 36, h), 0);

	set_alt(37);
	for (n = 38; n <= 120; n++) {
		append_range(t, n - 1, n);
		check_root(t, n);
		check_root(t, n - 1);
		check_inclusion(t, n - 1, n, 0);
		check_inclusion(t, 36, n, 0);
		check_consistency(t, 37, n, 0);
		check_consistency(t, 36, n, 0);
	}
	check_all_roots(t);

	/* to a power of two, then to zero */
	assert_int_equal(lgfs_merkle_truncate(t, 64), 0);
	check_all_roots(t);
	append_range(t, 64, 70);
	check_all_roots(t);
	assert_int_equal(lgfs_merkle_truncate(t, 0), 0);
	assert_int_equal(lgfs_merkle_size(t), 0);
	check_root(t, 0);
	set_alt(0);
	append_range(t, 0, 50);
	check_all_roots(t);
	check_consistency(t, 17, 50, 0);
	lgfs_merkle_close(t);
}

/* File mode: truncating inside the unflushed buffer, exactly at the flushed
 * end and below it (which cuts the file at once), then growing on and
 * reopening. */
static void test_truncate_file(void **state)
{
	char path[256];
	struct lgfs_merkle *t;
	uint64_t n;

	(void)state;
	set_alt(UINT64_MAX);
	path_in_dir(path, sizeof(path), "truncate.tree");
	unlink(path);
	t = open_tree(path);
	append_range(t, 0, 60);
	assert_int_equal(lgfs_merkle_flush(t), 0);
	append_range(t, 60, 100);
	assert_int_equal(file_len(path), (off_t)(naive_nodes(60) * 32));

	assert_int_equal(lgfs_merkle_truncate(t, 80), 0);
	assert_int_equal(lgfs_merkle_size(t), 80);
	assert_int_equal(file_len(path), (off_t)(naive_nodes(60) * 32));
	check_all_roots(t);
	assert_int_equal(lgfs_merkle_truncate(t, 60), 0);
	assert_int_equal(lgfs_merkle_size(t), 60);
	assert_int_equal(file_len(path), (off_t)(naive_nodes(60) * 32));
	check_all_roots(t);
	assert_int_equal(lgfs_merkle_truncate(t, 30), 0);
	assert_int_equal(lgfs_merkle_size(t), 30);
	assert_int_equal(file_len(path), (off_t)(naive_nodes(30) * 32));
	check_all_roots(t);
	assert_int_equal(lgfs_merkle_truncate(t, 31), LGFS_ERANGE);

	set_alt(30);
	for (n = 31; n <= 120; n++) {
		append_range(t, n - 1, n);
		if (n % 25 == 0)
			assert_int_equal(lgfs_merkle_flush(t), 0);
		check_root(t, n);
		check_root(t, 29);
		check_inclusion(t, 29, n, 0);
		check_consistency(t, 30, n, 0);
	}
	assert_int_equal(lgfs_merkle_flush(t), 0);
	lgfs_merkle_close(t);
	assert_int_equal(file_len(path), (off_t)(naive_nodes(120) * 32));
	t = open_tree(path);
	assert_int_equal(lgfs_merkle_size(t), 120);
	check_all_roots(t);
	for (n = 0; n < 120; n++)
		check_inclusion(t, n, 120, 0);

	/* truncate after reopen, before any append */
	assert_int_equal(lgfs_merkle_truncate(t, 77), 0);
	lgfs_merkle_close(t);
	assert_int_equal(file_len(path), (off_t)(naive_nodes(77) * 32));
	t = open_tree(path);
	assert_int_equal(lgfs_merkle_size(t), 77);
	check_all_roots(t);
	lgfs_merkle_close(t);
	unlink(path);
}

/* Write errors, made real with RLIMIT_FSIZE: a flush that fails part way
 * reports LGFS_EIO, leaves no partial nodes in the file and keeps its buffer
 * for a retry; an append whose automatic flush fails changes nothing. */
static void test_flush_errors(void **state)
{
	struct rlimit old, lim;
	char path[256];
	struct lgfs_merkle *t;
	uint8_t h[32], a[32], b[32];
	uint64_t n;
	int rc = 0;

	(void)state;
	set_alt(UINT64_MAX);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	path_in_dir(path, sizeof(path), "errors.tree");
	unlink(path);

	t = open_tree(path);
	append_range(t, 0, 60);
	assert_int_equal(lgfs_merkle_flush(t), 0);
	append_range(t, 60, 100);
	lim = old;
	lim.rlim_cur = naive_nodes(60) * 32 + 100;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = lgfs_merkle_flush(t);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(rc, LGFS_EIO);
	assert_int_equal(file_len(path), (off_t)(naive_nodes(60) * 32));
	assert_int_equal(lgfs_merkle_size(t), 100);
	check_all_roots(t);
	/* replace some of the unwritten leaves, then the retry writes them */
	assert_int_equal(lgfs_merkle_truncate(t, 70), 0);
	set_alt(70);
	append_range(t, 70, 90);
	assert_int_equal(lgfs_merkle_flush(t), 0);
	assert_int_equal(file_len(path), (off_t)(naive_nodes(90) * 32));
	lgfs_merkle_close(t);
	t = open_tree(path);
	assert_int_equal(lgfs_merkle_size(t), 90);
	check_all_roots(t);
	lgfs_merkle_close(t);
	unlink(path);

	/* the automatic flush of a full buffer fails: the leaf is not added */
	set_alt(UINT64_MAX);
	t = open_tree(path);
	lim.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (n = 0; n < 100000; n++) {
		naive_leaf(n, h);
		rc = lgfs_merkle_append(t, h);
		if (rc)
			break;
	}
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(rc, LGFS_EIO);
	assert_true(n > 1000);
	assert_int_equal(lgfs_merkle_size(t), n);
	assert_int_equal(file_len(path), 0);
	assert_int_equal(lgfs_merkle_root(t, n, a), 0);
	naive_root(n, b);
	assert_memory_equal(a, b, 32);
	assert_int_equal(lgfs_merkle_root(t, n - 1, a), 0);
	naive_root(n - 1, b);
	assert_memory_equal(a, b, 32);
	/* the disk has room again: the same leaf goes in */
	assert_int_equal(lgfs_merkle_append(t, h), 0);
	assert_int_equal(lgfs_merkle_flush(t), 0);
	lgfs_merkle_close(t);
	t = open_tree(path);
	assert_int_equal(lgfs_merkle_size(t), n + 1);
	assert_int_equal(lgfs_merkle_root(t, n + 1, a), 0);
	naive_root(n + 1, b);
	assert_memory_equal(a, b, 32);
	lgfs_merkle_close(t);
	unlink(path);
}

/* A tree large enough that file mode writes its buffer out by itself, and
 * deep enough for long proofs: file mode, memory mode and the frontier agree,
 * spot checks against the reference, and the file survives a reopen. */
static void test_large_file(void **state)
{
	static const uint64_t sizes[] = { 1, 2, 4095, 4096, 4097, 12345, 16383, 16384, 16385,
					  19999, 20000 };
	enum { N = 20000 };
	struct lgfs_merkle_frontier f;
	struct lgfs_merkle *tf, *tm;
	uint8_t h[32], a[32], b[32], pf[MAXP][32], pm[MAXP][32];
	char path[256];
	uint64_t i, n, m;
	size_t k, nf, nm;

	(void)state;
	set_alt(UINT64_MAX);
	path_in_dir(path, sizeof(path), "large.tree");
	unlink(path);
	tf = open_tree(path);
	tm = open_tree(NULL);
	lgfs_merkle_frontier_init(&f);
	for (i = 0; i < N; i++) {
		naive_leaf(i, h);
		assert_int_equal(lgfs_merkle_append(tf, h), 0);
		assert_int_equal(lgfs_merkle_append(tm, h), 0);
		lgfs_merkle_frontier_append(&f, h);
	}
	/* the buffer was written out along the way, in whole trees */
	assert_true(file_len(path) > 0);
	assert_true(file_len(path) < (off_t)(naive_nodes(N) * 32));
	assert_int_equal(file_len(path) % 32, 0);

	lgfs_merkle_frontier_root(&f, a);
	assert_int_equal(lgfs_merkle_root(tf, N, b), 0);
	assert_memory_equal(a, b, 32);
	for (n = 1; n <= N; n += 997) {
		assert_int_equal(lgfs_merkle_root(tf, n, a), 0);
		assert_int_equal(lgfs_merkle_root(tm, n, b), 0);
		assert_memory_equal(a, b, 32);
	}
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		n = sizes[k];
		assert_int_equal(lgfs_merkle_root(tf, n, a), 0);
		assert_int_equal(lgfs_merkle_root(tm, n, b), 0);
		assert_memory_equal(a, b, 32);
		if (n == 4097 || n == N) {
			naive_root(n, b);
			assert_memory_equal(a, b, 32);
		}
		for (i = 0; i < n; i += 1 + n / 5) {
			assert_int_equal(lgfs_merkle_inclusion_proof(tf, i, n, pf, &nf), 0);
			assert_int_equal(lgfs_merkle_inclusion_proof(tm, i, n, pm, &nm), 0);
			assert_int_equal(nf, nm);
			assert_memory_equal(pf, pm, nf * 32);
			assert_int_equal(lgfs_merkle_leaf(tf, i, h), 0);
			assert_int_equal(lgfs_merkle_verify_inclusion(i, n, h,
					 (const uint8_t (*)[32])pf, nf, a), 0);
		}
		for (m = 0; m <= n; m += 1 + n / 3) {
			assert_int_equal(lgfs_merkle_consistency_proof(tf, m, n, pf, &nf), 0);
			assert_int_equal(lgfs_merkle_consistency_proof(tm, m, n, pm, &nm), 0);
			assert_int_equal(nf, nm);
			assert_memory_equal(pf, pm, nf * 32);
			assert_int_equal(lgfs_merkle_root(tm, m, h), 0);
			assert_int_equal(lgfs_merkle_verify_consistency(m, n, h, a,
					 (const uint8_t (*)[32])pf, nf), 0);
		}
	}
	lgfs_merkle_close(tf);
	assert_int_equal(file_len(path), (off_t)(naive_nodes(N) * 32));
	tf = open_tree(path);
	assert_int_equal(lgfs_merkle_size(tf), N);
	assert_int_equal(lgfs_merkle_root(tf, N, a), 0);
	lgfs_merkle_frontier_root(&f, b);
	assert_memory_equal(a, b, 32);
	assert_int_equal(lgfs_merkle_root(tf, 12345, a), 0);
	assert_int_equal(lgfs_merkle_root(tm, 12345, b), 0);
	assert_memory_equal(a, b, 32);
	lgfs_merkle_close(tf);
	lgfs_merkle_close(tm);
	unlink(path);
}

/* One scratch directory for all file-mode tests. */
static int group_setup(void **state)
{
	(void)state;
	return mkdtemp(g_dir) ? 0 : -1;
}

/* Removes what a failed test may have left behind, then the directory. */
static int group_teardown(void **state)
{
	static const char *names[] = { "all_sizes.tree", "cut.tree", "truncate.tree",
				       "errors.tree", "large.tree" };
	char path[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path_in_dir(path, sizeof(path), names[i]);
		unlink(path);
	}
	return rmdir(g_dir);
}

/* One binary per module; run.sh counts cmocka's PASSED / FAILED lines. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_memory_all_sizes),
		cmocka_unit_test(test_bitflips_exhaustive),
		cmocka_unit_test(test_verify_inclusion_rejects),
		cmocka_unit_test(test_verify_consistency_rejects),
		cmocka_unit_test(test_verify_length_bound),
		cmocka_unit_test(test_range_errors),
		cmocka_unit_test(test_file_all_sizes),
		cmocka_unit_test(test_file_cut_back),
		cmocka_unit_test(test_truncate_memory),
		cmocka_unit_test(test_truncate_file),
		cmocka_unit_test(test_flush_errors),
		cmocka_unit_test(test_large_file),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
