import Foundation
import Testing
@testable import Brine
import BrineHDF5

/// libhdf5 1.10.8 crashes (SIGSEGV in `H5HG_read`) on some damaged files;
/// the CLI reads HDF5 in a child process and reports a typed error instead.
/// The fixtures in `Fixtures/hdf5` are h5py-written files with one byte
/// changed that crash libhdf5 (see Fixtures/README.md).
@Suite("HDF5 read isolation in the CLI", .serialized)
struct HDF5IsolationTests {
    static let fixtures = repositoryRoot.appendingPathComponent("Tests/BrineTests/Fixtures/hdf5")

    static var crashers: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: fixtures.path)) ?? []).filter { $0.hasSuffix(".h5") }.sorted()
    }

    @Test("a file that crashes libhdf5 gives exit 1 and a typed error from inspect, verify and convert; nothing is written")
    func crashingFiles() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        #expect(!Self.crashers.isEmpty)
        for name in Self.crashers {
            let path = Self.fixtures.appendingPathComponent(name).path
            let out = dir.appendingPathComponent("out.brine")
            for args in [["inspect", path], ["verify", path], ["convert", path, out.path]] {
                let r = try runBrine(args)
                #expect(r.status == 1, "\(name) \(args[0]): status \(r.status) \(r.err)")
                #expect(r.err.contains("invalidInterop") && r.err.contains("libhdf5 crashed") && r.err.contains(name), "\(name) \(args[0]): \(r.err)")
            }
            #expect(!FileManager.default.fileExists(atPath: out.path))
        }
    }

    @Test("through the child process, an h5py file converts exactly as the in-process reader reads it; its typed errors keep their code")
    func sameResultThroughTheChild() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let src = dir.appendingPathComponent("k2.h5")
        _ = try PythonOracle.json(HDF5OracleTests.h5pyWriter, [src.path])
        let direct = try HDF5.read(contentsOf: src)
        let out = dir.appendingPathComponent("k2.safetensors")
        let r = try runBrine(["convert", src.path, out.path])
        #expect(r.status == 0, "\(r.err)")
        let file = try SafetensorsFile(contentsOf: out)
        #expect(Set(file.names) == Set(direct.names))
        for (name, t) in direct.tensors { #expect(try file.tensor(name) == t, "\(name)") }
        for (k, v) in direct.metadata { #expect(file.metadata[k] == v, "\(k)") }
        // A typed error in the child comes back with its code: garbage after the signature.
        let bad = dir.appendingPathComponent("bad.h5")
        try Data(HDF5.signature + [UInt8](repeating: 0, count: 100)).write(to: bad)
        let e = try runBrine(["inspect", bad.path])
        #expect(e.status == 1 && e.err.contains("invalidInterop") && e.err.contains("cannot open"), "\(e.err)")
    }

    @Test("a dataset named __metadata__ (reserved by safetensors, valid in HDF5) reads through the child as in-process")
    func reservedSafetensorsName() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let src = dir.appendingPathComponent("meta.h5")
        _ = try PythonOracle.run("""
            import sys, numpy as np, h5py
            with h5py.File(sys.argv[1], "w") as f:
                f["__metadata__"] = np.arange(4, dtype=np.float32)
                f["w"] = np.arange(3, dtype=np.float32)
            """, [src.path])
        let direct = try HDF5.read(contentsOf: src)
        #expect(Set(direct.names) == ["__metadata__", "w"])
        let out = dir.appendingPathComponent("meta.brine")
        let r = try runBrine(["convert", src.path, out.path])
        #expect(r.status == 0, "\(r.err)")
        let w = try Brine.loadWeights(from: out)
        for (name, t) in direct.tensors { #expect(w[name] == t, "\(name)") }
    }

    @Test("a CLI killed (SIGKILL, as by the OOM killer or a job scheduler) while its HDF5 child runs leaves no private folder with a copy of the arrays")
    func killedParentLeavesNoCopy() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let (src, tmp) = try randomH5(in: dir, arrays: 6, elements: 8 << 20)
        let p = Process()
        p.executableURL = try brineExecutable()
        p.arguments = ["convert", src.path, dir.appendingPathComponent("big.brine").path]
        var env = ProcessInfo.processInfo.environment
        env["TMPDIR"] = tmp.path
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        func staging() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: tmp.path)) ?? []).filter { $0.hasPrefix("brine-hdf5-") } }
        // Kill the CLI once its child exists (the parent makes the folder just
        // before it spawns the child; under ASan that gap is wide enough to
        // kill the parent in it, which this test is not about).
        var waited = 0.0
        var children = try childrenReading(src.path)
        while children.isEmpty && p.isRunning && waited < 60 {
            Thread.sleep(forTimeInterval: 0.02)
            waited += 0.02
            children = try childrenReading(src.path)
        }
        let started = !children.isEmpty && !staging().isEmpty
        try #require(started, "the child never started")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        // The child, armed or arming, removes the folder and exits (a sanitizer build starts slowly).
        waited = 0
        children = try childrenReading(src.path)
        while (!staging().isEmpty || !children.isEmpty) && waited < 60 {
            Thread.sleep(forTimeInterval: 0.1)
            waited += 0.1
            children = try childrenReading(src.path)
        }
        #expect(staging().isEmpty, "left behind: \(staging())")
        #expect(children.isEmpty, "the child outlived its parent")
    }

    @Test("a child running past BRINE_HDF5_TIMEOUT is killed: exit 1 with timedOut, no output, no private folder, no child left running")
    func childPastItsDeadline() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let (src, tmp) = try randomH5(in: dir, arrays: 4, elements: 4 << 20)
        let out = dir.appendingPathComponent("out.brine")
        // 1 ms: no child can start, read 64 MiB and hand it over in that time.
        let r = try runBrineBounded(["convert", src.path, out.path], environment: ["TMPDIR": tmp.path, "BRINE_HDF5_TIMEOUT": "0.001"])
        #expect(r.status == 1 && r.err.contains("timedOut") && r.err.contains("BRINE_HDF5_TIMEOUT"), "\(r.status) \(r.err)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: tmp.path)) ?? []).isEmpty)
        #expect(try childrenReading(src.path).isEmpty, "a reader process outlived its parent")
    }

    @Test("a FIFO named as HDF5, .keras or ONNX input is refused at once (invalidArgument), by the CLI and by the library, instead of blocking in open")
    func fifoInputs() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        for name in ["in.h5", "in.keras", "in.onnx"] {
            let fifo = dir.appendingPathComponent(name).path
            #expect(mkfifo(fifo, 0o600) == 0)
            for args in [["inspect", fifo], ["convert", fifo, dir.appendingPathComponent("out.brine").path]] {
                let r = try runBrineBounded(args)
                #expect(r.status == 1 && r.err.contains("invalidArgument") && r.err.contains("not a regular file"), "\(args): \(r.status) \(r.err)")
            }
            #expect(try childrenReading(fifo).isEmpty)
        }
        // In-process: should an open block after all, a writer opening the FIFO later ends the wait, so the test fails instead of hanging.
        for (name, read) in [("in.h5", { (u: URL) throws -> Void in _ = try HDF5.read(contentsOf: u) }),
                             ("in.keras", { (u: URL) throws -> Void in _ = try HDF5.readKeras(contentsOf: u) })] {
            let url = dir.appendingPathComponent(name)
            let unblock = DispatchWorkItem { let fd = open(url.path, O_WRONLY | O_NONBLOCK); if fd >= 0 { close(fd) } }
            DispatchQueue.global().asyncAfter(deadline: .now() + 10, execute: unblock)
            #expect { try read(url) } throws: { ($0 as? BrineError)?.code == .invalidArgument }
            unblock.cancel()
        }
    }

    /// An h5py file `in.h5` of `arrays` random float32 datasets of `elements`
    /// each in `dir`, and an empty folder `dir/tmp` to serve as the CLI's TMPDIR.
    private func randomH5(in dir: URL, arrays: Int, elements: Int) throws -> (file: URL, tmp: URL) {
        let tmp = dir.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: false)
        let src = dir.appendingPathComponent("in.h5")
        _ = try PythonOracle.run("""
            import sys, numpy as np, h5py
            with h5py.File(sys.argv[1], "w") as f:
                for i in range(int(sys.argv[2])): f[f"w{i}"] = np.random.default_rng(i).random(int(sys.argv[3]), dtype=np.float32)
            """, [src.path, String(arrays), String(elements)])
        return (src, tmp)
    }

    /// Runs the CLI with extra environment variables, killing it after 60 s (a hang fails the test instead of stalling the suite).
    private func runBrineBounded(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, err: String) {
        let p = Process()
        p.executableURL = try brineExecutable()
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let err = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        let pid = p.processIdentifier
        let deadline = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: deadline)
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        deadline.cancel()
        return (p.terminationStatus, String(decoding: e, as: UTF8.self))
    }

    /// The process ids of `brine __read-hdf5` children reading `path` (from /proc).
    private func childrenReading(_ path: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc").filter { $0.allSatisfy(\.isNumber) }.filter { pid in
            guard let cmd = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return false }
            let args = cmd.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return args.contains("__read-hdf5") && args.contains(path)
        }
    }
}
