"""The disk and scaling sections of compare.py (issue 12, targets 3, 6 and 8).

Imported by compare.py, which passes itself in as `C` (its Row, Dataset,
measure, methods and formatting helpers), so that the rows here are measured
and printed exactly like the page-cache rows.

Disk (target 6): a 4 GiB model (64 float32 arrays; 256 MiB with --quick)
saved durably and loaded cold. "durable save" = every byte on disk before the
call returns: Brine's BrineWriter with durable = true (fsync of the file and
its folder); the peers fsync their file(s) and folder the same way; fio
writes sequentially with one fsync at the end (end_fsync=1). "cold load" =
the file's pages are evicted before every run (fsync, then
posix_fadvise(POSIX_FADV_DONTNEED) over the whole file, then mincore(2) on a
mapping to check that at most 1 % of its pages are still resident; fio
evicts with invalidate=1). fio's rows are fio's own job_runtime (the I/O
phase with the end fsync, without fio's start-up), for 1 MiB and 8 MiB
requests; the targets use the faster.

Scaling (target 8): save, load by copy and open cost against model size
(64 arrays, 16 MiB … 4 GiB) and against array count at a fixed 64 MiB
(10 … 100,000 equal arrays), for Brine and the peers; the 20,000-array point
is target 3's dataset (mmap open + loadAll ≤ 1 ms). "open" is Brine's
mmap open + loadAll without verification (views), safetensors'
`safe_open` + `get_slice` of every tensor (no data read), and for pickle and
joblib, which cannot open without loading, nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

MIB = 1 << 20
GIB = 1 << 30
EXTRA_VERSION = 1

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]


def resident_fraction(path: Path) -> float:
    """The fraction (0…1) of the file's pages in the page cache (mincore(2) over a read-only shared mapping)."""
    size = path.stat().st_size
    if size == 0:
        return 0.0
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = _libc.mmap(None, size, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED
        if addr is None or addr == ctypes.c_void_p(-1).value:
            raise OSError(ctypes.get_errno(), "mmap failed")
        try:
            pages = (size + 4095) // 4096
            vec = (ctypes.c_ubyte * pages)()
            if _libc.mincore(addr, size, vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
            return sum(b & 1 for b in vec) / pages
        finally:
            _libc.munmap(addr, size)
    finally:
        os.close(fd)


def evict(path: Path) -> float:
    """fsync + posix_fadvise(DONTNEED) over a file, or every file of a folder; returns the largest resident fraction left."""
    files = [p for p in path.iterdir() if p.is_file()] if path.is_dir() else [path]
    worst = 0.0
    for p in files:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        worst = max(worst, resident_fraction(p))
    return worst


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_equal_model(count: int, total_bytes: int, seed: int = 5) -> dict[str, np.ndarray]:
    """`count` float32 arrays of equal size (total about `total_bytes`), values normal with std 0.02."""
    rng = np.random.default_rng(seed)
    n = max(1, total_bytes // 4 // count)
    flat = rng.standard_normal(n * count, dtype=np.float32) * np.float32(0.02)
    return {f"layers.{i}.weight": flat[i * n:(i + 1) * n].copy() for i in range(count)}


# ---------------------------------------------------------------------------
# Disk: durable save and cold load


def run_disk(C, args, workdir: Path, out: Path, brine_bin: Path | None):
    size = 256 * MIB if args.quick else 4 * GIB
    runs = args.disk_runs
    inp = workdir / "inputs" / f"disk64-{size}-v{C.GENERATOR_VERSION}.safetensors"
    C.write_safetensors_once(inp, lambda: C.make_synthetic_model(64, size, seed=11))
    arrays = C.load_input(inp)
    raw = sum(a.nbytes for a in arrays.values())
    ds = C.Dataset("disk", f"disk: {C.fmt_b(raw)} in {len(arrays)} arrays, durable save and cold load", inp, arrays, raw, len(arrays))
    C.log(f"{ds.name} from {inp}")
    worst = {"resident": 0.0}

    def cold(path: Path):
        def setup():
            worst["resident"] = max(worst["resident"], evict(path))
        return setup

    # fio: the physical limit of this file system, in the same run.
    fio = shutil.which("fio")
    target = out / "fio.bin"
    if fio:
        def fio_run(rw: str, bs: str, extra: list[str]) -> dict:
            p = subprocess.run([fio, "--name=brine-bench", f"--filename={target}", f"--rw={rw}", f"--bs={bs}", f"--size={raw}",
                                "--ioengine=psync", "--output-format=json", *extra], check=True, stdout=subprocess.PIPE, text=True)
            return json.loads(p.stdout[p.stdout.index("{"):])["jobs"][0]

        # Two request sizes: on this machine's virtual disk a cold sequential read runs at
        # 0.3 GB/s with 1 MiB requests and 2.3 GB/s with 8 MiB ones, so the faster of the
        # two is the limit the targets use.
        def fio_timing(rw: str, bs: str, extra: list[str], setup) -> tuple:
            # fio's own job_runtime (ms): the I/O phase, the end fsync included (checked: 1 GiB
            # write 249 ms without end_fsync, 454 ms with it), fio's start-up excluded (0.3-0.6 s here).
            times, bws = [], []
            for i in range(runs + 1):
                setup()
                j = fio_run(rw, bs, extra)
                if i:
                    times.append(j["job_runtime"] / 1000)
                    bws.append(j[rw if rw == "read" else "write"]["bw_bytes"] / 1e6)
            times.sort()
            k = len(times)
            med = times[k // 2] if k % 2 else (times[k // 2 - 1] + times[k // 2]) / 2
            return C.Timing(med, times[0], k, None), sorted(bws)[len(bws) // 2]

        # Two request sizes: on this machine's virtual disk a cold sequential read runs at
        # 0.3 GB/s with 1 MiB requests and 2.3 GB/s with 8 MiB ones, so the faster of the
        # two is the limit the targets use.
        for bs in ["1M", "8M"]:
            label = f"fio sequential, {bs}iB requests"
            t, bw = fio_timing("write", bs, ["--end_fsync=1"], lambda: (C.rm(target), os.sync()))
            ds.rows.append(C.Row(ds.name, label, "durable save", raw, t.median, t.min, t.runs, raw, None,
                                 note=f"fio --rw=write --bs={bs} --ioengine=psync --end_fsync=1; fio's job_runtime "
                                      f"(fio's bandwidth without the fsync: {bw:.0f} MB/s)"))
            t, bw = fio_timing("read", bs, ["--invalidate=1"], cold(target))
            ds.rows.append(C.Row(ds.name, label, "cold load", raw, t.median, t.min, t.runs, raw, None,
                                 note=f"fio --rw=read --bs={bs} --ioengine=psync --invalidate=1; fio's job_runtime"))
            C.rm(target)
    else:
        C.log("  note: fio not found (apt-get install fio; scripts/compare.sh installs it): no fio rows")

    import safetensors.numpy as stnp

    def npy_save(d, p):
        p.mkdir(exist_ok=True)
        for k, a in d.items():
            with open(p / (C.safe_name(k) + ".npy"), "wb") as f:
                np.save(f, a)
                f.flush()
                os.fsync(f.fileno())
        fsync_path(p)
        fsync_path(p.parent)

    def npy_load(p):
        return {e.name[:-4]: np.load(e.path) for e in os.scandir(p) if e.name.endswith(".npy")}

    def st_save(d, p):
        stnp.save_file(d, str(p))
        fsync_path(p)
        fsync_path(p.parent)

    peers = [("np.save + fsync (.npy per array)", "/", npy_save, npy_load),
             ("safetensors.numpy + fsync", ".safetensors", st_save, lambda p: stnp.load_file(str(p)))]
    for name, ext, save, load in peers:
        path = out / ("disk-output" + (ext if ext != "/" else ".d"))
        try:
            t = C.measure(lambda: save(arrays, path), runs, setup=lambda: (C.rm(path), os.sync()))
            fb = C.size_of(path)
            ds.rows.append(C.Row(ds.name, name, "durable save", raw, t.median, t.min, t.runs, fb, t.extra_peak_rss))
            C.check_equal(arrays, load(path), name)
            t = C.measure(lambda: load(path), runs, setup=cold(path))
            ds.rows.append(C.Row(ds.name, name, "cold load", raw, t.median, t.min, t.runs, fb, t.extra_peak_rss))
        except Exception as e:  # one broken library must not sink the comparison
            C.log(f"  {name}: FAILED: {type(e).__name__}: {e}")
            ds.rows.append(C.Row(ds.name, name, "durable save/cold load", raw, error=f"{type(e).__name__}: {e}"))
        finally:
            C.rm(path)
    del arrays
    ds.arrays = {}

    if brine_bin is not None:
        for name, extra in [("brine none", ["--codec", "none"]), ("brine zstd-1+shuffle", ["--codec", "zstd", "--level", "1", "--shuffle"])]:
            cmd = [str(brine_bin), "io", "--input", str(inp), "--runs", str(runs), "--dir", str(out), "--ops", "durable-save", "cold-load", *extra]
            try:
                rep = json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout)
                C.note_brine_report(rep)
            except (subprocess.CalledProcessError, json.JSONDecodeError, OSError) as e:
                C.log(f"  {name}: FAILED: {e}")
                ds.rows.append(C.Row(ds.name, name, "durable save/cold load", raw, error=str(e)))
                continue
            rep["method"] = name
            ds.brine_reports.append(rep)
            worst["resident"] = max(worst["resident"], rep.get("coldResidentFraction") or 0.0)
            for r in rep["results"]:
                op = {"durable-save": "durable save", "cold-load": "cold load"}[r["op"]]
                ds.rows.append(C.Row(ds.name, name, op, rep["rawBytes"], r["medianSeconds"], r["minSeconds"], r["runs"],
                                     rep["fileBytes"], r["extraPeakRSS"],
                                     note="verified (default)" if op == "cold load" else "durable = true: fsync of file and folder"))
    for r in ds.rows:
        if r.median:
            C.log(f"  {r.method:<36} {r.op:<12} {C.fmt_s(r.median):>10} {r.mbps:9.0f} MB/s")
    ds.cold_resident = worst["resident"]
    return ds


def disk_targets(C, ds, add) -> None:
    """Target 6, added to compare.py's list through its `add(name, ds, value, threshold, unit, detail, greater=True)`."""
    def f(method, op):
        return C.find(ds, method, op)

    def vs(b, p):
        return "not measured" if b is None or p is None else f"{C.min_note(b, p)}; Brine {C.fmt_s(b.median)} vs {p.method} {C.fmt_s(p.median)}"

    res = f"largest fraction of a file's pages still resident after eviction: {getattr(ds, 'cold_resident', 0) * 100:.2f} %"
    fios = ["fio sequential, 1MiB requests", "fio sequential, 8MiB requests"]
    for op, label in [("durable save", "durable save"), ("cold load", "cold load (verified)")]:
        b = f("brine none", op)
        fio = C.fastest_of(ds, fios, op)
        add(f"6. {label} ≥ 0.9× fio's sequential bandwidth (the faster request size)", ds, C.speed_ratio(b, fio), 0.9, "×",
            vs(b, fio) + ("; " + res if op == "cold load" else ""))
        peer = C.fastest(ds, ["np.save + fsync (.npy per array)", "safetensors.numpy + fsync"], op)
        add(f"6. {label} ≥ 1.0× the faster of np.save + fsync and safetensors + fsync", ds, C.speed_ratio(b, peer), 1.0, "×", vs(b, peer))
    bz, bn = f("brine zstd-1+shuffle", "cold load"), f("brine none", "cold load")
    add("(info) 6. cold load: zstd-1+shuffle vs uncompressed (> 1: compressed is faster from disk)", ds, C.speed_ratio(bz, bn), 0.0, "×",
        vs(bz, bn) + (f"; file {C.fmt_b(bz.file_bytes)} vs {C.fmt_b(bn.file_bytes)}" if bz and bn else ""))


def plot_disk(C, ds, folder: Path) -> list[Path]:
    """Durable save and cold load MB/s per method, the faster fio row as the dashed limit (compare-disk.png/.svg)."""
    fios = ["fio sequential, 1MiB requests", "fio sequential, 8MiB requests"]
    panels = [(op, title, lambda op=op: C.fastest_of(ds, fios, op))
              for op, title in [("durable save", "durable save (fsync)"), ("cold load", "cold load (pages evicted)")]]
    return C.plot_bars(ds, panels, f"{ds.name} (dashed: fio on the same file system)", folder, "compare-disk",
                       baseline_prefixes=("fio",))


# ---------------------------------------------------------------------------
# Scaling


SCALING_OPS = ["save", "load", "open"]


def scaling_points(quick: bool) -> tuple[list[int], list[int]]:
    sizes = [4 * MIB, 16 * MIB, 64 * MIB] if quick else [16 * MIB, 64 * MIB, 256 * MIB, GIB, 4 * GIB]
    counts = [10, 100, 1000, 20000] if quick else [10, 100, 1000, 10000, 20000, 100000]
    return sizes, counts


def run_scaling(C, args, workdir: Path, out: Path, brine_bin: Path | None) -> dict:
    """{"size": [point…], "count": [point…]}; a point is {"x", "arrays", "raw_bytes", "rows": {method: {op: (median, min)}}}."""
    from safetensors import safe_open

    def st_open(p):
        with safe_open(str(p), framework="np") as f:
            return [f.get_slice(k) for k in f.keys()]

    # The same save and load calls as the page-cache rows (compare.python_methods).
    openers = {"safetensors.numpy": st_open, "pickle protocol 5": None, "joblib compress=0": None}
    peers = [(m.name, m.ext, m.save, m.load, openers[m.name]) for m in C.python_methods([1], minilm=False) if m.name in openers]
    sizes, counts = scaling_points(args.quick)
    result: dict = {"size": [], "count": []}
    runs = args.scaling_runs
    for axis, xs in [("size", sizes), ("count", counts)]:
        for x in xs:
            if axis == "size":
                total, count = x, 64
                inp = workdir / "inputs" / f"scale-size-{x}-v{EXTRA_VERSION}.safetensors"
                C.write_safetensors_once(inp, lambda: C.make_synthetic_model(64, total, seed=13))
            else:
                total, count = (16 * MIB if args.quick else 64 * MIB), x
                inp = workdir / "inputs" / f"scale-count-{x}-{total}-v{EXTRA_VERSION}.safetensors"
                C.write_safetensors_once(inp, lambda: make_equal_model(count, total))
            arrays = C.load_input(inp)
            raw = sum(a.nbytes for a in arrays.values())
            point = {"x": x, "arrays": len(arrays), "raw_bytes": raw, "rows": {}}
            C.log(f"scaling by {axis}: {len(arrays)} arrays, {C.fmt_b(raw)}")
            for name, ext, save, load, opener in peers:
                path = out / ("scale-output" + ext)
                rows = {}
                try:
                    t = C.measure(lambda: save(arrays, path), runs, setup=lambda: C.rm(path))
                    rows["save"] = (t.median, t.min)
                    os.sync()
                    C.check_equal(arrays, load(path), name)  # untimed: a benchmark of a wrong answer is worthless
                    t = C.measure(lambda: load(path), runs)
                    rows["load"] = (t.median, t.min)
                    if opener:
                        t = C.measure(lambda: opener(path), max(runs, 11))
                        rows["open"] = (t.median, t.min)
                except Exception as e:
                    C.log(f"  {name}: FAILED: {type(e).__name__}: {e}")
                finally:
                    C.rm(path)
                point["rows"][name] = rows
            del arrays
            if brine_bin is not None:
                cmd = [str(brine_bin), "io", "--input", str(inp), "--runs", str(runs), "--mmap-runs", str(max(runs, 21)),
                       "--dir", str(out), "--ops", "save", "load", "mmap-unverified", "mmap", "--codec", "none"]
                try:
                    rep = json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout)
                    C.note_brine_report(rep)
                    got = {r["op"]: (r["medianSeconds"], r["minSeconds"]) for r in rep["results"]}
                    point["rows"]["brine none"] = {"save": got.get("save"), "load": got.get("load"), "open": got.get("mmap-unverified"),
                                                   "open, verified": got.get("mmap")}
                except (subprocess.CalledProcessError, json.JSONDecodeError, OSError) as e:
                    C.log(f"  brine: FAILED: {e}")
            for m, rows in point["rows"].items():
                C.log("  " + f"{m:<22}" + "  ".join(f"{op} {C.fmt_s(v[0])}" for op, v in rows.items() if v))
            result[axis].append(point)
    return result


def scaling_tables(C, sc: dict) -> str:
    out = []
    for axis, title in [("size", "against model size (64 arrays)"), ("count", "against array count (fixed total size)")]:
        pts = sc.get(axis) or []
        if not pts:
            continue
        methods = []
        for pt in pts:
            for m in pt["rows"]:
                if m not in methods:
                    methods.append(m)
        out.append(f"### Cost {title}\n")
        for op in SCALING_OPS + ["open, verified"]:
            if not any(pt["rows"].get(m, {}).get(op) for pt in pts for m in methods):
                continue
            head = ["method"] + [(C.fmt_b(pt["raw_bytes"]) if axis == "size" else f"{pt['arrays']:,} arrays") for pt in pts]
            lines = [f"{op} (median):", "", "| " + " | ".join(head) + " |", "|:--|" + "--:|" * len(pts)]
            for m in methods:
                cells = []
                for pt in pts:
                    v = pt["rows"].get(m, {}).get(op)
                    cells.append(C.fmt_s(v[0]) if v else "—")
                lines.append(f"| {m} | " + " | ".join(cells) + " |")
            out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def scaling_targets(C, sc: dict, add) -> None:
    """Target 3's 20,000-array dataset, and (info) how open grows from the fewest to the most arrays."""
    pts = {pt["arrays"]: pt for pt in sc.get("count") or []}
    pt = pts.get(20000)
    v = pt and pt["rows"].get("brine none", {}).get("open")
    add("3. mmap open + loadAll (unverified) ≤ 1 ms on a 20,000-array dataset", None, v[0] * 1e3 if v else None, 1.0, "ms",
        f"median; min {v[1] * 1e3:.2f} ms; {C.fmt_b(pt['raw_bytes'])}" if v else "not measured", greater=False)
    if pts:
        lo, hi = pts[min(pts)], pts[max(pts)]
        a, b = lo["rows"].get("brine none", {}).get("open"), hi["rows"].get("brine none", {}).get("open")
        if a and b:
            add(f"(info) 8. Brine mmap open: {max(pts):,} vs {min(pts):,} arrays (time ratio; array-count ratio "
                f"{max(pts) / min(pts):,.0f})", None, b[0] / a[0], 0.0, "× (time)", f"{C.fmt_s(a[0])} → {C.fmt_s(b[0])}")


def plot_scaling(C, sc: dict, folder: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for axis, xlabel in [("size", "model size (bytes of raw arrays, 64 arrays)"), ("count", "array count (fixed total size)")]:
        pts = sc.get(axis) or []
        if not pts:
            continue
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
        for ax, op in zip(axes, SCALING_OPS):
            methods = sorted({m for pt in pts for m, rows in pt["rows"].items() if rows.get(op)})
            for m in methods:
                xs = [pt["raw_bytes"] if axis == "size" else pt["arrays"] for pt in pts if pt["rows"].get(m, {}).get(op)]
                ys = [pt["rows"][m][op][0] for pt in pts if pt["rows"].get(m, {}).get(op)]
                ax.plot(xs, ys, marker="o", linewidth=2.2 if m.startswith("brine") else 1.2,
                        color="#c8553d" if m.startswith("brine") else None, label=m)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title({"save": "save (new file, page cache)", "load": "load by copy", "open": "open (mmap / lazy header)"}[op], fontsize=10)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("seconds (median)")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7)
        fig.suptitle(f"How cost grows with {'model size' if axis == 'size' else 'array count'}", fontsize=11)
        fig.tight_layout()
        paths += C.save_figure(fig, plt, folder, f"compare-scaling-{axis}")
    return paths
