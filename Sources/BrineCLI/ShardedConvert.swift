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
    /// most `--shard-size` bytes in the output's folder). Runs the same
    /// pipeline as a single file (``convert(to:readInput:)``): `--array`,
    /// options that do not apply and content the output cannot hold are
    /// handled as for one file.
    /// - Throws: ``ValidationError`` or ``ExitCode`` 64 for a usage error
    ///   (also: an index over the network, `--from`/`--to` naming another
    ///   format than the index's), 1 or 2 for a ``BrineError``.
    func runSharded() throws {
        if remoteURL(input) != nil || remoteURL(output) != nil {
            // Not taken for a local path: a URL's text as a path read nothing, or wrote a folder named "s3:".
            printError("brine: error: brine convert reads and writes sharded models (….index.json) as local files only; download the index and its shards first, or upload the output folder afterwards")
            throw Exit.usage
        }
        let destination: ConvertDestination
        if output.hasSuffix(".index.json") {
            guard output.hasSuffix(ShardIndex.fileName) else {
                throw ValidationError("a sharded Brine output is named \(ShardIndex.fileName)")
            }
            if let to, to != .brine {
                throw ValidationError("--to \(to) does not apply to \(output): a ….brine.index.json output is sharded Brine")
            }
            destination = ConvertDestination(kind: .brineShards, url: URL(fileURLWithPath: output))
        } else {
            let outURL = URL(fileURLWithPath: output)
            guard let outFormat = to ?? TensorFileFormat(fileExtension: outURL.pathExtension) else {
                throw ValidationError("cannot tell the output format from '\(output)'; use --to")
            }
            destination = ConvertDestination(kind: .file(outFormat), url: outURL)
        }
        let inURL = URL(fileURLWithPath: input)
        if input.hasSuffix(".index.json") {
            let shards: TensorFileFormat = inURL.lastPathComponent.hasSuffix(".brine.index.json") ? .brine : .safetensors
            if let from, from != shards {
                throw ValidationError("--from \(from) does not apply to \(input): its shards are \(shards) files")
            }
            try convert(to: destination) { () throws(BrineError) in try readSharded(inURL) }
        } else {
            try convert(to: destination) { () throws(BrineError) in
                let format: TensorFileFormat
                if let from { format = from } else { format = try TensorFileFormat.detect(contentsOf: inURL) }
                return try read(inURL, format: format)
            }
        }
    }

    /// Writes a sharded Brine model (`model.brine.index.json` and its shards,
    /// at most `--shard-size` bytes each, in the index's folder) with every
    /// Brine output option, as a single .brine output would get them; typed
    /// metadata values come back from their text form, so an integer stays
    /// an integer in every shard's header.
    /// - Throws: ``BrineError`` `.invalidArgument` for a metadata key under
    ///   the reserved prefix `brine.` (as a single .brine output), and the
    ///   errors of the save (nothing of the previous model is lost).
    func writeShards(_ bundle: TensorBundle, index: URL) throws {
        var options = SaveOptions()
        options.writeOptions = brine.writeOptions(threads: threading.threads)
        options.writeOptions.durable = !noSync
        // As a single .brine output: a foreign key under Brine's reserved
        // prefix is refused (it was left out without a word).
        if let k = bundle.metadata.keys.sorted().first(where: { $0.hasPrefix("brine.") }) {
            throw BrineError(.invalidArgument, "metadata key '\(k)' uses the prefix 'brine.', which Brine reserves for its own keys; rename it to keep it", filePath: index.path)
        }
        for (k, v) in bundle.metadata { options.metadata[k] = try MetadataText.value(from: v, key: k) }
        try Brine.saveWeights(try Weights(bundle.tensors.map { (path: $0.name, tensor: $0.tensor) }),
                              toShards: index.deletingLastPathComponent(), maxShardBytes: shardSize ?? (2 << 30), options: options)
    }

    /// Reads every tensor of a sharded checkpoint, in the index's order; a
    /// sharded Brine model with its object tree and inline arrays, as a
    /// single Brine file's bundle carries them (so Brine and safetensors
    /// outputs keep the model, and outputs that cannot hold the tree refuse
    /// it unless --drop-metadata). A Hugging Face index's tensors are matched
    /// by code points; its shards' `__metadata__` maps are merged into one.
    /// - Throws: ``BrineError`` `.unsupportedFeature` when two shards (or a
    ///   shard and the index) give one metadata key different values or two
    ///   spellings; `.invalidInterop` when a listed tensor is missing; the
    ///   errors of the shard and index readers.
    func readSharded(_ indexURL: URL) throws(BrineError) -> TensorBundle {
        if indexURL.lastPathComponent.hasSuffix(".brine.index.json") {
            var options = threading.readOptions
            options.verifyChecksums = !noVerify
            return try TensorBundle(contentsOfShardIndex: indexURL, options: options)
        }
        let index = try ShardIndex(contentsOf: indexURL)
        // By code points: "\u{E9}" and "e\u{301}" are two tensors.
        var byName: [ExactName: AnyTensor] = [:]
        var metadata = index.metadata.filter { $0.key != "total_size" }
        for shard in index.shardNames {
            let url = indexURL.deletingLastPathComponent().appendingPathComponent(shard)
            let part = try read(url, format: .safetensors)
            for (k, v) in part.metadata {
                // One metadata map for the model: shards (and the index) that
                // disagree on a key, or spell it two ways, would lose a value.
                try metadata.refuseOtherSpelling(of: k, names: "metadata keys (the second in \(shard))", holder: "one metadata map") {
                    BrineError(.unsupportedFeature, $0, filePath: indexURL.path)
                }
                if let old = metadata[k], !old.isSameName(as: v) {  // by code points
                    throw BrineError(.unsupportedFeature, "metadata key \(Value.quoted(k)) is \(Value.quoted(v)) in \(shard) but \(Value.quoted(old)) in an earlier shard or the index; one metadata map cannot keep both values", filePath: indexURL.path)
                }
                metadata[k] = v
            }
            // The index and the shard agree both ways: a tensor the index
            // does not place here (unlisted, or listed in another shard)
            // would be left out, or replace the one the index names.
            let placed = Set(index.weightMap.lazy.filter { $0.shard.isSameName(as: shard) }.map { ExactName($0.path) })
            for (name, tensor) in part.tensors {
                guard placed.contains(ExactName(name)) else {
                    throw BrineError(.invalidInterop, "\(shard) holds the tensor '\(name)', which the index does not place in it: converting by the index would leave it out", filePath: indexURL.path, arrayPath: name)
                }
                byName[ExactName(name)] = tensor
            }
        }
        var tensors: [(name: String, tensor: AnyTensor)] = []
        for (name, shard) in index.weightMap {
            guard let t = byName[ExactName(name)] else {
                throw BrineError(.invalidInterop, "the index lists '\(name)' in \(shard), which has no such tensor", filePath: indexURL.path, arrayPath: name)
            }
            tensors.append((name, t))
        }
        return TensorBundle(tensors: tensors, metadata: metadata)
    }
}
