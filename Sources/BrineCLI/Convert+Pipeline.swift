import ArgumentParser
import Brine
import Foundation

/// Where `brine convert` writes, resolved from the output argument and
/// `--to` before the input is read.
struct ConvertDestination {
    /// What is written.
    enum Kind: Equatable {
        /// One file of this format.
        case file(TensorFileFormat)
        /// A sharded Brine model: `model.brine.index.json` and its shards in the index's folder.
        case brineShards
    }

    /// What is written.
    var kind: Kind

    /// The file (or shard index) written on this machine; for an `s3://`
    /// output, the temporary file that is uploaded afterwards.
    var url: URL

    /// The container format of the written arrays: Brine for shards.
    var format: TensorFileFormat {
        if case .file(let format) = kind { return format }
        return .brine
    }

    /// How messages name this output (`.safetensors`, `sharded Brine (….brine.index.json)`).
    var label: String { kind == .brineShards ? "sharded Brine (….brine.index.json)" : ".\(format)" }
}

extension Convert {
    /// The one conversion every path of `brine convert` runs (local files,
    /// shard indexes, remote objects), so that all of them honour or refuse
    /// every option the same way: options the destination cannot honour are
    /// refused before the input is read; then the input is read, `--array`
    /// selects, content the destination cannot hold is refused (unless
    /// `--drop-metadata`), and only then is anything written.
    /// - Parameters:
    ///   - destination: what to write, and where on this machine.
    ///   - readInput: reads the whole input (for a remote input: downloads it first).
    /// - Throws: ``ValidationError`` or ``ExitCode`` 64 (usage: an option or
    ///   content the destination cannot honour, a missing `--array` name, a
    ///   bfloat16 array for NumPy without `--cast`), after printing why;
    ///   ``ExitCode`` 1 or 2 for a ``BrineError`` of the input or the write.
    func convert(to destination: ConvertDestination, readInput: () throws(BrineError) -> TensorBundle) throws {
        let format = destination.format
        do {
            if destination.kind == .file(.onnx) && into == nil {
                throw ValidationError("writing .onnx needs --into MODEL.onnx: the model whose initializers are replaced")
            }
            try refuseOptionsThatDoNotApply(to: destination)
            let read: TensorBundle
            do {
                read = try readInput()
            } catch {
                // A dtype the input reader refuses (a complex array in a pickle) is not a --cast matter.
                throw Exit.report(error)
            }
            let bundle = try selected(read, format: format)
            try refuseContentTheOutputCannotHold(bundle, destination: destination)
            switch destination.kind {
            case .file(let format): try write(bundle, to: destination.url, format: format)
            case .brineShards: try writeShards(bundle, index: destination.url)
            }
        } catch let error as BrineError where error.code == .unsupportedDType && cast == nil && (format == .npy || format == .npz)
                    && error.message.hasPrefix("NumPy has no bfloat16") {
            // The input is fine; the command needs an option (usage error).
            printError("brine: error: \(error.arrayPath.map { "array '\($0)': " } ?? "")NumPy has no bfloat16; add --cast bfloat16-to-float32 (widen) or --cast bfloat16-bits-as-uint16 (keep the bits)")
            throw Exit.usage
        } catch let error as BrineError {
            throw Exit.report(error)
        }
    }

    /// Refuses a (selected) bundle with content the destination cannot hold
    /// unless `--drop-metadata`: metadata and a model's object tree for
    /// .npy/.npz, the tree and reserved `gguf.` keys for .gguf, the tree for
    /// sharded Brine. (.onnx and .h5 check theirs as they write.)
    /// - Throws: ``ExitCode`` 64 (usage), after printing what would be lost.
    func refuseContentTheOutputCannotHold(_ bundle: TensorBundle, destination: ConvertDestination) throws {
        guard !dropMetadata else { return }
        switch destination.kind {
        case .file(let format) where format == .npy || format == .npz:
            let (keys, tree) = bundle.contentNumPyCannotHold()
            if !keys.isEmpty || tree {
                let what = TensorBundle.describeUnkept(keys: keys, label: "metadata", tree: tree)
                printError("brine: error: .\(format) files hold arrays only; the input also has \(what). Pass --drop-metadata to leave them out, or convert to .safetensors or .brine, which keep them.")
                throw Exit.usage
            }
        case .file(.gguf):
            // GGUF keeps tensors and key/value metadata, not a model's tree;
            // keys under 'gguf.' are the layout's own (README, formats table).
            let (keys, tree) = GGUF.contentGGUFCannotHold(bundle)
            if !keys.isEmpty || tree {
                let what = TensorBundle.describeUnkept(keys: keys, label: "metadata under the reserved prefix 'gguf.'", tree: tree)
                printError("brine: error: .gguf files hold tensors and key/value metadata only; the input also has \(what), which would be lost. Pass --drop-metadata to leave them out, or convert to .safetensors or .brine, which keep them.")
                throw Exit.usage
            }
        case .brineShards:
            // A shard index keeps arrays and metadata, not a model's object
            // tree: never dropped quietly (as for .npz, --drop-metadata opts in).
            if bundle.contentNumPyCannotHold().objectTree {
                printError("brine: error: a sharded Brine output keeps arrays and metadata; the input also has the model's object tree (structure, hyper-parameters), which it would lose. Convert to a single .brine, which keeps it, or pass --drop-metadata to leave it out.")
                throw Exit.usage
            }
        default:
            break
        }
    }
}
