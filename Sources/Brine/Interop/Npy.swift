import Foundation
import SystemPackage

/// NumPy `.npy` files (spec: NumPy NEP 1 and the `numpy.lib.format`
/// documentation): one array per file.
///
/// Reading accepts format versions 1.0, 2.0 and 3.0; every Brine dtype in
/// any byte order (`'<'`, `'>'`, `'|'`, `'='`; big-endian data is swapped
/// to little-endian); Fortran-order data (transposed to C order); rank 0 and
/// zero-length dimensions. The header dict is parsed by a strict parser of
/// the Python literal subset it uses (nothing is evaluated) and capped at
/// NumPy's `max_header_size` (10,000 bytes). Object (pickled), structured,
/// complex, string and datetime dtypes are refused with `.unsupportedDType`.
///
/// Writing produces exactly what `np.save` writes for a C-order
/// little-endian array: version 1.0 (2.0 if the header needs it), data
/// starting at a multiple of 64 bytes, so `numpy.load(path, mmap_mode='r')`
/// maps it.
public enum Npy {
    /// Reads the array in a `.npy` file.
    /// - Parameters:
    ///   - url: a file URL.
    ///   - mode: `.copy` (default, one `pread(2)`) or an mmap mode. In the mmap
    ///     modes a little-endian, C-order array whose data is aligned to its
    ///     item size is a zero-copy view into the mapping (it keeps the mapping
    ///     alive); big-endian or Fortran-order arrays are converted into memory.
    ///   - options: header and rank caps.
    /// - Returns: the array in C order, little-endian.
    /// - Throws: ``BrineError`` `.notFound`, `.invalidArgument` (not a regular file), `.io`; `.invalidInterop` for a
    ///   malformed file (bad magic, version, header syntax or keys, data
    ///   size not matching the shape); `.truncated`; `.limitExceeded` (header
    ///   or rank over the cap); `.unsupportedDType`.
    public static func read(contentsOf url: URL, mode: LoadMode = .copy, options: InteropReadOptions = .init()) throws(BrineError) -> AnyTensor {
        try ByteSource.reading(url.path, mode: mode) { (source) throws(BrineError) in try read(source, options: options) }
    }

    /// Reads a `.npy` held in memory (the bytes are copied once).
    /// - Throws: see ``read(contentsOf:mode:options:)``.
    public static func read(bytes: UnsafeRawBufferPointer, options: InteropReadOptions = .init()) throws(BrineError) -> AnyTensor {
        try read(ByteSource(copying: bytes), options: options)
    }

    /// Reads and validates only the header of a `.npy` file.
    /// - Throws: see ``read(contentsOf:mode:options:)``.
    public static func readHeader(contentsOf url: URL, options: InteropReadOptions = .init()) throws(BrineError) -> NpyHeader {
        try ByteSource.reading(url.path, mode: .copy) { (source) throws(BrineError) in try header(source, options: options) }
    }

    static func header(_ source: ByteSource, options: InteropReadOptions) throws(BrineError) -> NpyHeader {
        let first = try source.read(0, Swift.min(source.size, 12))
        let total = first.withUnsafeBytes { b -> Int in
            // Too short or no magic: parseHeader reports it precisely.
            guard let p = prefixLength(b), b.count >= p else { return b.count }
            var len = 0
            for i in 0 ..< (p - 8) { len |= Int(b[8 + i]) << (8 * i) }
            return p + Swift.min(len, options.maxNpyHeaderBytes + 1)
        }
        let head = try source.read(0, Swift.min(source.size, total))
        let h = try typedThrows {
            try head.withUnsafeBytes { b in
                try parseHeader(b, totalSize: source.size, maxHeaderBytes: options.maxNpyHeaderBytes, maxRank: options.limits.maxRank)
            }
        }
        let available = source.size - h.dataOffset
        guard h.byteCount <= available else {
            throw BrineError(.truncated, "shape \(h.shape) of \(h.dtype) needs \(h.byteCount) data bytes; the file has \(available)",
                             byteOffset: UInt64(source.size))
        }
        guard h.byteCount == available else {
            throw BrineError(.invalidInterop, "\(available - h.byteCount) bytes follow the \(h.byteCount) data bytes of shape \(h.shape) of \(h.dtype)",
                             byteOffset: UInt64(h.dataOffset + h.byteCount))
        }
        return h
    }

    private static func read(_ source: ByteSource, options: InteropReadOptions) throws(BrineError) -> AnyTensor {
        let h = try header(source, options: options)
        if h.isNativeLayout, let v = source.view(h.dataOffset, h.byteCount, alignment: h.dtype.itemSize) {
            return try AnyTensor(dtype: h.dtype, shape: h.shape, storage: v)
        }
        let raw = TensorStorage(uninitializedByteCount: h.byteCount)
        try source.read(into: UnsafeMutableRawBufferPointer(start: raw.baseAddress, count: h.byteCount), at: h.dataOffset)
        return try toNative(raw, header: h)
    }

    /// Converts stored `.npy` data to Brine's layout (little-endian, C order),
    /// in place when only a byte swap is needed.
    static func toNative(_ raw: TensorStorage, header h: NpyHeader) throws(BrineError) -> AnyTensor {
        var storage = raw
        if !h.isNativeLayout && h.fortranOrder && h.shape.filter({ $0 != 1 }).count > 1 {
            let c = TensorStorage(uninitializedByteCount: h.byteCount)
            FortranOrder.toCOrder(raw.baseAddress, into: c.baseAddress, shape: h.shape, itemSize: h.dtype.itemSize)
            storage = c
        }
        if h.isBigEndian {
            ByteSwap.swapInPlace(UnsafeMutableRawBufferPointer(start: storage.baseAddress, count: h.byteCount), elementSize: h.dtype.itemSize)
        }
        return try AnyTensor(dtype: h.dtype, shape: h.shape, storage: storage)
    }

    // MARK: Writing

    /// Writes one array as a `.npy` file, atomically (temporary file,
    /// `fsync`, `rename(2)`), byte-identical to `np.save` of the same array:
    /// version 1.0 (2.0 for headers over 65,535 bytes), C order,
    /// little-endian, data 64-byte aligned, one `pwrite(2)` for the data.
    /// - Parameters:
    ///   - tensor: the array.
    ///   - url: the destination file URL; its folder must exist.
    ///   - options: the bfloat16 policy (NumPy has no bfloat16) and durability.
    /// - Throws: ``BrineError`` `.unsupportedDType` (bfloat16 with policy
    ///   `.reject`), `.notFound`, `.io`.
    public static func write(_ tensor: AnyTensor, to url: URL, options: NpyWriteOptions = .init()) throws(BrineError) {
        let path = url.path
        let (header, data) = try encoded(tensor, options: options, path: path, name: nil)
        try AtomicFile.replace(at: RegularFile.exactPath(path), durable: options.durable) { file throws(BrineError) in
            let fd = file.fd
            try typedThrows { try header.withUnsafeBytes { b in try fd.pwriteFully(b, at: 0).orThrow("write", path: path) } }
            try fd.pwriteFully(data.bytes, at: Int64(header.count)).orThrow("write", path: path)
            withExtendedLifetime(data) {}
        }
    }

    /// The `.npy` header bytes and the data storage for a tensor, applying
    /// the bfloat16 policy.
    static func encoded(
        _ tensor: AnyTensor, options: NpyWriteOptions, path: String?, name: String?
    ) throws(BrineError) -> (header: [UInt8], data: TensorStorage) {
        var dtype = tensor.dtype
        var data = tensor.storage
        if dtype == .bfloat16 {
            switch options.bfloat16 {
            case .reject:
                throw BrineError(.unsupportedDType, "NumPy has no bfloat16; choose BFloat16Policy.widenToFloat32 or .bitPatternAsUInt16 to write it",
                                 filePath: path, arrayPath: name)
            case .bitPatternAsUInt16:
                dtype = .uint16
            case .widenToFloat32:
                dtype = .float32
                let n = tensor.count
                let wide = TensorStorage(uninitializedByteCount: n * 4)
                FloatConversion.widen(tensor.storage.baseAddress, stored: .bfloat16, to: wide.baseAddress, count: n)
                data = wide
            }
        }
        // Cannot be nil: bfloat16 was mapped above.
        let header = encodeHeader(descr: dtype.numpyDescr!, shape: tensor.shape)
        return (header, data)
    }
}
