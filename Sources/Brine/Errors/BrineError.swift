#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one error type that every Brine API throws (besides the standard
/// `EncodingError`/`DecodingError` of the Codable layer).
///
/// An error carries a stable ``Code`` a program can switch on, a human
/// message, and where it happened: the file, the array path inside the
/// container, the chunk index and the absolute byte offset in the file, each
/// when known. The codes are listed in `docs/FORMAT.md` ("Error codes"); their
/// ``Code/name`` strings never change once released.
///
/// Modelled on swift-nio's `FileSystemError`: ``Code`` wraps a private enum so
/// that new codes can be added without breaking `switch` statements in users'
/// code.
public struct BrineError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable, documented error code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        @usableFromInline
        enum Wrapped: String, Hashable, Sendable, CaseIterable {
            case invalidArgument
            case io
            case notFound
            case notABrineFile
            case unsupportedVersion
            case truncated
            case corruptHeader
            case checksumMismatch
            case limitExceeded
            case layout
            case decompressionFailed
            case compressionFailed
            case unsupportedDType
            case dtypeMismatch
            case shapeMismatch
            case arrayNotFound
            case readOnly
            case invalidInterop
            case unsupportedFeature
            case permissionDenied
            case resourceExhausted
            case conflict
            case recoveryNeeded
            case modelMismatch
            case valueOutOfRange
        }

        @usableFromInline
        let wrapped: Wrapped

        @inlinable
        init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The stable name of the code, e.g. `"checksumMismatch"`; the same
        /// string is printed by `brine verify` and listed in docs/FORMAT.md.
        public var name: String { wrapped.rawValue }
        public var description: String { wrapped.rawValue }

        /// Every code, in declaration order (for documentation and tests).
        public static var allCodes: [Code] { Wrapped.allCases.map(Code.init) }

        /// A caller passed a value outside its documented range (for example an
        /// alignment that is not a power of two, or a shape whose element count
        /// does not match the data).
        public static let invalidArgument = Code(.invalidArgument)
        /// A system call failed; ``BrineError/errno`` holds the `errno` value
        /// and ``BrineError/systemCall`` the call.
        public static let io = Code(.io)
        /// The file or folder does not exist (`ENOENT`).
        public static let notFound = Code(.notFound)
        /// The file, folder or file system refuses the operation (`EACCES`,
        /// `EPERM`, `EROFS`).
        public static let permissionDenied = Code(.permissionDenied)
        /// The disk, quota or file-size limit is exhausted (`ENOSPC`,
        /// `EDQUOT`, `EFBIG`).
        public static let resourceExhausted = Code(.resourceExhausted)
        /// The file's object tree does not fit the requested model type (a
        /// missing key, a value of another kind or range, an array of another
        /// dtype): ``BrineError/cause`` is the `DecodingError` with the
        /// coding path; the message names the file's `brine.root_type`.
        public static let modelMismatch = Code(.modelMismatch)
        /// A value cannot be represented in the requested narrower dtype
        /// without overflowing to infinity or flushing a nonzero value to zero
        /// (float32 → float16/bfloat16); the message names the element index
        /// and value.
        public static let valueOutOfRange = Code(.valueOutOfRange)
        /// The bytes do not start with the Brine magic or end with the Brine
        /// trailer magic.
        public static let notABrineFile = Code(.notABrineFile)
        /// The file's major format version is not one this reader knows.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// The file is shorter than its trailer, header or an array claims.
        public static let truncated = Code(.truncated)
        /// The header (object tree, array table or metadata) is malformed.
        public static let corruptHeader = Code(.corruptHeader)
        /// An XXH3-64 checksum over the trailer, header or a chunk did not match.
        public static let checksumMismatch = Code(.checksumMismatch)
        /// A field exceeds a documented cap (header size, nesting depth, rank,
        /// array count, chunk count, allocation size).
        public static let limitExceeded = Code(.limitExceeded)
        /// Array data regions overlap, leave the data section, or are misaligned.
        public static let layout = Code(.layout)
        /// A chunk could not be decompressed, or did not decompress to exactly
        /// its declared size.
        public static let decompressionFailed = Code(.decompressionFailed)
        /// The compressor reported an error.
        public static let compressionFailed = Code(.compressionFailed)
        /// A dtype code or dtype string is not one Brine knows, or the target
        /// format cannot hold it.
        public static let unsupportedDType = Code(.unsupportedDType)
        /// An array's dtype differs from the one requested.
        public static let dtypeMismatch = Code(.dtypeMismatch)
        /// An array's shape differs from the one requested.
        public static let shapeMismatch = Code(.shapeMismatch)
        /// No array has the requested path.
        public static let arrayNotFound = Code(.arrayNotFound)
        /// A write was attempted through a read-only file or mapping.
        public static let readOnly = Code(.readOnly)
        /// A NumPy `.npy`/`.npz` or safetensors file is malformed.
        public static let invalidInterop = Code(.invalidInterop)
        /// The file uses a feature this version of Brine does not support.
        public static let unsupportedFeature = Code(.unsupportedFeature)
        /// Another handle or process holds the file: a second read-write
        /// session, a flush that did not finish in time, or a file replaced
        /// (renamed over) since a read-write session opened it.
        public static let conflict = Code(.conflict)
        /// The file has an unfinished flush recorded in its journal
        /// (`<file>-journal`) and this open cannot complete it (no write
        /// access to the file or its folder); open it once with write access.
        public static let recoveryNeeded = Code(.recoveryNeeded)
    }

    /// What went wrong, as a stable code.
    public var code: Code
    /// A human-readable explanation (one sentence, no trailing period needed).
    public var message: String
    /// The file the error concerns, when there is one.
    public var filePath: String?
    /// The array path inside the container (e.g. `layers.0.weight`), when known.
    public var arrayPath: String?
    /// The zero-based chunk index inside ``arrayPath``, when known.
    public var chunkIndex: Int?
    /// The absolute byte offset in the file where the problem was found, when known.
    public var byteOffset: UInt64?
    /// The `errno` of a failed system call (codes ``Code/io``,
    /// ``Code/notFound``, ``Code/permissionDenied``,
    /// ``Code/resourceExhausted``), when known.
    public var errno: Int32?
    /// The system call that failed (`"open"`, `"pwrite"`, `"rename"`,
    /// `"mmap"`, …), when the error comes from one.
    public var systemCall: String?
    /// The error that caused this one, when Brine caught an error that is not
    /// a ``BrineError`` (for example one thrown by a `Codable` conformance or
    /// by Foundation) and reports it under a Brine code. It is kept, not
    /// flattened to a string. Not part of equality beyond its description.
    public var cause: (any Error & Sendable)?

    /// Creates an error.
    /// - Parameters:
    ///   - code: the stable code.
    ///   - message: a human-readable explanation.
    ///   - filePath: the file concerned, if any.
    ///   - arrayPath: the array path, if any.
    ///   - chunkIndex: the chunk index, if any.
    ///   - byteOffset: the absolute byte offset in the file, if any.
    ///   - errno: the `errno` of a failed system call, if any.
    public init(
        _ code: Code, _ message: String, filePath: String? = nil, arrayPath: String? = nil,
        chunkIndex: Int? = nil, byteOffset: UInt64? = nil, errno: Int32? = nil
    ) {
        self.code = code
        self.message = message
        self.filePath = filePath
        self.arrayPath = arrayPath
        self.chunkIndex = chunkIndex
        self.byteOffset = byteOffset
        self.errno = errno
    }

    public static func == (a: BrineError, b: BrineError) -> Bool {
        a.code == b.code && a.message == b.message && a.filePath == b.filePath && a.arrayPath == b.arrayPath
            && a.chunkIndex == b.chunkIndex && a.byteOffset == b.byteOffset && a.errno == b.errno
            && a.systemCall == b.systemCall && a.cause.map { "\($0)" } == b.cause.map { "\($0)" }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(filePath)
        hasher.combine(arrayPath)
        hasher.combine(chunkIndex)
        hasher.combine(byteOffset)
        hasher.combine(errno)
        hasher.combine(systemCall)
    }

    /// `code: message (file …, array …, chunk …, offset …)`, one line.
    public var description: String {
        var parts: [String] = []
        if let filePath { parts.append("file \(filePath)") }
        if let arrayPath { parts.append("array '\(arrayPath)'") }
        if let chunkIndex { parts.append("chunk \(chunkIndex)") }
        if let byteOffset { parts.append("byte offset \(byteOffset)") }
        if let errno {
            let call = systemCall.map { "\($0): " } ?? ""
            parts.append("\(call)errno \(errno) (\(String(cString: strerror(errno))))")
        }
        if let cause { parts.append("caused by: \(cause)") }
        let location = parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")"
        return "\(code.name): \(message)\(location)"
    }

    /// Returns a copy with the file path filled in if it was not already set.
    @usableFromInline
    func inFile(_ path: String?) -> BrineError {
        var copy = self
        if copy.filePath == nil { copy.filePath = path }
        return copy
    }

    /// Returns a copy with the array path filled in if it was not already set.
    @usableFromInline
    func inArray(_ path: String?) -> BrineError {
        var copy = self
        if copy.arrayPath == nil { copy.arrayPath = path }
        return copy
    }
}

extension BrineError {
    /// The code for a failed system call's `errno`: ``Code/notFound`` for
    /// `ENOENT`, ``Code/permissionDenied`` for `EACCES`/`EPERM`/`EROFS`,
    /// ``Code/resourceExhausted`` for `ENOSPC`/`EDQUOT`/`EFBIG`, else ``Code/io``.
    static func code(forErrno e: Int32) -> Code {
        switch e {
        case ENOENT: return .notFound
        case EACCES, EPERM, EROFS: return .permissionDenied
        case ENOSPC, EDQUOT, EFBIG: return .resourceExhausted
        default: return .io
        }
    }

    /// The one factory for a failed system call: the code from
    /// ``code(forErrno:)``, the call's name (the first word of `what`, e.g.
    /// `"pwrite"` of `"pwrite of the header"`) and the `errno`.
    @usableFromInline
    static func system(_ what: String, errno code: Int32, path: String?) -> BrineError {
        var e = BrineError(Self.code(forErrno: code), "\(what) failed", filePath: path, errno: code)
        e.systemCall = String(what.prefix { $0 != " " })
        return e
    }
}

/// Runs a closure that can throw only ``BrineError`` through an untyped
/// `rethrows` API (such as `Array.withUnsafeBytes`) and restores the typed error.
@inline(__always)
func typedThrows<R>(_ body: () throws -> R) throws(BrineError) -> R {
    do {
        return try body()
    } catch let e as BrineError {
        throw e
    } catch {
        var e = BrineError(.io, "\(error)")
        e.cause = error
        throw e
    }
}
