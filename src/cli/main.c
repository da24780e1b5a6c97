/*
 * main.c — the ledgerfs command: one table of commands, one dispatcher
 * (cli layer). Each command lives in cmd_<name>.c.
 */
#include "cli.h"

#include <errno.h>
#include <string.h>

int cmd_keygen(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_volumes(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_checkpoint(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);
int cmd_put(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_forget(int argc, char **argv);
int cmd_rebuild(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_revert(int argc, char **argv);
int cmd_retain(int argc, char **argv);
int cmd_hold(int argc, char **argv);
int cmd_release(int argc, char **argv);
int cmd_policy(int argc, char **argv);

const struct cli_cmd cli_cmds[] = {
	{ "keygen", cmd_keygen, "create a signing key (Ed25519) and print its verifier key",
	  "ledgerfs keygen [--out FILE] [--name NAME]\n\n"
	  "Writes a new Ed25519 private key to FILE (default $LEDGERFS_KEY, else\n"
	  "~/.config/ledgerfs/key) with mode 0600 and prints the public verifier key\n"
	  "in signed-note form: NAME+KEYID+BASE64. Never overwrites an existing key.\n"
	  "NAME defaults to USER@HOST; it may not contain spaces or '+'." },
	{ "key", cmd_key, "show the verifier key of your signing key",
	  "ledgerfs key show [--key FILE]\n\n"
	  "Prints the verifier key (NAME+KEYID+BASE64) of the private key in FILE\n"
	  "(default $LEDGERFS_KEY, else ~/.config/ledgerfs/key)." },
	{ "init", cmd_init, "create a volume",
	  "ledgerfs init [--store DIR] [--key FILE] [--retention-years N] [--threshold PCT] VOLUME\n\n"
	  "Creates VOLUME in the store (default $LEDGERFS_STORE, else\n"
	  "~/.local/share/ledgerfs): writes its genesis record, signed by your key as\n"
	  "founder, with the policy: default retention N years (1..100, default 10)\n"
	  "and vote threshold PCT percent of members (default 51). Prints the\n"
	  "volume's origin. The default retention is recorded, not enforced: rules\n"
	  "that protect files are set with 'ledgerfs retain'." },
	{ "volumes", cmd_volumes, "list the volumes of a store",
	  "ledgerfs volumes [--store DIR] [--json]\n\n"
	  "Lists each volume with its number of log entries and its origin." },
	{ "log", cmd_log, "print a volume's records",
	  "ledgerfs log [--store DIR] [--json] [--from N] [--limit N] [--path PATH]\n"
	  "             [--since POINT] [--until POINT] [--author NAME] VOLUME\n\n"
	  "Prints records from index N (default 0), at most --limit of them:\n"
	  "index, time (UTC), author, acting uid/gid, operation, the path it acted\n"
	  "on as it was then (a rename: OLD -> NEW), and its arguments. --json\n"
	  "prints one JSON object per line (\"path\", \"new_path\").\n"
	  "Filters: --path PATH the records that made the versions of PATH (as\n"
	  "'ledgerfs history' lists them); --since/--until a log index or an RFC\n"
	  "3339 time (inclusive); --author a key name or the start of a key in hex\n"
	  "(8 digits at least). The log is verified first (as by every command\n"
	  "that opens a volume); 'ledgerfs audit' says in detail what is wrong\n"
	  "with a volume that fails." },
	{ "checkpoint", cmd_checkpoint, "print the latest signed checkpoint",
	  "ledgerfs checkpoint [--store DIR] [--new [--key FILE] | --consistency OLD_SIZE] VOLUME\n\n"
	  "Prints the newest verified checkpoint of VOLUME (a C2SP tlog-checkpoint\n"
	  "signed note); save it to check the volume later with 'audit --trusted'.\n"
	  "--new first signs and stores a checkpoint of the log as it is now, with\n"
	  "your key (refused when the volume, its index included, does not verify).\n"
	  "--consistency OLD_SIZE prints an RFC 9162 consistency proof from the\n"
	  "log's first OLD_SIZE entries to the checkpoint: lines 'old N', 'new M',\n"
	  "'proof K', K base64 hashes, then the signed checkpoint note." },
	{ "audit", cmd_audit, "verify a volume's log and checkpoints",
	  "ledgerfs audit [--store DIR] [--json] [--threads N] [--trusted CHECKPOINT_FILE --key VKEY] VOLUME\n\n"
	  "Verifies every log entry (encoding, index, previous-hash chain,\n"
	  "commitment, record present, record/envelope agreement, author\n"
	  "membership, time order, Ed25519 signature), the Merkle root against\n"
	  "every stored checkpoint and its signature, the replayed state against\n"
	  "the index, and every manifest and chunk. It also checks the log against\n"
	  "the newest checkpoint you verified before (kept in your own state, not\n"
	  "in the store) and, with --trusted, against a saved checkpoint whose\n"
	  "signature is checked with the verifier key VKEY (a string or a file): a\n"
	  "log cut back, forked or replaced is the first finding. Reads only;\n"
	  "changes no byte of the store; repairs nothing. Exit 0 when everything\n"
	  "holds (the newest verified checkpoint is then remembered), 1 with a\n"
	  "report naming the first bad index when not." },
	{ "mount", cmd_mount, "mount a volume as a file system (FUSE)",
	  "ledgerfs mount [--store DIR] [--key FILE] [-f] [-o ro] [-o allow_other] [--at POINT] VOLUME DIR\n\n"
	  "Mounts VOLUME on the directory DIR. Every change made there becomes a\n"
	  "signed record in the volume's log, made with your key (not needed with\n"
	  "-o ro or --at). Without -f the command returns once the file system is\n"
	  "usable and a daemon serves it, logging to <store>/volumes/VOLUME/mount.log;\n"
	  "with -f (--foreground) it serves until unmounted or interrupted and\n"
	  "logs to stderr. -o takes a comma-separated list: ro (read-only),\n"
	  "allow_other (other users may use the mount), debug (trace every\n"
	  "request into the log), at=POINT (as --at), chunk_cache=MiB (verified\n"
	  "chunks kept in memory for random reads; default 64, 0 none).\n"
	  "--at POINT mounts the volume read-only as it was at POINT: a log index,\n"
	  "an RFC 3339 time or PATH@N (see 'ledgerfs history --help'); a point that\n"
	  "is not one fails before\n"
	  "mounting. Every mount has a hidden directory DIR/.ledgerfs (not listed):\n"
	  ".ledgerfs/at/POINT/ is the whole tree at a log index or time, and\n"
	  ".ledgerfs/history/PATH/ lists every version of PATH; all of it is\n"
	  "read-only. The kernel checks permissions from the files' owners and\n"
	  "modes. Fails if DIR is not a directory, the volume does not exist, or\n"
	  "it is already mounted. Unmount with 'ledgerfs umount DIR'." },
	{ "umount", cmd_umount, "unmount a mounted volume",
	  "ledgerfs umount DIR\n\n"
	  "Unmounts the volume mounted on DIR (runs 'fusermount3 -u DIR' and\n"
	  "exits with its status), then waits (up to 60 s) until the daemon has\n"
	  "committed open files and closed the volume, so that it can be mounted\n"
	  "or changed again at once." },
	{ "put", cmd_put, "store a file in a volume without mounting it",
	  "ledgerfs put [--store DIR] [--key FILE] [--mode OCTAL] VOLUME PATH [FILE|-]\n\n"
	  "Stores the bytes of FILE (or standard input) at PATH, an absolute path in\n"
	  "the volume, as one new version: the same records a mount would write (a\n"
	  "create record if PATH is new, then one write record). Missing parent\n"
	  "directories are created (mode 0755). New files get --mode (default 0644).\n"
	  "Refused while the volume is mounted: write through the mount then." },
	{ "get", cmd_get, "print a file of a volume without mounting it",
	  "ledgerfs get [--store DIR] VOLUME PATH\n\n"
	  "Writes the current content of PATH to standard output. The whole log\n"
	  "is verified first and the index is used only when it is verified too;\n"
	  "every chunk is checked against its SHA-256 as it is read. Changes no\n"
	  "byte of the store." },
	{ "status", cmd_status, "show a volume's state",
	  "ledgerfs status [--store DIR] VOLUME\n\n"
	  "Prints the volume's name, origin, founder, policy, number of log\n"
	  "entries, latest checkpoint, whether a writer holds it, free disk, and\n"
	  "the checkpoint of it you verified last (your pin)." },
	{ "forget", cmd_forget, "forget what you verified of a volume you replaced on purpose",
	  "ledgerfs forget [--store DIR] VOLUME\n\n"
	  "Every command remembers, in your own state (not in the store), which\n"
	  "volume a directory holds and the newest checkpoint of it you verified,\n"
	  "and refuses a log that was cut back, forked or swapped since. After you\n"
	  "replaced a volume on purpose (restored an older backup, recreated it\n"
	  "under the same name elsewhere than with 'ledgerfs init', which does this\n"
	  "itself), 'forget' drops that memory; the next command pins the volume\n"
	  "afresh. Changes nothing in the store." },
	{ "rebuild", cmd_rebuild, "rebuild a volume's index from its log",
	  "ledgerfs rebuild [--store DIR] VOLUME\n\n"
	  "Replays the whole verified log into a fresh index (the index is derived\n"
	  "data; a mount rebuilds it by itself when it is missing or stale, and\n"
	  "refuses an index that says what the log does not: this is the repair\n"
	  "then, after 'ledgerfs audit'). The volume must not be mounted." },
	{ "history", cmd_history, "list every version of a path",
	  "ledgerfs history [--store DIR] [--json] [--follow] VOLUME PATH\n\n"
	  "Lists every version that was at PATH, oldest first: what the path named\n"
	  "after each record that changed it, across replacement by rename (editors,\n"
	  "sed -i), renames of the file or of a parent directory, deletion (\"(gone)\")\n"
	  "and re-creation. Columns: @N (the version: PATH@N is a POINT), log index,\n"
	  "time, author, acting uid/gid, operation, mode, size, SHA-256 of the content\n"
	  "(\"-\" when none), the path then (and a symlink's target). --follow lists\n"
	  "the file that is (or last was) at PATH under every name it had. PATH need\n"
	  "not exist now.\n\n"
	  "A POINT, for every command taking one, is a log index (1234), an RFC 3339\n"
	  "time (2026-11-23T10:00:00Z: the state after the last record at or before\n"
	  "it), or PATH@N: the state right after version N of PATH." },
	{ "cat", cmd_cat, "print a file as it was at a point in history",
	  "ledgerfs cat [--store DIR] [--at POINT] VOLUME PATH\n\n"
	  "Writes the content PATH had at POINT (default: now) to stdout. Every\n"
	  "chunk is checked against its hash as it is read, and the whole content\n"
	  "against the SHA-256 its record names; a mismatch stops with an error and\n"
	  "exit status 1. See 'ledgerfs history --help' for POINT." },
	{ "ls", cmd_ls, "list a directory as it was at a point in history",
	  "ledgerfs ls [--store DIR] [--at POINT] [-l] [-R] VOLUME [DIR]\n\n"
	  "Lists the entries of DIR (default /) at POINT (default: now), in name\n"
	  "order. -l: MODE NLINK UID GID SIZE MTIME NAME [-> TARGET]; -R: the whole\n"
	  "tree, depth-first, as paths relative to DIR. Names are escaped as in\n"
	  "every other command. See 'ledgerfs history --help' for POINT." },
	{ "diff", cmd_diff, "compare two points in history",
	  "ledgerfs diff [--store DIR] --from POINT [--to POINT] [--content] [--json] VOLUME [PATH]\n\n"
	  "Lists what changed under PATH (default /) between the states at the two\n"
	  "POINTs (--to: default now), one line per path, in path order:\n"
	  "  A PATH         added\n"
	  "  D PATH         deleted\n"
	  "  M PATH         changed: content, type, mode, owner, symlink target,\n"
	  "                 device number or xattrs (times are not compared)\n"
	  "  R OLD -> NEW   renamed; a renamed directory is one line, its entries\n"
	  "                 are listed only when they changed themselves\n"
	  "A file renamed and changed is an R line and an M line for its new name.\n"
	  "A file replaced at its path (as editors save) is one M line, or none\n"
	  "when nothing differs. For a file with several hard links, the names it\n"
	  "lost and gained are paired in path order as renames, the rest are D/A.\n"
	  "Only PATH's subtree is compared: what moved in from elsewhere is added,\n"
	  "what moved out deleted. PATH must exist at one of the two points.\n"
	  "--content: after each changed, added or deleted file a unified diff (3\n"
	  "lines of context) when both sides are text (UTF-8 without NUL or\n"
	  "terminal controls other than tab and CR LF), else 'Binary files ...\n"
	  "differ'; over 16 MiB 'Large files ... differ'.\n"
	  "--json: one object per line: change (added, deleted, changed, renamed),\n"
	  "path, from (the path at --from when it differs), type, what (changed:\n"
	  "a list of the above), and with --content diff, binary or too_large.\n"
	  "Reads only; works while the volume is mounted. Exit status 0 whether\n"
	  "or not there are differences, 1 on failure, 2 on a usage error. See\n"
	  "'ledgerfs history --help' for POINT." },
	{ "revert", cmd_revert, "restore a file or a tree as it was at a point, by new records",
	  "ledgerfs revert [--store DIR] [--key FILE] --to POINT VOLUME PATH\n\n"
	  "Makes PATH (a file or a whole directory tree) what it was at POINT by\n"
	  "appending new records signed by your key: content (named again, not\n"
	  "copied), modes, owners, times, xattrs, symlinks, hard links within the\n"
	  "tree, deleted entries re-created and entries added since removed. History\n"
	  "is never rewritten: the revert is itself new versions. PATH need not\n"
	  "exist now but must have existed at POINT. While the volume is mounted the\n"
	  "command is refused and says how to do it through the mount (copy from\n"
	  "MOUNTPOINT/.ledgerfs/at/INDEX/PATH). See 'ledgerfs history --help' for\n"
	  "POINT." },
	{ "retain", cmd_retain, "protect a file or a tree from removal and change until a date",
	  "ledgerfs retain [--store DIR] [--key FILE] (--until DATE | --for DURATION) [--from-year-end]\n"
	  "                [--mode compliance|governance] [--class NAME] [--reason TEXT] [--override]\n"
	  "                VOLUME PATH\n\n"
	  "Records a retention rule on PATH (a file or a subtree; files created there\n"
	  "later are covered too). Until it ends, a covered file cannot be removed,\n"
	  "renamed out of the rule's reach, replaced, truncated or overwritten: EPERM\n"
	  "(chmod, chown and xattrs stay allowed; a new file gets its first content).\n"
	  "--until DATE: a fixed end in the future (RFC 3339 time or YYYY-MM-DD).\n"
	  "--for DURATION: Ny (calendar years) or Nd (days), at most 200 years,\n"
	  "counted for each file from its creation,\n"
	  "with --from-year-end from the end of that calendar year (HGB 257, AO 147).\n"
	  "Rules only extend: one that ends before a rule on the same path is refused.\n"
	  "--mode compliance (default): nobody can lift it. --mode governance: an\n"
	  "admin can, with --override (lifts the governance rules on exactly PATH;\n"
	  "with --until/--for puts a shorter one in their place), itself a record.\n"
	  "Refused while the volume is mounted." },
	{ "hold", cmd_hold, "put a legal hold on a file or a tree",
	  "ledgerfs hold [--store DIR] [--key FILE] --case NAME VOLUME PATH\n\n"
	  "Records a legal hold for case NAME on PATH: while it is in force nothing\n"
	  "under PATH can be removed, replaced or changed in content, whatever the\n"
	  "retention. Ends with 'ledgerfs release'. Refused while mounted." },
	{ "release", cmd_release, "release a legal hold",
	  "ledgerfs release [--store DIR] [--key FILE] --case NAME [--reason TEXT] VOLUME PATH\n\n"
	  "Records the end of the legal hold for case NAME on exactly PATH.\n"
	  "Refused while mounted." },
	{ "policy", cmd_policy, "show members, retention rules and legal holds",
	  "ledgerfs policy [--store DIR] [--at POINT] [--json] VOLUME\n\n"
	  "Prints the volume's policy at POINT (default: now): its members (today the\n"
	  "founder), vote threshold, default retention, every retention rule (path,\n"
	  "mode, end, class, reason, whether lifted) and every legal hold (path, case,\n"
	  "whether released). --json: one JSON object (lifted_at and released_at\n"
	  "are null while in force). Reads only; works while mounted. See\n"
	  "'ledgerfs history --help' for POINT." },
	{ NULL, NULL, NULL, NULL }
};

const struct cli_cmd *cli_find(const char *name)
{
	const struct cli_cmd *c;

	for (c = cli_cmds; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static void usage_all(FILE *out)
{
	const struct cli_cmd *c;

	fprintf(out, "usage: ledgerfs COMMAND [ARGS]\n\n"
		     "ledgerfs keeps every change of a file system in a signed, append-only\n"
		     "Merkle log that anyone can verify.\n\ncommands:\n");
	for (c = cli_cmds; c->name; c++)
		fprintf(out, "  %-11s %s\n", c->name, c->summary);
	fprintf(out, "\n'ledgerfs COMMAND --help' describes one command.\n");
}

int main(int argc, char **argv)
{
	const struct cli_cmd *c;
	int rc;

	if (argc < 2) {
		usage_all(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		if (argc > 2 && cli_find(argv[2]))
			return cli_help(argv[2]);
		usage_all(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("ledgerfs 0.1 (record format 1)\n");
		return 0;
	}
	c = cli_find(argv[1]);
	if (!c) {
		fprintf(stderr, "ledgerfs: unknown command '%s'\n", argv[1]);
		usage_all(stderr);
		return EXIT_USAGE;
	}
	rc = c->fn(argc - 1, argv + 1);
	/* A full disk or closed pipe must not pass silently. */
	if (fflush(stdout) || ferror(stdout) || fclose(stdout)) {
		if (errno != EPIPE)
			fprintf(stderr, "ledgerfs: writing output: %s\n", strerror(errno));
		return rc ? rc : 1;
	}
	return rc;
}
