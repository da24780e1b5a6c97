#!/bin/sh
# Runs every unit test binary and integration script; prints one summary line
# "N passed, N failed". Unit tests are cmocka binaries (build/tests/*/test_*);
# integration scripts (tests/integration/*.sh) print "ok - NAME" / "not ok - NAME"
# per check. A binary or script that crashes or prints no result counts as failed.
BUILD=${BUILD:-build}
export LEDGERFS_BIN="$PWD/$BUILD/ledgerfs"
export LEDGERFS_BUILD="$PWD/$BUILD"
pass=0
fail=0
failed_names=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() { # $1 = name, $2 = exit status; reads $log
	p=$(grep -E '^\[  PASSED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}')
	f=$(grep -E '^\[  FAILED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}')
	p2=$(grep -c '^ok - ' "$log")
	f2=$(grep -c '^not ok - ' "$log")
	p=$((p + p2))
	f=$((f + f2))
	if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	pass=$((pass + p))
	fail=$((fail + f))
	if [ "$f" -ne 0 ]; then
		failed_names="$failed_names $1"
		echo "FAILED: $1 (exit $2)"
		grep -E '^\[  FAILED  \]|^\[  ERROR   \]|^not ok|ERROR|Assert|error' "$log" | head -20
	fi
}

for t in "$BUILD"/tests/*/test_*; do
	[ -x "$t" ] || continue
	echo "== $t"
	"$t" >"$log" 2>&1
	rc=$?
	cat "$log"
	count "$t" "$rc"
done

for s in tests/integration/*.sh; do
	[ -f "$s" ] || continue
	echo "== $s"
	timeout 1800 sh "$s" >"$log" 2>&1
	rc=$?
	cat "$log"
	count "$s" "$rc"
done

[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
