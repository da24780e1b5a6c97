/*
 * vcache.c — what the last full verification of a volume's log found, kept
 * in the user's state (ledger layer). See verify.h.
 *
 * Verifying a log reads and hashes all of it: about a second per million
 * entries. When not one of the log's files changed since this user's last
 * full verification, its result is reused: the leaf hash of every entry,
 * the chain's end, the Merkle frontier and root, the newest checkpoint.
 * "Not changed" means: the same set of files under log/ (but the lock and
 * the sidecars, which reads never use) and the same
 * checkpoints file, each with the same device, inode, size, modification
 * and status-change times (ns) as before and after that verification; any
 * write, truncate, rename or utimes through the kernel changes the status
 * change time. The user's pin must also be the one the verification
 * checked. The result lives under the user's state directory, never in the
 * store, and ends with its own SHA-256 (a damaged file is a miss). Entries
 * are still checked against the cached leaf hashes whenever they are read.
 * The leaf hashes are checked in blocks of LGFS_VCACHE_BLOCK, each against
 * its own hash, when first used (readers map the file and check only what
 * they touch; writers check and copy them all).
 * Audit never uses it; LEDGERFS_VERIFY=full turns it off.
 *
 * File <state>/verified/<hex SHA-256 of the volume directory's realpath>:
 *   "ledgerfs verified v1\n" (21 bytes), files digest[32], pin size u64,
 *   pin root[32], struct lgfs_volume_info, size u64, prev[32], last_time
 *   i64, root[32], struct lgfs_merkle_frontier, cp_size u64, cp_valid_end
 *   i64, cp_file_size i64, signatures u64, note length u32, note bytes,
 *   the SHA-256 of each block of LGFS_VCACHE_BLOCK leaf hashes (the last
 *   one may be shorter), the SHA-256 of everything before, then the size
 *   leaf hashes of 32 bytes and nothing after. Host byte order: it is this
 *   machine's cache.
 */
#include "verify.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ledgerfs/error.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/sys.h"
#include "ledgerfs/trust.h"

#define MAGIC "ledgerfs verified v2\n"
#define MAGIC_LEN 21

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One file's identity into the digest: name, device, inode, size, times.
 * A missing file counts as its absence. */
static void file_id(struct lgfs_sha256_ctx *c, const char *dir, const char *name, int64_t *newest)
{
	char path[PATH_MAX];
	struct stat st;
	int64_t v[7];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	lgfs_sha256_ctx_update(c, name, strlen(name) + 1);
	memset(v, 0, sizeof(v));
	if (lstat(path, &st) == 0) {
		v[0] = (int64_t)st.st_dev;
		v[1] = (int64_t)st.st_ino;
		v[2] = (int64_t)st.st_size;
		v[3] = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		v[4] = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
		v[5] = (int64_t)st.st_mode;
		v[6] = 1;
		if (v[3] > *newest)
			*newest = v[3];
		if (v[4] > *newest)
			*newest = v[4];
	}
	lgfs_sha256_ctx_update(c, v, sizeof(v));
}

/* The identity of every file the verification reads: all of log/ and the
 * checkpoints file. 0, or -1 when it cannot be taken (no cache then). */
static int files_digest(const char *voldir, uint8_t out[32], int64_t *newest)
{
	struct lgfs_sha256_ctx *c = lgfs_sha256_ctx_new();
	char logdir[PATH_MAX], **names = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	int rc = -1;

	if (!c)
		return -1;
	snprintf(logdir, sizeof(logdir), "%s/log", voldir);
	if (!(d = opendir(logdir)))
		goto out;
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);

		/* Not read by verification: the writer's lock and the segments'
		 * position sidecars (reads never use them; a writer rewrites the
		 * last one at open). */
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, "lock") ||
		    (nl > 4 && !strcmp(de->d_name + nl - 4, ".idx")))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*nn));

			if (!nn)
				break;
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name)))
			break;
		n++;
	}
	if (de) { /* out of memory */
		closedir(d);
		goto out;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++)
		file_id(c, logdir, names[i], newest);
	lgfs_sha256_ctx_update(c, "", 1);
	file_id(c, voldir, "checkpoints", newest);
	lgfs_sha256_ctx_final(c, out);
	c = NULL;
	rc = 0;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	lgfs_sha256_ctx_free(c);
	return rc;
}

/* The pin the verification checks (size and root of this user's newest
 * verified checkpoint of the origin; zeros when none). */
static int pin_id(const char *voldir, const char *origin, uint64_t *size, uint8_t root[32])
{
	struct lgfs_trust_pin pin;
	int rc = lgfs_trust_load(&pin, voldir, origin);

	*size = 0;
	memset(root, 0, 32);
	if (rc == LGFS_ENOTFOUND)
		rc = 0;
	if (!rc && pin.origin[0] && strcmp(pin.origin, origin))
		rc = -1; /* another volume was pinned here: let the full check say so */
	if (!rc && pin.have_cp) {
		*size = pin.cp.size;
		memcpy(root, pin.cp.root, 32);
	}
	lgfs_trust_pin_free(&pin);
	lgfs_error_clear();
	return rc;
}

static char *cache_path(const char *voldir)
{
	char *state = NULL, *p = NULL, real[PATH_MAX], hex[65];
	uint8_t h[32];

	if (!realpath(voldir, real) || lgfs_trust_state_dir(&state)) {
		lgfs_error_clear();
		return NULL;
	}
	lgfs_sha256(h, real, strlen(real));
	lgfs_hex(hex, h, 32);
	if (asprintf(&p, "%s/verified/%s", state, hex) < 0)
		p = NULL;
	free(state);
	return p;
}

static int disabled(void)
{
	const char *e = getenv("LEDGERFS_VERIFY");

	return e && !strcmp(e, "full");
}

static uint64_t cache_min = 10000;
static uint64_t hits;

uint64_t lgfs_vcache_hits(void)
{
	return __atomic_load_n(&hits, __ATOMIC_RELAXED);
}

void lgfs_vcache_set_min(uint64_t n)
{
	cache_min = n;
}

int lgfs_vcache_key(const char *voldir, uint8_t key[32])
{
	int64_t newest = 0;

	if (disabled())
		return -1;
	return files_digest(voldir, key, &newest);
}

/* A cursor over the mapped file: copies n bytes out, or fails at its end. */
struct cur {
	const uint8_t *p;
	size_t left;
};

static int rd(struct cur *c, void *out, size_t n)
{
	if (n > c->left)
		return -1;
	memcpy(out, c->p, n);
	c->p += n;
	c->left -= n;
	return 0;
}

static uint64_t nblocks(uint64_t size)
{
	return (size + LGFS_VCACHE_BLOCK - 1) / LGFS_VCACHE_BLOCK;
}

int lgfs_vcache_load(struct lgfs_vlog *v, const char *voldir, uint64_t log_size, int lazy)
{
	char *path = NULL, magic[MAGIC_LEN];
	uint8_t files[32], want[32], pin_root[32], my_root[32], sum[32];
	uint64_t pin_size, my_size, nb, i;
	uint32_t nlen;
	struct stat st;
	struct cur c;
	size_t head;
	void *map = MAP_FAILED;
	int fd = -1, rc = 1;

	memset(v, 0, sizeof(*v));
	if (lgfs_vcache_key(voldir, files) || log_size < cache_min || !(path = cache_path(voldir)))
		goto out;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || st.st_size < 1024 || (uint64_t)st.st_size > SIZE_MAX)
		goto out;
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		goto out;
	c.p = map;
	c.left = (size_t)st.st_size;
	if (rd(&c, magic, MAGIC_LEN) || memcmp(magic, MAGIC, MAGIC_LEN) || rd(&c, want, 32) ||
	    memcmp(want, files, 32) || rd(&c, &pin_size, 8) || rd(&c, pin_root, 32) ||
	    rd(&c, &v->info, sizeof(v->info)) || rd(&c, &v->size, 8) || v->size != log_size ||
	    rd(&c, v->prev, 32) || rd(&c, &v->last_time, 8) || rd(&c, v->root, 32) ||
	    rd(&c, &v->front, sizeof(v->front)) || rd(&c, &v->cp_size, 8) ||
	    rd(&c, &v->cp_valid_end, sizeof(v->cp_valid_end)) ||
	    rd(&c, &v->cp_file_size, sizeof(v->cp_file_size)) || rd(&c, &v->signatures, 8) ||
	    rd(&c, &nlen, 4) || nlen > (1u << 20))
		goto out;
	v->info.name[sizeof(v->info.name) - 1] = '\0';
	v->info.origin[sizeof(v->info.origin) - 1] = '\0';
	v->info.founder_name[sizeof(v->info.founder_name) - 1] = '\0';
	if (v->front.size != v->size || v->front.npeaks > 64 || v->cp_size > v->size)
		goto out;
	if (nlen) {
		if (!(v->cp_note = malloc(nlen + 1)) || rd(&c, v->cp_note, nlen))
			goto out;
		v->cp_note[nlen] = '\0';
	}
	/* block hashes, the header's hash, then exactly the leaves */
	nb = nblocks(v->size);
	if (nb > c.left / 32 || c.left - nb * 32 < 32 || (c.left - nb * 32 - 32) / 32 != v->size ||
	    (c.left - nb * 32 - 32) % 32)
		goto out;
	v->bhash = (const uint8_t(*)[32])c.p;
	head = (size_t)(c.p - (const uint8_t *)map) + nb * 32;
	lgfs_sha256(sum, map, head);
	if (memcmp(sum, (const uint8_t *)map + head, 32))
		goto out;
	v->mleaves = (const uint8_t(*)[32])((const uint8_t *)map + head + 32);
	/* the pin it checked is still this user's pin, or the newest
	 * checkpoint it verified, which the open pins next */
	if (pin_id(voldir, v->info.origin, &my_size, my_root))
		goto out;
	if (my_size != pin_size || memcmp(my_root, pin_root, 32)) {
		struct lgfs_checkpoint cp;

		if (!v->cp_note || lgfs_checkpoint_parse(&cp, v->cp_note, strlen(v->cp_note)) ||
		    cp.size != my_size || memcmp(cp.root, my_root, 32))
			goto out;
	}
	v->map = map;
	v->map_len = (size_t)st.st_size;
	v->map_path = path;
	path = NULL;
	map = MAP_FAILED;
	if (!(v->bok = calloc(nb, 1)))
		goto out;
	if (!lazy) {
		/* a writer appends to the leaves: check them all and copy */
		for (i = 0; i < nb; i++)
			if (!lgfs_vlog_leaf(v, i * LGFS_VCACHE_BLOCK))
				goto out;
		if (lgfs_vlog_reserve(v, v->size))
			goto out;
		memcpy(v->leaves, v->mleaves, v->size * 32);
		munmap(v->map, v->map_len);
		v->map = NULL;
		v->mleaves = NULL;
		v->bhash = NULL;
		free(v->bok);
		v->bok = NULL;
	}
	__atomic_add_fetch(&hits, 1, __ATOMIC_RELAXED);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	free(path);
	if (rc)
		lgfs_vlog_free(v);
	lgfs_error_clear();
	return rc;
}

static int wr(struct lgfs_buf *b, const void *p, size_t n)
{
	return lgfs_buf_put(b, p, n);
}

void lgfs_vcache_store(const struct lgfs_vlog *v, const char *voldir, const uint8_t key[32])
{
	struct lgfs_buf b;
	char *path = NULL, *tmp = NULL, *slash;
	uint8_t now[32], pin_root[32], sum[32];
	uint64_t pin_size;
	uint32_t nlen = v->cp_note ? (uint32_t)strlen(v->cp_note) : 0;
	int64_t newest = 0;
	struct timespec ts;
	int fd = -1, ok = 0;

	lgfs_buf_init(&b);
	/* The files must be the ones verified: unchanged since before it. And
	 * not changed within the last seconds: file times have a coarse
	 * granularity (a clock tick), so a file written again within the tick
	 * of its last change may keep all its times; such files are verified
	 * in full until they are older. Small logs cost little to verify. */
	if (disabled() || v->size < cache_min || files_digest(voldir, now, &newest) || memcmp(now, key, 32) ||
	    clock_gettime(CLOCK_REALTIME, &ts) || newest > (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - 2000000000LL ||
	    pin_id(voldir, v->info.origin, &pin_size, pin_root) || !(path = cache_path(voldir)))
		goto out;
	if (wr(&b, MAGIC, MAGIC_LEN) || wr(&b, key, 32) || wr(&b, &pin_size, 8) || wr(&b, pin_root, 32) ||
	    wr(&b, &v->info, sizeof(v->info)) || wr(&b, &v->size, 8) || wr(&b, v->prev, 32) ||
	    wr(&b, &v->last_time, 8) || wr(&b, v->root, 32) || wr(&b, &v->front, sizeof(v->front)) ||
	    wr(&b, &v->cp_size, 8) || wr(&b, &v->cp_valid_end, sizeof(v->cp_valid_end)) ||
	    wr(&b, &v->cp_file_size, sizeof(v->cp_file_size)) || wr(&b, &v->signatures, 8) || wr(&b, &nlen, 4) ||
	    (nlen && wr(&b, v->cp_note, nlen)))
		goto out;
	{
		uint64_t i, nb = nblocks(v->size);

		for (i = 0; i < nb; i++) {
			uint64_t first = i * LGFS_VCACHE_BLOCK;
			uint64_t n = v->size - first < LGFS_VCACHE_BLOCK ? v->size - first : LGFS_VCACHE_BLOCK;

			lgfs_sha256(sum, v->leaves[first], n * 32);
			if (wr(&b, sum, 32))
				goto out;
		}
		if (lgfs_buf_ok(&b))
			goto out;
		lgfs_sha256(sum, b.data, b.len);
	}
	slash = strrchr(path, '/');
	*slash = '\0';
	if (lgfs_sys_mkdirs(path, 0700) == 0)
		chmod(path, 0700);
	*slash = '/';
	if (asprintf(&tmp, "%s.tmp-%ld", path, (long)getpid()) < 0) {
		tmp = NULL;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	if (lgfs_sys_pwrite_all(fd, b.data, b.len, 0) || lgfs_sys_pwrite_all(fd, sum, 32, (off_t)b.len) ||
	    lgfs_sys_pwrite_all(fd, v->leaves, v->size * 32, (off_t)(b.len + 32)))
		goto out;
	if (close(fd) == 0 && rename(tmp, path) == 0)
		ok = 1;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	if (tmp && !ok)
		unlink(tmp);
	free(tmp);
	free(path);
	lgfs_buf_free(&b);
	lgfs_error_clear(); /* a cache that cannot be written costs time, not correctness */
}
