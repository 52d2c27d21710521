"""Which listening ports might be an inference server's metrics, in the order to probe them.

A port is a candidate when the process listening on it is related to a GPU process (it is one,
or its parent or grandparent, or a child of a GPU process's parent: vLLM's API server is the
parent of the engine that holds the GPU; TGI's router is a sibling of its GPU shards), or when
its command line names a server we know (llama-server, vllm, sglang, tritonserver, ...).
GPU-related ports come first. Nothing else on the node is probed: no HTTP request ever goes to
sshd, a database or any process that is neither. Probes go to loopback for a socket bound to
every address, else to the one address the socket is bound to, which is this node's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from autoglm_tui.sampler.services import kinds, sockets
from autoglm_tui.sampler.services.sockets import Listener

MAX_PROBES = 64


@dataclass(frozen=True, slots=True)
class Candidate:
    """A port worth one GET /metrics."""

    pid: int
    listener: Listener
    gpu: bool  # related to a GPU process
    hint: str | None  # the kind its command line suggests


def gpu_family(gpu_pids: Iterable[int], parent: Callable[[int], int | None]) -> tuple[set[int],
                                                                                    set[int]]:
    """(GPU pids with their parents and grandparents, the parents of GPU pids)."""
    related: set[int] = set()
    parents: set[int] = set()
    for pid in gpu_pids:
        related.add(pid)
        p = parent(pid)
        if p is not None and p > 1:
            related.add(p)
            parents.add(p)
            g = parent(p)
            if g is not None and g > 1:
                related.add(g)
    return related, parents


def candidates(
    found: Iterable[Listener],
    owner: dict[int, int],
    gpu_pids: Iterable[int],
    own_pid: int,
    *,
    parent: Callable[[int], int | None] = sockets.parent,
    cmdline: Callable[[int], str] = lambda pid: sockets.read_text(pid, "cmdline"),
    limit: int = MAX_PROBES,
) -> list[Candidate]:
    """The ports to probe, GPU-related first, at most `limit`, one per (pid, port)."""
    related, gpu_parents = gpu_family(gpu_pids, parent)
    out: list[Candidate] = []
    seen: set[tuple[int, int]] = set()
    for lst in found:
        pid = owner.get(lst.inode)
        if pid is None or pid == own_pid or (pid, lst.port) in seen:
            continue
        gpu = pid in related or parent(pid) in gpu_parents
        hint = kinds.hinted_kind(cmdline(pid))
        if not gpu and hint is None:
            continue
        seen.add((pid, lst.port))
        out.append(Candidate(pid, lst, gpu, hint))
    out.sort(key=lambda c: (not c.gpu, c.hint is None, c.listener.port))
    return out[:limit]


__all__ = ["Candidate", "candidates", "gpu_family"]
