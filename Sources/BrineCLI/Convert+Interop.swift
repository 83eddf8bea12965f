import Brine
import BrineHDF5
import BrineONNX
import Foundation

extension Convert {
    /// Reads the formats that live in their own libraries (ONNX); `nil` for the others.
    func readInterop(_ url: URL, format: TensorFileFormat) throws(BrineError) -> TensorBundle? {
        switch format {
        case .onnx: return try ONNXModel(contentsOf: url).bundle()
        case .h5, .keras: return try IsolatedHDF5.read(url, keras: format == .keras, skipUnconvertibleAttributes: dropMetadata)  // libhdf5 may crash on damaged files
        default: return nil
        }
    }

    /// Writes the formats that live in their own libraries; `false` for the others.
    /// ONNX: the `--into` model with its initializers replaced by the bundle's tensors.
    func writeInterop(_ bundle: TensorBundle, to url: URL, format: TensorFileFormat) throws(BrineError) -> Bool {
        if format == .onnx || format == .h5 || format == .keras, let q = try GGUF.quantizedTensors(in: bundle).first {
            throw BrineError(.unsupportedDType, "tensor is quantized (\(q.type.name)) and has no numeric view; \(format) cannot carry ggml blocks (write .brine, .safetensors or .gguf)",
                             filePath: url.path, arrayPath: q.name)
        }
        guard format == .onnx || format == .h5 || format == .keras else { return false }
        if dropMetadata { try bundle.refuseArrayDataOnlyInTree(path: url.path) }
        switch format {
        case .onnx:
            guard let into else { throw BrineError(.invalidArgument, "writing .onnx needs --into MODEL.onnx") }
            let model = try ONNXModel(contentsOf: URL(fileURLWithPath: into))
            // The written model keeps the --into model's metadata: input metadata
            // that differs from it (or a model tree) is refused unless --drop-metadata.
            try model.writeReplacingInitializers(with: bundle, to: url, durable: !noSync, dropMetadata: dropMetadata)
            return true
        case .h5:
            try HDF5.write(bundle, to: url, durable: !noSync, dropMetadata: dropMetadata)
            return true
        case .keras:
            throw BrineError(.unsupportedFeature, "writing .keras archives is not supported; write .h5 (load it with model.load_weights)", filePath: url.path)
        default:
            return false
        }
    }
}
