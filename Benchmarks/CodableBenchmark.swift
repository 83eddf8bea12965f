import Brine
import Foundation

/// Timing of the Codable layer against the low-level container API on the
/// same arrays (the Codable rows of `Benchmarks`, `Suite.runCodable`).
enum CodableBenchmark {
    /// One measured operation.
    struct Measurement: Sendable, CustomStringConvertible {
        /// What was measured, e.g. `"save  Brine.save (Codable)"`.
        var name: String
        /// The median wall time of the runs, in seconds.
        var median: Double
        /// The raw array bytes moved per run.
        var bytes: Int

        /// Throughput in MB/s (10^6 bytes) of raw array bytes.
        var megabytesPerSecond: Double { Double(bytes) / median / 1e6 }

        /// One table row: name, median in milliseconds, throughput.
        var description: String {
            let ms = median * 1e3
            return "\(name.padding(toLength: 44, withPad: " ", startingAt: 0)) \(String(format: "%9.3f ms %9.0f MB/s", ms, megabytesPerSecond))"
        }
    }

    struct Linear: Codable { var weight: Tensor<Float>; var bias: Tensor<Float> }
    struct Layer: Codable {
        var query: Linear, key: Linear, value: Linear, attentionOutput: Linear, attentionNorm: Linear
        var intermediate: Linear, output: Linear, outputNorm: Linear
    }
    /// A model with the 104 arrays of all-MiniLM-L6-v2 (103 float32, one
    /// int64; 90.9 MB), in a nested structure like the real one.
    /// Reads nothing from the tree (a configuration-only type reads as little).
    struct NoArrays: Decodable {}

    struct MiniLMShaped: Codable {
        var word: Tensor<Float>, position: Tensor<Float>, tokenType: Tensor<Float>
        var embeddingNorm: Linear
        var positionIDs: Tensor<Int64>
        var layers: [Layer]
        var pooler: Linear

        init() {
            var seed: UInt32 = 1
            func t(_ shape: [Int]) -> Tensor<Float> {
                var x = try! Tensor<Float>(zeros: shape)
                x.withUnsafeMutableBufferPointer { b in
                    for i in b.indices {
                        seed = seed &* 1_664_525 &+ 1_013_904_223
                        b[i] = Float(Int32(bitPattern: seed) >> 8) * 0x1p-26
                    }
                }
                return x
            }
            func linear(_ o: Int, _ i: Int) -> Linear { Linear(weight: t(i == 0 ? [o] : [o, i]), bias: t([o])) }
            word = t([30522, 384])
            position = t([512, 384])
            tokenType = t([2, 384])
            embeddingNorm = linear(384, 0)
            positionIDs = try! Tensor(shape: [1, 512], scalars: (0 ..< 512).map(Int64.init))
            layers = (0 ..< 6).map { _ in
                Layer(query: linear(384, 384), key: linear(384, 384), value: linear(384, 384),
                      attentionOutput: linear(384, 384), attentionNorm: linear(384, 0),
                      intermediate: linear(1536, 384), output: linear(384, 1536), outputNorm: linear(384, 0))
            }
            pooler = linear(384, 384)
        }
    }

    /// Saves and loads a MiniLM-shaped model (104 arrays, 90.9 MB) through
    /// ``Brine/save(_:to:options:)``/``Brine/load(_:from:mode:options:)`` and
    /// through ``BrineWriter``/``BrineFile`` directly on the same arrays
    /// (every array out of line in both: inline threshold 0, codec none,
    /// `durable` false so that `fsync` noise does not hide the encoder's cost).
    /// - Parameters:
    ///   - directory: a folder for the two files.
    ///   - runs: measured runs per operation (after one warm-up), Codable and
    ///     direct alternating; the median is reported.
    /// - Returns: the measurements, Codable and direct side by side.
    static func run(directory: URL, runs: Int = 9) throws -> [Measurement] {
        let runs = Swift.max(1, runs)
        let model = MiniLMShaped()
        let weights = try Weights(of: model)
        let bytes = weights.entries.reduce(0) { $0 + $1.tensor.byteCount }
        let codableURL = directory.appendingPathComponent("codable-bench.brine")
        let directURL = directory.appendingPathComponent("direct-bench.brine")
        var options = SaveOptions(inlineThreshold: 0)
        options.durable = false
        var sink: UInt64 = 0

        /// Runs `a` and `b` alternately, in alternating order (so machine noise
        /// and allocator state hit both alike),
        /// after one warm-up each; returns their medians.
        func measure(_ nameA: String, _ a: () throws -> Void, _ nameB: String, _ b: () throws -> Void, bytes: Int = bytes) rethrows -> [Measurement] {
            try a()
            try b()
            var ta: [Double] = []
            var tb: [Double] = []
            func time(_ f: () throws -> Void) rethrows -> Double {
                let start = DispatchTime.now().uptimeNanoseconds
                try f()
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }
            for i in 0 ..< runs {
                // A B, B A, A B, …: whichever runs second reuses memory the first freed.
                if i % 2 == 0 {
                    ta.append(try time(a))
                    tb.append(try time(b))
                } else {
                    tb.append(try time(b))
                    ta.append(try time(a))
                }
            }
            ta.sort()
            tb.sort()
            return [Measurement(name: nameA, median: ta[runs / 2], bytes: bytes),
                    Measurement(name: nameB, median: tb[runs / 2], bytes: bytes)]
        }
        func touch(_ t: AnyTensor) { if t.byteCount > 0 { sink &+= UInt64(t.storage.bytes.load(as: UInt8.self)) } }

        var out: [Measurement] = []
        out += try measure("save  Brine.save (Codable)", {
            try Brine.save(model, to: codableURL, options: options)
        }, "save  BrineWriter.append × 104 + finish", {
            let w = try BrineWriter(url: directURL, options: options.writeOptions)
            for (p, t) in weights.entries { try w.append(t, arrayPath: p) }
            try w.finish(root: .map(weights.paths.enumerated().map { ($1, .arrayRef($0)) }))
        })
        for mode in [LoadMode.copy, .mmap] {
            out += try measure("load  Brine.load (Codable), \(mode)", {
                let m = try Brine.load(MiniLMShaped.self, from: codableURL, mode: mode)
                touch(AnyTensor(m.word))
            }, "load  BrineFile.loadAll, \(mode)", {
                let f = try BrineFile(contentsOf: directURL, mode: mode)
                touch(try f.loadAll()[0])
            })
        }
        // The same without chunk verification: what the Codable layer adds
        // to an open that reads no array bytes (the tree decode, the lazy loader).
        let unverified = ReadOptions(verifyChecksums: false)
        out += try measure("load  Brine.load (Codable), mmap, unverified", {
            let m = try Brine.load(MiniLMShaped.self, from: codableURL, mode: .mmap, options: unverified)
            touch(AnyTensor(m.word))
        }, "load  BrineFile.loadAll, mmap, unverified", {
            let f = try BrineFile(contentsOf: directURL, mode: .mmap, options: unverified)
            touch(try f.loadAll()[0])
        })
        // Partial loads: one layer by path against the same arrays by the
        // low-level API, and a type that reads no array against the metadata.
        let layerInfos = try BrineFile(contentsOf: directURL).arrays.filter { $0.path.hasPrefix("layers.3.") }
        out += try measure("load  Brine.load(at: \"layers.3\"), copy", {
            touch(AnyTensor(try Brine.load(Layer.self, from: codableURL, at: "layers.3").query.weight))
        }, "load  BrineFile.load of layers.3's 16 arrays, copy", {
            touch(try BrineFile(contentsOf: directURL).load(layerInfos)[0])
        }, bytes: layerInfos.reduce(0) { $0 + $1.byteCount })
        out += try measure("load  Brine.load of a type reading no array", {
            _ = try Brine.load(NoArrays.self, from: codableURL)
        }, "load  Brine.metadata(of:)", {
            _ = try Brine.metadata(of: codableURL)
        }, bytes: 0)
        // The Codable layer alone: encoding to a tree (arrays recorded, not
        // written) and decoding from a tree with the arrays already loaded.
        let loaded = try BrineFile(contentsOf: codableURL).loadAll()
        let root = try BrineFile(contentsOf: codableURL).root
        out += try measure("      Codable layer only: encode tree", {
            _ = try BrineEncoder().encodeRecordingArrays(model)
        }, "      Codable layer only: decode tree", {
            touch(AnyTensor(try BrineDecoder().decode(MiniLMShaped.self, from: root, arrays: loaded).word))
        })
        // Keep the loads observable so they cannot be optimised away.
        if sink == 0x5EED { print("") }
        try? FileManager.default.removeItem(at: codableURL)
        try? FileManager.default.removeItem(at: directURL)
        return out
    }
}
