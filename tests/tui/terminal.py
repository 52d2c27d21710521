"""What the terminal shows, read through Textual's public screenshot API (no private state).

``App.export_screenshot()`` renders the screen as a Rich SVG: one ``<text>`` per run of cells
with one style (its class names a fill colour and a weight) and one ``<rect>`` per background.
:func:`read_screen` turns that back into a grid of cells (character, colour, bold, background),
which tests read as text (:func:`screen_text`) or as styles (:func:`style_of`), and snapshots
store as text plus style runs (:func:`snapshot_text`). Class names and ids carry a hash that
changes with any content; they are never compared.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from textual.app import App

CHAR_W = 12.2  # Rich's SVG: 0.61 x the 20 px font
LINE_H = 24.4  # 1.22 x the font
TOP = 1.5  # first line's clip box starts here

_CLASS = re.compile(r"\.(terminal-\d+-r\d+) \{ ([^}]*) \}")
_TEXT = re.compile(
    r'<text class="(terminal-\d+-r\d+)" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
    r'clip-path="url\(#terminal-\d+-line-(\d+)\)">([^<]*)</text>'
)
_RECT = re.compile(
    r'<rect fill="(#[0-9a-fA-F]+)" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" '
    r'height="[\d.]+" shape-rendering="crispEdges"/>'
)
_SIZE = re.compile(r'<svg class="rich-terminal" viewBox="0 0 [\d.]+ [\d.]+"')


@dataclass(frozen=True, slots=True)
class Cell:
    char: str = " "
    fg: str = ""
    bold: bool = False
    bg: str = ""

    def look(self) -> str:
        out = self.fg or "default"
        if self.bold:
            out += " bold"
        if self.bg:
            out += f" on {self.bg}"
        return out


class Screen:
    """A grid of cells, one list per terminal line."""

    def __init__(self, lines: list[list[Cell]]) -> None:
        self.lines = lines

    @property
    def text(self) -> str:
        return "\n".join("".join(c.char for c in line).rstrip() for line in self.lines)

    def find(self, needle: str, line_with: str = "") -> tuple[int, int]:
        """(line, column) of the first `needle` on a line that also holds `line_with`;
        AssertionError if there is none."""
        for y, line in enumerate(self.lines):
            text = "".join(c.char for c in line)
            x = text.find(needle)
            if x >= 0 and line_with in text:
                return y, x
        raise AssertionError(f"{needle!r} is not on the screen:\n{self.text}")


def read_screen(svg: str, width: int, height: int) -> Screen:
    """The cells of a Rich terminal SVG of `width` x `height` cells."""
    styles: dict[str, tuple[str, bool]] = {}
    for name, body in _CLASS.findall(svg):
        fill = re.search(r"fill: (#[0-9a-fA-F]+)", body)
        styles[name] = (fill.group(1).lower() if fill else "", "font-weight: bold" in body)
    grid = [[Cell() for _ in range(width)] for _ in range(height)]
    for fill, x, y, w in _RECT.findall(svg):
        line = round((float(y) - TOP) / LINE_H)
        col, n = round(float(x) / CHAR_W), round(float(w) / CHAR_W)
        if 0 <= line < height:
            for c in range(col, min(width, col + n)):
                grid[line][c] = Cell(bg=fill.lower())
    for name, x, line_no, body in _TEXT.findall(svg):
        line = int(line_no)
        if not 0 <= line < height:
            continue
        fg, bold = styles.get(name, ("", False))
        col = round(float(x) / CHAR_W)
        for i, ch in enumerate(html.unescape(body).replace("\xa0", " ")):
            if 0 <= col + i < width:
                grid[line][col + i] = Cell(ch, fg, bold, grid[line][col + i].bg)
    return Screen(grid)


def capture(app: App[object]) -> Screen:
    """The app's screen as the terminal shows it now."""
    width, height = app.size
    return read_screen(app.export_screenshot(), width, height)


def screen_text(app: App[object]) -> str:
    """The characters on the terminal, line by line, as a person would read them."""
    return capture(app).text


def style_of(app: App[object], needle: str) -> Cell:
    """The look of the first character of `needle` where it shows on the screen."""
    screen = capture(app)
    y, x = screen.find(needle)
    return screen.lines[y][x]


def snapshot_text(screen: Screen, title: str) -> str:
    """A snapshot file: the screen's text, then each line's style runs (column ranges)."""
    out = [f"# {title}", "# text"]
    out.extend(f"{y:3d}|{''.join(c.char for c in line)}|" for y, line in enumerate(screen.lines))
    out.append("# styles: line: first-last column look (blank cells without a background skipped)")
    for y, line in enumerate(screen.lines):
        keys = [None if c.char == " " and not c.bg else c.look() for c in line]
        runs: list[str] = []
        start = 0
        for x in range(1, len(keys) + 1):
            if x == len(keys) or keys[x] != keys[start]:
                if keys[start] is not None:
                    runs.append(f"{start}-{x - 1} {keys[start]}")
                start = x
        out.append(f"{y:3d}: " + ", ".join(runs))
    return "\n".join(out) + "\n"
