"""Human formatting of numbers for the UI and the CLI (plain strings, no markup)."""

from __future__ import annotations

import time

NA = "N/A"

_BYTE_UNITS = ("B", "K", "M", "G", "T", "P")


def bytes_(value: float | None, na: str = NA) -> str:
    """1536 -> '1.5K'; binary units, at most 4 significant characters."""
    if value is None:
        return na
    v = float(value)
    sign = "-" if v < 0 else ""
    v = abs(v)
    for unit in _BYTE_UNITS:
        if v < 1024 or unit == _BYTE_UNITS[-1]:
            if unit == "B":
                return f"{sign}{int(v)}B"
            return f"{sign}{v:.1f}{unit}" if v < 100 else f"{sign}{v:.0f}{unit}"
        v /= 1024
    return na  # pragma: no cover


def rate(value: float | None, na: str = NA) -> str:
    """Bytes per second: '12.3M/s'."""
    return na if value is None else bytes_(value) + "/s"


def pct(value: float | None, na: str = NA, digits: int = 0) -> str:
    if value is None:
        return na
    return f"{value:.{digits}f}%"


def num(value: float | None, unit: str = "", na: str = NA, digits: int = 0) -> str:
    if value is None:
        return na
    return f"{value:.{digits}f}{unit}"


def compact(value: float, digits: int = 3) -> str:
    """A plain number in at most about `digits` significant figures, never in exponent form:
    12 -> '12', 0.25 -> '0.25', 12345 -> '12.3k', 51790000 -> '51.8M'."""
    v = float(value)
    if v != v or v in (float("inf"), float("-inf")):
        return NA
    sign = "-" if v < 0 else ""
    v = abs(v)
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= limit:
            return sign + _figures(v / limit, digits) + suffix
    if v == int(v):
        return sign + str(int(v))
    if v < 0.001:
        return "0" if v == 0 else f"{sign}{v:.1e}" if v < 1e-6 else f"{sign}{v:.6f}".rstrip("0")
    return sign + _figures(v, digits)


def _figures(v: float, digits: int) -> str:
    """`v` (0 < v < 1000) with `digits` significant figures, trailing zeros dropped."""
    places = max(0, digits - len(str(int(v))))
    if v < 1:
        places = digits  # 0.123
    text = f"{v:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def seconds(value: float) -> str:
    """A short time span as a latency reads: 850us, 250ms, 2.5s, 1m30s."""
    v = abs(float(value))
    if v < 0.001:
        return f"{value * 1e6:.0f}us"
    if v < 1:
        return f"{value * 1000:.3g}ms"
    if v < 60:
        return f"{value:.3g}s"
    return duration(value)


def in_unit(value: float | None, unit: str, na: str = NA) -> str:
    """A metric's value in its unit (``metrics.Metric.unit``): 'pct' 97.0%, 'bytes' 49.4M,
    'bytes/s' 5.2M/s, 's' 250ms, 'ms' 12.5ms, 'w' 350W, 'c' 81°C, 'mhz' 1410MHz, '1/s' 12.3k/s,
    'count' and unitless 51.8M; a rate of change ('UNIT/min') as '+1.5%/min'. Never in
    exponent form."""
    if value is None or value != value:
        return na
    if unit.endswith("/min"):
        text = in_unit(value, unit[:-4], na)
        return f"{'+' if value > 0 else ''}{text}/min"
    if unit == "pct":
        return f"{value:.1f}%"
    if unit == "bytes":
        return bytes_(value)
    if unit == "bytes/s":
        return rate(value)
    if unit == "s":
        return seconds(value)
    if unit == "ms":
        return seconds(value / 1000)
    if unit == "w":
        return compact(value) + "W"
    if unit == "c":
        return f"{value:.0f}°C"
    if unit == "mhz":
        return f"{value:.0f}MHz"
    if unit == "1/s":
        return compact(value) + "/s"
    return compact(value)


def clock_time(t: float | None) -> str:
    """Unix time -> local 'HH:MM:SS' ('-' when unknown)."""
    return "-" if t is None else time.strftime("%H:%M:%S", time.localtime(t))


def duration(seconds: float | None, na: str = NA) -> str:
    """Compact elapsed time: '42s', '3m05s', '2h04m', '3d02h'."""
    if seconds is None:
        return na
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def parse_duration(text: str) -> float:
    """'90s', '3m', '1h30m', '500ms', '10' (seconds) -> seconds; ValueError with the reason."""
    t = text.strip().lower()
    if not t:
        raise ValueError("empty duration")
    try:
        return float(t)
    except ValueError:
        pass
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    total = 0.0
    num_buf = ""
    i = 0
    matched = False
    while i < len(t):
        ch = t[i]
        if ch.isdigit() or ch == ".":
            num_buf += ch
            i += 1
            continue
        unit = "ms" if t.startswith("ms", i) else ch
        if unit not in units or not num_buf:
            raise ValueError(f"bad duration {text!r}: use forms like 30s, 5m, 1h30m")
        try:
            total += float(num_buf) * units[unit]
        except ValueError:
            raise ValueError(f"bad duration {text!r}") from None
        num_buf = ""
        matched = True
        i += len(unit)
    if num_buf or not matched:
        raise ValueError(f"bad duration {text!r}: a number needs a unit (s, m, h, d, ms)")
    return total


def bar(fraction: float | None, width: int) -> str:
    """A plain text bar of `width` cells using eighth blocks; empty for None."""
    if width <= 0:
        return ""
    if fraction is None:
        return " " * width
    f = min(1.0, max(0.0, fraction))
    eighths = round(f * width * 8)
    full, rem = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[rem] if rem and full < width else ""
    return ("█" * full + partial).ljust(width)
