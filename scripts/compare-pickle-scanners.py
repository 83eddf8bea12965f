#!/usr/bin/env python3
"""Brine's pickle reader vs fickling and picklescan on a hostile pickle corpus.

Usage: compare-pickle-scanners.py BRINE_EXECUTABLE [WORKDIR]
Needs numpy, joblib, scikit-learn (scripts/python-env.sh) and the scanners
of scripts/pickle-scanners-requirements.txt in the same interpreter.

Builds the corpus (the payloads of Tests/BrineTests/PickleHostileTests.swift
plus benign NumPy/scikit-learn files) in WORKDIR, runs
  brine inspect --json FILE            (Brine: reads, never runs code)
  python -m fickling --check-safety --json-output OUT FILE
  python -m picklescan --path FILE
on each, and prints a Markdown table of the three verdicts and the list of
disagreements. Every payload would create a marker file if it ran; the
script fails if any marker appears.

"Disagreement" is judged against what loading the file with pickle.load
would do (the column "runs code on load"): a payload that would call a
non-allow-listed callable is dangerous; a benign file or a resource bomb
is not code execution. A scanner disagrees when it calls a dangerous file
clean, calls a benign file (one whose only callables are NumPy,
scikit-learn and builtins containers) unsafe, or fails on the file.
"""
import io, json, os, pickle, subprocess, sys, tempfile, zlib

import numpy as np


def build(work, marker):
    files = {}  # name -> (bytes, runs code on load, description)

    def add(name, data, dangerous, what):
        files[name] = (data, dangerous, what)

    cmd = f"touch {marker}"
    b = cmd.encode()
    # os.system through __reduce__ (protocol 4, as pickle.dumps writes it)
    class Sys:
        def __reduce__(self):
            return (os.system, (cmd,))
    add("os-system-reduce.pkl", pickle.dumps(Sys(), protocol=4), True, "`os.system` via `__reduce__` (protocol 4)")
    class Ev:
        def __reduce__(self):
            return (eval, (f"__import__('os').system({cmd!r})",))
    add("builtins-eval.pkl", pickle.dumps(Ev(), protocol=2), True, "`builtins.eval`")
    class Ex:
        def __reduce__(self):
            return (exec, (f"import os; os.system({cmd!r})",))
    add("builtins-exec.pkl", pickle.dumps(Ex(), protocol=2), True, "`builtins.exec`")
    import subprocess as sp
    class Popen:
        def __reduce__(self):
            return (sp.Popen, (["touch", marker],))
    add("subprocess-popen.pkl", pickle.dumps(Popen(), protocol=2), True, "`subprocess.Popen`")
    class CheckOutput:
        def __reduce__(self):
            return (sp.check_output, (["true"],), {"x": Sys()})
    add("check-output-with-system-state.pkl", pickle.dumps(CheckOutput(), protocol=2), True,
        "`subprocess.check_output` with an `os.system` call in its state")
    add("payload-in-list.pkl", pickle.dumps([1, {"k": Sys()}], protocol=2), True, "payload inside a list/dict")
    add("getattr-call-chain.pkl",
        b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(Vos\ntRVsystem\ntR(V" + b + b"\ntR.",
        True, "call of a call's result (`getattr(__import__('os'), 'system')(…)`, protocol 0)")
    # memo bomb: [1, 2] memoized, then 4 levels of 100 memo references to the level below: 10^8 leaves
    body = bytearray(b"\x80\x04](K\x01K\x02e\x94")
    for level in range(4):
        body += b"]("
        body += (b"h" + bytes([level])) * 100
        body += b"e\x94"
    body += b"."
    add("memo-bomb.pkl", bytes(body), False, f"memo bomb ({len(body)} bytes, 10⁸ references to one list)")
    add("deep-nesting.pkl", b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b".", False, "100,000-deep nesting")
    add("binbytes8-huge.pkl", b"\x80\x04\x8e" + (1 << 60).to_bytes(8, "little") + b"xx.", False, "`BINBYTES8` declaring 2⁶⁰ bytes")
    add("next-buffer.pkl", b"\x80\x05\x97.", False, "protocol-5 `NEXT_BUFFER` (out-of-band buffer absent)")
    n = 64 << 20
    add("zlib-bomb.pkl", zlib.compress(b"\x80\x04\x8e" + n.to_bytes(8, "little") + bytes(n) + b".", 9), False,
        "zlib decompression bomb (64 MiB of zeros)")
    add("numpy-array.pkl", pickle.dumps(np.arange(12, dtype=np.float32).reshape(3, 4), protocol=4), False, "NumPy array (`pickle.dump`, protocol 4)")
    from sklearn.linear_model import LogisticRegression
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    lr = LogisticRegression(max_iter=200).fit(X[:300], y[:300])
    add("logreg-p5.pkl", pickle.dumps(lr, protocol=5), False, "`LogisticRegression`, `pickle.dump` protocol 5")
    import joblib
    jb = os.path.join(work, "logreg.joblib")
    joblib.dump(lr, jb)
    add("logreg.joblib", open(jb, "rb").read(), False, "`LogisticRegression`, `joblib.dump`")
    class Wrapped:
        def __reduce__(self):
            return (os.system, (cmd,))
    jp = os.path.join(work, "array-then-payload.joblib")
    joblib.dump({"w": np.arange(64, dtype=np.float64), "x": Wrapped()}, jp)
    add("array-then-payload.joblib", open(jp, "rb").read(), True, "joblib file: an array, then an `os.system` payload")
    for name, (data, _, _) in files.items():
        with open(os.path.join(work, name), "wb") as f:
            f.write(data)
    return files


def run(args, timeout=120):
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired:
        return "timeout", "", ""


# Brine's native allow-list (docs/PICKLE.md) besides NumPy; NumPy and
# scikit-learn names count as benign here (loading them runs library code,
# which is what those files are for).
ALLOWED = {
    "collections.OrderedDict", "builtins.set", "builtins.frozenset", "builtins.complex", "builtins.bytearray",
    "builtins.slice", "copyreg._reconstructor", "_codecs.encode", "joblib.numpy_pickle.NumpyArrayWrapper",
}


def brine_verdict(brine, path):
    rc, out, err = run([brine, "inspect", "--json", path])
    if rc != 0:
        # "brine: error: … [code] …": the code name is the first word after the colon.
        line = (err.strip().splitlines() or ["?"])[-1]
        code = next((c for c in ("limitExceeded", "unsupportedFeature", "invalidInterop", "truncated", "decompressionFailed", "unsupportedDType")
                     if c in line), f"exit {rc}")
        return f"refused: `{code}`", "error"
    report = json.loads(out)
    classes = report.get("classes", [])
    arrays = len(report.get("arrays", []))
    foreign = [c for c in classes if c not in ALLOWED and c.split(".")[0] not in ("numpy", "sklearn", "scipy")]
    text = f"read: {arrays} array{'' if arrays == 1 else 's'}" + (f"; inert nodes {', '.join('`' + c + '`' for c in foreign)}" if foreign else "")
    return text, ("names foreign callables" if foreign else "read")


def fickling_verdict(path, work):
    out = os.path.join(work, "fickling.json")
    if os.path.exists(out):
        os.remove(out)
    rc, so, se = run([sys.executable, "-m", "fickling", "--check-safety", "--json-output", out, path])
    if os.path.exists(out):
        try:
            sev = json.load(open(out)).get("severity", "?")
        except Exception:
            sev = "?"
        flagged = sev not in ("LIKELY_SAFE", "Severity.LIKELY_SAFE")
        return sev.replace("Severity.", ""), ("flagged" if flagged else "clean")
    tail = (se.strip().splitlines() or [""])[-1][:80]
    return f"fails (exit {rc}: {tail})", "fails"


def picklescan_verdict(path):
    rc, so, se = run([sys.executable, "-m", "picklescan", "--path", path])
    text = so + se
    dang = 0
    for line in text.splitlines():
        if line.startswith("Dangerous globals:"):
            dang = int(line.split(":")[1])
    if "ERROR: parsing" in text:
        # picklescan stops at the first opcode it cannot parse (joblib's raw
        # array bytes) and reports only the globals before it.
        return f"stops at a parse error, exit {rc}, {dang} dangerous globals before it", "fails"
    if rc == 2:
        return f"error (exit {rc})", "fails"
    if rc == 1 or dang > 0:
        return f"dangerous ({dang} globals)", "flagged"
    return "clean", "clean"


def main():
    brine = os.path.abspath(sys.argv[1])
    work = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="pickle-scanners-")
    os.makedirs(work, exist_ok=True)
    marker = os.path.join(work, "MARKER-code-ran")
    files = build(work, marker)
    import fickling, picklescan  # noqa: F401  (fail early when missing)
    from importlib.metadata import version
    rows, disagreements = [], []
    for name, (_, dangerous, what) in files.items():
        path = os.path.join(work, name)
        b_text, b_kind = brine_verdict(brine, path)
        f_text, f_kind = fickling_verdict(path, work)
        p_text, p_kind = picklescan_verdict(path)
        rows.append((what, "yes" if dangerous else "no", b_text, f_text, p_text))
        for tool, kind in (("fickling", f_kind), ("picklescan", p_kind)):
            text = f_text if tool == "fickling" else p_text
            if kind == "fails" and dangerous and "exit 0" in text:
                disagreements.append(f"- {what}: {tool} cannot parse the whole file yet exits 0 (no infected file): it misses the payload")
            elif kind == "fails":
                disagreements.append(f"- {what}: {tool} fails on the file")
            elif dangerous and kind == "clean":
                disagreements.append(f"- {what}: {tool} calls it clean; Brine shows the callables it would run")
            elif not dangerous and kind == "flagged" and b_kind == "read":
                disagreements.append(f"- {what}: {tool} flags it; Brine reads it with only allow-listed classes")
        if dangerous and b_kind != "names foreign callables":
            disagreements.append(f"- {what}: Brine does not show the callables ({b_text})")
    print(f"fickling {version('fickling')}, picklescan {version('picklescan')}, corpus in {work}\n")
    print("| file | runs code on load | Brine (`inspect --json`) | fickling (`--check-safety`) | picklescan (`--path`) |")
    print("|:--|:--|:--|:--|:--|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print("\nDisagreements:")
    print("\n".join(disagreements) if disagreements else "- none")
    if os.path.exists(marker):
        print(f"\nFAIL: {marker} exists: a tool ran a payload")
        sys.exit(1)
    print("\nNo payload ran (no marker file).")


if __name__ == "__main__":
    main()
