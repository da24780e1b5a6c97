/*
 * ledger.h — a volume's signed, Merkle-logged history (ledger layer).
 *
 * A store directory holds volumes: <store>/volumes/<name>/ with
 *   log/         the log store (file:// segments; see log.h)
 *   tree         Merkle tree nodes (derived from the log, rebuilt if wrong)
 *   checkpoints  every signed checkpoint, appended after each group commit
 * struct lgfs_ledger is one open volume: it turns records into signed
 * envelopes, appends them with group commit (concurrent callers share one
 * write and one fdatasync), keeps the tree and writes checkpoints.
 */
#ifndef LGFS_LEDGER_H
#define LGFS_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "key.h"
#include "note.h"
#include "record.h"

#define LGFS_VOLUME_NAME_MAX 64

/* Volume policy, fixed by the genesis record (changeable by POLICY records
 * in a later format revision). */
struct lgfs_policy {
	uint32_t threshold;   /* percent of members whose yes votes decide (1..100) */
	uint64_t retention_s; /* default retention of every version, seconds */
};

/* What the genesis record says, plus where the log stands. */
struct lgfs_volume_info {
	char name[LGFS_VOLUME_NAME_MAX + 1];
	char origin[LGFS_ORIGIN_MAX + 1];
	uint8_t founder[32];                    /* founder's public key */
	char founder_name[LGFS_KEY_NAME_MAX + 1];
	int64_t created_ns;                     /* time of the genesis record */
	struct lgfs_policy policy;
};

/* 10 years, the longest period of HGB §257 / AO §147, and a simple majority. */
#define LGFS_DEFAULT_RETENTION_S (10ull * 366 * 24 * 3600)
#define LGFS_DEFAULT_THRESHOLD 51

/* 1 if `name` may name a volume: 1..64 bytes of [A-Za-z0-9._-], not
 * starting with '.' or '-'. */
int lgfs_volume_name_valid(const char *name);
/* $LEDGERFS_STORE, else $HOME/.local/share/ledgerfs; malloc'd. */
int lgfs_store_default_path(char **out);
/* <store>/volumes/<name>; malloc'd. */
int lgfs_volume_dir(char **out, const char *store, const char *name);

/* Create a volume: write its genesis record (signed by `founder`, acting
 * uid/gid as given) and first checkpoint. Atomic: a crash leaves either no
 * volume or a complete one. LGFS_EEXISTS if the name is taken. */
int lgfs_volume_create(struct lgfs_volume_info *out, const char *store, const char *name,
		       const struct lgfs_key *founder, const struct lgfs_policy *policy,
		       uint32_t uid, uint32_t gid);

/* Names of the store's volumes, sorted. cb returning non-zero stops. */
typedef int (*lgfs_volume_cb)(void *arg, const char *name);
int lgfs_volume_list(const char *store, lgfs_volume_cb cb, void *arg);

struct lgfs_ledger;

enum lgfs_ledger_flags {
	LGFS_LEDGER_RDONLY = 1 << 0, /* no key needed; nothing is written or repaired */
};

/* Open a volume. Writable opens need `key` with its private half, a member
 * of the volume (LGFS_EPERM otherwise); they cut a torn log tail, repair the
 * derived tree, and refuse (LGFS_ECORRUPT) a log shorter than a checkpoint
 * already signed, so no two inconsistent checkpoints are ever signed. The key
 * is borrowed and must outlive the ledger. */
int lgfs_ledger_open(struct lgfs_ledger **out, const char *store, const char *name,
		     const struct lgfs_key *key, int flags);
/* Open by volume directory. */
int lgfs_ledger_open_dir(struct lgfs_ledger **out, const char *dir, const struct lgfs_key *key,
			 int flags);
/* Writes a final checkpoint (writable) and frees everything. */
void lgfs_ledger_close(struct lgfs_ledger *l);

const struct lgfs_volume_info *lgfs_ledger_info(const struct lgfs_ledger *l); /* borrowed */
const char *lgfs_ledger_dir(const struct lgfs_ledger *l);                      /* borrowed */
uint64_t lgfs_ledger_size(struct lgfs_ledger *l);

/*
 * Append records. For each, the ledger sets origin, index, prev, author,
 * time (never earlier than the previous record's) and a fresh salt; the
 * caller sets op, args, uid and gid. Records from concurrent callers are
 * committed together: one write and one fdatasync per batch, then one
 * checkpoint. Returns 0 only once the records are durable; recs[i]->index
 * holds each one's index.
 */
int lgfs_ledger_append(struct lgfs_ledger *l, struct lgfs_record *const *recs, size_t n);

/* The latest stored signed checkpoint note; *out malloc'd, NUL-terminated.
 * LGFS_ENOTFOUND if none. */
int lgfs_ledger_checkpoint_latest(struct lgfs_ledger *l, char **out);
/* Sign and store a checkpoint of the current size now (writable only). */
int lgfs_ledger_checkpoint_new(struct lgfs_ledger *l, char **out);

/* Root hash of the log's first `size` entries. */
int lgfs_ledger_root(struct lgfs_ledger *l, uint64_t size, uint8_t out[32]);

/* One entry for readers; everything borrowed for the callback's duration.
 * rec is NULL when the plaintext record is not present. */
struct lgfs_ledger_entry {
	uint64_t index;
	const uint8_t *envelope; /* LGFS_ENVELOPE_LEN bytes */
	struct lgfs_envelope env;
	const uint8_t *record;
	size_t record_len;
	const struct lgfs_record *rec;
};
typedef int (*lgfs_ledger_cb)(void *arg, const struct lgfs_ledger_entry *e);
/* Entries [from, from+count), decoded (not verified: that is audit's job;
 * an undecodable entry is LGFS_ECORRUPT naming its index). */
int lgfs_ledger_read(struct lgfs_ledger *l, uint64_t from, uint64_t count, lgfs_ledger_cb cb, void *arg);

/* Every stored checkpoint note of a volume directory, oldest first. A torn
 * last frame is skipped (a writable ledger cuts it). */
typedef int (*lgfs_checkpoint_cb)(void *arg, const char *note, size_t len);
int lgfs_checkpoints_each(const char *voldir, lgfs_checkpoint_cb cb, void *arg);

#endif
