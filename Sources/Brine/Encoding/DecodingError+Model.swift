extension BrineError {
    /// Wraps a `DecodingError` raised while decoding a file's object tree
    /// into `requested`: code ``Code/modelMismatch``, the file path, a
    /// message that names the file's `brine.root_type`, the requested type
    /// and what did not fit where, and the `DecodingError` as
    /// ``cause``.
    static func modelMismatch(_ error: DecodingError, filePath: String?, metadata: Value, requested: Any.Type) -> BrineError {
        let stored: String
        if case .map(let entries) = metadata, let v = entries.first(where: { $0.key == "brine.root_type" })?.value, let s = v.stringValue {
            stored = "saved as '\(s)' (brine.root_type)"
        } else {
            stored = "saved without brine.root_type"
        }
        var e = BrineError(
            .modelMismatch,
            "the file's model, \(stored), does not fit '\(String(reflecting: requested))': \(error.brineSummary)",
            filePath: filePath)
        e.cause = error
        return e
    }
}

extension DecodingError {
    /// One line: what did not fit, and where (the coding path joined by `.`).
    var brineSummary: String {
        func at(_ path: [any CodingKey]) -> String {
            path.isEmpty ? "at the root" : "at '" + path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") + "'"
        }
        switch self {
        case .keyNotFound(let key, let c):
            return "key '\(key.stringValue)' not found \(at(c.codingPath))"
        case .valueNotFound(let type, let c):
            return "expected \(type), found null \(at(c.codingPath)): \(c.debugDescription)"
        case .typeMismatch(let type, let c):
            return "expected \(type) \(at(c.codingPath)): \(c.debugDescription)"
        case .dataCorrupted(let c):
            return "\(c.debugDescription) \(at(c.codingPath))"
        @unknown default:
            return "\(self)"
        }
    }
}
