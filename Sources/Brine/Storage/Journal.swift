import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The redo journal of an in-place flush (docs/FORMAT.md, "Read-write
/// sessions and the journal"): the new bytes of every byte range a flush is
/// about to overwrite in a Brine file, written to `<file>-journal` and
/// `fsync`ed before the file is touched, removed once the file holds them.
///
/// ```
/// head (176)  : magic "\x89BRJNL\r\n", u16 major = 1, u16 minor = 0, u32 flags = 0,
///               u64 file_size, u64 region_count, u64 st_dev, u64 st_ino,
///               old_trailer[64], new_trailer[64]
/// entries     : region_count × (u64 offset, u64 length, u64 xxh3 of the region's bytes)
/// data        : the regions' bytes, in entry order
/// tail (16)   : u64 xxh3 of head + entries, "BRJNLEND"
/// ```
struct Journal {
    static let magic: [UInt8] = [0x89, 0x42, 0x52, 0x4A, 0x4E, 0x4C, 0x0D, 0x0A]
    static let endMagic: [UInt8] = Array("BRJNLEND".utf8)
    static let headSize = 176
    static let entrySize = 24
    static let tailSize = 16
    /// The largest region, in bytes: a flush splits longer ranges, so a
    /// reader needs one buffer of this size at most.
    static let maxRegionBytes = 4 << 20
    /// The largest region table, in bytes (as the header cap of a Brine
    /// file): a reader allocates the table before checking it, so a sparse
    /// journal of terabytes must not make it allocate its size. 11,184,810
    /// regions; a flush with more dirty regions throws `.limitExceeded`.
    static let maxTableBytes = 256 << 20

    /// The journal path of a Brine file: the file's path, symlinks resolved,
    /// with `-journal` appended (the path as given when it cannot be
    /// resolved). Resolved so that opens through a symlink and through the
    /// file's own name find the same journal.
    ///
    /// A path whose last component is not a symbolic link (`readlink(2)`
    /// fails with `EINVAL`: one system call) keeps its spelling: its folder
    /// part names the same folder however the kernel resolves it, so
    /// `path + "-journal"` is the journal `realpath` would find, without
    /// `realpath`'s one `readlink` per component on every open.
    static func path(for path: String) -> String {
        var byte: CChar = 0
        if readlink(path, &byte, 1) < 0 && errno == EINVAL { return path + "-journal" }
        guard let resolved = realpath(path, nil) else { return path + "-journal" }
        defer { free(resolved) }
        return String(cString: resolved) + "-journal"
    }

    struct Entry: Equatable {
        var offset: Int
        var length: Int
        var checksum: UInt64
    }

    var fileSize: Int
    /// The device and inode numbers of the file the flush wrote to: a
    /// journal acts only on that file (the path may have been renamed over).
    var target: FileIdentity
    var oldTrailer: [UInt8]
    var newTrailer: [UInt8]
    var entries: [Entry]
    /// The user id owning the journal file (`st_uid`; 0 for a journal not read from a file).
    var owner: UInt32 = 0
    /// Whether users other than the owner may write the journal file (its
    /// group or others have write permission): then its bytes are not the
    /// owner's alone, and it is not replayed. Brine creates journals 0600.
    var writableByOthers = false
    /// The device and inode of the journal file this was read from: a replay
    /// writes only from that file (a journal swapped in after the checks of
    /// its owner and permissions is another inode, refused).
    var identity: FileIdentity? = nil

    /// What an open finds next to a Brine file.
    enum Found {
        /// No journal.
        case absent
        /// A journal that is incomplete or damaged (its own checksums fail):
        /// the flush that wrote it died before it touched the file. The
        /// target is known when the head is intact.
        case torn(String, FileIdentity?)
        /// A complete journal.
        case complete(Journal)
        /// A journal whose head names another file (device and inode) or
        /// another size than the one given to ``read(_:for:)``: not read
        /// further (its data could be terabytes of a sparse file), ignored.
        case foreign
    }

    // MARK: Writing

    /// Writes the journal for `regions` (byte ranges of the file, sorted, not
    /// overlapping, each at most ``maxRegionBytes``) and makes it durable:
    /// create (`O_TRUNC`) `journalPath`, write, `fsync` it, `fsync` the folder.
    /// - Parameter readableAs: the permissions of the file the journal is
    ///   for: the journal (which holds some of its bytes) may be read by
    ///   whoever may read the file (its read bits, less the umask) and
    ///   written by its owner alone. Default 0600.
    /// - Throws: ``BrineError`` `.io` (with `errno`); the partial journal is removed.
    static func write(
        to journalPath: String, fileSize: Int, target: FileIdentity, oldTrailer: [UInt8], newTrailer: [UInt8],
        regions: [(offset: Int, bytes: UnsafeRawBufferPointer)], readableAs fileMode: mode_t = 0o600
    ) throws(BrineError) {
        guard regions.count <= maxTableBytes / entrySize else {
            throw BrineError(.limitExceeded, "a flush of \(regions.count) regions is over the journal's limit of \(maxTableBytes / entrySize); save the model with Brine.save instead", filePath: journalPath)
        }
        var head = ByteWriter(capacity: headSize + regions.count * entrySize)
        head.raw(magic)
        head.u16(1)
        head.u16(0)
        head.u32(0)
        head.u64(UInt64(fileSize))
        head.u64(UInt64(regions.count))
        head.u64(target.device)
        head.u64(target.inode)
        head.raw(oldTrailer)
        head.raw(newTrailer)
        for r in regions {
            head.u64(UInt64(r.offset))
            head.u64(UInt64(r.bytes.count))
            head.u64(Checksum.xxh3(r.bytes))
        }
        var tail = ByteWriter(capacity: tailSize)
        tail.u64(Checksum.xxh3(head.bytes))
        tail.raw(endMagic)

        // A new file, never an existing one: a symlink or hard link left at
        // the journal's path would otherwise have the journal written into
        // the file it names. Any old journal here is torn or foreign (an open
        // completes its own), so it goes.
        if case .failure(let e) = Syscall.unlink(journalPath), e != .noSuchFileOrDirectory {
            throw BrineError.system("removing an old journal \(journalPath)", errno: e.code, path: journalPath)
        }
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(
                FilePath(journalPath), .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec],
                permissions: FilePermissions(rawValue: (fileMode & 0o444) | 0o600))
        } catch let e as Errno {
            throw BrineError.system("creating the journal \(journalPath)", errno: e.code, path: journalPath)
        } catch {
            throw BrineError(.io, "creating the journal \(journalPath): \(error)", filePath: journalPath)
        }
        var ok = false
        defer {
            try? fd.close()
            if !ok { _ = Syscall.unlink(journalPath) }
        }
        var at = 0
        func put(_ b: UnsafeRawBufferPointer) throws(BrineError) {
            try fd.pwriteFully(b, at: Int64(at)).orThrow("writing the journal", path: journalPath)
            at += b.count
        }
        try typedThrows { try head.bytes.withUnsafeBytes { b in try put(b) } }
        for r in regions { try put(r.bytes) }
        try typedThrows { try tail.bytes.withUnsafeBytes { b in try put(b) } }
        try fd.fsync().orThrow("fsync of the journal", path: journalPath)
        try syncFolder(of: journalPath)
        ok = true
    }

    /// `fsync`s the folder holding `path` (so a created or removed name is durable).
    static func syncFolder(of path: String) throws(BrineError) {
        let folder = FilePath(path).removingLastComponent()
        try FileDescriptor.fsyncDirectory(folder.isEmpty ? FilePath(".") : folder).orThrow("fsync of the folder", path: path)
    }

    // MARK: Reading

    /// Reads and checks the journal at `journalPath` completely (every
    /// region's checksum), reading one region at a time.
    /// - Throws: ``BrineError`` `.io` when it exists but cannot be read;
    ///   `.limitExceeded` when its region table is over ``maxTableBytes``.
    /// With `file` (the identity and size of the open Brine file), a journal
    /// whose head names another file or size is ``Found/foreign`` before its
    /// table and data are read, so the bytes hashed are at most the file's size.
    /// `file` is evaluated only when a journal exists (it costs `fstat`s on
    /// every open, where there is almost never a journal).
    static func read(_ journalPath: String, for file: @autoclosure () throws(BrineError) -> (identity: FileIdentity?, size: Int)? = nil) throws(BrineError) -> Found {
        let fd: FileDescriptor
        switch openJournal(journalPath) {
        case .success(let opened): fd = opened
        case .failure(.noSuchFileOrDirectory):
            // Every open of a file without a flush in progress ends here:
            // no error is built for it.
            return .absent
        case .failure(.tooManySymbolicLinkLevels):
            // Brine never writes a journal as a symbolic link: someone else
            // put it there. Ignored (and left alone); the file is read as it is.
            return .torn("a symbolic link", nil)
        case .failure(let e):
            throw BrineError.system("opening the journal", errno: e.code, path: journalPath)
        }
        defer { try? fd.close() }
        let st = try fd.status().orThrow("fstat of the journal", path: journalPath)
        guard st.st_mode & S_IFMT == S_IFREG else { return .torn("not a regular file", nil) }
        // Brine writes a journal as a new file with one link; a hard link to
        // another file (one the planter may write, owned by someone else) is not one.
        guard st.st_nlink == 1 else { return .torn("a file with \(st.st_nlink) links", nil) }
        let size = Int(try fd.fileSize().orThrow("fstat of the journal", path: journalPath))
        func bytes(_ offset: Int, _ count: Int) throws(BrineError) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: count)
            let n = try typedThrows { try out.withUnsafeMutableBytes { b in try fd.preadFully(b, at: Int64(offset)).orThrow("reading the journal", path: journalPath) } }
            out.removeLast(count - n)
            return out
        }
        guard size >= headSize + tailSize else { return .torn("\(size) bytes, shorter than an empty journal", nil) }
        let head = try bytes(0, headSize)
        guard head.count == headSize, head[0 ..< 8].elementsEqual(magic) else { return .torn("no journal magic", nil) }
        let major = UInt16(head[8]) | UInt16(head[9]) << 8
        guard major == 1 else { return .torn("journal major version \(major)", nil) }
        let fileSize = u64(head, 16)
        let count = u64(head, 24)
        let target = FileIdentity(device: u64(head, 32), inode: u64(head, 40))
        func torn(_ why: String) -> Found { .torn(why, target) }
        if let file = try file(), target != file.identity || fileSize != UInt64(file.size) { return .foreign }
        guard count <= UInt64((size - headSize - tailSize) / entrySize), fileSize <= UInt64(Int.max / 2) else {
            return torn("region count \(count) does not fit the journal's \(size) bytes")
        }
        guard count <= UInt64(maxTableBytes / entrySize) else {
            throw BrineError(.limitExceeded, "the journal's region count \(count) is over the limit of \(maxTableBytes / entrySize) (no flush writes so many); remove \(journalPath) if no flush of this file died", filePath: journalPath)
        }
        let n = Int(count)
        let entryBytes = try bytes(headSize, n * entrySize)
        guard entryBytes.count == n * entrySize else { return torn("journal ends inside its region table") }
        var entries: [Entry] = []
        entries.reserveCapacity(n)
        var dataBytes = 0
        var lastEnd = 0
        for i in 0 ..< n {
            let off = u64(entryBytes, i * entrySize)
            let len = u64(entryBytes, i * entrySize + 8)
            guard len <= UInt64(maxRegionBytes), off >= UInt64(lastEnd), off <= UInt64(fileSize), len <= UInt64(fileSize) - off else {
                return torn("region \(i) (\(off) + \(len)) is out of order or outside the file of \(fileSize) bytes")
            }
            entries.append(Entry(offset: Int(off), length: Int(len), checksum: u64(entryBytes, i * entrySize + 16)))
            lastEnd = Int(off + len)
            dataBytes += Int(len)
        }
        guard size == headSize + n * entrySize + dataBytes + tailSize else {
            return torn("journal of \(size) bytes, its table describes \(headSize + n * entrySize + dataBytes + tailSize)")
        }
        let tail = try bytes(size - tailSize, tailSize)
        guard tail.count == tailSize, tail[8 ..< 16].elementsEqual(endMagic) else { return torn("no end magic") }
        guard u64(tail, 0) == Checksum.xxh3(head + entryBytes) else { return .torn("head checksum mismatch", nil) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(1, entries.map(\.length).max() ?? 1), alignment: 64)
        defer { buffer.deallocate() }
        var at = headSize + n * entrySize
        for (i, e) in entries.enumerated() {
            let b = UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< e.length])
            let got = try fd.preadFully(b, at: Int64(at)).orThrow("reading the journal", path: journalPath)
            guard got == e.length, Checksum.xxh3(UnsafeRawBufferPointer(b)) == e.checksum else {
                return torn("region \(i) checksum mismatch")
            }
            at += e.length
        }
        return .complete(Journal(fileSize: Int(fileSize), target: target, oldTrailer: Array(head[48 ..< 112]), newTrailer: Array(head[112 ..< 176]), entries: entries, owner: UInt32(st.st_uid),
                                 writableByOthers: st.st_mode & (S_IWGRP | S_IWOTH) != 0,
                                 identity: FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))))
    }

    /// Whether this journal belongs to a file of `size` bytes whose last 64
    /// bytes are `trailer`: the sizes agree and the trailer is the one before
    /// or after the flush, or a damaged one (a flush can die while writing it).
    func matches(size: Int, trailer: [UInt8]) -> Bool {
        guard size == fileSize, trailer.count == FormatSpec.trailerSize else { return false }
        if trailer == oldTrailer || trailer == newTrailer { return true }
        let stored = Journal.u64(trailer, 48)
        return stored != Checksum.xxh3(Array(trailer[0 ..< 48])) || !trailer[56 ..< 64].elementsEqual(FormatSpec.trailerMagic)
    }

    /// Whether the file already holds every region (a replay whose journal
    /// could not be removed, for example in a read-only folder): its last 64
    /// bytes are `new_trailer` and each region's bytes in the file hash to
    /// the region's checksum.
    func isApplied(to file: FileDescriptor, filePath: String) throws(BrineError) -> Bool {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(FormatSpec.trailerSize, entries.map(\.length).max() ?? 1), alignment: 64)
        defer { buffer.deallocate() }
        let t = UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< FormatSpec.trailerSize])
        guard try file.preadFully(t, at: Int64(fileSize - FormatSpec.trailerSize)).orThrow("read", path: filePath) == t.count,
              t.elementsEqual(newTrailer) else { return false }
        for e in entries {
            let b = UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< e.length])
            guard try file.preadFully(b, at: Int64(e.offset)).orThrow("read", path: filePath) == e.length,
                  Checksum.xxh3(UnsafeRawBufferPointer(b)) == e.checksum else { return false }
        }
        return true
    }

    /// Writes every region into the file (the same bytes again when it was
    /// already replayed), checking each region's checksum as it is read, then
    /// `fsync`s the file.
    /// - Throws: ``BrineError`` `.io`; `.checksumMismatch` when the journal
    ///   changed since ``read(_:)``.
    func replay(from journalPath: String, into file: FileDescriptor, filePath: String) throws(BrineError) {
        let jfd = try Journal.openForReading(journalPath)
        defer { try? jfd.close() }
        // The file read and checked before, still with one link and writable
        // by its owner alone: else someone swapped or changed it meanwhile.
        var st = stat()
        guard fstat(jfd.rawValue, &st) == 0, let identity,
              FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)) == identity,
              st.st_nlink == 1, st.st_mode & (S_IWGRP | S_IWOTH) == 0, UInt32(st.st_uid) == owner
        else {
            throw BrineError(.recoveryNeeded, "the journal \(journalPath) changed between its checks and its replay; not replayed", filePath: filePath)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(1, entries.map(\.length).max() ?? 1), alignment: 64)
        defer { buffer.deallocate() }
        var at = Journal.headSize + entries.count * Journal.entrySize
        for (i, e) in entries.enumerated() {
            let b = UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< e.length])
            let got = try jfd.preadFully(b, at: Int64(at)).orThrow("reading the journal", path: journalPath)
            guard got == e.length, Checksum.xxh3(UnsafeRawBufferPointer(b)) == e.checksum else {
                throw BrineError(.checksumMismatch, "journal region \(i) changed while it was replayed", filePath: journalPath)
            }
            try file.pwriteFully(UnsafeRawBufferPointer(b), at: Int64(e.offset)).orThrow("replaying the journal", path: filePath)
            at += e.length
        }
        try file.fsync().orThrow("fsync", path: filePath)
    }

    /// Opens the journal read-only and non-blocking, so a FIFO (or device)
    /// left at its path cannot block the open; ``read(_:)`` then refuses
    /// anything but a regular file.
    /// - Throws: ``BrineError`` `.notFound` (with `errno` `ENOENT`), `.io`, `.permissionDenied`.
    static func openForReading(_ journalPath: String) throws(BrineError) -> FileDescriptor {
        try openJournal(journalPath).orThrow("opening the journal", path: journalPath)
    }

    /// Opens the journal read-only, never through a symbolic link (a link
    /// planted at the journal's path would let the file it names pass the
    /// owner check: `ELOOP`), never blocking (a FIFO planted there).
    static func openJournal(_ journalPath: String) -> Result<FileDescriptor, Errno> {
        Syscall.openExisting(journalPath, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW)
    }

    static func u64(_ b: [UInt8], _ at: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0 ..< 8 { v |= UInt64(b[at + i]) << (8 * UInt64(i)) }
        return v
    }
}
