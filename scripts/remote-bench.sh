#!/usr/bin/env bash
# Remote-load benchmark (issue 13), one run, side by side against one
# SeaweedFS S3 gateway: Brine remote load (release build), one whole-object
# GET (obstore), download then local load, zarr-python 3 (sharded; blosc
# zstd-1 + shuffle) through its fsspec S3 store, safetensors over s3fs, and a
# single-array read; on loopback, then over a shaped link.
#
# Shaped link: `tc netem` is not in this kernel (sch_netem missing), so the
# benchmark creates a network namespace joined to the host by a veth pair
# shaped with `tc tbf` to 1 Gbit/s each way, and adds 10 ms of round trip
# with a userspace delay line (Benchmarks/python/delay_proxy.py, 5 ms each
# way) in front of SeaweedFS; the clients run inside the namespace. Needs
# root (ip netns); without it, the shaped phase is skipped and says so.
#
# The shaped phase runs the Brine rows, the whole GET, zarr over obstore and
# the single array (the s3fs rows take minutes there).
# Usage: scripts/remote-bench.sh [repeat]     (results: docs/REMOTE.md's table,
#        printed, and $BRINE_CACHE_DIR/remote-bench/results.jsonl)
# Its servers use their own state folder and ports (BRINE_SERVERS_DIR,
# BRINE_SERVERS_PORT_BASE), so the test servers are untouched; they are
# stopped at the end.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
repeat="${1:-3}"
export BRINE_CACHE_DIR="${BRINE_CACHE_DIR:-$repo/cache}"
export BRINE_SERVERS_DIR="${BRINE_BENCH_SERVERS_DIR:-$repo/.servers-bench}"
export BRINE_SERVERS_PORT_BASE="${BRINE_BENCH_PORT_BASE:-27300}"
python="${BRINE_PYTHON:-$repo/.venv/bin/python}"
work="$BRINE_CACHE_DIR/remote-bench"
out="$work/results.jsonl"
mkdir -p "$work"

"$python" -c "import zarr, obstore, s3fs, numcodecs, safetensors" 2>/dev/null \
    || "$python" -m pip install --quiet -r Benchmarks/python/remote-requirements.txt
scripts/fetch-models.sh >/dev/null

swift build -c release --product Benchmarks
bin="$(swift build -c release --show-bin-path)/Benchmarks"

ns=brinebench; veth=brbench0; proxy_pid=""
cleanup() {
    [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null || true
    ip link del "$veth" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    scripts/servers.sh stop
}
trap cleanup EXIT
scripts/servers.sh start >/dev/null
eval "$(scripts/servers.sh env)"
endpoint="$BRINE_TEST_S3_ENDPOINT"

echo "preparing datasets (MiniLM, 512 MiB 200-array model; Brine, safetensors, zarr) in $work" >&2
"$python" Benchmarks/python/remote_bench.py prepare --endpoint "$endpoint" --work "$work"
rm -f "$out"
echo "loopback run" >&2
"$python" Benchmarks/python/remote_bench.py run --endpoint "$endpoint" --work "$work" --bin "$bin" \
    --label "loopback (127.0.0.1, unshaped)" --out "$out" --repeat "$repeat"

if [ "$(id -u)" = 0 ] && ip netns add "$ns" 2>/dev/null; then
    ip link add "$veth" type veth peer name brbench1
    ip link set brbench1 netns "$ns"
    ip addr add 10.203.7.1/30 dev "$veth"; ip link set "$veth" up
    ip netns exec "$ns" ip addr add 10.203.7.2/30 dev brbench1
    ip netns exec "$ns" ip link set brbench1 up
    ip netns exec "$ns" ip link set lo up
    tc qdisc add dev "$veth" root tbf rate 1gbit burst 256kb latency 100ms
    ip netns exec "$ns" tc qdisc add dev brbench1 root tbf rate 1gbit burst 256kb latency 100ms
    proxy_port=$((BRINE_SERVERS_PORT_BASE + 40))
    "$python" Benchmarks/python/delay_proxy.py "10.203.7.1:$proxy_port" "127.0.0.1:$BRINE_TEST_S3_PORT" 5 > "$work/proxy.log" 2>&1 &
    proxy_pid=$!
    sleep 1
    echo "shaped run (1 Gbit/s tbf, 10 ms RTT)" >&2
    ip netns exec "$ns" "$python" Benchmarks/python/remote_bench.py run --endpoint "http://10.203.7.1:$proxy_port" \
        --work "$work" --bin "$bin" --label "shaped: 1 Gbit/s (tbf on a veth pair), 10 ms RTT (delay proxy)" \
        --out "$out" --repeat "$repeat" --quick
else
    echo "shaped run skipped: needs root and ip netns" >&2
fi
"$python" Benchmarks/python/remote_bench.py table --out "$out" | tee "$work/table.md"
