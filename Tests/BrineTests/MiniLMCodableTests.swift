import Foundation
import Testing
@testable import Brine

/// all-MiniLM-L6-v2 as a Codable struct whose coding paths are exactly the
/// checkpoint's tensor names (`encoder.layer.0.attention.self.query.weight`).
struct MiniLM: Codable, Equatable {
    struct Linear: Codable, Equatable { var weight: Tensor<Float>; var bias: Tensor<Float> }
    struct Norm: Codable, Equatable { var weight: Tensor<Float>; var bias: Tensor<Float> }
    struct Embedding: Codable, Equatable { var weight: Tensor<Float> }
    struct Embeddings: Codable, Equatable {
        var word: Embedding
        var position: Embedding
        var tokenType: Embedding
        var norm: Norm
        var positionIDs: Tensor<Int64>
        enum CodingKeys: String, CodingKey {
            case word = "word_embeddings", position = "position_embeddings", tokenType = "token_type_embeddings"
            case norm = "LayerNorm", positionIDs = "position_ids"
        }
    }
    struct SelfAttention: Codable, Equatable { var query: Linear; var key: Linear; var value: Linear }
    struct Output: Codable, Equatable {
        var dense: Linear
        var norm: Norm
        enum CodingKeys: String, CodingKey { case dense, norm = "LayerNorm" }
    }
    struct Attention: Codable, Equatable {
        var selfAttention: SelfAttention
        var output: Output
        enum CodingKeys: String, CodingKey { case selfAttention = "self", output }
    }
    struct Intermediate: Codable, Equatable { var dense: Linear }
    struct Layer: Codable, Equatable { var attention: Attention; var intermediate: Intermediate; var output: Output }
    struct Encoder: Codable, Equatable { var layer: [Layer] }
    struct Pooler: Codable, Equatable { var dense: Linear }

    var embeddings: Embeddings
    var encoder: Encoder
    var pooler: Pooler
}

/// A tiny safetensors reader for the test (spec: 8-byte little-endian header
/// length, a JSON header of name → dtype/shape/data_offsets, then the data).
func readSafetensors(_ url: URL) throws -> [String: AnyTensor] {
    let data = try Data(contentsOf: url, options: .alwaysMapped)
    let n = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    let header = try JSONSerialization.jsonObject(with: data[8 ..< 8 + Int(n)]) as! [String: Any]
    var out: [String: AnyTensor] = [:]
    for (name, entry) in header where name != "__metadata__" {
        let e = entry as! [String: Any]
        let dtype: DType = ["F32": .float32, "I64": .int64][e["dtype"] as! String]!
        let shape = e["shape"] as! [Int]
        let offsets = e["data_offsets"] as! [Int]
        let start = 8 + Int(n) + offsets[0]
        try data[start ..< 8 + Int(n) + offsets[1]].withUnsafeBytes { b in
            out[name] = try AnyTensor(dtype: dtype, shape: shape, copying: b)
        }
    }
    return out
}

extension MiniLM {
    init(_ t: [String: AnyTensor]) throws {
        func f(_ name: String) throws -> Tensor<Float> { try t[name]!.typed(as: Float.self) }
        func linear(_ p: String) throws -> Linear { Linear(weight: try f(p + ".weight"), bias: try f(p + ".bias")) }
        func norm(_ p: String) throws -> Norm { Norm(weight: try f(p + ".weight"), bias: try f(p + ".bias")) }
        embeddings = Embeddings(
            word: Embedding(weight: try f("embeddings.word_embeddings.weight")),
            position: Embedding(weight: try f("embeddings.position_embeddings.weight")),
            tokenType: Embedding(weight: try f("embeddings.token_type_embeddings.weight")),
            norm: try norm("embeddings.LayerNorm"),
            positionIDs: try t["embeddings.position_ids"]!.typed(as: Int64.self))
        encoder = Encoder(layer: try (0 ..< 6).map { i in
            let p = "encoder.layer.\(i)."
            return Layer(
                attention: Attention(
                    selfAttention: SelfAttention(
                        query: try linear(p + "attention.self.query"), key: try linear(p + "attention.self.key"),
                        value: try linear(p + "attention.self.value")),
                    output: Output(dense: try linear(p + "attention.output.dense"), norm: try norm(p + "attention.output.LayerNorm"))),
                intermediate: Intermediate(dense: try linear(p + "intermediate.dense")),
                output: Output(dense: try linear(p + "output.dense"), norm: try norm(p + "output.LayerNorm")))
        })
        pooler = Pooler(dense: try linear("pooler.dense"))
    }
}

@Suite("MiniLM as a Codable model", .enabled(if: FileManager.default.fileExists(atPath: miniLMPath.path)))
struct MiniLMCodableTests {
    /// The checkpoint, parsed once per process.
    nonisolated(unsafe) static var cached: [String: AnyTensor]?
    static let lock = NSLock()
    static func source() throws -> [String: AnyTensor] {
        lock.lock()
        defer { lock.unlock() }
        if let cached { return cached }
        let s = try readSafetensors(miniLMPath)
        cached = s
        return s
    }

    @Test("the 104 MiniLM tensors round-trip bit-exactly under their checkpoint names",
          arguments: [(Codec.none, 0), (.none, 4096), (.lz4, 0), (.zstd(level: 1), 4096)])
    func roundTrip(codec: Codec, threshold: Int) throws {
        let source = try Self.source()
        #expect(source.count == 104)
        let model = try MiniLM(source)
        let url = makeTemporaryDirectory().appendingPathComponent("minilm.brine")
        try Brine.save(model, to: url, options: SaveOptions(codec: codec, filter: codec == .none ? .none : .shuffle,
                                                            inlineThreshold: threshold, metadata: ["source": "all-MiniLM-L6-v2"]))
        let file = try BrineFile(contentsOf: url)
        if threshold == 0 {
            #expect(Set(file.arrayPaths) == Set(source.keys))
        } else {
            // The 384-float vectors (1536 bytes) stay inline.
            #expect(Set(file.arrayPaths) == Set(source.filter { $0.value.byteCount >= threshold }.keys))
        }
        #expect(file.verify().isEmpty)
        for mode in [LoadMode.copy, .mmap] {
            let back = try Brine.load(MiniLM.self, from: url, mode: mode)
            let weights = try Weights(of: back)
            #expect(Set(weights.paths) == Set(source.keys))
            for (name, t) in source {
                let w = try #require(weights[name])
                #expect(w.dtype == t.dtype && w.shape == t.shape, "\(name)")
                #expect(memcmp(w.storage.baseAddress, t.storage.baseAddress, t.byteCount) == 0, "\(name) in \(mode)")
            }
            if mode == .mmap && codec == .none {
                #expect(back.embeddings.word.weight.isView)
            }
        }
    }
}
