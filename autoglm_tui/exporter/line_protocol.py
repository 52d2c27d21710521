"""InfluxDB line protocol: escaping and one line (pure; shared by the writer's measurements)."""

from __future__ import annotations

from autoglm_tui.text import clean

PREFIX = "autoglm_"


def _escape_key(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _escape_measurement(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def _escape_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tag_value(value: object) -> str:
    """A tag value from untrusted text (empty tags are left out by `line`)."""
    return clean("" if value is None else value, 128).strip()


def _field(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return None if value != value or value in (float("inf"), float("-inf")) else repr(value)
    return _escape_string(clean(value, 1024))


def line(measurement: str, tags: dict[str, str], fields: dict[str, object], t_ms: int
         ) -> str | None:
    """One line of line protocol; None when no field has a value (nothing to write)."""
    parts = [f"{_escape_key(k)}={text}" for k, value in fields.items()
             if (text := _field(value)) is not None]
    if not parts:
        return None
    tag_text = "".join(f",{_escape_key(k)}={_escape_key(v)}" for k, v in sorted(tags.items())
                       if v)
    return f"{_escape_measurement(PREFIX + measurement)}{tag_text} {','.join(parts)} {t_ms}"
