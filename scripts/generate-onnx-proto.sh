#!/usr/bin/env bash
# Regenerates Sources/BrineONNX/onnx.pb.swift from the ONNX protobuf schema.
# The build never runs protoc: the generated file is committed.
#
#   scripts/generate-onnx-proto.sh [ONNX_PROTO]
#
# - Schema: onnx/onnx.proto from the `onnx` PyPI package in the project venv
#   (scripts/python-env.sh), or the file given. The wheel ships onnx.proto
#   (proto2 syntax, the same messages and field numbers as onnx.proto3).
# - protoc: Debian's protobuf-compiler (apt-get install protobuf-compiler).
# - protoc-gen-swift: built from apple/swift-protobuf at the tag the package
#   depends on (1.39.0) in a scratch folder outside the repository (about
#   8-10 minutes in release on 2 cores).
# The generated types are internal to BrineONNX (Onnx_ModelProto, …).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tag=1.39.0
proto="${1:-$("$repo/.venv/bin/python" -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "onnx.proto"))')}"
scratch="${TMPDIR:-/tmp}/brine-protoc-gen-swift-$tag"
command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
if [ ! -x "$scratch/.build/release/protoc-gen-swift" ]; then
    rm -rf "$scratch"
    git clone --quiet --depth 1 --branch "$tag" https://github.com/apple/swift-protobuf "$scratch"
    (cd "$scratch" && swift build -c release --product protoc-gen-swift)
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$proto" "$work/onnx.proto"
protoc --plugin=protoc-gen-swift="$scratch/.build/release/protoc-gen-swift" --swift_out="$work" -I"$work" "$work/onnx.proto"
cp "$work/onnx.pb.swift" "$repo/Sources/BrineONNX/onnx.pb.swift"
echo "wrote Sources/BrineONNX/onnx.pb.swift from $proto" >&2
