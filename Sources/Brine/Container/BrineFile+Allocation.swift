extension BrineFile {
    /// Memory for arrays about to be loaded, one storage per size in
    /// `byteCounts` (uninitialized, 64-byte aligned). Arrays under
    /// ``MemoryTuning/hugeAllocationThreshold`` are packed into one
    /// huge-page mapping when together they reach that threshold
    /// (``MemoryTuning/packsSmallArrays``): loading a model of many small
    /// arrays then costs a page fault per 2 MiB instead of one per 4 KiB of
    /// every array. The packed memory is released with the last of its
    /// arrays. Larger arrays get their own mapping (see ``TensorStorage``).
    static func allocateStorages(_ byteCounts: [Int]) -> [TensorStorage] {
        let threshold = MemoryTuning.hugeAllocationThreshold
        let align = TensorStorage.allocationAlignment
        var packedTotal = 0
        if MemoryTuning.packsSmallArrays {
            for n in byteCounts where n < threshold { packedTotal += alignUp(Swift.max(n, 1), align) }
        }
        guard packedTotal >= threshold, let pack = TensorStorage.PackedAllocation(byteCount: packedTotal) else {
            return byteCounts.map { TensorStorage(uninitializedByteCount: $0) }
        }
        var offset = 0
        return byteCounts.map { n in
            guard n < threshold else { return TensorStorage(uninitializedByteCount: n) }
            let s = TensorStorage(packedIn: pack, offset: offset, byteCount: n)
            offset += alignUp(Swift.max(n, 1), align)
            return s
        }
    }
}
