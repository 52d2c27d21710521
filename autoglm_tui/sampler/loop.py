"""The sampler's tick loop: hello, then one sample per interval, one JSON line each, flushed.

Standard library only, so it also runs as ``python3 -m autoglm_tui.sampler.loop`` from a zip
pushed to a node that has nothing but python3. It stops, with exit status 0, on SIGTERM or
SIGINT, when stdout's reader goes away (broken pipe), and on end-of-file on stdin when stdin
is a pipe or socket: that is how an SSH session stops it, since a root-owned remote process
ignores SSH signals. A tty or /dev/null on stdin is not watched.

While it runs, stdin also carries control lines (sampler/control.py): a monitor may ask for
another interval, a full sample, or compact delta samples (wire_delta.py). A new interval
takes effect at once: the next sample comes one new interval after the previous one.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import os
import select
import signal
import stat
import sys
import textwrap
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from autoglm_tui.stdio import silence_stdout

if TYPE_CHECKING:
    from autoglm_tui.sampler.services.monitor import ServiceMonitor

FULL_EVERY_S = 60.0  # wire_delta.FULL_EVERY_S (not imported here: --help stays cheap)

DESCRIPTION = textwrap.fill(
    "Print this machine's metrics as JSON lines on stdout: one 'hello' line (host, CPUs, "
    "memory, GPUs, NVML status), then one 'sample' line per interval (CPU, memory, disk and "
    "network counters, GPUs, the top processes and every GPU process, the inference servers "
    "found on the node (vLLM, SGLang, TGI, Triton, TensorRT-LLM, NIM, llama.cpp: scraped "
    "every 5 s in the background), the sampler's own cost). "
    "Each sample covers the interval before it; the first comes one interval after the hello. "
    "Stops on SIGTERM/SIGINT, when the reader closes the pipe, or on end of input when stdin "
    "is a pipe or socket (as under SSH). Control lines on stdin (JSON, one per line) change "
    'the interval ({"type":"control","interval":5}), ask for a full sample '
    '({"type":"control","full":true}), switch compact samples on '
    '({"type":"control","delta":true}) or name the services the node registered '
    '({"type":"control","services":[{"url":...,"name":...}]}: scraped only when the URL\'s '
    "host is this node); see docs/wire.md.",
    78,
)

EPILOG = """environment:
  AUTOGLM_NVML_MODULE  import this module (or .py file) instead of pynvml, e.g. a fake NVML
  AUTOGLM_COLLECTOR    psutil or procfs, as --collector

examples:
  autoglm-tui sample --once | head -2
  autoglm-tui sample --once --service 8000,name=chat | tail -1   # one inference server
"""


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0 or value != value:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {text}")
    return value


def _top(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sampler's options (shared by `autoglm-tui sample` and `python -m ...loop`)."""
    parser.add_argument(
        "--interval",
        type=_positive,
        default=1.0,
        metavar="S",
        help="seconds between samples (default: 1)",
    )
    parser.add_argument(
        "--count",
        type=_count,
        default=None,
        metavar="N",
        help="stop after N samples (default: run until stopped)",
    )
    parser.add_argument(
        "--once", action="store_true", help="print the hello line and one sample, then exit"
    )
    parser.add_argument(
        "--proc-interval",
        type=_positive,
        default=2.0,
        metavar="S",
        help="seconds between full process scans; in between only the listed processes are "
        "read again (default: 2)",
    )
    parser.add_argument(
        "--top",
        type=_top,
        default=25,
        metavar="N",
        help="list the N processes using the most CPU, besides every GPU process (default: 25)",
    )
    parser.add_argument(
        "--collector",
        choices=("auto", "psutil", "procfs"),
        default="auto",
        help="how host figures are read: psutil, /proc directly (Linux, standard library "
        "only), or auto: psutil when it is installed (default: auto)",
    )
    parser.add_argument(
        "--delta",
        action="store_true",
        help="compact samples: only what changed since the previous one, with a full sample "
        "every --full-every seconds (default: full samples, unless a control line asks)",
    )
    parser.add_argument(
        "--full-every",
        type=_positive,
        default=FULL_EVERY_S,
        metavar="S",
        help=f"with compact samples, a full one at least every S seconds so a reader can join "
        f"(default: {FULL_EVERY_S:g})",
    )
    parser.add_argument(
        "--health-interval",
        type=_positive,
        default=10.0,
        metavar="S",
        help="seconds between reads of the slow GPU health fields: PCIe link, replay counter, "
        "row remapping, retired pages, NVLink errors (default: 10)",
    )
    parser.add_argument(
        "--no-adaptive",
        dest="adaptive",
        action="store_false",
        help="do not slow the process scan and GPU health reads when the node's CPU is "
        "saturated (by default they run 4x less often while it is)",
    )
    from autoglm_tui.sampler.services.options import add_arguments as add_service_arguments

    add_service_arguments(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m autoglm_tui.sampler.loop",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


class Stopper:
    """Cancellable sleep: wakes on SIGTERM/SIGINT and on end of input on a watched stdin.

    Input on stdin goes to `on_input` (the control lines); ``sleep`` returns early after it
    when ``wake_on_input`` is set, so the loop can act on a new interval at once."""

    def __init__(self, stdin_fd: int | None = 0,
                 on_input: Callable[[bytes], None] | None = None) -> None:
        self.stopped = False
        self.reason = ""
        self.on_input = on_input
        self.wake_on_input = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._stdin = stdin_fd if stdin_fd is not None and _is_pipe(stdin_fd) else None
        self._old: dict[int, object] = {}

    def install(self) -> None:
        """Handle SIGTERM/SIGINT (main thread only)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._old[sig] = signal.signal(sig, self._on_signal)
        if hasattr(signal, "SIGHUP"):
            self._old[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_signal)

    def restore(self) -> None:
        for sig, old in self._old.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, old)  # type: ignore[arg-type]
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop(f"signal {signum}")

    def stop(self, reason: str) -> None:
        if not self.stopped:
            self.stopped, self.reason = True, reason
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def sleep(self, seconds: float) -> bool:
        """Sleep up to `seconds`; False when it is time to stop."""
        deadline = time.monotonic() + max(0.0, seconds)
        while not self.stopped:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            fds = [self._wake_r] if self._stdin is None else [self._wake_r, self._stdin]
            try:
                ready, _, _ = select.select(fds, [], [], left)
            except (OSError, ValueError):
                time.sleep(min(left, 0.1))
                continue
            if self._stdin is not None and self._stdin in ready:
                self._read_stdin()
                if self.wake_on_input and not self.stopped:
                    self.wake_on_input = False
                    return True
            if self._wake_r in ready:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 64)
        return not self.stopped

    def _read_stdin(self) -> None:
        assert self._stdin is not None
        try:
            data = os.read(self._stdin, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # end of input: whoever started us has gone
            self._stdin = None
            self.stop("end of input")
        elif self.on_input is not None:
            self.on_input(data)


def _is_pipe(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _write(out: BinaryIO, line: str) -> None:
    out.write(line.encode("utf-8", "replace") + b"\n")
    out.flush()


def run(
    interval_s: float = 1.0,
    count: int | None = None,
    proc_interval_s: float = 2.0,
    top_n: int = 25,
    collector: str | None = None,
    out: BinaryIO | None = None,
    stopper: Stopper | None = None,
    delta: bool = False,
    full_every_s: float = FULL_EVERY_S,
    health_interval_s: float = 10.0,
    adaptive: bool = True,
    services: ServiceMonitor | None = None,
) -> int:
    """Run the loop until `count` samples are written or it is told to stop; the exit status."""
    from autoglm_tui.sampler.collector import Collector
    from autoglm_tui.sampler.control import Controls
    from autoglm_tui.wire import encode
    from autoglm_tui.wire_delta import DeltaEncoder

    to_stdout = out is None
    out = out if out is not None else sys.stdout.buffer
    own_stopper = stopper is None
    stopper = stopper if stopper is not None else Stopper(0)
    controls = Controls(interval_s, delta=delta)
    stopper.on_input = controls.feed
    if own_stopper:
        stopper.install()
    coll = None
    try:
        coll = Collector(
            interval_s=interval_s,
            proc_interval_s=proc_interval_s,
            top_n=top_n,
            collector=None if collector in (None, "auto") else collector,
            adaptive=adaptive,
            health_interval_s=health_interval_s,
            services=services,
        )
        encoder = DeltaEncoder(full_every_s)
        _write(out, encode(coll.hello(time.time())))
        # Everything made so far lives as long as the process: keep it out of GC passes.
        gc.collect()
        gc.freeze()
        step = interval_s
        last = time.monotonic()  # when the previous sample (or the hello) was taken
        due = last + step
        written = 0
        while count is None or written < count:
            stopper.wake_on_input = True
            if not stopper.sleep(due - time.monotonic()):
                break
            if controls.changed:  # a new interval: one new interval after the last sample
                controls.changed = False
                step = controls.interval_s
                coll.set_interval(step, requested=controls.requested_interval_s is not None)
                due = last + step
            registered = controls.take_services()
            if registered is not None:  # the node's registration named its services
                if coll.services is not None:
                    coll.services.set_registered(*registered)
                else:
                    controls.note("control services: this sampler does not scrape inference "
                                  "servers")
            now = time.monotonic()
            if now < due:
                continue  # woken by a control line before the sample is due
            sample = coll.sample(time.time())
            notes = controls.take_notes()
            if notes:
                sample = dataclasses.replace(sample, errors=(*sample.errors, *notes))
            if controls.take_full():
                encoder.reset()
            _write(out, encoder.encode(sample, delta=controls.delta))
            written += 1
            last = now
            # Next due time in the future; ticks that were missed are skipped, not bunched.
            due += step
            if due <= time.monotonic():
                due += step * (int((time.monotonic() - due) / step) + 1)
        return 0
    except BrokenPipeError:
        if to_stdout:
            silence_stdout()
        return 0
    finally:
        if coll is not None:
            coll.close()
        if own_stopper:
            stopper.restore()


def run_args(args: argparse.Namespace) -> int:
    """Run with parsed options (from :func:`add_arguments`)."""
    from autoglm_tui.sampler.services.monitor import monitor_options

    return run(
        interval_s=args.interval,
        count=1 if args.once else args.count,
        proc_interval_s=args.proc_interval,
        top_n=args.top,
        collector=args.collector,
        delta=args.delta,
        full_every_s=args.full_every,
        health_interval_s=args.health_interval,
        adaptive=args.adaptive,
        **monitor_options(args),
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python3 -m autoglm_tui.sampler.loop`` (push mode, zip or not)."""
    args = build_parser().parse_args(argv)
    try:
        return run_args(args)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
