import CBrineKernels
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Appends to a file so that the kernel sees few, large, page-aligned
/// writes: small pieces (arrays and chunks under 2 MiB, padding, the header)
/// are copied into a 4 MiB staging buffer; large pieces go straight from the
/// caller's memory to the file with `pwrite(2)`, after their first bytes up
/// to the next page boundary are staged and flushed, with their last partial
/// page staged for the next write.
///
/// The page cache builds large folios only for large writes. A file of many
/// arrays at 64-byte offsets, written array by array in pieces of odd sizes,
/// otherwise costs ~20% more kernel time than one `write(2)` of the same
/// bytes (measured on MiniLM's 104 arrays, ext4, Linux 6.18); the staging
/// copies only the small arrays and a page at the ends of large ones.
///
/// Writing to a file, the writer allocates the file's blocks ahead of the
/// writes with `fallocate(2)` (`FALLOC_FL_KEEP_SIZE`), as `np.save` does:
/// every write then lands in allocated (unwritten) extents, so the page
/// cache skips the delayed-allocation reservation of each page, the file
/// gets few, large extents, and ext4's `auto_da_alloc` finds nothing to
/// flush when the finished file is renamed over an existing one. Best
/// effort: a file system without `fallocate` just gets the writes.
///
/// Writes must be appends: each at or after the end of the previous one; a
/// gap is filled with zeros. Nothing reaches the file before ``flush()``
/// except the large direct writes and full stages. Not thread-safe.
final class StagedFileWriter {
    private let fd: FileDescriptor?
    /// The sequential sink written instead of `fd` (memory, a pipe, a socket).
    private let sink: (any BrineByteSink)?
    /// The bytes handed to `sink` so far (its next write's file offset).
    private var sinkOffset = 0
    private let path: String?
    private let stage: UnsafeMutableRawBufferPointer
    /// The file offset of `stage[0]`; always a multiple of the page size
    /// (the writer starts at offset 0).
    private var stageOffset = 0
    /// The number of staged bytes.
    private var stageCount = 0
    /// The file's blocks are allocated through this offset (``preallocate(through:)``).
    private var preallocatedEnd = 0
    /// Whether to call `fallocate(2)`: a file, preallocation on
    /// (``WriteTuning/preallocates``), and the file system has not refused it.
    private var preallocates: Bool

    /// Start writeback of what is written every this many bytes
    /// (``startsWritebackEarly``), 0 for never (the default).
    var writebackStep = 0
    /// Writeback was started for the bytes before this offset.
    private var writebackStart = 0

    /// Pieces at least this large go straight to the file.
    static let directThreshold = 64 << 10
    /// The staging buffer size (a multiple of any page size).
    static let stageBytes = 4 << 20
    private static let page = Syscall.pageSize

    /// The logical end of the file: everything written so far, staged or not.
    var end: Int { stageOffset + stageCount }

    init(fd: FileDescriptor, path: String?) {
        self.fd = fd
        self.sink = nil
        self.path = path
        self.preallocates = WriteTuning.preallocates
        self.stage = .allocate(byteCount: StagedFileWriter.stageBytes, alignment: 4096)
    }

    /// Writes to a sequential sink: every write is an append, so the pieces
    /// reach `sink` in file order, gaps as zero bytes.
    init(sink: any BrineByteSink, path: String?) {
        self.fd = nil
        self.sink = sink
        self.path = path
        self.preallocates = false
        self.stage = .allocate(byteCount: StagedFileWriter.stageBytes, alignment: 4096)
    }

    deinit { stage.deallocate() }

    /// Writes `bytes` at `offset` (≥ ``end``; the gap is zero-filled).
    /// - Throws: ``BrineError`` `.io` with the `errno` of `pwrite(2)`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(BrineError) {
        precondition(offset >= end, "StagedFileWriter writes must append")
        try zeroFill(offset - end)
        var src = bytes
        while !src.isEmpty {
            if src.count >= StagedFileWriter.directThreshold {
                // Stage the bytes up to the next page boundary, flush, then
                // write whole pages directly and stage the remainder.
                let a = StagedFileWriter.page
                let toBoundary = (a - end % a) % a
                if toBoundary > 0 {
                    src = try copyIn(src, upTo: toBoundary)
                }
                // The stage now ends on a page boundary. Its pages and the
                // piece's whole pages go out as one write: writing the staged
                // page on its own made each large piece start one page past
                // the stage's (2 MiB-aligned) offset, and the page cache then
                // built small folios for the first half of every 4 MiB, so a
                // mapping of the file faulted in 16 pages at a time there
                // instead of 2 MiB (mmap + touch of a 1 GiB array 22.6 ms,
                // against 4.2 ms for the same bytes written by np.save).
                let whole = src.count / a * a
                if whole > 0 {
                    try pwrite(UnsafeRawBufferPointer(rebasing: stage[0 ..< stageCount]), then: UnsafeRawBufferPointer(rebasing: src[0 ..< whole]), at: stageOffset)
                    stageOffset += stageCount + whole
                    stageCount = 0
                    src = UnsafeRawBufferPointer(rebasing: src[whole...])
                } else {
                    try flush()
                }
                if !src.isEmpty { src = try copyIn(src, upTo: src.count) }
            } else {
                src = try copyIn(src, upTo: src.count)
            }
        }
    }

    /// Allocates the file's blocks from what is already allocated through
    /// `end` (exclusive), without changing the file's size, so that the
    /// writes up to `end` land in allocated extents. Call it with what the
    /// writer knows it will write (a whole array before its first write);
    /// every write also preallocates its own range. Best effort: errors are
    /// ignored (a full disk fails the write itself), and after `EOPNOTSUPP`
    /// the writer stops trying. No effect on a sink.
    func preallocate(through end: Int) {
        guard preallocates, end > preallocatedEnd, let fd else { return }
        // Allocate ahead (up to `preallocationStep` past `end`), so that a
        // file of many small arrays costs a few calls, not one per array;
        // ``releasePreallocation(past:)`` frees what the file did not use.
        let ahead = Swift.min(Swift.max(preallocatedEnd, 4 << 20), StagedFileWriter.preallocationStep)
        let target = Swift.max(end, preallocatedEnd + ahead)
        guard case .success = Syscall.preallocateKeepingSize(fd, offset: preallocatedEnd, length: target - preallocatedEnd) else {
            // No fallocate here, or no space to allocate ahead: write without.
            preallocates = false
            return
        }
        preallocatedEnd = target
    }

    /// Frees the blocks preallocated past `fileLength` (the finished file's
    /// size), so that the file holds no more blocks than its bytes need.
    /// Best effort: `ftruncate(2)` to the same size frees them on ext4
    /// (which ignores a hole punched past the end of a file); punching the
    /// range frees them on file systems that keep them through a truncate.
    func releasePreallocation(past fileLength: Int) {
        guard let fd, preallocatedEnd > fileLength else { return }
        _ = try? fd.resize(to: Int64(fileLength))
        Syscall.releaseBlocks(fd, past: fileLength, byteCount: preallocatedEnd - fileLength)
        preallocatedEnd = fileLength
    }

    /// Starts writeback (`sync_file_range(2)`, `SYNC_FILE_RANGE_WRITE`) of
    /// the whole pages written since the last start, once there are at least
    /// ``writebackStep`` bytes of them. For a durable save: the device writes
    /// the file while the writer is still copying the rest into the page
    /// cache, so the final `fsync` waits for little more than the last
    /// step, instead of the writes and the device's work adding up. Best
    /// effort: an error (a file system without it) stops the calls; the
    /// final `fsync` decides durability either way.
    private func startWriteback(upTo end: Int, fd: FileDescriptor) {
        let pageEnd = end / StagedFileWriter.page * StagedFileWriter.page
        guard pageEnd - writebackStart >= writebackStep else { return }
        if brine_start_writeback(fd.rawValue, Int64(writebackStart), Int64(pageEnd - writebackStart)) != 0 {
            writebackStep = 0
            return
        }
        writebackStart = pageEnd
    }

    /// The most ``preallocate(through:)`` allocates ahead: as much again as
    /// is allocated already, at least 4 MiB, at most this (64 MiB).
    static let preallocationStep = 64 << 20

    /// Writes every staged byte to the file.
    /// - Throws: ``BrineError`` `.io`.
    func flush() throws(BrineError) {
        guard stageCount > 0 else { return }
        try pwrite(UnsafeRawBufferPointer(rebasing: stage[0 ..< stageCount]), at: stageOffset)
        if sink != nil {
            // A sequential sink cannot take a page again: nothing carries over.
            stageOffset += stageCount
            stageCount = 0
            return
        }
        // Keep the stage's file offset page-aligned: carry a partial last page over.
        let whole = stageCount / StagedFileWriter.page * StagedFileWriter.page
        let rest = stageCount - whole
        if rest > 0 && whole > 0 {
            stage.baseAddress!.copyMemory(from: stage.baseAddress! + whole, byteCount: rest)
        }
        stageOffset += whole
        stageCount = rest
    }

    /// Copies up to `limit` bytes of `src` into the stage (flushing it when
    /// full) and returns the rest.
    private func copyIn(_ src: UnsafeRawBufferPointer, upTo limit: Int) throws(BrineError) -> UnsafeRawBufferPointer {
        var src = src
        var left = Swift.min(limit, src.count)
        while left > 0 {
            if stageCount == stage.count { try flushFull() }
            let n = Swift.min(left, stage.count - stageCount)
            (stage.baseAddress! + stageCount).copyMemory(from: src.baseAddress!, byteCount: n)
            stageCount += n
            left -= n
            src = UnsafeRawBufferPointer(rebasing: src[n...])
        }
        return src
    }

    private func zeroFill(_ count: Int) throws(BrineError) {
        var left = count
        while left > 0 {
            if stageCount == stage.count { try flushFull() }
            let n = Swift.min(left, stage.count - stageCount)
            (stage.baseAddress! + stageCount).initializeMemory(as: UInt8.self, repeating: 0, count: n)
            stageCount += n
            left -= n
        }
    }

    /// Flushes a full stage (which ends page-aligned, so nothing carries over).
    private func flushFull() throws(BrineError) {
        try pwrite(UnsafeRawBufferPointer(stage), at: stageOffset)
        stageOffset += stageCount
        stageCount = 0
    }

    /// Writes `first` then `second` from `offset`: one `pwritev(2)` to a
    /// file (so the kernel sees one write), two appends to a sink.
    private func pwrite(_ first: UnsafeRawBufferPointer, then second: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0), at offset: Int) throws(BrineError) {
        let total = first.count + second.count
        if let fd {
            if preallocates && offset + total > preallocatedEnd { preallocate(through: offset + total) }
            try fd.pwritevFully(first, second, at: Int64(offset)).orThrow("write", path: path)
            if writebackStep > 0 { startWriteback(upTo: offset + total, fd: fd) }
            return
        }
        // Appends only (see the type's contract), so a sink sees the file in order.
        precondition(offset == sinkOffset, "StagedFileWriter: a sequential sink got a write out of order")
        for bytes in [first, second] where !bytes.isEmpty {
            do {
                try sink!.write(bytes)
            } catch {
                throw error.inFile(path)
            }
            sinkOffset += bytes.count
        }
    }
}
