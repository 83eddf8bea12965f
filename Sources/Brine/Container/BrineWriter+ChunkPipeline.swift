import Dispatch

// The writer's chunk pipeline (docs/FORMAT.md, "Writing"): the chunks of a
// filtered, compressed or narrowed array go to worker threads as `ChunkJob`s
// and come back in order to be written by the caller's thread. The writer
// itself (options, the direct path of uncompressed arrays, header and
// trailer, commit) is in BrineWriter.swift.

extension BrineWriter {

    /// Submits every chunk of a filtered/compressed/narrowed array to the
    /// workers. Each worker reads its chunk straight from the caller's buffer
    /// (narrowing, shuffling or copying it into the job's input buffer), tells
    /// the caller the source is consumed, then compresses and checksums.
    /// Returns once every chunk's source bytes are consumed, so the caller's
    /// buffer is free; compression and writing continue behind the next
    /// arrays (bounded by `threads + 1` jobs in flight).
    func submitChunks(
        _ bytes: UnsafeRawBufferPointer, builder: ArrayBuilder, threads: Int, narrowing: NarrowingPolicy, lz4Acceleration: Int
    ) throws(BrineError) {
        let dtypeSize = builder.dtype.itemSize
        let storedSize = builder.stored.itemSize
        // The caller's elements, addressed by byte offsets in the array (dtype).
        let elements = BoundedBytes(bytes)
        var unconsumed: [ChunkJob] = []
        // Also on an error: never return while a worker still reads the caller's buffer.
        defer { for job in unconsumed { job.waitUntilSourceConsumed() } }
        for c in 0 ..< builder.chunkCount {
            let job = try acquireJob(chunkBytes: builder.chunkBytes, codec: builder.codec)
            let rawLen = builder.rawChunkLength(c)
            let src = elements.bytes(at: (c * builder.chunkBytes / storedSize) * dtypeSize, count: rawLen / storedSize * dtypeSize)
            job.prepare(
                array: builder.index, chunk: c, source: src, rawCount: rawLen, dtype: builder.dtype,
                stored: builder.stored, filter: builder.filter, codec: builder.codec,
                firstElement: c * (builder.chunkBytes / storedSize), narrowing: narrowing,
                lz4Acceleration: lz4Acceleration)
            if threads == 1 {
                job.run()
            } else {
                let slots = workerSlots
                let box = UncheckedSendable(job)
                DispatchQueue.global().async {
                    slots.wait()
                    box.value.run()
                    slots.signal()
                }
            }
            pending.append(job)
            unconsumed.append(job)
            if unconsumed.count > threads + 1 { unconsumed.removeFirst().waitUntilSourceConsumed() }
        }
    }

    var inFlight: Int { pending.count - pendingHead }

    private func acquireJob(chunkBytes: Int, codec: Codec) throws(BrineError) -> ChunkJob {
        while inFlight >= options.threads + 1 {
            try retireHead()
        }
        let bound = codec.compressBound(chunkBytes) + CodecContext.planeFramesSlack
        if let i = pool.firstIndex(where: { $0.input.count >= chunkBytes && $0.output.count >= bound }) {
            return pool.remove(at: i)
        }
        if pool.count > options.threads + 1, let j = pool.popLast() { j.deallocate() }
        return ChunkJob(inputBytes: chunkBytes, outputBytes: bound)
    }

    private func retireHead() throws(BrineError) {
        let job = pending[pendingHead]
        pendingHead += 1
        if pendingHead == pending.count { pending.removeAll(keepingCapacity: true); pendingHead = 0 }
        defer { pool.append(job) }
        job.waitUntilDone()
        guard var b = builders[job.arrayIndex] else { return }
        if let e = job.error {
            throw BrineError(e.code, e.message, filePath: destination, arrayPath: b.path, chunkIndex: job.chunkIndex)
        }
        if job.chunkIndex == 0 {
            b.dataOffset = alignUp(offset, b.alignment)
            offset = b.dataOffset
        }
        let out = job.result
        try output.write(out, at: offset)
        offset += out.count
        b.storedSizes.append(out.count)
        b.checksums.append(job.checksum)
        b.rawFlags.append(job.isRaw)
        if b.storedSizes.count == b.chunkCount {
            builders[job.arrayIndex] = nil
            entries.append(b.finalize(dataOffset: b.dataOffset))
        } else {
            builders[job.arrayIndex] = b
        }
    }

    /// Waits for and writes every job in flight.
    func drain() throws(BrineError) {
        while inFlight > 0 { try retireHead() }
    }

    func drainIgnoringErrors() {
        while inFlight > 0 {
            let job = pending[pendingHead]
            pendingHead += 1
            job.waitUntilDone()
            pool.append(job)
        }
        pending.removeAll()
        pendingHead = 0
    }
}

@inline(__always)
func alignUp(_ x: Int, _ a: Int) -> Int { (x + a - 1) & ~(a - 1) }

/// An array whose chunks are being written.
struct ArrayBuilder {
    let index: Int
    let path: String
    let dtype: DType
    let stored: DType
    let shape: [Int]
    let codec: Codec
    let filter: ChunkFilter
    let alignment: Int
    let chunkBytes: Int
    let chunkCount: Int
    let count: Int
    let storedRaw: Int
    var dataOffset = 0
    var storedSizes: [Int] = []
    var checksums: [UInt64] = []
    /// Per chunk: stored raw although the codec compresses.
    var rawFlags: [Bool] = []

    init(index: Int, path: String, dtype: DType, stored: DType, shape: [Int], codec: Codec, filter: ChunkFilter,
         alignment: Int, chunkBytes: Int, chunkCount: Int, count: Int, storedRaw: Int) {
        self.index = index
        self.path = path
        self.dtype = dtype
        self.stored = stored
        self.shape = shape
        self.codec = codec
        self.filter = filter
        self.alignment = alignment
        self.chunkBytes = chunkBytes
        self.chunkCount = chunkCount
        self.count = count
        self.storedRaw = storedRaw
        storedSizes.reserveCapacity(chunkCount)
        checksums.reserveCapacity(chunkCount)
    }

    func rawChunkLength(_ c: Int) -> Int { Swift.min(chunkBytes, storedRaw - c * chunkBytes) }

    func finalize(dataOffset: Int) -> ArrayInfo {
        var chunks: [ArrayInfo.Chunk] = []
        chunks.reserveCapacity(storedSizes.count)
        var offset = dataOffset
        for (k, (s, c)) in zip(storedSizes, checksums).enumerated() {
            chunks.append(ArrayInfo.Chunk(offset: offset, storedBytes: s, checksum: c, isRaw: k < rawFlags.count && rawFlags[k]))
            offset += s
        }
        return ArrayInfo(
            path: path, dtype: dtype, storedDType: stored, shape: shape, codec: codec, filter: filter,
            alignment: alignment, dataOffset: dataOffset, chunkBytes: chunkBytes, chunks: chunks, count: count,
            storedRawBytes: storedRaw, storedBytes: offset - dataOffset)
    }
}

/// One chunk in flight: where its raw elements are in the caller's buffer,
/// its filtered bytes, its compressed bytes and checksum.
///
/// `@unchecked Sendable`: the submitting thread sets every field in
/// `prepare` before dispatching; the worker writes the buffers, output size,
/// checksum and error before signalling `consumed`/`done`; the submitting
/// thread reads them only after waiting on those semaphores, which order the
/// accesses.
final class ChunkJob: @unchecked Sendable {
    let input: UnsafeMutableRawBufferPointer
    let output: UnsafeMutableRawBufferPointer
    private let done = DispatchSemaphore(value: 0)
    private let consumed = DispatchSemaphore(value: 0)

    /// Where a job is in its cycle, as the submitting thread (the only one
    /// that reads or changes it) has observed it.
    enum State: Equatable {
        /// Not handed to a worker: new, or back in the pool after ``finished``.
        case idle
        /// ``prepare(array:chunk:source:rawCount:dtype:stored:filter:codec:firstElement:narrowing:lz4Acceleration:)``
        /// was called: a worker may still read the caller's buffer.
        case submitted
        /// The worker has released the caller's buffer (its `consumed`
        /// signal was waited for); compressing may still run.
        case sourceReleased
        /// The worker is done (its `done` signal was waited for): the
        /// result, checksum and error may be read, and the job reused.
        case finished
    }
    private(set) var state: State = .idle
    private let context = CodecContext()
    private(set) var arrayIndex = 0
    private(set) var chunkIndex = 0
    private var source: UnsafeRawBufferPointer?
    private var rawCount = 0
    private var dtype: DType = .uint8
    private var stored: DType = .uint8
    private var filter: ChunkFilter = .none
    private var outputCount = 0
    private var codec: Codec = .none
    private(set) var checksum: UInt64 = 0
    /// The chunk is stored raw: compressing did not make it smaller (format 1.1).
    private(set) var isRaw = false
    private(set) var error: BrineError?
    private var firstElement = 0
    private var narrowing: NarrowingPolicy = .rejectOverflowAndUnderflow
    private var lz4Acceleration = 1

    init(inputBytes: Int, outputBytes: Int) {
        input = .allocate(byteCount: Swift.max(inputBytes, 1), alignment: 64)
        // The output doubles as the narrowing scratch, so it holds a raw chunk too.
        output = .allocate(byteCount: Swift.max(outputBytes, inputBytes, 1), alignment: 64)
    }

    func deallocate() {
        input.deallocate()
        output.deallocate()
    }

    /// Describes the chunk; `source` holds its elements (of `dtype`) in the
    /// caller's buffer, which must stay valid until
    /// ``waitUntilSourceConsumed()`` returns; `rawCount` is their size once
    /// stored (of `stored`), at most the job's input buffer.
    func prepare(array: Int, chunk: Int, source: UnsafeRawBufferPointer, rawCount: Int, dtype: DType, stored: DType,
                 filter: ChunkFilter, codec: Codec, firstElement: Int, narrowing: NarrowingPolicy, lz4Acceleration: Int = 1) {
        precondition(state == .idle || state == .finished, "ChunkJob prepared while in flight")
        assert(rawCount <= input.count && source.count / dtype.itemSize * stored.itemSize == rawCount,
               "chunk of \(rawCount) stored bytes from \(source.count) source bytes, input buffer \(input.count)")
        self.firstElement = firstElement
        self.narrowing = narrowing
        self.lz4Acceleration = lz4Acceleration
        self.arrayIndex = array
        self.chunkIndex = chunk
        self.source = source
        self.rawCount = rawCount
        self.dtype = dtype
        self.stored = stored
        self.filter = filter
        self.codec = codec
        self.error = nil
        self.isRaw = false
        self.state = .submitted
    }

    /// Blocks until the job has run, and balances its `consumed` signal so
    /// that the job can be reused: a reused job must never find the signal
    /// of its previous run, which would let the caller free a buffer that
    /// the next run is still reading.
    func waitUntilDone() {
        precondition(state == .submitted || state == .sourceReleased, "ChunkJob waited for while not in flight")
        done.wait()
        waitUntilSourceConsumed()
        state = .finished
    }

    /// Blocks until the worker has finished reading the caller's buffer.
    func waitUntilSourceConsumed() {
        guard state == .submitted else { return }
        consumed.wait()
        state = .sourceReleased
    }

    /// Narrows (float32 → float16/bfloat16), shuffles or copies the source
    /// into `input`, releases the source, then compresses and checksums.
    func run() {
        defer { done.signal() }
        let src = source!.baseAddress!
        let elements = rawCount / stored.itemSize
        var filtered = src
        if stored != dtype {
            // Narrow into `output` (free until compression), or straight into `input`.
            let target = filter == .shuffle ? output.baseAddress! : input.baseAddress!
            FloatConversion.narrow(src, to: target, count: elements, stored: stored)
            filtered = UnsafeRawPointer(target)
            if narrowing == .rejectOverflowAndUnderflow,
               let i = FloatConversion.firstLoss(src, narrowed: target, count: elements, stored: stored) {
                error = FloatConversion.lossError(
                    value: src.loadUnaligned(fromByteOffset: i * 4, as: Float.self), index: firstElement + i, stored: stored)
                source = nil
                consumed.signal()
                return
            }
        }
        if filter == .shuffle {
            ByteShuffle.shuffle(
                UnsafeRawBufferPointer(start: filtered, count: rawCount),
                into: UnsafeMutableRawBufferPointer(rebasing: input[0 ..< rawCount]), elementSize: stored.itemSize)
        } else if stored == dtype {
            input.copyMemory(from: source!)
        }
        source = nil
        consumed.signal()

        let raw = UnsafeRawBufferPointer(rebasing: input[0 ..< rawCount])
        if !codec.compresses {
            outputCount = rawCount
            checksum = Checksum.xxh3(raw)
            return
        }
        do {
            if case .zstd(let level) = codec, filter == .shuffle, stored.itemSize > 1, rawCount >= stored.itemSize {
                outputCount = try context.compressZstdPlanes(level: level, planes: stored.itemSize, raw, into: output)
            } else {
                outputCount = try context.compress(codec, raw, into: output, lz4Acceleration: lz4Acceleration)
            }
            if outputCount >= rawCount {
                // Incompressible: store the filtered bytes raw, flagged, so
                // the array never grows past its raw size (docs/FORMAT.md, "Raw chunks").
                isRaw = true
                outputCount = rawCount
                checksum = Checksum.xxh3(raw)
                return
            }
            checksum = Checksum.xxh3(UnsafeRawBufferPointer(rebasing: output[0 ..< outputCount]))
        } catch {
            self.error = error
        }
    }

    /// The bytes to write: the compressed output, or the filtered input for
    /// codec none and raw chunks.
    var result: UnsafeRawBufferPointer {
        codec.compresses && !isRaw
            ? UnsafeRawBufferPointer(rebasing: output[0 ..< outputCount])
            : UnsafeRawBufferPointer(rebasing: input[0 ..< rawCount])
    }
}
