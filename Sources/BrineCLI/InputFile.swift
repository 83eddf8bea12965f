import ArgumentParser
import Brine
import Foundation

/// A tensor file of any format `brine convert` reads (Brine, safetensors,
/// .npy, .npz), opened for `inspect` and `verify`: headers are read and
/// validated on open; array data only by ``verify(progress:)``.
enum InputFile {
    case brine(BrineFile)
    case safetensors(SafetensorsFile)
    case npy(URL, NpyHeader)
    case npz(NpzFile)

    /// One array as `inspect` lists it.
    struct Entry {
        var path: String
        var dtype: String
        var shape: [Int]
        /// Bytes of the array's data as stored in the file.
        var storedBytes: Int
        /// Bytes of the array when loaded.
        var byteCount: Int
        /// Absolute file offset of its data, where the format has one.
        var dataOffset: Int?
        /// Storage details (`deflated`, `big-endian`, `Fortran order`).
        var note: String
    }

    /// The result of ``verify(progress:)``.
    struct Report {
        var failures: [BrineError] = []
        var arrays = 0
        /// Brine chunks checked (0 for other formats).
        var chunks = 0
        /// Bytes of array data read.
        var bytes = 0
        /// What was checked: `"xxh3-64"` (Brine), `"crc32"` (.npz), `"structure"` (safetensors, .npy: no checksums).
        var checks = ""
    }

    /// Opens `path`, detecting its format from its content (then its extension).
    /// - Throws: ``BrineError`` from detection and the format's reader.
    /// - Parameter threads: reader threads; `nil` for the library's default.
    static func open(_ path: String, threads: Int? = nil) throws(BrineError) -> InputFile {
        let url = URL(fileURLWithPath: path)
        let threads = ThreadsOptionGroup.Values(threads: threads)
        let format = try TensorFileFormat.detect(contentsOf: url)
        switch format {
        case .brine:
            return .brine(try BrineFile(contentsOf: url, mode: .copy, options: threads.readOptions))
        case .safetensors:
            return .safetensors(try SafetensorsFile(contentsOf: url, mode: .copy, options: threads.interopOptions))
        case .npy:
            return .npy(url, try Npy.readHeader(contentsOf: url, options: threads.interopOptions))
        case .npz:
            return .npz(try NpzFile(contentsOf: url, options: threads.interopOptions))
        case .pickle:
            throw BrineError(.unsupportedFeature, "a pickle or joblib file has no checksums or array table to verify; `brine inspect` reads it (without running code) and `brine convert` turns it into Brine", filePath: path)
        case .gguf, .onnx, .h5, .keras:
            throw BrineError(.unsupportedFeature, "`brine verify` checks Brine, safetensors, .npy and .npz files; `brine inspect` reads \(format) files and `brine convert` turns them into Brine", filePath: path)
        }
    }

    /// The format's name.
    var format: TensorFileFormat {
        switch self {
        case .brine: return .brine
        case .safetensors: return .safetensors
        case .npy: return .npy
        case .npz: return .npz
        }
    }

    /// The reader of a Brine, safetensors or `.npz` file; `nil` for `.npy`
    /// (one array and its header, read by ``Npy``).
    var reader: (any TensorReader)? {
        switch self {
        case .brine(let f): return f
        case .safetensors(let f): return f
        case .npz(let f): return f
        case .npy: return nil
        }
    }

    /// The file's size in bytes.
    func fileSize(_ path: String) -> Int {
        if let reader { return reader.fileSize }
        return (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    /// The metadata: Brine's map, safetensors' `__metadata__` (sorted by key), none for NumPy.
    var metadata: Value {
        switch self {
        case .brine(let f): return f.metadata
        case .safetensors(let f): return .map(f.metadata.sorted { $0.key < $1.key }.map { (key: $0.key, value: .string($0.value)) })
        case .npy, .npz: return .map([])
        }
    }

    /// The arrays in file order. For `.npz`, reading dtype and shape loads
    /// each member (the archive's directory has neither).
    /// - Throws: ``BrineError`` from loading `.npz` members.
    func entries() throws(BrineError) -> [Entry] {
        switch self {
        case .brine(let f):
            return f.arrays.map { a in
                Entry(path: a.path, dtype: a.dtype.name, shape: a.shape, storedBytes: a.storedBytes, byteCount: a.byteCount,
                      dataOffset: a.dataOffset, note: a.storedDType == a.dtype ? "" : "stored \(a.storedDType.name)")
            }
        case .safetensors(let f):
            return f.entries.map { e in
                Entry(path: e.name, dtype: e.dtype.name, shape: e.shape, storedBytes: e.byteCount, byteCount: e.byteCount,
                      dataOffset: e.fileOffset, note: "")
            }
        case .npy(let url, let h):
            var notes: [String] = []
            if h.isBigEndian { notes.append("big-endian") }
            if h.fortranOrder { notes.append("Fortran order") }
            return [Entry(path: url.deletingPathExtension().lastPathComponent, dtype: h.dtype.name, shape: h.shape,
                          storedBytes: h.byteCount, byteCount: h.byteCount, dataOffset: h.dataOffset, note: notes.joined(separator: ", "))]
        case .npz(let f):
            var out: [Entry] = []
            for m in f.members {
                let t = try f.tensor(m.name)
                out.append(Entry(path: m.name, dtype: t.dtype.name, shape: t.shape, storedBytes: m.compressedSize,
                                 byteCount: t.byteCount, dataOffset: nil, note: m.isCompressed ? "deflated" : "stored"))
            }
            return out
        }
    }

    /// The object tree: a Brine file's own; for other formats the array
    /// names split at `.` (see ``TreeRenderer/tree(ofNames:)``).
    /// - Throws: ``BrineError`` from ``entries()``.
    func tree() throws(BrineError) -> (root: Value, renderer: TreeRenderer) {
        if case .brine(let f) = self {
            return (f.root, TreeRenderer(arrays: TreeRenderer.entries(f.arrays)))
        }
        let list = try entries()
        let refs = list.map { TreeRenderer.ArrayEntry(path: $0.path, dtype: $0.dtype, shape: $0.shape, note: formatBytes($0.byteCount)) }
        return (TreeRenderer.tree(ofNames: list.map(\.path)), TreeRenderer(arrays: refs))
    }

    /// Checks the whole file and never stops at the first problem:
    /// - Brine: the trailer and header (on open), then every chunk's XXH3-64
    ///   checksum and that every compressed chunk decodes to its declared size.
    /// - safetensors, .npy: the structure (everything the reader validates on
    ///   open: header, dtypes, shapes, offsets within the file, no overlaps),
    ///   then every array's bytes read (the formats have no checksums).
    /// - .npz: the zip directory, then every member read and its CRC-32 checked.
    func verify(progress: Progress) -> Report {
        var r = Report()
        r.checks = format == .brine ? "xxh3-64" : format == .npz ? "crc32" : "structure"
        guard let reader else {
            // .npy: one array, read whole.
            guard case .npy(let url, let h) = self else { return r }
            r.arrays = 1
            r.bytes = h.byteCount
            do throws(BrineError) {
                _ = try Npy.read(contentsOf: url, mode: .copy)
            } catch {
                r.failures.append(error)
            }
            return r
        }
        r.arrays = reader.tensorNames.count
        if case .brine(let f) = self { r.chunks = f.arrays.reduce(0) { $0 + $1.chunkCount } }
        r.bytes = reader.storedByteCounts.reduce(0, +)
        r.failures = reader.verify(progress: progress.update)
        return r
    }
}
