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

    /// The even-indexed bytes of the 32 bytes `a ‖ b` (PAND + PACKUSWB).
    @inline(__always)
    static func evenBytes(_ a: Bytes, _ b: Bytes) -> Bytes {
        Bytes(lowHalf: SIMD8<UInt8>(truncatingIfNeeded: words(a)), highHalf: SIMD8<UInt8>(truncatingIfNeeded: words(b)))
    }

    /// The odd-indexed bytes of the 32 bytes `a ‖ b` (PSRLW + PACKUSWB).
    @inline(__always)
    static func oddBytes(_ a: Bytes, _ b: Bytes) -> Bytes {
        Bytes(
            lowHalf: SIMD8<UInt8>(truncatingIfNeeded: words(a) &>> 8),
            highHalf: SIMD8<UInt8>(truncatingIfNeeded: words(b) &>> 8))
    }

    /// Bytes `a0 b0 a1 b1 … a7 b7` (PUNPCKLBW).
    @inline(__always)
    static func interleaveLow8(_ a: Bytes, _ b: Bytes) -> Bytes {
        var v = Bytes()
        v.evenHalf = a.lowHalf
        v.oddHalf = b.lowHalf
        return v
    }

    /// Bytes `a8 b8 a9 b9 … a15 b15` (PUNPCKHBW).
    @inline(__always)
    static func interleaveHigh8(_ a: Bytes, _ b: Bytes) -> Bytes {
        var v = Bytes()
        v.evenHalf = a.highHalf
        v.oddHalf = b.highHalf
        return v
    }

    /// 16-bit lanes `a0 b0 a1 b1 a2 b2 a3 b3` (PUNPCKLWD).
    @inline(__always)
    static func interleaveLow16(_ a: Bytes, _ b: Bytes) -> Bytes {
        var v = SIMD8<UInt16>()
        v.evenHalf = words(a).lowHalf
        v.oddHalf = words(b).lowHalf
        return unsafeBitCast(v, to: Bytes.self)
    }

    /// 16-bit lanes `a4 b4 … a7 b7` (PUNPCKHWD).
    @inline(__always)
    static func interleaveHigh16(_ a: Bytes, _ b: Bytes) -> Bytes {
        var v = SIMD8<UInt16>()
        v.evenHalf = words(a).highHalf
        v.oddHalf = words(b).highHalf
        return unsafeBitCast(v, to: Bytes.self)
    }

    /// 32-bit lanes `a0 b0 a1 b1` (PUNPCKLDQ).
    @inline(__always)
    static func interleaveLow32(_ a: Bytes, _ b: Bytes) -> Bytes {
        var v = SIMD4<UInt32>()
        v.evenHalf = unsafeBitCast(a, to: SIMD4<UInt32>.self).lowHalf
        v.oddHalf = unsafeBitCast(b, to: SIMD4<UInt32>.self).lowHalf
        return unsafeBitCast(v, to: Bytes.self)
    }

    /// 32-bit lanes `a2 b2 a3 b3` (PUNPCKHDQ).
    @inline(__always)
    static func interleaveHigh32(_ a: Bytes, _ b: Bytes) -> Bytes {
        var v = SIMD4<UInt32>()
        v.evenHalf = unsafeBitCast(a, to: SIMD4<UInt32>.self).highHalf
        v.oddHalf = unsafeBitCast(b, to: SIMD4<UInt32>.self).highHalf
        return unsafeBitCast(v, to: Bytes.self)
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
