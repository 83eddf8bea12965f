import Foundation
import Testing
@testable import Brine
import BrineTestSupport

// Every kernel path this CPU supports (scalar, portable, and AVX2 here) is
// compared with simple reference definitions written out below, over many
// sizes, misaligned pointers and element sizes, with guard bytes around
// every output to catch writes out of bounds.

/// Byte counts around every vector width and tail boundary, plus one large size.
private let byteCounts = [0, 1, 2, 3, 15, 16, 17, 31, 33, 63, 64, 65, 1000, 4097, (1 << 20) + 7]

/// `byteCounts` plus sizes whose element counts sit at the block
/// boundaries of the vector loops (16 elements portable, 32 AVX2), with
/// and without trailing bytes.
private func byteCounts(elementSize k: Int) -> [Int] {
    var sizes = byteCounts
    for elements in [15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 95, 97] {
        sizes.append(elements * k)
        if k > 1 { sizes.append(elements * k + k - 1) }
    }
    return Array(Set(sizes)).sorted()
}

/// (source offset, destination offset) pairs from a 64-byte boundary; the
/// large size uses one misaligned pair to keep debug-build test time low.
private func offsets(forByteCount n: Int) -> [(Int, Int)] {
    if n > 100_000 { return [(5, 3)] }
    return [(0, 0), (1, 2), (2, 7), (3, 1), (4, 4), (5, 6), (6, 5), (7, 3)]
}

/// A buffer at a chosen misalignment with 64 guard bytes on each side.
private final class GuardedBuffer {
    static let guardSize = 64
    static let fill: UInt8 = 0xA5
    let raw: UnsafeMutableRawPointer
    let offset: Int
    let count: Int
    private var total: Int { count + 2 * Self.guardSize + 8 }

    init(count: Int, offset: Int) {
        self.count = count
        self.offset = offset
        raw = .allocate(byteCount: count + 2 * Self.guardSize + 8, alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: Self.fill, count: total)
    }

    convenience init(_ bytes: [UInt8], offset: Int) {
        self.init(count: bytes.count, offset: offset)
        bytes.withUnsafeBytes { if $0.count > 0 { pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
    }

    deinit { raw.deallocate() }

    var pointer: UnsafeMutableRawPointer { raw + Self.guardSize + offset }
    var buffer: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: pointer, count: count) }
    var bytes: [UInt8] { Array(UnsafeRawBufferPointer(buffer)) }

    /// Whether every guard byte still holds the fill byte.
    var guardsIntact: Bool {
        let start = Self.guardSize + offset
        for i in 0 ..< start where raw.load(fromByteOffset: i, as: UInt8.self) != Self.fill { return false }
        for i in start + count ..< total where raw.load(fromByteOffset: i, as: UInt8.self) != Self.fill { return false }
        return true
    }

    /// The index of the first byte that differs from `expected`, or nil.
    func firstMismatch(_ expected: [UInt8]) -> Int? {
        precondition(expected.count == count)
        return expected.withUnsafeBytes { e in
            if count == 0 || memcmp(pointer, e.baseAddress!, count) == 0 { return nil }
            return (0 ..< count).first { pointer.load(fromByteOffset: $0, as: UInt8.self) != e[$0] }
        }
    }
}

/// `count` bytes placed directly after (or directly before, `atEnd`) a
/// page mapped PROT_NONE, so that touching one byte outside crashes.
private final class PageGuardedBuffer {
    let base: UnsafeMutableRawPointer
    let mappedBytes: Int
    let buffer: UnsafeMutableRawBufferPointer

    init(count: Int, atEnd: Bool) throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let dataPages = (count + page - 1) / page
        mappedBytes = (dataPages + 2) * page
        guard let p = mmap(nil, mappedBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            throw POSIXError(.ENOMEM)
        }
        base = p
        if dataPages > 0 && mprotect(p + page, dataPages * page, PROT_READ | PROT_WRITE) != 0 {
            throw POSIXError(.EACCES)
        }
        let start = atEnd ? p + page + dataPages * page - count : p + page
        buffer = UnsafeMutableRawBufferPointer(start: start, count: count)
    }

    deinit { munmap(base, mappedBytes) }
}

private func randomBytes(_ n: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    return [UInt8](unsafeUninitializedCapacity: n) { out, initialized in
        let raw = UnsafeMutableRawBufferPointer(out)
        var i = 0
        while i + 8 <= n {
            raw.storeBytes(of: rng.next(), toByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < n {
            raw[i] = UInt8(truncatingIfNeeded: rng.next())
            i += 1
        }
        initialized = n
    }
}

/// The index of the first difference, or nil (keeps failure messages short).
private func firstMismatch<T: Equatable & BitwiseCopyable>(_ a: [T], _ b: [T]) -> Int? {
    if a.count != b.count { return min(a.count, b.count) }
    let same = a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }
    return same ? nil : a.indices.first { a[$0] != b[$0] }
}

// MARK: Reference definitions

/// docs/FORMAT.md "filter codes": output byte j·m + i = input byte i·k + j; the tail is copied.
private func referenceShuffle(_ x: [UInt8], _ k: Int) -> [UInt8] {
    guard k > 1 else { return x }
    let m = x.count / k
    var out = x
    x.withUnsafeBufferPointer { x in
        out.withUnsafeMutableBufferPointer { out in
            for j in 0 ..< k {
                for i in 0 ..< m { out[j * m + i] = x[i * k + j] }
            }
        }
    }
    return out
}

private func referenceUnshuffle(_ x: [UInt8], _ k: Int) -> [UInt8] {
    guard k > 1 else { return x }
    let m = x.count / k
    var out = x
    x.withUnsafeBufferPointer { x in
        out.withUnsafeMutableBufferPointer { out in
            for j in 0 ..< k {
                for i in 0 ..< m { out[i * k + j] = x[j * m + i] }
            }
        }
    }
    return out
}

/// Each whole element's bytes reversed; the tail unchanged.
private func referenceByteSwap(_ x: [UInt8], _ k: Int) -> [UInt8] {
    guard k > 1 else { return x }
    var out = x
    x.withUnsafeBufferPointer { x in
        out.withUnsafeMutableBufferPointer { out in
            for j in 0 ..< k {
                for e in 0 ..< x.count / k { out[e * k + j] = x[e * k + (k - 1 - j)] }
            }
        }
    }
    return out
}

/// float32 → stored bits: Swift's IEEE conversion for float16, ``BFloat16/init(_:)`` for bfloat16.
private func referenceNarrow(_ bits: UInt32, _ stored: DType) -> UInt16 {
    let x = Float(bitPattern: bits)
    return stored == .float16 ? Float16(x).bitPattern : BFloat16(x).bitPattern
}

private func referenceWiden(_ h: UInt16, _ stored: DType) -> UInt32 {
    stored == .float16 ? Float(Float16(bitPattern: h)).bitPattern : UInt32(h) << 16
}

private func narrow(_ input: [UInt32], _ stored: DType, path: KernelPath, offset: Int = 0) -> [UInt16] {
    let src = GuardedBuffer(count: input.count * 4, offset: offset)
    input.withUnsafeBytes { if $0.count > 0 { src.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
    let dst = GuardedBuffer(count: input.count * 2, offset: (offset * 3 + 1) % 8)
    FloatConversion.narrow(src.pointer, to: dst.pointer, count: input.count, stored: stored, path: path)
    #expect(dst.guardsIntact, "narrow to \(stored) on \(path) wrote out of bounds")
    return [UInt16](unsafeUninitializedCapacity: input.count) { out, n in
        UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(dst.buffer))
        n = input.count
    }
}

private func widen(_ input: [UInt16], _ stored: DType, path: KernelPath, offset: Int = 0) -> [UInt32] {
    let src = GuardedBuffer(count: input.count * 2, offset: offset)
    input.withUnsafeBytes { if $0.count > 0 { src.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
    let dst = GuardedBuffer(count: input.count * 4, offset: (offset * 5 + 3) % 8)
    FloatConversion.widen(src.pointer, stored: stored, to: dst.pointer, count: input.count, path: path)
    #expect(dst.guardsIntact, "widen from \(stored) on \(path) wrote out of bounds")
    return [UInt32](unsafeUninitializedCapacity: input.count) { out, n in
        UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(dst.buffer))
        n = input.count
    }
}

/// float32 patterns where rounding or classification changes.
private let specialFloat32Patterns: [UInt32] = {
    var v: [UInt32] = [
        0x0000_0000, 0x8000_0000,  // ±0
        0x0000_0001, 0x8000_0001, 0x007F_FFFF, 0x0040_0000,  // float32 subnormals
        0x0080_0000, 0x0080_0001,  // smallest normal
        0x3F80_0000, 0xBF80_0000, 0x4049_0FDB,  // 1, -1, π
        0x7F7F_FFFF, 0xFF7F_FFFF,  // ±max
        0x7F80_0000, 0xFF80_0000,  // ±inf
        // Signalling NaNs (payload only in low bits, only in high bits, both).
        0x7F80_0001, 0xFF80_0001, 0x7F80_2000, 0x7F80_1FFF, 0x7FA0_0000, 0x7FBF_FFFF, 0xFF80_2001,
        // Quiet NaNs with payloads.
        0x7FC0_0000, 0xFFC0_0000, 0x7FC0_0001, 0x7FFF_FFFF, 0xFFFF_FFFF, 0x7FC0_2000, 0x7FE1_2345,
        // bfloat16 rounding ties and neighbours (low 16 bits around 0x8000).
        0x3F80_8000, 0x3F81_8000, 0x3F80_7FFF, 0x3F80_8001, 0xBF80_8000, 0xBF81_8000,
        0x7F7F_8000, 0x7F7E_8000, 0x7F7F_7FFF, 0x0000_8000, 0x0001_8000, 0x007F_8000,
        // float16 ties: 1 + 2^-11 (to even: 1), 1 + 3·2^-11 (up), and neighbours.
        0x3F80_1000, 0x3F80_3000, 0x3F80_0FFF, 0x3F80_1001,
        // float16 range edges: 65504 (max), 65519.99 (down), 65520 (tie → inf), 65536, 2^-14, 2^-24, 2^-25 (tie → 0), 3·2^-25 (tie → 2·2^-24).
        0x477F_E000, 0x477F_EFFF, 0x477F_F000, 0x4780_0000, 0x3880_0000, 0x3380_0000,
        0x3300_0000, 0x3300_0001, 0x33C0_0000, 0x3400_0000, 0x387F_E000, 0x387F_F000, 0x387F_FFFF,
        0xC77F_F000, 0xB300_0000, 0xB3C0_0000,
    ]
    // Every float16 value widened, and the midpoints just around each float16 exponent boundary.
    for e: UInt32 in 100 ... 145 {
        v.append(e << 23)
        v.append(e << 23 | 0x1000)
        v.append(e << 23 | 0x0FFF)
        v.append(e << 23 | 0x3000)
    }
    return v
}()

// MARK: Tests

@Suite("SIMD kernels")
struct KernelTests {
    static let paths = Kernels.supportedPaths

    @Test("the CPU probe agrees with /proc/cpuinfo and every supported path is tested")
    func cpuProbe() throws {
        #expect(Kernels.isSupported(.scalar))
        #expect(Kernels.isSupported(.portable))
        #expect(Kernels.selected <= Kernels.fastest)
        #if os(Linux) && arch(x86_64)
        if Kernels.probeDisabled {
            #expect(Kernels.supportedPaths == [.scalar, .portable])
            return
        }
        let info = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = Set(info.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        #expect(Kernels.hasAVX2 == flags.contains("avx2"))
        #expect(Kernels.hasF16C == flags.contains("f16c"))
        #expect(Kernels.supportedPaths.contains(.avx2) == flags.contains("avx2"))
        #endif
    }

    @Test("BRINE_KERNELS caps the selected path and never raises it")
    func selection() {
        #expect(Kernels.selection(cap: nil, fastest: .avx2) == .avx2)
        #expect(Kernels.selection(cap: "portable", fastest: .avx2) == .portable)
        #expect(Kernels.selection(cap: "scalar", fastest: .avx2) == .scalar)
        #expect(Kernels.selection(cap: "avx2", fastest: .portable) == .portable)
        #expect(Kernels.selection(cap: "avx512", fastest: .avx2) == .avx2)
        #expect(Kernels.selection(cap: "", fastest: .portable) == .portable)
        #expect(KernelPath.allCases.map(\.description) == ["scalar", "portable", "avx2"])
    }

    @Test("shuffle matches the format definition; unshuffle inverts it", arguments: paths, [1, 2, 3, 4, 8, 16])
    func shuffle(path: KernelPath, elementSize k: Int) {
        for n in byteCounts(elementSize: k) {
            let input = randomBytes(n, seed: UInt64(n * 31 + k))
            let expected = referenceShuffle(input, k)
            for (so, d) in offsets(forByteCount: n) {
                let src = GuardedBuffer(input, offset: so)
                let dst = GuardedBuffer(count: n, offset: d)
                ByteShuffle.shuffle(UnsafeRawBufferPointer(src.buffer), into: dst.buffer, elementSize: k, path: path)
                #expect(dst.firstMismatch(expected) == nil, "shuffle n=\(n) k=\(k) offsets=\(so),\(d)")
                #expect(dst.guardsIntact, "shuffle n=\(n) k=\(k) offsets=\(so),\(d) wrote out of bounds")
                let back = GuardedBuffer(count: n, offset: (d + 3) % 8)
                ByteShuffle.unshuffle(UnsafeRawBufferPointer(dst.buffer), into: back.buffer, elementSize: k, path: path)
                #expect(back.firstMismatch(input) == nil, "round trip n=\(n) k=\(k) offsets=\(so),\(d)")
                #expect(back.guardsIntact)
                #expect(src.firstMismatch(input) == nil, "shuffle modified its source")
            }
        }
    }

    @Test("unshuffle matches the format definition on arbitrary input", arguments: paths, [1, 2, 3, 4, 8, 16])
    func unshuffle(path: KernelPath, elementSize k: Int) {
        for n in byteCounts(elementSize: k) {
            let input = randomBytes(n, seed: UInt64(n * 17 + k + 1000))
            let expected = referenceUnshuffle(input, k)
            for (so, d) in offsets(forByteCount: n) {
                let src = GuardedBuffer(input, offset: so)
                let dst = GuardedBuffer(count: n, offset: d)
                ByteShuffle.unshuffle(UnsafeRawBufferPointer(src.buffer), into: dst.buffer, elementSize: k, path: path)
                #expect(dst.firstMismatch(expected) == nil, "unshuffle n=\(n) k=\(k) offsets=\(so),\(d)")
                #expect(dst.guardsIntact, "unshuffle n=\(n) k=\(k) offsets=\(so),\(d) wrote out of bounds")
            }
        }
    }

    @Test("the default entry points use the selected path", arguments: [2, 4, 8])
    func defaultEntryPoints(elementSize k: Int) {
        let input = randomBytes(4097, seed: 7)
        let src = GuardedBuffer(input, offset: 1)
        let dst = GuardedBuffer(count: input.count, offset: 2)
        ByteShuffle.shuffle(UnsafeRawBufferPointer(src.buffer), into: dst.buffer, elementSize: k)
        #expect(dst.bytes == referenceShuffle(input, k))
        ByteShuffle.unshuffle(UnsafeRawBufferPointer(src.buffer), into: dst.buffer, elementSize: k)
        #expect(dst.bytes == referenceUnshuffle(input, k))
        ByteSwap.swapInPlace(src.buffer, elementSize: k)
        #expect(src.bytes == referenceByteSwap(input, k))
        ByteSwap.swap(UnsafeRawBufferPointer(src.buffer), into: dst.buffer, elementSize: k)
        #expect(dst.bytes == input)
    }

    @Test("byte swap in place and out of place; trailing bytes untouched", arguments: paths, [1, 2, 3, 4, 8, 16])
    func byteSwap(path: KernelPath, elementSize k: Int) {
        for n in byteCounts(elementSize: k) {
            let input = randomBytes(n, seed: UInt64(n * 13 + k + 99))
            let expected = referenceByteSwap(input, k)
            for (so, d) in offsets(forByteCount: n) {
                let src = GuardedBuffer(input, offset: so)
                let dst = GuardedBuffer(count: n, offset: d)
                ByteSwap.swap(UnsafeRawBufferPointer(src.buffer), into: dst.buffer, elementSize: k, path: path)
                #expect(dst.firstMismatch(expected) == nil, "swap n=\(n) k=\(k) offsets=\(so),\(d)")
                #expect(dst.guardsIntact)
                #expect(src.firstMismatch(input) == nil, "out-of-place swap modified its source")
                ByteSwap.swapInPlace(src.buffer, elementSize: k, path: path)
                #expect(src.firstMismatch(expected) == nil, "in place n=\(n) k=\(k) offset=\(so)")
                #expect(src.guardsIntact)
                ByteSwap.swapInPlace(src.buffer, elementSize: k, path: path)
                #expect(src.firstMismatch(input) == nil, "swapping twice is the identity")
            }
        }
    }

    @Test("kernels read and write only inside their buffers (inaccessible pages on both sides)", arguments: paths)
    func pageGuards(path: KernelPath) throws {
        let sizes = Array(Set([2, 4, 8].flatMap { byteCounts(elementSize: $0) }.filter { $0 < 100_000 })).sorted()
        for n in sizes {
            for atEnd in [false, true] {
                let src = try PageGuardedBuffer(count: n, atEnd: atEnd)
                let dst = try PageGuardedBuffer(count: n, atEnd: !atEnd)
                let input = randomBytes(n, seed: UInt64(n))
                src.buffer.copyBytes(from: input)
                for k in [2, 4, 8] {
                    ByteShuffle.shuffle(UnsafeRawBufferPointer(src.buffer), into: dst.buffer, elementSize: k, path: path)
                    ByteShuffle.unshuffle(UnsafeRawBufferPointer(src.buffer), into: dst.buffer, elementSize: k, path: path)
                    ByteSwap.swap(UnsafeRawBufferPointer(src.buffer), into: dst.buffer, elementSize: k, path: path)
                    ByteSwap.swapInPlace(dst.buffer, elementSize: k, path: path)
                }
                for stored in [DType.float16, .bfloat16] {
                    FloatConversion.narrow(src.buffer.baseAddress!, to: dst.buffer.baseAddress!, count: n / 4, stored: stored, path: path)
                    FloatConversion.widen(src.buffer.baseAddress!, stored: stored, to: dst.buffer.baseAddress!, count: n / 4, path: path)
                    // The 2-byte side of each conversion ending at the page too.
                    let half = n / 2 & ~1
                    let tail = src.buffer.baseAddress! + (n - half)
                    FloatConversion.widen(tail, stored: stored, to: dst.buffer.baseAddress!, count: half / 2, path: path)
                }
                #expect(src.buffer.elementsEqual(input), "n=\(n): a kernel wrote into its source")
            }
        }
    }

    @Test("bulk copy, with and without streaming stores", arguments: [false, true])
    func bulkCopy(streaming: Bool) throws {
        let sizes = byteCounts + [63, 64, 65, 127, 128, 129, 191, (16 << 20) + 13]
        for n in sizes {
            let input = randomBytes(n, seed: UInt64(n) ^ 0xC0FFEE)
            for (so, d) in offsets(forByteCount: n) {
                let src = GuardedBuffer(input, offset: so)
                let dst = GuardedBuffer(count: n, offset: d)
                BulkCopy.copy(UnsafeRawBufferPointer(src.buffer), to: dst.pointer, streaming: streaming)
                #expect(dst.firstMismatch(input) == nil, "n=\(n) offsets=\(so),\(d)")
                #expect(dst.guardsIntact, "n=\(n) offsets=\(so),\(d) wrote out of bounds")
            }
            if n < 100_000 {
                for atEnd in [false, true] {
                    let src = try PageGuardedBuffer(count: n, atEnd: atEnd)
                    let dst = try PageGuardedBuffer(count: n, atEnd: !atEnd)
                    src.buffer.copyBytes(from: input)
                    BulkCopy.copy(UnsafeRawBufferPointer(src.buffer), to: dst.buffer.baseAddress!, streaming: streaming)
                    #expect(dst.buffer.elementsEqual(input))
                }
            }
        }
        #expect(BulkCopy.streamingThreshold == 16 << 20)
    }

    @Test("narrowing special values: zeros, subnormals, max, inf, NaN payloads, ties", arguments: paths, [DType.float16, .bfloat16])
    func narrowSpecialValues(path: KernelPath, stored: DType) {
        let expected = specialFloat32Patterns.map { referenceNarrow($0, stored) }
        // Shift the values across vector lanes and into the scalar tails.
        for shift in 0 ..< 17 {
            let input = [UInt32](repeating: 0x3F80_0000, count: shift) + specialFloat32Patterns
            let got = narrow(input, stored, path: path, offset: shift % 8)
            #expect(firstMismatch(Array(got[shift...]), expected) == nil, "\(stored) on \(path), shift \(shift)")
        }
    }

    @Test("the conversion definition: IEEE rounding, overflow, and the NaN rule")
    func conversionDefinition() {
        // float16: ties to even, overflow to infinity, subnormal rounding.
        #expect(referenceNarrow(0x3F80_1000, .float16) == 0x3C00)  // 1 + 2^-11 → 1
        #expect(referenceNarrow(0x3F80_3000, .float16) == 0x3C02)  // 1 + 3·2^-11 → 1 + 2^-9
        #expect(referenceNarrow(0x477F_E000, .float16) == 0x7BFF)  // 65504
        #expect(referenceNarrow(0x477F_EFFF, .float16) == 0x7BFF)
        #expect(referenceNarrow(0x477F_F000, .float16) == 0x7C00)  // 65520 → inf
        #expect(referenceNarrow(0xFF7F_FFFF, .float16) == 0xFC00)
        #expect(referenceNarrow(0x3300_0000, .float16) == 0x0000)  // 2^-25 → 0 (tie, even)
        #expect(referenceNarrow(0x33C0_0000, .float16) == 0x0002)  // 3·2^-25 → 2·2^-24 (tie, even)
        #expect(referenceNarrow(0x3300_0001, .float16) == 0x0001)
        // bfloat16: ties to even, max rounds to infinity.
        #expect(referenceNarrow(0x3F80_8000, .bfloat16) == 0x3F80)
        #expect(referenceNarrow(0x3F81_8000, .bfloat16) == 0x3F82)
        #expect(referenceNarrow(0x7F7F_FFFF, .bfloat16) == 0x7F80)
        // NaN: sign kept, quiet bit set, top payload bits kept.
        for bits in specialFloat32Patterns where Float(bitPattern: bits).isNaN {
            let sign16 = UInt16(truncatingIfNeeded: bits >> 16) & 0x8000
            #expect(referenceNarrow(bits, .float16) == sign16 | 0x7E00 | UInt16((bits >> 13) & 0x1FF))
            #expect(referenceNarrow(bits, .bfloat16) == UInt16(truncatingIfNeeded: bits >> 16) | 0x0040)
        }
        for h in UInt16(0x7C01) ... 0x7FFF {
            for sign: UInt16 in [0, 0x8000] {
                let expected = UInt32(sign) << 16 | 0x7FC0_0000 | UInt32(h & 0x03FF) << 13
                #expect(referenceWiden(h | sign, .float16) == expected)
            }
        }
    }

    /// Every sign/exponent/top-mantissa combination with low halves at and
    /// around the rounding points of both formats, then a multiplicative-hash
    /// stride over all 2^32 patterns: 2,031,616 patterns.
    static let denseSample: [UInt32] = {
        let lows: [UInt32] = [0x0000, 0x0001, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x3000, 0x7FFF, 0x8000, 0x8001, 0xA5A5, 0xE000, 0xF000, 0xFFFF]
        var input: [UInt32] = []
        input.reserveCapacity(65536 * lows.count + (1 << 20))
        for high in UInt32(0) ... 0xFFFF {
            for low in lows { input.append(high << 16 | low) }
        }
        for i in UInt32(0) ..< 1 << 20 { input.append(i &* 0x9E37_79B1) }
        return input
    }()
    static let denseFloat16 = denseSample.map { referenceNarrow($0, .float16) }
    static let denseBFloat16 = denseSample.map { referenceNarrow($0, .bfloat16) }

    @Test("narrowing a dense sample of float32 patterns", arguments: paths, [DType.float16, .bfloat16])
    func narrowDenseSample(path: KernelPath, stored: DType) {
        let expected = stored == .float16 ? Self.denseFloat16 : Self.denseBFloat16
        let got = narrow(Self.denseSample, stored, path: path, offset: 3)
        #expect(firstMismatch(got, expected) == nil, "\(stored) on \(path)")
    }

    @Test("widening every float16 and bfloat16 pattern", arguments: paths, [DType.float16, .bfloat16])
    func widenExhaustive(path: KernelPath, stored: DType) {
        let input = (0 ... 0xFFFF).map { UInt16($0) }
        let expected = input.map { referenceWiden($0, stored) }
        for offset in [0, 1, 6] {
            let got = widen(input, stored, path: path, offset: offset)
            #expect(firstMismatch(got, expected) == nil, "\(stored) on \(path), offset \(offset)")
        }
        // Every count up to 40 exercises the tails (across the infinities and NaNs at 0x7C00).
        for count in 0 ... 40 {
            let slice = Array(input[0x7BF0 ..< 0x7BF0 + count])
            #expect(widen(slice, stored, path: path, offset: count % 8) == slice.map { referenceWiden($0, stored) })
        }
    }

    @Test("narrowing short arrays exercises every tail length", arguments: paths, [DType.float16, .bfloat16])
    func narrowTails(path: KernelPath, stored: DType) {
        for count in 0 ... 40 {
            let input = Array(specialFloat32Patterns.prefix(count))
            #expect(narrow(input, stored, path: path, offset: count % 8) == input.map { referenceNarrow($0, stored) }, "count \(count)")
        }
    }

    @Test(
        "narrowing all 2^32 float32 patterns (set BRINE_EXHAUSTIVE_TESTS=1; use a release build)",
        .enabled(if: ProcessInfo.processInfo.environment["BRINE_EXHAUSTIVE_TESTS"] == "1"),
        arguments: [DType.float16, .bfloat16])
    func narrowExhaustive(stored: DType) {
        let block = 1 << 22
        let src = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: block)
        defer { src.deallocate() }
        let reference = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: block)
        defer { reference.deallocate() }
        let out = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: block)
        defer { out.deallocate() }
        var mismatches = 0
        for start in stride(from: 0, to: 1 << 32, by: block) {
            for i in 0 ..< block { src[i] = UInt32(truncatingIfNeeded: start + i) }
            FloatConversion.narrow(UnsafeRawPointer(src.baseAddress!), to: reference.baseAddress!, count: block, stored: stored, path: .scalar)
            for path in Kernels.supportedPaths where path != .scalar {
                FloatConversion.narrow(UnsafeRawPointer(src.baseAddress!), to: out.baseAddress!, count: block, stored: stored, path: path)
                if memcmp(out.baseAddress!, reference.baseAddress!, block * 2) != 0 {
                    mismatches += 1
                    let i = (0 ..< block).first { out[$0] != reference[$0] }!
                    Issue.record("\(stored) on \(path): pattern \(String(src[i], radix: 16)) gives \(String(out[i], radix: 16)), expected \(String(reference[i], radix: 16))")
                }
            }
            if mismatches > 10 { break }
        }
        #expect(mismatches == 0)
    }
}
