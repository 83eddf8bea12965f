import Crypto
import Foundation

/// AWS credentials: an access key pair and, for temporary credentials, a
/// session token.
public struct AWSCredentials: Sendable, Hashable {
    /// The access key id (`AWS_ACCESS_KEY_ID`).
    public var accessKeyID: String
    /// The secret access key (`AWS_SECRET_ACCESS_KEY`).
    public var secretAccessKey: String
    /// The session token of temporary credentials (`AWS_SESSION_TOKEN`), or `nil`.
    public var sessionToken: String?

    /// Credentials from their parts.
    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN` in `environment`; `nil` when the key pair is not
    /// set (requests then go unsigned, as for a public bucket).
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> AWSCredentials? {
        guard let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty,
              let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else { return nil }
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token)
    }
}

/// AWS Signature Version 4 (header form), as specified in "Signature Version
/// 4 signing process" (AWS General Reference) and "Authenticating Requests:
/// Using the Authorization Header" (Amazon S3 API Reference). HMAC-SHA256
/// and SHA-256 come from swift-crypto.
///
/// The caller gives the request's method, its path (decoded; encoded here,
/// `/` kept), its query items, the headers to sign and the hex SHA-256 of the
/// payload (or `UNSIGNED-PAYLOAD`); the signer returns the `Authorization`
/// header value. S3 requires the `x-amz-content-sha256` header too; the
/// caller adds and signs it.
public struct SigV4Signer: Sendable {
    /// The credentials that sign.
    public let credentials: AWSCredentials
    /// The region, e.g. `us-east-1`.
    public let region: String
    /// The service, `s3` for S3.
    public let service: String

    /// A signer for `service` in `region`.
    public init(credentials: AWSCredentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The hex SHA-256 of the empty payload.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// Lower-case hex SHA-256 of `bytes`.
    public static func sha256Hex(_ bytes: some DataProtocol) -> String {
        hex(SHA256.hash(data: bytes))
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC, the form of `x-amz-date`.
    public static func amzDate(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
    }

    /// The canonical request (task 1 of the signing process).
    /// - Parameters:
    ///   - method: `GET`, `PUT`, …
    ///   - path: the decoded path, starting with `/`.
    ///   - query: the query items, decoded (`("uploads", "")` for `?uploads`).
    ///   - headers: every header to sign (names in any case; values are trimmed
    ///     and inner runs of spaces collapsed; repeated names are joined with `,`).
    ///   - payloadHash: hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    public func canonicalRequest(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String
    ) -> (request: String, signedHeaders: String) {
        let uri = path.isEmpty ? "/" : Self.encode(path, keepSlash: true)
        var encoded: [(name: String, value: String)] = []
        for (name, value) in query {
            encoded.append((Self.encode(name, keepSlash: false), Self.encode(value, keepSlash: false)))
        }
        encoded.sort { (a: (name: String, value: String), b: (name: String, value: String)) -> Bool in
            a.name != b.name ? a.name < b.name : a.value < b.value
        }
        let queryString = encoded.map { (p: (name: String, value: String)) -> String in p.name + "=" + p.value }.joined(separator: "&")
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let trimmed = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            merged[name.lowercased(), default: []].append(trimmed)
        }
        let names = merged.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let request = [method, uri, queryString, canonicalHeaders, signedHeaders, payloadHash].joined(separator: "\n")
        return (request, signedHeaders)
    }

    /// The string to sign (task 2) for a canonical request made at `amzDate`.
    public func stringToSign(canonicalRequest: String, amzDate: String) -> String {
        let day = String(amzDate.prefix(8))
        return ["AWS4-HMAC-SHA256", amzDate, "\(day)/\(region)/\(service)/aws4_request",
                Self.sha256Hex(Array(canonicalRequest.utf8))].joined(separator: "\n")
    }

    /// The `Authorization` header value (tasks 3 and 4). `headers` must
    /// include `host` and `x-amz-date` (equal to `amzDate`), and
    /// `x-amz-security-token` when the credentials have a session token.
    public func authorization(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String, amzDate: String
    ) -> String {
        let (creq, signed) = canonicalRequest(method: method, path: path, query: query, headers: headers, payloadHash: payloadHash)
        let sts = stringToSign(canonicalRequest: creq, amzDate: amzDate)
        let day = String(amzDate.prefix(8))
        var key = SymmetricKey(data: Array("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(sts.utf8), using: key))
        return "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(day)/\(region)/\(service)/aws4_request, SignedHeaders=\(signed), Signature=\(signature)"
    }

    /// URI-encodes per SigV4: every byte except `A–Z a–z 0–9 - _ . ~` (and `/`
    /// when `keepSlash`) becomes `%XX` (upper-case hex).
    public static func encode(_ s: String, keepSlash: Bool) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A") ... UInt8(ascii: "Z"), UInt8(ascii: "a") ... UInt8(ascii: "z"), UInt8(ascii: "0") ... UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
