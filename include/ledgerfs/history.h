/*
 * history.h — the past of a volume: any earlier state, and the versions of
 * a path (fs layer).
 *
 * A point in history is a log index `at`: the state after the records
 * 0..at were applied (0 is the genesis record: an empty root directory).
 * Past states are read from the index's temporal tables (index.h: every
 * inode, directory entry and xattr keeps each value it held with the log
 * index from which it held), so reading the past is a lookup, never a
 * replay. What the past serves is as verified as the present: the index is
 * trusted only after the open verified it against the log (fs.c), and file
 * content is read through manifests whose chunks are checked as they are
 * read; lgfs_past_read checks the whole content's SHA-256 at its end.
 *
 * Functions return 0 or a negative errno. Points beyond the state the fs
 * holds are -ERANGE. Thread-safe like the rest of the fs layer.
 */
#ifndef LGFS_HISTORY_H
#define LGFS_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "ledgerfs/fs.h"

struct lgfs_ledger;
/* The fs's verified ledger (borrowed): to read records (lgfs_ledger_read). */
struct lgfs_ledger *lgfs_fs_ledger(struct lgfs_fs *fs);

/* How many log entries the fs's state reflects: valid points are
 * 0..entries-1. */
uint64_t lgfs_fs_entries(struct lgfs_fs *fs);

/* Resolve a point given by a person:
 *   "1234"                  a log index;
 *   "2026-11-23T10:00:00Z"  an RFC 3339 time (offsets and fractions allowed):
 *                           the state after the last record at or before it;
 *   "/a/b@3"                version 3 of that path as lgfs_fs_history numbers
 *                           them: the state right after that version's record.
 * -EINVAL (message in lgfs_error_last()) when it cannot be parsed, -ERANGE
 * (message) for a time before the genesis record or an index or version
 * beyond the end. */
int lgfs_fs_point(struct lgfs_fs *fs, const char *spec, uint64_t *at);

/* The namespace at point `at`: like lgfs_fs_lookup/getattr/readlink/
 * getxattr/listxattr/resolve, of that state. */
int lgfs_past_lookup(struct lgfs_fs *fs, uint64_t at, uint64_t parent, const char *name, struct lgfs_stat *st);
int lgfs_past_getattr(struct lgfs_fs *fs, uint64_t at, uint64_t ino, struct lgfs_stat *st);
int lgfs_past_readlink(struct lgfs_fs *fs, uint64_t at, uint64_t ino, char *buf, size_t cap, size_t *len);
int lgfs_past_getxattr(struct lgfs_fs *fs, uint64_t at, uint64_t ino, const char *name, void *buf, size_t cap,
		       size_t *len);
int lgfs_past_listxattr(struct lgfs_fs *fs, uint64_t at, uint64_t ino, char *buf, size_t cap, size_t *len);
int lgfs_past_resolve(struct lgfs_fs *fs, uint64_t at, const char *path, uint64_t *ino);
/* A path of inode `ino` at `at` ("/" for the root): raw name bytes (escape
 * them for people), NUL-terminated; -ENOENT when it had no name then,
 * -ENAMETOOLONG when cap is too small. A file with several hard links gets
 * the name it was last given. */
int lgfs_past_path(struct lgfs_fs *fs, uint64_t at, uint64_t ino, char *out, size_t cap);
/* The parent directory of a directory at `at` (the root is its own). */
int lgfs_past_parent(struct lgfs_fs *fs, uint64_t at, uint64_t dir, uint64_t *parent);

/* Entries of directory `dir` at `at` with names after `after` (all when
 * after is NULL), in name order ("." and ".." are not entries). cb returns
 * non-zero to stop; that value is returned. */
typedef int (*lgfs_past_dir_cb)(void *arg, const char *name, size_t len, const struct lgfs_stat *st);
int lgfs_past_readdir(struct lgfs_fs *fs, uint64_t at, uint64_t dir, const char *after, size_t after_len,
		      lgfs_past_dir_cb cb, void *arg);

/* What identifies the content a regular file had at `at`: the SHA-256 of
 * its bytes (all zero for files over the hole limit, which carry none) and
 * its manifest id (all zero: empty); either may be NULL. Two versions with
 * the same manifest id have the same bytes. -EISDIR / -EINVAL for others. */
int lgfs_past_content(struct lgfs_fs *fs, uint64_t at, uint64_t ino, uint8_t sha256[32], uint8_t manifest[32]);

/* The content a regular file had at `at`. Reads check every chunk; the read
 * that reaches the end of the file also checks the SHA-256 of the whole
 * content when every byte was read through this handle in order (-EIO with
 * a message when it differs). */
struct lgfs_past_file;
int lgfs_past_open(struct lgfs_fs *fs, uint64_t at, uint64_t ino, struct lgfs_past_file **out);
int lgfs_past_read(struct lgfs_past_file *f, uint64_t off, void *buf, size_t size, size_t *got);
uint64_t lgfs_past_size(const struct lgfs_past_file *f);
void lgfs_past_close(struct lgfs_past_file *f);

/* One version of a path: a record after which what the path shows changed
 * (it came to name a file, that file's content or attributes changed, or
 * it stopped naming anything). */
struct lgfs_path_version {
	uint64_t n;          /* 1, 2, ...: "PATH@n" */
	uint64_t index;      /* the record's log index */
	uint16_t op;         /* its operation (enum lgfs_op) */
	int present;         /* 0: after this record the path names nothing (removed, renamed away) */
	struct lgfs_stat st; /* what the path names after the record (when present) */
	uint8_t sha256[32];  /* regular files: SHA-256 of the content (zero for an empty file) */
	int64_t time_ns;     /* the record's time, author and acting identity */
	uint8_t author[32];
	uint32_t uid, gid;
	char path[4096];     /* the path at that version (differs from the one asked with follow) */
};
/* Every version of `path`, in log order. follow == 0: what was at that path
 * over time, across inode changes (replace by rename), renames of the file
 * or of a parent directory, removal and re-creation. follow != 0: the file
 * that is (or, when it is gone, last was) at the path, under every name it
 * had. cb returns non-zero to stop (returned). -ENOENT when the path never
 * named anything. */
typedef int (*lgfs_history_cb)(void *arg, const struct lgfs_path_version *v);
int lgfs_fs_history(struct lgfs_fs *fs, const char *path, int follow, lgfs_history_cb cb, void *arg);

/* Make `path` what it was at `at` by appending new records (history is
 * never rewritten): a file gets that content, mode, owner, times and
 * xattrs; a directory gets its whole tree back (deleted entries re-created,
 * entries added since removed, symlinks, hard links within the tree).
 * `path` may not exist now (it is re-created) and must have existed at
 * `at` (-ENOENT). *records gets how many records it appended. Not on a
 * read-only fs (-EROFS). */
int lgfs_fs_revert(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, const char *path, uint64_t at,
		   uint64_t *records);

#endif
