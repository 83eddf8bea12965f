import Foundation

/// A model's weights: a flat, ordered collection of named arrays, keyed by
/// array path (`layers.0.weight`), as in Keras' `save_weights`/`load_weights`
/// or a PyTorch `state_dict`.
///
/// A model's weights are every array ``BrineEncoder`` catches in it, whatever
/// their size (``Tensor``, ``AnyTensor``, `[Float]` and the other numeric
/// Swift arrays, `Data`), named by their coding paths. Build them with
/// ``init(of:)``, put them into another instance of the architecture with
/// ``load(into:strict:filter:skipMismatch:)``; on disk, ``Brine/saveWeights(of:to:options:filter:)`` and
/// ``Brine/loadWeights(into:from:mode:strict:filter:skipMismatch:options:)``.
public struct Weights: Sendable, Equatable {
    /// The array paths, in order.
    public private(set) var paths: [String] = []
    private var tensors: [String: AnyTensor] = [:]

    /// An empty collection.
    public init() {}

    /// A collection of the given arrays, in order.
    /// - Throws: ``BrineError`` `.invalidArgument` for a repeated path.
    public init(_ entries: [(path: String, tensor: AnyTensor)]) throws(BrineError) {
        for (p, t) in entries {
            guard tensors[p] == nil else { throw BrineError(.invalidArgument, "duplicate array path", arrayPath: p) }
            paths.append(p)
            tensors[p] = t
        }
    }

    /// The weights of a model: every array its encoding holds, by path.
    ///
    /// ``Tensor`` and ``AnyTensor`` fields are shared, not copied; Swift
    /// array and `Data` fields are copied into tensors. Tensors that share
    /// one storage (tied weights) appear under each of their paths, as the
    /// same tensor. Paths come from keys (docs/FORMAT.md, "Array names").
    /// - Throws: ``BrineError`` `.invalidArgument` naming the path of an
    ///   array inside a container without stable names (a `Set`, a
    ///   dictionary with arbitrary `Codable` keys), whose name would depend on
    ///   an iteration order; `EncodingError` from the model's encoding.
    public init<M: Encodable>(of model: M) throws {
        let sink = CollectingSink()
        _ = try BrineEncoder().encode(model, sink: sink, threshold: 0, requireStableNames: true)
        for e in sink.entries {
            switch e.slot {
            case .tensor(let t): tensors[e.path] = t
            case .original(_, let make): tensors[e.path] = make()
            }
            paths.append(e.path)
        }
        for (p, _, i) in sink.aliases {
            tensors[p] = tensors[sink.entries[i].path]
            paths.append(p)
        }
    }

    /// The number of arrays.
    public var count: Int { paths.count }

    /// The arrays with their paths, in order.
    public var entries: [(path: String, tensor: AnyTensor)] { paths.map { ($0, tensors[$0]!) } }

    /// The array at `path`; setting `nil` removes it, setting a new path appends it.
    public subscript(path: String) -> AnyTensor? {
        get { tensors[path] }
        set {
            if let newValue {
                if tensors.updateValue(newValue, forKey: path) == nil { paths.append(path) }
            } else if tensors.removeValue(forKey: path) != nil {
                paths.removeAll { $0 == path }
            }
        }
    }

    /// The array at `path` as a typed tensor (no copy).
    /// - Throws: ``BrineError`` `.arrayNotFound`, `.dtypeMismatch`.
    public func tensor<S: BrineScalar>(_ path: String, as: S.Type = S.self) throws(BrineError) -> Tensor<S> {
        guard let t = tensors[path] else { throw BrineError(.arrayNotFound, "no array with this path", arrayPath: path) }
        do {
            return try t.typed(as: S.self)
        } catch {
            throw error.inArray(path)
        }
    }

    /// Equal paths in the same order and equal arrays (dtype, shape, bytes).
    public static func == (lhs: Weights, rhs: Weights) -> Bool {
        lhs.paths == rhs.paths && lhs.paths.allSatisfy { lhs.tensors[$0] == rhs.tensors[$0] }
    }

    /// Replaces the weights of `model` with these arrays, matched by path.
    ///
    /// The model is encoded to list its arrays (path, dtype, shape); each is
    /// checked against the array of the same path here, then the model is
    /// rebuilt by decoding its own structure with these arrays substituted
    /// (``Tensor`` fields share the storage, Swift arrays copy).
    /// Everything that is not an array (hyperparameters, counters) keeps the
    /// model's current value.
    /// - Parameters:
    ///   - model: the model to update.
    ///   - strict: `true` (default): every array of the model must be present
    ///     here and every array here must belong to the model. `false`: arrays
    ///     missing here keep their current values, unexpected ones are
    ///     ignored; both are listed in the report.
    ///   - filter: which arrays count as weights (path globs, e.g.
    ///     `.excluding("config.*")`); arrays of the model and of these
    ///     weights that it does not select are left alone and listed in
    ///     ``WeightsReport/excluded``. Default: all.
    ///   - skipMismatch: `true` (Keras' `skip_mismatch`): an array whose dtype
    ///     or shape differs from the model's is not loaded (the model keeps
    ///     its value) and is listed in ``WeightsReport/mismatched`` instead of
    ///     throwing. Default `false`.
    /// - Returns: which arrays were loaded, missing, unexpected, mismatched, excluded.
    /// - Throws: ``BrineError`` `.dtypeMismatch` / `.shapeMismatch` naming the
    ///   array with the expected and found dtype/shape (in either mode,
    ///   unless `skipMismatch`); `.arrayNotFound` in strict mode for a
    ///   missing or unexpected array; `.invalidArgument` for an array inside a
    ///   container without stable keys; `EncodingError`/`DecodingError` from
    ///   the model's own coding. Nothing is changed when it throws.
    @discardableResult
    public func load<M: Codable>(
        into model: inout M, strict: Bool = true, filter: ArrayFilter = .all, skipMismatch: Bool = false
    ) throws -> WeightsReport {
        // Paths holding the very same storage are one source (tied weights).
        var firstOfStorage: [ObjectIdentifier: Int] = [:]
        let available = paths.enumerated().map { i, p in
            let t = tensors[p]!
            let source = firstOfStorage[ObjectIdentifier(t.storage)] ?? i
            firstOfStorage[ObjectIdentifier(t.storage)] = source
            return WeightLoading.Available(path: p, dtype: t.dtype, shape: t.shape, source: source)
        }
        return try WeightLoading.load(
            into: &model, strict: strict, filter: filter, skipMismatch: skipMismatch,
            available: available, names: .currentOrLegacy, filePath: nil
        ) { indices in
            indices.map { tensors[paths[$0]]! }
        }
    }
}

/// What ``Weights/load(into:strict:filter:skipMismatch:)`` and
/// ``Brine/loadWeights(into:from:mode:strict:filter:skipMismatch:options:)`` did.
public struct WeightsReport: Sendable, Equatable {
    /// Paths of the model's arrays that were replaced.
    public var loaded: [String] = []
    /// Paths of the model's arrays the weights did not have (kept their values; non-strict only).
    public var missing: [String] = []
    /// Paths of arrays in the weights the model does not have (ignored; non-strict only).
    public var unexpected: [String] = []
    /// Arrays skipped because their dtype or shape differs from the model's
    /// (with `skipMismatch: true` only; the model kept its values).
    public var mismatched: [Mismatch] = []
    /// Paths (of the model or of the weights) that the filter left out.
    public var excluded: [String] = []

    /// An array of the weights whose dtype or shape differs from the model's.
    public struct Mismatch: Sendable, Equatable {
        /// The array path.
        public var path: String
        /// The model's dtype and shape (elements per dimension).
        public var expected: (dtype: DType, shape: [Int])
        /// The weights' dtype and shape.
        public var found: (dtype: DType, shape: [Int])

        /// Equal paths, dtypes and shapes.
        public static func == (a: Mismatch, b: Mismatch) -> Bool {
            a.path == b.path && a.expected.dtype == b.expected.dtype && a.expected.shape == b.expected.shape
                && a.found.dtype == b.found.dtype && a.found.shape == b.found.shape
        }
    }

    /// `true` when every selected array of the model was loaded and none was
    /// left over or skipped for a mismatch.
    public var isComplete: Bool { missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty }
}

/// The matching and substitution behind weights loading.
enum WeightLoading {
    /// An array the weights source offers: its path, and the index of the
    /// array holding its data (paths with the same `source` are one array:
    /// aliases of tied weights).
    struct Available {
        var path: String
        var dtype: DType
        var shape: [Int]
        var source: Int
    }

    /// Which names of the model's arrays to look up in the source.
    enum Names {
        /// Format 1.1 names (docs/FORMAT.md, "Array names").
        case current
        /// Format 1.0 names (every key escaped): a file written before 1.1.
        case legacy
        /// Current names, else 1.0 names (an in-memory ``Weights``, whose origin is unknown).
        case currentOrLegacy
    }

    static func load<M: Codable>(
        into model: inout M, strict: Bool, filter: ArrayFilter = .all, skipMismatch: Bool = false,
        available: [Available], names: Names, filePath: String?,
        fetch: ([Int]) throws -> [AnyTensor]
    ) throws -> WeightsReport {
        let sink = CollectingSink()
        let tree = try BrineEncoder().encode(model, sink: sink, threshold: 0, requireStableNames: true)
        var report = WeightsReport()
        // By exact code points first (``NameIndex``): a file holding two
        // spellings of one key never hands one array out for the other.
        var index = NameIndex()
        for (i, a) in available.enumerated() {
            if filter.matches(a.path) { index.insert(a.path, at: i) } else { report.excluded.append(a.path) }
        }
        func lookup(_ e: CollectingSink.Entry) -> (Int, String)? {
            switch names {
            case .current: return index[e.path].map { ($0, e.path) }
            case .legacy: return index[e.legacyPath].map { ($0, e.legacyPath) }
            case .currentOrLegacy: return index[e.path].map { ($0, e.path) } ?? index[e.legacyPath].map { ($0, e.legacyPath) }
            }
        }

        var fetchList: [(slot: Int, source: Int)] = []
        var used = Set<ExactName>()
        for (k, e) in sink.entries.enumerated() {
            guard filter.matches(e.path) else {
                if !report.excluded.contains(e.path) { report.excluded.append(e.path) }
                continue
            }
            guard let (j, matched) = lookup(e) else {
                if strict {
                    throw BrineError(.arrayNotFound, "the weights have no array for this path of the model (expected dtype \(e.dtype), shape \(e.shape))", filePath: filePath, arrayPath: e.path)
                }
                report.missing.append(e.path)
                continue
            }
            let a = available[j]
            if skipMismatch && (a.dtype != e.dtype || a.shape != e.shape) {
                report.mismatched.append(.init(path: e.path, expected: (e.dtype, e.shape), found: (a.dtype, a.shape)))
                used.insert(ExactName(matched))
                continue
            }
            guard a.dtype == e.dtype else {
                throw BrineError(.dtypeMismatch, "expected dtype \(e.dtype) (shape \(e.shape)), found dtype \(a.dtype) (shape \(a.shape))", filePath: filePath, arrayPath: e.path)
            }
            guard a.shape == e.shape else {
                throw BrineError(.shapeMismatch, "expected shape \(e.shape), found shape \(a.shape) (dtype \(a.dtype))", filePath: filePath, arrayPath: e.path)
            }
            fetchList.append((k, a.source))
            used.insert(ExactName(matched))
            report.loaded.append(e.path)
        }
        // The model's aliases (tied weights): the source must hold the same
        // array under the alias path (or not hold the path at all); two
        // different arrays cannot both go into one storage.
        var tieChecks: [(alias: String, canonical: String, a: Int, b: Int)] = []
        for (aliasPath, legacyPath, k) in sink.aliases {
            let e = sink.entries[k]
            var probe = e
            probe.path = aliasPath
            probe.legacyPath = legacyPath
            guard let (j, matched) = lookup(probe) else { continue }
            used.insert(ExactName(matched))
            guard let f = fetchList.first(where: { $0.slot == k }) else { continue }
            if available[j].source != f.source {
                // Stored apart (a 1.0 file, or weights saved untied): equal
                // data keeps the tie; different data cannot share one storage.
                guard available[j].dtype == e.dtype, available[j].shape == e.shape else {
                    throw BrineError(.shapeMismatch, "the model ties this array to '\(e.path)' (dtype \(e.dtype), shape \(e.shape)); the weights hold dtype \(available[j].dtype), shape \(available[j].shape)", filePath: filePath, arrayPath: aliasPath)
                }
                tieChecks.append((aliasPath, e.path, f.source, available[j].source))
            }
        }
        report.unexpected = available.map(\.path).filter { !used.contains(ExactName($0)) && index[$0] != nil }
        if strict, let p = report.unexpected.first {
            throw BrineError(.arrayNotFound, "the model has no array for this path of the weights (\(report.unexpected.count) unexpected arrays)", filePath: filePath, arrayPath: p)
        }

        var slots = sink.entries.map(\.slot)
        var sources: [Int] = []
        var position: [Int: Int] = [:]
        for s in fetchList.map(\.source) + tieChecks.map(\.b) where position[s] == nil {
            position[s] = sources.count
            sources.append(s)
        }
        let fetched = try fetch(sources)
        for t in tieChecks where fetched[position[t.a]!] != fetched[position[t.b]!] {
            throw BrineError(.invalidArgument, "the model ties this array to '\(t.canonical)' (one storage), but the weights hold different values for the two paths", filePath: filePath, arrayPath: t.alias)
        }
        for f in fetchList { slots[f.slot] = .tensor(fetched[position[f.source]!]) }
        model = try BrineDecoder().decode(M.self, from: tree, slots: slots, paths: sink.entries.map(\.path), filePath: filePath)
        return report
    }
}

extension Brine {
    static func rejectReadWrite(_ mode: LoadMode, _ url: URL) throws(BrineError) {
        guard mode != .mmapReadWrite else {
            throw BrineError(.invalidArgument, "loading weights with .mmapReadWrite would leave no way to flush the file; use .copy, .mmap or .mmapCopyOnWrite", filePath: url.path)
        }
    }

    /// Saves only a model's weights (every array it holds, of any size, by
    /// array path), streamed from the model's own buffers without copies.
    ///
    /// The file's tree is a map from each path to its array;
    /// `brine.root_type` is `Brine.Weights`. Load them with
    /// ``loadWeights(into:from:mode:strict:filter:skipMismatch:options:)`` or ``loadWeights(from:mode:options:filter:)``.
    /// - Parameters:
    ///   - model: the model whose arrays to save.
    ///   - url: the destination; replaced atomically.
    ///   - options: codec, filter, alignment, storage dtype, metadata (``SaveOptions/inlineThreshold`` is ignored: every array is stored).
    ///   - filter: which arrays are weights (path globs, e.g.
    ///     `.excluding("config.*")` keeps a config struct's arrays out); default all.
    /// - Throws: as ``save(_:to:options:)``; ``BrineError`` `.invalidArgument`
    ///   naming the path of an array inside a `Set` or a dictionary whose keys
    ///   have no stable name (its name would depend on an order, not a key).
    public static func saveWeights(of model: some Encodable, to url: URL, options: SaveOptions = .init(), filter: ArrayFilter = .all) throws {
        try options.validate()
        let metadata = try options.metadataValue(rootType: String(reflecting: Weights.self))
        let writer = try BrineWriter(url: url, options: options.writeOptions)
        do {
            // The filter judges the names in the file, known only once the whole model was seen.
            let names = filter.selectsAll ? [:] : try FilteringSink.finalNames(of: model)
            _ = try BrineEncoder().encode(model, sink: FilteringSink(WriterSink(writer), filter: filter, finalNames: names),
                                          threshold: 0, requireStableNames: true)
            let root = Value.map(writer.arrays.enumerated().map { ($1.path, .arrayRef($0)) }
                + writer.aliases.map { ($0.path, .arrayRef($0.index)) })
            try writer.finish(root: root, metadata: metadata)
        } catch {
            writer.cancel()
            throw error
        }
    }

    /// Saves a ``Weights`` collection (same file layout as ``saveWeights(of:to:options:filter:)``).
    /// Paths holding the very same tensor storage (dtype and shape equal:
    /// tied weights) are stored once, the later paths as aliases.
    /// - Parameters:
    ///   - weights: the arrays, by path.
    ///   - url: the destination; replaced atomically.
    ///   - options: codec, filter, alignment, storage dtype, metadata.
    ///   - filter: which of the arrays to save (path globs); default all.
    /// - Throws: ``BrineError`` as ``BrineWriter``.
    public static func saveWeights(_ weights: Weights, to url: URL, options: SaveOptions = .init(), filter: ArrayFilter = .all) throws(BrineError) {
        try options.validate()
        let metadata = try options.metadataValue(rootType: String(reflecting: Weights.self))
        let writer = try BrineWriter(url: url, options: options.writeOptions)
        do throws(BrineError) {
            var stored: [ObjectIdentifier: (tensor: AnyTensor, index: Int)] = [:]
            var root: [(key: String, value: Value)] = []
            var aliases: [(path: String, index: Int)] = []
            for (p, t) in weights.entries where filter.matches(p) {
                if let s = stored[ObjectIdentifier(t.storage)], s.tensor.dtype == t.dtype, s.tensor.shape == t.shape {
                    aliases.append((p, s.index))
                    root.append((p, .arrayRef(s.index)))
                    continue
                }
                let i = try writer.append(t, arrayPath: p)
                if stored[ObjectIdentifier(t.storage)] == nil { stored[ObjectIdentifier(t.storage)] = (t, i) }
                root.append((p, .arrayRef(i)))
            }
            try writer.addAliases(aliases)
            let rootValue = Value.map(root)
            try writer.finish(root: rootValue, metadata: metadata)
        } catch {
            writer.cancel()
            throw error
        }
    }

    /// Reads every array of a Brine file (a weights file, or a full model
    /// file: its out-of-line arrays, its aliases (tied weights, sharing the
    /// storage), then the arrays its tree holds inline, named and typed as
    /// ``TensorBundle`` exports them) by path, in parallel.
    /// - Parameters:
    ///   - url: the file.
    ///   - mode: `.copy` (default), `.mmap` or `.mmapCopyOnWrite` (zero-copy
    ///     views of uncompressed arrays).
    ///   - options: verification, threads, limits.
    ///   - filter: which arrays to read (path globs); the others are not read. Default all.
    /// - Throws: ``BrineError`` `.invalidArgument` for `.mmapReadWrite`
    ///   (nothing could flush the file); otherwise as ``BrineFile/loadAll()``.
    public static func loadWeights(
        from url: URL, mode: LoadMode = .copy, options: ReadOptions = .init(), filter: ArrayFilter = .all
    ) throws(BrineError) -> Weights {
        try rejectReadWrite(mode, url)
        let file = try BrineFile(contentsOf: url, mode: mode, options: options)
        let aliases = file.aliases
        let wanted = file.arrays.indices.filter { i in
            filter.matches(file.arrays[i].path) || aliases.contains { $0.index == i && filter.matches($0.path) }
        }
        let loaded = try file.load(wanted.map { file.arrays[$0] })
        var byIndex: [Int: AnyTensor] = [:]
        for (i, t) in zip(wanted, loaded) { byIndex[i] = t }
        var entries: [(path: String, tensor: AnyTensor)] = []
        for i in wanted where filter.matches(file.arrays[i].path) { entries.append((file.arrays[i].path, byIndex[i]!)) }
        for a in aliases where filter.matches(a.path) { if let t = byIndex[a.index] { entries.append((a.path, t)) } }
        let inline = try InlineArrayExport.collect(file.root).filter { filter.matches($0.path) }.map { (path: $0.path, tensor: $0.tensor) }
        return try Weights(entries + inline)
    }

    /// Loads weights from a file into an existing model, by path: the
    /// `load_weights` workflow. See ``Weights/load(into:strict:)`` for the
    /// matching rules; only the arrays the model needs are read (in parallel).
    ///
    /// The file may be a weights file or a full model file saved with
    /// ``save(_:to:options:)``; in the latter, arrays under the inline
    /// threshold are taken from the tree with the dtype its values have
    /// (float32, float64, int64, uint64, bool, uint8: see docs/WORKFLOWS.md,
    /// "Converting without loss"); an inline `[Float16]` or `[Int32]` field
    /// then fails with `.dtypeMismatch`, so save with
    /// ``SaveOptions/inlineThreshold`` 0 to use such a model as a weights source.
    /// - Parameters:
    ///   - model: the model to update (a freshly built architecture, or a trained one).
    ///   - url: the file.
    ///   - mode: `.copy` (default), `.mmap` or `.mmapCopyOnWrite` (``Tensor``
    ///     fields then view the file); `.mmapReadWrite` is refused
    ///     (`.invalidArgument`): nothing could flush the file.
    ///   - strict: see ``Weights/load(into:strict:filter:skipMismatch:)``.
    ///   - filter: which arrays count as weights (path globs); see
    ///     ``Weights/load(into:strict:filter:skipMismatch:)``. Default all.
    ///   - skipMismatch: skip (and report) arrays whose dtype or shape
    ///     differs instead of throwing, like Keras' `skip_mismatch`. Default `false`.
    ///   - options: verification, threads, limits.
    /// - Returns: which arrays were loaded, missing, unexpected, mismatched, excluded.
    /// - Throws: ``BrineError`` `.shapeMismatch`, `.dtypeMismatch`,
    ///   `.arrayNotFound` (strict) naming the array with the expected and found
    ///   shape/dtype, and the file's errors; `EncodingError`/`DecodingError`
    ///   from the model's own coding.
    @discardableResult
    public static func loadWeights<M: Codable>(
        into model: inout M, from url: URL, mode: LoadMode = .copy, strict: Bool = true,
        filter: ArrayFilter = .all, skipMismatch: Bool = false, options: ReadOptions = .init()
    ) throws -> WeightsReport {
        try rejectReadWrite(mode, url)
        let file = try BrineFile(contentsOf: url, mode: mode, options: options)
        let infos = file.arrays
        let available = infos.enumerated().map { WeightLoading.Available(path: $1.path, dtype: $1.dtype, shape: $1.shape, source: $0) }
            + file.aliases.map { WeightLoading.Available(path: $0.path, dtype: infos[$0.index].dtype, shape: infos[$0.index].shape, source: $0.index) }
        // Inline arrays of a full model file come from the header (sources after the table's).
        let inline = try InlineArrayExport.collect(file.root)
        let all = available + inline.enumerated().map {
            WeightLoading.Available(path: $1.path, dtype: $1.tensor.dtype, shape: $1.tensor.shape, source: infos.count + $0)
        }
        let names: WeightLoading.Names = file.formatVersion.major == 1 && file.formatVersion.minor == 0 ? .legacy : .current
        return try WeightLoading.load(
            into: &model, strict: strict, filter: filter, skipMismatch: skipMismatch,
            available: all, names: names, filePath: file.path
        ) { indices in
            // Out-of-line arrays are read (and verified) from the file; inline ones come from the header.
            let loaded = try file.load(indices.filter { $0 < infos.count }.map { infos[$0] })
            var next = 0
            return indices.map { i in
                if i < infos.count { next += 1; return loaded[next - 1] }
                return inline[i - infos.count].tensor
            }
        }
    }
}
