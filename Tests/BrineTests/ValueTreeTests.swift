import Foundation
import Testing
@testable import Brine
import BrineTestSupport

/// The object-tree decoder (iterative since it must not recurse on hostile
/// input) against the encoder: random trees with every value kind, empty
/// and nested lists and maps, decode to themselves.
@Suite("Object tree decoding")
struct ValueTreeTests {
    /// A random tree of at most `depth` nested containers.
    static func randomTree(_ rng: inout SplitMix64, depth: Int, arrays: Int) -> Value {
        let pick = rng.next() % (depth > 0 ? 14 : 10)
        switch pick {
        case 0: return .null
        case 1: return .bool(rng.next() & 1 == 1)
        case 2: return .int(Int64(bitPattern: rng.next()))
        case 3: return .uint(rng.next() >> (rng.next() % 64))
        case 4: return .float32(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())))
        case 5: return .float64(Double(bitPattern: rng.next()))
        case 6: return .string(String(repeating: "é", count: Int(rng.next() % 5)) + "k\(rng.next() % 100)")
        case 7: return .bytes((0 ..< rng.next() % 6).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        case 8, 9: return arrays > 0 ? .arrayRef(Int(rng.next() % UInt64(arrays))) : .null
        case 10, 11:
            return .list((0 ..< rng.next() % 5).map { _ in randomTree(&rng, depth: depth - 1, arrays: arrays) })
        default:
            let n = Int(rng.next() % 5)
            return .map((0 ..< n).map { i in (key: "key\(i)", value: randomTree(&rng, depth: depth - 1, arrays: arrays)) })
        }
    }

    @Test("random trees decode to themselves", arguments: 0 ..< 8)
    func randomTrees(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &* 0x1234_5678_9ABC)
        for _ in 0 ..< 25 {
            let root = Self.randomTree(&rng, depth: 6, arrays: 3)
            let meta: Value = .map([("m", Self.randomTree(&rng, depth: 4, arrays: 0))])
            let url = makeTemporaryDirectory().appendingPathComponent("t.brine")
            var o = WriteOptions()
            o.durable = false
            let w = try BrineWriter(url: url, options: o)
            for i in 0 ..< 3 { try w.append([Int8(i)], arrayPath: "a\(i)") }
            try w.finish(root: root, metadata: meta)
            let f = try BrineFile(contentsOf: url)
            #expect(f.root == root)
            #expect(f.metadata["m"] == meta["m"])
        }
    }

    @Test("empty containers, and containers that close several levels at once")
    func edgeTrees() throws {
        let trees: [Value] = [
            .list([]), .map([]), .list([.list([])]), .list([.list([.list([.null])])]),
            .map([("a", .map([("b", .list([.map([])]))]))]), .list([.list([]), .map([]), .null, .list([.list([])])]),
        ]
        for root in trees {
            let url = makeTemporaryDirectory().appendingPathComponent("e.brine")
            try BrineWriter(url: url).finish(root: root)
            #expect(try BrineFile(contentsOf: url).root == root, "\(root)")
        }
    }
}

extension ValueTreeTests {
    /// The rendering the iterative `description` must reproduce (recursive).
    static func reference(_ v: Value) -> String {
        switch v {
        case .list(let l): return "[" + l.map(reference).joined(separator: ", ") + "]"
        case .map(let m): return "{" + m.map { Value.quoted($0.key) + ": " + reference($0.value) }.joined(separator: ", ") + "}"
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .uint(let u): return String(u)
        case .float32(let f): return f.description
        case .float64(let d): return d.description
        case .string(let s): return Value.quoted(s)
        case .bytes(let b): return "<\(b.count) bytes>"
        case .arrayRef(let i): return "<array #\(i)>"
        case .shared(let i, let x): return "<shared #\(i)> " + reference(x)
        case .sharedRef(let i): return "<same as shared #\(i)>"
        }
    }

    @Test("description renders random trees as the recursive definition does")
    func descriptions() {
        var rng = SplitMix64(seed: 99)
        for _ in 0 ..< 300 {
            let v = Self.randomTree(&rng, depth: 5, arrays: 4)
            #expect(v.description == Self.reference(v))
        }
        let nested: Value = ["a": [1, "x\n", ["b": nil]], "": [], "e": .map([])]
        #expect(nested.description == #"{"a": [1, "x\n", {"b": null}], "": [], "e": {}}"#)
    }
}
