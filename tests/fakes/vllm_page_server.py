"""A process that serves one fake server's /metrics page (its command line names vLLM, so
discovery takes it for a candidate; the page decides the kind).

Usage: python -m tests.fakes.vllm_page_server KIND PORT [PATH]
"""

from __future__ import annotations

import sys
import time

from tests.fakes.metrics_http import MetricsHttp
from tests.fakes.service_pages import FakeServer


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    path = sys.argv[3] if len(sys.argv) > 3 else "/metrics"
    server = FakeServer(kind)
    server.request(0.0, 0.5)
    server.load(1, 0, 0.2)
    http = MetricsHttp(port)
    http.route(path, server.page)
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        http.close()


if __name__ == "__main__":
    main()
