import Foundation
import Testing
@testable import Brine

/// A read-write session's flush that re-saves the model writes the aliases
/// of the model as it is now (docs/FORMAT.md, "Shared arrays"), not those
/// the file had: a tie made during the session must not lose its path.
@Suite("Session flushes and aliases")
struct SessionAliasTests {
    struct Tied: Codable, Equatable {
        var a: Tensor<Float>
        var b: Tensor<Float>
        var c: Tensor<Float>
        var step: Int
    }

    static func array(_ k: Float) throws -> Tensor<Float> {
        try Tensor<Float>(shape: [2048], scalars: (0 ..< 2048).map { Float($0) + k })
    }

    /// Saves `Tied(a, b: a, c, step: 0)` (b tied to a) at `name` in `dir` and
    /// opens it read-write.
    static func savedTied(_ dir: URL, _ name: String) throws -> (url: URL, a: Tensor<Float>, handle: BrineModel<Tied>) {
        let url = dir.appendingPathComponent(name)
        let a = try array(0)
        try Brine.save(Tied(a: a, b: a, c: array(1), step: 0), to: url)
        #expect(try BrineFile(contentsOf: url).aliases.map(\.path) == ["b"])
        return (url, a, try Brine.open(Tied.self, from: url, mode: .mmapReadWrite))
    }

    @Test("tying a third field during a session and flushing keeps every path: arrays, aliases and an export name a, b and c")
    func newTieKeepsItsPath() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let (url, a, handle) = try Self.savedTied(dir, "tied.brine")
        var h = handle
        h.model.c = h.model.a
        h.model.step = 1
        _ = try h.flush()
        let f = try BrineFile(contentsOf: url)
        let paths = Set(f.arrays.map(\.path) + f.aliases.map(\.path))
        #expect(paths == ["a", "b", "c"], "\(f.arrays.map(\.path)) + aliases \(f.aliases.map(\.path))")
        #expect(try f.array("c", as: Float.self).scalars == a.scalars)
        let loaded = try Brine.load(Tied.self, from: url)
        #expect(loaded.c.scalars == a.scalars && loaded.step == 1)
        #expect(Set(try TensorBundle(contentsOf: url).tensors.map(\.name)) == ["a", "b", "c"])
    }

    @Test("untying during a session and flushing drops the stale alias: b is its own array again")
    func untieDropsAlias() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let (url, a, handle) = try Self.savedTied(dir, "untied.brine")
        var h = handle
        h.model.b = try Self.array(5)
        _ = try h.flush()
        let f = try BrineFile(contentsOf: url)
        #expect(f.aliases.isEmpty, "\(f.aliases.map(\.path))")
        #expect(try f.array("b", as: Float.self).scalars == Self.array(5).scalars)
        #expect(try Brine.load(Tied.self, from: url) == Tied(a: a, b: Self.array(5), c: Self.array(1), step: 0))
    }
}
