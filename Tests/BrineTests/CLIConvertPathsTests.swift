import Foundation
import Testing
@testable import Brine

/// `brine convert` has three paths (one local file, a shard index, a remote
/// object); each must honour or refuse every option as the local path does:
/// `--array`, options the output cannot honour, the .npy one-array rule, the
/// `--cast` hint, `.onnx` needing `--into`, and `--shard-size` and the Brine
/// options for a sharded Brine output.
@Suite("brine convert: every path honours or refuses every option", .serialized)
struct CLIConvertPathsTests {
    /// Three float32 arrays of 400 kB (`x`, `y`, `z`), as one safetensors
    /// file, as a sharded Brine model and as a Hugging Face sharded
    /// safetensors checkpoint (two shards each).
    struct Files {
        let dir = makeTemporaryDirectory()
        let arrays: [(name: String, tensor: AnyTensor)] = ["x", "y", "z"].enumerated().map {
            ($0.element, randomArray(dtype: .float32, shape: [100_000], seed: UInt64($0.offset + 1)))
        }
        var single: URL { dir.appendingPathComponent("w.safetensors") }
        var brineIndex: URL { dir.appendingPathComponent("brine/\(ShardIndex.fileName)") }
        var safetensorsIndex: URL { dir.appendingPathComponent("hf/model.safetensors.index.json") }

        init() throws {
            try TensorBundle(tensors: arrays, metadata: [:]).write(to: single, format: .safetensors)
            let fm = FileManager.default
            try fm.createDirectory(at: brineIndex.deletingLastPathComponent(), withIntermediateDirectories: false)
            try Brine.saveWeights(try Weights(arrays.map { (path: $0.name, tensor: $0.tensor) }),
                                  toShards: brineIndex.deletingLastPathComponent(), maxShardBytes: 1 << 20)
            let hf = safetensorsIndex.deletingLastPathComponent()
            try fm.createDirectory(at: hf, withIntermediateDirectories: false)
            var map: [(path: String, shard: String)] = []
            for (i, part) in [Array(arrays[..<2]), Array(arrays[2...])].enumerated() {
                let name = "model-0000\(i + 1)-of-00002.safetensors"
                try TensorBundle(tensors: part, metadata: [:]).write(to: hf.appendingPathComponent(name), format: .safetensors)
                map += part.map { (path: $0.name, shard: name) }
            }
            try Data(ShardIndex(metadata: [:], totalSize: 0, weightMap: map).jsonBytes).write(to: safetensorsIndex)
        }

        /// The index of one kind of sharded input (`brine` or `safetensors`).
        func index(_ kind: String) -> URL { kind == "brine" ? brineIndex : safetensorsIndex }

        /// The array named `name`.
        func array(_ name: String) -> AnyTensor { arrays.first { $0.name == name }!.tensor }
    }

    /// Runs `brine` in `folder` (its working directory); exit status and stderr.
    static func runBrineIn(_ folder: URL, _ arguments: [String]) throws -> (status: Int32, err: String) {
        let p = Process()
        p.executableURL = try brineExecutable()
        p.arguments = arguments
        p.currentDirectoryURL = folder
        let err = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: e, as: UTF8.self))
    }

    @Test("sharded input: --array picks the named arrays; a missing name and several arrays for .npy are usage errors (64), nothing written",
          arguments: ["brine", "safetensors"])
    func shardedInputArray(kind: String) throws {
        let f = try Files()
        defer { removeTemporaryDirectory(f.dir) }
        let index = f.index(kind)

        let out = f.dir.appendingPathComponent("y.safetensors")
        let r = try runBrine(["convert", index.path, out.path, "--array", "y"])
        #expect(r.status == 0, "\(r.err)")
        let back = try SafetensorsFile(contentsOf: out).loadAll()
        #expect(back.map(\.name) == ["y"])
        #expect(back.first?.tensor == f.array("y"))

        let missing = f.dir.appendingPathComponent("missing.safetensors")
        let m = try runBrine(["convert", index.path, missing.path, "--array", "nope"])
        #expect(m.status == 64 && m.err.contains("--array 'nope': no such array"), "\(m.status): \(m.err)")
        #expect(!FileManager.default.fileExists(atPath: missing.path))

        let npy = f.dir.appendingPathComponent("one.npy")
        let several = try runBrine(["convert", index.path, npy.path])
        #expect(several.status == 64 && several.err.contains("pick it with --array"), "\(several.status): \(several.err)")
        #expect(!FileManager.default.fileExists(atPath: npy.path))
        let one = try runBrine(["convert", index.path, npy.path, "--array", "z"])
        #expect(one.status == 0, "\(one.err)")
        #expect(try Npy.read(contentsOf: npy) == f.array("z"))
    }

    @Test("sharded input: options the output cannot honour, and --from naming another format, are usage errors (64), nothing written",
          arguments: ["brine", "safetensors"])
    func shardedInputInapplicableOptions(kind: String) throws {
        let f = try Files()
        defer { removeTemporaryDirectory(f.dir) }
        let index = f.index(kind)
        let cases: [([String], String, String)] = [
            (["--codec", "zstd"], "o.safetensors", "--codec"),
            (["--alignment", "4096"], "o.npz", "--alignment"),
            (["--deflate"], "o.brine", "--deflate"),
            (["--cast", "bfloat16-to-float32"], "o.safetensors", "--cast"),
            (["--into", "m.onnx"], "o.brine", "--into"),
            (["--shard-size", String(1 << 20)], "o.brine", "--shard-size"),
            ([], "o.onnx", "--into"),
            (["--from", "npz"], "o.brine", "--from"),
        ]
        for (options, name, flag) in cases {
            let out = f.dir.appendingPathComponent(name)
            let r = try runBrine(["convert", index.path, out.path] + options)
            #expect(r.status == 64 && r.err.contains(flag), "\(kind) \(options) → \(name): \(r.status) \(r.err)")
            #expect(!FileManager.default.fileExists(atPath: out.path))
        }
    }

    @Test("sharded input with a bfloat16 array to .npz: the --cast hint (64), as for one file; with --cast it converts")
    func shardedInputCastHint() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let folder = dir.appendingPathComponent("sh")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        try Brine.saveWeights(try Weights([(path: "h", tensor: randomArray(dtype: .bfloat16, shape: [64], seed: 3))]),
                              toShards: folder, maxShardBytes: 1 << 20)
        let index = folder.appendingPathComponent(ShardIndex.fileName)
        let npz = dir.appendingPathComponent("h.npz")
        let r = try runBrine(["convert", index.path, npz.path])
        #expect(r.status == 64 && r.err.contains("--cast bfloat16-to-float32"), "\(r.status): \(r.err)")
        #expect(!FileManager.default.fileExists(atPath: npz.path))
        let ok = try runBrine(["convert", index.path, npz.path, "--cast", "bfloat16-to-float32"])
        #expect(ok.status == 0, "\(ok.err)")
        #expect(try NpzFile(contentsOf: npz).loadAll().first?.tensor.dtype == .float32)
    }

    @Test("sharded Brine output: --shard-size, --array and every Brine option apply; the options of other outputs and --to another format are refused (64)")
    func shardedOutputOptions() throws {
        let f = try Files()
        defer { removeTemporaryDirectory(f.dir) }
        let folder = f.dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        let index = folder.appendingPathComponent(ShardIndex.fileName)
        let refused: [([String], String)] = [
            (["--deflate"], "--deflate"), (["--cast", "bfloat16-to-float32"], "--cast"),
            (["--into", "m.onnx"], "--into"), (["--to", "safetensors"], "--to"),
        ]
        for (options, flag) in refused {
            let r = try runBrine(["convert", f.single.path, index.path] + options)
            #expect(r.status == 64 && r.err.contains(flag), "\(options): \(r.status) \(r.err)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
        }

        // A value beyond float16's range: stored as infinity only because
        // --allow-overflow-and-underflow reaches the shards' writer.
        let big = f.dir.appendingPathComponent("big.safetensors")
        var scalars = [Float](repeating: 0.5, count: 300_000)
        scalars[7] = 1e10
        try TensorBundle(tensors: [("big", AnyTensor(try Tensor<Float>(shape: [300_000], scalars: scalars))), ("x", f.array("x"))], metadata: [:])
            .write(to: big, format: .safetensors)
        let r = try runBrine(["convert", big.path, index.path, "--shard-size", String(1 << 20), "--codec", "lz4", "--lz4-acceleration", "4",
                              "--storage-dtype", "float16", "--allow-overflow-and-underflow", "--no-sync"])
        #expect(r.status == 0, "\(r.err)")
        let saved = try ShardIndex(contentsOf: index)
        #expect(saved.shardNames.count >= 2)
        let shard = try BrineFile(contentsOf: folder.appendingPathComponent(saved.shardNames[0]))
        #expect(shard.info("big")?.storedDType == .float16 && shard.info("big")?.codec == .lz4)
        let w = try Brine.loadWeights(fromShardIndex: index)
        #expect(try w["big"]?.typed(as: Float.self).scalars[7] == .infinity)

        let picked = try runBrine(["convert", f.single.path, index.path, "--array", "z"])
        #expect(picked.status == 0, "\(picked.err)")
        #expect(try Brine.loadWeights(fromShardIndex: index).paths == ["z"])
    }

    @Test("a shard index over the network is refused (64) before anything is written (no 's3:' folder in the working directory)")
    func shardIndexOverTheNetwork() throws {
        let f = try Files()
        defer { removeTemporaryDirectory(f.dir) }
        let cwd = f.dir.appendingPathComponent("cwd")
        try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: false)
        let port = ConnectionRefusedTests.closedPort()
        for (input, output) in [(f.single.path, "s3://bucket/sh/\(ShardIndex.fileName)"),
                                ("http://127.0.0.1:\(port)/model.safetensors.index.json", "o.safetensors")] {
            let r = try Self.runBrineIn(cwd, ["convert", input, output])
            #expect(r.status == 64 && r.err.contains("local files only"), "\(input) → \(output): \(r.status) \(r.err)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: cwd.path).isEmpty)
        }
    }

    @Test("remote input: options the output cannot honour are refused (64) before the download")
    func remoteInputRefusedBeforeDownload() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        // Nothing listens there: an attempted download would fail with 2, not 64.
        let url = "http://127.0.0.1:\(ConnectionRefusedTests.closedPort())/m.brine"
        let cases: [([String], String, String)] = [
            (["--codec", "zstd"], "o.safetensors", "--codec"),
            (["--shard-size", String(1 << 20)], "o.brine", "--shard-size"),
            (["--deflate"], "o.safetensors", "--deflate"),
            ([], "o.onnx", "--into"),
        ]
        for (options, name, flag) in cases {
            let out = dir.appendingPathComponent(name)
            let r = try runBrine(["convert", url, out.path] + options)
            #expect(r.status == 64 && r.err.contains(flag), "\(options) → \(name): \(r.status) \(r.err)")
            #expect(!FileManager.default.fileExists(atPath: out.path))
        }
    }
}

extension NetworkTests {
    /// `brine convert` from an http:// object (nginx on 127.0.0.1) applies
    /// `--array` and the .npy rule as for a local file.
    @Suite("brine convert over HTTP: --array and the .npy rule", .serialized)
    struct CLIConvertRemoteTests {
        @Test("remote input: --array picks the named array; a missing name and several arrays for .npy are usage errors (64)")
        func remoteInputArray() throws {
            let servers = TestServers.shared
            let name = "paths-\(UUID().uuidString.prefix(8)).brine"
            try FileManager.default.copyItem(at: MiniLMBrine.small, to: servers.httpRoot.appendingPathComponent(name))
            defer { try? FileManager.default.removeItem(at: servers.httpRoot.appendingPathComponent(name)) }
            let http = "\(servers.httpURL)/\(name)"
            let dir = makeTemporaryDirectory()
            defer { removeTemporaryDirectory(dir) }

            let out = dir.appendingPathComponent("one.safetensors")
            let r = try runBrine(["convert", http, out.path, "--array", "layer1.weight"])
            #expect(r.status == 0, "\(r.err)")
            let back = try SafetensorsFile(contentsOf: out).loadAll()
            #expect(back.map(\.name) == ["layer1.weight"])
            #expect(back.first?.tensor == (try TensorBundle(contentsOf: MiniLMBrine.small).tensor("layer1.weight")))

            let missing = dir.appendingPathComponent("missing.safetensors")
            let m = try runBrine(["convert", http, missing.path, "--array", "nope"])
            #expect(m.status == 64 && m.err.contains("no such array"), "\(m.status): \(m.err)")
            #expect(!FileManager.default.fileExists(atPath: missing.path))

            let npy = dir.appendingPathComponent("one.npy")
            let several = try runBrine(["convert", http, npy.path])
            #expect(several.status == 64 && several.err.contains("pick it with --array"), "\(several.status): \(several.err)")
            #expect(!FileManager.default.fileExists(atPath: npy.path))
        }
    }
}
