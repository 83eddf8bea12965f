import Brine
import Foundation
import SwiftProtobuf

#if canImport(Glibc)
import Glibc
#endif

// ONNX models (onnx/onnx.proto, IR version 3 and later; the messages are
// generated once from the `onnx` PyPI package's onnx.proto by
// scripts/generate-onnx-proto.sh and committed as onnx.pb.swift).
//
// Initializers (TensorProto) hold their elements in one of:
// - `raw_data`: little-endian bytes, C order;
// - a typed field: float_data (FLOAT), double_data (DOUBLE), int64_data
//   (INT64), uint64_data (UINT32, UINT64), int32_data (INT32, INT16, INT8,
//   UINT16, UINT8, BOOL, and the bit patterns of FLOAT16 and BFLOAT16);
// - external data (data_location = EXTERNAL): `location` (a path relative to
//   the model's folder), `offset` and `length` in bytes.

/// Options for reading ONNX models: caps on everything sized by the file.
public struct ONNXReadOptions: Sendable, Hashable {
    /// Largest `.onnx` file, in bytes. Default 2 GiB − 1 (protobuf's own limit).
    public var maxModelBytes: Int = Int(Int32.max)
    /// Deepest message nesting the protobuf decoder accepts (subgraphs of
    /// If/Loop/Scan nodes nest graphs). Default 64.
    public var maxMessageDepth: Int = 64
    /// Deepest nesting of subgraphs searched for initializers. Default 16.
    public var maxGraphDepth: Int = 16
    /// Caps shared with Brine: ``ReadLimits/maxArrays`` (initializers),
    /// ``ReadLimits/maxRank`` and ``ReadLimits/maxAllocationBytes`` (one initializer).
    public var limits: ReadLimits = ReadLimits()

    /// The defaults.
    public init() {}
}

/// An ONNX model read for its weights: the initializers of the main graph
/// and of every subgraph (If/Loop/Scan attributes), as Brine arrays, with
/// the graph's inputs, outputs and opsets as metadata; and the way back,
/// replacing initializers by name (``replacingInitializers(with:dropMetadata:)``).
///
/// Hostile files: the file size, protobuf nesting and subgraph depth are
/// capped; every initializer's byte count is checked against its dims and
/// dtype (overflow-checked); external data must be a relative path inside
/// the model's folder (no `..`, no absolute path, no symlink that leads
/// out), and its offset and length inside that file.
///
/// `@unchecked Sendable`: immutable after init.
public final class ONNXModel: @unchecked Sendable {
    /// The model file.
    public let url: URL
    /// The parsed model.
    var proto: Onnx_ModelProto
    let options: ONNXReadOptions

    /// Every initializer, in graph order (the main graph first, then each
    /// subgraph depth first): its name, ONNX data type and dims.
    public let initializers: [(name: String, dataType: Int32, dims: [Int])]

    /// Parses a model file.
    /// - Parameters:
    ///   - url: the `.onnx` file.
    ///   - options: caps.
    /// - Throws: ``BrineError`` `.notFound`, `.io`; `.limitExceeded` (file
    ///   size, nesting, initializer count, rank); `.invalidInterop` for bytes
    ///   that are not an ONNX model (with the decoder's reason), duplicate
    ///   initializer names or a model without a graph.
    public init(contentsOf url: URL, options: ONNXReadOptions = .init()) throws(BrineError) {
        self.url = url
        self.options = options
        let data = try ONNXModel.readFile(url, cap: options.maxModelBytes)
        var decoding = BinaryDecodingOptions()
        decoding.messageDepthLimit = options.maxMessageDepth
        var parsed: Onnx_ModelProto
        do {
            parsed = try Onnx_ModelProto(serializedBytes: data, options: decoding)
        } catch let e as BinaryDecodingError {
            let code: BrineError.Code = e == .messageDepthLimit ? .limitExceeded : .invalidInterop
            throw BrineError(code, "not a valid ONNX model: protobuf decoding failed (\(e))", filePath: url.path, byteOffset: 0)
        } catch {
            throw BrineError(.invalidInterop, "not a valid ONNX model: \(error)", filePath: url.path, byteOffset: 0)
        }
        guard parsed.hasGraph else {
            throw BrineError(.invalidInterop, "the ONNX model has no graph", filePath: url.path, byteOffset: 0)
        }
        var list: [(name: String, dataType: Int32, dims: [Int])] = []
        var seen = Set<ExactName>()  // by code points: "\u{E9}" and "e\u{301}" are two initializers
        let path = url.path
        let limits = options.limits
        try ONNXModel.visit(&parsed.graph, depth: 0, maxDepth: options.maxGraphDepth, path: path) { (t: inout Onnx_TensorProto) throws(BrineError) in
            guard seen.insert(ExactName(t.name)).inserted else {
                throw BrineError(.invalidInterop, "two initializers are named '\(t.name)'", filePath: path, arrayPath: t.name)
            }
            guard list.count < limits.maxArrays else {
                throw BrineError(.limitExceeded, "more than maxArrays \(limits.maxArrays) initializers", filePath: path, arrayPath: t.name)
            }
            guard t.dims.count <= limits.maxRank else {
                throw BrineError(.limitExceeded, "rank \(t.dims.count) exceeds maxRank \(limits.maxRank)", filePath: path, arrayPath: t.name)
            }
            var dims: [Int] = []
            for d in t.dims {
                guard d >= 0 else { throw BrineError(.invalidInterop, "negative dimension \(d)", filePath: path, arrayPath: t.name) }
                dims.append(Int(d))
            }
            list.append((t.name, t.dataType, dims))
        }
        initializers = list
        proto = parsed
    }

    /// The initializer names in order.
    public var names: [String] { initializers.map(\.name) }

    /// Throws when ``metadata`` cannot hold every `metadata_props` entry
    /// under its own key: a key that is also one ``metadata`` derives from
    /// the model (`onnx.ir_version`, …, which would replace its value), or
    /// two keys that are canonically equivalent spellings (one would replace
    /// the other).
    /// - Throws: ``BrineError`` `.unsupportedFeature`.
    public func checkMetadataKeys() throws(BrineError) {
        let derived: Set<String> = ["onnx.ir_version", "onnx.opset_import", "onnx.producer_name", "onnx.producer_version",
                                    "onnx.graph_name", "onnx.inputs", "onnx.outputs"]
        var seen: [String: String] = [:]
        for p in proto.metadataProps {
            if derived.contains(where: { $0.isSameName(as: p.key) }) || derived.contains(p.key) {
                throw BrineError(.unsupportedFeature, "metadata_props key \(Value.quoted(p.key)) is also a key Brine derives from the model; the bundle cannot keep both values", filePath: url.path)
            }
            if let other = seen[p.key] {
                throw BrineError(.unsupportedFeature, "metadata_props keys \(Value.quoted(other)) and \(Value.quoted(p.key)) \(other.isSameName(as: p.key) ? "repeat one key" : "are canonically equivalent spellings"); a bundle's [String: String] metadata cannot keep both", filePath: url.path)
            }
            seen[p.key] = p.key
        }
    }

    /// The model's metadata as bundle text: `onnx.ir_version`,
    /// `onnx.opset_import` (JSON `[{"domain": "", "version": 17}]`),
    /// `onnx.producer_name`, `onnx.producer_version`, `onnx.graph_name`,
    /// `onnx.inputs` and `onnx.outputs` (JSON `[{"name", "elem_type", "shape"}]`,
    /// a symbolic dimension as its name, an unknown one as null), and each
    /// `metadata_props` entry under its own key. A model whose
    /// `metadata_props` keys collide with these or with each other
    /// (``checkMetadataKeys()``) loses values here; ``bundle()`` refuses it.
    public var metadata: [String: String] {
        var m: [String: String] = [:]
        for p in proto.metadataProps { m[p.key] = p.value }
        m["onnx.ir_version"] = String(proto.irVersion)
        m["onnx.opset_import"] = json(proto.opsetImport.map { ["domain": $0.domain, "version": $0.version] as [String: Any] })
        if proto.hasProducerName { m["onnx.producer_name"] = proto.producerName }
        if proto.hasProducerVersion { m["onnx.producer_version"] = proto.producerVersion }
        m["onnx.graph_name"] = proto.graph.name
        let initNames = Set(proto.graph.initializer.map(\.name))
        m["onnx.inputs"] = json(proto.graph.input.filter { !initNames.contains($0.name) }.map(describe))
        m["onnx.outputs"] = json(proto.graph.output.map(describe))
        return m
    }

    private func describe(_ v: Onnx_ValueInfoProto) -> [String: Any] {
        var d: [String: Any] = ["name": v.name]
        if v.type.tensorType.hasElemType { d["elem_type"] = ONNXDataType.name(v.type.tensorType.elemType) }
        if v.type.tensorType.hasShape {
            d["shape"] = v.type.tensorType.shape.dim.map { (dim: Onnx_TensorShapeProto.Dimension) -> Any in
                switch dim.value {
                case .dimValue(let n): return n
                case .dimParam(let s): return s
                case nil: return NSNull()
                }
            }
        }
        return d
    }

    private func json(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Reads one initializer as a Brine array (C order, as ONNX stores it).
    /// - Throws: ``BrineError`` `.arrayNotFound`; `.unsupportedDType` for
    ///   STRING, complex, float8, 4-bit and unknown data types;
    ///   `.unsupportedFeature` for segmented tensors; `.invalidInterop` when
    ///   the stored bytes or elements do not match dims × dtype, or the
    ///   external data reference is unsafe (absolute, `..`, a symlink out of
    ///   the model's folder); `.truncated` when external data runs past its
    ///   file; `.limitExceeded`; `.io`, `.notFound`.
    public func tensor(_ name: String) throws(BrineError) -> AnyTensor {
        var found: AnyTensor?
        let path = url.path
        let folder = url.deletingLastPathComponent()
        let options = self.options
        var copy = proto.graph
        try ONNXModel.visit(&copy, depth: 0, maxDepth: options.maxGraphDepth, path: path) { (t: inout Onnx_TensorProto) throws(BrineError) in
            // By code points: of two canonically equivalent names, the one asked for.
            if found == nil, t.name.isSameName(as: name) { found = try ONNXModel.array(of: t, folder: folder, options: options, path: path) }
        }
        guard let found else {
            throw BrineError(.arrayNotFound, "no initializer named '\(name)'", filePath: path, arrayPath: name)
        }
        return found
    }

    /// Every initializer and the metadata as a bundle.
    /// - Throws: the errors of ``tensor(_:)``; `.unsupportedFeature` from
    ///   ``checkMetadataKeys()`` (metadata_props keys ``metadata`` cannot keep).
    public func bundle() throws(BrineError) -> TensorBundle {
        var tensors: [(name: String, tensor: AnyTensor)] = []
        let path = url.path
        try checkMetadataKeys()
        let folder = url.deletingLastPathComponent()
        let options = self.options
        var copy = proto.graph
        try ONNXModel.visit(&copy, depth: 0, maxDepth: options.maxGraphDepth, path: path) { (t: inout Onnx_TensorProto) throws(BrineError) in
            tensors.append((t.name, try ONNXModel.array(of: t, folder: folder, options: options, path: path)))
        }
        return TensorBundle(tensors: tensors, metadata: metadata)
    }

    /// The model with initializers replaced by the bundle's tensors of the
    /// same name, serialized: every replaced initializer holds its bytes in
    /// `raw_data`; initializers the bundle does not name keep their values,
    /// external ones are read and stored inline, so the result is one
    /// self-contained file. Nothing else in the model changes.
    /// Names are matched by code points (`"\u{E9}"` never replaces an
    /// initializer named `"e\u{301}"`).
    /// - Parameters:
    ///   - bundle: tensors named as initializers, and metadata.
    ///   - dropMetadata: the written model keeps this model's metadata; a
    ///     bundle whose metadata differs from ``metadata`` (a key it does not
    ///     have, or another value) or that carries a model's object tree is
    ///     refused unless this is `true` (default `false`), so that nothing
    ///     the caller passed is dropped without being asked to.
    /// - Returns: the serialized model.
    /// - Throws: ``BrineError`` `.unsupportedFeature` (metadata or a tree the
    ///   model would not keep, without `dropMetadata`), `.arrayNotFound` (a
    ///   bundle tensor with no initializer of that name), `.shapeMismatch` (dims differ),
    ///   `.dtypeMismatch` (the ONNX data type differs), `.limitExceeded`
    ///   (the result would pass protobuf's 2 GiB limit), and the errors of
    ///   ``tensor(_:)`` for external initializers inlined.
    public func replacingInitializers(with bundle: TensorBundle, dropMetadata: Bool = false) throws(BrineError) -> [UInt8] {
        if !dropMetadata {
            let own = metadata
            let unkept = bundle.metadata.keys.sorted().filter { k in
                // By code points: a value in another spelling is another value.
                !(own[k].map { $0.isSameName(as: bundle.metadata[k]!) } ?? false) || own.otherSpelling(of: k) != nil
            }
            let tree = bundle.contentNumPyCannotHold().objectTree
            if !unkept.isEmpty || tree {
                let what = TensorBundle.describeUnkept(keys: unkept, label: "metadata this model does not have", tree: tree)
                throw BrineError(.unsupportedFeature, "replacing initializers keeps this model's own metadata; the bundle also has \(what), which would be lost. Pass dropMetadata (brine convert --drop-metadata) to leave them out, or write .safetensors or .brine, which keep them", filePath: url.path)
            }
        }
        var byName: [ExactName: AnyTensor] = [:]
        for (n, t) in bundle.tensors { byName[ExactName(n)] = t }
        let known = Set(names.map(ExactName.init))
        if let missing = bundle.tensors.map(\.name).first(where: { !known.contains(ExactName($0)) }) {
            throw BrineError(.arrayNotFound, "the model has no initializer named '\(missing)'", filePath: url.path, arrayPath: missing)
        }
        let path = url.path
        let folder = url.deletingLastPathComponent()
        let options = self.options
        var model = proto
        try ONNXModel.visit(&model.graph, depth: 0, maxDepth: options.maxGraphDepth, path: path) { (t: inout Onnx_TensorProto) throws(BrineError) in
            let replacement: AnyTensor
            if let new = byName[ExactName(t.name)] {
                let dims = t.dims.map { Int($0) }
                guard new.shape == dims else {
                    throw BrineError(.shapeMismatch, "initializer has shape \(dims); the replacement has \(new.shape)", filePath: path, arrayPath: t.name)
                }
                guard let want = ONNXDataType.dtype(t.dataType), want == new.dtype else {
                    throw BrineError(.dtypeMismatch, "initializer is \(ONNXDataType.name(t.dataType)); the replacement is \(new.dtype.name)", filePath: path, arrayPath: t.name)
                }
                replacement = new
            } else if t.dataLocation == .external {
                replacement = try ONNXModel.array(of: t, folder: folder, options: options, path: path)
            } else {
                return
            }
            t.floatData = []; t.int32Data = []; t.int64Data = []; t.doubleData = []; t.uint64Data = []; t.stringData = []
            t.externalData = []
            t.clearDataLocation()
            t.rawData = Data(replacement.storage.bytes)
        }
        let bytes: [UInt8]
        do {
            bytes = try model.serializedBytes()
        } catch {
            throw BrineError(.invalidArgument, "the model could not be serialized: \(error)", filePath: path)
        }
        guard bytes.count <= Int(Int32.max) else {
            throw BrineError(.limitExceeded, "the model would be \(bytes.count) bytes, past protobuf's 2 GiB limit", filePath: path)
        }
        return bytes
    }

    /// Writes ``replacingInitializers(with:dropMetadata:)``'s model to `destination`
    /// atomically (a temporary file renamed over it; `fsync`ed first when
    /// `durable`, the default), so a failed or killed write leaves the old file.
    /// `dropMetadata` as in ``replacingInitializers(with:dropMetadata:)``:
    /// bundle metadata the model would not keep is refused before anything
    /// is written unless it is `true`.
    /// - Throws: the errors of ``replacingInitializers(with:dropMetadata:)``;
    ///   `.notFound` (no folder), `.permissionDenied`, `.resourceExhausted`, `.io`.
    public func writeReplacingInitializers(with bundle: TensorBundle, to destination: URL, durable: Bool = true, dropMetadata: Bool = false) throws(BrineError) {
        let bytes = try replacingInitializers(with: bundle, dropMetadata: dropMetadata)
        try writeFileAtomically(bytes, to: destination.path, durable: durable)
    }

    // MARK: Internals

    /// The whole file, read with `open`/`fstat`/`pread` (size checked against `cap` first).
    static func readFile(_ url: URL, cap: Int) throws(BrineError) -> [UInt8] {
        let (fd, size) = try RegularFile.openForReading(url.path, what: "the model file")
        defer { close(fd) }
        guard size <= cap else {
            throw BrineError(.limitExceeded, "the model file has \(size) bytes; the cap is \(cap)", filePath: url.path, byteOffset: 0)
        }
        var out = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, size - done, off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw BrineError(.io, "reading the file failed", filePath: url.path, byteOffset: UInt64(done), errno: n < 0 ? errno : nil)
            }
            done += n
        }
        return out
    }

    /// Calls `body` on every initializer of `graph` and its subgraphs (node
    /// attributes `g` and `graphs`), depth first, up to `maxDepth` levels.
    static func visit(
        _ graph: inout Onnx_GraphProto, depth: Int, maxDepth: Int, path: String,
        _ body: (inout Onnx_TensorProto) throws(BrineError) -> Void
    ) throws(BrineError) {
        guard depth <= maxDepth else {
            throw BrineError(.limitExceeded, "subgraphs nest deeper than maxGraphDepth \(maxDepth)", filePath: path)
        }
        if let s = graph.sparseInitializer.first {
            throw BrineError(.unsupportedFeature, "sparse initializers are not supported", filePath: path, arrayPath: s.values.name)
        }
        for i in graph.initializer.indices { try body(&graph.initializer[i]) }
        for n in graph.node.indices {
            for a in graph.node[n].attribute.indices {
                if graph.node[n].attribute[a].hasG {
                    try visit(&graph.node[n].attribute[a].g, depth: depth + 1, maxDepth: maxDepth, path: path, body)
                }
                for g in graph.node[n].attribute[a].graphs.indices {
                    try visit(&graph.node[n].attribute[a].graphs[g], depth: depth + 1, maxDepth: maxDepth, path: path, body)
                }
            }
        }
    }

    /// One initializer's elements as a Brine array.
    static func array(of t: Onnx_TensorProto, folder: URL, options: ONNXReadOptions, path: String) throws(BrineError) -> AnyTensor {
        let name = t.name
        guard let dtype = ONNXDataType.dtype(t.dataType) else {
            throw BrineError(.unsupportedDType, "ONNX data type \(ONNXDataType.name(t.dataType)) has no Brine dtype", filePath: path, arrayPath: name)
        }
        guard !t.hasSegment else {
            throw BrineError(.unsupportedFeature, "segmented tensors are not supported", filePath: path, arrayPath: name)
        }
        let shape = t.dims.map { Int($0) }
        guard shape.allSatisfy({ $0 >= 0 }), let count = Shape.elementCount(shape), let bytes = Shape.byteCount(shape, itemSize: dtype.itemSize) else {
            throw BrineError(.invalidInterop, "dims \(t.dims) overflow", filePath: path, arrayPath: name)
        }
        guard bytes <= options.limits.maxAllocationBytes else {
            throw BrineError(.limitExceeded, "initializer of \(bytes) bytes exceeds maxAllocationBytes \(options.limits.maxAllocationBytes)", filePath: path, arrayPath: name)
        }
        func mismatch(_ what: String, _ n: Int) -> BrineError {
            BrineError(.invalidInterop, "\(what) holds \(n) elements/bytes; dims \(shape) of \(dtype.name) need \(count) elements (\(bytes) bytes)", filePath: path, arrayPath: name)
        }
        if t.dataLocation == .external {
            return try external(t, dtype: dtype, shape: shape, bytes: bytes, folder: folder, path: path)
        }
        /// A tensor filled from `source` (exactly `bytes` bytes).
        func make(_ copyInto: (UnsafeMutableRawBufferPointer) -> Void) throws(BrineError) -> AnyTensor {
            let storage = TensorStorage(uninitializedByteCount: bytes)
            if bytes > 0 { copyInto(UnsafeMutableRawBufferPointer(start: storage.baseAddress, count: bytes)) }
            return try AnyTensor(dtype: dtype, shape: shape, storage: storage)
        }
        if t.hasRawData {
            guard t.rawData.count == bytes else { throw mismatch("raw_data", t.rawData.count) }
            return try make { dst in t.rawData.withUnsafeBytes { dst.copyMemory(from: $0) } }
        }
        // Typed fields (little-endian host: the element bytes are the values' bytes).
        func from<T>(_ values: [T], _ field: String) throws(BrineError) -> AnyTensor {
            guard values.count == count else { throw mismatch(field, values.count) }
            return try make { dst in values.withUnsafeBytes { dst.copyMemory(from: $0) } }
        }
        func narrow<T: FixedWidthInteger>(_ values: [Int32], _: T.Type) throws(BrineError) -> AnyTensor {
            guard values.count == count else { throw mismatch("int32_data", values.count) }
            for v in values where T(exactly: v) == nil && T(exactly: UInt32(bitPattern: v)) == nil {
                throw BrineError(.invalidInterop, "int32_data value \(v) does not fit \(dtype.name)", filePath: path, arrayPath: name)
            }
            let out = values.map { T(truncatingIfNeeded: $0) }
            return try make { dst in out.withUnsafeBytes { dst.copyMemory(from: $0) } }
        }
        switch dtype {
        case .float32: return try from(t.floatData, "float_data")
        case .float64: return try from(t.doubleData, "double_data")
        case .int64: return try from(t.int64Data, "int64_data")
        case .int32: return try from(t.int32Data, "int32_data")
        case .uint64: return try from(t.uint64Data, "uint64_data")
        case .uint32:
            guard t.uint64Data.count == count else { throw mismatch("uint64_data", t.uint64Data.count) }
            var out: [UInt32] = []
            out.reserveCapacity(count)
            for v in t.uint64Data {
                guard let x = UInt32(exactly: v) else {
                    throw BrineError(.invalidInterop, "uint64_data value \(v) does not fit uint32", filePath: path, arrayPath: name)
                }
                out.append(x)
            }
            return try from(out, "uint64_data")
        case .int16: return try narrow(t.int32Data, Int16.self)
        case .int8: return try narrow(t.int32Data, Int8.self)
        case .uint16, .float16, .bfloat16: return try narrow(t.int32Data, UInt16.self)
        case .uint8, .bool: return try narrow(t.int32Data, UInt8.self)
        }
    }

    /// Reads external data, refusing paths that leave the model's folder.
    static func external(_ t: Onnx_TensorProto, dtype: DType, shape: [Int], bytes: Int, folder: URL, path: String) throws(BrineError) -> AnyTensor {
        let name = t.name
        var location: String?
        var offset = 0
        var length: Int?
        for e in t.externalData {
            switch e.key {
            case "location": location = e.value
            case "offset":
                guard let v = Int(e.value), v >= 0 else { throw BrineError(.invalidInterop, "external data offset '\(e.value)' is not a byte count", filePath: path, arrayPath: name) }
                offset = v
            case "length":
                guard let v = Int(e.value), v >= 0 else { throw BrineError(.invalidInterop, "external data length '\(e.value)' is not a byte count", filePath: path, arrayPath: name) }
                length = v
            default: break  // "checksum" (SHA-1, optional) and unknown keys
            }
        }
        guard let location, !location.isEmpty else {
            throw BrineError(.invalidInterop, "external data without a location", filePath: path, arrayPath: name)
        }
        let parts = location.split(separator: "/", omittingEmptySubsequences: false)
        guard !location.hasPrefix("/"), !location.contains("\\"), !location.contains("\0"),
              !parts.contains(where: { $0 == ".." || $0.isEmpty })
        else {
            throw BrineError(.invalidInterop, "external data location '\(location)' is not a plain relative path inside the model's folder", filePath: path, arrayPath: name)
        }
        // Resolve symlinks on both sides: the data file must really be inside the folder.
        guard let root = realPath(folder.path), let target = realPath(folder.appendingPathComponent(location).path) else {
            throw BrineError(.notFound, "external data file '\(location)' does not exist", filePath: path, arrayPath: name)
        }
        guard target.hasPrefix(root == "/" ? "/" : root + "/") else {
            throw BrineError(.invalidInterop, "external data location '\(location)' leads out of the model's folder (to \(target))", filePath: path, arrayPath: name)
        }
        let need = length ?? bytes
        guard need == bytes else {
            throw BrineError(.invalidInterop, "external data length \(need) does not match dims \(shape) of \(dtype.name) (\(bytes) bytes)", filePath: path, arrayPath: name)
        }
        let fd: Int32, size: Int
        do {
            (fd, size) = try RegularFile.openForReading(target, what: "external data '\(location)'")
        } catch {
            // Not a regular file (a FIFO would have blocked the open): the model is at fault.
            throw BrineError(error.code == .invalidArgument ? .invalidInterop : error.code, error.message,
                             filePath: target, arrayPath: name, errno: error.errno)
        }
        defer { close(fd) }
        // The path was checked before the open, and a folder or link on it
        // can be swapped in between: check the file actually opened.
        guard let opened = openedPath(fd), opened.hasPrefix(root == "/" ? "/" : root + "/") else {
            throw BrineError(.invalidInterop, "external data location '\(location)' changed while it was opened and now leads out of the model's folder", filePath: path, arrayPath: name)
        }
        guard offset <= size, bytes <= size - offset else {
            throw BrineError(.truncated, "external data (\(bytes) bytes at offset \(offset)) runs past the end of '\(location)' (\(size) bytes)",
                             filePath: target, arrayPath: name, byteOffset: UInt64(min(offset, size)))
        }
        let storage = TensorStorage(uninitializedByteCount: bytes)
        var done = 0
        while done < bytes {
            let n = pread(fd, storage.baseAddress + done, bytes - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw BrineError(.io, "reading external data '\(location)' failed", filePath: target, arrayPath: name, byteOffset: UInt64(offset + done), errno: n < 0 ? errno : nil)
            }
            done += n
        }
        return try AnyTensor(dtype: dtype, shape: shape, storage: storage)
    }

    /// The path of the file open at `fd` as the kernel names it
    /// (`/proc/self/fd` on Linux, `F_GETPATH` on Darwin); `nil` when unknown.
    static func openedPath(_ fd: Int32) -> String? {
        #if os(Linux)
        var buf = [CChar](repeating: 0, count: 4097)
        let n = readlink("/proc/self/fd/\(fd)", &buf, buf.count - 1)
        guard n > 0, n < buf.count - 1 else { return nil }
        return String(decoding: buf[0 ..< n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #elseif canImport(Darwin)
        var buf = [CChar](repeating: 0, count: Int(MAXPATHLEN) + 1)
        guard fcntl(fd, F_GETPATH, &buf) == 0 else { return nil }
        return String(cString: buf)
        #else
        return nil
        #endif
    }

    static func realPath(_ p: String) -> String? {
        guard let r = realpath(p, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }
}

/// ONNX `TensorProto.DataType` numbers and their Brine dtypes.
public enum ONNXDataType {
    /// The Brine dtype of an ONNX data type, or `nil` (STRING, COMPLEX64/128,
    /// the FLOAT8 types, 4-bit types, UNDEFINED, unknown numbers).
    public static func dtype(_ dataType: Int32) -> DType? {
        switch dataType {
        case 1: return .float32
        case 2: return .uint8
        case 3: return .int8
        case 4: return .uint16
        case 5: return .int16
        case 6: return .int32
        case 7: return .int64
        case 9: return .bool
        case 10: return .float16
        case 11: return .float64
        case 12: return .uint32
        case 13: return .uint64
        case 16: return .bfloat16
        default: return nil
        }
    }

    /// The ONNX data type of a Brine dtype.
    public static func dataType(_ dtype: DType) -> Int32 {
        switch dtype {
        case .float32: return 1
        case .uint8: return 2
        case .int8: return 3
        case .uint16: return 4
        case .int16: return 5
        case .int32: return 6
        case .int64: return 7
        case .bool: return 9
        case .float16: return 10
        case .float64: return 11
        case .uint32: return 12
        case .uint64: return 13
        case .bfloat16: return 16
        }
    }

    /// The name ONNX gives a data type (`"FLOAT"`, `"INT64"`, …), or `"TYPE<n>"`.
    public static func name(_ dataType: Int32) -> String {
        let names = ["UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING", "BOOL", "FLOAT16",
                     "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ",
                     "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1"]
        return dataType >= 0 && Int(dataType) < names.count ? names[Int(dataType)] : "TYPE\(dataType)"
    }
}
