/*
 * test_tamper.c — alter a volume's stored log behind its back and check
 * that audit fails and names the first bad index: flip a byte in any
 * envelope, delete an envelope, swap two, truncate in the middle, replace
 * a signature, alter a checkpoint. Each alteration is tried twice: as is
 * (the store's own frame check may catch it) and "smart", with the frame
 * check recomputed so that only the ledger's hashes and signatures can.
 * Also runs the ledgerfs command on a few cases: exit 1 and the index named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "ledgerfs/audit.h"
#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/ledger.h"
#include "ledgerfs/record.h"

#define ENTRIES 41 /* genesis + 40 notes */
#define HDR 20     /* frame header: magic, index, envelope length, record length */
#define CHECK 8

static char tmpdir[64], voldir[160], segpath[256], cppath[256], statedir[96];
static struct lgfs_key *key;
static uint8_t *orig;   /* the untouched segment */
static size_t orig_len;
static uint8_t *cp_orig;
static size_t cp_orig_len;

/* Frame i: where it starts and its lengths (parsed from the documented format). */
struct frame {
	size_t off, env_len, rec_len, len;
};
static struct frame frames[ENTRIES];

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

static void spit(const char *path, const uint8_t *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	fclose(f);
}

/* Recompute a frame's check bytes (what a careful forger would do). */
static void fix_check(uint8_t *seg, size_t off)
{
	size_t e = lgfs_be32_get(seg + off + 12), r = lgfs_be32_get(seg + off + 16);
	uint8_t h[32];

	lgfs_sha256(h, seg + off, HDR + e + r);
	memcpy(seg + off + HDR + e + r, h, CHECK);
}

static uint64_t audit_first_bad(size_t *nfindings)
{
	struct lgfs_audit_report rep;
	uint64_t first;

	assert_int_equal(lgfs_audit_volume(&rep, voldir, NULL), 0);
	first = rep.first_bad;
	*nfindings = rep.nfindings;
	lgfs_audit_report_free(&rep);
	return first;
}

/* Install a tampered segment, audit, restore. */
static void expect_bad(const uint8_t *seg, size_t len, uint64_t want, const char *what)
{
	size_t n;
	uint64_t got;

	spit(segpath, seg, len);
	got = audit_first_bad(&n);
	spit(segpath, orig, orig_len);
	if (n == 0 || got != want)
		fail_msg("%s: audit reported first bad index %lld with %zu findings, expected %llu", what,
			 got == LGFS_NO_INDEX ? -1LL : (long long)got, n, (unsigned long long)want);
}

static int setup(void **state)
{
	struct lgfs_policy pol = { 51, 3600 };
	struct lgfs_volume_info info;
	struct lgfs_ledger *l;
	struct lgfs_record r[10], *rp[10];
	size_t i, off;
	int b;

	(void)state;
	strcpy(tmpdir, "/tmp/lgfs-tamper-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	/* the user's trust state of this test, never the real one */
	snprintf(statedir, sizeof(statedir), "%s/state", tmpdir);
	setenv("LEDGERFS_STATE_DIR", statedir, 1);
	if (lgfs_key_generate(&key, "tamper@test"))
		return -1;
	if (lgfs_volume_create(&info, tmpdir, "t", key, &pol, 0, 0))
		return -1;
	if (lgfs_ledger_open(&l, tmpdir, "t", key, 0))
		return -1;
	for (b = 0; b < 4; b++) {
		for (i = 0; i < 10; i++) {
			lgfs_record_init(&r[i], LGFS_OP_NOTE);
			lgfs_record_add_str(&r[i], LGFS_F_REASON, "invoice 2026-0042 booked");
			rp[i] = &r[i];
		}
		if (lgfs_ledger_append(l, rp, 10))
			return -1;
	}
	lgfs_ledger_close(l);
	snprintf(voldir, sizeof(voldir), "%s/volumes/t", tmpdir);
	snprintf(segpath, sizeof(segpath), "%s/log/00000000000000000000.seg", voldir);
	snprintf(cppath, sizeof(cppath), "%s/checkpoints", voldir);
	orig = slurp(segpath, &orig_len);
	cp_orig = slurp(cppath, &cp_orig_len);
	for (i = 0, off = 0; i < ENTRIES; i++) {
		if (off + HDR > orig_len || memcmp(orig + off, "LGF1", 4) || lgfs_be64_get(orig + off + 4) != i)
			return -1;
		frames[i].off = off;
		frames[i].env_len = lgfs_be32_get(orig + off + 12);
		frames[i].rec_len = lgfs_be32_get(orig + off + 16);
		frames[i].len = HDR + frames[i].env_len + frames[i].rec_len + CHECK;
		if (frames[i].env_len != LGFS_ENVELOPE_LEN)
			return -1;
		off += frames[i].len;
	}
	return off == orig_len ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	free(orig);
	free(cp_orig);
	lgfs_key_free(key);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_untouched_passes(void **state)
{
	size_t n;

	(void)state;
	assert_int_equal(audit_first_bad(&n), LGFS_NO_INDEX);
	assert_int_equal(n, 0);
}

/* One byte of one envelope, every envelope, every byte position of a few. */
static void test_flip_envelope_byte(void **state)
{
	uint8_t *seg = malloc(orig_len);
	size_t i, k;
	int smart;
	char what[96];

	(void)state;
	for (smart = 0; smart < 2; smart++) {
		for (i = 0; i < ENTRIES; i++) {
			size_t first = (i == 0 || i == 17 || i == ENTRIES - 1) ? 0 : (i * 37) % LGFS_ENVELOPE_LEN;
			size_t last = (i == 0 || i == 17 || i == ENTRIES - 1) ? LGFS_ENVELOPE_LEN : first + 1;

			for (k = first; k < last; k++) {
				memcpy(seg, orig, orig_len);
				seg[frames[i].off + HDR + k] ^= 0x01;
				if (smart)
					fix_check(seg, frames[i].off);
				snprintf(what, sizeof(what), "%s flip of envelope %zu byte %zu", smart ? "smart" : "raw",
					 i, k);
				expect_bad(seg, orig_len, i, what);
			}
		}
	}
	free(seg);
}

/* A byte of a plaintext record: its commitment no longer matches. */
static void test_flip_record_byte(void **state)
{
	uint8_t *seg = malloc(orig_len);
	size_t i;

	(void)state;
	for (i = 0; i < ENTRIES; i += 5) {
		memcpy(seg, orig, orig_len);
		seg[frames[i].off + HDR + LGFS_ENVELOPE_LEN + frames[i].rec_len / 2] ^= 0x80;
		fix_check(seg, frames[i].off);
		expect_bad(seg, orig_len, i, "smart flip of a record byte");
	}
	free(seg);
}

/* Remove frame i; "smart" renumbers the later frames so the store is happy. */
static void test_delete_envelope(void **state)
{
	uint8_t *seg = malloc(orig_len);
	size_t i, j, len;
	int smart;

	(void)state;
	for (smart = 0; smart < 2; smart++) {
		for (i = 1; i < ENTRIES; i++) {
			len = 0;
			for (j = 0; j < ENTRIES; j++) {
				if (j == i)
					continue;
				memcpy(seg + len, orig + frames[j].off, frames[j].len);
				if (smart && j > i) {
					lgfs_be64_put(seg + len + 4, j - 1);
					fix_check(seg, len);
				}
				len += frames[j].len;
			}
			expect_bad(seg, len, i, smart ? "smart delete" : "raw delete");
		}
	}
	free(seg);
}

/* Exchange frames i and j. */
static void test_swap_two(void **state)
{
	static const size_t pairs[][2] = { { 1, 2 }, { 5, 30 }, { 0, 1 }, { 39, 40 }, { 12, 13 } };
	uint8_t *seg = malloc(orig_len);
	size_t p, j, len;
	int smart;

	(void)state;
	for (smart = 0; smart < 2; smart++) {
		for (p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
			size_t a = pairs[p][0], b = pairs[p][1];

			len = 0;
			for (j = 0; j < ENTRIES; j++) {
				size_t src = j == a ? b : j == b ? a : j;

				memcpy(seg + len, orig + frames[src].off, frames[src].len);
				if (smart) {
					lgfs_be64_put(seg + len + 4, j);
					fix_check(seg, len);
				}
				len += frames[src].len;
			}
			expect_bad(seg, len, a, smart ? "smart swap" : "raw swap");
		}
	}
	free(seg);
}

/* Cut the log: inside a frame, or cleanly at a frame boundary. The signed
 * checkpoints still cover the lost entries. */
static void test_truncate_middle(void **state)
{
	size_t i;

	(void)state;
	for (i = 1; i < ENTRIES; i += 3) {
		expect_bad(orig, frames[i].off, i, "truncate at a frame boundary");
		expect_bad(orig, frames[i].off + frames[i].len / 2, i, "truncate inside a frame");
	}
}

/* Replace a signature: random bytes, another envelope's, or a valid
 * signature of the same message by a key that is not a member. */
static void test_replace_signature(void **state)
{
	uint8_t *seg = malloc(orig_len);
	struct lgfs_key *mallory;
	struct lgfs_buf msg = LGFS_BUF_INIT;
	char origin[LGFS_ORIGIN_MAX + 1];
	struct lgfs_ledger *l;
	size_t i;
	int how;

	(void)state;
	assert_int_equal(lgfs_key_generate(&mallory, "mallory"), 0);
	assert_int_equal(lgfs_ledger_open(&l, tmpdir, "t", NULL, LGFS_LEDGER_RDONLY), 0);
	strcpy(origin, lgfs_ledger_info(l)->origin);
	lgfs_ledger_close(l);
	for (how = 0; how < 3; how++) {
		for (i = 0; i < ENTRIES; i += 4) {
			uint8_t *env, *sig;

			memcpy(seg, orig, orig_len);
			env = seg + frames[i].off + HDR;
			sig = env + LGFS_ENVELOPE_SIGNED_LEN;
			if (how == 0) {
				size_t k;

				for (k = 0; k < 64; k++)
					sig[k] = (uint8_t)(k * 13 + i);
			} else if (how == 1) {
				memcpy(sig, orig + frames[(i + 1) % ENTRIES].off + HDR + LGFS_ENVELOPE_SIGNED_LEN, 64);
			} else {
				lgfs_buf_reset(&msg);
				assert_int_equal(lgfs_envelope_signed_message(&msg, origin, env), 0);
				assert_int_equal(lgfs_key_sign(mallory, sig, msg.data, msg.len), 0);
			}
			fix_check(seg, frames[i].off);
			expect_bad(seg, orig_len, i, how == 0 ? "random signature" : how == 1 ? "borrowed signature"
											       : "foreign valid signature");
		}
	}
	lgfs_buf_free(&msg);
	lgfs_key_free(mallory);
	free(seg);
}

/* A checkpoint altered: its root (re-signed by an outsider, or not), or its
 * signature. Restores the file afterwards. */
static void test_alter_checkpoint(void **state)
{
	uint8_t *cp = malloc(cp_orig_len);
	size_t n, k;
	uint64_t first;

	(void)state;
	/* flip a byte in the base64 root of the second checkpoint frame */
	memcpy(cp, cp_orig, cp_orig_len);
	{
		size_t len0 = lgfs_be32_get(cp), off1 = 8 + len0;
		uint8_t *note = cp + off1 + 4;
		size_t nl = 0;

		for (k = 0; nl < 2; k++)
			if (note[k] == '\n')
				nl++;
		note[k + 3] = note[k + 3] == 'A' ? 'B' : 'A';
	}
	spit(cppath, cp, cp_orig_len);
	first = audit_first_bad(&n);
	assert_true(n > 0);
	assert_true(first != LGFS_NO_INDEX);
	/* flip a byte of the last checkpoint's signature */
	memcpy(cp, cp_orig, cp_orig_len);
	cp[cp_orig_len - 4 - 10] ^= 0x01;
	spit(cppath, cp, cp_orig_len);
	first = audit_first_bad(&n);
	assert_true(n > 0);
	spit(cppath, cp_orig, cp_orig_len);
	assert_int_equal(audit_first_bad(&n), LGFS_NO_INDEX);
	free(cp);
}

/* Run a command, capture stdout, return its exit status. */
static int run(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	FILE *p;
	size_t n;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The command line: exit 1 and "first bad index N" in the report. */
static void test_cli_reports_index(void **state)
{
	const char *bin = getenv("LEDGERFS_BIN");
	uint8_t *seg = malloc(orig_len);
	char out[16384], want[64];

	(void)state;
	if (!bin)
		bin = "build/ledgerfs";
	assert_int_equal(run(out, sizeof(out), "%s audit --store %s t", bin, tmpdir), 0);
	assert_non_null(strstr(out, "audit:       OK"));
	memcpy(seg, orig, orig_len);
	seg[frames[23].off + HDR + 100] ^= 0x04; /* inside the commitment */
	fix_check(seg, frames[23].off);
	spit(segpath, seg, orig_len);
	assert_int_equal(run(out, sizeof(out), "%s audit --store %s t", bin, tmpdir), 1);
	snprintf(want, sizeof(want), "first bad index %d", 23);
	if (!strstr(out, want))
		fail_msg("report lacks '%s':\n%s", want, out);
	assert_int_equal(run(out, sizeof(out), "%s audit --json --store %s t", bin, tmpdir), 1);
	assert_non_null(strstr(out, "\"ok\":false"));
	assert_non_null(strstr(out, "\"first_bad_index\":23"));
	spit(segpath, orig, orig_len);
	/* truncated in the middle */
	spit(segpath, orig, frames[30].off + 5);
	assert_int_equal(run(out, sizeof(out), "%s audit --store %s t", bin, tmpdir), 1);
	assert_non_null(strstr(out, "first bad index 30"));
	spit(segpath, orig, orig_len);
	assert_int_equal(run(out, sizeof(out), "%s audit --store %s t", bin, tmpdir), 0);
	free(seg);
}

/* A writer refuses a log that lost entries a checkpoint covers. */
static void test_writer_refuses_short_log(void **state)
{
	struct lgfs_ledger *l;

	(void)state;
	spit(segpath, orig, frames[20].off);
	assert_int_equal(lgfs_ledger_open(&l, tmpdir, "t", key, 0), LGFS_ECORRUPT);
	spit(segpath, orig, orig_len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_untouched_passes),
		cmocka_unit_test(test_flip_envelope_byte),
		cmocka_unit_test(test_flip_record_byte),
		cmocka_unit_test(test_delete_envelope),
		cmocka_unit_test(test_swap_two),
		cmocka_unit_test(test_truncate_middle),
		cmocka_unit_test(test_replace_signature),
		cmocka_unit_test(test_alter_checkpoint),
		cmocka_unit_test(test_cli_reports_index),
		cmocka_unit_test(test_writer_refuses_short_log),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
