import Foundation
import Testing
@testable import Brine

/// Names are sequences of code points in Brine files, NumPy, safetensors and
/// Python; Swift's `String` equality treats canonically equivalent spellings
/// as equal. Two spellings are two names: never merged (one array dropped,
/// one value read twice), never a valid file refused as a duplicate; where a
/// Swift key cannot keep both, a typed error.
@Suite("Exact names")
struct ExactNameTests {
    static let nfc = "\u{E9}", nfd = "e\u{301}"

    struct OneField: Codable {
        var field: Tensor<Float>
        enum CodingKeys: String, CodingKey { case field = "\u{E9}" }
    }

    @Test("the two spellings are equal Swift strings but different names")
    func premise() {
        #expect(Self.nfc == Self.nfd)
        #expect(!Self.nfc.isSameName(as: Self.nfd))
        #expect(ExactName(Self.nfc) != ExactName(Self.nfd))
        #expect(Set([ExactName(Self.nfc), ExactName(Self.nfd), ExactName(Self.nfc)]).count == 2)
    }

    @Test("a pickle dict keyed by both spellings, and by two NaNs, keeps every entry with its own data (Python keeps them apart)")
    func pickleKeysKept() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("u.pkl")
        _ = try PythonOracle.run(#"""
            import sys, pickle, numpy as np
            nfc, nfd = "\u00e9", "e\u0301"
            a = np.arange(4, dtype='<f4'); b = a + 100
            d = {nfc: a, nfd: b, "k1": {nfc: 1, nfd: 2}, "m": {float('nan'): a * 2, float('nan'): b * 2}}
            assert len(d) == 4 and len(d["k1"]) == 2 and len(d["m"]) == 2
            pickle.dump(d, open(sys.argv[1], 'wb'), protocol=4)
            """#, [url.path])
        let c = try Pickle.read(contentsOf: url)
        #expect(c.arrays.count == 4, "\(c.arrays.map(\.path))")
        func values(_ path: String) -> [Float]? {
            guard let t = c.arrays.first(where: { $0.path.isSameName(as: path) })?.tensor else { return nil }
            return try? t.typed(as: Float.self).scalars
        }
        #expect(values(Self.nfc) == [0, 1, 2, 3])
        #expect(values(Self.nfd) == [100, 101, 102, 103])
        let nanArrays = c.arrays.filter { $0.path.hasPrefix("m.") }.compactMap { try? $0.tensor.typed(as: Float.self).scalars }
        #expect(Set(nanArrays.map { $0.map(Int.init) }) == [[0, 2, 4, 6], [200, 202, 204, 206]])
        guard case .map(let root) = c.root, case .map(let k1)? = root.first(where: { $0.key == "k1" })?.value else {
            Issue.record("no k1 map in \(c.root)")
            return
        }
        #expect(k1.count == 2)
    }

    @Test("a Brine file may hold both spellings as array paths and map keys: written, read, looked up exactly; a Codable dictionary refuses them (typed) instead of merging")
    func brineKeepsBoth() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("n.brine")
        let w = try BrineWriter(url: url)
        _ = try w.append(Tensor<Float>(shape: [2], scalars: [1, 2]), arrayPath: Self.nfc)
        _ = try w.append(Tensor<Float>(shape: [2], scalars: [3, 4]), arrayPath: Self.nfd)
        try w.finish(
            root: .map([(Self.nfc, .arrayRef(0)), (Self.nfd, .arrayRef(1))]),
            metadata: .map([(Self.nfc, .string("composed")), (Self.nfd, .string("decomposed"))]))
        for mode in [LoadMode.copy, .mmap] {
            let f = try BrineFile(contentsOf: url, mode: mode)
            #expect(f.arrays.count == 2)
            #expect(try f.array(Self.nfc, as: Float.self).scalars == [1, 2])
            #expect(try f.array(Self.nfd, as: Float.self).scalars == [3, 4])
        }
        // A Swift dictionary cannot hold both keys: refused, naming the key.
        let e = #expect(throws: BrineError.self) { try Brine.load([String: Tensor<Float>].self, from: url) }
        #expect(e?.code == .modelMismatch && e?.message.contains("same String") == true, "\(String(describing: e))")
        // A struct with a field of one spelling: the two keys are refused as
        // well (a keyed container cannot tell them apart).
        let e2 = #expect(throws: BrineError.self) { try Brine.load(OneField.self, from: url) }
        #expect(e2?.message.contains("canonically equivalent") == true, "\(String(describing: e2))")
        // The Python reader agrees (its dict keeps both).
        let out = try PythonOracle.run(#"""
            import sys, brine_reader as br
            f = br.load(sys.argv[1])
            print(sorted(len(k) for k in f.keys()))
            """#, [url.path])
        #expect(out.contains("[1, 2]"), "\(out)")
    }

    @Test("a map holding the exact same key twice, which every reader refuses, is refused by the writer before the file exists (metadata and tree)")
    func duplicateMapKeyRefusedAtWrite() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        for (root, metadata) in [(Value.null, Value.map([("k", .int(1)), ("k", .int(2))])),
                                 (Value.map([("a", .list([.map([("x", .int(1)), ("x", .null)])]))]), Value.map([]))] {
            let url = dir.appendingPathComponent("dup.brine")
            let w = try BrineWriter(url: url)
            let e = #expect(throws: BrineError.self) { try w.finish(root: root, metadata: metadata) }
            #expect(e?.code == .invalidArgument && e?.message.contains("twice") == true, "\(String(describing: e))")
            #expect(!FileManager.default.fileExists(atPath: url.path))
        }
    }

    @Test("TensorBundle.tensor and brine convert --array pick the spelling asked for, and keep both when both are asked for")
    func selectionByExactName() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("names.brine")
        let w = try BrineWriter(url: url)
        _ = try w.append(Tensor<Float>(shape: [4], repeating: 1), arrayPath: "w" + Self.nfc)
        _ = try w.append(Tensor<Float>(shape: [4], repeating: 2), arrayPath: "w" + Self.nfd)
        try w.finish()
        let bundle = try TensorBundle(contentsOf: url)
        #expect(try bundle.tensor("w" + Self.nfd)?.typed(as: Float.self).scalars == [2, 2, 2, 2])
        #expect(try bundle.tensor("w" + Self.nfc)?.typed(as: Float.self).scalars == [1, 1, 1, 1])
        let npy = dir.appendingPathComponent("sel.npy")
        let r = try runBrine(["convert", url.path, npy.path, "--array", "w" + Self.nfd])
        #expect(r.status == 0, "\(r.err)")
        #expect(try Npy.read(contentsOf: npy).typed(as: Float.self).scalars == [2, 2, 2, 2])
        let both = dir.appendingPathComponent("both.brine")
        let r2 = try runBrine(["convert", url.path, both.path, "--array", "w" + Self.nfc, "--array", "w" + Self.nfd])
        #expect(r2.status == 0, "\(r2.err)")
        #expect(try BrineFile(contentsOf: both).arrays.count == 2)
    }

    @Test("safetensors and .npz files that hold both spellings (written by safetensors and NumPy) load, each name with its own data; metadata keys that would merge are refused")
    func interopFilesKeepBoth() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        _ = try PythonOracle.run(#"""
        import sys, json, struct, numpy as np
        from safetensors.numpy import save_file
        d = sys.argv[1]
        arrays = {"\u00e9": np.ones(2, np.float32), "e\u0301": np.full(3, 2, np.float32)}
        save_file(arrays, d + "/two.safetensors")
        np.savez(d + "/two.npz", **arrays)
        header = json.dumps({"__metadata__": {"\u00e9": "nfc", "e\u0301": "nfd"},
                             "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
        with open(d + "/meta.safetensors", "wb") as f:
            f.write(struct.pack("<Q", len(header)) + header + np.ones(1, np.float32).tobytes())
        """#, [dir.path])
        let st = try SafetensorsFile(contentsOf: dir.appendingPathComponent("two.safetensors"), mode: .copy)
        #expect(try st.tensor(Self.nfc).typed(as: Float.self).scalars == [1, 1])
        #expect(try st.tensor(Self.nfd).typed(as: Float.self).scalars == [2, 2, 2])
        let npz = try NpzFile(contentsOf: dir.appendingPathComponent("two.npz"))
        #expect(try npz.tensor(Self.nfc).typed(as: Float.self).scalars == [1, 1])
        #expect(try npz.tensor(Self.nfd).typed(as: Float.self).scalars == [2, 2, 2])
        #expect {
            _ = try SafetensorsFile(contentsOf: dir.appendingPathComponent("meta.safetensors"))
        } throws: { ($0 as? BrineError)?.code == .unsupportedFeature }

        // Brine's own writers keep both too, and read them back apart.
        let bundle = TensorBundle(tensors: [(Self.nfc, AnyTensor(Tensor<Float>([1, 1]))), (Self.nfd, AnyTensor(Tensor<Float>([2, 2, 2])))])
        for ext in ["safetensors", "npz", "gguf", "brine"] {
            let url = dir.appendingPathComponent("mine." + ext)
            try bundle.write(to: url)
            let back = try TensorBundle(contentsOf: url)
            #expect(back.names.count == 2, "\(ext)")
            #expect(try back.tensor(Self.nfd)?.typed(as: Float.self).scalars == [2, 2, 2], "\(ext)")
            #expect(try back.tensor(Self.nfc)?.typed(as: Float.self).scalars == [1, 1], "\(ext)")
        }
    }

    @Test("a shard index naming both spellings (in two shards) loads each array from its own shard")
    func shardIndexKeepsBoth() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        try TensorBundle(tensors: [(Self.nfc, AnyTensor(Tensor<Float>([1, 1])))]).write(to: dir.appendingPathComponent("a.brine"))
        try TensorBundle(tensors: [(Self.nfd, AnyTensor(Tensor<Float>([2, 2, 2])))]).write(to: dir.appendingPathComponent("b.brine"))
        let index = #"{"metadata": {"total_size": 20}, "weight_map": {"\#(Self.nfc)": "a.brine", "\#(Self.nfd)": "b.brine"}}"#
        let url = dir.appendingPathComponent("model.brine.index.json")
        try Data(index.utf8).write(to: url)
        let bundle = try TensorBundle(contentsOfShardIndex: url)
        #expect(bundle.names.count == 2)
        #expect(try bundle.tensor(Self.nfc)?.typed(as: Float.self).scalars == [1, 1])
        #expect(try bundle.tensor(Self.nfd)?.typed(as: Float.self).scalars == [2, 2, 2])
    }

    @Test("GGUF.write matches gguf.quantized and gguf.kv_types entries by code points: an entry for one spelling never marks the other's tensor as ggml blocks, nor writes its metadata under the entry's spelling")
    func ggufEntriesByCodePoints() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let out = dir.appendingPathComponent("m.gguf")
        let f = AnyTensor(try Tensor<Float>(shape: [2], scalars: [1, 2]))
        // 34 bytes: exactly one Q8_0 block of 32 elements, so only the name tells.
        let blocks = AnyTensor(try Tensor<UInt8>(shape: [34], scalars: (0 ..< 34).map { UInt8($0) }))
        let quantized = TensorBundle(tensors: [(name: "f", tensor: f), (name: Self.nfd, tensor: blocks)],
                                     metadata: [GGUF.quantizedKey: #"{"\#(Self.nfc)": {"ggml_type": "Q8_0", "shape": [32]}}"#])
        let e = #expect(throws: BrineError.self) { try GGUF.write(quantized, to: out) }
        #expect(e?.code == .unsupportedDType && e?.arrayPath == Self.nfd, "\(String(describing: e))")  // a plain uint8 array, which ggml has no type for
        #expect(!FileManager.default.fileExists(atPath: out.path))
        // The exact spelling is blocks.
        let exact = TensorBundle(tensors: [(name: "f", tensor: f), (name: Self.nfd, tensor: blocks)],
                                 metadata: [GGUF.quantizedKey: #"{"\#(Self.nfd)": {"ggml_type": "Q8_0", "shape": [32]}}"#])
        try GGUF.write(exact, to: out)
        #expect(try GGUFFile(contentsOf: out).tensors.first { $0.name.isSameName(as: Self.nfd) }?.type.name == "Q8_0")

        let typed = TensorBundle(tensors: [(name: "f", tensor: f)], metadata: [Self.nfd: "7", GGUF.typesKey: #"[["\#(Self.nfc)", "UINT32"]]"#])
        let e2 = #expect(throws: BrineError.self) { try GGUF.write(typed, to: dir.appendingPathComponent("t.gguf")) }
        #expect(e2?.code == .invalidArgument, "\(String(describing: e2))")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("t.gguf").path))
    }

    @Test("a duplicate of the exact same path is still refused by the writer")
    func exactDuplicateRefused() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let w = try BrineWriter(url: dir.appendingPathComponent("d.brine"))
        _ = try w.append(Tensor<Float>(shape: [1], scalars: [1]), arrayPath: Self.nfd)
        let e = #expect(throws: BrineError.self) { try w.append(Tensor<Float>(shape: [1], scalars: [2]), arrayPath: "e\u{301}") }
        #expect(e?.code == .invalidArgument)
        w.cancel()
    }
}
