/// The decoded header of a Brine file: metadata map, array table and object
/// tree (docs/FORMAT.md, "Header").
struct Header: Sendable {
    var metadata: Value
    var arrays: [ArrayInfo]
    var root: Value
    /// The position of each array in ``arrays`` by path (filled by ``decode``).
    var index: PathIndex = .empty
    /// The minor format version the header is encoded in. From 1.1 on, each
    /// chunk entry's stored size carries the raw-chunk flag in its low bit
    /// (docs/FORMAT.md, "Raw chunks").
    var minorVersion: UInt16 = FormatSpec.minorVersion

    /// `true` when chunk entries carry the raw-chunk flag (format 1.1 and later).
    static func hasRawChunkFlag(minorVersion: UInt16) -> Bool { minorVersion >= 1 }

    // Value tags (docs/FORMAT.md, "Values").
    enum Tag: UInt8 {
        case null = 0x00, `false` = 0x01, `true` = 0x02, int = 0x03, uint = 0x04
        case float64 = 0x05, string = 0x06, bytes = 0x07, list = 0x08, map = 0x09
        case arrayRef = 0x0A, float32 = 0x0B
        // Added in format 1.1 (shared references).
        case shared = 0x0C, sharedRef = 0x0D
    }

    // MARK: Encoding

    /// The header bytes.
    func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 1024 + arrays.count * 64)
        Header.encodeValue(metadata, into: &w)
        w.varint(arrays.count)
        let flagged = Header.hasRawChunkFlag(minorVersion: minorVersion)
        for a in arrays { Header.encodeArray(a, rawChunkFlag: flagged, into: &w) }
        Header.encodeValue(root, into: &w)
        return w.bytes
    }

    static func encodeArray(_ a: ArrayInfo, rawChunkFlag: Bool, into w: inout ByteWriter) {
        w.string(a.path)
        w.u8(a.dtype.rawValue)
        w.u8(a.storedDType.rawValue)
        w.varint(a.shape.count)
        for d in a.shape { w.varint(d) }
        w.u8(a.codec.code)
        w.zigzag(Int64(a.codec.level))
        w.u8(a.filter.rawValue)
        w.u8(UInt8(a.alignment.trailingZeroBitCount))
        w.varint(a.dataOffset)
        w.varint(a.chunkBytes)
        w.varint(a.chunkCount)
        for c in a.chunks {
            if rawChunkFlag {
                w.varint(UInt64(c.storedBytes) << 1 | (c.isRaw ? 1 : 0))
            } else {
                precondition(!c.isRaw, "a format 1.0 header cannot hold raw chunks of a compressing codec")
                w.varint(c.storedBytes)
            }
            w.u64(c.checksum)
        }
    }

    static func encodeValue(_ v: Value, into w: inout ByteWriter) {
        switch v {
        case .null: w.u8(Tag.null.rawValue)
        case .bool(let b): w.u8(b ? Tag.true.rawValue : Tag.false.rawValue)
        case .int(let i): w.u8(Tag.int.rawValue); w.zigzag(i)
        case .uint(let u): w.u8(Tag.uint.rawValue); w.varint(u)
        case .float32(let f): w.u8(Tag.float32.rawValue); w.u32(f.bitPattern)
        case .float64(let d): w.u8(Tag.float64.rawValue); w.u64(d.bitPattern)
        case .string(let s): w.u8(Tag.string.rawValue); w.string(s)
        case .bytes(let b): w.u8(Tag.bytes.rawValue); w.varint(b.count); w.raw(b)
        case .list(let l):
            w.u8(Tag.list.rawValue)
            w.varint(l.count)
            for x in l { encodeValue(x, into: &w) }
        case .map(let m):
            w.u8(Tag.map.rawValue)
            w.varint(m.count)
            for (k, x) in m { w.string(k); encodeValue(x, into: &w) }
        case .arrayRef(let i): w.u8(Tag.arrayRef.rawValue); w.varint(i)
        case .shared(let i, let x): w.u8(Tag.shared.rawValue); w.varint(i); encodeValue(x, into: &w)
        case .sharedRef(let i): w.u8(Tag.sharedRef.rawValue); w.varint(i)
        }
    }

    // MARK: Decoding

    /// Decodes and validates a header read from a file.
    /// - Parameters:
    ///   - bytes: the header bytes.
    ///   - headerOffset: their absolute offset in the file (the end of the data section).
    ///   - limits: caps to apply.
    ///   - path: the file path for errors.
    ///   - minorVersion: the file's minor format version (from the trailer),
    ///     which says how chunk entries are encoded.
    /// - Throws: ``BrineError`` `.corruptHeader`, `.limitExceeded`, `.layout`, `.unsupportedDType`, `.unsupportedFeature`.
    static func decode(
        _ bytes: UnsafeRawBufferPointer, headerOffset: UInt64, limits: ReadLimits, path: String?,
        minorVersion: UInt16 = FormatSpec.minorVersion
    ) throws(BrineError) -> Header {
        var r = ByteReader(bytes, fileOffset: headerOffset, filePath: path)
        let metadata = try decodeValue(&r, depth: 0, limits: limits, arrayCount: 0, allowArrayRefs: false)
        guard case .map = metadata else {
            throw BrineError(.corruptHeader, "metadata is not a map", filePath: path, byteOffset: headerOffset)
        }
        // Each entry takes at least 11 bytes, so the count is bounded by the bytes left.
        let arrayCount = try r.count("array count", max: limits.maxArrays)
        guard arrayCount <= r.remaining / 11 else {
            throw r.fail("array count \(arrayCount) cannot fit in the \(r.remaining) header bytes left")
        }
        var arrays: [ArrayInfo] = []
        arrays.reserveCapacity(Header.initialCapacity(arrayCount))
        // Every path's bytes and chunk entry, shared by the table's entries
        // (gathered here, stored in `table` after the loop).
        let table = ArrayTableStorage()
        var names: [UInt8] = []
        var chunks: [ArrayInfo.Chunk] = []
        var entryEnds: [UInt64] = []  // for the error naming a duplicate
        entryEnds.reserveCapacity(Header.initialCapacity(arrayCount))
        var pathHashes: [UInt64] = []  // hashed from the header's bytes, for the path index
        pathHashes.reserveCapacity(Header.initialCapacity(arrayCount))
        for i in 0 ..< arrayCount {
            var pathHash: UInt64 = 0
            arrays.append(try decodeArray(&r, index: i, headerOffset: headerOffset, limits: limits, path: path, minorVersion: minorVersion,
                                          table: table, names: &names, chunks: &chunks, pathHash: &pathHash))
            entryEnds.append(r.absoluteOffset)
            pathHashes.append(pathHash)
        }
        table.fill(names: names, chunks: chunks)
        guard arrays.count <= PathIndex.maxCount else {
            throw BrineError(.limitExceeded, "\(arrays.count) arrays, over the \(PathIndex.maxCount) one file can index", filePath: path, byteOffset: headerOffset)
        }
        let index: PathIndex
        let built = arrays.withUnsafeBufferPointer { a in pathHashes.withUnsafeBufferPointer { PathIndex.build(a, hashes: $0) } }
        switch built {
        case .success(let built): index = built
        case .failure(let duplicate):
            let i = duplicate.position
            throw BrineError(.corruptHeader, "duplicate array path", filePath: path, arrayPath: arrays[i].path, byteOffset: entryEnds[i])
        }
        let root = try decodeValue(&r, depth: 0, limits: limits, arrayCount: arrayCount, allowArrayRefs: true)
        guard r.isAtEnd else {
            throw r.fail("\(r.remaining) unexpected bytes after the object tree")
        }
        try validateLayout(arrays, headerOffset: headerOffset, path: path)
        return Header(metadata: metadata, arrays: arrays, root: root, index: index, minorVersion: minorVersion)
    }

    /// The capacity to reserve for `count` elements declared by the file.
    /// A declared count is bounded by the bytes left, but one byte of a list
    /// decodes to a 24-byte ``Value`` (a map entry to 40, an array entry to
    /// about 120): reserving the declared count up front would let a few
    /// bytes of a hostile header claim 24× their size before a single element
    /// is validated. Larger collections grow as their elements decode.
    static func initialCapacity(_ count: Int) -> Int { Swift.min(count, 4096) }

    /// Decodes and validates one array entry (docs/FORMAT.md, "Array entry")
    /// at `r`; stores the seeded hash of its path's bytes in `pathHash` when
    /// given (``PathIndex/hash(utf8:)``).
    /// - Throws: ``BrineError`` `.corruptHeader`, `.limitExceeded`, `.layout`,
    ///   `.truncated`, `.unsupportedDType`, `.unsupportedFeature`.
    static func decodeArray(
        _ r: inout ByteReader, index: Int, headerOffset: UInt64, limits: ReadLimits, path: String?,
        minorVersion: UInt16 = FormatSpec.minorVersion,
        table: ArrayTableStorage, names: inout [UInt8], chunks: inout [ArrayInfo.Chunk],
        pathHash: UnsafeMutablePointer<UInt64>? = nil
    ) throws(BrineError) -> ArrayInfo {
        let flagged = hasRawChunkFlag(minorVersion: minorVersion)
        let entryStart = r.absoluteOffset
        let nameBytes = try r.validatedStringBytes("path of array #\(index)")
        pathHash?.pointee = PathIndex.hash(utf8: nameBytes)
        // Made only for an error message: the table keeps the path's bytes.
        var name: String { String(decoding: nameBytes, as: UTF8.self) }
        func fail(_ code: BrineError.Code = .corruptHeader, _ msg: String) -> BrineError {
            BrineError(code, msg, filePath: path, arrayPath: name, byteOffset: entryStart)
        }
        let dtypeCode = try r.u8("dtype")
        let storedCode = try r.u8("stored dtype")
        guard let dtype = DType(rawValue: dtypeCode) else { throw fail(.unsupportedDType, "unknown dtype code \(dtypeCode)") }
        guard let stored = DType(rawValue: storedCode) else { throw fail(.unsupportedDType, "unknown stored dtype code \(storedCode)") }
        guard stored == dtype || (dtype == .float32 && (stored == .float16 || stored == .bfloat16)) else {
            throw fail(.unsupportedFeature, "stored dtype \(stored) cannot be loaded as \(dtype)")
        }
        let rank = try r.count("rank", max: limits.maxRank)
        var shape: [Int] = []
        shape.reserveCapacity(rank)
        for _ in 0 ..< rank {
            let d = try r.varint("dimension")
            guard d <= UInt64(Int.max) else { throw fail(.limitExceeded, "dimension \(d) overflows") }
            shape.append(Int(d))
        }
        guard let count = Shape.elementCount(shape),
              let rawStored = Shape.byteCount(shape, itemSize: stored.itemSize),
              Shape.byteCount(shape, itemSize: dtype.itemSize) != nil
        else {
            throw fail(.limitExceeded, "shape \(shape) has an element count that overflows")
        }
        let codecCode = try r.u8("codec")
        let level64 = try r.zigzag("codec level")
        guard let level = Int(exactly: level64), let codec = Codec(code: codecCode, level: level) else {
            throw fail(.unsupportedFeature, "unknown codec code \(codecCode)")
        }
        let filterCode = try r.u8("filter")
        guard let filter = ChunkFilter(rawValue: filterCode) else {
            throw fail(.unsupportedFeature, "unknown filter code \(filterCode)")
        }
        let alignLog2 = try r.u8("alignment")
        guard alignLog2 >= 3 && alignLog2 <= 16 else {
            throw fail(.corruptHeader, "alignment 2^\(alignLog2) outside 8…65536")
        }
        let alignment = 1 << Int(alignLog2)
        let dataOffset = try r.count("data offset", max: Int(clamping: headerOffset), code: .layout)
        let chunkBytes = try r.count("chunk size", max: limits.maxChunkBytes)
        guard chunkBytes > 0, chunkBytes % stored.itemSize == 0 else {
            throw fail(.corruptHeader, "chunk size \(chunkBytes) is not a positive multiple of the item size \(stored.itemSize)")
        }
        let chunkCount = try r.count("chunk count", max: limits.maxChunksPerArray)
        let expectedChunks = rawStored == 0 ? 0 : (rawStored - 1) / chunkBytes + 1
        guard chunkCount == expectedChunks else {
            throw fail(.corruptHeader, "\(chunkCount) chunks declared, \(expectedChunks) needed for \(rawStored) bytes in chunks of \(chunkBytes)")
        }
        guard chunkCount <= r.remaining / 9 else {
            throw fail(.truncated, "\(chunkCount) chunk entries cannot fit in the \(r.remaining) header bytes left")
        }
        // The chunks go to the table's pool (grown geometrically by append:
        // reserving per entry would copy the pool at every array).
        let chunkStart = chunks.count
        var total = 0
        for c in 0 ..< chunkCount {
            let s: Int
            var isRaw = false
            if flagged {
                // 1.1: stored size << 1 | raw flag (docs/FORMAT.md, "Raw chunks").
                let field = try r.varint("stored size of chunk \(c)")
                guard field >> 1 <= UInt64(Int(clamping: headerOffset)) else {
                    throw BrineError(.layout, "stored size \(field >> 1) of chunk \(c) is larger than the data section", filePath: path, arrayPath: name, chunkIndex: c, byteOffset: entryStart)
                }
                s = Int(field >> 1)
                isRaw = field & 1 == 1
            } else {
                s = try r.count("stored size of chunk \(c)", max: Int(clamping: headerOffset), code: .layout)
            }
            let rawLen = Swift.min(rawStored - c * chunkBytes, chunkBytes)
            if isRaw {
                // A raw chunk skips decompression: its stored size must be its raw size.
                guard codec.compresses else {
                    throw BrineError(.corruptHeader, "raw-chunk flag on an array with codec none", filePath: path, arrayPath: name, chunkIndex: c, byteOffset: entryStart)
                }
                guard s == rawLen else {
                    throw BrineError(.corruptHeader, "raw chunk stores \(s) bytes, expected its raw size \(rawLen)", filePath: path, arrayPath: name, chunkIndex: c, byteOffset: entryStart)
                }
            } else if !codec.compresses {
                guard s == rawLen else {
                    throw BrineError(.corruptHeader, "uncompressed chunk stores \(s) bytes, expected \(rawLen)",
                                     filePath: path, arrayPath: name, chunkIndex: c, byteOffset: entryStart)
                }
            } else if s == 0 {
                throw BrineError(.corruptHeader, "compressed chunk of 0 bytes", filePath: path, arrayPath: name, chunkIndex: c, byteOffset: entryStart)
            } else {
                // A decompression bomb declares far more raw bytes than its
                // stored bytes can hold; reject it before allocating for it.
                let (most, o) = s.multipliedReportingOverflow(by: codec.maxExpansion)
                guard o || rawLen <= most else {
                    throw BrineError(.corruptHeader, "\(s) stored bytes of \(codec) cannot decode to \(rawLen) raw bytes (at most \(codec.maxExpansion)× expansion)",
                                     filePath: path, arrayPath: name, chunkIndex: c, byteOffset: entryStart)
                }
            }
            let (t, o) = total.addingReportingOverflow(s)
            guard !o, t <= Int(clamping: headerOffset) else {
                throw BrineError(.layout, "chunks extend past the data section", filePath: path, arrayPath: name, chunkIndex: c, byteOffset: entryStart)
            }
            let offset = dataOffset &+ total  // both ≤ the header offset: no overflow
            total = t
            chunks.append(ArrayInfo.Chunk(offset: offset, storedBytes: s, checksum: try r.u64("checksum of chunk \(c)"), isRaw: isRaw))
        }
        let nameStart = names.count
        names.append(contentsOf: nameBytes.bindMemory(to: UInt8.self))
        return ArrayInfo(
            table: table, nameStart: nameStart, nameCount: nameBytes.count, chunkStart: chunkStart, chunkCount: chunkCount,
            dtype: dtype, storedDType: stored, shape: shape, codec: codec, filter: filter,
            alignment: alignment, dataOffset: dataOffset, chunkBytes: chunkBytes,
            count: count, storedRawBytes: rawStored, storedBytes: total)
    }

    /// Checks that every array's data is aligned, lies between the preamble
    /// and the header, and overlaps no other array.
    static func validateLayout(_ arrays: [ArrayInfo], headerOffset: UInt64, path: String?) throws(BrineError) {
        let end = Int(clamping: headerOffset)
        // Fields are read through the buffer: copying each `ArrayInfo` costs
        // three reference counts, which dominated opens of many arrays.
        try arrays.withUnsafeBufferPointer { (buffer) throws(BrineError) in
            // A pointer's subscript reads fields in place (a buffer's returns a copy).
            guard let arrays = buffer.baseAddress else { return }
            var regions: [(start: Int, end: Int, index: Int)] = []
            regions.reserveCapacity(buffer.count)
            var ordered = true  // Brine writes arrays in file order: then no sort is needed
            for i in buffer.indices {
                let dataOffset = arrays[i].dataOffset, storedBytes = arrays[i].storedBytes, alignment = arrays[i].alignment
                guard dataOffset % alignment == 0 else {
                    throw BrineError(.layout, "data offset \(dataOffset) is not aligned to \(alignment)", filePath: path, arrayPath: arrays[i].path, byteOffset: UInt64(dataOffset))
                }
                let (stop, o) = dataOffset.addingReportingOverflow(storedBytes)
                guard dataOffset >= FormatSpec.preambleSize || storedBytes == 0, !o, stop <= end else {
                    throw BrineError(.layout, "data \(dataOffset)..<\(dataOffset &+ storedBytes) lies outside the data section \(FormatSpec.preambleSize)..<\(end)", filePath: path, arrayPath: arrays[i].path, byteOffset: UInt64(dataOffset))
                }
                guard storedBytes > 0 else { continue }
                if let last = regions.last, last.start > dataOffset { ordered = false }
                regions.append((dataOffset, stop, i))
            }
            if !ordered { regions.sort { $0.start < $1.start } }
            for k in regions.indices.dropFirst() where regions[k].start < regions[k - 1].end {
                let a = regions[k].index, b = regions[k - 1].index
                throw BrineError(.layout, "data overlaps array '\(arrays[b].path)'", filePath: path, arrayPath: arrays[a].path, byteOffset: UInt64(arrays[a].dataOffset))
            }
        }
    }

    /// A list or map whose elements are being decoded: one entry of the
    /// explicit stack of ``decodeValue(_:depth:limits:arrayCount:allowArrayRefs:)``.
    private struct OpenContainer {
        var isMap: Bool
        var remaining: Int
        /// A `shared` node (one value follows), with its id.
        var sharedID: Int? = nil
        var items: [Value] = []
        var entries: [(key: String, value: Value)] = []
        /// Compared by Unicode scalars (``ExactName``): canonically
        /// equivalent spellings are two keys, as in Python.
        var keys = Set<ExactName>()
        var key = ""
    }

    /// Decodes one value (docs/FORMAT.md, "Values") and everything nested in it.
    ///
    /// Iterative, with an explicit stack of open lists and maps: recursion
    /// would need a stack frame per nesting level (about 7 KB each in a
    /// debug build), and a tree `maxDepth` deep would overflow the 512 KiB
    /// stack of a secondary thread on Darwin. Memory is the stack array.
    static func decodeValue(
        _ r: inout ByteReader, depth: Int, limits: ReadLimits, arrayCount: Int, allowArrayRefs: Bool
    ) throws(BrineError) -> Value {
        var stack: [OpenContainer] = []
        var shared = SharedIDs()
        while true {
            // A map's entry starts with its key.
            if let top = stack.indices.last, stack[top].isMap {
                let keyOffset = r.absoluteOffset
                let k = try r.string("map key")
                guard stack[top].keys.insert(ExactName(k)).inserted else {
                    throw BrineError(.corruptHeader, "duplicate map key '\(k)'", filePath: r.filePath, byteOffset: keyOffset)
                }
                stack[top].key = k
            }
            var value: Value
            switch try decodeValueHead(&r, depth: depth + stack.count, limits: limits, arrayCount: arrayCount, allowArrayRefs: allowArrayRefs, shared: &shared) {
            case .value(let v):
                value = v
            case .open(let c) where c.remaining > 0:
                stack.append(c)
                continue
            case .open(let c):
                value = c.isMap ? .map([]) : .list([])
            }
            // Append the finished value to its container, closing every
            // container that it completes.
            while let top = stack.indices.last {
                if let id = stack[top].sharedID {
                    stack.removeLast()
                    shared.open.remove(id)
                    value = .shared(id, value)
                    continue
                }
                if stack[top].isMap {
                    stack[top].entries.append((stack[top].key, value))
                } else {
                    stack[top].items.append(value)
                }
                stack[top].remaining -= 1
                if stack[top].remaining > 0 { break }
                let done = stack.removeLast()
                value = done.isMap ? .map(done.entries) : .list(done.items)
            }
            if stack.isEmpty { return value }
        }
    }

    /// The result of reading one value's tag and fixed payload.
    private enum ValueHead {
        /// A complete scalar value.
        case value(Value)
        /// A list or map and the number of elements that follow.
        case open(OpenContainer)
    }

    /// The `shared` ids of one tree: the next id expected, and those whose
    /// value is still being read (a `sharedRef` to one of them would be a cycle).
    private struct SharedIDs {
        var next = 0
        var open = Set<Int>()
    }

    /// Reads a tag and its payload; for a list or map, only its count.
    private static func decodeValueHead(
        _ r: inout ByteReader, depth: Int, limits: ReadLimits, arrayCount: Int, allowArrayRefs: Bool,
        shared: inout SharedIDs
    ) throws(BrineError) -> ValueHead {
        let tagOffset = r.absoluteOffset
        /// Lists, maps and shared nodes each open one level (the read side of
        /// ``Value/checkWritableDepth(_:filePath:)``).
        func checkDepth() throws(BrineError) {
            guard depth < limits.maxDepth else {
                throw BrineError(.limitExceeded, "object tree nests deeper than \(limits.maxDepth)", filePath: r.filePath, byteOffset: tagOffset)
            }
        }
        let raw = try r.u8("value tag")
        guard let tag = Tag(rawValue: raw) else {
            throw BrineError(.corruptHeader, "unknown value tag 0x\(String(raw, radix: 16))", filePath: r.filePath, byteOffset: tagOffset)
        }
        switch tag {
        case .null: return .value(.null)
        case .false: return .value(.bool(false))
        case .true: return .value(.bool(true))
        case .int: return .value(.int(try r.zigzag("integer")))
        case .uint: return .value(.uint(try r.varint("unsigned integer")))
        case .float32: return .value(.float32(Float(bitPattern: try r.u32("float32"))))
        case .float64: return .value(.float64(Double(bitPattern: try r.u64("float64"))))
        case .string: return .value(.string(try r.string("string")))
        case .bytes:
            let n = try r.count("bytes length", max: r.remaining, code: .corruptHeader)
            return .value(.bytes(Array(try r.bytes(n))))
        case .list, .map:
            try checkDepth()
            // Every element takes at least one byte (two for a map entry).
            let n = try r.count(tag == .list ? "list count" : "map count", max: r.remaining, code: .corruptHeader)
            var c = OpenContainer(isMap: tag == .map, remaining: n)
            if tag == .list {
                c.items.reserveCapacity(Header.initialCapacity(n))
            } else {
                guard n <= r.remaining / 2 else { throw r.fail("map count \(n) cannot fit in \(r.remaining) bytes") }
                c.entries.reserveCapacity(Header.initialCapacity(n))
            }
            return .open(c)
        case .arrayRef:
            let i = try r.varint("array reference")
            guard allowArrayRefs, i < UInt64(arrayCount) else {
                throw BrineError(.corruptHeader, "array reference #\(i) with \(arrayCount) arrays", filePath: r.filePath, byteOffset: tagOffset)
            }
            return .value(.arrayRef(Int(i)))
        case .shared:
            // Shared nodes belong to the object tree, like array references.
            let i = try r.varint("shared id")
            guard allowArrayRefs, i == UInt64(shared.next) else {
                throw BrineError(.corruptHeader, "shared node #\(i) where #\(shared.next) was expected (ids count up from 0 in order of appearance; none in metadata)", filePath: r.filePath, byteOffset: tagOffset)
            }
            try checkDepth()
            shared.next += 1
            shared.open.insert(Int(i))
            return .open(OpenContainer(isMap: false, remaining: 1, sharedID: Int(i)))
        case .sharedRef:
            let i = try r.varint("shared reference")
            guard allowArrayRefs, i < UInt64(shared.next), !shared.open.contains(Int(i)) else {
                throw BrineError(.corruptHeader, "reference to shared node #\(i), which does not precede it complete (\(shared.next) shared nodes so far)", filePath: r.filePath, byteOffset: tagOffset)
            }
            return .value(.sharedRef(Int(i)))
        }
    }
}

/// The fixed 64-byte trailer at the end of every Brine file (docs/FORMAT.md, "Trailer").
struct Trailer: Equatable {
    var headerOffset: UInt64
    var headerLength: UInt64
    var headerChecksum: UInt64
    var fileLength: UInt64
    var major: UInt16 = FormatSpec.majorVersion
    var minor: UInt16 = FormatSpec.minorVersion
    var flags: UInt32 = 0

    func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: FormatSpec.trailerSize)
        w.u64(headerOffset)
        w.u64(headerLength)
        w.u64(headerChecksum)
        w.u64(fileLength)
        w.u16(major)
        w.u16(minor)
        w.u32(flags)
        w.u64(0)
        let sum = w.bytes.withUnsafeBytes { Checksum.xxh3($0) }
        w.u64(sum)
        w.raw(FormatSpec.trailerMagic)
        assert(w.bytes.count == FormatSpec.trailerSize)
        return w.bytes
    }

    /// Parses and checks a trailer read from the last 64 bytes of a file of `fileSize` bytes.
    /// - Throws: ``BrineError`` `.notABrineFile`, `.checksumMismatch`, `.unsupportedVersion`, `.truncated`, `.layout`, `.limitExceeded`.
    static func decode(_ bytes: UnsafeRawBufferPointer, fileSize: UInt64, limits: ReadLimits, path: String?) throws(BrineError) -> Trailer {
        precondition(bytes.count == FormatSpec.trailerSize)
        let at = fileSize - UInt64(FormatSpec.trailerSize)
        guard bytes[56 ..< 64].elementsEqual(FormatSpec.trailerMagic) else {
            throw BrineError(.notABrineFile, "the file does not end with the Brine trailer (truncated, or not a Brine file)", filePath: path, byteOffset: at + 56)
        }
        var r = ByteReader(bytes, fileOffset: at, errorCode: .corruptHeader, filePath: path)
        let t = Trailer(
            headerOffset: try r.u64(), headerLength: try r.u64(), headerChecksum: try r.u64(), fileLength: try r.u64(),
            major: try r.u16(), minor: try r.u16(), flags: try r.u32())
        _ = try r.u64()
        let stored = try r.u64()
        let actual = Checksum.xxh3(UnsafeRawBufferPointer(rebasing: bytes[0 ..< 48]))
        guard stored == actual else {
            throw BrineError(.checksumMismatch, "trailer checksum mismatch (stored \(hex(stored)), computed \(hex(actual)))", filePath: path, byteOffset: at + 48)
        }
        guard t.major == FormatSpec.majorVersion else {
            throw BrineError(.unsupportedVersion, "format version \(t.major).\(t.minor); this reader knows major version \(FormatSpec.majorVersion)", filePath: path, byteOffset: at + 32)
        }
        guard t.fileLength == fileSize else {
            throw BrineError(t.fileLength > fileSize ? .truncated : .layout, "trailer records a file of \(t.fileLength) bytes, the file has \(fileSize)", filePath: path, byteOffset: at + 24)
        }
        guard t.headerLength <= UInt64(limits.maxHeaderBytes) else {
            throw BrineError(.limitExceeded, "header of \(t.headerLength) bytes is over the limit of \(limits.maxHeaderBytes)", filePath: path, byteOffset: at + 8)
        }
        let (end, o) = t.headerOffset.addingReportingOverflow(t.headerLength)
        guard t.headerOffset >= UInt64(FormatSpec.preambleSize), !o, end == at else {
            throw BrineError(.layout, "header \(t.headerOffset) + \(t.headerLength) does not end where the trailer starts (\(at))", filePath: path, byteOffset: at)
        }
        return t
    }
}

/// `0x` and 16 hex digits.
func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16).leftPad(16) }

/// The 16-byte preamble: magic, major and minor version, flags (0).
enum Preamble {
    static func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: FormatSpec.preambleSize)
        w.raw(FormatSpec.magic)
        w.u16(FormatSpec.majorVersion)
        w.u16(FormatSpec.minorVersion)
        w.u32(0)
        return w.bytes
    }

    /// Checks the magic and major version.
    /// - Throws: ``BrineError`` `.notABrineFile` or `.unsupportedVersion`.
    static func check(_ bytes: UnsafeRawBufferPointer, path: String?) throws(BrineError) {
        guard bytes.count >= FormatSpec.preambleSize, bytes[0 ..< 8].elementsEqual(FormatSpec.magic) else {
            throw BrineError(.notABrineFile, "the file does not start with the Brine magic", filePath: path, byteOffset: 0)
        }
        let major = UInt16(bytes[8]) | UInt16(bytes[9]) << 8
        guard major == FormatSpec.majorVersion else {
            throw BrineError(.unsupportedVersion, "format version \(major); this reader knows major version \(FormatSpec.majorVersion)", filePath: path, byteOffset: 8)
        }
    }
}
