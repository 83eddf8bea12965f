import AsyncHTTPClient
import Brine
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// A failure worth another attempt: a connection error, a 5xx/429 answer, a
/// short body, a missed deadline.
struct RetryableFailure: Error, CustomStringConvertible {
    let message: String
    let timedOut: Bool
    var description: String { message }
}

/// A mutable box whose contents only one task touches at a time (the
/// request task writes; the caller reads after the task group has joined).
final class UncheckedBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// A raw destination handed to a request task; the caller keeps the memory
/// alive and does not touch it until the task group has joined.
struct Destination: @unchecked Sendable {
    let buffer: UnsafeMutableRawBufferPointer
}

/// Sends requests through AsyncHTTPClient: signs (SigV4) when the location
/// has credentials, enforces the per-attempt deadline, retries what is
/// retryable with exponential backoff and full jitter, and maps HTTP
/// statuses to typed errors naming the URL.
struct Transport: Sendable {
    let options: RemoteOptions

    /// One response: status, headers and the whole (bounded) body.
    struct Response: Sendable {
        let status: UInt
        let headers: HTTPHeaders
        let body: [UInt8]
    }

    /// Builds the request, signed when `location` has a signer.
    func makeRequest(
        _ method: HTTPMethod, _ location: RemoteLocation, query: [(String, String)] = [],
        headers: [(String, String)] = [], body: [UInt8]? = nil
    ) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: location.requestURL(query))
        request.method = method
        var all = headers
        if let signer = location.signer {
            let date = SigV4Signer.amzDate(Date())
            let payloadHash = body.map { SigV4Signer.sha256Hex($0) } ?? SigV4Signer.emptyPayloadHash
            all.append(("x-amz-date", date))
            all.append(("x-amz-content-sha256", payloadHash))
            if let token = signer.credentials.sessionToken { all.append(("x-amz-security-token", token)) }
            var signed = all
            signed.append(("host", location.authority))
            let auth = signer.authorization(method: method.rawValue, path: location.path, query: query, headers: signed,
                                            payloadHash: payloadHash, amzDate: date)
            all.append(("Authorization", auth))
        }
        for (k, v) in all { request.headers.add(name: k, value: v) }
        if let body { request.body = .bytes(body) }
        return request
    }

    /// Runs `attempt` with the deadline and retry policy of ``options``.
    /// `attempt` throws ``RetryableFailure`` (or any transport error) to be
    /// retried, a ``BrineError`` to stop.
    /// `server` (host:port) names the server in connection errors.
    func withRetries<T: Sendable>(
        _ what: String, url: String, server: String? = nil, _ attempt: @escaping @Sendable (_ number: Int) async throws -> T
    ) async throws(BrineError) -> T {
        var number = 0
        while true {
            do {
                let current = number
                return try await withDeadline(options.requestTimeout) { try await attempt(current) }
            } catch let e as BrineError {
                throw e
            } catch {
                if Task.isCancelled {
                    throw BrineError(.io, "\(what) cancelled", filePath: url)
                }
                number += 1
                let timedOut = (error as? RetryableFailure)?.timedOut ?? isTimeout(error)
                guard number < Swift.max(1, options.maxAttempts) else {
                    var reason = describe(error)
                    if let server, isConnectionError(error) { reason = "cannot connect to \(server) (\(reason))" }
                    throw BrineError(timedOut ? .timedOut : .io,
                                     "\(what) failed after \(number) attempts: \(reason)", filePath: url)
                }
                options.stats.retried()
                let bound = Swift.min(options.maxBackoff, options.initialBackoff * Double(1 << Swift.min(number - 1, 20)))
                let wait = Double.random(in: 0 ... Swift.max(0, bound))
                do {
                    try await Task.sleep(nanoseconds: UInt64(wait * 1e9))
                } catch {
                    throw BrineError(.io, "\(what) cancelled", filePath: url)
                }
            }
        }
    }

    /// Races `body` against a sleep of `seconds`; a timeout cancels the body
    /// (AsyncHTTPClient then cancels the request) and throws a retryable failure.
    private func withDeadline<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(Swift.max(0.001, seconds) * 1e9))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw RetryableFailure(message: "no answer within the deadline of \(seconds) s", timedOut: true)
            }
            return value
        }
    }

    private func isTimeout(_ error: Error) -> Bool {
        if let e = error as? HTTPClientError {
            return e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout || e == .writeTimeout
        }
        return false
    }

    /// An error of establishing the connection (refused, unreachable, DNS).
    private func isConnectionError(_ error: Error) -> Bool {
        if error is NIOConnectionError { return false } // names host:port itself
        if error is IOError { return true }
        if let e = error as? ChannelError, case .connectTimeout = e { return true }
        if let e = error as? HTTPClientError, e == .connectTimeout { return true }
        return false
    }

    /// A one-line, human description of a transport error (no nested
    /// type dumps): "cannot connect to 127.0.0.1:9 (connection refused)".
    private func describe(_ error: Error) -> String {
        describeTransportError(error)
    }

    /// Maps a final (non-2xx) status to a typed error, or a retryable failure.
    func failure(status: UInt, body: [UInt8], url: String, what: String) -> Error {
        let detail = s3ErrorDetail(body)
        let suffix = detail.isEmpty ? "" : " (\(detail))"
        switch status {
        case 401, 403:
            return BrineError(.permissionDenied, "\(what): HTTP \(status), access denied\(suffix)", filePath: url)
        case 404:
            return BrineError(.notFound, "\(what): HTTP 404, no such object\(suffix)", filePath: url)
        case 412:
            return BrineError(.objectChanged, "\(what): HTTP 412, the object changed since it was opened (ETag no longer matches)", filePath: url)
        case 416:
            return BrineError(.truncated, "\(what): HTTP 416, the range lies beyond the end of the object\(suffix)", filePath: url)
        case 408, 429, 500 ... 599:
            return RetryableFailure(message: "\(what): HTTP \(status)\(suffix)", timedOut: status == 408)
        default:
            return BrineError(.io, "\(what): unexpected HTTP \(status)\(suffix)", filePath: url)
        }
    }

    /// Sends a request and collects a body of at most `maxBody` bytes
    /// (control requests: S3 XML answers), with retries.
    func send(
        _ what: String, _ method: HTTPMethod, _ location: RemoteLocation, query: [(String, String)] = [],
        headers: [(String, String)] = [], body: [UInt8]? = nil, maxBody: Int = 1 << 20,
        accept: Set<UInt> = [200, 204]
    ) async throws(BrineError) -> Response {
        let url = location.description
        let stats = options.stats
        return try await withRetries(what, url: url, server: location.authority) { _ in
            let request = makeRequest(method, location, query: query, headers: headers, body: body)
            stats.request(sent: body?.count ?? 0)
            let response = try await options.httpClient(for: location).execute(request, timeout: .seconds(Int64(Swift.max(1, options.requestTimeout))))
            var collected: [UInt8] = []
            for try await part in response.body {
                guard collected.count + part.readableBytes <= maxBody else {
                    throw BrineError(.limitExceeded, "\(what): response body over \(maxBody) bytes", filePath: url)
                }
                collected.append(contentsOf: part.readableBytesView)
            }
            stats.received(collected.count)
            let status = response.status.code
            guard accept.contains(status) else { throw failure(status: status, body: collected, url: url, what: what) }
            // S3 may answer 200 with an error document (CompleteMultipartUpload).
            if method == .POST, String(decoding: collected, as: UTF8.self).contains("<Error>") {
                throw RetryableFailure(message: "\(what): S3 error \(s3ErrorDetail(collected))", timedOut: false)
            }
            return Response(status: status, headers: response.headers, body: collected)
        }
    }
}

/// `Code: Message` of an S3 error document, or "".
func s3ErrorDetail(_ body: [UInt8]) -> String {
    guard let code = xmlValue("Code", in: body) else { return "" }
    let message = xmlValue("Message", in: body) ?? ""
    return message.isEmpty ? code : "\(code): \(message)"
}

/// The text of the first `<name>…</name>` element in a (bounded) XML
/// document, entity-decoded; `nil` when absent. Enough for the few fields
/// BrineRemote reads from S3 answers (UploadId, Code, Key…).
func xmlValue(_ name: String, in body: [UInt8]) -> String? {
    xmlValues(name, in: body).first
}

/// The texts of every `<name>…</name>` element, in order.
func xmlValues(_ name: String, in body: [UInt8]) -> [String] {
    let text = String(decoding: body, as: UTF8.self)
    var out: [String] = []
    var rest = text[...]
    let open = "<\(name)>", close = "</\(name)>"
    while let a = rest.range(of: open), let b = rest.range(of: close, range: a.upperBound ..< rest.endIndex) {
        out.append(xmlUnescape(String(rest[a.upperBound ..< b.lowerBound])))
        rest = rest[b.upperBound...]
    }
    return out
}

func xmlUnescape(_ s: String) -> String {
    guard s.contains("&") else { return s }
    return s.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
        .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
        .replacingOccurrences(of: "&amp;", with: "&")
}

func xmlEscape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}

/// A one-line description of a transport error: NIO's connection errors
/// become "cannot connect to host:port (reason)", `errno` failures their
/// `strerror` text; others their description, flattened to one line.
func describeTransportError(_ error: Error) -> String {
    if let e = error as? RetryableFailure { return e.message }
    if let e = error as? NIOConnectionError {
        if e.dnsAError != nil || e.dnsAAAAError != nil { return "cannot resolve \(e.host)" }
        let reasons = Set(e.connectionErrors.map { describeTransportError($0.error) }).sorted()
        return "cannot connect to \(e.host):\(e.port)" + (reasons.isEmpty ? "" : " (\(reasons.joined(separator: "; ")))")
    }
    if let e = error as? IOError {
        #if canImport(Glibc)
        return String(cString: strerror(e.errnoCode)).lowercased()
        #else
        return "errno \(e.errnoCode)"
        #endif
    }
    if let e = error as? ChannelError, case .connectTimeout = e { return "connect timed out" }
    if let e = error as? HTTPClientError {
        switch e {
        case .connectTimeout: return "connect timed out"
        case .remoteConnectionClosed: return "the server closed the connection"
        case .readTimeout: return "read timed out"
        case .deadlineExceeded: return "deadline exceeded"
        default: break
        }
    }
    return String(describing: error).replacingOccurrences(of: "\n", with: " ")
}
