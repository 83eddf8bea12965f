// libFuzzer target for the Brine container reader (docs/HARDENING.md).
//
// Build and run with scripts/fuzz.sh FuzzContainer SECONDS, which does
//   swift build -c release --sanitize fuzzer --sanitize address --product FuzzContainer --scratch-path .build-fuzz
// In a normal `swift build` this file has no entry point of its own and the
// target links as a harmless no-op executable.
//
// Every input is opened as a whole Brine file held in memory, twice:
// - strict: the defaults (trailer, header and chunk checksums verified);
// - lax: `verifyHeader = false` and `verifyChecksums = false`, so mutated
//   headers and chunks get past the checksums into the header decoder, the
//   layout checks, the decompressors, unshuffle and float widening.
// Then every array is loaded (and every loaded byte read), element ranges
// across chunk boundaries are read, and `verify()` runs. Inputs that open in lax mode are also written
// to a file in /dev/shm and opened in copy mode (pread(2) paths). Any outcome but a value or a `BrineError`
// (a trap, an out-of-bounds access caught by AddressSanitizer, a hang past
// -timeout, an allocation past -malloc_limit_mb) is a finding.
import Brine

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzContainer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    exerciseContainer(bytes, strict: true)
    if exerciseContainer(bytes, strict: false) {
        exerciseCopyMode(bytes)
    }
    return 0
}

/// The scratch file for copy mode: libFuzzer calls the target from one
/// thread only, so this global is never accessed concurrently.
nonisolated(unsafe) var scratchFile: (fd: Int32, path: String)? = nil

/// Writes the input to a tmpfs file and loads it in copy mode (lax), which
/// reads header and chunks with pread(2) instead of slicing memory.
func exerciseCopyMode(_ bytes: UnsafeRawBufferPointer) {
    if scratchFile == nil {
        let path = "/dev/shm/brine-fuzz-\(getpid()).brine"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        unlink(path)  // the descriptor keeps it; /proc/self/fd reopens it
        scratchFile = (fd, "/proc/self/fd/\(fd)")
    }
    guard let (fd, path) = scratchFile else { return }
    guard ftruncate(fd, 0) == 0, bytes.isEmpty || pwrite(fd, bytes.baseAddress, bytes.count, 0) == bytes.count else { return }
    do {
        let file = try BrineFile(path: path, mode: .copy, options: fuzzOptions(strict: false))
        let all = try file.loadAll()
        precondition(all.count == file.arrays.count, "loadAll returned the wrong number of arrays")
        for t in all { touch(t) }
        for e in file.verify() { consume(e) }
    } catch {
        consume(error)
    }
}

/// Caps for untrusted input, as a service reading uploaded files would set
/// them: they keep every allocation far below libFuzzer's -malloc_limit_mb.
func fuzzOptions(strict: Bool) -> ReadOptions {
    var o = ReadOptions()
    o.threads = 1
    o.limits.maxAllocationBytes = 64 << 20
    o.limits.maxChunkBytes = 16 << 20
    if !strict {
        o.verifyHeader = false
        o.verifyChecksums = false
    }
    return o
}

/// Opens, loads, reads ranges and verifies.
/// - Returns: `true` when the file opened.
@discardableResult
func exerciseContainer(_ bytes: UnsafeRawBufferPointer, strict: Bool) -> Bool {
    let file: BrineFile
    do {
        file = try BrineFile(bytes: bytes, options: fuzzOptions(strict: strict))
    } catch {
        consume(error)
        return false
    }
    consume(file.metadata.description.utf8.count)
    consume(file.root.description.utf8.count)
    let infos = file.arrays
    for (i, a) in infos.enumerated() {
        precondition(file.info(a.path) == a, "array table lookup disagrees with the table")
        do {
            let t = try file.anyArray(at: i)
            precondition(t.dtype == a.dtype && t.shape == a.shape, "loaded array does not match its table entry")
            precondition(t.storage.byteCount == a.byteCount, "loaded array has the wrong byte count")
            touch(t)
        } catch {
            consume(error)
        }
        // Element ranges: the first element, the last one, and a window
        // around the first chunk boundary.
        let perChunk = a.chunkBytes / a.storedDType.itemSize
        var ranges: [Range<Int>] = []
        if a.count > 0 {
            ranges.append(0 ..< 1)
            ranges.append(a.count - 1 ..< a.count)
            let lo = Swift.max(0, Swift.min(perChunk, a.count) - 2)
            ranges.append(lo ..< Swift.min(a.count, lo + 5))
        }
        for r in ranges {
            do {
                let t = try file.elements(a.path, range: r)
                precondition(t.shape == [r.count], "element range has the wrong shape")
                touch(t)
            } catch {
                consume(error)
            }
        }
    }
    do {
        let all = try file.loadAll()
        precondition(all.count == infos.count, "loadAll returned the wrong number of arrays")
        for t in all { touch(t) }
    } catch {
        consume(error)
    }
    for e in file.verify() { consume(e) }
    return true
}

/// Reads every byte of a loaded array (XXH3-64 over its storage), so that
/// AddressSanitizer checks that a view or a decoded buffer lies entirely
/// inside memory the reader owns.
@inline(never)
func touch(_ t: AnyTensor) {
    consume(Int(truncatingIfNeeded: Checksum.xxh3(t.storage.bytes) & 0x7FFF_FFFF))
}

/// Touches an error's rendering (message, location fields) so it is built in full.
@inline(never)
func consume(_ e: BrineError) {
    precondition(!e.description.isEmpty)
}

@inline(never)
func consume(_ n: Int) {
    precondition(n >= 0)
}
