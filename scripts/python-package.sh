#!/usr/bin/env bash
# Installs the Python package (python/, pyproject.toml) into a fresh venv
# with pip, as a user would (`pip install ./python`), and runs its
# self-test (python/tests/test_package.py) from outside the source tree,
# so the installed copy is what gets tested. Needs python3 with venv and
# PyPI access (numpy, xxhash, lz4, zstandard). Called by scripts/test.sh.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
cp -r "$repo/python" "$work/src"
rm -rf "$work/src/build" "$work/src/"*.egg-info
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet "$work/src"
cd "$work"
"$work/venv/bin/python" "$repo/python/tests/test_package.py"
"$work/venv/bin/python" -c "import brine, sys; assert brine.__file__.startswith('$work/venv'), brine.__file__"
echo "ok: pip install ./python in a fresh venv; package self-test passed" >&2
