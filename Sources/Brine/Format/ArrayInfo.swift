/// One entry of a Brine file's array table: where an array's chunks are and
/// how to decode them (docs/FORMAT.md, "Array table").
///
/// All sizes are in bytes unless named otherwise; offsets are absolute file
/// offsets.
public struct ArrayInfo: Sendable, Hashable {
    /// The array's path in the container, e.g. `layers.0.weight`. Unique in a file.
    public let path: String
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
    /// back from ``dataOffset``.
    public let chunks: [Chunk]

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
    public var chunkStoredBytes: [Int] { chunks.map(\.storedBytes) }
    /// The XXH3-64 checksum of each chunk's stored bytes (a new array on each call).
    public var chunkChecksums: [UInt64] { chunks.map(\.checksum) }
    /// The absolute file offset of every chunk's first byte (a new array on each call).
    public var chunkOffsets: [Int] { chunks.map(\.offset) }

    /// The number of elements (product of ``shape``).
    public let count: Int
    /// The raw size of the stored bytes: `count * storedDType.itemSize`.
    public let storedRawBytes: Int
    /// The size of the array when loaded: `count * dtype.itemSize`.
    public var byteCount: Int { count * dtype.itemSize }
    /// The sum of ``chunkStoredBytes``: the bytes the array takes in the file.
    public let storedBytes: Int
    /// The number of chunks.
    public var chunkCount: Int { chunks.count }

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


    init(
        path: String, dtype: DType, storedDType: DType, shape: [Int], codec: Codec, filter: ChunkFilter,
        alignment: Int, dataOffset: Int, chunkBytes: Int, chunks: [Chunk],
        count: Int, storedRawBytes: Int, storedBytes: Int
    ) {
        self.path = path
        self.dtype = dtype
        self.storedDType = storedDType
        self.shape = shape
        self.codec = codec
        self.filter = filter
        self.alignment = alignment
        self.dataOffset = dataOffset
        self.chunkBytes = chunkBytes
        self.chunks = chunks
        self.count = count
        self.storedRawBytes = storedRawBytes
        self.storedBytes = storedBytes
        self.isContiguousRaw = !codec.compresses && filter == .none && storedDType == dtype
    }

    /// A copy with one chunk's checksum replaced (read-write flush).
    func replacingChecksum(_ value: UInt64, ofChunk i: Int) -> ArrayInfo {
        var table = chunks
        table[i] = Chunk(offset: table[i].offset, storedBytes: table[i].storedBytes, checksum: value, isRaw: table[i].isRaw)
        return ArrayInfo(
            path: path, dtype: dtype, storedDType: storedDType, shape: shape, codec: codec, filter: filter,
            alignment: alignment, dataOffset: dataOffset, chunkBytes: chunkBytes, chunks: table,
            count: count, storedRawBytes: storedRawBytes, storedBytes: storedBytes)
    }
}
