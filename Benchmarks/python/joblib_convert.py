#!/usr/bin/env python3
"""Converting a 512 MiB joblib file to Brine vs joblib.load (issue 14).

Usage: joblib_convert.py BRINE_EXECUTABLE WORKDIR [--runs N] [--baseline OTHER_BRINE] [--alone]

--alone times each case on its own instead of round-robin (see below).

Writes WORKDIR/model.joblib (8 float32 arrays of 64 MiB in a dict,
joblib.dump without compression) once, then, with the file in the page
cache, takes the median wall and CPU (user + system) time of N runs of:
  - joblib.load(path) in this process (the baseline);
  - `brine convert model.joblib out.brine` (default: durable, fsync);
  - `brine convert --no-sync` (atomic, no fsync);
  - `brine inspect` (reading alone);
  - the floor: the same number of bytes written from memory to a new file
    by this process (with and without fsync): what writing costs here.
Each convert run removes the previous output first. Prints a table with the
speed relative to joblib.load (baseline time / time: higher is faster).
"""
import os, resource, statistics, subprocess, sys, time

import joblib
import numpy as np


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_self():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    brine, work = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 5
    # --baseline OTHER_BRINE: also time `convert` of another build (A/B).
    other = sys.argv[sys.argv.index("--baseline") + 1] if "--baseline" in sys.argv else None
    os.makedirs(work, exist_ok=True)
    src = os.path.join(work, "model.joblib")
    out = os.path.join(work, "out.brine")
    if not os.path.exists(src):
        rng = np.random.default_rng(14)
        arrays = {f"layer{i}": rng.standard_normal(16 << 20, dtype=np.float32).reshape(4096, 4096) for i in range(8)}
        joblib.dump(arrays, src, compress=0)
    size = os.path.getsize(src)
    with open(src, "rb") as f:  # into the page cache
        while f.read(64 << 20):
            pass

    def py_load():
        c0, t0 = cpu_self(), time.perf_counter()
        d = joblib.load(src)
        t1, c1 = time.perf_counter(), cpu_self()
        assert sum(a.nbytes for a in d.values()) == 512 << 20
        del d
        return t1 - t0, c1 - c0

    def cli(*args, exe=None):
        def run():
            if os.path.exists(out):
                os.remove(out)
            c0, t0 = cpu_children(), time.perf_counter()
            subprocess.run([exe or brine, *args], check=True, stdout=subprocess.DEVNULL)
            t1, c1 = time.perf_counter(), cpu_children()
            return t1 - t0, c1 - c0
        return run

    data = open(src, "rb").read()

    def raw_write(sync):
        # The floor for any converter: the file's bytes written from memory
        # to a new file in 64 MiB writes (+ fsync of file and folder).
        def run():
            if os.path.exists(out):
                os.remove(out)
            c0, t0 = cpu_self(), time.perf_counter()
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            view, off = memoryview(data), 0
            while off < len(data):
                off += os.write(fd, view[off:off + (64 << 20)])
            if sync:
                os.fsync(fd)
            os.close(fd)
            if sync:
                d = os.open(work, os.O_RDONLY)
                os.fsync(d)
                os.close(d)
            t1, c1 = time.perf_counter(), cpu_self()
            return t1 - t0, c1 - c0
        return run

    cases = [
        ("joblib.load (in process)", py_load),
        ("floor: write the file's bytes from memory + fsync (in process)", raw_write(True)),
        ("floor: write the file's bytes from memory, no fsync (in process)", raw_write(False)),
        ("brine inspect (process start included)", cli("inspect", src)),
        ("brine convert (default: fsync)", cli("convert", src, out)),
        ("brine convert --no-sync", cli("convert", "--no-sync", src, out)),
    ]
    if other:
        cases.append((f"baseline {other}: convert (default: fsync)", cli("convert", src, out, exe=other)))
        cases.append((f"baseline {other}: convert --no-sync", cli("convert", "--no-sync", src, out, exe=other)))
    if "--alone" in sys.argv:
        # Each case on its own, back to back: joblib.load 8 times in a row,
        # then each convert 8 times with a sync before each; the median of
        # the last 7 (the first run warms up).
        def alone(name, fn, before=None):
            os.sync()
            time.sleep(2)
            ss = []
            for _ in range(8):
                if before:
                    before()
                ss.append(fn()[0])
            print(f"| {name} | {statistics.median(ss[1:]) * 1000:.0f} ms | {min(ss) * 1000:.0f}–{max(ss) * 1000:.0f} ms | "
                  f"{' '.join(str(round(x * 1000)) for x in ss)} |", flush=True)
            return statistics.median(ss[1:])
        print(f"file: {src}, {size / (1 << 20):.1f} MiB; each case alone, 8 runs, median of the last 7; load average {os.getloadavg()[0]:.2f}")
        print("| operation | wall (median) | min–max | all runs (ms) |")
        print("|:--|--:|--:|:--|")
        base = alone("joblib.load (in process)", py_load)
        for name, fn in cases[1:]:
            t = alone(name, fn, before=os.sync)
            print(f"|  ↳ speed vs joblib.load | {base / t:.2f}× | | |")
        return

    # Round-robin over the cases (one warm-up round first), so that load
    # from other processes on a shared machine falls on all of them alike.
    for _, fn in cases:
        fn()
    samples = {name: [] for name, _ in cases}
    for _ in range(runs):
        for name, fn in cases:
            samples[name].append(fn())
    results = {}
    for name, ss in samples.items():
        results[name] = (statistics.median(s[0] for s in ss), statistics.median(s[1] for s in ss),
                         min(s[0] for s in ss), max(s[0] for s in ss))
    base_wall, base_cpu = results[cases[0][0]][:2]
    print(f"file: {src}, {size / (1 << 20):.1f} MiB; median of {runs} interleaved runs after one warm-up round; load average {os.getloadavg()[0]:.2f}")
    print(f"| operation | wall (median) | wall min–max | CPU (median) | speed vs joblib.load (wall / CPU) |")
    print(f"|:--|--:|--:|--:|--:|")
    for name, (wall, cpu, lo, hi) in results.items():
        print(f"| {name} | {wall * 1000:.0f} ms | {lo * 1000:.0f}–{hi * 1000:.0f} ms | {cpu * 1000:.0f} ms | "
              f"{base_wall / wall:.2f}× / {base_cpu / cpu if cpu else float('inf'):.2f}× |")
    if os.path.exists(out):
        os.remove(out)


if __name__ == "__main__":
    main()
