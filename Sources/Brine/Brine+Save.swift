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
    public var recordCreationTime: Bool = true

    /// Options with the given fields; the others at their defaults.
    /// - Parameters:
    ///   - codec: see ``codec``.
    ///   - filter: see ``filter``.
    ///   - storageDType: see ``storageDType``.
    ///   - inlineThreshold: see ``inlineThreshold`` (bytes).
    ///   - metadata: see ``metadata``.
    public init(
        codec: Codec = .none, filter: Filter = .none, storageDType: DType? = nil,
        inlineThreshold: Int = 4096, metadata: [String: Value] = [:]
    ) {
        self.codec = codec
        self.filter = filter
        self.storageDType = storageDType
        self.inlineThreshold = inlineThreshold
        self.metadata = metadata
    }

    /// The low-level writer options these options imply.
    public var writeOptions: WriteOptions {
        var w = WriteOptions(codec: codec, filter: filter)
        w.alignment = alignment
        w.chunkBytes = chunkBytes
        w.storageDType = storageDType
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
/// reach ``BrineFile/flush()`` after loading with ``LoadMode/mmapReadWrite``,
/// and the metadata.
///
/// ```swift
/// var handle = try Brine.open(MLP.self, from: url, mode: .mmapReadWrite)
/// handle.model.layers[0].weight[0, 0] += 0.01   // written into the file's pages
/// try handle.flush()                             // msync + rewrite checksums
/// ```
///
/// In read-write mode, ``Tensor`` fields of uncompressed arrays are views of
/// the file: change them *in place through* ``model`` (a copy of the model
/// shares the storage, and the first write to a shared tensor copies it, so
/// it no longer reaches the file). Swift array fields (`[Float]`) and
/// compressed arrays are always copies; changing them never changes the file.
public struct BrineModel<Model> {
    /// The decoded model.
    public var model: Model
    /// The open file (its mapping stays alive while views of it exist).
    public let file: BrineFile

    /// The file's metadata (`brine.*` keys and the user keys given at save).
    public var metadata: Value { file.metadata }

    /// How the file was opened.
    public var mode: LoadMode { file.mode }

    /// Syncs in-place changes to the file and makes it verify again; see
    /// ``BrineFile/flush()``.
    /// - Returns: the number of chunks whose checksum changed.
    /// - Throws: ``BrineError`` `.readOnly` unless opened with
    ///   ``LoadMode/mmapReadWrite``; `.io` when `msync` fails.
    @discardableResult
    public func flush() throws(BrineError) -> Int {
        try file.flush()
    }
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
        let metadata = try options.metadataValue(rootType: String(reflecting: type(of: model)))
        let writer = try BrineWriter(url: url, options: options.writeOptions)
        do {
            let root = try BrineEncoder().encode(model, sink: WriterSink(writer), threshold: options.inlineThreshold)
            try writer.finish(root: root, metadata: metadata)
        } catch {
            writer.cancel()
            throw error
        }
    }

    /// Loads a model saved with ``save(_:to:options:)``.
    ///
    /// All arrays are loaded first, in parallel (``BrineFile/loadAll()``),
    /// then the model is decoded. In the mmap modes, ``Tensor`` fields of
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
    public static func load<T: Decodable>(
        _ type: T.Type, from url: URL, mode: LoadMode = .copy, options: ReadOptions = .init()
    ) throws -> T {
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
