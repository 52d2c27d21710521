"""dashboards/autoglm-tui.json, checked without Grafana (it cannot be installed here): the JSON
is a provisionable dashboard (datasource variable, unique ids, a 24-column grid without
overlaps, fleet/node/GPU/service rows), and every panel's PromQL, with the template variables
resolved the way Grafana would (label_values against the same Prometheus), runs against
Debian's real Prometheus scraping our exporter (which scrapes a vLLM-shaped page under load:
the service panels read our autoglm_service_* series) and the same page directly, and returns
data."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.metrics_http import MetricsHttp
from tests.fakes.service_pages import FakeServer
from tests.integration.exporter_fleet import ExporterFleet, fleet
from tests.integration.prometheus_fixture import (
    PROMETHEUS,
    Job,
    PrometheusServer,
    http_get,
    missing,
    wait_until,
)
from tests.integration.service_load import Load

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "autoglm-tui.json"
RATE_INTERVAL = "10s"  # Grafana's $__rate_interval for a 1 s scrape and a 5 s step


def panels() -> list[dict[str, Any]]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def test_dashboard_is_provisionable() -> None:
    doc = json.loads(DASHBOARD.read_text())
    assert doc["uid"] and doc["title"] and "id" not in doc  # provisioning assigns the id
    names = [v["name"] for v in doc["templating"]["list"]]
    assert names == ["datasource", "job", "node", "gpu"]
    assert doc["templating"]["list"][0]["query"] == "prometheus"
    rows = [p["title"] for p in doc["panels"] if p["type"] == "row"]
    assert rows == ["Fleet", "Node $node", "GPU $gpu on $node", "Inference services"]
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in doc["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        mine = {(g["x"] + dx, g["y"] + dy) for dx in range(g["w"]) for dy in range(g["h"])}
        assert not cells & mine, f"{p['title']} overlaps another panel"
        cells |= mine
        if p["type"] != "row":
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert p["targets"] and all(t["expr"].strip() for t in p["targets"])


pytestmark_prom = pytest.mark.skipif(missing(PROMETHEUS) is not None,
                                     reason=str(missing(PROMETHEUS)))

__all__ = ["fleet"]  # a fixture used here, defined in exporter_fleet


def _label_values(prom: PrometheusServer, definition: str, resolved: dict[str, str]) -> list[str]:
    m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", definition.strip())
    assert m, definition
    selector = _substitute(m.group(1), resolved)
    url = (f"{prom.url}/api/v1/label/{m.group(2)}/values?"
           + urllib.parse.urlencode({"match[]": selector}))
    doc = json.loads(http_get(url))
    assert doc["status"] == "success", doc
    return sorted(doc["data"])


def _substitute(expr: str, resolved: dict[str, str]) -> str:
    out = expr.replace("$__rate_interval", RATE_INTERVAL)
    for name, value in resolved.items():
        out = out.replace("${" + name + "}", value).replace("$" + name, value)
    assert "$" not in out, f"unresolved variable in {out}"
    return out


@pytest.mark.integration
@pytestmark_prom
def test_every_panel_query_returns_data(tmp_path: Path, fleet: ExporterFleet) -> None:
    me = os.getpid()
    server = FakeServer("vllm")  # vLLM V1's names, labels and buckets
    http = MetricsHttp()
    page = http.route("/metrics", server.page)
    load = Load(server).__enter__()  # requests with known latencies, one in 50 failing
    prom = None
    try:
        # the exporter scrapes the page (our autoglm_service_* series); Prometheus scrapes the
        # page too (the vLLM-direct targets)
        exp = fleet.start("127.0.0.2", gpus=[
            {"name": "NVIDIA H100", "util": 93, "processes": [{"pid": me, "mem": 2 << 30}]},
            {"util": 20}], extra=["--service", f"{page},name=chat", "--no-service-discovery",
                                  "--service-interval", "1"])
        prom = PrometheusServer(tmp_path / "prom", [Job("gpu", [exp.address]),
                                                    Job("vllm", [f"127.0.0.1:{http.port}"])])
        prom.start()
        prom.wait_up("gpu", 1)
        prom.wait_up("vllm", 1)
        time.sleep(12)  # a rate window of history
        doc = json.loads(DASHBOARD.read_text())
        resolved: dict[str, str] = {}
        for var in doc["templating"]["list"][1:]:
            values = wait_until(lambda v=var: _label_values(prom, v["definition"], resolved),
                                f"values of ${var['name']}")
            resolved[var["name"]] = "|".join(values) if len(values) > 1 else values[0]
        assert resolved["job"] == "gpu" and resolved["gpu"] == "0|1"
        end = time.time()
        for panel in panels():
            for target in panel["targets"]:
                expr = _substitute(target["expr"], resolved)
                if target.get("instant"):
                    result = prom.query(expr)
                    values = [r["value"][1] for r in result]
                else:
                    result = prom.query_range(expr, end - 60, end, 5)
                    values = [v for r in result for _, v in r["values"]]
                known = [v for v in values if v not in ("NaN", "+Inf", "-Inf")]
                assert known, f"panel {panel['title']!r}: no data for {expr}"
    finally:
        load.__exit__()
        if prom is not None:
            prom.stop()
        http.close()
