import Foundation
import Testing
@testable import Brine

@Suite("Interop name tables: GGUF value types and NumPy descrs")
struct InteropNameTableTests {
    @Test("GGUF value types carry the spec's names (ggml docs/gguf.md, enum gguf_type) and parse back")
    func ggufValueTypeNames() {
        let spec: [(UInt32, String)] = [
            (0, "UINT8"), (1, "INT8"), (2, "UINT16"), (3, "INT16"), (4, "UINT32"), (5, "INT32"), (6, "FLOAT32"),
            (7, "BOOL"), (8, "STRING"), (9, "ARRAY"), (10, "UINT64"), (11, "INT64"), (12, "FLOAT64"),
        ]
        #expect(GGUFValueType.allCases.count == spec.count)
        for (raw, name) in spec {
            let t = GGUFValueType(rawValue: raw)
            #expect(t?.description == name, "\(raw)")
            #expect(GGUFValueType(name: name) == t, "\(name)")
        }
        #expect(GGUFValueType(name: "uint8") == nil)
    }

    @Test("NumPy descrs: what the writer emits (NEP 1), and every descr read back with its byte order")
    func numpyDescrs() throws {
        let expected: [DType: String] = [
            .bool: "|b1", .int8: "|i1", .uint8: "|u1", .int16: "<i2", .int32: "<i4", .int64: "<i8",
            .uint16: "<u2", .uint32: "<u4", .uint64: "<u8", .float16: "<f2", .float32: "<f4", .float64: "<f8",
        ]
        #expect(DType.bfloat16.numpyDescr == nil)
        for d in DType.allCases where d != .bfloat16 {
            let descr = try #require(d.numpyDescr, "\(d)")
            #expect(descr == expected[d], "\(d)")
            let little = try Npy.parseDescr(.string(descr), at: 0)
            #expect(little.0 == d && !little.bigEndian, "\(descr)")
            let big = try Npy.parseDescr(.string(">" + descr.dropFirst()), at: 0)
            #expect(big.0 == d && big.bigEndian, "\(descr)")
            let kind = try #require(descr.dropFirst().first)
            #expect(DType(numpyKind: kind, itemSize: d.itemSize) == d)
        }
        #expect(try Npy.parseDescr(.string("?"), at: 0).0 == .bool)
        #expect(DType(numpyKind: "f", itemSize: 3) == nil)
        #expect(DType(numpyKind: "b", itemSize: 2) == nil)
    }

    @Test("NumPy descrs Brine has no dtype for are refused with the reason", arguments: [
        ("<c8", "complex"), ("|O", "object arrays"), ("<U4", "string"), ("|S3", "string"), ("|V8", "void"),
        ("<M8", "datetime"), ("<m8", "datetime"), ("<f3", "not a dtype Brine supports"), ("<b2", "not a dtype Brine supports"),
        ("<", "empty type"), ("<i", "not a dtype Brine supports"),
    ])
    func unsupportedDescrs(descr: String, reason: String) {
        let e = #expect(throws: BrineError.self) { try Npy.parseDescr(.string(descr), at: 7) }
        #expect(e?.code == .unsupportedDType)
        #expect(e?.message.contains(reason) == true, "\(e?.message ?? "")")
        #expect(e?.byteOffset == 7)
    }

    @Test("a pickled NumPy dtype maps to the Brine dtype of its kind and item size")
    func pickledDTypes() {
        for d in DType.allCases where d != .bfloat16 {
            let descr = d.numpyDescr!
            let n = NumpyDType(kind: descr.dropFirst().first!, itemSize: d.itemSize, byteOrder: descr.first!)
            #expect(n.brineDType == d, "\(descr)")
        }
        #expect(NumpyDType(kind: "c", itemSize: 8).brineDType == nil)
        #expect(NumpyDType(kind: "f", itemSize: 4, isSubarray: true).brineDType == nil)
    }
}
