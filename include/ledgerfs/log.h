/*
 * log.h — the log store interface (store layer).
 *
 * A log is an append-only sequence of entries numbered 0, 1, 2, ...; each
 * entry is an envelope plus, optionally, its plaintext record. The store
 * knows nothing about what the bytes mean: it keeps them, in order, durably,
 * and detects damage with its own frame checks. Implementations are chosen
 * by URI scheme (file:// now, nats:// in cluster mode) and embed struct
 * lgfs_log as their first member.
 */
#ifndef LGFS_LOG_H
#define LGFS_LOG_H

#include <stddef.h>
#include <stdint.h>

#define LGFS_LOG_MAX_ENVELOPE 4096      /* bytes */
#define LGFS_LOG_MAX_RECORD (1u << 20)  /* bytes */

/* One entry as handed to append or to a read callback. In a callback the
 * pointers are borrowed and valid only during the call. */
struct lgfs_log_entry {
	uint64_t index;
	const uint8_t *envelope;
	size_t envelope_len;   /* 1..LGFS_LOG_MAX_ENVELOPE */
	const uint8_t *record; /* may be NULL when record_len == 0 (withheld) */
	size_t record_len;     /* 0..LGFS_LOG_MAX_RECORD */
};

/* Read callback: return 0 to go on, anything else stops the read and is
 * returned by read(). */
typedef int (*lgfs_log_cb)(void *arg, const struct lgfs_log_entry *e);

enum lgfs_log_flags {
	LGFS_LOG_RDONLY = 1 << 0, /* never write, never repair; damage is reported */
	LGFS_LOG_CREATE = 1 << 1, /* create an empty log if none exists */
	/* A writable open leaves a torn tail on disk (torn_bytes > 0) and
	 * refuses appends until the caller, having decided that the tail is
	 * a torn write and not a cut-back of something a checkpoint covered,
	 * calls lgfs_log_cut_torn(). Without this flag a writable open still
	 * cuts the tail itself (the behaviour callers had before the flag);
	 * that default is transitional and will go away. */
	LGFS_LOG_KEEP_TORN = 1 << 2,
};

struct lgfs_log {
	unsigned int version; /* of this struct; only ever append fields */
	const char *scheme;   /* "file" */

	/* Append n entries with indexes expected, expected+1, ...: written and
	 * made durable (one sync for the whole batch) before it returns 0.
	 * LGFS_ECONFLICT if the log's size is not `expected` (nothing written). */
	int (*append)(struct lgfs_log *l, uint64_t expected, const struct lgfs_log_entry *e, size_t n);

	/* Call cb for entries [from, from+count) in order. LGFS_ERANGE if the
	 * range goes past the size; LGFS_ECORRUPT (message names the index and
	 * place) at the first entry whose frame is damaged. */
	int (*read)(struct lgfs_log *l, uint64_t from, uint64_t count, lgfs_log_cb cb, void *arg);

	/* Number of entries (the next index). */
	int (*size)(struct lgfs_log *l, uint64_t *out);

	void (*close)(struct lgfs_log *l);

	/* Set at open (read-only opens only; a writable open refuses a damaged
	 * log with LGFS_ECORRUPT): */
	uint64_t damaged_at;  /* index of the first damaged entry, UINT64_MAX if none */
	char damage[256];     /* what is wrong there, for reports */
	uint64_t torn_bytes;  /* bytes of an incomplete tail ignored (RDONLY), cut (RW), or left
			       * for cut_torn (RW with LGFS_LOG_KEEP_TORN) */

	/* version >= 2: */
	/* Index of the frame the torn tail starts with (always the log's size)
	 * when its first bytes are a valid frame header for that index, so the
	 * caller can tell whether a checkpoint covered that entry; UINT64_MAX
	 * when the torn bytes do not start with a valid header (or no tail). */
	uint64_t torn_index;
	/* Cut the torn tail found at open (ftruncate to the last valid frame,
	 * then fsync), exactly what a writable open without
	 * LGFS_LOG_KEEP_TORN does by itself; appends are allowed afterwards.
	 * 0 when there is nothing to cut; LGFS_EROFS on a read-only log. */
	int (*cut_torn)(struct lgfs_log *l);
};

/* Open a log by URI: "file:///abs/dir" or a plain directory path. */
int lgfs_log_open(struct lgfs_log **out, const char *uri, int flags);

/* Wrappers that check for NULL methods. */
int lgfs_log_append(struct lgfs_log *l, uint64_t expected, const struct lgfs_log_entry *e, size_t n);
int lgfs_log_read(struct lgfs_log *l, uint64_t from, uint64_t count, lgfs_log_cb cb, void *arg);
int lgfs_log_size(struct lgfs_log *l, uint64_t *out);
void lgfs_log_close(struct lgfs_log *l);
/* See struct lgfs_log.cut_torn. */
int lgfs_log_cut_torn(struct lgfs_log *l);

/* 1 if a writer holds the file:// log in `dir` (its lock is taken), 0 if
 * not, < 0 on error. Reads and changes nothing else. */
int lgfs_log_file_busy(const char *dir);

/* file:// implementation, for direct use and tests. */
int lgfs_log_file_open(struct lgfs_log **out, const char *dir, int flags);

#endif
