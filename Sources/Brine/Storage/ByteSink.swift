import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A destination for the bytes of a Brine file written in one sequential
/// pass: memory, a pipe, a socket, a file descriptor, a hasher, a database
/// blob being built…
///
/// The Brine format is single-pass (docs/FORMAT.md, "Overview"): a writer
/// never seeks back, so ``BrineWriter/init(sink:options:)`` hands the file
/// to the sink in order, from the preamble to the trailer, in pieces of any
/// size. A sink need not be seekable. Unlike a save to a URL, nothing is
/// atomic: a writer that fails leaves the bytes written so far in the sink
/// (a reader rejects them: they lack the trailer).
public protocol BrineByteSink: AnyObject {
    /// Takes the next `bytes` of the file (valid during the call only).
    /// - Throws: ``BrineError`` (typically `.io`); the writer then fails.
    func write(_ bytes: UnsafeRawBufferPointer) throws(BrineError)
}

/// A sink that collects the file in memory (``Brine/encode(_:options:)``).
public final class BrineMemorySink: BrineByteSink {
    /// The bytes written so far.
    public private(set) var data = Data()

    /// An empty sink.
    /// - Parameter capacity: bytes to reserve up front (a size estimate).
    public init(capacity: Int = 0) {
        if capacity > 0 { data.reserveCapacity(capacity) }
    }

    /// Appends `bytes` to ``data``.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(BrineError) {
        data.append(contentsOf: bytes)
    }
}

/// A sink that writes to an open file descriptor with `write(2)`: a pipe, a
/// socket, a terminal, or a file at its current position. The descriptor is
/// borrowed: the sink never closes it.
public final class BrineFileDescriptorSink: BrineByteSink {
    /// The descriptor written to.
    public let fileDescriptor: CInt

    /// A sink writing to `fileDescriptor` (which stays open and owned by the caller).
    public init(fileDescriptor: CInt) {
        self.fileDescriptor = fileDescriptor
    }

    /// Writes all of `bytes`, looping over short writes and `EINTR`; a
    /// non-blocking descriptor that would block is waited for with `poll(2)`.
    /// `SIGPIPE` is blocked on the calling thread during the write, so a
    /// reader that went away is an error, not the end of the process.
    /// - Throws: ``BrineError`` `.io` with the `errno` of `write(2)` (`EPIPE`
    ///   when the reading end of a pipe or socket is closed).
    public func write(_ bytes: UnsafeRawBufferPointer) throws(BrineError) {
        #if canImport(Glibc)
        // Block SIGPIPE for this thread; on EPIPE, take the signal we caused
        // off the pending set before restoring the mask (unless one was
        // already pending), so that it is never delivered.
        var pipeSet = sigset_t()
        sigemptyset(&pipeSet)
        sigaddset(&pipeSet, SIGPIPE)
        var pendingBefore = sigset_t()
        sigpending(&pendingBefore)
        let wasPending = sigismember(&pendingBefore, SIGPIPE) == 1
        var oldMask = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSet, &oldMask)
        defer {
            if !wasPending {
                var now = sigset_t()
                sigpending(&now)
                if sigismember(&now, SIGPIPE) == 1 {
                    var zero = timespec(tv_sec: 0, tv_nsec: 0)
                    _ = sigtimedwait(&pipeSet, nil, &zero)
                }
            }
            pthread_sigmask(SIG_SETMASK, &oldMask, nil)
        }
        #endif
        var done = 0
        while done < bytes.count {
            let n = systemWrite(fileDescriptor, bytes.baseAddress! + done, bytes.count - done)
            if n > 0 {
                done += n
                continue
            }
            let e = errno
            if n < 0 && e == EINTR { continue }
            if n < 0 && (e == EAGAIN || e == EWOULDBLOCK) {
                var p = pollfd(fd: fileDescriptor, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, -1)
                continue
            }
            throw BrineError.system("write to file descriptor \(fileDescriptor)", errno: n == 0 ? EIO : e, path: nil)
        }
    }
}

@inline(__always) private func systemWrite(_ fd: CInt, _ buf: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buf, n)
    #else
    return Darwin.write(fd, buf, n)
    #endif
}
