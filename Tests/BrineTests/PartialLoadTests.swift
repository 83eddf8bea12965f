import Foundation
import Testing
@testable import Brine
import BrineTestSupport

// Models with a configuration and several sub-modules, and types that read
// only part of them.

struct NetConfig: Codable, Equatable {
    var name: String
    var hidden: Int
    var dropout: Double
}

struct NetBlock: Codable, Equatable {
    var weight: Tensor<Float>
    var bias: [Float]
}

struct NetEncoder: Codable, Equatable {
    var layers: [NetBlock]
}

struct Net: Codable, Equatable {
    var config: NetConfig
    var encoder: NetEncoder
    var head: NetBlock

    /// `layers` blocks of `n`×`n` float32 (n = 256: 256 KiB each) and a head.
    static func make(layers: Int, n: Int = 256, seed: UInt64) -> Net {
        var rng = SplitMix64(seed: seed)
        func block(_ rows: Int, _ cols: Int) -> NetBlock {
            let w = (0 ..< rows * cols).map { _ in Float.random(in: -1 ... 1, using: &rng) }
            let b = (0 ..< rows).map { _ in Float.random(in: -1 ... 1, using: &rng) }
            return NetBlock(weight: try! Tensor(shape: [rows, cols], scalars: w), bias: b)
        }
        return Net(config: NetConfig(name: "net", hidden: n, dropout: 0.1),
                   encoder: NetEncoder(layers: (0 ..< layers).map { _ in block(n, n) }),
                   head: block(10, n))
    }
}

/// A model with arrays at the top level beside a configuration and a sub-module.
struct RootedNet: Codable, Equatable {
    var embed: Tensor<Float>
    var config: NetConfig
    var scale: [Float]
    var block: NetBlock
    var position: Tensor<Float>
}

extension RootedNet {
    /// Three small top-level arrays, a configuration and a two-array sub-module.
    static func make(seed: UInt64) -> RootedNet {
        let net = Net.make(layers: 2, n: 16, seed: seed)
        return RootedNet(embed: net.encoder.layers[0].weight, config: net.config, scale: net.head.bias,
                         block: net.head, position: net.encoder.layers[1].weight)
    }
}

/// Reads one top-level array of a ``RootedNet``.
struct RootedEmbedOnly: Decodable { var embed: Tensor<Float> }

/// Reads only the sub-module of a ``RootedNet``.
struct RootedBlockOnly: Decodable { var block: NetBlock }

/// Reads only the configuration.
struct NetConfigOnly: Decodable, Equatable { var config: NetConfig }

/// Reads the configuration and the head only.
struct NetHeadOnly: Decodable { var config: NetConfig; var head: NetBlock }

/// Swallows errors of its weight with `try?`: a load must still fail.
struct SwallowingBlock: Decodable {
    var weight: Tensor<Float>?
    enum CodingKeys: String, CodingKey { case weight }
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        weight = try? c.decode(Tensor<Float>.self, forKey: .weight)
    }
}

/// Reads a ``RootedNet``'s sub-module weight through `nestedContainer` (no
/// nested type, so no prefetch scope of its own).
struct RootedBlockWeightViaNested: Decodable {
    var weight: Tensor<Float>
    enum Keys: String, CodingKey { case block }
    enum BlockKeys: String, CodingKey { case weight }
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        weight = try c.nestedContainer(keyedBy: BlockKeys.self, forKey: .block).decode(Tensor<Float>.self, forKey: .weight)
    }
}

/// Reads a ``RootedNet``'s sub-module weight through `superDecoder(forKey:)`.
struct RootedBlockWeightViaSuper: Decodable {
    var weight: Tensor<Float>
    enum Keys: String, CodingKey { case block }
    enum BlockKeys: String, CodingKey { case weight }
    init(from decoder: any Decoder) throws {
        let block = try decoder.container(keyedBy: Keys.self).superDecoder(forKey: .block)
        weight = try block.container(keyedBy: BlockKeys.self).decode(Tensor<Float>.self, forKey: .weight)
    }
}

/// Reads only the weight of a ``NetBlock``.
struct NetBlockWeightOnly: Decodable { var weight: Tensor<Float> }

/// Decodes the whole of `file` as `type` through a lazy loader, returning
/// the loader too, which reports what was read (``LazyArrayLoader/loadedCount``,
/// ``LazyArrayLoader/batchCount``).
func decodeLazily<T: Decodable>(_ type: T.Type, from file: BrineFile) throws -> (T, LazyArrayLoader) {
    let loader = LazyArrayLoader(file: file, startDepth: 0)
    let state = DecodingState(slots: [], paths: nil, filePath: file.path, userInfo: [:])
    state.lazy = loader
    let value = try BrineDecodingImpl(state: state, value: file.root, node: .root).unwrap(T.self, from: file.root, at: .root)
    return (value, loader)
}

/// Flips one byte of the first chunk of each array whose path satisfies `which`.
func damageArrays(_ url: URL, where which: (String) -> Bool) throws -> [String] {
    let file = try BrineFile(contentsOf: url)
    var damaged: [String] = []
    let h = try FileHandle(forUpdating: url)
    defer { try? h.close() }
    for a in file.arrays where which(a.path) && a.chunkCount > 0 {
        let offset = UInt64(a.chunks[0].offset + a.chunks[0].storedBytes / 2)
        try h.seek(toOffset: offset)
        let b = try #require(try h.read(upToCount: 1))
        try h.seek(toOffset: offset)
        try h.write(contentsOf: [b[0] ^ 0x5A])
        damaged.append(a.path)
    }
    return damaged
}

@Suite("Partial loads")
struct PartialLoadTests {
    @Test("a config-only struct reads no array bytes: it loads from a file whose every array is damaged, where a full load fails",
          arguments: [Codec.none, .lz4])
    func configOnly(codec: Codec) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("net.brine")
        let model = Net.make(layers: 16, seed: 1)          // 16 × 256 KiB + head: about 4.3 MB of arrays
        try Brine.save(model, to: url, options: SaveOptions(codec: codec, chunkBytes: 64 << 10, inlineThreshold: 0))
        let damaged = try damageArrays(url) { _ in true }
        #expect(damaged.count == 34)

        for mode in [LoadMode.copy, .mmap] {
            var options = ReadOptions()
            options.verifyMappedArrays = true              // views are verified too, so touching one would fail
            let config = try Brine.load(NetConfigOnly.self, from: url, mode: mode, options: options)
            #expect(config.config == model.config)
            let error = #expect(throws: BrineError.self) { try Brine.load(Net.self, from: url, mode: mode, options: options) }
            #expect(error?.code == .checksumMismatch)
        }
        // The loader itself reports what it read.
        let file = try BrineFile(contentsOf: url)
        let (_, loader) = try decodeLazily(NetConfigOnly.self, from: file)
        #expect(loader.loadedCount == 0)
    }

    @Test("a struct that reads one sub-module reads only that sub-module's arrays")
    func oneSubmodule() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("net.brine")
        let model = Net.make(layers: 6, seed: 2)
        try Brine.save(model, to: url, options: SaveOptions(inlineThreshold: 0))
        let damaged = try damageArrays(url) { $0.hasPrefix("encoder.") }
        #expect(damaged.count == 12)
        for mode in [LoadMode.copy, .mmap] {
            let part = try Brine.load(NetHeadOnly.self, from: url, mode: mode)
            #expect(part.head == model.head && part.config == model.config)
            #expect(part.head.weight.isView == (mode == .mmap))
        }
        #expect(throws: BrineError.self) { try Brine.load(Net.self, from: url) }
    }

    @Test("a full load still loads every array, each sub-tree in one parallel batch", arguments: [Codec.none, .zstd(level: 1)])
    func fullLoad(codec: Codec) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("net.brine")
        let model = Net.make(layers: 4, seed: 3)
        try Brine.save(model, to: url, options: SaveOptions(codec: codec, inlineThreshold: 0))
        for mode in [LoadMode.copy, .mmap, .mmapCopyOnWrite] {
            #expect(try Brine.load(Net.self, from: url, mode: mode) == model)
        }
        let file = try BrineFile(contentsOf: url)
        let (back, loader) = try decodeLazily(Net.self, from: file)
        #expect(back == model)
        #expect(loader.loadedCount == file.arrays.count)
    }

    @Test("arrays the top-level struct holds itself load in one batch, without its sub-modules' arrays",
          arguments: [LoadMode.copy, .mmap])
    func topLevelArraysInOneBatch(mode: LoadMode) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("rooted.brine")
        let model = RootedNet.make(seed: 9)
        try Brine.save(model, to: url, options: SaveOptions(inlineThreshold: 0))
        let file = try BrineFile(contentsOf: url, mode: mode)
        // A full load: the three top-level arrays in one batch (they were
        // three batches, one per field), the sub-module's two in another.
        let (back, full) = try decodeLazily(RootedNet.self, from: file)
        #expect(back == model)
        #expect(full.loadedCount == 5)
        #expect(full.batchCount == 2)
        // A type reading one top-level array reads the other two with it, not the sub-module's.
        let (embed, shallow) = try decodeLazily(RootedEmbedOnly.self, from: file)
        #expect(embed.embed == model.embed)
        #expect(shallow.loadedCount == 3)
        #expect(shallow.batchCount == 1)
        // A type reading only the sub-module reads only its arrays.
        let (block, sub) = try decodeLazily(RootedBlockOnly.self, from: file)
        #expect(block.block == model.block)
        #expect(sub.loadedCount == 2)
        // So damaging the sub-module's arrays does not fail a top-level read.
        _ = try damageArrays(url) { $0.hasPrefix("block.") }
        var options = ReadOptions()
        options.verifyMappedArrays = true
        #expect(try Brine.load(RootedEmbedOnly.self, from: url, mode: mode, options: options).embed == model.embed)
        let error = #expect(throws: BrineError.self) { try Brine.load(RootedNet.self, from: url, mode: mode, options: options) }
        #expect(error?.code == .checksumMismatch)
    }

    @Test("a sub-module reached through nestedContainer or superDecoder reads only its own arrays, not the top level's",
          arguments: [LoadMode.copy, .mmap])
    func subModuleWithoutNestedType(mode: LoadMode) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("rooted.brine")
        let model = RootedNet.make(seed: 10)
        try Brine.save(model, to: url, options: SaveOptions(inlineThreshold: 0))
        #expect(Set(try damageArrays(url) { !$0.hasPrefix("block.") }) == ["embed", "scale", "position"])
        var options = ReadOptions()
        options.verifyMappedArrays = true
        #expect(try Brine.load(RootedBlockWeightViaNested.self, from: url, mode: mode, options: options).weight == model.block.weight)
        #expect(try Brine.load(RootedBlockWeightViaSuper.self, from: url, mode: mode, options: options).weight == model.block.weight)
    }

    @Test("the top-level batch is a prefetch: a damaged sibling, or one over the allocation cap, does not fail an array it did not ask for",
          arguments: [LoadMode.copy, .mmap])
    func topLevelPrefetchFailures(mode: LoadMode) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("rooted.brine")
        let model = RootedNet.make(seed: 11)
        try Brine.save(model, to: url, options: SaveOptions(inlineThreshold: 0))
        #expect(Set(try damageArrays(url) { $0 == "position" || $0 == "block.bias" }) == ["position", "block.bias"])
        var options = ReadOptions()
        options.verifyMappedArrays = true
        // `embed` loads although the batch it starts holds the damaged `position`.
        #expect(try Brine.load(RootedEmbedOnly.self, from: url, mode: mode, options: options).embed == model.embed)
        // The same one level down: load(at:) of the block, reading its weight only.
        #expect(try Brine.load(NetBlockWeightOnly.self, from: url, at: "block", mode: mode, options: options).weight == model.block.weight)
        // Reading the damaged array itself still fails, by its own name.
        let error = #expect(throws: BrineError.self) { try Brine.load(RootedNet.self, from: url, mode: mode, options: options) }
        #expect(error?.code == .checksumMismatch)

        // A cap that holds `embed` (1 KiB) but not `embed` with `position` and `scale`.
        let capped = dir.appendingPathComponent("capped.brine")
        try Brine.save(model, to: capped, options: SaveOptions(inlineThreshold: 0))
        var small = ReadOptions()
        small.limits.maxAllocationBytes = model.embed.count * 4 + 100
        #expect(try Brine.load(RootedEmbedOnly.self, from: capped, mode: .copy, options: small).embed == model.embed)
        let over = #expect(throws: BrineError.self) { try Brine.load(RootedNet.self, from: capped, mode: .copy, options: small) }
        #expect(over?.code == .limitExceeded)
    }

    @Test("load(at:) returns the sub-module at a coding path, through maps and lists, in copy and mmap modes")
    func loadAt() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("net.brine")
        let model = Net.make(layers: 5, seed: 4)
        try Brine.save(model, to: url, options: SaveOptions(inlineThreshold: 0))
        // Damage every other array: a sub-tree load must not touch them.
        _ = try damageArrays(url) { !$0.hasPrefix("encoder.layers.3.") }
        for mode in [LoadMode.copy, .mmap] {
            var options = ReadOptions()
            options.verifyMappedArrays = true
            let block = try Brine.load(NetBlock.self, from: url, at: "encoder.layers.3", mode: mode, options: options)
            #expect(block == model.encoder.layers[3])
            #expect(block.weight.isView == (mode == .mmap))
            let w = try Brine.load(Tensor<Float>.self, from: url, at: "encoder.layers.3.weight", mode: mode, options: options)
            #expect(w == model.encoder.layers[3].weight)
            let config = try Brine.load(NetConfig.self, from: url, at: "config", mode: mode)
            #expect(config == model.config)
            let hidden = try Brine.load(Int.self, from: url, at: "config.hidden", mode: mode)
            #expect(hidden == model.config.hidden)
        }
        #expect(throws: BrineError.self) { try Brine.load(NetBlock.self, from: url, at: "encoder.layers.2") }
    }

    @Test("load(at:) of a state dict finds keys that contain dots")
    func stateDictKeys() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("sd.brine")
        var sd: [String: Tensor<Float>] = [:]
        for i in 0 ..< 3 {
            sd["encoder.layer.\(i).attention.self.query.weight"] = try Tensor(shape: [4, 4], scalars: (0 ..< 16).map { Float($0 + 100 * i) })
        }
        try Brine.save(sd, to: url, options: SaveOptions(inlineThreshold: 0))
        let t = try Brine.load(Tensor<Float>.self, from: url, at: "encoder.layer.1.attention.self.query.weight")
        #expect(t == sd["encoder.layer.1.attention.self.query.weight"])
        #expect(try Brine.load([String: Tensor<Float>].self, from: url) == sd)
    }

    @Test("a path that names nothing is a typed error naming the path",
          arguments: ["encoder.layers.9", "encoder.layer", "config.hidden.x", "head.weights", "encoder.layers.-1", "nope"])
    func badPath(path: String) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("net.brine")
        try Brine.save(Net.make(layers: 2, n: 8, seed: 5), to: url)
        for mode in [LoadMode.copy, .mmap] {
            let error = #expect(throws: BrineError.self) { try Brine.load(NetBlock.self, from: url, at: path, mode: mode) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.arrayPath == path)
            #expect(error?.message.contains("'\(path)'") == true)
        }
        let data = try Data(contentsOf: url)
        let error = #expect(throws: BrineError.self) { try Brine.decode(NetBlock.self, from: data, at: path) }
        #expect(error?.arrayPath == path)
    }

    @Test("a damaged array fails the load even when the model's init swallows the error with try?")
    func swallowedErrors() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("net.brine")
        try Brine.save(Net.make(layers: 1, n: 64, seed: 6), to: url, options: SaveOptions(inlineThreshold: 0))
        _ = try damageArrays(url) { $0 == "head.weight" }
        let error = #expect(throws: BrineError.self) { try Brine.load(SwallowingBlock.self, from: url, at: "head") }
        #expect(error?.code == .checksumMismatch)
        #expect(error?.arrayPath == "head.weight")
    }

    @Test("the allocation cap applies to the sum of the arrays one decode loads")
    func allocationCap() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("net.brine")
        let model = Net.make(layers: 3, n: 64, seed: 7)            // 3 × 16 KiB + head
        try Brine.save(model, to: url, options: SaveOptions(inlineThreshold: 0))
        var options = ReadOptions()
        options.limits.maxAllocationBytes = 40_000
        #expect(try Brine.load(NetBlock.self, from: url, at: "encoder.layers.0", options: options) == model.encoder.layers[0])
        let error = #expect(throws: BrineError.self) { try Brine.load(Net.self, from: url, options: options) }
        #expect(error?.code == .limitExceeded)
    }
}

@Suite("Partial loads: paths")
struct PartialLoadPathTests {
    @Test("a very long path is refused quickly with a typed error, however many components it has")
    func longPath() throws {
        let data = try Brine.encode(Net.make(layers: 2, n: 8, seed: 8))
        let path = String(repeating: "config.", count: 200_000) + "x"
        let e = #expect(throws: BrineError.self) { try Brine.decode(NetConfig.self, from: data, at: path) }
        #expect(e?.code == .invalidArgument)
        let dots = String(repeating: ".", count: 500_000)
        #expect(throws: BrineError.self) { try Brine.decode(NetConfig.self, from: data, at: dots) }
    }

    @Test("escaped components name keys that contain dots or percent signs, and the empty key")
    func escapedComponents() throws {
        let dict: [String: [String: Int]] = ["a.b": ["x": 1], "a": ["b": 2], "50%": ["y": 3], "": ["z": 4]]
        let data = try Brine.encode(dict)
        #expect(try Brine.decode(Int.self, from: data, at: "a%2Eb.x") == 1)
        #expect(try Brine.decode(Int.self, from: data, at: "a.b.x") == 1)      // the longest key wins
        #expect(try Brine.decode([String: Int].self, from: data, at: "a.b") == ["x": 1])
        #expect(try Brine.decode(Int.self, from: data, at: "a%2Eb.x") == 1)
        #expect(try Brine.decode(Int.self, from: data, at: "50%25.y") == 3)
        #expect(try Brine.decode(Int.self, from: data, at: "%00.z") == 4)
        #expect(try Brine.decode([String: [String: Int]].self, from: data, at: "") == dict)
    }
}
