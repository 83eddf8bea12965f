import Foundation
import Testing
@testable import Brine

/// Runs `body`, which must throw a ``BrineError`` `.modelMismatch`, and
/// returns the `DecodingError` it wraps (`nil`, with a recorded issue, otherwise).
func modelMismatch(_ body: () throws -> Void) -> DecodingError? {
    do {
        try body()
        Issue.record("no error thrown")
    } catch let e as BrineError {
        #expect(e.code == .modelMismatch, "\(e)")
        guard let d = e.cause as? DecodingError else {
            Issue.record("no underlying DecodingError: \(e)")
            return nil
        }
        return d
    } catch {
        Issue.record("not a BrineError: \(error)")
    }
    return nil
}

/// Issue 9, part 5: errors say what went wrong wherever Swift prints them.
@Suite("Error reporting")
struct ErrorReportingTests {
    @Test("localizedDescription and NSError bridging show the real message of every code", arguments: BrineError.Code.allCodes)
    func localizedDescription(code: BrineError.Code) {
        let e = BrineError(code, "something specific went wrong", filePath: "/tmp/m.brine", arrayPath: "layers.0.weight", chunkIndex: 3, byteOffset: 4096)
        let text = e.localizedDescription
        #expect(!text.contains("could not be completed"), "\(text)")
        #expect(text == e.description)
        #expect(text.contains(code.name) && text.contains("something specific went wrong")
                && text.contains("layers.0.weight") && text.contains("chunk 3") && text.contains("/tmp/m.brine"))
        let ns = e as NSError
        #expect(ns.domain == "Brine.BrineError")
        #expect(ns.code == BrineError.Code.allCodes.firstIndex(of: code)! + 1)
        #expect(ns.localizedDescription == e.description)
        #expect(ns.userInfo[NSFilePathErrorKey] as? String == "/tmp/m.brine")
        #expect(ns.userInfo["BrineArrayPath"] as? String == "layers.0.weight")
        #expect(ns.userInfo["BrineChunkIndex"] as? Int == 3)
    }

    @Test("an error thrown by a real failing load prints its code, file and array")
    func realErrorPrints() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("missing.brine")
        do {
            _ = try Brine.load(MLP.self, from: url)
            Issue.record("loaded a missing file")
        } catch {
            // As a user's generic `catch` would print it.
            #expect(error.localizedDescription.hasPrefix("notFound: "), "\(error.localizedDescription)")
            #expect(error.localizedDescription.contains(url.path))
        }
    }

    @Test("the error codes' NSError numbers are stable and distinct")
    func errorCodes() {
        let numbers = BrineError.Code.allCodes.map { BrineError($0, "x").errorCode }
        #expect(numbers == Array(1 ... BrineError.Code.allCodes.count))
        #expect(BrineError(.invalidArgument, "x").errorCode == 1)
        #expect(BrineError(.checksumMismatch, "x").errorCode == 8)
    }

    struct Wrong: Codable { var name: String; var layers: [Int] }

    @Test("loading into the wrong type names the file, the stored root type and the missing key")
    func wrongType() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let url = dir.appendingPathComponent("mlp.brine")
        try Brine.save(MLP.make([8, 4], seed: 2), to: url)
        for mode in [LoadMode.copy, .mmap, .mmapCopyOnWrite] {
            do {
                _ = try Brine.load(Wrong.self, from: url, mode: mode)
                Issue.record("loaded an MLP as Wrong")
            } catch let e as BrineError {
                #expect(e.code == .modelMismatch)
                #expect(e.filePath == url.path)
                #expect(e.message.contains("BrineTests.MLP"), "\(e.message)")
                #expect(e.message.contains("brine.root_type"))
                #expect(e.message.contains("ErrorReportingTests.Wrong"))
                #expect(e.message.contains("'name'"))
                #expect(e.localizedDescription.contains(url.path))
                guard case .keyNotFound(let key, _)? = e.cause as? DecodingError else {
                    Issue.record("underlying: \(String(describing: e.cause))")
                    continue
                }
                #expect(key.stringValue == "name")
                #expect(((e as NSError).userInfo[NSUnderlyingErrorKey]) != nil)
            }
        }
        // The other entry points that decode a file: Brine.open and BrineDecoder.decode(_:from:).
        #expect(modelMismatch { _ = try Brine.open(Wrong.self, from: url) } != nil)
        let file = try BrineFile(contentsOf: url)
        #expect(modelMismatch { _ = try BrineDecoder().decode(Wrong.self, from: file) } != nil)
    }
}
