import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// FileDescriptor calls as `Result<_, Errno>` (what swift-system lacks,
// `fsync`, over the C library; full-length positional I/O and the size over
// swift-system's own calls), in the manner of swift-nio's
// `FileDescriptor+Syscalls.swift`. They retry on EINTR; callers convert
// failures to `BrineError` with `orThrow(_:path:)`. The calls that are not
// about one descriptor are in `Syscall`.

@inline(__always)
func retryingOnInterrupt<T>(_ body: () -> T, failed: (T) -> Bool) -> Result<T, Errno> {
    while true {
        let r = body()
        if !failed(r) { return .success(r) }
        let e = errno
        if e == EINTR { continue }
        return .failure(Errno(rawValue: e))
    }
}

extension FileDescriptor {
    /// `fsync(2)`: flushes the file's data and metadata to stable storage.
    func fsync() -> Result<Void, Errno> {
        retryingOnInterrupt({ system_fsync(rawValue) }, failed: { $0 != 0 }).map { _ in () }
    }

    /// The file's status, from `fstat(2)` (swift-system's `stat()`).
    func status() -> Result<CInterop.Stat, Errno> {
        catchingErrno { try stat().rawValue }
    }

    /// A second descriptor of the same open file description, close-on-exec
    /// (`fcntl(F_DUPFD_CLOEXEC)`; swift-system's `duplicate()` is a plain
    /// `dup(2)`, which a child process would inherit along with the file's
    /// locks).
    func duplicateCloseOnExec() -> Result<FileDescriptor, Errno> {
        let d = fcntl(rawValue, F_DUPFD_CLOEXEC, 0)
        return d >= 0 ? .success(FileDescriptor(rawValue: d)) : .failure(Errno(rawValue: errno))
    }

    /// The file's size in bytes, from `fstat(2)` (swift-system's `stat()`).
    func fileSize() -> Result<Int64, Errno> {
        catchingErrno { try stat().size }
    }

    /// Reads exactly `buffer.count` bytes at `offset` with `pread(2)`
    /// (swift-system's `read(fromAbsoluteOffset:into:)`, retried on EINTR),
    /// looping over short reads.
    /// - Returns: the number of bytes read; less than `buffer.count` only at end of file.
    func preadFully(_ buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> Result<Int, Errno> {
        var done = 0
        while done < buffer.count {
            let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[done...])
            switch catchingErrno({ try read(fromAbsoluteOffset: offset + Int64(done), into: piece) }) {
            case .failure(let e): return .failure(e)
            case .success(0): return .success(done)
            case .success(let k): done += k
            }
        }
        return .success(done)
    }

    /// Writes all of `first` then all of `second` at `offset`, as one
    /// `pwritev(2)` while any of `first` is left (so the kernel sees one
    /// write spanning both), retried on EINTR, looping over short writes.
    func pwritevFully(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, at offset: Int64) -> Result<Void, Errno> {
        var done = 0
        while done < first.count {
            guard let a = first.baseAddress else { break }
            var iov = [iovec(iov_base: UnsafeMutableRawPointer(mutating: a + done), iov_len: first.count - done),
                       iovec(iov_base: UnsafeMutableRawPointer(mutating: second.baseAddress), iov_len: second.count)]
            let n = iov.withUnsafeMutableBufferPointer { v in
                pwritev(rawValue, v.baseAddress, second.isEmpty ? 1 : 2, off_t(offset) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(Errno(rawValue: errno))
            }
            guard n > 0 else { return .failure(.ioError) }  // no progress on a regular file: never loop
            done += n
        }
        let rest = Swift.max(0, done - first.count)
        guard rest < second.count else { return .success(()) }
        return pwriteFully(UnsafeRawBufferPointer(rebasing: second[rest...]), at: offset + Int64(first.count + rest))
    }

    /// Writes all of `buffer` at `offset` with `pwrite(2)` (swift-system's
    /// `write(toAbsoluteOffset:_:)`, retried on EINTR), looping over short writes.
    func pwriteFully(_ buffer: UnsafeRawBufferPointer, at offset: Int64) -> Result<Void, Errno> {
        var done = 0
        while done < buffer.count {
            let piece = UnsafeRawBufferPointer(rebasing: buffer[done...])
            switch catchingErrno({ try write(toAbsoluteOffset: offset + Int64(done), piece) }) {
            case .failure(let e): return .failure(e)
            case .success(let k): done += k
            }
        }
        return .success(())
    }

    /// Opens a folder read-only and `fsync(2)`s it, so that a rename inside it
    /// is durable. Errors of file systems that cannot sync folders (`EINVAL`)
    /// are ignored.
    static func fsyncDirectory(_ path: FilePath) -> Result<Void, Errno> {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, .readOnly, options: [.directory, .closeOnExec])
        } catch let e as Errno {
            return .failure(e)
        } catch {
            return .failure(.ioError)
        }
        defer { try? fd.close() }
        switch fd.fsync() {
        case .success: return .success(())
        case .failure(let e) where e == .invalidArgument: return .success(())
        case .failure(let e): return .failure(e)
        }
    }
}

/// Runs a swift-system call that throws `Errno` and returns its result.
@inline(__always)
private func catchingErrno<T>(_ body: () throws -> T) -> Result<T, Errno> {
    do {
        return .success(try body())
    } catch let e as Errno {
        return .failure(e)
    } catch {
        return .failure(.ioError)
    }
}
@inline(__always) private func system_fsync(_ fd: CInt) -> CInt { fsync(fd) }

extension Errno {
    /// The `errno` value as `Int32`.
    var code: Int32 { rawValue }
}

extension Result where Failure == Errno {
    /// Converts to a thrown ``BrineError`` describing `what`.
    func orThrow(_ what: @autoclosure () -> String, path: String?) throws(BrineError) -> Success {
        switch self {
        case .success(let v): return v
        case .failure(let e): throw BrineError.system(what(), errno: e.code, path: path)
        }
    }
}
