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
    /// aligned as the file says when it views a mapping.
    public let baseAddress: UnsafeMutableRawPointer
    /// The number of bytes.
    public let byteCount: Int
    /// `false` for views into read-only mappings: writing would fault.
    public let isWritable: Bool
    /// The mapping (or other object) that must stay alive while the view
    /// exists; `nil` when Brine owns the memory.
    public let owner: AnyObject?
    private let ownsMemory: Bool

    /// The alignment of memory Brine allocates, in bytes.
    public static let allocationAlignment = 64

    /// Allocates `byteCount` bytes, 64-byte aligned, zero-filled.
    /// - Parameter byteCount: the size in bytes (≥ 0).
    public init(zeroedByteCount byteCount: Int) {
        precondition(byteCount >= 0, "negative byte count")
        let p = UnsafeMutableRawPointer.allocate(
            byteCount: Swift.max(byteCount, 1), alignment: TensorStorage.allocationAlignment)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: Swift.max(byteCount, 1))
        self.baseAddress = p
        self.byteCount = byteCount
        self.isWritable = true
        self.owner = nil
        self.ownsMemory = true
    }

    /// Allocates `byteCount` bytes, 64-byte aligned, without initializing them.
    /// The caller must fill every byte before the storage is read.
    /// - Parameter byteCount: the size in bytes (≥ 0).
    public init(uninitializedByteCount byteCount: Int) {
        precondition(byteCount >= 0, "negative byte count")
        let p = UnsafeMutableRawPointer.allocate(
            byteCount: Swift.max(byteCount, 1), alignment: TensorStorage.allocationAlignment)
        self.baseAddress = p
        self.byteCount = byteCount
        self.isWritable = true
        self.owner = nil
        self.ownsMemory = true
    }

    /// Copies `bytes` into new owned storage.
    public convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(uninitializedByteCount: bytes.count)
        if let src = bytes.baseAddress, bytes.count > 0 {
            baseAddress.copyMemory(from: src, byteCount: bytes.count)
        }
    }

    /// A view of `byteCount` bytes at `baseAddress` that keeps `owner` alive.
    /// - Parameters:
    ///   - baseAddress: the first byte, inside memory `owner` keeps valid.
    ///   - byteCount: the size in bytes.
    ///   - isWritable: whether the memory may be written (a writable mapping).
    ///   - owner: the object (usually a file mapping) that owns the memory.
    public init(viewing baseAddress: UnsafeMutableRawPointer, byteCount: Int, isWritable: Bool, owner: AnyObject) {
        self.baseAddress = baseAddress
        self.byteCount = byteCount
        self.isWritable = isWritable
        self.owner = owner
        self.ownsMemory = false
    }

    /// `true` when this storage views memory owned by another object (a mapping).
    public var isView: Bool { !ownsMemory }

    /// The bytes, read-only.
    @inlinable
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: baseAddress, count: byteCount)
    }

    /// A new owned, writable copy of these bytes.
    public func copy() -> TensorStorage {
        TensorStorage(copying: bytes)
    }

    deinit {
        if ownsMemory { baseAddress.deallocate() }
    }
}
