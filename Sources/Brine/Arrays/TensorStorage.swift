#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes behind a ``Tensor`` or ``AnyTensor``: either memory Brine owns
/// (allocated with 64-byte alignment) or a view into a file mapping that this
/// object keeps alive.
///
/// Instances are immutable references; tensors mutate the bytes only after
/// checking that they hold the sole reference (copy on write) and that the
/// storage ``isWritable``.
///
/// `@unchecked Sendable`: the pointer, size and flags never change after
/// init; the pointed-to bytes are written only through a uniquely referenced
/// storage (the same discipline as `Array`'s buffer), or, for a read-write
/// mapping, by the one tensor that owns this view.
public final class TensorStorage: @unchecked Sendable {
    /// The first byte. Aligned to at least 64 bytes when Brine allocated it;
    /// aligned as the file says when it views a mapping. Not public: callers
    /// reach the bytes through ``withUnsafeBytes(_:)`` (or a tensor's
    /// `withUnsafe…` methods), which keep the storage alive for the call.
    @usableFromInline package let baseAddress: UnsafeMutableRawPointer
    /// The number of bytes.
    public let byteCount: Int
    /// `false` for views into read-only mappings: writing would fault.
    public let isWritable: Bool
    /// The mapping (or other object) that must stay alive while the view
    /// exists; `nil` when Brine owns the memory.
    package let owner: AnyObject?
    private let ownsMemory: Bool

    private let mappedBytes: Int

    /// The alignment of memory Brine allocates, in bytes.
    public static let allocationAlignment = 64

    /// Allocations of at least this many bytes come from `mmap(2)`, aligned to
    /// 2 MiB and advised `MADV_HUGEPAGE`, so that filling them takes one page
    /// fault per 2 MiB instead of one per 4 KiB (where transparent huge pages
    /// are enabled); the memory is already zero.
    static var hugeAllocationThreshold: Int { MemoryTuning.hugeAllocationThreshold }
    private static let hugePageBytes = 2 << 20

    /// Allocates `byteCount` bytes, 64-byte aligned, zero-filled.
    /// - Parameter byteCount: the size in bytes (≥ 0).
    public convenience init(zeroedByteCount byteCount: Int) {
        self.init(allocating: byteCount, zeroed: true)
    }

    /// Allocates `byteCount` bytes, 64-byte aligned, without initializing them.
    /// The caller must fill every byte before the storage is read (the
    /// public form is ``init(unsafeUninitializedByteCount:initializingWith:)``).
    /// - Parameter byteCount: the size in bytes (≥ 0).
    package convenience init(uninitializedByteCount byteCount: Int) {
        self.init(allocating: byteCount, zeroed: false)
    }

    /// Allocates `byteCount` bytes, 64-byte aligned: an anonymous mapping
    /// (already zero) for large sizes, else `malloc`-based memory, zeroed
    /// only if `zeroed`.
    private init(allocating byteCount: Int, zeroed: Bool) {
        precondition(byteCount >= 0, "negative byte count")
        if let (p, mapped) = TensorStorage.mapAnonymous(byteCount) {
            self.baseAddress = p
            self.mappedBytes = mapped
        } else {
            let size = Swift.max(byteCount, 1)
            let p = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: TensorStorage.allocationAlignment)
            if zeroed { p.initializeMemory(as: UInt8.self, repeating: 0, count: size) }
            self.baseAddress = p
            self.mappedBytes = 0
        }
        self.byteCount = byteCount
        self.isWritable = true
        self.owner = nil
        self.ownsMemory = true
    }

    /// A 2 MiB-aligned anonymous mapping advised for huge pages, for large
    /// allocations; `nil` for small sizes or when `mmap` fails (the caller
    /// then falls back to `malloc`-based allocation).
    private static func mapAnonymous(_ byteCount: Int, minimum: Int? = nil) -> (UnsafeMutableRawPointer, Int)? {
        guard byteCount >= (minimum ?? hugeAllocationThreshold), byteCount > 0 else { return nil }
        let huge = hugePageBytes
        let size = (byteCount + huge - 1) / huge * huge
        guard case .success(let raw) = Syscall.map(
            byteCount: size + huge, protection: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS, fd: nil
        ) else { return nil }
        let start = Int(bitPattern: raw)
        let aligned = (start + huge - 1) / huge * huge
        if aligned > start { Syscall.unmap(raw, byteCount: aligned - start) }
        let tail = (start + size + huge) - (aligned + size)
        if tail > 0 { Syscall.unmap(UnsafeMutableRawPointer(bitPattern: aligned + size)!, byteCount: tail) }
        let p = UnsafeMutableRawPointer(bitPattern: aligned)!
        #if os(Linux)
        Syscall.advise(p, byteCount: size, MADV_HUGEPAGE)
        #endif
        return (p, size)
    }

    /// Copies `bytes` into new owned storage (with non-temporal stores from
    /// 16 MiB up, see `BulkCopy`: this is the copy a mapped tensor makes on
    /// its first write, and the copy of ``copy()``).
    public convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(uninitializedByteCount: bytes.count)
        if bytes.baseAddress != nil, bytes.count > 0 {
            BulkCopy.copy(bytes, to: baseAddress)
        }
    }

    /// A view of `byteCount` bytes at `baseAddress` that keeps `owner` alive.
    /// - Parameters:
    ///   - baseAddress: the first byte, inside memory `owner` keeps valid.
    ///   - byteCount: the size in bytes.
    ///   - isWritable: whether the memory may be written (a writable mapping).
    ///   - owner: the object (usually a file mapping) that owns the memory.
    init(viewing baseAddress: UnsafeMutableRawPointer, byteCount: Int, isWritable: Bool, owner: AnyObject) {
        self.baseAddress = baseAddress
        self.byteCount = byteCount
        self.isWritable = isWritable
        self.owner = owner
        self.ownsMemory = false
        self.mappedBytes = 0
    }

    /// `true` when this storage views memory owned by another object (a
    /// mapping); `false` for memory Brine allocated for it, alone or packed
    /// with other arrays of the same load (`PackedAllocation`).
    public var isView: Bool { !ownsMemory && !(owner is PackedAllocation) }

    /// `byteCount` bytes at `offset` of `allocation`, owned like an
    /// allocation of its own (writable, not a view); the allocation is
    /// released with the last storage packed in it.
    init(packedIn allocation: PackedAllocation, offset: Int, byteCount: Int) {
        precondition(offset >= 0 && byteCount >= 0 && offset + byteCount <= allocation.byteCount, "packed storage out of bounds")
        self.baseAddress = allocation.baseAddress + offset
        self.byteCount = byteCount
        self.isWritable = true
        self.owner = allocation
        self.ownsMemory = false
        self.mappedBytes = 0
    }

    /// One anonymous mapping (2 MiB-aligned, `MADV_HUGEPAGE`) for several
    /// small arrays of one load: one mapping and a page fault per 2 MiB
    /// instead of one `malloc` (an `mmap` of its own from 128 KiB up, in a
    /// fresh process) and a fault per 4 KiB page for each array.
    final class PackedAllocation {
        let baseAddress: UnsafeMutableRawPointer
        let byteCount: Int
        private let mappedBytes: Int

        /// `nil` when the mapping fails (the caller allocates arrays one by one).
        init?(byteCount: Int) {
            guard let (p, mapped) = TensorStorage.mapAnonymous(byteCount, minimum: 0) else { return nil }
            self.baseAddress = p
            self.byteCount = byteCount
            self.mappedBytes = mapped
        }

        deinit { Syscall.unmap(baseAddress, byteCount: mappedBytes) }
    }

    /// The bytes, read-only; valid only while this storage is alive (the
    /// public form is ``withUnsafeBytes(_:)``).
    @inlinable
    package var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: baseAddress, count: byteCount)
    }

    /// The bytes, writable, for storage this process allocated and fills
    /// (decoding into it); valid only while this storage is alive.
    package var mutableBytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: baseAddress, count: byteCount)
    }

    /// Calls `body` with the bytes, read-only, keeping the storage (and the
    /// mapping it may view) alive for the call. The pointer must not escape
    /// `body`.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws.
    @inlinable
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let r = try body(bytes)
        withExtendedLifetime(self) {}
        return r
    }

    /// Allocates `byteCount` bytes (64-byte aligned) and has `initializer`
    /// fill them, as `Array.init(unsafeUninitializedCapacity:initializingWith:)`
    /// does: the buffer is uninitialized on entry and `initializer` must write
    /// every byte. If it throws, the memory is released and the error rethrown.
    /// - Parameters:
    ///   - byteCount: the size in bytes (≥ 0).
    ///   - initializer: fills the buffer; the pointer must not escape it.
    /// - Throws: what `initializer` throws.
    public convenience init<E: Error>(
        unsafeUninitializedByteCount byteCount: Int,
        initializingWith initializer: (UnsafeMutableRawBufferPointer) throws(E) -> Void
    ) throws(E) {
        self.init(uninitializedByteCount: byteCount)
        try initializer(UnsafeMutableRawBufferPointer(start: baseAddress, count: byteCount))
    }

    /// A new owned, writable copy of these bytes.
    public func copy() -> TensorStorage {
        TensorStorage(copying: bytes)
    }

    deinit {
        guard ownsMemory else { return }
        if mappedBytes > 0 {
            Syscall.unmap(baseAddress, byteCount: mappedBytes)
        } else {
            baseAddress.deallocate()
        }
    }
}
