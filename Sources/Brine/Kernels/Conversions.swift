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
        precondition(count >= 0 && Kernels.isSupported(path))
        switch (stored, path) {
        case (.float16, .scalar):
            for i in 0 ..< count {
                let x = src.loadUnaligned(fromByteOffset: i &* 4, as: Float.self)
                dst.storeBytes(of: Float16(x).bitPattern, toByteOffset: i &* 2, as: UInt16.self)
            }
        case (.bfloat16, .scalar):
            for i in 0 ..< count {
                let x = src.loadUnaligned(fromByteOffset: i &* 4, as: Float.self)
                dst.storeBytes(of: BFloat16(x).bitPattern, toByteOffset: i &* 2, as: UInt16.self)
            }
        case (.float16, .portable):
            portableNarrowFloat16(src, to: dst, count: count)
        case (.bfloat16, .portable):
            portableNarrowBFloat16(src, to: dst, count: count)
        case (.float16, .avx2):
            #if arch(x86_64) || arch(i386)
            if Kernels.hasF16C {
                brine_narrow_float16_f16c(src, dst, count)
            } else {
                portableNarrowFloat16(src, to: dst, count: count)
            }
            #else
            preconditionFailure("AVX2 kernels exist only on x86")
            #endif
        case (.bfloat16, .avx2):
            #if arch(x86_64) || arch(i386)
            brine_narrow_bfloat16_avx2(src, dst, count)
            #else
            preconditionFailure("AVX2 kernels exist only on x86")
            #endif
        default:
            preconditionFailure("narrowing to \(stored) is not supported")
        }
    }

    /// ``widen(_:stored:to:count:)`` on a given path, which must be
    /// supported by this CPU. Neither pointer needs any alignment.
    package static func widen(_ src: UnsafeRawPointer, stored: DType, to dst: UnsafeMutableRawPointer, count: Int, path: KernelPath) {
        precondition(count >= 0 && Kernels.isSupported(path))
        switch (stored, path) {
        case (.float16, .scalar):
            for i in 0 ..< count {
                let h = Float16(bitPattern: src.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))
                dst.storeBytes(of: Float(h), toByteOffset: i &* 4, as: Float.self)
            }
        case (.bfloat16, .scalar):
            for i in 0 ..< count {
                let h = src.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self)
                dst.storeBytes(of: UInt32(h) << 16, toByteOffset: i &* 4, as: UInt32.self)
            }
        case (.float16, .portable):
            portableWidenFloat16(src, to: dst, count: count)
        case (.bfloat16, .portable):
            portableWidenBFloat16(src, to: dst, count: count)
        case (.float16, .avx2):
            #if arch(x86_64) || arch(i386)
            if Kernels.hasF16C {
                brine_widen_float16_f16c(src, dst, count)
            } else {
                portableWidenFloat16(src, to: dst, count: count)
            }
            #else
            preconditionFailure("AVX2 kernels exist only on x86")
            #endif
        case (.bfloat16, .avx2):
            #if arch(x86_64) || arch(i386)
            brine_widen_bfloat16_avx2(src, dst, count)
            #else
            preconditionFailure("AVX2 kernels exist only on x86")
            #endif
        default:
            preconditionFailure("widening from \(stored) is not supported")
        }
    }
}
