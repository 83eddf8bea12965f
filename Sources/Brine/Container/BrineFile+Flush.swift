import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension BrineFile {
    /// Writes the changes made through views of a read-write session's
    /// mapping to the file, crash-safely (docs/FORMAT.md, "Read-write
    /// sessions and the journal").
    ///
    /// The mapping of ``LoadMode/mmapReadWrite`` is private: changes reach the
    /// file only here, and a handle released without a flush leaves the file
    /// as it was. A flush finds the chunks of uncompressed arrays whose bytes
    /// differ from their checksums (hashing every such chunk on all cores),
    /// then:
    /// - **in place**, when no other open of the file holds its data lock:
    ///   write the new chunk bytes, the header (same length: checksums are
    ///   fixed-width) and the trailer to the journal `<file>-journal`,
    ///   `fsync` it, write them into the file, `fsync`, remove the journal.
    ///   A crash at any point leaves the file as before the flush or after it:
    ///   the next open of any mode replays a complete journal.
    /// - **by atomic re-save**, when another open (a reader in this or another
    ///   process, a mapping or a view of one) holds the file: the whole file,
    ///   with the changes, goes to a temporary file that is `fsync`ed and
    ///   renamed over the path, so readers keep the complete old file.
    ///
    /// Only views of the mapping are seen here: decoded copies (compressed,
    /// shuffled or narrowed arrays, Swift arrays) are not; ``BrineModel/flush()``
    /// handles those.
    ///
    /// - Returns: the number of chunks whose checksum changed (0: nothing was written).
    /// - Throws: ``BrineError`` `.readOnly` unless the file was opened with
    ///   ``LoadMode/mmapReadWrite``; `.conflict` when the file at the path was
    ///   replaced since the session opened it (nothing is written); `.io` when
    ///   a write or `fsync` fails (if it fails after the journal was
    ///   `fsync`ed, the next open completes the flush); `.corruptHeader` when
    ///   the header is not in the canonical encoding.
    @discardableResult
    public func flush() throws(BrineError) -> Int {
        guard let session, case .mapping(let m) = source.backing, let base = m.baseAddress else {
            throw BrineError(.readOnly, "flush needs a file opened with mode .mmapReadWrite (opened as \(mode))", filePath: path)
        }
        return try session.serial.withLock { (_: inout ()) throws(BrineError) -> Int in
            guard FileIdentity.of(path: path) == session.identity else {
                throw BrineError(.conflict, "the file at this path was replaced (or removed) since the read-write session opened it; flush writes nothing. Save the model with Brine.save to keep this session's changes", filePath: path)
            }
            let infos = arrays
            let dirty = try dirtyChunks(infos, base: base)
            guard !dirty.isEmpty else { return 0 }
            try checkUnchangedInFile(dirty, infos, fd: session.fd)
            var updated = infos
            for d in dirty { updated[d.array] = updated[d.array].replacingChecksum(d.checksum, ofChunk: d.chunk) }
            let header = Header(metadata: metadata, arrays: updated, root: root, minorVersion: formatVersion.minor).encoded()
            guard header.count == headerLength else {
                throw BrineError(.corruptHeader, "the header is not in canonical encoding (\(headerLength) bytes, re-encoded \(header.count)); cannot rewrite checksums in place", filePath: path, byteOffset: UInt64(headerOffset))
            }
            let trailer = Trailer(
                headerOffset: UInt64(headerOffset), headerLength: UInt64(headerLength),
                headerChecksum: Checksum.xxh3(header), fileLength: UInt64(fileSize),
                major: formatVersion.major, minor: formatVersion.minor, flags: 0
            ).encoded()
            let trailerAt = fileSize - FormatSpec.trailerSize
            let oldTrailer = Array(UnsafeRawBufferPointer(start: base + trailerAt, count: FormatSpec.trailerSize))

            var exclusive = false
            if session.locksSupported {
                switch try FileLock.attempt(session.fd, .exclusive, at: FileLock.dataOffset, path: path) {
                case .acquired: exclusive = true
                case .busy: exclusive = false
                case .unsupported: session.locksSupported = false
                }
            }
            if session.locksSupported && !exclusive {
                try resaveCopy(session: session, base: base, header: header, trailer: trailer)
            } else {
                defer { if exclusive { _ = try? FileLock.attempt(session.fd, .shared, at: FileLock.dataOffset, path: path) } }
                try writeInPlace(session: session, base: base, dirty: dirty, infos: infos, header: header, trailer: trailer, oldTrailer: oldTrailer)
            }
            // The mapping's own header and trailer now match the file.
            header.withUnsafeBytes { (base + headerOffset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            trailer.withUnsafeBytes { (base + trailerAt).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            table.withLock { $0 = updated }
            return dirty.count
        }
    }

    /// The chunks of uncompressed arrays whose mapped bytes no longer match
    /// their checksum, with the new checksum, in file order.
    private func dirtyChunks(_ infos: [ArrayInfo], base: UnsafeMutableRawPointer) throws(BrineError) -> [(array: Int, chunk: Int, checksum: UInt64)] {
        var work: [(array: Int, chunk: Int)] = []
        for (k, a) in infos.enumerated() where a.isContiguousRaw {
            for c in 0 ..< a.chunkCount { work.append((k, c)) }
        }
        let sums = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: Swift.max(1, work.count))
        defer { sums.deallocate() }
        let out = UncheckedSendable(sums)
        let start = UncheckedSendable(base)
        try parallelFor(count: work.count, threads: Swift.max(1, Swift.min(options.threads, work.count))) { (_, i) throws(BrineError) in
            let chunk = infos[work[i].array].chunk(work[i].chunk)
            out.value[i] = Checksum.xxh3(UnsafeRawBufferPointer(start: start.value + chunk.offset, count: chunk.storedBytes))
        }
        var dirty: [(array: Int, chunk: Int, checksum: UInt64)] = []
        for (i, w) in work.enumerated() where sums[i] != infos[w.array].chunk(w.chunk).checksum {
            dirty.append((w.array, w.chunk, sums[i]))
        }
        return dirty.sorted { infos[$0.array].chunk($0.chunk).offset < infos[$1.array].chunk($1.chunk).offset }
    }

    /// Checks that the file still holds, for every dirty chunk, the bytes its
    /// old checksum names. A private mapping shows the file's current bytes on
    /// the pages this process never wrote, so bytes changed in the file since
    /// the open (by a writer that ignores the locks, or damage) look like
    /// changes of the session; a flush must not give them fresh checksums.
    /// - Throws: ``BrineError`` `.checksumMismatch` naming the array and chunk; `.io`.
    private func checkUnchangedInFile(_ dirty: [(array: Int, chunk: Int, checksum: UInt64)], _ infos: [ArrayInfo], fd: FileDescriptor) throws(BrineError) {
        let p = path
        try parallelFor(count: dirty.count, threads: Swift.max(1, Swift.min(options.threads, dirty.count))) { (_, i) throws(BrineError) in
            let a = infos[dirty[i].array]
            let c = a.chunk(dirty[i].chunk)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(1, c.storedBytes), alignment: 64)
            defer { buffer.deallocate() }
            let b = UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< c.storedBytes])
            let n = try fd.preadFully(b, at: Int64(c.offset)).orThrow("read", path: p)
            let sum = Checksum.xxh3(UnsafeRawBufferPointer(b))
            guard n == c.storedBytes, sum == c.checksum else {
                throw BrineError(.checksumMismatch, "the file's bytes of this chunk changed since the read-write session opened it (another writer or damage: stored \(hex(c.checksum)), file \(hex(sum))); flush writes nothing rather than re-certify them", filePath: p, arrayPath: a.path, chunkIndex: dirty[i].chunk, byteOffset: UInt64(c.offset))
            }
        }
    }

    /// Journal, write in place, `fsync`, remove the journal.
    private func writeInPlace(
        session: ReadWriteSession, base: UnsafeMutableRawPointer, dirty: [(array: Int, chunk: Int, checksum: UInt64)],
        infos: [ArrayInfo], header: [UInt8], trailer: [UInt8], oldTrailer: [UInt8]
    ) throws(BrineError) {
        var regions: [(offset: Int, bytes: UnsafeRawBufferPointer)] = []
        func add(_ offset: Int, _ bytes: UnsafeRawBufferPointer) {
            var at = 0
            while at < bytes.count {
                let n = Swift.min(Journal.maxRegionBytes, bytes.count - at)
                regions.append((offset + at, UnsafeRawBufferPointer(rebasing: bytes[at ..< at + n])))
                at += n
            }
        }
        for d in dirty {
            let c = infos[d.array].chunk(d.chunk)
            add(c.offset, UnsafeRawBufferPointer(start: base + c.offset, count: c.storedBytes))
        }
        let journalPath = Journal.path(for: path)
        try typedThrows { try header.withUnsafeBytes { h in
            try trailer.withUnsafeBytes { t in
                add(headerOffset, h)
                add(fileSize - FormatSpec.trailerSize, t)
                var st = stat()
                let mode: mode_t = fstat(session.fd.rawValue, &st) == 0 ? st.st_mode & 0o777 : 0o600
                try Journal.write(to: journalPath, fileSize: fileSize, target: session.identity, oldTrailer: oldTrailer, newTrailer: trailer, regions: regions, readableAs: mode)
                // From here on the flush is committed: the next open replays the journal.
                for r in regions {
                    try session.fd.pwriteFully(r.bytes, at: Int64(r.offset)).orThrow("writing the flush into the file (the journal \(journalPath) completes it on the next open)", path: path)
                }
            }
        } }
        try session.fd.fsync().orThrow("fsync (the journal \(journalPath) completes the flush on the next open)", path: path)
        try Syscall.unlink(journalPath).orThrow("removing the journal \(journalPath) (the file is complete; the next open removes it)", path: path)
        try Journal.syncFolder(of: journalPath)
    }

    /// Writes the whole mapped file with the new header and trailer to a
    /// temporary file, `fsync`s it and renames it over the path; the session
    /// then writes to the new file (whose locks it takes before the rename).
    private func resaveCopy(session: ReadWriteSession, base: UnsafeMutableRawPointer, header: [UInt8], trailer: [UInt8]) throws(BrineError) {
        let file = try AtomicFile(destination: RegularFile.exactPath(path))
        let out = file.fd
        let p = path
        try out.pwriteFully(UnsafeRawBufferPointer(start: base, count: headerOffset), at: 0).orThrow("write", path: p)
        try typedThrows { try header.withUnsafeBytes { try out.pwriteFully($0, at: Int64(headerOffset)).orThrow("write", path: p) } }
        try typedThrows { try trailer.withUnsafeBytes { try out.pwriteFully($0, at: Int64(fileSize - FormatSpec.trailerSize)).orThrow("write", path: p) } }
        let next: FileDescriptor
        switch out.duplicateCloseOnExec() {
        case .success(let d): next = d
        case .failure(let e):
            file.abort()
            throw BrineError.system("dup", errno: e.code, path: path)
        }
        _ = try? FileLock.attempt(next, .exclusive, at: FileLock.sessionOffset, path: path)
        _ = try? FileLock.attempt(next, .shared, at: FileLock.dataOffset, path: path)
        guard let identity = FileIdentity.of(next) else {
            let e = errno
            try? next.close()
            file.abort()
            throw BrineError.system("fstat", errno: e, path: path)
        }
        do throws(BrineError) {
            try file.commit(durable: true)
        } catch {
            try? next.close()
            throw error
        }
        try? session.fd.close()
        session.fd = next
        session.identity = identity
    }
}
