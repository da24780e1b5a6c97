/*
 * fuzz_cpfile.c — a volume's checkpoints file (FORMAT.md §8) as an open
 * reads it: lgfs_cpfile_read() splits it into frames (u32 length, signed
 * note, the same u32 length again), each frame is parsed as a signed note
 * and a checkpoint as lgfs_vlog_verify does, lgfs_checkpoints_each() walks
 * it, and lgfs_checkpoints_tail_torn() judges what follows the last
 * complete frame.
 *
 * Input: the file's bytes. The origin the tail is judged against is that of
 * the first checkpoint that parses, else a fixed one (the seeds use it).
 *
 * Invariants: the frames tile the file from its start up to valid_end, each
 * with matching lengths; what follows valid_end does not start a complete
 * frame; checkpoints_each hands out exactly these frames; tail_torn says
 * 0 or 1, and 1 for a tail of zeros or shorter than a length.
 */
#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/ledger.h"
#include "ledgerfs/note.h"
#include "ledger/verify.h"

#include "fuzz.h"

#define FIXED_ORIGIN "ledgerfs/fuzz/0123456789abcdef"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct walk {
	const struct lgfs_cpfile *f;
	size_t k; /* frames seen */
};

static int each_cb(void *arg, const char *note, size_t len)
{
	struct walk *w = arg;

	FUZZ_CHECK(w->k < w->f->nframes);
	FUZZ_CHECK(len == w->f->nlen[w->k]);
	FUZZ_CHECK(fuzz_eq(note, w->f->data + w->f->off[w->k], len));
	w->k++;
	return 0;
}

static void check_tail(const uint8_t *p, size_t r, const char *origin)
{
	int torn = lgfs_checkpoints_tail_torn(p, r, origin);
	size_t i;

	FUZZ_CHECK(torn == 0 || torn == 1);
	for (i = 0; i < r && !p[i]; i++)
		;
	if (r < 4 || i == r)
		FUZZ_CHECK(torn == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dir[4200], path[4300];
	char origin[LGFS_ORIGIN_MAX + 1] = FIXED_ORIGIN;
	struct lgfs_cpfile f;
	struct walk w;
	size_t k, end = 0;
	int rc, have_origin = 0;

	snprintf(dir, sizeof(dir), "%s", fuzz_scratch());
	snprintf(path, sizeof(path), "%s/checkpoints", dir);
	fuzz_write_file(path, data, size);

	rc = lgfs_cpfile_read(&f, dir);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(!f.missing && !f.odd && f.len == size && fuzz_eq(f.data, data, size));
	for (k = 0; k < f.nframes; k++) {
		struct lgfs_note *n = NULL;
		struct lgfs_checkpoint cp;

		FUZZ_CHECK(f.off[k] == end + 4);
		FUZZ_CHECK(f.nlen[k] > 0 && f.nlen[k] <= LGFS_NOTE_MAX);
		FUZZ_CHECK(lgfs_be32_get(data + end) == f.nlen[k]);
		FUZZ_CHECK(f.off[k] + f.nlen[k] + 4 <= size);
		FUZZ_CHECK(lgfs_be32_get(data + f.off[k] + f.nlen[k]) == f.nlen[k]);
		end = f.off[k] + f.nlen[k] + 4;
		/* as lgfs_vlog_verify reads each frame */
		if (lgfs_note_parse(&n, (const char *)f.data + f.off[k], f.nlen[k]) == 0 &&
		    lgfs_checkpoint_parse(&cp, n->text, n->text_len) == 0 && !have_origin) {
			memcpy(origin, cp.origin, sizeof(origin));
			have_origin = 1;
		}
		lgfs_note_free(n);
		lgfs_error_clear();
	}
	FUZZ_CHECK(f.valid_end == end);
	if (size - end >= 8) { /* what follows is not a complete frame */
		uint32_t n = lgfs_be32_get(data + end);

		FUZZ_CHECK(n == 0 || n > LGFS_NOTE_MAX || size - end - 8 < n ||
			   lgfs_be32_get(data + end + 4 + n) != n);
	}
	if (end < size)
		check_tail(data + end, size - end, origin);

	w.f = &f;
	w.k = 0;
	FUZZ_CHECK(lgfs_checkpoints_each(dir, each_cb, &w) == 0);
	FUZZ_CHECK(w.k == f.nframes);
	lgfs_cpfile_free(&f);

	/* the whole input as a tail, against both origins */
	check_tail(data, size, origin);
	check_tail(data, size, FIXED_ORIGIN);
	return 0;
}
