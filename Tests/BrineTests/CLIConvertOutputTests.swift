import Foundation
import Testing
@testable import Brine

/// `brine convert`'s choice of output: formats it only reads are a usage
/// error, and `--array` narrows every check to the arrays picked.
@Suite("brine convert: output formats and --array", .serialized)
struct CLIConvertOutputTests {
    @Test("--to pickle, --to keras and a .pkl/.joblib/.keras output are usage errors (64), and nothing is written")
    func readOnlyOutputFormats() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let src = dir.appendingPathComponent("a.npy")
        try Npy.write(randomArray(dtype: .float32, shape: [3, 4], seed: 14), to: src)
        let cases: [(args: [String], out: String)] = [
            (["--to", "pickle"], "out.bin"), (["--to", "keras"], "out.bin"),
            ([], "out.pkl"), ([], "out.joblib"), ([], "out.keras"),
        ]
        for (args, name) in cases {
            let out = dir.appendingPathComponent(name)
            let r = try runBrine(["convert", src.path, out.path] + args)
            #expect(r.status == 64, "\(args) \(name): \(r.status) \(r.err)")
            #expect(r.err.contains("does not write"), "\(r.err)")
            #expect(!FileManager.default.fileExists(atPath: out.path))
        }
    }

    @Test("--array picks plain tensors of a GGUF file with quantized ones into .npy/.npz; a picked quantized tensor is still refused")
    func arraySkipsUnpickedQuantizedTensors() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let src = dir.appendingPathComponent("py.gguf")
        try PythonOracle.run(GGUFOracleTests.writer, [src.path, "32"])
        let file = try GGUFFile(contentsOf: src)
        let f32 = try #require(try file.bundle().tensor("f32"))

        let npz = dir.appendingPathComponent("f.npz")
        let r = try runBrine(["convert", src.path, npz.path, "--array", "f32", "--array", "i16", "--drop-metadata"])
        #expect(r.status == 0, "\(r.err)")
        let back = try NpzFile(contentsOf: npz).loadAll()
        #expect(back.map(\.name) == ["f32", "i16"])
        #expect(back.first?.tensor == f32)

        let npy = dir.appendingPathComponent("f.npy")
        let one = try runBrine(["convert", src.path, npy.path, "--array", "f32", "--drop-metadata"])
        #expect(one.status == 0, "\(one.err)")
        #expect(try Npy.read(contentsOf: npy) == f32)

        let q = try runBrine(["convert", src.path, dir.appendingPathComponent("q.npz").path, "--array", "q8_0", "--drop-metadata"])
        #expect(q.status == 1 && q.err.contains("quantized") && q.err.contains("q8_0"), "\(q.err)")
    }
}
