import AsyncHTTPClient
import Brine
import Foundation
import NIOHTTP1

/// The few S3 operations Brine needs beyond ranged GETs: put, delete, head,
/// bucket creation, and multipart upload (create, upload part, complete,
/// abort, list), all SigV4-signed when credentials are set. Statuses map to
/// typed ``BrineError``s naming the URL (403 `.permissionDenied`, 404
/// `.notFound`); 5xx and connection failures are retried as for reads.
public struct S3Client: Sendable {
    let transport: Transport
    /// The options in force.
    public var options: RemoteOptions { transport.options }

    /// A client with `options` (endpoint, region, credentials, retries).
    public init(options: RemoteOptions = .init()) {
        transport = Transport(options: options)
    }

    func location(_ url: URL) throws(BrineError) -> RemoteLocation {
        let l = try RemoteLocation(url, options: options)
        guard l.isS3 else {
            throw BrineError(.invalidArgument, "not an s3:// URL", filePath: url.absoluteString)
        }
        return l
    }

    /// Creates the bucket of `url` (`s3://bucket/…`); an existing bucket
    /// owned by the caller is fine.
    /// - Throws: ``BrineError`` `.permissionDenied`, `.io`.
    public func createBucket(_ url: URL) async throws(BrineError) {
        let b = try location(url).bucketLocation()
        do {
            _ = try await transport.send("create bucket", .PUT, b, accept: [200, 204])
        } catch where error.code == .io && error.message.contains("409") {
            return // BucketAlreadyOwnedByYou / BucketAlreadyExists
        }
    }

    /// Uploads `bytes` as the object at `url` in one PUT.
    /// - Throws: ``BrineError`` `.permissionDenied`, `.notFound` (no bucket), `.io`.
    public func put(_ bytes: [UInt8], to url: URL) async throws(BrineError) {
        _ = try await transport.send("PUT object", .PUT, try location(url), body: bytes)
    }

    /// Deletes the object at `url` (no error when it does not exist).
    /// - Throws: ``BrineError`` `.permissionDenied`, `.io`.
    public func delete(_ url: URL) async throws(BrineError) {
        _ = try await transport.send("DELETE object", .DELETE, try location(url), accept: [200, 204, 404])
    }

    /// The object's size in bytes and ETag, or `nil` when it does not exist.
    /// - Throws: ``BrineError`` `.permissionDenied`, `.io`.
    public func head(_ url: URL) async throws(BrineError) -> (size: Int, etag: String?)? {
        do {
            let r = try await transport.send("HEAD object", .HEAD, try location(url), accept: [200])
            let size = r.headers.first(name: "Content-Length").flatMap(Int.init) ?? 0
            return (size, r.headers.first(name: "ETag"))
        } catch where error.code == .notFound {
            return nil
        }
    }

    /// The multipart uploads in progress under `url`'s key (as prefix):
    /// `(key, uploadId)` pairs.
    /// - Throws: ``BrineError`` `.permissionDenied`, `.io`.
    public func listMultipartUploads(_ url: URL) async throws(BrineError) -> [(key: String, uploadID: String)] {
        let l = try location(url)
        let r = try await transport.send("list multipart uploads", .GET, try l.bucketLocation(),
                                         query: [("uploads", ""), ("prefix", l.key ?? "")], maxBody: 8 << 20)
        let text = r.body
        var out: [(String, String)] = []
        for upload in xmlValues("Upload", in: text) {
            let u = Array(upload.utf8)
            if let k = xmlValue("Key", in: u), let id = xmlValue("UploadId", in: u) { out.append((k, id)) }
        }
        return out
    }

    /// Starts a multipart upload to `url`.
    /// - Returns: the upload id.
    /// - Throws: ``BrineError`` `.permissionDenied`, `.notFound`, `.io`.
    public func createMultipartUpload(_ url: URL) async throws(BrineError) -> String {
        let r = try await transport.send("create multipart upload", .POST, try location(url), query: [("uploads", "")])
        guard let id = xmlValue("UploadId", in: r.body), !id.isEmpty else {
            throw BrineError(.io, "create multipart upload: no UploadId in the answer", filePath: url.absoluteString)
        }
        return id
    }

    /// Uploads part `number` (1…10,000) of upload `uploadID`.
    /// - Returns: the part's ETag (needed to complete).
    /// - Throws: ``BrineError`` `.permissionDenied`, `.notFound` (the upload
    ///   was aborted), `.io`.
    public func uploadPart(_ url: URL, uploadID: String, number: Int, bytes: [UInt8]) async throws(BrineError) -> String {
        let r = try await transport.send("upload part \(number)", .PUT, try location(url),
                                         query: [("partNumber", String(number)), ("uploadId", uploadID)], body: bytes)
        guard let etag = r.headers.first(name: "ETag") else {
            throw BrineError(.io, "upload part \(number): no ETag in the answer", filePath: url.absoluteString)
        }
        return etag
    }

    /// Completes upload `uploadID` with its parts (number, ETag) in order:
    /// the object appears, whole, only now.
    /// - Throws: ``BrineError`` `.permissionDenied`, `.notFound`, `.io`.
    public func completeMultipartUpload(_ url: URL, uploadID: String, parts: [(number: Int, etag: String)]) async throws(BrineError) {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for p in parts { xml += "<Part><PartNumber>\(p.number)</PartNumber><ETag>\(xmlEscape(p.etag))</ETag></Part>" }
        xml += "</CompleteMultipartUpload>"
        _ = try await transport.send("complete multipart upload", .POST, try location(url), query: [("uploadId", uploadID)],
                                     headers: [("Content-Type", "application/xml")], body: Array(xml.utf8))
    }

    /// Aborts upload `uploadID`: its parts are deleted and no object appears.
    /// - Throws: ``BrineError`` `.permissionDenied`, `.io`.
    public func abortMultipartUpload(_ url: URL, uploadID: String) async throws(BrineError) {
        _ = try await transport.send("abort multipart upload", .DELETE, try location(url), query: [("uploadId", uploadID)],
                                     accept: [200, 204, 404])
    }

    /// Uploads the local file at `path` to `url` through multipart upload:
    /// parts of ``RemoteOptions/partBytes`` (≥ 5 MiB), up to
    /// ``RemoteOptions/concurrentUploads`` in flight, read from the file as
    /// they are sent (memory ≤ parts in flight). A file smaller than one
    /// part goes in a single PUT. The object appears only when complete; on
    /// any failure or cancellation the upload is aborted (no parts remain)
    /// and the error is rethrown.
    /// - Parameter progress: called after each part with bytes sent and total.
    /// - Throws: ``BrineError`` `.invalidArgument` (part size under 5 MiB),
    ///   `.notFound`, `.permissionDenied`, `.io`, `.timedOut`; `.io`
    ///   "cancelled" when the task was cancelled.
    public func upload(file path: String, to url: URL, progress: (@Sendable (Int, Int) -> Void)? = nil) async throws(BrineError) {
        guard options.partBytes >= 5 << 20 else {
            throw BrineError(.invalidArgument, "part size \(options.partBytes) is under the S3 minimum of 5 MiB", filePath: url.absoluteString)
        }
        let source = try FileRangeSource(path: path)
        let size = source.size
        let partBytes = options.partBytes
        if size <= partBytes {
            var bytes = [UInt8](repeating: 0, count: size)
            try await readInto(&bytes, source, 0 ..< size)
            try await put(bytes, to: url)
            progress?(size, size)
            return
        }
        let uploadID = try await createMultipartUpload(url)
        let partCount = (size + partBytes - 1) / partBytes
        let client = self
        do {
            let etags = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                var next = 1
                var done: [Int: String] = [:]
                var sent = 0
                func launch() {
                    let number = next
                    next += 1
                    group.addTask {
                        let lo = (number - 1) * partBytes
                        let hi = Swift.min(size, lo + partBytes)
                        var bytes = [UInt8](repeating: 0, count: hi - lo)
                        try await readInto(&bytes, source, lo ..< hi)
                        try Task.checkCancellation()
                        return (number, try await client.uploadPart(url, uploadID: uploadID, number: number, bytes: bytes))
                    }
                }
                while next <= Swift.min(partCount, Swift.max(1, options.concurrentUploads)) { launch() }
                while let item = try await group.next() {
                    let (number, etag) = item
                    done[number] = etag
                    sent += Swift.min(size, number * partBytes) - (number - 1) * partBytes
                    progress?(sent, size)
                    if next <= partCount { launch() }
                }
                return (1 ... partCount).map { ($0, done[$0]!) }
            }
            try Task.checkCancellation()
            try await completeMultipartUpload(url, uploadID: uploadID, parts: etags.map { (number: $0.0, etag: $0.1) })
        } catch {
            // Abort even when cancelled: a detached task is not cancelled with us.
            let abort = Task.detached { try? await client.abortMultipartUpload(url, uploadID: uploadID) }
            await abort.value
            if let e = error as? BrineError { throw e }
            if error is CancellationError { throw BrineError(.io, "upload cancelled; the multipart upload was aborted", filePath: url.absoluteString) }
            throw BrineError(.io, "upload failed: \(error); the multipart upload was aborted", filePath: url.absoluteString)
        }
    }
}

/// Reads `range` of `source` into `bytes` (sized to the range).
private func readInto(_ bytes: inout [UInt8], _ source: FileRangeSource, _ range: Range<Int>) async throws(BrineError) {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(1, range.count), alignment: 16)
    defer { buffer.deallocate() }
    try await source.read(range, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< range.count]))
    bytes = [UInt8](UnsafeRawBufferPointer(rebasing: buffer[0 ..< range.count]))
}
