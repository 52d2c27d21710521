"""Values in their metric's unit, never in exponent form (issue 15, item 14)."""

from __future__ import annotations

import pytest

from autoglm_tui import metrics
from autoglm_tui.format import compact, in_unit


@pytest.mark.parametrize("value,unit,text", [
    (51_790_000, "bytes/s", "49.4M/s"),
    (51_800_000, "bytes", "49.4M"),
    (97, "pct", "97.0%"),
    (0.25, "s", "250ms"),
    (2.5, "s", "2.5s"),
    (0.0004, "s", "400us"),
    (12.5, "ms", "12.5ms"),
    (350, "w", "350W"),
    (81.4, "c", "81°C"),
    (1410, "mhz", "1410MHz"),
    (12_345, "1/s", "12.3k/s"),
    (3, "count", "3"),
    (51_790_000, "", "51.8M"),
    (0.123456, "", "0.123"),
    (1.5, "pct/min", "+1.5%/min"),
    (-2_000_000, "bytes/min", "-1.9M/min"),
])
def test_in_unit(value: float, unit: str, text: str) -> None:
    assert in_unit(value, unit) == text


def test_no_metric_prints_in_exponent_form() -> None:
    for m in metrics.METRICS.values():
        for v in (0.0, 3e-5, 0.5, 7, 123.4, 5.179e7, 9.9e11, 3e13, -4.2e8):
            text = in_unit(v, m.unit)
            assert "e+" not in text and "e-0" not in text, (m.name, v, text)


def test_compact() -> None:
    assert [compact(v) for v in (0, 12, 999, 1000, 12_345, 5.179e7, 2.5e9)] == \
        ["0", "12", "999", "1k", "12.3k", "51.8M", "2.5G"]
    assert compact(float("nan")) == "N/A"
