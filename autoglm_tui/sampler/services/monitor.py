"""The service monitor: a thread that finds inference servers and scrapes them at its own pace.

It runs beside the sampler's tick loop and never inside it: each tick only reads the newest
results (``services()``), so a hanging endpoint never delays a sample. Every ``interval_s``
(default 5 s) it scrapes every known service once (each scrape bounded by ``timeout_s`` and
``max_bytes``) and publishes the results.

Discovery probes candidate ports (discovery.py) at start, and again when the set of listening
sockets changed (read every ``listen_check_s``, 15 s), at most once every ``probe_every_s``
(default 60 s); ports that answered with
something other than a metrics page are not probed again until their socket changes, ports
that failed in passing (timed out, HTTP 5xx) are retried every ``retry_s``. A discovered
service whose server is gone stays listed as down, with the reason, for ``forget_after_s``;
services given with ``--service`` stay for good.

The node's registration may name services too (``set_registered``, from a control line): each
is scraped while it is in the list and its host is this node (local.py; checked every round,
so an address the node gives up stops its scrapes); the others are refused with a reason,
which ``refused()`` keeps for every sample's ``errors``. A registered service replaces one
discovery found on the same port (it is named as registered) and is never probed again by
discovery; an ``--service`` endpoint with the same URL wins over it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from autoglm_tui.model import ServiceSample
from autoglm_tui.sampler.services import discovery, local, sockets
from autoglm_tui.sampler.services.options import (
    DEFAULT_INTERVAL_S,
    DEFAULT_MAX_BYTES,
    DEFAULT_TIMEOUT_S,
)
from autoglm_tui.sampler.services.scrape import MODEL_ENDPOINTS, model_id, scrape
from autoglm_tui.sampler.services.targets import Target
from autoglm_tui.text import clean

LOOPBACK = ("127.0.0.1", "::1", "localhost")
PROBE_PATHS = ("/metrics", "/v1/metrics")
PROBE_THREADS = 8
# Reasons after which a port is not probed again until its socket changes.
_NOT_METRICS = ("HTTP 4", "not a Prometheus", "binary data", "page too large")


@dataclass
class _Entry:
    """One service and what the monitor keeps between scrapes."""

    target: Target
    pid: int | None = None
    kind: str | None = None  # what the last good scrape recognised
    sample: ServiceSample | None = None
    down_since: float | None = None
    model: str | None = None  # from the server's API, for kinds whose pages name none
    asked_model: bool = False


class ServiceMonitor:
    """Finds and scrapes the node's inference servers in a background thread."""

    def __init__(
        self,
        targets: Iterable[Target] = (),
        *,
        discover: bool = True,
        interval_s: float = DEFAULT_INTERVAL_S,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_bytes: int = DEFAULT_MAX_BYTES,
        probe_every_s: float = 60.0,
        retry_s: float = 600.0,
        forget_after_s: float = 600.0,
        listen_check_s: float = 15.0,
        clock: Callable[[], float] = time.time,
        own_pid: int | None = None,
    ) -> None:
        self.discover = discover
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.probe_every_s = probe_every_s
        self.retry_s = retry_s
        self.forget_after_s = forget_after_s
        self.listen_check_s = listen_check_s  # how often the listening sockets are read
        self._listen_at: float | None = None
        self.clock = clock
        self.own_pid = os.getpid() if own_pid is None else own_pid
        self._entries: list[_Entry] = [_Entry(t) for t in _unique(targets)]
        self._gpu_pids: frozenset[int] = frozenset()
        self._gpu_seen: frozenset[int] = frozenset()
        self._blind = False  # the last discovery ran before any GPU process was known
        self._listen_key: frozenset[tuple[int, int]] | None = None
        self._dirty = True
        self._retry = False
        self._probed_at: float | None = None  # monotonic time of the last discovery
        self._rejected: set[tuple[int, int, int]] = set()  # (pid, port, inode)
        self._port_pid: dict[int, int] = {}
        self._listening: set[int] = set()
        self._found: list[sockets.Listener] = []
        self._snapshot: tuple[ServiceSample, ...] = ()
        self._pids: frozenset[int] = frozenset()
        self._stop = threading.Event()
        self._wake = threading.Event()  # a new registered list: run a round now
        self._lock = threading.Lock()
        self._pending: tuple[tuple[tuple[int, Target], ...], tuple[str, ...]] | None = None
        self._registered: tuple[tuple[int, Target], ...] = ()
        self._registered_problems: tuple[str, ...] = ()
        self._refused: tuple[str, ...] = ()
        self._ready = threading.Event()  # set when the first round is done
        self._thread: threading.Thread | None = None
        self.rounds = 0
        self.last_error: str | None = None  # an unexpected failure of a round, if any

    # ------------------------------------------------------------------ the sampler's side

    def start(self, gpu_pids: Iterable[int] | None = None) -> None:
        """Start the background thread (once); its first round runs at once."""
        if gpu_pids is not None:
            self.note_gpu_pids(gpu_pids)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="autoglm-services",
                                            daemon=True)
            self._thread.start()

    def note_gpu_pids(self, pids: Iterable[int]) -> None:
        """The pids that use a GPU now (discovery looks at them and their family first).
        A GPU process not seen before makes discovery due; the first time GPU processes are
        known after a discovery made without them, at once."""
        new = frozenset(pids)
        if new == self._gpu_pids:
            return
        if new - self._gpu_seen:
            self._gpu_seen = (self._gpu_seen if len(self._gpu_seen) < 65536 else frozenset()
                              ) | new
            self._dirty = True
            if self._blind:
                self._probed_at = None
        self._gpu_pids = new

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait (at most `timeout_s`) for the first round to finish; whether it has."""
        return self._ready.wait(timeout_s)

    def services(self) -> tuple[ServiceSample, ...]:
        """The newest result for every service (never blocks)."""
        return self._snapshot

    def set_registered(self, targets: Sequence[tuple[int, Target]],
                       problems: Sequence[str] = ()) -> None:
        """The services the node's registration names now, as (index in its list, target),
        and the reasons entries were refused before reaching here; replaces the previous list
        at the start of the next round, which runs at once (thread-safe)."""
        with self._lock:
            self._pending = (tuple(targets), tuple(problems))
        self._wake.set()

    def refused(self) -> tuple[str, ...]:
        """Why registered services are not scraped (for every sample's errors; never blocks)."""
        return self._refused

    def pids(self) -> frozenset[int]:
        """The processes serving the known services (the sampler always lists them)."""
        return self._pids

    def close(self, wait_s: float = 0.1) -> None:
        """Stop the thread: it ends after the scrape in progress, which is waited for at most
        `wait_s` (the thread is a daemon: a hanging endpoint never holds up an exit)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=wait_s)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.run_round()
            except Exception as exc:  # a bug must not end the thread: say so and go on
                self.last_error = clean(f"{type(exc).__name__}: {exc}", 300)
            self._ready.set()
            next_at += self.interval_s
            now = time.monotonic()
            if next_at < now:  # fell behind (slow endpoints): skip, do not bunch up
                next_at = now + self.interval_s
            if self._wake.wait(next_at - now):  # a new registered list (or the stop)
                self._wake.clear()
                next_at = time.monotonic()

    # ------------------------------------------------------------------ one round

    def run_round(self) -> None:
        """Check the listening sockets (every `listen_check_s`), discover if due, scrape every
        service once."""
        self._apply_registered()
        mono = time.monotonic()
        found = self._found
        if self._listen_at is None or mono - self._listen_at >= self.listen_check_s - 0.01:
            # Reading /proc/net/tcp costs the kernel a walk over every socket: not each round.
            self._listen_at = mono
            found = self._found = sockets.listeners() if self._wants_sockets() else []
            key = frozenset((lst.port, lst.inode) for lst in found)
            if key != self._listen_key:
                self._listen_key = key
                self._dirty = True
            self._listening = {lst.port for lst in found}
        since = None if self._probed_at is None else mono - self._probed_at
        if (self._dirty and (since is None or since >= self.probe_every_s)) or (
            self._retry and since is not None and since >= self.retry_s
        ):
            self._dirty = self._retry = False
            self._probed_at = mono
            self._blind = not self._gpu_seen
            fresh = self._discover(found)
        else:
            fresh = []
        for entry in list(self._entries):
            if self._stop.is_set():
                return
            if not any(entry is f for f in fresh):  # a probe just scraped it
                self._scrape(entry)
        self._forget()
        self._publish()
        self.rounds += 1
        self._ready.set()

    def _wants_sockets(self) -> bool:
        return self.discover or any(_local(e.target) for e in self._entries)

    def _pid_of(self, entry: _Entry) -> int | None:
        """The process listening on the entry's port, as of the last discovery, while it
        still listens and still exists (a restarted server is found again within a minute)."""
        if _local(entry.target):
            port = entry.target.port
            pid = self._port_pid.get(port) if port in self._listening else None
            if pid is not None and sockets.procfs_available() and not sockets.alive(pid):
                return None
            return pid
        return None

    def _scrape(self, entry: _Entry) -> None:
        entry.pid = self._pid_of(entry)
        now = self.clock()
        sample, _ = scrape(entry.target, now, kind=entry.kind, pid=entry.pid,
                           timeout_s=self.timeout_s, max_bytes=self.max_bytes)
        if sample.ok:
            if entry.down_since is not None:
                entry.asked_model = False  # back up, maybe restarted with another model
            entry.down_since = None
            if sample.kind != "unknown":
                entry.kind = sample.kind
            sample = self._with_model(entry, sample)
        elif entry.down_since is None:
            entry.down_since = now
        entry.sample = sample

    def _with_model(self, entry: _Entry, sample: ServiceSample) -> ServiceSample:
        """`sample` with the model name its API gives, when its page names none (asked once
        after the service comes up)."""
        if sample.model is not None or sample.kind not in MODEL_ENDPOINTS:
            return sample
        if not entry.asked_model:
            entry.asked_model = True
            entry.model = model_id(entry.target, sample.kind, self.timeout_s)
        return dataclasses.replace(sample, model=entry.model) if entry.model else sample

    def _apply_registered(self) -> None:
        """Take a new registered list, if one came; check each entry's host against this
        node's addresses (every round: addresses change); make the entries match."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self._registered, self._registered_problems = pending
            self._dirty = True  # a port no longer registered may be discovered again
            self._listen_at = None  # read the sockets now: link the new ports to their pids
            if not self.discover:
                self._probed_at = None  # (without discovery this maps ports only, no probe)
        if pending is None and not self._registered:
            return
        refused = list(self._registered_problems)
        wanted: dict[str, Target] = {}
        options = {e.target.url for e in self._entries if e.target.source == "option"}
        for index, target in self._registered:
            reason = local.refuse(target.host)
            if reason is not None:
                refused.append(clean(f"control services[{index}] refused: {target.url}: "
                                     f"{reason}", 300))
            elif target.url not in options:  # an --service endpoint with that URL wins
                wanted[target.url] = target
        ports = {t.port for t in wanted.values()}
        keep: list[_Entry] = []
        for e in self._entries:
            src = e.target.source
            if src == "registration" and e.target.url not in wanted:
                continue  # no longer registered (or no longer this node's): not scraped
            if src == "discovered" and e.target.port in ports:
                continue  # the registered entry for that port replaces it
            if src == "registration":
                e.target = wanted.pop(e.target.url)  # the name or kind may have changed
            keep.append(e)
        keep.extend(_Entry(t) for t in wanted.values())
        self._entries = keep
        self._refused = tuple(sorted(refused, key=_index_of))
        if pending is not None:
            self._publish()

    def _forget(self) -> None:
        now = self.clock()
        keep = []
        for e in self._entries:
            gone = (
                e.target.source == "discovered"
                and e.down_since is not None
                and now - e.down_since > self.forget_after_s
                and e.target.port not in self._listening
            )
            if not gone:
                keep.append(e)
        self._entries = keep

    def _publish(self) -> None:
        self._snapshot = tuple(e.sample for e in self._entries if e.sample is not None)
        self._pids = frozenset(e.pid for e in self._entries if e.pid is not None)

    # ------------------------------------------------------------------ discovery

    def _discover(self, found: list[sockets.Listener]) -> list[_Entry]:
        """Map ports to pids; probe the candidates; the services it found."""
        owner = sockets.owners({lst.inode for lst in found})
        self._port_pid = {lst.port: owner[lst.inode] for lst in found if lst.inode in owner}
        new: list[_Entry] = []
        if not self.discover:
            return new
        taken = {e.target.port for e in self._entries if _local(e.target)}
        todo: list[discovery.Candidate] = []
        for cand in discovery.candidates(found, owner, self._gpu_pids, self.own_pid):
            lst = cand.listener
            if lst.port in taken or (cand.pid, lst.port, lst.inode) in self._rejected:
                continue
            taken.add(lst.port)  # one probe per port (a server listening on v4 and v6)
            todo.append(cand)
        if not todo or self._stop.is_set():
            return new
        # Probes run side by side, so ports that never answer cost one timeout in all.
        with ThreadPoolExecutor(max_workers=min(PROBE_THREADS, len(todo)),
                                thread_name_prefix="autoglm-probe") as pool:
            results = list(pool.map(self._probe, todo))
        for cand, (target, sample) in zip(todo, results, strict=True):
            lst = cand.listener
            if sample.ok:
                entry = _Entry(target, cand.pid,
                               None if sample.kind == "unknown" else sample.kind)
                entry.sample = self._with_model(entry, sample)
                self._entries.append(entry)
                new.append(entry)
            elif sample.error and sample.error.startswith(_NOT_METRICS):
                self._rejected.add((cand.pid, lst.port, lst.inode))
            elif not (sample.error or "").startswith("connection refused"):
                self._retry = True
        return new


    def _probe(self, cand: discovery.Candidate) -> tuple[Target, ServiceSample]:
        """One candidate port: GET /metrics, then /v1/metrics (where NIM keeps them)."""
        lst = cand.listener
        for path in PROBE_PATHS:
            target = Target("http", lst.probe_host, lst.port, path, source="discovered")
            sample, _ = scrape(target, self.clock(), kind=cand.hint, pid=cand.pid,
                               timeout_s=self.timeout_s, max_bytes=self.max_bytes)
            if not (sample.error or "").startswith("HTTP 404"):
                break
        return target, sample


def monitor_options(args: argparse.Namespace) -> dict[str, Any]:
    """Collector keyword arguments for the service options in `args` (options.py's
    add_arguments); none when the parser had no such options."""
    if not hasattr(args, "service_discovery"):
        return {}
    return {
        "services": ServiceMonitor(
            args.service,
            discover=args.service_discovery,
            interval_s=args.service_interval,
            timeout_s=args.service_timeout,
        )
    }


def _local(target: Target) -> bool:
    """Whether the target is on this node (its port names a local process): discovered and
    registered services always are, --service ones when their host is loopback."""
    return target.source in ("discovered", "registration") or target.host in LOOPBACK


def _index_of(reason: str) -> int:
    """Sort key: the list index a ``control services[N]`` reason names (the others last)."""
    head = reason.partition("[")[2].partition("]")[0]
    return int(head) if head.isdigit() else 1 << 30


def _unique(targets: Iterable[Target]) -> list[Target]:
    seen: set[str] = set()
    out = []
    for t in targets:
        if t.url not in seen:
            seen.add(t.url)
            out.append(t)
    return out


__all__ = ["DEFAULT_INTERVAL_S", "ServiceMonitor", "monitor_options"]
