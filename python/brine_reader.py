"""Read Brine files (format 1.x) from Python, without Brine.

Written from docs/FORMAT.md alone, as proof that the specification is
complete. Needs NumPy; the ``lz4`` and ``zstandard`` packages only for
compressed chunks, and ``xxhash`` for checksums (XXH3-64).

    import brine_reader
    with brine_reader.BrineFile("model.brine") as f:
        print(f.metadata, [a.path for a in f.arrays])
        w = f.read("layers.0.weight")               # numpy.ndarray
    arrays = brine_reader.load("model.brine")        # {path: ndarray}

- Every file is treated as hostile: every field is checked against the file
  and the caps of FORMAT.md ("Limits") before anything sized by it is read
  or allocated. Problems raise ``BrineError`` whose ``code`` is one of the
  names of FORMAT.md's error table ("truncated", "checksumMismatch", ...).
- Checksums (XXH3-64 of each chunk's stored bytes) are verified before any
  array data is returned, in every mode, unless the caller opts out with
  ``verify=False``; the trailer and header checksums always are.
- ``mmap=True`` maps the file: arrays stored uncompressed, unfiltered and not
  narrowed come back as zero-copy, read-only views. Each view is verified
  once per open file, before it is first returned (this reads its pages
  once); ``verify_mapped=False`` is the opt-out for views only, keeping the
  instant open. Other arrays are decoded (and verified) into memory.
- bfloat16 arrays (NumPy has no bfloat16) come back as ``uint16`` arrays of
  the bit patterns by default (``bfloat16="uint16"``, exact), or widened to
  ``float32`` with ``bfloat16="float32"`` (also exact).
- A file with a pending flush journal (``<file>-journal``, FORMAT.md "Read-write
  sessions and the journal") that belongs to it is refused with
  ``recoveryNeeded``: this reader never writes, so it cannot replay the
  journal; open the file once with Brine (with write access) to complete it.
  Torn journals and journals of another file are ignored. While open, the
  reader and the zero-copy views of its mapping hold the shared data lock
  (on Linux an open-file-description lock like Brine's, else a POSIX
  ``lockf`` lock), waiting up to 60 s for a flush in progress.
- Values of the object tree and metadata map to Python: null → None, bool,
  int/uint → int, float32/float64 → float, string → str, bytes → bytes,
  list → list, map → dict (order kept), array_ref → ``ArrayRef``.
- Format 1.1: a ``shared`` node and every ``shared_ref`` to it become the
  very same Python object (as pickle's memo does); ``aliases`` maps the
  alias paths of arrays stored once for several places (tied weights, the
  ``brine.aliases`` metadata) to the stored array's path, and ``read``,
  ``info`` and ``read_all`` accept and list them (an alias gets the same
  ndarray object as its array in ``read_all``).
"""

import errno
import stat
import mmap as _mmap
import os
import struct
import time

try:
    import fcntl as _fcntl
except ImportError:  # not POSIX: no locks
    _fcntl = None

import numpy as np

__all__ = ["BrineError", "ArrayRef", "ArrayInfo", "BrineFile", "load", "Limits", "Float32", "UInt"]

MAGIC = b"\x89BRINE\r\n"
END_MAGIC = b"BRINEEND"
PREAMBLE_SIZE = 16
TRAILER_SIZE = 64
MAJOR_VERSION = 1

# dtype code -> (name, numpy dtype or None for bfloat16, item size)
DTYPES = {
    1: ("bool", np.dtype("|b1"), 1),
    2: ("int8", np.dtype("|i1"), 1),
    3: ("int16", np.dtype("<i2"), 2),
    4: ("int32", np.dtype("<i4"), 4),
    5: ("int64", np.dtype("<i8"), 8),
    6: ("uint8", np.dtype("|u1"), 1),
    7: ("uint16", np.dtype("<u2"), 2),
    8: ("uint32", np.dtype("<u4"), 4),
    9: ("uint64", np.dtype("<u8"), 8),
    10: ("float16", np.dtype("<f2"), 2),
    11: ("bfloat16", None, 2),
    12: ("float32", np.dtype("<f4"), 4),
    13: ("float64", np.dtype("<f8"), 8),
}
FLOAT16, BFLOAT16, FLOAT32 = 10, 11, 12
JOURNAL_MAGIC = b"\x89BRJNL\r\n"
JOURNAL_END_MAGIC = b"BRJNLEND"
JOURNAL_HEAD = 176
JOURNAL_ENTRY = 24
JOURNAL_MAX_REGION = 4 << 20
JOURNAL_MAX_TABLE = 256 << 20  # bytes of region table (Brine's Journal.maxTableBytes)
DATA_LOCK_OFFSET = 1 << 62 | 1
LOCK_TIMEOUT = 60.0
CODECS = {0: "none", 1: "lz4", 2: "zstd"}
FILTERS = {0: "none", 1: "shuffle"}


class Float32(float):
    """A float decoded from a float32 value (tag 0x0B): a ``float`` that
    remembers its kind, so inline float32 arrays come back as float32."""
    __slots__ = ()


class UInt(int):
    """An int decoded from a uint value (tag 0x04): an ``int`` that remembers
    its kind, so inline unsigned arrays come back as uint64."""
    __slots__ = ()


class BrineError(Exception):
    """A problem with a Brine file. ``code`` is a FORMAT.md error-code name."""

    def __init__(self, code, message, array=None, chunk=None, offset=None):
        self.code, self.message = code, message
        self.array, self.chunk, self.offset = array, chunk, offset
        where = []
        if array is not None:
            where.append(f"array {array!r}")
        if chunk is not None:
            where.append(f"chunk {chunk}")
        if offset is not None:
            where.append(f"byte offset {offset}")
        super().__init__(f"{code}: {message}" + (f" ({', '.join(where)})" if where else ""))


class ArrayRef:
    """An ``array_ref`` value of the object tree: an index into the array table."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index

    def __eq__(self, other):
        return isinstance(other, ArrayRef) and other.index == self.index

    def __hash__(self):
        return hash(("ArrayRef", self.index))

    def __repr__(self):
        return f"ArrayRef({self.index})"


def _physical_memory():
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


class Limits:
    """The caps of FORMAT.md ("Limits"), each adjustable."""

    def __init__(self, max_header_bytes=256 << 20, max_depth=256, max_rank=64, max_arrays=1 << 20,
                 max_chunks_per_array=1 << 24, max_chunk_bytes=1 << 30, max_allocation_bytes=None):
        self.max_header_bytes = max_header_bytes
        self.max_depth = max_depth
        self.max_rank = max_rank
        self.max_arrays = max_arrays
        self.max_chunks_per_array = max_chunks_per_array
        self.max_chunk_bytes = max_chunk_bytes
        self.max_allocation_bytes = _physical_memory() if max_allocation_bytes is None else max_allocation_bytes


class ArrayInfo:
    """One entry of the array table (FORMAT.md, "Array entry")."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    @property
    def dtype_name(self):
        return DTYPES[self.dtype][0]

    @property
    def stored_dtype_name(self):
        return DTYPES[self.stored_dtype][0]

    @property
    def codec_name(self):
        return CODECS[self.codec]

    @property
    def filter_name(self):
        return FILTERS[self.filter]

    @property
    def is_contiguous_raw(self):
        """Stored as the raw loaded bytes: one contiguous run, mappable as is."""
        return self.codec == 0 and self.filter == 0 and self.stored_dtype == self.dtype

    def __repr__(self):
        return (f"ArrayInfo({self.path!r}, {self.dtype_name}, shape={self.shape}, codec={self.codec_name}, "
                f"filter={self.filter_name}, chunks={len(self.chunks)})")


def _xxh3(data):
    import xxhash
    return xxhash.xxh3_64_intdigest(data)


class _Reader:
    """A bounds-checked cursor over header bytes (FORMAT.md, "Primitives")."""

    def __init__(self, data, base):
        self.data, self.pos, self.base = data, 0, base

    def fail(self, message, code="corruptHeader"):
        return BrineError(code, message, offset=self.base + self.pos)

    @property
    def remaining(self):
        return len(self.data) - self.pos

    def take(self, n, what):
        if n > self.remaining:
            raise self.fail(f"{what} runs past the end of the header")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self, what):
        return self.take(1, what)[0]

    def u32(self, what):
        return struct.unpack("<I", self.take(4, what))[0]

    def u64(self, what):
        return struct.unpack("<Q", self.take(8, what))[0]

    def varint(self, what):
        value = 0
        for i in range(10):
            if self.pos >= len(self.data):
                raise self.fail(f"{what}: varint runs past the end of the header")
            byte = self.data[self.pos]
            self.pos += 1
            if i == 9 and byte > 1:
                raise self.fail(f"{what}: varint does not fit in 64 bits")
            value |= (byte & 0x7F) << (7 * i)
            if byte < 0x80:
                return value
        raise self.fail(f"{what}: varint longer than 10 bytes")

    def zigzag(self, what):
        v = self.varint(what)
        return (v >> 1) ^ -(v & 1)

    def string(self, what):
        n = self.varint(what + " length")
        raw = self.take(n, what)
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not valid UTF-8") from None


class _Shared:
    """The ``shared`` nodes of one tree: decoded values by id, and the ids
    whose value is still being read (a reference to one would be a cycle)."""

    def __init__(self):
        self.values = []
        self.open = set()


def _decode_value(r, depth, limits, array_count, allow_refs, shared=None):
    tag = r.u8("value tag")
    if tag == 0x00:
        return None
    if tag == 0x01:
        return False
    if tag == 0x02:
        return True
    if tag == 0x03:
        return r.zigzag("int")
    if tag == 0x04:
        return UInt(r.varint("uint"))
    if tag == 0x05:
        return struct.unpack("<d", r.take(8, "float64"))[0]
    if tag == 0x0B:
        return Float32(struct.unpack("<f", r.take(4, "float32"))[0])
    if tag == 0x06:
        return r.string("string")
    if tag == 0x07:
        n = r.varint("bytes length")
        return bytes(r.take(n, "bytes"))
    if tag in (0x08, 0x09):
        if depth + 1 > limits.max_depth:
            raise r.fail(f"nesting deeper than {limits.max_depth}", "limitExceeded")
        n = r.varint("count")
        # Every element takes at least one byte (a map entry at least two).
        if n > r.remaining:
            raise r.fail(f"count {n} cannot fit in the {r.remaining} header bytes left")
        if tag == 0x08:
            return [_decode_value(r, depth + 1, limits, array_count, allow_refs, shared) for _ in range(n)]
        out = {}
        for _ in range(n):
            key = r.string("map key")
            if key in out:
                raise r.fail(f"duplicate map key {key!r}")
            out[key] = _decode_value(r, depth + 1, limits, array_count, allow_refs, shared)
        return out
    if tag == 0x0A:
        if not allow_refs:
            raise r.fail("array_ref in metadata")
        i = r.varint("array_ref")
        if i >= array_count:
            raise r.fail(f"array_ref {i} is out of range (array_count {array_count})")
        return ArrayRef(i)
    if tag == 0x0C:  # shared (format 1.1)
        i = r.varint("shared id")
        if not allow_refs or shared is None or i != len(shared.values):
            raise r.fail(f"shared node #{i} out of order or outside the object tree")
        if depth + 1 > limits.max_depth:
            raise r.fail(f"nesting deeper than {limits.max_depth}", "limitExceeded")
        shared.values.append(None)
        shared.open.add(i)
        value = _decode_value(r, depth + 1, limits, array_count, allow_refs, shared)
        shared.open.discard(i)
        shared.values[i] = value
        return value
    if tag == 0x0D:  # shared_ref (format 1.1)
        i = r.varint("shared reference")
        if not allow_refs or shared is None or i >= len(shared.values) or i in shared.open:
            raise r.fail(f"reference to shared node #{i}, which does not precede it complete")
        return shared.values[i]
    raise r.fail(f"unknown value tag 0x{tag:02x}")


def _decode_array(r, index, limits, raw_flag=False):
    # raw_flag: format 1.1 chunk entries carry stored_size << 1 | raw (FORMAT.md, "Raw chunks").
    start = r.base + r.pos
    path = r.string(f"path of array #{index}")

    def fail(message, code="corruptHeader"):
        return BrineError(code, message, array=path, offset=start)

    dtype, stored = r.u8("dtype"), r.u8("stored_dtype")
    if dtype not in DTYPES:
        raise fail(f"unknown dtype code {dtype}", "unsupportedDType")
    if stored not in DTYPES:
        raise fail(f"unknown stored dtype code {stored}", "unsupportedDType")
    if stored != dtype and not (dtype == FLOAT32 and stored in (FLOAT16, BFLOAT16)):
        raise fail(f"stored dtype {DTYPES[stored][0]} is not {DTYPES[dtype][0]} nor a narrowing of float32", "unsupportedFeature")
    rank = r.varint("rank")
    if rank > limits.max_rank:
        raise fail(f"rank {rank} is over the limit of {limits.max_rank}", "limitExceeded")
    shape = tuple(r.varint("dimension") for _ in range(rank))
    count = 1
    for d in shape:
        count *= d
    if count >= 1 << 63 or any(d >= 1 << 63 for d in shape):
        raise fail(f"shape {shape} has an element count that overflows", "limitExceeded")
    codec = r.u8("codec")
    level = r.zigzag("codec_level")
    filt = r.u8("filter")
    if codec not in CODECS:
        raise fail(f"unknown codec code {codec}", "unsupportedFeature")
    if filt not in FILTERS:
        raise fail(f"unknown filter code {filt}", "unsupportedFeature")
    alignment_log2 = r.u8("alignment_log2")
    if not 3 <= alignment_log2 <= 16:
        raise fail(f"alignment_log2 {alignment_log2} is outside 3…16")
    data_offset = r.varint("data_offset")
    chunk_bytes = r.varint("chunk_bytes")
    sis = DTYPES[stored][2]
    if chunk_bytes == 0 or chunk_bytes % sis:
        raise fail(f"chunk_bytes {chunk_bytes} is not a positive multiple of the stored item size {sis}")
    if chunk_bytes > limits.max_chunk_bytes:
        raise fail(f"chunk_bytes {chunk_bytes} is over the limit of {limits.max_chunk_bytes}", "limitExceeded")
    chunk_count = r.varint("chunk_count")
    if chunk_count > limits.max_chunks_per_array:
        raise fail(f"{chunk_count} chunks is over the limit of {limits.max_chunks_per_array}", "limitExceeded")
    if chunk_count > r.remaining // 9:
        raise fail(f"{chunk_count} chunks cannot fit in the {r.remaining} header bytes left", "truncated")
    raw_stored = count * sis
    if raw_stored >= 1 << 63 or count * DTYPES[dtype][2] >= 1 << 63:
        raise fail(f"shape {shape} has a byte count that overflows", "limitExceeded")
    expected = -(-raw_stored // chunk_bytes)
    if chunk_count != expected:
        raise fail(f"chunk_count {chunk_count} does not match shape {shape} and chunk_bytes {chunk_bytes} (expected {expected})")
    chunks, raw_chunks = [], []
    for c in range(chunk_count):
        size = r.varint("chunk stored size")
        is_raw = False
        if raw_flag:
            size, is_raw = size >> 1, bool(size & 1)
        checksum = r.u64("chunk checksum")
        raw = min(chunk_bytes, raw_stored - c * chunk_bytes)
        if is_raw and codec == 0:
            raise fail(f"raw-chunk flag on chunk {c} of an array with codec none")
        if is_raw and size != raw:
            raise fail(f"raw chunk {c} stores {size} bytes, expected its raw size {raw}")
        raw_chunks.append(is_raw)
        if codec == 0 and size != raw:
            raise fail(f"uncompressed chunk {c} stores {size} bytes, expected {raw}")
        if codec != 0 and size < 1:
            raise fail(f"compressed chunk {c} is empty")
        chunks.append((size, checksum))
    return ArrayInfo(path=path, dtype=dtype, stored_dtype=stored, shape=shape, count=count, codec=codec,
                     codec_level=level, filter=filt, alignment=1 << alignment_log2, data_offset=data_offset,
                     chunk_bytes=chunk_bytes, chunks=chunks, raw_chunks=raw_chunks, raw_stored=raw_stored,
                     stored_bytes=sum(s for s, _ in chunks))


def _unshuffle(buf, k):
    """Inverse of FORMAT.md's byte shuffle for elements of k bytes."""
    n = len(buf)
    m = n // k
    if k == 1 or m == 0:
        return bytes(buf)
    a = np.frombuffer(buf, dtype=np.uint8)
    out = np.empty(n, dtype=np.uint8)
    out[:m * k] = a[:m * k].reshape(k, m).T.reshape(-1)
    out[m * k:] = a[m * k:]
    return out.tobytes()


def _decompress(codec, data, raw_size):
    if codec == 0:
        if len(data) != raw_size:
            raise BrineError("decompressionFailed", f"stored chunk of {len(data)} bytes, expected {raw_size}")
        return bytes(data)
    if codec == 1:
        import lz4.block
        try:
            out = lz4.block.decompress(bytes(data), uncompressed_size=raw_size)
        except Exception as e:  # lz4.block.LZ4BlockError and friends
            raise BrineError("decompressionFailed", f"corrupt LZ4 block ({e})") from None
    else:
        import io
        import zstandard
        try:
            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(bytes(data)), read_across_frames=True) as z:
                out = z.read(raw_size + 1)  # never more than one byte past the declared size
                if len(out) == raw_size and z.read(1):
                    out += b"?"
        except zstandard.ZstdError as e:
            raise BrineError("decompressionFailed", f"corrupt Zstandard data ({e})") from None
    if len(out) != raw_size:
        raise BrineError("decompressionFailed", f"chunk decompressed to {len(out)}{'+' if len(out) > raw_size else ''} bytes, expected {raw_size}")
    return out


def _shared_lock(fd):
    """Takes the shared data lock (FORMAT.md, "Locks") without waiting.

    On Linux it is an open-file-description lock (``F_OFD_SETLK``), as Brine's:
    it belongs to this open of the file, so it lasts while the file or a
    mapping of it (``mmap`` keeps a duplicate of the descriptor, hence the
    zero-copy views returned after ``close()``) lives, and closing another
    open of the same file in this process does not release it (a POSIX
    ``lockf`` lock would be dropped in both cases). Elsewhere, ``lockf``.
    Raises ``OSError`` (``EAGAIN``/``EACCES`` when a flush holds the lock).
    """
    ofd = getattr(_fcntl, "F_OFD_SETLK", None)
    if ofd is not None:
        # struct flock: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid (native alignment).
        fl = struct.pack("hhqqi4x", _fcntl.F_RDLCK, os.SEEK_SET, DATA_LOCK_OFFSET, 1, 0)
        _fcntl.fcntl(fd, ofd, fl)
    else:
        _fcntl.lockf(fd, _fcntl.LOCK_SH | _fcntl.LOCK_NB, 1, DATA_LOCK_OFFSET, os.SEEK_SET)


def _read_journal(path, expect=None):
    """The journal at ``path`` if it is complete (every checksum passes), else None.
    With ``expect`` = (st_dev, st_ino, size) of the open file, a journal whose head
    names another file or size is None before its table and data are read (a
    sparse journal could claim terabytes)."""
    try:
        # Non-blocking: a FIFO left at the journal's path must not hang the open.
        # Not through a symbolic link (O_NOFOLLOW): Brine never writes one there.
        f = os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
                              | getattr(os, "O_NOFOLLOW", 0)), "rb")
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            return None  # a symbolic link at the journal's path: not a journal any flush wrote
        raise
    with f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            return None  # not a journal any flush wrote (a FIFO, a hard link to another file)
        size = st.st_size
        if size < JOURNAL_HEAD + 16:
            return None
        head = os.pread(f.fileno(), JOURNAL_HEAD, 0)
        if len(head) != JOURNAL_HEAD or head[:8] != JOURNAL_MAGIC or struct.unpack("<H", head[8:10])[0] != 1:
            return None
        file_size, count, device, inode = struct.unpack("<QQQQ", head[16:48])
        if expect is not None and (device, inode, file_size) != expect:
            return None
        if count > (size - JOURNAL_HEAD - 16) // JOURNAL_ENTRY:
            return None
        if count > JOURNAL_MAX_TABLE // JOURNAL_ENTRY:  # a sparse journal must not make us allocate its size
            raise BrineError("limitExceeded", f"the journal's region count {count} is over the limit of "
                             f"{JOURNAL_MAX_TABLE // JOURNAL_ENTRY}; remove {path} if no flush of this file died")
        table = os.pread(f.fileno(), count * JOURNAL_ENTRY, JOURNAL_HEAD)
        entries, end, data = [], 0, 0
        for i in range(count):
            off, length, checksum = struct.unpack("<QQQ", table[i * JOURNAL_ENTRY:(i + 1) * JOURNAL_ENTRY])
            if length > JOURNAL_MAX_REGION or off < end or off + length > file_size:
                return None
            entries.append((off, length, checksum))
            end, data = off + length, data + length
        if size != JOURNAL_HEAD + count * JOURNAL_ENTRY + data + 16:
            return None
        tail = os.pread(f.fileno(), 16, size - 16)
        if tail[8:] != JOURNAL_END_MAGIC or struct.unpack("<Q", tail[:8])[0] != _xxh3(head + table):
            return None
        at = JOURNAL_HEAD + count * JOURNAL_ENTRY
        for off, length, checksum in entries:
            if _xxh3(os.pread(f.fileno(), length, at)) != checksum:
                return None
            at += length
        return {"file_size": file_size, "device": device, "inode": inode,
                "old_trailer": head[48:112], "new_trailer": head[112:176], "regions": entries}


class BrineFile:
    """A Brine file opened for reading (FORMAT.md).

    Attributes: ``path``, ``format_version`` (major, minor), ``metadata``
    (dict), ``root`` (the object tree), ``arrays`` (list of ``ArrayInfo`` in
    file order), ``file_size``.
    """

    def __init__(self, path, mmap=False, verify=True, verify_mapped=True, limits=None):
        self.path = os.fspath(path)
        self.verify_chunks = verify
        self.verify_mapped = bool(verify and verify_mapped)
        self._verified_views = set()
        self.limits = limits or Limits()
        self._file = open(self.path, "rb")
        self._map = None
        try:
            self._lock_and_check_journal()
            self.file_size = os.fstat(self._file.fileno()).st_size
            if mmap and self.file_size > 0:
                self._map = _mmap.mmap(self._file.fileno(), 0, access=_mmap.ACCESS_READ)
            self._open()
        except BaseException:
            self.close()
            raise

    # -- journal of an unfinished flush (FORMAT.md, "Read-write sessions") --

    def _lock_and_check_journal(self):
        fd = self._file.fileno()
        if _fcntl is not None:
            deadline = time.monotonic() + LOCK_TIMEOUT
            while True:
                try:
                    _shared_lock(fd)
                    break
                except OSError as e:
                    if e.errno in (errno.EAGAIN, errno.EACCES):
                        if time.monotonic() > deadline:
                            raise BrineError("conflict", "a flush in another process held the file for more than 60 s")
                        time.sleep(0.01)
                        continue
                    break  # no locks on this file system: go on unlocked
        st = os.fstat(fd)
        journal = _read_journal(os.path.realpath(self.path) + "-journal",  # symlinks resolved, as Brine does
                                expect=(st.st_dev, st.st_ino, st.st_size))
        if journal is None:
            return
        size = st.st_size
        if (journal["device"], journal["inode"]) != (st.st_dev, st.st_ino) or journal["file_size"] != size:
            return  # a journal of a file that was renamed over
        trailer = os.pread(fd, TRAILER_SIZE, size - TRAILER_SIZE) if size >= TRAILER_SIZE else b""
        valid_trailer = (len(trailer) == TRAILER_SIZE and trailer[56:64] == END_MAGIC
                         and _xxh3(trailer[:48]) == struct.unpack("<Q", trailer[48:56])[0])
        if trailer == journal["new_trailer"] and all(
                _xxh3(os.pread(fd, length, off)) == checksum for off, length, checksum in journal["regions"]):
            return  # already replayed (its removal failed, e.g. in a read-only folder)
        if trailer in (journal["old_trailer"], journal["new_trailer"]) or not valid_trailer:
            raise BrineError("recoveryNeeded", f"the file has an unfinished flush recorded in {self.path}-journal; "
                             "open it once with Brine, with write access, to complete it")

    # -- file access --------------------------------------------------------

    def _read(self, offset, n):
        if offset < 0 or n < 0 or offset + n > self.file_size:
            raise BrineError("truncated", f"reading {n} bytes at {offset} runs past the end of the file ({self.file_size} bytes)", offset=offset)
        if self._map is not None:
            return self._map[offset:offset + n]
        data = os.pread(self._file.fileno(), n, offset)
        if len(data) != n:
            raise BrineError("truncated", "file ended while reading", offset=offset + len(data))
        return data

    def close(self):
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                pass  # zero-copy views still use the mapping; it closes when they are gone
            self._map = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- preamble, trailer, header -----------------------------------------

    def _open(self):
        size = self.file_size
        lim = self.limits
        if size < PREAMBLE_SIZE + TRAILER_SIZE:
            head = self._read(0, min(size, 8))
            if head == MAGIC:
                raise BrineError("truncated", f"file of {size} bytes is shorter than the smallest Brine file (80 bytes)", offset=size)
            raise BrineError("notABrineFile", f"file of {size} bytes is not a Brine file", offset=0)
        pre = self._read(0, PREAMBLE_SIZE)
        if pre[:8] != MAGIC:
            raise BrineError("notABrineFile", "wrong magic", offset=0)
        major, minor = struct.unpack("<HH", pre[8:12])
        if major != MAJOR_VERSION:
            raise BrineError("unsupportedVersion", f"format version {major}.{minor} (this reader knows {MAJOR_VERSION}.x)", offset=8)
        t = self._read(size - TRAILER_SIZE, TRAILER_SIZE)
        if t[56:64] != END_MAGIC:
            raise BrineError("truncated", "the file starts as a Brine file but does not end with the Brine trailer", offset=size)
        (header_offset, header_length, header_checksum, file_length, t_major, t_minor, _flags, _reserved,
         trailer_checksum) = struct.unpack("<QQQQHHIQQ", t[:56])
        if _xxh3(bytes(t[:48])) != trailer_checksum:
            raise BrineError("checksumMismatch", "trailer checksum mismatch", offset=size - TRAILER_SIZE)
        if t_major != MAJOR_VERSION:
            raise BrineError("unsupportedVersion", f"trailer format version {t_major}.{t_minor}", offset=size - TRAILER_SIZE + 32)
        if file_length != size:
            code = "truncated" if size < file_length else "layout"
            raise BrineError(code, f"the trailer records a file of {file_length} bytes; the file has {size}", offset=size - TRAILER_SIZE + 24)
        if header_length > lim.max_header_bytes:
            raise BrineError("limitExceeded", f"header of {header_length} bytes is over the limit of {lim.max_header_bytes}", offset=size - TRAILER_SIZE + 8)
        if header_offset < PREAMBLE_SIZE or header_offset + header_length != size - TRAILER_SIZE:
            raise BrineError("layout", f"header [{header_offset}, +{header_length}] does not end at the trailer", offset=size - TRAILER_SIZE)
        header = self._read(header_offset, header_length)
        if _xxh3(bytes(header)) != header_checksum:
            raise BrineError("checksumMismatch", "header checksum mismatch", offset=header_offset)
        self.format_version = (t_major, t_minor)
        self._parse_header(bytes(header), header_offset)

    def _parse_header(self, header, header_offset):
        lim = self.limits
        r = _Reader(header, header_offset)
        metadata = _decode_value(r, 0, lim, 0, False)
        if not isinstance(metadata, dict):
            raise BrineError("corruptHeader", "metadata is not a map", offset=header_offset)
        count = r.varint("array_count")
        if count > lim.max_arrays:
            raise r.fail(f"{count} arrays is over the limit of {lim.max_arrays}", "limitExceeded")
        if count > r.remaining // 11:
            raise r.fail(f"array count {count} cannot fit in the {r.remaining} header bytes left")
        arrays, seen = [], set()
        for i in range(count):
            a = _decode_array(r, i, lim, raw_flag=self.format_version[1] >= 1)
            if a.path in seen:
                raise BrineError("corruptHeader", "duplicate array path", array=a.path, offset=r.base + r.pos)
            seen.add(a.path)
            arrays.append(a)
        root = _decode_value(r, 0, lim, count, True, _Shared())
        if r.remaining:
            raise r.fail(f"{r.remaining} bytes after the object tree")
        # Layout: inside [16, header_offset), aligned, no two arrays overlapping.
        spans = []
        for a in arrays:
            if a.count == 0 or not a.chunks:
                continue
            end = a.data_offset + a.stored_bytes
            if a.data_offset < PREAMBLE_SIZE or end > header_offset:
                raise BrineError("layout", f"data [{a.data_offset}, {end}) lies outside [16, {header_offset})", array=a.path, offset=a.data_offset)
            if a.data_offset % a.alignment:
                raise BrineError("layout", f"data offset {a.data_offset} is not a multiple of the alignment {a.alignment}", array=a.path, offset=a.data_offset)
            spans.append((a.data_offset, end, a.path))
        spans.sort()
        for (s0, e0, p0), (s1, e1, p1) in zip(spans, spans[1:]):
            if s1 < e0:
                raise BrineError("layout", f"data overlaps array {p0!r}", array=p1, offset=s1)
        self.metadata, self.root, self.arrays = metadata, root, arrays
        self._index = {a.path: i for i, a in enumerate(arrays)}
        # Format 1.1: alias paths of arrays stored once (tied weights).
        self.aliases = {}
        table = metadata.get("brine.aliases")
        if isinstance(table, dict):
            for alias, target in table.items():
                if isinstance(target, str) and target in self._index and alias not in self._index:
                    self.aliases[alias] = target

    # -- arrays --------------------------------------------------------------

    def keys(self):
        """The array paths in file order."""
        return [a.path for a in self.arrays]

    def info(self, path):
        """The ``ArrayInfo`` of an array or alias (KeyError if there is none)."""
        return self.arrays[self._index[self.aliases.get(path, path)]]

    def __getitem__(self, path):
        return self.read(path)

    def read(self, path, bfloat16="uint16"):
        """The array at ``path`` as a NumPy array of its shape (C order).

        ``bfloat16``: "uint16" (bit patterns, default) or "float32" (widened).
        """
        path = self.aliases.get(path, path)
        if path not in self._index:
            raise BrineError("arrayNotFound", "no array with this path", array=path)
        return self._load(self.arrays[self._index[path]], bfloat16)

    def read_all(self, bfloat16="uint16"):
        """Every array, as a dict {path: ndarray} in file order, then every
        alias path with the same ndarray object as its array."""
        out = {a.path: self._load(a, bfloat16) for a in self.arrays}
        for alias, target in self.aliases.items():
            out[alias] = out[target]
        return out

    def resolve(self, value=None, bfloat16="uint16"):
        """The object tree (or ``value``) with every ``ArrayRef`` replaced by its array."""
        value = self.root if value is None else value
        if isinstance(value, ArrayRef):
            return self._load(self.arrays[value.index], bfloat16)
        if isinstance(value, list):
            return [self.resolve(v, bfloat16) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v, bfloat16) for k, v in value.items()}
        return value

    def _result_dtype(self, a, bfloat16):
        if a.dtype == BFLOAT16:
            if bfloat16 == "float32":
                return np.dtype("<f4")
            if bfloat16 == "uint16":
                return np.dtype("<u2")
            raise ValueError('bfloat16 must be "uint16" or "float32"')
        return DTYPES[a.dtype][1]

    def _load(self, a, bfloat16):
        out_dtype = self._result_dtype(a, bfloat16)
        if a.count == 0:
            try:
                return np.empty(a.shape, dtype=out_dtype)
            except ValueError:  # e.g. (2**62, 0, 2**62): NumPy refuses dimensions whose nonzero product overflows
                raise BrineError("limitExceeded", f"shape {a.shape} has no NumPy array (its dimensions are too large)",
                                 array=a.path) from None
        if self._map is not None and a.is_contiguous_raw and not (a.dtype == BFLOAT16 and bfloat16 == "float32"):
            if self.verify_mapped and a.path not in self._verified_views:
                for c in range(len(a.chunks)):
                    self._stored_chunk(a, c, verify=True)
                self._verified_views.add(a.path)
            view = np.frombuffer(self._map, dtype=out_dtype, count=a.count, offset=a.data_offset)
            return view.reshape(a.shape)
        item = DTYPES[a.dtype][2]
        total = a.count * item
        if total > self.limits.max_allocation_bytes:
            raise BrineError("limitExceeded", f"array of {total} bytes is over the allocation limit", array=a.path)
        # Decoded into a bytearray, so arrays of copy mode are writable.
        raw = bytearray(a.raw_stored)
        pos = 0
        for c in range(len(a.chunks)):
            part = self._decode_chunk(a, c)
            raw[pos:pos + len(part)] = part
            pos += len(part)
        stored_dt = np.dtype("<u2") if a.stored_dtype == BFLOAT16 else DTYPES[a.stored_dtype][1]
        arr = np.frombuffer(raw, dtype=stored_dt, count=a.count)
        if a.stored_dtype != a.dtype:  # narrowed float32: widen exactly
            if a.stored_dtype == FLOAT16:
                arr = arr.astype("<f4")
            else:
                arr = (arr.astype("<u4") << 16).view("<f4")
        elif a.dtype == BFLOAT16 and bfloat16 == "float32":
            arr = (arr.astype("<u4") << 16).view("<f4")
        return arr.astype(out_dtype, copy=False).reshape(a.shape)

    def _chunk_offset(self, a, c):
        return a.data_offset + sum(s for s, _ in a.chunks[:c])

    def _stored_chunk(self, a, c, verify):
        size, checksum = a.chunks[c]
        offset = self._chunk_offset(a, c)
        try:
            data = self._read(offset, size)
        except BrineError as e:
            raise BrineError(e.code, e.message, array=a.path, chunk=c, offset=e.offset) from None
        if verify and _xxh3(bytes(data)) != checksum:
            raise BrineError("checksumMismatch", "chunk checksum mismatch", array=a.path, chunk=c, offset=offset)
        return data, offset

    def _decode_chunk(self, a, c):
        data, offset = self._stored_chunk(a, c, self.verify_chunks)
        raw_size = min(a.chunk_bytes, a.raw_stored - c * a.chunk_bytes)
        try:
            raw = _decompress(0 if a.raw_chunks[c] else a.codec, data, raw_size)
        except BrineError as e:
            raise BrineError(e.code, e.message, array=a.path, chunk=c, offset=offset) from None
        if a.filter == 1:
            raw = _unshuffle(raw, DTYPES[a.stored_dtype][2])
        return raw

    def verify(self):
        """Checks every chunk's checksum and that compressed chunks decompress
        to their declared size. Returns the list of problems (empty if none)."""
        problems = []
        for a in self.arrays:
            for c in range(len(a.chunks)):
                try:
                    if a.codec == 0 or a.raw_chunks[c]:
                        data, offset = self._stored_chunk(a, c, verify=True)
                        raw_size = min(a.chunk_bytes, a.raw_stored - c * a.chunk_bytes)
                        if len(data) != raw_size:
                            raise BrineError("decompressionFailed", f"stored chunk of {len(data)} bytes, expected {raw_size}", array=a.path, chunk=c, offset=offset)
                    else:
                        data, offset = self._stored_chunk(a, c, verify=True)
                        raw_size = min(a.chunk_bytes, a.raw_stored - c * a.chunk_bytes)
                        try:
                            _decompress(a.codec, data, raw_size)
                        except BrineError as e:
                            raise BrineError(e.code, e.message, array=a.path, chunk=c, offset=offset) from None
                except BrineError as e:
                    problems.append(e)
        return problems


def load(path, mmap=False, verify=True, bfloat16="uint16"):
    """All arrays of a Brine file as {path: ndarray}. With ``mmap=True``,
    uncompressed arrays are zero-copy views that keep the mapping open."""
    with BrineFile(path, mmap=mmap, verify=verify) as f:
        return f.read_all(bfloat16)
