import Brine
import Foundation

/// Small, deterministic array contents: element bytes `(i * 37 + salt) & 0xFF`,
/// so every dtype (including float16/bfloat16 and bool) gets varied bytes.
func seedArray(_ dtype: DType, _ shape: [Int], salt: Int = 11) throws(BrineError) -> AnyTensor {
    let n = Shape.byteCount(shape, itemSize: dtype.itemSize) ?? 0
    var bytes = (0 ..< n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ salt) }
    if dtype == .bool { bytes = bytes.map { $0 & 1 } }
    let storage = TensorStorage(uninitializedByteCount: n)
    if n > 0 { bytes.withUnsafeBytes { b in storage.baseAddress.copyMemory(from: b.baseAddress!, byteCount: n) } }
    return try AnyTensor(dtype: dtype, shape: shape, storage: storage)
}

/// Creates `dir` and writes raw seed files into it.
struct SeedFolder {
    let dir: String
    private(set) var count = 0

    init(_ dir: String) throws(BrineError) {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw BrineError(.io, "cannot create \(dir): \(error)")
        }
        self.dir = dir
    }

    func url(_ name: String) -> URL { URL(fileURLWithPath: dir + "/" + name) }

    mutating func raw(_ name: String, _ bytes: [UInt8]) throws(BrineError) {
        guard FileManager.default.createFile(atPath: url(name).path, contents: Data(bytes)) else {
            throw BrineError(.io, "cannot write \(url(name).path)")
        }
        count += 1
    }

    /// Counts a file written by one of Brine's writers.
    mutating func wrote() { count += 1 }
}

// MARK: - safetensors

/// The seed corpus of the FuzzSafetensors target: small valid files, one per
/// dtype (a rank-2, a rank-0 and a zero-length tensor each), one with every
/// dtype and `__metadata__`, empty files, all written by `Safetensors.write`
/// (the reference layout); plus hand-written headers the writer never
/// produces but the reference reader accepts (no padding, whitespace,
/// escapes and non-ASCII in names, unknown fields, `__metadata__: null`).
enum SafetensorsFuzzSeeds {
    static func write(into dir: String) throws(BrineError) -> Int {
        var f = try SeedFolder(dir)
        for d in DType.allCases {
            let tensors = [("w", try seedArray(d, [2, 3])), ("s", try seedArray(d, [], salt: 3)), ("e", try seedArray(d, [0, 3]))]
            try Safetensors.write(tensors, metadata: d == .float32 ? ["format": "pt"] : [:], to: f.url("seed-\(d.safetensorsName).safetensors"), durable: false)
            f.wrote()
        }
        var all: [(name: String, tensor: AnyTensor)] = []
        for (i, d) in DType.allCases.enumerated() { all.append(("layer.\(i).\(d.safetensorsName.lowercased())", try seedArray(d, [i % 3 + 1, 2], salt: i))) }
        try Safetensors.write(all, metadata: ["format": "pt", "note": "every dtype", "esc": "tab\there \"quoted\" é"], to: f.url("seed-all.safetensors"), durable: false)
        f.wrote()
        try Safetensors.write([], to: f.url("seed-empty.safetensors"), durable: false)
        f.wrote()
        try Safetensors.write([], metadata: ["only": "metadata"], to: f.url("seed-metadata-only.safetensors"), durable: false)
        f.wrote()

        let f32 = try seedArray(.float32, [2, 2]).storage.bytes
        let i16 = try seedArray(.int16, [3]).storage.bytes
        try f.raw("seed-unpadded.safetensors", file(#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, Array(f32)))
        try f.raw("seed-whitespace.safetensors", file(
            "{ \"__metadata__\" : null ,\n\t\"b\" : { \"data_offsets\" : [ 16 , 22 ] , \"shape\" : [ 3 ] , \"dtype\" : \"I16\" } ,\r\n \"a\":{\"shape\":[4],\"dtype\":\"F32\",\"data_offsets\":[0,16]} }   ",
            Array(f32) + Array(i16)))
        try f.raw("seed-escapes.safetensors", file(
            #"{"__metadata__":{"k\u00e9\n":"v\ud83d\ude00\\\"\/","":""},"n\u0000\t\u001f\u2028é😀":{"dtype":"I16","shape":[3],"data_offsets":[0,6],"extra":[1,{"x":null},true,-0,1.5e-3]}}"#,
            Array(i16)))
        try f.raw("seed-zero-dims.safetensors", file(#"{"z":{"dtype":"F64","shape":[0,9223372036854775807],"data_offsets":[0,0]},"s":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}"#, [7]))
        return f.count
    }

    /// 8-byte little-endian header length, the header, the data.
    static func file(_ header: String, _ data: [UInt8]) -> [UInt8] {
        let h = Array(header.utf8)
        let n = UInt64(h.count)
        return (0 ..< 8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + h + data
    }
}

// MARK: - NumPy

/// The seed corpus of the FuzzNumpy target:
/// - `.npy` written by `Npy.write` (every NumPy dtype Brine has; rank 0,
///   zero-length and rank-3 shapes);
/// - hand-built `.npy` covering what `Npy.write` never writes: big-endian
///   descrs, Fortran order (item sizes 1 to 8, with and without byte swap),
///   format versions 2.0 and 3.0, `'='`/`'|'`/`'?'` descrs, Python 2 `L`
///   suffixes, 16-byte alignment, other key orders and quoting;
/// - `.npz` written by `Npz.write`, stored and deflated (ZIPFoundation);
/// - hand-built stored `.npz` archives holding the hand-built `.npy`
///   members, one of them in zip64 form (zip64 end record and locator,
///   zip64 extra fields), one with a comment and UTF-8 member names.
enum NumpyFuzzSeeds {
    static func write(into dir: String) throws(BrineError) -> Int {
        var f = try SeedFolder(dir)
        let o = NpyWriteOptions(bfloat16: .reject, durable: false)
        let dtypes = DType.allCases.filter { $0 != .bfloat16 }
        for d in dtypes {
            try Npy.write(try seedArray(d, [2, 3]), to: f.url("seed-\(d).npy"), options: o)
            f.wrote()
        }
        try Npy.write(try seedArray(.float64, []), to: f.url("seed-rank0.npy"), options: o)
        try Npy.write(try seedArray(.int32, [0, 4]), to: f.url("seed-zero-length.npy"), options: o)
        try Npy.write(try seedArray(.uint16, [2, 1, 3]), to: f.url("seed-rank3.npy"), options: o)
        f.wrote(); f.wrote(); f.wrote()

        var members: [(String, [UInt8])] = []
        func add(_ name: String, _ bytes: [UInt8]) throws(BrineError) {
            try f.raw("seed-\(name).npy", bytes)
            members.append((name, bytes))
        }
        // Big-endian, every multi-byte dtype.
        for (code, size) in [("i2", 2), ("i4", 4), ("i8", 8), ("u2", 2), ("u4", 4), ("u8", 8), ("f2", 2), ("f4", 4), ("f8", 8)] {
            try add("be-\(code)", npy("{'descr': '>\(code)', 'fortran_order': False, 'shape': (2, 3), }", data(6 * size)))
        }
        // Fortran order, item sizes 1, 2, 4, 8; with a byte swap; with axes of length 1; rank 0 and zero-length.
        try add("fortran-u1", npy("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3, 4), }", data(24)))
        try add("fortran-i2", npy("{'descr': '<i2', 'fortran_order': True, 'shape': (3, 5), }", data(30)))
        try add("fortran-f4", npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 2, 2), }", data(96)))
        try add("fortran-be-f8", npy("{'descr': '>f8', 'fortran_order': True, 'shape': (3, 2), }", data(48)))
        try add("fortran-ones", npy("{'descr': '<u4', 'fortran_order': True, 'shape': (1, 3, 1, 2), }", data(24)))
        try add("fortran-rank0", npy("{'descr': '<i8', 'fortran_order': True, 'shape': (), }", data(8)))
        try add("fortran-empty", npy("{'descr': '<f4', 'fortran_order': True, 'shape': (0, 5), }", []))
        // Versions 2.0 and 3.0 (UTF-8 header).
        try add("v2", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", data(16), major: 2))
        try add("v3", npy("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 2), }", data(8), major: 3))
        try add("v3-fortran-be", npy("{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }", data(24), major: 3))
        // Descr spellings and Python literal variants.
        try add("native-order", npy("{'descr': '=i4', 'fortran_order': False, 'shape': (3,), }", data(12)))
        try add("bool-question", npy("{'descr': '?', 'fortran_order': False, 'shape': (5,), }", [0, 1, 1, 0, 1]))
        try add("bool-b1", npy("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", [1, 0]))
        try add("pipe-i1", npy("{'descr': '|i1', 'fortran_order': False, 'shape': (4,), }", data(4)))
        try add("long-suffix", npy("{'descr': '<i2', 'fortran_order': False, 'shape': (2L, 3L), }", data(12)))
        try add("key-order", npy("{\"shape\": (3,), 'fortran_order': False, u'descr': \"<u8\"}", data(24)))
        try add("align16", npy("{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", data(6), align: 16))

        // .npz written by Npz.write: stored and deflated.
        let arrays = [("weight", try seedArray(.float32, [3, 4])), ("ids", try seedArray(.int8, [5])), ("scale", try seedArray(.float64, []))]
        try Npz.write(arrays, to: f.url("seed-stored.npz"), compression: .stored, options: o)
        try Npz.write(arrays, to: f.url("seed-deflated.npz"), compression: .deflated, options: o)
        try Npz.write([("big", try seedArray(.uint16, [40, 20]))], to: f.url("seed-deflated-big.npz"), compression: .deflated, options: o)
        try Npz.write([], to: f.url("seed-empty.npz"), options: o)
        f.wrote(); f.wrote(); f.wrote(); f.wrote()

        // Hand-built stored archives of the hand-built members.
        try f.raw("seed-handmade.npz", zip(members.prefix(10).map { ($0.0 + ".npy", $0.1) }))
        try f.raw("seed-handmade-zip64.npz", zip(members.suffix(10).map { ($0.0 + ".npy", $0.1) }, zip64: true))
        try f.raw("seed-utf8-names-comment.npz", zip([("gewichte/ä😀.npy", members[0].1), ("dir/b.npy", members[1].1)], comment: "np.savez"))
        return f.count
    }

    /// Bytes `(i * 53 + 7) & 0xFF`.
    static func data(_ n: Int) -> [UInt8] { (0 ..< n).map { UInt8(truncatingIfNeeded: $0 &* 53 &+ 7) } }

    /// A `.npy`: magic, version `major`.0, the length field, the dict padded
    /// with spaces and `'\n'` so the data starts at a multiple of `align`.
    static func npy(_ dict: String, _ data: [UInt8], major: UInt8 = 1, align: Int = 64) -> [UInt8] {
        var h = Array(dict.utf8)
        let lengthSize = major == 1 ? 2 : 4
        let pad = (align - (8 + lengthSize + h.count + 1) % align) % align
        h += [UInt8](repeating: 0x20, count: pad) + [0x0A]
        var out: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, 0]
        for i in 0 ..< lengthSize { out.append(UInt8(truncatingIfNeeded: h.count >> (8 * i))) }
        return out + h + data
    }

    /// A zip archive (PKWARE APPNOTE) of stored members; with `zip64`, every
    /// size and offset goes through zip64 extra fields and the zip64 end of
    /// central directory record and locator.
    static func zip(_ members: [(name: String, bytes: [UInt8])], zip64: Bool = false, comment: String = "") -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func u16(_ v: Int, _ b: inout [UInt8]) { for i in 0 ..< 2 { b.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
        func u32(_ v: Int, _ b: inout [UInt8]) { for i in 0 ..< 4 { b.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
        func u64(_ v: Int, _ b: inout [UInt8]) { for i in 0 ..< 8 { b.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
        let flags = 0x0800  // names are UTF-8
        for (name, bytes) in members {
            let n = Array(name.utf8)
            let crc = Int(crc32(bytes))
            let offset = out.count
            // Local file header.
            u32(0x0403_4B50, &out); u16(zip64 ? 45 : 20, &out); u16(flags, &out); u16(0, &out); u16(0, &out); u16(0x21, &out)
            u32(crc, &out)
            u32(zip64 ? 0xFFFF_FFFF : bytes.count, &out); u32(zip64 ? 0xFFFF_FFFF : bytes.count, &out)
            u16(n.count, &out); u16(zip64 ? 20 : 0, &out)
            out += n
            if zip64 { u16(1, &out); u16(16, &out); u64(bytes.count, &out); u64(bytes.count, &out) }
            out += bytes
            // Central directory entry.
            u32(0x0201_4B50, &central); u16(zip64 ? 45 : 20, &central); u16(zip64 ? 45 : 20, &central); u16(flags, &central)
            u16(0, &central); u16(0, &central); u16(0x21, &central); u32(crc, &central)
            u32(zip64 ? 0xFFFF_FFFF : bytes.count, &central); u32(zip64 ? 0xFFFF_FFFF : bytes.count, &central)
            u16(n.count, &central); u16(zip64 ? 28 : 0, &central); u16(0, &central)
            u16(0, &central); u16(0, &central); u32(0, &central); u32(zip64 ? 0xFFFF_FFFF : offset, &central)
            central += n
            if zip64 { u16(1, &central); u16(24, &central); u64(bytes.count, &central); u64(bytes.count, &central); u64(offset, &central) }
        }
        let cdOffset = out.count
        out += central
        if zip64 {
            let record = out.count
            u32(0x0606_4B50, &out); u64(44, &out); u16(45, &out); u16(45, &out); u32(0, &out); u32(0, &out)
            u64(members.count, &out); u64(members.count, &out); u64(central.count, &out); u64(cdOffset, &out)
            u32(0x0706_4B50, &out); u32(0, &out); u64(record, &out); u32(1, &out)
        }
        let c = Array(comment.utf8)
        u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out)
        u16(zip64 ? 0xFFFF : members.count, &out); u16(zip64 ? 0xFFFF : members.count, &out)
        u32(zip64 ? 0xFFFF_FFFF : central.count, &out); u32(zip64 ? 0xFFFF_FFFF : cdOffset, &out)
        u16(c.count, &out)
        return out + c
    }

    /// CRC-32 (ISO-HDLC, reflected polynomial 0xEDB88320), bit by bit: seeds are tiny.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0 ..< 8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
