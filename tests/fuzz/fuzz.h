/*
 * fuzz.h — helpers shared by the fuzz targets (tests/fuzz/fuzz_*.c).
 *
 * Each target is one libFuzzer program: LLVMFuzzerTestOneInput() feeds the
 * input to a decoder of bytes that come from disk (or from a user), frees
 * everything it got, and checks an invariant where the format has one (a
 * successful decode re-encodes to the same bytes, an escape reverses, ...).
 * A broken invariant aborts with FUZZ_CHECK's message, so libFuzzer saves
 * the input as a crash. Only static functions here: every target is one
 * translation unit.
 */
#ifndef LGFS_FUZZ_H
#define LGFS_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_UNUSED __attribute__((unused))

/* Every UBSan report ends the run (a crash for libFuzzer), unless
 * UBSAN_OPTIONS adds a suppressions file for a known finding. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

/* An invariant of the code under test: abort (a crash for libFuzzer). */
#define FUZZ_CHECK(cond)                                                                      \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                       \
			abort();                                                              \
		}                                                                             \
	} while (0)

/* n bytes at a and b are equal; either may be NULL when n is 0 (an empty
 * struct lgfs_buf has no data), which memcmp does not allow. */
static inline int fuzz_eq(const void *a, const void *b, size_t n)
{
	return n == 0 || memcmp(a, b, n) == 0;
}

/* The harness itself failed (no memory, no temporary directory): not a
 * finding about the code under test, but nothing sensible can go on. */
#define FUZZ_NEED(cond)                                                                       \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "%s:%d: harness: %s: %s\n", __FILE__, __LINE__, #cond, \
				strerror(errno));                                             \
			exit(2);                                                              \
		}                                                                             \
	} while (0)

/*
 * UTF-8 as RFC 3629 defines it, written here independently of the library
 * so that checks of escape.c and json.c do not use escape.c to judge
 * itself: the length (1..4) of the valid character at p, its code point in
 * *cp; 0 when p does not start one (overlong, surrogate, > U+10FFFF,
 * truncated).
 */
static FUZZ_UNUSED size_t fuzz_utf8(const uint8_t *p, size_t n, uint32_t *cp)
{
	size_t k, j;
	uint32_t c, min;

	if (n == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0)
		k = 2, c = p[0] & 0x1f, min = 0x80;
	else if ((p[0] & 0xf0) == 0xe0)
		k = 3, c = p[0] & 0x0f, min = 0x800;
	else if ((p[0] & 0xf8) == 0xf0)
		k = 4, c = p[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (n < k)
		return 0;
	for (j = 1; j < k; j++) {
		if ((p[j] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[j] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return k;
}

/* 1 if all n bytes are valid UTF-8. */
static FUZZ_UNUSED int fuzz_utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		k = fuzz_utf8(p + i, n - i, &cp);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

/* Characters escape.h promises never to print raw: C0 controls, DEL, C1
 * controls, line and paragraph separators, bidirectional controls. */
static FUZZ_UNUSED int fuzz_cp_unsafe(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
	       cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

/* A copy of the input, NUL-terminated (for functions that take strings). */
static FUZZ_UNUSED char *fuzz_strndup(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	FUZZ_NEED(s);
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* ---- scratch files, for the targets that read a store's files ---- */

static char fuzz_scratch_dir[4096];

static int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove path and everything under it (nothing if it does not exist). */
static FUZZ_UNUSED void fuzz_rmtree(const char *path)
{
	nftw(path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fuzz_scratch_cleanup(void)
{
	if (fuzz_scratch_dir[0])
		fuzz_rmtree(fuzz_scratch_dir);
}

/* This process's scratch directory under $TMPDIR (or /tmp), created on the
 * first call and removed at exit. A crash leaves it behind: run.sh points
 * TMPDIR into the build directory. */
static FUZZ_UNUSED const char *fuzz_scratch(void)
{
	const char *tmp;

	if (fuzz_scratch_dir[0])
		return fuzz_scratch_dir;
	tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(fuzz_scratch_dir, sizeof(fuzz_scratch_dir), "%s/lgfs-fuzz-XXXXXX", tmp);
	FUZZ_NEED(mkdtemp(fuzz_scratch_dir));
	atexit(fuzz_scratch_cleanup);
	return fuzz_scratch_dir;
}

/* Write n bytes to path (created or truncated). */
static FUZZ_UNUSED void fuzz_write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const uint8_t *q = p;

	FUZZ_NEED(fd >= 0);
	while (n) {
		ssize_t w = write(fd, q, n);

		FUZZ_NEED(w > 0);
		q += w;
		n -= (size_t)w;
	}
	FUZZ_NEED(close(fd) == 0);
}

#endif
