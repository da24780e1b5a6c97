/*
 * test_policy.c — retention rules and legal holds (policy.h) through the fs
 * API, with the clock injected by the test hook: every forbidden change is
 * EPERM until the rule ends and allowed after; extension works, shortening
 * is refused in both modes; governance override; year-end and calendar
 * year counting; classes by path (files created later inherit); holds; and
 * a forbidden record that reaches the log anyway is never applied by a
 * rebuild, and audit lists it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fs_fixture.h"

#include "ledgerfs/error.h"
#include "ledgerfs/fs.h"
#include "ledgerfs/history.h"
#include "ledgerfs/json.h"
#include "ledgerfs/key.h"
#include "ledgerfs/ledger.h"
#include "ledgerfs/policy.h"

static int64_t clock_now;

static int64_t fake_clock(void)
{
	return clock_now;
}

static int64_t at_time(const char *rfc3339)
{
	int64_t ns;

	assert_int_equal(lgfs_time_parse(rfc3339, &ns), 0);
	return ns;
}

static int setup(void **state)
{
	struct fx *f;

	/* the genesis record is dated now; the records of the tests from
	 * this (later) time on */
	if (fx_create(state, "policy", 0, 0))
		return -1;
	f = *state;
	clock_now = at_time("2027-03-01T10:00:00Z");
	lgfs_fs_set_clock(fake_clock);
	return lgfs_fs_open(&f->fs, f->dir, "v", f->key, 0) ? -1 : 0;
}

static int teardown(void **state)
{
	lgfs_fs_set_clock(NULL);
	return fx_teardown(state);
}

#define put(f, path, s) ((void)fx_put(f, path, s))
#define ino_of fx_ino

/* Every change that would remove or alter the file at dir/name: the
 * expected result of each (0 or -EPERM). Nothing is changed when refused;
 * when allowed, the file is put back as it was by the caller's next step. */
static void expect_locked(struct fx *f, uint64_t dir, const char *name, int want)
{
	struct lgfs_setattr sa;
	struct lgfs_stat st;
	uint64_t fh, ino;

	assert_int_equal(lgfs_fs_lookup(f->fs, dir, name, &st), 0);
	ino = st.ino;
	/* open for writing, with O_TRUNC */
	assert_int_equal(lgfs_fs_open_file(f->fs, &f->ctx, ino, O_WRONLY, &fh), want);
	if (!want)
		lgfs_fs_release(f->fs, &f->ctx, fh);
	assert_int_equal(lgfs_fs_open_file(f->fs, &f->ctx, ino, O_RDONLY | O_TRUNC, &fh), want);
	if (!want)
		lgfs_fs_release(f->fs, &f->ctx, fh);
	/* reading stays allowed */
	assert_int_equal(lgfs_fs_open_file(f->fs, &f->ctx, ino, O_RDONLY, &fh), 0);
	lgfs_fs_release(f->fs, &f->ctx, fh);
	/* truncate */
	if (want) {
		memset(&sa, 0, sizeof(sa));
		sa.valid = LGFS_SET_SIZE;
		sa.size = 1;
		assert_int_equal(lgfs_fs_setattr(f->fs, &f->ctx, ino, 0, &sa, &st), -EPERM);
		/* chmod, xattrs stay allowed */
		sa.valid = LGFS_SET_MODE;
		sa.mode = 0600;
		assert_int_equal(lgfs_fs_setattr(f->fs, &f->ctx, ino, 0, &sa, &st), 0);
		assert_int_equal(lgfs_fs_setxattr(f->fs, &f->ctx, ino, "user.note", "x", 1, 0), 0);
		assert_int_equal(lgfs_fs_removexattr(f->fs, &f->ctx, ino, "user.note"), 0);
		/* rename away, rename over it, unlink */
		assert_int_equal(lgfs_fs_rename(f->fs, &f->ctx, dir, name, 1, "away", 0), -EPERM);
		put(f, "/other", "o");
		assert_int_equal(lgfs_fs_rename(f->fs, &f->ctx, 1, "other", dir, name, 0), -EPERM);
		assert_int_equal(lgfs_fs_unlink(f->fs, &f->ctx, 1, "other"), 0);
		assert_int_equal(lgfs_fs_unlink(f->fs, &f->ctx, dir, name), -EPERM);
		assert_int_equal(lgfs_fs_lookup(f->fs, dir, name, &st), 0);
		assert_int_equal(st.ino, ino);
	} else {
		assert_int_equal(lgfs_fs_unlink(f->fs, &f->ctx, dir, name), 0);
	}
}

static void test_until_rule(void **state)
{
	struct fx *f = *state;
	uint64_t inv;

	put(f, "/inv/a.txt", "invoice a");
	inv = ino_of(f, "/inv");
	assert_int_equal(lgfs_fs_retain(f->fs, &f->ctx, "/inv", at_time("2030-01-01T00:00:00Z"), 0, 0, NULL, "GoBD"), 0);
	expect_locked(f, inv, "a.txt", -EPERM);
	/* a file created later under the path is covered too */
	put(f, "/inv/b.txt", "invoice b");
	expect_locked(f, inv, "b.txt", -EPERM);
	/* the directory that holds them cannot go or move */
	assert_int_equal(lgfs_fs_rename(f->fs, &f->ctx, 1, "inv", 1, "inv2", 0), -EPERM);
	assert_int_equal(lgfs_fs_rmdir(f->fs, &f->ctx, 1, "inv"), -EPERM);
	/* elsewhere everything goes */
	put(f, "/free.txt", "x");
	assert_int_equal(lgfs_fs_unlink(f->fs, &f->ctx, 1, "free.txt"), 0);
	/* shortening refused, extending works */
	assert_int_equal(lgfs_fs_retain(f->fs, &f->ctx, "/inv", at_time("2029-01-01T00:00:00Z"), 0, 0, NULL, NULL),
			 -EPERM);
	assert_int_equal(lgfs_fs_retain(f->fs, &f->ctx, "/inv", at_time("2031-01-01T00:00:00Z"), 0, 0, NULL, NULL), 0);
	/* a compliance rule has no override */
	assert_int_equal(lgfs_fs_retain(f->fs, &f->ctx, "/inv", 0, 0, LGFS_RETAIN_OVERRIDE, NULL, "try"), -ENOENT);
	/* the clock passes the first end, not the second */
	clock_now = at_time("2030-06-01T00:00:00Z");
	expect_locked(f, inv, "a.txt", -EPERM);
	clock_now = at_time("2031-01-01T00:00:01Z");
	expect_locked(f, inv, "a.txt", 0);
	expect_locked(f, inv, "b.txt", 0);
	assert_int_equal(lgfs_fs_rmdir(f->fs, &f->ctx, 1, "inv"), 0);
}

static void test_year_end_and_classes(void **state)
{
	struct fx *f = *state;
	struct lgfs_retention r;
	uint64_t dir;

	/* 8 years from the end of the year of creation: created 2026-03-01,
	 * kept until 2035-01-01 (a pure computation) */
	memset(&r, 0, sizeof(r));
	r.duration = 8;
	r.flags = LGFS_RETAIN_YEARS | LGFS_RETAIN_YEAR_END;
	assert_int_equal(lgfs_retention_end(&r, at_time("2026-03-01T10:00:00Z")), at_time("2035-01-01T00:00:00Z"));
	assert_int_equal(lgfs_retention_end(&r, at_time("2026-12-31T23:59:59Z")), at_time("2035-01-01T00:00:00Z"));
	r.flags = LGFS_RETAIN_YEARS;
	assert_int_equal(lgfs_retention_end(&r, at_time("2026-03-01T10:00:00Z")), at_time("2034-03-01T10:00:00Z"));
	r.flags = 0;
	r.duration = 86400;
	assert_int_equal(lgfs_retention_end(&r, at_time("2026-03-01T10:00:00Z")), at_time("2026-03-02T10:00:00Z"));

	assert_int_equal(lgfs_fs_retain(f->fs, &f->ctx, "/vouchers", 0, 8, LGFS_RETAIN_YEARS | LGFS_RETAIN_YEAR_END,
					"vouchers", NULL),
			 0);
	put(f, "/vouchers/2027/r1.pdf", "r1"); /* created 2027-03-01: kept until 2036-01-01 */
	clock_now = at_time("2028-06-01T00:00:00Z");
	put(f, "/vouchers/2028/r2.pdf", "r2");
	dir = ino_of(f, "/vouchers/2027");
	clock_now = at_time("2035-12-31T23:59:59Z");
	expect_locked(f, dir, "r1.pdf", -EPERM);
	clock_now = at_time("2036-01-01T00:00:00Z");
	expect_locked(f, dir, "r1.pdf", 0);
	/* the 2028 one is kept a year longer */
	dir = ino_of(f, "/vouchers/2028");
	expect_locked(f, dir, "r2.pdf", -EPERM);
	clock_now = at_time("2037-01-01T00:00:00Z");
	expect_locked(f, dir, "r2.pdf", 0);
	/* a shorter duration on the same path is refused */
	assert_int_equal(lgfs_fs_retain(f->fs, &f->ctx, "/vouchers", 0, 6, LGFS_RETAIN_YEARS | LGFS_RETAIN_YEAR_END,
					NULL, NULL),
			 -EPERM);
	/* moving within the rule's reach is fine, out of it is not */
	put(f, "/vouchers/2028/r3.pdf", "r3");
	assert_int_equal(lgfs_fs_rename(f->fs, &f->ctx, dir, "r3.pdf", dir, "r3-renamed.pdf", 0), 0);
	assert_int_equal(lgfs_fs_rename(f->fs, &f->ctx, dir, "r3-renamed.pdf", 1, "r3.pdf", 0), -EPERM);
}

static void test_governance_override(void **state)
{
	struct fx *f = *state;
	uint64_t dir;

	put(f, "/letters/l1.txt", "dear");
	dir = ino_of(f, "/letters");
	assert_int_equal(lgfs_fs_retain(f->fs, &f->ctx, "/letters", at_time("2032-01-01T00:00:00Z"), 0,
					LGFS_RETAIN_GOVERNANCE, NULL, NULL),
			 0);
	expect_locked(f, dir, "l1.txt", -EPERM);
	/* shortening without override: refused even in governance mode */
	assert_int_equal(lgfs_fs_retain(f->fs, &f->ctx, "/letters", at_time("2028-01-01T00:00:00Z"), 0,
					LGFS_RETAIN_GOVERNANCE, NULL, NULL),
			 -EPERM);
	/* the override shortens it, as a record of its own */
	assert_int_equal(lgfs_fs_retain(f->fs, &f->ctx, "/letters", at_time("2028-01-01T00:00:00Z"), 0,
					LGFS_RETAIN_OVERRIDE, NULL, "case closed"),
			 0);
	expect_locked(f, dir, "l1.txt", -EPERM);
	clock_now = at_time("2028-01-01T00:00:01Z");
	put(f, "/letters/l1.txt", "dear"); /* a new version is allowed now too */
	expect_locked(f, dir, "l1.txt", 0);
	/* and an override without an end lifts it */
	clock_now = at_time("2028-02-01T00:00:00Z");
	assert_int_equal(lgfs_fs_retain(f->fs, &f->ctx, "/letters", at_time("2040-01-01T00:00:00Z"), 0,
					LGFS_RETAIN_GOVERNANCE, NULL, NULL),
			 0);
	put(f, "/letters/l2.txt", "x");
	expect_locked(f, dir, "l2.txt", -EPERM);
	assert_int_equal(lgfs_fs_retain(f->fs, &f->ctx, "/letters", 0, 0, LGFS_RETAIN_OVERRIDE, NULL, "lifted"), 0);
	expect_locked(f, dir, "l2.txt", 0);
}

static int count_rule(void *arg, const struct lgfs_retention *r)
{
	int *n = arg;

	(void)r;
	n[0]++;
	if (r->lifted_at)
		n[1]++;
	return 0;
}

static int count_hold(void *arg, const struct lgfs_hold *h)
{
	int *n = arg;

	n[2]++;
	if (h->released_at)
		n[3]++;
	return 0;
}

static void test_hold(void **state)
{
	struct fx *f = *state;
	unsigned int holds;
	int64_t until;
	uint64_t dir, before;
	int n[4] = { 0 };

	put(f, "/case/doc.txt", "evidence");
	dir = ino_of(f, "/case");
	assert_int_equal(lgfs_fs_hold(f->fs, &f->ctx, "/case/doc.txt", "C-1"), 0);
	assert_int_equal(lgfs_fs_hold(f->fs, &f->ctx, "/case", "C-2"), 0);
	assert_int_equal(lgfs_fs_protection(f->fs, "/case/doc.txt", &until, &holds), 0);
	assert_int_equal(holds, 2);
	assert_int_equal(until, 0);
	expect_locked(f, dir, "doc.txt", -EPERM);
	/* a hold does not end with time */
	clock_now = at_time("2099-01-01T00:00:00Z");
	expect_locked(f, dir, "doc.txt", -EPERM);
	assert_int_equal(lgfs_fs_hold_release(f->fs, &f->ctx, "/case", "C-9", NULL), -ENOENT);
	assert_int_equal(lgfs_fs_hold_release(f->fs, &f->ctx, "/case/doc.txt", "C-1", "settled"), 0);
	expect_locked(f, dir, "doc.txt", -EPERM); /* C-2 still holds */
	before = lgfs_fs_entries(f->fs) - 1;
	assert_int_equal(lgfs_fs_hold_release(f->fs, &f->ctx, "/case", "C-2", NULL), 0);
	expect_locked(f, dir, "doc.txt", 0);
	/* the policy at a point: at `before` one of the two was released */
	assert_int_equal(lgfs_fs_policy_each(f->fs, before, count_rule, count_hold, n), 0);
	assert_int_equal(n[2], 2);
	assert_int_equal(n[3], 1);
	memset(n, 0, sizeof(n));
	assert_int_equal(lgfs_fs_policy_each(f->fs, lgfs_fs_entries(f->fs) - 1, count_rule, count_hold, n), 0);
	assert_int_equal(n[3], 2);
	assert_int_equal(lgfs_fs_hold(f->fs, &f->ctx, "relative", "C"), -EINVAL);
	assert_int_equal(lgfs_fs_hold(f->fs, &f->ctx, "/a/../b", "C"), -EINVAL);
	assert_int_equal(lgfs_fs_hold(f->fs, &f->ctx, "/a", ""), -EINVAL);
}

/* A forbidden record in the log (a writer that ignored the rules) is never
 * applied: the rebuild and audit's replay skip it. */
static void test_forbidden_record_not_applied(void **state)
{
	struct fx *f = *state;
	struct lgfs_ledger *l;
	struct lgfs_record r;
	uint64_t dir, entries;
	struct lgfs_stat st;
	const char *bin = getenv("LEDGERFS_BIN") ? getenv("LEDGERFS_BIN") : "build/ledgerfs";
	char cmd[512], out[8192];
	size_t n;
	FILE *p;

	/* the real clock: the command below checks the log against it */
	lgfs_fs_set_clock(NULL);
	assert_int_equal(lgfs_fs_close(f->fs), 0);
	assert_int_equal(lgfs_fs_open(&f->fs, f->dir, "v", f->key, 0), 0);
	put(f, "/keep/a.txt", "a");
	dir = ino_of(f, "/keep");
	assert_int_equal(lgfs_fs_retain(f->fs, &f->ctx, "/keep", at_time("2030-01-01T00:00:00Z"), 0, 0, NULL, NULL), 0);
	assert_int_equal(lgfs_fs_close(f->fs), 0);
	f->fs = NULL;
	/* append an unlink straight to the log, signed by the founder */
	if (lgfs_ledger_open(&l, f->dir, "v", f->key, 0))
		fail_msg("ledger open: %s", lgfs_error_last());
	lgfs_record_init(&r, LGFS_OP_UNLINK);
	assert_int_equal(lgfs_record_add_u64(&r, LGFS_F_PARENT, dir), 0);
	assert_int_equal(lgfs_record_add_str(&r, LGFS_F_NAME, "a.txt"), 0);
	{
		struct lgfs_record *rp = &r;

		assert_int_equal(lgfs_ledger_append(l, &rp, 1), 0);
	}
	lgfs_ledger_close(l);
	/* the rebuild does not apply it */
	assert_int_equal(lgfs_fs_rebuild(f->dir, "v", &entries), 0);
	assert_int_equal(lgfs_fs_open(&f->fs, f->dir, "v", f->key, 0), 0);
	assert_int_equal(lgfs_fs_lookup(f->fs, dir, "a.txt", &st), 0);
	assert_int_equal(lgfs_fs_close(f->fs), 0);
	f->fs = NULL;
	/* audit lists it, and only it */
	snprintf(cmd, sizeof(cmd), "%s audit --store %s v 2>&1", bin, f->dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	assert_int_equal(WEXITSTATUS(pclose(p)), 1);
	if (!strstr(out, "unlink record is not applicable") || !strstr(out, "Operation not permitted") ||
	    !strstr(out, "FAILED (1 finding"))
		fail_msg("audit did not list the refused record alone:\n%s", out);
}

/* A record signed by a key that is not a member (appended straight to the
 * log) stays in the log, is never applied, and audit lists it; the volume
 * stays readable and writable. */
static void test_nonmember_record_not_applied(void **state)
{
	struct fx *f = *state;
	struct lgfs_key *mallory;
	struct lgfs_ledger *l;
	struct lgfs_record r, *rp = &r;
	struct lgfs_stat st;
	uint64_t dir;
	const char *bin = getenv("LEDGERFS_BIN") ? getenv("LEDGERFS_BIN") : "build/ledgerfs";
	char cmd[512], out[8192];
	size_t n;
	FILE *p;

	lgfs_fs_set_clock(NULL);
	assert_int_equal(lgfs_fs_close(f->fs), 0);
	assert_int_equal(lgfs_fs_open(&f->fs, f->dir, "v", f->key, 0), 0);
	put(f, "/doc.txt", "mine");
	dir = 1;
	assert_int_equal(lgfs_fs_close(f->fs), 0);
	f->fs = NULL;
	assert_int_equal(lgfs_key_generate(&mallory, "mallory"), 0);
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "v", f->key, 0), 0);
	lgfs_record_init(&r, LGFS_OP_UNLINK);
	assert_int_equal(lgfs_record_add_u64(&r, LGFS_F_PARENT, dir), 0);
	assert_int_equal(lgfs_record_add_str(&r, LGFS_F_NAME, "doc.txt"), 0);
	assert_int_equal(lgfs_ledger_submit_as(l, mallory, &rp, 1), 0);
	assert_int_equal(lgfs_ledger_sync(l, 0), 0);
	lgfs_ledger_close(l);
	lgfs_key_free(mallory);
	/* the volume opens; the unlink was not applied; writing goes on */
	if (lgfs_fs_open(&f->fs, f->dir, "v", f->key, 0))
		fail_msg("open: %s", lgfs_error_last());
	assert_int_equal(lgfs_fs_lookup(f->fs, dir, "doc.txt", &st), 0);
	put(f, "/after.txt", "still writable");
	assert_int_equal(lgfs_fs_close(f->fs), 0);
	f->fs = NULL;
	snprintf(cmd, sizeof(cmd), "%s audit --store %s v 2>&1", bin, f->dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	assert_int_equal(WEXITSTATUS(pclose(p)), 1);
	if (!strstr(out, "is not a member; not applied") || !strstr(out, "FAILED (1 finding"))
		fail_msg("audit did not list the non-member's record alone:\n%s", out);
}

/* A log dated ahead of the reader's clock by more than a day is refused:
 * a writer cannot end a retention by setting its clock forward. */
static void test_clock_ahead_refused(void **state)
{
	struct fx *f = *state;

	clock_now = lgfs_ledger_now() + 3LL * 24 * 3600 * 1000000000;
	put(f, "/x", "from the future");
	assert_int_equal(lgfs_fs_close(f->fs), 0);
	f->fs = NULL;
	lgfs_fs_set_clock(NULL);
	assert_int_not_equal(lgfs_fs_open(&f->fs, f->dir, "v", NULL, LGFS_FS_RDONLY), 0);
	f->fs = NULL;
	assert_non_null(strstr(lgfs_error_last(), "more than a day after this machine's clock"));
	/* within the tolerance it is fine */
	clock_now += 2LL * 24 * 3600 * 1000000000 + 3600LL * 1000000000;
	lgfs_fs_set_clock(fake_clock);
	assert_int_equal(lgfs_fs_open(&f->fs, f->dir, "v", NULL, LGFS_FS_RDONLY), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_until_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_year_end_and_classes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_governance_override, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forbidden_record_not_applied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_ahead_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonmember_record_not_applied, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
