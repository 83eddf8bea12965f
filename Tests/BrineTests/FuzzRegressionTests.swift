import Foundation
import Testing
@testable import Brine

/// Replays every committed hostile input (Tests/BrineTests/Fixtures/hostile
/// and Tests/BrineTests/Fixtures/fuzz/<Target>, the inputs that once crashed
/// a reader) through the reader it was found in (the steps of the fuzz
/// target FuzzContainer, FuzzSafetensors or FuzzNumpy), on a thread with a
/// 512 KiB stack (Darwin's secondary-thread default).
///
/// A fixture named `<what>.<outcome>.<ext>` (`ext`: brine, safetensors, npy,
/// npz) must open and load cleanly (`ok`) or fail on open or load with that
/// `BrineError` code; other names (raw libFuzzer `crash-<sha1>` files) only
/// need to end without a crash, and every error must say where.
@Suite("Fuzz and hostile-input regressions")
struct FuzzRegressionTests {
    static let fixtures = repositoryRoot.appendingPathComponent("Tests/BrineTests/Fixtures")

    static var inputs: [String] {
        let fm = FileManager.default
        var out: [String] = []
        for sub in ["hostile", "fuzz"] {
            guard let e = fm.enumerator(atPath: fixtures.appendingPathComponent(sub).path) else { continue }
            while let f = e.nextObject() as? String {
                if (f as NSString).lastPathComponent.hasPrefix(".") { continue }
                var isDir: ObjCBool = false
                if fm.fileExists(atPath: fixtures.appendingPathComponent(sub).appendingPathComponent(f).path, isDirectory: &isDir), !isDir.boolValue {
                    out.append(sub + "/" + f)
                }
            }
        }
        return out.sorted()
    }

    @Test("the fixture folder holds the known regressions")
    func fixturesPresent() {
        #expect(Self.inputs.contains("hostile/deep-256-lists.ok.brine"))
        #expect(Self.inputs.contains("hostile/deep-257-lists.limitExceeded.brine"))
    }

    /// The reader a fixture is for: by its extension (`.brine`,
    /// `.safetensors`, `.npy`, `.npz`), else by its folder
    /// (`fuzz/FuzzSafetensors`, `fuzz/FuzzNumpy`, anything else: the container).
    enum Reader { case container, safetensors, npy, npz, numpy }

    static func reader(for name: String) -> Reader {
        switch (name as NSString).pathExtension {
        case "brine": return .container
        case "safetensors": return .safetensors
        case "npy": return .npy
        case "npz": return .npz
        default:
            if name.hasPrefix("fuzz/FuzzSafetensors/") { return .safetensors }
            if name.hasPrefix("fuzz/FuzzNumpy/") { return .numpy }
            return .container
        }
    }

    @Test("every committed hostile input ends in data or a typed error, without a crash", arguments: inputs)
    func replay(_ name: String) throws {
        let bytes = [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent(name)))
        let reader = Self.reader(for: name)
        let outcome = UncheckedBox<[BrineError?]>([])
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            // The first result is the strict one (all checksums on) that a name's outcome refers to.
            switch reader {
            case .container:
                outcome.value = Self.replayContainer(bytes)
            case .safetensors:
                outcome.value = [Self.replaySafetensors(bytes)]
            case .npy:
                outcome.value = [Self.replayNpy(bytes)]
            case .npz:
                outcome.value = [Self.replayNpz(bytes, verifyCRC: true), Self.replayNpz(bytes, verifyCRC: false)]
            case .numpy:
                outcome.value = [Self.replayNpy(bytes), Self.replayNpz(bytes, verifyCRC: true), Self.replayNpz(bytes, verifyCRC: false)]
            }
            done.signal()
        }
        thread.stackSize = 512 << 10
        thread.start()
        done.wait()
        for e in outcome.value.compactMap({ $0 }) {
            #expect(saysWhere(e), "\(name): \(e)")
        }
        // Named fixtures state their outcome (with checksums on).
        let parts = (name as NSString).lastPathComponent.split(separator: ".")
        if parts.count >= 3, ["brine", "safetensors", "npy", "npz"].contains(parts.last!) {
            let expected = String(parts[parts.count - 2])
            let got = outcome.value.first ?? nil
            if expected == "ok" {
                #expect(got == nil, "\(name): \(String(describing: got))")
            } else {
                #expect(got?.code.name == expected, "\(name): \(String(describing: got))")
            }
        }
    }

    /// The FuzzContainer steps, strict then lax.
    static func replayContainer(_ bytes: [UInt8]) -> [BrineError?] {
        var results: [BrineError?] = []
        for strict in [true, false] {
            var o = ReadOptions()
            o.threads = 1
            o.limits.maxAllocationBytes = 64 << 20
            o.limits.maxChunkBytes = 16 << 20
            if !strict { o.verifyHeader = false; o.verifyChecksums = false }
            let r = openAndLoad(bytes, options: o)
            _ = r.file?.root.description
            results.append(r.error)
        }
        return results
    }

    /// The caps FuzzSafetensors and FuzzNumpy read with.
    static func interopOptions(verifyCRC: Bool = true) -> InteropReadOptions {
        var o = InteropReadOptions()
        o.threads = 1
        o.limits.maxAllocationBytes = 64 << 20
        o.verifyZipChecksums = verifyCRC
        return o
    }

    /// Opens a safetensors file in memory and loads every tensor; a tensor
    /// must hold exactly the file's bytes at its offset.
    static func replaySafetensors(_ bytes: [UInt8]) -> BrineError? {
        do {
            let f = try typedThrows { try bytes.withUnsafeBytes { try SafetensorsFile(bytes: $0, options: interopOptions()) } }
            for (name, t) in try f.loadAll() {
                let e = f.entry(name)!
                #expect(t.storage.bytes.elementsEqual(bytes[e.fileOffset ..< e.fileOffset + e.byteCount]), "tensor \(name)")
            }
            return nil
        } catch {
            return error
        }
    }

    /// Reads a `.npy` in memory.
    static func replayNpy(_ bytes: [UInt8]) -> BrineError? {
        do {
            _ = try typedThrows { try bytes.withUnsafeBytes { try Npy.read(bytes: $0, options: interopOptions()) } }
            return nil
        } catch {
            return error
        }
    }

    /// Opens a `.npz` in memory and loads every member.
    static func replayNpz(_ bytes: [UInt8], verifyCRC: Bool) -> BrineError? {
        do {
            let f = try typedThrows { try bytes.withUnsafeBytes { try NpzFile(bytes: $0, options: interopOptions(verifyCRC: verifyCRC)) } }
            _ = try f.loadAll()
            return nil
        } catch {
            return error
        }
    }
}
