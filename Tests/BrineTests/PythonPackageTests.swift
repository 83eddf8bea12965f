import Foundation
import Testing
@testable import Brine

/// The Python package (python/: `brine`, `brine_reader`, `brine_writer`)
/// against the Swift library: files written by each load bit-exactly in the
/// other, over every dtype and codec none/lz4/zstd with and without shuffle;
/// inline arrays of Codable-written files come back as ndarrays; the package
/// installs with pip (issue 10, "Python package").
@Suite("Python package")
struct PythonPackageTests {
    static let configs: [(codec: String, shuffle: Bool)] = [("none", false), ("lz4", false), ("lz4", true), ("zstd", false), ("zstd", true)]

    /// Swift's codec for a config.
    static func codec(_ name: String) -> Codec {
        switch name {
        case "lz4": return .lz4
        case "zstd": return .zstd(level: 3)
        default: return .none
        }
    }

    @Test("brine.save_file writes files the Swift reader loads bit-exactly (every NumPy dtype and ml_dtypes' bfloat16, every codec, with and without shuffle)")
    func pythonWritesSwiftReads() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        // Python writes each config, and the same arrays with NumPy's own np.savez (the oracle).
        let out = try PythonOracle.run("""
            import sys, os, numpy as np, brine
            d = sys.argv[1]
            rng = np.random.default_rng(7)
            t = {}
            for i, dt in enumerate(["?", "i1", "<i2", "<i4", "<i8", "u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8"]):
                dt = np.dtype(dt)
                if dt.kind == "b":
                    a = rng.integers(0, 2, (6, 9, 5)).astype(dt)
                elif dt.kind in "iu":
                    info = np.iinfo(dt)
                    a = rng.integers(info.min, info.max, (6, 9, 5), dtype=dt, endpoint=True)
                else:
                    a = rng.standard_normal((6, 9, 5)).astype(dt)
                t["layer.%d.%s" % (i, dt.name)] = a
            t["scalar"] = np.float32(-0.0)
            t["empty"] = np.zeros((3, 0), np.uint16)
            t["ramp"] = (np.arange(3000) % 11).astype(np.float64)
            np.savez(os.path.join(d, "oracle.npz"), **t)
            # bfloat16 (ml_dtypes): the oracle holds its bit patterns as uint16.
            import ml_dtypes
            bf = rng.standard_normal((4, 33)).astype(ml_dtypes.bfloat16)
            np.save(os.path.join(d, "bf16-bits.npy"), bf.view(np.uint16))
            t["bf16"] = bf
            meta = {"epochs": 12, "lr": 0.001, "name": "mlp", "neg": -3, "tags": ["a", "b"], "nested": {"ok": True}}
            for codec, shuffle in [("none", False), ("lz4", False), ("lz4", True), ("zstd", False), ("zstd", True)]:
                brine.save_file(t, os.path.join(d, "%s-%d.brine" % (codec, shuffle)), metadata=meta,
                                codec=codec, shuffle=shuffle, chunk_bytes=256)
            print(len(t))
            """, [dir.path])
        #expect(out == "16\n")
        let oracle = try TensorBundle(contentsOf: dir.appendingPathComponent("oracle.npz"))
        #expect(oracle.tensors.count == 15)
        let bfBits = try Npy.read(contentsOf: dir.appendingPathComponent("bf16-bits.npy"))
        for (codecName, shuffle) in Self.configs {
            let url = dir.appendingPathComponent("\(codecName)-\(shuffle ? 1 : 0).brine")
            for mode in [LoadMode.copy, .mmap] {
                let f = try BrineFile(contentsOf: url, mode: mode)
                #expect(f.formatVersion.major == 1 && f.formatVersion.minor == 1)
                #expect(f.arrayPaths == oracle.names + ["bf16"])
                let bf = try f.anyArray("bf16")
                #expect(bf.dtype == .bfloat16 && bf.shape == [4, 33] && bf.storage.bytes.elementsEqual(bfBits.storage.bytes))
                for (info, (name, want)) in zip(f.arrays, oracle.tensors) {
                    #expect(info.codec == Self.codec(codecName) && info.filter == (shuffle ? .shuffle : .none), "\(name)")
                    #expect(try f.anyArray(name) == want, "\(name) in \(url.lastPathComponent) \(mode)")  // dtype, shape, bytes
                }
                #expect(f.verify().isEmpty)
                #expect(f.metadata["epochs"] == .int(12) && f.metadata["lr"] == .float64(0.001) && f.metadata["name"] == "mlp")
                #expect(f.metadata["neg"] == .int(-3) && f.metadata["tags"] == ["a", "b"] && f.metadata["nested"] == ["ok": true])
                #expect(f.metadata["brine.format"] == "1.1")
                if codecName != "none" {
                    #expect(f.arrays.allSatisfy { $0.storedBytes <= $0.storedRawBytes })
                    #expect(f.info("ramp")!.storedBytes < f.info("ramp")!.storedRawBytes / 4)
                }
            }
            // The CLI agrees.
            #expect(try runBrine(["verify", url.path]).status == 0)
        }
    }

    @Test("Swift-written files load in Python bit-exactly (every dtype incl. bfloat16 bits, every codec), writable in copy mode")
    func swiftWritesPythonReads() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        var tensors: [(name: String, tensor: AnyTensor)] = []
        for (i, dtype) in DType.allCases.enumerated() {
            tensors.append(("t.\(dtype.name)", randomArray(dtype: dtype, shape: [7, 11, 3], seed: UInt64(i + 40))))
        }
        tensors.append(("scalar", randomArray(dtype: .float64, shape: [], seed: 3)))
        tensors.append(("empty", randomArray(dtype: .int32, shape: [0, 5], seed: 4)))
        // The oracle: the same arrays as .npz (bfloat16 as its uint16 bit patterns).
        let npzTensors = try tensors.map { (name, t) -> (name: String, tensor: AnyTensor) in
            t.dtype == .bfloat16 ? (name, try AnyTensor(dtype: .uint16, shape: t.shape, storage: t.storage)) : (name, t)
        }
        try Npz.write(npzTensors, to: dir.appendingPathComponent("oracle.npz"))
        var paths: [String] = []
        for (codecName, shuffle) in Self.configs {
            var o = WriteOptions(codec: Self.codec(codecName), filter: shuffle ? .shuffle : .none)
            o.chunkBytes = 200
            let url = dir.appendingPathComponent("\(codecName)-\(shuffle).brine")
            let w = try BrineWriter(url: url, options: o)
            var root: [(key: String, value: Value)] = []
            for (name, t) in tensors { root.append((name, .arrayRef(try w.append(t, arrayPath: name)))) }
            try w.finish(root: .map(root), metadata: ["source": "swift"])
            paths.append(url.path)
        }
        let out = try PythonOracle.run("""
            import sys, numpy as np, brine
            oracle = np.load(sys.argv[1])
            for path in sys.argv[2:]:
                for mmap in (False, True):
                    got = brine.load_file(path, mmap=mmap)
                    assert list(got) == list(oracle.files), (list(got), oracle.files)
                    for k in oracle.files:
                        w, g = oracle[k], got[k]
                        assert g.dtype == w.dtype and g.shape == w.shape and g.tobytes() == w.tobytes(), (path, k, g.dtype, w.dtype)
                        if not mmap:
                            assert g.flags.writeable, k
                            g[...] = g  # writing through it works
                wide = brine.load_file(path, bfloat16="float32")["t.bfloat16"]
                assert wide.dtype == np.float32
                assert np.array_equal(wide.view(np.uint32) >> 16, oracle["t.bfloat16"].astype(np.uint32))
                with brine.BrineFile(path) as f:
                    assert f.verify() == [] and f.metadata["source"] == "swift"
            print("ok", len(sys.argv) - 2)
            """, [dir.appendingPathComponent("oracle.npz").path] + paths)
        #expect(out == "ok 5\n")
    }

    struct Model: Codable {
        var name = "mlp"
        var bias: [Float] = (0 ..< 100).map { Float($0) / 4 }             // inline list of float32
        var scale: [Double] = [0.5, 0.25]                                 // inline list of float64
        var steps: [UInt32] = [1, 2, 3]                                   // inline list of uint
        var ids: [Int16] = [-1, 5, 9]                                     // inline list of int
        var mask: [Bool] = [true, false, true]
        var small: Tensor<Float> = try! Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        var any = AnyTensor(try! Tensor<Int8>(shape: [2, 2], scalars: [1, -2, 3, -4]))
        var blob = Data([9, 8, 7])
        var weight: Tensor<Float> = try! Tensor(shape: [40, 40], scalars: (0 ..< 1600).map { Float($0) })  // out of line
        var layers: [Layer] = [Layer(w: [1, 2]), Layer(w: [3, 4])]
        struct Layer: Codable { var w: [Float] }
    }

    @Test("inline arrays of a Codable-written file come back as ndarrays from brine.load and brine.load_file")
    func inlineArrays() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("model.brine")
        try Brine.save(Model(), to: url)
        #expect(try BrineFile(contentsOf: url).arrayPaths == ["weight"])  // everything else is inline
        let out = try PythonOracle.run("""
            import sys, numpy as np, brine
            m = brine.load(sys.argv[1])
            def check(a, dtype, values, shape=None):
                assert isinstance(a, np.ndarray), type(a)
                assert a.dtype == np.dtype(dtype), (a.dtype, dtype)
                assert a.tolist() == values, a.tolist()
                if shape is not None:
                    assert a.shape == shape, a.shape
            assert m["name"] == "mlp"
            check(m["bias"][:3], "float32", [0.0, 0.25, 0.5])
            assert m["bias"].shape == (100,)
            check(m["scale"], "float64", [0.5, 0.25])
            check(m["steps"], "uint64", [1, 2, 3])
            check(m["ids"], "int64", [-1, 5, 9])
            check(m["mask"], "bool", [True, False, True])
            check(m["small"], "float32", [[1, 2, 3], [4, 5, 6]], (2, 3))
            check(m["any"], "int8", [[1, -2], [3, -4]], (2, 2))
            check(m["blob"], "uint8", [9, 8, 7])
            assert m["weight"].shape == (40, 40) and m["weight"].dtype == np.float32 and m["weight"][1, 0] == 40
            check(m["layers"][1]["w"], "float32", [3.0, 4.0])
            flat = brine.load_file(sys.argv[1])
            assert list(flat)[0] == "weight", list(flat)
            for k in ["bias", "scale", "small", "any", "blob", "layers.0.w", "layers.1.w"]:
                assert k in flat, (k, list(flat))
            assert flat["layers.1.w"].tolist() == [3.0, 4.0]
            assert "name" not in flat
            print(len(flat))
            """, [url.path])
        #expect(out == "11\n")
    }

    @Test("python/ installs with pip (pyproject.toml) and its self-test passes against the installed copy")
    func pipInstall() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        // From a copy of python/ (setuptools writes build/ and *.egg-info next to the sources),
        // without network: the oracle venv already has numpy, xxhash, lz4, zstandard and setuptools.
        let src = dir.appendingPathComponent("src"), target = dir.appendingPathComponent("site")
        try FileManager.default.copyItem(at: repositoryRoot.appendingPathComponent("python"), to: src)
        try PythonOracle.run("""
            import subprocess, sys
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                            "--no-index", "--target", sys.argv[2], sys.argv[1]], check=True)
            """, [src.path, target.path])
        for name in ["brine/__init__.py", "brine_reader.py", "brine_writer.py"] {
            #expect(FileManager.default.fileExists(atPath: target.appendingPathComponent(name).path), "\(name)")
        }
        let out = try PythonOracle.run("""
            import sys, runpy
            sys.path.insert(0, sys.argv[1])
            import brine, brine_reader, brine_writer
            for m in (brine, brine_reader, brine_writer):
                assert m.__file__.startswith(sys.argv[1]), m.__file__
            runpy.run_path(sys.argv[2], run_name="__main__")
            """, [target.path, repositoryRoot.appendingPathComponent("python/tests/test_package.py").path])
        #expect(out.contains("package self-test passed: \(target.path)"), "\(out)")
    }

    /// The ```python blocks of the README's "## Python" section, in order.
    static func readmePythonBlocks() throws -> [String] {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        guard let start = text.range(of: "\n## Python\n") else { return [] }
        let rest = text[start.upperBound...]
        let section = rest.range(of: "\n## ").map { rest[..<$0.lowerBound] } ?? rest
        var blocks: [String] = []
        var current: [Substring]?
        for line in section.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```python" {
                current = []
            } else if current != nil, line == "```" {
                blocks.append(current!.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    @Test("the README's Python sample runs as written")
    func readmeSample() throws {
        let blocks = try Self.readmePythonBlocks()
        #expect(!blocks.isEmpty)
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let out = try PythonOracle.run("""
            import os, sys
            os.chdir(sys.argv[1])
            exec(compile(open(sys.argv[2]).read(), "README.md (Python)", "exec"), {})
            import brine, numpy as np
            assert brine.load_file("model.brine")["step"] == 7
            print("ran")
            """, [dir.path, try writeText(blocks.joined(separator: "\n"), dir)])
        #expect(out.hasSuffix("ran\n"), "\(out)")
        // The file the sample wrote loads in Swift.
        let f = try BrineFile(contentsOf: dir.appendingPathComponent("model.brine"))
        #expect(f.arrayPaths == ["embed.weight", "step"] && f.metadata["epochs"] == .int(3))
        #expect(try f.array("step", as: Int64.self).scalars == [7])
    }

    func writeText(_ text: String, _ dir: URL) throws -> String {
        let u = dir.appendingPathComponent("readme-sample.py")
        try text.write(to: u, atomically: true, encoding: .utf8)
        return u.path
    }
}
