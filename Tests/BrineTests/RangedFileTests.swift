import Foundation
import Testing
@testable import Brine
import BrineRemote

/// The ranged reader (RangedBrineFile over a RangeSource) on local files:
/// the same bytes as BrineFile for every codec/filter/narrowing, with tiny
/// coalescing units so that many requests and partial chunks are exercised.
@Suite("RangedBrineFile: range-driven reading through the core decoder")
struct RangedFileTests {
    /// A file with raw, lz4, zstd+shuffle, narrowed and empty arrays, small chunks.
    static func makeFile(_ dir: URL) throws -> URL {
        let url = dir.appendingPathComponent("mixed.brine")
        let w = try BrineWriter(url: url)
        var small = WriteOptions()
        small.chunkBytes = 4096
        try w.append(randomArray(dtype: .float32, shape: [300, 70], seed: 1), arrayPath: "raw", options: small)
        var lz = WriteOptions(codec: .lz4)
        lz.chunkBytes = 8192
        try w.append(randomArray(dtype: .int32, shape: [50_000], seed: 2), arrayPath: "lz4", options: lz)
        var zs = WriteOptions(codec: .zstd(level: 1), filter: .shuffle)
        zs.chunkBytes = 16384
        try w.append(randomArray(dtype: .float64, shape: [9_000], seed: 3), arrayPath: "zstd", options: zs)
        var narrow = WriteOptions()
        narrow.storageDType = .bfloat16
        narrow.chunkBytes = 2048
        try w.append(randomArray(dtype: .float32, shape: [5_000], seed: 4), arrayPath: "narrow", options: narrow)
        try w.append(randomArray(dtype: .int8, shape: [0, 3], seed: 5), arrayPath: "empty")
        try w.append(randomArray(dtype: .uint8, shape: [3], seed: 6), arrayPath: "tiny")
        _ = try w.finish(root: .string("mixed"), metadata: .map([("k", .string("v"))]))
        return url
    }

    @Test("every array equals BrineFile's, for several coalescing units and concurrency levels",
          arguments: [(4096, 1), (64 << 10, 3), (8 << 20, 8)])
    func sameAsBrineFile(unit: Int, concurrency: Int) async throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = try Self.makeFile(dir)
        let local = try BrineFile(contentsOf: url)
        var fetch = RangeReadOptions()
        fetch.coalesceBytes = unit
        fetch.concurrentRequests = concurrency
        fetch.tailBytes = 100 // forces the second read for the header
        let ranged = try await RangedBrineFile.open(FileRangeSource(path: url.path), fetch: fetch)
        #expect(ranged.arrays == local.arrays)
        #expect(ranged.root == local.root && ranged.metadata == local.metadata)
        #expect(try await ranged.loadAll() == local.loadAll())
        for a in local.arrays where a.count > 10 {
            let r = 3 ..< a.count - 2
            #expect(try await ranged.elements(a.path, range: r) == local.elements(a.path, range: r), "\(a.path)")
        }
        #expect(await ranged.verify().isEmpty)
    }

    @Test("a damaged chunk is a checksum mismatch naming the array and chunk")
    func damagedChunk() async throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = try Self.makeFile(dir)
        let info = try BrineFile(contentsOf: url).info("zstd")!
        var bytes = try [UInt8](Data(contentsOf: url))
        bytes[info.chunks[1].offset + 5] ^= 0x40
        try Data(bytes).write(to: url)
        let ranged = try await RangedBrineFile.open(FileRangeSource(path: url.path))
        let e = await #expect(throws: BrineError.self) { _ = try await ranged.anyArray("zstd") }
        #expect(e?.code == .checksumMismatch && e?.arrayPath == "zstd" && e?.chunkIndex == 1)
        #expect(try await ranged.anyArray("raw") == BrineFile(contentsOf: url).anyArray("raw"))
        #expect(await ranged.verify().map(\.code) == [.checksumMismatch])
    }

    @Test("a truncated file is `truncated` at open")
    func truncated() async throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = try Self.makeFile(dir)
        let bytes = try Data(contentsOf: url)
        try bytes.prefix(bytes.count - 1000).write(to: url)
        let e = await #expect(throws: BrineError.self) { _ = try await RangedBrineFile.open(FileRangeSource(path: url.path)) }
        #expect(e?.code == .truncated)
    }
}

/// The async entry points of BrineRemote, called as a user writes them
/// (defaults only), with file URLs: they resolve to the remote overloads in
/// an async context and load locally.
@Suite("BrineRemote entry points with file URLs")
struct RemoteEntryPointTests {
    struct Model: Codable, Equatable {
        var w: Tensor<Float>
        var name: String
    }

    @Test("Brine.save / Brine.load / Brine.loadWeights / RangedBrineFile.open on file:// URLs")
    func fileURLs() async throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        let model = Model(w: try Tensor<Float>(shape: [64, 64], scalars: (0 ..< 4096).map(Float.init)), name: "m")
        try await Brine.save(model, to: url)
        #expect(try await Brine.load(Model.self, from: url) == model)
        let weights = try await Brine.loadWeights(from: url)
        #expect(weights.paths == ["w"])
        let file = try await RangedBrineFile.open(url)
        #expect(try await file.array("w", as: Float.self) == model.w)
    }
}
