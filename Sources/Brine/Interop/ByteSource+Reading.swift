extension ByteSource {
    /// Runs `body` (a reader parsing this source) and tags an error it
    /// throws with this source's path (``BrineError/filePath``), so that
    /// every interop reader's errors name the file the same way.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws, with the file path set.
    func taggingErrors<T>(_ body: () throws(BrineError) -> T) throws(BrineError) -> T {
        do throws(BrineError) {
            return try body()
        } catch {
            throw error.inFile(path)
        }
    }

    /// Opens the file at `path` in `mode` and runs `body` on it, tagging an
    /// error it throws with the path (see ``taggingErrors(_:)``). The
    /// interop readers that parse a whole file in one call (`.npy`, pickle)
    /// open files through this.
    /// - Returns: what `body` returns.
    /// - Throws: ``BrineError`` `.notFound`, `.invalidArgument` (not a regular file), `.io`, `.limitExceeded` from
    ///   opening (see ``init(path:mode:)``), and what `body` throws.
    static func reading<T>(_ path: String, mode: LoadMode, _ body: (ByteSource) throws(BrineError) -> T) throws(BrineError) -> T {
        let source = try ByteSource(path: path, mode: mode)
        return try source.taggingErrors { () throws(BrineError) in try body(source) }
    }
}
