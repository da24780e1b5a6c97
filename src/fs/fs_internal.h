/*
 * fs_internal.h — the fs layer's shared state (fs layer, private).
 */
#ifndef LGFS_FS_INTERNAL_H
#define LGFS_FS_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "apply.h"
#include "index.h"
#include "ledgerfs/chunks.h"
#include "ledgerfs/content.h"
#include "ledgerfs/fs.h"
#include "ledgerfs/ledger.h"

#define OFILE_BUCKETS 1024

/* A dirty byte range [s, e) held in the staging file. */
struct extent {
	uint64_t s, e;
};

/* An inode with open handles: its content as this mount sees it. */
struct ofile {
	uint64_t ino;
	unsigned int refs;           /* handles (guarded by fs->of_mu) */
	pthread_mutex_t mu;          /* guards everything below */
	uint8_t base[32];            /* manifest of the last committed version */
	int has_base;
	uint64_t base_size;          /* size of that version */
	uint64_t base_limit;         /* base bytes still visible (after truncation) */
	struct lgfs_manifest_reader *reader; /* opened on first base read */
	uint64_t size;               /* current size, staged changes included */
	uint64_t allocated;          /* bytes stored (not holes) of the last version */
	int dirty;                   /* staged changes not yet a version */
	int trunc_only;              /* the staged change is an open(O_TRUNC) alone: a truncate version */
	int64_t mtime;               /* time of the last staged write */
	struct lgfs_fs_ctx writer;   /* who wrote last (acts at the final commit) */
	int sfd;                     /* staging file (unlinked), -1 while staged in memory */
	uint8_t *mem;                /* staged bytes [0, memlen) while sfd < 0 (small files) */
	size_t memlen;
	struct extent *ext;          /* sorted, disjoint, non-adjacent */
	size_t next, extcap;
	/* A file written sequentially from offset 0 past MEM_STAGE_MAX is cut
	 * into chunks while it is written: [0, size) is all in `stream` (no
	 * extents, no base bytes). Anything but the next sequential write
	 * settles it: the stream becomes an uncommitted manifest, used as the
	 * base (base_pending), and the usual machinery takes over. */
	struct lgfs_chunk_writer *stream;
	int base_pending;            /* base is that manifest, not a committed version */
	uint8_t pending_sha[32];     /* its whole-content SHA-256 */
	int werr;                    /* -errno: staged writes were lost; every later write, close, fsync fails */
	/* While a version is built (mu held, possibly for long: hashing a
	 * large file), stat must not wait: it reads these, taken when the build
	 * began. Nothing else changes the file meanwhile (writers wait for mu). */
	pthread_mutex_t snap_mu;     /* guards the four below */
	int committing;              /* a version of it is being built */
	uint64_t snap_size, snap_blocks;
	int64_t snap_mtime;          /* 0: the inode's own */
	struct ofile *hnext;         /* hash chain */
};

/* An open file handle. */
struct handle {
	struct ofile *of;
	int flags;
};

/* An open directory handle: where the last readdir stopped. */
struct dirh {
	uint64_t ino;
	uint64_t last_off;
	size_t last_len;
	char last_name[256];
};

struct lgfs_fs {
	char *voldir;
	int rdonly;
	int private_only;            /* LGFS_FS_PRIVATE: never read the shared index */
	struct lgfs_ledger *ledger;
	struct lgfs_chunks *chunks;
	struct lgfs_index *index;
	char *staging;               /* directory for staging files */
	char *private_index;         /* read-only open: a private index dir, removed at close */
	uint8_t author[32];          /* the writer's public key: what records are signed by */

	pthread_mutex_t mu;          /* serialises changes: validate, append, apply */
	uint64_t next_index;         /* the log index the next record gets */
	int64_t last_time;           /* time of the last record */
	int failed;                  /* -errno: the log refused a write; no more changes */

	pthread_mutex_t of_mu;       /* guards the open-file table */
	struct ofile *ofiles[OFILE_BUCKETS];
};

/* Append one record for a change and apply it (fs.c). */
int lgfs_fs_mutate(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, struct lgfs_record *r, uint64_t *index);
/* Project error code to errno. */
int lgfs_fs_errno(int lgfs_code);
int64_t lgfs_fs_now(void);
/* Fill a stat from an inode, with staged size/mtime of an open file. */
void lgfs_fs_fill_stat(struct lgfs_fs *fs, const struct lgfs_inode *in, struct lgfs_stat *st);

/* listxattr's NUL-separated names into (buf, cap): an index xattr-name
 * callback; len counts every name, cap 0 only counts. */
struct lgfs_xlist {
	char *buf;
	size_t cap, len;
};
int lgfs_xlist_cb(void *arg, const char *name, size_t len);

/* file.c */
struct ofile *lgfs_ofile_find(struct lgfs_fs *fs, uint64_t ino);      /* borrowed, of_mu held by caller */
int lgfs_ofile_get(struct lgfs_fs *fs, const struct lgfs_inode *in, struct ofile **out); /* refs++ */
void lgfs_ofile_put(struct lgfs_fs *fs, struct ofile *of);            /* refs-- */
/* An open file's size, 512-byte blocks stored and, when it has staged
 * changes, the time of the last one (else 0); of->mu held. */
void lgfs_ofile_attrs(const struct ofile *of, uint64_t *size, uint64_t *blocks, int64_t *mtime);
/* Make staged changes a version (op: write or truncate); of->mu held. */
int lgfs_ofile_commit(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, struct ofile *of, uint16_t op);
/* Truncate to size and commit; of->mu held. */
int lgfs_ofile_truncate(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, struct ofile *of, uint64_t size);
/* Commit every dirty open file (close of the fs). */
int lgfs_ofile_commit_all(struct lgfs_fs *fs);

#endif
