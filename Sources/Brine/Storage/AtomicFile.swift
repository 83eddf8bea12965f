import CBrineKernels
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file written under a temporary name in its destination's folder and
/// renamed over the destination only when complete:
/// 1. create `.<name>.brine-tmp.<pid>.<random>` with `O_CREAT|O_EXCL`, mode 0644 (less the umask);
/// 2. write;
/// 3. ``commit(durable:)``: `fsync` the file (when durable), `rename(2)` it
///    over the destination, `fsync` the folder (when durable), then remove
///    stray temporaries of the same destination left by processes that no
///    longer exist (killed saves);
/// 4. or ``abort()`` (also run by `deinit` if neither happened): close and
///    unlink the temporary.
///
/// A save that fails or is killed therefore never changes the destination:
/// readers see either the complete old file or the complete new one.
/// One-shot writers use the scoped ``replace(at:durable:_:)``; the streaming
/// ``BrineWriter`` holds an `AtomicFile` across its appends.
final class AtomicFile {
    let destination: FilePath
    let temporary: FilePath
    let fd: FileDescriptor
    private var finished = false

    /// The destination path as a string, for error messages.
    var path: String { destination.string }

    /// Creates the temporary file next to `destination`.
    /// - Throws: ``BrineError`` `.notFound` when the folder does not exist,
    ///   `.io` for other failures of `open(2)`.
    init(destination requested: FilePath) throws(BrineError) {
        // A symbolic link stays: the file it points to is what gets replaced.
        let destination = try AtomicFile.resolvingSymbolicLinks(requested)
        try AtomicFile.checkReplaceable(destination)
        self.destination = destination
        let folder = destination.removingLastComponent()
        guard let name = destination.lastComponent?.string, !name.isEmpty else {
            throw BrineError(.invalidArgument, "destination has no file name", filePath: destination.string)
        }
        var attempt = 0
        while true {
            let token = UInt64.random(in: 0 ... UInt64.max)
            let tmpName = AtomicFile.temporaryPrefix(for: name) + "\(getpid()).\(String(token, radix: 36))"
            let tmp = folder.appending(tmpName)
            // Recorded before it exists, for the CLI's SIGINT/SIGTERM/SIGHUP
            // handlers to remove: recorded after the open, a signal between
            // the two left the new file behind. The name holds this process's
            // id and a random token, so a file already at it (EEXIST: then
            // forgotten at once) is a leftover of an earlier process's save.
            _ = brine_temporary_register(tmp.string)
            // A file being replaced keeps its permissions (and, where this
            // process may set them, its owner and group): a 0600 model must
            // not become world-readable by being saved. Until they are set,
            // the new file is readable by its owner alone.
            var old = stat()
            let replacing = stat(destination.string, &old) == 0 && (old.st_mode & S_IFMT) == S_IFREG
            let fd: FileDescriptor
            do {
                fd = try FileDescriptor.open(
                    tmp, .readWrite, options: [.create, .exclusiveCreate, .closeOnExec],
                    permissions: replacing ? [.ownerReadWrite] : [.ownerReadWrite, .groupRead, .otherRead])
            } catch let e as Errno {
                brine_temporary_unregister(tmp.string)
                if e == .fileExists && attempt < 16 { attempt += 1; continue }
                throw BrineError.system("creating temporary file \(tmp.string)", errno: e.code, path: destination.string)
            } catch {
                brine_temporary_unregister(tmp.string)
                throw BrineError(.io, "creating temporary file \(tmp.string): \(error)", filePath: destination.string)
            }
            if replacing {
                // Best effort: only root may give a file away (EPERM otherwise).
                _ = fchown(fd.rawValue, old.st_uid, old.st_gid)
                if fchmod(fd.rawValue, old.st_mode & 0o777) != 0 {
                    let e = errno
                    try? fd.close()
                    _ = Syscall.unlink(tmp)
                    brine_temporary_unregister(tmp.string)
                    throw BrineError.system("setting the permissions of \(tmp.string) to those of the file it replaces", errno: e, path: destination.string)
                }
            }
            self.temporary = tmp
            self.fd = fd
            return
        }
    }

    /// The file a save to `path` replaces: `path` itself, or, when `path` is
    /// a symbolic link, the file at the end of its chain of links (which
    /// need not exist yet: a dangling link's target is created). Relative
    /// link targets are taken relative to the link's folder, as the kernel
    /// does; folders on the way are left to the kernel to resolve.
    /// - Throws: ``BrineError`` `.io` (`ELOOP`) after 40 links, as `open(2)`
    ///   would; `.io` when a link cannot be read.
    static func resolvingSymbolicLinks(_ path: FilePath) throws(BrineError) -> FilePath {
        var current = path.string
        for _ in 0 ..< 40 {
            var st = stat()
            guard lstat(current, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK else { return FilePath(current) }
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(current, &buf, buf.count - 1)
            guard n > 0 else {
                throw BrineError.system("readlink of \(current)", errno: n < 0 ? errno : EINVAL, path: path.string)
            }
            let target = String(decoding: buf[0 ..< n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if target.hasPrefix("/") {
                current = target
            } else if let slash = current.lastIndex(of: "/") {
                current = String(current[...slash]) + target
            } else {
                current = target
            }
        }
        throw BrineError.system("resolving the symbolic links of \(path.string)", errno: ELOOP, path: path.string)
    }

    /// Refuses to replace anything but a regular file: a rename over
    /// `/dev/null`, a FIFO or a socket would put a regular file in its place
    /// (a `brine convert … /dev/null` run as root replaced the device).
    /// - Throws: ``BrineError`` `.invalidArgument`.
    static func checkReplaceable(_ destination: FilePath) throws(BrineError) {
        var st = stat()
        guard lstat(destination.string, &st) == 0 else { return }  // absent: created
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw BrineError(.invalidArgument, "the destination exists and is not a regular file (a device, FIFO, socket or folder is never replaced)",
                             filePath: destination.string)
        }
    }

    /// The name prefix of temporaries for a destination file name.
    static func temporaryPrefix(for name: String) -> String { ".\(name).brine-tmp." }

    /// Writes a new file at `destination` with `body` and puts it in place
    /// atomically: creates the temporary, runs `body` with it, then
    /// ``commit(durable:)``s; when `body` or the commit throws, the temporary
    /// is removed and the destination is left as it was.
    /// - Parameters:
    ///   - destination: the file to replace (a symbolic link is followed).
    ///   - durable: `fsync` the file and its folder (see ``commit(durable:)``).
    ///   - body: writes the file's bytes through ``fd``.
    /// - Returns: what `body` returns.
    /// - Throws: ``BrineError`` from creating the temporary, from `body`, or
    ///   from the commit.
    static func replace<R>(
        at destination: FilePath, durable: Bool, _ body: (AtomicFile) throws(BrineError) -> R
    ) throws(BrineError) -> R {
        let file = try AtomicFile(destination: destination)
        do throws(BrineError) {
            let result = try body(file)
            try file.commit(durable: durable)
            return result
        } catch {
            file.abort()
            throw error
        }
    }

    /// Puts the written file in place: `fsync` it (when `durable`), close it,
    /// `rename(2)` it over the destination, `fsync` the folder (when
    /// `durable`), then remove stray temporaries of killed saves. Without
    /// `durable` the replace is still atomic against a crash of the process
    /// (readers never see a partial file) but not durable against power loss.
    /// - Throws: ``BrineError`` `.io` (or the code of the `errno`); the
    ///   temporary is removed on failure.
    func commit(durable: Bool) throws(BrineError) {
        precondition(!finished, "AtomicFile committed twice")
        // Again at the rename: a FIFO or device may have appeared meanwhile.
        do throws(BrineError) { try AtomicFile.checkReplaceable(destination) } catch { abort(); throw error }
        if durable, case .failure(let e) = fd.fsync() {
            abort()
            throw BrineError.system("fsync", errno: e.code, path: path)
        }
        finished = true
        defer { brine_temporary_unregister(temporary.string) }
        do { try fd.close() } catch {
            _ = Syscall.unlink(temporary)
            throw BrineError(.io, "close failed: \(error)", filePath: path)
        }
        let replaced = try renameOverDestination()
        defer { if let replaced { ReplacedFileRelease.release(replaced) } }
        if durable {
            let folder = destination.removingLastComponent()
            let dirPath = folder.isEmpty ? FilePath(".") : folder
            try FileDescriptor.fsyncDirectory(dirPath).orThrow("fsync of folder \(dirPath.string)", path: path)
        }
        AtomicFile.removeStrayTemporaries(of: destination)
    }

    /// `rename(2)`s the temporary over the destination, holding the file it
    /// replaces open across the rename and closing it in the background
    /// (``ReplacedFileRelease``), so that freeing the old file is not part
    /// of the save.
    /// - Returns: the replaced file's descriptor, for the caller to hand to
    ///   ``ReplacedFileRelease/release(_:)`` when the commit is done.
    /// - Throws: ``BrineError`` `.io`; the temporary is removed.
    private func renameOverDestination() throws(BrineError) -> CInt? {
        let replaced = ReplacedFileRelease.hold(destination.string)
        if case .failure(let e) = Syscall.rename(temporary, to: destination) {
            if let replaced { close(replaced) }
            _ = Syscall.unlink(temporary)
            throw BrineError.system("rename", errno: e.code, path: path)
        }
        return replaced
    }

    /// Closes and removes the temporary file. Safe to call more than once.
    func abort() {
        guard !finished else { return }
        finished = true
        try? fd.close()
        _ = Syscall.unlink(temporary)
        brine_temporary_unregister(temporary.string)
    }

    deinit { abort() }

    /// Removes `.<name>.brine-tmp.<pid>.*` files next to `destination` whose
    /// process no longer exists (left by saves that were killed).
    static func removeStrayTemporaries(of destination: FilePath) {
        guard let name = destination.lastComponent?.string else { return }
        let folder = destination.removingLastComponent()
        let dirPath = folder.isEmpty ? "." : folder.string
        let prefix = temporaryPrefix(for: name)
        guard let dir = opendir(dirPath) else { return }
        defer { closedir(dir) }
        var strays: [String] = []
        while let entry = readdir(dir) {
            let entryName = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard entryName.hasPrefix(prefix) else { continue }
            let rest = entryName.dropFirst(prefix.count)
            guard let dot = rest.firstIndex(of: "."), let pid = pid_t(rest[..<dot]) else { continue }
            if pid == getpid() { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                strays.append(entryName)
            }
        }
        for s in strays { _ = Syscall.unlink(folder.appending(s)) }
    }
}

/// Replaces the file at `path` with `bytes` through an ``AtomicFile``
/// (temporary, write, `fsync` when `durable`, rename, folder `fsync`): for
/// small one-shot outputs written from memory (a shard index, an ONNX model).
/// - Throws: ``BrineError`` `.notFound` (no folder), `.permissionDenied`,
///   `.resourceExhausted`, `.io`; the destination is unchanged on any error.
package func writeFileAtomically(_ bytes: [UInt8], to path: String, durable: Bool) throws(BrineError) {
    try AtomicFile.replace(at: RegularFile.exactPath(path), durable: durable) { file throws(BrineError) in
        try typedThrows { try bytes.withUnsafeBytes { b in try file.fd.pwriteFully(b, at: 0).orThrow("write", path: path) } }
    }
}

/// Replaces the file at `path` through an ``AtomicFile`` whose temporary a
/// library writes by its own path (libhdf5's `H5Fcreate`): `body` gets the
/// temporary's path and must have closed it when it returns; the temporary
/// is then `fsync`ed (when `durable`) and renamed over `path`.
/// - Throws: ``BrineError`` from creating the temporary (a destination that
///   is not a regular file is `.invalidArgument`), from `body`, or from the
///   commit; the destination is unchanged on any error.
package func replaceFileAtomically(at path: String, durable: Bool, _ body: (String) throws(BrineError) -> Void) throws(BrineError) {
    try AtomicFile.replace(at: RegularFile.exactPath(path), durable: durable) { file throws(BrineError) in
        try body(file.temporary.string)
    }
}
