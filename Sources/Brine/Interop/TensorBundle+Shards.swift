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
        // Tied weights are references to one weight-map entry from several
        // places of the tree (shards keep no alias list): each other place
        // is exported under its own path, as a single file's aliases are.
        let aliases = try Self.sharedArrayAliases(root, names: index.weightMap.map(\.path), path: indexURL.path)
        for (path, i) in aliases {
            guard names.insert(ExactName(path)).inserted else {
                throw BrineError(.invalidArgument, "an alias path of a shared array is also the path of another array; cannot export both", filePath: indexURL.path, arrayPath: path)
            }
            tensors.append((path, arrays[i]))
        }
        self.init(tensors: tensors, metadata: metadata)
        // Shards record no root type (each header says Brine.Weights).
        brineTree = BrineTree(root: root, outOfLine: index.weightMap.map(\.path), inline: inline, rootType: nil, aliases: aliases)
    }

    /// The alias paths of arrays the tree refers to from more than one place
    /// (tied weights): every reference but the one at the array's own path
    /// (`names[i]`, its coding path's keys joined by `.`), named the same way.
    /// - Throws: ``BrineError`` `.unsupportedFeature` when no reference of a
    ///   shared array is at its own path (keys holding `.`, which the naming
    ///   rule escapes), so the aliases' names cannot be told exactly.
    static func sharedArrayAliases(_ root: Value, names: [String], path: String) throws(BrineError) -> [(path: String, index: Int)] {
        var places: [Int: [String]] = [:]
        var order: [Int] = []
        var stack: [(value: Value, path: [String])] = [(root, [])]
        while let (value, p) = stack.popLast() {
            switch value {
            case .arrayRef(let i):
                if places[i] == nil { order.append(i) }
                places[i, default: []].append(p.isEmpty ? "root" : p.joined(separator: "."))
            case .list(let items):
                for (k, v) in items.enumerated().reversed() { stack.append((v, p + [String(k)])) }
            case .map(let entries):
                for (k, v) in entries.reversed() { stack.append((v, p + [k])) }
            default:
                break
            }
        }
        var out: [(path: String, index: Int)] = []
        for i in order {
            guard let list = places[i], list.count > 1, i < names.count else { continue }
            guard list.contains(where: { $0.isSameName(as: names[i]) }) else {
                throw BrineError(.unsupportedFeature, "the array '\(names[i])' is shared by several places of the model's tree, none at its own path; their names cannot be told exactly, so they cannot be exported", filePath: path, arrayPath: names[i])
            }
            var ownSeen = false
            for a in list {
                if !ownSeen && a.isSameName(as: names[i]) { ownSeen = true; continue }
                out.append((a, i))
            }
        }
        return out
    }
}
