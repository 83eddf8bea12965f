import Foundation
import Testing
@testable import Brine

/// Operations that changed data and reported success, found by reproducing
/// them through the public API: each test failed before its fix.
@Suite("Nothing is changed without an error: key spellings, inline conversions, preserved options")
struct SilentChangeTests {
    /// Two keys that Swift's `String ==` calls equal but whose code points
    /// differ: precomposed é and e + combining acute.
    static let precomposed = "\u{E9}", decomposed = "e\u{301}"

    /// A model whose two fields are keyed by the two spellings.
    struct TwoSpellings: Codable {
        var first: [Float]
        var second: [Float]
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        init(first: [Float], second: [Float]) {
            self.first = first
            self.second = second
        }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(first, forKey: Key(stringValue: SilentChangeTests.precomposed))
            try c.encode(second, forKey: Key(stringValue: SilentChangeTests.decomposed))
        }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            first = try c.decode([Float].self, forKey: Key(stringValue: SilentChangeTests.precomposed))
            second = try c.decode([Float].self, forKey: Key(stringValue: SilentChangeTests.decomposed))
        }
    }

    @Test("two key spellings are two keys and two arrays, out of line and inline; loading them into Swift keys is refused, never merged",
          arguments: [0, 4096])
    func keySpellingsStayApart(inlineThreshold: Int) throws {
        let url = makeTemporaryDirectory("spellings").appendingPathComponent("m.brine")
        var o = SaveOptions()
        o.inlineThreshold = inlineThreshold
        try Brine.save(TwoSpellings(first: [1, 1], second: [2, 2]), to: url, options: o)
        let file = try BrineFile(contentsOf: url)
        guard case .map(let entries) = file.root else {
            Issue.record("root is not a map: \(file.root)")
            return
        }
        // Both keys, with their own code points, in the tree.
        #expect(entries.map { Array($0.key.unicodeScalars) } == [Array(Self.precomposed.unicodeScalars), Array(Self.decomposed.unicodeScalars)])
        if inlineThreshold == 0 {
            // Both arrays, named by their own keys (no "~2", no escape), each with its own data.
            #expect(file.arrays.map { Array($0.path.unicodeScalars) } == [Array(Self.precomposed.unicodeScalars), Array(Self.decomposed.unicodeScalars)])
            let a = try file.anyArray(file.arrays[0].path), b = try file.anyArray(file.arrays[1].path)
            #expect(a.storage.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } == [1, 1])
            #expect(b.storage.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } == [2, 2])
        }
        // A Swift CodingKey cannot tell the two apart: the load says so.
        #expect(throws: BrineError.self) { _ = try Brine.load(TwoSpellings.self, from: url) }
    }

    struct Bytes: Codable { var v: [UInt8] }
    struct SignedBytes: Codable { var v: [Int8] }
    struct Doubles: Codable { var v: [Double] }
    struct Floats: Codable { var v: [Float] }
    struct Halves: Codable { var v: [Float16] }
    struct Int64s: Codable { var v: [Int64] }
    struct ScalarInt: Codable { var v: Int64 }
    struct ScalarDouble: Codable { var v: Double }

    /// Saves `value` with every array inline (or out of line) and loads it as `T`.
    func roundTrip<S: Encodable, T: Decodable>(_ value: S, as: T.Type, inline: Bool) throws -> T {
        let url = makeTemporaryDirectory("inline").appendingPathComponent("m.brine")
        var o = SaveOptions()
        o.inlineThreshold = inline ? 1 << 20 : 0
        try Brine.save(value, to: url, options: o)
        return try Brine.load(T.self, from: url)
    }

    @Test("an inline array converts only when every value is kept exactly; otherwise it fails as the out-of-line array does")
    func inlineConversionsAreExact() throws {
        for inline in [true, false] {
            // Value-changing conversions: refused inline and out of line alike.
            #expect(throws: BrineError.self, "uint8 bytes as Int8, inline \(inline)") {
                _ = try roundTrip(Bytes(v: [200, 1, 255]), as: SignedBytes.self, inline: inline)
            }
            #expect(throws: BrineError.self, "0.1 as Float, inline \(inline)") {
                _ = try roundTrip(Doubles(v: [0.1]), as: Floats.self, inline: inline)
            }
            #expect(throws: BrineError.self, "Float 0.1 as Float16, inline \(inline)") {
                _ = try roundTrip(Floats(v: [0.1, 3.14159]), as: Halves.self, inline: inline)
            }
            #expect(throws: BrineError.self, "2^53 + 1 as Double, inline \(inline)") {
                _ = try roundTrip(Int64s(v: [1 << 53 + 1]), as: Doubles.self, inline: inline)
            }
        }
        // Exact inline conversions stay allowed (every value kept).
        #expect(try roundTrip(Floats(v: [0.5, -2]), as: Doubles.self, inline: true).v == [0.5, -2])
        #expect(try roundTrip(Floats(v: [0.5, 65504]), as: Halves.self, inline: true).v == [0.5, 65504])
        #expect(try roundTrip(Int64s(v: [1 << 53, -3]), as: Doubles.self, inline: true).v == [9_007_199_254_740_992, -3])
        // Scalars: an integer that Double would round is refused; an exact one converts.
        #expect(throws: BrineError.self) { _ = try roundTrip(ScalarInt(v: 1 << 53 + 1), as: ScalarDouble.self, inline: true) }
        #expect(try roundTrip(ScalarInt(v: 1 << 53), as: ScalarDouble.self, inline: true).v == 9_007_199_254_740_992)
    }

    @Test("SaveOptions(preserving:) refuses a file whose float32 arrays are stored both narrowed and not, instead of narrowing all")
    func preservingMixedStorage() throws {
        let dir = makeTemporaryDirectory("preserving")
        let mixed = dir.appendingPathComponent("mixed.brine")
        let w = try BrineWriter(url: mixed)
        var narrowed = WriteOptions()
        narrowed.storageDType = .bfloat16
        let values: [Float] = [0.1234567, 1, 2, 3]
        try w.append(AnyTensor(try Tensor<Float>(shape: [4], scalars: values)), arrayPath: "a", options: narrowed)
        try w.append(AnyTensor(try Tensor<Float>(shape: [4], scalars: values)), arrayPath: "b")
        try w.finish()
        #expect {
            _ = try SaveOptions(preserving: mixed)
        } throws: { ($0 as? BrineError)?.code == .unsupportedFeature }
        // A file whose float32 arrays are all narrowed the same way keeps that.
        let uniform = dir.appendingPathComponent("uniform.brine")
        let u = try BrineWriter(url: uniform, options: narrowed)
        try u.append(AnyTensor(try Tensor<Float>(shape: [4], scalars: values)), arrayPath: "a")
        try u.finish()
        #expect(try SaveOptions(preserving: uniform).writeOptions.storageDType == .bfloat16)
    }

    struct Small: Codable, Equatable {
        var weight: [Float]
        var bias: [Float]
        var learningRate: Double
        var name: String
    }

    struct Tied: Codable {
        var a: Tensor<Float>
        var b: Tensor<Float>
    }

    @Test("a bundle from a Brine model whose inline array was changed is not written as a flat map that loses the model; dropMetadata writes the arrays",
          arguments: ["brine", "safetensors"])
    func changedBundleKeepsOrRefusesTree(ext: String) throws {
        let dir = makeTemporaryDirectory("bundle-tree")
        let src = dir.appendingPathComponent("m.brine")
        try Brine.save(Small(weight: [Float](repeating: 0.5, count: 2048), bias: [1, 2], learningRate: 0.01, name: "mlp"), to: src)
        var bundle = try TensorBundle(contentsOf: src)
        // Unchanged: the model comes back whole.
        let same = dir.appendingPathComponent("same.\(ext)")
        try bundle.write(to: same)
        let back = dir.appendingPathComponent("back-\(ext).brine")
        try TensorBundle(contentsOf: same).write(to: back)
        #expect(try Brine.load(Small.self, from: back).learningRate == 0.01)
        // The inline bias changed: the tree holds the old values, so it cannot be written.
        let i = try #require(bundle.tensors.firstIndex { $0.name == "bias" })
        bundle.tensors[i].tensor = AnyTensor(try Tensor<Float>(shape: [2], scalars: [9, 9]))
        let out = dir.appendingPathComponent("changed.\(ext)")
        #expect {
            try bundle.write(to: out)
        } throws: { ($0 as? BrineError)?.code == .unsupportedFeature }
        #expect(!FileManager.default.fileExists(atPath: out.path))
        var drop = TensorBundleWriteOptions()
        drop.dropMetadata = true
        try bundle.write(to: out, options: drop)
        #expect(try TensorBundle(contentsOf: out).tensor("bias") == AnyTensor(try Tensor<Float>(shape: [2], scalars: [9, 9])))
    }

    @Test("changing one name of a shared (tied) array in a bundle writes the changed values, not the tie's old ones")
    func changedAliasIsWritten() throws {
        let dir = makeTemporaryDirectory("bundle-alias")
        let src = dir.appendingPathComponent("tied.brine")
        let t = try Tensor<Float>(shape: [2048], repeating: 1)
        try Brine.save(Tied(a: t, b: t), to: src)
        var bundle = try TensorBundle(contentsOf: src)
        #expect(bundle.names.sorted() == ["a", "b"])
        let i = try #require(bundle.tensors.firstIndex { $0.name == "b" })
        let seven = AnyTensor(try Tensor<Float>(shape: [2048], repeating: 7))
        bundle.tensors[i].tensor = seven
        // The tree only refers to the arrays (no other values): the arrays are
        // written as given, each under its name; the tie is what changed.
        let out = dir.appendingPathComponent("out.brine")
        try bundle.write(to: out)
        let loaded = try Brine.load(Tied.self, from: out)
        #expect(AnyTensor(loaded.b) == seven)
        #expect(AnyTensor(loaded.a) == AnyTensor(t))
    }

    @Test("a bundle read from a Brine file with two spellings of one metadata key is refused, not merged into one key")
    func bundleMetadataSpellings() throws {
        let url = makeTemporaryDirectory("bundle-meta").appendingPathComponent("m.brine")
        let w = try BrineWriter(url: url)
        let i = try w.append([Float](repeating: 1, count: 4), arrayPath: "w")
        _ = try w.finish(root: .map([("w", .arrayRef(i))]),
                         metadata: .map([(Self.precomposed, .string("precomposed")), (Self.decomposed, .string("decomposed"))]))
        #expect {
            _ = try TensorBundle(contentsOf: url)
        } throws: { ($0 as? BrineError)?.code == .unsupportedFeature }
    }

    @Test("updateMetadata with the other spelling of a key is refused, not applied to the file's spelling; removing it by its own spelling first works")
    func metadataKeySpelling() throws {
        let url = makeTemporaryDirectory("metaspelling").appendingPathComponent("m.brine")
        var o = SaveOptions()
        o.metadata[Self.decomposed] = "old"
        try Brine.save(Floats(v: [1]), to: url, options: o)
        let before = try Data(contentsOf: url)
        #expect {
            try Brine.updateMetadata(of: url, [Self.precomposed: "new"])
        } throws: { ($0 as? BrineError)?.code == .unsupportedFeature }
        #expect(try Data(contentsOf: url) == before)
        try Brine.updateMetadata(of: url, [Self.precomposed: "new"], removing: [Self.decomposed])
        guard case .map(let entries) = try BrineFile(contentsOf: url).metadata else {
            Issue.record("metadata is not a map")
            return
        }
        let user = entries.filter { !$0.key.hasPrefix("brine.") }
        #expect(user.count == 1)
        #expect(user.first.map { $0.key.isSameName(as: Self.precomposed) && $0.value == .string("new") } == true)
    }
}
