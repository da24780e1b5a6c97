/*
 * verify.h — the verified open of a volume's log (ledger layer, private).
 *
 * Every open of a volume, read-only or writable, reads the whole log once and
 * checks it before anything is served or signed: each envelope's encoding,
 * index and chain, each record's presence and commitment, record and envelope
 * agreement, membership; every stored checkpoint's signature, and the Merkle
 * root recomputed from the envelopes at each checkpoint's size; the
 * signatures of the entries no verified checkpoint covers; and the user's own
 * pinned checkpoint (trust.h) against the log. The leaf hashes it computed
 * stay in memory, so that every later read of an entry is checked against
 * them (a file changed after the open is caught too).
 *
 * Any failure refuses the volume (LGFS_ECORRUPT, message naming the index
 * and what is wrong, and pointing at `ledgerfs audit`). Only an incomplete
 * last log frame that no checkpoint covers, and an incomplete last frame of
 * the checkpoints file, are torn writes: the caller may cut them when it is
 * a writer.
 */
#ifndef LGFS_LEDGER_VERIFY_H
#define LGFS_LEDGER_VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ledgerfs/ledger.h"
#include "ledgerfs/log.h"
#include "ledgerfs/merkle.h"

struct lgfs_vlog {
	struct lgfs_volume_info info; /* from the verified genesis record */
	uint64_t size;                /* verified entries: the whole log */
	uint8_t prev[32];             /* envelope hash of the last entry */
	int64_t last_time;            /* time of the last entry */
	uint8_t (*leaves)[32];        /* leaf hash of every entry, owned; NULL when mapped (below) */
	size_t leaves_cap;            /* room in leaves */
	/* A reader's leaf hashes straight from the verification cache
	 * (vcache.c): the file mapped read-only; each block of
	 * LGFS_VCACHE_BLOCK leaves is checked against its hash the first time
	 * one of them is used (lgfs_vlog_leaf), so an open costs what it
	 * reads, not 32 bytes per entry of the log. */
	void *map;
	size_t map_len;
	const uint8_t (*mleaves)[32];
	const uint8_t (*bhash)[32];   /* per block */
	uint8_t *bok;                 /* per block: 1 once checked */
	char *map_path;               /* the cache file: removed when a block is damaged */
	uint8_t root[32];             /* Merkle root of all entries */
	struct lgfs_merkle_frontier front; /* right edge of the verified tree: the writer signs its roots */
	char *cp_note;                /* newest stored checkpoint that verified, owned; NULL if none */
	uint64_t cp_size;             /* its size (0 if none) */
	off_t cp_valid_end;           /* checkpoints file: end of its last complete frame */
	off_t cp_file_size;           /* its size: more than cp_valid_end when the last frame is torn */
	uint64_t signatures;          /* entry signatures verified (those no checkpoint covered) */
};

/* Verify the log of the volume in `dir` (opened as `log`). On success *out
 * describes it (free with lgfs_vlog_free()). `log->torn_bytes` is left for
 * the caller; a torn frame that a checkpoint covered is refused here.
 * `reader`: opened read-only, so a writer may be appending meanwhile (its
 * checkpoints beyond this view of the log are left for a later open). */
/* How far ahead of the reader's clock a log's last record may be dated. */
#define LGFS_CLOCK_TOLERANCE_NS (24LL * 3600 * 1000000000)
int lgfs_vlog_verify(struct lgfs_vlog *out, struct lgfs_log *log, const char *dir, int reader);
void lgfs_vlog_free(struct lgfs_vlog *v);
/* The leaf hash of entry i < v->size; NULL (LGFS_ECORRUPT, message) when
 * it comes from a mapped cache block that does not match its hash (the
 * cache file is then removed: the next open verifies in full). */
const uint8_t *lgfs_vlog_leaf(struct lgfs_vlog *v, uint64_t i);

/* Is the part of a checkpoints file after its last complete frame (p, r
 * bytes) an incomplete write of one more frame of `origin` (FORMAT.md §8)?
 * 1 torn (a writer may cut it), 0 damage. Shared with audit. */
int lgfs_checkpoints_tail_torn(const uint8_t *p, size_t r, const char *origin);

/* A volume's checkpoints file as stored (FORMAT.md §8), read whole. */
struct lgfs_cpfile {
	int missing;          /* there is no checkpoints file */
	int odd;              /* it is not a regular file, or larger than any real one */
	uint8_t *data;        /* its bytes, owned */
	size_t len;
	size_t nframes;       /* complete frames at the start */
	size_t *off;          /* where each one's note starts (after its length), owned */
	uint32_t *nlen;       /* each note's length, owned */
	size_t valid_end;     /* end of the last complete frame: len - valid_end bytes follow */
};
/* 0, or LGFS_EIO / LGFS_ENOMEM when it cannot be read; a missing or odd
 * file is not an error here (the caller decides). Free with
 * lgfs_cpfile_free(). */
int lgfs_cpfile_read(struct lgfs_cpfile *out, const char *voldir);
void lgfs_cpfile_free(struct lgfs_cpfile *f);

/* The verification cache (vcache.c): the result of this user's last full
 * verification of the log in voldir, reused while none of the log's files
 * changed (same device, inode, size, mtime, ctime) and the pin is the same.
 * lgfs_vcache_key: the identity of the log's files now (0), or -1 (no
 * cache: LEDGERFS_VERIFY=full, unreadable). lgfs_vcache_load: 0 and *v
 * filled on a hit for a log of log_size entries, 1 on a miss (v cleared).
 * lgfs_vcache_store: remember v, verified from files whose identity was
 * `key` before the verification, if they still have it (else nothing). */
int lgfs_vcache_key(const char *voldir, uint8_t key[32]);
#define LGFS_VCACHE_BLOCK 32768 /* leaves per checked block: 1 MiB */
/* lazy: leave the leaves mapped, checked block by block when used (readers,
 * which never append); else they are all checked and copied. */
int lgfs_vcache_load(struct lgfs_vlog *v, const char *voldir, uint64_t log_size, int lazy);
void lgfs_vcache_store(const struct lgfs_vlog *v, const char *voldir, const uint8_t key[32]);
/* For tests: the least number of entries a log must have to be cached
 * (default 10000). */
void lgfs_vcache_set_min(uint64_t n);
/* For tests: how many opens used the cache in this process. */
uint64_t lgfs_vcache_hits(void);

/* For tests: the least number of entries one thread checks (0: the
 * default, 65536), so that small logs are split over the cores too. */
void lgfs_vlog_set_part_min(uint64_t n);

/* Make room for leaf `n` (n + 1 leaves). */
int lgfs_vlog_reserve(struct lgfs_vlog *v, uint64_t n);

#endif
