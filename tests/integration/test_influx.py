"""The exporter's InfluxDB output against Debian's real influxd 1.6: the written series read back
with InfluxQL (values as the sampler saw them, retention policies per measurement as in the
seed's table), an inference service's derived figures in their own measurement, lines kept
while InfluxDB is down and written when it is back, basic auth with the password from the
environment."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.metrics_http import MetricsHttp
from tests.fakes.service_pages import FakeServer
from tests.integration.exporter_fleet import ExporterFleet, fleet
from tests.integration.prometheus_fixture import INFLUXD, InfluxServer, missing, wait_until
from tests.integration.service_load import RATE, TOKENS, Load, in_bucket

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing(INFLUXD) is not None, reason=str(missing(INFLUXD))),
]

GPUS = [{"name": "NVIDIA H100", "util": 88, "mem_used": 5 << 30, "temp": 61,
         "power_mw": 300_000}, {"util": 3, "not_supported": ["nvmlDeviceGetPowerUsage"]}]
RETENTION = [  # the seed article's table: GPU figures 7 days, latency 14 days
    'CREATE DATABASE "autoglm"',
    'CREATE RETENTION POLICY "gpu_7d" ON "autoglm" DURATION 7d REPLICATION 1',
    'CREATE RETENTION POLICY "latency_14d" ON "autoglm" DURATION 14d REPLICATION 1',
]

__all__ = ["fleet"]  # a fixture used here, defined in exporter_fleet


def rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """InfluxQL /query answer -> list of {column: value} (all series of the first result)."""
    result = doc["results"][0]
    assert "error" not in result, result
    out = []
    for series in result.get("series", []):
        for values in series["values"]:
            row = dict(zip(series["columns"], values, strict=True))
            row.update(series.get("tags") or {})
            out.append(row)
    return out


def test_series_read_back_with_influxql(tmp_path: Path, fleet: ExporterFleet) -> None:
    influx = InfluxServer(tmp_path / "influx").start()
    try:
        for q in RETENTION:
            influx.query(q, method="POST")
        fleet.start("127.0.0.2", gpus=GPUS, node_name="gpu-a", listen=False, extra=[
            "--influx", influx.url, "--influx-db", "autoglm", "--influx-rp-for", "gpu=gpu_7d"])
        got = wait_until(lambda: rows(influx.query(
            'SELECT last("util_pct"), last("mem_used_bytes"), last("temp_c"), last("power_w") '
            'FROM "autoglm"."gpu_7d"."autoglm_gpu" GROUP BY "gpu", "model", "node"')),
            "GPU series in the gpu_7d retention policy", timeout=30)
        by_gpu = {r["gpu"]: r for r in got}
        assert by_gpu["0"]["last"] == 88.0 and by_gpu["0"]["last_1"] == 5 << 30
        assert by_gpu["0"]["last_2"] == 61.0 and by_gpu["0"]["last_3"] == 300.0
        assert by_gpu["0"]["model"] == "NVIDIA H100" and by_gpu["0"]["node"] == "gpu-a"
        assert by_gpu["1"]["last"] == 3.0 and by_gpu["1"]["last_3"] is None  # no power: N/A
        # host figures go to the default retention policy
        host = wait_until(lambda: rows(influx.query(
            'SELECT last("mem_total_bytes"), last("cpu_util_pct") FROM "autoglm_node" '
            'WHERE "node" = \'gpu-a\'', db="autoglm")), "host series")
        assert host[0]["last"] > 0 and 0 <= host[0]["last_1"] <= 100
        assert not rows(influx.query('SELECT * FROM "autoglm"."autogen"."autoglm_gpu"'))
        policies = {r["name"]: r["duration"] for r in rows(influx.query(
            'SHOW RETENTION POLICIES ON "autoglm"'))}
        assert policies["gpu_7d"] == "168h0m0s" and policies["latency_14d"] == "336h0m0s"
        # counters travel raw and rise; InfluxQL derives the rate
        rate = wait_until(lambda: rows(influx.query(
            'SELECT non_negative_derivative(max("rx_packets"), 1s) FROM "autoglm_net" '
            'WHERE time > now() - 1m GROUP BY time(1s)', db="autoglm")), "a net rate")
        assert all(r["non_negative_derivative"] >= 0 for r in rate)
    finally:
        influx.stop()


def test_lines_wait_for_influx_and_auth_from_env(tmp_path: Path, fleet: ExporterFleet) -> None:
    influx = InfluxServer(tmp_path / "influx", auth=True)
    exp = fleet.start("127.0.0.3", gpus=[{"util": 55}], node_name="gpu-b", extra=[
        "--influx", influx.url, "--influx-user", "writer"],
        env={"AUTOGLM_INFLUX_PASSWORD": "pa55"})
    del exp  # samples pile up in its queue while influxd is not running yet
    wait_until(lambda: (tmp_path / "exporters" / "exporter-127.0.0.3.log").read_text()
               .count("InfluxDB unreachable") >= 2, "failed writes logged", timeout=30)
    time.sleep(2.5)  # a few more samples while nothing listens
    down_until = time.time()
    influx.start()
    try:
        influx.query("CREATE USER \"admin\" WITH PASSWORD 'adm1n' WITH ALL PRIVILEGES",
                     method="POST")
        admin = ("admin", "adm1n")
        for q in ('CREATE DATABASE "autoglm"', "CREATE USER \"writer\" WITH PASSWORD 'pa55'",
                  'GRANT WRITE ON "autoglm" TO "writer"'):
            influx.query(q, auth=admin, method="POST")
        wait_until(lambda: rows(influx.query(
            'SELECT count("util_pct") FROM "autoglm_gpu" WHERE "node" = \'gpu-b\'',
            db="autoglm", auth=admin))[0]["count"] >= 5, "the queued lines written", timeout=60)
        early = rows(influx.query(
            f'SELECT count("util_pct"), first("util_pct") FROM "autoglm_gpu" '
            f"WHERE time < {int(down_until * 1e9)}", db="autoglm", auth=admin))
        # samples taken while influxd was not running were kept and written, not dropped
        assert early[0]["count"] >= 3 and early[0]["first"] == 55.0
    finally:
        influx.stop()


def test_services_measurement_read_back(tmp_path: Path, fleet: ExporterFleet) -> None:
    """A vLLM-shaped page under a known load, scraped by the exporter: the autoglm_service
    measurement in the latency_14d policy holds the derived figures (P95 in the true P95's
    bucket, tokens/s, queue, KV cache, error rate) and the raw counters, tagged per service."""
    server = FakeServer("vllm", model="org/chat-7b")
    http = MetricsHttp()
    page = http.route("/metrics", server.page)
    influx = InfluxServer(tmp_path / "influx").start()
    try:
        for q in RETENTION:
            influx.query(q, method="POST")
        with Load(server):
            exporter = fleet.start("127.0.0.4", node_name="gpu-c", listen=False, extra=[
                "--influx", influx.url, "--influx-rp-for", "service=latency_14d",
                "--service", f"{page},name=chat", "--no-service-discovery",
                "--service-interval", "1"])
            time.sleep(12)  # a window of requests

            def latest() -> list[dict[str, Any]]:
                got = rows(influx.query(
                    'SELECT last("latency_p95_s"), last("tokens_per_s"), last("waiting"), '
                    'last("kv_cache_pct"), last("error_rate_pct"), last("generation_tokens"), '
                    'last("up"), last("requests_window"), last("ttft_p95_s") '
                    'FROM "autoglm"."latency_14d"."autoglm_service" '
                    'GROUP BY "service", "kind", "model", "node"'))
                return got if got and got[0]["last_7"] and got[0]["last_7"] >= 100 else []

            (row,) = wait_until(latest, "service figures over a window", timeout=30)
            # Stopped while the load runs: every line written so far came from a scrape
            # under load (tokens still growing), and none lands while the counts are read.
            exporter.stop()
        assert (row["service"], row["kind"], row["model"], row["node"]) == (
            "chat", "vllm", "org/chat-7b", "gpu-c")
        assert in_bucket(row["last"]), row
        assert row["last_1"] == pytest.approx(RATE * TOKENS, rel=0.35)
        assert row["last_2"] == 2.0 and row["last_3"] == pytest.approx(61.0)
        assert row["last_4"] == pytest.approx(2.0, abs=2.0)  # one request in 50 fails
        assert row["last_5"] > 0 and row["last_6"] == 1
        assert 0.04 < row["last_8"] <= 0.06  # TTFT: every request 0.05 s
        # one line per scrape (1 s), not one per sample repeated
        count = rows(influx.query('SELECT count("generation_tokens"), '
                                  'count(distinct("generation_tokens")) FROM "autoglm"."'
                                  'latency_14d"."autoglm_service"'))[0]
        assert count["count"] == count["count_1"] >= 5
        assert not rows(influx.query('SELECT * FROM "autoglm"."autogen"."autoglm_service"'))
    finally:
        influx.stop()
        http.close()
