/// Nested numeric arrays (`[[Float]]`, `[[[Double]]]`, `[[Int32]]`, …): a
/// direct port of Python's lists of lists (docs/FORMAT.md, "Codable mapping",
/// "Nested numeric arrays"; added in format 1.1).
///
/// A value of nesting depth `d ≥ 2` whose leaves and sub-array count cost at
/// least the inline threshold (`leaf bytes + 8 × sub-arrays`) is stored as:
/// - **rectangular** (every array of a level has the same length): one
///   out-of-line array of rank `d`, shape `[n0, n1, …]`, in the tree as
///   `array_ref`;
/// - **ragged**: a map `{"values": <flat leaves, C order>, "lengths": [L1, …, L(d-1)]}`,
///   where `L1` holds the lengths of the `n0` arrays of level 1, `L2` the
///   lengths of the `sum(L1)` arrays of level 2, …, each an int64 array
///   (inline or out of line by the usual threshold) and `values` holds
///   `sum(L(d-1))` leaves.
/// Smaller values stay the list of inline rows a generic coder writes (the
/// format 1.0 form, which still decodes, as does 1.0's list of `array_ref` rows).
protocol BrineNestable: Codable {
    associatedtype Leaf: BrineArrayElement
    /// 0 for a scalar, 1 for `[S]`, 2 for `[[S]]`, …
    static var nestingDepth: Int { get }
    /// Appends the lengths of this value's arrays (by level) and its leaves (C order).
    func brineCollect(level: Int, lengths: inout [[Int]], leaves: inout [Leaf])
    /// Builds a value of this type from a reader positioned at it.
    static func brineBuild(level: Int, reader: inout NestedReader<Leaf>) -> Self
}

extension BrineArrayElement {
    static var nestingDepth: Int { 0 }
    func brineCollect(level: Int, lengths: inout [[Int]], leaves: inout [Self]) { leaves.append(self) }
    static func brineBuild(level: Int, reader: inout NestedReader<Self>) -> Self { reader.takeLeaves(1)[0] }
}

extension Array: BrineNestable where Element: BrineNestable {
    typealias Leaf = Element.Leaf
    static var nestingDepth: Int { Element.nestingDepth + 1 }

    func brineCollect(level: Int, lengths: inout [[Int]], leaves: inout [Element.Leaf]) {
        lengths[level].append(count)
        if Element.nestingDepth == 0 {
            leaves.append(contentsOf: self as! [Element.Leaf])
        } else {
            for e in self { e.brineCollect(level: level + 1, lengths: &lengths, leaves: &leaves) }
        }
    }

    static func brineBuild(level: Int, reader: inout NestedReader<Element.Leaf>) -> [Element] {
        let n = reader.nextLength(level: level)
        if Element.nestingDepth == 0 { return Array<Element.Leaf>(reader.takeLeaves(n)) as! [Element] }
        var out: [Element] = []
        out.reserveCapacity(n)
        for _ in 0 ..< n { out.append(Element.brineBuild(level: level + 1, reader: &reader)) }
        return out
    }
}

// A ContiguousArray is coded as the Array sharing its storage (both
// conversions are O(1): the two types wrap the same buffer on Linux and for
// native Swift elements on Apple platforms).
extension ContiguousArray: BrineNestable where Element: BrineNestable {
    typealias Leaf = Element.Leaf
    static var nestingDepth: Int { Element.nestingDepth + 1 }

    func brineCollect(level: Int, lengths: inout [[Int]], leaves: inout [Element.Leaf]) {
        Array(self).brineCollect(level: level, lengths: &lengths, leaves: &leaves)
    }

    static func brineBuild(level: Int, reader: inout NestedReader<Element.Leaf>) -> ContiguousArray<Element> {
        ContiguousArray([Element].brineBuild(level: level, reader: &reader))
    }
}

/// Reads lengths and leaves while a nested value is built. The caller has
/// checked that they are consistent (so no read goes out of bounds).
struct NestedReader<Leaf> {
    enum Lengths {
        /// Rectangular: every array of level `k` has `shape[k]` elements.
        case shape([Int])
        /// Ragged: `levels[k - 1]` holds the lengths of the arrays of level `k ≥ 1`.
        case ragged([[Int]])
    }

    let leaves: UnsafeBufferPointer<Leaf>
    let lengths: Lengths
    private var leafCursor = 0
    private var cursors: [Int]

    init(leaves: UnsafeBufferPointer<Leaf>, lengths: Lengths) {
        self.leaves = leaves
        self.lengths = lengths
        if case .ragged(let levels) = lengths { cursors = Array(repeating: 0, count: levels.count) } else { cursors = [] }
    }

    mutating func nextLength(level: Int) -> Int {
        switch lengths {
        case .shape(let s): return s[level]
        case .ragged(let levels):
            if level == 0 { return levels[0].count }
            defer { cursors[level - 1] += 1 }
            return levels[level - 1][cursors[level - 1]]
        }
    }

    mutating func takeLeaves(_ n: Int) -> UnsafeBufferPointer<Leaf> {
        defer { leafCursor += n }
        return UnsafeBufferPointer(rebasing: leaves[leafCursor ..< leafCursor + n])
    }
}

/// Most empty sub-arrays a rectangular array may decode into beyond its
/// element count (a shape like `[2^40, 0]` holds no data but would build
/// that many arrays).
let maxEmptyNestedArrays = 1 << 24

extension BrineEncodingImpl {
    /// Encodes a nested numeric array of depth ≥ 2 out of line, or returns
    /// `nil` when it is small enough to stay a list of inline rows.
    func encodeNested<A: BrineNestable>(_ value: A, at node: CodingPathNode) throws -> Value? {
        let depth = A.nestingDepth
        var lengths = [[Int]](repeating: [], count: depth)
        var leaves: [A.Leaf] = []
        value.brineCollect(level: 0, lengths: &lengths, leaves: &leaves)
        let rows = lengths.dropFirst().reduce(0) { $0 + $1.count }
        let cost = leaves.count * MemoryLayout<A.Leaf>.stride + 8 * rows
        guard state.sink != nil, cost >= state.threshold else { return nil }
        let rectangular = lengths.dropFirst().allSatisfy { level in level.allSatisfy { $0 == level.first } }
        if rectangular {
            let shape = lengths.map { $0.first ?? 0 }
            let dtype = A.Leaf.arrayDType
            return try leaves.withUnsafeBytes { bytes in
                try encodeArray(
                    bytes, dtype: dtype, shape: shape, at: node, forceOutOfLine: true,
                    inline: { .null },
                    original: {
                        .original(value, makeTensor: {
                            leaves.withUnsafeBytes { try! AnyTensor(dtype: dtype, shape: shape, copying: $0) }
                        })
                    })
            }
        }
        let lengthsNode = node.appending(BrineCodingKey(stringValue: "lengths"))
        var levels: [Value] = []
        for k in 1 ..< depth {
            levels.append(try wrapGeneric(lengths[k].map { Int64($0) }, at: lengthsNode.appending(index: k - 1)))
        }
        let values = try wrapGeneric(leaves, at: node.appending(BrineCodingKey(stringValue: "values")))
        return .map([("values", values), ("lengths", .list(levels))])
    }

    /// The list of rows of a small nested array (each row inline), as a generic coder writes it.
    func encodeRows<C: Collection>(_ rows: C, at node: CodingPathNode) throws -> Value where C.Element: Encodable {
        var items: [Value] = []
        items.reserveCapacity(rows.count)
        for (i, e) in rows.enumerated() { items.append(try wrapGeneric(e, at: node.appending(index: i))) }
        return .list(items)
    }
}

extension BrineDecodingImpl {
    /// Decodes a nested numeric array of depth ≥ 2 from an N-D `array_ref`,
    /// the ragged map, or a list of rows.
    func decodeNested<A: BrineNestable>(_ type: A.Type, from value: Value, at node: CodingPathNode) throws -> A {
        let depth = A.nestingDepth
        let dtype = A.Leaf.arrayDType
        switch value {
        case .arrayRef:
            switch try outOfLineArray(value, requested: A.self, at: node) {
            case .original(let v)?:
                return v as! A
            case .tensor(let t, let path)?:
                try check(t, dtype: dtype, for: A.self, path: path, at: node)
                guard t.shape.count == depth else {
                    let name = path.map { "array '\($0)'" } ?? "the array"
                    throw DecodingError.typeMismatch(A.self, .init(
                        codingPath: node.path,
                        debugDescription: "\(name) has rank \(t.shape.count) (shape \(t.shape)); \(A.self) nests \(depth) levels"))
                }
                var arrays = 1
                for d in t.shape.dropLast() {
                    let (p, o) = arrays.multipliedReportingOverflow(by: d)
                    guard !o, p <= t.count + maxEmptyNestedArrays else {
                        throw DecodingError.dataCorrupted(.init(
                            codingPath: node.path,
                            debugDescription: "shape \(t.shape) would build more than \(maxEmptyNestedArrays) arrays beyond its \(t.count) elements"))
                    }
                    arrays = p
                }
                let leaves = UnsafeBufferPointer(start: t.storage.baseAddress.assumingMemoryBound(to: A.Leaf.self), count: t.count)
                var reader = NestedReader(leaves: leaves, lengths: .shape(t.shape))
                let out = A.brineBuild(level: 0, reader: &reader)
                withExtendedLifetime(t.storage) {}
                return out
            case nil:
                throw mismatch(A.self, value, at: node, expected: "an array reference")
            }
        case .map(let entries):
            let map = MapLookup(entries)
            let lengthsNode = node.appending(BrineCodingKey(stringValue: "lengths"))
            guard let valuesValue = map["values"], case .list(let levelValues)? = map["lengths"], levelValues.count == depth - 1 else {
                throw mismatch(A.self, value, at: node,
                               expected: "a nested array: an array reference, a list of rows, or {values, lengths} with \(depth - 1) length arrays")
            }
            var levels: [[Int]] = []
            var expected: Int? = nil
            for (k, lv) in levelValues.enumerated() {
                let at = lengthsNode.appending(index: k)
                let raw = try unwrap([Int64].self, from: lv, at: at)
                if let expected, raw.count != expected {
                    throw DecodingError.dataCorrupted(.init(
                        codingPath: at.path, debugDescription: "\(raw.count) lengths; the level above holds \(expected) arrays"))
                }
                var sum = 0
                var level: [Int] = []
                level.reserveCapacity(raw.count)
                for (i, x) in raw.enumerated() {
                    guard x >= 0, x <= Int.max - sum else {
                        throw DecodingError.dataCorrupted(.init(codingPath: at.appending(index: i).path, debugDescription: "length \(x) is negative or too large"))
                    }
                    sum += Int(x)
                    level.append(Int(x))
                }
                levels.append(level)
                expected = sum
            }
            let leaves = try unwrap([A.Leaf].self, from: valuesValue, at: node.appending(BrineCodingKey(stringValue: "values")))
            guard leaves.count == expected else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: node.path, debugDescription: "\(leaves.count) values; the lengths call for \(expected ?? 0)"))
            }
            return leaves.withUnsafeBufferPointer { buffer in
                var reader = NestedReader(leaves: buffer, lengths: .ragged(levels))
                return A.brineBuild(level: 0, reader: &reader)
            }
        default:
            return try unwrapPlain(A.self, from: value, at: node)
        }
    }
}
