import CBrineZlib
import Foundation
import SystemPackage
import ZIPFoundation

/// One array of a `.npz` archive.
public struct NpzMember: Sendable, Hashable {
    /// The array name as `numpy.load` gives it: the member name without `.npy`.
    public let name: String
    /// The zip member name (`name + ".npy"`).
    public let memberName: String
    /// `true` for deflated members (`np.savez_compressed`), `false` for stored ones (`np.savez`).
    public let isCompressed: Bool
    /// The member's size in the archive, in bytes.
    public let compressedSize: Int
    /// The size of the member's `.npy` bytes (header and data), in bytes.
    public let uncompressedSize: Int
}

/// A NumPy `.npz` archive opened for reading: a zip archive whose members
/// are `.npy` files (spec: `numpy.savez`, `numpy.lib.format`, and PKWARE's
/// APPNOTE for the zip container).
///
/// Opening reads and validates the zip directory only (every offset and size
/// checked against the file; duplicate, non-UTF-8 and non-`.npy` member names
/// refused). Members are read when asked for: stored members (`np.savez`)
/// with one `pread(2)` for the data, deflated members (`np.savez_compressed`)
/// inflated by zlib straight into the tensor, from input bounded by the
/// member's compressed size. A member must decode to exactly its declared
/// size, and its `.npy` header must describe exactly that many bytes, before
/// anything is allocated; inflating stops at the declared size (zip bombs
/// stop there). CRC-32s are verified (``InteropReadOptions/verifyZipChecksums``).
///
/// The zip directory is read by Brine's own strict reader and members are
/// inflated with zlib directly rather than through ZIPFoundation, whose
/// `Archive.extract` loops forever on a truncated deflate stream and whose
/// `Data.decompress` hands zlib `bufferSize` input bytes even when the last
/// chunk is shorter (an out-of-bounds read on damaged input, found by ASan).
/// ZIPFoundation writes `.npz` archives (``Npz/write(_:to:compression:options:)``).
///
/// Thread safety: all methods may be called from several threads at once
/// (every field is immutable after init).
public final class NpzFile: Sendable {
    /// The file path (`"<memory>"` for a buffer).
    public var path: String { source.path ?? "<memory>" }
    /// The arrays in archive order (the order `np.savez` wrote them).
    public let members: [NpzMember]

    private let zipMembers: [ZipMember]
    /// Positions by name: exact code points first (see ``NameIndex``).
    private let index: NameIndex
    private let source: ByteSource
    private let options: InteropReadOptions

    /// The array names in archive order.
    public var names: [String] { members.map(\.name) }

    /// The archive's size in bytes (the buffer's for bytes read from memory).
    public var fileSize: Int { source.size }

    /// Opens a `.npz` archive.
    /// - Parameters:
    ///   - url: a file URL.
    ///   - options: caps, CRC verification, threads.
    /// - Throws: ``BrineError`` `.notFound`, `.invalidArgument` (not a regular file), `.io`; `.invalidInterop` (not a
    ///   zip archive, inconsistent directory, a member that is not `.npy`,
    ///   duplicate or non-UTF-8 names, sizes that lie); `.truncated`;
    ///   `.limitExceeded` (more members than ``ReadLimits/maxArrays``);
    ///   `.unsupportedFeature` (encryption, multi-disk archives, methods other
    ///   than stored and deflated).
    public convenience init(contentsOf url: URL, options: InteropReadOptions = .init()) throws(BrineError) {
        try self.init(source: ByteSource(path: url.path, mode: .copy), options: options)
    }

    /// Opens a `.npz` archive held in memory (the bytes are copied once).
    /// - Throws: see ``init(contentsOf:options:)``.
    public convenience init(bytes: UnsafeRawBufferPointer, options: InteropReadOptions = .init()) throws(BrineError) {
        try self.init(source: ByteSource(copying: bytes), options: options)
    }

    private init(source: ByteSource, options: InteropReadOptions) throws(BrineError) {
        self.source = source
        self.options = options
        let zip = try source.taggingErrors { () throws(BrineError) in try ZipDirectory.read(source, maxMembers: options.limits.maxArrays) }
        var members: [NpzMember] = []
        var index = NameIndex()
        for (i, m) in zip.enumerated() {
            guard m.name.hasSuffix(".npy") else {
                throw BrineError(.invalidInterop, "zip member '\(m.name)' is not a .npy array, so this is not a NumPy .npz archive",
                                 filePath: source.path, arrayPath: m.name, byteOffset: UInt64(m.localHeaderOffset))
            }
            let name = String(m.name.dropLast(4))
            members.append(NpzMember(name: name, memberName: m.name, isCompressed: !m.isStored,
                                     compressedSize: m.compressedSize, uncompressedSize: m.uncompressedSize))
            index.insert(name, at: i)
        }
        self.zipMembers = zip
        self.members = members
        self.index = index
    }

    /// Loads one array.
    /// - Returns: the array in C order, little-endian, in memory Brine owns.
    /// - Throws: ``BrineError`` `.arrayNotFound`; `.invalidInterop` (bad `.npy`
    ///   member, corrupt deflate data, a member whose sizes lie);
    ///   `.checksumMismatch` (CRC-32); `.truncated`; `.limitExceeded` (a
    ///   decoded size over ``ReadLimits/maxAllocationBytes``, a header or rank
    ///   over its cap); `.unsupportedDType`; `.io`.
    public func tensor(_ name: String) throws(BrineError) -> AnyTensor {
        guard let i = index[name] else {
            throw BrineError(.arrayNotFound, "no array with this name", filePath: path, arrayPath: name)
        }
        return try load(i)
    }

    /// Loads every array, members in parallel.
    /// - Returns: the arrays in archive order.
    /// - Throws: see ``tensor(_:)``.
    public func loadAll() throws(BrineError) -> [(name: String, tensor: AnyTensor)] {
        let threads = Swift.max(1, Swift.min(options.threads, members.count))
        let tensors = try loadInParallel(count: members.count, threads: threads) { (i) throws(BrineError) in try load(i) }
        return zip(members, tensors).map { ($0.name, $1) }
    }

    // MARK: Reading members

    private func load(_ i: Int) throws(BrineError) -> AnyTensor {
        let m = zipMembers[i]
        do throws(BrineError) {
            return m.isStored ? try loadStored(m) : try loadDeflated(m)
        } catch {
            var e = error.inFile(source.path)
            e.arrayPath = members[i].name
            if !e.message.hasPrefix("member ") { e.message = "member '\(m.name)': " + e.message }
            if e.byteOffset == nil { e.byteOffset = UInt64(m.localHeaderOffset) }
            throw e
        }
    }

    /// Checks a member's `.npy` header against the member's declared size.
    private func checkSizes(_ h: NpyHeader, _ m: ZipMember) throws(BrineError) {
        let (total, o) = h.dataOffset.addingReportingOverflow(h.byteCount)
        guard !o, total == m.uncompressedSize else {
            throw BrineError(.invalidInterop, "the .npy header describes \(h.dataOffset) + \(h.byteCount) bytes but the zip directory declares \(m.uncompressedSize): the sizes lie")
        }
        guard h.byteCount <= options.limits.maxAllocationBytes else {
            throw BrineError(.limitExceeded, "array of \(h.byteCount) bytes is over the allocation limit of \(options.limits.maxAllocationBytes)")
        }
    }

    private func loadStored(_ m: ZipMember) throws(BrineError) -> AnyTensor {
        let size = m.uncompressedSize
        let first = try source.read(m.dataOffset, Swift.min(size, 12))
        var headerTotal = first.count
        if let p = first.withUnsafeBytes({ Npy.prefixLength($0) }), first.count >= p {
            var len = 0
            for k in 0 ..< (p - 8) { len |= Int(first[8 + k]) << (8 * k) }
            headerTotal = p + Swift.min(len, options.maxNpyHeaderBytes + 1)
        }
        let head = try source.read(m.dataOffset, Swift.min(size, headerTotal))
        let h = try parseMemberHeader(head, size: size)
        try checkSizes(h, m)
        let raw = TensorStorage(uninitializedByteCount: h.byteCount)
        try source.read(into: UnsafeMutableRawBufferPointer(start: raw.baseAddress, count: h.byteCount), at: m.dataOffset + h.dataOffset)
        if options.verifyZipChecksums {
            var crc = head.withUnsafeBytes { crc32(UnsafeRawBufferPointer(rebasing: $0[0 ..< h.dataOffset]), 0) }
            crc = crc32(raw.bytes, crc)
            try checkCRC(crc, m)
        }
        return try Npy.toNative(raw, header: h)
    }

    private func parseMemberHeader(_ head: [UInt8], size: Int) throws(BrineError) -> NpyHeader {
        try typedThrows {
            try head.withUnsafeBytes { b in
                try Npy.parseHeader(b, totalSize: size, maxHeaderBytes: options.maxNpyHeaderBytes, maxRank: options.limits.maxRank)
            }
        }
    }

    private func checkCRC(_ crc: UInt32, _ m: ZipMember) throws(BrineError) {
        guard crc == m.crc32 else {
            throw BrineError(.checksumMismatch, "CRC-32 mismatch (zip directory \(hex32(m.crc32)), computed \(hex32(crc)))")
        }
    }

    private func loadDeflated(_ m: ZipMember) throws(BrineError) -> AnyTensor {
        let inflater = try Inflater(source: source, member: m, crc: options.verifyZipChecksums)
        let size = m.uncompressedSize
        // The .npy preamble tells the header length; then the header; then the data,
        // inflated straight into the tensor's storage.
        var head = [UInt8](repeating: 0, count: Swift.min(size, 12))
        try inflater.fill(&head, from: 0)
        if let p = head.withUnsafeBytes({ Npy.prefixLength($0) }), head.count >= p {
            var len = 0
            for k in 0 ..< (p - 8) { len |= Int(head[8 + k]) << (8 * k) }
            let total = Swift.min(size, p + Swift.min(len, options.maxNpyHeaderBytes + 1))
            if total > head.count {
                let have = head.count
                head += [UInt8](repeating: 0, count: total - have)
                try inflater.fill(&head, from: have)
            }
        }
        let h = try parseMemberHeader(head, size: size)
        try checkSizes(h, m)
        // The header ends exactly at dataOffset (checkSizes: dataOffset + byteCount == size).
        let raw = TensorStorage(uninitializedByteCount: h.byteCount)
        try inflater.inflate(into: UnsafeMutableRawBufferPointer(start: raw.baseAddress, count: h.byteCount))
        try inflater.finish()
        if options.verifyZipChecksums { try checkCRC(inflater.crc, m) }
        return try Npy.toNative(raw, header: h)
    }

    /// Inflates one deflated member with zlib, reading exactly its compressed
    /// bytes (1 MiB at a time) and writing exactly where it is told: never
    /// past the output it is given, never past the member's input.
    private final class Inflater {
        private var stream = z_stream()
        private let source: ByteSource
        private let member: ZipMember
        private let input: UnsafeMutableRawBufferPointer
        private var consumed = 0
        private var ended = false
        private let computeCRC: Bool
        /// The CRC-32 of everything inflated so far.
        private(set) var crc: UInt32 = 0
        /// The bytes inflated so far.
        private(set) var produced = 0

        init(source: ByteSource, member: ZipMember, crc: Bool) throws(BrineError) {
            self.source = source
            self.member = member
            self.computeCRC = crc
            self.input = .allocate(byteCount: Swift.max(1, Swift.min(1 << 20, member.compressedSize)), alignment: 64)
            // Raw deflate (no zlib header), as zip stores it.
            // Every stored property is set: a throw from here runs `deinit`,
            // which frees `input` (and `inflateEnd` refuses a stream whose init failed).
            guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw BrineError(.io, "zlib inflateInit2 failed")
            }
        }

        deinit {
            inflateEnd(&stream)
            input.deallocate()
        }

        func fill(_ bytes: inout [UInt8], from start: Int) throws(BrineError) {
            try typedThrows {
                try bytes.withUnsafeMutableBytes { b in try inflate(into: UnsafeMutableRawBufferPointer(rebasing: b[start...])) }
            }
        }

        /// Fills `out` completely with the next inflated bytes.
        func inflate(into out: UnsafeMutableRawBufferPointer) throws(BrineError) {
            var done = 0
            while done < out.count {
                guard !ended else {
                    throw BrineError(.invalidInterop, "inflates to \(produced) bytes but the zip directory declares \(member.uncompressedSize): the sizes lie")
                }
                let piece = Swift.min(out.count - done, 1 << 30)
                let dst = out.baseAddress! + done
                stream.next_out = dst.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(piece)
                try step()
                let n = piece - Int(stream.avail_out)
                if computeCRC && n > 0 { crc = crc32(UnsafeRawBufferPointer(start: dst, count: n), crc) }
                done += n
                produced += n
            }
        }

        /// One call of `inflate`, refilling the input first when it is empty.
        private func step() throws(BrineError) {
            if stream.avail_in == 0 {
                let remaining = member.compressedSize - consumed
                guard remaining > 0 else {
                    throw BrineError(.invalidInterop, "the deflate stream does not end within the member's \(member.compressedSize) compressed bytes")
                }
                let k = Swift.min(input.count, remaining)
                try source.read(into: UnsafeMutableRawBufferPointer(rebasing: input[0 ..< k]), at: member.dataOffset + consumed)
                consumed += k
                stream.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_in = uInt(k)
            }
            let r = CBrineZlib.inflate(&stream, Z_NO_FLUSH)
            switch r {
            case Z_OK: break
            case Z_STREAM_END: ended = true
            case Z_BUF_ERROR: break  // no progress possible with this input: the next step refills it
            default:
                throw BrineError(.invalidInterop, "corrupt deflate data (zlib error \(r))")
            }
        }

        /// Checks that the stream ends here, exactly at the member's declared
        /// size, and that no compressed bytes follow it.
        func finish() throws(BrineError) {
            var extra: UInt8 = 0
            while !ended {
                try withUnsafeMutablePointer(to: &extra) { (p) throws(BrineError) in
                    stream.next_out = p
                    stream.avail_out = 1
                    try step()
                    if stream.avail_out == 0 {
                        throw BrineError(.invalidInterop, "inflates to more than the \(member.uncompressedSize) bytes the zip directory declares: the sizes lie")
                    }
                }
            }
            let left = member.compressedSize - consumed + Int(stream.avail_in)
            guard left == 0 else {
                throw BrineError(.invalidInterop, "\(left) compressed bytes follow the end of the deflate stream: the sizes lie")
            }
        }
    }
}

private func hex32(_ v: UInt32) -> String { "0x" + String(v, radix: 16).leftPad(8) }

/// The CRC-32 (ISO-HDLC, as zip uses) of `bytes` continuing from `crc`, by zlib's `crc32_z`.
func crc32(_ bytes: UnsafeRawBufferPointer, _ crc: UInt32) -> UInt32 {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
    return UInt32(truncatingIfNeeded: crc32_z(UInt(crc), base.assumingMemoryBound(to: UInt8.self), bytes.count))
}

/// The NumPy `.npz` writer (spec: `numpy.savez` / `numpy.savez_compressed`).
public enum Npz {
    /// How members are stored in the zip archive.
    public enum Compression: Sendable, Hashable {
        /// Stored uncompressed, as `np.savez` (default).
        case stored
        /// Deflated, as `np.savez_compressed`.
        case deflated
    }

    /// Writes arrays as a `.npz` archive, atomically (temporary file,
    /// `fsync`, `rename(2)`): member `name + ".npy"` for each array, in the
    /// given order, each a `.npy` exactly as ``Npy/write(_:to:options:)``
    /// writes it. `numpy.load` reads the result. The zip container is
    /// written by ZIPFoundation.
    /// - Parameters:
    ///   - tensors: the arrays and their names (unique).
    ///   - url: the destination file URL; its folder must exist.
    ///   - compression: stored (default) or deflated.
    ///   - options: bfloat16 policy and durability.
    /// - Throws: ``BrineError`` `.invalidArgument` (duplicate name, a name
    ///   with a NUL byte, or two names `x` and `x.npy`, which `numpy.load`
    ///   cannot tell apart),
    ///   `.unsupportedDType` (bfloat16 with policy `.reject`), `.notFound`, `.io`.
    public static func write(
        _ tensors: [(name: String, tensor: AnyTensor)], to url: URL, compression: Compression = .stored,
        options: NpyWriteOptions = .init()
    ) throws(BrineError) {
        let path = url.path
        var seen = Set<ExactName>()
        var encoded: [(member: String, header: [UInt8], data: TensorStorage)] = []
        for (name, t) in tensors {
            guard seen.insert(ExactName(name)).inserted else {
                throw BrineError(.invalidArgument, "duplicate array name", filePath: path, arrayPath: name)
            }
            // Python's zipfile (and so numpy.load) cuts a member name at a NUL.
            guard !name.utf8.contains(0) else {
                throw BrineError(.invalidArgument, "a .npz cannot keep an array name with a NUL byte (numpy.load would read it cut at the NUL)", filePath: path, arrayPath: name)
            }
            let (h, d) = try Npy.encoded(t, options: options, path: path, name: name)
            encoded.append((name + ".npy", h, d))
        }
        // numpy.load looks a key up as a member name first, then with ".npy"
        // added: with arrays "x" and "x.npy" (members "x.npy", "x.npy.npy"),
        // archive["x.npy"] would return the array "x".
        for (name, _) in tensors where name.hasSuffix(".npy") && seen.contains(ExactName(String(name.dropLast(4)))) {
            throw BrineError(.invalidArgument, "arrays \"\(name.dropLast(4))\" and \"\(name)\" would be ambiguous in a .npz (numpy.load returns the first for the key \"\(name)\"); rename one", filePath: path, arrayPath: name)
        }
        try AtomicFile.replace(at: RegularFile.exactPath(path), durable: options.durable) { file throws(BrineError) in
            // An empty archive (just the end-of-central-directory record) for ZIPFoundation to update.
            var eocd = [UInt8](repeating: 0, count: 22)
            eocd[0] = 0x50; eocd[1] = 0x4B; eocd[2] = 0x05; eocd[3] = 0x06
            let fd = file.fd
            try typedThrows { try eocd.withUnsafeBytes { b in try fd.pwriteFully(b, at: 0).orThrow("write", path: path) } }
            try addMembers(encoded, to: URL(fileURLWithPath: file.temporary.string), compression: compression, path: path)
        }
    }

    private static func addMembers(
        _ encoded: [(member: String, header: [UInt8], data: TensorStorage)], to url: URL, compression: Compression, path: String
    ) throws(BrineError) {
        do {
            // The archive closes its file when released, at the end of this scope.
            let archive = try Archive(url: url, accessMode: .update)
            for (member, header, data) in encoded {
                let total = header.count + data.byteCount
                try archive.addEntry(
                    with: member, type: .file, uncompressedSize: Int64(total),
                    compressionMethod: compression == .stored ? .none : .deflate, bufferSize: 1 << 20,
                    provider: { (position, size) -> Data in
                        let start = Int(position), end = Swift.min(total, start + size)
                        guard start < end else { return Data() }
                        if start >= header.count {
                            // Data bytes: handed over without a copy; read synchronously by ZIPFoundation.
                            return Data(bytesNoCopy: data.baseAddress + (start - header.count), count: end - start, deallocator: .none)
                        }
                        var chunk = Data(header[start ..< Swift.min(end, header.count)])
                        if end > header.count {
                            chunk.append(UnsafeRawBufferPointer(start: data.baseAddress, count: end - header.count).bindMemory(to: UInt8.self))
                        }
                        return chunk
                    })
            }
            withExtendedLifetime(encoded) {}
        } catch let e as BrineError {
            throw e
        } catch {
            throw BrineError(.io, "writing the zip archive failed: \(error)", filePath: path)
        }
    }
}
