import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body(worker, item)` for every `item` in `0..<count` on up to
/// `threads` workers (worker ids `0..<threads`), items taken in order by an
/// atomic counter. Returns when all items are done. With `threads == 1` or
/// one item it runs on the calling thread. The first error thrown (by item
/// order) is rethrown after all workers stop; workers skip remaining items
/// once an error is seen.
func parallelFor(count: Int, threads: Int, _ body: (_ worker: Int, _ item: Int) throws(BrineError) -> Void) throws(BrineError) {
    guard count > 0 else { return }
    let workers = Swift.max(1, Swift.min(threads, count))
    if workers == 1 {
        for i in 0 ..< count { try body(0, i) }
        return
    }
    let state = ParallelState(workers: workers)
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            while true {
                let i = state.next()
                if i >= count || state.failed { return }
                do throws(BrineError) {
                    try box.value(w, i)
                } catch {
                    state.record(error, item: i, worker: w)
                    return
                }
            }
        }
    }
    if let e = state.firstError { throw e }
}

/// Shared state of a `parallelFor`: the next item, whether a worker has
/// failed, and each worker's error.
///
/// Lock-free. The item counter and the failure flag are atomics; worker `w`
/// writes only `errors[w]`, and ``firstError`` is read by the caller after
/// `concurrentPerform` has returned, which orders every write before it.
/// (A `Synchronization.Mutex` here was contended on every item; on Linux a
/// contended Mutex waits in the kernel (PI futex), which ThreadSanitizer
/// cannot see, so each contended lock was reported as a data race.)
///
/// `@unchecked Sendable`: the error slots follow the ownership rule above.
private final class ParallelState: @unchecked Sendable {
    private let counter = Atomic<Int>(0)
    private let failedFlag = Atomic<Bool>(false)
    private let errors: UnsafeMutableBufferPointer<(item: Int, error: BrineError)?>

    init(workers: Int) {
        errors = .allocate(capacity: workers)
        errors.initialize(repeating: nil)
    }

    deinit {
        errors.deinitialize()
        errors.deallocate()
    }

    /// The next item to run (each index is handed out once).
    func next() -> Int {
        counter.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// `true` once any worker has failed (a hint to stop early).
    var failed: Bool { failedFlag.load(ordering: .relaxed) }

    /// Records worker `worker`'s error for `item`; the worker stops after it.
    func record(_ e: BrineError, item: Int, worker: Int) {
        if errors[worker].map({ item < $0.item }) ?? true { errors[worker] = (item, e) }
        failedFlag.store(true, ordering: .relaxed)
    }

    /// The error of the lowest failed item. Call only after the workers have joined.
    var firstError: BrineError? {
        errors.compactMap { $0 }.min { $0.item < $1.item }?.error
    }
}

/// Carries a non-Sendable value (a closure over caller-owned buffers, a raw
/// pointer) into `concurrentPerform`, whose iterations end before the caller
/// returns, so the value never outlives the scope that owns it.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
