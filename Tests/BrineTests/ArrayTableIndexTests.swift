import Foundation
import Testing
@testable import Brine
import BrineTestSupport

/// The array table as an open builds it: the path index (``PathIndex``, an
/// XXH3-keyed table replacing a `[String: Int]`) and the layout check,
/// which skips its sort when the arrays are in file order. These fast paths
/// must reject exactly what the general ones rejected.
@Suite("Array table: path index and layout check")
struct ArrayTableIndexTests {
    /// A file of `count` small arrays named `names(i)`, with array `i`
    /// holding `[i, i+1, i+2]` as Int32; and a way to forge its table.
    struct Sample {
        let bytes: [UInt8]
        let file: BrineFile

        init(count: Int, names: (Int) -> String) throws {
            let dir = makeTemporaryDirectory("table-index")
            defer { removeTemporaryDirectory(dir) }
            let url = dir.appendingPathComponent("s.brine")
            let w = try BrineWriter(url: url)
            for i in 0 ..< count {
                let v = Int32(i)
                try w.append(AnyTensor(try Tensor<Int32>(shape: [3], scalars: [v, v + 1, v + 2])), arrayPath: names(i))
            }
            try w.finish()
            bytes = [UInt8](try Data(contentsOf: url))
            file = try BrineFile(contentsOf: url)
        }

        /// The file with its array table replaced and the trailer resealed
        /// (a forged but consistently checksummed file).
        func rebuilt(_ arrays: [ArrayInfo]) -> [UInt8] {
            let header = Header(metadata: file.metadata, arrays: arrays, root: .null, minorVersion: file.formatVersion.minor).encoded()
            var out = Array(bytes[0 ..< file.headerOffset]) + header
            out += Trailer(headerOffset: UInt64(file.headerOffset), headerLength: UInt64(header.count),
                           headerChecksum: Checksum.xxh3(header),
                           fileLength: UInt64(file.headerOffset + header.count + FormatSpec.trailerSize),
                           minor: file.formatVersion.minor).encoded()
            return out
        }

        /// Opens forged bytes from memory and from a file in every read mode.
        func openAll(_ bytes: [UInt8]) throws -> [Result<BrineFile, BrineError>] {
            let dir = makeTemporaryDirectory("table-index-open")
            defer { removeTemporaryDirectory(dir) }
            let url = dir.appendingPathComponent("f.brine")
            try Data(bytes).write(to: url)
            var results: [Result<BrineFile, BrineError>] = []
            results.append(Result { () throws(BrineError) in try typedThrows { try bytes.withUnsafeBytes { b in try BrineFile(bytes: b) } } })
            for mode in [LoadMode.copy, .mmap] {
                results.append(Result { () throws(BrineError) in try BrineFile(contentsOf: url, mode: mode) })
            }
            return results
        }
    }

    static func renamed(_ a: ArrayInfo, to path: String) -> ArrayInfo {
        ArrayInfo(path: path, dtype: a.dtype, storedDType: a.storedDType, shape: a.shape, codec: a.codec, filter: a.filter,
                  alignment: a.alignment, dataOffset: a.dataOffset, chunkBytes: a.chunkBytes, chunks: a.chunks,
                  count: a.count, storedRawBytes: a.storedRawBytes, storedBytes: a.storedBytes)
    }

    @Test("every one of 5,000 paths finds its own array, and near misses find none")
    func manyPaths() throws {
        // Paths that share long prefixes and differ in one byte, plus non-ASCII ones.
        let names: (Int) -> String = { i in i % 7 == 0 ? "couche.\(i).poids·é" : "model.layers.\(i).self_attn.q_proj.weight" }
        let s = try Sample(count: 5000, names: names)
        let file = try s.openAll(s.bytes).map { try $0.get() }
        for f in file {
            for i in stride(from: 0, to: 5000, by: 37) {
                let t = try f.array(names(i), as: Int32.self)
                #expect(t.scalars == [Int32(i), Int32(i) + 1, Int32(i) + 2], "\(names(i))")
                #expect(f.info(names(i))?.path == names(i))
            }
            #expect(f.info("model.layers.5000.self_attn.q_proj.weight") == nil)
            #expect(f.info("model.layers.1.self_attn.q_proj.weigh") == nil)
            #expect(f.info("") == nil)
            #expect(throws: BrineError.self) { try f.anyArray("couche.7.poids·e") }
        }
    }

    @Test("a table naming one path twice is corruptHeader, however far apart the two entries are",
          arguments: [(0, 1), (0, 63), (17, 40)])
    func duplicatePath(first: Int, second: Int) throws {
        let s = try Sample(count: 64, names: { "w.\($0)" })
        var table = s.file.arrays
        table[second] = ArrayTableIndexTests.renamed(table[second], to: table[first].path)
        for r in try s.openAll(s.rebuilt(table)) {
            #expect(throws: BrineError.self) { try r.get() }
            if case .failure(let e) = r {
                #expect(e.code == .corruptHeader && e.arrayPath == "w.\(first)", "\(e)")
            }
        }
    }

    @Test("a table listed out of file order opens and loads by name; out of order and overlapping is layout")
    func outOfOrderTable() throws {
        let s = try Sample(count: 40, names: { "w.\($0)" })
        let reversed = Array(s.file.arrays.reversed())
        for r in try s.openAll(s.rebuilt(reversed)) {
            let f = try r.get()
            #expect(f.arrayPaths == reversed.map(\.path))
            for i in 0 ..< 40 {
                #expect(try f.array("w.\(i)", as: Int32.self).scalars == [Int32(i), Int32(i) + 1, Int32(i) + 2])
            }
            let all = try f.loadAll()
            #expect(all.count == 40)
            #expect(try all[0].typed(as: Int32.self).scalars == [39, 40, 41])
        }
        // w.4 moved onto w.29's data, in the reversed table.
        var overlapping = reversed
        let a = overlapping[10], b = overlapping[35]  // w.29, w.4
        overlapping[35] = ArrayInfo(
            path: b.path, dtype: b.dtype, storedDType: b.storedDType, shape: b.shape, codec: b.codec, filter: b.filter,
            alignment: b.alignment, dataOffset: a.dataOffset, chunkBytes: b.chunkBytes,
            chunks: b.chunks.map { ArrayInfo.Chunk(offset: a.dataOffset, storedBytes: $0.storedBytes, checksum: $0.checksum) },
            count: b.count, storedRawBytes: b.storedRawBytes, storedBytes: b.storedBytes)
        for r in try s.openAll(s.rebuilt(overlapping)) {
            #expect(throws: BrineError.self) { try r.get() }
            if case .failure(let e) = r { #expect(e.code == .layout, "\(e)") }
        }
    }
}
