/*
 * cli.c — helpers shared by the commands (cli layer).
 */
#include "cli.h"

#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/fs.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/history.h"
#include "ledgerfs/ledger.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

int cli_fs_fail(const char *what, int err)
{
	if (err == -EBUSY)
		return cli_fail("%s: the volume is in use by another writer (mounted?)", what);
	const char *m = lgfs_error_last();

	if ((err == -EIO || err == -ERANGE || err == -EINVAL) && lgfs_error_isset())
		return strncmp(m, what, strlen(what)) ? cli_fail("%s: %s", what, m) : cli_fail("%s", m);
	return cli_fail("%s: %s", what, strerror(-err));
}

int cli_open_at(const char *storeopt, const char *vol, const char *point, struct lgfs_fs **fs, uint64_t *at)
{
	char *store = cli_store(storeopt);
	int rc;

	*fs = NULL;
	if (!store)
		return 1;
	lgfs_error_clear();
	rc = lgfs_fs_open(fs, store, vol, NULL, LGFS_FS_RDONLY);
	free(store);
	if (rc)
		return cli_fs_fail(vol, rc);
	if (!point) {
		*at = lgfs_fs_entries(*fs) - 1;
		return 0;
	}
	return cli_point(*fs, point, at);
}

int cli_point(struct lgfs_fs *fs, const char *point, uint64_t *at)
{
	int rc;

	lgfs_error_clear();
	return (rc = lgfs_fs_point(fs, point, at)) ? cli_fs_fail(point, rc) : 0;
}

void cli_mode_string(char out[11], uint32_t mode)
{
	static const char rwx[] = "rwxrwxrwx";
	int i;

	switch (mode & S_IFMT) {
	case S_IFDIR: out[0] = 'd'; break;
	case S_IFLNK: out[0] = 'l'; break;
	case S_IFCHR: out[0] = 'c'; break;
	case S_IFBLK: out[0] = 'b'; break;
	case S_IFIFO: out[0] = 'p'; break;
	case S_IFSOCK: out[0] = 's'; break;
	default: out[0] = '-';
	}
	for (i = 0; i < 9; i++)
		out[1 + i] = (mode & (0400u >> i)) ? rwx[i] : '-';
	if (mode & S_ISUID)
		out[3] = (mode & 0100) ? 's' : 'S';
	if (mode & S_ISGID)
		out[6] = (mode & 0010) ? 's' : 'S';
	if (mode & S_ISVTX)
		out[9] = (mode & 0001) ? 't' : 'T';
	out[10] = '\0';
}

const char *cli_author_name(const struct lgfs_volume_info *info, const uint8_t author[32], char hex[65])
{
	if (!memcmp(author, info->founder, 32))
		return info->founder_name;
	lgfs_hex(hex, author, 32);
	hex[16] = '\0';
	return hex;
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
