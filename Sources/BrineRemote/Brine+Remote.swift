import Brine
import Foundation

extension RangedBrineFile {
    /// Opens a Brine object at an `http(s)://` or `s3://` URL (or a
    /// `file://` URL, read through ``FileRangeSource``): one round trip in the
    /// common case, then only the chunks asked for are fetched.
    /// - Parameters:
    ///   - url: the object.
    ///   - remote: endpoint, credentials, retries, deadlines, coalescing, concurrency.
    ///   - options: verification, threads, limits.
    /// - Throws: ``BrineError``: `.notFound`, `.permissionDenied`,
    ///   `.objectChanged`, `.timedOut`, `.io` for the transport; the format's
    ///   codes (`.notABrineFile`, `.truncated`, `.checksumMismatch`, …) for the bytes.
    public static func open(_ url: URL, remote: RemoteOptions = .init(), options: ReadOptions = .init()) async throws(BrineError) -> RangedBrineFile {
        if url.isFileURL {
            return try await open(FileRangeSource(path: url.path), options: options, fetch: remote.fetch)
        }
        let source = try await RemoteObjectSource.open(url, options: remote)
        return try await open(source, options: options, fetch: remote.fetch)
    }
}

extension Brine {
    /// `true` for URLs BrineRemote reads (`http`, `https`, `s3`).
    public static func isRemote(_ url: URL) -> Bool {
        ["http", "https", "s3"].contains(url.scheme?.lowercased() ?? "")
    }

    /// Parses a command-line or configuration string: `s3://…`, `http(s)://…`
    /// become remote URLs, anything else a file path.
    public static func url(fromArgument s: String) -> URL {
        if let u = URL(string: s), isRemote(u) { return u }
        return URL(fileURLWithPath: s)
    }

    /// Loads a model from an `s3://` or `http(s)://` URL (a `file://` URL
    /// loads locally): every array is fetched in coalesced, concurrent range
    /// requests, verified and decoded as it arrives, then the model is decoded.
    /// - Parameters:
    ///   - type: the model type.
    ///   - url: the object.
    ///   - remote: endpoint, credentials, retries, deadlines, coalescing, concurrency.
    ///   - options: verification, threads, limits.
    /// - Throws: the codes of ``RangedBrineFile/open(_:remote:options:)`` and
    ///   ``RangedBrineFile/load(_:)``; `DecodingError` when the tree does not fit `type`.
    ///
    /// A URL whose name ends with `.index.json` (``ShardIndex/isIndex(_:)``)
    /// is a sharded model's index (saved by ``Brine/save(_:toShards:maxShardBytes:options:)``):
    /// its shards are fetched in parallel and the index's tree decoded
    /// (`.unsupportedFeature` for an index of weights only).
    public static func load<T: Decodable>(
        _ type: T.Type, from url: URL, remote: RemoteOptions = .init(), options: ReadOptions = .init()
    ) async throws -> T {
        if url.isFileURL { return try load(type, from: url, mode: .copy, options: options) }
        if ShardIndex.isIndex(url) {
            let (index, arrays) = try await loadShards(url, remote: remote, options: options, requireTree: true)
            return try BrineDecoder().decode(type, from: index.tree!, arrays: arrays)
        }
        let file = try await RangedBrineFile.open(url, remote: remote, options: options)
        return try await file.decode(type)
    }

    /// Reads every array of a remote Brine object by path (see
    /// ``Brine/loadWeights(from:mode:options:)``).
    /// - Throws: as ``load(_:from:remote:options:)``.
    public static func loadWeights(from url: URL, remote: RemoteOptions = .init(), options: ReadOptions = .init()) async throws(BrineError) -> Weights {
        if url.isFileURL { return try loadWeights(from: url, mode: .copy, options: options) }
        return try await RangedBrineFile.open(url, remote: remote, options: options).weights()
    }

    /// Saves a model to `s3://bucket/key`, streaming it through S3 multipart
    /// upload (a `file://` URL saves locally). No temporary file: the model
    /// is encoded on a separate thread into an ``S3UploadSink``, whose parts
    /// of ``RemoteOptions/partBytes`` are uploaded while encoding goes on,
    /// ``RemoteOptions/concurrentUploads`` at a time (memory: at most
    /// `(concurrentUploads + 1) × partBytes` of file bytes). The object
    /// appears only when complete; a failed or cancelled save aborts the
    /// upload (no parts remain) and leaves any previous object as it was.
    /// The bytes are those of a local save with the same options.
    /// - Parameters:
    ///   - model: the model.
    ///   - url: `s3://bucket/key` (or a file URL).
    ///   - remote: endpoint, credentials, part size, concurrency.
    ///   - options: codec, filter, chunk size, metadata… as for a local save
    ///     (``SaveOptions/durable`` does not apply to S3).
    /// - Throws: ``BrineError`` `.invalidArgument` (an http(s) URL: HTTP
    ///   servers take no uploads; a part size under 5 MiB), `.permissionDenied`,
    ///   `.notFound` (no bucket), `.io` (also "cancelled"), `.timedOut`; the
    ///   local save's errors.
    public static func save(_ model: some Encodable, to url: URL, remote: RemoteOptions = .init(), options: SaveOptions = .init()) async throws {
        if url.isFileURL { return try saveLocally(model, to: url, options: options) }
        guard url.scheme?.lowercased() == "s3" else {
            throw BrineError(.invalidArgument, "saving needs an s3:// URL (plain HTTP servers take no uploads)", filePath: url.absoluteString)
        }
        try options.validate()
        let sink = try S3UploadSink(url: url, options: remote)
        let boxed = UncheckedBox(model)
        try await stream(to: sink) { try Brine.encode(boxed.value, to: sink, options: options) }
    }

    /// Writes a Brine file straight to `s3://bucket/key` with a
    /// ``BrineWriter``, streamed through S3 multipart upload as
    /// ``save(_:to:remote:options:)`` does (no temporary file; memory
    /// bounded by the parts in flight).
    ///
    /// `body` runs on its own thread: it appends arrays to the writer and
    /// returns the object tree and metadata, which this function passes to
    /// ``BrineWriter/finish(root:metadata:)``. The object appears only when
    /// everything is written; when `body` throws, or the task is cancelled,
    /// the upload is aborted and no parts remain.
    /// - Parameters:
    ///   - url: `s3://bucket/key`.
    ///   - remote: endpoint, credentials, part size, concurrency.
    ///   - options: the writer's default options for every array.
    ///   - body: appends the arrays; returns `(root, metadata)`.
    /// - Returns: the arrays written, as ``BrineWriter/finish(root:metadata:)`` returns them.
    /// - Throws: ``BrineError`` as ``save(_:to:remote:options:)``; whatever `body` throws.
    @discardableResult
    public static func write(
        to url: URL, remote: RemoteOptions = .init(), options: WriteOptions = .init(),
        _ body: @escaping (BrineWriter) throws -> (root: Value, metadata: Value)
    ) async throws -> [ArrayInfo] {
        let sink = try S3UploadSink(url: url, options: remote)
        let result = UncheckedBox<[ArrayInfo]>([])
        let work = UncheckedBox(body)
        try await stream(to: sink) {
            let writer = try BrineWriter(sink: sink, options: options)
            do {
                let (root, metadata) = try work.value(writer)
                result.value = try writer.finish(root: root, metadata: metadata)
            } catch {
                writer.cancel()
                throw error
            }
        }
        return result.value
    }

    /// Runs `encode` (which writes the whole file into `sink`) off the
    /// cooperative pool, then completes the upload; on failure or
    /// cancellation, aborts it.
    static func stream(to sink: S3UploadSink, _ encode: @escaping () throws -> Void) async throws {
        do {
            try await withTaskCancellationHandler {
                try await offCooperativePool(encode)
            } onCancel: {
                sink.cancel()
            }
            try await sink.complete()
        } catch {
            await sink.abort()
            if error is CancellationError || Task.isCancelled {
                throw BrineError(.io, "save cancelled; the multipart upload was aborted", filePath: sink.url.absoluteString)
            }
            throw error
        }
    }

    /// The local save, named apart so that async callers never reach the remote overload.
    static func saveLocally(_ model: some Encodable, to url: URL, options: SaveOptions) throws {
        try save(model, to: url, options: options)
    }
}

extension Brine {
    /// Loads a sharded model (``ShardIndex``) from an `s3://` or
    /// `http(s)://` index URL (or a `file://` one): reads the index, then
    /// opens and loads every shard concurrently (each one coalesced and
    /// pipelined as ``RangedBrineFile`` does).
    /// - Parameters:
    ///   - url: the index, `…/model.brine.index.json`; shards are beside it.
    /// - Returns: the arrays in the index's order.
    /// - Throws: ``BrineError`` `.corruptHeader` (bad index; a listed array
    ///   missing from its shard), `.limitExceeded` (index over 64 MiB), and the
    ///   codes of ``RangedBrineFile/open(_:remote:options:)`` and ``RangedBrineFile/load(_:)``.
    public static func loadWeights(fromShardIndex url: URL, remote: RemoteOptions = .init(), options: ReadOptions = .init()) async throws(BrineError) -> Weights {
        if url.isFileURL { return try loadShardsLocally(url, options: options) }
        let (index, arrays) = try await loadShards(url, remote: remote, options: options, requireTree: false)
        return try Weights(zip(index.weightMap, arrays).map { (path: $0.0.path, tensor: $0.1) })
    }

    /// Reads a remote shard index, then every shard's arrays concurrently.
    /// - Returns: the index and the arrays in weight-map order.
    static func loadShards(_ url: URL, remote: RemoteOptions, options: ReadOptions, requireTree: Bool) async throws(BrineError) -> (ShardIndex, [AnyTensor]) {
        let source = try await RemoteObjectSource.open(url, options: remote)
        guard source.size <= ShardIndex.maxIndexBytes else {
            throw BrineError(.limitExceeded, "shard index of \(source.size) bytes is over the cap of \(ShardIndex.maxIndexBytes)", filePath: url.absoluteString)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(1, source.size), alignment: 16)
        defer { buffer.deallocate() }
        try await source.read(0 ..< source.size, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< source.size]))
        let index = try ShardIndex(parsing: [UInt8](UnsafeRawBufferPointer(rebasing: buffer[0 ..< source.size])), path: url.absoluteString)
        if requireTree { _ = try index.requireTree(path: url.absoluteString) }
        let base = url.deletingLastPathComponent()
        let map = index.weightMap
        var byPath: [ExactName: AnyTensor] = [:]  // by code points, as the shards name arrays
        do {
            try await withThrowingTaskGroup(of: [(String, AnyTensor)].self) { group in
                for shard in index.shardNames {
                    group.addTask {
                        let file = try await RangedBrineFile.open(base.appendingPathComponent(shard), remote: remote, options: options)
                        try index.checkShard(shard, headerChecksum: file.headerChecksum, path: url.absoluteString)
                        let (wanted, infos) = try index.placedArrays(in: shard, arrays: file.arrays, info: file.info, path: url.absoluteString)
                        return Array(zip(wanted, try await file.load(infos)))
                    }
                }
                for try await part in group { for (p, t) in part { byPath[ExactName(p)] = t } }
            }
        } catch let e as BrineError {
            throw e
        } catch {
            throw BrineError(.io, "\(error)", filePath: url.absoluteString)
        }
        return (index, map.map { byPath[ExactName($0.path)]! })
    }

    /// Saves weights as a sharded model under an `s3://bucket/prefix/`
    /// folder URL (or a local folder): shards of at most `maxShardBytes`,
    /// each uploaded with multipart upload, then the index
    /// `model.brine.index.json` last, so the index never names a missing shard.
    /// - Returns: the index.
    /// - Throws: as ``Brine/saveWeights(_:toShards:maxShardBytes:options:)`` and ``S3Client/upload(file:to:progress:)``.
    @discardableResult
    public static func saveWeights(
        _ weights: Weights, toShards folder: URL, maxShardBytes: Int, remote: RemoteOptions = .init(), options: SaveOptions = .init()
    ) async throws(BrineError) -> ShardIndex {
        if folder.isFileURL { return try saveShardsLocally(weights, folder, maxShardBytes, options) }
        guard folder.scheme?.lowercased() == "s3" else {
            throw BrineError(.invalidArgument, "saving needs an s3:// URL (plain HTTP servers take no uploads)", filePath: folder.absoluteString)
        }
        var o = options
        o.durable = false
        do {
            return try await uploadShards(to: folder, remote: remote) { dir in try saveShardsLocally(weights, dir, maxShardBytes, o) }
        } catch let e as BrineError {
            throw e
        } catch {
            throw BrineError(.io, "\(error)", filePath: folder.absoluteString)
        }
    }

    /// Saves a `Codable` model as a sharded model (see
    /// ``Brine/save(_:toShards:maxShardBytes:options:)``: shards plus an index
    /// carrying the object tree) under an `s3://bucket/prefix/` folder URL
    /// (or a local folder). The shards are written to a private temporary
    /// folder, each uploaded with multipart upload, the index last.
    /// ``load(_:from:remote:options:)`` with the index's URL loads it back.
    /// - Returns: the index.
    /// - Throws: as ``saveWeights(_:toShards:maxShardBytes:remote:options:)``;
    ///   `EncodingError` from the model's encoding.
    @discardableResult
    public static func save(
        _ model: some Encodable, toShards folder: URL, maxShardBytes: Int, remote: RemoteOptions = .init(), options: SaveOptions = .init()
    ) async throws -> ShardIndex {
        if folder.isFileURL { return try saveModelShardsLocally(model, folder, maxShardBytes, options) }
        var o = options
        o.durable = false
        return try await uploadShards(to: folder, remote: remote) { dir in try saveModelShardsLocally(model, dir, maxShardBytes, o) }
    }

    /// Writes shards and index into a private temporary folder with
    /// `write`, then uploads the shards and, last, the index.
    static func uploadShards(to folder: URL, remote: RemoteOptions, _ write: (URL) throws -> ShardIndex) async throws -> ShardIndex {
        guard folder.scheme?.lowercased() == "s3" else {
            throw BrineError(.invalidArgument, "saving needs an s3:// URL (plain HTTP servers take no uploads)", filePath: folder.absoluteString)
        }
        let temp = try TemporaryFolder(prefix: "brine-shards")
        defer { temp.remove() }
        let dir = temp.url
        let index = try write(dir)
        let client = S3Client(options: remote)
        for name in index.shardNames + [ShardIndex.fileName] {
            try await client.upload(file: dir.appendingPathComponent(name).path, to: folder.appendingPathComponent(name))
        }
        return index
    }
}

extension Brine {
    /// The local forms, named apart so that async callers never reach the remote overloads.
    static func loadShardsLocally(_ url: URL, options: ReadOptions) throws(BrineError) -> Weights {
        try loadWeights(fromShardIndex: url, options: options)
    }

    static func saveShardsLocally(_ weights: Weights, _ folder: URL, _ maxShardBytes: Int, _ options: SaveOptions) throws(BrineError) -> ShardIndex {
        try saveWeights(weights, toShards: folder, maxShardBytes: maxShardBytes, options: options)
    }

    static func saveModelShardsLocally(_ model: some Encodable, _ folder: URL, _ maxShardBytes: Int, _ options: SaveOptions) throws -> ShardIndex {
        try save(model, toShards: folder, maxShardBytes: maxShardBytes, options: options)
    }
}
