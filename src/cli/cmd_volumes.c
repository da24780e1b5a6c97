/*
 * cmd_volumes.c — `ledgerfs volumes`: list a store's volumes (cli layer).
 */
#include "cli.h"

#include "ledgerfs/error.h"
#include "ledgerfs/json.h"
#include "ledgerfs/ledger.h"

#include <stdlib.h>
#include <string.h>

struct list_ctx {
	const char *store;
	int json;
	int count;
	int failed;
};

static int one_volume(void *arg, const char *name)
{
	struct list_ctx *c = arg;
	struct lgfs_ledger *l = NULL;
	struct lgfs_buf b = LGFS_BUF_INIT;

	if (lgfs_ledger_open(&l, c->store, name, NULL, LGFS_LEDGER_RDONLY)) {
		/* List it anyway, with what is wrong. */
		c->failed = 1;
		if (c->json) {
			lgfs_json_str(&b, name, strlen(name));
			printf("{\"name\":%.*s,\"error\":", (int)b.len, b.data);
			lgfs_buf_reset(&b);
			lgfs_json_str(&b, lgfs_error_last(), strlen(lgfs_error_last()));
			printf("%.*s}\n", (int)b.len, b.data);
		} else {
			printf("%-20s %10s  (cannot open: %s)\n", name, "-", lgfs_error_last());
		}
		lgfs_buf_free(&b);
		c->count++;
		return 0;
	}
	if (c->json) {
		const struct lgfs_volume_info *i = lgfs_ledger_info(l);

		lgfs_json_str(&b, name, strlen(name));
		printf("{\"name\":%.*s,\"entries\":%llu,", (int)b.len, b.data,
		       (unsigned long long)lgfs_ledger_size(l));
		lgfs_buf_reset(&b);
		lgfs_json_str(&b, i->origin, strlen(i->origin));
		printf("\"origin\":%.*s}\n", (int)b.len, b.data);
	} else {
		printf("%-20s %10llu  %s\n", name, (unsigned long long)lgfs_ledger_size(l),
		       lgfs_ledger_info(l)->origin);
	}
	lgfs_buf_free(&b);
	lgfs_ledger_close(l);
	c->count++;
	return 0;
}

int cmd_volumes(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	struct list_ctx ctx = { NULL, 0, 0, 0 };
	const char *storeopt = NULL;
	char *store;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'j': ctx.json = 1; break;
		case 'h': return cli_help("volumes");
		default: return cli_usage("volumes", "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage("volumes", "unexpected argument '%s'", argv[optind]);
	store = cli_store(storeopt);
	if (!store)
		return 1;
	ctx.store = store;
	if (!ctx.json)
		printf("%-20s %10s  %s\n", "VOLUME", "ENTRIES", "ORIGIN");
	rc = lgfs_volume_list(store, one_volume, &ctx);
	if (rc)
		rc = cli_fail_lib("volumes");
	else if (ctx.count == 0 && !ctx.json)
		fprintf(stderr, "ledgerfs: no volumes in %s (create one with 'ledgerfs init VOLUME')\n", store);
	free(store);
	return rc ? rc : ctx.failed;
}
