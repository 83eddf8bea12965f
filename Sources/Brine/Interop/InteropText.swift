/// The offset of the first byte that does not belong to a valid UTF-8
/// sequence, or `nil` when all of `bytes` is valid UTF-8.
func firstInvalidUTF8Offset(_ bytes: UnsafeRawBufferPointer) -> Int? {
    var parser = Unicode.UTF8.ForwardParser()
    var iterator = bytes.makeIterator()
    var offset = 0
    while true {
        switch parser.parseScalar(from: &iterator) {
        case .valid(let encoded): offset += encoded.count
        case .emptyInput: return nil
        case .error: return offset
        }
    }
}

/// Compares two strings by their UTF-8 bytes (Rust's `str` ordering), not by
/// Swift's Unicode canonical ordering.
@inline(__always)
func utf8Less(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}
