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
    ///
    /// Views are written in place, so two loads of the same array from one
    /// open ``BrineFile`` (or one ``Brine/load(_:from:mode:options:)`` of a
    /// model that holds the array twice) share pages: a write through one is
    /// seen by the other. Separate opens have separate private mappings.
    /// Copy a tensor (``Tensor/init(shape:storage:)`` of ``TensorStorage/copy()``) to keep
    /// it apart, or load with ``mmap``, whose views copy on their first write.
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
    /// Verify the XXH3-64 checksum of every chunk before its data is handed
    /// out (default `true`), in every load mode: chunks read or decoded into
    /// memory, and zero-copy views of a mapping (see
    /// ``verifyMappedArrays``). A mismatch throws `.checksumMismatch` naming
    /// the array, the chunk and its byte offset.
    ///
    /// `false` is an explicit opt-out for data already verified by other
    /// means: loads then return whatever bytes the file holds. What it saves
    /// on MiniLM (86.6 MiB, 104 arrays; release build, 2 shared cores): a
    /// copy load 25.8 → 15.3 ms; a mapped open of zero-copy views 3.5 ms
    /// (free cores; 26–29 ms median on a loaded machine) → 0.1 ms, the
    /// verified open being one XXH3 pass over the pages (docs/WORKFLOWS.md,
    /// "Measured cost").
    public var verifyChecksums: Bool = true
    /// Verify zero-copy views of a mapping (default `true`, effective when
    /// ``verifyChecksums`` is on): before a ``BrineFile`` hands out its first
    /// view of an array, every chunk of that array is checked, all chunks of
    /// all requested arrays in parallel on ``threads`` threads. Each array is
    /// verified once per open `BrineFile`, not on every access. This reads
    /// every page of the viewed arrays once (and so faults them in): a
    /// verified mapped load costs about one pass over the pages.
    ///
    /// `false` is the explicit opt-out that keeps the microsecond mapped open
    /// (only the header is read); the views are then unverified until
    /// ``BrineFile/verify(progress:)`` is called. Chunks decoded into memory are
    /// still verified.
    public var verifyMappedArrays: Bool = true
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

    /// The defaults: verify every chunk read or viewed, all cores.
    public init() {}

    /// Options with checksum verification chosen at the call site, the other
    /// fields at their defaults: `ReadOptions(verifyChecksums: false)` is the
    /// named opt-out of all chunk verification.
    /// - Parameters:
    ///   - verifyChecksums: see ``verifyChecksums``.
    ///   - verifyMappedArrays: see ``verifyMappedArrays``.
    public init(verifyChecksums: Bool, verifyMappedArrays: Bool = true) {
        self.verifyChecksums = verifyChecksums
        self.verifyMappedArrays = verifyMappedArrays
    }
}
