import Foundation

/// A private folder under the system's temporary directory, for work files
/// that never outlive one call (a `.keras` member extracted for libhdf5,
/// shards written before their upload). The caller removes it with
/// ``remove()``, normally in a `defer` right after creating it.
package struct TemporaryFolder: Sendable {
    /// The folder's file URL.
    package let url: URL

    /// Creates `<temporary directory>/<prefix>-<UUID>` (the UUID makes the
    /// name unique; the folder must not exist yet).
    /// - Throws: ``BrineError`` `.io` (with the folder's path) when it cannot be created.
    package init(prefix: String) throws(BrineError) {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        } catch {
            throw BrineError(.io, "cannot create a temporary folder: \(error)", filePath: url.path)
        }
    }

    /// Deletes the folder and everything in it; a failure is ignored (the
    /// system's temporary directory is cleaned eventually).
    package func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}
