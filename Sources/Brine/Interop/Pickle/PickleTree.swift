/// Turns the pickle machine's object graph into Brine's value tree and
/// arrays (docs/PICKLE.md, "The tree"): containers become lists and maps,
/// recorded calls become `{"__class__": name, "args": …, "state": …}`
/// nodes, NumPy arrays become Brine arrays named by their path in the tree.
///
/// Shared objects are expanded at every reference (a tree has no
/// references), except arrays, which are stored once; every node and every
/// string or bytes value counts against ``PickleReadOptions/maxTreeNodes``
/// and ``PickleReadOptions/maxTreeBytes``, so a memo bomb (one object
/// referenced 10⁸ times) stops at the cap with `.limitExceeded` instead of
/// expanding. Nesting is capped by `limits.maxDepth`; a cycle is refused.
struct PickleTreeBuilder {
    let objects: [PyObject]
    let options: PickleReadOptions
    private(set) var arrays: [(path: String, tensor: AnyTensor)] = []
    private(set) var classes: [String] = []
    private var classSet: Set<String> = []
    private var arrayCache: [Int: Value] = [:]
    /// Objects already converted, with the nodes and bytes they count: a
    /// shared object's later references reuse the value (copy-on-write, no
    /// new memory) and charge its size against the caps before anything.
    private var converted: [Int: (value: Value, nodes: Int, bytes: Int, height: Int)] = [:]
    private var deepest = 0
    /// By Unicode scalars (``ExactName``): two spellings of a Python key are two paths.
    private var usedPaths: Set<ExactName> = []
    private var active: Set<Int> = []
    private var nodes = 0
    private var bytes = 0

    init(objects: [PyObject], options: PickleReadOptions) {
        self.objects = objects
        self.options = options
    }

    private func pathText(_ path: [String]) -> String { path.isEmpty ? "array" : path.joined(separator: ".") }

    private mutating func count(_ n: Int = 1, bytes b: Int = 0) throws(BrineError) {
        nodes += n
        bytes += b
        guard nodes <= options.maxTreeNodes else {
            throw BrineError(.limitExceeded, "the object tree has more than \(options.maxTreeNodes) nodes once shared references are expanded (PickleReadOptions.maxTreeNodes)")
        }
        guard bytes <= options.maxTreeBytes else {
            throw BrineError(.limitExceeded, "the object tree holds more than \(options.maxTreeBytes) bytes of strings once shared references are expanded (PickleReadOptions.maxTreeBytes)")
        }
    }

    private mutating func noteClass(_ name: String) {
        if classSet.insert(name).inserted { classes.append(name) }
    }

    mutating func convert(_ v: PyValue, _ path: [String], depth: Int) throws(BrineError) -> Value {
        guard depth < options.limits.maxDepth else {
            throw BrineError(.limitExceeded, "the object tree nests deeper than \(options.limits.maxDepth) levels", arrayPath: pathText(path))
        }
        try count()
        deepest = Swift.max(deepest, depth)
        switch v {
        case .none: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .float(let d): return .float64(d)
        case .str(let s):
            try count(0, bytes: s.utf8.count)
            return .string(s)
        case .bytes(let b):
            try count(0, bytes: b.count)
            return .bytes(b)
        case .bigInt(let b):
            if b.count == 9, b[8] == 0 {
                var u: UInt64 = 0
                for k in 0 ..< 8 { u |= UInt64(b[k]) << (8 * UInt64(k)) }
                return .uint(u)
            }
            try count(2, bytes: b.count * 2)
            return ["__class__": "builtins.int", "hex": .string(PickleTreeBuilder.hex(b))]
        case .obj(let i):
            if let cached = arrayCache[i] { return cached }
            if let c = converted[i] {
                guard depth + c.height < options.limits.maxDepth else {
                    throw BrineError(.limitExceeded, "the object tree nests deeper than \(options.limits.maxDepth) levels", arrayPath: pathText(path))
                }
                try count(c.nodes - 1, bytes: c.bytes)
                return c.value
            }
            guard !active.contains(i) else {
                throw BrineError(.unsupportedFeature, "the object graph has a cycle at '\(pathText(path))'; a Brine tree cannot hold it", arrayPath: pathText(path))
            }
            active.insert(i)
            defer { active.remove(i) }
            let (n0, b0, d0) = (nodes, bytes, deepest)
            deepest = depth
            let v = try convertObject(i, path, depth: depth)
            converted[i] = (v, nodes - n0 + 1, bytes - b0, deepest - depth)
            deepest = Swift.max(d0, deepest)
            return v
        }
    }

    private mutating func list(_ items: [PyValue], _ path: [String], depth: Int) throws(BrineError) -> Value {
        var out: [Value] = []
        out.reserveCapacity(items.count)
        for (k, x) in items.enumerated() { out.append(try convert(x, path + [String(k)], depth: depth + 1)) }
        return .list(out)
    }

    /// A dict: a map when every key is a string, else `{"__class__": "builtins.dict", "items": [[k, v], …]}`.
    private mutating func dict(_ o: PyObject, _ path: [String], depth: Int, className: String = "builtins.dict") throws(BrineError) -> Value {
        var allStrings = true
        for k in o.keys { if case .str = k {} else { allStrings = false; break } }
        if allStrings {
            var m: [(key: String, value: Value)] = []
            m.reserveCapacity(o.keys.count)
            for (k, x) in zip(o.keys, o.values) {
                guard case .str(let key) = k else { continue }
                try count(0, bytes: key.utf8.count)
                m.append((key, try convert(x, path + [key], depth: depth + 1)))
            }
            return .map(m)
        }
        var pairs: [Value] = []
        for (n, (k, x)) in zip(o.keys, o.values).enumerated() {
            try count()
            pairs.append(.list([try convert(k, path + ["items", String(n), "0"], depth: depth + 3),
                                try convert(x, path + ["items", String(n), "1"], depth: depth + 3)]))
        }
        try count()
        return .map([("__class__", .string(className)), ("items", .list(pairs))])
    }

    private mutating func convertObject(_ i: Int, _ path: [String], depth: Int) throws(BrineError) -> Value {
        let o = objects[i]
        switch o.kind {
        case .list, .tuple:
            return try list(o.items, path, depth: depth)
        case .dict:
            return try dict(o, path, depth: depth)
        case .set, .frozenset:
            let name = o.kind == .set ? "builtins.set" : "builtins.frozenset"
            try count()
            return .map([("__class__", .string(name)), ("items", try list(o.items, path + ["items"], depth: depth + 1))])
        case .bytearray:
            try count(2, bytes: o.bytes.count)
            return .map([("__class__", "builtins.bytearray"), ("value", .bytes(o.bytes))])
        case .complex:
            let parts = try o.items.map { (x) throws(BrineError) -> Value in try convert(x, path, depth: depth + 1) }
            return .map([("__class__", "builtins.complex"), ("real", parts[0]), ("imag", parts[1])])
        case .slice:
            return .map([("__class__", "builtins.slice"),
                         ("start", try convert(o.items[0], path + ["start"], depth: depth + 1)),
                         ("stop", try convert(o.items[1], path + ["stop"], depth: depth + 1)),
                         ("step", try convert(o.items[2], path + ["step"], depth: depth + 1))])
        case .global:
            noteClass(o.name)
            try count(1, bytes: o.name.utf8.count)
            return .map([("__global__", .string(o.name))])
        case .persistent:
            return .map([("__persistent_id__", try convert(o.state ?? .none, path + ["__persistent_id__"], depth: depth + 1))])
        case .dtype:
            try count(1)
            return .map([("__class__", "numpy.dtype"), ("descr", o.dtype?.descr ?? .null)])
        case .ndarray:
            let v = try arrayValue(o, path, depth: depth)
            arrayCache[i] = v
            return v
        case .instance:
            var m: [(key: String, value: Value)] = []
            if o.callee == nil {
                noteClass(o.name)
                try count(1, bytes: o.name.utf8.count)
                m.append(("__class__", .string(o.name)))
            } else {
                m.append(("__call__", try convert(o.callee!, path + ["__call__"], depth: depth + 1)))
            }
            if !o.args.isEmpty { m.append(("args", try list(o.args, path + ["args"], depth: depth + 1))) }
            if let kw = o.kwargs { m.append(("kwargs", try convert(kw, path + ["kwargs"], depth: depth + 1))) }
            if let st = o.state { m.append(("state", try convert(st, path, depth: depth + 1))) }
            if !o.items.isEmpty { m.append(("items", try list(o.items, path + ["items"], depth: depth + 1))) }
            if !o.keys.isEmpty { m.append(("dict_items", try dict(o, path + ["items"], depth: depth + 1))) }
            return .map(m)
        }
    }

    // MARK: Arrays

    private mutating func register(_ t: AnyTensor, _ path: [String]) throws(BrineError) -> Value {
        guard arrays.count < options.limits.maxArrays else {
            throw BrineError(.limitExceeded, "more than \(options.limits.maxArrays) arrays", arrayPath: pathText(path))
        }
        var name = pathText(path)
        if usedPaths.contains(ExactName(name)) {
            var n = 2
            while usedPaths.contains(ExactName("\(name)#\(n)")) { n += 1 }
            name = "\(name)#\(n)"
        }
        usedPaths.insert(ExactName(name))
        arrays.append((name, t))
        return .arrayRef(arrays.count - 1)
    }

    /// The stored bytes of an array in C order (Fortran-order data transposed).
    private func cOrderBytes(_ a: NumpyArray, itemSize: Int, _ path: [String]) throws(BrineError) -> TensorStorage {
        let storage: TensorStorage
        switch a.data {
        case .bytes(let b): storage = b.withUnsafeBytes { TensorStorage(copying: $0) }
        case .storage(let s): storage = s
        case .pending, .objects:
            throw BrineError(.invalidInterop, "the NumPy array never received its data (no BUILD)", arrayPath: pathText(path))
        }
        guard let need = Shape.byteCount(a.shape, itemSize: itemSize), need == storage.byteCount else {
            throw BrineError(.invalidInterop, "array data of \(storage.byteCount) bytes does not hold shape \(a.shape)", arrayPath: pathText(path))
        }
        guard a.fortranOrder, a.shape.filter({ $0 != 1 }).count > 1 else { return storage }
        let out = TensorStorage(uninitializedByteCount: storage.byteCount)
        if [1, 2, 4, 8].contains(itemSize) {
            FortranOrder.toCOrder(storage.baseAddress, into: out.baseAddress, shape: a.shape, itemSize: itemSize)
        } else {
            // Any element size (records, strings): index arithmetic, element by element.
            let n = storage.byteCount / Swift.max(itemSize, 1)
            var idx = [Int](repeating: 0, count: a.shape.count)
            for c in 0 ..< n {
                var f = 0, stride = 1
                for d in 0 ..< a.shape.count { f += idx[d] * stride; stride *= a.shape[d] }
                (out.baseAddress + c * itemSize).copyMemory(from: storage.baseAddress + f * itemSize, byteCount: itemSize)
                var d = a.shape.count - 1
                while d >= 0 { idx[d] += 1; if idx[d] < a.shape[d] { break }; idx[d] = 0; d -= 1 }
            }
        }
        return out
    }

    private func swapped(_ s: TensorStorage, itemSize: Int) -> TensorStorage {
        let out = s.isView || !s.isWritable ? TensorStorage(copying: UnsafeRawBufferPointer(start: s.baseAddress, count: s.byteCount)) : s
        ByteSwap.swapInPlace(UnsafeMutableRawBufferPointer(start: out.baseAddress, count: out.byteCount), elementSize: itemSize)
        return out
    }

    private mutating func arrayValue(_ o: PyObject, _ path: [String], depth: Int) throws(BrineError) -> Value {
        guard let a = o.array else { throw BrineError(.invalidInterop, "a NumPy array without state", arrayPath: pathText(path)) }
        let d = a.dtype
        noteClass("numpy.ndarray")
        if let dt = d.brineDType {
            var s = try cOrderBytes(a, itemSize: dt.itemSize, path)
            if d.isBigEndian { s = swapped(s, itemSize: dt.itemSize) }
            return try register(try AnyTensor(dtype: dt, shape: a.shape, storage: s), path)
        }
        let shape = Value.list(a.shape.map { .int(Int64($0)) })
        try count(3 + a.shape.count)
        if case .objects(let items) = a.data {
            return .map([("__class__", "numpy.ndarray"), ("dtype", "object"), ("shape", shape),
                         ("items", try list(items, path, depth: depth + 1))])
        }
        switch d.kind {
        case "U", "S":
            guard d.itemSize > 0, !(d.kind == "U" && d.itemSize % 4 != 0) else {
                throw BrineError(.unsupportedDType, "string array with item size \(d.itemSize)", arrayPath: pathText(path))
            }
            let s = try cOrderBytes(a, itemSize: d.itemSize, path)
            let n = s.byteCount / d.itemSize
            try count(n, bytes: s.byteCount)
            var items: [Value] = []
            items.reserveCapacity(n)
            for e in 0 ..< n {
                let p = UnsafeRawBufferPointer(start: s.baseAddress + e * d.itemSize, count: d.itemSize)
                if d.kind == "S" {
                    var b = Array(p)
                    while b.last == 0 { b.removeLast() }
                    items.append(.bytes(b))
                } else {
                    var scalars = String.UnicodeScalarView()
                    for k in 0 ..< d.itemSize / 4 {
                        var u: UInt32 = 0
                        for j in 0 ..< 4 { u |= UInt32(p[k * 4 + j]) << (8 * UInt32(d.isBigEndian ? 3 - j : j)) }
                        guard let sc = Unicode.Scalar(u) else {
                            throw BrineError(.invalidInterop, "string array holds an invalid code point", arrayPath: pathText(path))
                        }
                        scalars.append(sc)
                    }
                    var str = String(scalars)
                    while str.last == "\0" { str.removeLast() }
                    items.append(.string(str))
                }
            }
            return .map([("__class__", "numpy.ndarray"), ("dtype", d.descr), ("shape", shape), ("items", .list(items))])
        case "V" where d.fields != nil && !d.fields!.isEmpty && !d.isSubarray:
            let fields = d.fields!
            for f in fields {
                guard let fdt = f.dtype.brineDType, f.offset + fdt.itemSize <= d.itemSize else {
                    throw BrineError(.unsupportedDType, "structured array field '\(f.name)' has dtype \(f.dtype.descr), which Brine does not hold",
                                     arrayPath: pathText(path + [f.name]))
                }
            }
            let s = try cOrderBytes(a, itemSize: d.itemSize, path)
            let n = s.byteCount / Swift.max(d.itemSize, 1)
            var out: [(key: String, value: Value)] = []
            for f in fields {
                let fdt = f.dtype.brineDType!
                let fs = TensorStorage(uninitializedByteCount: n * fdt.itemSize)
                for r in 0 ..< n {
                    (fs.baseAddress + r * fdt.itemSize).copyMemory(from: s.baseAddress + r * d.itemSize + f.offset, byteCount: fdt.itemSize)
                }
                if f.dtype.isBigEndian {
                    ByteSwap.swapInPlace(UnsafeMutableRawBufferPointer(start: fs.baseAddress, count: fs.byteCount), elementSize: fdt.itemSize)
                }
                try count(1, bytes: f.name.utf8.count)
                out.append((f.name, try register(try AnyTensor(dtype: fdt, shape: a.shape, storage: fs), path + [f.name])))
            }
            return .map([("__class__", "numpy.ndarray"), ("dtype", d.descr), ("shape", shape), ("fields", .map(out))])
        default:
            let what: String
            switch d.kind {
            case "c": what = "complex"
            case "M", "m": what = "datetime/timedelta"
            case "V": what = "raw void or subarray"
            default: what = "'\(d.kind)'"
            }
            throw BrineError(.unsupportedDType, "NumPy array of \(what) dtype \(d.descr) (\(d.itemSize)-byte items): Brine has no such dtype",
                             arrayPath: pathText(path))
        }
    }

    static func hex(_ twos: [UInt8]) -> String {
        // Magnitude of a two's-complement little-endian integer, as "-0x…" or "0x…".
        let negative = (twos.last ?? 0) & 0x80 != 0
        var mag = twos
        if negative { PickleMachine.negate(&mag) }
        while mag.count > 1 && mag.last == 0 { mag.removeLast() }
        let digits = mag.reversed().map { String($0, radix: 16).leftPad(2) }.joined()
        var trimmed = Substring(digits)
        while trimmed.count > 1 && trimmed.first == "0" { trimmed = trimmed.dropFirst() }
        return (negative ? "-0x" : "0x") + trimmed
    }
}
