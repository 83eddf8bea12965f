/// A reversible transform applied to a chunk before compression.
public enum ChunkFilter: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// No transform.
    case none = 0
    /// Byte shuffle as in blosc: for elements of `k` bytes, all first bytes of
    /// the chunk's elements, then all second bytes, …; `k` is the stored
    /// dtype's item size. Groups similar bytes (exponents, high bytes) so that
    /// LZ4/Zstd compress numeric data better. Trailing bytes that do not fill
    /// an element are copied unchanged (never happens for whole elements).
    case shuffle = 1

    /// `"none"` or `"shuffle"`, as `brine inspect` prints it.
    public var description: String { self == .none ? "none" : "shuffle" }
}
