import Foundation

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
    /// Arrays are read, verified and decoded when `type` asks for them: each
    /// nested struct, list or dictionary's arrays in one parallel batch, and
    /// the arrays the top-level value holds itself (its fields, not its
    /// sub-modules') in one more, a prefetch whose failure on a sibling does
    /// not fail the array asked for (see
    /// ``BrineDecoder/decode(_:from:)-(_,BrineFile)``). A type that reads
    /// only the configuration reads no array data; one that reads one
    /// sub-module reads only that sub-module's arrays. To load one part, see
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
