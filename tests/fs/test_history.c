/*
 * test_history.c — the temporal index and the history API (history.h):
 * past lookups and listings at every point, names that are prefixes of
 * each other, xattrs over time, the versions of a path across replace by
 * rename, parent renames, removal and re-creation, points by index, time
 * and PATH@N, and that a rebuilt index has the same past.
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
#include <unistd.h>
#include <cmocka.h>

#include "fs_fixture.h"

#include "ledgerfs/error.h"
#include "ledgerfs/fs.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/history.h"
#include "ledgerfs/json.h"
#include "ledgerfs/key.h"
#include "ledgerfs/ledger.h"
#include "ledgerfs/record.h"

static int setup(void **state)
{
	return fx_create(state, "hist", 1000, 1);
}

#define teardown fx_teardown
#define put fx_put
#define ino_of fx_ino

/* The content of path at `at`, or NULL when it names no file then. */
static char *cat_at(struct fx *f, uint64_t at, const char *path)
{
	struct lgfs_past_file *pf;
	uint64_t ino;
	char *buf;
	size_t got;

	if (lgfs_past_resolve(f->fs, at, path, &ino))
		return NULL;
	assert_int_equal(lgfs_past_open(f->fs, at, ino, &pf), 0);
	buf = calloc(1, lgfs_past_size(pf) + 1);
	assert_non_null(buf);
	assert_int_equal(lgfs_past_read(pf, 0, buf, lgfs_past_size(pf) + 1, &got), 0);
	assert_int_equal(got, lgfs_past_size(pf));
	lgfs_past_close(pf);
	return buf;
}

struct names {
	char all[1024];
};

static int names_cb(void *arg, const char *name, size_t len, const struct lgfs_stat *st)
{
	struct names *n = arg;

	(void)st;
	strncat(n->all, name, len);
	strcat(n->all, ",");
	return 0;
}

static const char *ls_at(struct fx *f, uint64_t at, const char *dir, struct names *n)
{
	uint64_t ino;

	n->all[0] = '\0';
	assert_int_equal(lgfs_past_resolve(f->fs, at, dir, &ino), 0);
	assert_int_equal(lgfs_past_readdir(f->fs, at, ino, NULL, 0, names_cb, n), 0);
	return n->all;
}

static void test_past_states(void **state)
{
	struct fx *f = *state;
	struct names n;
	uint64_t i1, i2, i3, i4, i5, i6, end;
	char *s;

	i1 = put(f, "/a", "one");
	i2 = put(f, "/ab", "two");
	i3 = put(f, "/a", "three");
	assert_int_equal(lgfs_fs_unlink(f->fs, &f->ctx, 1, "a"), 0);
	i4 = lgfs_fs_entries(f->fs) - 1;
	i5 = put(f, "/a", "four");
	assert_int_equal(lgfs_fs_rename(f->fs, &f->ctx, 1, "ab", 1, "a", 0), 0);
	i6 = lgfs_fs_entries(f->fs) - 1;
	end = lgfs_fs_entries(f->fs) - 1;

	assert_string_equal(ls_at(f, 0, "/", &n), "");
	assert_string_equal(ls_at(f, i1, "/", &n), "a,");
	assert_string_equal(ls_at(f, i2, "/", &n), "a,ab,");
	assert_string_equal(ls_at(f, i4, "/", &n), "ab,");
	assert_string_equal(ls_at(f, i5, "/", &n), "a,ab,");
	assert_string_equal(ls_at(f, i6, "/", &n), "a,");
	/* listing after a name that is a prefix of the next one */
	n.all[0] = '\0';
	assert_int_equal(lgfs_past_readdir(f->fs, i5, 1, "a", 1, names_cb, &n), 0);
	assert_string_equal(n.all, "ab,");

	assert_null(cat_at(f, 0, "/a"));
	s = cat_at(f, i1, "/a");
	assert_string_equal(s, "one");
	free(s);
	/* a create and a write are two records: between them the file is empty */
	s = cat_at(f, i1 - 1, "/a");
	assert_string_equal(s, "");
	free(s);
	s = cat_at(f, i3, "/a");
	assert_string_equal(s, "three");
	free(s);
	assert_null(cat_at(f, i4, "/a"));
	s = cat_at(f, i6, "/a");
	assert_string_equal(s, "two");
	free(s);
	s = cat_at(f, i5, "/a");
	assert_string_equal(s, "four");
	free(s);
	/* beyond the end */
	{
		struct lgfs_stat st;

		assert_int_equal(lgfs_past_getattr(f->fs, end + 1, 1, &st), -ERANGE);
	}
}

static void test_xattrs_and_links(void **state)
{
	struct fx *f = *state;
	struct lgfs_stat st;
	char buf[64];
	size_t len;
	uint64_t ino, i0, i1, i2, i3;

	put(f, "/x", "data");
	ino = ino_of(f, "/x");
	i0 = lgfs_fs_entries(f->fs) - 1;
	assert_int_equal(lgfs_fs_setxattr(f->fs, &f->ctx, ino, "user.k", "v1", 2, 0), 0);
	i1 = lgfs_fs_entries(f->fs) - 1;
	assert_int_equal(lgfs_fs_setxattr(f->fs, &f->ctx, ino, "user.k", "v22", 3, 0), 0);
	assert_int_equal(lgfs_fs_setxattr(f->fs, &f->ctx, ino, "user.k2", "", 0, 0), 0);
	i2 = lgfs_fs_entries(f->fs) - 1;
	assert_int_equal(lgfs_fs_removexattr(f->fs, &f->ctx, ino, "user.k"), 0);
	assert_int_equal(lgfs_fs_link(f->fs, &f->ctx, ino, 1, "y", &st), 0);
	i3 = lgfs_fs_entries(f->fs) - 1;

	assert_int_equal(lgfs_past_getxattr(f->fs, i0, ino, "user.k", buf, sizeof(buf), &len), -ENODATA);
	assert_int_equal(lgfs_past_getxattr(f->fs, i1, ino, "user.k", buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(buf, "v1", 2);
	assert_int_equal(lgfs_past_getxattr(f->fs, i2, ino, "user.k", buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 3);
	/* an empty value is a value, not a removal */
	assert_int_equal(lgfs_past_getxattr(f->fs, i2, ino, "user.k2", buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(lgfs_past_listxattr(f->fs, i2, ino, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, sizeof("user.k\0user.k2"));
	assert_int_equal(lgfs_past_getxattr(f->fs, i3, ino, "user.k", buf, sizeof(buf), &len), -ENODATA);
	assert_int_equal(lgfs_past_getattr(f->fs, i2, ino, &st), 0);
	assert_int_equal(st.nlink, 1);
	assert_int_equal(lgfs_past_getattr(f->fs, i3, ino, &st), 0);
	assert_int_equal(st.nlink, 2);
	assert_int_equal(lgfs_past_path(f->fs, i3, ino, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/y");
	assert_int_equal(lgfs_fs_unlink(f->fs, &f->ctx, 1, "y"), 0);
	/* the name given last is gone: another name serves */
	assert_int_equal(lgfs_past_path(f->fs, lgfs_fs_entries(f->fs) - 1, ino, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/x");
}

struct hist {
	struct lgfs_path_version v[32];
	size_t n;
};

static int hist_cb(void *arg, const struct lgfs_path_version *v)
{
	struct hist *h = arg;

	assert_true(h->n < 32);
	h->v[h->n++] = *v;
	return 0;
}

static void test_history_of_path(void **state)
{
	struct fx *f = *state;
	struct lgfs_stat st;
	struct hist h = { .n = 0 };
	uint8_t sha[32];
	uint64_t at, d, iv1, iv2, idel, irec;
	char *s;

	assert_int_equal(lgfs_fs_mkdir(f->fs, &f->ctx, 1, "d", 0755, &st), 0);
	d = st.ino;
	iv1 = put(f, "/d/f", "v1");
	/* an editor's save: a new file renamed over the old one */
	put(f, "/d/.f.swp", "v2");
	assert_int_equal(lgfs_fs_rename(f->fs, &f->ctx, d, ".f.swp", d, "f", 0), 0);
	iv2 = lgfs_fs_entries(f->fs) - 1;
	/* the parent moves away and back */
	assert_int_equal(lgfs_fs_rename(f->fs, &f->ctx, 1, "d", 1, "e", 0), 0);
	idel = lgfs_fs_entries(f->fs) - 1;
	assert_int_equal(lgfs_fs_rename(f->fs, &f->ctx, 1, "e", 1, "d", 0), 0);
	assert_int_equal(lgfs_fs_unlink(f->fs, &f->ctx, d, "f"), 0);
	irec = put(f, "/d/f", "v3");

	assert_int_equal(lgfs_fs_history(f->fs, "/d/f", 0, hist_cb, &h), 0);
	/* create, write v1, rename over (v2), gone (parent renamed), back,
	 * unlinked, create, write v3 */
	assert_int_equal(h.n, 8);
	assert_int_equal(h.v[0].op, LGFS_OP_CREATE);
	assert_int_equal(h.v[1].index, iv1);
	assert_int_equal(h.v[1].op, LGFS_OP_WRITE);
	lgfs_sha256(sha, "v1", 2);
	assert_memory_equal(h.v[1].sha256, sha, 32);
	assert_int_equal(h.v[2].index, iv2);
	assert_int_equal(h.v[2].op, LGFS_OP_RENAME);
	lgfs_sha256(sha, "v2", 2);
	assert_memory_equal(h.v[2].sha256, sha, 32);
	assert_int_equal(h.v[2].st.size, 2);
	assert_int_equal(h.v[3].index, idel);
	assert_false(h.v[3].present);
	assert_true(h.v[4].present);
	assert_int_equal(h.v[4].op, LGFS_OP_RENAME);
	assert_false(h.v[5].present);
	assert_int_equal(h.v[5].op, LGFS_OP_UNLINK);
	assert_int_equal(h.v[7].index, irec);
	assert_int_equal(h.v[7].n, 8);
	assert_int_equal(h.v[7].uid, 1000);
	assert_true(h.v[7].time_ns > 0);
	assert_memory_equal(h.v[7].author, lgfs_key_public(f->key), 32);

	/* PATH@N is the state right after that version */
	assert_int_equal(lgfs_fs_point(f->fs, "/d/f@3", &at), 0);
	assert_int_equal(at, iv2);
	s = cat_at(f, at, "/d/f");
	assert_string_equal(s, "v2");
	free(s);
	assert_int_equal(lgfs_fs_point(f->fs, "/d/f@9", &at), -ERANGE);
	assert_int_equal(lgfs_fs_point(f->fs, "/d/f@0", &at), -EINVAL);
	assert_int_equal(lgfs_fs_point(f->fs, "/nope@1", &at), -ENOENT);

	/* follow: the file at the path now, under every name it had */
	assert_int_equal(lgfs_fs_rename(f->fs, &f->ctx, d, "f", 1, "g", 0), 0);
	put(f, "/g", "v4");
	h.n = 0;
	assert_int_equal(lgfs_fs_history(f->fs, "/g", 1, hist_cb, &h), 0);
	assert_int_equal(h.n, 4); /* create, write v3, rename, write v4 */
	assert_int_equal(h.v[0].op, LGFS_OP_CREATE);
	assert_string_equal(h.v[0].path, "/d/f");
	assert_int_equal(h.v[1].index, irec);
	assert_string_equal(h.v[1].path, "/d/f");
	assert_int_equal(h.v[2].op, LGFS_OP_RENAME);
	assert_string_equal(h.v[2].path, "/g");
	assert_string_equal(h.v[3].path, "/g");
	lgfs_sha256(sha, "v4", 2);
	assert_memory_equal(h.v[3].sha256, sha, 32);
	/* without follow, /d/f's history ends with the rename away */
	h.n = 0;
	assert_int_equal(lgfs_fs_history(f->fs, "/d/f", 0, hist_cb, &h), 0);
	assert_int_equal(h.n, 9);
	assert_false(h.v[8].present);
	h.n = 0;
	assert_int_equal(lgfs_fs_history(f->fs, "/never", 0, hist_cb, &h), -ENOENT);
}

struct times {
	int64_t t[64];
	uint64_t n;
};

static int time_cb(void *arg, const struct lgfs_ledger_entry *e)
{
	struct times *t = arg;

	t->t[t->n++] = e->env.time_ns;
	return 0;
}

static void test_points(void **state)
{
	struct fx *f = *state;
	struct times tm = { .n = 0 };
	char when[64];
	uint64_t at, end;

	put(f, "/p", "1");
	usleep(2000);
	put(f, "/p", "2");
	usleep(2000);
	put(f, "/p", "3");
	assert_int_equal(lgfs_fs_sync(f->fs), 0);
	end = lgfs_fs_entries(f->fs) - 1;
	assert_int_equal(lgfs_ledger_read(lgfs_fs_ledger(f->fs), 0, end + 1, time_cb, &tm), 0);

	assert_int_equal(lgfs_fs_point(f->fs, "0", &at), 0);
	assert_int_equal(at, 0);
	snprintf(when, sizeof(when), "%llu", (unsigned long long)end);
	assert_int_equal(lgfs_fs_point(f->fs, when, &at), 0);
	assert_int_equal(at, end);
	snprintf(when, sizeof(when), "%llu", (unsigned long long)end + 1);
	assert_int_equal(lgfs_fs_point(f->fs, when, &at), -ERANGE);
	assert_int_equal(lgfs_fs_point(f->fs, "99999999999999999999999", &at), -ERANGE);
	/* a time: the last record at or before it */
	lgfs_time_format(when, sizeof(when), tm.t[3]);
	if (lgfs_fs_point(f->fs, when, &at))
		fail_msg("%s: %s", when, lgfs_error_last());
	assert_true(at >= 3 && tm.t[at] <= tm.t[3] && (at == end || tm.t[at + 1] > tm.t[3]));
	assert_int_equal(lgfs_fs_point(f->fs, "2000-01-01T00:00:00Z", &at), -ERANGE);
	assert_int_equal(lgfs_fs_point(f->fs, "2200-01-01T00:00:00+02:00", &at), 0);
	assert_int_equal(at, end);
	assert_int_equal(lgfs_fs_point(f->fs, "yesterday", &at), -EINVAL);
	assert_int_equal(lgfs_fs_point(f->fs, "2026-13-01T00:00:00Z", &at), -EINVAL);
	assert_int_equal(lgfs_fs_point(f->fs, "2026-01-01T00:00:00", &at), -EINVAL);
	assert_int_equal(lgfs_fs_point(f->fs, "", &at), -EINVAL);
}

/* open(O_TRUNC) and a rewrite is one version; O_TRUNC alone a truncate. */
static void test_trunc_open_one_version(void **state)
{
	struct fx *f = *state;
	struct hist h = { .n = 0 };
	struct lgfs_stat st;
	uint64_t fh, ino, before;
	char *s;

	put(f, "/t", "the old content");
	ino = ino_of(f, "/t");
	before = lgfs_fs_entries(f->fs);
	assert_int_equal(lgfs_fs_open_file(f->fs, &f->ctx, ino, O_WRONLY | O_TRUNC, &fh), 0);
	/* the file is empty at once, for everyone, before any record */
	assert_int_equal(lgfs_fs_getattr(f->fs, ino, &st), 0);
	assert_int_equal(st.size, 0);
	assert_int_equal(lgfs_fs_entries(f->fs), before);
	assert_int_equal(lgfs_fs_write(f->fs, &f->ctx, fh, 0, "new", 3), 0);
	assert_int_equal(lgfs_fs_release(f->fs, &f->ctx, fh), 0);
	assert_int_equal(lgfs_fs_entries(f->fs), before + 1);
	assert_int_equal(lgfs_fs_history(f->fs, "/t", 0, hist_cb, &h), 0);
	assert_int_equal(h.n, 3); /* create, write, write: no empty version */
	assert_int_equal(h.v[2].op, LGFS_OP_WRITE);
	assert_int_equal(h.v[2].st.size, 3);
	s = cat_at(f, h.v[2].index, "/t");
	assert_string_equal(s, "new");
	free(s);

	assert_int_equal(lgfs_fs_open_file(f->fs, &f->ctx, ino, O_RDWR | O_TRUNC, &fh), 0);
	assert_int_equal(lgfs_fs_release(f->fs, &f->ctx, fh), 0);
	h.n = 0;
	assert_int_equal(lgfs_fs_history(f->fs, "/t", 0, hist_cb, &h), 0);
	assert_int_equal(h.n, 4);
	assert_int_equal(h.v[3].op, LGFS_OP_TRUNCATE);
	assert_int_equal(h.v[3].st.size, 0);
	/* an empty file stays one version: a second O_TRUNC adds nothing */
	assert_int_equal(lgfs_fs_open_file(f->fs, &f->ctx, ino, O_WRONLY | O_TRUNC, &fh), 0);
	assert_int_equal(lgfs_fs_release(f->fs, &f->ctx, fh), 0);
	assert_int_equal(lgfs_fs_entries(f->fs), before + 2);
}

/* The past survives a close, a read-only open and a rebuilt index. */
static void test_rebuilt_past(void **state)
{
	struct fx *f = *state;
	uint64_t i1, entries, n;
	char *s;

	i1 = put(f, "/r", "old");
	put(f, "/r", "new");
	assert_int_equal(lgfs_fs_close(f->fs), 0);
	f->fs = NULL;
	assert_int_equal(lgfs_fs_rebuild(f->dir, "v", &entries), 0);
	assert_int_equal(lgfs_fs_open(&f->fs, f->dir, "v", NULL, LGFS_FS_RDONLY), 0);
	n = lgfs_fs_entries(f->fs);
	assert_int_equal(n, entries);
	s = cat_at(f, i1, "/r");
	assert_string_equal(s, "old");
	free(s);
	s = cat_at(f, n - 1, "/r");
	assert_string_equal(s, "new");
	free(s);
}

/* The root's ".ledgerfs" is where mounts show history: nothing new takes
 * the name there (elsewhere it is an ordinary name). */
static void test_reserved_name(void **state)
{
	struct fx *f = *state;
	struct lgfs_stat st, dst;
	uint64_t fh;

	assert_int_equal(lgfs_fs_mkdir(f->fs, &f->ctx, 1, ".ledgerfs", 0755, &st), -EEXIST);
	assert_int_equal(lgfs_fs_create(f->fs, &f->ctx, 1, ".ledgerfs", 0644, O_WRONLY, &st, &fh), -EEXIST);
	assert_int_equal(lgfs_fs_symlink(f->fs, &f->ctx, 1, ".ledgerfs", "x", &st), -EEXIST);
	assert_int_equal(lgfs_fs_mkdir(f->fs, &f->ctx, 1, "d", 0755, &dst), 0);
	assert_int_equal(lgfs_fs_rename(f->fs, &f->ctx, 1, "d", 1, ".ledgerfs", 0), -EEXIST);
	put(f, "/f", "x");
	assert_int_equal(lgfs_fs_link(f->fs, &f->ctx, ino_of(f, "/f"), 1, ".ledgerfs", &st), -EEXIST);
	assert_int_equal(lgfs_fs_lookup(f->fs, 1, ".ledgerfs", &st), -ENOENT);
	/* below the root it is any name */
	assert_int_equal(lgfs_fs_mkdir(f->fs, &f->ctx, dst.ino, ".ledgerfs", 0755, &st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_past_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattrs_and_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_of_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_points, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trunc_open_one_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuilt_past, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_name, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
