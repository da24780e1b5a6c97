/*
 * policy.h — retention and legal hold: what the law says must be kept
 * cannot be removed or changed, not even by root (fs layer).
 *
 * Both are records in the log (RETENTION, HOLD, HOLD_RELEASE), applied like
 * every other record: the live file system, a rebuild and audit's replay
 * all refuse, by the same code (apply.c), a change that breaks them. A
 * refused change is EPERM to the caller; a record that reaches the log
 * anyway is never applied, and audit lists it.
 *
 * A retention rule names a path (a file or a whole subtree; files created
 * there later are covered too) and when it ends: a fixed time (until), or
 * a duration counted for each file from its creation (in calendar years
 * with LGFS_RETAIN_YEARS, from the end of that calendar year with
 * LGFS_RETAIN_YEAR_END, as HGB §257 / AO §147 count). Until it ends, a
 * covered file cannot be unlinked, renamed away (out of every rule that
 * covers it as long), replaced by a rename over it, truncated or
 * overwritten (opening it for writing is EPERM); chmod, chown and xattrs
 * may change. A file that has no content version yet (just created) may
 * get its first one: a document created where rules apply is written
 * once, then kept. A directory that a rule or a hold covers, or that holds the
 * path of one, cannot be removed or renamed while that rule or hold is in
 * force. Rules only add up: a rule that ends earlier than one already on
 * the same path is refused (EPERM), in both modes. Compliance rules (the
 * default) nobody can lift; a governance rule an admin can lift or shorten
 * with an override record (LGFS_RETAIN_OVERRIDE), itself in the log.
 *
 * A legal hold names a path and a case; while it is in force, nothing
 * covered can be removed, replaced or changed in content, whatever the
 * retention. It ends with a release record naming it.
 *
 * Time is the records' clock: a change is judged at its record's time. The
 * log's times never go back (verified at every open), and a log whose last
 * record is more than a day ahead of the reader's clock is refused, so a
 * writer cannot end a retention by setting its clock forward.
 *
 * Until members and grants exist, "admin" is the volume's founder key; the
 * only key that can write a volume today.
 */
#ifndef LGFS_POLICY_H
#define LGFS_POLICY_H

#include <stdint.h>

#include "ledgerfs/fs.h"

enum {
	LGFS_RETAIN_GOVERNANCE = 1u << 0, /* else compliance */
	LGFS_RETAIN_YEAR_END = 1u << 1,   /* a duration counts from the end of the creation's calendar year */
	LGFS_RETAIN_YEARS = 1u << 2,      /* the duration is in calendar years (else seconds) */
	LGFS_RETAIN_OVERRIDE = 1u << 3,   /* lifts the governance rules on exactly this path */
};

struct lgfs_retention {
	uint64_t index;     /* the RETENTION record */
	char path[4096];
	int64_t until_ns;   /* a fixed end; 0: a duration rule */
	uint64_t duration;  /* seconds, or years with LGFS_RETAIN_YEARS */
	uint32_t flags;
	char cls[256];      /* a class name (e.g. "vouchers"), "" for none */
	char reason[1024];
	int64_t time_ns;    /* the record's time and author */
	uint8_t author[32];
	uint64_t lifted_at; /* the override that lifted it (at the point asked), 0: in force */
};

struct lgfs_hold {
	uint64_t index;       /* the HOLD record */
	char path[4096];
	char case_name[1024];
	int64_t time_ns;
	uint8_t author[32];
	uint64_t released_at; /* the release (at the point asked), 0: in force */
};

/* Add a retention rule on `path` (absolute; need not exist): exactly one of
 * until_ns (> the record's time) and duration (> 0). flags as above; cls
 * and reason may be NULL. With LGFS_RETAIN_OVERRIDE: lifts every
 * governance rule in force on exactly `path` (-ENOENT when there is none)
 * and, when until_ns or duration is given, puts a governance rule with it
 * in their place. -EPERM: shorter than a rule in force on the same path;
 * -EINVAL: malformed. */
int lgfs_fs_retain(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, const char *path, int64_t until_ns,
		   uint64_t duration, uint32_t flags, const char *cls, const char *reason);
/* A legal hold on `path` for case `case_name` (1..1023 bytes, no NUL). */
int lgfs_fs_hold(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, const char *path, const char *case_name);
/* Release the hold in force on exactly `path` for `case_name` (-ENOENT
 * when there is none). */
int lgfs_fs_hold_release(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, const char *path, const char *case_name,
		    const char *reason);

/* Every rule and hold recorded up to log index `at`, in log order, with
 * lifted_at / released_at as they stood at `at`. Callbacks (either may be
 * NULL) return non-zero to stop (returned). */
typedef int (*lgfs_retention_cb)(void *arg, const struct lgfs_retention *r);
typedef int (*lgfs_hold_cb)(void *arg, const struct lgfs_hold *h);
int lgfs_fs_policy_each(struct lgfs_fs *fs, uint64_t at, lgfs_retention_cb rcb, lgfs_hold_cb hcb, void *arg);

/* What protects `path` now (it must exist): *until_ns the latest end of
 * the retention rules covering it (0: none), *holds the holds in force
 * covering it. */
int lgfs_fs_protection(struct lgfs_fs *fs, const char *path, int64_t *until_ns, unsigned int *holds);

/* The end of a rule for a file created at created_ns (INT64_MAX when it
 * does not fit). */
int64_t lgfs_retention_end(const struct lgfs_retention *r, int64_t created_ns);

/* Test hook: the clock the fs layer stamps records with (NULL: the real
 * one). Tests only; a running mount never calls it. */
void lgfs_fs_set_clock(int64_t (*now)(void));

#endif
