import ArgumentParser
import Brine
import Foundation

extension Convert {
    /// `true` when the input or output is a shard index (`….index.json`).
    var isSharded: Bool { input.hasSuffix(".index.json") || output.hasSuffix(".index.json") }

    /// Sharded conversion: the input may be a Hugging Face sharded
    /// safetensors checkpoint (`model.safetensors.index.json` beside its
    /// shards) or a sharded Brine model (`model.brine.index.json`); the output
    /// a single file, or sharded Brine (`….brine.index.json`, shards of at
    /// most `--shard-size` bytes in the output's folder).
    func runSharded() throws {
        do {
            let bundle: TensorBundle
            if input.hasSuffix(".index.json") {
                bundle = try readSharded(URL(fileURLWithPath: input))
            } else {
                let inURL = URL(fileURLWithPath: input)
                bundle = try read(inURL, format: try from ?? TensorFileFormat.detect(contentsOf: inURL))
            }
            if output.hasSuffix(".index.json") {
                guard output.hasSuffix(ShardIndex.fileName) else {
                    throw ValidationError("a sharded Brine output is named \(ShardIndex.fileName)")
                }
                // A shard index keeps arrays and metadata, not a model's object
                // tree: never dropped quietly (as for .npz, --drop-metadata opts in).
                if bundle.contentNumPyCannotHold().objectTree, !dropMetadata {
                    printError("brine: error: a sharded Brine output keeps arrays and metadata; the input also has the model's object tree (structure, hyper-parameters), which it would lose. Convert to a single .brine, which keeps it, or pass --drop-metadata to leave it out.")
                    throw Exit.usage
                }
                let w = brine.writeOptions(threads: threading.threads)
                var options = SaveOptions()
                options.codec = w.codec
                options.filter = w.filter
                options.alignment = w.alignment
                options.chunkBytes = w.chunkBytes
                options.storageDType = w.storageDType
                // Typed values come back from their text form (MetadataText): an
                // integer stays an integer in every shard's header.
                for (k, v) in bundle.metadata where !k.hasPrefix("brine.") { options.metadata[k] = try MetadataText.value(from: v, key: k) }
                let folder = URL(fileURLWithPath: output).deletingLastPathComponent()
                try Brine.saveWeights(try Weights(bundle.tensors.map { (path: $0.name, tensor: $0.tensor) }),
                                      toShards: folder, maxShardBytes: shardSize ?? (2 << 30), options: options)
            } else {
                let outURL = URL(fileURLWithPath: output)
                guard let outFormat = to ?? TensorFileFormat(fileExtension: outURL.pathExtension) else {
                    throw ValidationError("cannot tell the output format from '\(output)'; use --to")
                }
                try write(bundle, to: outURL, format: outFormat)
            }
        } catch let error as BrineError {
            throw Exit.report(error)
        }
    }

    /// Reads every tensor of a sharded checkpoint, in the index's order; a
    /// sharded Brine model with its object tree and inline arrays, as a
    /// single Brine file's bundle carries them (so Brine and safetensors
    /// outputs keep the model, and outputs that cannot hold the tree refuse
    /// it unless --drop-metadata).
    func readSharded(_ indexURL: URL) throws(BrineError) -> TensorBundle {
        if indexURL.lastPathComponent.hasSuffix(".brine.index.json") {
            var options = threading.readOptions
            options.verifyChecksums = !noVerify
            return try TensorBundle(contentsOfShardIndex: indexURL, options: options)
        }
        let index = try ShardIndex(contentsOf: indexURL)
        var byName: [String: AnyTensor] = [:]
        var metadata = index.metadata.filter { $0.key != "total_size" }
        for shard in index.shardNames {
            let url = indexURL.deletingLastPathComponent().appendingPathComponent(shard)
            let part = try read(url, format: .safetensors)
            for (k, v) in part.metadata { metadata[k] = v }
            // Only the tensors the index places in this shard: a name another
            // shard holds too must not replace the one the index names.
            let placed = Set(index.weightMap.lazy.filter { $0.shard == shard }.map(\.path))
            for (name, tensor) in part.tensors where placed.contains(name) { byName[name] = tensor }
        }
        var tensors: [(name: String, tensor: AnyTensor)] = []
        for (name, shard) in index.weightMap {
            guard let t = byName[name] else {
                throw BrineError(.invalidInterop, "the index lists '\(name)' in \(shard), which has no such tensor", filePath: indexURL.path, arrayPath: name)
            }
            tensors.append((name, t))
        }
        return TensorBundle(tensors: tensors, metadata: metadata)
    }
}
