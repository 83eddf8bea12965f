import CXXHash
import Testing
@testable import Brine
import BrineTestSupport

/// The checksum tiers (libxxhash's XXH3, and xxHash's AVX2 loop compiled
/// into CBrineKernels) against libxxhash, over every XXH3 length class:
/// 0, 1–3, 4–8, 9–16, 17–128, 129–240 and the long loop (64-byte stripes,
/// 1024-byte blocks, a partial last stripe), at every start misalignment
/// 0–7, and the specification's value for the empty input.
@Suite("XXH3 checksum tiers")
struct ChecksumTierTests {
    static let paths = KernelPath.allCases.filter(Checksum.isSupported)

    static let lengths: [Int] = Array(0 ... 300)
        + [511, 512, 513, 1023, 1024, 1025, 1087, 1088, 1089, 4095, 4096, 4097, 65_599, (1 << 20) - 1, 1 << 20, (1 << 20) + 61]

    /// Random bytes, with room for a misaligned start.
    static let bytes: [UInt8] = {
        var rng = SplitMix64(seed: 12)
        return (0 ..< (1 << 20) + 72).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }()

    @Test("every tier equals libxxhash for every length class and misalignment", arguments: paths)
    func tierEqualsLibrary(path: KernelPath) {
        Self.bytes.withUnsafeBytes { all in
            for shift in 0 ..< 8 {
                for n in Self.lengths {
                    let b = UnsafeRawBufferPointer(rebasing: all[shift ..< shift + n])
                    let expected = XXH3_64bits(b.baseAddress, b.count)
                    #expect(Checksum.xxh3(b, path: path) == expected, "length \(n), shift \(shift) on \(path)")
                }
            }
        }
    }

    @Test("the empty input hashes to the specification's value on every tier", arguments: paths)
    func emptyInput(path: KernelPath) {
        #expect(Checksum.xxh3(UnsafeRawBufferPointer(start: nil, count: 0), path: path) == 0x2D06_8005_38D3_94C2)
    }

    @Test("the default tier is AVX2 wherever it can run, unless BRINE_KERNELS caps it")
    func defaultTier() {
        #if arch(x86_64) && os(Linux)
        // Built with clang against Debian's xxhash.h: the AVX2 loop is in.
        #expect(Checksum.isSupported(.avx2) == Kernels.isSupported(.avx2))
        #endif
        #expect(Checksum.path == (Kernels.selected == .avx2 && Checksum.isSupported(.avx2) ? .avx2 : .portable))
    }
}
