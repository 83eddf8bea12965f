/// The in-tree ("inline") form of numeric arrays smaller than the inline
/// threshold (docs/FORMAT.md, "Codable mapping"): a list holding one value
/// per element, except `uint8`, which is one `bytes` value.
///
/// | dtype | element value |
/// |---|---|
/// | bool | `bool` |
/// | int8 … int64 | `int` |
/// | uint8 | (the whole array is one `bytes` value) |
/// | uint16 … uint64 | `uint` |
/// | float16, bfloat16 | `float32`, widened exactly (NaN payload bits kept) |
/// | float32 | `float32` (bit pattern) |
/// | float64 | `float64` (bit pattern) |
enum InlineArrays {
    /// The inline value of `bytes`, which hold whole elements of `dtype`.
    static func encode(_ bytes: UnsafeRawBufferPointer, dtype: DType) -> Value {
        let n = bytes.count / dtype.itemSize
        func list<S>(_: S.Type, _ f: (S) -> Value) -> Value {
            var out: [Value] = []
            out.reserveCapacity(n)
            for i in 0 ..< n { out.append(f(bytes.loadUnaligned(fromByteOffset: i * MemoryLayout<S>.stride, as: S.self))) }
            return .list(out)
        }
        switch dtype {
        case .bool: return list(UInt8.self) { .bool($0 != 0) }
        case .int8: return list(Int8.self) { .int(Int64($0)) }
        case .int16: return list(Int16.self) { .int(Int64($0)) }
        case .int32: return list(Int32.self) { .int(Int64($0)) }
        case .int64: return list(Int64.self) { .int($0) }
        case .uint8: return .bytes(Array(bytes))
        case .uint16: return list(UInt16.self) { .uint(UInt64($0)) }
        case .uint32: return list(UInt32.self) { .uint(UInt64($0)) }
        case .uint64: return list(UInt64.self) { .uint($0) }
        case .float16: return list(UInt16.self) { .float32(ExactFloat.widen(float16Bits: $0)) }
        case .bfloat16: return list(UInt16.self) { .float32(Float(bitPattern: UInt32($0) << 16)) }
        case .float32: return list(Float.self) { .float32($0) }
        case .float64: return list(Double.self) { .float64($0) }
        }
    }

    /// Why an inline array could not be decoded.
    struct Failure: Error {
        var message: String
        /// The element index at fault, when one is.
        var index: Int?
    }

    /// Decodes an inline array into new storage of `dtype` elements.
    ///
    /// Accepts the forms ``encode(_:dtype:)`` writes and any number kind
    /// whose value the element type holds exactly (an `int` list as `Int64`
    /// or `Double` when every value fits; `float32` values as `Double`, or as
    /// `Float16` when each is a widened float16). A conversion that would
    /// change a value (rounding, wrapping) fails, as an out-of-line array of
    /// another dtype does (`dtypeMismatch`): the result never depends on
    /// whether the array was small enough to be inline. `bytes` (the inline
    /// `uint8` form) decode only as `uint8`. The element count is the number
    /// of values present, so the allocation is bounded by the header size.
    /// - Returns: the storage and the element count.
    static func decode(_ value: Value, dtype: DType) -> Result<(storage: TensorStorage, count: Int), Failure> {
        if case .bytes(let b) = value {
            guard dtype == .uint8 else {
                return .failure(Failure(message: "found bytes, expected a list of \(dtype) elements"))
            }
            let s = TensorStorage(uninitializedByteCount: b.count)
            b.withUnsafeBytes { if b.count > 0 { s.baseAddress.copyMemory(from: $0.baseAddress!, byteCount: b.count) } }
            return .success((s, b.count))
        }
        guard case .list(let items) = value else {
            return .failure(Failure(message: "found \(value.kindName), expected a list of \(dtype) elements"))
        }
        let n = items.count
        let storage = TensorStorage(uninitializedByteCount: n * dtype.itemSize)
        let p = storage.baseAddress
        func fill<S>(_: S.Type, _ f: (Value) -> S?) -> Failure? {
            for (i, v) in items.enumerated() {
                guard let x = f(v) else {
                    return Failure(message: "element \(i) is \(v.kindName) \(v), not a \(dtype) value", index: i)
                }
                p.storeBytes(of: x, toByteOffset: i * MemoryLayout<S>.stride, as: S.self)
            }
            return nil
        }
        let failure: Failure?
        switch dtype {
        case .bool: failure = fill(UInt8.self) { if case .bool(let b) = $0 { return b ? 1 : 0 } else { return nil } }
        case .int8: failure = fill(Int8.self) { $0.exactInteger() }
        case .int16: failure = fill(Int16.self) { $0.exactInteger() }
        case .int32: failure = fill(Int32.self) { $0.exactInteger() }
        case .int64: failure = fill(Int64.self) { $0.exactInteger() }
        case .uint8: failure = fill(UInt8.self) { $0.exactInteger() }
        case .uint16: failure = fill(UInt16.self) { $0.exactInteger() }
        case .uint32: failure = fill(UInt32.self) { $0.exactInteger() }
        case .uint64: failure = fill(UInt64.self) { $0.exactInteger() }
        case .float16: failure = fill(UInt16.self) { $0.exactFloat32().flatMap(ExactFloat.exactNarrow(toFloat16Bits:)) }
        case .bfloat16: failure = fill(UInt16.self) { $0.exactFloat32().flatMap(ExactFloat.exactNarrow(toBFloat16Bits:)) }
        case .float32: failure = fill(Float.self) { $0.exactFloat32() }
        case .float64: failure = fill(Double.self) { $0.float64Value() }  // exact
        }
        if let failure { return .failure(failure) }
        return .success((storage, n))
    }
}

/// Conversions between float16/bfloat16 and float32 that keep NaN payloads
/// bit for bit in both directions (hardware conversions quieten signalling
/// NaNs, which would break the bit-exact round trip of inline arrays).
enum ExactFloat {
    /// float16 bits → float32, exact for every value including NaN payloads.
    static func widen(float16Bits b: UInt16) -> Float {
        let sign = UInt32(b & 0x8000) << 16
        if b & 0x7C00 == 0x7C00 && b & 0x03FF != 0 {
            return Float(bitPattern: sign | 0x7F80_0000 | (UInt32(b & 0x03FF) << 13))
        }
        return Float(Float16(bitPattern: b))
    }

    /// float32 → float16 bits: the exact inverse of ``widen(float16Bits:)``
    /// for values it produced; others round to nearest, ties to even.
    static func narrow(toFloat16Bits f: Float) -> UInt16 {
        if f.isNaN {
            let bits = f.bitPattern
            var payload = UInt16(truncatingIfNeeded: (bits >> 13) & 0x03FF)
            if payload == 0 { payload = 0x0200 }  // keep it a NaN
            return UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000) | 0x7C00 | payload
        }
        return Float16(f).bitPattern
    }

    /// ``narrow(toFloat16Bits:)``, or `nil` when a finite value would become
    /// ±infinity or a nonzero value ±0 (the narrowing rule of ``NarrowingPolicy``).
    static func checkedNarrow(toFloat16Bits f: Float) -> UInt16? {
        let h = narrow(toFloat16Bits: f)
        if f.isFinite && h & 0x7FFF == 0x7C00 { return nil }
        if f != 0 && h & 0x7FFF == 0 { return nil }
        return h
    }

    /// float32 → float16 bits only when the value (or a NaN's payload) survives
    /// the round trip, `nil` when narrowing would change it.
    static func exactNarrow(toFloat16Bits f: Float) -> UInt16? {
        let h = narrow(toFloat16Bits: f)
        return widen(float16Bits: h).bitPattern == f.bitPattern ? h : nil
    }

    /// float32 → bfloat16 bits only when the low 16 bits are zero (the value
    /// is a widened bfloat16), `nil` when narrowing would change it.
    static func exactNarrow(toBFloat16Bits f: Float) -> UInt16? {
        f.bitPattern & 0xFFFF == 0 ? UInt16(truncatingIfNeeded: f.bitPattern >> 16) : nil
    }

    /// ``narrow(toBFloat16Bits:)``, or `nil` when a finite value would become
    /// ±infinity or a nonzero value ±0.
    static func checkedNarrow(toBFloat16Bits f: Float) -> UInt16? {
        let h = narrow(toBFloat16Bits: f)
        if f.isFinite && h & 0x7FFF == 0x7F80 { return nil }
        if f != 0 && h & 0x7FFF == 0 { return nil }
        return h
    }

    /// float32 → bfloat16 bits: exact when the low 16 bits are zero (values
    /// widened from bfloat16, NaNs included); else rounded as ``BFloat16/init(_:)``.
    static func narrow(toBFloat16Bits f: Float) -> UInt16 {
        let bits = f.bitPattern
        if bits & 0xFFFF == 0 { return UInt16(truncatingIfNeeded: bits >> 16) }
        return BFloat16(f).bitPattern
    }
}

extension Value {
    /// A short name of the value's kind for error messages.
    var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a bool"
        case .int: return "an int"
        case .uint: return "a uint"
        case .float32: return "a float32"
        case .float64: return "a float64"
        case .string: return "a string"
        case .bytes: return "bytes"
        case .list: return "a list"
        case .map: return "a map"
        case .arrayRef: return "an array reference"
        case .shared: return "a shared node"
        case .sharedRef: return "a shared reference"
        }
    }

    /// The integer when this is an `int` or `uint` that fits `I` exactly.
    func exactInteger<I: FixedWidthInteger>() -> I? {
        switch self {
        case .int(let v): return I(exactly: v)
        case .uint(let v): return I(exactly: v)
        default: return nil
        }
    }

    /// The value as `Float`: `float32` exactly; `float64` rounded to nearest
    /// unless a finite value would overflow to infinity or a nonzero value
    /// flush to zero (then `nil`); `int`, `uint` only when exact (an integer
    /// that `Float` would round is `nil`). For scalars, which convert as
    /// JSON numbers do; inline array elements use ``exactFloat32()``.
    func float32Value() -> Float? {
        guard case .float64(let d) = self else { return exactFloat32() }
        let f = Float(d)
        return (f.isInfinite && d.isFinite) || (f == 0 && d != 0) ? nil : f
    }

    /// The value as `Double`: `float64` exactly, `float32` widened exactly,
    /// `int`/`uint` only when `Double` holds them exactly (below 2^53 in
    /// magnitude, or a multiple of a power of two above): `nil` when the
    /// integer would be rounded, as 2^53 + 1 would.
    func float64Value() -> Double? {
        switch self {
        case .float64(let d): return d
        case .float32(let f): return Double(f)
        case .int(let v): return Double(exactly: v)
        case .uint(let v): return Double(exactly: v)
        default: return nil
        }
    }

    /// The value as `Float` when `Float` holds it exactly: `float32` as
    /// stored, a `float64` or integer only when no rounding happens (a NaN
    /// stays a NaN); `nil` otherwise. For inline array elements.
    func exactFloat32() -> Float? {
        switch self {
        case .float32(let f): return f
        case .float64(let d): return d.isNaN ? Float(nan: 0, signaling: false) : Float(exactly: d)
        case .int(let v): return Float(exactly: v)
        case .uint(let v): return Float(exactly: v)
        default: return nil
        }
    }
}
