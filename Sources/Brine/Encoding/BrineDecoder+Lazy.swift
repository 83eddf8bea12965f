/// Loads a file's arrays while a value is decoded, only those the decoded
/// type asks for (docs/FORMAT.md, "Partial loads").
///
/// When an array is asked for, the outermost *prefetch scope* on the
/// decoder's stack that has not been loaded yet is loaded at once: every
/// array its sub-tree references, all chunks in parallel
/// (``BrineFile/load(_:)``), so that a full load keeps the parallel decode of
/// ``BrineFile/loadAll()``. A prefetch scope is a nested struct, list or
/// dictionary reached through a container (a field, an element), or a
/// collection type (`Array`, `Dictionary`, `Set`, which decode every
/// element) anywhere. The top-level value itself is a *shallow* scope
/// unless it is a collection: an array it holds directly (a field, not one
/// nested in a sub-module) loads every array it holds directly, in one
/// batch, and nothing below. That batch is only a prefetch: if it fails
/// (a damaged or unreadable sibling, the allocation cap), the array asked
/// for is loaded alone and only its own error counts. A config-only struct,
/// or one that reads a single sub-module (however it reaches it: a nested
/// type, `nestedContainer`, `superDecoder`), never causes the other fields'
/// arrays to be read.
///
/// One loader serves one decode, on one thread. Arrays are cached by index,
/// so two references to one array share one storage. The bytes allocated
/// for arrays (zero-copy views excluded) are capped by
/// ``ReadLimits/maxAllocationBytes`` over the whole decode.
final class LazyArrayLoader {
    let file: BrineFile
    let infos: [ArrayInfo]
    /// The depth of the node the decode starts at (0 for a whole model).
    let startDepth: Int
    private var cache: [AnyTensor?]
    /// The open scopes, outermost first; `shallow` marks the top-level
    /// value's (only the arrays it holds directly are loaded with it).
    private var scopes: [(value: Value, loaded: Bool, shallow: Bool)] = []
    private var allocated = 0
    /// The first error met while loading: rethrown after the decode even if
    /// the type's `init(from:)` swallowed it (`try?`).
    private(set) var failure: BrineError?
    /// The number of arrays read from the file (for tests).
    private(set) var loadedCount = 0
    /// The number of batches they were read in (for tests).
    private(set) var batchCount = 0

    /// Batches of fewer stored bytes are decoded on the calling thread.
    static let serialBatchBytes = 1 << 20

    init(file: BrineFile, startDepth: Int) {
        self.file = file
        self.infos = file.arrays
        self.cache = Array(repeating: nil, count: infos.count)
        self.startDepth = startDepth
    }

    /// Pushes a prefetch scope when `type` decoding `value` at `node` makes
    /// one (see the type's documentation).
    /// - Returns: `true` when a scope was pushed (pop it with ``leave()``).
    func enter<T>(_ type: T.Type, _ value: Value, at node: CodingPathNode) -> Bool {
        switch value {
        case .map, .list: break
        default: return false
        }
        let shallow = node.depth <= startDepth && !(T.self is any BrineDecodesEveryElement.Type)
        scopes.append((value, false, shallow))
        return true
    }

    /// Pops the scope pushed by the last ``enter(_:_:at:)`` that returned `true`.
    func leave() {
        scopes.removeLast()
    }

    /// The array `index` refers to, loaded (with its scope) if not yet.
    /// - Throws: `DecodingError.dataCorrupted` for a reference outside the
    ///   array table; ``BrineError`` from reading the file.
    func resolve(_ index: Int, at node: CodingPathNode) throws -> ResolvedArray {
        guard index >= 0 && index < infos.count else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: node.path, debugDescription: "array reference #\(index) outside the \(infos.count) arrays"))
        }
        if let t = cache[index] { return .tensor(t, path: infos[index].path) }
        var wanted = [index]
        var prefetch = false
        if let k = scopes.firstIndex(where: { !$0.loaded && !$0.shallow }) {
            LazyArrayLoader.collectReferences(scopes[k].value, into: &wanted, count: infos.count)
            for j in k ..< scopes.count { scopes[j].loaded = true }
        } else if let last = scopes.indices.last, scopes[last].shallow, !scopes[last].loaded, node.depth == startDepth + 1 {
            // A field of the top-level value itself (not one reached through
            // `nestedContainer` or `superDecoder`, which push no scope): its
            // siblings that are arrays too, not its sub-modules'.
            LazyArrayLoader.collectDirectReferences(scopes[last].value, into: &wanted, count: infos.count)
            scopes[last].loaded = true
            prefetch = true
        }
        // Each array once, in file order, only those not loaded yet.
        var seen = [Bool](repeating: false, count: infos.count)
        wanted = wanted.filter { i in
            guard cache[i] == nil, !seen[i] else { return false }
            seen[i] = true
            return true
        }.sorted()
        do throws(BrineError) {
            if prefetch && wanted.count > 1 {
                // The siblings may never be asked for: their failure is not this array's.
                do throws(BrineError) { try load(wanted) } catch { try load([index]) }
            } else {
                try load(wanted)
            }
        } catch {
            if failure == nil { failure = error }
            throw error
        }
        return .tensor(cache[index]!, path: infos[index].path)
    }

    /// Loads the given arrays (all chunks in parallel) into the cache.
    private func load(_ indices: [Int]) throws(BrineError) {
        guard !indices.isEmpty else { return }
        var bytes = allocated
        for i in indices where !(infos[i].isContiguousRaw && file.source.isMapped) {
            let (t, o) = bytes.addingReportingOverflow(infos[i].byteCount)
            guard !o, t <= file.options.limits.maxAllocationBytes else {
                throw BrineError(.limitExceeded, "loading needs \(t) bytes, over the allocation limit of \(file.options.limits.maxAllocationBytes)", filePath: file.path, arrayPath: infos[i].path)
            }
            bytes = t
        }
        // A small batch is decoded on this thread: waking workers costs more
        // than they save on less than a chunk's worth of bytes each.
        let raw = indices.reduce(0) { $0 + infos[$1].storedBytes }
        let tensors = try file.load(indices.map { infos[$0] }, threads: raw < LazyArrayLoader.serialBatchBytes ? 1 : nil)
        allocated = bytes
        loadedCount += indices.count
        batchCount += 1
        for (i, t) in zip(indices, tensors) { cache[i] = t }
    }

    /// Appends the array references (in range) that `value` holds itself, as
    /// a map's values or a list's items, to `list`; none from deeper levels.
    static func collectDirectReferences(_ value: Value, into list: inout [Int], count: Int) {
        func add(_ v: Value) { if case .arrayRef(let i) = v, i >= 0 && i < count { list.append(i) } }
        switch value {
        case .list(let items): for v in items { add(v) }
        case .map(let entries): for e in entries { add(e.value) }
        default: break
        }
    }

    /// Appends every array reference (in range) under `value` to `list`, without recursion.
    static func collectReferences(_ value: Value, into list: inout [Int], count: Int) {
        var stack = [value]
        while let v = stack.popLast() {
            switch v {
            case .arrayRef(let i) where i >= 0 && i < count: list.append(i)
            case .list(let items): stack.append(contentsOf: items)
            case .map(let entries): for e in entries { stack.append(e.value) }
            default: break
            }
        }
    }
}

/// Collection types whose `init(from:)` decodes every element, so that
/// their whole sub-tree is worth loading at once.
protocol BrineDecodesEveryElement {}
extension Array: BrineDecodesEveryElement {}
extension ContiguousArray: BrineDecodesEveryElement {}
extension Dictionary: BrineDecodesEveryElement {}
extension Set: BrineDecodesEveryElement {}

extension BrineDecoder {
    /// Decodes `type` from `value` (the file's root or a sub-tree at `node`),
    /// loading arrays on demand. A `DecodingError` becomes ``BrineError``
    /// `.modelMismatch` (its cause); an error loading an array wins over both.
    func decode<T: Decodable>(_ type: T.Type, from file: BrineFile, value: Value, at node: CodingPathNode) throws -> T {
        let loader = LazyArrayLoader(file: file, startDepth: node.depth)
        let state = DecodingState(slots: [], paths: nil, filePath: file.path, userInfo: userInfo)
        state.lazy = loader
        let decoder = BrineDecodingImpl(state: state, value: value, node: node)
        let result: T
        do {
            result = try decoder.unwrap(T.self, from: value, at: node)
        } catch {
            if let failure = loader.failure { throw failure }
            if let mismatch = error as? DecodingError {
                throw BrineError.modelMismatch(mismatch, filePath: file.path, metadata: file.metadata, requested: type)
            }
            throw error
        }
        if let failure = loader.failure { throw failure }
        return result
    }
}
