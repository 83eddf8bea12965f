"""Write Brine files (format 1.1) from Python, without Brine.

Written from docs/FORMAT.md. Needs NumPy and ``xxhash`` (XXH3-64
checksums); ``lz4`` and ``zstandard`` only for those codecs.

    import numpy as np, brine_writer
    brine_writer.save_file({"w": np.ones((3, 4), np.float32)}, "model.brine",
                           metadata={"framework": "numpy"}, codec="zstd", shuffle=True)

The file holds one array per dict entry (its key is the array's path, in dict
order) and an object tree that maps each path to its array, as Brine's
``TensorBundle`` and ``brine convert`` write; Swift's ``BrineFile``,
``TensorBundle`` and ``Brine.loadWeights`` read it, and so does
``brine_reader``. The save is atomic: the file is written to a temporary in
the destination's folder, synced, and renamed over the destination.
"""

import datetime as _datetime
import os
import struct

import numpy as np

__all__ = ["save_file", "save", "encode_value", "BrineWriteError"]

MAGIC = b"\x89BRINE\r\n"
END_MAGIC = b"BRINEEND"
MAJOR_VERSION, MINOR_VERSION = 1, 1
TRAILER_SIZE = 64
PREAMBLE_SIZE = 16
WRITER_VERSION = "python-0.1.0"

# dtype code by NumPy dtype string (little-endian); bfloat16 (ml_dtypes) by name.
_CODES = {"|b1": 1, "|i1": 2, "<i2": 3, "<i4": 4, "<i8": 5, "|u1": 6, "<u2": 7, "<u4": 8, "<u8": 9,
          "<f2": 10, "<f4": 12, "<f8": 13}
_BFLOAT16 = 11
_CODECS = {"none": 0, "lz4": 1, "zstd": 2}


class BrineWriteError(ValueError):
    """A value the writer cannot store; ``code`` is a FORMAT.md error name
    ("invalidArgument", "unsupportedDType", "limitExceeded")."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def _varint(v):
    if v < 0 or v >= 1 << 64:
        raise BrineWriteError("invalidArgument", f"varint {v} outside 0 … 2^64-1")
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _zigzag(v):
    return _varint(((v << 1) ^ (v >> 63)) & ((1 << 64) - 1))


def _string(s):
    b = s.encode("utf-8")
    return _varint(len(b)) + b


def _xxh3(data):
    import xxhash
    return xxhash.xxh3_64_intdigest(data)


class _ArrayRef:
    def __init__(self, index):
        self.index = index


def encode_value(v, out, depth=0):
    """Appends the FORMAT.md encoding of a Python value to ``out`` (a bytearray):
    None → null, bool, int → int (uint above 2^63-1), float → float64,
    numpy.float32 → float32, str → string, bytes → bytes, list/tuple → list,
    dict with str keys → map (order kept)."""
    # Readers refuse a list or map inside 256 enclosing ones (FORMAT.md, "Limits"),
    # even an empty one: the value at ``depth`` has ``depth`` enclosing lists and maps.
    if depth >= 256 and isinstance(v, (list, tuple, dict)):
        raise BrineWriteError("limitExceeded", "the value nests 256 lists and maps deep or more, which readers refuse")
    if v is None:
        out += b"\x00"
    elif v is True or v is False or isinstance(v, np.bool_):
        out += b"\x02" if v else b"\x01"
    elif isinstance(v, _ArrayRef):
        out += b"\x0a" + _varint(v.index)
    elif isinstance(v, (int, np.integer)):
        v = int(v)
        if -(1 << 63) <= v < (1 << 63):
            out += b"\x03" + _zigzag(v)
        elif 0 <= v < (1 << 64):
            out += b"\x04" + _varint(v)
        else:
            raise BrineWriteError("invalidArgument", f"integer {v} does not fit in 64 bits")
    elif isinstance(v, np.float32) or type(v).__name__ == "Float32":
        out += b"\x0b" + struct.pack("<f", float(v))
    elif isinstance(v, (float, np.floating)):
        out += b"\x05" + struct.pack("<d", float(v))
    elif isinstance(v, str):
        out += b"\x06" + _string(v)
    elif isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
        out += b"\x07" + _varint(len(b)) + b
    elif isinstance(v, (list, tuple)):
        out += b"\x08" + _varint(len(v))
        for x in v:
            encode_value(x, out, depth + 1)
    elif isinstance(v, dict):
        out += b"\x09" + _varint(len(v))
        for k, x in v.items():
            if not isinstance(k, str):
                raise BrineWriteError("invalidArgument", f"map key {k!r} is not a str")
            out += _string(k)
            encode_value(x, out, depth + 1)
    else:
        raise BrineWriteError("invalidArgument", f"cannot store a value of type {type(v).__name__} in the header")


def _dtype_code(a, name):
    dt = a.dtype
    if dt.name == "bfloat16" and dt.itemsize == 2:
        return _BFLOAT16
    code = None
    if dt.kind in "biuf":
        code = _CODES.get(dt.newbyteorder("<").str if dt.itemsize > 1 else dt.str)
    if code is None:
        raise BrineWriteError("unsupportedDType", f"array {name!r}: dtype {dt} has no Brine dtype "
                              "(bool, int8…int64, uint8…uint64, float16, bfloat16, float32, float64)")
    return code


def _shuffle(buf, k):
    """FORMAT.md's byte shuffle of ``buf`` (bytes) for elements of k bytes."""
    n = len(buf)
    m = n // k
    if k == 1 or m == 0:
        return bytes(buf)
    body = np.frombuffer(buf, dtype=np.uint8, count=m * k).reshape(m, k).T.tobytes()
    return body + bytes(buf[m * k:])


class _Compressor:
    def __init__(self, codec, level):
        self.codec = codec
        if codec == "zstd":
            import zstandard
            self._z = zstandard.ZstdCompressor(level=level)
        elif codec == "lz4":
            import lz4.block
            self._lz4 = lz4.block

    def __call__(self, raw):
        if self.codec == "lz4":
            return self._lz4.compress(raw, mode="default", store_size=False)
        return self._z.compress(raw)


def save_file(tensors, path, metadata=None, codec="none", level=3, shuffle=False,
              alignment=64, chunk_bytes=1 << 20, durable=True):
    """Writes ``tensors`` ({path: ndarray}, in dict order) to a Brine file.

    - ``metadata``: a dict of str keys to header values (str, int, float,
      bool, None, bytes, lists and dicts of them); ``brine.*`` keys are
      Brine's own (format, version, created) unless given here.
    - ``codec``: "none" (contiguous, mmap-able zero-copy), "lz4" or "zstd"
      (``level`` -7…22); ``shuffle=True`` byte-shuffles each chunk first.
      A chunk the codec does not make smaller is stored raw (FORMAT.md,
      "raw chunks"), so compression never grows an array.
    - ``alignment``: bytes, a power of two from 8 to 65536; ``chunk_bytes``:
      the raw chunk size (8 B … 1 GiB, rounded down to whole elements).
    - Arrays are stored C-contiguous and little-endian whatever their layout
      in memory; dtypes: bool, int8…int64, uint8…uint64, float16, float32,
      float64, and ml_dtypes' bfloat16.

    Raises ``BrineWriteError`` (a ValueError) for a bad argument or dtype,
    ``OSError`` when the file cannot be written; the destination is then
    unchanged.
    """
    if codec not in _CODECS:
        raise BrineWriteError("invalidArgument", f"codec {codec!r} is not one of none, lz4, zstd")
    if codec == "zstd" and not -7 <= level <= 22:
        raise BrineWriteError("invalidArgument", f"zstd level {level} is outside -7 … 22")
    if shuffle and codec == "none":
        raise BrineWriteError("invalidArgument", "shuffle only helps a compressing codec (lz4 or zstd)")
    if not (8 <= alignment <= 65536 and alignment & (alignment - 1) == 0):
        raise BrineWriteError("invalidArgument", f"alignment {alignment} is not a power of two from 8 to 65536")
    if not 8 <= chunk_bytes <= 1 << 30:
        raise BrineWriteError("invalidArgument", f"chunk size {chunk_bytes} is outside 8 bytes … 1 GiB")
    if not isinstance(tensors, dict):
        raise BrineWriteError("invalidArgument", "tensors must be a dict {name: ndarray}")
    metadata = dict(metadata or {})
    for k in metadata:
        if not isinstance(k, str):
            raise BrineWriteError("invalidArgument", f"metadata key {k!r} is not a str")

    # Everything is checked and encoded before the destination is touched.
    prepared = []
    for name, value in tensors.items():
        if not isinstance(name, str) or not name:
            raise BrineWriteError("invalidArgument", f"array name {name!r} is not a non-empty str")
        a = np.asarray(value)
        code = _dtype_code(a, name)
        # C order, little-endian (np.asarray keeps rank 0, np.ascontiguousarray would not).
        if code != _BFLOAT16 and a.dtype.itemsize > 1:
            a = np.asarray(a, dtype=a.dtype.newbyteorder("<"), order="C")
        else:
            a = np.asarray(a, order="C")
        if code == 1 and a.size and np.any(a.view(np.uint8) > 1):
            raise BrineWriteError("invalidArgument", f"array {name!r}: bool elements must be 0 or 1")
        prepared.append((name, code, a))

    compressor = _Compressor(codec, level) if codec != "none" else None
    meta = {}
    for k, v in (("brine.format", f"{MAJOR_VERSION}.{MINOR_VERSION}"), ("brine.version", WRITER_VERSION),
                 ("brine.created", _datetime.datetime.now(_datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))):
        if k not in metadata:
            meta[k] = v
    meta.update(metadata)

    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    tmp = os.path.join(directory, f".{base}.brine-tmp.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + struct.pack("<HHI", MAJOR_VERSION, MINOR_VERSION, 0))
            offset = PREAMBLE_SIZE
            entries = bytearray()
            for name, code, a in prepared:
                item = a.dtype.itemsize
                raw_all = memoryview(a.reshape(-1).view(np.uint8)) if a.size else memoryview(b"")
                total = len(raw_all)
                chunk = max(item, (chunk_bytes // item) * item)
                count = 0 if total == 0 else (total - 1) // chunk + 1
                data_offset = 0
                chunk_table = bytearray()
                if count:
                    data_offset = (offset + alignment - 1) & ~(alignment - 1)
                    f.write(b"\x00" * (data_offset - offset))
                    offset = data_offset
                for c in range(count):
                    raw = raw_all[c * chunk:min(total, (c + 1) * chunk)]
                    filtered = _shuffle(raw, item) if shuffle else raw
                    stored, is_raw = filtered, False
                    if compressor is not None:
                        packed = compressor(bytes(filtered))
                        if len(packed) < len(filtered):
                            stored = packed
                        else:
                            is_raw = True
                    f.write(stored)
                    offset += len(stored)
                    chunk_table += _varint(len(stored) << 1 | int(is_raw))
                    chunk_table += struct.pack("<Q", _xxh3(bytes(stored)))
                entries += _string(name)
                entries += bytes((code, code))
                entries += _varint(a.ndim) + b"".join(_varint(d) for d in a.shape)
                entries += bytes((_CODECS[codec],)) + _zigzag(level if codec == "zstd" else 0)
                entries += bytes((1 if shuffle else 0, alignment.bit_length() - 1))
                entries += _varint(data_offset) + _varint(chunk) + _varint(count) + chunk_table
            header = bytearray()
            encode_value(meta, header)
            header += _varint(len(prepared)) + entries
            encode_value({name: _ArrayRef(i) for i, (name, _, _) in enumerate(prepared)}, header)
            header_offset = offset
            f.write(header)
            t = struct.pack("<QQQQHHIQ", header_offset, len(header), _xxh3(bytes(header)),
                            header_offset + len(header) + TRAILER_SIZE, MAJOR_VERSION, MINOR_VERSION, 0, 0)
            f.write(t + struct.pack("<Q", _xxh3(t)) + END_MAGIC)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


save = save_file
