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
        // ONNX initializers in and out (swift-protobuf; its own product so the core stays light).
        .library(name: "BrineONNX", targets: ["BrineONNX"]),
        // Keras HDF5 weights in and out (libhdf5; its own product so the core stays light).
        .library(name: "BrineHDF5", targets: ["BrineHDF5"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
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
        // libhdf5 1.10 (Debian 12: pkg-config "hdf5" is an alternative for hdf5-serial; headers in /usr/include/hdf5/serial).
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"]), .brew(["hdf5"])]),
        // AVX2/F16C kernels, each compiled with __attribute__((target)) and
        // chosen at run time (no special compiler flags here).
        .target(name: "CBrineKernels"),

        .target(
            name: "Brine",
            dependencies: [
                "CLZ4", "CZstd", "CXXHash", "CBrineZlib", "CBrineKernels",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),
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
                "Brine", "BrineONNX", "BrineHDF5",
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
            dependencies: ["Brine"]
        ),
        .executableTarget(
            name: "FuzzSafetensors",
            dependencies: ["Brine"]
        ),
        .executableTarget(
            name: "FuzzNumpy",
            dependencies: ["Brine"]
        ),
        .executableTarget(
            name: "FuzzGGUF",
            dependencies: ["Brine"]
        ),
        .executableTarget(
            name: "FuzzONNX",
            dependencies: ["Brine", "BrineONNX"]
        ),
        // Child process for the fault-injection tests (killed saves, file-size
        // limits, concurrent replace) and the fuzz seed generator; not a product.
        .executableTarget(
            name: "BrineTestHelper",
            dependencies: ["Brine"]
        ),
        .testTarget(
            name: "BrineTests",
            dependencies: ["Brine", "BrineONNX", "BrineHDF5"],
            // Hostile and fuzz-found inputs, read from the source tree
            // (#filePath) by FuzzRegressionTests and used as fuzz seeds.
            exclude: ["Fixtures"]
        ),
    ]
)
