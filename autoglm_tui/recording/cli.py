"""Command-line options for recording, shared by the local and cluster views, `snapshot` and
`record`: ``add_record_args(parser)`` and ``install_recording(args, monitor, ...)``."""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autoglm_tui.monitor import Monitor

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class RecordingSetupError(Exception):
    """Recording cannot start as asked; the message says why."""


def parse_size(text: str) -> int:
    """'500M', '2G', '100000' -> bytes (binary units)."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: use forms like 500M or 2G")
    value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if value < 64 << 10:
        raise argparse.ArgumentTypeError("sizes below 64K make no useful recording")
    return value


def _minutes(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes") from None
    if not 0 <= v <= 24 * 60:
        raise argparse.ArgumentTypeError("must be 0..1440 minutes")
    return v


def add_record_args(parser: argparse.ArgumentParser, *, flight: bool = True,
                    record_required: bool = False) -> None:
    g = parser.add_argument_group(
        "recording", "Recordings are JSON lines (docs/recording.md); .gz and .zst compress "
        "(.zst needs the zstandard package). Replay with 'autoglm-tui replay FILE'.")
    if not record_required:
        g.add_argument("--record", metavar="FILE",
                       help="record every sample and status change to FILE (.jsonl, .jsonl.gz "
                       "or .jsonl.zst); written by a background thread")
    g.add_argument("--record-max-size", type=parse_size, metavar="SIZE",
                   help="rotate the recording when it reaches SIZE (e.g. 500M): FILE -> "
                   "FILE.1 ...; each file replays on its own")
    g.add_argument("--record-keep", type=int, default=3, metavar="N",
                   help="rotated files to keep (default 3)")
    if not flight:
        return
    f = parser.add_argument_group(
        "flight recorder", "The last minutes of data are always kept in memory; when an alert "
        "fires they are written to a file (named in the alert log) with the minutes after.")
    f.add_argument("--flight-minutes", type=_minutes, default=10.0, metavar="M",
                   help="minutes kept in memory (default 10; 0 turns the flight recorder off)")
    f.add_argument("--flight-after", type=_minutes, default=2.0, metavar="M",
                   help="minutes recorded after the alert fired (default 2)")
    f.add_argument("--flight-dir", metavar="DIR",
                   help="where flight recordings go (default ~/.local/state/autoglm-tui/flight)")
    f.add_argument("--flight-max-mb", type=float, default=128.0, metavar="MB",
                   help="memory the flight recorder may use; beyond it the oldest minutes go "
                   "(default 128; 10 minutes of 256 nodes on the compact wire take 45-80)")


def install_recording(args: argparse.Namespace, monitor: Monitor, *, source: str,
                      demo: bool = False, clock: Callable[[], float] = time.time) -> list[str]:
    """Install the recorder and the flight recorder that `args` ask for; what was installed,
    in words. A demo or synthetic run gets no flight recorder unless --flight-dir is given."""
    from autoglm_tui.recording.format import RecordingError

    done: list[str] = []
    path = getattr(args, "record", None)
    if path:
        from autoglm_tui.recording.recorder import Recorder

        try:
            Recorder(path, source=source, max_bytes=getattr(args, "record_max_size", None),
                     backups=max(0, getattr(args, "record_keep", 3)), clock=clock
                     ).install(monitor)
        except (OSError, RecordingError) as exc:
            raise RecordingSetupError(f"--record {path}: {exc}") from None
        done.append(f"recording to {path}")
    minutes = getattr(args, "flight_minutes", 0.0) or 0.0
    flight_dir = getattr(args, "flight_dir", None)
    if minutes > 0 and (flight_dir or not demo):
        from autoglm_tui import paths
        from autoglm_tui.recording.flight import FlightRecorder

        directory = Path(flight_dir) if flight_dir else paths.flight_dir()
        FlightRecorder(directory, window_s=minutes * 60.0,
                       after_s=getattr(args, "flight_after", 2.0) * 60.0,
                       max_memory_bytes=int(getattr(args, "flight_max_mb", 128.0) * (1 << 20)),
                       clock=clock).install(monitor)
        done.append(f"flight recorder: last {minutes:g} min, files in {directory}")
    return done


def install_monitor_extras(args: argparse.Namespace, monitor: Monitor, *, source: str,
                           demo: bool = False) -> list[str]:
    """What a live view adds to its monitor after the alert pipeline: the diagnosis (unless
    --no-diagnosis), the recorder and the flight recorder; RecordingSetupError for a file
    that cannot be written."""
    done = []
    if not getattr(args, "no_diagnosis", False):
        from autoglm_tui.analysis.diagnosis import DiagnosisRunner

        DiagnosisRunner().install(monitor)
        done.append("diagnosis")
    return done + install_recording(args, monitor, source=source, demo=demo)
