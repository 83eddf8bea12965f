import Foundation
import Testing
@testable import Brine

@Suite("npz member names")
struct NpzNameTests {
    @Test("Npz.write refuses arrays named x and x.npy (numpy.load would return x's data for the key x.npy) and leaves no file; unrelated .npy-suffixed names still write and load in NumPy")
    func ambiguousNames() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("a.npz")
        let x = randomArray(dtype: .uint8, shape: [2], seed: 1), xnpy = randomArray(dtype: .float32, shape: [3], seed: 2)
        for order in [[("x", x), ("x.npy", xnpy)], [("x.npy", xnpy), ("x", x)]] {
            let e = #expect(throws: BrineError.self) { try Npz.write(order.map { (name: $0.0, tensor: $0.1) }, to: url) }
            #expect(e?.code == .invalidArgument && e?.arrayPath == "x.npy", "\(String(describing: e))")
            #expect(!FileManager.default.fileExists(atPath: url.path))
        }
        try Npz.write([(name: "y.npy", tensor: xnpy), (name: "x", tensor: x)], to: url)
        let out = try PythonOracle.run(#"""
            import sys, numpy as np
            z = np.load(sys.argv[1])
            print(sorted(z.files), z["y.npy"].dtype, z["x"].dtype)
            """#, [url.path])
        #expect(out.contains("['x', 'y.npy'] float32 uint8"), "\(out)")
    }
}
