/// Brine: save and load trained models fast.
///
/// The namespace of the top-level API. The low-level container API is
/// ``BrineWriter`` (streaming writer) and ``BrineFile`` (lazy reader); the
/// shaped-array type is ``Tensor``; the byte format is specified in
/// docs/FORMAT.md.
public enum Brine {
    /// The version of this library, written into every file's metadata as
    /// `brine.version`.
    public static let version = "0.1.0"

    /// The format version this library writes, as `"major.minor"` (metadata key `brine.format`).
    public static var formatVersion: String { "\(FormatSpec.majorVersion).\(FormatSpec.minorVersion)" }
}
