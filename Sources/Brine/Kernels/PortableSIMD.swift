/// 128-bit Swift SIMD building blocks for the portable kernels.
///
/// Only 128-bit vector types are used on purpose: with Swift 6.3 they
/// compile to single SSE2 instructions on x86_64 (PAND/PSRLW + PACKUSWB,
/// PUNPCKL/HBW, PSRAD + PACKSSDW) and to NEON UZP/ZIP/XTN on arm64, while
/// wider types (`SIMD32<UInt8>`, `SIMD64<UInt8>`) and their
/// `evenHalf`/`oddHalf` still become per-lane loops through the stack.
/// Interleaves of growing lane width (8, then 16, then 32 bits) are kept
/// as such: LLVM merges a chain of same-width byte interleaves into one
/// two-source byte shuffle that SSE2 (no PSHUFB) can only emulate slowly.
enum PortableSIMD {
    typealias Bytes = SIMD16<UInt8>

    /// Reinterprets 16 bytes as eight 16-bit lanes (native byte order).
    @inline(__always)
    static func words(_ v: Bytes) -> SIMD8<UInt16> { unsafeBitCast(v, to: SIMD8<UInt16>.self) }

    /// The even-indexed bytes (PAND + PACKUSWB) and the odd-indexed bytes
    /// (PSRLW + PACKUSWB) of the 32 bytes `a ‖ b`.
    @inline(__always)
    static func evenOddBytes(_ a: Bytes, _ b: Bytes) -> (even: Bytes, odd: Bytes) {
        let even = Bytes(lowHalf: SIMD8<UInt8>(truncatingIfNeeded: words(a)), highHalf: SIMD8<UInt8>(truncatingIfNeeded: words(b)))
        let odd = Bytes(
            lowHalf: SIMD8<UInt8>(truncatingIfNeeded: words(a) &>> 8),
            highHalf: SIMD8<UInt8>(truncatingIfNeeded: words(b) &>> 8))
        return (even, odd)
    }

    /// The lanes of `a` and `b` alternated, for lanes of `laneBits` (8, 16
    /// or 32) bits: `low` is `a0 b0 a1 b1 …` from the low halves
    /// (PUNPCKLBW/WD/DQ), `high` the same from the high halves (PUNPCKHBW/WD/DQ).
    @inline(__always)
    static func interleave(_ a: Bytes, _ b: Bytes, laneBits: Int) -> (low: Bytes, high: Bytes) {
        switch laneBits {
        case 8: return interleave(a, b, as: SIMD16<UInt8>.self)
        case 16: return interleave(a, b, as: SIMD8<UInt16>.self)
        default: return interleave(a, b, as: SIMD4<UInt32>.self)
        }
    }

    /// ``interleave(_:_:laneBits:)`` for the lanes of `Lanes`, a 16-byte vector type.
    @inline(__always)
    private static func interleave<Lanes: HalvableSIMD>(_ a: Bytes, _ b: Bytes, as: Lanes.Type) -> (low: Bytes, high: Bytes) {
        let x = unsafeBitCast(a, to: Lanes.self), y = unsafeBitCast(b, to: Lanes.self)
        var low = Lanes(), high = Lanes()
        low.evenHalf = x.lowHalf
        low.oddHalf = y.lowHalf
        high.evenHalf = x.highHalf
        high.oddHalf = y.highHalf
        return (unsafeBitCast(low, to: Bytes.self), unsafeBitCast(high, to: Bytes.self))
    }

    /// The low 16 bits of each lane of `a ‖ b`, for lanes whose value is
    /// a sign-extended 16-bit number (PSRAD-free PACKSSDW on x86_64).
    @inline(__always)
    static func packSignExtended(_ a: SIMD4<Int32>, _ b: SIMD4<Int32>) -> SIMD8<UInt16> {
        let packed = SIMD8<Int16>(lowHalf: SIMD4<Int16>(truncatingIfNeeded: a), highHalf: SIMD4<Int16>(truncatingIfNeeded: b))
        return unsafeBitCast(packed, to: SIMD8<UInt16>.self)
    }

    /// The high 16 bits of each lane of `a ‖ b` (PSRAD 16 + PACKSSDW).
    @inline(__always)
    static func packHighHalves(_ a: SIMD4<UInt32>, _ b: SIMD4<UInt32>) -> SIMD8<UInt16> {
        packSignExtended(
            unsafeBitCast(a, to: SIMD4<Int32>.self) &>> 16,
            unsafeBitCast(b, to: SIMD4<Int32>.self) &>> 16)
    }

    /// The low 16 bits of each lane of `a ‖ b` (PSLLD 16, PSRAD 16, PACKSSDW).
    @inline(__always)
    static func packLowHalves(_ a: SIMD4<UInt32>, _ b: SIMD4<UInt32>) -> SIMD8<UInt16> {
        packHighHalves(a &<< 16, b &<< 16)
    }
}

/// A 128-bit SIMD vector type with the standard library's half views
/// (`lowHalf`, `highHalf`, `evenHalf`, `oddHalf`), which the concrete
/// `SIMDn` types have but no protocol names; lets
/// ``PortableSIMD/interleave(_:_:laneBits:)`` be written once for every lane width.
protocol HalvableSIMD: SIMD {
    associatedtype Half
    var lowHalf: Half { get }
    var highHalf: Half { get }
    var evenHalf: Half { get set }
    var oddHalf: Half { get set }
}

extension SIMD16: HalvableSIMD {}
extension SIMD8: HalvableSIMD {}
extension SIMD4: HalvableSIMD {}
