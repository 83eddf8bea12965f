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
///
/// The filter is meant for the names in the file, which are final only when
/// the whole model was encoded (docs/FORMAT.md, "Array names": dotted keys
/// stay unescaped unless two names would collide). So the caller first
/// learns every array's final name from a pass with a ``CollectingSink``
/// (``finalNames(of:)``: no array bytes are copied) and each array is judged
/// by that name as it arrives. ``finishNames(_:aliases:)`` checks every
/// verdict against the final name once more and throws `.invalidArgument`
/// (the atomic save then leaves the previous file) rather than write an
/// array the filter excludes or drop one it selects. Dropped arrays get
/// distinct negative indices so that their final names come back too.
final class FilteringSink: ArraySink {
    let base: any ArraySink
    let filter: ArrayFilter
    /// Every array met: its provisional (1.0) name, the verdict, and its index
    /// (the base sink's, or a negative one for a dropped array).
    private var met: [(legacy: String, kept: Bool, index: Int)] = []
    private var dropped = 0
    /// Final name by 1.0 name, from a first pass (``finalNames(of:)``).
    private let finalNames: [String: String]

    /// - Parameter finalNames: every array's final name by its 1.0 name
    ///   (``finalNames(of:)``); a name missing there is judged unescaped.
    init(_ base: any ArraySink, filter: ArrayFilter, finalNames: [String: String] = [:]) {
        self.base = base
        self.filter = filter
        self.finalNames = finalNames
    }

    /// Every array's final name (docs/FORMAT.md, "Array names") by its 1.0
    /// name, for the arrays and the aliases (tied weights) of `model`, from
    /// an encoding pass that copies no array bytes.
    static func finalNames(of model: some Encodable) throws -> [String: String] {
        let sink = CollectingSink()
        _ = try BrineEncoder().encode(model, sink: sink, threshold: 0, requireStableNames: true)
        var names: [String: String] = [:]
        for e in sink.entries { names[e.legacyPath] = e.path }
        for a in sink.aliases where names[a.legacyPath] == nil { names[a.legacyPath] = a.path }
        return names
    }

    var takenPaths: [String] { base.takenPaths }

    /// The name an array gets unless it collides: its 1.0 name with every
    /// component unescaped.
    static func unescapedName(_ legacy: String) -> String {
        guard legacy.contains("%") else { return legacy }
        return legacy.split(separator: ".", omittingEmptySubsequences: false)
            .map { BrineFile.unescape(String($0)) }.joined(separator: ".")
    }

    func append(
        _ bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int], path: String, original: () -> ArraySlot
    ) throws -> Int {
        guard filter.matches(finalNames[path] ?? Self.unescapedName(path)) else {
            dropped += 1
            met.append((path, false, -dropped))
            return -dropped
        }
        let index = try base.append(bytes, dtype: dtype, shape: shape, path: path, original: original)
        met.append((path, true, index))
        return index
    }

    /// Checks every verdict against the final name, then forwards the final
    /// names of the arrays passed on and the aliases the filter selects by
    /// their own names (an alias of a kept array under an excluded name is
    /// not written).
    func finishNames(_ renames: [Int: String], aliases: [(path: String, legacyPath: String, index: Int)]) throws {
        for m in met {
            let final = renames[m.index] ?? m.legacy
            guard filter.matches(final) != m.kept else { continue }
            throw BrineError(.invalidArgument,
                "the weights filter \(m.kept ? "selects" : "excludes") the array '\(finalNames[m.legacy] ?? Self.unescapedName(m.legacy))' by that name, but its name in the file is '\(final)', which the filter \(m.kept ? "excludes" : "selects") (the model's array names changed between two encoding passes)",
                arrayPath: final)
        }
        try base.finishNames(renames.filter { $0.key >= 0 },
                             aliases: aliases.filter { $0.index >= 0 && filter.matches($0.path) })
    }
}
