/*
 * test_ledger_async.c — asynchronous durability in the ledger: submit hands
 * out consecutive indexes at once and in order (also while the disk is
 * stuck), sync waits for durability, close drains the queue, durable()
 * never runs ahead of the log, a failed log write fails the ledger for good
 * without losing what was durable, checkpoints only cover durable sizes, and
 * the pending bound throttles a producer faster than the disk.
 *
 * The disk is controlled through the system call table (ledgerfs/sys.h):
 * the log store's fdatasync can be held at a gate, slowed down, or made to
 * fail with a chosen errno.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ledgerfs/audit.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/ledger.h"
#include "ledgerfs/log.h"
#include "ledgerfs/note.h"
#include "ledgerfs/sys.h"

struct fixture {
	char dir[64];         /* the store */
	char vd[128];         /* the volume "v" in it */
	struct lgfs_key *key; /* founder */
};

/* ---- the disk: a gate, a delay and an error for the log's fdatasync ---- */

static pthread_mutex_t disk_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t disk_cv = PTHREAD_COND_INITIALIZER;
static int gate_closed;    /* fdatasync waits while set */
static int gate_waiting;   /* calls waiting at the gate, so a test knows the committer is stuck */
static int disk_errno;     /* non-zero: fdatasync fails with it (after the gate) */
static int disk_delay_us;  /* a slow disk: every fdatasync sleeps this long first */
static unsigned long disk_syncs; /* fdatasync calls seen */

static int hook_fdatasync(int fd)
{
	int err, delay;

	pthread_mutex_lock(&disk_mu);
	disk_syncs++;
	gate_waiting++;
	pthread_cond_broadcast(&disk_cv);
	while (gate_closed)
		pthread_cond_wait(&disk_cv, &disk_mu);
	gate_waiting--;
	err = disk_errno;
	delay = disk_delay_us;
	pthread_mutex_unlock(&disk_mu);
	if (delay)
		usleep((useconds_t)delay);
	if (err) {
		errno = err;
		return -1;
	}
	return fdatasync(fd);
}

/* Install the hook with a given behaviour (only while no commit runs). */
static void disk_set(int closed, int err, int delay_us)
{
	pthread_mutex_lock(&disk_mu);
	gate_closed = closed;
	disk_errno = err;
	disk_delay_us = delay_us;
	disk_syncs = 0;
	pthread_mutex_unlock(&disk_mu);
	lgfs_sys.fdatasync = hook_fdatasync;
}

/* Wait until the committer is held at the gate. */
static void gate_wait_stuck(void)
{
	pthread_mutex_lock(&disk_mu);
	while (gate_waiting == 0)
		pthread_cond_wait(&disk_cv, &disk_mu);
	pthread_mutex_unlock(&disk_mu);
}

/* Let the held fdatasync go on, failing with err (0: succeed). */
static void gate_open(int err)
{
	pthread_mutex_lock(&disk_mu);
	disk_errno = err;
	gate_closed = 0;
	pthread_cond_broadcast(&disk_cv);
	pthread_mutex_unlock(&disk_mu);
}

/* ---- fixtures and helpers ---- */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct lgfs_policy pol = { LGFS_DEFAULT_THRESHOLD, LGFS_DEFAULT_RETENTION_S };
	struct lgfs_volume_info info;

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/lgfs-test-async-XXXXXX");
	if (!mkdtemp(f->dir) || lgfs_key_generate(&f->key, "founder@test") ||
	    lgfs_volume_create(&info, f->dir, "v", f->key, &pol, 1000, 1000)) {
		lgfs_key_free(f->key);
		free(f);
		return -1;
	}
	snprintf(f->vd, sizeof(f->vd), "%s/volumes/v", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	gate_open(0); /* a failed test may have left the committer at the gate */
	lgfs_sys_reset();
	disk_delay_us = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	lgfs_key_free(f->key);
	free(f);
	return 0;
}

static struct lgfs_ledger *open_rw(struct fixture *f)
{
	struct lgfs_ledger *l = NULL;

	assert_int_equal(lgfs_ledger_open(&l, f->dir, "v", f->key, 0), 0);
	return l;
}

/* A note record saying `text`. The record points into `text`, which must
 * live until the record is submitted (submit encodes it). */
static void note_record(struct lgfs_record *r, const char *text)
{
	lgfs_record_init(r, LGFS_OP_NOTE);
	r->uid = 7;
	r->gid = 8;
	assert_int_equal(lgfs_record_add_str(r, LGFS_F_REASON, text), 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Audit the volume: no findings, `entries` entries, every one signed. */
static void audit_clean(struct fixture *f, uint64_t entries)
{
	struct lgfs_audit_report rep;

	assert_int_equal(lgfs_audit_volume(&rep, f->vd, NULL), 0);
	if (rep.nfindings)
		fail_msg("audit: %zu findings, first: %s", rep.nfindings,
			 rep.nstored ? rep.findings[0].message : "?");
	assert_int_equal(rep.entries, entries);
	assert_int_equal(rep.signatures, entries);
	assert_int_equal(rep.first_bad, LGFS_NO_INDEX);
	assert_true(rep.checkpoints >= 1);
	lgfs_audit_report_free(&rep);
}

/* Chain walk over lgfs_ledger_read(): index, prev, time order, commitment,
 * and the note text expected at each index (when `texts` is given). */
struct walk {
	uint64_t next;
	uint8_t prev[32];
	int64_t last_time;
	char **texts;    /* texts[i]: expected reason at index i, or NULL */
};

static int walk_cb(void *arg, const struct lgfs_ledger_entry *e)
{
	struct walk *w = arg;
	uint8_t com[32];

	assert_int_equal(e->index, w->next);
	assert_int_equal(e->env.index, e->index);
	if (e->index > 0)
		assert_memory_equal(e->env.prev, w->prev, 32);
	assert_true(e->env.time_ns >= w->last_time);
	assert_non_null(e->rec);
	lgfs_record_commitment(com, e->record, e->record_len);
	assert_memory_equal(com, e->env.commitment, 32);
	assert_int_equal(e->rec->index, e->index);
	if (w->texts && w->texts[e->index]) {
		const struct lgfs_arg *a = lgfs_record_arg(e->rec, LGFS_F_REASON);

		assert_non_null(a);
		if (a->len != strlen(w->texts[e->index]) || memcmp(a->data, w->texts[e->index], a->len))
			fail_msg("index %llu holds '%.*s', expected '%s'", (unsigned long long)e->index,
				 (int)a->len, (const char *)a->data, w->texts[e->index]);
	}
	lgfs_envelope_hash(w->prev, e->envelope);
	w->last_time = e->env.time_ns;
	w->next++;
	return 0;
}

static void walk_all(struct lgfs_ledger *l, char **texts)
{
	struct walk w;
	uint64_t n = lgfs_ledger_size(l);

	memset(&w, 0, sizeof(w));
	w.texts = texts;
	assert_int_equal(lgfs_ledger_read(l, 0, n, walk_cb, &w), 0);
	assert_int_equal(w.next, n);
}

/* Submit `count` one-record notes "text-<i>" (i from `from`); returns the
 * index of the first. */
static uint64_t submit_notes(struct lgfs_ledger *l, int from, int count)
{
	uint64_t first = 0;
	int i;

	for (i = 0; i < count; i++) {
		struct lgfs_record r, *rp = &r;
		char text[32];

		snprintf(text, sizeof(text), "text-%d", from + i);
		note_record(&r, text);
		assert_int_equal(lgfs_ledger_submit(l, &rp, 1), 0);
		if (i == 0)
			first = r.index;
		else
			assert_int_equal(r.index, first + (uint64_t)i);
	}
	return first;
}

/* ---- tests ---- */

struct submitter {
	struct lgfs_ledger *l;
	int id;
	int calls;
	uint64_t *index;  /* index of each record, in submission order */
	char **text;      /* its text */
	size_t n;         /* records submitted */
};

/* Calls of 1, 2 or 3 records; each call's records must be consecutive and
 * every call's indexes above the previous call's. */
static void *submitter_main(void *p)
{
	struct submitter *s = p;
	int c;

	for (c = 0; c < s->calls; c++) {
		struct lgfs_record r[3], *rp[3];
		size_t k, m = 1 + (size_t)(c % 3);

		for (k = 0; k < m; k++) {
			char *t = malloc(32);

			assert_non_null(t);
			snprintf(t, 32, "t%d-%zu", s->id, s->n + k);
			s->text[s->n + k] = t;
			note_record(&r[k], t);
			rp[k] = &r[k];
		}
		assert_int_equal(lgfs_ledger_submit(s->l, rp, m), 0);
		for (k = 0; k < m; k++) {
			assert_int_equal(r[k].index, r[0].index + k);
			if (s->n + k > 0)
				assert_true(r[k].index > s->index[s->n + k - 1]);
			s->index[s->n + k] = r[k].index;
		}
		s->n += m;
	}
	return NULL;
}

/* Eight threads submit while the disk is stuck: every call returns at once
 * with its indexes, nothing is durable yet; the indexes of all threads
 * together are exactly 1..N; after the disk moves and a sync, every record
 * is at its index with its content, and the audit is clean. */
static void test_submit_indexes_threads(void **state)
{
	struct fixture *f = *state;
	enum { THREADS = 8, CALLS = 300 };
	struct submitter s[THREADS];
	pthread_t th[THREADS];
	struct lgfs_ledger *l = open_rw(f);
	uint64_t total = 0, first, i;
	char **texts;
	uint8_t *seen;
	int t;

	/* One record first, so the committer is held in its fdatasync. */
	disk_set(1, 0, 0);
	first = submit_notes(l, 0, 1);
	assert_int_equal(first, 1);
	gate_wait_stuck();
	for (t = 0; t < THREADS; t++) {
		s[t] = (struct submitter){ l, t, CALLS, calloc(CALLS * 3, sizeof(uint64_t)),
					   calloc(CALLS * 3, sizeof(char *)), 0 };
		assert_int_equal(pthread_create(&th[t], NULL, submitter_main, &s[t]), 0);
	}
	for (t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		total += s[t].n;
	}
	/* All submitted, none durable: submit never waited for the disk. */
	assert_int_equal(lgfs_ledger_durable(l), 1);
	assert_int_equal(lgfs_ledger_pending(l, NULL), 1 + total);
	/* Together the indexes are exactly 2 .. 1+total, each once. */
	seen = calloc(2 + total, 1);
	texts = calloc(2 + total, sizeof(*texts));
	assert_non_null(seen);
	assert_non_null(texts);
	for (t = 0; t < THREADS; t++)
		for (i = 0; i < s[t].n; i++) {
			uint64_t ix = s[t].index[i];

			assert_true(ix >= 2 && ix < 2 + total);
			assert_int_equal(seen[ix], 0);
			seen[ix] = 1;
			texts[ix] = s[t].text[i];
		}
	gate_open(0);
	assert_int_equal(lgfs_ledger_sync(l, 0), 0);
	assert_int_equal(lgfs_ledger_durable(l), 2 + total);
	assert_int_equal(lgfs_ledger_size(l), 2 + total);
	assert_int_equal(lgfs_ledger_pending(l, NULL), 0);
	walk_all(l, texts);
	lgfs_ledger_close(l);
	lgfs_sys_reset();
	audit_clean(f, 2 + total);
	for (t = 0; t < THREADS; t++) {
		for (i = 0; i < s[t].n; i++)
			free(s[t].text[i]);
		free(s[t].text);
		free(s[t].index);
	}
	free(texts);
	free(seen);
}

/* Sync semantics: sync(upto) returns once everything below upto is durable,
 * sync(0) covers everything submitted, a sync beyond what was submitted is
 * LGFS_ERANGE; read and audit see everything after sync. */
static void test_sync_then_read_and_audit(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l = open_rw(f);
	struct lgfs_record r[17], *rp[17];
	uint64_t first, expect = 101;
	int i, k;

	assert_int_equal(lgfs_ledger_sync(l, 0), 0);  /* nothing pending */
	assert_int_equal(lgfs_ledger_sync(l, 1), 0);  /* genesis is durable */
	assert_int_equal(lgfs_ledger_sync(l, 2), LGFS_ERANGE);
	first = submit_notes(l, 0, 100);
	assert_int_equal(first, 1);
	assert_int_equal(lgfs_ledger_sync(l, 50), 0);
	assert_true(lgfs_ledger_durable(l) >= 50);
	for (k = 0; k < 20; k++) {
		for (i = 0; i < 17; i++) {
			note_record(&r[i], "batch");
			rp[i] = &r[i];
		}
		assert_int_equal(lgfs_ledger_submit(l, rp, 1 + (size_t)k % 17), 0);
		for (i = 0; i < 1 + k % 17; i++)
			assert_int_equal(r[i].index, expect + (uint64_t)i);
		expect += 1 + (uint64_t)(k % 17);
	}
	assert_int_equal(lgfs_ledger_sync(l, 0), 0);
	assert_int_equal(lgfs_ledger_durable(l), expect);
	assert_int_equal(lgfs_ledger_size(l), expect);
	assert_int_equal(lgfs_ledger_sync(l, expect + 1), LGFS_ERANGE);
	walk_all(l, NULL);
	k = (int)lgfs_ledger_size(l);
	lgfs_ledger_close(l);
	audit_clean(f, (uint64_t)k);
}

/* close() drains the queue: 10 000 records submitted, no sync, close; the
 * reopened volume holds all of them, in order, and a checkpoint covers them. */
static void test_close_drains_queue(void **state)
{
	struct fixture *f = *state;
	enum { N = 10000 };
	struct lgfs_ledger *l = open_rw(f);
	struct lgfs_checkpoint cp;
	struct lgfs_note *n = NULL;
	char **texts = calloc(N + 1, sizeof(*texts));
	char *note = NULL;
	int i;

	assert_non_null(texts);
	assert_int_equal(submit_notes(l, 0, N), 1);
	assert_true(lgfs_ledger_durable(l) <= N + 1);
	lgfs_ledger_close(l);

	assert_int_equal(lgfs_ledger_open(&l, f->dir, "v", NULL, LGFS_LEDGER_RDONLY), 0);
	assert_int_equal(lgfs_ledger_size(l), N + 1);
	for (i = 0; i < N; i++) {
		texts[i + 1] = malloc(32);
		assert_non_null(texts[i + 1]);
		snprintf(texts[i + 1], 32, "text-%d", i);
	}
	walk_all(l, texts);
	assert_int_equal(lgfs_ledger_checkpoint_latest(l, &note), 0);
	assert_int_equal(lgfs_note_parse(&n, note, strlen(note)), 0);
	assert_int_equal(lgfs_checkpoint_parse(&cp, n->text, n->text_len), 0);
	assert_int_equal(cp.size, N + 1);
	lgfs_note_free(n);
	free(note);
	lgfs_ledger_close(l);
	audit_clean(f, N + 1);
	for (i = 0; i <= N; i++)
		free(texts[i]);
	free(texts);
}

struct monitor {
	struct lgfs_ledger *l;
	const char *logdir;
	atomic_int stop;   /* set by the test thread when it is done */
	unsigned long checks;
	unsigned long violations;
	uint64_t max_seen;
};

/* durable() must never exceed what a separate reader finds in the log:
 * read durable first, then the log's size (which can only have grown). */
static void *monitor_main(void *p)
{
	struct monitor *m = p;

	while (!m->stop) {
		struct lgfs_log *log = NULL;
		uint64_t d = lgfs_ledger_durable(m->l), size = 0;

		if (lgfs_log_open(&log, m->logdir, LGFS_LOG_RDONLY) == 0) {
			if (lgfs_log_size(log, &size) == 0) {
				if (d > size)
					m->violations++;
				m->checks++;
				if (d > m->max_seen)
					m->max_seen = d;
			}
			lgfs_log_close(log);
		}
		usleep(200);
	}
	return NULL;
}

static void test_durable_never_ahead_of_log(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l = open_rw(f);
	struct monitor m;
	pthread_t th;
	char logdir[192];
	int round;

	snprintf(logdir, sizeof(logdir), "%s/log", f->vd);
	memset(&m, 0, sizeof(m));
	m.l = l;
	m.logdir = logdir;
	disk_set(0, 0, 2000); /* 2 ms per fdatasync: batches take a while */
	assert_int_equal(pthread_create(&th, NULL, monitor_main, &m), 0);
	for (round = 0; round < 40; round++) {
		submit_notes(l, round * 100, 100);
		if (round % 10 == 9)
			assert_int_equal(lgfs_ledger_sync(l, 0), 0);
		/* right after a sync of index x, the log holds x entries */
		assert_int_equal(lgfs_ledger_sync(l, lgfs_ledger_durable(l)), 0);
	}
	assert_int_equal(lgfs_ledger_sync(l, 0), 0);
	usleep(5000);
	m.stop = 1;
	pthread_join(th, NULL);
	assert_int_equal(m.violations, 0);
	assert_true(m.checks > 10);
	assert_int_equal(lgfs_ledger_durable(l), 4001);
	lgfs_ledger_close(l);
	lgfs_sys_reset();
	audit_clean(f, 4001);
}

/* A full disk: the batch and everything after it fail; durable() stays;
 * sync above it and every later submit return LGFS_ENOSPC; what was durable
 * stays readable; a reopened volume shows exactly the durable records,
 * passes the audit and can be written again. */
static void test_enospc_fails_ledger(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l = open_rw(f);
	struct lgfs_record r, *rp = &r;
	uint64_t pending_bytes = 0;
	char *note = NULL;
	int rc;

	assert_int_equal(submit_notes(l, 0, 10), 1);
	assert_int_equal(lgfs_ledger_sync(l, 0), 0);
	assert_int_equal(lgfs_ledger_durable(l), 11);

	/* Hold the next batch in its fdatasync, queue more behind it (more than
	 * one batch's worth), then let the disk fail. */
	disk_set(1, 0, 0);
	assert_int_equal(submit_notes(l, 100, 1), 11);
	gate_wait_stuck();
	assert_int_equal(submit_notes(l, 200, 9000), 12);
	assert_int_equal(lgfs_ledger_pending(l, &pending_bytes), 9001);
	assert_true(pending_bytes > 9001 * LGFS_ENVELOPE_LEN);
	gate_open(ENOSPC);
	rc = lgfs_ledger_sync(l, 0);
	assert_int_equal(rc, LGFS_ENOSPC);
	assert_non_null(strstr(lgfs_error_last(), "No space left on device"));
	assert_non_null(strstr(lgfs_error_last(), "11"));
	assert_int_equal(lgfs_ledger_durable(l), 11);
	assert_int_equal(lgfs_ledger_size(l), 11);
	assert_int_equal(lgfs_ledger_submitted(l), 9012); /* handed out, dropped */
	assert_int_equal(lgfs_ledger_pending(l, &pending_bytes), 0);
	assert_int_equal(pending_bytes, 0);
	/* the failure is sticky; indexes below it are fine */
	assert_int_equal(lgfs_ledger_sync(l, 11), 0);
	assert_int_equal(lgfs_ledger_sync(l, 12), LGFS_ENOSPC);
	assert_int_equal(lgfs_ledger_sync(l, 5000), LGFS_ENOSPC);
	lgfs_sys_reset(); /* even with the disk back, the ledger stays failed */
	note_record(&r, "after the failure");
	assert_int_equal(lgfs_ledger_submit(l, &rp, 1), LGFS_ENOSPC);
	assert_non_null(strstr(lgfs_error_last(), "No space left on device"));
	assert_int_equal(lgfs_ledger_append(l, &rp, 1), LGFS_ENOSPC);
	walk_all(l, NULL);
	/* a checkpoint signed now covers the durable size only */
	assert_int_equal(lgfs_ledger_checkpoint_new(l, &note), 0);
	assert_non_null(strstr(note, "\n11\n"));
	free(note);
	lgfs_ledger_close(l);

	audit_clean(f, 11);
	l = open_rw(f);
	assert_int_equal(lgfs_ledger_size(l), 11);
	note_record(&r, "after reopen");
	assert_int_equal(lgfs_ledger_append(l, &rp, 1), 0);
	assert_int_equal(r.index, 11);
	walk_all(l, NULL);
	lgfs_ledger_close(l);
	audit_clean(f, 12);
}

/* EIO on the very first commit after open behaves the same. */
static void test_eio_first_batch(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l = open_rw(f);
	struct lgfs_record r, *rp = &r;

	disk_set(0, EIO, 0);
	note_record(&r, "doomed");
	assert_int_equal(lgfs_ledger_append(l, &rp, 1), LGFS_EIO);
	assert_int_equal(r.index, 1);
	assert_int_equal(lgfs_ledger_durable(l), 1);
	assert_int_equal(lgfs_ledger_submit(l, &rp, 1), LGFS_EIO);
	lgfs_sys_reset();
	lgfs_ledger_close(l);
	audit_clean(f, 1);
}

/* close() with a failing disk and records queued returns (nothing to wait
 * for: the failed batch and the rest are dropped), and writes a final
 * checkpoint of the durable size only. */
static void test_close_on_failing_disk(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l = open_rw(f);
	struct lgfs_checkpoint cp;
	struct lgfs_note *n = NULL;
	char *note = NULL;

	assert_int_equal(submit_notes(l, 0, 20), 1);
	assert_int_equal(lgfs_ledger_sync(l, 0), 0);
	disk_set(1, 0, 0);
	assert_int_equal(submit_notes(l, 20, 1), 21);
	gate_wait_stuck();
	assert_int_equal(submit_notes(l, 21, 3000), 22);
	gate_open(ENOSPC); /* and stays failing */
	lgfs_ledger_close(l);
	lgfs_sys_reset();
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "v", NULL, LGFS_LEDGER_RDONLY), 0);
	assert_int_equal(lgfs_ledger_size(l), 21);
	assert_int_equal(lgfs_ledger_checkpoint_latest(l, &note), 0);
	assert_int_equal(lgfs_note_parse(&n, note, strlen(note)), 0);
	assert_int_equal(lgfs_checkpoint_parse(&cp, n->text, n->text_len), 0);
	assert_int_equal(cp.size, 21);
	lgfs_note_free(n);
	free(note);
	walk_all(l, NULL);
	lgfs_ledger_close(l);
	audit_clean(f, 21);
}

/* A record that fails validation is refused at submit time and changes
 * nothing, even when it would have joined a batch already queued. */
static void test_invalid_record_refused(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l = open_rw(f);
	struct lgfs_record r[3], *rp[3] = { &r[0], &r[1], &r[2] };
	char *texts[5] = { NULL, "first", NULL, NULL, NULL };
	uint64_t bytes0, bytes1;

	disk_set(1, 0, 0);
	assert_int_equal(submit_notes(l, 0, 1), 1); /* held in fdatasync */
	gate_wait_stuck();
	note_record(&r[0], "first");
	assert_int_equal(lgfs_ledger_submit(l, rp, 1), 0); /* queued: the growing batch */
	assert_int_equal(r[0].index, 2);
	assert_int_equal(lgfs_ledger_pending(l, &bytes0), 2);
	/* good + bad: refused, nothing queued */
	note_record(&r[0], "good");
	lgfs_record_init(&r[1], LGFS_OP_UNLINK); /* missing its required arguments */
	assert_int_equal(lgfs_ledger_submit(l, rp, 2), LGFS_EINVAL);
	/* a reserved operation: refused */
	lgfs_record_init(&r[2], LGFS_OP_SHRED);
	assert_int_equal(lgfs_record_add_u64(&r[2], LGFS_F_REF, 1), 0);
	assert_int_equal(lgfs_ledger_submit(l, &rp[2], 1), LGFS_EINVAL);
	assert_int_equal(lgfs_ledger_pending(l, &bytes1), 2);
	assert_int_equal(bytes1, bytes0);
	/* the next good record follows without a gap */
	note_record(&r[0], "second");
	assert_int_equal(lgfs_ledger_submit(l, rp, 1), 0);
	assert_int_equal(r[0].index, 3);
	texts[2] = "first";
	texts[3] = "second";
	texts[1] = "text-0";
	gate_open(0);
	assert_int_equal(lgfs_ledger_sync(l, 0), 0);
	assert_int_equal(lgfs_ledger_size(l), 4);
	walk_all(l, texts);
	lgfs_ledger_close(l);
	lgfs_sys_reset();
	audit_clean(f, 4);
}

/* On-demand checkpoints sign the durable size, never records still queued. */
static void test_checkpoint_new_durable_only(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l = open_rw(f);
	struct lgfs_note *n = NULL;
	struct lgfs_checkpoint cp;
	uint8_t root[32];
	char *note = NULL;

	assert_int_equal(submit_notes(l, 0, 5), 1);
	assert_int_equal(lgfs_ledger_sync(l, 0), 0);
	disk_set(1, 0, 0);
	submit_notes(l, 5, 50);
	gate_wait_stuck();
	submit_notes(l, 55, 50);
	assert_int_equal(lgfs_ledger_checkpoint_new(l, &note), 0);
	assert_int_equal(lgfs_note_parse(&n, note, strlen(note)), 0);
	assert_int_equal(lgfs_checkpoint_parse(&cp, n->text, n->text_len), 0);
	assert_int_equal(cp.size, 6);
	assert_int_equal(lgfs_ledger_root(l, 6, root), 0);
	assert_memory_equal(root, cp.root, 32);
	assert_int_equal(lgfs_ledger_root(l, 7, root), LGFS_ERANGE);
	lgfs_note_free(n);
	free(note);
	gate_open(0);
	assert_int_equal(lgfs_ledger_sync(l, 0), 0);
	assert_int_equal(lgfs_ledger_checkpoint_new(l, &note), 0);
	assert_int_equal(lgfs_note_parse(&n, note, strlen(note)), 0);
	assert_int_equal(lgfs_checkpoint_parse(&cp, n->text, n->text_len), 0);
	assert_int_equal(cp.size, 106);
	lgfs_note_free(n);
	free(note);
	lgfs_ledger_close(l);
	lgfs_sys_reset();
	audit_clean(f, 106);
}

struct sampler {
	struct lgfs_ledger *l;
	atomic_int stop;   /* set by the test thread when it is done */
	uint64_t max_records;
	uint64_t max_bytes;
	unsigned long samples;
};

/* Samples the pending counts (both at one instant) as often as it can. */
static void *sampler_main(void *p)
{
	struct sampler *s = p;

	while (!s->stop) {
		uint64_t bytes, recs = lgfs_ledger_pending(s->l, &bytes);

		if (recs > s->max_records)
			s->max_records = recs;
		if (bytes > s->max_bytes)
			s->max_bytes = bytes;
		s->samples++;
		usleep(50);
	}
	return NULL;
}

/* A producer far faster than a slow disk is throttled by the record bound:
 * the pending count reaches the bound but never exceeds it. */
static void test_bound_records(void **state)
{
	struct fixture *f = *state;
	enum { LIMIT = 500, N = 5000 };
	struct lgfs_ledger *l = open_rw(f);
	struct sampler s;
	pthread_t th;
	uint64_t max_after_submit = 0;
	double t0, dt;
	int i;

	assert_int_equal(lgfs_ledger_set_pending_limit(l, 0, 1), LGFS_EINVAL);
	assert_int_equal(lgfs_ledger_set_pending_limit(l, LIMIT, 1u << 30), 0);
	memset(&s, 0, sizeof(s));
	s.l = l;
	disk_set(0, 0, 20000); /* 20 ms per fdatasync */
	assert_int_equal(pthread_create(&th, NULL, sampler_main, &s), 0);
	t0 = now_s();
	for (i = 0; i < N; i++) {
		struct lgfs_record r, *rp = &r;
		uint64_t p;

		note_record(&r, "fast producer");
		assert_int_equal(lgfs_ledger_submit(l, &rp, 1), 0);
		assert_int_equal(r.index, 1 + (uint64_t)i);
		p = lgfs_ledger_pending(l, NULL);
		if (p > max_after_submit)
			max_after_submit = p;
	}
	dt = now_s() - t0;
	assert_int_equal(lgfs_ledger_sync(l, 0), 0);
	s.stop = 1;
	pthread_join(th, NULL);
	assert_true(max_after_submit <= LIMIT);
	assert_true(s.max_records <= LIMIT);
	assert_true(max_after_submit >= LIMIT / 2); /* it really was held back */
	/* N records through a queue of LIMIT on a 20 ms disk: at least
	 * N / LIMIT - 1 batches had to be synced while the producer ran. */
	assert_true(dt >= (N / LIMIT - 1) * 0.020 * 0.9);
	assert_int_equal(lgfs_ledger_durable(l), N + 1);
	lgfs_ledger_close(l);
	lgfs_sys_reset();
	audit_clean(f, N + 1);
}

/* The byte bound holds too (overshot by at most the last call admitted),
 * and several producers blocked on it all get through. */
struct big_producer {
	struct lgfs_ledger *l;
	int count;
	const char *text;
	uint64_t max_bytes_after;
};

static void *big_producer_main(void *p)
{
	struct big_producer *b = p;
	int i;

	for (i = 0; i < b->count; i++) {
		struct lgfs_record r, *rp = &r;
		uint64_t bytes;

		note_record(&r, b->text);
		assert_int_equal(lgfs_ledger_submit(b->l, &rp, 1), 0);
		lgfs_ledger_pending(b->l, &bytes);
		if (bytes > b->max_bytes_after)
			b->max_bytes_after = bytes;
	}
	return NULL;
}

static void test_bound_bytes(void **state)
{
	struct fixture *f = *state;
	enum { THREADS = 4, EACH = 100, TEXT = 8192, LIMIT = 128 * 1024 };
	struct lgfs_ledger *l = open_rw(f);
	struct big_producer b[THREADS];
	struct sampler s;
	pthread_t th[THREADS], sth;
	char *text = malloc(TEXT + 1);
	const uint64_t one = TEXT + 512 + LGFS_ENVELOPE_LEN; /* a record and its envelope, generously */
	int t;

	assert_non_null(text);
	memset(text, 'x', TEXT);
	text[TEXT] = '\0';
	assert_int_equal(lgfs_ledger_set_pending_limit(l, 1000000, LIMIT), 0);
	memset(&s, 0, sizeof(s));
	s.l = l;
	disk_set(0, 0, 10000);
	assert_int_equal(pthread_create(&sth, NULL, sampler_main, &s), 0);
	for (t = 0; t < THREADS; t++) {
		b[t] = (struct big_producer){ l, EACH, text, 0 };
		assert_int_equal(pthread_create(&th[t], NULL, big_producer_main, &b[t]), 0);
	}
	for (t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		assert_true(b[t].max_bytes_after < LIMIT + one);
	}
	assert_int_equal(lgfs_ledger_sync(l, 0), 0);
	s.stop = 1;
	pthread_join(sth, NULL);
	assert_true(s.max_bytes < LIMIT + one);
	assert_true(s.max_bytes >= LIMIT / 2);
	assert_int_equal(lgfs_ledger_durable(l), 1 + THREADS * EACH);
	lgfs_ledger_close(l);
	lgfs_sys_reset();
	audit_clean(f, 1 + THREADS * EACH);
	free(text);
}

/* Synchronous appenders and asynchronous submitters at once: appends
 * return durable, group commit still shares fdatasyncs. */
struct mixed {
	struct lgfs_ledger *l;
	int sync_mode;
	int n;
	int failures;
};

static void *mixed_main(void *p)
{
	struct mixed *m = p;
	int i;

	for (i = 0; i < m->n; i++) {
		struct lgfs_record r, *rp = &r;

		note_record(&r, m->sync_mode ? "append" : "submit");
		if (m->sync_mode) {
			if (lgfs_ledger_append(m->l, &rp, 1) || lgfs_ledger_durable(m->l) <= r.index)
				m->failures++;
		} else if (lgfs_ledger_submit(m->l, &rp, 1)) {
			m->failures++;
		}
	}
	return NULL;
}

static void test_mixed_append_and_submit(void **state)
{
	struct fixture *f = *state;
	enum { THREADS = 6, N = 300 };
	struct lgfs_ledger *l = open_rw(f);
	struct mixed m[THREADS];
	pthread_t th[THREADS];
	unsigned long syncs;
	int t;

	disk_set(0, 0, 0);
	for (t = 0; t < THREADS; t++) {
		m[t] = (struct mixed){ l, t % 2, N, 0 };
		assert_int_equal(pthread_create(&th[t], NULL, mixed_main, &m[t]), 0);
	}
	for (t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(m[t].failures, 0);
	}
	assert_int_equal(lgfs_ledger_sync(l, 0), 0);
	pthread_mutex_lock(&disk_mu);
	syncs = disk_syncs;
	pthread_mutex_unlock(&disk_mu);
	/* batches were shared: even if no two appends ever met (THREADS / 2 * N
	 * fdatasyncs), the submitted records rode along with them or each other */
	assert_true(syncs < THREADS * N * 3 / 4);
	walk_all(l, NULL);
	lgfs_ledger_close(l);
	lgfs_sys_reset();
	audit_clean(f, 1 + THREADS * N);
}

/* The pre-write hook (the file system syncs its chunks there) runs once per
 * batch, before that batch's log fdatasync; when it fails, the batch fails
 * like a failed log write. */
struct presync_probe {
	unsigned long calls;
	unsigned long out_of_order; /* calls that saw their batch's fdatasync done already */
	int fail;                    /* make the next call fail */
};

static int presync_hook(void *arg)
{
	struct presync_probe *p = arg;

	pthread_mutex_lock(&disk_mu);
	if (disk_syncs != p->calls)
		p->out_of_order++;
	pthread_mutex_unlock(&disk_mu);
	p->calls++;
	if (p->fail)
		return lgfs_error_set(LGFS_EIO, "chunks could not be made durable");
	return 0;
}

static void test_presync_hook(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l = open_rw(f);
	struct presync_probe probe = { 0, 0, 0 };
	int round;

	disk_set(0, 0, 0);
	lgfs_ledger_set_presync(l, presync_hook, &probe);
	for (round = 0; round < 20; round++) {
		submit_notes(l, round * 10, 10);
		assert_int_equal(lgfs_ledger_sync(l, 0), 0);
	}
	assert_true(probe.calls >= 20);
	assert_int_equal(probe.out_of_order, 0);
	pthread_mutex_lock(&disk_mu);
	assert_int_equal(disk_syncs, probe.calls); /* one hook call per batch */
	pthread_mutex_unlock(&disk_mu);
	probe.fail = 1; /* the committer is idle: it reads this after the next submit */
	submit_notes(l, 1000, 5);
	assert_int_equal(lgfs_ledger_sync(l, 0), LGFS_EIO);
	assert_non_null(strstr(lgfs_error_last(), "chunks could not be made durable"));
	assert_int_equal(lgfs_ledger_durable(l), 201);
	lgfs_ledger_close(l);
	lgfs_sys_reset();
	audit_clean(f, 201);
}

/* Nobody syncs: the committer still commits on its own, soon. */
static void test_durable_without_sync(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l = open_rw(f);
	double t0 = now_s();

	assert_int_equal(submit_notes(l, 0, 3), 1);
	while (lgfs_ledger_durable(l) < 4 && now_s() - t0 < 5)
		usleep(1000);
	assert_int_equal(lgfs_ledger_durable(l), 4);
	assert_int_equal(lgfs_ledger_pending(l, NULL), 0);
	lgfs_ledger_close(l);
	audit_clean(f, 4);
}

/* Time: a caller's time is kept, the current time is used otherwise, and
 * neither may run backwards: an earlier time is raised to the last one.
 * All records of one call share one time. submitted() counts every index
 * handed out. */
static void test_time_rules(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l = open_rw(f);
	struct lgfs_record r[2], *rp[2] = { &r[0], &r[1] };
	const int64_t future = 4102444800000000000LL; /* 2100-01-01 */
	int64_t before;

	assert_int_equal(lgfs_ledger_submitted(l), 1);
	note_record(&r[0], "now");
	before = (int64_t)time(NULL) * 1000000000LL;
	assert_int_equal(lgfs_ledger_submit(l, rp, 1), 0);
	assert_true(r[0].time_ns >= before - 1000000000LL);
	assert_true(r[0].time_ns < future);
	note_record(&r[0], "caller's time");
	r[0].time_ns = future;
	note_record(&r[1], "same call");
	assert_int_equal(lgfs_ledger_submit(l, rp, 2), 0);
	assert_int_equal(r[0].time_ns, future);
	assert_int_equal(r[1].time_ns, future);
	note_record(&r[0], "clock went back");
	r[0].time_ns = future - 5;
	assert_int_equal(lgfs_ledger_submit(l, rp, 1), 0);
	assert_int_equal(r[0].time_ns, future); /* raised, not backwards */
	note_record(&r[0], "no time given");
	assert_int_equal(lgfs_ledger_submit(l, rp, 1), 0);
	assert_int_equal(r[0].time_ns, future);
	assert_int_equal(lgfs_ledger_submitted(l), 6);
	assert_int_equal(lgfs_ledger_sync(l, 0), 0);
	assert_int_equal(lgfs_ledger_submitted(l), 6);
	assert_int_equal(lgfs_ledger_durable(l), 6);
	walk_all(l, NULL);
	lgfs_ledger_close(l);
	audit_clean(f, 6);
}

/* Read-only ledgers have no committer: submit is refused, sync and
 * durable() answer from the log. */
static void test_readonly(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l;
	struct lgfs_record r, *rp = &r;

	assert_int_equal(lgfs_ledger_open(&l, f->dir, "v", NULL, LGFS_LEDGER_RDONLY), 0);
	note_record(&r, "no");
	assert_int_equal(lgfs_ledger_submit(l, &rp, 1), LGFS_EROFS);
	assert_int_equal(lgfs_ledger_append(l, &rp, 1), LGFS_EROFS);
	assert_int_equal(lgfs_ledger_sync(l, 0), 0);
	assert_int_equal(lgfs_ledger_sync(l, 1), 0);
	assert_int_equal(lgfs_ledger_sync(l, 2), LGFS_ERANGE);
	assert_int_equal(lgfs_ledger_durable(l), 1);
	assert_int_equal(lgfs_ledger_submitted(l), 1);
	assert_int_equal(lgfs_ledger_pending(l, NULL), 0);
	lgfs_ledger_close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_submit_indexes_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_then_read_and_audit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_drains_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durable_never_ahead_of_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_fails_ledger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eio_first_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_on_failing_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_record_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_new_durable_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mixed_append_and_submit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_presync_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durable_without_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
