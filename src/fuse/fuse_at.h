/*
 * fuse_at.h — serve a past state of a volume through FUSE (fuse layer).
 *
 * Like lgfs_fuse_run (ledgerfs/fuse.h), with the whole tree as it was at
 * log index `at` (history.h): read-only, every change EROFS, content read
 * through lgfs_past_*. The fs should be opened with LGFS_FS_RDONLY |
 * LGFS_FS_PRIVATE and o->rdonly set. Every mount, past or not, also has the
 * hidden directory /.ledgerfs (see fuse_ll.c).
 */
#ifndef LGFS_FUSE_AT_H
#define LGFS_FUSE_AT_H

#include <stdint.h>

#include "ledgerfs/fuse.h"

int lgfs_fuse_run_at(struct lgfs_fs *fs, const char *mountpoint, const struct lgfs_fuse_opts *o, uint64_t at);

#endif
