import CBZip2
import CBrineZlib
import CLZ4
import CLZMA

/// The compression of a joblib file, told by its first bytes (the prefixes
/// of joblib's `compressor.py`).
public enum PickleCompression: String, Sendable, Hashable, CaseIterable {
    /// A plain pickle stream (joblib `compress=0`, `pickle.dump`).
    case none
    /// A zlib stream (joblib `'zlib'`, the default of `compress=N`): `0x78`.
    case zlib
    /// A gzip stream (joblib `'gzip'`): `1f 8b`.
    case gzip
    /// A bzip2 stream (joblib `'bz2'`): `BZh`.
    case bz2
    /// An xz stream (joblib `'xz'`): `fd 37 7a 58 5a 00`.
    case xz
    /// A legacy `.lzma` stream (joblib `'lzma'`): `5d 00 00`.
    case lzma
    /// An LZ4 frame (joblib `'lz4'`): `04 22 4d 18`.
    case lz4

    /// The compression whose magic starts `head`; `.none` when none does.
    static func detect(_ head: UnsafeRawBufferPointer) -> PickleCompression {
        func starts(_ m: [UInt8]) -> Bool { head.count >= m.count && head.prefix(m.count).elementsEqual(m) }
        if starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return .xz }
        if starts([0x04, 0x22, 0x4D, 0x18]) { return .lz4 }
        if starts([0x1F, 0x8B]) { return .gzip }
        if starts([0x42, 0x5A, 0x68]) { return .bz2 }
        if starts([0x5D, 0x00, 0x00]) { return .lzma }
        // zlib: CMF 0x78 (deflate, 32 KiB window) and FCHECK making CMF*256+FLG a multiple of 31.
        if head.count >= 2 && head[0] == 0x78 && (UInt16(head[0]) << 8 | UInt16(head[1])) % 31 == 0 { return .zlib }
        return .none
    }
}

/// A streaming decompressor over a whole compressed input held in memory
/// (a mapping of the file). Each call produces the next bytes; memory is
/// bounded by the codec's window, never by the declared or decoded size.
class StreamDecoder {
    let input: UnsafeRawBufferPointer
    /// Compressed bytes consumed so far.
    var consumed = 0

    init(input: UnsafeRawBufferPointer) throws(BrineError) { self.input = input }

    /// Decodes up to `out.count` bytes into `out`.
    /// - Returns: the bytes written; 0 only at the end of the stream.
    /// - Throws: ``BrineError`` `.decompressionFailed` (corrupt or truncated stream).
    func decode(into out: UnsafeMutableRawBufferPointer) throws(BrineError) -> Int { 0 }

    static func make(_ c: PickleCompression, input: UnsafeRawBufferPointer) throws(BrineError) -> StreamDecoder {
        switch c {
        case .none: preconditionFailure("no decoder for an uncompressed stream")
        case .zlib: return try ZlibStreamDecoder(input: input, gzip: false)
        case .gzip: return try ZlibStreamDecoder(input: input, gzip: true)
        case .bz2: return try BZip2StreamDecoder(input: input)
        case .xz, .lzma: return try LZMAStreamDecoder(input: input)
        case .lz4: return try LZ4FrameStreamDecoder(input: input)
        }
    }

    func failed(_ what: String) -> BrineError {
        BrineError(.decompressionFailed, what, byteOffset: UInt64(consumed))
    }

    /// One call of a zlib or libbz2 decoder: points `stream` at the unread
    /// input (from ``consumed``) and the free part of `out` (from
    /// `produced`), at most 1 GiB each since both libraries count in 32
    /// bits, runs `step`, and advances ``consumed`` and `produced` by what
    /// it used and made.
    /// - Returns: `step`'s status and the bytes it consumed and produced.
    func advance<S: StreamWindows>(
        _ stream: inout S, _ out: UnsafeMutableRawBufferPointer, _ produced: inout Int, _ step: (inout S) -> Int32
    ) -> (status: Int32, used: Int, made: Int) {
        let inCount = Swift.min(input.count - consumed, 1 << 30)
        let next = (input.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!).advanced(by: consumed)
        stream.next_in = UnsafeMutablePointer(mutating: next.assumingMemoryBound(to: S.Byte.self))
        stream.avail_in = UInt32(inCount)
        let outCount = Swift.min(out.count - produced, 1 << 30)
        stream.next_out = (out.baseAddress! + produced).assumingMemoryBound(to: S.Byte.self)
        stream.avail_out = UInt32(outCount)
        let status = step(&stream)
        let used = inCount - Int(stream.avail_in), made = outCount - Int(stream.avail_out)
        consumed += used
        produced += made
        return (status, used, made)
    }
}

/// The input and output windows that zlib's `z_stream` and libbz2's
/// `bz_stream` both have (pointers and 32-bit byte counts).
protocol StreamWindows {
    associatedtype Byte
    var next_in: UnsafeMutablePointer<Byte>! { get set }
    var avail_in: UInt32 { get set }
    var next_out: UnsafeMutablePointer<Byte>! { get set }
    var avail_out: UInt32 { get set }
}

extension z_stream: StreamWindows {}
extension bz_stream: StreamWindows {}

/// zlib and gzip (RFC 1950, RFC 1952) with zlib's `inflate`; concatenated
/// gzip members are read one after the other, as Python's `gzip` does.
final class ZlibStreamDecoder: StreamDecoder {
    private var stream = z_stream()
    private let gzip: Bool
    private var ended = false

    init(input: UnsafeRawBufferPointer, gzip: Bool) throws(BrineError) {
        self.gzip = gzip
        try super.init(input: input)
        guard inflateInit2_(&stream, gzip ? MAX_WBITS + 16 : MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw BrineError(.io, "zlib inflateInit2 failed")
        }
    }

    deinit { inflateEnd(&stream) }

    override func decode(into out: UnsafeMutableRawBufferPointer) throws(BrineError) -> Int {
        var produced = 0
        while produced < out.count {
            if ended {
                // Another gzip member may follow; anything else is an error.
                guard consumed < input.count else { return produced }
                guard gzip, input.count - consumed >= 2, input[consumed] == 0x1F, input[consumed + 1] == 0x8B else {
                    throw failed("\(input.count - consumed) bytes follow the end of the compressed stream")
                }
                inflateReset(&stream)
                ended = false
            }
            let r = advance(&stream, out, &produced) { CBrineZlib.inflate(&$0, Z_NO_FLUSH) }.status
            switch r {
            case Z_OK: break
            case Z_STREAM_END: ended = true
            case Z_BUF_ERROR:
                if consumed >= input.count { throw failed("the compressed stream is truncated") }
            default:
                throw failed("corrupt \(gzip ? "gzip" : "zlib") data (zlib error \(r))")
            }
        }
        return produced
    }
}

/// bzip2 with libbz2's streaming `BZ2_bzDecompress`; concatenated streams
/// are read one after the other, as Python's `bz2` does.
final class BZip2StreamDecoder: StreamDecoder {
    private var stream = bz_stream()
    private var ended = false
    private var open = false

    override init(input: UnsafeRawBufferPointer) throws(BrineError) {
        try super.init(input: input)
        try start()
    }

    private func start() throws(BrineError) {
        stream = bz_stream()
        guard BZ2_bzDecompressInit(&stream, 0, 0) == BZ_OK else { throw BrineError(.io, "BZ2_bzDecompressInit failed") }
        open = true
    }

    deinit { if open { BZ2_bzDecompressEnd(&stream) } }

    override func decode(into out: UnsafeMutableRawBufferPointer) throws(BrineError) -> Int {
        var produced = 0
        while produced < out.count {
            if ended {
                guard consumed < input.count else { return produced }
                BZ2_bzDecompressEnd(&stream)
                open = false
                try start()
                ended = false
            }
            let (r, used, made) = advance(&stream, out, &produced) { BZ2_bzDecompress(&$0) }
            switch r {
            case BZ_OK:
                if used == 0 && made == 0 && consumed >= input.count { throw failed("the bzip2 stream is truncated") }
            case BZ_STREAM_END: ended = true
            default: throw failed("corrupt bzip2 data (libbz2 error \(r))")
            }
        }
        return produced
    }
}

/// xz and legacy `.lzma` with liblzma's `lzma_auto_decoder` (concatenated
/// xz streams accepted), with a 256 MiB cap on the decoder's own memory.
final class LZMAStreamDecoder: StreamDecoder {
    private var stream = lzma_stream()
    private var ended = false

    override init(input: UnsafeRawBufferPointer) throws(BrineError) {
        try super.init(input: input)
        let r = lzma_auto_decoder(&stream, 256 << 20, 0x08 /* LZMA_CONCATENATED */)
        guard r == LZMA_OK else { throw BrineError(.io, "lzma_auto_decoder failed (\(r.rawValue))") }
    }

    deinit { lzma_end(&stream) }

    override func decode(into out: UnsafeMutableRawBufferPointer) throws(BrineError) -> Int {
        var produced = 0
        while produced < out.count && !ended {
            let inCount = Swift.min(input.count - consumed, 1 << 30)
            stream.next_in = (input.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!).advanced(by: consumed).assumingMemoryBound(to: UInt8.self)
            stream.avail_in = inCount
            let outCount = out.count - produced
            stream.next_out = (out.baseAddress! + produced).assumingMemoryBound(to: UInt8.self)
            stream.avail_out = outCount
            let r = lzma_code(&stream, consumed + inCount >= input.count ? LZMA_FINISH : LZMA_RUN)
            consumed += inCount - stream.avail_in
            produced += outCount - stream.avail_out
            switch r {
            case LZMA_OK: break
            case LZMA_STREAM_END: ended = true
            case LZMA_MEMLIMIT_ERROR: throw BrineError(.limitExceeded, "the xz/lzma stream needs more than 256 MiB of decoder memory", byteOffset: UInt64(consumed))
            case LZMA_BUF_ERROR: throw failed("the xz/lzma stream is truncated")
            default: throw failed("corrupt xz/lzma data (liblzma error \(r.rawValue))")
            }
        }
        return produced
    }
}

/// LZ4 frames (the format of `lz4.frame`, which joblib uses) with liblz4's
/// `LZ4F_decompress`; concatenated frames are read one after the other.
final class LZ4FrameStreamDecoder: StreamDecoder {
    private var context: OpaquePointer?
    private var frameOpen = false

    override init(input: UnsafeRawBufferPointer) throws(BrineError) {
        try super.init(input: input)
        var ctx: OpaquePointer?
        guard LZ4F_isError(LZ4F_createDecompressionContext(&ctx, UInt32(LZ4F_VERSION))) == 0, let ctx else {
            throw BrineError(.io, "LZ4F_createDecompressionContext failed")
        }
        context = ctx
    }

    deinit { LZ4F_freeDecompressionContext(context) }

    override func decode(into out: UnsafeMutableRawBufferPointer) throws(BrineError) -> Int {
        var produced = 0
        while produced < out.count {
            let inLeft = input.count - consumed
            if inLeft == 0 {
                if frameOpen { throw failed("the LZ4 frame is truncated") }
                return produced
            }
            var inCount = Swift.min(inLeft, 1 << 30)
            var outCount = out.count - produced
            let r = LZ4F_decompress(context, out.baseAddress! + produced, &outCount, input.baseAddress! + consumed, &inCount, nil)
            if LZ4F_isError(r) != 0 {
                throw failed("corrupt LZ4 frame (\(String(cString: LZ4F_getErrorName(r))))")
            }
            consumed += inCount
            produced += outCount
            frameOpen = r != 0
            if inCount == 0 && outCount == 0 && frameOpen && consumed >= input.count { throw failed("the LZ4 frame is truncated") }
        }
        return produced
    }
}
