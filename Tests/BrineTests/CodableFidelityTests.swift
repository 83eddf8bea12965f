import Foundation
import Testing
@testable import Brine
import BrineTestSupport

/// A node of a class graph (cycles, shared instances).
final class GraphNode: Codable {
    var name: String
    var next: GraphNode?
    var weights: [Float]
    init(_ name: String, weights: [Float] = []) {
        self.name = name
        self.weights = weights
    }
}

/// A language model with tied input/output embeddings.
struct TiedLM: Codable, Equatable {
    var embed: Tensor<Float>
    var blocks: [Dense]
    var lmHead: Tensor<Float>
    var anyHead: AnyTensor?

    static func make(seed: UInt64, tied: Bool = true) -> TiedLM {
        var rng = SplitMix64(seed: seed)
        let e = try! Tensor<Float>(shape: [64, 32], scalars: (0 ..< 2048).map { _ in Float.random(in: -1 ... 1, using: &rng) })
        let head = tied ? e : try! Tensor<Float>(shape: [64, 32], scalars: (0 ..< 2048).map { _ in Float.random(in: -1 ... 1, using: &rng) })
        return TiedLM(embed: e, blocks: [Dense(weight: try! Tensor(zeros: [32, 32]), bias: [Float](repeating: 0.5, count: 32))],
                      lmHead: head, anyHead: AnyTensor(e))
    }
}

@Suite("Cycles in class graphs (issue 9 §5)")
struct CycleTests {
    @Test("a cycle is a typed error naming the coding path where it closes")
    func cycleIsAnError() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("g.brine")
        let a = GraphNode("a", weights: [1, 2])
        let b = GraphNode("b")
        a.next = b
        b.next = a
        #expect { try Brine.save(a, to: url) } throws: { e in
            guard let e = e as? BrineError else { return false }
            return e.code == .invalidArgument && e.arrayPath == "next.next" && e.message.contains("cycle") && e.message.contains("'root'")
        }
        #expect(!FileManager.default.fileExists(atPath: url.path))
        // A self-loop inside an array, through the weights-only path too.
        let c = GraphNode("c")
        c.next = c
        #expect { try Brine.saveWeights(of: ["list": [c]], to: url) } throws: { e in
            (e as? BrineError)?.arrayPath == "list.0.next"
        }
        #expect(throws: BrineError.self) { try BrineEncoder().encode([c]) }
        b.next = nil  // no cycle: saves
        try Brine.save(a, to: url)
        c.next = nil  // let the test's own cycle go (LeakSanitizer)
    }
}

@Suite("Shared storage (issue 10)")
struct SharedStorageTests {
    @Test("tied tensors are stored once, listed under both paths, and load sharing one storage",
          arguments: [LoadMode.copy, .mmap, .mmapCopyOnWrite])
    func tiedTensors(mode: LoadMode) throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("lm.brine")
        let model = TiedLM.make(seed: 1)
        try Brine.save(model, to: url)
        let file = try BrineFile(contentsOf: url)
        #expect(file.arrayPaths == ["embed", "blocks.0.weight"])
        #expect(file.aliases.map(\.path) == ["lmHead", "anyHead"])
        #expect(file.aliases.map(\.index) == [0, 0])
        #expect(try file.array("lmHead", as: Float.self) == model.embed)
        #expect(file.info("lmHead")?.path == "embed")

        let loaded = try Brine.load(TiedLM.self, from: url, mode: mode)
        #expect(loaded == model)
        #expect(loaded.embed.storage === loaded.lmHead.storage)
        #expect(loaded.anyHead?.storage === loaded.embed.storage)
        if mode == .mmap {
            #expect(loaded.embed.isView)
        } else {
            // Writing through one storage is seen through the other.
            loaded.embed.storage.baseAddress.storeBytes(of: Float(42), as: Float.self)
            #expect(loaded.lmHead[0, 0] == 42)
        }
        // Untied tensors stay apart.
        try Brine.save(TiedLM.make(seed: 2, tied: false), to: url)
        let apart = try Brine.load(TiedLM.self, from: url, mode: mode)
        #expect(apart.embed.storage !== apart.lmHead.storage)
        #expect(try BrineFile(contentsOf: url).aliases.map(\.path) == ["anyHead"])
    }

    @Test("weights-only: tied tensors are saved once and tie again on load", arguments: [LoadMode.copy, .mmap])
    func tiedWeights(mode: LoadMode) throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("w.brine")
        let model = TiedLM.make(seed: 3)
        let w = try Weights(of: model)
        #expect(w.paths.contains("lmHead") && w["lmHead"]?.storage === w["embed"]?.storage)
        try Brine.saveWeights(of: model, to: url)
        #expect(try BrineFile(contentsOf: url).arrays.count == 3)  // embed, blocks.0.weight, blocks.0.bias
        var fresh = TiedLM.make(seed: 9, tied: false)
        let report = try Brine.loadWeights(into: &fresh, from: url, mode: mode)
        #expect(report.isComplete)
        #expect(fresh == model)
        #expect(fresh.embed.storage === fresh.lmHead.storage)
        // A tied model takes untied weights only when both paths hold equal data.
        let untiedURL = dir.appendingPathComponent("untied.brine")
        try Brine.saveWeights(of: TiedLM.make(seed: 4, tied: false), to: untiedURL)
        var tied = TiedLM.make(seed: 5)
        #expect { try Brine.loadWeights(into: &tied, from: untiedURL, mode: mode) } throws: { e in
            (e as? BrineError)?.arrayPath == "lmHead"
        }
        // A Weights collection saves tied paths once too.
        let fromWeights = dir.appendingPathComponent("fromWeights.brine")
        try Brine.saveWeights(w, to: fromWeights)
        let f = try BrineFile(contentsOf: fromWeights)
        #expect(f.arrays.count == 3 && f.aliases.map(\.path) == ["lmHead", "anyHead"])
        var viaW = TiedLM.make(seed: 10, tied: false)
        #expect(try Brine.loadWeights(into: &viaW, from: fromWeights, mode: mode).isComplete)
        #expect(viaW.embed.storage === viaW.lmHead.storage && viaW == model)
        // Through an in-memory Weights.
        var again = TiedLM.make(seed: 8, tied: false)
        try Brine.loadWeights(from: url).load(into: &again)
        #expect(again.embed.storage === again.lmHead.storage && again == model)
    }

    @Test("convert to safetensors writes each alias as its own tensor (a copy)")
    func convertAliases() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("lm.brine")
        let model = TiedLM.make(seed: 1)
        try Brine.save(model, to: url)
        let out = dir.appendingPathComponent("lm.safetensors")
        try TensorBundle(contentsOf: url).write(to: out)
        let st = try TensorBundle(contentsOf: out)
        #expect(Set(st.names).isSuperset(of: ["embed", "lmHead", "anyHead", "blocks.0.weight"]))
        #expect(st.tensor("lmHead") == AnyTensor(model.embed))
    }
}

@Suite("State-dict names (issue 10)")
struct StateDictNameTests {
    @Test("a flat [String: Tensor] keeps its keys as array names; convert gives PyTorch's names")
    func stateDictNames() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("sd.brine")
        let sd = Fixture10StateDict.make()
        try Brine.saveWeights(of: sd, to: url)
        #expect(Set(try BrineFile(contentsOf: url).arrayPaths) == Set(sd.keys))
        try Brine.save(sd, to: url, options: SaveOptions(inlineThreshold: 0))
        #expect(Set(try BrineFile(contentsOf: url).arrayPaths) == Set(sd.keys))
        let out = dir.appendingPathComponent("sd.safetensors")
        try TensorBundle(contentsOf: url).write(to: out)
        #expect(Set(try TensorBundle(contentsOf: out).names) == Set(sd.keys))
        var fresh = sd.mapValues { try! Tensor<Float>(zeros: $0.shape) }
        #expect(try Brine.loadWeights(into: &fresh, from: url).isComplete)
        #expect(fresh == sd)
    }

    struct Colliding: Codable, Equatable {
        var sd: [String: [String: Tensor<Float>]]
        var plain: [String: Tensor<Float>]
    }

    @Test("escaping applies only to names that would collide", arguments: [LoadMode.copy, .mmap])
    func collisions(mode: LoadMode) throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("c.brine")
        let m = Colliding(
            sd: ["x.y": ["z": Tensor([1])], "x": ["y.z": Tensor([2]), "w": Tensor([3])], "a%2Eb": ["c": Tensor([5])], "a": ["b.c": Tensor([6])]],
            plain: ["q.r": Tensor([4])])
        try Brine.saveWeights(of: m, to: url)
        let paths = Set(try BrineFile(contentsOf: url).arrayPaths)
        // sd.x.y.z would name two arrays: both escaped. sd.a%2Eb.c is raw
        // (no collision) though it equals the escaped form of sd.a."b.c" if
        // that were escaped, so it is not; the rest keep their keys.
        #expect(paths == ["sd.x%2Ey.z", "sd.x.y%2Ez", "sd.x.w", "sd.a%2Eb.c", "sd.a.b.c", "plain.q.r"])
        var fresh = Colliding(sd: m.sd.mapValues { $0.mapValues { _ in Tensor([0]) } }, plain: ["q.r": Tensor([0])])
        #expect(try Brine.loadWeights(into: &fresh, from: url, mode: mode).isComplete)
        #expect(fresh == m)
        // A full save names its out-of-line arrays the same way.
        try Brine.save(m, to: url, options: SaveOptions(inlineThreshold: 0))
        #expect(Set(try BrineFile(contentsOf: url).arrayPaths) == paths)
        #expect(try Brine.load(Colliding.self, from: url, mode: mode) == m)
    }

    @Test("the naming rule reaches a fixed point when an escaped name equals a raw one")
    func fixedPoint() {
        // [x.y] and [x, y] collide; [x%2Ey] (raw) equals the first's escaped form.
        let names = ArrayNames.assign([
            .init(components: ["x.y"], legacy: ""), .init(components: ["x", "y"], legacy: ""),
            .init(components: ["x%2Ey"], legacy: ""), .init(components: ["k"], legacy: ""), .init(components: ["k"], legacy: ""),
        ], taken: [ExactName("t")])
        #expect(names == ["x%2Ey", "x.y", "x%252Ey", "k", "k~2"])
        #expect(ArrayNames.assign([.init(components: ["t"], legacy: "")], taken: [ExactName("t")]) == ["t~2"])
        #expect(ArrayNames.assign([.init(components: [], legacy: "")], taken: []) == ["root"])
    }
}

/// A class instance referenced from several places.
final class Vocab: Codable {
    var words: [String]
    var table: Tensor<Float>
    var parent: Vocab?
    init(words: [String], table: Tensor<Float>, parent: Vocab? = nil) {
        self.words = words
        self.table = table
        self.parent = parent
    }
}

struct SharedRefs: Codable {
    var a: Vocab
    var b: Vocab
    var list: [Vocab]
    var opt: Vocab?
    var child: Vocab
    var tiny1: Tensor<Float>
    var tiny2: Tensor<Float>

    static func make() -> SharedRefs {
        let v = Vocab(words: ["a", "b"], table: try! Tensor(shape: [40, 40], scalars: (0 ..< 1600).map { Float($0) }))
        let other = Vocab(words: ["x"], table: Tensor([1, 2]))
        let child = Vocab(words: ["c"], table: Tensor([3]), parent: v)
        let tiny = Tensor<Float>([1, 2, 3])
        return SharedRefs(a: v, b: v, list: [other, v, child], opt: v, child: child, tiny1: tiny, tiny2: tiny)
    }
}

@Suite("Shared references (issue 10)")
struct SharedReferenceTests {
    func check(_ m: SharedRefs) {
        #expect(m.a === m.b && m.a === m.list[1] && m.a === m.opt && m.child.parent === m.a)
        #expect(m.list[2] === m.child && m.list[0] !== m.a)
        #expect(m.a.words == ["a", "b"] && m.a.table.shape == [40, 40] && m.child.words == ["c"])
        #expect(m.tiny1.storage === m.tiny2.storage && m.tiny1.scalars == [1, 2, 3])
    }

    @Test("a class instance referenced from several places comes back as one instance",
          arguments: [LoadMode.copy, .mmap, .mmapCopyOnWrite], [0, 4096])
    func identity(mode: LoadMode, threshold: Int) throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("s.brine")
        try Brine.save(SharedRefs.make(), to: url, options: SaveOptions(inlineThreshold: threshold))
        let file = try BrineFile(contentsOf: url)
        guard case .shared(0, _)? = file.root["a"] else {
            Issue.record("a is not shared node #0: \(String(describing: file.root["a"]))")
            return
        }
        #expect(file.root["b"] == .sharedRef(0))
        check(try Brine.load(SharedRefs.self, from: url, mode: mode))
        // Only one copy of the shared table is stored.
        #expect(file.arrayPaths.filter { $0.hasSuffix("table") }.count == (threshold == 0 ? 3 : 1))  // v, other, child
        // In memory too.
        check(try BrineDecoder().decode(SharedRefs.self, from: BrineEncoder().encode(SharedRefs.make()), arrays: []))
    }

    @Test("instances met once leave the tree as format 1.0 wrote it")
    func unsharedUnchanged() throws {
        let tree = try BrineEncoder().encode(["x": Vocab(words: ["w"], table: Tensor([1]))])
        #expect(tree == ["x": ["words": ["w"], "table": ["shape": [1], "scalars": [.float32(1)]]]])
    }

    @Test("weights load into a model with shared instances, which stay shared")
    func weights() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("w.brine")
        let m = SharedRefs.make()
        try Brine.saveWeights(of: m, to: url)
        var fresh = SharedRefs.make()
        fresh.a.table = try Tensor(zeros: [40, 40])
        #expect(try Brine.loadWeights(into: &fresh, from: url).isComplete)
        check(fresh)
        #expect(fresh.b.table == m.a.table)
    }

    /// The root after encoding it in a header and decoding it back.
    func headerRoundTrip(_ root: Value) throws -> Value {
        let bytes = Header(metadata: .map([]), arrays: [], root: root).encoded()
        return try bytes.withUnsafeBytes { b throws(BrineError) in
            try Header.decode(b, headerOffset: 16, limits: ReadLimits(), path: nil).root
        }
    }

    @Test("hostile shared nodes are corruptHeader (wrong id, reference before or inside its definition, in metadata); the writer refuses them")
    func hostile() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("h.brine")
        let bad: [Value] = [
            .shared(1, .null),
            .list([.sharedRef(0), .shared(0, .null)]),
            .shared(0, .list([.sharedRef(0)])),
            .list([.shared(0, .null), .shared(0, .null)]),
        ]
        for root in bad {
            #expect { try headerRoundTrip(root) } throws: { ($0 as? BrineError)?.code == .corruptHeader }
            #expect { try BrineWriter(url: url).finish(root: root) } throws: { ($0 as? BrineError)?.code == .invalidArgument }
        }
        #expect { try BrineWriter(url: url).finish(root: .null, metadata: ["m": .shared(0, .null)]) } throws: {
            ($0 as? BrineError)?.code == .invalidArgument
        }
        #expect { try BrineWriter(url: url).finish(root: .shared(0, .arrayRef(3))) } throws: {
            ($0 as? BrineError)?.code == .invalidArgument
        }
        #expect(!FileManager.default.fileExists(atPath: url.path))
        // A valid one reads back as written.
        let good: Value = ["a": .shared(0, ["k": .shared(1, "x")]), "b": .sharedRef(1), "c": .sharedRef(0)]
        try BrineWriter(url: url).finish(root: good)
        #expect(try BrineFile(contentsOf: url).root == good)
        #expect(try headerRoundTrip(good) == good)
        // A shared node is a nesting level: the writer refuses what readers would.
        var deep: Value = .shared(0, .list([]))
        for _ in 0 ..< 255 { deep = .list([deep]) }
        #expect { try BrineWriter(url: url).finish(root: deep) } throws: { ($0 as? BrineError)?.code == .limitExceeded }
        var ok: Value = .shared(0, .list([]))
        for _ in 0 ..< 254 { ok = .list([ok]) }
        try BrineWriter(url: url).finish(root: ok)
        #expect(try BrineFile(contentsOf: url).root == ok)
        // Hand-made trees given to the decoder: a reference into its own definition.
        #expect(throws: DecodingError.self) {
            try BrineDecoder().decode([[Int]].self, from: .list([.sharedRef(0)]), arrays: [])
        }
    }
}

@Suite("Format 1.1 in python/brine_reader.py", .serialized)
struct Format11PythonReaderTests {
    @Test("the Python reader resolves aliases and shared references, and reads 1.0 fixtures")
    func pythonReader() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let lm = dir.appendingPathComponent("lm.brine")
        try Brine.save(TiedLM.make(seed: 1), to: lm)
        let refs = dir.appendingPathComponent("refs.brine")
        try Brine.save(SharedRefs.make(), to: refs)
        let fixture = repositoryRoot.appendingPathComponent("Tests/BrineTests/Fixtures/format-1.0/codable-model.brine")
        // What `brine convert lm.brine lm.safetensors` writes: each alias a tensor of its own.
        let st = dir.appendingPathComponent("lm.safetensors")
        try TensorBundle(contentsOf: lm).write(to: st)
        let out = try PythonOracle.run(#"""
        import sys
        import numpy as np
        import brine_reader as br
        with br.BrineFile(sys.argv[1]) as f:
            assert f.format_version == (1, 1), f.format_version
            assert f.aliases == {'lmHead': 'embed', 'anyHead': 'embed'}, f.aliases
            assert np.array_equal(f.read('lmHead'), f.read('embed'))
            assert f.info('lmHead').path == 'embed'
            allarrays = f.read_all()
            assert allarrays['lmHead'] is allarrays['embed'] and allarrays['embed'].shape == (64, 32)
        with br.BrineFile(sys.argv[2]) as f:
            root = f.root
            assert root['a'] is root['b'] and root['a'] is root['list'][1] and root['opt'] is root['a']
            assert root['child']['parent'] is root['a'] and root['list'][2] is root['child']
            assert root['tiny1'] is root['tiny2']
            assert root['a']['words'] == ['a', 'b']
        with br.BrineFile(sys.argv[3]) as f:
            assert f.format_version == (1, 0) and f.aliases == {}
            assert 'stateDict.encoder%2Elayer%2E0%2Eweight' in f.keys()
            assert f.read('rows.0').shape == (1100,)
        from safetensors.numpy import load_file
        t = load_file(sys.argv[4])
        assert {'embed', 'lmHead', 'anyHead', 'blocks.0.weight'} <= set(t), sorted(t)
        assert np.array_equal(t['lmHead'], t['embed']) and t['lmHead'].shape == (64, 32)
        print('ok')
        """#, [lm.path, refs.path, fixture.path, st.path])
        #expect(out.hasPrefix("ok"))
    }
}
