import ArgumentParser
import Brine
import Foundation

/// `brine verify FILE`: checks the trailer, header and every chunk's XXH3-64
/// checksum, and that every compressed chunk decompresses to its declared
/// size. Exit status 0 only when everything passes; each failure is printed
/// with its array path, chunk index and byte offset.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify every checksum of a Brine file (exit 0 only when all pass).")

    @Argument(help: "The .brine file, or an s3:// or http(s):// URL.")
    var file: String

    @Flag(name: .shortAndLong, help: "Print nothing on success.")
    var quiet = false

    func run() throws {
        if let url = remoteURL(file) { return try runRemote(url) }
        let f = try Exit.open(file)
        let total = f.arrays.reduce(0) { $0 + $1.storedBytes }
        let progress = Progress("verifying", totalBytes: total)
        let failures = f.verify(progress: progress.update)
        progress.finish()
        if failures.isEmpty {
            if !quiet {
                let chunks = f.arrays.reduce(0) { $0 + $1.chunkCount }
                print("ok: \(file): header and \(chunks) chunks in \(f.arrays.count) arrays verified (\(formatBytes(total)))")
            }
            return
        }
        for e in failures { printError("FAIL \(e)") }
        printError("brine: \(failures.count) chunk(s) failed verification in \(file)")
        throw failures.contains { $0.code == .io } ? Exit.unreadable : Exit.damaged
    }
}
