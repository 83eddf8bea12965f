import Foundation

/// Options of ``Brine/save(_:to:options:)``: how arrays are stored (the
/// ``WriteOptions`` it wraps), which ones go out of line, and the user
/// metadata.
@dynamicMemberLookup
public struct SaveOptions: Sendable, Equatable {
    /// How out-of-line arrays are stored: codec, filter, alignment, chunk
    /// size, storage dtype, threads, durability. Its fields are also
    /// reachable on the save options themselves (`options.codec`).
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

    /// Reads and writes the ``writeOptions`` field of the same name, so that
    /// `options.codec = .zstd(level: 3)`, `options.durable = false`, … set
    /// the stored arrays' options directly (codec, filter, alignment,
    /// chunkBytes, storageDType, narrowing, threads, durable,
    /// recordCreationTime: see ``WriteOptions``).
    public subscript<T>(dynamicMember field: WritableKeyPath<WriteOptions, T>) -> T {
        get { writeOptions[keyPath: field] }
        set { writeOptions[keyPath: field] = newValue }
    }

    /// Options with the given fields; the others at their defaults. Every
    /// field of ``WriteOptions`` is here; values are checked by
    /// ``validate()`` when a save starts, before anything is written.
    /// - Parameters:
    ///   - codec: see ``WriteOptions/codec``.
    ///   - filter: see ``WriteOptions/filter``.
    ///   - alignment: see ``WriteOptions/alignment`` (bytes, a power of two from 8 to 65,536).
    ///   - chunkBytes: see ``WriteOptions/chunkBytes`` (bytes, 8 … 1 GiB).
    ///   - storageDType: see ``WriteOptions/storageDType``.
    ///   - narrowing: see ``WriteOptions/narrowing``.
    ///   - inlineThreshold: see ``inlineThreshold`` (bytes).
    ///   - threads: see ``WriteOptions/threads`` (at least 1).
    ///   - durable: see ``WriteOptions/durable``.
    ///   - recordCreationTime: see ``WriteOptions/recordCreationTime``.
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
