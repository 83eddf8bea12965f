import CBrineKernels

/// Bulk element conversions used when a float32 array is stored narrowed to
/// float16 or bfloat16 (opt-in, lossy) and widened back on load.
///
/// The definition, the same on every ``KernelPath``:
/// - float32 → float16 and → bfloat16 round to nearest, ties to even;
///   ±infinity stays ±infinity; values beyond float16's range become
///   ±infinity; subnormal results are kept (no flush to zero).
/// - NaN stays NaN with its sign: bfloat16 keeps the top 7 payload bits and
///   sets the quiet bit (`0x0040`, see ``BFloat16/init(_:)``); float16 keeps
///   the top 9 payload bits and sets the quiet bit (`0x0200`), as IEEE 754
///   hardware and Swift's `Float16(_: Float)` do.
/// - Widening is exact; a float16 signalling NaN comes back quiet (quiet bit
///   `0x0040_0000` set, payload kept), as x86 F16C and Swift's
///   `Float(_: Float16)` on Linux (libgcc) do. bfloat16 widening is the bit
///   shift, so a bfloat16 signalling NaN stays signalling.
package enum FloatConversion {
    /// Converts `count` float32 values at `src` to `stored` (float16 or
    /// bfloat16) at `dst`, with the process's selected kernel path.
    static func narrow(_ src: UnsafeRawPointer, to dst: UnsafeMutableRawPointer, count: Int, stored: DType) {
        narrow(src, to: dst, count: count, stored: stored, path: Kernels.selected)
    }

    /// Converts `count` float16 or bfloat16 values at `src` to float32 at `dst` (exact).
    static func widen(_ src: UnsafeRawPointer, stored: DType, to dst: UnsafeMutableRawPointer, count: Int) {
        widen(src, stored: stored, to: dst, count: count, path: Kernels.selected)
    }

    /// ``narrow(_:to:count:stored:)`` on a given path, which must be
    /// supported by this CPU. Neither pointer needs any alignment.
    package static func narrow(_ src: UnsafeRawPointer, to dst: UnsafeMutableRawPointer, count: Int, stored: DType, path: KernelPath) {
        switch stored {
        case .float16: run(Narrowing<Float16Bits>.self, src, to: dst, count: count, path: path)
        case .bfloat16: run(Narrowing<BFloat16Bits>.self, src, to: dst, count: count, path: path)
        default: preconditionFailure("narrowing to \(stored) is not supported")
        }
    }

    /// ``widen(_:stored:to:count:)`` on a given path, which must be
    /// supported by this CPU. Neither pointer needs any alignment.
    package static func widen(_ src: UnsafeRawPointer, stored: DType, to dst: UnsafeMutableRawPointer, count: Int, path: KernelPath) {
        switch stored {
        case .float16: run(Widening<Float16Bits>.self, src, to: dst, count: count, path: path)
        case .bfloat16: run(Widening<BFloat16Bits>.self, src, to: dst, count: count, path: path)
        default: preconditionFailure("widening from \(stored) is not supported")
        }
    }

    /// A whole-array conversion kernel: `count` values from `src` to `dst`.
    typealias Kernel = (_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ count: Int) -> Void

    /// The one tier dispatch of every conversion: the scalar definition one
    /// value at a time, the portable kernel, or the AVX2 kernel (the
    /// portable one where the CPU lacks a feature it needs).
    @inline(__always)
    private static func run<C: ConversionTiers>(
        _: C.Type, _ src: UnsafeRawPointer, to dst: UnsafeMutableRawPointer, count: Int, path: KernelPath
    ) {
        precondition(count >= 0 && Kernels.isSupported(path))
        switch path {
        case .scalar:
            let inStride = MemoryLayout<C.Source>.size, outStride = MemoryLayout<C.Target>.size
            for i in 0 ..< count {
                let x = src.loadUnaligned(fromByteOffset: i &* inStride, as: C.Source.self)
                dst.storeBytes(of: C.scalar(x), toByteOffset: i &* outStride, as: C.Target.self)
            }
        case .portable:
            portableConvert(C.self, src, to: dst, count: count)
        case .avx2:
            #if arch(x86_64) || arch(i386)
            if let kernel = C.avx2 { kernel(src, dst, count) } else { portableConvert(C.self, src, to: dst, count: count) }
            #else
            preconditionFailure("AVX2 kernels exist only on x86")
            #endif
        }
    }
}

/// One direction of one conversion on every ``KernelPath``, for
/// ``FloatConversion``'s single tier dispatch.
protocol ConversionTiers {
    /// The input element (the bits of one float32 or one 2-byte value).
    associatedtype Source: SIMDScalar & BitwiseCopyable
    /// The output element.
    associatedtype Target: SIMDScalar & BitwiseCopyable
    /// The scalar definition, one value.
    static func scalar(_ x: Source) -> Target
    /// The same on 8 lanes, for the portable kernel
    /// (``FloatConversion/portableConvert(_:_:to:count:)``).
    static func vector(_ x: SIMD8<Source>) -> SIMD8<Target>
    /// The AVX2 kernel, or nil where the CPU lacks a feature it needs (F16C).
    static var avx2: FloatConversion.Kernel? { get }
}

/// A 2-byte floating-point storage format: its conversions from and to
/// float32 as the scalar definition, as 4-lane integer vector arithmetic
/// for the portable kernels, and as the AVX2 kernels of CBrineKernels.
protocol HalfFloatFormat {
    /// float32 → the stored bits (the definition above).
    static func narrow(_ x: Float) -> UInt16
    /// The stored bits → float32 bits (exact).
    static func widen(_ h: UInt16) -> UInt32
    /// ``narrow(_:)`` of the float32 bits in `a ‖ b`, 8 lanes.
    static func narrow(_ a: SIMD4<UInt32>, _ b: SIMD4<UInt32>) -> SIMD8<UInt16>
    /// ``widen(_:)`` of the 16-bit values in the 4 lanes of `h`.
    static func widen(_ h: SIMD4<UInt32>) -> SIMD4<UInt32>
    /// The AVX2 kernels, or nil where the CPU cannot run them.
    static var avx2Narrow: FloatConversion.Kernel? { get }
    static var avx2Widen: FloatConversion.Kernel? { get }
}

/// float32 → `Format` on every tier.
enum Narrowing<Format: HalfFloatFormat>: ConversionTiers {
    @inline(__always) static func scalar(_ x: UInt32) -> UInt16 { Format.narrow(Float(bitPattern: x)) }
    @inline(__always) static func vector(_ x: SIMD8<UInt32>) -> SIMD8<UInt16> { Format.narrow(x.lowHalf, x.highHalf) }
    static var avx2: FloatConversion.Kernel? { Format.avx2Narrow }
}

/// `Format` → float32 on every tier.
enum Widening<Format: HalfFloatFormat>: ConversionTiers {
    @inline(__always) static func scalar(_ h: UInt16) -> UInt32 { Format.widen(h) }
    @inline(__always) static func vector(_ h: SIMD8<UInt16>) -> SIMD8<UInt32> {
        SIMD8(lowHalf: Format.widen(SIMD4(truncatingIfNeeded: h.lowHalf)), highHalf: Format.widen(SIMD4(truncatingIfNeeded: h.highHalf)))
    }
    static var avx2: FloatConversion.Kernel? { Format.avx2Widen }
}

/// IEEE 754 binary16: Swift's `Float16` conversions; AVX2 kernels need F16C.
enum Float16Bits: HalfFloatFormat {
    @inline(__always) static func narrow(_ x: Float) -> UInt16 { Float16(x).bitPattern }
    @inline(__always) static func widen(_ h: UInt16) -> UInt32 { Float(Float16(bitPattern: h)).bitPattern }
    @inline(__always) static func narrow(_ a: SIMD4<UInt32>, _ b: SIMD4<UInt32>) -> SIMD8<UInt16> {
        PortableSIMD.packLowHalves(FloatConversion.roundToFloat16(a), FloatConversion.roundToFloat16(b))
    }
    @inline(__always) static func widen(_ h: SIMD4<UInt32>) -> SIMD4<UInt32> { FloatConversion.expandFloat16(h) }
    #if arch(x86_64) || arch(i386)
    static var avx2Narrow: FloatConversion.Kernel? { Kernels.hasF16C ? { brine_narrow_float16_f16c($0, $1, $2) } : nil }
    static var avx2Widen: FloatConversion.Kernel? { Kernels.hasF16C ? { brine_widen_float16_f16c($0, $1, $2) } : nil }
    #else
    static var avx2Narrow: FloatConversion.Kernel? { nil }
    static var avx2Widen: FloatConversion.Kernel? { nil }
    #endif
}

/// bfloat16 (the top half of a float32): ``BFloat16/init(_:)`` and the bit shift back.
enum BFloat16Bits: HalfFloatFormat {
    @inline(__always) static func narrow(_ x: Float) -> UInt16 { BFloat16(x).bitPattern }
    @inline(__always) static func widen(_ h: UInt16) -> UInt32 { UInt32(h) << 16 }
    @inline(__always) static func narrow(_ a: SIMD4<UInt32>, _ b: SIMD4<UInt32>) -> SIMD8<UInt16> {
        PortableSIMD.packHighHalves(FloatConversion.roundToBFloat16(a), FloatConversion.roundToBFloat16(b))
    }
    @inline(__always) static func widen(_ h: SIMD4<UInt32>) -> SIMD4<UInt32> { h &<< 16 }
    #if arch(x86_64) || arch(i386)
    static var avx2Narrow: FloatConversion.Kernel? { { brine_narrow_bfloat16_avx2($0, $1, $2) } }
    static var avx2Widen: FloatConversion.Kernel? { { brine_widen_bfloat16_avx2($0, $1, $2) } }
    #else
    static var avx2Narrow: FloatConversion.Kernel? { nil }
    static var avx2Widen: FloatConversion.Kernel? { nil }
    #endif
}
