#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

extension ShardIndex {
    /// Reads and parses the index file at `url`: a regular file (symlinks
    /// followed) of at most ``maxIndexBytes``, opened without blocking (a
    /// FIFO or a device such as `/dev/zero` is refused, never read without end).
    /// - Throws: ``BrineError`` `.notFound` (missing or unreadable),
    ///   `.invalidArgument` (not a regular file), `.limitExceeded` (over
    ///   ``maxIndexBytes``), `.io` (a read error), and the errors of
    ///   ``init(parsing:path:)``.
    public init(contentsOf url: URL) throws(BrineError) {
        try self.init(parsing: try Self.readIndexBytes(url.path), path: url.path)
    }

    /// The arrays the index places in `shard`, in the index's order, with
    /// their entries in the shard's header. The index and the shard must
    /// agree both ways: a path the index lists there that the shard lacks
    /// cannot be loaded, and an array the shard holds that the index does
    /// not place there would be left out without a word.
    /// - Parameters:
    ///   - shard: the shard's file name, as the index spells it.
    ///   - arrays: the shard header's array table.
    ///   - info: the shard's lookup of a path (aliases included).
    ///   - path: the index's path or URL, for errors.
    /// - Throws: ``BrineError`` `.corruptHeader` when they disagree.
    package func placedArrays(in shard: String, arrays: [ArrayInfo], info: (String) -> ArrayInfo?, path: String) throws(BrineError) -> (paths: [String], infos: [ArrayInfo]) {
        let paths = weightMap.filter { $0.shard.isSameName(as: shard) }.map(\.path)
        var infos: [ArrayInfo] = []
        infos.reserveCapacity(paths.count)
        for p in paths {
            guard let i = info(p) else {
                throw BrineError(.corruptHeader, "the shard index lists '\(p)' in \(shard), which has no such array", filePath: path, arrayPath: p)
            }
            infos.append(i)
        }
        let placed = Set(paths.map(ExactName.init))  // by code points, as the shard names arrays
        if let extra = arrays.first(where: { !placed.contains(ExactName($0.path)) }) {
            throw BrineError(.corruptHeader, "\(shard) holds the array '\(extra.path)', which the shard index does not place in it: loading by the index would leave it out", filePath: path, arrayPath: extra.path)
        }
        return (paths, infos)
    }

    /// The bytes of the index file at `path`, bounded by ``maxIndexBytes``.
    static func readIndexBytes(_ path: String) throws(BrineError) -> [UInt8] {
        let (fd, size) = try RegularFile.openForReading(path, what: "the shard index")
        defer { close(fd) }
        guard size <= maxIndexBytes else {
            throw BrineError(.limitExceeded, "shard index of \(size) bytes is over the cap of \(maxIndexBytes)", filePath: path)
        }
        // One byte more than its size, to notice a file growing meanwhile.
        var bytes = [UInt8](repeating: 0, count: size + 1)
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { b in read(fd, b.baseAddress! + filled, b.count - filled) }
            if n < 0 {
                if errno == EINTR { continue }
                let e = errno
                throw BrineError(.io, "cannot read the shard index", filePath: path, errno: e)
            }
            if n == 0 { break }
            filled += n
        }
        guard filled <= size else {
            throw BrineError(.io, "the shard index grew while it was read", filePath: path)
        }
        return Array(bytes[0 ..< filled])
    }
}
