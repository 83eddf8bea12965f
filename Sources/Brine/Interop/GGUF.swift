import Foundation
import SystemPackage

// GGUF, version 3 (and 2, which has the same layout), as llama.cpp specifies it
// (ggml docs/gguf.md; ggml/src/gguf.cpp; gguf-py). Little-endian throughout:
//
//   u32 magic "GGUF"   u32 version   u64 tensor_count   u64 metadata_kv_count
//   metadata_kv_count × { gguf_string key, u32 value_type, value }
//   tensor_count × { gguf_string name, u32 n_dims, u64 ne[n_dims] (innermost first),
//                    u32 ggml_type, u64 offset (relative to the data section) }
//   zero padding to `general.alignment` (default 32)
//   the data section: each tensor at its offset, a multiple of the alignment
//
//   gguf_string = u64 length, UTF-8 bytes (no terminator)
//   value = u8 | i8 | u16 | i16 | u32 | i32 | f32 | bool (one byte, 0 or 1)
//         | gguf_string | u64 | i64 | f64
//         | array: u32 element type, u64 count, count × value (arrays may nest)

/// A ggml tensor type, as GGUF tensor infos record it (`enum ggml_type`).
///
/// Plain types (F32, F16, BF16, F64, I8, I16, I32, I64) map to a Brine
/// ``DType``; quantized types (Q4_0, Q8_0, the K-quants, the IQ types, …)
/// are blocks of `blockSize` elements stored in `typeSize` bytes, and have
/// no numeric view in Brine.
public struct GGMLType: Hashable, Sendable, CustomStringConvertible {
    /// The `ggml_type` number stored in the file.
    public let rawValue: UInt32
    /// The name llama.cpp gives it (`"F32"`, `"Q4_0"`, `"Q6_K"`, …).
    public let name: String
    /// Elements per block (1 for the plain types).
    public let blockSize: Int
    /// Bytes per block.
    public let typeSize: Int

    /// The matching Brine dtype for the plain types; `nil` for quantized types.
    public var dtype: DType? {
        switch rawValue {
        case 0: return .float32
        case 1: return .float16
        case 24: return .int8
        case 25: return .int16
        case 26: return .int32
        case 27: return .int64
        case 28: return .float64
        case 30: return .bfloat16
        default: return nil
        }
    }

    /// `true` for block-quantized types (no numeric view).
    public var isQuantized: Bool { dtype == nil }

    /// The type's name.
    public var description: String { name }

    /// Every type this build knows (the table of gguf-py's `GGML_QUANT_SIZES`).
    public static let known: [GGMLType] = [
        .init(0, "F32", 1, 4), .init(1, "F16", 1, 2), .init(2, "Q4_0", 32, 18), .init(3, "Q4_1", 32, 20),
        .init(6, "Q5_0", 32, 22), .init(7, "Q5_1", 32, 24), .init(8, "Q8_0", 32, 34), .init(9, "Q8_1", 32, 40),
        .init(10, "Q2_K", 256, 84), .init(11, "Q3_K", 256, 110), .init(12, "Q4_K", 256, 144),
        .init(13, "Q5_K", 256, 176), .init(14, "Q6_K", 256, 210), .init(15, "Q8_K", 256, 292),
        .init(16, "IQ2_XXS", 256, 66), .init(17, "IQ2_XS", 256, 74), .init(18, "IQ3_XXS", 256, 98),
        .init(19, "IQ1_S", 256, 50), .init(20, "IQ4_NL", 32, 18), .init(21, "IQ3_S", 256, 110),
        .init(22, "IQ2_S", 256, 82), .init(23, "IQ4_XS", 256, 136), .init(24, "I8", 1, 1), .init(25, "I16", 1, 2),
        .init(26, "I32", 1, 4), .init(27, "I64", 1, 8), .init(28, "F64", 1, 8), .init(29, "IQ1_M", 256, 56),
        .init(30, "BF16", 1, 2), .init(34, "TQ1_0", 256, 54), .init(35, "TQ2_0", 256, 66),
        .init(39, "MXFP4", 32, 17), .init(40, "NVFP4", 64, 36), .init(41, "Q1_0", 128, 18),
    ]

    private init(_ rawValue: UInt32, _ name: String, _ blockSize: Int, _ typeSize: Int) {
        self.rawValue = rawValue
        self.name = name
        self.blockSize = blockSize
        self.typeSize = typeSize
    }

    /// The type with this number, or `nil` for numbers this build does not know.
    public init?(rawValue: UInt32) {
        guard let t = GGMLType.known.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = t
    }

    /// The type with this name (`"Q8_0"`), or `nil`.
    public init?(name: String) {
        guard let t = GGMLType.known.first(where: { $0.name == name }) else { return nil }
        self = t
    }

    /// The plain type for a Brine dtype; `nil` for bool and the unsigned
    /// integers, which ggml does not have.
    public init?(dtype: DType) {
        guard let t = GGMLType.known.first(where: { $0.dtype == dtype }) else { return nil }
        self = t
    }

    /// The bytes of one row of `elements` elements (the innermost dimension),
    /// or `nil` when `elements` is not a multiple of the block size or overflows.
    public func rowBytes(_ elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        let (n, o) = (elements / blockSize).multipliedReportingOverflow(by: typeSize)
        return o ? nil : n
    }

    /// The bytes of a tensor of this type with a C-order `shape` (outermost
    /// first; the last dimension is ggml's `ne[0]`), or `nil` when the last
    /// dimension is not a multiple of the block size or the size overflows.
    public func byteCount(shape: [Int]) -> Int? {
        guard let row = rowBytes(shape.last ?? 1) else { return nil }
        var n = row
        for d in shape.dropLast() {
            guard d >= 0 else { return nil }
            let (m, o) = n.multipliedReportingOverflow(by: d)
            if o { return nil }
            n = m
        }
        return n
    }
}

/// The type of a GGUF metadata value (`enum gguf_type`).
public enum GGUFValueType: UInt32, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// The spec's names in capitals, by raw value (the raw values run 0…12 without gaps).
    private static let names = [
        "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
    ]

    /// The spec's name in capitals (`"UINT32"`, `"STRING"`, `"ARRAY"`, …).
    public var description: String { Self.names[Int(rawValue)] }

    /// The type for a spec name (`"UINT32"`), or `nil`.
    public init?(name: String) {
        guard let t = GGUFValueType.allCases.first(where: { $0.description == name }) else { return nil }
        self = t
    }

    /// The size of one value in bytes; `nil` for strings and arrays.
    var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }
}

/// One GGUF metadata value, typed exactly as the file stores it.
public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
    /// An array: the element type (kept for empty arrays) and the elements,
    /// each of that type (arrays of arrays nest).
    case array(GGUFValueType, [GGUFValue])

    /// The value's type.
    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        case .array: return .array
        }
    }

    /// Floats compare by bit pattern (NaN payloads and -0 are kept).
    public static func == (lhs: GGUFValue, rhs: GGUFValue) -> Bool {
        switch (lhs, rhs) {
        case let (.uint8(a), .uint8(b)): return a == b
        case let (.int8(a), .int8(b)): return a == b
        case let (.uint16(a), .uint16(b)): return a == b
        case let (.int16(a), .int16(b)): return a == b
        case let (.uint32(a), .uint32(b)): return a == b
        case let (.int32(a), .int32(b)): return a == b
        case let (.float32(a), .float32(b)): return a.bitPattern == b.bitPattern
        case let (.bool(a), .bool(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.uint64(a), .uint64(b)): return a == b
        case let (.int64(a), .int64(b)): return a == b
        case let (.float64(a), .float64(b)): return a.bitPattern == b.bitPattern
        case let (.array(t1, a), .array(t2, b)): return t1 == t2 && a == b
        default: return false
        }
    }
}

/// One tensor of a GGUF file, as its tensor info declares it.
public struct GGUFTensorInfo: Sendable, Hashable {
    /// The tensor's name.
    public let name: String
    /// The ggml type.
    public let type: GGMLType
    /// The logical shape in elements, C order (outermost first): the file's
    /// `ne` array reversed (GGUF stores the innermost dimension first).
    public let shape: [Int]
    /// The offset of the tensor's first byte from the start of the data section.
    public let offset: Int
    /// The absolute file offset of the tensor's first byte.
    public let fileOffset: Int
    /// The stored size in bytes (whole blocks for quantized types).
    public let byteCount: Int

    /// The file's `ne` array: dimensions innermost first.
    public var dimensions: [Int] { shape.reversed() }
}

/// Caps for reading GGUF files (every field is checked against them and
/// the file size before anything it sizes is allocated).
public struct GGUFReadOptions: Sendable, Hashable {
    /// ``ReadLimits/maxArrays`` caps the tensor count;
    /// ``ReadLimits/maxAllocationBytes`` caps one tensor copied into memory;
    /// ``ReadLimits/maxHeaderBytes`` caps the metadata plus tensor infos.
    public var limits: ReadLimits = ReadLimits()
    /// Most metadata key/value pairs. Default 1,048,576.
    public var maxKeyValues: Int = 1 << 20
    /// Longest string (key, value or tensor name), in bytes. Default 16 MiB.
    public var maxStringBytes: Int = 16 << 20
    /// Most metadata values in all (each array element counts once). Default 8,388,608.
    public var maxValues: Int = 1 << 23
    /// Deepest nesting of arrays in a metadata value. Default 8.
    public var maxArrayDepth: Int = 8

    /// The defaults.
    public init() {}
}

/// Namespace for GGUF constants and the writer.
public enum GGUF {
    /// `"GGUF"`, the first four bytes.
    public static let magic: [UInt8] = Array("GGUF".utf8)
    /// The version this writer produces.
    public static let version: UInt32 = 3
    /// The alignment of the data section and of each tensor when the file has no `general.alignment`.
    public static let defaultAlignment = 32
    /// The metadata key holding the alignment (a UINT32).
    public static let alignmentKey = "general.alignment"
    /// The largest dimension count ggml has (`GGML_MAX_DIMS`).
    public static let maxDimensions = 4
}

/// A GGUF file opened for reading: its metadata and tensor infos are parsed
/// and validated at once; tensor data is read when asked for.
///
/// Validation: magic, version 2 or 3 (little-endian only; a byte-swapped
/// version is refused as big-endian), counts under the caps of
/// ``GGUFReadOptions`` and the bytes left in the file, strings valid UTF-8
/// and under ``GGUFReadOptions/maxStringBytes``, no duplicate keys or
/// tensor names, `general.alignment` (if present) a UINT32 power of two
/// up to 2³⁰, at most 4 dimensions, the innermost one a multiple of the
/// type's block size, sizes overflow-checked, every tensor's offset a
/// multiple of the alignment and its bytes inside the file.
///
/// `@unchecked Sendable`: every field is immutable after init, and the
/// byte source only does positioned reads.
public final class GGUFFile: @unchecked Sendable {
    /// The file path (`"<memory>"` for a buffer).
    public var path: String { source.path ?? "<memory>" }
    /// The GGUF version (2 or 3).
    public let version: UInt32
    /// The metadata key/value pairs in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    /// The tensors in file order.
    public let tensors: [GGUFTensorInfo]
    /// The alignment in bytes (`general.alignment`, default 32).
    public let alignment: Int
    /// The absolute file offset of the data section.
    public let dataSectionOffset: Int

    private let source: ByteSource
    private let mode: LoadMode
    private let options: GGUFReadOptions
    /// Positions by name: exact code points first (see ``NameIndex``).
    private let index: NameIndex

    /// The tensor names in file order.
    public var names: [String] { tensors.map(\.name) }

    /// The value of metadata key `key`, or `nil`.
    public func value(_ key: String) -> GGUFValue? {
        metadata.first(where: { $0.key == key })?.value
    }

    /// Opens and validates a GGUF file.
    /// - Parameters:
    ///   - url: a file URL.
    ///   - mode: `.copy` (`pread`) or `.mmap` (plain tensors whose address is
    ///     a multiple of their item size are zero-copy views).
    ///   - options: caps.
    /// - Throws: ``BrineError`` `.notFound`, `.invalidArgument` (not a regular file), `.io`; `.invalidInterop` for a
    ///   malformed file (bad magic, duplicate names, misaligned offsets,
    ///   invalid UTF-8, a bad `general.alignment`); `.unsupportedVersion` for
    ///   versions other than 2 and 3; `.unsupportedFeature` for big-endian
    ///   files, keys under `gguf.` (Brine's own) and arrays of arrays of
    ///   differing types; `.unsupportedDType` for an unknown ggml type;
    ///   `.truncated` for data past the end; `.limitExceeded` for counts,
    ///   lengths, ranks or nesting over the caps. Errors carry the byte offset.
    public convenience init(contentsOf url: URL, mode: LoadMode = .copy, options: GGUFReadOptions = .init()) throws(BrineError) {
        try self.init(source: ByteSource(path: url.path, mode: mode == .copy ? .copy : .mmap), mode: mode, options: options)
    }

    /// Opens a GGUF file held in memory (copied once).
    /// - Throws: the codes of ``init(contentsOf:mode:options:)`` but `.notFound`/`.io`.
    public convenience init(bytes: UnsafeRawBufferPointer, options: GGUFReadOptions = .init()) throws(BrineError) {
        try self.init(source: ByteSource(copying: bytes), mode: .mmap, options: options)
    }

    private init(source: ByteSource, mode: LoadMode, options: GGUFReadOptions) throws(BrineError) {
        var r = GGUFReader(source: source, options: options)
        let parsed = try source.taggingErrors { () throws(BrineError) in try r.parse() }
        self.source = source
        self.mode = mode
        self.options = options
        self.version = parsed.version
        self.metadata = parsed.metadata
        self.tensors = parsed.tensors
        self.alignment = parsed.alignment
        self.dataSectionOffset = parsed.dataOffset
        var index = NameIndex()
        for (i, t) in tensors.enumerated() { index.insert(t.name, at: i) }
        self.index = index
    }

    /// The info of tensor `name`.
    /// - Throws: ``BrineError`` `.arrayNotFound`.
    public func info(_ name: String) throws(BrineError) -> GGUFTensorInfo {
        guard let i = index[name] else {
            throw BrineError(.arrayNotFound, "no tensor named '\(name)' in this GGUF file", filePath: path, arrayPath: name)
        }
        return tensors[i]
    }

    /// Reads a plain tensor (F32, F16, BF16, F64, I8, I16, I32, I64) as a
    /// Brine array of its C-order ``GGUFTensorInfo/shape``.
    /// - Throws: ``BrineError`` `.arrayNotFound`; `.unsupportedDType` for a
    ///   quantized tensor, which has no numeric view (read its blocks with
    ///   ``rawBlocks(_:)``); `.limitExceeded` past ``ReadLimits/maxAllocationBytes`` (copy mode); `.io`.
    public func tensor(_ name: String) throws(BrineError) -> AnyTensor {
        let info = try info(name)
        guard let dtype = info.type.dtype else {
            throw BrineError(.unsupportedDType, "tensor is quantized (\(info.type.name)): it has no numeric view; read its raw blocks instead",
                             filePath: path, arrayPath: name, byteOffset: UInt64(info.fileOffset))
        }
        return try AnyTensor(dtype: dtype, shape: info.shape, storage: bytes(info, alignment: dtype.itemSize))
    }

    /// The stored bytes of any tensor (for quantized types, its blocks as
    /// ggml lays them out) as a uint8 array of shape `shape.dropLast() +
    /// [row bytes]`: one row of blocks per innermost row.
    /// - Throws: ``BrineError`` `.arrayNotFound`, `.limitExceeded`, `.io`.
    public func rawBlocks(_ name: String) throws(BrineError) -> AnyTensor {
        let info = try info(name)
        let row = info.type.rowBytes(info.shape.last ?? 1) ?? 0
        let shape = info.shape.isEmpty ? [row] : info.shape.dropLast() + [row]
        return try AnyTensor(dtype: .uint8, shape: shape, storage: bytes(info, alignment: 1))
    }

    private func bytes(_ info: GGUFTensorInfo, alignment: Int) throws(BrineError) -> TensorStorage {
        if mode != .copy, let v = source.view(info.fileOffset, info.byteCount, alignment: alignment) { return v }
        guard info.byteCount <= options.limits.maxAllocationBytes else {
            throw BrineError(.limitExceeded, "tensor of \(info.byteCount) bytes exceeds maxAllocationBytes \(options.limits.maxAllocationBytes)",
                             filePath: path, arrayPath: info.name, byteOffset: UInt64(info.fileOffset))
        }
        let s = TensorStorage(uninitializedByteCount: info.byteCount)
        if info.byteCount > 0 {
            do throws(BrineError) {
                try source.read(into: UnsafeMutableRawBufferPointer(start: s.baseAddress, count: info.byteCount), at: info.fileOffset)
            } catch {
                throw error.inArray(info.name)
            }
        }
        return s
    }
}

// MARK: - Parsing

/// A buffered cursor over the header part of a GGUF file.
private struct GGUFReader {
    let source: ByteSource
    let options: GGUFReadOptions
    var buffer: [UInt8] = []
    var bufferStart = 0
    var position = 0
    var valueCount = 0

    init(source: ByteSource, options: GGUFReadOptions) {
        self.source = source
        self.options = options
    }

    func error(_ code: BrineError.Code, _ message: String, at offset: Int? = nil) -> BrineError {
        BrineError(code, message, filePath: source.path, byteOffset: UInt64(offset ?? position))
    }

    /// Makes `n` bytes at `position` available in `buffer`.
    mutating func need(_ n: Int) throws(BrineError) {
        guard n <= source.size - position else {
            throw error(.truncated, "the GGUF header needs \(n) more bytes at offset \(position); the file has \(source.size) bytes")
        }
        if position >= bufferStart && position + n <= bufferStart + buffer.count { return }
        guard position + n <= options.limits.maxHeaderBytes else {
            throw error(.limitExceeded, "the GGUF metadata and tensor infos exceed maxHeaderBytes \(options.limits.maxHeaderBytes)")
        }
        let want = Swift.min(source.size - position, Swift.max(n, 1 << 20))
        buffer = try source.read(position, want)
        bufferStart = position
    }

    mutating func bytes(_ n: Int) throws(BrineError) -> ArraySlice<UInt8> {
        try need(n)
        let start = position - bufferStart
        position += n
        return buffer[start ..< start + n]
    }

    mutating func u8() throws(BrineError) -> UInt8 { try bytes(1).first! }

    mutating func le<T: FixedWidthInteger>(_: T.Type) throws(BrineError) -> T {
        let b = try bytes(MemoryLayout<T>.size)
        var v: T = 0
        for (i, x) in b.enumerated() { v |= T(truncatingIfNeeded: x) << (8 * i) }
        return v
    }

    /// A count read as u64 that must fit `limit` and, at `minBytes` per item, the bytes left.
    mutating func count(_ what: String, limit: Int, minBytes: Int) throws(BrineError) -> Int {
        let at = position
        let n = try le(UInt64.self)
        guard n <= UInt64(limit) else {
            throw error(.limitExceeded, "\(what) \(n) exceeds the cap \(limit)", at: at)
        }
        guard minBytes == 0 || n <= UInt64((source.size - position) / minBytes) else {
            throw error(.truncated, "\(what) \(n) needs more bytes than the file has left", at: at)
        }
        return Int(n)
    }

    mutating func string(_ what: String) throws(BrineError) -> String {
        let at = position
        let n = try count("\(what) length", limit: options.maxStringBytes, minBytes: 1)
        let b = try bytes(n)
        let s: String? = b.withUnsafeBytes { raw in
            firstInvalidUTF8Offset(raw) == nil ? String(decoding: raw, as: UTF8.self) : nil
        }
        guard let s else { throw error(.invalidInterop, "\(what) is not valid UTF-8", at: at) }
        return s
    }

    mutating func valueType(_ what: String) throws(BrineError) -> GGUFValueType {
        let at = position
        let raw = try le(UInt32.self)
        guard let t = GGUFValueType(rawValue: raw) else {
            throw error(.invalidInterop, "unknown GGUF value type \(raw) for \(what)", at: at)
        }
        return t
    }

    mutating func value(_ type: GGUFValueType, depth: Int, key: String) throws(BrineError) -> GGUFValue {
        valueCount += 1
        guard valueCount <= options.maxValues else {
            throw error(.limitExceeded, "more than maxValues \(options.maxValues) metadata values")
        }
        switch type {
        case .uint8: return .uint8(try u8())
        case .int8: return .int8(Int8(bitPattern: try u8()))
        case .uint16: return .uint16(try le(UInt16.self))
        case .int16: return .int16(try le(Int16.self))
        case .uint32: return .uint32(try le(UInt32.self))
        case .int32: return .int32(try le(Int32.self))
        case .float32: return .float32(Float(bitPattern: try le(UInt32.self)))
        case .uint64: return .uint64(try le(UInt64.self))
        case .int64: return .int64(try le(Int64.self))
        case .float64: return .float64(Double(bitPattern: try le(UInt64.self)))
        case .bool:
            let at = position
            let b = try u8()
            guard b <= 1 else { throw error(.invalidInterop, "BOOL value \(b) of '\(key)' is neither 0 nor 1", at: at) }
            return .bool(b == 1)
        case .string: return .string(try string("string value of '\(key)'"))
        case .array:
            guard depth < options.maxArrayDepth else {
                throw error(.limitExceeded, "arrays in '\(key)' nest deeper than maxArrayDepth \(options.maxArrayDepth)")
            }
            let element = try valueType("an array element of '\(key)'")
            let minBytes = element.fixedSize ?? (element == .string ? 8 : 12)
            let n = try count("array length of '\(key)'", limit: options.maxValues, minBytes: minBytes)
            var items: [GGUFValue] = []
            items.reserveCapacity(Swift.min(n, 1 << 16))
            for _ in 0 ..< n { items.append(try value(element, depth: depth + 1, key: key)) }
            return .array(element, items)
        }
    }

    mutating func parse() throws(BrineError) -> (version: UInt32, metadata: [(key: String, value: GGUFValue)],
                                                tensors: [GGUFTensorInfo], alignment: Int, dataOffset: Int) {
        guard source.size >= 4 else { throw error(.truncated, "a GGUF file starts with 24 bytes; this one has \(source.size)", at: 0) }
        guard Array(try bytes(4)) == GGUF.magic else { throw error(.invalidInterop, "not a GGUF file (no \"GGUF\" magic)", at: 0) }
        let version = try le(UInt32.self)
        if version & 0xFFFF == 0 && version != 0 {
            throw error(.unsupportedFeature, "big-endian GGUF files are not supported", at: 4)
        }
        guard version == 2 || version == 3 else {
            throw error(.unsupportedVersion, "GGUF version \(version) is not supported (2 and 3 are)", at: 4)
        }
        let tensorCount = try count("tensor count", limit: options.limits.maxArrays, minBytes: 24)
        let kvCount = try count("metadata key/value count", limit: options.maxKeyValues, minBytes: 13)

        var metadata: [(key: String, value: GGUFValue)] = []
        var keys = Set<ExactName>()  // by code points, as ggml compares keys
        var alignment = GGUF.defaultAlignment
        for _ in 0 ..< kvCount {
            let at = position
            let key = try string("metadata key")
            guard keys.insert(ExactName(key)).inserted else { throw error(.invalidInterop, "duplicate metadata key '\(key)'", at: at) }
            guard !key.hasPrefix("gguf.") else {
                throw error(.unsupportedFeature, "metadata key '\(key)' uses the prefix 'gguf.', which Brine reserves for carrying GGUF types", at: at)
            }
            let type = try valueType("'\(key)'")
            let v = try value(type, depth: 0, key: key)
            if case .array = v, GGUFMetadataText.typeName(v) == nil {
                throw error(.unsupportedFeature, "'\(key)' is an array of arrays of differing element types", at: at)
            }
            if key == GGUF.alignmentKey {
                guard case .uint32(let a) = v, a > 0, a & (a - 1) == 0, a <= 1 << 30 else {
                    throw error(.invalidInterop, "general.alignment must be a UINT32 power of two up to 2^30", at: at)
                }
                alignment = Int(a)
            }
            metadata.append((key, v))
        }

        struct Pending { var name: String; var type: GGMLType; var shape: [Int]; var offset: Int; var byteCount: Int; var at: Int }
        var pending: [Pending] = []
        var names = Set<ExactName>()
        for _ in 0 ..< tensorCount {
            let at = position
            let name = try string("tensor name")
            guard names.insert(ExactName(name)).inserted else { throw error(.invalidInterop, "duplicate tensor name '\(name)'", at: at) }
            let dimsAt = position
            let nDims = try le(UInt32.self)
            guard nDims <= UInt32(GGUF.maxDimensions) else {
                throw error(.limitExceeded, "tensor '\(name)' has \(nDims) dimensions; ggml has at most \(GGUF.maxDimensions)", at: dimsAt)
            }
            var ne: [Int] = []
            for _ in 0 ..< nDims {
                let d = try le(UInt64.self)
                guard d <= UInt64(Int64.max) else { throw error(.invalidInterop, "tensor '\(name)' has a dimension of \(d)", at: dimsAt) }
                ne.append(Int(d))
            }
            let typeAt = position
            let rawType = try le(UInt32.self)
            guard let type = GGMLType(rawValue: rawType) else {
                throw error(.unsupportedDType, "tensor '\(name)' has ggml type \(rawType), which this build does not know", at: typeAt)
            }
            let offAt = position
            let off = try le(UInt64.self)
            let shape = Array(ne.reversed())
            if let first = ne.first, first % type.blockSize != 0 {
                throw error(.invalidInterop, "tensor '\(name)' of type \(type.name) has \(first) elements per row, not a multiple of its block size \(type.blockSize)", at: dimsAt)
            }
            guard let size = type.byteCount(shape: shape), Shape.elementCount(shape) != nil else {
                throw error(.invalidInterop, "the size of tensor '\(name)' overflows", at: dimsAt)
            }
            guard off <= UInt64(source.size) else {
                throw error(.truncated, "tensor '\(name)' starts at data offset \(off), past the end of the file", at: offAt)
            }
            pending.append(Pending(name: name, type: type, shape: shape, offset: Int(off), byteCount: size, at: offAt))
        }
        let headerEnd = position
        let (padded, o) = headerEnd.addingReportingOverflow((alignment - headerEnd % alignment) % alignment)
        guard !o else { throw error(.invalidInterop, "the data section offset overflows") }
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(pending.count)
        for p in pending {
            guard p.offset % alignment == 0 else {
                throw error(.invalidInterop, "tensor '\(p.name)' data offset \(p.offset) is not a multiple of the alignment \(alignment)", at: p.at)
            }
            guard padded <= source.size, p.offset <= source.size - padded, p.byteCount <= source.size - padded - p.offset else {
                throw error(.truncated, "tensor '\(p.name)' (\(p.byteCount) bytes at data offset \(p.offset)) runs past the end of the file", at: p.at)
            }
            tensors.append(GGUFTensorInfo(name: p.name, type: p.type, shape: p.shape, offset: p.offset,
                                          fileOffset: padded + p.offset, byteCount: p.byteCount))
        }
        return (version, metadata, tensors, alignment, padded)
    }
}

// MARK: - Writing

/// One tensor to write to a GGUF file: its ggml type, C-order logical shape and stored bytes.
public struct GGUFTensorData: Sendable {
    /// The tensor's name.
    public var name: String
    /// The ggml type.
    public var type: GGMLType
    /// The logical shape in elements, C order (outermost first).
    public var shape: [Int]
    /// The stored bytes: `type.byteCount(shape:)` of them.
    public var storage: TensorStorage

    /// A plain tensor from a Brine array.
    /// - Throws: ``BrineError`` `.unsupportedDType` for bool and the
    ///   unsigned integers, which ggml does not have.
    public init(name: String, tensor: AnyTensor) throws(BrineError) {
        guard let t = GGMLType(dtype: tensor.dtype) else {
            throw BrineError(.unsupportedDType, "GGUF has no \(tensor.dtype.name) tensors (ggml has F32, F16, BF16, F64, I8, I16, I32, I64 and quantized types)", arrayPath: name)
        }
        self.name = name
        self.type = t
        self.shape = tensor.shape
        self.storage = tensor.storage
    }

    /// A tensor of any ggml type from its stored bytes (for quantized types, ggml's blocks).
    /// - Throws: ``BrineError`` `.shapeMismatch` when the byte count is not
    ///   `type.byteCount(shape:)` (or the last dimension is not a multiple of the block size).
    public init(name: String, type: GGMLType, shape: [Int], storage: TensorStorage) throws(BrineError) {
        guard let n = type.byteCount(shape: shape), n == storage.byteCount else {
            throw BrineError(.shapeMismatch, "\(storage.byteCount) bytes do not hold a \(type.name) tensor of shape \(shape) (block size \(type.blockSize), \(type.typeSize) bytes per block)", arrayPath: name)
        }
        self.name = name
        self.type = type
        self.shape = shape
        self.storage = storage
    }
}

extension GGUF {
    /// Writes a GGUF v3 file atomically, laid out as gguf-py's `GGUFWriter`
    /// does: header, metadata in order, tensor infos, zero padding to the
    /// alignment, then each tensor at an aligned offset, each followed by
    /// zero padding to the alignment.
    /// - Parameters:
    ///   - tensors: the tensors, in file order.
    ///   - metadata: key/value pairs in file order; `general.alignment`, if
    ///     present, must be a UINT32 power of two up to 2³⁰ and sets the alignment.
    ///   - url: the destination.
    ///   - durable: `fsync` before returning.
    /// - Throws: ``BrineError`` `.invalidArgument` (duplicate keys or names,
    ///   a bad alignment, more than 4 dimensions, an array whose elements
    ///   are not of its element type), `.limitExceeded` (a shape whose size
    ///   overflows 64 bits, even with a zero dimension: readers refuse it), `.io`, `.notFound`.
    public static func write(_ tensors: [GGUFTensorData], metadata: [(key: String, value: GGUFValue)],
                             to url: URL, durable: Bool = true) throws(BrineError) {
        let path = url.path
        var alignment = defaultAlignment
        var out: [UInt8] = []
        out += magic
        put(&out, version)
        put(&out, UInt64(tensors.count))
        put(&out, UInt64(metadata.count))
        var keys = Set<ExactName>()
        for (key, v) in metadata {
            guard keys.insert(ExactName(key)).inserted else { throw BrineError(.invalidArgument, "duplicate GGUF metadata key '\(key)'", filePath: path) }
            if key == alignmentKey {
                guard case .uint32(let a) = v, a > 0, a & (a - 1) == 0, a <= 1 << 30 else {
                    throw BrineError(.invalidArgument, "general.alignment must be a UINT32 power of two up to 2^30", filePath: path)
                }
                alignment = Int(a)
            }
            putString(&out, key)
            put(&out, v.type.rawValue)
            try putValue(&out, v, key: key, path: path)
        }
        var names = Set<ExactName>()
        var offsets: [Int] = []
        var offset = 0
        for t in tensors {
            guard names.insert(ExactName(t.name)).inserted else { throw BrineError(.invalidArgument, "duplicate tensor name '\(t.name)'", filePath: path, arrayPath: t.name) }
            guard t.shape.count <= maxDimensions else {
                throw BrineError(.invalidArgument, "GGUF tensors have at most \(maxDimensions) dimensions; this one has \(t.shape.count)", filePath: path, arrayPath: t.name)
            }
            // The check readers (this one and ggml's) make on every tensor's
            // dimensions, zero-sized ones included: never write a file they refuse.
            guard t.type.byteCount(shape: t.shape) != nil, Shape.elementCount(t.shape) != nil else {
                throw BrineError(.limitExceeded, "GGUF readers refuse shape \(t.shape): its size overflows 64 bits even with a zero dimension", filePath: path, arrayPath: t.name)
            }
            putString(&out, t.name)
            put(&out, UInt32(t.shape.count))
            for d in t.shape.reversed() { put(&out, UInt64(d)) }
            put(&out, t.type.rawValue)
            put(&out, UInt64(offset))
            offsets.append(offset)
            offset += padding(t.storage.byteCount, alignment) + t.storage.byteCount
        }
        out += [UInt8](repeating: 0, count: padding(out.count, alignment))
        try AtomicFile.replace(at: RegularFile.exactPath(path), durable: durable) { file throws(BrineError) in
            let fd = file.fd
            try typedThrows { try out.withUnsafeBytes { b in try fd.pwriteFully(b, at: 0).orThrow("write", path: path) } }
            let zeros = [UInt8](repeating: 0, count: alignment)
            for (t, off) in zip(tensors, offsets) {
                let at = Int64(out.count + off)
                try fd.pwriteFully(t.storage.bytes, at: at).orThrow("write", path: path)
                withExtendedLifetime(t.storage) {}
                let pad = padding(t.storage.byteCount, alignment)
                if pad > 0 {
                    try typedThrows { try zeros.withUnsafeBytes { z in
                        try fd.pwriteFully(UnsafeRawBufferPointer(rebasing: z[0 ..< pad]), at: at + Int64(t.storage.byteCount)).orThrow("write", path: path)
                    } }
                }
            }
        }
    }

    static func padding(_ n: Int, _ alignment: Int) -> Int { (alignment - n % alignment) % alignment }

    static func put<T: FixedWidthInteger>(_ out: inout [UInt8], _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { out += $0 }
    }

    static func putString(_ out: inout [UInt8], _ s: String) {
        put(&out, UInt64(s.utf8.count))
        out += s.utf8
    }

    static func putValue(_ out: inout [UInt8], _ v: GGUFValue, key: String, path: String) throws(BrineError) {
        switch v {
        case .uint8(let x): put(&out, x)
        case .int8(let x): put(&out, x)
        case .uint16(let x): put(&out, x)
        case .int16(let x): put(&out, x)
        case .uint32(let x): put(&out, x)
        case .int32(let x): put(&out, x)
        case .float32(let x): put(&out, x.bitPattern)
        case .bool(let x): out.append(x ? 1 : 0)
        case .string(let s): putString(&out, s)
        case .uint64(let x): put(&out, x)
        case .int64(let x): put(&out, x)
        case .float64(let x): put(&out, x.bitPattern)
        case .array(let type, let items):
            put(&out, type.rawValue)
            put(&out, UInt64(items.count))
            for item in items {
                guard item.type == type else {
                    throw BrineError(.invalidArgument, "array '\(key)' of \(type) holds a \(item.type)", filePath: path)
                }
                try putValue(&out, item, key: key, path: path)
            }
        }
    }
}
