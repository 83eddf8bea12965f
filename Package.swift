// swift-tools-version: 6.1
//
// Brine: save and load trained models fast. The object structure goes into a
// compact header; every large numeric array lives out of line as aligned,
// checksummed, optionally compressed, memory-mappable chunks.
import PackageDescription

let package = Package(
    name: "Brine",
    products: [
        .library(name: "Brine", targets: ["Brine"]),
        .executable(name: "brine", targets: ["BrineCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // Debian's system libraries, one small [system] module each.
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),

        .target(
            name: "Brine",
            dependencies: [
                "CLZ4", "CZstd", "CXXHash",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .executableTarget(
            name: "BrineCLI",
            dependencies: [
                "Brine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "Benchmarks",
            dependencies: ["Brine"],
            path: "Benchmarks"
        ),
        // libFuzzer target (scripts/fuzz.sh, docs/HARDENING.md). Built for
        // fuzzing with `--sanitize fuzzer`; a normal build links it as a no-op.
        .executableTarget(
            name: "FuzzContainer",
            dependencies: ["Brine"]
        ),
        // Child process for the fault-injection tests (killed saves, file-size
        // limits, concurrent replace) and the fuzz seed generator; not a product.
        .executableTarget(
            name: "BrineTestHelper",
            dependencies: ["Brine"]
        ),
        .testTarget(
            name: "BrineTests",
            dependencies: ["Brine"],
            // Hostile and fuzz-found inputs, read from the source tree
            // (#filePath) by FuzzRegressionTests and used as fuzz seeds.
            exclude: ["Fixtures"]
        ),
    ]
)
