/*
 * cmd_status.c — `ledgerfs status` and `ledgerfs rebuild` (cli layer).
 *
 * status only reads: the ledger is opened read-only, the writer's lock is
 * probed with a read-only descriptor, the user's trust state is loaded, not
 * saved.
 */
#include "cli.h"

#include "ledgerfs/error.h"
#include "ledgerfs/fs.h"
#include "ledgerfs/json.h"
#include "ledgerfs/ledger.h"
#include "ledgerfs/log.h"
#include "ledgerfs/note.h"
#include "ledgerfs/trust.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

/* Is a writer (a mount, a put) holding the volume? */
static int in_use(const char *voldir)
{
	char *dir;
	int rc;

	if (asprintf(&dir, "%s/log", voldir) < 0)
		return -1;
	rc = lgfs_log_file_busy(dir);
	free(dir);
	return rc;
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	const char *storeopt = NULL;
	struct lgfs_ledger *l = NULL;
	struct statvfs sv;
	char *store, *note = NULL;
	int c, rc, busy;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'h': return cli_help("status");
		default: return cli_usage("status", "unknown option");
		}
	}
	if (argc - optind != 1)
		return cli_usage("status", optind >= argc ? "missing VOLUME" : "too many arguments");
	store = cli_store(storeopt);
	if (!store)
		return 1;
	rc = lgfs_ledger_open(&l, store, argv[optind], NULL, LGFS_LEDGER_RDONLY);
	free(store);
	if (rc)
		return cli_fail_lib(argv[optind]);
	{
		const struct lgfs_volume_info *i = lgfs_ledger_info(l);
		char t[48];

		lgfs_time_format(t, sizeof(t), i->created_ns);
		printf("volume:      %s\norigin:      %s\nfounder:     %s\ncreated:     %s\n", i->name, i->origin,
		       i->founder_name, t);
		printf("retention:   %llu days\nthreshold:   %u%%\n",
		       (unsigned long long)(i->policy.retention_s / 86400), i->policy.threshold);
	}
	printf("entries:     %llu\n", (unsigned long long)lgfs_ledger_size(l));
	if (lgfs_ledger_checkpoint_latest(l, &note) == 0) {
		struct lgfs_note *n = NULL;
		struct lgfs_checkpoint cp;

		if (lgfs_note_parse(&n, note, strlen(note)) == 0 &&
		    lgfs_checkpoint_parse(&cp, n->text, n->text_len) == 0)
			printf("checkpoint:  size %llu\n", (unsigned long long)cp.size);
		lgfs_note_free(n);
		free(note);
	}
	{
		struct lgfs_trust_pin tp;

		if (lgfs_trust_load(&tp, lgfs_ledger_dir(l), lgfs_ledger_info(l)->origin))
			printf("trusted:     cannot be read: %s\n", lgfs_error_last());
		else if (tp.origin[0] && strcmp(tp.origin, lgfs_ledger_info(l)->origin))
			printf("trusted:     this directory held origin %s when you verified it: another volume's log "
			       "(see 'ledgerfs audit')\n", tp.origin);
		else if (tp.have_cp)
			printf("trusted:     you verified a checkpoint of size %llu before\n",
			       (unsigned long long)tp.cp.size);
		else
			printf("trusted:     no checkpoint verified by you yet\n");
		lgfs_trust_pin_free(&tp);
	}
	busy = in_use(lgfs_ledger_dir(l));
	printf("writer:      %s\n", busy == 1 ? "in use (mounted or being written)" : busy == 0 ? "none" : "unknown");
	if (statvfs(lgfs_ledger_dir(l), &sv) == 0)
		printf("disk free:   %llu MiB\n", (unsigned long long)sv.f_bavail * sv.f_frsize >> 20);
	lgfs_ledger_close(l);
	return 0;
}

int cmd_rebuild(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	struct lgfs_log *lock = NULL;
	const char *storeopt = NULL;
	uint64_t entries = 0;
	char *store, *dir = NULL, *logdir = NULL;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'h': return cli_help("rebuild");
		default: return cli_usage("rebuild", "unknown option");
		}
	}
	if (argc - optind != 1)
		return cli_usage("rebuild", optind >= argc ? "missing VOLUME" : "too many arguments");
	store = cli_store(storeopt);
	if (!store)
		return 1;
	if (lgfs_volume_dir(&dir, store, argv[optind]) || asprintf(&logdir, "%s/log", dir) < 0) {
		free(store);
		free(dir);
		return cli_fail_lib("rebuild");
	}
	/* Hold the writer's lock so no mount changes the volume meanwhile;
	 * leave a torn log tail alone (only a writer that verified the log may
	 * cut it). */
	rc = lgfs_log_open(&lock, logdir, LGFS_LOG_KEEP_TORN);
	if (rc == LGFS_EBUSY)
		rc = cli_fail("%s is in use (mounted?): unmount it first", argv[optind]);
	else if (rc)
		rc = cli_fail_lib(argv[optind]);
	else if ((rc = lgfs_fs_rebuild(store, argv[optind], &entries)))
		rc = cli_fail("rebuild: %s", rc == -EIO ? lgfs_error_last() : strerror(-rc));
	else
		fprintf(stderr, "ledgerfs: rebuilt the index of '%s' from %llu log entries\n", argv[optind],
			(unsigned long long)entries);
	if (lock)
		lgfs_log_close(lock);
	free(logdir);
	free(dir);
	free(store);
	return rc;
}

/* `ledgerfs forget VOLUME`: drop this user's pin of a volume replaced on
 * purpose. Touches only the user's own state, never the store. */
int cmd_forget(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *storeopt = NULL;
	char *store, *dir = NULL;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'h': return cli_help("forget");
		default: return cli_usage("forget", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("forget", optind >= argc ? "missing VOLUME" : "too many arguments");
	store = cli_store(storeopt);
	if (!store)
		return 1;
	rc = lgfs_volume_dir(&dir, store, argv[optind]);
	if (!rc)
		rc = lgfs_trust_forget(dir);
	if (rc)
		rc = cli_fail("forget: %s", lgfs_error_last());
	else
		fprintf(stderr, "ledgerfs: forgot what you verified of volume '%s'; the next command pins it afresh\n",
			argv[optind]);
	free(dir);
	free(store);
	return rc;
}
