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
            portable: { portableTranspose(s, d, count: count, elementSize: k, shuffling: direction == .shuffle) },
            avx2: {
                #if arch(x86_64) || arch(i386)
                if direction == .shuffle { brine_shuffle_avx2(s, d, count, k) } else { brine_unshuffle_avx2(s, d, count, k) }
                #endif
            },
            scalar: { from in
                scalarTranspose(
                    s.assumingMemoryBound(to: UInt8.self), d.assumingMemoryBound(to: UInt8.self),
                    count: count, elementSize: k, from: from, shuffling: direction == .shuffle)
            })
        let tail = count * k
        if tail < n { (d + tail).copyMemory(from: s + tail, byteCount: n - tail) }
    }

    // MARK: Scalar definition

    /// The scalar definition of both directions, elements `from ..< count`
    /// one byte at a time: byte `j` of element `i` sits at `i * k + j` on
    /// the element side and at `j * count + i` on the byte-plane side; a
    /// shuffle (`shuffling`) copies from the element side to the planes, an
    /// unshuffle back.
    static func scalarTranspose(
        _ s: UnsafePointer<UInt8>, _ d: UnsafeMutablePointer<UInt8>, count: Int, elementSize k: Int, from: Int, shuffling: Bool
    ) {
        // Each branch with a constant direction, so the inner loop has no
        // branch; the element side advances by pointer, the plane side is
        // indexed: as fast as the two hand-written loops were (strides held
        // in variables measured 15% slower).
        let source = UnsafeMutablePointer(mutating: s)
        if shuffling {
            transpose(elements: source, planes: d, count: count, elementSize: k, from: from, toPlanes: true)
        } else {
            transpose(elements: d, planes: source, count: count, elementSize: k, from: from, toPlanes: false)
        }
    }

    /// Copies byte `j` of elements `from ..< count`, for every `j`, between
    /// the element side (`elements + i * k + j`) and the plane side
    /// (`planes + j * count + i`): to the planes if `toPlanes`, else back.
    /// Only the destination side is written.
    @inline(__always)
    private static func transpose(
        elements: UnsafeMutablePointer<UInt8>, planes: UnsafeMutablePointer<UInt8>, count: Int, elementSize k: Int, from: Int,
        toPlanes: Bool
    ) {
        for j in 0 ..< k {
            let plane = planes + j * count
            var element = elements + (from * k + j)
            for i in from ..< count {
                if toPlanes { plane[i] = element.pointee } else { element.pointee = plane[i] }
                element += k
            }
        }
    }
}
