/// Reverses the byte order of every element of a buffer, in place: the
/// conversion between big-endian and little-endian data (NumPy `.npy` files
/// with a `'>'` descr are big-endian; Brine stores little-endian).
enum ByteSwap {
    /// Swaps the bytes of each `elementSize`-byte element of `buffer` in place.
    /// - Parameters:
    ///   - buffer: the elements; its count must be a multiple of `elementSize`.
    ///     Any alignment is accepted.
    ///   - elementSize: 1, 2, 4 or 8 bytes; 1 leaves the buffer unchanged.
    static func swapInPlace(_ buffer: UnsafeMutableRawBufferPointer, elementSize: Int) {
        precondition(elementSize == 1 || elementSize == 2 || elementSize == 4 || elementSize == 8,
                     "element size \(elementSize) is not 1, 2, 4 or 8")
        precondition(buffer.count % elementSize == 0, "buffer is not a whole number of elements")
        guard elementSize > 1, let base = buffer.baseAddress else { return }
        let count = buffer.count / elementSize
        switch elementSize {
        case 2:
            for i in 0 ..< count {
                let o = i &* 2
                base.storeBytes(of: base.loadUnaligned(fromByteOffset: o, as: UInt16.self).byteSwapped, toByteOffset: o, as: UInt16.self)
            }
        case 4:
            for i in 0 ..< count {
                let o = i &* 4
                base.storeBytes(of: base.loadUnaligned(fromByteOffset: o, as: UInt32.self).byteSwapped, toByteOffset: o, as: UInt32.self)
            }
        default:
            for i in 0 ..< count {
                let o = i &* 8
                base.storeBytes(of: base.loadUnaligned(fromByteOffset: o, as: UInt64.self).byteSwapped, toByteOffset: o, as: UInt64.self)
            }
        }
    }
}
