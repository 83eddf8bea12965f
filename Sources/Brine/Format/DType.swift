/// The element type of an array, as stored in a Brine file.
///
/// The raw value is the one-byte dtype code written in the array table (see
/// docs/FORMAT.md, "dtype codes"); codes never change once released. All
/// multi-byte types are stored little-endian. `bool` is one byte per element,
/// 0 or 1, as in NumPy. `bfloat16` is the upper half of an IEEE-754 binary32.
public enum DType: UInt8, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    case bool = 1
    case int8 = 2
    case int16 = 3
    case int32 = 4
    case int64 = 5
    case uint8 = 6
    case uint16 = 7
    case uint32 = 8
    case uint64 = 9
    case float16 = 10
    case bfloat16 = 11
    case float32 = 12
    case float64 = 13

    /// The size of one element in bytes (1, 2, 4 or 8).
    @inlinable
    public var itemSize: Int {
        switch self {
        case .bool, .int8, .uint8: return 1
        case .int16, .uint16, .float16, .bfloat16: return 2
        case .int32, .uint32, .float32: return 4
        case .int64, .uint64, .float64: return 8
        }
    }

    /// `true` for the floating-point dtypes (float16, bfloat16, float32, float64).
    public var isFloatingPoint: Bool {
        switch self {
        case .float16, .bfloat16, .float32, .float64: return true
        default: return false
        }
    }

    /// The lower-case name used in docs, the CLI and `brine inspect`
    /// (`"float32"`, `"bfloat16"`, …); it matches NumPy's dtype names except
    /// for `bfloat16`, which NumPy does not have.
    public var name: String {
        switch self {
        case .bool: return "bool"
        case .int8: return "int8"
        case .int16: return "int16"
        case .int32: return "int32"
        case .int64: return "int64"
        case .uint8: return "uint8"
        case .uint16: return "uint16"
        case .uint32: return "uint32"
        case .uint64: return "uint64"
        case .float16: return "float16"
        case .bfloat16: return "bfloat16"
        case .float32: return "float32"
        case .float64: return "float64"
        }
    }

    public var description: String { name }

    /// Parses a name as printed by ``name``; returns `nil` for unknown names.
    public init?(name: String) {
        guard let match = DType.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }
}

/// Overflow-checked size arithmetic for shapes read from files or given by callers.
public enum Shape {
    /// The number of elements of a C-order array of this shape (1 for rank 0).
    /// - Returns: `nil` when a dimension is negative or the product overflows `Int`.
    @inlinable
    public static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, o) = count.multipliedReportingOverflow(by: d)
            if o { return nil }
            count = p
        }
        return count
    }

    /// The byte count of an array of this shape and item size.
    /// - Returns: `nil` on a negative dimension or on overflow.
    @inlinable
    public static func byteCount(_ shape: [Int], itemSize: Int) -> Int? {
        guard let n = elementCount(shape) else { return nil }
        let (p, o) = n.multipliedReportingOverflow(by: itemSize)
        return o ? nil : p
    }
}
