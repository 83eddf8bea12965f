import Foundation
import Testing
@testable import Brine

@Suite("Read-write sessions on format 1.0 files")
struct SessionFormat10Tests {
    @Test("a read-write flush of a format 1.0 file keeps it 1.0 (plain chunk sizes) and it verifies and loads with the change, here and in python/brine_reader.py")
    func flushKeepsFormat10() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let src = dir.appendingPathComponent("src.brine"), url = dir.appendingPathComponent("m.brine")
        try Brine.save(MLP.make([300, 64, 20], seed: 41), to: src)
        // The same file as a 1.0 writer makes it: header and trailer of minor version 0.
        let file = try BrineFile(contentsOf: src)
        var bytes = [UInt8](try Data(contentsOf: src))
        let header = Header(metadata: file.metadata, arrays: file.arrays, root: file.root, minorVersion: 0).encoded()
        bytes = Array(bytes[0 ..< file.headerOffset]) + header
        bytes += Trailer(headerOffset: UInt64(file.headerOffset), headerLength: UInt64(header.count), headerChecksum: Checksum.xxh3(header),
                         fileLength: UInt64(file.headerOffset + header.count + FormatSpec.trailerSize), minor: 0).encoded()
        bytes[10] = 0
        bytes[11] = 0
        try Data(bytes).write(to: url)
        let f10 = try BrineFile(contentsOf: url)
        #expect(f10.formatVersion.minor == 0)
        do {
            let f = try BrineFile(contentsOf: url, mode: .mmapReadWrite)
            var w: Tensor<Float> = try f.array("layers.0.weight")
            w[flat: 5] = 1234.5
            #expect(try f.flush() == 1)
        }
        let after = try BrineFile(contentsOf: url)
        #expect(after.formatVersion.minor == 0)
        #expect(after.verify().isEmpty)
        let w: Tensor<Float> = try after.array("layers.0.weight")
        #expect(w[flat: 5] == 1234.5)
        let out = try PythonOracle.run(#"""
            import sys, brine_reader as br
            with br.BrineFile(sys.argv[1]) as f:
                print(f.format_version, f.verify(), float(f.read("layers.0.weight").reshape(-1)[5]))
            """#, [url.path])
        #expect(out.contains("(1, 0) [] 1234.5"), "\(out)")
    }
}
