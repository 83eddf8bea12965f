import Foundation
import Testing
@testable import Brine
import BrineHDF5

/// Names an HDF5 file gives an object, kept or refused, never changed or
/// dropped without a trace (attacker: a second hard link vanished; a
/// non-UTF-8 link name came out with U+FFFD).
@Suite("HDF5 link names")
struct HDF5LinkTests {
    @Test("a dataset with two hard links converts once, under its first name; the other name is recorded in the metadata")
    func hardLinks() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("links.h5")
        _ = try PythonOracle.run("""
            import sys, numpy as np, h5py
            with h5py.File(sys.argv[1], "w") as f:
                f["model/kernel"] = np.arange(6, dtype=np.float32).reshape(2, 3)
                f["copy/kernel"] = f["model/kernel"]
            """, [url.path])
        let b = try HDF5.read(contentsOf: url)
        #expect(b.names == ["copy/kernel"])
        #expect(b.metadata["model/kernel@"] == "hard link to copy/kernel (converted once, under that name)", "\(b.metadata)")
    }

    @Test("a link name that is not UTF-8 is invalidInterop, not a name with U+FFFD")
    func nonUTF8Name() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("bytes.h5")
        _ = try PythonOracle.run("""
            import sys, numpy as np, h5py
            with h5py.File(sys.argv[1], "w") as f:
                f[b"w\\xff"] = np.arange(3, dtype=np.float32)
            """, [url.path])
        #expect { try HDF5.read(contentsOf: url) } throws: {
            ($0 as? BrineError)?.code == .invalidInterop && "\($0)".contains("not UTF-8")
        }
    }
}
