/// Constants of Brine format v1 (docs/FORMAT.md).
public enum FormatSpec {
    /// The 8 bytes every Brine file starts with: `89 42 52 49 4E 45 0D 0A`
    /// (`\x89BRINE\r\n`, PNG-style: a high byte, the name, a CR LF pair that
    /// text-mode transfers would damage).
    public static let magic: [UInt8] = [0x89, 0x42, 0x52, 0x49, 0x4E, 0x45, 0x0D, 0x0A]
    /// The 8 bytes every Brine file ends with: ASCII `BRINEEND`.
    public static let trailerMagic: [UInt8] = Array("BRINEEND".utf8)
    /// The major format version this library writes and reads. A file with
    /// another major version is rejected with `.unsupportedVersion`.
    public static let majorVersion: UInt16 = 1
    /// The minor format version this library writes. Readers accept any minor
    /// version of a known major. 1.1 adds raw chunks, shared arrays and references, nested arrays and key-named dictionaries (docs/FORMAT.md).
    public static let minorVersion: UInt16 = 1
    /// Size of the preamble (magic, major, minor, flags) in bytes.
    public static let preambleSize = 16
    /// Size of the trailer in bytes.
    public static let trailerSize = 64
    /// The default alignment of array data in bytes.
    public static let defaultAlignment = 64
    /// The smallest alignment allowed, in bytes.
    public static let minAlignment = 8
    /// The largest alignment allowed, in bytes.
    public static let maxAlignment = 65_536
    /// The default raw chunk size in bytes (1 MiB).
    public static let defaultChunkBytes = 1 << 20
}

/// Caps a reader applies to every file before trusting its fields
/// (docs/FORMAT.md, "Limits"). A field over a cap gives `.limitExceeded`.
public struct ReadLimits: Sendable, Hashable {
    /// Largest header (object tree + array table + metadata), in bytes. Default 256 MiB.
    public var maxHeaderBytes: Int = 256 << 20
    /// Deepest nesting of lists and maps in the object tree. Default 256.
    public var maxDepth: Int = 256
    /// Largest rank of an array. Default 64 (NumPy's limit).
    public var maxRank: Int = 64
    /// Most arrays in one file. Default 1,048,576.
    public var maxArrays: Int = 1 << 20
    /// Most chunks in one array. Default 16,777,216.
    public var maxChunksPerArray: Int = 1 << 24
    /// Largest raw chunk in bytes. Default 1 GiB.
    public var maxChunkBytes: Int = Codec.maxChunkBytes
    /// Largest single allocation sized from a file field, in bytes (for
    /// example the decoded size of one compressed array). Default: the
    /// machine's physical memory.
    public var maxAllocationBytes: Int = ReadLimits.physicalMemory

    /// The defaults.
    public init() {}

    static let physicalMemory: Int = {
        let (p, o) = Syscall.physicalPages.multipliedReportingOverflow(by: Syscall.pageSize)
        return (o || p <= 0) ? Int.max : p
    }()
}
