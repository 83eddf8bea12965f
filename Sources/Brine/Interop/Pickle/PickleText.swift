/// The text forms of protocol 0: quoted `repr` strings (STRING),
/// raw-unicode-escape (UNICODE), float literals (FLOAT), and the
/// encodings `_codecs.encode` is asked for.
enum PickleText {
    private static func error(_ m: String, _ offset: Int) -> BrineError {
        BrineError(.invalidInterop, m, byteOffset: UInt64(offset))
    }

    /// The bytes of a Python 2 `repr` of a `str`: quotes removed, escapes
    /// (`\\ \' \" \n \r \t \a \b \f \v \xhh \ooo`, backslash-newline) decoded
    /// as `codecs.escape_decode` does.
    static func unquote(_ line: [UInt8], offset: Int) throws(BrineError) -> [UInt8] {
        guard line.count >= 2, let q = line.first, q == 0x27 || q == 0x22, line.last == q else {
            throw error("STRING is not a quoted string", offset)
        }
        let body = line[1 ..< line.count - 1]
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var i = body.startIndex
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30 ... 0x39: return c - 0x30
            case 0x61 ... 0x66: return c - 0x61 + 10
            case 0x41 ... 0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        while i < body.endIndex {
            let c = body[i]
            i += 1
            guard c == 0x5C else { out.append(c); continue }
            guard i < body.endIndex else { throw error("STRING ends with a lone backslash", offset) }
            let e = body[i]
            i += 1
            switch e {
            case 0x0A: break
            case 0x5C, 0x27, 0x22: out.append(e)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x61: out.append(0x07)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x76: out.append(0x0B)
            case 0x78:
                guard i + 1 < body.endIndex, let h = hex(body[i]), let l = hex(body[i + 1]) else {
                    throw error("STRING has a bad \\x escape", offset)
                }
                out.append(h << 4 | l)
                i += 2
            case 0x30 ... 0x37:
                var v = Int(e - 0x30)
                var k = 0
                while k < 2, i < body.endIndex, (0x30 ... 0x37).contains(body[i]) {
                    v = v * 8 + Int(body[i] - 0x30)
                    i += 1
                    k += 1
                }
                out.append(UInt8(truncatingIfNeeded: v))
            default:
                out.append(0x5C)
                out.append(e)
            }
        }
        return out
    }

    /// Python's `raw-unicode-escape` decoding: bytes are latin-1 code
    /// points except `\uXXXX` and `\UXXXXXXXX`.
    static func rawUnicodeEscape(_ line: [UInt8], offset: Int) throws(BrineError) -> String {
        var out = String.UnicodeScalarView()
        var i = 0
        while i < line.count {
            let c = line[i]
            if c == 0x5C, i + 1 < line.count, line[i + 1] == 0x75 || line[i + 1] == 0x55 {
                // An odd run of backslashes escapes; raw-unicode-escape only looks at the one before u/U.
                let n = line[i + 1] == 0x75 ? 4 : 8
                guard i + 2 + n <= line.count,
                      let v = UInt32(String(decoding: line[(i + 2) ..< (i + 2 + n)], as: UTF8.self), radix: 16),
                      let s = Unicode.Scalar(v)
                else { throw error("UNICODE has a bad \\u escape", offset) }
                out.append(s)
                i += 2 + n
            } else {
                out.append(Unicode.Scalar(c))
                i += 1
            }
        }
        return String(out)
    }

    /// A Python float literal (`repr(float)`, `inf`, `nan`).
    static func float(_ s: String) -> Double? {
        let t = s.trimmingSpaces
        switch t.lowercased() {
        case "inf", "+inf", "infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        case "nan", "+nan", "-nan": return .nan
        default:
            guard t.utf8.allSatisfy({ (0x30 ... 0x39).contains($0) || $0 == 0x2E || $0 == 0x2D || $0 == 0x2B || $0 == 0x65 || $0 == 0x45 }) else { return nil }
            return Double(t)
        }
    }

    /// The latin-1 bytes of `s`, or `nil` when a character is above U+00FF.
    static func latin1(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.unicodeScalars.count)
        for u in s.unicodeScalars {
            guard u.value <= 0xFF else { return nil }
            out.append(UInt8(u.value))
        }
        return out
    }

    /// `s.encode(encoding)` for latin-1, UTF-8 and ASCII; `nil` otherwise.
    static func encode(_ s: String, _ encoding: String) -> [UInt8]? {
        switch encoding.lowercased().replacingUnderscores {
        case "latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1": return latin1(s)
        case "utf-8", "utf8": return Array(s.utf8)
        case "ascii", "us-ascii": return s.unicodeScalars.allSatisfy({ $0.isASCII }) ? Array(s.utf8) : nil
        default: return nil
        }
    }
}

extension String {
    fileprivate var replacingUnderscores: String { String(map { $0 == "_" ? "-" : $0 }) }
}
