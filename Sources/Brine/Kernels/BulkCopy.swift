import CBrineKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bulk copies of array bytes, such as an array copied out of a mapping
/// into storage a tensor owns.
///
/// Below ``streamingThreshold`` this is `memcpy`. At or above it, on
/// x86_64, the copy uses non-temporal stores (`brine_copy_streaming`,
/// SSE2 MOVNTDQ + SFENCE): measured on the development machine (AMD EPYC,
/// 32 MiB L3, glibc 2.36, whose `memcpy` switches to non-temporal stores
/// only above 192 MiB there because the VM reports a 256 MiB L3), streaming
/// copies of 16–128 MiB ran 1.1–2.5× faster than `memcpy`, and 1.1–1.5×
/// faster when the destination is read right after; below about 8 MiB
/// `memcpy` wins because it leaves the destination in the cache. Where the
/// C library already streams large copies, both are the same speed.
package enum BulkCopy {
    /// The copy size in bytes from which ``copy(_:to:)`` streams (16 MiB,
    /// half of a typical server L3).
    static let streamingThreshold = 16 << 20

    /// Copies `src` to `dst` (`src.count` bytes, non-overlapping, any
    /// alignment), streaming when `src.count >= streamingThreshold`.
    static func copy(_ src: UnsafeRawBufferPointer, to dst: UnsafeMutableRawPointer) {
        copy(src, to: dst, streaming: src.count >= streamingThreshold)
    }

    /// Copies `src` to `dst` with (`streaming: true`, x86_64 only; `memcpy`
    /// elsewhere) or without non-temporal stores. A caller that copies a
    /// large array piece by piece passes `streaming: total >= streamingThreshold`.
    package static func copy(_ src: UnsafeRawBufferPointer, to dst: UnsafeMutableRawPointer, streaming: Bool) {
        guard let s = src.baseAddress, src.count > 0 else { return }
        #if arch(x86_64)
        if streaming {
            brine_copy_streaming(dst, s, src.count)
            return
        }
        #endif
        memcpy(dst, s, src.count)
    }
}
