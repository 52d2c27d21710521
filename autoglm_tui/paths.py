"""Where autoglm-tui keeps its files: XDG config, data and state directories in one place.

Every function takes an optional ``env`` mapping (default ``os.environ``) so tests can point
the directories at a temporary folder without touching the real home directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

APP = "autoglm-tui"


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME")
    return Path(home) if home else Path.home()


def _xdg(env: Mapping[str, str] | None, var: str, fallback: str) -> Path:
    env = os.environ if env is None else env
    value = env.get(var, "")
    # The XDG spec says relative paths are invalid and must be ignored.
    base = Path(value) if value and os.path.isabs(value) else _home(env) / fallback
    return base / APP


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """Settings and rules (``$XDG_CONFIG_HOME/autoglm-tui``, default ``~/.config/...``)."""
    return _xdg(env, "XDG_CONFIG_HOME", ".config")


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Files worth keeping, such as the alert log (default ``~/.local/share/autoglm-tui``)."""
    return _xdg(env, "XDG_DATA_HOME", ".local/share")


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """State that survives restarts: acknowledgements, silences (``~/.local/state/...``)."""
    return _xdg(env, "XDG_STATE_HOME", ".local/state")


def user_rules_file(env: Mapping[str, str] | None = None) -> Path:
    """The user's own alert rules, loaded after the built-in defaults."""
    return config_dir(env) / "rules.toml"


def default_alert_log(env: Mapping[str, str] | None = None) -> Path:
    """Where the JSON-lines alert log goes unless ``--alert-log`` says otherwise."""
    return data_dir(env) / "alerts.jsonl"


def silences_file(env: Mapping[str, str] | None = None) -> Path:
    """Acknowledged and silenced alerts, persisted across restarts."""
    return state_dir(env) / "silences.json"


def flight_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the flight recorder writes what it kept when an alert fired."""
    return state_dir(env) / "flight"


def tilde(path: str, env: Mapping[str, str] | None = None) -> str:
    """`path` as a shell reads it, shorter: the home directory written ``~``
    ("~/.local/state/autoglm-tui/flight/..."); any other path as it is."""
    home = str(_home(os.environ if env is None else env)).rstrip("/")
    if home and (path == home or path.startswith(home + "/")):
        return "~" + path[len(home):]
    return path
