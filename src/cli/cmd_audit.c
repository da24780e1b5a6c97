/*
 * cmd_audit.c — `ledgerfs audit`: verify a volume and report (cli layer).
 *
 * Besides the log and the store, the audit checks the log against a
 * checkpoint kept outside the store: the one given with --trusted (checked
 * with --key), or else the user's own pin (trust.h), which a clean audit
 * then advances to the newest checkpoint it verified. The store is only
 * read; the pin lives in the user's state directory.
 */
#include "cli.h"

#include "ledgerfs/audit.h"
#include "ledgerfs/error.h"
#include "ledgerfs/escape.h"
#include "ledgerfs/fsaudit.h"
#include "ledgerfs/hash.h"
#include "ledgerfs/json.h"
#include "ledgerfs/log.h"
#include "ledgerfs/progress.h"
#include "ledgerfs/record.h"
#include "ledgerfs/trust.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
	lgfs_progress_update(arg, done, total);
}

static const char *level_name(int level)
{
	return level == LGFS_FINDING_PIN ? "pin" : level == LGFS_FINDING_LEDGER ? "ledger" : "fs";
}

/* What the run checked besides the report itself, for both outputs. */
struct extra {
	const char *index_note;  /* "" when the index was compared */
	const char *pin_label;   /* the outside checkpoint checked, or NULL */
	uint64_t pin_size;
	int saved;               /* the verified checkpoint was remembered */
};

static void print_json(const char *volume, const struct lgfs_audit_report *r, const struct extra *x)
{
	struct lgfs_buf b = LGFS_BUF_INIT;
	char root[65];
	size_t i;

	lgfs_hex(root, r->root, 32);
	lgfs_buf_put(&b, "{\"volume\":", 10);
	lgfs_json_bytes(&b, volume, strlen(volume));
	lgfs_buf_put(&b, ",\"origin\":", 10);
	lgfs_json_str(&b, r->origin, strlen(r->origin));
	lgfs_buf_printf(&b, ",\"ok\":%s,\"entries\":%llu,\"signatures\":%llu,\"withheld\":%llu,"
			    "\"checkpoints\":%llu,\"torn_bytes\":%llu,\"root\":\"%s\",\"seconds\":%.3f,",
			r->nfindings ? "false" : "true", (unsigned long long)r->entries,
			(unsigned long long)r->signatures, (unsigned long long)r->withheld,
			(unsigned long long)r->checkpoints, (unsigned long long)r->torn_bytes, root, r->seconds);
	lgfs_buf_printf(&b, "\"index_compared\":%s,\"index_note\":", x->index_note[0] ? "false" : "true");
	lgfs_json_str(&b, x->index_note, strlen(x->index_note));
	if (x->pin_label) {
		lgfs_buf_put(&b, ",\"trusted_checkpoint\":{\"label\":", 31);
		lgfs_json_str(&b, x->pin_label, strlen(x->pin_label));
		lgfs_buf_printf(&b, ",\"size\":%llu}", (unsigned long long)x->pin_size);
	}
	if (r->verified_note)
		lgfs_buf_printf(&b, ",\"verified_checkpoint_size\":%llu", (unsigned long long)r->verified_size);
	lgfs_buf_printf(&b, ",\"pinned\":%s,", x->saved ? "true" : "false");
	if (r->first_bad == LGFS_NO_INDEX)
		lgfs_buf_printf(&b, "\"first_bad_index\":null,");
	else
		lgfs_buf_printf(&b, "\"first_bad_index\":%llu,", (unsigned long long)r->first_bad);
	lgfs_buf_printf(&b, "\"findings_total\":%zu,\"findings\":[", r->nfindings);
	for (i = 0; i < r->nstored; i++) {
		const struct lgfs_finding *f = &r->findings[i];

		lgfs_buf_put(&b, i ? ",{" : "{", i ? 2 : 1);
		if (f->index == LGFS_NO_INDEX)
			lgfs_buf_printf(&b, "\"index\":null");
		else
			lgfs_buf_printf(&b, "\"index\":%llu", (unsigned long long)f->index);
		lgfs_buf_printf(&b, ",\"level\":\"%s\",\"kind\":", level_name(f->level));
		lgfs_json_str(&b, f->kind, strlen(f->kind));
		lgfs_buf_put(&b, ",\"message\":", 11);
		lgfs_json_str(&b, f->message, strlen(f->message));
		lgfs_buf_put(&b, "}", 1);
	}
	lgfs_buf_put(&b, "]}\n", 3);
	if (!lgfs_buf_ok(&b))
		fwrite(b.data, 1, b.len, stdout);
	lgfs_buf_free(&b);
}

static void print_text(const char *volume, const struct lgfs_audit_report *r, const struct extra *x)
{
	char root[65], *vol = lgfs_escape_dup(volume, strlen(volume));
	size_t i;

	lgfs_hex(root, r->root, 32);
	printf("volume:      %s\norigin:      %s\nentries:     %llu (%llu signatures good, %llu records withheld)\n"
	       "checkpoints: %llu\nroot:        %s\ntime:        %.2f s (%.0f entries/s)\n",
	       vol ? vol : "?", r->origin[0] ? r->origin : "(unknown)", (unsigned long long)r->entries,
	       (unsigned long long)r->signatures, (unsigned long long)r->withheld,
	       (unsigned long long)r->checkpoints, root, r->seconds,
	       r->seconds > 0 ? (double)r->entries / r->seconds : 0.0);
	free(vol);
	printf("index:       %s\n", x->index_note[0] ? x->index_note : "compared with the log's state");
	if (x->pin_label)
		printf("trusted:     %s (size %llu)\n", x->pin_label, (unsigned long long)x->pin_size);
	if (x->saved)
		printf("pinned:      your last verified checkpoint is now of size %llu or larger\n",
		       (unsigned long long)r->verified_size);
	if (r->torn_bytes)
		printf("note:        %llu bytes of an incomplete last write follow the log; the next writer cuts them\n",
		       (unsigned long long)r->torn_bytes);
	if (!r->nfindings) {
		printf("audit:       OK\n");
		return;
	}
	if (r->first_bad == LGFS_NO_INDEX)
		printf("audit:       FAILED (%zu findings)\n", r->nfindings);
	else
		printf("audit:       FAILED (%zu findings), first bad index %llu\n", r->nfindings,
		       (unsigned long long)r->first_bad);
	for (i = 0; i < r->nstored; i++)
		printf("  [%s] %s\n", r->findings[i].kind, r->findings[i].message);
	if (r->nstored < r->nfindings)
		printf("  ... and %zu more\n", r->nfindings - r->nstored);
}

/* ---- the checkpoint trusted from outside ---- */

/* A whole small file into a NUL-terminated string; NULL after printing. */
static char *read_small_file(const char *path, size_t max, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!fp) {
		cli_fail("%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(max + 2);
	if (!buf) {
		fclose(fp);
		cli_fail("out of memory");
		return NULL;
	}
	n = fread(buf, 1, max + 1, fp);
	if (ferror(fp) || n > max) {
		cli_fail("%s: %s", path, ferror(fp) ? "read error" : "too large for a checkpoint");
		fclose(fp);
		free(buf);
		return NULL;
	}
	fclose(fp);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* --key VKEY: the verifier key string itself, or a file holding it. */
static struct lgfs_key *load_vkey(const char *arg)
{
	struct lgfs_key *k = NULL;
	char *text;
	size_t len;

	if (lgfs_key_from_vkey(&k, arg) == 0)
		return k;
	if (access(arg, F_OK) != 0) {
		cli_fail("--key: %s", lgfs_error_last());
		return NULL;
	}
	text = read_small_file(arg, 4096, &len);
	if (!text)
		return NULL;
	while (len && isspace((unsigned char)text[len - 1]))
		text[--len] = '\0';
	if (lgfs_key_from_vkey(&k, text)) {
		cli_fail("--key %s: %s", arg, lgfs_error_last());
		k = NULL;
	}
	free(text);
	return k;
}

/* Load --trusted FILE and check its signature with --key. 0 with *cp set
 * and *sig_ok telling whether the signature verified (*why says how not),
 * 1 after printing an error (unreadable file, not a checkpoint, bad key). */
static int load_trusted(struct lgfs_checkpoint *cp, int *sig_ok, char *why, size_t cap, const char *file,
			const char *vkey)
{
	struct lgfs_note *n = NULL;
	struct lgfs_key *k;
	const char *knm;
	char *text;
	size_t len;
	int rc;

	*sig_ok = 0;
	text = read_small_file(file, LGFS_NOTE_MAX, &len);
	if (!text)
		return 1;
	if (lgfs_note_parse(&n, text, len) || lgfs_checkpoint_parse(cp, n->text, n->text_len)) {
		rc = cli_fail("--trusted %s: not a signed checkpoint: %s", file, lgfs_error_last());
		free(text);
		lgfs_note_free(n);
		return rc;
	}
	free(text);
	k = load_vkey(vkey);
	if (!k) {
		lgfs_note_free(n);
		return 1;
	}
	knm = lgfs_key_name(k);
	rc = lgfs_note_verify(n, &k, 1, NULL);
	if (rc == 0)
		*sig_ok = 1;
	else if (rc == LGFS_ENOTFOUND)
		snprintf(why, cap, "it carries no signature by the key %s", knm);
	else
		snprintf(why, cap, "its signature by the key %s does not verify", knm);
	lgfs_key_free(k);
	lgfs_note_free(n);
	return 0;
}

/* The origin the log's genesis record gives, to find the user's pin of
 * that origin when this directory has none. A hint only: the audit checks
 * the genesis record; "" when it cannot be read. */
static int genesis_cb(void *arg, const struct lgfs_log_entry *e)
{
	char *origin = arg, nm[LGFS_VOLUME_NAME_MAX + 1];
	const struct lgfs_arg *name;
	struct lgfs_envelope env;
	struct lgfs_record r;

	if (!e->record_len || lgfs_envelope_decode(&env, e->envelope, e->envelope_len) ||
	    lgfs_record_decode(&r, e->record, e->record_len) || r.op != LGFS_OP_GENESIS)
		return 0;
	name = lgfs_record_arg(&r, LGFS_F_NAME);
	if (!name || name->len > LGFS_VOLUME_NAME_MAX)
		return 0;
	memcpy(nm, name->data, name->len);
	nm[name->len] = '\0';
	if (lgfs_origin_make(origin, nm, env.commitment))
		origin[0] = '\0';
	return 0;
}

static void genesis_origin(char origin[LGFS_ORIGIN_MAX + 1], const char *dir)
{
	struct lgfs_log *log = NULL;
	char *logdir = NULL;
	uint64_t size = 0;

	origin[0] = '\0';
	if (asprintf(&logdir, "%s/log", dir) < 0)
		return;
	if (lgfs_log_open(&log, logdir, LGFS_LOG_RDONLY) == 0 && lgfs_log_size(log, &size) == 0 && size)
		lgfs_log_read(log, 0, 1, genesis_cb, origin);
	if (log)
		lgfs_log_close(log);
	free(logdir);
	lgfs_error_clear();
}

int cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "threads", required_argument, NULL, 't' },
		{ "trusted", required_argument, NULL, 'T' },
		{ "key", required_argument, NULL, 'k' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	struct lgfs_audit_opts aopts;
	struct lgfs_audit_report rep;
	struct lgfs_audit_pin pin;
	struct lgfs_trust_pin tp;
	struct lgfs_fsaudit *fsa = NULL;
	struct lgfs_progress bar;
	struct extra x = { "", NULL, 0, 0 };
	const char *storeopt = NULL, *trusted = NULL, *vkey = NULL;
	unsigned long long threads = 0;
	char *store, *dir = NULL, *label = NULL, *esc = NULL, why[160] = "";
	char origin[LGFS_ORIGIN_MAX + 1];
	int c, rc, json = 0, sig_ok = 1, have_rep = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:jt:T:k:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'j': json = 1; break;
		case 't':
			if (cli_parse_u64(optarg, &threads) || threads < 1 || threads > 64)
				return cli_usage("audit", "--threads takes 1..64");
			break;
		case 'T': trusted = optarg; break;
		case 'k': vkey = optarg; break;
		case 'h': return cli_help("audit");
		default: return cli_usage("audit", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("audit", optind >= argc ? "missing VOLUME" : "too many arguments");
	if (!trusted != !vkey)
		return cli_usage("audit", "--trusted CHECKPOINT_FILE and --key VKEY go together");
	memset(&aopts, 0, sizeof(aopts));
	memset(&tp, 0, sizeof(tp));
	memset(&pin, 0, sizeof(pin));
	store = cli_store(storeopt);
	if (!store)
		return 1;
	rc = lgfs_volume_dir(&dir, store, argv[optind]);
	free(store);
	if (rc)
		return cli_fail_lib("audit");
	if (access(dir, F_OK)) {
		rc = cli_fail("%s: no such volume (%s)", argv[optind], strerror(errno));
		goto done;
	}

	/* The checkpoint to check the log against, kept outside the store. */
	if (trusted) {
		if ((rc = load_trusted(&pin.cp, &sig_ok, why, sizeof(why), trusted, vkey)))
			goto done;
		esc = lgfs_escape_dup(trusted, strlen(trusted));
		if (!esc || asprintf(&label, "the checkpoint in %s", esc) < 0) {
			label = NULL;
			rc = cli_fail("out of memory");
			goto done;
		}
		pin.label = label;
		/* A checkpoint whose signature fails says nothing about the log. */
		aopts.npins = sig_ok ? 1 : 0;
	} else {
		genesis_origin(origin, dir);
		if (lgfs_trust_load(&tp, dir, origin[0] ? origin : NULL)) {
			rc = cli_fail("%s: your record of verified checkpoints: %s", argv[optind], lgfs_error_last());
			goto done;
		}
		pin.label = "your last verified checkpoint";
		pin.cp = tp.cp;
		aopts.npins = tp.have_cp ? 1 : 0;
	}
	aopts.pins = &pin;
	if (aopts.npins) {
		x.pin_label = pin.label;
		x.pin_size = pin.cp.size;
	}
	aopts.threads = (unsigned int)threads;
	/* the file-system half: replay every verified entry into a fresh index */
	if (lgfs_fsaudit_new(&fsa, dir)) {
		rc = cli_fail_lib(argv[optind]);
		goto done;
	}
	aopts.on_entry = lgfs_fsaudit_entry;
	aopts.entry_arg = fsa;
	lgfs_progress_start(&bar, json ? NULL : stderr, "log    ");
	aopts.progress = on_progress;
	aopts.progress_arg = &bar;
	rc = lgfs_audit_volume(&rep, dir, &aopts);
	lgfs_progress_end(&bar);
	if (!rc) {
		lgfs_progress_start(&bar, json ? NULL : stderr, "content");
		rc = lgfs_fsaudit_finish(fsa, &rep, on_progress, &bar);
		lgfs_progress_end(&bar);
		if (rc)
			lgfs_audit_report_free(&rep);
	}
	if (rc) {
		rc = cli_fail_lib(argv[optind]);
		goto done;
	}
	have_rep = 1;
	x.index_note = lgfs_fsaudit_note(fsa);
	/* Problems with the outside checkpoint itself are pin findings too. */
	rep.level = LGFS_FINDING_PIN;
	if (!sig_ok)
		lgfs_audit_add(&rep, LGFS_NO_INDEX, "trusted", "%s: %s; the log was not checked against it", label,
			       why);
	if (tp.origin[0] && !tp.have_cp && strcmp(tp.origin, rep.origin)) /* else the pin's check said it */
		lgfs_audit_add(&rep, 0, "consistency",
			       "this volume directory held origin '%s' when you verified it, now its log is '%s': "
			       "another volume's log", tp.origin, rep.origin[0] ? rep.origin : "(unknown)");

	/* A clean audit advances the user's pin (the store is not written). */
	if (!trusted && !rep.nfindings && rep.verified_note) {
		int src = lgfs_trust_save(dir, rep.verified_note);

		if (src == 0)
			x.saved = 1;
		else if (src == LGFS_ECONFLICT)
			lgfs_audit_add(&rep, 0, "consistency", "%s", lgfs_error_last());
		else if (!json)
			fprintf(stderr, "ledgerfs: cannot remember the verified checkpoint: %s\n", lgfs_error_last());
	}
	lgfs_audit_sort(&rep);
	if (lgfs_fsaudit_live(fsa) && !json)
		fprintf(stderr, "ledgerfs: %s is mounted: checked the durable log and its content; the index is "
				"compared only when no writer holds the volume\n", argv[optind]);
	if (json)
		print_json(argv[optind], &rep, &x);
	else
		print_text(argv[optind], &rep, &x);
	rc = rep.nfindings ? 1 : 0;
done:
	if (have_rep)
		lgfs_audit_report_free(&rep);
	lgfs_fsaudit_free(fsa);
	lgfs_trust_pin_free(&tp);
	free(label);
	free(esc);
	free(dir);
	return rc;
}
