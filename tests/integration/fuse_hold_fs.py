"""A FUSE passthrough whose fsync can be held: `python fuse_hold_fs.py BACKING MOUNTPOINT`.

Every operation goes straight to BACKING. While holding (the start state), an fsync blocks
until released; the process prints "fsync-held" on stdout when one starts waiting and reads
commands on stdin: "release" lets every waiting and later fsync through, "hold" holds again.
Run by tests/integration/test_alert_log_faults.py (as root; needs libfuse2 and fusepy).
"""

from __future__ import annotations

import errno
import os
import sys
import threading
from typing import Any

from fuse import FUSE, FuseOSError, Operations  # fusepy

_gate = threading.Event()  # set: fsync passes


class Passthrough(Operations):
    def __init__(self, root: str) -> None:
        self.root = root

    def _p(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
        try:
            st = os.lstat(self._p(path))
        except OSError as exc:
            raise FuseOSError(exc.errno or errno.EIO) from None
        keys = ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink",
                "st_size", "st_uid")
        return {k: getattr(st, k) for k in keys}

    def readdir(self, path: str, fh: Any) -> list[str]:
        return [".", "..", *os.listdir(self._p(path))]

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except OSError as exc:
            raise FuseOSError(exc.errno or errno.EIO) from None

    def open(self, path: str, flags: int) -> int:
        return self._call(os.open, self._p(path), flags)

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        return self._call(os.open, self._p(path), os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        return self._call(os.pread, fh, size, offset)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        return self._call(os.pwrite, fh, data, offset)

    def truncate(self, path: str, length: int, fh: Any = None) -> None:
        if fh is not None:
            self._call(os.ftruncate, fh, length)
        else:
            self._call(os.truncate, self._p(path), length)

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        if not _gate.is_set():
            print("fsync-held", flush=True)
            _gate.wait()
        self._call(os.fsync, fh)
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0

    def release(self, path: str, fh: int) -> int:
        self._call(os.close, fh)
        return 0

    def rename(self, old: str, new: str) -> None:
        self._call(os.rename, self._p(old), self._p(new))

    def link(self, target: str, source: str) -> None:
        self._call(os.link, self._p(source), self._p(target))

    def unlink(self, path: str) -> None:
        self._call(os.unlink, self._p(path))

    def mkdir(self, path: str, mode: int) -> None:
        self._call(os.mkdir, self._p(path), mode)

    def chmod(self, path: str, mode: int) -> None:
        self._call(os.chmod, self._p(path), mode)

    def utimens(self, path: str, times: Any = None) -> None:
        self._call(os.utime, self._p(path), times)


def _commands() -> None:
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "release":
            _gate.set()
        elif cmd == "hold":
            _gate.clear()
    _gate.set()  # the test went away: never leave a writer stuck


if __name__ == "__main__":
    threading.Thread(target=_commands, daemon=True).start()
    FUSE(Passthrough(sys.argv[1]), sys.argv[2], foreground=True, nothreads=False)
