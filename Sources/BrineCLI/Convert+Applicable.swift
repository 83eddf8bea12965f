import ArgumentParser
import Brine
import Foundation

extension Convert {
    /// Refuses options that the output format cannot honour (a compression
    /// codec for a safetensors file, `--deflate` for Brine output, …): an
    /// option given and silently ignored would be a setting the user believes
    /// is in force. Prints why and throws the usage exit code (64).
    func refuseOptionsThatDoNotApply(to format: TensorFileFormat) throws {
        var wrong: [String] = []
        if format != .brine {
            if brine.codec != .none { wrong.append("--codec") }
            if brine.level != nil { wrong.append("--level") }
            if brine.shuffle { wrong.append("--shuffle") }
            if brine.alignment != FormatSpec.defaultAlignment { wrong.append("--alignment") }
            if brine.chunkSize != FormatSpec.defaultChunkBytes { wrong.append("--chunk-size") }
            if brine.storageDType != nil { wrong.append("--storage-dtype") }
            if brine.allowOverflowAndUnderflow { wrong.append("--allow-overflow-and-underflow") }
        }
        if deflate && format != .npz { wrong.append("--deflate") }
        if cast != nil && format != .npy && format != .npz { wrong.append("--cast") }
        if into != nil && format != .onnx { wrong.append("--into") }
        if shardSize != nil { wrong.append("--shard-size") }  // only for a ….index.json output
        guard !wrong.isEmpty else { return }
        printError("brine: error: \(wrong.joined(separator: ", ")) do(es) not apply to .\(format) output and would be ignored; drop \(wrong.count == 1 ? "it" : "them") or change the output format (Brine options: .brine; --deflate: .npz; --cast: .npy/.npz; --into: .onnx; --shard-size: a ….brine.index.json output)")
        throw Exit.usage
    }
}
