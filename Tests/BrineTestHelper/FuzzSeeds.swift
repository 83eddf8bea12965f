import Brine
import Foundation

/// The seed corpus of the FuzzContainer target: small valid files written by
/// ``BrineWriter``, one per storage configuration, so the fuzzer starts from
/// every path through the reader (contiguous, shuffled, LZ4, Zstandard,
/// float16/bfloat16 narrowing, several alignments, multi-chunk arrays,
/// rank 0, zero-length arrays, a rich object tree, an empty container).
/// Chunks are tiny (48–128 bytes) so that every array spans several.
enum FuzzSeeds {
    struct Config {
        var name: String
        var codec: Codec
        var filter: ChunkFilter = .none
        var storage: DType? = nil
        var alignment = 64
        var chunkBytes = 64
    }

    static let configs: [Config] = [
        Config(name: "none", codec: .none),
        Config(name: "none-shuffle-align8", codec: .none, filter: .shuffle, alignment: 8, chunkBytes: 48),
        Config(name: "none-align512", codec: .none, alignment: 512, chunkBytes: 512),
        Config(name: "lz4", codec: .lz4),
        Config(name: "lz4-shuffle", codec: .lz4, filter: .shuffle, chunkBytes: 96),
        Config(name: "zstd1-shuffle", codec: .zstd(level: 1), filter: .shuffle, chunkBytes: 128),
        Config(name: "zstd3", codec: .zstd(level: 3)),
        Config(name: "f16-lz4-shuffle", codec: .lz4, filter: .shuffle, storage: .float16),
        Config(name: "bf16-zstd", codec: .zstd(level: 1), storage: .bfloat16),
        Config(name: "f16-none", codec: .none, storage: .float16, alignment: 16),
    ]

    /// Writes every seed into `dir` (created if needed).
    /// - Returns: the number of files written.
    static func write(into dir: String) throws(BrineError) -> Int {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw BrineError(.io, "cannot create \(dir): \(error)")
        }
        var n = 0
        for c in configs {
            try writeSeed(c, to: dir + "/seed-\(c.name).brine")
            n += 1
        }
        // No arrays at all, null root.
        try BrineWriter(path: dir + "/seed-empty.brine").finish()
        n += 1
        return n
    }

    static func writeSeed(_ c: Config, to path: String) throws(BrineError) {
        var o = WriteOptions(codec: c.codec, filter: c.filter)
        o.storageDType = c.storage
        o.alignment = c.alignment
        o.chunkBytes = c.chunkBytes
        o.threads = 1
        o.durable = false
        let w = try BrineWriter(path: path, options: o)
        let weight = try Tensor<Float>(shape: [4, 6], scalars: (0 ..< 24).map { Float($0 % 7) * 0.25 - 0.5 })
        let i0 = try w.append(weight, arrayPath: "layer.weight")
        let i1 = try w.append((0 ..< 10).map { Int16($0 * 3 - 9) }, arrayPath: "layer.ids")
        let i2 = try w.append((0 ..< 7).map { UInt8($0 * 37 & 0xFF) }, arrayPath: "bytes")
        let i3 = try w.append([Double.pi, -0.0, .infinity], arrayPath: "stats")
        let i4 = try w.append([true, false, true, true, false].map { $0 }, arrayPath: "mask")
        let i5 = try w.append(Tensor<Float>(scalar: 1.5), arrayPath: "scale")
        let i6 = try w.append(try Tensor<Int64>(zeros: [0, 3]), arrayPath: "empty")
        let root: Value = [
            "layers": [["weight": .arrayRef(i0), "ids": .arrayRef(i1)]],
            "bytes": .arrayRef(i2), "stats": .arrayRef(i3), "mask": .arrayRef(i4),
            "scale": .arrayRef(i5), "empty": .arrayRef(i6),
            "hyper": ["lr": .float64(1e-3), "decay": .float32(0.5), "epochs": .int(-3), "seed": .uint(42),
                      "name": "mlp", "blob": .bytes([0, 1, 2]), "frozen": false, "note": nil],
            // Format 1.1: a second place of an array (an alias), shared references, a ragged nested array.
            "tied": .arrayRef(i0),
            "vocab": .shared(0, ["words": ["a", "b"], "inner": .shared(1, [1, 2])]),
            "heads": [.sharedRef(0), .sharedRef(1)],
            "rows": ["values": .arrayRef(i3), "lengths": [[2, 0, 1]]],
        ]
        try w.finish(root: root, metadata: ["framework": "fuzz-seed", "config": .string(c.name),
                                            "brine.aliases": ["tied": "layer.weight"]])
    }
}
