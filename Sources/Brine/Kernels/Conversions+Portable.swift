/// The portable float conversions: 128-bit Swift SIMD integer arithmetic
/// (SSE2 on any x86_64, NEON on arm64), 8 values per step; the last
/// `count % 8` values go through the same vector code in zero-padded
/// registers. Bit for bit the definition of ``FloatConversion``, including
/// NaN payloads and subnormals. Offsets wrap (`&*`, `&+`) because they stay
/// below the caller's buffer sizes.
extension FloatConversion {
    static func portableNarrowBFloat16(_ src: UnsafeRawPointer, to dst: UnsafeMutableRawPointer, count: Int) {
        var i = 0
        while count &- i >= 8 {
            let a = src.loadUnaligned(fromByteOffset: i &* 4, as: SIMD4<UInt32>.self)
            let b = src.loadUnaligned(fromByteOffset: i &* 4 &+ 16, as: SIMD4<UInt32>.self)
            let h = PortableSIMD.packHighHalves(roundToBFloat16(a), roundToBFloat16(b))
            dst.storeBytes(of: h, toByteOffset: i &* 2, as: SIMD8<UInt16>.self)
            i &+= 8
        }
        if i < count {
            var x = Float32x8()
            x.load(src + i &* 4, count: count &- i)
            let h = PortableSIMD.packHighHalves(roundToBFloat16(x.a), roundToBFloat16(x.b))
            Float32x8.store(h, to: dst + i &* 2, count: count &- i)
        }
    }

    static func portableNarrowFloat16(_ src: UnsafeRawPointer, to dst: UnsafeMutableRawPointer, count: Int) {
        var i = 0
        while count &- i >= 8 {
            let a = src.loadUnaligned(fromByteOffset: i &* 4, as: SIMD4<UInt32>.self)
            let b = src.loadUnaligned(fromByteOffset: i &* 4 &+ 16, as: SIMD4<UInt32>.self)
            let h = PortableSIMD.packLowHalves(roundToFloat16(a), roundToFloat16(b))
            dst.storeBytes(of: h, toByteOffset: i &* 2, as: SIMD8<UInt16>.self)
            i &+= 8
        }
        if i < count {
            var x = Float32x8()
            x.load(src + i &* 4, count: count &- i)
            let h = PortableSIMD.packLowHalves(roundToFloat16(x.a), roundToFloat16(x.b))
            Float32x8.store(h, to: dst + i &* 2, count: count &- i)
        }
    }

    static func portableWidenBFloat16(_ src: UnsafeRawPointer, to dst: UnsafeMutableRawPointer, count: Int) {
        var i = 0
        while count &- i >= 8 {
            let h = src.loadUnaligned(fromByteOffset: i &* 2, as: SIMD8<UInt16>.self)
            dst.storeBytes(of: SIMD4<UInt32>(truncatingIfNeeded: h.lowHalf) &<< 16, toByteOffset: i &* 4, as: SIMD4<UInt32>.self)
            dst.storeBytes(of: SIMD4<UInt32>(truncatingIfNeeded: h.highHalf) &<< 16, toByteOffset: i &* 4 &+ 16, as: SIMD4<UInt32>.self)
            i &+= 8
        }
        if i < count {
            let h = Float32x8.load16(src + i &* 2, count: count &- i)
            let x = Float32x8(a: SIMD4(truncatingIfNeeded: h.lowHalf) &<< 16, b: SIMD4(truncatingIfNeeded: h.highHalf) &<< 16)
            x.store(to: dst + i &* 4, count: count &- i)
        }
    }

    static func portableWidenFloat16(_ src: UnsafeRawPointer, to dst: UnsafeMutableRawPointer, count: Int) {
        var i = 0
        while count &- i >= 8 {
            let h = src.loadUnaligned(fromByteOffset: i &* 2, as: SIMD8<UInt16>.self)
            dst.storeBytes(of: expandFloat16(SIMD4(truncatingIfNeeded: h.lowHalf)), toByteOffset: i &* 4, as: SIMD4<UInt32>.self)
            dst.storeBytes(of: expandFloat16(SIMD4(truncatingIfNeeded: h.highHalf)), toByteOffset: i &* 4 &+ 16, as: SIMD4<UInt32>.self)
            i &+= 8
        }
        if i < count {
            let h = Float32x8.load16(src + i &* 2, count: count &- i)
            let x = Float32x8(a: expandFloat16(SIMD4(truncatingIfNeeded: h.lowHalf)), b: expandFloat16(SIMD4(truncatingIfNeeded: h.highHalf)))
            x.store(to: dst + i &* 4, count: count &- i)
        }
    }

    /// Eight 32-bit lanes in two vectors, for the last partial block
    /// (zero-padded, so the vector code runs on it unchanged).
    private struct Float32x8 {
        var a = SIMD4<UInt32>()
        var b = SIMD4<UInt32>()

        /// Loads `count` (< 8) 4-byte values; the other lanes stay zero.
        mutating func load(_ src: UnsafeRawPointer, count: Int) {
            for j in 0 ..< count {
                let v = src.loadUnaligned(fromByteOffset: j &* 4, as: UInt32.self)
                if j < 4 { a[j] = v } else { b[j &- 4] = v }
            }
        }

        /// Stores the first `count` (< 8) lanes.
        func store(to dst: UnsafeMutableRawPointer, count: Int) {
            for j in 0 ..< count {
                dst.storeBytes(of: j < 4 ? a[j] : b[j &- 4], toByteOffset: j &* 4, as: UInt32.self)
            }
        }

        /// Loads `count` (< 8) 2-byte values; the other lanes stay zero.
        static func load16(_ src: UnsafeRawPointer, count: Int) -> SIMD8<UInt16> {
            var h = SIMD8<UInt16>()
            for j in 0 ..< count { h[j] = src.loadUnaligned(fromByteOffset: j &* 2, as: UInt16.self) }
            return h
        }

        /// Stores the first `count` (< 8) lanes of `h`.
        static func store(_ h: SIMD8<UInt16>, to dst: UnsafeMutableRawPointer, count: Int) {
            for j in 0 ..< count { dst.storeBytes(of: h[j], toByteOffset: j &* 2, as: UInt16.self) }
        }
    }

    /// ``BFloat16/init(_:)`` on 4 lanes; the result is the high 16 bits of
    /// each lane: round to nearest even, or for NaN the bits with the
    /// bfloat16 quiet bit set.
    @inline(__always)
    static func roundToBFloat16(_ x: SIMD4<UInt32>) -> SIMD4<UInt32> {
        let lsb = (x &>> 16) & 1
        let rounded = x &+ 0x7FFF &+ lsb
        return rounded.replacing(with: x | 0x0040_0000, where: (x & 0x7FFF_FFFF) .> 0x7F80_0000)
    }

    /// float32 → float16 on 4 lanes, the result in the low 16 bits: integer
    /// arithmetic plus one float addition that rounds the subnormal results
    /// (the method of F. Giesen's `float_to_half_fast3_rtne`, with the NaN
    /// rule of ``FloatConversion``).
    @inline(__always)
    static func roundToFloat16(_ x: SIMD4<UInt32>) -> SIMD4<UInt32> {
        let sign = (x &>> 16) & 0x8000
        let a = x & 0x7FFF_FFFF
        // Normal results: rebias the exponent by (15 - 127) << 23 (a wrapping
        // add of 0xC800_0000) and round the 13 dropped bits to nearest even;
        // a carry out of the mantissa bumps the exponent, up to infinity.
        let odd = (a &>> 13) & 1
        let normal = (a &+ 0xC800_0FFF &+ odd) &>> 13
        // |x| < 2^-14: adding 0.5 (whose ulp, 2^-24, is the float16 subnormal
        // step) makes the FPU round onto the subnormal grid; the low bits
        // are the result. Exact under the default rounding mode.
        let magic: UInt32 = 126 << 23
        let sum = unsafeBitCast(a, to: SIMD4<Float>.self) + SIMD4(repeating: Float(bitPattern: magic))
        let subnormal = unsafeBitCast(sum, to: SIMD4<UInt32>.self) &- magic
        var h = normal.replacing(with: subnormal, where: a .< 113 << 23)
        // |x| ≥ 65536: infinity (smaller values that round up reach 0x7C00 above).
        h.replace(with: 0x7C00, where: a .>= 143 << 23)
        // NaN: quiet, top 9 payload bits.
        h.replace(with: 0x7E00 | ((a &>> 13) & 0x01FF), where: a .> 0x7F80_0000)
        return h | sign
    }

    /// float16 → float32 bits on 4 lanes, exactly: rebias normal numbers,
    /// give infinities and NaNs the all-ones exponent (quietening NaNs), and
    /// scale subnormals with one exact float subtraction (F. Giesen's `half_to_float`).
    @inline(__always)
    static func expandFloat16(_ h: SIMD4<UInt32>) -> SIMD4<UInt32> {
        let sign = (h & 0x8000) &<< 16
        let shifted = (h & 0x7FFF) &<< 13
        let exponent = shifted & 0x0F80_0000
        var bits = shifted &+ (112 << 23)
        // Infinity or NaN: exponent 255; a NaN also gets the quiet bit.
        bits.replace(with: bits &+ (112 << 23), where: exponent .== 0x0F80_0000)
        bits.replace(with: bits | 0x0040_0000, where: shifted .> 0x0F80_0000)
        // Zero or subnormal: (2^-14 + m · 2^-24) − 2^-14, exact.
        let magic: UInt32 = 113 << 23
        let scaled = unsafeBitCast(bits &+ (1 << 23), to: SIMD4<Float>.self) - SIMD4(repeating: Float(bitPattern: magic))
        bits.replace(with: unsafeBitCast(scaled, to: SIMD4<UInt32>.self), where: exponent .== 0)
        return bits | sign
    }
}
