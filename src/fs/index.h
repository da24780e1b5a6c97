/*
 * index.h — the LMDB index: the volume's current and past namespace,
 * attributes and versions, derived from the log (fs layer, private).
 *
 * The index is a cache of the log: it can always be rebuilt by replaying
 * the log, it is stamped with how many log entries it reflects and with
 * the last one's envelope hash, and audit never trusts it. Functions return
 * 0 or a negative errno (the fs layer speaks errno).
 *
 * Databases (keys big-endian so LMDB's byte order is numeric order):
 *   meta      "applied" -> u64 entries reflected; "last" -> 32-byte envelope hash;
 *             "layout" -> u32 layout version of the values below;
 *             "founder" -> the founder's public key (from the genesis record)
 *   inodes    u64 ino -> struct lgfs_inode
 *   dirents   u64 parent || name -> u64 ino
 *   symlinks  u64 ino -> target bytes
 *   xattrs    u64 ino || name -> value
 *   versions  u64 ino || u64 log index -> struct lgfs_version
 *
 * The temporal tables keep every value the tables above ever held, keyed by
 * the log index of the record that set it (`cur` below): the value held
 * from that index until the next key of the same prefix. A past state is a
 * lookup: the greatest key of the prefix at or before the point. Names
 * hold no NUL byte, so "name 0x00" ends a name unambiguously and keeps all
 * keys of one name together, ordered by index.
 *   h_inodes  u64 ino || u64 index -> the inode's changing fields (index.c:
 *             struct past_inode; the rest from inodes and versions)
 *   h_dirents u64 parent || name || 0x00 || u64 index -> u64 ino, or empty: removed
 *   h_xattrs  u64 ino || name || 0x00 || u64 index -> 0x01 || value, or empty: removed
 *   h_names   u64 ino || u64 index -> u64 parent || name: the name it was given then
 * Symlink targets never change (symlinks).
 *   policy    u64 index of a RETENTION or HOLD record -> what it set and, once
 *             lifted or released, the index of the record that did it
 *             (policy.c); past policy states read that index against the point
 */
#ifndef LGFS_FS_INDEX_H
#define LGFS_FS_INDEX_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#define LGFS_INDEX_LAYOUT 6

/* One inode (host byte order: the index is a local cache). */
struct lgfs_inode {
	uint64_t ino;
	uint32_t mode, uid, gid, nlink;
	uint64_t size;
	uint64_t rdev;
	int64_t atime, mtime, ctime, btime; /* ns since the epoch */
	uint8_t manifest[32];  /* content manifest id; all zero: empty, never written */
	uint8_t sha256[32];    /* SHA-256 of the content */
	uint64_t version;      /* log index of the last content record, 0 if none */
	uint64_t created;      /* log index of the creating record */
	uint64_t parent;       /* directories: their one parent; others: where created */
	uint64_t allocated;    /* regular files: content bytes stored, holes excluded */
};

/* One content version of a file. */
struct lgfs_version {
	uint64_t size;
	uint8_t manifest[32];
	uint8_t sha256[32];
	int64_t mtime;
	uint32_t op;           /* the record's operation (write or truncate) */
	uint32_t pad;
};

struct lgfs_index {
	MDB_env *env;
	MDB_dbi meta, inodes, dirents, symlinks, xattrs, versions;
	MDB_dbi h_inodes, h_dirents, h_xattrs, h_names;
	MDB_dbi policy; /* u64 index of a RETENTION or HOLD record -> its state (policy.c) */
	uint8_t founder[32]; /* meta "founder", read once (apply.c) */
	int have_founder;
	int rdonly;
	/* The log index of the record being applied: the key of the temporal
	 * entries the writes below make (set by lgfs_apply; write transactions
	 * are serialised by LMDB, so one field is enough). */
	uint64_t cur;
};

/* Open (creating when writable) the index in directory `dir`. */
int lgfs_index_open(struct lgfs_index **out, const char *dir, int rdonly);
void lgfs_index_close(struct lgfs_index *x);

int lgfs_index_begin(struct lgfs_index *x, int rdonly, MDB_txn **out);
int lgfs_index_commit(MDB_txn *t);
/* Empty every database (before a rebuild). */
int lgfs_index_clear(struct lgfs_index *x, MDB_txn *t);

/* The stamp (`last` below) of an index that reflects the log up to a record
 * whose bytes are `record` (len 0: its plaintext is absent): the record's
 * salt, its first 16 bytes, unique per record; zeros without a record. */
void lgfs_index_stamp(uint8_t out[32], const uint8_t *record, size_t len);
int lgfs_index_applied(struct lgfs_index *x, MDB_txn *t, uint64_t *applied, uint8_t last[32]);
int lgfs_index_set_applied(struct lgfs_index *x, MDB_txn *t, uint64_t applied, const uint8_t last[32]);

int lgfs_inode_get(struct lgfs_index *x, MDB_txn *t, uint64_t ino, struct lgfs_inode *out);
int lgfs_inode_put(struct lgfs_index *x, MDB_txn *t, const struct lgfs_inode *in);
/* One inode, in a read transaction of its own. */
int lgfs_inode_read(struct lgfs_index *x, uint64_t ino, struct lgfs_inode *out);

/* -ENOENT when absent. */
int lgfs_dirent_get(struct lgfs_index *x, MDB_txn *t, uint64_t parent, const char *name, size_t len,
		    uint64_t *ino);
int lgfs_dirent_put(struct lgfs_index *x, MDB_txn *t, uint64_t parent, const char *name, size_t len,
		    uint64_t ino);
int lgfs_dirent_del(struct lgfs_index *x, MDB_txn *t, uint64_t parent, const char *name, size_t len);
/* 1 if the directory has no entries, 0 if it has, < 0 on error. */
int lgfs_dir_empty(struct lgfs_index *x, MDB_txn *t, uint64_t dir);
/* Entries of `dir` with names > `after` (all when after_len == 0 and after
 * is NULL), in name order; cb returns non-zero to stop (returned). */
typedef int (*lgfs_dirent_cb)(void *arg, const char *name, size_t len, uint64_t ino);
int lgfs_dir_each(struct lgfs_index *x, MDB_txn *t, uint64_t dir, const char *after, size_t after_len,
		  lgfs_dirent_cb cb, void *arg);

int lgfs_symlink_get(struct lgfs_index *x, MDB_txn *t, uint64_t ino, const void **target, size_t *len);
int lgfs_symlink_put(struct lgfs_index *x, MDB_txn *t, uint64_t ino, const void *target, size_t len);

int lgfs_xattr_get(struct lgfs_index *x, MDB_txn *t, uint64_t ino, const char *name, const void **val,
		   size_t *len);
int lgfs_xattr_put(struct lgfs_index *x, MDB_txn *t, uint64_t ino, const char *name, const void *val,
		   size_t len);
int lgfs_xattr_del(struct lgfs_index *x, MDB_txn *t, uint64_t ino, const char *name);
typedef int (*lgfs_xattr_cb)(void *arg, const char *name, size_t len);
int lgfs_xattr_each(struct lgfs_index *x, MDB_txn *t, uint64_t ino, lgfs_xattr_cb cb, void *arg);

int lgfs_version_put(struct lgfs_index *x, MDB_txn *t, uint64_t ino, uint64_t index,
		     const struct lgfs_version *v);

/* ---- the past (temporal tables; `at` is a log index, see history.h) ---- */

/* -ENOENT when the inode did not exist at `at`. */
int lgfs_inode_get_at(struct lgfs_index *x, MDB_txn *t, uint64_t ino, uint64_t at, struct lgfs_inode *out);
int lgfs_dirent_get_at(struct lgfs_index *x, MDB_txn *t, uint64_t parent, const char *name, size_t len,
		       uint64_t at, uint64_t *ino);
/* Entries of `dir` at `at` with names > after (all when after_len is 0),
 * in name order; cb as for lgfs_dir_each. */
int lgfs_dir_each_at(struct lgfs_index *x, MDB_txn *t, uint64_t dir, uint64_t at, const char *after,
		     size_t after_len, lgfs_dirent_cb cb, void *arg);
/* -ENODATA when absent at `at`. */
int lgfs_xattr_get_at(struct lgfs_index *x, MDB_txn *t, uint64_t ino, const char *name, uint64_t at,
		      const void **val, size_t *len);
int lgfs_xattr_each_at(struct lgfs_index *x, MDB_txn *t, uint64_t ino, uint64_t at, lgfs_xattr_cb cb,
		       void *arg);
/* The name ino was last given at or before `at` (not checked to still
 * hold): *parent, name bytes (borrowed from t) and length. -ENOENT if none. */
int lgfs_name_get_at(struct lgfs_index *x, MDB_txn *t, uint64_t ino, uint64_t at, uint64_t *parent,
		     const char **name, size_t *len);
/* Every name ino was given in [from, to], in log order (cb: its index,
 * parent, name). */
typedef int (*lgfs_name_cb)(void *arg, uint64_t index, uint64_t parent, const char *name, size_t len);
int lgfs_names_each(struct lgfs_index *x, MDB_txn *t, uint64_t ino, uint64_t from, uint64_t to, lgfs_name_cb cb,
		    void *arg);
/* Changes in [from, to] of one inode / one directory entry, in log order.
 * The callbacks return non-zero to stop (returned). A removed entry has
 * ino 0 (inode numbers start at 1). */
typedef int (*lgfs_inode_change_cb)(void *arg, uint64_t index, const struct lgfs_inode *in);
int lgfs_inode_changes(struct lgfs_index *x, MDB_txn *t, uint64_t ino, uint64_t from, uint64_t to,
		       lgfs_inode_change_cb cb, void *arg);
typedef int (*lgfs_dirent_change_cb)(void *arg, uint64_t index, uint64_t ino);
int lgfs_dirent_changes(struct lgfs_index *x, MDB_txn *t, uint64_t parent, const char *name, size_t len,
			uint64_t from, uint64_t to, lgfs_dirent_change_cb cb, void *arg);

/* Walk every key/value of one database (audit compares index and replay). */
typedef int (*lgfs_kv_cb)(void *arg, const MDB_val *k, const MDB_val *v);
int lgfs_index_each(struct lgfs_index *x, MDB_txn *t, MDB_dbi dbi, lgfs_kv_cb cb, void *arg);
/* Look one key up in a database: 0, -ENOENT, or another -errno. */
int lgfs_index_get(struct lgfs_index *x, MDB_txn *t, MDB_dbi dbi, const MDB_val *k, MDB_val *v);

/* The first difference between the state databases of two indexes (the
 * stamp in meta is not compared). */
struct lgfs_index_diff {
	const char *what;   /* "inode", "directory entry", "symlink", "xattr", "version" (static) */
	uint64_t ino;       /* the key's inode: the inode, or the directory of an entry */
	char name[255];     /* directory entries: the entry's name (raw bytes, name_len of them) */
	size_t name_len;
	int only_in;        /* 1: only in the first index, 2: only in the second, 0: in both, different */
};
/* 0 when both hold the same state, 1 (and *out) at the first difference,
 * < 0 on error. */
int lgfs_index_diff(struct lgfs_index *a, MDB_txn *ta, struct lgfs_index *b, MDB_txn *tb,
		    struct lgfs_index_diff *out);
/* A path of ino for messages, names escaped ("/" for the root; a note
 * when it is not linked anywhere). */
void lgfs_index_path(struct lgfs_index *x, MDB_txn *t, uint64_t ino, char *out, size_t cap);

/* LMDB return code to -errno (MDB_NOTFOUND -> -ENOENT, MDB_MAP_FULL -> -ENOSPC, ...). */
int lgfs_index_errno(int mdb_rc);

#endif
