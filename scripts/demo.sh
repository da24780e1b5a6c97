#!/bin/sh
# Demo on the embedded store, from a fresh machine: installs the Debian
# packages, builds, creates a signing key and a volume under ./demo/, and
# shows the log, the signed checkpoint and the audit.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
make -j2 >/dev/null
L="$PWD/build/ledgerfs"
DEMO="$PWD/demo"
export LEDGERFS_STORE="$DEMO/store" LEDGERFS_KEY="$DEMO/key"
mkdir -p "$DEMO"
[ -f "$LEDGERFS_KEY" ] || "$L" keygen --name demo
[ -d "$LEDGERFS_STORE/volumes/demo" ] || "$L" init demo
echo "== volumes";    "$L" volumes
echo "== log";        "$L" log demo
echo "== checkpoint"; "$L" checkpoint demo
echo "== audit";      "$L" audit demo
echo
echo "The volume lives in $LEDGERFS_STORE; your key in $LEDGERFS_KEY."
echo "Try: LEDGERFS_STORE=$LEDGERFS_STORE $L log --json demo"
