/*
 * audit.c — verify a volume's log and checkpoints from the stored bytes
 * (ledger layer). See audit.h.
 *
 * One pass over the log. Cheap checks (encoding, chain, commitment, order,
 * membership, Merkle roots at checkpoint sizes) run as entries stream in;
 * signatures are collected in batches and verified on all cores, after
 * which each batch's good entries are handed to opts->on_entry in order.
 */
#include "ledgerfs/audit.h"
#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/log.h"
#include "ledgerfs/merkle.h"
#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BATCH 8192            /* entries per signature batch */
#define READ_CHUNK 65536      /* entries per log read call (progress granularity) */
#define MAX_MEMBERS 64
#define MAX_THREADS 64

/* A stored checkpoint as the audit sees it. */
struct cp {
	size_t pos;               /* order in the checkpoints file (1-based for people) */
	char *note;               /* owned */
	size_t len;
	struct lgfs_checkpoint c;
	int parsed;
	int root_ok;              /* the log's root at its size matched */
};

/* A checkpoint trusted from outside the store, while the log is walked. */
struct pin {
	const struct lgfs_audit_pin *p;
	int root_ok;              /* the log's root at the pin's size matched */
};

/* A member key, loaded once for fast verification. */
struct member {
	uint8_t pub[32];
	struct lgfs_key *key;
};

/* An entry waiting for its signature check. */
struct item {
	uint64_t index;
	uint8_t env[LGFS_ENVELOPE_LEN];
	size_t rec_off, rec_len;  /* into struct audit.recs */
	int has_rec;
	int bad;                  /* failed a cheap check already */
	int sig_ok;
	const struct lgfs_key *key; /* member key, or NULL: verify raw */
};

struct audit {
	struct lgfs_audit_report *rep;
	const struct lgfs_audit_opts *opts;
	char dirname[LGFS_VOLUME_NAME_MAX + 2]; /* the volume directory's name ("" if longer) */
	struct pin *pins;
	size_t npins;
	char origin[LGFS_ORIGIN_MAX + 1];
	int have_origin;
	struct member members[MAX_MEMBERS];
	size_t nmembers;
	uint64_t next;            /* index expected next */
	uint8_t prev[32];
	int64_t last_time;
	struct lgfs_merkle_frontier f;
	struct cp *cps;           /* sorted by size */
	size_t ncps, cp_next;
	int cp_file;              /* the checkpoints file exists and could be read */
	uint8_t *cp_tail;         /* bytes after its last complete frame, owned */
	size_t cp_tail_len, cp_tail_off;
	struct item *items;       /* current batch */
	size_t nitems;
	struct lgfs_buf recs;     /* record bytes of the batch */
	unsigned int threads;
	int stop_rc;              /* an on_entry callback or allocation failed */
	uint64_t total;
};

/* first_bad: the earliest entry the log's own findings name (pin findings
 * and the entries' own bytes: where the log went wrong); only without them
 * the earliest file-system finding, since those may merely follow from a
 * damaged entry. A fork found by a pin is reported at the pin's last entry,
 * so a damaged entry before it, the likely fork point, is the headline. */
static void update_first_bad(struct lgfs_audit_report *rep)
{
	uint64_t f = rep->level_first[LGFS_FINDING_PIN];

	if (rep->level_first[LGFS_FINDING_LEDGER] < f)
		f = rep->level_first[LGFS_FINDING_LEDGER];
	rep->first_bad = f != LGFS_NO_INDEX ? f : rep->level_first[LGFS_FINDING_FS];
}

static void add_at(struct lgfs_audit_report *rep, int level, uint64_t index, const char *kind, const char *fmt,
		   va_list ap)
{
	struct lgfs_finding *f;
	size_t i;

	if (level < 0 || level >= LGFS_FINDING_LEVELS)
		level = LGFS_FINDING_FS;
	rep->nfindings++;
	rep->level_count[level]++;
	if (index < rep->level_first[level]) {
		rep->level_first[level] = index;
		update_first_bad(rep);
	}
	if (!rep->findings) {
		rep->findings = calloc(LGFS_AUDIT_MAX_STORED, sizeof(*rep->findings));
		if (!rep->findings)
			return; /* counted, not stored */
	}
	if (rep->nstored < LGFS_AUDIT_MAX_STORED) {
		f = &rep->findings[rep->nstored++];
	} else if (level == LGFS_FINDING_PIN) {
		/* Pin findings are added last but are the most serious: one
		 * of the others gives way (it stays counted). */
		for (i = rep->nstored; i > 0 && rep->findings[i - 1].level == LGFS_FINDING_PIN; i--)
			;
		if (i == 0)
			return;
		f = &rep->findings[i - 1];
	} else {
		return;
	}
	f->index = index;
	f->level = level;
	snprintf(f->kind, sizeof(f->kind), "%s", kind);
	vsnprintf(f->message, sizeof(f->message), fmt, ap);
}

void lgfs_audit_add(struct lgfs_audit_report *rep, uint64_t index, const char *kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_at(rep, rep->level, index, kind, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 4, 5)))
add_pin(struct lgfs_audit_report *rep, uint64_t index, const char *kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_at(rep, LGFS_FINDING_PIN, index, kind, fmt, ap);
	va_end(ap);
}

size_t lgfs_audit_count_upto(const struct lgfs_audit_report *rep, int level)
{
	size_t n = 0;
	int l;

	for (l = 0; l <= level && l < LGFS_FINDING_LEVELS; l++)
		n += rep->level_count[l];
	return n;
}

void lgfs_audit_report_free(struct lgfs_audit_report *rep)
{
	free(rep->findings);
	rep->findings = NULL;
	rep->nstored = 0;
	free(rep->verified_note);
	rep->verified_note = NULL;
}

static const struct lgfs_key *member_key(struct audit *a, const uint8_t pub[32])
{
	size_t i;

	for (i = 0; i < a->nmembers; i++)
		if (!memcmp(a->members[i].pub, pub, 32))
			return a->members[i].key;
	return NULL;
}

static int member_add(struct audit *a, const uint8_t pub[32], const char *name)
{
	struct member *m;
	int rc;

	if (member_key(a, pub))
		return 0;
	if (a->nmembers == MAX_MEMBERS)
		return lgfs_error_set(LGFS_ERANGE, "more than %d members", MAX_MEMBERS);
	m = &a->members[a->nmembers];
	memcpy(m->pub, pub, 32);
	rc = lgfs_key_from_public(&m->key, name, pub);
	if (rc)
		return rc;
	a->nmembers++;
	return 0;
}

static void hexkey(char out[17], const uint8_t pub[32])
{
	lgfs_hex(out, pub, 8);
}

/* ---- signatures on all cores ---- */

struct sig_work {
	struct audit *a;
	size_t from, to;
};

static void *sig_worker(void *arg)
{
	struct sig_work *w = arg;
	struct audit *a = w->a;
	uint8_t msg[sizeof(LGFS_TAG_ENVELOPE) + 2 + LGFS_ORIGIN_MAX + LGFS_ENVELOPE_SIGNED_LEN];
	size_t olen = strlen(a->origin), mlen, i;

	memcpy(msg, LGFS_TAG_ENVELOPE, sizeof(LGFS_TAG_ENVELOPE));
	lgfs_be16_put(msg + sizeof(LGFS_TAG_ENVELOPE), (uint16_t)olen);
	memcpy(msg + sizeof(LGFS_TAG_ENVELOPE) + 2, a->origin, olen);
	mlen = sizeof(LGFS_TAG_ENVELOPE) + 2 + olen + LGFS_ENVELOPE_SIGNED_LEN;
	for (i = w->from; i < w->to; i++) {
		struct item *it = &a->items[i];
		const uint8_t *sig = it->env + LGFS_ENVELOPE_SIGNED_LEN;

		memcpy(msg + mlen - LGFS_ENVELOPE_SIGNED_LEN, it->env, LGFS_ENVELOPE_SIGNED_LEN);
		if (it->key)
			it->sig_ok = lgfs_key_verify(it->key, sig, msg, mlen) == 0;
		else
			it->sig_ok = lgfs_ed25519_verify(it->env + 41, sig, msg, mlen) == 0;
	}
	return NULL;
}

/* Verify the batch's signatures, report failures, hand good entries on. */
static int flush_batch(struct audit *a)
{
	pthread_t tids[MAX_THREADS];
	struct sig_work work[MAX_THREADS];
	unsigned int t, nt = a->threads;
	size_t i;
	int rc = 0;

	if (a->nitems == 0)
		return 0;
	if (nt > a->nitems)
		nt = (unsigned int)a->nitems;
	for (t = 0; t < nt; t++) {
		work[t].a = a;
		work[t].from = a->nitems * t / nt;
		work[t].to = a->nitems * (t + 1) / nt;
	}
	for (t = 1; t < nt; t++)
		if (pthread_create(&tids[t], NULL, sig_worker, &work[t])) {
			sig_worker(&work[t]); /* no thread: do it here */
			tids[t] = 0;
		}
	sig_worker(&work[0]);
	for (t = 1; t < nt; t++)
		if (tids[t])
			pthread_join(tids[t], NULL);

	for (i = 0; i < a->nitems && !rc; i++) {
		struct item *it = &a->items[i];
		struct lgfs_ledger_entry e;
		struct lgfs_record r;

		if (!it->sig_ok) {
			lgfs_audit_add(a->rep, it->index, "signature",
				       "index %llu: the envelope's signature does not verify",
				       (unsigned long long)it->index);
			continue;
		}
		a->rep->signatures++;
		if (it->bad || !a->opts || !a->opts->on_entry)
			continue;
		memset(&e, 0, sizeof(e));
		e.index = it->index;
		e.envelope = it->env;
		lgfs_envelope_decode(&e.env, it->env, LGFS_ENVELOPE_LEN);
		if (it->has_rec) {
			e.record = a->recs.data + it->rec_off;
			e.record_len = it->rec_len;
			if (lgfs_record_decode(&r, e.record, e.record_len) == 0)
				e.rec = &r;
		}
		rc = a->opts->on_entry(a->opts->entry_arg, a->rep, &e);
	}
	a->nitems = 0;
	lgfs_buf_reset(&a->recs);
	return rc;
}

/* ---- per-entry checks ---- */

static void check_checkpoints_at(struct audit *a)
{
	uint8_t root[32];
	size_t i;

	while (a->cp_next < a->ncps && a->cps[a->cp_next].c.size <= a->f.size) {
		struct cp *c = &a->cps[a->cp_next++];

		if (c->c.size < a->f.size)
			continue; /* size 0 or a size skipped by a read error: handled later */
		lgfs_merkle_frontier_root(&a->f, root);
		if (memcmp(root, c->c.root, 32))
			lgfs_audit_add(a->rep, c->c.size ? c->c.size - 1 : 0, "root",
				       "checkpoint #%zu (size %llu): its root does not match the log's first %llu entries",
				       c->pos, (unsigned long long)c->c.size, (unsigned long long)c->c.size);
		else
			c->root_ok = 1;
	}
	for (i = 0; i < a->npins; i++)
		if (a->pins[i].p->cp.size == a->f.size) {
			lgfs_merkle_frontier_root(&a->f, root);
			a->pins[i].root_ok = !memcmp(root, a->pins[i].p->cp.root, 32);
		}
}

static int genesis(struct audit *a, const struct lgfs_record *r, const struct lgfs_envelope *env)
{
	const struct lgfs_arg *name = lgfs_record_arg(r, LGFS_F_NAME);
	const struct lgfs_arg *kname = lgfs_record_arg(r, LGFS_F_KEY_NAME);
	const struct lgfs_arg *key = lgfs_record_arg(r, LGFS_F_KEY);
	char nm[LGFS_VOLUME_NAME_MAX + 1], kn[LGFS_KEY_NAME_MAX + 1];

	if (name->len > LGFS_VOLUME_NAME_MAX || kname->len > LGFS_KEY_NAME_MAX) {
		lgfs_audit_add(a->rep, 0, "genesis", "index 0: genesis names are too long");
		return 0;
	}
	memcpy(nm, name->data, name->len);
	nm[name->len] = '\0';
	memcpy(kn, kname->data, kname->len);
	kn[kname->len] = '\0';
	if (!lgfs_volume_name_valid(nm) || !lgfs_key_name_valid(kn)) {
		lgfs_audit_add(a->rep, 0, "genesis", "index 0: invalid volume or key name in genesis");
		return 0;
	}
	if (memcmp(key->data, env->author, 32))
		lgfs_audit_add(a->rep, 0, "genesis", "index 0: genesis is not signed by the founder key it names");
	/* The volume is opened by its directory's name: a log of another
	 * volume moved into this directory must not pass for this one. */
	if (strcmp(nm, a->dirname)) {
		char esc[4 * (LGFS_VOLUME_NAME_MAX + 1) + 1];

		lgfs_escape(esc, sizeof(esc), a->dirname, strlen(a->dirname));
		lgfs_audit_add(a->rep, 0, "genesis",
			       "index 0: the genesis record names volume '%s', but its directory is '%s': "
			       "another volume's log", nm, esc);
	}
	if (lgfs_origin_make(a->origin, nm, env->commitment))
		return 0;
	a->have_origin = 1;
	return member_add(a, key->data, kn);
}

static int entry_cb(void *arg, const struct lgfs_log_entry *le)
{
	struct audit *a = arg;
	struct lgfs_audit_report *rep = a->rep;
	uint64_t i = le->index;
	struct lgfs_envelope env;
	struct lgfs_record r;
	struct item *it;
	uint8_t leaf[32], com[32];
	char kh[17];
	int bad = 0, rc;

	if (i != a->next) {
		lgfs_audit_add(rep, a->next, "order", "index %llu: the log store delivered entry %llu instead",
			       (unsigned long long)a->next, (unsigned long long)i);
		return LGFS_ECORRUPT;
	}
	a->next++;
	rep->entries++;
	lgfs_merkle_leaf_hash(leaf, le->envelope, le->envelope_len);
	lgfs_merkle_frontier_append(&a->f, leaf);
	check_checkpoints_at(a);

	if (lgfs_envelope_decode(&env, le->envelope, le->envelope_len)) {
		lgfs_audit_add(rep, i, "envelope", "index %llu: %s", (unsigned long long)i, lgfs_error_last());
		memset(a->prev, 0, 32); /* the chain is broken here; the next check reports it */
		lgfs_sha256(a->prev, le->envelope, le->envelope_len);
		return 0;
	}
	if (env.index != i) {
		lgfs_audit_add(rep, i, "index", "index %llu: the envelope says it is index %llu",
			       (unsigned long long)i, (unsigned long long)env.index);
		bad = 1;
	}
	if (memcmp(env.prev, a->prev, 32)) {
		lgfs_audit_add(rep, i, "chain",
			       "index %llu: previous-envelope hash does not match entry %llu (entry missing, moved or altered)",
			       (unsigned long long)i, (unsigned long long)(i ? i - 1 : 0));
		bad = 1;
	}
	lgfs_envelope_hash(a->prev, le->envelope);
	if (env.time_ns < a->last_time) {
		lgfs_audit_add(rep, i, "time", "index %llu: time runs backwards (%lld ns before the previous record)",
			       (unsigned long long)i, (long long)(a->last_time - env.time_ns));
		bad = 1;
	}
	a->last_time = env.time_ns;

	if (le->record_len == 0) {
		rep->withheld++;
		/* Nothing authorises withholding a record yet (erasure will be a
		 * record of its own): its change would silently be missing from
		 * every replay. */
		if (i == 0)
			lgfs_audit_add(rep, 0, "genesis", "index 0: the genesis record is missing");
		else
			lgfs_audit_add(rep, i, "withheld",
				       "index %llu: the record is withheld (only its envelope is stored) and no record "
				       "authorises that: its change is missing from the volume",
				       (unsigned long long)i);
		bad = 1;
	} else {
		lgfs_record_commitment(com, le->record, le->record_len);
		if (memcmp(com, env.commitment, 32)) {
			lgfs_audit_add(rep, i, "commitment",
				       "index %llu: the record does not match the envelope's commitment",
				       (unsigned long long)i);
			bad = 1;
		} else if (lgfs_record_decode(&r, le->record, le->record_len)) {
			lgfs_audit_add(rep, i, "record", "index %llu: %s", (unsigned long long)i, lgfs_error_last());
			bad = 1;
		} else {
			if (r.index != env.index || memcmp(r.prev, env.prev, 32) || memcmp(r.author, env.author, 32) ||
			    r.time_ns != env.time_ns) {
				lgfs_audit_add(rep, i, "record",
					       "index %llu: record and envelope disagree on index, previous hash, author or time",
					       (unsigned long long)i);
				bad = 1;
			}
			if (i == 0) {
				if (r.op != LGFS_OP_GENESIS || r.origin[0]) {
					lgfs_audit_add(rep, 0, "genesis", "index 0: the first record is not a genesis record");
					bad = 1;
				} else if ((rc = genesis(a, &r, &env))) {
					return rc;
				}
			} else if (r.op == LGFS_OP_GENESIS) {
				lgfs_audit_add(rep, i, "genesis", "index %llu: a second genesis record",
					       (unsigned long long)i);
				bad = 1;
			} else if (a->have_origin && strcmp(r.origin, a->origin)) {
				char esc[4 * 64 + 1];

				lgfs_escape(esc, sizeof(esc), r.origin, strlen(r.origin));
				lgfs_audit_add(rep, i, "origin", "index %llu: record names origin '%s', not this volume",
					       (unsigned long long)i, esc);
				bad = 1;
			} else if (!lgfs_op_supported(r.op)) {
				lgfs_audit_add(rep, i, "operation",
					       "index %llu: operation '%s' is not supported by this version; not applied",
					       (unsigned long long)i, lgfs_op_name(r.op));
				bad = 1;
			}
		}
	}
	if (!member_key(a, env.author) && !(i == 0 && a->nmembers)) {
		hexkey(kh, env.author);
		lgfs_audit_add(rep, i, "author", "index %llu: author key %s… is not a member; not applied",
			       (unsigned long long)i, kh);
		bad = 1;
	}
	if (!a->have_origin) {
		/* Without the genesis record the signatures cannot be checked. */
		return 0;
	}
	it = &a->items[a->nitems++];
	it->index = i;
	memcpy(it->env, le->envelope, LGFS_ENVELOPE_LEN);
	it->bad = bad;
	it->sig_ok = 0;
	it->key = member_key(a, env.author);
	it->has_rec = le->record_len > 0;
	it->rec_off = a->recs.len;
	it->rec_len = le->record_len;
	if (le->record_len && lgfs_buf_put(&a->recs, le->record, le->record_len))
		return a->stop_rc = LGFS_ENOMEM;
	if (a->nitems == BATCH && (rc = flush_batch(a)))
		return a->stop_rc = rc;
	return 0;
}

/* ---- checkpoints ---- */

static int cp_collect(void *arg, const char *note, size_t len)
{
	struct audit *a = arg;
	struct cp *c, *n = realloc(a->cps, (a->ncps + 1) * sizeof(*a->cps));

	if (!n)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	a->cps = n;
	c = &a->cps[a->ncps];
	memset(c, 0, sizeof(*c));
	c->pos = a->ncps + 1;
	c->note = malloc(len + 1);
	if (!c->note)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	memcpy(c->note, note, len);
	c->note[len] = '\0';
	c->len = len;
	a->ncps++;
	return 0;
}

static int cp_size_cmp(const void *x, const void *y)
{
	const struct cp *a = x, *b = y;

	if (a->c.size != b->c.size)
		return a->c.size < b->c.size ? -1 : 1;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* Read the checkpoints file frame by frame (FORMAT.md: u32 length, note,
 * u32 length) with lgfs_cpfile_read(). Unlike lgfs_checkpoints_each(), what
 * follows the last complete frame is kept: after the walk (the origin
 * known) it is judged torn or damaged. A missing file is a finding: every
 * volume has one from its creation. */
static int cp_load(struct audit *a, const char *voldir)
{
	struct lgfs_cpfile f;
	size_t k;
	int rc;

	if ((rc = lgfs_cpfile_read(&f, voldir)))
		return rc;
	if (f.missing || f.odd) {
		lgfs_audit_add(a->rep, LGFS_NO_INDEX, "checkpoint",
			       f.missing ? "the checkpoints file is missing (every volume has one from its creation)"
					 : "the checkpoints file is not a regular file of sane size");
		goto out;
	}
	for (k = 0; k < f.nframes && !rc; k++)
		rc = cp_collect(a, (const char *)f.data + f.off[k], f.nlen[k]);
	if (rc)
		goto out;
	a->cp_file = 1;
	if (f.valid_end < f.len) {
		a->cp_tail = malloc(f.len - f.valid_end);
		if (!a->cp_tail) {
			rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(a->cp_tail, f.data + f.valid_end, f.len - f.valid_end);
		a->cp_tail_len = f.len - f.valid_end;
		a->cp_tail_off = f.valid_end;
	}
out:
	lgfs_cpfile_free(&f);
	return rc;
}

/* Parse every checkpoint and sort the good ones by size for the walk. */
static void cp_prepare(struct audit *a)
{
	size_t i;

	for (i = 0; i < a->ncps; i++) {
		struct cp *c = &a->cps[i];
		struct lgfs_note *n = NULL;

		if (lgfs_note_parse(&n, c->note, c->len) ||
		    lgfs_checkpoint_parse(&c->c, n->text, n->text_len)) {
			lgfs_audit_add(a->rep, LGFS_NO_INDEX, "checkpoint", "checkpoint #%zu: %s", c->pos,
				       lgfs_error_last());
			c->c.size = UINT64_MAX; /* sorts last, never matched */
		} else {
			c->parsed = 1;
		}
		lgfs_note_free(n);
	}
	if (a->ncps)
		qsort(a->cps, a->ncps, sizeof(*a->cps), cp_size_cmp);
}

/* After the walk: signatures, origins, and checkpoints beyond the log. */
static int cp_finish(struct audit *a)
{
	struct lgfs_key *keys[MAX_MEMBERS];
	const struct cp *best = NULL;
	size_t i;

	for (i = 0; i < a->nmembers; i++)
		keys[i] = a->members[i].key;
	if (a->cp_file && a->ncps == 0)
		lgfs_audit_add(a->rep, LGFS_NO_INDEX, "checkpoint",
			       "the checkpoints file holds no checkpoint (every volume has one from its creation)");
	if (a->cp_tail_len && !(a->have_origin && lgfs_checkpoints_tail_torn(a->cp_tail, a->cp_tail_len, a->origin)))
		lgfs_audit_add(a->rep, LGFS_NO_INDEX, "checkpoint",
			       "the checkpoints file is damaged at byte %zu (after checkpoint #%zu): the %zu bytes from "
			       "there are not a checkpoint nor an incomplete last write", a->cp_tail_off, a->ncps,
			       a->cp_tail_len);
	for (i = 0; i < a->ncps; i++) {
		struct cp *c = &a->cps[i];
		struct lgfs_note *n = NULL;
		int rc;

		if (!c->parsed)
			continue;
		a->rep->checkpoints++;
		if (a->have_origin && strcmp(c->c.origin, a->origin))
			lgfs_audit_add(a->rep, LGFS_NO_INDEX, "checkpoint",
				       "checkpoint #%zu: origin '%s' is not this volume's '%s'", c->pos, c->c.origin,
				       a->origin);
		if (c->c.size > a->rep->entries)
			lgfs_audit_add(a->rep, a->rep->entries, "missing",
				       "checkpoint #%zu covers %llu entries but the log has %llu: entries %llu..%llu are missing",
				       c->pos, (unsigned long long)c->c.size, (unsigned long long)a->rep->entries,
				       (unsigned long long)a->rep->entries, (unsigned long long)c->c.size - 1);
		if (lgfs_note_parse(&n, c->note, c->len) == 0) {
			rc = lgfs_note_verify(n, keys, a->nmembers, NULL);
			/* The newest one that fully verified is what a user may pin. */
			if (rc == 0 && c->root_ok && a->have_origin && !strcmp(c->c.origin, a->origin) &&
			    c->c.size <= a->rep->entries && (!best || c->c.size > best->c.size))
				best = c;
			if (rc == LGFS_EBADSIG)
				lgfs_audit_add(a->rep, c->c.size ? c->c.size - 1 : 0, "checkpoint",
					       "checkpoint #%zu (size %llu): a member's signature does not verify",
					       c->pos, (unsigned long long)c->c.size);
			else if (rc)
				lgfs_audit_add(a->rep, LGFS_NO_INDEX, "checkpoint",
					       "checkpoint #%zu (size %llu): not signed by any member", c->pos,
					       (unsigned long long)c->c.size);
		}
		lgfs_note_free(n);
	}
	if (best) {
		a->rep->verified_note = strdup(best->note);
		if (!a->rep->verified_note)
			return lgfs_error_set(LGFS_ENOMEM, "out of memory");
		a->rep->verified_size = best->c.size;
	}
	return 0;
}

/* Checkpoints trusted from outside the store: is this log the one they
 * describe, at least as long, with the same history up to their size? */
static void pins_finish(struct audit *a)
{
	struct lgfs_audit_report *rep = a->rep;
	uint64_t own = rep->level_first[LGFS_FINDING_LEDGER];
	char also[96] = "";
	size_t i;

	/* A log that was cut or rewritten usually shows it in its own entries
	 * too (a broken chain, a bad signature): then the pin finding names
	 * that entry, the likely place of the change, so that the first
	 * finding and the headline agree. */
	if (own != LGFS_NO_INDEX)
		snprintf(also, sizeof(also), "; the log's own damage starts at index %llu", (unsigned long long)own);
	for (i = 0; i < a->npins; i++) {
		const struct lgfs_audit_pin *p = a->pins[i].p;
		unsigned long long size = (unsigned long long)p->cp.size;
		uint64_t at_end = own < rep->entries ? own : rep->entries;
		uint64_t at_fork = own < p->cp.size ? own : (p->cp.size ? p->cp.size - 1 : 0);

		if (!a->have_origin || strcmp(p->cp.origin, a->origin))
			add_pin(rep, 0, "consistency",
				"%s is a checkpoint of origin '%s', but this log is %s%s%s: another volume's log",
				p->label, p->cp.origin, a->have_origin ? "'" : "", a->have_origin ? a->origin : "of unknown origin",
				a->have_origin ? "'" : "");
		else if (p->cp.size > rep->entries && a->total > rep->entries)
			add_pin(rep, at_end, "rollback",
				"only %llu of the log's %llu entries can be read, but %s covers %llu: "
				"the log cannot prove it extends that checkpoint%s",
				(unsigned long long)rep->entries, (unsigned long long)a->total, p->label, size, also);
		else if (p->cp.size > rep->entries)
			add_pin(rep, at_end, "rollback",
				"the log has %llu entries but %s covers %llu: the log was cut back or replaced%s",
				(unsigned long long)rep->entries, p->label, size, also);
		else if (!a->pins[i].root_ok)
			add_pin(rep, at_fork, "fork",
				"the log's first %llu entries do not hash to the root of %s: the log was forked "
				"(rewritten at or before index %llu)%s", size, p->label, size ? size - 1 : 0, also);
	}
}

static int finding_cmp(const void *x, const void *y)
{
	const struct lgfs_finding *a = x, *b = y;

	if (a->level != b->level)
		return a->level < b->level ? -1 : 1;
	if (a->index != b->index)
		return a->index < b->index ? -1 : 1;
	return 0;
}

void lgfs_audit_sort(struct lgfs_audit_report *rep)
{
	/* qsort is not stable: findings of one level and index keep no
	 * particular order, which no reader relies on. */
	if (rep->findings)
		qsort(rep->findings, rep->nstored, sizeof(*rep->findings), finding_cmp);
	update_first_bad(rep);
}

/* The last component of the volume directory's real path: the name the
 * volume is opened by. Left "" (matching no genesis name) if it cannot be
 * known or is longer than any volume name. */
static void set_dirname(struct audit *a, const char *voldir)
{
	char *real = realpath(voldir, NULL);
	const char *s = real ? real : voldir, *b;
	size_t n = strlen(s);

	while (n > 1 && s[n - 1] == '/')
		n--;
	for (b = s + n; b > s && b[-1] != '/'; b--)
		;
	if ((size_t)(s + n - b) < sizeof(a->dirname)) {
		memcpy(a->dirname, b, (size_t)(s + n - b));
		a->dirname[s + n - b] = '\0';
	}
	free(real);
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int lgfs_audit_volume(struct lgfs_audit_report *rep, const char *voldir, const struct lgfs_audit_opts *opts)
{
	struct audit a;
	struct lgfs_log *log = NULL;
	char *logdir = NULL;
	uint64_t size = 0, from;
	double t0 = mono_now();
	long ncpu;
	size_t i;
	int rc;

	memset(rep, 0, sizeof(*rep));
	rep->first_bad = LGFS_NO_INDEX;
	for (i = 0; i < LGFS_FINDING_LEVELS; i++)
		rep->level_first[i] = LGFS_NO_INDEX;
	rep->level = LGFS_FINDING_LEDGER;
	memset(&a, 0, sizeof(a));
	a.rep = rep;
	a.opts = opts;
	set_dirname(&a, voldir);
	lgfs_merkle_frontier_init(&a.f);
	if (opts && opts->npins) {
		a.pins = calloc(opts->npins, sizeof(*a.pins));
		if (!a.pins) {
			rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
			goto out;
		}
		for (i = 0; i < opts->npins; i++)
			a.pins[i].p = &opts->pins[i];
		a.npins = opts->npins;
	}
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	a.threads = opts && opts->threads ? opts->threads : (ncpu > 0 ? (unsigned int)ncpu : 1);
	if (a.threads > MAX_THREADS)
		a.threads = MAX_THREADS;
	a.items = malloc(BATCH * sizeof(*a.items));
	if (!a.items || asprintf(&logdir, "%s/log", voldir) < 0) {
		logdir = NULL;
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto out;
	}
	rc = lgfs_log_open(&log, logdir, LGFS_LOG_RDONLY);
	if (rc) {
		if (rc == LGFS_ENOTFOUND)
			lgfs_error_set(rc, "no volume at %s", voldir);
		goto out;
	}
	rc = cp_load(&a, voldir);
	if (rc)
		goto out;
	cp_prepare(&a);
	/* Checkpoints of size 0 have the empty root. */
	check_checkpoints_at(&a);

	rc = lgfs_log_size(log, &size);
	if (rc)
		goto out;
	a.total = size;
	rep->torn_bytes = log->torn_bytes;
	for (from = 0; from < size; from += READ_CHUNK) {
		uint64_t n = size - from < READ_CHUNK ? size - from : READ_CHUNK;

		rc = lgfs_log_read(log, from, n, entry_cb, &a);
		if (a.stop_rc) {
			rc = a.stop_rc;
			goto out;
		}
		if (rc == LGFS_ECORRUPT) {
			if (a.next < size || !rep->nfindings)
				lgfs_audit_add(rep, a.next, "frame", "index %llu: %s; later entries cannot be checked",
					       (unsigned long long)a.next, lgfs_error_last());
			rc = 0;
			break;
		}
		if (rc)
			goto out;
		if (opts && opts->progress)
			opts->progress(opts->progress_arg, a.next, size);
	}
	rc = flush_batch(&a);
	if (rc)
		goto out;
	if (log->damaged_at != UINT64_MAX && a.next == log->damaged_at)
		lgfs_audit_add(rep, log->damaged_at, "frame", "index %llu: %s; later entries cannot be checked",
			       (unsigned long long)log->damaged_at, log->damage);
	if (rep->entries == 0)
		lgfs_audit_add(rep, 0, "genesis", "the log is empty: no genesis record");
	lgfs_merkle_frontier_root(&a.f, rep->root);
	snprintf(rep->origin, sizeof(rep->origin), "%s", a.origin);
	rc = cp_finish(&a);
	if (rc)
		goto out;
	pins_finish(&a);
	lgfs_audit_sort(rep);
	rep->level = LGFS_FINDING_FS; /* what later layers add */
	rep->seconds = mono_now() - t0;
out:
	for (i = 0; i < a.nmembers; i++)
		lgfs_key_free(a.members[i].key);
	for (i = 0; i < a.ncps; i++)
		free(a.cps[i].note);
	free(a.cps);
	free(a.cp_tail);
	free(a.pins);
	free(a.items);
	lgfs_buf_free(&a.recs);
	if (log)
		lgfs_log_close(log);
	free(logdir);
	if (rc)
		lgfs_audit_report_free(rep);
	return rc;
}
