"""Brine model files from Python: read and write them without Swift.

    import numpy as np, brine
    brine.save_file({"embed.weight": np.zeros((10, 4), np.float32)}, "model.brine",
                    metadata={"epochs": 3}, codec="zstd", shuffle=True)
    tensors = brine.load_file("model.brine")              # {name: ndarray}, like safetensors.numpy.load_file
    tensors = brine.load_file("model.brine", mmap=True)   # uncompressed arrays: zero-copy, read-only views
    model = brine.load("model.brine")                     # the object tree, arrays as ndarrays

- Checksums (XXH3-64) are verified on every load unless ``verify=False``.
- Arrays of copy mode (``mmap=False``, the default) are writable; zero-copy
  views of a mapping are read-only.
- Files written by Swift's ``Brine.save`` (Codable) keep small arrays inline
  in the object tree; ``load`` and ``load_file`` return them as ndarrays too
  (dtype from the tree: float32/float64/int64/uint64/bool for lists, the
  recorded dtype for ``AnyTensor``).
- bfloat16 arrays come back as uint16 bit patterns (``bfloat16="uint16"``)
  or widened to float32 (``bfloat16="float32"``); NumPy has no bfloat16.

The modules ``brine_reader`` (reader, FORMAT.md) and ``brine_writer``
(writer) are installed alongside and usable on their own.
"""

import numpy as _np

from brine_reader import ArrayInfo, ArrayRef, BrineError, BrineFile, Float32, Limits, UInt
from brine_writer import BrineWriteError, save_file

__version__ = "0.1.0"
__all__ = ["load_file", "save_file", "load", "inline_array", "BrineFile", "BrineError", "BrineWriteError",
           "ArrayInfo", "ArrayRef", "Limits", "Float32", "UInt", "__version__"]


# The dtype names of FORMAT.md an inline AnyTensor may carry (bfloat16 apart).
_INLINE_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                  "float16", "float32", "float64"}


def _scalar_dtype(v):
    """The NumPy dtype of one tree scalar, or None for non-numbers."""
    if v is True or v is False:
        return _np.dtype(_np.bool_)
    if isinstance(v, UInt):
        return _np.dtype("<u8")
    if isinstance(v, int):
        return _np.dtype("<i8")
    if isinstance(v, Float32):
        return _np.dtype("<f4")
    if isinstance(v, float):
        return _np.dtype("<f8")
    return None


def _list_array(values):
    if isinstance(values, (bytes, bytearray)):
        return _np.frombuffer(bytearray(values), dtype=_np.uint8)
    if not isinstance(values, list) or not values:
        return None
    kind = _scalar_dtype(values[0])
    if kind is None or any(_scalar_dtype(v) != kind for v in values):
        return None
    return _np.array(values, dtype=kind)


def inline_array(value, bfloat16="uint16"):
    """The ndarray an inline array of the object tree holds (FORMAT.md,
    "Codable mapping", inline forms), or None when ``value`` is not one:
    a non-empty list of numbers of one kind, bytes (uint8), or a map
    ``{"shape", "scalars"}`` / ``{"dtype", "shape", "scalars"}``."""
    if isinstance(value, dict):
        keys = set(value)
        if keys not in ({"shape", "scalars"}, {"dtype", "shape", "scalars"}):
            return None
        shape = value["shape"]
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            return None
        scalars = value["scalars"]
        flat = _list_array(scalars)
        if flat is None:
            if scalars != []:
                return None
            flat = _np.array([], dtype=_np.float32)
        name = value.get("dtype")
        if name is not None:
            if not isinstance(name, str):
                return None
            if name == "bfloat16":
                f = flat.astype("<f4")
                flat = f if bfloat16 == "float32" else (f.view("<u4") >> 16).astype("<u2")
            else:
                if name not in _INLINE_DTYPES:
                    return None  # not a Brine dtype (object, strings, dates, ...)
                converted = flat.astype(_np.dtype(name))
                # Integers and bools convert only when exact (as in Swift's
                # decoder): 300 is no int8, -1 no uint8, 1.5 no int32, 2 no bool.
                if converted.dtype.kind in "biu" and converted.tolist() != flat.tolist():
                    return None
                flat = converted
        count = 1
        for d in shape:
            count *= d
        if flat.size != count:
            return None
        return flat.reshape(shape)
    return _list_array(value)


def _resolve(f, value, bfloat16, cache):
    if isinstance(value, ArrayRef):
        if value.index not in cache:
            cache[value.index] = f._load(f.arrays[value.index], bfloat16)
        return cache[value.index]
    a = inline_array(value, bfloat16)
    if a is not None:
        return a
    if isinstance(value, list):
        return [_resolve(f, v, bfloat16, cache) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(f, v, bfloat16, cache) for k, v in value.items()}
    return value


def load(path, mmap=False, verify=True, bfloat16="uint16"):
    """The object tree of a Brine file (dicts, lists, scalars), with every
    array (out of line or inline) as an ndarray. Checksums are verified
    unless ``verify=False``, zero-copy views of a mapping included (as in
    ``load_file``)."""
    with BrineFile(path, mmap=mmap, verify=verify, verify_mapped=verify) as f:
        return _resolve(f, f.root, bfloat16, {})


def _escape(key):
    """A coding-path key escaped as FORMAT.md says ("Out of line")."""
    if key == "":
        return "%00"
    return key.replace("%", "%25").replace(".", "%2E")


def _inline_arrays(value, path, out, bfloat16):
    a = inline_array(value, bfloat16)
    if a is not None:
        out.append((".".join(path) if path else "root", a))
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _inline_arrays(v, path + [_escape(k)], out, bfloat16)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _inline_arrays(v, path + [str(i)], out, bfloat16)


def load_file(path, mmap=False, verify=True, inline=True, bfloat16="uint16"):
    """Every array of a Brine file as a dict {name: ndarray}, in file order,
    like ``safetensors.numpy.load_file``.

    - ``mmap=True``: arrays stored uncompressed, unfiltered and not narrowed
      are zero-copy, read-only views of a mapping of the file (which stays
      mapped while they live); the others are decoded into memory.
    - ``verify``: check every chunk's XXH3-64 checksum (default on; mapped
      views are checked too).
    - ``inline``: also return the arrays a Codable-written file keeps inline
      in its object tree, named by their coding path (FORMAT.md's path rule);
      a name the array table already uses is not overridden.

    Raises ``brine.BrineError`` (``code`` is a FORMAT.md error name).
    """
    with BrineFile(path, mmap=mmap, verify=verify, verify_mapped=verify) as f:
        out = f.read_all(bfloat16)
        if inline:
            found = []
            _inline_arrays(f.root, [], found, bfloat16)
            for name, a in found:
                out.setdefault(name, a)
        return out
