import Foundation
import Testing
@testable import Brine

/// Files written in format 1.0 (by main before format 1.1) keep loading:
/// dictionaries Swift coded as lists, escaped (`%2E`) array paths, nested
/// arrays as rows. See `Fixtures/format-1.0` and `CodableFidelityModels.swift`.
@Suite("Format 1.0 fixtures")
struct Format10FixtureTests {
    static let dir = repositoryRoot.appendingPathComponent("Tests/BrineTests/Fixtures/format-1.0")

    @Test("a 1.0 Codable model loads with every value", arguments: [LoadMode.copy, .mmap, .mmapCopyOnWrite])
    func model(mode: LoadMode) throws {
        let url = Self.dir.appendingPathComponent("codable-model.brine")
        let file = try BrineFile(contentsOf: url)
        #expect(file.formatVersion.minor == 0)
        #expect(file.arrayPaths.contains("stateDict.encoder%2Elayer%2E0%2Eweight"))
        #expect(try Brine.load(Fixture10Model.self, from: url, mode: mode) == Fixture10Model.make())
    }

    @Test("1.0 weights with escaped paths load into a state dict by its keys", arguments: [LoadMode.copy, .mmap])
    func stateDictWeights(mode: LoadMode) throws {
        let url = Self.dir.appendingPathComponent("state-dict-weights.brine")
        #expect(try BrineFile(contentsOf: url).arrayPaths.contains("encoder%2Elayer%2E0%2Eattention%2Eself%2Equery%2Eweight"))
        var fresh = Fixture10StateDict.make().mapValues { try! Tensor<Float>(zeros: $0.shape) }
        let report = try Brine.loadWeights(into: &fresh, from: url, mode: mode)
        #expect(report.isComplete)
        #expect(fresh == Fixture10StateDict.make())
        // Through an in-memory Weights collection too.
        var other = Fixture10StateDict.make().mapValues { try! Tensor<Float>(zeros: $0.shape) }
        try Brine.loadWeights(from: url).load(into: &other)
        #expect(other == Fixture10StateDict.make())
    }
}
