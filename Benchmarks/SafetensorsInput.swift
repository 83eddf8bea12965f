import Brine
import Foundation

/// Reads a safetensors checkpoint into a dataset (temporary minimal reader
/// until the interop module lands; replaced by Brine's SafetensorsFile).
func loadSafetensorsDataset(path: String, name: String) throws -> Dataset {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let n = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8 ..< 8 + Int(n))) as! [String: Any]
    var arrays: [(String, AnyTensor)] = []
    for (k, v) in header where k != "__metadata__" {
        let e = v as! [String: Any]
        let shape = e["shape"] as! [Int]
        let off = e["data_offsets"] as! [Int]
        let dtype: DType = ["F32": .float32, "I64": .int64, "F16": .float16, "BF16": .bfloat16][e["dtype"] as! String]!
        let bytes = data.subdata(in: 8 + Int(n) + off[0] ..< 8 + Int(n) + off[1])
        let t = try bytes.withUnsafeBytes { try AnyTensor(dtype: dtype, shape: shape, copying: $0) }
        arrays.append((k, t))
    }
    arrays.sort { $0.0 < $1.0 }
    return Dataset(name: name, arrays: arrays)
}
