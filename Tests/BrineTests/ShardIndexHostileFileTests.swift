import Foundation
import Testing
@testable import Brine
import BrineTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A sharded model's folder is input like any file: its index and shard
/// names may be a FIFO, a device or a huge file. Each must give a typed
/// error at once, never a read without end (`/dev/zero`), a wait for a
/// writer that never comes (a FIFO), or a 64 MiB+ allocation before the cap.
@Suite("Hostile files in a sharded model's folder")
struct ShardIndexHostileFileTests {
    /// A folder with a valid two-array sharded weights model.
    func shardedFolder() throws -> (dir: URL, index: URL, shard: String) {
        let dir = makeTemporaryDirectory()
        let w = try Weights([(path: "a", tensor: randomArray(dtype: .float32, shape: [64], seed: 1)),
                             (path: "b", tensor: randomArray(dtype: .float32, shape: [64], seed: 2))])
        let index = try Brine.saveWeights(w, toShards: dir, maxShardBytes: 1 << 20)
        return (dir, dir.appendingPathComponent(ShardIndex.fileName), index.shardNames[0])
    }

    /// Runs `body` on a thread and reports whether it finished within `seconds`
    /// (a hang must fail the test, not stop the suite).
    func finishes(within seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
        let done = DispatchSemaphore(value: 0)
        Thread { body(); done.signal() }.start()
        return done.wait(timeout: .now() + seconds) == .success
    }

    @Test("an index that is a symlink to /dev/zero is a typed error, not a read without end")
    func indexDevZero() throws {
        let (dir, index, _) = try shardedFolder()
        defer { removeTemporaryDirectory(dir) }
        try FileManager.default.removeItem(at: index)
        try FileManager.default.createSymbolicLink(atPath: index.path, withDestinationPath: "/dev/zero")
        let code = UncheckedBox<BrineError.Code?>(nil)
        #expect(finishes(within: 10) {
            do { _ = try Brine.loadWeights(fromShardIndex: index) } catch let e as BrineError { code.value = e.code } catch {}
        })
        #expect(code.value == .invalidArgument)
    }

    @Test("an index that is a FIFO with no writer is a typed error, not a wait")
    func indexFIFO() throws {
        let (dir, index, _) = try shardedFolder()
        defer { removeTemporaryDirectory(dir) }
        try FileManager.default.removeItem(at: index)
        #expect(mkfifo(index.path, 0o600) == 0)
        let code = UncheckedBox<BrineError.Code?>(nil)
        #expect(finishes(within: 10) {
            do { _ = try Brine.loadWeights(fromShardIndex: index) } catch let e as BrineError { code.value = e.code } catch {}
        })
        #expect(code.value == .invalidArgument)
    }

    @Test("an index file over the 64 MiB cap is limitExceeded without reading it")
    func indexOverCap() throws {
        let (dir, index, _) = try shardedFolder()
        defer { removeTemporaryDirectory(dir) }
        #expect(truncate(index.path, off_t(ShardIndex.maxIndexBytes + 1)) == 0)
        #expect(throws: BrineError.self) { try Brine.loadWeights(fromShardIndex: index) }
        do { _ = try Brine.loadWeights(fromShardIndex: index) } catch { #expect(error.code == .limitExceeded) }
    }

    @Test("a shard name that is a FIFO in the folder is a typed error, not a wait for a writer")
    func shardFIFO() throws {
        let (dir, index, shard) = try shardedFolder()
        defer { removeTemporaryDirectory(dir) }
        let shardPath = dir.appendingPathComponent(shard).path
        try FileManager.default.removeItem(atPath: shardPath)
        #expect(mkfifo(shardPath, 0o600) == 0)
        let code = UncheckedBox<BrineError.Code?>(nil)
        #expect(finishes(within: 10) {
            do { _ = try Brine.loadWeights(fromShardIndex: index) } catch let e as BrineError { code.value = e.code } catch {}
        })
        #expect(code.value != nil)
    }
}

/// What a sharded save leaves behind must load back, or the save must refuse.
@Suite("Sharded saves that cannot load back")
struct ShardSaveConsistencyTests {
    func weights(seed: UInt64) throws -> Weights {
        try Weights((0 ..< 4).map { (path: "layer\($0)", tensor: randomArray(dtype: .float32, shape: [256 << 10], seed: seed + UInt64($0))) })
    }

    @Test("user metadata keys named total_size, shard_count, format: the index loads back and keeps its own values (a duplicate total_size key made it unloadable)")
    func reservedMetadataKeys() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        var o = SaveOptions()
        o.metadata = ["total_size": .string("12"), "shard_count": .string("99"), "format": .string("pt"), "note": .string("kept")]
        let saved = try Brine.saveWeights(try weights(seed: 1), toShards: dir, maxShardBytes: 1 << 20, options: o)
        let indexURL = dir.appendingPathComponent(ShardIndex.fileName)
        let index = try ShardIndex(contentsOf: indexURL)
        #expect(index.metadata["format"] == "brine")
        #expect(index.metadata["shard_count"] == String(saved.shardNames.count))
        #expect(index.metadata["note"] == "kept")
        #expect(index.totalSize > 12)
        #expect(try Brine.loadWeights(fromShardIndex: indexURL).paths == ["layer0", "layer1", "layer2", "layer3"])
        // The user's values stay in each shard's own metadata.
        let shard = try BrineFile(contentsOf: dir.appendingPathComponent(saved.shardNames[0]))
        #expect(shard.metadata["format"] == .string("pt"))
    }

    @Test("a re-save that fails on a later shard (a value float16 cannot hold) leaves the previous sharded model whole: same shards, same index, loads and verifies; no staging folder stays")
    func failedResaveKeepsOldModel() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let v1 = try weights(seed: 1)
        let index = try Brine.saveWeights(v1, toShards: dir, maxShardBytes: 1 << 20)
        #expect(index.shardNames.count >= 3)
        let before = try index.shardNames.map { try Data(contentsOf: dir.appendingPathComponent($0)) }
        var entries = try weights(seed: 50).entries
        var last = try entries[entries.count - 1].tensor.typed(as: Float.self)
        last.withUnsafeMutableBufferPointer { $0[$0.count - 1] = 1e6 }  // over float16's 65504
        entries[entries.count - 1].tensor = AnyTensor(last)
        var o = SaveOptions()
        o.writeOptions.storageDType = .float16
        let e = #expect(throws: BrineError.self) { try Brine.saveWeights(try Weights(entries), toShards: dir, maxShardBytes: 1 << 20, options: o) }
        #expect(e?.code == .valueOutOfRange, "\(String(describing: e))")
        #expect(try index.shardNames.map { try Data(contentsOf: dir.appendingPathComponent($0)) } == before)
        let loaded = try Brine.loadWeights(fromShardIndex: dir.appendingPathComponent(ShardIndex.fileName))
        #expect(loaded.paths == v1.paths)
        for (a, b) in zip(loaded.entries, v1.entries) { #expect(a.tensor == b.tensor) }
        // No new shard stays behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".brine") }.sorted() == index.shardNames.sorted())
    }

    @Test("a re-save killed after writing every new shard, before its index, leaves the previous model whole (no shard written over); a finished re-save removes the previous shards and keeps their permissions")
    func killedResaveKeepsOldModel() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let v1 = try weights(seed: 1), v2 = try weights(seed: 100)
        let index = try Brine.saveWeights(v1, toShards: dir, maxShardBytes: 1 << 20)
        for n in index.shardNames { #expect(chmod(dir.appendingPathComponent(n).path, 0o600) == 0) }
        let before = try index.shardNames.map { try Data(contentsOf: dir.appendingPathComponent($0)) }
        _ = ShardSaveFaults.killedBeforeIndex.withLock { $0.insert(dir.path) }
        #expect(throws: BrineError.self) { try Brine.saveWeights(v2, toShards: dir, maxShardBytes: 1 << 20) }
        _ = ShardSaveFaults.killedBeforeIndex.withLock { $0.remove(dir.path) }
        #expect(try index.shardNames.map { try Data(contentsOf: dir.appendingPathComponent($0)) } == before)
        let loaded = try Brine.loadWeights(fromShardIndex: dir.appendingPathComponent(ShardIndex.fileName))
        for (a, b) in zip(loaded.entries, v1.entries) { #expect(a.tensor == b.tensor) }
        // A finished re-save: the new model, the old shards gone, permissions kept.
        let index2 = try Brine.saveWeights(v2, toShards: dir, maxShardBytes: 1 << 20)
        let loaded2 = try Brine.loadWeights(fromShardIndex: dir.appendingPathComponent(ShardIndex.fileName))
        for (a, b) in zip(loaded2.entries, v2.entries) { #expect(a.tensor == b.tensor) }
        for n in index.shardNames where !index2.shardNames.contains(n) {
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(n).path), "\(n) left behind")
        }
        for n in index2.shardNames {
            var st = stat()
            #expect(stat(dir.appendingPathComponent(n).path, &st) == 0 && st.st_mode & 0o777 == 0o600, "\(n): \(String(st.st_mode & 0o777, radix: 8))")
            #expect(ShardIndex.isShardFileName(n), "\(n)")
        }
        #expect(!ShardIndex.isShardFileName("model.brine") && !ShardIndex.isShardFileName("model-1-of-2.brine") && !ShardIndex.isShardFileName("model-00001-of-00002-X.brine"))
    }

    @Test("a shard from an interrupted re-save is a typed error, never a mix of two models; an index without shard_checksums still loads")
    func tornResave() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let v1 = try weights(seed: 1), v2 = try weights(seed: 100)
        let index = try Brine.saveWeights(v1, toShards: dir, maxShardBytes: 1 << 20)
        #expect(index.shardNames.count >= 2)
        // What a crash after the first shard of a second save leaves: save v2
        // elsewhere and copy exactly what the interrupted save had written.
        let other = dir.appendingPathComponent("v2")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: false)
        let index2 = try Brine.saveWeights(v2, toShards: other, maxShardBytes: 1 << 20)
        #expect(index2.shardNames == index.shardNames)
        let first = index.shardNames[0]
        try FileManager.default.removeItem(at: dir.appendingPathComponent(first))
        try FileManager.default.copyItem(at: other.appendingPathComponent(first), to: dir.appendingPathComponent(first))
        let indexURL = dir.appendingPathComponent(ShardIndex.fileName)
        let e = #expect(throws: BrineError.self) { try Brine.loadWeights(fromShardIndex: indexURL) }
        #expect(e?.code == .checksumMismatch && e?.message.contains(first) == true)

        // An index written before shard_checksums existed loads as before.
        var old = try ShardIndex(contentsOf: indexURL)
        #expect(old.shardChecksums.count == index.shardNames.count)
        old.shardChecksums = [:]
        try Data(old.jsonBytes).write(to: indexURL)
        #expect(!String(decoding: try Data(contentsOf: indexURL), as: UTF8.self).contains("shard_checksums"))
        _ = try Brine.loadWeights(fromShardIndex: indexURL)  // no record to compare with: the old behaviour
        // A damaged record is a typed error, not ignored.
        var damaged = index2
        damaged.shardChecksums = [:]
        let json = String(decoding: damaged.jsonBytes, as: UTF8.self)
        let bad = json.replacingOccurrences(of: "\"weight_map\"", with: "\"shard_checksums\":{\"\(first)\":\"not-hex\"},\"weight_map\"")
        try Data(bad.utf8).write(to: indexURL)
        let e2 = #expect(throws: BrineError.self) { try Brine.loadWeights(fromShardIndex: indexURL) }
        #expect(e2?.code == .corruptHeader)
    }

    @Test("an index that leaves out an array its shard holds is corruptHeader, never a model with that array missing (local and as a bundle)")
    func indexLeavesOutAnArray() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        // Two 1 MiB arrays per shard.
        var index = try Brine.saveWeights(try weights(seed: 3), toShards: dir, maxShardBytes: 3 << 20)
        #expect(index.shardNames.count == 2)
        let indexURL = dir.appendingPathComponent(ShardIndex.fileName)
        #expect(try Brine.loadWeights(fromShardIndex: indexURL).count == index.weightMap.count)
        let dropped = index.weightMap.removeLast()  // the shard checksums still match: the shards are untouched
        try Data(index.jsonBytes).write(to: indexURL)
        let e = #expect(throws: BrineError.self) { try Brine.loadWeights(fromShardIndex: indexURL) }
        #expect(e?.code == .corruptHeader && e?.arrayPath == dropped.path, "\(String(describing: e))")
        let e2 = #expect(throws: BrineError.self) { try TensorBundle(contentsOfShardIndex: indexURL) }
        #expect(e2?.code == .corruptHeader && e2?.arrayPath == dropped.path, "\(String(describing: e2))")
    }

    @Test("brine verify checks a sharded model from its index: every shard's chunks, each against the index; a damaged chunk or an index that leaves out an array fails naming it; brine inspect lists its arrays by shard (both said 'cannot tell the format')")
    func verifyShardIndex() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        var index = try Brine.saveWeights(try weights(seed: 9), toShards: dir, maxShardBytes: 3 << 20)
        let indexURL = dir.appendingPathComponent(ShardIndex.fileName)
        let ok = try runBrine(["verify", indexURL.path])
        #expect(ok.status == 0 && ok.out.hasPrefix("ok: ") && ok.out.contains("4 arrays"), "\(ok.out) \(ok.err)")
        // inspect lists every array with its shard, in the weight map's order.
        let listing = try runBrine(["inspect", indexURL.path, "--json"])
        #expect(listing.status == 0, "\(listing.err)")
        let object = try JSONSerialization.jsonObject(with: Data(listing.out.utf8)) as? [String: Any]
        let arrays = object?["arrays"] as? [[String: Any]] ?? []
        #expect(arrays.map { $0["path"] as? String ?? "" } == index.weightMap.map(\.path))
        #expect(arrays.map { $0["shard"] as? String ?? "" } == index.weightMap.map(\.shard))
        #expect((object?["shards"] as? [Any])?.count == index.shardNames.count)
        // One byte of the second shard's data flipped.
        let shard = dir.appendingPathComponent(index.shardNames[1])
        var bytes = try Data(contentsOf: shard)
        bytes[4096] ^= 0xFF
        try bytes.write(to: shard)
        let damaged = try runBrine(["verify", indexURL.path, "--json"])
        #expect(damaged.status == 1 && damaged.out.contains("checksumMismatch"), "\(damaged.out) \(damaged.err)")
        bytes[4096] ^= 0xFF
        try bytes.write(to: shard)
        #expect(try runBrine(["verify", indexURL.path]).status == 0)
        // The index leaves out an array its shard holds.
        let dropped = index.weightMap.removeLast()
        try Data(index.jsonBytes).write(to: indexURL)
        let partial = try runBrine(["verify", indexURL.path])
        #expect(partial.status == 1 && partial.err.contains(dropped.path), "\(partial.err)")
    }

    @Test("an index whose shard_count or shard_checksums disagree with its weight map is corruptHeader: a shard dropped from the map lost its arrays, a shard without a checksum would load unverified")
    func indexRecordsAgreeWithWeightMap() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let index = try Brine.saveWeights(try weights(seed: 5), toShards: dir, maxShardBytes: 1 << 20)
        let names = index.shardNames
        #expect(names.count == 4 && index.shardChecksums.count == 4 && index.metadata["shard_count"] == "4")
        func parse(_ edit: (inout ShardIndex) -> Void) -> BrineError? {
            var i = index
            edit(&i)
            return #expect(throws: BrineError.self) { try ShardIndex(parsing: i.jsonBytes, path: "x") }
        }
        // The last shard's only array taken out of the map: its shard is never opened.
        let e1 = parse { $0.weightMap.removeLast() }
        #expect(e1?.code == .corruptHeader && e1?.message.contains("shard_count") == true, "\(String(describing: e1))")
        let e2 = parse { $0.weightMap.removeLast(); $0.metadata["shard_count"] = "3" }
        #expect(e2?.code == .corruptHeader && e2?.message.contains(names[3]) == true, "\(String(describing: e2))")
        let e3 = parse { $0.shardChecksums[names[1]] = nil }
        #expect(e3?.code == .corruptHeader && e3?.message.contains(names[1]) == true, "\(String(describing: e3))")
        // The writer's own index, and one without any checksums (older), parse.
        #expect(try ShardIndex(parsing: index.jsonBytes, path: "x") == index)
        var old = index
        old.shardChecksums = [:]
        #expect(try ShardIndex(parsing: old.jsonBytes, path: "x").weightMap.count == 4)
    }

    @Test("another tool's index with number and boolean metadata (total_parameters) parses with the values kept exactly; null, arrays and integers beyond 64 bits are refused")
    func indexMetadataNumbers() throws {
        func parse(_ meta: String) throws -> ShardIndex {
            try ShardIndex(parsing: Array(#"{"metadata": {"total_size": 12, \#(meta)}, "weight_map": {"a": "s.safetensors"}}"#.utf8), path: "x")
        }
        let i = try parse(#""total_parameters": 22713216, "neg": -9223372036854775808, "big": 18446744073709551615, "frac": 0.1, "flag": true"#)
        #expect(i.totalSize == 12)
        #expect(try MetadataText.value(from: i.metadata["total_parameters"]!, key: "") == .int(22713216))
        #expect(try MetadataText.value(from: i.metadata["neg"]!, key: "") == .int(Int64.min))
        #expect(try MetadataText.value(from: i.metadata["big"]!, key: "") == .uint(UInt64.max))
        #expect(try MetadataText.value(from: i.metadata["frac"]!, key: "") == .float64(0.1))
        #expect(try MetadataText.value(from: i.metadata["flag"]!, key: "") == .bool(true))
        for bad in [#""x": null"#, #""x": [1]"#, #""x": 123456789012345678901234"#, #""x": -9223372036854775809"#, #""x": 1e999"#] {
            let e = #expect(throws: BrineError.self, "\(bad)") { try parse(bad) }
            #expect(e?.code == .corruptHeader, "\(bad): \(String(describing: e))")
        }
    }
}

@Suite("Sharded safetensors input names each tensor's shard")
struct ShardedSafetensorsPlacementTests {
    @Test("brine convert refuses shards that hold a tensor the index does not place there (listed in another shard, or not at all): it was left out without a word; shards that agree convert")
    func shardTensorsTheIndexDoesNotPlace() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let right = AnyTensor(try Tensor<Float>(shape: [3], scalars: [1, 2, 3]))
        let wrong = AnyTensor(try Tensor<Float>(shape: [3], scalars: [9, 9, 9]))
        let other = AnyTensor(try Tensor<Float>(shape: [2], scalars: [5, 6]))
        let extra = AnyTensor(try Tensor<Float>(shape: [1], scalars: [7]))
        let indexURL = dir.appendingPathComponent("model.safetensors.index.json")
        let out = dir.appendingPathComponent("out.safetensors")
        func convert(s2: [(name: String, tensor: AnyTensor)]) throws -> (status: Int32, err: String) {
            try TensorBundle(tensors: [(name: "w", tensor: right)], metadata: [:]).write(to: dir.appendingPathComponent("s1.safetensors"), format: .safetensors)
            try TensorBundle(tensors: s2, metadata: [:]).write(to: dir.appendingPathComponent("s2.safetensors"), format: .safetensors)
            let index = ShardIndex(metadata: [:], totalSize: 0, weightMap: [(path: "w", shard: "s1.safetensors"), (path: "v", shard: "s2.safetensors")])
            try Data(index.jsonBytes).write(to: indexURL)
            let r = try runBrine(["convert", indexURL.path, out.path])
            return (r.status, r.err)
        }
        // "w" again in s2, which the index does not name for it.
        let twice = try convert(s2: [(name: "v", tensor: other), (name: "w", tensor: wrong)])
        #expect(twice.status == 1 && twice.err.contains("'w'") && twice.err.contains("s2.safetensors"), "\(twice.err)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
        // "x" in s2, which the index does not list at all.
        let unlisted = try convert(s2: [(name: "v", tensor: other), (name: "x", tensor: extra)])
        #expect(unlisted.status == 1 && unlisted.err.contains("'x'"), "\(unlisted.err)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
        // Index and shards agree: every tensor converts.
        let agree = try convert(s2: [(name: "v", tensor: other)])
        #expect(agree.status == 0, "\(agree.err)")
        let back = try SafetensorsFile(contentsOf: out).loadAll()
        #expect(back.first { $0.name == "w" }?.tensor == right)
        #expect(back.map(\.name).sorted() == ["v", "w"])
    }

    @Test("a Hugging Face or MLX index with an integer total_parameters converts (it was refused as not a string), and the value stays an integer in a .brine output")
    func indexWithTotalParameters() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let w = AnyTensor(try Tensor<Float>(shape: [3], scalars: [1, 2, 3]))
        try TensorBundle(tensors: [(name: "w", tensor: w)], metadata: ["format": "pt"]).write(to: dir.appendingPathComponent("model-00001-of-00001.safetensors"), format: .safetensors)
        let indexURL = dir.appendingPathComponent("model.safetensors.index.json")
        try Data(#"{"metadata": {"total_parameters": 3, "total_size": 12}, "weight_map": {"w": "model-00001-of-00001.safetensors"}}"#.utf8).write(to: indexURL)
        let out = dir.appendingPathComponent("out.brine")
        let r = try runBrine(["convert", indexURL.path, out.path])
        #expect(r.status == 0, "\(r.err)")
        let file = try BrineFile(contentsOf: out)
        #expect(file.metadata["total_parameters"] == .int(3) && file.metadata["format"] == .string("pt"), "\(file.metadata)")
        #expect(try file.array("w", as: Float.self) == Tensor<Float>(shape: [3], scalars: [1, 2, 3]))
    }

    @Test("shards whose __metadata__ disagree on a key are refused (nothing written), never merged by the last shard read; names in two spellings stay two tensors")
    func shardMetadataAndSpellings() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let a = AnyTensor(try Tensor<Float>(shape: [2], scalars: [1, 2])), b = AnyTensor(try Tensor<Float>(shape: [3], scalars: [3, 4, 5]))
        let nfc = "\u{E9}", nfd = "e\u{301}"
        func shards(_ m1: [String: String], _ m2: [String: String]) throws -> URL {
            try TensorBundle(tensors: [(name: nfc, tensor: a)], metadata: m1).write(to: dir.appendingPathComponent("s1.safetensors"), format: .safetensors)
            try TensorBundle(tensors: [(name: nfd, tensor: b)], metadata: m2).write(to: dir.appendingPathComponent("s2.safetensors"), format: .safetensors)
            let index = ShardIndex(metadata: [:], totalSize: 0, weightMap: [(path: nfc, shard: "s1.safetensors"), (path: nfd, shard: "s2.safetensors")])
            let url = dir.appendingPathComponent("model.safetensors.index.json")
            try Data(index.jsonBytes).write(to: url)
            return url
        }
        let out = dir.appendingPathComponent("out.safetensors")
        let disagree = try shards(["format": "pt", "note": "first"], ["format": "pt", "note": "second"])
        let r = try runBrine(["convert", disagree.path, out.path])
        #expect(r.status == 1 && r.err.contains("note"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: out.path))

        let agree = try shards(["format": "pt"], ["format": "pt"])
        let r2 = try runBrine(["convert", agree.path, out.path])
        #expect(r2.status == 0, "\(r2.err)")
        let file = try SafetensorsFile(contentsOf: out)
        #expect(file.metadata == ["format": "pt"])
        #expect(try file.tensor(nfc) == a)
        #expect(try file.tensor(nfd) == b)
    }
}
