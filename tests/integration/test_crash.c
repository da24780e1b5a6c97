/*
 * test_crash.c — kill -9 an appending process at random moments, many
 * times: each time the volume must reopen, hold every append that was
 * acknowledged as durable (with the right content at the right index), and
 * pass a full audit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "ledgerfs/audit.h"
#include "ledgerfs/error.h"
#include "ledgerfs/ledger.h"

#define VOLUMES 6          /* a fresh volume every KILLS_PER_VOLUME kills keeps audits short */
#define KILLS_PER_VOLUME 10

static char tmpdir[64];
static char keypath[128];

struct acked {
	uint64_t *index;
	unsigned long long *seq;
	size_t n, cap;
};

static void acked_add(struct acked *a, uint64_t index, unsigned long long seq)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 1024;
		a->index = realloc(a->index, a->cap * sizeof(*a->index));
		a->seq = realloc(a->seq, a->cap * sizeof(*a->seq));
		assert_non_null(a->index);
		assert_non_null(a->seq);
	}
	a->index[a->n] = index;
	a->seq[a->n] = seq;
	a->n++;
}

/* Start the appender, let it run for `ms`, SIGKILL it; parse its acks. */
static void run_and_kill(const char *tool, const char *vol, int ms, struct acked *a)
{
	int pipefd[2], status;
	char buf[65536], carry[128] = "";
	size_t carried = 0;
	pid_t pid;
	ssize_t got;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		execl(tool, tool, tmpdir, vol, keypath, "2", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	usleep((useconds_t)ms * 1000);
	kill(pid, SIGKILL);
	while ((got = read(pipefd[0], buf, sizeof(buf))) > 0) {
		ssize_t i;

		for (i = 0; i < got; i++) {
			if (buf[i] != '\n') {
				if (carried < sizeof(carry) - 1)
					carry[carried++] = buf[i];
				continue;
			}
			carry[carried] = '\0';
			{
				unsigned long long idx, seq;

				assert_int_equal(sscanf(carry, "%llu %llu", &idx, &seq), 2);
				acked_add(a, idx, seq);
			}
			carried = 0;
		}
	}
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* killed by us, or exited on its own with an error (reported) */
	if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
		fail_msg("appender ended otherwise: status 0x%x", status);
}

struct check_ctx {
	struct acked *a;
	size_t pos; /* into the sorted acks */
	uint64_t checked;
};

static int cmp_idx(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

struct seq_probe {
	unsigned long long want;
	int found;
};

static int probe_cb(void *arg, const struct lgfs_ledger_entry *e)
{
	struct seq_probe *p = arg;
	const struct lgfs_arg *r = e->rec ? lgfs_record_arg(e->rec, LGFS_F_REASON) : NULL;
	char want[48];

	snprintf(want, sizeof(want), "seq-%llu", p->want);
	p->found = r && r->len == strlen(want) && !memcmp(r->data, want, r->len);
	return 0;
}

/* Every acknowledged append is at its index with its own content, and no
 * index was acknowledged twice. */
static void check_acked(const char *vol, struct acked *a)
{
	struct lgfs_ledger *l;
	uint64_t *order = malloc(a->n * sizeof(*order));
	size_t i;

	assert_non_null(order);
	assert_int_equal(lgfs_ledger_open(&l, tmpdir, vol, NULL, LGFS_LEDGER_RDONLY), 0);
	for (i = 0; i < a->n; i++)
		order[i] = a->index[i];
	qsort(order, a->n, sizeof(*order), cmp_idx);
	for (i = 1; i < a->n; i++)
		assert_true(order[i] != order[i - 1]);
	free(order);
	for (i = 0; i < a->n; i++) {
		struct seq_probe probe = { a->seq[i], 0 };

		assert_true(a->index[i] < lgfs_ledger_size(l));
		assert_int_equal(lgfs_ledger_read(l, a->index[i], 1, probe_cb, &probe), 0);
		if (!probe.found)
			fail_msg("%s: index %llu does not hold acknowledged seq %llu", vol,
				 (unsigned long long)a->index[i], probe.want);
	}
	lgfs_ledger_close(l);
}

static void test_kill9_loop(void **state)
{
	const char *build = getenv("LEDGERFS_BUILD");
	char tool[512];
	struct lgfs_policy pol = { 51, 3600 };
	struct lgfs_volume_info info;
	struct lgfs_key *key;
	unsigned int seed = (unsigned int)time(NULL);
	size_t total = 0;
	int v, round;

	(void)state;
	snprintf(tool, sizeof(tool), "%s/tests/tools/lgfs_appender", build ? build : "build");
	assert_int_equal(access(tool, X_OK), 0);
	assert_int_equal(lgfs_key_generate(&key, "crash@test"), 0);
	assert_int_equal(lgfs_key_save(key, keypath), 0);
	/* small segments so kills also land around segment rolls */
	setenv("LEDGERFS_LOG_SEGMENT_BYTES", "65536", 1);
	print_message("seed %u\n", seed);

	for (v = 0; v < VOLUMES; v++) {
		struct acked a = { 0 };
		char vol[32], vd[256];

		snprintf(vol, sizeof(vol), "crash%d", v);
		snprintf(vd, sizeof(vd), "%s/volumes/%s", tmpdir, vol);
		assert_int_equal(lgfs_volume_create(&info, tmpdir, vol, key, &pol, 0, 0), 0);
		for (round = 0; round < KILLS_PER_VOLUME; round++) {
			struct lgfs_ledger *l;
			struct lgfs_audit_report rep;
			uint64_t size;
			size_t i;

			run_and_kill(tool, vol, 20 + (int)(rand_r(&seed) % 200), &a);

			/* reopen for writing (cuts any torn tail): every ack is there */
			assert_int_equal(lgfs_ledger_open(&l, tmpdir, vol, key, 0), 0);
			size = lgfs_ledger_size(l);
			for (i = 0; i < a.n; i++)
				assert_true(a.index[i] < size);
			lgfs_ledger_close(l);

			assert_int_equal(lgfs_audit_volume(&rep, vd, NULL), 0);
			if (rep.nfindings)
				fail_msg("%s, kill %d: audit found %zu problems, first: %s", vol, round,
					 rep.nfindings, rep.nstored ? rep.findings[0].message : "?");
			assert_int_equal(rep.entries, size);
			lgfs_audit_report_free(&rep);
		}
		check_acked(vol, &a);
		total += a.n;
		free(a.index);
		free(a.seq);
	}
	assert_true(total > 100); /* the appender really acknowledged appends */
	print_message("%zu acknowledged appends over %d kills, all present\n", total,
		      VOLUMES * KILLS_PER_VOLUME);
	lgfs_key_free(key);
}

static int setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/lgfs-crash-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(keypath, sizeof(keypath), "%s/key", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kill9_loop, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
