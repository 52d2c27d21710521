"""Focus that moves before the next key is read.

``Widget.focus()`` defers the move to a later turn of the event loop, after any keys already
waiting; a user who types ``:node`` or ``/zone=a`` quickly (or a terminal that sends the keys
in one burst) would have the first letters go to the table instead of the box that just
opened. ``focus_now`` moves the focus at once.
"""

from __future__ import annotations

from textual.widget import Widget


def focus_now(widget: Widget) -> None:
    """Give `widget` the focus before the next event is handled."""
    widget.screen.set_focus(widget)
