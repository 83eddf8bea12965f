import Synchronization
import SystemPackage

/// Switches for the writer's I/O strategies, so that `Benchmarks` can time
/// each against its absence in one process (A/B). Not part of the public
/// API; the defaults are what every save uses.
package enum WriteTuning {
    /// Allocate a file's blocks with `fallocate(2)` ahead of the writes
    /// (see `StagedFileWriter`). Default `true`.
    nonisolated(unsafe) package static var preallocates = true

    /// In a durable save, start the device's writeback every 32 MiB
    /// written (`sync_file_range(2)`, see `StagedFileWriter`), so that the
    /// final `fsync` overlaps the writes instead of following them.
    /// Default `true`.
    nonisolated(unsafe) public static var startsWritebackEarly = true

    /// The bytes between two writeback starts (see ``startsWritebackEarly``).
    /// Default 32 MiB.
    nonisolated(unsafe) public static var writebackStepBytes = 32 << 20

    /// Keep the replaced file open across the `rename(2)` of a save and
    /// close it on a background queue, so that freeing its pages and blocks
    /// is not on the save's path (see `AtomicFile.commit()`). Default `true`.
    nonisolated(unsafe) package static var releasesReplacedFileInBackground = true

    /// Let an uncompressed array's `append` return once its bytes are
    /// written when a tensor's storage or a Swift array keeps them alive and
    /// unchanged: the checksum thread computes its chunk checksums while the
    /// next arrays are written, and the writer collects them before the
    /// header (`BrineWriter.writeDirect`). `false`: every append waits for
    /// its own checksums. Default `true`.
    nonisolated(unsafe) package static var defersChecksums = true

    /// Fault injection for tests: while `true`, writers' checksum threads
    /// fail to start, as when `pthread_create` refuses (`EAGAIN`), so each
    /// writer checksums on its own thread. Default `false`. Atomic: writers
    /// of other tests may read it meanwhile.
    package static let failsChecksumThreadStart = Atomic<Bool>(false)

    /// Uncompressed arrays of one write group whose checksums are not
    /// deferred (``defersChecksums``: raw bytes passed to `append(bytes:…)`)
    /// are checksummed on another thread while they are written from this
    /// many bytes up (below it,
    /// waking a worker costs more than it saves: a 32 MiB model of 200
    /// arrays saved in 8.5 ms with a 256 KiB threshold, 7.9 ms without
    /// overlap; MiniLM saved in 13.7, 13.6, 13.7 and 13.0 ms at 128 KiB,
    /// 256 KiB, 512 KiB and 1 MiB). Default 1 MiB.
    nonisolated(unsafe) package static var overlapMinimumBytes = 1 << 20

    /// Waits until every replaced file handed to the background queue is
    /// closed (benchmarks call it, untimed, between runs so that one run's
    /// release is not timed in the next).
    package static func waitForBackgroundReleases() {
        ReplacedFileRelease.queue.sync {}
    }

    /// `fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, length)` (the call the
    /// writer makes), for the baseline rows of `Benchmarks io`.
    /// - Returns: 0, or the `errno`.
    package static func preallocate(fileDescriptor fd: CInt, offset: Int, length: Int) -> CInt {
        switch Syscall.preallocateKeepingSize(FileDescriptor(rawValue: fd), offset: offset, length: length) {
        case .success: return 0
        case .failure(let e): return e.rawValue
        }
    }
}

/// The allocation strategy of loaded arrays, switchable so that `Benchmarks`
/// can time alternatives in one process (A/B). Not part of the public API.
package enum MemoryTuning {
    /// Arrays of at least this many bytes get their own 2 MiB-aligned
    /// anonymous mapping advised `MADV_HUGEPAGE` (see `TensorStorage`);
    /// smaller ones come from `malloc`. Default 4 MiB.
    nonisolated(unsafe) package static var hugeAllocationThreshold = 4 << 20

    /// Pack the small arrays of one load into one huge-page mapping (see
    /// `BrineFile.allocateStorages`). Default `true`.
    nonisolated(unsafe) package static var packsSmallArrays = true
}
