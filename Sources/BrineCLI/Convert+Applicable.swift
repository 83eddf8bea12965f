import ArgumentParser
import Brine
import Foundation

extension Convert {
    /// Refuses options that the destination cannot honour (a compression
    /// codec for a safetensors file, `--deflate` for Brine output,
    /// `--shard-size` for anything but a sharded Brine output, …): an option
    /// given and silently ignored would be a setting the user believes is in
    /// force. Prints why and throws the usage exit code (64).
    func refuseOptionsThatDoNotApply(to destination: ConvertDestination) throws {
        let format = destination.format
        var wrong: [String] = []
        if format != .brine {
            if brine.codec != .none { wrong.append("--codec") }
            if brine.level != nil { wrong.append("--level") }
            if brine.lz4Acceleration != nil { wrong.append("--lz4-acceleration") }
            if brine.shuffle { wrong.append("--shuffle") }
            if brine.alignment != FormatSpec.defaultAlignment { wrong.append("--alignment") }
            if brine.chunkSize != FormatSpec.defaultChunkBytes { wrong.append("--chunk-size") }
            if brine.storageDType != nil { wrong.append("--storage-dtype") }
            if brine.allowOverflowAndUnderflow { wrong.append("--allow-overflow-and-underflow") }
        }
        if deflate && format != .npz { wrong.append("--deflate") }
        if cast != nil && format != .npy && format != .npz { wrong.append("--cast") }
        if into != nil && format != .onnx { wrong.append("--into") }
        if shardSize != nil && destination.kind != .brineShards { wrong.append("--shard-size") }
        guard !wrong.isEmpty else { return }
        printError("brine: error: \(wrong.joined(separator: ", ")) do(es) not apply to \(destination.label) output and would be ignored; drop \(wrong.count == 1 ? "it" : "them") or change the output format (Brine options: .brine, sharded or not; --deflate: .npz; --cast: .npy/.npz; --into: .onnx; --shard-size: a ….brine.index.json output)")
        throw Exit.usage
    }
}
