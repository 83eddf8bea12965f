import Foundation
import Synchronization
import Testing
@testable import Brine

#if canImport(Glibc)
import Glibc
#endif

/// Hostile things found at `<file>-journal`: what a flush and an open must
/// not do with them (docs/FORMAT.md, "Read-write sessions and the journal").
@Suite("Hostile journals", .serialized)
struct JournalHostileTests {
    @Test("a flush never writes through a symlink or hard link at <file>-journal: the file it names keeps its bytes")
    func flushDoesNotFollowJournalLinks() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        for kind in ["symlink", "hardlink"] {
            let url = dir.appendingPathComponent("\(kind).brine")
            let model = MLP.make([300, 64, 20], seed: 21)
            try Brine.save(model, to: url)
            let victim = dir.appendingPathComponent("\(kind)-victim.txt")
            let precious = Data("precious bytes that belong to someone else\n".utf8)
            try precious.write(to: victim)
            let jp = url.path + "-journal"
            if kind == "symlink" {
                #expect(symlink(victim.path, jp) == 0)
            } else {
                #expect(link(victim.path, jp) == 0)
            }
            var h = try Brine.open(MLP.self, from: url, mode: .mmapReadWrite)
            h.model.layers[0].weight[0, 0] = 42
            #expect(try h.flush() == 1)
            #expect(try Data(contentsOf: victim) == precious, "\(kind): the flush wrote its journal into the linked file")
            #expect(try Brine.load(MLP.self, from: url) == h.model)
            #expect(!FileManager.default.fileExists(atPath: jp))
        }
    }

    /// Runs `body` on another thread; if it is still blocked after 20 s (in
    /// `open(2)` of the FIFO at `fifo`), opens the FIFO's other end to
    /// release it and records an issue.
    func withoutHanging<T: Sendable>(_ note: String, fifo: String, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<T, Error>?>(nil)
        Thread.detachNewThread {
            // Stored without a local copy, so nothing of it outlives the
            // take below (the thread may still run after the signal).
            result.withLock { $0 = Result { try body() } }
            done.signal()
        }
        if done.wait(timeout: .now() + 20) == .timedOut {
            Issue.record("\(note): blocked on the FIFO at the journal's path")
            let fd = open(fifo, O_RDWR | O_NONBLOCK)
            done.wait()
            close(fd)
        }
        // Taken out of the box (which the finished thread may still hold), so
        // a read-write model's views do not outlive this call.
        return try result.withLock { r in defer { r = nil }; return r! }.get()
    }

    @Test("a FIFO at <file>-journal does not hang an open (any mode) or a flush")
    func fifoJournalDoesNotHang() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        let model = MLP.make([100, 20], seed: 22)
        try Brine.save(model, to: url)
        let jp = url.path + "-journal"
        #expect(mkfifo(jp, 0o644) == 0)
        for mode in [LoadMode.copy, .mmap, .mmapReadWrite] {
            let loaded = try withoutHanging("open \(mode)", fifo: jp) { try Brine.open(MLP.self, from: url, mode: mode).model }
            #expect(loaded == model, "\(mode)")
        }
        let changed = try withoutHanging("flush", fifo: jp) { () throws -> MLP in
            var h = try Brine.open(MLP.self, from: url, mode: .mmapReadWrite)
            h.model.layers[0].weight[0, 0] = 5
            #expect(try h.flush() == 1)
            return h.model
        }
        #expect(try Brine.load(MLP.self, from: url) == changed)
    }

    @Test("a sparse journal whose head claims a huge region table is refused (.limitExceeded) by Brine and python/brine_reader.py before they allocate the table; a FIFO journal does not hang the Python reader")
    func hugeRegionTable() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        try Brine.save(MLP.make([100, 20], seed: 23), to: url)
        let jp = url.path + "-journal"
        // A valid head naming the file, a region count whose table is 1 KiB
        // over the cap, and a file that long (sparse: no disk used).
        let count = UInt64(Journal.maxTableBytes / Journal.entrySize + 43)
        var head = Journal.magic + [1, 0, 0, 0, 0, 0, 0, 0]
        let id = try #require(FileIdentity.of(path: url.path))
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! Int
        for v in [UInt64(size), count, id.device, id.inode] { head += (0 ..< 8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        head += [UInt8](repeating: 0, count: 128)
        try Data(head).write(to: URL(fileURLWithPath: jp))
        #expect(truncate(jp, off_t(Journal.headSize + Int(count) * Journal.entrySize + Journal.tailSize)) == 0)
        let e = #expect(throws: BrineError.self) { try BrineFile(contentsOf: url) }
        #expect(e?.code == .limitExceeded, "\(String(describing: e))")
        let out = try PythonOracle.run(#"""
            import os, sys, signal, brine_reader as br
            signal.alarm(30)  # a hang fails the test instead of blocking it
            path = sys.argv[1]
            try:
                br.load(path)
                print("loaded")
            except br.BrineError as e:
                print("error", e.code)
            os.unlink(path + "-journal")
            os.mkfifo(path + "-journal")
            br.load(path)
            print("fifo ok")
            """#, [url.path])
        #expect(out.contains("error limitExceeded") && out.contains("fifo ok"), "\(out)")
    }
}

extension JournalHostileTests {
    @Test("a journal is found whether the file is opened through a symlink or its own name (by Brine and by python/brine_reader.py)")
    func journalThroughSymlink() throws {
        let s = try ReadWriteSessionTests().journalScenario()
        let link = s.url.deletingLastPathComponent().appendingPathComponent("link.brine")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: s.url)
        // The Python reader opened through the link sees the pending journal.
        let out = try PythonOracle.run(#"""
            import sys, brine_reader as br
            try:
                br.load(sys.argv[1])
                print("loaded")
            except br.BrineError as e:
                print("error", e.code)
            """#, [link.path])
        #expect(out.contains("error recoveryNeeded"), "\(out)")
        // Brine opened through the link completes the flush the journal holds.
        _ = try BrineFile(contentsOf: link)
        #expect(try Data(contentsOf: s.url) == s.new)
        #expect(!FileManager.default.fileExists(atPath: s.url.path + "-journal"))
    }
}

extension JournalHostileTests {
    @Test("a complete, matching journal owned by another user than the file's owner is not replayed (.recoveryNeeded; the file keeps its bytes): creating files in the folder must not let a user write the file through its readers")
    func foreignOwnedJournalNotReplayed() throws {
        guard getuid() == 0 else { return }  // chown needs root
        let s = try ReadWriteSessionTests().journalScenario()
        let jp = s.url.path + "-journal"
        #expect(chown(jp, 65534, 65534) == 0)
        for mode in [LoadMode.copy, .mmap, .mmapReadWrite] {
            let e = #expect(throws: BrineError.self) { try BrineFile(contentsOf: s.url, mode: mode) }
            #expect(e?.code == .recoveryNeeded, "\(mode): \(String(describing: e))")
        }
        #expect(try Data(contentsOf: s.url) == s.old)
        // Owned by the file's owner again: replayed.
        #expect(chown(jp, 0, 0) == 0)
        _ = try BrineFile(contentsOf: s.url)
        #expect(try Data(contentsOf: s.url) == s.new)
    }
}

extension JournalHostileTests {
    @Test("a complete, matching journal reached through a symlink or a hard link at <file>-journal is not replayed: the link would lend it the linked file's owner; the file keeps its bytes and opens")
    func linkedJournalNotReplayed() throws {
        for kind in ["symlink", "hardlink"] {
            let s = try ReadWriteSessionTests().journalScenario()
            let jp = s.url.path + "-journal"
            // The journal's bytes in a file anyone may write (as a planter would
            // prepare them), then linked at the journal's path.
            let planted = s.url.deletingLastPathComponent().appendingPathComponent("notes-\(kind).bin").path
            #expect(rename(jp, planted) == 0)
            #expect(chmod(planted, 0o666) == 0)
            if kind == "symlink" {
                #expect(symlink(planted, jp) == 0)
            } else {
                #expect(link(planted, jp) == 0)
            }
            for mode in [LoadMode.copy, .mmap, .mmapReadWrite] {
                _ = try BrineFile(contentsOf: s.url, mode: mode)
                #expect(try Data(contentsOf: s.url) == s.old, "\(kind), \(mode): the linked journal was replayed")
            }
            let out = try PythonOracle.run(#"""
                import sys, brine_reader as br
                br.load(sys.argv[1])
                print("loaded")
                """#, [s.url.path])
            #expect(out.contains("loaded"), "\(kind): python/brine_reader.py: \(out)")
        }
    }

    @Test("a journal swapped for another owner's while the open waits for the lock to replay it is not replayed (.recoveryNeeded; the file keeps its bytes): the checks apply to the journal replayed, not only the first one read")
    func journalSwappedDuringLockWaitNotReplayed() throws {
        guard getuid() == 0 else { return }  // chown needs root
        let s = try ReadWriteSessionTests().journalScenario()
        let jp = s.url.path + "-journal"
        // Another reader's shared data lock holds the replay's exclusive lock off.
        let holder = try ByteSource.open(s.url.path, writable: false)
        defer { try? holder.close() }
        #expect(try FileLock.attempt(holder, .shared, at: FileLock.dataOffset, path: nil) == .acquired)
        let result = Mutex<Result<Void, BrineError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let url = s.url
        Thread.detachNewThread {
            let r: Result<Void, BrineError>
            do { _ = try BrineFile(contentsOf: url, mode: .copy); r = .success(()) } catch let e as BrineError { r = .failure(e) } catch { r = .failure(BrineError(.io, "\(error)")) }
            result.withLock { $0 = r }
            done.signal()
        }
        // The open has checked the journal (owned by the file's owner) and now waits for the lock.
        Thread.sleep(forTimeInterval: 1.0)
        // The same bytes, now another user's file, at the journal's path.
        let swapped = s.url.deletingLastPathComponent().appendingPathComponent("swapped-journal").path
        #expect(link(jp, swapped) == 0)
        #expect(unlink(jp) == 0)
        let copy = try Data(contentsOf: URL(fileURLWithPath: swapped))
        try copy.write(to: URL(fileURLWithPath: jp))
        #expect(chown(jp, 65534, 65534) == 0)
        #expect(try FileLock.attempt(holder, .unlock, at: FileLock.dataOffset, path: nil) == .acquired)
        #expect(done.wait(timeout: .now() + 60) == .success)
        let r = result.withLock { $0 }
        if case .failure(let e)? = r {
            #expect(e.code == .recoveryNeeded, "\(e)")
        } else {
            Issue.record("the open succeeded: the swapped journal was replayed or ignored (\(String(describing: r)))")
        }
        #expect(try Data(contentsOf: s.url) == s.old)
    }

    @Test("a complete, matching journal that its group or others may write is not replayed (.recoveryNeeded); without those permissions it is")
    func writableByOthersJournalNotReplayed() throws {
        let s = try ReadWriteSessionTests().journalScenario()
        let jp = s.url.path + "-journal"
        var st = stat()
        #expect(stat(jp, &st) == 0)
        #expect(st.st_mode & 0o077 == 0, "a journal is created 0600")
        for perm: mode_t in [0o620, 0o602] {
            #expect(chmod(jp, perm) == 0)
            let e = #expect(throws: BrineError.self) { try BrineFile(contentsOf: s.url) }
            #expect(e?.code == .recoveryNeeded, "\(String(perm, radix: 8)): \(String(describing: e))")
            #expect(try Data(contentsOf: s.url) == s.old)
        }
        #expect(chmod(jp, 0o600) == 0)
        _ = try BrineFile(contentsOf: s.url)
        #expect(try Data(contentsOf: s.url) == s.new)
    }
}

extension JournalHostileTests {
    @Test("a complete sparse journal of 1 TiB naming the file (other size) is ignored from its head: an open neither hashes its data nor hangs, in Brine and python/brine_reader.py")
    func sparseForeignJournalNotHashed() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        let model = MLP.make([100, 20], seed: 24)
        try Brine.save(model, to: url)
        let jp = url.path + "-journal"
        let id = try #require(FileIdentity.of(path: url.path))
        // 262,144 regions of 4 MiB (1 TiB of holes) in a file "of 2 TiB".
        let regions = 262_144, region = Journal.maxRegionBytes
        let claimed = UInt64(regions) * UInt64(region) * 2
        var head: [UInt8] = Journal.magic + [1, 0, 0, 0, 0, 0, 0, 0]
        func u64(_ v: UInt64) -> [UInt8] { (0 ..< 8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        head += u64(claimed) + u64(UInt64(regions)) + u64(id.device) + u64(id.inode) + [UInt8](repeating: 0, count: 128)
        var table: [UInt8] = []
        table.reserveCapacity(regions * Journal.entrySize)
        // Every region's checksum is right (holes read as zeros): only its size gives the journal away.
        let zeros = Checksum.xxh3([UInt8](repeating: 0, count: region))
        for i in 0 ..< regions { table += u64(UInt64(i * region)) + u64(UInt64(region)) + u64(zeros) }
        let tail = u64(Checksum.xxh3(head + table)) + Journal.endMagic
        let total = Journal.headSize + table.count + regions * region + Journal.tailSize
        let fd = open(jp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        _ = (head + table).withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        _ = tail.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(total - Journal.tailSize)) }
        close(fd)
        let loaded = try withoutHanging("open next to a sparse 1 TiB journal", fifo: "/dev/null") { try Brine.load(MLP.self, from: url) }
        #expect(loaded == model)
        let out = try PythonOracle.run(#"""
            import sys, signal, brine_reader as br
            signal.alarm(20)  # hashing 1 TiB of holes takes far longer
            br.load(sys.argv[1])
            print("loaded")
            """#, [url.path])
        #expect(out.contains("loaded"))
    }
}
