/*
 * fs_fixture.h — what the fs-layer tests share: a scratch store with one
 * volume "v" opened as a file system by a fresh key, and small helpers.
 * Header-only (static inline) so each test binary stays one file; include
 * it after cmocka.h.
 */
#ifndef LGFS_TEST_FS_FIXTURE_H
#define LGFS_TEST_FS_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledgerfs/error.h"
#include "ledgerfs/fs.h"
#include "ledgerfs/history.h"
#include "ledgerfs/key.h"
#include "ledgerfs/ledger.h"

struct fx {
	char dir[64];
	struct lgfs_key *key;
	struct lgfs_fs *fs;
	struct lgfs_fs_ctx ctx;
};

/* A volume under /tmp/lgfs-test-TAG-XXXXXX, its root owned by uid/gid and
 * changes made as them; open unless `open` is 0. */
static inline int fx_create(void **state, const char *tag, uint32_t uid, int open)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct lgfs_policy pol = { 51, 3600 };
	struct lgfs_volume_info info;
	char name[64];

	if (!f)
		return -1;
	*state = f;
	snprintf(f->dir, sizeof(f->dir), "/tmp/lgfs-test-%s-XXXXXX", tag);
	snprintf(name, sizeof(name), "%s@test", tag);
	if (!mkdtemp(f->dir) || lgfs_key_generate(&f->key, name) ||
	    lgfs_volume_create(&info, f->dir, "v", f->key, &pol, uid, uid) ||
	    (open && lgfs_fs_open(&f->fs, f->dir, "v", f->key, 0)))
		return -1;
	f->ctx.uid = uid;
	f->ctx.gid = uid;
	f->ctx.umask = 022;
	return 0;
}

static inline int fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	if (!f)
		return 0;
	if (f->fs)
		lgfs_fs_close(f->fs);
	lgfs_key_free(f->key);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (f->dir[0] && system(cmd))
		return -1;
	free(f);
	return 0;
}

/* Make path hold exactly s (parents created), as one new version through
 * lgfs_fs_put_fd; the log index of its last record. */
static inline uint64_t fx_put(struct fx *f, const char *path, const char *s)
{
	char tmp[] = "/tmp/lgfs-test-put-XXXXXX";
	struct lgfs_stat st;
	int fd = mkstemp(tmp);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	unlink(tmp);
	if (lgfs_fs_put_fd(f->fs, &f->ctx, path, fd, 0644, &st))
		fail_msg("put %s: %s", path, lgfs_error_last());
	close(fd);
	return lgfs_fs_entries(f->fs) - 1;
}

static inline uint64_t fx_ino(struct fx *f, const char *path)
{
	uint64_t ino;

	assert_int_equal(lgfs_fs_resolve(f->fs, path, &ino), 0);
	return ino;
}

#endif
