#!/bin/sh
# Install the Debian packages ledgerfs needs to build, test and run
# (as root, or through sudo when it is there). Quiet when all are present.
set -eu
PKGS="build-essential pkg-config libssl-dev openssl libfuse3-dev fuse3 liblmdb-dev lmdb-utils \
libzstd-dev libcmocka-dev fio nats-server libnats-dev attr clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "installing:$missing" >&2
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
