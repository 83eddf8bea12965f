/// The pickle virtual machine (CPython's `Lib/pickle.py` `_Unpickler` and
/// `Lib/pickletools.py` are the spec), run without importing or calling
/// anything: every opcode of protocols 0–5 is interpreted into objects of
/// an arena. GLOBAL/STACK_GLOBAL only record a dotted name; REDUCE, NEWOBJ,
/// NEWOBJ_EX, INST and OBJ only record "this name was to be called with
/// these arguments", except for the allow-list of ``PickleMachine/call``,
/// whose effects (NumPy arrays, dtypes and scalars, `OrderedDict`, sets,
/// `complex`, `bytearray`, `slice`, `copyreg._reconstructor`,
/// `_codecs.encode`) are re-implemented here as data transformations.
final class PickleMachine {
    let input: PickleInput
    let options: PickleReadOptions
    private(set) var objects: [PyObject] = []
    private var stack: [PyValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PyValue] = [:]
    /// The protocol of the PROTO opcode (0 when absent).
    private(set) var proto = 0
    /// The first PROTO seen (the file's protocol).
    private(set) var fileProtocol: Int?
    /// Joblib `NumpyArrayWrapper` records met.
    private(set) var joblibArrays = 0
    private var nesting = 0
    private var opOffset = 0
    private var arrayBytes = 0

    init(input: PickleInput, options: PickleReadOptions) {
        self.input = input
        self.options = options
    }

    // MARK: Errors and stack

    private func bad(_ message: String) -> BrineError {
        BrineError(.invalidInterop, message, byteOffset: UInt64(opOffset))
    }

    private func new(_ kind: PyObject.Kind) throws(BrineError) -> (Int, PyObject) {
        guard objects.count < options.maxObjects else {
            throw BrineError(.limitExceeded, "more than \(options.maxObjects) objects (PickleReadOptions.maxObjects)", byteOffset: UInt64(opOffset))
        }
        let o = PyObject(kind)
        objects.append(o)
        return (objects.count - 1, o)
    }

    private func push(_ v: PyValue) throws(BrineError) {
        guard stack.count < options.maxStackItems else {
            throw BrineError(.limitExceeded, "the stack holds more than \(options.maxStackItems) items (PickleReadOptions.maxStackItems)", byteOffset: UInt64(opOffset))
        }
        stack.append(v)
    }

    private var base: Int { marks.last ?? 0 }

    private func pop(_ what: String) throws(BrineError) -> PyValue {
        guard stack.count > base else { throw bad("stack underflow: \(what) needs an item") }
        return stack.removeLast()
    }

    private func top(_ what: String) throws(BrineError) -> PyValue {
        guard stack.count > base else { throw bad("stack underflow: \(what) needs an item") }
        return stack[stack.count - 1]
    }

    /// The items since the last MARK, removing them and the mark.
    private func popMark(_ what: String) throws(BrineError) -> [PyValue] {
        guard let m = marks.popLast() else { throw bad("\(what) without a MARK") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private func object(_ v: PyValue) -> PyObject? {
        if case .obj(let i) = v { return objects[i] }
        return nil
    }

    private func sequenceItems(_ v: PyValue) -> [PyValue]? {
        guard let o = object(v), o.kind == .tuple || o.kind == .list else { return nil }
        return o.items
    }

    private func globalName(_ v: PyValue) -> String? {
        guard let o = object(v), o.kind == .global else { return nil }
        return o.name
    }

    // MARK: Running

    /// Runs from the current position to STOP.
    /// - Returns: the value STOP pops.
    func run() throws(BrineError) -> PyValue {
        while true {
            opOffset = input.offset
            let op = try input.byte()
            if let result = try step(op) { return result }
        }
    }

    /// Runs a pickle embedded in the stream (joblib's object arrays) with a
    /// fresh stack and memo, sharing the arena.
    private func runNested() throws(BrineError) -> PyValue {
        guard nesting < 4 else { throw BrineError(.limitExceeded, "pickles nested more than 4 deep", byteOffset: UInt64(opOffset)) }
        let saved = (stack, marks, memo, proto)
        stack = []
        marks = []
        memo = [:]
        nesting += 1
        defer {
            nesting -= 1
            (stack, marks, memo, proto) = saved
        }
        return try run()
    }

    private func memoPut(_ key: Int, _ v: PyValue) throws(BrineError) {
        guard key >= 0 else { throw bad("negative memo index \(key)") }
        if memo[key] == nil {
            guard memo.count < options.maxMemoEntries else {
                throw BrineError(.limitExceeded, "more than \(options.maxMemoEntries) memo entries (PickleReadOptions.maxMemoEntries)", byteOffset: UInt64(opOffset))
            }
        }
        memo[key] = v
    }

    private func memoGet(_ key: Int) throws(BrineError) -> PyValue {
        guard let v = memo[key] else { throw bad("memo index \(key) was never stored") }
        return v
    }

    private var stringCap: Int { options.limits.maxAllocationBytes }

    private func lineText(_ what: String) throws(BrineError) -> String {
        let l = try input.line(max: 1 << 16, what)
        guard let s = String(validating: l, as: UTF8.self) else { throw bad("\(what) is not valid UTF-8") }
        return s
    }

    private func lineInt(_ what: String) throws(BrineError) -> Int {
        let s = try lineText(what)
        guard let v = Int(s.trimmingSpaces), v >= 0 else { throw bad("\(what) '\(s.prefix(40))' is not a non-negative integer") }
        return v
    }

    private func utf8(_ b: [UInt8], _ what: String) throws(BrineError) -> String {
        guard let s = String(validating: b, as: UTF8.self) else { throw bad("\(what) is not valid UTF-8") }
        return s
    }

    /// A Python 2 `str` (STRING, BINSTRING, SHORT_BINSTRING): text when
    /// ASCII (Python 3's default `encoding='ASCII'`), else the bytes.
    private func legacyString(_ b: [UInt8]) -> PyValue {
        if b.allSatisfy({ $0 < 0x80 }) { return .str(String(decoding: b, as: UTF8.self)) }
        return .bytes(b)
    }

    private func length(_ v: UInt64, _ what: String) throws(BrineError) -> Int {
        guard v <= UInt64(Int.max / 2) else {
            throw BrineError(.limitExceeded, "\(what) declares \(v) bytes", byteOffset: UInt64(opOffset))
        }
        return Int(v)
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    private func step(_ op: UInt8) throws(BrineError) -> PyValue? {
        switch op {
        case 0x80:  // PROTO
            let p = Int(try input.byte("PROTO"))
            guard p <= 5 else { throw BrineError(.unsupportedFeature, "pickle protocol \(p) is newer than 5", byteOffset: UInt64(opOffset)) }
            proto = p
            if fileProtocol == nil { fileProtocol = p }
        case 0x95:  // FRAME: an advisory length; opcodes are read as they come.
            _ = try length(try input.uint(8, "FRAME"), "FRAME")
        case 0x2E:  // STOP
            return try pop("STOP")
        case 0x28:  // MARK
            guard marks.count < options.maxStackItems else {
                throw BrineError(.limitExceeded, "more than \(options.maxStackItems) open MARKs", byteOffset: UInt64(opOffset))
            }
            marks.append(stack.count)
        case 0x29:  // EMPTY_TUPLE
            try push(.obj(try new(.tuple).0))
        case 0x5D:  // EMPTY_LIST
            try push(.obj(try new(.list).0))
        case 0x7D:  // EMPTY_DICT
            try push(.obj(try new(.dict).0))
        case 0x8F:  // EMPTY_SET
            try push(.obj(try new(.set).0))
        case 0x4E: try push(.none)  // NONE
        case 0x88: try push(.bool(true))  // NEWTRUE
        case 0x89: try push(.bool(false))  // NEWFALSE
        case 0x49:  // INT
            let s = try lineText("INT")
            if s == "00" { try push(.bool(false)) } else if s == "01" { try push(.bool(true)) } else { try push(try parseDecimal(s, "INT")) }
        case 0x4A:  // BININT
            try push(.int(Int64(Int32(truncatingIfNeeded: UInt32(try input.uint(4, "BININT"))))))
        case 0x4B: try push(.int(Int64(try input.byte("BININT1"))))
        case 0x4D: try push(.int(Int64(try input.uint(2, "BININT2"))))
        case 0x4C:  // LONG
            var s = try lineText("LONG")
            if s.hasSuffix("L") { s.removeLast() }
            try push(try parseDecimal(s, "LONG"))
        case 0x8A:  // LONG1
            let n = Int(try input.byte("LONG1"))
            try push(PickleMachine.twosComplement(try input.take(n, cap: n, "LONG1")))
        case 0x8B:  // LONG4
            let n = Int32(truncatingIfNeeded: UInt32(try input.uint(4, "LONG4")))
            guard n >= 0 else { throw bad("LONG4 with a negative length") }
            try push(PickleMachine.twosComplement(try input.take(Int(n), cap: Swift.min(stringCap, 1 << 20), "LONG4")))
        case 0x53:  // STRING
            try push(legacyString(try PickleText.unquote(try input.line(max: stringCap, "STRING"), offset: opOffset)))
        case 0x54:  // BINSTRING
            let n = Int32(truncatingIfNeeded: UInt32(try input.uint(4, "BINSTRING")))
            guard n >= 0 else { throw bad("BINSTRING with a negative length") }
            try push(legacyString(try input.take(Int(n), cap: stringCap, "BINSTRING")))
        case 0x55:  // SHORT_BINSTRING
            let n = Int(try input.byte("SHORT_BINSTRING"))
            try push(legacyString(try input.take(n, cap: n, "SHORT_BINSTRING")))
        case 0x42:  // BINBYTES
            try push(.bytes(try input.take(Int(try input.uint(4, "BINBYTES")), cap: stringCap, "BINBYTES")))
        case 0x43:  // SHORT_BINBYTES
            let n = Int(try input.byte("SHORT_BINBYTES"))
            try push(.bytes(try input.take(n, cap: n, "SHORT_BINBYTES")))
        case 0x8E:  // BINBYTES8
            try push(.bytes(try input.take(try length(try input.uint(8, "BINBYTES8"), "BINBYTES8"), cap: stringCap, "BINBYTES8")))
        case 0x96:  // BYTEARRAY8
            let b = try input.take(try length(try input.uint(8, "BYTEARRAY8"), "BYTEARRAY8"), cap: stringCap, "BYTEARRAY8")
            let (i, o) = try new(.bytearray)
            o.bytes = b
            try push(.obj(i))
        case 0x97:  // NEXT_BUFFER
            throw BrineError(.unsupportedFeature, "the pickle takes an out-of-band buffer (protocol 5 NEXT_BUFFER) that a file does not hold; pickle it without buffer_callback",
                             byteOffset: UInt64(opOffset))
        case 0x98:  // READONLY_BUFFER: a view of the same bytes.
            _ = try top("READONLY_BUFFER")
        case 0x56:  // UNICODE
            try push(.str(try PickleText.rawUnicodeEscape(try input.line(max: stringCap, "UNICODE"), offset: opOffset)))
        case 0x8C:  // SHORT_BINUNICODE
            let n = Int(try input.byte("SHORT_BINUNICODE"))
            try push(.str(try utf8(try input.take(n, cap: n, "SHORT_BINUNICODE"), "SHORT_BINUNICODE")))
        case 0x58:  // BINUNICODE
            try push(.str(try utf8(try input.take(Int(try input.uint(4, "BINUNICODE")), cap: stringCap, "BINUNICODE"), "BINUNICODE")))
        case 0x8D:  // BINUNICODE8
            let n = try length(try input.uint(8, "BINUNICODE8"), "BINUNICODE8")
            try push(.str(try utf8(try input.take(n, cap: stringCap, "BINUNICODE8"), "BINUNICODE8")))
        case 0x46:  // FLOAT
            let s = try lineText("FLOAT")
            guard let d = PickleText.float(s) else { throw bad("FLOAT '\(s.prefix(40))' is not a number") }
            try push(.float(d))
        case 0x47:  // BINFLOAT (big-endian)
            var bits: UInt64 = 0
            for _ in 0 ..< 8 { bits = bits << 8 | UInt64(try input.byte("BINFLOAT")) }
            try push(.float(Double(bitPattern: bits)))
        case 0x61:  // APPEND
            let v = try pop("APPEND")
            try append(to: try top("APPEND"), [v])
        case 0x65:  // APPENDS
            let items = try popMark("APPENDS")
            try append(to: try top("APPENDS"), items)
        case 0x6C:  // LIST
            let items = try popMark("LIST")
            let (i, o) = try new(.list)
            o.items = items
            try push(.obj(i))
        case 0x74:  // TUPLE
            try push(try tuple(try popMark("TUPLE")))
        case 0x85: try push(try tuple([try pop("TUPLE1")]))
        case 0x86:
            let b = try pop("TUPLE2"), a = try pop("TUPLE2")
            try push(try tuple([a, b]))
        case 0x87:
            let c = try pop("TUPLE3"), b = try pop("TUPLE3"), a = try pop("TUPLE3")
            try push(try tuple([a, b, c]))
        case 0x64:  // DICT
            let items = try popMark("DICT")
            guard items.count % 2 == 0 else { throw bad("DICT with an odd number of items") }
            let (i, o) = try new(.dict)
            for k in stride(from: 0, to: items.count, by: 2) { o.setItem(items[k], items[k + 1]) }
            try push(.obj(i))
        case 0x73:  // SETITEM
            let v = try pop("SETITEM"), k = try pop("SETITEM")
            try setItems(on: try top("SETITEM"), [k, v])
        case 0x75:  // SETITEMS
            let items = try popMark("SETITEMS")
            guard items.count % 2 == 0 else { throw bad("SETITEMS with an odd number of items") }
            try setItems(on: try top("SETITEMS"), items)
        case 0x90:  // ADDITEMS
            let items = try popMark("ADDITEMS")
            let target = try top("ADDITEMS")
            guard let o = object(target) else { throw bad("ADDITEMS on a value that is not a set") }
            switch o.kind {
            case .set: items.forEach(o.addToSet)
            case .instance: o.items.append(contentsOf: items)
            default: throw bad("ADDITEMS on a value that is not a set")
            }
        case 0x91:  // FROZENSET
            let items = try popMark("FROZENSET")
            let (i, o) = try new(.frozenset)
            items.forEach(o.addToSet)
            try push(.obj(i))
        case 0x30:  // POP: an item, or the topmost mark when none is above it.
            if stack.count > base { stack.removeLast() } else if !marks.isEmpty { _ = try popMark("POP") } else { throw bad("POP on an empty stack") }
        case 0x32: try push(try top("DUP"))  // DUP
        case 0x31: _ = try popMark("POP_MARK")  // POP_MARK
        case 0x67: try push(try memoGet(try lineInt("GET")))  // GET
        case 0x68: try push(try memoGet(Int(try input.byte("BINGET"))))
        case 0x6A: try push(try memoGet(Int(try input.uint(4, "LONG_BINGET"))))
        case 0x70: try memoPut(try lineInt("PUT"), try top("PUT"))  // PUT
        case 0x71: try memoPut(Int(try input.byte("BINPUT")), try top("BINPUT"))
        case 0x72: try memoPut(Int(try input.uint(4, "LONG_BINPUT")), try top("LONG_BINPUT"))
        case 0x94: try memoPut(memo.count, try top("MEMOIZE"))  // MEMOIZE
        case 0x82, 0x83, 0x84:  // EXT1, EXT2, EXT4
            let size = op == 0x82 ? 1 : (op == 0x83 ? 2 : 4)
            let code = try input.uint(size, "EXT")
            throw BrineError(.unsupportedFeature, "extension code \(code) (EXT\(size)) names a class through copyreg's extension registry, which a file does not carry",
                             byteOffset: UInt64(opOffset))
        case 0x63:  // GLOBAL
            let module = try lineText("GLOBAL"), name = try lineText("GLOBAL")
            try push(try global(module, name))
        case 0x93:  // STACK_GLOBAL
            let n = try pop("STACK_GLOBAL"), m = try pop("STACK_GLOBAL")
            guard case .str(let module) = m, case .str(let name) = n else { throw bad("STACK_GLOBAL needs two strings") }
            try push(try global(module, name))
        case 0x52:  // REDUCE
            let args = try pop("REDUCE"), callee = try pop("REDUCE")
            guard let a = sequenceItems(args), object(args)?.kind == .tuple else { throw bad("REDUCE arguments are not a tuple") }
            try push(try call(callee, a, kwargs: nil))
        case 0x62:  // BUILD
            let state = try pop("BUILD")
            try build(state)
        case 0x69:  // INST
            let module = try lineText("INST"), name = try lineText("INST")
            let args = try popMark("INST")
            try push(try call(try global(module, name), args, kwargs: nil))
        case 0x6F:  // OBJ
            let items = try popMark("OBJ")
            guard let cls = items.first else { throw bad("OBJ without a class") }
            try push(try call(cls, Array(items.dropFirst()), kwargs: nil))
        case 0x81:  // NEWOBJ
            let args = try pop("NEWOBJ"), cls = try pop("NEWOBJ")
            guard let a = sequenceItems(args), object(args)?.kind == .tuple else { throw bad("NEWOBJ arguments are not a tuple") }
            try push(try call(cls, a, kwargs: nil, newobj: true))
        case 0x92:  // NEWOBJ_EX
            let kwargs = try pop("NEWOBJ_EX"), args = try pop("NEWOBJ_EX"), cls = try pop("NEWOBJ_EX")
            guard let a = sequenceItems(args), object(args)?.kind == .tuple else { throw bad("NEWOBJ_EX arguments are not a tuple") }
            guard object(kwargs)?.kind == .dict else { throw bad("NEWOBJ_EX keyword arguments are not a dict") }
            try push(try call(cls, a, kwargs: kwargs, newobj: true))
        case 0x50:  // PERSID
            let id = try lineText("PERSID")
            let (i, o) = try new(.persistent)
            o.state = .str(id)
            try push(.obj(i))
        case 0x51:  // BINPERSID
            let id = try pop("BINPERSID")
            let (i, o) = try new(.persistent)
            o.state = id
            try push(.obj(i))
        default:
            throw bad(String(format: "unknown opcode 0x%02x", op))
        }
        return nil
    }

    // MARK: Containers

    private func tuple(_ items: [PyValue]) throws(BrineError) -> PyValue {
        let (i, o) = try new(.tuple)
        o.items = items
        return .obj(i)
    }

    private func append(to target: PyValue, _ items: [PyValue]) throws(BrineError) {
        guard let o = object(target), o.kind == .list || o.kind == .instance else { throw bad("APPEND(S) on a value that is not a list") }
        o.items.append(contentsOf: items)
    }

    private func setItems(on target: PyValue, _ items: [PyValue]) throws(BrineError) {
        guard let o = object(target), o.kind == .dict || o.kind == .instance else { throw bad("SETITEM(S) on a value that is not a dict") }
        for k in stride(from: 0, to: items.count, by: 2) { o.setItem(items[k], items[k + 1]) }
    }

    private func global(_ module: String, _ name: String) throws(BrineError) -> PyValue {
        var m = module
        if proto < 3 {
            // Python 3 reads Python 2 module names (fix_imports, _compat_pickle).
            switch m {
            case "__builtin__": m = "builtins"
            case "copy_reg": m = "copyreg"
            case "commands": m = "subprocess"
            case "cPickle": m = "pickle"
            default: break
            }
        }
        let (i, o) = try new(.global)
        o.name = m + "." + name
        return .obj(i)
    }

    // MARK: Calls (never made: recorded, or re-implemented for the allow-list)

    /// The globals Brine understands natively; every other name is recorded.
    static let allowList: Set<String> = [
        "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
        "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer",
        "numpy.dtype", "collections.OrderedDict",
        "builtins.set", "builtins.frozenset", "builtins.complex", "builtins.bytearray", "builtins.slice", "builtins.bytes",
        "copyreg._reconstructor", "copyreg.__newobj__", "_codecs.encode",
    ]

    static let ndarrayClasses: Set<String> = [
        "numpy.ndarray", "numpy.memmap", "numpy.core.memmap.memmap", "numpy._core.memmap.memmap",
    ]

    private func call(_ callee: PyValue, _ args: [PyValue], kwargs: PyValue?, newobj: Bool = false) throws(BrineError) -> PyValue {
        if let name = globalName(callee), kwargs == nil {
            if let v = try callNative(name, args, newobj: newobj) { return v }
        }
        let (i, o) = try new(.instance)
        if let name = globalName(callee) { o.name = name } else { o.callee = callee }
        o.args = args
        o.kwargs = kwargs
        return .obj(i)
    }

    private func callNative(_ name: String, _ args: [PyValue], newobj: Bool) throws(BrineError) -> PyValue? {
        guard PickleMachine.allowList.contains(name) else { return nil }
        if newobj && name != "collections.OrderedDict" { return nil }
        switch name {
        case "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct":
            guard args.count == 3, let sub = globalName(args[0]), PickleMachine.ndarrayClasses.contains(sub) else { return nil }
            let (i, o) = try new(.ndarray)
            o.array = NumpyArray()
            return .obj(i)
        case "numpy.dtype":
            guard args.count >= 1, case .str(let s) = args[0] else { throw bad("numpy.dtype() needs a type string") }
            guard let d = NumpyDType.parse(s) else { throw BrineError(.unsupportedDType, "numpy dtype '\(s.prefix(40))' is not one Brine reads", byteOffset: UInt64(opOffset)) }
            let (i, o) = try new(.dtype)
            o.dtype = d
            return .obj(i)
        case "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar":
            guard args.count == 2, let d = object(args[0])?.dtype else { throw bad("numpy scalar() needs a dtype and its bytes") }
            if d.kind == "O" { return args[1] }
            guard case .bytes(let b) = args[1], b.count == d.itemSize else {
                if case .str(let s) = args[1], let b = PickleText.latin1(s), b.count == d.itemSize { return try scalar(d, b) }
                throw bad("numpy scalar of \(d.descr) has \(args[1]) instead of its \(d.itemSize) bytes")
            }
            return try scalar(d, b)
        case "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer":
            guard args.count == 4, let d = object(args[1])?.dtype, let shape = sequenceItems(args[2]), case .str(let order) = args[3] else {
                throw bad("numpy _frombuffer() needs (buffer, dtype, shape, order)")
            }
            let bytes: [UInt8]
            switch args[0] {
            case .bytes(let b): bytes = b
            case .obj(let k) where objects[k].kind == .bytearray: bytes = objects[k].bytes
            default: throw bad("numpy _frombuffer() buffer is not bytes")
            }
            var a = NumpyArray()
            a.dtype = d
            a.shape = try dims(shape)
            a.fortranOrder = order == "F"
            try checkBytes(bytes.count, a)
            a.data = .bytes(bytes)
            let (i, o) = try new(.ndarray)
            o.array = a
            return .obj(i)
        case "collections.OrderedDict":
            let (i, o) = try new(.dict)
            if let first = args.first {
                guard args.count == 1, let pairs = sequenceItems(first) else { return nil }
                for p in pairs {
                    guard let kv = sequenceItems(p), kv.count == 2 else { throw bad("OrderedDict() item is not a pair") }
                    o.setItem(kv[0], kv[1])
                }
            }
            return .obj(i)
        case "builtins.set", "builtins.frozenset":
            let (i, o) = try new(name == "builtins.set" ? .set : .frozenset)
            if let first = args.first {
                guard args.count == 1, let items = sequenceItems(first) else { return nil }
                items.forEach(o.addToSet)
            }
            return .obj(i)
        case "builtins.complex":
            guard args.count <= 2 else { return nil }
            var parts: [PyValue] = []
            for a in args {
                switch a {
                case .float: parts.append(a)
                case .int(let v): parts.append(.float(Double(v)))
                case .bool(let v): parts.append(.float(v ? 1 : 0))
                default: return nil
                }
            }
            while parts.count < 2 { parts.append(.float(0)) }
            let (i, o) = try new(.complex)
            o.items = parts
            return .obj(i)
        case "builtins.bytearray":
            let (i, o) = try new(.bytearray)
            switch args.count {
            case 0: break
            case 1:
                guard case .bytes(let b) = args[0] else { return nil }
                o.bytes = b
            case 2:
                guard case .str(let s) = args[0], case .str(let enc) = args[1], let b = PickleText.encode(s, enc) else { return nil }
                o.bytes = b
            default: return nil
            }
            return .obj(i)
        case "builtins.bytes":
            // Protocols 0–2 write b'' as bytes().
            guard args.isEmpty else { return nil }
            return .bytes([])
        case "builtins.slice":
            guard (1 ... 3).contains(args.count) else { return nil }
            let (i, o) = try new(.slice)
            o.items = args.count == 1 ? [.none, args[0], .none] : args + Array(repeating: PyValue.none, count: 3 - args.count)
            return .obj(i)
        case "copyreg._reconstructor":
            // copyreg._reconstructor(cls, base, state): base.__new__(cls[, state]).
            guard args.count == 3 else { throw bad("copyreg._reconstructor needs (cls, base, state)") }
            guard let cls = globalName(args[0]) else { return nil }
            if cls == "collections.OrderedDict" { return try callNative(cls, [], newobj: false) }
            let (i, o) = try new(.instance)
            o.name = cls
            if case .none = args[2] {} else { o.args = [args[2]] }
            return .obj(i)
        case "copyreg.__newobj__":
            guard let cls = args.first else { throw bad("copyreg.__newobj__ needs a class") }
            return try call(cls, Array(args.dropFirst()), kwargs: nil, newobj: true)
        case "_codecs.encode":
            guard args.count == 2, case .str(let s) = args[0], case .str(let enc) = args[1] else { return nil }
            guard let b = PickleText.encode(s, enc) else { throw bad("_codecs.encode of text that '\(enc.prefix(20))' cannot encode") }
            return .bytes(b)
        default:
            return nil
        }
    }

    private func scalar(_ d: NumpyDType, _ b: [UInt8]) throws(BrineError) -> PyValue {
        /// The scalar as a 0-d array of its own dtype.
        func zeroDimensional() throws(BrineError) -> PyValue {
            var a = NumpyArray()
            a.dtype = d
            a.data = .bytes(b)
            let (i, o) = try new(.ndarray)
            o.array = a
            return .obj(i)
        }
        // complex, datetime, strings, …: kept as a 0-d array the tree reports or refuses.
        guard let dt = d.brineDType else { return try zeroDimensional() }
        var le = b
        if d.isBigEndian { le.reverse() }
        var bits: UInt64 = 0
        for (k, x) in le.enumerated() { bits |= UInt64(x) << (8 * UInt64(k)) }
        switch dt {
        case .bool: return .bool(bits != 0)
        case .int8: return .int(Int64(Int8(truncatingIfNeeded: bits)))
        case .int16: return .int(Int64(Int16(truncatingIfNeeded: bits)))
        case .int32: return .int(Int64(Int32(truncatingIfNeeded: bits)))
        case .int64: return .int(Int64(bitPattern: bits))
        case .uint8, .uint16, .uint32: return .int(Int64(bits))
        case .uint64: return bits > UInt64(Int64.max) ? .bigInt(le + [0]) : .int(Int64(bits))
        case .float64: return .float(Double(bitPattern: bits))
        default:
            // float32 and float16 stay exact as 0-d arrays of their dtype.
            return try zeroDimensional()
        }
    }

    private func dims(_ items: [PyValue]) throws(BrineError) -> [Int] {
        guard items.count <= options.limits.maxRank else {
            throw BrineError(.limitExceeded, "rank \(items.count) is over the limit of \(options.limits.maxRank)", byteOffset: UInt64(opOffset))
        }
        var out: [Int] = []
        for v in items {
            guard case .int(let d) = v, d >= 0 else { throw bad("an array dimension is not a non-negative integer") }
            out.append(Int(d))
        }
        return out
    }

    private func byteCount(_ a: NumpyArray) throws(BrineError) -> Int {
        guard let n = Shape.byteCount(a.shape, itemSize: a.dtype.kind == "O" ? 1 : a.dtype.itemSize) else {
            throw BrineError(.limitExceeded, "array shape \(a.shape) overflows the byte count", byteOffset: UInt64(opOffset))
        }
        return n
    }

    private func checkBytes(_ have: Int, _ a: NumpyArray) throws(BrineError) {
        let need = try byteCount(a)
        guard have == need else { throw bad("array of shape \(a.shape) and dtype \(a.dtype.descr) has \(have) data bytes instead of \(need)") }
    }

    // MARK: BUILD

    private func build(_ state: PyValue) throws(BrineError) {
        let target = try top("BUILD")
        guard let o = object(target) else { throw bad("BUILD on a value that is not an object") }
        switch o.kind {
        case .ndarray: try buildArray(o, state)
        case .dtype: try buildDType(o, state)
        case .instance:
            if o.name == "joblib.numpy_pickle.NumpyArrayWrapper" {
                o.state = state
                stack[stack.count - 1] = try readJoblibArray(state)
            } else if o.name.hasPrefix("joblib.numpy_pickle") && o.name.hasSuffix("NDArrayWrapper") {
                throw BrineError(.unsupportedFeature, "\(o.name) (joblib < 0.10) keeps arrays in companion files, which Brine does not read",
                                 byteOffset: UInt64(opOffset))
            } else if let old = o.state, let a = object(old), a.kind == .dict, let b = object(state), b.kind == .dict {
                for (k, v) in zip(b.keys, b.values) { a.setItem(k, v) }
            } else {
                o.state = state
            }
        default:
            throw bad("BUILD on a \(o.kind) (Python has no __setstate__ for it)")
        }
    }

    private func buildDType(_ o: PyObject, _ state: PyValue) throws(BrineError) {
        guard var d = o.dtype, let s = sequenceItems(state), s.count >= 8 else { throw bad("numpy dtype state is not an 8- or 9-tuple") }
        if case .str(let e) = s[1], let c = e.first, e.count == 1, "<>|=".contains(c) {
            d.byteOrder = d.itemSize <= 1 ? "|" : (c == "|" ? "<" : c)
        }
        if case .none = s[2] {} else { d.isSubarray = true }
        if case .int(let elsize) = s[5], elsize > 0 {
            guard elsize <= Int64(Int32.max) else { throw bad("numpy dtype itemsize \(elsize) is too large") }
            d.itemSize = Int(elsize)
        }
        if let names = sequenceItems(s[3]) {
            guard let f = object(s[4]), f.kind == .dict else { throw bad("structured numpy dtype without a fields dict") }
            var fields: [(name: String, dtype: NumpyDType, offset: Int)] = []
            for n in names {
                guard case .str(let name) = n, let i = f.index[PyKey(n)], let info = sequenceItems(f.values[i]), info.count >= 2,
                      let fd = object(info[0])?.dtype, case .int(let off) = info[1], off >= 0, off <= Int64(d.itemSize)
                else { throw bad("structured numpy dtype with a malformed field") }
                fields.append((name, fd, Int(off)))
            }
            d.fields = fields
        }
        o.dtype = d
    }

    private func buildArray(_ o: PyObject, _ state: PyValue) throws(BrineError) {
        guard var a = o.array, let s = sequenceItems(state), s.count == 4 || s.count == 5 else { throw bad("numpy array state is not a 4- or 5-tuple") }
        let t = s.count == 5 ? Array(s.dropFirst()) : s
        guard let shape = sequenceItems(t[0]), let d = object(t[1])?.dtype else { throw bad("numpy array state lacks a shape or dtype") }
        a.shape = try dims(shape)
        a.dtype = d
        switch t[2] {
        case .bool(let f): a.fortranOrder = f
        case .int(let f): a.fortranOrder = f != 0
        default: throw bad("numpy array state has a Fortran flag that is not a bool")
        }
        switch t[3] {
        case .bytes(let b):
            try checkBytes(b.count, a)
            a.data = .bytes(b)
        case .str(let text):
            // Python 2 pickles read with encoding='latin1' give the data as text.
            guard let b = PickleText.latin1(text) else { throw bad("numpy array data text is not latin-1") }
            try checkBytes(b.count, a)
            a.data = .bytes(b)
        case .obj(let k) where objects[k].kind == .bytearray:
            try checkBytes(objects[k].bytes.count, a)
            a.data = .bytes(objects[k].bytes)
        case .obj(let k) where objects[k].kind == .list && d.kind == "O":
            guard let n = Shape.elementCount(a.shape), n == objects[k].items.count else { throw bad("object array of shape \(a.shape) has \(objects[k].items.count) items") }
            a.data = .objects(objects[k].items)
        default:
            throw bad("numpy array data is neither bytes nor a list of objects")
        }
        o.array = a
    }

    // MARK: joblib

    /// Reads the array that follows a joblib `NumpyArrayWrapper` record in
    /// the stream (joblib/numpy_pickle.py, `NumpyArrayWrapper.read_array`):
    /// when the wrapper has `numpy_array_alignment_bytes` (joblib ≥ 1.2),
    /// one byte holding a padding length and that many padding bytes, then
    /// the raw elements in the wrapper's order (`'C'` or `'F'`); an object
    /// array is a whole pickle (protocol 5) instead.
    private func readJoblibArray(_ state: PyValue) throws(BrineError) -> PyValue {
        guard let s = object(state), s.kind == .dict else { throw bad("joblib NumpyArrayWrapper state is not a dict") }
        func field(_ k: String) -> PyValue? { s.index[.str(Array(k.utf8))].map { s.values[$0] } }
        guard let shapeV = field("shape"), let shape = sequenceItems(shapeV), let d = field("dtype").flatMap({ object($0)?.dtype }) else {
            throw bad("joblib NumpyArrayWrapper without shape or dtype")
        }
        joblibArrays += 1
        guard joblibArrays <= options.limits.maxArrays else {
            throw BrineError(.limitExceeded, "more than \(options.limits.maxArrays) arrays", byteOffset: UInt64(opOffset))
        }
        var a = NumpyArray()
        a.shape = try dims(shape)
        a.dtype = d
        if case .str(let order)? = field("order") { a.fortranOrder = order == "F" }
        if d.kind == "O" {
            let v = try runNested()
            guard let o = object(v), o.kind == .ndarray else { throw bad("joblib object array is not a pickled numpy array") }
            return v
        }
        if let align = field("numpy_array_alignment_bytes") {
            if case .none = align {} else {
                let pad = Int(try input.byte("joblib array padding"))
                try input.skip(pad, "joblib array padding")
            }
        }
        let n = try byteCount(a)
        arrayBytes += n
        let storage = try input.arrayData(n, alignment: Swift.max(1, d.itemSize & -d.itemSize), cap: options.limits.maxAllocationBytes, "joblib array data")
        a.data = .storage(storage)
        let (i, o) = try new(.ndarray)
        o.array = a
        return .obj(i)
    }

    // MARK: Numbers

    private func parseDecimal(_ text: String, _ what: String) throws(BrineError) -> PyValue {
        let s = text.trimmingSpaces
        if let v = Int64(s) { return .int(v) }
        var digits = Substring(s)
        var negative = false
        if digits.first == "-" || digits.first == "+" { negative = digits.first == "-"; digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.count <= 4300, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw bad("\(what) '\(s.prefix(40))' is not an integer (or has more than 4,300 digits, Python's own limit)")
        }
        // Magnitude in base 256, little-endian.
        var mag: [UInt8] = [0]
        for c in digits.utf8 {
            var carry = Int(c - 48)
            for k in 0 ..< mag.count {
                let x = Int(mag[k]) * 10 + carry
                mag[k] = UInt8(x & 0xFF)
                carry = x >> 8
            }
            while carry > 0 { mag.append(UInt8(carry & 0xFF)); carry >>= 8 }
        }
        mag.append(0)
        if negative { PickleMachine.negate(&mag) }
        return PickleMachine.twosComplement(mag)
    }

    /// Negates a little-endian two's-complement integer in place (invert
    /// every byte and add one; the carry out of the last byte is dropped).
    static func negate(_ bytes: inout [UInt8]) {
        var carry = 1
        for k in bytes.indices {
            let x = Int(~bytes[k]) + carry
            bytes[k] = UInt8(x & 0xFF)
            carry = x >> 8
        }
    }

    /// A LONG1/LONG4 payload: two's complement, little-endian.
    static func twosComplement(_ b: [UInt8]) -> PyValue {
        if b.isEmpty { return .int(0) }
        var bytes = b
        // Trim redundant sign bytes.
        while bytes.count > 1 {
            let last = bytes[bytes.count - 1], prev = bytes[bytes.count - 2]
            if (last == 0 && prev & 0x80 == 0) || (last == 0xFF && prev & 0x80 != 0) { bytes.removeLast() } else { break }
        }
        if bytes.count <= 8 {
            var v: UInt64 = bytes.last! & 0x80 != 0 ? ~0 : 0
            for (k, x) in bytes.enumerated() {
                v &= ~(UInt64(0xFF) << (8 * UInt64(k)))
                v |= UInt64(x) << (8 * UInt64(k))
            }
            return .int(Int64(bitPattern: v))
        }
        return .bigInt(bytes)
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\r" || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\r" || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
