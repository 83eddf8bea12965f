import Foundation

// What a conversion does with the parts of a Brine file that are neither
// arrays nor string metadata: the object tree (a model's structure and its
// hyper-parameters) and its root type. Never dropped quietly:
// - safetensors carries them in its string metadata (keys `brine.tree`,
//   `brine.tree.arrays`, `brine.root_type`), so brine → safetensors → brine
//   gives back a file that `Brine.load` reads as before;
// - .npy/.npz hold no metadata at all: writing a bundle that has metadata or
//   a model tree there is refused unless the caller opts in with
//   ``TensorBundleWriteOptions/dropMetadata`` (`brine convert --drop-metadata`).
// docs/WORKFLOWS.md, "Converting without loss".

extension BrineTree {
    /// safetensors metadata key holding the object tree (a ``MetadataText``
    /// value whose array references index `brine.tree.arrays`).
    static let treeKey = "brine.tree"
    /// safetensors metadata key holding the list of out-of-line array paths
    /// (the array table's order) that the tree's references index.
    static let arraysKey = "brine.tree.arrays"
    /// The root type, as Brine's own metadata key.
    static let rootTypeKey = "brine.root_type"
    /// safetensors metadata key holding the alias paths of shared arrays as
    /// a list of `[path, index]` pairs (index into `brine.tree.arrays`).
    static let aliasesKey = "brine.tree.aliases"

    /// Whether the tree holds more than a flat map from names to arrays (the
    /// tree of a weights file or of a converted safetensors file): nesting,
    /// scalars, strings or an inline array under a nested path.
    var isMoreThanFlatArrays: Bool {
        if case .null = root { return false }  // a low-level file without a tree
        guard case .map(let entries) = root else { return true }
        for (_, v) in entries {
            if case .arrayRef = v { continue }
            return true
        }
        return false
    }

    /// The metadata entries that carry this tree through safetensors.
    func metadataEntries() throws(BrineError) -> [String: String] {
        var w = ByteWriter()
        Header.encodeValue(root, into: &w)
        var out = [
            Self.treeKey: MetadataText.valuePrefix + Data(w.bytes).base64EncodedString(),
            Self.arraysKey: try MetadataText.text(for: .list(outOfLine.map(Value.string)), key: Self.arraysKey),
        ]
        if let rootType { out[Self.rootTypeKey] = try MetadataText.text(for: rootType, key: Self.rootTypeKey) }
        if !aliases.isEmpty {
            let list = Value.list(aliases.map { .list([.string($0.path), .uint(UInt64($0.index))]) })
            out[Self.aliasesKey] = try MetadataText.text(for: list, key: Self.aliasesKey)
        }
        return out
    }

    /// Restores a tree carried in safetensors metadata: removes the keys from
    /// `metadata` and puts the tree's arrays first, in its order. Returns nil
    /// (and leaves everything as it was) when the metadata carries no tree.
    /// - Throws: ``BrineError`` `.invalidInterop` when the keys do not decode,
    ///   or name arrays the file does not hold.
    static func restore(
        metadata: inout [String: String], tensors: inout [(name: String, tensor: AnyTensor)], path: String
    ) throws(BrineError) -> BrineTree? {
        guard let treeText = metadata[treeKey], let arraysText = metadata[arraysKey] else { return nil }
        guard case .list(let items) = try MetadataText.value(from: arraysText, key: arraysKey) else {
            throw BrineError(.invalidInterop, "metadata key '\(arraysKey)' is not a list of array paths", filePath: path)
        }
        var names: [String] = []
        for item in items {
            guard case .string(let s) = item else {
                throw BrineError(.invalidInterop, "metadata key '\(arraysKey)' holds a value that is not a string", filePath: path)
            }
            names.append(s)
        }
        guard treeText.hasPrefix(MetadataText.valuePrefix),
              let data = Data(base64Encoded: String(treeText.dropFirst(MetadataText.valuePrefix.count))) else {
            throw BrineError(.invalidInterop, "metadata key '\(treeKey)' is not a base64 Brine value", filePath: path)
        }
        let bytes = [UInt8](data)
        let count = names.count
        let root: Value = try typedThrows {
            try bytes.withUnsafeBytes { (b) throws(BrineError) -> Value in
                var r = ByteReader(b, fileOffset: 0, errorCode: .invalidInterop, filePath: path)
                let v = try Header.decodeValue(&r, depth: 1, limits: ReadLimits(), arrayCount: count, allowArrayRefs: true)
                guard r.isAtEnd else { throw r.fail("\(r.remaining) bytes after the tree in metadata key '\(treeKey)'") }
                return v
            }
        }
        var rootType: Value?
        if let t = metadata[rootTypeKey] { rootType = try MetadataText.value(from: t, key: rootTypeKey) }
        let inline = try InlineArrayExport.collect(root)
        var aliases: [(path: String, index: Int)] = []
        if let text = metadata[aliasesKey] {
            guard case .list(let pairs) = try MetadataText.value(from: text, key: aliasesKey) else {
                throw BrineError(.invalidInterop, "metadata key '\(aliasesKey)' is not a list", filePath: path)
            }
            for pair in pairs {
                guard case .list(let two) = pair, two.count == 2, case .string(let p) = two[0],
                      case .uint(let i) = two[1], i < UInt64(count) else {
                    throw BrineError(.invalidInterop, "metadata key '\(aliasesKey)' holds an entry that is not [path, index < \(count)]", filePath: path)
                }
                aliases.append((p, Int(i)))
            }
        }
        // The tree's arrays first, in its order; anything else after them.
        // By code points: two spellings of a name are two arrays.
        var byName: [ExactName: AnyTensor] = [:]
        for (n, t) in tensors { byName[ExactName(n)] = t }
        var ordered: [(name: String, tensor: AnyTensor)] = []
        var used = Set<ExactName>()
        for n in names + inline.map(\.path) + aliases.map(\.path) {
            guard let t = byName[ExactName(n)], used.insert(ExactName(n)).inserted else {
                throw BrineError(.invalidInterop, "metadata key '\(treeKey)' refers to array '\(n)', which this file does not hold (once)", filePath: path, arrayPath: n)
            }
            ordered.append((n, t))
        }
        ordered += tensors.filter { !used.contains(ExactName($0.name)) }
        tensors = ordered
        metadata[treeKey] = nil
        metadata[arraysKey] = nil
        metadata[rootTypeKey] = nil
        metadata[aliasesKey] = nil
        return BrineTree(root: root, outOfLine: names, inline: inline, rootType: rootType, aliases: aliases)
    }
}

extension TensorBundle {
    /// What writing this bundle to `.npy`/`.npz` would leave out, since
    /// NumPy files hold arrays only: the metadata keys (sorted), and whether a
    /// Brine model's object tree (anything beyond a flat map from names to
    /// arrays: nesting, scalars, strings) would be lost.
    /// - Returns: `([], false)` when a NumPy file can hold everything.
    public func contentNumPyCannotHold() -> (metadataKeys: [String], objectTree: Bool) {
        let tree = (brineTree.map { $0.matches(tensors) && $0.isMoreThanFlatArrays } ?? false) || root != nil
        return (metadata.keys.sorted(), tree)
    }

    /// Throws when the bundle came from a Brine model whose tree holds more
    /// than its arrays but whose arrays changed since it was read (an inline
    /// array's values, an alias's copy, arrays added, removed or renamed):
    /// the tree no longer describes them, and writing the arrays without it
    /// would drop the model's structure and hyper-parameters. Not when the
    /// caller opted in with `dropMetadata`.
    /// - Throws: ``BrineError`` `.unsupportedFeature`.
    func checkTreeKept(_ options: TensorBundleWriteOptions, path: String) throws(BrineError) {
        guard !options.dropMetadata, let tree = brineTree, tree.isMoreThanFlatArrays, !tree.matches(tensors) else { return }
        throw BrineError(
            .unsupportedFeature,
            "the bundle's arrays changed since it was read from a Brine model (an inline array's values, a shared array's copy under its other name, arrays added, removed or renamed), so the model's object tree (structure, hyper-parameters) no longer describes them and cannot be written; set dropMetadata (brine convert --drop-metadata) to write the arrays as a flat map, or change the model and save it with Brine.save",
            filePath: path)
    }

    /// The user keys (not `brine.*`) of a Brine metadata map as bundle text
    /// (``MetadataText``).
    /// - Throws: ``BrineError`` `.unsupportedFeature` for two keys that are
    ///   canonically equivalent spellings (a `[String: String]` would merge
    ///   them: one value lost, one name changed); `.invalidInterop` from
    ///   ``MetadataText/text(for:key:)``.
    static func userMetadataText(_ metadata: Value, path: String?) throws(BrineError) -> [String: String] {
        var meta: [String: String] = [:]
        guard case .map(let entries) = metadata else { return meta }
        for (k, v) in entries where !k.hasPrefix("brine.") {
            try meta.refuseOtherSpelling(of: k, names: "metadata keys", holder: "a bundle's [String: String] metadata (read BrineFile.metadata, a Value map, instead)") {
                BrineError(.unsupportedFeature, $0, filePath: path)
            }
            meta[k] = try MetadataText.text(for: v, key: k)
        }
        return meta
    }

    /// Names what an output cannot hold, for the refusals of every writer and
    /// of `brine convert`: `"<label> ('a', 'b', …) and the model's object
    /// tree (…)"`, at most eight keys listed; empty when there is nothing.
    package static func describeUnkept(keys: [String], label: String = "metadata keys", tree: Bool) -> String {
        var what: [String] = []
        if !keys.isEmpty { what.append("\(label) (\(keys.prefix(8).map { "'\($0)'" }.joined(separator: ", "))\(keys.count > 8 ? ", …" : ""))") }
        if tree { what.append("the model's object tree (its structure and non-array values such as hyper-parameters)") }
        return what.joined(separator: " and ")
    }

    /// Throws unless the bundle can be written to NumPy without loss or the
    /// caller opted in to dropping what NumPy cannot hold.
    func checkNumPyOutput(_ format: TensorFileFormat, options: TensorBundleWriteOptions, path: String) throws(BrineError) {
        guard !options.dropMetadata else { return }
        let (keys, tree) = contentNumPyCannotHold()
        guard !keys.isEmpty || tree else { return }
        throw BrineError(
            .unsupportedFeature,
            ".\(format) files hold arrays only; this bundle also has \(TensorBundle.describeUnkept(keys: keys, tree: tree)). Set dropMetadata (brine convert --drop-metadata) to leave them out, or convert to safetensors or Brine, which keep them",
            filePath: path)
    }
}

extension TensorBundle {
    /// The metadata entries that would carry this bundle's tree through
    /// safetensors (empty without a tree); for tests.
    func treeMetadataForTests() throws(BrineError) -> [String: String] {
        try brineTree?.metadataEntries() ?? [:]
    }
}
