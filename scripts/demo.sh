#!/bin/sh
# Demo on the embedded store, from a fresh machine: installs the Debian
# packages, builds, creates a signing key and a volume under ./demo/, mounts
# it on ./demo/mnt, writes a few files through the mount, edits one and
# shows its versions (history, .ledgerfs), the signed log and the audit.
# The volume stays mounted for you to use:
#   cp something demo/mnt/ ; build/ledgerfs log demo ; build/ledgerfs umount demo/mnt
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
make -j2 >/dev/null
L="$PWD/build/ledgerfs"
DEMO="$PWD/demo"
MNT="$DEMO/mnt"
export LEDGERFS_STORE="$DEMO/store" LEDGERFS_KEY="$DEMO/key"
mkdir -p "$MNT"
[ -f "$LEDGERFS_KEY" ] || "$L" keygen --name demo
[ -d "$LEDGERFS_STORE/volumes/demo" ] || "$L" init demo
if ! grep -q " $MNT " /proc/self/mountinfo; then
	"$L" mount demo "$MNT"
fi
echo "== writing through the mount at $MNT"
mkdir -p "$MNT/invoices/2026"
printf 'Rechnung RE-2026-0042\nBetrag: 1190,00 EUR\n' > "$MNT/invoices/2026/RE-2026-0042.txt"
cp README.md "$MNT/README.md"
ls -la "$MNT" "$MNT/invoices/2026"
sha256sum "$MNT/invoices/2026/RE-2026-0042.txt"
# fsync of the mount's root: returns once every change so far is durable
# (the log shows durable records only; sync(2) does not reach FUSE mounts)
sync "$MNT"
echo "== every version stays readable"
sed -i 's/1190,00/1309,00/' "$MNT/invoices/2026/RE-2026-0042.txt" # an edit (sed writes a new file and renames it)
sync "$MNT"
"$L" history demo /invoices/2026/RE-2026-0042.txt
ls "$MNT/.ledgerfs/history/invoices/2026/RE-2026-0042.txt/"
echo "-- the first version, read back from the log:"
cat "$MNT/.ledgerfs/history/invoices/2026/RE-2026-0042.txt/$(ls "$MNT/.ledgerfs/history/invoices/2026/RE-2026-0042.txt/" | grep -m1 write)"
echo "== the signed log"
"$L" log demo | tail -n 8
echo "== audit"
"$L" audit demo | tail -n 3 || true
echo
echo "Mounted: $MNT (store $LEDGERFS_STORE, key $LEDGERFS_KEY)."
echo "Unmount with: $L umount $MNT"
