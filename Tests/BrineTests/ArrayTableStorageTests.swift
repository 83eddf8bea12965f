import Foundation
import Testing
@testable import Brine
import BrineTestSupport

/// A decoded array table keeps every path's bytes and every chunk entry in
/// one shared ``ArrayTableStorage`` (issue 12: per-array strings and chunk
/// lists were a third of an mmap open). Each entry must still read back
/// exactly what the writer recorded, compare and hash by content, and find
/// arrays by their exact spelling.
@Suite("Array table: shared storage of paths and chunks")
struct ArrayTableStorageTests {
    /// Names of every kind the pools hold: short and long ASCII (a Swift
    /// string stores up to 15 UTF-8 bytes inline), two canonically
    /// equivalent spellings, and a four-byte scalar.
    static let names = ["a", "encoder.layer.11.attention.output.dense.weight", "caf\u{E9}", "cafe\u{301}", "w\u{1F600}", ""]

    /// Writes one array per name, with 1, 2, …, 6 chunks of 64 bytes.
    static func write(to url: URL) throws -> [ArrayInfo] {
        var options = WriteOptions()
        options.chunkBytes = 64
        let w = try BrineWriter(url: url, options: options)
        for (i, name) in names.enumerated() {
            let count = 16 * (i + 1)  // 64 bytes per chunk: i + 1 chunks
            try w.append(AnyTensor(try Tensor<Float>(shape: [count], scalars: (0 ..< count).map { Float($0 + 100 * i) })), arrayPath: name)
        }
        return try w.finish()
    }

    /// Calls `body` with the URL of a freshly written file and the writer's entries.
    static func withWrittenFile(_ body: (URL, [ArrayInfo]) throws -> Void) throws {
        let dir = makeTemporaryDirectory("table-storage")
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("t.brine")
        try body(url, try write(to: url))
    }

    @Test("decoded entries equal the writer's, by path bytes, fields and chunks, in every read mode")
    func decodedEntriesEqualWritten() throws {
        try Self.withWrittenFile { url, written in
            let bytes = [UInt8](try Data(contentsOf: url))
            var files = [try BrineFile(contentsOf: url, mode: .copy), try BrineFile(contentsOf: url, mode: .mmap)]
            files.append(try typedThrows { try bytes.withUnsafeBytes { b in try BrineFile(bytes: b) } })
            for file in files {
                let decoded = file.arrays
                try #require(decoded.count == Self.names.count)
                for (i, name) in Self.names.enumerated() {
                    let a = decoded[i]
                    #expect(Array(a.path.unicodeScalars) == Array(name.unicodeScalars))
                    #expect(a.chunkCount == i + 1)
                    #expect(a.chunks == (0 ..< a.chunkCount).map { a.chunk($0) })
                    #expect(a.chunks == written[i].chunks)
                    #expect(a == written[i])
                    #expect(a.hashValue == written[i].hashValue)
                    // Lookups take the exact spelling: NFC and NFD name two arrays.
                    #expect(file.info(name) == a)
                    let t = try file.array(name, as: Float.self)
                    #expect(t.scalars.first == Float(100 * i))
                }
                #expect(Set(decoded).count == Self.names.count)
                #expect(decoded[2] != decoded[3])
            }
        }
    }

    @Test("entries differ when one chunk's checksum or the path's bytes differ")
    func equalityIsByContent() throws {
        try Self.withWrittenFile { url, _ in
            let a = try BrineFile(contentsOf: url).arrays[4]
            let changed = a.replacingChecksum(a.chunk(3).checksum ^ 1, ofChunk: 3)
            #expect(changed != a)
            #expect(changed.chunk(3).checksum == a.chunk(3).checksum ^ 1)
            #expect((0 ..< 5).filter { $0 != 3 }.allSatisfy { changed.chunk($0) == a.chunk($0) })
            #expect(Array(changed.path.unicodeScalars) == Array(a.path.unicodeScalars))
            let renamed = ArrayTableIndexTests.renamed(a, to: "w\u{1F601}")
            #expect(renamed != a)
            let same = ArrayTableIndexTests.renamed(a, to: a.path)
            #expect(same == a)
            #expect(same.hashValue == a.hashValue)
        }
    }

    @Test("an entry keeps its path and chunks after its file is released")
    func entryOutlivesItsFile() throws {
        try Self.withWrittenFile { url, written in
            var kept: [ArrayInfo] = []
            for mode in [LoadMode.copy, .mmap] {
                let file = try BrineFile(contentsOf: url, mode: mode)
                kept.append(file.arrays[1])
            }
            for a in kept {
                #expect(a.path == Self.names[1])
                #expect(a.chunks == written[1].chunks)
            }
        }
    }

    @Test("print shows an entry's path and chunks, not the shared table")
    func descriptionShowsPath() throws {
        try Self.withWrittenFile { url, _ in
            let a = try BrineFile(contentsOf: url).arrays[1]
            let text = String(describing: a)
            #expect(text.contains("path: \"\(Self.names[1])\""))
            #expect(text.contains("chunks: [") && text.contains("checksum: \(a.chunk(1).checksum)"))
            #expect(!text.contains("ArrayTableStorage"))
        }
    }
}
