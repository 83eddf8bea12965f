import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The open file of a ``BrineModel``, replaced when a flush re-saves the model.
/// A class so that copies of the handle share it; `Mutex` makes it Sendable.
final class ModelSession: Sendable {
    private let current: Mutex<BrineFile>
    init(_ file: BrineFile) { current = Mutex(file) }
    var file: BrineFile {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
}

extension BrineModel where Model: Encodable {
    /// Writes every change ``model`` holds to the file, crash-safely, and
    /// leaves a file that verifies (docs/WORKFLOWS.md, "Update in place").
    ///
    /// The model is encoded again (no array data is copied) and compared
    /// with the file, then, per case:
    /// - a ``Tensor`` of an uncompressed array changed through ``model``
    ///   (a view of the private mapping): its changed chunks are written in
    ///   place through the journal (``BrineFile/flush()``);
    /// - an uncompressed array whose value is no longer that view (a tensor
    ///   reassigned to a new tensor of the same dtype and shape, a tensor that
    ///   was copied on write, a Swift array field such as `[Float]`): its bytes
    ///   are compared with the file's and, when they differ, copied into the
    ///   mapping and written in place the same way;
    /// - anything else that changed (an inline array, stored in the header;
    ///   an array of a compressed, shuffled or narrowed file; a scalar
    ///   hyper-parameter; a changed dtype or shape; an added or removed
    ///   field): the whole model is re-saved atomically (temporary file,
    ///   `fsync`, rename) with each array's codec, filter, chunk size,
    ///   alignment and storage dtype kept, the file's metadata kept (Brine's
    ///   `brine.format`, `brine.version` and `brine.created` renewed), arrays
    ///   the file has out of line kept out of line and new ones placed by the
    ///   default 4096-byte threshold; ``file`` is then the new file, opened
    ///   read-write (views held by ``model`` keep the old mapping, and the
    ///   next flush compares them by value).
    ///
    /// Nothing is dropped: a change either reaches the file or the flush
    /// throws before the file changes (or, for an I/O error after the
    /// journal was written, the next open completes the flush).
    /// - Returns: the number of chunks written: changed chunks in place, or
    ///   every chunk of the new file after a re-save (at least 1); 0 only
    ///   when nothing changed.
    /// - Throws: ``BrineError`` `.readOnly` unless opened with
    ///   ``LoadMode/mmapReadWrite``; `.conflict` when the file was replaced
    ///   since it was opened, or another read-write handle opened the
    ///   re-saved file first; `.invalidArgument` when the model cannot be
    ///   encoded (with the encoder's message and coding path); `.io`, and the
    ///   codes of ``Brine/save(_:to:options:)``.
    @discardableResult
    public func flush() throws(BrineError) -> Int {
        let file = session.file
        guard file.mode == .mmapReadWrite, file.session != nil, let mapping = file.mapping, let base = mapping.baseAddress else {
            throw BrineError(.readOnly, "flush needs a model opened with mode .mmapReadWrite (opened as \(file.mode))", filePath: file.path)
        }
        guard FileIdentity.of(path: file.path) == file.session?.currentIdentity else {
            throw BrineError(.conflict, "the file at this path was replaced (or removed) since the read-write session opened it; flush writes nothing. Save the model with Brine.save to keep this session's changes", filePath: file.path)
        }
        let plan = FlushPlanSink(file: file, base: base)
        let root: Value
        do {
            root = try BrineEncoder().encode(model, sink: plan, threshold: SaveOptions().inlineThreshold)
        } catch let e as BrineError {
            throw e
        } catch {
            throw BrineError(.invalidArgument, "encoding the model for the flush failed: \(error)", filePath: file.path)
        }
        if root != file.root { plan.reasons.append("the object tree changed (a scalar, an inline array or the structure)") }
        if plan.reasons.isEmpty {
            plan.applyCopies()
            return try file.flush()
        }
        return try resave(file: file)
    }

    /// Re-saves the whole model over the file with each array's options kept,
    /// then opens the new file read-write as ``file``.
    private func resave(file: BrineFile) throws(BrineError) -> Int {
        var perPath: [String: WriteOptions] = [:]
        for a in file.arrays {
            var o = WriteOptions(codec: a.codec, filter: a.filter)
            o.alignment = a.alignment
            o.chunkBytes = a.chunkBytes
            o.storageDType = a.storedDType != a.dtype ? a.storedDType : nil
            o.threads = file.options.threads
            perPath[a.path] = o
        }
        var defaults = file.arrays.first.flatMap { perPath[$0.path] } ?? WriteOptions()
        defaults.storageDType = file.arrays.first { $0.storedDType != $0.dtype }?.storedDType
        var metadata: [(key: String, value: Value)] = []
        if case .map(let entries) = file.metadata {
            // Brine's own keys are written anew; `brine.aliases` too, from
            // the model as it is now (the old map would hide new ties).
            metadata = entries.filter { !["brine.format", "brine.version", "brine.created", "brine.aliases"].contains($0.key) }
        }
        let writer = try BrineWriter(path: file.path, options: defaults)
        do {
            let sink = ResaveSink(writer: writer, options: perPath)
            let root = try BrineEncoder().encode(model, sink: sink, threshold: SaveOptions().inlineThreshold)
            try writer.finish(root: root, metadata: .map(metadata))
        } catch let e as BrineError {
            writer.cancel()
            throw e
        } catch {
            writer.cancel()
            throw BrineError(.invalidArgument, "encoding the model for the flush failed: \(error)", filePath: file.path)
        }
        let reopened: BrineFile
        do throws(BrineError) {
            reopened = try BrineFile(path: file.path, mode: .mmapReadWrite, options: file.options)
        } catch where error.code == .conflict {
            throw BrineError(.conflict, "the model was saved, but another read-write handle opened the new file first; this handle can no longer flush", filePath: file.path)
        }
        session.file = reopened
        return Swift.max(1, reopened.arrays.reduce(0) { $0 + $1.chunkCount })
    }
}

/// The flush's planning pass: sees every out-of-line array of the model as
/// the encoder meets it, keeps arrays where the file has them, and records
/// what can be written in place and what forces a re-save.
final class FlushPlanSink: ArraySink, ArrayPlacement {
    let file: BrineFile
    let infos: [ArrayInfo]
    let index: NameIndex
    let base: UnsafeMutableRawPointer
    /// Why the model must be re-saved (empty: everything fits in place).
    var reasons: [String] = []
    /// Bytes to copy into the mapping (snapshots, so that swapped or aliased
    /// views read their old contents), applied only for an in-place flush.
    private var copies: [(offset: Int, bytes: UnsafeMutableRawBufferPointer)] = []
    private var added = 0

    init(file: BrineFile, base: UnsafeMutableRawPointer) {
        self.file = file
        self.infos = file.arrays
        self.base = base
        self.index = NameIndex(infos.map(\.path))
    }

    deinit { for c in copies { c.bytes.deallocate() } }

    var takenPaths: [String] { [] }

    func outOfLine(path: String, byteCount: Int) -> Bool? {
        index[path] != nil ? true : nil
    }

    func append(_ bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int], path: String, original: () -> ArraySlot) throws -> Int {
        guard let i = index[path], infos[i].dtype == dtype, infos[i].shape == shape else {
            reasons.append("array '\(path)' is new or changed its dtype or shape")
            added += 1
            return infos.count + added - 1
        }
        let a = infos[i]
        guard a.byteCount > 0, let src = bytes.baseAddress else { return i }
        if a.isContiguousRaw {
            let dst = base + a.dataOffset
            if UnsafeRawPointer(dst) != src, memcmp(dst, src, a.byteCount) != 0 {
                let snapshot = UnsafeMutableRawBufferPointer.allocate(byteCount: a.byteCount, alignment: 64)
                snapshot.copyMemory(from: bytes)
                copies.append((a.dataOffset, snapshot))
            }
        } else {
            let stored = UnsafeMutableRawBufferPointer.allocate(byteCount: a.byteCount, alignment: 64)
            defer { stored.deallocate() }
            try file.read(path, into: stored)
            if memcmp(stored.baseAddress!, src, a.byteCount) != 0 {
                reasons.append("array '\(path)' changed and is stored \(a.codec == .none ? "" : "compressed (\(a.codec)) ")\(a.filter == .shuffle ? "shuffled " : "")\(a.storedDType != a.dtype ? "as \(a.storedDType) " : "")")
            }
        }
        return i
    }

    /// Copies the changed uncompressed arrays into the private mapping.
    func applyCopies() {
        for c in copies { (base + c.offset).copyMemory(from: c.bytes.baseAddress!, byteCount: c.bytes.count) }
    }
}

/// Writes arrays into a re-save with the options each had in the old file,
/// out of line where the old file had them out of line.
final class ResaveSink: ArraySink, ArrayPlacement {
    let writer: BrineWriter
    let options: [String: WriteOptions]

    init(writer: BrineWriter, options: [String: WriteOptions]) {
        self.writer = writer
        self.options = options
    }

    var takenPaths: [String] { writer.arrays.map(\.path) }

    func outOfLine(path: String, byteCount: Int) -> Bool? {
        options[path] != nil ? true : nil
    }

    func append(_ bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int], path: String, original: () -> ArraySlot) throws -> Int {
        try writer.append(bytes: bytes, dtype: dtype, shape: shape, arrayPath: path, options: options[path], owner: original().immutableOwner)
    }

    /// The final (format 1.1) names and the aliases go to the writer, as ``WriterSink`` does.
    func finishNames(_ renames: [Int: String], aliases: [(path: String, legacyPath: String, index: Int)]) throws {
        try writer.renameArrays(renames)
        try writer.addAliases(aliases.map { ($0.path, $0.index) })
    }
}
