"""Control lines (parsing, validation) and resource-aware sampling, as plain data, plus the
Collector slowing its process scan on a saturated node."""

from __future__ import annotations

import time

import pytest

from autoglm_tui.sampler import adaptive
from autoglm_tui.sampler.adaptive import LoadPolicy
from autoglm_tui.sampler.collector import Collector
from autoglm_tui.sampler.control import MAX_LINE, Controls


def test_control_lines_split_across_reads() -> None:
    c = Controls(1.0)
    c.feed(b'{"type":"control","inter')
    assert c.interval_s == 1.0 and not c.changed
    c.feed(b'val":5}\n{"type":"control","full":true}\n')
    assert c.interval_s == 5.0 and c.requested_interval_s == 5.0 and c.changed
    assert c.take_full() and not c.take_full()
    assert c.take_notes() == []


def test_each_key_is_validated_on_its_own() -> None:
    c = Controls(1.0)
    c.feed(b'{"type":"control","interval":true,"full":1,"delta":true,"x":2}\n')
    assert c.interval_s == 1.0 and c.delta and c.full_wanted  # delta on: a full one first
    notes = c.take_notes()
    assert any("interval: expected a number of seconds" in n for n in notes)
    assert any("control full: expected true or false, got 1" in n for n in notes)
    assert any("control key 'x' is not known here" in n for n in notes)
    for bad in (b"0.1", b"1e9", b"NaN", b'"5"'):
        c.feed(b'{"type":"control","interval":' + bad + b"}\n")
    assert c.interval_s == 1.0 and len(c.take_notes()) == 4
    c.feed(b'{"type":"control","interval":null}\n')
    assert c.interval_s == 1.0 and c.requested_interval_s is None


def test_long_lines_and_junk_are_dropped_with_a_note() -> None:
    c = Controls(1.0)
    c.feed(b"x" * (MAX_LINE + 10))
    c.feed(b'zz"interval":9}\n{"type":"control","interval":3}\n')
    assert c.interval_s == 3.0  # the line after the long one still counts
    assert any("longer than" in n for n in c.take_notes())
    c.feed(b"\n\n   \n")  # blank lines are nothing
    c.feed(b"\x00\x1b[31m\n")
    notes = c.take_notes()
    assert len(notes) == 1 and "\x1b" not in notes[0]
    for _ in range(50):
        c.feed(b"junk\n")
    assert len(c.take_notes()) == 8  # capped per sample


def test_load_policy_has_hysteresis() -> None:
    p = LoadPolicy()
    assert p.factor == 1.0 and p.reason() is None
    assert not p.update(95.0) and p.update(97.0)  # two saturated samples in a row
    assert p.saturated and p.factor == adaptive.FACTOR
    assert "node CPU saturated" in (p.reason() or "")
    for v in (80.0, 70.0, 70.0, 85.0, 70.0, 70.0):
        assert not p.update(v)  # 75-90 % neither enters nor leaves; the low run restarts
    assert p.update(60.0) and not p.saturated
    assert LoadPolicy(enabled=False).update(100.0) is False


def test_a_saturated_node_scans_processes_less_often(monkeypatch: pytest.MonkeyPatch) -> None:
    coll = Collector(interval_s=0.1, proc_interval_s=0.2, top_n=3, adaptive=True)

    def fresh_scans(n: int) -> int:
        out = 0
        for _ in range(n):
            out += coll.sample(time.time()).procs_fresh
            time.sleep(0.1)
        return out

    try:
        monkeypatch.setattr(coll, "_cpu", _fixed_cpu(coll, 99.0))
        fresh_scans(2)  # two saturated samples: now it counts as saturated
        busy = fresh_scans(16)
        s = coll.sample(time.time())
        assert s.sampling is not None
        assert s.sampling.proc_interval_s == pytest.approx(0.2 * adaptive.FACTOR)
        assert s.sampling.slowed and "saturated" in s.sampling.slowed
        assert s.sampling.health_interval_s == pytest.approx(10.0 * adaptive.FACTOR)
        assert coll.gpus.health_interval_s == pytest.approx(10.0 * adaptive.FACTOR)
        monkeypatch.setattr(coll, "_cpu", _fixed_cpu(coll, 5.0))
        fresh_scans(3)  # three calm samples: back to normal
        calm = fresh_scans(16)
        s = coll.sample(time.time())
        assert s.sampling is not None and s.sampling.slowed is None
        assert s.sampling.proc_interval_s == pytest.approx(0.2)
        assert coll.gpus.health_interval_s == pytest.approx(10.0)
        # Same number of samples, same spacing: far fewer full scans while saturated.
        assert busy < calm, (busy, calm)
    finally:
        coll.close()


def _fixed_cpu(coll: Collector, pct: float):  # type: ignore[no-untyped-def]
    real = coll._cpu

    def cpu(errors: list[str]):  # type: ignore[no-untyped-def]
        from dataclasses import replace

        return replace(real(errors), util_pct=pct)

    return cpu
