"""Numbers in words for verdicts and evidence (plain strings)."""

from __future__ import annotations

from autoglm_tui.analysis.diagnosis.model import Evidence
from autoglm_tui.format import bytes_, duration


def window_words(seconds: float) -> str:
    """'2 min', '15 min', '45 s'."""
    if seconds >= 90:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def pct_ev(label: str, value: float, what: str = "mean", seconds: float | None = None
           ) -> Evidence:
    tail = f" ({what} of {window_words(seconds)})" if seconds is not None else ""
    return Evidence(label, value, "pct", f"{label} {value:.0f}%{tail}")


def share_ev(label: str, share: float, seconds: float) -> Evidence:
    return Evidence(label, 100.0 * share, "pct",
                    f"{label} {100.0 * share:.0f}% of the last {window_words(seconds)}")


def bytes_ev(label: str, value: float, suffix: str = "") -> Evidence:
    return Evidence(label, value, "bytes", f"{label} {bytes_(value)}{suffix}")


def rate_ev(label: str, value: float) -> Evidence:
    return Evidence(label, value, "bytes/s", f"{label} {bytes_(value)}/s")


def ms_ev(label: str, value: float, what: str = "mean", seconds: float | None = None
          ) -> Evidence:
    tail = f" ({what} of {window_words(seconds)})" if seconds is not None else ""
    return Evidence(label, value, "ms", f"{label} {value:.0f} ms{tail}")


def eta_words(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds <= 0:
        return "now"
    return duration(seconds)


def latency_words(seconds: float) -> str:
    """A latency delta: '+18 ms', '-1.2 s'."""
    return ("+" if seconds >= 0 else "-") + seconds_words(abs(seconds))


def seconds_words(seconds: float) -> str:
    """A latency: '18 ms', '0.8 ms', '1.20 s'."""
    if seconds < 1.0:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.001 else f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"
