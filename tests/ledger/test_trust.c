/*
 * test_trust.c — unit tests for src/ledger/trust.c (ledger layer): where the
 * state directory is, pins that load back as saved, a pinned checkpoint that
 * is never lowered, a directory pinned to one origin refusing another,
 * damaged pin files reported (never taken for "nothing verified"), file and
 * directory modes, and concurrent savers and readers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/key.h"
#include "ledgerfs/note.h"
#include "ledgerfs/trust.h"

struct fixture {
	char dir[64];   /* everything of the test */
	char state[96]; /* LEDGERFS_STATE_DIR */
	char vol[96];   /* a volume directory */
	char vol2[96];  /* another one */
	struct lgfs_key *key;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/lgfs-test-trust-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	snprintf(f->vol, sizeof(f->vol), "%s/vol", f->dir);
	snprintf(f->vol2, sizeof(f->vol2), "%s/vol2", f->dir);
	if (mkdir(f->vol, 0700) || mkdir(f->vol2, 0700))
		return -1;
	setenv("LEDGERFS_STATE_DIR", f->state, 1);
	if (lgfs_key_generate(&f->key, "founder@test"))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	lgfs_key_free(f->key);
	free(f);
	return 0;
}

/* A signed checkpoint note of origin at size, root filled with `fill`. */
static char *note_of(struct fixture *f, const char *origin, uint64_t size, uint8_t fill)
{
	struct lgfs_checkpoint cp;
	char *note = NULL;

	memset(&cp, 0, sizeof(cp));
	snprintf(cp.origin, sizeof(cp.origin), "%s", origin);
	cp.size = size;
	memset(cp.root, fill, sizeof(cp.root));
	assert_int_equal(lgfs_checkpoint_sign(&note, &cp, f->key), 0);
	return note;
}

static void save(struct fixture *f, const char *vol, const char *origin, uint64_t size, uint8_t fill, int want)
{
	char *note = note_of(f, origin, size, fill);

	assert_int_equal(lgfs_trust_save(vol, note), want);
	free(note);
}

static void expect_pin(const char *vol, const char *origin_arg, const char *origin, int have, uint64_t size,
		       uint8_t fill)
{
	struct lgfs_trust_pin p;
	uint8_t root[32];

	assert_int_equal(lgfs_trust_load(&p, vol, origin_arg), 0);
	assert_string_equal(p.origin, origin);
	assert_int_equal(p.have_cp, have);
	if (have) {
		memset(root, fill, sizeof(root));
		assert_int_equal(p.cp.size, size);
		assert_memory_equal(p.cp.root, root, 32);
		assert_non_null(p.note);
	} else {
		assert_null(p.note);
	}
	lgfs_trust_pin_free(&p);
}

/* The path of a pin file: kind "dirs" (key = realpath) or "origins". */
static void pin_path(char *out, size_t cap, const struct fixture *f, const char *kind, const char *key)
{
	uint8_t h[32];
	char hex[65];

	lgfs_sha256(h, key, strlen(key));
	lgfs_hex(hex, h, 32);
	snprintf(out, cap, "%s/trusted/%s/%s", f->state, kind, hex);
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static void test_state_dir_env(void **state)
{
	struct fixture *f = *state;
	char *d = NULL;

	assert_int_equal(lgfs_trust_state_dir(&d), 0);
	assert_string_equal(d, f->state);
	free(d);

	setenv("LEDGERFS_STATE_DIR", "", 1); /* empty: not set */
	setenv("XDG_STATE_HOME", "/xdg/state", 1);
	setenv("HOME", "/home/u", 1);
	assert_int_equal(lgfs_trust_state_dir(&d), 0);
	assert_string_equal(d, "/xdg/state/ledgerfs");
	free(d);

	setenv("XDG_STATE_HOME", "relative/state", 1); /* must be ignored */
	assert_int_equal(lgfs_trust_state_dir(&d), 0);
	assert_string_equal(d, "/home/u/.local/state/ledgerfs");
	free(d);

	unsetenv("XDG_STATE_HOME");
	unsetenv("HOME");
	assert_int_equal(lgfs_trust_state_dir(&d), LGFS_ENOTFOUND);
	assert_null(d);
	assert_non_null(strstr(lgfs_error_last(), "LEDGERFS_STATE_DIR"));
	setenv("LEDGERFS_STATE_DIR", f->state, 1);
}

static void test_empty_state(void **state)
{
	struct fixture *f = *state;

	expect_pin(f->vol, NULL, "", 0, 0, 0);
	expect_pin(f->vol, "ledgerfs/a", "", 0, 0, 0);
	/* loading wrote nothing */
	assert_int_equal(access(f->state, F_OK), -1);
}

static void test_save_load(void **state)
{
	struct fixture *f = *state;
	struct lgfs_trust_pin p;
	char *note = note_of(f, "ledgerfs/a", 7, 0xaa);

	assert_int_equal(lgfs_trust_save(f->vol, note), 0);
	assert_int_equal(lgfs_trust_load(&p, f->vol, NULL), 0);
	assert_string_equal(p.origin, "ledgerfs/a");
	assert_int_equal(p.have_cp, 1);
	assert_string_equal(p.cp.origin, "ledgerfs/a");
	assert_int_equal(p.cp.size, 7);
	assert_string_equal(p.note, note);
	lgfs_trust_pin_free(&p);
	assert_null(p.note);
	free(note);

	/* the pin is keyed by the realpath: another spelling finds it */
	{
		char other[160];

		snprintf(other, sizeof(other), "%s/./vol/../vol/", f->dir);
		expect_pin(other, NULL, "ledgerfs/a", 1, 7, 0xaa);
	}
	/* the directory's origin wins over the one asked for */
	expect_pin(f->vol, "ledgerfs/b", "ledgerfs/a", 1, 7, 0xaa);
	/* another directory: no pin of its own, but the origin's checkpoint */
	expect_pin(f->vol2, "ledgerfs/a", "", 1, 7, 0xaa);
	expect_pin(f->vol2, NULL, "", 0, 0, 0);
	expect_pin(f->vol2, "ledgerfs/b", "", 0, 0, 0);
	/* a missing volume directory is an error, not an empty pin */
	{
		char gone[160];

		snprintf(gone, sizeof(gone), "%s/gone", f->dir);
		assert_int_not_equal(lgfs_trust_load(&p, gone, NULL), 0);
		lgfs_trust_pin_free(&p);
	}
}

static void test_never_lower(void **state)
{
	struct fixture *f = *state;

	save(f, f->vol, "ledgerfs/a", 5, 1, 0);
	save(f, f->vol, "ledgerfs/a", 3, 2, 0);
	expect_pin(f->vol, NULL, "ledgerfs/a", 1, 5, 1);
	save(f, f->vol, "ledgerfs/a", 5, 1, 0); /* the same again: fine */
	expect_pin(f->vol, NULL, "ledgerfs/a", 1, 5, 1);
	save(f, f->vol, "ledgerfs/a", 9, 3, 0);
	expect_pin(f->vol, NULL, "ledgerfs/a", 1, 9, 3);
	/* the origin's newest checkpoint is shared by every directory of it */
	save(f, f->vol2, "ledgerfs/a", 6, 4, 0);
	expect_pin(f->vol2, NULL, "ledgerfs/a", 1, 9, 3);
	save(f, f->vol2, "ledgerfs/a", 12, 5, 0);
	expect_pin(f->vol, NULL, "ledgerfs/a", 1, 12, 5);
}

static void test_same_size_other_root(void **state)
{
	struct fixture *f = *state;

	save(f, f->vol, "ledgerfs/a", 5, 1, 0);
	save(f, f->vol, "ledgerfs/a", 5, 2, LGFS_ECONFLICT);
	assert_non_null(strstr(lgfs_error_last(), "fork"));
	expect_pin(f->vol, NULL, "ledgerfs/a", 1, 5, 1);
}

static void test_conflict(void **state)
{
	struct fixture *f = *state;
	char path[256];

	save(f, f->vol, "ledgerfs/a", 5, 1, 0);
	save(f, f->vol, "ledgerfs/b", 50, 2, LGFS_ECONFLICT);
	assert_non_null(strstr(lgfs_error_last(), "ledgerfs/a"));
	assert_non_null(strstr(lgfs_error_last(), "ledgerfs/b"));
	/* nothing of b was written */
	pin_path(path, sizeof(path), f, "origins", "ledgerfs/b");
	assert_int_equal(access(path, F_OK), -1);
	expect_pin(f->vol, NULL, "ledgerfs/a", 1, 5, 1);
	/* another directory may hold b */
	save(f, f->vol2, "ledgerfs/b", 50, 2, 0);
	expect_pin(f->vol2, NULL, "ledgerfs/b", 1, 50, 2);
}

/* Forgetting a directory's pin drops its origin and that origin's
 * checkpoint, leaves other directories alone, and lets another origin be
 * pinned there; forgetting nothing is fine. */
static void test_forget(void **state)
{
	struct fixture *f = *state;
	char path[256];

	assert_int_equal(lgfs_trust_forget(f->vol), 0); /* nothing pinned yet */
	save(f, f->vol, "ledgerfs/a", 5, 1, 0);
	save(f, f->vol2, "ledgerfs/c", 7, 3, 0);
	save(f, f->vol, "ledgerfs/b", 9, 2, LGFS_ECONFLICT);
	assert_int_equal(lgfs_trust_forget(f->vol), 0);
	expect_pin(f->vol, NULL, "", 0, 0, 0);
	pin_path(path, sizeof(path), f, "origins", "ledgerfs/a");
	assert_int_equal(access(path, F_OK), -1);
	expect_pin(f->vol2, NULL, "ledgerfs/c", 1, 7, 3);
	save(f, f->vol, "ledgerfs/b", 9, 2, 0);
	expect_pin(f->vol, NULL, "ledgerfs/b", 1, 9, 2);
}

static void test_bad_files(void **state)
{
	struct fixture *f = *state;
	struct lgfs_trust_pin p;
	char dpath[256], opath[256], real[256];
	char *note;

	save(f, f->vol, "ledgerfs/a", 5, 1, 0);
	assert_non_null(realpath(f->vol, real));
	pin_path(dpath, sizeof(dpath), f, "dirs", real);
	pin_path(opath, sizeof(opath), f, "origins", "ledgerfs/a");
	assert_int_equal(access(dpath, F_OK), 0);
	assert_int_equal(access(opath, F_OK), 0);

	/* a damaged origin pin */
	write_file(opath, "not a note\n");
	assert_int_equal(lgfs_trust_load(&p, f->vol, NULL), LGFS_ECORRUPT);
	assert_non_null(strstr(lgfs_error_last(), opath));
	lgfs_trust_pin_free(&p);
	/* and a save refuses to decide from it */
	save(f, f->vol, "ledgerfs/a", 9, 1, LGFS_ECORRUPT);
	/* an empty one (not "nothing verified") */
	write_file(opath, "");
	assert_int_equal(lgfs_trust_load(&p, f->vol, NULL), LGFS_ECORRUPT);
	lgfs_trust_pin_free(&p);
	/* a good note of another origin under this origin's name */
	note = note_of(f, "ledgerfs/other", 5, 1);
	write_file(opath, note);
	free(note);
	assert_int_equal(lgfs_trust_load(&p, f->vol, NULL), LGFS_ECORRUPT);
	assert_non_null(strstr(lgfs_error_last(), "another origin"));
	lgfs_trust_pin_free(&p);
	/* a directory in its place */
	assert_int_equal(unlink(opath), 0);
	assert_int_equal(mkdir(opath, 0700), 0);
	assert_int_equal(lgfs_trust_load(&p, f->vol, NULL), LGFS_ECORRUPT);
	lgfs_trust_pin_free(&p);
	assert_int_equal(rmdir(opath), 0);
	expect_pin(f->vol, NULL, "ledgerfs/a", 0, 0, 0);

	/* damaged directory pins */
	{
		static const char *bad[] = {
			"",
			"origin ledgerfs/a\npath /x\n",                                  /* no magic */
			"ledgerfs trusted directory v1\norigin \npath /x\n",             /* empty origin */
			"ledgerfs trusted directory v1\norigin ledgerfs/a\n",            /* no path */
			"ledgerfs trusted directory v1\norigin ledgerfs/a\npath /x",     /* no final newline */
			"ledgerfs trusted directory v1\norigin ledgerfs/\ta\npath /x\n", /* control character */
			"ledgerfs trusted directory v1\norigin ledgerfs/a\npath /x\nmore\n",
		};
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			write_file(dpath, bad[i]);
			assert_int_equal(lgfs_trust_load(&p, f->vol, "ledgerfs/a"), LGFS_ECORRUPT);
			assert_non_null(strstr(lgfs_error_last(), dpath));
			lgfs_trust_pin_free(&p);
			save(f, f->vol, "ledgerfs/a", 9, 1, LGFS_ECORRUPT);
		}
	}
	write_file(dpath, "ledgerfs trusted directory v1\norigin ledgerfs/a\npath /x\n");
	expect_pin(f->vol, NULL, "ledgerfs/a", 0, 0, 0);
	save(f, f->vol, "ledgerfs/a", 9, 1, 0);
	expect_pin(f->vol, NULL, "ledgerfs/a", 1, 9, 1);

	/* a note that is not a signed checkpoint is not saved */
	assert_int_equal(lgfs_trust_save(f->vol, "ledgerfs/a\n3\nAAAA\n"), LGFS_EINVAL);
	expect_pin(f->vol, NULL, "ledgerfs/a", 1, 9, 1);
}

static void test_modes(void **state)
{
	struct fixture *f = *state;
	static const char *dirs[] = { "", "/trusted", "/trusted/dirs", "/trusted/origins" };
	char path[256], real[256];
	struct stat st;
	mode_t old = umask(0);
	size_t i;

	save(f, f->vol, "ledgerfs/a", 5, 1, 0);
	umask(old);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", f->state, dirs[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0700);
	}
	assert_non_null(realpath(f->vol, real));
	pin_path(path, sizeof(path), f, "dirs", real);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	pin_path(path, sizeof(path), f, "origins", "ledgerfs/a");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

/* Only the pin files (and the lock) are left in the state: no temporary
 * files after many saves. */
static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Two processes save growing sizes (interleaved) while a third loads: every
 * load parses, sizes seen never go down, and the largest one stays. */
static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	char path[256];
	pid_t pid[2];
	int i, st;

	save(f, f->vol, "ledgerfs/a", 1, 1, 0);
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			uint64_t s;

			for (s = 2 + (uint64_t)i; s < 200; s += 2) {
				char *note = note_of(f, "ledgerfs/a", s, (uint8_t)s);

				if (lgfs_trust_save(i ? f->vol : f->vol2, note))
					_exit(1);
				free(note);
			}
			_exit(0);
		}
	}
	{
		uint64_t last = 0;
		int done = 0, k;

		for (k = 0; k < 2000 && done < 2; k++) {
			struct lgfs_trust_pin p;

			assert_int_equal(lgfs_trust_load(&p, f->vol, NULL), 0);
			assert_int_equal(p.have_cp, 1);
			assert_true(p.cp.size >= last);
			last = p.cp.size;
			lgfs_trust_pin_free(&p);
			done = 0;
			for (i = 0; i < 2; i++)
				done += waitpid(pid[i], &st, WNOHANG) == pid[i] ? 1 : 0;
			if (done)
				break;
		}
	}
	for (i = 0; i < 2; i++) {
		if (waitpid(pid[i], &st, 0) == pid[i])
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	expect_pin(f->vol, NULL, "ledgerfs/a", 1, 199, 199);
	expect_pin(f->vol2, NULL, "ledgerfs/a", 1, 199, 199);
	snprintf(path, sizeof(path), "%s/trusted/origins", f->state);
	assert_int_equal(count_entries(path), 1);
	snprintf(path, sizeof(path), "%s/trusted/dirs", f->state);
	assert_int_equal(count_entries(path), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_state_dir_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_lower, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_size_other_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
