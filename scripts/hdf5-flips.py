#!/usr/bin/env python3
"""Random byte changes of an HDF5 file through `brine inspect` (issue 14).

Usage: hdf5-flips.py BRINE_EXECUTABLE FILE.h5 [COUNT] [SEED] [--keep DIR]

Writes COUNT copies of FILE with one random byte replaced by a random
value and runs `brine inspect` on each. Every run must end with exit 0
(read) or 1/2 (a typed error); a run killed by a signal, or one that takes
more than 60 s, is a failure and its input is kept in DIR (default
./hdf5-flip-failures). Prints the outcome counts; exits 1 on any failure.
libhdf5 itself crashes on about 1 in 1,000 such files (see
Tests/BrineTests/Fixtures/README.md, `hdf5/`): the CLI reads HDF5 in a
child process, so those must come out as exit 1 with "libhdf5 crashed".
"""
import collections, os, random, subprocess, sys, tempfile

args = [a for a in sys.argv[1:] if not a.startswith("--")]
brine, src = args[0], args[1]
count = int(args[2]) if len(args) > 2 else 500
seed = int(args[3]) if len(args) > 3 else 1
keep = sys.argv[sys.argv.index("--keep") + 1] if "--keep" in sys.argv else "hdf5-flip-failures"
good = open(src, "rb").read()
rng = random.Random(seed)
stats = collections.Counter()
failures = 0
with tempfile.TemporaryDirectory() as tmp:
    probe = os.path.join(tmp, "probe.h5")
    for i in range(count):
        b = bytearray(good)
        pos = rng.randrange(len(b))
        b[pos] = rng.randrange(256)
        open(probe, "wb").write(b)
        try:
            r = subprocess.run([brine, "inspect", probe], capture_output=True, text=True, timeout=60)
            outcome = r.returncode
            if outcome == 1 and "libhdf5 crashed" in r.stderr:
                outcome = "1 (libhdf5 crashed, contained)"
        except subprocess.TimeoutExpired:
            outcome = "timeout"
        stats[outcome] += 1
        if outcome not in (0, 1, 2, "1 (libhdf5 crashed, contained)"):
            failures += 1
            os.makedirs(keep, exist_ok=True)
            open(os.path.join(keep, f"flip-{pos}-{b[pos]:02x}.h5"), "wb").write(b)
            print(f"FAIL: byte {pos} = {b[pos]:#04x}: {outcome}", flush=True)
print(dict(stats))
sys.exit(1 if failures else 0)
