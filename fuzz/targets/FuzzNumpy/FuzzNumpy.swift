// libFuzzer target for the NumPy `.npy` and `.npz` readers (docs/HARDENING.md).
//
// Build and run with scripts/fuzz.sh FuzzNumpy SECONDS, which does
//   swift build -c release --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address
//     --product FuzzNumpy --scratch-path .build-fuzz
// In a normal `swift build` this file has no entry point of its own and the
// target links as a harmless no-op executable.
//
// Every input is read both as a `.npy` and as a `.npz` (each reader refuses
// the other's files at once, by magic or by the missing zip directory):
// - `.npy` from memory (`Npy.read(bytes:)`); an array that loads is
//   compared byte for byte with an independent, naive conversion of the
//   input (element by element: Fortran-order index arithmetic, byte
//   reversal for big-endian), and the same input read from a tmpfs file in
//   copy mode (pread) and mmap mode must give the same array or the same
//   error code; a loaded array is written back with `Npy.write` and read again;
// - `.npz` from memory with CRC-32 checks on (strict) and off (lax, so
//   mutated members get past the checksum into the `.npy` parser, the
//   Fortran transpose and the byte swap); every member is loaded one by one
//   and with `loadAll()` (which must fail exactly when a member fails); a
//   member that loads strictly loads identically in lax mode; the archive
//   read from a tmpfs file (copy mode) must give the same members and
//   outcomes. (There is no `Npz.write` round trip here: ZIPFoundation leaks
//   one path-sized C string per archive it opens on Linux, and libFuzzer
//   re-runs every input that leaks and turns leak detection off after 1,000
//   of them. The oracle tests cover the `.npz` writer.)
// Every loaded byte is read (by the comparisons), so AddressSanitizer checks
// that views and decoded buffers lie inside memory the reader owns. Any
// outcome but a value or a `BrineError` that says where (a byte offset or an
// array name) is a finding: a trap, an out-of-bounds access, a failed
// precondition below, a leak, a hang past -timeout, an allocation past
// -malloc_limit_mb.
import Brine
import Foundation

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNumpy(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let scratch = scratchFile(holding: bytes) else { return 0 }
    exerciseNpy(bytes, scratch: scratch)
    exerciseNpz(bytes, scratch: scratch)
    return 0
}

/// Caps for untrusted input, as a service reading uploaded files would set them.
func fuzzOptions(verifyCRC: Bool = true) -> InteropReadOptions {
    var o = InteropReadOptions()
    o.threads = 1
    o.limits.maxAllocationBytes = 64 << 20
    o.verifyZipChecksums = verifyCRC
    return o
}

// MARK: .npy

func exerciseNpy(_ bytes: UnsafeRawBufferPointer, scratch: Scratch) {
    let memory: Result<AnyTensor, BrineError>
    do {
        memory = .success(try Npy.read(bytes: bytes, options: fuzzOptions()))
    } catch {
        consume(error)
        memory = .failure(error)
    }
    // The header alone validates exactly when the whole file loads.
    var header: NpyHeader?
    do {
        header = try Npy.readHeader(contentsOf: scratch.input, options: fuzzOptions())
    } catch {
        if case .failure(let e) = memory {
            precondition(e.code == error.code, "readHeader failed with \(error.code.name), read with \(e.code.name)")
        } else {
            preconditionFailure("readHeader failed on a file that loaded: \(error)")
        }
    }
    if case .success(let t) = memory {
        guard let h = header else { preconditionFailure("read loaded a file whose header readHeader refused") }
        precondition(t.dtype == h.dtype && t.shape == h.shape && t.byteCount == h.byteCount, "array does not match its header")
        precondition(h.dataOffset + h.byteCount == bytes.count, "header and data do not fill the file exactly")
        let expected = naiveConversion(bytes, h)
        precondition(expected.withUnsafeBytes { t.storage.bytes.elementsEqual($0) }, "array bytes differ from the naive conversion of the file")
        roundTrip(t, scratch: scratch)
    }
    for mode in [LoadMode.copy, .mmap] {
        do {
            let t = try Npy.read(contentsOf: scratch.input, mode: mode, options: fuzzOptions())
            guard case .success(let m) = memory else { preconditionFailure("\(mode) loaded a .npy the in-memory reader refused") }
            precondition(t == m, "\(mode) array differs from the in-memory reader's")
        } catch {
            guard case .failure(let e) = memory else { preconditionFailure("\(mode) failed on a .npy that loaded from memory: \(error)") }
            precondition(e.code == error.code, "\(mode) failed with \(error.code.name), memory with \(e.code.name)")
        }
    }
}

/// The C-order little-endian bytes of the array in `file`, computed one
/// element at a time from the definitions (NEP 1): element `(i0, …, ik)`
/// sits at flat index `i0 + d0·(i1 + d1·(…))` in Fortran order; big-endian
/// elements have their bytes reversed.
func naiveConversion(_ file: UnsafeRawBufferPointer, _ h: NpyHeader) -> [UInt8] {
    let size = h.dtype.itemSize
    let count = h.byteCount / size
    var out = [UInt8](repeating: 0, count: h.byteCount)
    let rank = h.shape.count
    var index = [Int](repeating: 0, count: rank)  // the C-order multi-index of element c
    for c in 0 ..< count {
        var source = c
        if h.fortranOrder {
            source = 0
            var stride = 1
            for k in 0 ..< rank {
                source += index[k] * stride
                stride *= h.shape[k]
            }
        }
        for b in 0 ..< size {
            out[c * size + b] = file[h.dataOffset + source * size + (h.isBigEndian ? size - 1 - b : b)]
        }
        var k = rank - 1
        while k >= 0 {
            index[k] += 1
            if index[k] < h.shape[k] { break }
            index[k] = 0
            k -= 1
        }
    }
    return out
}

/// `Npy.write`, then `Npy.read`: the same array.
func roundTrip(_ t: AnyTensor, scratch: Scratch) {
    let url = scratch.folder.appendingPathComponent("written.npy")
    defer { unlink(url.path) }
    do {
        try Npy.write(t, to: url, options: NpyWriteOptions(bfloat16: .reject, durable: false))
        let back = try Npy.read(contentsOf: url, mode: .copy, options: fuzzOptions())
        precondition(back == t, "array changed in a .npy write/read round trip")
    } catch {
        preconditionFailure(".npy write/read round trip of a loaded array failed: \(error)")
    }
}

// MARK: .npz

/// One archive's outcome: the members, and per member the array or the error.
struct NpzOutcome {
    var names: [String]
    var members: [NpzMember]
    var loaded: [Result<AnyTensor, BrineError>]
}

func exerciseNpz(_ bytes: UnsafeRawBufferPointer, scratch: Scratch) {
    let strict = readNpz { () throws(BrineError) in try NpzFile(bytes: bytes, options: fuzzOptions(verifyCRC: true)) }
    let lax = readNpz { () throws(BrineError) in try NpzFile(bytes: bytes, options: fuzzOptions(verifyCRC: false)) }
    switch (strict, lax) {
    case (.failure(let a), .failure(let b)):
        precondition(a.code == b.code, "the zip directory check depends on CRC verification")
    case (.success(let s), .success(let l)):
        precondition(s.names == l.names && s.members == l.members, "the zip directory depends on CRC verification")
        for (a, b) in zip(s.loaded, l.loaded) {
            if case .success(let x) = a {
                guard case .success(let y) = b, x == y else { preconditionFailure("a member that loads with CRC checks differs without them") }
            }
        }
    default:
        preconditionFailure("the zip directory opens with CRC checks on but not off, or the reverse")
    }
    // Copy mode (pread) from a file: the same directory and the same member outcomes.
    let copy = readNpz { () throws(BrineError) in try NpzFile(contentsOf: scratch.input, options: fuzzOptions(verifyCRC: true)) }
    switch (strict, copy) {
    case (.failure(let a), .failure(let b)):
        precondition(a.code == b.code, "copy mode failed with \(b.code.name), memory with \(a.code.name)")
    case (.success(let s), .success(let c)):
        precondition(s.names == c.names && s.members == c.members, "copy mode directory differs from the in-memory reader's")
        for (a, b) in zip(s.loaded, c.loaded) {
            switch (a, b) {
            case (.success(let x), .success(let y)): precondition(x == y, "copy mode member differs from the in-memory reader's")
            case (.failure(let x), .failure(let y)): precondition(x.code == y.code, "copy mode member failed with \(y.code.name), memory with \(x.code.name)")
            default: preconditionFailure("a member loads in one of copy mode and memory only")
            }
        }
    default:
        preconditionFailure("the zip directory opens in one of copy mode and memory only")
    }
}

/// Opens an archive and loads every member, one by one and with `loadAll()`.
func readNpz(_ open: () throws(BrineError) -> NpzFile) -> Result<NpzOutcome, BrineError> {
    let file: NpzFile
    do {
        file = try open()
    } catch {
        consume(error)
        return .failure(error)
    }
    precondition(file.names.count == file.members.count && Set(file.names).count == file.names.count, "duplicate member names")
    var loaded: [Result<AnyTensor, BrineError>] = []
    for m in file.members {
        precondition(m.memberName == m.name + ".npy", "member name is not the array name plus .npy")
        precondition(m.isCompressed || m.compressedSize == m.uncompressedSize, "stored member with two sizes")
        do {
            let t = try file.tensor(m.name)
            // Every member's storage is owned memory: read all of it.
            precondition(t.byteCount == Shape.byteCount(t.shape, itemSize: t.dtype.itemSize), "array size does not match its shape")
            precondition(t.byteCount <= m.uncompressedSize, "array larger than its member")
            consume(Int(Checksum.xxh3(t.storage.bytes) & 0x7FFF_FFFF))
            loaded.append(.success(t))
        } catch {
            consume(error)
            loaded.append(.failure(error))
        }
    }
    do {
        let all = try file.loadAll()
        precondition(all.map(\.name) == file.names, "loadAll returned other names")
        for (i, (_, t)) in all.enumerated() {
            guard case .success(let one) = loaded[i], one == t else { preconditionFailure("loadAll disagrees with tensor(_:)") }
        }
    } catch {
        precondition(loaded.contains { if case .failure = $0 { return true } else { return false } },
                     "loadAll failed though every member loads: \(error)")
    }
    return .success(NpzOutcome(names: file.names, members: file.members, loaded: loaded))
}

// MARK: Scratch files

/// A tmpfs file holding the current input (reopened by path through
/// /proc/self/fd) and a folder for written files.
struct Scratch {
    var fd: Int32
    var input: URL
    var folder: URL
}

/// libFuzzer calls the target from one thread only, so this global is never accessed concurrently.
nonisolated(unsafe) var scratchState: Scratch? = nil

/// The scratch file, now holding `bytes`; `nil` if tmpfs is unavailable.
func scratchFile(holding bytes: UnsafeRawBufferPointer) -> Scratch? {
    if scratchState == nil {
        let folder = "/dev/shm/brine-fuzz-numpy-\(getpid())"
        mkdir(folder, 0o700)
        let path = folder + "/input"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        unlink(path)  // the descriptor keeps it
        scratchState = Scratch(fd: fd, input: URL(fileURLWithPath: "/proc/self/fd/\(fd)"), folder: URL(fileURLWithPath: folder))
        atexit { if let s = scratchState { rmdir(s.folder.path) } }
    }
    guard let s = scratchState else { return nil }
    guard ftruncate(s.fd, 0) == 0, bytes.isEmpty || pwrite(s.fd, bytes.baseAddress, bytes.count, 0) == bytes.count else { return nil }
    return s
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
