import Foundation
import Testing
@testable import Brine
import BrineRemote

#if canImport(Glibc)
import Glibc
#endif

extension NetworkTests {
    /// README.md's "Remote storage" sample, line by line (ReadmeUsageTests
    /// checks that every Swift line of that section appears in this file).
    @Suite("README remote sample against SeaweedFS and nginx", .serialized,
           .enabled(if: FileManager.default.fileExists(atPath: miniLMPath.path)))
    struct RemoteReadmeTests {
        @Test("save to and load from s3:// (AWS_ENDPOINT_URL → SeaweedFS), one array over HTTP (nginx)")
        func readmeRemote() async throws {
            let servers = TestServers.shared
            setenv("AWS_ENDPOINT_URL", servers.s3Endpoint, 1)
            defer { unsetenv("AWS_ENDPOINT_URL") }
            try await S3Client(options: servers.anonymous()).createBucket(URL(string: "s3://models/mlp.brine")!)
            let model = MLP.make([64, 32, 4], seed: 13)
            do {
                try await Brine.save(model, to: URL(string: "s3://models/mlp.brine")!)          // multipart upload
                let model = try await Brine.load(MLP.self, from: URL(string: "s3://models/mlp.brine")!)
                #expect(model == MLP.make([64, 32, 4], seed: 13))
            }
            // The README's HTTP host is a placeholder: the same call on nginx…
            let name = "readme-\(UUID().uuidString.prefix(8)).brine"
            let local = servers.httpRoot.appendingPathComponent(name)
            try await Brine.save(model, to: local)
            defer { try? FileManager.default.removeItem(at: local) }
            let one = try await RangedBrineFile.open(URL(string: "\(servers.httpURL)/\(name)")!).array("layers.0.weight", as: Float.self)
            #expect(one == model.layers[0].weight)
            // …and the line as written, compiled (not run).
            let readmeLine: () async throws -> Tensor<Float> = {
                let one = try await RangedBrineFile.open(URL(string: "https://host/mlp.brine")!).array("layers.0.weight", as: Float.self)
                return one
            }
            _ = readmeLine
        }
    }
}
