/// The portable byte shuffle: 128-bit Swift SIMD vectors (``PortableSIMD``:
/// SSE2 on any x86_64, NEON on arm64), 16 elements per step.
///
/// A shuffle of `k`-byte elements is log2(k) rounds of "even bytes, odd
/// bytes" splits (for k = 4: the stream of bytes 0 and 2 and the stream of
/// bytes 1 and 3, then each split again); the unshuffle is log2(k) rounds
/// of interleaves of growing width (bytes, then 16-bit, then 32-bit lanes).
/// Both are written once, over a binary tree of `k` vectors
/// (``VectorTree``) whose type fixes `k` at compile time, so each element
/// size compiles to straight-line code with all vectors in registers. Each
/// kernel returns how many elements it did (`count` rounded down to 16);
/// the caller finishes with the scalar loop. Index arithmetic wraps (`&+`,
/// `&*`) because every offset stays below `count * elementSize`, the
/// caller-checked buffer size.
extension ByteShuffle {
    typealias Bytes = PortableSIMD.Bytes

    /// Two, four and eight 16-byte vectors: one step of 16 elements of 2, 4 or 8 bytes.
    typealias Vectors2 = VectorPair<OneVector>
    typealias Vectors4 = VectorPair<Vectors2>
    typealias Vectors8 = VectorPair<Vectors4>

    /// Shuffles (`shuffling`) or unshuffles the first `count` rounded down
    /// to 16 elements of `k` bytes, for k = 2, 4 or 8; returns that number
    /// (0 for other sizes).
    static func portableTranspose(
        _ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, count: Int, elementSize k: Int, shuffling: Bool
    ) -> Int {
        switch k {
        case 2: return portableTranspose(s, d, count: count, as: Vectors2.self, shuffling: shuffling)
        case 4: return portableTranspose(s, d, count: count, as: Vectors4.self, shuffling: shuffling)
        case 8: return portableTranspose(s, d, count: count, as: Vectors8.self, shuffling: shuffling)
        default: return 0
        }
    }

    /// 16 elements of `Tree.count` bytes per step. Shuffle: the step's `k`
    /// consecutive input vectors in, one vector into each of the `k` byte
    /// planes (`count` bytes apart) out. Unshuffle: the reverse. The
    /// direction test is loop-invariant (LLVM unswitches it).
    @inline(__always)
    private static func portableTranspose<Tree: VectorTree>(
        _ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, count: Int, as: Tree.Type, shuffling: Bool
    ) -> Int {
        var i = 0
        while count &- i >= 16 {
            if shuffling {
                Tree(loading: s + i &* Tree.count, step: 16).shuffle(storingTo: d + i, step: count)
            } else {
                Tree(loading: s + i, step: count).unshuffle(laneBits: 8, storingTo: d + i &* Tree.count)
            }
            i &+= 16
        }
        return i
    }
}

/// `count` 16-byte vectors `v[0] … v[count-1]` (a power of two) as a binary
/// tree: a ``VectorPair`` holds the even-indexed vectors in `even` and the
/// odd-indexed ones in `odd`, each again such a tree, down to
/// ``OneVector``. Pairing `even` with `odd` position by position therefore
/// pairs `v[2j]` with `v[2j+1]`, the neighbours each shuffle and unshuffle
/// round combines, and the results form the next round's trees directly.
protocol VectorTree {
    /// The number of vectors (also the element size, in bytes, of the
    /// shuffle it does).
    static var count: Int { get }

    /// Loads `v[m]` from `p + m * step`.
    init(loading p: UnsafeRawPointer, step: Int)

    /// `f(a[j], b[j])` for every position `j`: the first results as one
    /// tree, the second results as another.
    static func zip(
        _ a: Self, _ b: Self, _ f: (PortableSIMD.Bytes, PortableSIMD.Bytes) -> (PortableSIMD.Bytes, PortableSIMD.Bytes)
    ) -> (Self, Self)

    /// Treats the vectors as 16 elements of `count` bytes (in memory order)
    /// and stores byte plane `j` of them, 16 bytes, at `p + j * step`.
    func shuffle(storingTo p: UnsafeMutableRawPointer, step: Int)

    /// Treats `v[j]` as byte plane `j` of 16 elements (in units of
    /// `laneBits`) and stores the elements, `count * 16` bytes, at `p`.
    func unshuffle(laneBits: Int, storingTo p: UnsafeMutableRawPointer)
}

/// A tree of one vector: a shuffle or unshuffle of 1-byte elements is the identity.
struct OneVector: VectorTree {
    var v: PortableSIMD.Bytes

    @inline(__always) static var count: Int { 1 }

    @inline(__always)
    init(loading p: UnsafeRawPointer, step: Int) { v = p.loadUnaligned(as: PortableSIMD.Bytes.self) }

    @inline(__always)
    private init(_ v: PortableSIMD.Bytes) { self.v = v }

    @inline(__always)
    static func zip(
        _ a: Self, _ b: Self, _ f: (PortableSIMD.Bytes, PortableSIMD.Bytes) -> (PortableSIMD.Bytes, PortableSIMD.Bytes)
    ) -> (Self, Self) {
        let (x, y) = f(a.v, b.v)
        return (OneVector(x), OneVector(y))
    }

    @inline(__always)
    func shuffle(storingTo p: UnsafeMutableRawPointer, step: Int) { p.storeBytes(of: v, as: PortableSIMD.Bytes.self) }

    @inline(__always)
    func unshuffle(laneBits: Int, storingTo p: UnsafeMutableRawPointer) { p.storeBytes(of: v, as: PortableSIMD.Bytes.self) }
}

/// A tree of `2 * Half.count` vectors: the even-indexed ones and the odd-indexed ones.
struct VectorPair<Half: VectorTree>: VectorTree {
    var even: Half
    var odd: Half

    @inline(__always) static var count: Int { 2 &* Half.count }

    @inline(__always)
    init(loading p: UnsafeRawPointer, step: Int) {
        even = Half(loading: p, step: step &* 2)
        odd = Half(loading: p + step, step: step &* 2)
    }

    @inline(__always)
    private init(even: Half, odd: Half) {
        self.even = even
        self.odd = odd
    }

    @inline(__always)
    static func zip(
        _ a: Self, _ b: Self, _ f: (PortableSIMD.Bytes, PortableSIMD.Bytes) -> (PortableSIMD.Bytes, PortableSIMD.Bytes)
    ) -> (Self, Self) {
        let (e0, e1) = Half.zip(a.even, b.even, f)
        let (o0, o1) = Half.zip(a.odd, b.odd, f)
        return (VectorPair(even: e0, odd: o0), VectorPair(even: e1, odd: o1))
    }

    /// One round: the even bytes of each neighbour pair hold the element
    /// bytes 0, 2, 4, … (the even byte planes), the odd bytes 1, 3, 5, …;
    /// each half is then a shuffle of elements half as wide.
    @inline(__always)
    func shuffle(storingTo p: UnsafeMutableRawPointer, step: Int) {
        let (evenBytes, oddBytes) = Half.zip(even, odd, PortableSIMD.evenOddBytes)
        evenBytes.shuffle(storingTo: p, step: step &* 2)
        oddBytes.shuffle(storingTo: p + step, step: step &* 2)
    }

    /// One round: interleaving neighbouring planes gives units twice as wide,
    /// of elements 0-7 in the low results and 8-15 in the high results;
    /// each is then an unshuffle of half as many planes.
    @inline(__always)
    func unshuffle(laneBits: Int, storingTo p: UnsafeMutableRawPointer) {
        let (low, high) = Half.zip(even, odd) { PortableSIMD.interleave($0, $1, laneBits: laneBits) }
        low.unshuffle(laneBits: laneBits &* 2, storingTo: p)
        high.unshuffle(laneBits: laneBits &* 2, storingTo: p + Half.count &* 16)
    }
}
