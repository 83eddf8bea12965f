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

    @Test("a dataset whose data lives in external raw files (even /etc/passwd) or other files (a virtual dataset) is refused (unsupportedFeature); libhdf5 would read them")
    func dataOutsideTheFile() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let secret = dir.appendingPathComponent("secret.bin")
        try Data("TOP-SECRET-BYTES-0123456789abcdefTOP-SECRET-BYTES-0123456789abcdef".utf8).write(to: secret)
        for kind in ["external", "virtual"] {
            let url = dir.appendingPathComponent("\(kind).h5")
            _ = try PythonOracle.run("""
                import sys, numpy as np, h5py
                kind, path, secret = sys.argv[1], sys.argv[2], sys.argv[3]
                if kind == "external":
                    with h5py.File(path, "w") as f:
                        f.create_dataset("model/kernel", shape=(64,), dtype="u1", external=[(secret, 0, 64)])
                else:
                    src = path + ".src.h5"
                    with h5py.File(src, "w") as f:
                        f["data"] = np.frombuffer(open(secret, "rb").read(64), dtype="u1")
                    layout = h5py.VirtualLayout(shape=(64,), dtype="u1")
                    layout[:] = h5py.VirtualSource(src, "data", shape=(64,))
                    with h5py.File(path, "w") as f:
                        f.create_virtual_dataset("model/kernel", layout)
                # h5py itself reads the outside bytes through either dataset.
                with h5py.File(path, "r") as f:
                    assert bytes(f["model/kernel"][:16]) == b"TOP-SECRET-BYTES"
                """, [kind, url.path, secret.path])
            #expect(throws: BrineError.self, "\(kind)") { try HDF5.read(contentsOf: url) }
            do {
                _ = try HDF5.read(contentsOf: url)
            } catch {
                #expect(error.code == .unsupportedFeature && error.arrayPath == "model/kernel", "\(kind): \(error)")
            }
        }
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
