/// A coding key made from a string, an integer index, or both: unkeyed
/// container positions, `super`, and keys recovered from a file.
struct BrineCodingKey: CodingKey, Sendable {
    let stringValue: String
    let intValue: Int?

    init(stringValue: String) {
        self.stringValue = stringValue
        self.intValue = nil
    }

    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }

    init(index: Int) { self.init(intValue: index) }

    /// The key `superEncoder()`/`superDecoder()` use, as in Foundation's coders.
    static let `super` = BrineCodingKey(stringValue: "super")
}

/// The path from the root of the model to the value being coded: a cheap,
/// immutable linked list (each node points at its parent), modelled on
/// swift-foundation's `_CodingPathNode`. Extending the path allocates one
/// node; the `[CodingKey]` array that `Encoder.codingPath` returns is built
/// only when asked for (errors, user code that reads it).
indirect enum CodingPathNode {
    case root
    case key(any CodingKey, CodingPathNode, depth: Int)
    case index(Int, CodingPathNode, depth: Int)

    /// The number of keys from the root.
    var depth: Int {
        switch self {
        case .root: return 0
        case .key(_, _, let d), .index(_, _, let d): return d
        }
    }

    func appending(_ key: some CodingKey) -> CodingPathNode {
        .key(key, self, depth: depth + 1)
    }

    func appending(index: Int) -> CodingPathNode {
        .index(index, self, depth: depth + 1)
    }

    /// One element per key, outermost first: `key` of a keyed position,
    /// `index` of an unkeyed one.
    private func map<T>(key: (any CodingKey) -> T, index: (Int) -> T) -> [T] {
        var parts: [T] = []
        parts.reserveCapacity(depth)
        var node = self
        while true {
            switch node {
            case .root: return parts.reversed()
            case .key(let k, let parent, _): parts.append(key(k)); node = parent
            case .index(let i, let parent, _): parts.append(index(i)); node = parent
            }
        }
    }

    /// The coding path as `Encoder.codingPath`/`Decoder.codingPath` report it.
    var path: [any CodingKey] {
        map(key: { $0 }, index: { BrineCodingKey(index: $0) })
    }

    /// The coding path's keys as strings (unkeyed positions as decimal
    /// indices), outermost first.
    var components: [String] {
        map(key: \.stringValue, index: { String($0) })
    }

    /// The format 1.0 array path of this position: the coding path's
    /// keys (`stringValue`; unkeyed positions as decimal indices), each
    /// escaped with ``CodingPathNode/escape(_:)``, joined by `.`; `root` for
    /// the empty path. See docs/FORMAT.md, "Codable mapping".
    var arrayPath: String {
        let parts = map(key: { CodingPathNode.escape($0.stringValue) }, index: { String($0) })
        return parts.isEmpty ? "root" : parts.joined(separator: ".")
    }

    /// Escapes one path component so that joining components with `.` is
    /// unambiguous: `%` becomes `%25`, `.` becomes `%2E`, and the empty key
    /// becomes `%00` (which no escaped non-empty key can produce).
    static func escape(_ key: String) -> String {
        if key.isEmpty { return "%00" }
        var needs = false
        for b in key.utf8 where b == UInt8(ascii: ".") || b == UInt8(ascii: "%") {
            needs = true
            break
        }
        guard needs else { return key }
        var out = ""
        out.reserveCapacity(key.utf8.count + 8)
        for ch in key.unicodeScalars {
            switch ch {
            case "%": out += "%25"
            case ".": out += "%2E"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
