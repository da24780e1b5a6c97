#!/bin/bash
# What reading the past costs on a large volume. Builds a volume of
# HISTORY_RECORDS log entries (default 1 000 000: files of 100 bytes, one
# create and one write record each, 1000 per directory), then a file of
# HISTORY_BIG_MB MiB (default 1024) in two versions (the second differs in
# its first MiB), and times whole commands, medians of HISTORY_RUNS runs
# (default 5), the two sides of a ratio alternating run by run:
#   mount-at  `ledgerfs mount --at MIDDLE` until `ls` of its root answers,
#             then umount
#   mount-now the same of the current state (plain read-only mount)
#   history   `ledgerfs history` of a path with versions
#   get       `ledgerfs get` of a small file (the open alone, for scale)
#   cat-at    `ledgerfs cat --at` of the big file's first version, MiB/s
#   cat-now   `ledgerfs get` of its current version, MiB/s; and the ratio
#   inside    the history lookup and a past root listing alone, in the
#             library, after the open (bench_open history)
# and the index size per log record. Prints figures; asserts nothing.
# Scratch data in BENCH_DIR (./bench-data).
set -eu
BUILD=${BUILD:-build}
BENCH_DIR=${BENCH_DIR:-$PWD/bench-data}
N=${HISTORY_RECORDS:-1000000}
RUNS=${HISTORY_RUNS:-5}
BIG=${HISTORY_BIG_MB:-1024}
L="$PWD/$BUILD/ledgerfs"
mkdir -p "$BENCH_DIR"
dir=$(mktemp -d "$BENCH_DIR/history.XXXXXX")
mnt="$dir/mnt"
cleanup() {
	fusermount3 -u "$mnt" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$mnt"
export LEDGERFS_STORE="$dir/store" LEDGERFS_KEY="$dir/key" LEDGERFS_STATE_DIR="$dir/state"
"$L" keygen --name bench >/dev/null 2>&1
echo "== history: building a volume of $N entries and a file of $BIG MiB in two versions"
"$BUILD/bench/bench_open" make "$LEDGERFS_STORE" big "$LEDGERFS_KEY" "$N"
head -c $((BIG * 1048576)) /dev/urandom >"$dir/big.bin"
"$L" put big /big.bin <"$dir/big.bin" 2>/dev/null
n=$("$L" volumes | awk '$1 == "big" { print $2 }')
first=$((n - 1))
head -c 1048576 /dev/urandom | dd of="$dir/big.bin" conv=notrunc status=none
"$L" put big /big.bin <"$dir/big.bin" 2>/dev/null
rm -f "$dir/big.bin"
# a path with a few versions
for i in 1 2 3 4 5; do echo "version $i" | "$L" put big /d0/f0 2>/dev/null; done
total=$("$L" volumes | awk '$1 == "big" { print $2 }')
middle=$((total / 2))
sleep 3 # the verification cache takes files older than 2 s
"$L" get big /d0/f0 >/dev/null # this user's first open: the full verification, cached

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
secs() { # command...: seconds it took
	local t0 t1
	t0=$(now)
	"$@" >/dev/null 2>&1
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}
mount_ls() { # extra mount arguments...
	"$L" mount "$@" big "$mnt" && ls "$mnt" >/dev/null && "$L" umount "$mnt"
}
declare -A T
for i in $(seq "$RUNS"); do
	if [ $((i % 2)) -eq 1 ]; then # which goes first alternates: the first may find a cold cache
		T[mount_at]+="$(secs mount_ls --at "$middle") "
		T[mount_now]+="$(secs mount_ls -o ro) "
	else
		T[mount_now]+="$(secs mount_ls -o ro) "
		T[mount_at]+="$(secs mount_ls --at "$middle") "
	fi
	T[history]+="$(secs "$L" history big /d0/f0) "
	T[get]+="$(secs "$L" get big /d0/f1) "
	T[cat_at]+="$(secs "$L" cat --at "$first" big /big.bin) "
	T[cat_now]+="$(secs "$L" get big /big.bin) "
done
med() { echo "${T[$1]}" | tr ' ' '\n' | grep . | median; }
printf "%-10s %8.3f s  (log index %d of %d; median of %d)\n" mount-at "$(med mount_at)" "$middle" "$total" "$RUNS"
printf "%-10s %8.3f s\n" mount-now "$(med mount_now)"
printf "%-10s %8.3f s  (/d0/f0: %d versions)\n" history "$(med history)" \
	"$("$L" history big /d0/f0 | wc -l)"
printf "%-10s %8.3f s  (the open of a volume alone, for scale)\n" get "$(med get)"
at=$(med cat_at)
cur=$(med cat_now)
awk -v a="$at" -v c="$cur" -v m="$BIG" 'BEGIN {
	printf "%-10s %8.3f s  %7.1f MiB/s\n", "cat-at", a, m / a
	printf "%-10s %8.3f s  %7.1f MiB/s\n", "cat-now", c, m / c
	printf "%-10s %8.2f    (past / current speed)\n", "ratio", c / a
}'
printf "%-10s " inside; "$BUILD/bench/bench_open" history "$LEDGERFS_STORE" big /d0/f0
idx=$(du -b "$LEDGERFS_STORE/volumes/big/index/data.mdb" | cut -f1)
awk -v b="$idx" -v n="$total" 'BEGIN { printf "%-10s %8.1f MB  %6.0f bytes per log record\n", "index", b / 1e6, b / n }'
