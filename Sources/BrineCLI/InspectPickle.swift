import ArgumentParser
import Brine
import Foundation

extension Inspect {
    /// `brine inspect model.joblib`: the classes the file names, its arrays
    /// (path, dtype, shape, bytes) and, with `--tree` (or always for JSON),
    /// the object tree; read without running any code (docs/PICKLE.md).
    func inspectPickle() throws {
        let content: PickleContent
        do {
            content = try Pickle.read(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw Exit.report(error)
        }
        if json {
            let arrays: [Value] = content.arrays.map {
                ["path": .string($0.path), "dtype": .string($0.tensor.dtype.name),
                 "shape": .list($0.tensor.shape.map { .int(Int64($0)) }), "bytes": .int(Int64($0.tensor.byteCount))]
            }
            let report: Value = [
                "file": .string(file), "format": .string(content.isJoblib ? "joblib" : "pickle"),
                "protocol": .int(Int64(content.protocolVersion)), "compression": .string(content.compression.rawValue),
                "classes": .list(content.classes.map { .string($0) }), "arrays": .list(arrays), "tree": content.root,
            ]
            print(jsonText(report))
            return
        }
        let raw = content.arrays.reduce(0) { $0 + $1.tensor.byteCount }
        print("file:     \(file)")
        print("format:   \(content.isJoblib ? "joblib" : "pickle"), protocol \(content.protocolVersion), compression \(content.compression.rawValue) (read without running code)")
        print("arrays:   \(content.arrays.count), \(formatBytes(raw))")
        print("classes:  \(content.classes.isEmpty ? "none" : "")")
        for c in content.classes { print("  \(c)") }
        if !content.arrays.isEmpty {
            print("")
            let header = ["path", "dtype", "shape", "bytes"]
            var rows = [header]
            for (p, t) in content.arrays {
                rows.append([p, t.dtype.name, "[" + t.shape.map(String.init).joined(separator: ", ") + "]", formatBytes(t.byteCount)])
            }
            let widths = header.indices.map { c in rows.map { $0[c].count }.max()! }
            for r in rows {
                print(r.enumerated().map { c, s in s + String(repeating: " ", count: widths[c] - s.count) }.joined(separator: "  "))
            }
        }
        print("")
        let text = content.root.description
        if tree || text.count <= 4000 {
            print("tree: \(text)")
        } else {
            print("tree: \(text.prefix(4000))… (\(text.count) characters; --tree prints it all)")
        }
    }
}
