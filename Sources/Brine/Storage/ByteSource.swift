import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a reader's bytes come from (``BrineFile`` and the interop
/// readers): an open file read with `pread(2)` (copy mode), a mapping of the
/// file (mmap modes), or a copy in memory (buffers, fuzzing). Every read is
/// bounds-checked against the size.
///
/// `@unchecked Sendable`: every field is immutable after init; `pread` on
/// one descriptor from several threads is safe; mapped and owned bytes are
/// only read.
final class ByteSource: @unchecked Sendable {
    enum Backing {
        case file(FileDescriptor)
        case mapping(Mapping)
        case memory(TensorStorage)
    }

    let backing: Backing
    /// The file size (or buffer size) in bytes.
    let size: Int
    /// The file path, for error messages (`nil` for memory).
    let path: String?
    /// The first ``FormatSpec/preambleSize`` bytes of a mapped file, read
    /// with `pread` before mapping it (nil for other backings and shorter files).
    private let head: (UInt64, UInt64)?

    /// Opens `path` for the given load mode: copy mode keeps the descriptor
    /// for `pread`, the mmap modes map the whole file and close it.
    /// - Throws: ``BrineError`` `.notFound`, `.invalidArgument` (a directory, FIFO, device or socket), `.io`, `.limitExceeded` (file over `Int.max / 2` bytes).
    convenience init(path: String, mode: LoadMode) throws(BrineError) {
        let fd = try ByteSource.open(path, writable: mode == .mmapReadWrite)
        let size: Int
        do throws(BrineError) { size = try ByteSource.size(of: fd, path: path) } catch { try? fd.close(); throw error }
        let kind: MappingKind? = mode == .copy ? nil : (mode == .mmap ? .readOnly : (mode == .mmapCopyOnWrite ? .copyOnWrite : .readWrite))
        try self.init(descriptor: fd, size: size, path: path, kind: kind, retainDescriptor: false)
    }

    /// Wraps an open descriptor of `size` bytes: `kind == nil` reads it with
    /// `pread` (the source then owns and closes it), else maps it; a mapping
    /// keeps the descriptor open for its lifetime when `retainDescriptor`
    /// (so that the file's locks live as long as the views), else closes it.
    /// The descriptor is closed when this init throws.
    /// - Throws: ``BrineError`` `.io` from `mmap(2)`.
    init(descriptor fd: FileDescriptor, size: Int, path: String, kind: MappingKind?, retainDescriptor: Bool) throws(BrineError) {
        self.path = path
        self.size = size
        guard let kind else {
            self.backing = .file(fd)
            self.head = nil
            return
        }
        // The preamble is read with pread, not through the mapping: touching
        // page 0 of a fresh mapping faults in (and maps around) data pages
        // the open never reads. A failed or short read only turns this off
        // (reads then go through the mapping, which reports its own errors),
        // so no error path here can leave the descriptor open.
        var head = (UInt64(0), UInt64(0))
        let n = size < FormatSpec.preambleSize ? 0 : withUnsafeMutableBytes(of: &head) { b in
            (try? fd.preadFully(b, at: 0).get()) ?? 0
        }
        self.head = n == FormatSpec.preambleSize ? head : nil
        if retainDescriptor {
            self.backing = .mapping(try Mapping(fd: fd, byteCount: size, kind: kind, path: path, retaining: true))
        } else {
            defer { try? fd.close() }
            self.backing = .mapping(try Mapping(fd: fd, byteCount: size, kind: kind, path: path))
        }
    }

    /// Opens `path` read-only or read-write, close-on-exec.
    /// - Throws: ``BrineError`` `.notFound`, `.invalidArgument` for a
    ///   directory opened read-write (`EISDIR`) or a path with a NUL byte,
    ///   `.io` (with `errno`).
    static func open(_ path: String, writable: Bool) throws(BrineError) -> FileDescriptor {
        try RegularFile.checkPath(path)
        // Non-blocking: opening a FIFO (a hostile shard index can name
        // one) must not wait for a writer; no effect on regular files.
        switch Syscall.openExisting(path, writable ? O_RDWR | O_CLOEXEC : O_RDONLY | O_CLOEXEC | O_NONBLOCK) {
        case .success(let fd): return fd
        case .failure(.isDirectory): throw RegularFile.notRegular("the file", path)
        case .failure(let e): throw BrineError.system("open", errno: e.code, path: path)
        }
    }

    /// The size of an open regular file in bytes, checked against the largest size Brine maps.
    /// - Throws: ``BrineError`` `.invalidArgument` when it is a directory,
    ///   FIFO, device or socket (whose `st_size` is not its content: a
    ///   folder's mapping fails, a FIFO reads as empty), `.io` when `fstat(2)`
    ///   fails, `.limitExceeded` (over `Int.max / 2` bytes).
    static func size(of fd: FileDescriptor, path: String) throws(BrineError) -> Int {
        let st = try fd.status().orThrow("fstat", path: path)
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw RegularFile.notRegular("the file", path)
        }
        let size64 = Int64(st.st_size)
        guard size64 <= Int64(Int.max / 2) else {
            throw BrineError(.limitExceeded, "file of \(size64) bytes is too large", filePath: path)
        }
        return Int(size64)
    }

    /// Copies `bytes` once into 64-byte-aligned memory.
    init(copying bytes: UnsafeRawBufferPointer) {
        self.path = nil
        self.size = bytes.count
        self.backing = .memory(TensorStorage(copying: bytes))
        self.head = nil
    }

    deinit {
        if case .file(let fd) = backing { try? fd.close() }
    }

    /// `true` when tensors can be zero-copy views.
    var isMapped: Bool {
        if case .file = backing { return false }
        return true
    }

    /// Reads exactly `count` bytes at `offset`.
    /// - Throws: ``BrineError`` `.truncated` when the range leaves the file, `.io`.
    func read(_ offset: Int, _ count: Int) throws(BrineError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try typedThrows { try out.withUnsafeMutableBytes { b in try read(into: b, at: offset) } }
        return out
    }

    /// The largest read ``readForParse(_:_:)`` serves with `pread` on a
    /// mapped file, in bytes: above it, faulting the mapped pages in costs
    /// less than copying them.
    static let parseReadLimit = 64 << 10

    /// Whether ``readForParse(_:_:)`` reads `count` bytes with `pread`
    /// rather than through the mapping (a mapping that keeps its descriptor).
    func parseReadsWithPread(_ count: Int) -> Bool {
        if case .mapping(let m) = backing, m.descriptor != nil { return count <= ByteSource.parseReadLimit }
        return false
    }

    /// ``read(_:_:)`` for an open's trailer and header. A mapped file's
    /// first touch of a page costs a fault (and, in a fresh mapping, a page
    /// table page): about a tenth of an open of a few hundred arrays in
    /// `perf`, where one `pread` of the same few KiB is a fraction of that.
    /// The mapping and the file hold the same bytes at open (views are
    /// handed out only after it).
    /// - Throws: ``BrineError`` `.truncated` when the range leaves the file, `.io`.
    func readForParse(_ offset: Int, _ count: Int) throws(BrineError) -> [UInt8] {
        guard parseReadsWithPread(count), case .mapping(let m) = backing, let fd = m.descriptor,
              offset >= 0, count >= 0, offset <= size, count <= size - offset
        else { return try read(offset, count) }
        var out = [UInt8](repeating: 0, count: count)
        let n = try typedThrows { try out.withUnsafeMutableBytes { b in try fd.preadFully(b, at: Int64(offset)).orThrow("read", path: path) } }
        guard n == count else {
            throw BrineError(.truncated, "file ended while reading \(count) bytes", filePath: path, byteOffset: UInt64(offset + n))
        }
        return out
    }

    /// Fills `buffer` with the bytes at `offset`.
    /// - Throws: ``BrineError`` `.truncated` when the range leaves the file, `.io`.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(BrineError) {
        let count = buffer.count
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw BrineError(.truncated, "reading \(count) bytes at offset \(offset) runs past the end of the file (\(size) bytes)",
                             filePath: path, byteOffset: UInt64(Swift.max(0, Swift.min(offset, size))))
        }
        guard count > 0 else { return }
        switch backing {
        case .file(let fd):
            let n = try fd.preadFully(buffer, at: Int64(offset)).orThrow("read", path: path)
            guard n == count else {
                throw BrineError(.truncated, "file ended while reading \(count) bytes", filePath: path, byteOffset: UInt64(offset + n))
            }
        case .mapping(let m):
            if let head, offset + count <= FormatSpec.preambleSize {
                withUnsafeBytes(of: head) { h in buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: h[offset ..< offset + count])) }
                return
            }
            BulkCopy.copy(BoundedBytes(m.bytes).bytes(at: offset, count: count), to: buffer.baseAddress!)
        case .memory(let s):
            buffer.copyMemory(from: BoundedBytes(s.bytes).bytes(at: offset, count: count))
        }
    }

    /// Read-only access to `count` bytes at `offset` without copying, when
    /// the source is mapped or in memory; `nil` in copy mode.
    func borrow(_ offset: Int, _ count: Int) -> UnsafeRawBufferPointer? {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else { return nil }
        switch backing {
        case .file: return nil
        case .mapping(let m): return BoundedBytes(m.bytes).bytes(at: offset, count: count)
        case .memory(let s): return BoundedBytes(s.bytes).bytes(at: offset, count: count)
        }
    }

    /// A zero-copy view of `count` bytes at `offset` when the source is
    /// mapped (or in memory) and the address is a multiple of `alignment`;
    /// `nil` otherwise. Views keep the mapping alive.
    func view(_ offset: Int, _ count: Int, alignment: Int) -> TensorStorage? {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else { return nil }
        let (bytes, isWritable, owner): (UnsafeRawBufferPointer, Bool, AnyObject)
        switch backing {
        case .file: return nil
        case .mapping(let m): (bytes, isWritable, owner) = (m.bytes, m.kind != .readOnly, m)
        case .memory(let s): (bytes, isWritable, owner) = (s.bytes, false, s)
        }
        guard count > 0, let p = BoundedBytes(bytes).bytes(at: offset, count: count).baseAddress,
              Int(bitPattern: p) % alignment == 0 else { return nil }
        return TensorStorage(viewing: UnsafeMutableRawPointer(mutating: p), byteCount: count, isWritable: isWritable, owner: owner)
    }

    /// Writes dirty pages of a read-write mapping back to the file (`msync(2)`).
    /// - Throws: ``BrineError`` `.io`.
    func flush() throws(BrineError) {
        if case .mapping(let m) = backing { try m.sync(path: path) }
    }
}
