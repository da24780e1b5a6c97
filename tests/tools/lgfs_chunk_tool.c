/*
 * lgfs_chunk_tool.c — test tool: looks at and alters a volume's chunk store
 * behind the file system's back (the volume must not be mounted), the way an
 * intruder or bit rot would, so that tests can check what audit and reads
 * notice.
 *
 *   lgfs_chunk_tool count CHUNKDIR
 *       prints the number of stored chunk ids (lgfs_chunks_iterate)
 *   lgfs_chunk_tool flip CHUNKDIR MANIFEST_HEX [N]
 *       flips one bit (xor 0x01) of the stored payload of the N-th data chunk
 *       (default 0) named by that manifest, in the middle of the payload;
 *       running it twice restores the byte. Prints the chunk id and what
 *       get() now says of it ("corrupt", or "ok" after the second flip).
 *   lgfs_chunk_tool delete CHUNKDIR MANIFEST_HEX [N]
 *       makes that chunk absent: prints its id
 *   lgfs_chunk_tool check CHUNKDIR ID_HEX
 *       get() of one chunk: prints "ok", "notfound" or "corrupt" (exit 0)
 *
 * CHUNKDIR is <store>/volumes/<volume>/chunks. Both on-disk layouts of
 * include/ledgerfs/chunks.h are handled:
 *
 *  - pack files (the default, src/store/chunks_pack.c): packs/NNNNNNNN.pack,
 *    a 16-byte pack header, then objects of a 48-byte header ("LGCP", u8
 *    format, 3 zero bytes, u32 plain length, u32 stored length, 32-byte id),
 *    the stored payload and a 4-byte CRC-32C; index/ is an LMDB cache
 *    id -> (pack, offset). "flip" xors a payload byte in place (the CRC is
 *    left stale: the index already covers the object, so get() finds it and
 *    its SHA-256 check must fail). "delete" cuts every copy of the object out
 *    of its pack (the bytes after it move down) and removes the derived
 *    index (data.mdb, lock.mdb), so the next open rebuilds it by scanning the
 *    packs, where the object no longer is: get() -> LGFS_ENOTFOUND.
 *  - one file per chunk (chunks_file.c, docs/FORMAT.md §10): ab/<64 hex>,
 *    a 12-byte header ("LGCK", format, 3 zero bytes, u32 plain length), then
 *    the payload. "flip" xors a payload byte; "delete" unlinks the file.
 *
 * After flip/delete the tool reopens the store and checks that get() now
 * fails the expected way (LGFS_ECORRUPT / LGFS_ENOTFOUND); exit 1 if not.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledgerfs/buf.h"
#include "ledgerfs/chunks.h"
#include "ledgerfs/content.h"
#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"

#define PACK_HDR 16
#define OBJ_HDR 48
#define OBJ_TRAILER 4
#define FILE_HDR 12

static int count_cb(void *payload, const uint8_t id[32])
{
	(void)id;
	(*(unsigned long long *)payload)++;
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The N-th data chunk (holes skipped) of a manifest. */
static int pick_chunk(const char *dir, const char *hex, unsigned long n, uint8_t id[32])
{
	struct lgfs_chunks *c;
	struct lgfs_manifest m;
	uint8_t mid[32];
	size_t i;
	int rc;

	if (strlen(hex) != 64 || lgfs_unhex(mid, 32, hex, 64)) {
		fprintf(stderr, "bad manifest id %s\n", hex);
		return -1;
	}
	if (lgfs_chunks_open(&c, dir, 0)) {
		fprintf(stderr, "cannot open chunk store %s: %s\n", dir, lgfs_error_last());
		return -1;
	}
	memset(&m, 0, sizeof(m));
	rc = lgfs_manifest_load(&m, c, mid);
	if (rc) {
		fprintf(stderr, "cannot load manifest %s: %s\n", hex, lgfs_error_last());
		lgfs_chunks_close(c);
		return -1;
	}
	rc = -1;
	for (i = 0; i < m.count; i++) {
		if (lgfs_manifest_entry_is_hole(&m.entries[i]))
			continue;
		if (n-- == 0) {
			memcpy(id, m.entries[i].id, 32);
			rc = 0;
			break;
		}
	}
	if (rc)
		fprintf(stderr, "manifest %s has too few data chunks\n", hex);
	lgfs_manifest_free(&m);
	lgfs_chunks_close(c);
	return rc;
}

/* 0 ok, 1 notfound, 2 corrupt, -1 other error */
static int check(const char *dir, const uint8_t id[32])
{
	struct lgfs_chunks *c;
	struct lgfs_buf b = LGFS_BUF_INIT;
	int rc;

	if (lgfs_chunks_open(&c, dir, 0)) {
		fprintf(stderr, "cannot open chunk store %s: %s\n", dir, lgfs_error_last());
		return -1;
	}
	rc = lgfs_chunks_get(c, id, &b);
	lgfs_buf_free(&b);
	lgfs_chunks_close(c);
	if (rc == 0)
		return 0;
	if (rc == LGFS_ENOTFOUND)
		return 1;
	if (rc == LGFS_ECORRUPT)
		return 2;
	fprintf(stderr, "get: %s\n", lgfs_error_last());
	return -1;
}

static int pread_full(int fd, void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, off + (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

static int pwrite_full(int fd, const void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pwrite(fd, (const char *)buf + done, n - done, off + (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* Cut [off, off+len) out of a file: move what follows down, shorten it. */
static int cut_range(int fd, off_t off, off_t len, off_t size)
{
	static char buf[1 << 20];
	off_t src = off + len, dst = off;

	while (src < size) {
		size_t n = size - src < (off_t)sizeof(buf) ? (size_t)(size - src) : sizeof(buf);

		if (pread_full(fd, buf, n, src) || pwrite_full(fd, buf, n, dst))
			return -1;
		src += (off_t)n;
		dst += (off_t)n;
	}
	if (ftruncate(fd, size - len) || fsync(fd))
		return -1;
	return 0;
}

static int is_pack_name(const char *s)
{
	size_t n = strlen(s);

	return n == 13 && strspn(s, "0123456789") == 8 && !strcmp(s + 8, ".pack");
}

/* Walk every pack; flip a payload byte of, or cut out, every copy of id.
 * Returns the number of copies handled, -1 on error. */
static int pack_alter(const char *dir, const uint8_t id[32], int del)
{
	char path[4096];
	struct dirent *e;
	DIR *d;
	int found = 0;

	snprintf(path, sizeof(path), "%s/packs", dir);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		struct stat st;
		off_t pos = PACK_HDR;
		int fd;

		if (!is_pack_name(e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/packs/%s", dir, e->d_name);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st)) {
			fprintf(stderr, "%s: %s\n", path, strerror(errno));
			closedir(d);
			return -1;
		}
		while (pos + OBJ_HDR <= st.st_size) {
			uint8_t h[OBJ_HDR];
			uint32_t stored;
			off_t len;

			if (pread_full(fd, h, OBJ_HDR, pos) || memcmp(h, "LGCP", 4)) {
				fprintf(stderr, "%s: no object header at %lld\n", path, (long long)pos);
				break;
			}
			stored = be32(h + 12);
			len = OBJ_HDR + (off_t)stored + OBJ_TRAILER;
			if (memcmp(h + 16, id, 32) != 0) {
				pos += len;
				continue;
			}
			found++;
			if (del) {
				if (cut_range(fd, pos, len, st.st_size)) {
					fprintf(stderr, "%s: cutting failed: %s\n", path, strerror(errno));
					close(fd);
					closedir(d);
					return -1;
				}
				st.st_size -= len;
				continue; /* the next object now starts at pos */
			} else {
				uint8_t b;
				off_t at = pos + OBJ_HDR + stored / 2;

				if (pread_full(fd, &b, 1, at))
					break;
				b ^= 0x01;
				if (pwrite_full(fd, &b, 1, at) || fsync(fd))
					break;
				pos += len;
			}
		}
		close(fd);
	}
	closedir(d);
	if (del && found) {
		snprintf(path, sizeof(path), "%s/index/data.mdb", dir);
		if (unlink(path) && errno != ENOENT)
			return -1;
		snprintf(path, sizeof(path), "%s/index/lock.mdb", dir);
		if (unlink(path) && errno != ENOENT)
			return -1;
	}
	return found;
}

/* One-file-per-chunk layout. */
static int file_alter(const char *dir, const uint8_t id[32], int del)
{
	char hex[65], path[4096];
	struct stat st;
	uint8_t b;
	off_t at;
	int fd;

	lgfs_hex(hex, id, 32);
	snprintf(path, sizeof(path), "%s/%.2s/%s", dir, hex, hex);
	if (del)
		return unlink(path) == 0 ? 1 : -1;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || st.st_size <= FILE_HDR) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	at = FILE_HDR + (st.st_size - FILE_HDR) / 2;
	if (pread_full(fd, &b, 1, at) == 0) {
		b ^= 0x01;
		if (pwrite_full(fd, &b, 1, at) == 0 && fsync(fd) == 0) {
			close(fd);
			return 1;
		}
	}
	close(fd);
	return -1;
}

int main(int argc, char **argv)
{
	char path[4096], hex[65];
	struct stat st;
	uint8_t id[32];
	int del, n, got;

	if (argc < 3) {
		fprintf(stderr, "usage: lgfs_chunk_tool count CHUNKDIR | flip|delete CHUNKDIR MANIFEST [N] |"
				" check CHUNKDIR ID\n");
		return 2;
	}
	if (!strcmp(argv[1], "count") && argc == 3) {
		struct lgfs_chunks *c;
		unsigned long long count = 0;

		if (lgfs_chunks_open(&c, argv[2], 0)) {
			fprintf(stderr, "cannot open chunk store %s: %s\n", argv[2], lgfs_error_last());
			return 1;
		}
		if (lgfs_chunks_iterate(c, count_cb, &count)) {
			fprintf(stderr, "iterate: %s\n", lgfs_error_last());
			lgfs_chunks_close(c);
			return 1;
		}
		lgfs_chunks_close(c);
		printf("%llu\n", count);
		return 0;
	}
	if (!strcmp(argv[1], "check") && argc == 4) {
		if (strlen(argv[3]) != 64 || lgfs_unhex(id, 32, argv[3], 64))
			return 2;
		got = check(argv[2], id);
		if (got < 0)
			return 1;
		printf("%s\n", got == 0 ? "ok" : got == 1 ? "notfound" : "corrupt");
		return 0;
	}
	if ((strcmp(argv[1], "flip") && strcmp(argv[1], "delete")) || argc < 4 || argc > 5) {
		fprintf(stderr, "unknown operation\n");
		return 2;
	}
	del = !strcmp(argv[1], "delete");
	if (pick_chunk(argv[2], argv[3], argc == 5 ? strtoul(argv[4], NULL, 10) : 0, id))
		return 1;
	lgfs_hex(hex, id, 32);
	snprintf(path, sizeof(path), "%s/packs", argv[2]);
	if (stat(path, &st) == 0)
		n = pack_alter(argv[2], id, del);
	else
		n = file_alter(argv[2], id, del);
	if (n <= 0) {
		fprintf(stderr, "chunk %s: not found on disk or cannot be altered\n", hex);
		return 1;
	}
	/* what the store now says about it: a deleted chunk is absent; a
	 * flipped one is corrupt (or intact again after a second flip) */
	got = check(argv[2], id);
	if (del ? got != 1 : got != 0 && got != 2) {
		fprintf(stderr, "chunk %s: after %s, get() says %s\n", hex, argv[1],
			got == 0 ? "ok" : got == 1 ? "notfound" : got == 2 ? "corrupt" : "error");
		return 1;
	}
	if (!del) {
		printf("%s %s\n", hex, got == 0 ? "ok" : "corrupt");
		return 0;
	}
	printf("%s\n", hex);
	return 0;
}
