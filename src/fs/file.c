/*
 * file.c — open files: staged writes, reads that see them, and versions
 * (fs layer). See fs.h.
 *
 * All handles of one inode share one struct ofile, so readers in the same
 * mount see staged writes at once. Written bytes go to an unlinked staging
 * file (sparse) and an extent list remembers which ranges it holds; every
 * other byte below the size comes from the last committed version (its
 * manifest, read through the chunk store, hashes checked) or is zero.
 * flush (close), fsync, truncate and release turn staged changes into one
 * version: the content is streamed through the chunker (unchanged chunks
 * dedupe against the store), a manifest is stored, and one write record
 * names it.
 *
 * A version costs what its data costs: unwritten ranges and the base's
 * holes become holes of the new manifest, never bytes to read or store,
 * and past LGFS_HOLE_HASH_MAX of holes not even bytes to hash (content.h).
 * No file grows past LGFS_FILE_SIZE_MAX: a write, truncate or fallocate
 * beyond it is EFBIG and changes nothing.
 *
 * A file written in order from offset 0 past MEM_STAGE_MAX skips staging:
 * its writes go to a background chunk writer as they arrive (a stream), so
 * the version is nearly built when the file is closed. Any other access
 * settles the stream into an uncommitted manifest that serves as the base.
 */
#include "apply.h"
#include "fs_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledgerfs/error.h"

#define COPY_CHUNK (1u << 20) /* bytes moved per step when building a version */
/* Writes below this offset are staged in memory; the first one beyond moves
 * the staged bytes to a staging file. Most files are small: creating and
 * freeing an on-disk staging file for each costs more than the rest of a
 * create. */
#define MEM_STAGE_MAX (1u << 20)

static const uint8_t zero_id[32];

static unsigned int bucket(uint64_t ino)
{
	return (unsigned int)((ino * 0x9e3779b97f4a7c15ull) >> 54) % OFILE_BUCKETS;
}

struct ofile *lgfs_ofile_find(struct lgfs_fs *fs, uint64_t ino)
{
	struct ofile *of;

	for (of = fs->ofiles[bucket(ino)]; of; of = of->hnext)
		if (of->ino == ino)
			return of;
	return NULL;
}

/* Show the committed version `in` (nothing staged). */
static void ofile_load(struct ofile *of, const struct lgfs_inode *in)
{
	of->has_base = memcmp(in->manifest, zero_id, 32) != 0;
	memcpy(of->base, in->manifest, 32);
	of->base_size = of->has_base ? in->size : 0;
	of->base_limit = of->base_size;
	of->size = in->size;
	of->allocated = in->allocated;
	of->mtime = in->mtime;
}

int lgfs_ofile_get(struct lgfs_fs *fs, const struct lgfs_inode *in, struct ofile **out)
{
	struct ofile *of;

	pthread_mutex_lock(&fs->of_mu);
	of = lgfs_ofile_find(fs, in->ino);
	if (!of) {
		of = calloc(1, sizeof(*of));
		if (!of) {
			pthread_mutex_unlock(&fs->of_mu);
			return -ENOMEM;
		}
		of->ino = in->ino;
		pthread_mutex_init(&of->mu, NULL);
		pthread_mutex_init(&of->snap_mu, NULL);
		of->sfd = -1;
		ofile_load(of, in);
		of->hnext = fs->ofiles[bucket(in->ino)];
		fs->ofiles[bucket(in->ino)] = of;
	}
	of->refs++;
	pthread_mutex_unlock(&fs->of_mu);
	*out = of;
	return 0;
}

static void ofile_free(struct ofile *of)
{
	lgfs_chunk_writer_free(of->stream); /* an abandoned stream: its chunks stay unreferenced */
	if (of->sfd >= 0)
		close(of->sfd);
	free(of->mem);
	lgfs_manifest_reader_free(of->reader);
	free(of->ext);
	pthread_mutex_destroy(&of->mu);
	pthread_mutex_destroy(&of->snap_mu);
	free(of);
}

void lgfs_ofile_put(struct lgfs_fs *fs, struct ofile *of)
{
	struct ofile **pp;

	pthread_mutex_lock(&fs->of_mu);
	if (--of->refs > 0) {
		pthread_mutex_unlock(&fs->of_mu);
		return;
	}
	for (pp = &fs->ofiles[bucket(of->ino)]; *pp; pp = &(*pp)->hnext)
		if (*pp == of) {
			*pp = of->hnext;
			break;
		}
	pthread_mutex_unlock(&fs->of_mu);
	ofile_free(of);
}

/* ---- the extent list ---- */

/* First extent whose end is > pos. */
static size_t ext_find(const struct ofile *of, uint64_t pos)
{
	size_t lo = 0, hi = of->next;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (of->ext[mid].e <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Add [s, e), merging with overlapping or adjacent extents. */
static int ext_add(struct ofile *of, uint64_t s, uint64_t e)
{
	size_t i = ext_find(of, s), j;

	if (i > 0 && of->ext[i - 1].e == s)
		i--; /* adjacent on the left */
	j = i;
	while (j < of->next && of->ext[j].s <= e) {
		if (of->ext[j].s < s)
			s = of->ext[j].s;
		if (of->ext[j].e > e)
			e = of->ext[j].e;
		j++;
	}
	if (j == i) {
		if (of->next == of->extcap) {
			size_t cap = of->extcap ? of->extcap * 2 : 8;
			struct extent *n = realloc(of->ext, cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			of->ext = n;
			of->extcap = cap;
		}
		memmove(of->ext + i + 1, of->ext + i, (of->next - i) * sizeof(*of->ext));
		of->next++;
	} else if (j > i + 1) {
		memmove(of->ext + i + 1, of->ext + j, (of->next - j) * sizeof(*of->ext));
		of->next -= j - i - 1;
	}
	of->ext[i].s = s;
	of->ext[i].e = e;
	return 0;
}

/* Forget staged bytes at and beyond size. */
static void ext_cut(struct ofile *of, uint64_t size)
{
	size_t i = ext_find(of, size);

	if (i < of->next && of->ext[i].s < size)
		of->ext[i++].e = size;
	of->next = i;
}

/* ---- reading the content as this mount sees it ---- */

enum seg { SEG_STAGE, SEG_BASE, SEG_ZERO };

/* What the bytes at pos (< size) are, and for how long. */
static enum seg seg_at(const struct ofile *of, uint64_t pos, uint64_t *len)
{
	size_t i = ext_find(of, pos);
	uint64_t next = of->size, blim = of->base_limit < of->base_size ? of->base_limit : of->base_size;

	if (i < of->next && of->ext[i].s <= pos) {
		*len = (of->ext[i].e < of->size ? of->ext[i].e : of->size) - pos;
		return SEG_STAGE;
	}
	if (i < of->next && of->ext[i].s < next)
		next = of->ext[i].s;
	if (pos < blim) {
		*len = (next < blim ? next : blim) - pos;
		return SEG_BASE;
	}
	*len = next - pos;
	return SEG_ZERO;
}

/* The errno for a failure reading the base: EIO for a damaged or missing
 * chunk or manifest too (the file exists; its bytes cannot be given), never
 * wrong bytes. */
static int base_errno(int rc)
{
	return rc == LGFS_ENOMEM ? -ENOMEM : -EIO;
}

/* Open the base's manifest reader on first use. */
static int base_open(struct lgfs_fs *fs, struct ofile *of)
{
	int rc;

	if (of->reader)
		return 0;
	rc = lgfs_manifest_reader_open(&of->reader, fs->chunks, of->base);
	if (rc) {
		lgfs_error_wrap(rc, "inode %llu: opening its content", (unsigned long long)of->ino);
		return base_errno(rc);
	}
	return 0;
}

/* Whether the base has a hole or data at off (< base_limit), and for how
 * long (capped at max). */
static int base_span(struct lgfs_fs *fs, struct ofile *of, uint64_t off, uint64_t max, uint64_t *len, int *hole)
{
	int rc = base_open(fs, of);

	if (rc)
		return rc;
	rc = lgfs_manifest_reader_span(of->reader, off, len, hole);
	if (rc) {
		lgfs_error_wrap(rc, "inode %llu: its content at %llu", (unsigned long long)of->ino,
				(unsigned long long)off);
		return base_errno(rc);
	}
	if (*len > max)
		*len = max;
	return 0;
}

static int base_read(struct lgfs_fs *fs, struct ofile *of, uint64_t off, void *dst, size_t len)
{
	size_t got;
	int rc;

	if ((rc = base_open(fs, of)))
		return rc;
	rc = lgfs_manifest_reader_read(of->reader, off, dst, len, &got);
	if (rc) {
		/* A chunk failing its hash: EIO for the reader, never wrong bytes. */
		lgfs_error_wrap(rc, "inode %llu: reading %zu bytes at %llu", (unsigned long long)of->ino, len,
				(unsigned long long)off);
		return base_errno(rc);
	}
	if (got < len)
		memset((uint8_t *)dst + got, 0, len - got);
	return 0;
}

static int stage_read(struct ofile *of, uint64_t off, void *dst, size_t len)
{
	size_t done = 0;

	if (of->sfd < 0) {
		/* staged in memory: bytes past memlen are zero (sparse) */
		size_t have = off < of->memlen ? of->memlen - (size_t)off : 0;

		if (have > len)
			have = len;
		if (have)
			memcpy(dst, of->mem + off, have);
		if (have < len)
			memset((uint8_t *)dst + have, 0, len - have);
		return 0;
	}
	while (done < len) {
		ssize_t n = pread(of->sfd, (uint8_t *)dst + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			lgfs_error_errno(LGFS_EIO, "reading staged data of inode %llu", (unsigned long long)of->ino);
			return -EIO;
		}
		if (n == 0) {
			memset((uint8_t *)dst + done, 0, len - done); /* sparse end */
			break;
		}
		done += (size_t)n;
	}
	return 0;
}

/* Read [off, off+len) (within the size); of->mu held. */
static int content_read(struct lgfs_fs *fs, struct ofile *of, uint64_t off, uint8_t *dst, size_t len)
{
	while (len) {
		uint64_t run;
		enum seg k = seg_at(of, off, &run);
		size_t n = run < len ? (size_t)run : len;
		int rc = 0;

		if (k == SEG_STAGE)
			rc = stage_read(of, off, dst, n);
		else if (k == SEG_BASE)
			rc = base_read(fs, of, off, dst, n);
		else
			memset(dst, 0, n);
		if (rc)
			return rc;
		off += n;
		dst += n;
		len -= n;
	}
	return 0;
}

/* ---- streams: sequential writes cut while they arrive ---- */

/* Forget everything staged and show the last committed version again. */
static void ofile_revert(struct lgfs_fs *fs, struct ofile *of)
{
	struct lgfs_inode in;

	lgfs_chunk_writer_free(of->stream);
	of->stream = NULL;
	of->next = 0;
	free(of->mem);
	of->mem = NULL;
	of->memlen = 0;
	of->dirty = 0;
	of->trunc_only = 0;
	of->base_pending = 0;
	lgfs_manifest_reader_free(of->reader);
	of->reader = NULL;
	if (lgfs_inode_read(fs->index, of->ino, &in) == 0) {
		ofile_load(of, &in);
	} else {
		of->has_base = 0;
		of->base_size = of->base_limit = of->size = 0;
	}
}

/* The stream failed (its chunks could not be stored): the written bytes
 * are lost, so the file shows its last committed version again and every
 * later write, close or fsync through this open file reports the error,
 * like a failed write-back; nothing partial becomes a version. */
static int stream_failed(struct lgfs_fs *fs, struct ofile *of, int rc)
{
	lgfs_error_wrap(rc, "inode %llu: storing its written content; the unsaved writes are lost",
			(unsigned long long)of->ino);
	ofile_revert(fs, of);
	of->werr = lgfs_fs_errno(rc);
	return of->werr;
}

/* Turn the stream into an uncommitted manifest and make it the base, so
 * reads, writes elsewhere and truncation work as for any file. */
static int stream_settle(struct lgfs_fs *fs, struct ofile *of)
{
	uint8_t id[32], sha[32];
	uint64_t size;
	int rc;

	if (!of->stream)
		return 0;
	rc = lgfs_chunk_writer_finish(of->stream, id, &size, sha);
	if (rc)
		return stream_failed(fs, of, rc);
	lgfs_chunk_writer_free(of->stream);
	of->stream = NULL;
	memcpy(of->base, id, 32);
	memcpy(of->pending_sha, sha, 32);
	of->has_base = 1;
	of->base_pending = 1;
	of->base_size = of->base_limit = size;
	of->allocated = size; /* a stream has no holes */
	lgfs_manifest_reader_free(of->reader);
	of->reader = NULL;
	return 0;
}

/* Whether a write at off may start a stream: the file so far is exactly
 * the bytes written from offset 0, all in memory, and it continues them. */
static int stream_fits(const struct ofile *of, uint64_t off)
{
	if (off != of->size || (of->has_base && of->base_limit > 0))
		return 0;
	if (of->size == 0)
		return of->next == 0;
	return of->sfd < 0 && of->next == 1 && of->ext[0].s == 0 && of->ext[0].e == of->size &&
	       of->memlen == of->size;
}

/* Start a stream with what is staged in memory. On failure nothing
 * changes and the write takes the usual path. */
static void stream_start(struct lgfs_fs *fs, struct ofile *of)
{
	struct lgfs_chunk_writer *w;

	if (lgfs_chunk_writer_new_async(&w, fs->chunks)) {
		lgfs_error_clear();
		return;
	}
	if (of->memlen && lgfs_chunk_writer_write(w, of->mem, of->memlen)) {
		lgfs_chunk_writer_free(w);
		lgfs_error_clear();
		return;
	}
	free(of->mem);
	of->mem = NULL;
	of->memlen = 0;
	of->next = 0;
	of->stream = w;
}

/* ---- versions ---- */

void lgfs_ofile_attrs(const struct ofile *of, uint64_t *size, uint64_t *blocks, int64_t *mtime)
{
	uint64_t stored;
	size_t i;

	*size = of->size;
	*mtime = of->dirty ? of->mtime : 0;
	/* stored bytes: the visible part of the last version, plus staged ranges */
	stored = of->allocated < of->base_limit ? of->allocated : of->base_limit;
	for (i = 0; i < of->next; i++)
		stored += of->ext[i].e - of->ext[i].s;
	if (of->stream)
		stored = of->size;
	*blocks = ((stored < of->size ? stored : of->size) + 511) / 512;
}

static int ofile_commit(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, struct ofile *of, uint16_t op);

/* Building a version may take long (hashing a large file) with of->mu held:
 * stat reads the attributes as they were when it began (see struct ofile). */
int lgfs_ofile_commit(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, struct ofile *of, uint16_t op)
{
	int rc;

	pthread_mutex_lock(&of->snap_mu);
	lgfs_ofile_attrs(of, &of->snap_size, &of->snap_blocks, &of->snap_mtime);
	of->committing = 1;
	pthread_mutex_unlock(&of->snap_mu);
	rc = ofile_commit(fs, ctx, of, op);
	pthread_mutex_lock(&of->snap_mu);
	of->committing = 0;
	pthread_mutex_unlock(&of->snap_mu);
	return rc;
}

static int ofile_commit(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, struct ofile *of, uint16_t op)
{
	struct lgfs_chunk_writer *w = NULL;
	struct lgfs_record r;
	uint8_t id[32], sha[32], *buf = NULL;
	uint64_t pos = 0, size, holes = 0;
	int rc;

	if (of->werr)
		return of->werr;
	if (op == LGFS_OP_WRITE && !of->dirty)
		return 0;
	if (op == LGFS_OP_WRITE && of->trunc_only)
		op = LGFS_OP_TRUNCATE;
	if (fs->rdonly)
		return -EROFS;
	if ((rc = stream_settle(fs, of)))
		return rc;
	if (of->base_pending && of->next == 0 && of->size == of->base_size && of->base_limit == of->base_size) {
		/* written sequentially and cut already: the manifest is ready */
		memcpy(id, of->base, 32);
		memcpy(sha, of->pending_sha, 32);
		size = of->size;
		goto record;
	}
	buf = malloc(COPY_CHUNK);
	if (!buf)
		return -ENOMEM;
	if ((rc = lgfs_chunk_writer_new(&w, fs->chunks))) {
		rc = lgfs_fs_errno(rc);
		goto out;
	}
	while (pos < of->size) {
		uint64_t run;
		enum seg k = seg_at(of, pos, &run);

		if (k == SEG_ZERO) {
			/* unwritten ranges stay holes: sparse files cost nothing */
			if ((rc = lgfs_chunk_writer_hole(w, run))) {
				rc = lgfs_fs_errno(rc);
				goto out;
			}
			holes += run;
			pos += run;
			continue;
		}
		while (run) {
			size_t n = run < COPY_CHUNK ? (size_t)run : COPY_CHUNK;

			if (k == SEG_BASE) {
				/* the base's holes stay holes: sparse files stay sparse */
				uint64_t span;
				int hole;

				if ((rc = base_span(fs, of, pos, run, &span, &hole)))
					goto out;
				if (hole) {
					if ((rc = lgfs_chunk_writer_hole(w, span))) {
						rc = lgfs_fs_errno(rc);
						goto out;
					}
					holes += span;
					pos += span;
					run -= span;
					continue;
				}
				if (span < n)
					n = (size_t)span;
			}
			rc = k == SEG_STAGE ? stage_read(of, pos, buf, n) : base_read(fs, of, pos, buf, n);
			if (rc)
				goto out;
			if ((rc = lgfs_chunk_writer_write(w, buf, n))) {
				rc = lgfs_fs_errno(rc);
				goto out;
			}
			pos += n;
			run -= n;
		}
	}
	if ((rc = lgfs_chunk_writer_finish(w, id, &size, sha))) {
		rc = lgfs_fs_errno(rc);
		goto out;
	}
record:
	/* No sync here: the ledger's committer syncs the chunks before it
	 * writes the batch holding this record (lgfs_ledger_set_presync), so a
	 * durable record never names a chunk that is not durable. */
	lgfs_record_init(&r, op);
	if ((rc = lgfs_record_add_u64(&r, LGFS_F_INO, of->ino)) || (rc = lgfs_record_add_u64(&r, LGFS_F_SIZE, size)) ||
	    (rc = lgfs_record_add_bytes(&r, LGFS_F_MANIFEST, id, 32)) ||
	    (rc = lgfs_record_add_bytes(&r, LGFS_F_CONTENT, sha, 32)) ||
	    (rc = lgfs_record_add_i64(&r, LGFS_F_MTIME, of->mtime)) ||
	    (rc = lgfs_record_add_u64(&r, LGFS_F_ALLOCATED, size - holes))) {
		rc = lgfs_fs_errno(rc);
		goto out;
	}
	if ((rc = lgfs_fs_mutate(fs, ctx, &r, NULL)))
		goto out;
	/* The new version is the base from now on. */
	memcpy(of->base, id, 32);
	of->has_base = 1;
	of->base_pending = 0;
	of->base_size = of->base_limit = size;
	of->allocated = size - holes;
	lgfs_manifest_reader_free(of->reader);
	of->reader = NULL;
	of->next = 0;
	if (of->sfd >= 0 && ftruncate(of->sfd, 0))
		lgfs_error_errno(LGFS_EIO, "emptying a staging file"); /* harmless: extents say what counts */
	free(of->mem);
	of->mem = NULL;
	of->memlen = 0;
	of->dirty = 0;
	of->trunc_only = 0;
out:
	lgfs_chunk_writer_free(w);
	free(buf);
	return rc;
}

int lgfs_ofile_truncate(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, struct ofile *of, uint64_t size)
{
	uint64_t old_size = of->size, old_limit = of->base_limit;
	int64_t old_mtime = of->mtime;
	size_t old_next = of->next;
	int old_dirty = of->dirty, rc;
	struct extent *saved = NULL;

	if (size > LGFS_FILE_SIZE_MAX)
		return -EFBIG;
	if ((rc = stream_settle(fs, of)))
		return rc;
	/* Keep the staged state so that a refused truncate changes nothing. */
	if (old_next) {
		saved = malloc(old_next * sizeof(*saved));
		if (!saved)
			return -ENOMEM;
		memcpy(saved, of->ext, old_next * sizeof(*saved));
	}
	ext_cut(of, size);
	if (size < of->base_limit)
		of->base_limit = size;
	of->size = size;
	of->mtime = lgfs_fs_now();
	of->writer = *ctx;
	rc = lgfs_ofile_commit(fs, ctx, of, LGFS_OP_TRUNCATE);
	if (rc) {
		of->size = old_size;
		of->base_limit = old_limit;
		of->mtime = old_mtime;
		of->dirty = old_dirty;
		if (old_next)
			memcpy(of->ext, saved, old_next * sizeof(*saved));
		of->next = old_next;
	}
	free(saved);
	return rc;
}

int lgfs_ofile_commit_all(struct lgfs_fs *fs)
{
	int rc = 0;
	unsigned int b;

	if (fs->rdonly)
		return 0;
	pthread_mutex_lock(&fs->of_mu);
	for (b = 0; b < OFILE_BUCKETS; b++) {
		struct ofile *of;

		for (of = fs->ofiles[b]; of; of = of->hnext) {
			int r;

			pthread_mutex_lock(&of->mu);
			r = lgfs_ofile_commit(fs, &of->writer, of, LGFS_OP_WRITE);
			pthread_mutex_unlock(&of->mu);
			if (r && !rc)
				rc = r;
		}
	}
	pthread_mutex_unlock(&fs->of_mu);
	return rc;
}

/* ---- handles ---- */

static int handle_new(struct lgfs_fs *fs, const struct lgfs_inode *in, int flags, uint64_t *fh)
{
	struct handle *h = calloc(1, sizeof(*h));
	int rc;

	if (!h)
		return -ENOMEM;
	if ((rc = lgfs_ofile_get(fs, in, &h->of))) {
		free(h);
		return rc;
	}
	h->flags = flags;
	*fh = (uint64_t)(uintptr_t)h;
	return 0;
}

/* open(O_TRUNC): the file is empty from now on (for everyone in this
 * mount), and becomes a version at close together with what is written
 * meanwhile: one version, as the user sees it, not an empty version
 * followed by the new content. Closed without a write, it is a truncate
 * version. Like any staged change it is durable at fsync or close. */
static int ofile_trunc_open(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, struct ofile *of)
{
	int rc;

	if (of->werr)
		return of->werr;
	if ((rc = stream_settle(fs, of)))
		return rc;
	ext_cut(of, 0);
	of->base_limit = 0;
	of->size = 0;
	of->mtime = lgfs_fs_now();
	of->writer = *ctx;
	if (!of->dirty)
		of->trunc_only = 1;
	of->dirty = 1;
	return 0;
}

int lgfs_fs_open_file(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t ino, int flags, uint64_t *fh)
{
	struct lgfs_inode in;
	struct handle *h;
	int rc;

	if (fs->rdonly && (flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	rc = lgfs_inode_read(fs->index, ino, &in);
	if (rc)
		return rc;
	if (S_ISDIR(in.mode))
		return -EISDIR;
	if (!S_ISREG(in.mode))
		return -EINVAL;
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) {
		/* a retained or held file is read-only: refused at the open,
		 * not at the close that would make the version */
		MDB_txn *t;

		if ((rc = lgfs_index_begin(fs->index, 1, &t)))
			return rc;
		rc = lgfs_policy_may_change(fs->index, t, &in, lgfs_fs_now());
		mdb_txn_abort(t);
		if (rc)
			return rc;
	}
	if ((rc = handle_new(fs, &in, flags, fh)))
		return rc;
	h = (struct handle *)(uintptr_t)*fh;
	if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
		pthread_mutex_lock(&h->of->mu);
		if (h->of->size > 0)
			rc = ofile_trunc_open(fs, ctx, h->of);
		pthread_mutex_unlock(&h->of->mu);
		if (rc) {
			lgfs_ofile_put(fs, h->of);
			free(h);
			return rc;
		}
	}
	return 0;
}

int lgfs_fs_create(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t parent, const char *name,
		   uint32_t mode, int flags, struct lgfs_stat *st, uint64_t *fh)
{
	struct lgfs_inode in;
	int rc;

	rc = lgfs_fs_mknod(fs, ctx, parent, name, S_IFREG | (mode & 07777), 0, st);
	if (rc)
		return rc;
	rc = lgfs_inode_read(fs->index, st->ino, &in);
	if (rc)
		return rc;
	return handle_new(fs, &in, flags, fh);
}

int lgfs_fs_read(struct lgfs_fs *fs, uint64_t fh, uint64_t off, void *buf, size_t size, size_t *got)
{
	struct ofile *of = ((struct handle *)(uintptr_t)fh)->of;
	int rc = 0;

	*got = 0;
	pthread_mutex_lock(&of->mu);
	if (of->stream && off < of->size)
		rc = stream_settle(fs, of);
	if (!rc && off < of->size) {
		size_t n = of->size - off < size ? (size_t)(of->size - off) : size;

		rc = content_read(fs, of, off, buf, n);
		if (!rc)
			*got = n;
	}
	pthread_mutex_unlock(&of->mu);
	return rc;
}

static int staging_open(struct lgfs_fs *fs, struct ofile *of)
{
	char *path;
	int fd;

	fd = open(fs->staging, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* no O_TMPFILE here: a named file, unlinked at once */
		if (asprintf(&path, "%s/stage-XXXXXX", fs->staging) < 0)
			return -ENOMEM;
		fd = mkstemp(path);
		if (fd >= 0)
			unlink(path);
		free(path);
	}
	if (fd < 0) {
		int e = errno;

		lgfs_error_errno(LGFS_EIO, "creating a staging file in %s", fs->staging);
		return -e;
	}
	of->sfd = fd;
	return 0;
}

int lgfs_fs_write(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t fh, uint64_t off, const void *buf,
		  size_t size)
{
	struct handle *h = (struct handle *)(uintptr_t)fh;
	struct ofile *of = h->of;
	size_t done = 0;
	int rc = 0;

	if (fs->rdonly)
		return -EROFS;
	if (off > LGFS_FILE_SIZE_MAX || size > LGFS_FILE_SIZE_MAX - off)
		return -EFBIG;
	pthread_mutex_lock(&of->mu);
	if (of->werr) {
		rc = of->werr;
		goto out;
	}
	if (of->stream && off != of->size && (rc = stream_settle(fs, of)))
		goto out;
	if (!of->stream && off + size > MEM_STAGE_MAX && stream_fits(of, off))
		stream_start(fs, of);
	if (of->stream) {
		/* the next piece of a sequential stream: cut in the background */
		if ((rc = lgfs_chunk_writer_write(of->stream, buf, size))) {
			rc = stream_failed(fs, of, rc);
			goto out;
		}
		goto staged;
	}
	if (of->sfd < 0 && off + size <= MEM_STAGE_MAX) {
		if (off + size > of->memlen) {
			uint8_t *m = realloc(of->mem, (size_t)(off + size));

			if (!m) {
				rc = -ENOMEM;
				goto out;
			}
			memset(m + of->memlen, 0, (size_t)(off + size) - of->memlen);
			of->mem = m;
			of->memlen = (size_t)(off + size);
		}
		memcpy(of->mem + off, buf, size);
		done = size;
	} else if (of->sfd < 0) {
		/* too large for memory: move what is staged to a staging file */
		if ((rc = staging_open(fs, of)))
			goto out;
		while (done < of->memlen) {
			ssize_t n = pwrite(of->sfd, of->mem + done, of->memlen - done, (off_t)done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = -errno;
				lgfs_error_errno(LGFS_EIO, "staging a write to inode %llu", (unsigned long long)of->ino);
				close(of->sfd);
				of->sfd = -1;
				goto out;
			}
			done += (size_t)n;
		}
		free(of->mem);
		of->mem = NULL;
		of->memlen = 0;
		done = 0;
	}
	while (done < size) {
		ssize_t n = pwrite(of->sfd, (const uint8_t *)buf + done, size - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			lgfs_error_errno(LGFS_EIO, "staging a write to inode %llu", (unsigned long long)of->ino);
			goto out;
		}
		done += (size_t)n;
	}
	if ((rc = ext_add(of, off, off + size)))
		goto out;
staged:
	if (off + size > of->size)
		of->size = off + size;
	of->dirty = 1;
	of->trunc_only = 0;
	of->mtime = lgfs_fs_now();
	of->writer = *ctx;
out:
	pthread_mutex_unlock(&of->mu);
	return rc;
}

int lgfs_fs_flush(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t fh)
{
	struct ofile *of = ((struct handle *)(uintptr_t)fh)->of;
	int rc;

	(void)ctx;
	pthread_mutex_lock(&of->mu);
	/* the version is the writer's, whoever closes a descriptor */
	rc = lgfs_ofile_commit(fs, &of->writer, of, LGFS_OP_WRITE);
	pthread_mutex_unlock(&of->mu);
	return rc;
}

int lgfs_fs_release(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t fh)
{
	struct handle *h = (struct handle *)(uintptr_t)fh;
	int rc;

	/* The kernel sends release without credentials: a version still
	 * staged here (written through mmap after close) is the last
	 * flusher's, else the caller's. */
	pthread_mutex_lock(&h->of->mu);
	rc = lgfs_ofile_commit(fs, h->of->dirty ? &h->of->writer : ctx, h->of, LGFS_OP_WRITE);
	pthread_mutex_unlock(&h->of->mu);
	lgfs_ofile_put(fs, h->of);
	free(h);
	return rc;
}

int lgfs_fs_fsync(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t fh)
{
	struct ofile *of = ((struct handle *)(uintptr_t)fh)->of;
	int rc;

	pthread_mutex_lock(&of->mu);
	rc = lgfs_ofile_commit(fs, of->dirty ? &of->writer : ctx, of, LGFS_OP_WRITE);
	pthread_mutex_unlock(&of->mu);
	if (rc)
		return rc;
	return lgfs_fs_sync(fs);
}

int lgfs_fs_fallocate(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, uint64_t fh, int mode, uint64_t off,
		      uint64_t len)
{
	struct ofile *of = ((struct handle *)(uintptr_t)fh)->of;
	int rc = 0;

	if (mode != 0)
		return -EOPNOTSUPP;
	if (len == 0 || off + len < off)
		return -EINVAL;
	if (off + len > LGFS_FILE_SIZE_MAX)
		return -EFBIG;
	pthread_mutex_lock(&of->mu);
	if (off + len > of->size)
		rc = lgfs_ofile_truncate(fs, ctx, of, off + len);
	pthread_mutex_unlock(&of->mu);
	return rc;
}

/* SEEK_DATA / SEEK_HOLE over the content this mount sees: staged bytes
 * are data, unwritten ranges and the base's holes are holes, and the end
 * of the file is a hole. */
int lgfs_fs_lseek(struct lgfs_fs *fs, uint64_t fh, int64_t off, int whence, uint64_t *out)
{
	struct ofile *of = ((struct handle *)(uintptr_t)fh)->of;
	uint64_t pos, size;
	int rc = 0;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	pthread_mutex_lock(&of->mu);
	size = of->size;
	if (off < 0 || (uint64_t)off >= size) {
		rc = -ENXIO;
		goto out;
	}
	for (pos = (uint64_t)off; pos < size;) {
		uint64_t run;
		int hole;

		if (of->stream) {
			run = size - pos; /* a stream is all data */
			hole = 0;
		} else {
			enum seg k = seg_at(of, pos, &run);

			hole = k == SEG_ZERO;
			if (k == SEG_BASE && (rc = base_span(fs, of, pos, run, &run, &hole)))
				goto out;
		}
		if (hole == (whence == SEEK_HOLE)) {
			*out = pos;
			goto out;
		}
		pos += run;
	}
	if (whence == SEEK_HOLE)
		*out = size;
	else
		rc = -ENXIO;
out:
	pthread_mutex_unlock(&of->mu);
	return rc;
}

/* Make sure every directory on the way to the last component exists;
 * *parent gets the last directory, *leaf points into path at the name. */
static int make_parents(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, const char *path, uint64_t *parent,
			const char **leaf)
{
	const char *p = path, *q;
	uint64_t cur = LGFS_ROOT_INO;
	char name[256];
	int rc;

	if (*p != '/')
		return -EINVAL;
	for (;;) {
		struct lgfs_stat st;

		while (*p == '/')
			p++;
		q = strchr(p, '/');
		if (!q)
			break;
		if ((size_t)(q - p) > 255)
			return -ENAMETOOLONG;
		memcpy(name, p, (size_t)(q - p));
		name[q - p] = '\0';
		rc = lgfs_fs_lookup(fs, cur, name, &st);
		if (rc == -ENOENT)
			rc = lgfs_fs_mkdir(fs, ctx, cur, name, 0755, &st);
		if (rc)
			return rc;
		if (!S_ISDIR(st.mode))
			return -ENOTDIR;
		cur = st.ino;
		p = q;
	}
	if (!*p)
		return -EISDIR;
	*parent = cur;
	*leaf = p;
	return 0;
}

int lgfs_fs_put_fd(struct lgfs_fs *fs, const struct lgfs_fs_ctx *ctx, const char *path, int fd, uint32_t mode,
		   struct lgfs_stat *st)
{
	struct ofile *of = NULL;
	uint64_t parent, fh = 0, pos = 0;
	const char *leaf;
	uint8_t *buf = NULL;
	int rc;

	if ((rc = make_parents(fs, ctx, path, &parent, &leaf)))
		return rc;
	rc = lgfs_fs_lookup(fs, parent, leaf, st);
	if (rc == -ENOENT)
		rc = lgfs_fs_create(fs, ctx, parent, leaf, mode, O_WRONLY, st, &fh);
	else if (!rc && !S_ISREG(st->mode))
		rc = S_ISDIR(st->mode) ? -EISDIR : -EINVAL;
	else if (!rc)
		rc = lgfs_fs_open_file(fs, ctx, st->ino, O_WRONLY, &fh);
	if (rc)
		return rc;
	of = ((struct handle *)(uintptr_t)fh)->of;
	buf = malloc(COPY_CHUNK);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	/* The new content replaces the old whole: stage it from offset 0 over
	 * an empty file, then commit once. */
	pthread_mutex_lock(&of->mu);
	of->size = 0;
	of->base_limit = 0;
	of->next = 0;
	of->dirty = 1;
	of->trunc_only = 0;
	of->mtime = lgfs_fs_now();
	pthread_mutex_unlock(&of->mu);
	for (;;) {
		ssize_t n = read(fd, buf, COPY_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			lgfs_error_errno(LGFS_EIO, "reading the input");
			break;
		}
		if (n == 0)
			break;
		if ((rc = lgfs_fs_write(fs, ctx, fh, pos, buf, (size_t)n)))
			break;
		pos += (uint64_t)n;
	}
	pthread_mutex_lock(&of->mu);
	if (rc) {
		/* forget the partial input: the old version stays current */
		ofile_revert(fs, of);
	} else {
		of->writer = *ctx;
		rc = lgfs_ofile_commit(fs, ctx, of, LGFS_OP_WRITE);
	}
	pthread_mutex_unlock(&of->mu);
out:
	free(buf);
	lgfs_fs_release(fs, ctx, fh);
	if (!rc)
		rc = lgfs_fs_getattr(fs, st->ino, st);
	return rc;
}
