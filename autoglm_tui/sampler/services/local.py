"""This node's own addresses, and whether a URL's host is one of them.

A service named by the node's registration (a control line from the monitor, docs/wire.md) is
scraped only when its host is this node: a loopback address (127.0.0.0/8, ::1, ``localhost``)
or an address one of its interfaces holds. Anything else (another machine, a host name that
DNS could point anywhere, 0.0.0.0) is refused with a reason, so registry data can never make a
sampler fetch from elsewhere.

The addresses come from psutil (getifaddrs) when it is installed, else, on Linux, from
/proc/net/fib_trie (IPv4: the entries marked ``/32 host LOCAL``; a node with a huge routing
table makes this file large, so it is the fallback) and /proc/net/if_inet6; with neither, only
loopback counts. They are read only for a host that is not loopback, and again at most every
``MAX_AGE_S``, since addresses come and go (DHCP, a VPN). Only the network namespace the
sampler runs in is seen.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import threading
import time

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_AGE_S = 30.0
PROC = "/proc"
LOCALHOST = "localhost"

_lock = threading.Lock()
_cache: tuple[float, frozenset[IpAddress]] | None = None


def parse_fib_trie(text: str) -> set[IpAddress]:
    """The IPv4 addresses a /proc/net/fib_trie text marks as this host's (``/32 host LOCAL``)."""
    out: set[IpAddress] = set()
    last: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            last = stripped[3:].strip()
        elif last is not None and stripped.startswith("/32 host LOCAL"):
            with contextlib.suppress(ValueError):
                out.add(ipaddress.IPv4Address(last))
    return out


def parse_if_inet6(text: str) -> set[IpAddress]:
    """The IPv6 addresses of a /proc/net/if_inet6 text (32 hex digits first on each line)."""
    out: set[IpAddress] = set()
    for line in text.splitlines():
        fields = line.split()
        if not fields or len(fields[0]) != 32:
            continue
        with contextlib.suppress(ValueError):
            out.add(ipaddress.IPv6Address(bytes.fromhex(fields[0])))
    return out


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read(1 << 22)
    except OSError:
        return None


def read_addresses(proc: str = PROC, use_psutil: bool = True) -> frozenset[IpAddress]:
    """This node's interface addresses now (loopback included when the system lists it)."""
    if use_psutil:
        found = _psutil_addresses()
        if found is not None:
            return found
    v4, v6 = _read(f"{proc}/net/fib_trie"), _read(f"{proc}/net/if_inet6")
    return frozenset(parse_fib_trie(v4 or "") | parse_if_inet6(v6 or ""))


def _psutil_addresses() -> frozenset[IpAddress] | None:
    """The addresses psutil lists, or None without psutil (or when it fails here)."""
    if importlib.util.find_spec("psutil") is None:
        return None
    import psutil  # type: ignore[import-untyped,unused-ignore]

    try:
        nics = psutil.net_if_addrs()
    except Exception:  # an odd platform: the /proc files are tried instead
        return None
    out: set[IpAddress] = set()
    for addrs in nics.values():
        for a in addrs:
            with contextlib.suppress(ValueError):  # a MAC address (AF_PACKET) is skipped
                out.add(ipaddress.ip_address(str(a.address).partition("%")[0]))
    return frozenset(out)


def own_addresses(max_age_s: float = MAX_AGE_S) -> frozenset[IpAddress]:
    """This node's addresses, read again when the last reading is older than `max_age_s`."""
    global _cache
    now = time.monotonic()
    with _lock:
        if _cache is None or now - _cache[0] >= max_age_s:
            _cache = (now, read_addresses())
        return _cache[1]


def refuse(host: str, addresses: frozenset[IpAddress] | None = None) -> str | None:
    """Why `host` (a URL's host, IPv6 without brackets) is not this node, or None when it is."""
    if host.lower() == LOCALHOST:
        return None
    try:
        ip: IpAddress = ipaddress.ip_address(host)
    except ValueError:
        return (f"{host[:80]} is a host name; a registered service needs an address of this "
                "node (loopback or one of its interfaces)")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None
    if ip.is_unspecified or ip.is_multicast:
        return f"{ip} is not an address to scrape"
    if ip in (own_addresses() if addresses is None else addresses):
        return None
    return f"{ip} is not an address of this node (only its own addresses are scraped)"


__all__ = ["own_addresses", "parse_fib_trie", "parse_if_inet6", "read_addresses", "refuse"]
