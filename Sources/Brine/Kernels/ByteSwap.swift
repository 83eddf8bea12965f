import CBrineKernels

/// Byte-order reversal of fixed-size elements, for data stored big-endian
/// (NumPy `.npy` dtype descriptors such as `'>f4'`, NumPy NEP 1 /
/// `numpy.lib.format`) on the little-endian machines Brine runs on.
///
/// Element sizes 2, 4 and 8 have vector kernels (``KernelPath/portable``:
/// Swift SIMD shifts and masks; ``KernelPath/avx2``: one PSHUFB per 32
/// bytes); any other size above 1 reverses each element's bytes with a
/// scalar loop, and size 1 (or less) leaves the bytes as they are. Bytes
/// past the last whole element are never swapped.
package enum ByteSwap {
    /// Reverses the bytes of every whole `elementSize`-byte element of
    /// `buffer`, in place. Trailing bytes (`buffer.count % elementSize`)
    /// are left unchanged; no alignment is needed.
    static func swapInPlace(_ buffer: UnsafeMutableRawBufferPointer, elementSize: Int) {
        swapInPlace(buffer, elementSize: elementSize, path: Kernels.selected)
    }

    /// Copies `src` to `dst` (same size, non-overlapping), reversing the
    /// bytes of every whole `elementSize`-byte element on the way; trailing
    /// bytes are copied unchanged. One pass, for reading big-endian data
    /// straight out of a mapping.
    static func swap(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer, elementSize: Int) {
        swap(src, into: dst, elementSize: elementSize, path: Kernels.selected)
    }

    /// ``swapInPlace(_:elementSize:)`` on a given path, which must be
    /// supported by this CPU.
    static func swapInPlace(_ buffer: UnsafeMutableRawBufferPointer, elementSize: Int, path: KernelPath) {
        guard let base = buffer.baseAddress else { return }
        run(UnsafeRawPointer(base), base, byteCount: buffer.count, elementSize: elementSize, path: path)
    }

    /// ``swap(_:into:elementSize:)`` on a given path, which must be
    /// supported by this CPU.
    package static func swap(
        _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer, elementSize: Int, path: KernelPath
    ) {
        precondition(src.count == dst.count)
        guard let s = src.baseAddress, let d = dst.baseAddress else { return }
        run(s, d, byteCount: src.count, elementSize: elementSize, path: path)
    }

    /// Swaps `byteCount / k` elements from `s` to `d` (`s == d` for in
    /// place) and copies the trailing bytes when out of place.
    private static func run(_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, byteCount: Int, elementSize k: Int, path: KernelPath) {
        precondition(byteCount >= 0 && Kernels.isSupported(path))
        let count = k > 1 ? byteCount / k : 0
        let whole = count * k
        if whole < byteCount && s != UnsafeRawPointer(d) {
            (d + whole).copyMemory(from: s + whole, byteCount: byteCount - whole)
        }
        guard count > 0 else { return }
        Kernels.forEachTier(
            count: count, elementSize: k, path: path,
            portable: { portableSwap(s, d, count: count, elementSize: k) },
            avx2: {
                #if arch(x86_64) || arch(i386)
                brine_byteswap_avx2(s, d, count, k)
                #endif
            },
            scalar: { from in scalarSwap(s, d, count: count, elementSize: k, from: from) })
    }

    /// The scalar definition: elements `from ..< count`, one at a time.
    static func scalarSwap(_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, count: Int, elementSize k: Int, from: Int) {
        switch k {
        case 2:
            for i in from ..< count {
                d.storeBytes(of: s.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self).byteSwapped, toByteOffset: i &* 2, as: UInt16.self)
            }
        case 4:
            for i in from ..< count {
                d.storeBytes(of: s.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self).byteSwapped, toByteOffset: i &* 4, as: UInt32.self)
            }
        case 8:
            for i in from ..< count {
                d.storeBytes(of: s.loadUnaligned(fromByteOffset: i &* 8, as: UInt64.self).byteSwapped, toByteOffset: i &* 8, as: UInt64.self)
            }
        default:
            let sb = s.assumingMemoryBound(to: UInt8.self)
            let db = d.assumingMemoryBound(to: UInt8.self)
            for i in from ..< count {
                // Pairs from the outside in; both bytes are read before either is written.
                var lo = i * k, hi = lo + k - 1
                while lo < hi {
                    let a = sb[lo], b = sb[hi]
                    db[lo] = b
                    db[hi] = a
                    lo += 1
                    hi -= 1
                }
                if lo == hi { db[lo] = sb[lo] }
            }
        }
    }

    /// Swaps the first `count - count % block` elements with Swift SIMD
    /// (32 bytes per step); returns that number. In place is fine: each
    /// step loads its 32 bytes before storing them.
    static func portableSwap(_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, count: Int, elementSize k: Int) -> Int {
        let bytes = count &* k
        var i = 0
        switch k {
        case 2:
            while bytes &- i >= 32 {
                let v = s.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt16>.self)
                d.storeBytes(of: (v &<< 8) | (v &>> 8), toByteOffset: i, as: SIMD16<UInt16>.self)
                i &+= 32
            }
        case 4:
            while bytes &- i >= 32 {
                var v = s.loadUnaligned(fromByteOffset: i, as: SIMD8<UInt32>.self)
                v = ((v & 0x00FF_00FF) &<< 8) | ((v &>> 8) & 0x00FF_00FF)
                v = (v &<< 16) | (v &>> 16)
                d.storeBytes(of: v, toByteOffset: i, as: SIMD8<UInt32>.self)
                i &+= 32
            }
        case 8:
            while bytes &- i >= 32 {
                var v = s.loadUnaligned(fromByteOffset: i, as: SIMD4<UInt64>.self)
                v = ((v & 0x00FF_00FF_00FF_00FF) &<< 8) | ((v &>> 8) & 0x00FF_00FF_00FF_00FF)
                v = ((v & 0x0000_FFFF_0000_FFFF) &<< 16) | ((v &>> 16) & 0x0000_FFFF_0000_FFFF)
                v = (v &<< 32) | (v &>> 32)
                d.storeBytes(of: v, toByteOffset: i, as: SIMD4<UInt64>.self)
                i &+= 32
            }
        default:
            return 0
        }
        return i / k
    }
}
