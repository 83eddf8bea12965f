/// A node of the object tree stored in a Brine header (docs/FORMAT.md,
/// "Values"): the structure of a model and its metadata.
///
/// Maps keep their insertion order and have unique `String` keys. Numbers
/// keep their kind: signed and unsigned 64-bit integers, float32 and float64
/// (bit-exact, NaN payloads included). ``arrayRef(_:)`` points at an entry
/// of the array table by index.
public enum Value: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case float32(Float)
    case float64(Double)
    case string(String)
    case bytes([UInt8])
    case list([Value])
    /// An ordered map with unique string keys.
    case map([(key: String, value: Value)])
    /// A reference to the array at this index of the array table.
    case arrayRef(Int)
    /// A node that other places of the tree refer to (format 1.1): the
    /// first place of a class instance (or a small shared tensor) met in
    /// several places. Ids are 0, 1, 2, … in order of appearance.
    indirect case shared(Int, Value)
    /// The same object as the ``shared(_:_:)`` node with this id, which
    /// precedes it and is complete (format 1.1).
    case sharedRef(Int)

    /// Structural equality; floats compare by bit pattern, so NaN equals the
    /// same NaN and -0.0 differs from +0.0.
    public static func == (lhs: Value, rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.uint(a), .uint(b)): return a == b
        case let (.float32(a), .float32(b)): return a.bitPattern == b.bitPattern
        case let (.float64(a), .float64(b)): return a.bitPattern == b.bitPattern
        case let (.string(a), .string(b)): return a == b
        case let (.bytes(a), .bytes(b)): return a == b
        case let (.list(a), .list(b)): return a == b
        case let (.map(a), .map(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.arrayRef(a), .arrayRef(b)): return a == b
        case let (.shared(i, a), .shared(j, b)): return i == j && a == b
        case let (.sharedRef(a), .sharedRef(b)): return a == b
        default: return false
        }
    }

    /// The value for `key` when this is a map, else `nil`. Linear in the map's size.
    public subscript(key: String) -> Value? {
        guard case .map(let entries) = self else { return nil }
        return entries.first(where: { $0.key == key })?.value
    }

    /// The string when this is `.string`, else `nil`.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The value as `Double` when it is any number, else `nil`.
    public var doubleValue: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .uint(let v): return Double(v)
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return nil
        }
    }

    /// The value as `Int64` when it is an integer that fits, else `nil`.
    public var int64Value: Int64? {
        switch self {
        case .int(let v): return v
        case .uint(let v): return Int64(exactly: v)
        default: return nil
        }
    }
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .float64(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: Value...) { self = .list(elements) }
    /// Keys keep the literal's order; a repeated key keeps its last value.
    public init(dictionaryLiteral elements: (String, Value)...) {
        var out: [(key: String, value: Value)] = []
        for (k, v) in elements {
            if let i = out.firstIndex(where: { $0.key == k }) { out[i].value = v } else { out.append((k, v)) }
        }
        self = .map(out)
    }
    public init(nilLiteral: ()) { self = .null }
}

extension Value: CustomStringConvertible {
    /// A JSON-like rendering (array references print as `<array #i>`, bytes
    /// as `<n bytes>`), used by `brine inspect`.
    ///
    /// Built in one pass with an explicit work stack, not by recursion: a
    /// tree read from a hostile file may nest `ReadLimits.maxDepth` levels,
    /// and joining each level's rendering into its parent's would copy
    /// every string once per level above it.
    public var description: String {
        enum Step { case value(Value), text(String) }
        var out = ""
        var work: [Step] = [.value(self)]
        while let step = work.popLast() {
            switch step {
            case .text(let t):
                out += t
            case .value(.list(let l)):
                out += "["
                work.append(.text("]"))
                for (i, x) in l.enumerated().reversed() {
                    work.append(.value(x))
                    if i > 0 { work.append(.text(", ")) }
                }
            case .value(.map(let m)):
                out += "{"
                work.append(.text("}"))
                for (i, e) in m.enumerated().reversed() {
                    work.append(.value(e.value))
                    work.append(.text(Value.quoted(e.key) + ": "))
                    if i > 0 { work.append(.text(", ")) }
                }
            case .value(.shared(let i, let x)):
                // Iterative too: shared nodes nest like lists.
                out += "<shared #\(i)> "
                work.append(.value(x))
            case .value(let v):
                out += v.scalarDescription
            }
        }
        return out
    }

    /// The rendering of a value that is not a list or map.
    private var scalarDescription: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let v): return String(v)
        case .uint(let v): return String(v)
        case .float32(let v): return v.description
        case .float64(let v): return v.description
        case .string(let s): return Value.quoted(s)
        case .bytes(let b): return "<\(b.count) bytes>"
        case .arrayRef(let i): return "<array #\(i)>"
        case .shared: return ""  // rendered by `description`
        case .sharedRef(let i): return "<same as shared #\(i)>"
        case .list, .map: return ""
        }
    }

    /// `s` as a JSON string literal (RFC 8259: quote, backslash and control
    /// characters escaped), used by `description` and the CLI's `--json` output.
    package static func quoted(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if ch.value < 0x20 { out += "\\u" + String(ch.value, radix: 16).leftPad(4) } else { out.unicodeScalars.append(ch) }
            }
        }
        return out + "\""
    }
}

extension String {
    func leftPad(_ width: Int, with ch: Character = "0") -> String {
        count >= width ? self : String(repeating: ch, count: width - count) + self
    }
}

extension Value {
    /// `true` when lists and maps nest more than `limit` levels deep (a list
    /// or map inside `limit` enclosing ones), counted iteratively so that
    /// any depth can be checked without recursion.
    func nestsDeeper(than limit: Int) -> Bool {
        var stack: [(value: Value, depth: Int)] = [(self, 0)]
        while let (v, depth) = stack.popLast() {
            switch v {
            case .list(let items):
                if depth >= limit { return true }
                for x in items { stack.append((x, depth + 1)) }
            case .map(let entries):
                if depth >= limit { return true }
                for e in entries { stack.append((e.value, depth + 1)) }
            case .shared(_, let x):
                // A shared node is one level for the reader's depth cap.
                if depth >= limit { return true }
                stack.append((x, depth + 1))
            default:
                break
            }
        }
        return false
    }

    /// The one depth check of trees about to be written: readers refuse a
    /// tree deeper than ``ReadLimits/maxDepth`` (docs/FORMAT.md, "Limits"),
    /// so writers check it before anything is written.
    /// - Parameters:
    ///   - what: the tree, for the message (e.g. `"the metadata"`).
    ///   - filePath: the file, for the error.
    /// - Throws: ``BrineError`` `.limitExceeded`.
    func checkWritableDepth(_ what: String, filePath: String?) throws(BrineError) {
        let limit = ReadLimits().maxDepth
        guard !nestsDeeper(than: limit) else {
            throw BrineError(.limitExceeded, "\(what) nests deeper than \(limit) levels, which readers refuse", filePath: filePath)
        }
    }
}
