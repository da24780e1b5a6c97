/*
 * ledger.c — an open volume: signed envelopes, asynchronous group commit,
 * Merkle tree, checkpoints (ledger layer). See ledger.h.
 *
 * Submitting and committing are split. lgfs_ledger_submit() fills, under
 * l->mu, every ledger-owned field of a record, encodes it and builds its
 * envelope without the signature. The chain hash covers only the signed part
 * of an envelope (FORMAT.md §3), so the next record's `prev` is known at once
 * and an index is final when submit returns; nothing there waits for a
 * signature or for the disk. The entry joins the pending queue: a list of
 * batches in index order, only the last of which is still growing.
 *
 * One committer thread per writable ledger takes the oldest batch (after
 * letting it grow briefly when that is cheap, see gather()), signs its
 * envelopes on all cores, appends it to the log store (one write, one
 * fdatasync), extends the tree, signs one checkpoint, advances `size` (the
 * durable count) and wakes whoever waits in lgfs_ledger_sync(). Submitters
 * keep queueing meanwhile, up to a bound on pending records and bytes.
 * lgfs_ledger_append() is submit + sync, so concurrent synchronous callers
 * share batches and fdatasyncs as before.
 *
 * A failed commit puts the ledger in a failed state until it is reopened:
 * the failed batch and everything queued after it are dropped (their indexes
 * were handed out and later records name them in `prev`, so no later record
 * can be written without a gap), and every later submit, and every sync
 * beyond the durable size, returns the error.
 *
 * Locks: tree_mu (the tree, the checkpoints file) is always taken before mu.
 */
#include "ledgerfs/ledger.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/log.h"
#include "ledgerfs/merkle.h"
#include "ledgerfs/sys.h"
#include "ledgerfs/trust.h"
#include "verify.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Records per group commit: bounds the time one batch holds the committer
 * (signing 8192 records takes ~0.3 s on two cores) and so how long a sync
 * that arrives meanwhile waits. One submit is never split across batches,
 * so a larger submit makes one larger batch. */
#define MAX_BATCH 8192
/* Record bytes per group commit, for the same reason (a batch is one write). */
#define MAX_BATCH_BYTES (16u << 20)
/* A committer that finds fewer records queued than the last batch held waits
 * up to this long for the other writers to catch up, so that concurrent
 * synchronous writers share fdatasyncs instead of alternating small batches.
 * A lone writer (last batch of 1) never waits. */
#define GROUP_WAIT_NS 200000
/* When nobody waits for durability (no sync, no throttled submit), the
 * committer lets a batch grow this long before committing it: records
 * submitted one by one then share an fdatasync and a checkpoint instead of
 * each paying for their own, at the cost of being durable up to 25 ms
 * later, which nobody is waiting for (a crash loses at most that much of
 * what was never fsync'd; ext4 commits every 5 s). A sync ends the delay at
 * once. Measured: 10k creates of 4 KiB files through a mount, 1 ms vs 25 ms,
 * four alternating runs each, about 1040 vs 1220 files/s. */
#define ASYNC_DELAY_NS 25000000
/* Room for the message of the error that failed the ledger (error.c keeps
 * 1024 bytes per thread). */
#define FAIL_MSG_MAX 1024

/*
 * Records submitted back to back, committed together as one log append.
 * Only the queue's last batch grows (under l->mu); once the committer takes
 * a batch off the queue it alone owns it.
 */
struct batch {
	uint64_t first;                     /* index of its first entry: the log append's `expected` */
	size_t n;                           /* entries held */
	size_t cap;                         /* entries envs and rec_off have room for */
	uint8_t (*envs)[LGFS_ENVELOPE_LEN]; /* envelopes; the committer fills in the signatures */
	size_t *rec_off;                    /* where each entry's record starts in recs */
	uint8_t *presigned;                 /* 1: signed at submit by another key than the ledger's */
	struct lgfs_buf recs;               /* the encoded records back to back, as the log stores them */
	size_t bytes;                       /* what the batch counts against the pending byte bound */
	struct batch *next;                 /* the following batch (higher indexes) */
};

struct lgfs_ledger {
	char *dir;                     /* volume directory */
	int rdonly;                    /* opened read-only: no committer, nothing written */
	const struct lgfs_key *key;    /* borrowed; NULL when read-only */
	struct lgfs_log *log;          /* the log store; appended to by the committer only */
	struct lgfs_volume_info info;  /* from the genesis record, fixed at open */
	/* What the open verified (verify.h): the leaf hash of every entry, so
	 * that every later read is checked against it, grown by the committer
	 * under tree_mu as batches become durable. */
	struct lgfs_vlog vl;

	/* Taken before mu. The committer holds it while it extends the tree and
	 * writes a checkpoint, so that readers of the tree (roots, on-demand
	 * checkpoints) see it at a durable size and never half-extended. */
	pthread_mutex_t tree_mu;
	struct lgfs_merkle *tree;      /* NULL until needed when read-only */
	int cp_fd;                     /* checkpoints file, -1 when read-only */
	uint64_t cp_size;              /* size of the latest stored checkpoint: close signs a final one if behind */
	int tree_broken;               /* a tree update failed: its roots must never be signed */

	pthread_mutex_t mu;            /* guards everything below */
	pthread_cond_t cv;             /* broadcast when `size` advances or the ledger fails */
	pthread_cond_t qcv;            /* signalled when there is work for the committer, or it must stop */
	struct batch *head, *tail;     /* queued batches the committer has not taken yet, oldest first */
	size_t pending;                /* records submitted, not yet durable (queued or being committed) */
	size_t pending_bytes;          /* their bytes, so a fast producer cannot exhaust memory */
	size_t max_pending;            /* submit waits rather than go beyond this many records */
	size_t max_pending_bytes;      /* ... or this many bytes (see lgfs_ledger_set_pending_limit) */
	size_t last_batch;             /* records in the previous batch, for the group wait */
	unsigned int waiting;          /* threads waiting for `size` to advance (sync, throttled submit) */
	uint64_t next;                 /* index of the next submitted record */
	uint8_t prev[32];              /* envelope hash of the last submitted record: the next one's prev */
	int64_t last_time;             /* time of the last submitted record: time never runs backwards */
	uint64_t size;                 /* durable entries: in the log and fdatasync'd */
	int failed;                    /* 0, or the error code that stopped the ledger */
	char fail_msg[FAIL_MSG_MAX];   /* its message, handed to every caller that hits the failure */
	int stopping;                  /* close asked the committer to drain the queue and end */
	int (*presync)(void *arg);     /* called before each batch is written (see ledger.h) */
	void *presync_arg;             /* its argument */
	int have_thread;               /* the committer was started (writable opens) */
	pthread_t committer;           /* joined by close */
};

int lgfs_volume_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > LGFS_VOLUME_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int lgfs_store_default_path(char **out)
{
	const char *env = getenv("LEDGERFS_STORE"), *home = getenv("HOME");

	*out = NULL;
	if (env && *env)
		*out = strdup(env);
	else if (home && *home) {
		if (asprintf(out, "%s/.local/share/ledgerfs", home) < 0)
			*out = NULL;
	} else
		return lgfs_error_set(LGFS_EINVAL, "neither LEDGERFS_STORE nor HOME is set; use --store DIR");
	return *out ? 0 : lgfs_error_set(LGFS_ENOMEM, "out of memory");
}

int lgfs_volume_dir(char **out, const char *store, const char *name)
{
	*out = NULL;
	if (!lgfs_volume_name_valid(name))
		return lgfs_error_set(LGFS_EINVAL,
				      "invalid volume name '%s': use 1-64 of A-Z a-z 0-9 . _ -, not starting with . or -",
				      name);
	if (asprintf(out, "%s/volumes/%s", store, name) < 0) {
		*out = NULL;
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	}
	return 0;
}

static char *path_join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s/%s", a, b) < 0)
		return NULL;
	return p;
}

static int64_t (*test_clock)(void);

void lgfs_ledger_set_clock(int64_t (*now)(void))
{
	test_clock = now;
}

int64_t lgfs_ledger_now(void)
{
	struct timespec ts;

	if (test_clock)
		return test_clock();
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return lgfs_error_errno(LGFS_EIO, "opening %s", dir);
	if (fsync(fd))
		rc = lgfs_error_errno(LGFS_EIO, "syncing %s", dir);
	close(fd);
	return rc;
}

/* ---- checkpoints file: frames of u32 BE length | note | u32 BE length ---- */

/* Read the last frame cheaply through its trailing length. */
static int cp_latest(int fd, char **out)
{
	struct stat st;
	uint8_t t[4];
	uint32_t n;
	char *note;

	*out = NULL;
	if (fstat(fd, &st))
		return lgfs_error_errno(LGFS_EIO, "reading checkpoints");
	if (st.st_size < 8)
		return lgfs_error_set(LGFS_ENOTFOUND, "no checkpoint stored");
	if (pread(fd, t, 4, st.st_size - 4) != 4)
		return lgfs_error_errno(LGFS_EIO, "reading checkpoints");
	n = lgfs_be32_get(t);
	if (n == 0 || n > LGFS_NOTE_MAX || (off_t)n + 8 > st.st_size)
		return lgfs_error_set(LGFS_ECORRUPT, "checkpoints file ends in a damaged frame");
	note = malloc(n + 1);
	if (!note)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	if (pread(fd, t, 4, st.st_size - 8 - n) != 4 || lgfs_be32_get(t) != n ||
	    pread(fd, note, n, st.st_size - 4 - n) != (ssize_t)n) {
		free(note);
		return lgfs_error_set(LGFS_ECORRUPT, "checkpoints file ends in a damaged frame");
	}
	note[n] = '\0';
	*out = note;
	return 0;
}

static int cp_append(int fd, const char *note, int sync)
{
	size_t n = strlen(note);
	uint8_t *frame = malloc(n + 8);
	int rc = 0;

	if (!frame)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	lgfs_be32_put(frame, (uint32_t)n);
	memcpy(frame + 4, note, n);
	lgfs_be32_put(frame + 4 + n, (uint32_t)n);
	if (write(fd, frame, n + 8) != (ssize_t)(n + 8))
		rc = lgfs_error_errno(LGFS_EIO, "writing a checkpoint");
	else if (sync && fdatasync(fd))
		rc = lgfs_error_errno(LGFS_EIO, "syncing checkpoints");
	free(frame);
	return rc;
}

/* The complete frames, as the verified open reads them (verify.c). */
int lgfs_checkpoints_each(const char *voldir, lgfs_checkpoint_cb cb, void *arg)
{
	struct lgfs_cpfile f;
	size_t k;
	int rc = lgfs_cpfile_read(&f, voldir);

	for (k = 0; !rc && k < f.nframes; k++)
		rc = cb(arg, (const char *)f.data + f.off[k], f.nlen[k]);
	lgfs_cpfile_free(&f);
	return rc;
}

/* ---- building entries ---- */

/* Sign an envelope in place (its last 64 bytes) for a volume's origin. */
static int sign_envelope(const struct lgfs_key *key, const char *origin, uint8_t env[LGFS_ENVELOPE_LEN])
{
	struct lgfs_buf msg = LGFS_BUF_INIT;
	int rc;

	rc = lgfs_envelope_signed_message(&msg, origin, env);
	if (!rc)
		rc = lgfs_key_sign(key, env + LGFS_ENVELOPE_SIGNED_LEN, msg.data, msg.len);
	lgfs_buf_free(&msg);
	return rc;
}

/* Fill the ledger-owned fields of r for position `index` and encode it;
 * env_out gets the envelope without its signature (sign_envelope does
 * that, possibly on another thread). rec_out gets the record bytes
 * appended. The caller has put a fresh salt in r->salt (done outside the
 * ledger lock, since it does not depend on the position). For the genesis
 * record (index 0) the origin is derived here and stored in *origin. */
static int build_entry(const struct lgfs_key *key, char *origin, uint64_t index, const uint8_t prev[32],
		       int64_t time_ns, struct lgfs_record *r, struct lgfs_buf *rec_out,
		       uint8_t env_out[LGFS_ENVELOPE_LEN])
{
	struct lgfs_envelope env;
	size_t start = rec_out->len;
	int rc;

	if ((index == 0) != (r->op == LGFS_OP_GENESIS))
		return lgfs_error_set(LGFS_EINVAL, "a genesis record must be exactly the first record");
	r->version = LGFS_FORMAT_VERSION;
	snprintf(r->origin, sizeof(r->origin), "%s", index == 0 ? "" : origin);
	r->index = index;
	memcpy(r->prev, prev, 32);
	memcpy(r->author, lgfs_key_public(key), 32);
	r->time_ns = time_ns;
	rc = lgfs_record_encode(rec_out, r);
	if (rc)
		return rc;
	memset(&env, 0, sizeof(env));
	env.version = LGFS_FORMAT_VERSION;
	env.index = index;
	memcpy(env.prev, prev, 32);
	memcpy(env.author, r->author, 32);
	env.time_ns = time_ns;
	lgfs_record_commitment(env.commitment, rec_out->data + start, rec_out->len - start);
	if (index == 0) {
		const struct lgfs_arg *name = lgfs_record_arg(r, LGFS_F_NAME);
		char nm[LGFS_VOLUME_NAME_MAX + 1];

		if (!name || name->len > LGFS_VOLUME_NAME_MAX)
			return lgfs_error_set(LGFS_EINVAL, "genesis record needs a volume name");
		memcpy(nm, name->data, name->len);
		nm[name->len] = '\0';
		rc = lgfs_origin_make(origin, nm, env.commitment);
		if (rc)
			return rc;
	}
	lgfs_envelope_encode(env_out, &env);
	return 0;
}

/* Signing on all cores: each worker signs a slice of the batch. */
struct sign_work {
	const struct lgfs_key *key;
	const char *origin;
	uint8_t (*envs)[LGFS_ENVELOPE_LEN];
	const uint8_t *presigned;
	size_t from, to;
	int rc;
};

static void *sign_worker(void *arg)
{
	struct sign_work *w = arg;
	size_t i;

	for (i = w->from; i < w->to && !w->rc; i++)
		if (!w->presigned[i])
			w->rc = sign_envelope(w->key, w->origin, w->envs[i]);
	return NULL;
}

#define SIGN_PARALLEL_MIN 4 /* smaller batches are signed in the caller (a thread costs ~30 us, a signature ~65 us) */
#define SIGN_MAX_THREADS 16

static int sign_batch(const struct lgfs_key *key, const char *origin, uint8_t (*envs)[LGFS_ENVELOPE_LEN],
		      const uint8_t *presigned, size_t n)
{
	struct sign_work w[SIGN_MAX_THREADS];
	pthread_t tid[SIGN_MAX_THREADS];
	int started[SIGN_MAX_THREADS] = { 0 };
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nt = n < SIGN_PARALLEL_MIN || ncpu < 2 ? 1 : (size_t)ncpu, t;
	int rc = 0;

	if (nt > SIGN_MAX_THREADS)
		nt = SIGN_MAX_THREADS;
	for (t = 0; t < nt; t++) {
		w[t] = (struct sign_work){ key, origin, envs, presigned, n * t / nt, n * (t + 1) / nt, 0 };
		if (t > 0)
			started[t] = pthread_create(&tid[t], NULL, sign_worker, &w[t]) == 0;
	}
	sign_worker(&w[0]);
	for (t = 1; t < nt; t++) {
		if (started[t])
			pthread_join(tid[t], NULL);
		else
			sign_worker(&w[t]); /* no thread to be had: sign here */
	}
	for (t = 0; t < nt; t++)
		if (w[t].rc && !rc)
			rc = w[t].rc;
	return rc;
}

/* Sign a checkpoint of the first `size` entries with the ledger's key. */
static int sign_checkpoint(struct lgfs_ledger *l, uint64_t size, char **out)
{
	struct lgfs_checkpoint cp;
	int rc;

	memset(&cp, 0, sizeof(cp));
	snprintf(cp.origin, sizeof(cp.origin), "%s", l->info.origin);
	cp.size = size;
	/* The root signed is the one computed from the envelopes this ledger
	 * verified or wrote (the frontier in memory), never one read back
	 * from the derived tree file. */
	if (size != l->vl.front.size)
		return lgfs_error_set(LGFS_ERANGE, "a checkpoint is only signed for the log's durable size");
	lgfs_merkle_frontier_root(&l->vl.front, cp.root);
	(void)rc;
	return lgfs_checkpoint_sign(out, &cp, l->key);
}

/* ---- the pending queue and the committer ---- */

/* A new, empty batch whose first entry will be `first`; NULL when out of
 * memory. Freed with batch_free(). */
static struct batch *batch_new(uint64_t first)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (b)
		b->first = first;
	return b;
}

/* Free a batch (NULL is fine). */
static void batch_free(struct batch *b)
{
	if (!b)
		return;
	free(b->envs);
	free(b->rec_off);
	free(b->presigned);
	lgfs_buf_free(&b->recs);
	free(b);
}

/* Make room for `want` entries in b, growing by doubling so that a batch
 * built one small submit at a time is not reallocated on every call. */
static int batch_reserve(struct batch *b, size_t want)
{
	uint8_t (*envs)[LGFS_ENVELOPE_LEN];
	size_t *off, cap = b->cap ? b->cap : 16;

	if (want <= b->cap)
		return 0;
	while (cap < want)
		cap *= 2;
	envs = realloc(b->envs, cap * sizeof(*envs));
	if (!envs)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory queueing records");
	b->envs = envs;
	off = realloc(b->rec_off, cap * sizeof(*off));
	if (!off)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory queueing records");
	b->rec_off = off;
	{
		uint8_t *ps = realloc(b->presigned, cap);

		if (!ps)
			return lgfs_error_set(LGFS_ENOMEM, "out of memory queueing records");
		b->presigned = ps;
	}
	b->cap = cap;
	return 0;
}

/*
 * Sign, write and publish one batch (committer thread, without l->mu).
 * Returns 0 when the batch is durable and in the tree. A signing or log
 * failure leaves the log as it was (the store undoes a failed append). A
 * tree failure comes after the batch is durable: `size` then covers it, but
 * the tree is marked broken so that no checkpoint is ever signed from it.
 * presync is the hook as it was when the batch was taken (read under l->mu).
 */
static int commit_batch(struct lgfs_ledger *l, struct batch *b, int (*presync)(void *arg), void *presync_arg)
{
	struct lgfs_log_entry *entries;
	uint64_t end = b->first + b->n;
	char *note = NULL;
	size_t i;
	int rc;

	entries = calloc(b->n, sizeof(*entries));
	if (!entries)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory committing records");
	rc = sign_batch(l->key, l->info.origin, b->envs, b->presigned, b->n);
	if (rc)
		goto out;
	for (i = 0; i < b->n; i++) {
		entries[i].index = b->first + i;
		entries[i].envelope = b->envs[i];
		entries[i].envelope_len = LGFS_ENVELOPE_LEN;
		entries[i].record = b->recs.data + b->rec_off[i];
		entries[i].record_len = (i + 1 < b->n ? b->rec_off[i + 1] : b->recs.len) - b->rec_off[i];
	}
	/* Whatever the records name (chunks) becomes durable before they do. */
	if (presync && (rc = presync(presync_arg)))
		goto out;
	rc = lgfs_log_append(l->log, b->first, entries, b->n);
	if (rc)
		goto out;
	pthread_mutex_lock(&l->tree_mu);
	rc = lgfs_vlog_reserve(&l->vl, end);
	for (i = 0; i < b->n && !rc; i++) {
		lgfs_merkle_leaf_hash(l->vl.leaves[b->first + i], b->envs[i], LGFS_ENVELOPE_LEN);
		lgfs_merkle_frontier_append(&l->vl.front, l->vl.leaves[b->first + i]);
	}
	for (i = 0; i < b->n && !rc; i++)
		rc = lgfs_merkle_append(l->tree, l->vl.leaves[b->first + i]);
	if (!rc)
		rc = lgfs_merkle_flush(l->tree);
	if (rc)
		l->tree_broken = 1;
	/* The batch is durable: its checkpoint, then wake the waiters (as the
	 * synchronous append always did: when it returns, the latest checkpoint
	 * covers its records). A checkpoint that fails to be written is only
	 * missing; close retries. */
	if (!rc && sign_checkpoint(l, end, &note) == 0 && cp_append(l->cp_fd, note, 0) == 0)
		l->cp_size = end;
	pthread_mutex_lock(&l->mu);
	l->size = end;
	l->pending -= b->n;
	l->pending_bytes -= b->bytes;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_mutex_unlock(&l->tree_mu);
	free(note);
out:
	free(entries);
	return rc;
}

/*
 * A commit failed (called with l->mu held): the ledger stops accepting
 * records. Batches still queued are dropped, since each names the previous
 * envelope in its chain and the failed one will never be in the log.
 * Throttled submitters and sync waiters are woken to return the error.
 */
static void ledger_fail(struct lgfs_ledger *l, int rc, const struct batch *b, const char *msg)
{
	struct batch *q;

	if (!l->failed) {
		l->failed = rc;
		snprintf(l->fail_msg, sizeof(l->fail_msg),
			 "%s log entries %llu..%llu failed; the volume takes no more records until reopened: %s",
			 l->size >= b->first + b->n ? "updating the Merkle tree after" : "committing",
			 (unsigned long long)b->first, (unsigned long long)(b->first + b->n - 1), msg);
	}
	while ((q = l->head)) {
		l->head = q->next;
		batch_free(q);
	}
	l->tail = NULL;
	l->pending = 0;
	l->pending_bytes = 0;
	pthread_cond_broadcast(&l->cv);
}

/* dl = now + ns, for pthread_cond_timedwait (CLOCK_REALTIME). */
static void deadline_in(struct timespec *dl, long ns)
{
	clock_gettime(CLOCK_REALTIME, dl);
	dl->tv_nsec += ns;
	if (dl->tv_nsec >= 1000000000) {
		dl->tv_sec++;
		dl->tv_nsec -= 1000000000;
	}
}

/*
 * With l->mu held, before the committer takes the head batch: let it grow a
 * little while that is cheap. Only the queue's last batch still grows, so
 * there is nothing to gather when another batch follows it, when close is
 * draining, or when submitters are held by the bound. Nobody waiting for
 * durability: up to ASYNC_DELAY_NS, ended by the first sync. Then, if the
 * batch is smaller than the last one, up to GROUP_WAIT_NS for the other
 * synchronous writers (see GROUP_WAIT_NS). Submitters and syncers signal
 * qcv exactly when one of these conditions may have changed.
 */
static void gather(struct lgfs_ledger *l)
{
	struct timespec dl;

	if (l->stopping || l->head != l->tail || l->pending >= l->max_pending ||
	    l->pending_bytes >= l->max_pending_bytes)
		return;
	if (l->waiting == 0) {
		deadline_in(&dl, ASYNC_DELAY_NS);
		while (!l->stopping && l->head == l->tail && l->waiting == 0)
			if (pthread_cond_timedwait(&l->qcv, &l->mu, &dl))
				return;
		if (l->stopping || l->head != l->tail)
			return;
	}
	if (l->last_batch <= 1 || l->head->n >= l->last_batch)
		return;
	deadline_in(&dl, GROUP_WAIT_NS);
	while (!l->stopping && l->head == l->tail && l->head->n < l->last_batch)
		if (pthread_cond_timedwait(&l->qcv, &l->mu, &dl))
			break;
}

/* The committer thread: commits the oldest queued batch until close asks it
 * to stop and the queue is empty (close drains the queue). */
static void *committer_main(void *arg)
{
	struct lgfs_ledger *l = arg;
	int (*presync)(void *arg);
	void *presync_arg;
	struct batch *b;
	int rc;

	pthread_mutex_lock(&l->mu);
	for (;;) {
		if (!l->head) {
			if (l->stopping)
				break;
			pthread_cond_wait(&l->qcv, &l->mu);
			continue;
		}
		gather(l);
		b = l->head;
		l->head = b->next;
		if (!l->head)
			l->tail = NULL;
		b->next = NULL;
		l->last_batch = b->n;
		presync = l->presync;
		presync_arg = l->presync_arg;
		pthread_mutex_unlock(&l->mu);
		rc = commit_batch(l, b, presync, presync_arg);
		pthread_mutex_lock(&l->mu);
		if (rc)
			ledger_fail(l, rc, b, lgfs_error_last());
		batch_free(b);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* Start the committer of a writable ledger. It runs with every signal
 * blocked (as do the signing threads it starts), so that signals meant for
 * the application (a FUSE loop's SIGINT, say) go to the application's own
 * threads. */
static int committer_start(struct lgfs_ledger *l)
{
	sigset_t all, old;
	int err;

	if (l->rdonly)
		return 0;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&l->committer, NULL, committer_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		errno = err;
		return lgfs_error_errno(LGFS_ERROR, "starting the ledger's committer thread");
	}
	l->have_thread = 1;
	return 0;
}

/* ---- opening ---- */

/* Bring the derived tree file to the verified log: it must hold exactly the
 * verified leaves, and its root must be the one recomputed from the
 * envelopes. A file that disagrees (torn, damaged or poisoned) is rebuilt
 * from the leaf hashes; it is derived data, never evidence. Only nodes the
 * roots are made of matter for signing: the check of the root at the full
 * size covers them, and proofs are checked before use. */
static int tree_sync(struct lgfs_ledger *l)
{
	uint64_t tsize = lgfs_merkle_size(l->tree), i;
	uint8_t root[32], leaf[32];
	int rc, attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		if (tsize > l->size && (rc = lgfs_merkle_truncate(l->tree, l->size)))
			return rc;
		tsize = lgfs_merkle_size(l->tree);
		if (attempt == 0 && tsize > 0) {
			/* The leaves kept must be the verified ones (spot check: first and last). */
			if (lgfs_merkle_leaf(l->tree, 0, leaf) || memcmp(leaf, l->vl.leaves[0], 32) ||
			    lgfs_merkle_leaf(l->tree, tsize - 1, leaf) || memcmp(leaf, l->vl.leaves[tsize - 1], 32)) {
				if ((rc = lgfs_merkle_truncate(l->tree, 0)))
					return rc;
				tsize = 0;
			}
		}
		for (i = tsize; i < l->size; i++)
			if ((rc = lgfs_merkle_append(l->tree, l->vl.leaves[i])))
				return rc;
		if ((rc = lgfs_merkle_flush(l->tree)))
			return rc;
		if (lgfs_merkle_root(l->tree, l->size, root) == 0 && !memcmp(root, l->vl.root, 32))
			return 0;
		/* The derived tree is wrong: rebuild it from the verified leaves. */
		if ((rc = lgfs_merkle_truncate(l->tree, 0)))
			return rc;
		tsize = 0;
	}
	return lgfs_error_set(LGFS_EIO, "the Merkle node file of volume '%s' cannot be rebuilt", l->info.name);
}

/* The torn tail of the log (an incomplete last frame) is cut only by a
 * writer, only once the log before it verified, and only when no checkpoint
 * covered it: the verification refused the volume already if one did. */
static int cut_torn_tail(struct lgfs_ledger *l)
{
	if (l->log->torn_bytes == 0)
		return 0;
	return lgfs_log_cut_torn(l->log);
}

/* The checkpoints file of a writer: its torn last frame (a checkpoint being
 * written when the process died; verification refused anything else) is
 * cut, then new checkpoints are appended. */
static int open_checkpoints(struct lgfs_ledger *l)
{
	char *path = path_join(l->dir, "checkpoints");

	if (!path)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	l->cp_fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	free(path);
	if (l->cp_fd < 0)
		return lgfs_error_errno(LGFS_EIO, "opening the checkpoints file of volume '%s'", l->info.name);
	if (l->vl.cp_file_size != l->vl.cp_valid_end &&
	    (ftruncate(l->cp_fd, l->vl.cp_valid_end) || fdatasync(l->cp_fd)))
		return lgfs_error_errno(LGFS_EIO, "cutting the torn last checkpoint of volume '%s'", l->info.name);
	fchmod(l->cp_fd, 0600);
	l->cp_size = l->vl.cp_size;
	return 0;
}

/* Remember in the user's own state what was verified (trust.h). A failure
 * to write that state does not stop the reader; it is only less protected
 * next time. */
static void pin_verified(struct lgfs_ledger *l, const char *note)
{
	if (note)
		(void)lgfs_trust_save(l->dir, note);
}

int lgfs_ledger_open_dir(struct lgfs_ledger **out, const char *dir, const struct lgfs_key *key, int flags)
{
	struct lgfs_ledger *l;
	char *path = NULL;
	int rc;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	l->cp_fd = -1;
	pthread_mutex_init(&l->tree_mu, NULL);
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	pthread_cond_init(&l->qcv, NULL);
	l->max_pending = LGFS_LEDGER_PENDING_RECORDS;
	l->max_pending_bytes = LGFS_LEDGER_PENDING_BYTES;
	l->rdonly = !!(flags & LGFS_LEDGER_RDONLY);
	l->dir = strdup(dir);
	if (!l->dir) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto fail;
	}
	if (!l->rdonly) {
		if (!key || !lgfs_key_has_private(key)) {
			rc = lgfs_error_set(LGFS_EINVAL, "writing to a volume needs a private key");
			goto fail;
		}
		l->key = key;
	}
	path = path_join(dir, "log");
	if (!path) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto fail;
	}
	rc = lgfs_log_open(&l->log, path, l->rdonly ? LGFS_LOG_RDONLY : LGFS_LOG_KEEP_TORN);
	free(path);
	path = NULL;
	if (rc) {
		if (rc == LGFS_ENOTFOUND)
			lgfs_error_set(rc, "no volume at %s", dir);
		goto fail;
	}
	/* Nothing is served, applied or signed before the whole log verified. */
	rc = lgfs_vlog_verify(&l->vl, l->log, dir, l->rdonly);
	if (rc)
		goto fail;
	l->info = l->vl.info;
	l->size = l->vl.size;
	memcpy(l->prev, l->vl.prev, 32);
	l->last_time = l->vl.last_time;
	l->next = l->size;
	if (!l->rdonly && memcmp(lgfs_key_public(key), l->info.founder, 32)) {
		rc = lgfs_error_set(LGFS_EPERM, "key '%s' is not a member of volume '%s'",
				    lgfs_key_name(key), l->info.name);
		goto fail;
	}
	pin_verified(l, l->vl.cp_note);
	if (l->rdonly)
		goto done;

	if ((rc = cut_torn_tail(l)) || (rc = open_checkpoints(l)))
		goto fail;
	path = path_join(dir, "tree");
	if (!path) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto fail;
	}
	rc = lgfs_merkle_open(&l->tree, path);
	free(path);
	path = NULL;
	if (!rc)
		rc = tree_sync(l);
	if (!rc)
		rc = committer_start(l);
	if (rc)
		goto fail;
done:
	*out = l;
	return 0;
fail:
	lgfs_ledger_close(l);
	return rc;
}

int lgfs_ledger_open(struct lgfs_ledger **out, const char *store, const char *name,
		     const struct lgfs_key *key, int flags)
{
	char *dir;
	int rc;

	*out = NULL;
	rc = lgfs_volume_dir(&dir, store, name);
	if (rc)
		return rc;
	if (access(dir, F_OK)) {
		rc = lgfs_error_set(LGFS_ENOTFOUND, "no volume '%s' in store %s", name, store);
		free(dir);
		return rc;
	}
	rc = lgfs_ledger_open_dir(out, dir, key, flags);
	free(dir);
	return rc;
}

/* Also the cleanup of a failed open, so any field may still be unset. The
 * committer is joined before the final checkpoint, so that it covers every
 * record that became durable. */
void lgfs_ledger_close(struct lgfs_ledger *l)
{
	struct batch *q;

	if (!l)
		return;
	if (l->have_thread) {
		/* Drain: the committer commits everything queued, then ends. */
		pthread_mutex_lock(&l->mu);
		l->stopping = 1;
		pthread_cond_signal(&l->qcv);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->committer, NULL);
	}
	if (!l->rdonly && l->tree && l->cp_fd >= 0 && !l->tree_broken) {
		char *note = NULL;

		/* A final checkpoint if the log grew since the last one; then make
		 * the checkpoints (written without sync after each batch) durable. */
		if (l->cp_size != l->size && sign_checkpoint(l, l->size, &note) == 0 &&
		    cp_append(l->cp_fd, note, 0) == 0)
			l->cp_size = l->size;
		if (fdatasync(l->cp_fd) == 0 && l->cp_size == l->size) {
			/* What this writer verified and signed, now durable, is what
			 * its user trusts next time. */
			if (!note)
				cp_latest(l->cp_fd, &note);
			pin_verified(l, note);
		}
		free(note);
	}
	while ((q = l->head)) { /* only when the open failed before the committer ran */
		l->head = q->next;
		batch_free(q);
	}
	if (l->tree) {
		lgfs_merkle_flush(l->tree);
		lgfs_merkle_close(l->tree);
	}
	if (l->cp_fd >= 0)
		close(l->cp_fd);
	if (l->log)
		lgfs_log_close(l->log);
	pthread_cond_destroy(&l->cv);
	pthread_cond_destroy(&l->qcv);
	pthread_mutex_destroy(&l->mu);
	pthread_mutex_destroy(&l->tree_mu);
	lgfs_vlog_free(&l->vl);
	free(l->dir);
	free(l);
}

const struct lgfs_volume_info *lgfs_ledger_info(const struct lgfs_ledger *l)
{
	return &l->info;
}

const char *lgfs_ledger_dir(const struct lgfs_ledger *l)
{
	return l->dir;
}

/* The durable size: what lgfs_ledger_read() and lgfs_ledger_root() can
 * reach. */
uint64_t lgfs_ledger_size(struct lgfs_ledger *l)
{
	return lgfs_ledger_durable(l);
}

/* Read under l->mu: the committer advances it after the log append. */
uint64_t lgfs_ledger_durable(struct lgfs_ledger *l)
{
	uint64_t n;

	pthread_mutex_lock(&l->mu);
	n = l->size;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* Read under l->mu: submitters advance it. */
uint64_t lgfs_ledger_submitted(struct lgfs_ledger *l)
{
	uint64_t n;

	pthread_mutex_lock(&l->mu);
	n = l->next;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* Both counts read at one instant, so a caller (or a test) can compare
 * them with the bound. */
uint64_t lgfs_ledger_pending(struct lgfs_ledger *l, uint64_t *bytes_out)
{
	uint64_t n;

	pthread_mutex_lock(&l->mu);
	n = l->pending;
	if (bytes_out)
		*bytes_out = l->pending_bytes;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* Waiting submitters are woken, since a raised bound may let them in. */
int lgfs_ledger_set_pending_limit(struct lgfs_ledger *l, size_t records, size_t bytes)
{
	if (records == 0 || bytes == 0)
		return lgfs_error_set(LGFS_EINVAL, "pending limits must be at least 1 record and 1 byte");
	pthread_mutex_lock(&l->mu);
	l->max_pending = records;
	l->max_pending_bytes = bytes;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return 0;
}

/* Set under l->mu: the committer reads the hook after taking a batch off the
 * queue under l->mu, so it sees the change from its next batch on. */
void lgfs_ledger_set_presync(struct lgfs_ledger *l, int (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&l->mu);
	l->presync = fn;
	l->presync_arg = arg;
	pthread_mutex_unlock(&l->mu);
}

/* ---- appending ---- */

/*
 * Everything cheap happens here, under l->mu so that indexes, chain and
 * time follow submission order: salts are drawn before the lock (they do
 * not depend on the position), then each record is filled in, encoded,
 * committed to and enveloped (no signature) into the queue's last batch.
 * A record that fails leaves the batch and the ledger as they were.
 */
int lgfs_ledger_submit(struct lgfs_ledger *l, struct lgfs_record *const *recs, size_t n)
{
	return lgfs_ledger_submit_as(l, l->key, recs, n);
}

int lgfs_ledger_submit_as(struct lgfs_ledger *l, const struct lgfs_key *signer, struct lgfs_record *const *recs,
			  size_t n)
{
	struct batch *b = NULL, *fresh = NULL;
	size_t i, n0 = 0, len0 = 0, bytes;
	uint64_t index;
	uint8_t prev[32];
	int64_t t;
	int rc = 0;

	if (l->rdonly)
		return lgfs_error_set(LGFS_EROFS, "volume opened read-only");
	if (!signer || !lgfs_key_has_private(signer))
		return lgfs_error_set(LGFS_EINVAL, "signing a record needs a private key");
	for (i = 0; i < n; i++) {
		uint16_t op = recs[i]->op;

		if (!lgfs_op_supported(op))
			return lgfs_error_set(LGFS_EINVAL,
					      "operation '%s' is reserved for a later version and cannot be written yet",
					      lgfs_op_name(op) ? lgfs_op_name(op) : "?");
		if (RAND_bytes(recs[i]->salt, LGFS_SALT_LEN) != 1)
			return lgfs_error_set(LGFS_ERROR, "no randomness for the record salt");
	}
	if (n == 0)
		return 0;
	pthread_mutex_lock(&l->mu);
	/* The bound: wait for the committer, but never with nothing pending
	 * (a call larger than the bound then goes in alone). */
	if (!l->failed && l->pending > 0 &&
	    (l->pending + n > l->max_pending || l->pending_bytes >= l->max_pending_bytes)) {
		l->waiting++;
		pthread_cond_signal(&l->qcv); /* no point in gathering now */
		while (!l->failed && l->pending > 0 &&
		       (l->pending + n > l->max_pending || l->pending_bytes >= l->max_pending_bytes))
			pthread_cond_wait(&l->cv, &l->mu);
		l->waiting--;
	}
	if (l->failed) {
		rc = lgfs_error_set(l->failed, "%s", l->fail_msg);
		goto out;
	}
	b = l->tail;
	if (!b || b->n + n > MAX_BATCH || b->recs.len >= MAX_BATCH_BYTES) {
		b = fresh = batch_new(l->next);
		if (!fresh) {
			rc = lgfs_error_set(LGFS_ENOMEM, "out of memory queueing records");
			goto out;
		}
	}
	n0 = b->n;
	len0 = b->recs.len;
	rc = batch_reserve(b, b->n + n);
	if (rc)
		goto out;
	index = l->next;
	memcpy(prev, l->prev, 32);
	/* A caller that set the first record's time (the file system, which
	 * applies the record to its index before submitting it) keeps it,
	 * unless it would run backwards. */
	t = recs[0]->time_ns > 0 ? recs[0]->time_ns : lgfs_ledger_now();
	if (t < l->last_time)
		t = l->last_time; /* keep log time non-decreasing if the clock steps back */
	for (i = 0; i < n; i++) {
		b->rec_off[b->n] = b->recs.len;
		rc = build_entry(signer, l->info.origin, index, prev, t, recs[i], &b->recs, b->envs[b->n]);
		/* the committer signs with the ledger's key; another signer's
		 * entries are signed here */
		b->presigned[b->n] = signer != l->key;
		if (!rc && signer != l->key)
			rc = sign_envelope(signer, l->info.origin, b->envs[b->n]);
		if (rc)
			goto out;
		lgfs_envelope_hash(prev, b->envs[b->n]);
		b->n++;
		index++;
	}
	bytes = b->recs.len - len0 + n * LGFS_ENVELOPE_LEN;
	b->bytes += bytes;
	if (fresh) {
		if (l->tail)
			l->tail->next = fresh;
		else
			l->head = fresh;
		l->tail = fresh;
		fresh = NULL;
	}
	l->next = index;
	memcpy(l->prev, prev, 32);
	l->last_time = t;
	l->pending += n;
	l->pending_bytes += bytes;
	/* Wake the committer only when it may be waiting for this: a new batch
	 * (work after idling, or the end of the one it gathers), or the group
	 * wait's target reached. */
	if (n0 == 0 || (n0 < l->last_batch && b->n >= l->last_batch))
		pthread_cond_signal(&l->qcv);
out:
	if (rc && b && b != fresh) {
		/* Undo this call's part of a batch that was already queued. */
		b->n = n0;
		b->recs.len = len0;
		b->recs.oom = 0;
	}
	pthread_mutex_unlock(&l->mu);
	batch_free(fresh);
	return rc;
}

/* Waits on l->cv, which the committer broadcasts after every batch and on
 * failure. */
int lgfs_ledger_sync(struct lgfs_ledger *l, uint64_t upto)
{
	int rc = 0;

	pthread_mutex_lock(&l->mu);
	if (upto == 0)
		upto = l->next;
	if (upto > l->next) {
		rc = lgfs_error_set(LGFS_ERANGE, "cannot sync up to index %llu: only %llu records were submitted",
				    (unsigned long long)upto, (unsigned long long)l->next);
		goto out;
	}
	if (l->size < upto && !l->failed) {
		l->waiting++;
		pthread_cond_signal(&l->qcv); /* end the committer's gathering delay */
		while (l->size < upto && !l->failed)
			pthread_cond_wait(&l->cv, &l->mu);
		l->waiting--;
	}
	if (l->size < upto)
		rc = lgfs_error_set(l->failed, "%s", l->fail_msg);
out:
	pthread_mutex_unlock(&l->mu);
	return rc;
}

/* Submit, then wait for exactly these records: concurrent callers end up in
 * the same batch and share its fdatasync and checkpoint. The caller counts
 * as waiting from before its submit, so that the committer never holds its
 * records back for the asynchronous gathering delay. */
int lgfs_ledger_append(struct lgfs_ledger *l, struct lgfs_record *const *recs, size_t n)
{
	int rc;

	pthread_mutex_lock(&l->mu);
	l->waiting++;
	pthread_mutex_unlock(&l->mu);
	rc = lgfs_ledger_submit(l, recs, n);
	if (!rc && n > 0)
		rc = lgfs_ledger_sync(l, recs[n - 1]->index + 1);
	pthread_mutex_lock(&l->mu);
	l->waiting--;
	pthread_mutex_unlock(&l->mu);
	return rc;
}

/* A writable ledger reads its own checkpoints file under tree_mu, so that a
 * checkpoint the committer is writing is never read half-written. */
int lgfs_ledger_checkpoint_latest(struct lgfs_ledger *l, char **out)
{
	char *path;
	int fd, rc;

	*out = NULL;
	if (l->cp_fd >= 0) {
		pthread_mutex_lock(&l->tree_mu);
		rc = cp_latest(l->cp_fd, out);
		pthread_mutex_unlock(&l->tree_mu);
		return rc;
	}
	/* Read-only: the newest checkpoint the open verified. */
	(void)path;
	(void)fd;
	if (!l->vl.cp_note)
		return lgfs_error_set(LGFS_ENOTFOUND, "no checkpoint stored");
	*out = strdup(l->vl.cp_note);
	rc = *out ? 0 : lgfs_error_set(LGFS_ENOMEM, "out of memory");
	return rc;
}

/* Signs the durable size under tree_mu: the committer extends the tree and
 * advances the size while it holds tree_mu, so here the tree is exactly at
 * the durable size and no record still in the queue can be covered. */
int lgfs_ledger_checkpoint_new(struct lgfs_ledger *l, char **out)
{
	uint64_t size;
	int rc;

	*out = NULL;
	if (l->rdonly)
		return lgfs_error_set(LGFS_EROFS, "volume opened read-only");
	pthread_mutex_lock(&l->tree_mu);
	if (l->tree_broken) {
		rc = lgfs_error_set(LGFS_EIO, "the Merkle tree could not be updated; reopen the volume to rebuild it");
		goto out;
	}
	size = lgfs_ledger_durable(l);
	rc = sign_checkpoint(l, size, out);
	if (!rc)
		rc = cp_append(l->cp_fd, *out, 1);
	if (!rc)
		l->cp_size = size;
out:
	pthread_mutex_unlock(&l->tree_mu);
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* Under tree_mu, for the same reason as lgfs_ledger_checkpoint_new(). */
int lgfs_ledger_root(struct lgfs_ledger *l, uint64_t size, uint8_t out[32])
{
	uint64_t durable;
	int rc = 0;

	pthread_mutex_lock(&l->tree_mu);
	durable = lgfs_ledger_durable(l);
	if (!l->tree) {
		/* Read-only: build the tree in memory on first use. */
		uint64_t i;

		rc = lgfs_merkle_open(&l->tree, NULL);
		for (i = 0; !rc && i < durable; i++) {
			const uint8_t *leaf = lgfs_vlog_leaf(&l->vl, i);

			rc = leaf ? lgfs_merkle_append(l->tree, leaf) : LGFS_ECORRUPT;
		}
		if (rc) {
			lgfs_merkle_close(l->tree);
			l->tree = NULL;
			goto out;
		}
	}
	rc = size > durable ? lgfs_error_set(LGFS_ERANGE, "the log has only %llu entries",
					     (unsigned long long)durable)
			    : lgfs_merkle_root(l->tree, size, out);
out:
	pthread_mutex_unlock(&l->tree_mu);
	return rc;
}

struct read_ctx {
	lgfs_ledger_cb cb;
	void *arg;
	struct lgfs_vlog *vl;  /* verified leaf hashes (read under tree_mu) */
	uint64_t nleaves;
};

static int read_cb(void *arg, const struct lgfs_log_entry *e)
{
	struct read_ctx *c = arg;
	struct lgfs_ledger_entry le;
	struct lgfs_record *r = NULL;
	uint8_t leaf[32], com[32];
	const uint8_t *want;
	int rc;

	/* Served only as verified at open (or as written by this writer): the
	 * envelope must be the one whose leaf hash the open computed, and the
	 * record the one its commitment names. */
	if (e->envelope_len != LGFS_ENVELOPE_LEN || e->index >= c->nleaves)
		return lgfs_error_set(LGFS_ECORRUPT, "log entry %llu changed after it was verified",
				      (unsigned long long)e->index);
	lgfs_merkle_leaf_hash(leaf, e->envelope, e->envelope_len);
	if (!(want = lgfs_vlog_leaf(c->vl, e->index)))
		return LGFS_ECORRUPT;
	if (memcmp(leaf, want, 32))
		return lgfs_error_set(LGFS_ECORRUPT, "log entry %llu: its envelope changed after it was verified",
				      (unsigned long long)e->index);
	if (e->record_len == 0)
		return lgfs_error_set(LGFS_ECORRUPT, "log entry %llu: its record is withheld",
				      (unsigned long long)e->index);
	lgfs_record_commitment(com, e->record, e->record_len);
	if (memcmp(com, e->envelope + 81, 32))
		return lgfs_error_set(LGFS_ECORRUPT, "log entry %llu: its record changed after it was verified",
				      (unsigned long long)e->index);
	memset(&le, 0, sizeof(le));
	le.index = e->index;
	le.envelope = e->envelope;
	le.record = e->record;
	le.record_len = e->record_len;
	rc = lgfs_envelope_decode(&le.env, e->envelope, e->envelope_len);
	if (rc)
		return lgfs_error_wrap(rc, "entry %llu", (unsigned long long)e->index);
	if (e->record_len) {
		r = malloc(sizeof(*r));
		if (!r)
			return lgfs_error_set(LGFS_ENOMEM, "out of memory");
		rc = lgfs_record_decode(r, e->record, e->record_len);
		if (rc) {
			free(r);
			return lgfs_error_wrap(rc, "entry %llu", (unsigned long long)e->index);
		}
		le.rec = r;
	}
	rc = c->cb(c->arg, &le);
	free(r);
	return rc;
}

int lgfs_ledger_read(struct lgfs_ledger *l, uint64_t from, uint64_t count, lgfs_ledger_cb cb, void *arg)
{
	int rc;
	struct read_ctx c = { cb, arg, NULL, 0 };
	uint64_t durable;

	/* The leaf array may be moved by the committer's growth: read it
	 * under tree_mu. Only durable entries are read, and their leaves never
	 * change. */
	pthread_mutex_lock(&l->tree_mu);
	durable = lgfs_ledger_durable(l);
	if (from > durable || count > durable - from) {
		pthread_mutex_unlock(&l->tree_mu);
		return lgfs_error_set(LGFS_ERANGE, "entries %llu..%llu are beyond the log's %llu entries",
				      (unsigned long long)from, (unsigned long long)(from + count - 1),
				      (unsigned long long)durable);
	}
	c.vl = &l->vl;
	c.nleaves = durable;
	rc = lgfs_log_read(l->log, from, count, read_cb, &c);
	pthread_mutex_unlock(&l->tree_mu);
	return rc;
}

/* Proofs come from the tree (file or memory), then are checked against the
 * roots recomputed from the verified leaves before they are handed out. */
int lgfs_ledger_consistency_proof(struct lgfs_ledger *l, uint64_t old_size, uint64_t new_size,
				  uint8_t proof[][32], size_t *nproof)
{
	uint8_t old_root[32], new_root[32];
	int rc;

	*nproof = 0;
	if (old_size > new_size)
		return lgfs_error_set(LGFS_ERANGE, "the old size %llu is larger than the new size %llu",
				      (unsigned long long)old_size, (unsigned long long)new_size);
	if ((rc = lgfs_ledger_root(l, new_size, new_root)) || (rc = lgfs_ledger_root(l, old_size, old_root)))
		return rc;
	pthread_mutex_lock(&l->tree_mu);
	rc = lgfs_merkle_consistency_proof(l->tree, old_size, new_size, proof, nproof);
	pthread_mutex_unlock(&l->tree_mu);
	if (rc)
		return rc;
	if (old_size == 0 || old_size == new_size)
		return 0;
	if (lgfs_merkle_verify_consistency(old_size, new_size, old_root, new_root, proof, *nproof))
		return lgfs_error_set(LGFS_ECORRUPT,
				      "the Merkle node file of volume '%s' gives a wrong proof; reopen it as a writer to rebuild the file",
				      l->info.name);
	return 0;
}

/* ---- creating and listing volumes ---- */

int lgfs_volume_create(struct lgfs_volume_info *out, const char *store, const char *name,
		       const struct lgfs_key *founder, const struct lgfs_policy *policy,
		       uint32_t uid, uint32_t gid)
{
	char *vols = NULL, *dir = NULL, *tmp = NULL, *logdir = NULL, *cpath = NULL, *tpath = NULL;
	struct lgfs_record r;
	struct lgfs_buf rec = LGFS_BUF_INIT;
	uint8_t env[LGFS_ENVELOPE_LEN], zero[32] = { 0 }, leaf[32];
	struct lgfs_log *log = NULL;
	struct lgfs_log_entry e;
	struct lgfs_merkle *tree = NULL;
	struct lgfs_checkpoint cp;
	char *note = NULL;
	int rc, fd = -1;

	memset(out, 0, sizeof(*out));
	if (!lgfs_key_has_private(founder))
		return lgfs_error_set(LGFS_EINVAL, "creating a volume needs the founder's private key");
	if (policy->threshold < 1 || policy->threshold > 100)
		return lgfs_error_set(LGFS_EINVAL, "vote threshold must be 1..100 percent");
	rc = lgfs_volume_dir(&dir, store, name);
	if (rc)
		return rc;
	vols = path_join(store, "volumes");
	if (!vols || asprintf(&tmp, "%s/.%s.new-XXXXXX", vols, name) < 0) {
		tmp = NULL;
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto out;
	}
	if (access(dir, F_OK) == 0) {
		rc = lgfs_error_set(LGFS_EEXISTS, "volume '%s' already exists in %s", name, store);
		goto out;
	}
	rc = lgfs_sys_mkdirs(vols, 0700);
	if (rc)
		goto out;
	if (!mkdtemp(tmp)) {
		rc = lgfs_error_errno(LGFS_EIO, "creating %s", tmp);
		goto out;
	}
	/* mkdtemp made it 0700: a store holds confidential content. */
	logdir = path_join(tmp, "log");
	cpath = path_join(tmp, "checkpoints");
	tpath = path_join(tmp, "tree");
	if (!logdir || !cpath || !tpath) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto out;
	}

	lgfs_record_init(&r, LGFS_OP_GENESIS);
	r.uid = uid;
	r.gid = gid;
	if ((rc = lgfs_record_add_str(&r, LGFS_F_NAME, name)) ||
	    (rc = lgfs_record_add_bytes(&r, LGFS_F_KEY, lgfs_key_public(founder), 32)) ||
	    (rc = lgfs_record_add_str(&r, LGFS_F_KEY_NAME, lgfs_key_name(founder))) ||
	    (rc = lgfs_record_add_u32(&r, LGFS_F_THRESHOLD, policy->threshold)) ||
	    (rc = lgfs_record_add_u64(&r, LGFS_F_RETENTION, policy->retention_s)))
		goto out;
	if (RAND_bytes(r.salt, LGFS_SALT_LEN) != 1) {
		rc = lgfs_error_set(LGFS_ERROR, "no randomness for the record salt");
		goto out;
	}
	rc = build_entry(founder, out->origin, 0, zero, lgfs_ledger_now(), &r, &rec, env);
	if (!rc)
		rc = sign_envelope(founder, out->origin, env);
	if (rc)
		goto out;
	rc = lgfs_log_open(&log, logdir, LGFS_LOG_CREATE);
	if (rc)
		goto out;
	e.index = 0;
	e.envelope = env;
	e.envelope_len = LGFS_ENVELOPE_LEN;
	e.record = rec.data;
	e.record_len = rec.len;
	rc = lgfs_log_append(log, 0, &e, 1);
	if (rc)
		goto out;
	rc = lgfs_merkle_open(&tree, tpath);
	if (rc)
		goto out;
	lgfs_merkle_leaf_hash(leaf, env, LGFS_ENVELOPE_LEN);
	if ((rc = lgfs_merkle_append(tree, leaf)) || (rc = lgfs_merkle_flush(tree)))
		goto out;
	memset(&cp, 0, sizeof(cp));
	snprintf(cp.origin, sizeof(cp.origin), "%s", out->origin);
	cp.size = 1;
	if ((rc = lgfs_merkle_root(tree, 1, cp.root)) || (rc = lgfs_checkpoint_sign(&note, &cp, founder)))
		goto out;
	fd = open(cpath, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "creating %s", cpath);
		goto out;
	}
	rc = cp_append(fd, note, 1);
	if (rc)
		goto out;
	if ((rc = fsync_dir(tmp)))
		goto out;
	/* Publish atomically; RENAME_NOREPLACE so a racing init cannot clobber. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE)) {
		rc = errno == EEXIST ? lgfs_error_set(LGFS_EEXISTS, "volume '%s' already exists in %s", name, store)
				     : lgfs_error_errno(LGFS_EIO, "publishing volume %s", dir);
		goto out;
	}
	free(tmp);
	tmp = NULL;
	rc = fsync_dir(vols);
	if (rc)
		goto out;
	/* Whoever creates a volume trusts it: what was pinned for an earlier
	 * volume of the same directory no longer applies. */
	(void)lgfs_trust_forget(dir);
	(void)lgfs_trust_save(dir, note);
	snprintf(out->name, sizeof(out->name), "%s", name);
	memcpy(out->founder, lgfs_key_public(founder), 32);
	snprintf(out->founder_name, sizeof(out->founder_name), "%s", lgfs_key_name(founder));
	out->created_ns = r.time_ns;
	out->policy = *policy;
out:
	if (fd >= 0)
		close(fd);
	lgfs_merkle_close(tree);
	if (log)
		lgfs_log_close(log);
	if (tmp && rc) {
		/* Remove the unpublished directory. */
		char *cmd_paths[] = { cpath, tpath };
		size_t i;

		for (i = 0; i < 2; i++)
			if (cmd_paths[i])
				unlink(cmd_paths[i]);
		if (logdir) {
			DIR *d = opendir(logdir);
			struct dirent *de;

			while (d && (de = readdir(d))) {
				char *f;

				if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
					continue;
				f = path_join(logdir, de->d_name);
				if (f)
					unlink(f);
				free(f);
			}
			if (d)
				closedir(d);
			rmdir(logdir);
		}
		rmdir(tmp);
	}
	lgfs_buf_free(&rec);
	free(note);
	free(vols);
	free(dir);
	free(tmp);
	free(logdir);
	free(cpath);
	free(tpath);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int lgfs_volume_list(const char *store, lgfs_volume_cb cb, void *arg)
{
	char *vols = path_join(store, "volumes");
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (!vols)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	d = opendir(vols);
	if (!d) {
		rc = errno == ENOENT ? 0 : lgfs_error_errno(LGFS_EIO, "listing %s", vols);
		free(vols);
		return rc;
	}
	while ((de = readdir(d))) {
		if (!lgfs_volume_name_valid(de->d_name))
			continue; /* dot entries and unpublished .NAME.new-* dirs */
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));

			if (!nn) {
				rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
				goto out;
			}
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n && !rc; i++)
		rc = cb(arg, names[i]);
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	free(vols);
	return rc;
}

int64_t lgfs_ledger_last_time(struct lgfs_ledger *l)
{
	int64_t t;

	pthread_mutex_lock(&l->mu);
	t = l->last_time;
	pthread_mutex_unlock(&l->mu);
	return t;
}
