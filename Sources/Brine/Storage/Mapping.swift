import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a file is mapped into memory (`mmap(2)`).
enum MappingKind: Sendable, Hashable {
    /// `PROT_READ`, `MAP_SHARED`: views are read-only; writing through a
    /// tensor copies it first.
    case readOnly
    /// `PROT_READ|PROT_WRITE`, `MAP_PRIVATE`: writes stay in this process and
    /// never reach the file.
    case copyOnWrite
    /// `PROT_READ|PROT_WRITE`, `MAP_SHARED`: writes reach the file (after
    /// `msync`). The file must be opened read-write. Used for safetensors
    /// files opened read-write; a Brine read-write session maps its file
    /// `.copyOnWrite` and writes changes through its journal instead
    /// (``BrineFile/flush()``).
    case readWrite
}

/// Access-pattern hints passed to `madvise(2)` for a mapping.
public enum MappingAdvice: Sendable, Hashable {
    /// No hint (the kernel default).
    case normal
    /// `MADV_SEQUENTIAL`: aggressive read-ahead, pages freed behind.
    case sequential
    /// `MADV_WILLNEED`: start reading the whole range now.
    case willNeed
    /// `MADV_RANDOM`: no read-ahead.
    case random
}

/// Owns one `mmap(2)` of a whole file; `deinit` unmaps it. Tensors that view
/// the mapping hold a reference, so the memory stays valid while any view exists.
///
/// `@unchecked Sendable`: the address, length and kind never change after
/// init; the mapped bytes themselves are read concurrently (safe) or written
/// by the owner of a read-write view, which is the user's responsibility as
/// with any shared-memory region.
final class Mapping: @unchecked Sendable {
    /// The first mapped byte (page aligned); `nil` for an empty file, which
    /// cannot be mapped.
    let baseAddress: UnsafeMutableRawPointer?
    /// The mapped length in bytes (the file size at mapping time).
    let byteCount: Int
    /// The protection and sharing of the mapping.
    let kind: MappingKind
    /// The descriptor the mapping keeps open (and closes in `deinit`) so that
    /// the file's advisory locks live exactly as long as the mapping and the
    /// views of it (see `FileLock`); `nil` when the caller closed it.
    let descriptor: FileDescriptor?

    /// Maps `byteCount` bytes of an open file from offset 0.
    /// - Parameters:
    ///   - fd: a descriptor opened read-only (for `.readOnly`, `.copyOnWrite`) or read-write (`.readWrite`).
    ///   - byteCount: the file size in bytes.
    ///   - kind: protection and sharing.
    ///   - path: the file path, for error messages.
    ///   - retaining: keep `fd` open until the mapping is unmapped (it then
    ///     closes it, also when this init throws).
    /// - Throws: ``BrineError`` `.io` with the `errno` of `mmap(2)`.
    init(fd: FileDescriptor, byteCount: Int, kind: MappingKind, path: String?, retaining: Bool = false) throws(BrineError) {
        self.byteCount = byteCount
        self.kind = kind
        self.descriptor = retaining ? fd : nil
        guard byteCount > 0 else {
            self.baseAddress = nil
            return
        }
        let prot: CInt
        let flags: CInt
        switch kind {
        case .readOnly: prot = PROT_READ; flags = MAP_SHARED
        case .copyOnWrite: prot = PROT_READ | PROT_WRITE; flags = MAP_PRIVATE
        case .readWrite: prot = PROT_READ | PROT_WRITE; flags = MAP_SHARED
        }
        switch Syscall.map(byteCount: byteCount, protection: prot, flags: flags, fd: fd) {
        case .success(let p):
            self.baseAddress = p
        case .failure(let e):
            if retaining { try? fd.close() }
            throw BrineError.system("mmap", errno: e.code, path: path)
        }
    }

    /// The mapped bytes, read-only.
    var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: baseAddress, count: byteCount)
    }

    /// Gives the kernel an access-pattern hint for a byte range (`madvise(2)`).
    /// Failures are ignored: a hint is never required for correctness.
    /// - Parameters:
    ///   - advice: the hint.
    ///   - offset: the first byte of the range (rounded down to a page).
    ///   - length: the range length in bytes.
    func advise(_ advice: MappingAdvice, offset: Int = 0, length: Int? = nil) {
        guard let base = baseAddress else { return }
        let page = Syscall.pageSize
        let start = (offset / page) * page
        let end = Swift.min(byteCount, offset + (length ?? (byteCount - offset)))
        guard end > start else { return }
        let a: CInt
        switch advice {
        case .normal: a = MADV_NORMAL
        case .sequential: a = MADV_SEQUENTIAL
        case .willNeed: a = MADV_WILLNEED
        case .random: a = MADV_RANDOM
        }
        Syscall.advise(base + start, byteCount: end - start, a)
    }

    /// Writes dirty pages of a byte range back to the file (`msync(2)` with
    /// `MS_SYNC`). Only meaningful for `.readWrite` mappings.
    /// - Throws: ``BrineError`` `.io` with the `errno` of `msync(2)`.
    func sync(offset: Int = 0, length: Int? = nil, path: String?) throws(BrineError) {
        guard let base = baseAddress, kind == .readWrite else { return }
        let page = Syscall.pageSize
        let start = (offset / page) * page
        let end = Swift.min(byteCount, offset + (length ?? (byteCount - offset)))
        guard end > start else { return }
        try Syscall.sync(base + start, byteCount: end - start).orThrow("msync", path: path)
    }

    deinit {
        if let baseAddress { Syscall.unmap(baseAddress, byteCount: byteCount) }
        try? descriptor?.close()
    }
}
