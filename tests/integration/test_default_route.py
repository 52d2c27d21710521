"""default_route_address() inside a network namespace the test controls: no default route
gives None; a default route through the namespace's veth gives that veth's address."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.netns import TestNet, netns_missing

pytestmark = [pytest.mark.integration, pytest.mark.netns,
              pytest.mark.skipif(netns_missing() is not None, reason=str(netns_missing()))]

REPO = Path(__file__).resolve().parents[2]
PROBE = "from autoglm_tui.cluster.agent import default_route_address as f; print(f())"


def _in_ns(ns: str) -> str:
    out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", PROBE],
                         capture_output=True, text=True, timeout=60, cwd=REPO, check=True)
    return out.stdout.strip()


def test_default_route_address_follows_the_route() -> None:
    net = TestNet(1)
    try:
        ns = net.namespace(0)
        assert _in_ns(ns) == "None"  # only a link route: no default route
        subprocess.run(["ip", "-n", ns, "route", "add", "default", "via", net.gateway],
                       check=True, timeout=10)
        assert _in_ns(ns) == net.address(0)
    finally:
        net.close()
