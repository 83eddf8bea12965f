// libFuzzer target for the GGUF reader and writer (docs/HARDENING.md).
//
// Build and run with scripts/fuzz.sh FuzzGGUF SECONDS. In a normal
// `swift build` this file has no entry point of its own and the target
// links as a harmless no-op executable.
//
// Every input is opened as a GGUF file from memory with tight caps. When it
// opens:
// - every tensor's raw blocks are read (all bytes touched, so AddressSanitizer
//   checks they lie inside the buffer), and plain tensors' numeric views must
//   hold exactly those bytes; quantized tensors must refuse a numeric view
//   with `.unsupportedDType`;
// - every metadata value's bundle text must parse back to the same value;
// - the file read from a tmpfs copy in copy mode (pread) must give the same
//   metadata and tensor infos;
// - the bundle (`GGUFFile.bundle()`) written with `GGUF.write` and read again
//   must give the same metadata, tensors and bytes.
// Any outcome but a value or a `BrineError` that says where (a byte offset
// or an array name) is a finding.
import Brine
import Foundation

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let file: GGUFFile
    do {
        file = try GGUFFile(bytes: bytes, options: options())
    } catch {
        consume(error)
        return 0
    }
    var total = 0
    for t in file.tensors {
        do {
            let raw = try file.rawBlocks(t.name)
            precondition(raw.byteCount == t.byteCount, "raw blocks of the wrong size")
            total &+= Int(raw.storage.bytes.reduce(0 as UInt8, &+))
            if t.type.isQuantized {
                do {
                    _ = try file.tensor(t.name)
                    preconditionFailure("a quantized tensor has a numeric view")
                } catch {
                    precondition(error.code == .unsupportedDType)
                }
            } else {
                let v = try file.tensor(t.name)
                precondition(v.shape == t.shape && v.storage.bytes.elementsEqual(raw.storage.bytes), "numeric view differs from the raw bytes")
            }
        } catch {
            preconditionFailure("a tensor of a validated file failed to read: \(error)")
        }
    }
    consume(total)
    for (_, v) in file.metadata {
        guard let type = v.typeName else { preconditionFailure("an accepted value has no type name") }
        precondition(type != "STRING" || v.text == { if case .string(let s) = v { return s } else { return "" } }())
    }
    guard let dir = scratchFolder() else { return 0 }
    let input = dir.appendingPathComponent("in.gguf")
    guard FileManager.default.createFile(atPath: input.path, contents: Data(bytes)) else { return 0 }
    do {
        let copy = try GGUFFile(contentsOf: input, mode: .copy, options: options())
        precondition(copy.tensors == file.tensors && copy.metadata.map(\.key) == file.metadata.map(\.key)
                     && zip(copy.metadata, file.metadata).allSatisfy { $0.value == $1.value }, "copy mode differs")
        let bundle = try file.bundle()
        let out = dir.appendingPathComponent("out.gguf")
        try GGUF.write(bundle, to: out, durable: false)
        let back = try GGUFFile(contentsOf: out, mode: .copy, options: options())
        precondition(back.metadata.map(\.key) == file.metadata.map(\.key)
                     && zip(back.metadata, file.metadata).allSatisfy { $0.value == $1.value }, "metadata changed in a bundle round trip")
        precondition(back.tensors.map(\.name) == file.tensors.map(\.name) && back.tensors.map(\.type) == file.tensors.map(\.type)
                     && back.tensors.map(\.shape) == file.tensors.map(\.shape), "tensor infos changed in a bundle round trip")
        for t in file.tensors {
            let (a, b) = (try back.rawBlocks(t.name), try file.rawBlocks(t.name))
            precondition(a == b, "tensor bytes changed in a bundle round trip")
        }
    } catch {
        preconditionFailure("a validated file failed in copy mode or a round trip: \(error)")
    }
    return 0
}

/// Caps for untrusted input, as a service reading uploaded files would set them.
func options() -> GGUFReadOptions {
    var o = GGUFReadOptions()
    o.limits.maxAllocationBytes = 64 << 20
    o.maxValues = 1 << 16
    return o
}

/// libFuzzer calls the target from one thread only, so this global is never accessed concurrently.
nonisolated(unsafe) var scratch: URL? = nil

/// A tmpfs folder for this process, removed at exit.
func scratchFolder() -> URL? {
    if scratch == nil {
        let path = "/dev/shm/brine-fuzz-gguf-\(getpid())"
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else { return nil }
        scratch = URL(fileURLWithPath: path)
        atexit { if let s = scratch { try? FileManager.default.removeItem(at: s) } }
    }
    return scratch
}

/// Checks that an error says where: a byte offset or an array name.
@inline(never)
func consume(_ e: BrineError) {
    precondition(!e.description.isEmpty)
    precondition(e.byteOffset != nil || e.arrayPath != nil, "error without a location: \(e)")
}

@inline(never)
func consume(_ n: Int) {
    precondition(n != Int.min)
}
