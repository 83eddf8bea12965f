import Testing
@testable import Brine
import BrineTestSupport

/// Every tier against its own scalar tier, for every element width 1 … 17
/// (the widths with vector kernels, 2, 4 and 8, and every width that falls
/// back to the scalar loop inside a vector tier), for element counts around
/// the 16-element portable step and the 32-element AVX2 step, with trailing
/// bytes. KernelTests checks the scalar tier itself against the format's
/// definition; this pins the tiers to it directly, so a generic or
/// table-driven kernel cannot route one width to the wrong code.
@Suite("SIMD kernel tiers against the scalar tier")
struct KernelTierTests {
    static let widths = Array(1 ... 17)
    static let vectorPaths = Kernels.supportedPaths.filter { $0 != .scalar }

    /// Random bytes: `elements` elements of `k` bytes and `k - 1` trailing bytes.
    private static func input(elements: Int, elementSize k: Int) -> [UInt8] {
        var rng = SplitMix64(seed: UInt64(elements &* 131 &+ k))
        return (0 ..< elements * k + max(0, k - 1)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    private static let elementCounts = [0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 49, 64, 95, 96, 97, 257]

    /// `kernel(src, dst, path)` on `path` and on the scalar tier, over the same input.
    private static func outputs(
        _ bytes: [UInt8], path: KernelPath,
        _ kernel: (UnsafeRawBufferPointer, UnsafeMutableRawBufferPointer, KernelPath) -> Void
    ) -> (tier: [UInt8], scalar: [UInt8]) {
        var tier = [UInt8](repeating: 0xEE, count: bytes.count)
        var scalar = [UInt8](repeating: 0x11, count: bytes.count)
        bytes.withUnsafeBytes { src in
            tier.withUnsafeMutableBytes { kernel(src, $0, path) }
            scalar.withUnsafeMutableBytes { kernel(src, $0, .scalar) }
        }
        return (tier, scalar)
    }

    /// The first byte index (below `bytes`, default all) where the tier's
    /// output differs from the scalar tier's, or nil; keeps failure messages short.
    private static func firstDifference(_ o: (tier: [UInt8], scalar: [UInt8]), bytes: Int? = nil) -> Int? {
        (0 ..< (bytes ?? o.tier.count)).first { o.tier[$0] != o.scalar[$0] }
    }

    @Test("shuffle, unshuffle and byte swap: every tier equals the scalar tier", arguments: vectorPaths, widths)
    func byteKernels(path: KernelPath, elementSize k: Int) {
        for elements in Self.elementCounts {
            let bytes = Self.input(elements: elements, elementSize: k)
            let shuffled = Self.outputs(bytes, path: path) { ByteShuffle.shuffle($0, into: $1, elementSize: k, path: $2) }
            #expect(Self.firstDifference(shuffled) == nil, "shuffle k=\(k) elements=\(elements) on \(path)")
            let unshuffled = Self.outputs(bytes, path: path) { ByteShuffle.unshuffle($0, into: $1, elementSize: k, path: $2) }
            #expect(Self.firstDifference(unshuffled) == nil, "unshuffle k=\(k) elements=\(elements) on \(path)")
            let swapped = Self.outputs(bytes, path: path) { ByteSwap.swap($0, into: $1, elementSize: k, path: $2) }
            #expect(Self.firstDifference(swapped) == nil, "byte swap k=\(k) elements=\(elements) on \(path)")
            // The scalar tier is itself a permutation that changes something
            // whenever there are two distinct bytes to move.
            if k > 1 && elements > 1 { #expect(shuffled.scalar != bytes || bytes.allSatisfy { $0 == bytes[0] }) }
        }
    }

    @Test("narrow and widen: every tier equals the scalar tier on random bit patterns", arguments: vectorPaths, [DType.float16, .bfloat16])
    func conversions(path: KernelPath, stored: DType) {
        for count in Self.elementCounts {
            // Random float32 patterns: 4 bytes per value, 2-byte side half of it.
            let wide = Self.input(elements: count, elementSize: 4)
            let narrowed = Self.outputs(wide, path: path) { src, dst, path in
                FloatConversion.narrow(src.baseAddress!, to: dst.baseAddress!, count: count, stored: stored, path: path)
            }
            #expect(Self.firstDifference(narrowed, bytes: count * 2) == nil, "narrow to \(stored), \(count) values on \(path)")
            let widened = Self.outputs(wide, path: path) { src, dst, path in
                FloatConversion.widen(src.baseAddress!, stored: stored, to: dst.baseAddress!, count: count / 2, path: path)
            }
            #expect(Self.firstDifference(widened, bytes: count / 2 * 4) == nil, "widen from \(stored), \(count / 2) values on \(path)")
        }
    }
}
