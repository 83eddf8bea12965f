import Brine
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs every method on one dataset and appends rows to `results`.
final class Suite {
    var runs: Int
    var directory: URL
    var quick: Bool
    var results: [Measurement] = []
    var log: (String) -> Void

    init(runs: Int, directory: URL, quick: Bool, log: @escaping (String) -> Void) {
        self.runs = runs
        self.directory = directory
        self.quick = quick
        self.log = log
    }

    // MARK: Baselines (the physical-limit proxy)

    /// All arrays concatenated into one buffer, for the one-write(2)/one-read baselines.
    func concatenated(_ d: Dataset) -> UnsafeMutableRawBufferPointer {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(d.rawBytes, 1), alignment: 4096)
        var o = 0
        for (_, t) in d.arrays {
            buf.baseAddress!.advanced(by: o).copyMemory(from: t.storage.baseAddress, byteCount: t.byteCount)
            o += t.byteCount
        }
        return buf
    }

    static func writeAll(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) {
        var done = 0
        while done < n {
            let k = write(fd, p + done, min(n - done, 1 << 30))
            precondition(k > 0, "write failed: \(errno)")
            done += k
        }
    }

    static func readAll(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ n: Int) {
        var done = 0
        while done < n {
            let k = read(fd, p + done, min(n - done, 1 << 30))
            precondition(k > 0, "read failed: \(errno)")
            done += k
        }
    }

    func record<R>(_ d: Dataset, _ method: String, _ op: String, rawBytes: Int? = nil, fileBytes: Int? = nil,
                         note: String? = nil, runs: Int? = nil, warmup: Int = 1, movesBytes: Bool = true,
                         setup: () throws -> Void = {}, _ body: () throws -> R) throws {
        let r = try measure(runs: runs ?? self.runs, warmup: warmup, setup: setup, body)
        let m = Measurement(
            dataset: d.name, method: method, operation: op, rawBytes: rawBytes ?? d.rawBytes, medianSeconds: r.median,
            minSeconds: r.min, runs: runs ?? self.runs, fileBytes: fileBytes, extraPeakRSS: r.extraPeak, note: note,
            movesBytes: movesBytes ? nil : false)
        results.append(m)
        if movesBytes {
            log(String(format: "  %-34@ %-6@ %10@  %9.0f MB/s", method as NSString, op as NSString,
                       formatSeconds(r.median) as NSString, m.megabytesPerSecond))
        } else {
            log(String(format: "  %-34@ %-6@ %10@", method as NSString, op as NSString, formatSeconds(r.median) as NSString))
        }
    }

    func runBaselines(_ d: Dataset) throws {
        let raw = concatenated(d)
        defer { raw.deallocate() }
        let path = directory.appendingPathComponent("raw.bin").path
        try record(d, "raw write(2)", "save", fileBytes: d.rawBytes, setup: { unlink(path) }) {
            let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
            Suite.writeAll(fd, raw.baseAddress!, raw.count)
            close(fd)
        }
        try record(d, "raw write(2) + fsync", "save", fileBytes: d.rawBytes, setup: { unlink(path) }) {
            let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
            Suite.writeAll(fd, raw.baseAddress!, raw.count)
            fsync(fd)
            close(fd)
        }
        let dst = UnsafeMutableRawBufferPointer.allocate(byteCount: max(d.rawBytes, 1), alignment: 4096)
        defer { dst.deallocate() }
        memset(dst.baseAddress!, 0, dst.count)  // fault the pages in: "preallocated"
        try record(d, "raw read(2), preallocated", "load", fileBytes: d.rawBytes) {
            let fd = open(path, O_RDONLY)
            Suite.readAll(fd, dst.baseAddress!, dst.count)
            close(fd)
        }
        try record(d, "raw read(2), fresh buffer", "load", fileBytes: d.rawBytes) {
            let fresh = TensorStorage(uninitializedByteCount: d.rawBytes)
            let fd = open(path, O_RDONLY)
            Suite.readAll(fd, fresh.baseAddress, d.rawBytes)
            close(fd)
            return fresh  // freed after the clock stops, like the loads below
        }
        try record(d, "memcpy", "load") {
            memcpy(dst.baseAddress!, raw.baseAddress!, raw.count)
        }
        unlink(path)
    }

    // MARK: Brine

    static let configurations: [(String, Codec, ChunkFilter)] = [
        ("none", .none, .none),
        ("lz4", .lz4, .none),
        ("lz4 + shuffle", .lz4, .shuffle),
        ("zstd-1", .zstd(level: 1), .none),
        ("zstd-1 + shuffle", .zstd(level: 1), .shuffle),
        ("zstd-3", .zstd(level: 3), .none),
        ("zstd-3 + shuffle", .zstd(level: 3), .shuffle),
    ]

    func save(_ d: Dataset, to path: String, options: WriteOptions) throws {
        let w = try BrineWriter(path: path, options: options)
        for (p, t) in d.arrays { try w.append(t, arrayPath: p) }
        try w.finish()
    }

    func runBrine(_ d: Dataset) throws {
        let path = directory.appendingPathComponent("model.brine").path
        let configs = quick ? Suite.configurations.filter { ["none", "lz4 + shuffle", "zstd-1 + shuffle"].contains($0.0) } : Suite.configurations
        for (name, codec, filter) in configs {
            var o = WriteOptions(codec: codec, filter: filter)
            o.durable = false
            // Each save writes a new file, like the raw write(2) baseline; the
            // cost of replacing an existing file is a row of its own.
            let fresh: () -> Void = { unlink(path) }
            try record(d, "brine \(name)", "save", fileBytes: nil, setup: fresh) { try save(d, to: path, options: o) }
            let size = Int((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
            results[results.count - 1].fileBytes = size
            if name == "none" || name == "zstd-1 + shuffle" {
                var one = o
                one.threads = 1
                try record(d, "brine \(name), 1 thread", "save", fileBytes: size, setup: fresh) { try save(d, to: path, options: one) }
            }
            if name == "none" {
                var durable = o
                durable.durable = true
                try record(d, "brine none + fsync", "save", fileBytes: size, setup: fresh) { try save(d, to: path, options: durable) }
                try record(d, "brine none, replacing the file", "save", fileBytes: size) { try save(d, to: path, options: o) }
            }
            try record(d, "brine \(name)", "load", fileBytes: size) {
                let f = try BrineFile(path: path, mode: .copy)
                return try f.loadAll()
            }
            if name == "none" {
                var noVerify = ReadOptions()
                noVerify.verifyChecksums = false
                try record(d, "brine none, no verify", "load", fileBytes: size) {
                    let f = try BrineFile(path: path, mode: .copy, options: noVerify)
                    return try f.loadAll()
                }
                let destinations = d.arrays.map { TensorStorage(zeroedByteCount: $0.tensor.byteCount) }
                for t in destinations { memset(t.baseAddress, 1, t.byteCount) }  // fault in: "preallocated"
                try record(d, "brine none, into preallocated", "load", fileBytes: size) {
                    let f = try BrineFile(path: path, mode: .copy)
                    for (i, (p, _)) in d.arrays.enumerated() {
                        try f.read(p, into: UnsafeMutableRawBufferPointer(start: destinations[i].baseAddress, count: destinations[i].byteCount))
                    }
                }
                // The default verifies every view (XXH3 over the pages on all
                // cores); the unverified rows use the named opt-out.
                let unverified = ReadOptions(verifyChecksums: false)
                try record(d, "brine mmap open, unverified", "load", fileBytes: size, runs: max(runs, 21), movesBytes: false) {
                    let f = try BrineFile(path: path, mode: .mmap, options: unverified)
                    return try f.loadAll()
                }
                try record(d, "brine mmap open, verified (default)", "load", fileBytes: size) {
                    let f = try BrineFile(path: path, mode: .mmap)
                    return try f.loadAll()
                }
                try record(d, "brine mmap + touch every page, unverified", "load", fileBytes: size) {
                    let f = try BrineFile(path: path, mode: .mmap, options: unverified)
                    let tensors = try f.loadAll()
                    blackHole(touchEveryPage(tensors))
                    return tensors
                }
            }
        }
        unlink(path)
    }

    // MARK: Plain sequential serialization

    /// The first arrays of the dataset up to `limit` bytes, for the slow baselines.
    func slice(_ d: Dataset, limit: Int) -> Dataset {
        var out: [(String, AnyTensor)] = []
        var total = 0
        for (p, t) in d.arrays where t.dtype == .float32 {
            if total >= limit { break }
            let n = min(t.count, (limit - total) / 4)
            let part = try! AnyTensor(dtype: .float32, shape: [n], copying: UnsafeRawBufferPointer(start: t.storage.baseAddress, count: n * 4))
            out.append((p, part))
            total += n * 4
        }
        return Dataset(name: d.name, arrays: out)
    }

    func runSequential(_ d: Dataset) throws {
        let limit = quick ? 4 << 20 : 8 << 20
        let s = slice(d, limit: limit)
        let note = s.rawBytes < d.rawBytes ? "on the first \(formatBytes(s.rawBytes))" : nil
        let dict: [String: [Float]] = Dictionary(uniqueKeysWithValues: s.arrays.map { ($0.path, try! $0.tensor.typed(as: Float.self).scalars) })
        let jsonURL = directory.appendingPathComponent("model.json")
        var jsonSize = 0
        let slow = max(3, runs / 2)
        try record(s, "JSONEncoder", "save", note: note, runs: slow) {
            let data = try JSONEncoder().encode(dict)
            try data.write(to: jsonURL)
            jsonSize = data.count
        }
        results[results.count - 1].fileBytes = jsonSize
        try record(s, "JSONDecoder", "load", fileBytes: jsonSize, note: note, runs: slow) {
            blackHole(try JSONDecoder().decode([String: [Float]].self, from: Data(contentsOf: jsonURL)))
        }
        let plistURL = directory.appendingPathComponent("model.plist")
        var plistSize = 0
        try record(s, "PropertyListEncoder binary", "save", note: note, runs: slow) {
            let e = PropertyListEncoder()
            e.outputFormat = .binary
            let data = try e.encode(dict)
            try data.write(to: plistURL)
            plistSize = data.count
        }
        results[results.count - 1].fileBytes = plistSize
        try record(s, "PropertyListDecoder binary", "load", fileBytes: plistSize, note: note, runs: slow) {
            blackHole(try PropertyListDecoder().decode([String: [Float]].self, from: Data(contentsOf: plistURL)))
        }
        // Element by element through a buffered stdio stream (fwrite/fread of one float at a time).
        let binPath = directory.appendingPathComponent("model.elements").path
        try record(s, "element-by-element fwrite", "save", fileBytes: s.rawBytes, note: note, runs: slow) {
            guard let f = fopen(binPath, "wb") else { throw CocoaError(.fileWriteUnknown) }
            for (_, t) in s.arrays {
                let p = t.storage.baseAddress.assumingMemoryBound(to: Float.self)
                var count = UInt64(t.count)
                fwrite(&count, 8, 1, f)
                for i in 0 ..< t.count {
                    var x = p[i]
                    fwrite(&x, 4, 1, f)
                }
            }
            fclose(f)
        }
        try record(s, "element-by-element fread", "load", fileBytes: s.rawBytes, note: note, runs: slow) {
            guard let f = fopen(binPath, "rb") else { throw CocoaError(.fileReadUnknown) }
            var out: [[Float]] = []
            for _ in s.arrays {
                var count: UInt64 = 0
                fread(&count, 8, 1, f)
                var a: [Float] = []
                a.reserveCapacity(Int(count))
                for _ in 0 ..< count {
                    var x: Float = 0
                    fread(&x, 4, 1, f)
                    a.append(x)
                }
                out.append(a)
            }
            fclose(f)
            blackHole(out)
        }
        for p in [jsonURL.path, plistURL.path, binPath] { unlink(p) }
    }

    /// Fills in each row's ratio to the raw baseline of its dataset
    /// (saves: one write(2); loads: one read(2) into a preallocated buffer).
    func computeRatios() {
        for i in results.indices where results[i].movesBytes != false {
            let r = results[i]
            let base = r.operation == "save" ? "raw write(2)" : "raw read(2), preallocated"
            guard let b = results.first(where: { $0.dataset == r.dataset && $0.method == base && $0.operation == r.operation }) else { continue }
            results[i].ratioToBaseline = r.megabytesPerSecond / b.megabytesPerSecond
            results[i].baseline = base
        }
    }
}
