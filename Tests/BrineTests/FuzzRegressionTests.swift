import Foundation
import Testing
@testable import Brine

/// Replays every committed hostile input (Tests/BrineTests/Fixtures/hostile
/// and Tests/BrineTests/Fixtures/fuzz/<Target>, the inputs that once crashed
/// a reader) through the same steps as the FuzzContainer target, on a
/// thread with a 512 KiB stack (Darwin's secondary-thread default).
///
/// A fixture named `<what>.<outcome>.brine` must open and load cleanly
/// (`ok`) or fail on open or load with that `BrineError` code; other names
/// (raw libFuzzer `crash-<sha1>` files) only need to end without a crash.
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

    @Test("every committed hostile input ends in data or a typed error, without a crash", arguments: inputs)
    func replay(_ name: String) throws {
        let bytes = [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent(name)))
        let outcome = UncheckedBox<[BrineError?]>([])
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
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
            outcome.value = results
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
        if parts.count >= 3, parts.last == "brine" {
            let expected = String(parts[parts.count - 2])
            let got = outcome.value.first ?? nil
            if expected == "ok" {
                #expect(got == nil, "\(name): \(String(describing: got))")
            } else {
                #expect(got?.code.name == expected, "\(name): \(String(describing: got))")
            }
        }
    }
}
