import Foundation
import Testing
@testable import Brine

/// Interop checked against the real Python libraries: files NumPy and
/// safetensors write must read in Brine with identical values, and files
/// Brine writes must read in NumPy, safetensors and `python/brine_reader.py`
/// with identical bytes. Needs `scripts/python-env.sh` (fails, never skips,
/// without it).
@Suite("Interop oracle (NumPy, safetensors, brine_reader.py)", .serialized)
struct InteropOracleTests {
    /// Common Python helpers: deterministic arrays with NaN, -0.0 and
    /// infinities for floats and the full range for integers.
    static let prelude = #"""
    import json, os, sys, struct, io, zipfile
    import xxhash
    import numpy as np
    BRINE = {'b1': 'bool', 'i1': 'int8', 'u1': 'uint8', 'i2': 'int16', 'u2': 'uint16', 'i4': 'int32',
             'u4': 'uint32', 'i8': 'int64', 'u8': 'uint64', 'f2': 'float16', 'f4': 'float32', 'f8': 'float64'}
    CODES = list(BRINE)
    def make(code, shape, seed):
        rng = np.random.default_rng(seed)
        n = int(np.prod(shape, dtype=np.int64))
        if code == 'b1':
            a = rng.integers(0, 2, n).astype(np.bool_)
        elif code[0] in 'iu':
            info = np.iinfo(np.dtype(code))
            a = rng.integers(info.min, info.max, n, dtype=np.dtype(code), endpoint=True)
        else:
            a = (rng.standard_normal(n) * 100).astype(np.dtype('<' + code))
            special = np.array([np.nan, -0.0, np.inf, -np.inf], dtype=a.dtype)
            a[:min(n, 4)] = special[:min(n, 4)]
        return a.reshape(shape)
    def c_bytes(a):
        """The array as Brine holds it: C order, little-endian."""
        return np.ascontiguousarray(a).astype(a.dtype.newbyteorder('<'), copy=False).tobytes() if a.dtype.itemsize > 1 \
            else np.ascontiguousarray(a).tobytes()
    def sha(b):
        return format(xxhash.xxh3_64_intdigest(bytes(b)), '016x')
    def code_of(dt):
        return dt.kind + str(dt.itemsize) if dt.kind != 'b' else 'b1'

    """#

    static let shapes: [[Int]] = [[], [0], [5], [3, 4], [2, 3, 4], [2, 1, 3, 5], [3, 0, 2], [17, 33]]

    // MARK: .npy

    @Test("np.save files (every dtype, byte order, Fortran order, rank, version) read identically")
    func npyFromNumPy() throws {
        let dir = makeTemporaryDirectory()
        let manifest = try PythonOracle.json(Self.prelude + #"""
        out = sys.argv[1]
        shapes = json.loads(sys.argv[2])
        entries = []
        k = 0
        def emit(a, descr, fortran, version=None, raw_header=None):
            global k
            name = f"a{k}.npy"; k += 1
            path = os.path.join(out, name)
            if raw_header is not None:
                with open(path, 'wb') as f:
                    f.write(raw_header); f.write(a.tobytes(order='F' if fortran else 'C'))
            elif version is None:
                np.save(path, a)
            else:
                with open(path, 'wb') as f:
                    np.lib.format.write_array(f, a, version=version)
            back = np.load(path)   # NumPy itself must read what we made
            assert back.dtype == a.dtype and back.shape == a.shape and np.array_equal(back, a, equal_nan=True)
            with open(path + '.bin', 'wb') as f:
                f.write(c_bytes(a))
            entries.append({'file': name, 'dtype': BRINE[code_of(a.dtype)], 'shape': list(a.shape),
                            'descr': descr, 'fortran': fortran})
        for code in CODES:
            orders = ['|'] if code[1] == '1' else ['<', '>']
            for order in orders:
                for si, shape in enumerate(shapes):
                    base = make(code, tuple(shape), seed=si * 31 + len(code)).astype(np.dtype(order + code))
                    for fortran in (False, True):
                        a = np.asfortranarray(base) if fortran else np.ascontiguousarray(base)
                        stored_fortran = bool(a.flags.f_contiguous and not a.flags.c_contiguous)
                        emit(a, a.dtype.str, stored_fortran)
        # Format versions 2.0 and 3.0.
        for version in [(1, 0), (2, 0), (3, 0)]:
            for code in ('f4', 'i8', 'b1'):
                emit(make(code, (4, 5), 3), code, False, version=version)
        # Hand-made headers NumPy also accepts: '=' and '|' on multi-byte types,
        # no byte-order mark, '?', Python 2 long literals, keys in any order.
        def header(d):
            h = d.encode('latin1')
            pad = 64 - (10 + len(h) + 1) % 64
            return b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h) + pad + 1) + h + b' ' * pad + b'\n'
        for code in CODES:
            a = make(code, (3, 2), 11)
            for descr in ('=' + code, '|' + code, code):
                emit(a, descr, False, raw_header=header("{'descr': '%s', 'fortran_order': False, 'shape': (3, 2), }" % descr))
        a = make('b1', (4,), 5)
        emit(a, '?', False, raw_header=header("{'descr': '?', 'fortran_order': False, 'shape': (4,)}"))
        a = make('f8', (3, 2), 6)
        emit(a, '<f8', True, raw_header=header("{'shape': (3L, 2L), 'fortran_order': True, 'descr': '<f8'}"))
        a = make('u2', (2, 3), 7).astype('>u2')
        emit(a, '>u2', True, raw_header=header("{\"descr\":\">u2\",\"fortran_order\":True,\"shape\":(2,3)}"))
        print(json.dumps(entries))
        """#, [dir.path, String(decoding: try JSONSerialization.data(withJSONObject: Self.shapes), as: UTF8.self)])
        let entries = try #require(manifest as? [[String: Any]])
        #expect(entries.count > 300)
        for e in entries {
            let file = dir.appendingPathComponent(e["file"] as! String)
            let expected = try Data(contentsOf: file.appendingPathExtension("bin"))
            for mode in [LoadMode.copy, .mmap] {
                let t = try Npy.read(contentsOf: file, mode: mode)
                let label = "\(e["file"]!) descr \(e["descr"]!) fortran \(e["fortran"]!) \(mode)"
                #expect(t.dtype.name == e["dtype"] as! String, "\(label)")
                #expect(t.shape == e["shape"] as! [Int], "\(label)")
                #expect(sameBytes(t, expected), "\(label)")
                let native = (e["descr"] as! String).first != ">" || t.dtype.itemSize == 1
                if mode == .mmap && native && !(e["fortran"] as! Bool) && t.byteCount > 0 {
                    #expect(t.storage.isView, "\(label) should be a zero-copy view")
                }
            }
        }
    }

    @Test("Brine's .npy files are byte-identical to np.save and load with mmap_mode='r'")
    func npyToNumPy() throws {
        let dir = makeTemporaryDirectory()
        var listing: [[String: Any]] = []
        var k = 0
        for dtype in DType.allCases where dtype != .bfloat16 {
            for shape in Self.shapes + [[1, 1, 1], [1 << 16]] {
                let t = randomArray(dtype: dtype, shape: shape, seed: UInt64(k))
                let url = dir.appendingPathComponent("b\(k).npy")
                try Npy.write(t, to: url)
                listing.append(["file": url.path, "dtype": dtype.numpyDescr!, "shape": shape, "sha": digestHex(t)])
                k += 1
            }
        }
        let out = try PythonOracle.run(Self.prelude + #"""
        for e in json.load(open(sys.argv[1])):
            a = np.load(e['file'], mmap_mode='r')
            assert isinstance(a, np.memmap) or a.size == 0, e
            assert a.dtype.str == e['dtype'] and list(a.shape) == e['shape'], (e, a.dtype, a.shape)
            assert sha(c_bytes(np.asarray(a))) == e['sha'], e
            b = np.load(e['file'])
            buf = io.BytesIO(); np.save(buf, b)
            assert buf.getvalue() == open(e['file'], 'rb').read(), ('not byte-identical to np.save', e)
            if a.size:
                assert a.offset % 64 == 0
        print('ok', len(json.load(open(sys.argv[1]))))
        """#, [try writeJSON(listing, in: dir)])
        #expect(out.hasPrefix("ok \(listing.count)"))
    }

    @Test("bfloat16 to .npy: refused by default, widened or kept as uint16 bits on request")
    func npyBFloat16() throws {
        let dir = makeTemporaryDirectory()
        let bf = randomArray(dtype: .bfloat16, shape: [7, 3], seed: 9)
        #expect(throws: BrineError.self) { try Npy.write(bf, to: dir.appendingPathComponent("x.npy")) }
        do {
            try Npy.write(bf, to: dir.appendingPathComponent("x.npy"))
        } catch {
            #expect(error.code == .unsupportedDType)
        }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.npy").path))
        try Npy.write(bf, to: dir.appendingPathComponent("w.npy"), options: .init(bfloat16: .widenToFloat32))
        try Npy.write(bf, to: dir.appendingPathComponent("u.npy"), options: .init(bfloat16: .bitPatternAsUInt16))
        let bits = withExtendedLifetime(bf) { bf.storage.bytes.bindMemory(to: UInt16.self).map { Int($0) } }
        let out = try PythonOracle.run(Self.prelude + #"""
        bits = np.array(json.loads(sys.argv[3]), dtype=np.uint16)
        w = np.load(sys.argv[1]); u = np.load(sys.argv[2])
        assert w.dtype == np.float32 and w.shape == (7, 3)
        assert np.array_equal(w.reshape(-1).view(np.uint32), bits.astype(np.uint32) << 16)
        assert u.dtype == np.dtype('<u2') and np.array_equal(u.reshape(-1), bits)
        print('ok')
        """#, [dir.appendingPathComponent("w.npy").path, dir.appendingPathComponent("u.npy").path,
               String(decoding: try JSONSerialization.data(withJSONObject: bits), as: UTF8.self)])
        #expect(out.hasPrefix("ok"))
    }

    // MARK: .npz

    @Test("np.savez and np.savez_compressed archives read identically", arguments: ["savez", "savez_compressed"])
    func npzFromNumPy(function: String) throws {
        let dir = makeTemporaryDirectory()
        let manifest = try PythonOracle.json(Self.prelude + #"""
        path = os.path.join(sys.argv[1], 'x.npz')
        arrays = {}
        for i, code in enumerate(CODES):
            a = make(code, (40, 3 + i), i)
            arrays['w_' + code] = a
            if a.dtype.itemsize > 1:
                arrays['be_' + code] = a.astype(a.dtype.newbyteorder('>'))
        arrays['fortran'] = np.asfortranarray(make('f8', (30, 20), 1))
        arrays['fortran3'] = np.asfortranarray(make('i2', (3, 4, 5), 2))
        arrays['scalar'] = np.float64(3.25)
        arrays['empty'] = np.zeros((0, 4), dtype=np.float32)
        arrays['big'] = make('f4', (1000, 300), 3)
        arrays['dir/odd name é'] = make('u1', (5,), 4)
        getattr(np, sys.argv[2])(path, **arrays)
        entries = []
        for k, a in arrays.items():
            a = np.asarray(a)
            entries.append({'name': k, 'dtype': BRINE[code_of(a.dtype)], 'shape': list(a.shape), 'sha': sha(c_bytes(a))})
        print(json.dumps(entries))
        """#, [dir.path, function])
        let entries = try #require(manifest as? [[String: Any]])
        let npz = try NpzFile(contentsOf: dir.appendingPathComponent("x.npz"))
        #expect(npz.names == entries.map { $0["name"] as! String })
        #expect(npz.members.allSatisfy { $0.isCompressed == (function == "savez_compressed") })
        let all = try npz.loadAll()
        for (e, (name, t)) in zip(entries, all) {
            #expect(name == e["name"] as! String)
            #expect(t.dtype.name == e["dtype"] as! String, "\(name)")
            #expect(t.shape == e["shape"] as! [Int], "\(name)")
            #expect(digestHex(t) == e["sha"] as! String, "\(name)")
        }
        let bundle = try TensorBundle(contentsOf: dir.appendingPathComponent("x.npz"))
        #expect(bundle.names == npz.names)
    }

    @Test("Brine's .npz archives load in numpy.load", arguments: [Npz.Compression.stored, .deflated])
    func npzToNumPy(compression: Npz.Compression) throws {
        let dir = makeTemporaryDirectory()
        var tensors: [(name: String, tensor: AnyTensor)] = []
        for (k, dtype) in DType.allCases.enumerated() where dtype != .bfloat16 {
            tensors.append(("a_\(dtype)", randomArray(dtype: dtype, shape: [33, 7], seed: UInt64(k))))
        }
        tensors.append(("scalar", randomArray(dtype: .float64, shape: [], seed: 1)))
        tensors.append(("empty", randomArray(dtype: .int32, shape: [0, 3], seed: 1)))
        tensors.append(("big", randomArray(dtype: .float32, shape: [512, 1024], seed: 2)))
        tensors.append(("nested/name ü", randomArray(dtype: .uint8, shape: [9], seed: 3)))
        tensors.append(("bf", randomArray(dtype: .bfloat16, shape: [4, 4], seed: 4)))
        let url = dir.appendingPathComponent("b.npz")
        try Npz.write(tensors, to: url, compression: compression, options: .init(bfloat16: .bitPatternAsUInt16))
        let listing: [[String: Any]] = tensors.map { t in
            ["name": t.name, "dtype": (t.tensor.dtype == .bfloat16 ? DType.uint16 : t.tensor.dtype).numpyDescr!,
             "shape": t.tensor.shape, "sha": digestHex(t.tensor)]
        }
        let out = try PythonOracle.run(Self.prelude + #"""
        expected = json.load(open(sys.argv[2]))
        with np.load(sys.argv[1]) as z:
            assert z.files == [e['name'] for e in expected], z.files
            for e in expected:
                a = z[e['name']]
                assert a.dtype.str == e['dtype'] and list(a.shape) == e['shape'], e
                assert sha(c_bytes(a)) == e['sha'], e
        with zipfile.ZipFile(sys.argv[1]) as zf:
            assert zf.testzip() is None
            methods = {i.compress_type for i in zf.infolist()}
            assert methods == {int(sys.argv[3])}, methods
        print('ok')
        """#, [url.path, try writeJSON(listing, in: dir), compression == .stored ? "0" : "8"])
        #expect(out.hasPrefix("ok"))
        // Brine reads its own archive back identically.
        let back = try NpzFile(contentsOf: url).loadAll()
        #expect(back.map(\.name) == tensors.map(\.name))
        for (a, b) in zip(back, tensors) {
            #expect(sameBytes(a.tensor, b.tensor) && a.tensor.shape == b.tensor.shape, "\(a.name)")
        }
    }

    // MARK: safetensors

    @Test("safetensors.numpy.save_file files (every dtype) and a hand-made BF16 file read identically")
    func safetensorsFromPython() throws {
        let dir = makeTemporaryDirectory()
        let manifest = try PythonOracle.json(Self.prelude + #"""
        from safetensors.numpy import save_file
        out = sys.argv[1]
        tensors = {}
        for i, code in enumerate(CODES):
            tensors['t.' + code] = make(code, (7, 2 + i), i)
            tensors['s.' + code] = make(code, (), i)
            tensors['e.' + code] = make(code, (3, 0), i)
        tensors['big'] = make('f4', (384, 1536), 5)
        save_file(tensors, os.path.join(out, 'all.safetensors'), metadata={'format': 'np', 'note': 'ünïcode "quoted"\n'})
        # BF16: NumPy has no bfloat16, so build the file by hand as the spec says.
        bf = make('u2', (5, 6), 8)
        scalar = make('f8', (2,), 9)
        hdr = {'w.bf16': {'dtype': 'BF16', 'shape': [5, 6], 'data_offsets': [16, 16 + bf.nbytes]},
               'z.f64': {'dtype': 'F64', 'shape': [2], 'data_offsets': [0, 16]}}
        h = json.dumps(hdr).encode(); h += b' ' * ((8 - len(h) % 8) % 8)
        with open(os.path.join(out, 'bf16.safetensors'), 'wb') as f:
            f.write(struct.pack('<Q', len(h)) + h + scalar.tobytes() + bf.tobytes())
        entries = [{'name': k, 'dtype': BRINE[code_of(v.dtype)], 'shape': list(v.shape), 'sha': sha(c_bytes(v))} for k, v in tensors.items()]
        entries_bf = [{'name': 'z.f64', 'dtype': 'float64', 'shape': [2], 'sha': sha(scalar.tobytes())},
                      {'name': 'w.bf16', 'dtype': 'bfloat16', 'shape': [5, 6], 'sha': sha(bf.tobytes())}]
        print(json.dumps({'all': entries, 'bf16': entries_bf}))
        """#, [dir.path])
        let m = try #require(manifest as? [String: [[String: Any]]])
        for (file, entries) in m {
            for mode in [LoadMode.copy, .mmap] {
                let st = try SafetensorsFile(contentsOf: dir.appendingPathComponent("\(file).safetensors"), mode: mode)
                #expect(Set(st.names) == Set(entries.map { $0["name"] as! String }))
                for e in entries {
                    let name = e["name"] as! String
                    let t = try st.tensor(name)
                    #expect(t.dtype.name == e["dtype"] as! String, "\(name)")
                    #expect(t.shape == e["shape"] as! [Int], "\(name)")
                    #expect(digestHex(t) == e["sha"] as! String, "\(name)")
                    if mode == .mmap && t.byteCount > 0 { #expect(t.storage.isView, "\(name) should be zero-copy") }
                }
                if file == "all" {
                    #expect(st.metadata == ["format": "np", "note": "ünïcode \"quoted\"\n"])
                }
                // File order = ascending data offsets.
                #expect(st.entries.map(\.dataOffsets.lowerBound) == st.entries.map(\.dataOffsets.lowerBound).sorted())
            }
        }
    }

    @Test("Brine's safetensors files are byte-identical to the reference writer's and load in safetensors")
    func safetensorsToPython() throws {
        let dir = makeTemporaryDirectory()
        var tensors: [(name: String, tensor: AnyTensor)] = []
        for (k, dtype) in DType.allCases.enumerated() where dtype != .bfloat16 {
            tensors.append(("layer.\(k).\(dtype)", randomArray(dtype: dtype, shape: [5, k + 1], seed: UInt64(k))))
            tensors.append(("b\(dtype)", randomArray(dtype: dtype, shape: [], seed: UInt64(k + 100))))
            tensors.append(("Z\(dtype)", randomArray(dtype: dtype, shape: [0, 2], seed: UInt64(k + 200))))
        }
        tensors.append(("naïve ✓ \"q\"\\\n", randomArray(dtype: .float32, shape: [3], seed: 5)))
        let url = dir.appendingPathComponent("brine.safetensors")
        try Safetensors.write(tensors, metadata: ["format": "np"], to: url)
        // The same tensors as .npy files for Python to rebuild the dict from.
        var listing: [[String: Any]] = []
        for (i, t) in tensors.enumerated() {
            let f = dir.appendingPathComponent("t\(i).npy")
            try Npy.write(t.tensor, to: f)
            listing.append(["name": t.name, "file": f.path])
        }
        // A file with BF16 too (checked by parsing it by hand: NumPy has no bfloat16).
        let bf = randomArray(dtype: .bfloat16, shape: [6, 4], seed: 6)
        let f16 = randomArray(dtype: .float16, shape: [3], seed: 7)
        let bfURL = dir.appendingPathComponent("bf.safetensors")
        try Safetensors.write([("half", f16), ("brain", bf)], to: bfURL)
        let out = try PythonOracle.run(Self.prelude + #"""
        from safetensors.numpy import load_file, save
        from safetensors import safe_open
        listing = json.load(open(sys.argv[2]))
        tensors = {e['name']: np.load(e['file']) for e in listing}
        ours = open(sys.argv[1], 'rb').read()
        ref = save(tensors, metadata={'format': 'np'})
        assert ours == ref, 'not byte-identical to safetensors.numpy.save'
        back = load_file(sys.argv[1])
        assert set(back) == set(tensors)
        for k, v in tensors.items():
            assert back[k].dtype == v.dtype and back[k].shape == v.shape and back[k].tobytes() == v.tobytes(), k
        with safe_open(sys.argv[1], framework='np') as f:
            assert f.metadata() == {'format': 'np'}
        raw = open(sys.argv[3], 'rb').read()
        n = struct.unpack('<Q', raw[:8])[0]
        hdr = json.loads(raw[8:8 + n])
        assert n % 8 == 0
        assert list(hdr) == ['half', 'brain'] or list(hdr) == ['brain', 'half'], hdr
        assert hdr['brain']['dtype'] == 'BF16' and hdr['brain']['shape'] == [6, 4]
        b0, b1 = hdr['brain']['data_offsets']
        assert [b0, b1] == [0, 48], hdr   # BF16 sorts before F16 in the reference order
        assert sha(raw[8 + n + b0: 8 + n + b1]) == sys.argv[4]
        h0, h1 = hdr['half']['data_offsets']
        assert np.array_equal(np.frombuffer(raw[8 + n + h0: 8 + n + h1], '<f2').view('<u2'), np.frombuffer(bytes.fromhex(sys.argv[5]), '<u2'))
        print('ok')
        """#, [url.path, try writeJSON(listing, in: dir), bfURL.path, digestHex(bf), withExtendedLifetime(f16) { hexString(f16.storage.bytes) }])
        #expect(out.hasPrefix("ok"))
    }

    // MARK: python/brine_reader.py

    @Test("python/brine_reader.py (written from docs/FORMAT.md) reads every dtype, codec, filter, narrowing and alignment bit-exactly",
          arguments: [Codec.none, .lz4, .zstd(level: 3)])
    func brineReaderPython(codec: Codec) throws {
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("all.brine")
        var options = WriteOptions(codec: codec)
        options.chunkBytes = 1000
        let w = try BrineWriter(url: url, options: options)
        var listing: [[String: Any]] = []
        var refs: [Value] = []
        func add(_ t: AnyTensor, _ path: String, _ o: WriteOptions) throws {
            let i = try w.append(t, arrayPath: path, options: o)
            refs.append(.arrayRef(i))
            listing.append(["path": path, "shape": t.shape, "raw": t.dtype.name,
                            "contiguous": !o.codec.compresses && o.filter == .none && (o.storageDType == nil || t.dtype != .float32)])
        }
        var k: UInt64 = 0
        for dtype in DType.allCases {
            for filter in [ChunkFilter.none, .shuffle] {
                for alignment in [8, 64, 4096] {
                    var o = options
                    o.filter = filter
                    o.alignment = alignment
                    k += 1
                    try add(randomArray(dtype: dtype, shape: [37, 13], seed: k), "\(dtype).\(filter).\(alignment)", o)
                }
            }
        }
        for storage in [DType.float16, .bfloat16] {
            var o = options
            o.storageDType = storage
            o.filter = .shuffle
            try add(randomArray(dtype: .float32, shape: [50, 20], seed: 77), "narrow.\(storage)", o)
        }
        try add(randomArray(dtype: .float64, shape: [], seed: 5), "scalar", options)
        try add(randomArray(dtype: .int16, shape: [4, 0, 3], seed: 6), "empty", options)
        let metadata: Value = ["framework": "brine-tests", "epochs": 12, "big": .uint(UInt64.max), "neg": .int(Int64.min),
                               "lr": 0.001, "f32": .float32(1.5), "flag": true, "none": nil, "blob": .bytes([0, 1, 255]),
                               "nested": ["a": [1, 2, ["b": "c"]]]]
        try w.finish(root: .map([("weights", .list(refs)), ("name", "model")]), metadata: metadata)
        // What Brine itself loads, as the expected bytes.
        let file = try BrineFile(contentsOf: url)
        for (i, a) in file.arrays.enumerated() {
            listing[i]["digest"] = digestHex(try file.anyArray(a.path))
        }
        let out = try PythonOracle.run(Self.prelude + #"""
        import brine_reader as br
        listing = json.load(open(sys.argv[2]))
        for mmap in (False, True):
            with br.BrineFile(sys.argv[1], mmap=mmap) as f:
                assert f.format_version[0] == 1
                m = f.metadata
                assert m['framework'] == 'brine-tests' and m['epochs'] == 12 and m['big'] == 2**64 - 1
                assert m['neg'] == -2**63 and m['lr'] == 0.001 and m['f32'] == 1.5 and m['flag'] is True
                assert m['none'] is None and m['blob'] == b'\x00\x01\xff' and m['nested'] == {'a': [1, 2, {'b': 'c'}]}
                assert m['brine.format'] == '1.1' and 'brine.created' in m
                assert list(f.root) == ['weights', 'name'] and f.root['name'] == 'model'
                assert f.root['weights'] == [br.ArrayRef(i) for i in range(len(listing))]
                assert f.keys() == [e['path'] for e in listing]
                for e in listing:
                    a = f.read(e['path'])
                    assert list(a.shape) == e['shape'], e
                    assert sha(c_bytes(a)) == e['digest'], (e, f.info(e['path']))
                    if mmap and e['contiguous'] and a.size:
                        assert not a.flags.owndata and not a.flags.writeable, ('not a zero-copy view', e)
                        assert a.__array_interface__['data'][0] % f.info(e['path']).alignment == 0
                assert f.verify() == []
                w = f.read('bfloat16.none.8', bfloat16='float32')
                bits = f.read('bfloat16.none.8')
                assert w.dtype == np.float32 and np.array_equal(w.view(np.uint32), bits.astype(np.uint32) << 16)
                resolved = f.resolve()
                assert len(resolved['weights']) == len(listing)
        print('ok')
        """#, [url.path, try writeJSON(listing, in: dir)])
        #expect(out.hasPrefix("ok"))
    }

    @Test("python/brine_reader.py reports damaged files with FORMAT.md's error codes")
    func brineReaderPythonDamage() throws {
        let dir = makeTemporaryDirectory()
        let url = dir.appendingPathComponent("d.brine")
        let w = try BrineWriter(url: url, options: WriteOptions(codec: .zstd(level: 1), filter: .shuffle))
        try w.append(randomArray(dtype: .float32, shape: [4096], seed: 1), arrayPath: "a")
        try w.append(randomArray(dtype: .int64, shape: [100], seed: 2), arrayPath: "b", options: WriteOptions())
        try w.finish()
        let bytes = try Data(contentsOf: url)
        let info = try BrineFile(contentsOf: url).arrays
        func damaged(_ name: String, _ change: (inout Data) -> Void) throws -> String {
            var d = bytes
            change(&d)
            let u = dir.appendingPathComponent(name)
            try d.write(to: u)
            return u.path
        }
        let chunkFlip = try damaged("chunk.brine") { $0[info[0].dataOffset + 5] ^= 0x40 }
        let rawFlip = try damaged("raw.brine") { $0[info[1].dataOffset + 3] ^= 0x01 }
        let truncated = try damaged("trunc.brine") { $0 = $0.prefix($0.count - 10) }
        let headerFlip = try damaged("header.brine") { $0[$0.count - 64 - 3] ^= 0xFF }
        let notBrine = try damaged("not.brine") { $0[0] = 0x00 }
        let version = try damaged("version.brine") { $0[8] = 9 }
        /// Changes a trailer field and recomputes the trailer checksum, so the check behind it is reached.
        func trailer(_ name: String, field: Int, _ value: (UInt64) -> UInt64) throws -> String {
            try damaged(name) { d in
                let t = d.count - 64
                var v: UInt64 = 0
                for i in 0 ..< 8 { v |= UInt64(d[t + field + i]) << (8 * UInt64(i)) }
                v = value(v)
                for i in 0 ..< 8 { d[t + field + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
                let sum = d.withUnsafeBytes { Checksum.xxh3(UnsafeRawBufferPointer(rebasing: $0[t ..< t + 48])) }
                for i in 0 ..< 8 { d[t + 48 + i] = UInt8(truncatingIfNeeded: sum >> (8 * UInt64(i))) }
            }
        }
        let longer = try trailer("longer.brine", field: 24) { $0 + 1 }
        let shorter = try trailer("shorter.brine", field: 24) { $0 - 1 }
        let misplaced = try trailer("misplaced.brine", field: 0) { _ in 8 }
        let hugeHeader = try trailer("huge.brine", field: 8) { _ in 1 << 40 }
        let out = try PythonOracle.run(Self.prelude + #"""
        import brine_reader as br
        def code(fn):
            try:
                fn()
            except br.BrineError as e:
                return e.code
            return None
        chunk, raw, trunc, header, notb, version, longer, shorter, misplaced, huge = sys.argv[1:11]
        assert code(lambda: br.BrineFile(longer)) == 'truncated'
        assert code(lambda: br.BrineFile(shorter)) == 'layout'
        assert code(lambda: br.BrineFile(misplaced)) == 'layout'
        assert code(lambda: br.BrineFile(huge)) == 'limitExceeded'
        with br.BrineFile(chunk) as f:
            assert code(lambda: f.read('a')) == 'checksumMismatch'
            assert [e.code for e in f.verify()] == ['checksumMismatch']
            assert f.read('b') is not None
        with br.BrineFile(raw, mmap=True) as f:
            assert code(lambda: f.read('b')) == 'checksumMismatch'   # mapped views are verified by default
            assert code(lambda: br.BrineFile(raw).read('b')) == 'checksumMismatch'
            assert [e.chunk for e in f.verify()] == [0]
        with br.BrineFile(raw, mmap=True, verify_mapped=False) as f:
            f.read('b')   # the named opt-out for views
        assert code(lambda: br.BrineFile(trunc)) == 'truncated'
        assert code(lambda: br.BrineFile(header)) == 'checksumMismatch'
        assert code(lambda: br.BrineFile(notb)) == 'notABrineFile'
        assert code(lambda: br.BrineFile(version)) == 'unsupportedVersion'
        print('ok')
        """#, [chunkFlip, rawFlip, truncated, headerFlip, notBrine, version, longer, shorter, misplaced, hugeHeader])
        #expect(out.hasPrefix("ok"))
        // Swift agrees on every code.
        #expect(throws: BrineError.self) { try BrineFile(path: chunkFlip).anyArray("a") }
        for (path, code) in [(truncated, BrineError.Code.truncated), (headerFlip, .checksumMismatch),
                             (notBrine, .notABrineFile), (version, .unsupportedVersion), (longer, .truncated),
                             (shorter, .layout), (misplaced, .layout), (hugeHeader, .limitExceeded)] {
            do {
                _ = try BrineFile(path: path)
                Issue.record("\(path) opened")
            } catch {
                #expect(error.code == code, "\(path)")
            }
        }
    }

    // MARK: MiniLM round trips

    @Test("MiniLM: safetensors → Brine (zstd 3 + shuffle) → safetensors is byte-identical; → npz → safetensors keeps every tensor byte")
    func miniLMRoundTrip() throws {
        let source = try #require(FileManager.default.fileExists(atPath: miniLMPath.path) ? miniLMPath : nil,
                                  "MiniLM checkpoint missing at \(miniLMPath.path): run scripts/fetch-models.sh")
        let dir = makeTemporaryDirectory()
        let original = try SafetensorsFile(contentsOf: source, mode: .mmap)
        #expect(original.entries.count == 104)
        let originalTensors = try original.loadAll()

        // safetensors → Brine with BrineWriter, zstd level 3 + shuffle.
        let brineURL = dir.appendingPathComponent("minilm.brine")
        var wo = WriteOptions(codec: .zstd(level: 3), filter: .shuffle)
        wo.durable = false
        var bundleOptions = TensorBundleWriteOptions()
        bundleOptions.brine = wo
        try TensorBundle(tensors: originalTensors, metadata: original.metadata).write(to: brineURL, options: bundleOptions)
        let brine = try BrineFile(contentsOf: brineURL)
        #expect(brine.arrays.allSatisfy { $0.codec == .zstd(level: 3) && $0.filter == .shuffle })
        #expect(brine.verify().isEmpty)

        // Brine → safetensors: the very bytes of the original file.
        let backURL = dir.appendingPathComponent("back.safetensors")
        try TensorBundle(contentsOf: brineURL).write(to: backURL)
        let back = try SafetensorsFile(contentsOf: backURL)
        #expect(back.names == original.names)
        #expect(back.entries.map(\.dtype) == original.entries.map(\.dtype))
        #expect(back.entries.map(\.shape) == original.entries.map(\.shape))
        for ((n1, a), (n2, b)) in zip(originalTensors, try back.loadAll()) {
            #expect(n1 == n2 && a == b, "\(n1)")
        }
        #expect(try Data(contentsOf: backURL) == Data(contentsOf: source), "safetensors → brine → safetensors is not byte-identical")

        // safetensors → brine → npz → safetensors: identical tensor data.
        let npzURL = dir.appendingPathComponent("minilm.npz")
        var dropping = TensorBundleWriteOptions()
        dropping.dropMetadata = true  // safetensors' "format": "pt" has no place in .npz
        try TensorBundle(contentsOf: brineURL).write(to: npzURL, options: dropping)
        let viaNpz = dir.appendingPathComponent("via-npz.safetensors")
        var fromNpz = try TensorBundle(contentsOf: npzURL)
        fromNpz.metadata = original.metadata
        try fromNpz.write(to: viaNpz)
        #expect(try Data(contentsOf: viaNpz) == Data(contentsOf: source), "→ npz → safetensors is not byte-identical")

        // And the reference library agrees tensor by tensor.
        let out = try PythonOracle.run(Self.prelude + #"""
        from safetensors.numpy import load_file
        import brine_reader as br
        a = load_file(sys.argv[1]); b = load_file(sys.argv[2]); z = np.load(sys.argv[3])
        assert list(a) == list(b) and set(z.files) == set(a)
        with br.BrineFile(sys.argv[4]) as f:
            assert f.metadata['format'] == 'pt' and set(f.keys()) == set(a)
            for k in a:
                assert a[k].dtype == b[k].dtype == z[k].dtype and a[k].shape == b[k].shape == z[k].shape
                assert a[k].tobytes() == b[k].tobytes() == z[k].tobytes() == f.read(k).tobytes(), k
        print('ok', len(a))
        """#, [source.path, backURL.path, npzURL.path, brineURL.path])
        #expect(out.hasPrefix("ok 104"))
    }
}

// MARK: Helpers

/// The XXH3-64 of a tensor's bytes as 16 hex digits (the tensor is kept alive while hashing).
func digestHex(_ t: AnyTensor) -> String {
    withExtendedLifetime(t) { digestHex(t.storage.bytes) }
}

/// `true` when the tensor's bytes equal `data`.
func sameBytes(_ t: AnyTensor, _ data: Data) -> Bool {
    withExtendedLifetime(t) { t.storage.bytes.elementsEqual(data) }
}

/// `true` when two tensors hold the same bytes.
func sameBytes(_ a: AnyTensor, _ b: AnyTensor) -> Bool {
    withExtendedLifetime((a, b)) { a.storage.bytes.elementsEqual(b.storage.bytes) }
}

/// The XXH3-64 of `bytes` as 16 hex digits (Python: `format(xxhash.xxh3_64_intdigest(b), '016x')`).
func digestHex(_ bytes: UnsafeRawBufferPointer) -> String {
    String(Checksum.xxh3(bytes), radix: 16).leftPad(16)
}

func hexString(_ bytes: UnsafeRawBufferPointer) -> String {
    bytes.map { String($0, radix: 16).leftPad(2) }.joined()
}

/// Writes a JSON value to a file in `dir` and returns the path.
func writeJSON(_ value: Any, in dir: URL) throws -> String {
    let url = dir.appendingPathComponent("listing-\(UUID().uuidString.prefix(8)).json")
    try JSONSerialization.data(withJSONObject: value).write(to: url)
    return url.path
}
