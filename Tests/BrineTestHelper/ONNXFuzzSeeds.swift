import Brine
import Foundation

/// Seeds for FuzzONNX, hand-encoded protobuf (this helper does not link
/// BrineONNX; fuzz/reference_seeds.py adds models written by the `onnx`
/// package): a model whose graph holds raw_data, typed-field and external
/// initializers (external data points at the fuzzer's `weights.bin`).
enum ONNXFuzzSeeds {
    static func varint(_ v: UInt64) -> [UInt8] {
        var v = v, out: [UInt8] = []
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        return out + [UInt8(v)]
    }
    static func field(_ number: UInt64, _ v: UInt64) -> [UInt8] { varint(number << 3) + varint(v) }
    static func field(_ number: UInt64, _ bytes: [UInt8]) -> [UInt8] { varint(number << 3 | 2) + varint(UInt64(bytes.count)) + bytes }
    static func field(_ number: UInt64, _ s: String) -> [UInt8] { field(number, Array(s.utf8)) }

    /// TensorProto: dims = 1, data_type = 2, float_data = 4 (packed), int64_data = 7, name = 8,
    /// raw_data = 9, external_data = 13 (key 1, value 2), data_location = 14.
    static func tensor(_ name: String, dims: [UInt64], type: UInt64, body: [UInt8]) -> [UInt8] {
        dims.flatMap { field(1, $0) } + field(2, type) + field(8, name) + body
    }

    static func write(into dir: String) throws(BrineError) -> Int {
        do {
            return try writeSeeds(into: dir)
        } catch {
            throw BrineError(.io, "writing ONNX seeds failed: \(error)", filePath: dir)
        }
    }

    static func writeSeeds(into dir: String) throws -> Int {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let raw = tensor("w", dims: [2, 2], type: 1, body: field(9, (0 ..< 16).map { UInt8($0 * 7) }))
        let floats = tensor("f", dims: [2], type: 1, body: field(4, [0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0]))
        let int64s = tensor("i", dims: [2], type: 7, body: field(7, varint(5) + varint(UInt64(bitPattern: -3))))
        let ext = tensor("e", dims: [4], type: 1, body: field(13, field(1, "location") + field(2, "weights.bin"))
            + field(13, field(1, "offset") + field(2, "16")) + field(13, field(1, "length") + field(2, "16")) + field(14, 1))
        let graph = field(5, raw) + field(5, floats) + field(5, int64s) + field(5, ext) + field(2, "g")
        let opset = field(8, field(1, "") + field(2, 17))
        let model = field(1, 8) + opset + field(2, "seed") + field(7, graph)
        try Data(model).write(to: URL(fileURLWithPath: dir + "/seed-model.onnx"))
        let inline = field(1, 8) + field(7, field(5, raw) + field(5, floats) + field(5, int64s))
        try Data(inline).write(to: URL(fileURLWithPath: dir + "/seed-inline.onnx"))
        return 2
    }
}
