import Foundation
import Testing
@testable import Brine
import BrineHDF5

/// Outputs are replaced only when they are regular files, and keep every
/// array's name or refuse it (attacker findings: `brine convert … /dev/null`
/// run as root put a regular file in place of the device; `.h5` output
/// stored `a/./b` as `a/b`).
@Suite("Output safety: special files and names an output cannot keep")
struct OutputSafetyTests {
    static func bundle(_ names: [String]) -> TensorBundle {
        TensorBundle(tensors: names.map { ($0, AnyTensor(try! Tensor<Float>(shape: [2], scalars: [1, 2]))) }, metadata: [:])
    }

    @Test("a FIFO (or a link to one) as the destination is refused before anything is written, by every writer and the CLI; it stays a FIFO",
          arguments: ["brine", "safetensors", "npz", "npy", "gguf", "h5"])
    func fifoDestination(ext: String) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let fifo = dir.appendingPathComponent("out.\(ext)")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        let link = dir.appendingPathComponent("link.\(ext)")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: fifo.path)
        let input = dir.appendingPathComponent("in.safetensors")
        try Safetensors.write(Self.bundle(["w"]).tensors, to: input)
        for target in [fifo, link] {
            let r = try runBrine(["convert", input.path, target.path])
            #expect(r.status == 1 && r.err.contains("invalidArgument") && r.err.contains("not a regular file"), "\(target.lastPathComponent): \(r.status) \(r.err)")
        }
        #expect {
            if ext == "h5" { try HDF5.write(Self.bundle(["w"]), to: fifo) } else { try Self.bundle(["w"]).write(to: fifo) }
        } throws: { ($0 as? BrineError)?.code == .invalidArgument }
        var st = stat()
        #expect(lstat(fifo.path, &st) == 0 && st.st_mode & S_IFMT == S_IFIFO, "the FIFO was replaced")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["in.safetensors", "link.\(ext)", "out.\(ext)"])
    }

    @Test("HDF5 output refuses names libhdf5 would store under another path; a nested name is kept",
          arguments: ["a/./b", "p//q", "/lead", "t/", "x\0y", "a/../b"])
    func h5Names(name: String) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("out.h5")
        #expect { try HDF5.write(Self.bundle(["ok/nested", name]), to: url) } throws: {
            ($0 as? BrineError)?.code == .invalidArgument && ($0 as? BrineError)?.arrayPath == name
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        try HDF5.write(Self.bundle(["ok/nested"]), to: url)
        #expect(try HDF5.read(contentsOf: url).names == ["ok/nested"])
    }

    @Test(".npz output refuses an array name with a NUL (numpy.load read x\\0y as x); nothing is written")
    func npzNUL() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("out.npz")
        #expect { try Npz.write(Self.bundle(["ok", "x\0y"]).tensors, to: url) } throws: {
            ($0 as? BrineError)?.code == .invalidArgument && ($0 as? BrineError)?.arrayPath == "x\0y"
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("GGUF output refuses a zero-element shape whose other dimensions overflow (its own reader, like ggml's, refused the file)")
    func ggufZeroSizedOverflow() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("out.gguf")
        let empty = try AnyTensor(dtype: .float32, shape: [0, Int.max, Int.max], storage: TensorStorage(zeroedByteCount: 0))
        #expect { try TensorBundle(tensors: [("z", empty)]).write(to: url) } throws: {
            ($0 as? BrineError)?.code == .limitExceeded && ($0 as? BrineError)?.arrayPath == "z"
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        let fine = try AnyTensor(dtype: .float32, shape: [0, 3], storage: TensorStorage(zeroedByteCount: 0))
        try TensorBundle(tensors: [("z", fine)]).write(to: url)
        #expect(try TensorBundle(contentsOf: url).tensors.first?.tensor.shape == [0, 3])
    }
}
