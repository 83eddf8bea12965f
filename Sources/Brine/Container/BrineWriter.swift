import Dispatch
import Foundation
import SystemPackage

/// Writes a Brine file in one streaming pass (docs/FORMAT.md, "Writing").
///
/// Arrays are written as they are appended: uncompressed arrays go straight
/// from the caller's buffer to the file with `pwrite(2)` (no copy), their
/// chunk checksums computed on another core meanwhile (for a tensor whose
/// memory this process allocated, not a view of a mapping, or for a Swift
/// array, possibly after its `append` returned: the writer then keeps a
/// reference to the storage, so a later change to the caller's copy is
/// copied on write and never reaches the file or its checksums); filtered
/// or compressed arrays are cut into chunks that are shuffled/copied into
/// pooled buffers and compressed and checksummed on all cores, then written
/// in order. Memory is bounded by the chunk buffers in flight (`threads + 1`
/// jobs of two chunk buffers each) and at most 256 MiB of appended arrays
/// whose checksums are pending, not by the model's size. ``finish(root:metadata:)`` writes
/// the header and trailer, then commits atomically: `fsync`, `rename(2)` over
/// the destination, `fsync` of the folder. A writer that is never finished,
/// fails, or is cancelled removes its temporary file and leaves the previous
/// destination untouched.
///
/// Not thread-safe: append from one thread at a time.
public final class BrineWriter {
    /// The path of the file the writer replaces when finished (for a sink,
    /// `"<sink>"`). Array paths are the `arrayPath` of each `append`.
    public let destination: String
    /// The default options for appended arrays.
    public let options: WriteOptions

    /// The temporary file renamed over the destination; `nil` for a sink.
    private let file: AtomicFile?
    let output: StagedFileWriter
    var offset: Int
    var entries: [ArrayInfo] = []
    /// By Unicode scalars (``ExactName``), as readers compare paths.
    fileprivate var paths = Set<ExactName>()
    /// Final names given by ``renameArrays(_:)``, applied to ``arrays`` (Codable names, format 1.1).
    fileprivate var renamed: [Int: String] = [:]
    /// Alias paths of shared arrays, written as the `brine.aliases` metadata map (format 1.1).
    fileprivate(set) var aliases: [(path: String, index: Int)] = []
    private var nextIndex = 0
    private var failure: BrineError?
    private var finished = false

    // Chunk pipeline.
    var pending: [ChunkJob] = []
    var pendingHead = 0
    var pool: [ChunkJob] = []
    var builders: [Int: ArrayBuilder] = [:]
    let workerSlots: DispatchSemaphore
    /// Checksums uncompressed arrays while they are written (started on first use).
    private var checksumThread: ChecksumThread?
    /// The checksum thread could not be started: do not try again for every array.
    private var checksumThreadFailed = false
    /// Arrays whose checksums are still being computed, oldest first (see
    /// `writeDirect`); their `entries` hold placeholders until
    /// ``settleChecksums()``.
    private var deferred: [DeferredChecksums] = []
    /// The bytes of the arrays in `deferred`.
    private var deferredBytes = 0
    /// Whether arrays whose owner keeps their bytes unchanged are
    /// checksummed after their append returns (``WriteTuning/defersChecksums``
    /// when the writer starts; tests set it per writer).
    var defersChecksums = WriteTuning.defersChecksums
    /// The most bytes of appended arrays whose checksums may be pending at
    /// once (their owners keep them alive until then); past it, an append
    /// waits for the oldest.
    var deferredChecksumBytesLimit = 256 << 20
    /// The number of arrays whose checksums are pending (for tests).
    var pendingChecksumArrays: Int { deferred.count }
    /// The name of the current checksum thread, `nil` when none runs (for tests).
    var checksumThreadName: String? { checksumThread?.name }

    /// Starts a new file that will replace `url` when finished. A symbolic
    /// link is followed: the file at the end of its chain is replaced (in
    /// that file's folder) and the link stays.
    /// - Parameters:
    ///   - url: the destination (a file URL); its folder must exist.
    ///   - options: the default options for every array.
    /// - Throws: ``BrineError`` `.invalidArgument` for bad options or a path
    ///   with a NUL byte (as a C string it would name another file), `.notFound`
    ///   when the folder does not exist, `.io` when the temporary file cannot be created.
    public convenience init(url: URL, options: WriteOptions = .init()) throws(BrineError) {
        try self.init(path: url.path, options: options)
    }

    /// Starts a new file that will replace `path` when finished.
    /// - Parameters:
    ///   - path: the destination path; its folder must exist.
    ///   - options: the default options for every array.
    /// - Throws: ``BrineError`` `.invalidArgument` (bad options, a path with
    ///   a NUL byte), `.notFound`, `.io`.
    public init(path: String, options: WriteOptions = .init()) throws(BrineError) {
        try options.validate()
        self.destination = path
        self.options = options
        let atomic = try AtomicFile(destination: RegularFile.exactPath(path))
        self.file = atomic
        self.offset = FormatSpec.preambleSize
        self.workerSlots = DispatchSemaphore(value: options.threads)
        self.output = StagedFileWriter(fd: atomic.fd, path: path)
        if options.durable && WriteTuning.startsWritebackEarly { output.writebackStep = WriteTuning.writebackStepBytes }
        let pre = Preamble.encoded()
        let out = output
        try typedThrows { try pre.withUnsafeBytes { b in try out.write(b, at: 0) } }
    }

    /// Starts a new file written to `sink` in one sequential pass (memory, a
    /// pipe, a socket: no seeking; see ``BrineByteSink``). The bytes are the
    /// same as those of a file saved with the same options.
    /// ``finish(root:metadata:)`` writes the header and trailer to the sink;
    /// nothing is atomic or synced (`durable` is ignored), and a failed or
    /// cancelled writer leaves the bytes written so far in the sink.
    /// - Parameters:
    ///   - sink: the destination, e.g. ``BrineMemorySink`` or ``BrineFileDescriptorSink``.
    ///   - options: the default options for every array.
    /// - Throws: ``BrineError`` `.invalidArgument` for bad options (before
    ///   anything is written), or the sink's error writing the preamble.
    public init(sink: any BrineByteSink, options: WriteOptions = .init()) throws(BrineError) {
        try options.validate()
        self.destination = "<sink>"
        self.options = options
        self.file = nil
        self.offset = FormatSpec.preambleSize
        self.workerSlots = DispatchSemaphore(value: options.threads)
        self.output = StagedFileWriter(sink: sink, path: nil)
        let pre = Preamble.encoded()
        let out = output
        try typedThrows { try pre.withUnsafeBytes { b in try out.write(b, at: 0) } }
    }

    deinit {
        checksumThread?.stop()
        drainIgnoringErrors()
        for j in pool { j.deallocate() }
    }

    /// The arrays written so far, in order.
    public var arrays: [ArrayInfo] {
        // Reads the writer's state without changing it (waiting for, or
        // helping with, checksums still pending), as before they were deferred.
        var list = entries
        for d in deferred { list[d.entry] = d.settled() }
        return renamed.isEmpty ? list : list.enumerated().map { i, a in renamed[i].map { a.renamed($0) } ?? a }
    }

    /// Appends a typed tensor.
    /// - Parameters:
    ///   - tensor: the array. Its bytes are read during the call, and for an
    ///     uncompressed array in memory this process allocated (not a view of
    ///     a mapping) also afterwards, until ``finish(root:metadata:)``
    ///     at the latest, through a reference to its storage (the checksums;
    ///     the tensor's later changes copy the storage first, see ``Tensor``).
    ///   - arrayPath: the unique array path (e.g. `layers.0.weight`).
    ///   - options: per-array options; `nil` uses the writer's.
    /// - Returns: the array's index in the array table (for ``Value/arrayRef(_:)``).
    /// - Throws: ``BrineError`` `.invalidArgument` for a duplicate path, `.io`,
    ///   `.compressionFailed`.
    @discardableResult
    public func append<S: BrineScalar>(_ tensor: Tensor<S>, arrayPath: String, options: WriteOptions? = nil) throws(BrineError) -> Int {
        try tensor.withUnsafeBytes { (b) throws(BrineError) -> Int in
            try append(bytes: b, dtype: S.dtype, shape: tensor.shape, arrayPath: arrayPath, options: options, owner: tensor.storage)
        }
    }

    /// Appends a type-erased tensor. See ``append(_:arrayPath:options:)-(Tensor<S>,_,_)``.
    @discardableResult
    public func append(_ tensor: AnyTensor, arrayPath: String, options: WriteOptions? = nil) throws(BrineError) -> Int {
        try tensor.storage.withUnsafeBytes { (b) throws(BrineError) -> Int in
            try append(bytes: b, dtype: tensor.dtype, shape: tensor.shape, arrayPath: arrayPath, options: options, owner: tensor.storage)
        }
    }

    /// Appends a rank-1 array of scalars. As for a tensor, an uncompressed
    /// array may be read after the call through a copy of the array value
    /// (copy on write: the caller's later changes do not reach it).
    @discardableResult
    public func append<S: BrineScalar>(_ scalars: [S], arrayPath: String, options: WriteOptions? = nil) throws(BrineError) -> Int {
        let owner = RetainedArray(scalars)
        return try typedThrows {
            try owner.array.withUnsafeBytes { b in
                try append(bytes: b, dtype: S.dtype, shape: [scalars.count], arrayPath: arrayPath, options: options, owner: owner)
            }
        }
    }

    /// Appends an array given as raw little-endian bytes.
    /// - Parameters:
    ///   - bytes: `product(shape) * dtype.itemSize` bytes, C order; read during the call only.
    ///   - dtype: the element type.
    ///   - shape: the dimensions (rank 0 and zero-length dimensions allowed).
    ///   - arrayPath: the unique array path.
    ///   - options: per-array options; `nil` uses the writer's.
    /// - Returns: the array's index in the array table.
    /// - Throws: ``BrineError`` `.invalidArgument` (size mismatch, duplicate
    ///   path, bad options, writer finished or failed), `.io`, `.compressionFailed`.
    @discardableResult
    public func append(
        bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int], arrayPath: String, options: WriteOptions? = nil
    ) throws(BrineError) -> Int {
        try append(bytes: bytes, dtype: dtype, shape: shape, arrayPath: arrayPath, options: options, owner: nil)
    }

    /// ``append(bytes:dtype:shape:arrayPath:options:)`` for bytes that
    /// `owner` keeps alive and unchanged: their checksums may then be
    /// computed after this returns (see `writeDirect`).
    @discardableResult
    func append(
        bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int], arrayPath: String, options: WriteOptions?,
        owner: (any ImmutableBytes)?
    ) throws(BrineError) -> Int {
        guard !finished else { throw BrineError(.invalidArgument, "writer already finished", filePath: destination) }
        if let failure { throw failure }
        let o = options ?? self.options
        try o.validate()
        guard let raw = Shape.byteCount(shape, itemSize: dtype.itemSize), raw == bytes.count else {
            throw BrineError(.invalidArgument, "\(bytes.count) bytes do not hold shape \(shape) of \(dtype)", filePath: destination, arrayPath: arrayPath)
        }
        guard shape.count <= ReadLimits().maxRank else {
            throw BrineError(.limitExceeded, "rank \(shape.count) is over the limit of \(ReadLimits().maxRank)", filePath: destination, arrayPath: arrayPath)
        }
        guard paths.insert(ExactName(arrayPath)).inserted else {
            throw BrineError(.invalidArgument, "duplicate array path", filePath: destination, arrayPath: arrayPath)
        }
        let stored: DType = (dtype == .float32 ? o.storageDType : nil) ?? dtype
        let count = raw / dtype.itemSize
        let storedRaw = count * stored.itemSize
        let chunkBytes = Swift.max(stored.itemSize, (o.chunkBytes / stored.itemSize) * stored.itemSize)
        let chunkCount = storedRaw == 0 ? 0 : (storedRaw - 1) / chunkBytes + 1
        let index = nextIndex
        nextIndex += 1
        let builder = ArrayBuilder(
            index: index, path: arrayPath, dtype: dtype, stored: stored, shape: shape, codec: o.codec,
            filter: o.filter, alignment: o.alignment, chunkBytes: chunkBytes, chunkCount: chunkCount,
            count: count, storedRaw: storedRaw)
        do throws(BrineError) {
            if chunkCount == 0 {
                try drain()
                entries.append(builder.finalize(dataOffset: 0))
            } else if !o.codec.compresses && o.filter == .none && stored == dtype {
                try drain()
                try writeDirect(bytes, builder: builder, threads: o.threads, owner: owner)
            } else {
                builders[index] = builder
                try submitChunks(bytes, builder: builder, threads: o.threads, narrowing: o.narrowing, lz4Acceleration: o.lz4Acceleration)
            }
        } catch {
            // The writer cannot recover: remove the temporary now rather than
            // when the writer is released, so a failed save leaves nothing behind.
            failure = error.inArray(arrayPath).inFile(destination)
            drainIgnoringErrors()
            file?.abort()
            throw failure!
        }
        return index
    }

    /// Writes the header (metadata, array table, object tree) and trailer and
    /// atomically replaces the destination.
    /// - Parameters:
    ///   - root: the object tree; its ``Value/arrayRef(_:)`` indices must name appended arrays.
    ///   - metadata: a ``Value/map(_:)`` of metadata (framework, version, user keys).
    /// - Returns: the array table as written.
    /// - Throws: ``BrineError`` `.invalidArgument` (bad reference, metadata not a
    ///   map, already finished), `.io`, or the error of an earlier failed append.
    @discardableResult
    public func finish(root: Value = .null, metadata: Value = .map([])) throws(BrineError) -> [ArrayInfo] {
        guard !finished else { throw BrineError(.invalidArgument, "writer already finished", filePath: destination) }
        if let failure { throw failure }
        checksumThread?.stop()
        checksumThread = nil
        do throws(BrineError) {
            try drain()
            settleChecksums()
            guard case .map(var meta) = metadata else { throw BrineError(.invalidArgument, "metadata must be a map", filePath: destination) }
            // Readers refuse deeper trees (docs/FORMAT.md, "Limits"); checking
            // first also bounds the recursion of the checks and the encoder below.
            try metadata.checkWritableDepth("the metadata", filePath: destination)
            try root.checkWritableDepth("the object tree", filePath: destination)
            try BrineWriter.checkNoRefs(metadata, path: destination)
            try BrineWriter.checkRefs(root, count: entries.count, path: destination)
            try BrineWriter.checkShared(root, path: destination)
            try BrineWriter.checkMapKeys(metadata, what: "the metadata", path: destination)
            try BrineWriter.checkMapKeys(root, what: "the object tree", path: destination)
            // Brine's own keys first, unless the caller set them.
            var own: [(key: String, value: Value)] = []
            for (k, v) in [("brine.format", Value.string(Brine.formatVersion)), ("brine.version", .string(Brine.version)),
                           ("brine.created", .string(BrineWriter.utcTimestamp()))] where !meta.contains(where: { $0.key == k })
                && (k != "brine.created" || options.recordCreationTime) {
                own.append((k, v))
            }
            meta.insert(contentsOf: own, at: 0)
            if !aliases.isEmpty, !meta.contains(where: { $0.key == "brine.aliases" }) {
                let table = arrays
                meta.insert(("brine.aliases", .map(aliases.map { ($0.path, .string(table[$0.index].path)) })), at: own.count)
            }
            let header = Header(metadata: .map(meta), arrays: arrays, root: root).encoded()
            let headerOffset = offset
            let trailer = Trailer(
                headerOffset: UInt64(headerOffset), headerLength: UInt64(header.count),
                headerChecksum: Checksum.xxh3(header),
                fileLength: UInt64(headerOffset + header.count + FormatSpec.trailerSize))
            var tail = header
            tail.append(contentsOf: trailer.encoded())
            let out = output
            try typedThrows { try tail.withUnsafeBytes { b in try out.write(b, at: headerOffset) } }
            try output.flush()
            output.releasePreallocation(past: headerOffset + tail.count)
            finished = true
            try file?.commit(durable: options.durable)
        } catch {
            finished = true
            file?.abort()
            throw error
        }
        return arrays
    }

    /// Abandons the file: removes the temporary, leaves the destination as it was.
    public func cancel() {
        checksumThread?.stop()
        checksumThread = nil
        drainIgnoringErrors()
        finished = true
        file?.abort()
    }

    /// Readers refuse a map holding the same key twice (docs/FORMAT.md,
    /// "Values"; keys compared by code points, ``ExactName``): a file with
    /// one could be written but never read. Depth is bounded by
    /// `checkWritableDepth`, called first.
    /// - Throws: ``BrineError`` `.invalidArgument` naming the key.
    static func checkMapKeys(_ v: Value, what: String, path: String) throws(BrineError) {
        switch v {
        case .map(let m):
            var seen = Set<ExactName>()
            for (k, x) in m {
                guard seen.insert(ExactName(k)).inserted else {
                    throw BrineError(.invalidArgument, "\(what) has a map with the key \(Value.quoted(k)) twice; a reader would refuse the file", filePath: path)
                }
                try checkMapKeys(x, what: what, path: path)
            }
        case .list(let l): for x in l { try checkMapKeys(x, what: what, path: path) }
        case .shared(_, let x): try checkMapKeys(x, what: what, path: path)
        default: break
        }
    }

    private static func checkNoRefs(_ v: Value, path: String) throws(BrineError) {
        switch v {
        case .arrayRef: throw BrineError(.invalidArgument, "metadata cannot hold array references", filePath: path)
        case .shared, .sharedRef: throw BrineError(.invalidArgument, "metadata cannot hold shared references", filePath: path)
        case .list(let l): for x in l { try checkNoRefs(x, path: path) }
        case .map(let m): for (_, x) in m { try checkNoRefs(x, path: path) }
        default: break
        }
    }

    /// The current time as ISO 8601 UTC, e.g. `2026-11-29T10:13:35Z`.
    static func utcTimestamp() -> String {
        var t = time(nil)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        var buf = [CChar](repeating: 0, count: 32)
        let n = strftime(&buf, buf.count, "%Y-%m-%dT%H:%M:%SZ", &tmv)
        return String(decoding: buf[0 ..< n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func checkRefs(_ v: Value, count: Int, path: String) throws(BrineError) {
        switch v {
        case .arrayRef(let i):
            guard i >= 0 && i < count else {
                throw BrineError(.invalidArgument, "object tree references array #\(i); \(count) arrays were written", filePath: path)
            }
        case .list(let l): for x in l { try checkRefs(x, count: count, path: path) }
        case .map(let m): for (_, x) in m { try checkRefs(x, count: count, path: path) }
        case .shared(_, let x): try checkRefs(x, count: count, path: path)
        default: break
        }
    }

    // MARK: Direct (uncompressed) path

    /// Writes an uncompressed array straight from the caller's buffer (no
    /// copy). With several threads its chunk checksums are computed on the
    /// writer's checksum thread while it is written:
    /// - when `owner` keeps the bytes alive and unchanged (a tensor's
    ///   storage, a Swift array), the append returns as soon as the bytes are
    ///   written and the checksums are collected before the header
    ///   (``settleChecksums()``), so hashing overlaps the writes of the
    ///   arrays that follow too;
    /// - otherwise the append waits for them, helping with the groups the
    ///   checksum thread has not claimed.
    /// With one thread, each group is checksummed just before it is written
    /// (the write then reads it from cache).
    private func writeDirect(
        _ bytes: UnsafeRawBufferPointer, builder: ArrayBuilder, threads: Int, owner: (any ImmutableBytes)?
    ) throws(BrineError) {
        let start = alignUp(offset, builder.alignment)
        let n = builder.chunkCount
        let chunk = builder.chunkBytes
        // Chunks are written in groups of about 4 MiB: large writes let the
        // page cache build large folios (see StagedFileWriter), and a durable
        // save starts writeback between groups.
        let group = Swift.max(1, BrineWriter.writeGroupBytes / chunk)
        func writeAll() throws(BrineError) {
            var lo = 0
            while lo < n {
                let hi = Swift.min(n, lo + group)
                let piece = UnsafeRawBufferPointer(rebasing: bytes[(lo * chunk) ..< Swift.min(bytes.count, hi * chunk)])
                try output.write(piece, at: start + lo * chunk)
                lo = hi
            }
        }
        // Allocate the array's blocks before its first write (see StagedFileWriter).
        output.preallocate(through: start + bytes.count)
        var b = builder
        b.storedSizes = (0 ..< n).map { builder.rawChunkLength($0) }
        b.dataOffset = start
        if threads > 1, defersChecksums, owner?.covers(bytes) == true, let helper = checksums() {
            let job = OverlappedChecksums(bytes: bytes, chunk: chunk, count: n, owner: owner)
            helper.submit { job.run() }
            // On a failed write the job still holds `owner`: the helper may finish it later.
            try writeAll()
            offset = start + bytes.count
            // A placeholder until the checksums are in (never seen outside the writer).
            b.checksums = Array(repeating: 0, count: n)
            entries.append(b.finalize(dataOffset: start))
            deferred.append(DeferredChecksums(entry: entries.count - 1, builder: b, job: job))
            deferredBytes += bytes.count
            // Bound the memory kept alive for checksums not yet computed.
            while deferredBytes > deferredChecksumBytesLimit { settleOldestChecksums() }
            return
        }
        // The caller's buffer may change once this returns: compute them now.
        settleChecksums()
        // Below `overlapMinimumBytes` in one group, waking the helper costs more than it saves.
        let shares = threads > 1 && (bytes.count >= WriteTuning.overlapMinimumBytes || n > group)
        if shares, let helper = checksums() {
            let job = OverlappedChecksums(bytes: bytes, chunk: chunk, count: n)
            helper.submit { job.run() }
            var failed: BrineError?
            do throws(BrineError) { try writeAll() } catch { failed = error }
            // Help with the groups the helper has not claimed, then wait:
            // never return while the helper still reads the caller's buffer.
            job.run()
            job.waitUntilDone()
            if let failed { throw failed }
            b.checksums = job.checksums
        } else {
            var lo = 0
            while lo < n {
                let hi = Swift.min(n, lo + group)
                for i in lo ..< hi {
                    b.checksums.append(Checksum.xxh3(UnsafeRawBufferPointer(rebasing: bytes[(i * chunk) ..< Swift.min(bytes.count, (i + 1) * chunk)])))
                }
                try output.write(UnsafeRawBufferPointer(rebasing: bytes[(lo * chunk) ..< Swift.min(bytes.count, hi * chunk)]), at: start + lo * chunk)
                lo = hi
            }
        }
        offset = start + bytes.count
        entries.append(b.finalize(dataOffset: start))
    }

    /// Puts the checksums of every deferred array into its table entry,
    /// computing (on this thread) those the checksum thread has not begun.
    func settleChecksums() {
        guard !deferred.isEmpty else { return }
        // The helper works from the oldest job; this thread from the newest.
        for d in deferred.reversed() { d.job.run() }
        for d in deferred { finishDeferred(d) }
        deferred.removeAll()
        deferredBytes = 0
    }

    private func settleOldestChecksums() {
        let d = deferred.removeFirst()
        finishDeferred(d)
        deferredBytes -= d.job.byteCount
    }

    private func finishDeferred(_ d: DeferredChecksums) {
        entries[d.entry] = d.settled()
    }

    /// Queues `job` on the writer's checksum thread, ahead of every later
    /// checksum job (for tests: a job that blocks holds the thread).
    /// - Returns: `false` when the thread cannot be started.
    func submitToChecksumThread(_ job: @escaping @Sendable () -> Void) -> Bool {
        guard let t = checksums() else { return false }
        t.submit(job)
        return true
    }

    /// The writer's checksum thread, started on first use; `nil` when it
    /// cannot be started (then this thread checksums).
    private func checksums() -> ChecksumThread? {
        if let t = checksumThread { return t }
        guard !checksumThreadFailed else { return nil }
        let t = ChecksumThread()
        checksumThread = t
        checksumThreadFailed = t == nil
        return t
    }

    /// Uncompressed chunks are written in groups of about this many bytes;
    /// the checksum thread runs at most two groups ahead of the writes, so
    /// the chunks in between stay in the last-level cache.
    static let writeGroupBytes = 4 << 20
}

/// An uncompressed array whose checksums are computed after its `append`
/// returned (`BrineWriter.writeDirect`).
struct DeferredChecksums {
    /// Its index in the writer's `entries`.
    let entry: Int
    /// Everything but the checksums (and `dataOffset` set).
    let builder: ArrayBuilder
    let job: OverlappedChecksums

    /// The table entry with its checksums, once they are computed (this
    /// thread computes the groups no thread has claimed).
    func settled() -> ArrayInfo {
        job.run()
        job.waitUntilDone()
        var b = builder
        b.checksums = job.checksums
        return b.finalize(dataOffset: b.dataOffset)
    }
}

// MARK: - Names given after the arrays were written (format 1.1)

extension BrineWriter {
    /// Renames arrays already appended (the Codable encoder decides final
    /// names only when it has met every array; docs/FORMAT.md, "Array names").
    /// - Parameter names: new path by array index.
    /// - Throws: ``BrineError`` `.invalidArgument` for an index out of range
    ///   or a path that would no longer be unique.
    func renameArrays(_ names: [Int: String]) throws(BrineError) {
        guard !names.isEmpty else { return }
        try drain()  // every appended array in `entries`, in index order
        var current = arrays.map(\.path)
        for (i, n) in names {
            guard i >= 0 && i < current.count else {
                throw BrineError(.invalidArgument, "array index \(i) out of range", filePath: destination)
            }
            current[i] = n
        }
        let exact = Set(current.map(ExactName.init))
        guard exact.count == current.count else {
            throw BrineError(.invalidArgument, "renaming would make two array paths equal", filePath: destination)
        }
        for (i, n) in names { renamed[i] = n }
        paths = exact
    }

    /// Records alias paths: each names the array at `index` too (written in
    /// the `brine.aliases` metadata map).
    /// - Throws: ``BrineError`` `.invalidArgument` for an index out of range
    ///   or an alias equal to an array path or another alias.
    func addAliases(_ list: [(path: String, index: Int)]) throws(BrineError) {
        guard !list.isEmpty else { return }
        try drain()
        for (p, i) in list {
            guard i >= 0 && i < entries.count else {
                throw BrineError(.invalidArgument, "alias '\(p)' names array #\(i), out of range", filePath: destination)
            }
            guard !paths.contains(ExactName(p)), !aliases.contains(where: { $0.path.isSameName(as: p) }) else {
                throw BrineError(.invalidArgument, "alias path is already an array path or alias", filePath: destination, arrayPath: p)
            }
            aliases.append((p, i))
        }
    }
}

extension BrineWriter {
    /// Checks the rules readers enforce on shared references (docs/FORMAT.md,
    /// "Added in 1.1: shared references"), so that every file written can be
    /// read: ids 0, 1, 2, … in pre-order; each `sharedRef` after its complete
    /// definition. Iterative (any depth).
    /// - Throws: ``BrineError`` `.invalidArgument` naming the id.
    static func checkShared(_ root: Value, path: String) throws(BrineError) {
        enum Step { case value(Value), close(Int) }
        var next = 0
        var open = Set<Int>()
        var work: [Step] = [.value(root)]
        while let step = work.popLast() {
            switch step {
            case .close(let i):
                open.remove(i)
            case .value(.shared(let i, let x)):
                guard i == next else {
                    throw BrineError(.invalidArgument, "shared node #\(i) where #\(next) comes next (ids count up from 0 in pre-order)", filePath: path)
                }
                next += 1
                open.insert(i)
                work.append(.close(i))
                work.append(.value(x))
            case .value(.sharedRef(let i)):
                guard i < next, !open.contains(i) else {
                    throw BrineError(.invalidArgument, "reference to shared node #\(i) before its definition is complete", filePath: path)
                }
            case .value(.list(let l)):
                for x in l.reversed() { work.append(.value(x)) }
            case .value(.map(let m)):
                for e in m.reversed() { work.append(.value(e.value)) }
            case .value:
                break
            }
        }
    }
}

extension ArrayInfo {
    /// The same entry under another path.
    func renamed(_ newPath: String) -> ArrayInfo {
        ArrayInfo(
            path: newPath, dtype: dtype, storedDType: storedDType, shape: shape, codec: codec, filter: filter,
            alignment: alignment, dataOffset: dataOffset, chunkBytes: chunkBytes, chunks: chunks,
            count: count, storedRawBytes: storedRawBytes, storedBytes: storedBytes)
    }
}
