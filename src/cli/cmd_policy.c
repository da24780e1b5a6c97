/*
 * cmd_policy.c — retention and legal hold from the command line: `ledgerfs
 * retain` (a retention rule, or an override of governance rules), `ledgerfs
 * hold` and `ledgerfs release` (legal holds), and `ledgerfs policy` (who
 * may do what, and every rule and hold, at a point in history) (cli layer).
 *
 * The writers open the volume with the key like `revert` does; the rules
 * themselves are enforced by the fs layer (policy.h), which also says why
 * a change is refused. Names from the store are escaped for people and
 * JSON-encoded for programs, as in cmd_log.c.
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
#include "ledgerfs/policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What a field of policy.h's structs holds at most, with its NUL. */
#define CAP(type, field) sizeof(((struct type *)0)->field)

/* A writer's open volume and what it was opened with. */
struct writer {
	char *store;
	struct lgfs_key *key;
	struct lgfs_fs *fs;
	char *epath; /* PATH escaped, for messages */
};

/* Open VOLUME for writing with the key; 0, or the exit code after saying
 * why not (a mounted volume: how to go on). */
static int writer_open(struct writer *w, const char *storeopt, const char *keyopt, const char *vol,
		       const char *path)
{
	int rc;

	memset(w, 0, sizeof(*w));
	if (!(w->store = cli_store(storeopt)))
		return 1;
	if (!(w->key = cli_key(keyopt)))
		return 1;
	if (!(w->epath = lgfs_escape_dup(path, strlen(path))))
		return cli_fail("out of memory");
	lgfs_error_clear();
	rc = lgfs_fs_open(&w->fs, w->store, vol, w->key, 0);
	if (rc)
		w->fs = NULL;
	if (rc == -EBUSY)
		return cli_fail("volume %s is mounted (another writer holds it): unmount it "
				"('ledgerfs umount MOUNTPOINT') and run this command again", vol);
	return rc ? cli_fs_fail(vol, rc) : 0;
}

/* Make the new record durable and close; 0 or the exit code. */
static int writer_commit(struct writer *w)
{
	int rc = lgfs_fs_sync(w->fs);
	int rc2 = lgfs_fs_close(w->fs);

	w->fs = NULL;
	if (rc || (rc = rc2))
		return cli_fs_fail("making the record durable", rc);
	return 0;
}

static void writer_close(struct writer *w)
{
	if (w->fs)
		lgfs_fs_close(w->fs);
	lgfs_key_free(w->key);
	free(w->store);
	free(w->epath);
}

/* The fs layer's message for the call just made (after lgfs_error_clear),
 * NULL when it left none. */
static const char *lib_message(void)
{
	return lgfs_error_isset() ? lgfs_error_last() : NULL;
}

/* An error of the fs layer about `what`: its own message when it left one
 * (it says which rule or hold refused), else strerror. */
static int fail(const char *what, int err)
{
	const char *m = lib_message();

	if (m && err != -ENOMEM)
		return strncmp(m, what, strlen(what)) ? cli_fail("%s: %s", what, m) : cli_fail("%s", m);
	return cli_fail("%s: %s", what, strerror(-err));
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --until: an RFC 3339 time, or YYYY-MM-DD for that day's start (UTC). */
static int parse_date(const char *s, int64_t *out)
{
	char t[32];
	int i;

	if (strlen(s) == 10) {
		for (i = 0; i < 10; i++)
			if ((i == 4 || i == 7) ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
				return -1;
		snprintf(t, sizeof(t), "%sT00:00:00Z", s);
		s = t;
	}
	return lgfs_time_parse(s, out) ? -1 : 0;
}

/* The longest --for: the records' clock (ns in an int64) ends in 2262, and
 * a rule that cannot end is a typo more often than a wish. */
#define MAX_YEARS 200

/* --for: N followed by y (calendar years) or d (days, counted in seconds),
 * at most MAX_YEARS long. */
static int parse_duration(const char *s, uint64_t *out, uint32_t *flags)
{
	unsigned long long n;
	size_t len = strlen(s);
	char num[32];

	if (len < 2 || len >= sizeof(num))
		return -1;
	memcpy(num, s, len - 1);
	num[len - 1] = '\0';
	if (cli_parse_u64(num, &n) || n == 0)
		return -1;
	switch (s[len - 1]) {
	case 'y':
		if (n > MAX_YEARS)
			return -1;
		*out = n;
		*flags |= LGFS_RETAIN_YEARS;
		return 0;
	case 'd':
		if (n > MAX_YEARS * 366ull)
			return -1;
		*out = n * 86400;
		return 0;
	default:
		return -1;
	}
}

/* "10y from the end of the year of creation", "until 2030-...Z" and the like. */
static void describe_end(struct lgfs_buf *b, int64_t until_ns, uint64_t duration, uint32_t flags)
{
	char t[48];

	if (until_ns) {
		lgfs_time_format(t, sizeof(t), until_ns);
		lgfs_buf_printf(b, "until %s", t);
		return;
	}
	if (flags & LGFS_RETAIN_YEARS)
		lgfs_buf_printf(b, "%lluy", (unsigned long long)duration);
	else if (duration % 86400 == 0)
		lgfs_buf_printf(b, "%llud", (unsigned long long)(duration / 86400));
	else
		lgfs_buf_printf(b, "%llus", (unsigned long long)duration);
	lgfs_buf_printf(b, "%s", flags & LGFS_RETAIN_YEAR_END ? " from the end of the year of creation"
							       : " from creation");
}

/* ---- retain ---- */

int cmd_retain(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "until", required_argument, NULL, 'u' },
		{ "for", required_argument, NULL, 'f' },
		{ "from-year-end", no_argument, NULL, 'e' },
		{ "mode", required_argument, NULL, 'm' },
		{ "class", required_argument, NULL, 'c' },
		{ "reason", required_argument, NULL, 'r' },
		{ "override", no_argument, NULL, 'o' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	const char *storeopt = NULL, *keyopt = NULL, *until = NULL, *dur = NULL, *mode = NULL, *cls = NULL,
		   *reason = NULL, *vol, *path;
	struct lgfs_fs_ctx ctx = { (uint32_t)getuid(), (uint32_t)getgid(), 0 };
	struct lgfs_buf what;
	struct writer w;
	int64_t until_ns = 0;
	uint64_t duration = 0;
	uint64_t index;
	uint32_t flags = 0;
	int c, rc, year_end = 0, override = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:k:u:f:em:c:r:oh", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'k': keyopt = optarg; break;
		case 'u': until = optarg; break;
		case 'f': dur = optarg; break;
		case 'e': year_end = 1; break;
		case 'm': mode = optarg; break;
		case 'c': cls = optarg; break;
		case 'r': reason = optarg; break;
		case 'o': override = 1; break;
		case 'h': return cli_help("retain");
		default: return cli_usage("retain", "unknown option");
		}
	}
	if (until && dur)
		return cli_usage("retain", "give either --until DATE or --for DURATION, not both");
	if (!until && !dur && !override)
		return cli_usage("retain", "--until DATE or --for DURATION is required (e.g. --for 10y)");
	if (year_end && !dur)
		return cli_usage("retain", "--from-year-end counts a duration: it needs --for DURATION");
	if (mode && strcmp(mode, "compliance") && strcmp(mode, "governance"))
		return cli_usage("retain", "--mode is compliance or governance, not '%s'", mode);
	if (override && mode && !strcmp(mode, "compliance"))
		return cli_usage("retain", "--override lifts governance rules: a rule it puts is governance too");
	if (until && parse_date(until, &until_ns))
		return cli_usage("retain", "--until: '%s' is not a date (YYYY-MM-DD) or an RFC 3339 time", until);
	if (dur && parse_duration(dur, &duration, &flags))
		return cli_usage("retain", "--for: '%s' is not a duration: a number of years (10y) or days (30d), "
				  "at most %d years", dur, MAX_YEARS);
	if (argc - optind != 2)
		return cli_usage("retain", argc - optind < 2 ? "missing VOLUME or PATH" : "too many arguments");
	vol = argv[optind];
	path = argv[optind + 1];
	if (path[0] != '/')
		return cli_usage("retain", "PATH must be absolute inside the volume, e.g. /invoices");
	if (strlen(path) >= CAP(lgfs_retention, path))
		return cli_usage("retain", "PATH is too long");
	if (reason && !lgfs_utf8_valid(reason, strlen(reason)))
		return cli_usage("retain", "--reason must be UTF-8 text");
	if (cls && strlen(cls) >= CAP(lgfs_retention, cls))
		return cli_usage("retain", "--class is at most %zu bytes", CAP(lgfs_retention, cls) - 1);
	if (reason && strlen(reason) >= CAP(lgfs_retention, reason))
		return cli_usage("retain", "--reason is at most %zu bytes", CAP(lgfs_retention, reason) - 1);
	if (year_end)
		flags |= LGFS_RETAIN_YEAR_END;
	if (mode && !strcmp(mode, "governance"))
		flags |= LGFS_RETAIN_GOVERNANCE;
	if (override)
		flags |= LGFS_RETAIN_OVERRIDE | LGFS_RETAIN_GOVERNANCE;

	if (until_ns && until_ns <= now_ns())
		return cli_fail("--until %s is not in the future: a retention rule ends after it is recorded", until);

	if ((rc = writer_open(&w, storeopt, keyopt, vol, path)))
		goto out;
	lgfs_error_clear();
	rc = lgfs_fs_retain(w.fs, &ctx, path, until_ns, duration, flags, cls, reason);
	if (rc == -ENOENT && override) {
		rc = cli_fail("no governance rule in force on %s: nothing to override (compliance rules cannot "
			      "be lifted)", path);
		goto out;
	}
	if (rc == -EPERM) {
		if (lib_message())
			rc = cli_fail("refused: %s", lib_message());
		else
			rc = cli_fail("refused: %s: the rule would shorten a retention rule in force (rules can only "
				      "be extended)", path);
		goto out;
	}
	if (rc == -EINVAL && !lib_message()) {
		rc = cli_fail("refused: %s: not a valid rule (an end that is not after the time of the record?)",
			      path);
		goto out;
	}
	if (rc) {
		rc = fail(path, rc);
		goto out;
	}
	index = lgfs_fs_entries(w.fs) - 1;
	if ((rc = writer_commit(&w)))
		goto out;
	lgfs_buf_init(&what);
	if (override)
		lgfs_buf_printf(&what, "lifted the governance rules on %s", w.epath);
	if (until_ns || duration) {
		lgfs_buf_printf(&what, "%s%s retention rule on %s: ", override ? " and put a " : "",
				flags & LGFS_RETAIN_GOVERNANCE ? "governance" : "compliance", w.epath);
		describe_end(&what, until_ns, duration, flags);
	}
	if (lgfs_buf_ok(&what))
		rc = cli_fail("recorded, but out of memory saying what (log index %llu)", (unsigned long long)index);
	else
		fprintf(stderr, "ledgerfs: %.*s (log index %llu)\n", (int)what.len, (const char *)what.data,
			(unsigned long long)index);
	lgfs_buf_free(&what);
out:
	writer_close(&w);
	return rc;
}

/* ---- hold, release ---- */

/* hold and release: the same options, one call each. */
static int hold_or_release(int argc, char **argv, const char *cmd, int release)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "case", required_argument, NULL, 'c' },
		{ "reason", required_argument, NULL, 'r' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	const char *storeopt = NULL, *keyopt = NULL, *case_name = NULL, *reason = NULL, *vol, *path;
	struct lgfs_fs_ctx ctx = { (uint32_t)getuid(), (uint32_t)getgid(), 0 };
	struct writer w;
	struct lgfs_buf msg;
	uint64_t index;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, release ? "s:k:c:r:h" : "s:k:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'k': keyopt = optarg; break;
		case 'c': case_name = optarg; break;
		case 'r':
			if (!release)
				return cli_usage(cmd, "unknown option");
			reason = optarg;
			break;
		case 'h': return cli_help(cmd);
		default: return cli_usage(cmd, "unknown option");
		}
	}
	if (!case_name || !*case_name)
		return cli_usage(cmd, "--case NAME is required (the case the hold is for)");
	if (argc - optind != 2)
		return cli_usage(cmd, argc - optind < 2 ? "missing VOLUME or PATH" : "too many arguments");
	vol = argv[optind];
	path = argv[optind + 1];
	if (path[0] != '/')
		return cli_usage(cmd, "PATH must be absolute inside the volume, e.g. /letters/2026");
	if (strlen(path) >= CAP(lgfs_hold, path))
		return cli_usage(cmd, "PATH is too long");
	if (strlen(case_name) >= CAP(lgfs_hold, case_name))
		return cli_usage(cmd, "--case is at most %zu bytes", CAP(lgfs_hold, case_name) - 1);
	if (!lgfs_utf8_valid(case_name, strlen(case_name)) || (reason && !lgfs_utf8_valid(reason, strlen(reason))))
		return cli_usage(cmd, "--case and --reason must be UTF-8 text");
	if ((rc = writer_open(&w, storeopt, keyopt, vol, path)))
		goto out;
	lgfs_error_clear();
	if (release)
		rc = lgfs_fs_hold_release(w.fs, &ctx, path, case_name, reason);
	else
		rc = lgfs_fs_hold(w.fs, &ctx, path, case_name);
	if (rc == -ENOENT && release) {
		rc = cli_fail("no legal hold for case \"%s\" in force on %s: nothing to release", case_name, path);
		goto out;
	}
	if (rc) {
		rc = fail(path, rc);
		goto out;
	}
	index = lgfs_fs_entries(w.fs) - 1;
	if ((rc = writer_commit(&w)))
		goto out;
	lgfs_buf_init(&msg);
	lgfs_buf_printf(&msg, "%s %s for case ", release ? "released the legal hold on" : "legal hold on", w.epath);
	lgfs_quote(&msg, case_name, strlen(case_name));
	if (lgfs_buf_ok(&msg))
		rc = cli_fail("recorded, but out of memory saying what (log index %llu)", (unsigned long long)index);
	else
		fprintf(stderr, "ledgerfs: %.*s (log index %llu)\n", (int)msg.len, (const char *)msg.data,
			(unsigned long long)index);
	lgfs_buf_free(&msg);
out:
	writer_close(&w);
	return rc;
}

int cmd_hold(int argc, char **argv)
{
	return hold_or_release(argc, argv, "hold", 0);
}

int cmd_release(int argc, char **argv)
{
	return hold_or_release(argc, argv, "release", 1);
}

/* ---- policy ---- */

struct pol_ctx {
	const struct lgfs_volume_info *info;
	int json;
	struct lgfs_buf rules, holds; /* the two lists, filled in one pass */
	uint64_t nrules, nholds;
};

/* The author: in JSON the key (and the founder's name), for people a name. */
static void put_author(struct pol_ctx *c, struct lgfs_buf *b, const uint8_t author[32])
{
	char hex[65];
	const char *name = cli_author_name(c->info, author, hex);

	if (c->json) {
		lgfs_hex(hex, author, 32);
		lgfs_buf_printf(b, ",\"author\":\"%s\"", hex);
		if (!memcmp(author, c->info->founder, 32)) {
			lgfs_buf_printf(b, "%s", ",\"author_name\":");
			lgfs_json_str(b, name, strlen(name));
		}
	} else {
		lgfs_buf_printf(b, "%s", "  by ");
		lgfs_escape_buf(b, name, strlen(name));
	}
}

static int rule_cb(void *arg, const struct lgfs_retention *r)
{
	struct pol_ctx *c = arg;
	struct lgfs_buf *b = &c->rules;
	const char *mode = r->flags & LGFS_RETAIN_GOVERNANCE ? "governance" : "compliance";
	char t[48];

	lgfs_time_format(t, sizeof(t), r->time_ns);
	if (c->json) {
		lgfs_buf_printf(b, "%s{\"index\":%llu,\"time\":\"%s\",\"time_ns\":%lld", c->nrules ? "," : "",
				(unsigned long long)r->index, t, (long long)r->time_ns);
		put_author(c, b, r->author);
		lgfs_buf_printf(b, "%s", ",\"path\":");
		lgfs_json_bytes(b, r->path, strnlen(r->path, sizeof(r->path)));
		lgfs_buf_printf(b, ",\"mode\":\"%s\"", mode);
		if (r->until_ns) {
			lgfs_time_format(t, sizeof(t), r->until_ns);
			lgfs_buf_printf(b, ",\"until\":\"%s\",\"until_ns\":%lld", t, (long long)r->until_ns);
		} else {
			lgfs_buf_printf(b, ",\"duration\":%llu,\"unit\":\"%s\",\"from_year_end\":%s",
					(unsigned long long)r->duration, r->flags & LGFS_RETAIN_YEARS ? "years" : "seconds",
					r->flags & LGFS_RETAIN_YEAR_END ? "true" : "false");
		}
		lgfs_buf_printf(b, "%s", ",\"class\":");
		lgfs_json_bytes(b, r->cls, strnlen(r->cls, sizeof(r->cls)));
		lgfs_buf_printf(b, "%s", ",\"reason\":");
		lgfs_json_bytes(b, r->reason, strnlen(r->reason, sizeof(r->reason)));
		if (r->lifted_at)
			lgfs_buf_printf(b, ",\"lifted_at\":%llu}", (unsigned long long)r->lifted_at);
		else
			lgfs_buf_printf(b, "%s", ",\"lifted_at\":null}");
	} else {
		lgfs_buf_printf(b, "  %-7llu %s  ", (unsigned long long)r->index, t);
		lgfs_escape_buf(b, r->path, strnlen(r->path, sizeof(r->path)));
		lgfs_buf_printf(b, "  %s  ", mode);
		describe_end(b, r->until_ns, r->duration, r->flags);
		if (r->cls[0]) {
			lgfs_buf_printf(b, "%s", "  class ");
			lgfs_quote(b, r->cls, strnlen(r->cls, sizeof(r->cls)));
		}
		if (r->reason[0]) {
			lgfs_buf_printf(b, "%s", "  reason ");
			lgfs_quote(b, r->reason, strnlen(r->reason, sizeof(r->reason)));
		}
		put_author(c, b, r->author);
		if (r->lifted_at)
			lgfs_buf_printf(b, "  lifted at %llu", (unsigned long long)r->lifted_at);
		lgfs_buf_printf(b, "%s", "\n");
	}
	c->nrules++;
	return lgfs_buf_ok(b) ? 1 : 0;
}

static int hold_cb(void *arg, const struct lgfs_hold *h)
{
	struct pol_ctx *c = arg;
	struct lgfs_buf *b = &c->holds;
	char t[48];

	lgfs_time_format(t, sizeof(t), h->time_ns);
	if (c->json) {
		lgfs_buf_printf(b, "%s{\"index\":%llu,\"time\":\"%s\",\"time_ns\":%lld", c->nholds ? "," : "",
				(unsigned long long)h->index, t, (long long)h->time_ns);
		put_author(c, b, h->author);
		lgfs_buf_printf(b, "%s", ",\"path\":");
		lgfs_json_bytes(b, h->path, strnlen(h->path, sizeof(h->path)));
		lgfs_buf_printf(b, "%s", ",\"case\":");
		lgfs_json_bytes(b, h->case_name, strnlen(h->case_name, sizeof(h->case_name)));
		if (h->released_at)
			lgfs_buf_printf(b, ",\"released_at\":%llu}", (unsigned long long)h->released_at);
		else
			lgfs_buf_printf(b, "%s", ",\"released_at\":null}");
	} else {
		lgfs_buf_printf(b, "  %-7llu %s  ", (unsigned long long)h->index, t);
		lgfs_escape_buf(b, h->path, strnlen(h->path, sizeof(h->path)));
		lgfs_buf_printf(b, "%s", "  case ");
		lgfs_quote(b, h->case_name, strnlen(h->case_name, sizeof(h->case_name)));
		put_author(c, b, h->author);
		if (h->released_at)
			lgfs_buf_printf(b, "  released at %llu", (unsigned long long)h->released_at);
		lgfs_buf_printf(b, "%s", "\n");
	}
	c->nholds++;
	return lgfs_buf_ok(b) ? 1 : 0;
}

int cmd_policy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "at", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	const char *storeopt = NULL, *point = NULL, *vol;
	const struct lgfs_volume_info *info;
	struct lgfs_fs *fs = NULL;
	struct pol_ctx ctx;
	struct lgfs_buf out;
	char key[65];
	uint64_t at;
	int c, rc;

	memset(&ctx, 0, sizeof(ctx));
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:a:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'a': point = optarg; break;
		case 'j': ctx.json = 1; break;
		case 'h': return cli_help("policy");
		default: return cli_usage("policy", "unknown option");
		}
	}
	if (argc - optind != 1)
		return cli_usage("policy", argc - optind < 1 ? "missing VOLUME" : "too many arguments");
	vol = argv[optind];
	lgfs_buf_init(&out);
	if ((rc = cli_open_at(storeopt, vol, point, &fs, &at))) {
		if (!fs)
			return rc;
		goto done;
	}
	info = ctx.info = lgfs_ledger_info(lgfs_fs_ledger(fs));
	lgfs_error_clear();
	rc = lgfs_fs_policy_each(fs, at, rule_cb, hold_cb, &ctx);
	if (lgfs_buf_ok(&ctx.rules) || lgfs_buf_ok(&ctx.holds)) {
		rc = cli_fail("out of memory");
		goto done;
	}
	if (rc) {
		rc = cli_fs_fail(vol, rc < 0 ? rc : -EIO);
		goto done;
	}
	/* Until members and grants exist, the founder is the one member and
	 * the admin. */
	lgfs_hex(key, info->founder, 32);
	if (ctx.json) {
		lgfs_buf_printf(&out, "%s", "{\"volume\":");
		lgfs_json_str(&out, info->name, strlen(info->name));
		lgfs_buf_printf(&out, ",\"at\":%llu,\"members\":[{\"name\":", (unsigned long long)at);
		lgfs_json_str(&out, info->founder_name, strlen(info->founder_name));
		lgfs_buf_printf(&out, ",\"key\":\"%s\",\"founder\":true,\"admin\":true}],\"threshold\":%u,"
				"\"default_retention_s\":%llu,\"rules\":[", key, info->policy.threshold,
				(unsigned long long)info->policy.retention_s);
		lgfs_buf_put(&out, ctx.rules.data, ctx.rules.len);
		lgfs_buf_printf(&out, "%s", "],\"holds\":[");
		lgfs_buf_put(&out, ctx.holds.data, ctx.holds.len);
		lgfs_buf_printf(&out, "%s", "]}\n");
	} else {
		lgfs_buf_printf(&out, "%s", "volume:    ");
		lgfs_escape_buf(&out, info->name, strlen(info->name));
		lgfs_buf_printf(&out, " at log index %llu\nmembers:   1\n  ", (unsigned long long)at);
		lgfs_escape_buf(&out, info->founder_name, strlen(info->founder_name));
		lgfs_buf_printf(&out, "  key %s  founder, admin\nthreshold: %u%% of members\n"
				"default retention: %llu days\nretention rules: %llu\n",
				key, info->policy.threshold, (unsigned long long)(info->policy.retention_s / 86400),
				(unsigned long long)ctx.nrules);
		lgfs_buf_put(&out, ctx.rules.data, ctx.rules.len);
		lgfs_buf_printf(&out, "legal holds: %llu\n", (unsigned long long)ctx.nholds);
		lgfs_buf_put(&out, ctx.holds.data, ctx.holds.len);
	}
	if (lgfs_buf_ok(&out))
		rc = cli_fail("out of memory");
	else if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len)
		rc = cli_fail("writing output: %s", strerror(errno));
	else if (fflush(stdout))
		rc = cli_fail("writing output: %s", strerror(errno));
done:
	lgfs_buf_free(&out);
	lgfs_buf_free(&ctx.rules);
	lgfs_buf_free(&ctx.holds);
	lgfs_fs_close(fs);
	return rc ? 1 : 0;
}
