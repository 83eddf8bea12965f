import Foundation

// How a Brine file becomes a TensorBundle and back without losing arrays or
// metadata values (docs/WORKFLOWS.md, "Converting without loss").

/// The text form of Brine metadata values in string-only metadata
/// (safetensors `__metadata__`, ``TensorBundle/metadata``), and back.
///
/// - A string stays the same string, unless it is itself a marked text (one
///   of the two markers below followed by canonical base64, as Brine writes
///   it): then it is escaped as a marked value, so that reading it back gives
///   the same string. Any other text, including one that starts with a
///   marker but is not followed by canonical base64 (another tool's `data:`
///   URL), is a string as it stands, and converts back byte for byte.
/// - bytes: `data:application/octet-stream;base64,` + standard base64
///   (RFC 4648, with padding) of the bytes: `00 01 ff` → `data:application/octet-stream;base64,AAH/`.
/// - Every other kind (null, bool, int, uint, float32, float64, list, map):
///   `data:application/vnd.brine.value;base64,` + base64 of the value's
///   binary encoding (docs/FORMAT.md, "Values"): exact for every kind (ints
///   beyond 2⁵³, float32 vs float64 bit patterns, NaN payloads, nested lists
///   and maps with their key order).
///
/// Both markers are RFC 2397 `data:` URLs, so other tools can decode them.
public enum MetadataText {
    /// The marker of a bytes value.
    public static let bytesPrefix = "data:application/octet-stream;base64,"
    /// The marker of any other non-string value.
    public static let valuePrefix = "data:application/vnd.brine.value;base64,"

    /// The text that stands for `value` in string-only metadata.
    /// - Throws: ``BrineError`` `.invalidArgument` for an array reference
    ///   (never valid in metadata).
    public static func text(for value: Value, key: String) throws(BrineError) -> String {
        switch value {
        case .string(let s) where marked(s) == nil:
            return s
        case .bytes(let b):
            return bytesPrefix + Data(b).base64EncodedString()
        case .arrayRef:
            throw BrineError(.invalidArgument, "metadata key '\(key)' holds an array reference, which metadata cannot hold")
        default:
            var w = ByteWriter()
            Header.encodeValue(value, into: &w)
            return valuePrefix + Data(w.bytes).base64EncodedString()
        }
    }

    /// The marker and decoded bytes of `text` when it is a marked text
    /// exactly as ``text(for:key:)`` writes one: a marker (compared by its
    /// bytes) followed by canonical base64 (RFC 4648 with padding, zero
    /// trailing bits: re-encoding the bytes gives the same text); else `nil`.
    static func marked(_ text: String) -> (isBytes: Bool, bytes: [UInt8])? {
        for (isBytes, prefix) in [(true, bytesPrefix), (false, valuePrefix)] where text.utf8.starts(with: prefix.utf8) {
            let b64 = String(decoding: text.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
            guard let d = Data(base64Encoded: b64), d.base64EncodedString() == b64 else { return nil }
            return (isBytes, [UInt8](d))
        }
        return nil
    }

    /// The value that `text` stands for: the inverse of ``text(for:key:)``.
    /// Text that is not a marked text as Brine writes it (a marker followed
    /// by canonical base64) is a string, exactly as it stands.
    /// - Throws: ``BrineError`` `.invalidInterop` naming the key when a
    ///   marked value's bytes are not one valid value.
    public static func value(from text: String, key: String) throws(BrineError) -> Value {
        guard let (isBytes, bytes) = marked(text) else { return .string(text) }
        if isBytes { return .bytes(bytes) }
        do throws(BrineError) {
            return try typedThrows {
                try bytes.withUnsafeBytes { (b) throws(BrineError) -> Value in
                    var r = ByteReader(b, fileOffset: 0, errorCode: .invalidInterop)
                    let v = try Header.decodeValue(&r, depth: 1, limits: ReadLimits(), arrayCount: 0, allowArrayRefs: false)
                    guard r.isAtEnd else { throw r.fail("\(r.remaining) bytes after the value") }
                    return v
                }
            }
        } catch {
            throw BrineError(.invalidInterop, "metadata key '\(key)': not a valid Brine value (\(error.message))")
        }
    }
}

/// Finds the arrays a Brine object tree holds inline (docs/FORMAT.md,
/// "Codable mapping", "Inline"), so that conversion exports them with the
/// out-of-line ones.
enum InlineArrayExport {
    /// Every inline array of `root`, in tree order, named by its path (the
    /// same rule as out-of-line arrays: escaped keys and decimal list
    /// positions joined by `.`, `root` for the tree itself):
    /// - `bytes` → uint8, shape `[count]`;
    /// - a non-empty list whose elements are all of one numeric kind →
    ///   bool, int64 (`int`), uint64 (`uint`), float32 or float64, shape
    ///   `[count]` (the kind the file stores: a `[Int32]` field stored inline
    ///   comes out int64, a `[Float16]` float32, with the same values);
    /// - a map `{"shape", "scalars"}` (``Tensor``) whose scalars fill the
    ///   shape → the scalars' kind, that shape; `{"dtype", "shape",
    ///   "scalars"}` (``AnyTensor``) → exactly that dtype and shape.
    /// Empty lists hold no element and no dtype, and are not exported. A map
    /// that has the keys of a tensor but whose scalars do not fit it is an
    /// ordinary map (its lists are exported on their own).
    /// - Throws: ``BrineError`` `.invalidArgument` only for an array that
    ///   cannot be built (never for a well-formed tree); `.unsupportedFeature`
    ///   for a ``Tensor`` with no elements (`{"shape": [0, …], "scalars": []}`),
    ///   whose dtype the file does not record.
    static func collect(_ root: Value) throws(BrineError) -> [(path: String, tensor: AnyTensor)] {
        var out: [(path: String, tensor: AnyTensor)] = []
        var stack: [(value: Value, path: [String])] = [(root, [])]
        while let (value, path) = stack.popLast() {
            let name = path.isEmpty ? "root" : path.joined(separator: ".")
            if let t = try tensor(value, path: name) {
                out.append((name, t))
                continue
            }
            switch value {
            case .list(let items):
                for (i, v) in items.enumerated().reversed() { stack.append((v, path + [String(i)])) }
            case .map(let entries):
                for (k, v) in entries.reversed() { stack.append((v, path + [CodingPathNode.escape(k)])) }
            default:
                break
            }
        }
        return out
    }

    /// The tensor an inline value stands for, or `nil` when it is not an array.
    private static func tensor(_ value: Value, path: String) throws(BrineError) -> AnyTensor? {
        switch value {
        case .bytes(let b):
            return try make(.uint8, [b.count], .bytes(b), path: path)
        case .list(let items):
            guard let dtype = kind(of: items) else { return nil }
            return try make(dtype, [items.count], value, path: path)
        case .map(let entries):
            let keys = entries.map(\.key)
            let dict = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            guard keys.sorted() == ["scalars", "shape"] || keys.sorted() == ["dtype", "scalars", "shape"],
                  case .list(let dims)? = dict["shape"], let scalars = dict["scalars"] else { return nil }
            var shape: [Int] = []
            for d in dims {
                guard let n = d.int64Value, n >= 0 else { return nil }
                shape.append(Int(n))
            }
            guard let count = Shape.elementCount(shape) else { return nil }
            // A Tensor with no elements stores an empty list of scalars and
            // no dtype: its element type is not in the file. Exporting its
            // lists as arrays (the shape as "path.shape") or guessing a dtype
            // would both be wrong.
            if dict["dtype"] == nil, count == 0, case .list(let items) = scalars, items.isEmpty {
                throw BrineError(.unsupportedFeature, "the inline Tensor at '\(path)' has no elements, and the file records no dtype for it (a Tensor's inline form names none); it cannot be exported exactly. Save the model with SaveOptions(inlineThreshold: 0) (every array out of line, with its dtype) or hold it as an AnyTensor", arrayPath: path)
            }
            let dtype: DType
            if case .string(let name)? = dict["dtype"] {
                guard let d = DType(name: name) else { return nil }
                dtype = d
            } else {
                switch scalars {
                case .bytes: dtype = .uint8
                case .list(let items):
                    guard let d = kind(of: items) else { return nil }
                    dtype = d
                default: return nil
                }
            }
            switch scalars {
            case .bytes(let b) where b.count == count: break
            case .list(let items) where items.count == count: break
            default: return nil
            }
            // A map that only looks like a tensor (its scalars do not fit the
            // dtype) is an ordinary map: its own lists are exported instead.
            guard case .success(let (storage, _)) = InlineArrays.decode(scalars, dtype: dtype) else { return nil }
            return try AnyTensor(dtype: dtype, shape: shape, storage: storage)
        default:
            return nil
        }
    }

    /// The dtype of a non-empty list whose elements are all of one numeric kind.
    private static func kind(of items: [Value]) -> DType? {
        guard let first = items.first else { return nil }
        let dtype: DType
        switch first {
        case .bool: dtype = .bool
        case .int: dtype = .int64
        case .uint: dtype = .uint64
        case .float32: dtype = .float32
        case .float64: dtype = .float64
        default: return nil
        }
        for v in items {
            switch (v, dtype) {
            case (.bool, .bool), (.int, .int64), (.uint, .uint64), (.float32, .float32), (.float64, .float64): continue
            default: return nil
            }
        }
        return dtype
    }

    private static func make(_ dtype: DType, _ shape: [Int], _ scalars: Value, path: String) throws(BrineError) -> AnyTensor {
        switch InlineArrays.decode(scalars, dtype: dtype) {
        case .success(let (storage, _)):
            return try AnyTensor(dtype: dtype, shape: shape, storage: storage)
        case .failure(let f):
            throw BrineError(.invalidArgument, "inline array: \(f.message)", arrayPath: path)
        }
    }
}
