import CLZ4
import CZstd

/// How each chunk's bytes are compressed (docs/FORMAT.md, "codec codes").
public enum Codec: Sendable, Hashable, CustomStringConvertible {
    /// Stored as is. Arrays with this codec (and no filter, no narrowing) are
    /// contiguous in the file and load by mmap with zero copies.
    case none
    /// LZ4 block format (liblz4 `LZ4_compress_default`); very fast, modest ratio.
    case lz4
    /// Zstandard frame format (libzstd `ZSTD_compressCCtx`) at a level from
    /// -7 (fastest) to 22 (smallest); level 1–3 is the usual choice.
    case zstd(level: Int)

    /// The one-byte codec code stored in the array table.
    var code: UInt8 {
        switch self {
        case .none: return 0
        case .lz4: return 1
        case .zstd: return 2
        }
    }

    /// The level stored next to the code (0 unless zstd).
    var level: Int {
        if case .zstd(let l) = self { return l }
        return 0
    }

    /// Rebuilds a codec from its stored code and level; `nil` for unknown codes.
    init?(code: UInt8, level: Int) {
        switch code {
        case 0: self = .none
        case 1: self = .lz4
        case 2: self = .zstd(level: level)
        default: return nil
        }
    }

    /// `"none"`, `"lz4"`, `"zstd-3"`.
    public var description: String {
        switch self {
        case .none: return "none"
        case .lz4: return "lz4"
        case .zstd(let l): return "zstd-\(l)"
        }
    }

    /// `true` unless `.none`.
    public var compresses: Bool {
        if case .none = self { return false }
        return true
    }

    /// The largest LZ4 acceleration factor liblz4 uses (`LZ4_ACCELERATION_MAX`).
    static let maxLZ4Acceleration = 65_537

    /// The largest possible compressed size of `rawBytes` bytes.
    func compressBound(_ rawBytes: Int) -> Int {
        switch self {
        case .none: return rawBytes
        case .lz4: return Int(LZ4_compressBound(Int32(clamping: rawBytes)))
        case .zstd: return ZSTD_compressBound(rawBytes)
        }
    }

    /// The largest raw chunk size a codec accepts, in bytes.
    static let maxChunkBytes = 1 << 30

    /// The most raw bytes that one stored byte can decode to in a conformant
    /// stream of this codec; a chunk whose declared raw size exceeds
    /// `stored bytes × maxExpansion` is corrupt, and is rejected before
    /// anything is allocated for it (docs/FORMAT.md, "Limits").
    /// - none: 1 (stored bytes are the raw bytes).
    /// - lz4: 255. In an LZ4 block every output byte comes from a literal
    ///   (one input byte each) or a match; a match costs a token and a 2-byte
    ///   offset for at most 19 bytes, and each further length byte adds at
    ///   most 255 bytes, so no stream decodes to more than 255 × its size
    ///   (`LZ4_compress_default` on 1 GiB of zeros reaches 255.0).
    /// - zstd: 32,768. Every Zstandard block (RFC 8878) takes at least 4
    ///   bytes (3-byte block header and 1 byte of content) and regenerates at
    ///   most Block_Maximum_Size = 128 KiB (`ZSTD_compress` on 1 GiB of zeros
    ///   reaches 32,750).
    var maxExpansion: Int {
        switch self {
        case .none: return 1
        case .lz4: return 255
        case .zstd: return 1 << 15
        }
    }
}

/// Per-thread compression and decompression state (libzstd contexts are
/// reusable and expensive to create). Not thread-safe: one per worker.
final class CodecContext {
    private var cctx: OpaquePointer?
    private var dctx: OpaquePointer?

    init() {}

    deinit {
        if let cctx { ZSTD_freeCCtx(cctx) }
        if let dctx { ZSTD_freeDCtx(dctx) }
    }

    /// Compresses `src` into `dst` (which must hold `codec.compressBound(src.count)` bytes).
    /// - Parameter lz4Acceleration: `LZ4_compress_fast`'s acceleration (1 = default ratio).
    /// - Returns: the compressed size in bytes.
    /// - Throws: ``BrineError`` `.compressionFailed`.
    func compress(_ codec: Codec, _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer,
                  lz4Acceleration: Int = 1) throws(BrineError) -> Int {
        switch codec {
        case .none:
            precondition(dst.count >= src.count)
            if src.count > 0 { dst.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: src.count) }
            return src.count
        case .lz4:
            guard src.count <= Int(LZ4_MAX_INPUT_SIZE) else {
                throw BrineError(.compressionFailed, "chunk of \(src.count) bytes exceeds LZ4's input limit")
            }
            if src.count == 0 { return 0 }
            let n = LZ4_compress_fast(
                src.baseAddress!.assumingMemoryBound(to: CChar.self),
                dst.baseAddress!.assumingMemoryBound(to: CChar.self),
                Int32(src.count), Int32(clamping: dst.count), Int32(lz4Acceleration))
            guard n > 0 else { throw BrineError(.compressionFailed, "LZ4_compress_fast failed") }
            return Int(n)
        case .zstd(let level):
            if cctx == nil { cctx = ZSTD_createCCtx() }
            guard let cctx else { throw BrineError(.compressionFailed, "ZSTD_createCCtx failed") }
            let n = ZSTD_compressCCtx(cctx, dst.baseAddress, dst.count, src.baseAddress, src.count, Int32(level))
            if ZSTD_isError(n) != 0 {
                throw BrineError(.compressionFailed, "zstd: " + String(cString: ZSTD_getErrorName(n)))
            }
            return n
        }
    }

    /// Compresses a byte-shuffled chunk of `planes`-byte elements as one
    /// Zstandard frame per byte plane, concatenated (docs/FORMAT.md allows
    /// several frames per chunk; a standard decoder reads them in sequence).
    ///
    /// The planes of shuffled numbers differ completely (sign/exponent bytes
    /// compress ~2.5×, low mantissa bytes not at all): separate frames give
    /// each plane its own entropy tables and let zstd store the incompressible
    /// ones raw at memcpy speed. Matches shorter than 7 bytes in such planes
    /// are noise that costs more than a Huffman-coded literal, so the
    /// minimum match length is 7 (zstd's largest for its fast strategies).
    /// On MiniLM's float32 weights at level 1 this takes the ratio from
    /// 1.199 to 1.207 and compresses faster than one frame.
    /// - Returns: the total compressed size in bytes.
    /// - Throws: ``BrineError`` `.compressionFailed`.
    func compressZstdPlanes(level: Int, planes k: Int, _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws(BrineError) -> Int {
        if cctx == nil { cctx = ZSTD_createCCtx() }
        guard let cctx else { throw BrineError(.compressionFailed, "ZSTD_createCCtx failed") }
        ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, Int32(level))
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_minMatch, 7)
        let m = src.count / k
        var written = 0
        for j in 0 ..< k {
            let lo = j * m
            let hi = j == k - 1 ? src.count : lo + m
            let n = ZSTD_compress2(cctx, dst.baseAddress! + written, dst.count - written, src.baseAddress! + lo, hi - lo)
            if ZSTD_isError(n) != 0 {
                throw BrineError(.compressionFailed, "zstd: " + String(cString: ZSTD_getErrorName(n)))
            }
            written += n
        }
        return written
    }

    /// Extra output capacity, beyond one frame's compress bound, for the
    /// frame headers of per-plane compression (8 planes at most).
    static let planeFramesSlack = 8 * 64

    /// Decompresses `src` into `dst`, which is exactly the declared raw size.
    /// Never writes past `dst`, so a decompression bomb stops at the declared size.
    /// - Throws: ``BrineError`` `.decompressionFailed` when the data is corrupt
    ///   or does not decompress to exactly `dst.count` bytes.
    func decompress(_ codec: Codec, _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws(BrineError) {
        switch codec {
        case .none:
            guard src.count == dst.count else {
                throw BrineError(.decompressionFailed, "stored chunk of \(src.count) bytes, expected \(dst.count)")
            }
            if src.count > 0 { dst.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: src.count) }
        case .lz4:
            if dst.count == 0 && src.count == 0 { return }
            guard src.count <= Int(Int32.max), dst.count <= Int(Int32.max), src.count > 0, dst.count > 0 else {
                throw BrineError(.decompressionFailed, "LZ4 chunk sizes out of range (stored \(src.count), raw \(dst.count))")
            }
            let n = LZ4_decompress_safe(
                src.baseAddress!.assumingMemoryBound(to: CChar.self),
                dst.baseAddress!.assumingMemoryBound(to: CChar.self),
                Int32(src.count), Int32(dst.count))
            guard n == Int32(dst.count) else {
                throw BrineError(.decompressionFailed, n < 0 ? "corrupt LZ4 data" : "LZ4 chunk decompressed to \(n) bytes, expected \(dst.count)")
            }
        case .zstd:
            if dctx == nil { dctx = ZSTD_createDCtx() }
            guard let dctx else { throw BrineError(.decompressionFailed, "ZSTD_createDCtx failed") }
            let n = ZSTD_decompressDCtx(dctx, dst.baseAddress, dst.count, src.baseAddress, src.count)
            if ZSTD_isError(n) != 0 {
                throw BrineError(.decompressionFailed, "zstd: " + String(cString: ZSTD_getErrorName(n)))
            }
            guard n == dst.count else {
                throw BrineError(.decompressionFailed, "zstd chunk decompressed to \(n) bytes, expected \(dst.count)")
            }
        }
    }
}
