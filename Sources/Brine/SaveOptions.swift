import Foundation

/// Options of ``Brine/save(_:to:options:)``: how arrays are stored (the
/// ``WriteOptions`` it wraps), which ones go out of line, and the user
/// metadata.
public struct SaveOptions: Sendable, Equatable {
    /// How out-of-line arrays are stored: codec, filter, alignment, chunk
    /// size, storage dtype, threads, durability. The properties below of the
    /// same names read and write these.
    public var writeOptions: WriteOptions = .init()
    /// Arrays of at least this many bytes are stored out of line; smaller ones
    /// inline in the object tree. Default 4096 bytes; 0 puts every array out
    /// of line.
    public var inlineThreshold: Int = 4096
    /// User metadata (framework, training parameters, metrics…), readable
    /// with ``BrineFile/metadata`` without decoding the model. Written after
    /// Brine's own keys, sorted by key. Keys starting with `brine.` are
    /// reserved; values must not contain array references.
    public var metadata: [String: Value] = [:]

    /// The compression codec of every out-of-line array's chunks (`.none`,
    /// `.lz4`, `.zstd(level:)`). Default `.none`: arrays load by mmap with zero copies.
    /// The same as ``WriteOptions/codec`` of ``writeOptions``.
    public var codec: Codec {
        get { writeOptions.codec }
        set { writeOptions.codec = newValue }
    }
    /// The filter applied to each chunk before compression. Default `.none`.
    /// The same as ``WriteOptions/filter`` of ``writeOptions``.
    public var filter: ChunkFilter {
        get { writeOptions.filter }
        set { writeOptions.filter = newValue }
    }
    /// The alignment of each array's first byte in the file, in bytes: a
    /// power of two from 8 to 65,536. Default 64.
    /// The same as ``WriteOptions/alignment`` of ``writeOptions``.
    public var alignment: Int {
        get { writeOptions.alignment }
        set { writeOptions.alignment = newValue }
    }
    /// The raw size of each chunk in bytes. Default 1 MiB.
    /// The same as ``WriteOptions/chunkBytes`` of ``writeOptions``.
    public var chunkBytes: Int {
        get { writeOptions.chunkBytes }
        set { writeOptions.chunkBytes = newValue }
    }
    /// Store float32 arrays narrowed to `.float16` or `.bfloat16` (lossy,
    /// opt-in). Applies to out-of-line arrays only; inline arrays and scalars
    /// stay exact. Default `nil`.
    /// The same as ``WriteOptions/storageDType`` of ``writeOptions``.
    public var storageDType: DType? {
        get { writeOptions.storageDType }
        set { writeOptions.storageDType = newValue }
    }
    /// What narrowing to ``storageDType`` does with a value the narrow type
    /// cannot hold in magnitude (see ``NarrowingPolicy``).
    /// The same as ``WriteOptions/narrowing`` of ``writeOptions``.
    public var narrowing: NarrowingPolicy {
        get { writeOptions.narrowing }
        set { writeOptions.narrowing = newValue }
    }
    /// The number of threads that compress and checksum chunks. Default: all
    /// active processors.
    /// The same as ``WriteOptions/threads`` of ``writeOptions``.
    public var threads: Int {
        get { writeOptions.threads }
        set { writeOptions.threads = newValue }
    }
    /// `fsync` the file and its folder before returning (default `true`).
    /// The same as ``WriteOptions/durable`` of ``writeOptions``.
    public var durable: Bool {
        get { writeOptions.durable }
        set { writeOptions.durable = newValue }
    }
    /// Write the `brine.created` metadata key (default `true`); `false` gives
    /// reproducible output. (Comparisons of ``Brine/encode(_:options:)`` with
    /// a saved file need it too.)
    /// The same as ``WriteOptions/recordCreationTime`` of ``writeOptions``.
    public var recordCreationTime: Bool {
        get { writeOptions.recordCreationTime }
        set { writeOptions.recordCreationTime = newValue }
    }

    /// Options with the given fields; the others at their defaults. Every
    /// field of ``WriteOptions`` is here; values are checked by
    /// ``validate()`` when a save starts, before anything is written.
    /// - Parameters:
    ///   - codec: see ``codec``.
    ///   - filter: see ``filter``.
    ///   - alignment: see ``alignment`` (bytes, a power of two from 8 to 65,536).
    ///   - chunkBytes: see ``chunkBytes`` (bytes, 8 … 1 GiB).
    ///   - storageDType: see ``storageDType``.
    ///   - narrowing: see ``narrowing``.
    ///   - inlineThreshold: see ``inlineThreshold`` (bytes).
    ///   - threads: see ``threads`` (at least 1).
    ///   - durable: see ``durable``.
    ///   - recordCreationTime: see ``recordCreationTime``.
    ///   - metadata: see ``metadata``; plain Swift values (``ValueConvertible``:
    ///     integers, floats, strings, bools, arrays and dictionaries of them)
    ///     or ``Value``s, e.g. `["epochs": epochs, "lr": lr]`.
    public init(
        codec: Codec = .none, filter: ChunkFilter = .none, alignment: Int = FormatSpec.defaultAlignment,
        chunkBytes: Int = FormatSpec.defaultChunkBytes, storageDType: DType? = nil,
        narrowing: NarrowingPolicy = .rejectOverflowAndUnderflow, inlineThreshold: Int = 4096, threads: Int = activeProcessorCount, durable: Bool = true,
        recordCreationTime: Bool = true, metadata: [String: any ValueConvertible] = [:]
    ) {
        var w = WriteOptions(codec: codec, filter: filter)
        w.alignment = alignment
        w.chunkBytes = chunkBytes
        w.storageDType = storageDType
        w.narrowing = narrowing
        w.threads = threads
        w.durable = durable
        w.recordCreationTime = recordCreationTime
        self.writeOptions = w
        self.inlineThreshold = inlineThreshold
        self.metadata = metadataValues(metadata)
    }

    /// Options storing arrays as `writeOptions` says, with the given inline
    /// threshold and metadata.
    /// - Parameters:
    ///   - writeOptions: see ``writeOptions``.
    ///   - inlineThreshold: see ``inlineThreshold`` (bytes).
    ///   - metadata: see ``metadata``.
    public init(writeOptions: WriteOptions, inlineThreshold: Int = 4096, metadata: [String: any ValueConvertible] = [:]) {
        self.writeOptions = writeOptions
        self.inlineThreshold = inlineThreshold
        self.metadata = metadataValues(metadata)
    }

    /// Checks every field: the ``WriteOptions`` fields
    /// (``WriteOptions/validate()``), the inline threshold and the metadata
    /// keys. Saves call it before creating any file.
    /// - Throws: ``BrineError`` `.invalidArgument` naming the bad field.
    public func validate() throws(BrineError) {
        try writeOptions.validate()
        _ = try metadataValue(rootType: "")
    }

    /// The metadata map to write: `brine.root_type`, then the user keys sorted.
    /// - Throws: ``BrineError`` `.invalidArgument` for a reserved key or a negative threshold.
    func metadataValue(rootType: String) throws(BrineError) -> Value {
        guard inlineThreshold >= 0 else {
            throw BrineError(.invalidArgument, "inline threshold \(inlineThreshold) is negative")
        }
        var entries: [(key: String, value: Value)] = [("brine.root_type", .string(rootType))]
        for key in metadata.keys.sorted() {
            guard !key.hasPrefix("brine.") else {
                throw BrineError(.invalidArgument, "metadata key '\(key)' uses the reserved prefix 'brine.'")
            }
            entries.append((key, metadata[key]!))
        }
        return .map(entries)
    }
}
