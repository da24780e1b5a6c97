/*
 * cmd_log.c — `ledgerfs log`: print records for people or as JSON lines
 * (cli layer). Names are bytes from the store: for people they are quoted
 * and escaped (escape.h), in JSON a name that is valid UTF-8 is a string and
 * any other is {"b64":"..."} (json.h), so no output line can be forged or
 * mistaken for another name.
 */
#include "cli.h"

#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/json.h"
#include "ledgerfs/ledger.h"

#include <stdlib.h>
#include <string.h>

struct log_ctx {
	const struct lgfs_volume_info *info;
	int json;
	struct lgfs_buf out;
};

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
			lgfs_buf_printf(b, ",\"uid\":%u,\"gid\":%u,\"op\":\"%s\",\"args\":{", e->rec->uid, e->rec->gid,
					lgfs_op_name(e->rec->op));
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

int cmd_log(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "from", required_argument, NULL, 'f' },
		{ "limit", required_argument, NULL, 'n' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	struct log_ctx ctx;
	const char *storeopt = NULL;
	unsigned long long from = 0, limit = UINT64_MAX, size;
	struct lgfs_ledger *l = NULL;
	char *store;
	int c, rc;

	memset(&ctx, 0, sizeof(ctx));
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:jf:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'j': ctx.json = 1; break;
		case 'f':
			if (cli_parse_u64(optarg, &from))
				return cli_usage("log", "--from takes a log index");
			break;
		case 'n':
			if (cli_parse_u64(optarg, &limit))
				return cli_usage("log", "--limit takes a count");
			break;
		case 'h': return cli_help("log");
		default: return cli_usage("log", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("log", optind >= argc ? "missing VOLUME" : "too many arguments");
	store = cli_store(storeopt);
	if (!store)
		return 1;
	rc = lgfs_ledger_open(&l, store, argv[optind], NULL, LGFS_LEDGER_RDONLY);
	free(store);
	if (rc) {
		char vol[256];

		lgfs_escape(vol, sizeof(vol), argv[optind], strlen(argv[optind]));
		return cli_fail_lib(vol);
	}
	ctx.info = lgfs_ledger_info(l);
	size = lgfs_ledger_size(l);
	rc = 0;
	if (from < size) {
		if (limit > size - from)
			limit = size - from;
		if (lgfs_ledger_read(l, from, limit, print_entry, &ctx))
			rc = cli_fail_lib("log");
	}
	lgfs_buf_free(&ctx.out);
	lgfs_ledger_close(l);
	return rc;
}
