/*
 * policy.c — retention rules and legal holds: their records, their state in
 * the index, and the checks that apply.c makes before a change that could
 * remove or alter what they protect (fs layer). See ledgerfs/policy.h.
 *
 * The state is one table (index.h: policy), keyed by the index of the
 * RETENTION or HOLD record, whose value says what it set and, once lifted
 * or released, by which record. The checks cost one cursor seek when the
 * table is empty; otherwise they read every rule (a volume has a handful)
 * and build the paths involved from the current namespace.
 *
 * Value layout (host byte order; the index is this machine's cache):
 *   retention: u8 1, i64 until, u64 duration, u32 flags, i64 time,
 *              author[32], u64 lifted_at, u16 n + path, u16 n + class,
 *              u16 n + reason
 *   hold:      u8 2, i64 time, author[32], u64 released_at, u16 n + path,
 *              u16 n + case
 */
#include "apply.h"
#include "fs_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/history.h"
#include "ledgerfs/policy.h"

#define KIND_RULE 1
#define KIND_HOLD 2
#define PATH_MAX_LEN 4095

/* ---- values ---- */

struct pol {
	int kind;
	struct lgfs_retention r; /* KIND_RULE */
	struct lgfs_hold h;      /* KIND_HOLD */
};

static void put_str(struct lgfs_buf *b, const char *s)
{
	uint16_t n = (uint16_t)strlen(s);

	lgfs_buf_put(b, &n, 2);
	lgfs_buf_put(b, s, n);
}

static int encode(const struct pol *p, struct lgfs_buf *b)
{
	uint8_t k = (uint8_t)p->kind;

	lgfs_buf_put(b, &k, 1);
	if (p->kind == KIND_RULE) {
		lgfs_buf_put(b, &p->r.until_ns, 8);
		lgfs_buf_put(b, &p->r.duration, 8);
		lgfs_buf_put(b, &p->r.flags, 4);
		lgfs_buf_put(b, &p->r.time_ns, 8);
		lgfs_buf_put(b, p->r.author, 32);
		lgfs_buf_put(b, &p->r.lifted_at, 8);
		put_str(b, p->r.path);
		put_str(b, p->r.cls);
		put_str(b, p->r.reason);
	} else {
		lgfs_buf_put(b, &p->h.time_ns, 8);
		lgfs_buf_put(b, p->h.author, 32);
		lgfs_buf_put(b, &p->h.released_at, 8);
		put_str(b, p->h.path);
		put_str(b, p->h.case_name);
	}
	return lgfs_buf_ok(b) ? -ENOMEM : 0;
}

struct rd {
	const uint8_t *p;
	size_t left;
};

static int take(struct rd *r, void *out, size_t n)
{
	if (n > r->left)
		return -1;
	memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
	return 0;
}

static int take_str(struct rd *r, char *out, size_t cap)
{
	uint16_t n;

	if (take(r, &n, 2) || n >= cap || take(r, out, n))
		return -1;
	out[n] = '\0';
	return 0;
}

static int decode(uint64_t index, const void *v, size_t len, struct pol *p)
{
	struct rd r = { v, len };
	uint8_t k;

	memset(p, 0, sizeof(*p));
	if (take(&r, &k, 1))
		return -EIO;
	p->kind = k;
	if (k == KIND_RULE) {
		p->r.index = index;
		if (take(&r, &p->r.until_ns, 8) || take(&r, &p->r.duration, 8) || take(&r, &p->r.flags, 4) ||
		    take(&r, &p->r.time_ns, 8) || take(&r, p->r.author, 32) || take(&r, &p->r.lifted_at, 8) ||
		    take_str(&r, p->r.path, sizeof(p->r.path)) || take_str(&r, p->r.cls, sizeof(p->r.cls)) ||
		    take_str(&r, p->r.reason, sizeof(p->r.reason)))
			return -EIO;
	} else if (k == KIND_HOLD) {
		p->h.index = index;
		if (take(&r, &p->h.time_ns, 8) || take(&r, p->h.author, 32) || take(&r, &p->h.released_at, 8) ||
		    take_str(&r, p->h.path, sizeof(p->h.path)) || take_str(&r, p->h.case_name, sizeof(p->h.case_name)))
			return -EIO;
	} else {
		return -EIO;
	}
	return r.left ? -EIO : 0;
}

static int pol_put(struct lgfs_index *x, MDB_txn *t, uint64_t index, const struct pol *p)
{
	struct lgfs_buf b;
	uint8_t k[8];
	MDB_val key = { 8, k }, val;
	int rc;

	lgfs_buf_init(&b);
	lgfs_be64_put(k, index);
	if (!(rc = encode(p, &b))) {
		val.mv_size = b.len;
		val.mv_data = b.data;
		rc = mdb_put(t, x->policy, &key, &val, 0) ? -EIO : 0;
	}
	lgfs_buf_free(&b);
	return rc;
}

/* Every rule and hold, in log order; cb returns non-zero to stop. */
typedef int (*pol_cb)(void *arg, const struct pol *p);

static int pol_each(struct lgfs_index *x, MDB_txn *t, pol_cb cb, void *arg)
{
	MDB_cursor *c;
	MDB_val k, v;
	struct pol *p = malloc(sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	if (mdb_cursor_open(t, x->policy, &c)) {
		free(p);
		return -EIO;
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8 || decode(lgfs_be64_get(k.mv_data), v.mv_data, v.mv_size, p)) {
			rc = -EIO;
			goto out;
		}
		if ((rc = cb(arg, p)))
			goto out;
	}
	rc = rc == MDB_NOTFOUND ? 0 : -EIO;
out:
	mdb_cursor_close(c);
	free(p);
	return rc;
}

static int pol_empty(struct lgfs_index *x, MDB_txn *t)
{
	MDB_stat st;

	return mdb_stat(t, x->policy, &st) || st.ms_entries == 0;
}

/* ---- time ---- */

int64_t lgfs_retention_end(const struct lgfs_retention *r, int64_t created_ns)
{
	int64_t base = created_ns, secs, rem;
	struct tm tm;
	time_t tt;

	if (r->until_ns)
		return r->until_ns;
	secs = base / 1000000000;
	rem = base % 1000000000;
	if (rem < 0) {
		rem += 1000000000;
		secs--;
	}
	if (r->flags & LGFS_RETAIN_YEAR_END) {
		/* from the end of the calendar year of creation (UTC) */
		int year;

		tt = (time_t)secs;
		if (!gmtime_r(&tt, &tm))
			return INT64_MAX;
		year = tm.tm_year;
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = year + 1;
		tm.tm_mday = 1;
		secs = (int64_t)timegm(&tm);
		rem = 0;
	}
	if (r->flags & LGFS_RETAIN_YEARS) {
		if (r->duration > 10000)
			return INT64_MAX;
		tt = (time_t)secs;
		if (!gmtime_r(&tt, &tm))
			return INT64_MAX;
		tm.tm_year += (int)r->duration;
		secs = (int64_t)timegm(&tm);
	} else {
		if (r->duration > (uint64_t)(INT64_MAX / 1000000000) - (uint64_t)(secs > 0 ? secs : 0))
			return INT64_MAX;
		secs += (int64_t)r->duration;
	}
	if (secs > INT64_MAX / 1000000000 - 1)
		return INT64_MAX;
	return secs * 1000000000 + rem;
}

/* ---- paths ---- */

/* Is path p `prefix` or below it? Paths are normalised ("/", "/a/b"). */
static int covers(const char *prefix, const char *p)
{
	size_t n = strlen(prefix);

	if (n == 1)
		return 1; /* "/" */
	return !strncmp(prefix, p, n) && (p[n] == '\0' || p[n] == '/');
}

/* Absolute, no empty, "." or ".." component, no trailing slash. */
static int path_valid(const char *p, size_t len)
{
	size_t i, start;

	if (len == 0 || len > PATH_MAX_LEN || p[0] != '/' || memchr(p, '\0', len))
		return 0;
	if (len == 1)
		return 1;
	if (p[len - 1] == '/')
		return 0;
	for (start = 1, i = 1; i <= len; i++) {
		if (i == len || p[i] == '/') {
			size_t n = i - start;

			if (n == 0 || (n == 1 && p[start] == '.') || (n == 2 && p[start] == '.' && p[start + 1] == '.'))
				return 0;
			start = i + 1;
		}
	}
	return 1;
}

/* The current path of directory `dir` into out (cap bytes). */
static int dir_path(struct lgfs_index *x, MDB_txn *t, uint64_t dir, char *out, size_t cap)
{
	char tmp[PATH_MAX_LEN + 1];
	size_t pos = sizeof(tmp) - 1;
	int depth = 0;

	tmp[pos] = '\0';
	while (dir != LGFS_ROOT_INO) {
		uint64_t parent;
		const char *name;
		size_t len;
		int rc;

		if (++depth > 4096)
			return -ELOOP;
		if ((rc = lgfs_name_get_at(x, t, dir, UINT64_MAX, &parent, &name, &len)))
			return rc;
		if (len + 1 > pos)
			return -ENAMETOOLONG;
		pos -= len;
		memcpy(tmp + pos, name, len);
		tmp[--pos] = '/';
		dir = parent;
	}
	if (pos == sizeof(tmp) - 1)
		tmp[--pos] = '/';
	if (sizeof(tmp) - pos > cap)
		return -ENAMETOOLONG;
	memcpy(out, tmp + pos, sizeof(tmp) - pos);
	return 0;
}

static int entry_path(struct lgfs_index *x, MDB_txn *t, uint64_t parent, const char *name, size_t len, char *out,
		      size_t cap)
{
	size_t n;
	int rc;

	if ((rc = dir_path(x, t, parent, out, cap)))
		return rc;
	n = strlen(out);
	if (n == 1)
		n = 0;
	if (n + 1 + len + 1 > cap)
		return -ENAMETOOLONG;
	out[n] = '/';
	memcpy(out + n + 1, name, len);
	out[n + 1 + len] = '\0';
	return 0;
}

/* ---- the checks ---- */

/* In force at time `now`: a hold not released; a rule not lifted that
 * still protects a file created at `created` (dir: any duration rule). */
static int in_force(const struct pol *p, int64_t now, int64_t created, int dir)
{
	if (p->kind == KIND_HOLD)
		return p->h.released_at == 0;
	if (p->r.lifted_at)
		return 0;
	if (dir && !p->r.until_ns)
		return 1;
	return lgfs_retention_end(&p->r, created) > now;
}

static const char *pol_path(const struct pol *p)
{
	return p->kind == KIND_RULE ? p->r.path : p->h.path;
}

struct check {
	const char *from; /* the object's path now */
	const char *to;   /* where a rename takes it; NULL: it is removed or changed */
	int64_t now, created;
	int dir;
};

/* -EPERM when p forbids the change. */
static int check_cb(void *arg, const struct pol *p)
{
	const struct check *c = arg;
	const char *pp = pol_path(p);

	if (!in_force(p, c->now, c->created, c->dir))
		return 0;
	if (covers(pp, c->from)) {
		/* it protects the object: it may only move within its reach */
		if (!c->to || !covers(pp, c->to) || !strcmp(pp, c->from))
			goto refuse;
	} else if (c->dir && covers(c->from, pp)) {
		goto refuse; /* what it protects is inside the directory */
	}
	return 0;
refuse:
	if (p->kind == KIND_HOLD)
		lgfs_error_set(LGFS_EPERM, "%s is under legal hold (case '%s', log index %llu)", c->from, p->h.case_name,
			       (unsigned long long)p->h.index);
	else
		lgfs_error_set(LGFS_EPERM, "%s is retained (%s rule on %s, log index %llu)", c->from,
			       p->r.flags & LGFS_RETAIN_GOVERNANCE ? "governance" : "compliance", p->r.path,
			       (unsigned long long)p->r.index);
	return -EPERM;
}

int lgfs_policy_may_remove(struct lgfs_index *x, MDB_txn *t, uint64_t parent, const char *name, size_t len,
			   const struct lgfs_inode *in, int64_t now)
{
	char path[PATH_MAX_LEN + 1];
	struct check c = { path, NULL, now, in->btime, S_ISDIR(in->mode) };
	int rc;

	if (pol_empty(x, t))
		return 0;
	if ((rc = entry_path(x, t, parent, name, len, path, sizeof(path))))
		return rc;
	return pol_each(x, t, check_cb, &c);
}

int lgfs_policy_may_move(struct lgfs_index *x, MDB_txn *t, uint64_t sparent, const char *sname, size_t slen,
			 const struct lgfs_inode *src, uint64_t dparent, const char *dname, size_t dlen, int64_t now)
{
	char from[PATH_MAX_LEN + 1], to[PATH_MAX_LEN + 1];
	struct check c = { from, to, now, src->btime, S_ISDIR(src->mode) };
	int rc;

	if (pol_empty(x, t))
		return 0;
	if ((rc = entry_path(x, t, sparent, sname, slen, from, sizeof(from))) ||
	    (rc = entry_path(x, t, dparent, dname, dlen, to, sizeof(to))))
		return rc;
	return pol_each(x, t, check_cb, &c);
}

struct names_check {
	struct lgfs_index *x;
	MDB_txn *t;
	uint64_t ino;
	struct check c;
	char path[PATH_MAX_LEN + 1];
};

static int name_check_cb(void *arg, uint64_t index, uint64_t parent, const char *name, size_t len)
{
	struct names_check *n = arg;
	uint64_t now_ino;
	int rc;

	(void)index;
	/* only the names it still has */
	if (lgfs_dirent_get(n->x, n->t, parent, name, len, &now_ino) || now_ino != n->ino)
		return 0;
	if ((rc = entry_path(n->x, n->t, parent, name, len, n->path, sizeof(n->path))))
		return rc;
	return pol_each(n->x, n->t, check_cb, &n->c);
}

int lgfs_policy_may_change(struct lgfs_index *x, MDB_txn *t, const struct lgfs_inode *in, int64_t now)
{
	struct names_check *n;
	int rc;

	/* A file with no content yet gets its first version: a document
	 * created where rules apply is written once, then kept. */
	if (in->version == 0 || pol_empty(x, t))
		return 0;
	if (!(n = calloc(1, sizeof(*n))))
		return -ENOMEM;
	n->x = x;
	n->t = t;
	n->ino = in->ino;
	n->c.from = n->path;
	n->c.now = now;
	n->c.created = in->btime;
	rc = lgfs_names_each(x, t, in->ino, 0, UINT64_MAX, name_check_cb, n);
	free(n);
	return rc;
}

/* ---- applying the records ---- */

struct same_path {
	const char *path;
	const struct pol *newp;
	uint64_t index;
	int64_t now;
	int governance_only, lift, found;
	struct lgfs_index *x;
	MDB_txn *t;
};

/* Extend only: a new rule may not end before one in force on the same path
 * (judged for a file created now). */
static int shorter_cb(void *arg, const struct pol *p)
{
	struct same_path *s = arg;

	if (p->kind != KIND_RULE || p->r.lifted_at || strcmp(p->r.path, s->path))
		return 0;
	if (lgfs_retention_end(&s->newp->r, s->now) < lgfs_retention_end(&p->r, s->now))
		return -EPERM;
	return 0;
}

static int lift_cb(void *arg, const struct pol *p)
{
	struct same_path *s = arg;
	struct pol q;

	if (p->kind != KIND_RULE || p->r.lifted_at || strcmp(p->r.path, s->path) ||
	    !(p->r.flags & LGFS_RETAIN_GOVERNANCE))
		return 0;
	s->found = 1;
	q = *p;
	q.r.lifted_at = s->index;
	return pol_put(s->x, s->t, p->r.index, &q);
}

static int get_str(const struct lgfs_record *r, uint8_t field, char *out, size_t cap, int required)
{
	const struct lgfs_arg *a = lgfs_record_arg(r, field);

	if (!a) {
		out[0] = '\0';
		return required ? -EINVAL : 0;
	}
	if (a->len >= cap || memchr(a->data, '\0', a->len))
		return -EINVAL;
	memcpy(out, a->data, a->len);
	out[a->len] = '\0';
	return 0;
}

static int apply_retention(struct lgfs_index *x, MDB_txn *t, const struct lgfs_record *r, uint64_t index)
{
	struct pol *p = calloc(1, sizeof(*p));
	struct same_path s;
	uint64_t dur = 0;
	int64_t until = 0;
	uint32_t flags = 0;
	int has_until, has_dur, rc;

	if (!p)
		return -ENOMEM;
	p->kind = KIND_RULE;
	has_until = !lgfs_record_get_i64(r, LGFS_F_UNTIL, &until);
	has_dur = !lgfs_record_get_u64(r, LGFS_F_RETENTION, &dur);
	lgfs_record_get_u32(r, LGFS_F_FLAGS, &flags);
	rc = -EINVAL;
	if (get_str(r, LGFS_F_PATH, p->r.path, sizeof(p->r.path), 1) ||
	    !path_valid(p->r.path, strlen(p->r.path)) || get_str(r, LGFS_F_NAME, p->r.cls, sizeof(p->r.cls), 0) ||
	    get_str(r, LGFS_F_REASON, p->r.reason, sizeof(p->r.reason), 0))
		goto out;
	if (flags & ~(uint32_t)(LGFS_RETAIN_GOVERNANCE | LGFS_RETAIN_YEAR_END | LGFS_RETAIN_YEARS | LGFS_RETAIN_OVERRIDE))
		goto out;
	if ((flags & LGFS_RETAIN_OVERRIDE) && !(flags & LGFS_RETAIN_GOVERNANCE))
		goto out;
	if (has_until && has_dur)
		goto out;
	if (!has_until && !has_dur && !(flags & LGFS_RETAIN_OVERRIDE))
		goto out;
	if (has_until && (until <= r->time_ns || (flags & (LGFS_RETAIN_YEAR_END | LGFS_RETAIN_YEARS))))
		goto out;
	if (has_dur && dur == 0)
		goto out;
	p->r.until_ns = has_until ? until : 0;
	p->r.duration = has_dur ? dur : 0;
	p->r.flags = flags;
	p->r.time_ns = r->time_ns;
	p->r.index = index;
	memcpy(p->r.author, r->author, 32);
	memset(&s, 0, sizeof(s));
	s.path = p->r.path;
	s.newp = p;
	s.index = index;
	s.now = r->time_ns;
	s.x = x;
	s.t = t;
	if (flags & LGFS_RETAIN_OVERRIDE) {
		if ((rc = pol_each(x, t, lift_cb, &s)))
			goto out;
		if (!s.found) {
			lgfs_error_set(LGFS_ENOTFOUND, "no governance rule in force on %s", p->r.path);
			rc = -ENOENT;
			goto out;
		}
	} else if ((rc = pol_each(x, t, shorter_cb, &s))) {
		if (rc == -EPERM)
			lgfs_error_set(LGFS_EPERM, "a retention rule in force on %s ends later: rules can only be extended",
				       p->r.path);
		goto out;
	}
	/* an override without a new end only lifts: nothing new to keep */
	rc = (has_until || has_dur) ? pol_put(x, t, index, p) : 0;
out:
	free(p);
	return rc;
}

static int apply_hold(struct lgfs_index *x, MDB_txn *t, const struct lgfs_record *r, uint64_t index)
{
	struct pol *p = calloc(1, sizeof(*p));
	int rc = -EINVAL;

	if (!p)
		return -ENOMEM;
	p->kind = KIND_HOLD;
	if (get_str(r, LGFS_F_PATH, p->h.path, sizeof(p->h.path), 1) || !path_valid(p->h.path, strlen(p->h.path)) ||
	    get_str(r, LGFS_F_REASON, p->h.case_name, sizeof(p->h.case_name), 1) || !p->h.case_name[0])
		goto out;
	p->h.index = index;
	p->h.time_ns = r->time_ns;
	memcpy(p->h.author, r->author, 32);
	rc = pol_put(x, t, index, p);
out:
	free(p);
	return rc;
}

static int apply_release(struct lgfs_index *x, MDB_txn *t, const struct lgfs_record *r, uint64_t index)
{
	uint64_t ref;
	uint8_t k[8];
	MDB_val key = { 8, k }, v;
	struct pol *p;
	int rc;

	if (lgfs_record_get_u64(r, LGFS_F_REF, &ref) || ref >= index)
		return -EINVAL;
	lgfs_be64_put(k, ref);
	if ((rc = mdb_get(t, x->policy, &key, &v)))
		return rc == MDB_NOTFOUND ? -ENOENT : -EIO;
	if (!(p = malloc(sizeof(*p))))
		return -ENOMEM;
	rc = decode(ref, v.mv_data, v.mv_size, p);
	if (!rc && (p->kind != KIND_HOLD || p->h.released_at))
		rc = -ENOENT;
	if (!rc) {
		p->h.released_at = index;
		rc = pol_put(x, t, ref, p);
	}
	free(p);
	return rc;
}

int lgfs_policy_apply(struct lgfs_index *x, MDB_txn *t, const struct lgfs_record *r, uint64_t index)
{
	switch (r->op) {
	case LGFS_OP_RETENTION:
		return apply_retention(x, t, r, index);
	case LGFS_OP_HOLD:
		return apply_hold(x, t, r, index);
	case LGFS_OP_HOLD_RELEASE:
		return apply_release(x, t, r, index);
	}
	return -EOPNOTSUPP;
}

/* ---- the API ---- */

int lgfs_fs_retain(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, const char *path, int64_t until_ns,
		   uint64_t duration, uint32_t flags, const char *cls, const char *reason)
{
	struct lgfs_record r;
	int rc;

	if (!path || !path_valid(path, strlen(path)) || (until_ns && duration) ||
	    (!until_ns && !duration && !(flags & LGFS_RETAIN_OVERRIDE)))
		return -EINVAL;
	if (flags & LGFS_RETAIN_OVERRIDE)
		flags |= LGFS_RETAIN_GOVERNANCE;
	lgfs_record_init(&r, LGFS_OP_RETENTION);
	if ((rc = lgfs_record_add_str(&r, LGFS_F_PATH, path)) ||
	    (until_ns && (rc = lgfs_record_add_i64(&r, LGFS_F_UNTIL, until_ns))) ||
	    (duration && (rc = lgfs_record_add_u64(&r, LGFS_F_RETENTION, duration))) ||
	    (flags && (rc = lgfs_record_add_u32(&r, LGFS_F_FLAGS, flags))) ||
	    (cls && *cls && (rc = lgfs_record_add_bytes(&r, LGFS_F_NAME, cls, strlen(cls)))) ||
	    (reason && *reason && (rc = lgfs_record_add_str(&r, LGFS_F_REASON, reason))))
		return lgfs_fs_errno(rc);
	return lgfs_fs_mutate(fs, ctx, &r, NULL);
}

int lgfs_fs_hold(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, const char *path, const char *case_name)
{
	struct lgfs_record r;
	int rc;

	if (!path || !path_valid(path, strlen(path)) || !case_name || !*case_name || strlen(case_name) > 1023)
		return -EINVAL;
	lgfs_record_init(&r, LGFS_OP_HOLD);
	if ((rc = lgfs_record_add_str(&r, LGFS_F_PATH, path)) || (rc = lgfs_record_add_str(&r, LGFS_F_REASON, case_name)))
		return lgfs_fs_errno(rc);
	return lgfs_fs_mutate(fs, ctx, &r, NULL);
}

struct find_hold {
	const char *path, *case_name;
	uint64_t index;
};

static int find_hold_cb(void *arg, const struct pol *p)
{
	struct find_hold *f = arg;

	if (p->kind == KIND_HOLD && !p->h.released_at && !strcmp(p->h.path, f->path) &&
	    !strcmp(p->h.case_name, f->case_name))
		f->index = p->h.index;
	return 0;
}

int lgfs_fs_hold_release(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, const char *path, const char *case_name,
		    const char *reason)
{
	struct find_hold f = { path, case_name, UINT64_MAX };
	struct lgfs_record r;
	MDB_txn *t;
	int rc;

	if (!path || !case_name)
		return -EINVAL;
	if ((rc = lgfs_index_begin(fs->index, 1, &t)))
		return rc;
	rc = pol_each(fs->index, t, find_hold_cb, &f);
	mdb_txn_abort(t);
	if (rc)
		return rc;
	if (f.index == UINT64_MAX) {
		lgfs_error_set(LGFS_ENOTFOUND, "no legal hold in force on %s for case '%s'", path, case_name);
		return -ENOENT;
	}
	lgfs_record_init(&r, LGFS_OP_HOLD_RELEASE);
	if ((rc = lgfs_record_add_u64(&r, LGFS_F_REF, f.index)) ||
	    (reason && *reason && (rc = lgfs_record_add_str(&r, LGFS_F_REASON, reason))))
		return lgfs_fs_errno(rc);
	return lgfs_fs_mutate(fs, ctx, &r, NULL);
}

struct each {
	uint64_t at;
	lgfs_retention_cb rcb;
	lgfs_hold_cb hcb;
	void *arg;
};

static int each_cb(void *arg, const struct pol *p)
{
	struct each *e = arg;
	struct pol q;

	if ((p->kind == KIND_RULE ? p->r.index : p->h.index) > e->at)
		return 0;
	q = *p;
	if (q.kind == KIND_RULE) {
		if (q.r.lifted_at > e->at)
			q.r.lifted_at = 0;
		return e->rcb ? e->rcb(e->arg, &q.r) : 0;
	}
	if (q.h.released_at > e->at)
		q.h.released_at = 0;
	return e->hcb ? e->hcb(e->arg, &q.h) : 0;
}

int lgfs_fs_policy_each(struct lgfs_fs *fs, uint64_t at, lgfs_retention_cb rcb, lgfs_hold_cb hcb, void *arg)
{
	struct each e = { at, rcb, hcb, arg };
	MDB_txn *t;
	int rc;

	if (at >= lgfs_fs_entries(fs))
		return -ERANGE;
	if ((rc = lgfs_index_begin(fs->index, 1, &t)))
		return rc;
	rc = pol_each(fs->index, t, each_cb, &e);
	mdb_txn_abort(t);
	return rc;
}

struct prot {
	const char *path;
	int64_t created, until;
	unsigned int holds;
};

static int prot_cb(void *arg, const struct pol *p)
{
	struct prot *pr = arg;

	if (!covers(pol_path(p), pr->path))
		return 0;
	if (p->kind == KIND_HOLD) {
		if (!p->h.released_at)
			pr->holds++;
	} else if (!p->r.lifted_at) {
		int64_t end = lgfs_retention_end(&p->r, pr->created);

		if (end > pr->until)
			pr->until = end;
	}
	return 0;
}

int lgfs_fs_protection(struct lgfs_fs *fs, const char *path, int64_t *until_ns, unsigned int *holds)
{
	struct prot pr = { path, 0, 0, 0 };
	struct lgfs_inode in;
	uint64_t ino;
	MDB_txn *t;
	int rc;

	if (!path || !path_valid(path, strlen(path)))
		return -EINVAL;
	if ((rc = lgfs_fs_resolve(fs, path, &ino)) || (rc = lgfs_index_begin(fs->index, 1, &t)))
		return rc;
	rc = lgfs_inode_get(fs->index, t, ino, &in);
	if (!rc) {
		pr.created = in.btime;
		rc = pol_each(fs->index, t, prot_cb, &pr);
	}
	mdb_txn_abort(t);
	if (!rc) {
		*until_ns = pr.until;
		*holds = pr.holds;
	}
	return rc;
}
