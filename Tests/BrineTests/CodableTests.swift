import Foundation
import Testing
@testable import Brine

@Suite("Codable round trips")
struct CodableRoundTripTests {
    static let codecs: [Codec] = [.none, .lz4, .zstd(level: 3)]
    static let modes: [LoadMode] = [.copy, .mmap, .mmapCopyOnWrite, .mmapReadWrite]
    /// 0: every array out of line; 4096: the default; Int.max: every array inline.
    static let thresholds = [0, 4096, Int.max]

    @Test("a model using every Codable feature round-trips in every mode", arguments: codecs, thresholds)
    func everything(codec: Codec, threshold: Int) throws {
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("everything.brine")
        let model = Everything.make(seed: 7)
        try Brine.save(model, to: url, options: SaveOptions(codec: codec, filter: .shuffle, inlineThreshold: threshold))
        for mode in Self.modes {
            let back = try Brine.open(Everything.self, from: url, mode: mode).model
            #expect(back == model, "mode \(mode)")
            // Nested optionals keep their level.
            #expect(back.doubleSomeNil == .some(nil))
            #expect(back.doubleNil == nil)
            #expect(back.tripleSomeSomeNil == .some(.some(nil)))
            #expect(back.doubleOptionalList == [.some(.some(1)), .some(nil), nil])
        }
        let file = try BrineFile(contentsOf: url)
        switch threshold {
        case 0:
            // Every caught array is out of line, empty ones included.
            #expect(file.arrayPaths.contains("empty"))
            #expect(file.arrayPaths.contains("rank0"))
            #expect(file.arrayPaths.contains("data"))
            // A ragged nested array: flat values plus row lengths (format 1.1).
            #expect(file.arrayPaths.contains("grid.values") && file.arrayPaths.contains("grid.lengths.0"))
        case Int.max:
            #expect(file.arrays.isEmpty)
        default:
            #expect(file.arrays.allSatisfy { $0.count * $0.dtype.itemSize >= 4096 })
            #expect(!file.arrayPaths.contains("small"))
        }
    }

    @Test("array paths follow the coding path and stay unique for odd keys")
    func arrayPaths() throws {
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("paths.brine")
        try Brine.save(Everything.make(seed: 1), to: url)
        let paths = Set(try BrineFile(contentsOf: url).arrayPaths)
        let expected: Set<String> = [
            "big", "f16", "bools", "i16", "u8", "u32", "i64", "ints", "contiguous", "bigData",
            "tensorF", "tensorB", "tensorH", "tensorU8", "any",
            "inner.weight", "layers.0.weight", "inner.deeper.0.values", "inner.deeper.1.codes",
            "grid.values", "byName.encoder", "byIndex.3", "byKind.input",
            // Keys kept as they are: no two names collide (docs/FORMAT.md, "Array names").
            "oddKeys.a.b", "oddKeys.", "oddKeys.%", "oddKeys.a%2Eb",
            "activation.custom.table", "someArray", "box.values", "derived.super.baseWeights",
        ]
        #expect(paths == expected)
    }

    @Test("Tensor fields are zero-copy views of the mapping; Swift arrays are copies")
    func zeroCopyViews() throws {
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("mlp.brine")
        let model = MLP.make([300, 200, 10], seed: 3)
        try Brine.save(model, to: url)
        for mode in [LoadMode.mmap, .mmapCopyOnWrite, .mmapReadWrite] {
            let handle = try Brine.open(MLP.self, from: url, mode: mode)
            let mapping = try #require(handle.file.mapping)
            let range = UInt(bitPattern: mapping.baseAddress!) ..< UInt(bitPattern: mapping.baseAddress! + mapping.byteCount)
            for (i, layer) in handle.model.layers.enumerated() {
                #expect(layer.weight.isView, "layer \(i) weight in \(mode)")
                #expect(range.contains(UInt(bitPattern: layer.weight.storage.baseAddress)))
                let info = try #require(handle.file.info("layers.\(i).weight"))
                #expect(layer.weight.storage.baseAddress == mapping.baseAddress! + info.dataOffset)
            }
            #expect(handle.model == model)
        }
        let copied = try Brine.load(MLP.self, from: url, mode: .copy)
        #expect(copied.layers.allSatisfy { !$0.weight.isView })
        // A compressed file gives owned tensors even when mapped.
        try Brine.save(model, to: url, options: SaveOptions(codec: .lz4))
        let mappedCompressed = try Brine.load(MLP.self, from: url, mode: .mmap)
        #expect(mappedCompressed.layers.allSatisfy { !$0.weight.isView })
        #expect(mappedCompressed == model)
    }

    @Test("the object tree holds the structure; the metadata has brine.root_type and user keys")
    func treeAndMetadata() throws {
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("m.brine")
        let model = MLP.make([100, 50, 3], seed: 9)
        try Brine.save(model, to: url, options: SaveOptions(metadata: ["framework": "tests", "epochs": 12, "accuracy": 0.97, "tuned": true]))
        let meta = try Brine.metadata(of: url)
        #expect(meta["brine.root_type"] == .string(String(reflecting: MLP.self)))
        #expect(meta["brine.format"] == .string("1.1"))
        #expect(meta["framework"] == "tests")
        #expect(meta["epochs"] == .int(12))
        #expect(meta["accuracy"] == .float64(0.97))
        #expect(meta["tuned"] == .bool(true))
        let file = try BrineFile(contentsOf: url)
        #expect(file.root["learningRate"] == .float64(0.01))
        #expect(file.root["epoch"] == .int(3))
        guard case .list(let layers)? = file.root["layers"], case .arrayRef(let w0)? = layers[0]["weight"] else {
            Issue.record("unexpected tree \(file.root)")
            return
        }
        #expect(file.arrays[w0].path == "layers.0.weight")
        // The small bias stays inline as a list of float32 values.
        guard case .list(let bias)? = layers[1]["bias"] else {
            Issue.record("bias is not inline")
            return
        }
        #expect(bias == model.layers[1].bias.map { .float32($0) })
        #expect(throws: BrineError.self) {
            try Brine.save(model, to: url, options: SaveOptions(metadata: ["brine.version": "mine"]))
        }
    }

    @Test("10,000 tiny arrays, inline and out of line", arguments: [0, 4096])
    func manyTinyArrays(threshold: Int) throws {
        struct Many: Codable, Equatable {
            var rows: [[Float]]
            var tensors: [Tensor<Int32>]
        }
        let many = Many(
            rows: (0 ..< 10_000).map { [Float($0), -Float($0), 0.5] },
            tensors: (0 ..< 10_000).map { Tensor([Int32($0)]) })
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("many.brine")
        try Brine.save(many, to: url, options: SaveOptions(codec: .lz4, inlineThreshold: threshold))
        let file = try BrineFile(contentsOf: url)
        // The rows are one 10,000 × 3 array (format 1.1): 30,000 floats cost
        // more than the inline threshold.
        #expect(file.arrays.count == (threshold == 0 ? 10_001 : 1))
        #expect(file.info("rows")?.shape == [10_000, 3])
        if threshold == 0 { #expect(file.info("tensors.123") != nil) }
        #expect(try Brine.load(Many.self, from: url) == many)
        #expect(try Brine.load(Many.self, from: url, mode: .mmap) == many)
    }

    @Test("float special values are bit-exact, inline and out of line", arguments: [0, Int.max])
    func floatSpecials(threshold: Int) throws {
        struct Specials: Codable {
            var f: [Float]
            var d: [Double]
            var h: [Float16]
            var bh: [BFloat16]
            var tf: Tensor<Float>
            var th: Tensor<Float16>
            var sf: [Float]    // scalars below, one by one in the tree
            var scalarF: Float
            var scalarD: Double
            var scalarH: Float16
            var scalarBH: BFloat16
        }
        let f: [Float] = [
            .nan, -.nan, Float(bitPattern: 0x7FC0_1234), Float(bitPattern: 0x7F80_0001), Float(bitPattern: 0xFFBF_FFFF),
            -0.0, 0.0, .infinity, -.infinity, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
            .leastNormalMagnitude.nextDown, .greatestFiniteMagnitude, Float(bitPattern: 0x0001_1234),
        ]
        let d: [Double] = [
            .nan, Double(bitPattern: 0x7FF0_0000_0000_0001), Double(bitPattern: 0xFFF8_0000_DEAD_BEEF), -0.0,
            .infinity, -.infinity, .leastNonzeroMagnitude, .leastNormalMagnitude.nextDown, Double(bitPattern: 0x0000_0000_0BAD_F00D),
        ]
        let h: [Float16] = [0x7C01, 0x7E00, 0xFC01, 0x7DFF, 0x8000, 0x0000, 0x7C00, 0xFC00, 0x0001, 0x03FF, 0x7BFF]
            .map { Float16(bitPattern: $0) }
        let bh: [BFloat16] = [0x7F81, 0x7FC0, 0xFF81, 0x8000, 0x7F80, 0xFF80, 0x0001, 0x007F]
            .map { BFloat16(bitPattern: $0) }
        let model = Specials(
            f: f, d: d, h: h, bh: bh, tf: try Tensor(shape: [2, 7], scalars: f), th: try Tensor(shape: [11], scalars: h),
            sf: f, scalarF: Float(bitPattern: 0x7F80_0001), scalarD: Double(bitPattern: 0x7FF0_0000_0000_0001),
            scalarH: Float16(bitPattern: 0x7C01), scalarBH: BFloat16(bitPattern: 0x7F81))
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("s.brine")
        try Brine.save(model, to: url, options: SaveOptions(inlineThreshold: threshold))
        for mode in [LoadMode.copy, .mmap] {
            let back = try Brine.load(Specials.self, from: url, mode: mode)
            #expect(bits(back.f) == bits(f))
            #expect(bits(back.d) == bits(d))
            #expect(bits(back.h) == bits(h))
            #expect(bits(back.bh) == bits(bh))
            #expect(back.tf.bitwiseEqual(model.tf))
            #expect(back.th.bitwiseEqual(model.th))
            #expect(back.scalarF.bitPattern == model.scalarF.bitPattern)
            #expect(back.scalarD.bitPattern == model.scalarD.bitPattern)
            #expect(back.scalarH.bitPattern == 0x7C01)
            #expect(back.scalarBH.bitPattern == 0x7F81)
        }
    }

    @Test("the encoder writes the caller's buffers: no copy of array data on save")
    func noCopyOnSave() throws {
        // A sink that records the address of every array's bytes.
        final class AddressSink: ArraySink {
            var addresses: [String: UnsafeRawPointer] = [:]
            var takenPaths: [String] { [] }
            func append(_ bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int], path: String, original: () -> ArraySlot) throws -> Int {
                addresses[path] = bytes.baseAddress
                return addresses.count - 1
            }
        }
        struct Holder: Codable {
            var t: Tensor<Float>
            var a: [Double]
            var c: ContiguousArray<Int32>
        }
        let h = Holder(t: try Tensor(zeros: [100, 100]), a: Array(repeating: 1, count: 5000), c: ContiguousArray(repeating: 2, count: 5000))
        let sink = AddressSink()
        _ = try BrineEncoder().encode(h, sink: sink, threshold: 0)
        #expect(sink.addresses["t"] == UnsafeRawPointer(h.t.storage.baseAddress))
        h.a.withUnsafeBytes { #expect(sink.addresses["a"] == $0.baseAddress) }
        h.c.withUnsafeBytes { #expect(sink.addresses["c"] == $0.baseAddress) }
    }
}

@Suite("Codable errors")
struct CodableErrorTests {
    struct WrongDense: Codable {
        var weight: Tensor<Float>
        var bias: String
    }
    struct WrongMLP: Codable {
        var layers: [WrongDense]
        var learningRate: Double
        var epoch: Int
    }
    struct ExtraKey: Codable {
        var layers: [Dense]
        var momentum: Double
    }
    struct DoubleWeights: Codable {
        struct Layer: Codable { var weight: Tensor<Double> }
        var layers: [Layer]
    }
    struct NarrowEpoch: Codable {
        var epoch: UInt8
    }

    func savedMLP(_ name: String = #function) throws -> URL {
        let url = makeTemporaryDirectory(name).appendingPathComponent("mlp.brine")
        var model = MLP.make([40, 30, 2], seed: 1)
        model.epoch = 300
        try Brine.save(model, to: url)
        return url
    }

    func pathString(_ path: [any CodingKey]) -> String {
        path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }

    @Test("decoding into a mismatched type throws DecodingError.typeMismatch with the coding path")
    func typeMismatch() throws {
        let url = try savedMLP()
        let error = try #require(modelMismatch { _ = try Brine.load(WrongMLP.self, from: url) })
        guard case .typeMismatch(_, let context) = error else { Issue.record("\(error)"); return }
        #expect(pathString(context.codingPath) == "layers.0.bias")
    }

    @Test("a missing key throws DecodingError.keyNotFound")
    func missingKey() throws {
        let url = try savedMLP()
        let error = try #require(modelMismatch { _ = try Brine.load(ExtraKey.self, from: url) })
        guard case .keyNotFound(let key, let context) = error else { Issue.record("\(error)"); return }
        #expect(key.stringValue == "momentum")
        #expect(context.codingPath.isEmpty)
    }

    @Test("an array of the wrong dtype throws DecodingError with an underlying dtypeMismatch")
    func wrongDType() throws {
        let url = try savedMLP()
        let error = try #require(modelMismatch { _ = try Brine.load(DoubleWeights.self, from: url, mode: .mmap) })
        guard case .typeMismatch(_, let context) = error else { Issue.record("\(error)"); return }
        #expect(pathString(context.codingPath) == "layers.0.weight")
        let underlying = try #require(context.underlyingError as? BrineError)
        #expect(underlying.code == .dtypeMismatch)
        #expect(underlying.arrayPath == "layers.0.weight")
        #expect(underlying.message.contains("float32") && underlying.message.contains("float64"))
    }

    @Test("a number out of range throws DecodingError.dataCorrupted")
    func outOfRange() throws {
        let url = try savedMLP()
        let error = try #require(modelMismatch { _ = try Brine.load(NarrowEpoch.self, from: url) })
        guard case .dataCorrupted(let context) = error else { Issue.record("\(error)"); return }
        #expect(pathString(context.codingPath) == "epoch")
    }

    @Test("a header claiming absurd nesting depth is a clear error, never a crash", arguments: [300, 1_000_000])
    func absurdNesting(depth: Int) throws {
        // Hand-made file: the root is `depth` nested one-element lists (two
        // bytes per level), with valid checksums, so only the depth is wrong.
        var header: [UInt8] = [0x09, 0x00, 0x00]  // empty metadata map, no arrays
        header.reserveCapacity(3 + 2 * depth + 1)
        for _ in 0 ..< depth { header.append(contentsOf: [0x08, 0x01]) }
        header.append(0x00)
        let trailer = Trailer(
            headerOffset: UInt64(FormatSpec.preambleSize), headerLength: UInt64(header.count),
            headerChecksum: Checksum.xxh3(header),
            fileLength: UInt64(FormatSpec.preambleSize + header.count + FormatSpec.trailerSize))
        let url = makeTemporaryDirectory().appendingPathComponent("deep.brine")
        try Data(Preamble.encoded() + header + trailer.encoded()).write(to: url)
        for mode in [LoadMode.copy, .mmap] {
            do {
                _ = try Brine.load(MLP.self, from: url, mode: mode)
                Issue.record("loaded a \(depth)-deep tree")
            } catch let e as BrineError {
                #expect(e.code == .limitExceeded)
                #expect(e.message.contains("deeper than 256"))
            }
        }
    }

    indirect enum Chain: Codable {
        case end
        case link(Chain)
        static func of(_ n: Int) -> Chain { (0 ..< n).reduce(.end) { c, _ in .link(c) } }
    }

    @Test("a model nested deeper than the reader allows fails to save and leaves the previous file intact")
    func tooDeepToSave() throws {
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("chain.brine")
        try Brine.save(Chain.of(100), to: url)  // 200 levels: fine
        let before = try Data(contentsOf: url)
        do {
            try Brine.save(Chain.of(200), to: url)
            Issue.record("saved 400 levels")
        } catch EncodingError.invalidValue(_, let context) {
            #expect(context.debugDescription.contains("nests"))
            #expect(context.codingPath.count >= 256)
        }
        #expect(try Data(contentsOf: url) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["chain.brine"])
        _ = try Brine.load(Chain.self, from: url)
    }

    struct Failing: Encodable {
        var weights: [Float]
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: BrineCodingKey.self)
            try c.encode(weights, forKey: BrineCodingKey(stringValue: "weights"))
            throw EncodingError.invalidValue(weights, .init(codingPath: encoder.codingPath, debugDescription: "boom"))
        }
    }

    @Test("a save whose encoding fails after writing arrays leaves the previous file and no temporary")
    func failedSaveKeepsPreviousFile() throws {
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("model.brine")
        let model = MLP.make([64, 64, 4], seed: 2)
        try Brine.save(model, to: url)
        let before = try Data(contentsOf: url)
        #expect(throws: EncodingError.self) {
            try Brine.save(Failing(weights: Array(repeating: 1, count: 100_000)), to: url)
        }
        #expect(try Data(contentsOf: url) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["model.brine"])
        #expect(try Brine.load(MLP.self, from: url) == model)
    }

    @Test("a hostile tree (array reference where a struct is expected, bool byte 2) is a DecodingError")
    func hostileTree() throws {
        let url = makeTemporaryDirectory().appendingPathComponent("h.brine")
        let w = try BrineWriter(url: url)
        let i = try w.append([UInt8](repeating: 2, count: 10), arrayPath: "flags")
        // "flags" written as uint8 but decoded as [Bool] must not become invalid Bools.
        struct Flags: Codable { var flags: [UInt8] }
        try w.finish(root: .map([("layers", .arrayRef(i)), ("flags", .arrayRef(i))]))
        #expect(modelMismatch { _ = try Brine.load(MLP.self, from: url) } != nil)
        #expect(try Brine.load(Flags.self, from: url).flags == Array(repeating: 2, count: 10))

        let url2 = makeTemporaryDirectory().appendingPathComponent("b.brine")
        let w2 = try BrineWriter(url: url2)
        let j = try [UInt8](repeating: 2, count: 4).withUnsafeBytes { b in
            try w2.append(bytes: b, dtype: .bool, shape: [4], arrayPath: "b")
        }
        try w2.finish(root: .map([("b", .arrayRef(j))]))
        struct Bools: Codable { var b: [Bool] }
        struct BoolTensor: Codable { var b: Tensor<Bool> }
        let error = try #require(modelMismatch { _ = try Brine.load(Bools.self, from: url2) })
        guard case .dataCorrupted(let context) = error else { Issue.record("\(error)"); return }
        #expect(context.debugDescription.contains("only 0 and 1"))
        #expect(modelMismatch { _ = try Brine.load(BoolTensor.self, from: url2, mode: .mmap) } != nil)
    }
}
