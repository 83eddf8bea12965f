#!/usr/bin/env bash
# The main job: set-up (apt packages, the real MiniLM checkpoint), then the
# benchmark table in release mode. Extra arguments go to the benchmark
# (--quick for a smoke run, --json for machine-readable output).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
scripts/setup.sh
swift run -c release Benchmarks "$@"
