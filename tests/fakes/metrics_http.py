"""A loopback HTTP server answering /metrics-style requests the way a test wants, good or bad.

``MetricsHttp()`` listens on a free 127.0.0.1 port in a thread. ``route(path, behaviour)``
sets what a GET of `path` gets: a callable returning the page text, or one of the bad
behaviours (``HANG``: accept and never answer; ``ERROR_500``; ``HUGE``: a 10 MB page;
``GARBAGE``: binary bytes; ``TRICKLE``: a valid page one byte every 50 ms). ``close()`` stops
it and releases anything still hanging.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG = "hang"
ERROR_500 = "500"
HUGE = "huge"
GARBAGE = "garbage"
TRICKLE = "trickle"
Behaviour = Callable[[], str] | str


class MetricsHttp:
    def __init__(self, port: int = 0) -> None:
        self.routes: dict[str, Behaviour] = {}
        self.requests: list[str] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                what = outer.routes.get(self.path)
                if what is None:
                    self.send_error(404)
                    return
                if what == HANG:
                    outer.release.wait(60)
                    return
                if what == ERROR_500:
                    self.send_error(500, "Internal Server Error")
                    return
                if what == HUGE:
                    body = b"# padding\n" * (1 << 20)  # 10 MiB
                elif what == GARBAGE:
                    body = bytes(range(256)) * 64
                elif what == TRICKLE:
                    body = b"vllm:num_requests_running 1\n" * 40
                else:
                    body = what().encode()  # type: ignore[operator]
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                if what != TRICKLE:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if what == TRICKLE:
                        for i in range(len(body)):
                            if outer.release.is_set():
                                return
                            self.wfile.write(body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(0.05)
                    else:
                        self.wfile.write(body)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def route(self, path: str, behaviour: Behaviour) -> str:
        """Serve `path` so; returns its URL."""
        self.routes[path] = behaviour
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
