import ArgumentParser
import Brine
import Foundation

/// `swift run -c release Benchmarks`: Brine side by side with plain
/// sequential serialization and the physical-limit proxy, in one process.
@main
struct BenchmarksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "Benchmarks",
        abstract: "Brine benchmarks.",
        subcommands: [TableCommand.self, IOCommand.self, LoadOnceCommand.self, RemoteLoadCommand.self, KernelsCommand.self, CodableCommand.self],
        defaultSubcommand: TableCommand.self)
}

/// The main table: every dataset, every method, one process.
struct TableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "table",
        abstract: "Measure Brine against plain serialization and the physical limit (one write(2)/read(2), memcpy).")

    @Flag(help: "CI smoke run: small datasets, 3 runs each (under a minute).")
    var quick = false

    @Flag(help: "Print the results as JSON instead of a table.")
    var json = false

    @Option(help: "Timed runs per measurement (median reported, after one warm-up run).")
    var runs: Int?

    @Option(help: "Folder for the files written (default: a new folder in the system temporary folder).")
    var directory: String?

    @Option(help: "Path of the MiniLM safetensors checkpoint (default: $BRINE_CACHE_DIR or ./cache, as scripts/fetch-models.sh puts it).")
    var model: String?

    mutating func run() throws {
        warnAboutChecksumBuild()
        let dir = directory.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("brine-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(at: dir) } }
        let quiet = json
        let suite = Suite(runs: runs ?? (quick ? 3 : 5), directory: dir, quick: quick, log: { line in
            if !quiet { FileHandle.standardError.write((line + "\n").data(using: .utf8)!) }
        })
        var datasets: [() throws -> Dataset] = []
        if let m = try miniLMDataset(explicitPath: model) { datasets.append({ m }) }
        if quick {
            datasets.append({ singleArrayDataset(bytes: 64 << 20) })
            datasets.append({ syntheticModelDataset(arrays: 200, totalBytes: 32 << 20) })
        } else {
            for size in [1 << 20, 16 << 20, 256 << 20] { datasets.append({ singleArrayDataset(bytes: size) }) }
            datasets.append({ singleArrayDataset(bytes: 1 << 30) })
            datasets.append({ syntheticModelDataset(arrays: 200, totalBytes: 512 << 20) })
        }
        let started = Date()
        for make in datasets {
            let d = try make()
            suite.log("\(d.name): \(d.arrays.count) arrays, \(formatBytes(d.rawBytes))")
            try suite.runBaselines(d)
            try suite.runBrine(d)
            // The slow coders run on an 8 MiB slice (4 MiB with --quick) of the real
            // model and the two large synthetic datasets.
            if d.rawBytes >= 512 << 20 || d.name.hasPrefix("MiniLM") || quick { try suite.runSequential(d) }
        }
        suite.log("Codable layer vs the low-level API")
        try suite.runCodable()
        suite.log("SIMD kernels (selected path: \(KernelBenchmarks.selectedPath))")
        suite.runKernels()
        suite.computeRatios()
        let machine = machineDescription()
        if json {
            let report = Report(date: ISO8601DateFormatter().string(from: started), machine: machine, runs: suite.runs, results: suite.results)
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try e.encode(report), as: UTF8.self))
        } else {
            print("Brine benchmarks — \(ISO8601DateFormatter().string(from: started)) — \(machine)")
            print("median of \(suite.runs) runs after 1 warm-up (\(max(suite.runs, 21)) for the mmap-open rows); MB/s of raw array bytes; ratio = speed / raw write(2) (saves) or raw read(2) into a preallocated buffer (loads); files in the page cache; saves without fsync unless the row says so")
            print(renderTable(suite.results))
        }
    }
}

struct Report: Codable {
    var date: String
    var machine: String
    var runs: Int
    var results: [Measurement]
}

func machineDescription() -> String {
    var cpu = "unknown CPU"
    if let s = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
       let line = s.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
       let colon = line.firstIndex(of: ":") {
        cpu = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    let mem = ProcessInfo.processInfo.physicalMemory
    return "\(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(formatBytes(Int(mem))) RAM, checksums: \(checksumKernelName)"
}

/// The loop computing XXH3-64 here: `avx2` (xxHash's AVX2 loop compiled into
/// CBrineKernels) or `libxxhash` (the system library's build).
var checksumKernelName: String { Checksum.path == .avx2 ? "avx2" : "libxxhash" }

/// A warning when this CPU runs the AVX2 kernels but checksums fall back to
/// libxxhash because CBrineKernels was compiled without `<xxhash.h>`: a build
/// made before `libxxhash-dev` was installed keeps that object file (SwiftPM
/// does not track a header `__has_include` did not find), and every timing
/// that hashes (saves, verified loads) comes out slower than Brine is.
/// `nil` when checksums run the loop the kernels selected.
func checksumBuildWarning() -> String? {
    guard Kernels.selected == .avx2, Checksum.path != .avx2 else { return nil }
    return "warning: checksums run libxxhash, not the AVX2 loop: CBrineKernels was compiled without <xxhash.h> "
        + "(built before libxxhash-dev was installed?). Rebuild it (rm -rf .build/*/CBrineKernels.build, then build again): "
        + "until then every timing that hashes (saves, verified loads) is slower than Brine."
}

/// Writes ``checksumBuildWarning()`` to standard error, if any.
func warnAboutChecksumBuild() {
    if let w = checksumBuildWarning() { FileHandle.standardError.write((w + "\n").data(using: .utf8)!) }
}

func renderTable(_ rows: [Measurement]) -> String {
    let header = ["dataset", "method", "op", "median", "MB/s", "ratio", "file size", "compr.", "peak RSS +", "note"]
    var lines: [[String]] = [header]
    for r in rows {
        lines.append([
            r.dataset, r.method, r.operation, formatSeconds(r.medianSeconds),
            r.movesBytes == false ? "" : String(format: "%.0f", r.megabytesPerSecond),
            r.ratioToBaseline.map { String(format: "%.2f×", $0) } ?? "",
            r.fileBytes.map(formatBytes) ?? "",
            r.compressionRatio.map { String(format: "%.3f", $0) } ?? "",
            r.extraPeakRSS.map(formatBytes) ?? "",
            r.note ?? "",
        ])
    }
    let widths = header.indices.map { c in lines.map { $0[c].count }.max()! }
    let numeric: Set<Int> = [3, 4, 5, 6, 7, 8]
    return lines.enumerated().map { (i, row) in
        let cells = row.enumerated().map { (c, s) in
            let pad = String(repeating: " ", count: widths[c] - s.count)
            return numeric.contains(c) ? pad + s : s + pad
        }
        let line = "| " + cells.joined(separator: " | ") + " |"
        if i == 0 {
            let rule = "|" + widths.enumerated().map { (c, w) in numeric.contains(c) ? String(repeating: "-", count: w + 1) + ":" : ":" + String(repeating: "-", count: w + 1) }.joined(separator: "|") + "|"
            return line + "\n" + rule
        }
        return line
    }.joined(separator: "\n")
}

/// The MiniLM checkpoint as a dataset, or `nil` when it is not fetched.
func miniLMDataset(explicitPath: String?) throws -> Dataset? {
    let env = ProcessInfo.processInfo.environment["BRINE_CACHE_DIR"]
    let candidates = [explicitPath, env.map { $0 + "/models/all-MiniLM-L6-v2/model.safetensors" },
                      FileManager.default.currentDirectoryPath + "/cache/models/all-MiniLM-L6-v2/model.safetensors"]
    guard let path = candidates.compactMap({ $0 }).first(where: { FileManager.default.fileExists(atPath: $0) }) else {
        FileHandle.standardError.write("note: MiniLM checkpoint not found; run scripts/fetch-models.sh\n".data(using: .utf8)!)
        return nil
    }
    return try loadSafetensorsDataset(path: path, name: "MiniLM-L6 (real)")
}
