import Foundation
import Testing
@testable import Brine
import BrineRemote

/// A model of `count` float32 tensors of `elements` each (random, so
/// compression cannot shrink the parts), that fails to encode after
/// `failAfter` tensors when set.
struct StreamedModel: Codable, Equatable {
    var name: String
    var layers: [Tensor<Float>]

    init(count: Int, elements: Int) {
        name = "streamed"
        layers = (0 ..< count).map { i in
            try! randomArray(dtype: .float32, shape: [elements], seed: UInt64(50 + i)).typed(as: Float.self)
        }
    }
}

/// Encodes some tensors, then throws: a save that fails midway.
struct FailingModel: Encodable {
    var layers: [Tensor<Float>]
    struct Boom: Error {}
    func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        for l in layers { try c.encode(l) }
        throw Boom()
    }
}

extension NetworkTests {
    /// Saves to S3 stream through multipart upload: no temporary file, the
    /// bytes held bounded by the parts in flight, nothing left on failure.
    @Suite("Remote saves stream through multipart upload", .serialized)
    struct RemoteStreamingTests {
        let servers = TestServers.shared

        /// Entries of the temporary folder named like the staging folder the
        /// file-based save used (`brine-upload-<uuid>`). Other tests write
        /// `.brine` files there concurrently, so only that name is checked;
        /// the byte counts below are the real bound.
        func stagingFiles() -> Set<String> {
            let tmp = FileManager.default.temporaryDirectory
            let names = (try? FileManager.default.contentsOfDirectory(atPath: tmp.path)) ?? []
            return Set(names.filter { $0.hasPrefix("brine-upload") })
        }

        @Test("Brine.save to s3:// streams: peak bytes held ≤ (in flight + 1) × part and under half the file, no staging folder, bytes = a local encode")
        func streamedSave() async throws {
            var o = servers.anonymous()
            o.partBytes = 5 << 20
            o.concurrentUploads = 2
            let url = URL(string: "s3://\(TestServers.bucketName("stream"))/model.brine")!
            try await S3Client(options: o).createBucket(url)
            let model = StreamedModel(count: 8, elements: 1 << 20) // 32 MiB of float32
            var save = SaveOptions()
            save.recordCreationTime = false
            let before = stagingFiles()
            try await Brine.save(model, to: url, remote: o, options: save)
            #expect(stagingFiles().subtracting(before).isEmpty, "a staging file appeared in TMPDIR")
            let expected = [UInt8](try Brine.encode(model, options: save))
            #expect(o.stats.bytesSent >= expected.count)
            #expect(o.stats.peakUploadBufferedBytes > 0)
            #expect(o.stats.peakUploadBufferedBytes <= (o.concurrentUploads + 1) * o.partBytes,
                    "held \(o.stats.peakUploadBufferedBytes) bytes of a \(expected.count)-byte file")
            #expect(o.stats.peakUploadBufferedBytes < expected.count / 2)
            #expect(try await servers.objectBytes(url, o) == expected)
            #expect(try await S3Client(options: o).listMultipartUploads(url).isEmpty)
            #expect(try await Brine.load(StreamedModel.self, from: url, remote: o) == model)
        }

        @Test("Brine.write streams a BrineWriter to s3://; a small file goes in one PUT")
        func writerToS3() async throws {
            var o = servers.anonymous()
            o.partBytes = 5 << 20
            let bucket = TestServers.bucketName("writer")
            let url = URL(string: "s3://\(bucket)/w.brine")!
            try await S3Client(options: o).createBucket(url)
            let local = try BrineFile(contentsOf: MiniLMBrine.small)
            let arrays = try await Brine.write(to: url, remote: o, options: WriteOptions(codec: .zstd(level: 1))) { writer in
                for a in local.arrays { try writer.append(try local.anyArray(a.path), arrayPath: a.path) }
                return (root: .string("writer"), metadata: .map([("k", .string("v"))]))
            }
            #expect(arrays.map(\.path) == local.arrayPaths)
            let remote = try await RangedBrineFile.open(url, remote: o)
            #expect(remote.root == .string("writer"))
            #expect(try await remote.loadAll() == (try local.loadAll()))
            // A file under one part: one PUT, no multipart upload.
            let tiny = URL(string: "s3://\(bucket)/tiny.brine")!
            var t = servers.anonymous()
            t.partBytes = 5 << 20
            try await Brine.write(to: tiny, remote: t) { writer in
                try writer.append(randomArray(dtype: .float32, shape: [1000], seed: 9), arrayPath: "x")
                return (root: .null, metadata: .map([]))
            }
            #expect(t.stats.requests == 1)
            #expect(try await RangedBrineFile.open(tiny, remote: o).arrayPaths == ["x"])
        }

        @Test("a save that fails midway (after parts were sent) aborts: no object, no multipart uploads left")
        func failedSave() async throws {
            var o = servers.anonymous()
            o.partBytes = 5 << 20
            o.concurrentUploads = 2
            let url = URL(string: "s3://\(TestServers.bucketName("fail"))/f.brine")!
            let client = S3Client(options: o)
            try await client.createBucket(url)
            let model = FailingModel(layers: StreamedModel(count: 5, elements: 1 << 20).layers) // 20 MiB, then throws
            await #expect(throws: (any Error).self) { try await Brine.save(model, to: url, remote: o) }
            #expect(o.stats.bytesSent >= 10 << 20, "parts were sent before the failure")
            #expect(try await client.listMultipartUploads(url).isEmpty, "parts left behind")
            #expect(try await client.head(url) == nil, "a partial object appeared")
            // A writer body that throws aborts the same way.
            await #expect(throws: FailingModel.Boom.self) {
                try await Brine.write(to: url, remote: o) { writer in
                    for (i, l) in model.layers.enumerated() { try writer.append(AnyTensor(l), arrayPath: "l\(i)") }
                    throw FailingModel.Boom()
                }
            }
            #expect(try await client.listMultipartUploads(url).isEmpty)
            #expect(try await client.head(url) == nil)
        }

        @Test("a cancelled Brine.save aborts the upload: no object, no parts left")
        func cancelledSave() async throws {
            var o = servers.anonymous()
            o.partBytes = 5 << 20
            o.concurrentUploads = 1
            let url = URL(string: "s3://\(TestServers.bucketName("cancel"))/c.brine")!
            let client = S3Client(options: o)
            try await client.createBucket(url)
            let model = StreamedModel(count: 24, elements: 1 << 20) // 96 MiB
            let stats = o.stats
            let task = Task { try await Brine.save(model, to: url, remote: o) }
            // Cancel once the first part is on its way.
            for _ in 0 ..< 600 where stats.bytesSent == 0 { try await Task.sleep(for: .milliseconds(50)) }
            task.cancel()
            let result = await task.result
            guard case .failure(let error) = result else {
                Issue.record("the save finished before it could be cancelled")
                return
            }
            #expect((error as? BrineError)?.code == .io, "\(error)")
            #expect(try await client.listMultipartUploads(url).isEmpty, "parts left behind")
            #expect(try await client.head(url) == nil, "a partial object appeared")
        }
    }

    /// Sharded Codable models: the index carries the object tree.
    @Suite("Sharded Codable models (index with the object tree)", .serialized)
    struct ShardedModelTests {
        struct Net: Codable, Equatable {
            var name: String
            var layers: [Layer]
            var config: [String: Double]
            struct Layer: Codable, Equatable {
                var weight: Tensor<Float>
                var bias: [Float]
            }
        }

        static func net() -> Net {
            Net(name: "sharded", layers: (0 ..< 6).map { i in
                Net.Layer(weight: try! randomArray(dtype: .float32, shape: [512, 256], seed: UInt64(i + 1)).typed(as: Float.self),
                          bias: (0 ..< 256).map { Float($0) * Float(i) })
            }, config: ["lr": 0.001, "decay": 0.9])
        }

        @Test("Brine.save(model, toShards:) → Brine.load(T.self, from: index): locally and from SeaweedFS, equal")
        func roundTrip() async throws {
            let dir = makeTemporaryDirectory()
            defer { removeTemporaryDirectory(dir) }
            let model = Self.net()
            let index = try await Brine.save(model, toShards: dir, maxShardBytes: 1 << 20)
            #expect(index.shardNames.count >= 4)
            #expect(index.tree != nil)
            let indexURL = dir.appendingPathComponent(ShardIndex.fileName)
            #expect(try await Brine.load(Net.self, from: indexURL) == model)
            #expect(try Brine.load(Net.self, fromShardIndex: indexURL) == model)
            #expect(try ShardIndex(parsing: [UInt8](Data(contentsOf: indexURL)), path: nil) == index)
            // The weights are still readable by path.
            let w = try await Brine.loadWeights(fromShardIndex: indexURL)
            #expect(w.count == index.weightMap.count)

            let o = TestServers.shared.anonymous()
            let folder = URL(string: "s3://\(TestServers.bucketName("shmodel"))/net")!
            try await S3Client(options: o).createBucket(folder)
            try await Brine.save(model, toShards: folder, maxShardBytes: 1 << 20, remote: o)
            let back = try await Brine.load(Net.self, from: folder.appendingPathComponent(ShardIndex.fileName), remote: o)
            #expect(back == model)
        }

        @Test("an index without a tree (weights only, as written before) still loads its weights; load(T) says why not")
        func oldIndex() async throws {
            let dir = makeTemporaryDirectory()
            defer { removeTemporaryDirectory(dir) }
            var w = Weights()
            w["a"] = randomArray(dtype: .float32, shape: [300_000], seed: 1)
            w["b"] = randomArray(dtype: .int32, shape: [300_000], seed: 2)
            let index = try await Brine.saveWeights(w, toShards: dir, maxShardBytes: 1 << 20)
            // Written as the previous round did: metadata and weight_map only.
            let text = try String(contentsOf: dir.appendingPathComponent(ShardIndex.fileName), encoding: .utf8)
            #expect(!text.contains("\"tree\""))
            let old = #"{"metadata": {"format": "brine", "total_size": 1, "shard_count": 2}, "weight_map": {"a": "\#(index.weightMap[0].shard)", "b": "\#(index.weightMap[1].shard)"}}"#
            try old.write(to: dir.appendingPathComponent(ShardIndex.fileName), atomically: true, encoding: .utf8)
            #expect(try await Brine.loadWeights(fromShardIndex: dir.appendingPathComponent(ShardIndex.fileName)) == w)
            let e = await #expect(throws: BrineError.self) { _ = try await Brine.load(Net.self, from: dir.appendingPathComponent(ShardIndex.fileName)) }
            #expect(e?.code == .unsupportedFeature)
        }

        @Test("a hostile tree (not base64, references past the weight map, trailing bytes) is corruptHeader")
        func hostileTree() {
            // arrayRef 5 with one array in the weight map.
            var w = ByteWriter(capacity: 8)
            Header.encodeValue(.arrayRef(5), into: &w)
            let pastEnd = Data(w.bytes).base64EncodedString()
            var w2 = ByteWriter(capacity: 8)
            Header.encodeValue(.null, into: &w2)
            let trailing = Data(w2.bytes + [0]).base64EncodedString()
            for tree in ["@@not base64@@", pastEnd, trailing] {
                let text = #"{"weight_map": {"a": "x.brine"}, "tree": "\#(tree)"}"#
                let e = #expect(throws: BrineError.self) { _ = try ShardIndex(parsing: Array(text.utf8), path: "i.json") }
                #expect(e?.code == .corruptHeader || e?.code == .limitExceeded, "\(tree)")
            }
        }
    }
}
