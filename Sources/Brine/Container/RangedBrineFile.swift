import Dispatch
import Synchronization

/// A Brine file read through a ``RangeSource``: an object on an HTTP server
/// or in S3 (the `BrineRemote` library opens these by URL), or a local file.
/// The counterpart of ``BrineFile`` for storage reached by range requests.
///
/// Opening reads the tail of the object (``RangeReadOptions/tailBytes``,
/// covering trailer and header in the common case: one request) and
/// validates trailer and header with the same code as ``BrineFile``; the
/// preamble is checked then too when the tail reaches it, else alongside the
/// first array read. Loading fetches
/// only the chunks of the arrays asked for, coalesced into requests of at
/// most ``RangeReadOptions/coalesceBytes``, with up to
/// ``RangeReadOptions/concurrentRequests`` in flight; each response is
/// verified (XXH3-64 per chunk) and decoded on all cores as soon as it
/// arrives. Uncompressed arrays are fetched straight into their destination,
/// so memory is the output plus the in-flight window.
///
/// Thread safety: immutable after open; every method may run concurrently.
public final class RangedBrineFile: Sendable {
    /// Where the bytes come from.
    public let source: any RangeSource
    /// Verification, threads, limits.
    public let options: ReadOptions
    /// Coalescing and concurrency of requests.
    public let fetchOptions: RangeReadOptions
    /// The object's size in bytes.
    public let fileSize: Int
    /// The metadata map (`brine.*` keys and user keys).
    public let metadata: Value
    /// The object tree (array references point into ``arrays``).
    public let root: Value
    /// The format version the file was written with (major).
    public let formatMajor: UInt16
    /// The format version the file was written with (minor).
    public let formatMinor: UInt16
    /// The header's XXH3-64 from the trailer (see ``BrineFile``'s): names the object's content.
    package let headerChecksum: UInt64
    /// The array table, in file order.
    public let arrays: [ArrayInfo]
    private let index: PathIndex
    /// Whether the preamble has been read and checked. Open leaves it for
    /// later when the tail read does not reach offset 0 (one request instead
    /// of two); the first array read checks it, alongside its own requests.
    private let preambleChecked: Mutex<Bool>
    /// Decode scratch reused by the requests (at most a window's worth).
    private let scratchPool = Mutex<[ChunkScratch]>([])

    /// The paths of all arrays, in file order.
    public var arrayPaths: [String] { arrays.map(\.path) }

    /// The entry for `path`, or `nil`.
    public func info(_ path: String) -> ArrayInfo? { index.position(of: path, in: arrays).map { arrays[$0] } }

    private init(source: any RangeSource, options: ReadOptions, fetch: RangeReadOptions, parsed: BrineFile.Parsed, preambleChecked: Bool) {
        self.preambleChecked = Mutex(preambleChecked)
        self.source = source
        self.options = options
        self.fetchOptions = fetch
        self.fileSize = source.size
        self.metadata = parsed.header.metadata
        self.root = parsed.header.root
        self.formatMajor = parsed.trailer.major
        self.formatMinor = parsed.trailer.minor
        self.headerChecksum = parsed.trailer.headerChecksum
        self.arrays = parsed.header.arrays
        self.index = parsed.header.index
    }

    /// Opens a Brine object: reads its tail (one request in the common case;
    /// one more when the header is larger than ``RangeReadOptions/tailBytes``)
    /// and validates trailer and header as ``BrineFile`` does (the preamble
    /// too when the tail holds it; else the first array read checks it).
    /// - Parameters:
    ///   - source: the bytes.
    ///   - options: verification, threads, limits.
    ///   - fetch: tail size, coalescing, concurrency.
    /// - Throws: ``BrineError`` `.notABrineFile`, `.truncated`,
    ///   `.checksumMismatch`, `.corruptHeader`, `.limitExceeded`, `.layout`,
    ///   `.unsupportedVersion`, and the source's own codes (`.io`,
    ///   `.notFound`, `.permissionDenied`, `.objectChanged`, `.timedOut`).
    public static func open(
        _ source: any RangeSource, options: ReadOptions = .init(), fetch: RangeReadOptions = .init()
    ) async throws(BrineError) -> RangedBrineFile {
        let size = source.size
        var held: [(offset: Int, bytes: [UInt8])] = []
        func fetchRange(_ r: Range<Int>) async throws(BrineError) {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(1, r.count), alignment: 16)
            defer { buffer.deallocate() }
            try await source.read(r, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< r.count]))
            let bytes = [UInt8](UnsafeRawBufferPointer(rebasing: buffer[0 ..< r.count]))
            held.append((r.lowerBound, bytes))
        }
        let tail = Swift.min(size, Swift.max(fetch.tailBytes, FormatSpec.preambleSize + FormatSpec.trailerSize))
        if tail > 0 { try await fetchRange(size - tail ..< size) }
        // The preamble is checked now only when the tail holds it (a small
        // object); otherwise before the first array is read (one request at
        // open). Trailer and header carry their own magic, version and
        // checksums, so nothing unchecked is returned in between.
        var deferPreamble = size - tail > 0
        // The parser asks for ranges; serve them from what is held, and
        // fetch (then parse again) what is not: header beyond the tail, and
        // the preamble after a failure (so that the error is the one the
        // format's order of checks gives, e.g. `truncated` for a file that
        // starts as a Brine file).
        for _ in 0 ..< 6 {
            var missing: Range<Int>? = nil
            do {
                let parsed = try BrineFile.parse(size: size, options: options, path: source.name, checkPreamble: !deferPreamble) { (offset, count) throws(BrineError) -> [UInt8] in
                    guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
                        throw BrineError(.truncated, "reading \(count) bytes at offset \(offset) runs past the end of the object (\(size) bytes)",
                                         filePath: source.name, byteOffset: UInt64(Swift.max(0, Swift.min(offset, size))))
                    }
                    for h in held where offset >= h.offset && offset + count <= h.offset + h.bytes.count {
                        return Array(h.bytes[(offset - h.offset) ..< (offset - h.offset + count)])
                    }
                    missing = offset ..< offset + count
                    throw BrineError(.io, "range not yet fetched")
                }
                return RangedBrineFile(source: source, options: options, fetch: fetch, parsed: parsed, preambleChecked: !deferPreamble)
            } catch {
                if let m = missing {
                    try await fetchRange(m)
                } else if deferPreamble {
                    deferPreamble = false
                } else {
                    throw error
                }
            }
        }
        throw BrineError(.io, "open needed more reads than expected", filePath: source.name)
    }

    // MARK: Reading arrays

    /// Loads the array at `path` as a typed tensor.
    /// - Throws: ``BrineError`` `.arrayNotFound`, `.dtypeMismatch`, and the
    ///   codes of ``load(_:)``.
    public func array<S: BrineScalar>(_ path: String, as: S.Type = S.self) async throws(BrineError) -> Tensor<S> {
        let a = try await anyArray(path)
        guard a.dtype == S.dtype else {
            throw BrineError(.dtypeMismatch, "array has dtype \(a.dtype), requested \(S.dtype)", filePath: source.name, arrayPath: path)
        }
        return try Tensor<S>(shape: a.shape, storage: a.storage)
    }

    /// Loads the array at `path` with its dtype known only at run time.
    /// - Throws: ``BrineError`` `.arrayNotFound`, and the codes of ``load(_:)``.
    public func anyArray(_ path: String) async throws(BrineError) -> AnyTensor {
        guard let a = info(path) else {
            throw BrineError(.arrayNotFound, "no array with this path", filePath: source.name, arrayPath: path)
        }
        return try await load([a])[0]
    }

    /// Loads every array (the whole model's data), fetching and decoding in a pipeline.
    /// - Returns: the arrays in file order.
    /// - Throws: see ``load(_:)``.
    public func loadAll() async throws(BrineError) -> [AnyTensor] {
        try await load(arrays)
    }

    /// Loads the given arrays (entries of ``arrays``): only their chunks are
    /// fetched.
    /// - Returns: one tensor per entry, in order, in memory Brine owns.
    /// - Throws: ``BrineError`` `.limitExceeded` (total over
    ///   ``ReadLimits/maxAllocationBytes``), `.checksumMismatch`,
    ///   `.decompressionFailed`, `.truncated`, and the source's codes.
    public func load(_ infos: [ArrayInfo]) async throws(BrineError) -> [AnyTensor] {
        var total = 0
        for a in infos {
            let (t, o) = total.addingReportingOverflow(a.byteCount)
            guard !o, t <= options.limits.maxAllocationBytes else {
                throw BrineError(.limitExceeded, "loading needs \(t) bytes, over the allocation limit of \(options.limits.maxAllocationBytes)", filePath: source.name, arrayPath: a.path)
            }
            total = t
        }
        let storages = infos.map { TensorStorage(uninitializedByteCount: $0.byteCount) }
        let jobs = zip(infos, storages).map { ChunkJob(info: $0.0, chunks: 0 ..< $0.0.chunkCount, destination: BoundedBytes($0.1.mutableBytes)) }
        try await fetchAndDecode(jobs)
        var out: [AnyTensor] = []
        out.reserveCapacity(infos.count)
        for (a, s) in zip(infos, storages) { out.append(try AnyTensor(dtype: a.dtype, shape: a.shape, storage: s)) }
        return out
    }

    /// Reads the array at `path` into memory the caller owns.
    /// - Parameters:
    ///   - path: the array path.
    ///   - destination: exactly ``ArrayInfo/byteCount`` bytes.
    /// - Throws: ``BrineError`` `.arrayNotFound`, `.invalidArgument` (wrong
    ///   buffer size), and the codes of ``load(_:)``.
    public func read(_ path: String, into destination: UnsafeMutableRawBufferPointer) async throws(BrineError) {
        guard let a = info(path) else {
            throw BrineError(.arrayNotFound, "no array with this path", filePath: source.name, arrayPath: path)
        }
        guard destination.count == a.byteCount else {
            throw BrineError(.invalidArgument, "destination of \(destination.count) bytes, the array has \(a.byteCount)", filePath: source.name, arrayPath: path)
        }
        guard destination.baseAddress != nil, a.byteCount > 0 else { return }
        try await fetchAndDecode([ChunkJob(info: a, chunks: 0 ..< a.chunkCount, destination: BoundedBytes(destination))])
    }

    /// Loads elements `range` (flat C-order indices) of the array at `path`
    /// as a rank-1 array, fetching only the chunks that hold them.
    /// - Throws: ``BrineError`` `.arrayNotFound`, `.invalidArgument` (range
    ///   outside `0..<count`), `.limitExceeded`, and the codes of ``load(_:)``.
    public func elements(_ path: String, range: Range<Int>) async throws(BrineError) -> AnyTensor {
        guard let a = info(path) else {
            throw BrineError(.arrayNotFound, "no array with this path", filePath: source.name, arrayPath: path)
        }
        guard range.lowerBound >= 0, range.upperBound <= a.count else {
            throw BrineError(.invalidArgument, "element range \(range) outside 0..<\(a.count)", filePath: source.name, arrayPath: path)
        }
        let item = a.dtype.itemSize
        let sis = a.storedDType.itemSize
        let out = TensorStorage(uninitializedByteCount: range.count * item)
        if range.isEmpty { return try AnyTensor(dtype: a.dtype, shape: [0], storage: out) }
        let perChunk = a.chunkBytes / sis
        let first = range.lowerBound / perChunk
        let last = (range.upperBound - 1) / perChunk
        let spanElements = Swift.min(a.count, (last + 1) * perChunk) - first * perChunk
        guard spanElements * item <= options.limits.maxAllocationBytes else {
            throw BrineError(.limitExceeded, "loading \(range.count) elements needs \(spanElements * item) bytes, over the allocation limit of \(options.limits.maxAllocationBytes)", filePath: source.name, arrayPath: path)
        }
        let span = TensorStorage(uninitializedByteCount: spanElements * item)
        // `span` holds chunks first … last, addressed as in the whole array.
        let decoded = BoundedBytes(span.mutableBytes, origin: first * perChunk * item)
        try await fetchAndDecode([ChunkJob(info: a, chunks: first ..< last + 1, destination: decoded)])
        out.mutableBytes.copyMemory(from: decoded.bytes(at: range.lowerBound * item, count: range.count * item))
        withExtendedLifetime(span) {}
        return try AnyTensor(dtype: a.dtype, shape: [range.count], storage: out)
    }

    /// Typed form of ``elements(_:range:)``.
    public func elements<S: BrineScalar>(_ path: String, range: Range<Int>, as: S.Type = S.self) async throws(BrineError) -> [S] {
        let t = try await elements(path, range: range)
        guard t.dtype == S.dtype else {
            throw BrineError(.dtypeMismatch, "array has dtype \(t.dtype), requested \(S.dtype)", filePath: source.name, arrayPath: path)
        }
        return try t.typed(as: S.self).scalars
    }

    /// Fetches every array and checks every chunk (checksum, and exact
    /// decompressed size), one array at a time.
    /// - Parameter progress: called after each array with stored bytes
    ///   checked so far and the total.
    /// - Returns: the failures found (empty when intact). A transport failure
    ///   that exhausts its retries is returned too.
    public func verify(progress: (@Sendable (_ doneBytes: Int, _ totalBytes: Int) -> Void)? = nil) async -> [BrineError] {
        var failures: [BrineError] = []
        do throws(BrineError) {
            try await checkPreamble()
        } catch {
            failures.append(error)
        }
        let totalBytes = arrays.reduce(0) { $0 + $1.storedBytes }
        var done = 0
        for a in arrays {
            do throws(BrineError) {
                let storage = TensorStorage(uninitializedByteCount: a.byteCount)
                try await fetchAndDecode([ChunkJob(info: a, chunks: 0 ..< a.chunkCount, destination: BoundedBytes(storage.mutableBytes))], forceVerify: true)
                withExtendedLifetime(storage) {}
            } catch {
                failures.append(error)
            }
            done += a.storedBytes
            progress?(done, totalBytes)
        }
        return failures
    }

    /// Decodes the model with ``BrineDecoder`` after loading every array.
    /// - Throws: the codes of ``load(_:)``; `DecodingError` when the tree
    ///   does not fit `type`.
    public func decode<T: Decodable>(_ type: T.Type, decoder: BrineDecoder = BrineDecoder()) async throws -> T {
        let tensors = try await loadAll()
        return try decoder.decode(type, from: root, arrays: tensors)
    }

    /// Every array by path (the `loadWeights` workflow).
    /// - Throws: the codes of ``load(_:)``.
    public func weights() async throws(BrineError) -> Weights {
        let tensors = try await loadAll()
        return try Weights(zip(arrayPaths, tensors).map { (path: $0.0, tensor: $0.1) })
    }

    // MARK: The pipeline

    /// Chunks `chunks` of `info`, decoded into `destination` (which holds
    /// at least those chunks, addressed by offsets in the whole array).
    struct ChunkJob {
        let info: ArrayInfo
        let chunks: Range<Int>
        let destination: BoundedBytes
    }

    /// One request: a byte range of the object and the chunks in it.
    private struct Request {
        var range: Range<Int>
        var items: [(job: Int, chunk: Int)]
        /// Fetched straight into the destination (uncompressed, one array, no gaps).
        var direct: Bool
    }

    /// Groups the chunks of `jobs` into coalesced requests.
    private func plan(_ jobs: [ChunkJob]) -> [Request] {
        var items: [(job: Int, chunk: Int, offset: Int, stored: Int)] = []
        for (k, j) in jobs.enumerated() {
            for c in j.chunks where j.info.chunk(c).storedBytes > 0 {
                items.append((k, c, j.info.chunk(c).offset, j.info.chunk(c).storedBytes))
            }
        }
        items.sort { $0.offset < $1.offset }
        var requests: [Request] = []
        let unit = Swift.max(1, fetchOptions.coalesceBytes)
        for it in items {
            if var last = requests.last,
               it.offset >= last.range.upperBound,
               it.offset - last.range.upperBound <= fetchOptions.maxGapBytes,
               it.offset + it.stored - last.range.lowerBound <= unit {
                let gapless = it.offset == last.range.upperBound
                let prev = last.items[last.items.count - 1]
                last.direct = last.direct && gapless && prev.job == it.job && prev.chunk + 1 == it.chunk
                    && jobs[it.job].info.isContiguousRaw
                last.range = last.range.lowerBound ..< it.offset + it.stored
                last.items.append((it.job, it.chunk))
                requests[requests.count - 1] = last
            } else {
                requests.append(Request(range: it.offset ..< it.offset + it.stored, items: [(it.job, it.chunk)],
                                        direct: jobs[it.job].info.isContiguousRaw))
            }
        }
        return requests
    }

    /// Fetches the chunks of `jobs` with up to `concurrentRequests` requests
    /// in flight and verifies/decodes each response as it arrives.
    func fetchAndDecode(_ jobs: [ChunkJob], forceVerify: Bool = false) async throws(BrineError) {
        let requests = plan(jobs)
        guard !requests.isEmpty else { return }
        let verify = forceVerify || options.verifyChecksums
        let shared = UncheckedSendable(jobs)
        let window = Swift.max(1, fetchOptions.concurrentRequests)
        let needsPreamble = !preambleChecked.withLock { $0 }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The deferred preamble check rides alongside the data requests.
                if needsPreamble { group.addTask { try await self.checkPreamble() } }
                var next = 0
                func launch() {
                    let r = requests[next]
                    next += 1
                    group.addTask { try await self.run(r, jobs: shared, verify: verify) }
                }
                while next < Swift.min(window, requests.count) { launch() }
                while try await group.next() != nil {
                    if next < requests.count { launch() }
                }
            }
        } catch let e as BrineError {
            throw e
        } catch is CancellationError {
            throw BrineError(.io, "cancelled", filePath: source.name)
        } catch {
            throw BrineError(.io, "\(error)", filePath: source.name)
        }
    }

    /// `count` scratch objects from the pool (new ones when it is short).
    private func takeScratch(_ count: Int) -> [ChunkScratch] {
        var out = scratchPool.withLock { pool -> [ChunkScratch] in
            let n = Swift.min(count, pool.count)
            let taken = Array(pool.suffix(n))
            pool.removeLast(n)
            return taken
        }
        while out.count < count { out.append(ChunkScratch()) }
        return out
    }

    /// Puts scratch back, keeping at most what a full window of requests uses.
    private func returnScratch(_ scratch: [ChunkScratch]) {
        let cap = Swift.max(1, fetchOptions.concurrentRequests) * Swift.max(1, options.threads)
        scratchPool.withLock { pool in
            pool.append(contentsOf: scratch.prefix(Swift.max(0, cap - pool.count)))
        }
    }

    /// Reads and checks the preamble (magic, major version) if open deferred
    /// it; a no-op afterwards.
    /// - Throws: ``BrineError`` `.notABrineFile`, `.unsupportedVersion`, and the source's codes.
    func checkPreamble() async throws(BrineError) {
        if preambleChecked.withLock({ $0 }) { return }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: FormatSpec.preambleSize, alignment: 16)
        defer { buffer.deallocate() }
        try await source.read(0 ..< FormatSpec.preambleSize, into: buffer)
        let name = source.name
        try Preamble.check(UnsafeRawBufferPointer(buffer), path: name)
        preambleChecked.withLock { $0 = true }
    }

    /// Runs one request: fetch, then verify and decode its chunks (in
    /// parallel for a large request).
    private func run(_ r: Request, jobs: UncheckedSendable<[ChunkJob]>, verify: Bool) async throws(BrineError) {
        let jobs = jobs.value
        let name = source.name
        if r.direct {
            let first = r.items[0]
            let j = jobs[first.job]
            let dst = j.destination.mutableBytes(at: j.info.rawRange(ofChunk: first.chunk).lowerBound, count: r.range.count)
            try await source.read(r.range, into: dst)
            guard verify else { return }
            let items = r.items
            let threads = Swift.min(options.threads, items.count)
            try await offCooperativePool { () throws(BrineError) in
                try parallelFor(count: items.count, threads: threads) { (_, i) throws(BrineError) in
                    let (k, c) = items[i]
                    let a = jobs[k].info
                    let stored = jobs[k].destination.bytes(at: a.rawRange(ofChunk: c).lowerBound, count: a.chunk(c).storedBytes)
                    try a.verifyChunk(c, stored: stored, filePath: name)
                }
            }
            return
        }
        // Large request buffers come from TensorStorage (mmap above
        // MemoryTuning.hugeAllocationThreshold, unmapped when done): freed
        // malloc blocks of several MiB stayed resident in glibc's per-thread
        // arenas and pushed a zstd load's peak RSS well past model + window.
        let staging = TensorStorage(uninitializedByteCount: r.range.count)
        defer { withExtendedLifetime(staging) {} }
        let buffer = staging.mutableBytes
        try await source.read(r.range, into: buffer)
        let items = r.items
        let threads = Swift.max(1, Swift.min(options.threads, items.count))
        // Scratch (decompression contexts, unshuffle buffers) is reused
        // across requests: allocating it per request churned MiB-sized
        // blocks through malloc on many threads (memory glibc keeps).
        let scratch = takeScratch(threads)
        defer { returnScratch(scratch) }
        // `buffer` holds the object's bytes r.range, addressed by object offsets.
        let fetched = BoundedBytes(buffer, origin: r.range.lowerBound)
        try await offCooperativePool { () throws(BrineError) in
            try parallelFor(count: items.count, threads: threads) { (w, i) throws(BrineError) in
                let (k, c) = items[i]
                let a = jobs[k].info
                let ch = a.chunk(c)
                let stored = fetched.bytes(at: ch.offset, count: ch.storedBytes)
                try a.decodeChunk(c, stored: stored, into: jobs[k].destination, scratch: scratch[w], verify: verify, filePath: name)
            }
        }
    }

    /// Runs CPU-bound work (checksums, decompression) on a Dispatch thread
    /// and waits for it, so that Swift's cooperative threads stay free for
    /// the network tasks and their deadlines.
    private func offCooperativePool(_ body: @escaping @Sendable () throws(BrineError) -> Void) async throws(BrineError) {
        let result: Result<Void, BrineError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                do throws(BrineError) {
                    try body()
                    continuation.resume(returning: .success(()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        try result.get()
    }
}

extension RangedBrineFile.ChunkJob: @unchecked Sendable {}
