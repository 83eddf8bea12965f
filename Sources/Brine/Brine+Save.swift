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
    public var filter: Filter = .none
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
        codec: Codec = .none, filter: Filter = .none, alignment: Int = FormatSpec.defaultAlignment,
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

/// A model loaded from a Brine file together with the open file: the way to
/// reach ``flush()`` after loading with ``LoadMode/mmapReadWrite``, and the
/// metadata.
///
/// ```swift
/// var handle = try Brine.open(MLP.self, from: url, mode: .mmapReadWrite)
/// handle.model.layers[0].weight[0, 0] += 0.01   // changes this process's private pages
/// try handle.flush()                             // writes every change of the model, crash-safely
/// ```
///
/// In read-write mode, ``Tensor`` fields of uncompressed arrays are views of
/// a private (copy-on-write) mapping of the file. ``flush()`` writes every
/// change the model holds (see there for what it does in each case); a
/// handle released without a flush changes nothing on disk.
public struct BrineModel<Model> {
    /// The decoded model.
    public var model: Model
    /// Holds the open file; a flush that re-saves the model replaces it.
    let session: ModelSession

    /// The open file (its mapping stays alive while views of it exist). After
    /// a ``flush()`` that re-saved the whole model, the newly written file.
    public var file: BrineFile { session.file }

    /// Wraps a decoded model and its open file.
    init(model: Model, file: BrineFile) {
        self.model = model
        self.session = ModelSession(file)
    }

    /// The file's metadata (`brine.*` keys and the user keys given at save).
    public var metadata: Value { file.metadata }

    /// How the file was opened.
    public var mode: LoadMode { file.mode }
}

extension BrineModel: Sendable where Model: Sendable {}

extension Brine {
    /// Saves a model (any `Encodable` value) with its metadata, atomically.
    ///
    /// The structure goes into the header's object tree; every numeric array
    /// of at least ``SaveOptions/inlineThreshold`` bytes (`[Float]`, integer
    /// arrays, `Data`, ``Tensor``, …, see ``BrineEncoder``) is streamed out of
    /// line as the encoder meets it, straight from the model's own buffers,
    /// under the array path of its coding path (`layers.0.weight`). The file
    /// replaces `url` only when complete (temporary file, `fsync`, `rename`);
    /// on any error the previous file is untouched.
    /// When `url` is a symbolic link (or a chain of them), the file it points
    /// to is replaced and the link stays; a dangling link's target is created.
    ///
    /// Metadata: `brine.format`, `brine.version`, `brine.created`,
    /// `brine.root_type` (the Swift type name of `model`), then
    /// ``SaveOptions/metadata``.
    /// - Parameters:
    ///   - model: the value to save.
    ///   - url: the destination file URL; its folder must exist.
    ///   - options: codec, filter, alignment, chunk size, storage dtype, inline threshold, metadata.
    /// - Throws: ``BrineError`` (`.invalidArgument` for bad options or a
    ///   reserved metadata key, `.notFound` for a missing folder, `.io`,
    ///   `.compressionFailed`); `EncodingError` from the model's encoding
    ///   (with the coding path), for example a structure nested deeper than
    ///   ``ReadLimits/maxDepth``.
    public static func save(_ model: some Encodable, to url: URL, options: SaveOptions = .init()) throws {
        try options.validate()
        try write(model, into: BrineWriter(url: url, options: options.writeOptions), options: options)
    }

    /// Encodes `model` into `writer` and finishes it (cancels it on error).
    static func write(_ model: some Encodable, into writer: BrineWriter, options: SaveOptions) throws {
        do {
            let metadata = try options.metadataValue(rootType: String(reflecting: type(of: model)))
            let root = try BrineEncoder().encode(model, sink: WriterSink(writer), threshold: options.inlineThreshold)
            try writer.finish(root: root, metadata: metadata)
        } catch {
            writer.cancel()
            throw error
        }
    }

    /// Loads a model saved with ``save(_:to:options:)``.
    ///
    /// Only the arrays `type` asks for are read, verified and decoded, each
    /// nested struct, list or dictionary's arrays in one parallel batch (see
    /// ``BrineDecoder/decode(_:from:)-(_,BrineFile)``): a type that reads only
    /// the configuration reads no array data. To load one part, see
    /// ``load(_:from:at:mode:options:)``. In the mmap modes, ``Tensor`` fields of
    /// uncompressed arrays are zero-copy views of the mapping (which they
    /// keep alive); `[Float]`-style fields and compressed arrays are copies.
    /// Use ``open(_:from:mode:options:)`` to keep the file (for
    /// ``BrineFile/flush()`` after ``LoadMode/mmapReadWrite``).
    /// - Parameters:
    ///   - type: the model type (need not be the saved type, only fit the tree).
    ///   - url: the file.
    ///   - mode: `.copy` (default), `.mmap` or `.mmapCopyOnWrite`. For
    ///     `.mmapReadWrite` use ``open(_:from:mode:options:)``, whose handle
    ///     can ``BrineModel/flush()``.
    ///   - options: checksum verification, threads, limits.
    /// - Returns: the model.
    /// - Throws: ``BrineError`` `.invalidArgument` for `.mmapReadWrite`; for
    ///   the file (`.notFound`, `.notABrineFile`, `.truncated`,
    ///   `.checksumMismatch`, `.limitExceeded`, …);
    ///   `DecodingError` with the coding path when the tree does not fit
    ///   `type` (its underlying error is a ``BrineError`` `.dtypeMismatch`
    ///   for an array of the wrong dtype).
    ///
    /// A URL whose name ends with `.index.json` (``ShardIndex/isIndex(_:)``)
    /// is a sharded model's index: see ``load(_:fromShardIndex:options:)``.
    public static func load<T: Decodable>(
        _ type: T.Type, from url: URL, mode: LoadMode = .copy, options: ReadOptions = .init()
    ) throws -> T {
        if ShardIndex.isIndex(url) { return try load(type, fromShardIndex: url, options: options) }
        guard mode != .mmapReadWrite else {
            // The model's tensors would write into the file with no way to
            // flush (sync and fix the checksums): that needs the handle.
            throw BrineError(.invalidArgument, "load with .mmapReadWrite would leave no way to flush; use Brine.open, which returns the model with its file", filePath: url.path)
        }
        return try open(type, from: url, mode: mode, options: options).model
    }

    /// Loads a model and keeps its file open: see ``BrineModel``. The way to
    /// update a file in place: open with ``LoadMode/mmapReadWrite``, change
    /// the ``Tensor`` fields through ``BrineModel/model``, call
    /// ``BrineModel/flush()``.
    /// - Parameters:
    ///   - type: the model type.
    ///   - url: the file.
    ///   - mode: any ``LoadMode``; default `.copy`.
    ///   - options: checksum verification, threads, limits.
    /// - Returns: the model and the open file.
    /// - Throws: as ``load(_:from:mode:options:)`` (`.mmapReadWrite` allowed).
    public static func open<T: Decodable>(
        _ type: T.Type, from url: URL, mode: LoadMode = .copy, options: ReadOptions = .init()
    ) throws -> BrineModel<T> {
        let file = try BrineFile(contentsOf: url, mode: mode, options: options)
        let model = try BrineDecoder().decode(type, from: file)
        return BrineModel(model: model, file: file)
    }

    /// Reads a file's metadata without reading any array or decoding the model.
    /// - Parameter url: the file.
    /// - Returns: the metadata map (`brine.*` keys and user keys).
    /// - Throws: ``BrineError`` as ``BrineFile/init(contentsOf:mode:options:)``.
    public static func metadata(of url: URL) throws(BrineError) -> Value {
        try BrineFile(contentsOf: url).metadata
    }
}
