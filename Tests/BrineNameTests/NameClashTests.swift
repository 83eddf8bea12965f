import Brine
import Foundation
import Testing

// A user module's own types with the generic names Brine exports. Declared at
// module level they hide Brine's (a module's own declarations win over
// imported ones), so this module must reach Brine's through the `Brine`
// enum's aliases: that it compiles is the test; the test below checks the
// aliases name Brine's types. (Its own test target: in BrineTests these
// declarations would hide Brine's names from every other test.)

struct Value: Equatable { var x = 1 }
struct Tensor { var name = "user tensor" }
struct Shape { var rank = 0 }
struct Filter { var keep = true }
struct ChunkFilter { var on = false }
struct DType { var bits = 8 }
struct Codec {}
struct Weights {}

struct Model: Codable, Equatable {
    var weight: Brine.Tensor<Float>
    var bias: [Float]
}

@Suite("Names a user module can write")
struct NameClashTests {
    @Test("Brine.Tensor, Brine.Value, Brine.Shape, Brine.ChunkFilter, … name Brine's types beside the user's own of the same name")
    func brineNamesBesideUserNames() throws {
        let mine = (Value(), Tensor(), Shape(), Filter(), ChunkFilter(), DType(), Codec(), Weights())
        #expect(mine.0 == Value(x: 1) && mine.1.name == "user tensor")

        let t = try Brine.Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        #expect(Brine.Shape.elementCount(t.shape) == 6)
        let v: Brine.Value = .map([("lr", .float64(0.01))])
        #expect(v == Brine.Value.map([("lr", .float64(0.01))]))
        let dtype: Brine.DType = .float32
        #expect(dtype.itemSize == 4)

        var options = Brine.WriteOptions(codec: Brine.Codec.lz4, filter: Brine.ChunkFilter.shuffle)
        options.durable = false
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("brine-names-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("m.brine")

        let writer = try BrineWriter(url: url, options: options)
        try writer.append(t, arrayPath: "weight")
        try writer.finish(root: .map([("weight", .arrayRef(0))]))
        #expect(writer.destination == url.path)
        let file = try BrineFile(contentsOf: url)
        let info: Brine.ArrayInfo = try #require(file.info("weight"))
        #expect(info.filter == Brine.ChunkFilter.shuffle && info.codec == Brine.Codec.lz4)
        let back: Brine.Tensor<Float> = try file.array("weight")
        #expect(back == t)

        let model = Model(weight: t, bias: [0.5, 0.25])
        var save = Brine.SaveOptions()
        save.durable = false
        try Brine.save(model, to: url, options: save)
        #expect(try Brine.load(Model.self, from: url, mode: Brine.LoadMode.mmap) == model)
        let weights = try Brine.Weights(of: model)
        #expect(weights.paths == ["weight", "bias"])
    }
}
