/*
 * cmd_log.c — `ledgerfs log`: print records for people or as JSON lines
 * (cli layer).
 */
#include "cli.h"

#include "ledgerfs/error.h"
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

/* Is every byte printable UTF-8 text (so BYTES can be shown as text)? */
static int is_text(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	return 1;
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
		lgfs_buf_printf(json ? b : b, json ? "\"%s\"" : "%s", hex);
		break;
	case LGFS_KIND_STR:
		if (json)
			lgfs_json_str(b, a->data, a->len);
		else
			lgfs_quote(b, a->data, a->len);
		break;
	default: /* BYTES: text when printable, else hex */
		if (is_text(a->data, a->len)) {
			if (json)
				lgfs_json_str(b, a->data, a->len);
			else
				lgfs_quote(b, a->data, a->len);
		} else {
			size_t i;

			lgfs_buf_put(b, json ? "\"hex:" : "hex:", json ? 5 : 4);
			for (i = 0; i < a->len; i++)
				lgfs_buf_printf(b, "%02x", a->data[i]);
			if (json)
				lgfs_buf_put_u8(b, '"');
		}
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
		lgfs_buf_printf(b, "%-6llu %s  %s", (unsigned long long)e->index, t, aname ? aname : "");
		if (!aname)
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
	if (rc)
		return cli_fail_lib(argv[optind]);
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
