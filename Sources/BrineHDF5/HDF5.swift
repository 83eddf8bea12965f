import Brine
import CHDF5
import Foundation
import ZIPFoundation

#if canImport(Glibc)
import Glibc
#endif

/// Options for reading HDF5 files (Keras `.h5`, `.weights.h5`, `.keras`).
public struct HDF5ReadOptions: Sendable, Hashable {
    /// ``ReadLimits/maxArrays`` caps the datasets, ``ReadLimits/maxRank``
    /// their rank, ``ReadLimits/maxAllocationBytes`` one dataset's bytes.
    public var limits: ReadLimits = ReadLimits()
    /// Deepest group nesting walked. Default 64.
    public var maxGroupDepth: Int = 64
    /// Most links in one group and attributes on one object. Default 1,048,576.
    public var maxLinks: Int = 1 << 20
    /// Most elements in one attribute. Default 1,048,576.
    public var maxAttributeElements: Int = 1 << 20
    /// Largest member read from a `.keras` zip (the weights file, `config.json`). Default 16 GiB.
    public var maxKerasMemberBytes: Int = 16 << 30
    /// Name arrays by Keras layer rather than by HDF5 path (default `false`):
    /// Keras 2 `model_weights/dense/dense/kernel:0` → `dense/kernel`, Keras 3
    /// `layers/dense/vars/0` → `dense/0` (`layers/` and `vars/` dropped at every
    /// level). The HDF5 paths are kept in the metadata key ``HDF5/kerasPathsKey``
    /// (JSON `{name: path}`), which ``HDF5/write(_:to:durable:)`` follows, so the file
    /// written back has Keras' layout. A name two paths would share keeps its path.
    public var kerasNames: Bool = false
    /// Leave out attributes whose values have no exact metadata text (default
    /// `false`: they are refused with `.unsupportedFeature`). Text is exact for
    /// strings, integers of at most 8 bytes, IEEE floats of at most 8 bytes and
    /// enumerations (a `FALSE`/`TRUE` enum, h5py's bool, as JSON `false`/`true`;
    /// any other enum as its member names); compound (h5py's complex), array,
    /// variable-length, opaque, bitfield, reference and time attributes,
    /// wider numbers, and string arrays holding an element that is not UTF-8
    /// (a JSON array element has no bytes form) have none. Also left out:
    /// enum values that are no member of their enum, attributes whose names
    /// are not UTF-8 or hold an `@`, and both attributes of a metadata key
    /// met in two spellings (canonically equivalent, other code points). Set this to convert such a file's datasets
    /// without them (`brine convert --drop-metadata`, `brine inspect`).
    public var skipUnconvertibleAttributes: Bool = false

    /// The defaults.
    public init() {}
}

/// HDF5 files through the real HDF5 library (Debian libhdf5-dev, C API):
/// datasets ↔ Brine arrays, attributes → metadata.
///
/// Names: a dataset's array name is its HDF5 path without the leading `/`
/// (Keras 2: `model_weights/dense/dense/kernel:0`; Keras 3 `.weights.h5`:
/// `layers/dense/vars/0`), so that writing the bundle back gives the same
/// layout. An attribute becomes the metadata key `<object path>@<name>`
/// (`@keras_version` on the root, `model_weights@layer_names`); its text is
/// the string for a string scalar (string bytes that are not UTF-8 in
/// ``MetadataText``'s `data:` form), an enum scalar's member name, JSON for
/// anything else (numbers, arrays nested by the dataspace, h5py's bool enum
/// as `true`/`false`; a non-finite float as Python's `json` module writes it,
/// `NaN`, `Infinity`, `-Infinity`). An attribute with no exact text
/// (compound, array, opaque, a string array with an element that is not
/// UTF-8, …; see
/// ``HDF5ReadOptions/skipUnconvertibleAttributes``) is refused, never
/// replaced by a placeholder.
///
/// libhdf5's automatic error printing is turned off; its failures become
/// typed errors. All HDF5 calls are serialized by one lock (Debian's build is
/// not thread-safe).
///
/// - Important: libhdf5 itself is not safe on damaged or hostile files:
///   Debian's 1.10.8 crashes the process (SIGSEGV in `H5HG_read`) when a
///   variable-length string's global-heap object index points past its heap
///   collection (Tests/BrineTests/Fixtures/hdf5), and Brine cannot check such
///   structures without parsing HDF5 itself. Reading an untrusted file with
///   ``read(contentsOf:options:)`` or ``readKeras(contentsOf:options:)``
///   in process can therefore crash it; read such files in a separate
///   process, as the `brine` CLI does (its `inspect`, `verify` and `convert`
///   run the read in a child and turn a crash into `.invalidInterop`).
public enum HDF5 {
    /// The HDF5 signature (`\x89HDF\r\n\x1a\n`) at offset 0.
    public static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    static let lock = NSLock()

    /// The metadata key mapping readable Keras names to HDF5 paths (see ``HDF5ReadOptions/kerasNames``).
    public static let kerasPathsKey = "keras.paths"

    /// The metadata key recording the HDF5 type of every attribute whose
    /// metadata text is not simply its string (a JSON object from metadata
    /// key to type): `int8` … `int64`, `uint8` … `uint64`, `float16`,
    /// `float32`, `float64`, `bool` (h5py's bool enum), `string` (an array
    /// of strings), `enum` (member names). ``write(_:to:durable:dropMetadata:)``
    /// writes such keys back with that type and the JSON's shape (a number is
    /// a scalar, nested arrays give the dimensions), so an int attribute
    /// stays an int; an `enum` (whose type it cannot rebuild) is refused
    /// unless `dropMetadata`. Keys without a record are string attributes.
    public static let attributeTypesKey = "hdf5.attribute_types"

    /// The readable name of a Keras weight path, or `nil` when it is not one.
    static func kerasName(_ path: String) -> String? {
        var parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.first == "model_weights", parts.count >= 3 {
            // Keras 2: model_weights/<layer>/<layer>/<weight>:0 (the layer name repeats).
            parts.removeFirst()
            if parts.count >= 3, parts[1] == parts[0] { parts.remove(at: 1) }
            if let last = parts.last, last.hasSuffix(":0") { parts[parts.count - 1] = String(last.dropLast(2)) }
            return parts.joined(separator: "/")
        }
        if parts.first == "layers" || parts.contains("vars") {
            // Keras 3: layers/<layer>/[layers/<inner>/…]vars/<index>.
            let kept = parts.filter { $0 != "layers" && $0 != "vars" }
            return kept.isEmpty || kept.count == parts.count ? nil : kept.joined(separator: "/")
        }
        return nil
    }

    /// Renames a bundle's arrays to readable Keras names, recording the paths.
    static func applyKerasNames(_ bundle: inout TensorBundle) {
        var count: [String: Int] = [:]
        for (p, _) in bundle.tensors { if let n = kerasName(p) { count[n, default: 0] += 1 } }
        let taken = Set(bundle.tensors.map(\.name))
        var map: [(String, String)] = []
        for i in bundle.tensors.indices {
            let p = bundle.tensors[i].name
            guard let n = kerasName(p), count[n] == 1, n == p || !taken.contains(n) else { continue }
            bundle.tensors[i].name = n
            map.append((n, p))
        }
        let object = Dictionary(map, uniquingKeysWith: { a, _ in a })
        if let d = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
            bundle.metadata[kerasPathsKey] = String(decoding: d, as: UTF8.self)
        }
    }

    /// Reads every dataset and attribute of an HDF5 file.
    /// - Parameters:
    ///   - url: the file.
    ///   - options: caps.
    /// - Returns: the datasets in name order (depth first, links sorted by
    ///   name as HDF5 indexes them) and the attributes as metadata.
    /// - Throws: ``BrineError`` `.notFound`; `.invalidArgument` (not a regular
    ///   file: a FIFO, device or directory); `.invalidInterop` (not an HDF5
    ///   file, or libhdf5 fails on it: the message names the object);
    ///   `.unsupportedDType` (a dataset of strings, compounds, references,
    ///   bfloat16, …, named by its path); `.decompressionFailed` (a filter
    ///   that fails or is not available, such as h5py's lzf); `.limitExceeded`.
    public static func read(contentsOf url: URL, options: HDF5ReadOptions = .init()) throws(BrineError) -> TensorBundle {
        // libhdf5 opens the path itself: a FIFO would block its open forever.
        try RegularFile.check(url.path)
        lock.lock()
        defer { lock.unlock() }
        silenceErrors()
        let fid = H5Fopen(url.path, brine_h5f_acc_rdonly(), brine_h5p_default())
        guard fid >= 0 else {
            throw BrineError(.invalidInterop, "libhdf5 cannot open this file as HDF5", filePath: url.path, byteOffset: 0)
        }
        defer { H5Fclose(fid) }
        var reader = Reader(path: url.path, options: options)
        try reader.walk(fid, path: "", depth: 0)
        var bundle = TensorBundle(tensors: reader.tensors, metadata: reader.metadata)
        if !reader.attributeTypes.isEmpty,
           let d = try? JSONSerialization.data(withJSONObject: reader.attributeTypes, options: [.sortedKeys, .withoutEscapingSlashes]) {
            bundle.metadata[attributeTypesKey] = String(decoding: d, as: UTF8.self)
        }
        if options.kerasNames { applyKerasNames(&bundle) }
        return bundle
    }

    /// Reads a Keras 3 `.keras` file (a zip): the arrays and attributes of
    /// its `model.weights.h5` (as ``read(contentsOf:options:)``), plus
    /// `config.json` and `metadata.json` as the metadata keys `keras.config`
    /// and `keras.metadata`.
    /// - Throws: ``BrineError`` `.notFound`, `.invalidArgument` (not a regular
    ///   file), `.invalidInterop` (not a zip, no `model.weights.h5`), `.limitExceeded` (a member over
    ///   ``HDF5ReadOptions/maxKerasMemberBytes``), `.io`, and the errors of
    ///   ``read(contentsOf:options:)``.
    public static func readKeras(contentsOf url: URL, options: HDF5ReadOptions = .init()) throws(BrineError) -> TensorBundle {
        // ZIPFoundation opens the path itself: a FIFO would block its open forever.
        try RegularFile.check(url.path)
        let archive: Archive
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch {
            throw BrineError(.invalidInterop, "not a .keras zip archive: \(error)", filePath: url.path, byteOffset: 0)
        }
        guard let weights = archive["model.weights.h5"] else {
            throw BrineError(.invalidInterop, "the .keras archive has no model.weights.h5", filePath: url.path, byteOffset: 0)
        }
        func check(_ e: Entry) throws(BrineError) {
            guard e.uncompressedSize <= UInt64(options.maxKerasMemberBytes) else {
                throw BrineError(.limitExceeded, "\(e.path) declares \(e.uncompressedSize) bytes; the cap is \(options.maxKerasMemberBytes)", filePath: url.path)
            }
        }
        try check(weights)
        let temp = try TemporaryFolder(prefix: "brine-keras-\(getpid())")
        defer { temp.remove() }
        let h5 = temp.url.appendingPathComponent("model.weights.h5")
        do {
            _ = try archive.extract(weights, to: h5)
        } catch {
            throw BrineError(.invalidInterop, "cannot extract model.weights.h5: \(error)", filePath: url.path)
        }
        var bundle = try read(contentsOf: h5, options: options)
        for (member, key) in [("config.json", "keras.config"), ("metadata.json", "keras.metadata")] {
            guard let e = archive[member] else { continue }
            try check(e)
            var data = Data()
            do {
                _ = try archive.extract(e, consumer: { data.append($0) })
            } catch {
                throw BrineError(.invalidInterop, "cannot extract \(member): \(error)", filePath: url.path)
            }
            bundle.metadata[key] = String(decoding: data, as: UTF8.self)
        }
        return bundle
    }

    /// Writes a bundle as a plain HDF5 file, atomically: each array a
    /// contiguous dataset at its name (groups created along the path; h5py's
    /// float16 and bool types), and each metadata key `<object path>@<name>`
    /// an attribute on that object (the root group for an empty object path;
    /// a group is created for a path no dataset creates), as
    /// ``read(contentsOf:options:)`` reads them back: of the type
    /// ``attributeTypesKey`` records for the key (an int, float, bool or
    /// string array attribute with the JSON text's shape, checked to hold
    /// every value exactly), else a UTF-8 string. Metadata HDF5 cannot
    /// keep (a key without `@`, an empty attribute name such as a recorded
    /// link's `<path>@`, an object under a dataset, a NUL byte in an
    /// attribute's name or value, which libhdf5 would cut there, an `enum`
    /// attribute whose type cannot be rebuilt) and a Brine model's object
    /// tree are refused unless `dropMetadata` says to leave them out; a
    /// text that is not a value of its recorded type is `.invalidArgument`.
    /// An array named in the metadata key ``kerasPathsKey`` is written at
    /// the HDF5 path recorded there (Keras' layout, see ``HDF5ReadOptions/kerasNames``).
    /// The file is replaced atomically (a temporary renamed over it) and,
    /// when `durable` (the default), `fsync`ed first, like every Brine writer.
    /// - Throws: ``BrineError`` `.unsupportedDType` (bfloat16: HDF5 and h5py
    ///   have no such type), `.invalidArgument` (a name HDF5 would not keep:
    ///   empty, `.` or `..` components, a leading or trailing `/`, a NUL; one
    ///   array's name being another's group; an invalid `keras.paths`; a
    ///   destination that is not a regular file), `.unsupportedFeature`
    ///   (metadata or an object tree HDF5 cannot keep, without
    ///   `dropMetadata`), `.io`. Nothing is written when it throws before libhdf5 runs.
    public static func write(_ bundle: TensorBundle, to url: URL, durable: Bool = true, dropMetadata: Bool = false) throws(BrineError) {
        // By code points: a [String: String] from JSONSerialization merged
        // "\u{E9}" and "e\u{301}", placing one array at the other's path.
        var paths: [ExactName: String] = [:]
        if let text = bundle.metadata[kerasPathsKey] {
            guard let object = try? jsonStringObject(text) else {
                throw BrineError(.invalidArgument, "metadata '\(kerasPathsKey)' is not a JSON object of strings", filePath: url.path)
            }
            for (k, v) in object { paths[ExactName(k)] = v }
        }
        if let bf = bundle.tensors.first(where: { $0.tensor.dtype == .bfloat16 }) {
            throw BrineError(.unsupportedDType, "HDF5 (and h5py) have no bfloat16", filePath: url.path, arrayPath: bf.name)
        }
        for (name, _) in bundle.tensors { try checkDatasetName(paths[ExactName(name)] ?? name, path: url.path) }
        let datasetPaths = bundle.tensors.map { paths[ExactName($0.name)] ?? $0.name }
        let types = try attributeTypes(bundle, path: url.path)
        let (unkept, groups, tree) = contentHDF5CannotHold(bundle, datasetPaths: datasetPaths)
        if !dropMetadata && (!unkept.isEmpty || tree) {
            let what = TensorBundle.describeUnkept(keys: unkept, tree: tree)
            throw BrineError(.unsupportedFeature, "HDF5 keeps metadata only as attributes '<object path>@<name>' of written objects (typed as hdf5.attribute_types records, else strings); this bundle also has \(what). Set dropMetadata (brine convert --drop-metadata) to leave them out, or write safetensors or Brine, which keep them", filePath: url.path)
        }
        let unkeptKeys = Set(unkept)
        // Typed attributes parsed before libhdf5 runs: a text that is not
        // exactly a value of its recorded type is refused, never clamped.
        var typed: [String: TypedAttribute] = [:]
        for (key, type) in types where bundle.metadata[key] != nil && !unkeptKeys.contains(key) {
            typed[key] = try TypedAttribute(text: bundle.metadata[key]!, type: type, key: key, path: url.path)
        }
        lock.lock()
        defer { lock.unlock() }
        silenceErrors()
        // libhdf5 writes the temporary by its path; AtomicFile creates it
        // (O_EXCL), fsyncs it once libhdf5 has closed it, and renames it.
        try replaceFileAtomically(at: url.path, durable: durable) { temp throws(BrineError) in
            let fid = H5Fcreate(temp, brine_h5f_acc_trunc(), brine_h5p_default(), brine_h5p_default())
            guard fid >= 0 else { throw BrineError(.io, "libhdf5 cannot create the file", filePath: temp) }
            defer { H5Fclose(fid) }
            let lcpl = H5Pcreate(brine_h5p_link_create())
            defer { H5Pclose(lcpl) }
            H5Pset_create_intermediate_group(lcpl, 1)
            for (name, t) in bundle.tensors {
                try writeDataset(fid, name: paths[ExactName(name)] ?? name, tensor: t, lcpl: lcpl, path: url.path)
            }
            // Groups that only attributes name (sorted: parents first; intermediate ones made by lcpl).
            for g in groups where H5Lexists(fid, g, brine_h5p_default()) <= 0 {
                let gid = H5Gcreate2(fid, g, lcpl, brine_h5p_default(), brine_h5p_default())
                guard gid >= 0 else { throw BrineError(.io, "libhdf5 cannot create the group '\(g)' for its attributes", filePath: url.path) }
                H5Gclose(gid)
            }
            for key in bundle.metadata.keys.sorted() where !unkeptKeys.contains(key) {
                // Checked above: a key with '@', a written object, no NUL.
                guard let (objectPath, attr) = attributeKey(key) else { continue }
                let target = objectPath.isEmpty ? "/" : objectPath
                let oid = H5Oopen(fid, target, brine_h5p_default())
                guard oid >= 0 else { throw BrineError(.io, "libhdf5 cannot open '\(target)' to write its attribute '\(attr)'", filePath: url.path) }
                defer { H5Oclose(oid) }
                guard let text = attributeString(bundle.metadata[key]!) else { continue }  // checked above
                if let t = typed[key] {
                    try t.write(oid, name: attr, path: url.path)
                } else {
                    try writeStringAttribute(oid, name: attr, value: text, path: url.path)
                }
            }
            guard H5Fflush(fid, H5F_SCOPE_GLOBAL) >= 0 else { throw BrineError(.io, "libhdf5 failed to flush the file", filePath: temp) }
        }
    }

    /// The metadata keys of `bundle` that ``write(_:to:durable:dropMetadata:)``
    /// cannot store as attributes, sorted; the groups it must create to hold
    /// the others (attributes of objects no dataset creates, such as Keras 3's
    /// `vars` group of a layer without weights); and whether the bundle has an
    /// object tree (a Brine model's structure) HDF5 has no place for.
    /// ``kerasPathsKey`` is kept: it places the datasets.
    /// - Parameter datasetPaths: the HDF5 path of every array to be written.
    static func contentHDF5CannotHold(_ bundle: TensorBundle, datasetPaths: [String])
        -> (metadataKeys: [String], groups: [String], objectTree: Bool) {
        // The objects the datasets create: each dataset and every group on its
        // path. By code points, as HDF5 compares link names: "\u{E9}" and
        // "e\u{301}" are two objects.
        let datasets = Set(datasetPaths.map { ExactName($0.split(separator: "/").joined(separator: "/")) })
        var objects: Set<ExactName> = [ExactName("")]
        for p in datasets {
            let parts = p.string.split(separator: "/")
            for k in 1 ... Swift.max(1, parts.count) { objects.insert(ExactName(parts.prefix(k).joined(separator: "/"))) }
        }
        var unkept: [String] = []
        var groups: Set<ExactName> = []
        let enums = Set(((try? attributeTypes(bundle, path: nil)) ?? [:]).filter { $0.value == "enum" }.keys)
        for key in bundle.metadata.keys.sorted() where key != kerasPathsKey && key != attributeTypesKey {
            // An enum attribute's member names: its enum type cannot be rebuilt.
            if enums.contains(key) {
                unkept.append(key)
                continue
            }
            guard let (objectPath, attr) = attributeKey(key), !attr.isEmpty, !objectPath.contains("@"),
                  !attr.utf8.contains(0), let text = attributeString(bundle.metadata[key]!), !text.utf8.contains(0)
            else {
                // No '@' (a recorded link's key ends in '@'), more than one (which
                // split is meant?), a NUL libhdf5 would cut at, or a value that is
                // not a string (bytes or another value in MetadataText's data: form).
                unkept.append(key)
                continue
            }
            let parts = objectPath.split(separator: "/", omittingEmptySubsequences: true)
            let object = parts.joined(separator: "/")
            // Only the reader's own spelling of a path: "/w@a" and "w/@a" would
            // write over "w@a"'s attribute.
            guard object.isSameName(as: objectPath) else {
                unkept.append(key)
                continue
            }
            if objects.contains(ExactName(object)) { continue }
            // A group can be made unless a name is not one HDF5 keeps or a
            // dataset lies on its path (a dataset holds no members).
            let prefixes = (1 ... parts.count).map { parts.prefix($0).joined(separator: "/") }
            guard !parts.contains(where: { $0 == "." || $0 == ".." }), !objectPath.utf8.contains(0),
                  !prefixes.contains(where: { datasets.contains(ExactName($0)) })
            else {
                unkept.append(key)
                continue
            }
            groups.insert(ExactName(object))
        }
        // Parents first: a path's prefix sorts before it.
        let sortedGroups = groups.map(\.string).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return (unkept, sortedGroups, bundle.contentNumPyCannotHold().objectTree)
    }

    /// The string a metadata text stands for (``MetadataText``: escaped
    /// strings unescaped), or `nil` when it stands for bytes or another
    /// value, which a string attribute would not keep.
    static func attributeString(_ text: String) -> String? {
        guard case .string(let s)? = try? MetadataText.value(from: text, key: "") else { return nil }
        return s
    }

    /// Splits `<object path>@<attribute>` at its last `@`; `nil` without one.
    static func attributeKey(_ key: String) -> (objectPath: String, attribute: String)? {
        guard let at = key.lastIndex(of: "@") else { return nil }
        return (String(key[..<at]), String(key[key.index(after: at)...]))
    }

    // MARK: Internals

    static func silenceErrors() {
        H5Eset_auto2(brine_h5e_default(), nil, nil)
    }

    /// The file datatype of a dtype (little-endian; h5py's float16 and bool enum).
    /// The caller closes it.
    static func fileType(_ dtype: DType) -> hid_t {
        switch dtype {
        case .float32: return H5Tcopy(brine_h5t_ieee_f32le())
        case .float64: return H5Tcopy(brine_h5t_ieee_f64le())
        case .int8: return H5Tcopy(brine_h5t_std_i8le())
        case .int16: return H5Tcopy(brine_h5t_std_i16le())
        case .int32: return H5Tcopy(brine_h5t_std_i32le())
        case .int64: return H5Tcopy(brine_h5t_std_i64le())
        case .uint8: return H5Tcopy(brine_h5t_std_u8le())
        case .uint16: return H5Tcopy(brine_h5t_std_u16le())
        case .uint32: return H5Tcopy(brine_h5t_std_u32le())
        case .uint64: return H5Tcopy(brine_h5t_std_u64le())
        case .float16, .bfloat16:
            // IEEE half, as h5py creates it (bfloat16 is refused before this).
            let t = H5Tcopy(brine_h5t_ieee_f32le())
            H5Tset_fields(t, 15, 10, 5, 0, 10)
            H5Tset_size(t, 2)
            H5Tset_ebias(t, 15)
            return t
        case .bool:
            let t = H5Tenum_create(brine_h5t_std_i8le())
            var f: Int8 = 0, tr: Int8 = 1
            H5Tenum_insert(t, "FALSE", &f)
            H5Tenum_insert(t, "TRUE", &tr)
            return t
        }
    }

    /// Refuses an array name HDF5 would store under another path: libhdf5
    /// resolves `a/./b`, `a//b`, `/a` and `a/` to `a/b`, `a/b`, `a` and `a`,
    /// and a C string ends at a NUL, so the array would come back renamed.
    /// - Throws: ``BrineError`` `.invalidArgument` naming the array.
    static func checkDatasetName(_ name: String, path: String) throws(BrineError) {
        let components = name.split(separator: "/", omittingEmptySubsequences: false)
        if name.utf8.contains(0) || components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
            throw BrineError(.invalidArgument, "HDF5 cannot keep the array name '\(name.debugDescription.dropFirst().dropLast())': a leading, trailing or doubled '/', a '.' or '..' component, or a NUL byte would make libhdf5 store it under another path",
                             filePath: path, arrayPath: name)
        }
    }

    static func writeDataset(_ fid: hid_t, name: String, tensor t: AnyTensor, lcpl: hid_t, path: String) throws(BrineError) {
        let space: hid_t
        if t.shape.isEmpty {
            space = H5Screate(H5S_SCALAR)
        } else {
            let dims = t.shape.map { hsize_t($0) }
            space = H5Screate_simple(Int32(dims.count), dims, nil)
        }
        defer { H5Sclose(space) }
        let type = fileType(t.dtype)
        defer { H5Tclose(type) }
        let d = H5Dcreate2(fid, name, type, space, lcpl, brine_h5p_default(), brine_h5p_default())
        guard d >= 0 else {
            throw BrineError(.invalidArgument, "libhdf5 cannot create a dataset named '\(name)' (a name that is also a group, or empty path components?)", filePath: path, arrayPath: name)
        }
        defer { H5Dclose(d) }
        if t.byteCount > 0 {
            guard H5Dwrite(d, type, brine_h5s_all(), brine_h5s_all(), brine_h5p_default(), t.storage.baseAddress) >= 0 else {
                throw BrineError(.io, "libhdf5 failed to write the dataset", filePath: path, arrayPath: name)
            }
        }
        withExtendedLifetime(t.storage) {}
    }

    /// The recorded attribute types (``attributeTypesKey``) by metadata key.
    /// - Throws: `.invalidArgument` when the record is not a JSON object of strings.
    static func attributeTypes(_ bundle: TensorBundle, path: String?) throws(BrineError) -> [String: String] {
        guard let text = bundle.metadata[attributeTypesKey] else { return [:] }
        guard let object = try? jsonStringObject(text) else {
            throw BrineError(.invalidArgument, "metadata '\(attributeTypesKey)' is not a JSON object of strings", filePath: path)
        }
        var out: [String: String] = [:]
        for (k, v) in object {
            // Exactly the metadata's spelling of the key (by code points).
            guard let i = bundle.metadata.index(forKey: k), bundle.metadata.keys[i].isSameName(as: k) else { continue }
            out[k] = v
        }
        return out
    }

    static func writeStringAttribute(_ oid: hid_t, name: String, value: String, path: String) throws(BrineError) {
        let type = H5Tcopy(brine_h5t_c_s1())
        defer { H5Tclose(type) }
        H5Tset_size(type, brine_h5t_variable())
        H5Tset_cset(type, H5T_CSET_UTF8)
        let space = H5Screate(H5S_SCALAR)
        defer { H5Sclose(space) }
        if H5Aexists(oid, name) > 0 { H5Adelete(oid, name) }
        let a = H5Acreate2(oid, name, type, space, brine_h5p_default(), brine_h5p_default())
        guard a >= 0 else { throw BrineError(.io, "libhdf5 cannot create attribute '\(name)'", filePath: path) }
        defer { H5Aclose(a) }
        let ok = value.withCString { c -> Bool in
            var p: UnsafePointer<CChar>? = c
            return H5Awrite(a, type, &p) >= 0
        }
        guard ok else { throw BrineError(.io, "libhdf5 cannot write attribute '\(name)'", filePath: path) }
    }
}

/// The recursive walk over one open file (called with ``HDF5/lock`` held).
struct Reader {
    let path: String
    let options: HDF5ReadOptions
    var tensors: [(name: String, tensor: AnyTensor)] = []
    var metadata: [String: String] = [:]
    /// Metadata keys (by Swift `String` equality, i.e. canonical
    /// equivalence) met in two spellings and left out under
    /// ``HDF5ReadOptions/skipUnconvertibleAttributes``: a third spelling is
    /// left out too.
    var ambiguousKeys: Set<String> = []
    /// The HDF5 type of every attribute whose text is not simply its string
    /// (see ``HDF5/attributeTypesKey``), by metadata key.
    var attributeTypes: [String: String] = [:]

    /// The type name ``HDF5/attributeTypesKey`` records for an attribute;
    /// `nil` for a string scalar (its text is the string itself).
    func attributeTypeName(_ oid: hid_t, name: String) -> String? {
        let a = H5Aopen(oid, name, brine_h5p_default())
        guard a >= 0 else { return nil }
        defer { H5Aclose(a) }
        let type = H5Aget_type(a), space = H5Aget_space(a)
        defer { H5Tclose(type); H5Sclose(space) }
        let scalar = H5Sget_simple_extent_type(space) == H5S_SCALAR
        let bits = H5Tget_size(type) * 8
        switch H5Tget_class(type) {
        case H5T_STRING: return scalar ? nil : "string"
        case H5T_INTEGER: return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + String(bits)
        case H5T_FLOAT: return "float" + String(bits)
        case H5T_ENUM: return Set(enumMembers(type).map(\.name)) == ["FALSE", "TRUE"] ? "bool" : "enum"
        default: return nil
        }
    }
    /// The first path each object was reached by (a second hard link is recorded, not converted twice).
    var visited: [haddr_t: String] = [:]

    init(path: String, options: HDF5ReadOptions) {
        self.path = path
        self.options = options
    }

    func fail(_ code: BrineError.Code, _ message: String, _ object: String) -> BrineError {
        BrineError(code, message, filePath: path, arrayPath: object.isEmpty ? "/" : object)
    }

    mutating func walk(_ gid: hid_t, path group: String, depth: Int) throws(BrineError) {
        guard depth <= options.maxGroupDepth else {
            throw fail(.limitExceeded, "groups nest deeper than maxGroupDepth \(options.maxGroupDepth)", group)
        }
        try readAttributes(gid, object: group)
        var info = H5G_info_t()
        guard H5Gget_info(gid, &info) >= 0 else { throw fail(.invalidInterop, "libhdf5 cannot read the group", group) }
        guard info.nlinks <= hsize_t(options.maxLinks) else {
            throw fail(.limitExceeded, "the group has \(info.nlinks) links; the cap is \(options.maxLinks)", group)
        }
        for i in 0 ..< info.nlinks {
            let n = H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, brine_h5p_default())
            guard n >= 0, n < 65536 else { throw fail(.invalidInterop, "libhdf5 cannot read link \(i)'s name", group) }
            var buf = [CChar](repeating: 0, count: Int(n) + 1)
            guard H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buf, Int(n) + 1, brine_h5p_default()) >= 0 else {
                throw fail(.invalidInterop, "libhdf5 cannot read link \(i)'s name", group)
            }
            // A name that is not UTF-8 would come out with U+FFFD in place of its bytes: renamed.
            guard let name = String(validating: buf.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self) else {
                throw fail(.invalidInterop, "link \(i)'s name is not UTF-8; it cannot be kept as an array name", group)
            }
            let child = group.isEmpty ? name : group + "/" + name
            var link = H5L_info_t()
            guard H5Lget_info(gid, buf, &link, brine_h5p_default()) >= 0 else { throw fail(.invalidInterop, "libhdf5 cannot read the link", child) }
            guard link.type == H5L_TYPE_HARD else {
                // Soft and external links are not followed (an external link opens another file).
                metadata[child + "@"] = link.type == H5L_TYPE_SOFT ? "soft link (not followed)" : "external link (not followed)"
                continue
            }
            if let first = visited[link.u.address] {
                // A second hard link to one object: converted once, under its first name; this name is recorded.
                metadata[child + "@"] = "hard link to \(first) (converted once, under that name)"
                continue
            }
            visited[link.u.address] = child
            let oid = H5Oopen(gid, buf, brine_h5p_default())
            guard oid >= 0 else { throw fail(.invalidInterop, "libhdf5 cannot open the object", child) }
            defer { H5Oclose(oid) }
            switch H5Iget_type(oid) {
            case H5I_GROUP: try walk(oid, path: child, depth: depth + 1)
            case H5I_DATASET: try readDataset(oid, name: child)
            default: metadata[child + "@"] = "named datatype (not converted)"
            }
        }
    }

    /// The Brine dtype and memory type for a dataset's file type; the caller closes the memory type.
    func memoryType(_ ftype: hid_t, name: String) throws(BrineError) -> (DType, hid_t) {
        let size = H5Tget_size(ftype)
        switch H5Tget_class(ftype) {
        case H5T_INTEGER:
            let signed = H5Tget_sign(ftype) == H5T_SGN_2
            switch (size, signed) {
            case (1, true): return (.int8, H5Tcopy(brine_h5t_std_i8le()))
            case (2, true): return (.int16, H5Tcopy(brine_h5t_std_i16le()))
            case (4, true): return (.int32, H5Tcopy(brine_h5t_std_i32le()))
            case (8, true): return (.int64, H5Tcopy(brine_h5t_std_i64le()))
            case (1, false): return (.uint8, H5Tcopy(brine_h5t_std_u8le()))
            case (2, false): return (.uint16, H5Tcopy(brine_h5t_std_u16le()))
            case (4, false): return (.uint32, H5Tcopy(brine_h5t_std_u32le()))
            case (8, false): return (.uint64, H5Tcopy(brine_h5t_std_u64le()))
            default: break
            }
        case H5T_FLOAT:
            var spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0
            H5Tget_fields(ftype, &spos, &epos, &esize, &mpos, &msize)
            switch (size, spos, epos, esize, mpos, msize, H5Tget_ebias(ftype)) {
            case (4, 31, 23, 8, 0, 23, 127): return (.float32, H5Tcopy(brine_h5t_ieee_f32le()))
            case (8, 63, 52, 11, 0, 52, 1023): return (.float64, H5Tcopy(brine_h5t_ieee_f64le()))
            case (2, 15, 10, 5, 0, 10, 15): return (.float16, HDF5.fileType(.float16))
            default: break
            }
        case H5T_ENUM:
            // h5py's bool: an enum of int8 with FALSE = 0 and TRUE = 1.
            if size == 1, H5Tget_nmembers(ftype) == 2 {
                var f: Int8 = -1, t: Int8 = -1
                if H5Tenum_valueof(ftype, "FALSE", &f) >= 0, H5Tenum_valueof(ftype, "TRUE", &t) >= 0, f == 0, t == 1 {
                    return (.bool, HDF5.fileType(.bool))
                }
            }
        default: break
        }
        throw fail(.unsupportedDType, "the dataset's HDF5 type (class \(H5Tget_class(ftype).rawValue), \(size) bytes) has no Brine dtype", name)
    }

    mutating func readDataset(_ d: hid_t, name: String) throws(BrineError) {
        guard tensors.count < options.limits.maxArrays else {
            throw fail(.limitExceeded, "more than maxArrays \(options.limits.maxArrays) datasets", name)
        }
        // The data must be in this file: libhdf5 follows a dataset's external
        // raw files (H5Pset_external: any path, relative to the working
        // directory) and a virtual dataset's source files by itself, so a
        // hostile .h5 could make it read /etc/passwd into an array.
        let dcpl = H5Dget_create_plist(d)
        guard dcpl >= 0 else { throw fail(.invalidInterop, "libhdf5 cannot read the dataset's creation properties", name) }
        defer { H5Pclose(dcpl) }
        let layout = H5Pget_layout(dcpl)
        guard layout != H5D_LAYOUT_ERROR else { throw fail(.invalidInterop, "libhdf5 cannot read the dataset's layout", name) }
        guard layout != H5D_VIRTUAL else {
            throw fail(.unsupportedFeature, "a virtual dataset (its data is drawn from other files, which Brine does not open)", name)
        }
        guard H5Pget_external_count(dcpl) == 0 else {
            throw fail(.unsupportedFeature, "the dataset's data is in external raw files (H5Pset_external), which Brine does not open", name)
        }
        let space = H5Dget_space(d)
        guard space >= 0 else { throw fail(.invalidInterop, "libhdf5 cannot read the dataspace", name) }
        defer { H5Sclose(space) }
        let shape: [Int]
        switch H5Sget_simple_extent_type(space) {
        case H5S_SCALAR: shape = []
        case H5S_SIMPLE:
            let rank = Int(H5Sget_simple_extent_ndims(space))
            guard rank >= 0, rank <= options.limits.maxRank else { throw fail(.limitExceeded, "rank \(rank) exceeds maxRank \(options.limits.maxRank)", name) }
            var dims = [hsize_t](repeating: 0, count: rank)
            guard H5Sget_simple_extent_dims(space, &dims, nil) == Int32(rank) else { throw fail(.invalidInterop, "libhdf5 cannot read the dims", name) }
            guard dims.allSatisfy({ $0 <= hsize_t(Int.max) }) else { throw fail(.invalidInterop, "a dimension overflows", name) }
            shape = dims.map { Int($0) }
        default:
            throw fail(.unsupportedFeature, "the dataset has a null dataspace (no elements, no shape)", name)
        }
        let ftype = H5Dget_type(d)
        guard ftype >= 0 else { throw fail(.invalidInterop, "libhdf5 cannot read the datatype", name) }
        defer { H5Tclose(ftype) }
        let (dtype, mtype) = try memoryType(ftype, name: name)
        defer { H5Tclose(mtype) }
        guard let bytes = Shape.byteCount(shape, itemSize: dtype.itemSize) else { throw fail(.invalidInterop, "the size overflows", name) }
        guard bytes <= options.limits.maxAllocationBytes else {
            throw fail(.limitExceeded, "the dataset has \(bytes) bytes; maxAllocationBytes is \(options.limits.maxAllocationBytes)", name)
        }
        let storage = TensorStorage(uninitializedByteCount: bytes)
        if bytes > 0 {
            guard H5Dread(d, mtype, brine_h5s_all(), brine_h5s_all(), brine_h5p_default(), storage.baseAddress) >= 0 else {
                throw fail(.decompressionFailed, "libhdf5 failed to read the dataset (damaged data, or a filter that is not available)", name)
            }
        }
        tensors.append((name, try AnyTensor(dtype: dtype, shape: shape, storage: storage)))
        try readAttributes(d, object: name)
    }

    mutating func readAttributes(_ oid: hid_t, object: String) throws(BrineError) {
        final class Names { var list: [String] = []; var cap = 0; var notUTF8 = false }
        let names = Names()
        names.cap = options.maxLinks
        var idx: hsize_t = 0
        let status = withExtendedLifetime(names) {
            H5Aiterate2(oid, H5_INDEX_NAME, H5_ITER_INC, &idx, { _, name, _, op in
                let n = Unmanaged<Names>.fromOpaque(op!).takeUnretainedValue()
                guard n.list.count < n.cap, let name else { return -1 }
                // A name that is not UTF-8 cannot be a String key without a
                // replacement character: recorded, and refused (or left out) below.
                guard let s = String(validatingCString: name) else { n.notUTF8 = true; return 0 }
                n.list.append(s)
                return 0
            }, Unmanaged.passUnretained(names).toOpaque())
        }
        if names.notUTF8 && !options.skipUnconvertibleAttributes {
            throw fail(.invalidInterop, "an attribute name is not UTF-8; it cannot be a metadata key as it is (HDF5ReadOptions.skipUnconvertibleAttributes, brine convert --drop-metadata, leaves such attributes out)", object)
        }
        guard status >= 0 else { throw fail(.limitExceeded, "libhdf5 cannot list the attributes, or there are more than \(options.maxLinks)", object) }
        for a in names.list {
            let key = object + "@" + a
            // '<object>@<attribute>' splits at one '@': with another in either
            // name, two attributes could share a key (dataset 'w' attribute
            // 'x@y', dataset 'w@x' attribute 'y') or write back elsewhere.
            if a.contains("@") || object.contains("@") {
                if options.skipUnconvertibleAttributes { continue }
                throw fail(.unsupportedFeature, "attribute \(Value.quoted(a)) of \(Value.quoted(object)): an '@' in the attribute's or the object's name makes its metadata key '<object>@<attribute>' ambiguous; HDF5ReadOptions.skipUnconvertibleAttributes (brine convert --drop-metadata) leaves such attributes out", object)
            }
            // Two spellings a [String: String] would merge (one value lost):
            // refused, or both left out (which one was meant is unknown).
            if options.skipUnconvertibleAttributes {
                if ambiguousKeys.contains(key) { continue }
                if let other = metadata.otherSpelling(of: key) {
                    metadata.removeValue(forKey: other)
                    attributeTypes.removeValue(forKey: other)
                    ambiguousKeys.insert(key)
                    continue
                }
            }
            try metadata.refuseOtherSpelling(of: key, names: "attributes", holder: "a bundle's metadata") { fail(.unsupportedFeature, $0, object) }
            guard let text = try attributeText(oid, name: a, object: object) else { continue }
            metadata[key] = text
            if let type = attributeTypeName(oid, name: a) { attributeTypes[key] = type }
        }
    }

    /// The metadata text of one attribute (see ``HDF5`` for the forms), or
    /// `nil` when it has none and ``HDF5ReadOptions/skipUnconvertibleAttributes``
    /// is set.
    /// - Throws: `.unsupportedFeature` for a value with no exact text (unless
    ///   skipped), `.invalidInterop` for an enum value that is no member,
    ///   `.limitExceeded` past ``HDF5ReadOptions/maxAttributeElements``.
    func attributeText(_ oid: hid_t, name: String, object: String) throws(BrineError) -> String? {
        let where_ = object + "@" + name
        let a = H5Aopen(oid, name, brine_h5p_default())
        guard a >= 0 else { throw fail(.invalidInterop, "libhdf5 cannot open the attribute", where_) }
        defer { H5Aclose(a) }
        let type = H5Aget_type(a), space = H5Aget_space(a)
        defer { H5Tclose(type); H5Sclose(space) }
        guard type >= 0, space >= 0 else { throw fail(.invalidInterop, "libhdf5 cannot read the attribute", where_) }
        let count = H5Sget_simple_extent_npoints(space)
        guard count >= 0, count <= Int64(options.maxAttributeElements) else {
            throw fail(.limitExceeded, "the attribute has \(count) elements; the cap is \(options.maxAttributeElements)", where_)
        }
        let n = Int(count)
        let spaceKind = H5Sget_simple_extent_type(space)
        let scalar = spaceKind == H5S_SCALAR
        // The dataspace's dimensions: an array attribute's JSON nests like
        // them (shape [2, 2] → [[a, b], [c, d]]; [2, 0] → [[], []]).
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard spaceKind != H5S_NULL, rank >= 0, rank <= 32 else {
            // h5py.Empty: no value, which no text stands for exactly.
            if options.skipUnconvertibleAttributes { return nil }
            throw fail(.unsupportedFeature, "the attribute has a null dataspace (no value, h5py.Empty), which has no exact metadata text; HDF5ReadOptions.skipUnconvertibleAttributes (brine convert --drop-metadata) leaves such attributes out", where_)
        }
        var dims = [hsize_t](repeating: 0, count: Swift.max(rank, 1))
        if rank > 0 {
            // The nesting below slices by these dimensions: they must cover
            // exactly the elements read (a damaged dataspace never slices past them).
            var product: Int64? = H5Sget_simple_extent_dims(space, &dims, nil) == rank ? 1 : nil
            for d in dims.prefix(rank) {
                guard let p = product, d <= hsize_t(Int64.max) else { product = nil; break }
                let (m, overflow) = p.multipliedReportingOverflow(by: Int64(d))
                product = overflow ? nil : m
            }
            // With no elements, the nesting still makes one list per index
            // before the first zero dimension: capped too (by the product of
            // the non-zero dimensions, an upper bound).
            var lists: Int64 = 1
            for d in dims.prefix(rank) where d > 0 && lists <= Int64(options.maxAttributeElements) {
                let (m, overflow) = lists.multipliedReportingOverflow(by: Int64(clamping: d))
                lists = overflow ? Int64.max : m
            }
            guard product == count, count > 0 || lists <= Int64(options.maxAttributeElements)
            else { throw fail(.invalidInterop, "libhdf5 reports dimensions that do not match the attribute's element count", where_) }
        }
        func nest(_ items: ArraySlice<Any>, _ shape: ArraySlice<hsize_t>) -> Any {
            guard let first = shape.first, shape.count > 1 else { return Array(items) }
            let inner = shape.dropFirst().reduce(1) { $0 * Int($1) }
            var out: [Any] = []
            for k in 0 ..< Int(first) {
                let lo = items.startIndex + k * inner
                out.append(nest(items[lo ..< lo + inner], shape.dropFirst()))
            }
            return out
        }
        func json(_ items: [Any]) -> String {
            let v: Any = scalar && items.count == 1 ? items[0] : nest(items[...], dims.prefix(rank)[...])
            guard let d = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .withoutEscapingSlashes]) else { return "null" }
            return String(decoding: d, as: UTF8.self)
        }
        switch H5Tget_class(type) {
        case H5T_STRING:
            // Each string's exact bytes (UTF-8 or not).
            var raw: [[UInt8]] = []
            if H5Tis_variable_str(type) > 0 {
                let mt = H5Tcopy(brine_h5t_c_s1())
                defer { H5Tclose(mt) }
                H5Tset_size(mt, brine_h5t_variable())
                H5Tset_cset(mt, H5Tget_cset(type))
                var ptrs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: n)
                guard H5Aread(a, mt, &ptrs) >= 0 else { throw fail(.invalidInterop, "libhdf5 cannot read the attribute", where_) }
                raw = ptrs.map { p in
                    guard let p else { return [] }
                    return Array(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))
                }
                H5Dvlen_reclaim(mt, space, brine_h5p_default(), &ptrs)
            } else {
                let size = H5Tget_size(type)
                guard size > 0, size <= 1 << 24, n.multipliedReportingOverflow(by: size).overflow == false,
                      n * size <= options.maxAttributeElements * 64 else {
                    throw fail(.limitExceeded, "the attribute's strings are too large", where_)
                }
                var buf = [UInt8](repeating: 0, count: n * size)
                guard H5Aread(a, type, &buf) >= 0 else { throw fail(.invalidInterop, "libhdf5 cannot read the attribute", where_) }
                // As h5py and NumPy read them: a null-terminated string ends at
                // its first NUL; a null-padded one (h5py's np.bytes_) loses only
                // its trailing NULs, so an embedded NUL is kept; space-padded,
                // its trailing spaces.
                let pad = H5Tget_strpad(type)
                for i in 0 ..< n {
                    let b = buf[i * size ..< (i + 1) * size]
                    switch pad {
                    case H5T_STR_NULLTERM: raw.append(Array(b.prefix(while: { $0 != 0 })))
                    case H5T_STR_SPACEPAD: raw.append(Array(b[..<(b.lastIndex(where: { $0 != 0x20 }).map { $0 + 1 } ?? b.startIndex)]))
                    default: raw.append(Array(b[..<(b.lastIndex(where: { $0 != 0 }).map { $0 + 1 } ?? b.startIndex)]))
                    }
                }
            }
            if scalar && raw.count == 1 {
                // MetadataText's forms: a string as itself (escaped when it
                // starts with a marker, so it never reads back as bytes), bytes
                // that are not UTF-8 in the data: form.
                let value: Value = String(validating: raw[0], as: UTF8.self).map { .string($0) } ?? .bytes(raw[0])
                return try MetadataText.text(for: value, key: where_)
            }
            // In a JSON array an element has no marker of its own: bytes in
            // the data: form would read back as the string that spells them.
            var texts: [String] = []
            texts.reserveCapacity(raw.count)
            for r in raw {
                guard let s = String(validating: r, as: UTF8.self) else {
                    if options.skipUnconvertibleAttributes { return nil }
                    throw fail(.unsupportedFeature, "an element of the string array attribute is not UTF-8; a JSON array cannot tell its bytes from a string. HDF5ReadOptions.skipUnconvertibleAttributes (brine convert --drop-metadata) leaves such attributes out", where_)
                }
                texts.append(s)
            }
            return json(texts)
        case H5T_INTEGER where H5Tget_size(type) <= 8:
            if H5Tget_sign(type) == H5T_SGN_NONE && H5Tget_size(type) == 8 {
                var v = [UInt64](repeating: 0, count: n)
                guard H5Aread(a, brine_h5t_std_u64le(), &v) >= 0 else { throw fail(.invalidInterop, "libhdf5 cannot read the attribute", where_) }
                return json(v.map { NSNumber(value: $0) })
            }
            var v = [Int64](repeating: 0, count: n)
            guard H5Aread(a, brine_h5t_std_i64le(), &v) >= 0 else { throw fail(.invalidInterop, "libhdf5 cannot read the attribute", where_) }
            return json(v.map { NSNumber(value: $0) })
        case H5T_FLOAT where H5Tget_size(type) <= 8:
            // Every IEEE float of at most 8 bytes converts to Double exactly.
            var v = [Double](repeating: 0, count: n)
            guard H5Aread(a, brine_h5t_ieee_f64le(), &v) >= 0 else { throw fail(.invalidInterop, "libhdf5 cannot read the attribute", where_) }
            // JSON has no NaN or infinity: they are written as Python's json
            // module writes and reads them (NaN, Infinity, -Infinity), not
            // as strings. Every other element is a number, so the only
            // strings in the serialized array are these placeholders.
            guard v.contains(where: { !$0.isFinite }) else { return json(v.map { NSNumber(value: $0) }) }
            return json(v.map { $0.isFinite ? NSNumber(value: $0) as Any : ($0.isNaN ? "NaN" : $0 < 0 ? "-Infinity" : "Infinity") as Any })
                .replacingOccurrences(of: "\"NaN\"", with: "NaN")
                .replacingOccurrences(of: "\"-Infinity\"", with: "-Infinity")
                .replacingOccurrences(of: "\"Infinity\"", with: "Infinity")
        case H5T_ENUM:
            let names: [String]
            do {
                names = try enumNames(a, type: type, count: n, where: where_)
            } catch {
                // A value that is no member (or members libhdf5 cannot name) has no text.
                if options.skipUnconvertibleAttributes && error.code == .invalidInterop { return nil }
                throw error
            }
            if Set(enumMembers(type).map(\.name)) == ["FALSE", "TRUE"] {
                return json(names.map { $0 == "TRUE" })  // h5py's bool
            }
            if scalar && names.count == 1 { return try MetadataText.text(for: .string(names[0]), key: where_) }
            return json(names)
        default:
            if options.skipUnconvertibleAttributes { return nil }
            let kind = Self.className(H5Tget_class(type)) + (H5Tget_class(type) == H5T_INTEGER || H5Tget_class(type) == H5T_FLOAT ? " of \(H5Tget_size(type)) bytes" : "")
            throw fail(.unsupportedFeature, "the attribute is HDF5 \(kind), which has no exact metadata text; HDF5ReadOptions.skipUnconvertibleAttributes (brine convert --drop-metadata) leaves such attributes out", where_)
        }
    }

    /// A readable name of an HDF5 datatype class, for messages.
    static func className(_ c: H5T_class_t) -> String {
        switch c {
        case H5T_INTEGER: return "integer"
        case H5T_FLOAT: return "float"
        case H5T_TIME: return "time"
        case H5T_STRING: return "string"
        case H5T_BITFIELD: return "bitfield"
        case H5T_OPAQUE: return "opaque"
        case H5T_COMPOUND: return "compound (h5py stores complex numbers so)"
        case H5T_REFERENCE: return "reference"
        case H5T_ENUM: return "enum"
        case H5T_VLEN: return "variable-length sequence"
        case H5T_ARRAY: return "array"
        default: return "class \(c.rawValue)"
        }
    }

    /// The members of an enum datatype: each name and its value's bytes (in the type's own encoding).
    func enumMembers(_ type: hid_t) -> [(name: String, value: [UInt8])] {
        let count = H5Tget_nmembers(type), size = H5Tget_size(type)
        guard count > 0, size > 0, size <= 16 else { return [] }
        var members: [(name: String, value: [UInt8])] = []
        for i in 0 ..< UInt32(count) {
            guard let p = H5Tget_member_name(type, i) else { return [] }
            defer { H5free_memory(p) }
            var value = [UInt8](repeating: 0, count: size)
            guard H5Tget_member_value(type, i, &value) >= 0, let name = String(validatingCString: p) else { return [] }
            members.append((name, value))
        }
        return members
    }

    /// The member name of each element of an enum attribute.
    /// - Throws: `.invalidInterop` when an element's value is no member (or the type cannot be read).
    func enumNames(_ a: hid_t, type: hid_t, count n: Int, where where_: String) throws(BrineError) -> [String] {
        let members = enumMembers(type), size = H5Tget_size(type)
        guard !members.isEmpty else { throw fail(.invalidInterop, "libhdf5 cannot read the enum's members (or a name is not UTF-8)", where_) }
        var raw = [UInt8](repeating: 0, count: n * size)
        guard H5Aread(a, type, &raw) >= 0 else { throw fail(.invalidInterop, "libhdf5 cannot read the attribute", where_) }
        var names: [String] = []
        names.reserveCapacity(n)
        for i in 0 ..< n {
            let element = raw[i * size ..< (i + 1) * size]
            guard let m = members.first(where: { $0.value.elementsEqual(element) }) else {
                throw fail(.invalidInterop, "element \(i) of the enum attribute is no member of its enum", where_)
            }
            names.append(m.name)
        }
        return names
    }
}

/// A typed attribute parsed from its metadata text and recorded type
/// (``HDF5/attributeTypesKey``): a scalar (the text is one JSON value) or an
/// array whose dimensions are the JSON's nesting.
struct TypedAttribute {
    /// `nil` for a scalar dataspace.
    var dims: [hsize_t]?
    /// A numeric or bool attribute: its dtype and little-endian element bytes.
    var dtype: DType?
    var bytes: [UInt8] = []
    /// A string array attribute's elements (C order).
    var strings: [String] = []

    /// - Throws: `.invalidArgument` naming the key when the text is not a
    ///   value of `type` exactly (out of range, a fraction for an integer, a
    ///   float that the narrower type would round, ragged nesting).
    init(text: String, type: String, key: String, path: String) throws(BrineError) {
        func bad(_ why: String) -> BrineError {
            BrineError(.invalidArgument, "metadata '\(key)' is recorded as an HDF5 \(type) attribute but its text \(why)", filePath: path)
        }
        var tokens: [String] = []
        var dims: [Int] = []
        var rank: Int? = nil
        var dimsByLevel: [Int: Int] = [:]
        let isString = type == "string"
        if isString {
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) else { throw bad("is not JSON") }
            func walk(_ v: Any, _ level: Int) throws(BrineError) {
                if let list = v as? [Any] {
                    if level == dims.count { dims.append(list.count) } else if dims[level] != list.count { throw bad("is ragged") }
                    for e in list { try walk(e, level + 1) }
                } else if let s = v as? String {
                    if rank == nil { rank = level } else if rank != level { throw bad("is ragged") }
                    tokens.append(s)
                } else {
                    throw bad("holds a value that is not a string")
                }
            }
            guard object is [Any] else { throw bad("is not a JSON array of strings") }
            try walk(object, 0)
        } else {
            // Numbers, NaN/Infinity (as Python's json writes them), true/false, nested arrays.
            let b = Array(text.utf8)
            var i = 0
            func ws() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
            func value(_ level: Int) throws(BrineError) {
                ws()
                guard i < b.count else { throw bad("ends early") }
                if b[i] == UInt8(ascii: "[") {
                    i += 1
                    var n = 0
                    ws()
                    if i < b.count, b[i] == UInt8(ascii: "]") {
                        i += 1
                    } else {
                        while true {
                            try value(level + 1)
                            n += 1
                            ws()
                            guard i < b.count else { throw bad("ends early") }
                            if b[i] == UInt8(ascii: ",") { i += 1; continue }
                            guard b[i] == UInt8(ascii: "]") else { throw bad("is not JSON") }
                            i += 1
                            break
                        }
                    }
                    if let d = dimsByLevel[level], d != n { throw bad("is ragged") }
                    dimsByLevel[level] = n
                    return
                }
                let start = i
                while i < b.count, b[i] != UInt8(ascii: ","), b[i] != UInt8(ascii: "]"), b[i] != 0x20, b[i] != 0x0A, b[i] != 0x0D, b[i] != 0x09 { i += 1 }
                guard i > start else { throw bad("is not JSON") }
                if rank == nil { rank = level } else if rank != level { throw bad("is ragged") }
                tokens.append(String(decoding: b[start ..< i], as: UTF8.self))
            }
            try value(0)
            ws()
            guard i == b.count else { throw bad("has text after its value") }
            dims = (0 ..< dimsByLevel.count).map { dimsByLevel[$0] ?? -1 }
            guard !dims.contains(-1) else { throw bad("is ragged") }
        }
        // A scalar: one token at level 0.
        let scalar = dims.isEmpty
        if let rank, rank != dims.count { throw bad("is ragged") }
        self.dims = scalar ? nil : dims.map { hsize_t($0) }
        if isString {
            guard !scalar else { throw bad("is not an array") }
            strings = tokens
            return
        }
        guard let dt = DType(name: type), dt != .bfloat16 else { throw bad("names no HDF5 type Brine writes") }
        dtype = dt
        var out: [UInt8] = []
        out.reserveCapacity(tokens.count * dt.itemSize)
        func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func double(_ t: String) -> Double? {
            switch t {
            case "NaN": return .nan
            case "Infinity": return .infinity
            case "-Infinity": return -.infinity
            default: return t.first == "+" ? nil : Double(t)
            }
        }
        for t in tokens {
            switch dt {
            case .bool:
                guard t == "true" || t == "false" else { throw bad("holds '\(t)', not true or false") }
                out.append(t == "true" ? 1 : 0)
            case .int8, .int16, .int32, .int64:
                guard let v = Int64(t) else { throw bad("holds '\(t)', not an integer of \(type)") }
                let bits = dt.itemSize * 8
                guard bits == 64 || (v >= -(Int64(1) << (bits - 1)) && v < Int64(1) << (bits - 1)) else { throw bad("holds \(t), out of \(type)'s range") }
                switch dt { case .int8: le(Int8(v)); case .int16: le(Int16(v)); case .int32: le(Int32(v)); default: le(v) }
            case .uint8, .uint16, .uint32, .uint64:
                guard let v = UInt64(t) else { throw bad("holds '\(t)', not an integer of \(type)") }
                let bits = dt.itemSize * 8
                guard bits == 64 || v < UInt64(1) << bits else { throw bad("holds \(t), out of \(type)'s range") }
                switch dt { case .uint8: le(UInt8(v)); case .uint16: le(UInt16(v)); case .uint32: le(UInt32(v)); default: le(v) }
            case .float64:
                guard let d = double(t) else { throw bad("holds '\(t)', not a number") }
                le(d.bitPattern)
            case .float32:
                guard let d = double(t), d.isNaN || Double(Float(d)) == d else { throw bad("holds '\(t)', which float32 does not hold exactly") }
                le(Float(d).bitPattern)
            case .float16:
                guard let d = double(t), d.isNaN || Double(Float16(d)) == d else { throw bad("holds '\(t)', which float16 does not hold exactly") }
                le(Float16(d).bitPattern)
            default:
                throw bad("names no HDF5 type Brine writes")
            }
        }
        bytes = out
    }

    /// Writes the attribute `name` on `oid` (replacing one of that name).
    /// - Throws: `.io` when libhdf5 fails.
    func write(_ oid: hid_t, name: String, path: String) throws(BrineError) {
        let space: hid_t
        if let dims { space = H5Screate_simple(Int32(dims.count), dims, nil) } else { space = H5Screate(H5S_SCALAR) }
        defer { H5Sclose(space) }
        let type: hid_t
        if let dtype {
            type = HDF5.fileType(dtype)
        } else {
            type = H5Tcopy(brine_h5t_c_s1())
            H5Tset_size(type, brine_h5t_variable())
            H5Tset_cset(type, H5T_CSET_UTF8)
        }
        defer { H5Tclose(type) }
        if H5Aexists(oid, name) > 0 { H5Adelete(oid, name) }
        let a = H5Acreate2(oid, name, type, space, brine_h5p_default(), brine_h5p_default())
        guard a >= 0 else { throw BrineError(.io, "libhdf5 cannot create attribute '\(name)'", filePath: path) }
        defer { H5Aclose(a) }
        let ok: Bool
        if dtype != nil {
            ok = bytes.isEmpty || bytes.withUnsafeBytes { H5Awrite(a, type, $0.baseAddress) >= 0 }
        } else {
            var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
            defer { for p in pointers { free(p) } }
            ok = pointers.isEmpty || H5Awrite(a, type, &pointers) >= 0
        }
        guard ok else { throw BrineError(.io, "libhdf5 cannot write attribute '\(name)'", filePath: path) }
    }
}
