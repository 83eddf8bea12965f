import Foundation
import Testing
@testable import Brine
@testable import BrineRemote

/// Where a remote request is redirected. A signed S3 request carries the
/// session token (`x-amz-security-token`) and signed headers that must never
/// reach another origin: it follows no redirect (AsyncHTTPClient strips only
/// `Authorization` when it follows one). A plain HTTP(S) model URL may
/// redirect (to a CDN) and is followed.
@Suite("Remote redirects", .serialized)
struct RemoteRedirectTests {
    /// Two servers on free ports: `redirect` answers every request with a
    /// 307 to `target`, which serves `b"0123456789"` (ranges honoured
    /// loosely) and logs each request's headers, one JSON line each.
    static let script = #"""
        import http.server, json, sys, threading
        log = open(sys.argv[1], "a")
        class Target(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self): self.answer(False)
            def do_GET(self): self.answer(True)
            def answer(self, body):
                log.write(json.dumps({k.lower(): v for k, v in self.headers.items()}) + "\n"); log.flush()
                data = b"0123456789"
                r = self.headers.get("Range")
                if r and r.startswith("bytes="):
                    lo, hi = r[6:].split("-")
                    if lo == "":  # a suffix range: the last hi bytes
                        lo, hi = max(0, 10 - int(hi)), 9
                    else:
                        lo = int(lo); hi = min(int(hi) if hi else 9, 9)
                    self.send_response(206)
                    self.send_header("Content-Range", "bytes %d-%d/10" % (lo, hi))
                    data = data[lo:hi + 1]
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", '"e1"')
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if body: self.wfile.write(data)
            def log_message(self, *a): pass
        target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
        class Redirect(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self): self.go()
            def do_GET(self): self.go()
            def go(self):
                self.send_response(307)
                self.send_header("Location", "http://127.0.0.1:%d%s" % (target.server_port, self.path))
                self.send_header("Content-Length", "0")
                self.end_headers()
            def log_message(self, *a): pass
        redirect = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        for s in (target, redirect): threading.Thread(target=s.serve_forever, daemon=True).start()
        print(redirect.server_port, flush=True)
        sys.stdin.read()
        """#

    @Test("a signed S3 request answered by a 307 to another origin fails (typed) and sends the session token nowhere; a plain HTTP URL follows the redirect")
    func signedRequestsFollowNoRedirect() async throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let log = dir.appendingPathComponent("target.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", Self.script, log.path]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try p.run()
        defer { try? input.fileHandleForWriting.close(); p.waitUntilExit() }
        var line = ""
        while !line.hasSuffix("\n") {
            let d = output.fileHandleForReading.availableData
            guard !d.isEmpty else { break }
            line += String(decoding: d, as: UTF8.self)
        }
        let port = try #require(Int(line.trimmingCharacters(in: .whitespacesAndNewlines)))

        var o = RemoteOptions()
        o.environment = [:]
        o.endpoint = "http://127.0.0.1:\(port)"
        o.region = "us-east-1"
        o.maxAttempts = 1
        o.credentials = AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret", sessionToken: "SESSION-TOKEN-SECRET")
        do {
            _ = try await RemoteObjectSource.open(URL(string: "s3://bucket/model.brine")!, options: o)
            Issue.record("the redirected S3 open succeeded")
        } catch {
            #expect(error.code == .io && error.message.contains("307"), "\(error)")
        }
        let seen = try String(contentsOf: log, encoding: .utf8)
        #expect(!seen.contains("SESSION-TOKEN-SECRET"), "the session token reached the other origin: \(seen)")
        #expect(!seen.contains("AWS4-HMAC-SHA256"), "signed headers reached the other origin: \(seen)")

        var plain = RemoteOptions()
        plain.environment = [:]
        plain.maxAttempts = 1
        let source = try await RemoteObjectSource.open(URL(string: "http://127.0.0.1:\(port)/model.bin")!, options: plain)
        #expect(source.size == 10)
    }
}
