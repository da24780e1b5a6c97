/*
 * progress.h — a progress bar on a terminal (util layer). Only cli/ draws it,
 * and only when the stream is a TTY.
 */
#ifndef LGFS_PROGRESS_H
#define LGFS_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

struct lgfs_progress {
	FILE *out;          /* NULL: draw nothing */
	const char *label;
	double started;     /* monotonic seconds */
	double last_draw;
};

/* Draws to `out` only if it is a terminal. */
void lgfs_progress_start(struct lgfs_progress *p, FILE *out, const char *label);
void lgfs_progress_update(struct lgfs_progress *p, uint64_t done, uint64_t total);
/* Erase the bar. */
void lgfs_progress_end(struct lgfs_progress *p);

#endif
