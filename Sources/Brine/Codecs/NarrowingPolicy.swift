import CBrineKernels

/// What narrowing float32 to float16 or bfloat16
/// (``WriteOptions/storageDType``, ``WriteOptions/storageDType``) does with a
/// value the narrow type cannot hold in magnitude.
///
/// Rounding to the nearest representable value (relative error at most 2⁻¹¹
/// for float16, 2⁻⁸ for bfloat16, for values in the normal range) is what
/// narrowing means and is always allowed. Losing a value's magnitude is not,
/// by default: a finite value beyond the narrow type's range (for float16,
/// |x| ≥ 65520) would become ±infinity, and a nonzero value below half its
/// smallest subnormal (for float16, |x| ≤ 2⁻²⁵ ≈ 2.98e-8) would become ±0.
public enum NarrowingPolicy: Sendable, Hashable {
    /// The default: a finite value that would overflow to ±infinity, or a
    /// nonzero value that would flush to ±0, throws ``BrineError``
    /// `.valueOutOfRange` naming the array, the element index and the value,
    /// before the destination file changes. NaN and ±infinity narrow to
    /// themselves; subnormal results are kept.
    case rejectOverflowAndUnderflow
    /// Opt-in: store ±infinity for values beyond the narrow type's range and
    /// ±0 for values below its smallest subnormal, without an error (IEEE
    /// 754 round-to-nearest, as the hardware conversions do).
    case allowOverflowAndUnderflow
}

extension FloatConversion {
    /// The index of the first of `count` elements whose narrowing from
    /// float32 (`src`) to `stored` (`dst`, already converted) turned a finite
    /// value into ±infinity or a nonzero value into ±0, or `nil`.
    static func firstLoss(_ src: UnsafeRawPointer, narrowed dst: UnsafeRawPointer, count: Int, stored: DType) -> Int? {
        precondition(stored == .float16 || stored == .bfloat16)
        let i = brine_narrowing_loss(src, dst, count, stored == .float16 ? 1 : 0)
        return i < count ? i : nil
    }

    /// The `.valueOutOfRange` error for element `index` of an array whose
    /// float32 value `value` cannot be narrowed to `stored` without loss.
    static func lossError(value: Float, index: Int, stored: DType) -> BrineError {
        let what: String
        if Swift.abs(value) >= 1 {
            let largest = stored == .float16 ? "65504" : "about 3.3895e38"
            what = "overflows \(stored) to \(value < 0 ? "-" : "")infinity (largest finite \(stored): \(largest))"
        } else {
            what = "is below half the smallest \(stored) subnormal and would flush to zero"
        }
        return BrineError(
            .valueOutOfRange,
            "float32 value \(value) at element \(index) \(what); keep float32 storage, or opt in with narrowing: .allowOverflowAndUnderflow (brine convert: --allow-overflow-and-underflow)")
    }
}
