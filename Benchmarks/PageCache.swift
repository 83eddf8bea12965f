import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Evicting a file from the page cache for the cold-load rows (issue 12,
/// target 6), the same way compare.py does it for the Python rows: `fsync(2)`
/// so that no page is dirty, then `posix_fadvise(POSIX_FADV_DONTNEED)` over
/// the whole file, then `mincore(2)` over a mapping of the file to check how
/// many of its pages are still resident.
enum PageCache {
    /// Writes back and drops the pages of the file at `path`; returns the
    /// fraction (0…1) of its pages still resident afterwards, or nil when the
    /// file cannot be opened or mapped (an empty file: 0).
    @discardableResult
    static func evict(_ path: String) -> Double? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        _ = fsync(fd)
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
        return residentFraction(fd)
    }

    /// The fraction (0…1) of the pages of the open file `fd` that are in the
    /// page cache, from `mincore(2)` over a read-only shared mapping.
    static func residentFraction(_ fd: Int32) -> Double? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        let size = Int(st.st_size)
        if size == 0 { return 0 }
        guard let base = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), base != MAP_FAILED else { return nil }
        defer { munmap(base, size) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let pages = (size + page - 1) / page
        var vec = [UInt8](repeating: 0, count: pages)
        guard mincore(base, size, &vec) == 0 else { return nil }
        let resident = vec.reduce(0) { $0 + Int($1 & 1) }
        return Double(resident) / Double(pages)
    }
}
