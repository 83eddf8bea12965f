import Foundation
import Testing
@testable import Brine

#if canImport(Glibc)
import Glibc
#endif

/// The `BrineTestHelper` executable (Tests/BrineTestHelper), spawned by the
/// fault-injection tests as a child process.
///
/// `swift test` and `swift build --build-tests` build every target of the
/// package, so the helper sits next to the test bundle in the build folder
/// (`.build/<triple>/debug/BrineTestHelper`). If it is missing (a test run
/// that built only the test product), it is built once into a separate
/// scratch folder (`.build-helper`): the running `swift test` holds the lock
/// on `.build`, so building there would wait forever.
enum Helper {
    /// The helper's path, or `nil` when it can be neither found nor built.
    static let path: String? = locate()

    private static func locate() -> String? {
        var dirs: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            dirs.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        dirs.append(Bundle.main.bundleURL)
        if let exe = Bundle.main.executableURL { dirs.append(exe.deletingLastPathComponent()) }
        for d in dirs {
            // The xctest bundle is a file on Linux and a folder on Darwin
            // (…/BrinePackageTests.xctest/Contents/MacOS/): walk up a few levels.
            var dir = d
            for _ in 0 ..< 4 {
                let candidate = dir.appendingPathComponent("BrineTestHelper").path
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
                dir.deleteLastPathComponent()
            }
        }
        return buildFallback()
    }

    private static func buildFallback() -> String? {
        let scratch = repositoryRoot.appendingPathComponent(".build-helper").path
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        build.arguments = ["swift", "build", "--product", "BrineTestHelper", "--scratch-path", scratch]
        build.currentDirectoryURL = repositoryRoot
        build.standardOutput = FileHandle.nullDevice
        build.standardError = FileHandle.nullDevice
        guard (try? build.run()) != nil else { return nil }
        build.waitUntilExit()
        let candidate = scratch + "/debug/BrineTestHelper"
        return build.terminationStatus == 0 && FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }

    /// A running helper with its stdout piped to the test.
    final class Child {
        let process = Process()
        private let pipe = Pipe()
        private var buffer = Data()
        private(set) var lines: [String] = []

        init(_ arguments: [String]) throws {
            guard let path = Helper.path else { throw BrineError(.notFound, "BrineTestHelper not found and could not be built") }
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            var env = ProcessInfo.processInfo.environment
            env["SWIFT_BACKTRACE"] = "enable=no"
            process.environment = env
            try process.run()
        }

        var pid: pid_t { process.processIdentifier }

        /// Reads stdout until a line starting with `prefix` arrives.
        /// - Returns: the line, or `nil` at end of output.
        func waitForLine(startingWith prefix: String) -> String? {
            while true {
                if let line = lines.first(where: { $0.hasPrefix(prefix) }) { return line }
                let chunk = pipe.fileHandleForReading.availableData
                if chunk.isEmpty { return nil }
                buffer.append(chunk)
                while let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    lines.append(String(decoding: buffer[buffer.startIndex ..< nl], as: UTF8.self))
                    buffer.removeSubrange(buffer.startIndex ... nl)
                }
            }
        }

        /// Waits for the child to exit and collects the rest of its output.
        /// - Returns: the exit status, or `128 + signal` when it was killed.
        @discardableResult
        func wait() -> Int32 {
            _ = waitForLine(startingWith: "\u{0}never")
            process.waitUntilExit()
            return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        }
    }

    /// Runs the helper to completion.
    /// - Returns: exit status and output lines.
    static func run(_ arguments: [String]) throws -> (status: Int32, lines: [String]) {
        let c = try Child(arguments)
        let status = c.wait()
        return (status, c.lines)
    }
}

/// Checks a file written by the helper's `FaultModel`: every checksum
/// verifies and every array's bytes hash to the XXH3-64 the writer recorded
/// in the metadata before saving.
/// - Returns: the model's generation.
func checkFaultModel(_ file: BrineFile) throws -> UInt64 {
    guard case .uint(let generation)? = file.metadata["generation"] else {
        throw BrineError(.corruptHeader, "no generation in metadata", filePath: file.path)
    }
    let expectedPaths: Set<String> = ["dense.weight", "dense.bias", "embed.ids", "norm.scale", "head.weight"]
    guard Set(file.arrayPaths) == expectedPaths else {
        throw BrineError(.corruptHeader, "arrays \(file.arrayPaths)", filePath: file.path)
    }
    let arrays = try file.loadAll()
    for (info, t) in zip(file.arrays, arrays) {
        guard case .uint(let want)? = file.metadata["xxh3.\(info.path)"] else {
            throw BrineError(.corruptHeader, "no hash for \(info.path)", filePath: file.path)
        }
        let got = Checksum.xxh3(t.storage.bytes)
        guard got == want else {
            throw BrineError(.checksumMismatch, "content hash \(hex(got)) != recorded \(hex(want))", filePath: file.path, arrayPath: info.path)
        }
    }
    if let failure = file.verify().first { throw failure }
    return generation
}

/// The temporaries of `name` left in `dir` (`.<name>.brine-tmp.*`).
func temporaries(of name: String, in dir: URL) -> [String] {
    let all = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
    return all.filter { $0.hasPrefix(".\(name).brine-tmp.") }
}
