import ArgumentParser
import Brine
import Foundation

/// `brine inspect FILE`: the arrays (dtype, shape, codec, sizes, ratio),
/// metadata and object tree of a Brine, safetensors, .npy or .npz file,
/// read without loading array data (except .npz, whose members are read
/// for their dtype and shape); of a sharded Brine model from its
/// `model.brine.index.json` (every array with its shard); and of the
/// formats read by their own libraries (GGUF, ONNX, HDF5, pickle).
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model file's arrays, dtypes, shapes, codecs, sizes, metadata and object tree.",
        discussion: """
            Reads Brine, safetensors, .npy, .npz, GGUF, ONNX, HDF5 and .keras files (detected from their content); a pickle or joblib file (read without running code) shows its classes, object tree and arrays. \
            --tree prints the object tree indented, with out-of-line arrays as references \
            and inline arrays summarised (dtype, shape, first values); for formats without \
            a tree, the array names split at '.'. --json prints one JSON object; with \
            --tree it has a "tree" key.
            """)

    @Argument(help: "The model file (.brine, a sharded model's model.brine.index.json, .safetensors, .npy, .npz, .gguf, .onnx, .h5, .keras, .pkl, .joblib), or a .brine object's s3:// or http(s):// URL.")
    var file: String

    @Flag(help: "Also print the object tree (the model's structure).")
    var tree = false

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @OptionGroup
    var threading: ThreadsOptionGroup

    func run() throws {
        if let url = remoteURL(file) { return try inspectRemote(url) }
        if file.hasSuffix(".brine.index.json") {
            do {
                return try inspectShards(URL(fileURLWithPath: file))
            } catch {
                throw Exit.report(error)
            }
        }
        let detected = try? TensorFileFormat.detect(contentsOf: URL(fileURLWithPath: file))
        if detected == .pickle { return try inspectPickle() }
        if let d = detected, [.gguf, .onnx, .h5, .keras].contains(d) {
            // Formats read by their own libraries: tensors and metadata.
            do {
                if let listing = try interopListing(URL(fileURLWithPath: file)) {
                    if json { print(listing.json) } else { listing.print(file: file) }
                    return
                }
            } catch {
                throw Exit.report(error)
            }
        }
        let input: InputFile
        let entries: [InputFile.Entry]
        let treeParts: (root: Value, renderer: TreeRenderer)?
        do {
            input = try InputFile.open(file, threads: threading.threads)
            entries = try input.entries()
            treeParts = tree ? try input.tree() : nil
        } catch {
            throw Exit.report(error)
        }
        if json {
            print(jsonReport(input, entries, tree: treeParts))
            return
        }
        if case .brine(let f) = input {
            printBrine(f)
        } else {
            printFlat(input, entries)
        }
        if let treeParts {
            print("")
            print("tree:")
            for line in treeParts.renderer.lines(treeParts.root) { print("  " + terminalSafe(line)) }
        }
    }

    /// Lists a sharded Brine model from its index: every array in the
    /// weight map's order with its shard, read from the shards' headers
    /// (each shard's header checked, and compared with the index; no array
    /// data read), the index's metadata and, with `--tree`, its object tree.
    /// - Throws: ``BrineError`` from the index and the shards' headers.
    func inspectShards(_ indexURL: URL) throws(BrineError) {
        let index = try ShardIndex(contentsOf: indexURL)
        var options = threading.readOptions
        options.verifyChecksums = false  // headers only: `brine verify` reads every chunk
        var infos: [ArrayInfo] = []
        var shardOf: [String] = []
        var shards: [Value] = []
        var userMetadata: Value = .map([])
        for shard in index.shardNames {
            let file = try BrineFile(contentsOf: indexURL.deletingLastPathComponent().appendingPathComponent(shard), mode: .mmap, options: options)
            try index.checkShard(shard, headerChecksum: file.headerChecksum, path: indexURL.path)
            let (_, placed) = try index.placedArrays(in: shard, arrays: file.arrays, info: file.info, path: indexURL.path)
            if shards.isEmpty, case .map(let entries) = file.metadata { userMetadata = .map(entries.filter { !$0.key.hasPrefix("brine.") }) }
            shards.append(["name": .string(shard), "arrays": .int(Int64(placed.count)), "file_bytes": .int(Int64(file.fileSize))])
            infos += placed
            shardOf += Array(repeating: shard, count: placed.count)
        }
        // In the weight map's order (the tree's array references count it).
        var position: [ExactName: Int] = [:]
        for (i, a) in infos.enumerated() { position[ExactName(a.path)] = i }
        let order = index.weightMap.compactMap { position[ExactName($0.path)] }
        let arrays = order.map { infos[$0] }, owners = order.map { shardOf[$0] }
        let raw = arrays.reduce(0) { $0 + $1.storedRawBytes }, stored = arrays.reduce(0) { $0 + $1.storedBytes }
        if json {
            var out: [(key: String, value: Value)] = [
                ("file", .string(file)), ("format", .string("brine shard index")), ("shards", .list(shards)),
                ("index_metadata", .map(index.metadata.keys.sorted().map { ($0, .string(index.metadata[$0]!)) })),
                ("metadata", userMetadata),
                ("arrays", .list(zip(arrays, owners).map { a, s in
                    guard case .map(var e) = Inspect.arrayJSON(a, detailed: false) else { return .null }
                    e.append(("shard", .string(s)))
                    return .map(e)
                })),
            ]
            if tree, let root = index.tree { out.append(("tree", root)) }
            print(jsonText(.map(out)))
            return
        }
        print("file:     \(terminalSafe(file))")
        print("format:   Brine shard index, \(shards.count) shard(s), \(formatBytes(index.totalSize))")
        print("arrays:   \(arrays.count), \(formatBytes(raw)) raw, \(formatBytes(stored)) stored")
        printMetadata(userMetadata)
        if !arrays.isEmpty {
            print("")
            var rows = [["path", "dtype", "shape", "codec", "filter", "stored", "raw", "shard"]]
            for (a, s) in zip(arrays, owners) {
                rows.append([a.path, a.dtype.name, TreeRenderer.shapeText(a.shape), a.codec.description, a.filter.description,
                             formatBytes(a.storedBytes), formatBytes(a.storedRawBytes), s])
            }
            printTable(rows)
        }
        if tree, let root = index.tree {
            print("")
            print("tree:")
            for line in TreeRenderer(arrays: TreeRenderer.entries(arrays)).lines(root) { print("  " + terminalSafe(line)) }
        }
    }

    func printBrine(_ f: BrineFile) {
        printBrine(version: f.formatVersion, fileSize: f.fileSize, arrays: f.arrays, metadata: f.metadata, detailed: true)
    }

    /// Prints a Brine file's listing (local or remote): the totals, the
    /// metadata and one row per array. `detailed` (local files) adds the
    /// compression ratio, each array's stored dtype where it differs and its
    /// count of chunks stored raw; the remote listing shows without them.
    func printBrine(version: (major: UInt16, minor: UInt16), fileSize: Int, arrays: [ArrayInfo], metadata: Value, detailed: Bool) {
        let raw = arrays.reduce(0) { $0 + $1.storedRawBytes }
        let stored = arrays.reduce(0) { $0 + $1.storedBytes }
        let ratio = detailed ? ", ratio \(String(format: "%.3f", raw == 0 ? 1 : Double(raw) / Double(max(stored, 1))))" : ""
        print("file:     \(terminalSafe(file))")
        print("format:   Brine \(version.major).\(version.minor), \(formatBytes(fileSize))")
        print("arrays:   \(arrays.count), \(formatBytes(raw)) raw, \(formatBytes(stored)) stored\(ratio)")
        printMetadata(metadata)
        guard !arrays.isEmpty else { return }
        print("")
        var rows = [["path", "dtype", "shape", "codec", "filter", "chunks", "stored", "raw"] + (detailed ? ["ratio"] : []) + ["offset"]]
        for a in arrays {
            var dtype = a.dtype.name, chunks = String(a.chunkCount), ratio: [String] = []
            if detailed {
                if a.storedDType != a.dtype { dtype += " (stored \(a.storedDType.name))" }
                let rawChunks = a.chunks.filter(\.isRaw).count
                if rawChunks > 0 { chunks += " (\(rawChunks) raw)" }
                ratio = [String(format: "%.3f", a.compressionRatio)]
            }
            rows.append([a.path, dtype, TreeRenderer.shapeText(a.shape), a.codec.description, a.filter.description, chunks,
                         formatBytes(a.storedBytes), formatBytes(a.storedRawBytes)] + ratio + [String(a.dataOffset)])
        }
        printTable(rows)
    }

    /// One array of a Brine file in `--json` output; `detailed` (local
    /// files) adds `raw_chunks`.
    static func arrayJSON(_ a: ArrayInfo, detailed: Bool) -> Value {
        var entries: [(key: String, value: Value)] = [
            ("path", .string(a.path)), ("dtype", .string(a.dtype.name)), ("stored_dtype", .string(a.storedDType.name)),
            ("shape", .list(a.shape.map { .int(Int64($0)) })), ("codec", .string(a.codec.description)),
            ("filter", .string(a.filter.description)), ("chunks", .int(Int64(a.chunkCount))),
        ]
        if detailed { entries.append(("raw_chunks", .int(Int64(a.chunks.filter(\.isRaw).count)))) }
        entries += [
            ("stored_bytes", .int(Int64(a.storedBytes))), ("raw_bytes", .int(Int64(a.storedRawBytes))),
            ("data_offset", .int(Int64(a.dataOffset))), ("alignment", .int(Int64(a.alignment))),
        ]
        return .map(entries)
    }

    func printFlat(_ input: InputFile, _ entries: [InputFile.Entry]) {
        let total = entries.reduce(0) { $0 + $1.byteCount }
        print("file:     \(terminalSafe(file))")
        print("format:   \(input.format), \(formatBytes(input.fileSize(file)))")
        print("arrays:   \(entries.count), \(formatBytes(total))")
        printMetadata(input.metadata)
        if !entries.isEmpty {
            print("")
            var rows = [["path", "dtype", "shape", "bytes", "stored", "offset", "note"]]
            for e in entries {
                rows.append([e.path, e.dtype, TreeRenderer.shapeText(e.shape), formatBytes(e.byteCount), formatBytes(e.storedBytes),
                             e.dataOffset.map(String.init) ?? "-", e.note])
            }
            printTable(rows)
        }
    }

    func printMetadata(_ metadata: Value) {
        if case .map(let entries) = metadata, !entries.isEmpty {
            print("metadata:")
            for (k, v) in entries { print(terminalSafe("  \(k): \(v)")) }
        }
    }

    func printTable(_ rows: [[String]]) {
        let rows = rows.map { $0.map(terminalSafe) }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max()! }
        for r in rows {
            print(r.enumerated().map { c, s in s + String(repeating: " ", count: widths[c] - s.count) }.joined(separator: "  "))
        }
    }

    func jsonReport(_ input: InputFile, _ entries: [InputFile.Entry], tree: (root: Value, renderer: TreeRenderer)?) -> String {
        var arrays: [Value] = []
        var report: [(key: String, value: Value)] = [("file", .string(file))]
        if case .brine(let f) = input {
            arrays = f.arrays.map { Self.arrayJSON($0, detailed: true) }
            report += [("format", .string("\(f.formatVersion.major).\(f.formatVersion.minor)")),
                       ("container", .string("brine")), ("file_bytes", .int(Int64(f.fileSize)))]
        } else {
            for e in entries {
                arrays.append([
                    "path": .string(e.path), "dtype": .string(e.dtype), "shape": .list(e.shape.map { .int(Int64($0)) }),
                    "bytes": .int(Int64(e.byteCount)), "stored_bytes": .int(Int64(e.storedBytes)),
                    "data_offset": e.dataOffset.map { .int(Int64($0)) } ?? .null, "note": .string(e.note),
                ])
            }
            report += [("format", .string(input.format.rawValue)), ("container", .string(input.format.rawValue)),
                       ("file_bytes", .int(Int64(input.fileSize(file))))]
        }
        report += [("metadata", input.metadata), ("arrays", .list(arrays))]
        if let tree { report.append(("tree", tree.renderer.json(tree.root))) }
        return jsonText(.map(report))
    }
}

/// Renders a header value as JSON (array references as `{"$array": i}`,
/// bytes as `{"$bytes": n}`, non-finite floats as strings).
func jsonText(_ v: Value) -> String {
    switch v {
    case .null: return "null"
    case .bool(let b): return b ? "true" : "false"
    case .int(let i): return String(i)
    case .uint(let u): return String(u)
    case .float32(let f): return f.isFinite ? "\(f)" : "\"\(f)\""
    case .float64(let d): return d.isFinite ? "\(d)" : "\"\(d)\""
    case .string(let s): return jsonString(s)
    case .bytes(let b): return "{\"$bytes\": \(b.count)}"
    case .list(let l): return "[" + l.map(jsonText).joined(separator: ", ") + "]"
    case .map(let m): return "{" + m.map { "\(jsonString($0.key)): \(jsonText($0.value))" }.joined(separator: ", ") + "}"
    case .arrayRef(let i): return "{\"$array\": \(i)}"
    case .shared(let i, let x): return "{\"$shared\": \(i), \"value\": \(jsonText(x))}"
    case .sharedRef(let i): return "{\"$sameAs\": \(i)}"
    }
}

/// `s` as a JSON string literal (the library's one escaping rule).
func jsonString(_ s: String) -> String { Value.quoted(s) }
