import Foundation
import Testing
@testable import Brine

@Suite("One reader protocol for Brine, safetensors and .npz")
struct TensorReaderTests {
    @Test("the same arrays written as Brine, safetensors and .npz read back alike through any TensorReader")
    func sameArraysThroughOneProtocol() throws {
        let dir = makeTemporaryDirectory("readers")
        defer { removeTemporaryDirectory(dir) }
        let a = try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = Tensor<Int64>([7, 8, 9])
        let named: [(name: String, tensor: AnyTensor)] = [("a", AnyTensor(a)), ("b", AnyTensor(b))]

        let brineURL = dir.appendingPathComponent("m.brine")
        let writer = try BrineWriter(url: brineURL)
        for (n, t) in named { try writer.append(t, arrayPath: n) }
        try writer.finish(root: .map([("a", .arrayRef(0)), ("b", .arrayRef(1))]))
        let stURL = dir.appendingPathComponent("m.safetensors")
        try Safetensors.write(named, to: stURL)
        let npzURL = dir.appendingPathComponent("m.npz")
        try Npz.write(named, to: npzURL)

        let readers: [any TensorReader] = [
            try BrineFile(contentsOf: brineURL), try SafetensorsFile(contentsOf: stURL), try NpzFile(contentsOf: npzURL),
        ]
        for r in readers {
            // File order: the safetensors writer puts wider alignments first.
            #expect(r.tensorNames.sorted() == ["a", "b"], "\(type(of: r))")
            #expect(try r.tensor("a", as: Float.self) == a, "\(type(of: r))")
            #expect(try r.tensor("b") == AnyTensor(b), "\(type(of: r))")
            let all = try r.loadAllNamed()
            #expect(all.map(\.name) == r.tensorNames, "\(type(of: r))")
            #expect(Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0.tensor) }) == ["a": AnyTensor(a), "b": AnyTensor(b)], "\(type(of: r))")
            let e = #expect(throws: BrineError.self) { try r.tensor("a", as: Int64.self) }
            #expect(e?.code == .dtypeMismatch, "\(type(of: r))")
        }
    }
}
