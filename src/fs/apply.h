/*
 * apply.h — the state transition of the file system (fs layer, private).
 *
 * lgfs_apply() is the one place that says what a record does to the
 * namespace. The live file system calls it for every change it makes, the
 * rebuild calls it for every log entry, and audit calls it to replay the
 * log into a fresh index and compare: so all three agree by construction.
 * It is deterministic: it depends only on the index state, the record and
 * its log index (inode numbers are log index + 1 of the creating record;
 * the root directory is the genesis record's, inode 1).
 */
#ifndef LGFS_FS_APPLY_H
#define LGFS_FS_APPLY_H

#include "index.h"
#include "ledgerfs/record.h"

#define LGFS_ROOT_INO 1

static inline uint64_t lgfs_ino_of_index(uint64_t index)
{
	return index + 1;
}

/* Apply r (log entry `index`) in transaction t. 0, or a negative errno
 * saying why the record is not applicable in this state (nothing usable is
 * left in t then: the caller aborts it). */
int lgfs_apply(struct lgfs_index *x, MDB_txn *t, const struct lgfs_record *r, uint64_t index);

/* policy.c: retention rules and legal holds (ledgerfs/policy.h). Apply a
 * RETENTION, HOLD or HOLD_RELEASE record; and the checks apply makes before
 * a change at time `now` (the record's): 0, or -EPERM (message set) when a
 * rule or hold in force forbids removing the entry, moving it (from
 * sparent/sname to dparent/dname), or changing the file's content. */
int lgfs_policy_apply(struct lgfs_index *x, MDB_txn *t, const struct lgfs_record *r, uint64_t index);
int lgfs_policy_may_remove(struct lgfs_index *x, MDB_txn *t, uint64_t parent, const char *name, size_t len,
			   const struct lgfs_inode *in, int64_t now);
int lgfs_policy_may_move(struct lgfs_index *x, MDB_txn *t, uint64_t sparent, const char *sname, size_t slen,
			 const struct lgfs_inode *src, uint64_t dparent, const char *dname, size_t dlen, int64_t now);
int lgfs_policy_may_change(struct lgfs_index *x, MDB_txn *t, const struct lgfs_inode *in, int64_t now);

/* Validate a directory entry name: 1..255 bytes, no '/', not "." or "..". */
int lgfs_name_check(const char *name, size_t len);

#endif
