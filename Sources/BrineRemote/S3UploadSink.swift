import Brine
import Dispatch
import Foundation
import NIOConcurrencyHelpers

/// A ``BrineByteSink`` that streams a Brine file to `s3://bucket/key`
/// through S3 multipart upload, with no temporary file: the bytes the writer
/// hands over fill a part of ``RemoteOptions/partBytes`` (≥ 5 MiB, the S3
/// minimum for every part but the last); each full part is uploaded while
/// the writer goes on, with up to ``RemoteOptions/concurrentUploads`` parts
/// in flight. When that many are in flight, ``write(_:)`` blocks the calling
/// thread until one is done, so the bytes held are bounded by
/// `(concurrentUploads + 1) × partBytes` (see ``peakBufferedBytes``).
///
/// The object appears only at ``complete()`` (S3 CompleteMultipartUpload; a
/// file smaller than one part goes in one PUT instead). On any failure, and
/// when the caller calls ``abort()``, the upload is aborted and no parts
/// remain. Use it with ``BrineWriter/init(sink:options:)`` or
/// ``Brine/encode(_:to:options:)``; ``Brine/save(_:to:remote:options:)`` and
/// ``Brine/write(to:remote:options:_:)`` do all of this.
///
/// Threading: ``write(_:)`` blocks; call it off Swift's cooperative pool
/// (a `Thread` or a Dispatch queue: the uploads themselves run as Swift
/// tasks). One writer at a time.
public final class S3UploadSink: BrineByteSink, @unchecked Sendable {
    /// The destination.
    public let url: URL
    private let client: S3Client
    private let partBytes: Int
    private let concurrentUploads: Int
    private let slots: DispatchSemaphore
    private let inFlight = DispatchGroup()
    /// The part being filled (touched by the writing thread only, and by
    /// ``complete()`` after the writer is done).
    private var current: [UInt8] = []
    private var nextPart = 1
    // NIOLockedValueBox (a pthread mutex) rather than Synchronization's Mutex:
    // ThreadSanitizer cannot see the kernel hand-off of Mutex's contended
    // (PI futex) path on Linux and reported these counters as racing.
    private let state = NIOLockedValueBox(State())

    private struct State {
        var uploadID: String?
        var etags: [Int: String] = [:]
        var failure: BrineError?
        var cancelled = false
        var buffered = 0
        var peakBuffered = 0
        var written = 0
        var partsUploaded = 0
        var tasks: [Int: Task<Void, Never>] = [:]
        var closed = false
    }

    /// A sink uploading to `url` with the endpoint, credentials, part size
    /// and concurrency of `options`. Nothing is sent until the first part is
    /// full (or ``complete()``).
    /// - Throws: ``BrineError`` `.invalidArgument`: not an `s3://` URL, or
    ///   ``RemoteOptions/partBytes`` under 5 MiB.
    public init(url: URL, options: RemoteOptions = .init()) throws(BrineError) {
        guard url.scheme?.lowercased() == "s3" else {
            throw BrineError(.invalidArgument, "uploading needs an s3:// URL (plain HTTP servers take no uploads)", filePath: url.absoluteString)
        }
        guard options.partBytes >= 5 << 20 else {
            throw BrineError(.invalidArgument, "part size \(options.partBytes) is under the S3 minimum of 5 MiB", filePath: url.absoluteString)
        }
        _ = try RemoteLocation(url, options: options)
        self.url = url
        self.client = S3Client(options: options)
        self.partBytes = options.partBytes
        self.concurrentUploads = Swift.max(1, options.concurrentUploads)
        self.slots = DispatchSemaphore(value: concurrentUploads)
    }

    /// Bytes handed to the sink so far.
    public var bytesWritten: Int { state.withLockedValue { $0.written } }
    /// The most bytes held at once: the part being filled plus the parts in
    /// flight. At most `(concurrentUploads + 1) × partBytes`.
    public var peakBufferedBytes: Int { state.withLockedValue { $0.peakBuffered } }
    /// Parts uploaded so far (multipart only).
    public var partsUploaded: Int { state.withLockedValue { $0.partsUploaded } }

    /// Takes the next bytes of the file; uploads each full part, blocking
    /// while ``RemoteOptions/concurrentUploads`` parts are in flight.
    /// - Throws: ``BrineError``: the first failure of an earlier part upload
    ///   (`.io`, `.timedOut`, `.permissionDenied`, `.notFound`), or `.io`
    ///   "cancelled" after ``cancel()``.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(BrineError) {
        try checkState()
        var rest = bytes
        while !rest.isEmpty {
            if current.capacity < partBytes { current.reserveCapacity(partBytes) }
            let n = Swift.min(rest.count, partBytes - current.count)
            current.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[0 ..< n]))
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            let held = state.withLockedValue {
                $0.written += n
                $0.buffered += n
                $0.peakBuffered = Swift.max($0.peakBuffered, $0.buffered)
                return $0.buffered
            }
            client.options.stats.uploadBuffered(held)
            if current.count == partBytes { try ship() }
        }
    }

    /// Stops the upload soon: in-flight parts are cancelled and the next
    /// ``write(_:)`` throws. Call ``abort()`` afterwards to remove the parts.
    public func cancel() {
        let tasks = state.withLockedValue { s -> [Task<Void, Never>] in
            s.cancelled = true
            return Array(s.tasks.values)
        }
        for t in tasks { t.cancel() }
    }

    /// Uploads the last part and completes the upload: the object appears,
    /// whole. A file smaller than one part goes in one PUT. On failure the
    /// upload is aborted (no parts remain) and the error thrown.
    /// - Throws: ``BrineError`` as ``write(_:)``; `.io` "cancelled" when the
    ///   task or the sink was cancelled.
    public func complete() async throws(BrineError) {
        await waitForParts()
        do throws(BrineError) {
            if Task.isCancelled { cancel() }
            try checkState()
            let uploadID = state.withLockedValue { $0.uploadID }
            let last = current
            if let uploadID {
                if !last.isEmpty {
                    let number = nextPart
                    nextPart += 1
                    let etag = try await client.uploadPart(url, uploadID: uploadID, number: number, bytes: last)
                    state.withLockedValue { $0.etags[number] = etag; $0.partsUploaded += 1 }
                }
                current = []
                let parts = state.withLockedValue { s in s.etags.keys.sorted().map { (number: $0, etag: s.etags[$0]!) } }
                if Task.isCancelled { throw BrineError(.io, "upload cancelled", filePath: url.absoluteString) }
                try await client.completeMultipartUpload(url, uploadID: uploadID, parts: parts)
            } else {
                try await client.put(last, to: url)
                current = []
            }
            state.withLockedValue { $0.closed = true; $0.buffered = 0 }
        } catch {
            await abort()
            throw error
        }
    }

    /// Aborts the upload: in-flight parts are cancelled and awaited, then
    /// the multipart upload is aborted, so no parts remain and no object
    /// appears. Safe to call more than once, and when nothing was sent.
    public func abort() async {
        cancel()
        await waitForParts()
        let uploadID = state.withLockedValue { s -> String? in
            defer { s.uploadID = nil; s.closed = true }
            return s.closed ? nil : s.uploadID
        }
        current = []
        guard let uploadID else { return }
        // Not cancelled with the caller: the parts must go.
        let client = self.client, url = self.url
        await Task.detached { try? await client.abortMultipartUpload(url, uploadID: uploadID) }.value
    }

    // MARK: Internals

    private func checkState() throws(BrineError) {
        let (failure, cancelled, closed) = state.withLockedValue { ($0.failure, $0.cancelled, $0.closed) }
        if let failure { throw failure }
        if cancelled { throw BrineError(.io, "upload cancelled", filePath: url.absoluteString) }
        if closed { throw BrineError(.invalidArgument, "the upload is already completed or aborted", filePath: url.absoluteString) }
    }

    /// Hands the full part to an upload task (starting the multipart upload
    /// first if needed), after waiting for a free slot.
    private func ship() throws(BrineError) {
        if state.withLockedValue({ $0.uploadID }) == nil {
            let client = self.client, url = self.url
            let id = try runBlocking { () async throws(BrineError) -> String in try await client.createMultipartUpload(url) }
            state.withLockedValue { $0.uploadID = id }
        }
        slots.wait()
        do throws(BrineError) {
            try checkState()
        } catch {
            slots.signal()
            throw error
        }
        let part = current
        current = []
        let number = nextPart
        nextPart += 1
        let uploadID = state.withLockedValue { $0.uploadID! }
        let client = self.client, url = self.url
        inFlight.enter()
        // The task is registered before it can finish (under the lock).
        state.withLockedValue { s in
            s.tasks[number] = Task { [self] in
                defer {
                    state.withLockedValue { s in
                        s.buffered -= part.count
                        s.tasks[number] = nil
                    }
                    slots.signal()
                    inFlight.leave()
                }
                do throws(BrineError) {
                    if Task.isCancelled { throw BrineError(.io, "upload cancelled", filePath: url.absoluteString) }
                    let etag = try await client.uploadPart(url, uploadID: uploadID, number: number, bytes: part)
                    state.withLockedValue { $0.etags[number] = etag; $0.partsUploaded += 1 }
                } catch {
                    state.withLockedValue { if $0.failure == nil { $0.failure = error } }
                }
            }
        }
    }

    /// Waits until no part upload is running.
    private func waitForParts() async {
        let group = inFlight
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            group.notify(queue: .global()) { c.resume() }
        }
    }
}

/// Runs `body` as a task and blocks the calling (non-cooperative) thread until it ends.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws(BrineError) -> T) throws(BrineError) -> T {
    let done = DispatchSemaphore(value: 0)
    let box = UncheckedBox<Result<T, BrineError>?>(nil)
    Task {
        do throws(BrineError) { box.value = .success(try await body()) } catch { box.value = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.value!.get()
}

/// Runs `body` on a Dispatch thread (it may block, e.g. in
/// ``S3UploadSink/write(_:)``) and waits for it without holding a
/// cooperative thread.
func offCooperativePool<T>(_ body: @escaping () throws -> T) async throws -> T {
    let box = UncheckedBox<Result<T, Error>?>(nil)
    let work = UncheckedBox(body)
    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
        let thread = Thread {
            do { box.value = .success(try work.value()) } catch { box.value = .failure(error) }
            c.resume()
        }
        thread.stackSize = 8 << 20 // deep model trees encode recursively, as on a main thread
        thread.start()
    }
    return try box.value!.get()
}
