import Synchronization
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import Brine
import BrineTestSupport
@testable import BrineONNX

/// ONNX initializers checked against the `onnx` PyPI package: models built
/// with `onnx.helper`/`onnx.numpy_helper` (raw_data, typed fields, a
/// subgraph, external data) read exactly as `numpy_helper.to_array` gives
/// them; models Brine writes back pass `onnx.checker` and hold the new values.
@Suite("ONNX (oracle: onnx)", .serialized)
struct ONNXOracleTests {
    /// Builds `model.onnx` in argv[1]; with argv[2] == "external", saves the
    /// initializers to `weights.bin` next to it. Prints every initializer's
    /// name, dtype, shape and bytes (hex) as numpy_helper.to_array gives them.
    static let builder = #"""
    import sys, os, json
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper, TensorProto as TP
    folder, mode = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(3)
    W = rng.standard_normal((4, 3)).astype(np.float32)
    inits = [
        numpy_helper.from_array(W, "W"),
        numpy_helper.from_array(rng.standard_normal((3,)).astype(np.float32), "B"),
        numpy_helper.from_array(rng.standard_normal((2, 2)).astype(np.float16), "h16"),
        numpy_helper.from_array(rng.standard_normal((5,)).astype(np.float64), "f64"),
        numpy_helper.from_array(rng.integers(-2**63, 2**63 - 1, (2, 3), dtype=np.int64), "i64"),
        numpy_helper.from_array(rng.integers(-128, 127, (7,), dtype=np.int8), "i8"),
        numpy_helper.from_array(rng.integers(0, 255, (3, 1), dtype=np.uint8), "u8"),
        numpy_helper.from_array(np.array([True, False, True]), "mask"),
        numpy_helper.from_array(rng.integers(0, 2**32 - 1, (2,), dtype=np.uint32), "u32"),
        numpy_helper.from_array(np.array(3.5, dtype=np.float32), "scalar"),
        numpy_helper.from_array(np.zeros((0, 4), dtype=np.float32), "empty"),
        # Typed fields instead of raw_data.
        helper.make_tensor("tf32", TP.FLOAT, [2, 2], [1.5, -2.0, 0.25, 1e-30]),
        helper.make_tensor("ti32", TP.INT32, [3], [-1, 0, 2**31 - 1]),
        helper.make_tensor("ti16", TP.INT16, [2], [-32768, 32767]),
        helper.make_tensor("tf16", TP.FLOAT16, [3], np.array([0.5, -1.0, 65504.0], dtype=np.float16)),
        helper.make_tensor("tbf16", TP.BFLOAT16, [2], [1.0, -3.0]),
        helper.make_tensor("ti64", TP.INT64, [2], [-5, 2**40]),
        helper.make_tensor("tf64", TP.DOUBLE, [2], [0.1, -1e300]),
        helper.make_tensor("tu64", TP.UINT64, [2], [0, 2**64 - 1]),
    ]
    then_graph = helper.make_graph([helper.make_node("Identity", ["sub_c"], ["y_then"])], "then",
        [], [helper.make_tensor_value_info("y_then", TP.FLOAT, [3])],
        [numpy_helper.from_array(np.array([7, 8, 9], dtype=np.float32), "sub_c")])
    else_graph = helper.make_graph([helper.make_node("Identity", ["B"], ["y_else"])], "else",
        [], [helper.make_tensor_value_info("y_else", TP.FLOAT, [3])])
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["y"]),
        helper.make_node("If", ["cond"], ["z"], then_branch=then_graph, else_branch=else_graph),
    ]
    graph = helper.make_graph(nodes, "tiny",
        [helper.make_tensor_value_info("x", TP.FLOAT, ["batch", 4]), helper.make_tensor_value_info("cond", TP.BOOL, [])],
        [helper.make_tensor_value_info("y", TP.FLOAT, ["batch", 3]), helper.make_tensor_value_info("z", TP.FLOAT, [3])], inits)
    model = helper.make_model(graph, producer_name="brine-test", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"author": "oracle", "note": "ünï"})
    onnx.checker.check_model(model)
    path = os.path.join(folder, "model.onnx")
    if mode == "external":
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    else:
        onnx.save_model(model, path)
    m = onnx.load(path, load_external_data=False)
    out = []
    def walk(g):
        for t in g.initializer:
            a = numpy_helper.to_array(t, base_dir=folder)
            out.append({"name": t.name, "dtype": str(a.dtype), "shape": list(a.shape),
                        "hex": np.ascontiguousarray(a).tobytes().hex(), "external": t.data_location == TP.EXTERNAL})
        for n in g.node:
            for at in n.attribute:
                if at.HasField("g"): walk(at.g)
                for sg in at.graphs: walk(sg)
    walk(m.graph)
    print(json.dumps(out))
    """#

    static let dtypeNames: [String: DType] = [
        "float32": .float32, "float16": .float16, "float64": .float64, "int64": .int64, "int8": .int8, "uint8": .uint8,
        "bool": .bool, "uint32": .uint32, "int32": .int32, "int16": .int16, "uint64": .uint64,
    ]

    @Test("onnx.helper models (raw_data, typed fields, a subgraph; inline or external data) read as numpy_helper.to_array gives them",
          arguments: ["inline", "external"])
    func fromONNX(mode: String) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let expected = try PythonOracle.json(Self.builder, [dir.path, mode]) as! [[String: Any]]
        let url = dir.appendingPathComponent("model.onnx")
        let model = try ONNXModel(contentsOf: url)
        #expect(model.names == expected.map { $0["name"] as! String })
        if mode == "external" { #expect(expected.filter { $0["external"] as! Bool }.count > 10) }
        let bundle = try model.bundle()
        for e in expected {
            let name = e["name"] as! String
            let t = try #require(bundle.tensor(name))
            if name == "tbf16" {
                #expect(t.dtype == .bfloat16)  // numpy_helper gives bfloat16 as float32
                continue
            }
            #expect(t.dtype == Self.dtypeNames[e["dtype"] as! String], "\(name)")
            #expect(t.shape == e["shape"] as! [Int], "\(name)")
            #expect(t.storage.bytes.withUnsafeBytes { hexString($0) } == e["hex"] as! String, "\(name)")
        }
        #expect(bundle.tensor("tbf16").map { Array($0.storage.bytes) } == [0x80, 0x3F, 0x40, 0xC0])
        let meta = bundle.metadata
        #expect(meta["onnx.ir_version"] == "8")
        #expect(meta["onnx.producer_name"] == "brine-test")
        #expect(meta["onnx.opset_import"] == #"[{"domain":"","version":17}]"#)
        #expect(meta["onnx.inputs"] == #"[{"elem_type":"FLOAT","name":"x","shape":["batch",4]},{"elem_type":"BOOL","name":"cond","shape":[]}]"#)
        #expect(meta["author"] == "oracle" && meta["note"] == "ünï")
    }

    @Test("brine convert weights.brine --into model.onnx: initializers replaced by name; onnx.checker passes; values as written",
          arguments: ["inline", "external"])
    func writeBack(mode: String) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        _ = try PythonOracle.json(Self.builder, [dir.path, mode])
        let url = dir.appendingPathComponent("model.onnx")
        let model = try ONNXModel(contentsOf: url)
        // "Fine-tune" W and the subgraph's constant; save as Brine; put them back.
        let w = try model.tensor("W").typed(as: Float.self)
        let w2 = try Tensor<Float>(shape: w.shape, scalars: w.scalars.map { $0 * 2 + 1 })
        let c2 = try Tensor<Float>(shape: [3], scalars: [-1, -2, -3])
        let brine = dir.appendingPathComponent("tuned.brine")
        try TensorBundle(tensors: [("W", AnyTensor(w2)), ("sub_c", AnyTensor(c2))]).write(to: brine)
        let out = dir.appendingPathComponent("out").appendingPathComponent("tuned.onnx")
        try FileManager.default.createDirectory(at: out.deletingLastPathComponent(), withIntermediateDirectories: true)
        try model.writeReplacingInitializers(with: TensorBundle(contentsOf: brine), to: out)
        let script = #"""
        import sys, json
        import numpy as np, onnx
        from onnx import numpy_helper
        onnx.checker.check_model(sys.argv[1])
        m = onnx.load(sys.argv[1])
        out = {}
        def walk(g):
            for t in g.initializer:
                out[t.name] = np.ascontiguousarray(numpy_helper.to_array(t)).tobytes().hex()
            for n in g.node:
                for at in n.attribute:
                    if at.HasField("g"): walk(at.g)
        walk(m.graph)
        print(json.dumps({"inits": out, "nodes": [n.op_type for n in m.graph.node], "props": {p.key: p.value for p in m.metadata_props}}))
        """#
        let report = try PythonOracle.json(script, [out.path]) as! [String: Any]
        let inits = report["inits"] as! [String: String]
        #expect(inits["W"] == w2.storage.bytes.withUnsafeBytes { hexString($0) })
        #expect(inits["sub_c"] == c2.storage.bytes.withUnsafeBytes { hexString($0) })
        let original = try model.bundle()
        for (name, t) in original.tensors where name != "W" && name != "sub_c" && name != "tbf16" {
            #expect(inits[name] == t.storage.bytes.withUnsafeBytes { hexString($0) }, "\(name) kept")
        }
        #expect(report["nodes"] as! [String] == ["MatMul", "Add", "If"])
        #expect((report["props"] as! [String: String])["author"] == "oracle")
    }

    @Test("write-back refuses unknown names, other shapes and other dtypes before writing anything")
    func writeBackRefusals() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        _ = try PythonOracle.json(Self.builder, [dir.path, "inline"])
        let model = try ONNXModel(contentsOf: dir.appendingPathComponent("model.onnx"))
        let out = dir.appendingPathComponent("bad.onnx")
        let cases: [(TensorBundle, BrineError.Code)] = [
            (TensorBundle(tensors: [("nope", AnyTensor(Tensor<Float>([1])))]), .arrayNotFound),
            (TensorBundle(tensors: [("B", AnyTensor(Tensor<Float>([1, 2])))]), .shapeMismatch),
            (TensorBundle(tensors: [("B", AnyTensor(Tensor<Double>([1, 2, 3])))]), .dtypeMismatch),
        ]
        for (bundle, code) in cases {
            do {
                try model.writeReplacingInitializers(with: bundle, to: out)
                Issue.record("accepted \(bundle.names)")
            } catch {
                #expect(error.code == code)
                #expect(error.arrayPath == bundle.names.first)
            }
            #expect(!FileManager.default.fileExists(atPath: out.path))
        }
    }

    @Test("write-back refuses bundle metadata the model would not keep (unless dropMetadata) and matches names by code points")
    func writeBackKeepsOrRefuses() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        _ = try PythonOracle.json(Self.builder, [dir.path, "inline"])
        let model = try ONNXModel(contentsOf: dir.appendingPathComponent("model.onnx"))
        let out = dir.appendingPathComponent("m.onnx")
        let w = try model.tensor("W")
        // The model's own bundle (its metadata unchanged) writes back.
        try model.writeReplacingInitializers(with: model.bundle(), to: out)
        try FileManager.default.removeItem(at: out)
        var noted = TensorBundle(tensors: [("W", w)], metadata: ["note": "kept?"])
        #expect {
            try model.writeReplacingInitializers(with: noted, to: out)
        } throws: { ($0 as? BrineError)?.code == .unsupportedFeature && "\($0)".contains("note") }
        #expect(!FileManager.default.fileExists(atPath: out.path))
        noted.metadata = ["author": "someone else"]  // the model's key, another value
        #expect(throws: BrineError.self) { try model.writeReplacingInitializers(with: noted, to: out) }
        // The model's value in another spelling (canonically equal in Swift) is another value.
        var respelled = try model.bundle()
        let note = respelled.metadata["note"]!
        let respelledNote = [note.decomposedStringWithCanonicalMapping, note.precomposedStringWithCanonicalMapping].first { !$0.utf8.elementsEqual(note.utf8) }!
        #expect(respelledNote == note)  // equal Swift strings, other code points
        respelled.metadata["note"] = respelledNote
        #expect(throws: BrineError.self) { try model.writeReplacingInitializers(with: respelled, to: out) }
        try model.writeReplacingInitializers(with: noted, to: out, dropMetadata: true)
        #expect(try ONNXModel(contentsOf: out).metadata["author"] == "oracle")

        // Initializer "e\u{301}": a tensor named "\u{E9}" (canonically equal in Swift) is another name.
        let script = #"""
        import sys, numpy as np, onnx
        from onnx import helper, numpy_helper, TensorProto
        init = numpy_helper.from_array(np.ones(2, np.float32), "e\u0301")
        g = helper.make_graph([helper.make_node("Identity", ["e\u0301"], ["y"])], "g", [],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], [init])
        onnx.save(helper.make_model(g), sys.argv[1])
        """#
        let named = dir.appendingPathComponent("named.onnx")
        _ = try PythonOracle.run(script, [named.path])
        let m2 = try ONNXModel(contentsOf: named)
        let other = TensorBundle(tensors: [("\u{E9}", AnyTensor(Tensor<Float>([5, 6])))])
        #expect {
            _ = try m2.replacingInitializers(with: other)
        } throws: { ($0 as? BrineError)?.code == .arrayNotFound }
        #expect {
            _ = try m2.tensor("\u{E9}")
        } throws: { ($0 as? BrineError)?.code == .arrayNotFound }
    }

    @Test("external data that escapes the model's folder, or runs past its file, is refused")
    func hostileExternalData() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let outside = makeTemporaryDirectory("outside")
        defer { removeTemporaryDirectory(outside) }
        try Data(repeating: 1, count: 64).write(to: outside.appendingPathComponent("secret.bin"))
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("link.bin").path,
                                                   withDestinationPath: outside.appendingPathComponent("secret.bin").path)
        try Data(repeating: 2, count: 12).write(to: dir.appendingPathComponent("short.bin"))
        let script = #"""
        import sys, os
        import onnx
        from onnx import helper, TensorProto as TP
        folder = sys.argv[1]
        cases = {"dotdot": {"location": "../outside/secret.bin"}, "absolute": {"location": "/etc/passwd"},
                 "symlink": {"location": "link.bin"}, "short": {"location": "short.bin"},
                 "past": {"location": "short.bin", "offset": "8", "length": "16"},
                 "length": {"location": "short.bin", "length": "12"}, "missing": {"location": "nope.bin"},
                 "empty": {"location": ""}, "dir": {"location": "."}}
        for name, kv in cases.items():
            t = onnx.TensorProto(name="w", data_type=TP.FLOAT, dims=[4])
            t.data_location = TP.EXTERNAL
            for k, v in kv.items():
                e = t.external_data.add(); e.key = k; e.value = v
            g = helper.make_graph([helper.make_node("Identity", ["w"], ["y"])], "g", [], [helper.make_tensor_value_info("y", TP.FLOAT, [4])], [t])
            m = helper.make_model(g)
            with open(os.path.join(folder, name + ".onnx"), "wb") as f:
                f.write(m.SerializeToString())
        """#
        try PythonOracle.run(script, [dir.path])
        let expected: [String: BrineError.Code] = [
            "dotdot": .invalidInterop, "absolute": .invalidInterop, "symlink": .invalidInterop, "short": .truncated,
            "past": .truncated, "length": .invalidInterop, "missing": .notFound, "empty": .invalidInterop, "dir": .invalidInterop,
        ]
        for (name, code) in expected {
            let model = try ONNXModel(contentsOf: dir.appendingPathComponent(name + ".onnx"))
            do {
                _ = try model.bundle()
                Issue.record("external data accepted: \(name)")
            } catch {
                #expect(error.code == code, "\(name): \(error)")
                #expect(error.arrayPath == "w")
            }
        }
    }
}

extension ONNXOracleTests {
    @Test("external data swapped for a symlink out of the folder while it is read never yields the outside file's bytes (the opened file is checked, not only the path)")
    func externalDataSwapRace() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let folder = dir.appendingPathComponent("m")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let secret = Data("TOP-SECRET-KEY!!".utf8)
        try secret.write(to: dir.appendingPathComponent("secret.txt"))
        let real = Data([Float(1), 2, 3, 4].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
        try real.write(to: folder.appendingPathComponent("real.bin"))
        try real.write(to: folder.appendingPathComponent("data.bin"))
        try PythonOracle.run(#"""
            import sys, os
            from onnx import helper, TensorProto as TP
            import onnx
            t = onnx.TensorProto(name="w", data_type=TP.FLOAT, dims=[4])
            t.data_location = TP.EXTERNAL
            for k, v in {"location": "data.bin", "offset": "0", "length": "16"}.items():
                e = t.external_data.add(); e.key = k; e.value = v
            g = helper.make_graph([helper.make_node("Identity", ["w"], ["y"])], "g", [], [helper.make_tensor_value_info("y", TP.FLOAT, [4])], [t])
            open(os.path.join(sys.argv[1], "model.onnx"), "wb").write(helper.make_model(g).SerializeToString())
            """#, [folder.path])
        let data = folder.appendingPathComponent("data.bin").path
        let link = folder.appendingPathComponent("tmp_link").path, copy = folder.appendingPathComponent("tmp_real").path
        let stop = Atomic<Bool>(false)
        let swapper = Thread {
            // data.bin is, in turn, a symlink to ../secret.txt and a hard link of real.bin.
            while !stop.load(ordering: .relaxed) {
                _ = symlink("../secret.txt", link)
                _ = rename(link, data)
                _ = Glibc.link(folder.appendingPathComponent("real.bin").path, copy)
                _ = rename(copy, data)
            }
        }
        swapper.start()
        defer { stop.store(true, ordering: .relaxed) }
        let model = try ONNXModel(contentsOf: folder.appendingPathComponent("model.onnx"))
        var loaded = 0, refused = 0
        for _ in 0 ..< 600 {
            do {
                let bundle = try model.bundle()
                let bytes = Data(bundle.tensors[0].tensor.storage.bytes)
                #expect(bytes != secret, "the outside file's bytes were read through the swapped link")
                #expect(bytes == real)
                loaded += 1
            } catch {
                #expect([BrineError.Code.invalidInterop, .notFound].contains(error.code), "\(error)")
                refused += 1
            }
        }
        #expect(loaded + refused == 600)
    }
}

/// Hostile `.onnx` bytes: typed errors, never a crash.
@Suite("ONNX hostile input")
struct ONNXHostileTests {
    @Test("garbage, truncations and byte flips of a real model give a model or a typed error; subgraph depth is capped")
    func hostileBytes() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        _ = try PythonOracle.json(ONNXOracleTests.builder, [dir.path, "inline"])
        let good = try Data(contentsOf: dir.appendingPathComponent("model.onnx"))
        let probe = dir.appendingPathComponent("probe.onnx")
        func outcome(_ bytes: Data, _ options: ONNXReadOptions = .init()) -> BrineError.Code? {
            try? bytes.write(to: probe)
            do {
                _ = try ONNXModel(contentsOf: probe, options: options).bundle()
                return nil
            } catch {
                return error.code
            }
        }
        #expect(outcome(good) == nil)
        #expect(outcome(Data("not a model at all".utf8)) == .invalidInterop)
        #expect(outcome(Data()) == .invalidInterop)  // an empty message has no graph
        for n in stride(from: 1, to: good.count, by: 7) { _ = outcome(good.prefix(n)) }
        var rng = SplitMix64(seed: 9)
        for _ in 0 ..< 300 {
            var b = good
            b[Int(rng.next() % UInt64(b.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            _ = outcome(b)
        }
        var shallow = ONNXReadOptions()
        shallow.maxGraphDepth = 0
        #expect(outcome(good, shallow) == .limitExceeded)
        var tiny = ONNXReadOptions()
        tiny.maxModelBytes = 100
        #expect(outcome(good, tiny) == .limitExceeded)
        // 200 nested graphs (If.then_branch inside If.then_branch …) pass no protobuf decoder of depth 64.
        var nested = Onnx_GraphProto()
        for _ in 0 ..< 200 {
            var attr = Onnx_AttributeProto()
            attr.name = "then_branch"
            attr.g = nested
            var node = Onnx_NodeProto()
            node.attribute = [attr]
            var g = Onnx_GraphProto()
            g.node = [node]
            nested = g
        }
        var m = Onnx_ModelProto()
        m.graph = nested
        let deep: [UInt8] = try m.serializedBytes()
        #expect(outcome(Data(deep)) == .limitExceeded)
    }

    @Test("a metadata_props key that Brine also derives (onnx.ir_version) is refused, not overwritten")
    func metadataPropsCollisions() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let script = #"""
        import sys, onnx, numpy as np
        from onnx import helper, numpy_helper, TensorProto as TP
        w = numpy_helper.from_array(np.ones((2,), np.float32), "W")
        x = helper.make_tensor_value_info("x", TP.FLOAT, [2])
        y = helper.make_tensor_value_info("y", TP.FLOAT, [2])
        g = helper.make_graph([helper.make_node("Add", ["x", "W"], ["y"])], "g", [x], [y], [w])
        for name, props in [("derived", {"onnx.ir_version": "user value", "author": "me"}), ("plain", {"author": "me"})]:
            m = helper.make_model(g)
            helper.set_model_props(m, props)
            onnx.save(m, sys.argv[1] + "/" + name + ".onnx")
        """#
        _ = try PythonOracle.run(script, [dir.path])
        #expect {
            _ = try ONNXModel(contentsOf: dir.appendingPathComponent("derived.onnx")).bundle()
        } throws: { ($0 as? BrineError)?.code == .unsupportedFeature }
        let plain = try ONNXModel(contentsOf: dir.appendingPathComponent("plain.onnx")).bundle()
        #expect(plain.metadata["author"] == "me")
    }
}
