/*
 * cmd_checkpoint.c — `ledgerfs checkpoint`: print (or sign) the latest
 * checkpoint (cli layer).
 */
#include "cli.h"

#include "ledgerfs/error.h"
#include "ledgerfs/ledger.h"

#include <stdlib.h>

int cmd_checkpoint(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "new", no_argument, NULL, 'N' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	const char *storeopt = NULL, *keyopt = NULL;
	struct lgfs_ledger *l = NULL;
	struct lgfs_key *k = NULL;
	char *store, *note = NULL;
	int c, rc, fresh = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:k:Nh", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'k': keyopt = optarg; break;
		case 'N': fresh = 1; break;
		case 'h': return cli_help("checkpoint");
		default: return cli_usage("checkpoint", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("checkpoint", optind >= argc ? "missing VOLUME" : "too many arguments");
	store = cli_store(storeopt);
	if (!store)
		return 1;
	if (fresh && !(k = cli_key(keyopt))) {
		free(store);
		return 1;
	}
	rc = lgfs_ledger_open(&l, store, argv[optind], k, fresh ? 0 : LGFS_LEDGER_RDONLY);
	free(store);
	if (rc) {
		lgfs_key_free(k);
		return cli_fail_lib(argv[optind]);
	}
	rc = fresh ? lgfs_ledger_checkpoint_new(l, &note) : lgfs_ledger_checkpoint_latest(l, &note);
	if (rc)
		rc = cli_fail_lib("checkpoint");
	else
		fputs(note, stdout);
	free(note);
	lgfs_ledger_close(l);
	lgfs_key_free(k);
	return rc;
}
