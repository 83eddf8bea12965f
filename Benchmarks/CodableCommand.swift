import ArgumentParser
import Foundation

/// `Benchmarks codable`: only the Codable section of the main table
/// (``CodableBenchmark``): `Brine.save`/`Brine.load` of a MiniLM-shaped model
/// (104 arrays, 90.9 MB) against `BrineWriter`/`BrineFile` on the same
/// arrays, alternated in one process, with each pair's ratio (issue 12,
/// target 4), without the minutes of the file benchmarks.
struct CodableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codable",
        abstract: "Time Brine.save/Brine.load of a MiniLM-shaped model against the direct API on the same arrays.")

    @Option(help: "Timed runs per row (median reported, after one warm-up run; Codable and direct alternate).")
    var runs: Int = 9

    @Option(help: "Folder for the two files written (default: a new folder in the system temporary folder).")
    var directory: String?

    func run() throws {
        warnAboutChecksumBuild()
        let dir = directory.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("brine-codable-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(at: dir) } }
        let rows = try CodableBenchmark.run(directory: dir, runs: runs)
        print("Codable layer vs the low-level API, MiniLM-shaped model, median of \(runs) runs")
        for (i, m) in rows.enumerated() {
            // Rows come in pairs: Codable first, then the direct API on the same arrays.
            let paired = m.name.hasPrefix("save") || m.name.hasPrefix("load")
            let ratio = i % 2 == 1 && paired ? String(format: "   Codable / direct = %.2f×", rows[i - 1].median / m.median) : ""
            let time = formatSeconds(m.median)
            print("  " + m.name.padding(toLength: 52, withPad: " ", startingAt: 0)
                  + String(repeating: " ", count: Swift.max(0, 10 - time.count)) + time + ratio)
        }
    }
}
