import Foundation
@testable import Brine

// Models of the Codable-fidelity tests (dictionary keys, nested arrays,
// state-dict names, shared storage and shared references).

/// An enum with string raw values that is *not* `CodingKeyRepresentable`:
/// Swift's own `Dictionary` coding writes such keys as an unkeyed list.
enum LayerKind: String, Codable, Hashable, CaseIterable {
    case attn, mlp, norm, head
}

/// An enum with integer raw values.
enum Slot: Int16, Codable, Hashable, CaseIterable {
    case a = -3, b = 7, c = 300
}

/// The model of the committed format-1.0 fixture
/// (`Fixtures/format-1.0/codable-model.brine`, written by the code of main
/// before format 1.1): dictionary keys Swift codes as lists, a state dict
/// whose keys contain dots (escaped as `%2E` in 1.0), rows of a nested array
/// stored as separate arrays (1.0) and small nested arrays inline.
struct Fixture10Model: Codable, Equatable {
    var byKind: [LayerKind: Tensor<Float>]
    var byId: [UInt8: [Float]]
    var stateDict: [String: Tensor<Float>]
    var rows: [[Float]]
    var small: [[Int32]]
    var name: String

    static func make() -> Fixture10Model {
        func t(_ n: Int, _ base: Float) -> Tensor<Float> {
            try! Tensor(shape: [n / 4, 4], scalars: (0 ..< n).map { base + Float($0) * 0.25 })
        }
        return Fixture10Model(
            byKind: [.attn: t(1100 * 4 / 4, 1), .mlp: t(1100, 2000)],
            byId: [3: (0 ..< 1030).map { Float($0) }, 200: (0 ..< 8).map { -Float($0) }],
            stateDict: ["encoder.layer.0.weight": t(1200, -5), "encoder.layer.0.bias": t(8, 0.5), "head": t(1040, 9)],
            rows: (0 ..< 3).map { r in (0 ..< 1100).map { Float(r * 10_000 + $0) } },
            small: [[1, 2, 3], [], [4]],
            name: "fixture-1.0")
    }
}

/// A PyTorch-style state dict saved with `saveWeights` in the 1.0 fixture
/// `Fixtures/format-1.0/state-dict-weights.brine`.
enum Fixture10StateDict {
    static func make() -> [String: Tensor<Float>] {
        [
            "encoder.layer.0.attention.self.query.weight": try! Tensor(shape: [4, 4], scalars: (0 ..< 16).map { Float($0) }),
            "encoder.layer.0.attention.self.query.bias": Tensor((0 ..< 4).map { Float($0) + 0.5 }),
            "pooler.dense.weight": try! Tensor(shape: [2, 2], scalars: [1, -1, 2, -2]),
        ]
    }
}
