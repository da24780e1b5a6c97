/*
 * linediff.h — line-based differences between two texts, as unified diff
 * hunks (util layer).
 *
 * A line is a run of bytes ending with '\n', or the last bytes of a text
 * that does not end with one; lines are equal when their bytes are
 * (so "x" at the end of one text and "x\n" in the other differ, and the
 * hunk says "\ No newline at end of file"). The edit script is a shortest
 * one (Myers' O(ND) algorithm in linear space), its groups of changed lines
 * moved down as far as equal lines allow, so the same change gives the same
 * hunks whatever the tie-breaking. The search is bounded: past a budget of
 * steps, what is left to compare is shown as all its old lines removed and
 * all its new lines added — still a correct diff, not a shortest one.
 */
#ifndef LGFS_LINEDIFF_H
#define LGFS_LINEDIFF_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Defaults: 3 lines of context, about 10^8 steps of search (a fraction of a
 * second), texts of at most 2^24 lines. */
#define LGFS_LINEDIFF_CONTEXT 3
#define LGFS_LINEDIFF_WORK 100000000ull
#define LGFS_LINEDIFF_MAX_LINES (1ul << 24)

/* How to compare. Zero fields take the defaults above, except context,
 * which is used as given (0: hunks without context). */
struct lgfs_linediff_opts {
	unsigned int context; /* unchanged lines shown around each change */
	uint64_t max_work;    /* search steps before the fallback above */
	size_t max_lines;     /* more lines in either text: LGFS_ERANGE */
};

/* What one comparison found (all may be NULL'd by passing NULL). */
struct lgfs_linediff_stats {
	size_t hunks;   /* hunks appended: 0 when the texts are equal */
	size_t added;   /* lines only in b */
	size_t removed; /* lines only in a */
	int exact;      /* 1: a shortest edit script; 0: the budget ran out */
};

/* Compare a (alen bytes) with b (blen bytes) and append the hunks of a
 * unified diff to out: for each, "@@ -START,COUNT +START,COUNT @@\n" (",1"
 * left out; an empty range has the line before it as START), then the
 * lines prefixed ' ' (context), '-' (only in a) and '+' (only in b), each
 * ending with '\n'; a line that had no '\n' is followed by the line
 * "\ No newline at end of file". Nothing is appended when the texts are
 * equal. The "---"/"+++" header is the caller's. opts may be NULL
 * (defaults); st may be NULL. Returns 0, LGFS_ENOMEM, or LGFS_ERANGE (with
 * a message) when a text has more lines than opts->max_lines. */
int lgfs_linediff(struct lgfs_buf *out, const void *a, size_t alen, const void *b, size_t blen,
		  const struct lgfs_linediff_opts *opts, struct lgfs_linediff_stats *st);

/* 1 if the bytes can be shown as lines of text on a terminal as they are:
 * valid UTF-8 with no NUL, no control or other character a terminal acts on
 * (see escape.h) except tab, newline, and carriage return right before a
 * newline. 0 for anything else (shown as "binary"). */
int lgfs_linediff_is_text(const void *p, size_t n);

#endif
