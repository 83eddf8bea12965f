import ArgumentParser
import Brine
import BrineHDF5
import CBrineKernels
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// HDF5 and `.keras` input read in a child process.
///
/// libhdf5 (Debian's 1.10.8) is a C library that trusts its input in places:
/// a damaged variable-length string attribute (a global heap reference
/// whose object index is past the heap's end) makes `H5Aread` dereference
/// memory outside the heap (`SIGSEGV` in `H5HG_read`), and its B-tree and
/// filter code has had similar bugs. Brine cannot validate those structures
/// without parsing HDF5 itself, so the CLI contains them: `inspect`,
/// `verify` and `convert` run the read in a copy of themselves (the hidden
/// subcommand ``ReadHDF5Child``), which hands the arrays and attributes
/// back as a private temporary safetensors file (mapped, not copied, by the
/// parent). A child killed by a signal becomes a typed `.invalidInterop`
/// error; the child's own typed errors come back with their code, message
/// and array path. A child that runs past its deadline (libhdf5 looping on
/// a hostile file) is killed and reported as `.timedOut`; a child whose
/// parent dies (even by SIGKILL) removes its copy of the arrays and exits.
enum IsolatedHDF5 {
    /// The exit status of a child that reports a typed error on its standard output.
    static let errorStatus: Int32 = 3

    /// How long the child may run, in seconds: `BRINE_HDF5_TIMEOUT` if set
    /// (a positive number), else 120 s plus 1 s per 20 MB of input (a read
    /// slower than 20 MB/s on top of two minutes is treated as a hang).
    static func timeout(forBytes bytes: Int) -> Double {
        if let s = ProcessInfo.processInfo.environment["BRINE_HDF5_TIMEOUT"], let t = Double(s), t > 0 { return t }
        return 120 + Double(bytes) / 20e6
    }

    /// Reads an HDF5 file (`keras: false`) or a `.keras` zip (`true`) in a child process;
    /// `skipUnconvertibleAttributes` as ``HDF5ReadOptions/skipUnconvertibleAttributes``
    /// (`false`: such an attribute fails the read with `.unsupportedFeature`).
    /// - Returns: the bundle ``HDF5/read(contentsOf:options:)`` or
    ///   ``HDF5/readKeras(contentsOf:options:)`` gives, in the same order.
    /// - Throws: ``BrineError``: the child's error (same code, message and
    ///   array path); `.notFound`, `.invalidArgument` (not a regular file:
    ///   checked here, before any process starts); `.invalidInterop` when
    ///   libhdf5 crashed the child; `.timedOut` when it ran past
    ///   ``timeout(forBytes:)`` and was killed; `.io` when the child cannot
    ///   be started or its result cannot be read.
    static func read(_ url: URL, keras: Bool, skipUnconvertibleAttributes: Bool) throws(BrineError) -> TensorBundle {
        let inputBytes = try RegularFile.check(url.path)
        // A private (0700) folder, as for every work file of one call.
        let folder = try TemporaryFolder(prefix: "brine-hdf5")
        let dir = folder.url.path
        defer { folder.remove() }
        let transfer = dir + "/arrays.safetensors"

        let p = Process()
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = [ReadHDF5Child.configuration.commandName!, "--parent", String(getpid())]
            + (keras ? ["--keras"] : []) + (skipUnconvertibleAttributes ? ["--skip-unconvertible-attributes"] : [])
            + [url.path, transfer]
        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"  // a crash is expected and reported here, not as a backtrace
        // Under a sanitizer (the CI's ASan and TSan runs) the runtime would catch the
        // child's SIGSEGV, print a report and exit with a status, which reads as an
        // ordinary failure here; the child must die by the signal to be classified.
        let noSignalHandlers = "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0"
        for key in ["ASAN_OPTIONS", "TSAN_OPTIONS", "UBSAN_OPTIONS"] {
            env[key] = env[key].map { $0.isEmpty ? noSignalHandlers : $0 + ":" + noSignalHandlers } ?? noSignalHandlers
        }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do {
            try p.run()
        } catch {
            throw BrineError(.io, "cannot start the HDF5 reader process (\(exe)): \(error)", filePath: url.path)
        }
        // The deadline: SIGTERM (the child removes its output and exits),
        // then SIGKILL if it does not.
        let timedOut = UncheckedBox(false)
        let limit = timeout(forBytes: inputBytes)
        let pid = p.processIdentifier
        let watchdog = DispatchWorkItem {
            timedOut.value = true
            kill(pid, SIGTERM)
            DispatchQueue.global().asyncAfter(deadline: .now() + 2) { if p.isRunning { kill(pid, SIGKILL) } }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + limit, execute: watchdog)
        // Read both pipes to the end (stderr on another thread) so that neither fills up.
        let errData = UncheckedBox(Data())
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { errData.value = err.fileHandleForReading.readDataToEndOfFile() }
        let report = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        watchdog.cancel()
        if timedOut.value {
            throw BrineError(.timedOut, "the HDF5 reader process did not finish within \(limit) s and was killed (libhdf5 may loop on a damaged file; BRINE_HDF5_TIMEOUT sets the limit in seconds)",
                             filePath: url.path)
        }

        if p.terminationReason == .uncaughtSignal {
            let sig = p.terminationStatus
            let name = sig == SIGSEGV ? "SIGSEGV" : sig == SIGABRT ? "SIGABRT" : sig == SIGBUS ? "SIGBUS" : "signal \(sig)"
            throw BrineError(.invalidInterop, "libhdf5 crashed (\(name)) reading this file: its structure is damaged or hostile (the read ran in a separate process; nothing was written)",
                             filePath: url.path)
        }
        let object = (try? JSONSerialization.jsonObject(with: report)) as? [String: Any]
        if p.terminationStatus == errorStatus, let object, let codeName = object["code"] as? String,
           let code = BrineError.Code.allCodes.first(where: { $0.name == codeName }), let message = object["message"] as? String {
            throw BrineError(code, message, filePath: url.path, arrayPath: object["arrayPath"] as? String)
        }
        guard p.terminationStatus == 0, let names = object?["names"] as? [String] else {
            let detail = String(decoding: errData.value.suffix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw BrineError(.io, "the HDF5 reader process failed (exit \(p.terminationStatus))\(detail.isEmpty ? "" : ": " + detail)", filePath: url.path)
        }
        let file = try SafetensorsFile(contentsOf: URL(fileURLWithPath: transfer), mode: .mmap)
        let loaded = try file.loadAll()
        // The hand-off names tensors by position (see ReadHDF5Child).
        let byPosition = Dictionary(loaded.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        guard loaded.count == names.count else {
            throw BrineError(.io, "the HDF5 reader process handed over \(loaded.count) arrays for \(names.count) names", filePath: url.path)
        }
        var tensors: [(name: String, tensor: AnyTensor)] = []
        for (i, n) in names.enumerated() {
            guard let t = byPosition[String(i)] else {
                throw BrineError(.io, "the HDF5 reader process lost array '\(n)'", filePath: url.path, arrayPath: n)
            }
            tensors.append((n, t))
        }
        return TensorBundle(tensors: tensors, metadata: file.metadata)
    }
}

/// A mutable box handed to one other thread and read after it is joined.
final class UncheckedBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// `brine __read-hdf5 [--keras] [--skip-unconvertible-attributes] IN OUT`: the child side of ``IsolatedHDF5``
/// (hidden). Reads IN with BrineHDF5 and writes its arrays (named by position:
/// "0", "1", …) and attributes to OUT as safetensors (not synced: a private
/// temporary file), then prints
/// `{"names": [...]}` (the arrays in order) and exits 0; on a ``BrineError``
/// prints `{"code", "message", "arrayPath"}` and exits 3.
struct ReadHDF5Child: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "__read-hdf5", abstract: "Internal: read an HDF5 file for the parent process.", shouldDisplay: false)

    @Flag(help: "IN is a .keras zip.")
    var keras = false

    @Flag(help: "Leave out attributes with no exact metadata text (HDF5ReadOptions.skipUnconvertibleAttributes).")
    var skipUnconvertibleAttributes = false

    @Option(help: "The parent's process id: if it dies, OUT's folder (private to this hand-off) is emptied and removed, and the child exits.")
    var parent: Int32


    @Argument(help: "The HDF5 or .keras file.")
    var input: String

    @Argument(help: "The safetensors file to write.")
    var output: String

    func run() throws {
        let folder = (output as NSString).deletingLastPathComponent
        let armed = brine_remove_on_parent_death(folder, parent)
        guard armed == 0 || armed == EOPNOTSUPP else { throw ExitCode(armed) }
        let url = URL(fileURLWithPath: input)
        let json: [String: Any]
        var status: Int32 = 0
        do {
            var options = HDF5ReadOptions()
            options.skipUnconvertibleAttributes = skipUnconvertibleAttributes
            let b = keras ? try HDF5.readKeras(contentsOf: url, options: options) : try HDF5.read(contentsOf: url, options: options)
            // Tensors go by position ("0", "1", …), their names in the JSON
            // report: an HDF5 dataset may be called `__metadata__`, which
            // safetensors reserves (the hand-off refused such a file).
            let byPosition = b.tensors.enumerated().map { (name: String($0.offset), tensor: $0.element.tensor) }
            try Safetensors.write(byPosition, metadata: b.metadata, to: URL(fileURLWithPath: output), durable: false)
            json = ["names": b.names]
        } catch {
            var o: [String: Any] = ["code": error.code.name, "message": error.message]
            if let a = error.arrayPath { o["arrayPath"] = a }
            json = o
            status = IsolatedHDF5.errorStatus
        }
        let data = try JSONSerialization.data(withJSONObject: json)
        FileHandle.standardOutput.write(data)
        if status != 0 { throw ExitCode(status) }
    }
}
