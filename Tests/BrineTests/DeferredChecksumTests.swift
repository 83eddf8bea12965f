import Foundation
import Testing
@testable import Brine
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// An uncompressed array passed as a tensor or a Swift array is written at
// once and checksummed on the writer's helper thread after its `append`
// returned (the tensor's storage or the array keeps the bytes alive and,
// copy on write, unchanged). The checksums must be those of the bytes at the
// append, whatever the caller does next; bytes that another object may
// change in place (a writable mapping's views) are checksummed before the
// append returns. These tests are in ChecksumThreadTests' serialized suite:
// its `noHelper` test makes helper threads fail to start process-wide for a
// moment.
extension ChecksumThreadTests {
    static func deferringOptions() -> WriteOptions {
        var o = WriteOptions()
        o.threads = 2
        return o
    }

    /// Every chunk's XXH3 of `bytes` cut in `chunk`-byte pieces.
    static func chunkChecksums(_ bytes: UnsafeRawBufferPointer, chunk: Int) -> [UInt64] {
        stride(from: 0, to: bytes.count, by: chunk).map { lo in
            Checksum.xxh3(UnsafeRawBufferPointer(rebasing: bytes[lo ..< Swift.min(bytes.count, lo + chunk)]))
        }
    }

    @Test("a tensor, a type-erased tensor and a Swift array changed right after their append: the file holds and certifies the bytes of the append")
    func mutatedAfterAppend() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        var tensor = try randomArray(dtype: .float32, shape: [3 << 18], seed: 1).typed(as: Float.self)  // 3 MiB
        var erased = randomArray(dtype: .int64, shape: [5 << 17], seed: 2)  // 5 MiB
        var scalars = try randomArray(dtype: .float32, shape: [(2 << 18) + 3], seed: 3).typed(as: Float.self).scalars
        let before: [[UInt8]] = [
            tensor.withUnsafeBytes { Array($0) }, erased.storage.withUnsafeBytes { Array($0) },
            scalars.withUnsafeBytes { Array($0) },
        ]
        let w = try BrineWriter(url: url, options: Self.deferringOptions())
        // Hold the helper thread until every caller's copy has changed.
        let hold = DispatchSemaphore(value: 0)
        #expect(w.submitToChecksumThread { hold.wait() })
        try w.append(tensor, arrayPath: "tensor")
        tensor.withUnsafeMutableBufferPointer { b in for i in b.indices { b[i] = -1 } }
        try w.append(erased, arrayPath: "erased")
        erased = randomArray(dtype: .int64, shape: [5 << 17], seed: 99)
        try w.append(scalars, arrayPath: "scalars")
        #expect(w.pendingChecksumArrays == 3)
        for i in scalars.indices { scalars[i] = 7 }
        hold.signal()
        try w.finish()
        #expect(w.pendingChecksumArrays == 0)
        for mode in [LoadMode.copy, .mmap] {
            let file = try BrineFile(contentsOf: url, mode: mode)
            #expect(file.verify().isEmpty)
            for (k, path) in ["tensor", "erased", "scalars"].enumerated() {
                #expect(try file.anyArray(path).storage.withUnsafeBytes { Array($0) } == before[k], "\(path), \(mode)")
            }
        }
    }

    @Test("the array table read before finish holds the real checksums")
    func arraysBeforeFinish() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let t = randomArray(dtype: .float32, shape: [9 << 18], seed: 4)  // 9 MiB: 9 chunks
        let w = try BrineWriter(url: dir.appendingPathComponent("m.brine"), options: Self.deferringOptions())
        try w.append(t, arrayPath: "a")
        let info = try #require(w.arrays.first)
        let expected = t.storage.withUnsafeBytes { Self.chunkChecksums($0, chunk: info.chunkBytes) }
        #expect(info.chunks.map(\.checksum) == expected)
        #expect(expected.count == 9)
        try w.finish()
    }

    @Test("the bytes pending checksums stay under the limit; every file verifies")
    func pendingBytesBounded() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let arrays = (0 ..< 8).map { randomArray(dtype: .uint8, shape: [(3 << 19) + $0], seed: UInt64(10 + $0)) }  // ~1.5 MiB each
        let url = dir.appendingPathComponent("m.brine")
        let w = try BrineWriter(url: url, options: Self.deferringOptions())
        w.deferredChecksumBytesLimit = 4 << 20
        var most = 0
        for (i, a) in arrays.enumerated() {
            try w.append(a, arrayPath: "a\(i)")
            most = Swift.max(most, w.pendingChecksumArrays)
        }
        // Two arrays of ~1.5 MiB fit under 4 MiB, three do not.
        #expect(most >= 1 && most <= 2)
        try w.finish()
        let file = try BrineFile(contentsOf: url)
        #expect(file.verify().isEmpty)
        for (i, t) in try file.loadAll().enumerated() { #expect(t.storage.bytes.elementsEqual(arrays[i].storage.bytes)) }
    }

    @Test("views of a mapping are checksummed before their append returns; owned memory may wait",
          arguments: [LoadMode.copy, .mmap, .mmapCopyOnWrite, .mmapReadWrite])
    func viewsNotDeferred(mode: LoadMode) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let source = dir.appendingPathComponent("source.brine")
        let original = randomArray(dtype: .float32, shape: [3 << 18], seed: 5)
        let w0 = try BrineWriter(url: source, options: Self.deferringOptions())
        try w0.append(original, arrayPath: "a")
        try w0.finish()

        let file = try BrineFile(contentsOf: source, mode: mode)
        let view = try file.anyArray("a")
        let writableView = mode == .mmapCopyOnWrite || mode == .mmapReadWrite
        #expect((view.storage.immutableBytes == nil) == mode.isMapped)

        // Two loads of one array from a copy-on-write or read-write open
        // share pages: a write through the second changes the first's bytes
        // in place, right after the first was appended.
        let out = dir.appendingPathComponent("out.brine")
        let w = try BrineWriter(url: out, options: Self.deferringOptions())
        // Hold the helper thread until the view has changed, so that a
        // checksum left to it would see the change.
        let hold = DispatchSemaphore(value: 0)
        #expect(w.submitToChecksumThread { hold.wait() })
        try w.append(view, arrayPath: "a")
        #expect(w.pendingChecksumArrays == (mode.isMapped ? 0 : 1))
        if writableView {
            var second = try file.array("a", as: Float.self)
            second.withUnsafeMutableBufferPointer { b in for i in b.indices { b[i] = 42 } }
            #expect(try file.array("a", as: Float.self).scalars.first == 42)
        }
        hold.signal()
        try w.finish()
        let back = try BrineFile(contentsOf: out)
        #expect(back.verify().isEmpty)
        let loaded = try back.anyArray("a")
        #expect(loaded.storage.withUnsafeBytes { Array($0) } == original.storage.withUnsafeBytes { Array($0) })
    }

    @Test("a read-only view whose file is written in place after the append (a safetensors read-write open, another process's pwrite): the file still verifies")
    func readOnlyViewWrittenThrough() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        // A safetensors file viewed read-only (MAP_SHARED) and written
        // through a read-write open of the same file.
        let st = dir.appendingPathComponent("m.safetensors")
        try Safetensors.write([("a", randomArray(dtype: .float32, shape: [1 << 20], seed: 7))], to: st, durable: false)
        let ro = try SafetensorsFile(contentsOf: st, mode: .mmap)
        // A Brine file viewed read-only and written by a plain pwrite(2).
        let src = dir.appendingPathComponent("src.brine")
        let w0 = try BrineWriter(url: src, options: Self.deferringOptions())
        try w0.append(randomArray(dtype: .float32, shape: [1 << 20], seed: 8), arrayPath: "b")
        let dataOffset = try w0.finish()[0].dataOffset
        let brine = try BrineFile(contentsOf: src, mode: .mmap)

        let out = dir.appendingPathComponent("out.brine")
        let w = try BrineWriter(url: out, options: Self.deferringOptions())
        let hold = DispatchSemaphore(value: 0)
        #expect(w.submitToChecksumThread { hold.wait() })
        let a = try ro.tensor("a"), b = try brine.anyArray("b")
        let before = [a.storage.withUnsafeBytes { Array($0) }, b.storage.withUnsafeBytes { Array($0) }]
        try w.append(a, arrayPath: "a")
        try w.append(b, arrayPath: "b")
        #expect(w.pendingChecksumArrays == 0)
        let rw = try SafetensorsFile(contentsOf: st, mode: .mmapReadWrite)
        var t = try rw.tensor("a").typed(as: Float.self)
        t.withUnsafeMutableBufferPointer { $0[0] = 12345 }
        let fd = open(src.path, O_WRONLY)
        var junk: UInt32 = 0xDEAD_BEEF
        #expect(pwrite(fd, &junk, 4, off_t(dataOffset)) == 4)
        close(fd)
        // Both sources changed under their views.
        #expect(a.storage.withUnsafeBytes { Array($0) } != before[0])
        #expect(b.storage.withUnsafeBytes { Array($0) } != before[1])
        hold.signal()
        try w.finish()
        let back = try BrineFile(contentsOf: out)
        #expect(back.verify().isEmpty)
        #expect(try back.anyArray("a").storage.withUnsafeBytes { Array($0) } == before[0])
        #expect(try back.anyArray("b").storage.withUnsafeBytes { Array($0) } == before[1])
    }

    @Test("two threads reading `arrays` while checksums are pending: both get the real table, neither hangs")
    func concurrentArraysReads() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let t = randomArray(dtype: .float32, shape: [5 << 18], seed: 9)  // 5 MiB
        let w = try BrineWriter(url: dir.appendingPathComponent("m.brine"), options: Self.deferringOptions())
        let hold = DispatchSemaphore(value: 0)
        #expect(w.submitToChecksumThread { hold.wait() })
        try w.append(t, arrayPath: "a")
        #expect(w.pendingChecksumArrays == 1)
        let expected = t.storage.withUnsafeBytes { Self.chunkChecksums($0, chunk: FormatSpec.defaultChunkBytes) }
        let results = Mutex<[[UInt64]]>([])
        let group = DispatchGroup()
        // Two readers, no writer: what the type allows from several threads.
        let shared = UncheckedSendable(w)
        for _ in 0 ..< 2 {
            DispatchQueue.global().async(group: group) {
                let sums = shared.value.arrays[0].chunks.map(\.checksum)
                results.withLock { $0.append(sums) }
            }
        }
        hold.signal()
        // A reader stuck here would hang `finish` too: stop the test instead.
        try #require(group.wait(timeout: .now() + 30) == .success)
        #expect(results.withLock { $0 } == [expected, expected])
        // Reading did not change the writer: still pending until finish.
        #expect(w.pendingChecksumArrays == 1)
        try w.finish()
    }

    @Test("the helper thread, started away from the writer's CPU, ends up allowed on every CPU the writer may use")
    func helperAffinityRestored() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let w = try BrineWriter(url: dir.appendingPathComponent("m.brine"), options: Self.deferringOptions())
        try w.append(randomArray(dtype: .float32, shape: [1 << 20], seed: 6), arrayPath: "a")
        let name = try #require(w.checksumThreadName)
        func allowed(_ statusPath: String) -> String? {
            guard let status = try? String(contentsOfFile: statusPath, encoding: .utf8) else { return nil }
            return status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }.map(String.init)
        }
        #expect(Self.waitForStart(name) == 1)
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
        let helper = try #require(tasks.first { t in
            (try? String(contentsOfFile: "/proc/self/task/\(t)/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines) == name
        })
        let mine = try #require(allowed("/proc/thread-self/status"))
        // The helper widens its mask as its first step: it has run (it named itself).
        #expect(allowed("/proc/self/task/\(helper)/status") == mine)
        try w.finish()
    }
}
