import Brine

/// Renders a Brine object tree (docs/FORMAT.md, "Codable mapping") for
/// `brine inspect --tree`: as indented text, and as JSON. Out-of-line arrays
/// (`array_ref`) are shown with their path, dtype, shape and codec; inline
/// arrays (numeric lists, bytes, `Tensor`/`AnyTensor` maps) are summarised
/// by dtype, shape and their first values, so a tree stays readable whatever
/// the arrays hold.
struct TreeRenderer {
    /// What an `array_ref` points at.
    struct ArrayEntry {
        var path: String
        var dtype: String
        var shape: [Int]
        /// Storage details (`lz4+shuffle, 576.0 KiB`).
        var note: String
    }

    /// The file's arrays, by `array_ref` index.
    let arrays: [ArrayEntry]
    /// How many values of an inline array are shown.
    static let firstValues = 6
    /// How many elements of a list or map (of non-numbers) are shown as text before "… N more".
    static let maxItems = 64

    // MARK: Inline arrays

    /// An inline array found in the tree: its dtype name, shape and first values.
    struct InlineArray {
        var dtype: String
        var shape: [Int]
        var count: Int
        var first: [Value]
    }

    /// The element dtype of a numeric scalar value, `nil` for anything else.
    static func scalarKind(_ v: Value) -> String? {
        switch v {
        case .bool: return "bool"
        case .int: return "int64"
        case .uint: return "uint64"
        case .float32: return "float32"
        case .float64: return "float64"
        default: return nil
        }
    }

    /// The inline-array reading of `v`, or `nil` when it is not one: a list
    /// of two or more numbers of one kind, bytes, or a map with `shape` and
    /// `scalars` (and optionally `dtype`) keys only.
    static func inlineArray(_ v: Value) -> InlineArray? {
        switch v {
        case .bytes(let b):
            return InlineArray(dtype: "uint8", shape: [b.count], count: b.count, first: b.prefix(firstValues).map { .uint(UInt64($0)) })
        case .list(let l) where l.count >= 2:
            guard let kind = scalarKind(l[0]), l.allSatisfy({ scalarKind($0) == kind }) else { return nil }
            return InlineArray(dtype: kind, shape: [l.count], count: l.count, first: Array(l.prefix(firstValues)))
        case .map(let m):
            let keys = Set(m.map(\.key))
            guard keys == ["shape", "scalars"] || keys == ["dtype", "shape", "scalars"],
                  case .list(let dims)? = v["shape"], let scalars = v["scalars"] else { return nil }
            let shape = dims.compactMap { $0.int64Value.map(Int.init) }
            guard shape.count == dims.count else { return nil }
            var inner: InlineArray
            if let found = inlineArray(scalars) {
                inner = found
            } else if case .list(let l) = scalars, l.count <= 1 {
                inner = InlineArray(dtype: l.first.flatMap(scalarKind) ?? "?", shape: [l.count], count: l.count, first: l)
            } else {
                return nil
            }
            if case .string(let d)? = v["dtype"] { inner.dtype = d }
            inner.shape = shape
            return inner
        default:
            return nil
        }
    }

    /// `float32 [2, 3]: 0.5, 1.0, … (6 values)`.
    static func summary(_ a: InlineArray) -> String {
        let values = a.first.map(jsonText).joined(separator: ", ")
        let more = a.count > a.first.count ? ", …" : ""
        return "inline \(a.dtype) \(shapeText(a.shape)): [\(values)\(more)]"
    }

    /// `[384, 384]`.
    static func shapeText(_ shape: [Int]) -> String {
        "[" + shape.map(String.init).joined(separator: ", ") + "]"
    }

    /// `→ array 'path' float32 [384, 384] lz4, 576.0 KiB`.
    func refText(_ i: Int) -> String {
        guard i < arrays.count else { return "→ array #\(i)" }
        let a = arrays[i]
        return "→ array '\(a.path)' \(a.dtype) \(Self.shapeText(a.shape)), \(a.note)"
    }

    // MARK: Text

    /// The tree as indented lines, two spaces per level.
    func lines(_ root: Value) -> [String] {
        var out: [String] = []
        render(root, label: "root", indent: 0, into: &out)
        return out
    }

    private func render(_ v: Value, label: String, indent: Int, into out: inout [String]) {
        let pad = String(repeating: "  ", count: indent)
        if let a = Self.inlineArray(v) {
            out.append("\(pad)\(label): \(Self.summary(a))")
            return
        }
        switch v {
        case .arrayRef(let i):
            out.append("\(pad)\(label): \(refText(i))")
        case .map(let m) where !m.isEmpty:
            out.append("\(pad)\(label):")
            for (k, x) in m.prefix(Self.maxItems) { render(x, label: k, indent: indent + 1, into: &out) }
            if m.count > Self.maxItems { out.append("\(pad)  … \(m.count - Self.maxItems) more") }
        case .list(let l) where !l.isEmpty:
            out.append("\(pad)\(label): (\(l.count) items)")
            for (k, x) in l.prefix(Self.maxItems).enumerated() { render(x, label: "[\(k)]", indent: indent + 1, into: &out) }
            if l.count > Self.maxItems { out.append("\(pad)  … \(l.count - Self.maxItems) more") }
        case .map: out.append("\(pad)\(label): {}")
        case .list: out.append("\(pad)\(label): []")
        default:
            out.append("\(pad)\(label): \(jsonText(v))")
        }
    }

    // MARK: JSON

    /// The tree as a JSON value: maps and lists as they are, `array_ref` as
    /// `{"$array": {"index", "path", "dtype", "shape"}}`, inline arrays as
    /// `{"$inline": {"dtype", "shape", "count", "first"}}`.
    func json(_ v: Value) -> Value {
        if let a = Self.inlineArray(v) {
            return ["$inline": [
                "dtype": .string(a.dtype), "shape": .list(a.shape.map { .int(Int64($0)) }),
                "count": .int(Int64(a.count)), "first": .list(a.first),
            ]]
        }
        switch v {
        case .arrayRef(let i):
            guard i < arrays.count else { return ["$array": ["index": .int(Int64(i))]] }
            let a = arrays[i]
            return ["$array": [
                "index": .int(Int64(i)), "path": .string(a.path), "dtype": .string(a.dtype),
                "shape": .list(a.shape.map { .int(Int64($0)) }),
            ]]
        case .map(let m): return .map(m.map { (key: $0.key, value: json($0.value)) })
        case .list(let l): return .list(l.map(json))
        default: return v
        }
    }

    // MARK: Flat formats

    /// The entries of a Brine file's array table.
    static func entries(_ arrays: [ArrayInfo]) -> [ArrayEntry] {
        arrays.map { a in
            ArrayEntry(path: a.path, dtype: a.dtype.name, shape: a.shape,
                       note: "\(a.codec)\(a.filter == .shuffle ? "+shuffle" : ""), \(formatBytes(a.byteCount))")
        }
    }

    /// A tree for formats without one (safetensors, .npz, .npy): the array
    /// names split at `.` into nested maps, each leaf an `array_ref`.
    static func tree(ofNames names: [String]) -> Value {
        final class Node {
            var children: [(key: String, node: Node)] = []
            var index: [String: Int] = [:]
            var leaf: Int?
            func child(_ k: String) -> Node {
                if let c = index[k] { return children[c].node }
                let n = Node()
                index[k] = children.count
                children.append((k, n))
                return n
            }
            func value() -> Value {
                if let leaf, children.isEmpty { return .arrayRef(leaf) }
                var entries = children.map { (key: $0.key, value: $0.node.value()) }
                if let leaf { entries.insert((key: "", value: .arrayRef(leaf)), at: 0) }
                return .map(entries)
            }
        }
        let root = Node()
        for (i, name) in names.enumerated() {
            var n = root
            for part in name.split(separator: ".", omittingEmptySubsequences: false) { n = n.child(String(part)) }
            n.leaf = n.leaf ?? i
        }
        return root.value()
    }
}
