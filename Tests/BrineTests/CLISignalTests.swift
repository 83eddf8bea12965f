import Foundation
import Testing
@testable import Brine

/// A convert stopped by SIGINT (Ctrl-C), SIGTERM or SIGHUP removes its
/// temporary file and leaves the old output as it was (attacker: the
/// temporary, tens of MB, stayed until a later save to the same name).
@Suite("CLI stopped by a signal", .serialized)
struct CLISignalTests {
    @Test("Ctrl-C, SIGTERM or SIGHUP mid-convert: the process dies by the signal, no temporary is left, the old output is intact",
          arguments: [SIGINT, SIGTERM, SIGHUP])
    func stoppedMidConvert(signal: Int32) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let input = dir.appendingPathComponent("big.npy")
        _ = try PythonOracle.run("""
            import sys, numpy as np
            np.save(sys.argv[1], np.random.default_rng(1).random(24 << 20, dtype=np.float32))
            """, [input.path])
        let output = dir.appendingPathComponent("out.npz")
        let old = Data("the previous output".utf8)
        try old.write(to: output)
        let p = Process()
        p.executableURL = try brineExecutable()
        p.arguments = ["convert", input.path, output.path, "--deflate"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        func temporaries() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasPrefix(".out.npz.brine-tmp.") }
        }
        var waited = 0.0
        while temporaries().isEmpty && p.isRunning && waited < 30 { Thread.sleep(forTimeInterval: 0.01); waited += 0.01 }
        try #require(!temporaries().isEmpty && p.isRunning, "the convert finished before it could be interrupted")
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal && p.terminationStatus == signal, "\(p.terminationReason) \(p.terminationStatus)")
        #expect(temporaries().isEmpty, "left: \(temporaries())")
        #expect(try Data(contentsOf: output) == old)
    }
}
