import Foundation
import Testing
@testable import Brine
import BrineTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Records every piece a writer hands it, to check that the sink sees one
/// ordered stream.
final class RecordingSink: BrineByteSink {
    var pieces: [Int] = []
    var data = Data()
    func write(_ bytes: UnsafeRawBufferPointer) throws(BrineError) {
        pieces.append(bytes.count)
        data.append(contentsOf: bytes)
    }
}

/// A sink that fails after `limit` bytes.
final class FailingSink: BrineByteSink {
    let limit: Int
    var written = 0
    init(limit: Int) { self.limit = limit }
    func write(_ bytes: UnsafeRawBufferPointer) throws(BrineError) {
        guard written + bytes.count <= limit else { throw BrineError(.io, "sink full", errno: ENOSPC) }
        written += bytes.count
    }
}

@Suite("In-memory encode and decode")
struct InMemoryTests {
    static let optionSets: [SaveOptions] = [
        SaveOptions(recordCreationTime: false),
        SaveOptions(codec: .lz4, filter: .shuffle, chunkBytes: 64 << 10, inlineThreshold: 0, recordCreationTime: false),
        SaveOptions(codec: .zstd(level: 3), alignment: 4096, storageDType: .bfloat16, threads: 1, recordCreationTime: false,
                    metadata: ["framework": "test", "epochs": 3]),
    ]

    @Test("encode gives exactly the bytes save writes, for the same model and options", arguments: optionSets)
    func sameBytesAsSave(options: SaveOptions) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        let model = Net.make(layers: 6, seed: 11)                // arrays over 4 MiB in total: staged and direct writes
        try Brine.save(model, to: url, options: options)
        let data = try Brine.encode(model, options: options)
        #expect(data == (try Data(contentsOf: url)))
        #expect(try Brine.decode(Net.self, from: data) == (try Brine.load(Net.self, from: url)))
    }

    @Test("with the creation time recorded, encode and save still agree on every other byte of the structure")
    func structurallyEqualWithTimestamp() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        let model = MLP.make([32, 64, 10], seed: 1)
        try Brine.save(model, to: url)
        let data = try Brine.encode(model)
        let a = try BrineFile(contentsOf: url)
        let b = try data.withUnsafeBytes { try BrineFile(bytes: $0) }
        #expect(a.arrays == b.arrays && a.root == b.root)
        #expect(a.metadata["brine.created"] != nil && b.metadata["brine.created"] != nil)
    }

    @Test("decode from Data round-trips in every codec; a sub-tree decodes by path")
    func roundTrip() throws {
        let model = Net.make(layers: 3, seed: 12)
        for codec in [Codec.none, .lz4, .zstd(level: 1)] {
            let data = try Brine.encode(model, options: SaveOptions(codec: codec, filter: .shuffle, inlineThreshold: 0))
            #expect(try Brine.decode(Net.self, from: data) == model)
            #expect(try Brine.decode(NetBlock.self, from: data, at: "encoder.layers.1") == model.encoder.layers[1])
            #expect(try Brine.metadata(of: data)["brine.root_type"]?.stringValue == String(reflecting: Net.self))
        }
    }

    @Test("the writer streams to any sink in file order; a failing sink fails the writer with the sink's error")
    func sinks() throws {
        let sink = RecordingSink()
        let writer = try BrineWriter(sink: sink, options: WriteOptions(codec: .lz4, filter: .shuffle))
        let big = randomArray(dtype: .float32, shape: [1 << 20], seed: 3)     // 4 MiB
        try writer.append(big, arrayPath: "big")
        try writer.append([Float](repeating: 1, count: 10), arrayPath: "small")
        try writer.finish(metadata: ["k": "v"])
        #expect(sink.pieces.count > 1)
        let file = try sink.data.withUnsafeBytes { try BrineFile(bytes: $0) }
        #expect(try file.anyArray("big") == big)
        #expect(file.verify().isEmpty)

        let failing = FailingSink(limit: 100_000)
        let w2 = try BrineWriter(sink: failing, options: WriteOptions())
        let error = #expect(throws: BrineError.self) {
            try w2.append(big, arrayPath: "big")
            try w2.finish()
        }
        #expect(error?.code == .io)
        #expect(error?.errno == ENOSPC)
    }

    @Test("a model written through a pipe is read by another process (the Python reader)")
    func pipeToAnotherProcess() throws {
        let model = Net.make(layers: 4, seed: 13)           // about 1 MiB: more than a pipe buffer
        let python = try PythonOracle.interpreter()
        let p = Process()
        p.executableURL = python
        let script = """
            import sys, io, tempfile, os, numpy as np, brine_reader
            data = sys.stdin.buffer.read()
            fd, path = tempfile.mkstemp(); os.write(fd, data); os.close(fd)
            try:
                with brine_reader.BrineFile(path) as f:
                    for a in f.arrays:
                        x = f.read(a.path)
                        print(a.path, x.dtype, list(x.shape), repr(float(np.asarray(x, dtype=np.float64).sum())))
                    print("meta", f.metadata["note"])
            finally:
                os.unlink(path)
            """
        p.arguments = ["-c", script]
        var env = ProcessInfo.processInfo.environment
        env["PYTHONPATH"] = repositoryRoot.appendingPathComponent("python").path
        p.environment = env
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try p.run()
        // The writer gets the raw descriptor of the pipe's write end: no seeking possible.
        try Brine.encode(model, to: BrineFileDescriptorSink(fileDescriptor: input.fileHandleForWriting.fileDescriptor),
                         options: SaveOptions(codec: .zstd(level: 1), inlineThreshold: 0, metadata: ["note": "through a pipe"]))
        try input.fileHandleForWriting.close()
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.last == "meta through a pipe")
        let weights = try Weights(of: model)
        #expect(lines.count == weights.count + 1)
        for (line, (path, t)) in zip(lines, weights.entries) {
            let sum = try t.typed(as: Float.self).scalars.reduce(0.0) { $0 + Double($1) }
            let parts = line.split(separator: " ")
            #expect(parts.first.map(String.init) == path)
            let pySum = Double(parts.last!)!
            #expect(abs(pySum - sum) <= 1e-9 * max(1, abs(sum)), "\(path): \(pySum) vs \(sum)")
        }
    }

    @Test("hostile Data gives typed errors, never a crash: empty, garbage, every truncation, flipped bytes")
    func hostileData() throws {
        let model = MLP.make([4, 8, 2], seed: 2)
        let good = try Brine.encode(model, options: SaveOptions(codec: .lz4, inlineThreshold: 0))
        var refused: [Data] = [Data(), Data(repeating: 0, count: 100), Data((0 ..< 4096).map { UInt8(truncatingIfNeeded: $0 &* 31) })]
        for n in 0 ..< good.count { refused.append(good.prefix(n)) }
        for d in refused {
            #expect(throws: BrineError.self) { try Brine.decode(MLP.self, from: d) }
        }
        // A flipped byte is refused, unless it lies in the zero padding between
        // arrays (which readers must not depend on): then the model loads intact.
        var rng = SplitMix64(seed: 9)
        var flipsRefused = 0
        for _ in 0 ..< 300 {
            var d = good
            let i = Int(rng.next() % UInt64(d.count))
            d[i] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            do {
                #expect(try Brine.decode(MLP.self, from: d) == model)
            } catch is BrineError {
                flipsRefused += 1
            }
        }
        #expect(flipsRefused > 200)
    }
}

@Suite("File descriptor sink")
struct FileDescriptorSinkTests {
    @Test("a pipe whose reader is gone is a typed EPIPE error; the process is not killed by SIGPIPE")
    func brokenPipe() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        close(fds[0])
        defer { close(fds[1]) }
        let e = #expect(throws: BrineError.self) {
            try Brine.encode(Net.make(layers: 2, seed: 1), to: BrineFileDescriptorSink(fileDescriptor: fds[1]))
        }
        #expect(e?.code == .io && e?.errno == EPIPE)
        // Still alive, and SIGPIPE is neither pending nor left blocked.
        var pending = sigset_t()
        sigpending(&pending)
        #expect(sigismember(&pending, SIGPIPE) == 0)
        var mask = sigset_t()
        pthread_sigmask(SIG_BLOCK, nil, &mask)
        #expect(sigismember(&mask, SIGPIPE) == 0)
    }
}
