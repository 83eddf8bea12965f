import Foundation
import Testing
@testable import Brine

/// A path is handed to the kernel as a C string, which ends at the first NUL
/// byte: `"dir/model\0.bak"` names `dir/model`. A save to such a path must
/// not write (or replace) `dir/model`, and an open must not read it: each is
/// refused with `.invalidArgument` before any file is touched. (The
/// functions that take a `URL` get `url.path`, in which Foundation has
/// percent-encoded the NUL.)
@Suite("Paths with a NUL byte are refused, never shortened")
struct PathNULTests {
    /// A folder holding one valid Brine file `model` (and nothing else).
    func folderWithModel() throws -> (dir: URL, model: URL, bytes: Data) {
        let dir = makeTemporaryDirectory("nul")
        let model = dir.appendingPathComponent("model")
        let w = try BrineWriter(url: model)
        try w.append(AnyTensor(try Tensor<Float>(shape: [4], scalars: [1, 2, 3, 4])), arrayPath: "w")
        try w.finish()
        return (dir, model, try Data(contentsOf: model))
    }

    func expectRefused(_ what: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("\(what): accepted a path with a NUL byte")
        } catch let e as BrineError {
            #expect(e.code == .invalidArgument, "\(what): \(e)")
            #expect(e.message.contains("NUL"), "\(what): \(e.message)")
        } catch {
            Issue.record("\(what): not a BrineError: \(error)")
        }
    }

    @Test("the writer refuses the path and leaves the file the shortened path names unchanged")
    func writerRefuses() throws {
        let (dir, model, before) = try folderWithModel()
        let bad = model.path + "\u{0}.bak"
        expectRefused("BrineWriter(path:)") {
            let w = try BrineWriter(path: bad)
            try w.append(AnyTensor(try Tensor<Float>(shape: [2], scalars: [9, 9])), arrayPath: "w")
            try w.finish()
        }
        // The file the shortened path names is untouched, and nothing was added.
        #expect(try Data(contentsOf: model) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["model"])
    }

    @Test("every reader refuses the path instead of opening the file before the NUL")
    func readersRefuse() throws {
        let (_, model, _) = try folderWithModel()
        let bad = model.path + "\u{0}junk"
        for mode in [LoadMode.copy, .mmap, .mmapCopyOnWrite, .mmapReadWrite] {
            expectRefused("BrineFile(path:) \(mode)") { _ = try BrineFile(path: bad, mode: mode) }
        }
        expectRefused("SafetensorsFile(path:)") { _ = try SafetensorsFile(path: bad) }
        expectRefused("FileRangeSource(path:)") { _ = try FileRangeSource(path: bad) }
    }

    /// `URL(fileURLWithPath:)` percent-encodes a NUL (`url.path` holds
    /// `%00`), so the URL-taking functions never pass a NUL on: they write
    /// the file whose name has `%00`, which a load by the same URL finds.
    @Test("a URL with a NUL round-trips through the file its path names")
    func urlsPercentEncode() throws {
        let dir = makeTemporaryDirectory("nul-url")
        let url = URL(fileURLWithPath: dir.path + "/model\u{0}.bak")
        try Brine.save(["w": [Float](repeating: 9, count: 2)], to: url)
        #expect(try Brine.load([String: [Float]].self, from: url) == ["w": [9, 9]])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["model%00.bak"])
    }
}
