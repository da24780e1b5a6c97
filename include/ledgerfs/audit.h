/*
 * audit.h — verify a volume from its stored bytes alone (ledger layer).
 *
 * The audit trusts nothing derived: it reads the log read-only and checks,
 * for every entry, the envelope encoding, its index, the previous-envelope
 * hash chain, the record's canonical encoding and commitment, that record
 * and envelope agree, that the author was a member, that time does not run
 * backwards, and the Ed25519 signature (on all cores); then it recomputes
 * the Merkle root at the size of every stored checkpoint and checks each
 * checkpoint's signature. Each problem becomes a finding naming the index.
 * Later layers (fs/) add their own findings through lgfs_audit_add().
 */
#ifndef LGFS_AUDIT_H
#define LGFS_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.h"

#define LGFS_NO_INDEX UINT64_MAX

/* One problem found. */
struct lgfs_finding {
	uint64_t index;    /* first log index concerned, LGFS_NO_INDEX if none */
	char kind[32];     /* short machine-readable kind: "signature", "chain", ... */
	char message[480]; /* for people */
};

struct lgfs_audit_report {
	char origin[LGFS_ORIGIN_MAX + 1];
	uint64_t entries;        /* log entries read */
	uint64_t signatures;     /* signatures verified good */
	uint64_t withheld;       /* entries without plaintext record */
	uint64_t checkpoints;    /* stored checkpoints checked */
	uint64_t torn_bytes;     /* incomplete tail a writer would cut */
	uint8_t root[32];        /* root over all entries read */
	uint64_t first_bad;      /* smallest finding index, LGFS_NO_INDEX if none */
	size_t nfindings;        /* findings in total (more than stored if many) */
	size_t nstored;          /* findings stored below */
	struct lgfs_finding *findings; /* owned, sorted by index */
	double seconds;          /* wall time of the log check */
};

/* Progress: called now and then with entries done and the total. */
typedef void (*lgfs_audit_progress_cb)(void *arg, uint64_t done, uint64_t total);

/* Called for each entry that passed every check, in order, after its
 * signature was verified; for replaying state (fs layer). Non-zero stops. */
typedef int (*lgfs_audit_entry_cb)(void *arg, struct lgfs_audit_report *rep,
				   const struct lgfs_ledger_entry *e);

struct lgfs_audit_opts {
	unsigned int threads;               /* signature threads; 0 = number of CPUs */
	lgfs_audit_progress_cb progress;
	void *progress_arg;
	lgfs_audit_entry_cb on_entry;
	void *entry_arg;
};

/* Audit the volume in directory `voldir`. Returns 0 when the audit ran (the
 * report says whether anything is wrong), an error when it could not run
 * (no such volume, out of memory). *rep must be freed with
 * lgfs_audit_report_free(). */
int lgfs_audit_volume(struct lgfs_audit_report *rep, const char *voldir,
		      const struct lgfs_audit_opts *opts);

/* Record a finding (keeps the first LGFS_AUDIT_MAX_STORED, counts all). */
#define LGFS_AUDIT_MAX_STORED 1000
void lgfs_audit_add(struct lgfs_audit_report *rep, uint64_t index, const char *kind,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

void lgfs_audit_report_free(struct lgfs_audit_report *rep);

/* Sort the stored findings by index (after later layers added theirs). */
void lgfs_audit_sort(struct lgfs_audit_report *rep);

#endif
