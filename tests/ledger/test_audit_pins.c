/*
 * test_audit_pins.c — the audit against what is kept outside the store, and
 * the order of its report: withheld records are findings; a checkpoint
 * trusted from outside catches a rollback to an earlier size, a fork after
 * it, and another volume's log of the same name and key; the genesis name
 * must match the directory; the newest verified checkpoint is reported;
 * pin findings come first and the headline names the damaged entry, not a
 * file-system consequence. Then the command line: --trusted with good and
 * bad signatures, the user's own pin (saved by a clean audit, in a temporary
 * LEDGERFS_STATE_DIR), checkpoint --consistency, and a store left
 * byte-identical by audit, status and checkpoint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ledgerfs/audit.h"
#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/ledger.h"
#include "ledgerfs/merkle.h"
#include "ledgerfs/note.h"
#include "ledgerfs/record.h"

#define HDR 20  /* log frame header: magic, index, envelope length, record length */
#define CHECK 8 /* frame check bytes */

struct fixture {
	char dir[64];        /* everything of the test */
	char store[96];
	char voldir[160];
	char seg[256];       /* the volume's only log segment */
	char cps[256];       /* its checkpoints file */
	struct lgfs_key *key;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char st[128];

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/lgfs-test-pins-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	snprintf(f->voldir, sizeof(f->voldir), "%s/volumes/t", f->store);
	snprintf(f->seg, sizeof(f->seg), "%s/log/00000000000000000000.seg", f->voldir);
	snprintf(f->cps, sizeof(f->cps), "%s/checkpoints", f->voldir);
	snprintf(st, sizeof(st), "%s/state", f->dir);
	setenv("LEDGERFS_STATE_DIR", st, 1);
	if (lgfs_key_generate(&f->key, "pins@test"))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

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

static void create_in(struct fixture *f, const char *store, const char *name)
{
	struct lgfs_policy pol = { LGFS_DEFAULT_THRESHOLD, 3600 };
	struct lgfs_volume_info info;

	assert_int_equal(lgfs_volume_create(&info, store, name, f->key, &pol, 0, 0), 0);
}

/* Append n notes to volume `name` of `store` in one batch. */
static void append_notes(struct fixture *f, const char *store, const char *name, size_t n, const char *text)
{
	struct lgfs_record r[16], *rp[16];
	struct lgfs_ledger *l;
	size_t i;

	assert_true(n <= 16);
	assert_int_equal(lgfs_ledger_open(&l, store, name, f->key, 0), 0);
	for (i = 0; i < n; i++) {
		lgfs_record_init(&r[i], LGFS_OP_NOTE);
		assert_int_equal(lgfs_record_add_str(&r[i], LGFS_F_REASON, text), 0);
		rp[i] = &r[i];
	}
	assert_int_equal(lgfs_ledger_append(l, rp, n), 0);
	lgfs_ledger_close(l);
}

static void audit(struct fixture *f, struct lgfs_audit_report *rep, const struct lgfs_audit_pin *pins,
		  size_t npins)
{
	struct lgfs_audit_opts o;

	memset(&o, 0, sizeof(o));
	o.pins = pins;
	o.npins = npins;
	assert_int_equal(lgfs_audit_volume(rep, f->voldir, &o), 0);
}

/* The log as a checkpoint now: origin, size and root from a clean audit. */
static void checkpoint_now(struct fixture *f, struct lgfs_checkpoint *cp)
{
	struct lgfs_audit_report rep;

	audit(f, &rep, NULL, 0);
	assert_int_equal(rep.nfindings, 0);
	memset(cp, 0, sizeof(*cp));
	snprintf(cp->origin, sizeof(cp->origin), "%s", rep.origin);
	cp->size = rep.entries;
	memcpy(cp->root, rep.root, 32);
	lgfs_audit_report_free(&rep);
}

/* A volume "t" of 1 + 5 + 5 entries. */
static void make_volume(struct fixture *f)
{
	create_in(f, f->store, "t");
	append_notes(f, f->store, "t", 5, "first");
	append_notes(f, f->store, "t", 5, "second");
}

/* Frame offsets of the segment (documented log format). */
static size_t frame_offsets(const uint8_t *seg, size_t len, size_t *offs, size_t max)
{
	size_t off = 0, n = 0;

	while (off + HDR <= len && n < max) {
		assert_memory_equal(seg + off, "LGF1", 4);
		offs[n++] = off;
		off += HDR + lgfs_be32_get(seg + off + 12) + lgfs_be32_get(seg + off + 16) + CHECK;
	}
	assert_int_equal(off, len);
	return n;
}

static void fix_check(uint8_t *seg, size_t off)
{
	size_t e = lgfs_be32_get(seg + off + 12), r = lgfs_be32_get(seg + off + 16);
	uint8_t h[32];

	lgfs_sha256(h, seg + off, HDR + e + r);
	memcpy(seg + off + HDR + e + r, h, CHECK);
}

static void test_clean_reports_verified_note(void **state)
{
	struct fixture *f = *state;
	struct lgfs_audit_report rep;
	struct lgfs_note *n = NULL;
	struct lgfs_checkpoint cp;

	make_volume(f);
	audit(f, &rep, NULL, 0);
	assert_int_equal(rep.nfindings, 0);
	assert_int_equal(rep.withheld, 0);
	assert_non_null(rep.verified_note);
	assert_int_equal(rep.verified_size, 11);
	assert_int_equal(lgfs_note_parse(&n, rep.verified_note, strlen(rep.verified_note)), 0);
	assert_int_equal(lgfs_checkpoint_parse(&cp, n->text, n->text_len), 0);
	assert_int_equal(cp.size, 11);
	assert_string_equal(cp.origin, rep.origin);
	assert_memory_equal(cp.root, rep.root, 32);
	lgfs_note_free(n);
	lgfs_audit_report_free(&rep);
	assert_null(rep.verified_note);
}

/* A record's plaintext removed (its envelope kept, frame check fixed). */
static void test_withheld_is_finding(void **state)
{
	struct fixture *f = *state;
	struct lgfs_audit_report rep;
	size_t len, offs[32], n, k, out = 0;
	uint8_t *seg, *mod;

	make_volume(f);
	seg = slurp(f->seg, &len);
	n = frame_offsets(seg, len, offs, 32);
	assert_int_equal(n, 11);
	mod = malloc(len);
	for (k = 0; k < n; k++) {
		size_t e = lgfs_be32_get(seg + offs[k] + 12), r = lgfs_be32_get(seg + offs[k] + 16);

		memcpy(mod + out, seg + offs[k], HDR + e);
		if (k == 7) {
			lgfs_be32_put(mod + out + 16, 0);
			fix_check(mod, out);
			out += HDR + e + CHECK;
		} else {
			memcpy(mod + out + HDR + e, seg + offs[k] + HDR + e, r + CHECK);
			out += HDR + e + r + CHECK;
		}
	}
	spit(f->seg, mod, out);
	audit(f, &rep, NULL, 0);
	assert_int_equal(rep.withheld, 1);
	assert_true(rep.nfindings >= 1);
	assert_string_equal(rep.findings[0].kind, "withheld");
	assert_int_equal(rep.findings[0].index, 7);
	assert_int_equal(rep.findings[0].level, LGFS_FINDING_LEDGER);
	assert_int_equal(rep.first_bad, 7);
	lgfs_audit_report_free(&rep);
	free(mod);
	free(seg);
}

/* The log cut back at an entry boundary to an earlier size, with the
 * stored checkpoints made to match: only a checkpoint kept elsewhere sees it. */
static void test_rollback(void **state)
{
	struct fixture *f = *state;
	struct lgfs_audit_report rep;
	struct lgfs_audit_pin pin = { .label = "your last verified checkpoint" };
	struct lgfs_checkpoint early;
	uint8_t *seg, *cps;
	size_t seg_len, cps_len;

	create_in(f, f->store, "t");
	append_notes(f, f->store, "t", 5, "first");
	checkpoint_now(f, &early);
	seg = slurp(f->seg, &seg_len);
	cps = slurp(f->cps, &cps_len);
	append_notes(f, f->store, "t", 5, "second");
	checkpoint_now(f, &pin.cp);
	assert_int_equal(pin.cp.size, 11);

	/* a pin at an earlier size of the same log is fine */
	{
		struct lgfs_audit_pin ok = { early, "an older checkpoint" };

		audit(f, &rep, &ok, 1);
		assert_int_equal(rep.nfindings, 0);
		lgfs_audit_report_free(&rep);
	}
	spit(f->seg, seg, seg_len);
	spit(f->cps, cps, cps_len);
	audit(f, &rep, NULL, 0); /* alone, the cut log is consistent */
	assert_int_equal(rep.nfindings, 0);
	lgfs_audit_report_free(&rep);
	audit(f, &rep, &pin, 1);
	assert_int_equal(rep.nfindings, 1);
	assert_string_equal(rep.findings[0].kind, "rollback");
	assert_int_equal(rep.findings[0].level, LGFS_FINDING_PIN);
	assert_int_equal(rep.findings[0].index, 6);
	assert_int_equal(rep.first_bad, 6);
	assert_non_null(strstr(rep.findings[0].message, "the log has 6 entries"));
	assert_non_null(strstr(rep.findings[0].message, "covers 11"));
	assert_non_null(strstr(rep.findings[0].message, "your last verified checkpoint"));
	lgfs_audit_report_free(&rep);

	/* pin findings come before the entries' own findings */
	seg[seg_len - CHECK - 3] ^= 0x10; /* inside the last record: its commitment fails */
	{
		size_t offs[16], n = frame_offsets(seg, seg_len, offs, 16);

		fix_check(seg, offs[n - 1]);
	}
	spit(f->seg, seg, seg_len);
	audit(f, &rep, &pin, 1);
	assert_true(rep.nfindings >= 2);
	assert_string_equal(rep.findings[0].kind, "rollback");
	assert_int_equal(rep.findings[1].level, LGFS_FINDING_LEDGER);
	assert_int_equal(rep.findings[1].index, 5);
	assert_int_equal(rep.first_bad, 5); /* the damaged entry is the headline */
	lgfs_audit_report_free(&rep);
	free(seg);
	free(cps);
}

/* Cut back, then a different future written with the legitimate key. */
static void test_fork(void **state)
{
	struct fixture *f = *state;
	struct lgfs_audit_report rep;
	struct lgfs_audit_pin pin = { .label = "--trusted cp" };
	uint8_t *seg, *cps;
	size_t seg_len, cps_len;
	char tree[256];

	create_in(f, f->store, "t");
	append_notes(f, f->store, "t", 5, "first");
	seg = slurp(f->seg, &seg_len);
	cps = slurp(f->cps, &cps_len);
	append_notes(f, f->store, "t", 5, "second");
	checkpoint_now(f, &pin.cp);

	spit(f->seg, seg, seg_len);
	spit(f->cps, cps, cps_len);
	snprintf(tree, sizeof(tree), "%s/tree", f->voldir);
	unlink(tree); /* derived: rebuilt from the log */
	/* The forger holds the key but not the user's trust state (the
	 * user's own writer would refuse to write on a cut log). */
	{
		char *mine = strdup(getenv("LEDGERFS_STATE_DIR")), forger[128];
		struct lgfs_ledger *l;

		assert_int_equal(lgfs_ledger_open(&l, f->store, "t", f->key, 0), LGFS_ECORRUPT);
		snprintf(forger, sizeof(forger), "%s/forger-state", f->dir);
		setenv("LEDGERFS_STATE_DIR", forger, 1);
		append_notes(f, f->store, "t", 5, "another future");
		append_notes(f, f->store, "t", 3, "and more");
		setenv("LEDGERFS_STATE_DIR", mine, 1);
		free(mine);
	}
	audit(f, &rep, NULL, 0);
	assert_int_equal(rep.nfindings, 0); /* alone, the forked log is consistent */
	assert_int_equal(rep.entries, 14);
	lgfs_audit_report_free(&rep);

	audit(f, &rep, &pin, 1);
	assert_int_equal(rep.nfindings, 1);
	assert_string_equal(rep.findings[0].kind, "fork");
	assert_int_equal(rep.findings[0].index, 10);
	assert_int_equal(rep.first_bad, 10);
	assert_non_null(strstr(rep.findings[0].message, "--trusted cp"));
	lgfs_audit_report_free(&rep);
	free(seg);
	free(cps);
}

/* The directory holds another volume of the same name, made with the same
 * key in another store. */
static void test_other_volume_same_name_and_key(void **state)
{
	struct fixture *f = *state;
	struct lgfs_audit_report rep;
	struct lgfs_audit_pin pin = { .label = "your last verified checkpoint" };
	char store2[128], cmd[512];

	make_volume(f);
	checkpoint_now(f, &pin.cp);
	snprintf(store2, sizeof(store2), "%s/store2", f->dir);
	create_in(f, store2, "t");
	append_notes(f, store2, "t", 10, "other");
	snprintf(cmd, sizeof(cmd), "rm -rf %s && cp -a %s/volumes/t %s", f->voldir, store2, f->voldir);
	assert_int_equal(system(cmd), 0);
	audit(f, &rep, NULL, 0);
	assert_int_equal(rep.nfindings, 0);
	assert_string_not_equal(rep.origin, pin.cp.origin);
	lgfs_audit_report_free(&rep);
	audit(f, &rep, &pin, 1);
	assert_int_equal(rep.nfindings, 1);
	assert_string_equal(rep.findings[0].kind, "consistency");
	assert_non_null(strstr(rep.findings[0].message, "another volume's log"));
	assert_int_equal(rep.first_bad, 0);
	lgfs_audit_report_free(&rep);
}

static void test_genesis_name_is_dir_name(void **state)
{
	struct fixture *f = *state;
	struct lgfs_audit_report rep;
	char other[200];

	make_volume(f);
	snprintf(other, sizeof(other), "%s/volumes/u", f->store);
	assert_int_equal(rename(f->voldir, other), 0);
	assert_int_equal(lgfs_audit_volume(&rep, other, NULL), 0);
	assert_int_equal(rep.nfindings, 1);
	assert_string_equal(rep.findings[0].kind, "genesis");
	assert_int_equal(rep.first_bad, 0);
	assert_non_null(strstr(rep.findings[0].message, "'t'"));
	assert_non_null(strstr(rep.findings[0].message, "'u'"));
	lgfs_audit_report_free(&rep);
	/* a trailing slash or another spelling of the right directory is fine */
	assert_int_equal(rename(other, f->voldir), 0);
	snprintf(other, sizeof(other), "%s/volumes/./t/", f->store);
	assert_int_equal(lgfs_audit_volume(&rep, other, NULL), 0);
	assert_int_equal(rep.nfindings, 0);
	lgfs_audit_report_free(&rep);
}

/* Pin findings are kept even when the stored findings are full. */
static void test_pin_finding_survives_many(void **state)
{
	struct lgfs_audit_report rep;
	size_t i;

	(void)state;
	memset(&rep, 0, sizeof(rep));
	for (i = 0; i < LGFS_FINDING_LEVELS; i++)
		rep.level_first[i] = LGFS_NO_INDEX;
	rep.level = LGFS_FINDING_FS;
	for (i = 0; i < LGFS_AUDIT_MAX_STORED + 10; i++)
		lgfs_audit_add(&rep, 100 + i, "index differs", "x");
	rep.level = LGFS_FINDING_LEDGER;
	lgfs_audit_add(&rep, 500000, "signature", "late ledger finding");
	rep.level = LGFS_FINDING_PIN;
	lgfs_audit_add(&rep, 7, "rollback", "pin");
	lgfs_audit_sort(&rep);
	assert_int_equal(rep.nfindings, LGFS_AUDIT_MAX_STORED + 12);
	assert_int_equal(rep.nstored, LGFS_AUDIT_MAX_STORED);
	assert_string_equal(rep.findings[0].kind, "rollback");
	assert_int_equal(rep.first_bad, 7);
	assert_int_equal(lgfs_audit_count_upto(&rep, LGFS_FINDING_LEDGER), 2);
	lgfs_audit_report_free(&rep);
}

/* ---- the command line ---- */

static const char *bin(void)
{
	const char *b = getenv("LEDGERFS_BIN");

	return b ? b : "build/ledgerfs";
}

/* Run a shell command, capture stdout (and stderr when asked), exit status. */
static int run(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[2048];
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

/* SHA-256 over every file of a tree (paths, modes, bytes), to prove a
 * command changed nothing. */
static void tree_hash(uint8_t out[32], const char *dir)
{
	char cmd[512], line[64];
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "cd %s && find . -printf '%%p %%m %%s\\n' | LC_ALL=C sort | sha256sum; "
		 "cd %s && find . -type f | LC_ALL=C sort | xargs -r sha256sum | sha256sum",
		 dir, dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	{
		struct lgfs_sha256_ctx *c = lgfs_sha256_ctx_new();

		while (fgets(line, sizeof(line), p))
			lgfs_sha256_ctx_update(c, line, strlen(line));
		lgfs_sha256_ctx_final(c, out);
	}
	assert_int_equal(pclose(p), 0);
}

static void cli_volume(struct fixture *f)
{
	char out[4096], cmd[512];

	snprintf(cmd, sizeof(cmd), "%s/key", f->dir);
	setenv("LEDGERFS_KEY", cmd, 1);
	setenv("LEDGERFS_STORE", f->store, 1);
	assert_int_equal(run(out, sizeof(out), "%s keygen --name pins@test 2>/dev/null", bin()), 0);
	assert_int_equal(run(out, sizeof(out), "%s init t 2>/dev/null", bin()), 0);
	assert_int_equal(run(out, sizeof(out), "echo one | %s put t /a - 2>/dev/null", bin()), 0);
	assert_int_equal(run(out, sizeof(out), "echo two | %s put t /b - 2>/dev/null", bin()), 0);
}

static void test_cli_trusted(void **state)
{
	struct fixture *f = *state;
	char out[16384];
	uint8_t *seg, *cps;
	size_t seg_len, cps_len;

	cli_volume(f);
	seg = slurp(f->seg, &seg_len);
	cps = slurp(f->cps, &cps_len);
	assert_int_equal(run(out, sizeof(out), "%s checkpoint t > %s/cp1", bin(), f->dir), 0);
	assert_int_equal(run(out, sizeof(out), "%s key show > %s/vkey", bin(), f->dir), 0);
	assert_int_equal(run(out, sizeof(out), "echo three | %s put t /c - 2>/dev/null", bin()), 0);
	assert_int_equal(run(out, sizeof(out), "%s checkpoint t > %s/cp2", bin(), f->dir), 0);
	/* good signature, consistent log: exit 0, from a key string or a file */
	assert_int_equal(run(out, sizeof(out), "%s audit t --trusted %s/cp1 --key \"$(cat %s/vkey)\" 2>&1", bin(),
			     f->dir, f->dir), 0);
	assert_non_null(strstr(out, "audit:       OK"));
	assert_int_equal(run(out, sizeof(out), "%s audit t --trusted %s/cp2 --key %s/vkey 2>&1", bin(), f->dir,
			     f->dir), 0);
	/* another key: exit 1, the finding says so */
	assert_int_equal(run(out, sizeof(out), "LEDGERFS_KEY=%s/k2 %s keygen --name other@test >/dev/null 2>&1 && "
					       "LEDGERFS_KEY=%s/k2 %s key show > %s/vkey2", f->dir, bin(), f->dir, bin(),
			     f->dir), 0);
	assert_int_equal(run(out, sizeof(out), "%s audit t --trusted %s/cp2 --key %s/vkey2 2>&1", bin(), f->dir,
			     f->dir), 1);
	assert_non_null(strstr(out, "[trusted]"));
	/* a bad signature (the size edited) */
	assert_int_equal(run(out, sizeof(out), "sed '2s/.*/99/' %s/cp2 > %s/cpbad", f->dir, f->dir), 0);
	assert_int_equal(run(out, sizeof(out), "%s audit t --trusted %s/cpbad --key %s/vkey 2>&1", bin(), f->dir,
			     f->dir), 1);
	assert_non_null(strstr(out, "[trusted]"));
	assert_non_null(strstr(out, "does not verify"));
	/* the store cut back to cp1's time: --trusted cp2 catches it */
	spit(f->seg, seg, seg_len);
	spit(f->cps, cps, cps_len);
	assert_int_equal(run(out, sizeof(out), "%s audit t --trusted %s/cp2 --key %s/vkey 2>&1", bin(), f->dir,
			     f->dir), 1);
	assert_non_null(strstr(out, "  [rollback]"));
	assert_int_equal(run(out, sizeof(out), "%s audit --json t --trusted %s/cp2 --key %s/vkey", bin(), f->dir,
			     f->dir), 1);
	assert_non_null(strstr(out, "\"findings\":[{\"index\":"));
	assert_non_null(strstr(out, "\"level\":\"pin\",\"kind\":\"rollback\""));
	/* usage errors */
	assert_int_equal(run(out, sizeof(out), "%s audit t --trusted %s/cp2 2>&1", bin(), f->dir), 2);
	assert_int_equal(run(out, sizeof(out), "%s audit t --trusted %s/nonexistent --key %s/vkey 2>&1", bin(), f->dir,
			     f->dir), 1);
	free(seg);
	free(cps);
}

/* The user's own pin: a clean audit saves it (outside the store), a later
 * rollback is found by the next audit; audit, status and checkpoint leave
 * every file of the store as it was. */
/* `ledgerfs rebuild` works (it holds the writer's lock itself), is refused
 * while a writer holds the volume, and leaves an index that audits clean and
 * that readers trust. */
static void test_cli_rebuild(void **state)
{
	struct fixture *f = *state;
	char out[16384];

	cli_volume(f);
	assert_int_equal(run(out, sizeof(out), "echo three | %s put t /c - 2>/dev/null", bin()), 0);
	assert_int_equal(run(out, sizeof(out), "%s rebuild t 2>&1", bin()), 0);
	assert_non_null(strstr(out, "rebuilt the index"));
	assert_int_equal(run(out, sizeof(out), "%s audit t 2>&1", bin()), 0);
	assert_non_null(strstr(out, "compared with the log"));
	assert_int_equal(run(out, sizeof(out), "%s get t /c", bin()), 0);
	assert_string_equal(out, "three\n");
	/* a writer holds the lock: refused */
	assert_int_equal(run(out, sizeof(out), "flock %s/volumes/t/log/lock %s rebuild t 2>&1", f->store, bin()), 1);
	assert_non_null(strstr(out, "in use"));
}

static void test_cli_own_pin_and_read_only(void **state)
{
	struct fixture *f = *state;
	char out[16384], path[256];
	uint8_t before[32], after[32], *seg, *cps;
	size_t seg_len, cps_len;

	cli_volume(f);
	seg = slurp(f->seg, &seg_len);
	cps = slurp(f->cps, &cps_len);
	assert_int_equal(run(out, sizeof(out), "echo three | %s put t /c - 2>/dev/null", bin()), 0);
	tree_hash(before, f->store);
	assert_int_equal(run(out, sizeof(out), "%s audit t 2>&1", bin()), 0);
	assert_non_null(strstr(out, "audit:       OK"));
	assert_int_equal(run(out, sizeof(out), "%s status t 2>&1", bin()), 0);
	assert_non_null(strstr(out, "you verified a checkpoint"));
	assert_int_equal(run(out, sizeof(out), "%s checkpoint t 2>&1", bin()), 0);
	assert_int_equal(run(out, sizeof(out), "%s checkpoint --consistency 2 t 2>&1", bin()), 0);
	tree_hash(after, f->store);
	assert_memory_equal(before, after, 32);
	snprintf(path, sizeof(path), "%s/state/trusted/origins", f->dir);
	assert_int_equal(access(path, F_OK), 0);

	/* cut back: the next audit reports it first, and changes nothing */
	spit(f->seg, seg, seg_len);
	spit(f->cps, cps, cps_len);
	tree_hash(before, f->store);
	assert_int_equal(run(out, sizeof(out), "%s audit t 2>&1", bin()), 1);
	assert_non_null(strstr(out, "FAILED"));
	{
		char *first = strstr(out, "  [");

		assert_non_null(first);
		assert_int_equal(strncmp(first, "  [rollback]", 12), 0);
	}
	/* status refuses the rolled-back volume too, saying why */
	assert_int_equal(run(out, sizeof(out), "%s status t 2>&1", bin()), 1);
	assert_non_null(strstr(out, "cut back"));
	tree_hash(after, f->store);
	assert_memory_equal(before, after, 32);
	free(seg);
	free(cps);
}

/* checkpoint --consistency OLD: the printed proof verifies against an old
 * checkpoint's root and the new note's. */
static void test_cli_consistency(void **state)
{
	struct fixture *f = *state;
	char out[16384], old[4096], *p, *nl;
	struct lgfs_note *n = NULL;
	struct lgfs_checkpoint oc, nc;
	uint8_t proof[64][32];
	unsigned long long o, nw;
	size_t np, i, plen;

	cli_volume(f);
	assert_int_equal(run(old, sizeof(old), "%s checkpoint t", bin()), 0);
	assert_int_equal(lgfs_note_parse(&n, old, strlen(old)), 0);
	assert_int_equal(lgfs_checkpoint_parse(&oc, n->text, n->text_len), 0);
	lgfs_note_free(n);
	assert_int_equal(run(out, sizeof(out), "echo three | %s put t /c - 2>/dev/null", bin()), 0);
	assert_int_equal(run(out, sizeof(out), "echo four | %s put t /d - 2>/dev/null", bin()), 0);
	assert_int_equal(run(out, sizeof(out), "%s checkpoint --consistency %llu t", bin(),
			     (unsigned long long)oc.size), 0);
	assert_int_equal(sscanf(out, "old %llu\nnew %llu\nproof %zu\n", &o, &nw, &np), 3);
	assert_int_equal(o, oc.size);
	assert_true(nw > o);
	assert_true(np > 0 && np <= 64);
	p = out;
	for (i = 0; i < 3; i++)
		p = strchr(p, '\n') + 1;
	for (i = 0; i < np; i++) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		assert_int_equal(lgfs_b64_decode(proof[i], 32, &plen, p, (size_t)(nl - p)), 0);
		assert_int_equal(plen, 32);
		p = nl + 1;
	}
	assert_int_equal(lgfs_note_parse(&n, p, strlen(p)), 0);
	assert_int_equal(lgfs_checkpoint_parse(&nc, n->text, n->text_len), 0);
	lgfs_note_free(n);
	assert_int_equal(nc.size, nw);
	assert_int_equal(lgfs_merkle_verify_consistency(oc.size, nc.size, oc.root, nc.root,
							(const uint8_t(*)[32])proof, np), 0);
	/* a forged old root does not verify against it */
	oc.root[0] ^= 1;
	assert_int_not_equal(lgfs_merkle_verify_consistency(oc.size, nc.size, oc.root, nc.root,
							    (const uint8_t(*)[32])proof, np), 0);
	/* an old size beyond the log is refused */
	assert_int_equal(run(out, sizeof(out), "%s checkpoint --consistency %llu t 2>&1", bin(), nw + 1), 1);
	assert_non_null(strstr(out, "fewer than"));
}

/* The headline names the damaged entry: a later write record of a file
 * edited in place (commitment fails) is the first bad index, not the
 * record that created the file, although the index differs from the replay
 * for that file. */
static void test_cli_headline_is_damaged_entry(void **state)
{
	struct fixture *f = *state;
	char out[16384], want[64];
	size_t len, offs[64], n;
	uint8_t *seg;

	cli_volume(f);
	assert_int_equal(run(out, sizeof(out), "echo changed | %s put t /a - 2>/dev/null", bin()), 0);
	assert_int_equal(run(out, sizeof(out), "echo other | %s put t /e - 2>/dev/null", bin()), 0);
	seg = slurp(f->seg, &len);
	n = frame_offsets(seg, len, offs, 64);
	assert_true(n >= 6);
	/* the write record of the second version of /a (inode 2) */
	assert_int_equal(run(out, sizeof(out), "%s log --json t", bin()), 0);
	{
		char *line, *next;
		long idx = -1, cur;

		for (line = out; line && *line; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = '\0';
			if (sscanf(line, "{\"index\":%ld,", &cur) == 1 && strstr(line, "\"op\":\"write\"") &&
			    strstr(line, "\"ino\":2,") && cur > 2)
				idx = cur;
		}
		assert_true(idx > 2 && (size_t)idx < n);
		{
			size_t off = offs[idx], e = lgfs_be32_get(seg + off + 12), r = lgfs_be32_get(seg + off + 16);

			seg[off + HDR + e + r / 2] ^= 0x20;
			fix_check(seg, off);
		}
		spit(f->seg, seg, len);
		assert_int_equal(run(out, sizeof(out), "LEDGERFS_STATE_DIR=%s/fresh %s audit t 2>&1", f->dir, bin()), 1);
		snprintf(want, sizeof(want), "first bad index %ld\n", idx);
		if (!strstr(out, want))
			fail_msg("report lacks '%s':\n%s", want, out);
		{
			char *first = strstr(out, "  [");

			assert_non_null(first);
			assert_int_equal(strncmp(first, "  [commitment]", 14), 0);
		}
	}
	free(seg);
}

/* The volume's index is a cache: compared only when its stamp says it
 * reflects exactly the audited log. Behind or missing: no finding, the
 * report says why. Same stamp, other content: a finding naming the path,
 * escaped. */
static void test_cli_index_cache_rules(void **state)
{
	struct fixture *f = *state;
	char out[16384], tool[512];
	const char *build = getenv("LEDGERFS_BUILD");

	cli_volume(f);
	assert_int_equal(run(out, sizeof(out), "cp -a %s/index %s/index.old", f->voldir, f->dir), 0);
	assert_int_equal(run(out, sizeof(out), "echo three | %s put t /c - 2>/dev/null", bin()), 0);
	assert_int_equal(run(out, sizeof(out), "%s audit t 2>&1", bin()), 0);
	assert_non_null(strstr(out, "index:       compared with the log's state"));
	/* an index behind the log */
	assert_int_equal(run(out, sizeof(out), "mv %s/index %s/index.cur && cp -a %s/index.old %s/index", f->voldir,
			     f->dir, f->dir, f->voldir), 0);
	assert_int_equal(run(out, sizeof(out), "%s audit t 2>&1", bin()), 0);
	assert_non_null(strstr(out, "audit:       OK"));
	assert_non_null(strstr(out, "not compared (it reflects 5 entries, the log holds 7)"));
	/* no index at all */
	assert_int_equal(run(out, sizeof(out), "rm -rf %s/index", f->voldir), 0);
	assert_int_equal(run(out, sizeof(out), "%s audit t 2>&1", bin()), 0);
	assert_non_null(strstr(out, "not compared (there is none"));
	assert_int_equal(access(f->voldir, F_OK), 0);
	{
		char idx[256];

		snprintf(idx, sizeof(idx), "%s/index", f->voldir);
		assert_int_equal(access(idx, F_OK), -1); /* audit did not create it */
	}
	/* the current index with a file in it that no record made */
	assert_int_equal(run(out, sizeof(out), "cp -a %s/index.cur %s/index", f->dir, f->voldir), 0);
	snprintf(tool, sizeof(tool), "%s/tests/tools/lgfs_index_tamper", build ? build : "build");
	assert_int_equal(run(out, sizeof(out), "%s %s ghost \"$(printf 'gh\\033[2Jost')\"", tool, f->voldir), 0);
	assert_int_equal(run(out, sizeof(out), "%s audit t 2>&1", bin()), 1);
	assert_non_null(strstr(out, "[index not backed by log] /gh\\x1b[2Jost"));
	assert_null(strchr(out, '\033'));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clean_reports_verified_note, setup, teardown),
		cmocka_unit_test_setup_teardown(test_withheld_is_finding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_volume_same_name_and_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_genesis_name_is_dir_name, setup, teardown),
		cmocka_unit_test(test_pin_finding_survives_many),
		cmocka_unit_test_setup_teardown(test_cli_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli_rebuild, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli_own_pin_and_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli_consistency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli_headline_is_damaged_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli_index_cache_rules, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
