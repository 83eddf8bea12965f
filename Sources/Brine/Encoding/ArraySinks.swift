/// One out-of-line array as the decoder sees it.
enum ArraySlot {
    /// An array loaded from a file (or taken from a ``Weights`` collection).
    case tensor(AnyTensor)
    /// The value a model held when it was encoded (kept, not copied: a Swift
    /// array, `ContiguousArray` or `Data`), and how to make a tensor of it if
    /// a different type asks for it. Used when weights are loaded into a model
    /// and this array is not replaced.
    case original(Any, makeTensor: () -> AnyTensor)

    /// What keeps the array's bytes alive and unchanged after the encoder's
    /// call returns (a tensor's storage, a Swift array), so that a writer may
    /// checksum them later; `nil` for other values (`Data`, nested arrays).
    /// The writer still checks that the bytes it was given lie inside it.
    var immutableOwner: (any ImmutableBytes)? {
        switch self {
        case .tensor(let t): return t.storage
        case .original(let value, _): return (value as? any ImmutableBytesProviding)?.retainedForChecksums()
        }
    }
}

/// A value whose bytes can be kept alive and unchanged by an object
/// (``ImmutableBytes``): Swift arrays (copy on write).
protocol ImmutableBytesProviding {
    func retainedForChecksums() -> any ImmutableBytes
}

extension Array: ImmutableBytesProviding {
    func retainedForChecksums() -> any ImmutableBytes { RetainedArray(self) }
}

/// Where the encoder puts arrays that are at least the inline threshold.
protocol ArraySink: AnyObject {
    /// Paths already taken (so the encoder's paths stay unique).
    var takenPaths: [String] { get }

    /// Stores an array; `bytes` are read during the call only.
    /// - Returns: the array's index, used as the tree's `arrayRef`; negative when the
    ///   sink dropped the array (a weights filter), distinct per dropped array.
    func append(
        _ bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int], path: String, original: () -> ArraySlot
    ) throws -> Int

    /// Gives arrays their final names (by index; the others keep the path
    /// they were appended with) and records alias paths of shared arrays.
    func finishNames(_ renames: [Int: String], aliases: [(path: String, legacyPath: String, index: Int)]) throws
}

extension ArraySink {
    /// Default: names stay as appended (format 1.0 names), aliases are dropped
    /// (each alias still refers to its array in the tree).
    func finishNames(_ renames: [Int: String], aliases: [(path: String, legacyPath: String, index: Int)]) throws {}
}

/// A sink that decides itself which arrays go out of line (a read-write
/// session's flush keeps each array where the file has it).
protocol ArrayPlacement {
    /// `true`: out of line; `false`: inline; `nil`: by the inline threshold.
    /// `path` is the coding path's array path before it is made unique.
    func outOfLine(path: String, byteCount: Int) -> Bool?
}

/// Streams arrays into a ``BrineWriter`` as the encoder meets them: the
/// caller's buffer goes to the writer as is (no copy).
final class WriterSink: ArraySink {
    let writer: BrineWriter
    init(_ writer: BrineWriter) { self.writer = writer }

    var takenPaths: [String] { writer.arrays.map(\.path) }

    func append(
        _ bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int], path: String, original: () -> ArraySlot
    ) throws -> Int {
        try writer.append(bytes: bytes, dtype: dtype, shape: shape, arrayPath: path, options: nil, owner: original().immutableOwner)
    }

    func finishNames(_ renames: [Int: String], aliases: [(path: String, legacyPath: String, index: Int)]) throws {
        try writer.renameArrays(renames)
        try writer.addAliases(aliases.map { ($0.path, $0.index) })
    }
}

/// Records every array (path, dtype, shape) with a reference to the value
/// that holds it, without copying: used to list a model's weights and to
/// load weights into a model.
final class CollectingSink: ArraySink {
    struct Entry {
        /// The final name (docs/FORMAT.md, "Array names").
        var path: String
        /// The name format 1.0 gave this array (escaped keys), to match 1.0 files.
        var legacyPath: String
        var dtype: DType
        var shape: [Int]
        var slot: ArraySlot
    }

    private(set) var entries: [Entry] = []
    /// Alias paths of shared arrays (tied weights) and the entry each names.
    private(set) var aliases: [(path: String, legacyPath: String, index: Int)] = []

    var takenPaths: [String] { [] }

    func append(
        _ bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int], path: String, original: () -> ArraySlot
    ) throws -> Int {
        entries.append(Entry(path: path, legacyPath: path, dtype: dtype, shape: shape, slot: original()))
        return entries.count - 1
    }

    func finishNames(_ renames: [Int: String], aliases: [(path: String, legacyPath: String, index: Int)]) throws {
        for (i, name) in renames { entries[i].path = name }
        self.aliases = aliases
    }
}

extension AnyTensor {
    /// A new tensor holding a copy of a Swift array's elements (rank 1).
    static func copying<E: BrineArrayElement>(_ elements: some ContiguousBytesSequence<E>) -> AnyTensor {
        elements.withUnsafeElementBytes { b in
            // Cannot fail: the shape is the element count of these bytes.
            try! AnyTensor(dtype: E.arrayDType, shape: [b.count / MemoryLayout<E>.stride], copying: b)
        }
    }
}

/// `Array` and `ContiguousArray` (whose elements are contiguous), seen as bytes.
protocol ContiguousBytesSequence<Element> {
    associatedtype Element
    func withUnsafeElementBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: ContiguousBytesSequence {
    func withUnsafeElementBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { try body(UnsafeRawBufferPointer($0)) }
    }
}

extension ContiguousArray: ContiguousBytesSequence {
    func withUnsafeElementBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { try body(UnsafeRawBufferPointer($0)) }
    }
}
