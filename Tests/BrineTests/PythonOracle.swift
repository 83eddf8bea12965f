import Foundation
import Testing

/// Runs Python snippets with the interpreter of `scripts/python-env.sh`
/// (NumPy, safetensors, lz4, zstandard, xxhash): the oracle of the interop
/// tests. The interpreter is `$BRINE_PYTHON`, else `<repo>/.venv/bin/python`.
/// When it is missing, every oracle test fails with a message saying how to
/// create it; they never skip silently.
enum PythonOracle {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The interpreter, or a failure explaining how to get one.
    static func interpreter() throws -> URL {
        if let env = ProcessInfo.processInfo.environment["BRINE_PYTHON"], !env.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: env) else {
                throw Failure(description: "BRINE_PYTHON=\(env) is not an executable; run scripts/python-env.sh or fix BRINE_PYTHON")
            }
            return URL(fileURLWithPath: env)
        }
        let venv = repositoryRoot.appendingPathComponent(".venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: venv.path) else {
            throw Failure(description: "no Python interpreter for the interop oracle tests at \(venv.path): run scripts/python-env.sh (or set BRINE_PYTHON)")
        }
        return venv
    }

    /// Runs `script` with `arguments` (as `sys.argv[1...]`), with `python/`
    /// on `sys.path`. Fails with the script's stderr when it exits non-zero.
    /// - Returns: its standard output.
    @discardableResult
    static func run(_ script: String, _ arguments: [String] = []) throws -> String {
        let python = try interpreter()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("brine-oracle-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let scriptURL = dir.appendingPathComponent("oracle.py")
        let outURL = dir.appendingPathComponent("stdout"), errURL = dir.appendingPathComponent("stderr")
        try script.write(to: scriptURL, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        let p = Process()
        p.executableURL = python
        p.arguments = [scriptURL.path] + arguments
        var env = ProcessInfo.processInfo.environment
        env["PYTHONPATH"] = repositoryRoot.appendingPathComponent("python").path
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        p.environment = env
        p.standardOutput = out
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        try out.close()
        try err.close()
        let stdout = try String(contentsOf: outURL, encoding: .utf8)
        let stderr = try String(contentsOf: errURL, encoding: .utf8)
        guard p.terminationStatus == 0 else {
            throw Failure(description: "python oracle exited with status \(p.terminationStatus):\n\(stderr)\(stdout.suffix(2000))")
        }
        return stdout
    }

    /// Runs `script` and decodes its standard output as JSON.
    static func json(_ script: String, _ arguments: [String] = []) throws -> Any {
        let out = try run(script, arguments)
        return try JSONSerialization.jsonObject(with: Data(out.utf8))
    }
}
