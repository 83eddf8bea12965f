import Foundation
import Testing
@testable import Brine
import BrineTestSupport

/// Edge cases of the Python package (python/) that must fail loudly, never
/// leave a file no reader accepts.
@Suite("Python package: hostile and edge inputs")
struct PythonHostileTests {
    @Test("brine.save_file refuses a metadata list or map 256 deep (even empty), which every reader refuses, and keeps the old file; 255 deep loads in Swift")
    func nestingCap() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir.appendingPathComponent("m.brine").path
        let out = try PythonOracle.run(#"""
            import sys, numpy as np, brine_writer as bw
            path = sys.argv[1]
            def nest(n, inner):
                v = inner
                for _ in range(n - 1):
                    v = [v]
                return v
            bw.save_file({"w": np.arange(3, dtype=np.float32)}, path, metadata={"k": nest(255, [])})
            before = open(path, "rb").read()
            for inner in ([], {}, [1], {"a": 1}):
                try:
                    bw.save_file({"w": np.zeros(3, np.float32)}, path, metadata={"k": nest(256, inner)})
                    print("written", repr(inner)[:8])
                except bw.BrineWriteError as e:
                    print("refused", e.code)
            print("unchanged" if open(path, "rb").read() == before else "changed")
            """#, [path])
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0 == "refused limitExceeded" }.count == 4, "\(lines)")
        #expect(lines.contains("unchanged"), "\(lines)")
        // The 255-deep file is one Brine reads.
        let f = try BrineFile(contentsOf: URL(fileURLWithPath: path))
        let w: Tensor<Float> = try f.array("w")
        #expect(w.scalars == [0, 1, 2])
    }

    @Test("brine.inline_array never converts an inline AnyTensor inexactly (300 as int8, -1 as uint8, 1.5 as int32, 2 as bool, 2^64-1 as int64) nor to a non-Brine dtype; exact ones still convert")
    func inlineConversionsExact() throws {
        let out = try PythonOracle.run(#"""
            import brine
            bad = [("int8", [300, -1]), ("uint8", [-1]), ("int32", [1.5]), ("bool", [2]),
                   ("int64", [brine.UInt(2**64 - 1)]), ("S1", [12]), ("object", [1]), ("datetime64[s]", [1])]
            for name, scalars in bad:
                a = brine.inline_array({"dtype": name, "shape": [len(scalars)], "scalars": scalars})
                print("refused" if a is None else f"converted {name} {a.tolist()}")
            good = brine.inline_array({"dtype": "int16", "shape": [2], "scalars": [3, -4]})
            print("good", good.dtype, good.tolist())
            """#)
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0 == "refused" }.count == 8, "\(lines)")
        #expect(lines.contains("good int16 [3, -4]"), "\(lines)")
    }

    @Test("python/brine_reader.py refuses an empty array whose other dimensions NumPy cannot hold ([2^62, 0, 2^62]) with a BrineError (limitExceeded), as its contract says, not NumPy's ValueError; Brine reads it as an empty tensor")
    func emptyArrayWithHugeDimensions() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir.appendingPathComponent("z.brine").path
        let out = try PythonOracle.run(#"""
            import sys, struct, numpy as np, xxhash, brine_writer as bw, brine_reader as br
            def varint(v):
                out = bytearray()
                while True:
                    b, v = v & 0x7F, v >> 7
                    out.append(b | 0x80 if v else b)
                    if not v:
                        return bytes(out)
            path = sys.argv[1]
            bw.save_file({"z": np.zeros((0, 3, 5), np.float32)}, path, durable=False)
            d = open(path, "rb").read()
            t = len(d) - 64
            ho, hl = struct.unpack("<QQ", d[t:t + 16])
            h = d[ho:ho + hl]
            old = b"\x01z\x0c\x0c\x03\x00\x03\x05"  # path "z", float32, float32, rank 3, shape (0, 3, 5)
            assert h.count(old) == 1
            h = h.replace(old, b"\x01z\x0c\x0c\x03" + varint(1 << 62) + b"\x00" + varint(1 << 62))
            tr = struct.pack("<QQQQHHIQ", ho, len(h), xxhash.xxh3_64_intdigest(h), ho + len(h) + 64, 1, 1, 0, 0)
            open(path, "wb").write(d[:ho] + h + tr + struct.pack("<Q", xxhash.xxh3_64_intdigest(tr)) + b"BRINEEND")
            try:
                br.load(path)
                print("loaded")
            except br.BrineError as e:
                print("error", e.code)
            """#, [path])
        #expect(out.contains("error limitExceeded"), "\(out)")
        let t = try BrineFile(contentsOf: URL(fileURLWithPath: path)).anyArray("z")
        #expect(t.shape == [1 << 62, 0, 1 << 62] && t.count == 0)
    }

    @Test("brine.load(mmap=True) verifies the checksums of zero-copy views, as brine.load_file does and the package promises: a damaged uncompressed array raises checksumMismatch")
    func loadVerifiesMappedViews() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir.appendingPathComponent("m.brine").path
        let out = try PythonOracle.run(#"""
            import sys, numpy as np, brine
            path = sys.argv[1]
            brine.save_file({"w": np.arange(1000, dtype=np.float32)}, path)
            with brine.BrineFile(path) as f:
                off = f.info("w").data_offset
            data = bytearray(open(path, "rb").read())
            data[off + 3] ^= 0x40
            open(path, "wb").write(bytes(data))
            for name, fn in (("load_file", brine.load_file), ("load", brine.load)):
                try:
                    fn(path, mmap=True)
                    print(name, "returned damaged data")
                except brine.BrineError as e:
                    print(name, e.code)
            """#, [path])
        #expect(out.contains("load_file checksumMismatch") && out.contains("load checksumMismatch"), "\(out)")
    }
}

/// The Python reader's shared data lock must last as long as the reader may
/// read the file, as Brine's own does (docs/FORMAT.md, "Locks").
@Suite("Python package: locks against in-place flushes", .serialized)
struct PythonLockTests {
    @Test("zero-copy views from brine_reader.load(mmap=True) and a BrineFile outliving a second one on the same file keep the shared lock: a Swift flush then re-saves instead of writing under them")
    func pythonReaderKeepsLock() throws {
        let helper = try #require(Helper.path, "BrineTestHelper not built")
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let path = dir.appendingPathComponent("m.brine").path
        try #require(try Helper.run(["rw-make", path, "64"]).status == 0)
        let out = try PythonOracle.run(#"""
            import os, sys, subprocess, numpy as np, brine_reader as br
            helper, path = sys.argv[1], sys.argv[2]
            def flush(gen):
                ino = os.stat(path).st_ino
                subprocess.run([helper, "rw-loop", path, str(gen), "1"], check=True, stdout=subprocess.DEVNULL)
                return "in place" if os.stat(path).st_ino == ino else "re-saved"
            # 1. Views of a mapping that load() returned (the BrineFile is closed).
            views = br.load(path, mmap=True)
            dense = views["dense"]
            snapshot = dense.copy()
            print("views:", flush(1), "intact" if np.array_equal(dense, snapshot) else "changed")
            del views, dense
            # 2. Two readers of one file in this process; closing one keeps the other's lock.
            a = br.BrineFile(path)
            with br.BrineFile(path):
                pass
            print("reader:", flush(2))
            a.close()
            # 3. No reader left: the flush writes in place.
            print("none:", flush(3))
            """#, [helper, path])
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.contains("views: re-saved intact"), "\(lines)")
        #expect(lines.contains("reader: re-saved"), "\(lines)")
        #expect(lines.contains("none: in place"), "\(lines)")
        #expect(try Brine.load(SessionModel.self, from: URL(fileURLWithPath: path)).generation == 3)
    }
}
