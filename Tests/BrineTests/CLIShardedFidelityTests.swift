import Foundation
import Testing
@testable import Brine

/// `brine convert` to and from a sharded Brine model (`model.brine.index.json`)
/// keeps what the shards can hold, typed, and refuses to drop the rest
/// quietly (as for .npz, `--drop-metadata` opts in).
@Suite("CLI: sharded conversion fidelity", .serialized)
struct CLIShardedFidelityTests {
    struct Model: Codable {
        var a: Tensor<Float>
        var b: Tensor<Float>
        var step: Int
    }

    @Test("a model with an object tree is refused as sharded output unless --drop-metadata; typed metadata stays typed in the shards and back; the index's own keys do not become user metadata")
    func treeAndTypedMetadata() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let m = dir.appendingPathComponent("m.brine")
        let t = try Tensor<Float>(shape: [300_000], scalars: (0 ..< 300_000).map(Float.init))
        try Brine.save(Model(a: t, b: try Tensor<Float>(shape: [300_000], repeating: 7), step: 42), to: m, options: .init(metadata: ["epochs": 3, "note": "hi"]))
        let folder = dir.appendingPathComponent("sh")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        let index = folder.appendingPathComponent(ShardIndex.fileName)

        let refused = try runBrine(["convert", m.path, index.path, "--shard-size", String(1 << 20)])
        #expect(refused.status == 64 && refused.err.contains("object tree"), "\(refused.status): \(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: index.path))

        let dropped = try runBrine(["convert", m.path, index.path, "--shard-size", String(1 << 20), "--drop-metadata"])
        #expect(dropped.status == 0, "\(dropped.err)")
        let saved = try ShardIndex(contentsOf: index)
        #expect(saved.shardNames.count >= 2)
        let shard = try BrineFile(contentsOf: folder.appendingPathComponent(saved.shardNames[0]))
        #expect(shard.metadata["epochs"] == .int(3), "\(String(describing: shard.metadata["epochs"]))")
        #expect(shard.metadata["note"] == .string("hi"))

        let back = dir.appendingPathComponent("back.brine")
        let r = try runBrine(["convert", index.path, back.path])
        #expect(r.status == 0, "\(r.err)")
        let f = try BrineFile(contentsOf: back)
        #expect(f.metadata["epochs"] == .int(3))
        #expect(f.metadata["format"] == nil && f.metadata["shard_count"] == nil && f.metadata["total_size"] == nil, "\(f.metadata)")
        #expect(try f.array("a", as: Float.self).scalars == t.scalars)
    }

    @Test("weights without a tree (a flat map of arrays) convert to shards without --drop-metadata")
    func flatWeights() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let w = dir.appendingPathComponent("w.brine")
        let t = try Tensor<Float>(shape: [300_000], repeating: 2)
        try Brine.saveWeights(try Weights([(path: "x", tensor: AnyTensor(t)), (path: "y", tensor: AnyTensor(t))]), to: w)
        let folder = dir.appendingPathComponent("sh")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        let r = try runBrine(["convert", w.path, folder.appendingPathComponent(ShardIndex.fileName).path, "--shard-size", String(1 << 20)])
        #expect(r.status == 0, "\(r.err)")
        #expect(try Brine.loadWeights(fromShardIndex: folder.appendingPathComponent(ShardIndex.fileName)).paths == ["x", "y"])
    }

    struct Tree: Codable, Equatable {
        var a: Tensor<Float>
        var b: Tensor<Float>
        var bias: [Float]  // small: inline in the index's tree
        var step: Int
        var name: String
        static func == (l: Tree, r: Tree) -> Bool {
            l.a.scalars == r.a.scalars && l.b.scalars == r.b.scalars && l.bias == r.bias && l.step == r.step && l.name == r.name
        }
    }

    @Test("a sharded model converts with its object tree, inline arrays and scalars: to one .brine it loads as the same model, to .safetensors and back too; outputs that cannot hold the tree refuse it unless --drop-metadata")
    func shardedInputKeepsTree() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let model = Tree(a: try Tensor<Float>(shape: [300_000], scalars: (0 ..< 300_000).map(Float.init)),
                         b: try Tensor<Float>(shape: [300_000], repeating: 7), bias: [0.5, 1.5, 2.5], step: 42, name: "mlp")
        let folder = dir.appendingPathComponent("shards")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        let index = folder.appendingPathComponent(ShardIndex.fileName)
        try Brine.save(model, toShards: folder, maxShardBytes: 1 << 20, options: .init(metadata: ["epochs": 3]))
        #expect(try ShardIndex(contentsOf: index).shardNames.count >= 2)

        let single = dir.appendingPathComponent("single.brine")
        let r = try runBrine(["convert", index.path, single.path])
        #expect(r.status == 0, "\(r.err)")
        #expect(try Brine.load(Tree.self, from: single) == model)
        #expect(try BrineFile(contentsOf: single).metadata["epochs"] == .int(3))

        let st = dir.appendingPathComponent("single.safetensors"), back = dir.appendingPathComponent("back.brine")
        let r2 = try runBrine(["convert", index.path, st.path])
        #expect(r2.status == 0, "\(r2.err)")
        #expect(try runBrine(["convert", st.path, back.path]).status == 0)
        #expect(try Brine.load(Tree.self, from: back) == model)

        // The library reads it the same way: arrays, then inline ones, and the tree.
        let bundle = try TensorBundle(contentsOfShardIndex: index)
        #expect(bundle.names == ["a", "b", "bias"] && bundle.contentNumPyCannotHold().objectTree)

        // Outputs without a place for the tree: refused, nothing written.
        let npz = dir.appendingPathComponent("w.npz")
        let refused = try runBrine(["convert", index.path, npz.path])
        #expect(refused.status != 0 && refused.err.contains("object tree") && refused.err.contains("--drop-metadata"), "\(refused.status): \(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: npz.path))
        #expect(try runBrine(["convert", index.path, npz.path, "--drop-metadata"]).status == 0)
        let out = dir.appendingPathComponent("resharded")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: false)
        let reshard = try runBrine(["convert", index.path, out.appendingPathComponent(ShardIndex.fileName).path, "--shard-size", String(1 << 20)])
        #expect(reshard.status == 64 && reshard.err.contains("object tree"), "\(reshard.status): \(reshard.err)")
    }
}
