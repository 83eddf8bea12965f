import Foundation
import Testing
@testable import Brine
import BrineRemote
import BrineTestSupport

extension NetworkTests {
    /// The streamed S3 upload at its edges: sizes around the part size, and
    /// a failed save over an existing object.
    @Suite("S3 upload sink at part boundaries and over an existing object", .serialized)
    struct RemoteUploadBoundaryTests {
        let servers = TestServers.shared

        @Test("S3UploadSink: 0, 1, part−1, part, part+1 and 2×part bytes arrive exactly, no multipart upload left",
              arguments: [0, 1, (5 << 20) - 1, 5 << 20, (5 << 20) + 1, 10 << 20])
        func sizes(count: Int) async throws {
            var o = servers.anonymous()
            o.partBytes = 5 << 20
            let url = URL(string: "s3://\(TestServers.bucketName("edge"))/b\(count).bin")!
            let client = S3Client(options: o)
            try await client.createBucket(url)
            var rng = SplitMix64(seed: UInt64(count))
            let bytes = (0 ..< count).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
            let sink = try S3UploadSink(url: url, options: o)
            // Written in odd-sized pieces from a non-cooperative thread, as the encoder does.
            let box = UncheckedSendable(bytes)
            let done = DispatchSemaphore(value: 0)
            let failure = UncheckedBox<Error?>(nil)
            Thread {
                do {
                    var at = 0
                    while at < box.value.count {
                        let n = min(box.value.count - at, 777_777)
                        try box.value.withUnsafeBytes { b in try sink.write(UnsafeRawBufferPointer(rebasing: b[at ..< at + n])) }
                        at += n
                    }
                } catch { failure.value = error }
                done.signal()
            }.start()
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in DispatchQueue.global().async { done.wait(); c.resume() } }
            #expect(failure.value == nil)
            try await sink.complete()
            #expect(try await client.head(url)?.size == count)
            if count > 0 { #expect(try await servers.objectBytes(url, o) == bytes) }
            #expect(try await client.listMultipartUploads(url).isEmpty)
        }

        @Test("a save that fails midway leaves the previous object at the key byte for byte")
        func failedSaveKeepsPrevious() async throws {
            var o = servers.anonymous()
            o.partBytes = 5 << 20
            o.concurrentUploads = 2
            let url = URL(string: "s3://\(TestServers.bucketName("keep"))/k.brine")!
            let client = S3Client(options: o)
            try await client.createBucket(url)
            let first = StreamedModel(count: 3, elements: 1 << 20)
            try await Brine.save(first, to: url, remote: o)
            let before = try await servers.objectBytes(url, o)
            let model = FailingModel(layers: StreamedModel(count: 5, elements: 1 << 20).layers)
            await #expect(throws: (any Error).self) { try await Brine.save(model, to: url, remote: o) }
            #expect(try await servers.objectBytes(url, o) == before)
            #expect(try await client.listMultipartUploads(url).isEmpty)
            let back = try await Brine.load(StreamedModel.self, from: url, remote: o)
            #expect(back == first)
        }
    }
}
