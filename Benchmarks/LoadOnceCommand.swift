import ArgumentParser
import Brine
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `Benchmarks io-load`: one load of an existing Brine file in a process that
/// has done nothing else (a cold allocator: every array's memory is new to
/// the process), timed from `BrineFile(path:mode:)` to the returned tensors;
/// prints `{"seconds": …}`. compare.py runs it in several fresh processes
/// for its "load, fresh process" rows, as it does the Python loads.
struct LoadOnceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "io-load",
        abstract: "Time one load (.copy + loadAll, checksums verified) of a Brine file in this fresh process; print JSON.")

    @Option(help: "The Brine file.")
    var file: String

    @Option(help: "Threads for loading (ReadOptions.threads). Default: all cores.")
    var threads: Int?

    @Option(help: "A/B: MemoryTuning.hugeAllocationThreshold in bytes (default 4 MiB).")
    var hugeThreshold: Int?

    @Flag(help: "A/B: allocate each array on its own (MemoryTuning.packsSmallArrays = false).")
    var noPack = false

    func run() throws {
        warnAboutChecksumBuild()
        MemoryTuning.packsSmallArrays = !noPack
        if let hugeThreshold { MemoryTuning.hugeAllocationThreshold = hugeThreshold }
        var o = ReadOptions()
        if let threads { o.threads = threads }
        let t0 = now()
        let f = try BrineFile(path: file, mode: .copy, options: o)
        let tensors = try f.loadAll()
        let seconds = now() - t0
        blackHole(tensors)
        print("{\"seconds\": \(seconds), \"arrays\": \(tensors.count)}")
    }
}
