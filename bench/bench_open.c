/*
 * bench_open.c — what verified reading costs on a large volume.
 *
 *   bench_open make STORE VOLUME KEYFILE RECORDS
 *       creates VOLUME (if missing) and adds files of 100 bytes, 1000 per
 *       directory, through the fs layer until the log holds RECORDS entries
 *       (one create and one write record per file, one mkdir per directory)
 *   bench_open open STORE VOLUME [ro]
 *       opens the volume as the file system does (verified log, index
 *       trusted or checked or replayed), looks up /d0/f0 and prints the
 *       seconds it took
 *   bench_open history STORE VOLUME PATH
 *       opens the volume read-only, then times lgfs_fs_history of PATH and
 *       a listing of the root at the middle log index, each the median of
 *       21 runs; prints the three figures in milliseconds
 *
 * Used by bench/verify_bench.sh; prints figures, asserts nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ledgerfs/error.h"
#include "ledgerfs/fs.h"
#include "ledgerfs/history.h"
#include "ledgerfs/key.h"
#include "ledgerfs/ledger.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int make(const char *store, const char *vol, const char *keyfile, uint64_t records)
{
	struct lgfs_key *key = NULL;
	struct lgfs_volume_info info;
	struct lgfs_policy pol = { LGFS_DEFAULT_THRESHOLD, LGFS_DEFAULT_RETENTION_S };
	struct lgfs_fs_ctx ctx = { 0, 0, 022 };
	struct lgfs_fs *fs = NULL;
	struct lgfs_stat st;
	uint64_t entries, durable, dir = 0, n = 0, fh;
	char name[64], data[100];
	int rc;

	if (lgfs_key_load(&key, keyfile)) {
		fprintf(stderr, "bench_open: %s\n", lgfs_error_last());
		return 1;
	}
	rc = lgfs_volume_create(&info, store, vol, key, &pol, 0, 0);
	if (rc && rc != LGFS_EEXISTS) {
		fprintf(stderr, "bench_open: %s\n", lgfs_error_last());
		return 1;
	}
	if ((rc = lgfs_fs_open(&fs, store, vol, key, 0))) {
		fprintf(stderr, "bench_open: open: %s\n", lgfs_error_last());
		return 1;
	}
	memset(data, 'x', sizeof(data));
	for (;;) {
		lgfs_fs_log_state(fs, &entries, &durable);
		if (entries >= records)
			break;
		if (n % 1000 == 0) {
			snprintf(name, sizeof(name), "d%llu", (unsigned long long)(n / 1000));
			rc = lgfs_fs_mkdir(fs, &ctx, 1, name, 0755, &st);
			if (rc == -EEXIST)
				rc = lgfs_fs_lookup(fs, 1, name, &st);
			if (rc)
				break;
			dir = st.ino;
		}
		snprintf(name, sizeof(name), "f%llu", (unsigned long long)(n % 1000));
		n++;
		rc = lgfs_fs_create(fs, &ctx, dir, name, 0644, 01 /* O_WRONLY */, &st, &fh);
		if (rc == -EEXIST)
			continue;
		if (!rc)
			rc = lgfs_fs_write(fs, &ctx, fh, 0, data, sizeof(data));
		if (!rc)
			rc = lgfs_fs_release(fs, &ctx, fh);
		if (rc)
			break;
	}
	if (rc)
		fprintf(stderr, "bench_open: %s: %s\n", strerror(-rc), lgfs_error_last());
	rc = lgfs_fs_close(fs) || rc;
	lgfs_key_free(key);
	return rc ? 1 : 0;
}

static int open_once(const char *store, const char *vol, int ro, const char *keyfile)
{
	struct lgfs_key *key = NULL;
	struct lgfs_fs *fs = NULL;
	struct lgfs_stat st;
	uint64_t ino;
	double t0 = now(), t1;
	int rc;

	if (!ro && lgfs_key_load(&key, keyfile)) {
		fprintf(stderr, "bench_open: %s\n", lgfs_error_last());
		return 1;
	}
	rc = lgfs_fs_open(&fs, store, vol, key, ro ? LGFS_FS_RDONLY : 0);
	if (!rc)
		rc = lgfs_fs_resolve(fs, "/d0/f0", &ino);
	if (!rc)
		rc = lgfs_fs_getattr(fs, ino, &st);
	t1 = now();
	if (rc)
		fprintf(stderr, "bench_open: %s\n", lgfs_error_last());
	else
		printf("%.3f\n", t1 - t0);
	lgfs_fs_close(fs);
	lgfs_key_free(key);
	return rc ? 1 : 0;
}

static int count_cb(void *arg, const struct lgfs_path_version *v)
{
	(void)v;
	(*(int *)arg)++;
	return 0;
}

static int count_dir_cb(void *arg, const char *name, size_t len, const struct lgfs_stat *st)
{
	(void)name;
	(void)len;
	(void)st;
	(*(int *)arg)++;
	return 0;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int history_once(const char *store, const char *vol, const char *path)
{
	struct lgfs_fs *fs = NULL;
	double t0 = now(), topen, th[21], tl[21];
	int i, n = 0, e = 0, rc;

	rc = lgfs_fs_open(&fs, store, vol, NULL, LGFS_FS_RDONLY);
	topen = now() - t0;
	for (i = 0; !rc && i < 21; i++) {
		n = 0;
		t0 = now();
		rc = lgfs_fs_history(fs, path, 0, count_cb, &n);
		th[i] = now() - t0;
		e = 0;
		t0 = now();
		if (!rc)
			rc = lgfs_past_readdir(fs, lgfs_fs_entries(fs) / 2, 1, NULL, 0, count_dir_cb, &e);
		tl[i] = now() - t0;
	}
	if (rc) {
		fprintf(stderr, "bench_open: %s\n", lgfs_error_last());
	} else {
		qsort(th, 21, sizeof(*th), dbl_cmp);
		qsort(tl, 21, sizeof(*tl), dbl_cmp);
		printf("open %.1f ms, history %.3f ms (%d versions), root listing at the middle %.3f ms (%d entries)\n",
		       topen * 1e3, th[10] * 1e3, n, tl[10] * 1e3, e);
	}
	lgfs_fs_close(fs);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "make"))
		return make(argv[2], argv[3], argv[4], strtoull(argv[5], NULL, 10));
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "open"))
		return open_once(argv[2], argv[3], argc == 6 && !strcmp(argv[5], "ro"), argv[4]);
	if (argc == 5 && !strcmp(argv[1], "history"))
		return history_once(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: bench_open make STORE VOLUME KEYFILE RECORDS | open STORE VOLUME KEYFILE [ro] | history STORE VOLUME PATH\n");
	return 2;
}
