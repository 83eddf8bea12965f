import Foundation

extension BrineFile {
    /// The node of the object tree at `path` and its coding path.
    ///
    /// `path` is a coding path written as array paths are (docs/FORMAT.md,
    /// "Partial loads"): keys and list positions joined by `.`, e.g.
    /// `encoder.layer.3` or `layers.2`; the empty string is the root. Each
    /// component may be escaped as in array paths (`%2E` for a `.` inside a
    /// key, `%25` for `%`, `%00` for the empty key). A map key that itself
    /// contains dots (a state-dict name such as `encoder.layer.3.weight`) is
    /// found too: at each map, the longest run of components that names a
    /// key wins.
    /// - Throws: ``BrineError`` `.invalidArgument` naming the path (in
    ///   ``BrineError/arrayPath``) and the first component that does not exist.
    func subtree(at path: String) throws(BrineError) -> (value: Value, node: CodingPathNode) {
        var value = root
        var node = CodingPathNode.root
        guard !path.isEmpty else { return (value, node) }
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map { BrineFile.unescape(String($0)) }
        var i = 0
        func fail(_ reason: String) -> BrineError {
            BrineError(.invalidArgument, "no value at path '\(path)': \(reason)", filePath: self.path, arrayPath: path)
        }
        func here() -> String { i == 0 ? "the root" : "'" + parts[0 ..< i].joined(separator: ".") + "'" }
        while i < parts.count {
            switch value {
            case .map(let entries):
                // The longest run of components that names a key. Runs longer
                // than the longest key cannot match, so the work per map is
                // bounded by its keys, whatever the length of the path.
                // Exact code points first (``NameIndex``): of two spellings
                // of one key, the path picks its own.
                var keys = NameIndex()
                var longest = 0
                for (k, e) in entries.enumerated() {
                    keys.insert(e.key, at: k)
                    longest = Swift.max(longest, e.key.utf8.count)
                }
                var match: (entry: Int, count: Int)?
                var run = parts[i]
                var n = 1
                while true {
                    if let k = keys[run] { match = (k, n) }
                    guard i + n < parts.count, run.utf8.count + 1 + parts[i + n].utf8.count <= longest else { break }
                    run += "." + parts[i + n]
                    n += 1
                }
                guard let (k, count) = match else { throw fail("\(here()) has no key '\(parts[i])'") }
                value = entries[k].value
                node = node.appending(BrineCodingKey(stringValue: entries[k].key))
                i += count
            case .list(let items):
                guard let k = Int(parts[i]), k >= 0, k < items.count else {
                    throw fail("\(here()) is a list of \(items.count) elements; '\(parts[i])' is not an index in 0..<\(items.count)")
                }
                value = items[k]
                node = node.appending(index: k)
                i += 1
            default:
                throw fail("\(here()) is \(value.kindName), which has no component '\(parts[i])'")
            }
        }
        return (value, node)
    }

    /// Undoes the array-path escaping of one component (`%2E`, `%25`, `%00`).
    static func unescape(_ component: String) -> String {
        guard component.contains("%") else { return component }
        if component == "%00" { return "" }
        return component.replacingOccurrences(of: "%2E", with: ".").replacingOccurrences(of: "%2e", with: ".")
            .replacingOccurrences(of: "%25", with: "%")
    }

    /// Decodes `type` from the sub-tree at `path` of this file's object
    /// tree, reading only the arrays it asks for (see
    /// ``Brine/load(_:from:at:mode:options:)``).
    /// - Parameters:
    ///   - type: the type of the sub-tree (a layer, a block, a tensor…).
    ///   - path: the coding path, e.g. `encoder.layer.3` or `layers.2`;
    ///     `""` for the whole model.
    /// - Returns: the decoded value; in mmap modes its tensors view the mapping.
    /// - Throws: ``BrineError`` `.invalidArgument` for a path with no value;
    ///   the file's errors; `.modelMismatch` (its ``BrineError/cause`` is the
    ///   `DecodingError` with the full coding path) when
    ///   the sub-tree does not fit `type`.
    public func decode<T: Decodable>(_ type: T.Type, at path: String) throws -> T {
        let (value, node) = try subtree(at: path)
        return try BrineDecoder().decode(type, from: self, value: value, at: node)
    }
}

extension Brine {
    /// Loads one part of a saved model: the sub-tree at a coding path
    /// (`"encoder.layer.3"`, `"layers.2"`), decoded as `type`. Only the
    /// arrays of that part are read, verified and decoded; the rest of the
    /// file is never touched.
    ///
    /// ```swift
    /// let block = try Brine.load(Dense.self, from: url, at: "layers.1")
    /// let w = try Brine.load(Tensor<Float>.self, from: url, at: "layers.1.weight", mode: .mmap)
    /// ```
    /// - Parameters:
    ///   - type: the type of the part.
    ///   - url: the file.
    ///   - path: the coding path, components joined by `.` (list positions
    ///     as decimal indices; escaping as in array paths, docs/FORMAT.md
    ///     "Partial loads"); `""` is the whole model.
    ///   - mode: `.copy` (default), `.mmap` or `.mmapCopyOnWrite`.
    ///   - options: verification, threads, limits.
    /// - Returns: the part.
    /// - Throws: ``BrineError`` `.invalidArgument` for a path that names no
    ///   value (the message says which component is missing; the path is in
    ///   ``BrineError/arrayPath``) or for `.mmapReadWrite`; the file's errors
    ///   (`.notFound`, `.checksumMismatch`…); `.modelMismatch`, whose cause is
    ///   the `DecodingError` with the full
    ///   coding path when the part does not fit `type`.
    public static func load<T: Decodable>(
        _ type: T.Type, from url: URL, at path: String, mode: LoadMode = .copy, options: ReadOptions = .init()
    ) throws -> T {
        guard mode != .mmapReadWrite else {
            throw BrineError(.invalidArgument, "load with .mmapReadWrite would leave no way to flush; use Brine.open, which returns the model with its file", filePath: url.path)
        }
        return try BrineFile(contentsOf: url, mode: mode, options: options).decode(type, at: path)
    }
}
