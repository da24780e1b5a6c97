#!/bin/bash
# File-system benchmark: the native directory, libfuse's passthrough_ll
# example and ledgerfs, in one run, on the same disk, with the same fio jobs.
# Prints a table of medians and ratios and machine-readable lines
#   RESULT <workload> <fs> <median> <unit>
#   RESULT <workload> <fs>/<fs> <ratio>
# bench/README.md describes the workloads and how to read the figures.
#
# Run from the repository root (`make bench` calls it through bench/run.sh):
#   bash bench/fs_bench.sh
# Environment:
#   BENCH_RUNS=3          repetitions of every workload (medians are reported)
#   BENCH_DIR=./bench-data scratch space; must be on the disk under test
#   BUILD=build           where build/ledgerfs is (LEDGERFS=path overrides)
#   BENCH_FS="native passthrough ledgerfs"  which file systems (also: passthrough_wb)
#   BENCH_FS_MIB=1024     size of the sequential file in MiB (smaller only to try the script)
#   BENCH_FS_FILES=10000  number of 4 KiB files in the create and tar workloads
#   BENCH_PT_OPTS=cache=auto   mount options for passthrough_ll besides source=
#   BENCH_LEDGERFS_MOUNT_ARGS=  extra arguments for `ledgerfs mount` (before VOLUME)
#   BENCH_NO_DROP=1       do not use /proc/sys/vm/drop_caches even as root
#   BENCH_MOUNT_TIMEOUT=30 BENCH_UMOUNT_TIMEOUT=120 BENCH_TIMEOUT=900 (seconds)
#   FUSE_EXAMPLES=/usr/share/doc/libfuse3-dev/examples
set -u
export LC_ALL=C

BUILD=${BUILD:-build}
BENCH_DIR=${BENCH_DIR:-$PWD/bench-data}
RUNS=${BENCH_RUNS:-3}
FS_LIST=${BENCH_FS:-native passthrough ledgerfs}
MIB=${BENCH_FS_MIB:-1024}
NFILES=${BENCH_FS_FILES:-10000}
PT_OPTS=${BENCH_PT_OPTS:-cache=auto}
LFS_MOUNT_ARGS=${BENCH_LEDGERFS_MOUNT_ARGS:-}
MOUNT_TIMEOUT=${BENCH_MOUNT_TIMEOUT:-30}
UMOUNT_TIMEOUT=${BENCH_UMOUNT_TIMEOUT:-120}
RUN_TIMEOUT=${BENCH_TIMEOUT:-900}
EXAMPLES=${FUSE_EXAMPLES:-/usr/share/doc/libfuse3-dev/examples}
LEDGERFS=${LEDGERFS:-$BUILD/ledgerfs}
VOLUME=bench

say() { printf '%s\n' "$*" >&2; }
die() { say "fs_bench: $*"; exit 1; }

for v in RUNS MIB NFILES MOUNT_TIMEOUT UMOUNT_TIMEOUT RUN_TIMEOUT; do
	case ${!v} in '' | *[!0-9]*) die "$v must be a positive integer (got '${!v}')" ;; esac
	[ "${!v}" -gt 0 ] || die "$v must be a positive integer"
done
for t in fio cc pkg-config tar timeout fusermount3 awk sort find dd; do
	command -v "$t" >/dev/null 2>&1 || die "needs $t (Debian: fio, gcc, pkg-config, tar, coreutils, fuse3)"
done
case $LEDGERFS in /*) ;; *) LEDGERFS=$PWD/$LEDGERFS ;; esac
FIO_DIR=$(cd "$(dirname "$0")" && pwd -P)/fio
for j in seqwrite seqread-cold seqread-warm; do
	[ -r "$FIO_DIR/$j.fio" ] || die "missing $FIO_DIR/$j.fio"
done

mkdir -p "$BENCH_DIR" || die "cannot create $BENCH_DIR"
W=$(mktemp -d "$BENCH_DIR/fs.XXXXXX") || die "cannot create a scratch directory in $BENCH_DIR"
W=$(cd "$W" && pwd -P)
RES=$W/results
LOGS=$W/logs
mkdir -p "$LOGS"
: >"$RES"

# --- mounts: at most one FUSE mount at a time, always removed on exit -------

MP=$W/mnt          # the one mount point
MOUNTED=0          # 1 while something may be mounted on $MP
DAEMON_PID=        # the FUSE server, started in the foreground (-f) as our child
DAEMON_LOG=

# /proc/self/mountinfo escapes space, tab, newline and backslash as octal.
is_mounted() {
	local e=${1//\\/\\134}
	e=${e// /\\040}
	e=${e//$'\t'/\\011}
	e=${e//$'\n'/\\012}
	MPE=$e awk '$5 == ENVIRON["MPE"] { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# alive PID: true while the process exists and is not a zombie.
alive() {
	local s
	[ -n "$1" ] || return 1
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "${s%% *}" != Z ]
}

# wait_gone PID SECONDS: true if the process ended in time.
wait_gone() {
	local i=0 n=$(($2 * 10))
	while alive "$1"; do
		[ $i -lt $n ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}

show_log() {
	[ -s "$DAEMON_LOG" ] || return 0
	say "  --- last lines of $(basename "$DAEMON_LOG"):"
	tail -n 15 "$DAEMON_LOG" | sed 's/^/  | /' >&2
}

# wait_mounted: the daemon is up when its mount is in mountinfo and answers
# stat(2). Fails if the daemon exits with an error or MOUNT_TIMEOUT passes.
wait_mounted() {
	local i=0 n=$((MOUNT_TIMEOUT * 10)) rc
	while :; do
		if is_mounted "$MP" && timeout 10 stat -f "$MP" >/dev/null 2>&1 &&
			timeout 10 stat "$MP/." >/dev/null 2>&1; then
			return 0
		fi
		if [ -n "$DAEMON_PID" ] && ! alive "$DAEMON_PID"; then
			wait "$DAEMON_PID" 2>/dev/null
			rc=$?
			if [ $rc -eq 0 ] && is_mounted "$MP"; then
				say "  note: the mount command returned with the mount in place (it daemonized);" \
					"its process cannot be waited for at unmount"
				DAEMON_PID=
				continue
			fi
			say "  mount failed: the server exited with status $rc"
			show_log
			DAEMON_PID=
			return 1
		fi
		if [ $i -ge $n ]; then
			say "  mount failed: not ready after ${MOUNT_TIMEOUT}s"
			show_log
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
}

# start_fs KIND BACKING RUN: mount KIND with its data in BACKING on $MP.
start_fs() {
	local kind=$1 backing=$2
	DAEMON_LOG=$LOGS/$kind.$3.log
	mkdir -p "$MP"
	is_mounted "$MP" && { say "  $MP is still mounted"; return 1; }
	MOUNTED=1
	case $kind in
	passthrough)
		"$PT_BIN" -f -o "source=$backing,$PT_OPTS" "$MP" </dev/null >>"$DAEMON_LOG" 2>&1 &
		;;
	passthrough_wb)
		"$PT_BIN" -f -o "source=$backing,$PT_OPTS,writeback" "$MP" </dev/null >>"$DAEMON_LOG" 2>&1 &
		;;
	ledgerfs)
		# shellcheck disable=SC2086 # LFS_MOUNT_ARGS is a list of words
		LEDGERFS_KEY=$KEY "$LEDGERFS" mount -f --store "$backing" $LFS_MOUNT_ARGS \
			"$VOLUME" "$MP" </dev/null >>"$DAEMON_LOG" 2>&1 &
		;;
	*) die "unknown file system $kind" ;;
	esac
	DAEMON_PID=$!
	if ! wait_mounted; then
		# never came up: stop it now instead of waiting for it to notice an unmount
		[ -n "$DAEMON_PID" ] && kill -TERM "$DAEMON_PID" 2>/dev/null
		stop_fs
		return 1
	fi
}

# stop_fs: unmount $MP and wait until the server has exited (so that whatever
# it does at unmount is finished before the next step). A busy mount is
# retried every second; after UMOUNT_TIMEOUT the server is killed and the
# mount detached.
stop_fs() {
	local rc=0 i=0 n=$((UMOUNT_TIMEOUT * 10)) st
	[ "$MOUNTED" = 1 ] || return 0
	while :; do
		if is_mounted "$MP"; then
			if [ $((i % 10)) -eq 0 ]; then
				timeout 30 fusermount3 -u "$MP" 2>>"$DAEMON_LOG" ||
					timeout 30 umount "$MP" 2>>"$DAEMON_LOG"
			fi
		elif ! alive "$DAEMON_PID"; then
			break
		fi
		if [ $i -ge $n ]; then
			say "  $MP not unmounted or server not gone ${UMOUNT_TIMEOUT}s after unmount; killing it"
			rc=1
			break
		fi
		sleep 0.1
		i=$((i + 1))
	done
	if [ -n "$DAEMON_PID" ]; then
		if alive "$DAEMON_PID"; then
			kill -TERM "$DAEMON_PID" 2>/dev/null
			wait_gone "$DAEMON_PID" 5 || kill -KILL "$DAEMON_PID" 2>/dev/null
		fi
		wait "$DAEMON_PID" 2>/dev/null
		st=$?
		if [ $rc -eq 0 ] && [ $st -ne 0 ]; then
			say "  server exited with status $st"
			show_log
			rc=1
		fi
	fi
	if is_mounted "$MP"; then
		say "  $MP still mounted; detaching it (lazy unmount)"
		fusermount3 -uz "$MP" 2>/dev/null || umount -l "$MP" 2>/dev/null
		rc=1
	fi
	DAEMON_PID=
	MOUNTED=0
	return $rc
}

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	trap - EXIT INT TERM HUP
	if [ "$MOUNTED" = 1 ]; then
		stop_fs || true
	fi
	if is_mounted "$MP"; then
		say "fs_bench: $MP is still mounted; leaving $W in place"
	else
		rm -rf "$W"
	fi
}
# Long-running steps run as a background child that the shell waits for:
# `wait` returns at once on a signal, so the trap can stop the child and
# unmount instead of waiting for a 1 GiB fio run to finish.
CHILD=
# run_child OUT CMD...: runs CMD with stdout and stderr to OUT; its status.
run_child() {
	local out=$1 rc
	shift
	"$@" >"$out" 2>&1 </dev/null &
	CHILD=$!
	wait "$CHILD"
	rc=$?
	CHILD=
	return $rc
}
# shellcheck disable=SC2317 # called by the trap
on_signal() {
	say "fs_bench: interrupted"
	if [ -n "$CHILD" ]; then
		kill -TERM "$CHILD" 2>/dev/null
		wait_gone "$CHILD" 10 || kill -KILL "$CHILD" 2>/dev/null
	fi
	exit 130
}
trap cleanup EXIT
trap on_signal INT TERM HUP

# passthrough_ll keeps an O_PATH descriptor open for every inode the kernel
# knows, so the two directories of NFILES files need that many descriptors
# (a FUSE server of any design may need them). Raise the limit if possible.
want_fds=$((NFILES * 4 + 4096))
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt $want_fds ]; then
	ulimit -n $want_fds 2>/dev/null || ulimit -Sn "$(ulimit -Hn)" 2>/dev/null
fi
FDS=$(ulimit -Sn)

# --- page cache ---------------------------------------------------------------

# flush DIR...: syncfs(2) on the file systems holding DIR... (not sync(2): an
# unrelated hung mount elsewhere must not hang the benchmark).
flush() {
	local d
	for d; do
		timeout -k 5 "$RUN_TIMEOUT" sync -f "$d" || say "  sync -f $d failed"
	done
}

DROP=0
if [ "${BENCH_NO_DROP:-0}" != 1 ] && [ -w /proc/sys/vm/drop_caches ] &&
	flush "$W" && (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
	DROP=1
fi

# cold_caches DIR...: flush, then drop the whole page cache (root), or else
# evict the files under DIR... one by one (posix_fadvise DONTNEED through dd).
cold_caches() {
	flush "$W" "$@"
	if [ $DROP = 1 ]; then
		echo 3 >/proc/sys/vm/drop_caches && return 0
		say "  drop_caches failed; evicting files one by one"
	fi
	local d
	for d; do
		[ -d "$d" ] || continue
		find "$d" -xdev -type f -exec dd if={} iflag=nocache count=0 status=none \; 2>/dev/null
	done
	return 0
}

# --- helpers built into the scratch directory ----------------------------------

cat >"$W/mkfiles.c" <<'EOF'
/* mkfiles DIR N SIZE SEED: creates DIR/f000000.. (O_CREAT|O_EXCL), writes SIZE
 * bytes of distinct pseudo-random data to each, closes it; prints the seconds
 * from the first open to the last close. The data is generated beforehand. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: mkfiles DIR N SIZE SEED\n");
		return 2;
	}
	long n = atol(argv[2]);
	size_t size = (size_t)atol(argv[3]);
	uint64_t x = strtoull(argv[4], NULL, 10) * 0x9E3779B97F4A7C15ull + 1;
	if (n <= 0 || size == 0)
		return 2;
	uint64_t *buf = malloc((size_t)n * size + 8);
	if (!buf) {
		perror("malloc");
		return 1;
	}
	for (size_t i = 0; i < ((size_t)n * size + 7) / 8; i++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		buf[i] = x;
	}
	if (mkdir(argv[1], 0755) != 0 && errno != EEXIST) {
		perror(argv[1]);
		return 1;
	}
	int dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		perror(argv[1]);
		return 1;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof name, "f%06ld", i);
		int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "open %s/%s: %s\n", argv[1], name, strerror(errno));
			return 1;
		}
		const char *p = (const char *)buf + (size_t)i * size;
		size_t left = size;
		while (left > 0) {
			ssize_t w = write(fd, p, left);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				fprintf(stderr, "write %s/%s: %s\n", argv[1], name, strerror(errno));
				return 1;
			}
			p += w;
			left -= (size_t)w;
		}
		if (close(fd) != 0) {
			fprintf(stderr, "close %s/%s: %s\n", argv[1], name, strerror(errno));
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.6f\n", (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
EOF
cc -O2 -Wall -o "$W/mkfiles" "$W/mkfiles.c" 2>"$LOGS/mkfiles.cc" ||
	{ cat "$LOGS/mkfiles.cc" >&2; die "cannot build the file-creation helper"; }

# passthrough_ll from libfuse's examples (Debian ships them plain or gzipped).
PT_BIN=$W/pt/passthrough_ll
PT_WHY=
build_passthrough() {
	local f
	mkdir -p "$W/pt"
	for f in passthrough_ll.c passthrough_helpers.h; do
		if [ -r "$EXAMPLES/$f" ]; then
			cp "$EXAMPLES/$f" "$W/pt/$f" || return 1
		elif [ -r "$EXAMPLES/$f.gz" ]; then
			gzip -dc "$EXAMPLES/$f.gz" >"$W/pt/$f" || return 1
		else
			PT_WHY="$EXAMPLES/$f(.gz) not found (Debian package libfuse3-dev)"
			return 1
		fi
	done
	# shellcheck disable=SC2046 # pkg-config prints several words
	if ! cc -O2 -Wall -o "$PT_BIN" "$W/pt/passthrough_ll.c" \
		$(pkg-config fuse3 --cflags --libs) >"$LOGS/passthrough.cc" 2>&1; then
		PT_WHY="build failed: $(head -n 3 "$LOGS/passthrough.cc")"
		return 1
	fi
}

# --- which file systems ---------------------------------------------------------

HAVE_PT=0 HAVE_LFS=0
KEY=$W/key
FSES=
for fs in $FS_LIST; do
	case $fs in
	native) FSES="$FSES native" ;;
	passthrough | passthrough_wb)
		if [ $HAVE_PT = 0 ] && build_passthrough; then HAVE_PT=1; fi
		if [ $HAVE_PT = 1 ]; then
			FSES="$FSES $fs"
		else
			echo "passthrough_ll: not available: ${PT_WHY:-copy failed}"
		fi
		;;
	ledgerfs)
		if [ ! -x "$LEDGERFS" ]; then
			echo "ledgerfs: mount not available ($LEDGERFS not built)"
		elif ! timeout 10 "$LEDGERFS" mount --help >/dev/null 2>&1; then
			echo "ledgerfs: mount not available ('ledgerfs mount --help' fails)"
		elif ! timeout 30 "$LEDGERFS" keygen --out "$KEY" --name fs-bench >"$LOGS/keygen" 2>&1; then
			echo "ledgerfs: mount not available (keygen failed: $(head -n 1 "$LOGS/keygen"))"
		else
			HAVE_LFS=1
			FSES="$FSES ledgerfs"
		fi
		;;
	*) die "unknown file system '$fs' in BENCH_FS (native, passthrough, passthrough_wb, ledgerfs)" ;;
	esac
done
[ -n "$FSES" ] || die "nothing to measure"

# Room for the sequential file (twice: ledgerfs keeps its own copy format) plus slack.
need_kib=$((MIB * 1024 * 2 + 512 * 1024))
avail_kib=$(df -Pk "$W" | awk 'NR == 2 { print $4 }')
[ "${avail_kib:-0}" -ge $need_kib ] ||
	die "needs $((need_kib / 1024)) MiB free in $W, has $((${avail_kib:-0} / 1024)) MiB"

# --- workloads --------------------------------------------------------------------

# The tar archive: NFILES files of 4 KiB of distinct random data, made once.
TAR=$W/files.tar
"$W/mkfiles" "$W/tarsrc" "$NFILES" 4096 424242 >/dev/null || die "cannot make the tar source"
tar -C "$W" -cf "$TAR" tarsrc || die "cannot make the tar archive"
rm -rf "$W/tarsrc"

record() { # fs workload run value
	printf '%s %s %s %s\n' "$1" "$2" "$3" "$4" >>"$RES"
}

# fio_job JOB DIR RW [extra fio options...]: runs bench/fio/JOB.fio on DIR
# and sets VAL to the MiB/s (RW: read or write, the direction to report).
VAL=
fio_job() {
	local job=$FIO_DIR/$1.fio dir=$2 rw=$3 out=$LOGS/fio.out rc
	shift 3
	VAL=
	run_child "$out" env BENCH_TARGET="$dir" BENCH_SIZE="${MIB}m" \
		timeout "$RUN_TIMEOUT" fio --minimal "$@" "$job"
	rc=$?
	# terse v3: 5 error, 6 read KiB, 9 read ms, 47 write KiB, 50 write ms
	[ $rc -eq 0 ] && VAL=$(awk -F';' -v rw="$rw" '
		/^3;/ { kib = (rw == "read") ? $6 : $47; ms = (rw == "read") ? $9 : $50; err = $5; n++ }
		END { if (n && err == 0 && ms > 0 && kib > 0) printf "%.1f\n", kib / 1024 / (ms / 1000) }' "$out")
	if [ -z "$VAL" ]; then
		say "  fio $(basename "$job") failed (status $rc):"
		tail -n 5 "$out" | sed 's/^/  | /' >&2
		return 1
	fi
}

# seq_file_ok DIR: the file written by seqwrite is there with the full size.
seq_file_ok() {
	local sz
	sz=$(stat -c %s "$1/seqfile" 2>/dev/null) || { say "  seqfile missing"; return 1; }
	[ "$sz" -eq $((MIB * 1048576)) ] || { say "  seqfile has $sz bytes, not $((MIB * 1048576))"; return 1; }
}

now() { printf '%s\n' "$EPOCHREALTIME"; }

# one_cell FS RUN: all workloads on one file system, results recorded.
FAILED=0
one_cell() {
	local fs=$1 run=$2 target backing v t0 t1
	local fail=0
	case $fs in
	native)
		backing=$W/native
		target=$backing
		mkdir -p "$target"
		;;
	passthrough*)
		backing=$W/src
		target=$MP
		mkdir -p "$backing"
		;;
	ledgerfs)
		backing=$W/store
		target=$MP
		if ! timeout 60 "$LEDGERFS" init --store "$backing" --key "$KEY" "$VOLUME" >"$LOGS/init.$run" 2>&1; then
			say "  ledgerfs init failed: $(head -n 3 "$LOGS/init.$run")"
			return 1
		fi
		;;
	esac
	cold_caches "$W"
	if [ "$target" = "$MP" ]; then start_fs "$fs" "$backing" "$run" || return 1; fi

	# 1. sequential write, final fsync included
	if fio_job seqwrite "$target" write; then
		v=$VAL
		record "$fs" seqwrite "$run" "$v"
		say "  $fs run $run: seqwrite $v MiB/s"
	else
		fail=1
	fi

	# 2. sequential read, cold: remount FUSE, drop caches; then warm: read again
	if [ $fail = 0 ]; then
		if [ "$target" = "$MP" ]; then stop_fs || fail=1; fi
		cold_caches "$backing"
		if [ $fail = 0 ] && [ "$target" = "$MP" ]; then start_fs "$fs" "$backing" "$run" || return 1; fi
	fi
	if [ $fail = 0 ] && seq_file_ok "$target"; then
		if fio_job seqread-cold "$target" read --readonly; then
			v=$VAL
			record "$fs" seqread-cold "$run" "$v"
			say "  $fs run $run: seqread-cold $v MiB/s"
		else
			fail=1
		fi
		if fio_job seqread-warm "$target" read --readonly; then
			v=$VAL
			record "$fs" seqread-warm "$run" "$v"
			say "  $fs run $run: seqread-warm $v MiB/s"
		else
			fail=1
		fi
	else
		fail=1
	fi
	flush "$target"

	# 3. NFILES x 4 KiB creates: open(O_CREAT|O_EXCL), write, close
	if run_child "$LOGS/mkfiles.out" timeout "$RUN_TIMEOUT" "$W/mkfiles" "$target/creates" "$NFILES" 4096 "$run" &&
		v=$(awk -v n="$NFILES" 'NR == 1 && $1 > 0 { printf "%.0f\n", n / $1; ok = 1 } END { exit !ok }' \
			"$LOGS/mkfiles.out"); then
		record "$fs" create4k "$run" "$v"
		say "  $fs run $run: create4k $v files/s"
	else
		say "  creates failed: $(head -n 3 "$LOGS/mkfiles.out")"
		fail=1
	fi
	flush "$target"

	# 4. tar -x of an archive of NFILES x 4 KiB files (archive read from the page cache).
	# The created files go first (not timed; a file system may refuse it), so
	# that the server need not keep 2 x NFILES inodes (passthrough_ll: open fds).
	run_child "$LOGS/rm.out" timeout "$RUN_TIMEOUT" rm -rf "$target/creates" ||
		say "  note: removing the created files failed: $(head -n 1 "$LOGS/rm.out")"
	cold_caches "$W"
	cat "$TAR" >/dev/null
	mkdir -p "$target/untar" 2>/dev/null
	t0=$(now)
	if run_child "$LOGS/tar.out" timeout "$RUN_TIMEOUT" tar -C "$target/untar" --no-same-owner -xf "$TAR"; then
		t1=$(now)
		v=$(awk -v n="$NFILES" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f\n", n / (b - a) }')
		record "$fs" tar4k "$run" "$v"
		say "  $fs run $run: tar4k $v files/s"
	else
		say "  tar -x failed: $(head -n 3 "$LOGS/tar.out")"
		fail=1
	fi

	if [ "$target" = "$MP" ]; then stop_fs || fail=1; fi
	rm -rf "$backing"
	return $fail
}

# --- run --------------------------------------------------------------------------

fstype=$(df -PT "$W" | awk 'NR == 2 { print $2 " on " $1 }')
echo "== file system ($fstype; $(nproc) CPUs; $(uname -r); $(fio --version);" \
	"libfuse $(pkg-config fuse3 --modversion))"
if [ $DROP = 1 ]; then
	echo "   cold reads: page cache dropped (/proc/sys/vm/drop_caches), FUSE mounts remounted"
else
	echo "   cold reads: no drop_caches (not root or BENCH_NO_DROP); files evicted one by one" \
		"with posix_fadvise, FUSE mounts remounted"
fi
echo "   passthrough_ll -o source=DIR,$PT_OPTS; $RUNS runs; seq file $MIB MiB; $NFILES files of 4 KiB;" \
	"open files limit $FDS"

# The order of the file systems rotates from run to run, so that none is
# always first (or always follows the same one).
read -ra FSA <<<"$FSES"
NFS=${#FSA[@]}
for run in $(seq 1 "$RUNS"); do
	order=
	for i in $(seq 0 $((NFS - 1))); do
		order="$order ${FSA[(i + run - 1) % NFS]}"
	done
	for fs in $order; do
		if ! one_cell "$fs" "$run"; then
			say "  $fs run $run: failed"
			FAILED=1
			stop_fs || true
			rm -rf "$W/native" "$W/src" "$W/store"
		fi
	done
done

# --- report -----------------------------------------------------------------------

median() { # fs workload
	awk -v f="$1" -v w="$2" '$1 == f && $2 == w { print $4 }' "$RES" | sort -g |
		awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
ratio() { # a b
	[ -n "$1" ] && [ -n "$2" ] || return 0
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f\n", a / b }'
}
short() {
	case $1 in native) echo nat ;; passthrough) echo pt ;; passthrough_wb) echo ptwb ;; ledgerfs) echo lfs ;; esac
}

PAIRS=
for a in $FSES; do
	for b in native passthrough; do
		[ "$a" != "$b" ] || continue
		case " $FSES " in *" $b "*) ;; *) continue ;; esac
		[ "$a" = native ] && continue
		PAIRS="$PAIRS $a/$b"
	done
done

echo
printf '%-13s %-7s' workload unit
for fs in $FSES; do printf ' %12s' "$fs"; done
for p in $PAIRS; do printf ' %9s' "$(short "${p%/*}")/$(short "${p#*/}")"; done
[ $HAVE_LFS = 1 ] && [ $HAVE_PT = 1 ] && printf '  goal (lfs/pt)'
printf '\n'
RESULTS=
for w in seqwrite seqread-cold seqread-warm create4k tar4k; do
	case $w in seq*) unit=MiB/s ;; *) unit=files/s ;; esac
	case $w in seqwrite | seqread-cold | seqread-warm) goal=1.0 ;; create4k) goal=0.7 ;; *) goal= ;; esac
	printf '%-13s %-7s' "$w" "$unit"
	for fs in $FSES; do
		m=$(median "$fs" "$w")
		if [ -n "$m" ]; then
			case $unit in MiB/s) m=$(printf '%.1f' "$m") ;; *) m=$(printf '%.0f' "$m") ;; esac
		fi
		printf ' %12s' "${m:-FAIL}"
		[ -n "$m" ] && RESULTS="${RESULTS}RESULT $w $fs $m $unit"$'\n'
	done
	for p in $PAIRS; do
		r=$(ratio "$(median "${p%/*}" "$w")" "$(median "${p#*/}" "$w")")
		printf ' %9s' "${r:--}"
		[ -n "$r" ] && RESULTS="${RESULTS}RESULT $w $p $r"$'\n'
	done
	if [ $HAVE_LFS = 1 ] && [ $HAVE_PT = 1 ]; then
		r=$(ratio "$(median ledgerfs "$w")" "$(median passthrough "$w")")
		if [ -z "$goal" ]; then
			printf '  -'
		elif [ -z "$r" ]; then
			printf '  >= %s ?' "$goal"
		elif awk -v r="$r" -v g="$goal" 'BEGIN { exit !(r >= g) }'; then
			printf '  >= %s met' "$goal"
		else
			printf '  >= %s MISSED' "$goal"
		fi
	fi
	printf '\n'
done
echo "(medians of $RUNS runs; higher is better; ratios are medians divided by medians)"
printf '%s' "$RESULTS"
exit $FAILED
