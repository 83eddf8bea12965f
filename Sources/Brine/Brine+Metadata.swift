import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension SaveOptions {
    /// Options that save the way an existing file was saved: its user
    /// metadata (every key not starting with `brine.`) and its array
    /// options: codec and level, filter, alignment, chunk size, and the
    /// narrower storage dtype if float32 arrays were stored narrowed. Taken
    /// from the file's first array (Brine's save functions use one setting
    /// for every array); a file without arrays gives the defaults.
    ///
    /// The inline threshold is not recorded in files: it stays at its
    /// default (4096 bytes) unless set. Change any field before saving:
    ///
    /// ```swift
    /// var options = try SaveOptions(preserving: url)
    /// options.metadata["epochs"] = Value(epochs)
    /// try Brine.save(model, to: url, options: options)
    /// ```
    /// - Parameters:
    ///   - url: the file whose options to keep (only its trailer and header are read).
    ///   - readOptions: limits for reading it.
    /// - Throws: ``BrineError`` as ``BrineFile/init(contentsOf:mode:options:)``;
    ///   `.unsupportedFeature` when two user metadata keys are canonically
    ///   equivalent (a file written elsewhere can hold both spellings; the
    ///   `[String: Value]` of ``metadata`` cannot), or when the file's
    ///   float32 arrays are stored in more than one dtype.
    public init(preserving url: URL, readOptions: ReadOptions = .init()) throws(BrineError) {
        try self.init(preserving: try BrineFile(contentsOf: url, options: readOptions))
    }

    /// Options that save the way `file` was saved; see ``init(preserving:readOptions:)``.
    /// Codec, filter, alignment and chunk size are the first array's (they
    /// change no value); the float32 storage dtype (float16 or bfloat16
    /// narrowing, which does) is kept only when all float32 arrays share it.
    /// - Throws: ``BrineError`` `.unsupportedFeature` when two user metadata
    ///   keys are canonically equivalent, or when the file's float32 arrays
    ///   are stored in more than one dtype (some narrowed, some not).
    public init(preserving file: BrineFile) throws(BrineError) {
        self.init()
        if let a = file.arrays.first {
            writeOptions.codec = a.codec
            writeOptions.filter = a.filter
            writeOptions.alignment = a.alignment
            writeOptions.chunkBytes = a.chunkBytes
        }
        // The storage dtype is lossy: it is kept only when every float32
        // array of the file was stored the same way. One value for all would
        // narrow arrays the file kept at full precision (or widen others).
        let float32Storage = Set(file.arrays.lazy.filter { $0.dtype == .float32 }.map(\.storedDType))
        if float32Storage.count > 1 {
            let names = float32Storage.map(\.name).sorted().joined(separator: ", ")
            throw BrineError(.unsupportedFeature, "the file stores float32 arrays as \(names): SaveOptions has one storage dtype for every array, so no options save it the same way; set writeOptions.storageDType yourself (nil keeps float32)", filePath: file.path)
        }
        if let stored = float32Storage.first, stored != .float32 {
            writeOptions.storageDType = stored
        }
        metadata = try Brine.userMetadata(file.metadata, path: file.path)
    }
}

extension BrineModel where Model: Encodable {
    /// Saves the model again, keeping the file's metadata and array options
    /// (``SaveOptions/init(preserving:)``), with `changes` merged
    /// into the user metadata. Atomic, as ``Brine/save(_:to:options:)``.
    ///
    /// ```swift
    /// var handle = try Brine.open(MLP.self, from: url, mode: .mmap)
    /// handle.model.trainEpoch(data)
    /// try handle.save(updatingMetadata: ["epochs": epochs + 1])   // same codec, same user keys
    /// ```
    /// - Parameters:
    ///   - url: the destination; `nil` (default) replaces the file the model
    ///     came from. Views of the old file stay valid (it is replaced by
    ///     `rename(2)`, not rewritten).
    ///   - changes: user metadata to add or replace.
    ///   A read-write session (``LoadMode/mmapReadWrite``) that replaces its
    ///   own file this way cannot ``flush()`` afterwards (the file at the
    ///   path is no longer the one it opened: `.conflict`).
    /// - Throws: ``BrineError`` `.invalidArgument` for a reserved key;
    ///   `.unsupportedFeature` as ``SaveOptions/init(preserving:)`` and for a
    ///   key canonically equivalent to but spelled differently from one of
    ///   the file's; as ``Brine/save(_:to:options:)``.
    public func save(to url: URL? = nil, updatingMetadata changes: [String: any ValueConvertible] = [:]) throws {
        let destination = url ?? URL(fileURLWithPath: file.path)
        var options = try SaveOptions(preserving: file)
        for (k, v) in changes { try Brine.setMetadata(&options.metadata, k, v.brineValue, path: file.path) }
        try Brine.save(model, to: destination, options: options)
    }
}

extension Brine {
    /// The user keys of a metadata map (those not starting with `brine.`).
    /// - Throws: ``BrineError`` `.unsupportedFeature` when two keys are
    ///   canonically equivalent: a `[String: Value]` would keep one of them.
    static func userMetadata(_ metadata: Value, path: String? = nil) throws(BrineError) -> [String: Value] {
        guard case .map(let entries) = metadata else { return [:] }
        var out: [String: Value] = [:]
        var spelling: [String: String] = [:]
        for e in entries where !e.key.hasPrefix("brine.") {
            if let other = spelling[e.key], !other.isSameName(as: e.key) {
                throw BrineError(.unsupportedFeature, "metadata keys \(Value.quoted(other)) and \(Value.quoted(e.key)) are different code points but equal Swift strings (canonically equivalent); a [String: Value] cannot keep both (read BrineFile.metadata, a Value map, instead)", filePath: path)
            }
            spelling[e.key] = e.key
            out[e.key] = e.value
        }
        return out
    }

    /// Reads a file's metadata into an `Decodable` type (a struct of
    /// hyper-parameters saved with ``Value/init(encoding:)`` or as separate
    /// keys); keys the type does not declare, such as `brine.*`, are ignored.
    /// - Throws: ``BrineError`` for the file; `DecodingError` when the metadata does not fit `type`.
    public static func metadata<T: Decodable>(of url: URL, as type: T.Type) throws -> T {
        try metadata(of: url).decode(type)
    }

    /// Changes a file's user metadata without touching its array data:
    /// `changes` are added or replace keys of the same name, `removing`
    /// keys are dropped; Brine's own `brine.*` keys are kept as they are.
    ///
    /// ```swift
    /// try Brine.updateMetadata(of: url, ["test_accuracy": accuracy, "epochs": epochs])
    /// ```
    ///
    /// Atomic, like a save: a new file is written next to the old one (the
    /// data section is copied byte for byte, then a new header and trailer),
    /// synced and renamed over it; readers and mappings of the old file keep
    /// it intact. The array table and object tree are copied unchanged, so
    /// every chunk checksum stays valid; the file's format version is kept.
    /// A symbolic link is followed: its target is replaced.
    /// - Parameters:
    ///   - url: the file.
    ///   - changes: keys to add or replace (plain values or ``Value``s).
    ///   - removing: keys to remove (absent keys are ignored).
    ///   - durable: `fsync` the file and folder before returning (default `true`).
    /// - Throws: ``BrineError`` `.invalidArgument` for a key starting with
    ///   `brine.`, `.limitExceeded` for metadata nested deeper than the
    ///   reader's cap, `.unsupportedFeature` for a key canonically equivalent
    ///   to but spelled differently from one of the file's; the file's errors
    ///   (`.notFound`, `.checksumMismatch`…); `.io`. On error the file is unchanged.
    public static func updateMetadata(
        of url: URL, _ changes: [String: any ValueConvertible], removing: [String] = [], durable: Bool = true
    ) throws(BrineError) {
        try updateMetadata(of: url, durable: durable) { (meta: inout [String: Value]) throws(BrineError) in
            for k in removing { try setMetadata(&meta, k, nil, path: url.path) }
            for (k, v) in changes { try setMetadata(&meta, k, v.brineValue, path: url.path) }
        }
    }

    /// Sets (or, with `nil`, removes) the user metadata key `key` of
    /// `meta`, by name as the file stores it (Unicode scalars). A
    /// `[String: Value]` finds a canonically equivalent spelling as the same
    /// key and would keep the file's spelling with the caller's value, or
    /// remove the other spelling: both are refused.
    /// - Throws: ``BrineError`` `.unsupportedFeature` when `meta` holds a
    ///   canonically equivalent key with other code points.
    static func setMetadata(_ meta: inout [String: Value], _ key: String, _ value: Value?, path: String?) throws(BrineError) {
        if let other = meta.otherSpelling(of: key) {
            throw BrineError(.unsupportedFeature, "metadata key \(Value.quoted(key)) and the file's \(Value.quoted(other)) are different code points but equal Swift strings (canonically equivalent): the change would \(value == nil ? "remove" : "rename") the file's key; remove it by its own spelling first", filePath: path)
        }
        meta[key] = value
    }

    /// Changes a file's user metadata with a closure that edits the user
    /// keys (every key not starting with `brine.`); see
    /// ``updateMetadata(of:_:removing:durable:)``.
    /// - Throws: as ``updateMetadata(of:_:removing:durable:)``, and what `body` throws.
    public static func updateMetadata(
        of url: URL, durable: Bool = true, _ body: (inout [String: Value]) throws(BrineError) -> Void
    ) throws(BrineError) {
        let file = try BrineFile(contentsOf: url)
        var user = try userMetadata(file.metadata, path: file.path)
        try body(&user)
        guard case .map(let old) = file.metadata else { throw BrineError(.corruptHeader, "metadata is not a map", filePath: file.path) }
        var entries = old.filter { $0.key.hasPrefix("brine.") }
        for k in user.keys.sorted() {
            guard !k.hasPrefix("brine.") else {
                throw BrineError(.invalidArgument, "metadata key '\(k)' uses the reserved prefix 'brine.'", filePath: file.path)
            }
            entries.append((k, user[k]!))
        }
        try MetadataRewrite.rewrite(file, metadata: .map(entries), durable: durable)
    }
}

/// The byte-level rewrite behind ``Brine/updateMetadata(of:_:removing:durable:)``.
enum MetadataRewrite {
    static func rewrite(_ file: BrineFile, metadata: Value, durable: Bool) throws(BrineError) {
        try metadata.checkWritableDepth("the metadata", filePath: file.path)
        try checkNoReferences(metadata, path: file.path)
        // The header is `metadata array_count array_entry… root`: replace the
        // first value, keep the rest byte for byte.
        let header = try file.source.read(file.headerOffset, file.headerLength)
        let metadataEnd = try typedThrows { try header.withUnsafeBytes { (b) throws(BrineError) -> Int in
            var r = ByteReader(b, fileOffset: UInt64(file.headerOffset), filePath: file.path)
            _ = try Header.decodeValue(&r, depth: 0, limits: file.options.limits, arrayCount: 0, allowArrayRefs: false)
            return r.position
        } }
        var w = ByteWriter(capacity: header.count + 256)
        Header.encodeValue(metadata, into: &w)
        w.raw(Array(header[metadataEnd...]))
        let newHeader = w.bytes
        guard newHeader.count <= file.options.limits.maxHeaderBytes else {
            throw BrineError(.limitExceeded, "the new header of \(newHeader.count) bytes is over the cap of \(file.options.limits.maxHeaderBytes)", filePath: file.path)
        }
        let trailer = Trailer(
            headerOffset: UInt64(file.headerOffset), headerLength: UInt64(newHeader.count),
            headerChecksum: Checksum.xxh3(newHeader),
            fileLength: UInt64(file.headerOffset + newHeader.count + FormatSpec.trailerSize),
            major: file.formatVersion.major, minor: file.formatVersion.minor)

        try AtomicFile.replace(at: RegularFile.exactPath(file.path), durable: durable) { out throws(BrineError) in
            // The preamble and data section, unchanged.
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 4096)
            defer { buffer.deallocate() }
            var offset = 0
            while offset < file.headerOffset {
                let n = Swift.min(buffer.count, file.headerOffset - offset)
                let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< n])
                try file.source.read(into: piece, at: offset)
                try out.fd.pwriteFully(UnsafeRawBufferPointer(piece), at: Int64(offset)).orThrow("write", path: file.path)
                offset += n
            }
            var tail = newHeader
            tail.append(contentsOf: trailer.encoded())
            try typedThrows { try tail.withUnsafeBytes { b in
                try out.fd.pwriteFully(b, at: Int64(file.headerOffset)).orThrow("write", path: file.path)
            } }
        }
    }

    private static func checkNoReferences(_ v: Value, path: String) throws(BrineError) {
        var stack = [v]
        while let x = stack.popLast() {
            switch x {
            case .arrayRef: throw BrineError(.invalidArgument, "metadata cannot hold array references", filePath: path)
            case .list(let l): stack.append(contentsOf: l)
            case .map(let m): for e in m { stack.append(e.value) }
            default: break
            }
        }
    }
}
