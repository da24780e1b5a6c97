/*
 * test_cli_diff.c — `ledgerfs diff` as a user runs it: states built through
 * the fs API (the test keeps the volume open as its writer, so every diff
 * is also a read-only open beside a writer), then the command's exact
 * output for added, deleted and changed files, a subtree, renamed files and
 * directories (with and without a content change), a file replaced at its
 * path (an editor's save), mode, owner, symlink target and xattr changes,
 * --json lines, --content hunks for text, whole added and deleted files,
 * binary files, names that are not UTF-8, and errors (bad points, a path
 * that never existed, usage).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "mount_util.h"

#include "ledgerfs/fs.h"
#include "ledgerfs/history.h"
#include "ledgerfs/key.h"
#include "ledgerfs/ledger.h"

struct fx {
	char dir[64];
	char state[128];
	struct lgfs_key *key;
	struct lgfs_fs *fs;
	struct lgfs_fs_ctx ctx;
};

static char out[1 << 16];

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct lgfs_policy pol = { 51, 3600 };
	struct lgfs_volume_info info;

	strcpy(f->dir, "/tmp/lgfs-test-diff-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	setenv("LEDGERFS_STATE_DIR", f->state, 1);
	if (lgfs_key_generate(&f->key, "diff@test") || lgfs_volume_create(&info, f->dir, "v", f->key, &pol, 1000, 1000) ||
	    lgfs_fs_open(&f->fs, f->dir, "v", f->key, 0))
		return -1;
	f->ctx.uid = 1000;
	f->ctx.gid = 1000;
	f->ctx.umask = 022;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	if (f->fs)
		lgfs_fs_close(f->fs);
	lgfs_key_free(f->key);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd))
		return -1;
	free(f);
	return 0;
}

/* The latest point, everything so far durable (the command reads the log). */
static uint64_t now(struct fx *f)
{
	assert_int_equal(lgfs_fs_sync(f->fs), 0);
	return lgfs_fs_entries(f->fs) - 1;
}

static void put_bytes(struct fx *f, const char *path, const void *s, size_t n)
{
	char tmp[] = "/tmp/lgfs-diff-put-XXXXXX";
	struct lgfs_stat st;
	int fd = mkstemp(tmp);

	assert_true(fd >= 0);
	unlink(tmp);
	assert_int_equal(write(fd, s, n), (ssize_t)n);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(lgfs_fs_put_fd(f->fs, &f->ctx, path, fd, 0644, &st), 0);
	close(fd);
}

static void put(struct fx *f, const char *path, const char *s)
{
	put_bytes(f, path, s, strlen(s));
}

static uint64_t ino_of(struct fx *f, const char *path)
{
	uint64_t ino;

	assert_int_equal(lgfs_fs_resolve(f->fs, path, &ino), 0);
	return ino;
}

static void rename_(struct fx *f, const char *from, const char *to)
{
	/* top-level names and one level of directory are enough here */
	const char *s1 = strrchr(from, '/'), *s2 = strrchr(to, '/');
	char d1[256], d2[256];

	snprintf(d1, sizeof(d1), "%.*s", (int)(s1 - from), from);
	snprintf(d2, sizeof(d2), "%.*s", (int)(s2 - to), to);
	assert_int_equal(lgfs_fs_rename(f->fs, &f->ctx, *d1 ? ino_of(f, d1) : 1, s1 + 1, *d2 ? ino_of(f, d2) : 1,
					s2 + 1, 0),
			 0);
}

/* Run `ledgerfs diff --store DIR ARGS` (stderr too); its exit status. */
static int diff(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int diff(struct fx *f, const char *fmt, ...)
{
	char args[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return mu_run(out, sizeof(out), "%s diff --store %s %s 2>&1", mu_bin(), f->dir, args);
}

static void test_add_delete_modify(void **state)
{
	struct fx *f = *state;
	uint64_t p0, p1;

	put(f, "/a", "one\n");
	put(f, "/b", "bee\n");
	put(f, "/d/x", "x\n");
	p0 = now(f);
	put(f, "/a", "one\ntwo\n");
	assert_int_equal(lgfs_fs_unlink(f->fs, &f->ctx, 1, "b"), 0);
	put(f, "/c", "new\n");
	put(f, "/d/y", "y\n");
	p1 = now(f);

	assert_int_equal(diff(f, "--from %llu v", (unsigned long long)p0), 0);
	assert_string_equal(out, "M /a\nD /b\nA /c\nA /d/y\n");
	/* --to given, and the other way round */
	assert_int_equal(diff(f, "--from %llu --to %llu v", (unsigned long long)p1, (unsigned long long)p0), 0);
	assert_string_equal(out, "M /a\nA /b\nD /c\nD /d/y\n");
	/* no difference: no output, still success */
	assert_int_equal(diff(f, "--from %llu v", (unsigned long long)p1), 0);
	assert_string_equal(out, "");
	/* a subtree, given with a trailing slash */
	assert_int_equal(diff(f, "--from %llu v /d/", (unsigned long long)p0), 0);
	assert_string_equal(out, "A /d/y\n");
	/* a single file */
	assert_int_equal(diff(f, "--from %llu v /a", (unsigned long long)p0), 0);
	assert_string_equal(out, "M /a\n");
	/* from the empty genesis state: everything is added, parents first */
	assert_int_equal(diff(f, "--from 0 --to %llu v", (unsigned long long)p0), 0);
	assert_string_equal(out, "A /a\nA /b\nA /d\nA /d/x\n");
	/* a path that exists at one of the points only */
	assert_int_equal(diff(f, "--from %llu v /c", (unsigned long long)p0), 0);
	assert_string_equal(out, "A /c\n");
	/* a point given as a time, and as PATH@N */
	assert_int_equal(diff(f, "--from /a@1 --to /a@2 v /a"), 0);
	assert_string_equal(out, "M /a\n");
	assert_int_equal(diff(f, "--from 2000-01-01T00:00:00Z v"), 1);
	assert_non_null(strstr(out, "ledgerfs: "));
	assert_int_equal(diff(f, "--from 2100-01-01T00:00:00Z v"), 0);
	assert_string_equal(out, "");
}

static void test_renames(void **state)
{
	struct fx *f = *state;
	uint64_t p0, p1, p2;

	put(f, "/f", "f\n");
	put(f, "/dir/k", "k\n");
	put(f, "/dir/sub/m", "m\n");
	put(f, "/old", "old\n");
	put(f, "/other", "other\n");
	p0 = now(f);
	rename_(f, "/f", "/g");
	rename_(f, "/dir", "/newdir");
	put(f, "/newdir/k", "k2\n");
	/* a file moved over another */
	rename_(f, "/other", "/old");
	p1 = now(f);
	assert_int_equal(diff(f, "--from %llu v", (unsigned long long)p0), 0);
	/* the renamed directory is one line; its untouched entries are not listed */
	assert_string_equal(out, "R /f -> /g\nR /dir -> /newdir\nM /newdir/k\nD /old\nR /other -> /old\n");
	assert_int_equal(diff(f, "--json --from %llu v", (unsigned long long)p0), 0);
	assert_string_equal(out, "{\"change\":\"renamed\",\"path\":\"/g\",\"from\":\"/f\",\"type\":\"file\"}\n"
				 "{\"change\":\"renamed\",\"path\":\"/newdir\",\"from\":\"/dir\",\"type\":\"directory\"}\n"
				 "{\"change\":\"changed\",\"path\":\"/newdir/k\",\"from\":\"/dir/k\",\"type\":\"file\",\"what\":[\"content\"]}\n"
				 "{\"change\":\"deleted\",\"path\":\"/old\",\"type\":\"file\"}\n"
				 "{\"change\":\"renamed\",\"path\":\"/old\",\"from\":\"/other\",\"type\":\"file\"}\n");
	/* renamed and changed: the change is listed under the new name */
	rename_(f, "/g", "/h");
	put(f, "/h", "f\nmore\n");
	p2 = now(f);
	assert_int_equal(diff(f, "--from %llu v", (unsigned long long)p1), 0);
	assert_string_equal(out, "R /g -> /h\nM /h\n");
	assert_int_equal(diff(f, "--json --from %llu v", (unsigned long long)p1), 0);
	assert_string_equal(out, "{\"change\":\"renamed\",\"path\":\"/h\",\"from\":\"/g\",\"type\":\"file\"}\n"
				 "{\"change\":\"changed\",\"path\":\"/h\",\"from\":\"/g\",\"type\":\"file\",\"what\":[\"content\"]}\n");
	assert_int_equal(diff(f, "--content --from %llu v", (unsigned long long)p1), 0);
	assert_string_equal(out, "R /g -> /h\nM /h\n--- a/g\n+++ b/h\n@@ -1 +1,2 @@\n f\n+more\n");
	/* a file moved out of the compared subtree is deleted from it */
	assert_int_equal(diff(f, "--from %llu --to %llu v /dir", (unsigned long long)p0, (unsigned long long)p2), 0);
	assert_string_equal(out, "D /dir\nD /dir/k\nD /dir/sub\nD /dir/sub/m\n");
}

static void test_replaced(void **state)
{
	struct fx *f = *state;
	uint64_t p0, p1, p2;

	put(f, "/e", "1\n");
	p0 = now(f);
	/* an editor's save: a new file renamed over the old one */
	put(f, "/e.tmp", "2\n");
	rename_(f, "/e.tmp", "/e");
	p1 = now(f);
	assert_true(ino_of(f, "/e") != 0);
	assert_int_equal(diff(f, "--from %llu v", (unsigned long long)p0), 0);
	assert_string_equal(out, "M /e\n");
	/* the same save with the same bytes: nothing anyone sees changed */
	put(f, "/e.tmp", "2\n");
	rename_(f, "/e.tmp", "/e");
	p2 = now(f);
	assert_int_equal(diff(f, "--from %llu --to %llu v", (unsigned long long)p1, (unsigned long long)p2), 0);
	assert_string_equal(out, "");
	/* a file replaced by a directory */
	assert_int_equal(lgfs_fs_unlink(f->fs, &f->ctx, 1, "e"), 0);
	put(f, "/e/inner", "i\n");
	now(f);
	assert_int_equal(diff(f, "--json --from %llu v", (unsigned long long)p2), 0);
	assert_string_equal(out, "{\"change\":\"changed\",\"path\":\"/e\",\"type\":\"directory\",\"what\":[\"type\",\"mode\"]}\n"
				 "{\"change\":\"added\",\"path\":\"/e/inner\",\"type\":\"file\"}\n");
}

static void test_attributes(void **state)
{
	struct fx *f = *state;
	struct lgfs_fs_ctx root = { 0, 0, 022 };
	struct lgfs_setattr sa;
	struct lgfs_stat st;
	uint64_t p0;

	put(f, "/m", "m\n");
	put(f, "/o", "o\n");
	put(f, "/x", "x\n");
	put(f, "/u", "u\n");
	assert_int_equal(lgfs_fs_symlink(f->fs, &f->ctx, 1, "s", "/m", &st), 0);
	p0 = now(f);
	memset(&sa, 0, sizeof(sa));
	sa.valid = LGFS_SET_MODE;
	sa.mode = 0600;
	assert_int_equal(lgfs_fs_setattr(f->fs, &f->ctx, ino_of(f, "/m"), 0, &sa, &st), 0);
	sa.valid = LGFS_SET_UID | LGFS_SET_GID;
	sa.uid = 0;
	sa.gid = 0;
	assert_int_equal(lgfs_fs_setattr(f->fs, &root, ino_of(f, "/o"), 0, &sa, &st), 0);
	assert_int_equal(lgfs_fs_setxattr(f->fs, &f->ctx, ino_of(f, "/x"), "user.tag", "v1", 2, 0), 0);
	/* a symlink pointed elsewhere: removed and made again */
	assert_int_equal(lgfs_fs_unlink(f->fs, &f->ctx, 1, "s"), 0);
	assert_int_equal(lgfs_fs_symlink(f->fs, &f->ctx, 1, "s", "/o", &st), 0);
	/* only times change: not a difference */
	sa.valid = LGFS_SET_MTIME;
	sa.mtime = 12345;
	assert_int_equal(lgfs_fs_setattr(f->fs, &f->ctx, ino_of(f, "/u"), 0, &sa, &st), 0);
	now(f);

	assert_int_equal(diff(f, "--from %llu v", (unsigned long long)p0), 0);
	assert_string_equal(out, "M /m\nM /o\nM /s\nM /x\n");
	assert_int_equal(diff(f, "--json --from %llu v", (unsigned long long)p0), 0);
	assert_string_equal(out, "{\"change\":\"changed\",\"path\":\"/m\",\"type\":\"file\",\"what\":[\"mode\"]}\n"
				 "{\"change\":\"changed\",\"path\":\"/o\",\"type\":\"file\",\"what\":[\"owner\"]}\n"
				 "{\"change\":\"changed\",\"path\":\"/s\",\"type\":\"symlink\",\"what\":[\"target\"]}\n"
				 "{\"change\":\"changed\",\"path\":\"/x\",\"type\":\"file\",\"what\":[\"xattrs\"]}\n");
	/* an xattr's value alone changing is a change too */
	p0 = now(f);
	assert_int_equal(lgfs_fs_setxattr(f->fs, &f->ctx, ino_of(f, "/x"), "user.tag", "v2", 2, 0), 0);
	now(f);
	assert_int_equal(diff(f, "--from %llu v", (unsigned long long)p0), 0);
	assert_string_equal(out, "M /x\n");
	/* --content shows nothing more for changes that are not content */
	assert_int_equal(diff(f, "--content --from %llu v", (unsigned long long)p0), 0);
	assert_string_equal(out, "M /x\n");
}

static void test_content(void **state)
{
	struct fx *f = *state;
	uint64_t p0;

	put(f, "/t", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n");
	put(f, "/gone", "bye\nnow");
	put_bytes(f, "/bin", "a\0b", 3);
	put(f, "/esc", "plain\n");
	put(f, "/same", "s\n");
	p0 = now(f);
	put(f, "/t", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n11\n");
	assert_int_equal(lgfs_fs_unlink(f->fs, &f->ctx, 1, "gone"), 0);
	put(f, "/new", "hello\nworld\n");
	put_bytes(f, "/bin", "a\0c", 3);
	put(f, "/esc", "\x1b[2J\n");
	put(f, "/empty", "");
	now(f);

	assert_int_equal(diff(f, "--content --from %llu v", (unsigned long long)p0), 0);
	assert_string_equal(out, "M /bin\n"
				 "Binary files a/bin and b/bin differ\n"
				 "A /empty\n"
				 "M /esc\n"
				 "Binary files a/esc and b/esc differ\n"
				 "D /gone\n"
				 "--- a/gone\n+++ /dev/null\n"
				 "@@ -1,2 +0,0 @@\n-bye\n-now\n\\ No newline at end of file\n"
				 "A /new\n"
				 "--- /dev/null\n+++ b/new\n"
				 "@@ -0,0 +1,2 @@\n+hello\n+world\n"
				 "M /t\n"
				 "--- a/t\n+++ b/t\n"
				 "@@ -2,9 +2,10 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n 9\n 10\n+11\n");
	assert_int_equal(diff(f, "--json --content --from %llu v", (unsigned long long)p0), 0);
	assert_string_equal(out, "{\"change\":\"changed\",\"path\":\"/bin\",\"type\":\"file\",\"what\":[\"content\"],\"binary\":true}\n"
				 "{\"change\":\"added\",\"path\":\"/empty\",\"type\":\"file\",\"diff\":\"\"}\n"
				 "{\"change\":\"changed\",\"path\":\"/esc\",\"type\":\"file\",\"what\":[\"content\"],\"binary\":true}\n"
				 "{\"change\":\"deleted\",\"path\":\"/gone\",\"type\":\"file\",\"diff\":\"@@ -1,2 +0,0 @@\\n-bye\\n-now\\n\\\\ No newline at end of file\\n\"}\n"
				 "{\"change\":\"added\",\"path\":\"/new\",\"type\":\"file\",\"diff\":\"@@ -0,0 +1,2 @@\\n+hello\\n+world\\n\"}\n"
				 "{\"change\":\"changed\",\"path\":\"/t\",\"type\":\"file\",\"what\":[\"content\"],\"diff\":\"@@ -2,9 +2,10 @@\\n 2\\n 3\\n 4\\n-5\\n+five\\n 6\\n 7\\n 8\\n 9\\n 10\\n+11\\n\"}\n");
	/* every line is a JSON object (when jq is there to say so) */
	if (mu_run(NULL, 0, "command -v jq") != 0)
		return;
	assert_int_equal(mu_run(out, sizeof(out),
				"%s diff --store %s --json --content --from %llu v | jq -c .change | tr -d \\\\n",
				mu_bin(), f->dir, (unsigned long long)p0),
			 0);
	assert_string_equal(out, "\"changed\"\"added\"\"changed\"\"deleted\"\"added\"\"changed\"");
}

/* A file with over 1 GiB of holes carries no whole-content hash: its
 * versions are compared byte by byte. Larger than --content compares. */
static void test_sparse_and_large(void **state)
{
	struct fx *f = *state;
	struct lgfs_stat st;
	uint64_t fh, p0;

	assert_int_equal(lgfs_fs_create(f->fs, &f->ctx, 1, "sparse", 0644, O_WRONLY, &st, &fh), 0);
	assert_int_equal(lgfs_fs_write(f->fs, &f->ctx, fh, 0, "a", 1), 0);
	assert_int_equal(lgfs_fs_write(f->fs, &f->ctx, fh, 3ull << 29, "z", 1), 0);
	assert_int_equal(lgfs_fs_release(f->fs, &f->ctx, fh), 0);
	p0 = now(f);
	assert_int_equal(lgfs_fs_open_file(f->fs, &f->ctx, ino_of(f, "/sparse"), O_WRONLY, &fh), 0);
	assert_int_equal(lgfs_fs_write(f->fs, &f->ctx, fh, 0, "b", 1), 0);
	assert_int_equal(lgfs_fs_release(f->fs, &f->ctx, fh), 0);
	now(f);
	assert_int_equal(diff(f, "--from %llu v", (unsigned long long)p0), 0);
	assert_string_equal(out, "M /sparse\n");
	assert_int_equal(diff(f, "--content --from %llu v", (unsigned long long)p0), 0);
	assert_string_equal(out, "M /sparse\nLarge files a/sparse and b/sparse differ (not compared line by line)\n");
	assert_int_equal(diff(f, "--json --content --from %llu v", (unsigned long long)p0), 0);
	assert_string_equal(out, "{\"change\":\"changed\",\"path\":\"/sparse\",\"type\":\"file\",\"what\":[\"content\"],\"too_large\":true}\n");
}

static void test_names(void **state)
{
	struct fx *f = *state;
	uint64_t p0;

	p0 = now(f);
	put(f, "/bad\xff", "x\n");
	put(f, "/new\nline", "y\n");
	now(f);
	assert_int_equal(diff(f, "--from %llu v", (unsigned long long)p0), 0);
	assert_string_equal(out, "A /bad\\xff\nA /new\\x0aline\n");
	assert_int_equal(diff(f, "--json --from %llu v", (unsigned long long)p0), 0);
	assert_string_equal(out, "{\"change\":\"added\",\"path\":{\"b64\":\"L2JhZP8=\"},\"type\":\"file\"}\n"
				 "{\"change\":\"added\",\"path\":\"/new\\nline\",\"type\":\"file\"}\n");
}

static void test_errors(void **state)
{
	struct fx *f = *state;

	put(f, "/a", "a\n");
	now(f);
	/* points that do not parse or lie beyond the end: the library's message */
	assert_int_equal(diff(f, "--from nonsense v"), 1);
	assert_non_null(strstr(out, "ledgerfs: nonsense"));
	assert_int_equal(diff(f, "--from 999999 v"), 1);
	assert_non_null(strstr(out, "ledgerfs: "));
	assert_non_null(strstr(out, "999999"));
	assert_int_equal(diff(f, "--from 0 --to 999999 v"), 1);
	assert_int_equal(diff(f, "--from /a@9 v"), 1);
	/* a path that existed at neither point */
	assert_int_equal(diff(f, "--from 0 v /nowhere"), 1);
	assert_non_null(strstr(out, "/nowhere did not exist"));
	/* no such volume */
	assert_int_equal(diff(f, "--from 0 nosuch"), 1);
	assert_non_null(strstr(out, "ledgerfs: nosuch"));
	/* usage */
	assert_int_equal(diff(f, "v"), 2);
	assert_non_null(strstr(out, "--from POINT is required"));
	assert_int_equal(diff(f, "--from 0 v relative"), 2);
	assert_int_equal(diff(f, "--from 0 v /a/../b"), 2);
	assert_int_equal(diff(f, "--from 0"), 2);
	assert_int_equal(diff(f, "--from 0 v / extra"), 2);
	assert_int_equal(diff(f, "--bogus --from 0 v"), 2);
	assert_int_equal(mu_run(out, sizeof(out), "%s diff --help", mu_bin()), 0);
	assert_non_null(strstr(out, "usage: ledgerfs diff"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_delete_modify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_renames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sparse_and_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
