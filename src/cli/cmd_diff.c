/*
 * cmd_diff.c — `ledgerfs diff`: what changed in a volume, or in one of its
 * subtrees, between two points in history (cli layer).
 *
 * Both trees are read from a read-only, verified open of the volume through
 * history.h. They are compared by links, a link being a name in a directory
 * naming an inode (inode numbers are never reused): a link at both points
 * is the same file, compared attribute by attribute (M); the links an inode
 * lost and the links it gained are renames (R), paired in path order when
 * it has several; a link lost by an inode gone from the tree is a deletion
 * (D), a link gained by one new to it an addition (A). A deletion and an
 * addition at the same path (a file replaced, as editors save) are one
 * change (M) of that path, or none when nothing anyone can see differs.
 * Since a renamed directory's entries keep their links, its entries are
 * listed only when they changed themselves. Content is compared by manifest
 * id, then by SHA-256, then byte by byte (files without a whole hash).
 */
#include "cli.h"

#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/fs.h"
#include "ledgerfs/history.h"
#include "ledgerfs/json.h"
#include "ledgerfs/linediff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Files larger than this are not compared line by line. */
#define DIFF_MAX_TEXT (16u << 20)

/* One link in a tree: a name in a directory at a point. */
struct node {
	char *path;        /* absolute path in the volume, raw bytes, NUL-terminated */
	size_t name_off;   /* the link's name: path + name_off ("" for the compared top) */
	uint64_t parent;   /* the directory holding the name (0 for the compared top) */
	struct lgfs_stat st;
};

/* The subtree under PATH at one point. */
struct tree {
	uint64_t at;
	struct node *v; /* links, in no order until sorted */
	size_t n, cap;
};

/* What changed about a file (M), for --json's "what". */
enum {
	W_TYPE = 1 << 0,
	W_CONTENT = 1 << 1,
	W_TARGET = 1 << 2,
	W_DEVICE = 1 << 3,
	W_MODE = 1 << 4,
	W_OWNER = 1 << 5,
	W_XATTRS = 1 << 6,
};
static const char *const what_names[] = { "type", "content", "target", "device", "mode", "owner", "xattrs" };

/* Kinds of change, in the order they are listed at one path. */
enum { CH_DELETED, CH_RENAMED, CH_ADDED, CH_CHANGED };

struct change {
	int kind;
	const struct node *old; /* at --from (NULL for added) */
	const struct node *new; /* at --to (NULL for deleted) */
	unsigned int what;      /* CH_CHANGED: W_* */
};

struct diff {
	struct lgfs_fs *fs;
	struct tree from, to;
	struct change *ch;
	size_t nch, capch;
	int json, content;
	struct lgfs_buf out;
};

static const char *type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "char-device";
	case S_IFBLK: return "block-device";
	default: return "unknown";
	}
}

/* ---- reading the trees ---- */

static int tree_add(struct tree *t, const char *dir, const char *name, size_t len, uint64_t parent,
		    const struct lgfs_stat *st)
{
	size_t dlen = strlen(dir), sep = len && strcmp(dir, "/"); /* "/d" + "x" is "/d/x", "/" + "x" "/x" */
	struct node *n;

	if (lgfs_grow(&t->v, &t->cap, t->n, sizeof(*t->v)))
		return -ENOMEM;
	n = &t->v[t->n];
	n->path = malloc(dlen + sep + len + 1);
	if (!n->path)
		return -ENOMEM;
	memcpy(n->path, dir, dlen);
	if (sep)
		n->path[dlen] = '/';
	memcpy(n->path + dlen + sep, name, len);
	n->path[dlen + sep + len] = '\0';
	n->name_off = dlen + sep;
	n->parent = parent;
	n->st = *st;
	t->n++;
	return 0;
}

struct walk {
	struct tree *t;
	size_t dir; /* index of the directory being listed */
};

static int walk_cb(void *arg, const char *name, size_t len, const struct lgfs_stat *st)
{
	struct walk *w = arg;

	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return -EIO; /* not a name a directory can hold: a broken index */
	return tree_add(w->t, w->t->v[w->dir].path, name, len, w->t->v[w->dir].st.ino, st);
}

/* Every link under `top` at t->at, breadth first (listings are read whole
 * before the next is started: one read at a time). `top` not existing then
 * is an empty tree. */
static int tree_read(struct lgfs_fs *fs, struct tree *t, const char *top)
{
	struct lgfs_stat st;
	struct walk w = { t, 0 };
	uint64_t ino;
	int rc;

	lgfs_error_clear();
	rc = lgfs_past_resolve(fs, t->at, top, &ino);
	if (rc == -ENOENT || rc == -ENOTDIR)
		return 0;
	if (rc || (rc = lgfs_past_getattr(fs, t->at, ino, &st)))
		return rc;
	if ((rc = tree_add(t, top, "", 0, 0, &st))) /* the top's link: no directory, no name */
		return rc;
	for (w.dir = 0; w.dir < t->n; w.dir++) {
		if (!S_ISDIR(t->v[w.dir].st.mode))
			continue;
		if ((rc = lgfs_past_readdir(fs, t->at, t->v[w.dir].st.ino, NULL, 0, walk_cb, &w)))
			return rc;
	}
	return 0;
}

static void tree_free(struct tree *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].path);
	free(t->v);
}

/* ---- comparing two files ---- */

/* 1 if the bytes of two files are the same, 0 if not, or a negative errno. */
static int same_bytes(struct diff *d, const struct node *a, const struct node *b)
{
	struct lgfs_past_file *fa = NULL, *fb = NULL;
	char *ba = malloc(1 << 20), *bb = malloc(1 << 20);
	uint64_t off = 0;
	size_t ga, gb;
	int rc = -ENOMEM;

	if (!ba || !bb)
		goto out;
	if ((rc = lgfs_past_open(d->fs, d->from.at, a->st.ino, &fa)) ||
	    (rc = lgfs_past_open(d->fs, d->to.at, b->st.ino, &fb)))
		goto out;
	for (;;) {
		if ((rc = lgfs_past_read(fa, off, ba, 1 << 20, &ga)) || (rc = lgfs_past_read(fb, off, bb, 1 << 20, &gb)))
			goto out;
		if (ga != gb || memcmp(ba, bb, ga)) {
			rc = 0;
			goto out;
		}
		if (ga == 0) {
			rc = 1;
			goto out;
		}
		off += ga;
	}
out:
	if (fa)
		lgfs_past_close(fa);
	if (fb)
		lgfs_past_close(fb);
	free(ba);
	free(bb);
	return rc;
}

/* 1 if two regular files have the same content, 0 if not, or an error. */
static int same_content(struct diff *d, const struct node *a, const struct node *b)
{
	static const uint8_t zero[32];
	uint8_t sa[32], sb[32], ma[32], mb[32];
	int rc;

	if (a->st.size != b->st.size)
		return 0;
	if ((rc = lgfs_past_content(d->fs, d->from.at, a->st.ino, sa, ma)) ||
	    (rc = lgfs_past_content(d->fs, d->to.at, b->st.ino, sb, mb)))
		return rc;
	if (!memcmp(ma, mb, 32))
		return 1;
	if (memcmp(sa, zero, 32) && memcmp(sb, zero, 32))
		return !memcmp(sa, sb, 32);
	return same_bytes(d, a, b); /* no whole-content hash on a side */
}

/* A file's xattr names as one NUL-separated list (*out malloc'd, NULL when
 * there are none) of *len bytes. */
static int xattr_names(struct lgfs_fs *fs, uint64_t at, uint64_t ino, char **out, size_t *len)
{
	char *buf;
	int rc, tries;

	*out = NULL;
	*len = 0;
	for (tries = 0; tries < 4; tries++) {
		if ((rc = lgfs_past_listxattr(fs, at, ino, NULL, 0, len)))
			return rc;
		if (*len == 0)
			return 0;
		if (!(buf = malloc(*len)))
			return -ENOMEM;
		rc = lgfs_past_listxattr(fs, at, ino, buf, *len, len);
		if (rc == 0) {
			*out = buf;
			return 0;
		}
		free(buf);
		if (rc != -ERANGE)
			return rc;
	}
	return -EIO;
}

static int xattr_value(struct lgfs_fs *fs, uint64_t at, uint64_t ino, const char *name, char **out, size_t *len)
{
	int rc;

	*out = NULL;
	if ((rc = lgfs_past_getxattr(fs, at, ino, name, NULL, 0, len)))
		return rc;
	if (!(*out = malloc(*len ? *len : 1)))
		return -ENOMEM;
	if ((rc = lgfs_past_getxattr(fs, at, ino, name, *out, *len, len))) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* 1 if two files have the same xattrs (names and values), 0 if not, or an
 * error. Listings come in the index's key order, the same for equal sets. */
static int same_xattrs(struct diff *d, const struct node *a, const struct node *b)
{
	char *la = NULL, *lb = NULL, *va = NULL, *vb = NULL, *p;
	size_t na, nb, lva, lvb;
	int rc;

	if ((rc = xattr_names(d->fs, d->from.at, a->st.ino, &la, &na)) ||
	    (rc = xattr_names(d->fs, d->to.at, b->st.ino, &lb, &nb)))
		goto out;
	rc = 0;
	if (na != nb || (na && memcmp(la, lb, na)))
		goto out;
	for (p = la; p < la + na; p += strlen(p) + 1) {
		if ((rc = xattr_value(d->fs, d->from.at, a->st.ino, p, &va, &lva)) ||
		    (rc = xattr_value(d->fs, d->to.at, b->st.ino, p, &vb, &lvb)))
			goto out;
		rc = lva == lvb && !memcmp(va, vb, lva);
		free(va);
		free(vb);
		va = vb = NULL;
		if (!rc)
			goto out;
	}
	rc = 1;
out:
	free(va);
	free(vb);
	free(la);
	free(lb);
	return rc;
}

static int same_target(struct diff *d, const struct node *a, const struct node *b)
{
	char ta[4096], tb[4096];
	size_t la, lb;
	int rc;

	if ((rc = lgfs_past_readlink(d->fs, d->from.at, a->st.ino, ta, sizeof(ta), &la)) ||
	    (rc = lgfs_past_readlink(d->fs, d->to.at, b->st.ino, tb, sizeof(tb), &lb)))
		return rc;
	if (la > sizeof(ta) || lb > sizeof(tb))
		return -ENAMETOOLONG;
	return la == lb && !memcmp(ta, tb, la);
}

/* What differs between a at --from and b at --to (times and sizes of
 * directories, link counts and inode numbers are not compared). */
static int what_changed(struct diff *d, const struct node *a, const struct node *b, unsigned int *what)
{
	uint32_t ma = a->st.mode, mb = b->st.mode;
	int rc;

	*what = 0;
	if ((ma ^ mb) & S_IFMT) {
		*what |= W_TYPE;
	} else if (S_ISREG(ma)) {
		if ((rc = same_content(d, a, b)) < 0)
			return rc;
		if (!rc)
			*what |= W_CONTENT;
	} else if (S_ISLNK(ma)) {
		if ((rc = same_target(d, a, b)) < 0)
			return rc;
		if (!rc)
			*what |= W_TARGET;
	} else if ((S_ISCHR(ma) || S_ISBLK(ma)) && a->st.rdev != b->st.rdev) {
		*what |= W_DEVICE;
	}
	if ((ma ^ mb) & 07777)
		*what |= W_MODE;
	if (a->st.uid != b->st.uid || a->st.gid != b->st.gid)
		*what |= W_OWNER;
	if ((rc = same_xattrs(d, a, b)) < 0)
		return rc;
	if (!rc)
		*what |= W_XATTRS;
	return 0;
}

/* ---- pairing the links ---- */

static int add_change(struct diff *d, int kind, const struct node *old, const struct node *new, unsigned int what)
{
	if (lgfs_grow(&d->ch, &d->capch, d->nch, sizeof(*d->ch)))
		return -ENOMEM;
	d->ch[d->nch].kind = kind;
	d->ch[d->nch].old = old;
	d->ch[d->nch].new = new;
	d->ch[d->nch].what = what;
	d->nch++;
	return 0;
}

/* A file at both points: an M when something differs. */
static int compare_pair(struct diff *d, const struct node *a, const struct node *b)
{
	unsigned int what;
	int rc = what_changed(d, a, b, &what);

	if (rc || !what)
		return rc;
	return add_change(d, CH_CHANGED, a, b, what);
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

/* Links by (directory, name, inode). */
static int cmp_link(const void *x, const void *y)
{
	const struct node *a = x, *b = y;
	int c = cmp_u64(a->parent, b->parent);

	if (!c)
		c = strcmp(a->path + a->name_off, b->path + b->name_off);
	return c ? c : cmp_u64(a->st.ino, b->st.ino);
}

/* Pointers to links by (inode, path). */
static int cmp_ino_path(const void *x, const void *y)
{
	const struct node *a = *(const struct node *const *)x, *b = *(const struct node *const *)y;
	int c = cmp_u64(a->st.ino, b->st.ino);

	return c ? c : strcmp(a->path, b->path);
}

static const char *change_path(const struct change *c)
{
	return c->new ? c->new->path : c->old->path;
}

static int cmp_change(const void *x, const void *y)
{
	const struct change *a = x, *b = y;
	int c = strcmp(change_path(a), change_path(b));

	return c ? c : a->kind - b->kind;
}

/* Lost links against gained links, inode by inode: renames, and the rest
 * deletions and additions. Both arrays are sorted by (inode, path). */
static int pair_moves(struct diff *d, const struct node **lost, size_t nl, const struct node **gained, size_t ng)
{
	size_t i = 0, j = 0;
	int rc;

	while (i < nl || j < ng) {
		uint64_t xi = i < nl ? lost[i]->st.ino : UINT64_MAX, xj = j < ng ? gained[j]->st.ino : UINT64_MAX;

		if (i < nl && j < ng && xi == xj) {
			/* the same inode under other names: renames, in path order */
			while (i < nl && j < ng && lost[i]->st.ino == xi && gained[j]->st.ino == xi) {
				if ((rc = add_change(d, CH_RENAMED, lost[i], gained[j], 0)) ||
				    (rc = compare_pair(d, lost[i], gained[j])))
					return rc;
				i++;
				j++;
			}
			for (; i < nl && lost[i]->st.ino == xi; i++)
				if ((rc = add_change(d, CH_DELETED, lost[i], NULL, 0)))
					return rc;
			for (; j < ng && gained[j]->st.ino == xi; j++)
				if ((rc = add_change(d, CH_ADDED, NULL, gained[j], 0)))
					return rc;
		} else if (xi < xj) {
			if ((rc = add_change(d, CH_DELETED, lost[i++], NULL, 0)))
				return rc;
		} else {
			if ((rc = add_change(d, CH_ADDED, NULL, gained[j++], 0)))
				return rc;
		}
	}
	return 0;
}

/* Sort the changes by path; a deletion and an addition at one path become
 * one change of it (or none). */
static int merge_replacements(struct diff *d)
{
	size_t i, k = 0;
	int rc;

	if (d->nch > 1)
		qsort(d->ch, d->nch, sizeof(*d->ch), cmp_change);
	for (i = 0; i < d->nch; i++) {
		struct change c = d->ch[i];

		if (c.kind == CH_DELETED && i + 1 < d->nch && d->ch[i + 1].kind == CH_ADDED &&
		    !strcmp(c.old->path, d->ch[i + 1].new->path)) {
			c.kind = CH_CHANGED;
			c.new = d->ch[++i].new;
			if ((rc = what_changed(d, c.old, c.new, &c.what)))
				return rc;
			if (!c.what)
				continue;
		}
		d->ch[k++] = c;
	}
	d->nch = k;
	return 0;
}

static int find_changes(struct diff *d)
{
	const struct node **lost = NULL, **gained = NULL;
	size_t i = 0, j = 0, nl = 0, ng = 0;
	int rc = 0;

	if (d->from.n > 1)
		qsort(d->from.v, d->from.n, sizeof(*d->from.v), cmp_link);
	if (d->to.n > 1)
		qsort(d->to.v, d->to.n, sizeof(*d->to.v), cmp_link);
	lost = malloc((d->from.n + 1) * sizeof(*lost));
	gained = malloc((d->to.n + 1) * sizeof(*gained));
	if (!lost || !gained) {
		rc = -ENOMEM;
		goto out;
	}
	while (i < d->from.n || j < d->to.n) {
		int c = i < d->from.n && j < d->to.n ? cmp_link(&d->from.v[i], &d->to.v[j]) : i < d->from.n ? -1 : 1;

		if (c == 0) {
			if ((rc = compare_pair(d, &d->from.v[i], &d->to.v[j])))
				goto out;
			i++;
			j++;
		} else if (c < 0) {
			lost[nl++] = &d->from.v[i++];
		} else {
			gained[ng++] = &d->to.v[j++];
		}
	}
	if (nl > 1)
		qsort(lost, nl, sizeof(*lost), cmp_ino_path);
	if (ng > 1)
		qsort(gained, ng, sizeof(*gained), cmp_ino_path);
	if ((rc = pair_moves(d, lost, nl, gained, ng)))
		goto out;
	rc = merge_replacements(d);
out:
	free(lost);
	free(gained);
	return rc;
}

/* ---- output ---- */

static int flush_out(struct diff *d)
{
	if (lgfs_buf_ok(&d->out))
		return -ENOMEM;
	if (d->out.len && fwrite(d->out.data, 1, d->out.len, stdout) != d->out.len)
		return -errno;
	lgfs_buf_reset(&d->out);
	return 0;
}

/* The whole content of a file at `at` when it is at most DIFF_MAX_TEXT
 * bytes (*buf NULL when larger). */
static int read_all(struct lgfs_fs *fs, uint64_t at, const struct node *n, char **buf, size_t *len)
{
	struct lgfs_past_file *f;
	size_t got, size;
	int rc;

	*buf = NULL;
	*len = 0;
	if (n->st.size > DIFF_MAX_TEXT)
		return 0;
	if ((rc = lgfs_past_open(fs, at, n->st.ino, &f)))
		return rc;
	size = (size_t)lgfs_past_size(f);
	if (size > DIFF_MAX_TEXT) {
		lgfs_past_close(f);
		return 0;
	}
	if (!(*buf = malloc(size + 1))) {
		lgfs_past_close(f);
		return -ENOMEM;
	}
	/* one read past the end too: the last read checks the whole SHA-256 */
	while (*len <= size) {
		if ((rc = lgfs_past_read(f, *len, *buf + *len, size + 1 - *len, &got)))
			break;
		if (got == 0)
			break;
		*len += got;
	}
	lgfs_past_close(f);
	if (!rc && *len != size)
		rc = -EIO;
	if (rc) {
		free(*buf);
		*buf = NULL;
	}
	return rc;
}

/* The content part of one change (--content): a unified diff for text, a
 * line saying binary files differ, or that they are too large. For JSON,
 * the fields "diff", "binary" or "too_large". */
static int put_content(struct diff *d, const struct node *a, const struct node *b)
{
	struct lgfs_buf *o = &d->out;
	char *ca = NULL, *cb = NULL, *ea = NULL, *eb = NULL;
	size_t la = 0, lb = 0;
	struct lgfs_buf hunks = LGFS_BUF_INIT;
	int rc = 0, big = 0, binary = 0;

	if ((a && (rc = read_all(d->fs, d->from.at, a, &ca, &la))) || (b && (rc = read_all(d->fs, d->to.at, b, &cb, &lb))))
		goto out;
	big = (a && !ca) || (b && !cb);
	binary = !big && (!lgfs_linediff_is_text(ca, la) || !lgfs_linediff_is_text(cb, lb));
	if (!big && !binary) {
		rc = lgfs_linediff(&hunks, ca, la, cb, lb, NULL, NULL);
		if (rc == LGFS_ERANGE) {
			big = 1;
			rc = 0;
		} else if (rc) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if (d->json) {
		if (big)
			lgfs_buf_put(o, ",\"too_large\":true", 17);
		else if (binary)
			lgfs_buf_put(o, ",\"binary\":true", 14);
		else {
			lgfs_buf_put(o, ",\"diff\":", 8);
			lgfs_json_str(o, hunks.data, hunks.len);
		}
		goto out;
	}
	if (a && !(ea = lgfs_escape_dup(a->path, strlen(a->path))))
		goto oom;
	if (b && !(eb = lgfs_escape_dup(b->path, strlen(b->path))))
		goto oom;
	if (big || binary) {
		lgfs_buf_printf(o, "%s files %s%s and %s%s differ%s\n", big ? "Large" : "Binary", a ? "a" : "/dev/null",
				a ? ea : "", b ? "b" : "/dev/null", b ? eb : "",
				big ? " (not compared line by line)" : "");
	} else if (hunks.len) {
		lgfs_buf_printf(o, "--- %s%s\n+++ %s%s\n", a ? "a" : "/dev/null", a ? ea : "", b ? "b" : "/dev/null",
				b ? eb : "");
		lgfs_buf_put(o, hunks.data, hunks.len);
	}
	goto out;
oom:
	rc = -ENOMEM;
out:
	lgfs_buf_free(&hunks);
	free(ca);
	free(cb);
	free(ea);
	free(eb);
	return rc;
}

static void put_path(struct diff *d, const char *path)
{
	if (d->json)
		lgfs_json_bytes(&d->out, path, strlen(path));
	else
		lgfs_escape_buf(&d->out, path, strlen(path));
}

static int put_change(struct diff *d, const struct change *c)
{
	static const char *const kinds[] = { "deleted", "renamed", "added", "changed" };
	static const char letters[] = "DRAM";
	struct lgfs_buf *o = &d->out;
	const struct node *n = c->new ? c->new : c->old;
	int text = S_ISREG(n->st.mode) && (!c->old || !c->new || S_ISREG(c->old->st.mode));
	int show = d->content && text && (c->kind == CH_ADDED || c->kind == CH_DELETED ||
					  (c->kind == CH_CHANGED && (c->what & W_CONTENT)));
	int rc = 0;
	size_t i;

	if (d->json) {
		lgfs_buf_printf(o, "{\"change\":\"%s\",\"path\":", kinds[c->kind]);
		put_path(d, n->path);
		if (c->kind == CH_RENAMED || (c->kind == CH_CHANGED && strcmp(c->old->path, c->new->path))) {
			lgfs_buf_put(o, ",\"from\":", 8);
			put_path(d, c->old->path);
		}
		lgfs_buf_printf(o, ",\"type\":\"%s\"", type_name(n->st.mode));
		if (c->kind == CH_CHANGED) {
			lgfs_buf_put(o, ",\"what\":[", 9);
			for (i = 0; i < sizeof(what_names) / sizeof(*what_names); i++)
				if (c->what & (1u << i))
					lgfs_buf_printf(o, "%s\"%s\"", (c->what & ((1u << i) - 1)) ? "," : "",
							what_names[i]);
			lgfs_buf_put(o, "]", 1);
		}
		if (show)
			rc = put_content(d, c->kind == CH_ADDED ? NULL : c->old, c->kind == CH_DELETED ? NULL : c->new);
		lgfs_buf_put(o, "}\n", 2);
	} else {
		lgfs_buf_printf(o, "%c ", letters[c->kind]);
		if (c->kind == CH_RENAMED) {
			put_path(d, c->old->path);
			lgfs_buf_put(o, " -> ", 4);
		}
		put_path(d, n->path);
		lgfs_buf_put(o, "\n", 1);
		if (show)
			rc = put_content(d, c->kind == CH_ADDED ? NULL : c->old, c->kind == CH_DELETED ? NULL : c->new);
	}
	return rc ? rc : flush_out(d);
}

/* ---- the command ---- */

/* PATH (absolute) without empty and "." components, malloc'd; NULL for one
 * that goes up (or when memory runs out). */
static char *clean_path(const char *path)
{
	char *out = malloc(strlen(path) + 2), *o = out;
	const char *p = path, *q;

	if (!out)
		return NULL;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		q = strchr(p, '/');
		if (!q)
			q = p + strlen(p);
		if (q - p == 2 && p[0] == '.' && p[1] == '.') {
			free(out);
			return NULL;
		}
		if (!(q - p == 1 && p[0] == '.')) {
			*o++ = '/';
			memcpy(o, p, (size_t)(q - p));
			o += q - p;
		}
		p = q;
	}
	if (o == out)
		*o++ = '/';
	*o = '\0';
	return out;
}

int cmd_diff(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "content", no_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	const char *storeopt = NULL, *from = NULL, *to = NULL, *vol;
	char *path = NULL;
	struct diff d;
	size_t i;
	int c, rc;

	memset(&d, 0, sizeof(d));
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:f:t:cjh", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'c': d.content = 1; break;
		case 'j': d.json = 1; break;
		case 'h': return cli_help("diff");
		default: return cli_usage("diff", "unknown option");
		}
	}
	if (!from)
		return cli_usage("diff", "--from POINT is required (a log index, an RFC 3339 time or PATH@N)");
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage("diff", argc - optind < 1 ? "missing VOLUME" : "too many arguments");
	vol = argv[optind];
	if (argc - optind == 2 && argv[optind + 1][0] != '/')
		return cli_usage("diff", "PATH must be absolute inside the volume, e.g. /invoices/2026");
	path = clean_path(argc - optind == 2 ? argv[optind + 1] : "/");
	if (!path)
		return cli_usage("diff", "PATH may not contain '..'");
	if ((rc = cli_open_at(storeopt, vol, from, &d.fs, &d.from.at)))
		goto out;
	d.to.at = lgfs_fs_entries(d.fs) - 1;
	if (to && (rc = cli_point(d.fs, to, &d.to.at)))
		goto out;
	/* (messages are escaped by cli_fail: names go in raw) */
	if ((rc = tree_read(d.fs, &d.from, path)) || (rc = tree_read(d.fs, &d.to, path))) {
		rc = cli_fs_fail(path, rc);
		goto out;
	}
	if (!d.from.n && !d.to.n) {
		rc = cli_fail("%s did not exist at log index %llu nor at %llu", path, (unsigned long long)d.from.at,
			      (unsigned long long)d.to.at);
		goto out;
	}
	lgfs_error_clear();
	if ((rc = find_changes(&d))) {
		rc = cli_fs_fail("comparing", rc);
		goto out;
	}
	for (i = 0; i < d.nch; i++) {
		lgfs_error_clear();
		if ((rc = put_change(&d, &d.ch[i]))) {
			rc = cli_fs_fail(change_path(&d.ch[i]), rc);
			goto out;
		}
	}
	rc = 0;
out:
	lgfs_buf_free(&d.out);
	free(d.ch);
	tree_free(&d.from);
	tree_free(&d.to);
	if (d.fs)
		lgfs_fs_close(d.fs);
	free(path);
	return rc;
}
