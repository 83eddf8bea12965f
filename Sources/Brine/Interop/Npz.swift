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
/// inflated with ZIPFoundation from input bounded by the member's compressed
/// size. A member must decode to exactly its declared size, and its `.npy`
/// header must describe exactly that many bytes, before anything is
/// allocated; inflating stops at the declared size (zip bombs stop there).
/// CRC-32s are verified (``InteropReadOptions/verifyZipChecksums``).
///
/// Thread safety: all methods may be called from several threads at once
/// (`@unchecked Sendable`: every field is immutable after init).
public final class NpzFile: @unchecked Sendable {
    /// The file path (`"<memory>"` for a buffer).
    public let path: String
    /// The arrays in archive order (the order `np.savez` wrote them).
    public let members: [NpzMember]

    private let zipMembers: [ZipMember]
    private let index: [String: Int]
    private let source: InteropSource
    private let options: InteropReadOptions

    /// The array names in archive order.
    public var names: [String] { members.map(\.name) }

    /// Opens a `.npz` archive.
    /// - Parameters:
    ///   - url: a file URL.
    ///   - options: caps, CRC verification, threads.
    /// - Throws: ``BrineError`` `.notFound`, `.io`; `.invalidInterop` (not a
    ///   zip archive, inconsistent directory, a member that is not `.npy`,
    ///   duplicate or non-UTF-8 names, sizes that lie); `.truncated`;
    ///   `.limitExceeded` (more members than ``ReadLimits/maxArrays``);
    ///   `.unsupportedFeature` (encryption, multi-disk archives, methods other
    ///   than stored and deflated).
    public convenience init(contentsOf url: URL, options: InteropReadOptions = .init()) throws(BrineError) {
        try self.init(source: InteropSource(path: url.path, mode: .copy), options: options)
    }

    /// Opens a `.npz` archive held in memory (the bytes are copied once).
    /// - Throws: see ``init(contentsOf:options:)``.
    public convenience init(bytes: UnsafeRawBufferPointer, options: InteropReadOptions = .init()) throws(BrineError) {
        try self.init(source: InteropSource(copying: bytes), options: options)
    }

    private init(source: InteropSource, options: InteropReadOptions) throws(BrineError) {
        self.source = source
        self.options = options
        self.path = source.path ?? "<memory>"
        let zip: [ZipMember]
        do throws(BrineError) {
            zip = try ZipDirectory.read(source, maxMembers: options.limits.maxArrays)
        } catch {
            throw error.inFile(source.path)
        }
        var members: [NpzMember] = []
        var index: [String: Int] = [:]
        for (i, m) in zip.enumerated() {
            guard m.name.hasSuffix(".npy") else {
                throw BrineError(.invalidInterop, "zip member '\(m.name)' is not a .npy array, so this is not a NumPy .npz archive",
                                 filePath: source.path, arrayPath: m.name, byteOffset: UInt64(m.localHeaderOffset))
            }
            let name = String(m.name.dropLast(4))
            members.append(NpzMember(name: name, memberName: m.name, isCompressed: !m.isStored,
                                     compressedSize: m.compressedSize, uncompressedSize: m.uncompressedSize))
            index[name] = i
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

    /// Loads one array with a static element type.
    /// - Throws: ``BrineError`` `.dtypeMismatch` when `S.dtype` differs; see ``tensor(_:)``.
    public func tensor<S: BrineScalar>(_ name: String, as: S.Type = S.self) throws(BrineError) -> Tensor<S> {
        let t = try tensor(name)
        guard t.dtype == S.dtype else {
            throw BrineError(.dtypeMismatch, "array has dtype \(t.dtype), requested \(S.dtype)", filePath: path, arrayPath: name)
        }
        return try t.typed(as: S.self)
    }

    /// Loads every array, members in parallel.
    /// - Returns: the arrays in archive order.
    /// - Throws: see ``tensor(_:)``.
    public func loadAll() throws(BrineError) -> [(name: String, tensor: AnyTensor)] {
        var out = [AnyTensor?](repeating: nil, count: members.count)
        let threads = Swift.max(1, Swift.min(options.threads, members.count))
        try out.withUnsafeMutableBufferPointer { (buf) throws(BrineError) in
            let box = UncheckedSendable(buf)
            try parallelFor(count: members.count, threads: threads) { (_, i) throws(BrineError) in
                box.value[i] = try load(i)
            }
        }
        return zip(members, out).map { ($0.name, $1!) }
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
        let state = InflateState(member: m, options: options)
        let src = source
        let bufferSize = 1 << 20
        var consumed = 0
        do {
            // ZIPFoundation's CRC is skipped: InflateState computes it with zlib.
            _ = try Data.decompress(
                size: Int64(m.compressedSize), bufferSize: bufferSize, skipCRC32: true,
                provider: { (_, chunk) -> Data in
                    // Bounded by the member's compressed size: a deflate stream that
                    // does not end inside the member is an error, never a hang.
                    let n = Swift.min(chunk, m.compressedSize - consumed)
                    guard n > 0 else {
                        throw BrineError(.invalidInterop, "the deflate stream does not end within the member's \(m.compressedSize) compressed bytes")
                    }
                    let bytes = try src.read(m.dataOffset + consumed, n)
                    consumed += n
                    return Data(bytes)
                },
                consumer: { data in try state.consume(data) })
        } catch let e as BrineError {
            throw e
        } catch {
            throw BrineError(.invalidInterop, "corrupt deflate data (\(error))")
        }
        let (h, raw) = try state.finish()
        if options.verifyZipChecksums { try checkCRC(state.crc, m) }
        return try Npy.toNative(raw, header: h)
    }

    /// The consumer side of inflating one member: parses the `.npy` header
    /// from the first bytes, then fills a buffer of exactly the size it
    /// declares, refusing any byte beyond the member's declared size.
    private final class InflateState {
        let member: ZipMember
        let options: InteropReadOptions
        var head: [UInt8] = []
        var header: NpyHeader?
        var storage: TensorStorage?
        var filled = 0
        var produced = 0
        /// The CRC-32 of everything inflated so far.
        var crc: UInt32 = 0

        init(member: ZipMember, options: InteropReadOptions) {
            self.member = member
            self.options = options
        }

        func consume(_ data: Data) throws {
            guard !data.isEmpty else { return }
            let (p, o) = produced.addingReportingOverflow(data.count)
            guard !o, p <= member.uncompressedSize else {
                throw BrineError(.invalidInterop, "inflates to more than the \(member.uncompressedSize) bytes the zip directory declares: the sizes lie")
            }
            produced = p
            try data.withUnsafeBytes { (b: UnsafeRawBufferPointer) throws in
                if options.verifyZipChecksums { crc = crc32(b, crc) }
                var rest = b
                if header == nil {
                    let need = try headerBytesNeeded(adding: b)
                    let take = Swift.min(need - head.count, b.count)
                    head.append(contentsOf: b.prefix(take))
                    rest = UnsafeRawBufferPointer(rebasing: b[take...])
                    guard head.count == need, let h = try parseIfComplete() else { return }
                    header = h
                    storage = TensorStorage(uninitializedByteCount: h.byteCount)
                }
                guard let storage, rest.count > 0 else { return }
                // Cannot overflow the buffer: produced ≤ declared size = dataOffset + byteCount.
                (storage.baseAddress + filled).copyMemory(from: rest.baseAddress!, byteCount: rest.count)
                filled += rest.count
            }
        }

        /// How many header bytes are needed in total, as far as known.
        private func headerBytesNeeded(adding b: UnsafeRawBufferPointer) throws -> Int {
            var probe = head
            probe.append(contentsOf: b.prefix(Swift.max(0, 12 - head.count)))
            return probe.withUnsafeBytes { pb -> Int in
                guard let p = Npy.prefixLength(pb), pb.count >= p else { return Swift.min(12, member.uncompressedSize) }
                var len = 0
                for k in 0 ..< (p - 8) { len |= Int(pb[8 + k]) << (8 * k) }
                return Swift.min(member.uncompressedSize, p + Swift.min(len, options.maxNpyHeaderBytes + 1))
            }
        }

        /// The header once enough bytes are in; `nil` while more are needed.
        private func parseIfComplete() throws -> NpyHeader? {
            let known = head.withUnsafeBytes { Npy.prefixLength($0) }
            if known == nil && head.count < Swift.min(12, member.uncompressedSize) { return nil }
            let h = try head.withUnsafeBytes { b in
                try Npy.parseHeader(b, totalSize: member.uncompressedSize, maxHeaderBytes: options.maxNpyHeaderBytes, maxRank: options.limits.maxRank)
            }
            let (total, o) = h.dataOffset.addingReportingOverflow(h.byteCount)
            guard !o, total == member.uncompressedSize else {
                throw BrineError(.invalidInterop, "the .npy header describes \(h.dataOffset) + \(h.byteCount) bytes but the zip directory declares \(member.uncompressedSize): the sizes lie")
            }
            guard h.byteCount <= options.limits.maxAllocationBytes else {
                throw BrineError(.limitExceeded, "array of \(h.byteCount) bytes is over the allocation limit of \(options.limits.maxAllocationBytes)")
            }
            // The header bytes end exactly at dataOffset: anything after is data.
            return h
        }

        func finish() throws(BrineError) -> (NpyHeader, TensorStorage) {
            guard produced == member.uncompressedSize else {
                throw BrineError(.invalidInterop, "inflates to \(produced) bytes but the zip directory declares \(member.uncompressedSize): the sizes lie")
            }
            guard let header, let storage, filled == header.byteCount else {
                // produced == declared == dataOffset + byteCount, so this means no header was seen.
                throw BrineError(.invalidInterop, "member is too short to hold a .npy header")
            }
            return (header, storage)
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
    /// - Throws: ``BrineError`` `.invalidArgument` (duplicate name),
    ///   `.unsupportedDType` (bfloat16 with policy `.reject`), `.notFound`, `.io`.
    public static func write(
        _ tensors: [(name: String, tensor: AnyTensor)], to url: URL, compression: Compression = .stored,
        options: NpyWriteOptions = .init()
    ) throws(BrineError) {
        let path = url.path
        var seen = Set<String>()
        var encoded: [(member: String, header: [UInt8], data: TensorStorage)] = []
        for (name, t) in tensors {
            guard seen.insert(name).inserted else {
                throw BrineError(.invalidArgument, "duplicate array name", filePath: path, arrayPath: name)
            }
            let (h, d) = try Npy.encoded(t, options: options, path: path, name: name)
            encoded.append((name + ".npy", h, d))
        }
        let file = try AtomicFile(destination: FilePath(path))
        do throws(BrineError) {
            // An empty archive (just the end-of-central-directory record) for ZIPFoundation to update.
            var eocd = [UInt8](repeating: 0, count: 22)
            eocd[0] = 0x50; eocd[1] = 0x4B; eocd[2] = 0x05; eocd[3] = 0x06
            let fd = file.fd
            try typedThrows { try eocd.withUnsafeBytes { b in try fd.pwriteFully(b, at: 0).orThrow("write", path: path) } }
            try addMembers(encoded, to: URL(fileURLWithPath: file.temporary.string), compression: compression, path: path)
            if options.durable { try file.commit() } else { try file.commitWithoutSync() }
        } catch {
            file.abort()
            throw error
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
