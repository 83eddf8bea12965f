import Brine
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Monotonic time in seconds.
@inline(__always)
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Keeps a value alive and opaque to the optimizer (as swift-numerics' blackHole).
/// `@_optimize(none)` matters: with only `@inline(never)` the optimizer sees that
/// the body ignores its argument, drops it, and deletes the loop that computed
/// it (the page-touch loops then touched nothing: no page faults at all).
@_optimize(none)
func blackHole<T>(_ x: T) {
    withExtendedLifetime(x) {}
}

/// Current and peak resident set size from /proc/self/status, in bytes.
func residentMemory() -> (current: Int, peak: Int) {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    var cur = 0, peak = 0
    for line in s.split(separator: "\n") {
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if parts.first == "VmRSS:", parts.count >= 2 { cur = (Int(parts[1]) ?? 0) * 1024 }
        if parts.first == "VmHWM:", parts.count >= 2 { peak = (Int(parts[1]) ?? 0) * 1024 }
    }
    return (cur, peak)
}

/// Resets the kernel's peak-RSS counter (VmHWM) to the current RSS
/// (`echo 5 > /proc/self/clear_refs`, Linux ≥ 4.0). Returns false if unsupported.
@discardableResult
func resetPeakResidentMemory() -> Bool {
    let fd = open("/proc/self/clear_refs", O_WRONLY)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return write(fd, "5", 1) == 1
}

/// Drops clean page-cache pages of one file (`posix_fadvise(DONTNEED)`), used
/// only for the cold-cache rows.
func dropFromPageCache(_ path: String) {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return }
    fdatasync(fd)
    posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
    close(fd)
}

/// One measured operation: median of `runs` timed runs after `warmup` untimed ones.
struct Measurement: Codable {
    var dataset: String
    var method: String
    var operation: String
    /// Raw array bytes processed per run.
    var rawBytes: Int
    var medianSeconds: Double
    var minSeconds: Double
    var runs: Int
    /// Bytes of the file written or read, when there is one.
    var fileBytes: Int?
    /// Peak RSS above the RSS before the run, in bytes (max over runs).
    var extraPeakRSS: Int?
    /// Filled in after all rows exist: this row's speed / the baseline's speed.
    var ratioToBaseline: Double?
    var baseline: String?
    var note: String?
    /// `false` for a row that does not read or write the array bytes (an
    /// unverified mmap open maps them and touches none): its MB/s and
    /// ratio would be meaningless and are left blank. `nil` means `true`.
    var movesBytes: Bool?

    var megabytesPerSecond: Double { Double(rawBytes) / medianSeconds / 1e6 }
    var compressionRatio: Double? { fileBytes.map { Double(rawBytes) / Double(max($0, 1)) } }
}

/// Runs `body` `warmup + runs` times and returns timing and memory figures.
/// Before each run, untimed: `sync(2)`, so that no earlier save's dirty pages
/// are being written back (by kernel threads competing for the two cores)
/// while this run is timed; then `setup` (e.g. deleting the previous output).
/// Loads still read from the page cache: `sync` writes pages back but keeps them.
/// What `body` returns is released after the clock stops, as the Python
/// comparison does (`del result` after timing): an mmap-open row times the
/// open, not the `munmap` of the model being dropped.
func measure<R>(
    runs: Int, warmup: Int = 1, setup: () throws -> Void = {}, _ body: () throws -> R
) rethrows -> (median: Double, min: Double, extraPeak: Int) {
    var times: [Double] = []
    var extra = 0
    for i in 0 ..< (warmup + runs) {
        sync()
        try setup()
        let before = residentMemory().current
        resetPeakResidentMemory()
        let t0 = now()
        let result = try body()
        let t1 = now()
        if i >= warmup {
            times.append(t1 - t0)
            extra = max(extra, residentMemory().peak - before)
        }
        withExtendedLifetime(result) {}  // released here, after the clock
    }
    times.sort()
    let median = times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
    return (median, times[0], extra)
}

/// Reads one byte of every 4 KiB page of each tensor (faults in a mapping)
/// and returns their wrapping sum, for `blackHole`.
func touchEveryPage(_ tensors: [AnyTensor]) -> UInt8 {
    var sum: UInt8 = 0
    for t in tensors {
        let b = t.storage.bytes
        var i = 0
        while i < b.count { sum &+= b[i]; i += 4096 }
    }
    return sum
}

func formatBytes(_ n: Int) -> String {
    let d = Double(n)
    if d >= 1_073_741_824 { return String(format: "%.2f GiB", d / 1_073_741_824) }
    if d >= 1_048_576 { return String(format: "%.1f MiB", d / 1_048_576) }
    if d >= 1024 { return String(format: "%.1f KiB", d / 1024) }
    return "\(n) B"
}

func formatSeconds(_ s: Double) -> String {
    if s < 1e-3 { return String(format: "%.1f µs", s * 1e6) }
    if s < 1 { return String(format: "%.2f ms", s * 1e3) }
    return String(format: "%.2f s", s)
}
