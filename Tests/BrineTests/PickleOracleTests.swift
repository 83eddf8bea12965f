import Foundation
import Testing
@testable import Brine

/// Pickle and joblib files written by Python's `pickle`, joblib 1.x and
/// scikit-learn estimators fitted on the digits data, generated at run
/// time: every array Brine reads equals what `pickle.load`/`joblib.load`
/// give, bit for bit (compared by dtype, shape and XXH3 of the C-order,
/// little-endian bytes of every reachable array, structured arrays field by
/// field). Needs `scripts/python-env.sh` (joblib, scikit-learn).
@Suite("Pickle/joblib oracle (pickle, joblib, scikit-learn)", .serialized)
struct PickleOracleTests {
    /// Python helpers: `arrays(obj)` walks an object as pickle does
    /// (containers, `__reduce_ex__`) and returns sorted `[dtype, shape,
    /// hash]` of every array reachable, each once.
    static let prelude = InteropOracleTests.prelude + #"""
    import pickle, collections, joblib
    def walk(obj, out, seen):
        # seen maps id -> object: holding the object keeps its id from being reused.
        if id(obj) in seen: return
        seen[id(obj)] = obj
        if isinstance(obj, np.ndarray):
            if obj.dtype.names:
                for n in obj.dtype.names:
                    f = np.ascontiguousarray(obj[n])
                    out.append([BRINE[code_of(f.dtype)], list(f.shape), sha(c_bytes(f))])
            elif obj.dtype.kind in 'biuf':
                out.append([BRINE[code_of(obj.dtype)], list(obj.shape), sha(c_bytes(obj))])
            elif obj.dtype.kind == 'O':
                for x in obj.ravel(): walk(x, out, seen)
            return
        if isinstance(obj, (np.float32, np.float16)):
            a = np.array(obj)
            out.append([BRINE[code_of(a.dtype)], [], sha(c_bytes(a))]); return
        if isinstance(obj, (str, bytes, int, float, bool, type(None), complex, np.generic, type)): return
        if isinstance(obj, dict):
            for k, v in obj.items(): walk(k, out, seen); walk(v, out, seen)
            return
        if isinstance(obj, (list, tuple, set, frozenset)):
            for x in obj: walk(x, out, seen)
            return
        r = obj.__reduce_ex__(4)
        if isinstance(r, tuple):
            for x in r[1:]:
                if x is not None and not hasattr(x, '__next__'): walk(x, out, seen)
    def arrays(obj):
        out = []
        walk(obj, out, {})
        return sorted(out)
    def payload():
        d = {}
        for code in CODES:
            for order in (['|'] if code[1] == '1' else ['<', '>']):
                d[f'{code}{order}'] = make(code, (3, 4), len(d)).astype(np.dtype(order + code))
        d['fortran'] = np.asfortranarray(make('f8', (5, 7), 1))
        d['fortran_be'] = np.asfortranarray(make('i4', (2, 3, 4), 2).astype('>i4'))
        d['rank0'] = np.array(3.25)
        d['empty'] = np.zeros((4, 0), dtype=np.int16)
        d['shared'] = [d['f4<'], d['f4<']]
        d['scalars'] = [np.float64(1.5), np.int64(-3), np.float32(2.5), np.bool_(True), np.uint8(200)]
        d['py'] = {'set': {1, 2, 3}, 'frozen': frozenset(['a']), 'complex': 1 + 2j, 'ba': bytearray(b'xyz'),
                   'slice': slice(1, 10, 2), 'od': collections.OrderedDict([('b', 1), ('a', 2)]),
                   'big': 2 ** 70, 'neg': -(2 ** 65), 'u64': 2 ** 64 - 1, 'tuple': (1, 2.5, None, True, 'é✓', b'\x00\xff'),
                   'intkeys': {1: 'one', 2: 'two'}, 'nan': float('nan')}
        d['strings'] = np.array(['ab', 'c', 'déf'])
        d['objects'] = np.array([1, 'x', None], dtype=object)
        return d

    """#

    func arrayDigests(_ c: PickleContent) -> [[String]] {
        c.arrays.map { [$0.tensor.dtype.name, "\($0.tensor.shape)", digestHex($0.tensor.storage.bytes)] }
            .sorted { $0.lexicographicallyPrecedes($1) }
    }

    func pythonDigests(_ any: Any) -> [[String]] {
        ((any as? [[Any]]) ?? []).map { e in [e[0] as! String, "\((e[1] as! [Int]))", e[2] as! String] }
            .sorted { $0.lexicographicallyPrecedes($1) }
    }

    @Test("pickle.dump files of protocols 0–5 read with the arrays pickle.load gives")
    func picklesOfEveryProtocol() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let manifest = try PythonOracle.json(Self.prelude + #"""
        out = sys.argv[1]
        d = payload()
        res = {}
        for p in range(6):
            path = os.path.join(out, f'p{p}.pkl')
            with open(path, 'wb') as f: pickle.dump(d, f, protocol=p)
            with open(path, 'rb') as f: back = pickle.load(f)
            res[str(p)] = arrays(back)
        print(json.dumps(res))
        """#, [dir.path]) as! [String: Any]
        for p in 0 ... 5 {
            let c = try Pickle.read(contentsOf: dir.appendingPathComponent("p\(p).pkl"))
            #expect(arrayDigests(c) == pythonDigests(manifest[String(p)]!), "protocol \(p)")
            #expect(c.protocolVersion == (p >= 2 ? p : 0))
            let py = try #require(c.root["py"])
            #expect(py["set"] == ["__class__": "builtins.set", "items": [1, 2, 3]], "protocol \(p)")
            #expect(py["complex"] == ["__class__": "builtins.complex", "real": 1.0, "imag": 2.0], "protocol \(p)")
            #expect(py["ba"] == ["__class__": "builtins.bytearray", "value": .bytes([0x78, 0x79, 0x7A])], "protocol \(p)")
            #expect(py["slice"] == ["__class__": "builtins.slice", "start": 1, "stop": 10, "step": 2], "protocol \(p)")
            #expect(py["od"] == ["b": 1, "a": 2], "protocol \(p)")
            #expect(py["big"] == ["__class__": "builtins.int", "hex": "0x400000000000000000"], "protocol \(p)")
            #expect(py["neg"] == ["__class__": "builtins.int", "hex": "-0x20000000000000000"], "protocol \(p)")
            #expect(py["u64"] == .uint(UInt64.max), "protocol \(p)")
            #expect(py["tuple"] == [1, 2.5, nil, true, "é✓", .bytes([0, 255])], "protocol \(p)")
            #expect(py["intkeys"] == ["__class__": "builtins.dict", "items": [[1, "one"], [2, "two"]]], "protocol \(p)")
            #expect(c.root["strings"]?["items"] == ["ab", "c", "déf"], "protocol \(p)")
            #expect(c.root["objects"]?["items"] == [1, "x", nil], "protocol \(p)")
            if case .list(let sc)? = c.root["scalars"], sc.count == 5 {
                #expect(sc[0] == 1.5 && sc[1] == -3 && sc[3] == true && sc[4] == 200, "protocol \(p)")
            } else {
                Issue.record("scalars is not a list of 5")
            }
            // One array referenced twice is stored once.
            if case .list(let shared)? = c.root["shared"], shared.count == 2 { #expect(shared[0] == shared[1]) } else { Issue.record("shared is not a list") }
            if case .arrayRef(let i)? = c.root["f8<"] { #expect(c.arrays[i].path == "f8<") } else { Issue.record("f8< is not an array") }
        }
    }

    static let compressions = ["none", "zlib", "gzip", "bz2", "lzma", "xz", "lz4"]

    @Test("joblib.dump files, uncompressed and with every compressor, read with the arrays joblib.load gives")
    func joblibEveryCompression() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let manifest = try PythonOracle.json(Self.prelude + #"""
        out = sys.argv[1]
        d = payload()
        res = {}
        for c in json.loads(sys.argv[2]):
            for proto in (2, 3, 4, 5):
                path = os.path.join(out, f'{c}-{proto}.joblib')
                joblib.dump(d, path, compress=0 if c == 'none' else (c, 3), protocol=proto)
                res[f'{c}-{proto}'] = arrays(joblib.load(path))
        print(json.dumps(res))
        """#, [dir.path, "[\"" + Self.compressions.joined(separator: "\",\"") + "\"]"]) as! [String: Any]
        #expect(manifest.count == Self.compressions.count * 4)
        for (name, expected) in manifest {
            let c = try Pickle.read(contentsOf: dir.appendingPathComponent("\(name).joblib"))
            #expect(arrayDigests(c) == pythonDigests(expected), "\(name)")
            #expect(c.isJoblib, "\(name)")
            #expect(c.compression.rawValue == String(name.split(separator: "-")[0]), "\(name)")
            #expect(c.root["py"]?["od"] == ["b": 1, "a": 2], "\(name)")
        }
    }

    @Test("scikit-learn estimators fitted on digits, dumped with joblib, read bit for bit and convert to Brine")
    func scikitLearnDigits() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let manifest = try PythonOracle.json(Self.prelude + #"""
        import gzip
        from sklearn.linear_model import LogisticRegression
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.preprocessing import StandardScaler
        from sklearn.pipeline import Pipeline
        out, csv = sys.argv[1], sys.argv[2]
        if os.path.exists(csv):
            data = np.loadtxt(gzip.open(csv, 'rt'), delimiter=',')
            X, y = data[:, :64], data[:, 64].astype(np.int64)
        else:
            from sklearn.datasets import load_digits
            X, y = load_digits(return_X_y=True)
        models = {
            'lr': LogisticRegression(max_iter=300).fit(X, y),
            'rf': RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y),
            'pipe': Pipeline([('scale', StandardScaler()), ('lr', LogisticRegression(max_iter=300))]).fit(X, y),
        }
        res = {}
        for name, m in models.items():
            for c in ('none', 'zlib'):
                path = os.path.join(out, f'{name}-{c}.joblib')
                joblib.dump(m, path, compress=0 if c == 'none' else ('zlib', 3))
                back = joblib.load(path)
                res[f'{name}-{c}'] = {'arrays': arrays(back), 'class': type(m).__module__ + '.' + type(m).__name__}
        res['pipe-coef'] = sha(c_bytes(models['pipe'].steps[1][1].coef_))
        res['rf-threshold'] = sha(c_bytes(np.ascontiguousarray(models['rf'].estimators_[3].tree_.__getstate__()['nodes']['threshold'])))
        print(json.dumps(res))
        """#, [dir.path, digitsPath.path]) as! [String: Any]
        for name in ["lr", "rf", "pipe"] {
            for comp in ["none", "zlib"] {
                let key = "\(name)-\(comp)"
                let e = manifest[key] as! [String: Any]
                let url = dir.appendingPathComponent("\(key).joblib")
                let c = try Pickle.read(contentsOf: url)
                #expect(arrayDigests(c) == pythonDigests(e["arrays"]!), "\(key)")
                #expect(c.root["__class__"] == .string(e["class"] as! String), "\(key)")
                #expect(c.arrays.count > 3, "\(key)")
                // Convert to Brine: the tree is the root, every array out of line and equal.
                #expect(try TensorFileFormat.detect(contentsOf: url) == .pickle)
                let out = dir.appendingPathComponent("\(key).brine")
                try TensorBundle(contentsOf: url).write(to: out)
                let f = try BrineFile(contentsOf: out)
                #expect(f.root == c.root, "\(key)")
                #expect(f.arrays.map(\.path) == c.arrays.map(\.path), "\(key)")
                for (i, a) in c.arrays.enumerated() { #expect(sameBytes(try f.anyArray(at: i), a.tensor), "\(key) \(a.path)") }
                #expect(f.metadata["source_format"] == "joblib")
            }
        }
        let pipe = try Pickle.read(contentsOf: dir.appendingPathComponent("pipe-none.joblib"))
        let coef = try #require(pipe.arrays.first { $0.path == "steps.1.1.coef_" })
        #expect(digestHex(coef.tensor.storage.bytes) == manifest["pipe-coef"] as! String)
        #expect(pipe.classes.contains("sklearn.preprocessing._data.StandardScaler"))
        let rf = try Pickle.read(contentsOf: dir.appendingPathComponent("rf-zlib.joblib"))
        let thr = try #require(rf.arrays.first { $0.path == "estimators_.3.tree_.nodes.threshold" })
        #expect(digestHex(thr.tensor.storage.bytes) == manifest["rf-threshold"] as! String)

        // The command-line tool: inspect names the classes, convert writes the tree and arrays.
        let inspect = try runBrine(["inspect", dir.appendingPathComponent("rf-zlib.joblib").path])
        #expect(inspect.status == 0)
        #expect(inspect.out.contains("sklearn.ensemble._forest.RandomForestClassifier"))
        #expect(inspect.out.contains("estimators_.3.tree_.nodes.threshold"))
        let converted = dir.appendingPathComponent("cli.brine")
        let conv = try runBrine(["convert", dir.appendingPathComponent("pipe-zlib.joblib").path, converted.path, "--codec", "zstd"])
        #expect(conv.status == 0, "\(conv.err)")
        let f = try BrineFile(contentsOf: converted)
        #expect(f.root == pipe.root)
        let i = try #require(f.arrays.firstIndex { $0.path == "steps.1.1.coef_" })
        #expect(sameBytes(try f.anyArray(at: i), coef.tensor))
        // A tree cannot go to a format without one: refused, not dropped.
        let npz = try runBrine(["convert", dir.appendingPathComponent("pipe-zlib.joblib").path, dir.appendingPathComponent("x.npz").path])
        #expect(npz.status == 64)
        #expect(npz.err.contains("object tree") && npz.err.contains("--drop-metadata"), "\(npz.err)")
        // safetensors carries it in its metadata: back to Brine, the same tree.
        let st = dir.appendingPathComponent("pipe.safetensors")
        #expect(try runBrine(["convert", dir.appendingPathComponent("pipe-zlib.joblib").path, st.path]).status == 0)
        let viaST = dir.appendingPathComponent("via-st.brine")
        #expect(try runBrine(["convert", st.path, viaST.path]).status == 0)
        #expect(try BrineFile(contentsOf: viaST).root == pipe.root)
    }
}
