import Foundation
import Testing
@testable import Brine

@Suite("Format detection by content")
struct FormatDetectionTests {
    /// A safetensors file whose JSON header starts with `prefix` (JSON
    /// whitespace is allowed before the object; the reference reader accepts it).
    static func safetensors(prefix: String) -> [UInt8] {
        safetensorsBytes(prefix + #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, data: [7])
    }

    @Test("a safetensors header may start with JSON whitespace (no helpful extension)",
          arguments: ["", " ", "\n", "\t\r\n ", String(repeating: " ", count: 100)])
    func leadingWhitespace(prefix: String) throws {
        let url = makeTemporaryDirectory().appendingPathComponent("model.bin")
        try Data(Self.safetensors(prefix: prefix)).write(to: url)
        #expect(try TensorFileFormat.detect(contentsOf: url) == .safetensors)
        let bundle = try TensorBundle(contentsOf: url)
        #expect(bundle.names == ["a"])
    }

    @Test("a plausible length followed by anything but whitespace and '{' is not safetensors")
    func notSafetensors() throws {
        let url = makeTemporaryDirectory().appendingPathComponent("model.bin")
        try Data(safetensorsBytes(#" ["a"]"#)).write(to: url)
        expectCode(.invalidArgument) { _ = try TensorFileFormat.detect(contentsOf: url) }
    }
}
