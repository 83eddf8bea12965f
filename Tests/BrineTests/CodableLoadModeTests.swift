import Foundation
import Testing
@testable import Brine

@Suite("Codable load modes")
struct CodableLoadModeTests {
    func saved(_ model: MLP, codec: Codec = .none, _ name: String = #function) throws -> URL {
        let url = makeTemporaryDirectory(name).appendingPathComponent("model.brine")
        try Brine.save(model, to: url, options: SaveOptions(codec: codec))
        return url
    }

    @Test("a model saved once loads with equal values in copy and every mmap mode",
          arguments: [Codec.none, .lz4, .zstd(level: 1)])
    func everyMode(codec: Codec) throws {
        let model = MLP.make([257, 129, 10], seed: 11)
        let url = try saved(model, codec: codec)
        let copy = try Brine.load(MLP.self, from: url, mode: .copy)
        for mode in [LoadMode.mmap, .mmapCopyOnWrite, .mmapReadWrite] {
            let mapped = try Brine.open(MLP.self, from: url, mode: mode).model
            #expect(mapped == copy, "\(mode)")
            for (a, b) in zip(mapped.layers, model.layers) {
                #expect(a.weight.bitwiseEqual(b.weight))
                #expect(bits(a.bias) == bits(b.bias))
            }
        }
    }

    @Test("writing into a read-only mapping copies first and never changes the file")
    func readOnlyMapping() throws {
        let model = MLP.make([300, 20], seed: 1)
        let url = try saved(model)
        let before = try Data(contentsOf: url)
        let handle = try Brine.open(MLP.self, from: url, mode: .mmap)
        var m = handle.model
        #expect(m.layers[0].weight.isView)
        m.layers[0].weight[flat: 0] = 99
        m.layers[0].weight[3, 7] = -5
        #expect(!m.layers[0].weight.isView)  // copied on the first write
        #expect(handle.model.layers[0].weight[flat: 0] == model.layers[0].weight[flat: 0])
        #expect(throws: BrineError.self) { try handle.flush() }
        #expect(try Data(contentsOf: url) == before)
        #expect(try Brine.load(MLP.self, from: url) == model)
    }

    @Test("writing into a copy-on-write mapping stays private and never changes the file")
    func copyOnWriteMapping() throws {
        let model = MLP.make([300, 20], seed: 2)
        let url = try saved(model)
        let before = try Data(contentsOf: url)
        var handle = try Brine.open(MLP.self, from: url, mode: .mmapCopyOnWrite)
        handle.model.layers[0].weight[flat: 0] = 99
        handle.model.layers[0].weight.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] *= 2 } }
        #expect(handle.model.layers[0].weight.isView)  // written in place, privately
        #expect(handle.model.layers[0].weight[flat: 0] == 198)
        do {
            try handle.flush()
            Issue.record("flushed a copy-on-write mapping")
        } catch {
            #expect(error.code == .readOnly)
        }
        #expect(try Data(contentsOf: url) == before)
        #expect(try Brine.load(MLP.self, from: url) == model)
        #expect(try BrineFile(contentsOf: url).verify().isEmpty)
    }

    @Test("read-write mapping: in-place changes reach the file on flush, which then verifies")
    func readWriteFlush() throws {
        let model = MLP.make([300, 64, 20], seed: 3)
        let url = try saved(model)
        var handle = try Brine.open(MLP.self, from: url, mode: .mmapReadWrite)
        #expect(handle.model.layers[1].weight.isView)
        handle.model.layers[1].weight[flat: 5] = 42
        handle.model.layers[0].weight.withUnsafeMutableBufferPointer { w in
            for i in stride(from: 0, to: w.count, by: 1000) { w[i] = -1 }
        }
        handle.model.layers[0].bias[0] = 1234  // a Swift array (inline): reaches the file by an atomic re-save
        #expect(handle.model.layers[1].weight.isView)  // still the file's pages
        let changed = try handle.flush()
        #expect(changed >= 2)
        let file = try BrineFile(contentsOf: url)
        #expect(file.verify().isEmpty)
        let back = try Brine.load(MLP.self, from: url)
        #expect(back.layers[1].weight[flat: 5] == 42)
        #expect(back.layers[0].weight[flat: 1000] == -1)
        #expect(back.layers[0].bias[0] == 1234 && back.layers[0].bias[1...] == model.layers[0].bias[1...])
        #expect(back.layers[1].weight[flat: 4] == model.layers[1].weight[flat: 4])
        // A second flush with nothing new changes nothing.
        #expect(try handle.flush() == 0)
        // Plain `load` refuses read-write: it could not flush.
        do {
            _ = try Brine.load(MLP.self, from: url, mode: .mmapReadWrite)
            Issue.record("load accepted .mmapReadWrite")
        } catch let e as BrineError {
            #expect(e.code == .invalidArgument && e.message.contains("Brine.open"))
        }
    }

    @Test("continue training: load, update, save over the old file atomically", arguments: [LoadMode.copy, .mmap])
    func continueTraining(mode: LoadMode) throws {
        let model = MLP.make([128, 32, 4], seed: 4)
        let url = try saved(model)
        var loaded = try Brine.load(MLP.self, from: url, mode: mode)
        for l in loaded.layers.indices {
            loaded.layers[l].weight.withUnsafeMutableBufferPointer { w in for i in w.indices { w[i] -= 0.5 } }
            loaded.layers[l].bias = loaded.layers[l].bias.map { $0 + 1 }
        }
        loaded.epoch += 5
        try Brine.save(loaded, to: url, options: SaveOptions(metadata: ["epochs": .int(Int64(loaded.epoch))]))
        let back = try Brine.load(MLP.self, from: url)
        #expect(back == loaded)
        #expect(back.epoch == 8)
        #expect(try Brine.metadata(of: url)["epochs"] == .int(8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path) == ["model.brine"])
    }
}
