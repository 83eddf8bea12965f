// libFuzzer target for the pickle and joblib reader (docs/HARDENING.md,
// docs/PICKLE.md).
//
// Build and run with scripts/fuzz.sh FuzzPickle SECONDS, which does
//   swift build -c release --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address
//     --product FuzzPickle --scratch-path .build-fuzz
// In a normal `swift build` this file has no entry point of its own and the
// target links as a harmless no-op executable.
//
// Every input is read by `Pickle.read(bytes:)` with tight caps (64 MiB per
// allocation, 256 MiB decompressed, 200,000 tree nodes), as a service reading
// uploaded files would set them. An input that loads is checked: every
// array reference in the tree names an array, every array's byte count
// matches its dtype and shape, and every byte of every array is read (so
// AddressSanitizer checks that views lie inside memory the reader owns);
// the same input read a second time gives the same tree and arrays
// (the reader is deterministic). Any outcome but a value or a `BrineError`
// is a finding: a trap, an out-of-bounds access, a failed precondition, a
// leak, a hang past -timeout, an allocation past -malloc_limit_mb.
import Brine

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPickle(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    var o = PickleReadOptions()
    o.limits.maxAllocationBytes = 64 << 20
    o.maxDecompressedBytes = 256 << 20
    o.maxTreeNodes = 200_000
    o.maxTreeBytes = 64 << 20
    o.maxObjects = 200_000
    o.maxMemoEntries = 200_000
    o.maxStackItems = 200_000
    let first: PickleContent
    do {
        first = try Pickle.read(bytes: bytes, options: o)
    } catch {
        precondition(!error.message.isEmpty, "an error without a message")
        return 0
    }
    check(first.root, arrays: first.arrays.count)
    var sum: UInt64 = 0
    for (_, t) in first.arrays {
        precondition(Shape.byteCount(t.shape, itemSize: t.dtype.itemSize) == t.byteCount, "array bytes do not match its shape")
        for b in t.storage.bytes { sum = sum &* 31 &+ UInt64(b) }
    }
    let second = try? Pickle.read(bytes: bytes, options: o)
    precondition(second != nil && second!.root == first.root && second!.arrays.count == first.arrays.count,
                 "a second read of the same bytes differs")
    for (a, b) in zip(first.arrays, second!.arrays) {
        precondition(a.path == b.path && a.tensor == b.tensor, "a second read gives a different array")
    }
    blackHole(sum)
    return 0
}

/// Every array reference in the tree names one of the `arrays` arrays.
func check(_ v: Value, arrays: Int) {
    var work = [v]
    while let x = work.popLast() {
        switch x {
        case .arrayRef(let i): precondition(i >= 0 && i < arrays, "array reference \(i) of \(arrays)")
        case .list(let l): work.append(contentsOf: l)
        case .map(let m): work.append(contentsOf: m.map(\.value))
        default: break
        }
    }
}

@inline(never)
func blackHole(_ x: UInt64) {
    if x == 0x1234_5678_9ABC_DEF0 { print("") }
}
