/*
 * cmd_history.c — reading the past: `ledgerfs history` (every version of a
 * path), `ledgerfs cat` (a file at a point) and `ledgerfs ls` (a directory
 * at a point) (cli layer). Everything is read through history.h from a
 * read-only, verified open of the volume; names from the store are escaped
 * for people and JSON-encoded for programs (see cmd_log.c).
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
#include "ledgerfs/record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Open VOLUME read-only and resolve --at (NULL: the latest state); on
 * failure nothing stays open. */
static int open_at(const char *storeopt, const char *vol, const char *point, struct lgfs_fs **fs, uint64_t *at)
{
	int rc = cli_open_at(storeopt, vol, point, fs, at);

	if (rc && *fs) {
		lgfs_fs_close(*fs);
		*fs = NULL;
	}
	return rc;
}

static int write_out(struct lgfs_buf *b)
{
	if (lgfs_buf_ok(b))
		return cli_fail("out of memory");
	if (b->len && fwrite(b->data, 1, b->len, stdout) != b->len)
		return cli_fail("writing output: %s", strerror(errno));
	lgfs_buf_reset(b);
	return 0;
}

static const char *type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "char-device";
	case S_IFBLK: return "block-device";
	default: return "unknown";
	}
}

/* ---- history ---- */

struct hist_ctx {
	struct lgfs_fs *fs;
	const struct lgfs_volume_info *info;
	int json;
	struct lgfs_buf out;
	uint64_t count;
};

/* The content hash as people and programs see it: an empty file's is the
 * SHA-256 of nothing; files without a whole-content hash have none (NULL). */
static const char *content_hex(const struct lgfs_path_version *v, char hex[65])
{
	static const uint8_t zero[32];
	uint8_t empty[32];

	if (!S_ISREG(v->st.mode) || !v->present)
		return NULL;
	if (!memcmp(v->sha256, zero, 32)) {
		if (v->st.size)
			return NULL;
		lgfs_sha256(empty, "", 0);
		lgfs_hex(hex, empty, 32);
		return hex;
	}
	lgfs_hex(hex, v->sha256, 32);
	return hex;
}

static int hist_cb(void *arg, const struct lgfs_path_version *v)
{
	struct hist_ctx *c = arg;
	struct lgfs_buf *b = &c->out;
	char t[48], sha[65], akey[65], ahex[65], mode[11], target[4096];
	const char *aname = cli_author_name(c->info, v->author, ahex);
	const char *h = content_hex(v, sha);
	size_t tlen = 0;
	int link = v->present && S_ISLNK(v->st.mode) &&
		   !lgfs_past_readlink(c->fs, v->index, v->st.ino, target, sizeof(target), &tlen);

	lgfs_time_format(t, sizeof(t), v->time_ns);
	c->count++;
	if (c->json) {
		lgfs_hex(akey, v->author, 32);
		lgfs_buf_printf(b, "{\"version\":%llu,\"index\":%llu,\"time\":\"%s\",\"time_ns\":%lld,\"author\":\"%s\"",
				(unsigned long long)v->n, (unsigned long long)v->index, t, (long long)v->time_ns, akey);
		if (!memcmp(v->author, c->info->founder, 32)) {
			lgfs_buf_printf(b, "%s", ",\"author_name\":");
			lgfs_json_str(b, aname, strlen(aname));
		}
		lgfs_buf_printf(b, ",\"uid\":%u,\"gid\":%u,\"op\":\"%s\",\"path\":", v->uid, v->gid, lgfs_op_name(v->op));
		lgfs_json_bytes(b, v->path, strlen(v->path));
		lgfs_buf_printf(b, ",\"present\":%s", v->present ? "true" : "false");
		if (v->present) {
			lgfs_buf_printf(b, ",\"ino\":%llu,\"type\":\"%s\",\"mode\":%u,\"nlink\":%u,\"owner_uid\":%u,"
					"\"owner_gid\":%u,\"size\":%llu,\"mtime\":\"",
					(unsigned long long)v->st.ino, type_name(v->st.mode), v->st.mode & 07777,
					v->st.nlink, v->st.uid, v->st.gid, (unsigned long long)v->st.size);
			lgfs_time_format(t, sizeof(t), v->st.mtime);
			lgfs_buf_printf(b, "%s\"", t);
			if (h)
				lgfs_buf_printf(b, ",\"sha256\":\"%s\"", h);
			if (link) {
				lgfs_buf_printf(b, "%s", ",\"target\":");
				lgfs_json_bytes(b, target, tlen);
			}
		}
		lgfs_buf_printf(b, "%s", "}\n");
	} else {
		lgfs_buf_printf(b, "@%-3llu %-7llu %s  ", (unsigned long long)v->n, (unsigned long long)v->index, t);
		lgfs_escape_buf(b, aname, strlen(aname));
		lgfs_buf_printf(b, "  uid=%u gid=%u  %-11s ", v->uid, v->gid, lgfs_op_name(v->op));
		if (v->present) {
			cli_mode_string(mode, v->st.mode);
			lgfs_buf_printf(b, "%s %10llu  %s  ", mode, (unsigned long long)v->st.size, h ? h : "-");
		} else {
			lgfs_buf_printf(b, "%s", "(gone)  ");
		}
		lgfs_escape_buf(b, v->path, strlen(v->path));
		if (link) {
			lgfs_buf_printf(b, "%s", " -> ");
			lgfs_escape_buf(b, target, tlen);
		}
		lgfs_buf_printf(b, "%s", "\n");
	}
	return write_out(b) ? 1 : 0;
}

int cmd_history(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "follow", no_argument, NULL, 'F' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	const char *storeopt = NULL, *path;
	struct hist_ctx ctx;
	int c, rc, follow = 0;
	uint64_t at;

	memset(&ctx, 0, sizeof(ctx));
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:jFh", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'j': ctx.json = 1; break;
		case 'F': follow = 1; break;
		case 'h': return cli_help("history");
		default: return cli_usage("history", "unknown option");
		}
	}
	if (argc - optind != 2)
		return cli_usage("history", argc - optind < 2 ? "missing VOLUME or PATH" : "too many arguments");
	path = argv[optind + 1];
	if (path[0] != '/')
		return cli_usage("history", "PATH must be absolute inside the volume, e.g. /invoices/2026/0001.pdf");
	if ((rc = open_at(storeopt, argv[optind], NULL, &ctx.fs, &at)))
		return rc;
	ctx.info = lgfs_ledger_info(lgfs_fs_ledger(ctx.fs));
	lgfs_error_clear();
	rc = lgfs_fs_history(ctx.fs, path, follow, hist_cb, &ctx);
	if (rc < 0)
		rc = rc == -ENOENT ? cli_fail("%s: no such path at any point in the volume's history", path)
				   : cli_fs_fail(path, rc);
	lgfs_buf_free(&ctx.out);
	lgfs_fs_close(ctx.fs);
	return rc ? 1 : 0;
}

/* ---- cat ---- */

int cmd_cat(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "at", required_argument, NULL, 'a' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	const char *storeopt = NULL, *point = NULL, *path;
	struct lgfs_past_file *f = NULL;
	struct lgfs_fs *fs;
	struct lgfs_stat st;
	uint64_t at, ino, off = 0;
	char *buf = NULL;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:a:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'a': point = optarg; break;
		case 'h': return cli_help("cat");
		default: return cli_usage("cat", "unknown option");
		}
	}
	if (argc - optind != 2)
		return cli_usage("cat", argc - optind < 2 ? "missing VOLUME or PATH" : "too many arguments");
	path = argv[optind + 1];
	if (path[0] != '/')
		return cli_usage("cat", "PATH must be absolute inside the volume");
	if ((rc = open_at(storeopt, argv[optind], point, &fs, &at)))
		return rc;
	lgfs_error_clear();
	rc = lgfs_past_resolve(fs, at, path, &ino);
	if (!rc)
		rc = lgfs_past_getattr(fs, at, ino, &st);
	if (!rc && S_ISDIR(st.mode))
		rc = -EISDIR;
	if (!rc && S_ISLNK(st.mode)) {
		char target[4096];
		size_t tlen;

		if (!(rc = lgfs_past_readlink(fs, at, ino, target, sizeof(target) - 1, &tlen))) {
			target[tlen] = '\0';
			rc = cli_fail("%s is a symbolic link (to %s) at log index %llu: cat its target", path, target,
				      (unsigned long long)at);
			goto out;
		}
	}
	if (!rc && !S_ISREG(st.mode))
		rc = -EINVAL;
	if (!rc)
		rc = lgfs_past_open(fs, at, ino, &f);
	if (rc) {
		if (rc == -ENOENT)
			rc = cli_fail("%s: no such file at log index %llu", path, (unsigned long long)at);
		else
			rc = cli_fs_fail(path, rc);
		goto out;
	}
	if (!(buf = malloc(1 << 20))) {
		rc = cli_fail("out of memory");
		goto out;
	}
	for (;;) {
		size_t got;

		if ((rc = lgfs_past_read(f, off, buf, 1 << 20, &got))) {
			rc = cli_fs_fail(path, rc);
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
	if (!rc && fflush(stdout))
		rc = cli_fail("writing output: %s", strerror(errno));
out:
	free(buf);
	if (f)
		lgfs_past_close(f);
	lgfs_fs_close(fs);
	return rc ? 1 : 0;
}

/* ---- ls ---- */

struct ls_ent {
	char *name;
	size_t len;
	struct lgfs_stat st;
};

struct ls_list {
	struct ls_ent *v;
	size_t n, cap;
	int err;
};

static int ls_collect(void *arg, const char *name, size_t len, const struct lgfs_stat *st)
{
	struct ls_list *l = arg;

	if (lgfs_grow(&l->v, &l->cap, l->n, sizeof(*l->v)))
		return l->err = -ENOMEM;
	if (!(l->v[l->n].name = malloc(len + 1)))
		return l->err = -ENOMEM;
	memcpy(l->v[l->n].name, name, len);
	l->v[l->n].name[len] = '\0';
	l->v[l->n].len = len;
	l->v[l->n].st = *st;
	l->n++;
	return 0;
}

static void ls_free(struct ls_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

struct ls_ctx {
	struct lgfs_fs *fs;
	uint64_t at;
	int longfmt, recursive;
	struct lgfs_buf out;
};

/* One line: NAME, or with -l MODE NLINK UID GID SIZE MTIME NAME[ -> TARGET]. */
static int ls_line(struct ls_ctx *c, const char *name, size_t len, const struct lgfs_stat *st)
{
	struct lgfs_buf *b = &c->out;

	if (c->longfmt) {
		char mode[11], t[48], target[4096];
		size_t tlen;

		cli_mode_string(mode, st->mode);
		lgfs_time_format(t, sizeof(t), st->mtime);
		lgfs_buf_printf(b, "%s %3u %5u %5u %12llu %s ", mode, st->nlink, st->uid, st->gid,
				(unsigned long long)st->size, t);
		lgfs_escape_buf(b, name, len);
		if (S_ISLNK(st->mode) && !lgfs_past_readlink(c->fs, c->at, st->ino, target, sizeof(target), &tlen)) {
			lgfs_buf_printf(b, "%s", " -> ");
			lgfs_escape_buf(b, target, tlen);
		}
	} else {
		lgfs_escape_buf(b, name, len);
	}
	lgfs_buf_printf(b, "%s", "\n");
	return write_out(b);
}

/* The entries of `dir` (prefix: its path relative to the listed directory,
 * "" for that one), in name order; with -R depth-first. */
static int ls_dir(struct ls_ctx *c, uint64_t dir, char *prefix, size_t plen, size_t cap)
{
	struct ls_list l = { NULL, 0, 0, 0 };
	size_t i;
	int rc;

	rc = lgfs_past_readdir(c->fs, c->at, dir, NULL, 0, ls_collect, &l);
	if (l.err)
		rc = l.err;
	if (rc) {
		ls_free(&l);
		prefix[plen] = '\0';
		return cli_fs_fail(plen ? prefix : "listing", rc < 0 ? rc : -EIO);
	}
	for (i = 0; i < l.n && !rc; i++) {
		struct ls_ent *e = &l.v[i];

		if (plen + e->len + 2 > cap) {
			prefix[plen] = '\0';
			rc = cli_fail("%s/%s: path too long", prefix, e->name);
			break;
		}
		memcpy(prefix + plen, e->name, e->len);
		prefix[plen + e->len] = '\0';
		if ((rc = ls_line(c, prefix, plen + e->len, &e->st)))
			break;
		if (c->recursive && S_ISDIR(e->st.mode)) {
			prefix[plen + e->len] = '/';
			rc = ls_dir(c, e->st.ino, prefix, plen + e->len + 1, cap);
		}
	}
	ls_free(&l);
	return rc;
}

int cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "at", required_argument, NULL, 'a' },
		{ "long", no_argument, NULL, 'l' },
		{ "recursive", no_argument, NULL, 'R' },
		CLI_OPT_HELP,
		{ NULL, 0, NULL, 0 }
	};
	const char *storeopt = NULL, *point = NULL, *path = "/";
	struct ls_ctx ctx;
	struct lgfs_stat st;
	uint64_t ino;
	char *prefix = NULL;
	int c, rc;

	memset(&ctx, 0, sizeof(ctx));
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:a:lRh", opts, NULL)) != -1) {
		switch (c) {
		case 's': storeopt = optarg; break;
		case 'a': point = optarg; break;
		case 'l': ctx.longfmt = 1; break;
		case 'R': ctx.recursive = 1; break;
		case 'h': return cli_help("ls");
		default: return cli_usage("ls", "unknown option");
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage("ls", argc - optind < 1 ? "missing VOLUME" : "too many arguments");
	if (argc - optind == 2)
		path = argv[optind + 1];
	if (path[0] != '/')
		return cli_usage("ls", "DIR must be absolute inside the volume");
	if ((rc = open_at(storeopt, argv[optind], point, &ctx.fs, &ctx.at)))
		return rc;
	lgfs_error_clear();
	rc = lgfs_past_resolve(ctx.fs, ctx.at, path, &ino);
	if (!rc)
		rc = lgfs_past_getattr(ctx.fs, ctx.at, ino, &st);
	if (rc) {
		if (rc == -ENOENT)
			rc = cli_fail("%s: no such file or directory at log index %llu", path, (unsigned long long)ctx.at);
		else
			rc = cli_fs_fail(path, rc);
	} else if (!S_ISDIR(st.mode)) {
		rc = ls_line(&ctx, path, strlen(path), &st);
	} else if (!(prefix = malloc(1 << 16))) {
		rc = cli_fail("out of memory");
	} else {
		prefix[0] = '\0';
		rc = ls_dir(&ctx, ino, prefix, 0, 1 << 16);
	}
	free(prefix);
	lgfs_buf_free(&ctx.out);
	lgfs_fs_close(ctx.fs);
	return rc ? 1 : 0;
}
