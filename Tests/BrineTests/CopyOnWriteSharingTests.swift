import Foundation
import Testing
@testable import Brine

/// What `LoadMode.mmapCopyOnWrite` documents about two loads of the same
/// array: views of one open file share its private pages; separate opens
/// (and `.mmap`, `.copy`) do not.
@Suite("Copy-on-write loads and shared pages")
struct CopyOnWriteSharingTests {
    func savedFile() throws -> (URL, URL) {
        let dir = makeTemporaryDirectory("cow")
        let url = dir.appendingPathComponent("m.brine")
        let writer = try BrineWriter(url: url)
        try writer.append(try Tensor<Float>(shape: [1024], scalars: (0 ..< 1024).map(Float.init)), arrayPath: "w")
        try writer.finish(root: .map([("w", .arrayRef(0))]))
        return (dir, url)
    }

    @Test("two loads of one array from one copy-on-write BrineFile view the same pages: a write through one shows in the other, not on disk nor in another open")
    func sameFileSharesPages() throws {
        let (dir, url) = try savedFile()
        defer { removeTemporaryDirectory(dir) }
        let file = try BrineFile(contentsOf: url, mode: .mmapCopyOnWrite)
        var a: Tensor<Float> = try file.array("w")
        let b: Tensor<Float> = try file.array("w")
        #expect(a.isView && b.isView)
        a[flat: 3] = 99
        #expect(a.isView, "written in place, not copied")
        #expect(b[flat: 3] == 99, "the other load sees the write: same private pages")

        let other: Tensor<Float> = try BrineFile(contentsOf: url, mode: .mmapCopyOnWrite).array("w")
        #expect(other[flat: 3] == 3, "another open has its own private mapping")
        let onDisk: Tensor<Float> = try BrineFile(contentsOf: url).array("w")
        #expect(onDisk[flat: 3] == 3)
    }

    @Test("read-only mapped loads copy on the first write, so the other load keeps its values")
    func readOnlyMappingCopies() throws {
        let (dir, url) = try savedFile()
        defer { removeTemporaryDirectory(dir) }
        let file = try BrineFile(contentsOf: url, mode: .mmap)
        var a: Tensor<Float> = try file.array("w")
        let b: Tensor<Float> = try file.array("w")
        a[flat: 3] = 99
        #expect(!a.isView && b.isView && b[flat: 3] == 3)
    }
}
