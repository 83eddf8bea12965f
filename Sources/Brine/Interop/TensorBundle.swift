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
    /// A Python pickle (protocols 0–5) or joblib file, plain or compressed,
    /// read without executing anything (``Pickle``); read only.
    case pickle
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
        switch fileExtension.lowercased() {
        case "pkl", "joblib", "pickle": self = .pickle
        default: self.init(rawValue: fileExtension.lowercased())
        }
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
        if Pickle.looksLikePickle(head) { return .pickle }
        // A compressed joblib file (joblib names them .z, .gz, .bz2, .xz, .lzma, .lz4).
        if ["z", "gz", "bz2", "xz", "lzma", "lz4"].contains(url.pathExtension.lowercased()),
           head.withUnsafeBytes({ PickleCompression.detect($0) }) != .none { return .pickle }
        if let f = TensorFileFormat(fileExtension: url.pathExtension) { return f }
        throw BrineError(.invalidArgument, "cannot tell the format of this file from its content or extension", filePath: url.path)
    }
}

/// Named tensors and string metadata: what every tensor file format holds,
/// and what conversion between them (`brine convert`) carries.
///
/// - `.brine`: every array (its path is the name): the out-of-line arrays of
///   the array table in file order, then the arrays the object tree holds
///   inline (small arrays of a model saved with ``Brine/save(_:to:options:)``),
///   named by the same path rule (docs/WORKFLOWS.md, "Converting without
///   loss"); and the user metadata, string values as they are and every
///   other value in the exact text form of ``MetadataText`` (read back into
///   the same value when the bundle is saved as Brine). The `brine.*` keys,
///   which describe the Brine file itself, are left out, and written anew
///   when a bundle is saved as Brine.
/// - `.safetensors`: every tensor in file order, and `__metadata__`.
/// - `.npz`: every array in archive order; no metadata (writing a bundle with
///   metadata to `.npz`/`.npy` leaves it out: those formats have none;
///   `brine convert` says so on stderr).
/// - `.npy`: one array, named after the file (`weights.npy` → `weights`); no metadata.
/// - `.gguf`: every tensor and every metadata key/value, losslessly
///   (``GGUFFile/bundle()``: typed values as text plus `gguf.kv_types`,
///   quantized tensors as uint8 blocks listed in `gguf.quantized`).
public struct TensorBundle: Sendable {
    /// The tensors, in the order of the file they came from.
    public var tensors: [(name: String, tensor: AnyTensor)]
    /// String metadata (safetensors `__metadata__`, Brine metadata); a
    /// Brine value other than a string is held in the exact text form of
    /// ``MetadataText`` (bytes as `data:application/octet-stream;base64,…`).
    public var metadata: [String: String]
    /// The object tree of a source that has one (a pickle or joblib file:
    /// ``PickleContent/root``), whose ``Value/arrayRef(_:)`` indices name
    /// entries of ``tensors``; `nil` for the other formats. Brine output
    /// writes it as the file's root; other outputs refuse it.
    public var root: Value? = nil

    /// The object tree of the Brine file this bundle was read from (its
    /// model's structure), kept so that Brine → Brine conversion keeps the
    /// model loadable; `nil` for other sources.
    var brineTree: BrineTree?

    /// A bundle of the given tensors and metadata.
    public init(tensors: [(name: String, tensor: AnyTensor)] = [], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The tensor named `name`, or `nil`: the one whose name has the same
    /// code points, else the only one whose name is canonically equivalent
    /// (`"\u{E9}"` for `"e\u{301}"`); `nil` when several are.
    public func tensor(_ name: String) -> AnyTensor? {
        position(of: name).map { tensors[$0].tensor }
    }

    /// The position in ``tensors`` of the tensor ``tensor(_:)`` returns.
    package func position(of name: String) -> Int? {
        NameIndex(tensors.map(\.name))[name]
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
    ///   ``NpzFile`` and ``Npy/read(contentsOf:mode:options:)``; `.unsupportedFeature`
    ///   for Brine metadata keys that are canonically equivalent spellings
    ///   (the bundle's `[String: String]` cannot keep both).
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
            let meta = try TensorBundle.userMetadataText(file.metadata, path: url.path)
            var tensors: [(name: String, tensor: AnyTensor)] = zip(file.arrays, all).map { ($0.path, $1) }
            var names = Set(tensors.map { ExactName($0.name) })  // by code points: two spellings are two paths
            let inline = try InlineArrayExport.collect(file.root)
            for (path, t) in inline {
                guard names.insert(ExactName(path)).inserted else {
                    throw BrineError(.invalidArgument, "an inline array and an out-of-line array have the same path; cannot export both", filePath: url.path, arrayPath: path)
                }
                tensors.append((path, t))
            }
            // Alias paths of shared arrays (tied weights) come out last, as
            // tensors of their own: formats without aliases (safetensors) get a copy.
            let aliases = file.aliases
            for (path, index) in aliases {
                guard names.insert(ExactName(path)).inserted else {
                    throw BrineError(.invalidArgument, "an alias path is also the path of another array; cannot export both", filePath: url.path, arrayPath: path)
                }
                tensors.append((path, all[index]))
            }
            self.init(tensors: tensors, metadata: meta)
            var rootType: Value?
            if case .map(let entries) = file.metadata { rootType = entries.first { $0.key == "brine.root_type" }?.value }
            brineTree = BrineTree(root: file.root, outOfLine: file.arrayPaths, inline: inline, rootType: rootType, aliases: aliases)
        case .safetensors:
            let file = try SafetensorsFile(contentsOf: url, mode: mode, options: options)
            var tensors = try file.loadAll()
            var metadata = file.metadata
            let tree = try BrineTree.restore(metadata: &metadata, tensors: &tensors, path: url.path)
            self.init(tensors: tensors, metadata: metadata)
            brineTree = tree
        case .npz:
            self.init(tensors: try NpzFile(contentsOf: url, options: options).loadAll())
        case .npy:
            let t = try Npy.read(contentsOf: url, mode: mode, options: options)
            self.init(tensors: [(url.deletingPathExtension().lastPathComponent, t)])
        case .pickle:
            var p = PickleReadOptions()
            p.limits = options.limits
            self = try Pickle.read(contentsOf: url, options: p).bundle
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
    ///   names, not exactly one tensor for `.npy`, a metadata key with the
    ///   reserved `brine.` prefix for Brine output), `.unsupportedFeature`
    ///   (without ``TensorBundleWriteOptions/dropMetadata``: metadata or an
    ///   object tree that `.npy`/`.npz` cannot hold, or an object tree and
    ///   untyped `gguf.*` keys that GGUF cannot hold; nothing is written),
    ///   `.invalidInterop` (a
    ///   ``MetadataText`` marker that does not decode), `.unsupportedDType`
    ///   (bfloat16 to NumPy without a ``BFloat16Policy``), `.unsupportedFeature`
    ///   (content the format cannot hold, or a Brine model's tree that no
    ///   longer matches the changed arrays, without
    ///   ``TensorBundleWriteOptions/dropMetadata``), and the codes of
    ///   the writers (`.io`, `.notFound`, `.compressionFailed`, `.limitExceeded`).
    public func write(
        to url: URL, format: TensorFileFormat? = nil, options: TensorBundleWriteOptions = .init(),
        progress: ((_ doneBytes: Int, _ totalBytes: Int) -> Void)? = nil
    ) throws(BrineError) {
        guard let f = format ?? TensorFileFormat(fileExtension: url.pathExtension) else {
            throw BrineError(.invalidArgument, "cannot tell the output format from the extension '\(url.pathExtension)'", filePath: url.path)
        }
        if options.dropMetadata { try refuseArrayDataOnlyInTree(path: url.path) }
        if root != nil && (f == .npz || f == .npy) && !options.dropMetadata {
            throw BrineError(.unsupportedFeature, "this bundle has an object tree (from a pickle or joblib file) that .\(f) files cannot hold; convert to Brine or safetensors, which keep it, or set dropMetadata (brine convert --drop-metadata) to leave it out",
                             filePath: url.path)
        }
        if f != .brine && f != .safetensors && f != .gguf, let q = try GGUF.quantizedTensors(in: self).first {
            throw BrineError(.unsupportedDType, "tensor is quantized (\(q.type.name)) and has no numeric view; \(f) cannot carry ggml blocks (write .brine, .safetensors or .gguf)",
                             filePath: url.path, arrayPath: q.name)
        }
        switch f {
        case .pickle:
            throw BrineError(.unsupportedFeature, "Brine reads pickle and joblib files but does not write them", filePath: url.path)
        case .brine:
            // The keys Brine writes about itself describe this save; a
            // foreign key with the reserved prefix cannot be kept, so it is
            // refused (before anything is written) rather than dropped.
            if let k = metadata.keys.sorted().first(where: { $0.hasPrefix("brine.") }) {
                throw BrineError(.invalidArgument, "metadata key '\(k)' uses the prefix 'brine.', which Brine reserves for its own keys; rename it to keep it", filePath: url.path)
            }
            let w = try BrineWriter(url: url, options: options.brine)
            do throws(BrineError) {
                var root: [(key: String, value: Value)] = []
                // From an unchanged Brine bundle: the same arrays out of line
                // and the original tree (inline arrays included), so the model
                // still loads; else a flat map from each name to its array.
                try checkTreeKept(options, path: url.path)
                let tree = brineTree.flatMap { $0.matches(tensors) ? $0 : nil }
                let written = tree.map { tensors.prefix($0.outOfLine.count) } ?? tensors[...]
                let total = written.reduce(0) { $0 + $1.tensor.byteCount }
                var done = 0
                for (name, t) in written {
                    root.append((name, .arrayRef(try w.append(t, arrayPath: name))))
                    done += t.byteCount
                    progress?(done, total)
                }
                let meta = metadata.sorted { utf8Less($0.key, $1.key) }
                var values: [(key: String, value: Value)] = []
                if let rootType = tree?.rootType { values.append(("brine.root_type", rootType)) }
                for (k, v) in meta { values.append((k, try MetadataText.value(from: v, key: k))) }
                if let tree { try w.addAliases(tree.aliases) }
                try w.finish(root: tree?.root ?? self.root ?? .map(root), metadata: .map(values))
            } catch {
                w.cancel()
                throw error
            }
        case .safetensors:
            // A Brine model's tree and root type ride along in the string
            // metadata, so converting back gives a file Brine.load reads.
            // So does a pickle's tree, whose references index the tensors in order.
            try checkTreeKept(options, path: url.path)
            var meta = metadata
            if let tree = brineTree, tree.isMoreThanFlatArrays, tree.matches(tensors) {
                for (k, v) in try tree.metadataEntries() { meta[k] = v }
            } else if let root {
                let tree = BrineTree(root: root, outOfLine: tensors.map(\.name), inline: [], rootType: nil)
                for (k, v) in try tree.metadataEntries() { meta[k] = v }
            }
            try Safetensors.write(tensors, metadata: meta, to: url, durable: options.npy.durable)
        case .npz:
            try checkNumPyOutput(.npz, options: options, path: url.path)
            try Npz.write(tensors, to: url, compression: options.npzCompression, options: options.npy)
        case .npy:
            guard tensors.count == 1 else {
                throw BrineError(.invalidArgument, "a .npy file holds exactly one array; this bundle has \(tensors.count)", filePath: url.path)
            }
            try checkNumPyOutput(.npy, options: options, path: url.path)
            try Npy.write(tensors[0].tensor, to: url, options: options.npy)
        case .gguf:
            // GGUF has no place for a model's tree or for untyped `gguf.*` keys: refused unless dropMetadata.
            try GGUF.write(self, to: url, durable: options.npy.durable, dropMetadata: options.dropMetadata)
        case .onnx:
            throw BrineError(.unsupportedFeature, "ONNX models are written by the BrineONNX library: ONNXModel.writeReplacingInitializers(with:to:durable:dropMetadata:)", filePath: url.path)
        case .h5, .keras:
            throw BrineError(.unsupportedFeature, "HDF5 files are written by the BrineHDF5 library: HDF5.write(_:to:)", filePath: url.path)
        }
    }
}

/// Options for ``TensorBundle/write(to:format:options:progress:)``.
public struct TensorBundleWriteOptions: Sendable, Hashable {
    /// Codec, filter, alignment, chunking and durability of Brine output.
    public var brine: WriteOptions = WriteOptions()
    /// bfloat16 policy and durability of `.npy`/`.npz` output (durability
    /// also applies to safetensors output).
    public var npy: NpyWriteOptions = NpyWriteOptions()
    /// Stored (default, as `np.savez`) or deflated (as `np.savez_compressed`) `.npz` members.
    public var npzCompression: Npz.Compression = .stored
    /// Let `.npy`/`.npz` output leave out what NumPy files cannot hold (the
    /// metadata and a Brine model's object tree), and `.gguf` output what
    /// GGUF cannot hold (an object tree, metadata keys under `gguf.` that are
    /// not the layout's own: ``GGUF/contentGGUFCannotHold(_:)``). Default
    /// `false`: such a write throws `.unsupportedFeature` naming what would be
    /// lost, before anything is written. safetensors and Brine output keep both.
    public var dropMetadata: Bool = false

    /// The defaults.
    public init() {}
}

/// The structure of a Brine file read into a ``TensorBundle``: its object
/// tree, the paths of its out-of-line arrays (the tree's `array_ref`
/// indices) and the arrays the tree holds inline.
struct BrineTree: Sendable {
    let root: Value
    let outOfLine: [String]
    let inline: [(path: String, tensor: AnyTensor)]
    let rootType: Value?
    /// Alias paths of shared arrays (format 1.1 `brine.aliases`) and the
    /// array-table index each names; exported after the inline arrays.
    var aliases: [(path: String, index: Int)] = []

    /// `true` when `tensors` are still the file's arrays: the out-of-line
    /// names in order, then the inline arrays with their values unchanged
    /// (the tree holds those values, so a changed one must not be written
    /// from the tree).
    ///
    /// An alias entry must still hold its target's array (same dtype, shape
    /// and bytes): the file stores one array under both names, so a changed
    /// copy under the alias name could not be written from the tree.
    func matches(_ tensors: [(name: String, tensor: AnyTensor)]) -> Bool {
        guard tensors.count == outOfLine.count + inline.count + aliases.count else { return false }
        for (k, a) in aliases.enumerated() {
            let t = tensors[outOfLine.count + inline.count + k]
            guard t.name == a.path, a.index >= 0, a.index < outOfLine.count,
                  BrineTree.sameArray(t.tensor, tensors[a.index].tensor) else { return false }
        }
        for (i, p) in outOfLine.enumerated() where tensors[i].name != p { return false }
        for (k, e) in inline.enumerated() {
            let t = tensors[outOfLine.count + k]
            guard t.name == e.path, t.tensor == e.tensor else { return false }
        }
        return true
    }

    /// Equal dtype, shape and bytes; the same storage is equal without a compare.
    static func sameArray(_ a: AnyTensor, _ b: AnyTensor) -> Bool {
        guard a.dtype == b.dtype, a.shape == b.shape, a.byteCount == b.byteCount else { return false }
        if a.storage === b.storage || a.byteCount == 0 { return true }
        return memcmp(a.storage.baseAddress, b.storage.baseAddress, a.byteCount) == 0
    }
}

extension TensorBundle {
    /// Throws when the object tree (``root``, from a pickle or joblib file)
    /// holds array data that is not among ``tensors``: a NumPy array
    /// subclass Brine does not convert as an array (`numpy.matrix`,
    /// `numpy.ma.MaskedArray`, …) is kept in the tree as the recorded call
    /// (`_reconstruct`, `_mareconstruct`) whose state holds a dtype and the
    /// data bytes, so leaving the tree out (`dropMetadata`) would drop that
    /// data without a word.
    /// - Parameter path: the output's path, for the error.
    /// - Throws: ``BrineError`` `.unsupportedFeature` naming the class.
    package func refuseArrayDataOnlyInTree(path: String?) throws(BrineError) {
        guard let root else { return }
        var stack = [root]
        var seen = 0
        while let v = stack.popLast(), seen < 10_000_000 {
            seen += 1
            switch v {
            case .list(let items): stack.append(contentsOf: items)
            case .map(let entries):
                // A recorded call whose state is an ndarray's (`__setstate__`
                // of numpy's `_reconstruct`, `_mareconstruct`, …): a dtype and
                // the data bytes.
                if entries.contains(where: { $0.key == "__class__" }),
                   case .list(let state)? = entries.first(where: { $0.key == "state" })?.value,
                   state.contains(where: { if case .bytes = $0 { return true } else { return false } }),
                   state.contains(where: { s in
                       if case .map(let m) = s, case .string("numpy.dtype")? = m.first(where: { $0.key == "__class__" })?.value { return true }
                       return false
                   }) {
                    var name = "a NumPy array subclass"
                    if case .list(let args)? = entries.first(where: { $0.key == "args" })?.value, case .map(let g)? = args.first,
                       case .string(let n)? = g.first(where: { $0.key == "__global__" })?.value {
                        name = n
                    }
                    throw BrineError(.unsupportedFeature, "the pickle holds a \(name) array, which Brine keeps only in the object tree (as a recorded numpy call with its dtype and data), not as an array; leaving the tree out (--drop-metadata) would drop its data. Convert it to a plain ndarray (np.asarray) before pickling, or write .brine or .safetensors, which keep the tree", filePath: path)
                }
                stack.append(contentsOf: entries.map(\.value))
            default: break
            }
        }
    }
}
