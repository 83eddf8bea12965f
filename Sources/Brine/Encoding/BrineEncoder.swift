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
/// Format 1.1 (docs/FORMAT.md, "Codable mapping"): dictionaries are keyed by
/// their keys' stable names in canonical order (never hash order); nested
/// numeric arrays (`[[Float]]`, …) are one N-D array or flat values plus
/// row lengths; tensors sharing one storage are stored once (alias paths in
/// `brine.aliases`); a class instance met in several places is one shared
/// node; array names keep keys unescaped unless two would collide; a class
/// graph with a cycle is a ``BrineError`` naming where it closes.
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
    /// Array data is passed to ``BrineWriter/append(bytes:dtype:shape:arrayPath:options:)``
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

    /// Encodes `value` into a tree with every array recorded out of line
    /// (threshold 0) but nothing written: the Codable layer alone, for the
    /// `Benchmarks` target.
    package func encodeRecordingArrays<T: Encodable>(_ value: T) throws -> Value {
        try encode(value, sink: CollectingSink(), threshold: 0)
    }

    func encode<T: Encodable>(_ value: T, sink: (any ArraySink)?, threshold: Int, requireStableNames: Bool = false) throws -> Value {
        guard threshold >= 0 else {
            throw BrineError(.invalidArgument, "inline threshold \(threshold) is negative")
        }
        let state = EncodingState(threshold: threshold, sink: sink, userInfo: userInfo)
        state.requireStableNames = requireStableNames
        let encoder = BrineEncodingImpl(state: state, node: .root)
        let encoded = try encoder.wrapGeneric(value, at: .root)
        // Shared nodes in their final places first: they count toward the depth.
        let root = state.nextSharedID == 0 ? encoded : SharedNodes.normalize(encoded, refCount: state.refCount)
        if let (depth, path) = root.deepestNesting(over: maxDepth) {
            throw EncodingError.invalidValue(value, EncodingError.Context(
                codingPath: path,
                debugDescription: "the object tree nests \(depth) levels deep; Brine files allow at most \(maxDepth) (ReadLimits.maxDepth)"))
        }
        try state.finishNames()
        return root
    }
}

/// State shared by every encoder and container of one `encode` call.
final class EncodingState {
    let threshold: Int
    let sink: (any ArraySink)?
    let userInfo: [CodingUserInfoKey: Any]
    /// By Unicode scalars (``ExactName``), as the array table compares paths.
    private var usedPaths: Set<ExactName>
    /// The paths the sink held before this encoding (names must avoid
    /// them), by Unicode scalars: a `Set<String>` kept one of two spellings.
    let takenPaths: Set<ExactName>
    /// Weights-only coding: an array whose name would come from a position
    /// in a container without stable names (a `Set`, a dictionary keyed by
    /// arbitrary `Codable` values) is refused.
    var requireStableNames = false
    /// The innermost container without stable names being encoded.
    var unstable: (node: CodingPathNode, what: String)?
    /// Every caught array, inline or out of line, in encoding order: its
    /// coding path's keys, its provisional (format 1.0) path and its index
    /// in the sink when out of line. Final names are assigned at the end
    /// (``ArrayNames``).
    var caught: [(components: [String], legacy: String, index: Int?)] = []
    /// Second and later places of an out-of-line array whose storage was met
    /// before (tied weights): the coding path's keys and the array's index.
    var aliases: [(components: [String], index: Int)] = []
    /// Out-of-line arrays by the identity of their storage (kept alive, so
    /// that an identity cannot be reused by another object during the encoding).
    var storages: [ObjectIdentifier: (owner: AnyObject, dtype: DType, shape: [Int], byteCount: Int, index: Int)] = [:]
    /// Class instances being encoded, with their coding paths (cycle detection).
    var objectsInProgress: [ObjectIdentifier: CodingPathNode] = [:]
    /// Class instances encoded, kept alive, with their provisional shared id:
    /// a later place of the same instance becomes a ``Value/sharedRef(_:)``.
    var objectsDone: [ObjectIdentifier: (owner: AnyObject, id: Int)] = [:]
    /// Inline arrays by the identity of their storage (small tied tensors).
    var inlineStorages: [ObjectIdentifier: (owner: AnyObject, dtype: DType, shape: [Int], byteCount: Int, id: Int)] = [:]
    /// The next provisional shared id, and how often each was referred to.
    var nextSharedID = 0
    var refCount: [Int: Int] = [:]

    /// A new provisional shared id.
    func newSharedID() -> Int {
        defer { nextSharedID += 1 }
        return nextSharedID
    }

    init(threshold: Int, sink: (any ArraySink)?, userInfo: [CodingUserInfoKey: any Sendable]) {
        self.threshold = threshold
        self.sink = sink
        self.userInfo = userInfo
        let taken = sink?.takenPaths ?? []
        self.usedPaths = Set(taken.map(ExactName.init))
        self.takenPaths = usedPaths
    }

    /// The format 1.0 array path for a coding path (escaped keys), made
    /// unique with a `~2`, `~3`, … suffix when the same path was already
    /// used (a key encoded twice). Used as the provisional name.
    func uniquePath(for node: CodingPathNode) -> String {
        let base = node.arrayPath
        if usedPaths.insert(ExactName(base)).inserted { return base }
        var k = 2
        while true {
            let candidate = "\(base)~\(k)"
            if usedPaths.insert(ExactName(candidate)).inserted { return candidate }
            k += 1
        }
    }

    /// Gives every out-of-line array and alias its final name (``ArrayNames``)
    /// and tells the sink.
    func finishNames() throws {
        guard let sink else { return }
        var items: [ArrayNames.Item] = caught.map { ArrayNames.Item(components: $0.components, legacy: $0.legacy) }
        items += aliases.map { ArrayNames.Item(components: $0.components, legacy: "") }
        let names = ArrayNames.assign(items, taken: takenPaths)
        var renames: [Int: String] = [:]
        for (c, name) in zip(caught, names) {
            if let index = c.index, name != c.legacy { renames[index] = name }
        }
        let aliasNames = zip(aliases, names.dropFirst(caught.count)).map {
            (path: $1, legacyPath: ArrayNames.escaped($0.components), index: $0.index)
        }
        try sink.finishNames(renames, aliases: aliasNames)
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

    /// The value of a `.value` node; `nil` for a container or encoder.
    var plainValue: Value? {
        if case .value(let v) = self { return v }
        return nil
    }
}

final class EncodedList {
    private(set) var items: [EncodedNode] = []

    init() {}
    init(_ values: [Value]) { items = values.map { .value($0) } }

    func append(_ node: EncodedNode) { items.append(node) }

    var finished: Value { .list(items.map(\.finished)) }

    /// A list continuing `value` if it is a list encoded before, else an empty one.
    static func continuing(_ value: Value?) -> EncodedList {
        if case .list(let values)? = value { return EncodedList(values) }
        return EncodedList()
    }
}

/// An ordered map with unique keys; a key set twice keeps its first position
/// and its last value.
final class EncodedMap {
    private(set) var keys: [String] = []
    private(set) var nodes: [EncodedNode] = []
    /// By Unicode scalars (``ExactName``): two spellings of a key that Swift's
    /// `String ==` calls equal (`"\u{E9}"`, `"e\u{301}"`) are two keys, as
    /// in the file and in Python; merged, one value would overwrite the other.
    private var index: [ExactName: Int] = [:]
    private static let linearLimit = 16

    init() {}
    init(_ entries: [(key: String, value: Value)]) {
        for (k, v) in entries { set(.value(v), for: k) }
    }

    /// A map continuing `value` if it is a map encoded before, else an empty one.
    static func continuing(_ value: Value?) -> EncodedMap {
        if case .map(let entries)? = value { return EncodedMap(entries) }
        return EncodedMap()
    }

    private func position(of key: String) -> Int? {
        if keys.count <= EncodedMap.linearLimit { return keys.firstIndex { $0.isSameName(as: key) } }
        return index[ExactName(key)]
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
                for (i, k) in keys.enumerated() { index[ExactName(k)] = i }
            } else {
                index[ExactName(key)] = keys.count - 1
            }
        }
    }

    /// The nested map at `key`, reusing one created or encoded there before.
    func nestedMap(for key: String) -> EncodedMap {
        if case .map(let m)? = node(for: key) { return m }
        return adopt(EncodedMap.continuing(node(for: key)?.plainValue), at: key, as: EncodedNode.map)
    }

    /// The nested list at `key`, reusing one created or encoded there before.
    func nestedList(for key: String) -> EncodedList {
        if case .list(let l)? = node(for: key) { return l }
        return adopt(EncodedList.continuing(node(for: key)?.plainValue), at: key, as: EncodedNode.list)
    }

    /// Sets `container` (wrapped by `wrap`) at `key` and returns it.
    private func adopt<C>(_ container: C, at key: String, as wrap: (C) -> EncodedNode) -> C {
        set(wrap(container), for: key)
        return container
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
        // A value or list encoded before at this path is replaced, as a key
        // encoded twice would be; a map encoded before is continued.
        let m = map ?? EncodedMap.continuing(singleValue)
        if map == nil { (singleValue, list, map) = (nil, nil, m) }
        return KeyedEncodingContainer(BrineKeyedEncodingContainer<Key>(encoder: self, map: m, node: node))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let l = list ?? EncodedList.continuing(singleValue)
        if list == nil {
            if case .list? = singleValue {} else { map = nil }
            (singleValue, list) = (nil, l)
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
        if T.self is AnyObject.Type {
            return try wrapObject(value as AnyObject, value, at: node)
        }
        return try wrapEncodable(value, at: node)
    }

    /// Encodes a class instance, refusing a cycle: an instance met again
    /// while its own encoding is under way.
    private func wrapObject<T: Encodable>(_ object: AnyObject, _ value: T, at node: CodingPathNode) throws -> Value {
        let id = ObjectIdentifier(object)
        if let first = state.objectsInProgress[id] {
            let here = ArrayNames.raw(node.components)
            let there = ArrayNames.raw(first.components)
            throw BrineError(.invalidArgument,
                "the class graph has a cycle: the \(T.self) instance at '\(here)' is the one being encoded at '\(there)'; Codable cannot encode a cycle (break it with a weak or unencoded reference)",
                arrayPath: here)
        }
        if let done = state.objectsDone[id] {
            state.refCount[done.id, default: 0] += 1
            return .sharedRef(done.id)
        }
        state.objectsInProgress[id] = node
        defer { state.objectsInProgress[id] = nil }
        let v = try wrapEncodable(value, at: node)
        let n = state.newSharedID()
        state.objectsDone[id] = (object, n)
        return .shared(n, v)
    }

    /// Runs `body` with `node` marked as a container without stable names
    /// (weights-only coding refuses arrays inside it).
    func withUnstableNames<R>(at node: CodingPathNode, what: String, _ body: () throws -> R) throws -> R {
        let saved = state.unstable
        state.unstable = (node, what)
        defer { state.unstable = saved }
        return try body()
    }

    /// Encodes a value through its own `encode(to:)` with a sub-encoder at `node`.
    func wrapEncodable<T: Encodable>(_ value: T, at node: CodingPathNode) throws -> Value {
        var encoder = subEncoder(at: node)
        defer { returnSubEncoder(&encoder) }
        try value.encode(to: encoder)
        return encoder.takeValue() ?? .map([])
    }

    /// Stores one caught array: out of line through the sink when it has at
    /// least `threshold` bytes (or `forceOutOfLine`), else `inline()`.
    /// - Parameter identity: the object owning the bytes (a tensor's
    ///   storage): a second array with the same owner, dtype and shape is
    ///   stored once, as another reference to the first (tied weights).
    func encodeArray(
        _ bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int], at node: CodingPathNode,
        identity: AnyObject? = nil, forceOutOfLine: Bool = false,
        inline: () -> Value, original: () -> ArraySlot
    ) throws -> Value {
        let components = node.components
        if state.requireStableNames, let u = state.unstable {
            let here = ArrayNames.raw(components)
            throw BrineError(.invalidArgument,
                "the array at '\(here)' is inside \(u.what) at '\(ArrayNames.raw(u.node.components))', so its name would come from a position, not a stable name; weights-only saves and loads need stable names (String, integer or raw-value enum keys, CodingKeyRepresentable): use such keys or an array, or save the whole model with Brine.save",
                arrayPath: here)
        }
        // A sink may place arrays itself (a read-write session keeps the file's layout).
        let placed = state.sink.flatMap { ($0 as? any ArrayPlacement)?.outOfLine(path: node.arrayPath, byteCount: bytes.count) }
        guard let sink = state.sink, forceOutOfLine || (placed ?? (bytes.count >= state.threshold)) else {
            guard let identity else {
                state.caught.append((components, "", nil))
                return inline()
            }
            // A small tensor met again (same storage, dtype, shape): a reference to its first place.
            let oid = ObjectIdentifier(identity)
            if let s = state.inlineStorages[oid], s.dtype == dtype, s.shape == shape, s.byteCount == bytes.count {
                state.refCount[s.id, default: 0] += 1
                return .sharedRef(s.id)
            }
            state.caught.append((components, "", nil))
            let n = state.newSharedID()
            if state.inlineStorages[oid] == nil { state.inlineStorages[oid] = (identity, dtype, shape, bytes.count, n) }
            return .shared(n, inline())
        }
        if let identity, let s = state.storages[ObjectIdentifier(identity)],
           s.dtype == dtype, s.shape == shape, s.byteCount == bytes.count {
            state.aliases.append((components, s.index))
            return .arrayRef(s.index)
        }
        let legacy = state.uniquePath(for: node)
        let index = try sink.append(bytes, dtype: dtype, shape: shape, path: legacy, original: original)
        state.caught.append((components, legacy, index))
        // A negative index: a filtering sink dropped it. Its next place (a
        // tied weight under another name) is offered again, not made an
        // alias of nothing.
        if index >= 0, let identity, state.storages[ObjectIdentifier(identity)] == nil {
            state.storages[ObjectIdentifier(identity)] = (identity, dtype, shape, bytes.count, index)
        }
        return .arrayRef(index)
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
            case .shared(_, let x):
                // One level for the reader's depth cap (docs/FORMAT.md, shared references).
                if level > limit { return (level, node.path) }
                if x.isContainer { stack.append((x, level + 1, node)) }
            default:
                break
            }
        }
        return nil
    }

    /// `true` for lists and maps.
    var isContainer: Bool {
        switch self {
        case .list, .map, .shared: return true
        default: return false
        }
    }
}
