import Foundation

/// `LocalizedError`: the real message wherever Swift prints an error
/// (`error.localizedDescription`, `NSError` bridging, logging frameworks),
/// instead of Foundation's generic "The operation could not be completed".
extension BrineError: LocalizedError {
    /// The whole one-line ``description``: `code: message (file …, array …, chunk …, byte offset …)`.
    public var errorDescription: String? { description }

    /// The message alone, without code or location.
    public var failureReason: String? { message }
}

/// `CustomNSError`: a stable domain and code when the error crosses into
/// `NSError` (Objective-C APIs, `NSError`-based loggers).
extension BrineError: CustomNSError {
    /// `"Brine.BrineError"`.
    public static var errorDomain: String { "Brine.BrineError" }

    /// The 1-based position of ``code`` in ``Code/allCodes`` (declaration
    /// order); codes are only ever appended, so a number never changes meaning.
    public var errorCode: Int {
        (BrineError.Code.allCodes.firstIndex(of: code) ?? -1) + 1
    }

    /// `NSLocalizedDescriptionKey` (the description), `NSLocalizedFailureReasonErrorKey`
    /// (the message), `NSFilePathErrorKey` when a file is known,
    /// `NSUnderlyingErrorKey` for ``cause``, and the Brine fields
    /// under `"BrineCode"`, `"BrineArrayPath"`, `"BrineChunkIndex"`, `"BrineByteOffset"`.
    public var errorUserInfo: [String: Any] {
        var info: [String: Any] = [
            NSLocalizedDescriptionKey: description,
            NSLocalizedFailureReasonErrorKey: message,
            "BrineCode": code.name,
        ]
        if let filePath { info[NSFilePathErrorKey] = filePath }
        if let arrayPath { info["BrineArrayPath"] = arrayPath }
        if let chunkIndex { info["BrineChunkIndex"] = chunkIndex }
        if let byteOffset { info["BrineByteOffset"] = byteOffset }
        if let cause { info[NSUnderlyingErrorKey] = cause as NSError }
        return info
    }
}
