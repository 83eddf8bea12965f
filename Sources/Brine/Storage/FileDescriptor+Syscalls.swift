import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// What swift-system's FileDescriptor lacks (fsync, fstat, full-length
// positional I/O), as a small extension over the C library, in the manner of
// swift-nio's `FileDescriptor+Syscalls.swift`. Internals return
// `Result<_, Errno>` and retry on EINTR; callers convert to `BrineError`.

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

    /// The file's size in bytes, from `fstat(2)`.
    func fileSize() -> Result<Int64, Errno> {
        var size: Int64 = 0
        return retryingOnInterrupt({ system_fstatSize(rawValue, &size) }, failed: { $0 != 0 }).map { _ in size }
    }

    /// Reads exactly `buffer.count` bytes at `offset` with `pread(2)`,
    /// looping over short reads.
    /// - Returns: the number of bytes read; less than `buffer.count` only at end of file.
    func preadFully(_ buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> Result<Int, Errno> {
        var done = 0
        while done < buffer.count {
            let n = retryingOnInterrupt(
                { system_pread(rawValue, buffer.baseAddress! + done, buffer.count - done, off_t(offset + Int64(done))) },
                failed: { $0 < 0 })
            switch n {
            case .failure(let e): return .failure(e)
            case .success(0): return .success(done)
            case .success(let k): done += k
            }
        }
        return .success(done)
    }

    /// Writes all of `buffer` at `offset` with `pwrite(2)`, looping over short writes.
    func pwriteFully(_ buffer: UnsafeRawBufferPointer, at offset: Int64) -> Result<Void, Errno> {
        var done = 0
        while done < buffer.count {
            let n = retryingOnInterrupt(
                { system_pwrite(rawValue, buffer.baseAddress! + done, buffer.count - done, off_t(offset + Int64(done))) },
                failed: { $0 < 0 })
            switch n {
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
            fd = try FileDescriptor.open(path, .readOnly, options: [.directory])
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

private func system_fstatSize(_ fd: CInt, _ size: inout Int64) -> CInt {
    var st = stat()
    let r = fstat(fd, &st)
    size = Int64(st.st_size)
    return r
}
@inline(__always) private func system_fsync(_ fd: CInt) -> CInt { fsync(fd) }
@inline(__always) private func system_pread(_ fd: CInt, _ buf: UnsafeMutableRawPointer, _ n: Int, _ off: off_t) -> Int {
    pread(fd, buf, n, off)
}
@inline(__always) private func system_pwrite(_ fd: CInt, _ buf: UnsafeRawPointer, _ n: Int, _ off: off_t) -> Int {
    pwrite(fd, buf, n, off)
}

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
