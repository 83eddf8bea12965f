import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The file a save replaces, held open across the `rename(2)` and closed off
/// the caller's path.
///
/// When a rename replaces a file whose last link it was, and nothing has the
/// file open, the kernel frees it inside `rename(2)`: it drops its pages
/// from the page cache and frees its blocks (for an 87 MB file on ext4 a
/// good part of an overwriting save). With the old file open, that work
/// waits for the last `close(2)`, which ``ReplacedFileRelease/release(_:)``
/// does on a background queue. Nothing about the new file changes: the
/// rename, its atomicity and the `fsync`s are the same.
enum ReplacedFileRelease {
    /// Closes held files one at a time, in order.
    static let queue = DispatchQueue(label: "brine.replaced-file-release", qos: .utility)

    /// Held files not yet closed; above ``limit`` the caller closes its own,
    /// so that a loop saving faster than the queue closes cannot pile up
    /// descriptors (or disk space of replaced files).
    private static let pending = Mutex(0)
    static let limit = 8

    /// Opens `path` read-only if it is a regular file (never blocking on a
    /// FIFO, never becoming a controlling terminal); `nil` otherwise or when
    /// it cannot be opened (then the rename frees it as before).
    static func hold(_ path: String) -> CInt? {
        guard WriteTuning.releasesReplacedFileInBackground else { return nil }
        // Never open anything but a regular file (opening a device can have effects).
        var before = stat()
        guard stat(path, &before) == 0, (before.st_mode & S_IFMT) == S_IFREG else { return nil }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { return nil }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Closes `fd` (from ``hold(_:)``) on the background queue, or right
    /// here when ``limit`` closes are already waiting.
    static func release(_ fd: CInt) {
        let queued = pending.withLock { n -> Bool in
            guard n < limit else { return false }
            n += 1
            return true
        }
        guard queued else {
            close(fd)
            return
        }
        queue.async {
            close(fd)
            pending.withLock { $0 -= 1 }
        }
    }
}
