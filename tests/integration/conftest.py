"""Fixtures shared by the integration tests (real services on loopback)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.discovery_helpers import AgentPool
from tests.integration.etcd_fixture import etcd_server
from tests.integration.llama_fixture import llama, llama4


@pytest.fixture
def agents() -> Iterator[AgentPool]:
    """Start `autoglm-tui agent` subprocesses; any still running are killed after the test."""
    pool = AgentPool()
    try:
        yield pool
    finally:
        pool.close()


__all__ = ["agents", "etcd_server", "llama", "llama4"]
