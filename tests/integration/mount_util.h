/*
 * mount_util.h — shared harness of the mounted-volume integration tests:
 * a scratch store and key, `ledgerfs mount -f` as a child process, readiness
 * by /proc/self/mountinfo, unmount, and running the ledgerfs command.
 * Everything is bounded in time. Header-only (static functions) so each
 * test binary stays one file.
 */
#ifndef LGFS_TEST_MOUNT_UTIL_H
#define LGFS_TEST_MOUNT_UTIL_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct mnt {
	char dir[64];       /* scratch: store, key, mount point */
	char store[128];
	char key[128];
	char mp[128];       /* mount point */
	char vol[32];
	pid_t pid;          /* the `ledgerfs mount -f` child, 0 when not mounted */
};

static inline const char *mu_bin(void)
{
	const char *b = getenv("LEDGERFS_BIN");

	return b ? b : "build/ledgerfs";
}

static inline const char *mu_build(void)
{
	const char *b = getenv("LEDGERFS_BUILD");

	return b ? b : "build";
}

/* Run a shell command line, capture up to cap-1 bytes of stdout (out may be
 * NULL), bounded by `timeout`; returns the exit status (-1 if killed). */
static inline int mu_run(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline int mu_run(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[4096], wrapped[4300];
	va_list ap;
	FILE *p;
	size_t n = 0;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(wrapped, sizeof(wrapped), "timeout 300 sh -c '%s'", cmd);
	p = popen(wrapped, "r");
	if (!p)
		return -1;
	if (out && cap) {
		n = fread(out, 1, cap - 1, p);
		out[n] = '\0';
	} else {
		char sink[4096];

		while (fread(sink, 1, sizeof(sink), p) > 0)
			;
	}
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline int mu_is_mounted(const char *mp)
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

/* Scratch store with a key and an initialised volume; 0 on success. */
static inline int mu_setup(struct mnt *m, const char *vol)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->dir, "/tmp/lgfs-mnt-XXXXXX");
	if (!mkdtemp(m->dir))
		return -1;
	snprintf(m->store, sizeof(m->store), "%s/store", m->dir);
	snprintf(m->key, sizeof(m->key), "%s/key", m->dir);
	snprintf(m->mp, sizeof(m->mp), "%s/mnt", m->dir);
	snprintf(m->vol, sizeof(m->vol), "%s", vol);
	if (mkdir(m->mp, 0755))
		return -1;
	if (mu_run(NULL, 0, "%s keygen --out %s --name test 2>/dev/null", mu_bin(), m->key) != 0)
		return -1;
	return mu_run(NULL, 0, "%s init --store %s --key %s %s >/dev/null 2>&1", mu_bin(), m->store, m->key, vol);
}

/* Mount (extra: "" or e.g. "-o ro"); waits until mounted, ≤ 10 s. */
static inline int mu_mount(struct mnt *m, const char *extra)
{
	int i;

	m->pid = fork();
	if (m->pid < 0)
		return -1;
	if (m->pid == 0) {
		char cmd[1024];

		snprintf(cmd, sizeof(cmd), "exec %s mount -f --store %s --key %s %s %s %s", mu_bin(), m->store, m->key,
			 extra, m->vol, m->mp);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 1000; i++) {
		int st;

		if (mu_is_mounted(m->mp))
			return 0;
		if (waitpid(m->pid, &st, WNOHANG) == m->pid) {
			m->pid = 0;
			return -1;
		}
		usleep(10000);
	}
	return -1;
}

/* Unmount and wait for the daemon (≤ 60 s); 0 when it exited cleanly. */
static inline int mu_umount(struct mnt *m)
{
	int st = 0, i;

	if (!m->pid)
		return 0;
	mu_run(NULL, 0, "fusermount3 -u %s 2>/dev/null", m->mp);
	for (i = 0; i < 6000; i++) {
		if (waitpid(m->pid, &st, WNOHANG) == m->pid) {
			m->pid = 0;
			return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
		}
		usleep(10000);
	}
	kill(m->pid, SIGKILL);
	waitpid(m->pid, &st, 0);
	m->pid = 0;
	mu_run(NULL, 0, "fusermount3 -uz %s 2>/dev/null", m->mp);
	return -1;
}

/* kill -9 the daemon and clear the dead mount point. */
static inline void mu_kill9(struct mnt *m)
{
	int st;

	if (!m->pid)
		return;
	kill(m->pid, SIGKILL);
	waitpid(m->pid, &st, 0);
	m->pid = 0;
	mu_run(NULL, 0, "fusermount3 -uz %s 2>/dev/null", m->mp);
}

/* Unmount (forcefully if need be) and remove the scratch directory. */
static inline void mu_teardown(struct mnt *m)
{
	if (m->pid && mu_umount(m))
		mu_kill9(m);
	if (mu_is_mounted(m->mp))
		mu_run(NULL, 0, "fusermount3 -uz %s 2>/dev/null", m->mp);
	if (m->dir[0])
		mu_run(NULL, 0, "rm -rf %s", m->dir);
}

/* A path inside the mount. */
static inline const char *mu_path(struct mnt *m, const char *rel, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s", m->mp, rel);
	return buf;
}

#endif
