/*
 * chunks_file.c — the file:// chunk store: one file per chunk in fan-out
 * directories (store layer). See chunks.h for the interface.
 *
 * Layout under the store directory:
 *
 *   ab/abcdef...(64 lower-case hex digits of the SHA-256 of the plain chunk)
 *   ab/.tmp-...   a put in progress (or left by a crash); never listed
 *
 * 256 fan-out directories, named by the first byte of the id, created on
 * first use. Each object file is a 12-byte header followed by the payload:
 *
 *   offset 0  4 bytes  magic "LGCK"
 *   offset 4  1 byte   format: 0 = raw (payload is the plain bytes),
 *                               1 = zstd (payload is exactly one zstd frame
 *                                   that records its content size)
 *   offset 5  3 bytes  reserved, zero
 *   offset 8  u32 BE   plain length, 0..LGFS_CHUNK_MAX
 *   offset 12          payload (raw: exactly `plain length` bytes)
 *
 * A chunk is compressed (zstd level 1) only when that saves at least 1/8 of
 * its size; a 16 KiB prefix is tried first so incompressible data costs
 * little. get() bounds every size before allocating, decompresses, and checks
 * SHA-256(plain) == id every time: a damaged object is LGFS_ECORRUPT naming
 * the chunk, never wrong bytes.
 *
 * Writes go to a temporary file in the target fan-out directory and are
 * renamed into place without replacing (RENAME_NOREPLACE), so concurrent puts
 * of one id from several threads or processes are safe and a stored object is
 * never swapped for a not-yet-durable copy. Durability is deferred: put()
 * records the id, and sync() fsyncs every object put since the last sync and
 * the directories they were renamed into (group commit, never one fsync per
 * chunk). All system calls go through lgfs_sys (sys.h) so tests can inject
 * ENOSPC and EIO.
 */
#include "ledgerfs/chunks.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/sys.h"
#include "zpool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define OBJ_MAGIC "LGCK"
#define OBJ_HDR 12               /* bytes of the object header */
#define FMT_RAW 0
#define FMT_ZSTD 1
#define SMALL_RAW 1024           /* below this, compression is not tried (zpool.c) */
#define FANOUT 256

/* The store. The interface comes first so a struct lgfs_chunks * is also a
 * struct file_chunks *. */
struct file_chunks {
	struct lgfs_chunks base;
	char *root;                 /* store directory, for messages */
	int rootfd;                 /* the store directory */
	int fanfd[FANOUT];          /* fan-out directories, -1 until opened; set once, atomically */
	unsigned long tmpseq;       /* makes temporary names unique within the process */

	pthread_mutex_t mu;         /* guards everything below */
	uint8_t (*pend)[32];        /* ids renamed into place since the last sync */
	size_t npend, cappend;
	uint64_t dirty[FANOUT / 64]; /* fan-out directories with new entries since the last sync */
	int root_dirty;             /* a fan-out directory was created since the last sync */
	struct lgfs_zpool zp;       /* zstd contexts and the compress-or-raw rule */

	pthread_mutex_t sync_mu;    /* one sync at a time, so a sync that returns covers all puts before it */
};

/* The path of an object relative to its fan-out directory. */
static void obj_name(char name[65], const uint8_t id[32])
{
	lgfs_hex(name, id, 32);
}

/* The fd of fan-out directory b, opened (and with `create`, made) on first
 * use and kept: openat() relative to it avoids resolving the store path on
 * every call. LGFS_ENOTFOUND without `create` if the directory is missing. */
static int fan_fd(struct file_chunks *fc, unsigned b, int create, int *out)
{
	char name[3];
	int fd, expected = -1;

	fd = __atomic_load_n(&fc->fanfd[b], __ATOMIC_ACQUIRE);
	if (fd >= 0) {
		*out = fd;
		return 0;
	}
	snprintf(name, sizeof(name), "%02x", b & 0xff);
	fd = lgfs_sys.openat(fc->rootfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0 && errno == ENOENT && create) {
		if (lgfs_sys.mkdirat(fc->rootfd, name, 0700) == 0) {
			pthread_mutex_lock(&fc->mu);
			fc->root_dirty = 1;
			pthread_mutex_unlock(&fc->mu);
		} else if (errno != EEXIST) {
			return lgfs_error_errno(LGFS_EIO, "creating %s/%s", fc->root, name);
		}
		fd = lgfs_sys.openat(fc->rootfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	}
	if (fd < 0) {
		if (errno == ENOENT && !create)
			return LGFS_ENOTFOUND;
		return lgfs_error_errno(LGFS_EIO, "opening %s/%s", fc->root, name);
	}
	if (!__atomic_compare_exchange_n(&fc->fanfd[b], &expected, fd, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		lgfs_sys.close(fd); /* another thread opened it first */
		fd = expected;
	}
	*out = fd;
	return 0;
}

/* Does an existing object file look like a complete copy of a chunk of `len`
 * plain bytes? Only the size is checked (one fstatat): enough to replace the
 * empty or short files a crash before sync() can leave, while a put of a
 * present id stays cheap. Content damage is found by get(). */
static int looks_complete(const struct stat *st, size_t len)
{
	if (!S_ISREG(st->st_mode) || st->st_size < OBJ_HDR)
		return 0;
	if (len == 0)
		return st->st_size == OBJ_HDR;
	return st->st_size > OBJ_HDR && (uint64_t)st->st_size <= OBJ_HDR + (uint64_t)len;
}

/* Remember that id was renamed into fan-out directory id[0], for sync(). If
 * the list cannot grow, the object is made durable now instead, so a sync
 * never silently misses it. */
static int note_pending(struct file_chunks *fc, const uint8_t id[32], int dfd, int fd)
{
	int ok = 1;

	pthread_mutex_lock(&fc->mu);
	if (fc->npend == fc->cappend) {
		size_t cap = fc->cappend ? 2 * fc->cappend : 64;
		void *p = realloc(fc->pend, cap * sizeof(*fc->pend));

		if (p) {
			fc->pend = p;
			fc->cappend = cap;
		} else {
			ok = 0;
		}
	}
	if (ok)
		memcpy(fc->pend[fc->npend++], id, 32);
	fc->dirty[id[0] / 64] |= 1ull << (id[0] % 64);
	pthread_mutex_unlock(&fc->mu);
	if (!ok && (lgfs_sys.fsync(fd) < 0 || lgfs_sys.fsync(dfd) < 0))
		return lgfs_error_errno(LGFS_EIO, "fsync of chunk in %s", fc->root);
	return 0;
}

/* put: see chunks.h. The caller vouches that id = SHA-256(buf) (it hashed
 * the bytes already; hashing twice would cost as much as the write). A wrong
 * id is caught by get(), which always verifies. */
static int fc_put(struct lgfs_chunks *c, const uint8_t id[32], const void *buf, size_t len)
{
	struct file_chunks *fc = (struct file_chunks *)c;
	char name[65], tmp[96];
	uint8_t hdr[OBJ_HDR], *obj = NULL;
	size_t zlen = 0;
	struct stat st;
	int dfd, fd = -1, rc, placed = 0;

	if (len > LGFS_CHUNK_MAX)
		return lgfs_error_set(LGFS_EINVAL, "chunk of %zu bytes exceeds the limit of %u",
				      len, LGFS_CHUNK_MAX);
	obj_name(name, id);
	rc = fan_fd(fc, id[0], 1, &dfd);
	if (rc)
		goto out;
	if (lgfs_sys.fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && looks_complete(&st, len))
		goto out; /* present: a put is a no-op */

	/* compression is optional: without memory for it, store raw */
	obj = len >= SMALL_RAW ? malloc(OBJ_HDR + ZSTD_compressBound(len)) : NULL;
	zlen = obj ? lgfs_zpool_compress(&fc->zp, obj + OBJ_HDR, buf, len) : 0;
	memcpy(hdr, OBJ_MAGIC, 4);
	hdr[4] = zlen ? FMT_ZSTD : FMT_RAW;
	hdr[5] = hdr[6] = hdr[7] = 0;
	lgfs_be32_put(hdr + 8, (uint32_t)len);
	if (zlen)
		memcpy(obj, hdr, OBJ_HDR);

	snprintf(tmp, sizeof(tmp), ".tmp-%.16s-%ld-%lu", name, (long)getpid(),
		 __atomic_fetch_add(&fc->tmpseq, 1, __ATOMIC_RELAXED));
	fd = lgfs_sys.openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "creating a temporary file in %s/%02x", fc->root, id[0]);
		goto out;
	}
	if (zlen ? lgfs_sys_pwrite_all(fd, obj, OBJ_HDR + zlen, 0)
		 : (lgfs_sys_pwrite_all(fd, hdr, OBJ_HDR, 0) ||
		    lgfs_sys_pwrite_all(fd, buf, len, OBJ_HDR))) {
		rc = lgfs_error_errno(LGFS_EIO, "writing chunk %s", name);
		goto out;
	}
	if (lgfs_sys.renameat2(dfd, tmp, dfd, name, RENAME_NOREPLACE) == 0) {
		placed = 1;
	} else if (errno == EEXIST || errno == EINVAL || errno == ENOSYS) {
		/* EEXIST: another put won the race (keep its copy), or an
		 * earlier crash left a short one (replace it). EINVAL/ENOSYS:
		 * no RENAME_NOREPLACE on this file system, so check, then
		 * rename; racing puts write identical bytes, so that window
		 * only matters for durability. */
		if (lgfs_sys.fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && looks_complete(&st, len))
			goto out;
		if (lgfs_sys.renameat2(dfd, tmp, dfd, name, 0) < 0) {
			rc = lgfs_error_errno(LGFS_EIO, "renaming chunk %s into place", name);
			goto out;
		}
		placed = 1;
	} else {
		rc = lgfs_error_errno(LGFS_EIO, "renaming chunk %s into place", name);
		goto out;
	}
	rc = note_pending(fc, id, dfd, fd);
out:
	if (fd >= 0) {
		lgfs_sys.close(fd);
		if (!placed)
			lgfs_sys.unlinkat(dfd, tmp, 0);
	}
	free(obj);
	return rc;
}

/* get: see chunks.h. Every size is bounded before it is trusted, and the
 * bytes are handed out only after SHA-256 matched. */
static int fc_get(struct lgfs_chunks *c, const uint8_t id[32], struct lgfs_buf *out)
{
	struct file_chunks *fc = (struct file_chunks *)c;
	char name[65], got_hex[65];
	uint8_t hdr[OBJ_HDR], *z = NULL, sum[32];
	uint64_t fsize, plain;
	struct stat st;
	ssize_t r;
	int dfd, fd = -1, rc;

	lgfs_buf_reset(out);
	obj_name(name, id);
	rc = fan_fd(fc, id[0], 0, &dfd);
	if (rc == LGFS_ENOTFOUND) {
		rc = lgfs_error_set(LGFS_ENOTFOUND, "chunk %s not found", name);
		goto out;
	}
	if (rc)
		goto out;
	fd = lgfs_sys.openat(dfd, name, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		rc = errno == ENOENT ? lgfs_error_set(LGFS_ENOTFOUND, "chunk %s not found", name)
				     : lgfs_error_errno(LGFS_EIO, "opening chunk %s", name);
		goto out;
	}
	if (lgfs_sys.fstat(fd, &st) < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "stat of chunk %s", name);
		goto out;
	}
	fsize = (uint64_t)st.st_size;
	r = lgfs_sys_pread_full(fd, hdr, OBJ_HDR, 0);
	if (r < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "reading chunk %s", name);
		goto out;
	}
	if (r != OBJ_HDR || fsize < OBJ_HDR || memcmp(hdr, OBJ_MAGIC, 4) != 0 ||
	    hdr[4] > FMT_ZSTD || hdr[5] || hdr[6] || hdr[7]) {
		rc = lgfs_error_set(LGFS_ECORRUPT, "chunk %s: damaged object header", name);
		goto out;
	}
	plain = lgfs_be32_get(hdr + 8);
	if (plain > LGFS_CHUNK_MAX) {
		rc = lgfs_error_set(LGFS_ECORRUPT, "chunk %s: declared length %llu exceeds the limit",
				    name, (unsigned long long)plain);
		goto out;
	}
	rc = lgfs_buf_reserve(out, plain ? plain : 1);
	if (rc)
		goto out;
	if (hdr[4] == FMT_RAW) {
		if (fsize != OBJ_HDR + plain) {
			rc = lgfs_error_set(LGFS_ECORRUPT, "chunk %s: object is %llu bytes, expected %llu",
					    name, (unsigned long long)fsize,
					    (unsigned long long)(OBJ_HDR + plain));
			goto out;
		}
		r = lgfs_sys_pread_full(fd, out->data, plain, OBJ_HDR);
		if (r < 0 || (uint64_t)r != plain) {
			rc = r < 0 ? lgfs_error_errno(LGFS_EIO, "reading chunk %s", name)
				   : lgfs_error_set(LGFS_ECORRUPT, "chunk %s: truncated", name);
			goto out;
		}
	} else {
		size_t zlen = (size_t)(fsize - OBJ_HDR), d;

		if (fsize <= OBJ_HDR || zlen > ZSTD_compressBound(plain)) {
			rc = lgfs_error_set(LGFS_ECORRUPT, "chunk %s: compressed size %llu is impossible",
					    name, (unsigned long long)(fsize - OBJ_HDR));
			goto out;
		}
		z = malloc(zlen);
		if (!z) {
			rc = lgfs_error_set(LGFS_ENOMEM, "out of memory reading chunk %s", name);
			goto out;
		}
		r = lgfs_sys_pread_full(fd, z, zlen, OBJ_HDR);
		if (r < 0 || (size_t)r != zlen) {
			rc = r < 0 ? lgfs_error_errno(LGFS_EIO, "reading chunk %s", name)
				   : lgfs_error_set(LGFS_ECORRUPT, "chunk %s: truncated", name);
			goto out;
		}
		if (ZSTD_getFrameContentSize(z, zlen) != plain ||
		    ZSTD_findFrameCompressedSize(z, zlen) != zlen) {
			rc = lgfs_error_set(LGFS_ECORRUPT, "chunk %s: damaged zstd frame", name);
			goto out;
		}
		d = ZSTD_decompress(out->data, plain, z, zlen);
		if (ZSTD_isError(d) || d != plain) {
			rc = lgfs_error_set(LGFS_ECORRUPT, "chunk %s: zstd: %s", name,
					    ZSTD_isError(d) ? ZSTD_getErrorName(d) : "wrong length");
			goto out;
		}
	}
	lgfs_sha256(sum, out->data, plain);
	if (memcmp(sum, id, 32) != 0) {
		lgfs_hex(got_hex, sum, 32);
		rc = lgfs_error_set(LGFS_ECORRUPT, "chunk %s is corrupt: its content hashes to %s",
				    name, got_hex);
		goto out;
	}
	out->len = plain;
out:
	if (rc)
		out->len = 0;
	if (fd >= 0)
		lgfs_sys.close(fd);
	free(z);
	return rc;
}

/* has: see chunks.h. One fstatat, no read. */
static int fc_has(struct lgfs_chunks *c, const uint8_t id[32])
{
	struct file_chunks *fc = (struct file_chunks *)c;
	char name[65];
	struct stat st;
	int dfd, rc;

	obj_name(name, id);
	rc = fan_fd(fc, id[0], 0, &dfd);
	if (rc == LGFS_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (lgfs_sys.fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return lgfs_error_errno(LGFS_EIO, "stat of chunk %s", name);
}

/* Is s exactly n lower-case hex digits? Object and fan-out names are, temp
 * files and strangers are not. */
static int is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

/* List one fan-out directory; returns the callback's non-zero value if it
 * stopped the walk. */
static int iterate_fan(struct file_chunks *fc, const char *fan, lgfs_chunk_cb cb, void *payload)
{
	struct dirent *e;
	uint8_t id[32];
	DIR *d = NULL;
	int fd, rc = 0;

	fd = lgfs_sys.openat(fc->rootfd, fan, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0) {
		if (errno != ENOTDIR && errno != ENOENT)
			rc = lgfs_error_errno(LGFS_EIO, "opening %s/%s", fc->root, fan);
		goto out;
	}
	d = lgfs_sys.fdopendir(fd);
	if (!d) {
		rc = lgfs_error_errno(LGFS_EIO, "listing %s/%s", fc->root, fan);
		lgfs_sys.close(fd);
		goto out;
	}
	for (;;) {
		errno = 0;
		e = lgfs_sys.readdir(d);
		if (!e) {
			if (errno)
				rc = lgfs_error_errno(LGFS_EIO, "listing %s/%s", fc->root, fan);
			break;
		}
		if (!is_hex(e->d_name, 64) || memcmp(e->d_name, fan, 2) != 0)
			continue;
		if (lgfs_unhex(id, 32, e->d_name, 64))
			continue;
		rc = cb(payload, id);
		if (rc)
			break;
	}
out:
	if (d)
		lgfs_sys.closedir(d);
	return rc;
}

/* iterate: see chunks.h. Walks the store directory rather than trying all
 * 256 names, so an empty store costs one readdir. */
static int fc_iterate(struct lgfs_chunks *c, lgfs_chunk_cb cb, void *payload)
{
	struct file_chunks *fc = (struct file_chunks *)c;
	struct dirent *e;
	DIR *d = NULL;
	int fd, rc = 0;

	fd = lgfs_sys.openat(fc->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "listing %s", fc->root);
		goto out;
	}
	d = lgfs_sys.fdopendir(fd);
	if (!d) {
		rc = lgfs_error_errno(LGFS_EIO, "listing %s", fc->root);
		lgfs_sys.close(fd);
		goto out;
	}
	for (;;) {
		errno = 0;
		e = lgfs_sys.readdir(d);
		if (!e) {
			if (errno)
				rc = lgfs_error_errno(LGFS_EIO, "listing %s", fc->root);
			break;
		}
		if (!is_hex(e->d_name, 2))
			continue;
		rc = iterate_fan(fc, e->d_name, cb, payload);
		if (rc)
			break;
	}
out:
	if (d)
		lgfs_sys.closedir(d);
	return rc;
}

/* fsync one object by id (reopened by name: keeping an fd per pending
 * chunk would run into the open-files limit between syncs). */
static int sync_obj(struct file_chunks *fc, const uint8_t id[32])
{
	char name[65];
	int dfd, fd, rc;

	obj_name(name, id);
	rc = fan_fd(fc, id[0], 0, &dfd);
	if (rc)
		return rc == LGFS_ENOTFOUND ? lgfs_error_set(LGFS_EIO, "chunk %s vanished before sync", name)
					    : rc;
	fd = lgfs_sys.openat(dfd, name, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return lgfs_error_errno(LGFS_EIO, "opening chunk %s for sync", name);
	if (lgfs_sys.fsync(fd) < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "fsync of chunk %s", name);
		lgfs_sys.close(fd);
		return rc;
	}
	lgfs_sys.close(fd);
	return 0;
}

/* sync: see chunks.h. The pending list is taken out under the lock and
 * synced outside it, so puts go on meanwhile. On failure everything taken is
 * put back, so a later sync retries it. */
static int fc_sync(struct lgfs_chunks *c)
{
	struct file_chunks *fc = (struct file_chunks *)c;
	uint8_t (*ids)[32];
	uint64_t dirty[FANOUT / 64];
	size_t n, cap, i;
	int root_dirty, rc = 0;
	unsigned b;

	pthread_mutex_lock(&fc->sync_mu);
	pthread_mutex_lock(&fc->mu);
	ids = fc->pend;
	n = fc->npend;
	cap = fc->cappend;
	fc->pend = NULL;
	fc->npend = fc->cappend = 0;
	memcpy(dirty, fc->dirty, sizeof(dirty));
	memset(fc->dirty, 0, sizeof(fc->dirty));
	root_dirty = fc->root_dirty;
	fc->root_dirty = 0;
	pthread_mutex_unlock(&fc->mu);

	for (i = 0; i < n && !rc; i++)
		rc = sync_obj(fc, ids[i]);
	for (b = 0; b < FANOUT && !rc; b++) {
		int dfd;

		if (!(dirty[b / 64] & (1ull << (b % 64))))
			continue;
		rc = fan_fd(fc, b, 0, &dfd);
		if (!rc && lgfs_sys.fsync(dfd) < 0)
			rc = lgfs_error_errno(LGFS_EIO, "fsync of %s/%02x", fc->root, b);
	}
	if (!rc && root_dirty && lgfs_sys.fsync(fc->rootfd) < 0)
		rc = lgfs_error_errno(LGFS_EIO, "fsync of %s", fc->root);

	if (rc) {
		pthread_mutex_lock(&fc->mu);
		for (b = 0; b < FANOUT / 64; b++)
			fc->dirty[b] |= dirty[b];
		fc->root_dirty |= root_dirty;
		if (fc->npend + n > cap) {
			void *p = realloc(ids, (fc->npend + n) * sizeof(*ids));

			if (p) {
				ids = p;
				cap = fc->npend + n;
			}
		}
		if (fc->npend + n <= cap) {
			if (fc->npend)
				memcpy(ids + n, fc->pend, fc->npend * sizeof(*ids));
			free(fc->pend);
			fc->pend = ids;
			fc->npend += n;
			fc->cappend = cap;
			ids = NULL;
		}
		pthread_mutex_unlock(&fc->mu);
	}
	free(ids);
	pthread_mutex_unlock(&fc->sync_mu);
	return rc;
}

/* close: see chunks.h. Does not sync: puts since the last sync() are in the
 * page cache and not yet durable. */
static void fc_close(struct lgfs_chunks *c)
{
	struct file_chunks *fc = (struct file_chunks *)c;
	int i;

	for (i = 0; i < FANOUT; i++)
		if (fc->fanfd[i] >= 0)
			lgfs_sys.close(fc->fanfd[i]);
	lgfs_zpool_destroy(&fc->zp);
	if (fc->rootfd >= 0)
		lgfs_sys.close(fc->rootfd);
	pthread_mutex_destroy(&fc->mu);
	pthread_mutex_destroy(&fc->sync_mu);
	free(fc->pend);
	free(fc->root);
	free(fc);
}

/* See chunks.h. The store directory stays open: every call works relative
 * to it, so renaming the directory's parents later does not matter. */
int lgfs_chunks_file_open(struct lgfs_chunks **out, const char *dir, int create)
{
	struct file_chunks *fc = NULL;
	int rc = 0, i;

	*out = NULL;
	if (!dir || !*dir)
		return lgfs_error_set(LGFS_EINVAL, "empty chunk store path");
	if (create & LGFS_CHUNKS_RDONLY)
		create = 0; /* this layout creates nothing when it only reads */
	if (create) {
		rc = lgfs_sys_mkdirs(dir, 0700);
		if (rc)
			goto out;
	}
	fc = calloc(1, sizeof(*fc));
	if (!fc || !(fc->root = strdup(dir))) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory opening chunk store %s", dir);
		goto out;
	}
	fc->rootfd = -1;
	for (i = 0; i < FANOUT; i++)
		fc->fanfd[i] = -1;
	pthread_mutex_init(&fc->mu, NULL);
	lgfs_zpool_init(&fc->zp);
	pthread_mutex_init(&fc->sync_mu, NULL);
	fc->base.version = 1;
	fc->base.scheme = "file";
	fc->base.put = fc_put;
	fc->base.get = fc_get;
	fc->base.has = fc_has;
	fc->base.iterate = fc_iterate;
	fc->base.sync = fc_sync;
	fc->base.close = fc_close;
	fc->rootfd = lgfs_sys.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fc->rootfd < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "opening chunk store %s", dir);
		goto out;
	}
	*out = &fc->base;
out:
	if (rc && fc) {
		if (fc->root)
			fc_close(&fc->base);
		else
			free(fc);
	}
	return rc;
}
