#!/usr/bin/env bash
# One-time (idempotent) set-up for a fresh Debian machine with Swift:
#  1. the C libraries Brine links (liblz4, libzstd, libxxhash) and pkg-config, from apt;
#  2. the real inputs (MiniLM checkpoint, digits data) into the ignored cache (scripts/fetch-models.sh);
#  3. with --python, the venv of the interop oracle tests (scripts/python-env.sh).
# Uses sudo for apt when not root. Safe to run again.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

need_apt=0
python3 -c "import venv, ensurepip" 2>/dev/null || need_apt=1
for pc in liblz4 libzstd libxxhash zlib liblzma; do
    pkg-config --exists "$pc" 2>/dev/null || need_apt=1
done
[ -f /usr/include/bzlib.h ] || need_apt=1   # libbz2-dev has no pkg-config file
if [ "$need_apt" = 1 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "installing liblz4-dev libzstd-dev libxxhash-dev zlib1g-dev libbz2-dev liblzma-dev pkg-config python3-venv (apt)…" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq liblz4-dev libzstd-dev libxxhash-dev zlib1g-dev libbz2-dev liblzma-dev pkg-config python3-venv >/dev/null
fi

scripts/fetch-models.sh >/dev/null
if [ "${1:-}" = "--python" ]; then
    scripts/python-env.sh
fi
