"""Listening TCP sockets of this node's processes, and which process owns each.

On Linux, /proc/net/tcp and /proc/net/tcp6 list the sockets (cheap: one small file each, read
every 15 s to notice a change), and /proc/PID/fd links name the socket inodes a process
holds (a walk over every process's descriptors, done only when something changed, at most once
a minute). Elsewhere psutil does both, when it is installed. Only what this sampler may see is
seen: as an unprivileged user, other users' processes keep their sockets to themselves, and a
process in another network namespace (a container with its own network) is not listed.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

_LISTEN = "0A"
PROC = "/proc"


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening socket: its local address, port and inode (0 when unknown)."""

    host: str
    port: int
    inode: int

    @property
    def probe_host(self) -> str:
        """Where to reach it from here: loopback for a wildcard address, else its address
        (a socket can only be bound to one of this node's own addresses)."""
        try:
            ip = ipaddress.ip_address(self.host)
        except ValueError:
            return "127.0.0.1"
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_unspecified:
            return "127.0.0.1" if ip.version == 4 else "::1"
        return str(ip)


def _addr4(hexaddr: str) -> str:
    raw = bytes.fromhex(hexaddr)
    return str(ipaddress.IPv4Address(raw[::-1]))


def _addr6(hexaddr: str) -> str:
    raw = bytes.fromhex(hexaddr)
    swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.IPv6Address(swapped))


def _read_table(path: str, v6: bool) -> list[Listener]:
    out: list[Listener] = []
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            next(f, None)  # header
            for line in f:
                fields = line.split()
                if len(fields) < 10 or fields[3] != _LISTEN:
                    continue
                addr, _, port_hex = fields[1].partition(":")
                try:
                    host = _addr6(addr) if v6 else _addr4(addr)
                    out.append(Listener(host, int(port_hex, 16), int(fields[9])))
                except ValueError:
                    continue
    except OSError:
        pass
    return out


def procfs_available() -> bool:
    return os.path.exists(f"{PROC}/net/tcp")


def listeners() -> list[Listener]:
    """Every listening TCP socket this process can see."""
    if procfs_available():
        return _read_table(f"{PROC}/net/tcp", False) + _read_table(f"{PROC}/net/tcp6", True)
    return [lst for lst, _ in _psutil_listeners()]


def owners(inodes: set[int]) -> dict[int, int]:
    """inode -> pid for the sockets in `inodes`, by the processes' descriptor links."""
    if not inodes:
        return {}
    if not procfs_available():
        return {lst.inode: pid for lst, pid in _psutil_listeners() if lst.inode in inodes}
    want = {f"socket:[{i}]": i for i in inodes}
    out: dict[int, int] = {}
    try:
        pids = [int(d) for d in os.listdir(PROC) if d.isdigit()]
    except OSError:
        return out
    for pid in pids:
        fd_dir = f"{PROC}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # gone, or not ours to see
            continue
        for fd in fds:
            try:
                link = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            inode = want.get(link)
            if inode is not None and inode not in out:
                out[inode] = pid
        if len(out) == len(want):
            break
    return out


def _psutil_listeners() -> list[tuple[Listener, int | None]]:
    """(listener, pid) pairs through psutil; the inode is made up from pid and port."""
    try:
        import psutil

        conns = psutil.net_connections(kind="tcp")
    except Exception:  # no psutil, or not allowed
        return []
    out = []
    for c in conns:
        if c.status != "LISTEN" or not c.laddr:
            continue
        pid = c.pid
        fake_inode = ((pid or 0) << 17) | c.laddr.port
        out.append((Listener(c.laddr.ip, c.laddr.port, fake_inode), pid))
    return out


def read_text(pid: int, name: str) -> str:
    """/proc/PID/NAME as text ('' when unreadable); cmdline's NULs become spaces."""
    try:
        with open(f"{PROC}/{pid}/{name}", "rb") as f:
            data = f.read(8192)
    except OSError:
        return ""
    return data.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def alive(pid: int) -> bool:
    """Whether process `pid` exists (Linux /proc)."""
    return os.path.exists(f"{PROC}/{pid}")


def parent(pid: int) -> int | None:
    """The parent pid of `pid` (None when unknown)."""
    stat = read_text(pid, "stat")
    end = stat.rfind(")")
    if end < 0:
        return None
    fields = stat[end + 2 :].split()
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


__all__ = ["Listener", "listeners", "owners", "parent", "read_text"]
