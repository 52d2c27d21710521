"""Theme files: the shipped ones load, bad ones are refused with a reason, --theme resolves."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoglm_tui.tui.themes import THEME_DIR, ThemeError, parse_theme, resolve_theme, shipped_themes

from .helpers import make_app, settle

REPO = Path(__file__).resolve().parents[2]


def test_dark_and_light_ship_with_the_package() -> None:
    assert {"dark", "light"} <= set(shipped_themes())
    assert resolve_theme("dark").dark is True
    assert resolve_theme("light").dark is False
    assert (REPO / "themes" / "dark.toml").resolve() == (THEME_DIR / "dark.toml").resolve()


def test_a_theme_file_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'primary = "#123456"\nbackground = "#000000"\n[variables]\nbar-low = "#00ff00"\n'
    )
    theme = resolve_theme(str(path))
    assert theme.name == "mine" and theme.primary == "#123456"
    assert theme.variables == {"bar-low": "#00ff00"}


def test_textual_builtin_names_work() -> None:
    assert resolve_theme("nord").name == "nord"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"background": "#000000"}, "'primary' is required"),
        ({"primary": "not-a-colour"}, "is not a colour"),
        ({"primary": "#000000", "colour": "#fff"}, "unknown key"),
        ({"primary": "#000000", "dark": "yes"}, "'dark' must be a bool"),
        ({"primary": "#000000", "variables": {"x": 1}}, "must be a string"),
    ],
)
def test_bad_themes_are_refused_with_a_reason(data: dict, error: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ThemeError, match=error):
        parse_theme(data, "x")


def test_unknown_theme_lists_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ThemeError, match="dark, light"):
        resolve_theme("no-such-theme")
    broken = tmp_path / "broken.toml"
    broken.write_text("primary = \n")
    with pytest.raises(ThemeError, match="not valid TOML"):
        resolve_theme(str(broken))


async def test_light_theme_is_applied() -> None:
    app = make_app(theme="light")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.theme == "light"
        assert app.current_theme.background == resolve_theme("light").background
