import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Input files a reader is about to parse: only regular files, and never a
/// blocking open. `open(2)` of a FIFO for reading waits for a writer, and a
/// device can stream forever, so a path from a hostile caller or a swapped
/// file must be refused before anything waits on it.
package enum RegularFile {
    /// Opens `path` read-only with `O_NONBLOCK` (an open of a FIFO returns at
    /// once; reads of a regular file are unaffected) and checks with
    /// `fstat(2)` that it is a regular file. The caller closes the descriptor.
    /// - Parameter what: the file's role for messages ("the shard index").
    /// - Returns: the descriptor and the file's size in bytes.
    /// - Throws: ``BrineError`` `.notFound`, `.permissionDenied` (from
    ///   `open`), `.invalidArgument` when it is a FIFO, device, socket or
    ///   directory, `.io` when `fstat` fails.
    package static func openForReading(_ path: String, what: String = "the file") throws(BrineError) -> (fd: Int32, size: Int) {
        try checkPath(path)
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            let e = errno
            throw BrineError(BrineError.code(forErrno: e), "cannot open \(what): \(String(cString: strerror(e)))", filePath: path, errno: e)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw BrineError(.io, "cannot stat \(what)", filePath: path, errno: e)
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw notRegular(what, path)
        }
        return (fd, Int(st.st_size))
    }

    /// Checks, without opening it, that `path` names a regular file (after
    /// symbolic links), for libraries that open paths themselves (libhdf5,
    /// ZIPFoundation), where a FIFO would block their open.
    /// - Returns: the file's size in bytes.
    /// - Throws: ``BrineError`` `.notFound`, `.permissionDenied` (from
    ///   `stat`), `.invalidArgument` when it is not a regular file.
    @discardableResult
    package static func check(_ path: String, what: String = "the file") throws(BrineError) -> Int {
        try checkPath(path)
        var st = stat()
        guard stat(path, &st) == 0 else {
            let e = errno
            throw BrineError(BrineError.code(forErrno: e), "cannot read \(what): \(String(cString: strerror(e)))", filePath: path, errno: e)
        }
        guard st.st_mode & S_IFMT == S_IFREG else { throw notRegular(what, path) }
        return Int(st.st_size)
    }

    /// `path` as a `FilePath`, refusing a path with a NUL byte (``checkPath(_:)``):
    /// `FilePath` and every C function end a path at its first NUL.
    /// - Throws: ``BrineError`` `.invalidArgument`.
    package static func exactPath(_ path: String) throws(BrineError) -> FilePath {
        try checkPath(path)
        return FilePath(path)
    }

    /// Refuses a path with a NUL byte. The kernel takes a path as a C
    /// string, which ends at the first NUL: `"dir/model\0.bak"` names
    /// `dir/model`, another file than the caller's, which a save would
    /// replace and an open would read.
    /// - Throws: ``BrineError`` `.invalidArgument`.
    package static func checkPath(_ path: String) throws(BrineError) {
        guard path.utf8.contains(0) else { return }
        let shown = path.split(separator: "\u{0}", omittingEmptySubsequences: false).joined(separator: "\\0")
        throw BrineError(.invalidArgument, "the path contains a NUL byte: as a C string it would name another file (its part before the NUL)", filePath: shown)
    }

    /// The error for a path that names a directory, FIFO, device or socket
    /// (`.invalidArgument`), shared by every reader that checks it.
    static func notRegular(_ what: String, _ path: String) -> BrineError {
        BrineError(.invalidArgument, "\(what) is not a regular file (a FIFO, device, socket or directory cannot be read as one)", filePath: path)
    }
}
