#!/usr/bin/env python3
"""Differential check of Brine's interop readers against the reference
libraries, over a fuzz corpus (or any folder of files).

    python fuzz/differential.py safetensors BRINE DIR...
    python fuzz/differential.py numpy BRINE DIR...

BRINE is the `brine` command-line tool (swift build --product brine). Each
file is read by the reference library (safetensors' Rust reader through
`safetensors.deserialize`; NumPy's `numpy.lib.format.read_array` as a .npy
and `numpy.load` as a .npz) and by Brine (`brine convert --from FORMAT FILE
OUT.safetensors`, whose output is read back with `safetensors.deserialize`,
so every dtype, bfloat16 included, is compared byte for byte). Per file:

- both accept:   names, dtypes, shapes and little-endian C-order bytes must agree;
- only Brine accepts, or both accept but differ: a finding (listed);
- only the reference accepts: listed by Brine's error, since Brine is
  stricter by design in places (no duplicate JSON keys, no trailing data
  after a .npy array, only the Python literal subset NumPy writes, dtypes
  Brine does not have).

Exit status 1 when there is a finding. Needs the project venv (scripts/python-env.sh).
"""
import io
import os
import re
import subprocess
import sys
import tempfile
import zipfile

import warnings

import numpy as np
import safetensors

warnings.simplefilter("ignore")  # NumPy's notes on Python 2 headers

NUMPY_TO_ST = {"b": "BOOL", "i1": "I8", "u1": "U8", "i2": "I16", "u2": "U16", "i4": "I32", "u4": "U32",
               "i8": "I64", "u8": "U64", "f2": "F16", "f4": "F32", "f8": "F64"}


def st_tensors(data):
    """{name: (dtype, shape, bytes)} from safetensors bytes, by the reference reader."""
    return {name: (t["dtype"], tuple(t["shape"]), bytes(t["data"])) for name, t in safetensors.deserialize(data)}


def numpy_entry(a):
    kind = "b" if a.dtype.kind == "b" else a.dtype.kind + str(a.dtype.itemsize)
    if kind not in NUMPY_TO_ST:
        raise TypeError(f"dtype {a.dtype} has no Brine equivalent")
    le = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False)
    return NUMPY_TO_ST[kind], tuple(a.shape), le.tobytes()


def ref_numpy_npy(data):
    a = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    return a


def ref_npy(path, data):
    return {os.path.splitext(os.path.basename(path))[0]: numpy_entry(ref_numpy_npy(data))}


def ref_npz(path, data):
    out = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for info in z.infolist():
            if not info.filename.endswith(".npy"):
                raise ValueError(f"member {info.filename!r} is not .npy")
            out[info.filename[:-4]] = numpy_entry(ref_numpy_npy(z.read(info)))
        if len(out) != len(z.infolist()):
            raise ValueError("duplicate member names")
    return out


def brine(brine_tool, fmt, path, out):
    r = subprocess.run([brine_tool, "convert", "--from", fmt, path, out], capture_output=True, text=True)
    if r.returncode != 0:
        return None, (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[0]
    with open(out, "rb") as f:
        return st_tensors(f.read()), None


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("safetensors", "numpy"):
        sys.exit(__doc__)
    kind, tool, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
    files = sorted({os.path.join(d, f) for d in dirs for f in os.listdir(d)})
    readers = [("safetensors", lambda p, d: st_tensors(d))] if kind == "safetensors" else [("npy", ref_npy), ("npz", ref_npz)]
    counts, findings, stricter = {}, [], {}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.safetensors")
        for path in files:
            with open(path, "rb") as f:
                data = f.read()
            # brine convert names a .npy's array after the file.
            for fmt, ref_reader in readers:
                try:
                    ref, ref_err = ref_reader(path, data), None
                except Exception as e:  # the reference refuses the file
                    ref, ref_err = None, f"{type(e).__name__}: {e}"
                if os.path.exists(out):
                    os.unlink(out)
                got, brine_err = brine(tool, fmt, path, out)
                if ref is not None and got is not None:
                    key = "both accept, same" if ref == got else "both accept, DIFFERENT"
                    if ref != got:
                        findings.append((path, fmt, f"reference {summ(ref)} vs Brine {summ(got)}"))
                elif ref is None and got is None:
                    key = "both refuse"
                elif got is not None:
                    key = "only Brine accepts"
                    findings.append((path, fmt, f"reference refuses: {ref_err}"))
                else:
                    key = "only the reference accepts"
                    # Group by Brine's message without numbers, names and location.
                    msg = re.sub(r"^brine: error: ", "", brine_err or "?")
                    msg = re.sub(r" \(file .*\)$", "", msg)
                    reason = re.sub(r"'[^']*'|\"[^\"]*\"|\[[^\]]*\]|\d+", "_", msg)[:100]
                    stricter.setdefault(reason, []).append((os.path.basename(path), brine_err))
                counts[(fmt, key)] = counts.get((fmt, key), 0) + 1
    print(f"{len(files)} files")
    for (fmt, key), n in sorted(counts.items()):
        print(f"  {fmt:12s} {key:28s} {n}")
    if stricter:
        print("only the reference accepts, by Brine's error:")
        for reason, items in sorted(stricter.items(), key=lambda kv: -len(kv[1])):
            print(f"  {len(items):5d}  {items[0][1][:160]}  (e.g. {items[0][0]})")
    for path, fmt, what in findings:
        print(f"FINDING {fmt} {path}: {what[:400]}")
    sys.exit(1 if findings else 0)


def summ(tensors):
    return {k: (v[0], v[1], len(v[2])) for k, v in list(tensors.items())[:4]}


if __name__ == "__main__":
    main()
