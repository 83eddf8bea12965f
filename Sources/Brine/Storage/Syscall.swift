import CBrineKernels
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The system calls Brine makes that swift-system does not wrap (`rename`,
/// `unlink`, `mmap`, `munmap`, `msync`, `madvise`, `fallocate`, the page
/// size; `pread`/`pwrite`, `ftruncate`, `dup` and `fstat` are swift-system's
/// `FileDescriptor` calls, `fsync` is in `FileDescriptor+Syscalls.swift`), as thin functions that
/// retry on `EINTR` where the call can be interrupted and return
/// `Result<_, Errno>`; callers convert failures to ``BrineError`` with
/// `orThrow(_:path:)`. The one place these calls are spelled out, in the
/// manner of swift-nio's `FileDescriptor+Syscalls.swift`.
enum Syscall {
    /// The size of a memory page in bytes (`sysconf(_SC_PAGESIZE)`).
    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// The number of pages of physical memory (`sysconf(_SC_PHYS_PAGES)`).
    static let physicalPages = Int(sysconf(Int32(_SC_PHYS_PAGES)))

    /// `rename(2)`: atomically replaces `destination` with `source`.
    static func rename(_ source: FilePath, to destination: FilePath) -> Result<Void, Errno> {
        retryingOnInterrupt({ system_rename(source.string, destination.string) }, failed: { $0 != 0 }).map { _ in () }
    }

    /// `unlink(2)`: removes a name from the file system.
    static func unlink(_ path: FilePath) -> Result<Void, Errno> {
        retryingOnInterrupt({ system_unlink(path.string) }, failed: { $0 != 0 }).map { _ in () }
    }

    /// `unlink(2)` of a path given as a string.
    static func unlink(_ path: String) -> Result<Void, Errno> { unlink(FilePath(path)) }

    /// `open(2)` of an existing file (no `O_CREAT`, so no mode) with `flags`.
    /// What every `BrineFile` open runs twice (the file, and its journal,
    /// which is almost never there): swift-system's `FileDescriptor.open`
    /// builds a normalized `FilePath` and reports a failure by throwing an
    /// `Errno` boxed as `any Error`, which cost a microsecond or two per open
    /// in `perf` (the 200-array benchmark model opens in about 75 µs).
    /// Callers pass paths checked by ``RegularFile/checkPath(_:)`` (no NUL
    /// byte, which would end the C string early).
    static func openExisting(_ path: String, _ flags: CInt) -> Result<FileDescriptor, Errno> {
        retryingOnInterrupt({ system_open(path, flags) }, failed: { $0 < 0 }).map { FileDescriptor(rawValue: $0) }
    }

    /// `fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, length)`: allocates the
    /// file's blocks for a byte range without changing its length (the C
    /// shim falls back to nothing where the call does not exist).
    static func preallocateKeepingSize(_ fd: FileDescriptor, offset: Int, length: Int) -> Result<Void, Errno> {
        let e = brine_preallocate_keep_size(fd.rawValue, Int64(offset), Int64(length))
        return e == 0 ? .success(()) : .failure(Errno(rawValue: e))
    }

    /// Frees the blocks of a byte range past a file's end (what
    /// ``preallocateKeepingSize(_:offset:length:)`` allocated and the file
    /// did not use), with `fallocate(FALLOC_FL_PUNCH_HOLE)` where supported.
    @discardableResult
    static func releaseBlocks(_ fd: FileDescriptor, past length: Int, byteCount: Int) -> Result<Void, Errno> {
        let e = brine_release_blocks_past(fd.rawValue, Int64(length), Int64(byteCount))
        return e == 0 ? .success(()) : .failure(Errno(rawValue: e))
    }

    /// `mmap(2)` of `byteCount` bytes; `fd` `nil` for an anonymous mapping.
    static func map(
        byteCount: Int, protection: CInt, flags: CInt, fd: FileDescriptor?, offset: Int = 0
    ) -> Result<UnsafeMutableRawPointer, Errno> {
        guard let p = system_mmap(nil, byteCount, protection, flags, fd?.rawValue ?? -1, off_t(offset)), p != MAP_FAILED else {
            return .failure(Errno(rawValue: errno))
        }
        return .success(p)
    }

    /// `munmap(2)` of a range returned by ``map(byteCount:protection:flags:fd:offset:)``
    /// (or part of one, page aligned).
    @discardableResult
    static func unmap(_ address: UnsafeMutableRawPointer, byteCount: Int) -> Result<Void, Errno> {
        system_munmap(address, byteCount) == 0 ? .success(()) : .failure(Errno(rawValue: errno))
    }

    /// `msync(2)` with `MS_SYNC`: writes dirty pages of a shared mapping back.
    static func sync(_ address: UnsafeMutableRawPointer, byteCount: Int) -> Result<Void, Errno> {
        retryingOnInterrupt({ system_msync(address, byteCount, MS_SYNC) }, failed: { $0 != 0 }).map { _ in () }
    }

    /// `madvise(2)`: an access-pattern hint for a page-aligned range.
    @discardableResult
    static func advise(_ address: UnsafeMutableRawPointer, byteCount: Int, _ advice: CInt) -> Result<Void, Errno> {
        system_madvise(address, byteCount, advice) == 0 ? .success(()) : .failure(Errno(rawValue: errno))
    }
}

// File-scope wrappers, so that the C functions are not shadowed by
// `Syscall`'s members of the same name.
@inline(__always) private func system_rename(_ a: String, _ b: String) -> CInt { rename(a, b) }
@inline(__always) private func system_unlink(_ p: String) -> CInt { unlink(p) }
@inline(__always) private func system_open(_ p: String, _ flags: CInt) -> CInt { open(p, flags) }
@inline(__always) private func system_mmap(
    _ a: UnsafeMutableRawPointer?, _ n: Int, _ prot: CInt, _ flags: CInt, _ fd: CInt, _ off: off_t
) -> UnsafeMutableRawPointer? { mmap(a, n, prot, flags, fd, off) }
@inline(__always) private func system_munmap(_ a: UnsafeMutableRawPointer, _ n: Int) -> CInt { munmap(a, n) }
@inline(__always) private func system_msync(_ a: UnsafeMutableRawPointer, _ n: Int, _ f: CInt) -> CInt { msync(a, n, f) }
@inline(__always) private func system_madvise(_ a: UnsafeMutableRawPointer, _ n: Int, _ h: CInt) -> CInt { madvise(a, n, h) }

extension Syscall {
    /// Puts the calling thread under `SCHED_BATCH` (Linux `sched(7)`) for
    /// the rest of its life: the scheduler then never lets a wake-up of this
    /// thread preempt the running one. For a helper thread the writer wakes
    /// for each array or write group (``ChecksumThread``), which otherwise
    /// was put on the writer's core and stopped its writes there while the
    /// other core idled. Does nothing where `SCHED_BATCH` does not exist or
    /// the call is refused (the thread then keeps its policy).
    /// - Returns: whether the policy was set.
    @discardableResult
    static func useBatchScheduling() -> Bool {
        brine_use_batch_scheduling() == 0
    }

    /// Names the calling thread (`pthread_setname_np(3)`; at most 15 bytes,
    /// shown by `ps -T`, `top -H` and /proc/<pid>/task/<tid>/comm). Does
    /// nothing where it is not supported.
    static func nameThread(_ name: String) {
        _ = brine_name_thread(name)
    }
}
