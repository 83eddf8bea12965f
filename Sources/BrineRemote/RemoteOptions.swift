import AsyncHTTPClient
import Brine
import Foundation
import NIOCore
import NIOPosix
import NIOConcurrencyHelpers

/// How BrineRemote reaches a server: fetching (coalescing, concurrency),
/// retries, deadlines, S3 endpoint, region and credentials, uploads.
///
/// Endpoint, region and credentials default to the standard AWS variables
/// (`AWS_ENDPOINT_URL`, `AWS_REGION` or `AWS_DEFAULT_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) read
/// from ``environment``.
public struct RemoteOptions: Sendable {
    /// Tail size at open, request coalescing and concurrency.
    public var fetch: RangeReadOptions = RangeReadOptions()
    /// Attempts per request, the first included (default 5). Connection
    /// failures, HTTP 5xx/429, short bodies and missed deadlines are retried;
    /// 4xx answers are not.
    public var maxAttempts: Int = 5
    /// The first retry waits up to this many seconds (default 0.1); each
    /// further retry doubles the bound, up to ``maxBackoff``; the actual wait
    /// is uniformly random below the bound ("full jitter").
    public var initialBackoff: Double = 0.1
    /// The largest wait between two attempts, in seconds (default 2).
    public var maxBackoff: Double = 2
    /// The deadline of one request attempt, head and body, in seconds
    /// (default 60). A request still running then is cancelled and retried.
    public var requestTimeout: Double = 60
    /// The S3 endpoint, e.g. `http://127.0.0.1:9000`; `nil` reads
    /// `AWS_ENDPOINT_URL`; when neither is set, AWS
    /// (`https://<bucket>.s3.<region>.amazonaws.com`). A custom endpoint is
    /// addressed path-style (`<endpoint>/<bucket>/<key>`).
    public var endpoint: String? = nil
    /// The region; `nil` reads `AWS_REGION`, then `AWS_DEFAULT_REGION`, then `us-east-1`.
    public var region: String? = nil
    /// Credentials; `nil` reads the environment. With none at all, S3
    /// requests go unsigned (public buckets, anonymous gateways).
    public var credentials: AWSCredentials? = nil
    /// The environment the defaults come from (the process's by default).
    public var environment: [String: String] = ProcessInfo.processInfo.environment
    /// The size of each multipart-upload part in bytes (default 8 MiB;
    /// at least 5 MiB, the S3 minimum for all parts but the last).
    public var partBytes: Int = 8 << 20
    /// The number of parts uploaded at once (default 4). The file bytes a
    /// streamed save holds are bounded by `(concurrentUploads + 1) × partBytes`
    /// (the parts in flight and the one being filled; ``S3UploadSink``).
    public var concurrentUploads: Int = 4
    /// The HTTP client; `nil` uses one process-wide client (connection pool,
    /// keep-alive, 10 s connect timeout), and for signed (S3) requests one
    /// that follows no redirect. A client given here is used as it is for
    /// every request: give S3 requests one configured with
    /// `redirectConfiguration = .disallow`, since AsyncHTTPClient's default
    /// follows redirects and forwards every header but `Authorization`
    /// (the session token, `x-amz-security-token`, included) to the other host.
    public var client: HTTPClient? = nil
    /// Counts requests and bytes (for tests and progress); a fresh counter by default.
    public var stats: RemoteStats = RemoteStats()

    /// The defaults.
    public init() {}

    /// The endpoint in force (`endpoint`, else `AWS_ENDPOINT_URL`, else `nil` for AWS).
    var resolvedEndpoint: String? {
        if let endpoint, !endpoint.isEmpty { return endpoint }
        if let e = environment["AWS_ENDPOINT_URL_S3"], !e.isEmpty { return e }
        if let e = environment["AWS_ENDPOINT_URL"], !e.isEmpty { return e }
        return nil
    }

    /// The region in force.
    var resolvedRegion: String {
        if let region, !region.isEmpty { return region }
        for k in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            if let r = environment[k], !r.isEmpty { return r }
        }
        return "us-east-1"
    }

    /// The credentials in force.
    var resolvedCredentials: AWSCredentials? { credentials ?? AWSCredentials.fromEnvironment(environment) }

    /// The client for requests to `location`: the caller's, else the shared
    /// one; for signed (S3) requests one that follows no redirect, so that
    /// the session token and signed headers never reach another origin (an
    /// S3 endpoint does not redirect a correct request; a 3xx is an error).
    func httpClient(for location: RemoteLocation) -> HTTPClient {
        client ?? (location.signer == nil ? sharedHTTPClient : sharedSignedHTTPClient)
    }
}

/// Request and byte counts of remote operations (thread-safe).
public final class RemoteStats: Sendable {
    // NIOLockedValueBox (a pthread mutex) rather than Synchronization's Mutex:
    // ThreadSanitizer cannot see the kernel hand-off of Mutex's contended
    // (PI futex) path on Linux and reported these counters as racing.
    private let state = NIOLockedValueBox(State())
    private struct State {
        var requests = 0
        var bytesReceived = 0
        var bytesSent = 0
        var retries = 0
        var ranges: [Range<Int>] = []
        var peakUploadBuffered = 0
    }

    /// A counter at zero.
    public init() {}

    /// HTTP requests sent (every attempt counts).
    public var requests: Int { state.withLockedValue { $0.requests } }
    /// Response body bytes received.
    public var bytesReceived: Int { state.withLockedValue { $0.bytesReceived } }
    /// Request body bytes sent.
    public var bytesSent: Int { state.withLockedValue { $0.bytesSent } }
    /// Attempts that were retries.
    public var retries: Int { state.withLockedValue { $0.retries } }
    /// The byte ranges requested with GET, in order.
    public var ranges: [Range<Int>] { state.withLockedValue { $0.ranges } }
    /// The most file bytes an ``S3UploadSink`` held at once (the part being
    /// filled plus the parts in flight), over the streamed saves counted here.
    public var peakUploadBufferedBytes: Int { state.withLockedValue { $0.peakUploadBuffered } }

    func uploadBuffered(_ n: Int) { state.withLockedValue { $0.peakUploadBuffered = Swift.max($0.peakUploadBuffered, n) } }

    func request(range: Range<Int>? = nil, sent: Int = 0) {
        state.withLockedValue {
            $0.requests += 1
            $0.bytesSent += sent
            if let range { $0.ranges.append(range) }
        }
    }
    func received(_ n: Int) { state.withLockedValue { $0.bytesReceived += n } }
    func retried() { state.withLockedValue { $0.retries += 1 } }
}

/// The process-wide client: never shut down (it lives as long as the process).
let sharedHTTPClient: HTTPClient = makeSharedClient(followsRedirects: true)

/// The process-wide client of signed (S3) requests: follows no redirect.
let sharedSignedHTTPClient: HTTPClient = makeSharedClient(followsRedirects: false)

private func makeSharedClient(followsRedirects: Bool) -> HTTPClient {
    var config = HTTPClient.Configuration()
    // HTTP(S) model URLs may redirect (to a CDN); AsyncHTTPClient drops the
    // Authorization header on a redirect to another origin.
    config.redirectConfiguration = followsRedirects ? .follow(max: 5, allowCycles: false) : .disallow
    config.timeout = .init(connect: .seconds(10), read: .seconds(120))
    config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 32)
    config.decompression = .disabled
    // A refused or failed connection fails the waiting request at once, and
    // Transport's own bounded retries (backoff with jitter) decide; AHC's
    // default would retry connecting until the connect timeout, per attempt
    // (about 50 s before an unreachable endpoint was reported).
    config.connectionPool.retryConnectionEstablishment = false
    return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: config)
}
