#!/bin/sh
# Benchmarks. Not tests: they print figures. Run from the repository root
# after `make`: `make bench`. BENCH_DIR (default: a directory under the
# repository, so it is on the same disk as the build) holds the scratch data.
set -eu
BUILD=${BUILD:-build}
BENCH_DIR=${BENCH_DIR:-$PWD/bench-data}
mkdir -p "$BENCH_DIR"
dir=$(mktemp -d "$BENCH_DIR/ledger.XXXXXX")
trap 'rm -rf "$dir"' EXIT
echo "== ledger (store on $(df -P "$dir" | awk 'NR==2 {print $1}'))"
"$BUILD/bench/bench_ledger" "$dir" "${BENCH_RECORDS:-50000}" "${BENCH_RUNS:-3}"
BUILD="$BUILD" BENCH_DIR="$BENCH_DIR" bash bench/fs_bench.sh || echo "fs_bench.sh failed (exit $?); the ledger figures above stand" >&2
BUILD="$BUILD" BENCH_DIR="$BENCH_DIR" bash bench/verify_bench.sh || echo "verify_bench.sh failed (exit $?)" >&2
BUILD="$BUILD" BENCH_DIR="$BENCH_DIR" bash bench/history_bench.sh || echo "history_bench.sh failed (exit $?)" >&2
