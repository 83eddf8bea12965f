import AsyncHTTPClient
import Brine
import Foundation
import NIOCore
import NIOHTTP1

/// A remote object read with HTTP range requests: an `http(s)://` URL on any
/// server that honours `Range`, or an `s3://bucket/key` object (SigV4-signed
/// when credentials are set). A ``RangeSource``, so ``RangedBrineFile`` reads
/// it with the core reader's validation and decoding.
///
/// Opening sends one request: the last ``RangeReadOptions/tailBytes``
/// (trailer and, usually, the header; the whole object when it is smaller),
/// and learns the size (`Content-Range`) and the ETag.
/// Every later request carries `If-Match` with that ETag, and every answer's
/// ETag is compared too: an object replaced during a load fails with
/// ``BrineError/Code/objectChanged`` instead of mixing two versions. Each
/// attempt has a deadline; failed attempts resume where they stopped
/// (only the missing bytes are fetched again).
public final class RemoteObjectSource: RangeSource {
    /// Where the object is.
    public let location: RemoteLocation
    /// The object's size in bytes, from the open.
    public let size: Int
    /// The ETag pinned at open (`nil` when the server sends none).
    public let etag: String?
    /// Request and byte counts.
    public var stats: RemoteStats { transport.options.stats }
    let transport: Transport
    private let held: [(offset: Int, bytes: [UInt8])]

    /// The URL as given, for error messages.
    public var name: String { location.description }

    private init(location: RemoteLocation, size: Int, etag: String?, transport: Transport, held: [(offset: Int, bytes: [UInt8])]) {
        self.location = location
        self.size = size
        self.etag = etag
        self.transport = transport
        self.held = held
    }

    /// Opens `url` (`http://`, `https://` or `s3://`).
    /// - Throws: ``BrineError`` `.invalidArgument` (bad URL), `.notFound`
    ///   (404), `.permissionDenied` (401/403), `.io`/`.timedOut` after retries,
    ///   `.unsupportedFeature` (a server that ignores `Range` on a large object).
    public static func open(_ url: URL, options: RemoteOptions = .init()) async throws(BrineError) -> RemoteObjectSource {
        let location = try RemoteLocation(url, options: options)
        let transport = Transport(options: options)
        let tailCount = Swift.max(options.fetch.tailBytes, 80)
        let tail = try await rangedGet(transport, location, header: "bytes=-\(tailCount)", expect: tailCount, etag: nil)
        let held: [(offset: Int, bytes: [UInt8])] = [(tail.start, tail.bytes)]
        return RemoteObjectSource(location: location, size: tail.total, etag: tail.etag, transport: transport, held: held)
    }

    /// Reads `range` (served from the bytes fetched at open when it lies
    /// inside them), resuming after failures.
    /// - Throws: ``BrineError`` `.truncated` (range outside the object, or
    ///   416), `.objectChanged`, `.notFound`, `.permissionDenied`,
    ///   `.io`/`.timedOut` after the allowed attempts.
    public func read(_ range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) async throws(BrineError) {
        guard range.lowerBound >= 0, range.upperBound <= size, buffer.count == range.count else {
            throw BrineError(.truncated, "reading bytes \(range) runs past the end of the object (\(size) bytes)", filePath: name,
                             byteOffset: UInt64(Swift.max(0, Swift.min(range.lowerBound, size))))
        }
        guard !range.isEmpty else { return }
        for h in held where range.lowerBound >= h.offset && range.upperBound <= h.offset + h.bytes.count {
            h.bytes.withUnsafeBytes { src in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[(range.lowerBound - h.offset) ..< (range.upperBound - h.offset)]))
            }
            return
        }
        let progress = UncheckedBox(0)
        let destination = Destination(buffer: buffer)
        let location = self.location, etag = self.etag, stats = self.stats, transport = self.transport
        let url = name
        try await transport.withRetries("GET bytes \(range.lowerBound)-\(range.upperBound - 1)", url: url, server: location.authority) { _ in
            // Everything arrived before the failure (a reset after the last byte).
            if progress.value == destination.buffer.count { return }
            let start = range.lowerBound + progress.value
            var headers = [("Range", "bytes=\(start)-\(range.upperBound - 1)")]
            if let etag { headers.append(("If-Match", etag)) }
            let request = transport.makeRequest(.GET, location, headers: headers)
            stats.request(range: start ..< range.upperBound)
            let response = try await transport.options.httpClient(for: location).execute(request, timeout: .seconds(Int64(Swift.max(1, transport.options.requestTimeout))))
            let status = response.status.code
            guard status == 206 || (status == 200 && start == 0 && range.upperBound == self.size) else {
                var body: [UInt8] = []
                for try await part in response.body where body.count < 64 << 10 { body.append(contentsOf: part.readableBytesView) }
                if status == 200 {
                    throw BrineError(.unsupportedFeature, "the server ignored the Range header (HTTP 200 for a range request)", filePath: url)
                }
                throw transport.failure(status: status, body: body, url: url, what: "GET")
            }
            if let etag, let got = response.headers.first(name: "ETag"), got != etag {
                throw BrineError(.objectChanged, "the object changed since it was opened (ETag \(etag), now \(got))", filePath: url)
            }
            if status == 206, let cr = response.headers.first(name: "Content-Range"), let parsed = parseContentRange(cr) {
                guard parsed.start == start, parsed.total == self.size else {
                    if parsed.total != self.size {
                        throw BrineError(.objectChanged, "the object's size changed from \(self.size) to \(parsed.total) bytes", filePath: url)
                    }
                    throw BrineError(.io, "the server answered bytes from \(parsed.start), asked from \(start)", filePath: url)
                }
            }
            for try await part in response.body {
                let n = part.readableBytes
                guard progress.value + n <= destination.buffer.count else {
                    throw BrineError(.io, "the server sent more bytes than asked for", filePath: url)
                }
                part.withUnsafeReadableBytes { src in
                    (destination.buffer.baseAddress! + progress.value).copyMemory(from: src.baseAddress!, byteCount: n)
                }
                progress.value += n
                stats.received(n)
            }
            guard progress.value == destination.buffer.count else {
                throw RetryableFailure(message: "the response ended after \(progress.value) of \(destination.buffer.count) bytes", timedOut: false)
            }
        }
    }

    /// A ranged GET's answer: where its bytes start, the object size, the ETag.
    struct RangedBody: Sendable {
        let start: Int
        let total: Int
        let etag: String?
        let bytes: [UInt8]
    }

    /// One ranged GET (with retries) collecting at most `expect` bytes.
    static func rangedGet(_ transport: Transport, _ location: RemoteLocation, header: String, expect: Int, etag: String?) async throws(BrineError) -> RangedBody {
        let url = location.description
        let stats = transport.options.stats
        return try await transport.withRetries("GET \(header)", url: url, server: location.authority) { _ in
            var headers = [("Range", header)]
            if let etag { headers.append(("If-Match", etag)) }
            let request = transport.makeRequest(.GET, location, headers: headers)
            stats.request()
            let response = try await transport.options.httpClient(for: location).execute(request, timeout: .seconds(Int64(Swift.max(1, transport.options.requestTimeout))))
            let status = response.status.code
            var body: [UInt8] = []
            let cap = status == 200 || status == 206 ? expect : 64 << 10
            for try await part in response.body {
                guard body.count + part.readableBytes <= cap else {
                    if status == 200 {
                        throw BrineError(.unsupportedFeature, "the server ignored the Range header (HTTP 200 with more than \(expect) bytes)", filePath: url)
                    }
                    if status == 206 { throw BrineError(.io, "the server sent more bytes than asked for", filePath: url) }
                    break
                }
                body.append(contentsOf: part.readableBytesView)
            }
            stats.received(body.count)
            let tag = response.headers.first(name: "ETag")
            switch status {
            case 206:
                guard let cr = response.headers.first(name: "Content-Range"), let parsed = parseContentRange(cr),
                      parsed.start + body.count <= parsed.total else {
                    throw BrineError(.io, "a 206 answer without a usable Content-Range", filePath: url)
                }
                return RangedBody(start: parsed.start, total: parsed.total, etag: tag, bytes: body)
            case 200:
                // The whole object (smaller than the range asked for).
                if let len = response.headers.first(name: "Content-Length").flatMap(Int.init), len != body.count {
                    throw RetryableFailure(message: "the response ended after \(body.count) of \(len) bytes", timedOut: false)
                }
                return RangedBody(start: 0, total: body.count, etag: tag, bytes: body)
            case 416:
                // An empty object: no byte satisfies any range.
                if let cr = response.headers.first(name: "Content-Range"), cr.hasSuffix("/0") {
                    return RangedBody(start: 0, total: 0, etag: tag, bytes: [])
                }
                throw transport.failure(status: status, body: body, url: url, what: "GET")
            default:
                throw transport.failure(status: status, body: body, url: url, what: "GET")
            }
        }
    }
}

/// Parses `bytes start-end/total` (RFC 9110 §14.4); `nil` when malformed or
/// out of the `Int` range.
func parseContentRange(_ value: String) -> (start: Int, end: Int, total: Int)? {
    let v = value.trimmingCharacters(in: .whitespaces)
    guard v.hasPrefix("bytes ") else { return nil }
    let rest = v.dropFirst(6)
    let parts = rest.split(separator: "/", maxSplits: 1)
    guard parts.count == 2, let total = Int(parts[1]), total >= 0 else { return nil }
    let se = parts[0].split(separator: "-", maxSplits: 1)
    guard se.count == 2, let s = Int(se[0]), let e = Int(se[1]), s >= 0, e >= s, e < total else { return nil }
    return (s, e, total)
}
