import Brine
import BrineTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Micro-benchmarks of Brine's SIMD kernels on every kernel path this CPU
/// supports, next to `memcpy` of the same size, for the `Benchmarks`
/// executable (`swift run -c release Benchmarks`).
/// It reaches the kernels' internal entry points through `package` access.
enum KernelBenchmarks {
    /// The timing of one kernel on one path.
    struct Result: Sendable, Hashable, CustomStringConvertible {
        /// The kernel and its variant: `"memcpy"`, `"copy streaming"`
        /// (``BulkCopy`` with non-temporal stores, x86_64), `"shuffle k=4"`,
        /// `"unshuffle k=8"`, `"narrow float32→bfloat16"`,
        /// `"widen float16→float32"`, `"byteswap k=8"`.
        var kernel: String
        /// The implementation: `"scalar"`, `"portable"` (Swift SIMD),
        /// `"avx2"` (AVX2, with F16C for float16), `"libc"` for memcpy, or
        /// `"sse2"` for the streaming copy.
        var path: String
        /// The bytes one run processes: the buffer size for copies,
        /// shuffles and byte swaps; the float32 side for conversions
        /// (the raw array bytes). Inputs and outputs are each this size or
        /// (for the 2-byte side of a conversion) half of it.
        var bytes: Int
        /// The median wall-clock time of one run, in seconds.
        var medianSeconds: Double

        /// `bytes / medianSeconds`, in gigabytes (10^9 bytes) per second.
        var gigabytesPerSecond: Double { medianSeconds > 0 ? Double(bytes) / medianSeconds / 1e9 : 0 }

        /// One table row: kernel, path, GB/s.
        var description: String {
            let gbs = (gigabytesPerSecond * 100).rounded() / 100
            return "\(kernel) [\(path)] \(gbs) GB/s"
        }
    }

    /// The kernel paths this CPU supports, slowest first (`"scalar"`,
    /// `"portable"`, and `"avx2"` when the CPU has AVX2).
    static var supportedPaths: [String] { Kernels.supportedPaths.map(\.description) }

    /// The path Brine uses by default in this process (the fastest
    /// supported one unless the `BRINE_KERNELS` environment variable caps it).
    static var selectedPath: String { Kernels.selected.description }

    /// Times every kernel on each requested path, plus `memcpy`, over
    /// buffers of `bytes` bytes (64-byte aligned, filled with float32
    /// values in -1...1 so conversions see realistic data).
    ///
    /// Each measurement is one warm-up run (which also faults the pages in)
    /// followed by `repetitions` timed runs; the median is reported.
    /// Sizes that fit the caches (1–4 MiB, Brine's chunk sizes) measure the
    /// kernels; sizes well above the last-level cache (64 MiB) measure
    /// memory bandwidth.
    /// - Parameters:
    ///   - bytes: the buffer size in bytes; rounded down to a multiple of 64, at least 64.
    ///   - repetitions: timed runs per kernel and path (at least 1).
    ///   - paths: the paths to time (names from ``supportedPaths``);
    ///     `nil` times all of them. Unknown or unsupported names are skipped.
    /// - Returns: one ``Result`` per kernel and path, `memcpy` first (then,
    ///   on x86_64, the streaming copy).
    static func run(bytes: Int = 64 << 20, repetitions: Int = 7, paths: [String]? = nil) -> [Result] {
        let size = max(64, bytes & ~63)
        let reps = max(1, repetitions)
        let chosen = Kernels.supportedPaths.filter { paths?.contains($0.description) ?? true }

        let src = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        defer {
            src.deallocate()
            dst.deallocate()
        }
        var rng = SplitMix64(seed: 0x5EED)
        for i in 0 ..< size / 4 {
            src.storeBytes(of: Float.random(in: -1 ... 1, using: &rng), toByteOffset: i * 4, as: Float.self)
        }
        memset(dst, 0, size)

        let input = UnsafeRawBufferPointer(start: src, count: size)
        let output = UnsafeMutableRawBufferPointer(start: dst, count: size)
        let floats = size / 4
        var results: [Result] = []

        func measure(_ kernel: String, _ path: String, _ body: () -> Void) {
            body()
            var times: [Double] = []
            for _ in 0 ..< reps {
                let start = monotonicSeconds()
                body()
                let elapsed = monotonicSeconds() - start
                blackHole(dst)
                times.append(elapsed)
            }
            times.sort()
            results.append(Result(kernel: kernel, path: path, bytes: size, medianSeconds: times[times.count / 2]))
        }

        measure("memcpy", "libc") { _ = memcpy(dst, src, size) }
        #if arch(x86_64)
        measure("copy streaming", "sse2") { BulkCopy.copy(input, to: dst, streaming: true) }
        #endif
        for k in [2, 4, 8] {
            for path in chosen {
                measure("shuffle k=\(k)", path.description) { ByteShuffle.shuffle(input, into: output, elementSize: k, path: path) }
            }
            for path in chosen {
                measure("unshuffle k=\(k)", path.description) { ByteShuffle.unshuffle(input, into: output, elementSize: k, path: path) }
            }
        }
        for stored in [DType.bfloat16, .float16] {
            for path in chosen {
                measure("narrow float32→\(stored)", path.description) {
                    FloatConversion.narrow(src, to: dst, count: floats, stored: stored, path: path)
                }
            }
        }
        // Widening reads float16/bfloat16 values: narrow the source once
        // (scalar path) so the inputs are real numbers.
        let narrowed = UnsafeMutableRawPointer.allocate(byteCount: size / 2, alignment: 64)
        defer { narrowed.deallocate() }
        for stored in [DType.bfloat16, .float16] {
            FloatConversion.narrow(src, to: narrowed, count: floats, stored: stored, path: .scalar)
            for path in chosen {
                measure("widen \(stored)→float32", path.description) {
                    FloatConversion.widen(narrowed, stored: stored, to: dst, count: floats, path: path)
                }
            }
        }
        for k in [2, 4, 8] {
            for path in chosen {
                measure("byteswap k=\(k)", path.description) { ByteSwap.swap(input, into: output, elementSize: k, path: path) }
            }
        }
        return results
    }
}

/// `CLOCK_MONOTONIC` in seconds (ContinuousClock needs macOS 13).
private func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// Keeps benchmark results observable so the optimizer cannot drop the work.
@inline(never)
private func blackHole(_ pointer: UnsafeMutableRawPointer) {
    _ = pointer.load(as: UInt8.self)
}
