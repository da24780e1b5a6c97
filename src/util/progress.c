/*
 * progress.c — a one-line progress bar, redrawn at most 10 times a second
 * (util layer).
 */
#include "ledgerfs/progress.h"

#include <time.h>
#include <unistd.h>

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void lgfs_progress_start(struct lgfs_progress *p, FILE *out, const char *label)
{
	p->out = out && isatty(fileno(out)) ? out : NULL;
	p->label = label;
	p->started = mono();
	p->last_draw = 0;
}

void lgfs_progress_update(struct lgfs_progress *p, uint64_t done, uint64_t total)
{
	double now, rate;
	int width = 30, fill, i;

	if (!p->out)
		return;
	now = mono();
	if (now - p->last_draw < 0.1 && done < total)
		return;
	p->last_draw = now;
	fill = total ? (int)((double)done / (double)total * width) : width;
	rate = now > p->started ? (double)done / (now - p->started) : 0;
	fprintf(p->out, "\r%s [", p->label);
	for (i = 0; i < width; i++)
		fputc(i < fill ? '#' : ' ', p->out);
	fprintf(p->out, "] %llu/%llu (%.0f/s) ", (unsigned long long)done, (unsigned long long)total, rate);
	fflush(p->out);
}

void lgfs_progress_end(struct lgfs_progress *p)
{
	if (!p->out)
		return;
	fprintf(p->out, "\r\033[K");
	fflush(p->out);
}
