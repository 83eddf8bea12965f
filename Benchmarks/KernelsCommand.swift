import ArgumentParser
import Foundation

/// `Benchmarks kernels`: only the SIMD kernel section of the main table
/// (``KernelBenchmarks``), one row per kernel and path, for checking a
/// kernel change before and after without the minutes of file benchmarks.
struct KernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Time the shuffle, byte-swap and float conversion kernels on every supported path, next to memcpy.")

    @Option(help: "Buffer size in bytes (default 4 MiB, the size the main table uses).")
    var bytes: Int = 4 << 20

    @Option(help: "Timed runs per kernel and path (median reported, after one warm-up run).")
    var runs: Int = 11

    @Option(help: "Comma-separated paths to time (scalar, portable, avx2); default: all this CPU supports.")
    var paths: String?

    func run() throws {
        let chosen = paths.map { $0.split(separator: ",").map(String.init) }
        print("SIMD kernels, \(formatBytes(bytes)) buffers, median of \(runs) runs (selected path: \(KernelBenchmarks.selectedPath))")
        for r in KernelBenchmarks.run(bytes: bytes, repetitions: runs, paths: chosen) {
            let name = "\(r.kernel) [\(r.path)]"
            print("  " + name.padding(toLength: 36, withPad: " ", startingAt: 0) + String(format: "%7.2f GB/s", r.gigabytesPerSecond))
        }
    }
}
