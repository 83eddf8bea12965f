/// What the Brine, safetensors and `.npz` readers have in common: named
/// arrays read one at a time or all at once, each verified as that reader's
/// loads are (Brine chunk checksums, `.npz` CRCs; safetensors has none). Code
/// that takes any of the three formats (a converter, an inspector) works on
/// `any TensorReader` instead of switching on the format.
public protocol TensorReader: AnyObject, Sendable {
    /// The array names in file order (Brine array paths, safetensors tensor
    /// names, `.npz` member names without `.npy`).
    var tensorNames: [String] { get }

    /// Loads one array by name.
    /// - Throws: ``BrineError`` `.notFound` for an unknown name, or the
    ///   reader's errors for damaged data.
    func tensor(_ name: String) throws(BrineError) -> AnyTensor

    /// Loads every array with its name, in file order.
    /// - Throws: ``BrineError`` as ``tensor(_:)``.
    func loadAllNamed() throws(BrineError) -> [(name: String, tensor: AnyTensor)]
}

extension TensorReader {
    /// Loads one array as a typed tensor.
    /// - Throws: ``BrineError`` as ``tensor(_:)``, `.dtypeMismatch` when the
    ///   array's dtype is not `S`'s.
    public func tensor<S: BrineScalar>(_ name: String, as: S.Type = S.self) throws(BrineError) -> Tensor<S> {
        try tensor(name).typed(as: S.self)
    }
}

extension BrineFile: TensorReader {
    /// The array paths (``arrayPaths``).
    public var tensorNames: [String] { arrayPaths }

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

    /// ``loadAll()``.
    public func loadAllNamed() throws(BrineError) -> [(name: String, tensor: AnyTensor)] { try loadAll() }
}

extension NpzFile: TensorReader {
    /// The array names (``names``).
    public var tensorNames: [String] { names }

    /// ``loadAll()``.
    public func loadAllNamed() throws(BrineError) -> [(name: String, tensor: AnyTensor)] { try loadAll() }
}
