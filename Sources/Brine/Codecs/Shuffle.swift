/// Byte shuffle and unshuffle (the blosc "shuffle" filter): for `count`
/// elements of `elementSize` bytes, output byte `j * count + i` is input byte
/// `i * elementSize + j`. Bytes past the last whole element are copied unchanged.
enum ByteShuffle {
    /// Shuffles `src` into `dst` (same size, non-overlapping).
    static func shuffle(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer, elementSize k: Int) {
        precondition(src.count == dst.count)
        let n = src.count
        guard n > 0 else { return }
        let s = src.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let d = dst.baseAddress!.assumingMemoryBound(to: UInt8.self)
        guard k > 1 else { d.update(from: s, count: n); return }
        let count = n / k
        for j in 0 ..< k {
            let out = d + j * count
            var ip = s + j
            for i in 0 ..< count {
                out[i] = ip.pointee
                ip += k
            }
        }
        let tail = count * k
        if tail < n { (d + tail).update(from: s + tail, count: n - tail) }
    }

    /// Reverses ``shuffle(_:into:elementSize:)``.
    static func unshuffle(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer, elementSize k: Int) {
        precondition(src.count == dst.count)
        let n = src.count
        guard n > 0 else { return }
        let s = src.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let d = dst.baseAddress!.assumingMemoryBound(to: UInt8.self)
        guard k > 1 else { d.update(from: s, count: n); return }
        let count = n / k
        for j in 0 ..< k {
            let inp = s + j * count
            var op = d + j
            for i in 0 ..< count {
                op.pointee = inp[i]
                op += k
            }
        }
        let tail = count * k
        if tail < n { (d + tail).update(from: s + tail, count: n - tail) }
    }
}
