import Foundation

/// A plain Swift value that converts to a ``Value`` of the object tree
/// without loss: every integer type, `Float`, `Double`, `Float16`, `String`,
/// `Bool`, ``Value`` itself, optionals of them (`nil` is `null`), and arrays
/// and `String`-keyed dictionaries of them, nested to any depth.
///
/// It is what metadata parameters take, so values held in variables go in
/// as they are:
///
/// ```swift
/// let epochs = 20, lr: Float = 1e-3
/// try Brine.save(model, to: url, options: .init(metadata: ["epochs": epochs, "lr": lr, "layers": [64, 10]]))
/// ```
///
/// Dictionaries become maps with their keys sorted (Swift dictionaries have
/// no order; sorting makes the file reproducible). For any other `Encodable`
/// type, use ``Value/init(encoding:)``.
public protocol ValueConvertible {
    /// The value as a node of the object tree.
    var brineValue: Value { get }
}

extension Value: ValueConvertible {
    /// The value itself.
    public var brineValue: Value { self }
}

extension Value {
    /// Converts a plain Swift value (see ``ValueConvertible``).
    /// - Parameter value: an integer, float, string, bool, or an array,
    ///   dictionary or optional of them.
    public init(_ value: some ValueConvertible) {
        self = value.brineValue
    }

    /// Encodes any `Encodable` value (a struct of hyper-parameters, an enum…)
    /// into a tree with the Codable mapping of docs/FORMAT.md ("Codable
    /// mapping"); numeric arrays stay inline, so the tree can be metadata.
    /// Decode it back with ``decode(_:)``.
    /// - Parameter value: the value to encode.
    /// - Throws: `EncodingError` from the value's `encode(to:)` or a tree
    ///   nested deeper than ``ReadLimits/maxDepth``.
    public init(encoding value: some Encodable) throws {
        self = try BrineEncoder().encode(value)
    }

    /// Decodes a `Decodable` value from this tree (the inverse of
    /// ``init(encoding:)``), for example a hyper-parameter struct from a
    /// file's metadata: keys the type does not read are ignored.
    /// - Parameter type: the type to decode.
    /// - Returns: the decoded value.
    /// - Throws: `DecodingError` with the coding path when the tree does not
    ///   fit `type`; `.dataCorrupted` for an array reference (metadata holds none).
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try BrineDecoder().decode(type, from: self, arrays: [])
    }
}

extension Bool: ValueConvertible {
    /// `.bool`.
    public var brineValue: Value { .bool(self) }
}

extension String: ValueConvertible {
    /// `.string`.
    public var brineValue: Value { .string(self) }
}

extension Substring: ValueConvertible {
    /// `.string`.
    public var brineValue: Value { .string(String(self)) }
}

extension ValueConvertible where Self: FixedWidthInteger & SignedInteger {
    /// `.int` (every signed integer type up to 64 bits converts exactly).
    public var brineValue: Value { .int(Int64(self)) }
}

extension ValueConvertible where Self: FixedWidthInteger & UnsignedInteger {
    /// `.uint` (every unsigned integer type up to 64 bits converts exactly).
    public var brineValue: Value { .uint(UInt64(self)) }
}

extension Int: ValueConvertible {}
extension Int8: ValueConvertible {}
extension Int16: ValueConvertible {}
extension Int32: ValueConvertible {}
extension Int64: ValueConvertible {}
extension UInt: ValueConvertible {}
extension UInt8: ValueConvertible {}
extension UInt16: ValueConvertible {}
extension UInt32: ValueConvertible {}
extension UInt64: ValueConvertible {}

extension Float: ValueConvertible {
    /// `.float32` (bit-exact).
    public var brineValue: Value { .float32(self) }
}

extension Double: ValueConvertible {
    /// `.float64` (bit-exact).
    public var brineValue: Value { .float64(self) }
}

extension Float16: ValueConvertible {
    /// `.float32`, widened exactly (NaN payloads kept as in the Codable mapping).
    public var brineValue: Value { .float32(ExactFloat.widen(float16Bits: bitPattern)) }
}

extension Optional: ValueConvertible where Wrapped: ValueConvertible {
    /// The wrapped value's, or `.null` for `nil`.
    public var brineValue: Value { map(\.brineValue) ?? .null }
}

extension Array: ValueConvertible where Element: ValueConvertible {
    /// `.list` of the elements' values.
    public var brineValue: Value { .list(map(\.brineValue)) }
}

extension ContiguousArray: ValueConvertible where Element: ValueConvertible {
    /// `.list` of the elements' values.
    public var brineValue: Value { .list(map(\.brineValue)) }
}

extension Dictionary: ValueConvertible where Key == String, Value: ValueConvertible {
    /// `.map` with the keys sorted.
    public var brineValue: BrineValue { .map(keys.sorted().map { ($0, self[$0]!.brineValue) }) }
}

/// Another name for ``Value``, for code where `Value` means something else
/// (inside an extension of `Dictionary`, whose element type is `Value`).
public typealias BrineValue = Value

/// Converts a metadata dictionary of plain values into ``Value``s.
func metadataValues(_ dictionary: [String: any ValueConvertible]) -> [String: Value] {
    dictionary.mapValues { $0.brineValue }
}

/// A ``Value`` written with leading-dot syntax where `any ValueConvertible`
/// is expected, such as a metadata dictionary: `["framework": .string(name),
/// "epochs": .int(20)]` keeps compiling now that metadata takes plain values.
/// You never name this type.
public struct ValueLiteral: ValueConvertible, Sendable {
    /// The value.
    public let brineValue: Value
}

// Leading-dot syntax for `any ValueConvertible` (SE-0299). The members are
// constrained to `ValueLiteral`, not `Value`, so that they never compete
// with `Value`'s own cases where a `Value` is expected.
extension ValueConvertible where Self == ValueLiteral {
    /// ``Value/null``.
    public static var null: ValueLiteral { ValueLiteral(brineValue: .null) }
    /// ``Value/bool(_:)``.
    public static func bool(_ v: Bool) -> ValueLiteral { ValueLiteral(brineValue: .bool(v)) }
    /// ``Value/int(_:)``.
    public static func int(_ v: Int64) -> ValueLiteral { ValueLiteral(brineValue: .int(v)) }
    /// ``Value/uint(_:)``.
    public static func uint(_ v: UInt64) -> ValueLiteral { ValueLiteral(brineValue: .uint(v)) }
    /// ``Value/float32(_:)``.
    public static func float32(_ v: Float) -> ValueLiteral { ValueLiteral(brineValue: .float32(v)) }
    /// ``Value/float64(_:)``.
    public static func float64(_ v: Double) -> ValueLiteral { ValueLiteral(brineValue: .float64(v)) }
    /// ``Value/string(_:)``.
    public static func string(_ v: String) -> ValueLiteral { ValueLiteral(brineValue: .string(v)) }
    /// ``Value/bytes(_:)``.
    public static func bytes(_ v: [UInt8]) -> ValueLiteral { ValueLiteral(brineValue: .bytes(v)) }
    /// ``Value/list(_:)``.
    public static func list(_ v: [Value]) -> ValueLiteral { ValueLiteral(brineValue: .list(v)) }
    /// ``Value/map(_:)``.
    public static func map(_ v: [(key: String, value: Value)]) -> ValueLiteral { ValueLiteral(brineValue: .map(v)) }
}
