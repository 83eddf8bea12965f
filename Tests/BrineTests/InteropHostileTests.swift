import Foundation
import Testing
@testable import Brine
import BrineTestSupport

/// Checks that `body` throws a ``BrineError`` with exactly `code`.
func expectCode(
    _ code: BrineError.Code, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected \(code), nothing was thrown \(comment.map { "(\($0))" } ?? "")", sourceLocation: sourceLocation)
    } catch let e as BrineError {
        #expect(e.code == code, "\(comment.map { "\($0): " } ?? "")\(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected BrineError \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// A safetensors file: 8-byte length, the header text as given, then `data`.
func safetensorsBytes(_ header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    return safetensorsBytes(raw: h, data: data, length: length)
}

func safetensorsBytes(raw h: [UInt8], data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
    let n = length ?? UInt64(h.count)
    var out: [UInt8] = (0 ..< 8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) }
    out += h
    out += data
    return out
}

/// A `.npy` (version `major`.0) with the given header dict text and data bytes, padded as NumPy pads.
func npyBytes(_ dict: String, data: [UInt8] = [], major: UInt8 = 1, rawHeader: [UInt8]? = nil, length: Int? = nil) -> [UInt8] {
    var h = rawHeader ?? Array(dict.utf8)
    let lengthSize = major == 1 ? 2 : 4
    let pad = 64 - (8 + lengthSize + h.count + 1) % 64
    h += [UInt8](repeating: 0x20, count: pad) + [0x0A]
    let n = length ?? h.count
    var out: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, 0]
    for i in 0 ..< lengthSize { out.append(UInt8(truncatingIfNeeded: n >> (8 * i))) }
    return out + h + data
}

@Suite("Hostile safetensors files")
struct SafetensorsHostileTests {
    func open(_ bytes: [UInt8]) throws {
        let f = try bytes.withUnsafeBytes { try SafetensorsFile(bytes: $0) }
        _ = try f.loadAll()
    }

    let f32x4 = #""dtype":"F32","shape":[4]"#

    @Test("a valid hand-made file opens (the baseline the hostile variants change)")
    func baseline() throws {
        let bytes = safetensorsBytes(#"{"a":{\#(f32x4),"data_offsets":[0,16]},"__metadata__":{"k":"v"}}"#, data: [UInt8](repeating: 0, count: 16))
        let f = try bytes.withUnsafeBytes { try SafetensorsFile(bytes: $0) }
        #expect(f.names == ["a"] && f.metadata == ["k": "v"])
        #expect(try f.tensor("a", as: Float.self).scalars == [0, 0, 0, 0])
    }

    @Test("lying and oversized header lengths")
    func headerLengths() {
        expectCode(.truncated, "shorter than 8 bytes") { try open([1, 0, 0]) }
        expectCode(.truncated, "length past the end") { try open(safetensorsBytes("{}", length: 100)) }
        expectCode(.truncated, "length UInt64.max") { try open(safetensorsBytes("{}", length: 99_999_999)) }
        expectCode(.limitExceeded, "over 100 MB") { try open(safetensorsBytes("{}", length: 100_000_001)) }
        expectCode(.limitExceeded, "2^64 - 1") { try open(safetensorsBytes("{}", length: .max)) }
        expectCode(.invalidInterop, "length cuts the JSON") { try open(safetensorsBytes(#"{"a":1}"#, length: 4)) }
    }

    @Test("malformed JSON headers", arguments: [
        "", "   ", "[]", "null", "1", #""x""#, "{", "{]", #"{"a"}"#, #"{"a":}"#, #"{,}"#, #"{"a":1,}"#,
        #"{'a':1}"#, "{}x", #"{"a":01}"#, #"{"a":1.}"#, #"{"a":-}"#, #"{"a":tru}"#, #"{"a":NaN}"#,
        "{\"a\":\"x\ny\"}", #"{"a":"\q"}"#, #"{"a":"\u12"}"#, #"{"a":"\ud800"}"#, #"{"a":"\udc00x"}"#, #"{"a":"\ud800\u0041"}"#,
        "{/*c*/}", "\u{FEFF}{}",
    ])
    func malformedJSON(header: String) {
        expectCode(.invalidInterop, "\(header)") { try open(safetensorsBytes(header)) }
    }

    @Test("non-UTF-8 bytes in the header (in a tensor name)")
    func nonUTF8() {
        var h = Array(#"{"a?":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}"#.utf8)
        h[3] = 0xFF
        expectCode(.invalidInterop) { try open(safetensorsBytes(raw: h)) }
        h[3] = 0xC3  // a truncated two-byte sequence
        expectCode(.invalidInterop) { try open(safetensorsBytes(raw: h)) }
    }

    @Test("duplicate tensor names and duplicate fields")
    func duplicates() {
        let t = #"{\#(f32x4),"data_offsets":[0,16]}"#
        expectCode(.invalidInterop, "duplicate name") {
            try open(safetensorsBytes(#"{"a":\#(t),"a":\#(t)}"#, data: .init(repeating: 0, count: 16)))
        }
        expectCode(.invalidInterop, "duplicate name after unescaping") {
            try open(safetensorsBytes(#"{"a":\#(t),"\u0061":\#(t)}"#, data: .init(repeating: 0, count: 16)))
        }
        expectCode(.invalidInterop, "duplicate field") {
            try open(safetensorsBytes(#"{"a":{"dtype":"F32","dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: .init(repeating: 0, count: 16)))
        }
        expectCode(.invalidInterop, "duplicate __metadata__") {
            try open(safetensorsBytes(#"{"__metadata__":{},"__metadata__":{}}"#))
        }
    }

    @Test("unknown and unsupported dtypes", arguments: ["F8_E4M3", "F8_E5M2", "F4", "C64", "XYZ", "f32", ""])
    func unknownDTypes(dtype: String) {
        expectCode(.unsupportedDType) {
            try open(safetensorsBytes(#"{"a":{"dtype":"\#(dtype)","shape":[4],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        }
    }

    @Test("shapes whose product overflows, bad shapes and ranks")
    func shapes() {
        let big = "4611686018427387904"  // 2^62
        expectCode(.invalidInterop, "product overflows") {
            try open(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[\#(big),\#(big)],"data_offsets":[0,0]}}"#))
        }
        expectCode(.invalidInterop, "byte count overflows") {
            try open(safetensorsBytes(#"{"a":{"dtype":"F64","shape":[\#(big)],"data_offsets":[0,0]}}"#))
        }
        expectCode(.invalidInterop, "dimension over Int.max") {
            try open(safetensorsBytes(#"{"a":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,0]}}"#))
        }
        expectCode(.invalidInterop, "dimension beyond 64 bits") {
            try open(safetensorsBytes(#"{"a":{"dtype":"U8","shape":[99999999999999999999999],"data_offsets":[0,0]}}"#))
        }
        for dims in ["[-1]", "[1.5]", "[1e3]", #"["4"]"#, "[null]", "4", "{}"] {
            expectCode(.invalidInterop, "shape \(dims)") {
                try open(safetensorsBytes(#"{"a":{"dtype":"U8","shape":\#(dims),"data_offsets":[0,0]}}"#))
            }
        }
        let rank65 = "[" + Array(repeating: "1", count: 65).joined(separator: ",") + "]"
        expectCode(.limitExceeded, "rank 65") {
            try open(safetensorsBytes(#"{"a":{"dtype":"U8","shape":\#(rank65),"data_offsets":[0,1]}}"#, data: [0]))
        }
    }

    @Test("offsets past the end, overlapping, gapped, mis-sized and trailing data")
    func offsets() {
        let d16 = [UInt8](repeating: 7, count: 16)
        expectCode(.truncated, "offsets past the end") {
            try open(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}"#, data: d16))
        }
        expectCode(.truncated, "huge end offset") {
            try open(safetensorsBytes(#"{"a":{"dtype":"U8","shape":[9223372036854775807],"data_offsets":[0,9223372036854775807]}}"#, data: d16))
        }
        expectCode(.invalidInterop, "overlap") {
            try open(safetensorsBytes(#"{"a":{\#(f32x4),"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, data: d16))
        }
        expectCode(.invalidInterop, "gap") {
            try open(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}"#, data: d16))
        }
        expectCode(.invalidInterop, "does not start at 0") {
            try open(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[4,16]}}"#, data: d16))
        }
        expectCode(.invalidInterop, "size does not match shape") {
            try open(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#, data: d16))
        }
        expectCode(.invalidInterop, "end before begin") {
            try open(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[16,0]}}"#, data: d16))
        }
        expectCode(.invalidInterop, "trailing bytes not covered") {
            try open(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: d16))
        }
        expectCode(.invalidInterop, "data but no tensors") { try open(safetensorsBytes("{}", data: d16)) }
        for offs in ["[0]", "[0,16,16]", "[-1,15]", "[0.0,16]", #"["0","16"]"#, "null"] {
            expectCode(.invalidInterop, "data_offsets \(offs)") {
                try open(safetensorsBytes(#"{"a":{\#(f32x4),"data_offsets":\#(offs)}}"#, data: d16))
            }
        }
    }

    @Test("schema violations: entries, fields, metadata")
    func schema() {
        let d16 = [UInt8](repeating: 0, count: 16)
        expectCode(.invalidInterop, "entry not an object") { try open(safetensorsBytes(#"{"a":[1]}"#)) }
        expectCode(.invalidInterop, "missing dtype") { try open(safetensorsBytes(#"{"a":{"shape":[4],"data_offsets":[0,16]}}"#, data: d16)) }
        expectCode(.invalidInterop, "missing shape") { try open(safetensorsBytes(#"{"a":{"dtype":"F32","data_offsets":[0,16]}}"#, data: d16)) }
        expectCode(.invalidInterop, "missing offsets") { try open(safetensorsBytes(#"{"a":{\#(f32x4)}}"#, data: d16)) }
        expectCode(.invalidInterop, "dtype not a string") { try open(safetensorsBytes(#"{"a":{"dtype":4,"shape":[4],"data_offsets":[0,16]}}"#, data: d16)) }
        expectCode(.invalidInterop, "metadata value not a string") { try open(safetensorsBytes(#"{"__metadata__":{"k":1}}"#)) }
        expectCode(.invalidInterop, "metadata not an object") { try open(safetensorsBytes(#"{"__metadata__":"x"}"#)) }
        // As the reference: unknown fields are ignored, null metadata is no metadata.
        let ok = safetensorsBytes(#"{"__metadata__":null,"a":{\#(f32x4),"data_offsets":[0,16],"extra":[1,{"x":2}]}}"#, data: d16)
        #expect((try? open(ok)) != nil)
    }

    @Test("nesting bombs do not overflow the stack")
    func nesting() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        expectCode(.invalidInterop) { try open(safetensorsBytes(#"{"a":\#(deep)}"#)) }
        let deepObject = String(repeating: #"{"a":"#, count: 50_000) + "1" + String(repeating: "}", count: 50_000)
        expectCode(.invalidInterop) { try open(safetensorsBytes(deepObject)) }
    }

    @Test("truncated files")
    func truncated() throws {
        let valid = safetensorsBytes(#"{"a":{\#(f32x4),"data_offsets":[0,16]}}  "#, data: [UInt8](repeating: 1, count: 16))
        try open(valid)
        for cut in [1, 8, 17, 30, valid.count - 16, valid.count - 1] {
            expectCode(.truncated, "cut at \(cut)") {
                try open(Array(valid.prefix(cut)))
            }
        }
    }
}

@Suite("Hostile .npy files")
struct NpyHostileTests {
    func open(_ bytes: [UInt8]) throws {
        _ = try bytes.withUnsafeBytes { try Npy.read(bytes: $0) }
    }

    let good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
    let eight = [UInt8](repeating: 0, count: 8)

    @Test("the baseline opens")
    func baseline() throws {
        let t = try npyBytes(good, data: eight).withUnsafeBytes { try Npy.read(bytes: $0) }
        #expect(t.dtype == .float32 && t.shape == [2])
    }

    @Test("bad magic, versions and lying header lengths")
    func preamble() {
        expectCode(.invalidInterop, "empty") { try open([]) }
        expectCode(.invalidInterop, "bad magic") { try open([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x58, 1, 0, 0, 0]) }
        expectCode(.truncated, "magic only") { try open([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1]) }
        expectCode(.invalidInterop, "version 4.0") { try open(npyBytes(good, data: eight, major: 4)) }
        var v11 = npyBytes(good, data: eight)
        v11[7] = 1
        expectCode(.invalidInterop, "version 1.1") { try open(v11) }
        expectCode(.truncated, "length past the end") { try open(npyBytes(good, data: eight, length: 5000)) }
        expectCode(.limitExceeded, "header over NumPy's 10,000-byte cap") { try open(npyBytes(good, data: eight, length: 60_000)) }
        expectCode(.limitExceeded, "v2 length 2^32 - 1") { try open(npyBytes(good, data: eight, major: 2, length: Int(UInt32.max))) }
        expectCode(.truncated, "no length field") { try open([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 2, 0, 1]) }
    }

    @Test("header syntax and key errors; nothing is ever evaluated", arguments: [
        "", "[]", "{", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': 2}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (02,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (0x2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (True,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} {}",
        "{'descr': __import__('os').system('touch /tmp/pwned'), 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2,)}",
        "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), # comment\n}",
        "{1: '<f4', 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4\\x00', 'fortran_order': False, 'shape': (2,)}",
    ])
    func syntax(dict: String) {
        expectCode(.invalidInterop, "\(dict)") { try open(npyBytes(dict, data: eight)) }
    }

    @Test("object, structured and other unsupported dtypes", arguments: [
        "'|O'", "'O'", "'<c8'", "'<c16'", "'<U5'", "'|S3'", "'|V8'", "'<M8[ns]'", "'<m8[s]'", "'<f16'", "'<i16'", "'<f3'",
        "'|b2'", "'float32'", "'<'", "''", "[('x', '<f4'), ('y', '<i4')]", "('<f4', (2,))",
    ])
    func dtypes(descr: String) {
        expectCode(.unsupportedDType, "\(descr)") {
            try open(npyBytes("{'descr': \(descr), 'fortran_order': False, 'shape': (2,), }", data: eight))
        }
    }

    @Test("shapes that overflow or do not match the data")
    func sizes() {
        expectCode(.invalidInterop, "product overflows") {
            try open(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"))
        }
        expectCode(.invalidInterop, "byte count overflows") {
            try open(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }"))
        }
        expectCode(.truncated, "data shorter than the shape") { try open(npyBytes(good, data: [0, 0, 0, 0])) }
        expectCode(.invalidInterop, "data longer than the shape") { try open(npyBytes(good, data: eight + [1])) }
        let rank65 = "(" + Array(repeating: "1", count: 65).joined(separator: ", ") + ")"
        expectCode(.limitExceeded, "rank 65") {
            try open(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': \(rank65), }", data: [0, 0, 0, 0]))
        }
    }

    @Test("nesting bombs, non-UTF-8 v3 headers")
    func nesting() {
        let deep = String(repeating: "(", count: 4000) + "2" + String(repeating: ")", count: 4000)
        expectCode(.invalidInterop) { try open(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': \(deep)}", data: eight)) }
        var raw = Array("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } \u{1}".utf8)
        raw[raw.count - 1] = 0xFF
        expectCode(.invalidInterop, "v3 non-UTF-8") { try open(npyBytes("", data: eight, major: 3, rawHeader: raw)) }
        // In v1 the header is latin-1: the same byte inside a descr string is just an unknown dtype.
        var latin = Array("{'descr': '<f4?', 'fortran_order': False, 'shape': (2,), }".utf8)
        latin[13] = 0xFF
        expectCode(.unsupportedDType, "latin-1 descr") { try open(npyBytes("", data: eight, rawHeader: latin)) }
    }

    @Test("truncated files")
    func truncated() throws {
        let valid = npyBytes(good, data: eight)
        try open(valid)
        for cut in [9, 11, 30, 63, 64, valid.count - 1] {
            expectCode(.truncated, "cut at \(cut)") { try open(Array(valid.prefix(cut))) }
        }
    }
}

/// Offsets inside a small zip archive written by ``Npz/write`` (no zip64, no comment).
struct ZipLayout {
    var bytes: [UInt8]
    var eocd: Int { bytes.count - 22 }
    var cdOffset: Int { Int(le32(bytes, eocd + 16)) }
    /// The offset of the `i`-th central directory entry.
    func central(_ i: Int) -> Int {
        var p = cdOffset
        for _ in 0 ..< i { p += 46 + Int(le16(bytes, p + 28)) + Int(le16(bytes, p + 30)) + Int(le16(bytes, p + 32)) }
        return p
    }
    func local(_ i: Int) -> Int { Int(le32(bytes, central(i) + 42)) }
    mutating func set32(_ at: Int, _ v: UInt32) { for k in 0 ..< 4 { bytes[at + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) } }
    mutating func set16(_ at: Int, _ v: UInt16) { bytes[at] = UInt8(v & 0xFF); bytes[at + 1] = UInt8(v >> 8) }
}

@Suite("Hostile .npz archives")
struct NpzHostileTests {
    /// A valid archive of two small arrays ("a", "b"), stored or deflated.
    func archive(_ compression: Npz.Compression, big: Bool = false) throws -> ZipLayout {
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("x.npz")
        let n = big ? 100_000 : 10
        try Npz.write([("a", AnyTensor(Tensor<Float>((0 ..< n).map { Float($0) }))),
                       ("b", AnyTensor(Tensor<Int16>([1, 2, 3])))], to: url, compression: compression, options: .init(bfloat16: .reject, durable: false))
        return ZipLayout(bytes: Array(try Data(contentsOf: url)))
    }

    func open(_ z: ZipLayout) throws {
        let f = try z.bytes.withUnsafeBytes { try NpzFile(bytes: $0) }
        _ = try f.loadAll()
    }

    @Test("the baselines open", arguments: [Npz.Compression.stored, .deflated])
    func baseline(compression: Npz.Compression) throws {
        let z = try archive(compression)
        let f = try z.bytes.withUnsafeBytes { try NpzFile(bytes: $0) }
        #expect(f.names == ["a", "b"])
        #expect(try f.tensor("b", as: Int16.self).scalars == [1, 2, 3])
    }

    @Test("not a zip archive, truncated archives")
    func notZip() throws {
        expectCode(.invalidInterop, "empty") { try open(ZipLayout(bytes: [])) }
        expectCode(.invalidInterop, "random bytes") { try open(ZipLayout(bytes: (0 ..< 500).map { UInt8(truncatingIfNeeded: $0 &* 77) })) }
        let z = try archive(.stored)
        for cut in [10, z.cdOffset, z.bytes.count - 1] {
            expectCode(.invalidInterop, "cut at \(cut)") { try open(ZipLayout(bytes: Array(z.bytes.prefix(cut)))) }
        }
    }

    @Test("member sizes that lie", arguments: [Npz.Compression.stored, .deflated])
    func lyingSizes(compression: Npz.Compression) throws {
        let z = try archive(compression, big: true)
        let c = z.central(0)
        let usize = le32(z.bytes, c + 24), csize = le32(z.bytes, c + 20)
        var bigger = z
        bigger.set32(c + 24, usize + 4)
        expectCode(.invalidInterop, "uncompressed size too large") { try open(bigger) }
        var smaller = z
        smaller.set32(c + 24, usize - 4)
        expectCode(.invalidInterop, "uncompressed size too small") { try open(smaller) }
        var absurd = z
        absurd.set32(c + 24, 0xFFFF_FFF0)
        expectCode(.invalidInterop, "absurd uncompressed size") { try open(absurd) }
        var both = z
        both.set32(c + 20, csize + 1_000_000)
        both.set32(c + 24, usize + 1_000_000)
        expectCode(.invalidInterop, "stored size runs past the archive") { try open(both) }
        var offset = z
        offset.set32(c + 42, 0x7FFF_FFFF)
        expectCode(.invalidInterop, "local header offset past the end") { try open(offset) }
        if compression == .deflated {
            // The deflate stream is cut: it must end in an error, never loop.
            var cut = z
            cut.set32(c + 20, csize / 2)
            expectCode(.invalidInterop, "deflate stream cut short") { try open(cut) }
            // Corrupt deflate data.
            var garbage = z
            for k in 0 ..< 64 { garbage.bytes[z.local(0) + 60 + k] ^= 0x5A }
            expectCode(.invalidInterop, "corrupt deflate data") { try open(garbage) }
        }
    }

    @Test("the .npy inside a member lies about its size")
    func lyingNpyHeader() throws {
        let z = try archive(.stored)
        var lie = z
        // The member's .npy header says shape (10,); change the digits to (90,).
        let start = z.local(0) + 30 + Int(le16(z.bytes, z.local(0) + 26)) + Int(le16(z.bytes, z.local(0) + 28))
        let text = String(decoding: z.bytes[start ..< start + 128], as: UTF8.self)
        let r = try #require(text.range(of: "(10,)"))
        lie.bytes[start + text.utf8.distance(from: text.startIndex, to: r.lowerBound) + 1] = UInt8(ascii: "9")
        // The CRC no longer matches either, but the sizes are checked first.
        expectCode(.invalidInterop) { try open(lie) }
    }

    @Test("CRC-32 mismatches", arguments: [Npz.Compression.stored, .deflated])
    func crc(compression: Npz.Compression) throws {
        var z = try archive(compression)
        z.set32(z.central(1) + 16, le32(z.bytes, z.central(1) + 16) ^ 1)
        expectCode(.checksumMismatch) { try open(z) }
        var o = InteropReadOptions()
        o.verifyZipChecksums = false
        let f = try z.bytes.withUnsafeBytes { try NpzFile(bytes: $0, options: o) }
        #expect(try f.tensor("b", as: Int16.self).scalars == [1, 2, 3])
    }

    @Test("duplicate, non-UTF-8 and non-.npy member names; mismatched local headers")
    func names() throws {
        let z = try archive(.stored)
        func patchName(_ i: Int, at k: Int, to byte: UInt8, local: Bool = true) -> ZipLayout {
            var p = z
            p.bytes[z.central(i) + 46 + k] = byte
            if local { p.bytes[z.local(i) + 30 + k] = byte }
            return p
        }
        expectCode(.invalidInterop, "duplicate") { try open(patchName(1, at: 0, to: UInt8(ascii: "a"))) }
        expectCode(.invalidInterop, "non-UTF-8") { try open(patchName(0, at: 0, to: 0xFF)) }
        expectCode(.invalidInterop, "not .npy") { try open(patchName(0, at: 3, to: UInt8(ascii: "x"))) }
        expectCode(.invalidInterop, "local name differs") { try open(patchName(0, at: 0, to: UInt8(ascii: "q"), local: false)) }
        var method = z
        method.set16(z.local(0) + 8, 8)
        expectCode(.invalidInterop, "local method differs") { try open(method) }
    }

    @Test("unsupported zip features: encryption, other methods, multi-disk")
    func features() throws {
        let z = try archive(.stored)
        var enc = z
        enc.set16(z.central(0) + 8, le16(z.bytes, z.central(0) + 8) | 1)
        expectCode(.unsupportedFeature, "encrypted") { try open(enc) }
        var bzip = z
        bzip.set16(z.central(0) + 10, 12)
        expectCode(.unsupportedFeature, "bzip2") { try open(bzip) }
        var disk = z
        disk.set16(z.eocd + 4, 1)
        expectCode(.unsupportedFeature, "multi-disk") { try open(disk) }
    }

    @Test("directory counts and offsets that lie")
    func directory() throws {
        let z = try archive(.stored)
        var count = z
        count.set16(z.eocd + 8, 40_000)
        count.set16(z.eocd + 10, 40_000)
        expectCode(.invalidInterop, "entry count too large for the directory") { try open(count) }
        var cd = z
        cd.set32(z.eocd + 16, UInt32(z.bytes.count))
        expectCode(.invalidInterop, "directory offset past the end") { try open(cd) }
        var size = z
        size.set32(z.eocd + 12, 0xFFFF_FF00)
        expectCode(.invalidInterop, "directory size past the end") { try open(size) }
        var overlap = z
        overlap.set32(z.central(1) + 42, UInt32(z.local(0)))
        expectCode(.invalidInterop, "members overlap") { try open(overlap) }
    }
}

@Suite("Random damage never crashes the interop readers")
struct InteropDamageTests {
    /// Flips, truncates and overwrites bytes of a valid file `rounds` times;
    /// every read must succeed or throw a `BrineError`.
    static func damage(_ valid: [UInt8], rounds: Int, seed: UInt64, read: ([UInt8]) throws -> Void) {
        var rng = SplitMix64(seed: seed)
        for _ in 0 ..< rounds {
            var b = valid
            switch rng.next() % 4 {
            case 0:
                for _ in 0 ..< 1 + Int(rng.next() % 4) { b[Int(rng.next() % UInt64(b.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            case 1:
                b = Array(b.prefix(Int(rng.next() % UInt64(b.count))))
            case 2:
                let at = Int(rng.next() % UInt64(b.count))
                for k in at ..< Swift.min(b.count, at + 8) { b[k] = [0x00, 0xFF, 0x7F, 0x80][Int(rng.next() % 4)] }
            default:
                let at = Int(rng.next() % UInt64(b.count))
                b.insert(contentsOf: (0 ..< Int(rng.next() % 9)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
            }
            do {
                try read(b)
            } catch is BrineError {
            } catch {
                Issue.record("non-Brine error \(error)")
            }
        }
    }

    @Test("safetensors")
    func safetensors() throws {
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("x.safetensors")
        try Safetensors.write([("w", randomArray(dtype: .float32, shape: [3, 5], seed: 1)), ("b", randomArray(dtype: .bfloat16, shape: [4], seed: 2)),
                               ("i", randomArray(dtype: .int64, shape: [2], seed: 3))], metadata: ["k": "v"], to: url, durable: false)
        let valid = Array(try Data(contentsOf: url))
        Self.damage(valid, rounds: 3000, seed: 1) { b in
            _ = try b.withUnsafeBytes { try SafetensorsFile(bytes: $0) }.loadAll()
        }
    }

    @Test("npy")
    func npy() throws {
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("x.npy")
        try Npy.write(randomArray(dtype: .float64, shape: [4, 3], seed: 1), to: url, options: .init(bfloat16: .reject, durable: false))
        let valid = Array(try Data(contentsOf: url))
        Self.damage(valid, rounds: 3000, seed: 2) { b in _ = try b.withUnsafeBytes { try Npy.read(bytes: $0) } }
    }

    @Test("npz", arguments: [Npz.Compression.stored, .deflated])
    func npz(compression: Npz.Compression) throws {
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("x.npz")
        try Npz.write([("w", randomArray(dtype: .float32, shape: [30, 5], seed: 1)), ("i", randomArray(dtype: .int8, shape: [7], seed: 2))],
                      to: url, compression: compression, options: .init(bfloat16: .reject, durable: false))
        let valid = Array(try Data(contentsOf: url))
        Self.damage(valid, rounds: 2000, seed: 3) { b in _ = try b.withUnsafeBytes { try NpzFile(bytes: $0) }.loadAll() }
    }
}
