"""Push firing and resolved alerts to a Prometheus Alertmanager (its v2 API, /api/v2/alerts).

Alerts wait in a bounded queue keyed by alert: a newer state of the same alert replaces the
queued one (a resolve overtakes its firing), and when the queue is full the oldest entry is
dropped and counted. A background task posts batches; when Alertmanager is down or answers
5xx/429 it retries with capped exponential backoff and jitter, so alerts raised while it was
down are delivered once it is back. Firing alerts are sent again every ``resend_s`` with
``endsAt`` a few resend periods ahead, as Prometheus does, so Alertmanager resolves them on its
own if this monitor dies. HTTP runs in a worker thread (stdlib urllib, proxies ignored).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from autoglm_tui.alerting.alert_log import iso
from autoglm_tui.analysis.alerts import Alert, AlertEvent, AlertState
from autoglm_tui.cluster.backoff import Backoff
from autoglm_tui.text import clean

API_PATH = "/api/v2/alerts"


def alerts_endpoint(url: str) -> str:
    """Validate an Alertmanager base URL and return its /api/v2/alerts endpoint.

    ValueError with the reason for anything but http(s)://host[:port][/prefix]."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"Alertmanager URL must start with http:// or https://: {url!r}")
    if not parts.hostname:
        raise ValueError(f"Alertmanager URL has no host: {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"Alertmanager URL must not have a query or fragment: {url!r}")
    if parts.username or parts.password:
        raise ValueError("put Alertmanager credentials in a proxy, not in the URL")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ValueError(f"bad port in Alertmanager URL {url!r}: {exc}") from None
    path = parts.path.rstrip("/")
    if not path.endswith(API_PATH):
        path += API_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass(slots=True)
class _Queued:
    fingerprint: str
    payload: dict[str, Any]
    state: AlertState


class _Rejected(Exception):
    """Alertmanager refused the batch as bad (4xx): retrying the same data will not help."""


class AlertmanagerClient:
    """A bounded, coalescing queue of alerts and the task that delivers it."""

    def __init__(
        self,
        url: str,
        *,
        max_queue: int = 1000,
        batch: int = 64,
        timeout_s: float = 5.0,
        resend_s: float = 60.0,
        backoff: Backoff | None = None,
        generator_url: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.endpoint = alerts_endpoint(url)
        self.max_queue = max(1, max_queue)
        self.batch = max(1, batch)
        self.timeout_s = timeout_s
        self.resend_s = resend_s
        self.backoff = backoff or Backoff(base=0.5, cap=30.0, jitter=0.2)
        self.generator_url = generator_url
        self.clock = clock
        self._queue: OrderedDict[str, _Queued] = OrderedDict()
        self._last_sent: dict[str, float] = {}  # firing alerts: when last queued
        self._wake: asyncio.Event | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        # what the UI shows about delivery
        self.sent = 0
        self.dropped = 0
        self.rejected = 0
        self.failures = 0
        self.last_error: str | None = None
        self.last_ok_at: float | None = None
        self.retry_at: float | None = None

    # ------------------------------------------------------------------ queueing

    @property
    def queued(self) -> int:
        return len(self._queue)

    def submit(self, events: Iterable[AlertEvent], now: float) -> None:
        """Queue the firing and resolved events (pending and inactive are not Alertmanager's)."""
        for e in events:
            if e.state == AlertState.FIRING:
                self._put(_Queued(e.fingerprint, self._payload(e, now), e.state))
                self._last_sent[e.fingerprint] = now
            elif e.state == AlertState.RESOLVED:
                self._put(_Queued(e.fingerprint, self._payload(e, now), e.state))
                self._last_sent.pop(e.fingerprint, None)

    def withdraw(self, fingerprints: Iterable[str]) -> None:
        """Stop re-sending these alerts (silenced); Alertmanager lets them lapse at endsAt."""
        for fp in fingerprints:
            self._last_sent.pop(fp, None)
            q = self._queue.get(fp)
            if q is not None and q.state == AlertState.FIRING:
                del self._queue[fp]

    def resend(self, firing: Iterable[Alert], now: float) -> None:
        """Queue again the firing alerts last sent `resend_s` ago or more."""
        for a in firing:
            fp = a.fingerprint
            last = self._last_sent.get(fp)
            if a.state == AlertState.FIRING and (last is None or now - last >= self.resend_s):
                event = a.event(now, AlertState.FIRING)
                self._put(_Queued(fp, self._payload(event, now), AlertState.FIRING))
                self._last_sent[fp] = now

    def _put(self, item: _Queued) -> None:
        self._queue.pop(item.fingerprint, None)
        self._queue[item.fingerprint] = item
        while len(self._queue) > self.max_queue:
            self._queue.popitem(last=False)
            self.dropped += 1
        if self._wake is not None:
            self._wake.set()

    def _payload(self, e: AlertEvent, now: float) -> dict[str, Any]:
        labels = {k: clean(v, 1000) for k, v in e.labels}
        annotations = {clean(k, 100): clean(v, 2000) for k, v in e.annotations}
        annotations["summary"] = clean(e.summary, 2000)
        if e.value is not None:
            annotations["value"] = f"{e.value:g}"
        if e.command:
            annotations["command"] = clean(e.command, 500)
        if e.reason:
            annotations["resolved_because"] = clean(e.reason, 200)
        if e.state == AlertState.RESOLVED:
            ends = e.ended_at if e.ended_at is not None else now
        else:
            ends = now + 4 * self.resend_s
        out: dict[str, Any] = {
            "labels": labels,
            "annotations": annotations,
            "startsAt": iso(e.started_at),
            "endsAt": iso(max(ends, e.started_at)),
        }
        if self.generator_url:
            out["generatorURL"] = self.generator_url
        return out

    # ------------------------------------------------------------------ delivery

    async def run(self) -> None:
        """Deliver the queue until cancelled."""
        self._wake = asyncio.Event()
        if self._queue:
            self._wake.set()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                ok = await self._deliver_once()
                if not ok:
                    delay = self.backoff.next()
                    self.retry_at = self.clock() + delay
                    await asyncio.sleep(delay)
                    self.retry_at = None

    async def flush(self, timeout_s: float = 3.0) -> bool:
        """Try to deliver everything queued within `timeout_s`; True if the queue emptied."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._queue and loop.time() < deadline:
            if not await self._deliver_once():
                await asyncio.sleep(min(0.2, max(0.0, deadline - loop.time())))
        return not self._queue

    async def _deliver_once(self) -> bool:
        """Post one batch; False when it should be retried later."""
        items = list(self._queue.values())[: self.batch]
        if not items:
            return True
        body = json.dumps([i.payload for i in items]).encode("utf-8")
        try:
            await asyncio.to_thread(self._post, body)
        except _Rejected as exc:
            # Bad data stays bad: drop this batch rather than block everything behind it.
            self.rejected += len(items)
            self.last_error = str(exc)
            self._remove(items)
            return True
        except Exception as exc:  # any transport failure means "retry later"
            self.failures += 1
            self.last_error = _describe(exc)
            return False
        self._remove(items)
        self.sent += len(items)
        self.last_ok_at = self.clock()
        self.last_error = None
        self.backoff.reset()
        return True

    def _remove(self, items: list[_Queued]) -> None:
        for i in items:
            if self._queue.get(i.fingerprint) is i:  # not replaced by a newer state meanwhile
                del self._queue[i.fingerprint]

    def _post(self, body: bytes) -> None:
        req = urllib.request.Request(
            self.endpoint, data=body, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "autoglm-tui"},
        )
        try:
            with self._opener.open(req, timeout=self.timeout_s) as resp:
                resp.read(65536)
        except urllib.error.HTTPError as exc:
            detail = _body_snippet(exc)
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise _Rejected(f"Alertmanager rejected alerts: HTTP {exc.code} {detail}") \
                    from None
            raise OSError(f"HTTP {exc.code} {detail}") from None


def _body_snippet(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read(300)
    except Exception:
        return ""
    return clean(raw.decode("utf-8", "replace"), 200)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError):
        return clean(f"cannot reach Alertmanager: {exc.reason}", 300)
    return clean(f"{type(exc).__name__}: {exc}", 300)
