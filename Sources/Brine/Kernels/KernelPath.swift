import CBrineKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An implementation tier of Brine's hot loops: byte shuffle and unshuffle
/// (``ByteShuffle``), float32 ↔ float16/bfloat16 conversion
/// (``FloatConversion``) and byte swapping (``ByteSwap``).
///
/// Every tier computes bit-identical results; they differ only in speed and
/// in the CPUs they run on. Kernels without a faster form for some input
/// (for example a shuffle with an element size other than 2, 4 or 8) fall
/// back to the scalar loop inside any tier.
package enum KernelPath: Int, CaseIterable, Comparable, Sendable, CustomStringConvertible {
    /// Plain loops, one element at a time: the reference definition.
    case scalar = 0
    /// Swift SIMD vectors (`SIMD16/32/64`): SSE2 on any x86_64, NEON on arm64.
    case portable = 1
    /// The AVX2 kernels of the CBrineKernels target (F16C too for float16);
    /// x86_64 CPUs that report AVX2 only.
    case avx2 = 2

    package static func < (a: KernelPath, b: KernelPath) -> Bool { a.rawValue < b.rawValue }

    /// `"scalar"`, `"portable"`, `"avx2"`.
    package var description: String {
        switch self {
        case .scalar: return "scalar"
        case .portable: return "portable"
        case .avx2: return "avx2"
        }
    }

    init?(name: String) {
        guard let path = KernelPath.allCases.first(where: { $0.description == name }) else { return nil }
        self = path
    }
}

/// Run-time selection of the ``KernelPath`` (probed once per process).
///
/// The CPU is asked once, through `__builtin_cpu_supports` in
/// CBrineKernels (`brine_cpu_features`), and the answer is cached in the
/// `static let`s below; each kernel call is then one switch on ``selected``.
/// Tests and benchmarks call the `path:` overloads of the kernels to run a
/// given tier; the environment variable `BRINE_KERNELS` (`scalar`,
/// `portable` or `avx2`, like NumPy's `NPY_DISABLE_CPU_FEATURES`) caps the
/// default tier for a whole process, for example to run the test suite on
/// the portable path. A cap above what the CPU supports has no effect.
package enum Kernels {
    /// The CPU's `BRINE_CPU_*` feature bits.
    static let cpuFeatures: UInt32 = UInt32(brine_cpu_features())

    /// Whether the probe was compiled out (`-Xcc -DBRINE_NO_AVX2`), so
    /// that only the scalar and portable paths run even on an AVX2 CPU.
    static var probeDisabled: Bool { BRINE_CPU_PROBE_DISABLED != 0 }

    /// Whether the CPU has AVX2 (and the OS enables it).
    static var hasAVX2: Bool { cpuFeatures & UInt32(BRINE_CPU_AVX2) != 0 }

    /// Whether the CPU has F16C, needed by the AVX2 float16 conversions.
    static var hasF16C: Bool { cpuFeatures & UInt32(BRINE_CPU_F16C) != 0 }

    /// Whether this CPU can run `path`.
    package static func isSupported(_ path: KernelPath) -> Bool {
        switch path {
        case .scalar, .portable: return true
        case .avx2: return hasAVX2
        }
    }

    /// The tiers this CPU can run, slowest first.
    package static var supportedPaths: [KernelPath] { KernelPath.allCases.filter(isSupported) }

    /// The fastest tier this CPU supports.
    static var fastest: KernelPath { supportedPaths.last! }

    /// The tier the kernels use by default: ``fastest``, capped by
    /// `BRINE_KERNELS` when that names a tier.
    package static let selected: KernelPath = {
        let raw = getenv("BRINE_KERNELS")
        return selection(cap: raw.map { String(cString: $0) }, fastest: fastest)
    }()

    /// `fastest`, or the tier `cap` names if that is slower; an absent or
    /// unknown name leaves `fastest`.
    static func selection(cap: String?, fastest: KernelPath) -> KernelPath {
        guard let cap, let path = KernelPath(name: cap) else { return fastest }
        return min(path, fastest)
    }
}

extension Kernels {
    /// Runs one per-element kernel over `count` elements of `elementSize`
    /// bytes on `path`: the one tier dispatch shared by shuffle, unshuffle
    /// and byte swap. Element sizes 2, 4 and 8 go to the vector tier of
    /// `path` (`portable` returns how many leading elements it did; `avx2`
    /// does them all and exists only on x86); the scalar definition does the
    /// rest (`scalar(from)`: elements `from ..< count`), and every element on
    /// the scalar path or for other sizes.
    @inline(__always)
    static func forEachTier(
        count: Int, elementSize k: Int, path: KernelPath,
        portable: () -> Int, avx2: () -> Void, scalar: (_ from: Int) -> Void
    ) {
        var done = 0
        if k == 2 || k == 4 || k == 8 {
            switch path {
            case .scalar:
                break
            case .portable:
                done = portable()
            case .avx2:
                #if arch(x86_64) || arch(i386)
                avx2()
                done = count
                #else
                preconditionFailure("AVX2 kernels exist only on x86")
                #endif
            }
        }
        if done < count { scalar(done) }
    }
}
