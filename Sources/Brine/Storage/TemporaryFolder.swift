import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A private folder under the system's temporary directory, for work files
/// that never outlive one call (a `.keras` member extracted for libhdf5,
/// shards written before their upload). The caller removes it with
/// ``remove()``, normally in a `defer` right after creating it.
package struct TemporaryFolder: Sendable {
    /// The folder's file URL.
    package let url: URL

    /// Creates `<temporary directory>/<prefix>-<UUID>` with permissions
    /// 0700 (its files hold model bytes: a downloaded model, extracted
    /// weights; no other user may list or read them), created in one call
    /// (`mkdir(2)` with the mode; the folder must not exist yet, so a folder
    /// or link planted at the name fails the call instead of being used).
    /// - Throws: ``BrineError`` `.io` (with the folder's path) when it cannot be created.
    package init(prefix: String) throws(BrineError) {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        guard mkdir(url.path, 0o700) == 0 else {
            throw BrineError.system("cannot create a temporary folder", errno: errno, path: url.path)
        }
        // mkdir's mode is masked by the umask; 0700 is never wider, but set
        // it exactly so that a umask of 0077 or 0 changes nothing.
        _ = chmod(url.path, 0o700)
    }

    /// Deletes the folder and everything in it; a failure is ignored (the
    /// system's temporary directory is cleaned eventually).
    package func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}
