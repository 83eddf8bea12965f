/// Bulk element conversions used when a float32 array is stored narrowed to
/// float16 or bfloat16 (opt-in, lossy) and widened back on load.
/// float32 → float16 and → bfloat16 round to nearest, ties to even; NaN stays
/// NaN, ±infinity stays ±infinity; values beyond float16's range become ±infinity.
enum FloatConversion {
    /// Converts `count` float32 values at `src` to `stored` (float16 or bfloat16) at `dst`.
    static func narrow(_ src: UnsafeRawPointer, to dst: UnsafeMutableRawPointer, count: Int, stored: DType) {
        let s = src.assumingMemoryBound(to: Float.self)
        switch stored {
        case .float16:
            let d = dst.assumingMemoryBound(to: Float16.self)
            for i in 0 ..< count { d[i] = Float16(s[i]) }
        case .bfloat16:
            let d = dst.assumingMemoryBound(to: UInt16.self)
            for i in 0 ..< count { d[i] = BFloat16(s[i]).bitPattern }
        default:
            preconditionFailure("narrowing to \(stored) is not supported")
        }
    }

    /// Converts `count` float16 or bfloat16 values at `src` to float32 at `dst` (exact).
    static func widen(_ src: UnsafeRawPointer, stored: DType, to dst: UnsafeMutableRawPointer, count: Int) {
        let d = dst.assumingMemoryBound(to: Float.self)
        switch stored {
        case .float16:
            let s = src.assumingMemoryBound(to: Float16.self)
            for i in 0 ..< count { d[i] = Float(s[i]) }
        case .bfloat16:
            let s = src.assumingMemoryBound(to: UInt16.self)
            for i in 0 ..< count { d[i] = Float(bitPattern: UInt32(s[i]) << 16) }
        default:
            preconditionFailure("widening from \(stored) is not supported")
        }
    }
}
