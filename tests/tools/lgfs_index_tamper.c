/*
 * lgfs_index_tamper.c — test tool: alters a volume's LMDB index behind the
 * file system's back, the way an intruder with disk access would, so that
 * tests can check audit notices.
 *
 *   lgfs_index_tamper VOLDIR repoint INO_A INO_B   file A now shows B's content
 *   lgfs_index_tamper VOLDIR ghost NAME            a file in / that no record made
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/index.h"

int main(int argc, char **argv)
{
	struct lgfs_index *x;
	struct lgfs_inode a, b;
	char dir[4096];
	MDB_txn *t;
	int rc;

	if (argc < 4) {
		fprintf(stderr, "usage: lgfs_index_tamper VOLDIR repoint INO_A INO_B | ghost NAME\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/index", argv[1]);
	if (lgfs_index_open(&x, dir, 0) || lgfs_index_begin(x, 0, &t)) {
		fprintf(stderr, "cannot open %s\n", dir);
		return 1;
	}
	if (!strcmp(argv[2], "repoint") && argc == 5) {
		if (lgfs_inode_get(x, t, strtoull(argv[3], NULL, 10), &a) ||
		    lgfs_inode_get(x, t, strtoull(argv[4], NULL, 10), &b)) {
			fprintf(stderr, "no such inode\n");
			return 1;
		}
		memcpy(a.manifest, b.manifest, 32);
		memcpy(a.sha256, b.sha256, 32);
		a.size = b.size;
		rc = lgfs_inode_put(x, t, &a);
	} else if (!strcmp(argv[2], "ghost")) {
		memset(&a, 0, sizeof(a));
		a.ino = 999999;
		a.mode = S_IFREG | 0644;
		a.nlink = 1;
		a.parent = 1;
		rc = lgfs_inode_put(x, t, &a);
		if (!rc)
			rc = lgfs_dirent_put(x, t, 1, argv[3], strlen(argv[3]), a.ino);
	} else {
		fprintf(stderr, "unknown operation\n");
		return 2;
	}
	if (rc || lgfs_index_commit(t)) {
		fprintf(stderr, "update failed\n");
		return 1;
	}
	lgfs_index_close(x);
	return 0;
}
