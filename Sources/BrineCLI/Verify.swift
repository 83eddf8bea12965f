import ArgumentParser
import Brine
import BrineHDF5
import BrineONNX
import Foundation

/// `brine verify FILE…`: checks every file completely and reports each one.
///
/// - Brine: the trailer, the header and every chunk's XXH3-64 checksum, and
///   that every compressed chunk decompresses to its declared size.
/// - A sharded Brine model (`model.brine.index.json`): the index, then every
///   shard as above, each compared with the index.
/// - safetensors and .npy: their structure (everything the reader validates:
///   header, dtypes, shapes, every array's bytes within the file and not
///   overlapping) and every array's bytes read; these formats carry no checksums.
/// - .npz: the zip directory, every member's `.npy` header and its CRC-32.
/// - GGUF, ONNX, HDF5/`.keras`, pickle/joblib: read completely by their
///   readers (every field checked, every array read within bounds).
///
/// Exit status: 0 when every file passes; 1 when any file is damaged or
/// invalid; otherwise 2 when any file could not be read (missing, permissions).
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify model files: every checksum of a Brine file, the structure of safetensors, .npy, .npz, GGUF, ONNX, HDF5/Keras and pickle/joblib files (exit 0 only when all pass).",
        discussion: """
            Exit status: 0 when every file passes; 1 when any file is damaged or invalid; \\
            otherwise 2 when any file could not be read. Failures are printed on stderr \\
            with their array, chunk and byte offset. With --json, standard output is one \\
            JSON array with one object per file, in argument order: {"file", "format", \\
            "ok", "status" ("ok", "damaged" or "unreadable"), "checks" ("xxh3-64", \\
            "crc32" or "structure"), "arrays", "chunks", "bytes", "errors": [{"code", \\
            "message", "array", "chunk", "offset"}]}.
            """)

    @Argument(help: "The files (.brine, a sharded model's model.brine.index.json, .safetensors, .npy, .npz, .gguf, .onnx, .h5, .keras, pickle/joblib), or .brine objects' s3:// or http(s):// URLs.")
    var files: [String]

    @Flag(name: .shortAndLong, help: "Print nothing on success.")
    var quiet = false

    @Flag(help: "Print a JSON array with one result object per file (see below).")
    var json = false

    @OptionGroup
    var threading: ThreadsOptionGroup

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one file to verify") }
    }

    /// How one file fared.
    enum Status: String {
        case ok, damaged, unreadable
    }

    func run() throws {
        var results: [Value] = []
        var statuses: [Status] = []
        for path in files {
            let (status, result) = check(path)
            statuses.append(status)
            results.append(result)
        }
        if json { print(jsonText(.list(results))) }
        if statuses.contains(.damaged) { throw Exit.damaged }
        if statuses.contains(.unreadable) { throw Exit.unreadable }
    }

    /// Verifies one file, printing its outcome unless `--json`.
    func check(_ path: String) -> (Status, Value) {
        var report = InputFile.Report()
        var format = "unknown"
        do throws(BrineError) {
            if let url = remoteURL(path) {
                format = "brine"
                report = try verifyRemote(url)
            } else if path.hasSuffix(".brine.index.json") {
                format = "brine shard index"
                report = try verifyShards(URL(fileURLWithPath: path))
            } else if let (f, r) = try verifyByReading(path) {
                // Formats without checksums or an array table of Brine's kind
                // (GGUF, ONNX, HDF5/Keras, pickle/joblib): read completely by
                // their own readers, every array within bounds.
                format = f.rawValue
                report = r
            } else {
                let input = try InputFile.open(path, threads: threading.threads)
                format = input.format.rawValue
                let total = input.fileSize(path)
                let progress = Progress("verifying", totalBytes: total)
                report = input.verify(progress: progress)
                progress.finish()
            }
        } catch {
            report.failures = [error]
        }
        let status: Status = report.failures.isEmpty ? .ok
            : report.failures.allSatisfy(\.meansUnreadable) ? .unreadable : .damaged
        if !json {
            if report.failures.isEmpty {
                if !quiet {
                    switch report.checks {
                    case "xxh3-64":
                        print("ok: \(terminalSafe(path)): header and \(report.chunks) chunks in \(report.arrays) arrays verified (\(formatBytes(report.bytes)))")
                    case "crc32":
                        print("ok: \(terminalSafe(path)): \(format) archive, CRC-32 of \(report.arrays) arrays verified (\(formatBytes(report.bytes)))")
                    default:
                        print("ok: \(terminalSafe(path)): \(format) structure valid, \(report.arrays) arrays read within bounds (\(formatBytes(report.bytes)); the format has no checksums)")
                    }
                }
            } else {
                for e in report.failures { printError("FAIL \(e)") }
                printError("brine: \(report.failures.count) problem(s) in \(path)")
            }
        }
        let errors: [Value] = report.failures.map { e in
            [
                "code": .string(e.code.name), "message": .string(e.message),
                "array": e.arrayPath.map { .string($0) } ?? .null,
                "chunk": e.chunkIndex.map { .int(Int64($0)) } ?? .null,
                "offset": e.byteOffset.map { .uint($0) } ?? .null,
            ]
        }
        let result: Value = [
            "file": .string(path), "format": .string(format), "ok": .bool(report.failures.isEmpty),
            "status": .string(status.rawValue), "checks": .string(report.checks),
            "arrays": .int(Int64(report.arrays)), "chunks": .int(Int64(report.chunks)), "bytes": .int(Int64(report.bytes)),
            "errors": .list(errors),
        ]
        return (status, result)
    }
}

extension Verify {
    /// Verifies a sharded Brine model from its index: the index itself
    /// (strict JSON, its records consistent with its weight map), then every
    /// shard completely (trailer, header, every chunk's checksum), each
    /// compared with the index (`shard_checksums`) and holding exactly the
    /// arrays the index places in it. Every problem of every shard is
    /// reported, not only the first.
    /// - Throws: ``BrineError`` for an index that cannot be read or parsed.
    func verifyShards(_ indexURL: URL) throws(BrineError) -> InputFile.Report {
        let index = try ShardIndex(contentsOf: indexURL)
        var r = InputFile.Report()
        r.checks = "xxh3-64"
        var options = threading.readOptions
        options.verifyChecksums = true
        for shard in index.shardNames {
            let url = indexURL.deletingLastPathComponent().appendingPathComponent(shard)
            do throws(BrineError) {
                let file = try BrineFile(contentsOf: url, options: options)
                try index.checkShard(shard, headerChecksum: file.headerChecksum, path: indexURL.path)
                _ = try index.placedArrays(in: shard, arrays: file.arrays, info: file.info, path: indexURL.path)
                r.arrays += file.arrays.count
                r.chunks += file.arrays.reduce(0) { $0 + $1.chunkCount }
                r.bytes += file.arrays.reduce(0) { $0 + $1.storedBytes }
                r.failures += file.verify()
            } catch {
                r.failures.append(error)
            }
        }
        return r
    }

    /// Reads a GGUF, ONNX, HDF5/`.keras` or pickle/joblib file completely
    /// with its reader; `nil` for the formats ``InputFile`` verifies.
    func verifyByReading(_ path: String) throws(BrineError) -> (TensorFileFormat, InputFile.Report)? {
        let url = URL(fileURLWithPath: path)
        let format = try TensorFileFormat.detect(contentsOf: url)
        let bundle: TensorBundle
        switch format {
        case .gguf, .pickle: bundle = try TensorBundle(contentsOf: url, format: format, mode: .copy)
        case .onnx: bundle = try ONNXModel(contentsOf: url).bundle()
        case .h5, .keras: bundle = try IsolatedHDF5.read(url, keras: format == .keras, skipUnconvertibleAttributes: true)  // libhdf5 may crash on damaged files
        case .brine, .safetensors, .npy, .npz: return nil
        }
        var report = InputFile.Report()
        report.arrays = bundle.tensors.count
        report.bytes = bundle.tensors.reduce(0) { $0 + $1.tensor.byteCount }
        report.checks = "structure"
        return (format, report)
    }
}
