#!/usr/bin/env bash
# Builds a libFuzzer target with AddressSanitizer and runs it for a while.
#
#   scripts/fuzz.sh TARGET SECONDS [extra libFuzzer flags…]
#   scripts/fuzz.sh FuzzContainer 1800
#
# Targets: FuzzContainer (the Brine container reader), FuzzSafetensors (the
# safetensors reader and its strict JSON parser), FuzzNumpy (the .npy and
# .npz readers), FuzzPickle (the pickle/joblib reader and its decompressors).
#
# - Build: swift build -c release --sanitize fuzzer --sanitize address
#   -Xswiftc -sanitize=fuzzer,address --product TARGET --scratch-path
#   .build-fuzz (a separate build folder, so the normal .build is not
#   rebuilt; --product is required because in fuzzer mode every executable
#   target is compiled as a library; the -Xswiftc flag is explained below).
# - Seeds: BrineTestHelper seeds TARGET writes valid files into
#   fuzz-artifacts/TARGET/seeds (and fuzz/reference_seeds.py adds files
#   written by NumPy and safetensors when .venv exists); committed regression inputs under
#   Tests/BrineTests/Fixtures/fuzz/TARGET are added as seeds too.
# - The growing corpus is fuzz-artifacts/TARGET/corpus, crashes, leaks,
#   timeouts and OOMs go to fuzz-artifacts/TARGET/crash-* etc., the log to
#   fuzz-artifacts/TARGET/fuzz-DATE.log (fuzz-artifacts/ is git-ignored).
# - Limits: -rss_limit_mb=2048, -malloc_limit_mb=1024 (any single
#   allocation above it is reported), -timeout=10 s per input, -max_len=16384.
# - Runs under `nice -n 10` with SWIFT_BACKTRACE=enable=no (otherwise the
#   Swift backtracer can keep the shell waiting after a crash) and
#   LSAN_OPTIONS suppressing the leaks listed in scripts/lsan-suppressions.txt
#   (Foundation and ZIPFoundation, not Brine).
#
# Adding a target: an executable target Sources/<Target>/<Target>.swift with
# @_cdecl("LLVMFuzzerTestOneInput"), a seed writer case in
# Tests/BrineTestHelper/main.swift, optionally fuzz/<Target>.dict.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 TARGET SECONDS [libFuzzer flags…]" >&2
    exit 2
fi
case "$1" in
    FuzzContainer|FuzzSafetensors|FuzzNumpy|FuzzPickle) ;;
    *) echo "unknown fuzz target $1 (FuzzContainer, FuzzSafetensors, FuzzNumpy, FuzzPickle)" >&2; exit 2 ;;
esac
target=$1
seconds=$2
shift 2

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
out="fuzz-artifacts/$target"
mkdir -p "$out/corpus" "$out/seeds"

echo "== building seeds for $target" >&2
nice -n 10 swift build --product BrineTestHelper >&2
"$(swift build --show-bin-path)/BrineTestHelper" seeds "$target" "$out/seeds" >&2
# Files written by the reference libraries (NumPy, safetensors), when the
# project venv exists (scripts/python-env.sh); optional.
if [ -x .venv/bin/python ]; then
    .venv/bin/python fuzz/reference_seeds.py "$target" "$out/seeds" >&2 \
        || echo "warning: no reference seeds (fuzz/reference_seeds.py failed)" >&2
fi

# SwiftPM passes `--sanitize fuzzer --sanitize address` to swiftc as two
# `-sanitize=` flags in no fixed order, and the Swift driver keeps only the
# last one: a build gets either coverage without AddressSanitizer or
# AddressSanitizer without coverage. The trailing -Xswiftc flag names both.
build=(swift build -c release --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address
       --scratch-path .build-fuzz)
echo "== building $target (release, fuzzer + address sanitizers)" >&2
nice -n 10 "${build[@]}" --product "$target" >&2
bindir="$("${build[@]}" --show-bin-path)"
bin="$bindir/$target"

# Refuse a binary that lacks either instrumentation (see above).
counters=$(SWIFT_BACKTRACE=enable=no "$bin" -runs=0 2>&1 | sed -n 's/.*(\([0-9]*\) inline 8-bit counters).*/\1/p' | head -1)
asan=$(nm "$bindir/$target.build/"*.o 2>/dev/null | grep -c '__asan_report' || true)
if [ "${counters:-0}" -lt 1000 ] || [ "${asan:-0}" -eq 0 ]; then
    echo "error: $bin has ${counters:-no} coverage counters and $asan AddressSanitizer checks in $target" >&2
    exit 3
fi
echo "== $target: $counters coverage counters, AddressSanitizer on" >&2

corpora=("$out/corpus" "$out/seeds")
fixtures="Tests/BrineTests/Fixtures/fuzz/$target"
if [ -d "$fixtures" ]; then corpora+=("$fixtures"); fi
flags=(-max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10
       -max_len=16384 -print_final_stats=1 -artifact_prefix="$out/")
if [ -f "fuzz/$target.dict" ]; then flags+=(-dict="fuzz/$target.dict"); fi

# Leaks in code that is not Brine's (see the file) are suppressed; any other
# leak is a finding.
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$repo/scripts/lsan-suppressions.txt:print_suppressions=0}"

log="$out/fuzz-$(date -u +%Y%m%dT%H%M%SZ).log"
echo "== running $target for $seconds s; log: $log" >&2
set +e
SWIFT_BACKTRACE=enable=no nice -n 10 "$bin" "${flags[@]}" "$@" "${corpora[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo "== $target exited with status $status; final stats:" >&2
grep -a -E '^#[0-9]+ +DONE|^Done [0-9]+ runs|stat::' "$log" >&2 || true
ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null >&2 || echo "no crash, leak, timeout or OOM inputs" >&2
exit "$status"
