import Foundation
import Testing
@testable import Brine

/// The `brine` executable built next to the test bundle (`swift build --build-tests` builds it).
func brineExecutable() throws -> URL {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    let url = dir.appendingPathComponent("brine")
    guard FileManager.default.isExecutableFile(atPath: url.path) else {
        throw CLIFailure(description: "no brine executable at \(url.path): build it with `swift build --build-tests` (scripts/test.sh does)")
    }
    return url
}

struct CLIFailure: Error, CustomStringConvertible { var description: String }

/// Runs `brine` with arguments; returns exit status, stdout and stderr.
@discardableResult
func runBrine(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = try brineExecutable()
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite("brine command-line tool")
struct CLITests {
    @Test("convert preserves names, dtypes, shapes and bytes in every direction")
    func convertEveryDirection() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        // Every dtype NumPy can hold, in a safetensors file written by Brine.
        var tensors: [(name: String, tensor: AnyTensor)] = []
        for (i, dtype) in DType.allCases.enumerated() where dtype != .bfloat16 {
            tensors.append(("t.\(dtype)", randomArray(dtype: dtype, shape: [3, 5, 7], seed: UInt64(i))))
        }
        tensors.append(("scalar", randomArray(dtype: .float64, shape: [], seed: 99)))
        tensors.append(("empty", randomArray(dtype: .float32, shape: [4, 0], seed: 98)))
        let source = dir.appendingPathComponent("in.safetensors")
        try TensorBundle(tensors: tensors, metadata: ["source": "test"]).write(to: source)

        let brine = dir.appendingPathComponent("a.brine")
        #expect(try runBrine(["convert", source.path, brine.path, "--codec", "zstd", "--level", "1", "--shuffle"]).status == 0)
        let npz = dir.appendingPathComponent("b.npz")
        #expect(try runBrine(["convert", brine.path, npz.path, "--deflate", "--drop-metadata"]).status == 0)
        let brine2 = dir.appendingPathComponent("c.brine")
        #expect(try runBrine(["convert", npz.path, brine2.path, "--codec", "lz4", "--alignment", "4096"]).status == 0)
        let back = dir.appendingPathComponent("d.safetensors")
        #expect(try runBrine(["convert", brine2.path, back.path]).status == 0)

        let original = try TensorBundle(contentsOf: source)
        for url in [brine, npz, brine2, back] {
            let b = try TensorBundle(contentsOf: url)
            #expect(b.names == original.names, "\(url.lastPathComponent)")
            for (x, y) in zip(original.tensors, b.tensors) {
                #expect(x.tensor == y.tensor, "\(x.name) in \(url.lastPathComponent)")  // dtype, shape and bytes
            }
        }
        #expect(try TensorBundle(contentsOf: brine).metadata["source"] == "test")
        #expect(try TensorBundle(contentsOf: back).metadata["source"] == nil)  // .npz has no metadata to carry
        #expect(try BrineFile(contentsOf: brine2).arrays.allSatisfy { $0.alignment == 4096 && $0.codec == .lz4 })

        // One array to .npy and back.
        let single = dir.appendingPathComponent("w.safetensors")
        try TensorBundle(tensors: [("w", tensors[0].tensor)]).write(to: single)
        let npy = dir.appendingPathComponent("w.npy")
        #expect(try runBrine(["convert", single.path, npy.path]).status == 0)
        #expect(try TensorBundle(contentsOf: npy).tensors[0].tensor == tensors[0].tensor)
    }

    @Test("bfloat16 into NumPy needs --cast; the error names the dtype")
    func bfloat16Cast() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let src = dir.appendingPathComponent("bf.brine")
        let bf = randomArray(dtype: .bfloat16, shape: [16], seed: 5)
        try TensorBundle(tensors: [("bf", bf)]).write(to: src)
        let out = dir.appendingPathComponent("bf.npy")
        let refused = try runBrine(["convert", src.path, out.path])
        #expect(refused.status == 64)    // a usage error: the input is fine
        #expect(refused.err.contains("NumPy has no bfloat16") && refused.err.contains("--cast bfloat16-to-float32"), "\(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
        #expect(try runBrine(["convert", src.path, out.path, "--cast", "bfloat16-to-float32"]).status == 0)
        let widened = try TensorBundle(contentsOf: out).tensors[0].tensor
        #expect(widened.dtype == .float32)
        #expect(try widened.typed(as: Float.self).scalars == (try bf.typed(as: BFloat16.self).scalars.map(\.floatValue)))
    }

    @Test("verify and inspect: exit status and messages scripts can rely on")
    func verifyAndInspect() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        var o = WriteOptions(codec: .lz4, filter: .shuffle)
        o.chunkBytes = 1024
        let w = try BrineWriter(url: url, options: o)
        try w.append(randomArray(dtype: .float32, shape: [1000], seed: 1), arrayPath: "layer.weight")
        try w.finish(metadata: ["framework": "tests"])

        let ok = try runBrine(["verify", url.path])
        #expect(ok.status == 0 && ok.out.hasPrefix("ok:"))
        let inspect = try runBrine(["inspect", url.path])
        #expect(inspect.status == 0)
        #expect(inspect.out.contains("layer.weight") && inspect.out.contains("float32") && inspect.out.contains("[1000]"))
        #expect(inspect.out.contains("framework: \"tests\""))
        let json = try runBrine(["inspect", "--json", url.path])
        let parsed = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any]
        #expect((parsed?["arrays"] as? [[String: Any]])?.first?["path"] as? String == "layer.weight")

        // Damage chunk 2: verify names the array and chunk and exits 1.
        let info = try BrineFile(contentsOf: url).info("layer.weight")!
        var bytes = try Data(contentsOf: url)
        bytes[info.chunkOffsets[2]] ^= 0xFF
        try bytes.write(to: url)
        let bad = try runBrine(["verify", url.path])
        #expect(bad.status == 1)
        #expect(bad.err.contains("checksumMismatch") && bad.err.contains("array 'layer.weight'") && bad.err.contains("chunk 2"))

        #expect(try runBrine(["verify", dir.appendingPathComponent("missing.brine").path]).status == 2)
        try Data("not a model".utf8).write(to: dir.appendingPathComponent("text.brine"))
        let notBrine = try runBrine(["inspect", dir.appendingPathComponent("text.brine").path])
        #expect(notBrine.status == 1 && notBrine.err.contains("notABrineFile"))
        #expect(try runBrine(["convert", url.path, dir.appendingPathComponent("x.brine").path, "--alignment", "3"]).status == 64)
    }
}
