/*
 * chunks_pack.c — the file:// chunk store: chunks appended to pack files,
 * found through a derived LMDB index (store layer). See chunks.h for the
 * interface and docs/FORMAT.md §10 for the bytes on disk.
 *
 * Why packs: one file per chunk (chunks_file.c) spends most of its time in
 * the kernel creating files (~100 MB/s on ext4). Appending to one big file
 * is a single pwritev per chunk into the page cache.
 *
 * LAYOUT under the store directory
 *
 *   packs/NNNNNNNN.pack   append-only pack files, 8 decimal digits, dense
 *                         from 00000000; a new one is started before an
 *                         object that would take the current one past
 *                         LEDGERFS_PACK_BYTES (default 1 GiB; read at open,
 *                         for tests)
 *   index/                LMDB environment: id -> where the object is
 *   lock                  flock(LOCK_EX) of the one process that appends
 *
 * A pack is a 16-byte header ("LGPK", u32 version 1, u32 pack number,
 * u32 zero) followed by objects, each self-describing: a 48-byte header
 * (magic "LGCP", format raw/zstd, plain length, stored length, the 32-byte
 * id), the payload, and a CRC-32C of header and payload. The CRC finds torn
 * and damaged objects when packs are scanned; it costs a few µs per 64 KiB
 * with SSE4.2, where a second SHA-256 pass would cost ~45 µs. It is not what
 * makes content trustworthy: get() always checks SHA-256(plain) == id.
 *
 * THE INDEX IS DERIVED. It maps id -> (pack, offset, lengths, format, flags)
 * and stores, per pack, the offset up to which every object is indexed (the
 * watermark). It only ever covers bytes that an fdatasync made durable, and
 * it is committed with MDB_NOMETASYNC (LMDB's data pages are synced, its
 * meta page is not), so after a power loss it is an older but intact state;
 * MDB_NOSYNC could leave it torn, and a torn index that says "present" would
 * make put() skip a chunk that is not stored. Commits are rare (at sync when
 * 4096 objects or 256 MiB have gathered, and at close): objects not yet in
 * the index sit in an in-memory map, and at open every pack is scanned from
 * its watermark to its end. A missing or unreadable index is rebuilt by
 * scanning every pack. get() never trusts the index for content: it checks
 * the object header (id, lengths) and the SHA-256 of the plain bytes.
 *
 * TAIL RULES when a pack is scanned (at open; when a process starts to
 * append): after the last valid object, bytes that do not start a valid
 * object and are not followed by one anywhere later in the pack (an
 * incomplete object, zeros, a complete object failing its check — unsynced
 * pages reach the disk in any order) are a torn tail: cut by the process that
 * holds the lock, ignored otherwise. Anything invalid that IS followed by a
 * valid object is damage: it is never cut; an object whose header is intact
 * is remembered as damaged (get -> LGFS_ECORRUPT naming it, has -> 0 so a put
 * stores it again, iterate skips it), and scanning goes on at the next valid
 * object.
 *
 * WRITING. put() checks the map and the index (present: no-op), compresses
 * (zstd level 1 when it saves at least 1/8; a 16 KiB prefix probe first) and
 * computes the CRC outside any lock, then appends with one pwritev under the
 * append mutex. gets never take that mutex: an object is entered in the map
 * only once it is completely written. A failed write is cut back (ftruncate)
 * so the pack ends with its last good object. sync() fdatasyncs each pack
 * written since the last sync (+ the packs directory when one was created),
 * then maybe commits the index. If an fdatasync fails, what it should have
 * made durable cannot be trusted (Linux drops the dirty pages): every pack is
 * cut back to its last synced length and the chunks put since are forgotten
 * and counted as lost; sync() keeps failing until each of them is put again,
 * so no caller can mistake a lost chunk for a durable one.
 *
 * PROCESSES. Only one process appends: the first put takes flock(LOCK_EX |
 * LOCK_NB) on `lock` (LGFS_EBUSY if another process holds it; flock belongs
 * to the open file description, so a second handle in one process is a
 * second process here). Open takes the lock only briefly, to cut torn tails
 * and bring the index up to date, so read-only users never block a writer.
 * A process that does not append sees another's new objects by scanning the
 * packs' new bytes when a lookup misses. LMDB must not be opened twice in one
 * process, so environments are shared by all handles of a process through a
 * small registry.
 *
 * All file I/O goes through lgfs_sys (sys.h) so tests can inject ENOSPC/EIO.
 */
#include "ledgerfs/buf.h"
#include "ledgerfs/chunks.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/sys.h"
#include "zpool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zstd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define HAVE_SSE42_CRC 1
#endif

#define PACK_MAGIC "LGPK"
#define PACK_VERSION 1
#define PACK_HDR 16                 /* bytes of the pack file header */
#define OBJ_MAGIC "LGCP"
#define OBJ_HDR 48                  /* bytes of an object header */
#define OBJ_TRAILER 4               /* CRC-32C after the payload */
#define FMT_RAW 0
#define FMT_ZSTD 1
#define SMALL_RAW 1024              /* below this, compression is not tried (zpool.c) */
#define DEFAULT_PACK_BYTES (1ull << 30)
#define MAX_PACKS 100000000u        /* 8 decimal digits */
#define COMMIT_ENTRIES 4096         /* index commit after this many new objects ... */
#define COMMIT_BYTES (256ull << 20) /* ... or this many new pack bytes */
#define SCAN_WINDOW (1u << 20)      /* bytes searched at a time for the next valid object */
#define ITER_BATCH 1024             /* ids read per index transaction in iterate */
#define INDEX_VERSION "ledgerfs chunk index 1"
#define IX_VAL 24                   /* bytes of an index value */
#define F_DAMAGED 1                 /* object found damaged by a scan */
#define F_LOST 2                    /* put, then dropped by a failed sync (map only) */
#define NO_PACK UINT32_MAX

/* Largest object a pack may hold: a zstd payload may exceed its plain bytes
 * by ZSTD_compressBound's margin (we never store such a frame, but a valid
 * one is accepted when scanning). */
#define OBJ_MAX (OBJ_HDR + ZSTD_COMPRESSBOUND(LGFS_CHUNK_MAX) + OBJ_TRAILER)

#if UINTPTR_MAX > 0xffffffffu
#define MAP_SIZE (256ull << 30)     /* address space only; the file grows as needed */
#else
#define MAP_SIZE (1ull << 30)
#endif

/* ---------------------------------------------------------------------- */
/* CRC-32C (Castagnoli), the check at the end of every object.           */

#define CRC_POLY 0x82f63b78u  /* CRC-32C, reflected */
#define CRC_LONG 8192          /* stream length of the 3-way loops (powers of two) */
#define CRC_SHORT 256

/* Tables built once by crc_init: byte-at-a-time CRC, and the operators that
 * combine three streams; crc_hw says whether the CPU has SSE4.2. */
static uint32_t crc_table[256];
static uint32_t crc_long[4][256];  /* shift a CRC register over CRC_LONG zero bytes */
static uint32_t crc_short[4][256]; /* ... over CRC_SHORT zero bytes */
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw;

/* GF(2) matrix (32 columns) times vector: the building block for shifting a
 * CRC register over runs of zero bytes, which lets three independent CRC
 * streams be combined (Mark Adler's construction). */
static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
	uint32_t sum = 0;

	for (; vec; vec >>= 1, mat++)
		if (vec & 1)
			sum ^= *mat;
	return sum;
}

/* square = mat * mat. */
static void gf2_square(uint32_t *square, const uint32_t *mat)
{
	int n;

	for (n = 0; n < 32; n++)
		square[n] = gf2_times(mat, mat[n]);
}

/* Byte tables of the operator that feeds `len` zero bytes (a power of two)
 * through the CRC register. */
static void crc_zeros(uint32_t zeros[4][256], size_t len)
{
	uint32_t even[32], odd[32], row = 1, *op = even;
	int n;

	odd[0] = CRC_POLY; /* one zero bit */
	for (n = 1; n < 32; n++, row <<= 1)
		odd[n] = row;
	gf2_square(even, odd); /* two bits */
	gf2_square(odd, even); /* four bits */
	for (;;) {
		gf2_square(even, odd); /* 1, 4, 16 ... bytes */
		op = even;
		len >>= 1;
		if (!len)
			break;
		gf2_square(odd, even); /* 2, 8, 32 ... bytes */
		op = odd;
		len >>= 1;
		if (!len)
			break;
	}
	for (n = 0; n < 256; n++) {
		zeros[0][n] = gf2_times(op, (uint32_t)n);
		zeros[1][n] = gf2_times(op, (uint32_t)n << 8);
		zeros[2][n] = gf2_times(op, (uint32_t)n << 16);
		zeros[3][n] = gf2_times(op, (uint32_t)n << 24);
	}
}

/* Apply a zeros operator to a CRC register. */
static uint32_t crc_shift(uint32_t zeros[4][256], uint32_t c)
{
	return zeros[0][c & 0xff] ^ zeros[1][(c >> 8) & 0xff] ^ zeros[2][(c >> 16) & 0xff] ^
	       zeros[3][c >> 24];
}

/* Build the tables (byte table, reflected polynomial 0x82F63B78; the
 * stream-combining operators) and pick the SSE4.2 instruction when the CPU
 * has it. Once per process. */
static void crc_init(void)
{
	uint32_t i, k, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ CRC_POLY : c >> 1;
		crc_table[i] = c;
	}
	crc_zeros(crc_long, CRC_LONG);
	crc_zeros(crc_short, CRC_SHORT);
#ifdef HAVE_SSE42_CRC
	crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

/* Portable fallback, a byte at a time (~0.5 GB/s). */
static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
	while (n--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

#if defined(HAVE_SSE42_CRC) && defined(__x86_64__)
/* Three streams of `len` bytes at p, p+len, p+2len, run side by side (the
 * crc32 instruction has a latency of 3 cycles and a throughput of 1), then
 * combined. Returns the register after all 3*len bytes. */
__attribute__((target("sse4.2"))) static uint32_t crc_3way(uint32_t c, const uint8_t *p, size_t len,
							    uint32_t zeros[4][256])
{
	uint64_t c0 = c, c1 = 0, c2 = 0, v0, v1, v2;
	const uint8_t *end = p + len;

	for (; p < end; p += 8) {
		memcpy(&v0, p, 8);
		memcpy(&v1, p + len, 8);
		memcpy(&v2, p + 2 * len, 8);
		c0 = _mm_crc32_u64(c0, v0);
		c1 = _mm_crc32_u64(c1, v1);
		c2 = _mm_crc32_u64(c2, v2);
	}
	c = crc_shift(zeros, (uint32_t)c0) ^ (uint32_t)c1;
	return crc_shift(zeros, c) ^ (uint32_t)c2;
}
#endif

#ifdef HAVE_SSE42_CRC
/* The crc32 instruction: three streams at a time for long inputs (~20 GB/s),
 * else 8 bytes at a time. */
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t c, const uint8_t *p, size_t n)
{
#if defined(__x86_64__)
	uint64_t c64, v;

	for (; n >= 3 * CRC_LONG; n -= 3 * CRC_LONG, p += 3 * CRC_LONG)
		c = crc_3way(c, p, CRC_LONG, crc_long);
	for (; n >= 3 * CRC_SHORT; n -= 3 * CRC_SHORT, p += 3 * CRC_SHORT)
		c = crc_3way(c, p, CRC_SHORT, crc_short);
	for (c64 = c; n >= 8; n -= 8, p += 8) {
		memcpy(&v, p, 8);
		c64 = _mm_crc32_u64(c64, v);
	}
	c = (uint32_t)c64;
#endif
	for (; n >= 4; n -= 4, p += 4) {
		uint32_t v32;

		memcpy(&v32, p, 4);
		c = _mm_crc32_u32(c, v32);
	}
	while (n--)
		c = _mm_crc32_u8(c, *p++);
	return c;
}
#endif

/* Continue a CRC-32C over more bytes. Start with crc = 0; the value is the
 * standard CRC-32C of everything fed so far (init and final xor inside). */
static uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
	uint32_t c = ~crc;

	pthread_once(&crc_once, crc_init);
#ifdef HAVE_SSE42_CRC
	if (crc_hw)
		return ~crc_sse42(c, p, n);
#endif
	return ~crc_sw(c, p, n);
}

/* ---------------------------------------------------------------------- */
/* Data structures                                                        */

/* Where an object is and what it is: an index value, decoded. */
struct loc {
	uint64_t off;    /* of the object header in its pack */
	uint32_t pack;   /* pack number, NO_PACK for a lost entry */
	uint32_t stored; /* payload bytes */
	uint32_t plain;  /* plain bytes */
	uint8_t fmt;     /* FMT_RAW or FMT_ZSTD */
	uint8_t flags;   /* F_DAMAGED, F_LOST */
};

/* One slot of the in-memory map. */
struct ent {
	uint8_t id[32];
	struct loc loc;
	int used;
};

/* Objects not in the index yet (put or scanned since the last commit), and
 * damaged or lost ids: an open-addressing hash table, linear probing, keyed
 * by the id (SHA-256 output is uniform, its first 8 bytes are the hash).
 * Entries are never deleted one by one; a commit rebuilds the table. */
struct emap {
	struct ent *v;  /* cap slots */
	size_t cap;     /* power of two, or 0 */
	size_t n;       /* used slots */
	size_t nlost;   /* of which F_LOST */
	size_t nlive;   /* of which neither lost nor damaged */
};

/* What the store knows about one pack file. */
struct pack {
	int fd;          /* open file, -1 until first needed; guarded by rw, set once */
	int exists;      /* a file with this number was seen */
	uint64_t scanned; /* bytes known: indexed, in the map, or appended by us (guarded by mu) */
	uint64_t synced;  /* bytes known durable (index watermark or last fdatasync) */
	uint64_t indexed; /* the index's watermark */
	int dirty;       /* written since the last sync */
	uint64_t flushing; /* bytes handed to write-back early (WRITEBACK_STEP) */
	uint64_t dropped;  /* start of the range handed over last (its pages are dropped next time) */
	int dfd;         /* O_DIRECT descriptor for read-ahead, -1 until opened (guarded by rw) */
	int created;     /* created since the last sync: the directory needs an fsync */
};

/* An LMDB environment, shared by every handle of one process on one store
 * (LMDB breaks its own locks when a process opens a file twice). */
struct ix {
	dev_t dev;       /* identify the index directory */
	ino_t ino;
	pid_t pid;       /* the process that opened it: a forked child must not use it */
	MDB_env *env;
	MDB_dbi ids;     /* id -> IX_VAL bytes */
	MDB_dbi meta;    /* "version", and 'w' + u32 pack -> u64 watermark */
	int refs;        /* handles using it */
	struct ix *next;
};

/* The registry of open environments, one list per process. */
static pthread_mutex_t ix_mu = PTHREAD_MUTEX_INITIALIZER; /* guards ix_list */
static struct ix *ix_list;

/* The store. The interface comes first so a struct lgfs_chunks * is also a
 * struct pack_chunks *. Lock order: sync_mu, then mu, then rw. */
#define SPAN_BUFS 4 /* idle get_many buffers kept */

struct pack_chunks {
	struct lgfs_chunks base;
	char *root;              /* store directory, for messages and LMDB */
	int rootfd;              /* the store directory */
	int packsfd;             /* packs/ */
	int lockfd;              /* lock, flocked while this handle appends; -1 if read-only */
	int rdonly;              /* the directory cannot be written (read-only media) */
	int reader;              /* opened for reading (create == 0): never writes a byte of
				  * the store, and the derived index is a hint only */
	int truth;               /* reader: the packs were scanned whole after the index
				  * missed or misled; the map alone decides now */
	uint64_t roll_bytes;     /* start a new pack before passing this */
	struct ix *ix;           /* NULL: no usable index, the map holds everything */
	int ix_bad;              /* the index failed at runtime: no more commits */

	pthread_rwlock_t rw;     /* guards map and the packs array (and its fds) */
	struct emap map;
	struct pack *packs;      /* indexed by pack number; grows under mu + rw */
	uint32_t npacks, cappacks;

	pthread_mutex_t mu;      /* the append state below, and scans */
	int writer;              /* this handle holds the lock and appends */
	int broken;              /* a failed write could not be cut back: refuse puts */
	uint32_t cur;            /* pack appended to (valid when writer) */
	uint64_t uncommitted;    /* pack bytes appended or scanned since the last commit */

	struct lgfs_zpool zp;    /* zstd contexts (own lock: gets must not wait for puts) */

	pthread_mutex_t span_mu; /* idle aligned buffers for get_many */
	uint8_t *spans[SPAN_BUFS];
	int nspans;
	int no_direct;           /* O_DIRECT refused here: get_many reads buffered */

	pthread_mutex_t sync_mu; /* one sync (and commit) at a time */
};

/* ---------------------------------------------------------------------- */
/* The in-memory map                                                      */

/* Slot of id, or the empty slot where it would go. cap must be non-zero. */
static size_t emap_slot(const struct emap *m, const uint8_t id[32])
{
	uint64_t h;
	size_t i;

	memcpy(&h, id, 8);
	for (i = (size_t)h & (m->cap - 1); m->v[i].used && memcmp(m->v[i].id, id, 32) != 0;
	     i = (i + 1) & (m->cap - 1))
		;
	return i;
}

/* The entry for id, or NULL. Borrowed: valid while rw is held. */
static const struct ent *emap_get(const struct emap *m, const uint8_t id[32])
{
	size_t i;

	if (!m->cap)
		return NULL;
	i = emap_slot(m, id);
	return m->v[i].used ? &m->v[i] : NULL;
}

/* Is an entry a chunk that can be read (not lost, not damaged)? */
static int loc_live(const struct loc *l)
{
	return !(l->flags & (F_LOST | F_DAMAGED));
}

/* Keep the counters in step with one entry appearing (sign 1) or going. */
static void emap_count(struct emap *m, const struct loc *l, int sign)
{
	if (l->flags & F_LOST)
		m->nlost += sign;
	else if (loc_live(l))
		m->nlive += sign;
}

/* Insert or replace id's entry. LGFS_ENOMEM if the table cannot grow. */
static int emap_put(struct emap *m, const uint8_t id[32], const struct loc *l)
{
	size_t i;

	if ((m->n + 1) * 4 > m->cap * 3) {
		struct emap g = { 0 };
		size_t k;

		g.cap = m->cap ? m->cap * 2 : 1024;
		g.v = calloc(g.cap, sizeof(*g.v));
		if (!g.v)
			return lgfs_error_set(LGFS_ENOMEM, "out of memory for the chunk map");
		for (k = 0; k < m->cap; k++)
			if (m->v[k].used)
				g.v[emap_slot(&g, m->v[k].id)] = m->v[k];
		g.n = m->n;
		g.nlost = m->nlost;
		g.nlive = m->nlive;
		free(m->v);
		*m = g;
	}
	i = emap_slot(m, id);
	if (m->v[i].used) {
		emap_count(m, &m->v[i].loc, -1);
	} else {
		memcpy(m->v[i].id, id, 32);
		m->v[i].used = 1;
		m->n++;
	}
	m->v[i].loc = *l;
	emap_count(m, l, 1);
	return 0;
}

/* Rebuild the map without the entries `drop` says yes to. On allocation
 * failure the map is left as it was: dropping committed entries is only an
 * optimisation (rollback, which must not fail, marks entries in place). */
static void emap_filter(struct emap *m, int (*drop)(const struct ent *e, void *arg), void *arg)
{
	struct emap g = { 0 };
	size_t k, keep = 0;

	for (k = 0; k < m->cap; k++)
		if (m->v[k].used && !drop(&m->v[k], arg))
			keep++;
	if (keep) {
		for (g.cap = 1024; keep * 4 > g.cap * 3; g.cap *= 2)
			;
		g.v = calloc(g.cap, sizeof(*g.v));
		if (!g.v)
			return;
	}
	for (k = 0; k < m->cap; k++) {
		if (!m->v[k].used || drop(&m->v[k], arg))
			continue;
		g.v[emap_slot(&g, m->v[k].id)] = m->v[k];
		g.n++;
		emap_count(&g, &m->v[k].loc, 1);
	}
	free(m->v);
	*m = g;
}

/* ---------------------------------------------------------------------- */
/* Encoding                                                               */

/* The name of pack n inside packs/. */
static void pack_name(char name[24], uint32_t n)
{
	snprintf(name, 24, "%08u.pack", n);
}

/* The 16-byte header pack n starts with. */
static void pack_header(uint8_t h[PACK_HDR], uint32_t n)
{
	memcpy(h, PACK_MAGIC, 4);
	lgfs_be32_put(h + 4, PACK_VERSION);
	lgfs_be32_put(h + 8, n);
	lgfs_be32_put(h + 12, 0);
}

/* An object header. */
static void obj_header(uint8_t h[OBJ_HDR], uint8_t fmt, uint32_t plain, uint32_t stored,
		       const uint8_t id[32])
{
	memcpy(h, OBJ_MAGIC, 4);
	h[4] = fmt;
	h[5] = h[6] = h[7] = 0;
	lgfs_be32_put(h + 8, plain);
	lgfs_be32_put(h + 12, stored);
	memcpy(h + 16, id, 32);
}

/* Decode an object header into l (offset and pack left alone). 0 if it is
 * well-formed: magic, format, zero bytes, lengths in range. */
static int obj_header_parse(const uint8_t h[OBJ_HDR], struct loc *l)
{
	if (memcmp(h, OBJ_MAGIC, 4) != 0 || h[4] > FMT_ZSTD || h[5] || h[6] || h[7])
		return -1;
	l->fmt = h[4];
	l->plain = lgfs_be32_get(h + 8);
	l->stored = lgfs_be32_get(h + 12);
	l->flags = 0;
	if (l->plain > LGFS_CHUNK_MAX)
		return -1;
	if (l->fmt == FMT_RAW ? l->stored != l->plain
			      : l->stored == 0 || l->stored > ZSTD_compressBound(l->plain))
		return -1;
	return 0;
}

/* Index value encoding: u32 pack, u64 offset, u32 stored, u32 plain,
 * u8 format, u8 flags, u16 zero; big-endian. */
static void ix_val_put(uint8_t v[IX_VAL], const struct loc *l)
{
	lgfs_be32_put(v, l->pack);
	lgfs_be64_put(v + 4, l->off);
	lgfs_be32_put(v + 12, l->stored);
	lgfs_be32_put(v + 16, l->plain);
	v[20] = l->fmt;
	v[21] = l->flags & F_DAMAGED;
	v[22] = v[23] = 0;
}

/* Decode an index value; the index is only a cache, so it is bounded here
 * and checked against the object header on every read. */
static int ix_val_get(struct loc *l, const MDB_val *v)
{
	const uint8_t *p = v->mv_data;

	if (v->mv_size != IX_VAL)
		return -1;
	l->pack = lgfs_be32_get(p);
	l->off = lgfs_be64_get(p + 4);
	l->stored = lgfs_be32_get(p + 12);
	l->plain = lgfs_be32_get(p + 16);
	l->fmt = p[20];
	l->flags = p[21] & F_DAMAGED;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Pack files                                                             */

/* Make room for pack n in the table. Caller holds mu; takes rw. */
static int pack_slot(struct pack_chunks *pc, uint32_t n)
{
	int rc = 0;

	if (n >= MAX_PACKS)
		return lgfs_error_set(LGFS_ERANGE, "chunk store %s: too many packs", pc->root);
	if (n < pc->npacks)
		return 0;
	pthread_rwlock_wrlock(&pc->rw);
	if (n >= pc->cappacks) {
		uint32_t cap = pc->cappacks ? pc->cappacks : 16;
		struct pack *p;

		while (cap <= n)
			cap *= 2;
		p = realloc(pc->packs, cap * sizeof(*p));
		if (!p) {
			rc = lgfs_error_set(LGFS_ENOMEM, "out of memory for the pack table");
			goto out;
		}
		pc->packs = p;
		pc->cappacks = cap;
	}
	for (; pc->npacks <= n; pc->npacks++) {
		memset(&pc->packs[pc->npacks], 0, sizeof(struct pack));
		pc->packs[pc->npacks].fd = -1;
		pc->packs[pc->npacks].dfd = -1;
	}
out:
	pthread_rwlock_unlock(&pc->rw);
	return rc;
}

/* The fd of pack n, opened on first use and kept (preads need no lock once
 * they have it). A pack the table or the directory does not have is damage
 * when something points into it: LGFS_ECORRUPT. */
/* The descriptor of pack n, buffered (`direct` 0: read-write, or read-only
 * on read-only media) or O_DIRECT read-only, opened on first use and kept.
 * 0 with *out set, -ERANGE for a pack number beyond the table, else -errno
 * of the open. */
static int fd_slot(struct pack_chunks *pc, uint32_t n, int direct, int *out)
{
	char name[24];
	int fd, *slot;

	pthread_rwlock_rdlock(&pc->rw);
	fd = n >= pc->npacks ? -2 : direct ? pc->packs[n].dfd : pc->packs[n].fd;
	pthread_rwlock_unlock(&pc->rw);
	if (fd == -2)
		return -ERANGE;
	if (fd >= 0) {
		*out = fd;
		return 0;
	}
	pack_name(name, n);
	if (direct) {
		fd = lgfs_sys.openat(pc->packsfd, name, O_RDONLY | O_DIRECT | O_CLOEXEC, 0);
	} else {
		fd = lgfs_sys.openat(pc->packsfd, name, O_RDWR | O_CLOEXEC, 0);
		if (fd < 0 && (errno == EROFS || errno == EACCES))
			fd = lgfs_sys.openat(pc->packsfd, name, O_RDONLY | O_CLOEXEC, 0);
	}
	if (fd < 0)
		return -errno;
	pthread_rwlock_wrlock(&pc->rw);
	slot = direct ? &pc->packs[n].dfd : &pc->packs[n].fd; /* n < npacks: the table only grows */
	if (*slot < 0) {
		*slot = fd;
	} else {
		lgfs_sys.close(fd); /* another thread opened it first */
		fd = *slot;
	}
	pthread_rwlock_unlock(&pc->rw);
	*out = fd;
	return 0;
}

static int pack_fd(struct pack_chunks *pc, uint32_t n, int *out)
{
	char name[24];
	int rc = fd_slot(pc, n, 0, out);

	if (!rc)
		return 0;
	pack_name(name, n);
	if (rc == -ERANGE || rc == -ENOENT)
		return lgfs_error_set(LGFS_ECORRUPT, "pack %s/packs/%s is missing", pc->root, name);
	errno = -rc;
	return lgfs_error_errno(LGFS_EIO, "opening pack %s/packs/%s", pc->root, name);
}

/* pwritev until everything is written, retrying on EINTR and short writes
 * (a write that makes no progress is ENOSPC). 0, or -1 with errno set.
 * iov is consumed. */
static int pwritev_all(int fd, struct iovec *iov, int cnt, off_t off)
{
	while (cnt > 0) {
		ssize_t w = lgfs_sys.pwritev(fd, iov, cnt, off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		off += w;
		while (cnt > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The index (LMDB)                                                       */

/* An LMDB error as a project error. Damage-like codes also leave a marker
 * so the next open rebuilds the index. */
static int ix_error(struct pack_chunks *pc, int mrc, const char *what)
{
	if (!pc->reader && (mrc == MDB_CORRUPTED || mrc == MDB_PAGE_NOTFOUND || mrc == MDB_INVALID ||
			    mrc == MDB_VERSION_MISMATCH || mrc == MDB_BAD_TXN)) {
		int fd = lgfs_sys.openat(pc->rootfd, "index/rebuild", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		if (fd >= 0)
			lgfs_sys.close(fd);
	}
	return lgfs_error_set(LGFS_EIO, "chunk index %s/index: %s: %s", pc->root, what,
			      mdb_strerror(mrc));
}

/* A reader's view of the index: read-only, no lock file, nothing created
 * (a missing database is no index). Nonzero if it is unusable. */
static int ix_env_open_ro(struct ix *x, const char *path)
{
	MDB_txn *txn = NULL;
	int mrc;

	mrc = mdb_env_create(&x->env);
	if (mrc)
		return mrc;
	mdb_env_set_maxdbs(x->env, 2);
	mdb_env_set_mapsize(x->env, (size_t)MAP_SIZE);
	mrc = mdb_env_open(x->env, path, MDB_RDONLY | MDB_NOLOCK | MDB_NORDAHEAD, 0600);
	if (!mrc)
		mrc = mdb_txn_begin(x->env, NULL, MDB_RDONLY, &txn);
	if (!mrc)
		mrc = mdb_dbi_open(txn, "ids", 0, &x->ids);
	if (!mrc)
		mrc = mdb_dbi_open(txn, "meta", 0, &x->meta);
	if (!mrc)
		mrc = mdb_txn_commit(txn); /* keeps the database handles */
	else if (txn)
		mdb_txn_abort(txn);
	if (mrc) {
		mdb_env_close(x->env);
		x->env = NULL;
	}
	return mrc;
}

/* Open (or create) the environment and its two databases and check the
 * version. Nonzero if the index is unusable. */
static int ix_env_open(struct ix *x, const char *path)
{
	MDB_txn *txn = NULL;
	MDB_val k, v;
	MDB_stat st;
	int mrc;

	mrc = mdb_env_create(&x->env);
	if (mrc)
		return mrc;
	mdb_env_set_maxreaders(x->env, 1024);
	mdb_env_set_maxdbs(x->env, 2);
	mdb_env_set_mapsize(x->env, (size_t)MAP_SIZE);
	mrc = mdb_env_open(x->env, path, MDB_NOMETASYNC | MDB_NORDAHEAD, 0600);
	if (mrc)
		goto out;
	mdb_reader_check(x->env, NULL);
	mrc = mdb_txn_begin(x->env, NULL, 0, &txn);
	if (mrc)
		goto out;
	mrc = mdb_dbi_open(txn, "ids", MDB_CREATE, &x->ids);
	if (!mrc)
		mrc = mdb_dbi_open(txn, "meta", MDB_CREATE, &x->meta);
	if (mrc)
		goto out;
	k.mv_data = "version";
	k.mv_size = 7;
	mrc = mdb_get(txn, x->meta, &k, &v);
	if (mrc == MDB_NOTFOUND) {
		/* new, or emptied: only an index without entries may be adopted */
		mrc = mdb_stat(txn, x->ids, &st);
		if (!mrc && st.ms_entries)
			mrc = MDB_INVALID;
		if (!mrc) {
			v.mv_data = INDEX_VERSION;
			v.mv_size = strlen(INDEX_VERSION);
			mrc = mdb_put(txn, x->meta, &k, &v, 0);
		}
	} else if (!mrc && (v.mv_size != strlen(INDEX_VERSION) ||
			    memcmp(v.mv_data, INDEX_VERSION, v.mv_size) != 0)) {
		mrc = MDB_VERSION_MISMATCH;
	}
	if (mrc)
		goto out;
	mrc = mdb_txn_commit(txn);
	txn = NULL;
out:
	if (txn)
		mdb_txn_abort(txn);
	if (mrc) {
		mdb_env_close(x->env);
		x->env = NULL;
	}
	return mrc;
}

/* Remove the index files so the next environment starts empty. */
static void ix_wipe(struct pack_chunks *pc)
{
	(void)lgfs_sys.unlinkat(pc->rootfd, "index/data.mdb", 0);
	(void)lgfs_sys.unlinkat(pc->rootfd, "index/lock.mdb", 0);
	(void)lgfs_sys.unlinkat(pc->rootfd, "index/rebuild", 0);
}

/* The process's environment for this store, opened on first use. `holder`
 * (we hold the store lock) may wipe and recreate an unusable or marked
 * index; a non-holder that cannot use it gets NULL and works from a full
 * scan in memory. LGFS_ENOMEM is the only error. */
static int ix_acquire(struct pack_chunks *pc, int holder, struct ix **out)
{
	struct ix *x = NULL;
	struct stat st, mk;
	char *path = NULL;
	int rc = 0, marked;

	*out = NULL;
	if (lgfs_sys.fstatat(pc->rootfd, "index", &st, 0) != 0)
		return 0;
	pthread_mutex_lock(&ix_mu);
	for (x = pc->reader ? NULL : ix_list; x; x = x->next) {
		if (x->dev == st.st_dev && x->ino == st.st_ino && x->pid == getpid()) {
			x->refs++;
			*out = x;
			goto out;
		}
	}
	x = calloc(1, sizeof(*x));
	if (!x || asprintf(&path, "%s/index", pc->root) < 0) {
		path = NULL;
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory opening the chunk index");
		goto out;
	}
	marked = lgfs_sys.fstatat(pc->rootfd, "index/rebuild", &mk, 0) == 0;
	if (marked && !holder)
		goto out; /* marked for rebuild, not ours to do: scan in memory */
	if (pc->reader) {
		/* Never shared with a writable handle, never created. */
		if (ix_env_open_ro(x, path) != 0)
			goto out;
		x->refs = 1;
		*out = x;
		x = NULL;
		goto out;
	}
	if (marked)
		ix_wipe(pc);
	if (ix_env_open(x, path) != 0) {
		if (!holder)
			goto out;
		ix_wipe(pc);
		if (ix_env_open(x, path) != 0)
			goto out;
	}
	x->dev = st.st_dev;
	x->ino = st.st_ino;
	x->pid = getpid();
	x->refs = 1;
	x->next = ix_list;
	ix_list = x;
	*out = x;
	x = NULL;
out:
	pthread_mutex_unlock(&ix_mu);
	if (x && *out != x)
		free(x);
	free(path);
	return rc;
}

/* Drop a handle's reference; the last one closes the environment. */
static void ix_release(struct ix *x)
{
	struct ix **pp;

	if (!x)
		return;
	if (x->pid == 0) { /* a reader's private view (ix_acquire) */
		mdb_env_close(x->env);
		free(x);
		return;
	}
	pthread_mutex_lock(&ix_mu);
	if (--x->refs == 0) {
		for (pp = &ix_list; *pp; pp = &(*pp)->next) {
			if (*pp == x) {
				*pp = x->next;
				break;
			}
		}
		mdb_env_close(x->env);
		free(x);
	}
	pthread_mutex_unlock(&ix_mu);
}

/* Look id up in the index: 1 found (l filled), 0 absent, < 0 error. */
static int ix_lookup(struct pack_chunks *pc, const uint8_t id[32], struct loc *l)
{
	MDB_txn *txn;
	MDB_val k, v;
	int mrc, rc;

	if (!pc->ix)
		return 0;
	mrc = mdb_txn_begin(pc->ix->env, NULL, MDB_RDONLY, &txn);
	if (mrc)
		return ix_error(pc, mrc, "starting a read");
	k.mv_data = (void *)id;
	k.mv_size = 32;
	mrc = mdb_get(txn, pc->ix->ids, &k, &v);
	if (mrc == MDB_NOTFOUND) {
		rc = 0;
	} else if (mrc) {
		rc = ix_error(pc, mrc, "lookup");
	} else if (ix_val_get(l, &v) != 0) {
		rc = ix_error(pc, MDB_CORRUPTED, "malformed entry");
	} else {
		rc = 1;
	}
	mdb_txn_abort(txn);
	return rc;
}

/* Read every pack's watermark into the table (at open). */
static int ix_load_watermarks(struct pack_chunks *pc)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int mrc, rc = 0;

	if (!pc->ix)
		return 0;
	mrc = mdb_txn_begin(pc->ix->env, NULL, MDB_RDONLY, &txn);
	if (!mrc)
		mrc = mdb_cursor_open(txn, pc->ix->meta, &cur);
	if (mrc) {
		rc = ix_error(pc, mrc, "reading watermarks");
		goto out;
	}
	k.mv_data = "w";
	k.mv_size = 1;
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); !mrc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data;
		uint32_t n;

		if (k.mv_size != 5 || kp[0] != 'w' || v.mv_size != 8)
			break;
		n = lgfs_be32_get(kp + 1);
		rc = pack_slot(pc, n);
		if (rc)
			goto out;
		pc->packs[n].indexed = pc->packs[n].synced = pc->packs[n].scanned =
			lgfs_be64_get(v.mv_data);
	}
	if (mrc && mrc != MDB_NOTFOUND)
		rc = ix_error(pc, mrc, "reading watermarks");
out:
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

/* Is an entry durable and so ready for the index? */
static int ent_committable(const struct ent *e, void *arg)
{
	struct pack_chunks *pc = arg;

	return e->loc.pack != NO_PACK && !(e->loc.flags & F_LOST) && e->loc.pack < pc->npacks &&
	       e->loc.off + OBJ_HDR + e->loc.stored + OBJ_TRAILER <= pc->packs[e->loc.pack].synced;
}

/* Key order of bare ids. */
static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* Sort order of gathered entries (LMDB inserts in key order are faster). */
static int ent_cmp(const void *a, const void *b)
{
	return memcmp(((const struct ent *)a)->id, ((const struct ent *)b)->id, 32);
}

/* Move every durable entry of the map into the index and advance the
 * watermarks to the synced lengths; then drop them from the map. Caller
 * holds sync_mu (so `synced` does not move) and the store lock. Index
 * failures are not the data's: they stop further commits (everything stays
 * in the map, and the next open rebuilds), and return 0. */
static int ix_commit(struct pack_chunks *pc)
{
	struct ent *v = NULL;
	uint64_t *marks = NULL;
	uint32_t np, n;
	MDB_txn *txn = NULL;
	MDB_val k, d;
	size_t i, cnt = 0;
	uint8_t key[5], val[IX_VAL], wm[8];
	int mrc = 0, rc = 0;

	if (!pc->ix || pc->ix_bad)
		return 0;
	pthread_mutex_lock(&pc->mu);
	pthread_rwlock_rdlock(&pc->rw);
	np = pc->npacks;
	marks = calloc(np ? np : 1, sizeof(*marks));
	v = malloc((pc->map.n ? pc->map.n : 1) * sizeof(*v));
	if (marks && v) {
		for (n = 0; n < np; n++)
			marks[n] = pc->packs[n].synced > pc->packs[n].indexed ? pc->packs[n].synced : 0;
		for (i = 0; i < pc->map.cap; i++)
			if (pc->map.v[i].used && ent_committable(&pc->map.v[i], pc))
				v[cnt++] = pc->map.v[i];
	}
	pthread_rwlock_unlock(&pc->rw);
	pthread_mutex_unlock(&pc->mu);
	if (!marks || !v) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory committing the chunk index");
		goto out;
	}
	qsort(v, cnt, sizeof(*v), ent_cmp);
	mrc = mdb_txn_begin(pc->ix->env, NULL, 0, &txn);
	for (i = 0; !mrc && i < cnt; i++) {
		k.mv_data = v[i].id;
		k.mv_size = 32;
		ix_val_put(val, &v[i].loc);
		d.mv_data = val;
		d.mv_size = IX_VAL;
		mrc = mdb_put(txn, pc->ix->ids, &k, &d, 0);
	}
	for (n = 0; !mrc && n < np; n++) {
		if (!marks[n])
			continue;
		key[0] = 'w';
		lgfs_be32_put(key + 1, n);
		lgfs_be64_put(wm, marks[n]);
		k.mv_data = key;
		k.mv_size = 5;
		d.mv_data = wm;
		d.mv_size = 8;
		mrc = mdb_put(txn, pc->ix->meta, &k, &d, 0);
	}
	if (!mrc) {
		mrc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (mrc) {
		(void)ix_error(pc, mrc, "commit");
		pc->ix_bad = 1;
		lgfs_error_clear();
		goto out;
	}
	pthread_mutex_lock(&pc->mu);
	for (n = 0; n < np; n++)
		if (marks[n])
			pc->packs[n].indexed = marks[n];
	pc->uncommitted = 0;
	pthread_rwlock_wrlock(&pc->rw);
	emap_filter(&pc->map, ent_committable, pc);
	pthread_rwlock_unlock(&pc->rw);
	pthread_mutex_unlock(&pc->mu);
out:
	if (txn)
		mdb_txn_abort(txn);
	free(v);
	free(marks);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Lookups                                                                */

/* Where id is: the map first (newer), then the index. 1 found, 0 absent,
 * < 0 error. Lost entries count as absent; damaged ones are returned. */
static int lookup(struct pack_chunks *pc, const uint8_t id[32], struct loc *l)
{
	const struct ent *e;
	int rc;

	pthread_rwlock_rdlock(&pc->rw);
	e = emap_get(&pc->map, id);
	if (e)
		*l = e->loc;
	pthread_rwlock_unlock(&pc->rw);
	if (e && (l->flags & F_LOST))
		return 0;
	if (e && loc_live(l))
		return 1;
	if (pc->truth)
		return e ? 1 : 0; /* the packs were scanned whole: the map is everything */
	rc = ix_lookup(pc, id, l);
	if (rc < 0 && pc->reader) {
		lgfs_error_clear(); /* a broken hint is a miss: the packs decide */
		rc = 0;
	}
	if (rc == 1 && e && (e->loc.flags & F_DAMAGED) && e->loc.pack == l->pack && e->loc.off == l->off) {
		*l = e->loc; /* the copy the index names was found damaged since */
		return 1;
	}
	if (rc == 0 && e) {
		*l = e->loc; /* only a damaged copy is known */
		return 1;
	}
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Scanning packs                                                         */

/* What read_obj found at an offset. */
enum obj_state {
	OBJ_VALID,      /* complete, well-formed, check matches */
	OBJ_SHORT,      /* runs past the end of the pack (or less than a header left) */
	OBJ_BAD_HEADER, /* not an object header */
	OBJ_BAD_CHECK,  /* well-formed header, complete, check fails */
};

/* Read and check the object at pos of a pack of `size` bytes into buf (room
 * for OBJ_MAX). *state says what is there; l and *total are set when the
 * header is well-formed. Returns 0 or an I/O error. */
static int read_obj(struct pack_chunks *pc, int fd, uint64_t pos, uint64_t size, uint8_t *buf,
		    struct loc *l, uint64_t *total, enum obj_state *state)
{
	ssize_t r;
	size_t rest;

	if (size - pos < OBJ_HDR + OBJ_TRAILER) {
		*state = OBJ_SHORT;
		return 0;
	}
	r = lgfs_sys_pread_full(fd, buf, OBJ_HDR, (off_t)pos);
	if (r < 0)
		return lgfs_error_errno(LGFS_EIO, "reading a pack in %s", pc->root);
	if (r < OBJ_HDR) {
		*state = OBJ_SHORT;
		return 0;
	}
	if (obj_header_parse(buf, l) != 0) {
		*state = OBJ_BAD_HEADER;
		return 0;
	}
	*total = OBJ_HDR + (uint64_t)l->stored + OBJ_TRAILER;
	l->off = pos;
	if (*total > size - pos) {
		*state = OBJ_SHORT;
		return 0;
	}
	rest = l->stored + OBJ_TRAILER;
	r = lgfs_sys_pread_full(fd, buf + OBJ_HDR, rest, (off_t)(pos + OBJ_HDR));
	if (r < 0)
		return lgfs_error_errno(LGFS_EIO, "reading a pack in %s", pc->root);
	if ((size_t)r < rest) {
		*state = OBJ_SHORT;
		return 0;
	}
	*state = crc32c(0, buf, OBJ_HDR + l->stored) == lgfs_be32_get(buf + OBJ_HDR + l->stored)
			 ? OBJ_VALID
			 : OBJ_BAD_CHECK;
	return 0;
}

/* The offset of the first valid object at or after `from`, or `size` if
 * there is none: how a scan tells damage (something valid follows) from a
 * torn tail (nothing does). Searches for the magic a window at a time. */
static int find_valid(struct pack_chunks *pc, int fd, uint64_t from, uint64_t size, uint8_t *buf,
		      uint8_t *win, uint64_t *out)
{
	uint64_t base, tot;
	struct loc l;
	enum obj_state st;
	ssize_t r;
	int rc;

	for (base = from; base + 4 <= size; base += SCAN_WINDOW - 3) {
		size_t want = size - base < SCAN_WINDOW ? (size_t)(size - base) : SCAN_WINDOW, i;

		r = lgfs_sys_pread_full(fd, win, want, (off_t)base);
		if (r < 0)
			return lgfs_error_errno(LGFS_EIO, "reading a pack in %s", pc->root);
		for (i = 0; i + 4 <= (size_t)r; i++) {
			uint8_t *m = memmem(win + i, (size_t)r - i, OBJ_MAGIC, 4);

			if (!m)
				break;
			i = (size_t)(m - win);
			rc = read_obj(pc, fd, base + i, size, buf, &l, &tot, &st);
			if (rc)
				return rc;
			if (st == OBJ_VALID) {
				*out = base + i;
				return 0;
			}
		}
		if ((size_t)r < want)
			break;
	}
	*out = size;
	return 0;
}

/* Enter an object found by a scan, unless a usable copy is known already
 * (then this one is a duplicate and stays unreferenced). Caller holds mu. */
static int scan_found(struct pack_chunks *pc, const uint8_t id[32], const struct loc *l)
{
	const struct ent *e;
	struct loc old;
	int rc, known;

	pthread_rwlock_rdlock(&pc->rw);
	e = emap_get(&pc->map, id);
	known = e && loc_live(&e->loc);
	if (e && !loc_live(&e->loc) && !loc_live(l))
		known = 1; /* already known as damaged or lost */
	pthread_rwlock_unlock(&pc->rw);
	if (known)
		return 0;
	if (!pc->truth && (!e || (e->loc.flags & F_DAMAGED))) {
		rc = ix_lookup(pc, id, &old);
		if (rc < 0)
			lgfs_error_clear(); /* a broken index just means: enter it */
		if (rc == 1 && (loc_live(&old) || !loc_live(l)))
			return 0;
	}
	pthread_rwlock_wrlock(&pc->rw);
	rc = emap_put(&pc->map, id, l);
	pthread_rwlock_unlock(&pc->rw);
	return rc;
}

/* Remember the well-formed object at pos of pack n, whose check failed, as
 * damaged (its reads fail naming it); *tot gets its length. Caller holds mu. */
static int scan_damaged(struct pack_chunks *pc, int fd, uint32_t n, uint64_t pos, uint64_t size, uint8_t *buf,
			uint64_t *tot)
{
	enum obj_state st;
	struct loc l;
	int rc = read_obj(pc, fd, pos, size, buf, &l, tot, &st);

	if (rc)
		return rc;
	l.pack = n;
	l.flags = F_DAMAGED;
	return scan_found(pc, buf + 16, &l);
}

/* Scan pack n from what is known of it to its end; see the tail rules at
 * the top. `cut`: this handle holds the store lock and may repair (cut torn
 * tails, write a missing pack header). Caller holds mu. */
static int scan_pack(struct pack_chunks *pc, uint32_t n, int cut, uint8_t *buf, uint8_t *win)
{
	struct pack *p;
	struct stat st;
	uint8_t hdr[PACK_HDR], want[PACK_HDR];
	uint64_t pos, size, tot = 0, next = 0;
	enum obj_state s;
	struct loc l;
	ssize_t r;
	int fd, rc;

	rc = pack_fd(pc, n, &fd);
	if (rc)
		return rc;
	p = &pc->packs[n];
	if (lgfs_sys.fstat(fd, &st) != 0)
		return lgfs_error_errno(LGFS_EIO, "stat of a pack in %s", pc->root);
	size = (uint64_t)st.st_size;
	pos = p->scanned;
	if (pos < PACK_HDR) {
		static const uint8_t zero[PACK_HDR];

		pack_header(want, n);
		r = size < PACK_HDR ? 0 : lgfs_sys_pread_full(fd, hdr, PACK_HDR, 0);
		if (r < 0)
			return lgfs_error_errno(LGFS_EIO, "reading a pack in %s", pc->root);
		if (r < PACK_HDR && !cut)
			return 0; /* a pack being created by another process */
		if (cut && (r < PACK_HDR || memcmp(hdr, zero, PACK_HDR) == 0)) {
			/* created, then a crash before its header was durable */
			if ((r < PACK_HDR && lgfs_sys.ftruncate(fd, 0) != 0) ||
			    lgfs_sys_pwrite_all(fd, want, PACK_HDR, 0) != 0)
				return lgfs_error_errno(LGFS_EIO, "repairing a pack header in %s", pc->root);
			p->dirty = 1;
			if (size < PACK_HDR)
				size = PACK_HDR;
		}
		/* a wrong pack header is damage, but the objects after it are
		 * self-describing and still read */
		pos = PACK_HDR;
	}
	while (pos < size) {
		rc = read_obj(pc, fd, pos, size, buf, &l, &tot, &s);
		if (rc)
			return rc;
		if (s == OBJ_VALID) {
			l.pack = n;
			rc = scan_found(pc, buf + 16, &l);
			if (rc)
				return rc;
			pos += tot;
			pc->uncommitted += tot;
			continue;
		}
		rc = find_valid(pc, fd, pos + 1, size, buf, win, &next);
		if (rc)
			return rc;
		if (cut && (s == OBJ_BAD_CHECK || next < size)) {
			/* The writer never repairs evidence: a complete object that
			 * fails its check, or invalid bytes with objects after them,
			 * is damage, not an incomplete write. */
			char name[24];

			pack_name(name, n);
			return lgfs_error_set(LGFS_ECORRUPT,
					      "chunk store %s: pack %s is damaged at offset %llu (%s); nothing was cut or rewritten; run 'ledgerfs audit' on the volume for details",
					      pc->root, name, (unsigned long long)pos,
					      s == OBJ_BAD_CHECK ? "an object fails its check" : "bytes that are not an object, with objects after them");
		}
		if (s == OBJ_BAD_CHECK && next >= size) {
			/* a complete object failing its check at the end is damage
			 * too (FORMAT.md §10): remembered as such, as in the middle */
			if ((rc = scan_damaged(pc, fd, n, pos, size, buf, &tot)))
				return rc;
			pos += tot;
			continue;
		}
		if (next >= size) {
			/* torn tail: an incomplete object, or bytes that start none */
			if (cut) {
				if (lgfs_sys.ftruncate(fd, (off_t)pos) != 0)
					return lgfs_error_errno(LGFS_EIO, "cutting a torn pack tail in %s",
								pc->root);
				p->dirty = 1;
			}
			break;
		}
		/* damage in the middle: remember an identifiable object as
		 * damaged, skip to the next valid one */
		if (s == OBJ_BAD_CHECK && (rc = scan_damaged(pc, fd, n, pos, size, buf, &tot)))
			return rc;
		pos = next;
	}
	if (pos > p->scanned)
		p->scanned = pos;
	p->exists = 1;
	return 0;
}

/* Bring the map up to date with the pack files: packs created since we
 * last looked, and bytes appended to known ones. `from` is the first pack
 * to re-examine (0 at open). Caller holds mu. */
static int scan_packs(struct pack_chunks *pc, uint32_t from, int cut)
{
	uint8_t *buf = NULL, *win = NULL;
	char name[24];
	struct stat st;
	uint32_t n;
	int rc = 0;

	/* new packs: numbers are dense, so probe upwards */
	for (n = pc->npacks; n < MAX_PACKS; n++) {
		pack_name(name, n);
		if (lgfs_sys.fstatat(pc->packsfd, name, &st, 0) != 0)
			break;
		rc = pack_slot(pc, n);
		if (rc)
			goto out;
		pc->packs[n].exists = 1;
	}
	for (n = from; n < pc->npacks; n++) {
		struct pack *p = &pc->packs[n];

		if (!p->exists)
			continue;
		pack_name(name, n);
		if (lgfs_sys.fstatat(pc->packsfd, name, &st, 0) != 0) {
			if (errno == ENOENT)
				continue; /* gets into it report the damage */
			rc = lgfs_error_errno(LGFS_EIO, "stat of pack %s/packs/%s", pc->root, name);
			goto out;
		}
		if ((uint64_t)st.st_size == p->scanned && p->scanned >= PACK_HDR)
			continue;
		if ((uint64_t)st.st_size < p->scanned)
			continue; /* shorter than indexed: damage, reported by get */
		if (!buf) {
			buf = malloc(OBJ_MAX);
			win = malloc(SCAN_WINDOW);
			if (!buf || !win) {
				rc = lgfs_error_set(LGFS_ENOMEM, "out of memory scanning packs");
				goto out;
			}
		}
		rc = scan_pack(pc, n, cut, buf, win);
		if (rc)
			goto out;
	}
out:
	free(buf);
	free(win);
	return rc;
}

/* List packs/ once at open: packs numbered above a gap are found too. */
static int list_packs(struct pack_chunks *pc)
{
	struct dirent *e;
	DIR *d = NULL;
	unsigned long n;
	char *end;
	int fd, rc = 0;

	fd = lgfs_sys.openat(pc->packsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0 || !(d = lgfs_sys.fdopendir(fd))) {
		rc = lgfs_error_errno(LGFS_EIO, "listing %s/packs", pc->root);
		if (fd >= 0)
			lgfs_sys.close(fd);
		goto out;
	}
	for (;;) {
		errno = 0;
		e = lgfs_sys.readdir(d);
		if (!e) {
			if (errno)
				rc = lgfs_error_errno(LGFS_EIO, "listing %s/packs", pc->root);
			break;
		}
		if (strlen(e->d_name) != 13 || strcmp(e->d_name + 8, ".pack") != 0 ||
		    e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		n = strtoul(e->d_name, &end, 10);
		if (end != e->d_name + 8)
			continue;
		rc = pack_slot(pc, (uint32_t)n);
		if (rc)
			break;
		pc->packs[n].exists = 1;
	}
out:
	if (d)
		lgfs_sys.closedir(d);
	return rc;
}

/* Make scanned bytes durable before the index may cover them. */
static int sync_scanned(struct pack_chunks *pc)
{
	uint32_t n;
	int fd, rc;

	for (n = 0; n < pc->npacks; n++) {
		struct pack *p = &pc->packs[n];

		if (!p->exists || (p->synced >= p->scanned && !p->dirty))
			continue;
		rc = pack_fd(pc, n, &fd);
		if (rc)
			return rc;
		if (lgfs_sys.fdatasync(fd) != 0)
			return lgfs_error_errno(LGFS_EIO, "syncing a pack in %s", pc->root);
		p->synced = p->scanned;
		p->dirty = 0;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Appending                                                              */

/* Start pack n: create it (it must not exist), write its header, and
 * remember that the directory needs an fsync. Caller holds mu. */
static int new_pack(struct pack_chunks *pc, uint32_t n)
{
	uint8_t h[PACK_HDR];
	char name[24];
	int fd, rc;

	rc = pack_slot(pc, n);
	if (rc)
		return rc;
	pack_name(name, n);
	fd = lgfs_sys.openat(pc->packsfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return lgfs_error_errno(LGFS_EIO, "creating pack %s/packs/%s", pc->root, name);
	pack_header(h, n);
	if (lgfs_sys_pwrite_all(fd, h, PACK_HDR, 0) != 0) {
		rc = lgfs_error_errno(LGFS_EIO, "writing pack %s/packs/%s", pc->root, name);
		lgfs_sys.close(fd);
		(void)lgfs_sys.unlinkat(pc->packsfd, name, 0);
		return rc;
	}
	pthread_rwlock_wrlock(&pc->rw);
	pc->packs[n].fd = fd;
	pthread_rwlock_unlock(&pc->rw);
	pc->packs[n].exists = 1;
	pc->packs[n].scanned = PACK_HDR;
	pc->packs[n].dirty = 1;
	pc->packs[n].created = 1;
	pc->cur = n;
	return 0;
}

/* Become the appending process: take the lock, catch up with what others
 * appended (cutting torn tails: we are alone now), pick the pack to append
 * to. Caller holds mu. */
static int become_writer(struct pack_chunks *pc)
{
	struct stat st;
	uint32_t last;
	int fd, rc;

	if (pc->writer)
		return 0;
	if (pc->rdonly)
		return lgfs_error_set(LGFS_EROFS, "chunk store %s is read-only", pc->root);
	if (lgfs_sys.flock(pc->lockfd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			return lgfs_error_set(LGFS_EBUSY, "chunk store %s is being written by another"
					      " process", pc->root);
		return lgfs_error_errno(LGFS_EIO, "locking chunk store %s", pc->root);
	}
	rc = scan_packs(pc, pc->npacks ? pc->npacks - 1 : 0, 1);
	if (rc)
		goto out;
	for (last = pc->npacks; last > 0 && !pc->packs[last - 1].exists; last--)
		;
	if (last == 0) {
		rc = new_pack(pc, 0);
		goto out;
	}
	last--;
	rc = pack_fd(pc, last, &fd);
	if (rc)
		goto out;
	if (lgfs_sys.fstat(fd, &st) != 0) {
		rc = lgfs_error_errno(LGFS_EIO, "stat of a pack in %s", pc->root);
		goto out;
	}
	/* a pack shorter than its index says is damaged: leave it be */
	if ((uint64_t)st.st_size != pc->packs[last].scanned || pc->packs[last].scanned < PACK_HDR)
		rc = new_pack(pc, pc->npacks);
	else
		pc->cur = last;
out:
	if (rc)
		(void)lgfs_sys.flock(pc->lockfd, LOCK_UN);
	else
		__atomic_store_n(&pc->writer, 1, __ATOMIC_RELEASE); /* read without mu by find() */
	return rc;
}

/* Start write-back of what was appended since the last call once it
 * reaches WRITEBACK_STEP, without waiting for it: the disk then works while
 * more chunks arrive, and the fdatasync before the next log batch has only
 * the tail left. Advisory: a failure here is found by that fdatasync. */
#define WRITEBACK_STEP (8u << 20)

static void early_writeback(struct pack *p)
{
	if (p->flushing < p->synced)
		p->flushing = p->synced;
	if (p->scanned - p->flushing < WRITEBACK_STEP)
		return;
	/* The range handed over last time has had a step's worth of time to
	 * reach the disk: drop its pages from the page cache (pages still
	 * under write-back are kept), so appends reuse recently freed memory
	 * instead of growing the cache by the size of everything written. */
	if (p->flushing - p->dropped >= WRITEBACK_STEP && p->dropped >= PACK_HDR) {
		(void)posix_fadvise(p->fd, (off_t)p->dropped, (off_t)(p->flushing - p->dropped), POSIX_FADV_DONTNEED);
	}
	p->dropped = p->flushing;
	(void)sync_file_range(p->fd, (off_t)p->flushing, (off_t)(p->scanned - p->flushing), SYNC_FILE_RANGE_WRITE);
	p->flushing = p->scanned;
}

/* put: see chunks.h. The caller vouches that id = SHA-256(buf); a wrong id
 * is caught by get(), which always verifies. */
static int pk_put(struct lgfs_chunks *c, const uint8_t id[32], const void *buf, size_t len)
{
	struct pack_chunks *pc = (struct pack_chunks *)c;
	uint8_t hdr[OBJ_HDR], trl[OBJ_TRAILER], *z = NULL;
	struct iovec iov[3];
	const struct ent *e;
	struct loc l;
	size_t zlen = 0;
	uint64_t total, off;
	uint32_t crc;
	int rc, fd, present, locked = 0;

	if (len > LGFS_CHUNK_MAX)
		return lgfs_error_set(LGFS_EINVAL, "chunk of %zu bytes exceeds the limit of %u",
				      len, LGFS_CHUNK_MAX);
	rc = lookup(pc, id, &l);
	if (rc < 0)
		lgfs_error_clear(); /* the index is a cache: store it again */
	if (rc == 1 && loc_live(&l))
		return 0;

	/* compression is optional: without memory for it, store raw */
	z = len >= SMALL_RAW ? malloc(ZSTD_compressBound(len)) : NULL;
	zlen = z ? lgfs_zpool_compress(&pc->zp, z, buf, len) : 0;
	obj_header(hdr, zlen ? FMT_ZSTD : FMT_RAW, (uint32_t)len, (uint32_t)(zlen ? zlen : len), id);
	crc = crc32c(0, hdr, OBJ_HDR);
	crc = crc32c(crc, zlen ? z : buf, zlen ? zlen : len);
	lgfs_be32_put(trl, crc);
	total = OBJ_HDR + (zlen ? zlen : len) + OBJ_TRAILER;

	pthread_mutex_lock(&pc->mu);
	locked = 1;
	if (pc->broken) {
		rc = lgfs_error_set(LGFS_EIO, "chunk store %s: an earlier failed write could not be"
				    " undone; reopen the store", pc->root);
		goto out;
	}
	rc = become_writer(pc);
	if (rc)
		goto out;
	/* another thread may have stored it meanwhile */
	pthread_rwlock_rdlock(&pc->rw);
	e = emap_get(&pc->map, id);
	present = e && loc_live(&e->loc);
	pthread_rwlock_unlock(&pc->rw);
	if (present)
		goto out;
	off = pc->packs[pc->cur].scanned;
	if (off > PACK_HDR && off + total > pc->roll_bytes) {
		rc = new_pack(pc, pc->npacks);
		if (rc)
			goto out;
		off = PACK_HDR;
	}
	fd = pc->packs[pc->cur].fd;
	iov[0].iov_base = hdr;
	iov[0].iov_len = OBJ_HDR;
	iov[1].iov_base = zlen ? z : (void *)buf;
	iov[1].iov_len = zlen ? zlen : len;
	iov[2].iov_base = trl;
	iov[2].iov_len = OBJ_TRAILER;
	if (pwritev_all(fd, iov, 3, (off_t)off) != 0) {
		char hex[65];

		lgfs_hex(hex, id, 32);
		rc = lgfs_error_errno(LGFS_EIO, "writing chunk %s to pack %08u in %s", hex, pc->cur,
				      pc->root);
		/* the pack must end with its last good object */
		if (lgfs_sys.ftruncate(fd, (off_t)off) != 0)
			pc->broken = 1;
		goto out;
	}
	l.pack = pc->cur;
	l.off = off;
	l.fmt = zlen ? FMT_ZSTD : FMT_RAW;
	l.plain = (uint32_t)len;
	l.stored = (uint32_t)(zlen ? zlen : len);
	l.flags = 0;
	pthread_rwlock_wrlock(&pc->rw);
	rc = emap_put(&pc->map, id, &l);
	pthread_rwlock_unlock(&pc->rw);
	if (rc) {
		/* not findable: take the object back out */
		if (lgfs_sys.ftruncate(fd, (off_t)off) != 0)
			pc->broken = 1;
		goto out;
	}
	pc->packs[pc->cur].scanned = off + total;
	pc->packs[pc->cur].dirty = 1;
	pc->uncommitted += total;
	early_writeback(&pc->packs[pc->cur]);
out:
	if (locked)
		pthread_mutex_unlock(&pc->mu);
	free(z);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Reading                                                                */

/* A process that does not append learns about other processes' new
 * objects only by scanning: done when a lookup misses. */
static void catch_up(struct pack_chunks *pc)
{
	pthread_mutex_lock(&pc->mu);
	if (!pc->writer && scan_packs(pc, pc->npacks ? pc->npacks - 1 : 0, 0) != 0)
		lgfs_error_clear(); /* the miss stands */
	pthread_mutex_unlock(&pc->mu);
}

/* A reader whose index missed or misled: scan every pack from its start
 * into the map and let the map alone decide from now on, so that absence
 * and damage are decided by the packs, never by the derived index (the
 * same bytes give the same answers with the index present, missing or
 * forged). Once per handle. */
static void scan_whole(struct pack_chunks *pc)
{
	uint32_t n;

	pthread_mutex_lock(&pc->mu);
	if (!pc->truth) {
		pthread_rwlock_wrlock(&pc->rw);
		pc->truth = 1;
		for (n = 0; n < pc->npacks; n++)
			pc->packs[n].scanned = 0;
		pthread_rwlock_unlock(&pc->rw);
		if (scan_packs(pc, 0, 0) != 0)
			lgfs_error_clear(); /* what could not be read stays unknown: a miss */
	}
	pthread_mutex_unlock(&pc->mu);
}

/* lookup, and on a miss in a non-appending handle, catch up and retry; a
 * reader confirms a miss or a damaged copy against the packs themselves. */
static int find(struct pack_chunks *pc, const uint8_t id[32], struct loc *l)
{
	int rc = lookup(pc, id, l);

	if (rc == 0 && !__atomic_load_n(&pc->writer, __ATOMIC_ACQUIRE)) {
		catch_up(pc);
		rc = lookup(pc, id, l);
	}
	if (pc->reader && !pc->truth && (rc == 0 || (rc == 1 && (l->flags & F_DAMAGED)))) {
		scan_whole(pc);
		rc = lookup(pc, id, l);
	}
	return rc;
}

/* get: see chunks.h. The location comes from a cache, so every field is
 * checked against the object's own header, and the bytes are handed out
 * only after SHA-256 matched. */
/* Check an object header read from the pack against the index's location. */
static int obj_check(const char *hex, const struct loc *l, const uint8_t hdr[OBJ_HDR],
		     const uint8_t id[32], struct loc *h)
{
	if (obj_header_parse(hdr, h) != 0 || memcmp(hdr + 16, id, 32) != 0 || h->fmt != l->fmt ||
	    h->plain != l->plain || h->stored != l->stored)
		return lgfs_error_set(LGFS_ECORRUPT, "chunk %s: pack %08u offset %llu does not hold"
				      " it (damaged object header or pack)", hex, l->pack,
				      (unsigned long long)l->off);
	return 0;
}

/* Decompress a zstd payload of h->stored bytes into out (h->plain bytes). */
static int obj_inflate(struct pack_chunks *pc, const char *hex, const struct loc *h, const uint8_t *z,
		       struct lgfs_buf *out)
{
	ZSTD_DCtx *dz;
	size_t d;
	int rc;

	if (ZSTD_getFrameContentSize(z, h->stored) != h->plain || ZSTD_findFrameCompressedSize(z, h->stored) != h->stored)
		return lgfs_error_set(LGFS_ECORRUPT, "chunk %s: damaged zstd frame", hex);
	if ((rc = lgfs_buf_reserve(out, h->plain ? h->plain : 1)))
		return rc;
	dz = lgfs_zpool_dctx_get(&pc->zp);
	if (!dz)
		return lgfs_error_set(LGFS_ENOMEM, "out of memory reading chunk %s", hex);
	d = ZSTD_decompressDCtx(dz, out->data, h->plain, z, h->stored);
	lgfs_zpool_dctx_put(&pc->zp, dz);
	if (ZSTD_isError(d) || d != h->plain)
		return lgfs_error_set(LGFS_ECORRUPT, "chunk %s: zstd: %s", hex,
				      ZSTD_isError(d) ? ZSTD_getErrorName(d) : "wrong length");
	return 0;
}

/* The plain bytes (h->plain of them in out->data) must hash to the id. */
static int obj_verify(const char *hex, const uint8_t id[32], const struct loc *h, struct lgfs_buf *out)
{
	uint8_t sum[32];
	char got[65];

	lgfs_sha256(sum, out->data, h->plain);
	if (memcmp(sum, id, 32) != 0) {
		lgfs_hex(got, sum, 32);
		return lgfs_error_set(LGFS_ECORRUPT, "chunk %s is corrupt: its content hashes to %s", hex, got);
	}
	out->len = h->plain;
	return 0;
}

/* Where id is, for reading: 0 with *l set, else an error. */
static int locate(struct pack_chunks *pc, const uint8_t id[32], const char *hex, struct loc *l)
{
	int rc = find(pc, id, l);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return lgfs_error_set(LGFS_ENOTFOUND, "chunk %s not found", hex);
	if (l->flags & F_DAMAGED)
		return lgfs_error_set(LGFS_ECORRUPT, "chunk %s is damaged (pack %08u, offset %llu:"
				      " check failed)", hex, l->pack, (unsigned long long)l->off);
	return 0;
}

/* Does the object at l (header hdr, h; its stored bytes) carry a valid
 * check although its bytes are not its id's? Then it was written so, not
 * damaged by the disk. */
static int forged(int fd, const struct loc *l, const uint8_t hdr[OBJ_HDR], const struct loc *h,
		  const uint8_t *stored)
{
	uint8_t trl[OBJ_TRAILER];
	uint32_t crc;

	if (!stored || lgfs_sys_pread_full(fd, trl, OBJ_TRAILER, (off_t)(l->off + OBJ_HDR + h->stored)) != OBJ_TRAILER)
		return 0;
	crc = crc32c(0, hdr, OBJ_HDR);
	crc = crc32c(crc, stored, h->stored);
	return lgfs_be32_get(trl) == crc;
}

/* get: see chunks.h. Every read is verified against the id. */
static int pk_get(struct lgfs_chunks *c, const uint8_t id[32], struct lgfs_buf *out)
{
	struct pack_chunks *pc = (struct pack_chunks *)c;
	uint8_t hdr[OBJ_HDR], *z = NULL;
	char hex[65];
	struct loc l, h;
	ssize_t r;
	int rc, fd;

	lgfs_buf_reset(out);
	lgfs_hex(hex, id, 32);
again:
	if ((rc = locate(pc, id, hex, &l)))
		goto out;
	rc = pack_fd(pc, l.pack, &fd);
	if (rc) {
		rc = lgfs_error_wrap(rc, "chunk %s", hex);
		goto out;
	}
	r = lgfs_sys_pread_full(fd, hdr, OBJ_HDR, (off_t)l.off);
	if (r < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "reading chunk %s", hex);
		goto out;
	}
	if (r < OBJ_HDR) {
		rc = lgfs_error_set(LGFS_ECORRUPT, "chunk %s: pack %08u is truncated", hex, l.pack);
		goto out;
	}
	if ((rc = obj_check(hex, &l, hdr, id, &h))) {
		if (pc->reader && !pc->truth) {
			/* the index pointed elsewhere: ask the packs */
			scan_whole(pc);
			lgfs_error_clear();
			goto again;
		}
		goto out;
	}
	if (h.fmt == FMT_RAW) {
		/* straight into out: no copy */
		if ((rc = lgfs_buf_reserve(out, h.plain ? h.plain : 1)))
			goto out;
		r = lgfs_sys_pread_full(fd, out->data, h.plain, (off_t)(l.off + OBJ_HDR));
	} else {
		z = malloc(h.stored);
		if (!z) {
			rc = lgfs_error_set(LGFS_ENOMEM, "out of memory reading chunk %s", hex);
			goto out;
		}
		r = lgfs_sys_pread_full(fd, z, h.stored, (off_t)(l.off + OBJ_HDR));
	}
	if (r < 0 || (uint64_t)r != h.stored) {
		rc = r < 0 ? lgfs_error_errno(LGFS_EIO, "reading chunk %s", hex)
			   : lgfs_error_set(LGFS_ECORRUPT, "chunk %s: pack %08u is truncated", hex, l.pack);
		goto out;
	}
	if (z && (rc = obj_inflate(pc, hex, &h, z, out)))
		goto out_check;
	rc = obj_verify(hex, id, &h, out);
out_check:
	if (rc == LGFS_ECORRUPT && !pc->reader && forged(fd, &l, hdr, &h, z ? z : out->data)) {
		/* a well-formed object whose bytes are not its id's (its check
		 * was recomputed: not a flipped bit): remember it as damaged, so
		 * that has() says absent and a put() stores the chunk again */
		struct loc d = l;

		d.flags |= F_DAMAGED;
		pthread_rwlock_wrlock(&pc->rw);
		if (emap_put(&pc->map, id, &d))
			lgfs_error_clear(); /* only a memory of it */
		pthread_rwlock_unlock(&pc->rw);
		lgfs_error_set(LGFS_ECORRUPT, "chunk %s is damaged (pack %08u, offset %llu: its bytes are not the"
			       " chunk's)", hex, l.pack, (unsigned long long)l.off);
	}
	if (rc == LGFS_ECORRUPT && pc->reader && !pc->truth) {
		/* the copy the index named is damaged: another may be intact */
		free(z);
		z = NULL;
		scan_whole(pc);
		lgfs_error_clear();
		lgfs_buf_reset(out);
		goto again;
	}
out:
	if (rc)
		out->len = 0;
	free(z);
	return rc;
}

/* ---- get_many: sequential read-ahead in large direct reads ---- */

/* The chunks of a file written in order lie one after the other in a pack.
 * get_many reads such a run with one O_DIRECT read (aligned to DIO_ALIGN)
 * instead of a buffered read per chunk: large reads keep the disk busy, and
 * the bytes do not pass through (and crowd) the page cache, which the
 * kernel fills again for the FUSE file anyway. Objects further apart than
 * RUN_GAP, in another pack, or out of order end a run; a run of one object,
 * or a file system without O_DIRECT, takes the buffered path. Dirty pages
 * of a range are written back by the kernel before a direct read of it. */
#define DIO_ALIGN 4096u
#define RUN_GAP (64u << 10)
#define RUN_MAX (4u << 20)

static uint64_t obj_bytes(const struct loc *l)
{
	return OBJ_HDR + (uint64_t)l->stored + OBJ_TRAILER;
}

static uint8_t *span_get(struct pack_chunks *pc)
{
	void *p = NULL;

	pthread_mutex_lock(&pc->span_mu);
	if (pc->nspans)
		p = pc->spans[--pc->nspans];
	pthread_mutex_unlock(&pc->span_mu);
	if (!p && posix_memalign(&p, DIO_ALIGN, RUN_MAX + 2 * DIO_ALIGN))
		p = NULL;
	return p;
}

static void span_put(struct pack_chunks *pc, uint8_t *p)
{
	pthread_mutex_lock(&pc->span_mu);
	if (pc->nspans < SPAN_BUFS) {
		pc->spans[pc->nspans++] = p;
		p = NULL;
	}
	pthread_mutex_unlock(&pc->span_mu);
	free(p);
}

/* The pack's O_DIRECT descriptor: 0 with *out, or -1 (no direct reads). */
static int pack_dfd(struct pack_chunks *pc, uint32_t n, int *out)
{
	int rc;

	if (__atomic_load_n(&pc->no_direct, __ATOMIC_RELAXED))
		return -1;
	rc = fd_slot(pc, n, 1, out);
	if (rc == -EINVAL)
		__atomic_store_n(&pc->no_direct, 1, __ATOMIC_RELAXED);
	return rc ? -1 : 0;
}

/* Objects first..first+k-1 (locations ls) from one direct read; 0, or -1
 * when the direct read is not possible (the caller falls back). */
static int run_read(struct pack_chunks *pc, const uint8_t (*ids)[32], const struct loc *ls, size_t k,
		    struct lgfs_buf *outs, int *rcs)
{
	uint64_t start = ls[0].off & ~(uint64_t)(DIO_ALIGN - 1), end = ls[k - 1].off + obj_bytes(&ls[k - 1]);
	uint64_t want = ((end + DIO_ALIGN - 1) & ~(uint64_t)(DIO_ALIGN - 1)) - start, got = 0;
	uint8_t *span;
	size_t i;
	int fd;

	if (pack_dfd(pc, ls[0].pack, &fd) != 0 || !(span = span_get(pc)))
		return -1;
	while (got < want) {
		ssize_t r = lgfs_sys.pread(fd, span + got, want - got, (off_t)(start + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EINVAL)
			__atomic_store_n(&pc->no_direct, 1, __ATOMIC_RELAXED);
		if (r <= 0)
			break;
		got += (uint64_t)r;
		if (got % DIO_ALIGN)
			break; /* end of the file */
	}
	if (got < end - start) {
		span_put(pc, span);
		return -1; /* short: the buffered path says what is wrong */
	}
	for (i = 0; i < k; i++) {
		const uint8_t *o = span + (ls[i].off - start);
		struct lgfs_buf *out = &outs[i];
		char hex[65];
		struct loc h;
		int rc;

		lgfs_buf_reset(out);
		lgfs_hex(hex, ids[i], 32);
		rc = obj_check(hex, &ls[i], o, ids[i], &h);
		if (!rc && h.fmt == FMT_RAW) {
			rc = lgfs_buf_reserve(out, h.plain ? h.plain : 1);
			if (!rc)
				memcpy(out->data, o + OBJ_HDR, h.plain);
		} else if (!rc) {
			rc = obj_inflate(pc, hex, &h, o + OBJ_HDR, out);
		}
		if (!rc)
			rc = obj_verify(hex, ids[i], &h, out);
		if (rc)
			out->len = 0;
		rcs[i] = rc;
	}
	span_put(pc, span);
	return 0;
}

/* get_many: see chunks.h. */
static int pk_get_many(struct lgfs_chunks *c, const uint8_t (*ids)[32], size_t n, struct lgfs_buf *outs, int *rcs)
{
	struct pack_chunks *pc = (struct pack_chunks *)c;
	struct loc *ls = malloc((n ? n : 1) * sizeof(*ls));
	char *ok = malloc(n ? n : 1);
	size_t i, j;
	char hex[65];

	if (!ls || !ok) {
		free(ls);
		free(ok);
		return lgfs_error_set(LGFS_ENOMEM, "out of memory reading ahead"); /* the caller gets them one by one */
	}
	for (i = 0; i < n; i++) {
		lgfs_hex(hex, ids[i], 32);
		ok[i] = locate(pc, ids[i], hex, &ls[i]) == 0;
		if (!ok[i])
			lgfs_error_clear();
	}
	for (i = 0; i < n; i = j) {
		uint64_t end = ok[i] ? ls[i].off + obj_bytes(&ls[i]) : 0;

		for (j = i + 1; ok[i] && j < n && ok[j] && ls[j].pack == ls[i].pack && ls[j].off >= end &&
			     ls[j].off - end <= RUN_GAP && ls[j].off + obj_bytes(&ls[j]) - ls[i].off <= RUN_MAX; j++)
			end = ls[j].off + obj_bytes(&ls[j]);
		if (j - i < 2 || run_read(pc, ids + i, ls + i, j - i, outs + i, rcs + i) != 0) {
			size_t k;

			for (k = i; k < j; k++)
				rcs[k] = pk_get(c, ids[k], &outs[k]);
		}
	}
	free(ls);
	free(ok);
	return 0;
}

/* has: see chunks.h. An object a scan found damaged counts as absent, so
 * that a writer stores it again. */
static int pk_has(struct lgfs_chunks *c, const uint8_t id[32])
{
	struct pack_chunks *pc = (struct pack_chunks *)c;
	struct loc l;
	int rc = find(pc, id, &l);

	if (rc < 0)
		return rc;
	return rc == 1 && loc_live(&l);
}

/* iterate: see chunks.h. The index is read in batches, with no transaction
 * open while callbacks run (so they may call back into the store), and
 * merged in key order with a sorted copy of the map taken first: an id is
 * listed once even when a sync moves it from the map into the index during
 * the walk, and a live copy in the map wins over a damaged one indexed. */
static int pk_iterate(struct lgfs_chunks *c, lgfs_chunk_cb cb, void *payload)
{
	struct pack_chunks *pc = (struct pack_chunks *)c;
	uint8_t (*batch)[32] = NULL, (*mine)[32] = NULL, *live = NULL, last[32];
	size_t nb, nm = 0, mi = 0, i;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	struct loc l;
	int mrc = MDB_NOTFOUND, rc = 0, started = 0;

	if (!__atomic_load_n(&pc->writer, __ATOMIC_ACQUIRE))
		catch_up(pc);
	pthread_rwlock_rdlock(&pc->rw);
	mine = malloc((pc->map.n ? pc->map.n : 1) * 32);
	if (mine)
		for (i = 0; i < pc->map.cap; i++)
			if (pc->map.v[i].used && loc_live(&pc->map.v[i].loc))
				memcpy(mine[nm++], pc->map.v[i].id, 32);
	pthread_rwlock_unlock(&pc->rw);
	batch = malloc(ITER_BATCH * 32);
	live = malloc(ITER_BATCH);
	if (!mine || !batch || !live) {
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory listing chunks");
		goto out;
	}
	qsort(mine, nm, 32, id_cmp);
	while (pc->ix) {
		mrc = mdb_txn_begin(pc->ix->env, NULL, MDB_RDONLY, &txn);
		if (mrc) {
			rc = ix_error(pc, mrc, "listing");
			goto out;
		}
		mrc = mdb_cursor_open(txn, pc->ix->ids, &cur);
		if (mrc) {
			mdb_txn_abort(txn);
			rc = ix_error(pc, mrc, "listing");
			goto out;
		}
		k.mv_data = last;
		k.mv_size = 32;
		mrc = mdb_cursor_get(cur, &k, &v, started ? MDB_SET_RANGE : MDB_FIRST);
		if (!mrc && started && k.mv_size == 32 && memcmp(k.mv_data, last, 32) == 0)
			mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		for (nb = 0; !mrc && nb < ITER_BATCH; mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			if (k.mv_size != 32)
				continue;
			memcpy(batch[nb], k.mv_data, 32);
			live[nb++] = ix_val_get(&l, &v) == 0 && loc_live(&l);
		}
		mdb_cursor_close(cur);
		mdb_txn_abort(txn);
		if (mrc && mrc != MDB_NOTFOUND) {
			rc = ix_error(pc, mrc, "listing");
			goto out;
		}
		if (nb)
			memcpy(last, batch[nb - 1], 32);
		started = 1;
		for (i = 0; i < nb; i++) {
			/* map ids before this key were not in the index when
			 * the walk passed them */
			while (mi < nm && memcmp(mine[mi], batch[i], 32) < 0) {
				rc = cb(payload, mine[mi++]);
				if (rc)
					goto out;
			}
			if (mi < nm && memcmp(mine[mi], batch[i], 32) == 0) {
				mi++;
				rc = cb(payload, batch[i]); /* in both: once */
			} else if (live[i]) {
				rc = cb(payload, batch[i]);
			}
			if (rc)
				goto out;
		}
		if (mrc == MDB_NOTFOUND)
			break;
	}
	while (mi < nm) {
		rc = cb(payload, mine[mi++]);
		if (rc)
			goto out;
	}
out:
	free(live);
	free(batch);
	free(mine);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Sync, close, open                                                      */

/* Mark entries past a pack's synced length as lost. */
static int ent_unsynced(const struct ent *e, void *arg)
{
	struct pack_chunks *pc = arg;

	return e->loc.pack != NO_PACK && e->loc.pack < pc->npacks &&
	       e->loc.off + OBJ_HDR + e->loc.stored + OBJ_TRAILER > pc->packs[e->loc.pack].synced;
}

/* An fdatasync failed: nothing written since the last good sync can be
 * trusted to reach the disk. Cut every pack back to its synced length and
 * turn the entries beyond into lost ones. Caller holds mu. */
static void rollback(struct pack_chunks *pc)
{
	struct loc lost = { 0, NO_PACK, 0, 0, 0, F_LOST };
	uint32_t n;
	size_t i;

	pthread_rwlock_wrlock(&pc->rw);
	for (i = 0; i < pc->map.cap; i++) {
		struct ent *e = &pc->map.v[i];

		if (e->used && loc_live(&e->loc) && ent_unsynced(e, pc)) {
			emap_count(&pc->map, &e->loc, -1);
			e->loc = lost;
			emap_count(&pc->map, &e->loc, 1);
		}
	}
	pthread_rwlock_unlock(&pc->rw);
	for (n = 0; n < pc->npacks; n++) {
		struct pack *p = &pc->packs[n];
		uint64_t keep = p->synced > PACK_HDR ? p->synced : PACK_HDR;

		if (!p->exists || p->scanned <= keep)
			continue;
		if (p->fd < 0 || lgfs_sys.ftruncate(p->fd, (off_t)keep) != 0)
			pc->broken = 1;
		p->scanned = keep;
		p->dirty = p->synced < PACK_HDR; /* a new pack's header is not durable yet */
	}
}

/* sync: see chunks.h. Packs are synced outside the append mutex, so puts go
 * on meanwhile (fdatasync covers what was written before it was called;
 * later puts stay dirty for the next sync). */
static int pk_sync(struct lgfs_chunks *c)
{
	struct pack_chunks *pc = (struct pack_chunks *)c;
	uint32_t *todo = NULL, n, nt = 0;
	uint64_t *ends = NULL;
	int created = 0, rc = 0, commit;
	size_t lost;

	pthread_mutex_lock(&pc->sync_mu);
	pthread_mutex_lock(&pc->mu);
	if (!pc->writer) {
		pthread_mutex_unlock(&pc->mu);
		goto out; /* nothing put through this handle */
	}
	todo = malloc((pc->npacks ? pc->npacks : 1) * sizeof(*todo));
	ends = malloc((pc->npacks ? pc->npacks : 1) * sizeof(*ends));
	if (!todo || !ends) {
		pthread_mutex_unlock(&pc->mu);
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory syncing chunk store %s", pc->root);
		goto out;
	}
	for (n = 0; n < pc->npacks; n++) {
		struct pack *p = &pc->packs[n];

		if (!p->dirty)
			continue;
		todo[nt] = n;
		ends[nt++] = p->scanned;
		created |= p->created;
		p->dirty = 0;
		p->created = 0;
	}
	pthread_mutex_unlock(&pc->mu);

	for (n = 0; n < nt && !rc; n++) {
		char name[24];
		int fd;

		rc = pack_fd(pc, todo[n], &fd);
		if (!rc && lgfs_sys.fdatasync(fd) != 0) {
			pack_name(name, todo[n]);
			rc = lgfs_error_errno(LGFS_EIO, "syncing pack %s/packs/%s", pc->root, name);
		}
	}
	if (!rc && created && lgfs_sys.fsync(pc->packsfd) != 0)
		rc = lgfs_error_errno(LGFS_EIO, "syncing directory %s/packs", pc->root);

	pthread_mutex_lock(&pc->mu);
	if (rc) {
		for (n = 0; n < nt; n++)
			pc->packs[todo[n]].created |= created;
		rollback(pc);
		lost = pc->map.nlost;
		pthread_mutex_unlock(&pc->mu);
		rc = lgfs_error_wrap(rc, "chunk store %s: %zu chunks put since the last successful"
				     " sync are lost and must be put again", pc->root, lost);
		goto out;
	}
	for (n = 0; n < nt; n++)
		if (ends[n] > pc->packs[todo[n]].synced)
			pc->packs[todo[n]].synced = ends[n];
	lost = pc->map.nlost;
	commit = pc->map.nlive >= COMMIT_ENTRIES || pc->uncommitted >= COMMIT_BYTES;
	pthread_mutex_unlock(&pc->mu);
	if (lost) {
		rc = lgfs_error_set(LGFS_EIO, "chunk store %s: %zu chunks lost by an earlier failed"
				    " sync have not been put again", pc->root, lost);
		goto out;
	}
	if (commit)
		rc = ix_commit(pc);
out:
	pthread_mutex_unlock(&pc->sync_mu);
	free(todo);
	free(ends);
	return rc;
}

/* close: see chunks.h. Does not sync; what earlier syncs made durable goes
 * into the index, the rest is found by the next open's scan. */
static void pk_close(struct lgfs_chunks *c)
{
	struct pack_chunks *pc = (struct pack_chunks *)c;
	uint32_t n;

	if (pc->writer && pc->ix) {
		pthread_mutex_lock(&pc->sync_mu);
		(void)ix_commit(pc);
		pthread_mutex_unlock(&pc->sync_mu);
	}
	ix_release(pc->ix);
	for (n = 0; n < pc->npacks; n++) {
		if (pc->packs[n].fd >= 0)
			lgfs_sys.close(pc->packs[n].fd);
		if (pc->packs[n].dfd >= 0)
			lgfs_sys.close(pc->packs[n].dfd);
	}
	while (pc->nspans)
		free(pc->spans[--pc->nspans]);
	pthread_mutex_destroy(&pc->span_mu);
	lgfs_zpool_destroy(&pc->zp);
	if (pc->lockfd >= 0)
		lgfs_sys.close(pc->lockfd); /* releases the flock */
	if (pc->packsfd >= 0)
		lgfs_sys.close(pc->packsfd);
	if (pc->rootfd >= 0)
		lgfs_sys.close(pc->rootfd);
	pthread_rwlock_destroy(&pc->rw);
	pthread_mutex_destroy(&pc->mu);
	pthread_mutex_destroy(&pc->sync_mu);
	free(pc->map.v);
	free(pc->packs);
	free(pc->root);
	free(pc);
}

/* Create packs/ and index/ in a store directory if missing (and make the
 * new entries durable). On read-only media that is not an error: what is
 * there is read (an auditor's read-only copy). */
static int make_subdirs(struct pack_chunks *pc)
{
	static const char *const sub[] = { "packs", "index" };
	int made = 0;
	size_t i;

	for (i = 0; i < 2; i++) {
		if (lgfs_sys.mkdirat(pc->rootfd, sub[i], 0700) == 0)
			made = 1;
		else if (errno == EROFS || errno == EACCES || errno == EPERM)
			pc->rdonly = 1;
		else if (errno != EEXIST)
			return lgfs_error_errno(LGFS_EIO, "creating %s/%s", pc->root, sub[i]);
	}
	if (made && lgfs_sys.fsync(pc->rootfd) != 0)
		return lgfs_error_errno(LGFS_EIO, "fsync of %s", pc->root);
	return 0;
}

/* The pack size limit: LEDGERFS_PACK_BYTES (a decimal byte count, for
 * tests) or 1 GiB. */
static uint64_t roll_bytes(void)
{
	const char *s = getenv("LEDGERFS_PACK_BYTES");
	unsigned long long v;
	char *end;

	if (!s || !*s)
		return DEFAULT_PACK_BYTES;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0)
		return DEFAULT_PACK_BYTES;
	return v;
}

/* Open-time recovery, while holding the store lock: cut torn tails, make
 * the scanned bytes durable and move them into the index. */
static int recover(struct pack_chunks *pc)
{
	int rc;

	pthread_mutex_lock(&pc->mu);
	rc = scan_packs(pc, 0, 1);
	if (!rc && pc->ix && sync_scanned(pc) != 0)
		lgfs_error_clear(); /* not durable: stays in memory, not indexed */
	pthread_mutex_unlock(&pc->mu);
	if (!rc && pc->ix && pc->map.n) {
		pthread_mutex_lock(&pc->sync_mu);
		rc = ix_commit(pc);
		pthread_mutex_unlock(&pc->sync_mu);
	}
	return rc;
}

/* See chunks.h. */
int lgfs_chunks_pack_open(struct lgfs_chunks **out, const char *dir, int create)
{
	struct pack_chunks *pc = NULL;
	int rc = 0, holder = 0, read_only = !!(create & LGFS_CHUNKS_RDONLY);

	*out = NULL;
	if (!dir || !*dir)
		return lgfs_error_set(LGFS_EINVAL, "empty chunk store path");
	if (create & LGFS_CHUNKS_RDONLY)
		create = 0; /* read only: nothing is created */
	if (create) {
		rc = lgfs_sys_mkdirs(dir, 0700);
		if (rc)
			goto out;
	}
	pc = calloc(1, sizeof(*pc));
	if (!pc || !(pc->root = strdup(dir))) {
		free(pc);
		pc = NULL;
		rc = lgfs_error_set(LGFS_ENOMEM, "out of memory opening chunk store %s", dir);
		goto out;
	}
	pc->rootfd = pc->packsfd = pc->lockfd = -1;
	pthread_rwlock_init(&pc->rw, NULL);
	pthread_mutex_init(&pc->mu, NULL);
	pthread_mutex_init(&pc->sync_mu, NULL);
	pthread_mutex_init(&pc->span_mu, NULL);
	lgfs_zpool_init(&pc->zp);
	pc->base.version = 2;
	pc->base.scheme = "file";
	pc->base.put = pk_put;
	pc->base.get = pk_get;
	pc->base.has = pk_has;
	pc->base.iterate = pk_iterate;
	pc->base.sync = pk_sync;
	pc->base.close = pk_close;
	pc->base.get_many = pk_get_many;
	pc->roll_bytes = roll_bytes();

	pc->rootfd = lgfs_sys.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (pc->rootfd < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "opening chunk store %s", dir);
		goto out;
	}
	/* Opened for reading: nothing is created, locked, cut or indexed. */
	pc->reader = pc->rdonly = read_only;
	rc = pc->reader ? 0 : make_subdirs(pc);
	if (rc)
		goto out;
	pc->packsfd = lgfs_sys.openat(pc->rootfd, "packs", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (pc->packsfd < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "opening %s/packs", dir);
		goto out;
	}
	pc->lockfd = pc->reader ? -1 : lgfs_sys.openat(pc->rootfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (pc->reader) {
		/* no lock: a reader never appends */
	} else if (pc->lockfd < 0 && (errno == EROFS || errno == EACCES || errno == EPERM)) {
		pc->rdonly = 1; /* reads only: no repairs, no index writes */
	} else if (pc->lockfd < 0) {
		rc = lgfs_error_errno(LGFS_EIO, "opening %s/lock", dir);
		goto out;
	}
	holder = !pc->rdonly && lgfs_sys.flock(pc->lockfd, LOCK_EX | LOCK_NB) == 0;
	rc = ix_acquire(pc, holder, &pc->ix);
	if (rc)
		goto out;
	rc = list_packs(pc);
	if (rc)
		goto out;
	rc = ix_load_watermarks(pc);
	if (rc && rc != LGFS_ENOMEM && pc->reader) {
		/* unreadable watermarks: a reader scans every pack instead */
		uint32_t n;

		lgfs_error_clear();
		ix_release(pc->ix);
		pc->ix = NULL;
		for (n = 0; n < pc->npacks; n++)
			pc->packs[n].indexed = pc->packs[n].synced = pc->packs[n].scanned = 0;
		rc = 0;
	}
	if (rc && rc != LGFS_ENOMEM && holder) {
		/* unreadable watermarks: start the index over */
		lgfs_error_clear();
		ix_release(pc->ix);
		pc->ix = NULL;
		(void)ix_error(pc, MDB_CORRUPTED, "watermarks");
		lgfs_error_clear();
		rc = ix_acquire(pc, holder, &pc->ix);
		if (!rc) {
			uint32_t n;

			for (n = 0; n < pc->npacks; n++)
				pc->packs[n].indexed = pc->packs[n].synced = pc->packs[n].scanned = 0;
		}
	}
	if (rc)
		goto out;
	if (holder) {
		rc = recover(pc);
	} else {
		pthread_mutex_lock(&pc->mu);
		rc = scan_packs(pc, 0, 0);
		pthread_mutex_unlock(&pc->mu);
	}
	if (rc)
		goto out;
	*out = &pc->base;
out:
	if (holder && pc)
		(void)lgfs_sys.flock(pc->lockfd, LOCK_UN);
	if (rc && pc)
		pk_close(&pc->base);
	return rc;
}
