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
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        // `swift package generate-documentation` (the DocC catalog in Sources/Brine/Brine.docc).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // Debian's system libraries, one small [system] module each.
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),
        // zlib's crc32/inflate for .npz members (ZIPFoundation's own CRC on Linux is a byte-at-a-time table).
        .systemLibrary(name: "CBrineZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        // bzip2 and xz/lzma streams of compressed joblib files (Interop/Pickle).
        // Debian's libbz2-dev ships no pkg-config file, so CBZip2 names none.
        .systemLibrary(name: "CBZip2", providers: [.apt(["libbz2-dev"]), .brew(["bzip2"])]),
        .systemLibrary(name: "CLZMA", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"]), .brew(["xz"])]),
        // AVX2/F16C kernels, each compiled with __attribute__((target)) and
        // chosen at run time (no special compiler flags here).
        .target(name: "CBrineKernels"),

        .target(
            name: "Brine",
            dependencies: [
                "CLZ4", "CZstd", "CXXHash", "CBrineZlib", "CBrineKernels", "CBZip2", "CLZMA",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
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
            name: "TrainDigits",
            dependencies: ["Brine"],
            path: "Examples/TrainDigits"
        ),
        .executableTarget(
            name: "Benchmarks",
            dependencies: [
                "Brine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks",
            exclude: ["python"]
        ),
        // libFuzzer targets (scripts/fuzz.sh, docs/HARDENING.md): the container
        // reader, the safetensors reader, the .npy/.npz readers. Built for
        // fuzzing with `--sanitize fuzzer`; a normal build links each as a no-op.
        .executableTarget(
            name: "FuzzContainer",
            dependencies: ["Brine"],
            path: "fuzz/targets/FuzzContainer"
        ),
        .executableTarget(
            name: "FuzzSafetensors",
            dependencies: ["Brine"],
            path: "fuzz/targets/FuzzSafetensors"
        ),
        .executableTarget(
            name: "FuzzNumpy",
            dependencies: ["Brine"],
            path: "fuzz/targets/FuzzNumpy"
        ),
        .executableTarget(
            name: "FuzzPickle",
            dependencies: ["Brine"]
        ),
        // Child process for the fault-injection tests (killed saves, file-size
        // limits, concurrent replace) and the fuzz seed generator; not a product.
        .executableTarget(
            name: "BrineTestHelper",
            dependencies: ["Brine"],
            path: "Tests/BrineTestHelper"
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
