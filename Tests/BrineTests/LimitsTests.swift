import Foundation
import Testing
@testable import Brine

/// The caps of docs/FORMAT.md "Limits": each one triggers `.limitExceeded`
/// (or the documented code) before anything sized by the field is allocated,
/// and the largest legitimate values still load.
@Suite("Read limits")
struct LimitsTests {
    let fx = HostileFixture.shared

    func open(_ bytes: [UInt8], _ edit: (inout ReadLimits) -> Void = { _ in }) throws(BrineError) -> BrineFile {
        var o = ReadOptions()
        edit(&o.limits)
        return try typedThrows { try bytes.withUnsafeBytes { try BrineFile(bytes: $0, options: o) } }
    }

    /// The code of the `BrineError` that `body` throws, or `nil` when it
    /// succeeds. (Closures infer untyped `throws`, hence the cast.)
    func code(_ body: () throws -> Void) -> BrineError.Code? {
        do { try body() } catch { return (error as? BrineError)?.code ?? .io }
        return nil
    }

    @Test("each cap rejects a file that exceeds it with .limitExceeded")
    func caps() throws {
        let b = fx.bytes
        #expect(code { _ = try open(b) { $0.maxHeaderBytes = fx.headerLength - 1 } } == .limitExceeded)
        #expect(code { _ = try open(b) { $0.maxHeaderBytes = fx.headerLength } } == nil)
        #expect(code { _ = try open(b) { $0.maxDepth = 1 } } == .limitExceeded)   // root: map → list → map
        #expect(code { _ = try open(b) { $0.maxRank = 1 } } == .limitExceeded)    // raw.f32 is [8, 16]
        #expect(code { _ = try open(b) { $0.maxArrays = fx.table.count - 1 } } == .limitExceeded)
        #expect(code { _ = try open(b) { $0.maxArrays = fx.table.count } } == nil)
        let mostChunks = fx.table.map(\.chunkCount).max()!
        #expect(code { _ = try open(b) { $0.maxChunksPerArray = mostChunks - 1 } } == .limitExceeded)
        #expect(code { _ = try open(b) { $0.maxChunksPerArray = mostChunks } } == nil)
        let largestChunk = fx.table.map(\.chunkBytes).max()!
        #expect(code { _ = try open(b) { $0.maxChunkBytes = largestChunk - 1 } } == .limitExceeded)
    }

    @Test("the allocation cap applies to loads and element ranges, not to zero-copy views")
    func allocationCap() throws {
        let file = try open(fx.bytes) { $0.maxAllocationBytes = 256 }
        let lz4 = fx.table.first { $0.path == "lz4.i32" }!  // 800 bytes decoded
        #expect(code { _ = try file.anyArray(lz4.path) } == .limitExceeded)
        #expect(code { _ = try file.loadAll() } == .limitExceeded)
        #expect(code { _ = try file.elements(lz4.path, range: 0 ..< 100) } == .limitExceeded)
        #expect(try file.elements(lz4.path, range: 0 ..< 64).count == 64)
        // In memory (and in mmap mode) an uncompressed array is a view: no allocation.
        let raw = try file.anyArray("raw.f32")
        #expect(raw.storage.isView && raw.byteCount == 512)
    }

    /// A file with one array of `count` zero bytes in a single chunk.
    func zeros(_ count: Int, codec: Codec) throws -> [UInt8] {
        let url = makeTemporaryDirectory("bomb").appendingPathComponent("z.brine")
        var o = WriteOptions(codec: codec)
        o.chunkBytes = Swift.max(count, 8)
        let w = try BrineWriter(url: url, options: o)
        try w.append(Tensor<UInt8>(zeros: [count]), arrayPath: "z")
        try w.finish()
        return [UInt8](try Data(contentsOf: url))
    }

    @Test("the highest ratios LZ4 and Zstandard really reach are accepted", arguments: [Codec.lz4, .zstd(level: 1), .zstd(level: 19)])
    func realMaximumRatios(codec: Codec) throws {
        let n = 64 << 20
        let b = try zeros(n, codec: codec)
        let f = try open(b)
        let a = try #require(f.info("z"))
        #expect(a.chunkCount == 1)
        let ratio = Double(n) / Double(a.storedBytes)
        #expect(ratio > Double(codec.maxExpansion) * 0.99 && ratio <= Double(codec.maxExpansion), "ratio \(ratio)")
        let t: Tensor<UInt8> = try f.array("z")
        let zeros = TensorStorage(zeroedByteCount: n)
        #expect(t.count == n && Checksum.xxh3(t.storage.bytes) == Checksum.xxh3(zeros.bytes))
    }

    @Test("a chunk that declares more raw bytes than its codec can produce from its stored bytes is rejected on open (decompression bomb); one that holds more than it declares stops at the declared size",
          arguments: [Codec.lz4, .zstd(level: 1)])
    func decompressionBomb(codec: Codec) throws {
        // A valid single-chunk array of 4096 zero bytes, then its shape and
        // chunk size raised so that the one chunk claims 1 GiB.
        let b = try zeros(4096, codec: codec)
        let valid = try open(b)
        let stored = valid.arrays[0].storedBytes
        let header = Array(b[valid.headerOffset ..< valid.headerOffset + valid.headerLength])
        let fields = HeaderWalker.fields(of: header)
        func rebuilt(claiming raw: Int) -> [UInt8] {
            var h = header
            // Patch the later field first so the earlier offset stays valid.
            let chunk = fields.first { $0.name == "array0.chunk_bytes" }!
            let dim = fields.first { $0.name == "array0.dim0" }!
            h = patched(h, chunk, to: UInt64(raw))
            h = patched(h, dim, to: UInt64(raw))
            var out = Array(b[0 ..< valid.headerOffset]) + h
            out += Trailer(headerOffset: UInt64(valid.headerOffset), headerLength: UInt64(h.count), headerChecksum: Checksum.xxh3(h),
                           fileLength: UInt64(out.count + FormatSpec.trailerSize)).encoded()
            return out
        }
        let most = stored * codec.maxExpansion
        // Just over what the stored bytes can decode to: rejected on open, nothing allocated.
        for raw in [most + 1, 1 << 30] {
            do {
                _ = try open(rebuilt(claiming: raw))
                Issue.record("a chunk of \(stored) stored bytes claiming \(raw) raw bytes was accepted")
            } catch {
                #expect(error.code == .corruptHeader && error.arrayPath == "z" && error.chunkIndex == 0, "\(error)")
                #expect(error.message.contains("cannot decode"))
            }
        }
        // At the bound it opens, and decompression stops at the declared
        // size: the 4096 real bytes do not fill it.
        let f = try open(rebuilt(claiming: most))
        let e = #expect(throws: BrineError.self) { try f.anyArray("z") }
        #expect(e?.code == .decompressionFailed && e?.chunkIndex == 0)
        // Declared smaller than the data: decoding stops at the declared size
        // (the destination is exactly that big; AddressSanitizer checks it).
        for raw in [1024, 4095] {
            let small = try open(rebuilt(claiming: raw))
            let s = #expect(throws: BrineError.self) { try small.anyArray("z") }
            #expect(s?.code == .decompressionFailed && s?.chunkIndex == 0, "\(String(describing: s))")
            #expect(small.verify().map(\.code) == [.decompressionFailed])
        }
    }

    /// A file whose object tree is `depth` nested lists. The writer refuses
    /// trees deeper than the readers' cap, so this builds the header and
    /// trailer itself, the way a hostile producer would.
    func nested(depth: Int) -> [UInt8] {
        var v: Value = .null
        for _ in 0 ..< depth { v = .list([v]) }
        let h = Header(metadata: .map([]), arrays: [], root: v).encoded()
        var out = Array(fx.bytes[0 ..< FormatSpec.preambleSize]) + h
        out += Trailer(headerOffset: UInt64(FormatSpec.preambleSize), headerLength: UInt64(h.count), headerChecksum: Checksum.xxh3(h),
                       fileLength: UInt64(out.count + FormatSpec.trailerSize)).encoded()
        return out
    }

    @Test("the writer writes the deepest tree readers accept and refuses one level deeper")
    func writerDepth() throws {
        let limit = ReadLimits().maxDepth
        let dir = makeTemporaryDirectory("deep")
        for (depth, accepted) in [(limit, true), (limit + 1, false)] {
            var v: Value = .null
            for _ in 0 ..< depth { v = .list([v]) }
            let url = dir.appendingPathComponent("d\(depth).brine")
            let c = code { try BrineWriter(url: url).finish(root: v) }
            #expect(c == (accepted ? nil : .limitExceeded), "depth \(depth)")
            #expect(FileManager.default.fileExists(atPath: url.path) == accepted)
            if accepted { #expect(try BrineFile(contentsOf: url).root.nestsDeeper(than: limit - 1)) }
        }
    }

    @Test("the deepest object tree allowed decodes on a 512 KiB thread stack; one level deeper is rejected")
    func nestingDepth() throws {
        let limit = ReadLimits().maxDepth
        let ok = nested(depth: limit)
        let deep = nested(depth: limit + 1)
        // Secondary threads get 512 KiB stacks on Darwin; decode there.
        let result = UncheckedBox<(BrineError.Code?, BrineError.Code?)>((nil, nil))
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            result.value = (self.code { _ = try self.open(ok) }, self.code { _ = try self.open(deep) })
            done.signal()
        }
        thread.stackSize = 512 << 10
        thread.start()
        done.wait()
        #expect(result.value.0 == nil)
        #expect(result.value.1 == .limitExceeded)
    }

    @Test("counts larger than the bytes left are rejected before anything is reserved")
    func countsBoundedByBytes() throws {
        // metadata = map claiming 2^40 entries, in a header of a few bytes.
        var h: [UInt8] = [0x09]
        h += varintBytes(1 << 40)
        var out = Array(fx.bytes[0 ..< FormatSpec.preambleSize]) + h
        out += Trailer(headerOffset: UInt64(FormatSpec.preambleSize), headerLength: UInt64(h.count), headerChecksum: Checksum.xxh3(h),
                       fileLength: UInt64(out.count + FormatSpec.trailerSize)).encoded()
        #expect(code { _ = try open(out) } == .corruptHeader)
        // A list claiming as many elements as there are bytes left, all garbage.
        var g: [UInt8] = [0x09, 0x00, 0x00, 0x08]
        g += varintBytes(1 << 20)
        g += [UInt8](repeating: 0xEE, count: 1 << 20)
        var out2 = Array(fx.bytes[0 ..< FormatSpec.preambleSize]) + g
        out2 += Trailer(headerOffset: UInt64(FormatSpec.preambleSize), headerLength: UInt64(g.count), headerChecksum: Checksum.xxh3(g),
                        fileLength: UInt64(out2.count + FormatSpec.trailerSize)).encoded()
        #expect(code { _ = try open(out2) } == .corruptHeader)
    }
}

/// A mutable box to carry a result out of a `Thread` closure; the
/// semaphore that follows the write orders the accesses.
final class UncheckedBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}
