/// The portable byte shuffle: 128-bit Swift SIMD vectors (``PortableSIMD``:
/// SSE2 on any x86_64, NEON on arm64), 16 elements per step.
///
/// A shuffle of `k`-byte elements is log2(k) rounds of "even bytes, odd
/// bytes" splits (for k = 4: the stream of bytes 0 and 2 and the stream of
/// bytes 1 and 3, then each split again); the unshuffle is log2(k) rounds
/// of interleaves of growing width (bytes, then 16-bit, then 32-bit lanes). Each kernel returns how many elements it
/// did (`count` rounded down to 16); the caller finishes with the scalar
/// loop. Index arithmetic wraps (`&+`, `&*`) because every offset stays
/// below `count * elementSize`, the caller-checked buffer size.
extension ByteShuffle {
    typealias Bytes = PortableSIMD.Bytes

    static func portableShuffle(_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, count: Int, elementSize k: Int) -> Int {
        switch k {
        case 2: return portableShuffle2(s, d, count: count)
        case 4: return portableShuffle4(s, d, count: count)
        case 8: return portableShuffle8(s, d, count: count)
        default: return 0
        }
    }

    static func portableUnshuffle(_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, count: Int, elementSize k: Int) -> Int {
        switch k {
        case 2: return portableUnshuffle2(s, d, count: count)
        case 4: return portableUnshuffle4(s, d, count: count)
        case 8: return portableUnshuffle8(s, d, count: count)
        default: return 0
        }
    }

    private static func portableShuffle2(_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, count: Int) -> Int {
        var i = 0
        while count &- i >= 16 {
            let r0 = s.loadUnaligned(fromByteOffset: i &* 2, as: Bytes.self)
            let r1 = s.loadUnaligned(fromByteOffset: i &* 2 &+ 16, as: Bytes.self)
            d.storeBytes(of: PortableSIMD.evenBytes(r0, r1), toByteOffset: i, as: Bytes.self)
            d.storeBytes(of: PortableSIMD.oddBytes(r0, r1), toByteOffset: count &+ i, as: Bytes.self)
            i &+= 16
        }
        return i
    }

    private static func portableUnshuffle2(_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, count: Int) -> Int {
        var i = 0
        while count &- i >= 16 {
            let b0 = s.loadUnaligned(fromByteOffset: i, as: Bytes.self)
            let b1 = s.loadUnaligned(fromByteOffset: count &+ i, as: Bytes.self)
            d.storeBytes(of: PortableSIMD.interleaveLow8(b0, b1), toByteOffset: i &* 2, as: Bytes.self)
            d.storeBytes(of: PortableSIMD.interleaveHigh8(b0, b1), toByteOffset: i &* 2 &+ 16, as: Bytes.self)
            i &+= 16
        }
        return i
    }

    private static func portableShuffle4(_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, count: Int) -> Int {
        var i = 0
        while count &- i >= 16 {
            let base = i &* 4
            let r0 = s.loadUnaligned(fromByteOffset: base, as: Bytes.self)
            let r1 = s.loadUnaligned(fromByteOffset: base &+ 16, as: Bytes.self)
            let r2 = s.loadUnaligned(fromByteOffset: base &+ 32, as: Bytes.self)
            let r3 = s.loadUnaligned(fromByteOffset: base &+ 48, as: Bytes.self)
            // Bytes 0 and 2 (e), bytes 1 and 3 (o), of elements 0-7 and 8-15.
            let e0 = PortableSIMD.evenBytes(r0, r1), e1 = PortableSIMD.evenBytes(r2, r3)
            let o0 = PortableSIMD.oddBytes(r0, r1), o1 = PortableSIMD.oddBytes(r2, r3)
            d.storeBytes(of: PortableSIMD.evenBytes(e0, e1), toByteOffset: i, as: Bytes.self)
            d.storeBytes(of: PortableSIMD.evenBytes(o0, o1), toByteOffset: count &+ i, as: Bytes.self)
            d.storeBytes(of: PortableSIMD.oddBytes(e0, e1), toByteOffset: count &* 2 &+ i, as: Bytes.self)
            d.storeBytes(of: PortableSIMD.oddBytes(o0, o1), toByteOffset: count &* 3 &+ i, as: Bytes.self)
            i &+= 16
        }
        return i
    }

    private static func portableUnshuffle4(_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, count: Int) -> Int {
        var i = 0
        while count &- i >= 16 {
            let b0 = s.loadUnaligned(fromByteOffset: i, as: Bytes.self)
            let b1 = s.loadUnaligned(fromByteOffset: count &+ i, as: Bytes.self)
            let b2 = s.loadUnaligned(fromByteOffset: count &* 2 &+ i, as: Bytes.self)
            let b3 = s.loadUnaligned(fromByteOffset: count &* 3 &+ i, as: Bytes.self)
            // Bytes 0-1 (x) and 2-3 (y) of elements 0-7 (…0) and 8-15 (…1).
            let x0 = PortableSIMD.interleaveLow8(b0, b1), x1 = PortableSIMD.interleaveHigh8(b0, b1)
            let y0 = PortableSIMD.interleaveLow8(b2, b3), y1 = PortableSIMD.interleaveHigh8(b2, b3)
            let out = d + i &* 4
            out.storeBytes(of: PortableSIMD.interleaveLow16(x0, y0), toByteOffset: 0, as: Bytes.self)
            out.storeBytes(of: PortableSIMD.interleaveHigh16(x0, y0), toByteOffset: 16, as: Bytes.self)
            out.storeBytes(of: PortableSIMD.interleaveLow16(x1, y1), toByteOffset: 32, as: Bytes.self)
            out.storeBytes(of: PortableSIMD.interleaveHigh16(x1, y1), toByteOffset: 48, as: Bytes.self)
            i &+= 16
        }
        return i
    }

    private static func portableShuffle8(_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, count: Int) -> Int {
        var i = 0
        while count &- i >= 16 {
            let base = i &* 8
            let r0 = s.loadUnaligned(fromByteOffset: base, as: Bytes.self)
            let r1 = s.loadUnaligned(fromByteOffset: base &+ 16, as: Bytes.self)
            let r2 = s.loadUnaligned(fromByteOffset: base &+ 32, as: Bytes.self)
            let r3 = s.loadUnaligned(fromByteOffset: base &+ 48, as: Bytes.self)
            let r4 = s.loadUnaligned(fromByteOffset: base &+ 64, as: Bytes.self)
            let r5 = s.loadUnaligned(fromByteOffset: base &+ 80, as: Bytes.self)
            let r6 = s.loadUnaligned(fromByteOffset: base &+ 96, as: Bytes.self)
            let r7 = s.loadUnaligned(fromByteOffset: base &+ 112, as: Bytes.self)
            // Round 1: bytes {0,2,4,6} (e) and {1,3,5,7} (o), 4 elements per vector.
            let e0 = PortableSIMD.evenBytes(r0, r1), e1 = PortableSIMD.evenBytes(r2, r3)
            let e2 = PortableSIMD.evenBytes(r4, r5), e3 = PortableSIMD.evenBytes(r6, r7)
            let o0 = PortableSIMD.oddBytes(r0, r1), o1 = PortableSIMD.oddBytes(r2, r3)
            let o2 = PortableSIMD.oddBytes(r4, r5), o3 = PortableSIMD.oddBytes(r6, r7)
            // Round 2: bytes {0,4} (ee), {2,6} (eo), {1,5} (oe), {3,7} (oo), 8 elements per vector.
            let ee0 = PortableSIMD.evenBytes(e0, e1), ee1 = PortableSIMD.evenBytes(e2, e3)
            let eo0 = PortableSIMD.oddBytes(e0, e1), eo1 = PortableSIMD.oddBytes(e2, e3)
            let oe0 = PortableSIMD.evenBytes(o0, o1), oe1 = PortableSIMD.evenBytes(o2, o3)
            let oo0 = PortableSIMD.oddBytes(o0, o1), oo1 = PortableSIMD.oddBytes(o2, o3)
            // Round 3: one byte position of all 16 elements per vector.
            d.storeBytes(of: PortableSIMD.evenBytes(ee0, ee1), toByteOffset: i, as: Bytes.self)
            d.storeBytes(of: PortableSIMD.evenBytes(oe0, oe1), toByteOffset: count &+ i, as: Bytes.self)
            d.storeBytes(of: PortableSIMD.evenBytes(eo0, eo1), toByteOffset: count &* 2 &+ i, as: Bytes.self)
            d.storeBytes(of: PortableSIMD.evenBytes(oo0, oo1), toByteOffset: count &* 3 &+ i, as: Bytes.self)
            d.storeBytes(of: PortableSIMD.oddBytes(ee0, ee1), toByteOffset: count &* 4 &+ i, as: Bytes.self)
            d.storeBytes(of: PortableSIMD.oddBytes(oe0, oe1), toByteOffset: count &* 5 &+ i, as: Bytes.self)
            d.storeBytes(of: PortableSIMD.oddBytes(eo0, eo1), toByteOffset: count &* 6 &+ i, as: Bytes.self)
            d.storeBytes(of: PortableSIMD.oddBytes(oo0, oo1), toByteOffset: count &* 7 &+ i, as: Bytes.self)
            i &+= 16
        }
        return i
    }

    private static func portableUnshuffle8(_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, count: Int) -> Int {
        var i = 0
        while count &- i >= 16 {
            let b0 = s.loadUnaligned(fromByteOffset: i, as: Bytes.self)
            let b1 = s.loadUnaligned(fromByteOffset: count &+ i, as: Bytes.self)
            let b2 = s.loadUnaligned(fromByteOffset: count &* 2 &+ i, as: Bytes.self)
            let b3 = s.loadUnaligned(fromByteOffset: count &* 3 &+ i, as: Bytes.self)
            let b4 = s.loadUnaligned(fromByteOffset: count &* 4 &+ i, as: Bytes.self)
            let b5 = s.loadUnaligned(fromByteOffset: count &* 5 &+ i, as: Bytes.self)
            let b6 = s.loadUnaligned(fromByteOffset: count &* 6 &+ i, as: Bytes.self)
            let b7 = s.loadUnaligned(fromByteOffset: count &* 7 &+ i, as: Bytes.self)
            // Byte pairs (0,1), (2,3), (4,5), (6,7) of elements 0-7 (even c) and 8-15 (odd c).
            let c0 = PortableSIMD.interleaveLow8(b0, b1), c1 = PortableSIMD.interleaveHigh8(b0, b1)
            let c2 = PortableSIMD.interleaveLow8(b2, b3), c3 = PortableSIMD.interleaveHigh8(b2, b3)
            let c4 = PortableSIMD.interleaveLow8(b4, b5), c5 = PortableSIMD.interleaveHigh8(b4, b5)
            let c6 = PortableSIMD.interleaveLow8(b6, b7), c7 = PortableSIMD.interleaveHigh8(b6, b7)
            // Bytes 0-3 (d0-d3) and 4-7 (d4-d7) of elements 0-3, 4-7, 8-11, 12-15.
            let d0 = PortableSIMD.interleaveLow16(c0, c2), d1 = PortableSIMD.interleaveHigh16(c0, c2)
            let d2 = PortableSIMD.interleaveLow16(c1, c3), d3 = PortableSIMD.interleaveHigh16(c1, c3)
            let d4 = PortableSIMD.interleaveLow16(c4, c6), d5 = PortableSIMD.interleaveHigh16(c4, c6)
            let d6 = PortableSIMD.interleaveLow16(c5, c7), d7 = PortableSIMD.interleaveHigh16(c5, c7)
            // Whole elements, two per vector.
            let out = d + i &* 8
            out.storeBytes(of: PortableSIMD.interleaveLow32(d0, d4), toByteOffset: 0, as: Bytes.self)
            out.storeBytes(of: PortableSIMD.interleaveHigh32(d0, d4), toByteOffset: 16, as: Bytes.self)
            out.storeBytes(of: PortableSIMD.interleaveLow32(d1, d5), toByteOffset: 32, as: Bytes.self)
            out.storeBytes(of: PortableSIMD.interleaveHigh32(d1, d5), toByteOffset: 48, as: Bytes.self)
            out.storeBytes(of: PortableSIMD.interleaveLow32(d2, d6), toByteOffset: 64, as: Bytes.self)
            out.storeBytes(of: PortableSIMD.interleaveHigh32(d2, d6), toByteOffset: 80, as: Bytes.self)
            out.storeBytes(of: PortableSIMD.interleaveLow32(d3, d7), toByteOffset: 96, as: Bytes.self)
            out.storeBytes(of: PortableSIMD.interleaveHigh32(d3, d7), toByteOffset: 112, as: Bytes.self)
            i &+= 16
        }
        return i
    }
}
