#!/usr/bin/env bash
# Installs everything the tests need (system packages included) and runs the whole test suite.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

# cmake and g++ build llama-server for the inference-service tests (scripts/build_llama_server.sh);
# prometheus brings promtool, the reference for quantiles.
SYS_PKGS=(etcd-server openssh-server prometheus-alertmanager prometheus prometheus-node-exporter
          influxdb tmux iproute2 procps librsvg2-bin e2fsprogs libfuse2 cmake g++ make)
# apt-get runs as root: directly in a root shell, else through sudo (else a clear message).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        echo ""
    elif command -v sudo >/dev/null 2>&1; then
        echo "sudo"
    else
        echo "scripts/test.sh: installing system packages needs root; run it as root or install sudo" >&2
        exit 1
    fi
}
missing=()
for p in "${SYS_PKGS[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=$(as_root)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
if ! "$PY" -c "import venv, ensurepip" >/dev/null 2>&1; then
    # Debian/Ubuntu split venv support out of the interpreter package.
    SUDO=$(as_root)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv python3-pip
fi
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

.venv/bin/ruff check autoglm_tui tests benchmarks scripts
# A real llama.cpp server for the inference-service tests: built once, cached outside the repo.
PYTHON=.venv/bin/python bash scripts/build_llama_server.sh >/dev/null
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
