/*
 * log_file.c — the embedded file:// log store: append-only segment files in
 * one directory (store layer). See log.h for the interface.
 *
 * The store keeps bytes in order and durably; it does not know what an
 * envelope or a record means. Its own frame check detects damage and torn
 * writes. It is not a security mechanism (anyone can recompute it): tamper
 * evidence comes from the Merkle tree and the signatures one layer up.
 *
 * DIRECTORY LAYOUT
 *
 *   <dir>/00000000000000000000.seg   frames of entries 0 .. a-1
 *   <dir>/<a as %020llu>.seg         frames of entries a .. b-1, and so on:
 *                                    a segment is named by the index of its
 *                                    first frame, 20 decimal digits
 *   <dir>/<name>.idx                 offsets sidecar of segment <name>.seg
 *   <dir>/lock                       flock(LOCK_EX) held by the one writer
 *
 * Entries are appended to the last segment. Before a frame is appended, if
 * the last segment already holds LEDGERFS_LOG_SEGMENT_BYTES bytes or more
 * (default 64 MiB; the environment variable, a decimal byte count >= 1, is
 * read at open and exists for tests), a new segment named by that frame's
 * index is started. So a segment passes the limit by less than one frame and
 * never starts empty, and segment names are strictly increasing. Other files
 * in the directory are ignored, except that a name ending in ".seg" that is
 * not 20 digits + ".seg" is reported as damage.
 *
 * FRAME FORMAT
 *
 * A segment file is a sequence of frames and nothing else (no file header).
 * Frame i+1 starts at the byte after frame i. All integers are unsigned,
 * big-endian:
 *
 *   offset    size  field
 *   0         4     magic: the ASCII bytes "LGF1" (0x4c 0x47 0x46 0x31)
 *   4         8     index: the entry's position in the log (u64 BE)
 *   12        4     E = envelope length (u32 BE), 1 .. 4096 (LGFS_LOG_MAX_ENVELOPE)
 *   16        4     R = record length (u32 BE), 0 .. 1048576 (LGFS_LOG_MAX_RECORD);
 *                   0 when the record is withheld or absent
 *   20        E     envelope bytes
 *   20+E      R     record bytes
 *   20+E+R    8     check: the first 8 bytes of SHA-256 over bytes
 *                   0 .. 20+E+R-1 of this frame (header, envelope, record)
 *
 * A frame is 28+E+R bytes. A frame is valid when its magic is "LGF1", its
 * index is the one expected at that position (the segment's name for the
 * first frame, one more than the previous frame's after that), E and R are in
 * range, the file holds all 28+E+R bytes and the check matches.
 *
 * OFFSETS SIDECAR (<name>.idx)
 *
 * u64 BE byte offsets: bytes 8k..8k+7 hold the offset in <name>.seg of the
 * frame of entry name+k. Derived data, written by appends without fsync for
 * tools that want to seek; this reader does not use it: anyone can edit it,
 * and a reader that seeks through it cannot tell that the frame it lands on
 * is the one the chain of frames from the segment's start reaches (junk
 * inserted before it, or a copy of it appended after the segment's last
 * frame, would go unseen). See READING.
 *
 * READING
 *
 * Every read checks continuity wherever its range starts: each frame must
 * carry the next index and start exactly where the previous one ends. The
 * last segment's offsets are proven at open (all its frames are checked)
 * and kept in memory. In an earlier segment, the offset of the range's
 * first frame is found by walking the frame headers from the segment's
 * start (payloads skipped; each frame's check is verified when it is read);
 * the offsets walked or read are kept for the life of the handle, so each
 * segment is walked at most once per handle (a 64 MiB segment: one
 * sequential read). A range that starts at a segment's first entry checks
 * that the previous segment ends exactly there; a range that reaches a
 * segment's last entry checks that nothing follows it. Any break is
 * LGFS_ECORRUPT naming the entry, the segment file and the byte offset, so
 * readers of any range agree with a reader of the whole log.
 *
 * OPEN AND THE TAIL RULES
 *
 * Open lists the directory (it does not scan earlier segments, except the
 * one before an empty last segment, see below) and checks that
 * segment names are consistent: the first segment is named 0, and each
 * segment but the last starts with a frame header whose magic is right and
 * whose index equals the segment's name. (That each segment ends exactly
 * where the next one begins is checked by reads, see READING.)
 * Then it checks every frame of the last segment from its start. After the
 * last valid frame:
 *
 *   1. nothing left: the log is clean;
 *   2. torn tail, when what remains is
 *        - shorter than a frame header (20 bytes), or
 *        - a frame whose header is valid but that runs past the end of the
 *          file (a write that did not complete), unless a valid frame with
 *          the next index starts somewhere after that header: then the
 *          length field is damaged, which is case 3, or
 *        - all zero bytes (the file size reached the disk, the data did not);
 *      a read-only open leaves it alone. A writable open with
 *      LGFS_LOG_KEEP_TORN leaves it too and refuses appends until the
 *      caller calls cut_torn(): only the caller can tell a torn write (never
 *      acknowledged: append returns only after fdatasync) from a cut-back
 *      of entries a checkpoint covered. torn_index is the index the tail's
 *      first frame header names (always the log's size), UINT64_MAX when the
 *      tail does not start with a valid header. Without the flag a writable
 *      open still cuts the tail back to the last valid frame and fsyncs it
 *      (transitional default). All report the number of bytes in
 *      torn_bytes;
 *   3. anything else is damage (a complete frame whose check fails, or a
 *      header with the wrong magic, index or an out-of-range length, not
 *      followed only by zeros), never repaired: a writable open fails with
 *      LGFS_ECORRUPT naming the index, the segment file, the byte offset and
 *      what failed; a read-only open succeeds with size = that index and
 *      sets damaged_at and damage, so an auditor can report it.
 *
 * An empty last segment (created by a roll, crash before its first frame) is
 * fine: then the previous segment is checked instead, strictly (it must end
 * exactly before the empty one's name; any torn or extra bytes there are
 * damage, since a segment is only started after the previous one is synced).
 * A directory without any .seg file is no log (LGFS_ENOTFOUND), unless
 * LGFS_LOG_CREATE is given, which creates the directory (like mkdir -p) and
 * an empty first segment.
 *
 * APPEND
 *
 * All frames of a batch are built in one buffer and written with one pwrite
 * (one per 8 MiB), then one fdatasync. A batch that rolls to a new segment
 * syncs the full segment first, then creates the new file and fsyncs the
 * directory, so a crash can never leave a later segment next to an
 * unfinished one. If a write or sync fails (ENOSPC, EIO), the batch is undone:
 * new segment files are removed and the old last segment is cut back to its
 * previous size and fsynced; the log keeps exactly its previous entries and
 * stays usable. Only if undoing fails too does the log refuse further appends
 * (reopen to recover by the tail rules).
 *
 * LOCKING
 *
 * A writable open takes flock(LOCK_EX|LOCK_NB) on <dir>/lock (LGFS_EBUSY when
 * another writer holds it; flock belongs to the open file description, so a
 * second writable open in the same process is refused too). Read-only opens
 * take no lock, write nothing, and see the log as it was when they opened.
 * Within a process, a writer-preferring rwlock lets reads run in parallel
 * and makes appends exclusive. The lock is held while read callbacks run, so
 * a callback must not call into the same log (append, read or size): with a
 * writer waiting, that deadlocks.
 *
 * All system calls go through lgfs_sys (sys.h) so tests can inject failures.
 */
#include "ledgerfs/log.h"
#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/sys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#define FRAME_MAGIC "LGF1"
#define FRAME_HDR 20            /* magic, index, envelope length, record length */
#define FRAME_CHECK 8           /* truncated SHA-256 at the end of a frame */
#define FRAME_MAX ((size_t)FRAME_HDR + LGFS_LOG_MAX_ENVELOPE + LGFS_LOG_MAX_RECORD + FRAME_CHECK)
#define SEG_DIGITS 20           /* digits of a segment name */
#define SEG_NAME_MAX 32         /* "%020llu.seg" and NUL, with room */
#define SEG_DEFAULT_BYTES (64ull << 20)
#define SEG_BYTES_ENV "LEDGERFS_LOG_SEGMENT_BYTES"
#define LOCK_NAME "lock"
#define FILE_MODE 0600          /* records are confidential: owner only, whatever the umask */
#define DIR_MODE 0700
#define FLUSH_BYTES (8u << 20)  /* bound on the append buffer before a pwrite */
#define AHEAD_MIN (64u << 10)   /* first read-ahead: a single entry costs one small pread */
#define AHEAD_MAX (4u << 20)    /* read-ahead doubles up to this on long reads */
#define SEARCH_WINDOW (4u << 20) /* bytes searched per pread when telling torn from damaged */
#define WHY_MAX 160

/* A growable array of byte offsets of frames within one segment. */
struct offs {
	uint64_t *v; /* offsets, ascending */
	size_t n;    /* in use */
	size_t cap;  /* allocated */
};

/* The store. The interface comes first so a struct lgfs_log * is also a
 * struct file_log *. */
struct file_log {
	struct lgfs_log base;
	pthread_rwlock_t lock;  /* shared: read, size; exclusive: append */
	char *dir;              /* the directory as given, for messages */
	int dirfd;              /* the log directory */
	int lockfd;             /* holds the writer's flock; -1 when read-only */
	int rdonly;             /* LGFS_LOG_RDONLY: never write anything */
	int broken;             /* a failed append could not be undone: refuse appends */
	int keep_torn;          /* LGFS_LOG_KEEP_TORN: open leaves a torn tail to cut_torn */
	int torn_pending;       /* a torn tail is on disk, cut_torn not called yet: refuse appends */
	uint64_t seg_limit;     /* start a new segment once the last one has this many bytes */
	uint64_t *segs;         /* first index (= name) of every segment, ascending */
	size_t nsegs;           /* segments; >= 1 once open */
	size_t segcap;          /* allocated entries of segs */
	int tailfd;             /* the last segment; -1 if not opened (read-only, damaged earlier) */
	int tailidx;            /* its sidecar, -1 when read-only or it could not be opened */
	uint64_t tail_bytes;    /* bytes of valid frames in the last segment */
	struct offs toff;       /* offset of every frame in the last segment */
	uint64_t size;          /* entries in the log (read-only + damaged: up to the damage) */
	struct lgfs_buf wbuf;   /* frames of the batch being appended */
	pthread_mutex_t segv_mu; /* guards segv (readers hold `lock` shared) */
	struct segv *segv;      /* proven frame offsets of earlier segments, by position */
	size_t nsegv;           /* allocated entries of segv */
};

/* What this process has proven about an earlier (not the last) segment:
 * the offsets of its first frames, found by walking the frame headers from
 * the segment's start (never taken from the sidecar, which anyone can
 * edit), and whether the walk reached the segment's end exactly. Built on
 * demand by readers and kept for the life of the handle. */
struct segv {
	uint64_t first;   /* the segment's name; entries of another name are stale */
	struct offs o;    /* o.v[k]: offset of the frame of entry first+k */
	uint64_t vend;    /* end offset of the frame of entry first+o.n-1 (0 if none) */
	int complete;     /* every frame walked and the file ends right after the last */
};

/* A buffered reader over one segment file: large preads, frames parsed from
 * memory. Pointers into buf stay valid until the next fill. */
struct rd {
	int fd;
	const char *name; /* segment file name, for messages */
	uint64_t end;     /* bytes of the file that may be read */
	uint64_t base;    /* file offset of buf[0] */
	size_t pos;       /* next unread byte in buf */
	size_t len;       /* valid bytes in buf */
	size_t cap;       /* allocated bytes of buf */
	size_t ahead;     /* size of the next read; doubles on refills */
	uint8_t *buf;
};

/* What frame_next found where a frame should start. */
enum frame_status {
	FRAME_OK,    /* a valid frame, consumed */
	FRAME_END,   /* the file ends exactly here */
	FRAME_SHORT, /* the file ends inside the header or before the frame's declared end */
	FRAME_BAD,   /* a complete header or frame fails a check; see why */
};

/* One frame as parsed. */
struct frame {
	uint64_t off;        /* file offset of its first byte */
	size_t total;        /* bytes of the whole frame; 0 when the header is incomplete */
	uint32_t elen, rlen; /* envelope and record lengths */
	const uint8_t *env;  /* into the reader's buffer (verified frames only) */
	const uint8_t *rec;  /* NULL when rlen == 0 */
};

/* How the checked part of a segment ends (see the tail rules above). */
enum scan_state { SCAN_CLEAN, SCAN_TORN, SCAN_DAMAGED };

struct scan {
	enum scan_state state;
	uint64_t frames;   /* valid frames from the start of the segment */
	uint64_t valid;    /* bytes they take */
	uint64_t bytes;    /* size of the file */
	uint64_t bad_off;  /* SCAN_DAMAGED: offset of the damaged frame */
	int torn_hdr;      /* SCAN_TORN: the torn bytes start with a valid frame header */
	char why[WHY_MAX]; /* SCAN_DAMAGED: what failed */
};

/* A segment written to by the batch being appended. */
struct touched {
	int fd;
	uint64_t first;    /* its name */
	uint64_t start;    /* its size before the batch */
	uint64_t bytes;    /* its size after the frames written so far */
	int created;       /* created by this batch: removed if the batch fails */
	struct offs offs;  /* offsets of its new frames (not for the old last segment) */
};

static int cut_tail(struct file_log *fl);

/* Segment and sidecar names are derived from the first index in one place. */
static void seg_name(char out[SEG_NAME_MAX], uint64_t first, const char *ext)
{
	snprintf(out, SEG_NAME_MAX, "%0*" PRIu64 ".%s", SEG_DIGITS, first, ext);
}

/* The store's offset arrays grow one frame at a time. */
static int offs_push(struct offs *o, uint64_t x)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 256;
		uint64_t *v = realloc(o->v, cap * sizeof(*v));

		if (!v)
			return lgfs_error_set(LGFS_ENOMEM, "out of memory for log frame offsets");
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = x;
	return 0;
}

/* Offsets live as long as their segment is the last one or a batch runs. */
static void offs_free(struct offs *o)
{
	free(o->v);
	memset(o, 0, sizeof(*o));
}

/* Every reader starts empty; the buffer is allocated by the first fill. */
static void rd_init(struct rd *r, int fd, const char *name, uint64_t end)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->name = name;
	r->end = end;
	r->ahead = AHEAD_MIN;
}

/* The buffer is the only thing a reader owns (the fd belongs to the caller). */
static void rd_free(struct rd *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* File offset of the next unread byte: where the next frame starts. */
static uint64_t rd_off(const struct rd *r)
{
	return r->base + r->pos;
}

/* Move to a file offset, keeping buffered bytes when it is inside them. */
static void rd_seek(struct rd *r, uint64_t off)
{
	if (off >= r->base && off <= r->base + r->len) {
		r->pos = (size_t)(off - r->base);
		return;
	}
	r->base = off;
	r->pos = r->len = 0;
}

/* Consume n bytes without reading them if they are not buffered (header
 * scans skip over payloads). */
static void rd_skip(struct rd *r, uint64_t n)
{
	if (n <= r->len - r->pos) {
		r->pos += (size_t)n;
		return;
	}
	r->base += r->pos + n;
	r->pos = r->len = 0;
}

/* Make at least `need` bytes (fewer only at the end of the file) available at
 * buf + pos, reading ahead generously so that consecutive frames cost one
 * pread between them, not one per field. *avail gets the bytes available. */
static int rd_fill(struct rd *r, const char *dir, size_t need, size_t *avail)
{
	uint64_t left = r->end - rd_off(r);
	size_t have = r->len - r->pos, want;
	ssize_t got;

	if (need > left)
		need = (size_t)left;
	if (have >= need) {
		*avail = have;
		return 0;
	}
	if (r->pos) {
		memmove(r->buf, r->buf + r->pos, have);
		r->base += r->pos;
		r->pos = 0;
		r->len = have;
	}
	want = need > r->ahead ? need : r->ahead;
	if (want > left)
		want = (size_t)left;
	if (want > r->cap) {
		uint8_t *b = realloc(r->buf, want);

		if (!b)
			return lgfs_error_set(LGFS_ENOMEM, "out of memory reading log segment");
		r->buf = b;
		r->cap = want;
	}
	got = lgfs_sys_pread_full(r->fd, r->buf + r->len, want - r->len, (off_t)(r->base + r->len));
	if (got < 0)
		return lgfs_error_errno(LGFS_EIO, "reading log segment %s/%s at byte offset %" PRIu64,
					dir, r->name, r->base + r->len);
	r->len += (size_t)got;
	if ((size_t)got < want - have)
		r->end = r->base + r->len; /* the file is shorter than it was */
	if (r->ahead < AHEAD_MAX)
		r->ahead *= 2;
	*avail = r->len;
	return 0;
}

/* Checks of a frame header that need no other bytes of the frame. Returns 0
 * when it is fine, else 1 with `why` saying what failed. */
static int header_bad(const uint8_t *p, uint64_t want, uint32_t *elen, uint32_t *rlen,
		      char *why, size_t whylen)
{
	uint64_t index;

	if (memcmp(p, FRAME_MAGIC, 4) != 0) {
		snprintf(why, whylen, "bad magic %02x %02x %02x %02x (expected \"LGF1\")",
			 p[0], p[1], p[2], p[3]);
		return 1;
	}
	index = lgfs_be64_get(p + 4);
	if (index != want) {
		snprintf(why, whylen, "the frame's index field says %" PRIu64, index);
		return 1;
	}
	*elen = lgfs_be32_get(p + 12);
	*rlen = lgfs_be32_get(p + 16);
	if (*elen == 0 || *elen > LGFS_LOG_MAX_ENVELOPE) {
		snprintf(why, whylen, "envelope length %" PRIu32 " is out of range 1..%u",
			 *elen, LGFS_LOG_MAX_ENVELOPE);
		return 1;
	}
	if (*rlen > LGFS_LOG_MAX_RECORD) {
		snprintf(why, whylen, "record length %" PRIu32 " is out of range 0..%u",
			 *rlen, LGFS_LOG_MAX_RECORD);
		return 1;
	}
	return 0;
}

/* Parse the frame of entry `want` at the reader's position. With verify, the
 * whole frame is read and its check compared; without, only the header is
 * read and the payload skipped (enough to rebuild a sidecar). The reader
 * moves past the frame only on FRAME_OK. Returns a frame_status or a
 * negative error. */
static int frame_next(struct rd *r, const char *dir, uint64_t want, int verify, struct frame *f,
		      char *why, size_t whylen)
{
	uint8_t sum[LGFS_HASH_LEN];
	const uint8_t *p;
	size_t avail = 0;
	int rc;

	memset(f, 0, sizeof(*f));
	f->off = rd_off(r);
	if (f->off >= r->end)
		return FRAME_END;
	rc = rd_fill(r, dir, FRAME_HDR, &avail);
	if (rc)
		return rc;
	if (avail < FRAME_HDR)
		return avail ? FRAME_SHORT : FRAME_END;
	p = r->buf + r->pos;
	if (header_bad(p, want, &f->elen, &f->rlen, why, whylen))
		return FRAME_BAD;
	f->total = FRAME_HDR + (size_t)f->elen + f->rlen + FRAME_CHECK;
	if (f->total > r->end - f->off)
		return FRAME_SHORT;
	if (!verify) {
		rd_skip(r, f->total);
		return FRAME_OK;
	}
	rc = rd_fill(r, dir, f->total, &avail);
	if (rc)
		return rc;
	if (avail < f->total)
		return FRAME_SHORT;
	p = r->buf + r->pos;
	lgfs_sha256(sum, p, f->total - FRAME_CHECK);
	if (memcmp(sum, p + f->total - FRAME_CHECK, FRAME_CHECK) != 0) {
		snprintf(why, whylen, "check bytes do not match");
		return FRAME_BAD;
	}
	f->env = p + FRAME_HDR;
	f->rec = f->rlen ? p + FRAME_HDR + f->elen : NULL;
	r->pos += f->total;
	return FRAME_OK;
}

/* The one wording of damage, shared by errors and the read-only report. */
static void damage_text(char *out, size_t n, const struct file_log *fl, uint64_t index,
			uint64_t seg, uint64_t off, const char *why)
{
	char name[SEG_NAME_MAX];

	seg_name(name, seg, "seg");
	snprintf(out, n, "entry %" PRIu64 ": %s (segment %s/%s, byte offset %" PRIu64 ")",
		 index, why, fl->dir, name, off);
}

/* Damage found while reading: always an error. */
static int corrupt(const struct file_log *fl, uint64_t index, uint64_t seg, uint64_t off,
		   const char *why)
{
	char text[768];

	damage_text(text, sizeof(text), fl, index, seg, off, why);
	return lgfs_error_set(LGFS_ECORRUPT, "log is damaged at %s", text);
}

/* Damage found while opening: a writable open fails (damage is never
 * repaired); a read-only open records it, stops the log before it and
 * returns 1 so the caller stops loading and succeeds. */
static int damaged(struct file_log *fl, uint64_t index, uint64_t seg, uint64_t off,
		   const char *why)
{
	if (!fl->rdonly)
		return corrupt(fl, index, seg, off, why);
	damage_text(fl->base.damage, sizeof(fl->base.damage), fl, index, seg, off, why);
	fl->base.damaged_at = index;
	fl->size = index;
	return 1;
}

/* Open segment `first` and learn its size. Returns 1 (fd closed) when the
 * name is taken by something that is not a regular file, which the caller
 * reports as damage. O_NONBLOCK keeps a FIFO planted there from blocking the
 * open; it changes nothing for regular files. */
static int seg_open(struct file_log *fl, uint64_t first, int oflags, int *fd_out, uint64_t *bytes)
{
	char name[SEG_NAME_MAX];
	struct stat st;
	int fd;

	*fd_out = -1;
	seg_name(name, first, "seg");
	fd = lgfs_sys.openat(fl->dirfd, name, oflags | O_NONBLOCK | O_CLOEXEC, 0);
	if (fd < 0) {
		if (errno == EISDIR)
			return 1;
		return lgfs_error_errno(LGFS_EIO, "opening log segment %s/%s", fl->dir, name);
	}
	if (lgfs_sys.fstat(fd, &st) != 0) {
		int rc = lgfs_error_errno(LGFS_EIO, "stat of log segment %s/%s", fl->dir, name);

		lgfs_sys.close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		lgfs_sys.close(fd);
		return 1;
	}
	*fd_out = fd;
	*bytes = (uint64_t)st.st_size;
	return 0;
}

/* Write offsets v[0..n) as entries pos.. of the sidecar of segment `first`
 * (through fd, or a file opened here when fd < 0), optionally cutting the
 * sidecar after them. Derived data that no read here relies on: failures are
 * ignored and nothing is synced. */
static void idx_write(struct file_log *fl, int fd, uint64_t first, const uint64_t *v, size_t n,
		      uint64_t pos, int cut)
{
	char name[SEG_NAME_MAX];
	uint8_t *buf = NULL;
	int own = fd < 0;
	size_t k;

	if (fl->rdonly)
		return;
	if (own) {
		seg_name(name, first, "idx");
		fd = lgfs_sys.openat(fl->dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, FILE_MODE);
		if (fd < 0)
			return;
	}
	if (n) {
		buf = malloc(n * 8);
		if (!buf)
			goto done;
		for (k = 0; k < n; k++)
			lgfs_be64_put(buf + 8 * k, v[k]);
		if (lgfs_sys_pwrite_all(fd, buf, n * 8, (off_t)(pos * 8)) != 0)
			goto done;
	}
	if (cut)
		(void)lgfs_sys.ftruncate(fd, (off_t)((pos + n) * 8));
done:
	free(buf);
	if (own)
		lgfs_sys.close(fd);
}

/* The proof kept for earlier segment i, emptied if it belongs to another
 * segment (positions are reused only after a failed roll). Caller holds
 * segv_mu. NULL when out of memory. */
static struct segv *segv_get(struct file_log *fl, size_t i)
{
	struct segv *sv;

	if (i >= fl->nsegv) {
		size_t cap = fl->nsegs > i + 1 ? fl->nsegs : i + 1;

		sv = realloc(fl->segv, cap * sizeof(*sv));
		if (!sv)
			return NULL;
		memset(sv + fl->nsegv, 0, (cap - fl->nsegv) * sizeof(*sv));
		fl->segv = sv;
		fl->nsegv = cap;
	}
	sv = &fl->segv[i];
	if (sv->first != fl->segs[i]) {
		offs_free(&sv->o);
		sv->first = fl->segs[i];
		sv->vend = 0;
		sv->complete = 0;
	}
	return sv;
}

/* Walk the frame headers of earlier segment i (fd, `bytes` long) from where
 * its proof ends until it covers `upto` frames (each header checked: magic,
 * the next index, lengths in range, back to back). Payloads are skipped;
 * their checks are verified when the frame is read. Damage met on the way
 * is LGFS_ECORRUPT naming the entry and offset. Caller holds segv_mu. */
static int segv_walk(struct file_log *fl, struct segv *sv, int fd, uint64_t bytes, uint64_t upto)
{
	char name[SEG_NAME_MAX], why[WHY_MAX];
	struct frame f;
	struct rd r;
	int rc = 0, st;

	if (sv->o.n >= upto)
		return 0;
	seg_name(name, sv->first, "seg");
	rd_init(&r, fd, name, bytes);
	rd_seek(&r, sv->vend);
	while (sv->o.n < upto) {
		st = frame_next(&r, fl->dir, sv->first + sv->o.n, 0, &f, why, sizeof(why));
		if (st < 0) {
			rc = st;
			break;
		}
		if (st == FRAME_END)
			snprintf(why, sizeof(why), "the segment ends before this entry");
		else if (st == FRAME_SHORT)
			snprintf(why, sizeof(why), "the segment ends inside this entry");
		if (st != FRAME_OK) {
			rc = corrupt(fl, sv->first + sv->o.n, sv->first, f.off, why);
			break;
		}
		rc = offs_push(&sv->o, f.off);
		if (rc)
			break;
		sv->vend = f.off + f.total;
	}
	rd_free(&r);
	return rc;
}

/* Earlier segment i must hold exactly the entries up to the next segment's
 * name and end right after the last one: walked once, then remembered. */
static int segv_check_end(struct file_log *fl, struct segv *sv, int fd, uint64_t bytes, uint64_t next)
{
	char why[WHY_MAX];
	int rc;

	if (sv->complete)
		return 0;
	rc = segv_walk(fl, sv, fd, bytes, next - sv->first);
	if (rc)
		return rc;
	if (sv->vend != bytes) {
		snprintf(why, sizeof(why), "%" PRIu64 " unexpected bytes after entry %" PRIu64
			 ", the segment's last entry", bytes - sv->vend, next - 1);
		return corrupt(fl, next, sv->first, sv->vend, why);
	}
	sv->complete = 1;
	return 0;
}

/* Entry `at` of earlier segment i: its offset, proven by the header walk
 * from the segment's start. With `whole`, also check that the segment ends
 * exactly where the next one begins (a read that starts or ends at that
 * boundary). Serialised: a walk happens once per segment and handle. */
static int segv_locate(struct file_log *fl, size_t i, int fd, uint64_t bytes, uint64_t at, int whole,
		       uint64_t *off)
{
	struct segv *sv;
	int rc = 0;

	pthread_mutex_lock(&fl->segv_mu);
	sv = segv_get(fl, i);
	if (!sv) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory for log frame offsets");
		goto done;
	}
	if (whole)
		rc = segv_check_end(fl, sv, fd, bytes, fl->segs[i + 1]);
	if (!rc && off)
		rc = segv_walk(fl, sv, fd, bytes, at - sv->first + 1);
	if (!rc && off)
		*off = sv->o.v[at - sv->first];
done:
	pthread_mutex_unlock(&fl->segv_mu);
	return rc;
}

/* A read proved frames [k0, k0+o->n) of earlier segment i back to back,
 * the last ending at `end`: extend the kept proof with them, so a later
 * read starting there needs no walk. */
static void segv_learn(struct file_log *fl, size_t i, uint64_t k0, const struct offs *o, uint64_t end)
{
	struct segv *sv;
	size_t k;

	pthread_mutex_lock(&fl->segv_mu);
	sv = segv_get(fl, i);
	if (sv && sv->o.n >= k0 && sv->o.n < k0 + o->n) {
		for (k = sv->o.n - k0; k < o->n; k++)
			if (offs_push(&sv->o, o->v[k]) != 0)
				break;
		if (k == o->n)
			sv->vend = end;
		else
			lgfs_error_clear(); /* only a cache: the next read walks */
	}
	pthread_mutex_unlock(&fl->segv_mu);
}

/* Open an earlier segment for reading; its name taken by something that is
 * not a regular file is damage. */
static int seg_open_read(struct file_log *fl, uint64_t first, int *fd, uint64_t *bytes)
{
	int rc = seg_open(fl, first, O_RDONLY, fd, bytes);

	if (rc > 0)
		rc = corrupt(fl, first, first, 0, "the segment is not a regular file");
	return rc;
}

/* Call cb for entries *at .. min(end, next)-1 of segment i, checking each
 * frame; *at advances past every delivered entry. Continuity is checked
 * wherever the range starts: the first frame's offset comes from the header
 * walk from the segment's start (or, in the last segment, from the scan at
 * open), never from the sidecar; every later frame must start right where
 * the previous one ends; a range that starts at a segment's first entry
 * checks that the previous segment ends exactly there, and a range that
 * reaches a segment's last entry checks that nothing follows it. */
static int read_segment(struct file_log *fl, size_t i, uint64_t *at, uint64_t end,
			lgfs_log_cb cb, void *arg)
{
	uint64_t first = fl->segs[i], k0 = *at - fl->segs[i], next, stop, bytes = 0, off;
	int tail = i + 1 == fl->nsegs, learn = !tail, fd = -1, pfd = -1, rc, st;
	char name[SEG_NAME_MAX], why[WHY_MAX];
	struct offs seen = { 0 };
	struct lgfs_log_entry e;
	struct frame f;
	struct rd r;

	seg_name(name, first, "seg");
	rd_init(&r, -1, name, 0);
	if (*at == first && i > 0) {
		/* the previous segment must end exactly before this one */
		uint64_t pbytes = 0;

		rc = seg_open_read(fl, fl->segs[i - 1], &pfd, &pbytes);
		if (!rc)
			rc = segv_locate(fl, i - 1, pfd, pbytes, 0, 1, NULL);
		if (pfd >= 0)
			lgfs_sys.close(pfd);
		if (rc)
			goto done;
	}
	if (tail) {
		fd = fl->tailfd;
		bytes = fl->tail_bytes;
		next = fl->size;
		off = fl->toff.v[*at - first];
	} else {
		rc = seg_open_read(fl, first, &fd, &bytes);
		if (rc)
			goto done;
		next = fl->segs[i + 1];
		rc = segv_locate(fl, i, fd, bytes, *at, 0, &off);
		if (rc)
			goto done;
	}
	r.fd = fd;
	r.end = bytes;
	rd_seek(&r, off);
	stop = end < next ? end : next;
	while (*at < stop) {
		st = frame_next(&r, fl->dir, *at, 1, &f, why, sizeof(why));
		if (st < 0) {
			rc = st;
			goto done;
		}
		if (st == FRAME_END)
			snprintf(why, sizeof(why), "the segment ends before this entry");
		else if (st == FRAME_SHORT)
			snprintf(why, sizeof(why), "the segment ends inside this entry");
		if (st != FRAME_OK) {
			rc = corrupt(fl, *at, first, f.off, why);
			goto done;
		}
		if (learn && offs_push(&seen, f.off) != 0) {
			offs_free(&seen); /* only a cache */
			lgfs_error_clear();
			learn = 0;
		}
		e.index = *at;
		e.envelope = f.env;
		e.envelope_len = f.elen;
		e.record = f.rec;
		e.record_len = f.rlen;
		rc = cb(arg, &e);
		if (rc)
			goto done;
		(*at)++;
	}
	if (learn && seen.n)
		segv_learn(fl, i, k0, &seen, rd_off(&r));
	/* This segment's last entry was read: nothing may follow it (unless
	 * that is the damage a read-only open already reported there). */
	if (!tail && *at == next && next != fl->base.damaged_at)
		rc = segv_locate(fl, i, fd, bytes, 0, 1, NULL);
done:
	offs_free(&seen);
	rd_free(&r);
	if (!tail && fd >= 0)
		lgfs_sys.close(fd);
	return rc;
}

/* The segment holding entry `index`: the last one named <= index. */
static size_t seg_find(const struct file_log *fl, uint64_t index)
{
	size_t lo = 0, hi = fl->nsegs;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (fl->segs[mid] <= index)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* read(): the range is checked against the size once, then served segment
 * by segment, each from its located frame onwards. */
static int file_read(struct lgfs_log *l, uint64_t from, uint64_t count, lgfs_log_cb cb, void *arg)
{
	struct file_log *fl = (struct file_log *)l;
	uint64_t at = from, end;
	size_t i;
	int rc = 0;

	pthread_rwlock_rdlock(&fl->lock);
	if (from > fl->size || count > fl->size - from) {
		rc = lgfs_error_set(LGFS_ERANGE, "log %s: entries %" PRIu64 "+%" PRIu64
				    " are past its size %" PRIu64, fl->dir, from, count, fl->size);
		goto done;
	}
	end = from + count;
	for (i = count ? seg_find(fl, from) : 0; at < end; i++) {
		rc = read_segment(fl, i, &at, end, cb, arg);
		if (rc)
			goto done;
	}
done:
	pthread_rwlock_unlock(&fl->lock);
	return rc;
}

/* size(): under the lock, so it never sees half of an append. */
static int file_size(struct lgfs_log *l, uint64_t *out)
{
	struct file_log *fl = (struct file_log *)l;

	pthread_rwlock_rdlock(&fl->lock);
	*out = fl->size;
	pthread_rwlock_unlock(&fl->lock);
	return 0;
}

/* Reject a bad batch before anything is written: lengths out of range are
 * the caller's bug (EINVAL); indexes that do not continue from `expected`
 * are a lost race or a stale view (ECONFLICT). */
static int check_batch(const struct file_log *fl, uint64_t expected,
		       const struct lgfs_log_entry *e, size_t n)
{
	size_t k;

	if (n && !e)
		return lgfs_error_set(LGFS_EINVAL, "append of %zu entries from a NULL array", n);
	for (k = 0; k < n; k++) {
		if (e[k].envelope_len == 0 || e[k].envelope_len > LGFS_LOG_MAX_ENVELOPE)
			return lgfs_error_set(LGFS_EINVAL, "log append: entry %" PRIu64
					      " has an envelope of %zu bytes (allowed 1..%u)",
					      e[k].index, e[k].envelope_len, LGFS_LOG_MAX_ENVELOPE);
		if (!e[k].envelope)
			return lgfs_error_set(LGFS_EINVAL, "log append: entry %" PRIu64
					      " has a NULL envelope", e[k].index);
		if (e[k].record_len > LGFS_LOG_MAX_RECORD)
			return lgfs_error_set(LGFS_EINVAL, "log append: entry %" PRIu64
					      " has a record of %zu bytes (allowed 0..%u)",
					      e[k].index, e[k].record_len, LGFS_LOG_MAX_RECORD);
		if (e[k].record_len && !e[k].record)
			return lgfs_error_set(LGFS_EINVAL, "log append: entry %" PRIu64
					      " has a NULL record of %zu bytes",
					      e[k].index, e[k].record_len);
	}
	if (fl->size != expected)
		return lgfs_error_set(LGFS_ECONFLICT, "log %s has %" PRIu64
				      " entries, the append expected %" PRIu64,
				      fl->dir, fl->size, expected);
	for (k = 0; k < n; k++)
		if (e[k].index != expected + k)
			return lgfs_error_set(LGFS_ECONFLICT, "log append: entry %zu of the batch has"
					      " index %" PRIu64 ", expected %" PRIu64,
					      k, e[k].index, expected + k);
	return 0;
}

/* Encode one frame (format at the top of this file) at the end of b. */
static int frame_put(struct lgfs_buf *b, const struct lgfs_log_entry *e)
{
	uint8_t hdr[FRAME_HDR], sum[LGFS_HASH_LEN];

	memcpy(hdr, FRAME_MAGIC, 4);
	lgfs_be64_put(hdr + 4, e->index);
	lgfs_be32_put(hdr + 12, (uint32_t)e->envelope_len);
	lgfs_be32_put(hdr + 16, (uint32_t)e->record_len);
	lgfs_sha256_3(sum, hdr, FRAME_HDR, e->envelope, e->envelope_len, e->record, e->record_len);
	if (lgfs_buf_reserve(b, FRAME_HDR + e->envelope_len + e->record_len + FRAME_CHECK))
		return LGFS_ENOMEM;
	lgfs_buf_put(b, hdr, FRAME_HDR);
	lgfs_buf_put(b, e->envelope, e->envelope_len);
	lgfs_buf_put(b, e->record, e->record_len);
	lgfs_buf_put(b, sum, FRAME_CHECK);
	return lgfs_buf_ok(b);
}

/* Write the buffered frames at the end of segment t (one pwrite). */
static int flush(struct file_log *fl, struct touched *t)
{
	char name[SEG_NAME_MAX];

	if (!fl->wbuf.len)
		return 0;
	if (lgfs_sys_pwrite_all(t->fd, fl->wbuf.data, fl->wbuf.len, (off_t)t->bytes) != 0) {
		seg_name(name, t->first, "seg");
		return lgfs_error_errno(LGFS_EIO, "writing %zu bytes to log segment %s/%s at byte"
					" offset %" PRIu64, fl->wbuf.len, fl->dir, name, t->bytes);
	}
	t->bytes += fl->wbuf.len;
	lgfs_buf_reset(&fl->wbuf);
	return 0;
}

/* Finish a segment's part of the batch: write what is buffered and make it
 * durable (the one fdatasync of the batch, unless the batch rolls). */
static int seg_finish(struct file_log *fl, struct touched *t)
{
	char name[SEG_NAME_MAX];
	int rc = flush(fl, t);

	if (rc)
		return rc;
	if (t->bytes > t->start && lgfs_sys.fdatasync(t->fd) != 0) {
		seg_name(name, t->first, "seg");
		return lgfs_error_errno(LGFS_EIO, "syncing log segment %s/%s", fl->dir, name);
	}
	return 0;
}

/* The segment list grows at open (listing) and on rolls. */
static int segs_push(struct file_log *fl, uint64_t first)
{
	if (fl->nsegs == fl->segcap) {
		size_t cap = fl->segcap ? fl->segcap * 2 : 16;
		uint64_t *v = realloc(fl->segs, cap * sizeof(*v));

		if (!v)
			return lgfs_error_set(LGFS_ENOMEM, "out of memory for the log segment list");
		fl->segs = v;
		fl->segcap = cap;
	}
	fl->segs[fl->nsegs++] = first;
	return 0;
}

/* Start segment `first` for the batch: create the file (it must not exist),
 * register it in t[*nt] at once so a failure below is undone, and fsync the
 * directory so the file is there after a crash. */
static int seg_start(struct file_log *fl, struct touched *t, size_t *nt, uint64_t first)
{
	char name[SEG_NAME_MAX];
	int fd, rc;

	seg_name(name, first, "seg");
	fd = lgfs_sys.openat(fl->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE);
	if (fd < 0)
		return lgfs_error_errno(LGFS_EIO, "creating log segment %s/%s", fl->dir, name);
	memset(&t[*nt], 0, sizeof(t[*nt]));
	t[*nt].fd = fd;
	t[*nt].first = first;
	t[*nt].created = 1;
	(*nt)++;
	rc = segs_push(fl, first);
	if (rc)
		return rc;
	if (lgfs_sys.fsync(fl->dirfd) != 0)
		return lgfs_error_errno(LGFS_EIO, "syncing log directory %s", fl->dir);
	return 0;
}

/* A batch failed: remove the segments it created, cut the old last segment
 * back to its size before the batch and sync, so the log holds exactly what
 * it held before. Keeps the original error; if undoing fails too, appends
 * are refused from now on. Returns rc. */
static int rollback(struct file_log *fl, struct touched *t, size_t nt, size_t nsegs0,
		    size_t toff0, int rc)
{
	char first_msg[768], name[SEG_NAME_MAX];
	const char *what = NULL;
	int err = 0;
	size_t k;

	snprintf(first_msg, sizeof(first_msg), "%s", lgfs_error_last());
	for (k = nt; k-- > 1;) {
		lgfs_sys.close(t[k].fd);
		seg_name(name, t[k].first, "seg");
		if (lgfs_sys.unlinkat(fl->dirfd, name, 0) != 0 && errno != ENOENT && !what) {
			what = "removing a new segment";
			err = errno;
		}
		seg_name(name, t[k].first, "idx");
		(void)lgfs_sys.unlinkat(fl->dirfd, name, 0);
		offs_free(&t[k].offs);
	}
	if (nt > 1 && lgfs_sys.fsync(fl->dirfd) != 0 && !what) {
		what = "syncing the log directory";
		err = errno;
	}
	if ((lgfs_sys.ftruncate(t[0].fd, (off_t)t[0].start) != 0 || lgfs_sys.fsync(t[0].fd) != 0) &&
	    !what) {
		what = "cutting the last segment back";
		err = errno;
	}
	fl->nsegs = nsegs0;
	fl->toff.n = toff0;
	if (what) {
		fl->broken = 1;
		return lgfs_error_set(rc, "%s; undoing the append failed too (%s: %s), the log"
				      " must be reopened", first_msg, what, strerror(err));
	}
	return rc;
}

/* Write a validated, non-empty batch: frames into one buffer per segment,
 * one pwrite, one fdatasync; a roll syncs the full segment before creating
 * the next. Only when everything is durable does the in-memory state move. */
static int write_batch(struct file_log *fl, const struct lgfs_log_entry *e, size_t n)
{
	size_t nt = 1, nsegs0 = fl->nsegs, toff0 = fl->toff.n, i, k;
	struct touched *t, *cur;
	int rc = 0;

	t = calloc(n + 1, sizeof(*t)); /* each new segment holds at least one frame */
	if (!t)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory appending to the log");
	t[0].fd = fl->tailfd;
	t[0].first = fl->segs[fl->nsegs - 1];
	t[0].start = t[0].bytes = fl->tail_bytes;
	cur = &t[0];
	lgfs_buf_reset(&fl->wbuf);
	for (i = 0; i < n; i++) {
		uint64_t at = cur->bytes + fl->wbuf.len;

		if (at >= fl->seg_limit && at > 0) {
			rc = seg_finish(fl, cur);
			if (!rc)
				rc = seg_start(fl, t, &nt, e[i].index);
			if (rc)
				goto done;
			cur = &t[nt - 1];
			at = 0;
		}
		rc = offs_push(cur == t ? &fl->toff : &cur->offs, at);
		if (!rc)
			rc = frame_put(&fl->wbuf, &e[i]);
		if (!rc && fl->wbuf.len >= FLUSH_BYTES)
			rc = flush(fl, cur);
		if (rc)
			goto done;
	}
	rc = seg_finish(fl, cur);
	if (rc)
		goto done;

	/* Durable. Sidecars (best effort), then the new tail. */
	idx_write(fl, fl->tailidx, t[0].first, fl->toff.v + toff0, fl->toff.n - toff0, toff0, 0);
	for (k = 1; k + 1 < nt; k++) {
		idx_write(fl, -1, t[k].first, t[k].offs.v, t[k].offs.n, 0, 1);
		lgfs_sys.close(t[k].fd);
		offs_free(&t[k].offs);
	}
	if (nt > 1) {
		char name[SEG_NAME_MAX];

		lgfs_sys.close(fl->tailfd);
		if (fl->tailidx >= 0)
			lgfs_sys.close(fl->tailidx);
		seg_name(name, cur->first, "idx");
		fl->tailidx = lgfs_sys.openat(fl->dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC, FILE_MODE);
		idx_write(fl, fl->tailidx, cur->first, cur->offs.v, cur->offs.n, 0, 1);
		fl->tailfd = cur->fd;
		offs_free(&fl->toff);
		fl->toff = cur->offs;
	}
	fl->tail_bytes = cur->bytes;
	fl->size += n;
done:
	if (rc)
		rc = rollback(fl, t, nt, nsegs0, toff0, rc);
	if (fl->wbuf.cap > 2 * FLUSH_BYTES)
		lgfs_buf_free(&fl->wbuf); /* do not keep a huge batch's buffer */
	free(t);
	return rc;
}

/* append(): checks, then the batch; see APPEND at the top of this file. */
static int file_append(struct lgfs_log *l, uint64_t expected, const struct lgfs_log_entry *e,
		       size_t n)
{
	struct file_log *fl = (struct file_log *)l;
	int rc;

	pthread_rwlock_wrlock(&fl->lock);
	if (fl->rdonly) {
		rc = lgfs_error_set(LGFS_EROFS, "log %s is open read-only", fl->dir);
		goto done;
	}
	if (fl->broken) {
		rc = lgfs_error_set(LGFS_EIO, "log %s: an earlier failed append could not be undone;"
				    " reopen the log", fl->dir);
		goto done;
	}
	if (fl->torn_pending) {
		rc = lgfs_error_set(LGFS_ECORRUPT, "log %s: %" PRIu64 " bytes after its %" PRIu64
				    " entries are an unfinished tail that is not cut yet; appending waits"
				    " until it is judged a torn write (cut_torn)", fl->dir,
				    fl->base.torn_bytes, fl->size);
		goto done;
	}
	rc = check_batch(fl, expected, e, n);
	if (rc || n == 0)
		goto done;
	rc = write_batch(fl, e, n);
done:
	pthread_rwlock_unlock(&fl->lock);
	return rc;
}

/* close(): also the cleanup of a failed open, so every field may still be
 * unset (-1 / NULL). Closing the lock file releases the writer's flock. */
static void file_close(struct lgfs_log *l)
{
	struct file_log *fl = (struct file_log *)l;

	if (!fl)
		return;
	if (fl->tailidx >= 0)
		lgfs_sys.close(fl->tailidx);
	if (fl->tailfd >= 0)
		lgfs_sys.close(fl->tailfd);
	if (fl->lockfd >= 0)
		lgfs_sys.close(fl->lockfd);
	if (fl->dirfd >= 0)
		lgfs_sys.close(fl->dirfd);
	pthread_rwlock_destroy(&fl->lock);
	pthread_mutex_destroy(&fl->segv_mu);
	while (fl->nsegv)
		offs_free(&fl->segv[--fl->nsegv].o);
	free(fl->segv);
	lgfs_buf_free(&fl->wbuf);
	offs_free(&fl->toff);
	free(fl->segs);
	free(fl->dir);
	free(fl);
}

/* After a frame whose header is valid but which runs past the end of the
 * file, look for a valid frame of entry `want` (the next one) in
 * [from, end). Found means the length field was damaged (the log continued
 * after this frame), not a torn write. 1 found (*at set), 0 not, < 0 error.
 * Only reached on an unclean tail; usually searches less than one frame. */
static int later_frame(struct file_log *fl, int fd, const char *name, uint64_t from,
		       uint64_t end, uint64_t want, uint64_t *at)
{
	uint8_t pat[12], sum[LGFS_HASH_LEN], *buf = NULL;
	uint32_t elen, rlen;
	char why[WHY_MAX];
	uint64_t s;
	size_t cap;
	int rc = 0;

	if (from >= end)
		return 0;
	memcpy(pat, FRAME_MAGIC, 4);
	lgfs_be64_put(pat + 4, want);
	cap = end - from < SEARCH_WINDOW + FRAME_MAX ? (size_t)(end - from) : SEARCH_WINDOW + FRAME_MAX;
	buf = malloc(cap);
	if (!buf)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory checking the log tail");
	for (s = from; s < end; s += SEARCH_WINDOW) {
		size_t n = end - s < cap ? (size_t)(end - s) : cap, lim, h;
		ssize_t got = lgfs_sys_pread_full(fd, buf, n, (off_t)s);
		const uint8_t *p = buf;

		if (got < 0) {
			rc = lgfs_error_errno(LGFS_EIO, "reading log segment %s/%s", fl->dir, name);
			goto done;
		}
		n = (size_t)got;
		lim = n < SEARCH_WINDOW ? n : SEARCH_WINDOW; /* hits past lim: next window */
		while ((p = memmem(p, n - (size_t)(p - buf), pat, sizeof(pat))) && p < buf + lim) {
			h = (size_t)(p - buf);
			if (n - h >= FRAME_HDR && !header_bad(p, want, &elen, &rlen, why, sizeof(why))) {
				size_t total = FRAME_HDR + (size_t)elen + rlen + FRAME_CHECK;

				if (n - h >= total) {
					lgfs_sha256(sum, p, total - FRAME_CHECK);
					if (memcmp(sum, p + total - FRAME_CHECK, FRAME_CHECK) == 0) {
						*at = s + h;
						rc = 1;
						goto done;
					}
				}
			}
			p++;
		}
		if (n < cap)
			break;
	}
done:
	free(buf);
	return rc;
}

/* Whether everything from the reader's position to the end is zero bytes
 * (a crash after the file size reached the disk but before the data did).
 * 1 yes, 0 no, < 0 error. */
static int rest_zero(struct file_log *fl, struct rd *r)
{
	while (rd_off(r) < r->end) {
		uint64_t left = r->end - rd_off(r);
		size_t avail = 0, k;
		int rc = rd_fill(r, fl->dir, left < AHEAD_MAX ? (size_t)left : AHEAD_MAX, &avail);

		if (rc)
			return rc;
		if (!avail)
			break;
		for (k = 0; k < avail; k++)
			if (r->buf[r->pos + k])
				return 0;
		rd_skip(r, avail);
	}
	return 1;
}

/* Check every frame of segment `first` (fd, `bytes` long) from its start,
 * stopping before entry `stop`; offsets go to o. Classifies what follows the
 * valid frames by the tail rules at the top of this file. */
static int scan_segment(struct file_log *fl, int fd, uint64_t first, uint64_t bytes,
			uint64_t stop, struct offs *o, struct scan *s)
{
	char name[SEG_NAME_MAX];
	uint64_t at = 0;
	struct frame f;
	struct rd r;
	int rc = 0, st;

	memset(s, 0, sizeof(*s));
	s->bytes = bytes;
	s->state = SCAN_CLEAN;
	seg_name(name, first, "seg");
	rd_init(&r, fd, name, bytes);
	while (first + s->frames < stop) {
		st = frame_next(&r, fl->dir, first + s->frames, 1, &f, s->why, sizeof(s->why));
		if (st < 0) {
			rc = st;
			goto done;
		}
		if (st == FRAME_OK) {
			rc = offs_push(o, f.off);
			if (rc)
				goto done;
			s->frames++;
			s->valid = f.off + f.total;
			continue;
		}
		if (st == FRAME_END)
			break;
		s->bad_off = f.off;
		if (st == FRAME_SHORT && f.total == 0) {
			s->state = SCAN_TORN; /* not even a whole header */
		} else if (st == FRAME_SHORT) {
			rc = later_frame(fl, fd, name, f.off + 1, r.end, first + s->frames + 1, &at);
			if (rc < 0)
				goto done;
			s->state = rc ? SCAN_DAMAGED : SCAN_TORN;
			s->torn_hdr = !rc;
			if (rc)
				snprintf(s->why, sizeof(s->why), "its length runs past the end of the"
					 " segment, but entry %" PRIu64 " follows at byte offset %" PRIu64,
					 first + s->frames + 1, at);
			rc = 0;
		} else {
			rc = rest_zero(fl, &r);
			if (rc < 0)
				goto done;
			s->state = rc ? SCAN_TORN : SCAN_DAMAGED;
			rc = 0;
		}
		break;
	}
done:
	rd_free(&r);
	return rc;
}

/* Segment i is not the last: it must exist as a regular file that starts
 * with the header of the entry it is named after. 0 fine, 1 damage recorded
 * (read-only), < 0 error. */
static int check_head(struct file_log *fl, size_t i)
{
	uint64_t first = fl->segs[i], bytes = 0;
	uint8_t hdr[FRAME_HDR];
	uint32_t elen, rlen;
	char why[WHY_MAX];
	ssize_t got;
	int fd, rc;

	rc = seg_open(fl, first, O_RDONLY, &fd, &bytes);
	if (rc > 0)
		return damaged(fl, first, first, 0, "the segment is not a regular file");
	if (rc)
		return rc;
	got = lgfs_sys_pread_full(fd, hdr, FRAME_HDR, 0);
	if (got < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "reading log segment of entry %" PRIu64, first);
		goto done;
	}
	if (got == 0)
		rc = damaged(fl, first, first, 0, "the segment is empty but is not the last one");
	else if (got < FRAME_HDR)
		rc = damaged(fl, first, first, 0, "the segment ends inside this entry");
	else if (header_bad(hdr, first, &elen, &rlen, why, sizeof(why)))
		rc = damaged(fl, first, first, 0, why);
done:
	lgfs_sys.close(fd);
	return rc;
}

/* The last segment holds no valid frame: a roll created it and the process
 * stopped before its first frame was durable. The previous segment was
 * synced before the roll, so it must be complete and end exactly before the
 * last one's name. */
static int load_after_roll(struct file_log *fl)
{
	uint64_t prev = fl->segs[fl->nsegs - 2], name = fl->segs[fl->nsegs - 1], bytes = 0;
	struct offs o = { 0 };
	char why[WHY_MAX];
	struct scan s;
	int fd, rc;

	rc = seg_open(fl, prev, O_RDONLY, &fd, &bytes);
	if (rc > 0)
		return damaged(fl, prev, prev, 0, "the segment is not a regular file");
	if (rc)
		return rc;
	rc = scan_segment(fl, fd, prev, bytes, name, &o, &s);
	if (rc)
		goto done;
	if (s.state == SCAN_DAMAGED) {
		rc = damaged(fl, prev + s.frames, prev, s.bad_off, s.why);
	} else if (s.state == SCAN_TORN) {
		rc = damaged(fl, prev + s.frames, prev, s.valid,
			     "the segment ends inside this entry and is not the last one");
	} else if (prev + s.frames < name) {
		snprintf(why, sizeof(why), "the segment ends before this entry, but the next"
			 " segment starts at %" PRIu64, name);
		rc = damaged(fl, prev + s.frames, prev, s.valid, why);
	} else if (s.valid != s.bytes) {
		snprintf(why, sizeof(why), "%" PRIu64 " unexpected bytes after entry %" PRIu64
			 ", the segment's last entry", s.bytes - s.valid, name - 1);
		rc = damaged(fl, name, prev, s.valid, why);
	} else {
		idx_write(fl, -1, prev, o.v, o.n, 0, 1);
		fl->size = name;
	}
done:
	offs_free(&o);
	lgfs_sys.close(fd);
	return rc;
}

/* Bring the segment list found in the directory into a consistent state:
 * name checks, then the last segment by the tail rules (see the top of this
 * file). 0 done (possibly with damage recorded when read-only), < 0 error. */
static int load(struct file_log *fl)
{
	size_t last = fl->nsegs - 1, i;
	uint64_t first = fl->segs[last], bytes = 0;
	char why[WHY_MAX];
	struct scan s;
	int rc;

	if (fl->segs[0] != 0) {
		snprintf(why, sizeof(why), "no segment holds it: the first segment file starts"
			 " at entry %" PRIu64, fl->segs[0]);
		rc = damaged(fl, 0, fl->segs[0], 0, why);
		return rc > 0 ? 0 : rc;
	}
	for (i = 0; i < last; i++) {
		rc = check_head(fl, i);
		if (rc)
			return rc > 0 ? 0 : rc;
	}
	rc = seg_open(fl, first, fl->rdonly ? O_RDONLY : O_RDWR, &fl->tailfd, &bytes);
	if (rc > 0)
		rc = damaged(fl, first, first, 0, "the segment is not a regular file");
	if (rc)
		return rc > 0 ? 0 : rc;
	rc = scan_segment(fl, fl->tailfd, first, bytes, UINT64_MAX, &fl->toff, &s);
	if (rc)
		return rc;
	fl->tail_bytes = s.valid;
	fl->size = first + s.frames;
	if (s.state == SCAN_DAMAGED) {
		rc = damaged(fl, fl->size, first, s.bad_off, s.why);
		return rc > 0 ? 0 : rc;
	}
	if (s.state == SCAN_TORN) {
		fl->base.torn_bytes = s.bytes - s.valid;
		if (s.torn_hdr)
			fl->base.torn_index = fl->size;
	}
	if (s.frames == 0 && last > 0) {
		/* Nothing valid in the last segment (empty, or only a torn
		 * frame): its name is the size only if the previous one ends
		 * right before it. Checked before any repair, so a refused
		 * open changes nothing. */
		rc = load_after_roll(fl);
		if (rc)
			return rc > 0 ? 0 : rc;
	}
	if (s.state == SCAN_TORN && !fl->rdonly) {
		/* Cut now (transitional default), or leave it for the caller to
		 * judge: a tail that a checkpoint covered is not a torn write. */
		fl->torn_pending = 1;
		if (!fl->keep_torn)
			return cut_tail(fl);
	}
	return 0;
}

/* Cut the torn tail of the last segment back to its last valid frame and
 * make that durable. Caller holds the writer's lock (or is opening). */
static int cut_tail(struct file_log *fl)
{
	uint64_t first = fl->segs[fl->nsegs - 1];

	if (!fl->torn_pending)
		return 0;
	if (lgfs_sys.ftruncate(fl->tailfd, (off_t)fl->tail_bytes) != 0 ||
	    lgfs_sys.fsync(fl->tailfd) != 0)
		return lgfs_error_errno(LGFS_EIO, "cutting the torn tail of log segment %s/%0*" PRIu64
					".seg", fl->dir, SEG_DIGITS, first);
	fl->torn_pending = 0;
	return 0;
}

/* cut_torn(): see log.h. The caller decided that the tail is a torn write
 * (no checkpoint covered it); until then appends are refused. */
static int file_cut_torn(struct lgfs_log *l)
{
	struct file_log *fl = (struct file_log *)l;
	int rc;

	pthread_rwlock_wrlock(&fl->lock);
	if (fl->rdonly)
		rc = lgfs_error_set(LGFS_EROFS, "log %s is open read-only: its torn tail stays",
				    fl->dir);
	else
		rc = cut_tail(fl);
	pthread_rwlock_unlock(&fl->lock);
	return rc;
}

/* Parse "<20 digits>.seg"; 0 with *first set, or 1 for any other name. */
static int parse_seg_name(const char *s, uint64_t *first)
{
	uint64_t v = 0;
	int k;

	if (strlen(s) != SEG_DIGITS + 4 || strcmp(s + SEG_DIGITS, ".seg") != 0)
		return 1;
	for (k = 0; k < SEG_DIGITS; k++) {
		unsigned d = (unsigned)(s[k] - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return 1;
		v = v * 10 + d;
	}
	*first = v;
	return 0;
}

/* readdir order is arbitrary; segments must be sorted by first index. */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Find the segments by listing the directory (no segment is read here). */
static int list_segments(struct file_log *fl)
{
	struct dirent *de;
	uint64_t first;
	DIR *d = NULL;
	size_t len;
	int fd, rc = 0;

	fd = lgfs_sys.openat(fl->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return lgfs_error_errno(LGFS_EIO, "listing log directory %s", fl->dir);
	d = lgfs_sys.fdopendir(fd);
	if (!d) {
		rc = lgfs_error_errno(LGFS_EIO, "listing log directory %s", fl->dir);
		lgfs_sys.close(fd);
		return rc;
	}
	for (;;) {
		errno = 0;
		de = lgfs_sys.readdir(d);
		if (!de) {
			if (errno)
				rc = lgfs_error_errno(LGFS_EIO, "listing log directory %s", fl->dir);
			break;
		}
		len = strlen(de->d_name);
		if (len < 4 || strcmp(de->d_name + len - 4, ".seg") != 0)
			continue; /* sidecars, the lock, and files that are not ours */
		if (parse_seg_name(de->d_name, &first)) {
			rc = lgfs_error_set(LGFS_ECORRUPT, "log %s is damaged: unexpected file '%s'"
					    " (segment files are named by 20 decimal digits and .seg)",
					    fl->dir, de->d_name);
			break;
		}
		rc = segs_push(fl, first);
		if (rc)
			break;
	}
	lgfs_sys.closedir(d);
	if (!rc && fl->nsegs > 1)
		qsort(fl->segs, fl->nsegs, sizeof(fl->segs[0]), cmp_u64);
	return rc;
}

/* The segment size limit: 64 MiB, or LEDGERFS_LOG_SEGMENT_BYTES (tests). */
static int segment_limit(uint64_t *out)
{
	const char *s = getenv(SEG_BYTES_ENV);
	unsigned long long v;
	char *end;

	*out = SEG_DEFAULT_BYTES;
	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || v == 0)
		return lgfs_error_set(LGFS_EINVAL, "%s='%s' is not a byte count >= 1",
				      SEG_BYTES_ENV, s);
	*out = v;
	return 0;
}

/* Open (or with LGFS_LOG_CREATE create) the directory, lock it when
 * writable, find the segments and check the last one; see the top of this
 * file. On failure nothing is left open. */
int lgfs_log_file_open(struct lgfs_log **out, const char *dir, int flags)
{
	struct file_log *fl = NULL;
	pthread_rwlockattr_t attr;
	char name[SEG_NAME_MAX];
	int rc, fd;

	if (!out)
		return lgfs_error_set(LGFS_EINVAL, "lgfs_log_file_open: out is NULL");
	*out = NULL;
	if (!dir || !*dir)
		return lgfs_error_set(LGFS_EINVAL, "empty log directory name");
	if (flags & ~(LGFS_LOG_RDONLY | LGFS_LOG_CREATE | LGFS_LOG_KEEP_TORN))
		return lgfs_error_set(LGFS_EINVAL, "log open: unknown flags 0x%x", (unsigned)flags);
	if ((flags & LGFS_LOG_RDONLY) && (flags & LGFS_LOG_CREATE))
		return lgfs_error_set(LGFS_EINVAL, "log open: cannot create a log read-only");

	fl = calloc(1, sizeof(*fl));
	if (!fl)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory opening log");
	fl->dirfd = fl->lockfd = fl->tailfd = fl->tailidx = -1;
	fl->rdonly = !!(flags & LGFS_LOG_RDONLY);
	fl->keep_torn = !!(flags & LGFS_LOG_KEEP_TORN);
	fl->base.version = 2;
	fl->base.scheme = "file";
	fl->base.append = file_append;
	fl->base.read = file_read;
	fl->base.size = file_size;
	fl->base.close = file_close;
	fl->base.damaged_at = UINT64_MAX;
	fl->base.torn_index = UINT64_MAX;
	fl->base.cut_torn = file_cut_torn;
	pthread_mutex_init(&fl->segv_mu, NULL);
	/* Writer-preferring: with glibc's default, a steady stream of readers
	 * (a busy mount) would starve appends forever. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(&fl->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc != 0) {
		free(fl);
		return lgfs_error_set(LGFS_ENOMEM, "cannot create the log lock");
	}
	fl->dir = strdup(dir);
	if (!fl->dir) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory opening log");
		goto fail;
	}
	rc = segment_limit(&fl->seg_limit);
	if (rc)
		goto fail;

	fl->dirfd = lgfs_sys.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fl->dirfd < 0 && errno == ENOENT && (flags & LGFS_LOG_CREATE)) {
		rc = lgfs_sys_mkdirs(dir, DIR_MODE);
		if (rc)
			goto fail;
		fl->dirfd = lgfs_sys.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	}
	if (fl->dirfd < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "opening log directory %s", dir);
		goto fail;
	}
	rc = list_segments(fl);
	if (rc)
		goto fail;
	if (fl->nsegs == 0 && !(flags & LGFS_LOG_CREATE)) {
		/* Before the lock, so that no lock file is left in a directory
		 * that holds no log. */
		rc = lgfs_error_set(LGFS_ENOTFOUND, "no log in %s (no segment files)", dir);
		goto fail;
	}
	if (!fl->rdonly) {
		fl->lockfd = lgfs_sys.openat(fl->dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC,
					     FILE_MODE);
		if (fl->lockfd < 0) {
			rc = lgfs_error_errno(LGFS_EIO, "opening lock file %s/%s", dir, LOCK_NAME);
			goto fail;
		}
		if (lgfs_sys.flock(fl->lockfd, LOCK_EX | LOCK_NB) != 0) {
			if (errno == EWOULDBLOCK)
				rc = lgfs_error_set(LGFS_EBUSY, "log %s is open for writing elsewhere",
						    dir);
			else
				rc = lgfs_error_errno(LGFS_EIO, "locking %s/%s", dir, LOCK_NAME);
			goto fail;
		}
		/* List again under the lock: a writer that held it may have
		 * started a segment since. */
		fl->nsegs = 0;
		rc = list_segments(fl);
		if (rc)
			goto fail;
	}
	if (fl->nsegs == 0) {
		seg_name(name, 0, "seg");
		fd = lgfs_sys.openat(fl->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
				     FILE_MODE);
		if (fd < 0) {
			rc = lgfs_error_errno(LGFS_EIO, "creating log segment %s/%s", dir, name);
			goto fail;
		}
		fl->tailfd = fd;
		if (lgfs_sys.fsync(fl->dirfd) != 0) {
			rc = lgfs_error_errno(LGFS_EIO, "syncing log directory %s", dir);
			goto fail;
		}
		rc = segs_push(fl, 0);
	} else {
		rc = load(fl);
	}
	if (rc)
		goto fail;

	if (!fl->rdonly) {
		seg_name(name, fl->segs[fl->nsegs - 1], "idx");
		fl->tailidx = lgfs_sys.openat(fl->dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC, FILE_MODE);
		idx_write(fl, fl->tailidx, fl->segs[fl->nsegs - 1], fl->toff.v, fl->toff.n, 0, 1);
	}
	*out = &fl->base;
	return 0;
fail:
	file_close(&fl->base);
	return rc;
}

/* Probe the writer's lock without opening the log: take it and let go at
 * once. Used by auditors and status, which must not repair anything. */
int lgfs_log_file_busy(const char *dir)
{
	char path[4096];
	int fd, rc;

	if (snprintf(path, sizeof(path), "%s/%s", dir, LOCK_NAME) >= (int)sizeof(path))
		return lgfs_error_set(LGFS_EINVAL, "log directory path too long");
	fd = lgfs_sys.open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return errno == ENOENT ? 0 : lgfs_error_errno(LGFS_EIO, "opening %s", path);
	rc = lgfs_sys.flock(fd, LOCK_EX | LOCK_NB);
	if (rc == 0) {
		lgfs_sys.flock(fd, LOCK_UN);
		rc = 0;
	} else {
		rc = errno == EWOULDBLOCK ? 1 : lgfs_error_errno(LGFS_EIO, "probing %s", path);
	}
	lgfs_sys.close(fd);
	return rc;
}
