"""The exporter's InfluxDB output against Debian's real influxd 1.6: the written series read back
with InfluxQL (values as the sampler saw them, retention policies per measurement as in the
seed's table), lines kept while InfluxDB is down and written when it is back, basic auth with
the password from the environment."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.exporter_fleet import ExporterFleet, fleet
from tests.integration.prometheus_fixture import INFLUXD, InfluxServer, missing, wait_until

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
