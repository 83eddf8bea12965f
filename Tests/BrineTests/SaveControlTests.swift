import Foundation
import Testing
@testable import Brine
import BrineTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A model whose configuration holds an array (a vocabulary table) that is
/// a hyper-parameter, not a weight.
struct Tagger: Codable, Equatable {
    struct Config: Codable, Equatable { var vocabulary: [Int32]; var width: Int }
    var config: Config
    var embed: Tensor<Float>
    var out: NetBlock

    static func make(vocabulary: Int, width: Int, seed: UInt64) -> Tagger {
        var rng = SplitMix64(seed: seed)
        func floats(_ n: Int) -> [Float] { (0 ..< n).map { _ in Float.random(in: -1 ... 1, using: &rng) } }
        return Tagger(
            config: Config(vocabulary: (0 ..< Int32(vocabulary)).map { $0 * 3 }, width: width),
            embed: try! Tensor(shape: [vocabulary, width], scalars: floats(vocabulary * width)),
            out: NetBlock(weight: try! Tensor(shape: [4, width], scalars: floats(4 * width)), bias: floats(4)))
    }
}

@Suite("Weights filter and skipMismatch")
struct WeightsControlTests {
    @Test("saveWeights and loadWeights with a path filter leave hyper-parameter arrays alone")
    func filter() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("w.brine")
        let trained = Tagger.make(vocabulary: 50, width: 8, seed: 1)
        try Brine.saveWeights(of: trained, to: url, filter: .excluding("config.*"))
        #expect(try BrineFile(contentsOf: url).arrayPaths == ["embed", "out.weight", "out.bias"])

        var fresh = Tagger.make(vocabulary: 50, width: 8, seed: 2)
        fresh.config.vocabulary[0] = 999                      // a different hyper-parameter array, same shape
        let report = try Brine.loadWeights(into: &fresh, from: url, filter: .excluding("config.*"))
        #expect(report.loaded == ["embed", "out.weight", "out.bias"])
        #expect(report.excluded == ["config.vocabulary"])
        #expect(report.isComplete)
        #expect(fresh.embed == trained.embed && fresh.out == trained.out)
        #expect(fresh.config.vocabulary[0] == 999)

        // Without the filter, strict loading refuses: the file lacks the config array.
        var other = Tagger.make(vocabulary: 50, width: 8, seed: 3)
        let e = #expect(throws: BrineError.self) { try Brine.loadWeights(into: &other, from: url) }
        #expect(e?.code == .arrayNotFound && e?.arrayPath == "config.vocabulary")

        // A full weights file, loaded with an include filter: only those arrays are touched.
        let all = dir.appendingPathComponent("all.brine")
        try Brine.saveWeights(of: trained, to: all)
        var partial = Tagger.make(vocabulary: 50, width: 8, seed: 4)
        let before = partial
        let r2 = try Brine.loadWeights(into: &partial, from: all, filter: .including("out.*"))
        #expect(r2.loaded == ["out.weight", "out.bias"])
        #expect(Set(r2.excluded) == ["config.vocabulary", "embed"])
        #expect(partial.out == trained.out && partial.embed == before.embed && partial.config == before.config)
        #expect(try Brine.loadWeights(from: all, filter: .including("out.*")).paths == ["out.weight", "out.bias"])

        let w = try Weights(of: trained)
        try Brine.saveWeights(w, to: all, filter: ArrayFilter(include: ["*"], exclude: ["config.*", "*.bias"]))
        #expect(try BrineFile(contentsOf: all).arrayPaths == ["embed", "out.weight"])
    }

    @Test("skipMismatch skips arrays whose shape or dtype differ and lists them; without it the load throws and changes nothing")
    func skipMismatch() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("w.brine")
        let trained = Tagger.make(vocabulary: 50, width: 8, seed: 1)
        try Brine.saveWeights(of: trained, to: url)

        var bigger = Tagger.make(vocabulary: 60, width: 8, seed: 5)   // embed [60, 8], vocabulary 60
        let before = bigger
        let e = #expect(throws: BrineError.self) { try Brine.loadWeights(into: &bigger, from: url) }
        #expect(e?.code == .shapeMismatch)
        #expect(bigger == before)

        let report = try Brine.loadWeights(into: &bigger, from: url, skipMismatch: true)
        #expect(report.loaded == ["out.weight", "out.bias"])
        #expect(report.mismatched.map(\.path) == ["config.vocabulary", "embed"])
        #expect(report.mismatched[1].expected.shape == [60, 8] && report.mismatched[1].found.shape == [50, 8])
        #expect(!report.isComplete)
        #expect(bigger.out == trained.out && bigger.embed == before.embed && bigger.config == before.config)

        // A dtype mismatch: the same paths holding float64.
        var w = Weights()
        w["embed"] = AnyTensor(try Tensor<Double>(shape: [50, 8], scalars: [Double](repeating: 1, count: 400)))
        w["out.weight"] = AnyTensor(trained.out.weight)
        let wurl = dir.appendingPathComponent("w64.brine")
        try Brine.saveWeights(w, to: wurl)
        var t = Tagger.make(vocabulary: 50, width: 8, seed: 6)
        let r = try Brine.loadWeights(into: &t, from: wurl, strict: false, skipMismatch: true)
        #expect(r.mismatched.map(\.path) == ["embed"])
        #expect(r.mismatched[0].expected.dtype == .float32 && r.mismatched[0].found.dtype == .float64)
        #expect(r.loaded == ["out.weight"])
        #expect(Set(r.missing) == ["config.vocabulary", "out.bias"])
        let e2 = #expect(throws: BrineError.self) { try Brine.loadWeights(into: &t, from: wurl, strict: false) }
        #expect(e2?.code == .dtypeMismatch)
    }
}

@Suite("SaveOptions")
struct SaveOptionsTests {
    @Test("every WriteOptions field can be set through SaveOptions and reaches the file")
    func everyField() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        let options = SaveOptions(codec: .zstd(level: 5), filter: .shuffle, alignment: 4096, chunkBytes: 32 << 10,
                                  storageDType: .bfloat16, inlineThreshold: 0, threads: 1, durable: false)
        let w = options.writeOptions
        #expect(w.alignment == 4096 && w.chunkBytes == 32 << 10 && w.threads == 1 && !w.durable && w.storageDType == .bfloat16)
        try Brine.save(Net.make(layers: 2, seed: 31), to: url, options: options)
        let file = try BrineFile(contentsOf: url)
        for a in file.arrays {
            #expect(a.alignment == 4096 && a.dataOffset % 4096 == 0)
            #expect(a.codec == .zstd(level: 5) && a.filter == .shuffle)
            #expect(a.chunkBytes == 32 << 10)
            #expect(a.storedDType == .bfloat16)
        }
        #expect(file.arrays.count == 6)
    }

    @Test("an invalid option is a typed error before anything is written", arguments: [
        SaveOptions(alignment: 3), SaveOptions(alignment: 1 << 17), SaveOptions(chunkBytes: 0), SaveOptions(chunkBytes: 2 << 30),
        SaveOptions(codec: .zstd(level: 99)), SaveOptions(storageDType: .int8), SaveOptions(inlineThreshold: -1),
        SaveOptions(threads: 0), SaveOptions(metadata: ["brine.format": "9"]),
    ])
    func invalid(options: SaveOptions) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("m.brine")
        let fresh = dir.appendingPathComponent("fresh.brine")
        try Brine.save(MLP.make([4, 2], seed: 1), to: url)
        let bytes = try Data(contentsOf: url)
        #expect(throws: BrineError.self) { try options.validate() }
        for call in [{ try Brine.save(MLP.make([4, 2], seed: 2), to: url, options: options) },
                     { try Brine.saveWeights(of: MLP.make([4, 2], seed: 2), to: url, options: options) },
                     { try Brine.save(MLP.make([4, 2], seed: 2), to: fresh, options: options) },
                     { _ = try Brine.encode(MLP.make([4, 2], seed: 2), to: FailingSink(limit: 0), options: options) }] as [() throws -> Void] {
            let e = #expect(throws: BrineError.self) { try call() }
            #expect(e?.code == .invalidArgument)
        }
        #expect(try Data(contentsOf: url) == bytes)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["m.brine"])
    }
}

@Suite("Saving through symbolic links")
struct SymlinkSaveTests {
    func isLink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
    }

    @Test("a save to a link replaces the link's target atomically; the link stays")
    func link() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let targets = dir.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: targets, withIntermediateDirectories: true)
        let target = targets.appendingPathComponent("v1.brine")
        let link = dir.appendingPathComponent("current.brine")
        try Brine.save(MLP.make([4, 2], seed: 1), to: target)
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: "models/v1.brine")   // relative
        let model = MLP.make([4, 3], seed: 2)
        try Brine.save(model, to: link)
        #expect(isLink(link.path))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link.path) == "models/v1.brine")
        #expect(try Brine.load(MLP.self, from: target) == model)
        #expect(try Brine.load(MLP.self, from: link) == model)
        // No temporary left next to the link or the target.
        #expect(try FileManager.default.contentsOfDirectory(atPath: targets.path) == ["v1.brine"])
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == ["models", "current.brine"])
        // updateMetadata and the writer follow it too.
        try Brine.updateMetadata(of: link, ["tag": "x"])
        let tag = try Brine.metadata(of: target)["tag"]
        #expect(isLink(link.path) && tag == "x")
    }

    @Test("a dangling link gets its target created; a chain of links is followed to the end")
    func danglingAndChain() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let final = dir.appendingPathComponent("final.brine")
        let a = dir.appendingPathComponent("a.brine"), b = dir.appendingPathComponent("b.brine")
        try FileManager.default.createSymbolicLink(atPath: b.path, withDestinationPath: final.path)   // absolute, dangling
        try FileManager.default.createSymbolicLink(atPath: a.path, withDestinationPath: "b.brine")     // relative, to a link
        let model = MLP.make([3, 2], seed: 3)
        try Brine.save(model, to: a)
        #expect(isLink(a.path) && isLink(b.path))
        #expect(try Brine.load(MLP.self, from: final) == model)
        let writer = try BrineWriter(url: b, options: WriteOptions())
        try writer.append([Float](repeating: 2, count: 3), arrayPath: "x")
        try writer.finish()
        #expect(isLink(b.path))
        #expect(try BrineFile(contentsOf: final).arrayPaths == ["x"])
    }

    @Test("a loop of links is a typed error (ELOOP) and creates nothing")
    func loop() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let a = dir.appendingPathComponent("a.brine"), b = dir.appendingPathComponent("b.brine")
        try FileManager.default.createSymbolicLink(atPath: a.path, withDestinationPath: "b.brine")
        try FileManager.default.createSymbolicLink(atPath: b.path, withDestinationPath: "a.brine")
        let e = #expect(throws: BrineError.self) { try Brine.save(MLP.make([3, 2], seed: 3), to: a) }
        #expect(e?.code == .io && e?.errno == ELOOP)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == ["a.brine", "b.brine"])
    }
}
