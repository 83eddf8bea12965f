import Brine
import BrineHDF5
import BrineONNX
import Foundation

/// What `brine inspect` shows of a file in another format: its tensors
/// (name, element type, C-order shape, stored bytes, file offset when the
/// format has one) and its metadata, read without loading tensor data.
struct InteropListing {
    var format: String
    var fileBytes: Int
    var metadata: [(key: String, value: String)] = []
    var tensors: [(name: String, type: String, shape: [Int], bytes: Int, offset: Int?)] = []

    /// An empty listing.
    init(format: String, fileBytes: Int) {
        self.format = format
        self.fileBytes = fileBytes
    }

    /// The listing of a bundle read whole: its metadata sorted by key, its
    /// tensors with their loaded sizes and no file offsets.
    init(format: String, fileBytes: Int, bundle b: TensorBundle) {
        self.init(format: format, fileBytes: fileBytes)
        metadata = b.metadata.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        tensors = b.tensors.map { ($0.name, $0.tensor.dtype.name, $0.tensor.shape, $0.tensor.byteCount, nil) }
    }

    /// Prints the listing as `brine inspect` does for Brine files; long
    /// metadata values (token lists, configs) are cut to one line.
    func print(file: String) {
        Swift.print("file:     \(file)")
        Swift.print("format:   \(format), \(formatBytes(fileBytes))")
        Swift.print("tensors:  \(tensors.count), \(formatBytes(tensors.reduce(0) { $0 + $1.bytes }))")
        if !metadata.isEmpty {
            Swift.print("metadata:")
            for (k, v) in metadata {
                let flat = v.replacingOccurrences(of: "\n", with: "\\n")
                Swift.print("  \(k): \(flat.count > 120 ? String(flat.prefix(117)) + "…" : flat)")
            }
        }
        guard !tensors.isEmpty else { return }
        Swift.print("")
        let header = ["name", "type", "shape", "bytes", "offset"]
        var rows = [header]
        for t in tensors {
            rows.append([t.name, t.type, "[" + t.shape.map(String.init).joined(separator: ", ") + "]", formatBytes(t.bytes),
                         t.offset.map(String.init) ?? "-"])
        }
        let widths = header.indices.map { c in rows.map { $0[c].count }.max()! }
        for r in rows {
            Swift.print(r.enumerated().map { c, s in s + String(repeating: " ", count: widths[c] - s.count) }.joined(separator: "  "))
        }
    }

    /// The listing as JSON.
    var json: String {
        let report: Value = [
            "format": .string(format), "file_bytes": .int(Int64(fileBytes)),
            "metadata": .map(metadata.map { ($0.key, Value.string($0.value)) }),
            "tensors": .list(tensors.map { t in
                ["name": .string(t.name), "type": .string(t.type), "shape": .list(t.shape.map { .int(Int64($0)) }),
                 "bytes": .int(Int64(t.bytes)), "offset": t.offset.map { .int(Int64($0)) } ?? .null]
            }),
        ]
        return jsonText(report)
    }
}

extension Inspect {
    /// The listing of a non-Brine file, or `nil` for a Brine file.
    func interopListing(_ url: URL) throws(BrineError) -> InteropListing? {
        let format = try TensorFileFormat.detect(contentsOf: url)
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        switch format {
        case .brine:
            return nil
        case .gguf:
            let g = try GGUFFile(contentsOf: url)
            var l = InteropListing(format: "GGUF \(g.version), alignment \(g.alignment)", fileBytes: size)
            l.metadata = g.metadata.map { ($0.key, "\($0.value.typeName ?? "ARRAY") \($0.value.text)") }
            l.tensors = g.tensors.map { ($0.name, $0.type.name, $0.shape, $0.byteCount, $0.fileOffset) }
            return l
        case .onnx:
            let m = try ONNXModel(contentsOf: url)
            var l = InteropListing(format: "ONNX", fileBytes: size)
            l.metadata = m.metadata.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            l.tensors = m.initializers.map { i in
                let bytes = ONNXDataType.dtype(i.dataType).flatMap { Shape.byteCount(i.dims, itemSize: $0.itemSize) } ?? 0
                return (i.name, ONNXDataType.name(i.dataType), i.dims, bytes, nil)
            }
            return l
        case .h5, .keras:
            let b = try IsolatedHDF5.read(url, keras: format == .keras, skipUnconvertibleAttributes: true)  // libhdf5 may crash on damaged files
            return InteropListing(format: format == .h5 ? "HDF5" : "Keras (.keras zip)", fileBytes: size, bundle: b)
        default:
            return InteropListing(format: format.description, fileBytes: size, bundle: try TensorBundle(contentsOf: url, format: format, mode: .mmap))
        }
    }
}
