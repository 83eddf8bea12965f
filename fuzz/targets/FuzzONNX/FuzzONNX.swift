// libFuzzer target for the ONNX path (docs/HARDENING.md): swift-protobuf's
// decoder on the generated ONNX messages, then Brine's initializer reader.
//
// Build and run with scripts/fuzz.sh FuzzONNX SECONDS. In a normal
// `swift build` this file has no entry point of its own and the target
// links as a harmless no-op executable.
//
// Every input is written to a tmpfs file `model.onnx` in a folder that also
// holds a small `weights.bin` (so external data references have something
// to point at) and opened with tight caps. When it opens, every initializer
// is read (all bytes touched); the metadata is rendered; and the model is
// written back with every initializer replaced by itself, which must parse
// again and give the same initializers, byte for byte. Any outcome but a
// value or a `BrineError` is a finding.
import Brine
import BrineONNX
import Foundation

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let dir = scratchFolder() else { return 0 }
    let url = dir.appendingPathComponent("model.onnx")
    guard FileManager.default.createFile(atPath: url.path, contents: Data(UnsafeRawBufferPointer(start: data, count: size))) else { return 0 }
    let model: ONNXModel
    do {
        model = try ONNXModel(contentsOf: url, options: options())
    } catch {
        consume(error)
        return 0
    }
    consume(model.metadata.count)
    let bundle: TensorBundle
    do {
        bundle = try model.bundle()
    } catch {
        consume(error)
        return 0
    }
    var sum: UInt8 = 0
    for (_, t) in bundle.tensors { sum = t.storage.bytes.reduce(sum, &+) }
    consume(Int(sum))
    do {
        let out = dir.appendingPathComponent("back.onnx")
        try model.writeReplacingInitializers(with: bundle, to: out)
        let back = try ONNXModel(contentsOf: out, options: options()).bundle()
        precondition(back.names == bundle.names, "initializer names changed in a write-back")
        for ((_, a), (_, b)) in zip(back.tensors, bundle.tensors) {
            precondition(a.dtype == b.dtype && a.shape == b.shape && a.storage.bytes.elementsEqual(b.storage.bytes), "initializer changed in a write-back")
        }
    } catch {
        preconditionFailure("a model whose initializers all read failed to write back or re-read: \(error)")
    }
    return 0
}

/// Caps for untrusted input, as a service reading uploaded files would set them.
func options() -> ONNXReadOptions {
    var o = ONNXReadOptions()
    o.limits.maxAllocationBytes = 64 << 20
    o.maxModelBytes = 1 << 20
    return o
}

/// libFuzzer calls the target from one thread only, so this global is never accessed concurrently.
nonisolated(unsafe) var scratch: URL? = nil

/// A tmpfs folder for this process holding `weights.bin` (256 bytes), removed at exit.
func scratchFolder() -> URL? {
    if scratch == nil {
        let path = "/dev/shm/brine-fuzz-onnx-\(getpid())"
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else { return nil }
        let folder = URL(fileURLWithPath: path)
        guard FileManager.default.createFile(atPath: folder.appendingPathComponent("weights.bin").path,
                                             contents: Data((0 ..< 256).map { UInt8($0) })) else { return nil }
        scratch = folder
        atexit { if let s = scratch { try? FileManager.default.removeItem(at: s) } }
    }
    return scratch
}

/// Checks that an error renders and names its file or array.
@inline(never)
func consume(_ e: BrineError) {
    precondition(!e.description.isEmpty)
    precondition(e.filePath != nil || e.arrayPath != nil, "error without a location: \(e)")
}

@inline(never)
func consume(_ n: Int) {
    precondition(n >= 0)
}
