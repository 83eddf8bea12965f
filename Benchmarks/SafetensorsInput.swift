import Brine
import Foundation

/// Reads a safetensors checkpoint into a dataset (copied into memory, so
/// that saves read from ordinary memory as a trained model's would).
func loadSafetensorsDataset(path: String, name: String) throws -> Dataset {
    let file = try SafetensorsFile(contentsOf: URL(fileURLWithPath: path), mode: .copy)
    return Dataset(name: name, arrays: try file.loadAll().map { ($0.name, $0.tensor) })
}
