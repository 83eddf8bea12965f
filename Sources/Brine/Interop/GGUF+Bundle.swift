import Foundation

// GGUF ↔ TensorBundle (docs/FORMAT.md "GGUF in a bundle"):
//
// - every metadata key/value becomes a bundle metadata entry under its own
//   key; the text is the value itself for a STRING, JSON otherwise (numbers
//   in shortest round-trip form, non-finite floats as "0x…" bit-pattern
//   strings, arrays as JSON arrays);
// - `gguf.kv_types` holds the GGUF types, in file order: a JSON array of
//   [key, type] pairs, type being "UINT32", "STRING", "ARRAY[FLOAT32]",
//   "ARRAY[ARRAY[INT32]]", … (an empty array of arrays: "ARRAY[ARRAY]");
// - plain tensors become arrays of their C-order shape;
// - a quantized tensor becomes a uint8 array of shape
//   `logical.dropLast() + [row bytes]` (ggml's blocks, unchanged), listed in
//   `gguf.quantized`: a JSON object {name: {"ggml_type": "Q8_0", "shape": [C-order logical shape]}}.
//
// Writing a bundle as GGUF reverses this; metadata keys without a type in
// `gguf.kv_types` (from other formats) are written as STRINGs. What GGUF has
// no place for is refused unless the caller opts in to dropping it
// (`dropMetadata`, `brine convert --drop-metadata`), never dropped quietly:
// other untyped keys under `gguf.` (the prefix of this layout's own keys) and
// a model's object tree (a Brine model's structure and hyper-parameters, a
// pickle's tree).

extension GGUF {
    /// The bundle metadata key that records GGUF value types (see ``GGUFFile/bundle()``).
    public static let typesKey = "gguf.kv_types"
    /// The bundle metadata key that lists quantized tensors (see ``GGUFFile/bundle()``).
    public static let quantizedKey = "gguf.quantized"

    /// Names the quantized tensors a bundle carries as raw ggml blocks
    /// (listed under ``quantizedKey``), with their ggml type. Entries naming
    /// a tensor the bundle does not hold (left out by a selection) are skipped.
    /// - Throws: ``BrineError`` `.invalidArgument` when the entry is not valid.
    public static func quantizedTensors(in bundle: TensorBundle) throws(BrineError) -> [(name: String, type: GGMLType, shape: [Int])] {
        guard let text = bundle.metadata[quantizedKey] else { return [] }
        let json = try GGUFMetadataText.parseJSON(text, key: quantizedKey)
        guard case .object(let entries) = json else {
            throw BrineError(.invalidArgument, "bundle metadata '\(quantizedKey)' is not a JSON object")
        }
        var out: [(name: String, type: GGMLType, shape: [Int])] = []
        // Only the bundle's own tensors: a bundle cut down to some arrays
        // (`brine convert --array`) keeps the metadata of the ones left out.
        // By code points: "\u{E9}" and "e\u{301}" are two tensors.
        let present = Set(bundle.names.map(ExactName.init))
        for (name, v) in entries where present.contains(ExactName(name)) {
            guard case .object(let fields) = v,
                  case .string(let typeName)? = fields.first(where: { $0.key == "ggml_type" })?.value,
                  let type = GGMLType(name: typeName),
                  case .array(let dims)? = fields.first(where: { $0.key == "shape" })?.value,
                  dims.count <= maxDimensions
            else {
                throw BrineError(.invalidArgument, "bundle metadata '\(quantizedKey)' has an invalid entry for '\(name)'", arrayPath: name)
            }
            var shape: [Int] = []
            for d in dims {
                guard let n = d.nonNegativeInt else {
                    throw BrineError(.invalidArgument, "bundle metadata '\(quantizedKey)' has an invalid shape for '\(name)'", arrayPath: name)
                }
                shape.append(n)
            }
            out.append((name, type, shape))
        }
        return out
    }

    /// Writes a bundle as a GGUF v3 file: the inverse of ``GGUFFile/bundle()``.
    /// - Parameters:
    ///   - bundle: tensors and metadata; `gguf.kv_types` gives metadata types
    ///     (other keys are written as STRINGs), `gguf.quantized` marks uint8
    ///     arrays that hold ggml blocks (entries for tensors the bundle does
    ///     not hold, such as ones a selection left out, are ignored).
    ///   - url: the destination.
    ///   - durable: `fsync` before returning.
    ///   - dropMetadata: leave out what GGUF cannot hold (see
    ///     ``contentGGUFCannotHold(_:)``) instead of refusing the write.
    /// - Throws: ``BrineError`` `.unsupportedFeature` (without `dropMetadata`:
    ///   metadata keys under `gguf.` other than `gguf.kv_types`,
    ///   `gguf.quantized` and keys `gguf.kv_types` types, or an object tree
    ///   beyond a flat map of arrays, which GGUF has no place for; nothing is
    ///   written), `.unsupportedDType` (bool and unsigned integer arrays: ggml
    ///   has none), `.invalidArgument` (a metadata text that does not parse
    ///   as its recorded type, a type listed for a missing key, a bad
    ///   `gguf.*` entry, more than 4 dimensions), `.shapeMismatch` (a
    ///   quantized tensor whose bytes do not match its type and shape), `.io`.
    public static func write(_ bundle: TensorBundle, to url: URL, durable: Bool = true, dropMetadata: Bool = false) throws(BrineError) {
        let path = url.path
        var metadata: [(key: String, value: GGUFValue)] = []
        var typed = Set<ExactName>()  // by code points, as GGUF keys are compared
        if let text = bundle.metadata[typesKey] {
            guard case .array(let pairs) = try GGUFMetadataText.parseJSON(text, key: typesKey) else {
                throw BrineError(.invalidArgument, "bundle metadata '\(typesKey)' is not a JSON array", filePath: path)
            }
            for p in pairs {
                guard case .array(let kt) = p, kt.count == 2, case .string(let key) = kt[0], case .string(let type) = kt[1] else {
                    throw BrineError(.invalidArgument, "bundle metadata '\(typesKey)' holds an entry that is not a [key, type] pair", filePath: path)
                }
                // The key exactly: a type for another spelling would write
                // the bundle's value under the type entry's spelling.
                guard let i = bundle.metadata.index(forKey: key), bundle.metadata.keys[i].isSameName(as: key) else {
                    throw BrineError(.invalidArgument, "bundle metadata '\(typesKey)' gives a type for \(Value.quoted(key)), which the bundle does not have (in these code points)", filePath: path)
                }
                let text = bundle.metadata.values[i]
                guard typed.insert(ExactName(key)).inserted else {
                    throw BrineError(.invalidArgument, "bundle metadata '\(typesKey)' lists '\(key)' twice", filePath: path)
                }
                metadata.append((key, try GGUFMetadataText.parse(text, type: type, key: key)))
            }
        }
        if !dropMetadata {
            let (keys, tree) = unkept(bundle, typed: typed)
            if !keys.isEmpty || tree {
                let what = TensorBundle.describeUnkept(keys: keys, label: "metadata keys under the prefix 'gguf.', which the GGUF layout reserves for its own keys (rename them to keep them)", tree: tree)
                throw BrineError(
                    .unsupportedFeature,
                    "GGUF holds tensors and key/value metadata only; this bundle also has \(what). Set dropMetadata (brine convert --drop-metadata) to leave them out, or write safetensors or Brine, which keep them",
                    filePath: path)
            }
        }
        for key in bundle.metadata.keys.sorted(by: utf8Less) where !typed.contains(ExactName(key)) && !key.hasPrefix("gguf.") {
            metadata.append((key, .string(bundle.metadata[key]!)))
        }
        // By code points: an entry for "\u{E9}" never marks a tensor "e\u{301}" as blocks.
        var quantized: [ExactName: (type: GGMLType, shape: [Int])] = [:]
        for q in try quantizedTensors(in: bundle) { quantized[ExactName(q.name)] = (q.type, q.shape) }
        var tensors: [GGUFTensorData] = []
        for (name, t) in bundle.tensors {
            if let q = quantized.removeValue(forKey: ExactName(name)) {
                guard t.dtype == .uint8 else {
                    throw BrineError(.dtypeMismatch, "quantized tensor (\(q.type.name)) must be carried as uint8 blocks, not \(t.dtype.name)", filePath: path, arrayPath: name)
                }
                tensors.append(try GGUFTensorData(name: name, type: q.type, shape: q.shape, storage: t.storage))
            } else {
                do throws(BrineError) {
                    tensors.append(try GGUFTensorData(name: name, tensor: t))
                } catch {
                    throw error.inFile(path)
                }
            }
        }
        try write(tensors, metadata: metadata, to: url, durable: durable)
    }

    /// What ``write(_:to:durable:dropMetadata:)`` would leave out of a GGUF
    /// file: the metadata keys under `gguf.` that are neither the layout's own
    /// (``typesKey``, ``quantizedKey``) nor given a type in ``typesKey``
    /// (sorted), and whether the bundle has an object tree beyond a flat map
    /// from names to arrays (``TensorBundle/contentNumPyCannotHold()``).
    /// - Returns: `([], false)` when GGUF can hold everything. A ``typesKey``
    ///   that does not parse counts as typing nothing here (the write itself
    ///   throws `.invalidArgument` for it).
    public static func contentGGUFCannotHold(_ bundle: TensorBundle) -> (metadataKeys: [String], objectTree: Bool) {
        var typed = Set<ExactName>()
        if let text = bundle.metadata[typesKey], case .array(let pairs)? = try? GGUFMetadataText.parseJSON(text, key: typesKey) {
            for p in pairs {
                if case .array(let kt) = p, kt.count == 2, case .string(let key) = kt[0] { typed.insert(ExactName(key)) }
            }
        }
        return unkept(bundle, typed: typed)
    }

    /// ``contentGGUFCannotHold(_:)`` given the keys ``typesKey`` types.
    static func unkept(_ bundle: TensorBundle, typed: Set<ExactName>) -> (metadataKeys: [String], objectTree: Bool) {
        let keys = bundle.metadata.keys.filter {
            $0.hasPrefix("gguf.") && !$0.isSameName(as: typesKey) && !$0.isSameName(as: quantizedKey) && !typed.contains(ExactName($0))
        }.sorted(by: utf8Less)
        return (keys, bundle.contentNumPyCannotHold().objectTree)
    }
}

extension GGUFFile {
    /// Every tensor and the metadata as a ``TensorBundle``, losslessly (see
    /// the layout at the top of this file and docs/FORMAT.md): metadata as
    /// text plus `gguf.kv_types`, plain tensors as arrays, quantized tensors
    /// as uint8 block arrays listed in `gguf.quantized`.
    /// - Throws: ``BrineError`` `.limitExceeded`, `.io` (reading tensors),
    ///   `.unsupportedFeature` when two metadata keys are canonically
    ///   equivalent spellings (the bundle's `[String: String]` would merge them).
    public func bundle() throws(BrineError) -> TensorBundle {
        var meta: [String: String] = [:]
        var types: [JSON] = []
        for (k, v) in metadata {
            // Two spellings a [String: String] would merge (one value lost).
            try meta.refuseOtherSpelling(of: k, names: "metadata keys", holder: "a bundle's metadata") { BrineError(.unsupportedFeature, $0, filePath: path) }
            meta[k] = GGUFMetadataText.render(v)
            types.append(.array([.string(k), .string(GGUFMetadataText.typeName(v) ?? "ARRAY")]))
        }
        if !types.isEmpty { meta[GGUF.typesKey] = String(decoding: JSON.array(types).compactText, as: UTF8.self) }
        var out: [(name: String, tensor: AnyTensor)] = []
        var quantized: [(key: String, value: JSON)] = []
        for t in tensors {
            if t.type.isQuantized {
                out.append((t.name, try rawBlocks(t.name)))
                quantized.append((t.name, .object([("ggml_type", .string(t.type.name)),
                                                   ("shape", .array(t.shape.map { .integer(negative: false, magnitude: UInt64($0)) }))])))
            } else {
                out.append((t.name, try tensor(t.name)))
            }
        }
        if !quantized.isEmpty { meta[GGUF.quantizedKey] = String(decoding: JSON.object(quantized).compactText, as: UTF8.self) }
        return TensorBundle(tensors: out, metadata: meta)
    }
}

/// The text form of GGUF metadata values in a bundle.
enum GGUFMetadataText {
    /// "UINT32", "ARRAY[STRING]", "ARRAY[ARRAY[INT32]]"; `nil` for an array
    /// of arrays whose elements differ in type.
    static func typeName(_ v: GGUFValue) -> String? {
        guard case .array(let e, let items) = v else { return v.type.description }
        guard e == .array else { return "ARRAY[\(e)]" }
        guard let first = items.first else { return "ARRAY[ARRAY]" }
        guard let inner = typeName(first) else { return nil }
        for item in items.dropFirst() where typeName(item) != inner { return nil }
        return "ARRAY[\(inner)]"
    }

    /// STRING values as they are; others as JSON.
    static func render(_ v: GGUFValue) -> String {
        if case .string(let s) = v { return s }
        return String(decoding: json(v).compactText, as: UTF8.self)
    }

    static func json(_ v: GGUFValue) -> JSON {
        func int<T: BinaryInteger>(_ x: T) -> JSON { .integer(negative: x < 0, magnitude: UInt64(x.magnitude)) }
        switch v {
        case .uint8(let x): return int(x)
        case .int8(let x): return int(x)
        case .uint16(let x): return int(x)
        case .int16(let x): return int(x)
        case .uint32(let x): return int(x)
        case .int32(let x): return int(x)
        case .uint64(let x): return int(x)
        case .int64(let x): return int(x)
        case .float32(let x): return x.isFinite ? .number(x.description) : .string("0x" + String(x.bitPattern, radix: 16).leftPad(8))
        case .float64(let x): return x.isFinite ? .number(x.description) : .string("0x" + String(x.bitPattern, radix: 16).leftPad(16))
        case .bool(let b): return .bool(b)
        case .string(let s): return .string(s)
        case .array(_, let items): return .array(items.map(json))
        }
    }

    static func parseJSON(_ text: String, key: String) throws(BrineError) -> JSON {
        let bytes = Array(text.utf8)
        do {
            return try bytes.withUnsafeBytes { b in try JSON.parse(b, maxDepth: 16) }
        } catch let error as BrineError {
            throw BrineError(.invalidArgument, "bundle metadata '\(key)' is not valid JSON: \(error.message)")
        } catch {
            throw BrineError(.invalidArgument, "bundle metadata '\(key)' is not valid JSON")
        }
    }

    /// Parses the text of `key` as GGUF type `type`.
    static func parse(_ text: String, type: String, key: String) throws(BrineError) -> GGUFValue {
        if type == "STRING" { return .string(text) }
        return try value(parseJSON(text, key: key), type: Substring(type), key: key)
    }

    static func value(_ j: JSON, type: Substring, key: String) throws(BrineError) -> GGUFValue {
        func bad() -> BrineError {
            BrineError(.invalidArgument, "bundle metadata '\(key)' does not hold a GGUF \(type)")
        }
        func integer<T: FixedWidthInteger>(_: T.Type) throws(BrineError) -> T {
            guard case .integer(let negative, let m) = j else { throw bad() }
            if negative {
                guard T.isSigned, m <= UInt64(T.max) + 1 else { throw bad() }
                return m == 0 ? 0 : T(truncatingIfNeeded: 0 &- m)
            }
            guard let v = T(exactly: m) else { throw bad() }
            return v
        }
        func text() throws(BrineError) -> String {
            switch j {
            case .number(let s): return s
            case .integer(let negative, let m): return (negative ? "-" : "") + String(m)
            default: throw bad()
            }
        }
        func bits(_ width: Int) -> UInt64? {
            guard case .string(let s) = j, s.hasPrefix("0x"), s.count == 2 + width / 4 else { return nil }
            return UInt64(s.dropFirst(2), radix: 16)
        }
        switch type {
        case "UINT8": return .uint8(try integer(UInt8.self))
        case "INT8": return .int8(try integer(Int8.self))
        case "UINT16": return .uint16(try integer(UInt16.self))
        case "INT16": return .int16(try integer(Int16.self))
        case "UINT32": return .uint32(try integer(UInt32.self))
        case "INT32": return .int32(try integer(Int32.self))
        case "UINT64": return .uint64(try integer(UInt64.self))
        case "INT64": return .int64(try integer(Int64.self))
        case "FLOAT32":
            if let b = bits(32) { return .float32(Float(bitPattern: UInt32(b))) }
            guard let f = Float(try text()) else { throw bad() }
            return .float32(f)
        case "FLOAT64":
            if let b = bits(64) { return .float64(Double(bitPattern: b)) }
            guard let d = Double(try text()) else { throw bad() }
            return .float64(d)
        case "BOOL":
            guard case .bool(let b) = j else { throw bad() }
            return .bool(b)
        case "STRING":
            guard case .string(let s) = j else { throw bad() }
            return .string(s)
        case "ARRAY[ARRAY]":
            guard case .array(let items) = j, items.isEmpty else { throw bad() }
            return .array(.array, [])
        default:
            guard type.hasPrefix("ARRAY["), type.hasSuffix("]"), case .array(let items) = j else { throw bad() }
            let inner = type.dropFirst(6).dropLast()
            let element: GGUFValueType
            if inner.hasPrefix("ARRAY") { element = .array } else {
                guard let e = GGUFValueType(name: String(inner)) else { throw bad() }
                element = e
            }
            var out: [GGUFValue] = []
            out.reserveCapacity(items.count)
            for item in items { out.append(try value(item, type: inner, key: key)) }
            return .array(element, out)
        }
    }
}

extension GGUFValue {
    /// The type as bundle metadata records it (`"UINT32"`, `"ARRAY[STRING]"`,
    /// `"ARRAY[ARRAY[INT32]]"`); `nil` for an array of arrays of differing types.
    public var typeName: String? { GGUFMetadataText.typeName(self) }

    /// The value as bundle metadata text: a STRING as it is, anything else
    /// as JSON (non-finite floats as `"0x…"` bit-pattern strings).
    public var text: String { GGUFMetadataText.render(self) }
}
