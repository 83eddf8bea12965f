/// The uncompressed bytes of a pickle or joblib stream, read forward once:
/// either a flat buffer (a mapping of an uncompressed file, or memory) or
/// a decompressor refilling a 256 KiB window. Every read is checked
/// against what is left; array data is read in bulk (a zero-copy view of
/// the mapping when aligned, else one copy or one decode into the array's
/// own storage), never byte by byte.
final class PickleInput {
    private let source: ByteSource
    private let flat: UnsafeRawBufferPointer?
    private let decoder: StreamDecoder?
    private let window: UnsafeMutableRawBufferPointer
    private var windowStart = 0
    private var windowEnd = 0
    private var streamEnded = false
    /// Uncompressed bytes produced so far by the decoder (stream mode).
    private var produced = 0
    /// The cap on uncompressed bytes (stream mode).
    let maxDecompressedBytes: Int
    /// The position in the uncompressed stream.
    private(set) var offset = 0
    /// Set when reading from a decompressor.
    var isCompressed: Bool { decoder != nil }

    init(source: ByteSource, compression: PickleCompression, maxDecompressedBytes: Int) throws(BrineError) {
        self.source = source
        self.maxDecompressedBytes = maxDecompressedBytes
        let all: UnsafeRawBufferPointer
        if let b = source.borrow(0, source.size) {
            all = b
        } else {
            preconditionFailure("PickleInput needs a mapped or in-memory source")
        }
        if compression == .none {
            flat = all
            decoder = nil
            window = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        } else {
            flat = nil
            decoder = try StreamDecoder.make(compression, input: all)
            window = .allocate(byteCount: 256 << 10, alignment: 64)
        }
    }

    deinit {
        if decoder != nil { window.deallocate() }
    }

    func truncated(_ what: String) -> BrineError {
        BrineError(.truncated, "the pickle stream ends inside \(what)", byteOffset: UInt64(offset))
    }

    /// Refills the window (stream mode) so that it holds at least one byte;
    /// `false` at the end of the stream.
    private func refill() throws(BrineError) -> Bool {
        guard let decoder, !streamEnded else { return false }
        // Keep unread bytes at the front.
        let left = windowEnd - windowStart
        if left > 0 && windowStart > 0 {
            window.baseAddress!.copyMemory(from: window.baseAddress! + windowStart, byteCount: left)
        }
        windowStart = 0
        windowEnd = left
        let n = try decoder.decode(into: UnsafeMutableRawBufferPointer(rebasing: window[windowEnd...]))
        if n == 0 { streamEnded = true }
        try account(n)
        windowEnd += n
        return windowEnd > windowStart
    }

    private func account(_ n: Int) throws(BrineError) {
        produced += n
        guard produced <= maxDecompressedBytes else {
            throw BrineError(.limitExceeded, "the stream decompresses to more than \(maxDecompressedBytes) bytes (PickleReadOptions.maxDecompressedBytes)",
                             byteOffset: UInt64(offset))
        }
    }

    /// `true` when no byte is left.
    func atEnd() throws(BrineError) -> Bool {
        if let flat { return offset >= flat.count }
        if windowStart < windowEnd { return false }
        return !(try refill())
    }

    /// The next byte.
    func byte(_ what: String = "an opcode") throws(BrineError) -> UInt8 {
        if let flat {
            guard offset < flat.count else { throw truncated(what) }
            offset += 1
            return flat[offset - 1]
        }
        if windowStart == windowEnd { guard try refill() else { throw truncated(what) } }
        windowStart += 1
        offset += 1
        return window[windowStart - 1]
    }

    /// A little-endian unsigned integer of `size` bytes (1…8).
    func uint(_ size: Int, _ what: String) throws(BrineError) -> UInt64 {
        var v: UInt64 = 0
        for i in 0 ..< size { v |= UInt64(try byte(what)) << (8 * UInt64(i)) }
        return v
    }

    /// Exactly `count` bytes, copied (`count` is checked against `cap` and,
    /// for a flat stream, against what is left before anything is allocated).
    func take(_ count: Int, cap: Int, _ what: String) throws(BrineError) -> [UInt8] {
        guard count >= 0, count <= cap else {
            throw BrineError(.limitExceeded, "\(what) of \(count) bytes is over the limit of \(cap) bytes", byteOffset: UInt64(offset))
        }
        if let flat {
            guard count <= flat.count - offset else { throw truncated(what + " (\(count) bytes declared)") }
            let out = Array(UnsafeRawBufferPointer(rebasing: flat[offset ..< offset + count]))
            offset += count
            return out
        }
        // Grow as bytes arrive: a declared length that lies costs nothing.
        var out: [UInt8] = []
        out.reserveCapacity(Swift.min(count, 1 << 20))
        while out.count < count {
            if windowStart == windowEnd { guard try refill() else { throw truncated(what + " (\(count) bytes declared)") } }
            let k = Swift.min(count - out.count, windowEnd - windowStart)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: window[windowStart ..< windowStart + k]))
            windowStart += k
            offset += k
        }
        return out
    }

    /// Skips `count` bytes.
    func skip(_ count: Int, _ what: String) throws(BrineError) {
        if let flat {
            guard count <= flat.count - offset else { throw truncated(what) }
            offset += count
            return
        }
        var left = count
        while left > 0 {
            if windowStart == windowEnd { guard try refill() else { throw truncated(what) } }
            let k = Swift.min(left, windowEnd - windowStart)
            windowStart += k
            offset += k
            left -= k
        }
    }

    /// The bytes up to the next `\n` (not included), at most `max` bytes.
    func line(max: Int, _ what: String) throws(BrineError) -> [UInt8] {
        var out: [UInt8] = []
        while true {
            let b = try byte(what)
            if b == 0x0A { return out }
            guard out.count < max else {
                throw BrineError(.limitExceeded, "\(what) is longer than \(max) bytes", byteOffset: UInt64(offset))
            }
            out.append(b)
        }
    }

    /// `count` bytes of array data as storage: a zero-copy view of the
    /// mapping when the stream is flat and the data is aligned to
    /// `alignment`, else one bulk copy (flat) or one decode straight into
    /// new storage (compressed).
    func arrayData(_ count: Int, alignment: Int, cap: Int, _ what: String) throws(BrineError) -> TensorStorage {
        guard count >= 0, count <= cap else {
            throw BrineError(.limitExceeded, "\(what) of \(count) bytes is over the limit of \(cap) bytes", byteOffset: UInt64(offset))
        }
        if let flat {
            guard count <= flat.count - offset else { throw truncated(what + " (\(count) bytes declared)") }
            if let v = source.view(offset, count, alignment: alignment) {
                offset += count
                return v
            }
            let s = TensorStorage(uninitializedByteCount: count)
            if count > 0 { s.baseAddress.copyMemory(from: flat.baseAddress! + offset, byteCount: count) }
            offset += count
            return s
        }
        guard count <= maxDecompressedBytes - offset else {
            throw BrineError(.limitExceeded, "\(what) of \(count) bytes would take the stream past \(maxDecompressedBytes) decompressed bytes (PickleReadOptions.maxDecompressedBytes)",
                             byteOffset: UInt64(offset))
        }
        let s = TensorStorage(uninitializedByteCount: count)
        var done = Swift.min(count, windowEnd - windowStart)
        if done > 0 { s.baseAddress.copyMemory(from: window.baseAddress! + windowStart, byteCount: done) }
        windowStart += done
        offset += done
        while done < count {
            guard !streamEnded, let decoder else { throw truncated(what + " (\(count) bytes declared)") }
            let n = try decoder.decode(into: UnsafeMutableRawBufferPointer(start: s.baseAddress + done, count: count - done))
            if n == 0 { streamEnded = true; throw truncated(what + " (\(count) bytes declared)") }
            try account(n)
            done += n
            offset += n
        }
        return s
    }
}
