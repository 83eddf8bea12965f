// A child process for Brine's fault-injection tests and the fuzz seed
// generator. Not a product: the tests in Tests/BrineTests spawn it from the
// build folder (see HelperProcess.swift there).
//
//   BrineTestHelper save PATH GEN MIB [fast]     save a self-checking model of about MIB MiB
//   BrineTestHelper save-fsize PATH GEN MIB LIMIT save with RLIMIT_FSIZE = LIMIT bytes (SIGXFSZ ignored)
//   BrineTestHelper replace-loop PATH GEN COUNT MIB  save generations GEN..<GEN+COUNT over PATH
//   BrineTestHelper seeds TARGET DIR              write the seed corpus of fuzz target TARGET into DIR
//   BrineTestHelper rw-make PATH ROWS             save generation 0 of the read-write session model
//   BrineTestHelper rw-loop PATH FIRST COUNT      open read-write, apply and flush generations FIRST..<FIRST+COUNT
//   BrineTestHelper open-as UID PATH MODE         drop to user UID, open PATH (copy|mmap), print `opened GEN`
//   BrineTestHelper codable-save weights|model PATH  save a model keyed by dictionaries (CodableFidelity.swift)
//
// Output lines (unbuffered, for the parent): `start GEN` when the save begins
// writing, `phase …` as it passes its arrays and starts to finish (header,
// trailer, fsync, rename), `done GEN` when it has committed, `error CODE ERRNO` when it threw
// a BrineError (exit status 3). Usage errors exit with status 2.
import Brine
import BrineTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes one line to stdout without buffering, so the parent sees it at once.
func say(_ line: String) {
    var s = line + "\n"
    s.withUTF8 { b in
        var done = 0
        while done < b.count {
            let n = write(STDOUT_FILENO, b.baseAddress! + done, b.count - done)
            if n <= 0 { return }
            done += n
        }
    }
}

func usage() -> Never {
    say("usage: BrineTestHelper save|save-fsize|replace-loop|seeds ...")
    exit(2)
}

let args = Array(CommandLine.arguments.dropFirst())
guard let command = args.first else { usage() }

do throws(BrineError) {
    switch command {
    case "save" where args.count >= 4:
        guard let gen = UInt64(args[2]), let mib = Int(args[3]) else { usage() }
        try FaultModel.save(to: args[1], generation: gen, mebibytes: mib, durable: args.count < 5 || args[4] != "fast", progress: say)
        say("done \(gen)")
    case "save-fsize" where args.count == 5:
        guard let gen = UInt64(args[2]), let mib = Int(args[3]), let limit = UInt64(args[4]) else { usage() }
        // Without this the kernel kills the process with SIGXFSZ instead of
        // failing the write with EFBIG.
        signal(SIGXFSZ, SIG_IGN)
        var rl = rlimit(rlim_cur: rlim_t(limit), rlim_max: rlim_t(limit))
        guard setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &rl) == 0 else {
            say("setrlimit failed: errno \(errno)")
            exit(4)
        }
        let folder = (args[1] as NSString).deletingLastPathComponent
        let prefix = "." + (args[1] as NSString).lastPathComponent + ".brine-tmp."
        try FaultModel.save(to: args[1], generation: gen, mebibytes: mib, durable: true, progress: say, onFailure: {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder)) ?? []
            say("temporaries \(names.filter { $0.hasPrefix(prefix) }.count)")
        })
        say("done \(gen)")
    case "replace-loop" where args.count == 5:
        guard let first = UInt64(args[2]), let count = UInt64(args[3]), let mib = Int(args[4]) else { usage() }
        for gen in first ..< first + count {
            try FaultModel.save(to: args[1], generation: gen, mebibytes: mib, durable: false, progress: { _ in })
            say("done \(gen)")
        }
    case "rw-make" where args.count == 3:
        guard let rows = Int(args[2]) else { usage() }
        var o = SaveOptions()
        o.chunkBytes = 256 << 10
        o.durable = false
        do { try Brine.save(SessionModel.initial(rows: rows), to: URL(fileURLWithPath: args[1]), options: o) } catch let e as BrineError { throw e } catch { say("error \(error)"); exit(3) }
        say("done 0")
    case "rw-loop" where args.count == 4:
        guard let first = Int(args[2]), let count = Int(args[3]) else { usage() }
        var handle: BrineModel<SessionModel>
        do { handle = try Brine.open(SessionModel.self, from: URL(fileURLWithPath: args[1]), mode: .mmapReadWrite) } catch let e as BrineError { throw e } catch { say("error \(error)"); exit(3) }
        say("opened \(handle.model.generation)")
        for g in first ..< first + count {
            handle.model.apply(generation: g)
            say("flushing \(g)")
            try handle.flush()
            say("flushed \(g)")
        }
        say("done \(first + count - 1)")
    case "open-as" where args.count == 4:
        guard let uid = UInt32(args[1]) else { usage() }
        guard setgid(uid) == 0, setuid(uid) == 0 else { say("setuid failed: errno \(errno)"); exit(4) }
        let mode: LoadMode = args[3] == "mmap" ? .mmap : .copy
        do {
            let m = try Brine.load(SessionModel.self, from: URL(fileURLWithPath: args[2]), mode: mode)
            say("opened \(m.generation)")
        } catch let e as BrineError { throw e } catch { say("error \(error)"); exit(3) }
    case "seeds" where args.count == 3:
        // One case per fuzz target; a new target adds its seed writer here.
        switch args[1] {
        case "FuzzContainer":
            let n = try FuzzSeeds.write(into: args[2])
            say("wrote \(n) seeds into \(args[2])")
        case "FuzzSafetensors":
            let n = try SafetensorsFuzzSeeds.write(into: args[2])
            say("wrote \(n) seeds into \(args[2])")
        case "FuzzNumpy":
            let n = try NumpyFuzzSeeds.write(into: args[2])
            say("wrote \(n) seeds into \(args[2])")
        case "FuzzPickle":
            let n = try PickleFuzzSeeds.write(into: args[2])
            say("wrote \(n) seeds into \(args[2])")
        case "FuzzGGUF":
            let n = try GGUFFuzzSeeds.write(into: args[2])
            say("wrote \(n) seeds into \(args[2])")
        case "FuzzONNX":
            let n = try ONNXFuzzSeeds.write(into: args[2])
            say("wrote \(n) seeds into \(args[2])")
        default:
            say("no seed generator for fuzz target \(args[1])")
            exit(2)
        }
    case "codable-save" where args.count == 3:
        codableSave(args[1], args[2])
    default:
        usage()
    }
} catch {
    say("error \(error.code.name) \(error.errno ?? 0)")
    FileHandle.standardError.write(Data((error.description + "\n").utf8))
    exit(3)
}
