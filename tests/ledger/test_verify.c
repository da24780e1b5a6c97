/*
 * test_verify.c — the verified open of a volume (src/ledger/verify.c):
 * a clean log opens read-only and writable; a log split over several
 * threads is checked at the links between the parts too; entries no
 * checkpoint covers have their signatures checked; every failure refuses
 * the open and names the entry. The attack tests in tests/integration
 * drive the same rules through the command line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ledger/verify.h"
#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/ledger.h"

#define NOTES 40 /* entries: genesis + NOTES */
#define HDR 20
#define CHECK 8

struct fixture {
	char dir[64];
	char vol[128];
	char seg[192];
	struct lgfs_key *key;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct lgfs_policy pol = { LGFS_DEFAULT_THRESHOLD, LGFS_DEFAULT_RETENTION_S };
	struct lgfs_volume_info info;
	struct lgfs_ledger *l = NULL;
	int i;

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/lgfs-test-verify-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->vol, sizeof(f->vol), "%s/volumes/v", f->dir);
	snprintf(f->seg, sizeof(f->seg), "%s/log/00000000000000000000.seg", f->vol);
	setenv("LEDGERFS_STATE_DIR", f->dir, 1); /* pins go to the test's directory */
	if (lgfs_key_generate(&f->key, "founder@test") ||
	    lgfs_volume_create(&info, f->dir, "v", f->key, &pol, 0, 0) ||
	    lgfs_ledger_open(&l, f->dir, "v", f->key, 0))
		return -1;
	for (i = 0; i < NOTES; i++) {
		struct lgfs_record r, *rp = &r;
		char text[32];

		snprintf(text, sizeof(text), "note %d", i);
		lgfs_record_init(&r, LGFS_OP_NOTE);
		if (lgfs_record_add_str(&r, LGFS_F_REASON, text) || lgfs_ledger_append(l, &rp, 1))
			return -1;
	}
	lgfs_ledger_close(l);
	lgfs_vlog_set_part_min(4); /* several parts even on this small log */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	lgfs_vlog_set_part_min(0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	lgfs_key_free(f->key);
	free(f);
	return 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *p;
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return p;
}

static void spit(const char *path, const uint8_t *p, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Offset of frame i in the segment (FORMAT.md §7). */
static size_t frame_at(const uint8_t *seg, size_t len, uint64_t i)
{
	size_t off = 0;
	uint64_t k;

	for (k = 0; k < i; k++) {
		assert_true(off + HDR <= len);
		off += HDR + lgfs_be32_get(seg + off + 12) + lgfs_be32_get(seg + off + 16) + CHECK;
	}
	return off;
}

/* Recompute a frame's check, as a forger would. */
static void fix_check(uint8_t *seg, size_t off)
{
	size_t e = lgfs_be32_get(seg + off + 12), r = lgfs_be32_get(seg + off + 16);
	uint8_t h[32];

	lgfs_sha256(h, seg + off, HDR + e + r);
	memcpy(seg + off + HDR + e + r, h, CHECK);
}

/* Flip byte `at` of frame i's envelope (at < 177) or record (at >= 177). */
static void tamper(struct fixture *f, uint64_t i, size_t at)
{
	size_t len, off;
	uint8_t *seg = slurp(f->seg, &len);

	off = frame_at(seg, len, i);
	seg[off + HDR + at] ^= 0x01;
	fix_check(seg, off);
	spit(f->seg, seg, len);
	free(seg);
}

/* Keep only the first checkpoint (the genesis one): every later entry's
 * signature must then be checked. */
static void keep_first_checkpoint(struct fixture *f)
{
	char path[256];
	size_t len;
	uint8_t *cp;

	snprintf(path, sizeof(path), "%s/checkpoints", f->vol);
	cp = slurp(path, &len);
	spit(path, cp, 8 + lgfs_be32_get(cp));
	free(cp);
}

static void expect_refused(struct fixture *f, const char *index_text, const char *what)
{
	struct lgfs_ledger *l = NULL;

	assert_int_equal(lgfs_ledger_open(&l, f->dir, "v", NULL, LGFS_LEDGER_RDONLY), LGFS_ECORRUPT);
	assert_null(l);
	if (!strstr(lgfs_error_last(), index_text))
		fail_msg("%s", lgfs_error_last());
	if (!strstr(lgfs_error_last(), what))
		fail_msg("%s", lgfs_error_last());
	assert_non_null(strstr(lgfs_error_last(), "ledgerfs audit v"));
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "v", f->key, 0), LGFS_ECORRUPT);
	assert_null(l);
}

static void test_clean(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l = NULL;

	assert_int_equal(lgfs_ledger_open(&l, f->dir, "v", NULL, LGFS_LEDGER_RDONLY), 0);
	assert_int_equal(lgfs_ledger_size(l), NOTES + 1);
	lgfs_ledger_close(l);
	keep_first_checkpoint(f); /* signatures checked instead: still clean */
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "v", f->key, 0), 0);
	assert_int_equal(lgfs_ledger_size(l), NOTES + 1);
	lgfs_ledger_close(l);
}

static void append_notes(const char *store, struct lgfs_key *key, int n, const char *tag)
{
	struct lgfs_ledger *l = NULL;
	int i;

	assert_int_equal(lgfs_ledger_open(&l, store, "v", key, 0), 0);
	for (i = 0; i < n; i++) {
		struct lgfs_record r, *rp = &r;
		char text[32];

		snprintf(text, sizeof(text), "%s %d", tag, i);
		lgfs_record_init(&r, LGFS_OP_NOTE);
		assert_int_equal(lgfs_record_add_str(&r, LGFS_F_REASON, text), 0);
		assert_int_equal(lgfs_ledger_append(l, &rp, 1), 0);
	}
	lgfs_ledger_close(l);
}

/* Two futures signed with the right key, spliced where the second part of
 * the check begins: every entry verifies on its own, and only the link
 * between the parts (entry 20 names the other future's entry 19) shows the
 * splice. */
static void test_link_between_parts(void **state)
{
	struct fixture *f = *state;
	struct lgfs_policy pol = { LGFS_DEFAULT_THRESHOLD, LGFS_DEFAULT_RETENTION_S };
	struct lgfs_volume_info info;
	char fork[128], forkseg[256], forkstate[128], cmd[512];
	uint8_t *a, *b, *out;
	size_t alen, blen, acut, bcut;

	/* a fresh volume of 19 entries, copied: two futures from there, which
	 * differ from entry 19 on */
	snprintf(cmd, sizeof(cmd), "rm -rf %s/volumes/v", f->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(lgfs_volume_create(&info, f->dir, "v", f->key, &pol, 0, 0), 0);
	append_notes(f->dir, f->key, 18, "common");
	snprintf(fork, sizeof(fork), "%s/fork", f->dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/volumes && cp -a %s %s/volumes/v", fork, f->vol, fork);
	assert_int_equal(system(cmd), 0);
	append_notes(f->dir, f->key, 22, "ours");
	snprintf(forkstate, sizeof(forkstate), "%s/forkstate", f->dir);
	setenv("LEDGERFS_STATE_DIR", forkstate, 1); /* the fork is nobody's pin */
	append_notes(fork, f->key, 22, "theirs");
	setenv("LEDGERFS_STATE_DIR", f->dir, 1);
	/* ours [0, 20) + theirs [20, 41) */
	snprintf(forkseg, sizeof(forkseg), "%s/volumes/v/log/00000000000000000000.seg", fork);
	a = slurp(f->seg, &alen);
	b = slurp(forkseg, &blen);
	acut = frame_at(a, alen, 20);
	bcut = frame_at(b, blen, 20);
	out = malloc(acut + blen - bcut);
	assert_non_null(out);
	memcpy(out, a, acut);
	memcpy(out + acut, b + bcut, blen - bcut);
	spit(f->seg, out, acut + blen - bcut);
	snprintf(cmd, sizeof(cmd), "rm -f %s/log/*.idx", f->vol);
	assert_int_equal(system(cmd), 0);
	free(a);
	free(b);
	free(out);
	expect_refused(f, sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? "log entry 20:" : "log entry 20", "previous-envelope hash");
}

static void test_record_altered_late(void **state)
{
	struct fixture *f = *state;

	tamper(f, NOTES - 1, LGFS_ENVELOPE_LEN + 30);
	expect_refused(f, "log entry 39:", "commitment");
}

static void test_signature_without_checkpoint(void **state)
{
	struct fixture *f = *state;

	keep_first_checkpoint(f);
	tamper(f, NOTES - 3, LGFS_ENVELOPE_LEN - 1); /* the signature's last byte */
	expect_refused(f, "log entry 37:", "signature");
}

/* With its checkpoints, a changed signature changes the Merkle leaf: the
 * root no longer matches the checkpoints that covered it. */
static void test_signature_under_checkpoint(void **state)
{
	struct fixture *f = *state;

	tamper(f, 5, LGFS_ENVELOPE_LEN - 1);
	expect_refused(f, "do not match checkpoint", "forked");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_between_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_altered_late, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signature_without_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signature_under_checkpoint, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
