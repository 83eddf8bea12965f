import Foundation
import Testing
@testable import Brine
import BrineTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Faults during read-write sessions, injected into a child process
/// (`BrineTestHelper rw-loop`, see HelperProcess.swift): SIGKILL at random
/// instants of the open (journal recovery), of the changes and of the
/// flushes (journal write, in-place writes, fsyncs, atomic re-saves), and
/// readers in this process loading while the child flushes. The file must
/// always load verified, in both load modes, as exactly one generation: the
/// last flushed one or the one whose flush was under way.
///
/// Nested in ``SaveFaultTests`` (whose `.serialized` trait covers nested
/// suites) so that the two SIGKILL harnesses, both timed by calibration,
/// never run at the same time.
extension SaveFaultTests {
@Suite("Faults during read-write sessions")
struct SessionFaultTests {
    static let rows = 2048  // dense: 2 MiB, 8 chunks of 256 KiB

    /// Loads the file in copy and mmap mode (every chunk verified) and checks
    /// it holds exactly one generation's state.
    /// - Returns: the generation.
    func check(_ url: URL, note: String, whileFlushing: Bool = false) throws -> Int {
        var generations: [Int] = []
        for mode in [LoadMode.copy, .mmap] {
            var o = ReadOptions()
            o.verifyMappedArrays = true
            let m = try Brine.load(SessionModel.self, from: url, mode: mode, options: o)
            let g = m.generation
            #expect(m == SessionModel.state(rows: Self.rows, generation: g), "\(note) \(mode): not exactly generation \(g)")
            generations.append(g)
        }
        if !whileFlushing {
            #expect(generations[0] == generations[1], "\(note): \(generations)")
            #expect(try BrineFile(contentsOf: url).verify().isEmpty, "\(note)")
            if case .complete(let j) = try Journal.read(url.path + "-journal") {
                #expect(j.target != FileIdentity.of(path: url.path), "\(note): a journal of this file left after an open")
            }
        }
        return generations[0]
    }

    @Test("read-write sessions killed with SIGKILL at random instants load verified as the last flushed generation or the one being flushed")
    func killedSessions() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        let journal = url.path + "-journal"
        try #require(try Helper.run(["rw-make", url.path, "\(Self.rows)"]).status == 0)

        // Calibrate: from spawn to "opened", and the time of 10 flushes.
        let clock = ContinuousClock()
        let perLoop = 10
        let t0 = clock.now
        let calibration = try Helper.Child(["rw-loop", url.path, "1", "\(perLoop)"])
        _ = calibration.waitForLine(startingWith: "opened")
        let startup = clock.now - t0
        let t1 = clock.now
        _ = calibration.waitForLine(startingWith: "done")
        let loop = clock.now - t1
        #expect(calibration.wait() == 0)
        var committed = try check(url, note: "calibration")
        #expect(committed == perLoop)

        var rng = SplitMix64(seed: 0x5E55_10F)
        let trials = 32
        var outcomes: [String: Int] = [:]
        var recovered = 0
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        for trial in 0 ..< trials {
            let child = try Helper.Child(["rw-loop", url.path, "\(committed + 1)", "\(perLoop)"])
            // A quarter of the kills from the spawn (the open and its recovery), the rest during the flush loop.
            let fromSpawn = trial % 4 == 0
            if !fromSpawn { try #require(child.waitForLine(startingWith: "opened") != nil) }
            let span = fromSpawn ? seconds(startup) * 1.2 : seconds(loop)
            Thread.sleep(forTimeInterval: span * Double(rng.next() % 10_000) / 10_000)
            kill(child.pid, SIGKILL)
            let status = child.wait()
            let flushed = child.lines.last { $0.hasPrefix("flushed ") }.flatMap { Int($0.dropFirst(8)) } ?? committed
            let flushing = child.lines.last { $0.hasPrefix("flushing ") }.flatMap { Int($0.dropFirst(9)) }
            let last = child.lines.last ?? "-"
            let phase = status == 0 ? "finished" : last.hasPrefix("flushing") ? "in a flush" : last.hasPrefix("flushed") || last.hasPrefix("opened") ? "between flushes" : "during open"
            outcomes[phase, default: 0] += 1
            if FileManager.default.fileExists(atPath: journal) { recovered += 1 }
            let g = try check(url, note: "trial \(trial) (\(phase))")
            #expect(g == flushed || (flushing == flushed + 1 && g == flushed + 1),
                    "trial \(trial): generation \(g), last flushed \(flushed), flushing \(flushing.map(String.init) ?? "-")")
            committed = g
        }
        #expect(outcomes["in a flush", default: 0] >= trials / 4, "too few kills inside a flush: \(outcomes)")
        #expect(recovered > 0, "no kill left a journal to replay: \(outcomes)")
        print("faults: \(trials) SIGKILL trials on read-write sessions (startup \(startup), \(perLoop) flushes \(loop)): \(outcomes.sorted { $0.key < $1.key }); \(recovered) left a journal that the next open replayed; every file loaded verified as one generation")
    }

    @Test("readers in this process never load a mix while another process flushes in a loop (in place, or re-saved while a reader holds the file)")
    func readersDuringFlushes() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        try #require(try Helper.run(["rw-make", url.path, "\(Self.rows)"]).status == 0)
        let writer = try Helper.Child(["rw-loop", url.path, "1", "60"])
        _ = writer.waitForLine(startingWith: "opened")
        var reads = 0
        var seen = Set<Int>()
        while writer.process.isRunning {
            seen.insert(try check(url, note: "read \(reads)", whileFlushing: true))
            reads += 1
        }
        #expect(writer.wait() == 0, "\(writer.lines.suffix(3))")
        #expect(try check(url, note: "final") == 60)
        #expect(reads > 0)
        print("faults: \(reads) verified loads (copy + mmap each) during 60 flushes in another process, \(seen.count) generations seen, each exactly one generation")
    }
}
}
