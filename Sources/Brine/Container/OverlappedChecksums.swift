import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The chunk checksums of one uncompressed array, computed by whichever
/// thread claims the job first: the writer's ``ChecksumThread``, handed the
/// job as the caller begins writing the array, or the caller itself once its
/// write is done (when the helper has not got to it: busy cores, or an
/// earlier job). Used by `BrineWriter.writeDirect`.
final class OverlappedChecksums: @unchecked Sendable {
    private let bytes: UnsafeRawBufferPointer
    private let sums: UnsafeMutableBufferPointer<UInt64>
    private let chunk: Int
    private let count: Int
    private let claimed = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)

    /// - Parameters:
    ///   - bytes: the array's bytes (valid until ``waitUntilDone()`` returns).
    ///   - sums: receives XXH3-64 of chunk `i` at index `i`, for `i < count`.
    ///   - chunk: the chunk size in bytes (the last chunk may be shorter).
    init(bytes: UnsafeRawBufferPointer, sums: UnsafeMutableBufferPointer<UInt64>, chunk: Int, count: Int) {
        self.bytes = bytes
        self.sums = sums
        self.chunk = chunk
        self.count = count
    }

    /// Computes every checksum unless another thread has claimed the job.
    func runIfUnclaimed() {
        guard claimed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        for i in 0 ..< count {
            let lo = i * chunk
            let hi = Swift.min(bytes.count, lo + chunk)
            sums[i] = Checksum.xxh3(UnsafeRawBufferPointer(rebasing: bytes[lo ..< hi]))
        }
        done.signal()
    }

    /// Returns once the checksums are in `sums` (after ``runIfUnclaimed()``
    /// has run on some thread).
    func waitUntilDone() {
        done.wait()
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
        // The thread owns one reference until `run` returns.
        let context = Unmanaged.passRetained(self).toOpaque()
        #if os(Linux)
        var thread = pthread_t()
        #else
        var thread: pthread_t?
        #endif
        let rc = pthread_create(&thread, nil, { raw in
            let helper = Unmanaged<ChecksumThread>.fromOpaque(raw!).takeRetainedValue()
            helper.run()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<ChecksumThread>.fromOpaque(context).release()
            return nil
        }
        #if os(Linux)
        pthread_detach(thread)
        #else
        if let thread { pthread_detach(thread) }
        #endif
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
