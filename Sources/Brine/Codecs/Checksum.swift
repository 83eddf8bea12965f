import CXXHash

/// XXH3-64 (seed 0) from libxxhash: the checksum of every chunk's stored
/// bytes, of the header and of the trailer (docs/FORMAT.md, "Checksums").
/// Spec: https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md
public enum Checksum {
    /// The XXH3-64 hash with seed 0 of `bytes`.
    @inlinable
    public static func xxh3(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        XXH3_64bits(bytes.baseAddress, bytes.count)
    }

    /// The XXH3-64 hash with seed 0 of a byte array.
    public static func xxh3(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { xxh3($0) }
    }
}
