/*
 * cmd_keygen.c — `ledgerfs keygen` and `ledgerfs key show` (cli layer).
 */
#include "cli.h"

#include "ledgerfs/error.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* USER@HOST with anything a key name may not hold replaced by '_'. */
static void default_name(char *out, size_t cap)
{
	const char *user = getenv("USER");
	char host[256] = "localhost";
	size_t i;

	if (!user || !*user)
		user = "ledgerfs";
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	/* cut at cap: a default name longer than a key name may be is cut, not refused */
	if (snprintf(out, cap, "%.64s@%.64s", user, host) < 0)
		out[0] = '\0';
	for (i = 0; out[i]; i++)
		if (out[i] <= 0x20 || out[i] >= 0x7f || out[i] == '+')
			out[i] = '_';
}

static int print_vkey(const struct lgfs_key *k)
{
	char *vkey = NULL;

	if (lgfs_key_vkey(k, &vkey))
		return cli_fail_lib("verifier key");
	printf("%s\n", vkey);
	free(vkey);
	return 0;
}

int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, 'n' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	const char *out = NULL, *name = NULL;
	char namebuf[LGFS_KEY_NAME_MAX + 1], *path = NULL;
	struct lgfs_key *k = NULL;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'n': name = optarg; break;
		case 'h': return cli_help("keygen");
		default: return cli_usage("keygen", "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage("keygen", "unexpected argument '%s'", argv[optind]);
	if (!name) {
		default_name(namebuf, sizeof(namebuf));
		name = namebuf;
	}
	if (!lgfs_key_name_valid(name))
		return cli_usage("keygen", "invalid key name '%s': 1-64 printable characters, no spaces, no '+'", name);
	if (out)
		path = strdup(out);
	else if (lgfs_key_default_path(&path))
		return cli_fail_lib("key path");
	if (!path)
		return cli_fail("out of memory");
	rc = lgfs_key_generate(&k, name);
	if (!rc)
		rc = lgfs_key_save(k, path);
	if (rc == LGFS_EEXISTS) {
		rc = cli_fail("%s already exists; refusing to overwrite a key (remove it yourself or use --out)", path);
		goto out;
	}
	if (rc) {
		rc = cli_fail_lib("keygen");
		goto out;
	}
	fprintf(stderr, "ledgerfs: wrote private key %s (mode 0600); its verifier key:\n", path);
	rc = print_vkey(k);
out:
	lgfs_key_free(k);
	free(path);
	return rc;
}

int cmd_key(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	const char *keyopt = NULL;
	struct lgfs_key *k;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "k:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k': keyopt = optarg; break;
		case 'h': return cli_help("key");
		default: return cli_usage("key", "unknown option");
		}
	}
	/* getopt_long permutes: options may come before or after "show". */
	if (optind >= argc)
		return cli_usage("key", "missing subcommand (show)");
	if (strcmp(argv[optind], "show"))
		return cli_usage("key", "unknown subcommand '%s'", argv[optind]);
	if (optind + 1 != argc)
		return cli_usage("key", "unexpected argument '%s'", argv[optind + 1]);
	k = cli_key(keyopt);
	if (!k)
		return 1;
	rc = print_vkey(k);
	lgfs_key_free(k);
	return rc;
}
