import Foundation
import Testing
@testable import Brine
import BrineTestSupport

/// A state dict whose keys hold dots (PyTorch style) and a tied pair: the
/// names a weights filter sees must be the names written to the file
/// (format 1.1 keeps dotted keys unescaped), and a tied array kept by the
/// filter under its second name must not vanish with its first.
struct DottedStateDict: Codable, Equatable {
    var layers: [String: Tensor<Float>]
    var head: Tensor<Float>
    var tiedHead: Tensor<Float>

    static func make(seed: UInt64) -> DottedStateDict {
        var rng = SplitMix64(seed: seed)
        func t(_ n: Int) -> Tensor<Float> {
            try! Tensor(shape: [n], scalars: (0 ..< n).map { _ in Float.random(in: -1 ... 1, using: &rng) })
        }
        let head = t(8)
        return DottedStateDict(
            layers: ["encoder.0.weight": t(16), "encoder.1.weight": t(16), "decoder.0.weight": t(16)],
            head: head, tiedHead: head)
    }
}

@Suite("Weights filters match the names in the file")
struct WeightsFilterNameTests {
    @Test("an include glob over dotted state-dict keys keeps exactly those arrays (it matched the escaped 1.0 name before)")
    func includeDotted() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("w.brine")
        let model = DottedStateDict.make(seed: 1)
        try Brine.saveWeights(of: model, to: url, filter: .including("layers.encoder.*"))
        #expect(try Set(BrineFile(contentsOf: url).arrayPaths) == ["layers.encoder.0.weight", "layers.encoder.1.weight"])

        try Brine.saveWeights(of: model, to: url, filter: .excluding("layers.encoder.*"))
        let paths = try BrineFile(contentsOf: url).arrayPaths
        #expect(paths.contains("layers.decoder.0.weight") && paths.contains("head"))
        #expect(!paths.contains { $0.hasPrefix("layers.encoder") || $0.hasPrefix("layers.encoder%2E") })
    }

    @Test("a tied array selected only under its second name is saved, not dropped with its first place")
    func tiedSecondName() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("w.brine")
        let model = DottedStateDict.make(seed: 2)
        try Brine.saveWeights(of: model, to: url, filter: .including("tiedHead"))
        let file = try BrineFile(contentsOf: url)
        #expect(file.arrayPaths == ["tiedHead"])
        let loaded = try Brine.loadWeights(from: url)
        #expect(loaded.paths == ["tiedHead"])

        // An alias whose own name the filter excludes is not written under that name.
        try Brine.saveWeights(of: model, to: url, filter: .excluding("tiedHead"))
        let w = try Brine.loadWeights(from: url)
        #expect(!w.paths.contains("tiedHead"))
        #expect(w.paths.contains("head"))
    }

    @Test("round trip through loadWeights with the same include filter restores exactly the selected arrays")
    func roundTrip() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("w.brine")
        let trained = DottedStateDict.make(seed: 3)
        try Brine.saveWeights(of: trained, to: url, filter: .including("layers.*"))
        var fresh = DottedStateDict.make(seed: 4)
        let before = fresh
        let report = try Brine.loadWeights(into: &fresh, from: url, filter: .including("layers.*"))
        #expect(Set(report.loaded) == ["layers.encoder.0.weight", "layers.encoder.1.weight", "layers.decoder.0.weight"])
        #expect(report.isComplete)
        #expect(fresh.layers == trained.layers)
        #expect(fresh.head == before.head)
    }
}

/// Two coding paths with one raw name: a key that holds a dot (`"a.b"`) and
/// a nested `a` → `b`. Both keep the escaped 1.0 names in the file.
struct CollidingNames: Codable {
    struct Inner: Codable { var b: Tensor<Float> }
    var dotted: Tensor<Float>
    var a: Inner
    enum CodingKeys: String, CodingKey {
        case dotted = "a.b"
        case a
    }
}

@Suite("Weights filters and colliding names")
struct WeightsFilterCollisionTests {
    @Test("colliding names keep their escaped form in the file, and the filter judges that form")
    func collision() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("w.brine")
        let model = CollidingNames(dotted: try Tensor(shape: [2], scalars: [1, 2]), a: .init(b: try Tensor(shape: [2], scalars: [3, 4])))
        try Brine.saveWeights(of: model, to: url)
        #expect(try Set(BrineFile(contentsOf: url).arrayPaths) == ["a%2Eb", "a.b"])
        // "a.b" is the raw name of both; in the file only the nested one is called "a.b".
        try Brine.saveWeights(of: model, to: url, filter: .including("a.b"))
        let file = try BrineFile(contentsOf: url)
        #expect(file.arrayPaths == ["a.b"])
        #expect(try Brine.loadWeights(from: url).tensor("a.b", as: Float.self).scalars == [3, 4])
        try Brine.saveWeights(of: model, to: url, filter: .including("a%2Eb"))
        let other = try BrineFile(contentsOf: url)
        #expect(other.arrayPaths == ["a%2Eb"])
        #expect(try Brine.loadWeights(from: url).tensor("a%2Eb", as: Float.self).scalars == [1, 2])
    }
}
