"""Base class of the panes that draw one node's state as lines of text."""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.tui.render import Palette, lines


class NodePane(Widget):
    """A bordered pane; subclasses implement `build(width)` -> one Text per line."""

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = title
        self.node: NodeState | None = None
        self.now = 0.0
        self.compact = False
        self._stamp = 0
        self._cache: tuple[tuple[int, int, int, str], list[Text]] | None = None

    def show(self, node: NodeState | None, now: float, compact: bool | None = None) -> None:
        """Draw `node` as of `now` on the next refresh."""
        self.node = node
        self.now = now
        if compact is not None:
            self.compact = compact
        self._stamp += 1
        self.refresh(layout=True)

    @property
    def palette(self) -> Palette:
        return Palette.from_variables(self.app.theme_variables)

    def build(self, width: int) -> list[Text]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _lines(self, width: int) -> list[Text]:
        key = (width, self.content_size.height, self._stamp, self.app.theme)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.build(width) if width > 0 else [])
        return self._cache[1]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self._lines(width)))

    def render(self) -> Text:
        return lines(self._lines(self.content_size.width))
