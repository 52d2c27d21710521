#!/usr/bin/env bash
# Compare the sampler with `nvidia-smi -q` on a machine with an NVIDIA GPU, side by side, then
# exit. Needs only python3 (>= 3.10) and the NVML binding `pynvml` (nvidia-ml-py): already
# importable, or the file $PYNVML_PY, or this checkout's .venv copy (a machine without network
# gets that one file carried over). Nothing is installed; no network is used. About 10 s.
#
#   bash scripts/gpu_check.sh            # exit 0: every exact field agrees, 1: some differ
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "gpu_check: needs python3 >= 3.10 (found: $("$PY" --version 2>&1))" >&2
    exit 2
fi
extra=""
if ! "$PY" -c 'import pynvml' 2>/dev/null; then
    file="${PYNVML_PY:-}"
    if [ -z "$file" ]; then
        file="$(ls "$ROOT"/.venv/lib/python3*/site-packages/pynvml.py 2>/dev/null | head -n 1 || true)"
    fi
    if [ -z "$file" ] || [ ! -f "$file" ]; then
        echo "gpu_check: no NVML binding: pip install nvidia-ml-py, or set PYNVML_PY=/path/pynvml.py" >&2
        exit 2
    fi
    # Only that one file from the venv: a private directory holding a copy of it.
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    cp "$file" "$tmp/pynvml.py"
    extra="$tmp"
fi
echo "== $(uname -n), $(uname -r), $("$PY" --version 2>&1)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=index,name,driver_version --format=csv,noheader || true
# The standard-library sampler (/proc, no psutil), the real NVML; no fake, whatever the env says.
env -u AUTOGLM_NVML_MODULE -u AUTOGLM_FAKE_NVML \
    PYTHONPATH="$ROOT${extra:+:$extra}" "$PY" "$ROOT/scripts/gpu_check.py" "$@"
