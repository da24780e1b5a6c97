/*
 * test_vcache.c — the verification cache (vcache.c): a log whose files did
 * not change since this user's last full verification is not verified
 * again, and the result is the same; any change to a file of the log, a
 * fresh file, another pin, a damaged cache file or LEDGERFS_VERIFY=full
 * means a full verification, which still catches damage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "ledger/verify.h"
#include "ledgerfs/error.h"
#include "ledgerfs/ledger.h"

#define NOTES 60

struct fixture {
	char dir[64];
	char vol[128];
	char seg[192];
	char cache[192];
	struct lgfs_key *key;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct lgfs_policy pol = { LGFS_DEFAULT_THRESHOLD, LGFS_DEFAULT_RETENTION_S };
	struct lgfs_volume_info info;
	struct lgfs_ledger *l = NULL;
	int i;

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/lgfs-test-vcache-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->vol, sizeof(f->vol), "%s/volumes/v", f->dir);
	snprintf(f->seg, sizeof(f->seg), "%s/log/00000000000000000000.seg", f->vol);
	snprintf(f->cache, sizeof(f->cache), "%s/verified", f->dir);
	setenv("LEDGERFS_STATE_DIR", f->dir, 1);
	unsetenv("LEDGERFS_VERIFY");
	if (lgfs_key_generate(&f->key, "founder@test") || lgfs_volume_create(&info, f->dir, "v", f->key, &pol, 0, 0) ||
	    lgfs_ledger_open(&l, f->dir, "v", f->key, 0))
		return -1;
	for (i = 0; i < NOTES; i++) {
		struct lgfs_record r, *rp = &r;
		char text[32];

		snprintf(text, sizeof(text), "note %d", i);
		lgfs_record_init(&r, LGFS_OP_NOTE);
		if (lgfs_record_add_str(&r, LGFS_F_REASON, text) || lgfs_ledger_append(l, &rp, 1))
			return -1;
	}
	lgfs_ledger_close(l);
	lgfs_vcache_set_min(10);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	lgfs_vcache_set_min(10000);
	unsetenv("LEDGERFS_VERIFY");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	lgfs_key_free(f->key);
	free(f);
	return 0;
}

/* Files of the log are cached only once they are 2 s old. */
static void age(void)
{
	usleep(2200 * 1000);
}

static int cache_files(const struct fixture *f)
{
	DIR *d = opendir(f->cache);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Open read-only: 0 or the error; size and root when it opened. */
static int open_ro(const struct fixture *f, uint64_t *size, uint8_t root[32])
{
	struct lgfs_ledger *l = NULL;
	int rc = lgfs_ledger_open(&l, f->dir, "v", NULL, LGFS_LEDGER_RDONLY);

	if (rc)
		return rc;
	*size = lgfs_ledger_size(l);
	assert_int_equal(lgfs_ledger_root(l, *size, root), 0);
	lgfs_ledger_close(l);
	return 0;
}

static void test_hit_gives_the_same_result(void **state)
{
	struct fixture *f = *state;
	uint8_t r1[32], r2[32];
	uint64_t s1, s2, hits;

	/* fresh files: verified in full, not cached */
	assert_int_equal(open_ro(f, &s1, r1), 0);
	assert_int_equal(cache_files(f), 0);
	age();
	hits = lgfs_vcache_hits();
	assert_int_equal(open_ro(f, &s1, r1), 0);
	assert_int_equal(lgfs_vcache_hits(), hits);
	assert_int_equal(cache_files(f), 1);
	assert_int_equal(open_ro(f, &s2, r2), 0);
	assert_int_equal(lgfs_vcache_hits(), hits + 1);
	assert_int_equal(s1, s2);
	assert_int_equal(s1, NOTES + 1);
	assert_memory_equal(r1, r2, 32);
	/* a writer may use it too, and appends after it */
	{
		struct lgfs_ledger *l = NULL;
		struct lgfs_record r, *rp = &r;

		assert_int_equal(lgfs_ledger_open(&l, f->dir, "v", f->key, 0), 0);
		assert_int_equal(lgfs_vcache_hits(), hits + 2);
		lgfs_record_init(&r, LGFS_OP_NOTE);
		assert_int_equal(lgfs_record_add_str(&r, LGFS_F_REASON, "after"), 0);
		assert_int_equal(lgfs_ledger_append(l, &rp, 1), 0);
		lgfs_ledger_close(l);
	}
	/* the log changed: verified in full again */
	assert_int_equal(open_ro(f, &s2, r2), 0);
	assert_int_equal(lgfs_vcache_hits(), hits + 2);
	assert_int_equal(s2, NOTES + 2);
	/* LEDGERFS_VERIFY=full never uses it */
	age();
	assert_int_equal(open_ro(f, &s2, r2), 0); /* cached now */
	setenv("LEDGERFS_VERIFY", "full", 1);
	assert_int_equal(open_ro(f, &s1, r1), 0);
	assert_int_equal(lgfs_vcache_hits(), hits + 2);
	unsetenv("LEDGERFS_VERIFY");
	assert_int_equal(open_ro(f, &s1, r1), 0);
	assert_int_equal(lgfs_vcache_hits(), hits + 3);
}

static void test_changed_file_is_verified(void **state)
{
	struct fixture *f = *state;
	uint8_t root[32], b;
	uint64_t size, hits;
	int fd;

	age();
	assert_int_equal(open_ro(f, &size, root), 0);
	assert_int_equal(cache_files(f), 1);
	hits = lgfs_vcache_hits();
	/* one byte of a record changed in place: same size, and the
	 * modification time put back; the status-change time moves */
	{
		struct stat st;
		struct timespec ts[2];

		assert_int_equal(stat(f->seg, &st), 0);
		fd = open(f->seg, O_RDWR);
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, &b, 1, 2000), 1);
		b ^= 1;
		assert_int_equal(pwrite(fd, &b, 1, 2000), 1);
		close(fd);
		ts[0] = st.st_atim;
		ts[1] = st.st_mtim;
		assert_int_equal(utimensat(AT_FDCWD, f->seg, ts, 0), 0);
	}
	assert_int_equal(open_ro(f, &size, root), LGFS_ECORRUPT);
	assert_int_equal(lgfs_vcache_hits(), hits);
}

static void test_damaged_cache_is_a_miss(void **state)
{
	struct fixture *f = *state;
	char path[512];
	uint8_t root[32], r2[32];
	uint64_t size, hits;
	struct dirent *de;
	DIR *d;
	FILE *fp;

	age();
	assert_int_equal(open_ro(f, &size, root), 0);
	d = opendir(f->cache);
	assert_non_null(d);
	while ((de = readdir(d)) && de->d_name[0] == '.')
		;
	assert_non_null(de);
	snprintf(path, sizeof(path), "%s/%s", f->cache, de->d_name);
	closedir(d);
	/* a flipped byte in the cached leaves: the open takes the cache (its
	 * leaves are checked block by block when used), the first use of the
	 * damaged block fails and removes the file */
	fp = fopen(path, "r+b");
	assert_non_null(fp);
	fseek(fp, -100, SEEK_END);
	fputc(0x5a, fp);
	fclose(fp);
	hits = lgfs_vcache_hits();
	{
		struct lgfs_ledger *l = NULL;

		assert_int_equal(lgfs_ledger_open(&l, f->dir, "v", NULL, LGFS_LEDGER_RDONLY), 0);
		assert_int_equal(lgfs_vcache_hits(), hits + 1);
		assert_int_equal(lgfs_ledger_root(l, lgfs_ledger_size(l), r2), LGFS_ECORRUPT);
		assert_non_null(strstr(lgfs_error_last(), "is damaged"));
		lgfs_ledger_close(l);
	}
	assert_int_equal(access(path, F_OK), -1);
	/* the next open verifies in full, and gives the right result */
	hits = lgfs_vcache_hits();
	assert_int_equal(open_ro(f, &size, r2), 0);
	assert_int_equal(lgfs_vcache_hits(), hits);
	assert_memory_equal(root, r2, 32);
	/* rewritten by that full verification: a hit again */
	assert_int_equal(open_ro(f, &size, r2), 0);
	assert_int_equal(lgfs_vcache_hits(), hits + 1);
	/* a flipped byte in its header: a miss at the open */
	fp = fopen(path, "r+b");
	assert_non_null(fp);
	fseek(fp, 40, SEEK_SET);
	fputc(0x5a, fp);
	fclose(fp);
	assert_int_equal(open_ro(f, &size, r2), 0);
	assert_int_equal(lgfs_vcache_hits(), hits + 1);
	assert_memory_equal(root, r2, 32);
	assert_int_equal(open_ro(f, &size, r2), 0);
	hits++;
	assert_int_equal(lgfs_vcache_hits(), hits + 1);
	/* cut short */
	assert_int_equal(truncate(path, 100), 0);
	assert_int_equal(open_ro(f, &size, r2), 0);
	assert_int_equal(lgfs_vcache_hits(), hits + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hit_gives_the_same_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_file_is_verified, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_cache_is_a_miss, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
