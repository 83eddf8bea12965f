import ArgumentParser
import CBrineKernels
import Brine
import Foundation

/// `brine`: inspect, verify and convert Brine files.
///
/// Exit status (stable, for scripts):
/// - 0: success (for `verify`: every checksum passed);
/// - 1: the input is damaged or invalid (a checksum failed, a malformed
///   header, not a Brine/safetensors/NumPy file, a dtype the target cannot hold);
/// - 2: a file could not be read or written (missing, permissions, disk full);
/// - 64: usage error (bad arguments).
@main
struct BrineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "brine",
        abstract: "Inspect, verify and convert model files: Brine, safetensors, NumPy, GGUF, ONNX, HDF5/Keras, pickle/joblib (read without running code).",
        version: Brine.version,
        subcommands: [Inspect.self, Verify.self, Convert.self, ReadHDF5Child.self])

    /// ArgumentParser's `main()`, after installing handlers that remove the
    /// temporary file of a save in progress when the CLI is stopped by
    /// SIGINT (Ctrl-C), SIGTERM or SIGHUP (the destination is untouched either way).
    static func main() {
        _ = brine_remove_temporaries_on_signals()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

/// Exit codes shared by all subcommands.
enum Exit {
    static let damaged = ExitCode(1)
    static let unreadable = ExitCode(2)
    static let usage = ExitCode(64)

    /// Opens a Brine file (copy mode, trailer and header only), or prints
    /// why not and throws the matching exit code.
    static func open(_ path: String) throws -> BrineFile {
        do {
            return try BrineFile(path: path)
        } catch {
            throw report(error)
        }
    }

    /// Prints a Brine error on stderr and returns the exit code for it.
    static func report(_ error: BrineError) -> ExitCode {
        printError("brine: error: \(error)")
        return error.meansUnreadable ? unreadable : damaged
    }
}

extension BrineError {
    /// `true` when the file could not be read (system errors, permissions, a
    /// lock held by another process, a pending journal this process cannot
    /// complete): its bytes were not judged, so it is not reported damaged.
    var meansUnreadable: Bool {
        switch code {
        case .io, .notFound, .permissionDenied, .resourceExhausted, .conflict, .recoveryNeeded: return true
        default: return false
        }
    }
}

/// Writes one line to standard error, terminal controls escaped (``terminalSafe(_:)``).
func printError(_ line: String) {
    FileHandle.standardError.write(Data((terminalSafe(line) + "\n").utf8))
}

/// A one-line progress indicator on stderr, shown only when stderr is a terminal.
final class Progress {
    private let label: String
    private let enabled: Bool
    private var lastPercent = -1

    init(_ label: String, minimumBytes: Int = 64 << 20, totalBytes: Int) {
        self.label = label
        self.enabled = isatty(STDERR_FILENO) == 1 && totalBytes >= minimumBytes
    }

    func update(_ done: Int, _ total: Int) {
        guard enabled, total > 0 else { return }
        let percent = Int(Double(done) / Double(total) * 100)
        guard percent != lastPercent else { return }
        lastPercent = percent
        let width = 30
        let filled = width * percent / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(percent)%".utf8))
    }

    func finish() {
        guard enabled, lastPercent >= 0 else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

func formatBytes(_ n: Int) -> String {
    let d = Double(n)
    if d >= 1_073_741_824 { return String(format: "%.2f GiB", d / 1_073_741_824) }
    if d >= 1_048_576 { return String(format: "%.1f MiB", d / 1_048_576) }
    if d >= 1024 { return String(format: "%.1f KiB", d / 1024) }
    return "\(n) B"
}
