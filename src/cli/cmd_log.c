/*
 * cmd_log.c — `ledgerfs log`: print records for people or as JSON lines
 * (cli layer). Names are bytes from the store: for people they are quoted
 * and escaped (escape.h), in JSON a name that is valid UTF-8 is a string and
 * any other is {"b64":"..."} (json.h), so no output line can be forged or
 * mistaken for another name.
 *
 * Each file-system record also shows the path it acted on, as it was then
 * (from the verified index's past states, history.h); filters select by
 * path (its versions, as `history` lists them), time or index, and author.
 */
#include "cli.h"

#include "ledgerfs/buf.h"
#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/fs.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/history.h"
#include "ledgerfs/json.h"
#include "ledgerfs/ledger.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LOG_STOP 1 /* print_entry: --limit reached */

static int u64_cmp(const void *a, const void *b);

struct log_ctx {
	const struct lgfs_volume_info *info;
	struct lgfs_fs *fs; /* for paths; NULL: none shown */
	int json;
	struct lgfs_buf out;
	const char *author;     /* --author: a key name or hex prefix */
	uint64_t *only;         /* --path: the indexes to show, ascending */
	size_t nonly, nonly_cap;
	uint64_t limit, shown;
	char p1[4096], p2[4096];
};

/* "/dir/name" for a directory entry at `at` (the directory's path then). */
static int entry_path(struct log_ctx *c, uint64_t at, uint64_t parent, const struct lgfs_arg *name, char *out,
		      size_t cap)
{
	size_t n;

	if (lgfs_past_path(c->fs, at, parent, out, cap) &&
	    (at == 0 || lgfs_past_path(c->fs, at - 1, parent, out, cap)))
		return -1;
	n = strlen(out);
	if (n == 1)
		n = 0; /* the root */
	if (n + 1 + name->len + 1 > cap)
		return -1;
	out[n] = '/';
	memcpy(out + n + 1, name->data, name->len);
	out[n + 1 + name->len] = '\0';
	return 0;
}

/* The path(s) a record acted on, as they were then: p1 (the entry or inode;
 * a rename's old path), p2 (a rename's new path, a link's new name). */
static void record_paths(struct log_ctx *c, const struct lgfs_ledger_entry *e, int *n1, int *n2)
{
	const struct lgfs_record *r = e->rec;
	const struct lgfs_arg *name = lgfs_record_arg(r, LGFS_F_NAME), *nname = lgfs_record_arg(r, LGFS_F_NEW_NAME);
	uint64_t parent, ino;

	*n1 = *n2 = 0;
	if (!c->fs || r->op < LGFS_OP_CREATE || r->op > LGFS_OP_REMOVEXATTR)
		return;
	if (name && !lgfs_record_get_u64(r, LGFS_F_PARENT, &parent))
		*n1 = !entry_path(c, e->index, parent, name, c->p1, sizeof(c->p1));
	else if (!lgfs_record_get_u64(r, LGFS_F_INO, &ino))
		*n1 = !lgfs_past_path(c->fs, e->index, ino, c->p1, sizeof(c->p1)) ||
		      (e->index && !lgfs_past_path(c->fs, e->index - 1, ino, c->p1, sizeof(c->p1)));
	if (nname && !lgfs_record_get_u64(r, LGFS_F_NEW_PARENT, &parent))
		*n2 = !entry_path(c, e->index, parent, nname, c->p2, sizeof(c->p2));
}

/* One argument's value, as JSON or for people. */
static void put_value(struct lgfs_buf *b, const struct lgfs_arg *a, int json)
{
	char hex[2 * 32 + 1], t[48];

	switch (lgfs_field_kind(a->field)) {
	case LGFS_KIND_U32:
		if (a->field == LGFS_F_MODE && !json)
			lgfs_buf_printf(b, "0%o", (unsigned int)a->num);
		else
			lgfs_buf_printf(b, "%u", (unsigned int)a->num);
		break;
	case LGFS_KIND_U64:
		lgfs_buf_printf(b, "%llu", (unsigned long long)a->num);
		break;
	case LGFS_KIND_I64:
		if (json) {
			lgfs_buf_printf(b, "%lld", (long long)a->num);
		} else {
			lgfs_time_format(t, sizeof(t), (int64_t)a->num);
			lgfs_buf_printf(b, "%s", t);
		}
		break;
	case LGFS_KIND_HASH:
		lgfs_hex(hex, a->data, 32);
		lgfs_buf_printf(b, json ? "\"%s\"" : "%s", hex);
		break;
	case LGFS_KIND_STR:
		if (json)
			lgfs_json_str(b, a->data, a->len);
		else
			lgfs_quote(b, a->data, a->len);
		break;
	default: /* BYTES: names, targets, xattr values: any bytes */
		if (json)
			lgfs_json_bytes(b, a->data, a->len);
		else
			lgfs_quote(b, a->data, a->len);
	}
}

static int print_entry(void *arg, const struct lgfs_ledger_entry *e)
{
	struct log_ctx *c = arg;
	struct lgfs_buf *b = &c->out;
	char t[48], author[65];
	const char *aname = NULL;
	unsigned int i;
	int n1 = 0, n2 = 0;

	if (c->only && !bsearch(&e->index, c->only, c->nonly, sizeof(*c->only), u64_cmp))
		return 0;
	if (c->author) {
		char hex[65];
		const char *who = cli_author_name(c->info, e->env.author, hex);

		lgfs_hex(hex, e->env.author, 32);
		if (strcmp(who, c->author) && strncmp(hex, c->author, strlen(c->author)))
			return 0;
		if (strlen(c->author) < 8 && strcmp(who, c->author))
			return 0;
	}
	if (c->shown >= c->limit)
		return LOG_STOP;
	c->shown++;
	if (e->rec)
		record_paths(c, e, &n1, &n2);
	lgfs_buf_reset(b);
	lgfs_time_format(t, sizeof(t), e->env.time_ns);
	lgfs_hex(author, e->env.author, 32);
	if (!memcmp(e->env.author, c->info->founder, 32))
		aname = c->info->founder_name;
	if (c->json) {
		lgfs_buf_printf(b, "{\"index\":%llu,\"time\":\"%s\",\"time_ns\":%lld,\"author\":\"%s\"",
				(unsigned long long)e->index, t, (long long)e->env.time_ns, author);
		if (aname) {
			lgfs_buf_put(b, ",\"author_name\":", 15);
			lgfs_json_str(b, aname, strlen(aname));
		}
		if (e->rec) {
			lgfs_buf_printf(b, ",\"uid\":%u,\"gid\":%u,\"op\":\"%s\"", e->rec->uid, e->rec->gid,
					lgfs_op_name(e->rec->op));
			if (n1) {
				lgfs_buf_put(b, ",\"path\":", 8);
				lgfs_json_bytes(b, c->p1, strlen(c->p1));
			}
			if (n2) {
				lgfs_buf_put(b, ",\"new_path\":", 12);
				lgfs_json_bytes(b, c->p2, strlen(c->p2));
			}
			lgfs_buf_put(b, ",\"args\":{", 9);
			for (i = 0; i < e->rec->nargs; i++) {
				lgfs_buf_printf(b, "%s\"%s\":", i ? "," : "", lgfs_field_name(e->rec->args[i].field));
				put_value(b, &e->rec->args[i], 1);
			}
			lgfs_buf_put(b, "}", 1);
		} else {
			lgfs_buf_put(b, ",\"op\":null,\"withheld\":true", 26);
		}
		lgfs_buf_put(b, "}\n", 2);
	} else {
		lgfs_buf_printf(b, "%-6llu %s  ", (unsigned long long)e->index, t);
		if (aname)
			lgfs_escape_buf(b, aname, strlen(aname));
		else
			lgfs_buf_printf(b, "%.16s", author);
		if (e->rec) {
			lgfs_buf_printf(b, "  uid=%u gid=%u  %s", e->rec->uid, e->rec->gid, lgfs_op_name(e->rec->op));
			if (n1) {
				lgfs_buf_put(b, " ", 1);
				lgfs_escape_buf(b, c->p1, strlen(c->p1));
			}
			if (n2) {
				lgfs_buf_put(b, " -> ", 4);
				lgfs_escape_buf(b, c->p2, strlen(c->p2));
			}
			for (i = 0; i < e->rec->nargs; i++) {
				lgfs_buf_printf(b, " %s=", lgfs_field_name(e->rec->args[i].field));
				put_value(b, &e->rec->args[i], 0);
			}
		} else {
			lgfs_buf_printf(b, "  (record withheld)");
		}
		lgfs_buf_put(b, "\n", 1);
	}
	if (lgfs_buf_ok(b))
		return LGFS_ENOMEM;
	if (fwrite(b->data, 1, b->len, stdout) != b->len)
		return lgfs_error_errno(LGFS_EIO, "writing output");
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int only_add(void *arg, const struct lgfs_path_version *v)
{
	struct log_ctx *c = arg;

	if (lgfs_grow(&c->only, &c->nonly_cap, c->nonly, sizeof(*c->only)))
		return -ENOMEM;
	c->only[c->nonly++] = v->index;
	return 0;
}

static int envelope_cb(void *arg, const struct lgfs_ledger_entry *e)
{
	*(struct lgfs_envelope *)arg = e->env;
	return 0;
}

/* The log index a --since/--until POINT stands for: a log index as given;
 * a time or PATH@N through lgfs_fs_point (the last record at or before it),
 * for --since the first record at or after a time. -1 (message printed)
 * on errors; *none = 1 when the bound excludes every record. */
static int bound(struct log_ctx *c, struct lgfs_ledger *l, const char *opt, const char *spec, int since,
		 uint64_t *out, int *none)
{
	unsigned long long n;
	struct lgfs_envelope env;
	int rc;

	if (!cli_parse_u64(spec, &n)) {
		*out = n;
		return 0;
	}
	if (!c->fs)
		return cli_usage("log", "%s takes a log index here (times need the volume's index)", opt), -1;
	lgfs_error_clear();
	rc = lgfs_fs_point(c->fs, spec, out);
	if (rc == -ERANGE && strchr(spec, 'T') && !strchr(spec, '@')) {
		/* a time before the genesis record */
		if (since)
			*out = 0;
		else
			*none = 1;
		return 0;
	}
	if (rc) {
		cli_fs_fail(spec, rc);
		return -1;
	}
	if (since && !strchr(spec, '@')) {
		/* the last record at or before the time: the first one after
		 * it unless its time is the time given */
		int64_t ns;

		env.time_ns = INT64_MIN;
		if (lgfs_time_parse(spec, &ns) || lgfs_ledger_read(l, *out, 1, envelope_cb, &env) ||
		    env.time_ns < ns)
			(*out)++;
	}
	return 0;
}

int cmd_log(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "from", required_argument, NULL, 'f' },
		{ "limit", required_argument, NULL, 'n' },
		{ "path", required_argument, NULL, 'p' },
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "author", required_argument, NULL, 'A' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	struct log_ctx *ctx;
	const char *storeopt = NULL, *path = NULL, *since = NULL, *until = NULL;
	unsigned long long from = 0, limit = UINT64_MAX;
	uint64_t size, end, b;
	struct lgfs_ledger *l = NULL;
	char *store, vol[256];
	int c, rc, none = 0;

	if (!(ctx = calloc(1, sizeof(*ctx))))
		return cli_fail("out of memory");
	ctx->limit = UINT64_MAX;
	optind = 1;
	rc = 0;
	while (!rc && (c = getopt_long(argc, argv, "s:jf:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'j': ctx->json = 1; break;
		case 'f':
			if (cli_parse_u64(optarg, &from))
				rc = cli_usage("log", "--from takes a log index");
			break;
		case 'n':
			if (cli_parse_u64(optarg, &limit))
				rc = cli_usage("log", "--limit takes a count");
			break;
		case 'p': path = optarg; break;
		case 'S': since = optarg; break;
		case 'U': until = optarg; break;
		case 'A': ctx->author = optarg; break;
		case 'h': free(ctx); return cli_help("log");
		default: rc = cli_usage("log", "unknown option");
		}
	}
	if (!rc && optind + 1 != argc)
		rc = cli_usage("log", optind >= argc ? "missing VOLUME" : "too many arguments");
	if (!rc && path && path[0] != '/')
		rc = cli_usage("log", "--path must be absolute inside the volume");
	if (!rc && ctx->author && !*ctx->author)
		rc = cli_usage("log", "--author takes a key name or the start of a key in hex");
	if (rc || !(store = cli_store(storeopt))) {
		free(ctx);
		return rc ? rc : 1;
	}
	ctx->limit = limit;
	lgfs_escape(vol, sizeof(vol), argv[optind], strlen(argv[optind]));
	/* Through the file system for the paths; a volume whose index cannot
	 * be brought up (it needs a replay only a writer may store, and this
	 * user cannot write here) is still listed, without paths. */
	lgfs_error_clear();
	rc = lgfs_fs_open(&ctx->fs, store, argv[optind], NULL, LGFS_FS_RDONLY);
	if (!rc) {
		l = lgfs_fs_ledger(ctx->fs);
	} else {
		ctx->fs = NULL;
		rc = lgfs_ledger_open(&l, store, argv[optind], NULL, LGFS_LEDGER_RDONLY);
		if (!rc && !path && !since && !until)
			fprintf(stderr, "ledgerfs: %s: paths are not shown: %s\n", vol, lgfs_error_last());
	}
	free(store);
	if (rc) {
		rc = cli_fail_lib(vol);
		goto out;
	}
	if (path && !ctx->fs) {
		rc = cli_fail("%s: --path needs the volume's index: %s", vol, lgfs_error_last());
		goto out;
	}
	ctx->info = lgfs_ledger_info(l);
	size = ctx->fs ? lgfs_fs_entries(ctx->fs) : lgfs_ledger_size(l);
	end = size;
	if (since && bound(ctx, l, "--since", since, 1, &b, &none)) {
		rc = 1;
		goto out;
	}
	if (since && b > from)
		from = b;
	if (until && bound(ctx, l, "--until", until, 0, &b, &none)) {
		rc = 1;
		goto out;
	}
	if (until && b + 1 < end)
		end = b + 1;
	if (path) {
		lgfs_error_clear();
		rc = lgfs_fs_history(ctx->fs, path, 0, only_add, ctx);
		if (rc == -ENOENT) {
			rc = cli_fail("%s: no such path at any point in the volume's history", path);
			goto out;
		}
		if (rc) {
			rc = cli_fs_fail(path, rc);
			goto out;
		}
	}
	rc = 0;
	if (!none && from < end) {
		c = lgfs_ledger_read(l, from, end - from, print_entry, ctx);
		if (c && c != LOG_STOP)
			rc = cli_fail_lib("log");
	}
out:
	lgfs_buf_free(&ctx->out);
	if (ctx->fs)
		lgfs_fs_close(ctx->fs);
	else if (l)
		lgfs_ledger_close(l);
	free(ctx->only);
	free(ctx);
	return rc;
}
