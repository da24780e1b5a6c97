#!/bin/sh
# tests/fuzz/run.sh — run the libFuzzer targets built by mk/fuzz.mk.
#
#   run.sh NAME SECONDS               fuzz one target for SECONDS on its corpus
#   run.sh --smoke SECONDS NAME...    each target: replay its committed corpus and
#                                     saved crashes, then fuzz SECONDS; one line each,
#                                     then "N passed, N failed"
#
# The committed corpus (tests/fuzz/corpus/NAME) is only read: libFuzzer
# writes new inputs to the first corpus directory it is given, which is
# $FUZZ_BUILD/corpus/NAME for a run (kept, so long runs build on each other)
# and a fresh directory for the smoke test. Crashes go to
# $FUZZ_BUILD/crashes/NAME/; the targets' scratch files to $FUZZ_BUILD/tmp/.
set -u

B=${FUZZ_BUILD:-build-fuzz}
C=tests/fuzz/corpus

# Per-target libFuzzer options: the longest input worth trying.
opts() {
	case $1 in
	pack|logfile|cpfile) echo "-max_len=65536" ;;
	manifest|linediff) echo "-max_len=16384" ;;
	*) echo "-max_len=8192" ;;
	esac
}

# fuzz NAME SECONDS WORKDIR [extra libFuzzer arguments]
fuzz() {
	name=$1 secs=$2 work=$3
	shift 3
	bin=$B/tests/fuzz/fuzz_$name
	if [ ! -x "$bin" ]; then
		echo "$bin is not built (make fuzz-build)" >&2
		return 1
	fi
	mkdir -p "$work" "$B/crashes/$name" "$B/tmp/$name" "$C/$name" || return 1
	TMPDIR=$B/tmp/$name "$bin" $(opts "$name") -max_total_time="$secs" -timeout=30 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$B/crashes/$name/" \
		${FUZZ_ARGS:-} "$@" "$work" "$C/$name"
}

# Saved crashes of NAME (tests/fuzz/crashes/NAME-*): each must now pass.
replay() {
	name=$1
	set --
	for f in tests/fuzz/crashes/"$name"-*; do
		[ -f "$f" ] && set -- "$@" "$f"
	done
	[ $# -eq 0 ] && return 0
	TMPDIR=$B/tmp/$name "$B/tests/fuzz/fuzz_$name" -timeout=30 -rss_limit_mb=2048 "$@"
}

if [ "${1:-}" = "--smoke" ]; then
	secs=${2:-8}
	shift 2
	pass=0 fail=0
	mkdir -p "$B/smoke"
	for name in "$@"; do
		log=$B/smoke/$name.log
		work=$(mktemp -d "$B/smoke/$name.XXXXXX")
		start=$(date +%s)
		if replay "$name" >"$log" 2>&1 && fuzz "$name" "$secs" "$work" >>"$log" 2>&1; then
			runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
			echo "fuzz_$name: ok ($(( $(date +%s) - start )) s, ${runs:-?} inputs)"
			pass=$((pass + 1))
		else
			echo "fuzz_$name: FAILED (log: $log)"
			grep -E 'ERROR|SUMMARY|invariant failed|harness:|Test unit written' "$log" | head -n 5 | sed 's/^/    /'
			fail=$((fail + 1))
		fi
		rm -rf "$work"
	done
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
fi

if [ $# -ne 2 ]; then
	echo "usage: $0 NAME SECONDS | --smoke SECONDS NAME..." >&2
	exit 2
fi
fuzz "$1" "$2" "$B/corpus/$1"
