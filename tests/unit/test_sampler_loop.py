"""The tick loop: lines out, cancellable sleep, stopping on end of input and broken pipes."""

from __future__ import annotations

import io
import os

import pytest

from autoglm_tui import wire
from autoglm_tui.model import Hello, Sample
from autoglm_tui.sampler import loop
from autoglm_tui.sampler.loop import Stopper


@pytest.fixture(autouse=True)
def no_fake_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOGLM_NVML_MODULE", raising=False)


def test_run_writes_hello_then_counted_samples() -> None:
    out = io.BytesIO()
    stopper = Stopper(None)
    try:
        status = loop.run(interval_s=0.1, count=2, top_n=3, out=out, stopper=stopper)
    finally:
        stopper.restore()
    assert status == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    msgs = [wire.decode(line) for line in lines]
    assert isinstance(msgs[0], Hello)
    assert [type(m) for m in msgs[1:]] == [Sample, Sample]
    assert [m.seq for m in msgs[1:]] == [1, 2]
    assert msgs[1].t < msgs[2].t
    assert msgs[0].static.interval_s == 0.1


def test_end_of_input_on_a_pipe_stops_the_sleep() -> None:
    r, w = os.pipe()
    stopper = Stopper(r)
    try:
        os.write(w, b"ignored input\n")
        assert stopper.sleep(0.05) is True  # input that is not EOF changes nothing
        os.close(w)
        assert stopper.sleep(30) is False
        assert stopper.reason == "end of input"
    finally:
        stopper.restore()
        os.close(r)


def test_dev_null_on_stdin_is_not_end_of_input() -> None:
    fd = os.open(os.devnull, os.O_RDONLY)
    stopper = Stopper(fd)
    try:
        assert stopper.sleep(0.05) is True
        assert not stopper.stopped
    finally:
        stopper.restore()
        os.close(fd)


def test_stop_wakes_a_sleep_at_once() -> None:
    stopper = Stopper(None)
    try:
        stopper.stop("test")
        # False means the sleep ended because of the stop, not because 30 s passed.
        assert stopper.sleep(30) is False
    finally:
        stopper.restore()


class _Closed(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_goes_away_ends_the_loop_quietly() -> None:
    stopper = Stopper(None)
    try:
        status = loop.run(interval_s=0.1, count=5, out=_Closed(), stopper=stopper)  # type: ignore[arg-type]
    finally:
        stopper.restore()
    assert status == 0


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        loop.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in ("--interval", "--count", "--once", "--proc-interval", "--top", "--collector"):
        assert option in text


@pytest.mark.parametrize("bad", [["--interval", "0"], ["--count", "0"], ["--top", "-1"]])
def test_bad_options_are_refused(bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        loop.main(bad)
    assert exc.value.code == 2
    assert "must be" in capsys.readouterr().err
