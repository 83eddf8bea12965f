import Dispatch
import Synchronization

/// The chunk checksums of one uncompressed array, computed by whichever
/// thread claims the job first: a worker started as the caller begins
/// writing the array, or the caller itself once its write is done (when no
/// worker got a core meanwhile). Used by `BrineWriter.writeDirect`.
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
