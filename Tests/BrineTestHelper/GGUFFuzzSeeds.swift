import Brine
import Foundation

/// Seeds for FuzzGGUF: small valid GGUF files (every metadata type, nested
/// arrays, plain and quantized tensors, alignments 8, 32 and 64).
enum GGUFFuzzSeeds {
    static func write(into dir: String) throws(BrineError) -> Int {
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let meta: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string("llama")), ("u8", .uint8(7)), ("i8", .int8(-7)), ("u16", .uint16(700)),
            ("i16", .int16(-700)), ("u32", .uint32(70000)), ("i32", .int32(-70000)), ("f32", .float32(0.5)),
            ("b", .bool(true)), ("u64", .uint64(1 << 40)), ("i64", .int64(-(1 << 40))), ("f64", .float64(-2.25)),
            ("tokens", .array(.string, [.string("a"), .string("<0x0A>"), .string("é")])),
            ("scores", .array(.float32, [.float32(-1), .float32(.nan)])),
            ("nested", .array(.array, [.array(.int32, [.int32(1)]), .array(.int32, [])])),
        ]
        var n = 0
        for alignment: UInt32 in [8, 32, 64] {
            var tensors: [GGUFTensorData] = []
            for (i, d) in [DType.float32, .float16, .bfloat16, .float64, .int8, .int16, .int32, .int64].enumerated() {
                let shape = [[2, 3], [4], [1, 2, 2], [3]][i % 4]
                let bytes = Shape.byteCount(shape, itemSize: d.itemSize)!
                let s = TensorStorage(zeroedByteCount: bytes)
                for j in 0 ..< bytes { s.baseAddress.storeBytes(of: UInt8(truncatingIfNeeded: j &* 37 &+ i), toByteOffset: j, as: UInt8.self) }
                tensors.append(try GGUFTensorData(name: "t.\(d.name)", tensor: AnyTensor(dtype: d, shape: shape, storage: s)))
            }
            for (name, blocks) in [("Q8_0", 1), ("Q4_0", 2), ("Q4_K", 1), ("Q6_K", 1)] {
                let type = GGMLType(name: name)!
                let s = TensorStorage(zeroedByteCount: type.typeSize * blocks)
                tensors.append(try GGUFTensorData(name: "q.\(name)", type: type, shape: [1, type.blockSize * blocks], storage: s))
            }
            try GGUF.write(tensors, metadata: [("general.alignment", .uint32(alignment))] + meta,
                           to: URL(fileURLWithPath: "\(dir)/seed-\(alignment).gguf"), durable: false)
            n += 1
        }
        try GGUF.write([], metadata: [], to: URL(fileURLWithPath: "\(dir)/seed-empty.gguf"), durable: false)
        return n + 1
    }
}
