#!/usr/bin/env bash
# Brine side by side with joblib, pickle, NumPy, safetensors and blosc2, in one run
# (Benchmarks/python/compare.py). Steps:
#  1. a Python venv at <repo>/.venv-bench (ignored) with numpy, joblib, lz4, matplotlib,
#     safetensors, blosc2, threadpoolctl: created when missing, missing packages
#     installed; BENCH_UPGRADE=1 upgrades them to the newest PyPI releases;
#  2. set-up: system libraries and the MiniLM checkpoint (scripts/setup.sh,
#     which runs scripts/fetch-models.sh; BRINE_CACHE_DIR or <repo>/cache);
#  3. the Brine bench executable in release mode (swift build -c release --product Benchmarks);
#  4. the comparison. Arguments go to compare.py: --quick (64 MiB array, 32 MiB
#     model), --json, --json-file FILE, --runs N (>= 5), --datasets minilm,array,model,
#     --workdir DIR (synthetic inputs are written there once, default <repo>/.bench-data),
#     --fresh-runs N (processes per "load, fresh process" row, default 5), --plots-dir DIR,
#     --no-plots, --disk-runs N, --scaling-runs N. Datasets: minilm, array, model (page cache),
#     disk (4 GiB durable save and cold load, against fio, which this script installs from apt),
#     scaling (16 MiB … 4 GiB; 10 … 100,000 arrays). Charts (matplotlib) go to
#     docs/compare-<dataset>.png/.svg, compare-disk.*, compare-scaling-{size,count}.* on a full run.
# A full run takes about 30-40 minutes and needs about 14 GiB of free disk and 14 GiB of RAM;
# --datasets minilm,array,model gives the 10-15 minute page-cache comparison alone.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

venv="$repo/.venv-bench"
python="${PYTHON:-}"
if [ -z "$python" ]; then
    python="$(command -v python3.11 || command -v python3)"
fi
if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv with $("$python" --version 2>&1)…" >&2
    "$python" -m venv "$venv"
fi
packages=(numpy joblib lz4 safetensors blosc2 threadpoolctl matplotlib)
if [ "${BENCH_UPGRADE:-0}" = 1 ]; then
    "$venv/bin/python" -m pip install --quiet --upgrade "${packages[@]}"
elif ! "$venv/bin/python" -c "import numpy, joblib, lz4, safetensors, blosc2, threadpoolctl, matplotlib" 2>/dev/null; then
    echo "installing ${packages[*]} into $venv…" >&2
    "$venv/bin/python" -m pip install --quiet "${packages[@]}"
fi

scripts/setup.sh
if ! command -v fio >/dev/null; then   # the disk section's physical limit (sequential write/read on this file system)
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "installing fio (apt)…" >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq fio >/dev/null || echo "warning: fio not installed: no fio rows" >&2
fi
echo "building Benchmarks (release)…" >&2
swift build -c release --product Benchmarks >&2

exec "$venv/bin/python" Benchmarks/python/compare.py --brine-bin "$repo/.build/release/Benchmarks" "$@"
