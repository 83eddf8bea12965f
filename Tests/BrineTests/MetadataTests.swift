import Foundation
import Testing
@testable import Brine

struct HyperParameters: Codable, Equatable {
    var epochs: Int
    var learningRate: Float
    var optimizer: String
    var betas: [Double]
    var schedule: [String: Int]
}

/// The bytes of `url` from 0 to the header (preamble and every array's data).
func dataSection(_ url: URL) throws -> Data {
    let file = try BrineFile(contentsOf: url)
    return try Data(contentsOf: url).prefix(file.headerOffset)
}

@Suite("Metadata")
struct MetadataTests {
    @Test("metadata takes plain Swift values from variables: every integer and float type, String, Bool, arrays, dictionaries, optionals")
    func plainValues() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        let epochs = 20, lr: Float = 0.001, momentum = 0.9, name = "adam", shuffle = true
        let i8: Int8 = -8, i16: Int16 = -16, i32: Int32 = -32, i64: Int64 = -64
        let u8: UInt8 = 8, u16: UInt16 = 16, u32: UInt32 = 32, u64: UInt64 = .max, u: UInt = 7
        let half: Float16 = 0.5
        let sizes = [64, 32, 10], losses: [Double] = [1.5, 0.25], tags = ["a", "b"]
        let counts = ["train": 1437, "test": 360]
        let nested = ["layers": [[1, 2], [3]]]
        let missing: Int? = nil
        try Brine.save(MLP.make([4, 2], seed: 1), to: url, options: SaveOptions(metadata: [
            "epochs": epochs, "lr": lr, "momentum": momentum, "optimizer": name, "shuffle": shuffle,
            "i8": i8, "i16": i16, "i32": i32, "i64": i64, "u8": u8, "u16": u16, "u32": u32, "u64": u64, "u": u,
            "half": half, "sizes": sizes, "losses": losses, "tags": tags, "counts": counts, "nested": nested,
            "missing": missing, "literal": 3, "framework": .string("my-trainer"), "value": Value.list([.int(1)]),
        ]))
        let m = try Brine.metadata(of: url)
        #expect(m["epochs"] == .int(20))
        #expect(m["lr"] == .float32(0.001))
        #expect(m["momentum"] == .float64(0.9))
        #expect(m["optimizer"] == .string("adam"))
        #expect(m["shuffle"] == .bool(true))
        #expect(m["i8"] == .int(-8) && m["i16"] == .int(-16) && m["i32"] == .int(-32) && m["i64"] == .int(-64))
        #expect(m["u8"] == .uint(8) && m["u16"] == .uint(16) && m["u32"] == .uint(32) && m["u64"] == .uint(.max) && m["u"] == .uint(7))
        #expect(m["half"] == .float32(0.5))
        #expect(m["sizes"] == [.int(64), .int(32), .int(10)])
        #expect(m["losses"] == [.float64(1.5), .float64(0.25)])
        #expect(m["tags"] == ["a", "b"])
        #expect(m["counts"] == .map([("test", .int(360)), ("train", .int(1437))]))
        #expect(m["nested"] == .map([("layers", .list([.list([.int(1), .int(2)]), .list([.int(3)])]))]))
        #expect(m["missing"] == .null)
        #expect(m["literal"] == .int(3))
        #expect(m["framework"] == .string("my-trainer"))
        #expect(m["value"] == .list([.int(1)]))
    }

    @Test("any Encodable struct goes into metadata and comes back")
    func encodableStruct() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        let hp = HyperParameters(epochs: 5, learningRate: 3e-4, optimizer: "sgd", betas: [0.9, 0.999], schedule: ["warmup": 100])
        try Brine.save(MLP.make([4, 2], seed: 1), to: url, options: SaveOptions(metadata: ["hyper": try Value(encoding: hp)]))
        let back = try Brine.metadata(of: url)["hyper"]!.decode(HyperParameters.self)
        #expect(back == hp)
        // Or as top-level keys, read back into the struct (brine.* keys are ignored).
        var options = SaveOptions()
        guard case .map(let entries) = try Value(encoding: hp) else { Issue.record("not a map"); return }
        for (k, v) in entries { options.metadata[k] = v }
        try Brine.save(MLP.make([4, 2], seed: 1), to: url, options: options)
        #expect(try Brine.metadata(of: url, as: HyperParameters.self) == hp)
    }

    @Test("SaveOptions(preserving:) keeps a file's user metadata and array options", arguments: [
        SaveOptions(codec: .zstd(level: 7), filter: .shuffle, alignment: 4096, chunkBytes: 1 << 16, storageDType: .float16, metadata: ["epochs": 3, "note": "x"]),
        SaveOptions(codec: .lz4, metadata: ["epochs": 1]),
        SaveOptions(),
    ])
    func preserving(original: SaveOptions) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        let model = Net.make(layers: 2, seed: 21)
        try Brine.save(model, to: url, options: original)
        var options = try SaveOptions(preserving: url)
        #expect(options.codec == original.codec && options.filter == original.filter)
        #expect(options.alignment == original.alignment && options.chunkBytes == original.chunkBytes)
        #expect(options.storageDType == original.storageDType)
        #expect(options.metadata == original.metadata)
        options.metadata["epochs"] = Value(4)
        let out = dir.appendingPathComponent("resaved.brine")
        try Brine.save(try Brine.load(Net.self, from: url), to: out, options: options)
        let a = try BrineFile(contentsOf: url), b = try BrineFile(contentsOf: out)
        #expect(zip(a.arrays, b.arrays).allSatisfy { $0.codec == $1.codec && $0.filter == $1.filter && $0.alignment == $1.alignment && $0.chunkBytes == $1.chunkBytes && $0.storedDType == $1.storedDType && $0.chunks.map(\.checksum) == $1.chunks.map(\.checksum) })
        #expect(b.metadata["epochs"] == .int(4))
        #expect(b.metadata["note"] == a.metadata["note"])
    }

    @Test("saving the handle from Brine.open keeps metadata and options, from any mode")
    func handleSave() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        try Brine.save(Net.make(layers: 2, seed: 22), to: url,
                       options: SaveOptions(codec: .lz4, filter: .shuffle, metadata: ["framework": "mine", "epochs": 1]))
        var handle = try Brine.open(Net.self, from: url, mode: .mmap)
        handle.model.config.dropout = 0.5
        try handle.save(updatingMetadata: ["epochs": 2])
        let m = try Brine.metadata(of: url)
        #expect(m["framework"] == "mine" && m["epochs"] == .int(2))
        #expect(try BrineFile(contentsOf: url).arrays.allSatisfy { $0.codec == .lz4 && $0.filter == .shuffle })
        #expect(try Brine.load(Net.self, from: url).config.dropout == 0.5)
        // The handle's mapped tensors still read the old file's pages: unchanged.
        #expect(handle.model.encoder.layers[0] == (try Brine.load(Net.self, from: url).encoder.layers[0]))

        // A read-write session saves to another file, or replaces its own.
        try Brine.save(Net.make(layers: 1, seed: 23), to: url, options: SaveOptions(metadata: ["epochs": 5]))
        do {
            var rw = try Brine.open(Net.self, from: url, mode: .mmapReadWrite)
            rw.model.head.weight[0, 0] = 42
            try rw.save(to: dir.appendingPathComponent("copy.brine"))
            #expect(try Brine.load(Net.self, from: dir.appendingPathComponent("copy.brine")) == rw.model)
            try rw.save(updatingMetadata: ["epochs": 6])
        }
        #expect(try Brine.load(Net.self, from: url).head.weight[0, 0] == 42)
        #expect(try Brine.metadata(of: url)["epochs"] == .int(6))
    }

    @Test("updateMetadata changes only the metadata: the preamble and data section are byte-identical, every checksum verifies",
          arguments: [Codec.none, .zstd(level: 3)])
    func update(codec: Codec) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        let model = Net.make(layers: 3, seed: 24)
        try Brine.save(model, to: url, options: SaveOptions(codec: codec, metadata: ["epochs": 1, "old": "x"]))
        let before = try BrineFile(contentsOf: url)
        let dataBefore = try dataSection(url)
        let accuracy = 0.97, epochs = 12
        try Brine.updateMetadata(of: url, ["test_accuracy": accuracy, "epochs": epochs], removing: ["old"])
        let after = try BrineFile(contentsOf: url)
        #expect(try dataSection(url) == dataBefore)
        #expect(after.arrays == before.arrays && after.root == before.root)
        #expect(after.formatVersion == before.formatVersion)
        #expect(after.verify().isEmpty)
        #expect(after.metadata["epochs"] == .int(12) && after.metadata["test_accuracy"] == .float64(0.97))
        #expect(after.metadata["old"] == nil)
        for k in ["brine.format", "brine.version", "brine.created", "brine.root_type"] {
            #expect(after.metadata[k] == before.metadata[k], "\(k)")
        }
        #expect(try Brine.load(Net.self, from: url) == model)
        // The closure form, and the reserved prefix refused with the file unchanged.
        try Brine.updateMetadata(of: url) { meta in meta["notes"] = .string("tuned") }
        #expect(try Brine.metadata(of: url)["notes"] == "tuned")
        let bytes = try Data(contentsOf: url)
        let e = #expect(throws: BrineError.self) { try Brine.updateMetadata(of: url, ["brine.root_type": "X"]) }
        #expect(e?.code == .invalidArgument)
        #expect(try Data(contentsOf: url) == bytes)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["m.brine"])
    }

    @Test("updateMetadata refuses a damaged file and leaves it as it was")
    func updateDamaged() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        try Brine.save(Net.make(layers: 1, seed: 25), to: url)
        var bytes = try Data(contentsOf: url)
        bytes[bytes.count - 70] ^= 1                       // inside the header
        try bytes.write(to: url)
        let e = #expect(throws: BrineError.self) { try Brine.updateMetadata(of: url, ["a": 1]) }
        #expect(e?.code == .checksumMismatch)
        #expect(try Data(contentsOf: url) == bytes)
    }
}
