/*
 * cli.c — helpers shared by the commands (cli layer).
 */
#include "cli.h"

#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/ledger.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Print one message line to stderr with every name in it escaped: messages
 * carry names from users and from the store (a file name with ESC or a
 * newline must not reach the terminal raw). */
static void put_escaped(const char *prefix, const char *fmt, va_list ap)
{
	char *msg = NULL, *esc = NULL;

	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	if (msg)
		esc = lgfs_escape_dup(msg, strlen(msg));
	fprintf(stderr, "%s%s\n", prefix, esc ? esc : "(out of memory formatting the message)");
	free(esc);
	free(msg);
}

int cli_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	put_escaped("ledgerfs: ", fmt, ap);
	va_end(ap);
	return 1;
}

int cli_fail_lib(const char *what)
{
	return cli_fail("%s: %s", what, lgfs_error_last());
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ledgerfs %s: ", cmd);
	va_start(ap, fmt);
	put_escaped("", fmt, ap);
	va_end(ap);
	fprintf(stderr, "see 'ledgerfs %s --help'\n", cmd);
	return EXIT_USAGE;
}

int cli_help(const char *cmd)
{
	const struct cli_cmd *c = cli_find(cmd);

	if (c)
		printf("usage: %s\n", c->usage);
	return 0;
}

char *cli_store(const char *opt)
{
	char *s = NULL;

	if (opt) {
		if (!*opt) {
			cli_fail("--store needs a directory");
			return NULL;
		}
		s = strdup(opt);
		if (!s)
			cli_fail("out of memory");
		return s;
	}
	if (lgfs_store_default_path(&s)) {
		cli_fail_lib("store");
		return NULL;
	}
	return s;
}

struct lgfs_key *cli_key(const char *opt)
{
	struct lgfs_key *k = NULL;
	char *path = NULL;
	int rc;

	if (opt)
		path = strdup(opt);
	else if (lgfs_key_default_path(&path))
		path = NULL;
	if (!path) {
		cli_fail_lib("key");
		return NULL;
	}
	rc = lgfs_key_load(&k, path);
	if (rc == LGFS_ENOTFOUND)
		cli_fail("no key at %s: create one with 'ledgerfs keygen' or name one with --key FILE", path);
	else if (rc)
		cli_fail("key %s: %s", path, lgfs_error_last());
	free(path);
	return rc ? NULL : k;
}

int cli_parse_u64(const char *s, unsigned long long *out)
{
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	return 0;
}
