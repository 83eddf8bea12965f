import Foundation
import Testing
@testable import Brine
import BrineTestSupport
import Synchronization

/// An uncompressed array is checksummed on the writer's own helper thread
/// while it is written: after its append returns when a tensor's storage or
/// a Swift array keeps the bytes unchanged (DeferredChecksumTests.swift),
/// else before (raw bytes from `WriteTuning.overlapMinimumBytes` up, or of
/// several write groups, the writer helping with the groups the helper has
/// not claimed). The checksums must be those of the bytes written, and the
/// thread must end with the writer however the writer ends.
@Suite("Checksums computed while writing", .serialized)
struct ChecksumThreadTests {
    /// The threads of this process named `name` (other tests' writers run
    /// meanwhile, each with its own helper).
    static func threads(named name: String) -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.filter { t in
            (try? String(contentsOfFile: "/proc/self/task/\(t)/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines) == name
        }.count
    }

    /// The scheduling policies (`sched(7)` numbers, field 41 of
    /// /proc/self/task/<tid>/stat) of the threads named like the helper.
    static func policies(named name: String) -> [Int] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { t in
            guard (try? String(contentsOfFile: "/proc/self/task/\(t)/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines) == name,
                  let stat = try? String(contentsOfFile: "/proc/self/task/\(t)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            // Fields from 3 on follow the parenthesised name.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 38 ? Int(fields[38]) : nil
        }
    }

    /// Waits up to 5 s for the thread `name` to appear (a new thread names
    /// itself once it first runs: on a busy machine, after the append that
    /// started it may have returned); returns how many there are.
    static func waitForStart(_ name: String) -> Int {
        for _ in 0 ..< 500 {
            if threads(named: name) > 0 { return threads(named: name) }
            usleep(10_000)
        }
        return threads(named: name)
    }

    /// Waits up to 5 s for the thread `name` to exit (it exits once it has
    /// seen the stop, shortly after its writer ends); returns how many remain.
    static func waitForExit(_ name: String) -> Int {
        for _ in 0 ..< 500 {
            if threads(named: name) == 0 { return 0 }
            usleep(10_000)
        }
        return threads(named: name)
    }

    /// `count` pseudo-random float32 values (an LCG: fast in debug builds).
    static func tensor(_ count: Int, seed: UInt32) -> Tensor<Float> {
        var t = try! Tensor<Float>(zeros: [count])
        var x = seed &* 2_654_435_761
        t.withUnsafeMutableBufferPointer { b in
            for i in b.indices {
                x = x &* 1_664_525 &+ 1_013_904_223
                b[i] = Float(Int32(bitPattern: x) >> 8) * 0x1p-23
            }
        }
        return t
    }

    @Test("arrays on every path, with 2 and 4 threads, checksums deferred or not, load back verified and pass verify()",
          arguments: [2, 4], [true, false])
    func roundTrip(threads: Int, defers: Bool) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        // Deferred: every array's checksums follow on the helper. Not
        // deferred: 1 MiB and 3 MiB, one group, checksummed beside the
        // write; 12 MiB and 9 MiB + 4 bytes, several groups, shared with the
        // writer; small ones on the writer's thread. Interleaved, so the
        // helper serves every kind of job in one writer.
        let sizes = [1 << 18, 100, 3 << 18, 3 << 20, 7, (9 << 18) + 1, 1 << 18]
        let arrays = sizes.enumerated().map { Self.tensor($1, seed: UInt32($0 + 1)) }
        var options = WriteOptions()
        options.threads = threads
        let w = try BrineWriter(url: url, options: options)
        w.defersChecksums = defers
        for (i, t) in arrays.enumerated() { try w.append(t, arrayPath: "a\(i)") }
        #expect((w.pendingChecksumArrays > 0) == defers)
        let name = try #require(w.checksumThreadName)
        #expect(Self.waitForStart(name) == 1)
        try w.finish()
        #expect(w.checksumThreadName == nil)
        #expect(Self.waitForExit(name) == 0)
        for mode in [LoadMode.copy, .mmap] {
            let file = try BrineFile(contentsOf: url, mode: mode)
            #expect(file.verify().isEmpty)
            let back = try file.loadAll()
            for (i, t) in arrays.enumerated() { #expect(try back[i].typed(as: Float.self) == t, "array \(i)") }
        }
        // The checksums are those of the bytes: flipping one byte of the
        // large array's third chunk fails it there.
        let info = try #require(try BrineFile(contentsOf: url).info("a3"))
        let h = try FileHandle(forUpdating: url)
        try h.seek(toOffset: UInt64(info.chunks[2].offset + 5))
        let b = try #require(try h.read(upToCount: 1))
        try h.seek(toOffset: UInt64(info.chunks[2].offset + 5))
        try h.write(contentsOf: [b[0] ^ 1])
        try h.close()
        let failures = try BrineFile(contentsOf: url).verify()
        #expect(failures.count == 1)
        #expect(failures.first?.code == .checksumMismatch)
        #expect(failures.first?.chunkIndex == 2)
    }

    /// `count` pseudo-random bytes.
    static func bytes(_ count: Int, seed: UInt32) -> Tensor<UInt8> {
        var t = try! Tensor<UInt8>(zeros: [count])
        var x = seed &* 2_654_435_761 | 1
        t.withUnsafeMutableBufferPointer { b in
            for i in b.indices {
                x = x &* 1_664_525 &+ 1_013_904_223
                b[i] = UInt8(truncatingIfNeeded: x >> 24)
            }
        }
        return t
    }

    @Test("several writers at once, at the path boundaries (1 MiB, 4 MiB ± 1 byte) and odd chunk sizes, to files and sinks: every file verifies")
    func concurrentWriters() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let m = 1 << 20
        let arrays = [m - 1, m, m + 1, 4 * m - 1, 4 * m + 1, 9 * m + 3, 0, 1].enumerated().map { Self.bytes($1, seed: UInt32($0 + 1)) }
        let chunkSizes = [4097, 1 << 20, 3 << 20, 64 << 10, 5 << 20, 4096]
        let problems = Mutex<[String]>([])
        let names = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: chunkSizes.count) { k in
            do {
                var o = WriteOptions()
                o.threads = 2
                o.chunkBytes = chunkSizes[k]
                o.durable = false
                let sink = BrineMemorySink()
                let url = dir.appendingPathComponent("w\(k).brine")
                let w = k % 2 == 1 ? try BrineWriter(sink: sink, options: o) : try BrineWriter(url: url, options: o)
                for (i, t) in arrays.enumerated() { try w.append(t, arrayPath: "a\(i)") }
                if let name = w.checksumThreadName { names.withLock { $0.append(name) } }
                try w.finish()
                let file = k % 2 == 1
                    ? try sink.data.withUnsafeBytes { (b) throws(BrineError) in try BrineFile(bytes: b) }
                    : try BrineFile(contentsOf: url)
                let failures = file.verify()
                if !failures.isEmpty { problems.withLock { $0.append("writer \(k): \(failures)") } }
                for (i, t) in try file.loadAll().enumerated() where try t.typed(as: UInt8.self) != arrays[i] {
                    problems.withLock { $0.append("writer \(k), array \(i) differs") }
                }
            } catch {
                problems.withLock { $0.append("writer \(k): \(error)") }
            }
        }
        #expect(problems.withLock { $0 } == [])
        #expect(names.withLock { $0.count } == chunkSizes.count)
        for name in names.withLock({ $0 }) { #expect(Self.waitForExit(name) == 0, "\(name)") }
    }

    @Test("a sink that fails in the middle of an array on either path: the append throws, nothing hangs, the thread ends",
          arguments: [false, true])
    func failingSink(cancel: Bool) throws {
        final class FailingSink: BrineByteSink {
            var left: Int
            init(after: Int) { left = after }
            func write(_ bytes: UnsafeRawBufferPointer) throws(BrineError) {
                guard bytes.count <= left else { throw BrineError(.io, "sink full") }
                left -= bytes.count
            }
        }
        let arrays = [Self.bytes(2 << 20, seed: 1), Self.bytes(13 << 20, seed: 2), Self.bytes(2 << 20, seed: 3)]
        for after in [100, 3 << 20, 6 << 20, 9 << 20, 16 << 20] {
            var o = WriteOptions()
            o.threads = 2
            var name: String?
            do {
                let w = try BrineWriter(sink: FailingSink(after: after), options: o)
                var threw = false
                do {
                    for (i, t) in arrays.enumerated() {
                        try w.append(t, arrayPath: "a\(i)")
                        name = name ?? w.checksumThreadName
                    }
                    try w.finish()
                } catch {
                    threw = true
                }
                #expect(threw, "sink failing after \(after) bytes")
                if cancel { w.cancel() }
                #expect(throws: BrineError.self) { try w.append(arrays[0], arrayPath: "late") }
                name = name ?? w.checksumThreadName
            }
            if let name { #expect(Self.waitForExit(name) == 0, "sink failing after \(after) bytes") }
        }
    }

    @Test("when the helper thread cannot start, the writer checksums on its own thread: same file, still verified")
    func noHelper() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let arrays = [Self.tensor(3 << 18, seed: 21), Self.tensor(3 << 20, seed: 22), Self.tensor(5, seed: 23)]
        var options = WriteOptions()
        options.threads = 2
        options.recordCreationTime = false
        func save(_ url: URL) throws -> String? {
            let w = try BrineWriter(url: url, options: options)
            for (i, t) in arrays.enumerated() { try w.append(t, arrayPath: "a\(i)") }
            let name = w.checksumThreadName
            try w.finish()
            return name
        }
        let with = dir.appendingPathComponent("with.brine")
        let without = dir.appendingPathComponent("without.brine")
        #expect(try save(with) != nil)
        WriteTuning.failsChecksumThreadStart.store(true, ordering: .relaxed)
        defer { WriteTuning.failsChecksumThreadStart.store(false, ordering: .relaxed) }
        #expect(try save(without) == nil)
        // Byte-identical to the file whose checksums the helper computed.
        #expect(try Data(contentsOf: with) == Data(contentsOf: without))
        let file = try BrineFile(contentsOf: without)
        #expect(file.verify().isEmpty)
        for (i, t) in try file.loadAll().enumerated() { #expect(try t.typed(as: Float.self) == arrays[i]) }
    }

    @Test("the helper thread runs under SCHED_BATCH and ends with a cancelled writer and with one dropped unfinished")
    func threadEnds() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let big = Self.tensor(3 << 20, seed: 9)
        var options = WriteOptions()
        options.threads = 2
        do {
            let w = try BrineWriter(url: dir.appendingPathComponent("c.brine"), options: options)
            try w.append(big, arrayPath: "x")
            let name = try #require(w.checksumThreadName)
            #expect(Self.waitForStart(name) == 1)
            // SCHED_BATCH (3): waking it never preempts the writer.
            #expect(Self.policies(named: name) == [3])
            w.cancel()
            #expect(Self.waitForExit(name) == 0)
        }
        var name = ""
        do {
            let w = try BrineWriter(url: dir.appendingPathComponent("d.brine"), options: options)
            try w.append(big, arrayPath: "x")
            name = try #require(w.checksumThreadName)
            #expect(Self.waitForStart(name) == 1)
        }
        #expect(Self.waitForExit(name) == 0)
        // Neither left a file behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }.isEmpty)
    }
}
