import Foundation
import Testing
@testable import Brine

#if canImport(Glibc)
import Glibc
#endif

@Suite("Errors with causes")
struct ErrorCauseTests {
    struct Foreign: Error, Sendable, CustomStringConvertible {
        var description: String { "foreign failure 42" }
    }

    @Test("errno values map to codes; the failed call is named")
    func errnoCodes() {
        let cases: [(Int32, BrineError.Code)] = [
            (ENOENT, .notFound), (EACCES, .permissionDenied), (EPERM, .permissionDenied), (EROFS, .permissionDenied),
            (ENOSPC, .resourceExhausted), (EDQUOT, .resourceExhausted), (EFBIG, .resourceExhausted), (EIO, .io), (EISDIR, .io),
        ]
        for (e, code) in cases {
            let error = BrineError.system("pwrite of the header", errno: e, path: "/x")
            #expect(error.code == code, "errno \(e)")
            #expect(error.systemCall == "pwrite")
            #expect(error.errno == e)
            #expect(error.description.contains("pwrite: errno \(e)"))
        }
    }

    @Test("a foreign error is kept as the cause, not flattened")
    func causeKept() {
        do throws(BrineError) {
            _ = try typedThrows { () throws -> Int in throw Foreign() }
            Issue.record("no error")
        } catch {
            #expect(error.code == .io)
            #expect(error.cause is Foreign)
            #expect(error.description.contains("caused by: foreign failure 42"))
        }
    }
}
