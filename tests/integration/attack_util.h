/*
 * attack_util.h — harness of the attack tests: a private scratch store, key
 * and state directory per test (LEDGERFS_STORE, LEDGERFS_KEY and
 * LEDGERFS_STATE_DIR point into it), the ledgerfs command and the forge tool
 * run bounded in time, a hash of every file of a store, the first finding
 * of `audit --json`, a FUSE mount as a child process killed by its pid, and
 * the checks every attack must pass: (a) audit names the entry, (b) `get`
 * serves no wrong bytes, (c) nor does a mount, (d) the writer refuses,
 * (e) read-only commands leave the store byte-identical.
 *
 * A check that fails does not stop the test: it is collected, and the test
 * fails at its end listing every failed check, so one run shows which of
 * the properties hold. Header-only (static functions), like mount_util.h.
 */
#ifndef LGFS_TEST_ATTACK_UTIL_H
#define LGFS_TEST_ATTACK_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ledgerfs/hash.h"

#define AV_VOL "v"

struct av {
	char dir[64];        /* scratch root */
	char store[128];     /* LEDGERFS_STORE */
	char key[128];       /* LEDGERFS_KEY */
	char state[128];     /* LEDGERFS_STATE_DIR: the user's pinned checkpoints */
	char mp[128];        /* mount point */
	char vdir[192];      /* store/volumes/v */
	char vkey[256];      /* verifier key of the signing key */
	pid_t pid;           /* `ledgerfs mount -f` child, 0 when none */
	char *errs;          /* failed checks, one per line (owned) */
	size_t nerrs;
};

/* Output of one command. */
struct av_out {
	char *data;  /* NUL-terminated (owned) */
	size_t len;
	int rc;      /* exit status, -1 when killed or not run */
};

static inline void av_out_free(struct av_out *o)
{
	free(o->data);
	memset(o, 0, sizeof(*o));
}

static inline const char *av_bin(void)
{
	const char *b = getenv("LEDGERFS_BIN");

	return b ? b : "build/ledgerfs";
}

static inline const char *av_forge(void)
{
	static char path[512];
	const char *b = getenv("LEDGERFS_BUILD");

	snprintf(path, sizeof(path), "%s/tests/tools/lgfs_forge", b ? b : "build");
	return path;
}

/* Record a failed check (the test goes on). */
static inline void av_fail(struct av *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void av_fail(struct av *a, const char *fmt, ...)
{
	char line[2048];
	size_t old = a->errs ? strlen(a->errs) : 0, n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = strlen(line);
	a->errs = realloc(a->errs, old + n + 4);
	memcpy(a->errs + old, "\n  ", 3);
	memcpy(a->errs + old + 3, line, n + 1);
	a->nerrs++;
}

/* Run `sh -c CMD` bounded by 120 s (SIGKILL), stdout captured (up to
 * 256 MiB), stderr appended to DIR/stderr.log. */
static inline struct av_out av_sh(struct av *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline struct av_out av_sh(struct av *a, const char *fmt, ...)
{
	struct av_out o = { NULL, 0, -1 };
	char cmd[8192], errpath[128];
	size_t cap = 65536;
	int pfd[2], st;
	va_list ap;
	pid_t pid;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	o.data = malloc(cap);
	o.data[0] = '\0';
	if (pipe(pfd))
		return o;
	snprintf(errpath, sizeof(errpath), "%s/stderr.log", a->dir);
	pid = fork();
	if (pid == 0) {
		int efd = open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0600);

		dup2(pfd[1], 1);
		if (efd >= 0) {
			dprintf(efd, "$ %s\n", cmd);
			dup2(efd, 2);
		}
		close(pfd[0]);
		execl("/usr/bin/timeout", "timeout", "-s", "KILL", "120", "/bin/sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t n;

		if (o.len + 1 >= cap && cap < (256u << 20)) {
			cap *= 2;
			o.data = realloc(o.data, cap);
		}
		if (o.len + 1 >= cap) {
			char sink[65536];

			n = read(pfd[0], sink, sizeof(sink));
		} else {
			n = read(pfd[0], o.data + o.len, cap - 1 - o.len);
			if (n > 0)
				o.len += (size_t)n;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
	}
	o.data[o.len] = '\0';
	close(pfd[0]);
	if (pid > 0 && waitpid(pid, &st, 0) == pid)
		o.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return o;
}

/* Exit status only. */
static inline int av_rc(struct av *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int av_rc(struct av *a, const char *fmt, ...)
{
	char cmd[8192];
	struct av_out o;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	o = av_sh(a, "%s", cmd);
	rc = o.rc;
	av_out_free(&o);
	return rc;
}

static inline void av_env(struct av *a)
{
	setenv("LEDGERFS_STORE", a->store, 1);
	setenv("LEDGERFS_KEY", a->key, 1);
	setenv("LEDGERFS_STATE_DIR", a->state, 1);
}

static inline int av_write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return -1;
	if (fwrite(p, 1, n, f) != n) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

static inline uint8_t *av_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long n;

	*len = 0;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	if (p)
		*len = (size_t)n;
	return p;
}

/* Scratch dir, key, empty state dir, volume "v"; 0 on success. */
static inline int av_setup(struct av *a)
{
	struct av_out o;
	char *nl;

	memset(a, 0, sizeof(*a));
	strcpy(a->dir, "/tmp/lgfs-atk-XXXXXX");
	if (!mkdtemp(a->dir))
		return -1;
	snprintf(a->store, sizeof(a->store), "%s/store", a->dir);
	snprintf(a->key, sizeof(a->key), "%s/key", a->dir);
	snprintf(a->state, sizeof(a->state), "%s/state", a->dir);
	snprintf(a->mp, sizeof(a->mp), "%s/mnt", a->dir);
	snprintf(a->vdir, sizeof(a->vdir), "%s/volumes/%s", a->store, AV_VOL);
	if (mkdir(a->mp, 0755) || mkdir(a->state, 0700))
		return -1;
	av_env(a);
	if (av_rc(a, "%s keygen --out %s --name attack-test", av_bin(), a->key) != 0)
		return -1;
	o = av_sh(a, "%s key show --key %s", av_bin(), a->key);
	if (o.rc != 0) {
		av_out_free(&o);
		return -1;
	}
	snprintf(a->vkey, sizeof(a->vkey), "%s", o.data);
	av_out_free(&o);
	if ((nl = strchr(a->vkey, '\n')))
		*nl = '\0';
	return av_rc(a, "%s init %s", av_bin(), AV_VOL) == 0 ? 0 : -1;
}

/* Store `len` bytes at PATH of volume v with `ledgerfs put`. */
static inline int av_put(struct av *a, const char *path, const char *content)
{
	char src[128];

	snprintf(src, sizeof(src), "%s/put.src", a->dir);
	if (av_write_file(src, content, strlen(content)))
		return -1;
	return av_rc(a, "%s put %s %s %s", av_bin(), AV_VOL, path, src);
}

/* ---- whole-store hash: every file (lock files, derived files, sidecars
 * included), its path, type, size and bytes ---- */

struct av_tree {
	char **lines; /* "path type size sha256", sorted */
	size_t n, cap;
};

static struct av_tree *av_tree_cur;
static size_t av_tree_root_len;

static inline int av_tree_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	char hex[65] = "-", line[4400];
	struct av_tree *t = av_tree_cur;

	(void)ftw;
	if (type == FTW_F) {
		size_t len;
		uint8_t *p = av_slurp(path, &len), h[32];

		if (p) {
			lgfs_sha256(h, p, len);
			lgfs_hex(hex, h, 32);
			free(p);
		} else {
			strcpy(hex, "unreadable");
		}
	}
	snprintf(line, sizeof(line), "%s %c %lld %s", path + av_tree_root_len,
		 type == FTW_F ? 'f' : type == FTW_D ? 'd' : type == FTW_SL ? 'l' : '?',
		 type == FTW_D ? 0LL : (long long)sb->st_size, hex);
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->lines = realloc(t->lines, t->cap * sizeof(char *));
	}
	t->lines[t->n++] = strdup(line);
	return 0;
}

static inline int av_cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static inline void av_tree_hash(struct av_tree *t, const char *root)
{
	memset(t, 0, sizeof(*t));
	av_tree_cur = t;
	av_tree_root_len = strlen(root);
	nftw(root, av_tree_cb, 32, FTW_PHYS);
	qsort(t->lines, t->n, sizeof(char *), av_cmp_str);
}

static inline void av_tree_free(struct av_tree *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->lines[i]);
	free(t->lines);
	memset(t, 0, sizeof(*t));
}

/* Keep only the lines that contain `part` (e.g. the log's segments). */
static inline void av_tree_keep(struct av_tree *t, const char *part)
{
	size_t i, n = 0;

	for (i = 0; i < t->n; i++) {
		if (strstr(t->lines[i], part))
			t->lines[n++] = t->lines[i];
		else
			free(t->lines[i]);
	}
	t->n = n;
}

/* Report every difference (as "what: changed ..."); 0 when identical. */
static inline int av_tree_diff(struct av *a, const struct av_tree *x, const struct av_tree *y, const char *what)
{
	size_t i = 0, j = 0;
	int diffs = 0;

	while (i < x->n || j < y->n) {
		int c = i == x->n ? 1 : j == y->n ? -1 : strcmp(x->lines[i], y->lines[j]);

		if (c == 0) {
			i++;
			j++;
			continue;
		}
		if (diffs++ < 6)
			av_fail(a, "(e) %s changed the store: %s %s", what, c < 0 ? "before:" : "after: ",
				c < 0 ? x->lines[i] : y->lines[j]);
		if (c < 0)
			i++;
		else
			j++;
	}
	return diffs;
}

/* ---- the first finding of `audit --json` ---- */

struct av_finding {
	int ok;                /* "ok" field: 1 true, 0 false, -1 absent */
	long long first_bad;   /* first_bad_index, -1 when null or absent */
	int nfindings;         /* findings in the array */
	long long index;       /* findings[0].index, -1 when null */
	char kind[64];
	char message[1024];
	char path[512];        /* findings[0].path when the report has one */
};

/* A JSON string at *p (after its opening quote) into out; moves *p past it. */
static inline void av_json_str(const char **p, char *out, size_t cap)
{
	size_t n = 0;
	const char *s = *p;

	while (*s && *s != '"') {
		char c = *s++;

		if (c == '\\' && *s) {
			c = *s++;
			if (c == 'n')
				c = '\n';
			else if (c == 'u') {
				c = '?';
				s += strspn(s, "0123456789abcdefABCDEF") >= 4 ? 4 : 0;
			}
		}
		if (out && n + 1 < cap)
			out[n++] = c;
	}
	if (out && cap)
		out[n] = '\0';
	*p = *s ? s + 1 : s;
}

/* Skip one JSON value at *p. */
static inline void av_json_skip(const char **p)
{
	const char *s = *p;
	int depth = 0;

	do {
		if (*s == '"') {
			s++;
			av_json_str(&s, NULL, 0);
			continue;
		}
		if (*s == '{' || *s == '[')
			depth++;
		else if (*s == '}' || *s == ']')
			depth--;
		else if (depth == 0 && (*s == ',' || !*s))
			break;
		if (!*s)
			break;
		s++;
	} while (depth > 0 || (*s != ',' && *s != '}' && *s != ']' && *s));
	*p = s;
}

static inline void av_parse_audit(const char *json, struct av_finding *f)
{
	const char *p;

	memset(f, 0, sizeof(*f));
	f->ok = -1;
	f->first_bad = -1;
	f->index = -1;
	if ((p = strstr(json, "\"ok\":")))
		f->ok = !strncmp(p + 5, "true", 4) ? 1 : !strncmp(p + 5, "false", 5) ? 0 : -1;
	if ((p = strstr(json, "\"first_bad_index\":")) && p[18] != 'n')
		f->first_bad = strtoll(p + 18, NULL, 10);
	p = strstr(json, "\"findings\":[");
	if (!p)
		return;
	p += 12;
	while (*p == '{') {
		int first = f->nfindings == 0;

		p++;
		while (*p == '"') {
			char key[64];

			p++;
			av_json_str(&p, key, sizeof(key));
			if (*p == ':')
				p++;
			if (first && !strcmp(key, "index") && *p != 'n')
				f->index = strtoll(p, NULL, 10);
			if (first && *p == '"' && (!strcmp(key, "kind") || !strcmp(key, "message") || !strcmp(key, "path"))) {
				p++;
				av_json_str(&p, !strcmp(key, "kind") ? f->kind : !strcmp(key, "message") ? f->message : f->path,
					    !strcmp(key, "kind") ? sizeof(f->kind) : !strcmp(key, "message") ? sizeof(f->message)
													 : sizeof(f->path));
			} else {
				av_json_skip(&p);
			}
			if (*p == ',')
				p++;
		}
		if (*p == '}')
			p++;
		f->nfindings++;
		if (*p == ',')
			p++;
		else
			break;
	}
}

/* ---- mounts ---- */

static inline int av_is_mounted(const char *mp)
{
	char line[4096], want[300];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int found = 0;

	if (!f)
		return 0;
	snprintf(want, sizeof(want), " %s ", mp);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, want)) {
			found = 1;
			break;
		}
	fclose(f);
	return found;
}

/* `ledgerfs mount -f [extra] v MP` as a child; 0 once mounted, -1 when the
 * mount was refused (the child exited) or did not appear within 15 s. */
static inline int av_mount(struct av *a, const char *extra)
{
	char errpath[128];
	int i;

	snprintf(errpath, sizeof(errpath), "%s/mount.err", a->dir);
	a->pid = fork();
	if (a->pid < 0) {
		a->pid = 0;
		return -1;
	}
	if (a->pid == 0) {
		char cmd[1024];
		int efd = open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (efd >= 0) {
			dup2(efd, 2);
			dup2(efd, 1);
		}
		snprintf(cmd, sizeof(cmd), "exec %s mount -f %s %s %s", av_bin(), extra, AV_VOL, a->mp);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 1500; i++) {
		int st;

		if (av_is_mounted(a->mp))
			return 0;
		if (waitpid(a->pid, &st, WNOHANG) == a->pid) {
			a->pid = 0;
			return -1;
		}
		usleep(10000);
	}
	return -1;
}

/* Unmount and wait for the daemon by its pid (≤ 60 s, then SIGKILL). */
static inline void av_umount(struct av *a)
{
	int st, i;

	if (av_is_mounted(a->mp))
		av_rc(a, "fusermount3 -u %s", a->mp);
	if (a->pid) {
		for (i = 0; i < 6000; i++) {
			if (waitpid(a->pid, &st, WNOHANG) == a->pid) {
				a->pid = 0;
				break;
			}
			usleep(10000);
		}
		if (a->pid) {
			kill(a->pid, SIGKILL);
			waitpid(a->pid, &st, 0);
			a->pid = 0;
		}
	}
	if (av_is_mounted(a->mp))
		av_rc(a, "fusermount3 -uz %s", a->mp);
}

static inline void av_kill9(struct av *a)
{
	int st;

	if (a->pid) {
		kill(a->pid, SIGKILL);
		waitpid(a->pid, &st, 0);
		a->pid = 0;
	}
	if (av_is_mounted(a->mp))
		av_rc(a, "fusermount3 -uz %s", a->mp);
}

/* Unmount, kill what is left by its pid, remove the scratch dir (a test
 * fixture's teardown: runs even when an assertion stopped the test). */
static inline void av_cleanup(struct av *a)
{
	av_umount(a);
	if (a->dir[0] && getenv("LGFS_ATTACK_KEEP"))
		fprintf(stderr, "kept %s\n", a->dir);
	else if (a->dir[0])
		av_rc(a, "rm -rf %s", a->dir);
	free(a->errs);
	a->errs = NULL;
	a->dir[0] = '\0';
}

/* End of a test: fail it listing every failed check. */
static inline void av_done(struct av *a)
{
	if (a->errs) {
		fprintf(stderr, "%zu failed checks:%s\n", a->nerrs, a->errs);
		fail_msg("%zu failed checks (listed above)", a->nerrs);
	}
}

#endif
