/// A value on the stack of the pickle machine. Containers and other
/// objects with identity live in the machine's arena and are referred to by
/// index (``obj(_:)``), so that memo references share one object, mutation
/// through any reference is seen by all, and no object graph is ever torn
/// down recursively (a hostile nesting of 10⁷ lists frees like an array).
enum PyValue {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer outside Int64: two's complement, little-endian, as LONG1/LONG4 store it.
    case bigInt([UInt8])
    case float(Double)
    case str(String)
    case bytes([UInt8])
    case obj(Int)
}

/// A key of a dict or set: scalars by value (Python's `True == 1 == 1.0`
/// folded together), objects (tuples, instances) by identity.
enum PyKey: Hashable {
    case none
    case int(Int64)
    case bigInt([UInt8])
    case float(UInt64)
    /// A `str` key by its UTF-8 bytes: Python compares code points, so
    /// canonically equivalent spellings (`"\u{E9}"`, `"e\u{301}"`) are two
    /// keys, where Swift's `String` equality would merge them.
    case str([UInt8])
    case bytes([UInt8])
    case obj(Int)

    init(_ v: PyValue) {
        switch v {
        case .none: self = .none
        case .bool(let b): self = .int(b ? 1 : 0)
        case .int(let i): self = .int(i)
        case .bigInt(let b): self = .bigInt(b)
        case .float(let d):
            if d == d.rounded(), abs(d) < 9.2e18 { self = .int(Int64(d)) } else { self = .float(d.bitPattern) }
        case .str(let s): self = .str(Array(s.utf8))
        case .bytes(let b): self = .bytes(b)
        case .obj(let i): self = .obj(i)
        }
    }
}

/// A NumPy dtype as `numpy.dtype(...)` + its `__setstate__` tuple describe it.
struct NumpyDType {
    /// The kind letter: `b i u f c O U S V M m`.
    var kind: Character
    /// Bytes per element.
    var itemSize: Int
    /// `<`, `>`, `|` or `=` (native, little-endian here).
    var byteOrder: Character = "|"
    /// The fields of a structured dtype, in `names` order.
    var fields: [(name: String, dtype: NumpyDType, offset: Int)]? = nil
    /// A subarray dtype (`('<f4', (3,))`), which Brine does not read.
    var isSubarray = false

    /// The Brine dtype, or `nil` when Brine has no such dtype.
    var brineDType: DType? {
        guard fields == nil, !isSubarray else { return nil }
        return DType(numpyKind: kind, itemSize: itemSize)
    }

    var isBigEndian: Bool { byteOrder == ">" && itemSize > 1 }

    /// NumPy's `dtype.str` for simple dtypes (`'<f8'`, `'|b1'`), `'object'`
    /// for object arrays, a list of `[name, str]` for structured ones.
    var descr: Value {
        if let fields {
            return .list(fields.map { .list([.string($0.name), $0.dtype.descr, .int(Int64($0.offset))]) })
        }
        if kind == "O" { return "object" }
        let order: Character = itemSize == 1 || kind == "O" ? "|" : (byteOrder == "=" ? "<" : byteOrder)
        // NumPy counts a unicode dtype in characters (UCS-4, 4 bytes each):
        // '<U4' holds 16 bytes per item.
        return .string("\(order)\(kind)\(kind == "U" ? itemSize / 4 : itemSize)")
    }

    /// Parses the first argument of `numpy.dtype(...)` as `dtype.__reduce__`
    /// writes it: `'f8'`, `'b1'`, `'O8'`, `'V64'`, `'U40'`, `'M8'`, …
    static func parse(_ s: String) -> NumpyDType? {
        var rest = Substring(s)
        var order: Character = "|"
        if let f = rest.first, "<>|=".contains(f) { order = f; rest = rest.dropFirst() }
        if rest == "?" { return NumpyDType(kind: "b", itemSize: 1) }
        guard let kind = rest.first, "biufcOUSVMma".contains(kind), rest.count <= 12 else { return nil }
        let digits = rest.dropFirst()
        var size = digits.isEmpty ? 0 : (Int(digits) ?? -1)
        guard size >= 0 else { return nil }
        if kind == "U" && digits.isEmpty { size = 0 }
        if kind == "O" && size == 0 { size = 8 }
        if kind == "a" { return NumpyDType(kind: "S", itemSize: size, byteOrder: order) }
        return NumpyDType(kind: kind, itemSize: size, byteOrder: kind == "b" || size <= 1 ? "|" : (order == "|" ? "<" : order))
    }
}

/// The data of a NumPy array being rebuilt.
enum NumpyData {
    case pending
    case bytes([UInt8])
    case storage(TensorStorage)
    /// The elements of an object array, C order.
    case objects([PyValue])
}

/// A NumPy array rebuilt from `_reconstruct` + `__setstate__`, `_frombuffer`,
/// `scalar` or a joblib `NumpyArrayWrapper` and the bytes after it.
struct NumpyArray {
    var shape: [Int] = []
    var dtype = NumpyDType(kind: "f", itemSize: 8, byteOrder: "<")
    var fortranOrder = false
    var data: NumpyData = .pending
}

/// An object of the pickle machine's arena.
final class PyObject {
    enum Kind {
        case list, tuple, dict, set, frozenset, bytearray
        /// A module attribute named by GLOBAL/STACK_GLOBAL/INST, never imported.
        case global
        /// The recorded result of calling a callable (REDUCE, NEWOBJ,
        /// NEWOBJ_EX, INST, OBJ) plus what BUILD, APPEND(S), SETITEM(S) did to it.
        case instance
        case ndarray
        case dtype
        case complex
        case slice
        /// A PERSID/BINPERSID reference, recorded as it is.
        case persistent
    }

    var kind: Kind
    /// list/tuple/set items; an instance's appended items; slice (start, stop, step); complex (real, imag).
    var items: [PyValue] = []
    /// dict entries, and an instance's SETITEM(S) entries, in insertion order.
    var keys: [PyValue] = []
    var values: [PyValue] = []
    var index: [PyKey: Int] = [:]
    /// A global's dotted name (`module.qualname`); an instance's callable name.
    var name = ""
    /// An instance whose callable is not a global: the callable.
    var callee: PyValue?
    var args: [PyValue] = []
    var kwargs: PyValue?
    var state: PyValue?
    var bytes: [UInt8] = []
    var array: NumpyArray?
    var dtype: NumpyDType?

    init(_ kind: Kind) { self.kind = kind }

    /// Sets `key` to `value` (an existing key keeps its position, as in a Python dict).
    /// A NaN key is always a new entry: NaN equals nothing, so two NaN keys
    /// (two objects) are two entries of a Python dict.
    func setItem(_ key: PyValue, _ value: PyValue) {
        if case .float(let d) = key, d.isNaN {
            keys.append(key)
            values.append(value)
            return
        }
        let k = PyKey(key)
        if let i = index[k] {
            values[i] = value
        } else {
            index[k] = keys.count
            keys.append(key)
            values.append(value)
        }
    }

    /// Adds `item` to a set unless an equal key is there.
    func addToSet(_ item: PyValue) {
        if case .float(let d) = item, d.isNaN {
            items.append(item)
            return
        }
        let k = PyKey(item)
        guard index[k] == nil else { return }
        index[k] = items.count
        items.append(item)
    }
}
