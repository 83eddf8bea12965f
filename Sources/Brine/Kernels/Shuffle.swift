import CBrineKernels

/// Byte shuffle and unshuffle (the blosc "shuffle" filter, docs/FORMAT.md
/// "filter codes"): for `count` elements of `elementSize` bytes, output byte
/// `j * count + i` is input byte `i * elementSize + j`. Bytes past the last
/// whole element are copied unchanged.
///
/// Element sizes 2, 4 and 8 have vector kernels (``KernelPath/portable``,
/// ``KernelPath/avx2``); other sizes use the scalar loop on every path.
package enum ByteShuffle {
    /// Shuffles `src` into `dst` (same size, non-overlapping) with the
    /// process's selected kernel path (``Kernels/selected``).
    static func shuffle(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer, elementSize k: Int) {
        shuffle(src, into: dst, elementSize: k, path: Kernels.selected)
    }

    /// Reverses ``shuffle(_:into:elementSize:)``.
    static func unshuffle(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer, elementSize k: Int) {
        unshuffle(src, into: dst, elementSize: k, path: Kernels.selected)
    }

    /// ``shuffle(_:into:elementSize:)`` on a given path, which must be
    /// supported by this CPU (``Kernels/isSupported(_:)``).
    package static func shuffle(
        _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer, elementSize k: Int, path: KernelPath
    ) {
        run(.shuffle, src, into: dst, elementSize: k, path: path)
    }

    /// ``unshuffle(_:into:elementSize:)`` on a given path, which must be
    /// supported by this CPU (``Kernels/isSupported(_:)``).
    package static func unshuffle(
        _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer, elementSize k: Int, path: KernelPath
    ) {
        run(.unshuffle, src, into: dst, elementSize: k, path: path)
    }

    private enum Direction { case shuffle, unshuffle }

    /// Both directions: the elements through ``Kernels/forEachTier(count:elementSize:path:portable:avx2:scalar:)``,
    /// the bytes past the last whole element copied unchanged.
    private static func run(
        _ direction: Direction, _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer,
        elementSize k: Int, path: KernelPath
    ) {
        precondition(src.count == dst.count)
        precondition(Kernels.isSupported(path))
        let n = src.count
        guard n > 0 else { return }
        let s = src.baseAddress!
        let d = dst.baseAddress!
        guard k > 1 else { d.copyMemory(from: s, byteCount: n); return }
        let count = n / k
        Kernels.forEachTier(
            count: count, elementSize: k, path: path,
            portable: {
                direction == .shuffle
                    ? portableShuffle(s, d, count: count, elementSize: k)
                    : portableUnshuffle(s, d, count: count, elementSize: k)
            },
            avx2: {
                #if arch(x86_64) || arch(i386)
                if direction == .shuffle { brine_shuffle_avx2(s, d, count, k) } else { brine_unshuffle_avx2(s, d, count, k) }
                #endif
            },
            scalar: { from in
                let s8 = s.assumingMemoryBound(to: UInt8.self), d8 = d.assumingMemoryBound(to: UInt8.self)
                if direction == .shuffle {
                    scalarShuffle(s8, d8, count: count, elementSize: k, from: from)
                } else {
                    scalarUnshuffle(s8, d8, count: count, elementSize: k, from: from)
                }
            })
        let tail = count * k
        if tail < n { (d + tail).copyMemory(from: s + tail, byteCount: n - tail) }
    }

    // MARK: Scalar definition

    /// Shuffles elements `from ..< count` one byte at a time.
    static func scalarShuffle(
        _ s: UnsafePointer<UInt8>, _ d: UnsafeMutablePointer<UInt8>, count: Int, elementSize k: Int, from: Int
    ) {
        for j in 0 ..< k {
            let out = d + j * count
            var ip = s + (from * k + j)
            for i in from ..< count {
                out[i] = ip.pointee
                ip += k
            }
        }
    }

    /// Unshuffles elements `from ..< count` one byte at a time.
    static func scalarUnshuffle(
        _ s: UnsafePointer<UInt8>, _ d: UnsafeMutablePointer<UInt8>, count: Int, elementSize k: Int, from: Int
    ) {
        for j in 0 ..< k {
            let inp = s + j * count
            var op = d + (from * k + j)
            for i in from ..< count {
                op.pointee = inp[i]
                op += k
            }
        }
    }
}
