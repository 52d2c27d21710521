"""Import boundaries, checked in fresh interpreters: the sampler, analysis and cluster layers
never pull in the UI toolkits (and the sampler not the SSH or etcd clients either)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UI = ["textual", "rich"]
NETWORK_CLIENTS = ["asyncssh", "aetcd"]

# Lists every module of the named packages (pkgutil walk), imports them all, then reports
# which of the watched top-level names and which autoglm_tui subpackages got imported.
PROBE = """
import importlib, json, pkgutil, sys
packages, extra, watched = json.loads(sys.argv[1])
names = list(extra)
for pkg in packages:
    mod = importlib.import_module(pkg)
    names.append(pkg)
    names += [m.name for m in pkgutil.walk_packages(mod.__path__, pkg + ".")]
for name in names:
    importlib.import_module(name)
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(watched))
ours = [m for m in sys.modules if m.startswith("autoglm_tui.")]
subpackages = sorted({".".join(m.split(".")[:2]) for m in ours})
print(json.dumps({"imported": names, "loaded": loaded, "subpackages": subpackages}))
"""


def probe(packages: list[str], extra: list[str], watched: list[str], *flags: str) -> dict:
    done = subprocess.run(
        [sys.executable, *flags, "-c", PROBE, json.dumps([packages, extra, watched])],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_sampler_imports_no_ui_ssh_or_etcd_client() -> None:
    extra = [
        "autoglm_tui.model",
        "autoglm_tui.wire",
        "autoglm_tui.text",
        "autoglm_tui.commands.sample",
    ]
    result = probe(["autoglm_tui.sampler"], extra, UI + NETWORK_CLIENTS)
    assert "autoglm_tui.sampler.collector" in result["imported"]
    assert "autoglm_tui.sampler.loop" in result["imported"]
    assert result["loaded"] == []
    # Only the CLI module of `sample` may come from commands/; nothing from the monitor side.
    assert not {"autoglm_tui.analysis", "autoglm_tui.cluster", "autoglm_tui.tui"} & set(
        result["subpackages"]
    )


def test_sampler_modules_import_with_the_standard_library_alone() -> None:
    """-S leaves out site-packages: psutil, pynvml and every third-party package are gone."""
    extra = ["autoglm_tui.model", "autoglm_tui.wire", "autoglm_tui.wire_delta",
             "autoglm_tui.text"]
    result = probe(["autoglm_tui.sampler"], extra, ["psutil", "pynvml"], "-S")
    assert "autoglm_tui.sampler.procfs" in result["imported"]
    assert result["subpackages"] == [
        "autoglm_tui.gpu_codes",
        "autoglm_tui.model",
        "autoglm_tui.sampler",
        "autoglm_tui.stdio",
        "autoglm_tui.text",
        "autoglm_tui.wire",
        "autoglm_tui.wire_delta",
    ]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("autoglm_tui.analysis", UI + NETWORK_CLIENTS),
        ("autoglm_tui.cluster", UI),
        ("autoglm_tui.recording", UI + NETWORK_CLIENTS),
    ],
)
def test_monitor_layers_import_no_ui(package: str, forbidden: list[str]) -> None:
    result = probe([package], [], forbidden)
    assert package in result["imported"]
    assert result["loaded"] == []
    assert "autoglm_tui.tui" not in result["subpackages"]
