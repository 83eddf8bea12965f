import Foundation
@testable import Brine
import BrineRemote

#if canImport(Glibc)
import Glibc
#endif

/// The test servers of scripts/servers.sh (SeaweedFS with and without
/// SigV4, nginx), all on 127.0.0.1. Tests read the `BRINE_TEST_*`
/// variables that `scripts/servers.sh env` prints; when they are not set
/// (a bare `swift test`), the script is run once with `start` (idempotent),
/// and its servers keep running until `scripts/servers.sh stop`.
struct TestServers: Sendable {
    let s3Endpoint: String
    let s3AuthEndpoint: String
    let accessKey: String
    let secretKey: String
    let httpURL: String
    let httpRoot: URL
    let httpLog: URL

    static let shared: TestServers = {
        var env = ProcessInfo.processInfo.environment
        if env["BRINE_TEST_S3_ENDPOINT"] == nil || env["BRINE_TEST_HTTP_URL"] == nil {
            // posix_spawn and a blocking waitpid, not Foundation's Process:
            // the servers started keep running, and both a pipe read to its
            // end (they may hold its write end) and Process's termination
            // monitor (seen leaving the shell a zombie) hung the test run.
            // The output goes to a file, read once the script has exited.
            let outURL = FileManager.default.temporaryDirectory.appendingPathComponent("brine-servers-\(getpid()).env")
            defer { try? FileManager.default.removeItem(at: outURL) }
            let script = repositoryRoot.appendingPathComponent("scripts/servers.sh").path
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 1, outURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            let argv: [UnsafeMutablePointer<CChar>?] = ["/bin/bash", script, "start"].map { (s: String) in strdup(s) } + [nil]
            defer { for a in argv { free(a) } }
            var pid: pid_t = 0
            let spawned = posix_spawn(&pid, "/bin/bash", &actions, nil, argv, environ)
            precondition(spawned == 0, "cannot run scripts/servers.sh start (errno \(spawned))")
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            precondition(status == 0, "scripts/servers.sh start failed (wait status \(status))")
            let data = (try? Data(contentsOf: outURL)) ?? Data()
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix("export ") {
                let kv = line.dropFirst(7).split(separator: "=", maxSplits: 1)
                if kv.count == 2 { env[String(kv[0])] = String(kv[1]) }
            }
        }
        func v(_ k: String) -> String { env[k]! }
        return TestServers(
            s3Endpoint: v("BRINE_TEST_S3_ENDPOINT"), s3AuthEndpoint: v("BRINE_TEST_S3_AUTH_ENDPOINT"),
            accessKey: v("BRINE_TEST_S3_ACCESS_KEY"), secretKey: v("BRINE_TEST_S3_SECRET_KEY"),
            httpURL: v("BRINE_TEST_HTTP_URL"), httpRoot: URL(fileURLWithPath: v("BRINE_TEST_HTTP_ROOT")),
            httpLog: URL(fileURLWithPath: v("BRINE_TEST_HTTP_LOG")))
    }()

    /// The whole object's bytes (one GET through the ranged reader's source).
    func objectBytes(_ url: URL, _ o: RemoteOptions) async throws -> [UInt8] {
        let source = try await RemoteObjectSource.open(url, options: o)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, source.size), alignment: 16)
        defer { buffer.deallocate() }
        try await source.read(0 ..< source.size, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< source.size]))
        return [UInt8](UnsafeRawBufferPointer(rebasing: buffer[0 ..< source.size]))
    }

    /// Options for the anonymous S3 gateway (no credentials, whatever the environment says).
    func anonymous() -> RemoteOptions {
        var o = RemoteOptions()
        o.environment = [:]
        o.endpoint = s3Endpoint
        return o
    }

    /// Options for the authenticated S3 gateway with the right (or a wrong) secret.
    func authenticated(secret: String? = nil) -> RemoteOptions {
        var o = RemoteOptions()
        o.environment = [:]
        o.endpoint = s3AuthEndpoint
        o.region = "us-east-1"
        o.credentials = AWSCredentials(accessKeyID: accessKey, secretAccessKey: secret ?? secretKey)
        return o
    }

    /// The bucket of this test run (one per process: SeaweedFS gives every
    /// bucket its own volumes, so a bucket per test would exhaust them); tests
    /// use distinct keys under a per-test prefix.
    static let runBucket = "brine-tests-\(getpid())-\(UUID().uuidString.prefix(6).lowercased())"

    /// `bucket/prefix` for one test: the run's bucket and a fresh key prefix.
    static func bucketName(_ tag: String) -> String {
        "\(runBucket)/\(tag.lowercased())-\(UUID().uuidString.prefix(8).lowercased())"
    }
}

/// MiniLM converted to Brine (uncompressed and zstd + shuffle), made once
/// into the ignored cache folder (atomic saves) and reused by later runs.
enum MiniLMBrine {
    static let folder: URL = {
        let url = cacheDirectory.appendingPathComponent("remote-tests")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()
    /// Uncompressed Brine file of all-MiniLM-L6-v2.
    static let plain: URL = make("plain.brine", SaveOptions())
    /// zstd level 1 + shuffle.
    static let zstd: URL = make("zstd.brine", { var o = SaveOptions(); o.codec = .zstd(level: 1); o.filter = .shuffle; return o }())

    /// A 6 MiB model (three float32 arrays, zstd) for the tests that need a
    /// real object but not the 90 MB checkpoint (keeps the suite's load low).
    static let small: URL = {
        let url = folder.appendingPathComponent("small.brine")
        if let f = try? BrineFile(contentsOf: url), f.verify().isEmpty { return url }
        var w = Weights()
        for (i, shape) in [[512, 1024], [1024, 512], [3, 1024]].enumerated() {
            w["layer\(i).weight"] = randomArray(dtype: .float32, shape: shape, seed: UInt64(i + 1))
        }
        var o = SaveOptions()
        o.codec = .zstd(level: 1)
        o.chunkBytes = 256 << 10
        try! Brine.saveWeights(w, to: url, options: o)
        return url
    }()

    private static func make(_ name: String, _ options: SaveOptions) -> URL {
        let url = folder.appendingPathComponent(name)
        if let f = try? BrineFile(contentsOf: url), f.verify().isEmpty { return url }
        let st = try! SafetensorsFile(contentsOf: miniLMPath)
        let weights = try! Weights(st.loadAll().map { (path: $0.name, tensor: $0.tensor) })
        try! Brine.saveWeights(weights, to: url, options: options)
        return url
    }
}

/// A private nginx (single process, `master_process off`) serving `root` on
/// a free loopback port at `rate` bytes per second per connection, for the
/// tests that kill and restart a server. Stopped with SIGKILL by its pid.
final class PrivateNginx: @unchecked Sendable {
    let root: URL
    let port: Int
    let folder: URL
    private(set) var process: Process?

    init(root: URL, rate: String) throws {
        self.root = root
        folder = makeTemporaryDirectory("nginx")
        // A port the kernel picked as free (bound, then closed): a fixed
        // range met the shared test servers (BRINE_SERVERS_PORT_BASE=28900
        // took 28900–28920) and the tests then talked to SeaweedFS.
        port = ConnectionRefusedTests.closedPort()
        let conf = """
        daemon off; master_process off; worker_processes 1;
        pid \(folder.path)/nginx.pid; error_log \(folder.path)/error.log;
        events { worker_connections 64; }
        http {
            access_log off;
            client_body_temp_path \(folder.path); proxy_temp_path \(folder.path); fastcgi_temp_path \(folder.path);
            uwsgi_temp_path \(folder.path); scgi_temp_path \(folder.path);
            server { listen 127.0.0.1:\(port); root \(root.path); limit_rate \(rate); }
        }
        """
        try conf.write(to: folder.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        try start()
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    func start() throws {
        let p = Process()
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/nginx"
        p.executableURL = URL(fileURLWithPath: nginx)
        p.arguments = ["-c", folder.appendingPathComponent("nginx.conf").path, "-e", folder.appendingPathComponent("error.log").path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        // Wait until it accepts connections (at most 5 s). An nginx that
        // could not bind its port logs so at once (then retries and exits):
        // whatever answers there is another server, so that is a failed
        // start, not a ready one.
        let log = folder.appendingPathComponent("error.log")
        func bindFailed() -> Bool { ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("bind()") }
        for _ in 0 ..< 100 {
            if canConnect() {
                usleep(50_000)
                if p.isRunning && !bindFailed() { return }
                break
            }
            if !p.isRunning { break }
            usleep(50_000)
        }
        kill()
        throw BrineError(.io, "private nginx did not start on port \(port) (see \(folder.path)/error.log)")
    }

    func kill() {
        if let p = process, p.isRunning {
            Glibc.kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        process = nil
    }

    private func canConnect() -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    deinit {
        kill()
        removeTemporaryDirectory(folder)
    }
}
