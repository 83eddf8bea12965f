import Brine
import Foundation

// A model whose array names come from dictionary keys, saved in this process
// (with its own hash seed) and loaded by the tests in theirs: the names must
// not depend on the per-process hash order (issue 9, §4).

enum HelperLayerKind: String, Codable, CaseIterable { case attn, mlp, norm, head }
enum HelperSlot: Int16, Codable, CaseIterable { case a = -3, b = 7, c = 300 }

struct HelperByKindModel: Codable {
    var byKind: [HelperLayerKind: Tensor<Float>]
    var byId: [UInt8: Tensor<Float>]
    var bySlot: [HelperSlot: [Float]]
    var byInt: [Int: Tensor<Float>]
    var stateDict: [String: Tensor<Float>]

    /// Each array is `[base, base + 1, base + 2, base + 3]` with a base that
    /// names its dictionary and key, so a value under the wrong key shows.
    static func make() -> HelperByKindModel {
        func t(_ base: Float) -> Tensor<Float> { Tensor((0 ..< 4).map { base + Float($0) }) }
        var m = HelperByKindModel(byKind: [:], byId: [:], bySlot: [:], byInt: [:], stateDict: [:])
        for (i, k) in HelperLayerKind.allCases.enumerated() { m.byKind[k] = t(Float(100 + 10 * i)) }
        for i in 0 ..< 6 { m.byId[UInt8(i * 40)] = t(Float(200 + 10 * i)) }
        for (i, s) in HelperSlot.allCases.enumerated() { m.bySlot[s] = (0 ..< 4).map { Float(300 + 10 * i) + Float($0) } }
        for i in 0 ..< 5 { m.byInt[i - 2] = t(Float(400 + 10 * i)) }
        for i in 0 ..< 5 { m.stateDict["layer.\(i).weight"] = t(Float(500 + 10 * i)) }
        return m
    }
}

/// Options of the reproducibility test: no creation time; zstd with shuffle,
/// 8-byte chunks on 2 threads (so chunk jobs finish out of order), every
/// array out of line. The tests save with the same options.
var reproducibleOptions: SaveOptions {
    var o = SaveOptions(codec: .zstd(level: 3), filter: .shuffle, inlineThreshold: 0, metadata: ["run": "reproducible"])
    o.chunkBytes = 8
    o.threads = 2
    o.recordCreationTime = false
    o.durable = false
    return o
}

/// `codable-save weights|model|weights-reproducible|model-reproducible PATH`.
func codableSave(_ kind: String, _ path: String) {
    let url = URL(fileURLWithPath: path)
    do {
        let options = SaveOptions()
        switch kind {
        case "weights": try Brine.saveWeights(of: HelperByKindModel.make(), to: url, options: options)
        case "model": try Brine.save(HelperByKindModel.make(), to: url, options: options)
        case "weights-reproducible": try Brine.saveWeights(of: HelperByKindModel.make(), to: url, options: reproducibleOptions)
        case "model-reproducible": try Brine.save(HelperByKindModel.make(), to: url, options: reproducibleOptions)
        default:
            say("usage: BrineTestHelper codable-save weights|model PATH")
            exit(2)
        }
        say("done")
    } catch {
        say("error \(error)")
        exit(3)
    }
}
