import Foundation
import Testing
@testable import Brine
import BrineTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A model like the README's, with an inline tensor and a large Swift array.
struct RWModel: Codable, Equatable {
    var weight: Tensor<Float>      // 256×64: out of line
    var small: Tensor<Float>       // 10×64 = 2,560 bytes: inline in the header
    var bias: [Float]              // 2,048 floats: out of line
    var learningRate: Double

    static func make(seed: UInt64) -> RWModel {
        var rng = SplitMix64(seed: seed)
        func floats(_ n: Int) -> [Float] { (0 ..< n).map { _ in Float.random(in: -1 ... 1, using: &rng) } }
        return RWModel(weight: try! Tensor(shape: [256, 64], scalars: floats(256 * 64)),
                       small: try! Tensor(shape: [10, 64], scalars: floats(640)),
                       bias: floats(2048), learningRate: 0.01)
    }
}

@Suite("Read-write sessions", .serialized)
struct ReadWriteSessionTests {
    func saved<M: Encodable>(_ model: M, _ options: SaveOptions = .init(), name: String = "model.brine") throws -> URL {
        let url = makeTemporaryDirectory("rw").appendingPathComponent(name)
        try Brine.save(model, to: url, options: options)
        return url
    }

    func expectVerifiedEqual<M: Codable & Equatable>(_ url: URL, _ model: M, _ note: String) throws {
        #expect(try BrineFile(contentsOf: url).verify().isEmpty, "\(note): verify")
        for mode in [LoadMode.copy, .mmap] {
            var o = ReadOptions()
            o.verifyMappedArrays = true
            #expect(try Brine.load(M.self, from: url, mode: mode, options: o) == model, "\(note): \(mode)")
        }
    }

    @Test("a file whose array bytes were damaged on disk is refused by a read-write open, naming array and chunk; nothing is blessed")
    func damagedFileRefused() throws {
        let url = try saved(MLP.make([300, 64, 20], seed: 5))
        let info = try #require(BrineFile(contentsOf: url).info("layers.0.weight"))
        var bytes = try Data(contentsOf: url)
        for i in 0 ..< 4 { bytes[info.dataOffset + 70_000 + i] = 0 }  // chunk 0 (1 MiB chunks)
        try bytes.write(to: url)
        let e = #expect(throws: BrineError.self) { try Brine.open(MLP.self, from: url, mode: .mmapReadWrite) }
        #expect(e?.code == .checksumMismatch && e?.arrayPath == "layers.0.weight" && e?.chunkIndex == 0)
        #expect(throws: BrineError.self) { try BrineFile(contentsOf: url, mode: .mmapReadWrite) }
        #expect(try Data(contentsOf: url) == bytes)
        #expect(try BrineFile(contentsOf: url).verify().count == 1)
    }

    @Test("a handle released without flush leaves the file as it was (private mapping), and it loads verified")
    func releaseWithoutFlush() throws {
        let model = MLP.make([300, 64, 20], seed: 6)
        let url = try saved(model)
        let before = try Data(contentsOf: url)
        do {
            var handle = try Brine.open(MLP.self, from: url, mode: .mmapReadWrite)
            handle.model.layers[0].weight.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] = 7 } }
            #expect(handle.model.layers[0].weight.isView)
            let f = try BrineFile(contentsOf: url, mode: .copy)  // another reader sees the file unchanged
            #expect(f.verify().isEmpty)
        }
        do {
            let f = try BrineFile(contentsOf: url, mode: .mmapReadWrite)
            var w: Tensor<Float> = try f.array("layers.1.weight")
            w[flat: 3] = 99
        }
        #expect(try Data(contentsOf: url) == before)
        try expectVerifiedEqual(url, model, "released")
    }

    enum Change: String, CaseIterable, CustomTestStringConvertible {
        case viewInPlace, inlineTensor, swiftArray, reassignedSameShape, reassignedNewShape, scalar, copiedThenWritten
        var testDescription: String { rawValue }
    }

    @Test("every change the model holds reaches the file on flush (in place or by atomic re-save), which then verifies",
          arguments: Change.allCases, [SaveOptions(), SaveOptions(codec: .lz4), SaveOptions(codec: .none, filter: .shuffle), SaveOptions(codec: .zstd(level: 1), filter: .shuffle)])
    func everyChangeReachesTheFile(change: Change, options: SaveOptions) throws {
        var o = options
        o.chunkBytes = 16 << 10
        let url = try saved(RWModel.make(seed: 7), o)
        var handle = try Brine.open(RWModel.self, from: url, mode: .mmapReadWrite)
        func mutate(_ k: Float) {
            switch change {
            case .viewInPlace: handle.model.weight[3, 5] = k
            case .inlineTensor: handle.model.small[2, 3] = k
            case .swiftArray: handle.model.bias[100] = k
            case .reassignedSameShape: handle.model.weight = try! Tensor(shape: [256, 64], repeating: k)
            case .reassignedNewShape: handle.model.weight = try! Tensor(shape: [64, 256], repeating: k)
            case .scalar: handle.model.learningRate = Double(k)
            case .copiedThenWritten:
                var copy = handle.model
                copy.weight[0, 0] = k    // copied on write: the copy's tensor is no longer a view
                handle.model = copy
            }
        }
        mutate(42)
        #expect(try handle.flush() > 0, "\(change)")
        try expectVerifiedEqual(url, handle.model, "\(change) first flush")
        // Again, after a flush that may have re-saved the file (views of the old mapping).
        mutate(-3)
        #expect(try handle.flush() > 0)
        try expectVerifiedEqual(url, handle.model, "\(change) second flush")
        #expect(try handle.flush() == 0)
        // The file keeps each array's storage options.
        let f = try BrineFile(contentsOf: url)
        #expect(f.info("weight")?.codec == o.codec && f.info("weight")?.filter == o.filter)
        #expect(f.info("small") == nil)  // still inline
        #expect(!FileManager.default.fileExists(atPath: url.path + "-journal"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path) == ["model.brine"])
    }

    @Test("the README's MLP: a 10×64 weight (inline) and the biases changed through handle.model reach the file")
    func readmeMLP() throws {
        let model = MLP.make([64, 10, 10], seed: 8)  // layers.0.weight is 10×64: inline
        let url = try saved(model)
        #expect(try BrineFile(contentsOf: url).arrayPaths.isEmpty)
        var handle = try Brine.open(MLP.self, from: url, mode: .mmapReadWrite)
        handle.model.layers[0].weight[0, 0] -= 0.01
        handle.model.layers[1].bias[0] = 5
        try handle.flush()
        try expectVerifiedEqual(url, handle.model, "MLP")
        #expect(try Brine.load(MLP.self, from: url) != model)
    }

    @Test("a second read-write handle on the same file is refused (.conflict) while the first is open")
    func secondHandle() throws {
        let url = try saved(MLP.make([300, 20], seed: 9))
        do {
            let first = try Brine.open(MLP.self, from: url, mode: .mmapReadWrite)
            let e = #expect(throws: BrineError.self) { try Brine.open(MLP.self, from: url, mode: .mmapReadWrite) }
            #expect(e?.code == .conflict)
            _ = first
        }
        _ = try Brine.open(MLP.self, from: url, mode: .mmapReadWrite)
    }

    @Test("a file replaced by Brine.save while a read-write handle is open: flush throws .conflict and writes nothing")
    func replacedFile() throws {
        let url = try saved(MLP.make([300, 20], seed: 10))
        var handle = try Brine.open(MLP.self, from: url, mode: .mmapReadWrite)
        handle.model.layers[0].weight[0, 0] = 1
        let other = MLP.make([300, 20], seed: 11)
        try Brine.save(other, to: url)
        let e = #expect(throws: BrineError.self) { try handle.flush() }
        #expect(e?.code == .conflict)
        try expectVerifiedEqual(url, other, "replaced")
    }

    @Test("a reader holding the file (a mapping's views, a copy-on-write mapping, an open copy-mode file) keeps its data: the flush re-saves atomically instead of writing in place",
          arguments: [LoadMode.mmap, .mmapCopyOnWrite, .copy])
    func readerSurvivesFlush(readerMode: LoadMode) throws {
        let model = MLP.make([300, 64, 20], seed: 12)
        let url = try saved(model)
        var readerFile: BrineFile? = try BrineFile(contentsOf: url, mode: readerMode)
        var reader: MLP? = readerMode == .copy ? nil : try BrineDecoder().decode(MLP.self, from: readerFile!)
        if readerMode != .copy { readerFile = nil }  // only the views hold the mapping
        var handle = try Brine.open(MLP.self, from: url, mode: .mmapReadWrite)
        handle.model.layers[0].weight.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] = 3 } }
        #expect(try handle.flush() > 0)
        if let f = readerFile {  // the copy-mode reader reads the old file, verified, after the flush
            #expect(try BrineDecoder().decode(MLP.self, from: f) == model)
            #expect(f.verify().isEmpty)
        }
        #expect(reader == nil || reader == model)  // the old file, intact
        reader = nil
        readerFile = nil
        try expectVerifiedEqual(url, handle.model, "flushed")
        // With the reader gone, the next flush writes in place.
        handle.model.layers[0].weight[0, 1] = 4
        let before = FileIdentity.of(path: url.path)
        #expect(try handle.flush() == 1)
        #expect(FileIdentity.of(path: url.path) == before)
        try expectVerifiedEqual(url, handle.model, "in place")
    }

    /// The close-on-exec flags of this process's descriptors of the file at `path`.
    func closeOnExecFlags(of path: String) throws -> [Bool] {
        var flags: [Bool] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            guard let fd = Int32(name) else { continue }
            var buf = [CChar](repeating: 0, count: 4096)
            let n = readlink("/proc/self/fd/\(name)", &buf, buf.count - 1)
            guard n > 0, String(decoding: buf[0 ..< n].map { UInt8(bitPattern: $0) }, as: UTF8.self) == path else { continue }
            let f = fcntl(fd, F_GETFD)
            guard f >= 0 else { continue }  // closed since the listing
            flags.append(f & FD_CLOEXEC != 0)
        }
        return flags
    }

    @Test("every descriptor a read-write session holds is close-on-exec, also after a flush that re-saves: a child process never inherits the file's locks")
    func sessionDescriptorsCloseOnExec() throws {
        let url = try saved(MLP.make([300, 20], seed: 14))
        var handle = try Brine.open(MLP.self, from: url, mode: .mmapReadWrite)
        let opened = try closeOnExecFlags(of: url.path)
        #expect(opened.count >= 2, "the mapping's descriptor and the session's")
        #expect(opened.allSatisfy { $0 }, "\(opened)")
        // A reader's views make the flush re-save: the session moves to a new descriptor.
        let reader = try Brine.load(MLP.self, from: url, mode: .mmap)
        handle.model.layers[0].weight[0, 0] = 5
        let before = FileIdentity.of(path: url.path)
        #expect(try handle.flush() > 0)
        #expect(FileIdentity.of(path: url.path) != before)
        let resaved = try closeOnExecFlags(of: url.path)
        #expect(!resaved.isEmpty)
        #expect(resaved.allSatisfy { $0 }, "\(resaved)")
        _ = reader
    }

    /// A file, the same file after one in-place flush, and the journal of that flush.
    func journalScenario() throws -> (url: URL, old: Data, new: Data, journal: Journal) {
        let model = MLP.make([300, 64, 20], seed: 13)
        let url = try saved(model)
        let old = try Data(contentsOf: url)
        let copy = url.deletingLastPathComponent().appendingPathComponent("copy.brine")
        try old.write(to: copy)
        var handle = try Brine.open(MLP.self, from: copy, mode: .mmapReadWrite)
        handle.model.layers[0].weight.withUnsafeMutableBufferPointer { for i in stride(from: 0, to: $0.count, by: 7000) { $0[i] = 9 } }
        handle.model.layers[1].weight[1, 1] = 9
        try handle.flush()
        let new = try Data(contentsOf: copy)
        try FileManager.default.removeItem(at: copy)
        // The journal of that flush: every 4 KiB block that differs.
        var regions: [(offset: Int, bytes: [UInt8])] = []
        var at = 0
        while at < old.count {
            let end = min(old.count, at + 4096)
            if old[at ..< end] != new[at ..< end] { regions.append((at, Array(new[at ..< end]))) }
            at = end
        }
        let ptrs = regions.map { r in (offset: r.offset, bytes: UnsafeRawBufferPointer(UnsafeMutableRawBufferPointer.allocate(byteCount: r.bytes.count, alignment: 8))) }
        defer { for p in ptrs { p.bytes.deallocate() } }
        for (p, r) in zip(ptrs, regions) { UnsafeMutableRawBufferPointer(mutating: p.bytes).copyBytes(from: r.bytes) }
        try Journal.write(to: url.path + "-journal", fileSize: old.count, target: FileIdentity.of(path: url.path)!, oldTrailer: Array(old.suffix(64)), newTrailer: Array(new.suffix(64)), regions: ptrs)
        guard case .complete(let j) = try Journal.read(url.path + "-journal") else { throw BrineError(.corruptHeader, "journal unreadable") }
        #expect(j.entries.count >= 3)
        return (url, old, new, j)
    }

    @Test("a complete journal is replayed by the next open of any mode, whatever part of it reached the file", arguments: [LoadMode.copy, .mmap, .mmapCopyOnWrite, .mmapReadWrite])
    func journalReplayed(mode: LoadMode) throws {
        let s = try journalScenario()
        // Part of the flush reached the file: the first half of the regions.
        let h = try FileHandle(forWritingTo: s.url)
        let newBytes = [UInt8](s.new)
        for e in s.journal.entries.prefix(s.journal.entries.count / 2) {
            try h.seek(toOffset: UInt64(e.offset))
            h.write(Data(newBytes[e.offset ..< e.offset + e.length]))
        }
        try h.close()
        _ = try BrineFile(contentsOf: s.url, mode: mode)
        #expect(try Data(contentsOf: s.url) == s.new)
        #expect(!FileManager.default.fileExists(atPath: s.url.path + "-journal"))
    }

    @Test("a torn or damaged journal is discarded (the file was never touched); a journal of a replaced file is ignored")
    func tornAndStaleJournals() throws {
        // Torn: cut short, or one byte of its data flipped.
        for damage in ["cut", "flip"] {
            let s = try journalScenario()
            let jp = s.url.path + "-journal"
            var j = try Data(contentsOf: URL(fileURLWithPath: jp))
            if damage == "cut" { j = j.prefix(j.count - 100) } else { j[Journal.headSize + s.journal.entries.count * Journal.entrySize + 10] ^= 1 }
            try j.write(to: URL(fileURLWithPath: jp))
            #expect(try Brine.load(MLP.self, from: s.url) == Brine.load(MLP.self, from: s.url))
            #expect(try Data(contentsOf: s.url) == s.old, "\(damage)")
            #expect(!FileManager.default.fileExists(atPath: jp), "\(damage)")
        }
        // Stale: the file was replaced by a save after the flush died. The
        // journal names the old file's inode: ignored, and left alone.
        let s = try journalScenario()
        let other = MLP.make([300, 20], seed: 99)
        try Brine.save(other, to: s.url)
        let saved = try Data(contentsOf: s.url)
        for mode in [LoadMode.copy, .mmap, .mmapReadWrite] {
            #expect(try Brine.open(MLP.self, from: s.url, mode: mode).model == other)
        }
        #expect(try Data(contentsOf: s.url) == saved)
        // A journal whose head is unreadable is left alone too, and the file loads.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: s.url.path + "-journal"))
        #expect(try Brine.load(MLP.self, from: s.url) == other)
        // The next in-place flush replaces it, and removes it when done.
        var h = try Brine.open(MLP.self, from: s.url, mode: .mmapReadWrite)
        h.model.layers[0].weight[0, 0] = 8
        #expect(try h.flush() == 1)
        #expect(!FileManager.default.fileExists(atPath: s.url.path + "-journal"))
        #expect(try Brine.load(MLP.self, from: s.url) == h.model)
    }

    @Test("a reader without write access refuses a file with a pending journal (.recoveryNeeded); an open with write access completes it")
    func readOnlyRecovery() throws {
        guard getuid() == 0 else { return }  // needs root to run the reader as another user
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        try #require(try Helper.run(["rw-make", url.path, "64"]).status == 0)
        try #require(try Helper.run(["rw-loop", url.path, "1", "3"]).status == 0)
        // A journal for generation 4, none of it applied.
        let old = try Data(contentsOf: url)
        let copy = dir.appendingPathComponent("c.brine")
        try old.write(to: copy)
        try #require(try Helper.run(["rw-loop", copy.path, "4", "1"]).status == 0)
        let new = try Data(contentsOf: copy)
        try FileManager.default.removeItem(at: copy)
        var offsets: [Int] = []
        for at in stride(from: 0, to: old.count, by: 4096) where old[at ..< min(old.count, at + 4096)] != new[at ..< min(old.count, at + 4096)] { offsets.append(at) }
        let bufs = offsets.map { at in (offset: at, bytes: UnsafeRawBufferPointer(UnsafeMutableRawBufferPointer.allocate(byteCount: min(old.count, at + 4096) - at, alignment: 8))) }
        defer { for b in bufs { b.bytes.deallocate() } }
        for b in bufs { UnsafeMutableRawBufferPointer(mutating: b.bytes).copyBytes(from: new[b.offset ..< b.offset + b.bytes.count]) }
        try Journal.write(to: url.path + "-journal", fileSize: old.count, target: FileIdentity.of(path: url.path)!, oldTrailer: Array(old.suffix(64)), newTrailer: Array(new.suffix(64)), regions: bufs, readableAs: 0o644)
        chmod(dir.path, 0o755)
        for mode in ["copy", "mmap"] {
            let r = try Helper.run(["open-as", "65534", url.path, mode])
            #expect(r.status == 3 && r.lines.contains { $0.hasPrefix("error recoveryNeeded") }, "\(mode): \(r.lines)")
        }
        #expect(try Data(contentsOf: url) == old)
        #expect(try Brine.load(SessionModel.self, from: url).generation == 4)
        #expect(try Data(contentsOf: url) == new)
        let r = try Helper.run(["open-as", "65534", url.path, "mmap"])
        #expect(r.lines.contains("opened 4"), "\(r.lines)")
        // A journal already replayed whose removal failed (a read-only
        // folder): a reader without write access reads the file.
        try Journal.write(to: url.path + "-journal", fileSize: old.count, target: FileIdentity.of(path: url.path)!, oldTrailer: Array(old.suffix(64)), newTrailer: Array(new.suffix(64)), regions: bufs, readableAs: 0o644)
        let again = try Helper.run(["open-as", "65534", url.path, "copy"])
        #expect(again.lines.contains("opened 4"), "\(again.lines)")
        #expect(try Data(contentsOf: url) == new)
    }

    @Test("python/brine_reader.py refuses a file with a pending journal (recoveryNeeded), reads it once Brine replayed it, and ignores a torn journal")
    func pythonReaderAndJournal() throws {
        let s = try journalScenario()
        let script = #"""
        import sys, brine_reader as br
        try:
            with br.BrineFile(sys.argv[1]) as f:
                f.verify()
            print("opened")
        except br.BrineError as e:
            print("error", e.code)
        """#
        #expect(try PythonOracle.run(script, [s.url.path]).contains("error recoveryNeeded"))
        #expect(try Data(contentsOf: s.url) == s.old)
        _ = try BrineFile(contentsOf: s.url)  // Brine replays it
        #expect(try PythonOracle.run(script, [s.url.path]).contains("opened"))
        // A torn journal naming the file: ignored by the Python reader.
        let jp = URL(fileURLWithPath: s.url.path + "-journal")
        try Data(repeating: 7, count: 300).write(to: jp)
        #expect(try PythonOracle.run(script, [s.url.path]).contains("opened"))
    }
}
