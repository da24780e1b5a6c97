/*
 * make_seeds.c — writes the seed corpus of the fuzz targets
 * (tests/fuzz/corpus/<target>/) from the library itself: records and
 * envelopes it encodes, manifests, notes and checkpoints signed by the fuzz
 * key, a checkpoints file, pack files and log segments written by the real
 * stores. Run by `make fuzz-seeds`; deterministic, so rerunning it changes
 * nothing unless the formats do.
 *
 * Usage: make_seeds DIR   (DIR/<target>/<name> files are written)
 */
#include "ledgerfs/buf.h"
#include "ledgerfs/chunks.h"
#include "ledgerfs/content.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/key.h"
#include "ledgerfs/log.h"
#include "ledgerfs/note.h"
#include "ledgerfs/record.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEP "LGFSSEP!"  /* object / file separator of manifest, pack and logfile inputs */
#define ORIGIN "ledgerfs/fuzz/0123456789abcdef" /* fuzz_cpfile.c's FIXED_ORIGIN */

static const char *root;
static struct lgfs_key *key;

static void die(const char *what)
{
	fprintf(stderr, "make_seeds: %s: %s\n", what, lgfs_error_isset() ? lgfs_error_last() : strerror(errno));
	exit(1);
}

static void ok(int rc, const char *what)
{
	if (rc)
		die(what);
}

static void seed(const char *target, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (mkdir(path, 0755) && errno != EEXIST)
		die(path);
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f))
		die(path);
}

static void seed_str(const char *target, const char *name, const char *s)
{
	seed(target, name, s, strlen(s));
}

/* ---- records and envelopes ---- */

static void fill(uint8_t *p, size_t n, uint8_t v)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v + 13 * i);
}

/* Every field of list (0-terminated) with a value of its kind. */
static void add_fields(struct lgfs_record *r, const uint8_t *list)
{
	static const uint8_t hash[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
					  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

	for (; *list; list++) {
		switch (lgfs_field_kind(*list)) {
		case LGFS_KIND_U32:
			ok(lgfs_record_add_u32(r, *list, 0644), "add u32");
			break;
		case LGFS_KIND_U64:
			ok(lgfs_record_add_u64(r, *list, 42), "add u64");
			break;
		case LGFS_KIND_I64:
			ok(lgfs_record_add_i64(r, *list, 1700000000123456789LL), "add i64");
			break;
		case LGFS_KIND_HASH:
			ok(lgfs_record_add_bytes(r, *list, hash, 32), "add hash");
			break;
		case LGFS_KIND_STR:
			ok(lgfs_record_add_str(r, *list, "docs/r\xc3\xa9sum\xc3\xa9.txt"), "add str");
			break;
		default:
			ok(lgfs_record_add_bytes(r, *list, "name\xff", 5), "add bytes");
		}
	}
}

static void records(void)
{
	static const struct {
		uint16_t op;
		uint8_t fields[16];
	} recs[] = {
		{ LGFS_OP_GENESIS, { LGFS_F_NAME, LGFS_F_KEY, LGFS_F_KEY_NAME, LGFS_F_THRESHOLD, LGFS_F_RETENTION } },
		{ LGFS_OP_CREATE, { LGFS_F_PARENT, LGFS_F_NAME, LGFS_F_UID, LGFS_F_GID, LGFS_F_MODE, LGFS_F_PATH } },
		{ LGFS_OP_MKDIR, { LGFS_F_PARENT, LGFS_F_NAME, LGFS_F_UID, LGFS_F_GID, LGFS_F_MODE } },
		{ LGFS_OP_SYMLINK, { LGFS_F_PARENT, LGFS_F_NAME, LGFS_F_UID, LGFS_F_GID, LGFS_F_TARGET } },
		{ LGFS_OP_WRITE, { LGFS_F_INO, LGFS_F_SIZE, LGFS_F_MANIFEST, LGFS_F_CONTENT, LGFS_F_MTIME,
				   LGFS_F_ALLOCATED } },
		{ LGFS_OP_RENAME, { LGFS_F_PARENT, LGFS_F_NAME, LGFS_F_NEW_PARENT, LGFS_F_NEW_NAME, LGFS_F_FLAGS } },
		{ LGFS_OP_UNLINK, { LGFS_F_PARENT, LGFS_F_NAME, LGFS_F_INO } },
		{ LGFS_OP_SETATTR, { LGFS_F_INO, LGFS_F_MODE, LGFS_F_ATIME, LGFS_F_MTIME, LGFS_F_CTIME } },
		{ LGFS_OP_SETXATTR, { LGFS_F_INO, LGFS_F_XATTR_NAME, LGFS_F_XATTR_VALUE } },
		{ LGFS_OP_RETENTION, { LGFS_F_PATH, LGFS_F_RETENTION, LGFS_F_UNTIL, LGFS_F_REASON } },
		{ LGFS_OP_HOLD_RELEASE, { LGFS_F_REF, LGFS_F_REASON } },
		{ LGFS_OP_NOTE, { LGFS_F_REASON } },
	};
	struct lgfs_buf b = LGFS_BUF_INIT, msg = LGFS_BUF_INIT;
	struct lgfs_envelope e;
	uint8_t env[LGFS_ENVELOPE_LEN + sizeof(ORIGIN)];
	char name[64];
	size_t i;

	for (i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		struct lgfs_record r;

		lgfs_record_init(&r, recs[i].op);
		fill(r.salt, sizeof(r.salt), (uint8_t)i);
		if (recs[i].op != LGFS_OP_GENESIS)
			snprintf(r.origin, sizeof(r.origin), "%s", ORIGIN);
		r.index = i;
		fill(r.prev, 32, 0x40);
		memcpy(r.author, lgfs_key_public(key), 32);
		r.uid = 1000;
		r.gid = 1000;
		r.time_ns = 1700000000000000000LL + (int64_t)i;
		add_fields(&r, recs[i].fields);
		lgfs_buf_reset(&b);
		ok(lgfs_record_encode(&b, &r), "record encode");
		snprintf(name, sizeof(name), "%s", lgfs_op_name(recs[i].op));
		seed("record", name, b.data, b.len);

		/* its envelope, signed by the fuzz key for ORIGIN */
		memset(&e, 0, sizeof(e));
		e.version = LGFS_FORMAT_VERSION;
		e.index = r.index;
		memcpy(e.prev, r.prev, 32);
		memcpy(e.author, r.author, 32);
		e.time_ns = r.time_ns;
		lgfs_record_commitment(e.commitment, b.data, b.len);
		lgfs_envelope_encode(env, &e);
		lgfs_buf_reset(&msg);
		ok(lgfs_envelope_signed_message(&msg, ORIGIN, env), "signed message");
		ok(lgfs_key_sign(key, env + LGFS_ENVELOPE_SIGNED_LEN, msg.data, msg.len), "sign");
		memcpy(env + LGFS_ENVELOPE_LEN, ORIGIN, sizeof(ORIGIN) - 1);
		if (i < 4) {
			seed("envelope", name, env, LGFS_ENVELOPE_LEN + sizeof(ORIGIN) - 1);
			snprintf(name + strlen(name), sizeof(name) - strlen(name), "-bare");
			seed("envelope", name, env, LGFS_ENVELOPE_LEN);
		}
	}
	lgfs_buf_free(&b);
	lgfs_buf_free(&msg);
}

/* ---- manifests ---- */

static void manifest_seed(const char *name, const struct lgfs_manifest_entry *ents, size_t n,
			  const char *const *objs, size_t nobj)
{
	struct lgfs_manifest m;
	struct lgfs_buf b = LGFS_BUF_INIT;
	struct lgfs_sha256_ctx *c = lgfs_sha256_ctx_new();
	size_t i, j, o = 0;

	memset(&m, 0, sizeof(m));
	m.entries = (struct lgfs_manifest_entry *)ents;
	m.count = n;
	for (i = 0; i < n; i++) {
		m.size += ents[i].len;
		if (lgfs_manifest_entry_is_hole(&ents[i])) {
			for (j = 0; j < ents[i].len; j++)
				lgfs_sha256_ctx_update(c, "", 1);
		} else {
			lgfs_sha256_ctx_update(c, objs[o % nobj], strlen(objs[o % nobj]));
			o++;
		}
	}
	lgfs_sha256_ctx_final(c, m.sha256); /* frees c */
	ok(lgfs_manifest_encode(&b, &m), "manifest encode");
	for (i = 0; i < nobj; i++) {
		lgfs_buf_put(&b, SEP, strlen(SEP));
		lgfs_buf_put(&b, objs[i], strlen(objs[i]));
	}
	seed("manifest", name, b.data, b.len);
	lgfs_buf_free(&b);
}

static void manifests(void)
{
	static const char *const objs[] = { "hello, world\n", "second chunk of the file\n" };
	struct lgfs_manifest_entry e[4];
	struct lgfs_buf b = LGFS_BUF_INIT;
	uint8_t h[32];
	uint32_t i;

	manifest_seed("empty", NULL, 0, objs, 0);
	memset(e, 0, sizeof(e));
	e[0].id[0] = 1;
	e[0].len = (uint32_t)strlen(objs[0]);
	manifest_seed("one-chunk", e, 1, objs, 1);
	e[1].len = 100; /* a hole */
	e[2].id[0] = 1;
	e[2].len = (uint32_t)strlen(objs[1]);
	manifest_seed("chunk-hole-chunk", e, 3, objs, 2);
	e[0].len = 3; /* the reader must refuse: the chunk is longer */
	manifest_seed("bad-length", e, 1, objs, 1);

	/* a split root: 65537 entries in 2 parts (the parts are not there) */
	lgfs_buf_put(&b, "LGMX", 4);
	lgfs_buf_put_u64(&b, 65537);
	fill(h, 32, 9);
	lgfs_buf_put(&b, h, 32);
	lgfs_buf_put_u64(&b, 65537);
	lgfs_buf_put_u32(&b, 2);
	for (i = 0; i < 2; i++) {
		fill(h, 32, (uint8_t)(i + 100));
		lgfs_buf_put(&b, h, 32);
		lgfs_buf_put_u64(&b, i ? 1 : 65536);
	}
	seed("manifest", "split-root", b.data, b.len);
	lgfs_buf_free(&b);
}

/* ---- notes, checkpoints, the checkpoints file ---- */

static char *checkpoint_note(uint64_t size)
{
	struct lgfs_checkpoint cp;
	char *note;

	memset(&cp, 0, sizeof(cp));
	snprintf(cp.origin, sizeof(cp.origin), "%s", ORIGIN);
	cp.size = size;
	fill(cp.root, 32, (uint8_t)size);
	ok(lgfs_checkpoint_sign(&note, &cp, key), "checkpoint sign");
	return note;
}

static void notes(void)
{
	struct lgfs_checkpoint cp;
	struct lgfs_key *other;
	uint8_t s2[32];
	char *note, *text, *line, *both, *two, *vkey;
	struct lgfs_buf f = LGFS_BUF_INIT;
	size_t n;

	note = checkpoint_note(7);
	seed_str("note", "checkpoint", note);
	text = strndup(note, (size_t)(strstr(note, "\n\n") - note) + 1);
	seed_str("checkpoint", "plain", text);
	ok(lgfs_cosignature_line(&line, text, strlen(text), 1700000000, key), "cosign");
	both = malloc(strlen(note) + strlen(line) + 1);
	strcpy(both, note);
	strcat(both, line);
	seed_str("note", "cosigned", both);
	fill(s2, 32, 77);
	ok(lgfs_key_from_private_raw(&other, "witness", s2), "key");
	ok(lgfs_note_add_signature(&two, note, strlen(note), other), "add signature");
	seed_str("note", "two-signers", two);
	seed_str("note", "text", "hello\nworld\n");
	ok(lgfs_key_vkey(key, &vkey), "vkey");
	seed_str("note", "vkey", vkey);

	memset(&cp, 0, sizeof(cp));
	seed_str("checkpoint", "extension", "example.com/log\n18446744073709551615\n"
					    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nextension line\n");
	seed_str("checkpoint", "zero", "o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");

	/* checkpoints files: frames u32 len, note, u32 len */
	for (n = 1; n <= 3; n++) {
		char *c = checkpoint_note(n);
		uint32_t len = (uint32_t)strlen(c);

		lgfs_buf_put_u32(&f, len);
		lgfs_buf_put(&f, c, len);
		lgfs_buf_put_u32(&f, len);
		free(c);
	}
	seed("cpfile", "three", f.data, f.len);
	n = f.len;
	{
		char *c = checkpoint_note(4);
		uint32_t len = (uint32_t)strlen(c);

		lgfs_buf_put_u32(&f, len);
		lgfs_buf_put(&f, c, len / 2); /* torn in its note */
		free(c);
	}
	seed("cpfile", "torn", f.data, f.len);
	f.len = n;
	lgfs_buf_put(&f, "\0\0\0\0\0\0\0\0\0", 9);
	seed("cpfile", "zeros", f.data, f.len);

	lgfs_buf_free(&f);
	free(vkey);
	free(two);
	lgfs_key_free(other);
	free(both);
	free(line);
	free(text);
	free(note);
}

/* ---- times, escapes, JSON, diffs ---- */

static void texts(void)
{
	static const char *const times[] = {
		"2026-11-23T03:40:01.123456789Z", "2000-02-29T12:00:00+05:30", "1970-01-01T00:00:00Z",
		"2262-04-11T23:47:16.854775807Z", "2016-12-31 23:59:60z", "2024-06-01t00:00:00.5-07:00",
	};
	static const char *const names[] = {
		"plain.txt", "with\nnewline", "\xff\xfe invalid", "bidi\xe2\x80\xaetxt.exe", "back\\slash",
		"\x1b[31mred", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", "c1\xc2\x85", "quote\"d",
		"overlong\xc0\xaf", "surrogate\xed\xa0\x80", "tab\there\x7f",
	};
	static const struct {
		uint8_t opts;
		const char *a, *b;
	} diffs[] = {
		{ 3, "one\ntwo\nthree\nfour\nfive\n", "one\ntwo\n3\nfour\nfive\nsix\n" },
		{ 0x18, "a\nb\nc\n", "a\nb\nc" },
		{ 0x10, "", "new file\nwith lines\n" },
		{ 0x1b, "x\ny\nx\ny\nx\ny\n", "y\nx\ny\nx\ny\nz\n" },
		{ 0x83, "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\n2\n3\n" },
		{ 0x01, "same\r\ntext\r\n", "same\r\ntext\r\n" },
	};
	struct lgfs_buf b = LGFS_BUF_INIT;
	char name[32];
	size_t i;

	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		snprintf(name, sizeof(name), "t%zu", i);
		seed_str("time", name, times[i]);
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(name, sizeof(name), "n%zu", i);
		seed_str("escape", name, names[i]);
		seed_str("json", name, names[i]);
	}
	for (i = 0; i < sizeof(diffs) / sizeof(diffs[0]); i++) {
		size_t alen = strlen(diffs[i].a);

		lgfs_buf_reset(&b);
		lgfs_buf_put_u8(&b, diffs[i].opts);
		lgfs_buf_put_u16(&b, (uint16_t)alen);
		lgfs_buf_put(&b, diffs[i].a, alen);
		lgfs_buf_put(&b, diffs[i].b, strlen(diffs[i].b));
		snprintf(name, sizeof(name), "d%zu", i);
		seed("linediff", name, b.data, b.len);
	}
	lgfs_buf_free(&b);
}

/* ---- pack files and log segments, written by the real stores ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void slurp(struct lgfs_buf *b, const char *path)
{
	char buf[65536];
	size_t n;
	FILE *f = fopen(path, "rb");

	if (!f)
		die(path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		lgfs_buf_put(b, buf, n);
	fclose(f);
}

static uint32_t crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = c & 1 ? c >> 1 ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

/* A raw pack object of payload pl stored under id, CRC right. */
static void pack_object(struct lgfs_buf *b, const uint8_t id[32], const char *pl)
{
	size_t start = b->len, n = strlen(pl);

	lgfs_buf_put(b, "LGCP\0\0\0\0", 8);
	lgfs_buf_put_u32(b, (uint32_t)n);
	lgfs_buf_put_u32(b, (uint32_t)n);
	lgfs_buf_put(b, id, 32);
	lgfs_buf_put(b, pl, n);
	lgfs_buf_put_u32(b, crc32c(b->data + start, b->len - start));
}

static void packs(const char *tmp)
{
	struct lgfs_chunks *c;
	struct lgfs_buf b = LGFS_BUF_INIT;
	uint8_t chunk[3000], id[32];
	char dir[4096], path[4200];
	uint64_t x;
	size_t i, whole;

	snprintf(dir, sizeof(dir), "%s/packs-store", tmp);
	setenv("LEDGERFS_PACK_BYTES", "2000", 1); /* the 3000-byte chunk starts pack 1 */
	ok(lgfs_chunks_pack_open(&c, dir, LGFS_CHUNKS_CREATE), "pack open");
	lgfs_sha256(id, "hello", 5);
	ok(lgfs_chunks_put(c, id, "hello", 5), "put");
	memset(chunk, 'a', sizeof(chunk)); /* compresses: a zstd object */
	lgfs_sha256(id, chunk, 2000);
	ok(lgfs_chunks_put(c, id, chunk, 2000), "put");
	for (i = 0, x = 88172645463325252ull; i < sizeof(chunk); i++) { /* does not compress: raw */
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		chunk[i] = (uint8_t)(x >> 32);
	}
	lgfs_sha256(id, chunk, sizeof(chunk));
	ok(lgfs_chunks_put(c, id, chunk, sizeof(chunk)), "put");
	ok(lgfs_chunks_sync(c), "sync");
	lgfs_chunks_close(c);
	unsetenv("LEDGERFS_PACK_BYTES");

	lgfs_buf_put_u8(&b, 0);
	snprintf(path, sizeof(path), "%s/packs/00000000.pack", dir);
	slurp(&b, path);
	whole = b.len;
	seed("pack", "one", b.data, b.len);
	b.data[0] = 4; /* as the writer too */
	seed("pack", "one-writer", b.data, b.len);
	b.len = whole - 7; /* a torn tail */
	seed("pack", "torn-writer", b.data, b.len);
	b.data[0] = 3; /* fix CRCs and ids */
	b.len = whole;
	b.data[60] ^= 1; /* in the first object's payload: fixed up again */
	seed("pack", "fixed", b.data, b.len);
	b.data[60] ^= 1;
	b.data[0] = 0;
	lgfs_buf_put(&b, SEP, strlen(SEP));
	snprintf(path, sizeof(path), "%s/packs/00000001.pack", dir);
	slurp(&b, path);
	seed("pack", "two", b.data, b.len);

	/* a copy whose CRC is right but whose bytes are not the chunk's, then
	 * a good copy of the same chunk */
	lgfs_buf_reset(&b);
	lgfs_buf_put_u8(&b, 0);
	lgfs_buf_put(&b, "LGPK", 4);
	lgfs_buf_put_u32(&b, 1);
	lgfs_buf_put_u32(&b, 0);
	lgfs_buf_put_u32(&b, 0);
	lgfs_sha256(id, "good", 4);
	pack_object(&b, id, "bad!");
	pack_object(&b, id, "good");
	seed("pack", "shadowed-copy", b.data, b.len);
	lgfs_buf_free(&b);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void logs(const char *tmp)
{
	struct lgfs_log *l;
	struct lgfs_log_entry e[4];
	struct lgfs_buf b = LGFS_BUF_INIT;
	char dir[4096], path[4200];
	uint8_t env[4][LGFS_ENVELOPE_LEN];
	size_t i, whole;

	snprintf(dir, sizeof(dir), "%s/log", tmp);
	setenv("LEDGERFS_LOG_SEGMENT_BYTES", "600", 1);
	ok(lgfs_log_file_open(&l, dir, LGFS_LOG_CREATE), "log open");
	for (i = 0; i < 4; i++) {
		fill(env[i], sizeof(env[i]), (uint8_t)i);
		e[i].index = i;
		e[i].envelope = env[i];
		e[i].envelope_len = sizeof(env[i]);
		e[i].record = i == 2 ? NULL : (const uint8_t *)"record bytes";
		e[i].record_len = i == 2 ? 0 : 12;
	}
	ok(lgfs_log_append(l, 0, e, 3), "append");
	ok(lgfs_log_append(l, 3, e + 3, 1), "append");
	lgfs_log_close(l);
	unsetenv("LEDGERFS_LOG_SEGMENT_BYTES");

	lgfs_buf_put_u8(&b, 0);
	snprintf(path, sizeof(path), "%s/00000000000000000000.seg", dir);
	slurp(&b, path);
	whole = b.len;
	seed("logfile", "one", b.data, b.len);
	b.data[0] = 2; /* the writer appends */
	seed("logfile", "one-writer", b.data, b.len);
	b.len = whole - 30; /* torn in its last frame */
	seed("logfile", "torn-writer", b.data, b.len);
	b.data[0] = 1; /* fix the checks */
	b.len = whole;
	b.data[40] ^= 1;
	seed("logfile", "fixed", b.data, b.len);
	b.data[40] ^= 1;
	b.data[0] = 4;
	lgfs_buf_put(&b, SEP, strlen(SEP));
	snprintf(path, sizeof(path), "%s/00000000000000000003.seg", dir);
	slurp(&b, path);
	seed("logfile", "two", b.data, b.len);
	lgfs_buf_free(&b);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
	char tmp[] = "/tmp/lgfs-seeds-XXXXXX";
	uint8_t s[32];
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	root = argv[1];
	if (mkdir(root, 0755) && errno != EEXIST)
		die(root);
	for (i = 0; i < sizeof(s); i++) /* fuzz_note.c's key */
		s[i] = (uint8_t)(7 * i + 1);
	ok(lgfs_key_from_private_raw(&key, "fuzz-key", s), "key");
	if (!mkdtemp(tmp))
		die("mkdtemp");
	records();
	manifests();
	notes();
	texts();
	packs(tmp);
	logs(tmp);
	rmdir(tmp);
	lgfs_key_free(key);
	return 0;
}
