import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The advisory byte-range locks that coordinate read-write sessions, their
/// flushes and readers of the same Brine file (docs/FORMAT.md, "Read-write
/// sessions and the journal"). They are Linux open-file-description locks
/// (`fcntl(2)` `F_OFD_SETLK`): owned by one `open(2)` of the file (so two
/// handles in one process exclude each other), released when the last
/// descriptor of that open closes or the process dies, and compatible with
/// classic POSIX record locks (Python's `fcntl.lockf`). The ranges lie far
/// past the end of any file, so they never cover data.
enum FileLock {
    /// Write-locked by a read-write session for its whole lifetime.
    static let sessionOffset: Int64 = 0x4000_0000_0000_0000
    /// Read-locked by every open of the file while it may read it;
    /// write-locked by a flush while it writes in place (journal present).
    static let dataOffset: Int64 = 0x4000_0000_0000_0001

    enum Kind { case shared, exclusive, unlock }

    enum Outcome: Equatable {
        /// The lock is held.
        case acquired
        /// Another open of the file holds a conflicting lock.
        case busy
        /// The file system (or kernel) has no such locks; callers go on unlocked.
        case unsupported
    }

    #if os(Linux)
    private static let setLock: CInt = 37  // F_OFD_SETLK (Linux ≥ 3.15)
    #endif

    /// Tries once (non-blocking) to take, convert or release a lock on one byte at `offset`.
    /// - Throws: ``BrineError`` `.io` for unexpected `fcntl` failures.
    static func attempt(_ fd: FileDescriptor, _ kind: Kind, at offset: Int64, path: String?) throws(BrineError) -> Outcome {
        #if os(Linux)
        var fl = flock()
        switch kind {
        case .shared: fl.l_type = Int16(F_RDLCK)
        case .exclusive: fl.l_type = Int16(F_WRLCK)
        case .unlock: fl.l_type = Int16(F_UNLCK)
        }
        fl.l_whence = Int16(SEEK_SET)
        fl.l_start = off_t(offset)
        fl.l_len = 1
        fl.l_pid = 0
        while true {
            if fcntl(fd.rawValue, setLock, &fl) == 0 { return .acquired }
            let e = errno
            switch e {
            case EINTR: continue
            case EAGAIN, EACCES: return .busy
            case EINVAL, ENOLCK, EOPNOTSUPP, ENOSYS: return .unsupported
            case EBADF where kind == .exclusive:
                // A write lock needs a descriptor open for writing.
                throw BrineError(.readOnly, "an exclusive lock needs the file opened for writing", filePath: path, errno: e)
            default: throw BrineError.system("fcntl(F_OFD_SETLK)", errno: e, path: path)
            }
        }
        #else
        return .unsupported
        #endif
    }

    /// Takes a lock, retrying every few milliseconds until `timeout` seconds
    /// have passed (a flush holds the data lock for the time of a few writes
    /// and `fsync`s).
    /// - Returns: `.acquired` or `.unsupported`.
    /// - Throws: ``BrineError`` `.conflict` when the lock stays busy past the timeout; `.io`.
    static func wait(_ fd: FileDescriptor, _ kind: Kind, at offset: Int64, timeout: Double, path: String?, what: String) throws(BrineError) -> Outcome {
        var waited = 0.0
        var pause = 0.001
        while true {
            let r = try attempt(fd, kind, at: offset, path: path)
            if r != .busy { return r }
            if waited >= timeout {
                throw BrineError(.conflict, "\(what): another process held the file's lock for more than \(Int(timeout)) s", filePath: path)
            }
            usleep(useconds_t(pause * 1e6))
            waited += pause
            pause = Swift.min(pause * 2, 0.05)
        }
    }

    /// How long an open waits for a flush in another process to finish, in seconds.
    static let openTimeout = 60.0
}
