/// What the Brine, safetensors and `.npz` readers have in common: named
/// arrays read one at a time or all at once, each verified as that reader's
/// loads are (Brine chunk checksums, `.npz` CRCs; safetensors has none), and
/// a check of the whole file that reports every failure. Code that takes any
/// of the three formats (a converter, an inspector, `brine verify`) works on
/// `any TensorReader` instead of switching on the format.
public protocol TensorReader: AnyObject, Sendable {
    /// The file's path, as errors name it (`"<memory>"` for bytes read from memory).
    var path: String { get }

    /// The file's size in bytes (for bytes read from memory, their count).
    var fileSize: Int { get }

    /// The array names in file order (Brine array paths, safetensors tensor
    /// names, `.npz` member names without `.npy`).
    var tensorNames: [String] { get }

    /// The bytes each array's data takes in the file, in ``tensorNames``
    /// order: a Brine array's chunks as stored (compressed or not), a
    /// safetensors tensor's data, a `.npz` member as stored in the archive
    /// (deflated or not, its `.npy` header included).
    var storedByteCounts: [Int] { get }

    /// Loads one array by name.
    /// - Returns: the array in C order, little-endian, with its dtype and
    ///   shape (elements per dimension).
    /// - Throws: ``BrineError`` `.notFound` or `.arrayNotFound` for an
    ///   unknown name, or the reader's errors for damaged data.
    func tensor(_ name: String) throws(BrineError) -> AnyTensor

    /// Loads every array with its name, in file order.
    /// - Throws: ``BrineError`` as ``tensor(_:)``.
    func loadAllNamed() throws(BrineError) -> [(name: String, tensor: AnyTensor)]

    /// Reads the whole file and checks it as far as its format allows,
    /// without stopping at the first problem: a Brine file's chunk checksums
    /// (``BrineFile/verify(progress:)``), each `.npz` member's CRC-32; a
    /// safetensors file has no checksums, so each tensor is read (its bounds
    /// were checked on open). Never throws: every failure is returned.
    /// - Parameter progress: called as the check advances with the stored
    ///   bytes (``storedByteCounts``) checked so far and in all.
    /// - Returns: every failure found, empty when the file is intact.
    func verify(progress: ((_ doneBytes: Int, _ totalBytes: Int) -> Void)?) -> [BrineError]
}

extension TensorReader {
    /// Loads one array as a typed tensor.
    /// - Returns: the array with elements of type `S`, in C order.
    /// - Throws: ``BrineError`` as ``tensor(_:)``; `.dtypeMismatch` (with the
    ///   file and array) when the array's dtype is not `S.dtype`.
    public func tensor<S: BrineScalar>(_ name: String, as: S.Type = S.self) throws(BrineError) -> Tensor<S> {
        let t = try tensor(name)
        guard t.dtype == S.dtype else {
            throw BrineError(.dtypeMismatch, "array has dtype \(t.dtype), requested \(S.dtype)", filePath: path, arrayPath: name)
        }
        return try t.typed(as: S.self)
    }

    /// Reads every array with ``tensor(_:)`` in file order, collecting each
    /// failure; progress advances by each array's stored bytes.
    /// - Returns: every failure found, empty when every array loaded.
    public func verify(progress: ((_ doneBytes: Int, _ totalBytes: Int) -> Void)? = nil) -> [BrineError] {
        var failures: [BrineError] = []
        let sizes = storedByteCounts
        let total = sizes.reduce(0, +)
        var done = 0
        for (name, size) in zip(tensorNames, sizes) {
            do throws(BrineError) {
                _ = try tensor(name)
            } catch {
                failures.append(error)
            }
            done += size
            progress?(done, total)
        }
        return failures
    }

    /// Runs `load(i)` for every `i` in `0 ..< count` on up to `threads`
    /// threads (see `parallelFor`).
    /// - Returns: the arrays in index order.
    /// - Throws: the error of the lowest failing index.
    func loadInParallel(count: Int, threads: Int, _ load: (Int) throws(BrineError) -> AnyTensor) throws(BrineError) -> [AnyTensor] {
        var out = [AnyTensor?](repeating: nil, count: count)
        try out.withUnsafeMutableBufferPointer { (buf) throws(BrineError) in
            let box = UncheckedSendable(buf)
            try parallelFor(count: count, threads: threads) { (_, i) throws(BrineError) in
                box.value[i] = try load(i)
            }
        }
        return out.map { $0! }
    }
}

extension BrineFile: TensorReader {
    /// The array paths (``arrayPaths``).
    public var tensorNames: [String] { arrayPaths }

    /// Each array's chunks as stored (``ArrayInfo/storedBytes``).
    public var storedByteCounts: [Int] { arrays.map(\.storedBytes) }

    /// ``anyArray(_:)``.
    public func tensor(_ name: String) throws(BrineError) -> AnyTensor { try anyArray(name) }

    /// ``loadAll()`` with each array's path.
    public func loadAllNamed() throws(BrineError) -> [(name: String, tensor: AnyTensor)] {
        Array(zip(arrayPaths, try loadAll())).map { (name: $0.0, tensor: $0.1) }
    }
}

extension SafetensorsFile: TensorReader {
    /// The tensor names (``names``).
    public var tensorNames: [String] { names }

    /// Each tensor's data bytes (``SafetensorsEntry/byteCount``).
    public var storedByteCounts: [Int] { entries.map(\.byteCount) }

    /// ``loadAll()``.
    public func loadAllNamed() throws(BrineError) -> [(name: String, tensor: AnyTensor)] { try loadAll() }
}

extension NpzFile: TensorReader {
    /// The array names (``names``).
    public var tensorNames: [String] { names }

    /// Each member's bytes as stored in the archive (``NpzMember/compressedSize``).
    public var storedByteCounts: [Int] { members.map(\.compressedSize) }

    /// ``loadAll()``.
    public func loadAllNamed() throws(BrineError) -> [(name: String, tensor: AnyTensor)] { try loadAll() }
}
