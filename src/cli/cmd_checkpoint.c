/*
 * cmd_checkpoint.c — `ledgerfs checkpoint`: print (or sign) the latest
 * checkpoint, or prove that it extends an older one (cli layer).
 *
 * --consistency OLD_SIZE prints an RFC 9162 consistency proof from the tree
 * of OLD_SIZE entries to the latest checkpoint's, in this text format:
 *
 *   old <OLD_SIZE>\n
 *   new <size of the latest checkpoint>\n
 *   proof <number of hashes>\n
 *   <base64 of one 32-byte hash>\n      (that many lines, in RFC 9162 order)
 *   <the latest signed checkpoint note, as `ledgerfs checkpoint` prints it>
 *
 * Whoever holds a checkpoint of OLD_SIZE entries checks the proof against
 * its root and the new checkpoint's root (and the note's signature). The
 * proof is verified here before it is printed.
 */
#include "cli.h"

#include "ledgerfs/error.h"
#include "ledgerfs/fs.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/ledger.h"
#include "ledgerfs/merkle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Print the consistency proof from old_size to the latest checkpoint. */
static int print_consistency(struct lgfs_ledger *l, const char *note, unsigned long long old_size)
{
	uint8_t (*proof)[32] = NULL, old_root[32];
	struct lgfs_note *n = NULL;
	struct lgfs_checkpoint cp;
	char b64[64];
	size_t np = 0, i;
	int rc;

	if (lgfs_note_parse(&n, note, strlen(note)) || lgfs_checkpoint_parse(&cp, n->text, n->text_len)) {
		rc = cli_fail_lib("latest checkpoint");
		goto done;
	}
	if (old_size > cp.size) {
		rc = cli_fail("the latest checkpoint covers %llu entries, fewer than %llu: this log does not extend "
			      "a checkpoint of %llu entries (cut back or replaced?)",
			      (unsigned long long)cp.size, old_size, old_size);
		goto done;
	}
	proof = calloc(LGFS_MERKLE_MAX_PROOF, sizeof(*proof));
	if (!proof) {
		rc = cli_fail("out of memory");
		goto done;
	}
	if (lgfs_ledger_root(l, old_size, old_root) ||
	    lgfs_ledger_consistency_proof(l, old_size, cp.size, proof, &np)) {
		rc = cli_fail_lib("consistency proof");
		goto done;
	}
	/* Never hand out a proof that does not hold against the signed root. */
	if (lgfs_merkle_verify_consistency(old_size, cp.size, old_root, cp.root, (const uint8_t(*)[32])proof,
					   np)) {
		rc = cli_fail("the consistency proof from %llu to %llu does not verify against the latest "
			      "checkpoint: %s; run 'ledgerfs audit'", old_size, (unsigned long long)cp.size,
			      lgfs_error_last());
		goto done;
	}
	printf("old %llu\nnew %llu\nproof %zu\n", old_size, (unsigned long long)cp.size, np);
	for (i = 0; i < np; i++) {
		lgfs_b64_encode(b64, proof[i], 32);
		printf("%s\n", b64);
	}
	fputs(note, stdout);
	rc = 0;
done:
	free(proof);
	lgfs_note_free(n);
	return rc;
}

int cmd_checkpoint(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "new", no_argument, NULL, 'N' },
		{ "consistency", required_argument, NULL, 'c' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	const char *storeopt = NULL, *keyopt = NULL;
	struct lgfs_ledger *l = NULL;
	struct lgfs_key *k = NULL;
	unsigned long long old_size = 0;
	char *store, *note = NULL;
	int c, rc, fresh = 0, consistency = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:k:Nc:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'k': keyopt = optarg; break;
		case 'N': fresh = 1; break;
		case 'c':
			if (cli_parse_u64(optarg, &old_size))
				return cli_usage("checkpoint", "--consistency takes a number of entries");
			consistency = 1;
			break;
		case 'h': return cli_help("checkpoint");
		default: return cli_usage("checkpoint", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("checkpoint", optind >= argc ? "missing VOLUME" : "too many arguments");
	if (fresh && consistency)
		return cli_usage("checkpoint", "--new and --consistency do not go together");
	store = cli_store(storeopt);
	if (!store)
		return 1;
	if (fresh && !(k = cli_key(keyopt))) {
		free(store);
		return 1;
	}
	if (fresh) {
		/* A writer signs only over a volume it verified whole: through the
		 * file system, whose open checks the index as well as the log. */
		struct lgfs_fs *fs = NULL;

		rc = lgfs_fs_open(&fs, store, argv[optind], k, 0);
		free(store);
		if (rc) {
			lgfs_key_free(k);
			if (rc == -EBUSY)
				return cli_fail("%s: the volume is in use by another writer (mounted?)", argv[optind]);
			return cli_fail("%s: %s", argv[optind], *lgfs_error_last() ? lgfs_error_last() : strerror(-rc));
		}
		rc = lgfs_fs_checkpoint(fs, &note);
		if (rc)
			rc = cli_fail("checkpoint: %s", lgfs_error_last());
		if (lgfs_fs_close(fs) && !rc)
			rc = cli_fail("checkpoint: closing the volume: %s", lgfs_error_last());
		if (!rc)
			fputs(note, stdout);
		free(note);
		lgfs_key_free(k);
		return rc;
	}
	rc = lgfs_ledger_open(&l, store, argv[optind], k, LGFS_LEDGER_RDONLY);
	free(store);
	if (rc) {
		lgfs_key_free(k);
		return cli_fail_lib(argv[optind]);
	}
	rc = lgfs_ledger_checkpoint_latest(l, &note);
	if (rc)
		rc = cli_fail_lib("checkpoint");
	else if (consistency)
		rc = print_consistency(l, note, old_size);
	else
		fputs(note, stdout);
	free(note);
	lgfs_ledger_close(l);
	lgfs_key_free(k);
	return rc;
}
