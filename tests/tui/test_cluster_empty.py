"""An empty table says why nothing shows and what to do next, at 80x24: a wrong --etcd
address, a registry nobody registered in yet, no GPU or service yet, no alert."""

from __future__ import annotations

from pathlib import Path

from autoglm_tui.alerting.pipeline import build_pipeline
from autoglm_tui.events import RegistryChanged

from .cluster_kit import T0, feed, make_app, screen_text, settle, start


async def test_an_unreachable_registry_and_an_empty_one_say_what_to_do() -> None:
    app, _, _ = make_app(nodes=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(pilot, app, [])
        assert "Waiting for the first nodes" in screen_text(app)

        reason = "etcd 10.9.8.7:2379 unreachable: connection refused"
        await feed(pilot, app, [RegistryChanged(T0, False, reason)])
        lines = screen_text(app).splitlines()
        # the summary starts with it (its end is cut off at 80 columns) ...
        assert lines[1].split("·")[0].strip() == "registry degraded"
        # ... and the table's body gives the reason and the next step
        body = " ".join(" ".join(lines[3:12]).split())
        assert f"No nodes: {reason}" in body
        assert "The monitor keeps trying. Check the address (--etcd HOST:PORT" in body

        await feed(pilot, app, [RegistryChanged(T0 + 5, True, None)])
        text = screen_text(app)
        assert "registry degraded" not in text and "No nodes:" not in text
        body = " ".join(text.split())
        assert "No node has registered yet." in body
        assert "On each node run `autoglm-tui agent --etcd HOST:PORT`" in body


async def test_empty_gpu_and_service_tables_say_why() -> None:
    app, _, _ = make_app(nodes=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(pilot, app, [])
        await pilot.press("G")
        await feed(pilot, app, [])
        assert "No GPU reported yet." in screen_text(app)
        await pilot.press("escape")
        await pilot.press("colon", *"services", "enter")
        await feed(pilot, app, [])
        body = " ".join(screen_text(app).split())
        assert "No inference service found on any node." in body
        assert "Name others with `--service URL` on the sampler or the agent." in body


async def test_a_gpu_filter_that_matches_nothing_says_how_to_clear_it() -> None:
    app, _, _ = make_app(nodes=3)
    async with app.run_test(size=(80, 24)) as pilot:
        await start(pilot, app)
        await pilot.press("G")
        await settle(pilot, app)
        assert "No GPU" not in screen_text(app)
        await pilot.press("slash", *"gpu.util>101", "enter")
        await settle(pilot, app)
        assert "No GPU matches the filter. Esc clears it." in screen_text(app)
        await pilot.press("escape")
        await settle(pilot, app)
        assert "No GPU matches" not in screen_text(app)


async def test_an_empty_alerts_screen_says_the_rules_held_nowhere(tmp_path: Path) -> None:
    app, _, _ = make_app(nodes=0)  # a monitor without an alert pipeline: --no-alerts
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(pilot, app, [])
        await pilot.press("A")
        await feed(pilot, app, [])
        body = " ".join(screen_text(app).split())
        assert "Alerting is off (--no-alerts): no rule is checked" in body

    app, _, _ = make_app(nodes=0)
    pipeline = build_pipeline([], no_log=True, include_user_rules=False,
                              silences_path=str(tmp_path / "silences.json"))
    pipeline.install(app.monitor)
    rules = len(pipeline.engine.rules)
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(pilot, app, [])
        await pilot.press("A")
        await feed(pilot, app, [])
        body = " ".join(screen_text(app).split())
        assert f"Nothing is firing or pending: the {rules} rules in force hold nowhere." in body
        assert "stays here as resolved for 15m00s" in body
