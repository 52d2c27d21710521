"""Plain text: sanitising untrusted strings (every string from a node, process, etcd or the
network) and wrapping it under a hanging indent."""

from __future__ import annotations

import re
import textwrap

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


# A number and its unit stay on one line when text is wrapped ("26 s", "4 min", "3 replicas").
_NUMBER_UNIT = re.compile(r"(?<=\d) (?=(?:s|ms|min|h|d|%|[KMGT]i?B|W|MHz|GPUs?|nodes?|replicas)"
                          r"(?![\w]))")
_GLUE = "\x00"


def wrap_hanging(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    """`text` wrapped to `width` columns: the first line after `first`, the others after
    `rest` (a list item's hanging indent); words are never broken (a longer one overflows) and
    a number keeps its unit."""
    glued = _NUMBER_UNIT.sub(_GLUE, text)
    lines = textwrap.wrap(glued, max(1, width), initial_indent=first, subsequent_indent=rest,
                          break_long_words=False, break_on_hyphens=False)
    return [line.replace(_GLUE, " ") for line in lines] or [first.rstrip()]
