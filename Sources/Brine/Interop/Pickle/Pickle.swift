import Foundation

/// Caps for reading pickle and joblib files, which are treated as hostile.
///
/// Every size read from the file is checked against these before anything
/// sized by it is allocated; going over a cap is `.limitExceeded`.
public struct PickleReadOptions: Sendable, Hashable {
    /// Shared caps: ``ReadLimits/maxDepth`` (nesting of the output tree,
    /// default 256), ``ReadLimits/maxRank`` (64), ``ReadLimits/maxArrays``,
    /// ``ReadLimits/maxAllocationBytes`` (one array's data, one string or
    /// bytes value; default: physical memory).
    public var limits: ReadLimits = ReadLimits()
    /// Most nodes in the output tree, counting every expansion of a shared
    /// object (a memo bomb hits this). Default 4,000,000.
    public var maxTreeNodes: Int = 4_000_000
    /// Most bytes of strings and bytes values in the output tree, counting
    /// every expansion. Default 1 GiB.
    public var maxTreeBytes: Int = 1 << 30
    /// Most objects (containers, instances, arrays) the stream may create. Default 2,097,152.
    public var maxObjects: Int = 1 << 21
    /// Most memo entries. Default 2,097,152.
    public var maxMemoEntries: Int = 1 << 21
    /// Most items on the stack, and most open MARKs. Default 2,097,152.
    public var maxStackItems: Int = 1 << 21
    /// Most bytes a compressed file may decompress to (a decompression bomb
    /// hits this). Default: the machine's physical memory.
    public var maxDecompressedBytes: Int = ReadLimits.physicalMemory

    /// The defaults.
    public init() {}
}

/// What a pickle or joblib file holds, read without running any code.
public struct PickleContent: Sendable {
    /// The object tree (docs/PICKLE.md): lists, maps, numbers, strings,
    /// `{"__class__": "module.Name", "args": […], "state": …}` nodes for
    /// every object Python would have constructed, and ``Value/arrayRef(_:)``
    /// for each NumPy array (an index into ``arrays``).
    public var root: Value
    /// Every NumPy array, named by its path in the tree (`steps.1.1.coef_`),
    /// C order, little-endian, bit for bit as NumPy holds it.
    public var arrays: [(path: String, tensor: AnyTensor)]
    /// The dotted names of the classes and functions the file names, in the order first met.
    public var classes: [String]
    /// The pickle protocol (the first PROTO opcode; 0 or 1 when there is none).
    public var protocolVersion: Int
    /// The compression of the file (joblib `compress=`), `.none` for plain pickles.
    public var compression: PickleCompression
    /// `true` when the stream holds joblib `NumpyArrayWrapper` records.
    public var isJoblib: Bool

    /// The arrays, the tree as ``TensorBundle/root`` and metadata
    /// (`source_format`, `pickle.protocol`, `joblib.compression`, `pickle.classes`)
    /// as a bundle, ready for ``TensorBundle/write(to:format:options:progress:)``.
    public var bundle: TensorBundle {
        var meta = ["source_format": isJoblib ? "joblib" : "pickle", "pickle.protocol": String(protocolVersion)]
        if isJoblib { meta["joblib.compression"] = compression.rawValue }
        if !classes.isEmpty { meta["pickle.classes"] = classes.joined(separator: ",") }
        var b = TensorBundle(tensors: arrays.map { (name: $0.path, tensor: $0.tensor) }, metadata: meta)
        b.root = root
        return b
    }
}

/// Python pickle (protocols 0–5) and joblib files, read without executing
/// anything: no import, no call, no `__setstate__`. The opcodes are
/// interpreted into a value tree; objects become recorded class nodes;
/// NumPy arrays (pickled by NumPy or written raw after joblib's
/// `NumpyArrayWrapper`) become Brine arrays. See docs/PICKLE.md for the
/// allow-list and the safety argument.
public enum Pickle {
    /// Reads a pickle or joblib file (plain, or compressed with zlib, gzip,
    /// bz2, xz, lzma or lz4, told by its first bytes). The file is mapped;
    /// arrays of an uncompressed joblib file are zero-copy views of the
    /// mapping where aligned.
    /// - Parameters:
    ///   - url: a file URL.
    ///   - options: caps for hostile input.
    /// - Returns: the tree, arrays, classes and protocol.
    /// - Throws: ``BrineError`` `.notFound`, `.io`; `.invalidInterop` (a
    ///   malformed stream: unknown opcode, stack underflow, bad memo index,
    ///   wrong argument types for an allow-listed call); `.truncated`;
    ///   `.decompressionFailed`; `.limitExceeded` (a cap of `options`);
    ///   `.unsupportedDType` (a NumPy array of complex, datetime or another
    ///   dtype Brine has no equivalent for, with its path); `.unsupportedFeature`
    ///   (protocol-5 out-of-band buffers, EXT opcodes, cycles, joblib < 0.10 files).
    public static func read(contentsOf url: URL, options: PickleReadOptions = .init()) throws(BrineError) -> PickleContent {
        try ByteSource.reading(url.path, mode: .mmap) { (source) throws(BrineError) in try read(source, options: options) }
    }

    /// Reads pickle or joblib bytes held in memory (copied once).
    /// - Throws: see ``read(contentsOf:options:)``.
    public static func read(bytes: UnsafeRawBufferPointer, options: PickleReadOptions = .init()) throws(BrineError) -> PickleContent {
        try read(ByteSource(copying: bytes), options: options)
    }

    static func read(_ source: ByteSource, options: PickleReadOptions) throws(BrineError) -> PickleContent {
        guard let head = source.borrow(0, Swift.min(source.size, 8)) else {
            throw BrineError(.io, "the pickle source is not mapped")
        }
        let compression = PickleCompression.detect(head)
        let input = try PickleInput(source: source, compression: compression, maxDecompressedBytes: options.maxDecompressedBytes)
        if try input.atEnd() { throw BrineError(.truncated, "the pickle stream is empty", byteOffset: 0) }
        let machine = PickleMachine(input: input, options: options)
        let result = try machine.run()
        var builder = PickleTreeBuilder(objects: machine.objects, options: options)
        let root = try builder.convert(result, [], depth: 0)
        return PickleContent(
            root: root, arrays: builder.arrays, classes: builder.classes, protocolVersion: machine.fileProtocol ?? 0,
            compression: compression, isJoblib: machine.joblibArrays > 0)
    }

    /// `true` when `head` (the first bytes of a file) starts like a pickle
    /// of protocol 2–5 (`\x80` and the protocol) or a compressed stream a
    /// joblib file may be.
    static func looksLikePickle(_ head: [UInt8]) -> Bool {
        if head.count >= 2 && head[0] == 0x80 && (2 ... 5).contains(head[1]) { return true }
        return false
    }
}
