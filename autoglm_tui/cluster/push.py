"""Agentless push: the sampler's code travels over the SSH channel and runs on the node's python3.

The monitor runs a fixed bootstrap (``python3 -c BOOTSTRAP --interval N``) and writes one line
to its stdin: the base64 of a zip holding the sampler (``autoglm_tui`` core modules and
``autoglm_tui/sampler/**``) and the pure-Python NVML bindings (``pynvml.py``). The bootstrap
imports from that zip in memory (nothing is written on the node), then runs
``autoglm_tui.sampler.loop.main(argv)``. The rest of stdin stays open: its EOF stops the sampler.

The bootstrap is a constant: no node data (host names, labels, registration fields) ever goes
into the command line.
"""

from __future__ import annotations

import ast
import base64
import importlib.util
import io
import shlex
import zipfile
from functools import lru_cache
from pathlib import Path

import autoglm_tui

PACKAGE_DIR = Path(autoglm_tui.__file__).resolve().parent
# Modules every sampler needs, besides autoglm_tui/sampler/** (relative to the package).
CORE_MODULES = ("__init__.py", "model.py", "wire.py", "text.py")
# Parts of the package that must never travel to a node (monitor-side, heavy, or UI).
NEVER_PUSHED = ("cluster", "tui", "analysis", "commands")
ENTRY_MODULE = "autoglm_tui.sampler.loop"

# Reads one base64 line from stdin, serves imports from it in memory, runs the sampler's main.
# The current directory is dropped from sys.path (a file in the login directory must not shadow
# a stdlib module). Python 3.8+ syntax; stdlib only.
BOOTSTRAP = (
    "import sys,io,base64,zipfile,importlib.abc,importlib.util\n"
    "sys.path=[p for p in sys.path if p not in ('','.')]\n"
    "z=zipfile.ZipFile(io.BytesIO(base64.b64decode(sys.stdin.buffer.readline())))\n"
    "S={n:z.read(n) for n in z.namelist()}\n"
    "class F(importlib.abc.MetaPathFinder,importlib.abc.Loader):\n"
    " def find_spec(self,name,path=None,target=None):\n"
    "  b=name.replace('.','/')\n"
    "  for k,p in ((b+'/__init__.py',True),(b+'.py',False)):\n"
    "   if k in S:return importlib.util.spec_from_loader(name,self,origin='push:'+k,"
    "is_package=p)\n"
    " def create_module(self,spec):return None\n"
    " def exec_module(self,m):\n"
    "  k=m.__spec__.origin[5:];exec(compile(S[k],'<push>/'+k,'exec'),m.__dict__)\n"
    "sys.meta_path.insert(0,F())\n"
    f"from {ENTRY_MODULE} import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _imported_package_modules(source: str) -> set[str]:
    """Top-level ``autoglm_tui.X`` modules that `source` imports (absolute imports only)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "autoglm_tui" and len(parts) > 1:
                found.add(parts[1])
    return found


def bundle_files() -> dict[str, Path]:
    """Archive name -> file on this machine, for everything the pushed sampler needs."""
    files: dict[str, Path] = {}
    sampler_dir = PACKAGE_DIR / "sampler"
    for path in sorted(sampler_dir.rglob("*.py")):
        if "__pycache__" not in path.parts:
            files[f"autoglm_tui/{path.relative_to(PACKAGE_DIR).as_posix()}"] = path
    for name in CORE_MODULES:
        files[f"autoglm_tui/{name}"] = PACKAGE_DIR / name
    # Follow absolute imports of other top-level modules (e.g. metrics.py) from what is packed.
    pending = list(files.values())
    while pending:
        source = pending.pop().read_text(encoding="utf-8")
        for top in sorted(_imported_package_modules(source)):
            if top in NEVER_PUSHED or top == "sampler":
                continue
            candidate = PACKAGE_DIR / f"{top}.py"
            arcname = f"autoglm_tui/{top}.py"
            if candidate.is_file() and arcname not in files:
                files[arcname] = candidate
                pending.append(candidate)
    spec = importlib.util.find_spec("pynvml")
    if spec is not None and spec.origin and spec.origin.endswith(".py"):
        files["pynvml.py"] = Path(spec.origin)
    return files


@lru_cache(maxsize=1)
def build_bundle() -> bytes:
    """The line written to the bootstrap's stdin: base64 of the zip, then a newline."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for arcname, path in sorted(bundle_files().items()):
            info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return base64.b64encode(buf.getvalue()) + b"\n"


def push_command(python: str, interval_s: float) -> str:
    """The remote command line for push mode: the node's python running the fixed bootstrap."""
    return f"{shlex.quote(python)} -u -c {shlex.quote(BOOTSTRAP)} --interval {interval_s:g}"


__all__ = ["BOOTSTRAP", "build_bundle", "bundle_files", "push_command"]
