import Foundation

extension Brine {
    /// Encodes a model into the bytes of a Brine file, in memory: the
    /// counterpart of Python's `pickle.dumps`, for models kept in a database
    /// blob, a cache or a message.
    ///
    /// The bytes are exactly those ``save(_:to:options:)`` writes to a file
    /// with the same options (with ``WriteOptions/recordCreationTime`` `false`
    /// they are the same from one call to the next). ``WriteOptions/durable``
    /// does not apply.
    /// - Parameters:
    ///   - model: the value to encode.
    ///   - options: codec, filter, alignment, chunk size, storage dtype,
    ///     inline threshold, metadata.
    /// - Returns: the file's bytes.
    /// - Throws: ``BrineError`` `.invalidArgument` for bad options (before
    ///   anything is encoded), `.compressionFailed`; `EncodingError` from the
    ///   model's encoding.
    public static func encode(_ model: some Encodable, options: SaveOptions = .init()) throws -> Data {
        let sink = BrineMemorySink()
        try encode(model, to: sink, options: options)
        return sink.data
    }

    /// Encodes a model as a Brine file written in one sequential pass to
    /// `sink` (a pipe, a socket, memory: see ``BrineByteSink``). The bytes are
    /// those of ``save(_:to:options:)``; nothing is atomic: on error the sink
    /// holds an incomplete file, which readers reject.
    /// - Parameters:
    ///   - model: the value to encode.
    ///   - sink: where the bytes go, in order.
    ///   - options: as ``save(_:to:options:)``.
    /// - Throws: as ``encode(_:options:)``, and the sink's errors (`.io`).
    public static func encode(_ model: some Encodable, to sink: any BrineByteSink, options: SaveOptions = .init()) throws {
        try options.validate()
        try write(model, into: BrineWriter(sink: sink, options: options.writeOptions), options: options)
    }

    /// Decodes a model from the bytes of a Brine file held in memory: the
    /// counterpart of Python's `pickle.loads`, but nothing in the bytes is
    /// executed and every byte is checked as in a file (checksums, caps,
    /// layout; docs/FORMAT.md, "Limits").
    ///
    /// The bytes are copied once into 64-byte-aligned memory; the model's
    /// ``Tensor`` fields then share that copy (read-only, copied on first
    /// write), Swift arrays are copied. Only the arrays the type asks for
    /// are decoded (see ``BrineDecoder/decode(_:from:)-(_,BrineFile)``).
    /// - Parameters:
    ///   - type: the model type.
    ///   - data: the whole file, e.g. from ``encode(_:options:)``.
    ///   - path: the coding path of the part to decode (`"layers.2"`); `""`
    ///     (default) for the whole model. See ``load(_:from:at:mode:options:)``.
    ///   - options: verification, threads, limits.
    /// - Returns: the model.
    /// - Throws: ``BrineError`` for malformed bytes (`.notABrineFile`,
    ///   `.truncated`, `.checksumMismatch`, `.corruptHeader`,
    ///   `.limitExceeded`, …) and for a path with no value
    ///   (`.invalidArgument`); `.modelMismatch` when the tree does not fit `type`
    ///   (its ``BrineError/cause`` is the `DecodingError`).
    public static func decode<T: Decodable>(
        _ type: T.Type, from data: Data, at path: String = "", options: ReadOptions = .init()
    ) throws -> T {
        let file = try typedThrows { try data.withUnsafeBytes { b in try BrineFile(bytes: b, options: options) } }
        return try file.decode(type, at: path)
    }

    /// Reads the metadata of a Brine file held in memory (no array is read).
    /// - Throws: ``BrineError`` as ``decode(_:from:at:options:)``.
    public static func metadata(of data: Data) throws(BrineError) -> Value {
        try typedThrows { try data.withUnsafeBytes { b in try BrineFile(bytes: b).metadata } }
    }
}
