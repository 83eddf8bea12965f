import Brine

/// The seed corpus of the FuzzPickle target: small hand-made pickles that
/// reach the opcode families and the NumPy allow-list (fuzz/reference_seeds.py
/// adds files written by Python's pickle and joblib with every compressor).
enum PickleFuzzSeeds {
    static func su(_ s: String) -> [UInt8] { [0x8C, UInt8(s.utf8.count)] + Array(s.utf8) }
    static func global(_ m: String, _ n: String) -> [UInt8] { [0x63] + Array("\(m)\n\(n)\n".utf8) }

    static func write(into dir: String) throws(BrineError) -> Int {
        var f = try SeedFolder(dir)
        let p2: [UInt8] = [0x80, 0x02]
        // A float32 array through _reconstruct + BUILD, inside a dict.
        let array = global("numpy.core.multiarray", "_reconstruct") + global("numpy", "ndarray") + [0x4B, 0x00, 0x85, 0x43, 0x01, 0x62, 0x87, 0x52]
            + [0x28, 0x4B, 0x01, 0x4B, 0x02, 0x4B, 0x02, 0x86] + global("numpy", "dtype") + su("f4") + [0x89, 0x88, 0x87, 0x52]
            + [0x28, 0x4B, 0x03] + su(">") + [0x4E, 0x4E, 0x4E, 0x4A, 0xFF, 0xFF, 0xFF, 0xFF, 0x4A, 0xFF, 0xFF, 0xFF, 0xFF, 0x4B, 0x00, 0x74, 0x62]
            + [0x88, 0x43, 0x10] + (0 ..< 16).map { UInt8($0 * 7) } + [0x74, 0x62]
        try f.raw("seed-array.pkl", p2 + [0x7D, 0x94] + su("w") + array + [0x73, 0x2E])
        // Containers, memo, marks and every scalar opcode of protocol 4.
        let scalars: [UInt8] = [0x80, 0x04, 0x95, 0x30, 0, 0, 0, 0, 0, 0, 0, 0x28, 0x4E, 0x88, 0x89, 0x4A, 1, 2, 3, 4, 0x4B, 9, 0x4D, 1, 2,
                                0x8A, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0x43, 0x02, 0x61, 0x62]
            + su("é") + [0x94, 0x68, 0x00, 0x8F, 0x28, 0x4B, 0x01, 0x90, 0x28, 0x4B, 0x02, 0x91, 0x6C, 0x2E]
        try f.raw("seed-scalars.pkl", scalars)
        // Protocol 0 text opcodes.
        try f.raw("seed-p0.pkl", Array("(dp0\nVkey\np1\n(lp2\nI1\naF2.5\naS'a\\\\x00b'\np3\naL123456789012345678901234567890L\nas.".utf8))
        // A recorded call (REDUCE, NEWOBJ, BUILD) and a persistent id.
        try f.raw("seed-reduce.pkl", p2 + global("os", "system") + su("echo") + [0x85, 0x52] + global("sklearn.x", "Model") + [0x29, 0x81, 0x7D]
            + su("a") + [0x4B, 0x01, 0x73, 0x62] + su("pid") + [0x51, 0x87, 0x2E])
        // An OrderedDict, set, complex, slice through REDUCE (protocol 2).
        try f.raw("seed-builtins.pkl", p2 + [0x28] + global("collections", "OrderedDict") + [0x29, 0x52] + global("__builtin__", "set") + [0x5D, 0x4B, 0x01, 0x61, 0x85, 0x52]
            + global("__builtin__", "complex") + [0x47, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0x4B, 0x02, 0x86, 0x52] + global("__builtin__", "slice") + [0x4B, 0x01, 0x4B, 0x05, 0x86, 0x52] + [0x6C, 0x2E])
        return f.count
    }
}
