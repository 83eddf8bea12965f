import ArgumentParser
import Brine
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `Benchmarks io`: save and load one safetensors input with one Brine
/// configuration and print the timings as JSON, for the side-by-side
/// comparison with the Python libraries (Benchmarks/python/compare.py).
///
/// Methodology, shared with compare.py: median (and min) of `--runs` timed
/// runs after one warm-up; every save writes a new file (the previous output
/// is deleted before each run, untimed); no fsync (`durable = false`); loads
/// read a file that is in the page cache (`sync(2)` once before the loads so
/// that write-back of the last save does not overlap them, untimed).
/// `overwrite` saves over the file the previous run wrote, after a `sync(2)`
/// (untimed): a checkpoint replaced every epoch, whose old version is on disk.
struct IOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "io",
        abstract: "Time Brine save/load of one safetensors input with one codec configuration; print JSON.")

    enum CodecName: String, ExpressibleByArgument, CaseIterable, Codable {
        case none, lz4, zstd
    }

    enum Operation: String, ExpressibleByArgument, CaseIterable, Codable {
        case save, overwrite, load, mmap
        case mmapUnverified = "mmap-unverified"
        case touch
        case durableSave = "durable-save"
        case coldLoad = "cold-load"

        /// What runs when `--ops` is not given: the page-cache rows (the
        /// disk rows take seconds per run on large inputs and are asked for
        /// by name).
        static let pageCache: [Operation] = [.save, .overwrite, .load, .mmap, .mmapUnverified, .touch]
    }

    @Option(help: "The input: a safetensors file (all dtypes the simple reader knows: F32, I64, F16, BF16).")
    var input: String

    @Option(help: "The codec of every chunk.")
    var codec: CodecName = .none

    @Option(help: "The zstd level (ignored for none and lz4).")
    var level: Int = 1

    @Option(help: "LZ4's acceleration (WriteOptions.lz4Acceleration; 1 = LZ4_compress_default's ratio).")
    var lz4Acceleration: Int = 1

    @Flag(help: "Byte-shuffle each chunk before compression.")
    var shuffle = false

    @Option(help: "Threads for saving and loading (WriteOptions.threads and ReadOptions.threads). Default: all cores.")
    var threads: Int?

    @Option(help: "Timed runs per operation (median reported, after one warm-up run).")
    var runs: Int = 5

    @Option(help: "Timed runs for the mmap-open row (it takes microseconds; more runs steady the median). Default: max(runs, 21).")
    var mmapRuns: Int?

    @Option(help: "Folder for the file written (default: a new folder in the system temporary folder, removed afterwards).")
    var dir: String?

    @Option(parsing: .upToNextOption,
            help: "Operations to time: save (BrineWriter, new file), overwrite (BrineWriter over the file of the previous run, after an untimed sync(2)), load (.copy + loadAll), mmap (.mmap + loadAll, views verified: the default), mmap-unverified (the same with ReadOptions(verifyChecksums: false)), touch (unverified .mmap + loadAll + one byte per 4 KiB page), durable-save (BrineWriter with durable = true: fsync of the file and its folder, new file, after an untimed sync(2)), cold-load (.copy + loadAll, verified, after the file's pages are evicted: fsync + posix_fadvise(DONTNEED), checked with mincore). Default: all but durable-save and cold-load.")
    var ops: [Operation] = Operation.pageCache

    @Option(help: "Keep the Brine file written at this path (for `Benchmarks io-load` in fresh processes) instead of removing it.")
    var keepFile: String?

    @Flag(help: "A/B: do not preallocate the file's blocks with fallocate(2) (WriteTuning.preallocates = false).")
    var noPreallocate = false

    @Flag(help: "A/B: close the replaced file inside the save, not in the background (WriteTuning.releasesReplacedFileInBackground = false).")
    var noBackgroundRelease = false

    @Option(help: "A/B: arrays of at least this many bytes get their own huge-page mapping, smaller ones come from malloc (MemoryTuning.hugeAllocationThreshold; default 4 MiB).")
    var hugeThreshold: Int?

    @Flag(help: "A/B: allocate each loaded array on its own, not small ones packed in one mapping (MemoryTuning.packsSmallArrays = false).")
    var noPack = false

    @Flag(help: "A/B: every uncompressed array's append waits for its own checksums, instead of returning once its bytes are written and the checksums following on the checksum thread (WriteTuning.defersChecksums = false).")
    var noDefer = false

    @Option(help: "A/B: with --no-defer, uncompressed arrays of at least this many bytes are checksummed on another thread while they are written (WriteTuning.overlapMinimumBytes; default 1 MiB).")
    var overlapMinimum: Int?

    @Flag(help: "Also time one write(2) of all array bytes (bare, and after fallocate(2) as np.save does) and one read(2) into a preallocated buffer, in this process.")
    var baselines = false

    @Flag(inversion: .prefixedNo, help: "sync(2) once (untimed) between the saves and the loads.")
    var sync = true

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        if let m = mmapRuns, m < 1 { throw ValidationError("--mmap-runs must be at least 1") }
        if codec == .zstd, level < -7 || level > 22 { throw ValidationError("--level must be in -7 … 22 for zstd") }
        if lz4Acceleration < 1 || lz4Acceleration > 65_537 { throw ValidationError("--lz4-acceleration must be in 1 … 65537") }
        guard FileManager.default.fileExists(atPath: input) else { throw ValidationError("no such input: \(input)") }
    }

    var writeOptions: WriteOptions {
        var o = WriteOptions()
        switch codec {
        case .none: o.codec = .none
        case .lz4: o.codec = .lz4
        case .zstd: o.codec = .zstd(level: level)
        }
        o.lz4Acceleration = lz4Acceleration
        o.filter = shuffle ? .shuffle : .none
        o.durable = false
        if let threads { o.threads = threads }
        return o
    }

    var readOptions: ReadOptions {
        var o = ReadOptions()
        if let threads { o.threads = threads }
        return o
    }

    func run() throws {
        warnAboutChecksumBuild()
        WriteTuning.preallocates = !noPreallocate
        WriteTuning.releasesReplacedFileInBackground = !noBackgroundRelease
        WriteTuning.defersChecksums = !noDefer
        if let overlapMinimum { WriteTuning.overlapMinimumBytes = overlapMinimum }
        if let hugeThreshold { MemoryTuning.hugeAllocationThreshold = hugeThreshold }
        MemoryTuning.packsSmallArrays = !noPack
        let ownDir = dir == nil
        let folder = dir ?? FileManager.default.temporaryDirectory.appendingPathComponent("brine-io-\(getpid())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/io-\(getpid()).brine"
        defer {
            unlink(path)
            if ownDir { try? FileManager.default.removeItem(atPath: folder) }
        }

        let t0 = now()
        let dataset = try loadSafetensorsDataset(path: input, name: URL(fileURLWithPath: input).lastPathComponent)
        let readSeconds = now() - t0
        let baseRSS = residentMemory().current

        let wopts = writeOptions
        let ropts = readOptions
        var rows: [IORow] = []
        var peak = 0
        // What a body returns (the loaded tensors) is released after the
        // clock stops, as compare.py does for the Python loads.
        func row<R>(_ op: String, runs n: Int, setup: () throws -> Void = {}, _ body: () throws -> R) throws {
            let r = try measure(runs: n, setup: setup, body)
            rows.append(IORow(op: op, medianSeconds: r.median, minSeconds: r.min, runs: n, extraPeakRSS: r.extraPeak))
            peak = max(peak, residentMemory().peak)
        }

        if baselines { try rows += rawBaselines(dataset, folder: folder) }

        // Save: always run once so that the loads have a file, timed if asked.
        let save = {
            let w = try BrineWriter(path: path, options: wopts)
            for (p, t) in dataset.arrays { try w.append(t, arrayPath: p) }
            try w.finish()
        }
        if ops.contains(.save) {
            try row("save", runs: runs, setup: { unlink(path) }, save)
        } else {
            unlink(path)
            try save()
        }
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        if ops.contains(.overwrite) {
            // Each run replaces the file the previous one wrote, once it is on
            // disk; the previous run's replaced file is closed first (untimed).
            try row("overwrite", runs: runs, setup: {
                if access(path, F_OK) != 0 { try save() }
                WriteTuning.waitForBackgroundReleases()
                Glibc.sync()
            }, save)
            WriteTuning.waitForBackgroundReleases()
        }
        if sync { Glibc.sync() }

        if ops.contains(.load) {
            try row("load", runs: runs) {
                let f = try BrineFile(path: path, mode: .copy, options: ropts)
                return try f.loadAll()
            }
        }
        if ops.contains(.mmap) {
            try row("mmap", runs: runs) {
                let f = try BrineFile(path: path, mode: .mmap, options: ropts)
                return try f.loadAll()
            }
        }
        var unverified = ropts
        unverified.verifyChecksums = false
        if ops.contains(.mmapUnverified) {
            try row("mmap-unverified", runs: mmapRuns ?? max(runs, 21)) {
                let f = try BrineFile(path: path, mode: .mmap, options: unverified)
                return try f.loadAll()
            }
        }
        if ops.contains(.touch) {
            // Faulting every page in without verifying: what a verified open
            // should cost about as much as (one pass over the pages).
            try row("touch", runs: runs) {
                let f = try BrineFile(path: path, mode: .mmap, options: unverified)
                let tensors = try f.loadAll()
                blackHole(touchEveryPage(tensors))
                return tensors
            }
        }

        var coldResident: Double?
        if ops.contains(.durableSave) {
            var durable = wopts
            durable.durable = true
            try row("durable-save", runs: runs, setup: { unlink(path); Glibc.sync() }) {
                let w = try BrineWriter(path: path, options: durable)
                for (p, t) in dataset.arrays { try w.append(t, arrayPath: p) }
                try w.finish()
            }
        }
        if ops.contains(.coldLoad) {
            // Every run starts with none of the file's pages in memory
            // (checked: the largest resident fraction seen is reported).
            try row("cold-load", runs: runs, setup: {
                let f = PageCache.evict(path) ?? 1
                coldResident = max(coldResident ?? 0, f)
            }) {
                let f = try BrineFile(path: path, mode: .copy, options: ropts)
                return try f.loadAll()
            }
        }

        if let keepFile { rename(path, keepFile) }
        let report = IOReport(
            input: input, arrays: dataset.arrays.count, rawBytes: dataset.rawBytes,
            codec: codec.rawValue, level: codec == .zstd ? level : nil, shuffle: shuffle,
            threads: wopts.threads, durable: false, runs: runs, fileBytes: fileBytes,
            inputReadSeconds: readSeconds, baselineRSS: baseRSS, peakRSS: peak,
            coldResidentFraction: coldResident, results: rows)
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try e.encode(report), as: UTF8.self))
    }

    /// One write(2) of all array bytes to a new file and one read(2) of them
    /// into a preallocated, faulted-in buffer: the physical-limit proxy, in
    /// the same process as the Brine rows.
    func rawBaselines(_ d: Dataset, folder: String) throws -> [IORow] {
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: max(d.rawBytes, 1), alignment: 4096)
        defer { raw.deallocate() }
        var o = 0
        for (_, t) in d.arrays {
            raw.baseAddress!.advanced(by: o).copyMemory(from: t.storage.baseAddress, byteCount: t.byteCount)
            o += t.byteCount
        }
        let path = folder + "/raw-\(getpid()).bin"
        defer { unlink(path) }
        var rows: [IORow] = []
        var r = measure(runs: runs, setup: { unlink(path) }) {
            let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
            precondition(fd >= 0, "open failed: \(errno)")
            Suite.writeAll(fd, raw.baseAddress!, d.rawBytes)
            close(fd)
        }
        rows.append(IORow(op: "raw write", medianSeconds: r.median, minSeconds: r.min, runs: runs, extraPeakRSS: r.extraPeak))
        // What np.save does: allocate the file's blocks, then one write(2).
        r = measure(runs: runs, setup: { unlink(path) }) {
            let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
            precondition(fd >= 0, "open failed: \(errno)")
            _ = WriteTuning.preallocate(fileDescriptor: fd, offset: 0, length: d.rawBytes)
            Suite.writeAll(fd, raw.baseAddress!, d.rawBytes)
            close(fd)
        }
        rows.append(IORow(op: "fallocate write", medianSeconds: r.median, minSeconds: r.min, runs: runs, extraPeakRSS: r.extraPeak))
        if sync { Glibc.sync() }
        let dst = UnsafeMutableRawBufferPointer.allocate(byteCount: max(d.rawBytes, 1), alignment: 4096)
        defer { dst.deallocate() }
        memset(dst.baseAddress!, 0, dst.count)
        r = try measure(runs: runs) {
            let fd = open(path, O_RDONLY)
            precondition(fd >= 0, "open failed: \(errno)")
            Suite.readAll(fd, dst.baseAddress!, d.rawBytes)
            close(fd)
        }
        rows.append(IORow(op: "raw read", medianSeconds: r.median, minSeconds: r.min, runs: runs, extraPeakRSS: r.extraPeak))
        return rows
    }
}

/// One timed operation of `Benchmarks io`.
struct IORow: Codable {
    /// `save`, `overwrite`, `load`, `mmap`, `touch`, `durable-save`, `cold-load`, `raw write`, `fallocate write`, `raw read`.
    var op: String
    var medianSeconds: Double
    var minSeconds: Double
    var runs: Int
    /// Peak RSS above the RSS before the run, in bytes (max over the timed runs).
    var extraPeakRSS: Int
}

/// The JSON `Benchmarks io` prints.
struct IOReport: Codable {
    var tool = "brine"
    var input: String
    var arrays: Int
    /// Sum of the arrays' bytes (the MB/s denominator).
    var rawBytes: Int
    var codec: String
    var level: Int?
    var shuffle: Bool
    var threads: Int
    var durable: Bool
    var runs: Int
    /// Size of the Brine file written, in bytes.
    var fileBytes: Int
    /// Untimed: reading the safetensors input into memory.
    var inputReadSeconds: Double
    /// RSS after the input is in memory, in bytes.
    var baselineRSS: Int
    /// The largest VmHWM seen after a Brine row (the peak is reset before each
    /// run, so this is the highest last-run peak of any row), in bytes.
    var peakRSS: Int
    /// For cold-load: the largest fraction (0…1) of the file's pages still
    /// resident after eviction, over all runs (nil when cold-load did not run).
    var coldResidentFraction: Double?
    /// The XXH3-64 loop of this build: `avx2` or `libxxhash` (see ``checksumBuildWarning()``).
    var checksumKernel = checksumKernelName
    /// ``checksumBuildWarning()``, when the AVX2 loop is missing from an AVX2 build.
    var checksumWarning = checksumBuildWarning()
    var results: [IORow]
}
