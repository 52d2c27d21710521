"""The README's install line works in a root shell without sudo and as a user with sudo, and
the README says what the test command installs and how long it takes (issue 15, item 19).

The line is run by a real shell (bash and dash) exactly as the README prints it; apt-get,
sudo, python3 and the venv's programs are stand-ins on PATH that log how they were called, so
the test sees which commands the line runs, and through what, without installing anything.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def install_line() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Set up"):]
    block = re.search(r"```sh\n(.*?)\n```", section, re.S)
    assert block is not None
    lines = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(lines) == 1, "the install command is one line to paste"
    return lines[0]


def stub(path: Path, log: Path, name: str, body: str = "") -> None:
    path.write_text(f'#!/bin/bash\necho "{name} $*" >> {log}\n{body}\n', encoding="utf-8")
    path.chmod(0o755)


def run_line(tmp_path: Path, shell: str, with_sudo: bool) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    log.touch()
    for tool in ("mkdir", "ln"):  # what the python3 stand-in uses, nothing else
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    stub(bin_dir / "apt-get", log, "apt-get")
    venv_bin = tmp_path / "venv-bin"  # python3 -m venv .venv makes these (stand-ins too)
    venv_bin.mkdir()
    stub(venv_bin / "pip", log, "pip")
    stub(venv_bin / "autoglm-tui", log, "autoglm-tui")
    stub(bin_dir / "python3", log, "python3", f"mkdir -p .venv && ln -s {venv_bin} .venv/bin")
    if with_sudo:
        stub(bin_dir / "sudo", log, "sudo", '"$@"')
    work = tmp_path / "clone"
    work.mkdir()
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    subprocess.run([shutil.which(shell) or shell, "-c", install_line()], cwd=work, env=env,
                   check=True, timeout=30, capture_output=True, text=True)
    return log.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("shell", ["bash", "dash"])
def test_install_line_in_a_root_shell_without_sudo(tmp_path: Path, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    calls = run_line(tmp_path, shell, with_sudo=False)
    assert calls == [
        "apt-get update",
        "apt-get install -y python3-venv",
        "python3 -m venv .venv",
        "pip install .",
        "autoglm-tui ",
    ]


@pytest.mark.parametrize("shell", ["bash", "dash"])
def test_install_line_as_a_user_with_sudo(tmp_path: Path, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    calls = run_line(tmp_path, shell, with_sudo=True)
    assert calls[:4] == [
        "sudo apt-get update",
        "apt-get update",
        "sudo apt-get install -y python3-venv",
        "apt-get install -y python3-venv",
    ]
    assert calls[4:] == ["python3 -m venv .venv", "pip install .", "autoglm-tui "]


def test_readme_says_the_tests_install_packages_and_how_long_they_take() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert "bash scripts/test.sh" in text
    assert "installs system packages" in text
    assert re.search(r"whole suite takes about \d+(-\d+)? minutes", text), "no duration"
    assert "TEST_MINUTES" not in text


def test_test_script_needs_no_sudo_as_root() -> None:
    script = (README.parent / "scripts" / "test.sh").read_text(encoding="utf-8")
    assert 'SUDO="sudo"' not in script  # a root shell without sudo must work
    assert "command -v sudo" in script and "run it as root or install sudo" in script
    if os.geteuid() == 0:
        out = subprocess.run(
            ["bash", "-c", script[script.index("as_root()"):script.index("missing=()")]
             + "\nas_root; echo \"[$(as_root)]\""],
            env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=10)
        assert out.stdout.strip().endswith("[]")
