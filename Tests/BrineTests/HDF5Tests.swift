import Foundation
import Testing
@testable import Brine
import BrineHDF5

/// HDF5 through libhdf5, checked against h5py and real Keras 3 files
/// (KERAS_BACKEND=jax): datasets read bit-exactly (chunked, gzip, shuffle),
/// attributes become metadata, Brine's .h5 output loads in h5py and in
/// `model.load_weights` with identical predictions.
@Suite("HDF5 and Keras (oracles: h5py, keras)", .serialized)
struct HDF5OracleTests {
    static let h5pyWriter = #"""
    import sys, json
    import numpy as np, h5py
    path = sys.argv[1]
    rng = np.random.default_rng(5)
    out = {}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = np.bytes_(b"tensorflow")
        f.attrs["count"] = np.int64(-3)
        f.attrs["ratio"] = np.float32(0.5)
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"dense", b"conv"], dtype="S5")
        d = mw.create_group("dense")
        d.attrs["weight_names"] = np.array([b"dense/kernel:0", b"dense/bias:0"])
        g = d.create_group("dense")
        arrays = {
            "model_weights/dense/dense/kernel:0": (rng.standard_normal((64, 32)).astype(np.float32), dict(chunks=(16, 8), compression="gzip", compression_opts=6, shuffle=True)),
            "model_weights/dense/dense/bias:0": (rng.standard_normal((32,)).astype(np.float32), {}),
            "model_weights/conv/k": (rng.standard_normal((3, 3, 2, 4)).astype(np.float16), dict(chunks=True, compression="gzip")),
            "other/f64": (rng.standard_normal((5, 5)).astype(">f8"), {}),
            "other/i8": (rng.integers(-128, 127, (9,), dtype=np.int8), dict(shuffle=True, chunks=(4,))),
            "other/i16": (rng.integers(-30000, 30000, (3, 3), dtype=np.int16).astype(">i2"), {}),
            "other/i32": (rng.integers(-2**31, 2**31 - 1, (4,), dtype=np.int32), {}),
            "other/i64": (rng.integers(-2**62, 2**62, (2, 2), dtype=np.int64), dict(compression="gzip")),
            "other/u8": (rng.integers(0, 255, (10,), dtype=np.uint8), {}),
            "other/u16": (rng.integers(0, 65535, (3,), dtype=np.uint16), {}),
            "other/u32": (rng.integers(0, 2**32 - 1, (3,), dtype=np.uint32), {}),
            "other/u64": (rng.integers(0, 2**63, (3,), dtype=np.uint64), {}),
            "other/mask": (rng.integers(0, 2, (2, 3)).astype(bool), {}),
            "other/scalar": (np.float32(2.5), {}),
            "other/empty": (np.zeros((0, 3), np.float32), {}),
        }
        for name, (a, kw) in arrays.items():
            ds = f.create_dataset(name, data=a, **kw)
            b = np.asarray(a)
            b = b.astype(b.dtype.newbyteorder("<")).copy(order="C")
            out[name] = {"dtype": str(b.dtype.name), "shape": list(b.shape), "hex": b.tobytes().hex()}
        f["other/f64"].attrs["unit"] = "m/s"
    print(json.dumps(out))
    """#

    static let dtypes: [String: DType] = [
        "float32": .float32, "float16": .float16, "float64": .float64, "int8": .int8, "int16": .int16, "int32": .int32,
        "int64": .int64, "uint8": .uint8, "uint16": .uint16, "uint32": .uint32, "uint64": .uint64, "bool": .bool,
    ]

    @Test("h5py files (Keras 2 layout; chunked, gzip, shuffle, big-endian; every dtype) read bit-exactly; attributes become metadata")
    func fromH5py() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("k2.h5")
        let expected = try PythonOracle.json(Self.h5pyWriter, [url.path]) as! [String: [String: Any]]
        #expect(try TensorFileFormat.detect(contentsOf: url) == .h5)
        let bundle = try HDF5.read(contentsOf: url)
        #expect(Set(bundle.names) == Set(expected.keys))
        for (name, e) in expected {
            let t = try #require(bundle.tensor(name), "\(name)")
            #expect(t.dtype == Self.dtypes[e["dtype"] as! String], "\(name)")
            #expect(t.shape == e["shape"] as! [Int], "\(name)")
            #expect(t.storage.bytes.withUnsafeBytes { hexString($0) } == e["hex"] as! String, "\(name)")
        }
        let m = bundle.metadata
        #expect(m["@keras_version"] == "2.15.0")
        #expect(m["@backend"] == "tensorflow")
        #expect(m["@count"] == "-3")
        #expect(m["@ratio"] == "0.5")
        #expect(m["model_weights@layer_names"] == #"["dense","conv"]"#)
        #expect(m["model_weights/dense@weight_names"] == #"["dense/kernel:0","dense/bias:0"]"#)
        #expect(m["other/f64@unit"] == "m/s")
    }

    @Test("Brine → .h5 loads in h5py: every dtype h5py has, names as groups, string attributes; bfloat16 is refused")
    func toH5py() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        var tensors: [(name: String, tensor: AnyTensor)] = []
        for (i, d) in DType.allCases.filter({ $0 != .bfloat16 }).enumerated() {
            tensors.append(("layers/l\(i)/\(d.name)", randomArray(dtype: d, shape: [[3, 4], [5], [2, 1, 3], [], [0, 2]][i % 5], seed: UInt64(i))))
        }
        let bundle = TensorBundle(tensors: tensors, metadata: ["@note": "from brine ü", "layers@kind": "group attr", "plain": "not an attribute"])
        let out = dir.appendingPathComponent("out.h5")
        // "plain" names no attribute: refused unless dropped by name, and nothing is written.
        do {
            try HDF5.write(bundle, to: out)
            Issue.record("a metadata key HDF5 cannot keep was dropped silently")
        } catch { #expect(error.code == .unsupportedFeature && error.message.contains("'plain'"), "\(error)") }
        #expect(!FileManager.default.fileExists(atPath: out.path))
        try HDF5.write(bundle, to: out, dropMetadata: true)
        let script = #"""
        import sys, json
        import numpy as np, h5py
        res = {"arrays": {}, "attrs": {}}
        with h5py.File(sys.argv[1], "r") as f:
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    a = obj[()]
                    a = np.asarray(a)
                    res["arrays"][name] = {"dtype": a.dtype.name, "shape": list(a.shape), "hex": np.ascontiguousarray(a).tobytes().hex()}
            f.visititems(visit)
            res["attrs"] = {"root": f.attrs["note"], "layers": f["layers"].attrs["kind"]}
        print(json.dumps(res, ensure_ascii=False))
        """#
        let r = try PythonOracle.json(script, [out.path]) as! [String: Any]
        let arrays = r["arrays"] as! [String: [String: Any]]
        #expect(arrays.count == tensors.count)
        for (name, t) in tensors {
            let e = try #require(arrays[name], "\(name)")
            #expect(Self.dtypes[e["dtype"] as! String] == t.dtype, "\(name)")
            #expect(e["shape"] as! [Int] == t.shape, "\(name)")
            #expect(e["hex"] as! String == t.storage.bytes.withUnsafeBytes { hexString($0) }, "\(name)")
        }
        #expect(r["attrs"] as! [String: String] == ["root": "from brine ü", "layers": "group attr"])
        // Read back through Brine as well.
        let back = try HDF5.read(contentsOf: out)
        for (name, t) in tensors { #expect(back.tensor(name) == t, "\(name)") }
        let bad = dir.appendingPathComponent("bad.h5")
        do {
            try HDF5.write(TensorBundle(tensors: [("w", randomArray(dtype: .bfloat16, shape: [2], seed: 1))]), to: bad)
            Issue.record("bfloat16 written to HDF5")
        } catch { #expect(error.code == .unsupportedDType && error.arrayPath == "w") }
        #expect(!FileManager.default.fileExists(atPath: bad.path))
    }

    @Test("metadata HDF5 cannot keep is refused before anything is written, each kind; dropMetadata leaves exactly those out",
          arguments: [
              ("format", "a key without '@'"),
              ("group/w/under@unit", "an object under a dataset"),
              ("w@", "an empty attribute name"),
              ("w@unit", "a NUL in the value"),
              ("w@u\u{0}nit", "a NUL in the attribute name"),
          ])
    func unkeptMetadata(key: String, why: String) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let value = why == "a NUL in the value" ? "m/s\u{0}(cut here)" : "m/s"
        let bundle = TensorBundle(tensors: [("group/w", randomArray(dtype: .float32, shape: [3], seed: 2))],
                                  metadata: ["group@kept": "yes", "group/w@kept": "also", key.replacingOccurrences(of: "w@", with: "group/w@"): value])
        let out = dir.appendingPathComponent("m.h5")
        do {
            try HDF5.write(bundle, to: out)
            Issue.record("\(why): written")
        } catch { #expect(error.code == .unsupportedFeature, "\(why): \(error)") }
        #expect(!FileManager.default.fileExists(atPath: out.path), "\(why)")
        try HDF5.write(bundle, to: out, dropMetadata: true)
        let back = try HDF5.read(contentsOf: out)
        #expect(back.metadata == ["group@kept": "yes", "group/w@kept": "also"], "\(why)")
        #expect(back.tensor("group/w") == bundle.tensor("group/w"))
    }

    @Test("attribute bytes that are not UTF-8 are kept exactly (data: form), not replaced; two spellings of an attribute name are refused, not merged")
    func attributeTextIsExact() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let script = #"""
        import sys, h5py, numpy as np
        with h5py.File(sys.argv[1] + "/bytes.h5", "w") as f:
            d = f.create_dataset("w", data=np.ones(2, np.float32))
            d.attrs["raw"] = np.bytes_(b"ab\xffcd")
            d.attrs["text"] = "fine"
        with h5py.File(sys.argv[1] + "/names.h5", "w") as f:
            d = f.create_dataset("w", data=np.ones(2, np.float32))
            d.attrs["\u00e9"] = "precomposed"
            d.attrs["e\u0301"] = "decomposed"
        """#
        _ = try PythonOracle.run(script, [dir.path])
        let b = try HDF5.read(contentsOf: dir.appendingPathComponent("bytes.h5"))
        #expect(b.metadata["w@text"] == "fine")
        #expect(b.metadata["w@raw"] == MetadataText.bytesPrefix + Data([0x61, 0x62, 0xFF, 0x63, 0x64]).base64EncodedString())
        #expect {
            _ = try HDF5.read(contentsOf: dir.appendingPathComponent("names.h5"))
        } throws: { ($0 as? BrineError)?.code == .unsupportedFeature }
    }

    @Test("skipUnconvertibleAttributes (brine convert --drop-metadata) also leaves out enum values that are no member (h5py bool 2 included), names that are not UTF-8 and both spellings of a name, keeping the rest; without it they are refused")
    func skipLeavesOutEveryUnconvertible() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        _ = try PythonOracle.run(#"""
        import sys, h5py, numpy as np
        base = sys.argv[1]
        def make(name, fill):
            with h5py.File(base + "/" + name + ".h5", "w") as f:
                d = f.create_dataset("w", data=np.arange(4, dtype=np.float32))
                d.attrs["other"] = "kept"
                fill(d.attrs)
        make("nonmember", lambda a: a.create("c", np.array(7, dtype="i1"), dtype=h5py.enum_dtype({"A": 0, "B": 1}, basetype="i1")))
        make("bool2", lambda a: a.create("b", np.array([1, 2], dtype="i1"), dtype=h5py.enum_dtype({"FALSE": 0, "TRUE": 1}, basetype="i1")))
        make("badname", lambda a: a.create(b"n\xff", np.int64(1)))
        def spellings(a):
            a["é"] = "precomposed"
            a["é"] = "decomposed"
        make("spellings", spellings)
        """#, [dir.path])
        for name in ["nonmember", "bool2", "badname", "spellings"] {
            let url = dir.appendingPathComponent(name + ".h5")
            let e = #expect(throws: BrineError.self, "\(name)") { try HDF5.read(contentsOf: url) }
            #expect(e?.code == .invalidInterop || e?.code == .unsupportedFeature, "\(name): \(String(describing: e))")
            var options = HDF5ReadOptions()
            options.skipUnconvertibleAttributes = true
            let b = try HDF5.read(contentsOf: url, options: options)
            #expect(b.metadata == ["w@other": "kept"], "\(name): \(b.metadata)")
            #expect(b.names == ["w"], "\(name)")
        }
    }

    @Test("attributes with no exact text (complex, compound, long double, opaque) are refused, never replaced by placeholder text; bool and enum attributes convert exactly; the opt-out leaves them out")
    func unconvertibleAttributes() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let script = #"""
        import sys, h5py, numpy as np
        base = sys.argv[1]
        def make(name, attrs):
            with h5py.File(base + "/" + name + ".h5", "w") as f:
                d = f.create_dataset("w", data=np.arange(4, dtype=np.float32))
                for k, v in attrs.items():
                    d.attrs[k] = v
        make("exact", {"flag": np.bool_(True), "flags": np.array([True, False]),
                       "color": np.array(2, dtype=h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 2}, basetype="i1")),
                       "colors": np.array([0, 2], dtype=h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 2}, basetype="u2"))})
        make("complex", {"z": np.complex64(1 + 2j), "note": "kept"})
        make("compound", {"pair": np.array((1, 2.5), dtype=[("a", "i4"), ("b", "f8")])})
        make("longdouble", {"x": np.longdouble(1) / 3})
        make("opaque", {"o": np.void(b"\x00\x01")})
        """#
        _ = try PythonOracle.run(script, [dir.path])
        let exact = try HDF5.read(contentsOf: dir.appendingPathComponent("exact.h5"))
        #expect(exact.metadata["w@flag"] == "true")
        #expect(exact.metadata["w@flags"] == "[true,false]")
        #expect(exact.metadata["w@color"] == "BLUE")
        #expect(exact.metadata["w@colors"] == #"["RED","BLUE"]"#)
        for name in ["complex", "compound", "longdouble", "opaque"] {
            let url = dir.appendingPathComponent(name + ".h5")
            #expect("\(name)") {
                _ = try HDF5.read(contentsOf: url)
            } throws: { ($0 as? BrineError)?.code == .unsupportedFeature }
            var options = HDF5ReadOptions()
            options.skipUnconvertibleAttributes = true
            let b = try HDF5.read(contentsOf: url, options: options)
            #expect(b.names == ["w"], "\(name)")
            #expect(b.metadata.keys.allSatisfy { !$0.hasPrefix("w@") || $0 == "w@note" }, "\(name): \(b.metadata)")
            #expect(b.metadata.values.allSatisfy { !$0.contains("not converted") }, "\(name)")
        }
        var options = HDF5ReadOptions()
        options.skipUnconvertibleAttributes = true
        #expect(try HDF5.read(contentsOf: dir.appendingPathComponent("complex.h5"), options: options).metadata["w@note"] == "kept")
    }

    @Test("attribute text is exact: embedded NULs of padded strings kept, a string that looks like the data: form escaped, arrays keep their shape; '@' in names and null dataspaces are refused, not merged or emptied; the writer refuses keys it would split or spell another way")
    func attributeTextKeepsEverything() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        _ = try PythonOracle.run(#"""
        import sys, h5py, numpy as np
        base = sys.argv[1]
        with h5py.File(base + "/exact.h5", "w") as f:
            d = f.create_dataset("w", data=np.arange(4, dtype=np.float32))
            d.attrs["s"] = np.bytes_(b"a\x00b")
            d.attrs["b"] = np.bytes_(b"\xff\xfe")
            d.attrs["t"] = "data:application/octet-stream;base64,//4="
            d.attrs["i2"] = np.array([[1, 2], [3, 4]])
            d.attrs["i1"] = np.array([1, 2, 3, 4])
            d.attrs["e20"] = np.zeros((2, 0), np.int64)
            d.attrs["b2"] = np.array([[True, False], [False, True]])
            d.attrs["f"] = np.array([1.5, np.nan, np.inf, -np.inf])
            d.attrs["fs"] = np.float64(np.nan)
            d.attrs["sa"] = np.array([b"data:application/octet-stream;base64,//4=", b"x"])
        with h5py.File(base + "/clash.h5", "w") as f:
            f.create_dataset("w", data=np.ones(2, np.float32)).attrs["x@y"] = "one"
            f.create_dataset("w@x", data=np.ones(2, np.float32)).attrs["y"] = "two"
        with h5py.File(base + "/empty.h5", "w") as f:
            f.create_dataset("w", data=np.ones(2, np.float32)).attrs["e"] = h5py.Empty("f4")
        with h5py.File(base + "/bytesarray.h5", "w") as f:
            f.create_dataset("w", data=np.ones(2, np.float32)).attrs["ba"] = np.array([b"\xff\xfe", b"x"])
        """#, [dir.path])
        let b = try HDF5.read(contentsOf: dir.appendingPathComponent("exact.h5"))
        #expect(b.metadata["w@s"] == "a\u{0}b")
        #expect(try MetadataText.value(from: b.metadata["w@b"]!, key: "b") == .bytes([0xFF, 0xFE]))
        #expect(try MetadataText.value(from: b.metadata["w@t"]!, key: "t") == .string("data:application/octet-stream;base64,//4="))
        #expect(b.metadata["w@i2"] == "[[1,2],[3,4]]")
        #expect(b.metadata["w@i1"] == "[1,2,3,4]")
        #expect(b.metadata["w@e20"] == "[[],[]]")
        #expect(b.metadata["w@b2"] == "[[true,false],[false,true]]")
        // Non-finite floats as Python's json writes them (they were the strings "nan" and "inf").
        #expect(b.metadata["w@f"] == "[1.5,NaN,Infinity,-Infinity]")
        #expect(b.metadata["w@fs"] == "NaN")
        let floats = try PythonOracle.run("import json, sys; print(json.loads(sys.argv[1]), json.loads(sys.argv[2]))", [b.metadata["w@f"]!, b.metadata["w@fs"]!])
        #expect(floats.trimmingCharacters(in: .whitespacesAndNewlines) == "[1.5, nan, inf, -inf] nan", "\(floats)")
        // A string element that spells the bytes marker stays that string; an
        // element that is not UTF-8 is refused (it read back as that string).
        #expect(b.metadata["w@sa"] == #"["data:application/octet-stream;base64,//4=","x"]"#, "\(b.metadata["w@sa"] ?? "nil")")
        for name in ["clash", "empty", "bytesarray"] {
            let url = dir.appendingPathComponent(name + ".h5")
            #expect("\(name)") { _ = try HDF5.read(contentsOf: url) } throws: { ($0 as? BrineError)?.code == .unsupportedFeature }
            var options = HDF5ReadOptions()
            options.skipUnconvertibleAttributes = true
            #expect(try HDF5.read(contentsOf: url, options: options).metadata.isEmpty, "\(name)")
        }
        // The writer: a string escaped by the reader goes back as that string;
        // bytes, two '@' and other spellings of a path are refused.
        let out = dir.appendingPathComponent("back.h5")
        let w = AnyTensor(Tensor<Float>([1, 2]))
        try HDF5.write(TensorBundle(tensors: [("w", w)], metadata: ["w@t": b.metadata["w@t"]!, "w@s": "plain"]), to: out)
        let back = try HDF5.read(contentsOf: out)
        #expect(back.metadata["w@t"] == b.metadata["w@t"])
        for key in ["w@x@y", "/w@a", "w/@a"] {
            #expect("\(key)") {
                try HDF5.write(TensorBundle(tensors: [("w", w)], metadata: [key: "v"]), to: dir.appendingPathComponent("r.h5"))
            } throws: { ($0 as? BrineError)?.code == .unsupportedFeature }
        }
        #expect {
            try HDF5.write(TensorBundle(tensors: [("w", w)], metadata: ["w@b": b.metadata["w@b"]!]), to: dir.appendingPathComponent("r.h5"))
        } throws: { ($0 as? BrineError)?.code == .unsupportedFeature }
    }

    @Test("keras.paths naming both spellings of a name places each array at its own path (a [String: String] merged them); an attribute on one spelling's group next to the other's dataset is written")
    func kerasPathsByCodePoints() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let nfc = "\u{E9}", nfd = "e\u{301}"
        let a = AnyTensor(Tensor<Float>([1, 2])), b = AnyTensor(Tensor<Float>([3, 4, 5]))
        let paths = #"{"\#(nfc)": "g/a", "\#(nfd)": "g/b"}"#
        let out = dir.appendingPathComponent("k.h5")
        try HDF5.write(TensorBundle(tensors: [(nfc, a), (nfd, b)], metadata: [HDF5.kerasPathsKey: paths]), to: out)
        let back = try HDF5.read(contentsOf: out)
        #expect(back.names.sorted() == ["g/a", "g/b"])
        #expect(try back.tensor("g/a") == a && back.tensor("g/b") == b)
        // A key repeated exactly is refused, not merged.
        let e = #expect(throws: BrineError.self) {
            try HDF5.write(TensorBundle(tensors: [(nfc, a)], metadata: [HDF5.kerasPathsKey: #"{"x": "g/a", "x": "g/b"}"#]), to: dir.appendingPathComponent("d.h5"))
        }
        #expect(e?.code == .invalidArgument)
        // Group "\u{E9}" (made for its attribute) beside dataset "e\u{301}".
        let out2 = dir.appendingPathComponent("g.h5")
        try HDF5.write(TensorBundle(tensors: [(nfd, b)], metadata: ["\(nfc)@note": "x"]), to: out2)
        let back2 = try HDF5.read(contentsOf: out2)
        #expect(back2.metadata.count == 1 && back2.metadata.first?.key.isSameName(as: "\(nfc)@note") == true && back2.metadata.first?.value == "x", "\(back2.metadata)")
        #expect(back2.names.count == 1 && back2.names[0].isSameName(as: nfd))
    }

    @Test("HDF5 → HDF5 keeps every attribute's type and shape (it wrote all of them back as strings: int 5 became \"5\"); an enum attribute is refused unless dropMetadata; a text that no longer fits its recorded type is refused")
    func attributeTypesRoundTrip() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        _ = try PythonOracle.run(#"""
        import sys, h5py, numpy as np
        with h5py.File(sys.argv[1] + "/in.h5", "w") as f:
            d = f.create_dataset("w", data=np.arange(4, dtype=np.float32))
            d.attrs["epoch"] = np.int64(5)
            d.attrs["s"] = "5"
            d.attrs["u"] = np.uint64(2**64 - 1)
            d.attrs["f32"] = np.float32(0.1)
            d.attrs["f"] = np.array([1.5, np.nan, np.inf, -np.inf])
            d.attrs["b"] = True
            d.attrs["i16"] = np.array([[1, 2], [3, 4]], dtype=np.int16)
            d.attrs["names"] = np.array([b"dense", b"dense_1"])
            d.attrs["e0"] = np.zeros((2, 0), np.int8)
            f.attrs["version"] = "2.15"
        with h5py.File(sys.argv[1] + "/enum.h5", "w") as f:
            d = f.create_dataset("w", data=np.arange(4, dtype=np.float32))
            d.attrs["color"] = np.array(2, dtype=h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 2}, basetype="i1"))
        """#, [dir.path])
        let out = dir.appendingPathComponent("out.h5")
        let r = try runBrine(["convert", dir.appendingPathComponent("in.h5").path, out.path])
        #expect(r.status == 0, "\(r.err)")
        let described = try PythonOracle.run(#"""
        import sys, h5py, numpy as np
        with h5py.File(sys.argv[1]) as f:
            a = f["w"].attrs
            print(f.attrs["version"], type(f.attrs["version"]).__name__)
            for k in ["epoch", "s", "u", "f32", "b"]:
                v = a[k]
                print(k, repr(v.item() if hasattr(v, "item") else v), getattr(v, "dtype", type(v).__name__))
            print("f", a["f"].dtype, a["f"][0], np.isnan(a["f"][1]), a["f"][2], a["f"][3])
            print("i16", a["i16"].dtype, a["i16"].shape, a["i16"].tolist())
            print("names", [n.decode() if isinstance(n, bytes) else n for n in a["names"]])
            print("e0", a["e0"].dtype, a["e0"].shape)
        """#, [out.path])
        #expect(described.split(separator: "\n").map(String.init) == [
            "2.15 str", "epoch 5 int64", "s '5' str", "u 18446744073709551615 uint64", "f32 0.10000000149011612 float32", "b True bool",
            "f float64 1.5 True inf -inf", "i16 int16 (2, 2) [[1, 2], [3, 4]]", "names ['dense', 'dense_1']", "e0 int8 (2, 0)",
        ], "\(described)")
        // A recorded type the text no longer fits is refused, not clamped.
        var b = try HDF5.read(contentsOf: dir.appendingPathComponent("in.h5"))
        b.metadata["w@i16"] = "[[1,2],[3,40000]]"
        let e = #expect(throws: BrineError.self) { try HDF5.write(b, to: dir.appendingPathComponent("bad.h5")) }
        #expect(e?.code == .invalidArgument && e?.message.contains("w@i16") == true, "\(String(describing: e))")
        // An enum's type cannot be rebuilt: refused, or left out with dropMetadata.
        let en = try HDF5.read(contentsOf: dir.appendingPathComponent("enum.h5"))
        #expect(en.metadata["w@color"] == "BLUE")
        let e2 = #expect(throws: BrineError.self) { try HDF5.write(en, to: dir.appendingPathComponent("e.h5")) }
        #expect(e2?.code == .unsupportedFeature, "\(String(describing: e2))")
        try HDF5.write(en, to: dir.appendingPathComponent("e.h5"), dropMetadata: true)
        #expect(try HDF5.read(contentsOf: dir.appendingPathComponent("e.h5")).metadata.isEmpty)
    }

    @Test("an attribute of a group no dataset creates (Keras 3's empty 'vars') is kept: the group is created")
    func attributeOnlyGroups() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let bundle = TensorBundle(tensors: [("layers/dense/vars/0", randomArray(dtype: .float32, shape: [2], seed: 4))],
                                  metadata: ["layers/flatten/vars@name": "vars", "vars@name": "top", "layers/dense/vars@name": "vars"])
        let out = dir.appendingPathComponent("g.h5")
        try HDF5.write(bundle, to: out)
        #expect(try HDF5.read(contentsOf: out).metadata == bundle.metadata)
    }

    @Test("real Keras 3 files: .weights.h5 and .keras read; Keras → Brine → .h5 → load_weights gives identical predictions")
    func keras3RoundTrip() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let script = #"""
        import os, sys, json
        os.environ["KERAS_BACKEND"] = "jax"
        import numpy as np, keras
        folder, mode = sys.argv[1], sys.argv[2]
        def build():
            keras.utils.set_random_seed(1)
            return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
                                     keras.layers.Flatten(), keras.layers.Dense(5, name="dense")])
        x = np.random.default_rng(2).standard_normal((3, 8, 8, 1)).astype(np.float32)
        if mode == "save":
            m = build()
            m.compile(optimizer="adam", loss="mse")
            m.fit(x, np.ones((3, 5), np.float32), epochs=2, verbose=0)
            m.save_weights(os.path.join(folder, "m.weights.h5"))
            m.save(os.path.join(folder, "m.keras"))
            np.save(os.path.join(folder, "pred.npy"), m.predict(x, verbose=0))
            print(json.dumps({w.path: np.asarray(w.numpy()).tobytes().hex() for w in m.weights}))
        else:
            m = build()
            m.load_weights(os.path.join(folder, "back.weights.h5"))
            p = m.predict(x, verbose=0)
            print(json.dumps({"same": bool(np.array_equal(p, np.load(os.path.join(folder, "pred.npy"))))}))
        """#
        let weights = try PythonOracle.json(script, [dir.path, "save"]) as! [String: String]
        let fromH5 = try HDF5.read(contentsOf: dir.appendingPathComponent("m.weights.h5"))
        let fromKeras = try HDF5.readKeras(contentsOf: dir.appendingPathComponent("m.keras"))
        #expect(try TensorFileFormat.detect(contentsOf: dir.appendingPathComponent("m.keras")) == .keras)
        #expect(fromKeras.metadata["keras.config"]?.contains("\"Sequential\"") == true)
        // Every Keras weight (kernel, bias of both layers) is in the file, bit for bit.
        let hexes = Set(fromH5.tensors.map { $0.tensor.storage.bytes.withUnsafeBytes { hexString($0) } })
        for (path, hex) in weights { #expect(hexes.contains(hex), "\(path)") }
        for (name, t) in fromH5.tensors { #expect(fromKeras.tensor(name) == t, "\(name) differs between .weights.h5 and .keras") }
        // Keras → Brine (readable names) → .h5 → load_weights.
        var readable = HDF5ReadOptions()
        readable.kerasNames = true
        let named = try HDF5.read(contentsOf: dir.appendingPathComponent("m.weights.h5"), options: readable)
        // Keras 3 names layers by their path in the model (`conv2d`, `dense`) and stores the optimizer's variables too.
        #expect(Set(named.names).isSuperset(of: ["conv2d/0", "conv2d/1", "dense/0", "dense/1"]))
        #expect(named.names.count == fromH5.names.count)
        for (name, t) in named.tensors {
            let path = try #require(fromH5.names.first { HDF5Tests_kerasPath($0) == name }, "\(name)")
            #expect(fromH5.tensor(path) == t, "\(name)")
        }
        let brine = dir.appendingPathComponent("m.brine")
        try named.write(to: brine)
        try HDF5.write(TensorBundle(contentsOf: brine), to: dir.appendingPathComponent("back.weights.h5"))
        let r = try PythonOracle.json(script, [dir.path, "load"]) as! [String: Bool]
        #expect(r["same"] == true)
    }

    @Test("Keras 2 names: model_weights/<layer>/<layer>/<weight>:0 reads as <layer>/<weight> and writes back to its path")
    func keras2Names() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("k2.h5")
        _ = try PythonOracle.json(Self.h5pyWriter, [url.path])
        var o = HDF5ReadOptions()
        o.kerasNames = true
        let b = try HDF5.read(contentsOf: url, options: o)
        #expect(b.tensor("dense/kernel") != nil && b.tensor("dense/bias") != nil && b.tensor("conv/k") != nil && b.tensor("other/f64") != nil)
        let out = dir.appendingPathComponent("out.h5")
        try HDF5.write(b, to: out)
        let plain = try HDF5.read(contentsOf: out)
        #expect(plain.tensor("model_weights/dense/dense/kernel:0") == b.tensor("dense/kernel"))
        #expect(plain.tensor("model_weights/conv/k") == b.tensor("conv/k"))
    }

    @Test("hostile HDF5 bytes: garbage after the signature and truncations of a real file give arrays or typed errors")
    func hostile() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("k2.h5")
        _ = try PythonOracle.json(Self.h5pyWriter, [url.path])
        let good = try Data(contentsOf: url)
        let probe = dir.appendingPathComponent("probe.h5")
        func outcome(_ b: Data) -> BrineError.Code? {
            try? b.write(to: probe)
            do { _ = try HDF5.read(contentsOf: probe); return nil } catch { return error.code }
        }
        #expect(outcome(Data(HDF5.signature + Array(repeating: 0, count: 100))) == .invalidInterop)
        #expect(outcome(Data("plain text".utf8)) == .invalidInterop)
        for n in stride(from: 0, to: good.count, by: max(1, good.count / 60)) { _ = outcome(good.prefix(n)) }
        // Single-byte flips are not run here: libhdf5 1.10.8 itself crashed
        // (SIGSEGV inside the library) on one of 150 random flips of this file;
        // see README "Formats at a glance" (HDF5 row).
        var small = HDF5ReadOptions()
        small.limits.maxAllocationBytes = 1000
        do { _ = try HDF5.read(contentsOf: url, options: small); Issue.record("cap ignored") } catch { #expect(error.code == .limitExceeded) }
    }
}

/// The readable name the Keras 3 test expects for a path (`layers/x/vars/i` → `x/i`).
func HDF5Tests_kerasPath(_ path: String) -> String {
    path.split(separator: "/").filter { $0 != "layers" && $0 != "vars" }.joined(separator: "/")
}
