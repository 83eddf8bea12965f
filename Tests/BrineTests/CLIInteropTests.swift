import Foundation
import Testing
@testable import Brine
import BrineHDF5

/// `brine inspect` and `brine convert` on GGUF, ONNX and HDF5 (files written
/// by gguf-py, onnx and h5py through the oracle scripts of their suites).
@Suite("brine CLI: GGUF, ONNX, HDF5", .serialized)
struct CLIInteropTests {
    @Test("GGUF → Brine → GGUF through the CLI is byte-identical; inspect lists ggml types; a quantized tensor into .npz is refused")
    func gguf() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let src = dir.appendingPathComponent("py.gguf")
        try PythonOracle.run(GGUFOracleTests.writer, [src.path, "32"])
        let brine = dir.appendingPathComponent("m.brine"), back = dir.appendingPathComponent("back.gguf")
        #expect(try runBrine(["convert", src.path, brine.path, "--codec", "zstd"]).status == 0)
        #expect(try runBrine(["convert", brine.path, back.path]).status == 0)
        #expect(try Data(contentsOf: back) == Data(contentsOf: src))
        let inspect = try runBrine(["inspect", src.path])
        #expect(inspect.status == 0 && inspect.out.contains("GGUF 3") && inspect.out.contains("Q8_0") && inspect.out.contains("t.u64: UINT64 18446744073709551615"))
        // verify reads a GGUF file completely; a truncated one fails.
        let verified = try runBrine(["verify", src.path])
        #expect(verified.status == 0 && verified.out.contains("gguf structure valid"), "\(verified)")
        let cut = dir.appendingPathComponent("cut.gguf")
        let whole = try Data(contentsOf: src)
        try whole.prefix(whole.count / 2).write(to: cut)  // past the padding: into tensor data
        #expect(try runBrine(["verify", cut.path]).status == 1)
        // .npz holds no metadata (refused unless dropped by name), and no ggml blocks at all.
        let meta = try runBrine(["convert", src.path, dir.appendingPathComponent("q.npz").path])
        #expect(meta.status == 64 && meta.err.contains("--drop-metadata"), "\(meta.err)")
        let npz = try runBrine(["convert", src.path, dir.appendingPathComponent("q.npz").path, "--drop-metadata"])
        #expect(npz.status == 1 && npz.err.contains("unsupportedDType") && npz.err.contains("quantized"))
        let h5 = try runBrine(["convert", src.path, dir.appendingPathComponent("q.h5").path])
        #expect(h5.status == 1 && h5.err.contains("quantized"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("q.h5").path))
    }

    @Test("ONNX: convert to Brine, back --into the model; inspect lists initializers; --into is required")
    func onnx() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        _ = try PythonOracle.json(ONNXOracleTests.builder, [dir.path, "external"])
        let model = dir.appendingPathComponent("model.onnx")
        let brine = dir.appendingPathComponent("w.brine"), out = dir.appendingPathComponent("out.onnx")
        #expect(try runBrine(["convert", model.path, brine.path]).status == 0)
        #expect(try runBrine(["convert", brine.path, out.path]).status == 64)
        #expect(try runBrine(["convert", brine.path, "--into", model.path, out.path]).status == 0)
        let script = "import sys, onnx; onnx.checker.check_model(sys.argv[1]); print(len(onnx.load(sys.argv[1]).graph.initializer))"
        #expect(try PythonOracle.run(script, [out.path]).trimmingCharacters(in: .whitespacesAndNewlines) == "19")
        let inspect = try runBrine(["inspect", out.path, "--json"])
        #expect(inspect.status == 0 && inspect.out.contains("\"name\": \"W\"") && inspect.out.contains("onnx.opset_import"))
        // Metadata the --into model does not have would be lost: refused unless --drop-metadata.
        let b = try TensorBundle(contentsOf: brine)
        var extra = b.metadata
        extra["note"] = "trained on 2026-12-02"
        let noted = dir.appendingPathComponent("noted.safetensors"), out2 = dir.appendingPathComponent("out2.onnx")
        try Safetensors.write(b.tensors, metadata: extra, to: noted)
        let refused = try runBrine(["convert", noted.path, "--into", model.path, out2.path])
        #expect(refused.status != 0 && refused.err.contains("'note'") && refused.err.contains("--drop-metadata"), "\(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: out2.path))
        #expect(try runBrine(["convert", noted.path, "--into", model.path, out2.path, "--drop-metadata"]).status == 0)
    }

    @Test("HDF5: inspect and convert an h5py file to Brine and back to .h5")
    func hdf5() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let src = dir.appendingPathComponent("k2.h5")
        _ = try PythonOracle.json(HDF5OracleTests.h5pyWriter, [src.path])
        let inspect = try runBrine(["inspect", src.path])
        #expect(inspect.status == 0 && inspect.out.contains("model_weights/dense/dense/kernel:0") && inspect.out.contains("@keras_version: 2.15.0"))
        let brine = dir.appendingPathComponent("m.brine"), back = dir.appendingPathComponent("back.h5")
        #expect(try runBrine(["convert", src.path, brine.path]).status == 0)
        #expect(try runBrine(["convert", brine.path, back.path]).status == 0)
        let a = try TensorBundle(contentsOf: brine)
        let check = try runBrine(["inspect", back.path, "--json"])
        #expect(check.status == 0)
        for name in a.names { #expect(check.out.contains("\"name\": \(Value.quoted(name))"), "\(name)") }
    }

    @Test("HDF5: safetensors metadata (no '@' keys) is refused for .h5 output unless --drop-metadata; nothing is written")
    func hdf5RefusesUnkeptMetadata() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let src = dir.appendingPathComponent("m.safetensors"), out = dir.appendingPathComponent("m.h5")
        try Safetensors.write([("w", randomArray(dtype: .float32, shape: [4], seed: 3))], metadata: ["format": "pt"], to: src)
        let refused = try runBrine(["convert", src.path, out.path])
        #expect(refused.status != 0 && refused.err.contains("'format'") && refused.err.contains("--drop-metadata"), "\(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
        #expect(try runBrine(["convert", src.path, out.path, "--drop-metadata"]).status == 0)
        #expect(try HDF5.read(contentsOf: out).tensor("w") == randomArray(dtype: .float32, shape: [4], seed: 3))
    }

    @Test("HDF5: an attribute with no exact text (h5py complex) fails convert (exit 1, nothing written) unless --drop-metadata; inspect lists the datasets")
    func hdf5UnconvertibleAttribute() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let src = dir.appendingPathComponent("c.h5"), out = dir.appendingPathComponent("c.safetensors")
        _ = try PythonOracle.run(#"""
        import sys, h5py, numpy as np
        with h5py.File(sys.argv[1], "w") as f:
            d = f.create_dataset("w", data=np.arange(3, dtype=np.float32))
            d.attrs["z"] = np.complex128(1 + 2j)
        """#, [src.path])
        let refused = try runBrine(["convert", src.path, out.path])
        #expect(refused.status == 1 && refused.err.contains("compound") && refused.err.contains("--drop-metadata"), "\(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
        #expect(try runBrine(["convert", src.path, out.path, "--drop-metadata"]).status == 0)
        let written = try SafetensorsFile(contentsOf: out, mode: .copy)
        #expect(written.metadata["w@z"] == nil)
        #expect(try runBrine(["inspect", src.path]).out.contains("w"))
    }

    struct Tuned: Codable {
        var coef: Tensor<Float>
        var learningRate: Double
        var classes: [String]
    }

    @Test("GGUF output refuses a model's object tree and untyped 'gguf.*' keys unless --drop-metadata; what GGUF holds is kept; nothing is written when refused")
    func ggufRefusesWhatItCannotHold() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let coef = try Tensor<Float>(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])
        // A model with hyper-parameters: GGUF has no place for its tree.
        let model = dir.appendingPathComponent("p.brine"), out = dir.appendingPathComponent("p.gguf")
        try Brine.save(Tuned(coef: coef, learningRate: 0.1, classes: ["a", "b"]), to: model, options: .init(inlineThreshold: 0))
        let refused = try runBrine(["convert", model.path, out.path])
        #expect(refused.status == 64 && refused.err.contains("object tree") && refused.err.contains("--drop-metadata"), "\(refused.status): \(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
        let dropped = try runBrine(["convert", model.path, out.path, "--drop-metadata"])
        #expect(dropped.status == 0, "\(dropped.err)")
        #expect(try GGUFFile(contentsOf: out).bundle().tensor("coef") == AnyTensor(coef))
        // The library refuses it too, before anything is written.
        let lib = dir.appendingPathComponent("lib.gguf")
        #expect(throws: BrineError.self) { try TensorBundle(contentsOf: model).write(to: lib) }
        #expect(!FileManager.default.fileExists(atPath: lib.path))
        #expect(GGUF.contentGGUFCannotHold(try TensorBundle(contentsOf: model)).objectTree)

        // A joblib file's tree (a dict with a float and a list of strings) too.
        let joblib = dir.appendingPathComponent("p.joblib"), out4 = dir.appendingPathComponent("pj.gguf")
        _ = try PythonOracle.run("import sys, joblib, numpy as np; joblib.dump({'learning_rate': 0.1, 'classes': ['a', 'b'], 'coef': np.arange(6, dtype=np.float32).reshape(3, 2)}, sys.argv[1])", [joblib.path])
        let pickled = try runBrine(["convert", joblib.path, out4.path])
        #expect(pickled.status == 64 && pickled.err.contains("object tree"), "\(pickled.status): \(pickled.err)")
        #expect(!FileManager.default.fileExists(atPath: out4.path))

        // Metadata under 'gguf.' (the layout's own prefix) is refused by name; other keys are kept.
        let st = dir.appendingPathComponent("m.safetensors"), out2 = dir.appendingPathComponent("m.gguf")
        try Safetensors.write([("w", AnyTensor(coef))], metadata: ["gguf.note": "kept?", "plain": "p"], to: st)
        let keyRefused = try runBrine(["convert", st.path, out2.path])
        #expect(keyRefused.status == 64 && keyRefused.err.contains("gguf.note") && keyRefused.err.contains("--drop-metadata"), "\(keyRefused.status): \(keyRefused.err)")
        #expect(!FileManager.default.fileExists(atPath: out2.path))
        let keyDropped = try runBrine(["convert", st.path, out2.path, "--drop-metadata"])
        #expect(keyDropped.status == 0, "\(keyDropped.err)")
        let back = try GGUFFile(contentsOf: out2).bundle()
        #expect(back.metadata["plain"] == "p" && back.metadata["gguf.note"] == nil)
        var options = TensorBundleWriteOptions()
        options.dropMetadata = false
        #expect(throws: BrineError.self) { try TensorBundle(contentsOf: st).write(to: lib, options: options) }

        // Weights (a flat map of arrays) and plain metadata need no flag.
        let flat = dir.appendingPathComponent("flat.safetensors"), out3 = dir.appendingPathComponent("flat.gguf")
        try Safetensors.write([("w", AnyTensor(coef))], metadata: ["plain": "p"], to: flat)
        let ok = try runBrine(["convert", flat.path, out3.path])
        #expect(ok.status == 0, "\(ok.err)")
    }
}
