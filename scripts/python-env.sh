#!/usr/bin/env bash
# Creates or updates the Python virtual environment used by the interop oracle
# tests and by python/brine_reader.py: <repo>/.venv (ignored by git), with
#   numpy, safetensors  - the reference libraries (test oracles),
#   lz4, zstandard      - decompressing Brine chunks in python/brine_reader.py,
#   xxhash              - verifying Brine checksums (XXH3-64),
#   wheel               - building python/ (the brine package) without network in the tests,
#   ml_dtypes           - NumPy's bfloat16, to test the brine package's bfloat16 arrays.
#   joblib, scikit-learn - the pickle/joblib oracle tests (PickleOracleTests).
# Usage: scripts/python-env.sh            (then: swift test --filter Interop)
# The Swift tests find the interpreter via $BRINE_PYTHON or <repo>/.venv/bin/python.
# Needs python3 (3.9 or later) with the venv module, and PyPI access.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv" >&2
    "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import numpy, safetensors, lz4, zstandard, xxhash, wheel, ml_dtypes, joblib, sklearn" 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet --upgrade numpy safetensors lz4 zstandard xxhash wheel ml_dtypes joblib scikit-learn
fi
"$venv/bin/python" - <<'PY'
import numpy, safetensors, lz4, zstandard, xxhash, joblib, sklearn, sys
print(f"python {sys.version.split()[0]}: numpy {numpy.__version__}, safetensors {safetensors.__version__}, "
      f"lz4 {lz4.__version__}, zstandard {zstandard.__version__}, xxhash {xxhash.VERSION}, "
      f"joblib {joblib.__version__}, scikit-learn {sklearn.__version__}")
PY
echo "ready: $venv/bin/python" >&2
