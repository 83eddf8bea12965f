/// A dense, C-order (row-major), n-dimensional array of ``BrineScalar``
/// elements: Brine's shaped-array type.
///
/// A tensor is a value type with copy-on-write storage. The storage is either
/// memory Brine owns (64-byte aligned) or a zero-copy view into a file
/// mapping (``isView``), which the tensor keeps alive:
/// - a view into a read-only mapping is copied into owned memory on the first
///   write, so the file never changes;
/// - a view into a copy-on-write mapping (`MAP_PRIVATE`) is written in place,
///   privately;
/// - a view into a read-write session's mapping (private too) is written in
///   place and reaches the file on ``BrineModel/flush()`` or
///   ``BrineFile/flush()``, through a crash-safe journal.
///
/// Shapes may have rank 0 (a scalar, one element) and zero-length dimensions
/// (no elements). Element counts are overflow-checked.
public struct Tensor<Scalar: BrineScalar>: Sendable {
    // `storage` is only mutated through `isKnownUniquelyReferenced` (copy on
    // write), as `Array` does.

    /// The length of each dimension, outermost first.
    public private(set) var shape: [Int]
    /// The bytes; `storage.byteCount == count * MemoryLayout<Scalar>.stride`.
    @inlinable public var storage: TensorStorage { _storage }
    @usableFromInline var _storage: TensorStorage
    /// The number of elements (the product of ``shape``; 1 for rank 0).
    public let count: Int

    /// The dtype of the elements.
    @inlinable public var dtype: DType { Scalar.dtype }
    /// The number of dimensions.
    @inlinable public var rank: Int { shape.count }
    /// The number of bytes of element data.
    @inlinable public var byteCount: Int { storage.byteCount }
    /// `true` when the elements live in a file mapping rather than owned memory.
    @inlinable public var isView: Bool { storage.isView }

    /// Wraps existing storage.
    /// - Throws: ``BrineError`` `.invalidArgument` if the shape is invalid or
    ///   the storage size is not `product(shape) * itemSize` bytes;
    ///   `.valueOutOfRange` when `Scalar` is `Bool` and a byte is neither 0
    ///   nor 1 (a file or another language can hold any byte in a bool
    ///   array; a Swift `Bool` holding another value is undefined behaviour).
    public init(shape: [Int], storage: TensorStorage) throws(BrineError) {
        guard let n = Shape.elementCount(shape) else {
            throw BrineError(.invalidArgument, "invalid shape \(shape): negative dimension or element count overflows")
        }
        let (bytes, o) = n.multipliedReportingOverflow(by: MemoryLayout<Scalar>.stride)
        guard !o, bytes == storage.byteCount else {
            throw BrineError(.invalidArgument, "storage of \(storage.byteCount) bytes does not hold shape \(shape) of \(Scalar.dtype)")
        }
        if Scalar.dtype == .bool, let i = BoolBytes.firstInvalid(storage.bytes) {
            throw BrineError(.valueOutOfRange, "bool array holds byte \(storage.bytes[i]) at element \(i); a Bool is 0 or 1")
        }
        self.shape = shape
        self._storage = storage
        self.count = n
    }

    /// A tensor of the given shape filled with zeros.
    /// - Throws: ``BrineError`` `.invalidArgument` for a negative dimension or an overflowing size.
    public init(zeros shape: [Int]) throws(BrineError) {
        guard let bytes = Shape.byteCount(shape, itemSize: MemoryLayout<Scalar>.stride) else {
            throw BrineError(.invalidArgument, "invalid shape \(shape): negative dimension or byte count overflows")
        }
        try self.init(shape: shape, storage: TensorStorage(zeroedByteCount: bytes))
    }

    /// A tensor of the given shape with every element set to `value`.
    /// - Throws: ``BrineError`` `.invalidArgument` for a negative dimension or an overflowing size.
    public init(shape: [Int], repeating value: Scalar) throws(BrineError) {
        try self.init(zeros: shape)
        let n = count
        storage.baseAddress.bindMemory(to: Scalar.self, capacity: n).initialize(repeating: value, count: n)
    }

    /// A tensor of the given shape holding `scalars` in C order.
    /// - Parameters:
    ///   - shape: the dimensions; their product must equal `scalars.count`.
    ///   - scalars: the elements, row-major.
    /// - Throws: ``BrineError`` `.invalidArgument` when the counts differ.
    public init<C: Collection>(shape: [Int], scalars: C) throws(BrineError) where C.Element == Scalar {
        guard let n = Shape.elementCount(shape), n == scalars.count else {
            throw BrineError(.invalidArgument, "shape \(shape) does not hold \(scalars.count) elements")
        }
        let s = TensorStorage(uninitializedByteCount: n * MemoryLayout<Scalar>.stride)
        let typed = s.baseAddress.bindMemory(to: Scalar.self, capacity: n)
        let done = scalars.withContiguousStorageIfAvailable { buf -> Bool in
            if let b = buf.baseAddress, n > 0 { typed.initialize(from: b, count: n) }
            return true
        }
        if done == nil {
            var i = 0
            for x in scalars { (typed + i).initialize(to: x); i += 1 }
        }
        try self.init(shape: shape, storage: s)
    }

    /// A rank-1 tensor holding `scalars`.
    public init(_ scalars: [Scalar]) {
        // Cannot fail: the shape is exactly the count.
        try! self.init(shape: [scalars.count], scalars: scalars)
    }

    /// A rank-0 tensor holding one value.
    public init(scalar: Scalar) {
        try! self.init(shape: [], scalars: CollectionOfOne(scalar))
    }

    /// The elements in C order, copied into a new array.
    public var scalars: [Scalar] {
        withUnsafeBufferPointer { Array($0) }
    }

    /// The same elements under another shape with the same element count.
    /// Shares storage (no copy).
    /// - Throws: ``BrineError`` `.invalidArgument` when the counts differ.
    public func reshaped(_ newShape: [Int]) throws(BrineError) -> Tensor {
        guard let n = Shape.elementCount(newShape), n == count else {
            throw BrineError(.invalidArgument, "cannot reshape \(shape) to \(newShape)")
        }
        return try Tensor(shape: newShape, storage: storage)
    }

    /// Calls `body` with the elements, read-only, in C order.
    @inlinable
    public func withUnsafeBufferPointer<R, E: Error>(
        _ body: (UnsafeBufferPointer<Scalar>) throws(E) -> R
    ) throws(E) -> R {
        let p = storage.baseAddress.assumingMemoryBound(to: Scalar.self)
        let r = try body(UnsafeBufferPointer(start: p, count: count))
        withExtendedLifetime(storage) {}
        return r
    }

    /// Calls `body` with the raw element bytes, read-only.
    @inlinable
    public func withUnsafeBytes<R, E: Error>(
        _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        let r = try body(storage.bytes)
        withExtendedLifetime(storage) {}
        return r
    }

    /// Calls `body` with the raw element bytes, writable. Copies first when
    /// the storage is shared with another tensor or is a read-only mapping.
    @inlinable
    public mutating func withUnsafeMutableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        makeUniqueAndWritable()
        let r = try body(UnsafeMutableRawBufferPointer(start: storage.baseAddress, count: storage.byteCount))
        withExtendedLifetime(storage) {}
        return r
    }

    /// Makes the storage uniquely referenced and writable, copying if needed.
    @inlinable
    mutating func makeUniqueAndWritable() {
        if !isKnownUniquelyReferenced(&_storage) || !_storage.isWritable {
            _storage = _storage.copy()
        }
    }

    /// Calls `body` with the elements, writable, in C order. Copies first when
    /// the storage is shared with another tensor or is a read-only mapping.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R, E: Error>(
        _ body: (UnsafeMutableBufferPointer<Scalar>) throws(E) -> R
    ) throws(E) -> R {
        makeUniqueAndWritable()
        let p = storage.baseAddress.assumingMemoryBound(to: Scalar.self)
        let r = try body(UnsafeMutableBufferPointer(start: p, count: count))
        withExtendedLifetime(storage) {}
        return r
    }

    /// The element at a flat (C-order) index, `0 ..< count`.
    @inlinable
    public subscript(flat index: Int) -> Scalar {
        get {
            precondition(index >= 0 && index < count, "index out of range")
            return storage.baseAddress.load(fromByteOffset: index * MemoryLayout<Scalar>.stride, as: Scalar.self)
        }
        set {
            precondition(index >= 0 && index < count, "index out of range")
            makeUniqueAndWritable()
            storage.baseAddress.storeBytes(of: newValue, toByteOffset: index * MemoryLayout<Scalar>.stride, as: Scalar.self)
        }
    }

    /// The element at a multi-dimensional index (one index per dimension).
    @inlinable
    public subscript(_ indices: Int...) -> Scalar {
        get { self[flat: flatIndex(indices)] }
        set { self[flat: flatIndex(indices)] = newValue }
    }

    @inlinable
    func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == shape.count, "expected \(shape.count) indices, got \(indices.count)")
        var flat = 0
        for (i, d) in zip(indices, shape) {
            precondition(i >= 0 && i < d, "index \(i) out of range 0..<\(d)")
            flat = flat * d + i
        }
        return flat
    }
}

extension Tensor: Equatable {
    /// Equal shapes and equal elements (by `==` of the scalar type, so NaN ≠ NaN).
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        guard lhs.shape == rhs.shape else { return false }
        return lhs.withUnsafeBufferPointer { a in rhs.withUnsafeBufferPointer { b in a.elementsEqual(b) } }
    }

    /// Equal shapes and identical bytes (NaN payloads and -0.0 distinguished).
    public func bitwiseEqual(_ other: Tensor) -> Bool {
        guard shape == other.shape else { return false }
        return withUnsafeBytes { a in other.withUnsafeBytes { b in a.elementsEqual(b) } }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = withUnsafeBufferPointer { $0.prefix(8).map { "\($0)" }.joined(separator: ", ") }
        return "Tensor<\(Scalar.dtype)>(shape: \(shape), [\(head)\(count > 8 ? ", …" : "")])"
    }
}

/// A ``Tensor`` whose element type is known only at run time: a dtype, a
/// shape and the bytes. Used by the low-level container API, interop
/// (safetensors, NumPy) and conversion, where files hold arrays of any dtype.
public struct AnyTensor: Sendable, Equatable {
    /// The element type.
    public let dtype: DType
    /// The length of each dimension, outermost first (C order).
    public let shape: [Int]
    /// The element bytes, little-endian, `product(shape) * dtype.itemSize` bytes.
    public let storage: TensorStorage

    /// An empty array of `dtype` (shape `[0]`, no bytes) that holds the place
    /// of one still being decoded; shares one storage, so it allocates nothing.
    init(placeholderFor dtype: DType) {
        self.dtype = dtype
        self.shape = AnyTensor.placeholderShape
        self.storage = AnyTensor.placeholderStorage
    }

    private static let placeholderShape = [0]
    private static let placeholderStorage = TensorStorage(zeroedByteCount: 0)

    /// Wraps storage holding an array of the given dtype and shape.
    /// - Throws: ``BrineError`` `.invalidArgument` if the storage size does not match.
    public init(dtype: DType, shape: [Int], storage: TensorStorage) throws(BrineError) {
        guard let bytes = Shape.byteCount(shape, itemSize: dtype.itemSize), bytes == storage.byteCount else {
            throw BrineError(.invalidArgument, "storage of \(storage.byteCount) bytes does not hold shape \(shape) of \(dtype)")
        }
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
    }

    /// Copies raw little-endian bytes into a new array.
    /// - Throws: ``BrineError`` `.invalidArgument` if the byte count does not match.
    public init(dtype: DType, shape: [Int], copying bytes: UnsafeRawBufferPointer) throws(BrineError) {
        try self.init(dtype: dtype, shape: shape, storage: TensorStorage(copying: bytes))
    }

    /// Type-erases a typed tensor (no copy).
    public init<S: BrineScalar>(_ tensor: Tensor<S>) {
        self.dtype = S.dtype
        self.shape = tensor.shape
        self.storage = tensor.storage
    }

    /// The number of elements.
    public var count: Int { Shape.elementCount(shape) ?? 0 }
    /// The number of bytes.
    public var byteCount: Int { storage.byteCount }

    /// Calls `body` with the raw element bytes (C order, little-endian),
    /// read-only, keeping the storage alive for the call.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try storage.withUnsafeBytes(body)
    }

    /// The typed tensor (no copy).
    /// - Throws: ``BrineError`` `.dtypeMismatch` when `S.dtype != dtype`;
    ///   `.valueOutOfRange` for a bool array holding a byte other than 0 or 1.
    public func typed<S: BrineScalar>(as: S.Type = S.self) throws(BrineError) -> Tensor<S> {
        guard S.dtype == dtype else {
            throw BrineError(.dtypeMismatch, "array has dtype \(dtype), requested \(S.dtype)")
        }
        return try Tensor<S>(shape: shape, storage: storage)
    }

    /// Equal dtype, shape and bytes.
    public static func == (lhs: AnyTensor, rhs: AnyTensor) -> Bool {
        lhs.dtype == rhs.dtype && lhs.shape == rhs.shape && lhs.storage.bytes.elementsEqual(rhs.storage.bytes)
    }
}

extension Tensor: Codable where Scalar: Codable {
    private enum CodingKeys: String, CodingKey { case shape, scalars }

    /// Decodes `{"shape": [...], "scalars": [...]}` (the form generic coders
    /// such as `JSONDecoder` see; Brine's own decoder reads tensors out of line).
    /// - Throws: `DecodingError.dataCorrupted` when the counts do not match.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let shape = try c.decode([Int].self, forKey: .shape)
        let scalars = try c.decode([Scalar].self, forKey: .scalars)
        do {
            try self.init(shape: shape, scalars: scalars)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .scalars, in: c, debugDescription: error.description)
        }
    }

    /// Encodes `{"shape": [...], "scalars": [...]}` for generic coders.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(shape, forKey: .shape)
        try c.encode(scalars, forKey: .scalars)
    }
}

/// The check of bool array bytes (NumPy, safetensors and Brine store a bool
/// as one byte, 0 or 1).
enum BoolBytes {
    /// The index of the first byte that is neither 0 nor 1, or `nil`.
    static func firstInvalid(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        // Eight bytes at a time: any bit but each byte's lowest is set.
        while i + 8 <= bytes.count {
            if bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0xFEFE_FEFE_FEFE_FEFE != 0 { break }
            i += 8
        }
        while i < bytes.count {
            if bytes[i] > 1 { return i }
            i += 1
        }
        return nil
    }
}
