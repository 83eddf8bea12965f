/// Encodes `Encodable` values into a Brine object tree (``Value``), writing
/// every numeric array of at least ``inlineThreshold`` bytes out of line into
/// a ``BrineWriter`` (docs/FORMAT.md, "Codable mapping").
///
/// Caught as arrays (by type identity, never by converting values):
/// `[S]` and `ContiguousArray<S>` for `S` in `Bool`, `Int8`…`Int64`,
/// `UInt8`…`UInt64`, `Int` and `UInt` (stored as int64/uint64), `Float16`,
/// ``BFloat16``, `Float`, `Double`; `Data` (uint8); ``Tensor`` of every
/// ``BrineScalar``; ``AnyTensor``. Each is stored out of line with the array
/// path of its coding path (`layers.0.weight`), or inline in the tree when
/// smaller than the threshold. Everything else (structs, classes, enums,
/// optionals, dictionaries, arrays of structs, scalars) goes into the tree.
///
/// Most users call ``Brine/save(_:to:options:)``; use the encoder directly to
/// embed a Codable value in a file written with the low-level ``BrineWriter``.
public struct BrineEncoder: Sendable {
    /// Arrays of at least this many bytes are written out of line; smaller
    /// ones stay inline in the tree. Default 4096. 0 puts every array out of
    /// line (even empty ones).
    public var inlineThreshold: Int = 4096
    /// The deepest nesting of lists and maps the tree may have. Default: the
    /// reader's default cap (``ReadLimits/maxDepth``, 256), so that every file
    /// written can be read back.
    public var maxDepth: Int = ReadLimits().maxDepth
    /// Contextual information for the encoded types (`Encoder.userInfo`).
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    /// An encoder with the default threshold (4096 bytes) and depth cap (256).
    public init() {}

    /// An encoder with the given inline threshold.
    /// - Parameter inlineThreshold: in bytes; see ``inlineThreshold``.
    public init(inlineThreshold: Int) {
        self.inlineThreshold = inlineThreshold
    }

    /// Encodes `value`, appending its large arrays to `writer`.
    ///
    /// Array data is passed to ``BrineWriter/append(bytes:dtype:shape:path:options:)``
    /// straight from the value's own buffers (no copy). Pass the returned
    /// tree to ``BrineWriter/finish(root:metadata:)``.
    /// - Parameters:
    ///   - value: the model.
    ///   - writer: an unfinished writer; array paths already in it are avoided.
    /// - Returns: the object tree, whose `arrayRef`s index `writer.arrays`.
    /// - Throws: `EncodingError.invalidValue` (with the coding path) when the
    ///   tree would nest deeper than ``maxDepth`` or the value's own
    ///   `encode(to:)` fails; ``BrineError`` from the writer (`.io`,
    ///   `.invalidArgument`, `.compressionFailed`). The writer then holds the
    ///   arrays appended so far: ``BrineWriter/cancel()`` it.
    public func encode<T: Encodable>(_ value: T, into writer: BrineWriter) throws -> Value {
        try encode(value, sink: WriterSink(writer), threshold: inlineThreshold)
    }

    /// Encodes `value` entirely into a tree, every array inline (no writer).
    /// - Throws: `EncodingError.invalidValue` as ``encode(_:into:)``.
    public func encode<T: Encodable>(_ value: T) throws -> Value {
        try encode(value, sink: nil, threshold: Int.max)
    }

    func encode<T: Encodable>(_ value: T, sink: (any ArraySink)?, threshold: Int) throws -> Value {
        guard threshold >= 0 else {
            throw BrineError(.invalidArgument, "inline threshold \(threshold) is negative")
        }
        let state = EncodingState(threshold: threshold, sink: sink, userInfo: userInfo)
        let encoder = BrineEncodingImpl(state: state, node: .root)
        let root = try encoder.wrapGeneric(value, at: .root)
        if let (depth, path) = root.deepestNesting(over: maxDepth) {
            throw EncodingError.invalidValue(value, EncodingError.Context(
                codingPath: path,
                debugDescription: "the object tree nests \(depth) levels deep; Brine files allow at most \(maxDepth) (ReadLimits.maxDepth)"))
        }
        return root
    }
}

/// State shared by every encoder and container of one `encode` call.
final class EncodingState {
    let threshold: Int
    let sink: (any ArraySink)?
    let userInfo: [CodingUserInfoKey: Any]
    private var usedPaths: Set<String>

    init(threshold: Int, sink: (any ArraySink)?, userInfo: [CodingUserInfoKey: any Sendable]) {
        self.threshold = threshold
        self.sink = sink
        self.userInfo = userInfo
        self.usedPaths = Set(sink?.takenPaths ?? [])
    }

    /// The array path for a coding path, made unique with a `~2`, `~3`, …
    /// suffix when the same path was already used (a key encoded twice).
    func uniquePath(for node: CodingPathNode) -> String {
        let base = node.arrayPath
        if usedPaths.insert(base).inserted { return base }
        var k = 2
        while true {
            let candidate = "\(base)~\(k)"
            if usedPaths.insert(candidate).inserted { return candidate }
            k += 1
        }
    }
}

// MARK: - Tree under construction

/// A value in a container that may still change: nested containers are
/// references so that they can be filled after they were handed out (as
/// swift-foundation's `JSONFuture`).
enum EncodedNode {
    case value(Value)
    case list(EncodedList)
    case map(EncodedMap)
    /// A `superEncoder()`; its value is taken when the tree is finished.
    case encoder(BrineEncodingImpl)

    var finished: Value {
        switch self {
        case .value(let v): return v
        case .list(let l): return l.finished
        case .map(let m): return m.finished
        case .encoder(let e): return e.takeValue() ?? .map([])
        }
    }
}

final class EncodedList {
    private(set) var items: [EncodedNode] = []

    init() {}
    init(_ values: [Value]) { items = values.map { .value($0) } }

    func append(_ node: EncodedNode) { items.append(node) }

    var finished: Value { .list(items.map(\.finished)) }
}

/// An ordered map with unique keys; a key set twice keeps its first position
/// and its last value.
final class EncodedMap {
    private(set) var keys: [String] = []
    private(set) var nodes: [EncodedNode] = []
    private var index: [String: Int] = [:]
    private static let linearLimit = 16

    init() {}
    init(_ entries: [(key: String, value: Value)]) {
        for (k, v) in entries { set(.value(v), for: k) }
    }

    private func position(of key: String) -> Int? {
        if keys.count <= EncodedMap.linearLimit { return keys.firstIndex(of: key) }
        return index[key]
    }

    func node(for key: String) -> EncodedNode? {
        position(of: key).map { nodes[$0] }
    }

    func set(_ node: EncodedNode, for key: String) {
        if let i = position(of: key) {
            nodes[i] = node
            return
        }
        keys.append(key)
        nodes.append(node)
        if keys.count > EncodedMap.linearLimit {
            if index.isEmpty {
                for (i, k) in keys.enumerated() { index[k] = i }
            } else {
                index[key] = keys.count - 1
            }
        }
    }

    /// The nested map at `key`, reusing one created or encoded there before.
    func nestedMap(for key: String) -> EncodedMap {
        switch node(for: key) {
        case .map(let m): return m
        case .value(.map(let entries)):
            let m = EncodedMap(entries)
            set(.map(m), for: key)
            return m
        default:
            let m = EncodedMap()
            set(.map(m), for: key)
            return m
        }
    }

    /// The nested list at `key`, reusing one created or encoded there before.
    func nestedList(for key: String) -> EncodedList {
        switch node(for: key) {
        case .list(let l): return l
        case .value(.list(let values)):
            let l = EncodedList(values)
            set(.list(l), for: key)
            return l
        default:
            let l = EncodedList()
            set(.list(l), for: key)
            return l
        }
    }

    var finished: Value {
        var out: [(key: String, value: Value)] = []
        out.reserveCapacity(keys.count)
        for (k, n) in zip(keys, nodes) { out.append((k, n.finished)) }
        return .map(out)
    }
}

// MARK: - The encoder

/// The `Encoder` handed to `encode(to:)`: one per nesting level in use, each
/// knowing its coding path (the model of swift-foundation's `__JSONEncoder`).
/// It is also its own single-value container.
final class BrineEncodingImpl: Encoder {
    let state: EncodingState
    /// The coding path of the value this encoder encodes.
    var node: CodingPathNode
    private var singleValue: Value?
    private var list: EncodedList?
    private var map: EncodedMap?
    private var sharedSubEncoder: BrineEncodingImpl?

    init(state: EncodingState, node: CodingPathNode) {
        self.state = state
        self.node = node
    }

    var codingPath: [any CodingKey] { node.path }
    var userInfo: [CodingUserInfoKey: Any] { state.userInfo }

    /// The value encoded so far, or `nil` if nothing was; resets the encoder.
    func takeValue() -> Value? {
        defer { singleValue = nil; list = nil; map = nil }
        if let map { return map.finished }
        if let list { return list.finished }
        return singleValue
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let m: EncodedMap
        if let map {
            m = map
        } else if case .map(let entries)? = singleValue {
            m = EncodedMap(entries)
            singleValue = nil
            map = m
        } else {
            // A value or list encoded before at this path is replaced, as a key encoded twice would be.
            m = EncodedMap()
            singleValue = nil
            list = nil
            map = m
        }
        return KeyedEncodingContainer(BrineKeyedEncodingContainer<Key>(encoder: self, map: m, node: node))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let l: EncodedList
        if let list {
            l = list
        } else if case .list(let values)? = singleValue {
            l = EncodedList(values)
            singleValue = nil
            list = l
        } else {
            l = EncodedList()
            singleValue = nil
            map = nil
            list = l
        }
        return BrineUnkeyedEncodingContainer(encoder: self, list: l, node: node)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { self }

    // MARK: The special-casing point

    /// Encodes any value. Every generic `encode<T>` of every container comes
    /// here: types the coder handles itself (numeric arrays, tensors, `Data`,
    /// `Float16`, ``BFloat16``, nested optionals) are recognised by their
    /// conformance to `BrineEncodingSpecial` (a type-level check, no value
    /// conversion) and encoded by it; all others encode themselves through a
    /// sub-encoder.
    func wrapGeneric<T: Encodable>(_ value: T, at node: CodingPathNode) throws -> Value {
        if let special = T.self as? any BrineEncodingSpecial.Type {
            return try special.brineEncode(value, with: self, at: node)
        }
        return try wrapEncodable(value, at: node)
    }

    /// Encodes a value through its own `encode(to:)` with a sub-encoder at `node`.
    func wrapEncodable<T: Encodable>(_ value: T, at node: CodingPathNode) throws -> Value {
        var encoder = subEncoder(at: node)
        defer { returnSubEncoder(&encoder) }
        try value.encode(to: encoder)
        return encoder.takeValue() ?? .map([])
    }

    /// Stores one caught array: out of line through the sink when it has at
    /// least `threshold` bytes, else `inline()`.
    func encodeArray(
        _ bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int], at node: CodingPathNode,
        inline: () -> Value, original: () -> ArraySlot
    ) throws -> Value {
        guard let sink = state.sink else { return inline() }
        let outOfLine = (sink as? any ArrayPlacement)?.outOfLine(path: node.arrayPath, byteCount: bytes.count) ?? (bytes.count >= state.threshold)
        guard outOfLine else { return inline() }
        let path = state.uniquePath(for: node)
        return .arrayRef(try sink.append(bytes, dtype: dtype, shape: shape, path: path, original: original))
    }

    private func subEncoder(at node: CodingPathNode) -> BrineEncodingImpl {
        if let e = sharedSubEncoder {
            sharedSubEncoder = nil
            e.node = node
            return e
        }
        return BrineEncodingImpl(state: state, node: node)
    }

    private func returnSubEncoder(_ encoder: inout BrineEncodingImpl) {
        // Reuse it only if the encoded value's code kept no reference to it.
        if sharedSubEncoder == nil, isKnownUniquelyReferenced(&encoder) {
            _ = encoder.takeValue()
            sharedSubEncoder = encoder
        }
    }
}

extension BrineEncodingImpl: SingleValueEncodingContainer {
    func encodeNil() throws { singleValue = .null }
    func encode(_ value: Bool) throws { singleValue = .bool(value) }
    func encode(_ value: String) throws { singleValue = .string(value) }
    func encode(_ value: Double) throws { singleValue = .float64(value) }
    func encode(_ value: Float) throws { singleValue = .float32(value) }
    func encode(_ value: Int) throws { singleValue = .int(Int64(value)) }
    func encode(_ value: Int8) throws { singleValue = .int(Int64(value)) }
    func encode(_ value: Int16) throws { singleValue = .int(Int64(value)) }
    func encode(_ value: Int32) throws { singleValue = .int(Int64(value)) }
    func encode(_ value: Int64) throws { singleValue = .int(value) }
    func encode(_ value: UInt) throws { singleValue = .uint(UInt64(value)) }
    func encode(_ value: UInt8) throws { singleValue = .uint(UInt64(value)) }
    func encode(_ value: UInt16) throws { singleValue = .uint(UInt64(value)) }
    func encode(_ value: UInt32) throws { singleValue = .uint(UInt64(value)) }
    func encode(_ value: UInt64) throws { singleValue = .uint(value) }
    func encode<T: Encodable>(_ value: T) throws {
        // Not through a sub-encoder that reuses `self`: `wrapGeneric` may nest.
        let v = try wrapGeneric(value, at: node)
        list = nil
        map = nil
        singleValue = v
    }
}

// MARK: - Containers

struct BrineKeyedEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: BrineEncodingImpl
    let map: EncodedMap
    let node: CodingPathNode

    var codingPath: [any CodingKey] { node.path }

    private func set(_ v: Value, _ key: Key) { map.set(.value(v), for: key.stringValue) }

    mutating func encodeNil(forKey key: Key) throws { set(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { set(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { set(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { set(.float64(value), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { set(.float32(value), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { set(.int(Int64(value)), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { set(.int(Int64(value)), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { set(.int(Int64(value)), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { set(.int(Int64(value)), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { set(.int(value), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { set(.uint(UInt64(value)), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { set(.uint(UInt64(value)), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { set(.uint(UInt64(value)), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { set(.uint(UInt64(value)), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { set(.uint(value), key) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        set(try encoder.wrapGeneric(value, at: node.appending(key)), key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(BrineKeyedEncodingContainer<NestedKey>(
            encoder: encoder, map: map.nestedMap(for: key.stringValue), node: node.appending(key)))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        BrineUnkeyedEncodingContainer(encoder: encoder, list: map.nestedList(for: key.stringValue), node: node.appending(key))
    }

    mutating func superEncoder() -> any Encoder {
        superEncoder(key: BrineCodingKey.super)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        superEncoder(key: key)
    }

    private func superEncoder(key: some CodingKey) -> any Encoder {
        let e = BrineEncodingImpl(state: encoder.state, node: node.appending(key))
        map.set(.encoder(e), for: key.stringValue)
        return e
    }
}

struct BrineUnkeyedEncodingContainer: UnkeyedEncodingContainer {
    let encoder: BrineEncodingImpl
    let list: EncodedList
    let node: CodingPathNode

    var codingPath: [any CodingKey] { node.path }
    var count: Int { list.items.count }

    private func append(_ v: Value) { list.append(.value(v)) }

    mutating func encodeNil() throws { append(.null) }
    mutating func encode(_ value: Bool) throws { append(.bool(value)) }
    mutating func encode(_ value: String) throws { append(.string(value)) }
    mutating func encode(_ value: Double) throws { append(.float64(value)) }
    mutating func encode(_ value: Float) throws { append(.float32(value)) }
    mutating func encode(_ value: Int) throws { append(.int(Int64(value))) }
    mutating func encode(_ value: Int8) throws { append(.int(Int64(value))) }
    mutating func encode(_ value: Int16) throws { append(.int(Int64(value))) }
    mutating func encode(_ value: Int32) throws { append(.int(Int64(value))) }
    mutating func encode(_ value: Int64) throws { append(.int(value)) }
    mutating func encode(_ value: UInt) throws { append(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt8) throws { append(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt16) throws { append(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt32) throws { append(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt64) throws { append(.uint(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        append(try encoder.wrapGeneric(value, at: node.appending(index: count)))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let m = EncodedMap()
        let at = node.appending(index: count)
        list.append(.map(m))
        return KeyedEncodingContainer(BrineKeyedEncodingContainer<NestedKey>(encoder: encoder, map: m, node: at))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let l = EncodedList()
        let at = node.appending(index: count)
        list.append(.list(l))
        return BrineUnkeyedEncodingContainer(encoder: encoder, list: l, node: at)
    }

    mutating func superEncoder() -> any Encoder {
        let e = BrineEncodingImpl(state: encoder.state, node: node.appending(index: count))
        list.append(.encoder(e))
        return e
    }
}

// MARK: - Depth check

extension Value {
    /// When the tree nests lists and maps more than `limit` levels deep,
    /// returns the depth and the path (as coding keys) to the first such
    /// container; else `nil`. Iterative, so deep trees cannot exhaust the stack.
    func deepestNesting(over limit: Int) -> (depth: Int, path: [any CodingKey])? {
        // Each stack entry: a container, its nesting level (1 at the top) and its path.
        var stack: [(Value, Int, CodingPathNode)] = [(self, 1, .root)]
        while let (v, level, node) = stack.popLast() {
            switch v {
            case .list(let items):
                if level > limit { return (level, node.path) }
                for (i, x) in items.enumerated() where x.isContainer {
                    stack.append((x, level + 1, node.appending(index: i)))
                }
            case .map(let entries):
                if level > limit { return (level, node.path) }
                for (k, x) in entries where x.isContainer {
                    stack.append((x, level + 1, node.appending(BrineCodingKey(stringValue: k))))
                }
            default:
                break
            }
        }
        return nil
    }

    /// `true` for lists and maps.
    var isContainer: Bool {
        switch self {
        case .list, .map: return true
        default: return false
        }
    }
}
