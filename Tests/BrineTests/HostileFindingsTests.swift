import Foundation
import Testing
@testable import Brine

/// Hostile-tester findings: each test states what "never silently wrong"
/// requires and fails on the current code (exit 0 / no throw, but data or
/// metadata changed or dropped).
@Suite("Interop paths that dropped or changed data (hostile review)", .serialized)
struct HostileFindingsTests {
    /// A sharded Brine output (`model.brine.index.json`) silently drops every
    /// metadata key that starts with `brine.` (ShardedConvert.writeShards
    /// filters them out), where a single `.brine` output refuses the same input
    /// (`invalidArgument`, "rename it to keep it").
    @Test("sharded output: a foreign 'brine.*' metadata key is refused (as for one .brine), never dropped")
    func shardedOutputDropsBrinePrefixedKeys() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let st = dir.appendingPathComponent("in.safetensors")
        let bundle = TensorBundle(tensors: [("w", AnyTensor(try Tensor<Float>(shape: [4], scalars: [1, 2, 3, 4])))],
                                  metadata: ["brine.note": "keep me", "ok": "y"])
        try bundle.write(to: st, format: .safetensors)

        let single = try runBrine(["convert", st.path, dir.appendingPathComponent("one.brine").path])
        #expect(single.status != 0, "single .brine output refuses the reserved key")

        let folder = dir.appendingPathComponent("sh")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        let index = folder.appendingPathComponent(ShardIndex.fileName)
        let r = try runBrine(["convert", st.path, index.path])
        if r.status == 0 {
            // Accepted: then the key must still be there.
            let back = try TensorBundle(contentsOfShardIndex: index)
            #expect(back.metadata["brine.note"] == "keep me", "exit 0 but metadata is now \(back.metadata)")
        }
    }

    /// safetensors → Brine → safetensors changes a metadata string that looks
    /// like a base64 `data:` URL with non-canonical trailing bits: "…AAF="
    /// comes back as "…AAE=" (decoded to bytes [0, 1], re-encoded canonically).
    @Test("safetensors → Brine → safetensors keeps a data:-URL-looking metadata string byte for byte")
    func dataURLMetadataStringChanges() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let text = "data:application/octet-stream;base64,AAF="
        let st = dir.appendingPathComponent("in.safetensors")
        try TensorBundle(tensors: [("w", AnyTensor(try Tensor<Float>(shape: [2], scalars: [0, 0])))], metadata: ["a": text])
            .write(to: st, format: .safetensors)
        #expect(try SafetensorsFile(contentsOf: st).metadata["a"] == text)
        let b = dir.appendingPathComponent("mid.brine")
        try TensorBundle(contentsOf: st).write(to: b, format: .brine)
        let st2 = dir.appendingPathComponent("out.safetensors")
        try TensorBundle(contentsOf: b).write(to: st2, format: .safetensors)
        #expect(try SafetensorsFile(contentsOf: st2).metadata["a"] == text)
    }

    struct WithEmpty: Codable {
        var w: Tensor<Float>
        var e: Tensor<Float>
    }

    /// A model holding an empty inline tensor (shape [0, 3]) converted with an
    /// array named "e.shape" (int64 [0, 3]: the shape vector) instead of "e".
    /// The file records no dtype for an empty Tensor's inline form, so the
    /// export is refused rather than guessed.
    @Test("an empty inline Tensor is refused by export (its dtype is not in the file), never exported as its shape vector")
    func emptyInlineTensorExport() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        let model = WithEmpty(w: try Tensor<Float>(shape: [2], scalars: [1, 2]), e: try Tensor<Float>(shape: [0, 3], scalars: [Float]()))
        try Brine.save(model, to: url)
        let e = #expect(throws: BrineError.self) { try TensorBundle(contentsOf: url) }
        #expect(e?.code == .unsupportedFeature && e?.arrayPath == "e", "\(String(describing: e))")
        let r = try runBrine(["convert", url.path, dir.appendingPathComponent("e.safetensors").path])
        #expect(r.status == 1 && r.err.contains("'e'"), "\(r.err)")
        // Out of line, the array has its dtype and exports exactly.
        let out = dir.appendingPathComponent("o.brine")
        try Brine.save(model, to: out, options: SaveOptions(inlineThreshold: 0))
        let t = try TensorBundle(contentsOf: out).tensors.first { $0.name == "e" }?.tensor
        #expect(t?.shape == [0, 3] && t?.dtype == .float32)
    }

    /// A pickled NumPy ndarray subclass (np.matrix, np.ma.MaskedArray) is
    /// not an array for Brine: its data stays as raw bytes in the object
    /// tree, `inspect` lists 0 arrays, and `brine convert x.pkl y.npz
    /// --drop-metadata` (which promises to leave out only the tree's
    /// structure and non-array values) writes an npz without it, exit 0.
    @Test("a pickled np.matrix / masked array is converted as an array or refused, never dropped by --drop-metadata")
    func ndarraySubclassDataDropped() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        _ = try PythonOracle.run(#"""
        import sys, pickle, numpy as np
        pickle.dump({"mat": np.matrix([[1, 2], [3, 4]]), "w": np.arange(2.0)}, open(sys.argv[1] + "/m.pkl", "wb"))
        """#, [dir.path])
        let npz = dir.appendingPathComponent("m.npz")
        let r = try runBrine(["convert", dir.appendingPathComponent("m.pkl").path, npz.path, "--drop-metadata"])
        guard r.status == 0 else { return }  // a refusal is acceptable
        let names = try NpzFile(contentsOf: npz).loadAll().map(\.name)
        #expect(names.contains("mat"), "exit 0; the npz holds only \(names)")
    }

    /// The tree records a pickled NumPy string array's dtype as "<U16" for
    /// NumPy's '<U4' (the item size in bytes where NumPy's descr counts
    /// characters): a wrong dtype, silently (docs/PICKLE.md shows "<U3").
    @Test("a pickled '<U4' string array's dtype is recorded as '<U4'")
    func unicodeDescrCountsBytes() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        _ = try PythonOracle.run(#"""
        import sys, pickle, numpy as np
        a = np.array(["ab", "eeee"])
        assert a.dtype.str == "<U4"
        pickle.dump({"u": a}, open(sys.argv[1] + "/u.pkl", "wb"))
        """#, [dir.path])
        let content = try Pickle.read(contentsOf: dir.appendingPathComponent("u.pkl"))
        guard case .map(let top) = content.root, case .map(let fields)? = top.first(where: { $0.key == "u" })?.value,
              let dtype = fields.first(where: { $0.key == "dtype" })?.value else {
            Issue.record("unexpected tree \(content.root)")
            return
        }
        #expect(dtype == .string("<U4"), "recorded dtype: \(dtype)")
    }

    /// Probe: a model with tied weights exports the tied path as its own
    /// tensor from one .brine file (aliases); the same model saved as shards
    /// should export the same names.
    @Test("tied weights: sharded and single-file models export the same array names")
    func tiedWeightsShardedVsSingle() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let model = TiedLM.make(seed: 7)
        let single = dir.appendingPathComponent("m.brine")
        try Brine.save(model, to: single)
        let folder = dir.appendingPathComponent("sh")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        _ = try Brine.save(model, toShards: folder, maxShardBytes: 1 << 20)
        let a = try TensorBundle(contentsOf: single).names
        let b = try TensorBundle(contentsOfShardIndex: folder.appendingPathComponent(ShardIndex.fileName)).names
        #expect(Set(a) == Set(b), "single: \(a)\nsharded: \(b)")
    }
}

