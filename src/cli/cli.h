/*
 * cli.h — what the command files share (cli layer). Only cli/ prints and
 * sets exit codes: 0 success, 1 failure, 2 usage error.
 */
#ifndef LGFS_CLI_H
#define LGFS_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "ledgerfs/key.h"

#define EXIT_USAGE 2

/* One command: name, handler, one-line summary, usage text. */
struct cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
	const char *usage; /* full --help text after "usage: " */
};

extern const struct cli_cmd cli_cmds[];
const struct cli_cmd *cli_find(const char *name);

/* "ledgerfs: <message>\n" on stderr; returns 1 (the failure exit code). */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The library's last error, with context: "ledgerfs: <what>: <message>". */
int cli_fail_lib(const char *what);
/* An fs-layer error (negative errno) about `what`: the library's message
 * when it left one for this kind of error, else strerror; returns 1. */
int cli_fs_fail(const char *what, int err);
/* Open VOLUME read-only (verified) and resolve POINT (NULL: the latest
 * state) into *at: 0, or 1 after printing why. On failure *fs is NULL
 * unless the point alone failed (the caller closes it then). */
struct lgfs_fs;
int cli_open_at(const char *storeopt, const char *vol, const char *point, struct lgfs_fs **fs, uint64_t *at);
/* Resolve a point given by a person (lgfs_fs_point): 0, or 1 after printing
 * why. */
int cli_point(struct lgfs_fs *fs, const char *point, uint64_t *at);
/* "drwxr-xr-x" of a st_mode. */
void cli_mode_string(char out[11], uint32_t mode);
/* A record author for people: the founder's key name, else the first 16
 * hex digits of the key (in hex). */
struct lgfs_volume_info;
const char *cli_author_name(const struct lgfs_volume_info *info, const uint8_t author[32], char hex[65]);
/* Usage error: message, then "see 'ledgerfs CMD --help'"; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print a command's --help to stdout; returns 0. */
int cli_help(const char *cmd);

/* The store directory from --store or the default; caller frees. NULL after
 * printing an error. */
char *cli_store(const char *opt);
/* Load the signing key from --key, $LEDGERFS_KEY or the default; NULL after
 * printing an error. */
struct lgfs_key *cli_key(const char *opt);

/* Parse a non-negative decimal number; 0 on success. */
int cli_parse_u64(const char *s, unsigned long long *out);

/* getopt_long options every command accepts. */
#define CLI_OPT_HELP { "help", no_argument, NULL, 'h' }

#endif
