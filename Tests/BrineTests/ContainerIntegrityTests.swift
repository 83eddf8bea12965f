import Foundation
import Testing
@testable import Brine

@Suite("Container integrity and atomic saves")
struct ContainerIntegrityTests {
    /// Writes two arrays (the second over several chunks) and returns the file URL.
    func writeSample(in dir: URL, codec: Codec, name: String = "sample.brine") throws -> URL {
        let url = dir.appendingPathComponent(name)
        var o = WriteOptions(codec: codec, filter: codec.compresses ? .shuffle : .none)
        o.chunkBytes = 4096
        let w = try BrineWriter(url: url, options: o)
        try w.append(randomArray(dtype: .float32, shape: [100], seed: 1), arrayPath: "bias")
        try w.append(randomArray(dtype: .float32, shape: [64, 64], seed: 2), arrayPath: "weight")
        try w.finish()
        return url
    }

    @Test("one byte changed inside a chunk fails verify and load, naming the array and chunk",
          arguments: [Codec.none, .lz4, .zstd(level: 3)])
    func flippedChunkByte(codec: Codec) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = try writeSample(in: dir, codec: codec)
        let info = try BrineFile(contentsOf: url).info("weight")!
        #expect(info.chunkCount == 4)
        // Damage the third chunk of "weight".
        var bytes = try Data(contentsOf: url)
        let target = info.chunkOffsets[2] + info.chunkStoredBytes[2] / 2
        bytes[target] ^= 0x10
        try bytes.write(to: url)

        let file = try BrineFile(contentsOf: url)
        let failures = file.verify()
        #expect(failures.count == 1)
        #expect(failures.first?.code == .checksumMismatch)
        #expect(failures.first?.arrayPath == "weight")
        #expect(failures.first?.chunkIndex == 2)
        #expect(failures.first?.byteOffset == UInt64(info.chunkOffsets[2]))
        // The undamaged array still loads; the damaged one fails in every mode.
        _ = try file.anyArray("bias")
        for mode in [LoadMode.copy, .mmap] {
            var options = ReadOptions()
            options.verifyMappedArrays = true
            let f = try BrineFile(contentsOf: url, mode: mode, options: options)
            let error = #expect(throws: BrineError.self) { try f.anyArray("weight") }
            #expect(error?.code == .checksumMismatch)
            #expect(error?.arrayPath == "weight" && error?.chunkIndex == 2)
        }
        // With checksums off, uncompressed data loads (damaged) without crashing.
        if !codec.compresses {
            var off = ReadOptions()
            off.verifyChecksums = false
            _ = try BrineFile(contentsOf: url, options: off).anyArray("weight")
        }
    }

    @Test("a truncated file fails with a clear error at open", arguments: [1, 10, 63, 64, 100, 1000])
    func truncated(cut: Int) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = try writeSample(in: dir, codec: .zstd(level: 1))
        let bytes = try Data(contentsOf: url)
        try bytes.prefix(bytes.count - cut).write(to: url)
        let error = #expect(throws: BrineError.self) { try BrineFile(contentsOf: url) }
        #expect(error?.code == .truncated)
        #expect(error?.filePath == url.path)
    }

    @Test("not a Brine file, and an unknown major version")
    func wrongMagicAndVersion() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("text.brine")
        try Data(repeating: 0x41, count: 500).write(to: url)
        do { _ = try BrineFile(contentsOf: url); Issue.record("opened a text file") } catch { #expect(error.code == .notABrineFile) }

        let good = try writeSample(in: dir, codec: .none)
        var bytes = try Data(contentsOf: good)
        bytes[8] = 2  // major version 2 in the preamble
        try bytes.write(to: good)
        do { _ = try BrineFile(contentsOf: good); Issue.record("opened version 2") } catch { #expect(error.code == .unsupportedVersion) }
    }

    @Test("a save into a folder that does not exist fails and leaves nothing behind")
    func missingFolder() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("no/such/folder/model.brine")
        do {
            _ = try BrineWriter(url: url)
            Issue.record("created a writer in a missing folder")
        } catch {
            #expect(error.code == .notFound)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("a failed or cancelled save leaves the previous file byte-identical and no temporary")
    func failedSaveKeepsPrevious() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = try writeSample(in: dir, codec: .lz4)
        let before = try Data(contentsOf: url)

        // A rejected append (duplicate path) midway; the writer is then abandoned.
        do {
            let w = try BrineWriter(url: url)
            try w.append([Float](repeating: 1, count: 1000), arrayPath: "x")
            let e = #expect(throws: BrineError.self) { try w.append([Float](repeating: 2, count: 10), arrayPath: "x") }
            #expect(e?.code == .invalidArgument && e?.arrayPath == "x")
        }
        // A writer dropped without finish.
        do {
            let w = try BrineWriter(url: url)
            try w.append([Double](repeating: 3, count: 5000), arrayPath: "y")
        }
        // An explicit cancel.
        let w = try BrineWriter(url: url)
        try w.append([Int8](repeating: 4, count: 10), arrayPath: "z")
        w.cancel()

        #expect(try Data(contentsOf: url) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["sample.brine"])
    }

    @Test("stray temporaries of killed saves are removed by the next successful save")
    func strayTemporaries() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        // A pid that cannot be alive: above the kernel's pid_max (at most 2^22).
        let stray = dir.appendingPathComponent(".sample.brine.brine-tmp.99999999.abc")
        try Data([1, 2, 3]).write(to: stray)
        _ = try writeSample(in: dir, codec: .none)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["sample.brine"])
    }

    @Test("read-write mmap: changes reach the file, flush rewrites checksums, verify passes")
    func readWriteFlush() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = try writeSample(in: dir, codec: .none)
        do {
            let f = try BrineFile(contentsOf: url, mode: .mmapReadWrite)
            var w: Tensor<Float> = try f.array("weight")
            #expect(w.isView)
            w.withUnsafeMutableBufferPointer { $0[5] = 123.5 }
            #expect(w.isView)  // written in place, not copied
            #expect(f.verify().count == 1)  // the changed chunk no longer matches…
            #expect(try f.flush() == 1)     // …until flush rewrites its checksum
            #expect(f.verify().isEmpty)
        }
        let again = try BrineFile(contentsOf: url)
        #expect(again.verify().isEmpty)
        let w: Tensor<Float> = try again.array("weight")
        #expect(w[flat: 5] == 123.5)
    }

    @Test("writing through read-only and copy-on-write mappings never changes the file")
    func readOnlyAndPrivateMappings() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = try writeSample(in: dir, codec: .none)
        let before = try Data(contentsOf: url)
        for mode in [LoadMode.mmap, .mmapCopyOnWrite] {
            let f = try BrineFile(contentsOf: url, mode: mode)
            var w: Tensor<Float> = try f.array("weight")
            w[flat: 0] = -1
            #expect(w[flat: 0] == -1)
            #expect(w.isView == (mode == .mmapCopyOnWrite))  // read-only views copy on write
            #expect(throws: BrineError.self) { try f.flush() }
        }
        #expect(try Data(contentsOf: url) == before)
    }
}

@Suite("Writer limits")
struct WriterLimitTests {
    @Test("a tree deeper than readers accept is refused at finish, without a crash, and nothing is written")
    func deepTree() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("deep.brine")
        for depth in [257, 10_000] {
            var v: Value = .null
            for _ in 0 ..< depth { v = .list([v]) }
            let w = try BrineWriter(url: url)
            let e = #expect(throws: BrineError.self) { try w.finish(root: v) }
            #expect(e?.code == .limitExceeded)
            #expect(!FileManager.default.fileExists(atPath: url.path))
            // Release the deep value iteratively: unwrap it level by level.
            while case .list(let items) = v, let inner = items.first { v = inner }
        }
        var ok: Value = .null
        for _ in 0 ..< 256 { ok = .list([ok]) }
        try BrineWriter(url: url).finish(root: ok)
        #expect(try BrineFile(contentsOf: url).root == ok)
    }
}

@Suite("Writer pipeline")
struct WriterPipelineTests {
    @Test("append returns only when no worker reads the caller's buffer any more (reused jobs included)")
    func callerBufferIsFreeAfterAppend() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("reuse.brine")
        var o = WriteOptions(codec: .lz4, filter: .shuffle)
        o.chunkBytes = 4096
        o.threads = 2
        let w = try BrineWriter(url: url, options: o)
        let count = 16 * 1024  // 64 KiB of float32: 16 chunks, so jobs are reused within one array
        var expected: [[Float]] = []
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        for a in 0 ..< 200 {
            for i in 0 ..< count { buffer[i] = Float(a * count + i) }
            expected.append(Array(buffer))
            try w.append(bytes: UnsafeRawBufferPointer(buffer), dtype: .float32, shape: [count], arrayPath: "a\(a)")
            // The caller may reuse its buffer at once: a worker still reading it would store garbage.
            buffer.update(repeating: .nan)
        }
        try w.finish()
        let f = try BrineFile(contentsOf: url)
        for a in 0 ..< 200 {
            let back: [Float] = try f.array("a\(a)", as: Float.self).scalars
            #expect(back == expected[a], "array a\(a)")
        }
    }
}
