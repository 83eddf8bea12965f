import Foundation
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The state of a read-write session (a ``BrineFile`` opened with
/// ``LoadMode/mmapReadWrite``): the descriptor of the file a flush writes to
/// (open read-write, holding the session lock and a shared data lock, see
/// `FileLock`) and that file's identity. The mapping itself is private
/// (`MAP_PRIVATE`): changes stay in this process until ``BrineFile/flush()``
/// writes them through the journal, and are discarded if the handle is
/// released without a flush.
///
/// `@unchecked Sendable`: the mutable fields change only under `serial`,
/// which also makes flushes of one session run one at a time.
final class ReadWriteSession: @unchecked Sendable {
    let serial = Mutex(())
    /// The file flushes write to (read-write); replaced when a flush falls back to an atomic re-save.
    var fd: FileDescriptor
    /// `(st_dev, st_ino)` of that file.
    var identity: FileIdentity
    /// `false` when the file system has no advisory locks: flushes then write
    /// in place without excluding readers (documented).
    var locksSupported: Bool

    init(fd: FileDescriptor, identity: FileIdentity, locksSupported: Bool) {
        self.fd = fd
        self.identity = identity
        self.locksSupported = locksSupported
    }

    deinit { try? fd.close() }

    /// The identity of the file flushes write to, read under the lock.
    var currentIdentity: FileIdentity { serial.withLock { _ in identity } }
}

/// A file's device and inode numbers, to notice a file renamed over the path.
struct FileIdentity: Equatable {
    var device: UInt64
    var inode: UInt64

    static func of(_ fd: FileDescriptor) -> FileIdentity? {
        guard case .success(let st) = fd.status() else { return nil }
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    static func of(path: String) -> FileIdentity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }
}

extension BrineFile {
    /// Opens the bytes of the Brine file at `path` for `mode`, after
    /// completing or discarding a journal left by a flush that did not finish
    /// (docs/FORMAT.md, "Read-write sessions and the journal"):
    /// 1. open the file (read-write for ``LoadMode/mmapReadWrite``, which also
    ///    takes the session lock, `.conflict` if another handle holds it); a
    ///    directory, FIFO, device or socket is `.invalidArgument`;
    /// 2. take the shared data lock (waiting up to 60 s for a flush in
    ///    another process to finish); every open keeps it while it may read
    ///    the file (the descriptor, or the mapping and its views);
    /// 3. a complete journal that belongs to the file is replayed under the
    ///    exclusive data lock (`.recoveryNeeded` without write access); a torn
    ///    or foreign one is removed (or ignored when the folder is read-only).
    ///
    /// - Returns: the byte source (a private mapping for read-write) and, for
    ///   read-write, the session.
    static func openSource(path: String, mode: LoadMode) throws(BrineError) -> (ByteSource, ReadWriteSession?) {
        let writable = mode == .mmapReadWrite
        let fd = try ByteSource.open(path, writable: writable)
        let size: Int
        let locks: Bool
        do throws(BrineError) {
            // Folders, FIFOs and devices are refused before any lock or journal
            // step. (The size is read again below: a flush in another process
            // may change it until this open holds the data lock.)
            _ = try ByteSource.size(of: fd, path: path)
            var supported = true
            if writable {
                switch try FileLock.attempt(fd, .exclusive, at: FileLock.sessionOffset, path: path) {
                case .busy:
                    throw BrineError(.conflict, "another read-write handle (in this or another process) has the file open; one read-write session at a time", filePath: path)
                case .unsupported: supported = false
                case .acquired: break
                }
            }
            supported = try prepareForReading(fd, path: path) && supported
            size = try ByteSource.size(of: fd, path: path)
            locks = supported
        } catch {
            try? fd.close()
            throw error
        }
        // From here the descriptor belongs to the byte source: its init closes
        // it when it throws, so no path below may close `fd` itself (a second
        // close could hit a descriptor another thread has just opened).
        switch mode {
        case .copy:
            return (try ByteSource(descriptor: fd, size: size, path: path, kind: nil, retainDescriptor: false), nil)
        case .mmap, .mmapCopyOnWrite:
            let kind: MappingKind = mode == .mmap ? .readOnly : .copyOnWrite
            return (try ByteSource(descriptor: fd, size: size, path: path, kind: kind, retainDescriptor: true), nil)
        case .mmapReadWrite:
            // The session keeps its own descriptor of the same open file
            // description (a `dup`), so the locks stay while either lives.
            let sessionFD: FileDescriptor
            let identity: FileIdentity
            do throws(BrineError) {
                sessionFD = try fd.duplicateCloseOnExec().orThrow("dup", path: path)
                guard let id = FileIdentity.of(fd) else {
                    let e = errno
                    try? sessionFD.close()
                    throw BrineError.system("fstat", errno: e, path: path)
                }
                identity = id
            } catch {
                try? fd.close()
                throw error
            }
            let source: ByteSource
            do throws(BrineError) {
                source = try ByteSource(descriptor: fd, size: size, path: path, kind: .copyOnWrite, retainDescriptor: true)
            } catch {
                try? sessionFD.close()
                throw error
            }
            return (source, ReadWriteSession(fd: sessionFD, identity: identity, locksSupported: locks))
        }
    }

    /// Steps 2 and 3 of ``openSource(path:mode:)``.
    /// - Returns: whether the file system supports the locks.
    private static func prepareForReading(_ fd: FileDescriptor, path: String) throws(BrineError) -> Bool {
        let journalPath = Journal.path(for: path)
        for _ in 0 ..< 8 {
            let lock = try FileLock.wait(fd, .shared, at: FileLock.dataOffset, timeout: FileLock.openTimeout, path: path, what: "waiting for a flush to finish")
            let locked = lock == .acquired
            let found: Journal.Found
            do throws(BrineError) {
                found = try Journal.read(journalPath, for: (FileIdentity.of(fd), try ByteSource.size(of: fd, path: path)))
            } catch where error.code == .readOnly || error.errno == EACCES {
                throw BrineError(.recoveryNeeded, "a journal of an unfinished flush exists but cannot be read", filePath: path, errno: error.errno)
            }
            switch found {
            case .absent:
                return locked
            case .foreign:
                // Names another file that was at this path (renamed over
                // after that flush died) or another size: ignored.
                return locked
            case .torn(_, let target):
                let mine = FileIdentity.of(fd)
                // Written by a flush that died before it touched the file. It
                // is removed only when it names this file and this open holds
                // the data lock (so no flush of this file is running); else
                // it is left alone (harmless: the next flush replaces it).
                if locked, let target, target == mine, mine == FileIdentity.of(path: path) { _ = Syscall.unlink(journalPath) }
                return locked
            case .complete(let journal):
                let mine = FileIdentity.of(fd)
                let size = try ByteSource.size(of: fd, path: path)
                guard journal.target == mine, journal.matches(size: size, trailer: try trailer(of: fd, size: size, path: path)) else {
                    // A journal of another file that was at this path (the
                    // file was renamed over after that flush died): ignored.
                    return locked
                }
                if try journal.isApplied(to: fd, filePath: path) {
                    // Replayed before, but its removal failed (read-only folder).
                    if locked { _ = Syscall.unlink(journalPath) }
                    return locked
                }
                // A replay writes the journal's bytes into the file as this
                // process: only a journal written by the file's owner (or
                // root) is trusted, so someone who may create files in the
                // folder but not write the file cannot have a reader do it.
                let st = try fd.status().orThrow("fstat", path: path)
                guard !journal.writableByOthers else {
                    throw BrineError(.recoveryNeeded, "the journal \(journalPath) of an unfinished flush may be written by users other than its owner (group or other write permission); Brine does not replay it. Check its origin, then remove the group and other write permission (chmod go-w) to complete it, or remove it if no flush of the file's owner died", filePath: path)
                }
                guard journal.owner == UInt32(st.st_uid) || journal.owner == 0 else {
                    throw BrineError(.recoveryNeeded, "the journal \(journalPath) of an unfinished flush belongs to user \(journal.owner), not to the file's owner (user \(st.st_uid)); Brine does not replay it. Run the open as its owner or root to complete it, or remove it if no flush of that user died", filePath: path)
                }
                try replay(journalPath: journalPath, path: path, reader: fd, readerLocked: locked)
            }
        }
        throw BrineError(.conflict, "the journal kept reappearing while the file was opened", filePath: path)
    }

    /// The last 64 bytes of a file of `size` bytes (fewer when it is shorter).
    private static func trailer(of fd: FileDescriptor, size: Int, path: String) throws(BrineError) -> [UInt8] {
        let n = Swift.min(size, FormatSpec.trailerSize)
        var out = [UInt8](repeating: 0, count: n)
        _ = try typedThrows { try out.withUnsafeMutableBytes { b in try fd.preadFully(b, at: Int64(size - n)).orThrow("read", path: path) } }
        return out
    }

    /// Replays a complete journal into the file under the exclusive data lock, then removes it.
    private static func replay(journalPath: String, path: String, reader: FileDescriptor, readerLocked: Bool) throws(BrineError) {
        // A descriptor that can write, of the same file.
        var writer = reader
        var ownWriter = false
        if fcntl(reader.rawValue, F_GETFL) & O_ACCMODE != O_RDWR {
            do throws(BrineError) {
                writer = try ByteSource.open(path, writable: true)
            } catch where [EACCES, EROFS, EPERM].contains(error.errno ?? 0) {
                throw BrineError(.recoveryNeeded, "the file has an unfinished flush recorded in \(journalPath); open it once with write access to the file and its folder to complete it", filePath: path, errno: error.errno)
            }
            ownWriter = true
        }
        // Registered before anything below can throw: the writer is closed on every path.
        defer { if ownWriter { try? writer.close() } }
        if ownWriter && readerLocked { _ = try FileLock.attempt(reader, .unlock, at: FileLock.dataOffset, path: path) }
        guard FileIdentity.of(writer) == FileIdentity.of(reader) else { return }  // replaced meanwhile: look again
        let lock = try FileLock.wait(writer, .exclusive, at: FileLock.dataOffset, timeout: FileLock.openTimeout, path: path, what: "completing an unfinished flush")
        defer { if lock == .acquired { _ = try? FileLock.attempt(writer, ownWriter ? .unlock : .shared, at: FileLock.dataOffset, path: path) } }
        // Another open may have completed it while this one waited.
        guard case .complete(let journal) = try Journal.read(journalPath, for: (FileIdentity.of(writer), try ByteSource.size(of: writer, path: path))),
              journal.target == FileIdentity.of(writer) else { return }
        // Read again, so checked again: the journal at the path may have been
        // swapped while this open waited for the lock.
        let st = try writer.status().orThrow("fstat", path: path)
        guard !journal.writableByOthers, journal.owner == UInt32(st.st_uid) || journal.owner == 0 else {
            throw BrineError(.recoveryNeeded, "the journal \(journalPath) changed while this open waited to complete it, and is not one Brine replays (another owner, or writable by others)", filePath: path)
        }
        let size = try ByteSource.size(of: writer, path: path)
        guard journal.matches(size: size, trailer: try trailer(of: writer, size: size, path: path)) else { return }
        try journal.replay(from: journalPath, into: writer, filePath: path)
        if case .success = Syscall.unlink(journalPath) {
            try Journal.syncFolder(of: journalPath)
        }
        // A journal that cannot be removed (read-only folder) is harmless:
        // replaying it again writes the same bytes.
    }

    /// Verifies the checksum of every chunk of every array, on all cores
    /// (a read-write session must not start from damaged data: a flush
    /// computes new checksums).
    /// - Throws: ``BrineError`` `.checksumMismatch` naming the array, chunk and byte offset.
    func verifyAllChunks() throws(BrineError) {
        let infos = arrays
        var work: [(array: Int, chunk: Int)] = []
        for (k, a) in infos.enumerated() {
            for c in 0 ..< a.chunkCount { work.append((k, c)) }
        }
        let threads = Swift.max(1, Swift.min(options.threads, work.count))
        let file = self
        try parallelFor(count: work.count, threads: threads) { (_, item) throws(BrineError) in
            let (k, c) = work[item]
            let a = infos[k]
            let chunk = a.chunk(c)
            guard let bytes = file.source.borrow(chunk.offset, chunk.storedBytes) else {
                throw BrineError(.truncated, "chunk outside the mapping", filePath: file.path, arrayPath: a.path, chunkIndex: c, byteOffset: UInt64(chunk.offset))
            }
            let sum = Checksum.xxh3(bytes)
            guard sum == chunk.checksum else {
                throw BrineError(.checksumMismatch, "chunk checksum mismatch (stored \(hex(chunk.checksum)), computed \(hex(sum))); a read-write session refuses a damaged file", filePath: file.path, arrayPath: a.path, chunkIndex: c, byteOffset: UInt64(chunk.offset))
            }
        }
    }
}
