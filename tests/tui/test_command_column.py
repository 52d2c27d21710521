"""The command column at 80 columns: the script or module first, then the interpreter (as
nvitop and btop do); an untrusted command line is plain text without its control characters."""

from __future__ import annotations

from autoglm_tui.model import ProcSample
from autoglm_tui.tui.demo import demo_events
from autoglm_tui.tui.procview import short_command

from .helpers import make_app, screen_text, settle


def proc(cmdline: str) -> ProcSample:
    return ProcSample(1, None, "u", "python3", cmdline, None, None, None)


def test_module_and_script_come_before_the_interpreter() -> None:
    assert short_command(proc("python3 -m vllm.entrypoints.openai.api_server --port 8000")) == (
        "vllm.entrypoints.openai.api_server --port 8000", "python3 -m")
    assert short_command(proc("/venv/bin/python train.py --lr 3e-4")) == (
        "train.py --lr 3e-4", "python")
    assert short_command(proc("/usr/bin/python3.11 -u -X dev -W ignore train.py")) == (
        "train.py", "python3.11 -u -X dev -W ignore")
    assert short_command(proc("bash run.sh a")) == ("run.sh a", "bash")


def test_other_commands_and_inline_code_stay_whole() -> None:
    for line in ("torchrun --nproc_per_node 8 train.py", "python3 -c import os", "python3",
                 "/usr/bin/dockerd -H fd://", "python3 -u"):
        assert short_command(proc(line)) == (line, "")
    assert short_command(ProcSample(2, None, "root", "kworker/0:1", "", None, None, None)) == (
        "[kworker/0:1]", "")


def test_control_characters_are_stripped() -> None:
    main, launcher = short_command(proc("python3 \x1b]0;pwned\x07evil.py\r\n --x"))
    assert "\x1b" not in main and "\x07" not in main and "\r" not in main
    assert main.startswith("]0;pwned") and "evil.py" in main and launcher == "python3"


def _row(text: str, pid: int) -> str:
    return next(ln for ln in text.splitlines() if f" {pid} " in ln)


async def test_at_80_columns_the_table_shows_the_module_and_the_script() -> None:
    app = make_app(demo_events())
    async with app.run_test(size=(80, 50)) as pilot:
        await settle(pilot)
        text = screen_text(pilot)
        assert "vllm.entrypoints" in _row(text, 4121)  # python3 -m vllm.entrypoints.openai…
        assert "train.py" in _row(text, 5201)  # /usr/bin/python3 -u train.py …
        evil = _row(text, 7777)
        assert "]0;pwned [red]x[/red]" in evil  # plain text: no markup, no escape sequence
        assert "\x1b" not in text and "\x07" not in text
