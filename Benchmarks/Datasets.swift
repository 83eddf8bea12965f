import Brine
import Foundation

/// A named set of arrays to save and load.
struct Dataset {
    var name: String
    var arrays: [(path: String, tensor: AnyTensor)]
    var note: String?

    var rawBytes: Int { arrays.reduce(0) { $0 + $1.tensor.byteCount } }
}

/// xoshiro-like fast generator for synthetic weights (deterministic).
struct FastRandom {
    var s: UInt64
    init(seed: UInt64) { s = seed &+ 0x9E37_79B9_7F4A_7C15 }
    @inline(__always) mutating func next() -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// float32 values distributed like trained weights: roughly normal with
/// standard deviation `std` (sum of four uniforms), so shuffle + compression
/// behaves as on real checkpoints (exponent bytes compress, mantissas don't).
func syntheticWeights(count: Int, std: Float, seed: UInt64) -> AnyTensor {
    let storage = TensorStorage(uninitializedByteCount: count * 4)
    nonisolated(unsafe) let p = storage.baseAddress.assumingMemoryBound(to: Float.self)
    let scale = std * 1.7320508 / 32768  // four 16-bit uniforms: variance 4/12 of the unit
    DispatchQueue.concurrentPerform(iterations: 16) { part in
        let lo = count * part / 16, hi = count * (part + 1) / 16
        var rng = FastRandom(seed: seed &* 31 &+ UInt64(part))
        for i in lo ..< hi {
            let r = rng.next()
            let a = Int32(r & 0xFFFF) + Int32((r >> 16) & 0xFFFF) + Int32((r >> 32) & 0xFFFF) + Int32(r >> 48) - 131_070
            p[i] = Float(a) * scale
        }
    }
    return try! AnyTensor(dtype: .float32, shape: [count], storage: storage)
}

/// One float32 array of `bytes` bytes.
func singleArrayDataset(bytes: Int) -> Dataset {
    Dataset(name: "float32 \(formatBytes(bytes))", arrays: [("weight", syntheticWeights(count: bytes / 4, std: 0.02, seed: 1))])
}

/// `count` float32 arrays totalling about `totalBytes`, sized like a
/// transformer's layers (a few large matrices, many small vectors).
func syntheticModelDataset(arrays count: Int, totalBytes: Int) -> Dataset {
    var rng = FastRandom(seed: 7)
    // Log-uniform relative sizes between 1 and 4096, then scaled to the total.
    let weights = (0 ..< count).map { _ in pow(2.0, Double(rng.next() % 1200) / 100.0) }
    let sum = weights.reduce(0, +)
    var arrays: [(String, AnyTensor)] = []
    for (i, w) in weights.enumerated() {
        let elements = max(16, Int(Double(totalBytes / 4) * w / sum))
        let t = syntheticWeights(count: elements, std: 0.02, seed: UInt64(100 + i))
        arrays.append(("layers.\(i / 4).p\(i % 4)", t))
    }
    return Dataset(name: "\(count)-array model \(formatBytes(arrays.reduce(0) { $0 + $1.1.byteCount }))", arrays: arrays)
}
