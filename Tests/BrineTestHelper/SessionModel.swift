import Brine

/// The model of the read-write session crash tests (Tests/BrineTests/
/// ReadWriteSessionTests.swift holds an identical copy: keep them in sync).
/// Every value is a function of the generation, so a reader can check that
/// a file holds exactly one generation's state.
///
/// - `dense`: float32 [rows, 256], uncompressed: changed in place (views);
/// - `bias`: `[Float]` of 4096 (16 KiB, out of line, uncompressed): a Swift
///   array, copied into the mapping by the flush;
/// - `small`: float32 [10, 64] (2,560 bytes, inline in the header): a
///   change forces an atomic re-save (every 5th generation);
/// - `step`: a scalar, changed with `small`.
struct SessionModel: Codable, Equatable {
    var dense: Tensor<Float>
    var bias: [Float]
    var small: Tensor<Float>
    var step: Int

    static let columns = 256
    /// Elements per 256 KiB chunk of `dense`.
    static let chunkElements = 65536

    static func initial(rows: Int) -> SessionModel {
        let n = rows * columns
        let dense = try! Tensor<Float>(shape: [rows, columns], scalars: (0 ..< n).map { Float($0 % 977) * 0.25 })
        let small = try! Tensor<Float>(shape: [10, 64], scalars: (0 ..< 640).map { Float($0) })
        return SessionModel(dense: dense, bias: (0 ..< 4096).map { Float($0) * 0.5 }, small: small, step: 0)
    }

    /// The change that makes generation `g` from generation `g - 1`.
    mutating func apply(generation g: Int) {
        let stamp = Float(g)
        dense.withUnsafeMutableBufferPointer { d in
            d[0] = stamp
            var k = 0
            while k * SessionModel.chunkElements < d.count {
                let i = k * SessionModel.chunkElements + 1 + g % 1000
                if i < d.count { d[i] = stamp }
                k += 1
            }
        }
        bias[g % bias.count] = stamp
        if g % 5 == 0 {
            small[flat: g % 640] = stamp
            step = g
        }
    }

    /// The generation stamped in `dense[0]`.
    var generation: Int { Int(dense[flat: 0]) }
}
