/// One entry of a Brine file's array table: where an array's chunks are and
/// how to decode them (docs/FORMAT.md, "Array table").
///
/// All sizes are in bytes unless named otherwise; offsets are absolute file
/// offsets.
public struct ArrayInfo: Sendable, Hashable {
    /// The paths' bytes and chunk entries this entry shares with the other
    /// entries of its table (one allocation each per table, not per array).
    private let table: ArrayTableStorage
    /// Where this entry's path lies in `table.names` (UTF-8 bytes).
    private let nameStart: Int, nameCount: Int
    /// Where this entry's chunks lie in `table.chunks`.
    private let chunkStart: Int

    /// The array's path in the container, e.g. `layers.0.weight`. Unique in a
    /// file. Built from the table's bytes on each access (a decoded table
    /// keeps no string per array).
    public var path: String {
        table.names.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[nameStart ..< nameStart + nameCount]), as: UTF8.self) }
    }

    /// Calls `body` with the UTF-8 bytes of ``path`` (no string is made).
    func withPathBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try table.names.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[nameStart ..< nameStart + nameCount])) }
    }

    /// Whether ``path`` is `other`, by Unicode scalars (``ExactName``): the
    /// UTF-8 bytes are compared, no string is made.
    func hasPath(_ other: String) -> Bool {
        withPathBytes { mine in
            if let r = other.utf8.withContiguousStorageIfAvailable({ mine.elementsEqual($0) }) { return r }
            return mine.elementsEqual(other.utf8)
        }
    }

    /// Whether this entry's path is `other`'s (by UTF-8 bytes).
    func hasSamePath(as other: ArrayInfo) -> Bool {
        withPathBytes { a in other.withPathBytes { b in a.elementsEqual(b) } }
    }
    /// The dtype the array has when loaded.
    public let dtype: DType
    /// The dtype of the stored bytes. Equal to ``dtype`` unless a float32
    /// array was saved narrowed to float16 or bfloat16 (lossy, opt-in).
    public let storedDType: DType
    /// The shape, C order. Rank 0 (one element) and zero-length dimensions allowed.
    public let shape: [Int]
    /// How each chunk is compressed.
    public let codec: Codec
    /// The transform applied before compression.
    public let filter: ChunkFilter
    /// The alignment of ``dataOffset`` in bytes (a power of two, 8…65,536).
    public let alignment: Int
    /// The absolute file offset of the first chunk; a multiple of ``alignment``.
    public let dataOffset: Int
    /// The raw (decoded, stored-dtype) size of every chunk but the last, in
    /// bytes; a multiple of the stored item size.
    public let chunkBytes: Int
    /// Where each chunk is, its stored size and checksum. Chunks are back to
    /// back from ``dataOffset``. A new array on each call; ``chunk(_:)``
    /// reads one entry without making one.
    public var chunks: [Chunk] { Array(table.chunks[chunkStart ..< chunkStart + chunkCount]) }

    /// Chunk `i` (`0 ..< chunkCount`; traps outside it, as an array subscript does).
    public func chunk(_ i: Int) -> Chunk {
        precondition(i >= 0 && i < chunkCount, "chunk index out of range")
        return table.chunks[chunkStart + i]
    }

    /// One chunk of an array in the file.
    public struct Chunk: Sendable, Hashable {
        /// The absolute file offset of the chunk's first stored byte.
        public let offset: Int
        /// The stored (compressed) size in bytes.
        public let storedBytes: Int
        /// The XXH3-64 checksum of the stored bytes.
        public let checksum: UInt64
        /// `true` when the chunk of a compressing codec is stored raw (its
        /// stored bytes are its filtered raw bytes, ``storedBytes`` equals its
        /// raw size) because compressing did not make it smaller. Always
        /// `false` for codec none and in format 1.0 files (docs/FORMAT.md,
        /// "Raw chunks", added in 1.1).
        public let isRaw: Bool

        /// A chunk entry.
        /// - Parameters:
        ///   - offset: the absolute file offset of its first stored byte.
        ///   - storedBytes: its stored size in bytes.
        ///   - checksum: the XXH3-64 of its stored bytes.
        ///   - isRaw: stored raw although the array's codec compresses.
        public init(offset: Int, storedBytes: Int, checksum: UInt64, isRaw: Bool = false) {
            self.offset = offset
            self.storedBytes = storedBytes
            self.checksum = checksum
            self.isRaw = isRaw
        }
    }

    /// The stored (compressed) size of each chunk, in bytes (a new array on each call).
    public var chunkStoredBytes: [Int] { (0 ..< chunkCount).map { chunk($0).storedBytes } }
    /// The XXH3-64 checksum of each chunk's stored bytes (a new array on each call).
    public var chunkChecksums: [UInt64] { (0 ..< chunkCount).map { chunk($0).checksum } }
    /// The absolute file offset of every chunk's first byte (a new array on each call).
    public var chunkOffsets: [Int] { (0 ..< chunkCount).map { chunk($0).offset } }

    /// The number of elements (product of ``shape``).
    public let count: Int
    /// The raw size of the stored bytes: `count * storedDType.itemSize`.
    public let storedRawBytes: Int
    /// The size of the array when loaded: `count * dtype.itemSize`.
    public var byteCount: Int { count * dtype.itemSize }
    /// The sum of ``chunkStoredBytes``: the bytes the array takes in the file.
    public let storedBytes: Int
    /// The number of chunks.
    public let chunkCount: Int

    /// `true` when the stored bytes are exactly the loaded bytes, contiguous in
    /// the file: no codec, no filter, no narrowing. Such arrays load by mmap
    /// with zero copies.
    ///
    /// Stored, not computed: evaluating it from the fields made the optimizer
    /// copy the whole entry (three reference counts) at every check, once per
    /// array on every open.
    public let isContiguousRaw: Bool

    /// The compression ratio, raw bytes / stored bytes (1 for empty arrays).
    public var compressionRatio: Double {
        storedBytes == 0 ? 1 : Double(storedRawBytes) / Double(storedBytes)
    }

    /// The raw byte range `lo ..< hi` of chunk `i` within the stored raw bytes.
    public func rawRange(ofChunk i: Int) -> Range<Int> {
        let lo = i * chunkBytes
        return lo ..< Swift.min(storedRawBytes, lo + chunkBytes)
    }


    /// An entry with its own storage (writers, tests): its path's bytes and
    /// chunks are copied into a table of one.
    init(
        path: String, dtype: DType, storedDType: DType, shape: [Int], codec: Codec, filter: ChunkFilter,
        alignment: Int, dataOffset: Int, chunkBytes: Int, chunks: [Chunk],
        count: Int, storedRawBytes: Int, storedBytes: Int
    ) {
        let names = Array(path.utf8)
        self.init(
            table: ArrayTableStorage(names: names, chunks: chunks), nameStart: 0, nameCount: names.count, chunkStart: 0, chunkCount: chunks.count,
            dtype: dtype, storedDType: storedDType, shape: shape, codec: codec, filter: filter,
            alignment: alignment, dataOffset: dataOffset, chunkBytes: chunkBytes,
            count: count, storedRawBytes: storedRawBytes, storedBytes: storedBytes)
    }

    /// An entry of a decoded table: its path is `table.names[nameStart ..<
    /// nameStart + nameCount]` (valid UTF-8), its chunks
    /// `table.chunks[chunkStart ..< chunkStart + chunkCount]`.
    init(
        table: ArrayTableStorage, nameStart: Int, nameCount: Int, chunkStart: Int, chunkCount: Int,
        dtype: DType, storedDType: DType, shape: [Int], codec: Codec, filter: ChunkFilter,
        alignment: Int, dataOffset: Int, chunkBytes: Int,
        count: Int, storedRawBytes: Int, storedBytes: Int
    ) {
        self.table = table
        self.nameStart = nameStart
        self.nameCount = nameCount
        self.chunkStart = chunkStart
        self.chunkCount = chunkCount
        self.dtype = dtype
        self.storedDType = storedDType
        self.shape = shape
        self.codec = codec
        self.filter = filter
        self.alignment = alignment
        self.dataOffset = dataOffset
        self.chunkBytes = chunkBytes
        self.count = count
        self.storedRawBytes = storedRawBytes
        self.storedBytes = storedBytes
        self.isContiguousRaw = !codec.compresses && filter == .none && storedDType == dtype
    }

    /// Whether two entries describe the same array in the same place: equal
    /// paths by Unicode scalars (their UTF-8 bytes: canonically equivalent
    /// spellings are two paths, as in the file), dtypes, shape, codec,
    /// filter, layout and every chunk entry. Whether either came from a
    /// decoded table does not matter.
    public static func == (a: ArrayInfo, b: ArrayInfo) -> Bool {
        guard a.dtype == b.dtype, a.storedDType == b.storedDType, a.shape == b.shape, a.codec == b.codec,
              a.filter == b.filter, a.alignment == b.alignment, a.dataOffset == b.dataOffset,
              a.chunkBytes == b.chunkBytes, a.count == b.count, a.storedRawBytes == b.storedRawBytes,
              a.storedBytes == b.storedBytes, a.chunkCount == b.chunkCount, a.hasSamePath(as: b) else { return false }
        for i in 0 ..< a.chunkCount where a.chunk(i) != b.chunk(i) { return false }
        return true
    }

    /// Hashes what `==` compares (the path's UTF-8 bytes, the fields and
    /// every chunk entry).
    public func hash(into hasher: inout Hasher) {
        withPathBytes { hasher.combine(bytes: $0) }
        hasher.combine(dtype)
        hasher.combine(storedDType)
        hasher.combine(shape)
        hasher.combine(codec)
        hasher.combine(filter)
        hasher.combine(alignment)
        hasher.combine(dataOffset)
        hasher.combine(chunkBytes)
        hasher.combine(chunkCount)
        for i in 0 ..< chunkCount { hasher.combine(chunk(i)) }
    }

    /// A copy with one chunk's checksum replaced (read-write flush).
    func replacingChecksum(_ value: UInt64, ofChunk i: Int) -> ArrayInfo {
        var table = self.chunks
        table[i] = Chunk(offset: table[i].offset, storedBytes: table[i].storedBytes, checksum: value, isRaw: table[i].isRaw)
        return ArrayInfo(
            path: path, dtype: dtype, storedDType: storedDType, shape: shape, codec: codec, filter: filter,
            alignment: alignment, dataOffset: dataOffset, chunkBytes: chunkBytes, chunks: table,
            count: count, storedRawBytes: storedRawBytes, storedBytes: storedBytes)
    }
}

/// The bytes that the entries of one array table share: every path's UTF-8
/// bytes and every chunk entry, back to back in table order. A decoded table
/// of n arrays makes this one object instead of n path strings and n chunk
/// lists: those allocations (and their frees at close) were about a third of
/// an mmap open of a model of many arrays (issue 12).
///
/// `Header.decode` makes it empty, gives it to each entry it decodes, and
/// stores the pools it has gathered in local arrays once the last entry is
/// decoded (``fill(names:chunks:)``; appending through the object would
/// check exclusive access at every append), before any other code reads it;
/// immutable afterwards, hence `@unchecked Sendable`.
final class ArrayTableStorage: @unchecked Sendable {
    /// The paths' UTF-8 bytes (each valid UTF-8).
    private(set) var names: [UInt8]
    /// The chunk entries.
    private(set) var chunks: [ArrayInfo.Chunk]

    init(names: [UInt8] = [], chunks: [ArrayInfo.Chunk] = []) {
        self.names = names
        self.chunks = chunks
    }

    /// Stores the pools of a decoded table (once, before the entries are read).
    func fill(names: [UInt8], chunks: [ArrayInfo.Chunk]) {
        self.names = names
        self.chunks = chunks
    }
}

extension ArrayInfo: CustomReflectable {
    /// The entry as `print` and `dump` show it: its path and fields, and its
    /// chunks, as when they were stored properties (not the shared table).
    public var customMirror: Mirror {
        Mirror(self, children: [
            "path": path, "dtype": dtype, "storedDType": storedDType, "shape": shape, "codec": codec,
            "filter": filter, "alignment": alignment, "dataOffset": dataOffset, "chunkBytes": chunkBytes,
            "chunks": chunks, "count": count, "storedRawBytes": storedRawBytes, "storedBytes": storedBytes,
        ], displayStyle: .struct)
    }
}
