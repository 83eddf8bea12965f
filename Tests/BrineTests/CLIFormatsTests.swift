import Foundation
import Testing
@testable import Brine

/// `brine inspect`/`verify` on every format `convert` reads, `verify` on
/// several files with `--json`, `convert --array`, `inspect --tree` and the
/// shared writing options (issue 10, "CLI"). Runs the built `brine`.
@Suite("brine command-line tool: formats, verify, --array, --tree, options")
struct CLIFormatsTests {
    /// A small model in every format, written by Brine's own writers.
    struct Files {
        let dir: URL
        let tensors: [(name: String, tensor: AnyTensor)]
        var brine: URL { dir.appendingPathComponent("m.brine") }
        var safetensors: URL { dir.appendingPathComponent("m.safetensors") }
        var npz: URL { dir.appendingPathComponent("m.npz") }
        var npy: URL { dir.appendingPathComponent("w.npy") }

        init() throws {
            dir = makeTemporaryDirectory("cli-formats")
            tensors = [
                ("encoder.layer.0.weight", randomArray(dtype: .float32, shape: [16, 8], seed: 1)),
                ("encoder.layer.0.bias", randomArray(dtype: .float32, shape: [8], seed: 2)),
                ("ids", randomArray(dtype: .int64, shape: [3, 5], seed: 3)),
            ]
            let bundle = TensorBundle(tensors: tensors, metadata: ["source": "cli-tests"])
            var o = TensorBundleWriteOptions()
            o.brine = WriteOptions(codec: .lz4, filter: .shuffle)
            o.brine.chunkBytes = 128
            try bundle.write(to: brine, format: .brine, options: o)
            try bundle.write(to: safetensors, format: .safetensors)
            var numpy = TensorBundleWriteOptions()
            numpy.dropMetadata = true
            try bundle.write(to: npz, format: .npz, options: numpy)
            try TensorBundle(tensors: [tensors[0]]).write(to: npy, format: .npy)
        }
    }

    @Test("inspect and verify accept Brine, safetensors, .npy and .npz")
    func everyFormat() throws {
        let f = try Files()
        defer { removeTemporaryDirectory(f.dir) }
        for (url, name) in [(f.brine, "brine"), (f.safetensors, "safetensors"), (f.npz, "npz"), (f.npy, "npy")] {
            let inspect = try runBrine(["inspect", url.path])
            #expect(inspect.status == 0, "\(name): \(inspect.err)")
            if name == "npy" {
                #expect(inspect.out.contains("[16, 8]") && inspect.out.contains("float32"), "\(inspect.out)")
            } else {
                for (n, t) in f.tensors {
                    #expect(inspect.out.contains(n) && inspect.out.contains(t.dtype.name), "\(name): \(inspect.out)")
                }
            }
            let json = try runBrine(["inspect", "--json", url.path])
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
            #expect(parsed["container"] as? String == name)
            #expect((parsed["arrays"] as? [[String: Any]])?.count == (name == "npy" ? 1 : 3))
            let verify = try runBrine(["verify", url.path])
            #expect(verify.status == 0 && verify.out.hasPrefix("ok: "), "\(name): \(verify.out) \(verify.err)")
        }
        #expect(try runBrine(["inspect", f.safetensors.path]).out.contains("source: \"cli-tests\""))
        #expect(try runBrine(["verify", f.npz.path]).out.contains("CRC-32"))
    }

    @Test("inspect and verify accept MiniLM's model.safetensors",
          .enabled(if: FileManager.default.fileExists(atPath: miniLMPath.path)))
    func miniLM() throws {
        let inspect = try runBrine(["inspect", miniLMPath.path])
        #expect(inspect.status == 0, "\(inspect.err)")
        #expect(inspect.out.contains("arrays:   104") && inspect.out.contains("embeddings.word_embeddings.weight"))
        let verify = try runBrine(["verify", "--json", miniLMPath.path])
        #expect(verify.status == 0, "\(verify.err)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(verify.out.utf8)) as? [[String: Any]])
        #expect(parsed.count == 1 && parsed[0]["ok"] as? Bool == true && parsed[0]["arrays"] as? Int == 104)
        #expect(parsed[0]["format"] as? String == "safetensors" && parsed[0]["checks"] as? String == "structure")
    }

    @Test("verify takes several files; --json is one array of per-file objects; the exit status is the overall result")
    func severalFiles() throws {
        let f = try Files()
        defer { removeTemporaryDirectory(f.dir) }
        let all = [f.brine.path, f.safetensors.path, f.npz.path, f.npy.path]
        let ok = try runBrine(["verify", "--json"] + all)
        #expect(ok.status == 0, "\(ok.err)")
        let results = try #require(try JSONSerialization.jsonObject(with: Data(ok.out.utf8)) as? [[String: Any]])
        #expect(results.map { $0["file"] as? String } == all)
        #expect(results.map { $0["format"] as? String } == ["brine", "safetensors", "npz", "npy"])
        #expect(results.allSatisfy { $0["ok"] as? Bool == true && $0["status"] as? String == "ok" })
        #expect(results[0]["checks"] as? String == "xxh3-64" && (results[0]["chunks"] as? Int ?? 0) > 3)

        // A damaged Brine chunk and a truncated safetensors file: exit 1, each named.
        let damaged = f.dir.appendingPathComponent("damaged.brine")
        var bytes = try Data(contentsOf: f.brine)
        let info = try #require(try BrineFile(contentsOf: f.brine).info("encoder.layer.0.weight"))
        #expect(info.chunkCount > 2)
        bytes[info.chunkOffsets[1]] ^= 0x10
        try bytes.write(to: damaged)
        let truncated = f.dir.appendingPathComponent("truncated.safetensors")
        let st = try Data(contentsOf: f.safetensors)
        try st.prefix(st.count - 10).write(to: truncated)
        let missing = f.dir.appendingPathComponent("missing.brine").path

        let bad = try runBrine(["verify", "--json", f.brine.path, damaged.path, truncated.path, missing])
        #expect(bad.status == 1)
        let r = try #require(try JSONSerialization.jsonObject(with: Data(bad.out.utf8)) as? [[String: Any]])
        #expect(r.map { $0["status"] as? String } == ["ok", "damaged", "damaged", "unreadable"])
        let e = try #require((r[1]["errors"] as? [[String: Any]])?.first)
        #expect(e["code"] as? String == "checksumMismatch" && e["array"] as? String == "encoder.layer.0.weight" && e["chunk"] as? Int == 1)
        #expect((r[2]["errors"] as? [[String: Any]])?.first?["code"] as? String != nil)
        #expect((r[3]["errors"] as? [[String: Any]])?.first?["code"] as? String == "notFound")
        // Text mode: failures on stderr with where they are.
        let text = try runBrine(["verify", f.npz.path, damaged.path])
        #expect(text.status == 1 && text.out.hasPrefix("ok: ") && text.err.contains("array 'encoder.layer.0.weight'") && text.err.contains("chunk 1"))
        // Only unreadable files: exit 2.
        #expect(try runBrine(["verify", f.brine.path, missing]).status == 2)
        // Quiet: nothing on stdout.
        #expect(try runBrine(["verify", "-q", f.brine.path, f.npz.path]).out.isEmpty)
    }

    @Test("convert --array picks arrays; several arrays into .npy without it is a usage error naming --array")
    func convertArray() throws {
        let f = try Files()
        defer { removeTemporaryDirectory(f.dir) }
        let out = f.dir.appendingPathComponent("one.npy")
        for input in [f.brine, f.safetensors, f.npz] {
            let refused = try runBrine(["convert", input.path, out.path])
            #expect(refused.status == 64)
            #expect(refused.err.contains("--array") && refused.err.contains("'encoder.layer.0.bias'"), "\(refused.err)")
            #expect(!FileManager.default.fileExists(atPath: out.path))
            let picked = try runBrine(["convert", input.path, out.path, "--array", "encoder.layer.0.bias", "--drop-metadata"])
            #expect(picked.status == 0, "\(picked.err)")
            #expect(try TensorBundle(contentsOf: out).tensors[0].tensor == f.tensors[1].tensor)
            try FileManager.default.removeItem(at: out)
        }
        let unknown = try runBrine(["convert", f.brine.path, out.path, "--array", "nope"])
        #expect(unknown.status == 64 && unknown.err.contains("'nope'") && unknown.err.contains("'ids'"))
        // Several --array into a multi-array format, in the order given.
        let two = f.dir.appendingPathComponent("two.safetensors")
        #expect(try runBrine(["convert", f.brine.path, two.path, "--array", "ids", "--array", "encoder.layer.0.weight"]).status == 0)
        let b = try TensorBundle(contentsOf: two)
        #expect(b.names == ["ids", "encoder.layer.0.weight"] && b.tensors[0].tensor == f.tensors[2].tensor)
        #expect(b.metadata["source"] == "cli-tests")
    }

    struct Picked: Codable {
        var coef: Tensor<Float>
        var intercept: Tensor<Float>
        var learningRate: Double
        var classes: [String]
    }

    @Test("convert --array from a model with an object tree is refused unless --drop-metadata (the selection cannot keep the tree); all arrays in order keep it")
    func convertArrayKeepsOrRefusesTree() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let coef = try Tensor<Float>(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])
        let model = dir.appendingPathComponent("p.brine")
        try Brine.save(Picked(coef: coef, intercept: try Tensor(shape: [2], scalars: [7, 8]), learningRate: 0.1, classes: ["a", "b"]), to: model, options: .init(inlineThreshold: 0))
        for name in ["sel.brine", "sel.safetensors"] {
            let out = dir.appendingPathComponent(name)
            let refused = try runBrine(["convert", model.path, out.path, "--array", "coef"])
            #expect(refused.status == 64 && refused.err.contains("object tree") && refused.err.contains("--drop-metadata"), "\(name): \(refused.status) \(refused.err)")
            #expect(!FileManager.default.fileExists(atPath: out.path))
            let dropped = try runBrine(["convert", model.path, out.path, "--array", "coef", "--drop-metadata"])
            #expect(dropped.status == 0, "\(name): \(dropped.err)")
            #expect(try TensorBundle(contentsOf: out).names == ["coef"])
        }
        // Every array, in order: nothing is left out, the model still loads.
        let all = dir.appendingPathComponent("all.brine")
        #expect(try TensorBundle(contentsOf: model).names == ["coef", "intercept"])
        let kept = try runBrine(["convert", model.path, all.path, "--array", "coef", "--array", "intercept"])
        #expect(kept.status == 0, "\(kept.err)")
        let back = try Brine.load(Picked.self, from: all)
        #expect(back.learningRate == 0.1 && back.classes == ["a", "b"] && back.coef.scalars == coef.scalars && back.intercept.scalars == [7, 8])
    }

    struct Inline: Codable {
        var name = "mlp"
        var lr = 0.001
        var bias: [Float] = (0 ..< 1000).map { Float($0) * 0.5 }           // 4,000 bytes: inline
        var weight: Tensor<Float> = try! Tensor(shape: [64, 32], scalars: (0 ..< 2048).map { Float($0) })  // out of line
        var small: Tensor<Int32> = try! Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])             // inline map
        var blob = Data([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        var layers: [[String: Int]] = [["units": 4], ["units": 8]]
    }

    @Test("inspect --tree prints an indented tree with inline arrays summarised; --tree --json includes it")
    func tree() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        try Brine.save(Inline(), to: url)
        let r = try runBrine(["inspect", "--tree", url.path])
        #expect(r.status == 0, "\(r.err)")
        let tree = r.out.components(separatedBy: "tree:\n").last ?? ""
        let lines = tree.split(separator: "\n").map(String.init)
        #expect(lines.contains("    name: \"mlp\""), "\(tree)")
        #expect(lines.contains("    bias: inline float32 [1000]: [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, …]"), "\(tree)")
        #expect(lines.contains { $0.hasPrefix("    weight: → array 'weight' float32 [64, 32]") }, "\(tree)")
        #expect(lines.contains("    small: inline int32 [2, 3]: [1, 2, 3, 4, 5, 6]") || lines.contains("    small: inline int64 [2, 3]: [1, 2, 3, 4, 5, 6]"), "\(tree)")
        #expect(lines.contains("    blob: inline uint8 [10]: [1, 2, 3, 4, 5, 6, …]"), "\(tree)")
        #expect(lines.contains("    layers: (2 items)") && lines.contains("        units: 8"), "\(tree)")
        // Summarised: no line holds the 1000 values.
        #expect(lines.allSatisfy { $0.count < 200 }, "\(tree)")

        let j = try runBrine(["inspect", "--tree", "--json", url.path])
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(j.out.utf8)) as? [String: Any])
        let root = try #require(parsed["tree"] as? [String: Any])
        let bias = try #require((root["bias"] as? [String: Any])?["$inline"] as? [String: Any])
        #expect(bias["dtype"] as? String == "float32" && bias["count"] as? Int == 1000 && (bias["first"] as? [Any])?.count == 6)
        let weight = try #require((root["weight"] as? [String: Any])?["$array"] as? [String: Any])
        #expect(weight["path"] as? String == "weight" && weight["shape"] as? [Int] == [64, 32])
        #expect(root["lr"] as? Double == 0.001)
        // Without --tree, no tree key.
        let plain = try JSONSerialization.jsonObject(with: Data(try runBrine(["inspect", "--json", url.path]).out.utf8)) as? [String: Any]
        #expect(plain?["tree"] == nil)
    }

    @Test("--level needs zstd; --storage-dtype and --threads reach the writer; ranges come from WriteOptions")
    func writeOptions() throws {
        let f = try Files()
        defer { removeTemporaryDirectory(f.dir) }
        let out = f.dir.appendingPathComponent("o.brine")
        for args in [["--codec", "lz4", "--level", "3"], ["--level", "1"], ["--codec", "zstd", "--level", "23"],
                     ["--alignment", "3"], ["--chunk-size", "4"], ["--threads", "0"], ["--shuffle"],
                     ["--storage-dtype", "int8"]] {
            let r = try runBrine(["convert", f.safetensors.path, out.path] + args)
            #expect(r.status == 64, "\(args): \(r.err)")
            #expect(!FileManager.default.fileExists(atPath: out.path))
        }
        let lz4 = try runBrine(["convert", f.safetensors.path, out.path, "--codec", "lz4", "--level", "3"])
        #expect(lz4.err.contains("--level") && lz4.err.contains("zstd"), "\(lz4.err)")

        let ok = try runBrine(["convert", f.safetensors.path, out.path, "--codec", "zstd", "--level", "5", "--shuffle",
                               "--storage-dtype", "bfloat16", "--threads", "2", "--chunk-size", "256", "--alignment", "128"])
        #expect(ok.status == 0, "\(ok.err)")
        let file = try BrineFile(contentsOf: out)
        let w = try #require(file.info("encoder.layer.0.weight"))
        #expect(w.storedDType == .bfloat16 && w.dtype == .float32 && w.codec == .zstd(level: 5) && w.filter == .shuffle)
        #expect(w.chunkBytes == 256 && w.alignment == 128)
        #expect(file.info("ids")?.storedDType == .int64)  // only float32 is narrowed
        #expect(try runBrine(["verify", "--threads", "1", out.path]).status == 0)
    }

    @Test("options the output format cannot honour are a usage error naming them, not silently ignored")
    func inapplicableOptions() throws {
        let f = try Files()
        defer { removeTemporaryDirectory(f.dir) }
        let cases: [([String], String, String)] = [
            (["--codec", "zstd"], "o.safetensors", "--codec"),
            (["--shuffle", "--codec", "lz4"], "o.safetensors", "--shuffle"),
            (["--storage-dtype", "bfloat16"], "o.npz", "--storage-dtype"),
            (["--alignment", "4096"], "o.safetensors", "--alignment"),
            (["--deflate"], "o.brine", "--deflate"),
            (["--cast", "bfloat16-to-float32"], "o.brine", "--cast"),
            (["--into", "m.onnx"], "o.brine", "--into"),
            (["--shard-size", "5"], "o.brine", "--shard-size"),
        ]
        for (options, name, flag) in cases {
            let out = f.dir.appendingPathComponent(name)
            let r = try runBrine(["convert", f.safetensors.path, out.path, "--drop-metadata"] + options)
            #expect(r.status == 64 && r.err.contains(flag), "\(options) → \(name): \(r)")
            #expect(!FileManager.default.fileExists(atPath: out.path))
        }
        // The same options where they apply still work.
        let ok = try runBrine(["convert", f.safetensors.path, f.dir.appendingPathComponent("ok.brine").path, "--codec", "zstd", "--alignment", "4096"])
        #expect(ok.status == 0, "\(ok)")
    }
}
