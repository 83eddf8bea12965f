/// Chunk decoding from stored bytes, wherever they came from: a file read, a
/// mapping, or a network response (``RangedBrineFile``). The one decoder of
/// docs/FORMAT.md "Decoding a chunk" (``BrineFile`` calls it too).
extension ArrayInfo {
    /// Verifies (when `verify`) and decodes chunk `c` from its stored bytes
    /// into its place in `destination` (``decodedRange(ofChunk:)``).
    /// - Parameters:
    ///   - stored: exactly the chunk's stored bytes (``Chunk/storedBytes``).
    ///   - destination: the array's decoded bytes (or the part of them that
    ///     holds chunk `c`), addressed by offsets in the whole array.
    ///   - filePath: for error messages.
    /// - Throws: ``BrineError`` `.checksumMismatch`, `.decompressionFailed`,
    ///   naming the array, chunk and byte offset.
    func decodeChunk(
        _ c: Int, stored: UnsafeRawBufferPointer, into destination: BoundedBytes,
        scratch: ChunkScratch, verify: Bool, filePath: String?
    ) throws(BrineError) {
        let offset = chunks[c].offset
        let rawLen = rawRange(ofChunk: c).count
        let sis = storedDType.itemSize
        let elements = rawLen / sis
        let target = destination.mutableBytes(decodedRange(ofChunk: c))
        func fail(_ code: BrineError.Code, _ msg: String) -> BrineError {
            BrineError(code, msg, filePath: filePath, arrayPath: path, chunkIndex: c, byteOffset: UInt64(offset))
        }
        guard stored.count == chunks[c].storedBytes else {
            throw fail(.truncated, "got \(stored.count) stored bytes for a chunk of \(chunks[c].storedBytes)")
        }
        if verify {
            let sum = Checksum.xxh3(stored)
            guard sum == chunks[c].checksum else {
                throw fail(.checksumMismatch, "chunk checksum mismatch (stored \(hex(chunks[c].checksum)), computed \(hex(sum)))")
            }
        }
        let narrowed = storedDType != dtype
        let shuffled = filter == .shuffle
        // A raw chunk (format 1.1) is stored as with codec none.
        let codec = chunks[c].isRaw ? Codec.none : self.codec
        do throws(BrineError) {
            if !shuffled && !narrowed {
                try scratch.context.decompress(codec, stored, into: target)
                return
            }
            // Decompress (or take the stored bytes as they are), unshuffle, widen.
            var raw = stored
            if codec.compresses {
                let out = scratch.raw(rawLen)
                try scratch.context.decompress(codec, stored, into: out)
                raw = UnsafeRawBufferPointer(out)
            } else if stored.count != rawLen {
                throw BrineError(.decompressionFailed, "stored chunk of \(stored.count) bytes, expected \(rawLen)")
            }
            if shuffled {
                let out = narrowed
                    ? scratch.unshuffled(rawLen)
                    : target
                ByteShuffle.unshuffle(raw, into: out, elementSize: sis)
                raw = UnsafeRawBufferPointer(out)
            }
            if narrowed {
                FloatConversion.widen(raw.baseAddress!, stored: storedDType, to: target.baseAddress!, count: elements)
            }
        } catch {
            throw fail(error.code, error.message)
        }
    }

    /// Checks chunk `c`'s checksum over stored bytes that already sit at
    /// their final place (an uncompressed array fetched straight into its
    /// destination).
    /// - Throws: ``BrineError`` `.checksumMismatch`.
    func verifyChunk(_ c: Int, stored: UnsafeRawBufferPointer, filePath: String?) throws(BrineError) {
        let sum = Checksum.xxh3(stored)
        guard sum == chunks[c].checksum else {
            throw BrineError(.checksumMismatch, "chunk checksum mismatch (stored \(hex(chunks[c].checksum)), computed \(hex(sum)))",
                             filePath: filePath, arrayPath: path, chunkIndex: c, byteOffset: UInt64(chunks[c].offset))
        }
    }
}
