"""Real file systems that misbehave, for the alert log's tests: a tiny loop-mounted ext4 that
fills up, and a FUSE passthrough whose fsync blocks until the test releases it. Both need
root; each is unmounted in teardown, and the FUSE process is stopped by its PID."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

FUSE_FS = Path(__file__).with_name("fuse_hold_fs.py")


def _need_root_tools(*tools: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (mount)")
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/test.sh installs e2fsprogs)")


def _umount(path: Path) -> None:
    for args in (["umount", str(path)], ["umount", "-l", str(path)]):
        if subprocess.run(args, capture_output=True, timeout=30).returncode == 0:
            return


@contextlib.contextmanager
def loop_ext4(where: Path, size_kib: int = 2048) -> Iterator[Path]:
    """A fresh ext4 of `size_kib` KiB (1 KiB blocks, no journal, no reserved blocks), mounted
    under `where`; unmounted on exit."""
    _need_root_tools("mkfs.ext4", "mount", "umount", "truncate")
    image = where / "disk.img"
    mnt = where / "mnt"
    mnt.mkdir()
    subprocess.run(["truncate", "-s", f"{size_kib}K", str(image)], check=True, timeout=30)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-b", "1024", "-O", "^has_journal",
                    str(image)], check=True, capture_output=True, timeout=60)
    mounted = subprocess.run(["mount", "-o", "loop", str(image), str(mnt)],
                             capture_output=True, text=True, timeout=30)
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount an ext4 image here: {mounted.stderr.strip()}")
    try:
        yield mnt
    finally:
        _umount(mnt)


def fill(directory: Path) -> Path:
    """Write a file in `directory` until the file system says ENOSPC; returns the file."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 << 16, 1 << 12, 1 << 10, 1):
            block = b"\0" * chunk
            while True:
                try:
                    os.write(fd, block)
                except OSError:
                    break
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
    return filler


class HeldFuse:
    """The FUSE passthrough (fuse_hold_fs.py) in its own process, fsync held from the start."""

    def __init__(self, proc: subprocess.Popen[str], mnt: Path, backing: Path) -> None:
        self.proc = proc
        self.mnt = mnt
        self.backing = backing

    def wait_held(self, guard_s: float = 60.0) -> None:
        """Block until an fsync is waiting in the file system (a guard against a hang, not a
        measurement: the test fails if it passes)."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], guard_s)
        assert ready, "no fsync reached the FUSE file system"
        assert self.proc.stdout.readline().strip() == "fsync-held"

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("release\n")
        self.proc.stdin.flush()


@contextlib.contextmanager
def held_fuse(where: Path) -> Iterator[HeldFuse]:
    """Mount the passthrough under `where` (backing files in `where`/back)."""
    _need_root_tools("umount")
    pytest.importorskip("fuse", reason="fusepy is needed (pip install -e '.[test]')")
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse")
    backing, mnt = where / "back", where / "mnt"
    backing.mkdir()
    mnt.mkdir()
    proc = subprocess.Popen([sys.executable, str(FUSE_FS), str(backing), str(mnt)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):  # the mount appears within a second or so
            if os.path.ismount(mnt) or proc.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.ismount(mnt):
            err = proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
            pytest.skip(f"cannot mount the FUSE passthrough here: {err.strip()[-300:]}")
        yield HeldFuse(proc, mnt, backing)
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.write("release\n")
                proc.stdin.flush()
        _umount(mnt)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
