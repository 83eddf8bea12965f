import Foundation

/// The tensor file formats Brine reads and writes.
public enum TensorFileFormat: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// A Brine container (docs/FORMAT.md).
    case brine
    /// A NumPy `.npy` file: one array (NEP 1).
    case npy
    /// A NumPy `.npz` archive: a zip of `.npy` arrays.
    case npz
    /// A safetensors file (huggingface/safetensors).
    case safetensors
    /// A GGUF file (llama.cpp, ggml docs/gguf.md), versions 2 and 3.
    case gguf
    /// An ONNX model (`.onnx`; its initializers): read and written by the
    /// `BrineONNX` library (`ONNXModel`), not by ``TensorBundle`` itself.
    case onnx
    /// An HDF5 file (`.h5`; Keras 2 `.h5` and Keras 3 `.weights.h5`): read and
    /// written by the `BrineHDF5` library (`HDF5`), not by ``TensorBundle`` itself.
    case h5
    /// A Keras 3 `.keras` archive (a zip holding `model.weights.h5` and
    /// `config.json`): read by the `BrineHDF5` library (`HDF5.readKeras`).
    case keras

    /// The format's name: `"brine"`, `"npy"`, `"npz"` or `"safetensors"`.
    public var description: String { rawValue }

    /// The usual file extension, without the dot.
    public var fileExtension: String { rawValue }

    /// The format for a file extension (`"npy"`, `"safetensors"`, …; case-insensitive), or `nil`.
    public init?(fileExtension: String) {
        self.init(rawValue: fileExtension.lowercased())
    }

    /// Identifies a file's format from its first bytes: the Brine magic, the
    /// `.npy` magic, a zip signature (`.npz`), or a plausible safetensors
    /// header length followed by `{` (after JSON whitespace, within the
    /// header's first 4,096 bytes); falls back to the file extension.
    /// - Throws: ``BrineError`` `.notFound`, `.io`; `.invalidArgument` when
    ///   neither the content nor the extension tells.
    public static func detect(contentsOf url: URL) throws(BrineError) -> TensorFileFormat {
        let source = try ByteSource(path: url.path, mode: .copy)
        let head = try source.read(0, Swift.min(source.size, 16))
        if head.count >= 8 && head.prefix(8).elementsEqual(FormatSpec.magic) { return .brine }
        if head.count >= 6 && head.prefix(6).elementsEqual(Npy.magic) { return .npy }
        if head.count >= 8 && head.prefix(8).elementsEqual([0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A] as [UInt8]) { return .h5 }
        if head.count >= 4 && head.prefix(4).elementsEqual([0x50, 0x4B, 0x03, 0x04] as [UInt8]) && url.pathExtension.lowercased() == "keras" { return .keras }
        if head.count >= 4 && head.prefix(4).elementsEqual([0x50, 0x4B, 0x03, 0x04] as [UInt8]) { return .npz }
        if head.count >= 4 && head.prefix(4).elementsEqual([0x50, 0x4B, 0x05, 0x06] as [UInt8]) { return .npz }
        if head.count >= 4 && head.prefix(4).elementsEqual(GGUF.magic) { return .gguf }
        if head.count >= 9 {
            var n: UInt64 = 0
            for i in 0 ..< 8 { n |= UInt64(head[i]) << (8 * UInt64(i)) }
            if n >= 2 && n <= UInt64(source.size - 8) {
                // JSON may put whitespace before the `{` (the reference reader accepts it).
                let probe = try source.read(8, Int(Swift.min(n, 4096)))
                if probe.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) == UInt8(ascii: "{") { return .safetensors }
            }
        }
        if let f = TensorFileFormat(fileExtension: url.pathExtension) { return f }
        throw BrineError(.invalidArgument, "cannot tell the format of this file from its content or extension", filePath: url.path)
    }
}

/// Named tensors and string metadata: what every tensor file format holds,
/// and what conversion between them (`brine convert`) carries.
///
/// - `.brine`: every array (its path is the name) and the user metadata
///   (string values as they are, other values rendered as text; the
///   `brine.*` keys, which describe the Brine file itself, are left out, and
///   written anew when a bundle is saved as Brine).
/// - `.safetensors`: every tensor in file order, and `__metadata__`.
/// - `.npz`: every array in archive order; no metadata.
/// - `.npy`: one array, named after the file (`weights.npy` → `weights`); no metadata.
/// - `.gguf`: every tensor and every metadata key/value, losslessly
///   (``GGUFFile/bundle()``: typed values as text plus `gguf.kv_types`,
///   quantized tensors as uint8 blocks listed in `gguf.quantized`).
public struct TensorBundle: Sendable {
    /// The tensors, in the order of the file they came from.
    public var tensors: [(name: String, tensor: AnyTensor)]
    /// String metadata (safetensors `__metadata__`, Brine metadata).
    public var metadata: [String: String]

    /// A bundle of the given tensors and metadata.
    public init(tensors: [(name: String, tensor: AnyTensor)] = [], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The tensor named `name`, or `nil`.
    public func tensor(_ name: String) -> AnyTensor? {
        tensors.first(where: { $0.name == name })?.tensor
    }

    /// The tensor names in order.
    public var names: [String] { tensors.map(\.name) }

    /// Reads every tensor and the metadata of a file.
    /// - Parameters:
    ///   - url: a file URL.
    ///   - format: the format; `nil` detects it (``TensorFileFormat/detect(contentsOf:)``).
    ///   - mode: how Brine, safetensors and `.npy` files are read (copy or an
    ///     mmap mode with zero-copy views where possible); `.npz` is always copied.
    ///   - options: caps for the NumPy and safetensors readers.
    ///   - brineOptions: options for the Brine reader.
    ///   - progress: for Brine input, called after each array with the stored
    ///     bytes read so far and in all (decoding is the slow part there).
    /// - Throws: ``BrineError``: the codes of ``BrineFile``, ``SafetensorsFile``,
    ///   ``NpzFile`` and ``Npy/read(contentsOf:mode:options:)``.
    public init(
        contentsOf url: URL, format: TensorFileFormat? = nil, mode: LoadMode = .copy,
        options: InteropReadOptions = .init(), brineOptions: ReadOptions = .init(),
        progress: ((_ doneBytes: Int, _ totalBytes: Int) -> Void)? = nil
    ) throws(BrineError) {
        let f: TensorFileFormat
        if let format { f = format } else { f = try TensorFileFormat.detect(contentsOf: url) }
        switch f {
        case .brine:
            let file = try BrineFile(contentsOf: url, mode: mode, options: brineOptions)
            let all: [AnyTensor]
            if let progress {
                let total = file.arrays.reduce(0) { $0 + $1.storedBytes }
                var done = 0
                var loaded: [AnyTensor] = []
                for (i, a) in file.arrays.enumerated() {
                    loaded.append(try file.anyArray(at: i))
                    done += a.storedBytes
                    progress(done, total)
                }
                all = loaded
            } else {
                all = try file.loadAll()
            }
            var meta: [String: String] = [:]
            if case .map(let entries) = file.metadata {
                for (k, v) in entries where !k.hasPrefix("brine.") { meta[k] = v.stringValue ?? v.description }
            }
            self.init(tensors: zip(file.arrays, all).map { ($0.path, $1) }, metadata: meta)
        case .safetensors:
            let file = try SafetensorsFile(contentsOf: url, mode: mode, options: options)
            self.init(tensors: try file.loadAll(), metadata: file.metadata)
        case .npz:
            self.init(tensors: try NpzFile(contentsOf: url, options: options).loadAll())
        case .npy:
            let t = try Npy.read(contentsOf: url, mode: mode, options: options)
            self.init(tensors: [(url.deletingPathExtension().lastPathComponent, t)])
        case .onnx:
            throw BrineError(.unsupportedFeature, "ONNX models are read by the BrineONNX library: ONNXModel(contentsOf:).bundle()", filePath: url.path)
        case .h5, .keras:
            throw BrineError(.unsupportedFeature, "HDF5 and .keras files are read by the BrineHDF5 library: HDF5.read(contentsOf:), HDF5.readKeras(contentsOf:)", filePath: url.path)
        case .gguf:
            var g = GGUFReadOptions()
            g.limits = options.limits
            self = try GGUFFile(contentsOf: url, mode: mode == .copy ? .copy : .mmap, options: g).bundle()
        }
    }

    /// Writes the bundle in a format, atomically.
    /// - Parameters:
    ///   - url: the destination file URL; its folder must exist.
    ///   - format: the format; `nil` takes it from the file extension.
    ///   - options: per-format options.
    ///   - progress: for Brine output, called after each array with the raw
    ///     bytes written so far and in all.
    /// - Throws: ``BrineError`` `.invalidArgument` (unknown format, duplicate
    ///   names, not exactly one tensor for `.npy`), `.unsupportedDType`
    ///   (bfloat16 to NumPy without a ``BFloat16Policy``), and the codes of
    ///   the writers (`.io`, `.notFound`, `.compressionFailed`, `.limitExceeded`).
    public func write(
        to url: URL, format: TensorFileFormat? = nil, options: TensorBundleWriteOptions = .init(),
        progress: ((_ doneBytes: Int, _ totalBytes: Int) -> Void)? = nil
    ) throws(BrineError) {
        guard let f = format ?? TensorFileFormat(fileExtension: url.pathExtension) else {
            throw BrineError(.invalidArgument, "cannot tell the output format from the extension '\(url.pathExtension)'", filePath: url.path)
        }
        if f != .brine && f != .safetensors && f != .gguf, let q = try GGUF.quantizedTensors(in: self).first {
            throw BrineError(.unsupportedDType, "tensor is quantized (\(q.type.name)) and has no numeric view; \(f) cannot carry ggml blocks (write .brine, .safetensors or .gguf)",
                             filePath: url.path, arrayPath: q.name)
        }
        switch f {
        case .brine:
            let w = try BrineWriter(url: url, options: options.brine)
            do throws(BrineError) {
                var root: [(key: String, value: Value)] = []
                let total = tensors.reduce(0) { $0 + $1.tensor.byteCount }
                var done = 0
                for (name, t) in tensors {
                    root.append((name, .arrayRef(try w.append(t, path: name))))
                    done += t.byteCount
                    progress?(done, total)
                }
                // The keys Brine writes about itself describe this save, not the source file.
                let meta = metadata.filter { !$0.key.hasPrefix("brine.") }.sorted { utf8Less($0.key, $1.key) }
                try w.finish(root: .map(root), metadata: .map(meta.map { ($0.key, Value.string($0.value)) }))
            } catch {
                w.cancel()
                throw error
            }
        case .safetensors:
            try Safetensors.write(tensors, metadata: metadata, to: url, durable: options.npy.durable)
        case .npz:
            try Npz.write(tensors, to: url, compression: options.npzCompression, options: options.npy)
        case .npy:
            guard tensors.count == 1 else {
                throw BrineError(.invalidArgument, "a .npy file holds exactly one array; this bundle has \(tensors.count)", filePath: url.path)
            }
            try Npy.write(tensors[0].tensor, to: url, options: options.npy)
        case .gguf:
            try GGUF.write(self, to: url, durable: options.npy.durable)
        case .onnx:
            throw BrineError(.unsupportedFeature, "ONNX models are written by the BrineONNX library: ONNXModel.writeReplacingInitializers(with:to:)", filePath: url.path)
        case .h5, .keras:
            throw BrineError(.unsupportedFeature, "HDF5 files are written by the BrineHDF5 library: HDF5.write(_:to:)", filePath: url.path)
        }
    }
}

/// Options for ``TensorBundle/write(to:format:options:)``.
public struct TensorBundleWriteOptions: Sendable, Hashable {
    /// Codec, filter, alignment, chunking and durability of Brine output.
    public var brine: WriteOptions = WriteOptions()
    /// bfloat16 policy and durability of `.npy`/`.npz` output (durability
    /// also applies to safetensors output).
    public var npy: NpyWriteOptions = NpyWriteOptions()
    /// Stored (default, as `np.savez`) or deflated (as `np.savez_compressed`) `.npz` members.
    public var npzCompression: Npz.Compression = .stored

    /// The defaults.
    public init() {}
}
