import ArgumentParser
import Brine
import BrineRemote
import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `Benchmarks remote-load`: one remote load in a fresh process (the
/// BrineRemote rows of scripts/remote-bench.sh): open an `s3://` or
/// `http(s)://` Brine object and load every array (checksums verified), or
/// one array; prints `{"seconds": …, "requests": …, "bytes": …,
/// "peak_rss_delta": …}`. The time runs from the open to the last decoded
/// array; `peak_rss_delta` is the peak resident size (getrusage) minus the
/// resident size before the open, in bytes.
struct RemoteLoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remote-load",
        abstract: "Time one remote load (open + every array, or one array) of a Brine object; print JSON.")

    @Option(help: "The object: s3://bucket/key (endpoint from AWS_ENDPOINT_URL) or http(s)://….")
    var url: String

    @Option(help: "Load only this array (default: every array).")
    var array: String?

    @Option(help: "Coalescing unit in MiB (RangeReadOptions.coalesceBytes).")
    var coalesceMiB: Int?

    @Option(help: "Requests in flight (RangeReadOptions.concurrentRequests).")
    var concurrency: Int?

    func run() throws {
        guard let target = URL(string: url) else { throw ValidationError("bad URL \(url)") }
        var remote = RemoteOptions()
        if let coalesceMiB { remote.fetch.coalesceBytes = coalesceMiB << 20 }
        if let concurrency { remote.fetch.concurrentRequests = concurrency }
        let before = currentRSS()
        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        let wanted = array
        Task {
            do {
                let t0 = now()
                let file = try await RangedBrineFile.open(target, remote: remote)
                var loadedBytes = 0
                if let wanted {
                    let t = try await file.anyArray(wanted)
                    loadedBytes = t.byteCount
                    blackHole(t)
                } else {
                    let ts = try await file.loadAll()
                    loadedBytes = ts.reduce(0) { $0 + $1.byteCount }
                    blackHole(ts)
                }
                box.value = .success((now() - t0, loadedBytes))
            } catch {
                box.value = .failure(error)
            }
            done.signal()
        }
        done.wait()
        let (seconds, loaded) = try box.value!.get()
        let window = remote.fetch.coalesceBytes * remote.fetch.concurrentRequests
        print("{\"seconds\": \(seconds), \"requests\": \(remote.stats.requests), \"bytes_received\": \(remote.stats.bytesReceived), "
            + "\"loaded_bytes\": \(loaded), \"window_bytes\": \(window), \"peak_rss_delta\": \(peakRSS() - before)}")
    }

    final class ResultBox: @unchecked Sendable {
        var value: Result<(Double, Int), Error>?
    }
}

/// The peak resident set size of this process in bytes (getrusage).
private func peakRSS() -> Int {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Int(u.ru_maxrss) * 1024
}

/// The current resident set size in bytes (/proc/self/statm).
private func currentRSS() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let f = text.split(separator: " ")
    guard f.count > 1, let pages = Int(f[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
