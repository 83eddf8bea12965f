#!/usr/bin/env python3
"""Brine side by side with what Python users use, in one run.

Run through scripts/compare.sh, which creates the venv (.venv-bench), builds
the Brine bench executable in release mode and passes its arguments on here.

Data (the same bytes for everyone): the real MiniLM-L6 checkpoint, one float32
array (1 GiB; 64 MiB with --quick) and a synthetic 200-array float32 model
(512 MiB; 32 MiB with --quick; values normal with std 0.02, sizes log-uniform,
fixed seed). The synthetic inputs are written once as .safetensors files; the
Python side loads each input into float32 numpy arrays and Brine's
`Benchmarks io` reads the same file with its own small safetensors reader.

Methodology (the same for every method): median of N >= 5 timed runs after one
warm-up run; every save writes a new file (the previous output is deleted
before each run, untimed); every "overwrite" saves over the output of the
previous run after a sync(2) (untimed: the old checkpoint is on disk, as in a
training loop); nothing calls fsync; loads read files that are in the page
cache (one sync(2), untimed, after the saves so that write-back does not
overlap the loads); "load, fresh process" is one load in each of N new
processes (a cold allocator), timed inside the process around the load call
only. MB/s are raw array bytes per second. Plots (matplotlib, PNG and SVG) go
to docs/ (to the workdir with --quick unless --plots-dir is given).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import mmap
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field, asdict
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[2]
PAGE = 4096
MIB = 1 << 20
GIB = 1 << 30
# Bump when the synthetic generator changes, so stale cached inputs are not reused.
GENERATOR_VERSION = 1


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Memory and timing


def _status() -> dict[str, int]:
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0]) * 1024
    except OSError:
        pass
    return out


def reset_peak_rss() -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0: echo 5 > /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@dataclass
class Timing:
    median: float
    min: float
    runs: int
    extra_peak_rss: int | None


def measure(body: Callable[[], object], runs: int, setup: Callable[[], None] | None = None, warmup: int = 1) -> Timing:
    """Median/min of `runs` timed calls of `body` after `warmup` untimed ones.

    `setup` runs before every call, untimed (e.g. deleting the previous output).
    Whatever `body` returns is dropped after the clock stops. The peak RSS
    figure is VmHWM after the run minus VmRSS before it, maximised over runs.
    """
    times = []
    extra = None
    for i in range(warmup + runs):
        if setup is not None:
            setup()
        gc.collect()
        before = _status().get("VmRSS", 0)
        can_peak = reset_peak_rss()
        t0 = time.perf_counter()
        result = body()
        t1 = time.perf_counter()
        if i >= warmup:
            times.append(t1 - t0)
            if can_peak:
                e = _status().get("VmHWM", 0) - before
                extra = e if extra is None else max(extra, e)
        del result
    times.sort()
    n = len(times)
    med = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
    return Timing(med, times[0], runs, extra)


# ---------------------------------------------------------------------------
# Results


@dataclass
class Row:
    dataset: str
    method: str
    op: str  # "save", "load", "mmap open", "mmap + touch"
    raw_bytes: int
    median: float | None = None
    min: float | None = None
    runs: int = 0
    file_bytes: int | None = None
    extra_peak_rss: int | None = None
    # Which Brine row this row is compared with (same op), and the factors.
    brine_none_factor: float | None = None  # this row's median / Brine none's median
    brine_matched: str | None = None
    brine_matched_factor: float | None = None
    note: str | None = None
    error: str | None = None

    @property
    def mbps(self) -> float | None:
        return self.raw_bytes / self.median / 1e6 if self.median else None

    @property
    def ratio(self) -> float | None:
        return self.raw_bytes / self.file_bytes if self.file_bytes else None

    def to_json(self) -> dict:
        d = asdict(self)
        d["mb_per_s"] = self.mbps
        d["compression_ratio"] = self.ratio
        return d


@dataclass
class Dataset:
    key: str  # minilm, array, model
    name: str
    input_path: Path
    arrays: dict[str, np.ndarray]
    raw_bytes: int
    array_count: int = 0
    rows: list[Row] = field(default_factory=list)
    brine_reports: list[dict] = field(default_factory=list)


def fmt_s(s: float | None) -> str:
    if s is None:
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_b(n: int | None) -> str:
    if n is None:
        return ""
    if n >= GIB:
        return f"{n / GIB:.2f} GiB"
    if n >= MIB:
        return f"{n / MIB:.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n} B"


def fmt_x(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}×"


# ---------------------------------------------------------------------------
# Data


def find_minilm(explicit: str | None) -> Path | None:
    cands = []
    if explicit:
        cands.append(Path(explicit))
    if os.environ.get("BRINE_CACHE_DIR"):
        cands.append(Path(os.environ["BRINE_CACHE_DIR"]) / "models/all-MiniLM-L6-v2/model.safetensors")
    cands.append(REPO / "cache/models/all-MiniLM-L6-v2/model.safetensors")
    return next((p for p in cands if p.is_file()), None)


def write_safetensors_once(path: Path, make: Callable[[], dict[str, np.ndarray]]) -> None:
    """Writes `make()` to `path` as safetensors unless it already exists (atomic rename)."""
    if path.is_file() and path.stat().st_size > 8:
        return
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    log(f"writing input {path.name} …")
    arrays = make()
    tmp = path.with_suffix(".part")
    save_file(arrays, str(tmp))
    os.replace(tmp, path)


def normal_f32(rng: np.random.Generator, n: int, std: float = 0.02) -> np.ndarray:
    a = rng.standard_normal(n, dtype=np.float32)
    a *= np.float32(std)
    return a


def make_single_array(nbytes: int, seed: int = 1) -> dict[str, np.ndarray]:
    return {"weight": normal_f32(np.random.default_rng(seed), nbytes // 4)}


def make_synthetic_model(count: int, total_bytes: int, seed: int = 7) -> dict[str, np.ndarray]:
    """`count` float32 arrays, sizes log-uniform over a 4096:1 range, scaled to about `total_bytes`."""
    rng = np.random.default_rng(seed)
    weights = np.exp2(rng.uniform(0.0, 12.0, count))
    elements = np.maximum(16, np.floor(total_bytes / 4 * weights / weights.sum())).astype(np.int64)
    return {f"layers.{i // 4}.p{i % 4}": normal_f32(rng, int(n)) for i, n in enumerate(elements)}


def load_input(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file as owned, writable numpy arrays (file order by name)."""
    from safetensors.numpy import load_file

    return {k: np.array(v, copy=True) for k, v in sorted(load_file(str(path)).items())}


def prepare_datasets(args, workdir: Path) -> list[tuple[str, str, Path]]:
    """(key, display name, input path) for every dataset, writing synthetic inputs once."""
    out = []
    if "minilm" in args.datasets:
        p = find_minilm(args.model)
        if p is None:
            log("note: MiniLM checkpoint not found; run scripts/fetch-models.sh (skipping it)")
        else:
            out.append(("minilm", "MiniLM-L6 (real)", p))
    inputs = workdir / "inputs"
    array_bytes = 64 * MIB if args.quick else GIB
    model_bytes = 32 * MIB if args.quick else 512 * MIB
    if "array" in args.datasets:
        p = inputs / f"array-{array_bytes}-v{GENERATOR_VERSION}.safetensors"
        write_safetensors_once(p, lambda: make_single_array(array_bytes))
        out.append(("array", f"float32 {fmt_b(array_bytes)}", p))
    if "model" in args.datasets:
        p = inputs / f"model200-{model_bytes}-v{GENERATOR_VERSION}.safetensors"
        write_safetensors_once(p, lambda: make_synthetic_model(200, model_bytes))
        out.append(("model", f"200-array model {fmt_b(model_bytes)}", p))
    return out


# ---------------------------------------------------------------------------
# Methods


def rm(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def safe_name(key: str) -> str:
    return key.replace("/", "%2F")


def write_all(fd: int, mv: memoryview) -> None:
    done = 0
    while done < len(mv):
        done += os.write(fd, mv[done:])


def readinto_all(f, mv: memoryview) -> None:
    done = 0
    while done < len(mv):
        n = f.readinto(mv[done:])
        if not n:
            raise EOFError("short read")
        done += n


_libc = None


def fallocate_keep_size(fd: int, offset: int, length: int) -> None:
    """fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, length), as np.save calls it before its write(2); best effort."""
    global _libc
    import ctypes
    import ctypes.util
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    _libc.fallocate(fd, 1, offset, length)  # 1 = FALLOC_FL_KEEP_SIZE


def ensure_then_sync(path: Path, make: Callable[[], None]) -> Callable[[], None]:
    """The setup of an overwrite row: the previous output exists (written once if not) and is on disk (sync(2))."""
    def setup():
        if not path.exists():
            make()
        os.sync()
    return setup


@dataclass
class Method:
    """One way of saving a dict of arrays and loading it back."""

    name: str
    ext: str  # file suffix, or "/" for a folder of files
    save: Callable[[dict[str, np.ndarray], Path], None]
    load: Callable[[Path], object]
    # Extra read-only ops on the saved output: (op name, body).
    extra: list[tuple[str, Callable[[Path], object]]] = field(default_factory=list)
    matched: str | None = None  # the Brine row to compare with for same-codec speed
    note: str | None = None


def python_methods(blosc2_lz4_levels: list[int], minilm: bool) -> list[Method]:
    import pickle

    import blosc2
    import joblib
    import safetensors.numpy as stnp

    def pickle_save(d, p):
        with open(p, "wb") as f:
            pickle.dump(d, f, protocol=5)

    def pickle_load(p):
        with open(p, "rb") as f:
            return pickle.load(f)

    def npy_save(d, p):
        p.mkdir(exist_ok=True)
        for k, a in d.items():
            np.save(p / (safe_name(k) + ".npy"), a)

    def npy_load(p, mmap_mode=None):
        return {e.name[:-4]: np.load(e.path, mmap_mode=mmap_mode) for e in os.scandir(p) if e.name.endswith(".npy")}

    def touch(arrays) -> int:
        s = 0
        for a in arrays:
            u = a.reshape(-1).view(np.uint8)
            s += int(u[::PAGE].sum(dtype=np.uint64))
        return s

    def npy_mmap_touch(p):
        d = npy_load(p, "r")
        return touch(d.values()), d

    def blosc2_methods(label, codec, clevel, matched, note=None):
        cp = blosc2.CParams(codec=codec, clevel=clevel, filters=[blosc2.Filter.SHUFFLE], nthreads=2)
        dp = blosc2.DParams(nthreads=2)

        def save(d, p):
            p.mkdir(exist_ok=True)
            for k, a in d.items():
                blosc2.asarray(a, urlpath=str(p / (safe_name(k) + ".b2nd")), mode="w", cparams=cp)

        def load(p):
            return {e.name[:-5]: blosc2.open(e.path, mode="r", dparams=dp)[:] for e in os.scandir(p) if e.name.endswith(".b2nd")}

        return Method(label, "/", save, load, matched=matched, note=note)

    ms = [
        Method("pickle protocol 5", ".pkl", pickle_save, pickle_load),
        Method("joblib compress=0", ".joblib", lambda d, p: joblib.dump(d, p, compress=0), joblib.load),
        Method("joblib compress='lz4'", ".joblib", lambda d, p: joblib.dump(d, p, compress="lz4"), joblib.load,
               matched="brine lz4+shuffle", note="lz4.frame default level, 1 thread, no shuffle"),
        Method("np.save/np.load (.npy per array)", "/", npy_save, npy_load,
               extra=[("mmap open", lambda p: npy_load(p, "r")), ("mmap + touch", npy_mmap_touch)],
               note="mmap rows: np.load(mmap_mode='r')"),
        Method("safetensors.numpy", ".safetensors", lambda d, p: stnp.save_file(d, str(p)), lambda p: stnp.load_file(str(p))),
    ]
    for lvl in blosc2_lz4_levels:
        if lvl != 1 and not minilm:
            continue  # reference levels only on MiniLM, where the targets are checked
        note = "acceleration 1: the LZ4 call Brine makes" if lvl == 9 else None
        ms.append(blosc2_methods(f"blosc2 lz4-{lvl}+shuffle", blosc2.Codec.LZ4, lvl, "brine lz4+shuffle", note))
    ms.append(blosc2_methods("blosc2 zstd-1+shuffle", blosc2.Codec.ZSTD, 1, "brine zstd-1+shuffle"))
    return ms


def aligned_empty(nbytes: int, alignment: int = PAGE) -> np.ndarray:
    """An uninitialised uint8 buffer whose first byte is `alignment`-aligned.

    Page alignment matters for the read baseline: glibc returns large
    allocations at 16 bytes past a page boundary, and on this machine a
    read(2) from the page cache into a destination at page offset 16 takes
    2.6x as long as into one at offset 0, 32, 48 or 64 (measured with 256 MiB,
    min of 6: 108 ms vs 40 ms), which would flatter every load compared with it.
    """
    big = np.empty(nbytes + alignment, dtype=np.uint8)
    start = (-big.ctypes.data) % alignment
    return big[start:start + nbytes]


def run_raw(ds: Dataset, out: Path, runs: int) -> None:
    """One write(2) of all array bytes to a new file; one read(2) into a preallocated buffer.

    Both buffers are page-aligned, like the baseline in Brine's process.
    Python 3.11 has no os.readinto (3.14 adds it); an unbuffered FileIO's
    readinto is the same single read(2) into the caller's buffer.
    """
    raw = aligned_empty(ds.raw_bytes)
    o = 0
    for a in ds.arrays.values():
        b = a.reshape(-1).view(np.uint8)
        raw[o:o + b.size] = b
        o += b.size
    mv = memoryview(raw)
    path = out / "raw.bin"

    def save():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        try:
            write_all(fd, mv)
        finally:
            os.close(fd)

    t = measure(save, runs, setup=lambda: rm(path))
    ds.rows.append(Row(ds.name, "raw write(2)", "save", ds.raw_bytes, t.median, t.min, t.runs, ds.raw_bytes, t.extra_peak_rss,
                       note="os.write of one page-aligned buffer"))
    t = measure(save, runs, setup=ensure_then_sync(path, save))
    ds.rows.append(Row(ds.name, "raw write(2)", "overwrite", ds.raw_bytes, t.median, t.min, t.runs, ds.raw_bytes, t.extra_peak_rss,
                       note="O_TRUNC over the previous file"))

    def save_fallocate():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        try:
            fallocate_keep_size(fd, 0, ds.raw_bytes)
            write_all(fd, mv)
        finally:
            os.close(fd)

    t = measure(save_fallocate, runs, setup=lambda: rm(path))
    ds.rows.append(Row(ds.name, "fallocate + one write(2)", "save", ds.raw_bytes, t.median, t.min, t.runs, ds.raw_bytes, t.extra_peak_rss,
                       note="fallocate(FALLOC_FL_KEEP_SIZE) then one os.write, as np.save does"))
    t = measure(save_fallocate, runs, setup=ensure_then_sync(path, save_fallocate))
    ds.rows.append(Row(ds.name, "fallocate + one write(2)", "overwrite", ds.raw_bytes, t.median, t.min, t.runs, ds.raw_bytes,
                       t.extra_peak_rss, note="O_TRUNC over the previous file"))
    tmp = out / "raw.bin.tmp"

    def save_atomic():
        # What an atomic save must do at least: a new file, renamed over the old one.
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        try:
            fallocate_keep_size(fd, 0, ds.raw_bytes)
            write_all(fd, mv)
        finally:
            os.close(fd)
        os.rename(tmp, path)

    t = measure(save_atomic, runs, setup=ensure_then_sync(path, save_atomic))
    ds.rows.append(Row(ds.name, "fallocate + write + rename", "overwrite", ds.raw_bytes, t.median, t.min, t.runs, ds.raw_bytes,
                       t.extra_peak_rss, note="a temporary renamed over the previous file (atomic, like Brine)"))
    os.sync()
    dst = aligned_empty(ds.raw_bytes)
    dst.fill(1)  # faulted in: "preallocated"
    dmv = memoryview(dst)

    def load():
        with open(path, "rb", buffering=0) as f:
            readinto_all(f, dmv)

    t = measure(load, runs)
    ds.rows.append(Row(ds.name, "raw read(2), preallocated", "load", ds.raw_bytes, t.median, t.min, t.runs, ds.raw_bytes, t.extra_peak_rss,
                       note="FileIO.readinto into a preallocated page-aligned buffer"))
    del dst, dmv

    def load_fresh():
        # A new anonymous mapping per run, as Brine allocates arrays of 4 MiB and more:
        # the read pays the kernel's page faults and zeroing, as any first load does.
        # MADV_HUGEPAGE as Brine does: without it a fresh 256 MiB read took 3-4x as long here.
        m = mmap.mmap(-1, max(ds.raw_bytes, 1), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        m.madvise(mmap.MADV_HUGEPAGE)
        mv = memoryview(m)[:ds.raw_bytes]
        with open(path, "rb", buffering=0) as f:
            readinto_all(f, mv)
        mv.release()
        m.close()

    t = measure(load_fresh, runs)
    ds.rows.append(Row(ds.name, "raw read(2), fresh buffer", "load", ds.raw_bytes, t.median, t.min, t.runs, ds.raw_bytes, t.extra_peak_rss,
                       note="into a new MADV_HUGEPAGE anonymous mapping each run (page faults + zeroing)"))
    rm(path)


def fresh_process_timing(cmd: list[str], n: int) -> Timing:
    """Median/min of `n` runs of `cmd`, each a new process printing {"seconds": …} for one load it timed itself."""
    times = []
    for _ in range(n):
        p = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
        times.append(float(json.loads(p.stdout.strip().splitlines()[-1])["seconds"]))
    times.sort()
    k = len(times)
    med = times[k // 2] if k % 2 else (times[k // 2 - 1] + times[k // 2]) / 2
    return Timing(med, times[0], k, None)


def fresh_load_main(name: str, path: str) -> int:
    """The child of a "load, fresh process" row: import everything, then time one load of `path` by method `name`."""
    m = next((m for m in python_methods([1, 9], minilm=True) if m.name == name), None)
    if m is None:
        raise SystemExit(f"unknown method {name!r}")
    t0 = time.perf_counter()
    back = m.load(Path(path))
    t1 = time.perf_counter()
    del back
    print(json.dumps({"seconds": t1 - t0}))
    return 0


def run_method(ds: Dataset, m: Method, out: Path, runs: int, mmap_runs: int, fresh_runs: int = 0) -> None:
    path = out / ("output" + (m.ext if m.ext != "/" else ".d"))
    try:
        t = measure(lambda: m.save(ds.arrays, path), runs, setup=lambda: rm(path))
        fb = size_of(path)
        ds.rows.append(Row(ds.name, m.name, "save", ds.raw_bytes, t.median, t.min, t.runs, fb, t.extra_peak_rss, note=m.note))
        os.sync()
        # Check the round trip once, untimed: a benchmark of a wrong answer is worthless.
        back = m.load(path)
        check_equal(ds.arrays, back, m.name)
        del back
        t = measure(lambda: m.load(path), runs)
        ds.rows.append(Row(ds.name, m.name, "load", ds.raw_bytes, t.median, t.min, t.runs, fb, t.extra_peak_rss, note=m.note))
        if fresh_runs:
            t = fresh_process_timing([sys.executable, str(Path(__file__).resolve()), "--fresh-load", m.name, str(path)], fresh_runs)
            ds.rows.append(Row(ds.name, m.name, "load, fresh process", ds.raw_bytes, t.median, t.min, t.runs, fb, None, note=m.note))
        for op, body in m.extra:
            n = mmap_runs if op == "mmap open" else runs
            t = measure(lambda: body(path), n)
            ds.rows.append(Row(ds.name, m.name, op, ds.raw_bytes, t.median, t.min, t.runs, fb, t.extra_peak_rss, note=m.note))
        t = measure(lambda: m.save(ds.arrays, path), runs, setup=ensure_then_sync(path, lambda: m.save(ds.arrays, path)))
        ds.rows.append(Row(ds.name, m.name, "overwrite", ds.raw_bytes, t.median, t.min, t.runs, fb, t.extra_peak_rss, note=m.note))
    except Exception as e:  # keep going: one broken library must not sink the whole comparison
        log(f"  {m.name}: FAILED: {type(e).__name__}: {e}")
        ds.rows.append(Row(ds.name, m.name, "save/load", ds.raw_bytes, error=f"{type(e).__name__}: {e}"))
    finally:
        rm(path)
    for r in ds.rows:
        if r.method == m.name and r.median:
            log(f"  {m.name:<36} {r.op:<12} {fmt_s(r.median):>10} {r.mbps:9.0f} MB/s")


def check_equal(ref: dict[str, np.ndarray], back, name: str) -> None:
    if isinstance(back, dict):
        got = {k: np.asarray(v) for k, v in back.items()}
    else:
        raise TypeError(f"{name} returned {type(back).__name__}, not a dict")
    if set(got) != {safe_name(k) for k in ref} and set(got) != set(ref):
        raise ValueError(f"{name}: array names differ after the round trip")
    for k, a in ref.items():
        b = got.get(k, got.get(safe_name(k)))
        if b is None or b.dtype != a.dtype or b.shape != a.shape or not np.array_equal(a.view(np.uint8), b.view(np.uint8)):
            raise ValueError(f"{name}: array {k} differs after the round trip")


# ---------------------------------------------------------------------------
# Brine (through `Benchmarks io`)

BRINE_CONFIGS = [
    # (method name, io arguments, ops)
    ("brine none", ["--codec", "none"], ["save", "overwrite", "load", "mmap-unverified", "mmap", "touch"]),
    ("brine lz4+shuffle", ["--codec", "lz4", "--shuffle"], ["save", "overwrite", "load"]),
    # WriteOptions.lz4Acceleration 4 (LZ4_compress_fast); blosc2's lz4 level 1 runs acceleration 9.
    ("brine lz4+shuffle, acceleration 4", ["--codec", "lz4", "--shuffle", "--lz4-acceleration", "4"], ["save", "load"]),
    ("brine zstd-1+shuffle", ["--codec", "zstd", "--level", "1", "--shuffle"], ["save", "overwrite", "load"]),
    ("brine zstd-1+shuffle, 1 thread", ["--codec", "zstd", "--level", "1", "--shuffle", "--threads", "1"], ["save", "overwrite", "load"]),
]
# "mmap open" and "mmap + touch" are unverified (ReadOptions(verifyChecksums: false)), like
# np.load(mmap_mode='r'); "mmap open, verified" is Brine's default, which checks every
# chunk's XXH3 over the mapped pages on all cores before handing out views.
BRINE_OPS = {"save": "save", "overwrite": "overwrite", "load": "load", "mmap-unverified": "mmap open",
             "mmap": "mmap open, verified", "touch": "mmap + touch"}


# The XXH3 loop of the Brine build (`checksumKernel` of every `Benchmarks io`
# report) and its warning, if any: a build without the AVX2 loop makes every
# row that hashes pessimistic (Benchmarks/BenchmarksCommand.swift,
# checksumBuildWarning).
BRINE_CHECKSUMS: dict = {}


def note_brine_report(rep: dict) -> None:
    """Records the checksum loop a `Benchmarks io` report names, and logs its warning once."""
    if rep.get("checksumKernel"):
        BRINE_CHECKSUMS.setdefault("kernel", rep["checksumKernel"])
    if rep.get("checksumWarning") and "warning" not in BRINE_CHECKSUMS:
        BRINE_CHECKSUMS["warning"] = rep["checksumWarning"]
        log(f"  {rep['checksumWarning']}")


def run_brine(ds: Dataset, binary: Path, out: Path, runs: int, mmap_runs: int, fresh_runs: int = 0) -> None:
    for name, extra, ops in BRINE_CONFIGS:
        kept = out / "brine-fresh.brine"
        cmd = [str(binary), "io", "--input", str(ds.input_path), "--runs", str(runs), "--mmap-runs", str(mmap_runs),
               "--dir", str(out), "--ops", *ops, *extra]
        if fresh_runs:
            cmd += ["--keep-file", str(kept)]
        if name == "brine none":
            cmd.append("--baselines")
        try:
            p = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
            rep = json.loads(p.stdout)
        except (subprocess.CalledProcessError, json.JSONDecodeError, OSError) as e:
            log(f"  {name}: FAILED: {e}")
            ds.rows.append(Row(ds.name, name, "save/load", ds.raw_bytes, error=str(e)))
            continue
        if rep["rawBytes"] != ds.raw_bytes:
            log(f"  warning: Brine saw {rep['rawBytes']} raw bytes, Python {ds.raw_bytes}")
        note_brine_report(rep)
        rep["method"] = name
        ds.brine_reports.append(rep)
        for r in rep["results"]:
            if r["op"] in ("raw write", "fallocate write", "raw read"):
                continue  # reported in the targets section as a cross-check
            op = BRINE_OPS[r["op"]]
            note = None
            if name == "brine none" and op == "mmap open":
                note = "zero-copy views, unverified (opt-out)"
            elif name == "brine none" and op == "mmap open, verified":
                note = "zero-copy views, every chunk verified (default)"
            elif name == "brine none" and op == "mmap + touch":
                note = "unverified"
            ds.rows.append(Row(ds.name, name, op, rep["rawBytes"], r["medianSeconds"], r["minSeconds"], r["runs"],
                               rep["fileBytes"], r["extraPeakRSS"], note=note))
            log(f"  {name:<36} {op:<12} {fmt_s(r['medianSeconds']):>10} {rep['rawBytes'] / r['medianSeconds'] / 1e6:9.0f} MB/s")
        if fresh_runs and kept.exists():
            threads = extra[extra.index("--threads") + 1:extra.index("--threads") + 2] if "--threads" in extra else []
            try:
                t = fresh_process_timing([str(binary), "io-load", "--file", str(kept), *(["--threads", *threads] if threads else [])],
                                         fresh_runs)
                ds.rows.append(Row(ds.name, name, "load, fresh process", rep["rawBytes"], t.median, t.min, t.runs, rep["fileBytes"], None))
                log(f"  {name:<36} {'load, fresh':<12} {fmt_s(t.median):>10} {rep['rawBytes'] / t.median / 1e6:9.0f} MB/s")
            except (subprocess.CalledProcessError, json.JSONDecodeError, OSError, KeyError) as e:
                log(f"  {name}: fresh-process load FAILED: {e}")
            rm(kept)


# ---------------------------------------------------------------------------
# Comparison, targets, report


def find(ds: Dataset, method: str, op: str) -> Row | None:
    return next((r for r in ds.rows if r.method == method and r.op == op and r.median), None)


def compute_factors(ds: Dataset) -> None:
    """Fills in how many times faster Brine is than each row (row median / Brine median, same op)."""
    for r in ds.rows:
        if not r.median:
            continue
        base_op = r.op  # the raw rows' ops are save / overwrite / load too
        if r.method != "brine none":
            b = find(ds, "brine none", base_op)
            if b:
                r.brine_none_factor = r.median / b.median
        matched = {"joblib compress='lz4'": "brine lz4+shuffle", "brine zstd-1+shuffle, 1 thread": "brine zstd-1+shuffle"}.get(r.method)
        if r.method.startswith("blosc2 lz4"):
            matched = "brine lz4+shuffle"
        elif r.method.startswith("blosc2 zstd"):
            matched = "brine zstd-1+shuffle"
        if matched:
            b = find(ds, matched, r.op)
            if b:
                r.brine_matched, r.brine_matched_factor = matched, r.median / b.median


def render_table(ds: Dataset) -> str:
    head = ["method", "op", "median", "min", "MB/s", "file size", "ratio", "peak RSS +", "Brine none is N× faster",
            "same-codec Brine is N× faster", "note"]
    lines = [head]
    for r in ds.rows:
        if r.error:
            lines.append([r.method, r.op, "failed", "", "", "", "", "", "", "", r.error[:80]])
            continue
        same = f"{fmt_x(r.brine_matched_factor)} ({r.brine_matched.removeprefix('brine ')})" if r.brine_matched_factor else ""
        lines.append([r.method, r.op, fmt_s(r.median), fmt_s(r.min), f"{r.mbps:.0f}", fmt_b(r.file_bytes),
                      f"{r.ratio:.3f}" if r.ratio else "", fmt_b(r.extra_peak_rss) if r.extra_peak_rss is not None else "",
                      fmt_x(r.brine_none_factor), same, r.note or ""])
    numeric = {2, 3, 4, 5, 6, 7, 8, 9}
    widths = [max(len(row[c]) for row in lines) for c in range(len(head))]
    out = []
    for i, row in enumerate(lines):
        cells = [s.rjust(widths[c]) if c in numeric else s.ljust(widths[c]) for c, s in enumerate(row)]
        out.append("| " + " | ".join(cells) + " |")
        if i == 0:
            out.append("|" + "|".join(("-" * (w + 1) + ":") if c in numeric else (":" + "-" * (w + 1)) for c, w in enumerate(widths)) + "|")
    return "\n".join(out)


@dataclass
class Target:
    name: str
    dataset: str
    value: float | None
    threshold: float
    unit: str
    passed: bool | None
    detail: str


def speed_ratio(fast: Row | None, slow: Row | None) -> float | None:
    """How many times `fast`'s speed is `slow`'s (slow median / fast median)."""
    if fast is None or slow is None:
        return None
    return slow.median / fast.median


def min_note(fast: Row | None, slow: Row | None) -> str:
    """The same ratio from the fastest runs (min/min): steadier than the median on a busy machine."""
    if fast is None or slow is None or not fast.min or not slow.min:
        return ""
    return f"min/min {slow.min / fast.min:.2f}×"


PEERS_UNCOMPRESSED = ["np.save/np.load (.npy per array)", "pickle protocol 5", "safetensors.numpy", "joblib compress=0"]


def fastest(ds: Dataset, methods: list[str] | None, op: str) -> Row | None:
    """The row with the lowest median among `methods` (every non-Brine, non-baseline method when None) for `op`."""
    rows = [r for r in ds.rows if r.op == op and r.median and not r.method.startswith("brine")
            and not r.method.startswith(("raw ", "fallocate")) and (methods is None or r.method in methods)]
    return min(rows, key=lambda r: r.median, default=None)


def fastest_of(ds: Dataset, methods: list[str], op: str) -> Row | None:
    """The row with the lowest median among exactly `methods` (baselines included) for `op`."""
    rows = [r for r in ds.rows if r.op == op and r.median and r.method in methods]
    return min(rows, key=lambda r: r.median, default=None)


def check_targets(datasets: list[Dataset], machine: dict, disk: Dataset | None = None, scaling: dict | None = None) -> list[Target]:
    """Issue 12's targets, each printed PASS/FAIL (n/a when this run did not measure it), min/min beside the medians."""
    ts: list[Target] = []
    par = (f"cores usable by one process (two busy processes vs one): {machine['cpu_parallelism_start']:.2f}× at start, "
           f"{machine['cpu_parallelism_end']:.2f}× at end")

    def add(name, ds, value, threshold, unit, detail, greater=True):
        ok = None if value is None else (value >= threshold if greater else value <= threshold)
        ts.append(Target(name, ds.name if ds else "—", value, threshold, unit, ok, detail))

    def vs(brine: Row | None, peer: Row | None) -> str:
        if brine is None or peer is None:
            return "not measured"
        return f"{min_note(brine, peer)}; Brine {fmt_s(brine.median)} vs {peer.method} {fmt_s(peer.median)}"

    for ds in datasets:
        bn = lambda op: find(ds, "brine none", op)  # noqa: E731
        # 1. Uncompressed save.
        peer = fastest(ds, PEERS_UNCOMPRESSED, "save")
        add("1. uncompressed save ≥ 1.0× fastest of np.save, pickle, safetensors, joblib", ds, speed_ratio(bn("save"), peer), 1.0, "×",
            vs(bn("save"), peer))
        fw = find(ds, "fallocate + one write(2)", "save")
        rep = next((r for r in ds.brine_reports if r["method"] == "brine none"), None)
        cross = {r["op"]: r for r in rep["results"]} if rep else {}
        x = ""
        if bn("save") and "fallocate write" in cross:
            x = f"; vs fallocate + write in Brine's process: {cross['fallocate write']['medianSeconds'] / bn('save').median:.2f}×"
        add("1. uncompressed save ≥ 0.95× fallocate + one write(2)", ds, speed_ratio(bn("save"), fw), 0.95, "×", vs(bn("save"), fw) + x)
        rw = find(ds, "raw write(2)", "save")
        add("(info) uncompressed save vs a bare write(2)", ds, speed_ratio(bn("save"), rw), 0.0, "×", vs(bn("save"), rw))
        # 2. Load by copy, verified.
        peer = fastest(ds, None, "load")
        add("2. load by copy (verified) ≥ 1.0× fastest peer load", ds, speed_ratio(bn("load"), peer), 1.0, "×", vs(bn("load"), peer))
        peer_f = fastest(ds, None, "load, fresh process")
        add("2. (fresh process) load by copy ≥ 1.0× fastest peer load", ds, speed_ratio(bn("load, fresh process"), peer_f), 1.0, "×",
            vs(bn("load, fresh process"), peer_f))
        raw_r = find(ds, "raw read(2), preallocated", "load")
        raw_f = find(ds, "raw read(2), fresh buffer", "load")
        add("(info) load by copy vs raw read(2) into a fresh buffer", ds, speed_ratio(bn("load"), raw_f), 0.0, "×", vs(bn("load"), raw_f))
        add("(info) load by copy vs raw read(2), preallocated", ds, speed_ratio(bn("load"), raw_r), 0.0, "×", vs(bn("load"), raw_r))
        # 3. mmap.
        mm = bn("mmap open")
        limit = {"minilm": 50.0, "model": 60.0}.get(ds.key)
        if limit:
            add(f"3. mmap open + loadAll ≤ {limit:g} µs", ds, mm.median * 1e6 if mm else None, limit, "µs",
                f"median of {mm.runs}; min {mm.min * 1e6:.1f} µs" if mm else "not measured", greater=False)
        mv = bn("mmap open, verified")
        add("3. verified mmap open + loadAll ≤ 1.3× unverified mmap + touch", ds,
            (mv.median / bn("mmap + touch").median) if mv and bn("mmap + touch") else None, 1.3, "× (time)",
            (f"{fmt_s(mv.median)} vs {fmt_s(bn('mmap + touch').median)}; min/min {mv.min / bn('mmap + touch').min:.2f}×")
            if mv and bn("mmap + touch") else "not measured", greater=False)
        np_touch = find(ds, "np.save/np.load (.npy per array)", "mmap + touch")
        add("3. mmap + touch ≥ 1.0× np.load(mmap_mode='r') + touch", ds, speed_ratio(bn("mmap + touch"), np_touch), 1.0, "×",
            vs(bn("mmap + touch"), np_touch))
        # 5. Compressed. The accelerated lz4 row counts for the save target only
        # at a ratio ≥ blosc2's, and the default must keep a ratio ≥ blosc2's too.
        for brine, blosc, save_x, load_x in [("brine lz4+shuffle", "blosc2 lz4-1+shuffle", 3.0, None),
                                              ("brine lz4+shuffle, acceleration 4", "blosc2 lz4-1+shuffle", 3.0, None),
                                              ("brine zstd-1+shuffle", "blosc2 zstd-1+shuffle", 2.0, 1.5)]:
            bs, os_ = find(ds, brine, "save"), find(ds, blosc, "save")
            short = brine.removeprefix("brine ")
            add(f"5. {short}: ratio ≥ {blosc}'s", ds, (bs.ratio / os_.ratio) if bs and os_ else None, 1.0, "× of blosc2's ratio",
                f"Brine {bs.ratio:.3f} vs blosc2 {os_.ratio:.3f}" if bs and os_ else "not measured")
            add(f"5. {short}: save ≥ {save_x:g}× {blosc}", ds, speed_ratio(bs, os_), save_x, "×", vs(bs, os_))
            if load_x:
                bl, ol = find(ds, brine, "load"), find(ds, blosc, "load")
                add(f"5. {short}: load ≥ {load_x:g}× {blosc}", ds, speed_ratio(bl, ol), load_x, "×", vs(bl, ol))
        # 7. Overwriting a checkpoint.
        peer = fastest(ds, None, "overwrite")
        add("7. save over an existing file ≥ 1.0× fastest peer's overwrite", ds, speed_ratio(bn("overwrite"), peer), 1.0, "×",
            vs(bn("overwrite"), peer))
        ar = find(ds, "fallocate + write + rename", "overwrite")
        add("(info) save over an existing file vs fallocate + write + rename", ds, speed_ratio(bn("overwrite"), ar), 0.0, "×",
            vs(bn("overwrite"), ar))
        za, z1 = find(ds, "brine zstd-1+shuffle", "save"), find(ds, "brine zstd-1+shuffle, 1 thread", "save")
        add("(info) all-core zstd-1+shuffle save vs one core", ds, speed_ratio(za, z1), 0.0, "×",
            f"{min_note(za, z1)}; {os.cpu_count()} cores; {par}")
    import compare_extra
    if disk is not None:
        compare_extra.disk_targets(sys.modules[__name__], disk, add)
    else:
        add("6. disk: durable save and cold load vs fio, np.save + fsync, safetensors + fsync", None, None, 0.0, "×",
            "not measured in this run (--datasets disk)")
    if scaling:
        compare_extra.scaling_targets(sys.modules[__name__], scaling, add)
    else:
        add("3./8. 20,000-array mmap open; how cost grows (scaling section)", None, None, 0.0, "×",
            "not measured in this run (--datasets scaling)")
    add("4. Codable: Brine.load(.mmap) ≤ 1.1× loadAll; save and copy load ≤ 1.05× direct", None, None, 0.0, "×",
        "measured by `swift run -c release Benchmarks` (Codable rows), not by this script")
    return ts


def render_targets(ts: list[Target]) -> str:
    out = ["| target | dataset | measured | status | detail |", "|:--|:--|--:|:--|:--|"]
    for t in ts:
        v = "—" if t.value is None else ({"µs": f"{t.value:.1f} µs", "ms": f"{t.value:.2f} ms"}.get(t.unit) or f"{t.value:.2f}×")
        s = "n/a" if t.passed is None else ("info" if t.name.startswith("(info)") else ("PASS" if t.passed else "FAIL"))
        out.append(f"| {t.name} | {t.dataset} | {v} | {s} | {t.detail} |")
    return "\n".join(out)


def plot_dataset(ds: Dataset, folder: Path) -> list[Path]:
    """A bar chart of save, overwrite, load and fresh-process load throughput (MB/s of raw bytes, medians) per
    method, with the physical-limit line (save/overwrite: the faster of one write(2) and fallocate + one write(2);
    load: one read(2) into a preallocated buffer; fresh-process load: one read(2) into a fresh buffer); written as
    compare-<dataset>.png and .svg into `folder`."""
    panels = [("save", "save (new file)", ["raw write(2)", "fallocate + one write(2)"]),
              ("overwrite", "save over an existing file", ["raw write(2)", "fallocate + one write(2)"]),
              ("load", "load by copy", ["raw read(2), preallocated"]),
              ("load, fresh process", "load, one per fresh process", ["raw read(2), fresh buffer"])]

    def limit(op: str, limits: list[str]) -> Row | None:
        rows = [r for r in (find(ds, m, "load" if op.startswith("load") else op) for m in limits) if r]
        return max(rows, key=lambda r: r.mbps, default=None)

    return plot_bars(ds, [(op, title, lambda op=op, lm=lm: limit(op, lm)) for op, title, lm in panels],
                     f"{ds.name}: {fmt_b(ds.raw_bytes)} in {ds.array_count} arrays (dashed: physical-limit proxy)",
                     folder, f"compare-{ds.key}", baseline_prefixes=("raw ", "fallocate"))


def plot_bars(ds: Dataset, panels: list[tuple[str, str, Callable[[], Row | None]]], title: str, folder: Path, stem: str,
              baseline_prefixes: tuple[str, ...]) -> list[Path]:
    """One horizontal bar chart per (op, panel title, limit row) of every method's MB/s (medians), Brine in red,
    the limit row as a dashed line; methods starting with `baseline_prefixes` are lines, not bars.
    Written as <stem>.png and .svg into `folder`; returns the paths (none when no panel has data)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p_ for p_ in panels if any(r.op == p_[0] and r.median for r in ds.rows)]
    if not panels:
        return []
    methods = []
    for r in ds.rows:
        if r.median and not r.method.startswith(baseline_prefixes) and r.method not in methods:
            methods.append(r.method)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 0.32 * len(methods) + 1.9), sharey=True)
    if len(panels) == 1:
        axes = [axes]
    for ax, (op, panel_title, limit) in zip(axes, panels):
        vals = [(find(ds, m, op).mbps if find(ds, m, op) else 0.0) for m in methods]
        ax.barh(range(len(methods)), vals, color=["#c8553d" if m.startswith("brine") else "#8a9bb0" for m in methods])
        best = limit()
        if best:
            ax.axvline(best.mbps, color="black", linestyle="--", linewidth=1)
            ax.text(best.mbps, len(methods) - 0.45, f"{best.method}: {best.mbps:.0f} MB/s ", fontsize=7, va="top", ha="right")
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel("MB/s of raw array bytes (median)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(methods)))
    axes[0].set_yticklabels(methods, fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return save_figure(fig, plt, folder, stem)


def save_figure(fig, plt, folder: Path, stem: str) -> list[Path]:
    """Writes `fig` as <stem>.png and <stem>.svg into `folder` and closes it; returns the two paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        p_ = folder / f"{stem}.{ext}"
        fig.savefig(p_, dpi=110)
        paths.append(p_)
    plt.close(fig)
    return paths


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    flags = set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "ram_bytes": mem,
        "simd": [f for f in ("avx2", "avx512f", "avx512bw", "f16c") if f in flags],
        "kernel": platform.release(),
        "loadavg_start": os.getloadavg(),
        "cpu_parallelism_start": cpu_parallelism(),
    }


def _spin(n: int) -> int:
    x = 0
    for i in range(n):
        x += i
    return x


def cpu_parallelism(seconds: float = 0.5) -> float:
    """How many cores this process can use right now: the time of one busy
    process against two at once (2.0 on an idle 2-core machine). On a shared
    machine it can be near 1, and then no all-core figure can beat one core."""
    import multiprocessing as mp

    n = 1_000_000
    t = time.perf_counter()
    _spin(n)
    n = max(n, int(n * seconds / max(time.perf_counter() - t, 1e-6)))
    t = time.perf_counter()
    _spin(n)
    one = time.perf_counter() - t
    with mp.get_context("fork").Pool(2) as pool:
        t = time.perf_counter()
        pool.map(_spin, [n, n])
        two = time.perf_counter() - t
    return 2 * one / two


def versions(brine_bin: Path | None) -> dict:
    import blosc2
    import joblib
    import lz4
    import safetensors
    import threadpoolctl

    v = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "joblib": joblib.__version__,
        "lz4 (python)": lz4.__version__,
        "lz4 (library in python-lz4)": lz4.library_version_string(),
        "safetensors": safetensors.__version__,
        "blosc2": blosc2.__version__,
        "c-blosc2": blosc2.blosclib_version.split(" ")[0],
        "threadpoolctl": threadpoolctl.__version__,
    }
    try:  # the codec libraries bundled in blosc2's wheel (Brine links Debian's, listed below)
        codecs = {c.name: blosc2.clib_info(c)[1].decode() for c in blosc2.compressor_list(plugins=False)}
        v["blosc2's lz4/zstd"] = f"{codecs.get('LZ4', '?')} / {codecs.get('ZSTD', '?')}"
    except Exception:  # an API that moved must not stop the benchmark
        pass
    for cmd, key in [(["git", "-C", str(REPO), "describe", "--always", "--dirty"], "brine (git)"),
                     (["swift", "--version"], "swift"),
                     (["pkg-config", "--modversion", "liblz4", "libzstd", "libxxhash"], "brine's liblz4/libzstd/libxxhash")]:
        try:
            s = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout.strip()
            v[key] = s.splitlines()[0] if key == "swift" else s.replace("\n", " / ")
        except (OSError, subprocess.SubprocessError):
            v[key] = "unknown"
    return v


def blas_check(arrays: dict[str, np.ndarray], out: Path, runs: int) -> dict:
    """Times np.save/np.load/pickle with BLAS limited to 1 thread and unlimited.

    None of the measured operations calls BLAS (they copy, write and read
    bytes), so the two should agree within noise.
    """
    import pickle

    from threadpoolctl import threadpool_info, threadpool_limits

    def np_save():
        for i, a in enumerate(arrays.values()):
            np.save(out / f"{i}.npy", a)

    def np_load():
        return [np.load(out / f"{i}.npy") for i in range(len(arrays))]

    def pk():
        return pickle.loads(pickle.dumps(arrays, protocol=5))

    res = {"threadpools": [{k: p.get(k) for k in ("internal_api", "version", "num_threads")} for p in threadpool_info()]}
    for label, ctx in [("BLAS default threads", None), ("BLAS limited to 1", 1)]:
        row = {}
        with threadpool_limits(limits=ctx) if ctx else _null():
            for name, fn in [("np.save", np_save), ("np.load", np_load), ("pickle dumps+loads", pk)]:
                t = measure(fn, runs)
                row[name] = {"median": t.median, "min": t.min}
        res[label] = row
    for p in out.glob("*.npy"):
        p.unlink()
    return res


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small datasets (64 MiB array, 32 MiB 200-array model) plus MiniLM")
    ap.add_argument("--json", action="store_true", help="print JSON to stdout instead of markdown")
    ap.add_argument("--json-file", help="also write the JSON report to this file")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per measurement, at least 5 (default 5)")
    ap.add_argument("--mmap-runs", type=int, default=21, help="timed runs for the mmap-open rows (default 21)")
    ap.add_argument("--workdir", default=str(REPO / ".bench-data"),
                    help="folder for the cached synthetic inputs and the outputs (default <repo>/.bench-data, ignored by git)")
    ap.add_argument("--brine-bin", default=str(REPO / ".build/release/Benchmarks"), help="the Brine bench executable (swift build -c release --product Benchmarks)")
    ap.add_argument("--model", help="path of the MiniLM safetensors checkpoint")
    ap.add_argument("--datasets", default="minilm,array,model,disk,scaling",
                    help="comma list of minilm, array, model (page cache), disk (4 GiB durable save and cold load, with fio), "
                         "scaling (size 16 MiB … 4 GiB and array count 10 … 100,000); default all")
    ap.add_argument("--disk-runs", type=int, default=3, help="timed runs per disk row (each takes seconds; default 3)")
    ap.add_argument("--scaling-runs", type=int, default=3, help="timed runs per scaling point (default 3)")
    ap.add_argument("--blosc2-lz4-levels", default="1,9",
                    help="blosc2 LZ4 clevels to measure (default 1,9: 1 as asked; 9 = LZ4 acceleration 1, the same LZ4 call Brine makes; "
                         "levels other than 1 run on MiniLM only)")
    ap.add_argument("--no-blas-check", action="store_true", help="skip the BLAS-threads check")
    ap.add_argument("--skip-brine", action="store_true", help="Python methods only (for debugging the script)")
    ap.add_argument("--fresh-runs", type=int, default=5, help="new processes per \"load, fresh process\" row (default 5; 0 skips them)")
    ap.add_argument("--plots-dir", help="folder for the plots (default docs/, or the workdir with --quick)")
    ap.add_argument("--no-plots", action="store_true", help="skip the matplotlib plots")
    ap.add_argument("--fresh-load", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fresh_load:
        return fresh_load_main(*args.fresh_load)
    if args.runs < 5:
        ap.error("--runs must be at least 5")
    args.datasets = [s.strip() for s in args.datasets.split(",") if s.strip()]
    if bad := set(args.datasets) - {"minilm", "array", "model", "disk", "scaling"}:
        ap.error(f"unknown datasets: {', '.join(sorted(bad))}")
    levels = [int(x) for x in args.blosc2_lz4_levels.split(",") if x.strip()]
    if 1 not in levels:
        ap.error("--blosc2-lz4-levels must include 1 (the targets compare with blosc2 lz4 level 1)")
    brine_bin = Path(args.brine_bin)
    if not args.skip_brine and not os.access(brine_bin, os.X_OK):
        ap.error(f"{brine_bin} not found: run `swift build -c release --product Benchmarks` (scripts/compare.sh does)")

    workdir = Path(args.workdir)
    out = workdir / f"out-{os.getpid()}"
    out.mkdir(parents=True, exist_ok=True)
    started = _dt.datetime.now().astimezone()
    t_start = time.perf_counter()
    machine = machine_info()
    vers = versions(brine_bin)
    report: dict = {"date": started.isoformat(timespec="seconds"), "machine": machine, "versions": vers,
                    "settings": {"runs": args.runs, "mmap_runs": args.mmap_runs, "warmup": 1, "quick": args.quick,
                                 "fsync": False, "page_cache": "warm (sync(2) between saves and loads)"}}
    datasets: list[Dataset] = []
    disk: Dataset | None = None
    scaling: dict | None = None
    try:
        inputs = prepare_datasets(args, workdir)
        for key, name, path in inputs:
            methods = python_methods(levels, minilm=key == "minilm")
            arrays = load_input(path)
            ds = Dataset(key, name, path, arrays, sum(a.nbytes for a in arrays.values()), len(arrays))
            dtypes = sorted({str(a.dtype) for a in arrays.values()})
            log(f"{name}: {len(arrays)} arrays, {fmt_b(ds.raw_bytes)} ({', '.join(dtypes)}) from {path}")
            if key == "minilm" and not args.no_blas_check:
                log("  BLAS-threads check (np.save / np.load / pickle, BLAS default vs 1 thread)…")
                report["blas_check"] = blas_check(arrays, out, args.runs)
            run_raw(ds, out, args.runs)
            for m in methods:
                run_method(ds, m, out, args.runs, args.mmap_runs, args.fresh_runs)
            if not args.skip_brine:
                run_brine(ds, brine_bin, out, args.runs, args.mmap_runs, args.fresh_runs)
            compute_factors(ds)
            ds.arrays = {}  # free before the next dataset
            gc.collect()
            datasets.append(ds)
        import compare_extra
        me = sys.modules[__name__]
        if "disk" in args.datasets:
            disk = compare_extra.run_disk(me, args, workdir, out, None if args.skip_brine else brine_bin)
            compute_factors(disk)
        if "scaling" in args.datasets:
            scaling = compare_extra.run_scaling(me, args, workdir, out, None if args.skip_brine else brine_bin)
    finally:
        shutil.rmtree(out, ignore_errors=True)

    machine["loadavg_end"] = os.getloadavg()
    machine["cpu_parallelism_end"] = cpu_parallelism()
    # Which XXH3 loop Brine's build hashes with (Benchmarks io reports it):
    # a build without the AVX2 loop makes every hashing row pessimistic.
    machine["checksum_kernel"] = BRINE_CHECKSUMS.get("kernel")
    machine["checksum_warning"] = BRINE_CHECKSUMS.get("warning")
    targets = check_targets(datasets, machine, disk, scaling)
    plots: list[Path] = []
    if not args.no_plots:
        folder = Path(args.plots_dir) if args.plots_dir else (workdir if args.quick else REPO / "docs")
        try:
            for d in datasets:
                plots += plot_dataset(d, folder)
            import compare_extra
            if disk is not None:
                plots += compare_extra.plot_disk(sys.modules[__name__], disk, folder)
            if scaling:
                plots += compare_extra.plot_scaling(sys.modules[__name__], scaling, folder)
        except ImportError as e:
            log(f"note: no plots ({e}); scripts/compare.sh installs matplotlib into .venv-bench")
    report["plots"] = [str(p_) for p_ in plots]
    report["elapsed_seconds"] = time.perf_counter() - t_start
    report["datasets"] = [{"name": d.name, "input": str(d.input_path), "raw_bytes": d.raw_bytes,
                           "rows": [r.to_json() for r in d.rows], "brine_reports": d.brine_reports} for d in datasets]
    if disk is not None:
        report["disk"] = {"name": disk.name, "input": str(disk.input_path), "raw_bytes": disk.raw_bytes,
                          "cold_resident_fraction": getattr(disk, "cold_resident", None),
                          "rows": [r.to_json() for r in disk.rows], "brine_reports": disk.brine_reports}
    if scaling:
        report["scaling"] = scaling
    report["targets"] = [asdict(t) for t in targets]
    if args.json_file:
        Path(args.json_file).write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
        return 0

    p = print
    p(f"# Brine vs Python serializers — {report['date']}\n")
    p(f"- Machine: {machine['cpu']}, {machine['cores']} cores ({machine['cores_usable']} usable), {fmt_b(machine['ram_bytes'])} RAM, "
      f"SIMD {'/'.join(machine['simd']) or 'none'}, Brine's checksums {machine.get('checksum_kernel') or 'not run'}, Linux {machine['kernel']}; "
      f"load average {machine['loadavg_start'][0]:.1f} at start, {machine['loadavg_end'][0]:.1f} at end; "
      f"usable parallelism (two busy processes vs one) {machine['cpu_parallelism_start']:.2f}× at start, "
      f"{machine['cpu_parallelism_end']:.2f}× at end")
    if machine.get("checksum_warning"):
        p(f"- **{machine['checksum_warning']}**")
    p("- Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    p(f"- Method: median (and min) of {args.runs} timed runs after 1 warm-up ({args.mmap_runs} runs for mmap open); "
      "every save writes a new file (previous output deleted before each run, untimed); no fsync anywhere; "
      "loads from the page cache (one untimed sync(2) after the saves); MB/s of raw array bytes; "
      "ratio = raw bytes / file size; peak RSS + = VmHWM during the run − RSS before it (max over runs; a lower bound when "
      "the allocator reuses memory freed by the previous run). "
      "\"N× faster\" = that row's median / Brine's median for the same op (save↔save, load↔load by copy, "
      "mmap open↔mmap open, mmap + touch↔mmap + touch; raw write↔Brine save, raw read↔Brine load); > 1 means Brine is faster. "
      "Raw baselines use page-aligned buffers (a read into a buffer at page offset 1–31 from the page-aligned page cache "
      "runs ~3× slower on this CPU, and glibc puts large allocations at offset 16).")
    p("- blosc2: one .b2nd per array, `blosc2.asarray(a, urlpath=…, mode='w', cparams=CParams(codec, clevel, filters=[SHUFFLE], nthreads=2))`, "
      "loaded with `blosc2.open(path, mode='r', dparams=DParams(nthreads=2))[:]`; blosc2 maps LZ4 clevel c to LZ4 acceleration 10 − c. "
      "Brine: `Benchmarks io` (BrineWriter with durable = false; BrineFile .copy/.mmap + loadAll; mmap open and touch with ReadOptions(verifyChecksums: false), mmap open, verified with the default; touch = one byte per 4 KiB page). "
      "np.save: one .npy per array in a folder. pickle: `pickle.dump(d, f, protocol=5)` to a file.")
    if "blas_check" in report:
        bc = report["blas_check"]
        pools = ", ".join(f"{p_['internal_api']} {p_['version']} ({p_['num_threads']} threads)" for p_ in bc["threadpools"]) or "none"
        cells = "; ".join(f"{op}: {fmt_s(bc['BLAS default threads'][op]['median'])} vs {fmt_s(bc['BLAS limited to 1'][op]['median'])}"
                          for op in bc["BLAS default threads"])
        p(f"- BLAS threads: thread pools loaded: {pools}. None of these operations calls BLAS (they copy and do I/O); "
          f"MiniLM check, default vs threadpool_limits(1): {cells}.")
    p("- Overwrite rows save over the previous run's output after an untimed sync(2) (the old checkpoint is on disk); "
      "\"load, fresh process\" is one load per new process (a cold allocator: no memory kept from an earlier run), "
      f"{args.fresh_runs} processes, timed inside each around the load call only (not the interpreter start or imports). "
      "The peer rows' \"peak RSS +\" is a lower bound where the allocator reuses memory freed by the previous run "
      "(numpy arrays under glibc's mmap threshold, e.g. most MiniLM arrays); the fresh-process rows have no such reuse.")
    p(f"- Elapsed: {report['elapsed_seconds']:.0f} s\n")
    for d in datasets:
        p(f"## {d.name} — {fmt_b(d.raw_bytes)} raw\n")
        for p_ in plots:
            if p_.name == f"compare-{d.key}.svg":
                rel = os.path.relpath(p_, REPO / "docs")
                p(f"![{d.name}: save and load throughput per method]({rel})\n")
        p(render_table(d))
        p()
    if disk is not None:
        p(f"## {disk.name}\n")
        p("Durable save: every byte on disk before the call returns (fsync of the file(s) and the folder; fio: end_fsync=1). "
          "Cold load: before every run the file's pages are evicted (fsync, posix_fadvise(POSIX_FADV_DONTNEED), checked with "
          f"mincore: at most {getattr(disk, 'cold_resident', 0) * 100:.2f} % of any file's pages were still resident; fio: invalidate=1). "
          f"Median of {args.disk_runs} runs after one warm-up.\n")
        for p_ in plots:
            if p_.name == "compare-disk.svg":
                p(f"![disk: durable save and cold load throughput]({os.path.relpath(p_, REPO / 'docs')})\n")
        p(render_table(disk))
        p()
    if scaling:
        import compare_extra
        p("## How cost grows\n")
        p(f"Page cache, no fsync, median of {args.scaling_runs} runs after one warm-up (open: at least 11). "
          "Brine: save, load by copy (verified), open = mmap + loadAll unverified (\"open, verified\": the default). "
          "safetensors: open = safe_open + get_slice of every tensor. pickle and joblib cannot open without loading.\n")
        for p_ in plots:
            if p_.name.startswith("compare-scaling-") and p_.suffix == ".svg":
                p(f"![{p_.stem}]({os.path.relpath(p_, REPO / 'docs')})\n")
        p(compare_extra.scaling_tables(sys.modules[__name__], scaling))
    p("## Targets\n")
    p(render_targets(targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
