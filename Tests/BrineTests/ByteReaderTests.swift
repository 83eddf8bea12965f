import Foundation
import Testing
@testable import Brine
import BrineTestSupport
import CFDAudit

/// The header's primitive reader has fast paths (a one-byte varint, a varint
/// read without per-byte bounds checks when ten bytes remain, a `u64` read in
/// one load) and a mapped source serves the preamble from a `pread` copy.
/// Each fast path must give exactly what the checked path gives, and reject
/// exactly what it rejects, wherever the field lies in the buffer.
@Suite("Header primitives: fast paths agree with the checked ones")
struct ByteReaderTests {
    static let values: [UInt64] = [
        0, 1, 0x7F, 0x80, 0xFF, 0x3FFF, 0x4000, 1 << 21, (1 << 28) - 1, 1 << 35, 1 << 42,
        1 << 49, 1 << 56, (1 << 62) + 12_345, 1 << 63, UInt64.max - 1, UInt64.max,
    ] + lengthBounds

    /// For each varint length k of 1 … 9 bytes: the smallest and largest
    /// value of that length, and one in between.
    static var lengthBounds: [UInt64] {
        var out: [UInt64] = []
        for k in 1 ... 9 {
            let top: UInt64 = k == 9 ? UInt64.max >> 1 : (UInt64(1) << UInt64(7 * k)) - 1
            let bottom: UInt64 = k == 1 ? 0 : UInt64(1) << UInt64(7 * (k - 1))
            out += [bottom, top, bottom + (top - bottom) / 3]
        }
        return out
    }

    /// Decodes `field` at the end of a buffer (the checked loop) and with
    /// `padding` bytes after it (the unchecked loop when ≥ 10 remain).
    static func decodeVarint(_ field: [UInt8], padding: Int) -> Result<(UInt64, Int), BrineError> {
        let bytes = field + [UInt8](repeating: 0xAA, count: padding)
        return bytes.withUnsafeBytes { b in
            var r = ByteReader(b, fileOffset: 0)
            do throws(BrineError) {
                let v = try r.varint("field")
                return .success((v, r.position))
            } catch {
                return .failure(error)
            }
        }
    }

    @Test("every varint length decodes to the same value and length at the end of a buffer and before 1 to 32 more bytes")
    func varintValues() {
        for v in Self.values {
            var w = ByteWriter()
            w.varint(v)
            for padding in [0, 1, 2, 6, 7, 8, 9, 10, 32] {
                switch Self.decodeVarint(w.bytes, padding: padding) {
                case .success(let (got, used)):
                    #expect(got == v, "value \(v), padding \(padding)")
                    #expect(used == w.bytes.count, "value \(v), padding \(padding)")
                case .failure(let e):
                    Issue.record("value \(v), padding \(padding): \(e)")
                }
            }
        }
    }

    /// LEB128 as the format defines it, one byte at a time: the reference
    /// the fast paths must agree with (value and length, or a rejection).
    static func referenceVarint(_ bytes: [UInt8]) -> (UInt64, Int)? {
        var result: UInt64 = 0
        for (i, b) in bytes.enumerated() {
            let shift = UInt64(7 * i)
            if i == 9 && b > 1 { return nil }  // more than 64 bits
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return (result, i + 1) }
            if i == 9 { return nil }  // an eleventh byte
        }
        return nil  // runs past the end
    }

    @Test("random bytes, overlong encodings included, decode as the byte-at-a-time reference does")
    func varintMatchesReference() {
        var rng = SplitMix64(seed: 0x5EED_0F_BA11)
        for round in 0 ..< 20_000 {
            // Continuation bits are set with high probability, so every
            // length of 1 … 12 bytes and its zero-padded (overlong) forms occur.
            let n = 1 + Int(rng.next() % 14)
            var bytes: [UInt8] = (0 ..< n).map { _ in
                let b = UInt8(truncatingIfNeeded: rng.next())
                return rng.next() % 5 == 0 ? b & 0x7F : b | 0x80
            }
            if round % 3 == 0 { bytes = bytes.map { $0 & 0x80 } }  // overlong zeros
            let expected = Self.referenceVarint(bytes)
            switch Self.decodeVarint(bytes, padding: 0) {
            case .success(let (v, used)):
                #expect(expected.map { $0 == (v, used) } == true, "\(bytes): got \(v) in \(used) bytes, reference \(String(describing: expected))")
            case .failure(let e):
                #expect(expected == nil, "\(bytes): rejected (\(e.message)), reference \(String(describing: expected))")
                #expect(e.code == .corruptHeader)
            }
        }
    }

    @Test("overlong, overflowing and truncated varints are rejected wherever they lie")
    func varintRejects() {
        let cases: [(String, [UInt8])] = [
            // Ten bytes whose tenth carries more than bit 63.
            ("overflows 64 bits", [UInt8](repeating: 0xFF, count: 9) + [0x02]),
            // Eleven bytes: the tenth continues (so it too carries more than bit 63).
            ("overflows 64 bits", [UInt8](repeating: 0x80, count: 10) + [0x00]),
            ("runs past the end", [0x80, 0x80]),
        ]
        for (reason, field) in cases {
            // Truncation can only happen at the end; the others also with bytes after them.
            let paddings = reason == "runs past the end" ? [0] : [0, 1, 7, 8, 10, 32]
            for padding in paddings {
                guard case .failure(let e) = Self.decodeVarint(field, padding: padding) else {
                    Issue.record("\(reason), padding \(padding): accepted")
                    continue
                }
                #expect(e.code == .corruptHeader)
                #expect(e.message.contains(reason), "\(e.message)")
            }
        }
    }

    @Test("u64 reads little-endian at every position and refuses fewer than 8 bytes")
    func u64() {
        let value: UInt64 = 0x0123_4567_89AB_CDEF
        var w = ByteWriter()
        w.u64(value)
        for lead in 0 ..< 9 {
            for tail in [0, 1, 7, 8] {
                let bytes = [UInt8](repeating: 0x55, count: lead) + w.bytes + [UInt8](repeating: 0x66, count: tail)
                bytes.withUnsafeBytes { b in
                    var r = ByteReader(b, fileOffset: 0)
                    #expect(throws: Never.self) {
                        for _ in 0 ..< lead { _ = try r.u8() }
                        #expect(try r.u64() == value)
                    }
                }
            }
            let short = [UInt8](repeating: 0x55, count: lead) + w.bytes.prefix(7)
            short.withUnsafeBytes { b in
                var r = ByteReader(b, fileOffset: 0)
                #expect(throws: BrineError.self) {
                    for _ in 0 ..< lead { _ = try r.u8() }
                    _ = try r.u64()
                }
            }
        }
    }

    @Test("a mapped source reads the preamble's bytes (any slice) as the file holds them, also for files shorter than a preamble")
    func mappedPreamble() throws {
        let dir = makeTemporaryDirectory("byte-reader")
        defer { removeTemporaryDirectory(dir) }
        for size in [0, 5, 15, 16, 17, 4096 + 3] {
            let bytes = (0 ..< size).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let url = dir.appendingPathComponent("f\(size)")
            try Data(bytes).write(to: url)
            let mapped = try ByteSource(path: url.path, mode: .mmap)
            let copied = try ByteSource(path: url.path, mode: .copy)
            for offset in 0 ... Swift.min(size, 17) {
                for count in 0 ... Swift.min(size - offset, 17) {
                    let m = try mapped.read(offset, count)
                    #expect(m == Array(bytes[offset ..< offset + count]), "size \(size), \(offset)+\(count)")
                    #expect(try copied.read(offset, count) == m)
                }
            }
        }
    }

    @Test("an open that fails (a folder, a FIFO, /dev/zero, an empty file, a file of preamble size that is not Brine) throws, closes its descriptor exactly once and leaves none open")
    func failedOpensCloseTheirDescriptorOnce() throws {
        // The descriptor audit (Tests/CFDAudit) counts second closes: a folder
        // opened in an mmap mode closed its descriptor in Mapping's init and
        // again in BrineFile's open, which in a busy process closed another
        // thread's file (CI saw an np.load oracle read fail with EBADF).
        #expect(brine_fd_audit_enabled() != 0, "the descriptor audit is off (BRINE_FD_AUDIT=0?)")
        let doublesBefore = brine_fd_audit_double_closes()
        let dir = makeTemporaryDirectory("byte-reader-fd")
        defer { removeTemporaryDirectory(dir) }
        let folder = dir.appendingPathComponent("folder")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        let fifo = dir.appendingPathComponent("fifo")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        let zero = dir.appendingPathComponent("zero")
        try FileManager.default.createSymbolicLink(atPath: zero.path, withDestinationPath: "/dev/zero")
        let empty = dir.appendingPathComponent("empty")
        try Data().write(to: empty)
        let notBrine = dir.appendingPathComponent("not-brine")
        try Data(repeating: 0x41, count: 16).write(to: notBrine)
        func heldDescriptors() throws -> Int {
            var held = 0
            for name in try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
                var buf = [CChar](repeating: 0, count: 4096)
                let n = readlink("/proc/self/fd/\(name)", &buf, buf.count - 1)
                guard n > 0 else { continue }
                let target = String(decoding: buf[0 ..< n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                // Only this test's folder: /dev/zero (opened through the link) may be
                // open in a parallel test at either count.
                if target.hasPrefix(dir.path) { held += 1 }
            }
            return held
        }
        let modes: [LoadMode] = [.mmap, .mmapCopyOnWrite, .mmapReadWrite, .copy]
        let openers: [(String, (URL, LoadMode) throws -> Void)] = [
            ("BrineFile", { url, mode in _ = try BrineFile(path: url.path, mode: mode) }),
            ("SafetensorsFile", { url, mode in _ = try SafetensorsFile(contentsOf: url, mode: mode) }),
            ("Npy.read", { url, mode in _ = try Npy.read(contentsOf: url, mode: mode) }),
            ("GGUFFile", { url, mode in _ = try GGUFFile(contentsOf: url, mode: mode) }),
            ("TensorFileFormat.detect", { url, _ in _ = try TensorFileFormat.detect(contentsOf: url) }),
        ]
        for url in [folder, fifo, zero, empty, notBrine] {
            let special = url == folder || url == fifo || url == zero
            for (name, open) in openers {
                for mode in modes {
                    for _ in 0 ..< 10 {
                        let e = #expect(throws: BrineError.self, "\(name), \(url.lastPathComponent), \(mode)") { try open(url, mode) }
                        if special, let e, e.code != .permissionDenied {
                            // Not `.io` from a failed mmap or read, nor a wait on the FIFO.
                            #expect(e.code == .invalidArgument, "\(name), \(url.lastPathComponent), \(mode): \(e)")
                        }
                    }
                }
            }
        }
        #expect(try heldDescriptors() == 0)
        #expect(brine_fd_audit_double_closes() == doublesBefore, "descriptors closed twice; see the backtraces on stderr")
    }
}
