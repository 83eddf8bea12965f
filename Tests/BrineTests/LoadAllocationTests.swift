import Foundation
import Testing
@testable import Brine

/// Copy loads pack the small arrays of one load into one mapping
/// (`BrineFile.allocateStorages`): each array still behaves as memory of its
/// own (not a view, writable in place, independent of its neighbours, alive
/// as long as it is referenced).
@Suite("Packed allocation of loaded arrays")
struct LoadAllocationTests {
    @Test("Small arrays of a copy load share one mapping yet behave as arrays of their own")
    func packedArrays() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("many.brine")
        // 40 arrays of 50,000 float32 (195 KiB each, 7.6 MiB in all) and one of 5 MiB.
        let w = try BrineWriter(url: url)
        var originals: [AnyTensor] = []
        for i in 0 ..< 40 {
            let t = randomArray(dtype: .float32, shape: [50_000 + i], seed: UInt64(i))
            originals.append(t)
            try w.append(t, arrayPath: "a\(i)")
        }
        let big = randomArray(dtype: .float32, shape: [5 << 18], seed: 99)
        originals.append(big)
        try w.append(big, arrayPath: "big")
        try w.finish()

        var loaded = try BrineFile(path: url.path, mode: .copy).loadAll()
        #expect(loaded.count == 41)
        for (o, l) in zip(originals, loaded) {
            #expect(!l.storage.isView)
            #expect(o.storage.bytes.elementsEqual(l.storage.bytes))
            #expect(Int(bitPattern: l.storage.baseAddress) % TensorStorage.allocationAlignment == 0)
        }
        #expect(loaded[0].storage.owner is TensorStorage.PackedAllocation)
        #expect(loaded[0].storage.owner === loaded[39].storage.owner)
        #expect(!(loaded[40].storage.owner is TensorStorage.PackedAllocation))  // large arrays get their own

        // Writing one array changes neither its neighbours nor the file.
        var first = try loaded[0].typed(as: Float.self)
        loaded[0] = loaded[1]  // `first` is now the only reference to its storage
        let before = first.storage.baseAddress
        first[flat: first.count - 1] = 12345
        #expect(first.storage.baseAddress == before)  // in place: not copied
        #expect(originals[1].storage.bytes.elementsEqual(loaded[1].storage.bytes))
        // The last reference keeps the shared memory alive.
        let last = loaded[39]
        loaded.removeAll()
        #expect(originals[39].storage.bytes.elementsEqual(last.storage.bytes))
        #expect(first[flat: first.count - 1] == 12345)
    }

    @Test("Without packing (or too few small bytes) every array gets its own memory")
    func unpacked() {
        let sizes = [100, 4096, 1 << 20]
        for s in BrineFile.allocateStorages(sizes) { #expect(!(s.owner is TensorStorage.PackedAllocation)) }
        MemoryTuning.packsSmallArrays = false
        defer { MemoryTuning.packsSmallArrays = true }
        for s in BrineFile.allocateStorages(Array(repeating: 1 << 20, count: 8)) { #expect(s.owner == nil) }
    }
}
