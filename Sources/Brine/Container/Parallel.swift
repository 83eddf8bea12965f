import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The number of CPUs this process may use (at least 1).
public let activeProcessorCount: Int = {
    let n = sysconf(Int32(_SC_NPROCESSORS_ONLN))
    return n > 0 ? Int(n) : 1
}()

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
    let state = ParallelState()
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            while true {
                let i = state.next()
                if i >= count || state.failed { return }
                do throws(BrineError) {
                    try box.value(w, i)
                } catch {
                    state.record(error, item: i)
                    return
                }
            }
        }
    }
    if let e = state.firstError { throw e }
}

/// Shared counter and first error of a `parallelFor`.
private final class ParallelState: Sendable {
    private struct Inner {
        var counter = 0
        var errorItem = Int.max
        var firstError: BrineError?
        var failed = false
    }
    private let inner = Mutex(Inner())

    func next() -> Int {
        inner.withLock { s in
            let i = s.counter
            s.counter += 1
            return i
        }
    }

    var failed: Bool { inner.withLock { $0.failed } }
    var firstError: BrineError? { inner.withLock { $0.firstError } }

    func record(_ e: BrineError, item: Int) {
        inner.withLock { s in
            s.failed = true
            if item < s.errorItem { s.errorItem = item; s.firstError = e }
        }
    }
}

/// Carries a non-Sendable value (a closure over caller-owned buffers, a raw
/// pointer) into `concurrentPerform`, whose iterations end before the caller
/// returns, so the value never outlives the scope that owns it.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
