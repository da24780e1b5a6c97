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
 *
 * Durability is asynchronous when asked for: lgfs_ledger_submit() gives
 * records their index and their place in the log at once, a committer
 * thread (one per writable ledger) signs and writes them in the background,
 * and lgfs_ledger_sync() waits until they are durable.
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

/* Open a volume. Every open, read-only or not, first verifies the whole log
 * (see src/ledger/verify.h): chain, commitments, records present, every
 * stored checkpoint's signature and root, the signatures no checkpoint
 * covers, the genesis name against the directory's name, and the user's
 * pinned checkpoint (trust.h); any failure is LGFS_ECORRUPT with a message
 * naming the entry and pointing at `ledgerfs audit`, and nothing is served,
 * applied, repaired or signed. A successful open pins what it verified in
 * the user's state (never in the store). Writable opens need `key` with its
 * private half, a member of the volume (LGFS_EPERM otherwise); then they cut
 * a torn log tail no checkpoint covered and a torn last checkpoint frame,
 * and rebuild the derived tree when it disagrees with the verified root. The
 * key is borrowed and must outlive the ledger. */
int lgfs_ledger_open(struct lgfs_ledger **out, const char *store, const char *name,
		     const struct lgfs_key *key, int flags);
/* Open by volume directory. */
int lgfs_ledger_open_dir(struct lgfs_ledger **out, const char *dir, const struct lgfs_key *key,
			 int flags);
/* Drains the queue (every record submitted so far is committed, or dropped
 * if the ledger has failed), stops the committer, writes a final checkpoint
 * (writable) and frees everything. It reports nothing: call
 * lgfs_ledger_sync(l, 0) first to learn whether everything became durable.
 * No other call on `l` may be running or made after it. */
void lgfs_ledger_close(struct lgfs_ledger *l);

const struct lgfs_volume_info *lgfs_ledger_info(const struct lgfs_ledger *l); /* borrowed */
const char *lgfs_ledger_dir(const struct lgfs_ledger *l);                      /* borrowed */
/* Entries in the log that lgfs_ledger_read() and lgfs_ledger_root() can
 * reach: the durable ones, the same as lgfs_ledger_durable(). Records
 * submitted but not yet durable are not counted. */
uint64_t lgfs_ledger_size(struct lgfs_ledger *l);

/*
 * Writing: submit, sync, append.
 *
 * For each record the ledger sets origin, index, prev, author, time and a
 * fresh salt; the caller sets op, args, uid and gid. The records are
 * borrowed for the call only.
 *
 * Time. All records of one call get the same time: recs[0]->time_ns if the
 * caller set it (> 0; the file system does, since it applies a record to
 * its index before submitting it), else the current time; in both cases
 * raised to the previous record's time if it is earlier, so time never runs
 * backwards in the log. A caller that set the time and needs it unchanged
 * checks recs[0]->time_ns after the call. lgfs_record_init() clears it.
 *
 * Order and indexes. Records get consecutive indexes and appear in the log
 * in the order of the calls that submitted them; one call's records are
 * consecutive and committed in the same batch. The index is final when
 * submit returns: the file system layer may derive inode numbers from it at
 * once. After a crash the log holds a prefix of what was submitted: at
 * least everything that was durable, never a gap.
 *
 * Commit. A committer thread takes the queued records in batches of up to
 * 8192 (one call is never split), signs them on all cores, appends the batch
 * with one write and one fdatasync, extends the tree, signs one checkpoint
 * per batch (only ever for durable sizes) and then wakes the syncers.
 * Submitters keep queueing while a batch is signed and written. While
 * nobody waits for durability the committer lets a batch grow for up to
 * 25 ms (fewer fdatasyncs and checkpoints); a sync ends that wait at once.
 *
 * Bound. At most LGFS_LEDGER_PENDING_RECORDS records and about
 * LGFS_LEDGER_PENDING_BYTES bytes (records plus envelopes) are pending
 * (submitted, not yet durable) at any time; lgfs_ledger_submit() waits for
 * the committer before going beyond either, so a producer faster than the
 * disk is slowed to the disk's pace instead of filling memory. The byte
 * bound can be overshot by the last call admitted; a single call larger
 * than the record bound is admitted when nothing else is pending.
 *
 * Failure. A record that does not encode or fit its operation's schema, or
 * whose operation is reserved, is refused by submit (LGFS_EINVAL): nothing
 * of that call is queued and the ledger is unchanged. If a batch cannot be
 * written (LGFS_ENOSPC for a full disk, LGFS_EIO, ...), the ledger FAILS
 * until it is closed and reopened: that batch and every record submitted
 * after it are not in the log (the log store undoes the partial write);
 * lgfs_ledger_durable() stays at the last durable index; lgfs_ledger_sync()
 * of any index at or above the failed batch, and every later submit, return
 * the same error code with a message naming the entries and the cause.
 * Records below it stay durable and readable. A file system should then
 * refuse writes. (The same happens, after the batch is durable, if the
 * Merkle tree cannot be extended: the records are in the log, but no
 * checkpoint is signed from the tree until a reopen rebuilds it.)
 */

/* Default bounds on pending records; see lgfs_ledger_set_pending_limit(). */
#define LGFS_LEDGER_PENDING_RECORDS 65536
#define LGFS_LEDGER_PENDING_BYTES (64u << 20)

/* Queue records: set origin, index, prev, author, time and salt on each and
 * encode it; return once the indexes are assigned (recs[i]->index), without
 * waiting for signatures or I/O, except when the pending bound makes it wait
 * for the committer. The records are not durable yet. LGFS_EROFS on a
 * read-only ledger; the failed state's error once the ledger has failed. */
int lgfs_ledger_submit(struct lgfs_ledger *l, struct lgfs_record *const *recs, size_t n);
/* The same, signed by `signer` (a private key) instead of the key the
 * ledger was opened with: the record's author is whoever made the change.
 * Whether that author may change the volume is the state's business: a
 * record by a key that is not a member is kept and never applied. */
int lgfs_ledger_submit_as(struct lgfs_ledger *l, const struct lgfs_key *signer, struct lgfs_record *const *recs,
			  size_t n);

/* Wait until every record with index < upto is durable; upto 0 means every
 * record submitted so far. LGFS_ERANGE when upto is beyond what was
 * submitted; the failed state's error when a record below upto will never be
 * durable. Many threads may wait at once. */
int lgfs_ledger_sync(struct lgfs_ledger *l, uint64_t upto);

/* Number of entries known durable: every index below it is in the log and
 * fdatasync'd. Never more than the log holds. */
uint64_t lgfs_ledger_durable(struct lgfs_ledger *l);

/* Number of entries submitted so far, durable or not: the index the next
 * submitted record will get. >= lgfs_ledger_durable(); after a failure it
 * still counts the dropped records (their indexes were handed out). */
uint64_t lgfs_ledger_submitted(struct lgfs_ledger *l);

/* Records submitted but not yet durable, and (*bytes_out, if not NULL)
 * their bytes as counted against the bound; both read at one instant. */
uint64_t lgfs_ledger_pending(struct lgfs_ledger *l, uint64_t *bytes_out);

/* Change the pending bound (records >= 1, bytes >= 1; LGFS_EINVAL else).
 * Takes effect for the next submit. */
int lgfs_ledger_set_pending_limit(struct lgfs_ledger *l, size_t records, size_t bytes);

/* Submit + sync of exactly these records: returns 0 only once they are
 * durable; recs[i]->index holds each one's index. Records from concurrent
 * callers are committed together: one write and one fdatasync per batch,
 * then one checkpoint. */
int lgfs_ledger_append(struct lgfs_ledger *l, struct lgfs_record *const *recs, size_t n);

/* Call fn(arg) before each batch of records is written to the log, from the
 * committer thread: the file system makes the chunks its records name
 * durable there, so that no durable record ever names a chunk that is not.
 * A non-zero return (an LGFS_E* code, message set) fails the batch like a
 * log write failure: the ledger enters the failed state with that error.
 * fn runs without any ledger lock held but in the thread that makes records
 * durable: it must not call lgfs_ledger_submit(), _sync(), _append() or
 * _close() on the same ledger (they may wait for it). NULL removes the hook;
 * a change applies from the next batch the committer takes. */
void lgfs_ledger_set_presync(struct lgfs_ledger *l, int (*fn)(void *arg), void *arg);

/* The latest stored signed checkpoint note; *out malloc'd, NUL-terminated.
 * LGFS_ENOTFOUND if none. */
int lgfs_ledger_checkpoint_latest(struct lgfs_ledger *l, char **out);
/* Sign and store (with fdatasync) a checkpoint of the durable size now
 * (writable only). Records still pending are not covered: call
 * lgfs_ledger_sync() first to include them. */
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
/* Entries [from, from+count), decoded and verified: each envelope must be
 * the one the open verified (its leaf hash is kept in memory) and each record
 * must match its envelope's commitment, so a file changed after the open is
 * LGFS_ECORRUPT naming the index, never served. Only durable entries can be
 * read (LGFS_ERANGE beyond lgfs_ledger_size()). The callback must not call
 * back into the ledger's tree (roots, proofs, checkpoints). */
int lgfs_ledger_read(struct lgfs_ledger *l, uint64_t from, uint64_t count, lgfs_ledger_cb cb, void *arg);

/* RFC 9162 consistency proof between sizes old_size <= new_size (both at
 * most lgfs_ledger_size()); `proof` holds LGFS_MERKLE_MAX_PROOF hashes,
 * *nproof gets the count. The proof is checked against the roots recomputed
 * from the verified envelopes before it is returned. */
int lgfs_ledger_consistency_proof(struct lgfs_ledger *l, uint64_t old_size, uint64_t new_size,
				  uint8_t proof[][32], size_t *nproof);

/* Every stored checkpoint note of a volume directory, oldest first. A torn
 * last frame is skipped (a writable ledger cuts it). */
typedef int (*lgfs_checkpoint_cb)(void *arg, const char *note, size_t len);
int lgfs_checkpoints_each(const char *voldir, lgfs_checkpoint_cb cb, void *arg);

/* The clock records are stamped with and checked against, and its test
 * hook (NULL: the real clock; tests only). */
int64_t lgfs_ledger_now(void);
/* The time of the last record submitted (log times never go back). */
int64_t lgfs_ledger_last_time(struct lgfs_ledger *l);
void lgfs_ledger_set_clock(int64_t (*now)(void));

#endif
