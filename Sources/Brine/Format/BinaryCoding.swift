/// Appends the primitive encodings of docs/FORMAT.md ("Primitives") to a
/// growing byte array: little-endian fixed-width integers, unsigned LEB128
/// varints, zigzag varints, length-prefixed strings.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    @inline(__always) mutating func u8(_ v: UInt8) { bytes.append(v) }

    @inline(__always) mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
    }

    @inline(__always) mutating func u32(_ v: UInt32) {
        for i in 0 ..< 4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
    }

    @inline(__always) mutating func u64(_ v: UInt64) {
        for i in 0 ..< 8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    /// Unsigned LEB128: 7 bits a byte, low groups first, high bit set on all
    /// but the last byte; at most 10 bytes for a `UInt64`.
    @inline(__always) mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    @inline(__always) mutating func varint(_ v: Int) {
        precondition(v >= 0, "negative varint")
        varint(UInt64(v))
    }

    /// Zigzag (`(v << 1) ^ (v >> 63)`) then LEB128.
    @inline(__always) mutating func zigzag(_ v: Int64) {
        varint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
    }

    /// Varint byte length, then the UTF-8 bytes.
    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { buf in
            varint(buf.count)
            bytes.append(contentsOf: buf)
        }
    }

    mutating func raw(_ b: UnsafeRawBufferPointer) { bytes.append(contentsOf: b) }
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
}

/// A bounds-checked cursor over untrusted bytes. Every read checks the
/// remaining length first and throws ``BrineError`` `.corruptHeader` (or the
/// error code given at init) with the absolute file offset of the failure;
/// nothing is ever read out of bounds.
struct ByteReader {
    let base: UnsafeRawBufferPointer
    private(set) var position: Int = 0
    /// The absolute file offset of `base[0]`, for error messages.
    let fileOffset: UInt64
    let errorCode: BrineError.Code
    let filePath: String?

    init(_ base: UnsafeRawBufferPointer, fileOffset: UInt64, errorCode: BrineError.Code = .corruptHeader, filePath: String? = nil) {
        self.base = base
        self.fileOffset = fileOffset
        self.errorCode = errorCode
        self.filePath = filePath
    }

    var remaining: Int { base.count - position }
    var isAtEnd: Bool { position == base.count }
    var absoluteOffset: UInt64 { fileOffset &+ UInt64(position) }

    func fail(_ message: String) -> BrineError {
        BrineError(errorCode, message, filePath: filePath, byteOffset: absoluteOffset)
    }

    @inline(__always) mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws(BrineError) {
        guard n >= 0, n <= remaining else {
            throw fail("\(what()) needs \(n) \(n == 1 ? "byte" : "bytes"), \(remaining) left")
        }
    }

    @inline(__always)
    mutating func u8(_ what: @autoclosure () -> String = "byte") throws(BrineError) -> UInt8 {
        try need(1, what())
        let v = base[position]
        position += 1
        return v
    }

    mutating func u16(_ what: @autoclosure () -> String = "u16") throws(BrineError) -> UInt16 {
        try littleEndian(UInt16.self, what())
    }

    mutating func u32(_ what: @autoclosure () -> String = "u32") throws(BrineError) -> UInt32 {
        try littleEndian(UInt32.self, what())
    }

    @inline(__always)
    mutating func u64(_ what: @autoclosure () -> String = "u64") throws(BrineError) -> UInt64 {
        try need(8, what())
        let v = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt64.self))
        position += 8
        return v
    }

    /// A little-endian unsigned integer of `T`'s width.
    @inline(__always)
    private mutating func littleEndian<T: FixedWidthInteger & UnsignedInteger>(
        _: T.Type, _ what: @autoclosure () -> String
    ) throws(BrineError) -> T {
        let width = MemoryLayout<T>.size
        try need(width, what())
        var v: T = 0
        for i in 0 ..< width { v |= T(base[position + i]) << (8 * i) }
        position += width
        return v
    }

    /// An unsigned LEB128 varint of at most 10 bytes that fits in 64 bits.
    @inline(__always)
    mutating func varint(_ what: @autoclosure () -> String = "varint") throws(BrineError) -> UInt64 {
        // One byte (every small field of an array entry): no loop.
        if position < base.count, base[position] < 0x80 {
            position += 1
            return UInt64(base[position - 1])
        }
        return try varintLong(what())
    }

    /// ``varint(_:)`` past its one-byte fast path.
    private mutating func varintLong(_ what: @autoclosure () -> String) throws(BrineError) -> UInt64 {
        // Eight bytes left: one load finds a varint of up to eight bytes (the
        // lowest byte with its high bit clear ends it) and gathers its 7-bit
        // groups without a loop: a 200-array header has over a thousand
        // multi-byte varints (offsets, sizes, dimensions), and the byte loop
        // below was a tenth of its decoding. Eight bytes hold 56 bits: no
        // overflow is possible.
        if remaining >= 8 {
            let w = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt64.self))
            let stops = ~w & 0x8080_8080_8080_8080
            if stops != 0 {
                let bits = stops.trailingZeroBitCount + 1  // 8 × the varint's length
                var x = (bits == 64 ? w : w & ((1 << UInt64(bits)) - 1)) & 0x7F7F_7F7F_7F7F_7F7F
                x = (x & 0x007F_007F_007F_007F) | ((x & 0x7F00_7F00_7F00_7F00) >> 1)  // 14 bits per 16
                x = (x & 0x0000_3FFF_0000_3FFF) | ((x & 0x3FFF_0000_3FFF_0000) >> 2)  // 28 bits per 32
                x = (x & 0x0000_0000_0FFF_FFFF) | ((x & 0x0FFF_FFFF_0000_0000) >> 4)  // 56 bits
                position += bits >> 3
                return x
            }
        }
        // Ten bytes left: no bounds check per byte. A varint ending within
        // nine bytes cannot overflow; the tenth byte takes the checked loop.
        if remaining >= 10 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            var i = position
            while shift < 63 {
                let b = base[i]
                i += 1
                result |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 {
                    position = i
                    return result
                }
                shift += 7
            }
        }
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < base.count else { throw fail("\(what()): varint runs past the end") }
            let b = base[position]
            position += 1
            if shift == 63 && b > 1 { throw fail("\(what()): varint overflows 64 bits") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw fail("\(what()): varint longer than 10 bytes") }
        }
    }

    /// A varint that must fit in a non-negative `Int` and be ≤ `max`.
    @inline(__always)
    mutating func count(_ what: @autoclosure () -> String, max: Int, code: BrineError.Code = .limitExceeded) throws(BrineError) -> Int {
        let start = absoluteOffset
        let v = try varint(what())
        guard v <= UInt64(max) else {
            throw BrineError(code, "\(what()) is \(v), over the limit of \(max)", filePath: filePath, byteOffset: start)
        }
        return Int(v)
    }

    @inline(__always)
    mutating func zigzag(_ what: @autoclosure () -> String = "integer") throws(BrineError) -> Int64 {
        let u = try varint(what())
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    /// A slice of `n` bytes (no copy).
    mutating func bytes(_ n: Int, _ what: @autoclosure () -> String = "bytes") throws(BrineError) -> UnsafeRawBufferPointer {
        try need(n, what())
        let s = UnsafeRawBufferPointer(rebasing: base[position ..< position + n])
        position += n
        return s
    }

    /// `true` when every byte is below 0x80 (checked eight bytes at a time).
    static func isASCII(_ b: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        var acc: UInt64 = 0
        while i + 8 <= b.count {
            acc |= b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < b.count {
            acc |= UInt64(b[i])
            i += 1
        }
        return acc & 0x8080_8080_8080_8080 == 0
    }

    /// A varint length, then that many bytes of valid UTF-8.
    mutating func string(_ what: @autoclosure () -> String = "string") throws(BrineError) -> String {
        try stringAndBytes(what()).string
    }

    /// The bytes of a `string` (docs/FORMAT.md, "Primitives") after checking
    /// that they are valid UTF-8, without making a `String` (an array
    /// table's paths: ``ArrayTableStorage`` keeps their bytes).
    /// - Throws: ``BrineError`` with the reader's error code: a length past
    ///   the end, or bytes that are not valid UTF-8.
    mutating func validatedStringBytes(_ what: @autoclosure () -> String = "string") throws(BrineError) -> UnsafeRawBufferPointer {
        let start = absoluteOffset
        let n = try count("\(what()) length", max: remaining, code: errorCode)
        let b = try bytes(n, what())
        // Fast path: ASCII (every path Brine writes for a Codable model).
        if ByteReader.isASCII(b) { return b }
        guard String(validating: b.bindMemory(to: UInt8.self), as: UTF8.self) != nil else {
            throw BrineError(errorCode, "\(what()) is not valid UTF-8", filePath: filePath, byteOffset: start)
        }
        return b
    }

    /// ``string(_:)``, also returning the string's bytes where they lie.
    mutating func stringAndBytes(_ what: @autoclosure () -> String = "string") throws(BrineError) -> (string: String, bytes: UnsafeRawBufferPointer) {
        let start = absoluteOffset
        let n = try count("\(what()) length", max: remaining, code: errorCode)
        let b = try bytes(n, what())
        let u8 = b.bindMemory(to: UInt8.self)
        // Fast path: ASCII (every path Brine writes for a Codable model) needs no decoding.
        if ByteReader.isASCII(b) { return (String(decoding: u8, as: UTF8.self), b) }
        guard let s = String(validating: u8, as: UTF8.self) else {
            throw BrineError(errorCode, "\(what()) is not valid UTF-8", filePath: filePath, byteOffset: start)
        }
        return (s, b)
    }
}
