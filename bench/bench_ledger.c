/*
 * bench_ledger.c — ledger throughput: appends per second with group commit
 * (one caller appending batches, and many threads appending one record at
 * a time, merged by the group commit), and audit entries per second.
 * Prints medians of several runs. Not a test: it asserts nothing.
 *
 * usage: bench_ledger DIR [RECORDS] [RUNS]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledgerfs/audit.h"
#include "ledgerfs/error.h"
#include "ledgerfs/ledger.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const uint8_t h32[32] = { 0x5e, 0x88, 0x48, 0x98 };

/* A realistic file-version record (~250 bytes). */
static void make_record(struct lgfs_record *r, uint64_t i)
{
	lgfs_record_init(r, LGFS_OP_WRITE);
	r->uid = 1000;
	r->gid = 1000;
	lgfs_record_add_u64(r, LGFS_F_INO, 1000 + i);
	lgfs_record_add_u64(r, LGFS_F_SIZE, 48213 + i);
	lgfs_record_add_bytes(r, LGFS_F_MANIFEST, h32, 32);
	lgfs_record_add_bytes(r, LGFS_F_CONTENT, h32, 32);
	lgfs_record_add_str(r, LGFS_F_PATH, "/Buchhaltung/2026/Rechnungen/RE-2026-00042.pdf");
}

struct thread_arg {
	struct lgfs_ledger *l;
	uint64_t n;
};

static void *one_at_a_time(void *p)
{
	struct thread_arg *t = p;
	uint64_t i;

	for (i = 0; i < t->n; i++) {
		struct lgfs_record r, *rp = &r;

		make_record(&r, i);
		if (lgfs_ledger_append(t->l, &rp, 1)) {
			fprintf(stderr, "append: %s\n", lgfs_error_last());
			exit(1);
		}
	}
	return NULL;
}

static int count_cp(void *arg, const char *note, size_t len)
{
	(void)note;
	(void)len;
	(*(uint64_t *)arg)++;
	return 0;
}

static struct lgfs_ledger *fresh(const char *dir, struct lgfs_key *key, const char *name)
{
	struct lgfs_policy pol = { 51, 3600 };
	struct lgfs_volume_info info;
	struct lgfs_ledger *l;

	if (lgfs_volume_create(&info, dir, name, key, &pol, 0, 0) || lgfs_ledger_open(&l, dir, name, key, 0)) {
		fprintf(stderr, "%s: %s\n", name, lgfs_error_last());
		exit(1);
	}
	return l;
}

int main(int argc, char **argv)
{
	const char *dir;
	uint64_t records = 50000, i;
	int runs = 3, run, t;
	double batch_rate[16], thread_rate[16], audit_rate[16], batch_one[16], group[16];
	struct lgfs_key *key;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_ledger DIR [RECORDS] [RUNS]\n");
		return 2;
	}
	dir = argv[1];
	if (argc > 2)
		records = strtoull(argv[2], NULL, 10);
	if (argc > 3)
		runs = atoi(argv[3]);
	if (runs < 1 || runs > 16 || records < 1000)
		return 2;
	if (lgfs_key_generate(&key, "bench")) {
		fprintf(stderr, "%s\n", lgfs_error_last());
		return 1;
	}
	for (run = 0; run < runs; run++) {
		struct lgfs_ledger *l;
		struct lgfs_record *recs = malloc(1000 * sizeof(*recs));
		struct lgfs_record *rp[1000];
		struct thread_arg ta[16];
		pthread_t th[16];
		struct lgfs_audit_report rep;
		char name[32], vd[512];
		double t0;

		/* batches of 1000 records from one caller */
		snprintf(name, sizeof(name), "batch%d", run);
		l = fresh(dir, key, name);
		t0 = now();
		for (i = 0; i < records; i += 1000) {
			for (t = 0; t < 1000; t++) {
				make_record(&recs[t], i + (uint64_t)t);
				rp[t] = &recs[t];
			}
			if (lgfs_ledger_append(l, rp, 1000)) {
				fprintf(stderr, "append: %s\n", lgfs_error_last());
				return 1;
			}
		}
		batch_rate[run] = (double)records / (now() - t0);
		lgfs_ledger_close(l);

		/* batches of 1 record from one caller: one fdatasync per record */
		snprintf(name, sizeof(name), "single%d", run);
		l = fresh(dir, key, name);
		t0 = now();
		for (i = 0; i < 500; i++) {
			make_record(&recs[0], i);
			rp[0] = &recs[0];
			if (lgfs_ledger_append(l, rp, 1))
				return 1;
		}
		batch_one[run] = 500.0 / (now() - t0);
		lgfs_ledger_close(l);

		/* 16 threads, one record per call: group commit merges them */
		snprintf(name, sizeof(name), "threads%d", run);
		l = fresh(dir, key, name);
		t0 = now();
		for (t = 0; t < 16; t++) {
			ta[t].l = l;
			ta[t].n = records / 16 / 4;
			pthread_create(&th[t], NULL, one_at_a_time, &ta[t]);
		}
		for (t = 0; t < 16; t++)
			pthread_join(th[t], NULL);
		thread_rate[run] = (double)(16 * (records / 16 / 4)) / (now() - t0);
		lgfs_ledger_close(l);
		{
			/* one checkpoint per group commit: records per fdatasync */
			uint64_t ncp = 0;

			snprintf(vd, sizeof(vd), "%s/volumes/threads%d", dir, run);
			lgfs_checkpoints_each(vd, count_cp, &ncp);
			group[run] = ncp ? (double)(16 * (records / 16 / 4)) / (double)ncp : 0;
		}

		/* audit of the batch volume, all cores */
		snprintf(vd, sizeof(vd), "%s/volumes/batch%d", dir, run);
		t0 = now();
		if (lgfs_audit_volume(&rep, vd, NULL) || rep.nfindings) {
			fprintf(stderr, "audit failed: %s\n", lgfs_error_last());
			return 1;
		}
		audit_rate[run] = (double)rep.entries / (now() - t0);
		lgfs_audit_report_free(&rep);
		free(recs);
		fprintf(stderr, "run %d: batch %.0f/s, 16 threads %.0f/s, single %.0f/s, audit %.0f/s\n", run + 1,
			batch_rate[run], thread_rate[run], batch_one[run], audit_rate[run]);
	}
	printf("ledger benchmark: %llu records per run, %d runs, %ld CPUs (medians)\n",
	       (unsigned long long)records, runs, sysconf(_SC_NPROCESSORS_ONLN));
	printf("  append, batches of 1000 from one caller   %8.0f records/s\n", median(batch_rate, runs));
	printf("  append, 16 threads x 1 record (group commit) %5.0f records/s\n", median(thread_rate, runs));
	printf("    (records per group commit, median: %.1f)\n", median(group, runs));
	printf("  append, 1 record per call, one caller      %7.0f records/s (one fdatasync each)\n",
	       median(batch_one, runs));
	printf("  audit, all cores                          %8.0f entries/s\n", median(audit_rate, runs));
	lgfs_key_free(key);
	return 0;
}
