/*
 * test_revert.c — lgfs_fs_revert: a file and a directory tree made again
 * what they were at an earlier point (content, modes, owners, mtimes,
 * xattrs, symlinks, hard links, deleted and added entries, missing
 * parents, a type changed), only by new records: the log's earlier entries
 * stay byte for byte, and audit passes afterwards.
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

#include "ledgerfs/audit.h"
#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/fs.h"
#include "ledgerfs/fsaudit.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/history.h"
#include "ledgerfs/key.h"
#include "ledgerfs/ledger.h"

static int setup(void **state)
{
	return fx_create(state, "revert", 1000, 1);
}

#define teardown fx_teardown

/* Full audit of the volume: the number of findings. */
static size_t audit_findings(struct fx *f)
{
	struct lgfs_audit_opts o = { 0 };
	struct lgfs_audit_report rep;
	struct lgfs_fsaudit *a;
	char vd[128];
	size_t n;

	assert_int_equal(lgfs_fs_sync(f->fs), 0);
	snprintf(vd, sizeof(vd), "%s/volumes/v", f->dir);
	assert_int_equal(lgfs_fsaudit_new(&a, vd), 0);
	o.on_entry = lgfs_fsaudit_entry;
	o.entry_arg = a;
	assert_int_equal(lgfs_audit_volume(&rep, vd, &o), 0);
	assert_int_equal(lgfs_fsaudit_finish(a, &rep, NULL, NULL), 0);
	lgfs_fsaudit_free(a);
	n = rep.nfindings;
	for (size_t i = 0; i < rep.nstored && i < 5; i++)
		print_message("finding: [%s] %s\n", rep.findings[i].kind, rep.findings[i].message);
	lgfs_audit_report_free(&rep);
	return n;
}

#define ino_of fx_ino

/* The parent directory's inode and the last name of an absolute path. */
static uint64_t parent_of(struct fx *f, const char *path, char *name)
{
	char dir[512];
	const char *slash = strrchr(path, '/');

	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	strcpy(name, slash + 1);
	return dir[0] ? ino_of(f, dir) : 1;
}

/* Write s as the whole content of path (created with mode 0644 if missing). */
static void put(struct fx *f, const char *path, const char *s)
{
	char name[256];
	uint64_t parent = parent_of(f, path, name), fh;
	struct lgfs_stat st;
	int rc = lgfs_fs_lookup(f->fs, parent, name, &st);

	if (rc == -ENOENT)
		assert_int_equal(lgfs_fs_create(f->fs, &f->ctx, parent, name, 0644, O_WRONLY, &st, &fh), 0);
	else
		assert_int_equal(lgfs_fs_open_file(f->fs, &f->ctx, st.ino, O_WRONLY | O_TRUNC, &fh), 0);
	if (*s)
		assert_int_equal(lgfs_fs_write(f->fs, &f->ctx, fh, 0, s, strlen(s)), 0);
	assert_int_equal(lgfs_fs_release(f->fs, &f->ctx, fh), 0);
}

static void mkdir_p(struct fx *f, const char *path, uint32_t mode)
{
	char name[256];
	uint64_t parent = parent_of(f, path, name);

	assert_int_equal(lgfs_fs_mkdir(f->fs, &f->ctx, parent, name, mode, NULL), 0);
}

static void chmod_p(struct fx *f, const char *path, uint32_t mode)
{
	struct lgfs_setattr sa = { .valid = LGFS_SET_MODE, .mode = mode };

	assert_int_equal(lgfs_fs_setattr(f->fs, &f->ctx, ino_of(f, path), 0, &sa, NULL), 0);
}

static void unlink_p(struct fx *f, const char *path)
{
	char name[256];
	uint64_t parent = parent_of(f, path, name);

	assert_int_equal(lgfs_fs_unlink(f->fs, &f->ctx, parent, name), 0);
}

/* rm -r through the fs layer. */
static void rm_r(struct fx *f, const char *path);

struct names {
	char v[64][256];
	int n;
};

static int names_cb(void *arg, const char *name, const struct lgfs_stat *st, uint64_t next)
{
	struct names *n = arg;

	(void)st;
	(void)next;
	if (strcmp(name, ".") && strcmp(name, "..") && n->n < 64)
		strcpy(n->v[n->n++], name);
	return 0;
}

static void list(struct fx *f, uint64_t dir, struct names *n)
{
	uint64_t dh;

	n->n = 0;
	assert_int_equal(lgfs_fs_opendir(f->fs, dir, &dh), 0);
	assert_int_equal(lgfs_fs_readdir(f->fs, dh, 0, names_cb, n), 0);
	lgfs_fs_releasedir(f->fs, dh);
}

static void rm_r(struct fx *f, const char *path)
{
	char name[256], child[512];
	uint64_t parent = parent_of(f, path, name);
	struct lgfs_stat st;
	struct names *n;

	assert_int_equal(lgfs_fs_lookup(f->fs, parent, name, &st), 0);
	if (!S_ISDIR(st.mode)) {
		assert_int_equal(lgfs_fs_unlink(f->fs, &f->ctx, parent, name), 0);
		return;
	}
	n = malloc(sizeof(*n));
	list(f, st.ino, n);
	for (int i = 0; i < n->n; i++) {
		snprintf(child, sizeof(child), "%s/%s", path, n->v[i]);
		rm_r(f, child);
	}
	free(n);
	assert_int_equal(lgfs_fs_rmdir(f->fs, &f->ctx, parent, name), 0);
}

/*
 * A canonical description of the subtree at path as the fs shows it now:
 * one line per entry, in name order, with type, mode, owner, size, link
 * count, mtime, content, symlink target, xattrs, and for a file with
 * several links the first path of the tree that is the same inode.
 */
struct seen {
	uint64_t ino[64];
	char path[64][512];
	int n;
};

static void describe_one(struct fx *f, const char *path, const char *shown, struct lgfs_buf *b, struct seen *s)
{
	struct lgfs_stat st;
	char line[2048], xnames[1024], val[256];
	uint64_t ino = ino_of(f, path);
	size_t len, vlen;

	assert_int_equal(lgfs_fs_getattr(f->fs, ino, &st), 0);
	snprintf(line, sizeof(line), "%s type=%o mode=%o uid=%u gid=%u size=%llu nlink=%u mtime=%lld", shown,
		 st.mode & S_IFMT, st.mode & 07777, st.uid, st.gid, (unsigned long long)st.size, st.nlink,
		 S_ISDIR(st.mode) ? 0LL : (long long)st.mtime);
	assert_int_equal(lgfs_buf_put(b, line, strlen(line)), 0);
	if (S_ISREG(st.mode) && st.nlink > 1) {
		for (int i = 0; i < s->n; i++)
			if (s->ino[i] == ino) {
				snprintf(line, sizeof(line), " same-as=%s", s->path[i]);
				assert_int_equal(lgfs_buf_put(b, line, strlen(line)), 0);
				goto attrs;
			}
		assert_true(s->n < 64);
		s->ino[s->n] = ino;
		strcpy(s->path[s->n++], shown);
	}
	if (S_ISREG(st.mode)) {
		uint64_t fh;
		char *data = calloc(1, st.size + 1);
		size_t got;

		assert_int_equal(lgfs_fs_open_file(f->fs, &f->ctx, ino, O_RDONLY, &fh), 0);
		assert_int_equal(lgfs_fs_read(f->fs, fh, 0, data, st.size + 1, &got), 0);
		assert_int_equal(got, st.size);
		assert_int_equal(lgfs_fs_release(f->fs, &f->ctx, fh), 0);
		assert_int_equal(lgfs_buf_put(b, " content=", 9), 0);
		assert_int_equal(lgfs_buf_put(b, data, got), 0);
		free(data);
	} else if (S_ISLNK(st.mode)) {
		char target[512];

		assert_int_equal(lgfs_fs_readlink(f->fs, ino, target, sizeof(target), &len), 0);
		assert_int_equal(lgfs_buf_put(b, " target=", 8), 0);
		assert_int_equal(lgfs_buf_put(b, target, len), 0);
	}
attrs:
	assert_int_equal(lgfs_fs_listxattr(f->fs, ino, xnames, sizeof(xnames), &len), 0);
	for (char *p = xnames; p < xnames + len; p += strlen(p) + 1) {
		assert_int_equal(lgfs_fs_getxattr(f->fs, ino, p, val, sizeof(val), &vlen), 0);
		snprintf(line, sizeof(line), " x:%s=%.*s", p, (int)vlen, val);
		assert_int_equal(lgfs_buf_put(b, line, strlen(line)), 0);
	}
	assert_int_equal(lgfs_buf_put(b, "\n", 1), 0);
	if (S_ISDIR(st.mode)) {
		struct names *n = malloc(sizeof(*n));
		char child[512], cshown[512];

		list(f, ino, n);
		for (int i = 0; i < n->n; i++) {
			snprintf(child, sizeof(child), "%s/%s", strcmp(path, "/") ? path : "", n->v[i]);
			snprintf(cshown, sizeof(cshown), "%s/%s", shown, n->v[i]);
			describe_one(f, child, cshown, b, s);
		}
		free(n);
	}
}

/* malloc'd description of the subtree at path (paths shown from "."). */
static char *describe(struct fx *f, const char *path)
{
	struct lgfs_buf b = LGFS_BUF_INIT;
	struct seen s = { .n = 0 };
	char *out;

	describe_one(f, path, ".", &b, &s);
	out = calloc(1, b.len + 1);
	memcpy(out, b.data, b.len);
	lgfs_buf_free(&b);
	return out;
}

/* SHA-256 over the envelopes and records of log entries [0, n). */
struct log_hash {
	struct lgfs_sha256_ctx *c;
	uint64_t count;
};

static int log_hash_cb(void *arg, const struct lgfs_ledger_entry *e)
{
	struct log_hash *h = arg;

	lgfs_sha256_ctx_update(h->c, e->envelope, LGFS_ENVELOPE_LEN);
	lgfs_sha256_ctx_update(h->c, e->record, e->record_len);
	h->count++;
	return 0;
}

static void log_digest(struct fx *f, uint64_t n, uint8_t out[32])
{
	struct log_hash h = { lgfs_sha256_ctx_new(), 0 };

	assert_int_equal(lgfs_fs_sync(f->fs), 0);
	assert_int_equal(lgfs_ledger_read(lgfs_fs_ledger(f->fs), 0, n, log_hash_cb, &h), 0);
	assert_int_equal(h.count, n);
	lgfs_sha256_ctx_final(h.c, out);
}

static void setx(struct fx *f, const char *path, const char *name, const char *v)
{
	assert_int_equal(lgfs_fs_setxattr(f->fs, &f->ctx, ino_of(f, path), name, v, strlen(v), 0), 0);
}

/* The tree the tests start from. */
static void build_tree(struct fx *f)
{
	char name[256];
	uint64_t parent;

	put(f, "/doc.txt", "first version\n");
	setx(f, "/doc.txt", "user.a", "one");
	setx(f, "/doc.txt", "user.b", "two");
	mkdir_p(f, "/d", 0750);
	setx(f, "/d", "user.dir", "x");
	put(f, "/d/f1", "f1 content\n");
	put(f, "/d/empty", "");
	mkdir_p(f, "/d/sub", 0755);
	put(f, "/d/sub/g", "g content\n");
	chmod_p(f, "/d/sub/g", 0600);
	mkdir_p(f, "/d/sub/deep", 0700);
	put(f, "/d/sub/deep/h", "deep h\n");
	parent = parent_of(f, "/d/ln", name);
	assert_int_equal(lgfs_fs_symlink(f->fs, &f->ctx, parent, name, "sub/g", NULL), 0);
	put(f, "/d/h1", "linked\n");
	parent = parent_of(f, "/d/sub/h2", name);
	assert_int_equal(lgfs_fs_link(f->fs, &f->ctx, ino_of(f, "/d/h1"), parent, name, NULL), 0);
	parent = parent_of(f, "/d/fifo", name);
	assert_int_equal(lgfs_fs_mknod(f->fs, &f->ctx, parent, name, S_IFIFO | 0640, 0, NULL), 0);
}

/* Revert path to `at` and check: the subtree equals `want`, the records
 * counted are the log's growth, the earlier log is unchanged. */
static void revert_check(struct fx *f, const char *path, uint64_t at, const char *want)
{
	uint64_t before = lgfs_fs_entries(f->fs), records = 0;
	uint8_t d1[32], d2[32];
	char *got;

	log_digest(f, before, d1);
	assert_int_equal(lgfs_fs_revert(f->fs, &f->ctx, path, at, &records), 0);
	assert_true(records > 0);
	assert_int_equal(lgfs_fs_entries(f->fs), before + records);
	log_digest(f, before, d2);
	assert_memory_equal(d1, d2, 32);
	got = describe(f, path);
	assert_string_equal(got, want);
	free(got);
	/* again: nothing left to change */
	assert_int_equal(lgfs_fs_revert(f->fs, &f->ctx, path, at, &records), 0);
	assert_int_equal(records, 0);
	assert_int_equal(audit_findings(f), 0);
}

static void test_revert_file(void **state)
{
	struct fx *f = *state;
	uint64_t at, old_ino;
	char *want;

	build_tree(f);
	at = lgfs_fs_entries(f->fs) - 1;
	want = describe(f, "/doc.txt");
	old_ino = ino_of(f, "/doc.txt");
	put(f, "/doc.txt", "second, longer version of the document\n");
	chmod_p(f, "/doc.txt", 0600);
	setx(f, "/doc.txt", "user.a", "changed");
	assert_int_equal(lgfs_fs_removexattr(f->fs, &f->ctx, ino_of(f, "/doc.txt"), "user.b"), 0);
	setx(f, "/doc.txt", "user.c", "new");
	revert_check(f, "/doc.txt", at, want);
	assert_int_equal(ino_of(f, "/doc.txt"), old_ino); /* the same file, written again */

	/* deleted, then reverted: re-created */
	unlink_p(f, "/doc.txt");
	revert_check(f, "/doc.txt", at, want);
	free(want);
}

static void test_revert_changed_directory(void **state)
{
	struct fx *f = *state;
	char name[256], *want, *want_root;
	uint64_t at, parent;

	build_tree(f);
	at = lgfs_fs_entries(f->fs) - 1;
	want = describe(f, "/d");
	want_root = describe(f, "/");
	put(f, "/d/f1", "f1 overwritten\n");
	put(f, "/d/empty", "not empty any more");
	unlink_p(f, "/d/sub/g");
	rm_r(f, "/d/sub/deep");
	unlink_p(f, "/d/h1");
	unlink_p(f, "/d/ln"); /* a symlink replaced by a directory */
	mkdir_p(f, "/d/ln", 0755);
	put(f, "/d/ln/inside", "x");
	put(f, "/d/new.txt", "added since\n");
	mkdir_p(f, "/d/newdir", 0755);
	put(f, "/d/newdir/n", "n");
	chmod_p(f, "/d", 0700);
	setx(f, "/d", "user.dir", "y");
	parent = parent_of(f, "/d/fifo", name);
	assert_int_equal(lgfs_fs_unlink(f->fs, &f->ctx, parent, name), 0);
	put(f, "/d/fifo", "a file where a fifo was");
	revert_check(f, "/d", at, want);

	/* a whole tree deleted, and something else at its name */
	rm_r(f, "/d");
	put(f, "/d", "a file named d");
	put(f, "/later", "later");
	revert_check(f, "/d", at, want);

	/* the root: the file added at the top goes, the document comes back */
	unlink_p(f, "/doc.txt");
	revert_check(f, "/", at, want_root);
	free(want);
	free(want_root);
}

static void test_revert_missing_parents(void **state)
{
	struct fx *f = *state;
	uint64_t at, records;
	char *want, *want_sub;
	struct lgfs_stat st;

	build_tree(f);
	at = lgfs_fs_entries(f->fs) - 1;
	want = describe(f, "/d/sub/deep/h");
	want_sub = describe(f, "/d/sub/deep");
	rm_r(f, "/d");
	revert_check(f, "/d/sub/deep/h", at, want);
	/* the parents came back with their old modes and xattrs */
	assert_int_equal(lgfs_fs_getattr(f->fs, ino_of(f, "/d"), &st), 0);
	assert_int_equal(st.mode & 07777, 0750);
	assert_int_equal(lgfs_fs_getattr(f->fs, ino_of(f, "/d/sub/deep"), &st), 0);
	assert_int_equal(st.mode & 07777, 0700);
	{
		char v[16];
		size_t n;

		assert_int_equal(lgfs_fs_getxattr(f->fs, ino_of(f, "/d"), "user.dir", v, sizeof(v), &n), 0);
		assert_int_equal(n, 1);
		assert_int_equal(v[0], 'x');
	}
	/* only what was asked: the rest of /d is not there */
	assert_int_equal(lgfs_fs_lookup(f->fs, ino_of(f, "/d"), "f1", &st), -ENOENT);
	{
		char *got = describe(f, "/d/sub/deep");

		assert_string_equal(got, want_sub);
		free(got);
	}
	assert_int_equal(lgfs_fs_revert(f->fs, &f->ctx, "/d/sub/deep", at, &records), 0);
	assert_int_equal(records, 0);
	free(want);
	free(want_sub);
}

static void test_revert_errors(void **state)
{
	struct fx *f = *state;
	uint64_t at, records = 7, fh, n;
	struct lgfs_fs *ro = NULL;

	build_tree(f);
	at = lgfs_fs_entries(f->fs) - 1;
	/* never existed at that point */
	put(f, "/d/later", "later");
	n = lgfs_fs_entries(f->fs);
	assert_int_equal(lgfs_fs_revert(f->fs, &f->ctx, "/d/later", at, &records), -ENOENT);
	assert_int_equal(records, 0);
	assert_non_null(strstr(lgfs_error_last(), "did not exist"));
	assert_int_equal(lgfs_fs_revert(f->fs, &f->ctx, "/nothing/here", at, &records), -ENOENT);
	assert_int_equal(lgfs_fs_revert(f->fs, &f->ctx, "relative", at, &records), -EINVAL);
	/* beyond the end */
	assert_int_equal(lgfs_fs_revert(f->fs, &f->ctx, "/d", n + 5, &records), -ERANGE);
	assert_int_equal(lgfs_fs_entries(f->fs), n);
	/* an open file is not written under its handle */
	put(f, "/d/f1", "changed");
	assert_int_equal(lgfs_fs_open_file(f->fs, &f->ctx, ino_of(f, "/d/f1"), O_RDONLY, &fh), 0);
	assert_int_equal(lgfs_fs_revert(f->fs, &f->ctx, "/d/f1", at, &records), -EBUSY);
	assert_non_null(strstr(lgfs_error_last(), "is open"));
	assert_int_equal(lgfs_fs_release(f->fs, &f->ctx, fh), 0);
	assert_int_equal(lgfs_fs_revert(f->fs, &f->ctx, "/d/f1", at, &records), 0);
	assert_int_equal(records, 1);
	/* a read-only fs changes nothing */
	assert_int_equal(lgfs_fs_close(f->fs), 0);
	f->fs = NULL;
	assert_int_equal(lgfs_fs_open(&ro, f->dir, "v", NULL, LGFS_FS_RDONLY), 0);
	assert_int_equal(lgfs_fs_revert(ro, &f->ctx, "/d", at, &records), -EROFS);
	lgfs_fs_close(ro);
	assert_int_equal(lgfs_fs_open(&f->fs, f->dir, "v", f->key, 0), 0);
	assert_int_equal(audit_findings(f), 0);
}

/* Hard links: two paths that were one inode are one inode again, whichever
 * of them survived; a file now linked elsewhere too is not written into. */
static void test_revert_links(void **state)
{
	struct fx *f = *state;
	char name[256], *want;
	uint64_t at, parent, outside;
	struct lgfs_stat st;

	build_tree(f);
	at = lgfs_fs_entries(f->fs) - 1;
	want = describe(f, "/d");
	/* h2 unlinked; h1 replaced (editor style) by a file also linked outside */
	unlink_p(f, "/d/sub/h2");
	put(f, "/d/tmp", "replacement");
	parent = parent_of(f, "/outside", name);
	assert_int_equal(lgfs_fs_link(f->fs, &f->ctx, ino_of(f, "/d/tmp"), parent, name, NULL), 0);
	assert_int_equal(lgfs_fs_rename(f->fs, &f->ctx, ino_of(f, "/d"), "tmp", ino_of(f, "/d"), "h1", 0), 0);
	outside = ino_of(f, "/outside");
	revert_check(f, "/d", at, want);
	assert_int_equal(lgfs_fs_getattr(f->fs, ino_of(f, "/d/h1"), &st), 0);
	assert_int_equal(st.nlink, 2);
	assert_int_equal(ino_of(f, "/d/h1"), ino_of(f, "/d/sub/h2"));
	assert_true(ino_of(f, "/d/h1") != outside);
	assert_int_equal(lgfs_fs_getattr(f->fs, outside, &st), 0);
	assert_int_equal(st.size, strlen("replacement")); /* untouched */
	assert_int_equal(st.nlink, 1);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_revert_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revert_changed_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revert_missing_parents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revert_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revert_links, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
