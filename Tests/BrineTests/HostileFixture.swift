import Foundation
@testable import Brine

/// A small valid container for the corruption tests: several arrays with
/// codecs none, lz4 and zstd, shuffle, a float16-narrowed float32 array, a
/// scalar and an empty array, each spanning several chunks, and a small
/// object tree. About 3 KB.
struct HostileFixture: Sendable {
    /// The whole file.
    let bytes: [UInt8]
    /// The arrays as written, by path.
    let arrays: [String: AnyTensor]
    /// The decoded object tree and metadata of the intact file.
    let root: Value
    let metadata: Value
    /// Where the header lives.
    let headerOffset: Int
    let headerLength: Int
    /// The array table of the intact file.
    let table: [ArrayInfo]

    static let shared: HostileFixture = make()

    var fileSize: Int { bytes.count }
    var trailerOffset: Int { bytes.count - FormatSpec.trailerSize }
    var header: [UInt8] { Array(bytes[headerOffset ..< headerOffset + headerLength]) }

    private static func make() -> HostileFixture {
        let dir = makeTemporaryDirectory("hostile-fixture")
        let url = dir.appendingPathComponent("fixture.brine")
        var base = WriteOptions()
        base.threads = 1
        base.chunkBytes = 128
        func opts(_ codec: Codec, _ filter: ChunkFilter = .none, storage: DType? = nil, chunk: Int = 128) -> WriteOptions {
            var o = base
            o.codec = codec
            o.filter = filter
            o.storageDType = storage
            o.chunkBytes = chunk
            return o
        }
        var expected: [String: AnyTensor] = [:]
        let w = try! BrineWriter(url: url, options: base)
        func add(_ t: AnyTensor, _ path: String, _ o: WriteOptions) -> Int {
            expected[path] = t
            return try! w.append(t, arrayPath: path, options: o)
        }
        // Compressible contents so the codecs really compress.
        func smooth(_ dtype: DType, _ shape: [Int]) -> AnyTensor {
            let n = Shape.elementCount(shape)!
            switch dtype {
            case .float32: return AnyTensor(try! Tensor<Float>(shape: shape, scalars: (0 ..< n).map { Float($0 % 9) * 0.5 }))
            case .float64: return AnyTensor(try! Tensor<Double>(shape: shape, scalars: (0 ..< n).map { Double($0 / 4) * 0.25 }))
            case .int32: return AnyTensor(try! Tensor<Int32>(shape: shape, scalars: (0 ..< n).map { Int32($0 % 13) }))
            default: return randomArray(dtype: dtype, shape: shape, seed: 7)
            }
        }
        let i0 = add(randomArray(dtype: .float32, shape: [8, 16], seed: 1), "raw.f32", opts(.none))            // 4 chunks, contiguous
        let i1 = add(smooth(.int32, [200]), "lz4.i32", opts(.lz4, chunk: 256))                                   // 4 chunks
        let i2 = add(smooth(.float64, [64]), "zstd.f64", opts(.zstd(level: 1), .shuffle))                        // 4 chunks
        let i3 = add(smooth(.float32, [96]), "f16.lz4", opts(.lz4, .shuffle, storage: .float16, chunk: 64))      // 3 chunks, narrowed
        let i4 = add(randomArray(dtype: .int16, shape: [5, 10], seed: 2), "shuffle.i16", opts(.none, .shuffle, chunk: 40)) // 3 chunks
        let i5 = add(AnyTensor(Tensor<Double>(scalar: 2.5)), "scalar", opts(.zstd(level: 3)))
        let i6 = add(AnyTensor(try! Tensor<Int64>(zeros: [0, 4])), "empty", opts(.lz4))
        let root: Value = [
            "layers": [["w": .arrayRef(i0), "ids": .arrayRef(i1)], ["w": .arrayRef(i2), "h": .arrayRef(i3)]],
            "extra": ["s": .arrayRef(i4), "scalar": .arrayRef(i5), "empty": .arrayRef(i6)],
            "lr": .float64(0.01), "epoch": .int(3), "tag": "mlp", "blob": .bytes([1, 2, 3]),
        ]
        try! w.finish(root: root, metadata: ["framework": "hostile-tests", "n": .uint(7)])
        let bytes = [UInt8](try! Data(contentsOf: url))
        let file = try! BrineFile(contentsOf: url)
        return HostileFixture(
            bytes: bytes, arrays: expected, root: file.root, metadata: file.metadata,
            headerOffset: file.headerOffset, headerLength: file.headerLength, table: file.arrays)
    }

    /// The file with its header replaced by `header` and a new trailer whose
    /// lengths and checksums are correct, so a reader gets past every
    /// checksum to the header decoder.
    func rebuilt(header newHeader: [UInt8]) -> [UInt8] {
        var out = Array(bytes[0 ..< headerOffset])
        out += newHeader
        let trailer = Trailer(
            headerOffset: UInt64(headerOffset), headerLength: UInt64(newHeader.count),
            headerChecksum: Checksum.xxh3(newHeader),
            fileLength: UInt64(headerOffset + newHeader.count + FormatSpec.trailerSize))
        return out + trailer.encoded()
    }

    /// The file with trailer bytes 0..<48 patched by `edit`, then the
    /// trailer checksum recomputed (so the patched field itself is what a
    /// reader sees).
    func withTrailer(_ edit: (inout [UInt8]) -> Void) -> [UInt8] {
        var out = bytes
        var t = Array(out[trailerOffset ..< trailerOffset + 48])
        edit(&t)
        let sum = Checksum.xxh3(t)
        for i in 0 ..< 48 { out[trailerOffset + i] = t[i] }
        for i in 0 ..< 8 { out[trailerOffset + 48 + i] = UInt8(truncatingIfNeeded: sum >> (8 * UInt64(i))) }
        return out
    }
}

/// One field of an encoded header, located by walking it as docs/FORMAT.md
/// describes (independently of Brine's own decoder).
struct HeaderField: CustomStringConvertible {
    enum Kind { case varint, u8 }
    /// Offset from the start of the header, and encoded length in bytes.
    let offset: Int
    let length: Int
    let kind: Kind
    let name: String
    /// The decoded value.
    let value: UInt64
    var description: String { "\(name)@\(offset)=\(value)" }
}

/// Walks an encoded header and lists every length, count, offset and index
/// varint (string and bytes lengths, list and map counts, the array count,
/// path lengths, rank, dimensions, data offsets, chunk sizes, chunk counts,
/// stored chunk sizes, array references) and every one-byte code (value
/// tags, dtype, stored dtype, codec, filter, alignment). Integer payloads of
/// values are skipped: any value is valid there.
struct HeaderWalker {
    let bytes: [UInt8]
    var pos = 0
    var fields: [HeaderField] = []

    static func fields(of header: [UInt8]) -> [HeaderField] {
        var w = HeaderWalker(bytes: header)
        w.value("metadata")
        let n = w.varint("array_count", record: true)
        for i in 0 ..< Int(n) { w.entry(i) }
        w.value("root")
        precondition(w.pos == header.count, "walker ended at \(w.pos) of \(header.count)")
        return w.fields
    }

    mutating func u8(_ name: String, record: Bool = true) -> UInt8 {
        let v = bytes[pos]
        if record { fields.append(HeaderField(offset: pos, length: 1, kind: .u8, name: name, value: UInt64(v))) }
        pos += 1
        return v
    }

    mutating func varint(_ name: String, record: Bool) -> UInt64 {
        let start = pos
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = bytes[pos]
            pos += 1
            v |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { break }
            shift += 7
        }
        if record { fields.append(HeaderField(offset: start, length: pos - start, kind: .varint, name: name, value: v)) }
        return v
    }

    mutating func string(_ name: String) {
        pos += Int(varint("\(name).length", record: true))
    }

    mutating func value(_ name: String) {
        let tag = u8("\(name).tag")
        switch tag {
        case 0, 1, 2: break
        case 3, 4: _ = varint(name, record: false)
        case 5: pos += 8
        case 0x0B: pos += 4
        case 6: string(name)
        case 7: pos += Int(varint("\(name).bytes_length", record: true))
        case 8:
            let n = varint("\(name).list_count", record: true)
            for i in 0 ..< Int(n) { value("\(name)[\(i)]") }
        case 9:
            let n = varint("\(name).map_count", record: true)
            for i in 0 ..< Int(n) {
                string("\(name).key\(i)")
                value("\(name).value\(i)")
            }
        case 0x0A: _ = varint("\(name).array_ref", record: true)
        default: preconditionFailure("unknown tag \(tag)")
        }
    }

    mutating func entry(_ i: Int) {
        let p = "array\(i)"
        string("\(p).path")
        _ = u8("\(p).dtype")
        _ = u8("\(p).stored_dtype")
        let rank = varint("\(p).rank", record: true)
        for d in 0 ..< Int(rank) { _ = varint("\(p).dim\(d)", record: true) }
        _ = u8("\(p).codec")
        _ = varint("\(p).codec_level", record: false)
        _ = u8("\(p).filter")
        _ = u8("\(p).alignment_log2")
        _ = varint("\(p).data_offset", record: true)
        _ = varint("\(p).chunk_bytes", record: true)
        let chunks = varint("\(p).chunk_count", record: true)
        for c in 0 ..< Int(chunks) {
            _ = varint("\(p).chunk\(c).stored_size", record: true)
            pos += 8
        }
    }
}

/// The LEB128 encoding of `v` (docs/FORMAT.md, "Primitives").
func varintBytes(_ v: UInt64) -> [UInt8] {
    var w = ByteWriter()
    w.varint(v)
    return w.bytes
}

/// `header` with `field` replaced by the varint (or byte) `value`.
func patched(_ header: [UInt8], _ field: HeaderField, to value: UInt64) -> [UInt8] {
    let replacement = field.kind == .varint ? varintBytes(value) : [UInt8(truncatingIfNeeded: value)]
    return Array(header[0 ..< field.offset]) + replacement + Array(header[(field.offset + field.length)...])
}

/// Opens `bytes` in memory and, when that succeeds, loads every array,
/// reads element ranges and verifies. Never traps on its own: any trap is a
/// bug in Brine.
/// - Returns: the first error, or `nil` when everything succeeded, plus the
///   loaded arrays by path (for files that opened).
func openAndLoad(_ bytes: [UInt8], options: ReadOptions) -> (error: BrineError?, opened: Bool, arrays: [String: AnyTensor], file: BrineFile?) {
    let file: BrineFile
    do {
        file = try typedThrows { try bytes.withUnsafeBytes { try BrineFile(bytes: $0, options: options) } }
    } catch {
        return (error, false, [:], nil)
    }
    var firstError: BrineError?
    var loaded: [String: AnyTensor] = [:]
    for (i, a) in file.arrays.enumerated() {
        do {
            loaded[a.path] = try file.anyArray(at: i)
        } catch {
            firstError = firstError ?? error
        }
        if a.count > 0 {
            do { _ = try file.elements(a.path, range: a.count / 2 ..< a.count) } catch { firstError = firstError ?? error }
        }
    }
    if let v = file.verify().first { firstError = firstError ?? v }
    return (firstError, true, loaded, file)
}

/// `true` when the error says where it happened (a byte offset or an array path).
func saysWhere(_ e: BrineError) -> Bool { e.byteOffset != nil || e.arrayPath != nil }
