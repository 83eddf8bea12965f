#!/usr/bin/env python3
"""Extra fuzz seeds written by the reference libraries (NumPy, safetensors).

    python fuzz/reference_seeds.py TARGET DIR

scripts/fuzz.sh runs this with the project venv (scripts/python-env.sh) when
it exists, after BrineTestHelper has written Brine's own seeds: files from the
real libraries start the fuzzer from exactly what users will feed the readers.
Targets without reference seeds (FuzzContainer) write nothing.
"""
import os
import sys


def arrays(np):
    """Small arrays of every NumPy dtype Brine reads, varied bytes."""
    out = {}
    for code in ["?", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8"]:
        dt = np.dtype(code)
        raw = (np.arange(6 * dt.itemsize, dtype=np.uint64) * 37 + 11).astype(np.uint8)
        a = raw.view(np.uint8).copy()
        if code == "?":
            a &= 1
        out[code] = a.view(dt).reshape(2, 3)
    return out


def safetensors_seeds(d):
    import numpy as np
    from safetensors.numpy import save_file

    a = arrays(np)
    names = {"?": "bool", "i1": "i8", "u1": "u8", "i2": "i16", "u2": "u16", "i4": "i32", "u4": "u32",
             "i8": "i64", "u8": "u64", "f2": "f16", "f4": "f32", "f8": "f64"}
    for code, arr in a.items():
        save_file({"w": arr, "s": arr.reshape(-1)[:1].reshape(()), "e": arr[:0]},
                  os.path.join(d, f"ref-{names[code]}.safetensors"))
    save_file({f"layer.{i}.{names[c]}": arr for i, (c, arr) in enumerate(a.items())},
              os.path.join(d, "ref-all.safetensors"), metadata={"format": "np", "é": "ü\n"})
    save_file({}, os.path.join(d, "ref-empty.safetensors"))
    return len(a) + 2


def numpy_seeds(d):
    import numpy as np
    from numpy.lib import format as fmt

    a = arrays(np)
    n = 0
    for code, arr in a.items():
        name = code.replace("?", "bool")
        np.save(os.path.join(d, f"ref-{name}.npy"), arr)
        n += 1
        if arr.dtype.itemsize > 1:
            np.save(os.path.join(d, f"ref-be-{name}.npy"), arr.astype(arr.dtype.newbyteorder(">")))
            n += 1
        np.save(os.path.join(d, f"ref-fortran-{name}.npy"), np.asfortranarray(np.arange(24).reshape(2, 3, 4).astype(arr.dtype)))
        n += 1
    for version in [(1, 0), (2, 0), (3, 0)]:
        with open(os.path.join(d, f"ref-v{version[0]}.npy"), "wb") as f:
            fmt.write_array(f, np.asfortranarray(a["f4"]), version=version)
        n += 1
    np.save(os.path.join(d, "ref-rank0.npy"), np.float64(2.5))
    np.save(os.path.join(d, "ref-empty.npy"), np.zeros((0, 3), dtype=np.int16))
    members = {"w": a["f4"], "be": a["i8"].astype(">i8"), "f": np.asfortranarray(a["u2"]), "s": np.int32(7), "b": a["?"]}
    np.savez(os.path.join(d, "ref-stored.npz"), **members)
    np.savez_compressed(os.path.join(d, "ref-deflated.npz"), **members)
    np.savez_compressed(os.path.join(d, "ref-deflated-big.npz"), big=np.arange(2000, dtype=np.float32) % 13)
    np.savez(os.path.join(d, "ref-empty.npz"))
    return n + 6


def pickle_seeds(d):
    """Pickles of every protocol and joblib files with every compressor
    (small, so mutations reach every opcode handler and decoder)."""
    import collections
    import pickle
    import numpy as np

    a = arrays(np)
    obj = {"w": a["f4"], "be": a["i8"].astype(">i8"), "f": np.asfortranarray(a["u2"]), "s": np.float32(7),
           "py": [{1, 2}, frozenset([3]), 1 + 2j, bytearray(b"ab"), slice(1, 5), collections.OrderedDict(k=1),
                  2 ** 70, -5, 1.5, None, True, "t\u00e9", b"\x00", (1,)],
           "rec": np.zeros(2, dtype=[("a", "<i4"), ("b", ">f8")]), "u": np.array(["x", "yz"]),
           "o": np.array([1, "x"], dtype=object)}
    n = 0
    for p in range(6):
        with open(os.path.join(d, f"ref-p{p}.pkl"), "wb") as f:
            pickle.dump(obj, f, protocol=p)
        n += 1
    try:
        import joblib
    except ImportError:
        return n
    for c in ["none", "zlib", "gzip", "bz2", "xz", "lzma", "lz4"]:
        try:
            joblib.dump(obj, os.path.join(d, f"ref-{c}.joblib"), compress=0 if c == "none" else (c, 3))
            n += 1
        except Exception:  # lz4 missing
            pass
    return n


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: reference_seeds.py TARGET DIR")
    target, d = sys.argv[1], sys.argv[2]
    os.makedirs(d, exist_ok=True)
    writers = {"FuzzSafetensors": safetensors_seeds, "FuzzNumpy": numpy_seeds, "FuzzPickle": pickle_seeds}
    if target not in writers:
        return
    n = writers[target](d)
    print(f"wrote {n} reference seeds into {d}", file=sys.stderr)


if __name__ == "__main__":
    main()
