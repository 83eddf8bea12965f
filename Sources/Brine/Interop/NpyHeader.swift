// The NumPy `.npy` header (spec: NumPy NEP 1, "A Simple File Format for
// NumPy Arrays", and the `numpy.lib.format` documentation):
//
//   6 bytes   magic "\x93NUMPY"
//   1 byte    major version (1, 2 or 3), 1 byte minor version (0)
//   2 bytes   (v1) or 4 bytes (v2, v3): HEADER_LEN, little-endian
//   HEADER_LEN bytes: a Python dict literal, latin-1 (v1, v2) or UTF-8 (v3),
//             padded with spaces and a final '\n' so that the data starts at a
//             multiple of 64 bytes (16 in old files):
//             {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
//   the data: product(shape) elements, C order unless fortran_order.

extension DType {
    /// The NumPy descr Brine writes (`'<f4'`, `'|b1'`, …); `nil` for
    /// bfloat16, which NumPy does not have.
    public var numpyDescr: String? {
        guard let kind = numpyKind else { return nil }
        return "\(itemSize == 1 ? "|" : "<")\(kind)\(itemSize)"
    }

    /// The NumPy kind letter (`b` bool, `i` signed, `u` unsigned, `f`
    /// float); `nil` for bfloat16, which NumPy does not have.
    var numpyKind: Character? {
        switch self {
        case .bool: return "b"
        case .int8, .int16, .int32, .int64: return "i"
        case .uint8, .uint16, .uint32, .uint64: return "u"
        case .float16, .float32, .float64: return "f"
        case .bfloat16: return nil
        }
    }

    /// The dtype of a NumPy kind letter and item size in bytes (`"f"`, 4 →
    /// float32); `nil` for pairs Brine has no dtype for.
    init?(numpyKind kind: Character, itemSize: Int) {
        guard let d = DType.allCases.first(where: { $0.numpyKind == kind && $0.itemSize == itemSize }) else { return nil }
        self = d
    }
}

/// The parsed header of a NumPy `.npy` array (NEP 1).
public struct NpyHeader: Sendable, Hashable {
    /// The format version: (1, 0), (2, 0) or (3, 0).
    public var majorVersion: UInt8
    /// The minor format version (0).
    public var minorVersion: UInt8
    /// The element type.
    public var dtype: DType
    /// `true` when the stored elements are big-endian (descr `'>…'`); Brine
    /// swaps them to little-endian on load.
    public var isBigEndian: Bool
    /// `true` when the data is stored in Fortran (column-major) order; Brine
    /// transposes it to C order on load.
    public var fortranOrder: Bool
    /// The dimensions (rank 0 and zero-length dimensions allowed).
    public var shape: [Int]
    /// The offset of the first data byte from the start of the `.npy` bytes
    /// (magic + version + length field + header).
    public var dataOffset: Int
    /// The number of data bytes, `product(shape) * dtype.itemSize`.
    public var byteCount: Int

    /// `true` when the stored bytes are already Brine's layout (little-endian,
    /// C order), so a mapping can be used as is.
    public var isNativeLayout: Bool {
        (!isBigEndian || dtype.itemSize == 1) && (!fortranOrder || shape.filter { $0 != 1 }.count <= 1)
    }
}

extension Npy {
    /// The `.npy` magic string, `\x93NUMPY`.
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
    /// NumPy's default `max_header_size` for untrusted files: 10,000 bytes.
    public static let defaultMaxHeaderBytes = 10_000
    /// Data alignment NumPy uses when writing (`ARRAY_ALIGN`).
    static let arrayAlign = 64
    /// NumPy's spare room for growing the first axis (`GROWTH_AXIS_MAX_DIGITS`).
    static let growthAxisMaxDigits = 21

    /// The number of bytes needed to know the header length: 8 for the magic
    /// and version, plus the 2- or 4-byte length field.
    static func prefixLength(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= 8 else { return nil }
        switch bytes[6] {
        case 1: return 10
        case 2, 3: return 12
        default: return nil
        }
    }

    /// Parses the magic, version and length field, then the header dict.
    /// - Parameters:
    ///   - bytes: at least the whole header (more is ignored).
    ///   - totalSize: the size of the whole `.npy` (file or member), to check the header against.
    ///   - maxHeaderBytes: the header dict cap (NumPy's `max_header_size`).
    ///   - maxRank: the rank cap.
    /// - Throws: ``BrineError`` `.invalidInterop` (bad magic, version,
    ///   syntax, keys, values), `.truncated`, `.limitExceeded` (header or rank
    ///   over the cap), `.unsupportedDType` (object, structured, complex,
    ///   string… dtypes). Byte offsets are relative to `bytes`.
    static func parseHeader(
        _ bytes: UnsafeRawBufferPointer, totalSize: Int, maxHeaderBytes: Int, maxRank: Int
    ) throws(BrineError) -> NpyHeader {
        guard totalSize >= 8, bytes.count >= 8 else {
            if bytes.count < 6 || !bytes.prefix(6).elementsEqual(magic) {
                throw BrineError(.invalidInterop, "not a NumPy .npy file (\(totalSize) bytes, no \\x93NUMPY magic)", byteOffset: 0)
            }
            throw BrineError(.truncated, ".npy of \(totalSize) bytes ends inside its preamble", byteOffset: UInt64(totalSize))
        }
        guard bytes.prefix(6).elementsEqual(magic) else {
            throw BrineError(.invalidInterop, "not a NumPy .npy file (no \\x93NUMPY magic)", byteOffset: 0)
        }
        let major = bytes[6], minor = bytes[7]
        guard (major == 1 || major == 2 || major == 3) && minor == 0 else {
            throw BrineError(.invalidInterop, ".npy format version \(major).\(minor) is not 1.0, 2.0 or 3.0", byteOffset: 6)
        }
        let lengthSize = major == 1 ? 2 : 4
        guard totalSize >= 8 + lengthSize, bytes.count >= 8 + lengthSize else {
            throw BrineError(.truncated, ".npy of \(totalSize) bytes ends inside its header length", byteOffset: UInt64(totalSize))
        }
        var headerLength = 0
        for i in 0 ..< lengthSize { headerLength |= Int(bytes[8 + i]) << (8 * i) }
        guard headerLength <= maxHeaderBytes else {
            throw BrineError(.limitExceeded, "header of \(headerLength) bytes is over the limit of \(maxHeaderBytes) (NumPy's max_header_size)", byteOffset: 8)
        }
        let start = 8 + lengthSize
        let dataOffset = start + headerLength
        guard dataOffset <= totalSize else {
            throw BrineError(.truncated, "header of \(headerLength) bytes runs past the end of the .npy (\(totalSize) bytes)", byteOffset: 8)
        }
        guard bytes.count >= dataOffset else {
            throw BrineError(.truncated, "header of \(headerLength) bytes is incomplete", byteOffset: UInt64(bytes.count))
        }
        let text = UnsafeRawBufferPointer(rebasing: bytes[start ..< dataOffset])
        if major == 3, let bad = firstInvalidUTF8Offset(text) {
            throw BrineError(.invalidInterop, "version 3.0 header is not valid UTF-8", byteOffset: UInt64(start + bad))
        }
        var parser = PyLiteralParser(bytes: text, utf8: major == 3, allowLongSuffix: major <= 2, baseOffset: start)
        let literal = try parser.parseDocument()
        guard case .dict(let entries) = literal else {
            throw BrineError(.invalidInterop, "header is not a dict literal", byteOffset: UInt64(start))
        }
        var descr: PyLiteral?, fortran: PyLiteral?, shapeLiteral: PyLiteral?
        for (k, v) in entries {
            guard case .string(let key) = k else {
                throw BrineError(.invalidInterop, "header dict has a key that is not a string", byteOffset: UInt64(start))
            }
            switch key {
            case "descr" where descr == nil: descr = v
            case "fortran_order" where fortran == nil: fortran = v
            case "shape" where shapeLiteral == nil: shapeLiteral = v
            case "descr", "fortran_order", "shape":
                throw BrineError(.invalidInterop, "header dict repeats the key '\(key)'", byteOffset: UInt64(start))
            default:
                throw BrineError(.invalidInterop, "header dict has an unexpected key '\(key)' (expected descr, fortran_order, shape)", byteOffset: UInt64(start))
            }
        }
        guard let descr, let fortran, let shapeLiteral else {
            throw BrineError(.invalidInterop, "header dict lacks one of the keys descr, fortran_order, shape", byteOffset: UInt64(start))
        }
        guard case .bool(let fortranOrder) = fortran else {
            throw BrineError(.invalidInterop, "fortran_order is not True or False", byteOffset: UInt64(start))
        }
        guard case .tuple(let dims) = shapeLiteral else {
            throw BrineError(.invalidInterop, "shape is not a tuple", byteOffset: UInt64(start))
        }
        guard dims.count <= maxRank else {
            throw BrineError(.limitExceeded, "rank \(dims.count) is over the limit of \(maxRank)", byteOffset: UInt64(start))
        }
        var shape: [Int] = []
        for d in dims {
            guard case .int(false, let m) = d, m <= UInt64(Int.max) else {
                throw BrineError(.invalidInterop, "shape has a dimension that is not a non-negative integer", byteOffset: UInt64(start))
            }
            shape.append(Int(m))
        }
        let (dtype, bigEndian) = try parseDescr(descr, at: start)
        guard let byteCount = Shape.byteCount(shape, itemSize: dtype.itemSize) else {
            throw BrineError(.invalidInterop, "shape \(shape) of \(dtype) overflows the byte count", byteOffset: UInt64(start))
        }
        return NpyHeader(
            majorVersion: major, minorVersion: minor, dtype: dtype, isBigEndian: bigEndian && dtype.itemSize > 1,
            fortranOrder: fortranOrder, shape: shape, dataOffset: dataOffset, byteCount: byteCount)
    }

    /// Maps a descr literal to a dtype and byte order.
    static func parseDescr(_ descr: PyLiteral, at offset: Int) throws(BrineError) -> (DType, bigEndian: Bool) {
        guard case .string(let s) = descr else {
            throw BrineError(.unsupportedDType, "structured (record) dtypes are not supported (descr is a list or tuple)", byteOffset: UInt64(offset))
        }
        var rest = Substring(s)
        var order: Character = "="
        if let f = rest.first, "<>|=".contains(f) {
            order = f
            rest = rest.dropFirst()
        }
        func unsupported(_ why: String) -> BrineError {
            BrineError(.unsupportedDType, "descr '\(s)': \(why)", byteOffset: UInt64(offset))
        }
        if rest == "?" { return (.bool, order == ">") }
        guard let kind = rest.first else { throw unsupported("empty type") }
        let sizeText = rest.dropFirst()
        if sizeText.allSatisfy(\.isASCII), let size = Int(sizeText), let dtype = DType(numpyKind: kind, itemSize: size) {
            return (dtype, order == ">")
        }
        switch kind {
        case "O": throw unsupported("object arrays hold pickled Python objects, which Brine never loads")
        case "c": throw unsupported("complex dtypes are not supported")
        case "U", "S", "a": throw unsupported("string dtypes are not supported")
        case "V": throw unsupported("void (raw or structured) dtypes are not supported")
        case "M", "m": throw unsupported("datetime dtypes are not supported")
        default: throw unsupported("not a dtype Brine supports (bool, int8…int64, uint8…uint64, float16, float32, float64)")
        }
    }

    /// The header NumPy's `np.save` writes for this dtype and shape (C order),
    /// byte for byte: keys sorted, spare room to grow the first axis,
    /// padded with spaces and `'\n'` to a multiple of 64 bytes; version 1.0,
    /// or 2.0 when the header exceeds 65,535 bytes.
    /// - Parameter descr: the NumPy descr string, e.g. `'<f4'`.
    static func encodeHeader(descr: String, shape: [Int]) -> [UInt8] {
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': "
        switch shape.count {
        case 0: dict += "()"
        case 1: dict += "(\(shape[0]),)"
        default: dict += "(" + shape.map(String.init).joined(separator: ", ") + ")"
        }
        dict += ", }"
        if let first = shape.first {
            dict += String(repeating: " ", count: Swift.max(0, growthAxisMaxDigits - String(first).count))
        }
        var header = Array(dict.utf8)
        let hlen = header.count + 1
        var version: UInt8 = 1
        var lengthSize = 2
        var pad = arrayAlign - ((magic.count + 2 + lengthSize + hlen) % arrayAlign)
        if hlen + pad > Int(UInt16.max) {
            version = 2
            lengthSize = 4
            pad = arrayAlign - ((magic.count + 2 + lengthSize + hlen) % arrayAlign)
        }
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: pad))
        header.append(UInt8(ascii: "\n"))
        var out = magic
        out.append(version)
        out.append(0)
        let n = header.count
        for i in 0 ..< lengthSize { out.append(UInt8(truncatingIfNeeded: n >> (8 * i))) }
        out.append(contentsOf: header)
        return out
    }
}

// MARK: - Python literal subset

/// The Python literals a `.npy` header may contain.
indirect enum PyLiteral {
    case string(String)
    case int(negative: Bool, magnitude: UInt64)
    case bool(Bool)
    case none
    case tuple([PyLiteral])
    case list([PyLiteral])
    case dict([(key: PyLiteral, value: PyLiteral)])
}

/// A strict parser for the subset of Python literal syntax that `.npy`
/// headers use (what `ast.literal_eval` accepts for them): dicts, tuples,
/// lists, quoted strings with simple escapes, decimal integers, `True`,
/// `False`, `None`. Nothing is ever evaluated. Nesting is bounded.
struct PyLiteralParser {
    let bytes: UnsafeRawBufferPointer
    /// Decode strings as UTF-8 (version 3.0) rather than latin-1.
    let utf8: Bool
    /// Accept Python 2's `L` suffix on integers (versions 1.0 and 2.0).
    let allowLongSuffix: Bool
    /// The offset of `bytes[0]` within the `.npy`, for error messages.
    let baseOffset: Int
    var position = 0
    static let maxDepth = 32

    init(bytes: UnsafeRawBufferPointer, utf8: Bool, allowLongSuffix: Bool, baseOffset: Int) {
        self.bytes = bytes
        self.utf8 = utf8
        self.allowLongSuffix = allowLongSuffix
        self.baseOffset = baseOffset
    }

    func error(_ message: String) -> BrineError {
        BrineError(.invalidInterop, "cannot parse the header: \(message)", byteOffset: UInt64(baseOffset + position))
    }

    func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhitespace() {
        while let c = peek(), c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0C { position += 1 }
    }

    /// One literal filling the whole text (whitespace around it allowed).
    mutating func parseDocument() throws(BrineError) -> PyLiteral {
        skipWhitespace()
        let v = try value(depth: 0)
        skipWhitespace()
        guard position == bytes.count else { throw error("unexpected text after the dict") }
        return v
    }

    mutating func value(depth: Int) throws(BrineError) -> PyLiteral {
        guard depth <= PyLiteralParser.maxDepth else { throw error("nesting deeper than \(PyLiteralParser.maxDepth)") }
        skipWhitespace()
        guard let c = peek() else { throw error("unexpected end of the header") }
        switch c {
        case UInt8(ascii: "{"): return try dict(depth: depth + 1)
        case UInt8(ascii: "("): return try parenthesized(depth: depth + 1)
        case UInt8(ascii: "["):
            position += 1
            return .list(try items(until: UInt8(ascii: "]"), depth: depth + 1))
        case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            position += 1
            guard let q = peek(), q == UInt8(ascii: "'") || q == UInt8(ascii: "\"") else { throw error("unexpected name") }
            return .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "0") ... UInt8(ascii: "9"): return try integer()
        default:
            if try keyword("True") { return .bool(true) }
            if try keyword("False") { return .bool(false) }
            if try keyword("None") { return .none }
            throw error("unexpected character 0x\(String(c, radix: 16))")
        }
    }

    mutating func keyword(_ word: String) throws(BrineError) -> Bool {
        let w = Array(word.utf8)
        guard bytes.count - position >= w.count else { return false }
        for i in 0 ..< w.count where bytes[position + i] != w[i] { return false }
        let after = position + w.count
        if after < bytes.count {
            let c = bytes[after]
            if (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c >= 0x80 {
                return false
            }
        }
        position = after
        return true
    }

    mutating func integer() throws(BrineError) -> PyLiteral {
        var negative = false
        if let s = peek(), s == UInt8(ascii: "-") || s == UInt8(ascii: "+") {
            negative = s == UInt8(ascii: "-")
            position += 1
            skipWhitespace()
        }
        guard let first = peek(), first >= 0x30, first <= 0x39 else { throw error("expected a digit") }
        var m: UInt64 = 0
        var digits = 0
        while let d = peek(), d >= 0x30, d <= 0x39 {
            let (a, o1) = m.multipliedReportingOverflow(by: 10)
            let (b, o2) = a.addingReportingOverflow(UInt64(d - 0x30))
            guard !o1 && !o2 else { throw error("integer does not fit in 64 bits") }
            m = b
            digits += 1
            position += 1
        }
        if first == 0x30 && digits > 1 { throw error("integer with a leading zero") }
        if allowLongSuffix, let l = peek(), l == UInt8(ascii: "L") || l == UInt8(ascii: "l") { position += 1 }
        if let c = peek(), (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F {
            throw error("only decimal integers are allowed")
        }
        return .int(negative: negative && m != 0, magnitude: m)
    }

    mutating func string() throws(BrineError) -> String {
        let quote = bytes[position]
        position += 1
        var out: [UInt8] = []
        while true {
            guard let c = peek() else { throw error("unterminated string") }
            position += 1
            if c == quote { break }
            if c == 0x0A || c == 0x0D { throw error("newline in a string") }
            if c == UInt8(ascii: "\\") {
                guard let e = peek() else { throw error("unterminated string") }
                position += 1
                switch e {
                case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): out.append(e)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                default: throw error("unsupported escape in a string")
                }
                continue
            }
            out.append(c)
        }
        if utf8 { return String(decoding: out, as: UTF8.self) }
        var s = ""
        s.unicodeScalars.append(contentsOf: out.map { Unicode.Scalar($0) })  // latin-1
        return s
    }

    /// Items separated by commas up to `close`, a trailing comma allowed.
    mutating func items(until close: UInt8, depth: Int) throws(BrineError) -> [PyLiteral] {
        var out: [PyLiteral] = []
        while true {
            skipWhitespace()
            if peek() == close { position += 1; return out }
            out.append(try value(depth: depth))
            skipWhitespace()
            guard let c = peek() else { throw error("unexpected end of the header") }
            if c == close { position += 1; return out }
            guard c == UInt8(ascii: ",") else { throw error("expected ',' or a closing bracket") }
            position += 1
        }
    }

    /// `()` is an empty tuple, `(x)` is `x`, `(x,)` and `(x, y…)` are tuples.
    mutating func parenthesized(depth: Int) throws(BrineError) -> PyLiteral {
        position += 1  // (
        skipWhitespace()
        if peek() == UInt8(ascii: ")") { position += 1; return .tuple([]) }
        let first = try value(depth: depth)
        skipWhitespace()
        guard let c = peek() else { throw error("unexpected end of the header") }
        if c == UInt8(ascii: ")") { position += 1; return first }
        guard c == UInt8(ascii: ",") else { throw error("expected ',' or ')'") }
        position += 1
        return .tuple([first] + (try items(until: UInt8(ascii: ")"), depth: depth)))
    }

    mutating func dict(depth: Int) throws(BrineError) -> PyLiteral {
        position += 1  // {
        var out: [(key: PyLiteral, value: PyLiteral)] = []
        while true {
            skipWhitespace()
            if peek() == UInt8(ascii: "}") { position += 1; return .dict(out) }
            let k = try value(depth: depth)
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw error("expected ':' after a dict key") }
            position += 1
            let v = try value(depth: depth)
            out.append((k, v))
            skipWhitespace()
            guard let c = peek() else { throw error("unexpected end of the header") }
            if c == UInt8(ascii: "}") { position += 1; return .dict(out) }
            guard c == UInt8(ascii: ",") else { throw error("expected ',' or '}' in the dict") }
            position += 1
        }
    }
}
