import Foundation
import Testing
@testable import Brine

/// The test-side twin of the helper's `HelperByKindModel` (same field names,
/// same raw values), filled with zeros: a freshly built architecture.
struct ByKindModel: Codable, Equatable {
    var byKind: [LayerKind: Tensor<Float>]
    var byId: [UInt8: Tensor<Float>]
    var bySlot: [Slot: [Float]]
    var byInt: [Int: Tensor<Float>]
    var stateDict: [String: Tensor<Float>]

    /// The helper's values (`reserve` builds every dictionary with that
    /// capacity, which changes its iteration order, not its contents).
    static func make(zeros: Bool = false, reserve: Int = 0) -> ByKindModel {
        func t(_ base: Float) -> Tensor<Float> { Tensor((0 ..< 4).map { zeros ? 0 : base + Float($0) }) }
        var m = ByKindModel(byKind: [:], byId: [:], bySlot: [:], byInt: [:], stateDict: [:])
        m.byKind.reserveCapacity(reserve)
        m.byId.reserveCapacity(reserve)
        m.bySlot.reserveCapacity(reserve)
        m.byInt.reserveCapacity(reserve)
        m.stateDict.reserveCapacity(reserve)
        for (i, k) in LayerKind.allCases.enumerated() { m.byKind[k] = t(Float(100 + 10 * i)) }
        for i in 0 ..< 6 { m.byId[UInt8(i * 40)] = t(Float(200 + 10 * i)) }
        for (i, s) in Slot.allCases.enumerated() { m.bySlot[s] = (0 ..< 4).map { zeros ? 0 : Float(300 + 10 * i) + Float($0) } }
        for i in 0 ..< 5 { m.byInt[i - 2] = t(Float(400 + 10 * i)) }
        for i in 0 ..< 5 { m.stateDict["layer.\(i).weight"] = t(Float(500 + 10 * i)) }
        return m
    }
}

/// A hashable value holding a numeric array (for sets).
struct TaggedRow: Codable, Hashable {
    var tag: Int
    var values: [Float]
}

@Suite("Dictionary keys name arrays (issue 9 §4)")
struct DictionaryKeyTests {
    @Test("weights saved in another process (other hash seed) load under the right keys", arguments: [LoadMode.copy, .mmap])
    func crossProcessWeights(mode: LoadMode) throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("w.brine")
        let r = try Helper.run(["codable-save", "weights", url.path])
        try #require(r.status == 0, "helper: \(r.lines)")
        var fresh = ByKindModel.make(zeros: true)
        let report = try Brine.loadWeights(into: &fresh, from: url, mode: mode)
        #expect(report.isComplete)
        #expect(fresh == ByKindModel.make())
        // Names come from the keys.
        let paths = try BrineFile(contentsOf: url).arrayPaths
        #expect(paths.contains("byKind.attn") && paths.contains("byId.200") && paths.contains("bySlot.-3") && paths.contains("byInt.-2"))
    }

    @Test("a full model saved in another process loads with every key and value", arguments: [LoadMode.copy, .mmap])
    func crossProcessModel(mode: LoadMode) throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("m.brine")
        let r = try Helper.run(["codable-save", "model", url.path])
        try #require(r.status == 0, "helper: \(r.lines)")
        #expect(try Brine.load(ByKindModel.self, from: url, mode: mode) == ByKindModel.make())
    }

    @Test("weights load under the right keys when the dictionaries iterate in another order", arguments: [LoadMode.copy, .mmap])
    func otherIterationOrder(mode: LoadMode) throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("w.brine")
        let trained = ByKindModel.make()
        var fresh = ByKindModel.make(zeros: true, reserve: 1000)
        // The precondition of this test: some dictionary iterates in another order.
        #expect(Array(trained.byKind.keys) != Array(fresh.byKind.keys) || Array(trained.byId.keys) != Array(fresh.byId.keys)
            || Array(trained.byInt.keys) != Array(fresh.byInt.keys) || Array(trained.stateDict.keys) != Array(fresh.stateDict.keys))
        try Brine.saveWeights(of: trained, to: url)
        let report = try Brine.loadWeights(into: &fresh, from: url, mode: mode)
        #expect(report.isComplete)
        #expect(fresh == trained)
        // The in-memory path (Weights) too.
        var other = ByKindModel.make(zeros: true, reserve: 300)
        try Weights(of: trained).load(into: &other)
        #expect(other == trained)
    }

    @Test("arrays are written in the keys' canonical order: integers by value, names by UTF-8 bytes")
    func canonicalOrder() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("w.brine")
        try Brine.saveWeights(of: ByKindModel.make(reserve: 64), to: url)
        let paths = try BrineFile(contentsOf: url).arrayPaths
        let expected = ["attn", "head", "mlp", "norm"].map { "byKind.\($0)" }
            + [0, 40, 80, 120, 160, 200].map { "byId.\($0)" }
            + [-3, 7, 300].map { "bySlot.\($0)" }
            + [-2, -1, 0, 1, 2].map { "byInt.\($0)" }
            + (0 ..< 5).map { "stateDict.layer.\($0).weight" }
        #expect(paths == expected)
    }

    struct PointKeyed: Codable, Equatable {
        var byPoint: [Point: Tensor<Float>]
    }
    struct SetHolder: Codable, Equatable {
        var rows: Set<TaggedRow>
    }

    @Test("saveWeights and loadWeights refuse arrays under keys with no stable name, naming the path")
    func unstableKeysRefused() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("w.brine")
        let byPoint = PointKeyed(byPoint: [Point(x: 1, y: 2): Tensor([1, 2]), Point(x: 3, y: 4): Tensor([3, 4])])
        #expect { try Brine.saveWeights(of: byPoint, to: url) } throws: { e in
            guard let e = e as? BrineError else { return false }
            return e.code == .invalidArgument && e.message.contains("byPoint") && e.message.contains("stable name")
        }
        #expect(!FileManager.default.fileExists(atPath: url.path))
        let set = SetHolder(rows: [TaggedRow(tag: 1, values: [1, 2]), TaggedRow(tag: 2, values: [3])])
        #expect { try Brine.saveWeights(of: set, to: url) } throws: { e in
            (e as? BrineError)?.message.contains("rows") == true
        }
        #expect(throws: BrineError.self) { try Weights(of: set) }
        try Brine.saveWeights(of: ByKindModel.make(), to: url)
        var target = byPoint
        #expect(throws: BrineError.self) { try Brine.loadWeights(into: &target, from: url, strict: false) }
        // The full model keeps them (the keys are in the tree), in copy and mmap mode.
        let full = dir.appendingPathComponent("full.brine")
        try Brine.save(byPoint, to: full, options: SaveOptions(inlineThreshold: 0))
        #expect(try Brine.load(PointKeyed.self, from: full) == byPoint)
        try Brine.save(set, to: full, options: SaveOptions(inlineThreshold: 0))
        #expect(try Brine.load(SetHolder.self, from: full, mode: .mmap) == set)
    }

    struct Mixed: Codable, Equatable {
        var nested: [String: [Int8: [Float]]]
        var optional: Tensor<Float>?
        var missing: Tensor<Float>?
        var act: Activation
        var layers: [Dense]
        var contiguous: ContiguousArray<Double>
        var byPoint: [Point: Int]
        var labels: Set<String>
        var empty: [UInt16: Tensor<Float>]
    }

    @Test("other dictionary shapes round-trip in full saves, with paths from keys", arguments: [LoadMode.copy, .mmap])
    func otherShapes(mode: LoadMode) throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("m.brine")
        let m = Mixed(
            nested: ["a.b": [-5: [1, 2], 9: [3]], "c": [:]], optional: Tensor([7, 8]), missing: nil,
            act: .custom(name: "t", table: [0.5, 1.5]), layers: [Dense(weight: Tensor([1]), bias: [2])],
            contiguous: [1, 2, 3], byPoint: [Point(x: 1, y: 1): 3, Point(x: 0, y: 2): 4], labels: ["z", "a", "m"], empty: [:])
        try Brine.save(m, to: url, options: SaveOptions(inlineThreshold: 0))
        #expect(try Brine.load(Mixed.self, from: url, mode: mode) == m)
        let paths = try BrineFile(contentsOf: url).arrayPaths
        #expect(paths.contains("nested.a.b.-5") && paths.contains("nested.a.b.9"))
        #expect(paths.contains("act.custom.table") && paths.contains("optional"))
    }
}

@Suite("Reproducible output (issue 9 §4)")
struct ReproducibleOutputTests {
    /// The helper's `reproducibleOptions`.
    static var options: SaveOptions {
        var o = SaveOptions(codec: .zstd(level: 3), filter: .shuffle, inlineThreshold: 0, metadata: ["run": "reproducible"])
        o.chunkBytes = 8
        o.threads = 2
        o.recordCreationTime = false
        o.durable = false
        return o
    }

    @Test("saves in different processes (hash seeds, thread timing) give byte-identical files", arguments: ["weights", "model"])
    func acrossProcesses(kind: String) throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var files: [Data] = []
        for i in 0 ..< 3 {
            let url = dir.appendingPathComponent("\(kind)-\(i).brine")
            let r = try Helper.run(["codable-save", "\(kind)-reproducible", url.path])
            try #require(r.status == 0, "helper: \(r.lines)")
            files.append(try Data(contentsOf: url))
        }
        #expect(files[0] == files[1] && files[1] == files[2])
        if kind == "weights" {
            // The same weights saved by this process (another hash seed, another model type).
            let url = dir.appendingPathComponent("here.brine")
            try Brine.saveWeights(of: ByKindModel.make(reserve: 200), to: url, options: Self.options)
            #expect(try Data(contentsOf: url) == files[0])
        }
        let meta = try Brine.metadata(of: dir.appendingPathComponent("\(kind)-0.brine"))
        #expect(meta["brine.created"] == nil)
    }

    @Test("the default still records the creation time")
    func createdByDefault() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("m.brine")
        try Brine.save(ByKindModel.make(), to: url)
        #expect(try Brine.metadata(of: url)["brine.created"] != nil)
    }
}
