/*
 * test_ledger.c — volumes and the ledger: create, append (alone and from
 * many threads at once), reopen, checkpoints that verify against the
 * founder's key, and a clean audit of what was written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "ledgerfs/audit.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/ledger.h"
#include "ledgerfs/merkle.h"
#include "ledgerfs/note.h"

struct fixture {
	char dir[64];
	struct lgfs_key *key;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/lgfs-test-ledger-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
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

static void create(struct fixture *f, const char *name)
{
	struct lgfs_policy pol = { LGFS_DEFAULT_THRESHOLD, LGFS_DEFAULT_RETENTION_S };
	struct lgfs_volume_info info;

	assert_int_equal(lgfs_volume_create(&info, f->dir, name, f->key, &pol, 1000, 1000), 0);
	assert_string_equal(info.name, name);
	assert_int_equal(strncmp(info.origin, "ledgerfs/", 9), 0);
}

static void note_record(struct lgfs_record *r, const char *text)
{
	lgfs_record_init(r, LGFS_OP_NOTE);
	r->uid = 1;
	r->gid = 2;
	assert_int_equal(lgfs_record_add_str(r, LGFS_F_REASON, text), 0);
}

static int count_cb(void *arg, const char *name)
{
	(void)name;
	(*(int *)arg)++;
	return 0;
}

static int cp_count_cb(void *arg, const char *note, size_t len)
{
	(void)note;
	(void)len;
	(*(int *)arg)++;
	return 0;
}

static void test_create_and_list(void **state)
{
	struct fixture *f = *state;
	struct lgfs_policy pol = { 51, 1 };
	struct lgfs_volume_info info;
	struct lgfs_ledger *l;
	char *vd;
	int n = 0;

	create(f, "alpha");
	create(f, "beta");
	assert_int_equal(lgfs_volume_create(&info, f->dir, "alpha", f->key, &pol, 0, 0), LGFS_EEXISTS);
	assert_int_equal(lgfs_volume_create(&info, f->dir, "../x", f->key, &pol, 0, 0), LGFS_EINVAL);
	assert_int_equal(lgfs_volume_create(&info, f->dir, ".hidden", f->key, &pol, 0, 0), LGFS_EINVAL);
	pol.threshold = 0;
	assert_int_equal(lgfs_volume_create(&info, f->dir, "gamma", f->key, &pol, 0, 0), LGFS_EINVAL);
	assert_int_equal(lgfs_volume_list(f->dir, count_cb, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "alpha", NULL, LGFS_LEDGER_RDONLY), 0);
	assert_int_equal(lgfs_ledger_size(l), 1);
	assert_string_equal(lgfs_ledger_info(l)->founder_name, "founder@test");
	assert_memory_equal(lgfs_ledger_info(l)->founder, lgfs_key_public(f->key), 32);
	assert_int_equal(lgfs_ledger_info(l)->policy.threshold, LGFS_DEFAULT_THRESHOLD);
	lgfs_ledger_close(l);
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "nope", NULL, LGFS_LEDGER_RDONLY), LGFS_ENOTFOUND);
	assert_int_equal(lgfs_volume_dir(&vd, f->dir, "a/b"), LGFS_EINVAL);
}

static void test_append_reopen(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l;
	struct lgfs_record r[10], *rp[10];
	struct lgfs_key *other;
	int i;

	create(f, "v");
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "v", f->key, 0), 0);
	for (i = 0; i < 10; i++) {
		note_record(&r[i], "hello");
		rp[i] = &r[i];
	}
	assert_int_equal(lgfs_ledger_append(l, rp, 10), 0);
	for (i = 0; i < 10; i++)
		assert_int_equal(r[i].index, 1 + i);
	assert_int_equal(lgfs_ledger_size(l), 11);
	/* a genesis record can only be first; reserved families are refused */
	lgfs_record_init(&r[0], LGFS_OP_SHRED);
	assert_int_equal(lgfs_record_add_u64(&r[0], LGFS_F_REF, 1), 0);
	assert_int_equal(lgfs_ledger_append(l, rp, 1), LGFS_EINVAL);
	/* a record that does not fit its schema fails alone, nothing is written */
	lgfs_record_init(&r[0], LGFS_OP_UNLINK);
	assert_int_equal(lgfs_ledger_append(l, rp, 1), LGFS_EINVAL);
	assert_int_equal(lgfs_ledger_size(l), 11);
	lgfs_ledger_close(l);

	/* reopen: size and chain continue */
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "v", f->key, 0), 0);
	assert_int_equal(lgfs_ledger_size(l), 11);
	note_record(&r[0], "after reopen");
	assert_int_equal(lgfs_ledger_append(l, rp, 1), 0);
	assert_int_equal(r[0].index, 11);
	lgfs_ledger_close(l);

	/* a key that is not a member may not write; a public key cannot sign */
	assert_int_equal(lgfs_key_generate(&other, "stranger"), 0);
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "v", other, 0), LGFS_EPERM);
	lgfs_key_free(other);
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "v", NULL, 0), LGFS_EINVAL);
	/* read-only refuses appends */
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "v", NULL, LGFS_LEDGER_RDONLY), 0);
	assert_int_equal(lgfs_ledger_append(l, rp, 1), LGFS_EROFS);
	lgfs_ledger_close(l);
}

struct reader_ctx {
	uint64_t next;
	uint8_t prev[32];
	int64_t last_time;
};

static int check_entry(void *arg, const struct lgfs_ledger_entry *e)
{
	struct reader_ctx *c = arg;
	uint8_t com[32];

	assert_int_equal(e->index, c->next);
	assert_int_equal(e->env.index, e->index);
	assert_memory_equal(e->env.prev, c->prev, 32);
	assert_true(e->env.time_ns >= c->last_time);
	assert_non_null(e->rec);
	lgfs_record_commitment(com, e->record, e->record_len);
	assert_memory_equal(com, e->env.commitment, 32);
	assert_int_equal(e->rec->index, e->index);
	lgfs_envelope_hash(c->prev, e->envelope);
	c->last_time = e->env.time_ns;
	c->next++;
	return 0;
}

struct thread_arg {
	struct lgfs_ledger *l;
	int n;
	int failures;
};

static void *appender(void *p)
{
	struct thread_arg *t = p;
	int i;

	for (i = 0; i < t->n; i++) {
		struct lgfs_record r, *rp = &r;

		lgfs_record_init(&r, LGFS_OP_NOTE);
		lgfs_record_add_str(&r, LGFS_F_REASON, "concurrent");
		if (lgfs_ledger_append(t->l, &rp, 1))
			t->failures++;
	}
	return NULL;
}

/* Eight threads append at once: every record lands exactly once, the
 * chain holds, and the group commit made fewer checkpoints than records. */
static void test_concurrent_group_commit(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l;
	struct thread_arg ta[8];
	pthread_t th[8];
	struct reader_ctx rc;
	int i, ncp = 0;
	char *vd;

	create(f, "c");
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "c", f->key, 0), 0);
	for (i = 0; i < 8; i++) {
		ta[i].l = l;
		ta[i].n = 200;
		ta[i].failures = 0;
		assert_int_equal(pthread_create(&th[i], NULL, appender, &ta[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(ta[i].failures, 0);
	}
	assert_int_equal(lgfs_ledger_size(l), 1 + 8 * 200);
	memset(&rc, 0, sizeof(rc));
	assert_int_equal(lgfs_ledger_read(l, 0, lgfs_ledger_size(l), check_entry, &rc), 0);
	assert_int_equal(rc.next, 1601);
	lgfs_ledger_close(l);
	assert_int_equal(lgfs_volume_dir(&vd, f->dir, "c"), 0);
	assert_int_equal(lgfs_checkpoints_each(vd, cp_count_cb, &ncp), 0);
	assert_true(ncp >= 2);
	assert_true(ncp < 1600); /* batches shared an fdatasync and a checkpoint */
	free(vd);
}

/* The latest checkpoint is a signed note over origin, size and the root of
 * the log, verifiable with the founder's public key alone. */
static void test_checkpoint_verifies(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l;
	struct lgfs_record r, *rp = &r;
	struct lgfs_note *n = NULL;
	struct lgfs_checkpoint cp;
	struct lgfs_key *pub;
	const struct lgfs_key *who = NULL;
	char *note = NULL, *note2 = NULL;
	uint8_t root[32];
	int i;

	create(f, "cp");
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "cp", f->key, 0), 0);
	for (i = 0; i < 5; i++) {
		note_record(&r, "x");
		assert_int_equal(lgfs_ledger_append(l, &rp, 1), 0);
	}
	assert_int_equal(lgfs_ledger_checkpoint_latest(l, &note), 0);
	assert_int_equal(lgfs_note_parse(&n, note, strlen(note)), 0);
	assert_int_equal(lgfs_checkpoint_parse(&cp, n->text, n->text_len), 0);
	assert_int_equal(cp.size, 6);
	assert_string_equal(cp.origin, lgfs_ledger_info(l)->origin);
	assert_int_equal(lgfs_ledger_root(l, 6, root), 0);
	assert_memory_equal(root, cp.root, 32);
	assert_int_equal(lgfs_key_from_public(&pub, "founder@test", lgfs_key_public(f->key)), 0);
	assert_int_equal(lgfs_note_verify(n, &pub, 1, &who), 0);
	assert_ptr_equal(who, pub);
	lgfs_note_free(n);
	/* on demand */
	assert_int_equal(lgfs_ledger_checkpoint_new(l, &note2), 0);
	assert_string_equal(note, note2); /* same size: only the signature could differ, Ed25519 is deterministic */
	free(note);
	free(note2);
	lgfs_ledger_close(l);
	/* read-only: same latest, roots from an in-memory tree */
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "cp", NULL, LGFS_LEDGER_RDONLY), 0);
	assert_int_equal(lgfs_ledger_checkpoint_latest(l, &note), 0);
	assert_int_equal(lgfs_ledger_root(l, 6, root), 0);
	assert_memory_equal(root, cp.root, 32);
	assert_int_equal(lgfs_ledger_root(l, 7, root), LGFS_ERANGE);
	assert_int_equal(lgfs_ledger_checkpoint_new(l, &note2), LGFS_EROFS);
	free(note);
	lgfs_ledger_close(l);
	lgfs_key_free(pub);
}

/* A damaged derived tree file is rebuilt from the log at open. */
static void test_tree_rebuilt(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l;
	struct lgfs_record r, *rp = &r;
	char path[256];
	uint8_t before[32], after[32];
	FILE *fp;
	int i;

	create(f, "t");
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "t", f->key, 0), 0);
	for (i = 0; i < 20; i++) {
		note_record(&r, "y");
		assert_int_equal(lgfs_ledger_append(l, &rp, 1), 0);
	}
	assert_int_equal(lgfs_ledger_root(l, 21, before), 0);
	lgfs_ledger_close(l);
	snprintf(path, sizeof(path), "%s/volumes/t/tree", f->dir);
	fp = fopen(path, "r+b");
	assert_non_null(fp);
	fseek(fp, 64, SEEK_SET);
	fputc(0x42, fp);
	fclose(fp);
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "t", f->key, 0), 0);
	assert_int_equal(lgfs_ledger_root(l, 21, after), 0);
	assert_memory_equal(before, after, 32);
	lgfs_ledger_close(l);
	/* and a deleted one too */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "t", f->key, 0), 0);
	assert_int_equal(lgfs_ledger_root(l, 21, after), 0);
	assert_memory_equal(before, after, 32);
	lgfs_ledger_close(l);
}

static void test_audit_clean(void **state)
{
	struct fixture *f = *state;
	struct lgfs_ledger *l;
	struct lgfs_record r[50], *rp[50];
	struct lgfs_audit_report rep;
	char *vd;
	int i;

	create(f, "a");
	assert_int_equal(lgfs_ledger_open(&l, f->dir, "a", f->key, 0), 0);
	for (i = 0; i < 50; i++) {
		note_record(&r[i], "audit me");
		rp[i] = &r[i];
	}
	for (i = 0; i < 5; i++)
		assert_int_equal(lgfs_ledger_append(l, rp, 50), 0);
	lgfs_ledger_close(l);
	assert_int_equal(lgfs_volume_dir(&vd, f->dir, "a"), 0);
	assert_int_equal(lgfs_audit_volume(&rep, vd, NULL), 0);
	assert_int_equal(rep.nfindings, 0);
	assert_int_equal(rep.entries, 251);
	assert_int_equal(rep.signatures, 251);
	assert_true(rep.checkpoints >= 2);
	assert_int_equal(rep.first_bad, LGFS_NO_INDEX);
	lgfs_audit_report_free(&rep);
	free(vd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_verifies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_rebuilt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_clean, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
