import CBrineKernels
import CXXHash

/// XXH3-64 (seed 0): the checksum of every chunk's stored bytes, of the
/// header and of the trailer (docs/FORMAT.md, "Checksums").
/// Spec: https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md
///
/// On a CPU with AVX2 (the kernels' selected path, `BRINE_KERNELS`) the hash runs
/// xxHash's AVX2 loop compiled into CBrineKernels (about 2.5× the SSE2 loop
/// of the distribution's libxxhash on data in cache); elsewhere, or with
/// `BRINE_KERNELS=portable`, it calls libxxhash. Both give the same value.
public enum Checksum {
    /// The XXH3-64 hash with seed 0 of `bytes`.
    public static func xxh3(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        xxh3(bytes, path: path)
    }

    /// The XXH3-64 hash with seed 0 of a byte array.
    public static func xxh3(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { xxh3($0) }
    }

    /// The XXH3-64 hash with seed 0 of `bytes`, computed by the given tier:
    /// `.avx2` runs the CBrineKernels AVX2 loop (the caller checks
    /// ``isSupported(_:)``), `.scalar` and `.portable` call libxxhash.
    package static func xxh3(_ bytes: UnsafeRawBufferPointer, path: KernelPath) -> UInt64 {
        switch path {
        case .avx2: return brine_xxh3_64_avx2(bytes.baseAddress, bytes.count)
        case .scalar, .portable: return XXH3_64bits(bytes.baseAddress, bytes.count)
        }
    }

    /// Whether `path` can compute checksums here: `.avx2` needs an AVX2 CPU
    /// and the AVX2 loop compiled in (clang found xxhash.h).
    package static func isSupported(_ path: KernelPath) -> Bool {
        path != .avx2 || (Kernels.isSupported(.avx2) && brine_xxh3_avx2_available() != 0)
    }

    /// The tier ``xxh3(_:)-(UnsafeRawBufferPointer)`` uses: ``Kernels/selected``,
    /// or libxxhash when that tier cannot compute checksums here.
    package static let path: KernelPath = isSupported(Kernels.selected) ? Kernels.selected : .portable
}
