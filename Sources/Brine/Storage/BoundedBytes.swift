/// A raw byte buffer through which chunk jobs and byte sources turn offsets
/// into pointers: every sub-range is checked against the buffer in debug
/// builds (`assert`, compiled out of release builds, as swift-collections'
/// `Deque._UnsafeHandle` checks its slots), so an offset computed wrongly
/// from a header traps in the test suite instead of reading or writing
/// beside the buffer.
///
/// `origin` lets a buffer stand for part of a larger space: a buffer holding
/// the decoded bytes of chunks 3…5 of an array has `origin` = the byte offset
/// of chunk 3 in the whole array, and is addressed with whole-array offsets.
/// (Before this handle, callers made such pointers by subtracting from an
/// allocation's start, a pointer that points outside any allocation.)
///
/// The handle does not own its bytes; the caller keeps them alive.
struct BoundedBytes: @unchecked Sendable {
    // @unchecked Sendable: a pointer and a length; the workers that share one
    // write disjoint chunks of it, and the owner outlives them (as with the
    // raw pointers this replaces).
    private let start: UnsafeRawPointer?
    /// The size of the buffer in bytes.
    let count: Int
    /// The offset (bytes) in the addressed space of the buffer's first byte.
    let origin: Int
    private let isMutable: Bool

    /// A read-only handle on `buffer`, addressed from `origin`.
    init(_ buffer: UnsafeRawBufferPointer, origin: Int = 0) {
        start = buffer.baseAddress
        count = buffer.count
        self.origin = origin
        isMutable = false
    }

    /// A writable handle on `buffer`, addressed from `origin`.
    init(_ buffer: UnsafeMutableRawBufferPointer, origin: Int = 0) {
        start = UnsafeRawPointer(buffer.baseAddress)
        count = buffer.count
        self.origin = origin
        isMutable = true
    }

    /// The addressed range: `origin ..< origin + count`.
    var range: Range<Int> { origin ..< origin + count }

    /// The pointer to the byte at `offset` (addressed space); `offset` may be
    /// the end of the range (a pointer to be read from with a count of 0).
    @inline(__always)
    private func address(_ offset: Int, _ byteCount: Int) -> UnsafeRawPointer? {
        assert(byteCount >= 0 && offset >= origin && offset - origin <= count - byteCount,
               "bytes \(offset) ..< \(offset + byteCount) outside the buffer's \(range)")
        return start.map { $0 + (offset - origin) }
    }

    /// The `byteCount` bytes at `offset` (addressed space), read-only.
    @inline(__always)
    func bytes(at offset: Int, count byteCount: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: address(offset, byteCount), count: byteCount)
    }

    /// The bytes of `range` (addressed space), read-only.
    @inline(__always)
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        bytes(at: range.lowerBound, count: range.count)
    }

    /// The `byteCount` bytes at `offset` (addressed space), writable; the
    /// handle must have been made from a mutable buffer.
    @inline(__always)
    func mutableBytes(at offset: Int, count byteCount: Int) -> UnsafeMutableRawBufferPointer {
        assert(isMutable, "writing through a read-only handle")
        return UnsafeMutableRawBufferPointer(start: address(offset, byteCount).map { UnsafeMutableRawPointer(mutating: $0) }, count: byteCount)
    }

    /// The bytes of `range` (addressed space), writable.
    @inline(__always)
    func mutableBytes(_ range: Range<Int>) -> UnsafeMutableRawBufferPointer {
        mutableBytes(at: range.lowerBound, count: range.count)
    }
}

extension ArrayInfo {
    /// The bytes chunk `c` decodes to, as offsets in the whole decoded array
    /// (dtype ``dtype``, ``byteCount`` bytes): its elements times the dtype's
    /// item size, starting at its first element's offset.
    func decodedRange(ofChunk c: Int) -> Range<Int> {
        let sis = storedDType.itemSize
        let first = c * (chunkBytes / sis) * dtype.itemSize
        return first ..< first + rawRange(ofChunk: c).count / sis * dtype.itemSize
    }
}
