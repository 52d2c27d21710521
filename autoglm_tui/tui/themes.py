"""Theme files (TOML) -> Textual themes; `--theme NAME` finds shipped files, paths and built-ins.

A theme file holds Textual ``Theme`` fields at the top level (``name``, ``dark``, ``primary``,
``background``...) and an optional ``[variables]`` table of extra CSS variables. The shipped
files live in ``autoglm_tui/themes/`` (the top-level ``themes/`` of the repository is the same
directory), so they travel as package data.
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import BUILTIN_THEMES, Theme

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

THEME_DIR = Path(__file__).resolve().parent.parent / "themes"
DEFAULT_THEME = "dark"

_COLOR_FIELDS = (
    "primary", "secondary", "warning", "error", "success", "accent",
    "foreground", "background", "surface", "panel", "boost",
)
_OTHER_FIELDS = {"name": str, "dark": bool, "luminosity_spread": float, "text_alpha": float}
_KNOWN = set(_COLOR_FIELDS) | set(_OTHER_FIELDS) | {"variables"}
assert _KNOWN - {"variables"} <= {f.name for f in fields(Theme)}


class ThemeError(ValueError):
    """A theme that cannot be found or does not validate; the message says which and why."""


def shipped_themes() -> list[str]:
    """Names of the theme files shipped with the package."""
    return sorted(p.stem for p in THEME_DIR.glob("*.toml"))


def parse_theme(data: dict[str, object], default_name: str) -> Theme:
    """Build a Theme from the parsed TOML of a theme file."""
    unknown = sorted(set(data) - _KNOWN)
    if unknown:
        raise ThemeError(f"unknown key(s) {', '.join(unknown)}")
    kwargs: dict[str, object] = {}
    for key in _COLOR_FIELDS:
        if key in data:
            kwargs[key] = _color(key, data[key])
    if "primary" not in kwargs:
        raise ThemeError("'primary' is required")
    for key, kind in _OTHER_FIELDS.items():
        if key not in data:
            continue
        value = data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind):
            raise ThemeError(f"{key!r} must be a {kind.__name__}")
        kwargs[key] = value
    name = str(kwargs.pop("name", default_name)).strip()
    if not name:
        raise ThemeError("'name' must not be empty")
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeError("[variables] must be a table")
    clean_vars: dict[str, str] = {}
    for key, value in variables.items():
        if not isinstance(value, str):
            raise ThemeError(f"variable {key!r} must be a string")
        clean_vars[str(key)] = value
    return Theme(name=name, variables=clean_vars, **kwargs)  # type: ignore[arg-type]


def _color(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ThemeError(f"{key!r} must be a colour string such as '#5fafff'")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeError(f"{key!r}: {value!r} is not a colour") from None
    return value


def load_theme_file(path: Path) -> Theme:
    """Read and validate one theme file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ThemeError(f"cannot read theme {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"theme {path} is not valid TOML: {exc}") from None
    try:
        return parse_theme(data, path.stem)
    except ThemeError as exc:
        raise ThemeError(f"theme {path}: {exc}") from None


def resolve_theme(spec: str) -> Theme:
    """A shipped theme by name, a theme file by path, or one of Textual's built-in themes."""
    spec = spec.strip()
    shipped = THEME_DIR / f"{spec}.toml"
    if "/" not in spec and not spec.endswith(".toml") and shipped.is_file():
        return load_theme_file(shipped)
    path = Path(spec).expanduser()
    if path.is_file():
        return load_theme_file(path)
    if spec in BUILTIN_THEMES:
        return BUILTIN_THEMES[spec]
    choices = ", ".join(shipped_themes() + sorted(BUILTIN_THEMES))
    raise ThemeError(f"no theme {spec!r}: give a theme file path or one of: {choices}")
