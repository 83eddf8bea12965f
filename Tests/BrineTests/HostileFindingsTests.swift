import Foundation
import Testing
@testable import Brine

/// Hostile-tester findings: each test states what "never silently wrong"
/// requires and fails on the current code (exit 0 / no throw, but data or
/// metadata changed or dropped).
@Suite("Hostile findings", .serialized)
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

    /// A model holding an empty inline tensor (shape [0, 3]) converts with an
    /// array named "e.shape" (int64 [0, 3]: the shape vector) instead of "e"
    /// (float32, shape [0, 3]); python/brine.load_file gives "e" correctly.
    @Test("an empty inline Tensor is exported as itself, not as its shape vector")
    func emptyInlineTensorExport() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        try Brine.save(WithEmpty(w: try Tensor<Float>(shape: [2], scalars: [1, 2]), e: try Tensor<Float>(shape: [0, 3], scalars: [Float]())), to: url)
        let bundle = try TensorBundle(contentsOf: url)
        let names = bundle.names
        #expect(!names.contains("e.shape"), "exported arrays: \(names)")
        let e = bundle.tensors.first { $0.name == "e" }?.tensor
        #expect(e?.shape == [0, 3] && e?.dtype == .float32, "exported arrays: \(names)")
    }

    /// HDF5 → Brine → HDF5 (or `brine convert a.h5 b.h5`) turns every
    /// numeric, bool and array attribute into a string attribute: h5py's
    /// `attrs["epoch"]` was int64 5 and reads back as the str "5",
    /// `attrs["f32"]` float32 0.1 as "0.10000000149011612", exit 0. In the
    /// Brine metadata an int attribute 5 and a string attribute "5" are the
    /// same text.
    @Test("HDF5 → HDF5 keeps attribute types (int stays int, float32 stays float32), or refuses")
    func hdf5AttributesRetypedToStrings() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        _ = try PythonOracle.run(#"""
        import sys, h5py, numpy as np
        with h5py.File(sys.argv[1] + "/in.h5", "w") as f:
            d = f.create_dataset("w", data=np.arange(4, dtype=np.float32))
            d.attrs["epoch"] = np.int64(5)
            d.attrs["s"] = "5"
        """#, [dir.path])
        let r = try runBrine(["convert", dir.appendingPathComponent("in.h5").path, dir.appendingPathComponent("out.h5").path])
        guard r.status == 0 else { return }  // a refusal is acceptable
        let out = try PythonOracle.run(#"""
        import sys, h5py
        with h5py.File(sys.argv[1] + "/out.h5") as f:
            print(type(f["w"].attrs["epoch"]).__name__, type(f["w"].attrs["s"]).__name__)
        """#, [dir.path])
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "int64 str", "exit 0, attribute types now: \(out)")
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

