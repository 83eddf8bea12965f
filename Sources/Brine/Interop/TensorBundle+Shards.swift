import Foundation

// A sharded Brine model (`model.brine.index.json` beside its shards) as a
// TensorBundle, carried the way a single Brine file's bundle is: the arrays
// in the weight map's order, then the arrays the index's object tree holds
// inline, and the tree itself, so that converting the model to one Brine or
// safetensors file keeps its structure and non-array values (docs/WORKFLOWS.md,
// "Converting without loss").

extension TensorBundle {
    /// Reads a sharded Brine model: every array the index's weight map lists
    /// (in its order, from the shards beside `indexURL`, each shard checked
    /// against the index), then the arrays its object tree holds inline
    /// (small arrays of a model saved with
    /// ``Brine/save(_:toShards:maxShardBytes:options:)``), named by their
    /// paths as for a single file; the user metadata of the shards' headers
    /// (typed values in ``MetadataText`` form; not the index's own keys
    /// `format`, `shard_count`, `total_size`); and the index's tree, which
    /// Brine output writes as the file's root and safetensors output carries
    /// in its `brine.tree*` keys, as for a bundle read from one Brine file.
    /// An index without a tree (weights saved with
    /// ``Brine/saveWeights(_:toShards:maxShardBytes:options:)``) gives the
    /// arrays and metadata only.
    /// - Parameters:
    ///   - indexURL: `model.brine.index.json`; the shards are in its folder.
    ///   - options: verification, threads and limits for reading the shards.
    /// - Throws: ``BrineError`` `.corruptHeader` (a bad index; an array the
    ///   index lists is missing from its shard), `.checksumMismatch` (a shard
    ///   that is not the one the index was written with), `.invalidArgument`
    ///   (an inline array whose path is also an out-of-line array's),
    ///   `.unsupportedFeature` (two canonically equivalent metadata keys), and the
    ///   codes of ``ShardIndex/init(contentsOf:)`` and ``BrineFile``
    ///   (`.notFound`, `.io`, `.limitExceeded`, …).
    public init(contentsOfShardIndex indexURL: URL, options: ReadOptions = .init()) throws(BrineError) {
        let index = try ShardIndex(contentsOf: indexURL)
        let arrays = try Brine.loadShardArrays(index, indexURL: indexURL, options: options)
        var tensors: [(name: String, tensor: AnyTensor)] = zip(index.weightMap, arrays).map { ($0.0.path, $0.1) }
        // The user's metadata, typed, as every shard's header holds it.
        var metadata: [String: String] = [:]
        if let first = index.shardNames.first {
            var quick = options
            quick.verifyChecksums = false  // its chunks were verified above; only the header is read
            let shard = try BrineFile(contentsOf: indexURL.deletingLastPathComponent().appendingPathComponent(first), mode: .mmap, options: quick)
            metadata = try TensorBundle.userMetadataText(shard.metadata, path: shard.path)
        }
        guard let root = index.tree else {
            self.init(tensors: tensors, metadata: metadata)
            return
        }
        var names = Set(tensors.map { ExactName($0.name) })  // by code points: two spellings are two paths
        let inline = try InlineArrayExport.collect(root)
        for (path, t) in inline {
            guard names.insert(ExactName(path)).inserted else {
                throw BrineError(.invalidArgument, "an inline array and an out-of-line array have the same path; cannot export both", filePath: indexURL.path, arrayPath: path)
            }
            tensors.append((path, t))
        }
        self.init(tensors: tensors, metadata: metadata)
        // Shards record no root type (each header says Brine.Weights), and
        // tied weights are references to one entry in the tree (no alias list).
        brineTree = BrineTree(root: root, outOfLine: index.weightMap.map(\.path), inline: inline, rootType: nil)
    }
}
