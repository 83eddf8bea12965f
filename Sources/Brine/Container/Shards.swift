import CBrineKernels
import Foundation
import Synchronization
import SystemPackage

/// The index of a sharded model, `model.brine.index.json`, in the style of
/// safetensors' `model.safetensors.index.json` (docs/FORMAT.md, "Shards"):
///
/// ```json
/// {"metadata": {"format": "brine", "total_size": 90866412, "shard_count": 4, …user keys},
///  "weight_map": {"embeddings.word_embeddings.weight": "model-00001-of-00004.brine", …}}
/// ```
///
/// Each shard is a complete Brine file holding some of the arrays (by path);
/// `weight_map` lists every array path, in order, with the shard that holds
/// it. Shard names are plain file names in the index's folder.
public struct ShardIndex: Sendable, Equatable {
    /// The conventional file name of the index.
    public static let fileName = "model.brine.index.json"
    /// The largest index read (64 MiB).
    public static let maxIndexBytes = 64 << 20
    /// The `metadata` keys the index itself writes (`format`, `total_size`,
    /// `shard_count`); a sharded save keeps user keys of these names out of
    /// the index (each shard's header still holds them).
    public static let reservedMetadataKeys: Set<String> = ["format", "total_size", "shard_count"]

    /// String metadata (`format`, and user keys); `total_size` is
    /// ``totalSize``. A number or boolean in another tool's index (such as
    /// a `total_parameters` integer) is kept exactly, as ``MetadataText``'s
    /// marked text of the value.
    public var metadata: [String: String]
    /// The sum of the shards' file sizes in bytes.
    public var totalSize: Int
    /// Every array path with its shard's file name, in order.
    public var weightMap: [(path: String, shard: String)]
    /// The model's object tree (`tree` key, added in 1.1; `nil` for an index
    /// of plain weights or an older index): the value a single file's header
    /// holds as its root, whose array references count ``weightMap``'s
    /// entries in order. ``Brine/save(_:toShards:maxShardBytes:options:)``
    /// writes it; ``Brine/load(_:fromShardIndex:options:)`` needs it.
    public var tree: Value?
    /// Each shard's header checksum (XXH3-64, as its trailer holds it) by
    /// file name (`shard_checksums` key, added this round; empty for an older
    /// index). A load compares every shard with it, so shards from two saves
    /// (a re-save into the same folder interrupted after some shards) are a
    /// typed error, never a mix of two models.
    public var shardChecksums: [String: UInt64] = [:]

    /// The distinct shard file names, in order of first use.
    public var shardNames: [String] {
        var seen = Set<ExactName>()  // file names are bytes: two spellings are two files
        return weightMap.compactMap { seen.insert(ExactName($0.shard)).inserted ? $0.shard : nil }
    }

    /// An index from its parts.
    public init(metadata: [String: String] = [:], totalSize: Int, weightMap: [(path: String, shard: String)], tree: Value? = nil) {
        self.metadata = metadata
        self.totalSize = totalSize
        self.weightMap = weightMap
        self.tree = tree
    }

    /// Equal metadata, total size, weight map (in order), tree and shard checksums.
    public static func == (a: ShardIndex, b: ShardIndex) -> Bool {
        a.metadata == b.metadata && a.totalSize == b.totalSize && a.weightMap.elementsEqual(b.weightMap, by: { $0 == $1 })
            && a.tree == b.tree && a.shardChecksums == b.shardChecksums
    }

    /// Parses an index (strict JSON, duplicate keys rejected).
    /// - Parameters:
    ///   - bytes: the JSON text (at most ``maxIndexBytes``).
    ///   - path: the index's path or URL, for error messages.
    /// - Throws: ``BrineError`` `.corruptHeader` for malformed JSON, a
    ///   missing or mistyped `weight_map`, or a shard name that is not a plain
    ///   file name (`/`, `..`, empty), a `tree` that is not base64 of a valid
    ///   object tree (array references past the weight map, trailing bytes),
    ///   a metadata value that is not a string, boolean or exactly held
    ///   number, a `shard_count` other than the number of shards named, or
    ///   `shard_checksums` naming other shards than `weight_map`;
    ///   `.limitExceeded` for an index or tree over the caps.
    public init(parsing bytes: [UInt8], path: String?) throws(BrineError) {
        guard bytes.count <= Self.maxIndexBytes else {
            throw BrineError(.limitExceeded, "shard index of \(bytes.count) bytes is over the cap of \(Self.maxIndexBytes)", filePath: path)
        }
        func bad(_ m: String) -> BrineError { BrineError(.corruptHeader, "shard index: \(m)", filePath: path) }
        let json: JSON
        do {
            json = try typedThrows { try bytes.withUnsafeBytes { b in try JSON.parse(b, maxDepth: 16, path: path) } }
        } catch {
            throw bad(error.message)
        }
        guard case .object(let top) = json else { throw bad("the top level is not an object") }
        var metadata: [String: String] = [:]
        var total = 0
        var map: [(path: String, shard: String)] = []
        var treeText: String? = nil
        var checksums: [String: UInt64] = [:]
        for (k, v) in top {
            switch k {
            case "metadata":
                guard case .object(let entries) = v else { throw bad("metadata is not an object") }
                for (mk, mv) in entries {
                    // Two spellings a [String: String] would merge (one value lost).
                    try metadata.refuseOtherSpelling(of: mk, names: "metadata keys", holder: "the metadata map", error: bad)
                    switch mv {
                    case .string(let s): metadata[mk] = s
                    case .integer where mk == "total_size" || mk == "shard_count":
                        guard let n = mv.nonNegativeInt else { throw bad("\(mk) is not a non-negative integer") }
                        if mk == "total_size" { total = n } else { metadata[mk] = String(n) }
                    default:
                        // Other tools' indexes carry numbers (e.g. total_parameters):
                        // kept exactly, in MetadataText's marked form.
                        guard let value = Self.metadataValue(mv) else {
                            throw bad("metadata value '\(mk)' is \(mv.kindName); an index's metadata holds strings, booleans, and numbers that a 64-bit integer or a double holds exactly")
                        }
                        metadata[mk] = try MetadataText.text(for: value, key: mk)
                    }
                }
            case "weight_map":
                guard case .object(let entries) = v else { throw bad("weight_map is not an object") }
                for (p, s) in entries {
                    guard case .string(let shard) = s else { throw bad("weight_map['\(p)'] is not a string") }
                    guard !shard.isEmpty, !shard.contains("/"), !shard.contains("\\"), shard != ".", shard != ".." else {
                        throw bad("shard name '\(shard)' is not a plain file name")
                    }
                    map.append((p, shard))
                }
            case "tree":
                guard case .string(let t) = v else { throw bad("tree is not a string") }
                treeText = t
            case "shard_checksums":
                guard case .object(let entries) = v else { throw bad("shard_checksums is not an object") }
                for (name, c) in entries {
                    guard case .string(let hex) = c, hex.utf8.count == 16, let sum = UInt64(hex, radix: 16) else {
                        throw bad("shard_checksums['\(name)'] is not 16 hexadecimal digits")
                    }
                    try checksums.refuseOtherSpelling(of: name, names: "shard_checksums names", holder: "the map", error: bad)
                    checksums[name] = sum
                }
            default:
                continue // unknown keys are allowed (forward compatibility)
            }
        }
        guard top.contains(where: { $0.key == "weight_map" }) else { throw bad("no weight_map") }
        var tree: Value? = nil
        if let treeText {
            guard let data = Data(base64Encoded: treeText) else { throw bad("tree is not base64 (RFC 4648)") }
            let bytes = [UInt8](data)
            let arrayCount = map.count
            tree = try typedThrows {
                try bytes.withUnsafeBytes { (b) throws -> Value in
                    var r = ByteReader(b, fileOffset: 0, filePath: path)
                    let v = try Header.decodeValue(&r, depth: 0, limits: ReadLimits(), arrayCount: arrayCount, allowArrayRefs: true)
                    guard r.isAtEnd else { throw bad("\(r.remaining) unexpected bytes after the object tree") }
                    return v
                }
            }
        }
        self.init(metadata: metadata, totalSize: total, weightMap: map, tree: tree)
        self.shardChecksums = checksums
        // The index's own records of its shards must agree with the weight
        // map: a shard the map no longer names would be skipped with its
        // arrays, and one without its checksum would load unverified.
        let names = shardNames
        if let n = metadata["shard_count"], n != String(names.count) {
            throw bad("shard_count is \(n) but weight_map names \(names.count) shard(s): arrays of the missing shards would be left out")
        }
        if !checksums.isEmpty {
            let named = Set(names.map(ExactName.init))
            if let stray = checksums.keys.sorted().first(where: { !named.contains(ExactName($0)) }) {
                throw bad("shard_checksums records \(Value.quoted(stray)), a shard no weight_map entry names: its arrays would be left out")
            }
            let recorded = Set(checksums.keys.map(ExactName.init))
            if let unrecorded = names.first(where: { !recorded.contains(ExactName($0)) }) {
                throw bad("shard_checksums has no entry for \(Value.quoted(unrecorded)): that shard would load unverified")
            }
        }
    }

    /// Throws when `shard` is not the file this index was written with.
    /// - Parameters:
    ///   - headerChecksum: the opened shard's header checksum (its trailer's).
    /// - Throws: ``BrineError`` `.checksumMismatch` naming the shard.
    package func checkShard(_ shard: String, headerChecksum: UInt64, path: String?) throws(BrineError) {
        guard let expected = shardChecksums[shard], expected != headerChecksum else { return }
        throw BrineError(.checksumMismatch,
            "shard \(shard) is not the one this index was written with (header checksum \(Self.hex(headerChecksum)), the index records \(Self.hex(expected))): a save into this folder was interrupted or a shard was replaced; loading would mix two models",
            filePath: path)
    }

    /// The exact value of a number or boolean in an index's metadata, as
    /// Python's `json` module reads it (an integer stays an integer, a
    /// fraction or exponent is the nearest double); `nil` for other kinds
    /// and for an integer beyond 64 bits, which a double would round.
    static func metadataValue(_ json: JSON) -> Value? {
        switch json {
        case .bool(let b): return .bool(b)
        case .integer(false, let m): return m <= UInt64(Int64.max) ? .int(Int64(m)) : .uint(m)
        case .integer(true, let m): return m <= UInt64(Int64.max) + 1 ? .int(Int64(truncatingIfNeeded: 0 &- m)) : nil
        case .number(let text):
            guard text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let d = Double(text), d.isFinite else { return nil }
            return .float64(d)
        default: return nil
        }
    }

    static func hex(_ v: UInt64) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h
    }

    /// The index as compact JSON (keys in order: metadata, weight_map, then
    /// tree when there is one).
    public var jsonBytes: [UInt8] {
        var meta: [(key: String, value: JSON)] = [("total_size", .integer(negative: false, magnitude: UInt64(totalSize)))]
        for k in metadata.keys.sorted() {
            if k == "shard_count", let n = UInt64(metadata[k]!) {
                meta.append((k, .integer(negative: false, magnitude: n)))
            } else {
                meta.append((k, .string(metadata[k]!)))
            }
        }
        let map = JSON.object(weightMap.map { (key: $0.path, value: JSON.string($0.shard)) })
        var top: [(key: String, value: JSON)] = [("metadata", .object(meta)), ("weight_map", map)]
        if !shardChecksums.isEmpty {
            top.append(("shard_checksums", .object(shardChecksums.keys.sorted().map { ($0, JSON.string(Self.hex(shardChecksums[$0]!))) })))
        }
        if let tree {
            var w = ByteWriter(capacity: 256)
            Header.encodeValue(tree, into: &w)
            top.append(("tree", .string(Data(w.bytes).base64EncodedString())))
        }
        var out = JSON.object(top).compactText
        out.append(UInt8(ascii: "\n"))
        return out
    }

    /// Whether `name` is one a sharded save writes: `model-<i>-of-<n>.brine`
    /// or `model-<i>-of-<n>-<hex>.brine` (digits, at least five each).
    static func isShardFileName(_ name: String) -> Bool {
        guard name.hasPrefix("model-"), name.hasSuffix(".brine") else { return false }
        let parts = name.dropFirst(6).dropLast(6).split(separator: "-", omittingEmptySubsequences: false)
        func digits(_ p: Substring) -> Bool { p.count >= 5 && p.allSatisfy { $0 >= "0" && $0 <= "9" } }
        func hex(_ p: Substring) -> Bool { !p.isEmpty && p.count <= 16 && p.allSatisfy { $0.isHexDigit && ($0.isNumber || $0.isLowercase) } }
        switch parts.count {
        case 3: return digits(parts[0]) && parts[1] == "of" && digits(parts[2])
        case 4: return digits(parts[0]) && parts[1] == "of" && digits(parts[2]) && hex(parts[3])
        default: return false
        }
    }

    /// Splits `arrays` (path, size in bytes) into shards of at most
    /// `maxShardBytes` each, in order; an array larger than the limit gets a
    /// shard of its own. Returns the shard number (0-based) of each array.
    static func plan(sizes: [Int], maxShardBytes: Int, alignment: Int) -> [Int] {
        var out: [Int] = []
        var shard = 0
        var used = 0
        // Preamble, trailer and a generous header allowance per array.
        let fixed = FormatSpec.preambleSize + FormatSpec.trailerSize
        for s in sizes {
            let cost = s + alignment + 256 + s / (1 << 20) * 16
            if used > 0 && fixed + used + cost > maxShardBytes {
                shard += 1
                used = 0
            }
            used += cost
            out.append(shard)
        }
        return out
    }
}

extension Brine {
    /// Saves weights as a sharded model: shards `model-0000i-of-0000n.brine`
    /// of at most `maxShardBytes` each (an array larger than that gets a
    /// shard of its own) and the index `model.brine.index.json`, all in
    /// `folder`, which must exist. The index is written last, so a reader
    /// never sees an index whose shards are missing. Saving over a sharded
    /// model never writes over its shards: a shard whose usual name is taken
    /// is named `model-0000i-of-0000n-<hex>.brine`, the index switches to the
    /// new shards atomically, and the previous model's shards are removed
    /// after it; a save that fails or is killed leaves the previous model as
    /// it was. New shards get the previous shards' permissions.
    /// - Parameters:
    ///   - weights: the arrays by path (order kept).
    ///   - folder: the destination folder.
    ///   - maxShardBytes: the largest shard, in bytes (at least 1 MiB).
    ///   - options: codec, filter, chunk size, metadata (string values go into the index too).
    /// - Returns: the index written.
    /// - Throws: ``BrineError`` `.invalidArgument` (shard size under 1 MiB,
    ///   a folder path with a NUL byte), and the errors of
    ///   ``saveWeights(_:to:options:filter:)``.
    @discardableResult
    public static func saveWeights(_ weights: Weights, toShards folder: URL, maxShardBytes: Int, options: SaveOptions = .init()) throws(BrineError) -> ShardIndex {
        try saveShards(weights, to: folder, maxShardBytes: maxShardBytes, options: options, tree: nil)
    }

    /// ``saveWeights(_:toShards:maxShardBytes:options:)`` with an object tree for the index.
    static func saveShards(_ weights: Weights, to folder: URL, maxShardBytes: Int, options: SaveOptions, tree: Value?) throws(BrineError) -> ShardIndex {
        guard maxShardBytes >= 1 << 20 else {
            throw BrineError(.invalidArgument, "maximum shard size \(maxShardBytes) is under 1 MiB", filePath: folder.path)
        }
        // Before any placeholder is created: each shard's path starts with it.
        try RegularFile.checkPath(folder.path)
        let entries = weights.entries
        let assignment = ShardIndex.plan(sizes: entries.map { $0.tensor.byteCount }, maxShardBytes: maxShardBytes, alignment: options.alignment)
        let count = (assignment.last ?? 0) + 1
        let width = Swift.max(5, String(count).count)
        let indexURL = folder.appendingPathComponent(ShardIndex.fileName)
        // A re-save never writes over a shard of the model it replaces: a new
        // shard whose usual name is taken (by the previous model, or anything)
        // gets a name of its own, the index is switched to the new shards
        // last (atomically), and only then are the previous model's shards
        // removed. A save that fails or is killed at any point leaves the
        // previous model whole; at worst, unreferenced new shards remain.
        let previous = try? ShardIndex(contentsOf: indexURL)
        let token = String(UInt64.random(in: 0 ... UInt64.max) & 0xFFFF_FFFF, radix: 16)
        var names: [String] = []
        for i in 0 ..< count {
            func pad(_ n: Int) -> String { String(repeating: "0", count: Swift.max(0, width - String(n).count)) + String(n) }
            let usual = "model-\(pad(i + 1))-of-\(pad(count)).brine"
            let taken = FileManager.default.fileExists(atPath: folder.appendingPathComponent(usual).path)
            names.append(taken ? "model-\(pad(i + 1))-of-\(pad(count))-\(token).brine" : usual)
        }
        func name(_ i: Int) -> String { names[i] }
        // New shards are no more open than the model they replace.
        var previousMode: mode_t?
        if let first = previous?.shardNames.first {
            var st = stat()
            if stat(folder.appendingPathComponent(first).path, &st) == 0 { previousMode = st.st_mode & 0o777 }
        }
        var total = 0
        var checksums: [String: UInt64] = [:]
        var written: [String] = []
        var committed = false
        defer {
            for p in written {
                // Until the index names them, new shards are temporaries (removed
                // on a failure here, or by the CLI's SIGINT/SIGTERM handlers).
                if !committed { _ = unlink(p) }
                brine_temporary_unregister(p)
            }
        }
        for shard in 0 ..< count {
            let part = try Weights(zip(entries, assignment).filter { $0.1 == shard }.map { $0.0 })
            let url = folder.appendingPathComponent(name(shard))
            written.append(url.path)
            _ = brine_temporary_register(url.path)
            if let previousMode {
                // An empty placeholder with the previous shards' mode: the save
                // replaces it, and a replaced file's mode is kept from the first
                // byte written (AtomicFile), so the shard is never more open.
                if let fd = try? FileDescriptor.open(FilePath(url.path), .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec],
                                                      permissions: [.ownerReadWrite]) {
                    _ = fchmod(fd.rawValue, previousMode)
                    try? fd.close()
                }
            }
            try saveWeights(part, to: url, options: options)
            total += (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
            // What the index will hold for this shard: its header checksum (open reads
            // only trailer and header; no chunk is read).
            var quick = ReadOptions()
            quick.verifyChecksums = false
            checksums[name(shard)] = try BrineFile(contentsOf: url, mode: .mmap, options: quick).headerChecksum
        }
        var meta: [String: String] = ["format": "brine", "shard_count": String(count)]
        // The index's own keys win: a user `format` or `shard_count` (e.g. a
        // safetensors shard's "format": "pt", carried by `brine convert`)
        // overrode them, and a user `total_size` wrote a duplicate JSON key
        // that no reader accepts. Each shard's header keeps the user's value.
        for (k, v) in options.metadata where !ShardIndex.reservedMetadataKeys.contains(k) { if case .string(let s) = v { meta[k] = s } }
        var index = ShardIndex(metadata: meta, totalSize: total,
                               weightMap: zip(entries, assignment).map { (path: $0.0.path, shard: name($0.1)) }, tree: tree)
        index.shardChecksums = checksums
        if ShardSaveFaults.killedBeforeIndex.withLock({ $0.contains(folder.path) }) {
            // As a SIGKILL here would: nothing more happens, nothing is cleaned up.
            committed = true
            throw BrineError(.io, "fault injected: the save stopped before writing the index", filePath: indexURL.path)
        }
        // Last, and as durably as the shards: until this rename the previous
        // index and its shards are the model.
        try writeFileAtomically(index.jsonBytes, to: indexURL.path, durable: options.durable)
        committed = true
        // The previous model's shards that the new index does not name.
        let kept = Set(names)
        // Only names a sharded save writes: an index is input, and one naming
        // another file of the folder must not get it deleted.
        for old in previous?.shardNames ?? [] where !kept.contains(old) && ShardIndex.isShardFileName(old) {
            _ = unlink(folder.appendingPathComponent(old).path)
        }
        return index
    }

    /// Loads every array of a sharded model from its index file, shard by
    /// shard (each shard's chunks decoded in parallel).
    /// - Parameters:
    ///   - indexURL: `model.brine.index.json`; shards are in the same folder.
    ///   - options: verification, threads, limits.
    /// - Returns: the arrays in the index's order.
    /// - Throws: ``BrineError`` `.corruptHeader` (bad index; an array the
    ///   index lists is missing from its shard), `.notFound`, and the codes of
    ///   ``BrineFile/loadAll()``.
    public static func loadWeights(fromShardIndex indexURL: URL, options: ReadOptions = .init()) throws(BrineError) -> Weights {
        let index = try ShardIndex(contentsOf: indexURL)
        return try Weights(zip(index.weightMap, try loadShardArrays(index, indexURL: indexURL, options: options)).map { (path: $0.0.path, tensor: $0.1) })
    }

    /// Reads the index at `indexURL` (a file).
    static func readShardIndex(_ indexURL: URL) throws(BrineError) -> ShardIndex {
        try ShardIndex(contentsOf: indexURL)
    }

    /// Every array of `index`, in weight-map order, from the shards beside `indexURL`.
    static func loadShardArrays(_ index: ShardIndex, indexURL: URL, options: ReadOptions) throws(BrineError) -> [AnyTensor] {
        // By code points: "\u{E9}" and "e\u{301}" are two arrays (and two files).
        var byPath: [ExactName: AnyTensor] = [:]
        for shard in index.shardNames {
            let file = try BrineFile(contentsOf: indexURL.deletingLastPathComponent().appendingPathComponent(shard), options: options)
            try index.checkShard(shard, headerChecksum: file.headerChecksum, path: indexURL.path)
            let (wanted, infos) = try index.placedArrays(in: shard, arrays: file.arrays, info: file.info, path: indexURL.path)
            for (p, t) in zip(wanted, try file.load(infos)) { byPath[ExactName(p)] = t }
        }
        return index.weightMap.map { byPath[ExactName($0.path)]! }
    }
}

/// Fault injection for tests of sharded saves. Not part of the public API.
package enum ShardSaveFaults {
    /// Folders (paths as given) where a sharded save stops just before
    /// writing its index and leaves everything as a process killed there
    /// would (the new shards written, nothing removed). Default: none.
    package static let killedBeforeIndex = Mutex<Set<String>>([])
}
