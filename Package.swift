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
        // Loading from and saving to S3-compatible object stores and HTTP
        // servers; a separate product so the core keeps no networking dependency.
        .library(name: "BrineRemote", targets: ["BrineRemote"]),
        // ONNX initializers in and out (swift-protobuf; its own product so the core stays light).
        .library(name: "BrineONNX", targets: ["BrineONNX"]),
        // Keras HDF5 weights in and out (libhdf5; its own product so the core stays light).
        .library(name: "BrineHDF5", targets: ["BrineHDF5"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        // `swift package generate-documentation` (the DocC catalog in Sources/Brine/Brine.docc).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // Runtime library only: onnx.pb.swift is generated once (scripts/generate-onnx-proto.sh) and committed.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
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
        // libhdf5 1.10 (Debian 12: pkg-config "hdf5" is an alternative for hdf5-serial; headers in /usr/include/hdf5/serial).
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"]), .brew(["hdf5"])]),
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
        // HTTP range reads, S3 (SigV4, multipart upload) and shards over the network.
        .target(
            name: "BrineRemote",
            dependencies: [
                "Brine",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // ONNX initializers in and out (swift-protobuf; its own product so the core stays light).
        .target(
            name: "BrineONNX",
            dependencies: [
                "Brine",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .target(
            name: "BrineHDF5",
            dependencies: [
                "Brine", "CHDF5",
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),
        .executableTarget(
            name: "BrineCLI",
            dependencies: [
                "Brine", "BrineRemote", "BrineONNX", "BrineHDF5", "CBrineKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SystemPackage", package: "swift-system"),
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
                "Brine", "BrineTestSupport",
                "BrineRemote", // remote-load (scripts/remote-bench.sh)
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
            dependencies: ["Brine"],
            path: "fuzz/targets/FuzzPickle"
        ),
        .executableTarget(
            name: "FuzzGGUF",
            dependencies: ["Brine"],
            path: "fuzz/targets/FuzzGGUF"
        ),
        .executableTarget(
            name: "FuzzONNX",
            dependencies: ["Brine", "BrineONNX"],
            path: "fuzz/targets/FuzzONNX"
        ),
        // The one SplitMix64 and the read-write session model shared by the
        // tests, the test helper and the benchmarks; not a product.
        .target(
            name: "BrineTestSupport",
            dependencies: ["Brine"],
            path: "Tests/BrineTestSupport"
        ),
        // Child process for the fault-injection tests (killed saves, file-size
        // limits, concurrent replace) and the fuzz seed generator; not a product.
        .executableTarget(
            name: "BrineTestHelper",
            dependencies: ["Brine", "BrineTestSupport"],
            path: "Tests/BrineTestHelper"
        ),
        // The test executable's `close(2)`: catches a descriptor closed twice
        // anywhere in the test run (include/fd_audit.h).
        .target(
            name: "CFDAudit",
            path: "Tests/CFDAudit",
            linkerSettings: [.linkedLibrary("dl")]
        ),
        .testTarget(
            name: "BrineTests",
            dependencies: ["Brine", "BrineRemote", "BrineONNX", "BrineHDF5", "BrineTestSupport", "CFDAudit"],
            // Hostile and fuzz-found inputs, read from the source tree
            // (#filePath) by FuzzRegressionTests and used as fuzz seeds.
            exclude: ["Fixtures"]
        ),
        // A user module with its own `Value`, `Tensor`, `Shape`, `Filter`, …
        // reaching Brine's as `Brine.X` (a module of its own: those names
        // would hide Brine's from every test in BrineTests).
        .testTarget(
            name: "BrineNameTests",
            dependencies: ["Brine"]
        ),
    ]
)
