// libFuzzer target for the safetensors reader (docs/HARDENING.md).
//
// Build and run with scripts/fuzz.sh FuzzSafetensors SECONDS, which does
//   swift build -c release --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address
//     --product FuzzSafetensors --scratch-path .build-fuzz
// In a normal `swift build` this file has no entry point of its own and the
// target links as a harmless no-op executable.
//
// Every input goes through the reader three ways:
// - as a whole safetensors file in memory (`SafetensorsFile(bytes:)`): the
//   8-byte length, the UTF-8 check, the strict JSON parser, the schema and
//   layout validation; then every tensor is loaded (zero-copy views into the
//   reader's copy where aligned, copies elsewhere) and compared byte for
//   byte with the input at the tensor's file offset, so AddressSanitizer
//   checks that every view lies inside the buffer and the comparison checks
//   that it is the right one;
// - as the JSON header itself: the input behind an 8-byte length that
//   equals its size (an empty data section), so the fuzzer drives the strict
//   JSON parser and the schema checks directly, without first having to
//   keep the length prefix consistent;
// - from a tmpfs file in copy mode (`pread(2)`) and mmap mode, which must
//   give the same tensors, or the same error code, as the buffer; a file
//   that loads must also be recognised by `TensorFileFormat.detect`.
// A file that opens is also written back with `Safetensors.write` and read
// again: the tensors (names, dtypes, shapes, bytes) and `__metadata__`
// must survive. Any outcome but a value or a `BrineError` that says where
// (a byte offset or a tensor name) is a finding: a trap, an out-of-bounds
// access caught by AddressSanitizer, a failed precondition below, a leak, a
// hang past -timeout, an allocation past -malloc_limit_mb.
import Brine
import Foundation

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let memory = exerciseFile(bytes)
    exerciseHeader(bytes)
    exerciseFileModes(bytes, expected: memory)
    return 0
}

/// Caps for untrusted input, as a service reading uploaded files would set them.
let fuzzOptions: InteropReadOptions = {
    var o = InteropReadOptions()
    o.threads = 1
    o.limits.maxAllocationBytes = 64 << 20
    return o
}()

/// What reading one input gave: the opened file and its tensors, or the error.
enum Outcome {
    case file(SafetensorsFile, [AnyTensor])
    case failed(BrineError)
}

/// Opens the input as a whole file in memory, checks the layout the reader
/// promises, loads every tensor and compares it with the input bytes.
func exerciseFile(_ bytes: UnsafeRawBufferPointer) -> Outcome {
    let file: SafetensorsFile
    do {
        file = try SafetensorsFile(bytes: bytes, options: fuzzOptions)
    } catch {
        consume(error)
        return .failed(error)
    }
    let tensors = loadAndCheck(file, against: bytes)
    roundTrip(file, tensors)
    return .file(file, tensors)
}

/// The input as the JSON header of a file with an empty data section.
func exerciseHeader(_ bytes: UnsafeRawBufferPointer) {
    var file = [UInt8](repeating: 0, count: 8 + bytes.count)
    let n = UInt64(bytes.count)
    for i in 0 ..< 8 { file[i] = UInt8(truncatingIfNeeded: n >> (8 * UInt64(i))) }
    if let base = bytes.baseAddress, bytes.count > 0 {
        file.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: 8).copyMemory(from: base, byteCount: bytes.count) }
    }
    file.withUnsafeBytes { b in
        do throws(BrineError) {
            let f = try SafetensorsFile(bytes: b, options: fuzzOptions)
            // An empty data section: only tensors with no bytes validate.
            precondition(f.entries.allSatisfy { $0.byteCount == 0 }, "a tensor with data validated against an empty data section")
            _ = loadAndCheck(f, against: b)
        } catch {
            consume(error)
        }
    }
}

/// Checks the validated layout, then loads every tensor one by one and all
/// at once, and compares each with the input bytes at its file offset.
/// - Returns: the tensors in file order.
func loadAndCheck(_ file: SafetensorsFile, against input: UnsafeRawBufferPointer) -> [AnyTensor] {
    precondition(file.dataSectionOffset == 8 + file.headerLength && file.dataSectionOffset <= input.count,
                 "data section offset outside the file")
    var expected = 0
    for e in file.entries {
        precondition(e.dataOffsets.lowerBound == expected, "tensors are not back to back")
        precondition(e.fileOffset == file.dataSectionOffset + e.dataOffsets.lowerBound, "file offset disagrees with data_offsets")
        precondition(Shape.byteCount(e.shape, itemSize: e.dtype.itemSize) == e.byteCount, "byte count disagrees with the shape")
        precondition(file.entry(e.name) == e, "name lookup disagrees with the entry list")
        expected = e.dataOffsets.upperBound
    }
    precondition(file.dataSectionOffset + expected == input.count, "the tensors do not cover the data section exactly")
    precondition(Set(file.names).count == file.entries.count, "duplicate tensor names")
    for (k, v) in file.metadata { consume(k.utf8.count + v.utf8.count) }

    var tensors: [AnyTensor] = []
    for e in file.entries {
        let t: AnyTensor
        do {
            t = try file.tensor(e.name)
        } catch {
            // The buffer never changes, so a validated tensor must load.
            preconditionFailure("validated tensor '\(e.name)' failed to load: \(error)")
        }
        check(t, e, input)
        tensors.append(t)
    }
    do {
        let all = try file.loadAll()
        precondition(all.count == tensors.count, "loadAll returned the wrong number of tensors")
        for (i, (name, t)) in all.enumerated() {
            precondition(name == file.entries[i].name && t == tensors[i], "loadAll disagrees with tensor(_:)")
        }
    } catch {
        preconditionFailure("loadAll failed on a validated file: \(error)")
    }
    return tensors
}

/// The tensor has the entry's dtype and shape, and its bytes (every one of
/// them read) are the input's bytes at the entry's file offset.
func check(_ t: AnyTensor, _ e: SafetensorsEntry, _ input: UnsafeRawBufferPointer) {
    precondition(t.dtype == e.dtype && t.shape == e.shape && t.byteCount == e.byteCount, "tensor does not match its entry")
    precondition(e.fileOffset >= 0 && e.byteCount <= input.count - e.fileOffset, "entry outside the input")
    let want = UnsafeRawBufferPointer(rebasing: input[e.fileOffset ..< e.fileOffset + e.byteCount])
    precondition(t.storage.bytes.elementsEqual(want), "tensor '\(e.name)' holds other bytes than the file")
}

/// The scratch state: one tmpfs file for the input (its descriptor, reopened
/// through /proc/self/fd) and one folder for written files. libFuzzer calls
/// the target from one thread only, so this global is never accessed concurrently.
nonisolated(unsafe) var scratch: (fd: Int32, path: String, folder: String)? = nil

func scratchFile() -> (fd: Int32, path: String, folder: String)? {
    if scratch == nil {
        let folder = "/dev/shm/brine-fuzz-safetensors-\(getpid())"
        mkdir(folder, 0o700)
        let path = folder + "/input.safetensors"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        unlink(path)  // the descriptor keeps it; /proc/self/fd reopens it
        scratch = (fd, "/proc/self/fd/\(fd)", folder)
        atexit { if let s = scratch { rmdir(s.folder) } }
    }
    return scratch
}

/// Opens the input from a file in copy mode (pread) and mmap mode: both
/// must agree with the in-memory reader.
func exerciseFileModes(_ bytes: UnsafeRawBufferPointer, expected: Outcome) {
    guard let (fd, path, _) = scratchFile() else { return }
    guard ftruncate(fd, 0) == 0, bytes.isEmpty || pwrite(fd, bytes.baseAddress, bytes.count, 0) == bytes.count else { return }
    if case .file(let m, _) = expected, !startsWithOtherMagic(bytes) {
        // Format detection (brine convert) must recognise every file that
        // loads, also with JSON whitespace before the `{` (detection looks at
        // the header's first 4,096 bytes).
        let header = UnsafeRawBufferPointer(rebasing: bytes[8 ..< 8 + m.headerLength])
        if (header.firstIndex { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D } ?? 0) < 4096 {
            do {
                let format = try TensorFileFormat.detect(contentsOf: URL(fileURLWithPath: path))
                precondition(format == .safetensors, "a safetensors file that loads is detected as \(format)")
            } catch {
                preconditionFailure("a safetensors file that loads is not detected: \(error)")
            }
        }
    }
    for mode in [LoadMode.copy, .mmap] {
        do {
            let f = try SafetensorsFile(path: path, mode: mode, options: fuzzOptions)
            guard case .file(let m, let tensors) = expected else {
                preconditionFailure("\(mode) opened a file the in-memory reader refused")
            }
            precondition(f.entries == m.entries && f.metadata == m.metadata, "\(mode) entries differ from the in-memory reader's")
            let all = try f.loadAll()
            precondition(all.map(\.tensor) == tensors, "\(mode) tensors differ from the in-memory reader's")
        } catch {
            consume(error)
            if case .failed(let e) = expected {
                precondition(e.code == error.code, "\(mode) failed with \(error.code.name), memory with \(e.code.name)")
            } else {
                preconditionFailure("\(mode) failed on a file the in-memory reader loaded: \(error)")
            }
        }
    }
}

/// `true` when the input starts with the Brine or `.npy` magic or a zip
/// signature, which detection checks before the safetensors length.
func startsWithOtherMagic(_ b: UnsafeRawBufferPointer) -> Bool {
    let magics: [[UInt8]] = [FormatSpec.magic, [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59],
                             [0x50, 0x4B, 0x03, 0x04], [0x50, 0x4B, 0x05, 0x06]]
    return magics.contains { m in b.count >= m.count && b.prefix(m.count).elementsEqual(m) }
}

/// Writes the loaded tensors and metadata with `Safetensors.write` and reads
/// them back: the same tensors by name, and the same metadata.
func roundTrip(_ file: SafetensorsFile, _ tensors: [AnyTensor]) {
    guard let (_, _, folder) = scratchFile() else { return }
    let url = URL(fileURLWithPath: folder + "/written.safetensors")
    do {
        try Safetensors.write(Array(zip(file.names, tensors)), metadata: file.metadata, to: url, durable: false)
    } catch {
        // Names the reader accepts are always writable; anything else is a finding.
        preconditionFailure("writing back a file that loaded failed: \(error)")
    }
    defer { unlink(url.path) }
    do {
        let again = try SafetensorsFile(contentsOf: url, mode: .mmap, options: fuzzOptions)
        precondition(again.metadata == file.metadata, "metadata changed in a write/read round trip")
        precondition(Set(again.names) == Set(file.names), "tensor names changed in a write/read round trip")
        for (name, t) in zip(file.names, tensors) {
            let back = try again.tensor(name)
            precondition(back == t, "tensor '\(name)' changed in a write/read round trip")
        }
    } catch {
        preconditionFailure("reading back a written file failed: \(error)")
    }
}

/// Touches an error's rendering (message, location fields) so it is built
/// in full, and checks that it says where: a byte offset or an array name.
@inline(never)
func consume(_ e: BrineError) {
    precondition(!e.description.isEmpty)
    precondition(e.byteOffset != nil || e.arrayPath != nil, "error without a location: \(e)")
}

@inline(never)
func consume(_ n: Int) {
    precondition(n >= 0)
}
