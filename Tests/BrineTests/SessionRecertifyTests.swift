import Foundation
import Testing
@testable import Brine

/// A read-write session's mapping is private, but pages it never wrote still
/// show the file: bytes changed in the file after the open (another writer
/// that ignores the locks, or damage) must not get fresh checksums from a flush.
@Suite("Read-write sessions: no re-certifying", .serialized)
struct SessionRecertifyTests {
    @Test("bytes of the file changed under an open read-write session are refused by flush (.checksumMismatch), not re-certified; the file keeps failing verify",
          arguments: ["in place", "re-save"])
    func externalChangeNotRecertified(path: String) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        let model = MLP.make([300, 64, 20], seed: 31)
        try Brine.save(model, to: url)
        let victim = try #require(BrineFile(contentsOf: url).info("layers.1.weight"))
        var h = try Brine.open(MLP.self, from: url, mode: .mmapReadWrite)
        h.model.layers[0].weight[0, 0] = 42  // a real change, in another array
        // Another writer (not Brine, no locks) damages layers.1.weight in the file.
        let fh = try FileHandle(forWritingTo: url)
        try fh.seek(toOffset: UInt64(victim.dataOffset + 8))
        fh.write(Data([0xDE, 0xAD, 0xBE, 0xEF]))
        try fh.close()
        // A reader holding the file makes the flush re-save instead of writing in place.
        let reader = path == "re-save" ? try BrineFile(contentsOf: url, mode: .copy) : nil
        let e = #expect(throws: BrineError.self) { try h.flush() }
        #expect(e?.code == .checksumMismatch && e?.arrayPath == "layers.1.weight", "\(String(describing: e))")
        _ = reader
        let problems = try BrineFile(contentsOf: url).verify()
        #expect(problems.contains { $0.arrayPath == "layers.1.weight" }, "the damaged chunk was given a fresh checksum: \(problems)")
    }
}
