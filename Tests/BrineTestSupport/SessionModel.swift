import Brine

/// The model of the read-write session crash tests, shared by
/// `BrineTestHelper` (the child process that saves and is killed) and
/// `BrineTests` (which checks what the child left).
/// Every value is a function of the generation, so a reader can check that
/// a file holds exactly one generation's state.
///
/// - `dense`: float32 [rows, 256], uncompressed: changed in place (views);
/// - `bias`: `[Float]` of 4096 (16 KiB, out of line, uncompressed): a Swift
///   array, copied into the mapping by the flush;
/// - `small`: float32 [10, 64] (2,560 bytes, inline in the header): a
///   change forces an atomic re-save (every 5th generation);
/// - `step`: a scalar, changed with `small`.
public struct SessionModel: Codable, Equatable, Sendable {
    /// float32 [rows, 256], changed in place.
    public var dense: Tensor<Float>
    /// 4096 floats, out of line.
    public var bias: [Float]
    /// float32 [10, 64], inline in the header.
    public var small: Tensor<Float>
    /// The generation of the last change to `small`.
    public var step: Int

    /// Columns of `dense`.
    public static let columns = 256
    /// Elements per 256 KiB chunk of `dense`.
    public static let chunkElements = 65536

    /// Generation 0 with `rows` rows in `dense`.
    public static func initial(rows: Int) -> SessionModel {
        let n = rows * columns
        let dense = try! Tensor<Float>(shape: [rows, columns], scalars: (0 ..< n).map { Float($0 % 977) * 0.25 })
        let small = try! Tensor<Float>(shape: [10, 64], scalars: (0 ..< 640).map { Float($0) })
        return SessionModel(dense: dense, bias: (0 ..< 4096).map { Float($0) * 0.5 }, small: small, step: 0)
    }

    /// The change that makes generation `g` from generation `g - 1`.
    public mutating func apply(generation g: Int) {
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
    public var generation: Int { Int(dense[flat: 0]) }

    private static let cachedRows = 2048
    private static let cachedInitial = initial(rows: cachedRows)

    /// The state after generations 1…g.
    public static func state(rows: Int, generation g: Int) -> SessionModel {
        var m = rows == cachedRows ? cachedInitial : initial(rows: rows)
        if g > 0 { for k in 1 ... g { m.apply(generation: k) } }
        return m
    }
}
