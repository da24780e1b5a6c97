/*
 * chunks.c — chunk store URI dispatch and the NULL-checking wrappers (store
 * layer). See chunks.h.
 *
 * Callers use lgfs_chunks_*() rather than the method pointers so that an
 * implementation can leave a method NULL ("not supported") and the check
 * lives here, once.
 */
#include "ledgerfs/chunks.h"
#include "ledgerfs/error.h"
#include "ledgerfs/sys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

/* Does a store directory hold the one-file-per-chunk layout (chunks_file.c):
 * no packs/ but a two-hex-digit fan-out directory? Such a store keeps being
 * opened with its own implementation, so upgrading does not hide its chunks.
 * Anything else (a new, empty or pack store, or a path that cannot be
 * listed, which the pack store then reports) is a pack store. */
static int is_fanout_store(const char *dir)
{
	struct dirent *e;
	struct stat st;
	DIR *d = NULL;
	int fd, found = 0;

	fd = lgfs_sys.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (lgfs_sys.fstatat(fd, "packs", &st, 0) == 0 || !(d = lgfs_sys.fdopendir(fd))) {
		lgfs_sys.close(fd);
		return 0;
	}
	while (!found && (e = lgfs_sys.readdir(d))) {
		const char *s = e->d_name;

		found = strlen(s) == 2 && strspn(s, "0123456789abcdef") == 2 &&
			(e->d_type == DT_DIR || e->d_type == DT_UNKNOWN);
	}
	lgfs_sys.closedir(d);
	return found;
}

/* A plain directory path: the pack store, or the layout already there. */
static int open_path(struct lgfs_chunks **out, const char *dir, int create)
{
	if (is_fanout_store(dir))
		return lgfs_chunks_file_open(out, dir, create);
	return lgfs_chunks_pack_open(out, dir, create);
}

/* Open by URI. "file:///abs/dir" and plain paths go to the pack store (or an
 * existing one-file-per-chunk store, see is_fanout_store); "dir:///abs/dir"
 * always opens the one-file-per-chunk store. Other schemes are reported
 * instead of being mistaken for a relative path. The path after the scheme
 * is used literally (no percent-decoding). */
int lgfs_chunks_open(struct lgfs_chunks **out, const char *uri, int create)
{
	const char *sep;

	*out = NULL;
	if (!uri || !*uri)
		return lgfs_error_set(LGFS_EINVAL, "empty chunk store URI");
	if (strncmp(uri, "file://", 7) == 0) {
		if (uri[7] != '/')
			return lgfs_error_set(LGFS_EINVAL,
					      "chunk store URI '%s': file:// needs an absolute path", uri);
		return open_path(out, uri + 7, create);
	}
	if (strncmp(uri, "dir://", 6) == 0) {
		if (uri[6] != '/')
			return lgfs_error_set(LGFS_EINVAL,
					      "chunk store URI '%s': dir:// needs an absolute path", uri);
		return lgfs_chunks_file_open(out, uri + 6, create);
	}
	sep = strstr(uri, "://");
	if (sep)
		return lgfs_error_set(LGFS_EINVAL, "chunk store URI '%s': unsupported scheme '%.*s'",
				      uri, (int)(sep - uri), uri);
	return open_path(out, uri, create);
}

/* A method the implementation left NULL: one message for all wrappers. */
static int unsupported(const struct lgfs_chunks *c, const char *what)
{
	return lgfs_error_set(LGFS_EINVAL, "chunk store '%s' does not support %s",
			      c->scheme ? c->scheme : "?", what);
}

/* See chunks.h. The size limit is checked here so every backend gets it. */
int lgfs_chunks_put(struct lgfs_chunks *c, const uint8_t id[32], const void *buf, size_t len)
{
	if (!c->put)
		return unsupported(c, "put");
	if (len > LGFS_CHUNK_MAX)
		return lgfs_error_set(LGFS_EINVAL, "chunk of %zu bytes exceeds the limit of %u",
				      len, LGFS_CHUNK_MAX);
	return c->put(c, id, buf, len);
}

/* See chunks.h. */
void lgfs_chunks_get_many(struct lgfs_chunks *c, const uint8_t (*ids)[32], size_t n, struct lgfs_buf *outs,
			  int *rcs)
{
	size_t i;

	if (c->version >= 2 && c->get_many) {
		if (c->get_many(c, ids, n, outs, rcs) == 0)
			return;
		lgfs_error_clear(); /* could not try: one by one */
	}
	for (i = 0; i < n; i++)
		rcs[i] = lgfs_chunks_get(c, ids[i], &outs[i]);
}

/* See chunks.h. */
int lgfs_chunks_get(struct lgfs_chunks *c, const uint8_t id[32], struct lgfs_buf *out)
{
	if (!c->get)
		return unsupported(c, "get");
	return c->get(c, id, out);
}

/* See chunks.h. */
int lgfs_chunks_has(struct lgfs_chunks *c, const uint8_t id[32])
{
	if (!c->has)
		return unsupported(c, "has");
	return c->has(c, id);
}

/* See chunks.h. */
int lgfs_chunks_iterate(struct lgfs_chunks *c, lgfs_chunk_cb cb, void *payload)
{
	if (!c->iterate)
		return unsupported(c, "iterate");
	return c->iterate(c, cb, payload);
}

/* See chunks.h. */
int lgfs_chunks_sync(struct lgfs_chunks *c)
{
	if (!c->sync)
		return unsupported(c, "sync");
	return c->sync(c);
}

/* See chunks.h. */
void lgfs_chunks_close(struct lgfs_chunks *c)
{
	if (c && c->close)
		c->close(c);
}
