/*
 * test_attacks.c — an intruder who can write every file of the store but
 * holds no signing key, one test per class of attack, on small real volumes
 * made with the ledgerfs command. Each attack edits store files byte by byte
 * (tests/tools/lgfs_forge, per docs/FORMAT.md, recomputing frame checks,
 * pack CRCs and sidecars like a careful forger), then checks:
 *   (a) `audit` exits 1 and its first finding (`audit --json`) names the
 *       damaged entry's index or the path, with the expected kind;
 *   (b) `get` fails and prints none of the forged or stale bytes;
 *   (c) a read-only mount refuses, or the read fails, never wrong bytes;
 *   (d) the writer refuses: `checkpoint --new`, `put` and a writable mount
 *       fail and the checkpoints file stays byte-identical;
 *   (e) audit, get, log and status leave every file of the store identical.
 * And the good side: a clean volume, one whose mount was killed with -9
 * while writing, and one that lost or had damaged only derived files all
 * audit with 0 findings and `get` serves the right bytes.
 *
 * Base volume "v" (by `put`): 0 genesis, 1 mkdir /docs, 2 create
 * /docs/a.txt, 3 write A1, 4 write A2, 5 create /docs/b.txt, 6 write B.
 * Inodes: /docs 2, a.txt 3, b.txt 6.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "attack_util.h"

#define A1 "A-one: invoice 2026-0001, total 100.00 EUR, as booked\n"
#define A2 "A-two: invoice 2026-0001, total 999.99 EUR, as corrected\n"
#define BB "B: delivery note 2026-0417 for invoice 2026-0001\n"
#define FORGED "FORGED: pay 1000000.00 EUR to account 6666\n"
#define OTHER "W: the content of another volume's a.txt\n"
#define FORK "FORK: invoice 2026-0001, total 0.00 EUR\n"

static struct av g_av;

static int fixture_setup(void **state)
{
	*state = &g_av;
	memset(&g_av, 0, sizeof(g_av));
	return 0;
}

static int fixture_teardown(void **state)
{
	av_cleanup(*state);
	return 0;
}

/* What an attack must and must not produce. */
struct want {
	const char *path;     /* volume path read by get and through mounts */
	const char *good;     /* the right content (NULL: none; any output is wrong) */
	const char *bad;      /* forged or stale bytes never to be served (NULL: none) */
	long long index;      /* index the first finding must name (-1: none) */
	long long index_hi;   /* when >= 0: any index in index..index_hi is accepted */
	int index_null_ok;    /* a first finding without an index is accepted */
	int any_index;        /* any index is accepted (damage outside the entries) */
	const char *name;     /* accepted instead of the index: part of the message or path */
	const char *kinds;    /* '|'-separated parts of the kind, one must match (NULL: any) */
	int read_ok_if_good;  /* get/mount may succeed when they serve exactly `good` */
	int nothing_cut;      /* writers must leave log and checkpoints byte-identical */
};

static const char *vol = AV_VOL;

/* ---- the checks ---- */

static void check_bytes(struct av *a, const char *what, int rc, const char *data, size_t len, const struct want *w)
{
	size_t glen = w->good ? strlen(w->good) : 0;
	int exact = w->good && len == glen && !memcmp(data, w->good, glen);

	if (w->bad && *w->bad && memmem(data, len, w->bad, strlen(w->bad)))
		av_fail(a, "%s served the forged/stale bytes of %s (exit %d)", what, w->path, rc);
	else if (len && (!w->good || len > glen || memcmp(data, w->good, len)))
		av_fail(a, "%s printed %zu wrong bytes of %s (exit %d): %.60s", what, len, w->path, rc, data);
	if (rc == 0 && !(w->read_ok_if_good && exact))
		av_fail(a, "%s of %s succeeded (exit 0, %zu bytes) instead of failing", what, w->path, len);
}

static int kind_matches(const char *kind, const char *kinds)
{
	char buf[256], *tok, *save = NULL;

	if (!kinds)
		return kind[0] != '\0';
	snprintf(buf, sizeof(buf), "%s", kinds);
	for (tok = strtok_r(buf, "|", &save); tok; tok = strtok_r(NULL, "|", &save))
		if (strstr(kind, tok))
			return 1;
	return 0;
}

/* (a) on the outputs of `audit` and `audit --json`. */
static void check_audit(struct av *a, const char *what, const struct av_out *text, const struct av_out *json,
			const struct want *w)
{
	struct av_finding f;
	int idx_ok, name_ok;

	if (text && text->rc != 1)
		av_fail(a, "(a) %s exited %d, not 1", what, text->rc);
	if (json->rc != 1)
		av_fail(a, "(a) %s --json exited %d, not 1", what, json->rc);
	av_parse_audit(json->data, &f);
	if (f.ok != 0)
		av_fail(a, "(a) %s --json: \"ok\" is not false", what);
	if (f.nfindings == 0) {
		av_fail(a, "(a) %s --json reports no finding", what);
		return;
	}
	idx_ok = w->any_index || (w->index >= 0 && f.index == w->index) ||
		 (w->index_hi >= 0 && f.index >= w->index && f.index <= w->index_hi) || (w->index_null_ok && f.index < 0);
	name_ok = w->name && (strstr(f.message, w->name) || strstr(f.path, w->name));
	if (!idx_ok && !name_ok)
		av_fail(a, "(a) %s: first finding is index %lld [%s] %s; expected index %lld%s%s", what, f.index, f.kind,
			f.message, w->index, w->name ? " or a finding naming " : "", w->name ? w->name : "");
	if (!kind_matches(f.kind, w->kinds))
		av_fail(a, "(a) %s: first finding's kind is '%s', expected one of '%s'", what, f.kind,
			w->kinds ? w->kinds : "(any)");
	if (f.index >= 0 && f.first_bad != f.index && !w->any_index)
		av_fail(a, "(a) %s: first_bad_index %lld is not the first finding's index %lld", what, f.first_bad,
			f.index);
}

/* Mount (opts: "-o ro" or ""), read w->path with cat, unmount. Returns 1
 * when it mounted. */
static int mount_and_read(struct av *a, const char *opts, const char *what, const struct want *w)
{
	struct av_out o;

	if (av_mount(a, opts) != 0)
		return 0;
	o = av_sh(a, "timeout -s KILL 20 cat %s%s", a->mp, w->path);
	check_bytes(a, what, o.rc, o.data, o.len, w);
	av_out_free(&o);
	av_umount(a);
	return 1;
}

/* (a), (b), (c), (e): audit, get, log, status; then a read-only mount. */
static void check_readers(struct av *a, const struct want *w)
{
	struct av_tree t0, t1;
	struct av_out at, aj, g, o;

	av_tree_hash(&t0, a->store);
	at = av_sh(a, "%s audit %s", av_bin(), vol);
	aj = av_sh(a, "%s audit --json %s", av_bin(), vol);
	g = av_sh(a, "%s get %s %s", av_bin(), vol, w->path);
	o = av_sh(a, "%s log %s", av_bin(), vol);
	av_out_free(&o);
	o = av_sh(a, "%s log --json %s", av_bin(), vol);
	av_out_free(&o);
	o = av_sh(a, "%s status %s", av_bin(), vol);
	av_out_free(&o);
	av_tree_hash(&t1, a->store);
	av_tree_diff(a, &t0, &t1, "audit/get/log/status");
	av_tree_free(&t0);
	av_tree_free(&t1);
	check_audit(a, "audit", &at, &aj, w);
	check_bytes(a, "(b) get", g.rc, g.data, g.len, w);
	mount_and_read(a, "-o ro", "(c) read through a read-only mount", w);
	av_out_free(&at);
	av_out_free(&aj);
	av_out_free(&g);
}

/* (d): every writable open fails and signs nothing. */
static void check_writer(struct av *a, const struct want *w)
{
	char cppath[256], logdir[256];
	struct av_tree l0, l1;
	uint8_t *cp0, *cp1;
	size_t n0, n1;

	snprintf(cppath, sizeof(cppath), "%s/checkpoints", a->vdir);
	snprintf(logdir, sizeof(logdir), "%s/log", a->vdir);
	cp0 = av_slurp(cppath, &n0);
	av_tree_hash(&l0, logdir);
	if (av_rc(a, "%s checkpoint --new %s", av_bin(), vol) == 0)
		av_fail(a, "(d) 'checkpoint --new' signed a checkpoint over the attack");
	if (av_put(a, "/docs/probe.txt", "probe\n") == 0)
		av_fail(a, "(d) 'put' wrote to the attacked volume");
	if (mount_and_read(a, "", "(d) read through a writable mount", w))
		av_fail(a, "(d) a writable mount of the attacked volume was accepted");
	cp1 = av_slurp(cppath, &n1);
	if (!cp0 != !cp1 || n0 != n1 || (cp0 && memcmp(cp0, cp1, n0)))
		av_fail(a, "(d) the checkpoints file changed: %s%zu -> %s%zu bytes", cp0 ? "" : "absent ", n0,
			cp1 ? "" : "absent ", n1);
	av_tree_hash(&l1, logdir);
	av_tree_keep(&l0, ".seg ");
	av_tree_keep(&l1, ".seg ");
	if (w->nothing_cut)
		av_tree_diff(a, &l0, &l1, "a writer (log segments)");
	av_tree_free(&l0);
	av_tree_free(&l1);
	free(cp0);
	free(cp1);
}

static void check_all(struct av *a, const struct want *w)
{
	check_readers(a, w);
	check_writer(a, w);
}

/* ---- volumes ---- */

static void forge(struct av *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void forge(struct av *a, const char *fmt, ...)
{
	char args[2048];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	rc = av_rc(a, "%s %s", av_forge(), args);
	if (rc != 0)
		fail_msg("lgfs_forge %s: exit %d", args, rc);
}

/* The base volume; checks that the log is laid out as the header says. */
static void base(struct av *a)
{
	static const char *ops = "0 1\n1 258\n2 257\n3 261\n4 261\n5 257\n6 261\n";
	struct av_out o;
	char line[64];
	const char *p;

	assert_int_equal(av_setup(a), 0);
	assert_int_equal(av_put(a, "/docs/a.txt", A1), 0);
	assert_int_equal(av_put(a, "/docs/a.txt", A2), 0);
	assert_int_equal(av_put(a, "/docs/b.txt", BB), 0);
	o = av_sh(a, "%s frames %s | cut -d\" \" -f1,2", av_forge(), a->vdir);
	assert_int_equal(o.rc, 0);
	for (p = ops; *p; p = strchr(p, '\n') + 1) {
		snprintf(line, sizeof(line), "%.*s", (int)(strchr(p, '\n') - p + 1), p);
		if (!strstr(o.data, line))
			fail_msg("base volume: expected frame '%.*s' in:\n%s", (int)strlen(line) - 1, line, o.data);
	}
	av_out_free(&o);
}

static void snapshot(struct av *a)
{
	assert_int_equal(av_rc(a, "cp -a %s %s.orig && cp -a %s %s.orig", a->store, a->store, a->state, a->state), 0);
}

/* Back to the snapshot: store and the user's state. */
static void restore(struct av *a)
{
	av_umount(a);
	assert_int_equal(av_rc(a, "rm -rf %s %s && cp -a %s.orig %s && cp -a %s.orig %s", a->store, a->state,
			       a->store, a->store, a->state, a->state),
			 0);
}

/* Save the latest checkpoint (as an auditor would) and audit once, which
 * pins the volume in the user's state. */
static void save_and_pin(struct av *a, char *saved, size_t cap)
{
	snprintf(saved, cap, "%s/saved.checkpoint", a->dir);
	assert_int_equal(av_rc(a, "%s checkpoint %s > %s", av_bin(), vol, saved), 0);
	assert_int_equal(av_rc(a, "%s audit %s", av_bin(), vol), 0);
}

/* `audit --trusted SAVED --key VKEY` with an empty state of its own. */
static void check_trusted(struct av *a, const char *saved, const struct want *w)
{
	char fresh[160];
	struct av_out aj;

	snprintf(fresh, sizeof(fresh), "%s/state-fresh", a->dir);
	av_rc(a, "rm -rf %s && mkdir -m 700 %s", fresh, fresh);
	setenv("LEDGERFS_STATE_DIR", fresh, 1);
	aj = av_sh(a, "%s audit --json --trusted %s --key '%s' %s", av_bin(), saved, a->vkey, vol);
	setenv("LEDGERFS_STATE_DIR", a->state, 1);
	check_audit(a, "audit --trusted", NULL, &aj, w);
	av_out_free(&aj);
}

/* (a) for a user who never audited the volume (an empty state of its own):
 * what the log's own bytes show, without any pinned checkpoint. */
static void check_new_user_audit(struct av *a, const struct want *w)
{
	char fresh[160];
	struct av_out aj;

	snprintf(fresh, sizeof(fresh), "%s/state-new-user", a->dir);
	av_rc(a, "rm -rf %s && mkdir -m 700 %s", fresh, fresh);
	setenv("LEDGERFS_STATE_DIR", fresh, 1);
	aj = av_sh(a, "%s audit --json %s", av_bin(), vol);
	setenv("LEDGERFS_STATE_DIR", a->state, 1);
	check_audit(a, "audit by a new user", NULL, &aj, w);
	av_out_free(&aj);
}

static void expect_clean(struct av *a, const char *what)
{
	struct av_tree t0, t1;
	struct av_out aj, ga, gb;
	struct av_finding f;

	av_tree_hash(&t0, a->store);
	aj = av_sh(a, "%s audit --json %s", av_bin(), vol);
	ga = av_sh(a, "%s get %s /docs/a.txt", av_bin(), vol);
	gb = av_sh(a, "%s get %s /docs/b.txt", av_bin(), vol);
	av_rc(a, "%s log %s", av_bin(), vol);
	av_rc(a, "%s status %s", av_bin(), vol);
	av_tree_hash(&t1, a->store);
	av_tree_diff(a, &t0, &t1, what);
	av_parse_audit(aj.data, &f);
	if (aj.rc != 0 || f.ok != 1 || f.nfindings != 0)
		av_fail(a, "%s: audit exited %d with %d findings, first: index %lld [%s] %s", what, aj.rc, f.nfindings,
			f.index, f.kind, f.message);
	if (ga.rc != 0 || strcmp(ga.data, A2))
		av_fail(a, "%s: get /docs/a.txt exited %d with %zu bytes, not the right ones", what, ga.rc, ga.len);
	if (gb.rc != 0 || strcmp(gb.data, BB))
		av_fail(a, "%s: get /docs/b.txt exited %d with %zu bytes, not the right ones", what, gb.rc, gb.len);
	av_tree_free(&t0);
	av_tree_free(&t1);
	av_out_free(&aj);
	av_out_free(&ga);
	av_out_free(&gb);
}

/* ---- the good side ---- */

static void test_clean_volume(void **state)
{
	struct av *a = *state;
	char saved[160], fresh[160];
	struct av_out o;

	base(a);
	expect_clean(a, "clean volume");
	if (av_mount(a, "-o ro") != 0) {
		av_fail(a, "clean volume: read-only mount refused");
	} else {
		o = av_sh(a, "timeout -s KILL 20 cat %s/docs/a.txt", a->mp);
		if (o.rc != 0 || strcmp(o.data, A2))
			av_fail(a, "clean volume: read through the mount exited %d, %zu bytes", o.rc, o.len);
		av_out_free(&o);
		av_umount(a);
	}
	/* the writers work, and the log grows consistently with what a user
	 * pinned and an auditor saved */
	snprintf(saved, sizeof(saved), "%s/saved.checkpoint", a->dir);
	if (av_rc(a, "%s checkpoint %s > %s", av_bin(), vol, saved) != 0)
		av_fail(a, "clean volume: 'checkpoint' failed");
	if (av_rc(a, "%s checkpoint --new %s", av_bin(), vol) != 0)
		av_fail(a, "clean volume: 'checkpoint --new' failed");
	if (av_put(a, "/docs/c.txt", "c\n") != 0)
		av_fail(a, "clean volume: 'put' failed");
	if (av_mount(a, "") != 0) {
		av_fail(a, "clean volume: writable mount refused");
	} else {
		if (av_rc(a, "echo d > %s/docs/d.txt", a->mp) != 0)
			av_fail(a, "clean volume: writing through the mount failed");
		av_umount(a);
	}
	if (av_rc(a, "%s check-cps %s", av_forge(), a->vdir) != 0)
		av_fail(a, "clean volume: a stored checkpoint's root is not the log's");
	expect_clean(a, "clean volume after checkpoint --new, put and a mount");
	snprintf(fresh, sizeof(fresh), "%s/state-auditor", a->dir);
	av_rc(a, "mkdir -m 700 %s", fresh);
	setenv("LEDGERFS_STATE_DIR", fresh, 1);
	o = av_sh(a, "%s audit --json --trusted %s --key '%s' %s", av_bin(), saved, a->vkey, vol);
	setenv("LEDGERFS_STATE_DIR", a->state, 1);
	if (o.rc != 0)
		av_fail(a, "clean volume: 'audit --trusted' of a saved earlier checkpoint exited %d: %.300s", o.rc, o.data);
	av_out_free(&o);
	av_done(a);
}

/* Writer child: files f<i> of deterministic content into the mount, each
 * fsync'd and then listed in the progress file. */
static void fill(unsigned i, uint8_t *p, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		p[k] = (uint8_t)((i * 131 + k * 7 + (k >> 9)) & 0xff);
}

/* Mostly small files (staged), every fifth one over 1 MiB (streamed). */
#define FMAX (3u << 20)
static size_t fsize(unsigned i)
{
	return i % 5 == 4 ? (2u << 20) + (i * 7919u) % (1u << 20) : 1000 + (i * 7919u) % 300000;
}

static void writer_child(const char *mp, const char *progress, unsigned first)
{
	static uint8_t buf[FMAX];
	unsigned i;

	for (i = first; i < first + 400; i++) {
		char path[256];
		size_t n = fsize(i);
		int fd, pf;

		snprintf(path, sizeof(path), "%s/f%04u", mp, i);
		fill(i, buf, n);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			_exit(0);
		if (write(fd, buf, n) != (ssize_t)n || fsync(fd) || close(fd))
			_exit(0);
		pf = open(progress, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dprintf(pf, "%u\n", i);
		close(pf);
	}
	_exit(0);
}

static void test_kill9_then_remount(void **state)
{
	struct av *a = *state;
	static uint8_t want[FMAX];
	char progress[160];
	static unsigned done[1000];
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid(), round, first = 0, n;

	base(a);
	snprintf(progress, sizeof(progress), "%s/progress", a->dir);
	srand(seed);
	for (round = 0; round < 2; round++) {
		unsigned delay = 150 + (unsigned)rand() % 1200, i;
		struct av_out o;
		pid_t w;
		int st;
		FILE *pf;

		assert_int_equal(av_mount(a, ""), 0);
		w = fork();
		assert_true(w >= 0);
		if (w == 0)
			writer_child(a->mp, progress, first);
		usleep(delay * 1000);
		av_kill9(a);
		kill(w, SIGKILL);
		waitpid(w, &st, 0);
		/* remount (recovery by the writer), unmount */
		if (av_mount(a, "") != 0) {
			av_fail(a, "round %u (seed %u, kill after %u ms): remount after kill -9 refused", round, seed,
				delay);
			break;
		}
		av_umount(a);
		expect_clean(a, "after kill -9 and remount");
		/* every fsync'd file through a read-only mount, a few with get */
		pf = fopen(progress, "r");
		n = 0;
		while (pf && n < 1000 && fscanf(pf, "%u", &done[n]) == 1)
			n++;
		if (pf)
			fclose(pf);
		for (i = 0; i < n; i++)
			if (done[i] + 1 > first)
				first = done[i] + 1;
		for (i = 0; i < n; i += 1 + n / 4) {
			o = av_sh(a, "%s get %s /f%04u", av_bin(), vol, done[i]);
			fill(done[i], want, fsize(done[i]));
			if (o.rc != 0 || o.len != fsize(done[i]) || memcmp(o.data, want, o.len))
				av_fail(a, "round %u (seed %u, kill after %u ms): fsync'd file f%04u: get exited %d with "
					   "%zu bytes, not its content",
					round, seed, delay, done[i], o.rc, o.len);
			av_out_free(&o);
		}
		if (n && av_mount(a, "-o ro") != 0) {
			av_fail(a, "round %u: read-only mount refused after kill -9 and remount", round);
		} else if (n) {
			o = av_sh(a, "cd %s && for f in f*; do timeout -s KILL 20 sha256sum $f; done", a->mp);
			for (i = 0; i < n; i++) {
				char line[128], hex[65];
				uint8_t h[32];

				fill(done[i], want, fsize(done[i]));
				lgfs_sha256(h, want, fsize(done[i]));
				lgfs_hex(hex, h, 32);
				snprintf(line, sizeof(line), "%s  f%04u\n", hex, done[i]);
				if (!strstr(o.data, line))
					av_fail(a, "round %u (seed %u, kill after %u ms): fsync'd file f%04u reads wrong "
						   "through the mount",
						round, seed, delay, done[i]);
			}
			av_out_free(&o);
			av_umount(a);
		}
		first += 1;
	}
	av_done(a);
}

static void test_derived_files_lost_or_damaged(void **state)
{
	static const char *damage[] = {
		"rm -rf %s/index",
		"rm -f %s/tree",
		"TREE", /* every node of the tree random */
		"rm -f %s/log/*.idx",
		"printf 'not offsets at all' > %s/log/00000000000000000000.idx",
		"rm -rf %s/chunks/index",
		"rm -rf %s/index %s/tree %s/log/*.idx %s/chunks/index",
	};
	struct av *a = *state;
	size_t i;

	base(a);
	/* a mount leaves its index in step; derive everything once */
	assert_int_equal(av_mount(a, ""), 0);
	av_umount(a);
	snapshot(a);
	for (i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
		char what[160];

		restore(a);
		if (!strcmp(damage[i], "TREE"))
			forge(a, "tree-poison %s 0", a->vdir);
		else
			assert_int_equal(av_rc(a, damage[i], a->vdir, a->vdir, a->vdir, a->vdir), 0);
		snprintf(what, sizeof(what), "derived damage '%s'", damage[i]);
		expect_clean(a, what);
	}
	av_done(a);
}

/* ---- the attacks ---- */

/* 1. The index's inode of a.txt points at its older manifest (A1). */
static void test_c01_stale_index_entry(void **state)
{
	struct av *a = *state;
	struct want w = { "/docs/a.txt", A2, A1, 4, -1, 0, 0, "a.txt", NULL, 0, 0 };

	base(a);
	assert_int_equal(av_mount(a, ""), 0); /* the index in step with the log */
	av_umount(a);
	forge(a, "index-stale %s 3 3", a->vdir);
	check_all(a, &w);
	av_done(a);
}

/* 2. A directory entry only the index has, with b.txt's content. */
static void test_c02_index_only_dirent(void **state)
{
	struct av *a = *state;
	struct want w = { "/docs/ghost.txt", NULL, BB, -1, -1, 0, 0, "ghost.txt", NULL, 0, 0 };

	base(a);
	assert_int_equal(av_mount(a, ""), 0);
	av_umount(a);
	forge(a, "index-ghost %s 2 ghost.txt 6", a->vdir);
	check_all(a, &w);
	av_done(a);
}

/* 3. The plaintext of write 4 edited to name A1's manifest (frame check
 * recomputed). */
static void test_c03_edited_write_record(void **state)
{
	struct av *a = *state;
	struct want w = { "/docs/a.txt", A2, A1, 4, -1, 0, 0, NULL, "commitment", 0, 0 };

	base(a);
	forge(a, "record-content %s 4 3", a->vdir);
	check_all(a, &w);
	av_done(a);
}

/* 4. A forged write record (random signature) with its chunk and manifest. */
static void test_c04_forged_write_record(void **state)
{
	struct av *a = *state;
	struct want w = { "/docs/a.txt", A2, FORGED, 7, -1, 0, 0, NULL, "signature", 0, 0 };
	char src[160];

	base(a);
	snprintf(src, sizeof(src), "%s/forged.src", a->dir);
	assert_int_equal(av_write_file(src, FORGED, strlen(FORGED)), 0);
	forge(a, "forge-write %s 3 %s", a->vdir, src);
	check_all(a, &w);
	av_done(a);
}

/* 5. Poisoned Merkle nodes beyond the last checkpoint (the newest
 * checkpoint removed, as if it never reached the disk): whatever a writer
 * signs afterwards must be the log's root. The log itself is intact, so
 * readers may serve the right bytes; never others. */
static void test_c05_poisoned_tree(void **state)
{
	struct av *a = *state;
	struct want wa = { "/docs/a.txt", A2, A1, -1, -1, 0, 0, NULL, NULL, 1, 0 };
	struct want wb = { "/docs/b.txt", BB, NULL, -1, -1, 0, 0, NULL, NULL, 1, 0 };
	struct av_tree t0, t1;
	struct av_out o;
	unsigned long long covered;

	base(a);
	o = av_sh(a, "%s cp-drop-last %s", av_forge(), a->vdir);
	assert_int_equal(o.rc, 0);
	covered = strtoull(o.data, NULL, 10);
	av_out_free(&o);
	assert_true(covered < 7);
	forge(a, "tree-poison %s %llu", a->vdir, covered);
	/* (e) and no wrong bytes from readers */
	av_tree_hash(&t0, a->store);
	av_rc(a, "%s audit %s", av_bin(), vol);
	o = av_sh(a, "%s get %s /docs/a.txt", av_bin(), vol);
	if (o.len && strcmp(o.data, A2))
		av_fail(a, "(b) get /docs/a.txt printed wrong bytes");
	av_out_free(&o);
	o = av_sh(a, "%s get %s /docs/b.txt", av_bin(), vol);
	if (o.len && strcmp(o.data, BB))
		av_fail(a, "(b) get /docs/b.txt printed wrong bytes");
	av_out_free(&o);
	av_rc(a, "%s log %s", av_bin(), vol);
	av_rc(a, "%s status %s", av_bin(), vol);
	av_tree_hash(&t1, a->store);
	av_tree_diff(a, &t0, &t1, "audit/get/log/status");
	av_tree_free(&t0);
	av_tree_free(&t1);
	mount_and_read(a, "-o ro", "(c) read through a read-only mount", &wa);
	/* (d) a writer either refuses or signs the log's own root */
	av_rc(a, "%s checkpoint --new %s", av_bin(), vol);
	o = av_sh(a, "%s check-cps %s", av_forge(), a->vdir);
	if (o.rc != 0)
		av_fail(a, "(d) after 'checkpoint --new' a stored checkpoint's root is not the log's: %s", o.data);
	av_out_free(&o);
	av_put(a, "/docs/c.txt", "c\n");
	mount_and_read(a, "", "(d) read through a writable mount", &wb); /* refusing is allowed */
	o = av_sh(a, "%s check-cps %s", av_forge(), a->vdir);
	if (o.rc != 0)
		av_fail(a, "(d) after put and a writable mount a stored checkpoint's root is not the log's: %s", o.data);
	av_out_free(&o);
	o = av_sh(a, "%s audit --json %s", av_bin(), vol);
	{
		struct av_finding f;

		av_parse_audit(o.data, &f);
		if (o.rc != 0)
			av_fail(a, "(a) audit after the writers exited %d: first finding index %lld [%s] %s", o.rc,
				f.index, f.kind, f.message);
	}
	av_out_free(&o);
	av_done(a);
}

/* 6. Write 4's plaintext withheld, its envelope kept: replay would fall
 * back to A1. */
static void test_c06_withheld_plaintext(void **state)
{
	struct av *a = *state;
	struct want w = { "/docs/a.txt", A2, A1, 4, -1, 0, 0, NULL, "withh|record|missing|plaintext", 0, 0 };

	base(a);
	forge(a, "withhold %s 4", a->vdir);
	check_all(a, &w);
	av_done(a);
}

/* 7. Rollback to earlier sizes with checkpoints, tree and sidecars made to
 * match: the user who audited before and a saved checkpoint catch it. */
static void test_c07_rollback(void **state)
{
	static const struct {
		unsigned long long n;
		const char *path, *good, *bad;
	} cuts[] = {
		{ 1, "/docs/a.txt", A2, NULL }, /* only the genesis left */
		{ 2, "/docs/a.txt", A2, NULL },
		{ 3, "/docs/a.txt", A2, NULL }, /* a.txt empty */
		{ 4, "/docs/a.txt", A2, A1 },   /* a.txt back to A1 */
		{ 5, "/docs/b.txt", BB, NULL }, /* b.txt empty */
		{ 6, "/docs/b.txt", BB, NULL },
	};
	struct av *a = *state;
	char saved[160];
	size_t i;

	base(a);
	save_and_pin(a, saved, sizeof(saved));
	snapshot(a);
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct want w = { cuts[i].path, cuts[i].good, cuts[i].bad, (long long)cuts[i].n, -1, 1, 0, NULL, NULL,
				  0, 0 };

		restore(a);
		forge(a, "cut %s %llu", a->vdir, cuts[i].n);
		check_trusted(a, saved, &w);
		check_all(a, &w);
	}
	av_done(a);
}

/* 8. Fork: cut back to 1, 4 or 6 entries and a longer, different future
 * written with the real key (by someone without the user's state). Nobody holding only a
 * checkpoint can tell where the logs part, so any index from the fork point
 * to the pinned size is accepted. */
static void test_c08_fork(void **state)
{
	static const unsigned long long at[] = { 1, 4, 6 };
	struct av *a = *state;
	char saved[160], other[160];
	size_t i;

	base(a);
	save_and_pin(a, saved, sizeof(saved));
	snapshot(a);
	snprintf(other, sizeof(other), "%s/state-forker", a->dir);
	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		struct want w = { "/docs/a.txt", A2, FORK, (long long)at[i], 6, 1, 0, NULL, NULL, 0, 0 };
		size_t before = a->nerrs;

		restore(a);
		forge(a, "cut %s %llu", a->vdir, at[i]);
		assert_int_equal(av_rc(a, "rm -rf %s && mkdir -m 700 %s", other, other), 0);
		setenv("LEDGERFS_STATE_DIR", other, 1);
		assert_int_equal(av_put(a, "/docs/a.txt", FORK), 0);
		assert_int_equal(av_put(a, "/docs/c.txt", FORK), 0);
		assert_int_equal(av_put(a, "/docs/d.txt", FORK), 0);
		setenv("LEDGERFS_STATE_DIR", a->state, 1);
		check_trusted(a, saved, &w);
		check_all(a, &w);
		if (a->nerrs != before)
			av_fail(a, "^ fork after entry %llu", at[i] - 1);
	}
	av_done(a);
}

/* 9a. Another volume's files (volume "w") moved in under the name "v". */
static void test_c09_swapped_other_name(void **state)
{
	struct av *a = *state;
	struct want w = { "/docs/a.txt", A2, OTHER, 0, -1, 1, 0, NULL, NULL, 0, 0 };
	char saved[160], fresh[160];
	struct av_out aj;

	base(a);
	assert_int_equal(av_rc(a, "%s init w", av_bin()), 0);
	{
		char src[160];

		snprintf(src, sizeof(src), "%s/w.src", a->dir);
		assert_int_equal(av_write_file(src, OTHER, strlen(OTHER)), 0);
		assert_int_equal(av_rc(a, "%s put w /docs/a.txt %s", av_bin(), src), 0);
	}
	save_and_pin(a, saved, sizeof(saved));
	assert_int_equal(av_rc(a, "rm -rf %s && cp -a %s/volumes/w %s", a->vdir, a->store, a->vdir), 0);
	check_trusted(a, saved, &w);
	check_all(a, &w);
	/* the genesis names "w": even a user who never saw "v" is told */
	check_new_user_audit(a, &w);
	snprintf(fresh, sizeof(fresh), "%s/state-new-user", a->dir);
	setenv("LEDGERFS_STATE_DIR", fresh, 1);
	aj = av_sh(a, "%s get %s /docs/a.txt", av_bin(), vol);
	check_bytes(a, "(b) get by a new user", aj.rc, aj.data, aj.len, &w);
	av_out_free(&aj);
	setenv("LEDGERFS_STATE_DIR", a->state, 1);
	av_done(a);
}

/* 9b. Volume "v" of another store, made with the same key, moved in. */
static void test_c09_swapped_same_name_other_store(void **state)
{
	struct av *a = *state;
	struct want w = { "/docs/a.txt", A2, OTHER, 0, -1, 1, 0, NULL, NULL, 0, 0 };
	char saved[160], store2[160], src[160];

	base(a);
	snprintf(store2, sizeof(store2), "%s/store2", a->dir);
	snprintf(src, sizeof(src), "%s/w.src", a->dir);
	assert_int_equal(av_write_file(src, OTHER, strlen(OTHER)), 0);
	assert_int_equal(av_rc(a, "%s init --store %s %s", av_bin(), store2, vol), 0);
	assert_int_equal(av_rc(a, "%s put --store %s %s /docs/a.txt %s", av_bin(), store2, vol, src), 0);
	assert_int_equal(av_rc(a, "%s put --store %s %s /docs/a.txt %s", av_bin(), store2, vol, src), 0);
	assert_int_equal(av_rc(a, "%s put --store %s %s /docs/b.txt %s", av_bin(), store2, vol, src), 0);
	save_and_pin(a, saved, sizeof(saved));
	assert_int_equal(av_rc(a, "rm -rf %s && cp -a %s/volumes/%s %s", a->vdir, store2, vol, a->vdir), 0);
	check_trusted(a, saved, &w);
	check_all(a, &w);
	av_done(a);
}

/* 10a. The second checkpoint's length field damaged. */
static void test_c10_checkpoints_length_damaged(void **state)
{
	struct av *a = *state;
	struct want w = { "/docs/a.txt", A2, A1, -1, -1, 1, 1, NULL, "checkpoint", 1, 1 };

	base(a);
	forge(a, "cp-damage-len %s", a->vdir);
	check_all(a, &w);
	av_done(a);
}

/* 10b. The checkpoints file removed. */
static void test_c10_checkpoints_missing(void **state)
{
	struct av *a = *state;
	struct want w = { "/docs/a.txt", A2, A1, -1, -1, 1, 1, NULL, "checkpoint", 1, 1 };
	char path[256];

	base(a);
	snprintf(path, sizeof(path), "%s/checkpoints", a->vdir);
	assert_int_equal(unlink(path), 0);
	check_all(a, &w);
	av_done(a);
}

/* 10c. The last frame (write 6, covered by a checkpoint) cut in half: not a
 * torn write. */
static void test_c10_covered_last_frame_cut(void **state)
{
	struct av *a = *state;
	struct want w = { "/docs/b.txt", BB, NULL, 6, -1, 0, 0, NULL, NULL, 0, 1 };

	base(a);
	forge(a, "cut-half %s", a->vdir);
	check_all(a, &w);
	av_done(a);
}

/* 11. The pack's tail object (b.txt's) damaged: audit and get must not
 * cut it, and must decide the same with or without the chunk index. */
static void test_c11_pack_tail_and_chunk_index(void **state)
{
	struct av *a = *state;
	struct want w = { "/docs/b.txt", BB, NULL, 6, -1, 0, 0, "b.txt", "chunk|manifest|pack|content", 0, 1 };
	struct av_tree t0, t1, t2;
	struct av_out j1, j2;
	char *s1, *s2;

	base(a);
	forge(a, "pack-damage-tail %s", a->vdir);
	av_tree_hash(&t0, a->store);
	j1 = av_sh(a, "%s audit --json %s", av_bin(), vol);
	av_rc(a, "%s get %s /docs/b.txt", av_bin(), vol);
	av_tree_hash(&t1, a->store);
	av_tree_diff(a, &t0, &t1, "audit/get with the chunk index");
	assert_int_equal(av_rc(a, "rm -rf %s/chunks/index", a->vdir), 0);
	av_tree_free(&t1);
	av_tree_hash(&t1, a->store);
	j2 = av_sh(a, "%s audit --json %s", av_bin(), vol);
	av_rc(a, "%s get %s /docs/b.txt", av_bin(), vol);
	av_tree_hash(&t2, a->store);
	av_tree_diff(a, &t1, &t2, "audit/get without the chunk index");
	/* the same report either way (but for the time it took) */
	s1 = strstr(j1.data, "\"findings_total\"");
	s2 = strstr(j2.data, "\"findings_total\"");
	if (j1.rc != j2.rc || !s1 || !s2 || strcmp(s1, s2))
		av_fail(a, "(11) audit differs with and without the chunk index: exit %d %s / exit %d %s", j1.rc,
			s1 ? s1 : j1.data, j2.rc, s2 ? s2 : j2.data);
	av_tree_free(&t0);
	av_tree_free(&t1);
	av_tree_free(&t2);
	av_out_free(&j1);
	av_out_free(&j2);
	check_all(a, &w);
	av_done(a);
}

/* 12. Junk inserted before entry 65536 (where a 65536-entry range read
 * starts) in a segment that is not the last, its sidecar pointing past
 * the junk. The content is unchanged, so a reader may serve it; every
 * reader of that range must report the junk. */
static void test_c12_junk_at_range_boundary(void **state)
{
	struct av *a = *state;
	struct want w = { "/docs/a.txt", A1, NULL, 65536, -1, 0, 0, NULL, NULL, 1, 1 };
	struct av_out o;
	char keyfile[160];

	assert_int_equal(av_setup(a), 0);
	snprintf(keyfile, sizeof(keyfile), "%s", a->key);
	/* frames of ~1000 bytes: the first segment (64 MiB) holds ~67000 */
	forge(a, "notes %s %s %s 67200 655", a->store, vol, keyfile);
	assert_int_equal(av_put(a, "/docs/a.txt", A1), 0);
	o = av_sh(a, "%s frames %s | awk '$1==65536 || $1==65537 {print $3} END {print $3}'", av_forge(), a->vdir);
	assert_int_equal(o.rc, 0);
	if (strncmp(o.data, "0\n0\n", 4) || strtoull(o.data + 4, NULL, 10) == 0)
		fail_msg("entries 65536.. are not in a first segment followed by another: %s", o.data);
	av_out_free(&o);
	forge(a, "junk %s 65536 4096", a->vdir);
	if (av_rc(a, "%s log --from 65536 --limit 3 %s", av_bin(), vol) == 0)
		av_fail(a, "(12) 'log --from 65536' read over the junk without an error");
	if (av_rc(a, "%s log --from 65530 --limit 10 %s", av_bin(), vol) == 0)
		av_fail(a, "(12) 'log --from 65530' read over the junk without an error");
	check_all(a, &w);
	av_done(a);
}

/* 12b. Junk at the start of a segment that is not the last (three
 * segments of large notes), its sidecar pointing past it. */
static void test_c12_junk_at_segment_start(void **state)
{
	struct av *a = *state;
	struct want w = { "/docs/a.txt", A1, NULL, 0, -1, 0, 0, NULL, NULL, 1, 1 };
	struct av_out o;
	char *p;

	assert_int_equal(av_setup(a), 0);
	assert_int_equal(av_put(a, "/docs/a.txt", A1), 0);
	/* 200 KiB notes: a segment (64 MiB) holds ~330 */
	forge(a, "notes %s %s %s 700 204800", a->store, vol, a->key);
	assert_int_equal(av_put(a, "/docs/z.txt", A2), 0);
	o = av_sh(a, "%s frames %s | awk '{print $3}' | uniq", av_forge(), a->vdir);
	assert_int_equal(o.rc, 0);
	p = strchr(o.data, '\n');
	if (!p || strtoull(p + 1, NULL, 10) == 0 || !strchr(p + 1, '\n') || !strchr(strchr(p + 1, '\n') + 1, '\n'))
		fail_msg("expected three segments, first entries: %s", o.data);
	w.index = (long long)strtoull(p + 1, NULL, 10); /* the middle segment's first entry */
	av_out_free(&o);
	forge(a, "junk %s %lld 512", a->vdir, w.index);
	if (av_rc(a, "%s log --from %lld --limit 3 %s", av_bin(), w.index, vol) == 0)
		av_fail(a, "(12) 'log --from %lld' read over the junk without an error", w.index);
	check_all(a, &w);
	av_done(a);
}

/* 13. The report's headline names the damaged entry (write 4, or the first
 * of two swapped), not the record that created its inode. */
static void test_c13_headline_names_entry(void **state)
{
	static const struct {
		const char *forge; /* %s = volume dir */
		long long index;
		const char *kinds;
	} cases[] = {
		{ "env-xor %s 4 90", 4, NULL },              /* a byte of its commitment */
		{ "record-xor %s 4 5", 4, "commitment" },    /* a byte of its salt */
		{ "swap %s 3 4", 3, NULL },                  /* two writes of a.txt exchanged */
		{ "remove %s 4", 4, NULL },                  /* write 4 removed, later renumbered */
		{ "time-edit %s 4 1000000000", 4, NULL },    /* its time, envelope and record */
	};
	struct av *a = *state;
	size_t i;

	base(a);
	snapshot(a);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct want w = { "/docs/a.txt", A2, A1, cases[i].index, -1, 0, 0, NULL, cases[i].kinds, 0, 0 };
		size_t before = a->nerrs;

		restore(a);
		forge(a, cases[i].forge, a->vdir);
		check_all(a, &w);
		check_new_user_audit(a, &w);
		if (a->nerrs != before)
			av_fail(a, "^ case '%s'", cases[i].forge);
	}
	av_done(a);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fixture_setup, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_clean_volume),
		T(test_kill9_then_remount),
		T(test_derived_files_lost_or_damaged),
		T(test_c01_stale_index_entry),
		T(test_c02_index_only_dirent),
		T(test_c03_edited_write_record),
		T(test_c04_forged_write_record),
		T(test_c05_poisoned_tree),
		T(test_c06_withheld_plaintext),
		T(test_c07_rollback),
		T(test_c08_fork),
		T(test_c09_swapped_other_name),
		T(test_c09_swapped_same_name_other_store),
		T(test_c10_checkpoints_length_damaged),
		T(test_c10_checkpoints_missing),
		T(test_c10_covered_last_frame_cut),
		T(test_c11_pack_tail_and_chunk_index),
		T(test_c12_junk_at_range_boundary),
		T(test_c12_junk_at_segment_start),
		T(test_c13_headline_names_entry),
	};

	if (getenv("LGFS_ATTACK_FILTER"))
		cmocka_set_test_filter(getenv("LGFS_ATTACK_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
