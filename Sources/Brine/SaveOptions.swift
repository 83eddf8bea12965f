import Foundation

/// Options of ``Brine/save(_:to:options:)``: how arrays are stored, which
/// ones go out of line, and the user metadata.
public struct SaveOptions: Sendable, Equatable {
    /// The compression codec of every out-of-line array's chunks (`.none`,
    /// `.lz4`, `.zstd(level:)`; the zstd level is part of the codec).
    /// Default `.none`: arrays are stored contiguously and load by mmap with
    /// zero copies.
    public var codec: Codec = .none
    /// The filter applied to each chunk before compression (`.none` or
    /// `.shuffle`, blosc-style byte shuffle). Default `.none`.
    public var filter: ChunkFilter = .none
    /// The alignment of each array's first byte in the file, in bytes: a
    /// power of two from 8 to 65,536. Default 64.
    public var alignment: Int = FormatSpec.defaultAlignment
    /// The raw size of each chunk in bytes. Default 1 MiB.
    public var chunkBytes: Int = FormatSpec.defaultChunkBytes
    /// Store float32 arrays narrowed to `.float16` or `.bfloat16` (lossy,
    /// opt-in; widened back to float32 on load). Applies to out-of-line
    /// arrays only; inline arrays and scalars stay exact. Default `nil`.
    public var storageDType: DType? = nil
    /// What narrowing to ``storageDType`` does with a value the narrow type
    /// cannot hold in magnitude: by default a `.valueOutOfRange` error
    /// naming the array, element index and value (see ``NarrowingPolicy``).
    public var narrowing: NarrowingPolicy = .rejectOverflowAndUnderflow
    /// Arrays of at least this many bytes are stored out of line; smaller ones
    /// inline in the object tree. Default 4096 bytes; 0 puts every array out
    /// of line.
    public var inlineThreshold: Int = 4096
    /// User metadata (framework, training parameters, metrics…), readable
    /// with ``BrineFile/metadata`` without decoding the model. Written after
    /// Brine's own keys, sorted by key. Keys starting with `brine.` are
    /// reserved; values must not contain array references.
    public var metadata: [String: Value] = [:]
    /// The number of threads that compress and checksum chunks. Default: all
    /// active processors.
    public var threads: Int = activeProcessorCount
    /// `fsync` the file and its folder before returning (default `true`).
    public var durable: Bool = true
    /// Write the `brine.created` metadata key (default `true`); `false` gives
    /// reproducible output: saving the same model twice gives byte-identical
    /// files (see ``WriteOptions/recordCreationTime``).
    /// (Comparisons of ``Brine/encode(_:options:)`` with a saved file need it too.)
    public var recordCreationTime: Bool = true

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
        self.codec = codec
        self.filter = filter
        self.alignment = alignment
        self.chunkBytes = chunkBytes
        self.storageDType = storageDType
        self.narrowing = narrowing
        self.inlineThreshold = inlineThreshold
        self.threads = threads
        self.durable = durable
        self.recordCreationTime = recordCreationTime
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

    /// The low-level writer options these options imply.
    public var writeOptions: WriteOptions {
        var w = WriteOptions(codec: codec, filter: filter)
        w.alignment = alignment
        w.chunkBytes = chunkBytes
        w.storageDType = storageDType
        w.narrowing = narrowing
        w.threads = threads
        w.durable = durable
        w.recordCreationTime = recordCreationTime
        return w
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
