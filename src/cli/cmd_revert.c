/*
 * cmd_revert.c — `ledgerfs revert`: make a path what it was at a point in
 * history, by new records (cli layer). See lgfs_fs_revert (history.h).
 */
#include "cli.h"

#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/fs.h"
#include "ledgerfs/history.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what, int err)
{
	const char *m = lgfs_error_last();

	if ((err == -EIO || err == -ENOENT || err == -ERANGE || err == -EINVAL || err == -EBUSY) && lgfs_error_isset())
		return strncmp(m, what, strlen(what)) ? cli_fail("%s: %s", what, m) : cli_fail("%s", m);
	return cli_fail("%s: %s", what, strerror(-err));
}

/* The volume has another writer (a mount): say how to do it there. The
 * point and the path are checked through a read-only open so that the
 * advice names the log index. */
static int mounted(const char *store, const char *vol, const char *point, const char *path)
{
	struct lgfs_fs *fs = NULL;
	uint64_t at, ino;
	char *esc = lgfs_escape_dup(path, strlen(path));
	int rc;

	rc = lgfs_fs_open(&fs, store, vol, NULL, LGFS_FS_RDONLY);
	if (!rc && (rc = lgfs_fs_point(fs, point, &at)))
		rc = fail(point, rc);
	else if (!rc && (rc = lgfs_past_resolve(fs, at, path, &ino)))
		rc = cli_fail("%s did not exist at log index %llu: nothing to revert to", esc ? esc : "?",
			      (unsigned long long)at);
	else if (!rc) {
		rc = cli_fail("volume %s is mounted (another writer holds it): revert through the mount with", vol);
		fprintf(stderr, "  cp -a MOUNTPOINT/.ledgerfs/at/%llu%s MOUNTPOINT%s\n"
			"(after moving away what is at %s now: cp copies a directory into an existing one),\n"
			"or unmount it ('ledgerfs umount MOUNTPOINT') and run this command again\n",
			(unsigned long long)at, esc ? esc : "?", esc ? esc : "?", esc ? esc : "?");
	}
	else
		rc = cli_fail("volume %s is mounted (another writer holds it): unmount it ('ledgerfs umount MOUNTPOINT') and run this command again",
			      vol);
	lgfs_fs_close(fs);
	free(esc);
	return rc;
}

int cmd_revert(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "to", required_argument, NULL, 't' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	const char *storeopt = NULL, *keyopt = NULL, *point = NULL, *vol, *path;
	struct lgfs_fs_ctx ctx = { (uint32_t)getuid(), (uint32_t)getgid(), 0 };
	struct lgfs_fs *fs = NULL;
	struct lgfs_key *k = NULL;
	uint64_t at, before, records = 0;
	char *store = NULL, *esc = NULL;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:k:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'k': keyopt = optarg; break;
		case 't': point = optarg; break;
		case 'h': return cli_help("revert");
		default: return cli_usage("revert", "unknown option");
		}
	}
	if (!point)
		return cli_usage("revert", "--to POINT is required (a log index, an RFC 3339 time or PATH@N)");
	if (argc - optind != 2)
		return cli_usage("revert", argc - optind < 2 ? "missing VOLUME or PATH" : "too many arguments");
	vol = argv[optind];
	path = argv[optind + 1];
	if (path[0] != '/')
		return cli_usage("revert", "PATH must be absolute inside the volume, e.g. /invoices/2026");
	store = cli_store(storeopt);
	k = store ? cli_key(keyopt) : NULL;
	if (!k) {
		free(store);
		return 1;
	}
	esc = lgfs_escape_dup(path, strlen(path));
	lgfs_error_clear();
	rc = lgfs_fs_open(&fs, store, vol, k, 0);
	if (rc == -EBUSY) {
		rc = mounted(store, vol, point, path);
		goto out;
	}
	if (rc) {
		rc = fail(vol, rc);
		goto out;
	}
	lgfs_error_clear();
	if ((rc = lgfs_fs_point(fs, point, &at))) {
		rc = fail(point, rc);
		lgfs_fs_close(fs);
		goto out;
	}
	before = lgfs_fs_entries(fs);
	lgfs_error_clear();
	rc = lgfs_fs_revert(fs, &ctx, path, at, &records);
	if (rc) {
		rc = fail(path, rc);
		if (records)
			fprintf(stderr, "ledgerfs: %llu records of the revert were appended (log %llu..%llu) before it stopped\n",
				(unsigned long long)records, (unsigned long long)before,
				(unsigned long long)(before + records - 1));
		lgfs_fs_close(fs);
		goto out;
	}
	if ((rc = lgfs_fs_sync(fs)) || (rc = lgfs_fs_close(fs))) {
		rc = fail("making the change durable", rc);
		goto out;
	}
	if (records)
		fprintf(stderr, "ledgerfs: reverted %s to %llu: %llu records (log %llu..%llu)\n", esc ? esc : "?",
			(unsigned long long)at, (unsigned long long)records, (unsigned long long)before,
			(unsigned long long)(before + records - 1));
	else
		fprintf(stderr, "ledgerfs: reverted %s to %llu: 0 records (it is already as it was then)\n",
			esc ? esc : "?", (unsigned long long)at);
out:
	lgfs_key_free(k);
	free(store);
	free(esc);
	return rc;
}
