import Foundation
import Testing
@testable import Brine
import BrineTestSupport

@Suite("Narrower storage through Brine.save")
struct NarrowStorageTests {
    struct Model: Codable {
        var weight: Tensor<Float>
        var table: [Float]
        var small: [Float]       // inline: never narrowed
        var doubles: [Double]    // not float32: never narrowed
    }

    /// `n` values with log-uniform magnitudes in `lo...hi`, random signs, then the specials.
    static func values(_ n: Int, lo: Float, hi: Float, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        var out = (0 ..< n).map { _ -> Float in
            let m = Float(exp(Double.random(in: log(Double(lo)) ... log(Double(hi)), using: &rng)))
            return Bool.random(using: &rng) ? m : -m
        }
        out += [lo, hi, -lo, -hi, .nan, -.nan, .infinity, -.infinity, 0, -0.0]
        return out
    }

    static let cases: [(DType, Float, Float, Float)] = [
        // storage dtype, smallest and largest normal magnitude, relative error bound
        (.float16, 0x1p-14, 65504, 0x1p-11),
        (.bfloat16, 1e-30, 1e30, 0x1p-8),
    ]

    @Test("values within the documented bound; NaN stays NaN; infinities stay",
          arguments: [0, 1], [Codec.none, .lz4, .zstd(level: 3)])
    func bound(caseIndex: Int, codec: Codec) throws {
        let (storage, lo, hi, bound) = Self.cases[caseIndex]
        let w = Self.values(40_000, lo: lo, hi: hi, seed: 1)
        let t = Self.values(3_000, lo: lo, hi: hi, seed: 2)
        let model = Model(
            weight: try Tensor(shape: [40_010], scalars: w), table: t,
            small: [0.1, 0.2, .pi], doubles: (0 ..< 2000).map { Double($0) / 3 })
        let url = makeTemporaryDirectory().appendingPathComponent("n.brine")
        var options = SaveOptions(codec: codec, filter: .shuffle, storageDType: storage)
        options.chunkBytes = 10_000
        try Brine.save(model, to: url, options: options)
        let file = try BrineFile(contentsOf: url)
        #expect(file.info("weight")?.storedDType == storage)
        #expect(file.info("weight")?.dtype == .float32)
        #expect(file.info("table")?.storedDType == storage)
        #expect(file.info("doubles")?.storedDType == .float64)
        #expect(file.info("small") == nil)
        for mode in [LoadMode.copy, .mmap] {
            let back = try Brine.load(Model.self, from: url, mode: mode)
            for (original, loaded) in [(w, back.weight.scalars), (t, back.table)] {
                #expect(original.count == loaded.count)
                var worst: Float = 0
                for (x, y) in zip(original, loaded) {
                    if x.isNaN {
                        #expect(y.isNaN)
                    } else if x.isInfinite || x == 0 {
                        #expect(y == x && y.sign == x.sign)
                    } else {
                        worst = max(worst, abs(y - x) / abs(x))
                    }
                }
                #expect(worst <= bound, "relative error \(worst) over \(bound) for \(storage)")
                #expect(worst > 0)  // it really was narrowed
            }
            #expect(bits(back.small) == bits(model.small))
            #expect(back.doubles == model.doubles)
        }
    }
}
