"""A small client for the Prometheus HTTP query API (Prometheus, Thanos, Mimir, VictoriaMetrics).

Blocking calls meant for worker threads (the source runs them with ``asyncio.to_thread``): each
thread keeps one keep-alive connection. Every call has a timeout; every failure is a
``PromError`` whose message says what to check. A bearer token is read from a file or an
environment variable (never argv); a CA file verifies an https server.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

from autoglm_tui.text import clean

MAX_BODY = 256 * 1024 * 1024  # a response larger than this is refused


class PromError(Exception):
    """The query API failed; the message is for the banner."""


@dataclass(frozen=True)
class ClientConfig:
    url: str  # http(s)://HOST:PORT[/PREFIX]
    token: str | None = None  # bearer token (already read from its file or variable)
    ca_file: str | None = None
    insecure: bool = False  # skip TLS verification (not recommended; for tests of TLS setups)
    timeout_s: float = 10.0
    user_agent: str = "autoglm-tui"


def read_token(path: str | None, env_var: str | None) -> str | None:
    """The bearer token from a file (first line) or an environment variable."""
    if path:
        try:
            with open(os.path.expanduser(path), encoding="utf-8") as fh:
                token = fh.readline().strip()
        except OSError as exc:
            raise PromError(f"cannot read the token file {path}: {exc.strerror}") from None
        if not token:
            raise PromError(f"the token file {path} is empty")
        return token
    if env_var:
        token = os.environ.get(env_var, "").strip()
        if not token:
            raise PromError(f"${env_var} (the bearer token) is not set or empty")
        return token
    return None


class PromClient:
    def __init__(self, config: ClientConfig) -> None:
        parts = urllib.parse.urlsplit(config.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PromError(f"not an http(s) URL: {config.url!r}")
        self.config = config
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self._context: ssl.SSLContext | None = None
        if self.https:
            self._context = ssl.create_default_context(cafile=config.ca_file)
            if config.insecure:
                self._context.check_hostname = False
                self._context.verify_mode = ssl.CERT_NONE
        self._local = threading.local()
        self.requests = 0
        self.bytes_in = 0

    # ------------------------------------------------------------------ API calls

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query: the result list (vector or matrix series)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return self._call("query", params)

    def query_range(self, expr: str, start: float, end: float, step: float
                    ) -> list[dict[str, Any]]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}",
                  "step": f"{step:g}"}
        return self._call("query_range", params)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------------ plumbing

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            timeout = self.config.timeout_s
            if self.https:
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                                   context=self._context)
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            self._local.conn = conn
        return conn

    def _call(self, endpoint: str, params: dict[str, str]) -> list[dict[str, Any]]:
        body = urllib.parse.urlencode(params).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Accept": "application/json", "User-Agent": self.config.user_agent}
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token}"
        path = f"{self.prefix}/api/v1/{endpoint}"
        raw = self._post(path, body, headers)
        try:
            doc = json.loads(raw)
        except ValueError:
            raise PromError(f"{endpoint}: the answer is not JSON (is {self.config.url} a "
                            "Prometheus query API?)") from None
        if not isinstance(doc, dict) or doc.get("status") != "success":
            err = doc.get("error") if isinstance(doc, dict) else None
            raise PromError(f"{endpoint}: {clean(err or 'failed', 300)}")
        data = doc.get("data") or {}
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(result, list):
            raise PromError(f"{endpoint}: unexpected answer (no result list)")
        return result

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        for attempt in (1, 2):  # a kept-alive connection the server closed: retry once
            conn = self._connection()
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read(MAX_BODY + 1)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2:
                    raise PromError(f"{self.config.url}: the connection was closed") from None
                continue
            except TimeoutError:
                self.close()
                raise PromError(f"{self.config.url}: no answer within "
                                f"{self.config.timeout_s:g} s") from None
            except ssl.SSLError as exc:
                self.close()
                raise PromError(f"{self.config.url}: TLS: {clean(exc.reason or exc, 200)} "
                                "(--prometheus-ca FILE?)") from None
            except OSError as exc:
                self.close()
                raise PromError(f"{self.config.url}: {clean(exc.strerror or exc, 200)}"
                                ) from None
            self.requests += 1
            self.bytes_in += len(data)
            if len(data) > MAX_BODY:
                self.close()
                raise PromError("answer larger than 256 MiB: narrow the query (--job)")
            if resp.status in (401, 403):
                raise PromError(f"{self.config.url}: HTTP {resp.status}: not allowed "
                                "(--prometheus-token-file or --prometheus-token-env?)")
            if resp.status >= 500 or resp.status == 429:
                detail = _error_text(data)
                raise PromError(f"{self.config.url}: HTTP {resp.status}{detail}")
            if resp.status >= 400 and not data.lstrip().startswith(b"{"):
                raise PromError(f"{self.config.url}: HTTP {resp.status}{_error_text(data)}")
            return data
        raise PromError("unreachable")  # pragma: no cover


def _error_text(data: bytes) -> str:
    try:
        doc = json.loads(data)
        text = doc.get("error") if isinstance(doc, dict) else None
    except ValueError:
        text = data[:200].decode("utf-8", "replace")
    return f": {clean(text, 200)}" if text else ""
