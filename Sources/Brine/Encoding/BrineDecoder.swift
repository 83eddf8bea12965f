/// Decodes `Decodable` values from a Brine object tree and its arrays
/// (docs/FORMAT.md, "Codable mapping"): the inverse of ``BrineEncoder``.
///
/// Out-of-line arrays become the requested type: ``Tensor`` and ``AnyTensor``
/// share the loaded storage (in mmap modes a zero-copy view of an
/// uncompressed array); `[S]`, `ContiguousArray<S>` and `Data` copy the
/// elements into Swift-owned memory, which cannot be a view of a file.
/// Array dtypes must match exactly (`[Int]` reads int64, `[UInt]` uint64);
/// shapes are kept for tensors and flattened (C order) for Swift arrays.
///
/// Most users call ``Brine/load(_:from:mode:options:)``.
public struct BrineDecoder: Sendable {
    /// Contextual information for the decoded types (`Decoder.userInfo`).
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    /// A decoder with no user info.
    public init() {}

    /// Decodes a value from an open file's object tree (``BrineFile/root``).
    ///
    /// Arrays are read on demand: only those the decoded type asks for are
    /// read, verified and decoded (a type that reads only the configuration
    /// reads no array data). When the decoder enters a field holding a
    /// nested struct, list or dictionary and the first array inside it is
    /// asked for, every array of that sub-tree is loaded at once, all chunks
    /// in parallel; the first array read directly by the top-level type
    /// loads every array the top-level value holds directly (not those of
    /// its sub-modules) in one batch, a prefetch: if a sibling fails to load,
    /// the array asked for is loaded alone. In mmap modes uncompressed arrays are
    /// zero-copy views. See docs/FORMAT.md, "Codable mapping", "Partial loads".
    /// - Throws: ``BrineError`` from loading (`.checksumMismatch`,
    ///   `.decompressionFailed`, `.io`, `.limitExceeded`…), even when the
    ///   type's own `init(from:)` swallowed it with `try?`; ``BrineError``
    ///   `.modelMismatch` when the tree does not fit `T` (missing key, wrong
    ///   kind, wrong array dtype, number out of range): its message names the
    ///   file and the stored `brine.root_type`, its ``BrineError/cause`` is the
    ///   `DecodingError` with the coding path; any other error `T.init(from:)` throws.
    public func decode<T: Decodable>(_ type: T.Type, from file: BrineFile) throws -> T {
        try decode(type, from: file, value: file.root, at: .root)
    }

    /// Decodes a value from a tree whose `arrayRef(i)` values name `arrays[i]`.
    /// - Throws: `DecodingError` as ``decode(_:from:)-(_,BrineFile)``; a
    ///   reference outside `arrays` is `DecodingError.dataCorrupted`.
    public func decode<T: Decodable>(_ type: T.Type, from root: Value, arrays: [AnyTensor]) throws -> T {
        try decode(type, from: root, slots: arrays.map { .tensor($0) }, paths: nil, filePath: nil)
    }

    func decode<T: Decodable>(_ type: T.Type, from root: Value, slots: [ArraySlot], paths: [String]?, filePath: String?) throws -> T {
        let state = DecodingState(slots: slots, paths: paths, filePath: filePath, userInfo: userInfo)
        state.root = root
        let decoder = BrineDecodingImpl(state: state, value: root, node: .root)
        return try decoder.unwrap(T.self, from: root, at: .root)
    }
}

/// State shared by every decoder and container of one `decode` call.
final class DecodingState {
    let slots: [ArraySlot]
    let paths: [String]?
    let filePath: String?
    let userInfo: [CodingUserInfoKey: Any]
    /// Loads arrays on demand from a file (``BrineDecoder/decode(_:from:)-(_,BrineFile)``); `nil` when `slots` hold them.
    var lazy: LazyArrayLoader?
    /// The tree being decoded (for shared definitions met through a reference first).
    var root: Value = .null
    /// Shared nodes decoded so far, by id (pickle's memo).
    var memo: [Int: Any] = [:]
    /// Shared nodes being decoded (a reference into one is refused).
    var decodingShared = Set<Int>()
    private var definitions: [Int: Value]?

    /// The value of shared node `id`, or `nil`.
    func sharedDefinition(_ id: Int) -> Value? {
        if definitions == nil { definitions = SharedNodes.definitions(in: root) }
        return definitions![id]
    }

    init(slots: [ArraySlot], paths: [String]?, filePath: String?, userInfo: [CodingUserInfoKey: any Sendable]) {
        self.slots = slots
        self.paths = paths
        self.filePath = filePath
        self.userInfo = userInfo
    }
}

/// An out-of-line array found where a caught type is decoded.
enum ResolvedArray {
    /// The very value the model held (same type as requested).
    case original(Any)
    /// A loaded array and its path in the file (when known).
    case tensor(AnyTensor, path: String?)
}

// MARK: - The decoder

/// The `Decoder` handed to `init(from:)`. One instance decodes a whole tree:
/// the value being decoded and its coding path are saved and restored around
/// each nested decode (as swift-foundation's `JSONDecoderImpl`). It is also
/// its own single-value container.
final class BrineDecodingImpl: Decoder {
    let state: DecodingState
    private(set) var value: Value
    private(set) var node: CodingPathNode

    init(state: DecodingState, value: Value, node: CodingPathNode) {
        self.state = state
        self.value = value
        self.node = node
    }

    var codingPath: [any CodingKey] { node.path }
    var userInfo: [CodingUserInfoKey: Any] { state.userInfo }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .map(let entries) = value else {
            throw mismatch([String: Value].self, value, at: node, expected: "a map (keyed container)")
        }
        return KeyedDecodingContainer(BrineKeyedDecodingContainer<Key>(decoder: self, map: try MapLookup.keyed(entries, at: node), node: node))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .list(let items) = value else {
            throw mismatch([Value].self, value, at: node, expected: "a list (unkeyed container)")
        }
        return BrineUnkeyedDecodingContainer(decoder: self, items: items, node: node)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    // MARK: The special-casing point

    /// Decodes any value. Every generic `decode<T>` of every container comes
    /// here: types conforming to `BrineDecodingSpecial` (numeric arrays,
    /// tensors, `Data`, `Float16`, ``BFloat16``, optionals) decode themselves
    /// from the tree value and the array table; others run `T.init(from:)`.
    func unwrap<T: Decodable>(_ type: T.Type, from value: Value, at node: CodingPathNode) throws -> T {
        // Optionals pass shared nodes on to their wrapped type.
        if !(T.self is any BrineOptionalMarker.Type) {
            switch value {
            case .shared(let id, let inner): return try decodeShared(T.self, id: id, definition: inner, at: node)
            case .sharedRef(let id): return try decodeShared(T.self, id: id, definition: nil, at: node)
            default: break
            }
        }
        if let special = T.self as? any BrineDecodingSpecial.Type {
            return try special.brineDecode(from: value, with: self, at: node) as! T
        }
        return try unwrapPlain(T.self, from: value, at: node)
    }

    /// Decodes a value through its own `init(from:)`, bypassing the special cases.
    func unwrapPlain<T: Decodable>(_ type: T.Type, from value: Value, at node: CodingPathNode) throws -> T {
        let savedValue = self.value
        let savedNode = self.node
        self.value = value
        self.node = node
        let scoped = state.lazy?.enter(T.self, value, at: node) ?? false
        defer {
            self.value = savedValue
            self.node = savedNode
            if scoped { state.lazy?.leave() }
        }
        return try T(from: self)
    }

    /// The out-of-line array `value` refers to, or `nil` when `value` is not
    /// an `arrayRef` (the caller then reads its inline form).
    func outOfLineArray(_ value: Value, requested: Any.Type, at node: CodingPathNode) throws -> ResolvedArray? {
        guard case .arrayRef(let i) = value else { return nil }
        if let lazy = state.lazy { return try lazy.resolve(i, at: node) }
        guard i >= 0 && i < state.slots.count else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: node.path, debugDescription: "array reference #\(i) outside the \(state.slots.count) arrays"))
        }
        let path = state.paths.flatMap { i < $0.count ? $0[i] : nil }
        switch state.slots[i] {
        case .tensor(let t):
            return .tensor(t, path: path)
        case .original(let v, let makeTensor):
            if type(of: v) == requested { return .original(v) }
            return .tensor(makeTensor(), path: path)
        }
    }

    /// Checks that a loaded array has the dtype a caught type needs.
    func check(_ tensor: AnyTensor, dtype: DType, for type: Any.Type, path: String?, at node: CodingPathNode) throws {
        guard tensor.dtype == dtype else {
            let name = path.map { "array '\($0)'" } ?? "the array"
            let underlying = BrineError(.dtypeMismatch, "\(name) has dtype \(tensor.dtype) and shape \(tensor.shape); \(type) needs \(dtype)",
                                        filePath: state.filePath, arrayPath: path)
            throw DecodingError.typeMismatch(type, .init(
                codingPath: node.path, debugDescription: underlying.message, underlyingError: underlying))
        }
        if dtype == .bool { try checkBools(tensor.storage.bytes, for: type, path: path, at: node) }
    }

    /// Swift's `Bool` must be 0 or 1; a file could hold any byte.
    func checkBools(_ bytes: UnsafeRawBufferPointer, for type: Any.Type, path: String?, at node: CodingPathNode) throws {
        if let i = bytes.firstIndex(where: { $0 > 1 }) {
            throw DecodingError.dataCorrupted(.init(
                codingPath: node.path,
                debugDescription: "bool array \(path.map { "'\($0)' " } ?? "")has byte \(bytes[i]) at element \(i); only 0 and 1 are valid"))
        }
    }

    /// Decodes an inline array (list or bytes) into new storage.
    func inlineElements(_ value: Value, dtype: DType, for type: Any.Type, at node: CodingPathNode) throws -> (storage: TensorStorage, count: Int) {
        if case .null = value {
            throw DecodingError.valueNotFound(type, .init(codingPath: node.path, debugDescription: "found null, expected an array"))
        }
        switch InlineArrays.decode(value, dtype: dtype) {
        case .success(let r): return r
        case .failure(let f):
            let path = f.index.map { node.appending(index: $0) } ?? node
            throw DecodingError.typeMismatch(type, .init(codingPath: path.path, debugDescription: f.message))
        }
    }

    // MARK: Errors

    func mismatch(_ type: Any.Type, _ found: Value, at node: CodingPathNode, expected: String) -> DecodingError {
        if case .null = found {
            return .valueNotFound(type, .init(codingPath: node.path, debugDescription: "found null, expected \(expected)"))
        }
        return .typeMismatch(type, .init(codingPath: node.path, debugDescription: "found \(found.kindName), expected \(expected)"))
    }

    // MARK: Scalars

    func unboxBool(_ v: Value, at node: CodingPathNode) throws -> Bool {
        guard case .bool(let b) = v else { throw mismatch(Bool.self, v, at: node, expected: "a bool") }
        return b
    }

    func unboxString(_ v: Value, at node: CodingPathNode) throws -> String {
        guard case .string(let s) = v else { throw mismatch(String.self, v, at: node, expected: "a string") }
        return s
    }

    func unboxInteger<I: FixedWidthInteger>(_ v: Value, as: I.Type, at node: CodingPathNode) throws -> I {
        switch v {
        case .int, .uint:
            guard let x: I = v.exactInteger() else {
                throw DecodingError.dataCorrupted(.init(codingPath: node.path, debugDescription: "number \(v) does not fit in \(I.self)"))
            }
            return x
        default:
            throw mismatch(I.self, v, at: node, expected: "an integer")
        }
    }

    func unboxFloat(_ v: Value, at node: CodingPathNode) throws -> Float {
        guard let f = v.float32Value() else {
            if v.doubleValue != nil {
                throw DecodingError.dataCorrupted(.init(codingPath: node.path, debugDescription: "number \(v) does not fit in Float"))
            }
            throw mismatch(Float.self, v, at: node, expected: "a number")
        }
        return f
    }

    func unboxDouble(_ v: Value, at node: CodingPathNode) throws -> Double {
        guard let d = v.float64Value() else {
            switch v {
            case .int, .uint:
                throw DecodingError.dataCorrupted(.init(codingPath: node.path, debugDescription: "integer \(v) does not fit in Double exactly (it would be rounded)"))
            default:
                throw mismatch(Double.self, v, at: node, expected: "a number")
            }
        }
        return d
    }
}

extension BrineDecodingImpl: SingleValueDecodingContainer {
    func decodeNil() -> Bool {
        if case .null = value { return true }
        return false
    }
    func decode(_ type: Bool.Type) throws -> Bool { try unboxBool(value, at: node) }
    func decode(_ type: String.Type) throws -> String { try unboxString(value, at: node) }
    func decode(_ type: Double.Type) throws -> Double { try unboxDouble(value, at: node) }
    func decode(_ type: Float.Type) throws -> Float { try unboxFloat(value, at: node) }
    func decode(_ type: Int.Type) throws -> Int { try unboxInteger(value, as: Int.self, at: node) }
    func decode(_ type: Int8.Type) throws -> Int8 { try unboxInteger(value, as: Int8.self, at: node) }
    func decode(_ type: Int16.Type) throws -> Int16 { try unboxInteger(value, as: Int16.self, at: node) }
    func decode(_ type: Int32.Type) throws -> Int32 { try unboxInteger(value, as: Int32.self, at: node) }
    func decode(_ type: Int64.Type) throws -> Int64 { try unboxInteger(value, as: Int64.self, at: node) }
    func decode(_ type: UInt.Type) throws -> UInt { try unboxInteger(value, as: UInt.self, at: node) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try unboxInteger(value, as: UInt8.self, at: node) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try unboxInteger(value, as: UInt16.self, at: node) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try unboxInteger(value, as: UInt32.self, at: node) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try unboxInteger(value, as: UInt64.self, at: node) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try unwrap(T.self, from: value, at: node) }
}

// MARK: - Containers

/// A map's entries with lookup by key (linear for small maps, hashed for large).
final class MapLookup {
    let entries: [(key: String, value: Value)]
    private let index: [String: Int]?

    /// Two keys that differ in their code points but are equal Swift
    /// strings (canonically equivalent, `"\u{E9}"` and `"e\u{301}"`; a
    /// file cannot hold the same key twice): a Swift `CodingKey` or
    /// `Dictionary<String, _>` cannot keep both. `nil` when there are none.
    let equivalentKeys: (String, String)?

    init(_ entries: [(key: String, value: Value)]) {
        self.entries = entries
        var pair: (String, String)?
        if entries.count > 16 {
            var d: [String: Int] = [:]
            d.reserveCapacity(entries.count)
            for (i, e) in entries.enumerated() {
                if pair == nil, let j = d[e.key] { pair = (entries[j].key, e.key) }
                d[e.key] = i
            }
            index = d
        } else {
            index = nil
            outer: for i in entries.indices {
                for j in entries.indices.prefix(i) where entries[j].key == entries[i].key {
                    pair = (entries[j].key, entries[i].key)
                    break outer
                }
            }
        }
        equivalentKeys = pair
    }

    /// The lookup of a map decoded as a keyed container (a struct's fields,
    /// a `Dictionary`'s entries).
    /// - Throws: `DecodingError.dataCorrupted` when two keys are canonically
    ///   equivalent (``equivalentKeys``): decoding would merge them, dropping
    ///   one value or reading one twice.
    static func keyed(_ entries: [(key: String, value: Value)], at node: CodingPathNode) throws -> MapLookup {
        let m = MapLookup(entries)
        if let (a, b) = m.equivalentKeys {
            throw DecodingError.dataCorrupted(.init(
                codingPath: node.path,
                debugDescription: "map keys \(Value.quoted(a)) and \(Value.quoted(b)) are different code points but equal Swift strings (canonically equivalent); a Swift key cannot keep both"))
        }
        return m
    }

    subscript(key: String) -> Value? {
        if let index { return index[key].map { entries[$0].value } }
        for e in entries where e.key == key { return e.value }
        return nil
    }
}

struct BrineKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: BrineDecodingImpl
    let map: MapLookup
    let node: CodingPathNode

    var codingPath: [any CodingKey] { node.path }
    var allKeys: [Key] { map.entries.compactMap { Key(stringValue: $0.key) } }

    func contains(_ key: Key) -> Bool { map[key.stringValue] != nil }

    private func value(_ key: Key) throws -> Value {
        guard let v = map[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(
                codingPath: node.path, debugDescription: "no value for key '\(key.stringValue)'"))
        }
        return v
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try value(key) { return true }
        return false
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decoder.unboxBool(value(key), at: node.appending(key)) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decoder.unboxString(value(key), at: node.appending(key)) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decoder.unboxDouble(value(key), at: node.appending(key)) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decoder.unboxFloat(value(key), at: node.appending(key)) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decoder.unboxInteger(value(key), as: Int.self, at: node.appending(key)) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decoder.unboxInteger(value(key), as: Int8.self, at: node.appending(key)) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decoder.unboxInteger(value(key), as: Int16.self, at: node.appending(key)) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decoder.unboxInteger(value(key), as: Int32.self, at: node.appending(key)) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decoder.unboxInteger(value(key), as: Int64.self, at: node.appending(key)) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decoder.unboxInteger(value(key), as: UInt.self, at: node.appending(key)) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decoder.unboxInteger(value(key), as: UInt8.self, at: node.appending(key)) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decoder.unboxInteger(value(key), as: UInt16.self, at: node.appending(key)) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decoder.unboxInteger(value(key), as: UInt32.self, at: node.appending(key)) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decoder.unboxInteger(value(key), as: UInt64.self, at: node.appending(key)) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decoder.unwrap(T.self, from: value(key), at: node.appending(key))
    }

    /// Absent key → `nil`; `null` → `nil`, unless `T` is itself an optional:
    /// then `null` is `T`'s own `nil` wrapped, so that a property of type
    /// `U??` set to `.some(nil)` (encoded as a present `null`) comes back as
    /// `.some(nil)` rather than `nil` (encoded as an absent key).
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let v = map[key.stringValue] else { return nil }
        if case .null = v, !(T.self is any BrineOptionalMarker.Type) { return nil }
        return try decoder.unwrap(T.self, from: v, at: node.appending(key))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        let at = node.appending(key)
        let v = try value(key)
        guard case .map(let entries) = v else {
            throw decoder.mismatch([String: Value].self, v, at: at, expected: "a map (keyed container)")
        }
        return KeyedDecodingContainer(BrineKeyedDecodingContainer<NestedKey>(decoder: decoder, map: try MapLookup.keyed(entries, at: at), node: at))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        let at = node.appending(key)
        let v = try value(key)
        guard case .list(let items) = v else {
            throw decoder.mismatch([Value].self, v, at: at, expected: "a list (unkeyed container)")
        }
        return BrineUnkeyedDecodingContainer(decoder: decoder, items: items, node: at)
    }

    func superDecoder() throws -> any Decoder {
        try superDecoder(key: BrineCodingKey.super)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        try superDecoder(key: key)
    }

    private func superDecoder(key: some CodingKey) throws -> any Decoder {
        BrineDecodingImpl(state: decoder.state, value: map[key.stringValue] ?? .null, node: node.appending(key))
    }
}

struct BrineUnkeyedDecodingContainer: UnkeyedDecodingContainer {
    let decoder: BrineDecodingImpl
    let items: [Value]
    let node: CodingPathNode
    private(set) var currentIndex = 0

    init(decoder: BrineDecodingImpl, items: [Value], node: CodingPathNode) {
        self.decoder = decoder
        self.items = items
        self.node = node
    }

    var codingPath: [any CodingKey] { node.path }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    /// The next value and its path; advances only after `body` succeeds.
    private mutating func next<R>(_ type: R.Type, _ body: (BrineDecodingImpl, Value, CodingPathNode) throws -> R) throws -> R {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(R.self, .init(
                codingPath: node.appending(index: currentIndex).path,
                debugDescription: "unkeyed container is at its end (\(items.count) elements)"))
        }
        let r = try body(decoder, items[currentIndex], node.appending(index: currentIndex))
        currentIndex += 1
        return r
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any?.self, .init(
                codingPath: node.appending(index: currentIndex).path,
                debugDescription: "unkeyed container is at its end (\(items.count) elements)"))
        }
        if case .null = items[currentIndex] {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(type) { try $0.unboxBool($1, at: $2) } }
    mutating func decode(_ type: String.Type) throws -> String { try next(type) { try $0.unboxString($1, at: $2) } }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(type) { try $0.unboxDouble($1, at: $2) } }
    mutating func decode(_ type: Float.Type) throws -> Float { try next(type) { try $0.unboxFloat($1, at: $2) } }
    mutating func decode(_ type: Int.Type) throws -> Int { try next(type) { try $0.unboxInteger($1, as: Int.self, at: $2) } }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next(type) { try $0.unboxInteger($1, as: Int8.self, at: $2) } }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next(type) { try $0.unboxInteger($1, as: Int16.self, at: $2) } }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next(type) { try $0.unboxInteger($1, as: Int32.self, at: $2) } }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next(type) { try $0.unboxInteger($1, as: Int64.self, at: $2) } }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next(type) { try $0.unboxInteger($1, as: UInt.self, at: $2) } }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next(type) { try $0.unboxInteger($1, as: UInt8.self, at: $2) } }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next(type) { try $0.unboxInteger($1, as: UInt16.self, at: $2) } }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next(type) { try $0.unboxInteger($1, as: UInt32.self, at: $2) } }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next(type) { try $0.unboxInteger($1, as: UInt64.self, at: $2) } }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try next(type) { try $0.unwrap(T.self, from: $1, at: $2) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next(KeyedDecodingContainer<NestedKey>.self) { decoder, v, at in
            guard case .map(let entries) = v else {
                throw decoder.mismatch([String: Value].self, v, at: at, expected: "a map (keyed container)")
            }
            return KeyedDecodingContainer(BrineKeyedDecodingContainer<NestedKey>(decoder: decoder, map: try MapLookup.keyed(entries, at: at), node: at))
        }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next(BrineUnkeyedDecodingContainer.self) { decoder, v, at in
            guard case .list(let items) = v else {
                throw decoder.mismatch([Value].self, v, at: at, expected: "a list (unkeyed container)")
            }
            return BrineUnkeyedDecodingContainer(decoder: decoder, items: items, node: at)
        }
    }

    mutating func superDecoder() throws -> any Decoder {
        try next(BrineDecodingImpl.self) { decoder, v, at in BrineDecodingImpl(state: decoder.state, value: v, node: at) }
    }
}
