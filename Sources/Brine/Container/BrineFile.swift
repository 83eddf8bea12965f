import Foundation
import Synchronization
import SystemPackage

/// A Brine file opened for lazy, low-level access (docs/FORMAT.md).
///
/// Opening reads only the preamble, trailer and header (a few kilobytes for
/// a typical model) and validates them; array data is read when asked for.
/// Lists arrays with their dtype, shape, codec and sizes (``arrays``); reads
/// one array (``array(_:as:)``), all of them in parallel (``loadAll()``), or
/// a range of elements touching only the chunks involved
/// (``elements(_:range:)``); verifies every checksum (``verify(progress:)``).
///
/// In the mmap modes the whole file is mapped at open; uncompressed arrays
/// come back as zero-copy views whose storage keeps the mapping alive, so the
/// `BrineFile` itself may be released.
///
/// Thread safety: all reading methods may be called from several threads at
/// once (the fields are immutable after init except the array table, which
/// ``flush()`` replaces under a mutex).
public final class BrineFile: Sendable {
    /// The file path.
    public let path: String
    /// How the file was opened.
    public let mode: LoadMode
    /// The options given at open.
    public let options: ReadOptions
    /// The file size in bytes.
    public let fileSize: Int
    /// The metadata map (framework, version, user keys…); `.map([])` when none.
    public let metadata: Value
    /// The object tree (the model's structure; array references point into ``arrays``).
    public let root: Value
    /// The format version the file was written with.
    public let formatVersion: (major: UInt16, minor: UInt16)
    /// The header's XXH3-64 as the trailer records it when the file was
    /// opened: it covers every chunk's checksum, so it names the file's
    /// content (a shard index records it per shard).
    package let headerChecksum: UInt64

    let table: Mutex<[ArrayInfo]>
    /// Indices (into ``arrays``) of the arrays whose zero-copy views have
    /// been verified since open: each view is verified once per open, not on
    /// every access (docs/WORKFLOWS.md, "What is verified when").
    let verifiedViews = Mutex<Set<Int>>([])
    private let index: PathIndex
    let headerOffset: Int
    let headerLength: Int
    let source: ByteSource
    /// The read-write session (``LoadMode/mmapReadWrite`` only; see BrineFile+Session.swift).
    let session: ReadWriteSession?

    /// The array table, in file order.
    public var arrays: [ArrayInfo] { table.withLock { $0 } }

    /// The paths of all arrays, in file order.
    public var arrayPaths: [String] { arrays.map(\.path) }

    /// The entry for `path`, or `nil`.
    public func info(_ path: String) -> ArrayInfo? {
        guard let i = position(of: path) else { return nil }
        return table.withLock { $0[i] }
    }

    /// The position of `path` (or of the array it is an alias of) in ``arrays``.
    func position(of path: String) -> Int? {
        table.withLock { index.position(of: path, in: $0) } ?? aliasIndex(path)
    }

    /// The raw mapping in mmap modes, else `nil`. Internal: its bytes are not
    /// verified; arrays are reached through the verified loads.
    var mapping: Mapping? {
        if case .mapping(let m) = source.backing { return m }
        return nil
    }

    /// Opens a Brine file.
    /// - Parameters:
    ///   - url: a file URL.
    ///   - mode: copy (default) or one of the mmap modes.
    ///   - options: verification, threads, limits.
    /// - Throws: ``BrineError`` with codes `.notFound`, `.io`, `.notABrineFile`,
    ///   `.unsupportedVersion`, `.truncated`, `.checksumMismatch`,
    ///   `.corruptHeader`, `.limitExceeded`, `.layout`, `.unsupportedDType`,
    ///   `.unsupportedFeature`; `.invalidArgument` when the path names a
    ///   directory, FIFO, device or socket rather than a regular file, or
    ///   has a NUL byte (as a C string it would name another file).
    public convenience init(contentsOf url: URL, mode: LoadMode = .copy, options: ReadOptions = .init()) throws(BrineError) {
        try self.init(path: url.path, mode: mode, options: options)
    }

    /// Opens a Brine file by path. See ``init(contentsOf:mode:options:)``.
    ///
    /// Every open first completes (or discards) a journal left by a flush that
    /// did not finish and takes the file's shared data lock; in
    /// ``LoadMode/mmapReadWrite`` it also takes the session lock and verifies
    /// every chunk (docs/FORMAT.md, "Read-write sessions and the journal").
    /// Besides the codes of ``init(contentsOf:mode:options:)``, throws
    /// `.conflict` (another read-write handle, or a flush in another process
    /// holding the file for over 60 s) and `.recoveryNeeded` (a pending journal
    /// and no write access to complete it).
    public convenience init(path: String, mode: LoadMode = .copy, options: ReadOptions = .init()) throws(BrineError) {
        var options = options
        // A flush writes new checksums: a session never starts from unverified bytes.
        if mode == .mmapReadWrite { options.verifyHeader = true }
        let (source, session) = try BrineFile.openSource(path: path, mode: mode)
        if options.advice != .normal, case .mapping(let m) = source.backing { m.advise(options.advice) }
        try self.init(source: source, path: path, mode: mode, options: options, session: session)
        if session != nil {
            try verifyAllChunks()
            // Every view is verified now: loads of this session do not read the pages again.
            let all = Set(0 ..< arrays.count)
            verifiedViews.withLock { $0 = all }
        }
    }

    /// Opens a Brine file held in memory (a network buffer, a fuzzer input).
    /// The bytes are copied once into 64-byte-aligned storage; uncompressed
    /// arrays are then zero-copy, read-only views into that copy.
    /// - Parameters:
    ///   - bytes: the whole file.
    ///   - options: verification, threads, limits.
    /// - Throws: the same ``BrineError`` codes as ``init(contentsOf:mode:options:)``.
    public convenience init(bytes: UnsafeRawBufferPointer, options: ReadOptions = .init()) throws(BrineError) {
        try self.init(source: ByteSource(copying: bytes), path: "<memory>", mode: .mmap, options: options)
    }

    /// Parses the trailer and header of `source`.
    private init(source: ByteSource, path: String, mode: LoadMode, options: ReadOptions, session: ReadWriteSession? = nil) throws(BrineError) {
        // A small header of a mapped file is read with pread, a large one in place.
        let parsed = try BrineFile.parse(
            size: source.size, options: options, path: source.path,
            borrow: { (o, c) in source.parseReadsWithPread(c) ? nil : source.borrow(o, c) }, read: source.readForParse)
        self.path = path
        self.mode = mode
        self.options = options
        self.fileSize = source.size
        self.source = source
        self.metadata = parsed.header.metadata
        self.root = parsed.header.root
        self.formatVersion = (parsed.trailer.major, parsed.trailer.minor)
        self.headerOffset = Int(parsed.trailer.headerOffset)
        self.headerLength = Int(parsed.trailer.headerLength)
        self.headerChecksum = parsed.trailer.headerChecksum
        self.index = parsed.header.index
        self.table = Mutex(parsed.header.arrays)
        self.session = session
    }

    // MARK: Parsing

    struct Parsed {
        var trailer: Trailer
        var header: Header
    }

    /// Reads and validates preamble, trailer and header through `read(offset, count)`,
    /// which returns exactly `count` bytes or throws; the header is decoded in
    /// place when `borrow(offset, count)` lends the bytes (a mapped source).
    static func parse(
        size: Int, options: ReadOptions, path: String?, checkPreamble: Bool = true,
        borrow: (Int, Int) -> UnsafeRawBufferPointer? = { _, _ in nil }, read: (Int, Int) throws(BrineError) -> [UInt8]
    ) throws(BrineError) -> Parsed {
        let minimum = FormatSpec.preambleSize + FormatSpec.trailerSize
        if size < minimum {
            let head = try read(0, Swift.min(size, 8))
            if head.count == 8 && head.elementsEqual(FormatSpec.magic) {
                throw BrineError(.truncated, "file of \(size) bytes is shorter than the smallest Brine file (\(minimum) bytes)", filePath: path, byteOffset: UInt64(size))
            }
            throw BrineError(.notABrineFile, "file of \(size) bytes is not a Brine file", filePath: path, byteOffset: 0)
        }
        // A ranged reader (RangedBrineFile) defers the preamble to keep its
        // open at one request; it checks the preamble before any array data.
        if checkPreamble {
            let pre = try read(0, FormatSpec.preambleSize)
            try typedThrows { try pre.withUnsafeBytes { b in try Preamble.check(b, path: path) } }
        }
        let tail = try read(size - FormatSpec.trailerSize, FormatSpec.trailerSize)
        let trailer: Trailer
        do throws(BrineError) {
            trailer = try typedThrows {
                try tail.withUnsafeBytes { b in try Trailer.decode(b, fileSize: UInt64(size), limits: options.limits, path: path) }
            }
        } catch where error.code == .notABrineFile {
            // The start is a Brine file, the end is not: a truncated or damaged file.
            throw BrineError(.truncated, "the file starts as a Brine file but does not end with the Brine trailer (truncated or damaged)", filePath: path, byteOffset: UInt64(size))
        } catch where error.code == .checksumMismatch && !options.verifyHeader {
            // Fuzzing/forensics: re-decode without the trailer checksum.
            var patched = tail
            let sum = Checksum.xxh3(Array(tail[0 ..< 48]))
            for i in 0 ..< 8 { patched[48 + i] = UInt8(truncatingIfNeeded: sum >> (8 * UInt64(i))) }
            trailer = try typedThrows {
                try patched.withUnsafeBytes { b in try Trailer.decode(b, fileSize: UInt64(size), limits: options.limits, path: path) }
            }
        }
        // A mapped file's header is decoded where it lies (no copy).
        func decodeHeader(_ b: UnsafeRawBufferPointer) throws(BrineError) -> Parsed {
            if options.verifyHeader {
                let sum = Checksum.xxh3(b)
                guard sum == trailer.headerChecksum else {
                    throw BrineError(.checksumMismatch, "header checksum mismatch (stored \(hex(trailer.headerChecksum)), computed \(hex(sum)))", filePath: path, byteOffset: trailer.headerOffset)
                }
            }
            let header = try Header.decode(b, headerOffset: trailer.headerOffset, limits: options.limits, path: path, minorVersion: trailer.minor)
            return Parsed(trailer: trailer, header: header)
        }
        if let inPlace = borrow(Int(trailer.headerOffset), Int(trailer.headerLength)) {
            return try decodeHeader(inPlace)
        }
        let headerBytes = try read(Int(trailer.headerOffset), Int(trailer.headerLength))
        return try typedThrows { try headerBytes.withUnsafeBytes { (b) throws -> Parsed in try decodeHeader(b) } }
    }

    // MARK: Reading arrays

    /// Loads the array at `path` as a typed tensor.
    /// - Parameters:
    ///   - path: the array path.
    ///   - as: the scalar type; must match the array's dtype.
    /// - Returns: a zero-copy view in mmap modes for uncompressed arrays, else
    ///   a tensor in memory Brine owns.
    /// - Throws: ``BrineError`` `.arrayNotFound`, `.dtypeMismatch`,
    ///   `.checksumMismatch`, `.decompressionFailed`, `.truncated`, `.io`, `.limitExceeded`;
    ///   `.valueOutOfRange` for a bool array holding a byte other than 0 or 1.
    public func array<S: BrineScalar>(_ path: String, as: S.Type = S.self) throws(BrineError) -> Tensor<S> {
        let a = try anyArray(path)
        guard a.dtype == S.dtype else {
            throw BrineError(.dtypeMismatch, "array has dtype \(a.dtype), requested \(S.dtype)", filePath: self.path, arrayPath: path)
        }
        do throws(BrineError) {
            return try Tensor<S>(shape: a.shape, storage: a.storage)
        } catch {
            throw BrineError(error.code, error.message, filePath: self.path, arrayPath: path)
        }
    }

    /// Loads the array at `path` with its dtype known only at run time.
    /// - Throws: see ``array(_:as:)``.
    public func anyArray(_ path: String) throws(BrineError) -> AnyTensor {
        guard let i = position(of: path) else {
            throw BrineError(.arrayNotFound, "no array with this path", filePath: self.path, arrayPath: path)
        }
        return try anyArray(at: i)
    }

    /// Loads the array at position `index` of ``arrays``.
    /// - Throws: ``BrineError`` `.invalidArgument` for an index out of range; see ``array(_:as:)``.
    public func anyArray(at index: Int) throws(BrineError) -> AnyTensor {
        let infos = arrays
        guard index >= 0 && index < infos.count else {
            throw BrineError(.invalidArgument, "array index \(index) out of range 0..<\(infos.count)", filePath: path)
        }
        return try load([infos[index]])[0]
    }

    /// Loads every array, decoding all chunks of all arrays in parallel.
    /// - Returns: the arrays in file order (views in mmap modes where possible).
    /// - Throws: see ``array(_:as:)``.
    public func loadAll() throws(BrineError) -> [AnyTensor] {
        try load(arrays)
    }

    /// Loads the given arrays, decoding their chunks in parallel (on at most
    /// `threads` threads; default ``ReadOptions/threads``). Zero-copy
    /// views are verified first (all their chunks, on all threads) unless
    /// the caller opted out (``ReadOptions/verifyChecksums`` or
    /// ``ReadOptions/verifyMappedArrays`` `false`) or they were verified
    /// before by this `BrineFile`.
    package func load(_ infos: [ArrayInfo], threads: Int? = nil) throws(BrineError) -> [AnyTensor] {
        let mapped = source.isMapped
        // Verify every view before handing out any (all chunks in parallel).
        if mapped && options.verifyChecksums && options.verifyMappedArrays {
            try verifyViews(infos.filter(\.isContiguousRaw))
        }
        // The loops below read fields through the buffer instead of copying
        // each `ArrayInfo` (three reference counts per copy): at thousands of
        // arrays per open, those copies were most of an mmap open's time.
        return try infos.withUnsafeBufferPointer { (buffer) throws(BrineError) -> [AnyTensor] in
            // `UnsafePointer`'s subscript is an addressor: `infos[k].field`
            // reads one field in place (a buffer's subscript returns a copy).
            guard let infos = buffer.baseAddress else { return [] }
            var results: [AnyTensor] = []
            results.reserveCapacity(buffer.count)
            var toAllocate: [Int] = []
            var total = 0
            for k in buffer.indices {
                if mapped, infos[k].isContiguousRaw,
                   let view = try zeroCopyView(dtype: infos[k].dtype, shape: infos[k].shape, offset: infos[k].dataOffset, byteCount: infos[k].byteCount) {
                    results.append(view)
                    continue
                }
                let (t, o) = total.addingReportingOverflow(infos[k].byteCount)
                guard !o, t <= options.limits.maxAllocationBytes else {
                    throw BrineError(.limitExceeded, "loading needs \(t) bytes, over the allocation limit of \(options.limits.maxAllocationBytes)", filePath: path, arrayPath: infos[k].path)
                }
                total = t
                toAllocate.append(k)
                // A placeholder, replaced once the arrays to decode are decoded.
                results.append(AnyTensor(placeholderFor: infos[k].dtype))
            }
            guard !toAllocate.isEmpty else { return results }
            let storages = BrineFile.allocateStorages(toAllocate.map { infos[$0].byteCount })
            var jobs: [(info: ArrayInfo, destination: BoundedBytes)] = []
            jobs.reserveCapacity(toAllocate.count)
            for (n, k) in toAllocate.enumerated() { jobs.append((infos[k], BoundedBytes(storages[n].mutableBytes))) }
            try decode(jobs, threads: threads)
            for (n, k) in toAllocate.enumerated() {
                results[k] = try AnyTensor(dtype: infos[k].dtype, shape: infos[k].shape, storage: storages[n])
            }
            return results
        }
    }

    /// Verifies the checksums of every chunk of the given (contiguous,
    /// mapped) arrays that this `BrineFile` has not verified yet, on up to
    /// ``ReadOptions/threads`` threads (XXH3-64 over the mapped pages, which
    /// also faults them in), then records them as verified.
    /// - Throws: ``BrineError`` `.checksumMismatch` naming the array, chunk
    ///   and byte offset of the first failing chunk (in array order).
    private func verifyViews(_ infos: [ArrayInfo]) throws(BrineError) {
        guard options.verifyChecksums, options.verifyMappedArrays, !infos.isEmpty else { return }
        let done = verifiedViews.withLock { $0 }
        var pending: [(info: ArrayInfo, index: Int)] = []
        let table = arrays
        for a in infos {
            guard let i = index.position(of: a, in: table), !done.contains(i) else { continue }
            pending.append((a, i))
        }
        guard !pending.isEmpty else { return }
        var work: [(array: Int, chunk: Int)] = []
        for (k, p) in pending.enumerated() {
            for c in 0 ..< p.info.chunkCount { work.append((k, c)) }
        }
        let threads = Swift.max(1, Swift.min(options.threads, work.count))
        try parallelFor(count: work.count, threads: threads) { (_, item) throws(BrineError) in
            let (k, c) = work[item]
            try verifyChunk(pending[k].info, chunk: c)
        }
        verifiedViews.withLock { set in
            for p in pending { set.insert(p.index) }
        }
    }
    /// Reads the array at `path` into memory the caller owns (for example the
    /// existing weights of a model being refreshed), decoding and verifying
    /// its chunks in parallel. No allocation proportional to the array.
    /// - Parameters:
    ///   - path: the array path.
    ///   - destination: exactly ``ArrayInfo/byteCount`` bytes; receives the
    ///     elements as loaded (dtype ``ArrayInfo/dtype``, C order, little-endian).
    /// - Throws: ``BrineError`` `.arrayNotFound`, `.invalidArgument` (wrong
    ///   buffer size), `.checksumMismatch`, `.decompressionFailed`, `.truncated`, `.io`.
    public func read(_ path: String, into destination: UnsafeMutableRawBufferPointer) throws(BrineError) {
        guard let a = info(path) else {
            throw BrineError(.arrayNotFound, "no array with this path", filePath: self.path, arrayPath: path)
        }
        guard destination.count == a.byteCount else {
            throw BrineError(.invalidArgument, "destination of \(destination.count) bytes, the array has \(a.byteCount)", filePath: self.path, arrayPath: path)
        }
        guard destination.baseAddress != nil, a.byteCount > 0 else { return }
        try decode([(a, BoundedBytes(destination))])
    }

    /// Decodes every chunk of the given arrays into their destinations, on
    /// up to `options.threads` threads.
    private func decode(_ jobs: [(info: ArrayInfo, destination: BoundedBytes)], threads: Int? = nil) throws(BrineError) {
        var work: [(job: Int, chunk: Int)] = []
        for (k, j) in jobs.enumerated() {
            for c in 0 ..< j.info.chunkCount { work.append((k, c)) }
        }
        let threads = Swift.max(1, Swift.min(threads ?? options.threads, work.count))
        let scratch = (0 ..< threads).map { _ in ChunkScratch() }
        let targets = UncheckedSendable(jobs)
        try parallelFor(count: work.count, threads: threads) { (worker, item) throws(BrineError) in
            let (k, c) = work[item]
            let job = targets.value[k]
            try decodeChunk(job.info, chunk: c, into: job.destination, scratch: scratch[worker], verify: options.verifyChecksums)
        }
    }

    /// A zero-copy view of an uncompressed array when the source is a mapping
    /// or memory (verified beforehand by ``verifyViews(_:)``); `nil` in copy mode.
    private func zeroCopyView(dtype: DType, shape: [Int], offset: Int, byteCount: Int) throws(BrineError) -> AnyTensor? {
        guard source.isMapped else { return nil }
        // The layout was validated on open, and views of mappings are aligned as the file says.
        let storage = byteCount == 0
            ? TensorStorage(zeroedByteCount: 0)
            : source.view(offset, byteCount, alignment: 1)
        guard let storage else { return nil }
        return try AnyTensor(dtype: dtype, shape: shape, storage: storage)
    }

    /// Loads elements `range` (flat C-order indices) of the array at `path`
    /// as a rank-1 array, reading and verifying only the chunks that hold them.
    /// - Throws: ``BrineError`` `.arrayNotFound`, `.invalidArgument` (range
    ///   outside `0..<count`), `.limitExceeded` (the range's bytes exceed
    ///   ``ReadLimits/maxAllocationBytes``), and the codes of ``array(_:as:)``.
    public func elements(_ path: String, range: Range<Int>) throws(BrineError) -> AnyTensor {
        guard let a = info(path) else {
            throw BrineError(.arrayNotFound, "no array with this path", filePath: self.path, arrayPath: path)
        }
        guard range.lowerBound >= 0, range.upperBound <= a.count else {
            throw BrineError(.invalidArgument, "element range \(range) outside 0..<\(a.count)", filePath: self.path, arrayPath: path)
        }
        // range ⊆ 0..<count, and count × itemSize was overflow-checked on open.
        let outBytes = range.count * a.dtype.itemSize
        guard outBytes <= options.limits.maxAllocationBytes else {
            throw BrineError(.limitExceeded, "loading \(range.count) elements needs \(outBytes) bytes, over the allocation limit of \(options.limits.maxAllocationBytes)", filePath: self.path, arrayPath: path)
        }
        let out = TensorStorage(uninitializedByteCount: outBytes)
        if range.isEmpty { return try AnyTensor(dtype: a.dtype, shape: [0], storage: out) }
        let sis = a.storedDType.itemSize
        let firstChunk = range.lowerBound * sis / a.chunkBytes
        let lastChunk = (range.upperBound * sis - 1) / a.chunkBytes
        let elementsPerChunk = a.chunkBytes / sis
        let scratch = ChunkScratch()
        let item = a.dtype.itemSize
        let chunkOut = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.min(elementsPerChunk, a.count) * item, alignment: 64)
        defer { chunkOut.deallocate() }
        // `out` holds elements range.lowerBound ..< range.upperBound.
        let result = BoundedBytes(out.mutableBytes, origin: range.lowerBound * item)
        for c in firstChunk ... lastChunk {
            // `chunkOut` holds chunk c's decoded bytes, addressed as in the whole array.
            let decoded = a.decodedRange(ofChunk: c)
            let chunk = BoundedBytes(UnsafeMutableRawBufferPointer(rebasing: chunkOut[0 ..< decoded.count]), origin: decoded.lowerBound)
            try decodeChunk(a, chunk: c, into: chunk, scratch: scratch, verify: options.verifyChecksums)
            let wanted = Swift.max(range.lowerBound * item, decoded.lowerBound) ..< Swift.min(range.upperBound * item, decoded.upperBound)
            result.mutableBytes(wanted).copyMemory(from: chunk.bytes(wanted))
        }
        return try AnyTensor(dtype: a.dtype, shape: [range.count], storage: out)
    }

    /// Typed form of ``elements(_:range:)``.
    public func elements<S: BrineScalar>(_ path: String, range: Range<Int>, as: S.Type = S.self) throws(BrineError) -> [S] {
        let t = try elements(path, range: range)
        guard t.dtype == S.dtype else {
            throw BrineError(.dtypeMismatch, "array has dtype \(t.dtype), requested \(S.dtype)", filePath: self.path, arrayPath: path)
        }
        return try t.typed(as: S.self).scalars
    }

    // MARK: Verification

    /// Verifies the checksum of every chunk of every array (reading all data)
    /// and that every compressed chunk decompresses to exactly its declared size.
    /// - Parameter progress: called after each chunk with the stored bytes
    ///   checked so far and the total stored bytes (for progress bars).
    /// - Returns: every failure found, empty when the file is intact.
    public func verify(progress: ((_ doneBytes: Int, _ totalBytes: Int) -> Void)? = nil) -> [BrineError] {
        var failures: [BrineError] = []
        let infos = arrays
        let totalBytes = infos.reduce(0) { $0 + $1.storedBytes }
        var doneBytes = 0
        let scratch = ChunkScratch()
        for a in infos {
            let decodedBytes = Swift.min(a.chunkBytes / a.storedDType.itemSize, a.count) * a.dtype.itemSize
            let decoded = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(decodedBytes, 1), alignment: 64)
            defer { decoded.deallocate() }
            for c in 0 ..< a.chunkCount {
                do throws(BrineError) {
                    if a.isContiguousRaw {
                        try verifyChunk(a, chunk: c)
                    } else {
                        let range = a.decodedRange(ofChunk: c)
                        let chunk = BoundedBytes(UnsafeMutableRawBufferPointer(rebasing: decoded[0 ..< range.count]), origin: range.lowerBound)
                        try decodeChunk(a, chunk: c, into: chunk, scratch: scratch, verify: true)
                    }
                } catch {
                    failures.append(error)
                }
                doneBytes += a.chunk(c).storedBytes
                progress?(doneBytes, totalBytes)
            }
        }
        return failures
    }

    /// Checks one chunk's checksum without decoding it.
    private func verifyChunk(_ a: ArrayInfo, chunk c: Int) throws(BrineError) {
        let scratch = ChunkScratch()
        let offset = a.chunk(c).offset
        let stored = try storedBytes(offset: offset, count: a.chunk(c).storedBytes, scratch: scratch, a: a, chunk: c)
        let sum = Checksum.xxh3(stored)
        guard sum == a.chunk(c).checksum else {
            throw BrineError(.checksumMismatch, "chunk checksum mismatch (stored \(hex(a.chunk(c).checksum)), computed \(hex(sum)))", filePath: path, arrayPath: a.path, chunkIndex: c, byteOffset: UInt64(offset))
        }
    }

    // MARK: Chunk decoding

    /// The stored bytes of a chunk: a slice of the mapping, or read into `scratch`.
    private func storedBytes(offset: Int, count: Int, scratch: ChunkScratch, a: ArrayInfo, chunk c: Int) throws(BrineError) -> UnsafeRawBufferPointer {
        if let borrowed = source.borrow(offset, count) { return borrowed }
        let buf = scratch.stored(count)
        do {
            try source.read(into: buf, at: offset)
        } catch {
            throw BrineError(error.code, error.message, filePath: path, arrayPath: a.path, chunkIndex: c, byteOffset: error.byteOffset)
        }
        return UnsafeRawBufferPointer(buf)
    }

    /// Decodes chunk `c` of `a` into its place in `destination` (addressed
    /// by offsets in the whole array, ``ArrayInfo/decodedRange(ofChunk:)``).
    private func decodeChunk(_ a: ArrayInfo, chunk c: Int, into destination: BoundedBytes, scratch: ChunkScratch, verify: Bool) throws(BrineError) {
        let offset = a.chunk(c).offset
        let storedCount = a.chunk(c).storedBytes
        func fail(_ code: BrineError.Code, _ msg: String) -> BrineError {
            BrineError(code, msg, filePath: path, arrayPath: a.path, chunkIndex: c, byteOffset: UInt64(offset))
        }
        // Fast path: uncompressed, unfiltered, not narrowed, read from a file:
        // pread straight into the destination, then verify there.
        if a.isContiguousRaw, !source.isMapped {
            let buf = destination.mutableBytes(a.decodedRange(ofChunk: c))
            do {
                try source.read(into: buf, at: offset)
            } catch {
                throw fail(error.code, error.message)
            }
            if verify {
                let sum = Checksum.xxh3(UnsafeRawBufferPointer(buf))
                guard sum == a.chunk(c).checksum else {
                    throw fail(.checksumMismatch, "chunk checksum mismatch (stored \(hex(a.chunk(c).checksum)), computed \(hex(sum)))")
                }
            }
            return
        }
        let stored = try storedBytes(offset: offset, count: storedCount, scratch: scratch, a: a, chunk: c)
        try a.decodeChunk(c, stored: stored, into: destination, scratch: scratch, verify: verify, filePath: path)
    }
}

/// Per-worker buffers for reading and decoding chunks, grown on demand to
/// the sizes actually needed (never to a size a file merely declares).
final class ChunkScratch: @unchecked Sendable {
    // @unchecked Sendable: each instance is used by exactly one worker of a parallelFor.
    private var buffers: [UnsafeMutableRawBufferPointer] = [.init(start: nil, count: 0), .init(start: nil, count: 0), .init(start: nil, count: 0)]
    let context = CodecContext()

    init() {}

    private func buffer(_ k: Int, _ n: Int) -> UnsafeMutableRawBufferPointer {
        if buffers[k].count < n {
            buffers[k].deallocate()
            buffers[k] = .allocate(byteCount: n, alignment: 64)
        }
        return UnsafeMutableRawBufferPointer(rebasing: buffers[k][0 ..< n])
    }

    /// A buffer of `n` bytes for stored (compressed) bytes read with pread.
    func stored(_ n: Int) -> UnsafeMutableRawBufferPointer { buffer(0, n) }
    /// A buffer of `n` bytes for decompressed bytes.
    func raw(_ n: Int) -> UnsafeMutableRawBufferPointer { buffer(1, n) }
    /// A buffer of `n` bytes for unshuffled bytes awaiting widening.
    func unshuffled(_ n: Int) -> UnsafeMutableRawBufferPointer { buffer(2, n) }

    deinit {
        for b in buffers { b.deallocate() }
    }
}
