import Foundation

/// Bytes read by byte ranges: the abstraction under ``RangedBrineFile``, so
/// that the same header validation, chunk verification and decoding run on
/// a local file, a buffer, or a remote object (HTTP range requests, S3 —
/// the `BrineRemote` library).
///
/// A conforming type knows the object's total size when it is created (a
/// remote one learns it from its first response) and reads any range inside
/// it. It may serve ranges it already holds (the tail read at open) from
/// memory. It is responsible for its own retries and for never mixing two
/// versions of a changing object (a remote source pins the ETag).
public protocol RangeSource: Sendable {
    /// The object's total size in bytes.
    var size: Int { get }
    /// A name for error messages: a path or URL.
    var name: String { get }
    /// Reads exactly `range.count` bytes starting at byte `range.lowerBound`
    /// into `buffer` (whose count equals `range.count`).
    /// - Throws: ``BrineError`` `.truncated` when the range leaves the object,
    ///   `.io` for transport failures (after the source's own retries), or a
    ///   source-specific code (`.notFound`, `.permissionDenied`, `.objectChanged`).
    func read(_ range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) async throws(BrineError)
}

/// A local file as a ``RangeSource`` (read with `pread(2)`): the reference
/// the remote sources are compared with, and a way to run the ranged reader
/// on local data.
public struct FileRangeSource: RangeSource {
    private let source: ByteSource
    /// The file size in bytes.
    public var size: Int { source.size }
    /// The file path.
    public var name: String { source.path ?? "<file>" }

    /// Opens `path` for reading.
    /// - Throws: ``BrineError`` `.notFound`, `.io`; `.invalidArgument` when
    ///   the path is not a regular file or has a NUL byte.
    public init(path: String) throws(BrineError) {
        source = try ByteSource(path: path, mode: .copy)
    }

    /// Reads `range` with `pread`.
    /// - Throws: ``BrineError`` `.truncated`, `.io`.
    public func read(_ range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) async throws(BrineError) {
        guard buffer.count == range.count else {
            throw BrineError(.invalidArgument, "buffer of \(buffer.count) bytes for a range of \(range.count)", filePath: name)
        }
        try source.read(into: buffer, at: range.lowerBound)
    }
}

/// How a ``RangedBrineFile`` fetches: the open read, request coalescing and
/// concurrency.
public struct RangeReadOptions: Sendable, Hashable {
    /// The bytes read from the end of the object at open (trailer and, in
    /// the common case, the whole header): 64 KiB by default. A larger header
    /// costs one more request.
    public var tailBytes: Int = 64 << 10
    /// The largest request, in bytes, that adjacent chunks are coalesced
    /// into (8 MiB by default). A single chunk larger than this is one request.
    public var coalesceBytes: Int = 8 << 20
    /// The largest gap, in bytes, between two chunks that are still fetched
    /// in one request (alignment padding between arrays); 64 KiB by default.
    public var maxGapBytes: Int = 64 << 10
    /// The number of requests in flight at once (8 by default). Memory for
    /// compressed data is bounded by `concurrentRequests × coalesceBytes`;
    /// uncompressed arrays are fetched straight into their destination.
    public var concurrentRequests: Int = 8

    /// The defaults.
    public init() {}
}
