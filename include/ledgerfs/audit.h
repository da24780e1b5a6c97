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
 *
 * Checkpoints kept outside the store (the user's own pin, trust.h, or a note
 * handed over by an auditor) are checked against the log: same origin, log
 * at least as large, and the root of the log's first `size` entries equal to
 * the checkpoint's. A log that fails one of these was replaced, cut back or
 * forked: the most serious findings, reported first.
 *
 * Findings are ordered by level, then index: pin findings, then findings on
 * the log's own entries, then file-system findings (which may be
 * consequences of a damaged entry). The headline first_bad is the earliest
 * index named by a pin or ledger finding (only without those the earliest
 * file-system one), so it names the damaged entry, not the old create
 * record whose inode a damaged entry changed.
 */
#ifndef LGFS_AUDIT_H
#define LGFS_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.h"

#define LGFS_NO_INDEX UINT64_MAX

/* How serious a finding is; lower sorts first. */
enum lgfs_finding_level {
	LGFS_FINDING_PIN = 0,    /* the log is not consistent with a checkpoint trusted from outside */
	LGFS_FINDING_LEDGER = 1, /* an entry's own bytes, a stored checkpoint, the log's frames */
	LGFS_FINDING_FS = 2,     /* the file-system state, index or content derived from the log */
};
#define LGFS_FINDING_LEVELS 3

/* One problem found. */
struct lgfs_finding {
	uint64_t index;    /* first log index concerned, LGFS_NO_INDEX if none */
	int level;         /* enum lgfs_finding_level */
	char kind[32];     /* short machine-readable kind: "signature", "chain", ... */
	char message[480]; /* for people */
};

struct lgfs_audit_report {
	char origin[LGFS_ORIGIN_MAX + 1];
	uint64_t entries;        /* log entries read */
	uint64_t signatures;     /* signatures verified good */
	uint64_t withheld;       /* entries without plaintext record (each is also a finding) */
	uint64_t checkpoints;    /* stored checkpoints checked */
	uint64_t torn_bytes;     /* incomplete tail a writer would cut */
	uint8_t root[32];        /* root over all entries read */
	uint64_t first_bad;      /* the headline index (see above), LGFS_NO_INDEX if none */
	size_t nfindings;        /* findings in total (more than stored if many) */
	size_t nstored;          /* findings stored below */
	struct lgfs_finding *findings; /* owned, sorted by index */
	double seconds;          /* wall time of the log check */
	char *verified_note;     /* newest stored checkpoint that verified (member's signature, this
				  * origin, root recomputed from the log matched); malloc'd, NULL if none */
	uint64_t verified_size;  /* its size */
	int level;               /* level given to findings added by lgfs_audit_add(): LGFS_FINDING_LEDGER
				  * during lgfs_audit_volume(), LGFS_FINDING_FS after it */
	uint64_t level_first[LGFS_FINDING_LEVELS]; /* smallest index per level (stored or not) */
	size_t level_count[LGFS_FINDING_LEVELS];   /* findings per level (stored or not) */
};

/* A checkpoint trusted from outside the store, to check the log against. */
struct lgfs_audit_pin {
	struct lgfs_checkpoint cp; /* parsed; its signature was checked by whoever trusted it */
	const char *label;         /* for messages: "your last verified checkpoint", "--trusted FILE" */
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
	const struct lgfs_audit_pin *pins;  /* checked against the log (see above); borrowed */
	size_t npins;
};

/* Audit the volume in directory `voldir`. Returns 0 when the audit ran (the
 * report says whether anything is wrong), an error when it could not run
 * (no such volume, out of memory). *rep must be freed with
 * lgfs_audit_report_free(). */
int lgfs_audit_volume(struct lgfs_audit_report *rep, const char *voldir,
		      const struct lgfs_audit_opts *opts);

/* Record a finding at rep->level (keeps the first LGFS_AUDIT_MAX_STORED,
 * counts all). */
#define LGFS_AUDIT_MAX_STORED 1000
void lgfs_audit_add(struct lgfs_audit_report *rep, uint64_t index, const char *kind,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Number of findings at `level` or more serious so far (stored or not). */
size_t lgfs_audit_count_upto(const struct lgfs_audit_report *rep, int level);

void lgfs_audit_report_free(struct lgfs_audit_report *rep);

/* Sort the stored findings by level, then index, and set first_bad (after
 * later layers added theirs). */
void lgfs_audit_sort(struct lgfs_audit_report *rep);

#endif
