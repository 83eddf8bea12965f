"""Self-test of the installed ``brine`` package (no Swift, no pytest needed).

    python python/tests/test_package.py            # exits non-zero on failure

Run by scripts/python-package.sh after ``pip install ./python`` in a fresh
venv, and by the Swift suite (PythonPackageTests) against a --target install.
"""

import os
import sys
import tempfile

import numpy as np

import brine
import brine_reader
import brine_writer

DTYPES = ["?", "i1", "<i2", "<i4", "<i8", "u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8"]
CONFIGS = [("none", False), ("lz4", False), ("lz4", True), ("zstd", False), ("zstd", True)]


def sample(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(dt)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, shape, dtype=dt, endpoint=True)
    return rng.standard_normal(shape).astype(dt)


def tensors():
    t = {f"t.{np.dtype(d).name}": sample(d, (5, 7, 3), i) for i, d in enumerate(DTYPES)}
    t["scalar"] = np.float64(2.5)
    t["empty"] = np.zeros((0, 4), np.int16)
    t["big_endian"] = np.arange(40, dtype=">i4").reshape(8, 5)
    t["fortran"] = np.asfortranarray(np.arange(24, dtype=np.float32).reshape(4, 6))
    t["ramp"] = np.arange(4096, dtype=np.float32) % 17  # compressible
    return t


def main():
    d = tempfile.mkdtemp()
    path = os.path.join(d, "m.brine")
    t = tensors()
    meta = {"epochs": 3, "lr": 0.001, "name": "test", "tags": ["a", "b"], "nested": {"ok": True}}
    for codec, shuffle in CONFIGS:
        brine.save_file(t, path, metadata=meta, codec=codec, shuffle=shuffle, chunk_bytes=100)
        for mmap in (False, True):
            back = brine.load_file(path, mmap=mmap)
            assert list(back) == list(t), (list(back), list(t))
            for k, v in t.items():
                want = np.asarray(v)
                got = back[k]
                assert got.dtype == want.dtype.newbyteorder("<") or got.dtype == want.dtype, (k, got.dtype, want.dtype)
                assert got.shape == want.shape and np.array_equal(got, want), (k, codec, shuffle)
                if not mmap:
                    assert got.flags.writeable, k
        with brine.BrineFile(path) as f:
            assert f.format_version == (1, 1)
            assert f.verify() == []
            assert {k: f.metadata[k] for k in meta} == meta, f.metadata
            if codec != "none":
                # Incompressible random chunks are stored raw; the ramp compresses.
                assert sum(f.info("t.float64").raw_chunks) > 0 and sum(f.info("ramp").raw_chunks) == 0
                assert all(a.stored_bytes <= a.raw_stored for a in f.arrays)
    # mmap views of an uncompressed file are zero-copy and read-only.
    brine.save_file({"w": np.ones((64, 64), np.float32)}, path)
    views = brine.load_file(path, mmap=True)
    assert not views["w"].flags.writeable and not views["w"].flags.owndata
    # Checksums are verified by default.
    brine.save_file({"w": np.arange(1000, dtype=np.float32)}, path, codec="lz4")
    with brine.BrineFile(path) as f:
        off = f.info("w").data_offset
    data = bytearray(open(path, "rb").read())
    data[off + 3] ^= 0x40
    open(path, "wb").write(bytes(data))
    try:
        brine.load_file(path)
        raise AssertionError("damaged chunk loaded")
    except brine.BrineError as e:
        assert e.code == "checksumMismatch", e
    # Bad arguments and dtypes are refused before the destination changes.
    for kwargs, code in [({"codec": "gzip"}, "invalidArgument"), ({"alignment": 3}, "invalidArgument"),
                         ({"codec": "none", "shuffle": True}, "invalidArgument")]:
        try:
            brine.save_file({"w": np.zeros(3)}, path, **kwargs)
            raise AssertionError(f"{kwargs} accepted")
        except brine.BrineWriteError as e:
            assert e.code == code
    try:
        brine.save_file({"c": np.zeros(3, np.complex64)}, path)
        raise AssertionError("complex accepted")
    except brine.BrineWriteError as e:
        assert e.code == "unsupportedDType"
    assert open(path, "rb").read() == bytes(data)
    assert not [n for n in os.listdir(d) if ".brine-tmp." in n]
    # Inline arrays of a tree come back as ndarrays.
    a = brine.inline_array({"shape": [2, 2], "scalars": [brine_reader.Float32(1.5), brine_reader.Float32(2), 3.0, 4.0]})
    assert a is None  # mixed float32/float64: not one inline array
    a = brine.inline_array({"dtype": "int16", "shape": [2, 3], "scalars": [1, 2, 3, 4, 5, 6]})
    assert a.dtype == np.int16 and a.shape == (2, 3)
    assert brine.inline_array([brine_reader.Float32(0.5)] * 3).dtype == np.float32
    assert brine.inline_array(b"\x01\x02").dtype == np.uint8
    assert brine.inline_array(["a", "b"]) is None
    print("brine", brine.__version__, "package self-test passed:", brine.__file__)


if __name__ == "__main__":
    main()
    sys.exit(0)
