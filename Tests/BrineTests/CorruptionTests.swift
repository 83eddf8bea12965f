import Foundation
import Synchronization
import Testing
@testable import Brine

/// Systematic corruption of a small valid container (``HostileFixture``):
/// every truncation, every single-bit flip of header and trailer, one bit
/// flip per chunk, and every length/offset/count field set to 0, the file
/// size, 2^63 and 2^64−1. Every case must end in a typed ``BrineError``
/// that says where (a byte offset or an array path), or, where the damage
/// is invisible without checksums, in data without a crash.
@Suite("Systematic corruption")
struct CorruptionTests {
    let fx = HostileFixture.shared

    static var strict: ReadOptions {
        var o = ReadOptions()
        o.threads = 1
        return o
    }

    /// Checksums off: trailer, header and chunks are not verified on open or load
    /// (``BrineFile/verify()`` still computes them).
    static var lax: ReadOptions {
        var o = strict
        o.verifyHeader = false
        o.verifyChecksums = false
        return o
    }

    @Test("the fixture is valid and covers every storage path")
    func fixtureIsValid() throws {
        let r = openAndLoad(fx.bytes, options: Self.strict)
        #expect(r.error == nil)
        #expect(r.arrays.count == fx.arrays.count)
        for (path, t) in fx.arrays { #expect(r.arrays[path] == t, "\(path)") }
        let infos = fx.table
        #expect(infos.contains { $0.codec == .none && $0.filter == .none && $0.chunkCount > 1 })
        #expect(infos.contains { $0.codec == .lz4 && $0.filter == .none && $0.chunkCount > 1 })
        #expect(infos.contains { $0.codec.compresses && $0.filter == .shuffle })
        #expect(infos.contains { if case .zstd = $0.codec { return $0.chunkCount > 1 } else { return false } })
        #expect(infos.contains { $0.storedDType == .float16 && $0.dtype == .float32 })
        #expect(infos.contains { $0.codec == .none && $0.filter == .shuffle })
        #expect(fx.bytes.count < 8192)
    }

    @Test("truncation at every byte offset is rejected")
    func truncation() throws {
        var cases = 0
        var codes: [String: Int] = [:]
        for n in 0 ..< fx.bytes.count {
            let r = openAndLoad(Array(fx.bytes[0 ..< n]), options: Self.strict)
            #expect(!r.opened, "truncated to \(n) bytes but opened")
            if let e = r.error {
                codes[e.code.name, default: 0] += 1
                #expect(e.code == .truncated || e.code == .notABrineFile, "truncated to \(n): \(e)")
                #expect(saysWhere(e), "truncated to \(n): \(e)")
            }
            cases += 1
        }
        // A few truncations through real files, in copy and mmap mode.
        let dir = makeTemporaryDirectory()
        for n in [0, 8, 16, 79, 80, fx.headerOffset, fx.trailerOffset, fx.bytes.count - 1] {
            let url = dir.appendingPathComponent("t\(n).brine")
            try Data(fx.bytes[0 ..< n]).write(to: url)
            for mode in [LoadMode.copy, .mmap] {
                #expect(throws: BrineError.self, "file truncated to \(n), \(mode)") { try BrineFile(contentsOf: url, mode: mode) }
                cases += 1
            }
        }
        print("corruption: \(cases) truncation cases rejected \(codes.sorted { $0.key < $1.key })")
    }

    @Test("every single-bit flip in the header and trailer is rejected")
    func headerAndTrailerBitFlips() throws {
        let region = fx.headerOffset ..< fx.bytes.count
        var strictCases = 0
        var laxAccepted = 0
        var laxCases = 0
        for byte in region {
            for bit in 0 ..< 8 {
                var b = fx.bytes
                b[byte] ^= 1 << bit
                // Checksums on: the header or trailer checksum (or a field
                // check before it) must catch every flip.
                let r = openAndLoad(b, options: Self.strict)
                #expect(!r.opened, "flip of byte \(byte) bit \(bit) opened")
                if let e = r.error { #expect(saysWhere(e), "flip \(byte).\(bit): \(e)") }
                strictCases += 1
                // Checksums off: the flip reaches the decoders; they must
                // answer with an error or with data, never crash.
                let l = openAndLoad(b, options: Self.lax)
                if l.opened && l.error == nil { laxAccepted += 1 }
                if let e = l.error { #expect(saysWhere(e), "lax flip \(byte).\(bit): \(e)") }
                laxCases += 1
            }
        }
        print("corruption: \(strictCases) header/trailer bit flips rejected with checksums on; \(laxCases) with checksums off, \(laxAccepted) of them decoded (flips in names, values or checksums)")
    }

    @Test("one bit flip in every chunk is caught by its checksum, or decoded without a crash when checksums are off")
    func chunkBitFlips() throws {
        var cases = 0
        var decompressionFailures = 0
        let dir = makeTemporaryDirectory()
        for a in fx.table {
            for c in 0 ..< a.chunkCount {
                let stored = a.chunkStoredBytes[c]
                let bit = (c * 37 + a.path.utf8.count) % (stored * 8)
                let at = a.chunkOffsets[c] + bit / 8
                var b = fx.bytes
                b[at] ^= 1 << (bit % 8)

                // Checksums on: loading names the array, the chunk and its offset.
                let r = openAndLoad(b, options: Self.strict)
                #expect(r.opened)
                let e = try #require(r.error, "\(a.path) chunk \(c): flip not detected")
                #expect(e.code == .checksumMismatch && e.arrayPath == a.path && e.chunkIndex == c
                        && e.byteOffset == UInt64(a.chunkOffsets[c]), "\(e)")
                let failures = r.file!.verify()
                #expect(failures.count == 1 && failures.first?.chunkIndex == c && failures.first?.arrayPath == a.path)
                cases += 1

                // The same through a real file, in copy and mmap mode.
                let url = dir.appendingPathComponent("\(a.path)-\(c).brine")
                try Data(b).write(to: url)
                for mode in [LoadMode.copy, .mmap] {
                    let f = try BrineFile(contentsOf: url, mode: mode)
                    var o = mode == .mmap ? ReadOptions() : Self.strict
                    o.verifyMappedArrays = true
                    let mf = try BrineFile(contentsOf: url, mode: mode, options: o)
                    for file in [f, mf] where !(mode == .mmap && a.isContiguousRaw && file === f) {
                        let err = #expect(throws: BrineError.self) { try file.anyArray(a.path) }
                        #expect(err?.code == .checksumMismatch && err?.chunkIndex == c, "\(mode): \(String(describing: err))")
                    }
                    #expect(f.verify().map(\.chunkIndex) == [c])
                    cases += 1
                }

                // Checksums off: data or decompressionFailed, never a crash.
                let l = openAndLoad(b, options: Self.lax)
                #expect(l.opened)
                if let t = l.arrays[a.path], !a.codec.compresses && a.storedDType == a.dtype {
                    // Uncompressed: exactly the flipped bit differs.
                    let want = fx.arrays[a.path]!
                    var differing = 0
                    for (x, y) in zip(t.storage.bytes, want.storage.bytes) { differing += (x ^ y).nonzeroBitCount }
                    #expect(differing == 1, "\(a.path) chunk \(c): \(differing) bits differ")
                } else if l.arrays[a.path] == nil {
                    let le = try #require(l.error)
                    #expect(le.code == .decompressionFailed && le.arrayPath == a.path, "\(le)")
                    decompressionFailures += 1
                }
                cases += 1
            }
        }
        print("corruption: \(cases) chunk bit-flip cases (\(decompressionFailures) decompression failures with checksums off)")
    }

    static let hostileValues: [UInt64] = [0, 1 << 63, .max]

    @Test("trailer length and offset fields set to 0, the file size, 2^63 and 2^64-1 are rejected")
    func trailerFields() throws {
        var cases = 0
        let fields = [(0, "header_offset"), (8, "header_length"), (24, "file_length")]
        let original = fx.withTrailer { _ in }
        #expect(original == fx.bytes)
        for (offset, name) in fields {
            let current = (0 ..< 8).reduce(UInt64(0)) { $0 | UInt64(fx.bytes[fx.trailerOffset + offset + $1]) << (8 * UInt64($1)) }
            for v in Self.hostileValues + [UInt64(fx.bytes.count)] where v != current {
                let b = fx.withTrailer { t in for i in 0 ..< 8 { t[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) } }
                for options in [Self.strict, Self.lax] {
                    let r = openAndLoad(b, options: options)
                    #expect(!r.opened, "\(name) = \(v) opened")
                    if let e = r.error {
                        #expect([.layout, .truncated, .limitExceeded, .checksumMismatch].contains(e.code), "\(name) = \(v): \(e)")
                        #expect(saysWhere(e))
                    }
                    cases += 1
                }
            }
        }
        // The unpatched trailer checksum must catch the same edits.
        for (offset, name) in fields {
            var b = fx.bytes
            for i in 0 ..< 8 { b[fx.trailerOffset + offset + i] = 0xFF }
            let r = openAndLoad(b, options: Self.strict)
            #expect(r.error?.code == .checksumMismatch, "\(name)")
            cases += 1
        }
        print("corruption: \(cases) trailer field cases rejected")
    }

    /// Fields that can legitimately take another value in a well-formed
    /// file (with recomputed checksums): an array reference re-pointed at
    /// another existing array, a dimension of an array that has another
    /// zero-length dimension, the chunk size of an array held in one chunk.
    func canLegitimatelyChange(_ f: HeaderField, to v: UInt64) -> Bool {
        if f.name.hasSuffix(".array_ref") { return v < UInt64(fx.table.count) }
        for (i, a) in fx.table.enumerated() where f.name.hasPrefix("array\(i).") {
            if f.name.hasPrefix("array\(i).dim") { return a.count == 0 }
            if f.name == "array\(i).chunk_bytes" {
                return a.chunkCount <= 1 && v % UInt64(a.storedDType.itemSize) == 0 && v >= UInt64(a.storedRawBytes)
            }
        }
        return false
    }

    @Test("every header length, count, offset and index field set to 0, the file size, 2^63 and 2^64-1 is rejected")
    func headerFields() throws {
        let header = fx.header
        let originalChecksum = Checksum.xxh3(header)
        let fields = HeaderWalker.fields(of: header).filter { $0.kind == .varint }
        #expect(fields.count > 100)
        #expect(fields.contains { $0.name.hasSuffix("data_offset") } && fields.contains { $0.name.hasSuffix("stored_size") })
        var cases = 0
        var rejected = 0
        var wellFormed: [String] = []
        var codes: [String: Int] = [:]
        for f in fields {
            for v in Self.hostileValues + [UInt64(fx.bytes.count)] where v != f.value {
                let h = patched(header, f, to: v)
                var b = fx.rebuilt(header: h)
                // (1) With the header checksum of the original header: the
                // checksum catches the edit.
                let at = b.count - FormatSpec.trailerSize + 16
                let keep = fx.bytes.count - FormatSpec.trailerSize + 16
                for i in 0 ..< 8 { b[at + i] = fx.bytes[keep + i] }
                b = Array(b[0 ..< b.count - FormatSpec.trailerSize]) + Self.resealed(Array(b[(b.count - FormatSpec.trailerSize)...]))
                #expect(Checksum.xxh3(h) != originalChecksum)
                let sealed = openAndLoad(b, options: Self.strict)
                #expect(sealed.error?.code == .checksumMismatch, "\(f) = \(v): \(String(describing: sealed.error))")
                cases += 1

                // (2) With recomputed checksums, so the decoder sees the field.
                let r = openAndLoad(fx.rebuilt(header: h), options: Self.strict)
                cases += 1
                if let e = r.error {
                    #expect(!r.opened || e.arrayPath != nil, "\(f) = \(v): opened, then \(e)")
                    #expect(saysWhere(e), "\(f) = \(v): \(e)")
                    codes[e.code.name, default: 0] += 1
                    rejected += 1
                } else {
                    // Accepted: only a field that a well-formed file can hold
                    // with this value, and then everything loads and verifies.
                    #expect(canLegitimatelyChange(f, to: v), "\(f) = \(v) accepted")
                    wellFormed.append("\(f.name)=\(v)")
                }
            }
        }
        print("corruption: \(cases) header field cases (\(fields.count) varint fields × 4 values, original and recomputed checksum): all rejected by the checksum; with recomputed checksums \(rejected) rejected \(codes.sorted { $0.key < $1.key }), \(wellFormed.count) well-formed \(wellFormed)")
    }

    /// A trailer with its own checksum recomputed over bytes 0..<48.
    static func resealed(_ trailer: [UInt8]) -> [UInt8] {
        var t = trailer
        let sum = Checksum.xxh3(Array(t[0 ..< 48]))
        for i in 0 ..< 8 { t[48 + i] = UInt8(truncatingIfNeeded: sum >> (8 * UInt64(i))) }
        return t
    }

    @Test("every one-byte code in the header set to each hostile byte is rejected or harmless")
    func headerCodes() throws {
        let header = fx.header
        let fields = HeaderWalker.fields(of: header).filter { $0.kind == .u8 }
        var cases = 0
        var harmless = 0
        for f in fields {
            for v in [0, 0x0C, 0x7F, 0x80, 0xFF] as [UInt64] where v != f.value {
                let b = fx.rebuilt(header: patched(header, f, to: v))
                let r = openAndLoad(b, options: Self.strict)
                if let e = r.error {
                    #expect(saysWhere(e), "\(f) = \(v): \(e)")
                } else {
                    harmless += 1
                }
                cases += 1
            }
        }
        print("corruption: \(cases) header code cases, \(cases - harmless) rejected, \(harmless) decoded (e.g. a dtype of the same size)")
    }
}
