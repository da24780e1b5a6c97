#!/bin/sh
# test_cli_history.sh — the history commands as a user meets them: a
# workload through a mount (sed -i, an editor's save by rename, append,
# truncate, chmod, hard and symbolic links, a directory renamed, deletes, a
# tree removed), a snapshot of the live tree after every step, and then:
#   - `ls -lR --at` and `cat --at` of every step's log index equal that
#     step's snapshot (names, types, modes, link counts, sizes, targets,
#     content);
#   - `history` lists the versions of a path in order across all of it;
#     PATH@N points read the right content;
#   - `revert` brings back a deleted tree by new records; the log names the
#     paths; log filters; errors for bad points; audit is clean.
# Prints "ok - NAME" / "not ok - NAME". Bounded: every command runs under
# timeout; the mount is always taken down.
NAME=clihist
. "$(dirname "$0")/cli_harness.inc"

# The last log index: the mount's records are durable after `sync DIR`.
last_index() {
	sync "$MP"
	n=$(lg volumes | awk -v v="$VOL" '$1 == v { print $2 }')
	echo $((n - 1))
}

# The live tree as "PATH MODE NLINK SIZE TARGET SHA256" lines (size and
# content only for regular files).
snapshot_live() {
	(cd "$MP" && find . -mindepth 1 -printf '%P\t%M\t%n\t%s\t%l\n' | sort) |
		while IFS='	' read -r p m n s l; do
			case $m in
			-*) h=$(sha256sum <"$MP/$p" | cut -c1-64) ;;
			*) h=- s=- ;;
			esac
			printf '%s %s %s %s %s %s\n' "$p" "$m" "$n" "$s" "${l:--}" "$h"
		done
}

# The same lines from `ledgerfs ls -lR --at` and `ledgerfs cat --at`.
snapshot_past() {
	at=$1
	lg ls -lR --at "$at" "$VOL" | sort -k7 |
		while read -r m n _u _g s _t p arrow l; do
			case $m in
			-*) h=$(lg cat --at "$at" "$VOL" "/$p" | sha256sum | cut -c1-64) ;;
			*) h=- s=- ;;
			esac
			[ "${arrow:-}" = "->" ] || l=-
			printf '%s %s %s %s %s %s\n' "$p" "$m" "$n" "$s" "$l" "$h"
		done | sort
}

VOL=hist
mkdir -p "$MP"
lg keygen --name tester >/dev/null 2>&1 || { echo "keygen failed"; exit 1; }
lg init "$VOL" >/dev/null 2>&1 || { echo "init failed"; exit 1; }
mount_fg

steps=0
step() { # run a workload step in the mount, then snapshot it
	(cd "$MP" && sh -c "$1") || notok "workload step: $1"
	steps=$((steps + 1))
	idx=$(last_index)
	echo "$idx" >"$T/step$steps.idx"
	snapshot_live >"$T/step$steps.live"
}

step 'mkdir -p docs/inv'
step 'printf "v1\n" > docs/inv/a.txt'
step 'sed -i "s/v1/v2/" docs/inv/a.txt'
# an editor's save: the old file renamed to a backup, the new one written, the backup removed
step 'mv docs/inv/a.txt docs/inv/a.txt~ && printf "v3\n" > docs/inv/a.txt && rm docs/inv/a.txt~'
step 'printf "more\n" >> docs/inv/a.txt'
step 'truncate -s 2 docs/inv/a.txt'
step 'chmod 600 docs/inv/a.txt'
step 'ln docs/inv/a.txt docs/hard && ln -s inv/a.txt docs/sym'
step 'mv docs/inv docs/invoices'
step 'rm docs/invoices/a.txt'
step 'printf "again\n" > docs/invoices/a.txt'
step 'mkdir -p old/sub && printf "x\n" > old/sub/f && printf "y\n" > old/g && ln -s f old/sub/l'
step 'rm -r old'
umount_fg

# Every step's state, read back from the past.
i=1
bad=0
while [ $i -le $steps ]; do
	at=$(cat "$T/step$i.idx")
	snapshot_past "$at" >"$T/step$i.past"
	if ! cmp -s "$T/step$i.live" "$T/step$i.past"; then
		echo "step $i (log index $at) differs:"
		diff "$T/step$i.live" "$T/step$i.past"
		bad=1
	fi
	i=$((i + 1))
done
check "the snapshots hold the tree (not empty)" \
	[ "$(wc -l <"$T/step$((steps - 1)).past")" -ge 8 ]
check "a snapshot holds what chmod made" [ "$(grep -c -- '^docs/inv/a.txt -rw------- 2 ' "$T/step8.past")" -eq 1 ]
check "ls -lR --at and cat --at of every step equal the live tree then ($steps steps)" [ $bad -eq 0 ]

# Every log index can be listed (the states between a step's records too).
last=$(lg volumes | awk -v v="$VOL" '$1 == v { print $2 }')
i=0
bad=0
while [ $i -lt "$last" ]; do
	lg ls -R --at $i "$VOL" >/dev/null || bad=1
	i=$((i + 1))
done
check "ls -R --at every one of $last log indexes" [ $bad -eq 0 ]

# history of /docs/inv/a.txt: created, written, replaced by sed's rename,
# gone and re-created by the editor's save, appended, truncated, chmod,
# linked, then gone with its directory's rename.
lg history "$VOL" /docs/inv/a.txt >"$T/h1" 2>&1
ops=$(awk '{ print $7 }' "$T/h1" | tr '\n' ' ')
check "history lists every version in order" \
	[ "$ops" = "create write rename rename create write write truncate setattr link rename " ]
check "history marks the versions where the path names nothing" \
	[ "$(grep -c '(gone)' "$T/h1")" -eq 2 ]
v_sed=$(awk '$7 == "rename" { print $1; exit }' "$T/h1")
check "cat --at PATH@N: the content sed left" \
	[ "$(lg cat --at "/docs/inv/a.txt$v_sed" "$VOL" /docs/inv/a.txt)" = "v2" ]
check "cat --at PATH@1: the empty file at its creation" \
	[ "$(lg cat --at /docs/inv/a.txt@1 "$VOL" /docs/inv/a.txt | wc -c)" -eq 0 ]
s_v2=$(printf 'v2\n' | sha256sum | cut -c1-64)
check "history shows the SHA-256 of each version" grep -q "$s_v2" "$T/h1"
check "history names the author" grep -q " tester " "$T/h1"
lg history --json "$VOL" /docs/invoices/a.txt >"$T/h2"
check "history --json: one object per version" \
	[ "$(grep -c '^{"version":' "$T/h2")" -eq "$(wc -l <"$T/h2")" ]
check "history of the renamed path: rename, unlink, create, write" \
	[ "$(sed 's/.*"op":"\([a-z]*\)".*/\1/' "$T/h2" | tr '\n' ' ')" = "rename unlink create write " ]
lg history --follow "$VOL" /docs/hard >"$T/h3"
check "history --follow: the inode under its other names" grep -q "/docs/inv/a.txt" "$T/h3"

# reading the past: errors
out=$(lg cat --at 999999 "$VOL" /docs/hard 2>&1)
rc=$?
check "cat --at beyond the end fails clearly" sh -c "[ $rc -eq 1 ] && echo '$out' | grep -q 'beyond the end'"
out=$(lg cat --at 1990-01-01T00:00:00Z "$VOL" /docs/hard 2>&1)
rc=$?
check "a time before the volume existed is refused" \
	sh -c "[ $rc -eq 1 ] && echo '$out' | grep -q 'before the volume was created'"
out=$(lg ls --at yesterday "$VOL" 2>&1)
rc=$?
check "a point that is none is refused" sh -c "[ $rc -eq 1 ] && echo '$out' | grep -q 'not a point in history'"
lg history "$VOL" /never/was >/dev/null 2>&1
check "history of a path that never existed fails" [ $? -eq 1 ]
lg cat --at 2 "$VOL" /docs/inv/a.txt >/dev/null 2>&1
check "cat of a path that did not exist then fails" [ $? -eq 1 ]
now=$(date -u -d '+2 seconds' +%Y-%m-%dT%H:%M:%SZ)
check "cat --at a time: the state then" \
	[ "$(lg cat --at "$now" "$VOL" /docs/invoices/a.txt)" = "again" ]

# revert the removed tree /old to the step before its removal
before=$(cat "$T/step$((steps - 1)).idx")
n0=$(lg volumes | awk -v v="$VOL" '$1 == v { print $2 }')
lg revert --to "$before" "$VOL" /old 2>"$T/rv"
check "revert of a deleted directory succeeds" [ $? -eq 0 ]
n1=$(lg volumes | awk -v v="$VOL" '$1 == v { print $2 }')
check "revert appended new records" [ "$n1" -gt "$n0" ]
check "the reverted tree has its files and contents" \
	sh -c "[ \"\$('$BIN' cat '$VOL' /old/sub/f)\" = x ] && [ \"\$('$BIN' cat '$VOL' /old/g)\" = y ]"
lg ls -lR "$VOL" /old | awk '{ print $1, $5, $7, $9 }' >"$T/rv.ls"
lg ls -lR --at "$before" "$VOL" /old | awk '{ print $1, $5, $7, $9 }' >"$T/rv.was"
check "the reverted tree lists as it was" cmp -s "$T/rv.ls" "$T/rv.was"
check "the log shows the restore as new records with paths" \
	sh -c "'$BIN' log --from $n0 '$VOL' | grep -q 'mkdir /old '"
check "the old records are unchanged (the log only grew)" \
	sh -c "'$BIN' log --limit $n0 '$VOL' | tail -1 | grep -q 'rmdir /old '"

# log: paths and filters
lg log "$VOL" >"$T/log"
check "log shows a rename's old and new path" grep -q "rename /docs/inv -> /docs/invoices" "$T/log"
lg log --path /docs/inv/a.txt "$VOL" >"$T/logp"
check "log --path: the records of the path's versions" \
	[ "$(wc -l <"$T/logp")" -eq "$(wc -l <"$T/h1")" ]
lg log --since 3 --until 5 "$VOL" >"$T/logs"
check "log --since/--until by index" [ "$(awk '{ print $1 }' "$T/logs" | tr '\n' ' ')" = "3 4 5 " ]
check "log --author by name" [ "$(lg log --author tester "$VOL" | wc -l)" -eq "$(wc -l <"$T/log")" ]
check "log --author of nobody prints nothing" [ "$(lg log --author nobody "$VOL" | wc -l)" -eq 0 ]
lg log --since 2200-01-01T00:00:00Z "$VOL" >"$T/logf" 2>&1
check "log --since a future time prints nothing" [ ! -s "$T/logf" ]

# the whole of it audits clean
check "audit passes after history, reverts and all" sh -c "'$BIN' audit '$VOL' >/dev/null 2>&1"

[ $fails -eq 0 ]
