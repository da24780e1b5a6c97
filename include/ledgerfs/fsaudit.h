/*
 * fsaudit.h — audit = verify(disk, log): the file-system half of the audit
 * (fs layer).
 *
 * While the ledger audit walks the log (audit.h), every entry that passed
 * its checks is applied to a fresh index in a temporary directory, with
 * the same state transition the file system uses. Then that replayed state
 * is compared with the volume's own index, and every manifest and chunk the
 * replayed versions name is read back and checked against its hash (and
 * each version's whole-content SHA-256 against its record). Each difference
 * becomes a finding naming the path, the version's log index and the kind:
 * "record not applicable", "missing chunk", "altered chunk", "missing
 * manifest", "content hash", "index not backed by log", "log change missing
 * from index", "index differs".
 *
 * Audit only reads: the volume's index is opened read-only without a lock
 * file, the chunk store without recovery. The index is a cache: it is
 * compared only when its stamp (entries applied and the last record's salt)
 * says it reflects exactly the log audited, i.e. when it is what a reader
 * would be served. An index that is missing, unreadable, behind, ahead of the
 * durable log (after a crash) or of another history is not compared and is
 * no finding (lgfs_fsaudit_note() says so). Names in findings are escaped.
 */
#ifndef LGFS_FSAUDIT_H
#define LGFS_FSAUDIT_H

#include "audit.h"

struct lgfs_fsaudit;

/* Prepare a replay for the volume in `voldir` (temporary index under
 * $TMPDIR). */
int lgfs_fsaudit_new(struct lgfs_fsaudit **out, const char *voldir);
/* The lgfs_audit_opts.on_entry callback; arg is the struct lgfs_fsaudit. */
int lgfs_fsaudit_entry(void *arg, struct lgfs_audit_report *rep, const struct lgfs_ledger_entry *e);
/* After lgfs_audit_volume: compare with the volume's index and check the
 * content. progress may be NULL. */
int lgfs_fsaudit_finish(struct lgfs_fsaudit *a, struct lgfs_audit_report *rep, lgfs_audit_progress_cb progress,
			void *progress_arg);
/* 1 if the volume was in use by a writer (mounted) during finish: its
 * index then runs ahead of the durable log and was not compared. */
int lgfs_fsaudit_live(const struct lgfs_fsaudit *a);
/* After finish: why the volume's index was not compared ("not compared (it
 * reflects N entries, the log holds M)"), or "" when it was. Borrowed. */
const char *lgfs_fsaudit_note(const struct lgfs_fsaudit *a);

/* Remove the temporary index and free. */
void lgfs_fsaudit_free(struct lgfs_fsaudit *a);

#endif
