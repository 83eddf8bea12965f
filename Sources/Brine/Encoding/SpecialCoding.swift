import Foundation

/// Types the Brine encoder handles itself instead of calling their
/// `encode(to:)`. ``BrineEncodingImpl/wrapGeneric(_:at:)`` tests a type's
/// conformance (`T.self as? any BrineEncodingSpecial.Type`, a check on the
/// type, never a conversion of the value); the conforming type then takes
/// the value back with `as! Self`, a cast between identical types.
protocol BrineEncodingSpecial {
    static func brineEncode<T>(_ value: T, with encoder: BrineEncodingImpl, at node: CodingPathNode) throws -> Value
}

/// Types the Brine decoder builds itself instead of calling `init(from:)`.
protocol BrineDecodingSpecial {
    static func brineDecode(from value: Value, with decoder: BrineDecodingImpl, at node: CodingPathNode) throws -> Self
}

/// Element types of Swift arrays that the coders store as numeric arrays.
protocol BrineArrayElement: BitwiseCopyable, Codable, BrineNestable where Leaf == Self {
    /// The dtype of the stored elements; the element's memory layout equals
    /// the stored little-endian bytes.
    static var arrayDType: DType { get }
}

extension BrineArrayElement where Self: BrineScalar {
    static var arrayDType: DType { dtype }
}

extension Bool: BrineArrayElement {}
extension Int8: BrineArrayElement {}
extension Int16: BrineArrayElement {}
extension Int32: BrineArrayElement {}
extension Int64: BrineArrayElement {}
extension UInt8: BrineArrayElement {}
extension UInt16: BrineArrayElement {}
extension UInt32: BrineArrayElement {}
extension UInt64: BrineArrayElement {}
extension Float16: BrineArrayElement {}
extension BFloat16: BrineArrayElement {}
extension Float: BrineArrayElement {}
extension Double: BrineArrayElement {}
extension Int: BrineArrayElement {
    /// int64 on 64-bit platforms (every platform Brine supports).
    static var arrayDType: DType { MemoryLayout<Int>.size == 8 ? .int64 : .int32 }
}
extension UInt: BrineArrayElement {
    /// uint64 on 64-bit platforms.
    static var arrayDType: DType { MemoryLayout<UInt>.size == 8 ? .uint64 : .uint32 }
}

// MARK: - Swift arrays

extension BrineDecodingImpl {
    /// Decodes a Swift array of `E` from an `arrayRef` or an inline array.
    func decodeElements<A: RangeReplaceableCollection>(
        _ type: A.Type, from value: Value, at node: CodingPathNode
    ) throws -> A where A.Element: BrineArrayElement {
        let dtype = A.Element.arrayDType
        let storage: TensorStorage
        let count: Int
        switch try outOfLineArray(value, requested: A.self, at: node) {
        case .original(let v)?:
            return v as! A
        case .tensor(let t, let path)?:
            try check(t, dtype: dtype, for: A.self, path: path, at: node)
            storage = t.storage
            count = t.count
        case nil:
            (storage, count) = try inlineElements(value, dtype: dtype, for: A.self, at: node)
            if dtype == .bool { try checkBools(storage.bytes, for: A.self, path: nil, at: node) }
        }
        // The one copy a Swift array needs: its buffer cannot view a mapping.
        let elements = UnsafeBufferPointer(start: storage.baseAddress.assumingMemoryBound(to: A.Element.self), count: count)
        let result = A(elements)
        withExtendedLifetime(storage) {}
        return result
    }
}

extension Array: BrineEncodingSpecial where Element: BrineNestable {
    static func brineEncode<T>(_ value: T, with encoder: BrineEncodingImpl, at node: CodingPathNode) throws -> Value {
        guard Element.nestingDepth == 0 else {
            let array = value as! [Element]
            return try encoder.encodeNested(array, at: node) ?? encoder.encodeRows(array, at: node)
        }
        let array = value as! [Element.Leaf]
        return try array.withUnsafeBytes { bytes in
            try encoder.encodeArray(
                bytes, dtype: Element.Leaf.arrayDType, shape: [array.count], at: node,
                inline: { InlineArrays.encode(bytes, dtype: Element.Leaf.arrayDType) },
                original: { .original(array, makeTensor: { AnyTensor.copying(array) }) })
        }
    }
}

extension Array: BrineDecodingSpecial where Element: BrineNestable {
    static func brineDecode(from value: Value, with decoder: BrineDecodingImpl, at node: CodingPathNode) throws -> [Element] {
        guard Element.nestingDepth == 0 else { return try decoder.decodeNested([Element].self, from: value, at: node) }
        return try decoder.decodeElements([Element.Leaf].self, from: value, at: node) as! [Element]
    }
}

// A ContiguousArray is coded as the Array sharing its storage (see
// NestedArrays.swift): the same header entry, arrays and errors.
extension ContiguousArray: BrineEncodingSpecial where Element: BrineNestable {
    static func brineEncode<T>(_ value: T, with encoder: BrineEncodingImpl, at node: CodingPathNode) throws -> Value {
        try [Element].brineEncode(Array(value as! ContiguousArray<Element>), with: encoder, at: node)
    }
}

extension ContiguousArray: BrineDecodingSpecial where Element: BrineNestable {
    static func brineDecode(from value: Value, with decoder: BrineDecodingImpl, at node: CodingPathNode) throws -> ContiguousArray<Element> {
        ContiguousArray(try [Element].brineDecode(from: value, with: decoder, at: node))
    }
}

// MARK: - Data

extension Data: BrineEncodingSpecial {
    static func brineEncode<T>(_ value: T, with encoder: BrineEncodingImpl, at node: CodingPathNode) throws -> Value {
        let data = value as! Data
        return try data.withUnsafeBytes { bytes in
            try encoder.encodeArray(
                bytes, dtype: .uint8, shape: [data.count], at: node,
                inline: { .bytes(Array(bytes)) },
                original: { .original(data, makeTensor: { data.withUnsafeBytes { try! AnyTensor(dtype: .uint8, shape: [$0.count], copying: $0) } }) })
        }
    }
}

extension Data: BrineDecodingSpecial {
    static func brineDecode(from value: Value, with decoder: BrineDecodingImpl, at node: CodingPathNode) throws -> Data {
        switch try decoder.outOfLineArray(value, requested: Data.self, at: node) {
        case .original(let v)?:
            return v as! Data
        case .tensor(let t, let path)?:
            try decoder.check(t, dtype: .uint8, for: Data.self, path: path, at: node)
            return Data(t.storage.bytes)
        case nil:
            if case .bytes(let b) = value { return Data(b) }
            let (storage, _) = try decoder.inlineElements(value, dtype: .uint8, for: Data.self, at: node)
            return Data(storage.bytes)
        }
    }
}

// MARK: - Tensors

extension Tensor: BrineEncodingSpecial {
    static func brineEncode<T>(_ value: T, with encoder: BrineEncodingImpl, at node: CodingPathNode) throws -> Value {
        let tensor = value as! Tensor<Scalar>
        return try tensor.withUnsafeBytes { bytes in
            try encoder.encodeArray(
                bytes, dtype: Scalar.dtype, shape: tensor.shape, at: node, identity: tensor.storage,
                inline: {
                    .map([("shape", .list(tensor.shape.map { .int(Int64($0)) })),
                          ("scalars", InlineArrays.encode(bytes, dtype: Scalar.dtype))])
                },
                original: { .tensor(AnyTensor(tensor)) })
        }
    }
}

extension Tensor: BrineDecodingSpecial {
    static func brineDecode(from value: Value, with decoder: BrineDecodingImpl, at node: CodingPathNode) throws -> Tensor<Scalar> {
        switch try decoder.outOfLineArray(value, requested: Tensor<Scalar>.self, at: node) {
        case .original(let v)?:
            return v as! Tensor<Scalar>
        case .tensor(let t, let path)?:
            try decoder.check(t, dtype: Scalar.dtype, for: Tensor<Scalar>.self, path: path, at: node)
            // Shares the loaded storage: a zero-copy view in mmap modes.
            return try Tensor<Scalar>(shape: t.shape, storage: t.storage)
        case nil:
            let (shape, storage, _) = try decoder.inlineTensor(value, dtype: Scalar.dtype, for: Tensor<Scalar>.self, at: node)
            return try Tensor<Scalar>(shape: shape, storage: storage)
        }
    }
}

extension AnyTensor: BrineEncodingSpecial {
    static func brineEncode<T>(_ value: T, with encoder: BrineEncodingImpl, at node: CodingPathNode) throws -> Value {
        let tensor = value as! AnyTensor
        return try encoder.encodeArray(
            tensor.storage.bytes, dtype: tensor.dtype, shape: tensor.shape, at: node, identity: tensor.storage,
            inline: {
                .map([("dtype", .string(tensor.dtype.name)),
                      ("shape", .list(tensor.shape.map { .int(Int64($0)) })),
                      ("scalars", InlineArrays.encode(tensor.storage.bytes, dtype: tensor.dtype))])
            },
            original: { .tensor(tensor) })
    }
}

extension AnyTensor: BrineDecodingSpecial {
    static func brineDecode(from value: Value, with decoder: BrineDecodingImpl, at node: CodingPathNode) throws -> AnyTensor {
        switch try decoder.outOfLineArray(value, requested: AnyTensor.self, at: node) {
        case .original(let v)?:
            return v as! AnyTensor
        case .tensor(let t, _)?:
            return t
        case nil:
            guard case .map(let entries) = value else {
                throw decoder.mismatch(AnyTensor.self, value, at: node, expected: "an array reference or an inline tensor")
            }
            let map = MapLookup(entries)
            guard case .string(let name)? = map["dtype"], let dtype = DType(name: name) else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: node.appending(BrineCodingKey(stringValue: "dtype")).path,
                    debugDescription: "missing or unknown dtype name"))
            }
            let (shape, storage, _) = try decoder.inlineTensor(value, dtype: dtype, for: AnyTensor.self, at: node)
            return try AnyTensor(dtype: dtype, shape: shape, storage: storage)
        }
    }
}

extension BrineDecodingImpl {
    /// Decodes the inline tensor form `{"shape": [...], "scalars": ...}`.
    func inlineTensor(_ value: Value, dtype: DType, for type: Any.Type, at node: CodingPathNode) throws -> (shape: [Int], storage: TensorStorage, count: Int) {
        guard case .map(let entries) = value else {
            throw mismatch(type, value, at: node, expected: "an array reference or an inline tensor {shape, scalars}")
        }
        let map = MapLookup(entries)
        let shapeNode = node.appending(BrineCodingKey(stringValue: "shape"))
        let scalarsNode = node.appending(BrineCodingKey(stringValue: "scalars"))
        guard case .list(let dims)? = map["shape"] else {
            throw DecodingError.keyNotFound(BrineCodingKey(stringValue: "shape"), .init(codingPath: node.path, debugDescription: "inline tensor without a shape list"))
        }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for (i, d) in dims.enumerated() {
            guard let x: Int = d.exactInteger(), x >= 0 else {
                throw DecodingError.dataCorrupted(.init(codingPath: shapeNode.appending(index: i).path, debugDescription: "dimension \(d) is not a non-negative integer"))
            }
            shape.append(x)
        }
        guard let scalars = map["scalars"] else {
            throw DecodingError.keyNotFound(BrineCodingKey(stringValue: "scalars"), .init(codingPath: node.path, debugDescription: "inline tensor without scalars"))
        }
        let (storage, count) = try inlineElements(scalars, dtype: dtype, for: type, at: scalarsNode)
        guard Shape.elementCount(shape) == count else {
            throw DecodingError.dataCorrupted(.init(codingPath: scalarsNode.path, debugDescription: "\(count) scalars do not fill shape \(shape)"))
        }
        if dtype == .bool { try checkBools(storage.bytes, for: type, path: nil, at: scalarsNode) }
        return (shape, storage, count)
    }
}

// MARK: - Half-precision scalars (bit-exact, NaN payloads included)

extension Float16: BrineEncodingSpecial, BrineDecodingSpecial {
    static func brineEncode<T>(_ value: T, with encoder: BrineEncodingImpl, at node: CodingPathNode) throws -> Value {
        .float32(ExactFloat.widen(float16Bits: (value as! Float16).bitPattern))
    }

    static func brineDecode(from value: Value, with decoder: BrineDecodingImpl, at node: CodingPathNode) throws -> Float16 {
        let f = try decoder.unboxFloat(value, at: node)
        guard let bits = ExactFloat.checkedNarrow(toFloat16Bits: f) else {
            throw DecodingError.dataCorrupted(.init(codingPath: node.path, debugDescription: "number \(value) does not fit in Float16 (it would become \(f.isFinite && f != 0 && Swift.abs(f) >= 1 ? "infinite" : "zero"))"))
        }
        return Float16(bitPattern: bits)
    }
}

extension BFloat16: BrineEncodingSpecial, BrineDecodingSpecial {
    static func brineEncode<T>(_ value: T, with encoder: BrineEncodingImpl, at node: CodingPathNode) throws -> Value {
        .float32((value as! BFloat16).floatValue)
    }

    static func brineDecode(from value: Value, with decoder: BrineDecodingImpl, at node: CodingPathNode) throws -> BFloat16 {
        let f = try decoder.unboxFloat(value, at: node)
        guard let bits = ExactFloat.checkedNarrow(toBFloat16Bits: f) else {
            throw DecodingError.dataCorrupted(.init(codingPath: node.path, debugDescription: "number \(value) does not fit in BFloat16 (it would become \(Swift.abs(f) >= 1 ? "infinite" : "zero"))"))
        }
        return BFloat16(bitPattern: bits)
    }
}

// MARK: - Optionals

/// Marks `Optional` so that nested optionals can be told apart.
protocol BrineOptionalMarker {}
extension Optional: BrineOptionalMarker {}

/// `nil` is `null`. `.some(x)` is `x`'s own encoding, except when `Wrapped`
/// is itself an optional: then `.some(x)` is a one-element list `[x]`, so
/// that `.some(nil)` (`[null]`) differs from `nil` (`null`).
extension Optional: BrineEncodingSpecial where Wrapped: Encodable {
    static func brineEncode<T>(_ value: T, with encoder: BrineEncodingImpl, at node: CodingPathNode) throws -> Value {
        guard let wrapped = value as! Wrapped? else { return .null }
        let inner = try encoder.wrapGeneric(wrapped, at: node)
        return Wrapped.self is any BrineOptionalMarker.Type ? .list([inner]) : inner
    }
}

extension Optional: BrineDecodingSpecial where Wrapped: Decodable {
    static func brineDecode(from value: Value, with decoder: BrineDecodingImpl, at node: CodingPathNode) throws -> Wrapped? {
        if case .null = value { return nil }
        guard Wrapped.self is any BrineOptionalMarker.Type else {
            return try decoder.unwrap(Wrapped.self, from: value, at: node)
        }
        guard case .list(let items) = value, items.count == 1 else {
            throw decoder.mismatch(Wrapped?.self, value, at: node, expected: "null or a one-element list (a nested optional)")
        }
        return try decoder.unwrap(Wrapped.self, from: items[0], at: node)
    }
}
