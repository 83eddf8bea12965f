import CBrineKernels
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The chunk checksums of one uncompressed array, computed by whichever
/// threads take part: the writer's ``ChecksumThread``, handed the job when
/// the writer begins writing the array, and the writer itself once it needs
/// the checksums (busy cores, or the helper is still on an earlier job).
/// Work is shared in groups of chunks of about 4 MiB, claimed with an atomic
/// counter, so both threads can hash one large array at the same time.
/// Used by `BrineWriter.writeDirect`.
///
/// The job owns its checksum buffer and, when given one, a reference to the
/// owner of the bytes (``ImmutableBytes``), so it may outlive the `append`
/// that made it: the writer then reads the checksums before the header.
final class OverlappedChecksums: @unchecked Sendable {
    private let bytes: UnsafeRawBufferPointer
    private let sums: UnsafeMutableBufferPointer<UInt64>
    private let chunk: Int
    /// The number of chunks.
    let count: Int
    /// The size of the array in bytes.
    var byteCount: Int { bytes.count }
    /// Chunks claimed per step (a group of about 4 MiB, at least one chunk).
    private let step: Int
    /// Keeps `bytes` alive and unchanged while the job may still read them;
    /// released by the thread that hashes the last chunk, so that a caller
    /// who refills the same tensor after the job is done does not copy it.
    private let owner: Mutex<(any ImmutableBytes)?>
    /// The first chunk no thread has claimed yet.
    private let next = Atomic<Int>(0)
    /// The number of chunks hashed.
    private let hashed = Atomic<Int>(0)
    private let done = DispatchSemaphore(value: 0)

    /// - Parameters:
    ///   - bytes: the array's bytes, valid and unchanged until ``waitUntilDone()``
    ///     returns, or for as long as `owner` is alive.
    ///   - chunk: the chunk size in bytes (the last chunk may be shorter).
    ///   - count: the number of chunks, `ceil(bytes.count / chunk)`.
    ///   - owner: the object that keeps `bytes` alive and unchanged, or `nil`
    ///     when the caller waits for the job before its buffer may change.
    init(bytes: UnsafeRawBufferPointer, chunk: Int, count: Int, owner: (any ImmutableBytes)? = nil) {
        self.bytes = bytes
        self.chunk = chunk
        self.count = count
        self.owner = Mutex(owner)
        self.step = Swift.max(1, OverlappedChecksums.groupBytes / Swift.max(chunk, 1))
        self.sums = .allocate(capacity: Swift.max(count, 1))
        if count == 0 { done.signal() }
    }

    deinit { sums.deallocate() }

    /// Hashes groups of chunks until none is left unclaimed. Safe to call
    /// from any number of threads; returns at once when every chunk is
    /// claimed (it does not wait for other threads' groups).
    func run() {
        while true {
            let lo = next.wrappingAdd(step, ordering: .relaxed).oldValue
            guard lo < count else { return }
            let hi = Swift.min(count, lo + step)
            for i in lo ..< hi {
                let a = i * chunk
                sums[i] = Checksum.xxh3(UnsafeRawBufferPointer(rebasing: bytes[a ..< Swift.min(bytes.count, a + chunk)]))
            }
            // The thread that hashes the last chunk publishes the sums.
            if hashed.wrappingAdd(hi - lo, ordering: .acquiringAndReleasing).newValue == count {
                owner.withLock { $0 = nil }
                done.signal()
            }
        }
    }

    /// Returns once every chunk's checksum is computed (after threads have
    /// run ``run()`` to the end). Any number of threads may wait.
    func waitUntilDone() {
        done.wait()
        // Pass the signal on to the next waiter.
        done.signal()
    }

    /// The checksums, chunk by chunk; call only after ``waitUntilDone()``.
    var checksums: [UInt64] { Array(sums[0 ..< count]) }

    /// Chunks are claimed in groups of about this many bytes: the writer's
    /// write groups, so a claim matches one `pwrite` of the array.
    static var groupBytes: Int { BrineWriter.writeGroupBytes }
}

/// An object that keeps a range of bytes alive, at a fixed address and
/// unchanged, for as long as it is referenced: a writer may then checksum
/// those bytes after the `append` that passed them has returned (see
/// `BrineWriter.writeDirect`). ``TensorStorage`` is one for memory this
/// process allocated (not for views); a Swift array held in
/// ``RetainedArray`` is one (copy on write: a mutation after the append
/// copies the buffer).
protocol ImmutableBytes: AnyObject, Sendable {
    /// The bytes kept unchanged, or `nil` when this object cannot promise it.
    var immutableBytes: UnsafeRawBufferPointer? { get }
}

extension ImmutableBytes {
    /// Whether `bytes` lie inside ``immutableBytes``.
    func covers(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let region = immutableBytes, let r = region.baseAddress, let b = bytes.baseAddress else { return false }
        return b >= r && b + bytes.count <= r + region.count
    }
}

extension TensorStorage: ImmutableBytes {
    /// The storage's bytes when this process allocated them (alone or packed
    /// with others of one load): tensors mutate only uniquely referenced
    /// storage. `nil` for a view of a mapping or of another object's memory:
    /// even a read-only `MAP_SHARED` mapping shows what any other writer of
    /// the file writes in place (a safetensors read-write open, another
    /// process), and a truncated file would fault on access.
    var immutableBytes: UnsafeRawBufferPointer? {
        isView ? nil : bytes
    }
}

/// A Swift array held so that its buffer stays alive and unchanged (copy on
/// write). `@unchecked Sendable`: the array is immutable.
final class RetainedArray<Element>: ImmutableBytes, @unchecked Sendable {
    let array: [Element]
    init(_ array: [Element]) { self.array = array }

    /// The array's buffer: a native Swift array's `withUnsafeBytes` passes
    /// its own buffer, which stays put while this object holds the array.
    var immutableBytes: UnsafeRawBufferPointer? {
        array.withUnsafeBytes { $0 }
    }
}

/// The helper thread of one ``BrineWriter`` that checksums uncompressed
/// arrays while the writer writes them (`BrineWriter.writeDirect`), started
/// at the first array that needs it and stopped by `finish`, `cancel` or the
/// writer's `deinit`. It runs under `SCHED_BATCH`
/// (``Syscall/useBatchScheduling()``), so that waking it for each array or write
/// group never preempts the writer: a pooled Dispatch worker woken for the
/// same job was put on the writer's core and stopped its writes there about
/// seven times per MiniLM save.
///
/// Jobs run in submission order, one at a time; the writer waits for each
/// job's checksums before its `append` returns, so the caller's buffer is
/// never read after that.
final class ChecksumThread: @unchecked Sendable {
    private let state = Mutex<(jobs: [@Sendable () -> Void], stopping: Bool)>(([], false))
    /// Signalled once per job and once by ``stop()``.
    private let signals = DispatchSemaphore(value: 0)

    /// The thread's name: `brine-ck-` and a number unique in the process
    /// (hexadecimal, within the 15 bytes a Linux thread name holds).
    let name: String
    private static let created = Atomic<UInt32>(0)

    /// Starts the thread; `nil` when it cannot be created (`pthread_create`
    /// fails, e.g. `EAGAIN` at the process's thread limit): the writer then
    /// checksums on its own thread.
    init?() {
        let n = ChecksumThread.created.wrappingAdd(1, ordering: .relaxed).oldValue & 0xFF_FFFF
        name = "brine-ck-" + String(n, radix: 16)
        guard !WriteTuning.failsChecksumThreadStart.load(ordering: .relaxed) else { return nil }
        // The thread owns one reference until `run` returns. It starts on
        // another CPU than this one (see brine_spawn_thread_elsewhere).
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = brine_spawn_thread_elsewhere({ raw in
            let helper = Unmanaged<ChecksumThread>.fromOpaque(raw!).takeRetainedValue()
            helper.run()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<ChecksumThread>.fromOpaque(context).release()
            return nil
        }
    }

    /// Queues `job` to run on the thread.
    func submit(_ job: @escaping @Sendable () -> Void) {
        state.withLock { $0.jobs.append(job) }
        signals.signal()
    }

    /// Lets the thread exit once the jobs submitted so far have run.
    func stop() {
        state.withLock { $0.stopping = true }
        signals.signal()
    }

    private func run() {
        Syscall.nameThread(name)
        Syscall.useBatchScheduling()
        while true {
            signals.wait()
            // One signal per job plus one for stop: a wake-up that finds
            // no job is stop's, once every earlier job has run.
            let next = state.withLock { s -> (@Sendable () -> Void)? in s.jobs.isEmpty ? nil : s.jobs.removeFirst() }
            if let next {
                next()
            } else if state.withLock({ $0.stopping }) {
                return
            }
        }
    }
}
