/*
 * error.c — thread-local error messages (util layer). See error.h.
 */
#include "ledgerfs/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MSG_MAX 1024

static __thread char tls_msg[MSG_MAX];

/* tls_msg = a ": " b, cut to fit. */
static void compose(const char *a, const char *b)
{
	size_t na = strnlen(a, MSG_MAX - 1), nb;

	memmove(tls_msg, a, na);
	if (na + 2 < MSG_MAX) {
		memcpy(tls_msg + na, ": ", 2);
		na += 2;
		nb = strnlen(b, MSG_MAX - 1 - na);
		memmove(tls_msg + na, b, nb);
		na += nb;
	}
	tls_msg[na] = '\0';
}

int lgfs_error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tls_msg, sizeof(tls_msg), fmt, ap);
	va_end(ap);
	return code;
}

int lgfs_error_errno(int code, const char *fmt, ...)
{
	int saved = errno;
	char head[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	compose(head, strerror(saved));
	if (saved == ENOSPC || saved == EDQUOT)
		code = LGFS_ENOSPC;
	else if (saved == ENOENT)
		code = LGFS_ENOTFOUND;
	else if (saved == EROFS)
		code = LGFS_EROFS;
	errno = saved;
	return code;
}

int lgfs_error_wrap(int code, const char *fmt, ...)
{
	char head[MSG_MAX], old[MSG_MAX];
	va_list ap;

	memcpy(old, tls_msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	if (old[0])
		compose(head, old);
	else
		snprintf(tls_msg, sizeof(tls_msg), "%s", head);
	return code;
}

const char *lgfs_error_last(void)
{
	return tls_msg[0] ? tls_msg : "unknown error";
}

int lgfs_error_isset(void)
{
	return tls_msg[0] != '\0';
}

void lgfs_error_clear(void)
{
	tls_msg[0] = '\0';
}

const char *lgfs_error_name(int code)
{
	switch (code) {
	case LGFS_OK: return "OK";
	case LGFS_ERROR: return "ERROR";
	case LGFS_ENOMEM: return "ENOMEM";
	case LGFS_EIO: return "EIO";
	case LGFS_ENOTFOUND: return "ENOTFOUND";
	case LGFS_EEXISTS: return "EEXISTS";
	case LGFS_ECORRUPT: return "ECORRUPT";
	case LGFS_EBADSIG: return "EBADSIG";
	case LGFS_EINVAL: return "EINVAL";
	case LGFS_ECONFLICT: return "ECONFLICT";
	case LGFS_ENOSPC: return "ENOSPC";
	case LGFS_EPERM: return "EPERM";
	case LGFS_ERANGE: return "ERANGE";
	case LGFS_EBUSY: return "EBUSY";
	case LGFS_EROFS: return "EROFS";
	}
	return "UNKNOWN";
}
