/*
 * error.h — the one error convention of ledgerfs (util layer).
 *
 * Every function that can fail returns int: 0 on success, a negative LGFS_E*
 * code on failure. A human-readable message for the last failure of the
 * calling thread is kept in thread-local state: the function that detects a
 * problem sets it with lgfs_error_set(); callers may prefix context with
 * lgfs_error_wrap(). Library code never prints and never exits; only cli/ does.
 */
#ifndef LGFS_ERROR_H
#define LGFS_ERROR_H

#include <stdarg.h>

enum lgfs_error_code {
	LGFS_OK = 0,
	LGFS_ERROR = -1,     /* generic failure, see message */
	LGFS_ENOMEM = -2,    /* allocation failed */
	LGFS_EIO = -3,       /* system call failed (errno in message) */
	LGFS_ENOTFOUND = -4, /* no such volume, key, record, chunk ... */
	LGFS_EEXISTS = -5,   /* refusing to overwrite something that exists */
	LGFS_ECORRUPT = -6,  /* stored data fails a structural or hash check */
	LGFS_EBADSIG = -7,   /* a signature does not verify */
	LGFS_EINVAL = -8,    /* bad argument or malformed input */
	LGFS_ECONFLICT = -9, /* compare-and-append: expected index is not next */
	LGFS_ENOSPC = -10,   /* the store's disk is full */
	LGFS_EPERM = -11,    /* not allowed (key permissions, membership, rights) */
	LGFS_ERANGE = -12,   /* index or size out of range */
	LGFS_EBUSY = -13,    /* volume locked by another writer */
	LGFS_EROFS = -14,    /* opened read-only */
};

/* Set the calling thread's error message (printf-style); returns `code` so a
 * caller can write `return lgfs_error_set(LGFS_EINVAL, "bad %s", x);`. */
int lgfs_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Like lgfs_error_set with errno's text appended (": <strerror>"). Maps ENOSPC
 * and EDQUOT to LGFS_ENOSPC, ENOENT to LGFS_ENOTFOUND, else `code`. */
int lgfs_error_errno(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prefix the current message with context ("opening log: <old message>");
 * returns `code` unchanged. */
int lgfs_error_wrap(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The calling thread's last message; borrowed, valid until the next
 * lgfs_error_* call on this thread. Never NULL. */
const char *lgfs_error_last(void);

/* Clear the message. */
void lgfs_error_clear(void);
/* 1 when a message was set since the last clear (lgfs_error_last() says
 * "unknown error" otherwise). */
int lgfs_error_isset(void);

/* Short name of a code ("ECORRUPT"). Static string. */
const char *lgfs_error_name(int code);

#endif
