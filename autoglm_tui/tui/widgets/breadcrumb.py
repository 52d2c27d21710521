"""Where the user is: `cluster › node-07 › GPU 3 › pid 4121`, built from the screen stack.

Each screen the navigator opened carries its place (an intent, tui/intents.py), which names its
part of the path; a place reached by a jump names its node too (`alerts › node-07 GPU 3`).
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from autoglm_tui.tui.intents import Intent, trail
from autoglm_tui.tui.render import Palette

SEPARATOR = " › "


def render_trail(parts: list[str], width: int, muted: str = "grey58", accent: str = "bold") -> Text:
    """The path as one line; when too wide, the oldest parts give way to an ellipsis."""
    out = Text(no_wrap=True, overflow="ellipsis")
    if not parts:
        return out
    shown = list(parts)
    total = len(SEPARATOR.join(shown))
    dropped = False
    while len(shown) > 1 and width > 0 and total + (2 if dropped else 0) > width:
        shown.pop(0)
        dropped = True
        total = len(SEPARATOR.join(shown)) + len(SEPARATOR)
    if dropped:
        out.append("…", style=muted)
        out.append(SEPARATOR, style=muted)
    for i, part in enumerate(shown):
        if i:
            out.append(SEPARATOR, style=muted)
        out.append(part, style=accent if i == len(shown) - 1 else "")
    return out


class Breadcrumb(Widget):
    """One line naming every place from the root down to this screen's."""

    def render(self) -> Text:
        stack = list(self.app.screen_stack)
        if self.screen in stack:  # only the screens up to this one (not a dialog above it)
            stack = stack[: stack.index(self.screen) + 1]
        places: list[Intent] = [p for s in stack if (p := getattr(s, "place", None)) is not None]
        muted = Palette.from_variables(self.app.theme_variables).muted
        return render_trail(trail(places), self.content_size.width, muted=muted)
