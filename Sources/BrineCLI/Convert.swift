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
        abstract: "Convert between Brine, safetensors, .npy and .npz, preserving names, dtypes, shapes and bytes.",
        discussion: """
            Formats are detected from the input's content and the output's extension \
            (.brine, .safetensors, .npy, .npz), or given with --from/--to. Metadata \
            (safetensors __metadata__, Brine user metadata) is carried over; .npy and .npz \
            have none. NumPy has no bfloat16: converting such arrays to .npy/.npz needs --cast.
            """)

    @Argument(help: "The input file.")
    var input: String

    @Argument(help: "The output file (replaced atomically).")
    var output: String

    @Option(help: "Input format (default: detected).")
    var from: TensorFileFormat?

    @Option(help: "Output format (default: from the output's extension).")
    var to: TensorFileFormat?

    @Option(help: "Brine output: compression codec (none, lz4, zstd).")
    var codec: CodecName = .none

    @Option(help: "Brine output: zstd level (-7…22).")
    var level: Int = 3

    @Flag(help: "Brine output: byte-shuffle each chunk before compressing.")
    var shuffle = false

    @Option(help: "Brine output: alignment of each array in bytes (power of two, 8…65536).")
    var alignment: Int = 64

    @Option(help: "Brine output: raw chunk size in bytes.")
    var chunkSize: Int = 1 << 20

    @Option(help: "NumPy output: how to write bfloat16 arrays (bfloat16-to-float32, bfloat16-bits-as-uint16).")
    var cast: CastName?

    @Flag(help: ".npz output: deflate the members (as np.savez_compressed).")
    var deflate = false

    @Option(help: ".onnx output: the model whose initializers the input's tensors replace, by name (shape and dtype must match).")
    var into: String?

    func validate() throws {
        guard alignment >= 8, alignment <= 65536, alignment & (alignment - 1) == 0 else {
            throw ValidationError("--alignment must be a power of two from 8 to 65536")
        }
        guard chunkSize >= 8, chunkSize <= 1 << 30 else {
            throw ValidationError("--chunk-size must be from 8 bytes to 1 GiB")
        }
        guard level >= -7, level <= 22 else { throw ValidationError("--level must be from -7 to 22") }
        if codec == .none && shuffle {
            throw ValidationError("--shuffle only helps a compressing codec; add --codec lz4 or --codec zstd")
        }
    }

    func run() throws {
        let inURL = URL(fileURLWithPath: input)
        let outURL = URL(fileURLWithPath: output)
        let outFormat = to ?? TensorFileFormat(fileExtension: outURL.pathExtension)
        do {
            let inFormat = try from ?? TensorFileFormat.detect(contentsOf: inURL)
            guard let outFormat else {
                throw ValidationError("cannot tell the output format from '\(output)'; use --to")
            }
            if outFormat == .onnx && into == nil {
                throw ValidationError("writing .onnx needs --into MODEL.onnx: the model whose initializers are replaced")
            }
            let bundle = try read(inURL, format: inFormat)
            try write(bundle, to: outURL, format: outFormat)
        } catch let error as BrineError where error.code == .unsupportedDType && cast == nil && (outFormat == .npy || outFormat == .npz)
                    && error.message.hasPrefix("NumPy has no bfloat16") {
            // The input is fine; the command needs an option (usage error).
            printError("brine: error: \(error.arrayPath.map { "array '\($0)': " } ?? "")NumPy has no bfloat16; add --cast bfloat16-to-float32 (widen) or --cast bfloat16-bits-as-uint16 (keep the bits)")
            throw Exit.usage
        } catch let error as BrineError {
            throw Exit.report(error)
        }
    }

    /// Reads the input (through a mapping: zero-copy where the format allows),
    /// with progress for Brine input, whose decoding is the slow part.
    func read(_ url: URL, format: TensorFileFormat) throws(BrineError) -> TensorBundle {
        if let bundle = try readInterop(url, format: format) { return bundle }
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        let progress = Progress("reading", totalBytes: size)
        defer { progress.finish() }
        return try TensorBundle(contentsOf: url, format: format, mode: .mmap, progress: progress.update)
    }

    func write(_ bundle: TensorBundle, to url: URL, format: TensorFileFormat) throws(BrineError) {
        if try writeInterop(bundle, to: url, format: format) { return }
        var options = TensorBundleWriteOptions()
        var brine = WriteOptions(codec: codec == .none ? .none : (codec == .lz4 ? .lz4 : .zstd(level: level)),
                                 filter: shuffle ? .shuffle : .none)
        brine.alignment = alignment
        brine.chunkBytes = chunkSize
        options.brine = brine
        switch cast {
        case .bfloat16ToFloat32: options.npy.bfloat16 = .widenToFloat32
        case .bfloat16BitsAsUInt16: options.npy.bfloat16 = .bitPatternAsUInt16
        case nil: options.npy.bfloat16 = .reject
        }
        options.npzCompression = deflate ? .deflated : .stored
        let total = bundle.tensors.reduce(0) { $0 + $1.tensor.byteCount }
        let progress = Progress("writing", totalBytes: total)
        defer { progress.finish() }
        try bundle.write(to: url, format: format, options: options, progress: progress.update)
    }
}
