/// Dictionary keys and set elements with a stable name (docs/FORMAT.md,
/// "Codable mapping", "Dictionaries"): the name that becomes a map key and a
/// component of array paths, and the canonical order in which Brine writes
/// them, so that array paths come from keys and never from a dictionary's
/// per-process hash order, and a model saves to the same bytes every time.
///
/// In order of precedence:
/// 1. `String`: the string itself;
/// 2. `CodingKeyRepresentable` (`Int`, and enums or types that adopt it):
///    `codingKey.stringValue`, as Swift's own `Dictionary` coding does;
/// 3. every other `BinaryInteger` (`Int8`…`Int64`, `UInt`…`UInt64`): decimal;
/// 4. `RawRepresentable` with a `String` raw value (the raw value) or an
///    integer raw value (decimal).
/// Other types have no stable name.
enum StableKey {
    /// A key's name and its position in the canonical order.
    struct Named: Comparable {
        var name: String
        /// Integers sort by value (negative first), names by UTF-8 bytes.
        var order: Order

        enum Order: Comparable {
            case integer(negative: Bool, magnitude: UInt64)
            case text([UInt8])

            static func < (a: Order, b: Order) -> Bool {
                switch (a, b) {
                case let (.integer(an, am), .integer(bn, bm)):
                    if an != bn { return an }
                    return an ? am > bm : am < bm
                case (.integer, .text): return true
                case (.text, .integer): return false
                case let (.text(x), .text(y)): return x.lexicographicallyPrecedes(y)
                }
            }
        }

        static func < (a: Named, b: Named) -> Bool { a.order < b.order }
        static func == (a: Named, b: Named) -> Bool { a.order == b.order }
    }

    /// `true` when values of `type` have stable names.
    static func isStable(_ type: Any.Type) -> Bool {
        if type == String.self || type is any CodingKeyRepresentable.Type || type is any BinaryInteger.Type { return true }
        if let r = type as? any RawRepresentable.Type { return rawValueIsNameable(r) }
        return false
    }

    private static func rawValueIsNameable<R: RawRepresentable>(_: R.Type) -> Bool {
        R.RawValue.self == String.self || R.RawValue.self is any BinaryInteger.Type
    }

    /// The stable name of `key`, or `nil` when its type has none.
    static func named<K>(_ key: K) -> Named? {
        if K.self == String.self {
            let s = key as! String
            return Named(name: s, order: .text(Array(s.utf8)))
        }
        if let k = key as? any CodingKeyRepresentable {
            let ck = k.codingKey
            // Integer keys (Int, integer raw values) sort by value.
            if let i = ck.intValue, String(i) == ck.stringValue {
                return Named(name: ck.stringValue, order: integerOrder(i))
            }
            return Named(name: ck.stringValue, order: .text(Array(ck.stringValue.utf8)))
        }
        if let i = key as? any BinaryInteger { return integerNamed(i) }
        if let r = key as? any RawRepresentable { return rawNamed(r) }
        return nil
    }

    private static func integerOrder<I: BinaryInteger>(_ i: I) -> Named.Order {
        .integer(negative: i.signum() < 0, magnitude: UInt64(truncatingIfNeeded: i.magnitude))
    }

    private static func integerNamed<I: BinaryInteger>(_ i: I) -> Named {
        Named(name: String(i), order: integerOrder(i))
    }

    private static func rawNamed<R: RawRepresentable>(_ r: R) -> Named? {
        let raw = r.rawValue
        if R.RawValue.self == String.self {
            let s = raw as! String
            return Named(name: s, order: .text(Array(s.utf8)))
        }
        if let i = raw as? any BinaryInteger { return integerNamed(i) }
        return nil
    }

    /// The key of type `K` whose stable name is `name`, or `nil` when no
    /// key has that name (or `K` has no stable names).
    static func key<K>(named name: String, as: K.Type) -> K? {
        if K.self == String.self { return (name as! K) }
        if let c = K.self as? any CodingKeyRepresentable.Type {
            return fromCodingKey(c, name) as? K
        }
        if let i = K.self as? any FixedWidthInteger.Type { return parseInteger(i, name) as? K }
        if let r = K.self as? any RawRepresentable.Type { return fromRaw(r, name) as? K }
        return nil
    }

    private static func fromCodingKey<C: CodingKeyRepresentable>(_: C.Type, _ name: String) -> C? {
        C(codingKey: NameKey(stringValue: name, intValue: Int(name)))
    }

    private static func parseInteger<I: FixedWidthInteger>(_: I.Type, _ name: String) -> I? {
        guard let v = I(name, radix: 10), String(v) == name else { return nil }  // canonical decimal only
        return v
    }

    private static func fromRaw<R: RawRepresentable>(_: R.Type, _ name: String) -> R? {
        if R.RawValue.self == String.self { return R(rawValue: name as! R.RawValue) }
        if let i = R.RawValue.self as? any FixedWidthInteger.Type, let v = parseInteger(i, name) {
            return R(rawValue: v as! R.RawValue)
        }
        return nil
    }

    /// A coding key with a string and, when the string is a decimal integer, an integer value.
    struct NameKey: CodingKey {
        var stringValue: String
        var intValue: Int?
        init(stringValue: String, intValue: Int?) {
            self.stringValue = stringValue
            self.intValue = intValue
        }
        init(stringValue: String) { self.init(stringValue: stringValue, intValue: Int(stringValue)) }
        init(intValue: Int) { self.init(stringValue: String(intValue), intValue: intValue) }
    }
}

/// `Value` under another name, for extensions of generic types (`Dictionary`)
/// whose own `Value` would shadow it.
typealias TreeValue = Value

// MARK: - Dictionaries

/// Dictionaries whose keys have stable names (``StableKey``) are maps keyed by
/// those names, in canonical order; others are lists `[k0, v0, k1, v1, …]`
/// sorted by the keys' encoded bytes. Either way the order is independent of
/// the per-process hash seed.
extension Dictionary: BrineEncodingSpecial where Key: Encodable, Value: Encodable {
    static func brineEncode<T>(_ value: T, with encoder: BrineEncodingImpl, at node: CodingPathNode) throws -> TreeValue {
        try encoder.encodeDictionary(value as! [Key: Value], at: node)
    }
}

extension Dictionary: BrineDecodingSpecial where Key: Decodable, Value: Decodable {
    static func brineDecode(from value: TreeValue, with decoder: BrineDecodingImpl, at node: CodingPathNode) throws -> [Key: Value] {
        guard case .map(let entries) = value else {
            // The list form (keys without stable names; or a 1.0 file).
            return try decoder.unwrapPlain([Key: Value].self, from: value, at: node)
        }
        guard StableKey.isStable(Key.self) else {
            return try decoder.unwrapPlain([Key: Value].self, from: value, at: node)
        }
        var out: [Key: Value] = [:]
        out.reserveCapacity(entries.count)
        for (name, v) in entries {
            let at = node.appending(BrineCodingKey(stringValue: name))
            guard let k = StableKey.key(named: name, as: Key.self) else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: at.path, debugDescription: "map key '\(name)' is not a valid \(Key.self)"))
            }
            guard out[k] == nil else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: at.path, debugDescription: "map key '\(name)' names the same \(Key.self) as an earlier key"))
            }
            out[k] = try decoder.unwrap(Value.self, from: v, at: at)
        }
        return out
    }
}

/// Sets are lists in canonical order: by stable name when the elements have
/// one, else by their encoded bytes.
extension Set: BrineEncodingSpecial where Element: Encodable {
    static func brineEncode<T>(_ value: T, with encoder: BrineEncodingImpl, at node: CodingPathNode) throws -> TreeValue {
        try encoder.encodeSet(value as! Set<Element>, at: node)
    }
}

extension BrineEncodingImpl {
    func encodeDictionary<K: Encodable, V: Encodable>(_ dict: [K: V], at node: CodingPathNode) throws -> Value {
        if StableKey.isStable(K.self) {
            var named: [(key: StableKey.Named, value: V)] = []
            named.reserveCapacity(dict.count)
            for (k, v) in dict {
                guard let n = StableKey.named(k) else { break }
                named.append((n, v))
            }
            if named.count == dict.count {
                named.sort { $0.key < $1.key }
                var entries: [(key: String, value: Value)] = []
                entries.reserveCapacity(named.count)
                var previous: String? = nil
                for (n, v) in named {
                    let at = node.appending(BrineCodingKey(stringValue: n.name))
                    if n.name == previous {
                        throw EncodingError.invalidValue(dict, .init(
                            codingPath: at.path, debugDescription: "two keys of this [\(K.self): \(V.self)] have the same name '\(n.name)'"))
                    }
                    previous = n.name
                    entries.append((n.name, try wrapGeneric(v, at: at)))
                }
                return .map(entries)
            }
        }
        // No stable names: Swift's own list form, sorted by the keys' bytes.
        var keyed: [(bytes: [UInt8], key: K, value: V)] = []
        keyed.reserveCapacity(dict.count)
        for (k, v) in dict { keyed.append((try canonicalBytes(k), k, v)) }
        keyed.sort { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        return try withUnstableNames(at: node, what: "a dictionary whose keys (\(K.self)) have no stable name") {
            var items: [Value] = []
            items.reserveCapacity(2 * keyed.count)
            for (i, e) in keyed.enumerated() {
                items.append(try wrapGeneric(e.key, at: node.appending(index: 2 * i)))
                items.append(try wrapGeneric(e.value, at: node.appending(index: 2 * i + 1)))
            }
            return .list(items)
        }
    }

    func encodeSet<E: Encodable>(_ set: Set<E>, at node: CodingPathNode) throws -> Value {
        var elements: [(order: StableKey.Named.Order, element: E)] = []
        elements.reserveCapacity(set.count)
        if StableKey.isStable(E.self) {
            for e in set {
                guard let n = StableKey.named(e) else { break }
                elements.append((n.order, e))
            }
        }
        if elements.count != set.count {
            elements.removeAll()
            for e in set { elements.append((.text(try canonicalBytes(e)), e)) }
        }
        elements.sort { $0.order < $1.order }
        return try withUnstableNames(at: node, what: "a Set") {
            var items: [Value] = []
            items.reserveCapacity(elements.count)
            for (i, e) in elements.enumerated() { items.append(try wrapGeneric(e.element, at: node.appending(index: i))) }
            return .list(items)
        }
    }

    /// The bytes of `value` encoded on its own, every array inline: a sort key
    /// that depends only on the value.
    private func canonicalBytes<E: Encodable>(_ value: E) throws -> [UInt8] {
        let scratch = EncodingState(threshold: Int.max, sink: nil, userInfo: [:])
        let v = try BrineEncodingImpl(state: scratch, node: .root).wrapGeneric(value, at: .root)
        var w = ByteWriter(capacity: 64)
        Header.encodeValue(v, into: &w)
        return w.bytes
    }
}
