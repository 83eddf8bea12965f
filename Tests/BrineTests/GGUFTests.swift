import Foundation
import Testing
@testable import Brine

/// GGUF checked against llama.cpp's own Python library (`gguf`, from
/// scripts/python-env.sh): files it writes read identically and come back
/// byte for byte through Brine; files Brine writes read in `GGUFReader`.
@Suite("GGUF (oracle: gguf-py)", .serialized)
struct GGUFOracleTests {
    /// Writes a GGUF file with gguf-py: metadata of every value type, arrays
    /// and nested arrays, a custom alignment, plain tensors of every ggml
    /// plain type and Q8_0/Q4_0 tensors quantized by `gguf.quants`. Prints
    /// per key its types and contents (floats as bit patterns), per tensor
    /// its type, C-order shape and data bytes in hex.
    static let writer = #"""
    import sys, json, struct
    import numpy as np
    import gguf
    from gguf import GGUFWriter, GGUFValueType as T, GGMLQuantizationType as Q
    path, alignment = sys.argv[1], int(sys.argv[2])
    w = GGUFWriter(path, "llama")
    w.add_custom_alignment(alignment)
    w.add_uint8("t.u8", 200); w.add_int8("t.i8", -100); w.add_uint16("t.u16", 65000); w.add_int16("t.i16", -32000)
    w.add_uint32("t.u32", 4000000000); w.add_int32("t.i32", -2000000000); w.add_float32("t.f32", 0.1)
    w.add_uint64("t.u64", 18446744073709551615); w.add_int64("t.i64", -9223372036854775808); w.add_float64("t.f64", 1e-300)
    w.add_bool("t.true", True); w.add_bool("t.false", False)
    w.add_string("t.str", "héllo \"wörld\"\n\ttab"); w.add_string("t.empty", "")
    w.add_key_value("t.nan", float("nan"), T.FLOAT32); w.add_key_value("t.ninf", float("-inf"), T.FLOAT64)
    w.add_array("t.arr_i32", [1, -2, 3]); w.add_array("t.arr_f32", [0.5, -1.25, 3.4e38])
    w.add_array("t.arr_str", ["a", "bé", "", "<0x0A>"]); w.add_array("t.arr_bool", [True, False])
    w.add_key_value("t.arr_u64", [0, 18446744073709551615], T.ARRAY, sub_type=T.UINT64)
    w.add_key_value("t.arr_u8", [1, 2, 255], T.ARRAY, sub_type=T.UINT8)
    w.add_array("t.nested", [[1, 2], [3, 4, 5], []][:2])
    w.add_array("t.nested_str", [["x", "y"], ["z"]])
    rng = np.random.default_rng(7)
    tensors = {}
    def add(name, a, **kw):
        w.add_tensor(name, a, **kw)
    add("f32", (rng.standard_normal((3, 5)) * 10).astype(np.float32))
    add("f16", rng.standard_normal((2, 3, 4)).astype(np.float16))
    add("f64", rng.standard_normal((7,)).astype(np.float64))
    add("i8", rng.integers(-128, 127, (4, 3), dtype=np.int8, endpoint=True))
    add("i16", rng.integers(-32768, 32767, (2, 2), dtype=np.int16, endpoint=True))
    add("i32", rng.integers(-2**31, 2**31 - 1, (5,), dtype=np.int32, endpoint=True))
    add("i64", rng.integers(-2**63, 2**63 - 1, (1, 2, 3, 2), dtype=np.int64, endpoint=True))
    bf16 = rng.integers(0, 65535, (3, 4), dtype=np.uint16, endpoint=True)
    w.add_tensor("bf16", bf16, raw_shape=(3, 4), raw_dtype=Q.BF16)
    x = rng.standard_normal((4, 64)).astype(np.float32)
    q8 = gguf.quants.quantize(x, Q.Q8_0); add("q8_0", q8, raw_dtype=Q.Q8_0)
    q4 = gguf.quants.quantize(x[:2], Q.Q4_0); add("q4_0", q4, raw_dtype=Q.Q4_0)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    r = gguf.GGUFReader(path)
    def norm(v, t):
        if t == T.FLOAT32: return "f32:" + struct.pack("<f", v).hex()
        if t == T.FLOAT64: return "f64:" + struct.pack("<d", v).hex()
        if t == T.BOOL: return "bool:" + str(v).lower()
        if t == T.STRING: return "str:" + v
        return "int:" + str(v)
    fields = {}
    for name, f in r.fields.items():
        if name.startswith("GGUF."): continue
        types = [t.name for t in f.types]
        if types.count("ARRAY") > 1: fields[name] = {"types": types}; continue
        c = f.contents()
        leaf = f.types[-1]
        fields[name] = {"types": types, "value": [norm(v, leaf) for v in c] if isinstance(c, list) else norm(c, leaf)}
    out = {"fields": fields, "tensors": []}
    for t in r.tensors:
        out["tensors"].append({"name": t.name, "type": t.tensor_type.name, "ne": [int(d) for d in t.shape],
                               "hex": np.asarray(t.data).tobytes().hex()})
    print(json.dumps(out, ensure_ascii=False))
    """#

    /// The oracle's normalised form of a value (see `norm` above).
    static func normalised(_ v: GGUFValue) -> Any {
        switch v {
        case .float32(let f): return "f32:" + withUnsafeBytes(of: f.bitPattern.littleEndian) { hexString($0) }
        case .float64(let d): return "f64:" + withUnsafeBytes(of: d.bitPattern.littleEndian) { hexString($0) }
        case .uint8(let x): return "int:\(x)"
        case .int8(let x): return "int:\(x)"
        case .uint16(let x): return "int:\(x)"
        case .int16(let x): return "int:\(x)"
        case .uint32(let x): return "int:\(x)"
        case .int32(let x): return "int:\(x)"
        case .uint64(let x): return "int:\(x)"
        case .int64(let x): return "int:\(x)"
        case .bool(let b): return "bool:\(b)"
        case .string(let s): return "str:" + s
        case .array(_, let items): return items.map(normalised)
        }
    }

    static func same(_ a: Any, _ b: Any) -> Bool {
        if let x = a as? [Any], let y = b as? [Any] { return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) } }
        if let x = a as? String, let y = b as? String { return x == y }
        return false
    }

    static func typeList(_ v: GGUFValue) -> [String] {
        if case .array(let e, let items) = v {
            if e == .array, let first = items.first { return ["ARRAY"] + typeList(first) }
            return ["ARRAY", e.description]
        }
        return [v.type.description]
    }

    @Test("gguf-py files: every metadata type, plain and Q8_0/Q4_0 tensors read exactly; GGUF → Brine → GGUF is byte-identical",
          arguments: [32, 64])
    func fromGGUFPy(alignment: Int) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let src = dir.appendingPathComponent("py.gguf")
        let report = try PythonOracle.json(Self.writer, [src.path, String(alignment)]) as! [String: Any]
        let fields = report["fields"] as! [String: [String: Any]]
        let expectedTensors = report["tensors"] as! [[String: Any]]

        for mode in [LoadMode.copy, .mmap] {
            let g = try GGUFFile(contentsOf: src, mode: mode)
            #expect(g.version == 3)
            #expect(g.alignment == alignment)
            #expect(g.metadata.count == fields.count)
            for (key, f) in fields {
                let v = try #require(g.value(key), "missing key \(key)")
                #expect(Self.typeList(v) == f["types"] as! [String], "\(key)")
                if let want = f["value"] {
                    #expect(Self.same(Self.normalised(v), want), "\(key): \(v) vs \(want)")
                }
            }
            #expect(g.value("t.nested") == .array(.array, [.array(.int32, [.int32(1), .int32(2)]), .array(.int32, [.int32(3), .int32(4), .int32(5)])]))
            #expect(g.value("t.nested_str") == .array(.array, [.array(.string, [.string("x"), .string("y")]), .array(.string, [.string("z")])]))
            #expect(g.names == expectedTensors.map { $0["name"] as! String })
            for e in expectedTensors {
                let name = e["name"] as! String
                let info = try g.info(name)
                #expect(info.type.name == e["type"] as! String)
                #expect(info.dimensions == e["ne"] as! [Int], "\(name): GGUF dimension order")
                #expect(info.fileOffset % alignment == 0)
                let hex = e["hex"] as! String
                let raw = try g.rawBlocks(name)
                #expect(raw.storage.bytes.withUnsafeBytes { hexString($0) } == hex, "\(name) bytes")
                if info.type.isQuantized {
                    #expect(throws: BrineError.self) { try g.tensor(name) }
                    do { _ = try g.tensor(name) } catch { #expect(error.code == .unsupportedDType) }
                } else {
                    let t = try g.tensor(name)
                    #expect(t.dtype == info.type.dtype)
                    #expect(t.shape == Array((e["ne"] as! [Int]).reversed()))
                    #expect(t.storage.bytes.withUnsafeBytes { hexString($0) } == hex)
                }
            }
        }
        // GGUF → bundle → GGUF: byte-identical to gguf-py's file.
        let bundle = try TensorBundle(contentsOf: src)
        #expect(bundle.metadata["general.architecture"] == "llama")
        #expect(bundle.metadata["t.str"] == "héllo \"wörld\"\n\ttab")
        #expect(bundle.metadata["t.u64"] == "18446744073709551615")
        #expect(bundle.tensor("q8_0")?.dtype == .uint8)
        #expect(bundle.tensor("q8_0")?.shape == [4, 68])
        let back = dir.appendingPathComponent("back.gguf")
        try bundle.write(to: back)
        #expect(try Data(contentsOf: back) == Data(contentsOf: src))
        // … and through a Brine file (metadata and quantized blocks survive a save).
        let brine = dir.appendingPathComponent("m.brine")
        try bundle.write(to: brine)
        let viaBrine = dir.appendingPathComponent("via-brine.gguf")
        try TensorBundle(contentsOf: brine).write(to: viaBrine)
        #expect(try Data(contentsOf: viaBrine) == Data(contentsOf: src))
        // A numeric format cannot carry ggml blocks: refused, nothing written.
        let npz = dir.appendingPathComponent("m.npz")
        #expect(throws: BrineError.self) { try bundle.write(to: npz) }
        do { try bundle.write(to: npz) } catch { #expect(error.code == .unsupportedDType && error.arrayPath == "q8_0") }
        #expect(!FileManager.default.fileExists(atPath: npz.path))
    }

    @Test("Brine arrays → GGUF load in gguf-py's GGUFReader (shape order, dtypes, string metadata)")
    func toGGUFPy() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        var tensors: [(name: String, tensor: AnyTensor)] = []
        let dtypes: [DType] = [.float32, .float16, .bfloat16, .float64, .int8, .int16, .int32, .int64]
        for (i, d) in dtypes.enumerated() {
            tensors.append(("blk.\(i).\(d.name)", randomArray(dtype: d, shape: [[3, 5], [2, 3, 4], [7], [1, 2, 3, 2]][i % 4], seed: UInt64(i))))
        }
        let bundle = TensorBundle(tensors: tensors, metadata: ["general.name": "from brine", "note": "ünïcode"])
        let brine = dir.appendingPathComponent("m.brine")
        try bundle.write(to: brine)
        let out = dir.appendingPathComponent("m.gguf")
        try TensorBundle(contentsOf: brine).write(to: out)
        let script = #"""
        import sys, json
        import numpy as np, gguf
        r = gguf.GGUFReader(sys.argv[1])
        print(json.dumps({"fields": {k: f.contents() for k, f in r.fields.items() if not k.startswith("GGUF.")},
                          "tensors": [{"name": t.name, "type": t.tensor_type.name, "ne": [int(x) for x in t.shape],
                                       "hex": np.asarray(t.data).tobytes().hex()} for t in r.tensors]}, ensure_ascii=False))
        """#
        let report = try PythonOracle.json(script, [out.path]) as! [String: Any]
        let fields = report["fields"] as! [String: String]
        #expect(fields == ["general.name": "from brine", "note": "ünïcode"])
        let got = report["tensors"] as! [[String: Any]]
        #expect(got.map { $0["name"] as! String } == tensors.map(\.name))
        for (e, (_, t)) in zip(got, tensors) {
            #expect(e["type"] as! String == GGMLType(dtype: t.dtype)!.name)
            #expect(e["ne"] as! [Int] == Array(t.shape.reversed()))
            #expect(e["hex"] as! String == t.storage.bytes.withUnsafeBytes { hexString($0) })
        }
        // ggml has no unsigned or bool tensors: refused with the array's name, nothing written.
        let bad = dir.appendingPathComponent("bad.gguf")
        do {
            try TensorBundle(tensors: [("mask", randomArray(dtype: .bool, shape: [4], seed: 1))]).write(to: bad)
            Issue.record("a bool tensor was written to GGUF")
        } catch { #expect(error.code == .unsupportedDType && error.arrayPath == "mask") }
        #expect(!FileManager.default.fileExists(atPath: bad.path))
    }

    @Test("the ggml type table equals gguf-py's GGML_QUANT_SIZES")
    func typeTable() throws {
        let script = #"""
        import json
        from gguf.constants import GGML_QUANT_SIZES
        print(json.dumps([[t.name, int(t), b, s] for t, (b, s) in GGML_QUANT_SIZES.items()]))
        """#
        let rows = try PythonOracle.json(script) as! [[Any]]
        for r in rows {
            let t = try #require(GGMLType(rawValue: UInt32(r[1] as! Int)), "\(r)")
            #expect(t.name == r[0] as! String && t.blockSize == r[2] as! Int && t.typeSize == r[3] as! Int)
        }
        #expect(rows.count == GGMLType.known.count)
    }
}

/// Hostile GGUF input: typed errors with a byte offset, never a crash.
@Suite("GGUF hostile input")
struct GGUFHostileTests {
    /// A small valid file: two KVs (one an array), an F32 and a Q8_0 tensor.
    static func sample() throws -> [UInt8] {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("s.gguf")
        let q = TensorStorage(zeroedByteCount: 34 * 2)
        try GGUF.write([try GGUFTensorData(name: "w", tensor: randomArray(dtype: .float32, shape: [2, 3], seed: 3)),
                        try GGUFTensorData(name: "q", type: GGMLType(name: "Q8_0")!, shape: [2, 32], storage: q)],
                       metadata: [("general.architecture", .string("x")), ("a", .array(.int32, [.int32(1), .int32(2)]))],
                       to: url, durable: false)
        return Array(try Data(contentsOf: url))
    }

    static func open(_ bytes: [UInt8], _ options: GGUFReadOptions = .init()) throws(BrineError) -> GGUFFile {
        var b = bytes
        do {
            return try b.withUnsafeMutableBytes { try GGUFFile(bytes: UnsafeRawBufferPointer($0), options: options) }
        } catch let e as BrineError { throw e } catch { fatalError() }
    }

    static func code(_ bytes: [UInt8], _ options: GGUFReadOptions = .init()) -> BrineError.Code? {
        do {
            let g = try open(bytes, options)
            for t in g.tensors { _ = try g.rawBlocks(t.name) }
            return nil
        } catch {
            #expect(error.byteOffset != nil || error.arrayPath != nil, "\(error)")
            return error.code
        }
    }

    static func header(tensors: UInt64, kvs: UInt64, version: UInt32 = 3) -> [UInt8] {
        var b = GGUF.magic
        GGUF.put(&b, version)
        GGUF.put(&b, tensors)
        GGUF.put(&b, kvs)
        return b
    }

    @Test("the sample opens; every truncation is refused with .truncated")
    func truncation() throws {
        let s = try Self.sample()
        #expect(Self.code(s) == nil)
        // The zero padding after the last tensor is not needed to read it.
        let end = try Self.open(s).tensors.map { $0.fileOffset + $0.byteCount }.max()!
        for n in 0 ..< s.count {
            let c = Self.code(Array(s[0 ..< n]))
            #expect(n < end ? c == .truncated : c == nil, "cut at \(n) (data ends at \(end)): \(String(describing: c))")
        }
    }

    @Test("single-byte corruption anywhere gives a value or a typed error")
    func corruption() throws {
        let s = try Self.sample()
        for i in 0 ..< s.count {
            for v: UInt8 in [0x00, 0xFF, 0x80, s[i] ^ 0x01] {
                var b = s
                b[i] = v
                _ = Self.code(b)
            }
        }
    }

    @Test("hostile headers: counts, lengths, nesting, versions, alignment, offsets, types")
    func hostileHeaders() throws {
        #expect(Self.code(Self.header(tensors: UInt64.max, kvs: 0)) == .limitExceeded)
        #expect(Self.code(Self.header(tensors: 1000, kvs: 0)) == .truncated)
        #expect(Self.code(Self.header(tensors: 0, kvs: UInt64.max)) == .limitExceeded)
        #expect(Self.code(Self.header(tensors: 0, kvs: 0, version: 1)) == .unsupportedVersion)
        #expect(Self.code(Self.header(tensors: 0, kvs: 0, version: 0x0300_0000)) == .unsupportedFeature)
        #expect(Self.code(Self.header(tensors: 0, kvs: 0)) == nil)

        func kv(_ key: String, _ type: UInt32, _ body: [UInt8]) -> [UInt8] {
            var b = Self.header(tensors: 0, kvs: 1)
            GGUF.putString(&b, key)
            GGUF.put(&b, type)
            return b + body
        }
        // A string length of 2^63 and one just past the end.
        var huge: [UInt8] = []
        GGUF.put(&huge, UInt64(1) << 63)
        #expect(Self.code(kv("k", 8, huge)) == .limitExceeded)
        var past: [UInt8] = []
        GGUF.put(&past, UInt64(10))
        #expect(Self.code(kv("k", 8, past + [1, 2, 3])) == .truncated)
        #expect(Self.code(kv("k", 8, past + [0xFF] + Array(repeating: 0x41, count: 9))) == .invalidInterop)  // invalid UTF-8
        #expect(Self.code(kv("k", 99, [])) == .invalidInterop)  // unknown value type
        #expect(Self.code(kv("k", 7, [2])) == .invalidInterop)  // BOOL 2
        #expect(Self.code(kv("gguf.kv_types", 7, [1])) == .unsupportedFeature)
        var big: [UInt8] = []
        GGUF.put(&big, UInt32(4))
        GGUF.put(&big, UInt64(1) << 20)
        #expect(Self.code(kv("k", 9, big + [0, 0, 0])) == .truncated)  // under maxValues, past the end
        // An array of 2^40 UINT32 in a tiny file, and arrays nested 100 deep.
        var arr: [UInt8] = []
        GGUF.put(&arr, UInt32(4))
        GGUF.put(&arr, UInt64(1) << 40)
        #expect(Self.code(kv("k", 9, arr)) == .limitExceeded)  // over maxValues before the file size
        var deep: [UInt8] = []
        for _ in 0 ..< 100 { GGUF.put(&deep, UInt32(9)); GGUF.put(&deep, UInt64(1)) }
        #expect(Self.code(kv("k", 9, deep + Array(repeating: 0, count: 1000))) == .limitExceeded)
        // Heterogeneous nested arrays are refused (no type string for them).
        var het: [UInt8] = []
        GGUF.put(&het, UInt32(9)); GGUF.put(&het, UInt64(2))
        GGUF.put(&het, UInt32(5)); GGUF.put(&het, UInt64(1)); GGUF.put(&het, Int32(1))
        GGUF.put(&het, UInt32(8)); GGUF.put(&het, UInt64(1)); GGUF.putString(&het, "x")
        #expect(Self.code(kv("k", 9, het)) == .unsupportedFeature)
        // general.alignment: not a power of two; not a UINT32.
        var a3: [UInt8] = []
        GGUF.put(&a3, UInt32(3))
        #expect(Self.code(kv("general.alignment", 4, a3)) == .invalidInterop)
        #expect(Self.code(kv("general.alignment", 5, a3)) == .invalidInterop)
        // Duplicate keys.
        var dup = Self.header(tensors: 0, kvs: 2)
        for _ in 0 ..< 2 { GGUF.putString(&dup, "k"); GGUF.put(&dup, UInt32(0)); dup.append(1) }
        #expect(Self.code(dup) == .invalidInterop)

        func tensor(dims: [UInt64], type: UInt32, offset: UInt64, data: Int = 64) -> [UInt8] {
            var b = Self.header(tensors: 1, kvs: 0)
            GGUF.putString(&b, "t")
            GGUF.put(&b, UInt32(dims.count))
            for d in dims { GGUF.put(&b, d) }
            GGUF.put(&b, type)
            GGUF.put(&b, offset)
            b += Array(repeating: 0, count: GGUF.padding(b.count, 32) + data)
            return b
        }
        #expect(Self.code(tensor(dims: [4, 4], type: 0, offset: 0)) == nil)
        #expect(Self.code(tensor(dims: [4, 5], type: 0, offset: 0)) == .truncated)  // 80 bytes > 64
        #expect(Self.code(tensor(dims: [4], type: 0, offset: 64)) == .truncated)
        #expect(Self.code(tensor(dims: [4], type: 0, offset: 8)) == .invalidInterop)  // misaligned
        #expect(Self.code(tensor(dims: [4], type: 0, offset: UInt64.max)) == .truncated)
        #expect(Self.code(tensor(dims: [UInt64.max, 2], type: 0, offset: 0)) == .invalidInterop)
        #expect(Self.code(tensor(dims: [1 << 62, 1 << 62], type: 0, offset: 0)) == .invalidInterop)  // overflow
        #expect(Self.code(tensor(dims: [1, 1, 1, 1, 1], type: 0, offset: 0)) == .limitExceeded)
        #expect(Self.code(tensor(dims: [4], type: 4, offset: 0)) == .unsupportedDType)  // removed Q4_2
        #expect(Self.code(tensor(dims: [33], type: 8, offset: 0)) == .invalidInterop)  // not whole Q8_0 blocks
        // Caps from options.
        var small = GGUFReadOptions()
        small.limits.maxAllocationBytes = 16
        let s = try Self.sample()
        do {
            _ = try Self.open(s, small).tensor("w")
        } catch { Issue.record("a view needs no allocation: \(error)") }
        small.maxValues = 2
        #expect(Self.code(s, small) == .limitExceeded)
    }

    @Test("metadata text: typed values round-trip through their text, bad text is refused")
    func metadataText() throws {
        let values: [GGUFValue] = [
            .uint8(255), .int8(-128), .uint16(65535), .int16(-32768), .uint32(.max), .int32(.min), .uint64(.max), .int64(.min),
            .float32(.leastNonzeroMagnitude), .float32(-0.0), .float32(.nan), .float32(Float(bitPattern: 0x7FA0_0001)), .float32(.infinity),
            .float64(.pi), .float64(-.infinity), .float64(.greatestFiniteMagnitude), .bool(true), .string("a\"b\\c\u{1}"),
            .array(.float32, [.float32(1), .float32(.nan)]), .array(.string, []), .array(.array, []),
            .array(.array, [.array(.uint8, [.uint8(1)]), .array(.uint8, [])]),
        ]
        for v in values {
            let type = try #require(GGUFMetadataText.typeName(v))
            let text = GGUFMetadataText.render(v)
            #expect(try GGUFMetadataText.parse(text, type: type, key: "k") == v, "\(v) as \(type): \(text)")
        }
        for (text, type) in [("256", "UINT8"), ("-1", "UINT32"), ("1.5", "INT32"), ("x", "FLOAT32"), ("[1,\"a\"]", "ARRAY[INT32]"),
                             ("true", "INT8"), ("[[1]]", "ARRAY[ARRAY]"), ("1", "WHAT"), ("\"0x1\"", "FLOAT32")] {
            #expect(throws: BrineError.self, "\(text) as \(type)") { try GGUFMetadataText.parse(text, type: type, key: "k") }
        }
    }
}
