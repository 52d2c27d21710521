"""Several test hosts on one machine: network namespaces on a bridge the test makes itself.

``TestNet(count)`` makes a bridge with address 10.231.N.1/24 and `count` namespaces, each joined
to the bridge by a veth pair and holding 10.231.N.(10+i). The third octet N is picked so that
no address or route on this machine already uses 10.231.N.0/24. ``cut(i)``/``heal(i)`` take the
host side of a node's veth down/up. ``close()`` deletes everything it made. Root only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=10)


def netns_missing() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    if shutil.which("ip") is None:
        return "iproute2 is not installed (scripts/test.sh installs it)"
    probe = f"agprobe{os.getpid() % 100000}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def _free_octet() -> int:
    used = _ip("-4", "addr", "show").stdout + _ip("-4", "route", "show", "table", "all").stdout
    start = os.getpid() % 200
    for k in range(200):
        octet = 20 + (start + k) % 200
        if f"10.231.{octet}." not in used:
            return octet
    raise RuntimeError("no free 10.231.x.0/24 test subnet")


@dataclass
class TestNet:
    count: int
    tag: str = field(default_factory=lambda: f"{os.getpid() % 100000}")
    made_links: list[str] = field(default_factory=list)
    made_ns: list[str] = field(default_factory=list)

    __test__ = False  # not a pytest test class

    def __post_init__(self) -> None:
        self.octet = _free_octet()
        self.bridge = f"agbr{self.tag}"
        try:
            self._build()
        except Exception:
            self.close()
            raise

    @property
    def gateway(self) -> str:
        return f"10.231.{self.octet}.1"

    def address(self, i: int) -> str:
        return f"10.231.{self.octet}.{10 + i}"

    def namespace(self, i: int) -> str:
        return f"agns{self.tag}n{i}"

    def host_veth(self, i: int) -> str:
        return f"agh{self.tag}n{i}"

    def _build(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        self.made_links.append(self.bridge)
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i in range(self.count):
            ns, host_end, node_end = self.namespace(i), self.host_veth(i), f"agn{self.tag}n{i}"
            _ip("netns", "add", ns)
            self.made_ns.append(ns)
            _ip("link", "add", host_end, "type", "veth", "peer", "name", node_end)
            self.made_links.append(host_end)
            _ip("link", "set", node_end, "netns", ns)
            _ip("link", "set", host_end, "master", self.bridge)
            _ip("link", "set", host_end, "up")
            _ip("-n", ns, "addr", "add", f"{self.address(i)}/24", "dev", node_end)
            _ip("-n", ns, "link", "set", node_end, "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def cut(self, i: int) -> None:
        _ip("link", "set", self.host_veth(i), "down")

    def heal(self, i: int) -> None:
        _ip("link", "set", self.host_veth(i), "up")

    def close(self) -> None:
        for ns in reversed(self.made_ns):
            _ip("netns", "del", ns, check=False)  # takes its veth end, and so the pair, along
        for link in reversed(self.made_links):
            _ip("link", "del", link, check=False)
        self.made_ns.clear()
        self.made_links.clear()
