import Foundation
import Testing
@testable import Brine

/// A hostile file's names reach `brine`'s text output; they must not carry
/// terminal controls there (cursor moves, `\r` over a FAIL line, colours).
@Suite("brine command-line tool: hostile names in text output")
struct CLITerminalTests {
    @Test("inspect and verify escape control characters of array names, metadata and tree in text output; --json stays valid JSON with the exact names")
    func controlsEscaped() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir.appendingPathComponent("m.brine").path
        let hostile = "w\r\u{1B}[2Kok: all fine\u{1B}]0;title\u{07}\u{85}"
        try PythonOracle.run(#"""
            import sys, numpy as np, brine_writer as bw
            bw.save_file({sys.argv[2]: np.arange(64, dtype=np.float32)}, sys.argv[1], metadata={"k\x1b[31m": "v\r\x1b[1A"})
            """#, [path, hostile])
        let info = try #require(BrineFile(contentsOf: URL(fileURLWithPath: path)).info(hostile))
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[info.dataOffset + 5] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: path))
        func clean(_ s: String) -> Bool { !s.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || (0x7F ... 0x9F).contains($0.value) } }
        let inspect = try runBrine(["inspect", "--tree", path])
        #expect(inspect.status == 0, "\(inspect.err)")
        #expect(clean(inspect.out) && clean(inspect.err), "\(inspect.out.debugDescription)")
        #expect(inspect.out.contains("\\u{1b}[2Kok: all fine"))
        let verify = try runBrine(["verify", path])
        #expect(verify.status == 1)
        #expect(clean(verify.out) && clean(verify.err), "\(verify.err.debugDescription)")
        #expect(verify.err.contains("FAIL") && verify.err.contains("\\u{d}"), "\(verify.err)")
        let json = try runBrine(["verify", "--json", path])
        let parsed = try #require(JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]])
        let errors = try #require(parsed.first?["errors"] as? [[String: Any]])
        #expect(errors.first?["array"] as? String == hostile)
    }

    @Test("verify reports a file it may not read as unreadable (exit 2, status \"unreadable\"), not damaged")
    func permissionDeniedIsUnreadable() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return }  // runs brine as another user
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        try Brine.save(MLP.make([10, 4], seed: 3), to: url)
        chmod(dir.path, 0o755)
        chmod(url.path, 0o000)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", try brineExecutable().path, "verify", "--json", url.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let parsed = try #require(JSONSerialization.jsonObject(with: data) as? [[String: Any]], "\(String(decoding: data, as: UTF8.self))")
        #expect(parsed.first?["status"] as? String == "unreadable", "\(parsed)")
        #expect(p.terminationStatus == 2)
    }
}
