"""Where files live, and how a path is shown to the user."""

from __future__ import annotations

from autoglm_tui.paths import flight_dir, tilde


def test_a_path_under_home_is_shown_from_tilde_and_others_as_they_are() -> None:
    env = {"HOME": "/home/ops"}
    flight = flight_dir({**env, "XDG_STATE_HOME": ""})
    assert str(flight) == "/home/ops/.local/state/autoglm-tui/flight"
    assert tilde(f"{flight}/x.jsonl.zst", env) == "~/.local/state/autoglm-tui/flight/x.jsonl.zst"
    assert tilde("/home/ops", env) == "~"
    assert tilde("/home/opsx/a", env) == "/home/opsx/a"  # another user's home, not ours
    assert tilde("/var/lib/x", env) == "/var/lib/x"
    assert tilde("/home/ops/a", {"HOME": "/home/ops/"}) == "~/a"
