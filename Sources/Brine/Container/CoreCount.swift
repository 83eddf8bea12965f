import CBrineKernels
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The number of CPUs this process may use (at least 1): the smallest of
/// the online processors, the CPUs in this thread's affinity mask
/// (`sched_getaffinity(2)`, as `taskset` and container runtimes set it) and
/// the cgroup CPU quota rounded up (cgroup v2 `cpu.max`, or v1
/// `cpu.cfs_quota_us` / `cpu.cfs_period_us`), the rule swift-nio's
/// `System.coreCount` follows. A 2-CPU container on a 64-core host gets 2,
/// so Brine never starts 64 workers there. Computed once per process.
public let activeProcessorCount: Int = CoreCount.compute()

enum CoreCount {
    static func compute() -> Int {
        let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        var count = online > 0 ? Int(online) : 1
        if let affinity = affinityCount() { count = min(count, affinity) }
        if let quota = cgroupQuota() { count = min(count, quota) }
        return max(1, count)
    }

    /// CPUs in the calling thread's affinity mask, or nil where unknown.
    static func affinityCount() -> Int? {
        let n = Int(brine_affinity_cpu_count())
        return n > 0 ? n : nil
    }

    /// The cgroup CPU quota in whole CPUs (rounded up), or nil for none.
    static func cgroupQuota() -> Int? {
        #if os(Linux)
        // cgroup v2: "max 100000" (no limit) or "200000 100000".
        if let text = readSmallFile("/sys/fs/cgroup/cpu.max") {
            let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
            if parts.count >= 2, let quota = Int(parts[0]), let period = Int(parts[1]) {
                return quotaCPUs(quota: quota, period: period)
            }
            return nil
        }
        // cgroup v1.
        if let q = readSmallFile("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
           let p = readSmallFile("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
           let quota = Int(q.trimmingWhitespace), let period = Int(p.trimmingWhitespace) {
            return quotaCPUs(quota: quota, period: period)
        }
        return nil
        #else
        return nil
        #endif
    }

    /// `ceil(quota / period)` for a positive quota and period, else nil.
    static func quotaCPUs(quota: Int, period: Int) -> Int? {
        guard quota > 0, period > 0 else { return nil }
        return max(1, (quota + period - 1) / period)
    }

    /// The first 256 bytes of a small text file (procfs/sysfs), or nil.
    private static func readSmallFile(_ path: String) -> String? {
        guard let fd = try? FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec]) else { return nil }
        defer { try? fd.close() }
        var buffer = [UInt8](repeating: 0, count: 256)
        guard let n = try? buffer.withUnsafeMutableBytes({ try fd.read(into: $0) }), n > 0 else { return nil }
        return String(decoding: buffer[..<n], as: UTF8.self)
    }
}

private extension String {
    var trimmingWhitespace: Substring {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\n" || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\n" || c == "\t" { s.removeLast() }
        return s
    }
}
