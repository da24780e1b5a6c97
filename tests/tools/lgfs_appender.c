/*
 * lgfs_appender.c — test tool: appends note records to a volume in a loop
 * from several threads and prints "INDEX SEQ\n" for every append the
 * ledger acknowledged as durable. The crash test kills it with SIGKILL at
 * random moments and then checks every acknowledged append is present.
 *
 * usage: lgfs_appender STORE VOLUME KEYFILE THREADS
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledgerfs/error.h"
#include "ledgerfs/ledger.h"

static struct lgfs_ledger *ledger;
static unsigned long long seq_next;
static pthread_mutex_t seq_mu = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg * 7919u + (unsigned int)getpid();

	for (;;) {
		struct lgfs_record recs[64], *rp[64];
		char text[64][48], line[64 * 48];
		size_t n = 1 + (size_t)rand_r(&seed) % 64, i, off = 0;

		pthread_mutex_lock(&seq_mu);
		for (i = 0; i < n; i++) {
			snprintf(text[i], sizeof(text[i]), "seq-%llu", seq_next++);
			lgfs_record_init(&recs[i], LGFS_OP_NOTE);
			recs[i].uid = 1000;
			recs[i].gid = 1000;
			lgfs_record_add_str(&recs[i], LGFS_F_REASON, text[i]);
			rp[i] = &recs[i];
		}
		pthread_mutex_unlock(&seq_mu);
		if (lgfs_ledger_append(ledger, rp, n)) {
			fprintf(stderr, "append: %s\n", lgfs_error_last());
			exit(1);
		}
		for (i = 0; i < n; i++)
			off += (size_t)snprintf(line + off, sizeof(line) - off, "%llu %s\n",
						(unsigned long long)recs[i].index, text[i] + 4);
		/* one write per batch: lines of a batch arrive together or not at all
		 * (acknowledged but unreported appends are allowed; the reverse is not) */
		if (write(1, line, off) != (ssize_t)off)
			exit(1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct lgfs_key *key;
	pthread_t th[16];
	int i, n;

	if (argc != 5) {
		fprintf(stderr, "usage: lgfs_appender STORE VOLUME KEYFILE THREADS\n");
		return 2;
	}
	n = atoi(argv[4]);
	if (n < 1 || n > 16)
		return 2;
	if (lgfs_key_load(&key, argv[3])) {
		fprintf(stderr, "key: %s\n", lgfs_error_last());
		return 1;
	}
	if (lgfs_ledger_open(&ledger, argv[1], argv[2], key, 0)) {
		fprintf(stderr, "open: %s\n", lgfs_error_last());
		return 1;
	}
	/* sequence numbers continue from the log's size so they stay unique */
	seq_next = lgfs_ledger_size(ledger) * 1000;
	for (i = 0; i < n; i++)
		pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return 0;
}
