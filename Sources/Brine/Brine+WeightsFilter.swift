#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which arrays of a model count as weights, by array path: shell-style
/// globs (`fnmatch(3)` without flags: `*` matches any run of characters,
/// dots included; `?` one character; `[…]` a set), as in Keras'
/// `by_name` loading or PyTorch's `state_dict` key filtering.
///
/// A path is selected when it matches one of ``include`` (or ``include``
/// is empty) and none of ``exclude``. Use it to keep hyper-parameter arrays
/// (a `config` struct's vocabulary, a lookup table) out of the weights:
///
/// ```swift
/// try Brine.saveWeights(of: model, to: url, filter: .excluding("config.*"))
/// ```
public struct ArrayFilter: Sendable, Hashable {
    /// Globs a path must match one of; empty selects every path.
    public var include: [String]
    /// Globs no selected path may match.
    public var exclude: [String]

    /// A filter from include and exclude globs.
    /// - Parameters:
    ///   - include: globs of the paths to keep; empty (default) keeps all.
    ///   - exclude: globs of the paths to drop, applied after `include`.
    public init(include: [String] = [], exclude: [String] = []) {
        self.include = include
        self.exclude = exclude
    }

    /// Every array.
    public static let all = ArrayFilter()

    /// Every array except those matching one of `globs`.
    public static func excluding(_ globs: String...) -> ArrayFilter { ArrayFilter(exclude: globs) }

    /// Only the arrays matching one of `globs`.
    public static func including(_ globs: String...) -> ArrayFilter { ArrayFilter(include: globs) }

    /// `true` when `path` is selected.
    public func matches(_ path: String) -> Bool {
        if !include.isEmpty && !include.contains(where: { fnmatch($0, path, 0) == 0 }) { return false }
        return !exclude.contains(where: { fnmatch($0, path, 0) == 0 })
    }

    /// `true` when the filter selects every path (no globs).
    var selectsAll: Bool { include.isEmpty && exclude.isEmpty }
}

/// Passes the arrays a filter selects to another sink and drops the
/// others (their tree references are never written: weights files keep only
/// the array table).
final class FilteringSink: ArraySink {
    let base: any ArraySink
    let filter: ArrayFilter
    init(_ base: any ArraySink, filter: ArrayFilter) {
        self.base = base
        self.filter = filter
    }

    var takenPaths: [String] { base.takenPaths }

    func append(
        _ bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int], path: String, original: () -> ArraySlot
    ) throws -> Int {
        guard filter.matches(path) else { return -1 }
        return try base.append(bytes, dtype: dtype, shape: shape, path: path, original: original)
    }
}
