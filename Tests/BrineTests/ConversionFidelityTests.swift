import Foundation
import Testing
@testable import Brine
import BrineTestSupport

/// Issue 9, part 3: conversions never drop or alter arrays or metadata
/// values with success, and narrowing never overflows or flushes quietly.
@Suite("Conversion fidelity")
struct ConversionFidelityTests {
    /// A small transformer-style block: big matrices out of line, biases,
    /// LayerNorm parameters and a small tensor under the 4 KiB threshold.
    struct LayerNorm: Codable { var gamma: [Float]; var beta: [Float] }
    struct Attention: Codable { var qkv: Tensor<Float>; var qkvBias: [Float]; var out: Tensor<Float>; var outBias: [Float] }
    struct Block: Codable {
        var attention: Attention
        var norm1: LayerNorm
        var mlpUp: Tensor<Float>
        var mlpUpBias: [Float]
        var mlpDown: Tensor<Float>
        var mlpDownBias: [Float]
        var norm2: LayerNorm
    }
    struct Model: Codable {
        var embed: Tensor<Float>
        var blocks: [Block]
        var head: Tensor<Float>        // small: inline
        var scale: [Double]            // inline float64
        var vocab: [Int]               // inline int64
        var mask: [Bool]               // inline bool
        var table: Data                // inline uint8
        var name: String
        var epoch: Int
    }

    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0 ..< n).map { _ in Float.random(in: -1 ... 1, using: &rng) }
    }

    static func model() throws -> Model {
        let d = 32
        func block(_ s: UInt64) throws -> Block {
            Block(
                attention: Attention(
                    qkv: try Tensor(shape: [3 * d, d], scalars: values(3 * d * d, seed: s)), qkvBias: values(3 * d, seed: s + 1),
                    out: try Tensor(shape: [d, d], scalars: values(d * d, seed: s + 2)), outBias: values(d, seed: s + 3)),
                norm1: LayerNorm(gamma: values(d, seed: s + 4), beta: values(d, seed: s + 5)),
                mlpUp: try Tensor(shape: [4 * d, d], scalars: values(4 * d * d, seed: s + 6)), mlpUpBias: values(4 * d, seed: s + 7),
                mlpDown: try Tensor(shape: [d, 4 * d], scalars: values(4 * d * d, seed: s + 8)), mlpDownBias: values(d, seed: s + 9),
                norm2: LayerNorm(gamma: values(d, seed: s + 10), beta: values(d, seed: s + 11)))
        }
        return Model(
            embed: try Tensor(shape: [100, d], scalars: values(100 * d, seed: 1)),
            blocks: [try block(10), try block(30)],
            head: try Tensor(shape: [2, d], scalars: values(2 * d, seed: 2)),
            scale: [0.5, 1e300, -0.0], vocab: [1, -2, Int.max], mask: [true, false, true], table: Data([0, 1, 255]),
            name: "tiny", epoch: 7)
    }

    /// Every array of the model, by path, from Brine's own weights view (all sizes).
    static func expected(_ m: Model) throws -> [String: AnyTensor] {
        Dictionary(uniqueKeysWithValues: try Weights(of: m).entries.map { ($0.path, $0.tensor) })
    }

    @Test("TensorBundle and brine convert export every array of a model, inline ones included, to every format")
    func inlineArraysExported() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let m = try Self.model()
        let url = dir.appendingPathComponent("model.brine")
        try Brine.save(m, to: url)
        let file = try BrineFile(contentsOf: url)
        let want = try Self.expected(m)
        #expect(want.count == 2 * 12 + 6)
        #expect(file.arrays.count < want.count, "the test needs inline arrays")

        let bundle = try TensorBundle(contentsOf: url)
        #expect(Set(bundle.names) == Set(want.keys), "missing: \(Set(want.keys).subtracting(bundle.names).sorted())")
        for (name, t) in bundle.tensors { #expect(t == want[name], "\(name)") }

        for ext in ["safetensors", "npz", "brine"] {
            let out = dir.appendingPathComponent("out.\(ext)")
            // .npz holds arrays only: leaving the model's tree out is asked for by name.
            let r = try runBrine(["convert", url.path, out.path] + (ext == "npz" ? ["--drop-metadata"] : []))
            #expect(r.status == 0, "\(r)")
            let back = try TensorBundle(contentsOf: out)
            #expect(Set(back.names) == Set(want.keys), "\(ext): missing \(Set(want.keys).subtracting(back.names).sorted())")
            for (name, t) in back.tensors { #expect(t == want[name], "\(ext): \(name)") }
        }
        // The README's MLP keeps its biases.
        let mlp = MLP.make([64, 64, 10], seed: 3)
        let mlpURL = dir.appendingPathComponent("mlp.brine")
        try Brine.save(mlp, to: mlpURL)
        let st = dir.appendingPathComponent("mlp.safetensors")
        #expect(try runBrine(["convert", mlpURL.path, st.path]).status == 0)
        let names = try SafetensorsFile(contentsOf: st).loadAll().map(\.name)
        #expect(Set(names) == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"])
        #expect(try SafetensorsFile(contentsOf: st).tensor("layers.1.bias", as: Float.self).scalars == mlp.layers[1].bias)
    }

    @Test("brine → brine convert keeps the model: tree, inline arrays, hyperparameters, root type and metadata")
    func brineToBrineKeepsModel() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        var mlp = MLP.make([64, 64, 10], seed: 8)
        mlp.epoch = 42
        let url = dir.appendingPathComponent("mlp.brine")
        try Brine.save(mlp, to: url, options: SaveOptions(metadata: ["framework": "x", "blob": .bytes([0, 1, 255])]))
        let out = dir.appendingPathComponent("mlp-zstd.brine")
        let r = try runBrine(["convert", url.path, out.path, "--codec", "zstd", "--level", "1", "--shuffle"])
        #expect(r.status == 0, "\(r)")
        #expect(try Brine.load(MLP.self, from: out) == mlp)
        #expect(try BrineFile(contentsOf: out).arrays.allSatisfy { $0.codec == .zstd(level: 1) })
        #expect(try userMetadata(out) == userMetadata(url))
        #expect(try Brine.metadata(of: out)["brine.root_type"] == Brine.metadata(of: url)["brine.root_type"])

        // A bundle whose inline array was changed is not written from the old
        // tree, nor silently without it (the epoch would be lost): refused
        // unless the drop is asked for by name.
        var b = try TensorBundle(contentsOf: url)
        let k = try #require(b.tensors.firstIndex { $0.name == "layers.0.bias" })
        b.tensors[k].tensor = AnyTensor(try Tensor<Float>(shape: [64], scalars: [Float](repeating: 9, count: 64)))
        let changed = dir.appendingPathComponent("changed.brine")
        #expect { try b.write(to: changed) } throws: { ($0 as? BrineError)?.code == .unsupportedFeature }
        var drop = TensorBundleWriteOptions()
        drop.dropMetadata = true
        try b.write(to: changed, options: drop)
        #expect(try TensorBundle(contentsOf: changed).tensor("layers.0.bias") == b.tensors[k].tensor)
    }

    @Test("loadWeights from a full model file takes the inline arrays too (the README's MLP keeps its biases)")
    func weightsFromModelFile() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let trained = MLP.make([64, 64, 10], seed: 5)
        let url = dir.appendingPathComponent("mlp.brine")
        try Brine.save(trained, to: url)
        #expect(try BrineFile(contentsOf: url).arrays.count == 1, "the test needs inline arrays")
        for mode in [LoadMode.copy, .mmap] {
            var fresh = MLP.make([64, 64, 10], seed: 6)
            let report = try Brine.loadWeights(into: &fresh, from: url, mode: mode)
            #expect(report.isComplete && report.loaded.count == 4)
            #expect(fresh == trained)
            let w = try Brine.loadWeights(from: url, mode: mode)
            #expect(Set(w.paths) == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"])
            #expect(try w.tensor("layers.0.bias", as: Float.self).scalars == trained.layers[0].bias)
        }
    }

    @Test("inline half-precision and narrow integer arrays export with their exact values, as the kind the file stores")
    func inlineKinds() throws {
        struct Kinds: Codable { var h: [Float16]; var i: [Int32]; var u: [UInt16]; var any: AnyTensor; var t: Tensor<UInt8>; var nested: [[Float]]; var empty: [Float] }
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("k.brine")
        let k = Kinds(h: [1.5, -2], i: [-3, 4], u: [5, 65535], any: AnyTensor(try Tensor<Int16>(shape: [2, 1], scalars: [7, -8])),
                      t: try Tensor(shape: [1, 2], scalars: [9, 10]), nested: [[1, 2], [3]], empty: [])
        try Brine.save(k, to: url)
        let b = try TensorBundle(contentsOf: url)
        #expect(try b.tensor("h")?.typed(as: Float.self).scalars == [1.5, -2])
        #expect(try b.tensor("i")?.typed(as: Int64.self).scalars == [-3, 4])
        #expect(try b.tensor("u")?.typed(as: UInt64.self).scalars == [5, 65535])
        #expect(b.tensor("any") == AnyTensor(try Tensor<Int16>(shape: [2, 1], scalars: [7, -8])))
        #expect(b.tensor("t") == AnyTensor(try Tensor<UInt8>(shape: [1, 2], scalars: [9, 10])))
        #expect(try b.tensor("nested.0")?.typed(as: Float.self).scalars == [1, 2])
        #expect(try b.tensor("nested.1")?.typed(as: Float.self).scalars == [3])
        #expect(b.tensor("empty") == nil)
    }

    @Test("a map that only looks like an inline tensor is an ordinary map: its lists are exported on their own")
    func tensorLookalike() throws {
        struct Lookalike: Codable { var dtype: String; var shape: [Int]; var scalars: [Double] }
        struct M: Codable { var a: Lookalike; var b: Lookalike }
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("l.brine")
        // a: the dtype does not fit the float64 scalars; b: the count does not fill the shape.
        try Brine.save(M(a: Lookalike(dtype: "int8", shape: [2], scalars: [0.5, 1.5]),
                         b: Lookalike(dtype: "float64", shape: [3], scalars: [1, 2])), to: url)
        let bundle = try TensorBundle(contentsOf: url)
        #expect(Set(bundle.names) == ["a.shape", "a.scalars", "b.shape", "b.scalars"])
        #expect(try bundle.tensor("a.scalars")?.typed(as: Double.self).scalars == [0.5, 1.5])
    }

    /// Metadata of every value kind, with the edge cases of each.
    static let metadata: [String: Value] = [
        "bytes": .bytes([0x00, 0x01, 0xFF]),
        "empty-bytes": .bytes([]),
        "int-max": .int(.max), "int-min": .int(.min), "beyond-2^53": .int(9_007_199_254_740_993),
        "uint-max": .uint(.max),
        "float64": .float64(0.1), "float32": .float32(0.1), "neg-zero": .float64(-0.0),
        "nan-payload": .float64(Double(bitPattern: 0x7FF0_0000_0000_0123)), "inf": .float32(-.infinity),
        "true": .bool(true), "null": .null,
        "nested": .list([.int(1), .map([("z", .string("last")), ("a", .list([.bytes([7]), .float32(2.5)]))]), .list([])]),
        "text": .string("plain text"), "empty": .string(""),
        "looks-marked": .string(MetadataText.bytesPrefix + "AAH/"),
        "looks-marked-2": .string(MetadataText.valuePrefix + "not base64!"),
        "data-url": .string("data:image/png;base64,iVBORw0KGgo="),
    ]

    func userMetadata(_ url: URL) throws -> [String: Value] {
        let m = try BrineFile(contentsOf: url).metadata
        guard case .map(let entries) = m else { return [:] }
        return Dictionary(uniqueKeysWithValues: entries.filter { !$0.key.hasPrefix("brine.") }.map { ($0.key, $0.value) })
    }

    @Test("every metadata value kind survives brine → safetensors → brine exactly; bytes become a documented base64 marker")
    func metadataRoundTrip() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        var o = SaveOptions(metadata: Self.metadata)
        o.inlineThreshold = 0
        try Brine.save(["w": try Tensor<Float>(shape: [2], scalars: [1, 2])], to: url, options: o)
        #expect(try userMetadata(url) == Self.metadata)

        let st = dir.appendingPathComponent("m.safetensors")
        #expect(try runBrine(["convert", url.path, st.path]).status == 0)
        let raw = try SafetensorsFile(contentsOf: st).metadata
        #expect(raw["bytes"] == "data:application/octet-stream;base64,AAH/")
        #expect(raw["text"] == "plain text" && raw["data-url"] == "data:image/png;base64,iVBORw0KGgo=")
        #expect(raw["int-max"]?.hasPrefix(MetadataText.valuePrefix) == true)
        #expect(!raw.values.contains { $0.contains("<3 bytes>") })

        let back = dir.appendingPathComponent("back.brine")
        #expect(try runBrine(["convert", st.path, back.path]).status == 0)
        #expect(try userMetadata(back) == Self.metadata)
        // Library path, too.
        let b = try TensorBundle(contentsOf: url)
        let back2 = dir.appendingPathComponent("back2.brine")
        try b.write(to: back2)
        #expect(try userMetadata(back2) == Self.metadata)
        // Python reads the bytes marker with the standard library alone.
        let decoded = try PythonOracle.run("""
            import base64, json, sys
            from safetensors import safe_open
            with safe_open(sys.argv[1], framework="numpy") as f:
                v = f.metadata()["bytes"]
            prefix = "data:application/octet-stream;base64,"
            assert v.startswith(prefix)
            print(base64.b64decode(v[len(prefix):]).hex())
            """, [st.path])
        #expect(decoded.trimmingCharacters(in: .whitespacesAndNewlines) == "0001ff")
    }

    @Test("a marked value whose bytes are no valid value is a typed error naming the key; a marker followed by other than canonical base64 (another tool's data: URL) is a string as it stands")
    func badMarker() throws {
        let e = #expect(throws: BrineError.self) { try MetadataText.value(from: MetadataText.valuePrefix + "AAAA", key: "the-key") }
        #expect(e?.code == .invalidInterop && e?.message.contains("the-key") == true)
        for text in [MetadataText.bytesPrefix + "%%%", MetadataText.bytesPrefix + "AAF=", MetadataText.bytesPrefix + "AAE", MetadataText.valuePrefix + "not base64!"] {
            #expect(try MetadataText.value(from: text, key: "k") == .string(text), "\(text)")
            #expect(try MetadataText.text(for: .string(text), key: "k") == text, "\(text)")
        }
        for (k, v) in Self.metadata {
            #expect(try MetadataText.value(from: MetadataText.text(for: v, key: k), key: k) == v, "\(k)")
        }
    }

    @Test("a foreign metadata key with Brine's reserved prefix is refused, not dropped, and nothing is written")
    func reservedPrefix() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let st = dir.appendingPathComponent("in.safetensors")
        try TensorBundle(tensors: [("w", AnyTensor(try Tensor<Float>(shape: [1], scalars: [1])))], metadata: ["brine.note": "x", "ok": "y"]).write(to: st)
        let out = dir.appendingPathComponent("out.brine")
        let r = try runBrine(["convert", st.path, out.path])
        #expect(r.status != 0 && r.err.contains("brine.note"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test("npz and npy output refuses to drop metadata or a model's tree unless --drop-metadata / dropMetadata says so")
    func numpyRefusesToDrop() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        try Brine.save(["w": try Tensor<Float>(shape: [2000], scalars: [Float](repeating: 1, count: 2000))], to: url,
                       options: SaveOptions(metadata: ["framework": "x", "bytes": .bytes([1])]))
        for ext in ["npz", "npy"] {
            let out = dir.appendingPathComponent("o.\(ext)")
            let r = try runBrine(["convert", url.path, out.path])
            #expect(r.status == 64, "\(r)")
            #expect(r.err.contains("'bytes', 'framework'") && r.err.contains("--drop-metadata"), "\(r.err)")
            #expect(!FileManager.default.fileExists(atPath: out.path))
            let ok = try runBrine(["convert", url.path, out.path, "--drop-metadata"])
            #expect(ok.status == 0, "\(ok)")
        }
        // The library refuses before writing, with a typed error naming the keys.
        let bundle = try TensorBundle(contentsOf: url)
        let out = dir.appendingPathComponent("lib.npz")
        let e = #expect(throws: BrineError.self) { try bundle.write(to: out) }
        #expect(e?.code == .unsupportedFeature && e?.message.contains("'framework'") == true)
        #expect(!FileManager.default.fileExists(atPath: out.path))
        #expect(bundle.contentNumPyCannotHold().metadataKeys == ["bytes", "framework"])
    }

    struct Hyper: Codable, Equatable {
        struct Layer: Codable, Equatable { var weight: Tensor<Float>; var bias: [Float]; var name: String }
        var layers: [Layer]
        var learningRate: Double
        var epoch: Int
    }

    @Test("a Codable model → safetensors → Brine loads as the same model: the tree rides in safetensors metadata; npz refuses to drop it")
    func modelThroughSafetensors() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        var rng = SplitMix64(seed: 11)
        func t(_ shape: [Int]) throws -> Tensor<Float> {
            try Tensor(shape: shape, scalars: (0 ..< shape.reduce(1, *)).map { _ in Float.random(in: -1 ... 1, using: &rng) })
        }
        let model = Hyper(layers: [.init(weight: try t([64, 32]), bias: [1, 2, 3], name: "in"),
                                   .init(weight: try t([32, 10]), bias: [4, 5], name: "out")],
                          learningRate: 0.125, epoch: 7)
        let url = dir.appendingPathComponent("m.brine")
        try Brine.save(model, to: url, options: SaveOptions(metadata: ["framework": "test"]))
        let st = dir.appendingPathComponent("m.safetensors")
        #expect(try runBrine(["convert", url.path, st.path]).status == 0)
        // Plain safetensors readers see every array, the small ones included.
        let plain = try SafetensorsFile(contentsOf: st)
        #expect(Set(plain.names) == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"])
        let back = dir.appendingPathComponent("back.brine")
        #expect(try runBrine(["convert", st.path, back.path]).status == 0)
        #expect(try Brine.load(Hyper.self, from: back) == model)
        #expect(try Brine.metadata(of: back)["framework"] == .string("test"))
        // A tree whose arrays were removed from the safetensors file is a typed error, not a silent drop.
        var bundle = try TensorBundle(contentsOf: st)
        bundle.tensors.removeAll { $0.name == "layers.1.weight" }
        var meta = bundle.metadata
        meta["brine.tree"] = try TensorBundle(contentsOf: url).treeMetadataForTests()["brine.tree"]
        meta["brine.tree.arrays"] = try TensorBundle(contentsOf: url).treeMetadataForTests()["brine.tree.arrays"]
        let broken = dir.appendingPathComponent("broken.safetensors")
        try Safetensors.write(bundle.tensors, metadata: meta, to: broken)
        let e = #expect(throws: BrineError.self) { try TensorBundle(contentsOf: broken) }
        #expect(e?.code == .invalidInterop && e?.arrayPath == "layers.1.weight")
        // .npz cannot hold the tree: refused, unless dropped on purpose.
        let r = try runBrine(["convert", url.path, dir.appendingPathComponent("m.npz").path])
        #expect(r.status == 64 && r.err.contains("object tree"), "\(r)")
    }

    // MARK: Narrowing

    @Test("narrowing to float16 that overflows or flushes to zero is a typed error naming array, index and value",
          arguments: [(Float(1e5), "inf"), (70000, "inf"), (65520, "inf"), (-1e6, "inf"), (1e-8, "zero"), (-2.9e-8, "zero")])
    func float16Loss(value: Float, kind: String) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("n.brine")
        try Brine.save(["keep": [Float](repeating: 1, count: 2000)], to: url)
        let before = try Data(contentsOf: url)
        var w = [Float](repeating: 0.25, count: 5000)
        w[4321] = value
        var o = SaveOptions(storageDType: .float16)
        o.chunkBytes = 4096
        let e = #expect(throws: BrineError.self) { try Brine.save(["w": w], to: url, options: o) }
        #expect(e?.code == .valueOutOfRange)
        #expect(e?.arrayPath == "w")
        #expect(e?.message.contains("element 4321") == true && e?.message.contains("\(value)") == true, "\(String(describing: e))")
        #expect(e?.message.contains(kind == "inf" ? "infinity" : "zero") == true)
        #expect(try Data(contentsOf: url) == before, "the previous file must be untouched")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["n.brine"])

        // Explicit opt-in keeps the IEEE result.
        o.narrowing = .allowOverflowAndUnderflow
        try Brine.save(["w": w], to: url, options: o)
        let got = try Brine.load([String: [Float]].self, from: url)["w"]![4321]
        #expect(kind == "inf" ? got.isInfinite : got == 0)
    }

    @Test("brine convert --storage-dtype refuses a value it would overflow or flush, unless --allow-overflow-and-underflow",
          arguments: ["float16", "bfloat16"])
    func cliStorageDType(dtype: String) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        var w = [Float](repeating: 0.5, count: 3000)
        w[2999] = dtype == "float16" ? 70000 : Float.greatestFiniteMagnitude
        w[5] = dtype == "float16" ? 1e-8 : Float.leastNonzeroMagnitude
        let input = dir.appendingPathComponent("in.safetensors")
        try TensorBundle(tensors: [("w", AnyTensor(try Tensor<Float>(shape: [3000], scalars: w)))]).write(to: input)
        let out = dir.appendingPathComponent("out.brine")
        let r = try runBrine(["convert", input.path, out.path, "--storage-dtype", dtype])
        #expect(r.status == 1, "\(r)")
        #expect(r.err.contains("valueOutOfRange") && r.err.contains("'w'") && r.err.contains("element 5"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
        let forced = try runBrine(["convert", input.path, out.path, "--storage-dtype", dtype, "--allow-overflow-and-underflow"])
        #expect(forced.status == 0, "\(forced)")
        let back = try TensorBundle(contentsOf: out).tensor("w")!.typed(as: Float.self).scalars
        #expect(back[5] == 0 && back[2999].isInfinite)
        #expect(try runBrine(["convert", input.path, out.path, "--allow-overflow-and-underflow"]).status == 64)
    }

    @Test("values float16 and bfloat16 can hold narrow without error: rounding, subnormals, ±0, ±inf, NaN")
    func narrowingAllowed() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("ok.brine")
        let fine: [Float] = [65504, -65504, 65519, 6e-8, -6e-8, 0, -0.0, .infinity, -.infinity, .nan, 0.1, 1e-5]
        for stored in [DType.float16, .bfloat16] {
            try Brine.save(["w": fine + [Float](repeating: 1, count: 2000)], to: url, options: SaveOptions(storageDType: stored))
        }
        // Both SIMD block and tail positions, on a large array.
        var big = [Float](repeating: 0.5, count: 1 << 16)
        big[63] = 1e9
        let e = #expect(throws: BrineError.self) { try Brine.save(["big": big], to: url, options: SaveOptions(storageDType: .float16)) }
        #expect(e?.message.contains("element 63") == true)
        big[63] = 0.5
        big[(1 << 16) - 1] = 1e-30
        let e2 = #expect(throws: BrineError.self) { try Brine.save(["big": big], to: url, options: SaveOptions(storageDType: .float16)) }
        #expect(e2?.message.contains("element 65535") == true)
    }

    @Test("narrowing to bfloat16 that overflows or flushes to zero is a typed error", arguments: [Float.greatestFiniteMagnitude, -3.4e38, Float.leastNonzeroMagnitude, -Float(bitPattern: 0x0000_1234)])
    func bfloat16Loss(value: Float) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        var w = [Float](repeating: 1, count: 2000)
        w[7] = value
        let e = #expect(throws: BrineError.self) {
            try Brine.save(["w": w], to: dir.appendingPathComponent("b.brine"), options: SaveOptions(storageDType: .bfloat16))
        }
        #expect(e?.code == .valueOutOfRange && e?.arrayPath == "w" && e?.message.contains("element 7") == true, "\(String(describing: e))")
    }

    @Test("decoding a number into Float16/BFloat16 or Float that would overflow or flush to zero is an error, not ±inf or 0")
    func decoderNarrowing() throws {
        struct Wide: Codable { var x: Float; var xs: [Float]; var d: Double }
        struct Half: Codable { var x: Float16 }
        struct HalfList: Codable { var xs: [Float16] }
        struct BHalf: Codable { var x: BFloat16 }
        struct Single: Codable { var d: Float }
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("w.brine")
        try Brine.save(Wide(x: 1e5, xs: [1, 1e-9], d: 1e-50), to: url)
        #expect(modelMismatch { _ = try Brine.load(Half.self, from: url) } != nil)
        #expect(modelMismatch { _ = try Brine.load(HalfList.self, from: url) } != nil)
        #expect(modelMismatch { _ = try Brine.load(Single.self, from: url) } != nil)
        try Brine.save(Wide(x: .leastNonzeroMagnitude, xs: [], d: 0), to: url)
        #expect(modelMismatch { _ = try Brine.load(BHalf.self, from: url) } != nil)
        try Brine.save(Wide(x: 2, xs: [], d: 0), to: url)
        #expect(try Brine.load(Half.self, from: url).x == 2)
    }
}
