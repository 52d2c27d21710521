"""Pilot tests of the diagnosis in the UI: the Diagnosis screen (`d`, `:diagnose`), its evidence
and jumps, the findings line of the node screen and the marker on cluster rows.

The input is a scenario of the diagnosis corpus (tests/scenarios/) replayed into the monitor
as `autoglm-tui replay` does (tests/tui/scenes.py), so the findings are the engine's own.
"""

from __future__ import annotations

from autoglm_tui.analysis.diagnosis.model import Evidence, Finding, Severity, Subject
from autoglm_tui.recording.reader import Recording
from autoglm_tui.tui.screens.diagnosis import DiagnosisScreen
from autoglm_tui.tui.screens.node import NodeScreen
from autoglm_tui.tui.screens.process import ProcessScreen

from .scenes import SCENARIOS, replay_app, replay_leak, replay_mixed, settle, utc
from .terminal import capture, screen_text, style_of

SMALL = (80, 24)
BIG = (160, 50)


async def open_diagnosis(pilot) -> None:  # type: ignore[no-untyped-def]
    """The Diagnosis screen (`d`), once the app has settled."""
    await settle(pilot)
    await pilot.press("d")
    await settle(pilot)


async def open_evidence(pilot) -> None:  # type: ignore[no-untyped-def]
    """The Diagnosis screen with the worst finding's evidence full height (Enter)."""
    await open_diagnosis(pilot)
    await pilot.press("enter")
    await settle(pilot)


async def test_d_lists_the_fleets_findings_worst_first_at_80x24() -> None:
    with utc():
        app = replay_mixed()
        async with app.run_test(size=SMALL) as pilot:
            await open_diagnosis(pilot)
            assert isinstance(app.screen, DiagnosisScreen)
            text = screen_text(app)
            lines = text.splitlines()
            assert lines[0].strip() == "cluster › diagnosis"
            assert "2 findings (1 critical, 1 warning)" in text
            leak = next(i for i, line in enumerate(lines) if "gpu_memory_leak" in line)
            straggler = next(i for i, line in enumerate(lines) if "straggler_gpu" in line)
            assert leak < straggler  # critical first
            assert lines[leak].split()[:1] == ["CRIT"] and "mix-0 pid 4600" in lines[leak]
            assert lines[straggler].split()[:1] == ["WARN"] and "mix-1 GPU 2" in lines[straggler]
            # the highlighted (worst) finding's evidence is shown below the table
            assert "+240.0 MiB/min (Theil-Sen over 86 points, 9 min)" in text  # 20 s buckets
            assert "Evidence  (00:00:05-00:09:05, 9m00s" in text
            assert style_of(app, "CRIT").fg != style_of(app, "WARN").fg


async def test_enter_shows_the_evidence_then_goes_to_the_process_and_esc_comes_back() -> None:
    with utc():
        app = replay_mixed()
        async with app.run_test(size=SMALL) as pilot:
            await open_evidence(pilot)
            text = screen_text(app)
            assert "Sev   Finding" not in text  # the table made room
            for expected in ("out of memory in about 16m31s", "grew 2.1G over 9 min",
                             "What to do", "1. take a memory snapshot"):
                assert expected in text, expected
            await pilot.press("end")  # the rest of it, scrolled into view
            await settle(pilot)
            assert "Enter / o: go to mix-0 pid 4600  ·  Esc: back to the list" in screen_text(app)
            await pilot.press("enter")  # to the subject: the leaking process
            await settle(pilot)
            assert isinstance(app.screen, ProcessScreen)
            crumb = screen_text(app).splitlines()[0].strip()
            assert crumb == "cluster › diagnosis › mix-0 pid 4600"
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, DiagnosisScreen)
            await pilot.press("escape")  # out of the evidence view: the list again
            await settle(pilot)
            assert "Sev   Finding" in screen_text(app)


async def test_at_80x24_evidence_and_steps_wrap_under_their_bullets() -> None:
    """A step too long for the box goes on under its own text, not under the number, and a
    figure keeps its unit on one line."""
    with utc():
        app = replay_mixed()
        async with app.run_test(size=SMALL) as pilot:
            await open_evidence(pilot)
            await pilot.press("end")
            await settle(pilot)
            raw = [line for line in screen_text(app).splitlines() if line.startswith("│")]
            lines = [line.strip("│ ") for line in raw]
            step = next(i for i, line in enumerate(lines) if line.startswith("1. "))
            first, cont = raw[step], raw[step + 1]
            assert lines[step + 1] and not lines[step + 1].startswith("2. ")
            # the continuation starts where the step's words do (after "1. ")
            assert len(cont) - len(cont.lstrip("│ ")) == len(first) - len(first.lstrip("│ 1."))
            for k, line in enumerate(lines[:-1]):  # "9 min", never "9" and "min" below it
                if line.split() and line.split()[-1][-1:].isdigit():
                    assert lines[k + 1].split()[:1] not in (["min"], ["s"]), line


async def test_o_on_a_gpu_finding_opens_that_gpu() -> None:
    with utc():
        app = replay_mixed()
        async with app.run_test(size=BIG) as pilot:
            await settle(pilot)
            await pilot.press("d", "down")
            await settle(pilot)
            assert "lags the other GPUs of mix-1" in screen_text(app)
            await pilot.press("o")
            await settle(pilot)
            assert screen_text(app).splitlines()[0].strip() == "cluster › diagnosis › mix-1 GPU 2"


async def test_diagnose_command_for_one_node_lists_only_its_findings() -> None:
    with utc():
        app = replay_mixed()
        async with app.run_test(size=BIG, notifications=True) as pilot:
            await settle(pilot)
            await pilot.press("colon", *"diagnose mix-1", "enter")
            await settle(pilot)
            text = screen_text(app)
            assert text.splitlines()[0].strip() == "cluster › mix-1 › diagnosis"
            assert "Diagnosis  mix-1  1 finding (1 warning)" in text
            assert "straggler_gpu" in text and "gpu_memory_leak" not in text
            assert "not in the cluster" not in text  # the node is there: no liveness banner
            await pilot.press("colon", *"diagnose nosuch", "enter")
            await settle(pilot)
            assert "no node 'nosuch'" in screen_text(app)


async def test_cluster_rows_carry_a_marker_and_the_detail_line_names_the_finding() -> None:
    with utc():
        app = replay_mixed()
        async with app.run_test(size=SMALL) as pilot:
            await settle(pilot)
            text = screen_text(app)
            row0 = next(line for line in text.splitlines() if " mix-0 " in line)
            row1 = next(line for line in text.splitlines() if " mix-1 " in line)
            assert row0.split()[:2] == ["UP", "◆1"] and row1.split()[:2] == ["UP", "◆1"]
            # critical (the leak on mix-0) and warning (the straggler) differ in colour
            screen = capture(app)
            y0, x0 = screen.find("◆1", "mix-0")
            y1, x1 = screen.find("◆1", "mix-1")
            assert screen.lines[y0][x0].fg != screen.lines[y1][x1].fg
            assert "mix-0  ◆ 1 finding (d) gpu_memory_leak: pid 4600 (python3)" in text


async def test_node_screen_names_its_worst_finding_and_d_opens_its_diagnosis() -> None:
    with utc():
        app = replay_mixed()
        async with app.run_test(size=BIG) as pilot:
            await settle(pilot)
            await pilot.press("enter")  # mix-0
            await settle(pilot)
            assert isinstance(app.screen, NodeScreen)
            assert "◆ 1 finding (d) gpu_memory_leak: pid 4600 (python3) GPU memory " \
                "keeps growing: +240M/min" in screen_text(app)
            await pilot.press("d")
            await settle(pilot)
            text = screen_text(app)
            assert text.splitlines()[0].strip() == "cluster › mix-0 › diagnosis"
            assert "gpu_memory_leak" in text and "straggler_gpu" not in text


async def test_local_replay_of_a_leak_shows_the_line_and_the_screen() -> None:
    with utc():
        app = replay_leak()
        async with app.run_test(size=BIG) as pilot:
            await settle(pilot)
            assert "◆ 1 finding (d) gpu_memory_leak: pid 4300 (python3)" in screen_text(app)
            await pilot.press("d")
            await settle(pilot)
            text = screen_text(app)
            assert "Diagnosis  leak-0  1 finding (1 warning)" in text
            assert "out of memory in about" in text


async def test_a_healthy_fleet_shows_no_finding_and_no_marker() -> None:
    with utc():
        app = replay_app("healthy_inference")
        async with app.run_test(size=BIG) as pilot:
            await settle(pilot)
            text = screen_text(app)
            assert "◆" not in text
            await pilot.press("d")
            await settle(pilot)
            text = screen_text(app)
            assert "Diagnosis  fleet  0 findings" in text
            assert ("No findings (3 nodes, 9m25s of data): nothing the diagnosis can name is "
                    "wrong here") in text
            assert "Too short" not in text


async def diagnosis_text(app) -> str:  # type: ignore[no-untyped-def]
    """The Diagnosis screen (`d`) of `app`, as one line of words (borders left out)."""
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        return " ".join(screen_text(app).replace("│", " ").split())


async def test_no_finding_from_a_minute_of_data_says_what_it_could_not_check_yet() -> None:
    """A minute into a recording, no finding is not a clean bill: the bottleneck, leak and
    latency-rise checks need more data than that, and the screen says so (as `diagnose`
    does)."""
    rec = Recording.open(SCENARIOS / "healthy_inference.jsonl.gz")
    with utc():
        text = await diagnosis_text(replay_app("healthy_inference",
                                               before_end_s=rec.end - rec.start - 65))
    assert "Diagnosis fleet 0 findings" in text
    assert "No findings (3 nodes, 1m" in text
    assert ("Too short to rule everything out: bottlenecks need 2m00s of data, memory "
            "leaks 5m00s, latency rises 6m00s.") in text


async def test_a_replay_that_read_only_its_warmup_says_how_to_read_more() -> None:
    """`replay --at` reads only --warmup before the point: where the recording holds more, the
    empty Diagnosis screen says how much and the option that gives all of it."""
    with utc():
        text = await diagnosis_text(replay_app("healthy_inference", warmup_s=65))
    assert "No findings (3 nodes, 1m0" in text
    assert "This replay read 1m0" in text
    assert ("of data before this point and the recording holds 9m25s: replay with --warmup 10m "
            "to give the diagnosis all of it.") in text


async def test_a_replay_from_its_start_gives_no_warmup_hint() -> None:
    with utc():
        text = await diagnosis_text(replay_app("healthy_inference", before_end_s=400))
    assert "No findings (3 nodes" in text and "--warmup" not in text


async def test_untrusted_text_in_a_finding_is_drawn_as_plain_text() -> None:
    with utc():
        app = replay_mixed()
        async with app.run_test(size=BIG) as pilot:
            await settle(pilot)
            runner = app.monitor.diagnosis
            assert runner is not None
            evil = Finding("cpu_bound", Severity.CRITICAL,
                           Subject("process", node="mix-0", pid=4600),
                           "pid 4600 ([bold red]x[/]\x1b[2J\u202e) is busy",
                           (Evidence("cpu", 99.0, "pct", "[link=http://x]cpu[/link] 99%\x07"),),
                           (runner.now - 60, runner.now), ("kill [b]it[/b]\x1b]0;t\x07",),
                           score=9.0, since=runner.now - 30)
            runner.findings = [evil, *runner.findings]  # what the UI reads
            await pilot.press("d")
            await settle(pilot)
            text = screen_text(app)
            assert "pid 4600 ([bold red]x[/] [2J) is busy" in text  # ESC cleaned, markup shown
            assert "[link=http://x]cpu[/link] 99%" in text
            assert "1. kill [b]it[/b] ]0;t" in text
            assert "\x1b" not in text and "\u202e" not in text


async def test_diagnosis_off_says_so() -> None:
    with utc():
        app = replay_mixed()
        app.monitor.diagnosis = None
        async with app.run_test(size=SMALL) as pilot:
            await settle(pilot)
            await pilot.press("d")
            await settle(pilot)
            text = " ".join(screen_text(app).replace("│", " ").split())
            assert "diagnosis is off (started with --no-diagnosis)" in text  # the title
            assert "The diagnosis is off (started with --no-diagnosis): nothing is looked for" \
                in text  # not "nothing is wrong here"
            assert "No findings" not in text

