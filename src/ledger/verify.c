/*
 * verify.c — the verified open of a volume's log (ledger layer). See
 * verify.h.
 *
 * Order: the genesis entry first (it names the founder, the only member in
 * this format version, and so the key every signature is checked with), then
 * the checkpoints file (strictly: every frame complete and signed by the
 * founder, only an incomplete last frame is a torn write), then the user's
 * pin, then one pass over every entry. Entries up to the largest stored
 * checkpoint whose signature verified are covered by its root, recomputed
 * from the envelopes; the ones after it have their own signatures checked.
 */
#include "verify.h"

#include "ledgerfs/error.h"
#include "ledgerfs/json.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/key.h"
#include "ledgerfs/merkle.h"
#include "ledgerfs/note.h"
#include "ledgerfs/record.h"
#include "ledgerfs/trust.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK 65536                 /* entries per log read call */
#define CP_FILE_MAX ((off_t)1 << 32)     /* a checkpoints file larger than this is refused */

/* A root the log must have at some size: a stored checkpoint or a pin. */
struct anchor {
	uint64_t size;
	uint8_t root[32];
	char what[96];        /* for messages: "checkpoint #3", "your pinned checkpoint" */
};

struct scan {
	struct lgfs_vlog *v;
	const char *name;     /* the volume's directory name, for messages */
	struct lgfs_key *founder;
	struct lgfs_merkle_frontier f;
	struct anchor *anchors; /* sorted by size */
	size_t nanchors, next_anchor;
	uint64_t sig_from;    /* entries from here on need their signature checked */
};

void lgfs_vlog_free(struct lgfs_vlog *v)
{
	if (v->map)
		munmap(v->map, v->map_len);
	free(v->bok);
	free(v->map_path);
	free(v->leaves);
	free(v->cp_note);
	memset(v, 0, sizeof(*v));
}

const uint8_t *lgfs_vlog_leaf(struct lgfs_vlog *v, uint64_t i)
{
	uint64_t b, first, n;
	uint8_t d[32];

	if (!v->map)
		return v->leaves[i];
	b = i / LGFS_VCACHE_BLOCK;
	if (!__atomic_load_n(&v->bok[b], __ATOMIC_ACQUIRE)) {
		first = b * LGFS_VCACHE_BLOCK;
		n = v->size - first < LGFS_VCACHE_BLOCK ? v->size - first : LGFS_VCACHE_BLOCK;
		lgfs_sha256(d, v->mleaves[first], n * 32);
		if (memcmp(d, v->bhash[b], 32)) {
			unlink(v->map_path);
			lgfs_error_set(LGFS_ECORRUPT,
				       "this user's record of the last verification of volume '%s' (%s) is damaged "
				       "(leaves %llu..%llu); it was removed: run the command again to verify the log in full",
				       v->info.name, v->map_path, (unsigned long long)first,
				       (unsigned long long)(first + n - 1));
			return NULL;
		}
		__atomic_store_n(&v->bok[b], 1, __ATOMIC_RELEASE);
	}
	return v->mleaves[i];
}

int lgfs_vlog_reserve(struct lgfs_vlog *v, uint64_t n)
{
	size_t cap = v->leaves_cap ? v->leaves_cap : 1024;
	uint8_t (*nl)[32];

	if (n < v->leaves_cap)
		return 0;
	while (cap <= n)
		cap *= 2;
	nl = realloc(v->leaves, cap * sizeof(*nl));
	if (!nl)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory for the log's leaf hashes");
	v->leaves = nl;
	v->leaves_cap = cap;
	return 0;
}

/* The last path component of dir (the volume's name in its store). */
static void dir_name(char out[LGFS_VOLUME_NAME_MAX + 2], const char *dir)
{
	size_t n = strlen(dir), s;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	s = n;
	while (s > 0 && dir[s - 1] != '/')
		s--;
	if (n - s > LGFS_VOLUME_NAME_MAX + 1)
		n = s + LGFS_VOLUME_NAME_MAX + 1;
	memcpy(out, dir + s, n - s);
	out[n - s] = '\0';
}

static int bad(const struct scan *s, uint64_t i, const char *fmt, const char *what)
{
	return lgfs_error_set(LGFS_ECORRUPT, "volume '%s', log entry %llu: %s%s; run 'ledgerfs audit %s' for details",
			      s->name, (unsigned long long)i, fmt, what ? what : "", s->name);
}

/* ---- genesis ---- */

static int genesis_cb(void *arg, const struct lgfs_log_entry *e)
{
	struct scan *s = arg;
	struct lgfs_volume_info *info = &s->v->info;
	struct lgfs_envelope env;
	struct lgfs_record r;
	const struct lgfs_arg *a;
	uint8_t com[32];
	uint32_t thr = 0;

	if (e->envelope_len != LGFS_ENVELOPE_LEN || lgfs_envelope_decode(&env, e->envelope, e->envelope_len))
		return bad(s, 0, "the genesis envelope is malformed", NULL);
	if (e->record_len == 0)
		return bad(s, 0, "the genesis record is missing", NULL);
	lgfs_record_commitment(com, e->record, e->record_len);
	if (memcmp(com, env.commitment, 32))
		return bad(s, 0, "the genesis record does not match its envelope's commitment", NULL);
	if (lgfs_record_decode(&r, e->record, e->record_len) || r.op != LGFS_OP_GENESIS || r.origin[0])
		return bad(s, 0, "the first record is not a genesis record", NULL);
	a = lgfs_record_arg(&r, LGFS_F_NAME);
	if (a->len > LGFS_VOLUME_NAME_MAX)
		return bad(s, 0, "the genesis volume name is too long", NULL);
	memcpy(info->name, a->data, a->len);
	info->name[a->len] = '\0';
	a = lgfs_record_arg(&r, LGFS_F_KEY);
	memcpy(info->founder, a->data, 32);
	a = lgfs_record_arg(&r, LGFS_F_KEY_NAME);
	if (a->len > LGFS_KEY_NAME_MAX)
		return bad(s, 0, "the genesis key name is too long", NULL);
	memcpy(info->founder_name, a->data, a->len);
	info->founder_name[a->len] = '\0';
	if (!lgfs_volume_name_valid(info->name) || !lgfs_key_name_valid(info->founder_name))
		return bad(s, 0, "invalid volume or key name in the genesis record", NULL);
	if (strcmp(info->name, s->name))
		return lgfs_error_set(LGFS_ECORRUPT,
				      "the volume in directory '%s' is named '%s' by its genesis record: another volume's log was put in its place; run 'ledgerfs audit %s' for details",
				      s->name, info->name, s->name);
	if (memcmp(info->founder, env.author, 32))
		return bad(s, 0, "the genesis record is not signed by the founder key it names", NULL);
	lgfs_record_get_u32(&r, LGFS_F_THRESHOLD, &thr);
	info->policy.threshold = thr;
	lgfs_record_get_u64(&r, LGFS_F_RETENTION, &info->policy.retention_s);
	info->created_ns = r.time_ns;
	if (lgfs_origin_make(info->origin, info->name, env.commitment))
		return lgfs_error_wrap(LGFS_ECORRUPT, "volume '%s'", s->name);
	return lgfs_key_from_public(&s->founder, info->founder_name, info->founder);
}

/* ---- checkpoints file ---- */

/* Is the part of the checkpoints file after its last complete frame an
 * incomplete write of one more frame? Zeros, less than a length, or a
 * length announcing more bytes than are there, followed by the beginning
 * of one checkpoint of this origin and nothing that starts a second one. */
int lgfs_checkpoints_tail_torn(const uint8_t *p, size_t r, const char *origin)
{
	size_t olen = strlen(origin), i, cmp;
	uint32_t n;

	for (i = 0; i < r && !p[i]; i++)
		;
	if (i == r || r < 4)
		return 1;
	n = lgfs_be32_get(p);
	if (n == 0 || n > LGFS_NOTE_MAX || r >= (size_t)n + 8)
		return 0;
	cmp = r - 4 < olen + 1 ? r - 4 : olen + 1;
	if (memcmp(p + 4, origin, cmp < olen ? cmp : olen) || (cmp == olen + 1 && p[4 + olen] != '\n'))
		return 0;
	for (i = 5; i + olen <= r; i++)
		if (!memcmp(p + i, origin, olen))
			return 0;
	return 1;
}

static int anchor_cmp(const void *x, const void *y)
{
	const struct anchor *a = x, *b = y;

	return a->size < b->size ? -1 : a->size > b->size;
}

static int anchor_add(struct scan *s, uint64_t size, const uint8_t root[32], const char *what)
{
	struct anchor *n = realloc(s->anchors, (s->nanchors + 1) * sizeof(*n));

	if (!n)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	s->anchors = n;
	n = &s->anchors[s->nanchors++];
	n->size = size;
	memcpy(n->root, root, 32);
	snprintf(n->what, sizeof(n->what), "%s", what);
	return 0;
}

void lgfs_cpfile_free(struct lgfs_cpfile *f)
{
	free(f->data);
	free(f->off);
	free(f->nlen);
	memset(f, 0, sizeof(*f));
}

int lgfs_cpfile_read(struct lgfs_cpfile *f, const char *voldir)
{
	char *path = NULL;
	struct stat st;
	size_t off = 0;
	int fd, rc = 0;

	memset(f, 0, sizeof(*f));
	if (asprintf(&path, "%s/checkpoints", voldir) < 0)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	free(path);
	if (fd < 0) {
		if (errno != ENOENT)
			return lgfs_error_errno(LGFS_EIO, "opening the checkpoints file");
		f->missing = 1;
		return 0;
	}
	if (fstat(fd, &st)) {
		rc = lgfs_error_errno(LGFS_EIO, "reading the checkpoints file");
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CP_FILE_MAX) {
		f->odd = 1;
		goto out;
	}
	f->len = (size_t)st.st_size;
	f->data = malloc(f->len ? f->len : 1);
	if (!f->data) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory reading checkpoints");
		goto out;
	}
	if (f->len && pread(fd, f->data, f->len, 0) != (ssize_t)f->len) {
		rc = lgfs_error_errno(LGFS_EIO, "reading the checkpoints file");
		goto out;
	}
	while (f->len - off >= 8) {
		uint32_t n = lgfs_be32_get(f->data + off);
		size_t *no;
		uint32_t *nl;

		if (n == 0 || n > LGFS_NOTE_MAX || f->len - off - 8 < n || lgfs_be32_get(f->data + off + 4 + n) != n)
			break;
		no = realloc(f->off, (f->nframes + 1) * sizeof(*no));
		if (no)
			f->off = no;
		nl = realloc(f->nlen, (f->nframes + 1) * sizeof(*nl));
		if (nl)
			f->nlen = nl;
		if (!no || !nl) {
			rc = lgfs_error_set(LGFS_ENOMEM, "out of memory reading checkpoints");
			goto out;
		}
		f->off[f->nframes] = off + 4;
		f->nlen[f->nframes++] = n;
		off += 8 + (size_t)n;
	}
	f->valid_end = off;
out:
	close(fd);
	if (rc)
		lgfs_cpfile_free(f);
	return rc;
}

/* Read and check every stored checkpoint: each becomes an anchor; the
 * largest one is the newest verified checkpoint. */
/* The size of the volume's log as it is now (a fresh read-only look). */
static uint64_t log_size_now(const char *dir)
{
	struct lgfs_log *log = NULL;
	char *logdir = NULL;
	uint64_t n = 0;

	if (asprintf(&logdir, "%s/log", dir) < 0)
		return 0;
	if (lgfs_log_open(&log, logdir, LGFS_LOG_RDONLY) == 0 && lgfs_log_size(log, &n) != 0)
		n = 0;
	if (log)
		lgfs_log_close(log);
	lgfs_error_clear();
	free(logdir);
	return n;
}

/* Read and check every stored checkpoint: each becomes an anchor; the
 * largest one is the newest verified checkpoint. A reader's view of the log
 * is its size at open (`size`); a writer holding the volume may have
 * appended and signed checkpoints beyond it since. Those are left for a
 * later open when the log, looked at again after the checkpoints were
 * read, does hold their entries; otherwise a checkpoint beyond the log
 * means entries were lost, and the open is refused. */
static int load_checkpoints(struct scan *s, const char *dir, uint64_t size, int reader)
{
	struct lgfs_vlog *v = s->v;
	struct lgfs_cpfile f;
	struct lgfs_checkpoint *cps = NULL;
	uint64_t limit = UINT64_MAX, max = 0;
	char what[64];
	size_t k;
	int rc;

	if ((rc = lgfs_cpfile_read(&f, dir)))
		return lgfs_error_wrap(rc, "volume '%s'", s->name);
	if (f.missing || f.odd) {
		rc = lgfs_error_set(LGFS_ECORRUPT,
				    f.missing ? "volume '%s': the checkpoints file is missing (every volume has one from its creation); run 'ledgerfs audit %s' for details"
					      : "volume '%s': the checkpoints file is not a regular file of sane size; run 'ledgerfs audit %s' for details",
				    s->name, s->name);
		goto out;
	}
	cps = calloc(f.nframes ? f.nframes : 1, sizeof(*cps));
	if (!cps) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
		goto out;
	}
	for (k = 0; k < f.nframes; k++) {
		const char *text = (const char *)f.data + f.off[k];
		struct lgfs_note *note = NULL;
		struct lgfs_key *keys[1] = { s->founder };

		if (lgfs_note_parse(&note, text, f.nlen[k]) || lgfs_checkpoint_parse(&cps[k], note->text, note->text_len)) {
			lgfs_note_free(note);
			rc = lgfs_error_set(LGFS_ECORRUPT,
					    "volume '%s': checkpoint #%zu (byte %zu of the checkpoints file) cannot be parsed; run 'ledgerfs audit %s' for details",
					    s->name, k + 1, f.off[k] - 4, s->name);
			goto out;
		}
		if (strcmp(cps[k].origin, v->info.origin)) {
			lgfs_note_free(note);
			rc = lgfs_error_set(LGFS_ECORRUPT,
					    "volume '%s': checkpoint #%zu is of another volume; run 'ledgerfs audit %s' for details",
					    s->name, k + 1, s->name);
			goto out;
		}
		if (lgfs_note_verify(note, keys, 1, NULL)) {
			lgfs_note_free(note);
			rc = lgfs_error_set(LGFS_ECORRUPT,
					    "volume '%s': checkpoint #%zu (size %llu) is not signed by the volume's founder; run 'ledgerfs audit %s' for details",
					    s->name, k + 1, (unsigned long long)cps[k].size, s->name);
			goto out;
		}
		lgfs_note_free(note);
		if (cps[k].size > max)
			max = cps[k].size;
	}
	if (reader && max > size && log_size_now(dir) >= max)
		limit = size;
	for (k = 0; k < f.nframes; k++) {
		if (cps[k].size > limit)
			continue; /* signed by a live writer after this reader's view */
		snprintf(what, sizeof(what), "checkpoint #%zu", k + 1);
		if ((rc = anchor_add(s, cps[k].size, cps[k].root, what)))
			goto out;
		if (!v->cp_note || cps[k].size >= v->cp_size) {
			free(v->cp_note);
			v->cp_note = strndup((const char *)f.data + f.off[k], f.nlen[k]);
			if (!v->cp_note) {
				rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
				goto out;
			}
			v->cp_size = cps[k].size;
		}
	}
	v->cp_valid_end = (off_t)f.valid_end;
	v->cp_file_size = (off_t)f.len;
	if (f.valid_end < f.len && !lgfs_checkpoints_tail_torn(f.data + f.valid_end, f.len - f.valid_end, v->info.origin)) {
		rc = lgfs_error_set(LGFS_ECORRUPT,
				    "volume '%s': the checkpoints file is damaged at byte %zu (after checkpoint #%zu): nothing was repaired; run 'ledgerfs audit %s' for details",
				    s->name, f.valid_end, f.nframes, s->name);
		goto out;
	}
	if (f.nframes == 0)
		rc = lgfs_error_set(LGFS_ECORRUPT,
				    "volume '%s': the checkpoints file holds no checkpoint (every volume has one from its creation); run 'ledgerfs audit %s' for details",
				    s->name, s->name);
out:
	free(cps);
	lgfs_cpfile_free(&f);
	return rc;
}

/* The user's own record of what was verified before (trust.h). */
static int check_pin(struct scan *s, const char *dir, uint64_t size)
{
	struct lgfs_trust_pin pin;
	int rc;

	memset(&pin, 0, sizeof(pin));
	rc = lgfs_trust_load(&pin, dir, s->v->info.origin);
	if (rc == LGFS_ENOTFOUND) {
		/* No state directory at all (no HOME): nothing was pinned. */
		lgfs_trust_pin_free(&pin);
		return 0;
	}
	if (rc) {
		lgfs_trust_pin_free(&pin);
		return rc;
	}
	if (pin.origin[0] && strcmp(pin.origin, s->v->info.origin)) {
		rc = lgfs_error_set(LGFS_ECORRUPT,
				    "volume '%s' was %s when you last verified it and is now %s: its log was replaced; run 'ledgerfs audit %s' for details",
				    s->name, pin.origin, s->v->info.origin, s->name);
		goto out;
	}
	if (pin.have_cp) {
		if (pin.cp.size > size) {
			rc = lgfs_error_set(LGFS_ECORRUPT,
					    "volume '%s': the log has %llu entries but you verified a checkpoint of %llu before: the log was cut back (rolled back); run 'ledgerfs audit %s' for details",
					    s->name, (unsigned long long)size, (unsigned long long)pin.cp.size, s->name);
			goto out;
		}
		rc = anchor_add(s, pin.cp.size, pin.cp.root, "the checkpoint you verified before");
	}
out:
	lgfs_trust_pin_free(&pin);
	return rc;
}

/* ---- the pass over every entry ---- */

static int check_anchors(struct scan *s)
{
	uint8_t root[32];

	while (s->next_anchor < s->nanchors && s->anchors[s->next_anchor].size <= s->f.size) {
		const struct anchor *a = &s->anchors[s->next_anchor++];

		if (a->size < s->f.size)
			continue; /* size 0 only, checked before the pass */
		lgfs_merkle_frontier_root(&s->f, root);
		if (memcmp(root, a->root, 32))
			return lgfs_error_set(LGFS_ECORRUPT,
					      "volume '%s': the log's first %llu entries do not match %s (the log was rewritten or forked); run 'ledgerfs audit %s' for details",
					      s->name, (unsigned long long)a->size, a->what, s->name);
	}
	return 0;
}

/* One range of the log, checked by one thread. Its first entry's links to
 * the entry before it (chain and time) are checked after every part is
 * done, against the previous part's last entry. */
struct part {
	struct scan *s;
	struct lgfs_log *log;
	uint64_t from, to;     /* entries [from, to) */
	uint64_t next;         /* index expected next */
	int linked;            /* prev/last_time hold the entry before `next` */
	uint8_t prev[32];      /* envelope hash of the last entry checked */
	int64_t last_time;
	uint8_t first_prev[32];/* the first entry's prev and time, checked after the join */
	int64_t first_time;
	uint64_t signatures;
	int rc;
	char msg[1024];        /* the failure's message (error messages are per thread) */
};

static int entry_cb(void *arg, const struct lgfs_log_entry *e)
{
	struct part *p = arg;
	struct scan *s = p->s;
	struct lgfs_vlog *v = s->v;
	uint64_t i = e->index;
	struct lgfs_envelope env;
	struct lgfs_record r;
	uint8_t com[32];

	if (i != p->next)
		return bad(s, p->next, "the log store delivered another entry", NULL);
	if (e->envelope_len != LGFS_ENVELOPE_LEN || lgfs_envelope_decode(&env, e->envelope, e->envelope_len))
		return bad(s, i, "the envelope is malformed", NULL);
	if (env.index != i)
		return bad(s, i, "the envelope names another index (entries moved)", NULL);
	if (!p->linked) {
		memcpy(p->first_prev, env.prev, 32);
		p->first_time = env.time_ns;
		p->linked = 1;
	} else if (memcmp(env.prev, p->prev, 32)) {
		return bad(s, i, "the previous-envelope hash does not match the entry before it (an entry was removed, moved or altered)", NULL);
	} else if (env.time_ns < p->last_time) {
		return bad(s, i, "time runs backwards", NULL);
	}
	if (e->record_len == 0)
		return bad(s, i, "the record is withheld (only its envelope is stored), and no record authorises that", NULL);
	lgfs_record_commitment(com, e->record, e->record_len);
	if (memcmp(com, env.commitment, 32))
		return bad(s, i, "the record does not match its envelope's commitment (the record was altered)", NULL);
	if (lgfs_record_decode(&r, e->record, e->record_len))
		return bad(s, i, "the record cannot be decoded: ", lgfs_error_last());
	if (r.index != i || memcmp(r.prev, env.prev, 32) || memcmp(r.author, env.author, 32) || r.time_ns != env.time_ns)
		return bad(s, i, "record and envelope disagree on index, previous hash, author or time", NULL);
	if (i > 0) {
		if (r.op == LGFS_OP_GENESIS)
			return bad(s, i, "a second genesis record", NULL);
		if (strcmp(r.origin, v->info.origin))
			return bad(s, i, "the record names another volume's origin", NULL);
		if (!lgfs_op_supported(r.op))
			return bad(s, i, "the operation is not supported by this version: ",
				   lgfs_op_name(r.op) ? lgfs_op_name(r.op) : "?");
	}
	if (memcmp(env.author, v->info.founder, 32) || i >= s->sig_from) {
		/* A member's entry needs its signature where no checkpoint of
		 * the founder covers it. An entry by a key that is not a member
		 * stays part of the log's chain (the log is append-only) but is
		 * never applied by the file system, and audit lists it: it must
		 * still be what its author signed. */
		uint8_t msg[sizeof(LGFS_TAG_ENVELOPE) + 2 + LGFS_ORIGIN_MAX + LGFS_ENVELOPE_SIGNED_LEN];
		size_t olen = strlen(v->info.origin), mlen = sizeof(LGFS_TAG_ENVELOPE) + 2 + olen + LGFS_ENVELOPE_SIGNED_LEN;
		struct lgfs_key *other = NULL;
		int member = !memcmp(env.author, v->info.founder, 32), ok;

		memcpy(msg, LGFS_TAG_ENVELOPE, sizeof(LGFS_TAG_ENVELOPE));
		lgfs_be16_put(msg + sizeof(LGFS_TAG_ENVELOPE), (uint16_t)olen);
		memcpy(msg + sizeof(LGFS_TAG_ENVELOPE) + 2, v->info.origin, olen);
		memcpy(msg + mlen - LGFS_ENVELOPE_SIGNED_LEN, e->envelope, LGFS_ENVELOPE_SIGNED_LEN);
		ok = (member || lgfs_key_from_public(&other, "author", env.author) == 0) &&
		     lgfs_key_verify(member ? s->founder : other, e->envelope + LGFS_ENVELOPE_SIGNED_LEN, msg, mlen) == 0;
		lgfs_key_free(other);
		if (!ok)
			return bad(s, i, member ? "the envelope's signature does not verify"
					       : "the envelope's signature does not verify (by a key that is not a member)",
				   NULL);
		p->signatures++;
	}
	/* leaves has room for the whole log: each part writes its own range */
	lgfs_merkle_leaf_hash(v->leaves[i], e->envelope, e->envelope_len);
	lgfs_envelope_hash(p->prev, e->envelope);
	p->last_time = env.time_ns;
	p->next++;
	return 0;
}

static void *part_main(void *arg)
{
	struct part *p = arg;
	uint64_t from;
	int rc = 0;

	for (from = p->from; from < p->to && !rc; from += READ_CHUNK) {
		uint64_t n = p->to - from < READ_CHUNK ? p->to - from : READ_CHUNK;

		rc = lgfs_log_read(p->log, from, n, entry_cb, p);
	}
	if (rc) {
		if (rc != LGFS_ECORRUPT && rc != LGFS_ENOMEM && rc != LGFS_EIO)
			rc = lgfs_error_wrap(LGFS_ECORRUPT, "volume '%s', log entry %llu", p->s->name,
					     (unsigned long long)p->next);
		else if (rc == LGFS_ECORRUPT && !strstr(lgfs_error_last(), "ledgerfs audit"))
			lgfs_error_wrap(rc, "volume '%s' (run 'ledgerfs audit %s' for details)", p->s->name, p->s->name);
		snprintf(p->msg, sizeof(p->msg), "%s", lgfs_error_last());
	}
	p->rc = rc;
	return NULL;
}

#define MAX_PARTS 8
/* Entries per part at least: smaller logs are checked in one thread.
 * Tests lower it to check the links between parts on small logs. */
static uint64_t part_min = 65536;

void lgfs_vlog_set_part_min(uint64_t n)
{
	part_min = n ? n : 65536;
}

/* Check every entry, on all cores: each part a range; then the links
 * between the parts, then the Merkle frontier and the anchors in order. */
static int check_entries(struct scan *s, struct lgfs_log *log, uint64_t size)
{
	struct part parts[MAX_PARTS];
	pthread_t tid[MAX_PARTS];
	int started[MAX_PARTS] = { 0 };
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t np = ncpu > 1 ? (size_t)ncpu : 1, k;
	uint64_t i;
	int rc = 0;

	if (np > MAX_PARTS)
		np = MAX_PARTS;
	if (np > size / part_min)
		np = size / part_min ? size / part_min : 1;
	for (k = 0; k < np; k++) {
		memset(&parts[k], 0, sizeof(parts[k]));
		parts[k].s = s;
		parts[k].log = log;
		parts[k].from = size * k / np;
		parts[k].to = size * (k + 1) / np;
		parts[k].next = parts[k].from;
		parts[k].linked = k == 0; /* entry 0 links to zeros and time 0 */
	}
	for (k = 1; k < np; k++)
		started[k] = pthread_create(&tid[k], NULL, part_main, &parts[k]) == 0;
	part_main(&parts[0]);
	for (k = 1; k < np; k++) {
		if (started[k])
			pthread_join(tid[k], NULL);
		else
			part_main(&parts[k]);
	}
	/* The earliest failure is the one reported: later ones may be its
	 * consequence. */
	for (k = 0; k < np; k++) {
		if (parts[k].rc)
			return lgfs_error_set(parts[k].rc, "%s", parts[k].msg);
		s->v->signatures += parts[k].signatures;
		if (k > 0 && memcmp(parts[k].first_prev, parts[k - 1].prev, 32))
			return bad(s, parts[k].from, "the previous-envelope hash does not match the entry before it (an entry was removed, moved or altered)", NULL);
		if (k > 0 && parts[k].first_time < parts[k - 1].last_time)
			return bad(s, parts[k].from, "time runs backwards", NULL);
	}
	memcpy(s->v->prev, parts[np - 1].prev, 32);
	s->v->last_time = parts[np - 1].last_time;
	for (i = 0; i < size && !rc; i++) {
		lgfs_merkle_frontier_append(&s->f, s->v->leaves[i]);
		rc = check_anchors(s);
	}
	return rc;
}

static int genesis_first(struct scan *s, struct lgfs_log *log)
{
	int rc = lgfs_log_read(log, 0, 1, genesis_cb, s);

	if (rc && rc != LGFS_ECORRUPT && rc != LGFS_ENOMEM)
		rc = lgfs_error_wrap(LGFS_ECORRUPT, "volume '%s', log entry 0", s->name);
	return rc;
}

int lgfs_vlog_verify(struct lgfs_vlog *v, struct lgfs_log *log, const char *dir, int reader)
{
	struct scan s;
	char name[LGFS_VOLUME_NAME_MAX + 2];
	uint64_t size = 0;
	uint8_t empty[32], key[32];
	int rc, cacheable;

	memset(v, 0, sizeof(*v));
	memset(&s, 0, sizeof(s));
	dir_name(name, dir);
	s.v = v;
	s.name = name;
	lgfs_merkle_frontier_init(&s.f);
	rc = lgfs_log_size(log, &size);
	if (rc)
		goto out;
	/* Damage the log store found (read-only opens report it rather than
	 * refuse) comes first: everything after it is its consequence. */
	if (log->damaged_at != UINT64_MAX) {
		rc = lgfs_error_set(LGFS_ECORRUPT, "volume '%s', log entry %llu: %s; run 'ledgerfs audit %s' for details", name,
				    (unsigned long long)log->damaged_at, log->damage, name);
		goto out;
	}
	if (size == 0) {
		rc = lgfs_error_set(LGFS_ECORRUPT, "volume '%s' has an empty log (no genesis record); run 'ledgerfs audit %s'",
				    name, name);
		goto out;
	}
	/* Not one file changed since this user's last full verification: its
	 * result stands (vcache.c says exactly what "changed" means). */
	cacheable = lgfs_vcache_key(dir, key) == 0;
	if (cacheable && lgfs_vcache_load(v, dir, size, reader) == 0)
		goto clock;
	if ((rc = genesis_first(&s, log)) || (rc = load_checkpoints(&s, dir, size, reader)) ||
	    (rc = check_pin(&s, dir, size)))
		goto out;
	if (s.nanchors)
		qsort(s.anchors, s.nanchors, sizeof(*s.anchors), anchor_cmp);
	if (s.nanchors && s.anchors[s.nanchors - 1].size > size) {
		rc = lgfs_error_set(LGFS_ECORRUPT,
				    "volume '%s': the log has %llu entries but %s covers %llu: entries were lost or cut off; nothing was repaired; run 'ledgerfs audit %s' for details",
				    name, (unsigned long long)size, s.anchors[s.nanchors - 1].what,
				    (unsigned long long)s.anchors[s.nanchors - 1].size, name);
		goto out;
	}
	lgfs_merkle_empty_root(empty);
	while (s.next_anchor < s.nanchors && s.anchors[s.next_anchor].size == 0) {
		if (memcmp(empty, s.anchors[s.next_anchor].root, 32)) {
			rc = lgfs_error_set(LGFS_ECORRUPT, "volume '%s': %s of size 0 has a wrong root", name,
					    s.anchors[s.next_anchor].what);
			goto out;
		}
		s.next_anchor++;
	}
	/* Signatures are needed beyond the newest checkpoint the founder
	 * signed: its root covers everything before it. */
	s.sig_from = v->cp_size;
	if ((rc = lgfs_vlog_reserve(v, size)))
		goto out;
	if ((rc = check_entries(&s, log, size)))
		goto out;
	v->size = size;
	v->front = s.f;
	lgfs_merkle_frontier_root(&s.f, v->root);
	if (cacheable)
		lgfs_vcache_store(v, dir, key);
clock:
	/* Records are judged at their own time (retention): a log dated
	 * ahead of this clock by more than a day was written by a clock set
	 * wrong, or forward to end a retention early. */
	if (v->last_time > lgfs_ledger_now() + LGFS_CLOCK_TOLERANCE_NS) {
		char when[48], now[48];

		lgfs_time_format(when, sizeof(when), v->last_time);
		lgfs_time_format(now, sizeof(now), lgfs_ledger_now());
		rc = lgfs_error_set(LGFS_ECORRUPT,
				    "volume '%s': its last record is dated %s, more than a day after this machine's "
				    "clock (%s): a writer's clock was wrong or set forward; records are judged by their "
				    "time, so the volume is refused until the clocks agree",
				    name, when, now);
	}
out:
	lgfs_key_free(s.founder);
	free(s.anchors);
	if (rc)
		lgfs_vlog_free(v);
	return rc;
}
