/*
 * lgfs_forge.c — test tool: edits a volume's store files byte by byte, as
 * docs/FORMAT.md describes them, the way an intruder who can write every
 * file of the store but holds no signing key would. Where a careful forger
 * would (the log frame check, pack CRC-32C, the offsets sidecars), it
 * recomputes what anyone can recompute. The attack tests drive it.
 *
 *   lgfs_forge frames VOLDIR                      INDEX OP SEGMENT OFFSET RECLEN per frame
 *   lgfs_forge index-stale VOLDIR INO VERINDEX    inode INO shows its version at VERINDEX
 *   lgfs_forge index-ghost VOLDIR PARENT NAME SRCINO
 *                                                 a dirent (and inode) no record made,
 *                                                 with SRCINO's content
 *   lgfs_forge record-content VOLDIR DST SRC      record DST gets SRC's size/manifest/sha256
 *   lgfs_forge record-xor VOLDIR INDEX OFFSET     flip a bit of record byte OFFSET
 *   lgfs_forge env-xor VOLDIR INDEX OFFSET        flip a bit of envelope byte OFFSET
 *   lgfs_forge time-edit VOLDIR INDEX DELTA_NS    move envelope and record time
 *   lgfs_forge swap VOLDIR A B                    exchange two frames (renumbered)
 *   lgfs_forge remove VOLDIR K                    drop frame K (later ones renumbered)
 *   lgfs_forge withhold VOLDIR K                  drop K's plaintext, keep its envelope
 *   lgfs_forge forge-write VOLDIR INO FILE        append chunk, manifest and a write record
 *                                                 with a random signature
 *   lgfs_forge tree-poison VOLDIR FROM_LEAF       random Merkle nodes from leaf FROM_LEAF on
 *   lgfs_forge cut VOLDIR N                       log cut to N entries; checkpoints, tree
 *                                                 and sidecars made to match; index removed
 *   lgfs_forge cp-drop-last VOLDIR                remove the newest checkpoint frame
 *   lgfs_forge cp-damage-len VOLDIR               damage the second checkpoint's length field
 *   lgfs_forge cut-half VOLDIR                    cut the last log frame in half
 *   lgfs_forge junk VOLDIR K NBYTES               junk before frame K, sidecar points past it
 *   lgfs_forge pack-damage-tail VOLDIR            damage the last object of the last pack
 *   lgfs_forge root VOLDIR N                      hex Merkle root of the first N envelopes
 *   lgfs_forge check-cps VOLDIR                   every stored checkpoint's root against
 *                                                 the root recomputed from the log
 *   lgfs_forge notes STORE VOLUME KEYFILE COUNT LEN
 *                                                 append COUNT note records of LEN bytes
 *                                                 with the real key (setup, not an attack)
 */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/key.h"
#include "ledgerfs/ledger.h"
#include "ledgerfs/record.h"
#include "fs/index.h"

#define HDR 20
#define CHECK 8
#define ENV 177
#define SIGNED 113

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("lgfs_forge: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long n;

	if (!f)
		die("%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	if (!p || fread(p, 1, (size_t)n, f) != (size_t)n)
		die("%s: read failed", path);
	fclose(f);
	*len = (size_t)n;
	return p;
}

static void spit(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(p, 1, len, f) != len || fclose(f))
		die("%s: write failed", path);
}

static void randbytes(uint8_t *p, size_t n)
{
	int fd = open("/dev/urandom", O_RDONLY);

	if (fd < 0 || read(fd, p, n) != (ssize_t)n)
		die("urandom");
	close(fd);
}

/* ---- the log: every frame of every segment, in order ---- */

struct frame {
	uint8_t *p;   /* whole frame: header, envelope, record, check (owned) */
	size_t len;
	size_t seg;   /* which segment file it lives in */
};

struct logv {
	char dir[4096];
	size_t nseg;
	uint64_t segfirst[256];
	struct frame *f;
	size_t n;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void log_load(struct logv *lv, const char *voldir)
{
	DIR *d;
	struct dirent *de;
	size_t s, cap = 0;

	memset(lv, 0, sizeof(*lv));
	snprintf(lv->dir, sizeof(lv->dir), "%s/log", voldir);
	d = opendir(lv->dir);
	if (!d)
		die("%s: %s", lv->dir, strerror(errno));
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l == 24 && !strcmp(de->d_name + 20, ".seg") && lv->nseg < 256)
			lv->segfirst[lv->nseg++] = strtoull(de->d_name, NULL, 10);
	}
	closedir(d);
	qsort(lv->segfirst, lv->nseg, sizeof(uint64_t), cmp_u64);
	for (s = 0; s < lv->nseg; s++) {
		char path[4200];
		size_t len, off = 0;
		uint8_t *seg;

		snprintf(path, sizeof(path), "%s/%020llu.seg", lv->dir, (unsigned long long)lv->segfirst[s]);
		seg = slurp(path, &len);
		while (off + HDR <= len && !memcmp(seg + off, "LGF1", 4)) {
			size_t e = lgfs_be32_get(seg + off + 12), r = lgfs_be32_get(seg + off + 16);
			size_t fl = HDR + e + r + CHECK;

			if (off + fl > len)
				break;
			if (lv->n == cap) {
				cap = cap ? cap * 2 : 64;
				lv->f = realloc(lv->f, cap * sizeof(*lv->f));
			}
			lv->f[lv->n].p = malloc(fl);
			memcpy(lv->f[lv->n].p, seg + off, fl);
			lv->f[lv->n].len = fl;
			lv->f[lv->n].seg = s;
			lv->n++;
			off += fl;
		}
		if (off != len)
			die("%s: %zu unparsed bytes at offset %zu", path, len - off, off);
		free(seg);
	}
}

static void log_free(struct logv *lv)
{
	size_t i;

	for (i = 0; i < lv->n; i++)
		free(lv->f[i].p);
	free(lv->f);
	lv->f = NULL;
	lv->n = 0;
}

static uint8_t *env_of(const struct frame *f) { return f->p + HDR; }
static size_t rlen_of(const struct frame *f) { return lgfs_be32_get(f->p + 16); }
static uint8_t *rec_of(const struct frame *f) { return f->p + HDR + lgfs_be32_get(f->p + 12); }

/* Recompute the frame check: anyone can. */
static void fix_check(struct frame *f)
{
	size_t body = f->len - CHECK;
	uint8_t h[32];

	lgfs_sha256(h, f->p, body);
	memcpy(f->p + body, h, CHECK);
}

/* Write every segment back (named by its first frame), with sidecars that
 * match, as a careful forger keeps them. Frames are renumbered by position
 * when renumber is set. */
static void log_store(struct logv *lv, int renumber)
{
	size_t s, i;
	char path[4200];

	for (i = 0; i < lv->n; i++) {
		if (renumber && lgfs_be64_get(lv->f[i].p + 4) != i) {
			lgfs_be64_put(lv->f[i].p + 4, i);
			fix_check(&lv->f[i]);
		}
	}
	for (s = 0; s < lv->nseg; s++) {
		snprintf(path, sizeof(path), "%s/%020llu.seg", lv->dir, (unsigned long long)lv->segfirst[s]);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%020llu.idx", lv->dir, (unsigned long long)lv->segfirst[s]);
		unlink(path);
	}
	for (s = 0; s < lv->nseg; s++) {
		struct lgfs_buf seg = LGFS_BUF_INIT, idx = LGFS_BUF_INIT;
		int first = -1;

		for (i = 0; i < lv->n; i++) {
			uint8_t off[8];

			if (lv->f[i].seg != s)
				continue;
			if (first < 0)
				first = (int)i;
			lgfs_be64_put(off, seg.len);
			lgfs_buf_put(&idx, off, 8);
			lgfs_buf_put(&seg, lv->f[i].p, lv->f[i].len);
		}
		if (first < 0 && s != 0)
			continue; /* a segment all of whose frames were cut */
		snprintf(path, sizeof(path), "%s/%020llu.seg", lv->dir,
			 first < 0 ? 0ULL : (unsigned long long)lgfs_be64_get(lv->f[first].p + 4));
		spit(path, seg.data, seg.len);
		snprintf(path, sizeof(path), "%s/%020llu.idx", lv->dir,
			 first < 0 ? 0ULL : (unsigned long long)lgfs_be64_get(lv->f[first].p + 4));
		spit(path, idx.data, idx.len);
		lgfs_buf_free(&seg);
		lgfs_buf_free(&idx);
	}
}

/* ---- records (FORMAT.md §1) ---- */

/* Offset of the op field (after salt, version, origin, index, prev, author,
 * uid, gid, time). */
static size_t rec_op_off(const uint8_t *r)
{
	return 19 + lgfs_be16_get(r + 17) + 8 + 32 + 32 + 4 + 4 + 8;
}

static size_t rec_time_off(const uint8_t *r)
{
	return rec_op_off(r) - 8;
}

/* Where field `field`'s value starts in a record; 0 when absent. */
static size_t rec_field(const uint8_t *r, size_t rlen, uint8_t field, size_t *vlen)
{
	size_t off = rec_op_off(r) + 2, n, k;

	if (off >= rlen)
		return 0;
	n = r[off++];
	for (k = 0; k < n && off + 5 <= rlen; k++) {
		size_t l = lgfs_be32_get(r + off + 1);

		if (r[off] == field) {
			*vlen = l;
			return off + 5;
		}
		off += 5 + l;
	}
	return 0;
}

static void commitment(uint8_t out[32], const uint8_t *rec, size_t len)
{
	static const char tag[] = "ledgerfs/commitment/v1";

	lgfs_sha256_3(out, tag, sizeof(tag), rec, len, NULL, 0); /* tag, its NUL, record */
}

/* ---- CRC-32C (Castagnoli), bitwise ---- */

static uint32_t crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
	}
	return c ^ 0xFFFFFFFFu;
}

/* ---- Merkle (FORMAT.md §5) ---- */

static void mth(uint8_t out[32], uint8_t (*leaves)[32], size_t n)
{
	uint8_t l[32], r[32], buf[65];
	size_t k = 1;

	if (n == 0) {
		lgfs_sha256(out, "", 0);
		return;
	}
	if (n == 1) {
		memcpy(out, leaves[0], 32);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	mth(l, leaves, k);
	mth(r, leaves + k, n - k);
	buf[0] = 1;
	memcpy(buf + 1, l, 32);
	memcpy(buf + 33, r, 32);
	lgfs_sha256(out, buf, 65);
}

static void log_root(const struct logv *lv, size_t n, uint8_t out[32])
{
	uint8_t (*leaves)[32] = malloc((n ? n : 1) * 32), buf[1 + ENV];
	size_t i;

	if (n > lv->n)
		die("root of %zu entries: the log holds %zu", n, lv->n);
	for (i = 0; i < n; i++) {
		buf[0] = 0;
		memcpy(buf + 1, env_of(&lv->f[i]), ENV);
		lgfs_sha256(leaves[i], buf, sizeof(buf));
	}
	mth(out, leaves, n);
	free(leaves);
}

/* ---- checkpoints file (FORMAT.md §8) ---- */

struct cpframe {
	size_t off, len; /* whole frame */
	uint64_t size;
	char root64[64];
};

static size_t cps_parse(const uint8_t *p, size_t len, struct cpframe *out, size_t cap)
{
	size_t off = 0, n = 0;

	while (off + 8 <= len && n < cap) {
		size_t l = lgfs_be32_get(p + off);
		const char *note, *nl1, *nl2, *nl3;

		if (off + 8 + l > len || lgfs_be32_get(p + off + 4 + l) != l)
			die("checkpoints file: bad frame at offset %zu", off);
		note = (const char *)p + off + 4;
		nl1 = memchr(note, '\n', l);
		nl2 = nl1 ? memchr(nl1 + 1, '\n', l - (size_t)(nl1 + 1 - note)) : NULL;
		nl3 = nl2 ? memchr(nl2 + 1, '\n', l - (size_t)(nl2 + 1 - note)) : NULL;
		if (!nl3 || nl3 - nl2 - 1 >= 64)
			die("checkpoints file: unparsable note at offset %zu", off);
		out[n].off = off;
		out[n].len = 8 + l;
		out[n].size = strtoull(nl1 + 1, NULL, 10);
		memcpy(out[n].root64, nl2 + 1, (size_t)(nl3 - nl2 - 1));
		out[n].root64[nl3 - nl2 - 1] = '\0';
		n++;
		off += 8 + l;
	}
	if (off != len)
		die("checkpoints file: %zu trailing bytes", len - off);
	return n;
}

/* ---- packs (FORMAT.md §10) ---- */

static void last_pack(const char *voldir, char *path, size_t cap)
{
	char dir[4200];
	DIR *d;
	struct dirent *de;
	long best = -1;

	snprintf(dir, sizeof(dir), "%s/chunks/packs", voldir);
	d = opendir(dir);
	if (!d)
		die("%s: %s", dir, strerror(errno));
	while ((de = readdir(d)))
		if (strlen(de->d_name) == 13 && !strcmp(de->d_name + 8, ".pack") && atol(de->d_name) > best)
			best = atol(de->d_name);
	closedir(d);
	if (best < 0)
		die("no pack in %s", dir);
	snprintf(path, cap, "%.4000s/%08ld.pack", dir, best % 100000000);
}

static void pack_object(struct lgfs_buf *b, const uint8_t *plain, size_t n, uint8_t id[32])
{
	uint8_t h[48], crc[4];
	size_t start = b->len;

	lgfs_sha256(id, plain, n);
	memcpy(h, "LGCP", 4);
	h[4] = 0;
	h[5] = h[6] = h[7] = 0;
	lgfs_be32_put(h + 8, (uint32_t)n);
	lgfs_be32_put(h + 12, (uint32_t)n);
	memcpy(h + 16, id, 32);
	lgfs_buf_put(b, h, 48);
	lgfs_buf_put(b, plain, n);
	lgfs_be32_put(crc, crc32c(b->data + start, 48 + n));
	lgfs_buf_put(b, crc, 4);
}

/* ---- commands ---- */

static uint64_t num(const char *s)
{
	return strtoull(s, NULL, 0);
}

static void need(struct logv *lv, uint64_t i)
{
	if (i >= lv->n)
		die("no entry %llu (the log holds %zu)", (unsigned long long)i, lv->n);
}

static int cmd_frames(const char *voldir)
{
	struct logv lv;
	size_t i, off = 0, seg = (size_t)-1;

	log_load(&lv, voldir);
	for (i = 0; i < lv.n; i++) {
		const struct frame *f = &lv.f[i];
		unsigned op = rlen_of(f) ? lgfs_be16_get(rec_of(f) + rec_op_off(rec_of(f))) : 0;

		if (f->seg != seg) {
			seg = f->seg;
			off = 0;
		}
		printf("%zu %u %llu %zu %zu\n", i, op, (unsigned long long)lv.segfirst[f->seg], off, rlen_of(f));
		off += f->len;
	}
	log_free(&lv);
	return 0;
}

/* LMDB, straight (layout of src/fs/index.h). */
static void index_open(const char *voldir, MDB_env **env, MDB_txn **t, MDB_dbi *inodes, MDB_dbi *dirents,
		       MDB_dbi *versions)
{
	char dir[4200];
	int rc;

	snprintf(dir, sizeof(dir), "%s/index", voldir);
	if ((rc = mdb_env_create(env)) || (rc = mdb_env_set_maxdbs(*env, 8)) ||
	    (rc = mdb_env_set_mapsize(*env, 64ull << 30)) || (rc = mdb_env_open(*env, dir, 0, 0640)) ||
	    (rc = mdb_txn_begin(*env, NULL, 0, t)) || (rc = mdb_dbi_open(*t, "inodes", 0, inodes)) ||
	    (rc = mdb_dbi_open(*t, "dirents", 0, dirents)) || (rc = mdb_dbi_open(*t, "versions", 0, versions)))
		die("index %s: %s", dir, mdb_strerror(rc));
}

static void inode_get(MDB_txn *t, MDB_dbi db, uint64_t ino, struct lgfs_inode *out)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v;

	lgfs_be64_put(kb, ino);
	if (mdb_get(t, db, &k, &v) || v.mv_size != sizeof(*out))
		die("no inode %llu in the index", (unsigned long long)ino);
	memcpy(out, v.mv_data, sizeof(*out));
}

static void inode_put(MDB_txn *t, MDB_dbi db, const struct lgfs_inode *in)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v = { sizeof(*in), (void *)in };

	lgfs_be64_put(kb, in->ino);
	if (mdb_put(t, db, &k, &v, 0))
		die("inode put");
}

static int cmd_index_stale(const char *voldir, uint64_t ino, uint64_t ver)
{
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi inodes, dirents, versions;
	struct lgfs_inode in;
	struct lgfs_version v;
	uint8_t kb[16];
	MDB_val k = { 16, kb }, val;

	index_open(voldir, &env, &t, &inodes, &dirents, &versions);
	inode_get(t, inodes, ino, &in);
	lgfs_be64_put(kb, ino);
	lgfs_be64_put(kb + 8, ver);
	if (mdb_get(t, versions, &k, &val) || val.mv_size != sizeof(v))
		die("no version %llu of inode %llu", (unsigned long long)ver, (unsigned long long)ino);
	memcpy(&v, val.mv_data, sizeof(v));
	memcpy(in.manifest, v.manifest, 32);
	memcpy(in.sha256, v.sha256, 32);
	in.size = v.size;
	in.allocated = v.size;
	in.mtime = v.mtime;
	inode_put(t, inodes, &in);
	if (mdb_txn_commit(t))
		die("commit");
	mdb_env_close(env);
	return 0;
}

static int cmd_index_ghost(const char *voldir, uint64_t parent, const char *name, uint64_t src)
{
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi inodes, dirents, versions;
	struct lgfs_inode in;
	uint8_t kb[8 + 256], vb[8];
	MDB_val k = { 8 + strlen(name), kb }, v = { 8, vb };

	if (strlen(name) > 255)
		die("name too long");
	index_open(voldir, &env, &t, &inodes, &dirents, &versions);
	inode_get(t, inodes, src, &in);
	in.ino = 900001;
	in.parent = parent;
	in.created = 0;
	inode_put(t, inodes, &in);
	lgfs_be64_put(kb, parent);
	memcpy(kb + 8, name, strlen(name));
	lgfs_be64_put(vb, in.ino);
	if (mdb_put(t, dirents, &k, &v, 0) || mdb_txn_commit(t))
		die("dirent put");
	mdb_env_close(env);
	return 0;
}

static int cmd_record_content(const char *voldir, uint64_t dst, uint64_t src)
{
	static const uint8_t fields[] = { 7, 8, 9 }; /* size, manifest, sha256 */
	struct logv lv;
	size_t k;

	log_load(&lv, voldir);
	need(&lv, dst);
	need(&lv, src);
	for (k = 0; k < sizeof(fields); k++) {
		size_t dl, sl, doff = rec_field(rec_of(&lv.f[dst]), rlen_of(&lv.f[dst]), fields[k], &dl);
		size_t soff = rec_field(rec_of(&lv.f[src]), rlen_of(&lv.f[src]), fields[k], &sl);

		if (!doff || !soff || dl != sl)
			die("field %u not in both records", fields[k]);
		memcpy(rec_of(&lv.f[dst]) + doff, rec_of(&lv.f[src]) + soff, sl);
	}
	fix_check(&lv.f[dst]);
	log_store(&lv, 0);
	log_free(&lv);
	return 0;
}

static int cmd_xor(const char *voldir, uint64_t i, size_t off, int envelope)
{
	struct logv lv;

	log_load(&lv, voldir);
	need(&lv, i);
	if (envelope ? off >= ENV : off >= rlen_of(&lv.f[i]))
		die("offset %zu out of range", off);
	(envelope ? env_of(&lv.f[i]) : rec_of(&lv.f[i]))[off] ^= 0x01;
	fix_check(&lv.f[i]);
	log_store(&lv, 0);
	log_free(&lv);
	return 0;
}

static int cmd_time_edit(const char *voldir, uint64_t i, int64_t delta)
{
	struct logv lv;
	uint8_t *e, *r;

	log_load(&lv, voldir);
	need(&lv, i);
	e = env_of(&lv.f[i]);
	lgfs_be64_put(e + 73, lgfs_be64_get(e + 73) + (uint64_t)delta);
	if (rlen_of(&lv.f[i])) {
		r = rec_of(&lv.f[i]);
		lgfs_be64_put(r + rec_time_off(r), lgfs_be64_get(r + rec_time_off(r)) + (uint64_t)delta);
	}
	fix_check(&lv.f[i]);
	log_store(&lv, 0);
	log_free(&lv);
	return 0;
}

static int cmd_swap(const char *voldir, uint64_t a, uint64_t b)
{
	struct logv lv;
	struct frame tmp;
	size_t sa, sb;

	log_load(&lv, voldir);
	need(&lv, a);
	need(&lv, b);
	sa = lv.f[a].seg;
	sb = lv.f[b].seg;
	tmp = lv.f[a];
	lv.f[a] = lv.f[b];
	lv.f[b] = tmp;
	lv.f[a].seg = sa;
	lv.f[b].seg = sb;
	log_store(&lv, 1);
	log_free(&lv);
	return 0;
}

static int cmd_remove(const char *voldir, uint64_t k)
{
	struct logv lv;

	log_load(&lv, voldir);
	need(&lv, k);
	free(lv.f[k].p);
	memmove(lv.f + k, lv.f + k + 1, (lv.n - k - 1) * sizeof(*lv.f));
	lv.n--;
	log_store(&lv, 1);
	log_free(&lv);
	return 0;
}

static int cmd_withhold(const char *voldir, uint64_t k)
{
	struct logv lv;
	struct frame *f;
	size_t e;

	log_load(&lv, voldir);
	need(&lv, k);
	f = &lv.f[k];
	e = lgfs_be32_get(f->p + 12);
	lgfs_be32_put(f->p + 16, 0);
	f->len = HDR + e + CHECK;
	fix_check(f);
	log_store(&lv, 0);
	log_free(&lv);
	return 0;
}

static int cmd_forge_write(const char *voldir, uint64_t ino, const char *file)
{
	struct logv lv;
	struct lgfs_buf pack = LGFS_BUF_INIT, man = LGFS_BUF_INIT, rec = LGFS_BUF_INIT;
	uint8_t chunk_id[32], man_id[32], whole[32], u[8], env[ENV], salt[16], check[32];
	const struct frame *last;
	const uint8_t *lr, *le;
	char packpath[4200];
	size_t clen, olen, origin_off;
	uint8_t *content, nargs = 6, *fr;
	struct frame *nf;
	uint64_t idx;
	int64_t t;
	FILE *pf;

	log_load(&lv, voldir);
	if (lv.n < 2)
		die("the log is too short");
	content = slurp(file, &clen);
	/* chunk and manifest, appended to the last pack with valid CRCs */
	lgfs_sha256(whole, content, clen);
	pack_object(&pack, content, clen, chunk_id);
	lgfs_buf_put(&man, "LGM1", 4);
	lgfs_be64_put(u, clen);
	lgfs_buf_put(&man, u, 8);
	lgfs_buf_put(&man, whole, 32);
	lgfs_be32_put(u, 1);
	lgfs_buf_put(&man, u, 4);
	lgfs_buf_put(&man, chunk_id, 32);
	lgfs_be32_put(u, (uint32_t)clen);
	lgfs_buf_put(&man, u, 4);
	pack_object(&pack, man.data, man.len, man_id);
	last_pack(voldir, packpath, sizeof(packpath));
	pf = fopen(packpath, "ab");
	if (!pf || fwrite(pack.data, 1, pack.len, pf) != pack.len || fclose(pf))
		die("%s: append failed", packpath);
	/* the record: origin, author, uid/gid copied from the last record */
	last = &lv.f[lv.n - 1];
	lr = rec_of(last);
	le = env_of(last);
	if (!rlen_of(last))
		die("the last record is withheld");
	idx = lv.n;
	t = (int64_t)lgfs_be64_get(le + 73) + 1000000;
	randbytes(salt, 16);
	lgfs_buf_put(&rec, salt, 16);
	lgfs_buf_put(&rec, "\x01", 1);
	olen = lgfs_be16_get(lr + 17);
	origin_off = 17;
	lgfs_buf_put(&rec, lr + origin_off, 2 + olen);
	lgfs_be64_put(u, idx);
	lgfs_buf_put(&rec, u, 8);
	lgfs_envelope_hash(check, le); /* prev: SHA-256 of the previous signed part */
	lgfs_buf_put(&rec, check, 32);
	lgfs_buf_put(&rec, le + 41, 32);                  /* author */
	lgfs_buf_put(&rec, lr + 19 + olen + 8 + 32 + 32, 8); /* uid, gid */
	lgfs_be64_put(u, (uint64_t)t);
	lgfs_buf_put(&rec, u, 8);
	lgfs_buf_put(&rec, "\x01\x05", 2); /* write */
	lgfs_buf_put(&rec, &nargs, 1);
#define ARG(fld, p, n)                                                                                                 \
	do {                                                                                                           \
		uint8_t h[5] = { fld, 0, 0, 0, 0 };                                                                    \
		lgfs_be32_put(h + 1, (uint32_t)(n));                                                                   \
		lgfs_buf_put(&rec, h, 5);                                                                              \
		lgfs_buf_put(&rec, p, n);                                                                              \
	} while (0)
	lgfs_be64_put(u, ino);
	ARG(3, u, 8);
	lgfs_be64_put(u, clen);
	ARG(7, u, 8);
	ARG(8, man_id, 32);
	ARG(9, whole, 32);
	lgfs_be64_put(u, (uint64_t)t);
	ARG(16, u, 8);
	lgfs_be64_put(u, clen);
	ARG(33, u, 8);
#undef ARG
	/* the envelope: right index, chain and commitment; a random signature */
	env[0] = 1;
	lgfs_be64_put(env + 1, idx);
	memcpy(env + 9, check, 32);
	memcpy(env + 41, le + 41, 32);
	lgfs_be64_put(env + 73, (uint64_t)t);
	commitment(env + 81, rec.data, rec.len);
	randbytes(env + SIGNED, 64);
	fr = malloc(HDR + ENV + rec.len + CHECK);
	memcpy(fr, "LGF1", 4);
	lgfs_be64_put(fr + 4, idx);
	lgfs_be32_put(fr + 12, ENV);
	lgfs_be32_put(fr + 16, (uint32_t)rec.len);
	memcpy(fr + HDR, env, ENV);
	memcpy(fr + HDR + ENV, rec.data, rec.len);
	lv.f = realloc(lv.f, (lv.n + 1) * sizeof(*lv.f));
	nf = &lv.f[lv.n++];
	nf->p = fr;
	nf->len = HDR + ENV + rec.len + CHECK;
	nf->seg = lv.nseg - 1;
	fix_check(nf);
	log_store(&lv, 0);
	printf("%llu\n", (unsigned long long)idx);
	log_free(&lv);
	lgfs_buf_free(&pack);
	lgfs_buf_free(&man);
	lgfs_buf_free(&rec);
	free(content);
	return 0;
}

static uint64_t popcount64(uint64_t x)
{
	return (uint64_t)__builtin_popcountll(x);
}

static int cmd_tree_poison(const char *voldir, uint64_t from)
{
	char path[4200];
	size_t len, start = 32 * (2 * from - popcount64(from));
	uint8_t *t;

	snprintf(path, sizeof(path), "%s/tree", voldir);
	t = slurp(path, &len);
	if (start >= len)
		die("the tree holds no node from leaf %llu on", (unsigned long long)from);
	randbytes(t + start, len - start);
	spit(path, t, len);
	printf("%zu\n", (len - start) / 32);
	free(t);
	return 0;
}

static int cmd_cut(const char *voldir, uint64_t n)
{
	struct logv lv;
	struct cpframe cps[4096];
	struct lgfs_buf keep = LGFS_BUF_INIT;
	char path[4200];
	uint8_t *cp, *tree;
	size_t cplen, ncp, i, tlen;

	log_load(&lv, voldir);
	if (n < 1 || n > lv.n)
		die("cannot cut to %llu", (unsigned long long)n);
	for (i = n; i < lv.n; i++)
		free(lv.f[i].p);
	lv.n = n;
	log_store(&lv, 0);
	snprintf(path, sizeof(path), "%s/checkpoints", voldir);
	cp = slurp(path, &cplen);
	ncp = cps_parse(cp, cplen, cps, 4096);
	for (i = 0; i < ncp; i++)
		if (cps[i].size <= n)
			lgfs_buf_put(&keep, cp + cps[i].off, cps[i].len);
	spit(path, keep.data ? keep.data : (uint8_t *)"", keep.len);
	snprintf(path, sizeof(path), "%s/tree", voldir);
	tree = slurp(path, &tlen);
	if (tlen > 32 * (2 * n - popcount64(n)))
		tlen = 32 * (2 * n - popcount64(n));
	spit(path, tree, tlen);
	snprintf(path, sizeof(path), "rm -rf '%s/index'", voldir);
	if (system(path))
		die("removing the index");
	log_free(&lv);
	lgfs_buf_free(&keep);
	free(cp);
	free(tree);
	return 0;
}

static int cmd_cp_drop_last(const char *voldir)
{
	struct cpframe cps[4096];
	char path[4200];
	size_t len, n;
	uint8_t *cp;

	snprintf(path, sizeof(path), "%s/checkpoints", voldir);
	cp = slurp(path, &len);
	n = cps_parse(cp, len, cps, 4096);
	if (n < 2)
		die("fewer than two checkpoints");
	spit(path, cp, cps[n - 1].off);
	printf("%llu\n", (unsigned long long)cps[n - 2].size);
	free(cp);
	return 0;
}

static int cmd_cp_damage_len(const char *voldir)
{
	struct cpframe cps[4096];
	char path[4200];
	size_t len, n;
	uint8_t *cp;

	snprintf(path, sizeof(path), "%s/checkpoints", voldir);
	cp = slurp(path, &len);
	n = cps_parse(cp, len, cps, 4096);
	if (n < 3)
		die("fewer than three checkpoints");
	/* the second frame's leading length now runs past the end of the file */
	lgfs_be32_put(cp + cps[1].off, (uint32_t)(len * 4));
	spit(path, cp, len);
	free(cp);
	return 0;
}

static int cmd_cut_half(const char *voldir)
{
	struct logv lv;
	struct frame *f;

	log_load(&lv, voldir);
	f = &lv.f[lv.n - 1];
	f->len /= 2;
	log_store(&lv, 0);
	log_free(&lv);
	return 0;
}

static int cmd_junk(const char *voldir, uint64_t k, size_t nbytes)
{
	struct logv lv;
	struct lgfs_buf seg = LGFS_BUF_INIT, idx = LGFS_BUF_INIT;
	uint8_t *junk = malloc(nbytes);
	char path[4200];
	size_t i, s;

	log_load(&lv, voldir);
	need(&lv, k);
	s = lv.f[k].seg;
	/* junk that looks like nothing: no magic, not zeros */
	randbytes(junk, nbytes);
	for (i = 0; i + 4 <= nbytes; i++)
		if (!memcmp(junk + i, "LGF1", 4))
			junk[i] ^= 0xFF;
	for (i = 0; i < lv.n; i++) {
		uint8_t off[8];

		if (lv.f[i].seg != s)
			continue;
		if (i == k)
			lgfs_buf_put(&seg, junk, nbytes);
		lgfs_be64_put(off, seg.len);
		lgfs_buf_put(&idx, off, 8);
		lgfs_buf_put(&seg, lv.f[i].p, lv.f[i].len);
	}
	snprintf(path, sizeof(path), "%s/%020llu.seg", lv.dir, (unsigned long long)lv.segfirst[s]);
	spit(path, seg.data, seg.len);
	snprintf(path, sizeof(path), "%s/%020llu.idx", lv.dir, (unsigned long long)lv.segfirst[s]);
	spit(path, idx.data, idx.len);
	printf("%zu\n", s);
	log_free(&lv);
	lgfs_buf_free(&seg);
	lgfs_buf_free(&idx);
	free(junk);
	return 0;
}

static int cmd_pack_damage_tail(const char *voldir)
{
	char path[4200];
	size_t len, off = 16, last = 0;
	uint8_t *p;

	last_pack(voldir, path, sizeof(path));
	p = slurp(path, &len);
	while (off + 52 <= len && !memcmp(p + off, "LGCP", 4)) {
		size_t s = lgfs_be32_get(p + off + 12);

		if (off + 52 + s > len)
			break;
		last = off;
		off += 52 + s;
	}
	if (!last || off != len)
		die("%s: no clean last object", path);
	p[last + 48 + lgfs_be32_get(p + last + 12) / 2] ^= 0x20;
	spit(path, p, len);
	{
		char hex[65];

		lgfs_hex(hex, p + last + 16, 32);
		printf("%s\n", hex);
	}
	free(p);
	return 0;
}

static int cmd_root(const char *voldir, uint64_t n)
{
	struct logv lv;
	uint8_t r[32];
	char hex[65];

	log_load(&lv, voldir);
	log_root(&lv, n, r);
	lgfs_hex(hex, r, 32);
	printf("%s\n", hex);
	log_free(&lv);
	return 0;
}

static int cmd_check_cps(const char *voldir)
{
	struct cpframe cps[4096];
	struct logv lv;
	char path[4200], b64[lgfs_b64_len(32)];
	uint8_t *cp, r[32];
	size_t len, n, i;
	int bad = 0;

	log_load(&lv, voldir);
	snprintf(path, sizeof(path), "%s/checkpoints", voldir);
	cp = slurp(path, &len);
	n = cps_parse(cp, len, cps, 4096);
	for (i = 0; i < n; i++) {
		if (cps[i].size > lv.n) {
			printf("checkpoint #%zu: size %llu beyond the log (%zu)\n", i, (unsigned long long)cps[i].size,
			       lv.n);
			bad = 1;
			continue;
		}
		log_root(&lv, cps[i].size, r);
		lgfs_b64_encode(b64, r, 32);
		if (strcmp(b64, cps[i].root64)) {
			printf("checkpoint #%zu: size %llu root %s, the log's is %s\n", i,
			       (unsigned long long)cps[i].size, cps[i].root64, b64);
			bad = 1;
		}
	}
	printf("%zu checkpoints, newest size %llu\n", n, n ? (unsigned long long)cps[n - 1].size : 0ULL);
	log_free(&lv);
	free(cp);
	return bad;
}

static int cmd_notes(const char *store, const char *vol, const char *keyfile, uint64_t count, size_t len)
{
	struct lgfs_ledger *l;
	struct lgfs_key *key;
	char *text = malloc(len + 1);
	struct lgfs_record *r, **rp;
	uint64_t done = 0;
	size_t per;

	memset(text, 'n', len);
	text[len] = '\0';
	if (lgfs_key_load(&key, keyfile) || lgfs_ledger_open(&l, store, vol, key, 0))
		die("open: %s", lgfs_error_last());
	/* large batches: one group commit (and one checkpoint) per 8192
	 * records or 16 MiB */
	per = (16u << 20) / (len + 1);
	per = per < 1 ? 1 : per > 8192 ? 8192 : per;
	r = calloc(per, sizeof(*r));
	rp = calloc(per, sizeof(*rp));
	if (!r || !rp)
		die("out of memory");
	while (done < count) {
		size_t n = count - done < per ? (size_t)(count - done) : per, i;

		for (i = 0; i < n; i++) {
			lgfs_record_init(&r[i], LGFS_OP_NOTE);
			lgfs_record_add_str(&r[i], LGFS_F_REASON, text);
			rp[i] = &r[i];
		}
		if (lgfs_ledger_append(l, rp, n))
			die("append: %s", lgfs_error_last());
		done += n;
	}
	free(r);
	free(rp);
	lgfs_ledger_close(l);
	lgfs_key_free(key);
	free(text);
	return 0;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	if (argc == 3 && !strcmp(c, "frames"))
		return cmd_frames(argv[2]);
	if (argc == 5 && !strcmp(c, "index-stale"))
		return cmd_index_stale(argv[2], num(argv[3]), num(argv[4]));
	if (argc == 6 && !strcmp(c, "index-ghost"))
		return cmd_index_ghost(argv[2], num(argv[3]), argv[4], num(argv[5]));
	if (argc == 5 && !strcmp(c, "record-content"))
		return cmd_record_content(argv[2], num(argv[3]), num(argv[4]));
	if (argc == 5 && !strcmp(c, "record-xor"))
		return cmd_xor(argv[2], num(argv[3]), num(argv[4]), 0);
	if (argc == 5 && !strcmp(c, "env-xor"))
		return cmd_xor(argv[2], num(argv[3]), num(argv[4]), 1);
	if (argc == 5 && !strcmp(c, "time-edit"))
		return cmd_time_edit(argv[2], num(argv[3]), strtoll(argv[4], NULL, 10));
	if (argc == 5 && !strcmp(c, "swap"))
		return cmd_swap(argv[2], num(argv[3]), num(argv[4]));
	if (argc == 4 && !strcmp(c, "remove"))
		return cmd_remove(argv[2], num(argv[3]));
	if (argc == 4 && !strcmp(c, "withhold"))
		return cmd_withhold(argv[2], num(argv[3]));
	if (argc == 5 && !strcmp(c, "forge-write"))
		return cmd_forge_write(argv[2], num(argv[3]), argv[4]);
	if (argc == 4 && !strcmp(c, "tree-poison"))
		return cmd_tree_poison(argv[2], num(argv[3]));
	if (argc == 4 && !strcmp(c, "cut"))
		return cmd_cut(argv[2], num(argv[3]));
	if (argc == 3 && !strcmp(c, "cp-drop-last"))
		return cmd_cp_drop_last(argv[2]);
	if (argc == 3 && !strcmp(c, "cp-damage-len"))
		return cmd_cp_damage_len(argv[2]);
	if (argc == 3 && !strcmp(c, "cut-half"))
		return cmd_cut_half(argv[2]);
	if (argc == 5 && !strcmp(c, "junk"))
		return cmd_junk(argv[2], num(argv[3]), num(argv[4]));
	if (argc == 3 && !strcmp(c, "pack-damage-tail"))
		return cmd_pack_damage_tail(argv[2]);
	if (argc == 4 && !strcmp(c, "root"))
		return cmd_root(argv[2], num(argv[3]));
	if (argc == 3 && !strcmp(c, "check-cps"))
		return cmd_check_cps(argv[2]);
	if (argc == 7 && !strcmp(c, "notes"))
		return cmd_notes(argv[2], argv[3], argv[4], num(argv[5]), num(argv[6]));
	fprintf(stderr, "usage: see the comment at the top of tests/tools/lgfs_forge.c\n");
	return 2;
}
