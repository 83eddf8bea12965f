import Brine
import Foundation

extension Suite {
    /// The Codable layer against the low-level API on the same 104 arrays
    /// (MiniLM shapes), as rows whose note gives the Codable/direct time ratio.
    func runCodable() throws {
        let dataset = "MiniLM-shaped Codable model"
        let rows = try CodableBenchmark.run(directory: directory, runs: max(runs, quick ? 3 : 9))
        for (i, m) in rows.enumerated() {
            let name = m.name.trimmingCharacters(in: .whitespaces)
            let op = name.hasPrefix("save") ? "save" : (name.hasPrefix("load") ? "load" : "layer")
            let method = name.hasPrefix("save") || name.hasPrefix("load")
                ? String(name.dropFirst(4)).trimmingCharacters(in: .whitespaces) : name
            var note: String?
            // Rows come in pairs: Codable first, then the direct API on the same arrays.
            if i % 2 == 1, op != "layer" {
                note = String(format: "Codable / direct = %.2f×", rows[i - 1].median / m.median)
                results[results.count - 1].note = note
                note = nil
            }
            results.append(Measurement(
                dataset: dataset, method: method, operation: op, rawBytes: m.bytes, medianSeconds: m.median,
                minSeconds: m.median, runs: max(runs, quick ? 3 : 9), fileBytes: nil, extraPeakRSS: nil, note: note))
            log(String(format: "  %-44@ %10@", m.name as NSString, formatSeconds(m.median) as NSString))
        }
    }

    /// SIMD kernels next to memcpy on one buffer size, one row per kernel and path.
    func runKernels() {
        let bytes = 4 << 20
        let dataset = "kernels, \(formatBytes(bytes)) buffers"
        let rows = KernelBenchmarks.run(bytes: bytes, repetitions: quick ? 5 : 11)
        let memcpyRate = rows.first(where: { $0.kernel == "memcpy" })?.gigabytesPerSecond ?? 0
        for r in rows {
            results.append(Measurement(
                dataset: dataset, method: "\(r.kernel) [\(r.path)]", operation: "kernel", rawBytes: r.bytes,
                medianSeconds: r.medianSeconds, minSeconds: r.medianSeconds, runs: quick ? 5 : 11, fileBytes: nil,
                extraPeakRSS: nil,
                note: memcpyRate > 0 ? String(format: "%.2f× memcpy", r.gigabytesPerSecond / memcpyRate) : nil))
            log(String(format: "  %-34@ %8.1f GB/s", "\(r.kernel) [\(r.path)]" as NSString, r.gigabytesPerSecond))
        }
    }
}
