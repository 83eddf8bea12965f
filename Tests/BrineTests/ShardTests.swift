import Foundation
import Testing
@testable import Brine
import BrineRemote

extension NetworkTests {
    /// Sharded models: MiniLM written in ≥ 4 shards with model.brine.index.json,
    /// loaded locally and from SeaweedFS; Hugging Face sharded safetensors
    /// converted by the CLI; hostile indexes refused.
    @Suite("Shards: model.brine.index.json", .serialized,
           .enabled(if: FileManager.default.fileExists(atPath: miniLMPath.path)))
    struct ShardTests {
        @Test("MiniLM in ≥ 4 shards: loaded locally and from SeaweedFS, bit-exact")
        func miniLMShards() async throws {
            let dir = makeTemporaryDirectory()
            defer { removeTemporaryDirectory(dir) }
            let weights = try Brine.loadWeights(from: MiniLMBrine.plain, mode: .copy)
            let index = try await Brine.saveWeights(weights, toShards: dir, maxShardBytes: 24 << 20)
            #expect(index.shardNames.count >= 4)
            for name in index.shardNames {
                // At most the limit, unless one array alone is larger (the word embeddings, 46.9 MB).
                let size = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(name).path)[.size] as! Int
                let arrays = index.weightMap.filter { $0.shard == name }.count
                #expect(size <= 24 << 20 || arrays == 1, "\(name) has \(size) bytes in \(arrays) arrays")
            }
            let indexURL = dir.appendingPathComponent(ShardIndex.fileName)
            #expect(try ShardIndex(parsing: [UInt8](Data(contentsOf: indexURL)), path: nil) == index)
            #expect(try await Brine.loadWeights(fromShardIndex: indexURL) == weights)

            let o = TestServers.shared.anonymous()
            let folder = URL(string: "s3://\(TestServers.bucketName("shards"))/minilm")!
            try await S3Client(options: o).createBucket(folder)
            try await Brine.saveWeights(weights, toShards: folder, maxShardBytes: 24 << 20, remote: o)
            let remote = try await Brine.loadWeights(fromShardIndex: folder.appendingPathComponent(ShardIndex.fileName), remote: o)
            #expect(remote == weights)
        }

        @Test("an index naming a shard outside its folder, or malformed, is corruptHeader")
        func hostileIndex() {
            for text in [#"{"weight_map": {"a": "../x.brine"}}"#, #"{"weight_map": {"a": "/etc/x"}}"#,
                         #"{"weight_map": {"a": "x", "a": "y"}}"#, #"{"metadata": {}}"#, #"[1]"#, #"{"weight_map": {"a": 3}}"#] {
                let e = #expect(throws: BrineError.self) { _ = try ShardIndex(parsing: Array(text.utf8), path: "i.json") }
                #expect(e?.code == .corruptHeader, "\(text)")
            }
        }

        @Test("brine convert: Hugging Face sharded safetensors → sharded Brine → one safetensors file, bytes kept")
        func convertHFShards() throws {
            let dir = makeTemporaryDirectory()
            defer { removeTemporaryDirectory(dir) }
            // MiniLM split into two safetensors shards with an HF-style index.
            let st = try SafetensorsFile(contentsOf: miniLMPath).loadAll()
            let half = st.count / 2
            var map: [(path: String, shard: String)] = []
            for (i, part) in [Array(st[..<half]), Array(st[half...])].enumerated() {
                let name = "model-0000\(i + 1)-of-00002.safetensors"
                try TensorBundle(tensors: part, metadata: ["format": "pt"]).write(to: dir.appendingPathComponent(name), format: .safetensors)
                map += part.map { (path: $0.name, shard: name) }
            }
            let hfIndex = ShardIndex(metadata: [:], totalSize: 0, weightMap: map)
            try Data(hfIndex.jsonBytes).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
            let outFolder = dir.appendingPathComponent("brine")
            try FileManager.default.createDirectory(at: outFolder, withIntermediateDirectories: false)
            let r = try runBrine(["convert", dir.appendingPathComponent("model.safetensors.index.json").path,
                                  outFolder.appendingPathComponent(ShardIndex.fileName).path,
                                  "--codec", "zstd", "--level", "1", "--shuffle", "--shard-size", String(30 << 20)])
            #expect(r.status == 0, "\(r.err)")
            let w = try Brine.loadWeights(fromShardIndex: outFolder.appendingPathComponent(ShardIndex.fileName), options: ReadOptions())
            #expect(w.paths == st.map(\.name))
            for (name, t) in st { #expect(w[name] == t, "\(name)") }
            let back = dir.appendingPathComponent("back.safetensors")
            let r2 = try runBrine(["convert", outFolder.appendingPathComponent(ShardIndex.fileName).path, back.path])
            #expect(r2.status == 0, "\(r2.err)")
            #expect(try SafetensorsFile(contentsOf: back).loadAll().map(\.tensor) == st.map(\.tensor))
        }

        @Test("brine inspect, verify and convert accept http:// and s3:// URLs")
        func cliRemote() async throws {
            let servers = TestServers.shared
            let name = "cli-\(UUID().uuidString.prefix(8)).brine"
            try FileManager.default.copyItem(at: MiniLMBrine.small, to: servers.httpRoot.appendingPathComponent(name))
            defer { try? FileManager.default.removeItem(at: servers.httpRoot.appendingPathComponent(name)) }
            let http = "\(servers.httpURL)/\(name)"
            let inspect = try runBrine(["inspect", http, "--json"])
            #expect(inspect.status == 0, "\(inspect.err)")
            #expect(inspect.out.contains("\"layer1.weight\""))
            let verify = try runBrine(["verify", http])
            #expect(verify.status == 0 && verify.out.hasPrefix("ok: "), "\(verify.err)")
            let missing = try runBrine(["verify", "\(servers.httpURL)/missing-\(name)"])
            #expect(missing.status == 2 && missing.err.contains("notFound"))
            // http → s3 (environment variables give the endpoint), s3 → local safetensors.
            let bucket = TestServers.bucketName("cli")
            try await S3Client(options: servers.anonymous()).createBucket(URL(string: "s3://\(bucket)/x")!)
            setenv("AWS_ENDPOINT_URL", servers.s3Endpoint, 1)
            defer { unsetenv("AWS_ENDPOINT_URL") }
            let toS3 = try runBrine(["convert", http, "s3://\(bucket)/copy.brine"])
            #expect(toS3.status == 0, "\(toS3.err)")
            let dir = makeTemporaryDirectory()
            defer { removeTemporaryDirectory(dir) }
            let out = dir.appendingPathComponent("m.safetensors")
            let back = try runBrine(["convert", "s3://\(bucket)/copy.brine", out.path])
            #expect(back.status == 0, "\(back.err)")
            #expect(try SafetensorsFile(contentsOf: out).loadAll().map(\.tensor) == BrineFile(contentsOf: MiniLMBrine.small).loadAll())
        }
    }
}
