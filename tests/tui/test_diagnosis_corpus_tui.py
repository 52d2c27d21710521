"""Every scenario of the diagnosis corpus, replayed as `autoglm-tui replay` does, shows on the
Diagnosis screen (`d`) the cause the corpus names as the top finding, with its evidence and
what to do; the healthy ones say there is nothing to name (issue 11, "Done when")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoglm_tui.tui.screens.diagnosis import DiagnosisScreen

from .scenes import replay_app, settle, utc
from .terminal import screen_text

CORPUS = Path(__file__).resolve().parents[1] / "scenarios"
SCENARIOS = {s["name"]: s for s in json.loads((CORPUS / "manifest.json").read_text())["scenarios"]}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_the_diagnosis_screen_names_the_cause(name: str) -> None:
    sc = SCENARIOS[name]
    with utc():
        app = replay_app(name, before_end_s=0.0)  # the findings at the recording's end
        async with app.run_test(size=(160, 50)) as pilot:
            await settle(pilot)
            await pilot.press("d")
            await settle(pilot)
            assert isinstance(app.screen, DiagnosisScreen)
            text = screen_text(app)
            if sc["top"] is None:
                assert "No findings" in text, text
                return
            rows = [ln for ln in text.splitlines()
                    if ln.split()[:1] in (["CRIT"], ["WARN"], ["info"])]
            assert rows and sc["top"] in rows[0], f"{name}: {rows}"  # worst first
            for must in sc["must"]:
                assert any(must in row for row in rows), f"{name}: {must} not in {rows}"
            # the highlighted (top) finding's evidence and next steps, below the table
            assert "Evidence" in text and "What to do" in text
