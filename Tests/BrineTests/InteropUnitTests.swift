import Foundation
import Testing
@testable import Brine
import BrineTestSupport

@Suite("Strict JSON")
struct StrictJSONTests {
    func parse(_ s: String, maxDepth: Int = 64) throws -> JSON {
        try Array(s.utf8).withUnsafeBytes { try JSON.parse($0, maxDepth: maxDepth) }
    }

    @Test("values, exact 64-bit integers, escapes and surrogate pairs")
    func values() throws {
        #expect(try parse(" { \"a\" : [1, -2, 0, -0, 18446744073709551615, 1.5e3, 1E-2, true, false, null] } ") == .object([
            ("a", .array([.integer(negative: false, magnitude: 1), .integer(negative: true, magnitude: 2), .integer(negative: false, magnitude: 0),
                          .integer(negative: true, magnitude: 0), .integer(negative: false, magnitude: .max), .number("1.5e3"),
                          .number("1E-2"), .bool(true), .bool(false), .null])),
        ]))
        #expect(try parse("18446744073709551616") == .number("18446744073709551616"))
        #expect(try parse(#""\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00é""#) == .string("\"\\/\u{8}\u{c}\n\r\té😀é"))
        #expect(try parse("[]") == .array([]) && parse("{}") == .object([]))
        // Key order is kept.
        guard case .object(let o) = try parse(#"{"z":1,"a":2,"m":3}"#) else { Issue.record("not an object"); return }
        #expect(o.map(\.key) == ["z", "a", "m"])
    }

    @Test("rejections", arguments: [
        "", "[", "[1,]", "[1 2]", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "01", "-", "1.", ".5", "1e", "+1", "0x10",
        "\"\\x\"", "\"a", "\"\u{01}\"", "nul", "True", "[1]]", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\ud800\"",
        "{\"a\":1,\"a\":2}", "Infinity", "[NaN]",
    ])
    func rejections(text: String) {
        expectCode(.invalidInterop, "\(text)") { _ = try parse(text) }
    }

    @Test("depth is bounded")
    func depth() throws {
        _ = try parse(String(repeating: "[", count: 64) + String(repeating: "]", count: 64))
        expectCode(.invalidInterop) { _ = try parse(String(repeating: "[", count: 65) + String(repeating: "]", count: 65)) }
    }

    @Test("the writer escapes as serde_json and round-trips")
    func writer() throws {
        let v = JSON.object([("k\"\\\n\t\u{1}\u{1f}é", .array([.integer(negative: true, magnitude: 5), .string("/"), .null, .bool(true)]))])
        #expect(v.compactTextString == #"{"k\"\\\n\t\u0001\u001fé":[-5,"/",null,true]}"#)
        #expect(try parse(v.compactTextString) == v)
    }
}

@Suite("NumPy header literal")
struct NpyHeaderTests {
    func header(_ dict: String, data: Int = 0) throws -> NpyHeader {
        let b = npyBytes(dict, data: [UInt8](repeating: 0, count: data))
        return try b.withUnsafeBytes { try Npy.parseHeader($0, totalSize: b.count, maxHeaderBytes: 10_000, maxRank: 64) }
    }

    @Test("tuples, trailing commas, key order, quotes, byte orders")
    func parsing() throws {
        #expect(try header("{'descr': '<f4', 'fortran_order': False, 'shape': (), }").shape == [])
        #expect(try header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }").shape == [3])
        #expect(try header("{'shape': (3, 4 , 5,),'fortran_order':True,\"descr\":'>i2'}").shape == [3, 4, 5])
        let h = try header("{'descr': '>u8', 'fortran_order': True, 'shape': (2, 3)}")
        #expect(h.isBigEndian && h.fortranOrder && h.dtype == .uint64 && !h.isNativeLayout)
        #expect(try header("{'descr': '|u1', 'fortran_order': True, 'shape': (1, 7, 1)}").isNativeLayout)
        #expect(try header("{'descr': '>i1', 'fortran_order': False, 'shape': (2,)}").isBigEndian == false)
        #expect(try header("{u'descr': u'<f2', 'fortran_order': False, 'shape': (2L,)}").dtype == .float16)
        #expect(try header("{'descr': '=f8', 'fortran_order': False, 'shape': (2,)}").isBigEndian == false)
        #expect(try header("{'descr': 'b1', 'fortran_order': False, 'shape': (2,)}").dtype == .bool)
    }

    @Test("the writer's header is NumPy's, 64-byte aligned", arguments: [[Int](), [0], [5], [3, 4], [1 << 40, 2, 1]])
    func encoding(shape: [Int]) throws {
        let bytes = Npy.encodeHeader(descr: "<f4", shape: shape)
        #expect(bytes.count % 64 == 0)
        #expect(bytes.last == 0x0A)
        let h = try bytes.withUnsafeBytes {
            try Npy.parseHeader($0, totalSize: Int.max, maxHeaderBytes: 10_000, maxRank: 64)
        }
        #expect(h.shape == shape && h.dataOffset == bytes.count && h.majorVersion == 1)
        let text = String(decoding: bytes[10...], as: UTF8.self)
        let tuple = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        #expect(text.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': \(tuple), }"))
    }
}

@Suite("Byte swap and Fortran order")
struct LayoutTests {
    @Test("ByteSwap reverses each element, any alignment", arguments: [1, 2, 4, 8])
    func byteSwap(size: Int) {
        var rng = SplitMix64(seed: UInt64(size))
        let n = 1001 * size
        let original = (0 ..< n + 1).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        var b = original
        b.withUnsafeMutableBytes { ByteSwap.swapInPlace(UnsafeMutableRawBufferPointer(rebasing: $0[1 ..< n + 1]), elementSize: size) }
        #expect(b[0] == original[0])
        for e in 0 ..< 1001 {
            for k in 0 ..< size {
                #expect(b[1 + e * size + k] == original[1 + e * size + size - 1 - k])
            }
        }
    }

    /// A naive Fortran → C conversion, element by element.
    static func naive(_ src: [UInt8], shape: [Int], itemSize: Int) -> [UInt8] {
        let count = shape.reduce(1, *)
        var out = [UInt8](repeating: 0, count: count * itemSize)
        for c in 0 ..< count {
            var rem = c
            var idx = [Int](repeating: 0, count: shape.count)
            for d in stride(from: shape.count - 1, through: 0, by: -1) { idx[d] = rem % shape[d]; rem /= shape[d] }
            var f = 0, mul = 1
            for d in 0 ..< shape.count { f += idx[d] * mul; mul *= shape[d] }
            for k in 0 ..< itemSize { out[c * itemSize + k] = src[f * itemSize + k] }
        }
        return out
    }

    @Test("Fortran to C order matches the naive conversion",
          arguments: [[3, 4], [1, 5], [5, 1], [33, 65], [2, 3, 4], [4, 1, 3, 5], [7, 6, 5, 4], [0, 3], [1, 1, 1], [65, 3, 40]])
    func fortran(shape: [Int]) {
        for itemSize in [1, 2, 4, 8] {
            let n = shape.reduce(1, *) * itemSize
            var rng = SplitMix64(seed: UInt64(n))
            let src = (0 ..< n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            var dst = [UInt8](repeating: 0, count: n)
            src.withUnsafeBytes { s in
                dst.withUnsafeMutableBytes { d in
                    if n > 0 { FortranOrder.toCOrder(s.baseAddress!, into: d.baseAddress!, shape: shape, itemSize: itemSize) }
                }
            }
            #expect(dst == Self.naive(src, shape: shape, itemSize: itemSize), "\(shape) × \(itemSize)")
        }
    }
}

@Suite("Tensor bundles and conversion")
struct TensorBundleTests {
    static func sample() -> TensorBundle {
        var tensors: [(name: String, tensor: AnyTensor)] = []
        for (k, dtype) in DType.allCases.enumerated() where dtype != .bfloat16 {
            tensors.append(("t.\(dtype)", randomArray(dtype: dtype, shape: [k + 1, 3], seed: UInt64(k))))
        }
        tensors.append(("scalar", randomArray(dtype: .float64, shape: [], seed: 50)))
        tensors.append(("empty", randomArray(dtype: .float32, shape: [0, 2], seed: 51)))
        return TensorBundle(tensors: tensors, metadata: ["framework": "test", "note": "ü"])
    }

    @Test("every format round-trips names, dtypes, shapes and bytes; detection by content",
          arguments: [TensorFileFormat.brine, .safetensors, .npz])
    func roundTrip(format: TensorFileFormat) throws {
        let dir = makeTemporaryDirectory()
        let bundle = Self.sample()
        // A misleading extension: detection must use the content.
        let url = dir.appendingPathComponent("model.bin")
        var options = TensorBundleWriteOptions()
        options.dropMetadata = format == .npz  // .npz holds no metadata: leaving it out is asked for
        try bundle.write(to: url, format: format, options: options)
        #expect(try TensorFileFormat.detect(contentsOf: url) == format)
        for mode in [LoadMode.copy, .mmap] {
            let back = try TensorBundle(contentsOf: url, mode: mode)
            let expectedNames = format == .safetensors
                ? bundle.tensors.sorted { a, b in
                    a.tensor.dtype.safetensorsRank != b.tensor.dtype.safetensorsRank
                        ? a.tensor.dtype.safetensorsRank > b.tensor.dtype.safetensorsRank : utf8Less(a.name, b.name)
                }.map(\.name)
                : bundle.names
            #expect(back.names == expectedNames)
            for (name, t) in back.tensors {
                #expect(t == bundle.tensor(name)!, "\(name)")
            }
            #expect(back.metadata == (format == .npz ? [:] : bundle.metadata))
        }
    }

    @Test(".npy bundles hold one array named after the file; wrong counts are refused")
    func npy() throws {
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("weights.npy")
        expectCode(.invalidArgument) { try Self.sample().write(to: url) }
        let t = randomArray(dtype: .int32, shape: [4, 4], seed: 1)
        try TensorBundle(tensors: [("x", t)]).write(to: url)
        let back = try TensorBundle(contentsOf: url)
        #expect(back.names == ["weights"] && back.tensors[0].tensor == t)
        expectCode(.invalidArgument, "unknown extension") { try Self.sample().write(to: dir.appendingPathComponent("x.pt")) }
    }

    @Test("writers refuse duplicate and reserved names and leave no file behind")
    func names() throws {
        let dir = makeTemporaryDirectory()
        let t = randomArray(dtype: .float32, shape: [2], seed: 1)
        let st = dir.appendingPathComponent("x.safetensors")
        expectCode(.invalidArgument) { try Safetensors.write([("a", t), ("a", t)], to: st) }
        expectCode(.invalidArgument) { try Safetensors.write([("__metadata__", t)], to: st) }
        expectCode(.invalidArgument) { try Npz.write([("a", t), ("a", t)], to: dir.appendingPathComponent("x.npz")) }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(left.isEmpty, "\(left)")
    }

    @Test("a failed save leaves the previous file intact")
    func atomic() throws {
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("x.npz")
        try Npz.write([("a", randomArray(dtype: .float32, shape: [8], seed: 1))], to: url)
        let before = try Data(contentsOf: url)
        expectCode(.unsupportedDType) {
            try Npz.write([("ok", randomArray(dtype: .float32, shape: [8], seed: 2)), ("bf", randomArray(dtype: .bfloat16, shape: [2], seed: 3))], to: url)
        }
        #expect(try Data(contentsOf: url) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["x.npz"])
    }

    @Test("safetensors in read-write mmap mode writes through to the file")
    func readWriteMapping() throws {
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("rw.safetensors")
        try Safetensors.write([("w", AnyTensor(Tensor<Float>([1, 2, 3, 4])))], to: url)
        do {
            let f = try SafetensorsFile(contentsOf: url, mode: .mmapReadWrite)
            var w: Tensor<Float> = try f.tensor("w")
            #expect(w.isView)
            w[flat: 2] = 30
            try f.flush()
        }
        #expect(try SafetensorsFile(contentsOf: url).tensor("w", as: Float.self).scalars == [1, 2, 30, 4])
        // Read-only mapping: writing copies, the file is unchanged.
        let ro = try SafetensorsFile(contentsOf: url, mode: .mmap)
        var v: Tensor<Float> = try ro.tensor("w")
        v[flat: 0] = -1
        #expect(!v.isView)
        #expect(try SafetensorsFile(contentsOf: url).tensor("w", as: Float.self).scalars == [1, 2, 30, 4])
    }

    @Test("writers accept zero-copy views of read-only mappings", arguments: [TensorFileFormat.npz, .safetensors, .brine])
    func writeFromViews(format: TensorFileFormat) throws {
        let dir = makeTemporaryDirectory()
        let src = dir.appendingPathComponent("src.safetensors")
        try Self.sample().write(to: src)
        let mapped = try TensorBundle(contentsOf: src, mode: .mmap)
        #expect(mapped.tensors.contains { $0.tensor.storage.isView })
        let out = dir.appendingPathComponent("out.\(format.fileExtension)")
        var options = TensorBundleWriteOptions()
        options.npzCompression = .deflated
        options.brine = WriteOptions(codec: .lz4, filter: .shuffle)
        options.dropMetadata = true  // .npz holds no metadata
        try mapped.write(to: out, options: options)
        let back = try TensorBundle(contentsOf: out)
        for (name, t) in back.tensors { #expect(t == mapped.tensor(name)!, "\(name)") }
    }

    @Test("misaligned safetensors tensors are copied, not viewed")
    func misaligned() throws {
        // A hand-made file whose F32 tensor starts at an odd offset of the data section.
        let header = #"{"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"f":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}}"#
        var data: [UInt8] = [7]
        for x in [Float(1.5), -2] { withUnsafeBytes(of: x.bitPattern.littleEndian) { data += $0 } }
        let bytes = safetensorsBytes(header, data: data)
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("odd.safetensors")
        try Data(bytes).write(to: url)
        let f = try SafetensorsFile(contentsOf: url, mode: .mmap)
        let t: Tensor<Float> = try f.tensor("f")
        #expect(!t.isView && t.scalars == [1.5, -2])
        #expect(try f.tensor("b").storage.isView)
    }
}
