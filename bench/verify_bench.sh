#!/bin/bash
# What verified reading costs on a large volume: builds a volume of
# VERIFY_RECORDS log entries (default 1 000 000: files of 100 bytes, one
# create and one write record each) through the fs layer, then times, as
# whole commands, medians of VERIFY_RUNS runs (default 3):
#   get      `ledgerfs get` of one file (log verified, index trusted by the
#            digest this user's last writer left)
#   get-new  the same by a user who never opened the volume (no digest: the
#            verified log is replayed into a private index and compared)
#   mount    `ledgerfs mount` until `ls` of the root answers, then umount
#   audit    `ledgerfs audit` (entries/s as it reports them)
# Prints figures; asserts nothing. Scratch data in BENCH_DIR (./bench-data).
set -eu
BUILD=${BUILD:-build}
BENCH_DIR=${BENCH_DIR:-$PWD/bench-data}
N=${VERIFY_RECORDS:-1000000}
RUNS=${VERIFY_RUNS:-3}
L="$PWD/$BUILD/ledgerfs"
mkdir -p "$BENCH_DIR"
dir=$(mktemp -d "$BENCH_DIR/verify.XXXXXX")
mnt="$dir/mnt"
cleanup() {
	fusermount3 -u "$mnt" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$mnt"
export LEDGERFS_STORE="$dir/store" LEDGERFS_KEY="$dir/key" LEDGERFS_STATE_DIR="$dir/state"
"$L" keygen --name bench >/dev/null 2>&1
echo "== verified reading: building a volume of $N entries"
"$BUILD/bench/bench_open" make "$LEDGERFS_STORE" big "$LEDGERFS_KEY" "$N"

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() { # name, command...
	local name=$1 t0 t1 i
	shift
	for i in $(seq "$RUNS"); do
		t0=$(now)
		"$@" >/dev/null 2>&1
		t1=$(now)
		awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
	done | median | xargs printf "%-8s %8.3f s (median of $RUNS)\n" "$name"
}
get_new() {
	rm -rf "$dir/state2"
	LEDGERFS_STATE_DIR="$dir/state2" "$L" get big /d0/f0
}
mount_ls() {
	"$L" mount big "$mnt" && ls "$mnt" >/dev/null && "$L" umount "$mnt"
}
timeit get "$L" get big /d0/f0
timeit get-new get_new
timeit mount mount_ls
"$L" audit big | grep -E '^time:' | sed 's/^time: */audit    /'
