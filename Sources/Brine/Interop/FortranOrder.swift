/// Conversion of Fortran-order (column-major) array data to C order
/// (row-major), as needed for `.npy` files with `fortran_order: True`.
///
/// For shape `(d0, d1, …, dk)`, Fortran order stores element `(i0, …, ik)`
/// at flat index `i0 + d0·(i1 + d1·(…))`; C order at `(…(i0·d1 + i1)·d2 …)`.
/// Viewing the Fortran data as a `R × d0` matrix (`R = d1·…·dk`, rows in
/// Fortran order of the remaining axes) and transposing it gives `d0` rows,
/// each the Fortran-order data of shape `(d1, …, dk)`; converting those rows
/// recursively gives C order. Each step is a cache-blocked 2-D transpose.
enum FortranOrder {
    /// Writes the C-order equivalent of the Fortran-order `src` into `dst`.
    /// - Parameters:
    ///   - src: `product(shape) * itemSize` bytes in Fortran order.
    ///   - dst: a buffer of the same size (not overlapping `src`).
    ///   - shape: the array's dimensions.
    ///   - itemSize: 1, 2, 4 or 8 bytes.
    static func toCOrder(_ src: UnsafeRawPointer, into dst: UnsafeMutableRawPointer, shape: [Int], itemSize: Int) {
        let dims = shape.filter { $0 != 1 }  // axes of length 1 do not move anything
        let count = shape.reduce(1, *)
        guard count > 0 else { return }
        guard dims.count > 1 else {
            dst.copyMemory(from: src, byteCount: count * itemSize)
            return
        }
        switch itemSize {
        case 1: convert(src, dst, dims[...], UInt8.self)
        case 2: convert(src, dst, dims[...], UInt16.self)
        case 4: convert(src, dst, dims[...], UInt32.self)
        default: convert(src, dst, dims[...], UInt64.self)
        }
    }

    private static func convert<T: FixedWidthInteger>(
        _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ dims: ArraySlice<Int>, _: T.Type
    ) {
        let d0 = dims.first!
        let rest = dims.dropFirst()
        let r = rest.reduce(1, *)
        let s = src.assumingMemoryBound(to: T.self)
        let d = dst.assumingMemoryBound(to: T.self)
        if rest.count <= 1 {
            // src is r rows of d0 elements; dst gets d0 rows of r elements.
            transpose(s, d, rows: r, cols: d0)
            return
        }
        let tmp = UnsafeMutablePointer<T>.allocate(capacity: d0 * r)
        defer { tmp.deallocate() }
        transpose(s, tmp, rows: r, cols: d0)
        for i in 0 ..< d0 {
            convert(UnsafeRawPointer(tmp + i * r), UnsafeMutableRawPointer(d + i * r), rest, T.self)
        }
    }

    /// `dst[c][r] = src[r][c]` for a `rows × cols` row-major `src`, in 32×32 tiles.
    private static func transpose<T>(_ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, rows: Int, cols: Int) {
        let tile = 32
        var r0 = 0
        while r0 < rows {
            let r1 = Swift.min(rows, r0 + tile)
            var c0 = 0
            while c0 < cols {
                let c1 = Swift.min(cols, c0 + tile)
                for r in r0 ..< r1 {
                    let row = src + r * cols
                    for c in c0 ..< c1 {
                        dst[c &* rows &+ r] = row[c]
                    }
                }
                c0 = c1
            }
            r0 = r1
        }
    }
}
