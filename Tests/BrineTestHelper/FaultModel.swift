import Brine
import BrineTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A self-checking model for the fault-injection tests: every array's raw
/// bytes are hashed (XXH3-64) into the metadata before the save, so a reader
/// can prove it got exactly the data the writer meant, and `generation` says
/// which save produced the file.
///
/// Arrays (about `mebibytes` MiB in all, 256 KiB chunks):
/// - `dense.weight`: float32 [rows, 256], codec none (contiguous, zero-copy in mmap mode), ~13/16 of the size;
/// - `dense.bias`: float32 [256], codec none;
/// - `embed.ids`: int32, lz4, ~2/16 of the size;
/// - `norm.scale`: float64 [32768], zstd level 1 + shuffle;
/// - `head.weight`: float32 [65536] stored as float16, lz4 + shuffle (values
///   are float16-exact, so the narrowing is lossless and the hash holds).
enum FaultModel {
    static let chunkBytes = 256 << 10

    static func save(
        to path: String, generation: UInt64, mebibytes: Int, durable: Bool,
        progress: (String) -> Void, onFailure: () -> Void = {}
    ) throws(BrineError) {
        let total = Swift.max(1, mebibytes) << 20
        var rng = SplitMix64(seed: generation &* 0x9E37_79B9 &+ 1)
        let rows = Swift.max(1, total * 13 / 16 / 1024)
        let dense = floats(rows * 256, &rng, stamp: generation)
        let bias = floats(256, &rng, stamp: generation)
        let ids = ints(Swift.max(1024, total * 2 / 16 / 4), &rng, stamp: generation)
        var norm = [Double](repeating: 0, count: 32768)
        for i in norm.indices { norm[i] = Double(rng.next() >> 11) * 0x1p-53 - 0.5 }
        norm[0] = Double(generation)
        var head = [Float](repeating: 0, count: 65536)
        for i in head.indices { head[i] = Float(Float16(Float(rng.next() >> 40) * 0x1p-24 - 0.5)) }

        var plain = WriteOptions()
        plain.chunkBytes = chunkBytes
        plain.durable = durable
        var lz4 = plain
        lz4.codec = .lz4
        var zstd = plain
        zstd.codec = .zstd(level: 1)
        zstd.filter = .shuffle
        var half = plain
        half.codec = .lz4
        half.filter = .shuffle
        half.storageDType = .float16

        var hashes: [(key: String, value: Value)] = [("generation", .uint(generation))]
        func hash(_ b: UnsafeRawBufferPointer) -> Value { .uint(Checksum.xxh3(b)) }
        progress("start \(generation)")
        let w = try BrineWriter(path: path, options: plain)
        // `onFailure` runs while the writer is still alive, so the caller can
        // check that a failed save has already removed its temporary file.
        do throws(BrineError) {
            let iDense = try w.append(try Tensor<Float>(shape: [rows, 256], scalars: dense), arrayPath: "dense.weight")
            progress("phase appended dense.weight")
            let iBias = try w.append(bias, arrayPath: "dense.bias")
            let iIds = try w.append(ids, arrayPath: "embed.ids", options: lz4)
            progress("phase appended embed.ids")
            let iNorm = try w.append(norm, arrayPath: "norm.scale", options: zstd)
            let iHead = try w.append(head, arrayPath: "head.weight", options: half)
            progress("phase appended head.weight")
            dense.withUnsafeBytes { hashes.append(("xxh3.dense.weight", hash($0))) }
            bias.withUnsafeBytes { hashes.append(("xxh3.dense.bias", hash($0))) }
            ids.withUnsafeBytes { hashes.append(("xxh3.embed.ids", hash($0))) }
            norm.withUnsafeBytes { hashes.append(("xxh3.norm.scale", hash($0))) }
            head.withUnsafeBytes { hashes.append(("xxh3.head.weight", hash($0))) }
            let root: Value = [
                "dense": ["weight": .arrayRef(iDense), "bias": .arrayRef(iBias)],
                "embed": .arrayRef(iIds), "norm": .arrayRef(iNorm), "head": .arrayRef(iHead),
                "generation": .uint(generation),
            ]
            progress("phase finishing")
            try w.finish(root: root, metadata: .map(hashes))
        } catch {
            onFailure()
            throw error
        }
    }

    /// `n` float32 values: one random 32 KiB block repeated, each block
    /// stamped with its index and the generation so no two blocks are equal.
    static func floats(_ n: Int, _ rng: inout SplitMix64, stamp: UInt64) -> [Float] {
        var a = [Float](repeating: 0, count: n)
        a.withUnsafeMutableBufferPointer { b in
            let block = Swift.min(n, 8192)
            for i in 0 ..< block { b[i] = Float(rng.next() >> 40) * 0x1p-24 - 0.5 }
            replicate(UnsafeMutableRawBufferPointer(b), blockBytes: block * 4)
            var k = 0
            for i in stride(from: 0, to: n, by: 8192) { b[i] = Float(stamp) + Float(k) * 0x1p-10; k += 1 }
        }
        return a
    }

    /// `n` small int32 values (compressible), built like ``floats(_:_:stamp:)``.
    static func ints(_ n: Int, _ rng: inout SplitMix64, stamp: UInt64) -> [Int32] {
        var a = [Int32](repeating: 0, count: n)
        a.withUnsafeMutableBufferPointer { b in
            let block = Swift.min(n, 8192)
            for i in 0 ..< block { b[i] = Int32(rng.next() % 1000) }
            replicate(UnsafeMutableRawBufferPointer(b), blockBytes: block * 4)
            var k: Int32 = 0
            for i in stride(from: 0, to: n, by: 8192) { b[i] = Int32(truncatingIfNeeded: stamp) &* 65536 &+ k; k += 1 }
        }
        return a
    }

    /// Copies the first `blockBytes` bytes over the rest of the buffer.
    static func replicate(_ b: UnsafeMutableRawBufferPointer, blockBytes: Int) {
        var filled = blockBytes
        while filled < b.count {
            let n = Swift.min(filled, b.count - filled)
            (b.baseAddress! + filled).copyMemory(from: b.baseAddress!, byteCount: n)
            filled += n
        }
    }
}
