#!/usr/bin/env bash
# The test command: set-up (apt packages, real inputs, Python venv for the
# oracle tests), the Python package's install-and-test, then the whole Swift test suite. Extra arguments go to
# `swift test` (e.g. --filter Container).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
scripts/setup.sh --python
# The Python package as a user installs it: pip install ./python in a fresh venv, then its self-test.
scripts/python-package.sh
# The servers of the remote tests (nginx, SeaweedFS) on 127.0.0.1: started
# here unless already running, and then stopped when this script exits.
if scripts/servers.sh status | grep -q stopped; then
    trap 'scripts/servers.sh stop' EXIT
fi
# Assigned first: `eval "$(…)"` would hide a failed start (eval of nothing succeeds).
server_env="$(scripts/servers.sh start)"
eval "$server_env"
swift build --build-tests
swift test --skip-build "$@"
