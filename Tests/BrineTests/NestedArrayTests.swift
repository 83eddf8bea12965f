import Foundation
import Testing
@testable import Brine

struct NestedModel: Codable, Equatable {
    var floats: [[Float]]
    var doubles: [[[Double]]]
    var ints: [[Int32]]
    var halves: [[Float16]]
    var bools: [[Bool]]
    var bytes: [[UInt8]]
    var contiguous: [ContiguousArray<Int64>]
    var outerContiguous: ContiguousArray<[UInt16]>
    var optionalRows: [[Float]]?
    var empty: [[Float]]
    var emptyRows: [[Double]]
    var deepEmpty: [[[Float]]]

    static func make(rows: Int, cols: Int, ragged: Bool) -> NestedModel {
        func len(_ i: Int) -> Int { ragged ? (i * 7) % (cols + 1) : cols }
        return NestedModel(
            floats: (0 ..< rows).map { r in (0 ..< len(r)).map { Float(r) * 1000 + Float($0) } },
            doubles: (0 ..< 3).map { a in (0 ..< (ragged ? a + 1 : 2)).map { b in (0 ..< len(a + b)).map { Double(a * 100 + b * 10) + Double($0) * 0.5 } } },
            ints: (0 ..< rows).map { r in (0 ..< len(r + 1)).map { Int32(truncatingIfNeeded: r &* 31 &+ $0) } },
            halves: (0 ..< 4).map { r in (0 ..< len(r)).map { Float16(Float($0) * 0.25) } },
            bools: (0 ..< 5).map { r in (0 ..< len(r + 2)).map { ($0 + r) % 3 == 0 } },
            bytes: (0 ..< 6).map { r in (0 ..< len(r)).map { UInt8(truncatingIfNeeded: $0 * 3 + r) } },
            contiguous: (0 ..< 3).map { r in ContiguousArray((0 ..< len(r)).map { Int64($0) - 5 }) },
            outerContiguous: ContiguousArray((0 ..< rows).map { r in (0 ..< len(r)).map { UInt16(truncatingIfNeeded: r * 7 + $0) } }),
            optionalRows: ragged ? nil : [[1, 2], [3, 4]],
            empty: [], emptyRows: [[], [], []], deepEmpty: [[], [[]], [[], [1]]])
    }
}

@Suite("Nested numeric arrays (issue 10)")
struct NestedArrayTests {
    @Test("a 1000×1000 [[Float]] is one out-of-line 2-D array; the header stays small", arguments: [LoadMode.copy, .mmap])
    func bigRectangular(mode: LoadMode) throws {
        struct Grid: Codable, Equatable { var grid: [[Float]] }
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("g.brine")
        let g = Grid(grid: (0 ..< 1000).map { r in (0 ..< 1000).map { Float(r * 1000 + $0) } })
        try Brine.save(g, to: url)
        let file = try BrineFile(contentsOf: url)
        #expect(file.arrays.map(\.path) == ["grid"])
        #expect(file.arrays.first?.shape == [1000, 1000])
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! Int
        #expect(size - 4_000_000 < 4096)  // header, trailer and padding
        #expect(try Brine.load(Grid.self, from: url, mode: mode) == g)
        // Rows of 1,025 floats: still one array, not 1,000.
        let wide = Grid(grid: (0 ..< 1000).map { r in (0 ..< 1025).map { Float(r + $0) } })
        try Brine.save(wide, to: url)
        #expect(try BrineFile(contentsOf: url).arrays.map(\.shape) == [[1000, 1025]])
        #expect(try Brine.load(Grid.self, from: url, mode: mode) == wide)
        // A tensor of rank 2 decodes as [[Float]] too.
        struct AsTensor: Codable { var grid: Tensor<Float> }
        #expect(try Brine.load(AsTensor.self, from: url).grid.shape == [1000, 1025])
    }

    @Test("ragged arrays are one flat array plus row lengths", arguments: [LoadMode.copy, .mmap])
    func ragged(mode: LoadMode) throws {
        struct Rows: Codable, Equatable { var rows: [[Float]]; var cube: [[[Double]]] }
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("r.brine")
        let m = Rows(rows: (0 ..< 1000).map { r in (0 ..< (r % 5) * 300).map { Float(r) + Float($0) } },
                     cube: (0 ..< 40).map { a in (0 ..< a % 4).map { b in (0 ..< (a + b) % 9 * 20).map { Double(a * b + $0) } } })
        try Brine.save(m, to: url)
        let file = try BrineFile(contentsOf: url)
        #expect(Set(file.arrayPaths) == ["rows.values", "rows.lengths.0", "cube.values"])
        #expect(file.info("rows.lengths.0")?.dtype == .int64)
        #expect(try Brine.load(Rows.self, from: url, mode: mode) == m)
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! Int
        let data = file.arrays.reduce(0) { $0 + $1.storedBytes }
        #expect(size - data < 8192)
    }

    @Test("every nested shape round-trips exactly, inline and out of line",
          arguments: [0, 4096, Int.max], [false, true])
    func roundTrip(threshold: Int, ragged: Bool) throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("n.brine")
        for (rows, cols) in [(0, 0), (1, 0), (3, 5), (40, 300)] {
            let m = NestedModel.make(rows: rows, cols: cols, ragged: ragged)
            try Brine.save(m, to: url, options: SaveOptions(inlineThreshold: threshold))
            for mode in [LoadMode.copy, .mmap] {
                let back = try Brine.load(NestedModel.self, from: url, mode: mode)
                #expect(back == m, "rows \(rows) cols \(cols) threshold \(threshold) ragged \(ragged) \(mode)")
            }
            #expect(try BrineDecoder().decode(NestedModel.self, from: BrineEncoder().encode(m), arrays: []) == m)
        }
    }

    @Test("weights-only: a nested array is one weight and loads into a fresh model", arguments: [LoadMode.copy, .mmap])
    func weights(mode: LoadMode) throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("w.brine")
        let m = NestedModel.make(rows: 3, cols: 5, ragged: false)
        try Brine.saveWeights(of: m, to: url)
        #expect(try BrineFile(contentsOf: url).info("floats")?.shape == [3, 5])
        var fresh = NestedModel.make(rows: 3, cols: 5, ragged: false)
        fresh.floats = fresh.floats.map { $0.map { _ in 0 } }
        fresh.ints = fresh.ints.map { $0.map { _ in 0 } }
        #expect(try Brine.loadWeights(into: &fresh, from: url, mode: mode).isComplete)
        #expect(fresh == m)
    }

    @Test("100,000 empty rows keep the header small")
    func manyEmptyRows() throws {
        struct E: Codable, Equatable { var rows: [[Float]] }
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("e.brine")
        let m = E(rows: Array(repeating: [], count: 100_000))
        try Brine.save(m, to: url)
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! Int
        #expect(size < 4096)
        #expect(try Brine.load(E.self, from: url) == m)
    }

    @Test("hostile nested arrays are DecodingErrors, never a crash or a huge allocation")
    func hostile() throws {
        struct G: Codable { var grid: [[Float]] }
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("h.brine")
        func write(_ root: (Int) -> Value, shape: [Int]) throws {
            let w = try BrineWriter(url: url)
            let i = try w.append(bytes: UnsafeRawBufferPointer(start: nil, count: 0), dtype: .float32, shape: shape, arrayPath: "a")
            try w.finish(root: root(i))
        }
        // 2^40 empty rows.
        try write({ ["grid": .arrayRef($0)] }, shape: [1 << 40, 0])
        do { _ = try Brine.load(G.self, from: url); Issue.record("no error") } catch let e as BrineError { #expect(e.code == .modelMismatch && e.cause is DecodingError, "\(e)") }
        // Wrong rank.
        try write({ ["grid": .arrayRef($0)] }, shape: [0])
        do { _ = try Brine.load(G.self, from: url); Issue.record("no error") } catch let e as BrineError { #expect(e.code == .modelMismatch && e.cause is DecodingError, "\(e)") }
        // Ragged lengths that do not add up, negative, or of the wrong count.
        for lengths: Value in [[[2, 5]], [[-1, 1]], [], [[0], [0]]] {
            try write({ _ in ["grid": ["values": [1.0, 2.0] as Value, "lengths": lengths]] }, shape: [0])
            do { _ = try Brine.load(G.self, from: url); Issue.record("no error") } catch let e as BrineError { #expect(e.code == .modelMismatch && e.cause is DecodingError, "\(e)") }
        }
        try write({ _ in ["grid": ["values": [1.0, 2.0] as Value, "lengths": [[1, 0, 1]]]] }, shape: [0])
        #expect(try Brine.load(G.self, from: url).grid == [[1], [], [2]])
    }
}
