import ArgumentParser
import Brine
import Foundation

extension TensorFileFormat: ExpressibleByArgument {}

/// The codec names the CLI accepts.
enum CodecName: String, ExpressibleByArgument, CaseIterable {
    case none, lz4, zstd
}

/// What to do with bfloat16 arrays when the target (.npy/.npz) cannot hold them.
enum CastName: String, ExpressibleByArgument, CaseIterable {
    /// Widen to float32 (exact).
    case bfloat16ToFloat32 = "bfloat16-to-float32"
    /// Keep the 16-bit patterns as uint16.
    case bfloat16BitsAsUInt16 = "bfloat16-bits-as-uint16"
}

/// `brine convert IN OUT`: between Brine, safetensors, NumPy .npy (one
/// array) and .npz, preserving names, dtypes, shapes and bytes.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert between Brine, safetensors, .npy, .npz, GGUF, ONNX, HDF5/Keras and pickle/joblib (read), preserving names, dtypes, shapes and bytes.",
        discussion: """
            Formats are detected from the input's content and the output's extension \
            (.brine, .safetensors, .npy, .npz, .gguf, .onnx with --into, .h5), or given with \
            --from/--to. Metadata (safetensors __metadata__, Brine user metadata) is carried over, \
            non-string Brine values in an exact data: URL text form, and a Brine model's object \
            tree rides in safetensors metadata; a conversion that would leave metadata or a tree out \
            (.npy and .npz hold arrays only, .h5 only attributes of its objects, .onnx the --into model's own, \
            .gguf no tree and no keys under 'gguf.' but its own) \
            is refused unless --drop-metadata says so. Every array of a Brine model is converted, inline ones included, \
            and Brine → Brine keeps the model's tree (a sharded model's, from its index, too). Brine input is verified (every chunk \
            checksum) before anything is written; --no-verify skips that. NumPy has no bfloat16: \
            converting such arrays to .npy/.npz needs --cast. A .npy file holds one array: pick \
            it with --array NAME. Sharded (….index.json) and remote (s3://, http(s)://) conversions \
            take the same options and refuse the same ones; a shard index must be a local file.
            """)

    @Argument(help: "The input file, or an s3:// or http(s):// URL.")
    var input: String

    @Argument(help: "The output file (replaced atomically), or an s3:// URL.")
    var output: String

    @Option(help: "Input format (default: detected).")
    var from: TensorFileFormat?

    @Option(help: "Output format (default: from the output's extension).")
    var to: TensorFileFormat?

    @OptionGroup(title: "Brine output")
    var brine: BrineWriteOptionGroup

    @OptionGroup
    var threading: ThreadsOptionGroup

    @Option(name: .customLong("array"),
            help: ArgumentHelp("Convert only this array (repeat for several); needed for .npy output when the input holds several. The output is a flat map of the picked arrays: an input with a model's object tree (structure, hyper-parameters) needs --drop-metadata.",
                               valueName: "name"))
    var arrays: [String] = []

    @Option(help: "NumPy output: how to write bfloat16 arrays (bfloat16-to-float32, bfloat16-bits-as-uint16).")
    var cast: CastName?

    @Flag(name: .customLong("drop-metadata"), help: """
        .npy/.npz, .h5, .onnx and .gguf output: leave out the metadata and a model's \
        object tree (structure, hyper-parameters) that the output cannot hold \
        (NumPy files hold arrays only; HDF5 keeps only '<object>@<attribute>' \
        keys of written objects; .onnx keeps the --into model's own metadata; \
        GGUF keeps no tree and no 'gguf.*' keys but its own); and with --array, \
        the model's object tree, which a selection of arrays cannot keep. \
        Without it such a conversion is refused.
        """)
    var dropMetadata = false

    @Flag(help: ".npz output: deflate the members (as np.savez_compressed).")
    var deflate = false

    @Option(help: "Sharded Brine output (model.brine.index.json): the largest shard in bytes (default 2 GiB).")
    var shardSize: Int?

    @Flag(name: .customLong("no-verify"), help: """
        Brine input: skip the chunk checksums (default: every chunk is verified \
        before it is converted, and a damaged input fails with exit 1 and no output).
        """)
    var noVerify = false

    @Flag(help: "Skip fsync of the output and its folder: still atomic against a crash of the process, not against power loss.")
    var noSync = false

    @Option(help: ".onnx output: the model whose initializers the input's tensors replace, by name (shape and dtype must match).")
    var into: String?

    func run() throws {
        // Formats Brine reads but does not write: a usage error (64), before any input is opened.
        if let outFormat = to ?? TensorFileFormat(fileExtension: URL(fileURLWithPath: output).pathExtension),
           outFormat == .pickle || outFormat == .keras {
            let instead = outFormat == .keras ? "write .h5 (load it with model.load_weights)" : "write .brine, .safetensors or .npz"
            throw ValidationError("brine reads \(outFormat) files but does not write them; \(instead)")
        }
        if isSharded { return try runSharded() }
        if remoteURL(input) != nil || remoteURL(output) != nil {
            return try runRemote(input: remoteURL(input), output: remoteURL(output))
        }
        let inURL = URL(fileURLWithPath: input)
        let outURL = URL(fileURLWithPath: output)
        let inFormat: TensorFileFormat
        do {
            inFormat = try from ?? TensorFileFormat.detect(contentsOf: inURL)
        } catch let error as BrineError {
            throw Exit.report(error)
        }
        guard let outFormat = to ?? TensorFileFormat(fileExtension: outURL.pathExtension) else {
            throw ValidationError("cannot tell the output format from '\(output)'; use --to")
        }
        try convert(to: ConvertDestination(kind: .file(outFormat), url: outURL)) { () throws(BrineError) in
            try self.read(inURL, format: inFormat)
        }
    }

    /// Reads the input (through a mapping: zero-copy where the format allows),
    /// with progress for Brine input, whose decoding is the slow part.
    func read(_ url: URL, format: TensorFileFormat) throws(BrineError) -> TensorBundle {
        if let bundle = try readInterop(url, format: format) { return bundle }
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        let progress = Progress("reading", totalBytes: size)
        defer { progress.finish() }
        var brineOptions = threading.readOptions
        brineOptions.verifyChecksums = !noVerify
        return try TensorBundle(contentsOf: url, format: format, mode: .mmap, options: threading.interopOptions,
                                brineOptions: brineOptions, progress: progress.update)
    }

    /// The arrays named by `--array` (in that order), or all; a `.npy`
    /// output must end up with exactly one. A selection of every array in
    /// the input's order is the input itself (its tree kept); any other
    /// selection is a flat map of the picked arrays with the input's metadata.
    /// - Throws: ``ExitCode`` 64 (usage) when a name is missing, a `.npy`
    ///   output would need several arrays, or a selection would drop the
    ///   input's object tree (a model's structure and non-array values)
    ///   without `--drop-metadata`, after printing why (and the names).
    func selected(_ bundle: TensorBundle, format: TensorFileFormat) throws -> TensorBundle {
        func names(_ b: TensorBundle) -> String {
            let shown = b.names.prefix(10).map { "'\($0)'" }.joined(separator: ", ")
            return b.names.count > 10 ? shown + ", … (\(b.names.count) in all; `brine inspect` lists them)" : shown
        }
        var out = bundle
        if !arrays.isEmpty {
            var picked: [(name: String, tensor: AnyTensor)] = []
            for name in arrays {
                guard let i = bundle.position(of: name) else {
                    printError("brine: error: --array '\(name)': no such array in \(input) (names are compared by their code points; of two canonically equivalent spellings, give the exact one); it holds \(names(bundle))")
                    throw Exit.usage
                }
                // Under the array's own name (its exact spelling); by code
                // points, two spellings of a name are two arrays.
                let (actual, t) = bundle.tensors[i]
                if !picked.contains(where: { $0.name.isSameName(as: actual) }) { picked.append((actual, t)) }
            }
            if picked.map(\.name) != bundle.names {
                // A selection is a flat map of the picked arrays: a model's tree
                // (structure, hyper-parameters, other arrays it refers to) has no
                // place in it, so it is never dropped without --drop-metadata.
                if bundle.contentNumPyCannotHold().objectTree && !dropMetadata {
                    printError("brine: error: --array keeps only the named arrays, as a flat map; the input also has the model's object tree (structure and non-array values such as hyper-parameters), which would be lost. Convert without --array to keep it, or pass --drop-metadata to leave it out.")
                    throw Exit.usage
                }
                out = TensorBundle(tensors: picked, metadata: bundle.metadata)
            }
        }
        if format == .npy && out.tensors.count != 1 {
            if out.tensors.isEmpty {
                printError("brine: error: \(input) holds no arrays; a .npy file holds exactly one")
            } else {
                printError("brine: error: \(input) holds \(out.tensors.count) arrays and a .npy file holds one: pick it with --array NAME (names: \(names(out))), or convert to .npz, .safetensors or .brine")
            }
            throw Exit.usage
        }
        return out
    }

    func write(_ bundle: TensorBundle, to url: URL, format: TensorFileFormat) throws(BrineError) {
        if try writeInterop(bundle, to: url, format: format) { return }
        var options = TensorBundleWriteOptions()
        options.brine = brine.writeOptions(threads: threading.threads)
        switch cast {
        case .bfloat16ToFloat32: options.npy.bfloat16 = .widenToFloat32
        case .bfloat16BitsAsUInt16: options.npy.bfloat16 = .bitPatternAsUInt16
        case nil: options.npy.bfloat16 = .reject
        }
        options.npzCompression = deflate ? .deflated : .stored
        options.dropMetadata = dropMetadata
        options.brine.durable = !noSync
        options.npy.durable = !noSync
        let total = bundle.tensors.reduce(0) { $0 + $1.tensor.byteCount }
        let progress = Progress("writing", totalBytes: total)
        defer { progress.finish() }
        try bundle.write(to: url, format: format, options: options, progress: progress.update)
    }
}
