import Foundation
import Testing
@testable import Brine

#if canImport(Glibc)
import Glibc
#endif

// The Swift samples of README.md's "Usage" section, verbatim, each in a test
// that runs it on real files. `readmeSamplesAreHere` checks that every line
// of those samples appears in this file, so a README sample that stops
// compiling (or is edited without this file) fails the suite.
//
// `Dense` and `MLP` are the test module's types (the same fields as the
// README's); `MLP(sizes:)` and `trainEpoch(_:)` stand for the user's own code.

extension MLP {
    /// A fresh network with random weights (the README's `MLP(sizes:)`).
    init(sizes: [Int]) { self = MLP.make(sizes, seed: UInt64.random(in: 0 ... 1000)) }

    /// One "training" step: nudges every weight (the README's `trainEpoch(_:)`).
    mutating func trainEpoch(_ data: [Float]) {
        for i in layers.indices {
            layers[i].weight[0, 0] -= data[0]
            layers[i].bias[0] -= data[0]
        }
        epoch += 1
    }
}

@Suite("README usage samples")
struct ReadmeUsageTests {
    @Test("every line of the README's Swift usage samples is in this file (so each one compiles)")
    func readmeSamplesAreHere() throws {
        let readme = try String(contentsOf: repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let mirror = try String(contentsOfFile: #filePath, encoding: .utf8)
        guard let start = readme.range(of: "\n## Usage"), let end = readme.range(of: "\n## Command-line tool") else {
            Issue.record("README.md has no Usage section")
            return
        }
        var inSwift = false
        var checked = 0
        for raw in readme[start.upperBound ..< end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line.hasPrefix("```") { inSwift = line == "```swift"; continue }
            guard inSwift else { continue }
            var code = line
            if let comment = code.range(of: "  //") ?? code.range(of: " // ") { code = String(code[..<comment.lowerBound]) }
            code = code.trimmingCharacters(in: .whitespaces)
            if code.isEmpty || code.hasPrefix("//") || code == "import Brine" { continue }
            #expect(mirror.contains(code), "README sample line not mirrored in ReadmeUsageTests.swift: \(code)")
            checked += 1
        }
        #expect(checked > 40)
        // The "Remote storage" section's sample runs in RemoteReadmeTests.swift.
        let remoteMirror = try String(contentsOf: repositoryRoot.appendingPathComponent("Tests/BrineTests/RemoteReadmeTests.swift"), encoding: .utf8)
        guard let rs = readme.range(of: "\n## Remote storage"), let re = readme.range(of: "\n## ", range: rs.upperBound ..< readme.endIndex) else {
            Issue.record("README.md has no Remote storage section")
            return
        }
        var inRemote = false
        var remoteChecked = 0
        for raw in readme[rs.upperBound ..< re.lowerBound].split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line.hasPrefix("```") { inRemote = line == "```swift"; continue }
            guard inRemote else { continue }
            var code = line
            if let comment = code.range(of: "  //") ?? code.range(of: " // ") { code = String(code[..<comment.lowerBound]) }
            code = code.trimmingCharacters(in: .whitespaces)
            if code.isEmpty || code.hasPrefix("//") || code.hasPrefix("import ") { continue }
            #expect(remoteMirror.contains(code), "README remote sample line not in RemoteReadmeTests.swift: \(code)")
            remoteChecked += 1
        }
        #expect(remoteChecked == 3, "the README shows S3 and HTTP loading in three lines")
    }

    @Test("the README's model declarations compile and save")
    func declarations() throws {
        struct Dense: Codable { var weight: Tensor<Float>; var bias: [Float] }
        struct MLP: Codable { var layers: [Dense]; var learningRate: Double; var epoch: Int }
        let m = MLP(layers: [Dense(weight: try Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]), bias: [0, 1])], learningRate: 0.1, epoch: 1)
        let back = try Brine.decode(MLP.self, from: try Brine.encode(m))
        #expect(back.layers[0].weight == m.layers[0].weight && back.epoch == 1)
    }

    @Test("save with metadata, plain values and an Encodable struct")
    func saveWithMetadata() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("model.brine")
        let model = MLP(sizes: [64, 64, 10])
        let epochs = 20, accuracy = 0.955
        try Brine.save(model, to: url, options: .init(
            codec: .zstd(level: 3), filter: .shuffle,          // default: .none, stored for zero-copy mmap
            metadata: ["framework": "my-trainer", "epochs": epochs, "test_accuracy": accuracy, "sizes": [64, 64, 10]]))

        let meta = try Brine.metadata(of: url)                  // no array is read, nothing decoded
        #expect(meta["brine.root_type"] == .string(String(reflecting: MLP.self)))
        #expect(meta["epochs"] == .int(20) && meta["test_accuracy"] == .float64(0.955))

        struct Hyper: Codable { var epochs: Int; var learningRate: Double }
        try Brine.save(model, to: url, options: .init(metadata: ["hyper": try Value(encoding: Hyper(epochs: 20, learningRate: 0.1))]))
        let hyper = try Brine.metadata(of: url)["hyper"]!.decode(Hyper.self)
        #expect(hyper.epochs == 20 && hyper.learningRate == 0.1)
    }

    @Test("load to predict, whole or in part")
    func loadToPredict() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("model.brine")
        let model = MLP(sizes: [64, 64, 10])
        try Brine.save(model, to: url)

        let copy   = try Brine.load(MLP.self, from: url)                // into memory, all arrays in parallel
        let mapped = try Brine.load(MLP.self, from: url, mode: .mmap)   // Tensor fields view the file
        #expect(copy == model && mapped == model && mapped.layers[0].weight.isView)

        let layer = try Brine.load(Dense.self, from: url, at: "layers.1")             // only its two arrays are read
        let w = try Brine.load(Tensor<Float>.self, from: url, at: "layers.1.weight", mode: .mmap)
        #expect(layer == model.layers[1] && w == model.layers[1].weight)
    }

    @Test("load to continue training; re-save keeping metadata; update metadata")
    func continueTraining() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("model.brine")
        let data: [Float] = [0.001]
        try Brine.save(MLP(sizes: [64, 64, 10]), to: url, options: .init(codec: .lz4, metadata: ["epochs": 20]))

        do {
            var model = try Brine.load(MLP.self, from: url, mode: .mmap)
            for _ in 0 ..< 10 { model.trainEpoch(data) }        // the first update copies the mapped weights
            try Brine.save(model, to: url)                      // replaces the old file atomically
            #expect(try Brine.load(MLP.self, from: url) == model)
        }
        do {
            var handle = try Brine.open(MLP.self, from: url, mode: .mmapReadWrite)
            let before = handle.model.layers[0].weight[0, 0]
            handle.model.layers[0].weight[0, 0] -= 0.01        // writes into the file's pages
            try handle.flush()                                 // msync + rewrite the changed chunk checksums
            #expect(try Brine.load(MLP.self, from: url).layers[0].weight[0, 0] == before - 0.01)
        }
        try Brine.save(MLP(sizes: [64, 64, 10]), to: url, options: .init(codec: .lz4, metadata: ["epochs": 20]))
        var run = try Brine.open(MLP.self, from: url)
        run.model.trainEpoch(data)
        try run.save(updatingMetadata: ["epochs": 21])       // same options and user keys, epochs updated
        #expect(try Brine.metadata(of: url)["epochs"] == .int(21))
        #expect(try BrineFile(contentsOf: url).arrays.allSatisfy { $0.codec == .lz4 })

        var options = try SaveOptions(preserving: url)      // or take the options and change them
        options.metadata["note"] = "fine-tuned"
        try Brine.save(run.model, to: url, options: options)

        try Brine.updateMetadata(of: url, ["test_accuracy": 0.96])   // array data copied byte for byte, atomic
        let meta = try Brine.metadata(of: url)
        #expect(meta["note"] == "fine-tuned" && meta["test_accuracy"] == .float64(0.96) && meta["epochs"] == .int(21))
        #expect(try Brine.load(MLP.self, from: url) == run.model)
    }

    @Test("in memory, like pickle.dumps / pickle.loads")
    func inMemory() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let model = MLP(sizes: [64, 64, 10])
        let socketFD = open(dir.appendingPathComponent("stream.brine").path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(socketFD) }

        let blob: Data = try Brine.encode(model, options: .init(codec: .lz4))   // the bytes Brine.save writes
        let back = try Brine.decode(MLP.self, from: blob)                       // every byte checked, nothing executed
        try Brine.encode(model, to: BrineFileDescriptorSink(fileDescriptor: socketFD))   // a pipe or socket: no seeking
        #expect(back == model)
        #expect(try Brine.load(MLP.self, from: dir.appendingPathComponent("stream.brine")) == model)
    }

    @Test("weights only, with a filter and skipMismatch")
    func weightsOnly() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let weightsURL = dir.appendingPathComponent("weights.brine")
        let trained = MLP(sizes: [64, 64, 10])

        try Brine.saveWeights(of: trained, to: weightsURL)

        var fresh = MLP(sizes: [64, 64, 10])                // same architecture, new random weights
        let report = try Brine.loadWeights(into: &fresh, from: weightsURL)
        #expect(report.loaded == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"])
        #expect(fresh.layers == trained.layers)

        try Brine.saveWeights(of: trained, to: weightsURL, filter: .excluding("config.*"))
        fresh = MLP(sizes: [64, 64, 12])
        let r = try Brine.loadWeights(into: &fresh, from: weightsURL, filter: .excluding("config.*"), skipMismatch: true)
        #expect(r.mismatched.map(\.path) == ["layers.1.weight", "layers.1.bias"])
        #expect(fresh.layers[0] == trained.layers[0])
    }

    @Test("the low-level container API")
    func lowLevel() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("low.brine")
        let weights = (0 ..< 384 * 1536).map { Float($0 % 97) }
        let bias = (0 ..< 1536).map { Float($0) / 7 }

        let writer = try BrineWriter(url: url, options: WriteOptions(codec: .zstd(level: 3), filter: .shuffle))
        try writer.append(Tensor<Float>(shape: [384, 1536], scalars: weights), arrayPath: "encoder.0.weight")
        try writer.append(bias, arrayPath: "encoder.0.bias")               // [Float]
        try writer.finish(metadata: ["framework": "my-trainer"])     // atomic replace

        let file = try BrineFile(contentsOf: url)                     // reads only the trailer and header
        for a in file.arrays { print(a.path, a.dtype, a.shape, a.codec, a.storedBytes, a.storedRawBytes) }
        let w: Tensor<Float> = try file.array("encoder.0.weight")     // verified, decompressed on all cores
        let part: [Float] = try file.elements("encoder.0.weight", range: 0 ..< 1536)  // reads one chunk
        var existing = [Float](repeating: 0, count: bias.count)      // memory you own, e.g. a live model's
        try existing.withUnsafeMutableBytes { try file.read("encoder.0.bias", into: $0) }  // exact byte count
        let mapped = try BrineFile(contentsOf: url, mode: .mmap)      // uncompressed arrays: zero-copy views
        let problems = file.verify()                                  // every chunk checksum; [] when intact
        #expect(w.scalars == weights && part == Array(weights[0 ..< 1536]) && existing == bias)
        #expect(mapped.arrayPaths == file.arrayPaths && problems.isEmpty)
    }

    @Test("NumPy and safetensors")
    func interop() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let source: [(name: String, tensor: AnyTensor)] = [
            ("embeddings.word_embeddings.weight", randomArray(dtype: .float32, shape: [16, 8], seed: 1)),
            ("pooler.dense.bias", randomArray(dtype: .float32, shape: [8], seed: 2)),
        ]
        let url = dir.appendingPathComponent("in.safetensors")
        try Safetensors.write(source, metadata: [:], to: url)
        let out = dir.appendingPathComponent("out.safetensors")
        let npyURL = dir.appendingPathComponent("in.npy"), npyOut = dir.appendingPathComponent("out.npy")
        let npzURL = dir.appendingPathComponent("in.npz"), npzOut = dir.appendingPathComponent("out.npz")
        try Npy.write(source[0].tensor, to: npyURL)
        try Npz.write(source, to: npzURL)
        let anyURL = npzURL
        let tensors = source
        let brineURL = dir.appendingPathComponent("model.brine")

        let st = try SafetensorsFile(contentsOf: url, mode: .mmap)    // zero-copy views where aligned
        let emb: Tensor<Float> = try st.tensor("embeddings.word_embeddings.weight", as: Float.self)
        try Safetensors.write(tensors, metadata: ["format": "pt"], to: out)  // byte-identical to the reference writer

        let a = try Npy.read(contentsOf: npyURL)                      // v1/2/3, any byte order, Fortran order
        try Npy.write(a, to: npyOut)                                  // loads in numpy.load(..., mmap_mode="r")
        let z = try NpzFile(contentsOf: npzURL).loadAll()             // stored or deflated members
        try Npz.write(tensors, to: npzOut, compression: .deflated)

        let bundle = try TensorBundle(contentsOf: anyURL)             // any of the four formats
        try bundle.write(to: brineURL)                                 // here: Brine, from the extension
        #expect(AnyTensor(emb) == source[0].tensor && a == source[0].tensor && z.count == 2)
        #expect(try BrineFile(contentsOf: dir.appendingPathComponent("model.brine")).arrays.count == 2)
    }

    @Test("the README's pickle/joblib sample reads a joblib file and writes Brine")
    func pickleSample() throws {
        let dir = makeTemporaryDirectory("readme-pickle")
        defer { removeTemporaryDirectory(dir) }
        _ = try PythonOracle.run("""
            import sys, numpy as np, joblib
            class_free = {"mean_": np.arange(4, dtype=np.float64), "coef_": np.ones((2, 3), dtype=np.float32)}
            joblib.dump(class_free, sys.argv[1] + "/model.joblib")
            """, [dir.path])
        let joblibURL = dir.appendingPathComponent("model.joblib")
        let brineURL = dir.appendingPathComponent("model.brine")
        let model = try Pickle.read(contentsOf: joblibURL)
        _ = model.root["__class__"]
        #expect(Set(model.arrays.map(\.path)) == ["mean_", "coef_"])
        try model.bundle.write(to: brineURL)
        #expect(try BrineFile(contentsOf: dir.appendingPathComponent("model.brine")).arrays.count == 2)
    }
}
