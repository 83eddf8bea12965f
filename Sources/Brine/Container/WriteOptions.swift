/// How arrays are stored when writing a Brine file.
public struct WriteOptions: Sendable, Hashable {
    /// The compression codec of every chunk. Default `.none`, which stores
    /// arrays contiguously for zero-copy mmap loads.
    public var codec: Codec = .none
    /// The transform applied to each chunk before compression. Default `.none`;
    /// `.shuffle` usually improves the ratio of numeric data.
    public var filter: ChunkFilter = .none
    /// The alignment of each array's first byte in the file, in bytes: a power
    /// of two from 8 to 65,536. Default 64 (widest SIMD loads); 4096 gives
    /// page alignment.
    public var alignment: Int = FormatSpec.defaultAlignment
    /// The raw size of each chunk in bytes (rounded down to a whole number of
    /// elements, at least one element). Default 1 MiB; at most 1 GiB.
    public var chunkBytes: Int = FormatSpec.defaultChunkBytes
    /// Store float32 arrays narrowed to `.float16` or `.bfloat16` (lossy,
    /// opt-in; recorded per array, widened back to float32 on load). `nil`
    /// (default) stores every dtype as is. Other dtypes are never narrowed.
    public var storageDType: DType? = nil
    /// What narrowing to ``storageDType`` does with values the narrow type
    /// cannot hold in magnitude. Default ``NarrowingPolicy/rejectOverflowAndUnderflow``:
    /// a finite value that would become ±infinity or a nonzero value that
    /// would become ±0 throws `.valueOutOfRange` (array, element index,
    /// value) and the save leaves the destination untouched.
    public var narrowing: NarrowingPolicy = .rejectOverflowAndUnderflow
    /// The number of threads that compress and checksum chunks. Default: all
    /// active processors. 1 runs everything on the calling thread.
    public var threads: Int = activeProcessorCount
    /// `fsync` the file and its folder before the save returns (default
    /// `true`). `false` keeps atomicity against crashes of the process but
    /// not against power loss; the benchmark reports both.
    public var durable: Bool = true
    /// Write the `brine.created` metadata key (the save's UTC time). Default
    /// `true`. `false` makes the output reproducible: the same model saved
    /// with the same options gives byte-identical files, whatever the
    /// process, its hash seed or the thread timing (the other `brine.*` keys
    /// depend only on the library version and the model's type).
    public var recordCreationTime: Bool = true
    /// LZ4's acceleration factor for ``Codec/lz4`` chunks (liblz4
    /// `LZ4_compress_fast`): 1 (default, `LZ4_compress_default`'s ratio) to
    /// 65,537; each step trades some ratio for speed. Files need nothing to
    /// read it back (the LZ4 block format is the same), so it is not stored.
    /// Ignored by other codecs.
    public var lz4Acceleration: Int = 1

    /// The defaults: no codec, no filter, 64-byte alignment, 1 MiB chunks.
    public init() {}

    /// Options with the given codec and filter, other fields at their defaults.
    public init(codec: Codec, filter: ChunkFilter = .none) {
        self.codec = codec
        self.filter = filter
    }

    /// Checks every field's range.
    /// - Throws: ``BrineError`` `.invalidArgument` naming the bad field.
    public func validate() throws(BrineError) {
        guard alignment >= FormatSpec.minAlignment, alignment <= FormatSpec.maxAlignment, alignment & (alignment - 1) == 0 else {
            throw BrineError(.invalidArgument, "alignment \(alignment) is not a power of two from 8 to 65536")
        }
        guard chunkBytes >= 8, chunkBytes <= Codec.maxChunkBytes else {
            throw BrineError(.invalidArgument, "chunk size \(chunkBytes) is outside 8 bytes … 1 GiB")
        }
        if case .zstd(let level) = codec, level < -7 || level > 22 {
            throw BrineError(.invalidArgument, "zstd level \(level) is outside -7 … 22")
        }
        if let s = storageDType, s != .float16, s != .bfloat16 {
            throw BrineError(.invalidArgument, "storage dtype \(s) is not float16 or bfloat16")
        }
        guard threads >= 1 else { throw BrineError(.invalidArgument, "threads must be at least 1") }
        guard lz4Acceleration >= 1, lz4Acceleration <= Codec.maxLZ4Acceleration else {
            throw BrineError(.invalidArgument, "lz4 acceleration \(lz4Acceleration) is outside 1 … \(Codec.maxLZ4Acceleration)")
        }
    }
}
