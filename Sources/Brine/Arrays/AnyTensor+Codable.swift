extension DType {
    /// The Swift scalar type of this dtype.
    var scalarType: any (BrineScalar & Codable).Type {
        switch self {
        case .bool: return Bool.self
        case .int8: return Int8.self
        case .int16: return Int16.self
        case .int32: return Int32.self
        case .int64: return Int64.self
        case .uint8: return UInt8.self
        case .uint16: return UInt16.self
        case .uint32: return UInt32.self
        case .uint64: return UInt64.self
        case .float16: return Float16.self
        case .bfloat16: return BFloat16.self
        case .float32: return Float.self
        case .float64: return Double.self
        }
    }
}

extension AnyTensor: Codable {
    private enum CodingKeys: String, CodingKey { case dtype, shape, scalars }

    /// Decodes `{"dtype": "float32", "shape": [...], "scalars": [...]}` (the
    /// form generic coders such as `JSONDecoder` see; Brine's own decoder
    /// reads large tensors out of line and accepts this form inline).
    /// - Throws: `DecodingError.dataCorrupted` for an unknown dtype name or a
    ///   scalar count that does not fill the shape.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .dtype)
        guard let dtype = DType(name: name) else {
            throw DecodingError.dataCorruptedError(forKey: .dtype, in: c, debugDescription: "unknown dtype '\(name)'")
        }
        let shape = try c.decode([Int].self, forKey: .shape)
        func read<S: BrineScalar & Codable>(_: S.Type) throws -> AnyTensor {
            let scalars = try c.decode([S].self, forKey: .scalars)
            do {
                return AnyTensor(try Tensor<S>(shape: shape, scalars: scalars))
            } catch {
                throw DecodingError.dataCorruptedError(forKey: .scalars, in: c, debugDescription: error.description)
            }
        }
        self = try read(dtype.scalarType)
    }

    /// Encodes `{"dtype": name, "shape": [...], "scalars": [...]}` for generic coders.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dtype.name, forKey: .dtype)
        try c.encode(shape, forKey: .shape)
        func write<S: BrineScalar & Codable>(_: S.Type) throws {
            try c.encode(try typed(as: S.self).scalars, forKey: .scalars)
        }
        try write(dtype.scalarType)
    }
}
