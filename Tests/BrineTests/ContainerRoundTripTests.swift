import Foundation
import Testing
@testable import Brine

@Suite("Container round trips")
struct ContainerRoundTripTests {
    static let codecs: [Codec] = [.none, .lz4, .zstd(level: 1), .zstd(level: 3)]
    static let filters: [ChunkFilter] = [.none, .shuffle]
    static let alignments = [8, 64, 4096]

    @Test("every dtype × codec × filter × alignment, in every load mode",
          arguments: codecs, filters)
    func everyDTypeCodecFilter(codec: Codec, filter: ChunkFilter) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        for alignment in Self.alignments {
            let url = dir.appendingPathComponent("a\(alignment).brine")
            var options = WriteOptions(codec: codec, filter: filter)
            options.alignment = alignment
            options.chunkBytes = 1000  // many chunks, and a chunk size that is not a power of two
            let writer = try BrineWriter(url: url, options: options)
            var expected: [String: AnyTensor] = [:]
            for (k, dtype) in DType.allCases.enumerated() {
                let t = randomArray(dtype: dtype, shape: [37, 13], seed: UInt64(k))
                try writer.append(t, arrayPath: "w.\(dtype)")
                expected["w.\(dtype)"] = t
            }
            try writer.finish()
            for mode in [LoadMode.copy, .mmap, .mmapCopyOnWrite, .mmapReadWrite] {
                let file = try BrineFile(contentsOf: url, mode: mode)
                #expect(file.arrays.count == DType.allCases.count)
                for a in file.arrays {
                    #expect(a.dataOffset % alignment == 0)
                    #expect(a.codec == codec && a.filter == filter)
                    let loaded = try file.anyArray(a.path)
                    #expect(loaded == expected[a.path]!, "\(a.path) \(mode)")
                    if mode.isMapped && !codec.compresses && filter == .none {
                        #expect(loaded.storage.isView)
                        #expect(Int(bitPattern: loaded.storage.baseAddress) % alignment == 0)
                    }
                }
                #expect(file.verify().isEmpty)
            }
        }
    }

    @Test("rank 0, zero-length dimensions and an empty container")
    func edgeShapes() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("edge.brine")
        let writer = try BrineWriter(url: url, options: WriteOptions(codec: .zstd(level: 1), filter: .shuffle))
        try writer.append(Tensor<Double>(scalar: 42.5), arrayPath: "scalar")
        try writer.append(Tensor<Float>(zeros: [3, 0, 5]), arrayPath: "empty")
        try writer.append(Tensor<Int64>(zeros: [0]), arrayPath: "empty1")
        try writer.finish()
        let file = try BrineFile(contentsOf: url)
        let s: Tensor<Double> = try file.array("scalar")
        #expect(s.shape == [] && s[flat: 0] == 42.5)
        let e: Tensor<Float> = try file.array("empty")
        #expect(e.shape == [3, 0, 5] && e.count == 0)

        let emptyURL = dir.appendingPathComponent("nothing.brine")
        try BrineWriter(url: emptyURL).finish()
        let nothing = try BrineFile(contentsOf: emptyURL, mode: .mmap)
        #expect(nothing.arrays.isEmpty)
        #expect(nothing.root == .null)
    }

    @Test("a 64 MiB array across many chunks, partial element reads")
    func largeArray() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let n = 16 << 20  // 16 Mi float32 = 64 MiB
        var t = try Tensor<Float>(zeros: [n])
        t.withUnsafeMutableBufferPointer { b in for i in b.indices { b[i] = Float(i % 10007) * 0.25 } }
        for codec in [Codec.none, .lz4, .zstd(level: 1)] {
            let url = dir.appendingPathComponent("big-\(codec).brine")
            var o = WriteOptions(codec: codec, filter: .shuffle)
            o.chunkBytes = 1 << 20
            let w = try BrineWriter(url: url, options: o)
            try w.append(t, arrayPath: "big")
            try w.finish()
            let f = try BrineFile(contentsOf: url)
            #expect(f.arrays[0].chunkCount == 64)
            let back: Tensor<Float> = try f.array("big")
            #expect(back.bitwiseEqual(t))
            let part: [Float] = try f.elements("big", range: 262_000 ..< 524_500)
            #expect(part == Array(t.scalars[262_000 ..< 524_500]))
        }
    }

    @Test("NaN payloads, -0.0 and infinities are bit-exact")
    func floatSpecials() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let specials: [Float] = [
            .nan, -.nan, Float(bitPattern: 0x7FC0_1234), Float(bitPattern: 0x7F80_0001), -0.0, 0.0,
            .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
        ]
        let doubles: [Double] = [.nan, Double(bitPattern: 0x7FF0_0000_0000_0001), -0.0, .infinity, -.infinity]
        for codec in [Codec.none, .lz4, .zstd(level: 3)] {
            let url = dir.appendingPathComponent("s-\(codec).brine")
            let w = try BrineWriter(url: url, options: WriteOptions(codec: codec, filter: .shuffle))
            try w.append(specials, arrayPath: "f")
            try w.append(doubles, arrayPath: "d")
            try w.finish()
            for mode in [LoadMode.copy, .mmap] {
                let f = try BrineFile(contentsOf: url, mode: mode)
                let a: Tensor<Float> = try f.array("f")
                let b: Tensor<Double> = try f.array("d")
                #expect(a.scalars.map(\.bitPattern) == specials.map(\.bitPattern))
                #expect(b.scalars.map(\.bitPattern) == doubles.map(\.bitPattern))
            }
        }
    }

    @Test("10,000 small arrays")
    func manySmallArrays() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("many.brine")
        let w = try BrineWriter(url: url, options: WriteOptions(codec: .lz4, filter: .shuffle))
        for i in 0 ..< 10_000 {
            try w.append([Int32(i), Int32(i * 2), Int32(-i)], arrayPath: "a\(i)")
        }
        try w.finish(root: .list((0 ..< 10_000).map { .arrayRef($0) }), metadata: ["n": 10_000])
        let f = try BrineFile(contentsOf: url)
        #expect(f.arrays.count == 10_000)
        #expect(f.metadata["n"] == .int(10_000))
        let all = try f.loadAll()
        for i in stride(from: 0, to: 10_000, by: 997) {
            #expect(try all[i].typed(as: Int32.self).scalars == [Int32(i), Int32(i * 2), Int32(-i)])
        }
    }
}
