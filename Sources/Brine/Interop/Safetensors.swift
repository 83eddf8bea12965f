import Foundation
import SystemPackage

// safetensors (https://github.com/huggingface/safetensors, README "Format";
// validation as in the reference `safetensors` crate, `SafeTensors::read_metadata`
// and `Metadata::validate`):
//
//   8 bytes          N, u64 little-endian: the header length
//   N bytes          a UTF-8 JSON object: {"__metadata__": {str: str}, name: {"dtype": "F32",
//                    "shape": [d0, …], "data_offsets": [begin, end]}, …}
//   rest of file     the data section; each tensor's bytes (C order, little-endian) are
//                    data[begin ..< end]; the tensors cover it exactly, back to back.

extension DType {
    /// The safetensors dtype string (`"F32"`, `"BF16"`, `"BOOL"`, …).
    public var safetensorsName: String {
        switch self {
        case .bool: return "BOOL"
        case .int8: return "I8"
        case .int16: return "I16"
        case .int32: return "I32"
        case .int64: return "I64"
        case .uint8: return "U8"
        case .uint16: return "U16"
        case .uint32: return "U32"
        case .uint64: return "U64"
        case .float16: return "F16"
        case .bfloat16: return "BF16"
        case .float32: return "F32"
        case .float64: return "F64"
        }
    }

    /// Parses a safetensors dtype string; `nil` for strings Brine does not
    /// support (including safetensors' `F8_E4M3`, `F8_E5M2`, `F4`, `C64`, …).
    public init?(safetensorsName: String) {
        guard let d = DType.allCases.first(where: { $0.safetensorsName == safetensorsName }) else { return nil }
        self = d
    }

    /// The position of the dtype in the reference implementation's `Dtype`
    /// enum (its declaration order, which the writer sorts by).
    var safetensorsRank: Int {
        switch self {
        case .bool: return 0
        case .uint8: return 1
        case .int8: return 2
        case .int16: return 3
        case .uint16: return 4
        case .float16: return 5
        case .bfloat16: return 6
        case .int32: return 7
        case .uint32: return 8
        case .float32: return 9
        case .float64: return 10
        case .int64: return 11
        case .uint64: return 12
        }
    }
}

/// One tensor of a safetensors file, as its header declares it.
public struct SafetensorsEntry: Sendable, Hashable {
    /// The tensor's name (the header key).
    public let name: String
    /// The element type.
    public let dtype: DType
    /// The dimensions, C order (rank 0 and zero-length dimensions allowed).
    public let shape: [Int]
    /// `data_offsets`: the byte range of the tensor inside the data section
    /// (relative to the first byte after the header).
    public let dataOffsets: Range<Int>
    /// The absolute file offset of the tensor's first byte.
    public let fileOffset: Int
    /// The number of bytes, `product(shape) * dtype.itemSize`.
    public var byteCount: Int { dataOffsets.count }
}

/// A safetensors file opened for reading (spec: the huggingface/safetensors
/// README; validation as strict as the reference implementation's).
///
/// Opening reads and validates only the 8-byte length and the JSON header:
/// - the header length is at most ``InteropReadOptions/maxSafetensorsHeaderBytes``
///   (100,000,000 bytes, as the reference) and inside the file;
/// - the header is valid UTF-8 and one JSON object without duplicate keys;
/// - `__metadata__`, when present, maps strings to strings;
/// - every other key is a tensor `{"dtype", "shape", "data_offsets": [begin, end]}`
///   whose `end - begin` equals `product(shape) * itemsize` (overflow-checked);
/// - sorted by offsets, the tensors are back to back from 0 and end exactly at
///   the end of the file: no overlap, no hole, no trailing bytes.
///
/// Tensors are read when asked for: in copy mode with one `pread(2)` each,
/// in the mmap modes as zero-copy views into the mapping (which they keep
/// alive) whenever the tensor's address is a multiple of its item size. The
/// reference writer guarantees that (header padded to 8 bytes, tensors
/// sorted by descending alignment); other tensors are copied.
///
/// Thread safety: all methods may be called from several threads at once
/// (every field is immutable after init).
public final class SafetensorsFile: Sendable {
    /// The file path (`"<memory>"` for a buffer).
    public var path: String { source.path ?? "<memory>" }
    /// How the file was opened.
    public let mode: LoadMode
    /// The tensors in file order (ascending data offsets, the order of the
    /// reference reader).
    public let entries: [SafetensorsEntry]
    /// The `__metadata__` map (empty when absent).
    public let metadata: [String: String]
    /// The JSON header length N in bytes (including its space padding).
    public let headerLength: Int
    /// The absolute file offset of the data section (`8 + headerLength`).
    public var dataSectionOffset: Int { 8 + headerLength }

    /// Positions by name: exact code points first (see ``NameIndex``).
    private let index: NameIndex
    private let source: ByteSource
    private let options: InteropReadOptions

    /// The tensor names in file order.
    public var names: [String] { entries.map(\.name) }

    /// The file's size in bytes (the buffer's for bytes read from memory).
    public var fileSize: Int { source.size }

    /// Opens and validates a safetensors file.
    /// - Parameters:
    ///   - url: a file URL.
    ///   - mode: `.copy` (default, `pread`) or an mmap mode (zero-copy views;
    ///     `.mmapReadWrite` writes through to the file, see ``flush()``).
    ///   - options: caps and threads.
    /// - Throws: ``BrineError`` `.notFound`, `.invalidArgument` (not a regular
    ///   file; a path with a NUL byte), `.io`; `.truncated` when the file
    ///   is shorter than its header or tensors claim; `.limitExceeded` for a
    ///   header over the cap, a rank over ``ReadLimits/maxRank`` or more than
    ///   ``ReadLimits/maxArrays`` tensors; `.unsupportedDType` for a dtype Brine
    ///   does not have; `.invalidInterop` for every other malformation (with
    ///   the tensor name and byte offset when known).
    public convenience init(contentsOf url: URL, mode: LoadMode = .copy, options: InteropReadOptions = .init()) throws(BrineError) {
        try self.init(path: url.path, mode: mode, options: options)
    }

    /// Opens a safetensors file by path. See ``init(contentsOf:mode:options:)``.
    public convenience init(path: String, mode: LoadMode = .copy, options: InteropReadOptions = .init()) throws(BrineError) {
        try self.init(source: ByteSource(path: path, mode: mode), mode: mode, options: options)
    }

    /// Opens a safetensors file held in memory. The bytes are copied once;
    /// aligned tensors are then zero-copy, read-only views into that copy.
    /// - Throws: the codes of ``init(contentsOf:mode:options:)`` but `.notFound`/`.io`.
    public convenience init(bytes: UnsafeRawBufferPointer, options: InteropReadOptions = .init()) throws(BrineError) {
        try self.init(source: ByteSource(copying: bytes), mode: .mmap, options: options)
    }

    private init(source: ByteSource, mode: LoadMode, options: InteropReadOptions) throws(BrineError) {
        let parsed = try source.taggingErrors { () throws(BrineError) in try SafetensorsFile.parse(source, options: options) }
        self.source = source
        self.mode = mode
        self.options = options
        self.entries = parsed.entries
        self.metadata = parsed.metadata
        self.headerLength = parsed.headerLength
        var index = NameIndex()
        for (i, e) in parsed.entries.enumerated() { index.insert(e.name, at: i) }
        self.index = index
    }

    /// The entry named `name`, or `nil`.
    public func entry(_ name: String) -> SafetensorsEntry? {
        index[name].map { entries[$0] }
    }

    /// Loads one tensor.
    /// - Returns: a zero-copy view in the mmap modes when aligned, else a copy.
    /// - Throws: ``BrineError`` `.arrayNotFound`, `.io`, `.truncated` (file shrank).
    public func tensor(_ name: String) throws(BrineError) -> AnyTensor {
        guard let i = index[name] else {
            throw BrineError(.arrayNotFound, "no tensor with this name", filePath: path, arrayPath: name)
        }
        return try load(entries[i])
    }

    /// Loads every tensor (in parallel in copy mode, one `pread` each).
    /// - Returns: the tensors in file order.
    /// - Throws: see ``tensor(_:)``.
    public func loadAll() throws(BrineError) -> [(name: String, tensor: AnyTensor)] {
        let threads = source.isMapped ? 1 : Swift.max(1, Swift.min(options.threads, entries.count))
        let tensors = try loadInParallel(count: entries.count, threads: threads) { (i) throws(BrineError) in try load(entries[i]) }
        return zip(entries, tensors).map { ($0.name, $1) }
    }

    /// Writes dirty pages of a `.mmapReadWrite` file back (`msync(2)`); a no-op otherwise.
    /// - Throws: ``BrineError`` `.io`.
    public func flush() throws(BrineError) {
        try source.flush()
    }

    private func load(_ e: SafetensorsEntry) throws(BrineError) -> AnyTensor {
        let storage: TensorStorage
        if let v = source.view(e.fileOffset, e.byteCount, alignment: e.dtype.itemSize) {
            storage = v
        } else {
            storage = TensorStorage(uninitializedByteCount: e.byteCount)
            do throws(BrineError) {
                try source.read(into: UnsafeMutableRawBufferPointer(start: storage.baseAddress, count: e.byteCount), at: e.fileOffset)
            } catch {
                throw error.inArray(e.name).inFile(path)
            }
        }
        return try AnyTensor(dtype: e.dtype, shape: e.shape, storage: storage)
    }

    // MARK: Parsing and validation

    private static func parse(
        _ source: ByteSource, options: InteropReadOptions
    ) throws(BrineError) -> (entries: [SafetensorsEntry], metadata: [String: String], headerLength: Int) {
        let size = source.size
        guard size >= 8 else {
            throw BrineError(.truncated, "file of \(size) bytes is shorter than the 8-byte safetensors header length", byteOffset: UInt64(size))
        }
        let lengthBytes = try source.read(0, 8)
        var n64: UInt64 = 0
        for i in 0 ..< 8 { n64 |= UInt64(lengthBytes[i]) << (8 * UInt64(i)) }
        guard n64 <= UInt64(options.maxSafetensorsHeaderBytes) else {
            throw BrineError(.limitExceeded, "header length \(n64) is over the limit of \(options.maxSafetensorsHeaderBytes) bytes", byteOffset: 0)
        }
        let n = Int(n64)
        guard n <= size - 8 else {
            throw BrineError(.truncated, "header of \(n) bytes runs past the end of the file (\(size) bytes)", byteOffset: 0)
        }
        let header = try source.read(8, n)
        return try typedThrows {
            try header.withUnsafeBytes { (h) throws -> ([SafetensorsEntry], [String: String], Int) in
                if let bad = firstInvalidUTF8Offset(h) {
                    throw BrineError(.invalidInterop, "header is not valid UTF-8", byteOffset: UInt64(8 + bad))
                }
                let json = try JSON.parse(h, maxDepth: 16, fileOffset: 8)
                let (entries, metadata) = try validate(json, headerLength: n, fileSize: size, options: options)
                return (entries, metadata, n)
            }
        }
    }

    /// Checks the parsed header against the schema and the file size.
    private static func validate(
        _ json: JSON, headerLength n: Int, fileSize: Int, options: InteropReadOptions
    ) throws(BrineError) -> ([SafetensorsEntry], [String: String]) {
        guard case .object(let top) = json else {
            throw BrineError(.invalidInterop, "header is \(json.kindName), not a JSON object", byteOffset: 8)
        }
        var metadata: [String: String] = [:]
        var raw: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (key, value) in top {
            if key == "__metadata__" {
                switch value {
                case .null: break
                case .object(let m):
                    for (k, v) in m {
                        guard case .string(let s) = v else {
                            throw BrineError(.invalidInterop, "__metadata__ value for key \(Value.quoted(k)) is \(v.kindName), not a string", byteOffset: 8)
                        }
                        // Two spellings a [String: String] would merge (one value lost).
                        try metadata.refuseOtherSpelling(of: k, names: "__metadata__ keys", holder: "the metadata map") { BrineError(.unsupportedFeature, $0, byteOffset: 8) }
                        metadata[k] = s
                    }
                default:
                    throw BrineError(.invalidInterop, "__metadata__ is \(value.kindName), not an object of strings", byteOffset: 8)
                }
                continue
            }
            guard raw.count < options.limits.maxArrays else {
                throw BrineError(.limitExceeded, "more than \(options.limits.maxArrays) tensors", byteOffset: 8)
            }
            raw.append(try tensorInfo(key, value, options: options))
        }
        // As the reference: order by data_offsets, then require the tensors to
        // be back to back from 0 to the end of the file.
        raw.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        let dataStart = 8 + n
        var expected = 0
        var entries: [SafetensorsEntry] = []
        entries.reserveCapacity(raw.count)
        for t in raw {
            guard t.begin == expected else {
                let what = t.begin < expected ? "overlaps the previous tensor" : "leaves a gap of \(t.begin - expected) bytes after the previous tensor"
                throw BrineError(.invalidInterop, "data_offsets [\(t.begin), \(t.end)] \(what) (data must cover the data section contiguously)",
                                 arrayPath: t.name, byteOffset: UInt64(clamping: dataStart.addingReportingOverflow(t.begin).partialValue))
            }
            guard let bytes = Shape.byteCount(t.shape, itemSize: t.dtype.itemSize) else {
                throw BrineError(.invalidInterop, "shape \(t.shape) of \(t.dtype.safetensorsName) overflows the byte count",
                                 arrayPath: t.name, byteOffset: UInt64(dataStart) &+ UInt64(t.begin))
            }
            guard t.end >= t.begin, t.end - t.begin == bytes else {
                throw BrineError(.invalidInterop, "data_offsets [\(t.begin), \(t.end)] do not span the \(bytes) bytes of shape \(t.shape) of \(t.dtype.safetensorsName)",
                                 arrayPath: t.name, byteOffset: UInt64(dataStart) &+ UInt64(t.begin))
            }
            let (fileOffset, o) = dataStart.addingReportingOverflow(t.begin)
            guard !o, fileOffset <= fileSize, bytes <= fileSize - fileOffset else {
                throw BrineError(.truncated, "tensor data [\(t.begin), \(t.end)] runs past the end of the file (data section of \(fileSize - dataStart) bytes)",
                                 arrayPath: t.name, byteOffset: UInt64(clamping: fileOffset))
            }
            entries.append(SafetensorsEntry(name: t.name, dtype: t.dtype, shape: t.shape, dataOffsets: t.begin ..< t.end, fileOffset: fileOffset))
            expected = t.end
        }
        let dataBytes = fileSize - dataStart
        if expected != dataBytes {
            // `expected > dataBytes` is impossible here: every tensor was checked against the file size.
            throw BrineError(.invalidInterop, "the tensors cover \(expected) bytes but the data section has \(dataBytes): \(dataBytes - expected) trailing bytes are not covered by any tensor",
                             byteOffset: UInt64(dataStart + expected))
        }
        return (entries, metadata)
    }

    private static func tensorInfo(
        _ name: String, _ value: JSON, options: InteropReadOptions
    ) throws(BrineError) -> (name: String, dtype: DType, shape: [Int], begin: Int, end: Int) {
        func fail(_ message: String) -> BrineError { BrineError(.invalidInterop, message, arrayPath: name) }
        guard case .object(let fields) = value else {
            throw fail("tensor entry is \(value.kindName), not an object")
        }
        var dtypeValue: JSON?, shapeValue: JSON?, offsetsValue: JSON?
        // Unknown fields are ignored, as the reference's serde derive does.
        for (k, v) in fields {
            switch k {
            case "dtype": dtypeValue = v
            case "shape": shapeValue = v
            case "data_offsets": offsetsValue = v
            default: continue
            }
        }
        guard let dtypeValue else { throw fail("missing field \"dtype\"") }
        guard let shapeValue else { throw fail("missing field \"shape\"") }
        guard let offsetsValue else { throw fail("missing field \"data_offsets\"") }
        guard case .string(let dtypeName) = dtypeValue else { throw fail("\"dtype\" is \(dtypeValue.kindName), not a string") }
        guard let dtype = DType(safetensorsName: dtypeName) else {
            throw BrineError(.unsupportedDType, "dtype \(Value.quoted(dtypeName)) is not supported (Brine reads BOOL, U8, I8, I16, U16, I32, U32, I64, U64, F16, BF16, F32, F64)", arrayPath: name)
        }
        guard case .array(let dims) = shapeValue else { throw fail("\"shape\" is \(shapeValue.kindName), not an array") }
        guard dims.count <= options.limits.maxRank else {
            throw BrineError(.limitExceeded, "rank \(dims.count) is over the limit of \(options.limits.maxRank)", arrayPath: name)
        }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for d in dims {
            guard let v = d.nonNegativeInt else { throw fail("shape dimension \(d.compactTextString) is not a non-negative integer") }
            shape.append(v)
        }
        guard case .array(let offs) = offsetsValue, offs.count == 2 else {
            throw fail("\"data_offsets\" is not an array of two integers")
        }
        guard let begin = offs[0].nonNegativeInt, let end = offs[1].nonNegativeInt else {
            throw fail("\"data_offsets\" [\(offs[0].compactTextString), \(offs[1].compactTextString)] are not non-negative integers")
        }
        return (name, dtype, shape, begin, end)
    }
}

extension JSON {
    /// The compact JSON text as a `String` (for error messages).
    var compactTextString: String { String(decoding: compactText, as: UTF8.self) }
}

/// The safetensors writer (spec: the huggingface/safetensors README; layout
/// exactly as the reference `serialize_to_file`).
public enum Safetensors {
    /// The largest header the reference implementation reads: 100,000,000 bytes.
    public static let maxHeaderBytes = 100_000_000

    /// Writes tensors as a safetensors file, atomically (temporary file,
    /// `fsync`, `rename(2)`; a failed write leaves the destination untouched).
    ///
    /// The layout is byte-identical to the reference writer's: tensors are
    /// ordered by descending dtype (the reference `Dtype` order, so wider
    /// types come first and every tensor is aligned to its item size), then by
    /// name (UTF-8 byte order); the header is compact JSON with `__metadata__`
    /// first (omitted when `metadata` is empty; keys sorted by UTF-8 bytes),
    /// then each tensor as `{"dtype","shape","data_offsets"}`, padded with
    /// spaces to a multiple of 8 bytes; the data follows, contiguous. Each
    /// tensor is written with one `pwrite(2)`.
    /// - Parameters:
    ///   - tensors: the tensors and their names (unique, not `__metadata__`).
    ///   - metadata: the `__metadata__` string map.
    ///   - url: the destination file URL; its folder must exist.
    ///   - durable: `fsync` file and folder before returning (default `true`).
    /// - Throws: ``BrineError`` `.invalidArgument` (duplicate or reserved name),
    ///   `.limitExceeded` (header over 100,000,000 bytes), `.notFound`, `.io`.
    public static func write(
        _ tensors: [(name: String, tensor: AnyTensor)], metadata: [String: String] = [:], to url: URL, durable: Bool = true
    ) throws(BrineError) {
        let path = url.path
        let (header, order, _) = try encodeHeader(tensors, metadata: metadata, path: path)
        try AtomicFile.replace(at: RegularFile.exactPath(path), durable: durable) { file throws(BrineError) in
            let fd = file.fd
            try typedThrows { try header.withUnsafeBytes { b in try fd.pwriteFully(b, at: 0).orThrow("write", path: path) } }
            var offset = header.count
            for i in order {
                let t = tensors[i].tensor
                try fd.pwriteFully(t.storage.bytes, at: Int64(offset)).orThrow("write", path: path)
                withExtendedLifetime(t.storage) {}
                offset += t.byteCount
            }
        }
    }

    /// The 8-byte length plus padded JSON header for `tensors`, the order in
    /// which their data follows, and each tensor's `data_offsets`.
    static func encodeHeader(
        _ tensors: [(name: String, tensor: AnyTensor)], metadata: [String: String], path: String?
    ) throws(BrineError) -> (bytes: [UInt8], order: [Int], offsets: [Range<Int>]) {
        var seen = Set<ExactName>()
        for (name, _) in tensors {
            guard name != "__metadata__" else {
                throw BrineError(.invalidArgument, "\"__metadata__\" is reserved and cannot name a tensor", filePath: path, arrayPath: name)
            }
            guard seen.insert(ExactName(name)).inserted else {
                throw BrineError(.invalidArgument, "duplicate tensor name", filePath: path, arrayPath: name)
            }
        }
        let order = tensors.indices.sorted { a, b in
            let da = tensors[a].tensor.dtype.safetensorsRank, db = tensors[b].tensor.dtype.safetensorsRank
            if da != db { return da > db }
            return utf8Less(tensors[a].name, tensors[b].name)
        }
        var entries: [(key: String, value: JSON)] = []
        entries.reserveCapacity(tensors.count + 1)
        if !metadata.isEmpty {
            let keys = metadata.keys.sorted(by: utf8Less)
            entries.append(("__metadata__", .object(keys.map { ($0, JSON.string(metadata[$0]!)) })))
        }
        var offset = 0
        var offsets = [Range<Int>](repeating: 0 ..< 0, count: tensors.count)
        for i in order {
            let t = tensors[i].tensor
            let n = t.byteCount
            offsets[i] = offset ..< offset + n
            entries.append((tensors[i].name, .object([
                ("dtype", .string(t.dtype.safetensorsName)),
                ("shape", .array(t.shape.map { .integer(negative: false, magnitude: UInt64($0)) })),
                ("data_offsets", .array([.integer(negative: false, magnitude: UInt64(offset)),
                                         .integer(negative: false, magnitude: UInt64(offset + n))])),
            ])))
            offset += n
        }
        var json = JSON.object(entries).compactText
        let pad = (8 - json.count % 8) % 8
        json.append(contentsOf: repeatElement(UInt8(ascii: " "), count: pad))
        guard json.count <= maxHeaderBytes else {
            throw BrineError(.limitExceeded, "header of \(json.count) bytes is over the safetensors limit of \(maxHeaderBytes)", filePath: path)
        }
        var out: [UInt8] = []
        out.reserveCapacity(8 + json.count)
        let n = UInt64(json.count)
        for i in 0 ..< 8 { out.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
        out.append(contentsOf: json)
        return (out, order, offsets)
    }
}
