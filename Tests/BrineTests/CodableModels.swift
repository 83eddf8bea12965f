import Foundation
@testable import Brine
import BrineTestSupport

// Models used by the Codable tests.

struct Dense: Codable, Equatable {
    var weight: Tensor<Float>
    var bias: [Float]
}

struct MLP: Codable, Equatable {
    var layers: [Dense]
    var learningRate: Double
    var epoch: Int

    /// A model with layer sizes `sizes` and deterministic weights.
    static func make(_ sizes: [Int], seed: UInt64) -> MLP {
        var rng = SplitMix64(seed: seed)
        var layers: [Dense] = []
        for (i, o) in zip(sizes, sizes.dropFirst()) {
            let w = (0 ..< i * o).map { _ in Float.random(in: -1 ... 1, using: &rng) }
            let b = (0 ..< o).map { _ in Float.random(in: -0.1 ... 0.1, using: &rng) }
            layers.append(Dense(weight: try! Tensor(shape: [o, i], scalars: w), bias: b))
        }
        return MLP(layers: layers, learningRate: 0.01, epoch: 3)
    }
}

enum Activation: Codable, Equatable, Hashable {
    case relu
    case leaky(slope: Float)
    case custom(name: String, table: [Float])
}

enum Kind: String, Codable, Hashable, CodingKeyRepresentable {
    case input, hidden, output
}

struct Point: Codable, Hashable {
    var x: Int
    var y: Int
}

final class Box: Codable, Equatable {
    var label: String
    var values: [Double]
    init(label: String, values: [Double]) {
        self.label = label
        self.values = values
    }
    static func == (a: Box, b: Box) -> Bool { a.label == b.label && a.values == b.values }
}

/// A superclass/subclass pair coded through `superEncoder()`.
class Base: Codable {
    var baseWeights: [Float]
    init(baseWeights: [Float]) { self.baseWeights = baseWeights }
}

final class Derived: Base, Equatable {
    var extra: Tensor<Double>
    private enum CodingKeys: String, CodingKey { case extra }
    init(baseWeights: [Float], extra: Tensor<Double>) {
        self.extra = extra
        super.init(baseWeights: baseWeights)
    }
    required init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        extra = try c.decode(Tensor<Double>.self, forKey: .extra)
        try super.init(from: c.superDecoder())
    }
    override func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(extra, forKey: .extra)
        try super.encode(to: c.superEncoder())
    }
    static func == (a: Derived, b: Derived) -> Bool { a.baseWeights == b.baseWeights && a.extra == b.extra }
}

struct Inner: Codable, Equatable {
    var weight: Tensor<Float>
    var note: String
    var deeper: [Deeper]
}

struct Deeper: Codable, Equatable {
    var values: [Double]
    var codes: [Int16]
}

/// Arrays at every depth and every kind of structure Codable produces.
struct Everything: Codable, Equatable {
    // Arrays of every caught type, large (out of line at the default threshold) and small.
    var big: [Float]
    var small: [Double]
    var f16: [Float16]
    var bf16: [BFloat16]
    var bools: [Bool]
    var i8: [Int8]
    var i16: [Int16]
    var i32: [Int32]
    var i64: [Int64]
    var u8: [UInt8]
    var u16: [UInt16]
    var u32: [UInt32]
    var u64: [UInt64]
    var ints: [Int]
    var uints: [UInt]
    var contiguous: ContiguousArray<Double>
    var data: Data
    var bigData: Data
    var tensorF: Tensor<Float>
    var tensorI: Tensor<Int32>
    var tensorB: Tensor<Bool>
    var tensorH: Tensor<Float16>
    var tensorBF: Tensor<BFloat16>
    var tensorU8: Tensor<UInt8>
    var rank0: Tensor<Double>
    var emptyTensor: Tensor<Float>
    var any: AnyTensor
    var empty: [Float]
    // Nesting.
    var inner: Inner
    var layers: [Dense]
    var grid: [[Int32]]
    var byName: [String: Tensor<Float>]
    var byIndex: [Int: [Float]]
    var byKind: [Kind: [Double]]
    var byPoint: [Point: String]
    var oddKeys: [String: [Float]]
    // Enums.
    var activation: Activation
    var activations: [Activation]
    // Optionals.
    var some: Int?
    var none: Int?
    var someArray: [Float]?
    var noneArray: [Float]?
    var doubleSome: Int??
    var doubleSomeNil: Int??
    var doubleNil: Int??
    var tripleSomeSomeNil: Int???
    var optionalList: [Int?]
    var doubleOptionalList: [Int??]
    // Classes.
    var box: Box
    var derived: Derived
    // Scalars of every kind.
    var s: String
    var b: Bool
    var f: Float
    var d: Double
    var h: Float16
    var bh: BFloat16
    var si8: Int8
    var si16: Int16
    var si32: Int32
    var si64: Int64
    var su8: UInt8
    var su16: UInt16
    var su32: UInt32
    var su64: UInt64
    var si: Int
    var su: UInt

    static func make(seed: UInt64) -> Everything {
        var rng = SplitMix64(seed: seed)
        func floats(_ n: Int) -> [Float] { (0 ..< n).map { _ in Float.random(in: -1 ... 1, using: &rng) } }
        func doubles(_ n: Int) -> [Double] { (0 ..< n).map { _ in Double.random(in: -1 ... 1, using: &rng) } }
        func ints<I: FixedWidthInteger>(_ n: Int, _: I.Type) -> [I] { (0 ..< n).map { _ in I.random(in: I.min ... I.max, using: &rng) } }
        return Everything(
            big: floats(5000),
            small: doubles(7),
            f16: floats(3000).map { Float16($0) },
            bf16: floats(12).map { BFloat16($0) },
            bools: (0 ..< 5000).map { _ in Bool.random(using: &rng) },
            i8: ints(9, Int8.self), i16: ints(3000, Int16.self), i32: ints(10, Int32.self), i64: ints(600, Int64.self),
            u8: ints(5000, UInt8.self), u16: ints(11, UInt16.self), u32: ints(2000, UInt32.self), u64: ints(4, UInt64.self),
            ints: ints(700, Int.self), uints: ints(3, UInt.self),
            contiguous: ContiguousArray(doubles(1000)),
            data: Data([1, 2, 3, 250]),
            bigData: Data(ints(10_000, UInt8.self)),
            tensorF: try! Tensor(shape: [40, 30], scalars: floats(1200)),
            tensorI: try! Tensor(shape: [2, 3], scalars: ints(6, Int32.self)),
            tensorB: try! Tensor(shape: [70, 70], scalars: (0 ..< 4900).map { _ in Bool.random(using: &rng) }),
            tensorH: try! Tensor(shape: [3, 1000], scalars: floats(3000).map { Float16($0) }),
            tensorBF: try! Tensor(shape: [5], scalars: floats(5).map { BFloat16($0) }),
            tensorU8: try! Tensor(shape: [64, 64, 2], scalars: ints(8192, UInt8.self)),
            rank0: Tensor(scalar: 2.5),
            emptyTensor: try! Tensor(zeros: [0, 3]),
            any: AnyTensor(try! Tensor<Int16>(shape: [4, 1000], scalars: ints(4000, Int16.self))),
            empty: [],
            inner: Inner(
                weight: try! Tensor(shape: [64, 32], scalars: floats(2048)), note: "inner",
                deeper: [Deeper(values: doubles(1000), codes: ints(3, Int16.self)), Deeper(values: [], codes: ints(4000, Int16.self))]),
            layers: MLP.make([30, 40, 5], seed: seed).layers,
            grid: (0 ..< 4).map { r in (0 ..< (r == 2 ? 2000 : 3)).map { Int32($0 * r) } },
            byName: ["encoder": try! Tensor(shape: [1100], scalars: floats(1100)), "head": try! Tensor(shape: [2], scalars: [1, 2])],
            byIndex: [3: floats(2000), -7: floats(2), 1_000_000: []],
            byKind: [.input: doubles(600), .output: doubles(1)],
            byPoint: [Point(x: 1, y: 2): "a", Point(x: -3, y: 0): "b"],
            oddKeys: ["a.b": floats(1100), "": floats(1100), "%": floats(1100), "a%2Eb": floats(1100), "a": floats(3)],
            activation: .custom(name: "table", table: floats(1500)),
            activations: [.relu, .leaky(slope: 0.1), .custom(name: "t", table: [1, 2])],
            some: 5, none: nil, someArray: floats(1024), noneArray: nil,
            doubleSome: .some(.some(7)), doubleSomeNil: .some(nil), doubleNil: nil, tripleSomeSomeNil: .some(.some(nil)),
            optionalList: [1, nil, 3], doubleOptionalList: [.some(.some(1)), .some(nil), nil],
            box: Box(label: "box", values: doubles(3000)),
            derived: Derived(baseWeights: floats(2000), extra: try! Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])),
            s: "héllo\nwörld", b: true, f: .pi, d: -.pi, h: 0.333, bh: BFloat16(1.5),
            si8: .min, si16: .max, si32: -123_456, si64: .min, su8: .max, su16: 65_000, su32: .max, su64: .max,
            si: .min, su: .max)
    }
}

/// The bit patterns of float-like arrays, for bit-exact comparisons.
func bits(_ a: [Float]) -> [UInt32] { a.map(\.bitPattern) }
func bits(_ a: [Double]) -> [UInt64] { a.map(\.bitPattern) }
func bits(_ a: [Float16]) -> [UInt16] { a.map(\.bitPattern) }
func bits(_ a: [BFloat16]) -> [UInt16] { a.map(\.bitPattern) }
