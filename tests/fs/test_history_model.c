/*
 * test_history_model.c — the past against a model: random operations on a
 * volume through the fs API (create, write, overwrite with O_TRUNC, append,
 * truncate, mkdir, rmdir, unlink, rename, hard links, symlinks, chmod,
 * chown, xattrs), a snapshot of the whole current tree after every record,
 * and then, for every snapshotted log index, the past state read through
 * history.h must equal it: names, inode numbers, types, modes, owners, link
 * counts, sizes, mtimes, symlink targets, content bytes and xattrs. Checked
 * on the live index, after a reopen and after a rebuild from the log.
 *
 * LGFS_SEED=N replays a run; LGFS_MODEL_OPS=N sets its length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ledgerfs/buf.h"
#include "ledgerfs/fs.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/history.h"
#include "ledgerfs/key.h"
#include "ledgerfs/ledger.h"

#define MAX_SNAP 4096

struct fx {
	char dir[64];
	struct lgfs_key *key;
	struct lgfs_fs *fs;
	struct lgfs_fs_ctx ctx;
	unsigned int seed;
	char *snap[MAX_SNAP]; /* snapshot of the tree after log index i (NULL: none taken) */
	uint64_t nsnap;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct lgfs_policy pol = { 51, 3600 };
	struct lgfs_volume_info info;

	strcpy(f->dir, "/tmp/lgfs-test-model-XXXXXX");
	if (!mkdtemp(f->dir) || lgfs_key_generate(&f->key, "model@test") ||
	    lgfs_volume_create(&info, f->dir, "v", f->key, &pol, 0, 0) || lgfs_fs_open(&f->fs, f->dir, "v", f->key, 0))
		return -1;
	f->ctx.uid = 0; /* root: chown allowed */
	f->ctx.gid = 0;
	f->ctx.umask = 022;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	uint64_t i;

	if (f->fs)
		lgfs_fs_close(f->fs);
	lgfs_key_free(f->key);
	for (i = 0; i < MAX_SNAP; i++)
		free(f->snap[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd))
		return -1;
	free(f);
	return 0;
}

/* ---- the tree as sorted text lines ---- */

struct lines {
	char **v;
	size_t n, cap;
};

static void lines_add(struct lines *l, struct lgfs_buf *b)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		assert_non_null(l->v);
	}
	assert_int_equal(lgfs_buf_ok(b), 0);
	l->v[l->n] = strndup((const char *)b->data, b->len);
	assert_non_null(l->v[l->n]);
	l->n++;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *lines_join(struct lines *l)
{
	struct lgfs_buf b = { 0 };
	size_t i;
	char *s;

	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), str_cmp);
	for (i = 0; i < l->n; i++) {
		lgfs_buf_printf(&b, "%s\n", l->v[i]);
		free(l->v[i]);
	}
	free(l->v);
	lgfs_buf_put(&b, "", 1);
	assert_int_equal(lgfs_buf_ok(&b), 0);
	s = strdup((const char *)b.data);
	lgfs_buf_free(&b);
	return s;
}

/* One reader of either state: at == UINT64_MAX reads the current one. */
struct view {
	struct fx *f;
	uint64_t at;
};

static void put_line(struct view *v, struct lines *out, const char *path, const struct lgfs_stat *st)
{
	struct lgfs_buf b = { 0 };
	char names[4096], val[512], hex[65];
	size_t nlen = 0, vlen, off;
	int rc;

	lgfs_buf_printf(&b, "%s ino=%llu mode=%o nlink=%u uid=%u gid=%u", path, (unsigned long long)st->ino, st->mode,
			st->nlink, st->uid, st->gid);
	if (!S_ISDIR(st->mode))
		lgfs_buf_printf(&b, " size=%llu mtime=%lld", (unsigned long long)st->size, (long long)st->mtime);
	if (S_ISLNK(st->mode)) {
		char t[4096];
		size_t tl;

		rc = v->at == UINT64_MAX ? lgfs_fs_readlink(v->f->fs, st->ino, t, sizeof(t), &tl)
					 : lgfs_past_readlink(v->f->fs, v->at, st->ino, t, sizeof(t), &tl);
		assert_int_equal(rc, 0);
		lgfs_buf_printf(&b, " target=%.*s", (int)tl, t);
	}
	if (S_ISREG(st->mode)) {
		struct lgfs_sha256_ctx *h = lgfs_sha256_ctx_new();
		uint8_t d[32], buf[8192];
		uint64_t o = 0;
		size_t got;

		assert_non_null(h);
		if (v->at == UINT64_MAX) {
			uint64_t fh;

			assert_int_equal(lgfs_fs_open_file(v->f->fs, &v->f->ctx, st->ino, O_RDONLY, &fh), 0);
			do {
				assert_int_equal(lgfs_fs_read(v->f->fs, fh, o, buf, sizeof(buf), &got), 0);
				lgfs_sha256_ctx_update(h, buf, got);
				o += got;
			} while (got);
			lgfs_fs_release(v->f->fs, &v->f->ctx, fh);
		} else {
			struct lgfs_past_file *pf;

			assert_int_equal(lgfs_past_open(v->f->fs, v->at, st->ino, &pf), 0);
			do {
				assert_int_equal(lgfs_past_read(pf, o, buf, sizeof(buf), &got), 0);
				lgfs_sha256_ctx_update(h, buf, got);
				o += got;
			} while (got);
			lgfs_past_close(pf);
		}
		lgfs_sha256_ctx_final(h, d);
		lgfs_hex(hex, d, 32);
		lgfs_buf_printf(&b, " bytes=%llu sha=%.16s", (unsigned long long)o, hex);
	}
	rc = v->at == UINT64_MAX ? lgfs_fs_listxattr(v->f->fs, st->ino, names, sizeof(names), &nlen)
				 : lgfs_past_listxattr(v->f->fs, v->at, st->ino, names, sizeof(names), &nlen);
	assert_int_equal(rc, 0);
	/* names come in the index's order on both sides */
	for (off = 0; off < nlen; off += strlen(names + off) + 1) {
		rc = v->at == UINT64_MAX ? lgfs_fs_getxattr(v->f->fs, st->ino, names + off, val, sizeof(val), &vlen)
					 : lgfs_past_getxattr(v->f->fs, v->at, st->ino, names + off, val, sizeof(val),
							      &vlen);
		assert_int_equal(rc, 0);
		lgfs_buf_printf(&b, " x:%s=%.*s", names + off, (int)vlen, val);
	}
	lines_add(out, &b);
	lgfs_buf_free(&b);
}

struct ent {
	char name[256];
	struct lgfs_stat st;
};
struct ents {
	struct ent *v;
	size_t n, cap;
};

static void ents_add(struct ents *e, const char *name, size_t len, const struct lgfs_stat *st)
{
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 16;
		e->v = realloc(e->v, e->cap * sizeof(*e->v));
		assert_non_null(e->v);
	}
	memcpy(e->v[e->n].name, name, len);
	e->v[e->n].name[len] = '\0';
	e->v[e->n].st = *st;
	e->n++;
}

static int cur_cb(void *arg, const char *name, const struct lgfs_stat *st, uint64_t next)
{
	(void)next;
	if (strcmp(name, ".") && strcmp(name, ".."))
		ents_add(arg, name, strlen(name), st);
	return 0;
}

static int past_cb(void *arg, const char *name, size_t len, const struct lgfs_stat *st)
{
	ents_add(arg, name, len, st);
	return 0;
}

static void walk(struct view *v, uint64_t dir, const char *path, struct lines *out)
{
	struct ents e = { NULL, 0, 0 };
	size_t i;

	if (v->at == UINT64_MAX) {
		uint64_t dh;

		assert_int_equal(lgfs_fs_opendir(v->f->fs, dir, &dh), 0);
		assert_int_equal(lgfs_fs_readdir(v->f->fs, dh, 0, cur_cb, &e), 0);
		lgfs_fs_releasedir(v->f->fs, dh);
	} else {
		assert_int_equal(lgfs_past_readdir(v->f->fs, v->at, dir, NULL, 0, past_cb, &e), 0);
	}
	for (i = 0; i < e.n; i++) {
		char p[1024];
		struct lgfs_stat st;

		snprintf(p, sizeof(p), "%s/%s", path, e.v[i].name);
		/* the attributes a lookup gives, not only the listing's */
		if (v->at == UINT64_MAX)
			assert_int_equal(lgfs_fs_lookup(v->f->fs, dir, e.v[i].name, &st), 0);
		else
			assert_int_equal(lgfs_past_lookup(v->f->fs, v->at, dir, e.v[i].name, &st), 0);
		assert_int_equal(st.ino, e.v[i].st.ino);
		put_line(v, out, p, &st);
		if (S_ISDIR(st.mode))
			walk(v, st.ino, p, out);
	}
	free(e.v);
}

static char *tree(struct fx *f, uint64_t at)
{
	struct view v = { f, at };
	struct lines l = { NULL, 0, 0 };
	struct lgfs_stat st;

	if (at == UINT64_MAX)
		assert_int_equal(lgfs_fs_getattr(f->fs, 1, &st), 0);
	else
		assert_int_equal(lgfs_past_getattr(f->fs, at, 1, &st), 0);
	put_line(&v, &l, "", &st);
	walk(&v, 1, "", &l);
	return lines_join(&l);
}

/* ---- the random workload ---- */

static const char *const names[] = { "a", "b", "c", "dir", "x.txt", "ab" };
#define NNAMES (sizeof(names) / sizeof(names[0]))

/* A random existing directory (inode), by a random descent from the root. */
static uint64_t pick_dir(struct fx *f)
{
	uint64_t dir = 1;
	int depth;

	for (depth = 0; depth < 3 && rand() % 2; depth++) {
		struct lgfs_stat st;

		if (lgfs_fs_lookup(f->fs, dir, names[rand() % NNAMES], &st) || !S_ISDIR(st.mode))
			break;
		dir = st.ino;
	}
	return dir;
}

static void write_bytes(struct fx *f, uint64_t fh, uint64_t off, size_t n)
{
	char buf[3000];
	size_t i;

	if (n > sizeof(buf))
		n = sizeof(buf);
	for (i = 0; i < n; i++)
		buf[i] = (char)('a' + rand() % 26);
	assert_int_equal(lgfs_fs_write(f->fs, &f->ctx, fh, off, buf, n), 0);
}

static void one_op(struct fx *f)
{
	uint64_t dir = pick_dir(f), dir2, fh;
	const char *name = names[rand() % NNAMES], *name2 = names[rand() % NNAMES];
	struct lgfs_stat st;
	struct lgfs_setattr sa;
	int have = lgfs_fs_lookup(f->fs, dir, name, &st) == 0;

	memset(&sa, 0, sizeof(sa));
	switch (rand() % 14) {
	case 0: /* create and write */
	case 1:
		if (!lgfs_fs_create(f->fs, &f->ctx, dir, name, S_IFREG | 0644, O_RDWR | O_CREAT | O_EXCL, &st, &fh)) {
			if (rand() % 4)
				write_bytes(f, fh, 0, 1 + rand() % 3000);
			lgfs_fs_release(f->fs, &f->ctx, fh);
		}
		break;
	case 2: /* overwrite with O_TRUNC, or append */
		if (have && S_ISREG(st.mode) && !lgfs_fs_open_file(f->fs, &f->ctx, st.ino,
								    rand() % 2 ? O_WRONLY | O_TRUNC : O_WRONLY, &fh)) {
			lgfs_fs_getattr(f->fs, st.ino, &st);
			if (rand() % 5)
				write_bytes(f, fh, st.size, 1 + rand() % 2000);
			lgfs_fs_release(f->fs, &f->ctx, fh);
		}
		break;
	case 3: /* truncate */
		if (have && S_ISREG(st.mode)) {
			sa.valid = LGFS_SET_SIZE;
			sa.size = (uint64_t)(rand() % 4000);
			lgfs_fs_setattr(f->fs, &f->ctx, st.ino, 0, &sa, &st);
		}
		break;
	case 4:
		lgfs_fs_mkdir(f->fs, &f->ctx, dir, name, 0755, &st);
		break;
	case 5:
		lgfs_fs_rmdir(f->fs, &f->ctx, dir, name);
		break;
	case 6:
		lgfs_fs_unlink(f->fs, &f->ctx, dir, name);
		break;
	case 7: /* rename, also over existing files and across directories */
	case 8:
		dir2 = pick_dir(f);
		lgfs_fs_rename(f->fs, &f->ctx, dir, name, dir2, name2, rand() % 8 ? 0 : RENAME_EXCHANGE);
		break;
	case 9:
		if (have && !S_ISDIR(st.mode))
			lgfs_fs_link(f->fs, &f->ctx, st.ino, pick_dir(f), name2, &st);
		break;
	case 10:
		lgfs_fs_symlink(f->fs, &f->ctx, dir, name, rand() % 2 ? "../a" : "x.txt", &st);
		break;
	case 11: /* chmod, chown, utimens */
		if (have && !S_ISLNK(st.mode)) {
			sa.valid = LGFS_SET_MODE;
			sa.mode = (uint32_t)(rand() % 0777);
			if (rand() % 3 == 0) {
				sa.valid |= LGFS_SET_UID | LGFS_SET_GID;
				sa.uid = (uint32_t)(rand() % 3 * 1000);
				sa.gid = sa.uid;
			}
			if (rand() % 3 == 0) {
				sa.valid |= LGFS_SET_MTIME;
				sa.mtime = (int64_t)rand() * 1000;
			}
			lgfs_fs_setattr(f->fs, &f->ctx, st.ino, 0, &sa, &st);
		}
		break;
	case 12:
		if (have && !S_ISLNK(st.mode)) {
			char v[16];

			snprintf(v, sizeof(v), "v%d", rand() % 100);
			lgfs_fs_setxattr(f->fs, &f->ctx, st.ino, rand() % 2 ? "user.k1" : "user.k2", v, strlen(v), 0);
		}
		break;
	case 13:
		if (have)
			lgfs_fs_removexattr(f->fs, &f->ctx, st.ino, rand() % 2 ? "user.k1" : "user.k2");
		break;
	}
}

static void check_all(struct fx *f, const char *when)
{
	uint64_t i, checked = 0;

	for (i = 0; i < f->nsnap; i++) {
		char *past;

		if (!f->snap[i])
			continue;
		past = tree(f, i);
		if (strcmp(past, f->snap[i])) {
			fprintf(stderr, "seed %u, %s: the state at log index %llu differs\n-- then:\n%s-- read back:\n%s",
				f->seed, when, (unsigned long long)i, f->snap[i], past);
			free(past);
			fail();
		}
		free(past);
		checked++;
	}
	assert_true(checked > f->nsnap / 2);
}

static void test_model(void **state)
{
	struct fx *f = *state;
	const char *s = getenv("LGFS_SEED"), *o = getenv("LGFS_MODEL_OPS");
	int ops = o ? atoi(o) : 600, i;
	uint64_t n, prev;

	f->seed = s ? (unsigned int)strtoul(s, NULL, 10) : (unsigned int)time(NULL);
	fprintf(stderr, "test_history_model: LGFS_SEED=%u\n", f->seed);
	srand(f->seed);
	f->snap[0] = tree(f, UINT64_MAX);
	prev = lgfs_fs_entries(f->fs);
	assert_int_equal(prev, 1);
	for (i = 0; i < ops; i++) {
		one_op(f);
		n = lgfs_fs_entries(f->fs);
		if (n == prev)
			continue;
		if (n > MAX_SNAP)
			break;
		/* the tree after the op's last record; states between the
		 * records of one op are not snapshotted */
		f->snap[n - 1] = tree(f, UINT64_MAX);
		prev = n;
	}
	f->nsnap = prev;
	{
		const char *last = f->snap[f->nsnap - 1], *c;
		int lines = 0;

		for (c = last; *c; c++)
			lines += *c == '\n';
		fprintf(stderr, "test_history_model: %d operations, %llu records, %d paths at the end\n", i,
			(unsigned long long)f->nsnap, lines);
	}
	assert_true(f->nsnap > 100);
	check_all(f, "live index");

	/* the same past from the index on disk, and from a rebuilt one */
	assert_int_equal(lgfs_fs_close(f->fs), 0);
	f->fs = NULL;
	assert_int_equal(lgfs_fs_open(&f->fs, f->dir, "v", f->key, 0), 0);
	check_all(f, "reopened");
	assert_int_equal(lgfs_fs_close(f->fs), 0);
	f->fs = NULL;
	{
		uint64_t entries;

		assert_int_equal(lgfs_fs_rebuild(f->dir, "v", &entries), 0);
		assert_int_equal(entries, f->nsnap);
	}
	assert_int_equal(lgfs_fs_open(&f->fs, f->dir, "v", NULL, LGFS_FS_RDONLY), 0);
	check_all(f, "rebuilt");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_model, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
