/*
 * log.c — log store URI dispatch and the NULL-checking wrappers (store
 * layer). See log.h.
 *
 * Callers use lgfs_log_*() rather than the method pointers so that an
 * implementation can leave a method NULL ("not supported") and that check,
 * with the checks of the arguments every backend needs, lives here once.
 */
#include "ledgerfs/log.h"
#include "ledgerfs/error.h"

#include <string.h>

/* Open by URI. "file:///abs/dir" and plain paths go to the file store; other
 * schemes are reported instead of being mistaken for a relative path. The
 * path after "file://" is used literally (no percent-decoding), as for the
 * chunk store. */
int lgfs_log_open(struct lgfs_log **out, const char *uri, int flags)
{
	const char *sep;

	if (!out)
		return lgfs_error_set(LGFS_EINVAL, "lgfs_log_open: out is NULL");
	*out = NULL;
	if (!uri || !*uri)
		return lgfs_error_set(LGFS_EINVAL, "empty log URI");
	if (strncmp(uri, "file://", 7) == 0) {
		if (uri[7] != '/')
			return lgfs_error_set(LGFS_EINVAL,
					      "log URI '%s': file:// needs an absolute path", uri);
		return lgfs_log_file_open(out, uri + 7, flags);
	}
	sep = strstr(uri, "://");
	if (sep)
		return lgfs_error_set(LGFS_EINVAL, "log URI '%s': unsupported scheme '%.*s'",
				      uri, (int)(sep - uri), uri);
	return lgfs_log_file_open(out, uri, flags);
}

/* A method the implementation left NULL: one message for all wrappers. */
static int unsupported(const struct lgfs_log *l, const char *what)
{
	return lgfs_error_set(LGFS_EINVAL, "log store '%s' does not support %s",
			      l->scheme ? l->scheme : "?", what);
}

int lgfs_log_append(struct lgfs_log *l, uint64_t expected, const struct lgfs_log_entry *e, size_t n)
{
	if (!l)
		return lgfs_error_set(LGFS_EINVAL, "append to a NULL log");
	if (!l->append)
		return unsupported(l, "append");
	if (n && !e)
		return lgfs_error_set(LGFS_EINVAL, "append of %zu entries from a NULL array", n);
	return l->append(l, expected, e, n);
}

int lgfs_log_read(struct lgfs_log *l, uint64_t from, uint64_t count, lgfs_log_cb cb, void *arg)
{
	if (!l)
		return lgfs_error_set(LGFS_EINVAL, "read from a NULL log");
	if (!l->read)
		return unsupported(l, "read");
	if (!cb)
		return lgfs_error_set(LGFS_EINVAL, "log read without a callback");
	return l->read(l, from, count, cb, arg);
}

int lgfs_log_size(struct lgfs_log *l, uint64_t *out)
{
	if (!l || !out)
		return lgfs_error_set(LGFS_EINVAL, "log size: NULL argument");
	if (!l->size)
		return unsupported(l, "size");
	return l->size(l, out);
}

int lgfs_log_cut_torn(struct lgfs_log *l)
{
	if (!l)
		return lgfs_error_set(LGFS_EINVAL, "cut_torn on a NULL log");
	if (l->version < 2 || !l->cut_torn)
		return unsupported(l, "cut_torn");
	return l->cut_torn(l);
}

/* NULL is allowed (like free()) so cleanup paths need no check. */
void lgfs_log_close(struct lgfs_log *l)
{
	if (l && l->close)
		l->close(l);
}
