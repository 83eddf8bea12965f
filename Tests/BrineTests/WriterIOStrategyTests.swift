import Foundation
import Testing
@testable import Brine

#if canImport(Glibc)
import Glibc
#endif

/// The writer's I/O strategies (preallocation with `fallocate(2)`, checksums
/// computed while an array is written, the replaced file closed in the
/// background) change how a file is written, never what is written or when
/// the save is complete.
@Suite("Writer I/O strategies")
struct WriterIOStrategyTests {
    /// Arrays that take every write path: tiny (staged), one write group
    /// (checksums overlapped from 1 MiB), several groups (pipelined), and
    /// compressed chunks; 14 MiB in all, so the writer preallocates ahead
    /// and must free what the file does not use.
    static func arrays() -> [(String, AnyTensor, WriteOptions?)] {
        var zstd = WriteOptions()
        zstd.codec = .zstd(level: 1)
        zstd.filter = .shuffle
        zstd.threads = 2
        return [
            ("tiny", randomArray(dtype: .float32, shape: [25], seed: 1), nil),
            ("small", randomArray(dtype: .float32, shape: [300 << 8], seed: 2), nil),  // 300 KiB
            ("medium", randomArray(dtype: .float16, shape: [3 << 19, 1], seed: 3), nil),  // 3 MiB
            ("large", randomArray(dtype: .float32, shape: [5 << 18, 1], seed: 4), nil),  // 5 MiB: 5 chunks, 2 groups
            ("odd", randomArray(dtype: .uint8, shape: [(1 << 20) + 12_345], seed: 5), nil),
            ("packed", randomArray(dtype: .float32, shape: [1 << 18], seed: 6), zstd),
        ]
    }

    /// Saves `arrays()` to `url` with two threads and no creation time (so
    /// two saves give the same bytes).
    static func save(to url: URL, defersChecksums: Bool = true) throws {
        var o = WriteOptions()
        o.threads = 2
        o.recordCreationTime = false
        let w = try BrineWriter(url: url, options: o)
        // Per writer: a process-wide switch would reach other suites' writers.
        w.defersChecksums = defersChecksums
        for (p, t, opts) in arrays() { try w.append(t, arrayPath: p, options: opts) }
        try w.finish(metadata: .map([("brine.version", .string("test"))]))
    }

    @Test("Same bytes with and without preallocation, deferred checksums and early writeback; every checksum verifies")
    func sameBytes() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let a = dir.appendingPathComponent("a.brine"), b = dir.appendingPathComponent("b.brine")
        // Writeback started every 1 MiB (not 32): the 14 MiB file starts it many times.
        WriteTuning.writebackStepBytes = 1 << 20
        try Self.save(to: a)
        WriteTuning.writebackStepBytes = 32 << 20
        WriteTuning.preallocates = false
        WriteTuning.startsWritebackEarly = false
        defer {
            WriteTuning.preallocates = true
            WriteTuning.startsWritebackEarly = true
        }
        try Self.save(to: b, defersChecksums: false)
        let da = try Data(contentsOf: a), db = try Data(contentsOf: b)
        #expect(da.count > 10 << 20)
        #expect(da == db)
        let f = try BrineFile(path: a.path, mode: .copy)
        #expect(f.verify().isEmpty)
        let loaded = try f.loadAll()
        for ((_, t, _), l) in zip(Self.arrays(), loaded) {
            #expect(t.storage.bytes.elementsEqual(l.storage.bytes))
        }
    }

    @Test("Preallocation leaves no blocks past the end of the file")
    func noBlocksPastEnd() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        try Self.save(to: url)
        var st = stat()
        #expect(stat(url.path, &st) == 0)
        let size = Int(st.st_size)
        let allocated = Int(st.st_blocks) * 512
        // Whole 4 KiB blocks for the data, plus a little for extent-tree
        // blocks; a preallocated range past the end would add megabytes.
        #expect(allocated <= (size + 4095) / 4096 * 4096 + (64 << 10), "\(allocated) bytes allocated for a file of \(size)")
    }

    @Test("Saves over a file release every replaced file; readers keep the file they opened")
    func replacedFilesReleased() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("ckpt.brine")
        var o = WriteOptions()
        o.durable = false
        func save(_ value: Float) throws {
            let w = try BrineWriter(url: url, options: o)
            try w.append(Tensor<Float>(shape: [1 << 16], repeating: value), arrayPath: "w")
            try w.finish()
        }
        try save(0)
        let reader = try BrineFile(path: url.path, mode: .copy)
        for i in 1 ... 20 { try save(Float(i)) }
        WriteTuning.waitForBackgroundReleases()
        // No descriptor of this process still points at a replaced (deleted)
        // file of this folder, except the reader's own.
        var held = 0
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")
        for name in fds {
            var buf = [CChar](repeating: 0, count: 4096)
            let n = readlink("/proc/self/fd/\(name)", &buf, buf.count - 1)
            guard n > 0 else { continue }
            let target = String(decoding: buf[0 ..< n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if target.hasPrefix(dir.path) && target.hasSuffix("(deleted)") { held += 1 }
        }
        #expect(held <= 1, "\(held) replaced files still open")
        // The reader still sees the file it opened; a new open sees the last save.
        let old = try reader.loadAll()[0]
        #expect(old.storage.bytes.load(as: Float.self) == 0)
        let new = try BrineFile(path: url.path, mode: .copy).loadAll()[0]
        #expect(new.storage.bytes.load(as: Float.self) == 20)
    }
}
