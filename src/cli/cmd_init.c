/*
 * cmd_init.c — `ledgerfs init`: create a volume (cli layer).
 */
#include "cli.h"

#include "ledgerfs/error.h"
#include "ledgerfs/ledger.h"

#include <stdlib.h>
#include <unistd.h>

int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "retention-years", required_argument, NULL, 'r' },
		{ "threshold", required_argument, NULL, 't' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	const char *storeopt = NULL, *keyopt = NULL;
	struct lgfs_policy policy = { LGFS_DEFAULT_THRESHOLD, LGFS_DEFAULT_RETENTION_S };
	struct lgfs_volume_info info;
	struct lgfs_key *k = NULL;
	unsigned long long v;
	char *store = NULL;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:k:r:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'k': keyopt = optarg; break;
		case 'r':
			if (cli_parse_u64(optarg, &v) || v < 1 || v > 100)
				return cli_usage("init", "--retention-years takes a whole number 1..100 (the law asks 6, 8 or 10)");
			policy.retention_s = v * 366ull * 24 * 3600;
			break;
		case 't':
			if (cli_parse_u64(optarg, &v) || v < 1 || v > 100)
				return cli_usage("init", "--threshold takes a percentage 1..100");
			policy.threshold = (uint32_t)v;
			break;
		case 'h': return cli_help("init");
		default: return cli_usage("init", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("init", optind >= argc ? "missing VOLUME" : "too many arguments");
	if (!lgfs_volume_name_valid(argv[optind]))
		return cli_usage("init", "invalid volume name '%s': use 1-64 of A-Z a-z 0-9 . _ -, not starting with . or -",
				 argv[optind]);
	store = cli_store(storeopt);
	if (!store)
		return 1;
	k = cli_key(keyopt);
	if (!k) {
		free(store);
		return 1;
	}
	rc = lgfs_volume_create(&info, store, argv[optind], k, &policy, (uint32_t)getuid(), (uint32_t)getgid());
	if (rc) {
		rc = cli_fail_lib("init");
	} else {
		fprintf(stderr, "ledgerfs: created volume '%s' in %s\n", info.name, store);
		printf("%s\n", info.origin);
	}
	lgfs_key_free(k);
	free(store);
	return rc;
}
