import Foundation
import Testing
@testable import Brine
import BrineRemote

/// Every test that talks to the servers, one at a time: they move hundreds
/// of megabytes through nginx and SeaweedFS, and running them side by side
/// would load the 2 cores for the timing-calibrated fault tests elsewhere.
@Suite("Network (nginx and SeaweedFS on 127.0.0.1)", .serialized)
enum NetworkTests {}

extension NetworkTests {
    /// Loading and saving over the network against real servers on 127.0.0.1
    /// (scripts/servers.sh): nginx for plain HTTP range requests, SeaweedFS's S3
    /// gateway (anonymous, and with SigV4 authentication) for s3:// URLs.
    @Suite("Remote: HTTP and S3 against nginx and SeaweedFS", .serialized,
           .enabled(if: FileManager.default.fileExists(atPath: miniLMPath.path)))
    struct RemoteTests {
        let servers = TestServers.shared

        /// Copies `file` into nginx's folder under a fresh name; returns its URL.
        func publish(_ file: URL) throws -> URL {
            let name = "m-\(UUID().uuidString.prefix(8)).brine"
            try FileManager.default.copyItem(at: file, to: servers.httpRoot.appendingPathComponent(name))
            return URL(string: "\(servers.httpURL)/\(name)")!
        }

        /// Removes a file that ``publish(_:)`` put in nginx's folder.
        func unpublish(_ url: URL) {
            try? FileManager.default.removeItem(at: servers.httpRoot.appendingPathComponent(url.lastPathComponent))
        }

        /// `(requests, body bytes)` that nginx logged for `path`.
        func nginxLog(_ path: String) throws -> (requests: Int, bytes: Int) {
            let text = try String(contentsOf: servers.httpLog, encoding: .utf8)
            var n = 0, bytes = 0
            for line in text.split(separator: "\n") {
                let f = line.split(separator: " ")
                guard f.count >= 4, f[1] == path, let b = Int(f[f.count - 1]) else { continue }
                n += 1
                bytes += b
            }
            return (n, bytes)
        }

        @Test("HTTP: reading one MiniLM array fetches at most the tail, that array and one coalescing unit (client count = nginx log)")
        func fetchAccounting() async throws {
            let local = try BrineFile(contentsOf: MiniLMBrine.plain)
            let url = try publish(MiniLMBrine.plain)
            defer { unpublish(url) }
            var remote = RemoteOptions()
            remote.fetch.coalesceBytes = 8 << 20
            let file = try await RangedBrineFile.open(url, remote: remote)
            let opened = remote.stats.bytesReceived
            #expect(remote.stats.requests == 1, "open: one tail request (trailer and header)")
            #expect(opened <= remote.fetch.tailBytes)
            let atOpen = try nginxLog(url.path)
            #expect(atOpen.requests == 1 && atOpen.bytes == opened, "nginx logged \(atOpen) at open")
            // The largest array that is not the first one in the file.
            let a = local.arrays.dropFirst().max { $0.storedBytes < $1.storedBytes }!
            let t = try await file.anyArray(a.path)
            #expect(t == (try local.anyArray(a.path)))
            // The array's bytes, plus the 16-byte preamble checked alongside them.
            let loaded = remote.stats.bytesReceived - opened
            #expect(loaded >= a.storedBytes)
            #expect(loaded <= a.storedBytes + remote.fetch.coalesceBytes + 16)
            #expect(remote.stats.bytesReceived <= remote.fetch.tailBytes + 16 + a.storedBytes + remote.fetch.coalesceBytes)
            let log = try nginxLog(url.path)
            #expect(log.requests == remote.stats.requests)
            #expect(log.bytes == remote.stats.bytesReceived)
            // An element range touches only its chunks.
            let before = remote.stats.bytesReceived
            let e = try await file.elements(a.path, range: 1000 ..< 1010)
            #expect(e == (try local.elements(a.path, range: 1000 ..< 1010)))
            #expect(remote.stats.bytesReceived - before <= a.chunkBytes)
        }

        @Test("HTTP: a whole-model load (plain and zstd+shuffle) returns exactly the local bytes")
        func wholeModelHTTP() async throws {
            for file in [MiniLMBrine.plain, MiniLMBrine.zstd] {
                let url = try publish(file)
                defer { unpublish(url) }
                let weights = try await Brine.loadWeights(from: url)
                #expect(weights == (try Brine.loadWeights(from: file, mode: .copy)))
            }
        }

        @Test("HTTP: a missing object is notFound naming the URL")
        func missingHTTP() async throws {
            let url = URL(string: "\(servers.httpURL)/no-such-\(UUID().uuidString).brine")!
            let e = await #expect(throws: BrineError.self) { _ = try await RangedBrineFile.open(url) }
            #expect(e?.code == .notFound && e?.filePath == url.absoluteString)
        }

        @Test("S3: multipart upload of MiniLM, then a whole-model load equals the local bytes")
        func s3RoundTrip() async throws {
            var o = servers.anonymous()
            o.partBytes = 5 << 20
            let bucket = TestServers.bucketName("rt")
            let url = URL(string: "s3://\(bucket)/models/minilm.brine")!
            let client = S3Client(options: o)
            try await client.createBucket(url)
            try await client.upload(file: MiniLMBrine.zstd.path, to: url)
            #expect(o.stats.requests >= 3)
            let size = try #require(try await client.head(url)).size
            #expect(size == (try FileManager.default.attributesOfItem(atPath: MiniLMBrine.zstd.path)[.size] as! Int))
            #expect(try await client.listMultipartUploads(url).isEmpty)
            let weights = try await Brine.loadWeights(from: url, remote: o)
            #expect(weights == (try Brine.loadWeights(from: MiniLMBrine.zstd, mode: .copy)))
        }

        struct Small: Codable, Equatable {
            var name: String
            var weight: Tensor<Float>
            var bias: [Double]
        }

        @Test("S3: Brine.save(model, to: s3://…) and Brine.load(T.self, from: s3://…)")
        func codableS3() async throws {
            let o = servers.anonymous()
            let url = URL(string: "s3://\(TestServers.bucketName("codable"))/small.brine")!
            try await S3Client(options: o).createBucket(url)
            let w = try Tensor<Float>(shape: [512, 300], scalars: (0 ..< 153_600).map { Float($0) * 0.5 })
            let model = Small(name: "s", weight: w, bias: (0 ..< 2000).map(Double.init))
            var save = SaveOptions()
            save.codec = .zstd(level: 1)
            try await Brine.save(model, to: url, remote: o, options: save)
            let back = try await Brine.load(Small.self, from: url, remote: o)
            #expect(back == model)
        }

        @Test("S3: a truncated object is `truncated`")
        func truncatedObject() async throws {
            let o = servers.anonymous()
            let url = URL(string: "s3://\(TestServers.bucketName("trunc"))/t.brine")!
            let client = S3Client(options: o)
            try await client.createBucket(url)
            let bytes = try [UInt8](Data(contentsOf: MiniLMBrine.plain))
            try await client.put(Array(bytes.prefix(3 << 20)), to: url)
            let e = await #expect(throws: BrineError.self) { _ = try await RangedBrineFile.open(url, remote: o) }
            #expect(e?.code == .truncated)
        }

        @Test("S3: an object replaced after open is objectChanged, never a mix")
        func replacedS3() async throws {
            let o = servers.anonymous()
            let url = URL(string: "s3://\(TestServers.bucketName("repl"))/r.brine")!
            let client = S3Client(options: o)
            try await client.createBucket(url)
            try await client.upload(file: MiniLMBrine.small.path, to: url)
            let file = try await RangedBrineFile.open(url, remote: o)
            var other = try [UInt8](Data(contentsOf: MiniLMBrine.small))
            other[100] ^= 1 // a different version of the same size
            try await client.put(other, to: url)
            let e = await #expect(throws: BrineError.self) { _ = try await file.loadAll() }
            #expect(e?.code == .objectChanged)
        }

        @Test("S3 with SigV4: the right credentials read and write; a wrong secret is permissionDenied naming the URL")
        func credentials() async throws {
            let good = servers.authenticated()
            let url = URL(string: "s3://\(TestServers.bucketName("auth"))/a.brine")!
            let client = S3Client(options: good)
            try await client.createBucket(url)
            try await client.upload(file: MiniLMBrine.small.path, to: url)
            let file = try await RangedBrineFile.open(url, remote: good)
            let path = file.arrays[1].path
            #expect(try await file.anyArray(path) == (try BrineFile(contentsOf: MiniLMBrine.small).anyArray(path)))
            let bad = servers.authenticated(secret: "not-the-secret")
            let e = await #expect(throws: BrineError.self) { _ = try await RangedBrineFile.open(url, remote: bad) }
            #expect(e?.code == .permissionDenied && e?.filePath == url.absoluteString)
            let anonymous = await #expect(throws: BrineError.self) { _ = try await RangedBrineFile.open(url, remote: { var o = good; o.credentials = nil; return o }()) }
            #expect(anonymous?.code == .permissionDenied)
        }

        @Test("S3: a cancelled multipart save aborts the upload: no object, no parts left")
        func cancelledUpload() async throws {
            var o = servers.anonymous()
            o.partBytes = 5 << 20
            o.concurrentUploads = 2
            let url = URL(string: "s3://\(TestServers.bucketName("abort"))/big.brine")!
            let client = S3Client(options: o)
            try await client.createBucket(url)
            let firstPart = AsyncStream<Void>.makeStream()
            let task = Task {
                defer { firstPart.continuation.finish() }
                try await client.upload(file: MiniLMBrine.plain.path, to: url) { sent, _ in
                    if sent > 0 { firstPart.continuation.yield() }
                }
            }
            for await _ in firstPart.stream { break }
            task.cancel()
            let result = await task.result
            guard case .failure(let error) = result else {
                Issue.record("the upload finished before it could be cancelled")
                return
            }
            #expect((error as? BrineError)?.code == .io)
            #expect(try await client.listMultipartUploads(url).isEmpty, "parts left behind")
            #expect(try await client.head(url) == nil, "a partial object appeared")
        }
    }

    /// Faults against a private, rate-limited nginx that the tests kill and restart.
    @Suite("Remote faults: killed, restarted and changing servers", .serialized,
           .enabled(if: FileManager.default.fileExists(atPath: miniLMPath.path)))
    struct RemoteFaultTests {
        /// A folder with MiniLM (plain) as `m.brine`, served at 6 MB/s per connection.
        func serve() throws -> (PrivateNginx, URL, URL) {
            let root = makeTemporaryDirectory("www")
            try FileManager.default.copyItem(at: MiniLMBrine.plain, to: root.appendingPathComponent("m.brine"))
            let nginx = try PrivateNginx(root: root, rate: "6m")
            return (nginx, root, URL(string: "\(nginx.baseURL)/m.brine")!)
        }

        func options(attempts: Int) -> RemoteOptions {
            var o = RemoteOptions()
            o.maxAttempts = attempts
            o.initialBackoff = 0.1
            o.maxBackoff = 0.5
            // A refused connection fails only at the attempt's deadline
            // (AsyncHTTPClient retries connecting until then).
            o.requestTimeout = 2
            o.fetch.concurrentRequests = 4
            o.fetch.coalesceBytes = 4 << 20
            return o
        }

        @Test("server killed mid-load: a typed error within the deadline")
        func killed() async throws {
            let (nginx, root, url) = try serve()
            defer { removeTemporaryDirectory(root) }
            let o = options(attempts: 3)
            let file = try await RangedBrineFile.open(url, remote: o)
            let start = ContinuousClock.now
            let load = Task { try await file.loadAll() }
            try await Task.sleep(for: .milliseconds(600))
            nginx.kill()
            let result = await load.result
            let elapsed = ContinuousClock.now - start
            guard case .failure(let error) = result else {
                Issue.record("the load finished before the server was killed")
                return
            }
            let e = try #require(error as? BrineError)
            #expect(e.code == .io || e.code == .timedOut)
            #expect(e.filePath == url.absoluteString)
            // 3 attempts × 2 s deadline + backoff ≈ 7 s; generous for 2 busy cores.
            #expect(elapsed < .seconds(30))
        }

        @Test("server killed and restarted mid-load: the retries complete the load, bit-exact")
        func restarted() async throws {
            let (nginx, root, url) = try serve()
            defer { removeTemporaryDirectory(root) }
            let o = options(attempts: 10)
            let file = try await RangedBrineFile.open(url, remote: o)
            let load = Task { try await file.loadAll() }
            try await Task.sleep(for: .milliseconds(600))
            nginx.kill()
            try await Task.sleep(for: .milliseconds(300))
            try nginx.start()
            let tensors = try await load.value
            #expect(o.stats.retries > 0)
            #expect(tensors == (try BrineFile(contentsOf: MiniLMBrine.plain).loadAll()))
        }

        @Test("object replaced mid-load: objectChanged, never a mix")
        func replaced() async throws {
            let (nginx, root, url) = try serve()
            defer { removeTemporaryDirectory(root) }
            _ = nginx
            var o = options(attempts: 3)
            o.fetch.concurrentRequests = 2
            let file = try await RangedBrineFile.open(url, remote: o)
            let load = Task { try await file.loadAll() }
            try await Task.sleep(for: .milliseconds(400))
            let temp = root.appendingPathComponent("new.tmp")
            try FileManager.default.copyItem(at: MiniLMBrine.zstd, to: temp)
            _ = rename(temp.path, root.appendingPathComponent("m.brine").path)
            let result = await load.result
            guard case .failure(let error) = result else {
                Issue.record("the load finished before the object was replaced")
                return
            }
            #expect((error as? BrineError)?.code == .objectChanged)
        }
    }
}
