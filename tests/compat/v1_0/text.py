"""Sanitising untrusted strings: every string from a node, process, etcd or the network."""

from __future__ import annotations

import re

# C0 controls except nothing, DEL, and C1 controls. Tabs and newlines are replaced too:
# a table cell or a label must stay on one line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Unicode bidi overrides and zero-width joiners can reorder what a user reads.
_BIDI = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def clean(value: object, max_len: int = 4096) -> str:
    """Return `value` as a printable one-line string: control and bidi characters become spaces
    or vanish, and it is cut to `max_len` characters (with an ellipsis)."""
    text = value if isinstance(value, str) else str(value)
    text = _CONTROL.sub(" ", text)
    text = _BIDI.sub("", text)
    if len(text) > max_len:
        text = text[: max(0, max_len - 1)] + "…"
    return text


def has_control(value: str) -> bool:
    """True when `value` holds a character that `clean` would change."""
    return bool(_CONTROL.search(value) or _BIDI.search(value))
