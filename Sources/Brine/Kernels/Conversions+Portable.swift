/// The portable float conversions: 128-bit Swift SIMD integer arithmetic
/// (SSE2 on any x86_64, NEON on arm64), 8 values per step; the last
/// `count % 8` values go through the same vector code in zero-padded
/// registers; one loop serves both directions and both formats, the
/// arithmetic below differs. Bit for bit the definition of
/// ``FloatConversion``, including NaN payloads and subnormals. Offsets wrap
/// (`&*`, `&+`) because they stay below the caller's buffer sizes.
extension FloatConversion {
    /// One conversion (``Narrowing`` or ``Widening``), 8 values per step
    /// in two 128-bit vectors of 32-bit lanes and one of 16-bit lanes; the
    /// last `count % 8` values in zero-padded lanes.
    @inline(__always)
    static func portableConvert<C: ConversionTiers>(
        _: C.Type, _ src: UnsafeRawPointer, to dst: UnsafeMutableRawPointer, count: Int
    ) {
        let inSize = MemoryLayout<C.Source>.size, outSize = MemoryLayout<C.Target>.size
        var i = 0
        while count &- i >= 8 {
            let x = src.loadUnaligned(fromByteOffset: i &* inSize, as: SIMD8<C.Source>.self)
            dst.storeBytes(of: C.vector(x), toByteOffset: i &* outSize, as: SIMD8<C.Target>.self)
            i &+= 8
        }
        if i < count {
            var x = SIMD8<C.Source>()
            for j in 0 ..< count &- i { x[j] = src.loadUnaligned(fromByteOffset: (i &+ j) &* inSize, as: C.Source.self) }
            let y = C.vector(x)
            for j in 0 ..< count &- i { dst.storeBytes(of: y[j], toByteOffset: (i &+ j) &* outSize, as: C.Target.self) }
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
