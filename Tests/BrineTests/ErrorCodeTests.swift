import Foundation
import Testing
@testable import Brine

/// One test per stable ``BrineError/Code``: each is provoked through the
/// public API (files on disk, ``BrineFile``, ``BrineWriter``), and each is
/// listed in docs/FORMAT.md "Error codes". A new code fails
/// ``everyCodeIsProvoked(code:)`` until it gets a scenario here.
@Suite("Error codes")
struct ErrorCodeTests {
    let fx = HostileFixture.shared

    /// Codes that this package's container API cannot produce, and why.
    static let notReachableHere: [String: String] = [
        "invalidInterop": "thrown by the .npy/.npz/safetensors readers (interop branch)",
        "shapeMismatch": "thrown by the Codable decoder when a stored array's shape differs from the model's (encoding branch); no container API takes a requested shape",
        "resourceExhausted": "needs a file-size limit (RLIMIT_FSIZE) in a child process; SaveFaultTests.fileTooLarge provokes it (EFBIG) at seven points of a save",
        "recoveryNeeded": "needs a process without write access to a file with a pending journal; this test runs as root, which can write every file: ReadWriteSessionTests.readOnlyRecovery provokes it through BrineTestHelper running as another user",
        "objectChanged": "thrown by BrineRemote when the pinned ETag no longer matches (RemoteFaultTests)",
        "timedOut": "thrown by BrineRemote when a request misses its deadline (RemoteFaultTests)",
        "compressionFailed": "liblz4/libzstd fail only on inputs over their limits (LZ4_MAX_INPUT_SIZE ≈ 2 GiB) or invalid levels; WriteOptions caps chunks at 1 GiB and levels at -7…22, so no valid call reaches it",
    ]

    /// Writes bytes to a fresh file.
    func file(_ bytes: [UInt8], _ name: String = "f.brine") throws -> URL {
        let url = makeTemporaryDirectory("codes").appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    func header(patching name: String, to value: UInt64) -> [UInt8] {
        let h = fx.header
        let field = HeaderWalker.fields(of: h).first { $0.name == name }!
        return fx.rebuilt(header: patched(h, field, to: value))
    }

    /// Provokes `code` through the public API.
    /// - Returns: the error thrown, or `nil` for a code in ``notReachableHere``.
    func provoke(_ code: BrineError.Code) throws -> BrineError? {
        func expectError(_ body: () throws -> Void) -> BrineError? {
            do {
                try body()
            } catch let e as BrineError {
                return e
            } catch {
                Issue.record("not a BrineError: \(error)")
            }
            return nil
        }
        let raw = fx.table.first { $0.path == "raw.f32" }!
        switch code.name {
        case "invalidArgument":
            var o = WriteOptions()
            o.alignment = 3
            return expectError { _ = try BrineWriter(url: makeTemporaryDirectory().appendingPathComponent("x.brine"), options: o) }
        case "io":
            // open(2) through a path whose parent is a regular file fails with
            // ENOTDIR. (A folder is refused as `.invalidArgument` before any read.)
            let dir = makeTemporaryDirectory()
            let file = dir.appendingPathComponent("file")
            try? Data([1]).write(to: file)
            let e = expectError { _ = try BrineFile(contentsOf: file.appendingPathComponent("x.brine")) }
            #expect(e?.errno == ENOTDIR)
            #expect(e?.systemCall == "open")
            return e
        case "permissionDenied":
            // sysfs refuses new files even to root (EACCES, or EROFS where it is mounted read-only).
            let e = expectError { _ = try BrineWriter(url: URL(fileURLWithPath: "/sys/brine-\(UUID()).brine")) }
            #expect(e?.errno == EACCES || e?.errno == EROFS || e?.errno == EPERM)
            #expect(e?.systemCall != nil)
            return e
        case "notFound":
            return expectError { _ = try BrineFile(contentsOf: URL(fileURLWithPath: "/nonexistent/brine/\(UUID()).brine")) }
        case "notABrineFile":
            let url = try file(Array(repeating: UInt8(ascii: "x"), count: 200))
            return expectError { _ = try BrineFile(contentsOf: url) }
        case "unsupportedVersion":
            var b = fx.bytes
            b[8] = 2  // preamble major version
            let url = try file(b)
            return expectError { _ = try BrineFile(contentsOf: url) }
        case "truncated":
            let url = try file(Array(fx.bytes.dropLast(1)))
            return expectError { _ = try BrineFile(contentsOf: url) }
        case "corruptHeader":
            // The object tree's tag set to 0x0C, which no value has.
            let url = try file(header(patching: "root.tag", to: 0x0C))
            return expectError { _ = try BrineFile(contentsOf: url) }
        case "checksumMismatch":
            var b = fx.bytes
            b[raw.dataOffset + 5] ^= 0x10
            let url = try file(b)
            let f = try BrineFile(contentsOf: url)
            let e = expectError { _ = try f.array(raw.path, as: Float.self) }
            #expect(e?.arrayPath == raw.path && e?.chunkIndex == 0 && e?.byteOffset == UInt64(raw.dataOffset))
            return e
        case "limitExceeded":
            var o = ReadOptions()
            o.limits.maxArrays = 2
            let url = try file(fx.bytes)
            return expectError { _ = try BrineFile(contentsOf: url, options: o) }
        case "layout":
            let h = header(patching: "array0.data_offset", to: UInt64(raw.dataOffset + 4))
            let url = try file(h)
            return expectError { _ = try BrineFile(contentsOf: url) }
        case "decompressionFailed":
            let lz4 = fx.table.first { $0.codec == .lz4 && $0.count > 0 }!
            var b = fx.bytes
            for i in 0 ..< lz4.chunkStoredBytes[0] { b[lz4.chunkOffsets[0] + i] = 0xFF }
            var o = ReadOptions()
            o.verifyChecksums = false
            let url = try file(b)
            let f = try BrineFile(contentsOf: url, options: o)
            let e = expectError { _ = try f.anyArray(lz4.path) }
            #expect(e?.arrayPath == lz4.path && e?.chunkIndex == 0)
            return e
        case "unsupportedDType":
            let url = try file(header(patching: "array0.dtype", to: 14))
            return expectError { _ = try BrineFile(contentsOf: url) }
        case "dtypeMismatch":
            let f = try BrineFile(contentsOf: try file(fx.bytes))
            return expectError { _ = try f.array(raw.path, as: Double.self) }
        case "arrayNotFound":
            let f = try BrineFile(contentsOf: try file(fx.bytes))
            return expectError { _ = try f.anyArray("no.such.array") }
        case "readOnly":
            let f = try BrineFile(contentsOf: try file(fx.bytes), mode: .mmap)
            return expectError { try f.flush() }
        case "conflict":
            let url = try file(fx.bytes)
            let first = try BrineFile(contentsOf: url, mode: .mmapReadWrite)
            defer { withExtendedLifetime(first) {} }
            return expectError { _ = try BrineFile(contentsOf: url, mode: .mmapReadWrite) }
        case "unsupportedFeature":
            let url = try file(header(patching: "array0.codec", to: 3))
            return expectError { _ = try BrineFile(contentsOf: url) }
        case "modelMismatch":
            struct Wrong: Codable { var missing: Int }
            let url = makeTemporaryDirectory().appendingPathComponent("m.brine")
            try Brine.save(MLP.make([4, 2], seed: 1), to: url)
            return expectError { _ = try Brine.load(Wrong.self, from: url) }
        case "valueOutOfRange":
            var o = WriteOptions()
            o.storageDType = .float16
            let w = try BrineWriter(url: makeTemporaryDirectory().appendingPathComponent("n.brine"), options: o)
            return expectError {
                do {
                    try w.append([Float](repeating: 1e5, count: 16), arrayPath: "w")
                    try w.finish()
                } catch {
                    w.cancel()
                    throw error
                }
            }
        default:
            return nil
        }
    }

    @Test("every error code is provoked through the public API (or documented as reachable only elsewhere)",
          arguments: BrineError.Code.allCodes)
    func everyCodeIsProvoked(code: BrineError.Code) throws {
        let e = try provoke(code)
        if let reason = Self.notReachableHere[code.name] {
            #expect(e == nil, "\(code) has a scenario; remove it from notReachableHere (\(reason))")
            return
        }
        let error = try #require(e, "no scenario provokes \(code)")
        #expect(error.code == code, "wanted \(code), got \(error)")
        #expect(!error.message.isEmpty)
        #expect(error.description.hasPrefix(code.name + ": "))
    }

    @Test("every code is documented in docs/FORMAT.md")
    func codesAreDocumented() throws {
        let spec = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/FORMAT.md"), encoding: .utf8)
        let section = try #require(spec.range(of: "## Error codes")).upperBound
        let table = spec[section...]
        for code in BrineError.Code.allCodes {
            #expect(table.contains("| `\(code.name)` |"), "\(code.name) missing from docs/FORMAT.md")
        }
    }

    @Test("file errors name the file")
    func errorsNameTheFile() throws {
        let url = try file(Array(fx.bytes.dropLast(1)))
        let e = #expect(throws: BrineError.self) { try BrineFile(contentsOf: url) }
        #expect(e?.filePath == url.path && e?.byteOffset != nil)
    }
}
