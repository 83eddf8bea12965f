import ArgumentParser
import Brine
import BrineRemote
import CBrineKernels
import Dispatch
import Foundation
import SystemPackage

/// A URL for `s3://…` and `http(s)://…` arguments, `nil` for a local path.
func remoteURL(_ argument: String) -> URL? {
    guard let u = URL(string: argument), Brine.isRemote(u) else { return nil }
    return u
}

/// Runs async work from a synchronous command (the main thread is not part
/// of Swift's cooperative pool, so waiting on it cannot starve the work).
func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let box = ResultBox<T>()
    Task {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

/// A result written by one task and read after it signalled (the semaphore orders the two).
final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}

extension Exit {
    /// Opens a remote Brine object (one round trip), or prints why not.
    static func openRemote(_ url: URL) throws -> RangedBrineFile {
        do {
            return try blocking { try await RangedBrineFile.open(url) }
        } catch let e as BrineError {
            throw report(e)
        }
    }
}

/// `brine verify s3://…|https://…`: fetches every chunk in coalesced
/// concurrent range requests and checks it; the report of one file.
/// - Throws: ``BrineError`` when the object cannot be opened.
func verifyRemote(_ url: URL) throws(BrineError) -> InputFile.Report {
    let f: RangedBrineFile
    do {
        f = try blocking { try await RangedBrineFile.open(url) }
    } catch let e as BrineError {
        throw e
    } catch {
        throw BrineError(.io, "\(error)", filePath: url.absoluteString)
    }
    let total = f.arrays.reduce(0) { $0 + $1.storedBytes }
    let progress = Progress("verifying", totalBytes: total)
    let update = UncheckedProgress(progress)
    let failures = (try? blocking { await f.verify { done, all in update.value.update(done, all) } }) ?? []
    progress.finish()
    var report = InputFile.Report()
    report.failures = failures
    report.arrays = f.arrays.count
    report.chunks = f.arrays.reduce(0) { $0 + $1.chunkCount }
    report.bytes = total
    report.checks = "xxh3-64"
    return report
}

extension Inspect {
    /// `brine inspect s3://…|https://…`: the arrays and metadata of a remote
    /// Brine object (one round trip: preamble and tail).
    func inspectRemote(_ url: URL) throws {
        let f = try Exit.openRemote(url)
        if json {
            let report: Value = [
                "file": .string(file), "format": .string("brine"), "version": .string("\(f.formatMajor).\(f.formatMinor)"),
                "file_bytes": .int(Int64(f.fileSize)), "metadata": f.metadata,
                "arrays": .list(f.arrays.map { Self.arrayJSON($0, detailed: false) }),
            ]
            print(jsonText(report))
            return
        }
        printBrine(version: (f.formatMajor, f.formatMinor), fileSize: f.fileSize, arrays: f.arrays, metadata: f.metadata, detailed: false)
        if tree {
            print("")
            print("tree: \(f.root)")
        }
    }
}

/// The progress line, used from one task at a time.
struct UncheckedProgress: @unchecked Sendable {
    let value: Progress
    init(_ value: Progress) { self.value = value }
}

extension Convert {
    /// `brine convert` with an `s3://`/`http(s)://` input or an `s3://`
    /// output: the remote input is downloaded to a private temporary file
    /// (range requests, ETag pinned), converted as a local file through the
    /// same pipeline (``convert(to:readInput:)``: options that do not apply
    /// are refused before the download), and a remote output is uploaded
    /// with S3 multipart upload (appears only when complete).
    func runRemote(input inRemote: URL?, output outRemote: URL?) throws {
        if let outRemote, outRemote.scheme?.lowercased() != "s3" {
            printError("brine: error: the output must be a path or an s3:// URL (HTTP servers take no uploads)")
            throw Exit.usage
        }
        guard let outFormat = to ?? TensorFileFormat(fileExtension: (outRemote ?? URL(fileURLWithPath: output)).pathExtension) else {
            throw ValidationError("cannot tell the output format from '\(output)'; use --to")
        }
        let temp = try TemporaryFolder(prefix: "brine-convert")
        let dir = temp.url
        // Removed on SIGINT/SIGTERM/SIGHUP too (the CLI's handlers): the
        // downloaded copy, the output to upload, then the folder.
        var registered = [dir.path]
        _ = brine_temporary_register(dir.path)
        defer {
            temp.remove()
            for p in registered { brine_temporary_unregister(p) }
        }
        func register(_ url: URL) {
            registered.append(url.path)
            _ = brine_temporary_register(url.path)
        }
        let outURL = outRemote.map { dir.appendingPathComponent("output." + $0.pathExtension) } ?? URL(fileURLWithPath: output)
        if outRemote != nil { register(outURL) }
        try convert(to: ConvertDestination(kind: .file(outFormat), url: outURL)) { () throws(BrineError) in
            var inURL = URL(fileURLWithPath: input)
            if let inRemote {
                inURL = dir.appendingPathComponent("input" + (inRemote.pathExtension.isEmpty ? "" : "." + inRemote.pathExtension))
                register(inURL)
                let path = inURL.path
                do {
                    try blocking { try await download(inRemote, to: path) }
                } catch let error as BrineError {
                    throw error
                } catch {
                    throw BrineError(.io, "\(error)", filePath: inRemote.absoluteString)
                }
            }
            let inFormat: TensorFileFormat
            if let from { inFormat = from } else { inFormat = try TensorFileFormat.detect(contentsOf: inURL) }
            return try read(inURL, format: inFormat)
        }
        if let outRemote {
            let path = outURL.path
            do {
                try blocking { try await S3Client().upload(file: path, to: outRemote) }
            } catch let error as BrineError {
                throw Exit.report(error)
            }
        }
    }
}

/// Downloads a remote object to `path` in 8 MiB range requests (ETag pinned
/// at open, so a replaced object fails instead of mixing versions).
func download(_ url: URL, to path: String) async throws(BrineError) {
    let source = try await RemoteObjectSource.open(url)
    // A descriptor closed exactly once (a FileHandle closed explicitly and
    // again on deallocation would close a reused number if the first close
    // failed); swift-system's writeAll loops over short writes and EINTR.
    let out: FileDescriptor
    do {
        out = try FileDescriptor.open(FilePath(path), .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite])
    } catch {
        throw BrineError(.io, "cannot create a temporary file: \(error)", filePath: path, errno: (error as? Errno)?.rawValue)
    }
    var closed = false
    defer { if !closed { try? out.close() } }
    let step = 8 << 20
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: step, alignment: 64)
    defer { buffer.deallocate() }
    var offset = 0
    while offset < source.size {
        let n = Swift.min(step, source.size - offset)
        let part = UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< n])
        try await source.read(offset ..< offset + n, into: part)
        do {
            _ = try out.writeAll(toAbsoluteOffset: Int64(offset), UnsafeRawBufferPointer(part))
        } catch {
            throw BrineError(.io, "writing the download failed: \(error)", filePath: path, errno: (error as? Errno)?.rawValue)
        }
        offset += n
    }
    closed = true
    do {
        try out.close()
    } catch {
        throw BrineError(.io, "closing the download failed: \(error)", filePath: path, errno: (error as? Errno)?.rawValue)
    }
}
