// A strict reader of a zip archive's central directory (spec: PKWARE
// APPNOTE.TXT, sections 4.3.6 "local file header", 4.3.12 "central
// directory", 4.3.14–4.3.16 "zip64 end of central directory" and "end of
// central directory", 4.5.3 "Zip64 extended information extra field").
//
// Brine reads `.npz` member data itself (one pread per stored member; zlib
// inflate fed exactly the member's compressed bytes), so every size and
// offset in the directory is checked here, against the file, before anything
// is read or allocated.

/// One member of a zip archive, validated against the file.
struct ZipMember: Sendable, Hashable {
    /// The member name (UTF-8, or ASCII for names without the UTF-8 flag).
    let name: String
    /// 0 (stored) or 8 (deflated).
    let method: UInt16
    /// The CRC-32 of the uncompressed bytes, from the central directory.
    let crc32: UInt32
    /// The stored size in bytes.
    let compressedSize: Int
    /// The uncompressed size in bytes (equal to `compressedSize` when stored).
    let uncompressedSize: Int
    /// The absolute offset of the local file header.
    let localHeaderOffset: Int
    /// The absolute offset of the member's data (after the local header).
    let dataOffset: Int

    var isStored: Bool { method == 0 }
}

enum ZipDirectory {
    static let eocdSignature: UInt32 = 0x0605_4B50
    static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    static let zip64EOCDSignature: UInt32 = 0x0606_4B50
    static let centralSignature: UInt32 = 0x0201_4B50
    static let localSignature: UInt32 = 0x0403_4B50
    /// The largest deflate expansion ratio (a 258-byte match in about 2 bits).
    static let maxDeflateRatio = 1032

    /// Reads and validates the directory of the zip archive in `source`.
    /// - Parameter maxMembers: the cap on the number of members.
    /// - Returns: the members in central-directory order.
    /// - Throws: ``BrineError`` `.invalidInterop` (not a zip, inconsistent
    ///   directory, bad local headers, overlapping members, duplicate or
    ///   non-UTF-8 names, sizes that lie), `.truncated`, `.limitExceeded`,
    ///   `.unsupportedFeature` (encryption, multi-disk, a method other than
    ///   stored or deflated).
    static func read(_ source: ByteSource, maxMembers: Int) throws(BrineError) -> [ZipMember] {
        let size = source.size
        guard size >= 22 else {
            throw BrineError(.invalidInterop, "file of \(size) bytes is too short to be a zip archive (.npz)", byteOffset: 0)
        }
        // The end-of-central-directory record is in the last 22 + 65,535 bytes.
        let tailStart = Swift.max(0, size - (22 + 65_535))
        let tail = try source.read(tailStart, size - tailStart)
        var eocd = -1
        var i = tail.count - 22
        while i >= 0 {
            if le32(tail, i) == eocdSignature {
                let commentLength = Int(le16(tail, i + 20))
                if i + 22 + commentLength == tail.count { eocd = i; break }
            }
            i -= 1
        }
        guard eocd >= 0 else {
            throw BrineError(.invalidInterop, "no zip end-of-central-directory record: not a zip archive (.npz)", byteOffset: UInt64(size))
        }
        let eocdOffset = tailStart + eocd
        let disk = le16(tail, eocd + 4), cdDisk = le16(tail, eocd + 6)
        var entriesOnDisk = UInt64(le16(tail, eocd + 8)), entries = UInt64(le16(tail, eocd + 10))
        var cdSize = UInt64(le32(tail, eocd + 12)), cdOffset = UInt64(le32(tail, eocd + 16))
        var directoryEnd = eocdOffset
        if entries == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF || entriesOnDisk == 0xFFFF {
            // zip64: a locator just before the record points at the zip64 record.
            guard eocdOffset >= 20 else {
                throw BrineError(.invalidInterop, "zip64 fields without a zip64 locator", byteOffset: UInt64(eocdOffset))
            }
            let loc = try source.read(eocdOffset - 20, 20)
            guard le32(loc, 0) == zip64LocatorSignature else {
                throw BrineError(.invalidInterop, "zip64 fields without a zip64 locator", byteOffset: UInt64(eocdOffset - 20))
            }
            let recordOffset = le64(loc, 8)
            guard recordOffset <= UInt64(eocdOffset - 20), UInt64(eocdOffset - 20) - recordOffset >= 56 else {
                throw BrineError(.invalidInterop, "zip64 end-of-central-directory offset \(recordOffset) is out of range", byteOffset: UInt64(eocdOffset - 20))
            }
            let rec = try source.read(Int(recordOffset), 56)
            guard le32(rec, 0) == zip64EOCDSignature else {
                throw BrineError(.invalidInterop, "bad zip64 end-of-central-directory signature", byteOffset: recordOffset)
            }
            guard le32(rec, 16) == 0, le32(rec, 20) == 0 else {
                throw BrineError(.unsupportedFeature, "multi-disk zip archives are not supported", byteOffset: recordOffset)
            }
            entriesOnDisk = le64(rec, 24)
            entries = le64(rec, 32)
            cdSize = le64(rec, 40)
            cdOffset = le64(rec, 48)
            directoryEnd = Int(recordOffset)
        } else if disk != 0 || cdDisk != 0 {
            throw BrineError(.unsupportedFeature, "multi-disk zip archives are not supported", byteOffset: UInt64(eocdOffset))
        }
        guard entriesOnDisk == entries else {
            throw BrineError(.unsupportedFeature, "multi-disk zip archives are not supported", byteOffset: UInt64(eocdOffset))
        }
        guard cdOffset <= UInt64(directoryEnd), cdSize <= UInt64(directoryEnd) - cdOffset else {
            throw BrineError(.invalidInterop, "central directory [\(cdOffset), +\(cdSize)] lies outside the archive", byteOffset: UInt64(eocdOffset))
        }
        guard entries <= UInt64(maxMembers) else {
            throw BrineError(.limitExceeded, "\(entries) zip members is over the limit of \(maxMembers)", byteOffset: UInt64(eocdOffset))
        }
        guard entries <= cdSize / 46 else {
            throw BrineError(.invalidInterop, "\(entries) members cannot fit in a central directory of \(cdSize) bytes", byteOffset: UInt64(eocdOffset))
        }
        let cd = try source.read(Int(cdOffset), Int(cdSize))
        var members: [ZipMember] = []
        members.reserveCapacity(Int(entries))
        var names = Set<ExactName>()  // by code points: two spellings are two members
        var p = 0
        for _ in 0 ..< Int(entries) {
            let at = UInt64(Int(cdOffset) + p)
            guard cd.count - p >= 46, le32(cd, p) == centralSignature else {
                throw BrineError(.invalidInterop, "bad central directory entry", byteOffset: at)
            }
            let flags = le16(cd, p + 8)
            let method = le16(cd, p + 10)
            let crc = le32(cd, p + 16)
            var csize = UInt64(le32(cd, p + 20)), usize = UInt64(le32(cd, p + 24))
            let nameLength = Int(le16(cd, p + 28)), extraLength = Int(le16(cd, p + 30)), commentLength = Int(le16(cd, p + 32))
            let diskStart = le16(cd, p + 34)
            var localOffset = UInt64(le32(cd, p + 42))
            let variable = nameLength + extraLength + commentLength
            guard cd.count - p - 46 >= variable else {
                throw BrineError(.truncated, "central directory entry runs past the directory", byteOffset: at)
            }
            let nameBytes = Array(cd[(p + 46) ..< (p + 46 + nameLength)])
            let extra = Array(cd[(p + 46 + nameLength) ..< (p + 46 + nameLength + extraLength)])
            p += 46 + variable
            guard flags & 0x1 == 0, flags & 0x40 == 0 else {
                throw BrineError(.unsupportedFeature, "encrypted zip members are not supported", byteOffset: at)
            }
            guard method == 0 || method == 8 else {
                throw BrineError(.unsupportedFeature, "zip compression method \(method) is not supported (only stored and deflated)", byteOffset: at)
            }
            // zip64 extended information: present fields follow the order usize, csize, offset, disk.
            if usize == 0xFFFF_FFFF || csize == 0xFFFF_FFFF || localOffset == 0xFFFF_FFFF {
                guard let z = zip64Field(extra) else {
                    throw BrineError(.invalidInterop, "zip64 sizes without a zip64 extra field", byteOffset: at)
                }
                var q = 0
                func next() throws(BrineError) -> UInt64 {
                    guard z.count - q >= 8 else { throw BrineError(.invalidInterop, "zip64 extra field too short", byteOffset: at) }
                    defer { q += 8 }
                    return le64(z, q)
                }
                if usize == 0xFFFF_FFFF { usize = try next() }
                if csize == 0xFFFF_FFFF { csize = try next() }
                if localOffset == 0xFFFF_FFFF { localOffset = try next() }
            }
            guard diskStart == 0 || diskStart == 0xFFFF else {
                throw BrineError(.unsupportedFeature, "multi-disk zip archives are not supported", byteOffset: at)
            }
            let name: String
            if let bad = nameBytes.withUnsafeBytes({ firstInvalidUTF8Offset($0) }) {
                throw BrineError(.invalidInterop, "member name is not valid UTF-8 (byte \(bad))", byteOffset: at)
            } else {
                name = String(decoding: nameBytes, as: UTF8.self)
            }
            guard names.insert(ExactName(name)).inserted else {
                throw BrineError(.invalidInterop, "duplicate member name", arrayPath: name, byteOffset: at)
            }
            // Sizes against the file: a member cannot be larger than the archive.
            guard csize <= UInt64(size), localOffset <= UInt64(cdOffset) else {
                throw BrineError(.invalidInterop, "member sizes or offset lie: \(csize) stored bytes at offset \(localOffset) in a \(size)-byte archive",
                                 arrayPath: name, byteOffset: at)
            }
            if method == 0 {
                guard usize == csize else {
                    throw BrineError(.invalidInterop, "stored member declares \(usize) uncompressed and \(csize) stored bytes", arrayPath: name, byteOffset: at)
                }
            } else {
                let (bound, o) = csize.multipliedReportingOverflow(by: UInt64(maxDeflateRatio))
                guard usize <= UInt64(Int.max), o || bound >= UInt64.max - 64 || usize <= bound + 64 else {
                    throw BrineError(.invalidInterop, "deflated member claims \(usize) bytes from \(csize) compressed bytes, more than deflate can expand to",
                                     arrayPath: name, byteOffset: at)
                }
            }
            // The local header: signature, the same method and name; data follows it.
            let lh = Int(localOffset)
            guard Int(cdOffset) - lh >= 30 else {
                throw BrineError(.invalidInterop, "local header at \(lh) overlaps the central directory", arrayPath: name, byteOffset: UInt64(lh))
            }
            let local = try source.read(lh, 30)
            guard le32(local, 0) == localSignature else {
                throw BrineError(.invalidInterop, "bad local file header signature", arrayPath: name, byteOffset: UInt64(lh))
            }
            guard le16(local, 8) == method else {
                throw BrineError(.invalidInterop, "local header and central directory disagree on the compression method", arrayPath: name, byteOffset: UInt64(lh))
            }
            let localNameLength = Int(le16(local, 26)), localExtraLength = Int(le16(local, 28))
            let dataOffset = lh + 30 + localNameLength + localExtraLength
            guard dataOffset <= Int(cdOffset), UInt64(Int(cdOffset) - dataOffset) >= csize else {
                throw BrineError(.invalidInterop, "member data (\(csize) bytes at \(dataOffset)) runs into the central directory or past the archive",
                                 arrayPath: name, byteOffset: UInt64(lh))
            }
            let localName = try source.read(lh + 30, localNameLength)
            guard localName == nameBytes else {
                throw BrineError(.invalidInterop, "local header and central directory disagree on the member name", arrayPath: name, byteOffset: UInt64(lh))
            }
            members.append(ZipMember(
                name: name, method: method, crc32: crc, compressedSize: Int(csize), uncompressedSize: Int(usize),
                localHeaderOffset: lh, dataOffset: dataOffset))
        }
        // No two members may share bytes (overlapping members are a zip-bomb device).
        let sorted = members.sorted { $0.localHeaderOffset < $1.localHeaderOffset }
        for k in sorted.indices.dropFirst() {
            let prev = sorted[k - 1]
            guard prev.dataOffset + prev.compressedSize <= sorted[k].localHeaderOffset else {
                throw BrineError(.invalidInterop, "zip members '\(prev.name)' and '\(sorted[k].name)' overlap", arrayPath: sorted[k].name,
                                 byteOffset: UInt64(sorted[k].localHeaderOffset))
            }
        }
        return members
    }

    /// The data of the zip64 extended-information extra field (id 0x0001), if any.
    static func zip64Field(_ extra: [UInt8]) -> [UInt8]? {
        var q = 0
        while extra.count - q >= 4 {
            let id = le16(extra, q), n = Int(le16(extra, q + 2))
            guard extra.count - q - 4 >= n else { return nil }
            if id == 0x0001 { return Array(extra[(q + 4) ..< (q + 4 + n)]) }
            q += 4 + n
        }
        return nil
    }
}

@inline(__always) func le16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
@inline(__always) func le32(_ b: [UInt8], _ i: Int) -> UInt32 {
    UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
}
@inline(__always) func le64(_ b: [UInt8], _ i: Int) -> UInt64 { UInt64(le32(b, i)) | UInt64(le32(b, i + 4)) << 32 }
