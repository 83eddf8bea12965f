import Brine
import Foundation

/// Where a remote object is: an `http://`/`https://` URL, or `s3://bucket/key`
/// resolved against an endpoint (path-style for a custom endpoint,
/// virtual-hosted style on AWS).
public struct RemoteLocation: Sendable, CustomStringConvertible {
    /// The URL as the caller gave it (`s3://…` or `http(s)://…`); errors name it.
    public let url: URL
    /// The bucket, for `s3://` URLs.
    public let bucket: String?
    /// The object key, for `s3://` URLs (without the leading `/`).
    public let key: String?
    /// `http` or `https`.
    let scheme: String
    /// Host and port of the server, as in the `Host` header.
    let authority: String
    /// The decoded request path (`/bucket/key`, `/key` or the URL's path).
    let path: String
    /// The URL's own query, for http(s) URLs (presigned URLs keep theirs).
    let query: String?
    /// Signs requests when set (S3 with credentials).
    let signer: SigV4Signer?

    /// `true` for `s3://` URLs.
    public var isS3: Bool { bucket != nil }

    /// The URL as given.
    public var description: String { url.absoluteString }

    /// Resolves `url`.
    /// - Throws: ``BrineError`` `.invalidArgument` for another scheme, an
    ///   `s3://` URL without bucket or key, or an unusable endpoint.
    public init(_ url: URL, options: RemoteOptions) throws(BrineError) {
        self.url = url
        switch url.scheme?.lowercased() {
        case "http", "https":
            guard let host = url.host, !host.isEmpty else {
                throw BrineError(.invalidArgument, "URL has no host", filePath: url.absoluteString)
            }
            scheme = url.scheme!.lowercased()
            authority = url.port.map { "\(Self.bracketed(host)):\($0)" } ?? Self.bracketed(host)
            path = url.path.isEmpty ? "/" : url.path
            query = url.query
            bucket = nil
            key = nil
            signer = nil
        case "s3":
            guard let b = url.host, !b.isEmpty else {
                throw BrineError(.invalidArgument, "s3 URL has no bucket (s3://bucket/key)", filePath: url.absoluteString)
            }
            let k = String(url.path.drop(while: { $0 == "/" }))
            bucket = b
            key = k
            query = nil
            if let endpoint = options.resolvedEndpoint {
                guard let e = URL(string: endpoint), let s = e.scheme?.lowercased(), s == "http" || s == "https", let host = e.host else {
                    throw BrineError(.invalidArgument, "S3 endpoint '\(endpoint)' is not an http(s) URL", filePath: url.absoluteString)
                }
                scheme = s
                authority = e.port.map { "\(Self.bracketed(host)):\($0)" } ?? Self.bracketed(host)
                let base = e.path.hasSuffix("/") ? String(e.path.dropLast()) : e.path
                path = k.isEmpty ? "\(base)/\(b)" : "\(base)/\(b)/\(k)"
            } else {
                scheme = "https"
                authority = "\(b).s3.\(options.resolvedRegion).amazonaws.com"
                path = "/" + k
            }
            signer = options.resolvedCredentials.map { SigV4Signer(credentials: $0, region: options.resolvedRegion) }
        default:
            throw BrineError(.invalidArgument, "unsupported URL scheme '\(url.scheme ?? "")' (use http://, https:// or s3://)", filePath: url.absoluteString)
        }
    }

    private static func bracketed(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }

    /// The location of another key in the same bucket (multipart uploads, shards).
    func sibling(key newKey: String) throws(BrineError) -> RemoteLocation {
        guard let bucket else {
            throw BrineError(.invalidArgument, "not an s3 URL", filePath: description)
        }
        return try RemoteLocation(URL(string: "s3://\(bucket)/\(newKey)")!, resolvedLike: self)
    }

    /// The bucket itself (for bucket-level requests such as listing uploads).
    func bucketLocation() throws(BrineError) -> RemoteLocation {
        guard let bucket, let key else {
            throw BrineError(.invalidArgument, "not an s3 URL", filePath: description)
        }
        var p = path
        if !key.isEmpty, p.hasSuffix("/" + key) { p = String(p.dropLast(key.count + 1)) }
        if p.isEmpty { p = "/" }
        return RemoteLocation(url: URL(string: "s3://\(bucket)")!, bucket: bucket, key: "", scheme: scheme, authority: authority, path: p, query: nil, signer: signer)
    }

    private init(url: URL, bucket: String?, key: String?, scheme: String, authority: String, path: String, query: String?, signer: SigV4Signer?) {
        self.url = url; self.bucket = bucket; self.key = key; self.scheme = scheme
        self.authority = authority; self.path = path; self.query = query; self.signer = signer
    }

    private init(_ url: URL, resolvedLike other: RemoteLocation) throws(BrineError) {
        let k = String(url.path.drop(while: { $0 == "/" }))
        let bucketLoc = try other.bucketLocation()
        let base = bucketLoc.path == "/" ? "" : bucketLoc.path
        self.init(url: url, bucket: other.bucket, key: k, scheme: other.scheme, authority: other.authority,
                  path: base + "/" + k, query: nil, signer: other.signer)
    }

    /// The request URL with extra query items (already decoded; encoded here).
    func requestURL(_ items: [(String, String)] = []) -> String {
        var s = "\(scheme)://\(authority)"
        if isS3 {
            s += SigV4Signer.encode(path, keepSlash: true)
        } else {
            // The caller's URL path, already encoded as given.
            s += url.path.isEmpty ? "/" : (URLComponents(url: url, resolvingAgainstBaseURL: false)?.percentEncodedPath ?? url.path)
        }
        var parts: [String] = []
        if let query, !query.isEmpty { parts.append(query) }
        for (k, v) in items {
            parts.append(v.isEmpty && k == "uploads" ? "uploads" : "\(SigV4Signer.encode(k, keepSlash: false))=\(SigV4Signer.encode(v, keepSlash: false))")
        }
        if !parts.isEmpty { s += "?" + parts.joined(separator: "&") }
        return s
    }
}
