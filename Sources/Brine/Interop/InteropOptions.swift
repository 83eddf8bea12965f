/// Options for reading NumPy `.npy`/`.npz` and safetensors files.
///
/// Every file is treated as hostile: each field is checked against the file
/// size and these caps before anything sized by it is allocated or read.
public struct InteropReadOptions: Sendable, Hashable {
    /// Caps shared with Brine files: ``ReadLimits/maxRank`` (default 64, as
    /// NumPy), ``ReadLimits/maxArrays`` (tensors per file or members per
    /// `.npz`) and ``ReadLimits/maxAllocationBytes`` (the decoded size of one
    /// `.npz` member). A field over a cap gives `.limitExceeded`.
    public var limits: ReadLimits = ReadLimits()
    /// The largest safetensors JSON header, in bytes. Default 100,000,000, the
    /// reference implementation's `MAX_HEADER_SIZE`.
    public var maxSafetensorsHeaderBytes: Int = Safetensors.maxHeaderBytes
    /// The largest `.npy` header (the dict literal), in bytes. Default 10,000,
    /// NumPy's `max_header_size` default for untrusted files.
    public var maxNpyHeaderBytes: Int = Npy.defaultMaxHeaderBytes
    /// Check the CRC-32 of every `.npz` member against the zip directory
    /// (default `true`); a mismatch is `.checksumMismatch`.
    public var verifyZipChecksums: Bool = true
    /// The number of threads that copy tensors out of the file in copy mode.
    /// Default: all active processors.
    public var threads: Int = activeProcessorCount

    /// The defaults.
    public init() {}
}

/// What to do with a bfloat16 array when writing a format that has no
/// bfloat16 (NumPy `.npy`/`.npz`).
public enum BFloat16Policy: Sendable, Hashable {
    /// Refuse: `.unsupportedDType` (default). NumPy has no bfloat16.
    case reject
    /// Write float32 (exact: every bfloat16 is a float32).
    case widenToFloat32
    /// Write the 16-bit patterns as uint16 (`'<u2'`), bit for bit.
    case bitPatternAsUInt16
}

/// Options for writing `.npy` and `.npz` files.
public struct NpyWriteOptions: Sendable, Hashable {
    /// How bfloat16 arrays are written. Default ``BFloat16Policy/reject``.
    public var bfloat16: BFloat16Policy = .reject
    /// `fsync` the file and its folder before returning (default `true`).
    /// `false` keeps atomicity against crashes of the process but not against power loss.
    public var durable: Bool = true

    /// The defaults: reject bfloat16, durable.
    public init() {}

    /// Options with the given bfloat16 policy.
    public init(bfloat16: BFloat16Policy, durable: Bool = true) {
        self.bfloat16 = bfloat16
        self.durable = durable
    }
}
