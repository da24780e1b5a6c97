/*
 * ll_past.c — the past as a file system (fuse layer).
 *
 * Every mount has a directory /.ledgerfs that lookup finds and the root's
 * listing never shows:
 *   /.ledgerfs/at/POINT/     the whole tree after log index POINT (a decimal
 *                            index or an RFC 3339 time, see lgfs_fs_point);
 *                            at/ itself lists only the newest index;
 *   /.ledgerfs/history/P/    the history of path /P: one entry per version
 *                            (lgfs_fs_history, follow 0), named
 *                            "%010llu-OPERATION" and being what /P named right
 *                            after that version's record (file, symlink or a
 *                            directory's whole tree then); versions that
 *                            removed /P are not listed. Looking up any other
 *                            name N gives the history of /P/N if that path
 *                            ever named something (so deleted files are
 *                            reached by name); the listing also shows, after
 *                            the versions, the entries /P has now as a
 *                            directory. history/ itself is the history of /.
 * A mount made with --at serves the state at its point the same way, with
 * the volume's inode numbers. All of it is read-only: every change EROFS.
 *
 * FUSE inode numbers (the volume's own are below 2^63, fs.h):
 *   bit 63 set, bit 62 clear: a past node (at, ino), both below 2^31,
 *     encoded as 2^63 | at << 31 | ino: no memory, forget is a no-op, the
 *     same number in every listing and lookup;
 *   bits 63 and 62 set: 1 /.ledgerfs, 2 at/, 3 history/ (fixed), and from
 *     16 up numbers given out by a table — history directories (a path)
 *     and past nodes too large to encode — with the kernel's lookup count,
 *     freed when it forgets them. Never reused while mounted.
 * The attributes of a past node never change (long timeouts, page cache
 * kept); history directories grow as the volume does (short timeouts, no
 * negative entries). A readdirplus hands out attributes only for numbers
 * that need no counting: the others are looked up when used.
 */
#include "ll.h"

#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/history.h"
#include "ledgerfs/record.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VN_PAST (1ULL << 63)                /* not a current inode */
#define VN_TABLE (1ULL << 62)               /* with VN_PAST: fixed or from the table */
#define VN_META (VN_PAST | VN_TABLE | 1)    /* /.ledgerfs */
#define VN_ATDIR (VN_PAST | VN_TABLE | 2)   /* /.ledgerfs/at */
#define VN_HROOT (VN_PAST | VN_TABLE | 3)   /* /.ledgerfs/history: the history of / */
#define VN_FIRST (VN_PAST | VN_TABLE | 16)  /* the table's first number */
#define VN_ENC_BITS 31
#define VN_ENC_LIM (1ULL << VN_ENC_BITS)    /* encoded: at and ino below this */
/* d_ino of a listed entry that has no number yet (as libfuse's high-level
 * API says it). */
#define VN_UNKNOWN 0xffffffffULL

/* The past never changes: the kernel may keep what it learnt. */
#define PAST_TIMEOUT 86400.0
/* The virtual directories: history directories grow. */
#define VIRT_TIMEOUT 1.0

#define HIST_PATH_MAX 4096 /* as struct lgfs_path_version's path */

/* What a FUSE number names. */
enum vkind {
	VK_CUR,   /* a current inode (fuse_ll.c's) */
	VK_PAST,  /* inode `ino` as it was at `at` */
	VK_META,  /* /.ledgerfs */
	VK_ATDIR, /* /.ledgerfs/at */
	VK_HIST,  /* the history directory of `path` */
};

struct vnode {
	enum vkind kind;
	int base;     /* VK_PAST: a node of the --at mount's own tree (numbered as the volume) */
	uint64_t at;  /* VK_PAST */
	uint64_t ino; /* VK_PAST, VK_CUR: the volume's inode */
	char *path;   /* VK_HIST: malloc'd absolute path in the volume */
};

static void vnode_free(struct vnode *n)
{
	free(n->path);
	n->path = NULL;
}

/* ---- the table of given-out numbers ---- */

/* One number the kernel holds. */
struct vent {
	uint64_t num;
	uint64_t nlookup;  /* lookups replied minus forgotten */
	uint64_t khash;    /* of (kind, at, ino, path) */
	enum vkind kind;   /* VK_PAST or VK_HIST */
	uint64_t at, ino;  /* VK_PAST */
	char *path;        /* VK_HIST */
	struct vent *next_num, *next_key; /* bucket chains */
};

struct lgfs_ll_vtab {
	pthread_mutex_t mu;
	struct vent **by_num, **by_key; /* nb buckets each */
	size_t nb;                      /* a power of two */
	size_t n;                       /* entries */
	uint64_t next;                  /* next number to give out */
};

static size_t num_bucket(const struct lgfs_ll_vtab *vt, uint64_t num)
{
	return (size_t)((num * 0x9e3779b97f4a7c15ULL) >> 17) & (vt->nb - 1);
}

static uint64_t key_hash(enum vkind kind, uint64_t at, uint64_t ino, const char *path)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *p;

	h = (h ^ (uint64_t)kind) * 0x100000001b3ULL;
	h = (h ^ at) * 0x100000001b3ULL;
	h = (h ^ ino) * 0x100000001b3ULL;
	for (p = (const unsigned char *)(path ? path : ""); *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

static int key_equal(const struct vent *e, uint64_t h, enum vkind kind, uint64_t at, uint64_t ino,
		     const char *path)
{
	if (e->khash != h || e->kind != kind)
		return 0;
	if (kind == VK_HIST)
		return !strcmp(e->path, path);
	return e->at == at && e->ino == ino;
}

static int vtab_new(struct lgfs_ll_vtab **out)
{
	struct lgfs_ll_vtab *vt = calloc(1, sizeof(*vt));

	*out = NULL;
	if (!vt)
		return -ENOMEM;
	vt->nb = 64;
	vt->by_num = calloc(vt->nb, sizeof(*vt->by_num));
	vt->by_key = calloc(vt->nb, sizeof(*vt->by_key));
	if (!vt->by_num || !vt->by_key) {
		free(vt->by_num);
		free(vt->by_key);
		free(vt);
		return -ENOMEM;
	}
	vt->next = VN_FIRST;
	pthread_mutex_init(&vt->mu, NULL);
	*out = vt;
	return 0;
}

static void vtab_free(struct lgfs_ll_vtab *vt)
{
	size_t i;

	if (!vt)
		return;
	for (i = 0; i < vt->nb; i++) {
		struct vent *e = vt->by_num[i], *next;

		for (; e; e = next) {
			next = e->next_num;
			free(e->path);
			free(e);
		}
	}
	free(vt->by_num);
	free(vt->by_key);
	pthread_mutex_destroy(&vt->mu);
	free(vt);
}

/* Twice the buckets (mu held). Failing only means longer chains. */
static void vtab_grow(struct lgfs_ll_vtab *vt)
{
	size_t nb = vt->nb * 2, i, old = vt->nb;
	struct vent **bn = calloc(nb, sizeof(*bn)), **bk = calloc(nb, sizeof(*bk));

	if (!bn || !bk) {
		free(bn);
		free(bk);
		return;
	}
	vt->nb = nb;
	for (i = 0; i < old; i++) {
		struct vent *e, *next;

		for (e = vt->by_num[i]; e; e = next) {
			size_t b = num_bucket(vt, e->num);

			next = e->next_num;
			e->next_num = bn[b];
			bn[b] = e;
		}
		for (e = vt->by_key[i]; e; e = next) {
			size_t b = (size_t)e->khash & (nb - 1);

			next = e->next_key;
			e->next_key = bk[b];
			bk[b] = e;
		}
	}
	free(vt->by_num);
	free(vt->by_key);
	vt->by_num = bn;
	vt->by_key = bk;
}

static struct vent *vtab_find_key(struct lgfs_ll_vtab *vt, uint64_t h, enum vkind kind, uint64_t at,
				  uint64_t ino, const char *path)
{
	struct vent *e;

	for (e = vt->by_key[h & (vt->nb - 1)]; e; e = e->next_key)
		if (key_equal(e, h, kind, at, ino, path))
			return e;
	return NULL;
}

/* The number of a node, counting one lookup (a new number if it had none). */
static int vtab_ref(struct lgfs_ll_vtab *vt, enum vkind kind, uint64_t at, uint64_t ino, const char *path,
		    uint64_t *num)
{
	uint64_t h = key_hash(kind, at, ino, path);
	struct vent *e;
	size_t b;

	pthread_mutex_lock(&vt->mu);
	e = vtab_find_key(vt, h, kind, at, ino, path);
	if (e) {
		e->nlookup++;
		*num = e->num;
		pthread_mutex_unlock(&vt->mu);
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e || (path && !(e->path = strdup(path)))) {
		free(e);
		pthread_mutex_unlock(&vt->mu);
		return -ENOMEM;
	}
	if (vt->n >= vt->nb)
		vtab_grow(vt);
	e->num = vt->next++;
	e->nlookup = 1;
	e->khash = h;
	e->kind = kind;
	e->at = at;
	e->ino = ino;
	b = num_bucket(vt, e->num);
	e->next_num = vt->by_num[b];
	vt->by_num[b] = e;
	b = (size_t)h & (vt->nb - 1);
	e->next_key = vt->by_key[b];
	vt->by_key[b] = e;
	vt->n++;
	*num = e->num;
	pthread_mutex_unlock(&vt->mu);
	return 0;
}

/* The number a node has now, without counting; 0 when none. */
static uint64_t vtab_peek(struct lgfs_ll_vtab *vt, enum vkind kind, uint64_t at, uint64_t ino, const char *path)
{
	uint64_t h = key_hash(kind, at, ino, path), num = 0;
	struct vent *e;

	pthread_mutex_lock(&vt->mu);
	e = vtab_find_key(vt, h, kind, at, ino, path);
	if (e)
		num = e->num;
	pthread_mutex_unlock(&vt->mu);
	return num;
}

/* What a table number names (a copy); -ENOENT when the kernel forgot it. */
static int vtab_get(struct lgfs_ll_vtab *vt, uint64_t num, struct vnode *out)
{
	struct vent *e;
	int rc = -ENOENT;

	pthread_mutex_lock(&vt->mu);
	for (e = vt->by_num[num_bucket(vt, num)]; e; e = e->next_num)
		if (e->num == num)
			break;
	if (e) {
		out->kind = e->kind;
		out->at = e->at;
		out->ino = e->ino;
		out->path = NULL;
		rc = 0;
		if (e->path && !(out->path = strdup(e->path)))
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&vt->mu);
	return rc;
}

static void vtab_forget(struct lgfs_ll_vtab *vt, uint64_t num, uint64_t nlookup)
{
	struct vent **pp, *e;

	pthread_mutex_lock(&vt->mu);
	for (pp = &vt->by_num[num_bucket(vt, num)]; (e = *pp); pp = &e->next_num)
		if (e->num == num)
			break;
	if (!e || (e->nlookup > nlookup && (e->nlookup -= nlookup))) {
		pthread_mutex_unlock(&vt->mu);
		return;
	}
	*pp = e->next_num;
	for (pp = &vt->by_key[e->khash & (vt->nb - 1)]; *pp; pp = &(*pp)->next_key)
		if (*pp == e) {
			*pp = e->next_key;
			break;
		}
	vt->n--;
	pthread_mutex_unlock(&vt->mu);
	free(e->path);
	free(e);
}

/* ---- numbers and nodes ---- */

int lgfs_ll_past_init(struct ll *ll)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	ll->uid = (uint32_t)geteuid();
	ll->gid = (uint32_t)getegid();
	ll->started_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	return vtab_new(&ll->vt);
}

void lgfs_ll_past_fini(struct ll *ll)
{
	vtab_free(ll->vt);
	ll->vt = NULL;
}

int lgfs_ll_past_owns(const struct ll *ll, uint64_t ino)
{
	return ll->past || (ino & VN_PAST);
}

/* Numbers the kernel's lookup count matters for. */
static int counted(uint64_t num)
{
	return num >= VN_FIRST;
}

static int node_get(const struct ll *ll, uint64_t num, struct vnode *n)
{
	memset(n, 0, sizeof(*n));
	if (!(num & VN_PAST)) {
		n->ino = num;
		if (!ll->past) {
			n->kind = VK_CUR;
			return 0;
		}
		n->kind = VK_PAST;
		n->base = 1;
		n->at = ll->at;
		return 0;
	}
	if (!(num & VN_TABLE)) {
		n->kind = VK_PAST;
		n->at = (num >> VN_ENC_BITS) & (VN_ENC_LIM - 1);
		n->ino = num & (VN_ENC_LIM - 1);
		return n->ino ? 0 : -ENOENT;
	}
	switch (num) {
	case VN_META:
		n->kind = VK_META;
		return 0;
	case VN_ATDIR:
		n->kind = VK_ATDIR;
		return 0;
	case VN_HROOT:
		n->kind = VK_HIST;
		return (n->path = strdup("/")) ? 0 : -ENOMEM;
	}
	if (num < VN_FIRST)
		return -ENOENT;
	return vtab_get(ll->vt, num, n);
}

/* The number of inode `ino` at `at`, reached from a node of the --at
 * mount's own tree (base) or from /.ledgerfs. ref: count a lookup;
 * else *num is 0 for a node the table has no number for yet. */
static int past_num(struct ll *ll, int base, uint64_t at, uint64_t ino, int ref, uint64_t *num)
{
	if (base) {
		*num = ino;
		return 0;
	}
	if (at < VN_ENC_LIM && ino < VN_ENC_LIM && ino) {
		*num = VN_PAST | at << VN_ENC_BITS | ino;
		return 0;
	}
	if (ref)
		return vtab_ref(ll->vt, VK_PAST, at, ino, NULL, num);
	*num = vtab_peek(ll->vt, VK_PAST, at, ino, NULL);
	return 0;
}

/* The number of the history directory of `path`; same ref rule. */
static int hist_num(struct ll *ll, const char *path, int ref, uint64_t *num)
{
	if (!strcmp(path, "/")) {
		*num = VN_HROOT;
		return 0;
	}
	if (ref)
		return vtab_ref(ll->vt, VK_HIST, 0, 0, path, num);
	*num = vtab_peek(ll->vt, VK_HIST, 0, 0, path);
	return 0;
}

void lgfs_ll_past_forget(struct ll *ll, fuse_ino_t ino, uint64_t nlookup)
{
	if (counted(ino))
		vtab_forget(ll->vt, ino, nlookup);
}

/* A past result for the kernel: a point beyond the fs's state is a node
 * that is not there. */
static int past_rc(int rc)
{
	return rc == -ERANGE ? -ENOENT : rc;
}

/* The newest point the fs holds ("now" of history directories: the
 * mounted point in an --at mount). */
static uint64_t now_point(struct ll *ll)
{
	uint64_t n;

	if (ll->past)
		return ll->at;
	n = lgfs_fs_entries(ll->fs);
	return n ? n - 1 : 0;
}

/* Attributes of /.ledgerfs, at/ and history directories: read-only
 * directories of whoever mounted (0755: a change reaches us and is EROFS,
 * not EACCES). */
static void virt_stat(const struct ll *ll, uint64_t num, struct stat *sb)
{
	struct lgfs_stat st;

	memset(&st, 0, sizeof(st));
	st.ino = num;
	st.mode = S_IFDIR | 0755;
	st.nlink = 2;
	st.uid = ll->uid;
	st.gid = ll->gid;
	st.atime = st.mtime = st.ctime = ll->started_ns;
	lgfs_ll_to_stat(sb, &st);
}

static int past_stat(struct ll *ll, uint64_t num, uint64_t at, uint64_t ino, struct stat *sb)
{
	struct lgfs_stat st;
	int rc = past_rc(lgfs_past_getattr(ll->fs, at, ino, &st));

	if (rc)
		return rc;
	st.ino = num;
	lgfs_ll_to_stat(sb, &st);
	return 0;
}

static void reply_entry(fuse_req_t req, uint64_t num, const struct stat *sb, double entry_timeout,
			double attr_timeout)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = num;
	e.generation = 0; /* numbers are never reused while mounted */
	e.attr = *sb;
	e.entry_timeout = entry_timeout;
	e.attr_timeout = attr_timeout;
	fuse_reply_entry(req, &e);
}

/* No such name, and there never will be (the past): the kernel may keep
 * the negative entry. */
static void reply_never(fuse_req_t req)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.entry_timeout = PAST_TIMEOUT;
	fuse_reply_entry(req, &e);
}

/* ---- names ---- */

/* An operation's name for a version entry: lower case, never empty. */
static const char *op_name(uint16_t op, char *buf, size_t cap)
{
	const char *n = lgfs_op_name(op);

	if (n)
		return n;
	snprintf(buf, cap, "op%04x", (unsigned int)op);
	return buf;
}

static void version_name(char *out, size_t cap, uint64_t n, uint16_t op)
{
	char ob[16];

	snprintf(out, cap, "%010llu-%s", (unsigned long long)n, op_name(op, ob, sizeof(ob)));
}

/* "0000000003-write": 1 and *n = 3; 0 for a name of another form. */
static int parse_version_name(const char *name, uint64_t *n)
{
	unsigned long long v = 0;
	int i;

	for (i = 0; i < 10; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		v = v * 10 + (unsigned long long)(name[i] - '0');
	}
	if (name[10] != '-' || !name[11] || v == 0)
		return 0;
	*n = v;
	return 1;
}

/* parent + "/" + name in out; -ENAMETOOLONG when it does not fit. */
static int child_path(char *out, size_t cap, const char *parent, const char *name, size_t len)
{
	size_t pl = strlen(parent);

	if (!strcmp(parent, "/"))
		pl = 0;
	if (pl + 1 + len + 1 > cap)
		return -ENAMETOOLONG;
	memcpy(out, parent, pl);
	out[pl] = '/';
	memcpy(out + pl + 1, name, len);
	out[pl + 1 + len] = '\0';
	return 0;
}

/* ---- lookup ---- */

void lgfs_ll_past_lookup_meta(fuse_req_t req)
{
	struct ll *ll = lgfs_ll_begin(req);
	struct stat sb;

	virt_stat(ll, VN_META, &sb);
	reply_entry(req, VN_META, &sb, PAST_TIMEOUT, PAST_TIMEOUT);
}

static void lookup_past(fuse_req_t req, struct ll *ll, const struct vnode *p, const char *name)
{
	struct lgfs_stat st;
	struct stat sb;
	uint64_t num;
	int rc;

	if (p->base && p->ino == 1 && !strcmp(name, LGFS_LL_META)) {
		lgfs_ll_past_lookup_meta(req);
		return;
	}
	rc = past_rc(lgfs_past_lookup(ll->fs, p->at, p->ino, name, &st));
	if (rc == -ENOENT) {
		reply_never(req);
		return;
	}
	if (!rc)
		rc = past_num(ll, p->base, p->at, st.ino, 1, &num);
	if (rc) {
		lgfs_ll_reply_err(req, rc, "lookup", p->ino, name);
		return;
	}
	st.ino = num;
	lgfs_ll_to_stat(&sb, &st);
	reply_entry(req, num, &sb, PAST_TIMEOUT, PAST_TIMEOUT);
}

/* at/POINT: a log index or an RFC 3339 time (PATH@N cannot be a name). */
static void lookup_at(fuse_req_t req, struct ll *ll, uint64_t parent, const char *name)
{
	uint64_t at, num = 0;
	struct stat sb;
	int rc;

	rc = lgfs_fs_point(ll->fs, name, &at);
	if (rc) {
		/* not a point (yet): no negative entry, a later record may make it one */
		lgfs_ll_reply_err(req, rc == -ENOMEM || rc == -EIO ? rc : -ENOENT, "lookup", parent, name);
		return;
	}
	rc = past_num(ll, 0, at, 1, 1, &num);
	if (!rc)
		rc = past_stat(ll, num, at, 1, &sb);
	if (rc) {
		if (counted(num))
			vtab_forget(ll->vt, num, 1);
		lgfs_ll_reply_err(req, rc, "lookup", parent, name);
		return;
	}
	/* An index names the same state for ever; a time at or after the
	 * last record names a later one as records come. */
	reply_entry(req, num, &sb, strspn(name, "0123456789") == strlen(name) ? PAST_TIMEOUT : 0.0,
		    PAST_TIMEOUT);
}

/* Looking for version n of a path. */
struct vfind {
	uint64_t n;
	int found;
	struct lgfs_path_version v;
};

static int vfind_cb(void *arg, const struct lgfs_path_version *v)
{
	struct vfind *f = arg;

	if (v->n != f->n)
		return 0;
	f->v = *v;
	f->found = 1;
	return 1;
}

static int first_cb(void *arg, const struct lgfs_path_version *v)
{
	(void)arg;
	(void)v;
	return 1;
}

static void lookup_hist(fuse_req_t req, struct ll *ll, uint64_t parent, const struct vnode *p, const char *name)
{
	char *child = NULL, ob[16];
	struct vfind *f = NULL;
	struct stat sb;
	uint64_t n, num;
	int rc;

	if (parse_version_name(name, &n)) {
		if (!(f = calloc(1, sizeof(*f)))) {
			rc = -ENOMEM;
			goto fail;
		}
		f->n = n;
		rc = lgfs_fs_history(ll->fs, p->path, 0, vfind_cb, f);
		if (rc < 0 && rc != -ENOENT)
			goto fail;
		if (f->found && f->v.present && f->v.st.mode &&
		    !strcmp(name + 11, op_name(f->v.op, ob, sizeof(ob)))) {
			struct lgfs_stat st = f->v.st;

			if ((rc = past_num(ll, 0, f->v.index, st.ino, 1, &num)))
				goto fail;
			st.ino = num;
			lgfs_ll_to_stat(&sb, &st);
			reply_entry(req, num, &sb, PAST_TIMEOUT, PAST_TIMEOUT);
			free(f);
			return;
		}
		free(f);
		f = NULL;
	}
	/* the history of PATH/NAME, if that path ever named something */
	if (!(child = malloc(HIST_PATH_MAX))) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = child_path(child, HIST_PATH_MAX, p->path, name, strlen(name))))
		goto fail;
	rc = lgfs_fs_history(ll->fs, child, 0, first_cb, NULL);
	if (rc == -ENOTDIR || rc == -ERANGE || rc == -EINVAL)
		rc = -ENOENT;
	if (rc < 0)
		goto fail; /* no negative entry: the path may come to be */
	if ((rc = hist_num(ll, child, 1, &num)))
		goto fail;
	virt_stat(ll, num, &sb);
	reply_entry(req, num, &sb, VIRT_TIMEOUT, VIRT_TIMEOUT);
	free(child);
	return;
fail:
	free(f);
	free(child);
	lgfs_ll_reply_err(req, rc, "lookup", parent, name);
}

void lgfs_ll_past_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ll *ll = lgfs_ll_begin(req);
	struct vnode p;
	struct stat sb;
	int rc = node_get(ll, parent, &p);

	if (rc) {
		lgfs_ll_reply_err(req, rc, "lookup", parent, name);
		return;
	}
	switch (p.kind) {
	case VK_PAST:
		lookup_past(req, ll, &p, name);
		break;
	case VK_META:
		if (!strcmp(name, "at")) {
			virt_stat(ll, VN_ATDIR, &sb);
			reply_entry(req, VN_ATDIR, &sb, PAST_TIMEOUT, PAST_TIMEOUT);
		} else if (!strcmp(name, "history")) {
			virt_stat(ll, VN_HROOT, &sb);
			reply_entry(req, VN_HROOT, &sb, PAST_TIMEOUT, VIRT_TIMEOUT);
		} else {
			reply_never(req);
		}
		break;
	case VK_ATDIR:
		lookup_at(req, ll, parent, name);
		break;
	case VK_HIST:
		lookup_hist(req, ll, parent, &p, name);
		break;
	default:
		lgfs_ll_reply_err(req, -EIO, "lookup", parent, name);
	}
	vnode_free(&p);
}

/* ---- attributes ---- */

void lgfs_ll_past_getattr(fuse_req_t req, fuse_ino_t ino)
{
	struct ll *ll = lgfs_ll_begin(req);
	struct vnode n;
	struct stat sb;
	int rc = node_get(ll, ino, &n);

	if (!rc && n.kind == VK_PAST)
		rc = past_stat(ll, ino, n.at, n.ino, &sb);
	else if (!rc && n.kind != VK_CUR)
		virt_stat(ll, ino, &sb);
	else if (!rc)
		rc = -EIO;
	if (rc)
		lgfs_ll_reply_err(req, rc, "getattr", ino, NULL);
	else
		fuse_reply_attr(req, &sb, n.kind == VK_PAST || n.kind == VK_META ? PAST_TIMEOUT : VIRT_TIMEOUT);
	vnode_free(&n);
}

void lgfs_ll_past_access(fuse_req_t req, fuse_ino_t ino)
{
	struct ll *ll = lgfs_ll_begin(req);
	struct lgfs_stat st;
	struct vnode n;
	int rc = node_get(ll, ino, &n);

	if (!rc && n.kind == VK_PAST)
		rc = past_rc(lgfs_past_getattr(ll->fs, n.at, n.ino, &st));
	lgfs_ll_reply_err(req, rc, "access", ino, NULL);
	vnode_free(&n);
}

void lgfs_ll_past_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct ll *ll = lgfs_ll_begin(req);
	char small[PATH_MAX + 1], *buf = small;
	struct vnode n;
	size_t len = 0;
	int rc = node_get(ll, ino, &n);

	if (!rc && n.kind != VK_PAST)
		rc = -EINVAL;
	if (!rc)
		rc = past_rc(lgfs_past_readlink(ll->fs, n.at, n.ino, small, sizeof(small), &len));
	if (!rc && len >= sizeof(small)) {
		if (!(buf = malloc(len + 1)))
			rc = -ENOMEM;
		else
			rc = past_rc(lgfs_past_readlink(ll->fs, n.at, n.ino, buf, len + 1, &len));
	}
	if (rc) {
		lgfs_ll_reply_err(req, rc, "readlink", ino, NULL);
	} else {
		buf[len] = '\0';
		fuse_reply_readlink(req, buf);
	}
	if (buf != small)
		free(buf);
	vnode_free(&n);
}

void lgfs_ll_past_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct ll *ll = lgfs_ll_begin(req);
	struct vnode n;
	size_t len = 0;
	char *buf = NULL;
	int rc = node_get(ll, ino, &n);

	if (!rc && n.kind != VK_PAST)
		rc = -ENODATA;
	if (!rc && size && !(buf = malloc(size)))
		rc = -ENOMEM;
	if (!rc)
		rc = past_rc(lgfs_past_getxattr(ll->fs, n.at, n.ino, name, buf, size, &len));
	if (rc)
		lgfs_ll_reply_err(req, rc, "getxattr", ino, name);
	else if (!size)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
	vnode_free(&n);
}

void lgfs_ll_past_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct ll *ll = lgfs_ll_begin(req);
	struct vnode n;
	size_t len = 0;
	char *buf = NULL;
	int rc = node_get(ll, ino, &n);

	if (!rc && n.kind == VK_PAST) {
		if (size && !(buf = malloc(size)))
			rc = -ENOMEM;
		else
			rc = past_rc(lgfs_past_listxattr(ll->fs, n.at, n.ino, buf, size, &len));
	}
	if (rc)
		lgfs_ll_reply_err(req, rc, "listxattr", ino, NULL);
	else if (!size)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
	vnode_free(&n);
}

/* ---- files ---- */

void lgfs_ll_past_file_free(struct ll_file *f)
{
	lgfs_past_close(f->past);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

void lgfs_ll_past_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ll *ll = lgfs_ll_begin(req);
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct lgfs_past_file *pf = NULL;
	struct ll_file *f;
	struct vnode n;
	int rc = node_get(ll, ino, &n);

	if (!rc && n.kind != VK_PAST)
		rc = -EISDIR;
	if (!rc && ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)))
		rc = -EROFS;
	if (!rc)
		rc = past_rc(lgfs_past_open(ll->fs, n.at, n.ino, &pf));
	vnode_free(&n);
	if (rc) {
		lgfs_ll_reply_err(req, rc, "open", ino, NULL);
		return;
	}
	if (!(f = calloc(1, sizeof(*f)))) {
		lgfs_past_close(pf);
		lgfs_ll_reply_err(req, -ENOMEM, "open", ino, NULL);
		return;
	}
	f->past = pf;
	pthread_mutex_init(&f->mu, NULL);
	f->opener.uid = (uint32_t)c->uid;
	f->opener.gid = (uint32_t)c->gid;
	fi->fh = (uint64_t)(uintptr_t)f;
	fi->keep_cache = 1; /* the content of a past node never changes */
	fi->direct_io = 0;
	lgfs_ll_files_add(ll, f);
	if (fuse_reply_open(req, fi) != 0) {
		lgfs_ll_files_del(ll, f);
		lgfs_ll_past_file_free(f);
	}
}

void lgfs_ll_past_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct ll_file *f = (struct ll_file *)(uintptr_t)fi->fh;
	size_t got = 0;
	char *buf;
	int rc;

	lgfs_ll_begin(req);
	if (off < 0) {
		lgfs_ll_reply_io_err(req, -EINVAL, "read", ino);
		return;
	}
	if (!(buf = malloc(size ? size : 1))) {
		lgfs_ll_reply_io_err(req, -ENOMEM, "read", ino);
		return;
	}
	pthread_mutex_lock(&f->mu);
	rc = lgfs_past_read(f->past, (uint64_t)off, buf, size, &got);
	pthread_mutex_unlock(&f->mu);
	if (rc)
		lgfs_ll_reply_io_err(req, rc, "read", ino);
	else
		fuse_reply_buf(req, buf, got);
	free(buf);
}

void lgfs_ll_past_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ll *ll = lgfs_ll_begin(req);
	struct ll_file *f = (struct ll_file *)(uintptr_t)fi->fh;

	(void)ino;
	lgfs_ll_files_del(ll, f);
	lgfs_ll_past_file_free(f);
	fuse_reply_err(req, 0);
}

/* SEEK_DATA / SEEK_HOLE: the whole file is data. */
void lgfs_ll_past_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	struct ll_file *f = (struct ll_file *)(uintptr_t)fi->fh;
	uint64_t size = lgfs_past_size(f->past);

	lgfs_ll_begin(req);
	if (off < 0 || (whence != SEEK_DATA && whence != SEEK_HOLE)) {
		lgfs_ll_reply_err(req, -EINVAL, "lseek", ino, NULL);
		return;
	}
	if ((uint64_t)off >= size) {
		lgfs_ll_reply_err(req, -ENXIO, "lseek", ino, NULL);
		return;
	}
	fuse_reply_lseek(req, whence == SEEK_DATA ? off : (off_t)size);
}

/* ---- directories ---- */

/* One entry of a directory listed whole at opendir. */
struct vdent {
	char *name;
	uint32_t mode; /* S_IFDIR, ... */
	uint64_t num;  /* its number, VN_UNKNOWN when it has none yet */
};

/* What fi->fh points to for a directory of the past. */
struct vdir {
	pthread_mutex_t mu; /* one readdir at a time */
	uint64_t self;      /* its number */
	int stream;         /* a past directory, read from the index as asked;
			     * else the listing below, made at opendir */
	/* stream */
	int base;           /* the --at mount's own tree */
	int hide_meta;      /* the root of an --at mount: /.ledgerfs is not listed */
	uint64_t at, ino;
	uint64_t next_off;  /* offset after the last entry passed (0: none) */
	char last[256];     /* that entry's name, where the next call resumes */
	size_t last_len;
	/* listing: ".", "..", then the entries */
	struct vdent *v;
	size_t n, cap;
};

static void vdir_free(struct vdir *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->v[i].name);
	free(d->v);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

static int vdir_add(struct vdir *d, const char *name, size_t len, uint32_t mode, uint64_t num)
{
	if (lgfs_grow(&d->v, &d->cap, d->n, sizeof(*d->v)))
		return -ENOMEM;
	if (!(d->v[d->n].name = strndup(name, len)))
		return -ENOMEM;
	d->v[d->n].mode = mode & S_IFMT;
	d->v[d->n].num = num ? num : VN_UNKNOWN;
	d->n++;
	return 0;
}

/* Building the listing of a history directory. */
struct hlist {
	struct ll *ll;
	struct vdir *d;
	const char *path;
	size_t versions_end; /* index in d->v after the last version */
	char *child;         /* HIST_PATH_MAX bytes */
};

static int hlist_version_cb(void *arg, const struct lgfs_path_version *v)
{
	struct hlist *h = arg;
	char name[64];
	uint64_t num;
	int rc;

	if (!v->present || !v->st.mode)
		return 0;
	version_name(name, sizeof(name), v->n, v->op);
	if ((rc = past_num(h->ll, 0, v->index, v->st.ino, 0, &num)))
		return rc;
	return vdir_add(h->d, name, strlen(name), v->st.mode, num);
}

/* Is name one of the version entries listed (sorted by number)? */
static int hlist_has_version(const struct hlist *h, const char *name, size_t len)
{
	size_t lo = 2, hi = h->versions_end;
	uint64_t n, m;
	char buf[256];

	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, name, len);
	buf[len] = '\0';
	if (!parse_version_name(buf, &n))
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		parse_version_name(h->d->v[mid].name, &m);
		if (m == n)
			return !strcmp(h->d->v[mid].name, buf);
		if (m < n)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static int hlist_child_cb(void *arg, const char *name, size_t len, const struct lgfs_stat *st)
{
	struct hlist *h = arg;
	uint64_t num = 0;
	int rc;

	(void)st;
	if (hlist_has_version(h, name, len))
		return 0; /* the version wins the name (lookup says the same) */
	if (child_path(h->child, HIST_PATH_MAX, h->path, name, len))
		return 0; /* too long to have a history */
	if ((rc = hist_num(h->ll, h->child, 0, &num)))
		return rc;
	return vdir_add(h->d, name, len, S_IFDIR, num);
}

static int list_hist(struct ll *ll, struct vdir *d, const char *path)
{
	struct hlist h = { ll, d, path, 0, NULL };
	uint64_t now = now_point(ll), dir;
	int rc;

	rc = lgfs_fs_history(ll->fs, path, 0, hlist_version_cb, &h);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	h.versions_end = d->n;
	if (past_rc(lgfs_past_resolve(ll->fs, now, path, &dir)))
		return 0; /* not there now: no current entries */
	if (!(h.child = malloc(HIST_PATH_MAX)))
		return -ENOMEM;
	rc = lgfs_past_readdir(ll->fs, now, dir, NULL, 0, hlist_child_cb, &h);
	free(h.child);
	return rc == -ENOTDIR ? 0 : rc < 0 ? rc : 0;
}

void lgfs_ll_past_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ll *ll = lgfs_ll_begin(req);
	struct lgfs_stat st;
	struct vdir *d = NULL;
	struct vnode n;
	char idx[32];
	int rc = node_get(ll, ino, &n);

	if (rc)
		goto fail;
	if (!(d = calloc(1, sizeof(*d)))) {
		rc = -ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&d->mu, NULL);
	d->self = ino;
	switch (n.kind) {
	case VK_PAST:
		rc = past_rc(lgfs_past_getattr(ll->fs, n.at, n.ino, &st));
		if (!rc && !S_ISDIR(st.mode))
			rc = -ENOTDIR;
		d->stream = 1;
		d->base = n.base;
		d->hide_meta = n.base && n.ino == 1;
		d->at = n.at;
		d->ino = n.ino;
		break;
	default:
		if ((rc = vdir_add(d, ".", 1, S_IFDIR, ino)) || (rc = vdir_add(d, "..", 2, S_IFDIR, 0)))
			break;
		if (n.kind == VK_META) {
			if (!(rc = vdir_add(d, "at", 2, S_IFDIR, VN_ATDIR)))
				rc = vdir_add(d, "history", 7, S_IFDIR, VN_HROOT);
		} else if (n.kind == VK_ATDIR) {
			/* only the newest point: the others are there when named */
			uint64_t e = lgfs_fs_entries(ll->fs), num = 0;

			if (e) {
				snprintf(idx, sizeof(idx), "%llu", (unsigned long long)(e - 1));
				if (!(rc = past_num(ll, 0, e - 1, 1, 0, &num)))
					rc = vdir_add(d, idx, strlen(idx), S_IFDIR, num);
			}
		} else if (n.kind == VK_HIST) {
			rc = list_hist(ll, d, n.path);
		} else {
			rc = -EIO;
		}
	}
	if (rc)
		goto fail;
	vnode_free(&n);
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi) != 0)
		vdir_free(d);
	return;
fail:
	if (d)
		vdir_free(d);
	vnode_free(&n);
	lgfs_ll_reply_err(req, rc, "opendir", ino, NULL);
}

void lgfs_ll_past_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	lgfs_ll_begin(req);
	vdir_free((struct vdir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* A readdir reply being filled. */
struct vfill {
	fuse_req_t req;
	struct ll *ll;
	struct vdir *d;
	char *buf;
	size_t size, used;
	int plus;
	uint64_t off;  /* offset of the next entry */
	uint64_t skip; /* repositioning: entries still to pass over */
};

/* Add one entry; 1 when the buffer is full (not taken). num VN_UNKNOWN or
 * a counted number: no attributes (the kernel would count them). */
static int vfill_add(struct vfill *f, const char *name, uint32_t mode, uint64_t num, const struct lgfs_stat *st,
		     uint64_t next)
{
	size_t rem = f->size - f->used, n;
	int dot = !strcmp(name, ".") || !strcmp(name, "..");

	if (f->plus) {
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		if (st && !dot && num != VN_UNKNOWN && !counted(num)) {
			struct lgfs_stat s = *st;

			s.ino = num;
			lgfs_ll_to_stat(&e.attr, &s);
			e.ino = num;
			e.entry_timeout = PAST_TIMEOUT;
			e.attr_timeout = PAST_TIMEOUT;
		} else {
			e.attr.st_ino = num;
			e.attr.st_mode = mode;
		}
		n = fuse_add_direntry_plus(f->req, f->buf + f->used, rem, name, &e, (off_t)next);
	} else {
		struct stat sb;

		memset(&sb, 0, sizeof(sb));
		sb.st_ino = num;
		sb.st_mode = mode;
		n = fuse_add_direntry(f->req, f->buf + f->used, rem, name, &sb, (off_t)next);
	}
	if (n > rem)
		return 1;
	f->used += n;
	return 0;
}

static int stream_cb(void *arg, const char *name, size_t len, const struct lgfs_stat *st)
{
	struct vfill *f = arg;
	struct vdir *d = f->d;
	char nm[256];
	uint64_t num;
	int rc;

	if (len >= sizeof(nm))
		return -EIO; /* the fs layer keeps names to 255 bytes */
	memcpy(nm, name, len);
	nm[len] = '\0';
	if (f->skip) {
		f->skip--;
	} else if (!(d->hide_meta && !strcmp(nm, LGFS_LL_META))) {
		if ((rc = past_num(f->ll, d->base, d->at, st->ino, 0, &num)))
			return rc;
		if (vfill_add(f, nm, st->mode & S_IFMT, num ? num : VN_UNKNOWN, st, f->off + 1))
			return 1;
	}
	/* passed: a hidden entry takes an offset too, so that every way of
	 * counting agrees */
	f->off++;
	d->next_off = f->off;
	memcpy(d->last, nm, len + 1);
	d->last_len = len;
	return 0;
}

static int readdir_stream(struct vfill *f, uint64_t off)
{
	struct vdir *d = f->d;
	char after[256];
	size_t after_len = 0;
	int rc, have_after = 0;

	if (off == 0 && vfill_add(f, ".", S_IFDIR, d->self, NULL, 1))
		return 0;
	if (off <= 1 && vfill_add(f, "..", S_IFDIR, VN_UNKNOWN, NULL, 2))
		return 0;
	f->off = off < 2 ? 2 : off;
	if (off > 2 && off == d->next_off) {
		memcpy(after, d->last, d->last_len + 1);
		after_len = d->last_len;
		have_after = 1;
	} else if (off > 2) {
		/* seekdir, or a restart: pass over off - 2 entries again (the
		 * past does not change, so they are the same ones) */
		f->off = 2;
		f->skip = off - 2;
	}
	rc = lgfs_past_readdir(f->ll->fs, d->at, d->ino, have_after ? after : NULL, after_len, stream_cb, f);
	return rc < 0 ? past_rc(rc) : 0;
}

static void readdir_list(struct vfill *f, uint64_t off)
{
	struct vdir *d = f->d;
	size_t i;

	for (i = (size_t)off; i < d->n; i++)
		if (vfill_add(f, d->v[i].name, d->v[i].mode, d->v[i].num, NULL, i + 1))
			break;
}

void lgfs_ll_past_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi,
			  int plus)
{
	struct ll *ll = lgfs_ll_begin(req);
	struct vfill f;
	int rc = 0;

	if (off < 0) {
		lgfs_ll_reply_err(req, -EINVAL, "readdir", ino, NULL);
		return;
	}
	memset(&f, 0, sizeof(f));
	f.req = req;
	f.ll = ll;
	f.d = (struct vdir *)(uintptr_t)fi->fh;
	f.size = size;
	f.plus = plus;
	if (!(f.buf = malloc(size ? size : 1))) {
		lgfs_ll_reply_err(req, -ENOMEM, "readdir", ino, NULL);
		return;
	}
	pthread_mutex_lock(&f.d->mu);
	if (f.d->stream)
		rc = readdir_stream(&f, (uint64_t)off);
	else
		readdir_list(&f, (uint64_t)off);
	pthread_mutex_unlock(&f.d->mu);
	/* Entries already taken are answered; the error comes back on the
	 * next call. */
	if (rc && f.used == 0) {
		lgfs_ll_reply_err(req, rc, plus ? "readdirplus" : "readdir", ino, NULL);
	} else {
		if (rc)
			lgfs_ll_log_failure(ll, req, plus ? "readdirplus" : "readdir", ino, NULL,
					    lgfs_ll_to_errno(rc), 1);
		fuse_reply_buf(req, f.buf, f.used);
	}
	free(f.buf);
}
