/*
 * fsaudit.c — replay the log into a fresh index, compare it with the
 * volume's index, and check every referenced manifest and chunk (fs layer).
 * See fsaudit.h.
 */
#include "ledgerfs/fsaudit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "index.h"
#include "ledgerfs/chunks.h"
#include "ledgerfs/content.h"
#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/log.h"

#define COMMIT_EVERY 4096

struct lgfs_fsaudit {
	char *voldir;
	char *tmpdir;                /* the replay index */
	struct lgfs_index *replay;
	MDB_txn *t;                  /* open write transaction of the replay */
	uint64_t since_commit;
	uint64_t applied;            /* log entries fed to the replay */
	int failed;                  /* replay could not continue */
	int live;                    /* a writer holds the volume: index not compared */
	char note[160];              /* why the index was not compared, "" if it was */
};

int lgfs_fsaudit_live(const struct lgfs_fsaudit *a)
{
	return a->live;
}

const char *lgfs_fsaudit_note(const struct lgfs_fsaudit *a)
{
	return a->note;
}

/* Does a writer (a mount) hold the volume? Try to take its log lock. */
static int writer_active(const char *voldir)
{
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s/log", voldir);
	return lgfs_log_file_busy(dir) == 1;
}

static void rm_index_dir(const char *dir)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/lock.mdb", dir);
	unlink(p);
	rmdir(dir);
}

int lgfs_fsaudit_new(struct lgfs_fsaudit **out, const char *voldir)
{
	struct lgfs_fsaudit *a = calloc(1, sizeof(*a));
	const char *tmp = getenv("TMPDIR");
	int rc;

	*out = NULL;
	if (!a)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	a->voldir = strdup(voldir);
	if (!a->voldir || asprintf(&a->tmpdir, "%s/ledgerfs-audit-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0) {
		a->tmpdir = NULL;
		lgfs_fsaudit_free(a);
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	}
	if (!mkdtemp(a->tmpdir)) {
		rc = lgfs_error_errno(LGFS_EIO, "creating %s", a->tmpdir);
		free(a->tmpdir);
		a->tmpdir = NULL;
		lgfs_fsaudit_free(a);
		return rc;
	}
	if (lgfs_index_open(&a->replay, a->tmpdir, 0) || lgfs_index_begin(a->replay, 0, &a->t)) {
		lgfs_fsaudit_free(a);
		return lgfs_error_set(LGFS_EIO, "cannot create the replay index: %s", lgfs_error_last());
	}
	*out = a;
	return 0;
}

void lgfs_fsaudit_free(struct lgfs_fsaudit *a)
{
	if (!a)
		return;
	if (a->t)
		mdb_txn_abort(a->t);
	lgfs_index_close(a->replay);
	if (a->tmpdir) {
		rm_index_dir(a->tmpdir);
		free(a->tmpdir);
	}
	free(a->voldir);
	free(a);
}

int lgfs_fsaudit_entry(void *arg, struct lgfs_audit_report *rep, const struct lgfs_ledger_entry *e)
{
	struct lgfs_fsaudit *a = arg;
	MDB_txn *child;
	int rc;

	if (a->failed)
		return 0;
	a->applied = e->index + 1;
	if (!e->rec)
		return 0; /* never for a passed entry: a withheld record is a ledger finding, not handed on */
	if (e->rec->op == LGFS_OP_NOTE)
		return 0; /* changes no state: no transaction to spend on it */
	if (mdb_txn_begin(a->replay->env, a->t, 0, &child)) {
		a->failed = 1;
		return lgfs_error_set(LGFS_EIO, "replay index: cannot begin a transaction");
	}
	rc = lgfs_apply(a->replay, child, e->rec, e->index);
	if (rc) {
		mdb_txn_abort(child);
		lgfs_audit_add(rep, e->index, "not applicable",
			       "index %llu: %s record is not applicable to the state before it (%s); not applied",
			       (unsigned long long)e->index, lgfs_op_name(e->rec->op), strerror(-rc));
		return 0;
	}
	if (mdb_txn_commit(child)) {
		a->failed = 1;
		return lgfs_error_set(LGFS_EIO, "replay index: commit failed");
	}
	if (++a->since_commit >= COMMIT_EVERY) {
		if (lgfs_index_commit(a->t) || lgfs_index_begin(a->replay, 0, &a->t)) {
			a->t = NULL;
			a->failed = 1;
			return lgfs_error_set(LGFS_EIO, "replay index: commit failed");
		}
		a->since_commit = 0;
	}
	return 0;
}

/* ---- paths for reports ---- */

/* Names come from the store: escaped before they reach a report. A name
 * of up to 255 bytes escapes to at most 4 bytes each. */
#define ESC_NAME_MAX (4 * 255 + 1)

struct find_parent {
	uint64_t ino;
	uint64_t parent;
	char name[ESC_NAME_MAX];
	int found;
};

static int find_parent_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct find_parent *f = arg;

	if (v->mv_size == 8 && lgfs_be64_get(v->mv_data) == f->ino && k->mv_size > 8) {
		f->parent = lgfs_be64_get(k->mv_data);
		lgfs_escape(f->name, sizeof(f->name), (const char *)k->mv_data + 8, k->mv_size - 8);
		f->found = 1;
		return 1;
	}
	return 0;
}

/* A path of ino in index x (first name found; "(unlinked inode N)" if none). */
static void path_of(struct lgfs_index *x, MDB_txn *t, uint64_t ino, char *out, size_t cap)
{
	char tmp[4096] = "";
	int depth = 0;

	if (ino == LGFS_ROOT_INO) {
		snprintf(out, cap, "/");
		return;
	}
	while (ino != LGFS_ROOT_INO && depth++ < 64) {
		struct find_parent f = { ino, 0, "", 0 };
		size_t nl, tl = strlen(tmp);

		lgfs_index_each(x, t, x->dirents, find_parent_cb, &f);
		if (!f.found) {
			snprintf(out, cap, "(unlinked inode %llu)%s", (unsigned long long)ino, tmp);
			return;
		}
		/* prepend "/name" when it fits */
		nl = strlen(f.name) + 1;
		if (tl + nl + 1 > sizeof(tmp))
			break;
		memmove(tmp + nl, tmp, tl + 1);
		tmp[0] = '/';
		memcpy(tmp + 1, f.name, nl - 1);
		ino = f.parent;
	}
	snprintf(out, cap, "%s", tmp);
}

/* ---- comparing replay and index ---- */

struct cmp {
	struct lgfs_fsaudit *a;
	struct lgfs_audit_report *rep;
	struct lgfs_index *other;   /* the index looked up in */
	MDB_txn *other_t;
	MDB_dbi other_dbi;
	struct lgfs_index *named;   /* where paths are resolved (the replay) */
	MDB_txn *named_t;
	const char *db;
	int replay_side;            /* walking the replay (else the volume's index) */
	const char *why;            /* appended to each message: "" or that it may be a consequence */
};

static uint64_t key_ino(const MDB_val *k)
{
	return k->mv_size >= 8 ? lgfs_be64_get(k->mv_data) : 0;
}

static int cmp_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct cmp *c = arg;
	MDB_val ov;
	char path[4096];
	uint64_t ino = key_ino(k), at = LGFS_NO_INDEX;
	int rc = lgfs_index_get(c->other, c->other_t, c->other_dbi, k, &ov);

	if (rc == 0 && ov.mv_size == v->mv_size && !memcmp(ov.mv_data, v->mv_data, v->mv_size))
		return 0;
	if (rc && rc != -ENOENT)
		return rc;
	/* The log index concerned: a version's record, or the creating record
	 * of an inode. An entry only the index has was made by no record. */
	if (c->replay_side || rc == 0) {
		if ((!strcmp(c->db, "versions") || !strncmp(c->db, "past ", 5)) && k->mv_size >= 16)
			at = lgfs_be64_get((const uint8_t *)k->mv_data + k->mv_size - 8); /* key ends in the index */
		else if (!strcmp(c->db, "inodes") && ino)
			at = ino - 1;
	}
	/* Name it where it exists: in the log's state, or else in the index
	 * (the walk of the index passes the index as `named`). */
	path_of(c->named, c->named_t, ino, path, sizeof(path));
	if (!strcmp(c->db, "dirents") && k->mv_size > 8) {
		char name[ESC_NAME_MAX];
		size_t pl = strlen(path), nl;

		nl = lgfs_escape(name, sizeof(name), (const char *)k->mv_data + 8, k->mv_size - 8);
		if (nl < sizeof(name) && pl + nl + 2 < sizeof(path)) {
			if (pl > 1)
				path[pl++] = '/';
			memcpy(path + pl, name, nl + 1);
		}
	}
	if (rc == -ENOENT && c->replay_side)
		lgfs_audit_add(c->rep, at, "log change missing from index",
			       "%s: %s entry of the log's state is not in the index%s", path, c->db, c->why);
	else if (rc == -ENOENT)
		lgfs_audit_add(c->rep, at, "index not backed by log",
			       "%s: %s entry in the index that no log record made%s", path, c->db, c->why);
	else if (c->replay_side)
		lgfs_audit_add(c->rep, at, "index differs", "%s: %s entry in the index differs from the log's state%s",
			       path, c->db, c->why);
	return 0;
}

static int compare(struct lgfs_fsaudit *a, struct lgfs_audit_report *rep, struct lgfs_index *vol, MDB_txn *vt,
		   MDB_txn *rt)
{
	/* The replay skipped the damaged entries the ledger audit reported,
	 * the writer applied them: differences then follow from that damage,
	 * they are not a second problem. They are still listed (they name the
	 * paths concerned), after the entries' own findings. */
	const char *why = lgfs_audit_count_upto(rep, LGFS_FINDING_LEDGER)
				  ? " (may be a consequence of the damaged log entries above)"
				  : "";
	struct {
		const char *name;
		MDB_dbi r, v;
	} dbs[] = {
		{ "inodes", a->replay->inodes, vol->inodes },
		{ "dirents", a->replay->dirents, vol->dirents },
		{ "symlinks", a->replay->symlinks, vol->symlinks },
		{ "xattrs", a->replay->xattrs, vol->xattrs },
		{ "versions", a->replay->versions, vol->versions },
		/* the temporal tables: what history serves (history.h) */
		{ "past inodes", a->replay->h_inodes, vol->h_inodes },
		{ "past dirents", a->replay->h_dirents, vol->h_dirents },
		{ "past xattrs", a->replay->h_xattrs, vol->h_xattrs },
		{ "past names", a->replay->h_names, vol->h_names },
		{ "retention and holds", a->replay->policy, vol->policy },
	};
	size_t i;
	int rc;

	for (i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		struct cmp c = { a, rep, vol, vt, dbs[i].v, a->replay, rt, dbs[i].name, 1, why };

		if ((rc = lgfs_index_each(a->replay, rt, dbs[i].r, cmp_cb, &c)))
			return rc;
		c.other = a->replay;
		c.other_t = rt;
		c.other_dbi = dbs[i].r;
		c.named = vol;
		c.named_t = vt;
		c.replay_side = 0;
		if ((rc = lgfs_index_each(vol, vt, dbs[i].v, cmp_cb, &c)))
			return rc;
	}
	return 0;
}

/* ---- content ---- */

struct content {
	struct lgfs_fsaudit *a;
	struct lgfs_audit_report *rep;
	struct lgfs_chunks *chunks;
	MDB_txn *rt;
	uint8_t *buf;
	uint64_t done, total;
	lgfs_audit_progress_cb progress;
	void *progress_arg;
};

static const uint8_t zero_id[32];

/* One version: manifest loads (its hash checked), every chunk reads back
 * (hash checked), and the whole content hashes to the record's SHA-256. */
static int version_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct content *c = arg;
	struct lgfs_version ver;
	struct lgfs_manifest m;
	struct lgfs_sha256_ctx *h;
	char path[4096], hex[65];
	uint8_t sum[32];
	uint64_t ino, at, holes;
	size_t i;
	int rc, hashed;

	if (k->mv_size != 16 || v->mv_size != sizeof(ver))
		return 0;
	memcpy(&ver, v->mv_data, sizeof(ver));
	ino = lgfs_be64_get(k->mv_data);
	at = lgfs_be64_get((const uint8_t *)k->mv_data + 8);
	if (c->progress && (++c->done % 64 == 0 || c->done == c->total))
		c->progress(c->progress_arg, c->done, c->total);
	if (!memcmp(ver.manifest, zero_id, 32))
		return 0;
	memset(&m, 0, sizeof(m));
	rc = lgfs_manifest_load(&m, c->chunks, ver.manifest);
	if (rc) {
		lgfs_hex(hex, ver.manifest, 32);
		path_of(c->a->replay, c->rt, ino, path, sizeof(path));
		lgfs_audit_add(c->rep, at, rc == LGFS_ENOTFOUND ? "missing manifest" : "altered manifest",
			       "%s (version at index %llu): manifest %.16s… %s", path, (unsigned long long)at, hex,
			       rc == LGFS_ENOTFOUND ? "is missing" : "fails its check");
		return 0;
	}
	/* The whole-content hash exists only while the holes total at most
	 * LGFS_HOLE_HASH_MAX (FORMAT.md): above that the chunks, each checked
	 * against its id, are the verification, and the holes are not hashed
	 * byte by byte (a 50 GiB sparse file costs what its data costs). */
	for (i = 0, holes = 0; i < m.count; i++)
		if (lgfs_manifest_entry_is_hole(&m.entries[i]))
			holes += m.entries[i].len;
	hashed = lgfs_content_hashed(holes);
	h = lgfs_sha256_ctx_new();
	if (!h) {
		lgfs_manifest_free(&m);
		return lgfs_error_set(LGFS_ENOMEM, "out of memory");
	}
	for (i = 0; i < m.count; i++) {
		struct lgfs_buf chunk = LGFS_BUF_INIT;
		const struct lgfs_manifest_entry *en = &m.entries[i];
		uint64_t left = en->len;

		if (lgfs_manifest_entry_is_hole(en)) {
			if (!hashed)
				continue;
			memset(c->buf, 0, 1 << 20);
			while (left) {
				size_t n = left < (1 << 20) ? (size_t)left : (1 << 20);

				lgfs_sha256_ctx_update(h, c->buf, n);
				left -= n;
			}
			continue;
		}
		rc = lgfs_chunks_get(c->chunks, en->id, &chunk);
		if (rc || chunk.len != en->len) {
			lgfs_hex(hex, en->id, 32);
			path_of(c->a->replay, c->rt, ino, path, sizeof(path));
			lgfs_audit_add(c->rep, at, rc == LGFS_ENOTFOUND ? "missing chunk" : "altered chunk",
				       "%s (version at index %llu): chunk %zu (%.16s…) %s", path, (unsigned long long)at, i,
				       hex, rc == LGFS_ENOTFOUND ? "is missing" : "fails its hash");
			lgfs_buf_free(&chunk);
			lgfs_sha256_ctx_free(h);
			lgfs_manifest_free(&m);
			return 0;
		}
		if (hashed)
			lgfs_sha256_ctx_update(h, chunk.data, chunk.len);
		lgfs_buf_free(&chunk);
	}
	lgfs_sha256_ctx_final(h, sum);
	if ((hashed && memcmp(sum, ver.sha256, 32)) || memcmp(m.sha256, ver.sha256, 32) || m.size != ver.size) {
		path_of(c->a->replay, c->rt, ino, path, sizeof(path));
		lgfs_audit_add(c->rep, at, "content hash",
			       "%s (version at index %llu): content does not hash to the SHA-256 in its record", path,
			       (unsigned long long)at);
	}
	lgfs_manifest_free(&m);
	return 0;
}

/* ---- the index's stamp ---- */

struct stamp_probe {
	uint8_t stamp[32];
	int found;
};

/* The stamp an index reflecting the log up to this entry carries. */
static int stamp_cb(void *arg, const struct lgfs_log_entry *e)
{
	struct stamp_probe *p = arg;

	lgfs_index_stamp(p->stamp, e->record, e->record_len);
	p->found = 1;
	return 0;
}

/* Does the volume's index claim to reflect exactly the `entries` log
 * entries audited? Only then is a difference a finding: an index that
 * reflects another number of entries (behind, or ahead of the durable log
 * after a crash) or another history is a cache the next open rebuilds or
 * catches up, not evidence. 1 yes, 0 no (a->note says why). */
static int index_reflects_log(struct lgfs_fsaudit *a, struct lgfs_index *vol, MDB_txn *vt, uint64_t entries)
{
	struct lgfs_log *log = NULL;
	struct stamp_probe probe;
	uint64_t applied = 0;
	uint8_t stamp[32];
	char *logdir = NULL;
	int same = 0;

	if (lgfs_index_applied(vol, vt, &applied, stamp)) {
		snprintf(a->note, sizeof(a->note), "not compared (its stamp cannot be read)");
		return 0;
	}
	if (applied != entries) {
		snprintf(a->note, sizeof(a->note), "not compared (it reflects %llu entries, the log holds %llu)",
			 (unsigned long long)applied, (unsigned long long)entries);
		return 0;
	}
	if (entries == 0)
		return 1;
	memset(&probe, 0, sizeof(probe));
	if (asprintf(&logdir, "%s/log", a->voldir) < 0)
		logdir = NULL;
	else if (lgfs_log_open(&log, logdir, LGFS_LOG_RDONLY) == 0 &&
		 lgfs_log_read(log, entries - 1, 1, stamp_cb, &probe) == 0 && probe.found)
		same = !memcmp(probe.stamp, stamp, sizeof(stamp));
	if (!same)
		snprintf(a->note, sizeof(a->note),
			 "not compared (it reflects %llu entries of another history than the log's)",
			 (unsigned long long)applied);
	if (log)
		lgfs_log_close(log);
	free(logdir);
	return same;
}

static int count_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	(void)k;
	(void)v;
	(*(uint64_t *)arg)++;
	return 0;
}

int lgfs_fsaudit_finish(struct lgfs_fsaudit *a, struct lgfs_audit_report *rep, lgfs_audit_progress_cb progress,
			void *progress_arg)
{
	struct lgfs_index *vol = NULL;
	struct lgfs_chunks *chunks = NULL;
	MDB_txn *rt = NULL, *vt = NULL;
	char path[4096];
	int rc;

	if (a->failed)
		return lgfs_error_set(LGFS_EIO, "the replay could not be completed");
	if ((rc = lgfs_index_commit(a->t))) {
		a->t = NULL;
		return lgfs_error_set(LGFS_EIO, "replay index: commit failed");
	}
	a->t = NULL;
	if ((rc = lgfs_index_begin(a->replay, 1, &rt)))
		return lgfs_error_set(LGFS_EIO, "replay index: %s", lgfs_error_last());

	/* The volume's index, opened read-only without a lock file (the
	 * audit changes no file of the store). A writer changes it while we
	 * would read it: then it is not compared at all. */
	snprintf(path, sizeof(path), "%s/index/data.mdb", a->voldir);
	a->live = writer_active(a->voldir);
	if (a->live) {
		snprintf(a->note, sizeof(a->note), "not compared (a writer holds the volume)");
	} else if (access(path, F_OK) != 0) {
		snprintf(a->note, sizeof(a->note), "not compared (there is none; the next open builds it)");
	} else {
		snprintf(path, sizeof(path), "%s/index", a->voldir);
		if (lgfs_index_open(&vol, path, 1) || lgfs_index_begin(vol, 1, &vt)) {
			/* a derived cache that cannot be read is rebuilt, not evidence */
			snprintf(a->note, sizeof(a->note), "not compared (it cannot be read)");
		} else if (index_reflects_log(a, vol, vt, rep->entries)) {
			/* This index would be served as the log's state: every
			 * difference is a finding. */
			rc = compare(a, rep, vol, vt, rt);
			if (rc)
				goto out;
		}
	}
	/* content */
	snprintf(path, sizeof(path), "%s/chunks", a->voldir);
	{
		struct content c;
		uint64_t total = 0;

		rc = lgfs_chunks_open(&chunks, path, LGFS_CHUNKS_RDONLY);
		if (rc == LGFS_ENOTFOUND) {
			rc = 0; /* no content was ever written: fine if no version names any */
		} else if (rc) {
			goto out;
		}
		memset(&c, 0, sizeof(c));
		c.a = a;
		c.rep = rep;
		c.chunks = chunks;
		c.rt = rt;
		c.progress = progress;
		c.progress_arg = progress_arg;
		c.buf = malloc(1 << 20);
		if (!c.buf) {
			rc = lgfs_error_set(LGFS_ENOMEM, "out of memory");
			goto out;
		}
		lgfs_index_each(a->replay, rt, a->replay->versions, count_cb, &total);
		c.total = total;
		if (chunks)
			rc = lgfs_index_each(a->replay, rt, a->replay->versions, version_cb, &c);
		else if (total)
			lgfs_audit_add(rep, LGFS_NO_INDEX, "missing chunk", "the volume has no chunk store but %llu versions",
				       (unsigned long long)total);
		free(c.buf);
		if (rc < 0)
			rc = lgfs_error_set(LGFS_EIO, "checking content: %s", strerror(-rc));
	}
out:
	if (chunks)
		lgfs_chunks_close(chunks);
	if (vt)
		mdb_txn_abort(vt);
	lgfs_index_close(vol);
	if (rt)
		mdb_txn_abort(rt);
	return rc;
}
