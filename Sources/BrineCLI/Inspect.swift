import ArgumentParser
import Brine
import Foundation

/// `brine inspect FILE`: the arrays (dtype, shape, codec, sizes, ratio),
/// metadata and object tree of a Brine file, read without loading array data.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a Brine file's arrays, dtypes, shapes, codecs, sizes, metadata and object tree.",
        discussion: "Other formats (GGUF, safetensors, .npy, .npz, …) show their tensors and metadata.")

    @Argument(help: "The file (.brine, or another format brine convert reads).")
    var file: String

    @Flag(help: "Also print the object tree (the model's structure).")
    var tree = false

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        do {
            if let listing = try interopListing(URL(fileURLWithPath: file)) {
                if json { print(listing.json) } else { listing.print(file: file) }
                return
            }
        } catch {
            throw Exit.report(error)
        }
        let f = try Exit.open(file)
        if json {
            print(jsonReport(f))
            return
        }
        let arrays = f.arrays
        let raw = arrays.reduce(0) { $0 + $1.storedRawBytes }
        let stored = arrays.reduce(0) { $0 + $1.storedBytes }
        print("file:     \(file)")
        print("format:   Brine \(f.formatVersion.major).\(f.formatVersion.minor), \(formatBytes(f.fileSize))")
        print("arrays:   \(arrays.count), \(formatBytes(raw)) raw, \(formatBytes(stored)) stored, ratio \(String(format: "%.3f", raw == 0 ? 1 : Double(raw) / Double(max(stored, 1))))")
        if case .map(let entries) = f.metadata, !entries.isEmpty {
            print("metadata:")
            for (k, v) in entries { print("  \(k): \(v)") }
        }
        if !arrays.isEmpty {
            print("")
            let header = ["path", "dtype", "shape", "codec", "filter", "chunks", "stored", "raw", "ratio", "offset"]
            var rows = [header]
            for a in arrays {
                let dtype = a.storedDType == a.dtype ? a.dtype.name : "\(a.dtype.name) (stored \(a.storedDType.name))"
                rows.append([
                    a.path, dtype, "[" + a.shape.map(String.init).joined(separator: ", ") + "]", a.codec.description,
                    a.filter.description, String(a.chunkCount), formatBytes(a.storedBytes), formatBytes(a.storedRawBytes),
                    String(format: "%.3f", a.compressionRatio), String(a.dataOffset),
                ])
            }
            let widths = header.indices.map { c in rows.map { $0[c].count }.max()! }
            for r in rows {
                print(r.enumerated().map { c, s in s + String(repeating: " ", count: widths[c] - s.count) }.joined(separator: "  "))
            }
        }
        if tree {
            print("")
            print("tree: \(f.root)")
        }
    }

    func jsonReport(_ f: BrineFile) -> String {
        var arrays: [Value] = []
        for a in f.arrays {
            arrays.append([
                "path": .string(a.path), "dtype": .string(a.dtype.name), "stored_dtype": .string(a.storedDType.name),
                "shape": .list(a.shape.map { .int(Int64($0)) }), "codec": .string(a.codec.description),
                "filter": .string(a.filter.description), "chunks": .int(Int64(a.chunkCount)),
                "stored_bytes": .int(Int64(a.storedBytes)), "raw_bytes": .int(Int64(a.storedRawBytes)),
                "data_offset": .int(Int64(a.dataOffset)), "alignment": .int(Int64(a.alignment)),
            ])
        }
        let report: Value = [
            "file": .string(file), "format": .string("\(f.formatVersion.major).\(f.formatVersion.minor)"),
            "file_bytes": .int(Int64(f.fileSize)), "metadata": f.metadata, "arrays": .list(arrays),
        ]
        return jsonText(report)
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
    }
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}
