import Foundation
import Testing
@testable import Brine
import BrineTestSupport

/// Format 1.1 raw chunks (docs/FORMAT.md, "Added in 1.1: raw chunks"): a
/// chunk that a compressing codec does not make smaller is stored raw and
/// flagged, so compression never grows an array.
@Suite("Raw chunks (format 1.1)")
struct RawChunkTests {
    /// `n` bytes of uniformly random data: incompressible for every codec.
    static func noise(_ n: Int, seed: UInt64) -> AnyTensor {
        AnyTensor(try! Tensor<UInt8>(shape: [n], scalars: noiseBytes(n, seed: seed)))
    }

    /// The bytes of ``noise(_:seed:)``.
    static func noiseBytes(_ n: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        return (0 ..< n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    /// A float32 ramp: very compressible.
    static func ramp(_ n: Int) -> AnyTensor {
        AnyTensor(try! Tensor<Float>(shape: [n], scalars: (0 ..< n).map { Float($0 % 64) }))
    }

    static let codecs: [Codec] = [.lz4, .zstd(level: 1), .zstd(level: 19)]

    @Test("incompressible chunks are stored raw and flagged, compressible ones compressed; both load bit-exactly",
          arguments: codecs, [ChunkFilter.none, .shuffle])
    func rawAndCompressed(codec: Codec, filter: ChunkFilter) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        var o = WriteOptions(codec: codec, filter: filter)
        o.chunkBytes = 4096
        let noise = Self.noise(10_000, seed: 3)
        let ramp = Self.ramp(5_000)
        // Mixed: the first chunk compresses (zeros), the rest do not.
        var mixedBytes = [UInt8](repeating: 0, count: 4096)
        mixedBytes += Self.noiseBytes(5_000, seed: 4)
        let mixed = AnyTensor(try Tensor<UInt8>(shape: [mixedBytes.count], scalars: mixedBytes))
        let w = try BrineWriter(url: url, options: o)
        try w.append(noise, arrayPath: "noise")
        try w.append(ramp, arrayPath: "ramp")
        try w.append(mixed, arrayPath: "mixed")
        try w.finish()

        let f = try BrineFile(contentsOf: url)
        #expect(f.formatVersion.major == 1 && f.formatVersion.minor == 1)
        let n = try #require(f.info("noise")), r = try #require(f.info("ramp")), m = try #require(f.info("mixed"))
        #expect(n.chunks.allSatisfy { $0.isRaw }, "\(n.chunks)")
        #expect(n.storedBytes == n.storedRawBytes)
        #expect(r.chunks.allSatisfy { !$0.isRaw } && r.storedBytes < r.storedRawBytes / 4)
        #expect(m.chunks.map(\.isRaw) == [false, true, true])
        for c in n.chunks { #expect(c.storedBytes <= o.chunkBytes) }
        #expect(f.verify().isEmpty)
        for mode in [LoadMode.copy, .mmap] {
            let g = try BrineFile(contentsOf: url, mode: mode)
            #expect(try g.anyArray("noise") == noise)
            #expect(try g.anyArray("ramp") == ramp)
            #expect(try g.anyArray("mixed") == mixed)
        }
        // The Python reader decodes raw chunks too, to the same bytes.
        let expected = try [noise, ramp, mixed].map { try writeBytes($0, dir) }
        let out = try PythonOracle.run("""
            import sys, brine_reader
            with brine_reader.BrineFile(sys.argv[1]) as f:
                assert f.format_version == (1, 1), f.format_version
                assert f.verify() == []
                for p, want in zip(("noise", "ramp", "mixed"), sys.argv[2:]):
                    a = f.read(p)
                    assert a.tobytes() == open(want, "rb").read(), p
                    print(p, sum(f.info(p).raw_chunks))
            """, [url.path] + expected)
        #expect(out == "noise \(n.chunks.filter(\.isRaw).count)\nramp 0\nmixed 2\n", "\(out)")
    }

    /// Writes a tensor's bytes to a file in `dir`, for the oracle to compare.
    func writeBytes(_ t: AnyTensor, _ dir: URL) throws -> String {
        let u = dir.appendingPathComponent("bytes-\(UUID().uuidString.prefix(6))")
        try withExtendedLifetime(t) { try Data(t.storage.bytes).write(to: u) }
        return u.path
    }

    @Test("lz4 without shuffle on MiniLM: no array grows, the file is at most uncompressed plus its header",
          .enabled(if: FileManager.default.fileExists(atPath: miniLMPath.path)))
    func miniLMNeverGrows() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let source = try TensorBundle(contentsOf: miniLMPath, mode: .mmap)
        let plain = dir.appendingPathComponent("none.brine"), lz4 = dir.appendingPathComponent("lz4.brine")
        var options = TensorBundleWriteOptions()
        try source.write(to: plain, format: .brine, options: options)
        options.brine = WriteOptions(codec: .lz4)
        try source.write(to: lz4, format: .brine, options: options)
        let a = try BrineFile(contentsOf: plain), b = try BrineFile(contentsOf: lz4)
        #expect(b.arrays.count == 104)
        let raw = b.arrays.reduce(0) { $0 + $1.storedRawBytes }
        let stored = b.arrays.reduce(0) { $0 + $1.storedBytes }
        #expect(b.arrays.allSatisfy { $0.storedBytes <= $0.storedRawBytes })
        #expect(stored <= raw)
        let rawChunks = b.arrays.reduce(0) { $0 + $1.chunks.filter(\.isRaw).count }
        let chunks = b.arrays.reduce(0) { $0 + $1.chunkCount }
        print("raw chunks: MiniLM lz4 (no shuffle): \(rawChunks) of \(chunks) chunks stored raw; \(stored) of \(raw) bytes; file \(b.fileSize) vs uncompressed \(a.fileSize)")
        // The data never exceeds uncompressed; the header grows by at most one byte per chunk entry.
        #expect(b.fileSize <= a.fileSize + chunks)
        #expect(b.fileSize <= raw + b.headerLength + FormatSpec.preambleSize + FormatSpec.trailerSize + b.arrays.count * 64)
        for (x, y) in zip(source.tensors, try TensorBundle(contentsOf: lz4).tensors) {
            #expect(x.name == y.name && x.tensor == y.tensor)
        }
        #expect(b.verify().isEmpty)
    }

    /// A file with an lz4 array whose chunk 0 is raw and chunk 1 compressed,
    /// plus a codec-none array; and helpers to rewrite its header.
    struct Sample {
        let bytes: [UInt8]
        let file: BrineFile

        init() throws {
            let dir = makeTemporaryDirectory("raw-sample")
            defer { removeTemporaryDirectory(dir) }
            let url = dir.appendingPathComponent("s.brine")
            var o = WriteOptions(codec: .lz4)
            o.chunkBytes = 256
            o.threads = 1
            let w = try BrineWriter(url: url, options: o)
            var payload = RawChunkTests.noiseBytes(256, seed: 9)
            payload += [UInt8](repeating: 7, count: 200)
            try w.append(AnyTensor(try Tensor<UInt8>(shape: [payload.count], scalars: payload)), arrayPath: "a")
            var plain = o
            plain.codec = .none
            try w.append(RawChunkTests.noise(64, seed: 10), arrayPath: "plain", options: plain)
            try w.finish()
            bytes = [UInt8](try Data(contentsOf: url))
            file = try BrineFile(contentsOf: url)
        }

        /// The file with its array table replaced and the trailer resealed.
        func rebuilt(_ arrays: [ArrayInfo], minor: UInt16 = 1) -> [UInt8] {
            let header = Header(metadata: file.metadata, arrays: arrays, root: file.root, minorVersion: 1).encoded()
            var out = Array(bytes[0 ..< file.headerOffset]) + header
            out += Trailer(headerOffset: UInt64(file.headerOffset), headerLength: UInt64(header.count),
                           headerChecksum: Checksum.xxh3(header),
                           fileLength: UInt64(file.headerOffset + header.count + FormatSpec.trailerSize), minor: minor).encoded()
            return out
        }

        func replacingChunk(_ array: Int, _ c: Int, size: Int? = nil, raw: Bool) -> [ArrayInfo] {
            var table = file.arrays
            let a = table[array]
            var chunks = a.chunks
            let old = chunks[c]
            chunks[c] = ArrayInfo.Chunk(offset: old.offset, storedBytes: size ?? old.storedBytes, checksum: old.checksum, isRaw: raw)
            table[array] = ArrayInfo(
                path: a.path, dtype: a.dtype, storedDType: a.storedDType, shape: a.shape, codec: a.codec, filter: a.filter,
                alignment: a.alignment, dataOffset: a.dataOffset, chunkBytes: a.chunkBytes, chunks: chunks,
                count: a.count, storedRawBytes: a.storedRawBytes, storedBytes: chunks.reduce(0) { $0 + $1.storedBytes })
            return table
        }
    }

    @Test("the corruption suite's fixture holds raw chunks next to compressed ones, so its bit flips and field edits reach both")
    func corruptionFixtureCoversRawChunks() {
        let compressing = HostileFixture.shared.table.filter { $0.codec.compresses }
        #expect(compressing.contains { $0.chunks.contains { $0.isRaw } })
        #expect(compressing.contains { $0.chunks.contains { !$0.isRaw } })
    }

    @Test("hostile raw-chunk flags get typed errors that say where")
    func hostileFlags() throws {
        let s = try Sample()
        #expect(s.file.arrays[0].chunks.map(\.isRaw) == [true, false], "\(s.file.arrays[0].chunks) \(s.file.arrays[0].codec) \(s.file.formatVersion)")
        #expect(s.file.arrays[1].chunks.allSatisfy { !$0.isRaw })
        // Unchanged table: the rebuilt file is the original.
        #expect(s.rebuilt(s.file.arrays) == s.bytes)

        func open(_ b: [UInt8]) -> BrineError? { openAndLoad(b, options: ReadOptions()).error }

        // Raw flag with a size other than the raw size (smaller, larger).
        for size in [255, 1, 257] {
            let e = open(s.rebuilt(s.replacingChunk(0, 0, size: size, raw: true)))
            #expect(e?.code == .corruptHeader && e?.arrayPath == "a" && e?.chunkIndex == 0, "\(size): \(String(describing: e))")
        }
        // Raw flag on the compressed chunk 1 (its stored size is not its raw size).
        let e1 = open(s.rebuilt(s.replacingChunk(0, 1, raw: true)))
        #expect(e1?.code == .corruptHeader && e1?.chunkIndex == 1, "\(String(describing: e1))")
        // Raw flag on a codec-none array, with the right size.
        let e2 = open(s.rebuilt(s.replacingChunk(1, 0, raw: true)))
        #expect(e2?.code == .corruptHeader && e2?.arrayPath == "plain", "\(String(describing: e2))")
        // Flag cleared on the raw chunk: its bytes are decoded as LZ4 and fail.
        let e3 = open(s.rebuilt(s.replacingChunk(0, 0, raw: false)))
        #expect(e3?.code == .decompressionFailed && e3?.arrayPath == "a" && e3?.chunkIndex == 0, "\(String(describing: e3))")
        // A 1.1 chunk table in a file that says 1.0: sizes read unshifted, refused.
        let e4 = open(s.rebuilt(s.file.arrays, minor: 0))
        #expect(e4 != nil && [.layout, .corruptHeader].contains(e4!.code), "\(String(describing: e4))")
        // Python's reader refuses the same files with the same codes.
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        var paths: [String] = []
        for (i, b) in [s.rebuilt(s.replacingChunk(0, 0, size: 255, raw: true)), s.rebuilt(s.replacingChunk(1, 0, raw: true))].enumerated() {
            let u = dir.appendingPathComponent("h\(i).brine")
            try Data(b).write(to: u)
            paths.append(u.path)
        }
        let codes = try PythonOracle.run("""
            import sys, brine_reader
            for p in sys.argv[1:]:
                try:
                    brine_reader.load(p)
                    print("opened")
                except brine_reader.BrineError as e:
                    print(e.code)
            """, paths)
        #expect(codes.split(separator: "\n") == ["corruptHeader", "corruptHeader"], "\(codes)")
    }

    @Test("format 1.0 fixtures (written before raw chunks) still load bit-exactly and verify",
          arguments: ["format-1.0-lz4.brine", "format-1.0-zstd-shuffle.brine"])
    func format10Fixture(name: String) throws {
        let dir = repositoryRoot.appendingPathComponent("Tests/BrineTests/Fixtures/format-1.0")
        let source = try TensorBundle(contentsOf: dir.appendingPathComponent("source.safetensors"))
        let url = dir.appendingPathComponent(name)
        let f = try BrineFile(contentsOf: url)
        #expect(f.formatVersion.major == 1 && f.formatVersion.minor == 0)
        #expect(f.arrays.allSatisfy { $0.chunks.allSatisfy { !$0.isRaw } })
        #expect(f.verify().isEmpty)
        let loaded = try TensorBundle(contentsOf: url)
        #expect(loaded.names == source.names)
        for (x, y) in zip(source.tensors, loaded.tensors) { #expect(x.tensor == y.tensor, "\(x.name)") }
        let tmp = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(tmp) }
        var args = [url.path]
        for t in source.tensors {
            args += [t.name, try writeBytes(t.tensor, tmp)]
        }
        let out = try PythonOracle.run("""
            import sys, brine_reader
            with brine_reader.BrineFile(sys.argv[1]) as f:
                assert f.format_version == (1, 0)
                assert f.verify() == []
                for name, want in zip(sys.argv[2::2], sys.argv[3::2]):
                    assert f.read(name).tobytes() == open(want, "rb").read(), name
                print(len(f.arrays))
            """, args)
        #expect(out == "4\n")
    }
}
