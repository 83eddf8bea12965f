import Foundation

extension ShardIndex {
    /// `true` when `url` names a shard index: its file name ends with
    /// `.index.json` (``fileName`` does). ``Brine/load(_:from:mode:options:)``
    /// loads such a URL as a sharded model.
    public static func isIndex(_ url: URL) -> Bool {
        url.lastPathComponent.hasSuffix(".index.json")
    }

    /// The model's object tree, for decoding a `Codable` model.
    /// - Parameter path: the index's path or URL, for the error.
    /// - Throws: ``BrineError`` `.unsupportedFeature` when the index carries
    ///   no tree (written by ``Brine/saveWeights(_:toShards:maxShardBytes:options:)``
    ///   or by a writer that predates the `tree` key): such an index loads
    ///   with ``Brine/loadWeights(fromShardIndex:options:)``.
    public func requireTree(path: String?) throws(BrineError) -> Value {
        guard let tree else {
            throw BrineError(.unsupportedFeature, "the shard index holds weights only (no object tree); load it with Brine.loadWeights(fromShardIndex:)", filePath: path)
        }
        return tree
    }
}

extension Brine {
    /// Saves a `Codable` model as a sharded model: its arrays in shards
    /// `model-0000i-of-0000n.brine` of at most `maxShardBytes` each, and the
    /// index `model.brine.index.json` carrying the weight map and the
    /// model's object tree (docs/FORMAT.md, "Shard index"), all in `folder`,
    /// which must exist. The index is written last.
    /// ``load(_:fromShardIndex:options:)`` (or ``load(_:from:mode:options:)``
    /// with the index's URL) loads it back.
    /// - Parameters:
    ///   - model: the model.
    ///   - folder: the destination folder.
    ///   - maxShardBytes: the largest shard, in bytes (at least 1 MiB).
    ///   - options: codec, filter, chunk size, inline threshold, metadata.
    /// - Returns: the index written.
    /// - Throws: ``BrineError`` `.invalidArgument` (bad options, a shard size
    ///   under 1 MiB, an array in a container without stable names), the
    ///   errors of ``saveWeights(_:toShards:maxShardBytes:options:)``;
    ///   `EncodingError` from the model's encoding.
    @discardableResult
    public static func save(_ model: some Encodable, toShards folder: URL, maxShardBytes: Int, options: SaveOptions = .init()) throws -> ShardIndex {
        try options.validate()
        let (weights, tree) = try shardableParts(of: model, options: options)
        return try saveShards(weights, to: folder, maxShardBytes: maxShardBytes, options: options, tree: tree)
    }

    /// The arrays a model's encoding puts out of line (in order, one entry
    /// per array: tied weights once) and the object tree that refers to them.
    public static func shardableParts(of model: some Encodable, options: SaveOptions = .init()) throws -> (weights: Weights, tree: Value) {
        let sink = CollectingSink()
        let root = try BrineEncoder().encode(model, sink: sink, threshold: options.inlineThreshold, requireStableNames: true)
        var entries: [(path: String, tensor: AnyTensor)] = []
        for e in sink.entries {
            switch e.slot {
            case .tensor(let t): entries.append((e.path, t))
            case .original(_, let make): entries.append((e.path, make()))
            }
        }
        return (try Weights(entries), root)
    }

    /// Loads a `Codable` model saved with
    /// ``save(_:toShards:maxShardBytes:options:)``: reads the index, every
    /// shard's arrays (verified), then decodes the tree.
    /// - Parameters:
    ///   - type: the model type.
    ///   - indexURL: `model.brine.index.json`; shards are in the same folder.
    ///   - options: verification, threads, limits.
    /// - Throws: ``BrineError`` `.unsupportedFeature` (an index without a
    ///   tree), `.corruptHeader` (bad index), the codes of
    ///   ``loadWeights(fromShardIndex:options:)``; `DecodingError` when the
    ///   tree does not fit `type`.
    public static func load<T: Decodable>(_ type: T.Type, fromShardIndex indexURL: URL, options: ReadOptions = .init()) throws -> T {
        let index = try readShardIndex(indexURL)
        let tree = try index.requireTree(path: indexURL.path)
        let arrays = try loadShardArrays(index, indexURL: indexURL, options: options)
        return try BrineDecoder().decode(type, from: tree, arrays: arrays)
    }
}
