import Foundation
import Testing
@testable import Brine

@Suite("BoundedBytes: the one handle chunk jobs and byte sources address bytes through")
struct BoundedBytesTests {
    @Test("offsets are taken from the origin: a buffer standing for bytes 100 ..< 108 of an array")
    func addressedFromOrigin() {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
        defer { storage.deallocate() }
        for i in 0 ..< 8 { storage[i] = UInt8(i) }
        let handle = BoundedBytes(storage, origin: 100)
        #expect(handle.range == 100 ..< 108)
        #expect(Array(handle.bytes(at: 102, count: 3)) == [2, 3, 4])
        #expect(Array(handle.bytes(104 ..< 108)) == [4, 5, 6, 7])
        #expect(handle.bytes(at: 108, count: 0).count == 0)
        handle.mutableBytes(at: 107, count: 1)[0] = 70
        #expect(storage[7] == 70)
    }

    @Test("a chunk's decoded range follows the stored dtype's chunk size: float16 chunks widened to float32")
    func decodedRangeOfNarrowedChunks() throws {
        let a = ArrayInfo(
            path: "w", dtype: .float32, storedDType: .float16, shape: [5], codec: .none, filter: .none,
            alignment: 64, dataOffset: 64, chunkBytes: 4,
            chunks: [.init(offset: 64, storedBytes: 4, checksum: 0, isRaw: false),
                     .init(offset: 68, storedBytes: 4, checksum: 0, isRaw: false),
                     .init(offset: 72, storedBytes: 2, checksum: 0, isRaw: false)],
            count: 5, storedRawBytes: 10, storedBytes: 10)
        // 2 elements per 4-byte float16 chunk, 8 bytes each once widened; the last holds one.
        #expect((0 ..< 3).map { a.decodedRange(ofChunk: $0) } == [0 ..< 8, 8 ..< 16, 16 ..< 20])
    }

    #if DEBUG
    @Test("a range outside the buffer traps in a debug build instead of reading beside it")
    func outOfBoundsTraps() async {
        await #expect(processExitsWith: .failure) {
            let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
            _ = BoundedBytes(storage, origin: 100).bytes(at: 104, count: 5)
        }
        await #expect(processExitsWith: .failure) {
            let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
            _ = BoundedBytes(storage, origin: 100).bytes(at: 99, count: 1)
        }
        await #expect(processExitsWith: .failure) {
            let storage = UnsafeRawBufferPointer(UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8))
            _ = BoundedBytes(storage).mutableBytes(at: 0, count: 1)
        }
    }
    #endif
}
