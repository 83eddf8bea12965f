"""Remote loading, side by side, against one SeaweedFS S3 gateway.

Run by scripts/remote-bench.sh (which starts SeaweedFS, builds the release
`Benchmarks` binary, and sets up the shaped link). Two phases:

    remote_bench.py prepare --endpoint URL --bucket B --work DIR
        writes the datasets (MiniLM and a 512 MiB 200-array float32 model) as
        Brine (uncompressed; zstd-1 + shuffle), safetensors, and zarr v3
        (sharded; no compressor; blosc zstd-1 + shuffle), and uploads them.
    remote_bench.py run --endpoint URL --bucket B --work DIR --bin BENCHMARKS --label L --out JSON
        times every row (median of --repeat fresh runs) and appends to JSON.

Rows (per dataset and storage):
    brine remote load     `Benchmarks remote-load` (release): open + every array,
                          coalesced concurrent range requests, checksums verified
    whole-object GET      obstore.get(...).bytes(): the network's ceiling
    download + local load obstore GET to a local file, then `Benchmarks io-load`
    zarr-python 3         zarr.open_group over FsspecStore (s3fs), every array read
    safetensors (s3fs)    s3fs cat_file, then safetensors.numpy.load (uncompressed only)
    single array          brine remote-load --array (largest non-first array) vs the whole GET
"""

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
import brine_writer  # noqa: E402


def minilm_arrays(cache):
    from safetensors.numpy import load_file
    path = os.path.join(cache, "models", "all-MiniLM-L6-v2", "model.safetensors")
    return dict(load_file(path))


def synthetic_arrays(count=200, total=512 << 20, seed=7):
    """200 float32 arrays totalling about 512 MiB, log-uniform sizes (a few
    large matrices, many small vectors), values roughly normal with std 0.02
    (sum of four uniforms), as Benchmarks/Datasets.swift's synthetic model."""
    rng = np.random.default_rng(seed)
    w = 2.0 ** (rng.integers(0, 1200, count) / 100.0)
    out = {}
    for i, x in enumerate(w):
        n = max(16, int(total / 4 * x / w.sum()))
        u = rng.integers(0, 1 << 16, size=(4, n), dtype=np.int32).sum(axis=0) - 131070
        out[f"layers.{i // 4}.p{i % 4}"] = (u.astype(np.float32) * np.float32(0.02 * 1.7320508 / 32768))
    return out


def s3_store(endpoint, bucket):
    import obstore.store
    return obstore.store.S3Store(bucket, endpoint=endpoint, skip_signature=True, region="us-east-1",
                                 client_options={"allow_http": True})


def fsspec_fs(endpoint, asynchronous=False):
    import s3fs
    return s3fs.S3FileSystem(anon=True, asynchronous=asynchronous,
                             client_kwargs={"endpoint_url": endpoint, "region_name": "us-east-1"})


def zarr_store(endpoint, path, read_only):
    """zarr-python 3's fsspec store over s3fs (asynchronous, as zarr wants)."""
    import zarr
    return zarr.storage.FsspecStore.from_url(
        f"s3://{path}", read_only=read_only,
        storage_options={"anon": True, "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}})


def prepare(args):
    import obstore
    import zarr
    from zarr.codecs import BloscCodec
    from safetensors.numpy import save_file as st_save
    import urllib.request
    os.makedirs(args.work, exist_ok=True)
    try:
        urllib.request.urlopen(urllib.request.Request(f"{args.endpoint}/{args.bucket}", method="PUT"), timeout=30)
    except urllib.error.HTTPError as e:
        if e.code != 409:  # already there
            raise
    store = s3_store(args.endpoint, args.bucket)
    datasets = {"minilm": minilm_arrays(args.cache), "synthetic512": synthetic_arrays()}
    manifest = {}
    for name, arrays in datasets.items():
        raw = sum(a.nbytes for a in arrays.values())
        files = {}
        for storage, kw in [("plain", {}), ("zstd1shuffle", {"codec": "zstd", "level": 1, "shuffle": True})]:
            path = os.path.join(args.work, f"{name}-{storage}.brine")
            if not os.path.exists(path):
                brine_writer.save_file(arrays, path, durable=False, **kw)
            files[f"brine-{storage}"] = path
        st = os.path.join(args.work, f"{name}.safetensors")
        if not os.path.exists(st):
            st_save(arrays, st)
        files["safetensors"] = st
        for key, path in files.items():
            try:
                if obstore.head(store, os.path.basename(path))["size"] == os.path.getsize(path):
                    continue  # uploaded by an earlier prepare
            except FileNotFoundError:
                pass
            with open(path, "rb") as f:
                obstore.put(store, os.path.basename(path), f, chunk_size=16 << 20, max_concurrency=8)
        # zarr v3, sharded: one shard per array, inner chunks of 1 MiB (as Brine's chunks).
        fs_store = zarr_store(args.endpoint, f"{args.bucket}/{name}-zarr", read_only=False)
        for storage, compressors in [("plain", None), ("zstd1shuffle", BloscCodec(cname="zstd", clevel=1, shuffle="shuffle"))]:
            try:
                if len(list(zarr.open_group(fs_store, mode="r", path=storage).array_keys())) == len(arrays):
                    continue  # written by an earlier prepare
            except Exception:
                pass
            g = zarr.open_group(fs_store, mode="a", path=storage)
            for p, a in arrays.items():
                flat = a.reshape(-1)
                inner = max(1, min(flat.size, (1 << 20) // a.itemsize))
                z = g.create_array(p.replace(".", "_"), shape=flat.shape, dtype=a.dtype, chunks=(inner,),
                                   shards=(flat.size if flat.size % inner == 0 else (flat.size // inner + 1) * inner,),
                                   compressors=compressors, overwrite=True)
                z[...] = flat
        sizes = {k: os.path.getsize(v) for k, v in files.items()}
        # The single-array row reads one layer-sized array: the largest one
        # under 1/20 of the model (MiniLM's word embeddings are half of it).
        largest = max((kv for kv in arrays.items() if kv[1].nbytes <= raw // 20), key=lambda kv: kv[1].nbytes)[0]
        manifest[name] = {"raw_bytes": raw, "arrays": len(arrays), "sizes": sizes, "single_array": largest,
                          "single_array_bytes": int(arrays[largest].nbytes)}
    with open(os.path.join(args.work, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def run_json(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def median_time(fn, repeat):
    times, extra = [], None
    for _ in range(repeat):
        t, e = fn()
        times.append(t)
        extra = e if extra is None else extra
    return statistics.median(times), times, extra


def run(args):
    import obstore
    import zarr
    with open(os.path.join(args.work, "manifest.json")) as f:
        manifest = json.load(f)
    store = s3_store(args.endpoint, args.bucket)
    env = dict(os.environ, AWS_ENDPOINT_URL=args.endpoint, AWS_REGION="us-east-1")
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(k, None)
    rows = []

    def add(dataset, storage, row, seconds, times, nbytes, extra=None):
        r = {"label": args.label, "dataset": dataset, "storage": storage, "row": row, "seconds": seconds,
             "times": times, "bytes": nbytes, "MBps": nbytes / seconds / 1e6}
        if extra:
            r.update(extra)
        rows.append(r)
        print(json.dumps(r), flush=True)

    for name, m in manifest.items():
        if args.datasets and name not in args.datasets.split(","):
            continue
        raw = m["raw_bytes"]
        for storage in ["plain", "zstd1shuffle"]:
            key = f"{name}-{storage}.brine"
            url = f"s3://{args.bucket}/{key}"
            size = m["sizes"][f"brine-{storage}"]

            peaks = []

            def brine_full():
                j = run_json([args.bin, "remote-load", "--url", url], env)
                peaks.append(j["peak_rss_delta"])
                return j["seconds"], {"requests": j["requests"], "window_bytes": j["window_bytes"],
                                      "bytes_received": j["bytes_received"]}
            s, t, e = median_time(brine_full, args.repeat)
            add(name, storage, "brine remote load", s, t, raw,
                dict(e, peak_rss_delta=statistics.median(peaks), peak_rss_delta_max=max(peaks)))

            def get_whole():
                t0 = time.perf_counter()
                b = obstore.get(store, key).bytes()
                dt = time.perf_counter() - t0
                assert len(b) == size
                return dt, None
            s, t, _ = median_time(get_whole, args.repeat)
            add(name, storage, "whole-object GET (obstore)", s, t, size)
            whole_get = s

            def download_load():
                with tempfile.TemporaryDirectory(dir=args.work) as d:
                    local = os.path.join(d, key)
                    t0 = time.perf_counter()
                    b = obstore.get(store, key).bytes()
                    with open(local, "wb") as f:
                        f.write(b)
                    del b
                    dl = time.perf_counter() - t0
                    j = run_json([args.bin, "io-load", "--file", local], env)
                    return dl + j["seconds"], None
            if not args.quick:
                s, t, _ = median_time(download_load, args.repeat)
                add(name, storage, "download + local load", s, t, raw)

            def zarr_read():
                fs_store = zarr_store(args.endpoint, f"{args.bucket}/{name}-zarr/{storage}", read_only=True)
                t0 = time.perf_counter()
                g = zarr.open_group(fs_store, mode="r")
                total = 0
                for _, a in g.arrays():
                    total += a[...].nbytes
                dt = time.perf_counter() - t0
                assert total == raw, (total, raw)
                return dt, None
            if not args.quick:
                s, t, _ = median_time(zarr_read, 1)  # slow: one run
                add(name, storage, "zarr-python 3 (FsspecStore/s3fs)", s, t, raw)

            def zarr_obstore_read():
                import obstore.store
                st = obstore.store.S3Store(args.bucket, prefix=f"{name}-zarr/{storage}", endpoint=args.endpoint,
                                           skip_signature=True, region="us-east-1", client_options={"allow_http": True})
                t0 = time.perf_counter()
                g = zarr.open_group(zarr.storage.ObjectStore(st, read_only=True), mode="r")
                total = sum(a[...].nbytes for _, a in g.arrays())
                dt = time.perf_counter() - t0
                assert total == raw, (total, raw)
                return dt, None
            s, t, _ = median_time(zarr_obstore_read, 1)  # slow: one run
            add(name, storage, "zarr-python 3 (ObjectStore/obstore)", s, t, raw)

            if storage == "plain" and not args.quick:
                def st_read():
                    from safetensors.numpy import load as st_load
                    fs = fsspec_fs(args.endpoint)
                    t0 = time.perf_counter()
                    b = fs.cat_file(f"{args.bucket}/{name}.safetensors")
                    d = st_load(b)
                    dt = time.perf_counter() - t0
                    assert sum(a.nbytes for a in d.values()) == raw
                    return dt, None
                s, t, _ = median_time(st_read, args.repeat)
                add(name, storage, "safetensors over s3fs", s, t, raw)

            def brine_one():
                j = run_json([args.bin, "remote-load", "--url", url, "--array", m["single_array"]], env)
                return j["seconds"], {"requests": j["requests"], "bytes_received": j["bytes_received"]}
            s, t, e = median_time(brine_one, args.repeat)
            add(name, storage, f"brine single array ({m['single_array']})", s, t, m["single_array_bytes"],
                dict(e, speedup_vs_whole_get=whole_get / s))
    with open(args.out, "a") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def table(args):
    """Markdown tables and the issue's target ratios from the results file."""
    rows = [json.loads(l) for l in open(args.out) if l.strip()]
    labels = list(dict.fromkeys(r["label"] for r in rows))
    out = []
    for label in labels:
        out.append(f"### {label}\n")
        out.append("| dataset | row | uncompressed | zstd-1 + shuffle |")
        out.append("|---|---|---|---|")
        for ds in dict.fromkeys(r["dataset"] for r in rows if r["label"] == label):
            names = list(dict.fromkeys(r["row"] for r in rows if r["label"] == label and r["dataset"] == ds))
            for n in names:
                cells = []
                for st in ("plain", "zstd1shuffle"):
                    m = [r for r in rows if r["label"] == label and r["dataset"] == ds and r["row"] == n and r["storage"] == st]
                    if not m:
                        cells.append("—")
                        continue
                    r = m[0]
                    c = f"{r['seconds'] * 1000:.0f} ms ({r['MBps']:.0f} MB/s)"
                    if "peak_rss_delta" in r:
                        c += f", peak +{r['peak_rss_delta'] / 2**20:.0f} MiB"
                        if "peak_rss_delta_max" in r:
                            c += f" (max +{r['peak_rss_delta_max'] / 2**20:.0f})"
                    if "speedup_vs_whole_get" in r:
                        c += f", {r['speedup_vs_whole_get']:.1f}× the whole GET"
                    cells.append(c)
                out.append(f"| {ds} | {n} | {cells[0]} | {cells[1]} |")
        out.append("")
        out.append("Targets:\n")
        for ds in dict.fromkeys(r["dataset"] for r in rows if r["label"] == label):
            def t(row, st):
                m = [r for r in rows if r["label"] == label and r["dataset"] == ds and r["storage"] == st and r["row"].startswith(row)]
                return m[0] if m else None
            def fastest(row, st):
                m = [r for r in rows if r["label"] == label and r["dataset"] == ds and r["storage"] == st and r["row"].startswith(row)]
                return min(m, key=lambda r: r["seconds"]) if m else None
            b, g, z = t("brine remote load", "plain"), t("whole-object GET", "plain"), fastest("zarr-python", "plain")
            bz, zz = t("brine remote load", "zstd1shuffle"), fastest("zarr-python", "zstd1shuffle")
            one = t("brine single array", "plain")
            if b and g:
                out.append(f"- {ds}: Brine uncompressed load / whole GET throughput = {g['seconds'] / b['seconds'] * b['bytes'] / g['bytes']:.2f}× (target ≥ 0.9×)")
            if b and z:
                out.append(f"- {ds}: Brine vs the faster zarr-python store, uncompressed = {z['seconds'] / b['seconds']:.1f}× faster; zstd-1+shuffle = "
                           f"{(zz['seconds'] / bz['seconds']) if (bz and zz) else float('nan'):.1f}× (target ≥ 2×)")
            if one:
                out.append(f"- {ds}: single array vs whole download = {one['speedup_vs_whole_get']:.1f}× faster (target ≥ 10×)")
            if b and bz:
                out.append(f"- {ds}: zstd-1+shuffle load time / uncompressed = {bz['seconds'] / b['seconds']:.2f} (target ≤ 0.85 when shaped)")
            if b and "peak_rss_delta" in b:
                out.append(f"- {ds}: peak RSS growth (median run) {b['peak_rss_delta'] / 2**20:.0f} MiB uncompressed, "
                           f"{bz['peak_rss_delta'] / 2**20 if bz else float('nan'):.0f} MiB zstd, for {b['bytes'] / 2**20:.0f} MiB of arrays "
                           f"+ {b['window_bytes'] / 2**20:.0f} MiB window (target ≤ model + window)")
        out.append("")
    print("\n".join(out))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("phase", choices=["prepare", "run", "table"])
    p.add_argument("--endpoint")
    p.add_argument("--bucket", default="brine-bench")
    p.add_argument("--work")
    p.add_argument("--cache", default=os.environ.get("BRINE_CACHE_DIR", os.path.join(HERE, "..", "..", "cache")))
    p.add_argument("--bin")
    p.add_argument("--label", default="loopback")
    p.add_argument("--out")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--datasets", default="")
    p.add_argument("--quick", action="store_true",
                   help="shaped phase: Brine, whole GET, zarr over obstore and the single array only")
    args = p.parse_args()
    if args.phase == "prepare":
        prepare(args)
    elif args.phase == "table":
        table(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
