import Foundation
import Testing
@testable import Brine
import BrineTestSupport

/// Issue 9, part 1: damaged array data never passes a path that skips
/// verification. Each scenario changes array bytes on disk after the save,
/// leaving header and trailer intact, and expects `checksumMismatch` naming
/// the array and the chunk from every path that returns or passes on array
/// data, in every load mode, unless the caller opted out by name.
@Suite("Verification by default")
struct VerifyByDefaultTests {
    struct Small: Codable, Equatable { var w: Tensor<Float>; var b: [Float]; var name: String }
    struct Big: Codable, Equatable { var big: Tensor<Float>; var w: Tensor<Float> }

    static let modes: [LoadMode] = [.copy, .mmap, .mmapCopyOnWrite]

    /// A damaged file: the model saved, then `bytes` of array `path`'s chunk
    /// `chunk` changed in place (`zero`: every byte of the array zeroed).
    struct Damaged {
        let url: URL
        let path: String
        let chunk: Int
    }

    /// Saves a model with a 4-element float32 `w` (out of line), then zeroes `w` on disk.
    static func smallDamaged(in dir: URL, options: SaveOptions = SaveOptions(inlineThreshold: 0)) throws -> Damaged {
        let url = dir.appendingPathComponent("small.brine")
        try Brine.save(Small(w: try Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]), b: [0.5, -0.5], name: "s"), to: url, options: options)
        let a = try #require(try BrineFile(contentsOf: url).info("w"))
        #expect(a.chunkCount == 1)
        let h = try FileHandle(forUpdating: url)
        try h.seek(toOffset: UInt64(a.dataOffset))
        try h.write(contentsOf: Data(count: a.storedBytes))
        try h.close()
        return Damaged(url: url, path: "w", chunk: 0)
    }

    /// Saves a model with a 1 MiB float32 `big` in 64 KiB chunks, then flips one bit of chunk 11.
    static func bigDamaged(in dir: URL, codec: Codec = .none, filter: ChunkFilter = .none) throws -> Damaged {
        let url = dir.appendingPathComponent("big-\(codec)-\(filter).brine")
        let n = 1 << 18
        var rng = SplitMix64(seed: 7)
        let big = try Tensor<Float>(shape: [512, n / 512], scalars: (0 ..< n).map { _ in Float.random(in: -1 ... 1, using: &rng) })
        var o = SaveOptions(codec: codec, filter: filter, inlineThreshold: 0)
        o.chunkBytes = 64 << 10
        try Brine.save(Big(big: big, w: try Tensor(shape: [4], scalars: [1, 2, 3, 4])), to: url, options: o)
        let a = try #require(try BrineFile(contentsOf: url).info("big"))
        #expect(a.chunkCount == 16)
        let at = a.chunks[11].offset + a.chunks[11].storedBytes / 2
        let h = try FileHandle(forUpdating: url)
        try h.seek(toOffset: UInt64(at))
        var byte = try #require(try h.read(upToCount: 1))
        byte[0] ^= 0x10
        try h.seek(toOffset: UInt64(at))
        try h.write(contentsOf: byte)
        try h.close()
        return Damaged(url: url, path: "big", chunk: 11)
    }

    /// Expects `body` to throw `checksumMismatch` naming the damaged array and chunk.
    func expectMismatch(_ d: Damaged, _ what: String, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try body()
            Issue.record("\(what): damaged data passed", sourceLocation: sourceLocation)
        } catch let e as BrineError {
            #expect(e.code == .checksumMismatch && e.arrayPath == d.path && e.chunkIndex == d.chunk, "\(what): \(e)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(what): not a BrineError: \(error)", sourceLocation: sourceLocation)
        }
    }

    /// Every library path that returns array data.
    func everyLibraryPath<M: Codable>(_ d: Damaged, _ model: M.Type, fresh: M) throws {
        for mode in Self.modes {
            expectMismatch(d, "Brine.load \(mode)") { _ = try Brine.load(M.self, from: d.url, mode: mode) }
            expectMismatch(d, "Brine.open \(mode)") { _ = try Brine.open(M.self, from: d.url, mode: mode) }
            var m = fresh
            expectMismatch(d, "loadWeights(into:) \(mode)") { try Brine.loadWeights(into: &m, from: d.url, mode: mode) }
            expectMismatch(d, "loadWeights(from:) \(mode)") { _ = try Brine.loadWeights(from: d.url, mode: mode) }
            let f = try BrineFile(contentsOf: d.url, mode: mode)
            expectMismatch(d, "array \(mode)") { _ = try f.array(d.path, as: Float.self) }
            expectMismatch(d, "anyArray \(mode)") { _ = try f.anyArray(d.path) }
            expectMismatch(d, "anyArray(at:) \(mode)") { _ = try f.anyArray(at: f.arrayPaths.firstIndex(of: d.path)!) }
            expectMismatch(d, "loadAll \(mode)") { _ = try f.loadAll() }
            let a = f.info(d.path)!
            expectMismatch(d, "elements \(mode)") { _ = try f.elements(d.path, range: 0 ..< a.count) }
            let perChunk = a.chunkBytes / 4
            expectMismatch(d, "elements of the damaged chunk \(mode)") {
                _ = try f.elements(d.path, range: d.chunk * perChunk ..< Swift.min(a.count, d.chunk * perChunk + 1))
            }
            var buffer = [UInt8](repeating: 0, count: a.byteCount)
            expectMismatch(d, "read(into:) \(mode)") { try buffer.withUnsafeMutableBytes { try f.read(d.path, into: $0) } }
            expectMismatch(d, "TensorBundle \(mode)") { _ = try TensorBundle(contentsOf: d.url, mode: mode) }
            expectMismatch(d, "TensorBundle with progress \(mode)") { _ = try TensorBundle(contentsOf: d.url, mode: mode, progress: { _, _ in }) }
            // The explicit opt-out still loads (the damaged values).
            _ = try Brine.load(M.self, from: d.url, mode: mode, options: ReadOptions(verifyChecksums: false))
            _ = try BrineFile(contentsOf: d.url, mode: mode, options: ReadOptions(verifyChecksums: false)).loadAll()
        }
        // Read-write sessions verify too (their flush could otherwise re-certify the damage).
        expectMismatch(d, "Brine.open mmapReadWrite") { _ = try Brine.open(M.self, from: d.url, mode: .mmapReadWrite) }
        // In-memory files.
        let bytes = try Data(contentsOf: d.url)
        try bytes.withUnsafeBytes { b in
            let f = try BrineFile(bytes: b)
            expectMismatch(d, "in-memory loadAll") { _ = try f.loadAll() }
        }
    }

    @Test("a zeroed 4-element float32 array fails every path in every mode")
    func smallArrayZeroed() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let d = try Self.smallDamaged(in: dir)
        let fresh = Small(w: try Tensor(shape: [2, 2], scalars: [0, 0, 0, 0]), b: [0, 0], name: "")
        try everyLibraryPath(d, Small.self, fresh: fresh)
        // Opting out by name returns the zeros.
        let unverified = try Brine.load(Small.self, from: d.url, mode: .mmap, options: ReadOptions(verifyChecksums: false))
        #expect(unverified.w.scalars == [0, 0, 0, 0])
        var viewsOnly = ReadOptions()
        viewsOnly.verifyMappedArrays = false
        #expect(try Brine.load(Small.self, from: d.url, mode: .mmap, options: viewsOnly).w.scalars == [0, 0, 0, 0])
    }

    @Test("one flipped bit in chunk 11 of a 16-chunk array fails every path, named by chunk",
          arguments: [(Codec.none, ChunkFilter.none), (.lz4, .shuffle), (.zstd(level: 1), .none)])
    func bigArrayBitFlip(codec: Codec, filter: ChunkFilter) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let d = try Self.bigDamaged(in: dir, codec: codec, filter: filter)
        let fresh = Big(big: try Tensor(shape: [512, 512], scalars: [Float](repeating: 0, count: 1 << 18)), w: try Tensor(shape: [4], scalars: [0, 0, 0, 0]))
        try everyLibraryPath(d, Big.self, fresh: fresh)
    }

    @Test("a view is verified once per open, not on every access")
    func verifiedOncePerOpen() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("once.brine")
        try Brine.save(Small(w: try Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]), b: [1], name: "x"), to: url, options: SaveOptions(inlineThreshold: 0))
        let f = try BrineFile(contentsOf: url, mode: .mmap)
        let first = try f.array("w", as: Float.self)
        #expect(first.scalars == [1, 2, 3, 4])
        #expect(f.verifiedViews.withLock { $0.count } == 1)
        // Change the file behind the shared mapping: the open file does not check again…
        let a = try #require(f.info("w"))
        let h = try FileHandle(forUpdating: url)
        try h.seek(toOffset: UInt64(a.dataOffset))
        try h.write(contentsOf: Data(count: 4))
        try h.close()
        #expect(try f.array("w", as: Float.self).scalars == [0, 2, 3, 4])
        // …a new open does.
        let e = #expect(throws: BrineError.self) { try BrineFile(contentsOf: url, mode: .mmap).array("w", as: Float.self) }
        #expect(e?.code == .checksumMismatch && e?.arrayPath == "w")
    }

    @Test("brine convert of a damaged file exits 1 and writes nothing, to every format; --no-verify converts",
          arguments: ["safetensors", "npz", "npy", "brine"])
    func convertDamaged(ext: String) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        // A .npy holds one array: a file with only `w` for that case.
        let url = dir.appendingPathComponent("damaged.brine")
        let w = try BrineWriter(url: url)
        try w.append(try Tensor<Float>(shape: [4], scalars: [1, 2, 3, 4]), arrayPath: "w")
        try w.finish()
        let a = try #require(try BrineFile(contentsOf: url).info("w"))
        let h = try FileHandle(forUpdating: url)
        try h.seek(toOffset: UInt64(a.dataOffset))
        try h.write(contentsOf: Data(count: 16))
        try h.close()

        let out = dir.appendingPathComponent("out.\(ext)")
        let r = try runBrine(["convert", url.path, out.path])
        #expect(r.status == 1, "\(r)")
        #expect(r.err.contains("checksumMismatch") && r.err.contains("'w'") && r.err.contains("chunk 0"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["damaged.brine"])

        let forced = try runBrine(["convert", url.path, out.path, "--no-verify"])
        #expect(forced.status == 0, "\(forced)")
        #expect(try TensorBundle(contentsOf: out).tensor(ext == "npy" ? "out" : "w")?.typed(as: Float.self).scalars == [0, 0, 0, 0])
    }

    @Test("brine convert of a damaged model (inline arrays too) fails; the output of a converted intact file verifies")
    func convertDamagedModel() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let d = try Self.bigDamaged(in: dir)
        for ext in ["safetensors", "npz", "brine"] {
            let out = dir.appendingPathComponent("o.\(ext)")
            let r = try runBrine(["convert", d.url.path, out.path])
            #expect(r.status == 1 && r.err.contains("chunk 11"), "\(r)")
            #expect(!FileManager.default.fileExists(atPath: out.path))
        }
    }

    @Test("python/brine_reader.py verifies by default in copy and mmap mode; verify=False opts out")
    func pythonReader() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let small = try Self.smallDamaged(in: dir)
        let big = try Self.bigDamaged(in: dir)
        let out = try PythonOracle.json("""
            import json, sys
            import brine_reader as br
            results = []
            for path, name in ((sys.argv[1], "w"), (sys.argv[2], "big")):
                for mmap in (False, True):
                    try:
                        with br.BrineFile(path, mmap=mmap) as f:
                            f.read(name)
                        results.append("passed")
                    except br.BrineError as e:
                        results.append(str(e))
                    try:
                        br.load(path, mmap=mmap)
                        results.append("passed")
                    except br.BrineError as e:
                        results.append(str(e))
                    with br.BrineFile(path, mmap=mmap, verify=False) as f:
                        f.read(name)
                    results.append("opt-out ok")
            print(json.dumps(results))
            """, [small.url.path, big.url.path])
        let results = try #require(out as? [String])
        #expect(results.count == 12)
        for (i, r) in results.enumerated() {
            if i % 3 == 2 {
                #expect(r == "opt-out ok")
            } else {
                let chunk = i < 6 ? "chunk 0" : "chunk 11"
                #expect(r.contains("checksum") && r.contains(chunk), "\(i): \(r)")
            }
        }
    }
}
