"""Our windowed quantiles equal Prometheus' own: the same bucket series through promtool.

For each case the same cumulative bucket counters, scraped every 5 s, go (a) through the
service tracker as ServiceSamples and (b) into `promtool test rules` as input series, where
``histogram_quantile(q, sum by (le) (increase(x_bucket[1m])))`` is evaluated at the last
scrape. promtool reports the value it got when it differs from the (deliberately wrong)
expectation; that value is the reference. With scrapes exactly 60 s apart at the window's
edges, Prometheus' increase() needs no extrapolation, so the two must agree to float
precision, including across a counter reset and in the +Inf bucket.
"""

from __future__ import annotations

import dataclasses
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from autoglm_tui.analysis.services import ServiceTracker
from autoglm_tui.model import Histogram, ServiceSample
from tests.unit.samples import sample

pytestmark = pytest.mark.integration
PROMTOOL = shutil.which("promtool") or "promtool"  # Debian package prometheus (scripts/test.sh)
BOUNDS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0)  # vLLM's first e2e bounds
STEP_S = 5
STEPS = 25  # 0 .. 120 s
QS = (0.5, 0.95, 0.99)


def _cases() -> dict[str, list[list[float]]]:
    """name -> cumulative counts per scrape (each a list over BOUNDS + [+Inf])."""
    rng = random.Random(7)

    def grow(draw, restart_at: int | None = None) -> list[list[float]]:  # type: ignore[no-untyped-def]
        counts = [3.0] * (len(BOUNDS) + 1)  # not from zero: no start-of-series effects
        out = []
        for i in range(STEPS):
            if i == restart_at:
                counts = [0.0] * (len(BOUNDS) + 1)
            for _ in range(rng.randrange(5, 40)):
                v = draw()
                for j, b in enumerate(BOUNDS):
                    if v <= b:
                        counts[j] += 1
                counts[-1] += 1
            out.append(list(counts))
        return out

    return {
        "lognormal": grow(lambda: rng.lognormvariate(0.0, 0.5)),
        "mostly above the largest bound": grow(lambda: rng.uniform(5.0, 40.0)),
        "counter reset mid-window": grow(lambda: rng.lognormvariate(-0.5, 0.7), restart_at=20),
    }


def _ours(series: list[list[float]]) -> dict[float, tuple[float, bool]]:
    tr = ServiceTracker(window_s=60.0, rate_window_s=15.0)
    for i, counts in enumerate(series):
        t = float(i * STEP_S)
        svc = ServiceSample("http://127.0.0.1:1/metrics", "vllm", True, port=1, t=t,
                            e2e=Histogram(BOUNDS, tuple(counts), None))
        tr.update(dataclasses.replace(sample(t, i + 1), services=(svc,)), t)
    e2e = tr.views["vllm:1"].e2e
    return {q.q: (q.value, q.above) for q in (e2e.p50, e2e.p95, e2e.p99)}


def _reference(series: list[list[float]], tmp: Path) -> dict[float, float]:
    les = [repr(b) for b in BOUNDS] + ["+Inf"]
    lines = ["evaluation_interval: 5s", "tests:", "  - interval: 5s", "    input_series:"]
    for j, le in enumerate(les):
        values = " ".join(repr(step[j]) for step in series)
        lines += [f"      - series: 'x_bucket{{le=\"{le}\"}}'", f"        values: '{values}'"]
    lines.append("    promql_expr_test:")
    for q in QS:
        lines += [
            f"      - expr: histogram_quantile({q}, sum by (le) (increase(x_bucket[1m])))",
            f"        eval_time: {(STEPS - 1) * STEP_S}s",
            "        exp_samples:",
            "          - labels: '{}'",
            "            value: -1",
        ]
    path = tmp / "quantiles.yml"
    path.write_text("\n".join(lines) + "\n")
    done = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True,
                          text=True, timeout=60)
    got = re.findall(r'expr: "histogram_quantile\(([0-9.]+),.*?got: \{\} (\S+)',
                     done.stdout + done.stderr, flags=re.S)
    assert len(got) == len(QS), done.stdout + done.stderr
    return {float(q): float(v) for q, v in got}


@pytest.mark.parametrize("name", list(_cases()))
def test_quantiles_match_promtool(name: str, tmp_path: Path) -> None:
    series = _cases()[name]
    ours = _ours(series)
    ref = _reference(series, tmp_path)
    for q in QS:
        value, above = ours[q]
        assert value == pytest.approx(ref[q], rel=1e-12), (name, q)
        if above:  # Prometheus returns the largest finite bound for a rank in +Inf
            assert value == ref[q] == BOUNDS[-1]
    if name == "mostly above the largest bound":
        assert ours[0.95][1]
