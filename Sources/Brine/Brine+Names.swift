// The `Brine` enum has the module's name, so `Brine.X` means the enum's
// member X: a user whose own module declares `Value`, `Tensor`, `Shape` or
// `ChunkFilter` reaches Brine's as `Brine.Value`, `Brine.Tensor`, … through
// these aliases. Inside the enum the module-level names are shadowed by the
// aliases themselves, so each alias goes through an underscored module-level
// one (hidden from the documentation).

@_documentation(visibility: internal)
public typealias _BrineValueConvertible = ValueConvertible
@_documentation(visibility: internal)
public typealias _BrineTensor<Scalar: BrineScalar> = Tensor<Scalar>
@_documentation(visibility: internal)
public typealias _BrineAnyTensor = AnyTensor
@_documentation(visibility: internal)
public typealias _BrineTensorStorage = TensorStorage
@_documentation(visibility: internal)
public typealias _BrineShape = Shape
@_documentation(visibility: internal)
public typealias _BrineDType = DType
@_documentation(visibility: internal)
public typealias _BrineCodec = Codec
@_documentation(visibility: internal)
public typealias _BrineChunkFilter = ChunkFilter
@_documentation(visibility: internal)
public typealias _BrineChecksum = Checksum
@_documentation(visibility: internal)
public typealias _BrineArrayInfo = ArrayInfo
@_documentation(visibility: internal)
public typealias _BrineWeights = Weights
@_documentation(visibility: internal)
public typealias _BrineArrayFilter = ArrayFilter
@_documentation(visibility: internal)
public typealias _BrineLoadMode = LoadMode
@_documentation(visibility: internal)
public typealias _BrineSaveOptions = SaveOptions
@_documentation(visibility: internal)
public typealias _BrineWriteOptions = WriteOptions
@_documentation(visibility: internal)
public typealias _BrineReadOptions = ReadOptions
@_documentation(visibility: internal)
public typealias _BrineReadLimits = ReadLimits

extension Brine {
    /// The module's Value: the object tree of a file's header and metadata (``Value``), reachable as `Brine.Value` where a
    /// type of the same name hides it.
    public typealias Value = BrineValue
    /// The module's ValueConvertible: a type with a ``Value`` form (``ValueConvertible``), reachable as `Brine.ValueConvertible` where a
    /// type of the same name hides it.
    public typealias ValueConvertible = _BrineValueConvertible
    /// The module's Tensor: a shaped array of `Scalar` (``Tensor``), reachable as `Brine.Tensor` where a
    /// type of the same name hides it.
    public typealias Tensor<Scalar: BrineScalar> = _BrineTensor<Scalar>
    /// The module's AnyTensor: a type-erased shaped array (``AnyTensor``), reachable as `Brine.AnyTensor` where a
    /// type of the same name hides it.
    public typealias AnyTensor = _BrineAnyTensor
    /// The module's TensorStorage: the bytes of a tensor (``TensorStorage``), reachable as `Brine.TensorStorage` where a
    /// type of the same name hides it.
    public typealias TensorStorage = _BrineTensorStorage
    /// The module's Shape: the shape arithmetic helpers (``Shape``), reachable as `Brine.Shape` where a
    /// type of the same name hides it.
    public typealias Shape = _BrineShape
    /// The module's DType: an element type (``DType``), reachable as `Brine.DType` where a
    /// type of the same name hides it.
    public typealias DType = _BrineDType
    /// The module's Codec: a chunk compression codec (``Codec``), reachable as `Brine.Codec` where a
    /// type of the same name hides it.
    public typealias Codec = _BrineCodec
    /// The module's ChunkFilter: a chunk transform applied before compression (``ChunkFilter``), reachable as `Brine.ChunkFilter` where a
    /// type of the same name hides it.
    public typealias ChunkFilter = _BrineChunkFilter
    /// The module's Checksum: the XXH3-64 checksum (``Checksum``), reachable as `Brine.Checksum` where a
    /// type of the same name hides it.
    public typealias Checksum = _BrineChecksum
    /// The module's ArrayInfo: one entry of a file's array table (``ArrayInfo``), reachable as `Brine.ArrayInfo` where a
    /// type of the same name hides it.
    public typealias ArrayInfo = _BrineArrayInfo
    /// The module's Weights: a model's arrays by path (``Weights``), reachable as `Brine.Weights` where a
    /// type of the same name hides it.
    public typealias Weights = _BrineWeights
    /// The module's ArrayFilter: a selection of array paths by glob (``ArrayFilter``), reachable as `Brine.ArrayFilter` where a
    /// type of the same name hides it.
    public typealias ArrayFilter = _BrineArrayFilter
    /// The module's LoadMode: how arrays are loaded: copy or memory map (``LoadMode``), reachable as `Brine.LoadMode` where a
    /// type of the same name hides it.
    public typealias LoadMode = _BrineLoadMode
    /// The module's SaveOptions: the options of a save (``SaveOptions``), reachable as `Brine.SaveOptions` where a
    /// type of the same name hides it.
    public typealias SaveOptions = _BrineSaveOptions
    /// The module's WriteOptions: the options of a written array (``WriteOptions``), reachable as `Brine.WriteOptions` where a
    /// type of the same name hides it.
    public typealias WriteOptions = _BrineWriteOptions
    /// The module's ReadOptions: the options of a read (``ReadOptions``), reachable as `Brine.ReadOptions` where a
    /// type of the same name hides it.
    public typealias ReadOptions = _BrineReadOptions
    /// The module's ReadLimits: the caps on sizes read from a file (``ReadLimits``), reachable as `Brine.ReadLimits` where a
    /// type of the same name hides it.
    public typealias ReadLimits = _BrineReadLimits
}
