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
    public static func load<T: Decodable>(
        _ type: T.Type, from url: URL, remote: RemoteOptions = .init(), options: ReadOptions = .init()
    ) async throws -> T {
        if url.isFileURL { return try load(type, from: url, mode: .copy, options: options) }
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

    /// Saves a model to `s3://bucket/key` through S3 multipart upload (a
    /// `file://` URL saves locally). The file is written once to a private
    /// temporary file, then streamed in parts of ``RemoteOptions/partBytes``
    /// with ``RemoteOptions/concurrentUploads`` in flight; the object appears
    /// only when complete, and a failed or cancelled save aborts the upload
    /// (no parts remain) and leaves any previous object as it was.
    /// - Parameters:
    ///   - model: the model.
    ///   - url: `s3://bucket/key` (or a file URL).
    ///   - remote: endpoint, credentials, part size, concurrency.
    ///   - options: codec, filter, chunk size, metadata… as for a local save.
    /// - Throws: ``BrineError`` `.invalidArgument` (an http(s) URL: HTTP
    ///   servers take no uploads), `.permissionDenied`, `.notFound` (no
    ///   bucket), `.io`, `.timedOut`; the local save's errors.
    public static func save(_ model: some Encodable, to url: URL, remote: RemoteOptions = .init(), options: SaveOptions = .init()) async throws {
        if url.isFileURL { return try saveLocally(model, to: url, options: options) }
        guard url.scheme?.lowercased() == "s3" else {
            throw BrineError(.invalidArgument, "saving needs an s3:// URL (plain HTTP servers take no uploads)", filePath: url.absoluteString)
        }
        try await upload(url, remote: remote) { temp in
            var o = options
            o.durable = false
            try saveLocally(model, to: temp, options: o)
        }
    }

    /// The local save, named apart so that async callers never reach the remote overload.
    static func saveLocally(_ model: some Encodable, to url: URL, options: SaveOptions) throws {
        try save(model, to: url, options: options)
    }

    /// Writes to a private temporary file with `write`, then uploads it to
    /// `url` (multipart) and removes it.
    static func upload(_ url: URL, remote: RemoteOptions, write: (URL) throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("brine-upload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: dir) }
        let temp = dir.appendingPathComponent("model.brine")
        try write(temp)
        try await S3Client(options: remote).upload(file: temp.path, to: url)
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
        let source = try await RemoteObjectSource.open(url, options: remote)
        guard source.size <= ShardIndex.maxIndexBytes else {
            throw BrineError(.limitExceeded, "shard index of \(source.size) bytes is over the cap of \(ShardIndex.maxIndexBytes)", filePath: url.absoluteString)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(1, source.size), alignment: 16)
        defer { buffer.deallocate() }
        try await source.read(0 ..< source.size, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< source.size]))
        let index = try ShardIndex(parsing: [UInt8](UnsafeRawBufferPointer(rebasing: buffer[0 ..< source.size])), path: url.absoluteString)
        let base = url.deletingLastPathComponent()
        let map = index.weightMap
        var byPath: [String: AnyTensor] = [:]
        do {
            try await withThrowingTaskGroup(of: [(String, AnyTensor)].self) { group in
                for shard in index.shardNames {
                    group.addTask {
                        let file = try await RangedBrineFile.open(base.appendingPathComponent(shard), remote: remote, options: options)
                        let wanted = map.filter { $0.shard == shard }.map(\.path)
                        var infos: [ArrayInfo] = []
                        for p in wanted {
                            guard let info = file.info(p) else {
                                throw BrineError(.corruptHeader, "the shard index lists '\(p)' in \(shard), which has no such array", filePath: url.absoluteString, arrayPath: p)
                            }
                            infos.append(info)
                        }
                        return Array(zip(wanted, try await file.load(infos)))
                    }
                }
                for try await part in group { for (p, t) in part { byPath[p] = t } }
            }
        } catch let e as BrineError {
            throw e
        } catch {
            throw BrineError(.io, "\(error)", filePath: url.absoluteString)
        }
        return try Weights(map.map { (path: $0.path, tensor: byPath[$0.path]!) })
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
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("brine-shards-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false)
        } catch {
            throw BrineError(.io, "cannot create a temporary folder: \(error)", filePath: dir.path)
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        var o = options
        o.durable = false
        let index = try saveShardsLocally(weights, dir, maxShardBytes, o)
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
}
