import Foundation
import Testing
@testable import Brine

#if canImport(Glibc)
import Glibc
#endif

/// A save replaces the file by a rename: the new file must keep the
/// permissions of the one it replaces (a 0600 model stays private), and a
/// flush's journal, which holds the model's bytes, is its owner's alone.
@Suite("File permissions")
struct FilePermissionTests {
    struct Model: Codable, Equatable {
        var w: Tensor<Float>
        var step: Int
    }

    static func mode(_ url: URL) -> mode_t {
        var st = stat()
        return stat(url.path, &st) == 0 ? st.st_mode & 0o7777 : 0
    }

    @Test("Brine.save, BrineWriter, updateMetadata and a re-saving session flush keep the replaced file's permissions", arguments: [mode_t(0o600), 0o640, 0o444])
    func permissionsKept(perm: mode_t) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        let w = try Tensor<Float>(shape: [4096], scalars: (0 ..< 4096).map(Float.init))
        try Brine.save(Model(w: w, step: 0), to: url)
        #expect(chmod(url.path, perm) == 0)
        try Brine.save(Model(w: w, step: 1), to: url)
        #expect(Self.mode(url) == perm, "Brine.save: \(String(Self.mode(url), radix: 8))")
        let writer = try BrineWriter(url: url)
        _ = try writer.append(w, arrayPath: "w")
        try writer.finish()
        #expect(Self.mode(url) == perm, "BrineWriter: \(String(Self.mode(url), radix: 8))")
        try Brine.save(Model(w: w, step: 2), to: url)
        try Brine.updateMetadata(of: url, ["note": "kept"])
        #expect(Self.mode(url) == perm, "updateMetadata: \(String(Self.mode(url), radix: 8))")
        if perm & 0o200 != 0 {
            var h = try Brine.open(Model.self, from: url, mode: .mmapReadWrite)
            h.model.w = try Tensor<Float>(shape: [8192], repeating: 1)  // a new shape: the flush re-saves
            _ = try h.flush()
            #expect(Self.mode(url) == perm, "session re-save: \(String(Self.mode(url), radix: 8))")
            #expect(try Brine.load(Model.self, from: url).w.shape == [8192])
        }
    }

    @Test("a new file gets the usual 0666 less the umask")
    func newFileMode() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("new.brine")
        let mask = umask(0o022)
        defer { umask(mask) }
        try Brine.save(Model(w: try Tensor<Float>(shape: [4], repeating: 1), step: 0), to: url)
        #expect(Self.mode(url) == 0o644)
    }
}
