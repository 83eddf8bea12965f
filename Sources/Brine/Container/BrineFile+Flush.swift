extension BrineFile {
    /// Writes changes made through views of a read-write mapping back to the
    /// file and makes the file verify again: syncs the mapped data
    /// (`msync(2)`, `MS_SYNC`), recomputes the XXH3-64 checksum of every chunk
    /// of every uncompressed array, and, where one changed, rewrites the
    /// header's checksum fields and the trailer in place (the header keeps its
    /// length: checksums are fixed-width), then syncs again.
    ///
    /// Like NumPy's `memmap.flush()`, this is not atomic: a crash between the
    /// data sync and the header rewrite leaves chunks whose checksums fail
    /// `brine verify`. Use ``Brine/save(_:to:options:)`` for atomic updates.
    ///
    /// - Returns: the number of chunks whose checksum changed.
    /// - Throws: ``BrineError`` `.readOnly` unless the file was opened with
    ///   ``LoadMode/mmapReadWrite``; `.io` when `msync` fails; `.corruptHeader`
    ///   when the header is not in the canonical encoding and cannot be
    ///   rewritten in place.
    @discardableResult
    public func flush() throws(BrineError) -> Int {
        guard mode == .mmapReadWrite, case .mapping(let m) = source.backing, let base = m.baseAddress else {
            throw BrineError(.readOnly, "flush needs a file opened with mode .mmapReadWrite (opened as \(mode))", filePath: path)
        }
        try m.sync(path: path)
        return try table.withLock { (infos: inout [ArrayInfo]) throws(BrineError) -> Int in
            var changed = 0
            var updated = infos
            for (k, a) in infos.enumerated() where a.isContiguousRaw {
                var current = a
                for c in 0 ..< a.chunkCount {
                    let lo = a.chunks[c].offset
                    let sum = Checksum.xxh3(UnsafeRawBufferPointer(rebasing: m.bytes[lo ..< lo + a.chunks[c].storedBytes]))
                    if sum != current.chunks[c].checksum {
                        current = current.replacingChecksum(sum, ofChunk: c)
                        changed += 1
                    }
                }
                updated[k] = current
            }
            guard changed > 0 else { return 0 }
            let header = Header(metadata: metadata, arrays: updated, root: root, minorVersion: formatVersion.minor).encoded()
            guard header.count == headerLength else {
                throw BrineError(.corruptHeader, "the header is not in canonical encoding (\(headerLength) bytes, re-encoded \(header.count)); cannot rewrite checksums in place", filePath: path, byteOffset: UInt64(headerOffset))
            }
            let trailer = Trailer(
                headerOffset: UInt64(headerOffset), headerLength: UInt64(headerLength),
                headerChecksum: Checksum.xxh3(header), fileLength: UInt64(fileSize),
                major: formatVersion.major, minor: formatVersion.minor, flags: 0
            ).encoded()
            header.withUnsafeBytes { (base + headerOffset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            trailer.withUnsafeBytes { (base + fileSize - FormatSpec.trailerSize).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            try m.sync(offset: headerOffset, length: fileSize - headerOffset, path: path)
            infos = updated
            return changed
        }
    }
}
