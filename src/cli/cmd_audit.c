/*
 * cmd_audit.c — `ledgerfs audit`: verify a volume and report (cli layer).
 */
#include "cli.h"

#include "ledgerfs/audit.h"
#include "ledgerfs/error.h"
#include "ledgerfs/fsaudit.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/json.h"
#include "ledgerfs/progress.h"

#include <stdlib.h>
#include <string.h>

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
	lgfs_progress_update(arg, done, total);
}

static void print_json(const char *volume, const struct lgfs_audit_report *r)
{
	struct lgfs_buf b = LGFS_BUF_INIT;
	char root[65];
	size_t i;

	lgfs_hex(root, r->root, 32);
	lgfs_buf_put(&b, "{\"volume\":", 10);
	lgfs_json_str(&b, volume, strlen(volume));
	lgfs_buf_put(&b, ",\"origin\":", 10);
	lgfs_json_str(&b, r->origin, strlen(r->origin));
	lgfs_buf_printf(&b, ",\"ok\":%s,\"entries\":%llu,\"signatures\":%llu,\"withheld\":%llu,"
			    "\"checkpoints\":%llu,\"torn_bytes\":%llu,\"root\":\"%s\",\"seconds\":%.3f,",
			r->nfindings ? "false" : "true", (unsigned long long)r->entries,
			(unsigned long long)r->signatures, (unsigned long long)r->withheld,
			(unsigned long long)r->checkpoints, (unsigned long long)r->torn_bytes, root, r->seconds);
	if (r->first_bad == LGFS_NO_INDEX)
		lgfs_buf_printf(&b, "\"first_bad_index\":null,");
	else
		lgfs_buf_printf(&b, "\"first_bad_index\":%llu,", (unsigned long long)r->first_bad);
	lgfs_buf_printf(&b, "\"findings_total\":%zu,\"findings\":[", r->nfindings);
	for (i = 0; i < r->nstored; i++) {
		const struct lgfs_finding *f = &r->findings[i];

		lgfs_buf_put(&b, i ? ",{" : "{", i ? 2 : 1);
		if (f->index == LGFS_NO_INDEX)
			lgfs_buf_printf(&b, "\"index\":null");
		else
			lgfs_buf_printf(&b, "\"index\":%llu", (unsigned long long)f->index);
		lgfs_buf_put(&b, ",\"kind\":", 8);
		lgfs_json_str(&b, f->kind, strlen(f->kind));
		lgfs_buf_put(&b, ",\"message\":", 11);
		lgfs_json_str(&b, f->message, strlen(f->message));
		lgfs_buf_put(&b, "}", 1);
	}
	lgfs_buf_put(&b, "]}\n", 3);
	if (!lgfs_buf_ok(&b))
		fwrite(b.data, 1, b.len, stdout);
	lgfs_buf_free(&b);
}

static void print_text(const char *volume, const struct lgfs_audit_report *r)
{
	char root[65];
	size_t i;

	lgfs_hex(root, r->root, 32);
	printf("volume:      %s\norigin:      %s\nentries:     %llu (%llu signatures good, %llu records withheld)\n"
	       "checkpoints: %llu\nroot:        %s\ntime:        %.2f s (%.0f entries/s)\n",
	       volume, r->origin[0] ? r->origin : "(unknown)", (unsigned long long)r->entries,
	       (unsigned long long)r->signatures, (unsigned long long)r->withheld,
	       (unsigned long long)r->checkpoints, root, r->seconds,
	       r->seconds > 0 ? (double)r->entries / r->seconds : 0.0);
	if (r->torn_bytes)
		printf("note:        %llu bytes of an incomplete last write follow the log; the next writer cuts them\n",
		       (unsigned long long)r->torn_bytes);
	if (!r->nfindings) {
		printf("audit:       OK\n");
		return;
	}
	if (r->first_bad == LGFS_NO_INDEX)
		printf("audit:       FAILED (%zu findings)\n", r->nfindings);
	else
		printf("audit:       FAILED (%zu findings), first bad index %llu\n", r->nfindings,
		       (unsigned long long)r->first_bad);
	for (i = 0; i < r->nstored; i++)
		printf("  [%s] %s\n", r->findings[i].kind, r->findings[i].message);
	if (r->nstored < r->nfindings)
		printf("  ... and %zu more\n", r->nfindings - r->nstored);
}

int cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "threads", required_argument, NULL, 't' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	struct lgfs_audit_opts aopts;
	struct lgfs_audit_report rep;
	struct lgfs_fsaudit *fsa = NULL;
	struct lgfs_progress bar;
	const char *storeopt = NULL;
	unsigned long long threads = 0;
	char *store, *dir = NULL;
	int c, rc, json = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:jt:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'j': json = 1; break;
		case 't':
			if (cli_parse_u64(optarg, &threads) || threads < 1 || threads > 64)
				return cli_usage("audit", "--threads takes 1..64");
			break;
		case 'h': return cli_help("audit");
		default: return cli_usage("audit", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("audit", optind >= argc ? "missing VOLUME" : "too many arguments");
	store = cli_store(storeopt);
	if (!store)
		return 1;
	rc = lgfs_volume_dir(&dir, store, argv[optind]);
	free(store);
	if (rc)
		return cli_fail_lib("audit");
	memset(&aopts, 0, sizeof(aopts));
	aopts.threads = (unsigned int)threads;
	/* the file-system half: replay every verified entry into a fresh index */
	if (lgfs_fsaudit_new(&fsa, dir)) {
		free(dir);
		return cli_fail_lib(argv[optind]);
	}
	aopts.on_entry = lgfs_fsaudit_entry;
	aopts.entry_arg = fsa;
	lgfs_progress_start(&bar, json ? NULL : stderr, "log    ");
	aopts.progress = on_progress;
	aopts.progress_arg = &bar;
	rc = lgfs_audit_volume(&rep, dir, &aopts);
	lgfs_progress_end(&bar);
	free(dir);
	if (!rc) {
		lgfs_progress_start(&bar, json ? NULL : stderr, "content");
		rc = lgfs_fsaudit_finish(fsa, &rep, on_progress, &bar);
		lgfs_progress_end(&bar);
		lgfs_audit_sort(&rep);
		if (rc)
			lgfs_audit_report_free(&rep);
	}
	if (!rc && lgfs_fsaudit_live(fsa) && !json)
		fprintf(stderr, "ledgerfs: %s is mounted: checked the durable log and its content; the index is "
				"compared only when no writer holds the volume\n", argv[optind]);
	lgfs_fsaudit_free(fsa);
	if (rc)
		return cli_fail_lib(argv[optind]);
	if (json)
		print_json(argv[optind], &rep);
	else
		print_text(argv[optind], &rep);
	rc = rep.nfindings ? 1 : 0;
	lgfs_audit_report_free(&rep);
	return rc;
}
