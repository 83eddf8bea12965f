/// How a Brine file is opened and its arrays loaded.
public enum LoadMode: Sendable, Hashable, CustomStringConvertible {
    /// Read with `pread(2)` into memory Brine owns; every chunk is verified
    /// and decompressed in parallel. The file is not needed afterwards.
    case copy
    /// Map the file read-only (`PROT_READ`, `MAP_SHARED`). Uncompressed arrays
    /// are zero-copy views into the mapping (their storage keeps it alive);
    /// compressed ones are decoded into memory. Writing to a view copies it
    /// first; the file never changes.
    case mmap
    /// Map the file copy-on-write (`MAP_PRIVATE`): views are writable, writes
    /// stay private to this process and never reach the file.
    case mmapCopyOnWrite
    /// A read-write session (like NumPy's `mmap_mode='r+'`, but crash-safe):
    /// the open verifies the header and every chunk (whatever
    /// ``ReadOptions/verifyChecksums`` and ``ReadOptions/verifyHeader`` say)
    /// and maps the file privately (`MAP_PRIVATE`); views of
    /// uncompressed arrays are writable, and changes reach the file only on
    /// ``BrineModel/flush()`` (every change the model holds, in place through
    /// a journal or by atomic re-save) or ``BrineFile/flush()`` (views only).
    /// Released without a flush, the file stays as it was. One read-write
    /// handle per file at a time (`.conflict`). docs/WORKFLOWS.md, "Update in place".
    case mmapReadWrite

    /// `true` for the three mapping modes.
    public var isMapped: Bool { self != .copy }

    public var description: String {
        switch self {
        case .copy: return "copy"
        case .mmap: return "mmap"
        case .mmapCopyOnWrite: return "mmap-cow"
        case .mmapReadWrite: return "mmap-rw"
        }
    }
}

/// Options for opening a Brine file.
public struct ReadOptions: Sendable, Hashable {
    /// Verify the XXH3-64 checksum of every chunk Brine reads or decodes
    /// (default `true`). A mismatch throws `.checksumMismatch` naming the
    /// array, the chunk and its byte offset.
    public var verifyChecksums: Bool = true
    /// Also verify zero-copy mmap views when they are first handed out
    /// (default `false`: verifying reads every page, which defeats the
    /// microsecond open of a mapped file; call ``BrineFile/verify(progress:)`` instead).
    public var verifyMappedArrays: Bool = false
    /// Verify the trailer and header checksums on open (default `true`).
    /// Turning it off is meant for fuzzing and forensic tools only; the
    /// header is still fully validated.
    public var verifyHeader: Bool = true
    /// The number of threads that read, verify and decompress chunks.
    /// Default: all active processors.
    public var threads: Int = activeProcessorCount
    /// Caps applied to the file's fields before they are trusted.
    public var limits: ReadLimits = ReadLimits()
    /// The `madvise(2)` hint given to the whole mapping in mmap modes.
    public var advice: MappingAdvice = .normal

    /// The defaults: verify every chunk read, all cores.
    public init() {}
}
