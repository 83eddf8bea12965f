import Foundation

/// The UCI optical-recognition handwritten digits (the copy scikit-learn
/// ships as `digits.csv.gz`): 1797 images of 8×8 pixels with values 0…16,
/// each row 64 pixel values then the label 0…9.
struct Digits {
    /// Row-major pixel values, `count × 64`.
    var pixelValues: [Float]
    var labels: [Int]

    var count: Int { labels.count }

    func pixels(_ n: Int) -> ArraySlice<Float> { pixelValues[n * 64 ..< (n + 1) * 64] }

    /// The rows at `indices`, in that order.
    func subset(_ indices: [Int]) -> Digits {
        var p: [Float] = []
        p.reserveCapacity(indices.count * 64)
        for i in indices { p += pixels(i) }
        return Digits(pixelValues: p, labels: indices.map { labels[$0] })
    }

    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads and checks the gzip-compressed CSV (decompressed by `gzip -dc`).
    static func load(_ url: URL) throws -> Digits {
        let text = try String(decoding: gunzip(url), as: UTF8.self)
        var pixels: [Float] = []
        var labels: [Int] = []
        for (lineNumber, line) in text.split(separator: "\n").enumerated() where !line.isEmpty {
            let fields = line.split(separator: ",")
            guard fields.count == 65 else {
                throw LoadError(description: "line \(lineNumber + 1): \(fields.count) columns, expected 65")
            }
            for f in fields.dropLast() {
                guard let v = Int(f.trimmingCharacters(in: .whitespaces)), (0 ... 16).contains(v) else {
                    throw LoadError(description: "line \(lineNumber + 1): pixel '\(f)' is not an integer 0…16")
                }
                pixels.append(Float(v))
            }
            guard let label = Int(fields.last!.trimmingCharacters(in: .whitespacesAndNewlines)), (0 ... 9).contains(label) else {
                throw LoadError(description: "line \(lineNumber + 1): label '\(fields.last!)' is not 0…9")
            }
            labels.append(label)
        }
        return Digits(pixelValues: pixels, labels: labels)
    }

    /// The decompressed bytes of a gzip file, from `gzip -dc`.
    static func gunzip(_ url: URL) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-dc", url.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw LoadError(description: "gzip -dc \(url.path) exited with status \(process.terminationStatus)")
        }
        return data
    }

    /// `$BRINE_CACHE_DIR/data/digits.csv.gz`, else `<repo>/cache/data/digits.csv.gz`
    /// (both filled by `scripts/fetch-models.sh`).
    static func defaultLocation() -> URL {
        if let dir = ProcessInfo.processInfo.environment["BRINE_CACHE_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir).appendingPathComponent("data/digits.csv.gz")
        }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return repo.appendingPathComponent("cache/data/digits.csv.gz")
    }
}
