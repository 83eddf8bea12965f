import Foundation
import Testing
@testable import Brine
import BrineTestSupport

/// `WriteOptions.lz4Acceleration` (liblz4 `LZ4_compress_fast`): a faster,
/// lower-ratio LZ4 whose chunks any LZ4 block decoder reads.
@Suite("LZ4 acceleration")
struct LZ4AccelerationTests {
    /// Float32 weights with some structure (a noisy ramp), as trained weights have.
    static func weights(_ n: Int) -> AnyTensor {
        var rng = SplitMix64(seed: 7)
        let scalars = (0 ..< n).map { i in Float(i % 1000) * 1e-3 + Float(rng.next() % 16) * 1e-6 }
        return AnyTensor(try! Tensor<Float>(shape: [n], scalars: scalars))
    }

    @Test("accelerated chunks load bit-exactly in Swift and in python/brine_reader.py; on this data a higher acceleration gives a larger file")
    func roundTrip() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let t = Self.weights(600_000)
        var sizes: [Int] = []
        for acceleration in [1, 4, 64] {
            var o = SaveOptions()
            o.codec = .lz4
            o.filter = .shuffle
            o.lz4Acceleration = acceleration
            o.chunkBytes = 256 << 10
            let url = dir.appendingPathComponent("a\(acceleration).brine")
            try Brine.saveWeights(try Weights([("w", t)]), to: url, options: o)
            let f = try BrineFile(contentsOf: url)
            #expect(f.info("w")?.codec == .lz4)
            #expect(try f.tensor("w") == t)
            #expect(f.verify().isEmpty)
            let out = try PythonOracle.run("""
                import sys, numpy as np, brine_reader
                with brine_reader.BrineFile(sys.argv[1]) as f:
                    assert f.verify() == []
                    a = f.read("w")
                    print(a.dtype, a.shape, float(a[:3].sum()))
                """, [url.path])
            #expect(out.hasPrefix("float32 (600000,)"), "\(out)")
            sizes.append(try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! Int)
        }
        #expect(sizes[0] <= sizes[1] && sizes[1] <= sizes[2], "\(sizes)")
        #expect(sizes[0] < sizes[2], "acceleration 64 should cost ratio on this data: \(sizes)")
    }

    @Test("an acceleration outside 1 … 65,537 is invalidArgument before anything is written", arguments: [0, -3, 65_538])
    func outOfRange(acceleration: Int) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        var o = SaveOptions()
        o.codec = .lz4
        o.lz4Acceleration = acceleration
        let url = dir.appendingPathComponent("bad.brine")
        #expect { try Brine.saveWeights(try Weights([("w", Self.weights(10))]), to: url, options: o) } throws: {
            ($0 as? BrineError)?.code == .invalidArgument && "\($0)".contains("lz4 acceleration")
        }
        #expect(!FileManager.default.fileExists(atPath: url.path))
    }

    @Test("brine convert takes --lz4-acceleration (lz4 only, range checked) and a negative --level as a value")
    func cli() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let input = dir.appendingPathComponent("in.safetensors")
        try Safetensors.write([("w", Self.weights(100_000))], to: input)
        for (args, status) in [(["--codec", "lz4", "--lz4-acceleration", "8", "--shuffle"], Int32(0)),
                               (["--codec", "zstd", "--level", "-7"], 0),
                               (["--codec", "lz4", "--lz4-acceleration", "0"], 64),
                               (["--codec", "zstd", "--lz4-acceleration", "2"], 64)] {
            let out = dir.appendingPathComponent("out.brine")
            try? FileManager.default.removeItem(at: out)
            let r = try runBrine(["convert", input.path, out.path] + args)
            #expect(r.status == status, "\(args): \(r.err)")
            if status == 0 { #expect(try BrineFile(contentsOf: out).tensor("w") == Self.weights(100_000)) }
            else { #expect(!FileManager.default.fileExists(atPath: out.path)) }
        }
    }
}
