/// Shared references in the object tree (format 1.1; docs/FORMAT.md,
/// "Shared references"): a class instance met in several places of a model
/// (and a small tensor whose storage is), written once as a `shared` node
/// and elsewhere as `shared_ref`, as pickle's memo does.
enum SharedNodes {
    /// The tree as written: `shared` wrappers of instances met only once are
    /// dropped; the others are numbered 0, 1, 2, … in pre-order; the first
    /// place in pre-order holds the definition (a definition the encoder met
    /// after a reference, through a custom `encode(to:)` order, trades
    /// places with that reference: both are the same object).
    /// - Parameters:
    ///   - root: the encoder's tree, every class instance's first place wrapped in `.shared`.
    ///   - refCount: provisional id → number of `.sharedRef` to it.
    static func normalize(_ root: Value, refCount: [Int: Int]) -> Value {
        var definitions: [Int: Value] = [:]
        var stack = [root]
        while let v = stack.popLast() {
            switch v {
            case .shared(let i, let x): definitions[i] = x; stack.append(x)
            case .list(let l): stack.append(contentsOf: l)
            case .map(let m): stack.append(contentsOf: m.map(\.value))
            default: break
            }
        }
        var newID: [Int: Int] = [:]
        func rewrite(_ v: Value) -> Value {
            switch v {
            case .shared(let i, let x):
                guard refCount[i, default: 0] > 0 else { return rewrite(x) }
                if let n = newID[i] { return .sharedRef(n) }
                let n = newID.count
                newID[i] = n
                return .shared(n, rewrite(x))
            case .sharedRef(let i):
                if let n = newID[i] { return .sharedRef(n) }
                let n = newID.count
                newID[i] = n
                return .shared(n, rewrite(definitions[i] ?? .null))
            case .list(let l): return .list(l.map(rewrite))
            case .map(let m): return .map(m.map { ($0.key, rewrite($0.value)) })
            default: return v
            }
        }
        return rewrite(root)
    }

    /// The definitions of a tree's shared nodes by id (iterative walk).
    static func definitions(in root: Value) -> [Int: Value] {
        var out: [Int: Value] = [:]
        var stack = [root]
        while let v = stack.popLast() {
            switch v {
            case .shared(let i, let x): if out[i] == nil { out[i] = x }; stack.append(x)
            case .list(let l): stack.append(contentsOf: l)
            case .map(let m): stack.append(contentsOf: m.map(\.value))
            default: break
            }
        }
        return out
    }
}

extension BrineDecodingImpl {
    /// Decodes a `shared` node or a `shared_ref`: the first decode of an id
    /// is kept (the memo), later ones return it, so a class instance comes
    /// back as one instance (`===`) and a small tied tensor as one storage.
    /// - Throws: `DecodingError.typeMismatch` when a class instance decoded
    ///   as one type is requested as an unrelated one; `.dataCorrupted` for
    ///   a reference to an unknown id or into its own definition.
    func decodeShared<T: Decodable>(_ type: T.Type, id: Int, definition: Value?, at node: CodingPathNode) throws -> T {
        if let m = state.memo[id] {
            if let t = m as? T { return t }
            if T.self is AnyObject.Type {
                throw DecodingError.typeMismatch(T.self, .init(
                    codingPath: node.path,
                    debugDescription: "shared object #\(id) was decoded as \(Swift.type(of: m)); \(T.self) is requested here, so one instance cannot serve both"))
            }
        }
        guard let def = definition ?? state.sharedDefinition(id) else {
            throw DecodingError.dataCorrupted(.init(codingPath: node.path, debugDescription: "reference to shared node #\(id), which the tree does not define"))
        }
        guard state.decodingShared.insert(id).inserted else {
            throw DecodingError.dataCorrupted(.init(codingPath: node.path, debugDescription: "shared node #\(id) refers to itself"))
        }
        defer { state.decodingShared.remove(id) }
        let v = try unwrap(T.self, from: def, at: node)
        if state.memo[id] == nil { state.memo[id] = v }
        return v
    }
}
