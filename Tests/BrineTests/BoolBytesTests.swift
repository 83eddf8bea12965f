import Foundation
import Testing
@testable import Brine

/// A bool array's bytes come from a file or another language, which can hold
/// any byte; a Swift `Bool` other than 0 or 1 is undefined behaviour (it
/// compared equal to both `true` and `false` and crashed `description`).
/// Every typed view of a bool array checks its bytes.
@Suite("Bool array bytes")
struct BoolBytesTests {
    static let hostile: [UInt8] = [1, 0, 1, 0, 0, 1, 1, 0, 1, 2, 1, 0, 0, 255]

    @Test("a bool array holding bytes other than 0 and 1 is refused (.valueOutOfRange, naming the element) by every typed view: Brine (copy, mmap), AnyTensor.typed, safetensors, .npy")
    func refused() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let bad = try Self.hostile.withUnsafeBytes { try AnyTensor(dtype: .bool, shape: [Self.hostile.count], copying: $0) }
        let e0 = #expect(throws: BrineError.self) { try bad.typed(as: Bool.self) }
        #expect(e0?.code == .valueOutOfRange)
        #expect(e0?.message.contains("element 9") == true, "\(String(describing: e0))")

        let url = dir.appendingPathComponent("b.brine")
        let w = try BrineWriter(url: url)
        _ = try w.append(bad, arrayPath: "mask")
        try w.finish()
        for mode in [LoadMode.copy, .mmap] {
            let f = try BrineFile(contentsOf: url, mode: mode)
            let e = #expect(throws: BrineError.self) { try f.array("mask", as: Bool.self) }
            #expect(e?.code == .valueOutOfRange && e?.arrayPath == "mask", "\(mode): \(String(describing: e))")
            // The bytes themselves stay readable as what they are.
            let raw = try f.anyArray("mask")
            #expect(raw.dtype == .bool && Array(raw.storage.bytes) == Self.hostile, "\(mode): \(Array(raw.storage.bytes))")
        }

        // safetensors (BOOL), written byte by byte.
        var header = Array(#"{"mask":{"dtype":"BOOL","shape":[14],"data_offsets":[0,14]}}"#.utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var st: [UInt8] = (0 ..< 8).map { UInt8(truncatingIfNeeded: UInt64(header.count) >> (8 * UInt64($0))) }
        st += header + Self.hostile
        let stURL = dir.appendingPathComponent("b.safetensors")
        try Data(st).write(to: stURL)
        let e1 = #expect(throws: BrineError.self) { try SafetensorsFile(contentsOf: stURL).tensor("mask", as: Bool.self) }
        #expect(e1?.code == .valueOutOfRange, "\(String(describing: e1))")

        // .npy (|b1), written byte by byte (NumPy NEP 1, version 1.0).
        var npyHeader = Array("{'descr': '|b1', 'fortran_order': False, 'shape': (14,), }".utf8)
        while (10 + npyHeader.count + 1) % 64 != 0 { npyHeader.append(0x20) }
        npyHeader.append(0x0A)
        let npy: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(npyHeader.count & 0xFF), UInt8(npyHeader.count >> 8)] + npyHeader + Self.hostile
        let npyURL = dir.appendingPathComponent("b.npy")
        try Data(npy).write(to: npyURL)
        let e2 = #expect(throws: BrineError.self) { try Npy.read(contentsOf: npyURL).typed(as: Bool.self) }
        #expect(e2?.code == .valueOutOfRange, "\(String(describing: e2))")
    }

    @Test("valid bool arrays of every length still load, in copy and mmap", arguments: [0, 1, 7, 8, 9, 4097])
    func validStillLoad(count: Int) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let values = (0 ..< count).map { $0 % 3 == 0 }
        let t = try Tensor<Bool>(shape: [count], scalars: values)
        let url = dir.appendingPathComponent("v.brine")
        let w = try BrineWriter(url: url)
        _ = try w.append(t, arrayPath: "v")
        try w.finish()
        for mode in [LoadMode.copy, .mmap] {
            #expect(try BrineFile(contentsOf: url, mode: mode).array("v", as: Bool.self).scalars == values)
        }
        #expect(BoolBytes.firstInvalid(UnsafeRawBufferPointer(start: nil, count: 0)) == nil)
    }
}
