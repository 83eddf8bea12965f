#!/usr/bin/env bash
# Builds the DocC documentation of the Brine library (Sources/Brine/Brine.docc)
# with swift-docc-plugin, warnings treated as errors (CI runs this).
# Output: .build-docc/plugins/Swift-DocC/outputs/Brine.doccarchive
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
swift package --scratch-path .build-docc generate-documentation --target Brine --warnings-as-errors "$@"
