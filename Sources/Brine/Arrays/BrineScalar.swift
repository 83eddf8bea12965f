/// An element type that a ``Tensor`` can hold and a Brine file can store.
///
/// Brine conforms `Bool`, `Int8`…`Int64`, `UInt8`…`UInt64`, `Float16`,
/// ``BFloat16``, `Float` and `Double`. Each maps to exactly one ``DType`` and
/// has the same in-memory layout as the stored little-endian bytes on the
/// little-endian machines Brine runs on (x86_64, arm64). Conforming other
/// types is not supported.
public protocol BrineScalar: BitwiseCopyable, Sendable, Equatable {
    /// The dtype this Swift type is stored as.
    static var dtype: DType { get }
    /// The zero value (all bits zero), used to fill new tensors.
    static var zeroValue: Self { get }
}

extension Bool: BrineScalar {
    @inlinable public static var dtype: DType { .bool }
    @inlinable public static var zeroValue: Bool { false }
}
extension Int8: BrineScalar {
    @inlinable public static var dtype: DType { .int8 }
    @inlinable public static var zeroValue: Int8 { 0 }
}
extension Int16: BrineScalar {
    @inlinable public static var dtype: DType { .int16 }
    @inlinable public static var zeroValue: Int16 { 0 }
}
extension Int32: BrineScalar {
    @inlinable public static var dtype: DType { .int32 }
    @inlinable public static var zeroValue: Int32 { 0 }
}
extension Int64: BrineScalar {
    @inlinable public static var dtype: DType { .int64 }
    @inlinable public static var zeroValue: Int64 { 0 }
}
extension UInt8: BrineScalar {
    @inlinable public static var dtype: DType { .uint8 }
    @inlinable public static var zeroValue: UInt8 { 0 }
}
extension UInt16: BrineScalar {
    @inlinable public static var dtype: DType { .uint16 }
    @inlinable public static var zeroValue: UInt16 { 0 }
}
extension UInt32: BrineScalar {
    @inlinable public static var dtype: DType { .uint32 }
    @inlinable public static var zeroValue: UInt32 { 0 }
}
extension UInt64: BrineScalar {
    @inlinable public static var dtype: DType { .uint64 }
    @inlinable public static var zeroValue: UInt64 { 0 }
}
extension Float16: BrineScalar {
    @inlinable public static var dtype: DType { .float16 }
    @inlinable public static var zeroValue: Float16 { 0 }
}
extension Float: BrineScalar {
    @inlinable public static var dtype: DType { .float32 }
    @inlinable public static var zeroValue: Float { 0 }
}
extension Double: BrineScalar {
    @inlinable public static var dtype: DType { .float64 }
    @inlinable public static var zeroValue: Double { 0 }
}

/// The "brain floating point" format: the upper 16 bits of an IEEE-754
/// binary32 (1 sign bit, 8 exponent bits, 7 fraction bits), as used by
/// TPUs, PyTorch (`torch.bfloat16`) and safetensors (`BF16`).
///
/// Conversion from `Float` rounds to nearest, ties to even; NaN stays NaN
/// (quietened, sign kept) and infinities stay infinities. Conversion to `Float`
/// is exact.
public struct BFloat16: BrineScalar, Hashable, CustomStringConvertible, Codable {
    /// The 16 stored bits.
    public var bitPattern: UInt16

    @inlinable public static var dtype: DType { .bfloat16 }
    @inlinable public static var zeroValue: BFloat16 { BFloat16(bitPattern: 0) }

    /// Creates a value from its 16 stored bits.
    @inlinable
    public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    /// Rounds a `Float` to the nearest bfloat16, ties to even.
    @inlinable
    public init(_ value: Float) {
        let bits = value.bitPattern
        if value.isNaN {
            // Keep sign and the top payload bits; force the quiet bit so a
            // payload living only in the low bits cannot become infinity.
            self.bitPattern = UInt16(truncatingIfNeeded: bits >> 16) | 0x0040
        } else {
            let lsb = (bits >> 16) & 1
            let rounded = bits &+ 0x7FFF &+ lsb
            self.bitPattern = UInt16(truncatingIfNeeded: rounded >> 16)
        }
    }

    /// The exact `Float` value.
    @inlinable
    public var floatValue: Float { Float(bitPattern: UInt32(bitPattern) << 16) }

    public var description: String { floatValue.description }

    /// Equality of the numeric values (NaN is unequal to everything; +0 == -0),
    /// as for the standard floating-point types.
    @inlinable
    public static func == (lhs: BFloat16, rhs: BFloat16) -> Bool {
        lhs.floatValue == rhs.floatValue
    }

    @inlinable
    public func hash(into hasher: inout Hasher) {
        hasher.combine(floatValue == 0 ? 0 : bitPattern)
    }

    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(Float.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(floatValue)
    }
}

extension Float {
    /// The exact value of a bfloat16.
    @inlinable
    public init(_ value: BFloat16) { self = value.floatValue }
}
