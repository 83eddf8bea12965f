import CXXHash

/// The position of each array of a table by its path: an open-addressing
/// hash table (linear probing) of 32-bit positions, keyed by the XXH3-64 of
/// each path's UTF-8 bytes with a random per-process seed. It holds no strings: a lookup compares the
/// candidate's path in the table it was built from.
///
/// A `[String: Int]` built on every open hashed each name with SipHash,
/// retained each key and freed them all at close: at thousands of arrays
/// that was a large part of an mmap open (issue 12). Here building is one
/// allocation of `2…4 × count` slots and one XXH3 per path, of the
/// path's bytes where the header holds them (no string is touched).
struct PathIndex: Sendable {
    /// Positions + 1; 0 marks an empty slot. `slots.count` is a power of two
    /// at least twice the array count, so probes stay short and terminate.
    private let slots: [UInt32]

    /// Builds the index of `arrays` from the hash of each array's path
    /// (``hash(utf8:)`` of its UTF-8 bytes, computed as the header decodes;
    /// `hashes.count == arrays.count`). Paths are compared only when their
    /// full 64-bit hashes are equal.
    /// - Returns: the index, or the position of the first array whose path
    ///   repeats an earlier one (the caller reports the corrupt header).
    static func build(_ arrays: UnsafeBufferPointer<ArrayInfo>, hashes: UnsafeBufferPointer<UInt64>) -> Result<PathIndex, Duplicate> {
        precondition(arrays.count <= maxCount, "callers check maxCount")
        precondition(hashes.count == arrays.count, "one hash per array")
        var capacity = 4
        while capacity < 2 * arrays.count { capacity <<= 1 }
        var slots = [UInt32](repeating: 0, count: capacity)
        let mask = capacity - 1
        let count = arrays.count
        // A pointer's subscript reads a field in place; a buffer's copies the entry.
        guard let arrays = arrays.baseAddress, let hashes = hashes.baseAddress else { return .success(PathIndex(slots: slots)) }
        for i in 0 ..< count {
            let h = hashes[i]
            var s = Int(truncatingIfNeeded: h) & mask
            while slots[s] != 0 {
                let j = Int(slots[s]) - 1
                // By Unicode scalars: canonically equivalent spellings are two paths.
                if hashes[j] == h, arrays[j].hasSamePath(as: arrays[i]) { return .failure(Duplicate(position: i)) }
                s = (s + 1) & mask
            }
            slots[s] = UInt32(i + 1)
        }
        return .success(PathIndex(slots: slots))
    }

    /// The most arrays an index holds (its slots are 32-bit); a header
    /// declaring more is refused before the index is built.
    static let maxCount = Int(UInt32.max / 4)

    /// A path that occurs twice in a table.
    struct Duplicate: Error {
        /// The position of its second occurrence.
        var position: Int
    }

    /// The position of `path` in `arrays` (the table the index was built
    /// from, or one with the same paths in the same order), or `nil`.
    func position(of path: String, in arrays: [ArrayInfo]) -> Int? {
        probe(hash: PathIndex.hash(path), in: arrays) { $0.hasPath(path) }
    }

    /// The position of the entry whose path is `info`'s in `arrays` (the
    /// table the index was built from, or one with the same paths in the
    /// same order), or `nil`. Hashes and compares the path's bytes (no string).
    func position(of info: ArrayInfo, in arrays: [ArrayInfo]) -> Int? {
        probe(hash: info.withPathBytes { Int(truncatingIfNeeded: PathIndex.hash(utf8: $0)) }, in: arrays) { $0.hasSamePath(as: info) }
    }

    /// Walks the slots from `hash` to the first entry of `arrays` that `matches`.
    private func probe(hash: Int, in arrays: [ArrayInfo], matches: (ArrayInfo) -> Bool) -> Int? {
        let mask = slots.count - 1
        var s = hash & mask
        while slots[s] != 0 {
            let i = Int(slots[s]) - 1
            if i < arrays.count, matches(arrays[i]) { return i }
            s = (s + 1) & mask
        }
        return nil
    }

    private init(slots: [UInt32]) { self.slots = slots }

    /// An index with no paths.
    static let empty = PathIndex(slots: [0, 0, 0, 0])

    /// A random seed per process: paths come from hostile files, and with a
    /// known hash function a file could name thousands of arrays whose
    /// hashes collide, making every build and lookup probe linearly (a
    /// quadratic open). Swift's `Hasher` is seeded per process for the same
    /// reason.
    private static let seed = UInt64.random(in: .min ... .max)

    /// The seeded XXH3-64 of a path's UTF-8 bytes: what ``build(_:hashes:)`` takes.
    static func hash(utf8 bytes: UnsafeRawBufferPointer) -> UInt64 {
        XXH3_64bits_withSeed(bytes.baseAddress, bytes.count, seed)
    }

    private static func hash(_ path: String) -> Int {
        // Native strings (every decoded path) are contiguous UTF-8: no copy.
        if let h = path.utf8.withContiguousStorageIfAvailable({ hash(utf8: UnsafeRawBufferPointer($0)) }) {
            return Int(truncatingIfNeeded: h)
        }
        var path = path
        return path.withUTF8 { Int(truncatingIfNeeded: hash(utf8: UnsafeRawBufferPointer($0))) }
    }
}
