import Foundation
@testable import Brine
import BrineTestSupport

/// The folder holding every test's temporary folder in this process.
let testRootDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("brine-tests-\(getpid())")
/// The process that owns ``testRootDirectory`` (a forked child must not remove it).
private let testRootOwner = getpid()
/// Removes ``testRootDirectory`` when the test process exits: tests that
/// forget `removeTemporaryDirectory` (or fail before their `defer`) left
/// about 700 MB per run in /tmp, enough to fill the disk of a machine that
/// runs the suite all day.
private let testRootCleanup: Void = {
    atexit {
        guard getpid() == testRootOwner else { return }
        try? FileManager.default.removeItem(at: testRootDirectory)
    }
}()

/// A fresh temporary folder for one test; remove it with `removeTemporaryDirectory`
/// (`defer`) when the test ends. Whatever is left is removed when the test process exits.
func makeTemporaryDirectory(_ name: String = #function) -> URL {
    _ = testRootCleanup
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let url = testRootDirectory.appendingPathComponent("\(safe)-\(UUID().uuidString.prefix(8))")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

// SplitMix64 (deterministic test data, so failures reproduce) comes from BrineTestSupport.

/// `count` elements of `dtype` with realistic, partly compressible bit patterns.
func randomArray(dtype: DType, shape: [Int], seed: UInt64) -> AnyTensor {
    let n = Shape.elementCount(shape)!
    let storage = TensorStorage(uninitializedByteCount: n * dtype.itemSize)
    var rng = SplitMix64(seed: seed)
    let p = storage.baseAddress
    switch dtype {
    case .bool:
        for i in 0 ..< n { p.storeBytes(of: UInt8(rng.next() & 1), toByteOffset: i, as: UInt8.self) }
    case .float32:
        for i in 0 ..< n { p.storeBytes(of: Float.random(in: -1 ... 1, using: &rng), toByteOffset: i * 4, as: Float.self) }
    case .float64:
        for i in 0 ..< n { p.storeBytes(of: Double.random(in: -1 ... 1, using: &rng), toByteOffset: i * 8, as: Double.self) }
    case .float16:
        for i in 0 ..< n { p.storeBytes(of: Float16(Float.random(in: -1 ... 1, using: &rng)), toByteOffset: i * 2, as: Float16.self) }
    case .bfloat16:
        for i in 0 ..< n { p.storeBytes(of: BFloat16(Float.random(in: -1 ... 1, using: &rng)).bitPattern, toByteOffset: i * 2, as: UInt16.self) }
    default:
        for i in 0 ..< n * dtype.itemSize { p.storeBytes(of: UInt8(truncatingIfNeeded: rng.next() % 7), toByteOffset: i, as: UInt8.self) }
    }
    return try! AnyTensor(dtype: dtype, shape: shape, storage: storage)
}

/// The repository root (two levels above this file's folder).
let repositoryRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The cache folder of `scripts/fetch-models.sh`: `$BRINE_CACHE_DIR` or `<repo>/cache`.
let cacheDirectory: URL = {
    if let env = ProcessInfo.processInfo.environment["BRINE_CACHE_DIR"], !env.isEmpty {
        return URL(fileURLWithPath: env)
    }
    return repositoryRoot.appendingPathComponent("cache")
}()

/// The all-MiniLM-L6-v2 checkpoint fetched by `scripts/fetch-models.sh`.
let miniLMPath: URL = cacheDirectory.appendingPathComponent("models/all-MiniLM-L6-v2/model.safetensors")

/// The UCI digits data set fetched by `scripts/fetch-models.sh`.
let digitsPath: URL = cacheDirectory.appendingPathComponent("data/digits.csv.gz")

/// Removes a folder made by `makeTemporaryDirectory`.
func removeTemporaryDirectory(_ url: URL) {
    try? FileManager.default.removeItem(at: url)
}
