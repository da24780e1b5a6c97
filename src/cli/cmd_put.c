/*
 * cmd_put.c — `ledgerfs put` and `ledgerfs get`: archive ingest and reading
 * without mounting, through the same fs layer (and so the same records) as
 * a mount (cli layer).
 */
#include "cli.h"

#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/fs.h"
#include "ledgerfs/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fs_fail(const char *what, int err)
{
	if (err == -EBUSY)
		return cli_fail("%s: the volume is in use by another writer (mounted?)", what);
	if (err == -EIO && *lgfs_error_last())
		return cli_fail("%s: %s", what, lgfs_error_last());
	return cli_fail("%s: %s", what, strerror(-err));
}

int cmd_put(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "mode", required_argument, NULL, 'm' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	const char *storeopt = NULL, *keyopt = NULL, *src = "-";
	struct lgfs_fs_ctx ctx = { (uint32_t)getuid(), (uint32_t)getgid(), 0 };
	unsigned long mode = 0644;
	struct lgfs_stat st;
	struct lgfs_fs *fs = NULL;
	struct lgfs_key *k;
	char *store, *end;
	int c, rc, fd = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:k:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'k': keyopt = optarg; break;
		case 'm':
			errno = 0;
			mode = strtoul(optarg, &end, 8);
			if (errno || *end || !*optarg || mode > 07777)
				return cli_usage("put", "--mode takes octal permission bits, e.g. 0640");
			break;
		case 'h': return cli_help("put");
		default: return cli_usage("put", "unknown option");
		}
	}
	if (argc - optind < 2 || argc - optind > 3)
		return cli_usage("put", argc - optind < 2 ? "missing VOLUME or PATH" : "too many arguments");
	if (argv[optind + 1][0] != '/')
		return cli_usage("put", "PATH must be absolute inside the volume, e.g. /invoices/2026/a.pdf");
	if (argc - optind == 3)
		src = argv[optind + 2];
	if (strcmp(src, "-")) {
		struct stat sb;

		fd = open(src, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return cli_fail("%s: %s", src, strerror(errno));
		if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			close(fd);
			return cli_fail("%s is a directory", src);
		}
	}
	store = cli_store(storeopt);
	k = store ? cli_key(keyopt) : NULL;
	if (!k) {
		free(store);
		if (fd > 0)
			close(fd);
		return 1;
	}
	rc = lgfs_fs_open(&fs, store, argv[optind], k, 0);
	if (rc) {
		rc = fs_fail(argv[optind], rc);
		goto out;
	}
	rc = lgfs_fs_put_fd(fs, &ctx, argv[optind + 1], fd, (uint32_t)mode, &st);
	if (rc) {
		rc = fs_fail(argv[optind + 1], rc);
		lgfs_fs_close(fs);
		goto out;
	}
	rc = lgfs_fs_close(fs);
	if (rc) {
		rc = fs_fail("making the change durable", rc);
		goto out;
	}
	{
		char *esc = lgfs_escape_dup(argv[optind + 1], strlen(argv[optind + 1]));

		fprintf(stderr, "ledgerfs: stored %s (%llu bytes, inode %llu)\n", esc ? esc : "?",
			(unsigned long long)st.size, (unsigned long long)st.ino);
		free(esc);
	}
out:
	lgfs_key_free(k);
	free(store);
	if (fd > 0)
		close(fd);
	return rc;
}

int cmd_get(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	struct lgfs_fs_ctx ctx = { (uint32_t)getuid(), (uint32_t)getgid(), 0 };
	const char *storeopt = NULL;
	struct lgfs_fs *fs = NULL;
	struct lgfs_stat st;
	uint64_t ino, fh, off = 0;
	char *store, *buf = NULL;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'h': return cli_help("get");
		default: return cli_usage("get", "unknown option");
		}
	}
	if (argc - optind != 2)
		return cli_usage("get", argc - optind < 2 ? "missing VOLUME or PATH" : "too many arguments");
	if (argv[optind + 1][0] != '/')
		return cli_usage("get", "PATH must be absolute inside the volume");
	store = cli_store(storeopt);
	if (!store)
		return 1;
	rc = lgfs_fs_open(&fs, store, argv[optind], NULL, LGFS_FS_RDONLY);
	free(store);
	if (rc)
		return fs_fail(argv[optind], rc);
	rc = lgfs_fs_resolve(fs, argv[optind + 1], &ino);
	if (!rc)
		rc = lgfs_fs_getattr(fs, ino, &st);
	if (!rc && S_ISDIR(st.mode))
		rc = -EISDIR;
	if (!rc)
		rc = lgfs_fs_open_file(fs, &ctx, ino, O_RDONLY, &fh);
	if (rc) {
		rc = fs_fail(argv[optind + 1], rc);
		goto out;
	}
	buf = malloc(1 << 20);
	while (buf) {
		size_t got;

		if ((rc = lgfs_fs_read(fs, fh, off, buf, 1 << 20, &got))) {
			rc = fs_fail(argv[optind + 1], rc);
			break;
		}
		if (got == 0)
			break;
		if (fwrite(buf, 1, got, stdout) != got) {
			rc = cli_fail("writing output: %s", strerror(errno));
			break;
		}
		off += got;
	}
	if (!buf)
		rc = cli_fail("out of memory");
	lgfs_fs_release(fs, &ctx, fh);
out:
	free(buf);
	lgfs_fs_close(fs);
	return rc;
}
