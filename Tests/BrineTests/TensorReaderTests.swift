import Foundation
import Testing
@testable import Brine

@Suite("One reader protocol for Brine, safetensors and .npz: loads, typed loads, stored sizes and verify")
struct TensorReaderTests {
    static let a = try! Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    static let b = Tensor<Int64>([7, 8, 9])
    static let named: [(name: String, tensor: AnyTensor)] = [("a", AnyTensor(a)), ("b", AnyTensor(b))]

    /// The same two arrays as a Brine, a safetensors and a stored `.npz` file.
    static func writeAll(in dir: URL) throws -> (brine: URL, safetensors: URL, npz: URL) {
        let brine = dir.appendingPathComponent("m.brine")
        let writer = try BrineWriter(url: brine)
        for (n, t) in named { try writer.append(t, arrayPath: n) }
        try writer.finish(root: .map([("a", .arrayRef(0)), ("b", .arrayRef(1))]))
        let st = dir.appendingPathComponent("m.safetensors")
        try Safetensors.write(named, to: st)
        let npz = dir.appendingPathComponent("m.npz")
        try Npz.write(named, to: npz)
        return (brine, st, npz)
    }

    /// The three files of ``writeAll(in:)``, each opened with its reader.
    static func openAll(in dir: URL) throws -> [(reader: any TensorReader, url: URL)] {
        let urls = try writeAll(in: dir)
        return [
            (try BrineFile(contentsOf: urls.brine), urls.brine),
            (try SafetensorsFile(contentsOf: urls.safetensors), urls.safetensors),
            (try NpzFile(contentsOf: urls.npz), urls.npz),
        ]
    }

    static func fileSize(_ url: URL) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int)
    }

    @Test("the same arrays written as Brine, safetensors and .npz read back alike through any TensorReader")
    func sameArraysThroughOneProtocol() throws {
        let dir = makeTemporaryDirectory("readers")
        defer { removeTemporaryDirectory(dir) }
        let (a, b) = (Self.a, Self.b)
        for (r, _) in try Self.openAll(in: dir) {
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

    @Test("an intact file verifies clean through any TensorReader; progress ends at the sum of the stored sizes")
    func intactFilesVerify() throws {
        let dir = makeTemporaryDirectory("reader-verify")
        defer { removeTemporaryDirectory(dir) }
        let readers = try Self.openAll(in: dir)
        for (r, url) in readers {
            let what = "\(type(of: r))"
            #expect(r.path == url.path, "\(what)")
            #expect(r.fileSize == (try Self.fileSize(url)), "\(what)")
            #expect(r.storedByteCounts.count == r.tensorNames.count, "\(what)")
            #expect(r.storedByteCounts.allSatisfy { $0 > 0 }, "\(what)")
            var last = (done: -1, total: -1)
            let failures = r.verify { done, total in last = (done, total) }
            #expect(failures.isEmpty, "\(what): \(failures)")
            let total = r.storedByteCounts.reduce(0, +)
            #expect(last.done == total && last.total == total, "\(what)")
        }
        // The stored sizes are each format's own: safetensors' data bytes,
        // the .npz members as stored (a .npy header each on top of the data).
        #expect(readers[1].reader.storedByteCounts == [24, 24])
        #expect(readers[2].reader.storedByteCounts.allSatisfy { $0 >= 64 + 24 })
    }

    @Test("a damaged .npz member is reported by verify (CRC-32, with its name) and the others still read")
    func damagedNpzMemberIsReported() throws {
        let dir = makeTemporaryDirectory("reader-verify-damaged")
        defer { removeTemporaryDirectory(dir) }
        let url = try Self.writeAll(in: dir).npz
        var bytes = [UInt8](try Data(contentsOf: url))
        // Array "a" holds the float32 values 1…6: flip a bit of the value 4.
        let four: [UInt8] = [0x00, 0x00, 0x80, 0x40]
        let at = try #require((0 ... bytes.count - 4).first { bytes[$0 ..< $0 + 4].elementsEqual(four) })
        bytes[at] ^= 0x01
        try Data(bytes).write(to: url)
        let reader: any TensorReader = try NpzFile(contentsOf: url)
        let failures = reader.verify(progress: nil)
        #expect(failures.count == 1)
        #expect(failures.first?.code == .checksumMismatch)
        #expect(failures.first?.arrayPath == "a")
        #expect(try reader.tensor("b") == AnyTensor(Self.b))
    }

    @Test("a typed load of the wrong dtype names the file and the array, for every reader")
    func dtypeMismatchNamesFileAndArray() throws {
        let dir = makeTemporaryDirectory("reader-typed")
        defer { removeTemporaryDirectory(dir) }
        for (r, _) in try Self.openAll(in: dir) {
            let e = #expect(throws: BrineError.self) { try r.tensor("b", as: Float.self) }
            #expect(e?.code == .dtypeMismatch, "\(type(of: r))")
            #expect(e?.filePath == r.path, "\(type(of: r))")
            #expect(e?.arrayPath == "b", "\(type(of: r))")
            #expect(try r.tensor("b", as: Int64.self) == Self.b, "\(type(of: r))")
        }
    }
}
