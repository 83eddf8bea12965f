/// A small, strict JSON (RFC 8259) reader and writer for the safetensors
/// header, where Foundation's `JSONSerialization` is not enough: it cannot
/// report duplicate keys, it loses integers above 2^53 and it does not keep
/// key order.
///
/// The reader:
/// - accepts exactly the RFC 8259 grammar (no comments, no trailing commas,
///   no leading zeros, no `NaN`), with JSON whitespace (space, tab, LF, CR)
///   around tokens;
/// - rejects duplicate keys in an object (compared after unescaping, by
///   code points: canonically equivalent spellings are two keys, as in
///   Python and serde_json; see ``ExactName``);
/// - rejects raw control characters in strings and unpaired surrogates in
///   `\u` escapes (as serde_json does);
/// - keeps integers exact up to `UInt64.max` (and down to `-UInt64.max`);
///   other numbers keep their literal text;
/// - bounds nesting depth, so hostile input cannot exhaust the stack.
///
/// The writer produces compact JSON escaped exactly as serde_json does (the
/// JSON library of the reference safetensors implementation), so headers
/// Brine writes are byte-identical to the reference writer's.
enum JSON: Equatable {
    case null
    case bool(Bool)
    /// An integer literal that fits: `negative` tells the sign of `magnitude`.
    case integer(negative: Bool, magnitude: UInt64)
    /// Any other number (fraction, exponent, or an integer beyond 64 bits), as written.
    case number(String)
    case string(String)
    case array([JSON])
    /// An object; keys are unique and keep their order.
    case object([(key: String, value: JSON)])

    static func == (lhs: JSON, rhs: JSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.integer(n1, m1), .integer(n2, m2)): return n1 == n2 && m1 == m2
        case let (.number(a), .number(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// The value as a non-negative `Int`, when it is an integer literal that fits.
    var nonNegativeInt: Int? {
        if case .integer(false, let m) = self, m <= UInt64(Int.max) { return Int(m) }
        if case .integer(true, 0) = self { return 0 }
        return nil
    }

    /// A short name of the value's kind, for error messages.
    var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

// MARK: - Reading

extension JSON {
    /// Parses one JSON document that fills `bytes` (whitespace allowed around it).
    /// - Parameters:
    ///   - bytes: the document, which must be valid UTF-8.
    ///   - maxDepth: the deepest nesting of arrays and objects allowed.
    ///   - fileOffset: the absolute file offset of `bytes[0]`, for error messages.
    ///   - path: the file path, for error messages.
    /// - Throws: ``BrineError`` `.invalidInterop` naming the problem and its byte offset.
    static func parse(
        _ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64, fileOffset: UInt64 = 0, path: String? = nil
    ) throws(BrineError) -> JSON {
        var p = JSONParser(bytes: bytes, maxDepth: maxDepth, fileOffset: fileOffset, path: path)
        p.skipWhitespace()
        let v = try p.value(depth: 0)
        p.skipWhitespace()
        guard p.position == bytes.count else { throw p.error("unexpected data after the JSON value") }
        return v
    }
}

/// The entries of `text` when it is one JSON object (RFC 8259) whose values
/// are all strings: keys exactly as written (by code points, so
/// `"\u{E9}"` and `"e\u{301}"` stay two keys, as Python's `json` keeps
/// them), in order; `nil` when it is another JSON value.
/// - Throws: ``BrineError`` `.invalidInterop` for text that is not JSON or
///   repeats a key exactly.
package func jsonStringObject(_ text: String) throws(BrineError) -> [(key: String, value: String)]? {
    let bytes = Array(text.utf8)
    let json = try typedThrows { try bytes.withUnsafeBytes { b in try JSON.parse(b, maxDepth: 2) } }
    guard case .object(let entries) = json else { return nil }
    var out: [(key: String, value: String)] = []
    for (k, v) in entries {
        guard case .string(let s) = v else { return nil }
        out.append((k, s))
    }
    return out
}

private struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    let maxDepth: Int
    let fileOffset: UInt64
    let path: String?
    var position = 0

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int, fileOffset: UInt64, path: String?) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.fileOffset = fileOffset
        self.path = path
    }

    func error(_ message: String, at offset: Int? = nil) -> BrineError {
        BrineError(.invalidInterop, "invalid JSON header: \(message)", filePath: path,
                   byteOffset: fileOffset &+ UInt64(offset ?? position))
    }

    var atEnd: Bool { position >= bytes.count }
    func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(BrineError) {
        guard peek() == byte else { throw error("expected \(what)") }
        position += 1
    }

    mutating func value(depth: Int) throws(BrineError) -> JSON {
        guard let c = peek() else { throw error("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0") ... UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character 0x\(String(c, radix: 16))")
        }
    }

    mutating func literal(_ word: StaticString) throws(BrineError) {
        let n = word.utf8CodeUnitCount
        guard bytes.count - position >= n else { throw error("unexpected end of input") }
        for i in 0 ..< n where bytes[position + i] != word.utf8Start[i] {
            throw error("invalid literal")
        }
        position += n
    }

    mutating func object(depth: Int) throws(BrineError) -> JSON {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth)") }
        position += 1  // {
        var entries: [(key: String, value: JSON)] = []
        var seen = Set<ExactName>()
        skipWhitespace()
        if peek() == UInt8(ascii: "}") { position += 1; return .object(entries) }
        while true {
            skipWhitespace()
            let keyOffset = position
            guard peek() == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try string()
            guard seen.insert(ExactName(key)).inserted else {
                throw error("duplicate key \(Value.quoted(key))", at: keyOffset)
            }
            skipWhitespace()
            try expect(UInt8(ascii: ":"), "':' after a key")
            skipWhitespace()
            let v = try value(depth: depth)
            entries.append((key, v))
            skipWhitespace()
            guard let c = peek() else { throw error("unexpected end of input in an object") }
            position += 1
            if c == UInt8(ascii: "}") { return .object(entries) }
            guard c == UInt8(ascii: ",") else { throw error("expected ',' or '}' in an object", at: position - 1) }
        }
    }

    mutating func array(depth: Int) throws(BrineError) -> JSON {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth)") }
        position += 1  // [
        var items: [JSON] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") { position += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try value(depth: depth))
            skipWhitespace()
            guard let c = peek() else { throw error("unexpected end of input in an array") }
            position += 1
            if c == UInt8(ascii: "]") { return .array(items) }
            guard c == UInt8(ascii: ",") else { throw error("expected ',' or ']' in an array", at: position - 1) }
        }
    }

    mutating func number() throws(BrineError) -> JSON {
        let start = position
        var negative = false
        if peek() == UInt8(ascii: "-") { negative = true; position += 1 }
        guard let first = peek(), first >= 0x30, first <= 0x39 else { throw error("invalid number") }
        var magnitude: UInt64 = 0
        var overflow = false
        if first == 0x30 {
            position += 1
            if let d = peek(), d >= 0x30, d <= 0x39 { throw error("leading zero in a number") }
        } else {
            while let d = peek(), d >= 0x30, d <= 0x39 {
                let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(UInt64(d - 0x30))
                if o1 || o2 { overflow = true }
                magnitude = m2
                position += 1
            }
        }
        var integral = true
        if peek() == UInt8(ascii: ".") {
            integral = false
            position += 1
            guard let d = peek(), d >= 0x30, d <= 0x39 else { throw error("expected a digit after '.'") }
            while let d = peek(), d >= 0x30, d <= 0x39 { position += 1 }
        }
        if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            integral = false
            position += 1
            if let s = peek(), s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { position += 1 }
            guard let d = peek(), d >= 0x30, d <= 0x39 else { throw error("expected a digit in an exponent") }
            while let d = peek(), d >= 0x30, d <= 0x39 { position += 1 }
        }
        if integral && !overflow { return .integer(negative: negative, magnitude: magnitude) }
        return .number(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start ..< position]), as: UTF8.self))
    }

    mutating func hex4() throws(BrineError) -> UInt32 {
        guard bytes.count - position >= 4 else { throw error("unexpected end of input in a \\u escape") }
        var v: UInt32 = 0
        for _ in 0 ..< 4 {
            let c = bytes[position]
            let d: UInt32
            switch c {
            case 0x30 ... 0x39: d = UInt32(c - 0x30)
            case 0x41 ... 0x46: d = UInt32(c - 0x41 + 10)
            case 0x61 ... 0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("invalid hex digit in a \\u escape")
            }
            v = v << 4 | d
            position += 1
        }
        return v
    }

    /// Parses a string starting at its opening quote. The input is already
    /// known to be valid UTF-8, so raw bytes are copied as they are.
    mutating func string() throws(BrineError) -> String {
        position += 1  // "
        var out: [UInt8] = []
        var runStart = position
        while true {
            guard position < bytes.count else { throw error("unterminated string") }
            let c = bytes[position]
            if c == UInt8(ascii: "\"") {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart ..< position]))
                position += 1
                break
            }
            if c < 0x20 { throw error("raw control character in a string") }
            if c != UInt8(ascii: "\\") { position += 1; continue }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart ..< position]))
            let escapeOffset = position
            position += 1
            guard let e = peek() else { throw error("unterminated escape") }
            position += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"),
                          bytes[position + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired surrogate in a \\u escape", at: escapeOffset)
                    }
                    position += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low < 0xE000 else {
                        throw error("unpaired surrogate in a \\u escape", at: escapeOffset)
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw error("unpaired surrogate in a \\u escape", at: escapeOffset)
                }
                // Cannot fail: surrogates were excluded above.
                out.append(contentsOf: String(Unicode.Scalar(scalar)!).utf8)
            default:
                throw error("invalid escape '\\\(Character(Unicode.Scalar(e)))'", at: escapeOffset)
            }
            runStart = position
        }
        return String(decoding: out, as: UTF8.self)
    }
}

// MARK: - Writing

extension JSON {
    /// Compact JSON text (no spaces), strings escaped as serde_json escapes
    /// them: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other control
    /// characters as `\u00xx` (lower-case hex); everything else (including
    /// non-ASCII) as raw UTF-8.
    var compactText: [UInt8] {
        var out: [UInt8] = []
        write(into: &out)
        return out
    }

    func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .integer(let negative, let m):
            if negative && m != 0 { out.append(UInt8(ascii: "-")) }
            out.append(contentsOf: String(m).utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let s): JSON.writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, v) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let entries):
            out.append(UInt8(ascii: "{"))
            for (i, e) in entries.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSON.writeString(e.key, into: &out)
                out.append(UInt8(ascii: ":"))
                e.value.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writeString(_ s: String, into out: inout [UInt8]) {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case 0x22: out.append(0x5C); out.append(0x22)
            case 0x5C: out.append(0x5C); out.append(0x5C)
            case 0x08: out.append(0x5C); out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(0x5C); out.append(UInt8(ascii: "f"))
            case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
            case 0x00 ..< 0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
