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
}
