import Foundation
import Testing
@testable import Brine

@Suite("Weights only")
struct WeightsTests {
    struct DoubleDense: Codable {
        var weight: Tensor<Double>
        var bias: [Float]
    }
    struct DoubleMLP: Codable {
        var layers: [DoubleDense]
        var learningRate: Double
        var epoch: Int
    }

    @Test("a model's weights are every array it holds, by path, shared not copied for tensors")
    func extract() throws {
        let model = MLP.make([50, 20, 3], seed: 1)
        let w = try Weights(of: model)
        #expect(w.paths == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"])
        #expect(w["layers.0.weight"]?.storage === model.layers[0].weight.storage)
        #expect(try w.tensor("layers.1.bias", as: Float.self).scalars == model.layers[1].bias)
        #expect(w["layers.0.bias"]?.shape == [20])
        #expect(throws: BrineError.self) { try w.tensor("layers.0.weight", as: Double.self) }
        #expect(throws: BrineError.self) { try w.tensor("nope", as: Float.self) }
    }

    @Test("save the weights, load them into a freshly built architecture", arguments: [LoadMode.copy, .mmap, .mmapCopyOnWrite])
    func saveAndLoadIntoFresh(mode: LoadMode) throws {
        let trained = MLP.make([64, 32, 10], seed: 5)
        let url = makeTemporaryDirectory().appendingPathComponent("weights.brine")
        try Brine.saveWeights(of: trained, to: url, options: SaveOptions(metadata: ["note": "w"]))
        let meta = try Brine.metadata(of: url)
        #expect(meta["brine.root_type"] == "Brine.Weights")
        #expect(meta["note"] == "w")
        let file = try BrineFile(contentsOf: url)
        #expect(file.arrayPaths == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"])
        #expect(file.root["layers.1.bias"] == .arrayRef(3))

        var fresh = MLP.make([64, 32, 10], seed: 999)
        fresh.learningRate = 0.5
        fresh.epoch = 0
        let report = try Brine.loadWeights(into: &fresh, from: url, mode: mode)
        #expect(report.isComplete)
        #expect(report.loaded.count == 4)
        #expect(fresh.layers == trained.layers)
        #expect(fresh.learningRate == 0.5 && fresh.epoch == 0)  // not weights: kept
        #expect(fresh.layers[0].weight.isView == (mode != .copy))
        // Read-write would leave the weights file without a way to flush.
        #expect(throws: BrineError.self) { try Brine.loadWeights(into: &fresh, from: url, mode: .mmapReadWrite) }
        #expect(throws: BrineError.self) { try Brine.loadWeights(from: url, mode: .mmapReadWrite) }
    }

    @Test("a shape mismatch names the array, the expected and the found shape", arguments: [true, false])
    func shapeMismatch(strict: Bool) throws {
        let url = makeTemporaryDirectory().appendingPathComponent("w.brine")
        try Brine.saveWeights(of: MLP.make([64, 32, 10], seed: 1), to: url)
        var other = MLP.make([64, 16, 10], seed: 2)
        let before = other
        do {
            try Brine.loadWeights(into: &other, from: url, strict: strict)
            Issue.record("loaded mismatched shapes")
        } catch let e as BrineError {
            #expect(e.code == .shapeMismatch)
            #expect(e.arrayPath == "layers.0.weight")
            #expect(e.message.contains("expected shape [16, 64]"))
            #expect(e.message.contains("found shape [32, 64]"))
        }
        #expect(other == before)  // untouched on failure
    }

    @Test("a dtype mismatch names the array and both dtypes")
    func dtypeMismatch() throws {
        let url = makeTemporaryDirectory().appendingPathComponent("w.brine")
        try Brine.saveWeights(of: MLP.make([8, 4], seed: 1), to: url)
        var d = DoubleMLP(layers: [DoubleDense(weight: try Tensor(zeros: [4, 8]), bias: [0, 0, 0, 0])], learningRate: 0, epoch: 0)
        do {
            try Brine.loadWeights(into: &d, from: url)
            Issue.record("loaded float32 into float64")
        } catch let e as BrineError {
            #expect(e.code == .dtypeMismatch)
            #expect(e.arrayPath == "layers.0.weight")
            #expect(e.message.contains("expected dtype float64"))
            #expect(e.message.contains("found dtype float32"))
        }
    }

    @Test("missing arrays: strict throws arrayNotFound, non-strict keeps them and reports them")
    func missing() throws {
        let url = makeTemporaryDirectory().appendingPathComponent("w.brine")
        let small = MLP.make([16, 8], seed: 1)
        try Brine.saveWeights(of: small, to: url)
        var bigger = MLP.make([16, 8, 4], seed: 2)
        let original = bigger
        do {
            try Brine.loadWeights(into: &bigger, from: url)
            Issue.record("strict load with missing arrays")
        } catch let e as BrineError {
            #expect(e.code == .arrayNotFound)
            #expect(e.arrayPath == "layers.1.weight")
        }
        let report = try Brine.loadWeights(into: &bigger, from: url, strict: false)
        #expect(report.loaded == ["layers.0.weight", "layers.0.bias"])
        #expect(report.missing == ["layers.1.weight", "layers.1.bias"])
        #expect(report.unexpected.isEmpty && !report.isComplete)
        #expect(bigger.layers[0] == small.layers[0])
        #expect(bigger.layers[1] == original.layers[1])
    }

    @Test("unexpected arrays: strict throws arrayNotFound, non-strict ignores and reports them")
    func unexpected() throws {
        let url = makeTemporaryDirectory().appendingPathComponent("w.brine")
        let bigger = MLP.make([16, 8, 4], seed: 1)
        try Brine.saveWeights(of: bigger, to: url)
        var small = MLP.make([16, 8], seed: 2)
        do {
            try Brine.loadWeights(into: &small, from: url)
            Issue.record("strict load with unexpected arrays")
        } catch let e as BrineError {
            #expect(e.code == .arrayNotFound)
            #expect(e.arrayPath == "layers.1.weight")
        }
        let report = try Brine.loadWeights(into: &small, from: url, strict: false)
        #expect(report.unexpected == ["layers.1.weight", "layers.1.bias"])
        #expect(small.layers[0] == bigger.layers[0])
    }

    @Test("a Weights collection saves, loads and applies in memory")
    func collection() throws {
        let model = Everything.make(seed: 3)
        let w = try Weights(of: model)
        let url = makeTemporaryDirectory().appendingPathComponent("w.brine")
        try Brine.saveWeights(w, to: url, options: SaveOptions(codec: .zstd(level: 3), filter: .shuffle))
        let back = try Brine.loadWeights(from: url)
        #expect(back == w)
        #expect(back.paths.contains("oddKeys.a%2Eb") && back.paths.contains("derived.super.baseWeights"))
        var fresh = Everything.make(seed: 4)
        try back.load(into: &fresh)
        // Every array comes from the weights; the rest of `fresh` is kept.
        #expect(fresh.big == model.big && fresh.inner == model.inner && fresh.byIndex == model.byIndex)
        #expect(fresh.derived == model.derived && fresh.activation == model.activation)
        let reloaded = try Weights(of: fresh)
        #expect(Set(reloaded.paths) == Set(w.paths))
        #expect(reloaded.paths.allSatisfy { reloaded[$0] == w[$0] })
    }

    @Test("weights load from a full model file saved with every array out of line")
    func fromFullModelFile() throws {
        let trained = MLP.make([40, 20, 2], seed: 8)
        let url = makeTemporaryDirectory().appendingPathComponent("full.brine")
        try Brine.save(trained, to: url, options: SaveOptions(inlineThreshold: 0))
        var fresh = MLP.make([40, 20, 2], seed: 1)
        #expect(try Brine.loadWeights(into: &fresh, from: url).isComplete)
        #expect(fresh.layers == trained.layers)
    }
}
