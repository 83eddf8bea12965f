#!/usr/bin/env bash
# A/B of the writer's and loader's I/O strategies (issue 12) in one run, variants
# interleaved: A = all switched off (--no-preallocate --no-background-release
# --no-defer --no-pack), B = the defaults. Per round and dataset: one
# `Benchmarks io --runs 5 --baselines --ops save overwrite load` per variant and
# two fresh-process loads (`Benchmarks io-load`) per variant. Prints medians of
# the per-invocation medians and the minima, A vs B.
# Usage: scripts/ab-io.sh [ROUNDS] [SAFETENSORS...] (default 3 rounds; MiniLM and
# the 512 MiB 200-array input of compare.py in .bench-data/inputs).
# Needs: swift build -c release --product Benchmarks; python3.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$repo/.build/release/Benchmarks"
rounds="${1:-3}"
shift || true
inputs=("$@")
if [ ${#inputs[@]} = 0 ]; then
    inputs=("${BRINE_CACHE_DIR:-$repo/cache}/models/all-MiniLM-L6-v2/model.safetensors"
            "$repo/.bench-data/inputs/model200-536870912-v1.safetensors")
fi
work="$(mktemp -d "$repo/.bench-data/ab-XXXXXX")"
trap 'rm -rf "$work"' EXIT
off=(--no-preallocate --no-background-release --no-defer --no-pack)
for i in $(seq 1 "$rounds"); do
    for k in "${!inputs[@]}"; do
        in="${inputs[$k]}"
        "$bin" io --input "$in" --dir "$work" --runs 5 --baselines --ops save overwrite load "${off[@]}" \
            --keep-file "$work/$k.brine" > "$work/$k-A-$i.json"
        "$bin" io --input "$in" --dir "$work" --runs 5 --baselines --ops save overwrite load > "$work/$k-B-$i.json"
        for _ in 1 2; do
            echo "$k A $("$bin" io-load --file "$work/$k.brine" --no-pack)" >> "$work/fresh.txt"
            echo "$k B $("$bin" io-load --file "$work/$k.brine")" >> "$work/fresh.txt"
        done
    done
done
python3 - "$work" "${inputs[@]}" <<'PY'
import collections, glob, json, os, statistics as st, sys
work, inputs = sys.argv[1], sys.argv[2:]
rows = collections.defaultdict(list)
for f in glob.glob(f"{work}/*-[AB]-*.json"):
    k, v, _ = os.path.basename(f).split("-")
    for r in json.load(open(f))["results"]:
        rows[(int(k), r["op"], v)].append((r["medianSeconds"] * 1e3, r["minSeconds"] * 1e3))
for line in open(f"{work}/fresh.txt"):
    k, v, j = line.split(" ", 2)
    s = json.loads(j)["seconds"] * 1e3
    rows[(int(k), "load, fresh process", v)].append((s, s))
print("| input | op | A median | A min | B median | B min | B faster (median, min/min) |")
print("|:--|:--|--:|--:|--:|--:|--:|")
for k, op in sorted({(k, op) for k, op, _ in rows}):
    a, b = rows.get((k, op, "A")), rows.get((k, op, "B"))
    if not a or not b:
        continue
    am, bm = st.median(x[0] for x in a), st.median(x[0] for x in b)
    an, bn = min(x[1] for x in a), min(x[1] for x in b)
    print(f"| {os.path.basename(inputs[k])} | {op} | {am:.1f} ms | {an:.1f} ms | {bm:.1f} ms | {bn:.1f} ms | {am / bm:.2f}×, {an / bn:.2f}× |")
PY
