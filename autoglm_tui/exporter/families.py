"""The newest sample as Prometheus metric families (prometheus_client's custom-collector types).

``sample_families(hello, sample, node)`` is a pure function of one hello and one sample: it
makes no registry entries and keeps no metric objects between samples. Label values are
cleaned (control and bidi characters removed) and capped in length; prometheus_client escapes
quotes, backslashes and newlines when it writes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from autoglm_tui.exporter import names as n
from autoglm_tui.model import Hello, Sample
from autoglm_tui.text import clean

LABEL_MAX = 128
COMMAND_MAX = 256


def label(value: object, max_len: int = LABEL_MAX) -> str:
    """A label value from untrusted text: one printable line, at most `max_len` characters."""
    return clean("" if value is None else value, max_len).strip()


def _family(field: n.Field, labels: Iterable[str]) -> Metric:
    if field.kind == "counter":
        return CounterMetricFamily(field.name, field.help, labels=list(labels))
    return GaugeMetricFamily(field.name, field.help, labels=list(labels))


def _add(fam: Metric, labels: list[str], value: float | int | None, scale: float) -> None:
    if value is None:
        return  # not reported: no series, never 0
    fam.add_metric(labels, float(value) * scale)


def _gauge(name: str, help: str, labels: Iterable[str] = ("node",)) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help, labels=list(labels))


def sample_families(hello: Hello | None, sample: Sample | None, node: str) -> list[Metric]:
    """Every family for one node; empty parts (no GPU, no sample yet) are left out."""
    node = label(node)
    out: list[Metric] = []
    if hello is not None:
        out.extend(_static_families(hello, node))
    if sample is None:
        return [fam for fam in out if fam.samples]
    out.extend(_host_families(sample, node))
    out.extend(_gpu_families(hello, sample, node))
    out.extend(_proc_families(sample, node))
    return [fam for fam in out if fam.samples]


def _static_families(hello: Hello, node: str) -> Iterator[Metric]:
    st = hello.static
    info = _gauge(n.NODE_INFO, "Facts about the node; always 1.", (
        "node", "hostname", "os", "kernel", "cpu_model", "sampler_version", "collector",
        "driver_version", "nvml_version",
    ))
    info.add_metric([
        node, label(st.hostname), label(st.os), label(st.kernel), label(st.cpu_model),
        label(hello.sampler_version), label(st.collector), label(st.nvml.driver_version),
        label(st.nvml.nvml_version),
    ], 1.0)
    yield info
    nvml = _gauge(n.NVML_AVAILABLE, "1 when NVML could be used; 0 with the reason as a label.",
                  ("node", "reason"))
    nvml.add_metric([node, label(st.nvml.reason)], 1.0 if st.nvml.available else 0.0)
    yield nvml
    if st.cpu_cores_logical is not None:
        cores = _gauge(n.CPU_CORES, "Logical CPU cores.")
        cores.add_metric([node], float(st.cpu_cores_logical))
        yield cores
    interval = _gauge(n.SAMPLE_INTERVAL, "Seconds between samples.")
    interval.add_metric([node], float(st.interval_s))
    yield interval
    if st.boot_time is not None:
        boot = _gauge(n.BOOT_TIME, "Boot time (unix seconds).")
        boot.add_metric([node], float(st.boot_time))
        yield boot


def _host_families(s: Sample, node: str) -> Iterator[Metric]:
    at = _gauge(n.SAMPLE_TIME, "When the newest sample was taken (unix seconds, node clock).")
    at.add_metric([node], s.t)
    yield at
    errors = _gauge(n.SAMPLER_ERRORS, "Errors the sampler reported in the newest sample.")
    errors.add_metric([node], float(len(s.errors)))
    yield errors
    for field in n.CPU:
        fam = _family(field, ("node",))
        _add(fam, [node], getattr(s.cpu, field.attr), field.scale)
        yield fam
    if s.cpu.per_core_pct:
        core = _gauge(n.CORE_UTIL, "Share of one core's time busy.", ("node", "core"))
        for i, pct in enumerate(s.cpu.per_core_pct):
            core.add_metric([node, str(i)], pct * 0.01)
        yield core
    if s.cpu.load is not None:
        for field, value in zip(n.LOAD, s.cpu.load, strict=False):
            fam = _family(field, ("node",))
            _add(fam, [node], value, 1.0)
            yield fam
    for fields, part in ((n.MEM, s.mem), (n.DISK, s.disk), (n.NET, s.net)):
        for field in fields:
            fam = _family(field, ("node",))
            _add(fam, [node], getattr(part, field.attr), field.scale)
            yield fam
    if s.self_cost is not None:
        for field in n.SELF:
            fam = _family(field, ("node",))
            _add(fam, [node], getattr(s.self_cost, field.attr), field.scale)
            yield fam


def _gpu_families(hello: Hello | None, s: Sample, node: str) -> Iterator[Metric]:
    if not s.gpus:
        return
    static = {g.index: g for g in hello.static.gpus} if hello is not None else {}
    info = _gauge(n.GPU_INFO, "Facts about a GPU; always 1.", (*n.GPU_LABELS, "pci_bus_id"))
    state = _gauge(n.GPU_STATE, "1 for the GPU's state (ok, lost or error), 0 for the others.",
                   (*n.GPU_LABELS, "state"))
    fields = (*n.GPU, *n.GPU_HEALTH)
    fams = [_family(f, n.GPU_LABELS) for f in fields]
    for g in s.gpus:
        known = static.get(g.index)
        labels = [node, str(g.index), label(g.uuid), label(known.name if known else "")]
        info.add_metric([*labels, label(known.pci_bus_id if known else "")], 1.0)
        for name in ("ok", "lost", "error"):
            state.add_metric([*labels, name], 1.0 if g.state == name else 0.0)
        for field, fam in zip(fields, fams, strict=True):
            _add(fam, labels, getattr(g, field.attr, None), field.scale)
    yield info
    yield state
    yield from fams


def _proc_families(s: Sample, node: str) -> Iterator[Metric]:
    if not s.procs:
        return
    info = _gauge(n.PROC_INFO, "Facts about a listed process (GPU processes and the top N by "
                  "CPU); always 1.", (*n.PROC_LABELS, "ppid", "user", "command"))
    fams = [_family(f, n.PROC_LABELS) for f in n.PROC]
    gpu_fams = [_family(f, (*n.PROC_LABELS, "gpu")) for f in n.PROC_GPU]
    for p in s.procs:
        labels = [node, str(p.pid), label(p.name)]
        info.add_metric([*labels, "" if p.ppid is None else str(p.ppid), label(p.user),
                         label(p.cmdline, COMMAND_MAX)], 1.0)
        for field, fam in zip(n.PROC, fams, strict=True):
            _add(fam, labels, getattr(p, field.attr), field.scale)
        for use in p.gpus:
            for field, fam in zip(n.PROC_GPU, gpu_fams, strict=True):
                _add(fam, [*labels, str(use.index)], getattr(use, field.attr), field.scale)
    yield info
    yield from fams
    yield from gpu_fams


def writer_families(writer: object, node: str) -> list[Metric]:
    """The InfluxDB writer's own counters (written, dropped, failed, queued)."""
    stats = writer.stats  # type: ignore[attr-defined]
    node = label(node)
    out: list[Metric] = []
    for name, help, value in (
        ("influx_lines_written", "Lines InfluxDB accepted.", stats.written),
        ("influx_lines_dropped", "Lines dropped: queue full or rejected as malformed.",
         stats.dropped),
        ("influx_write_failures", "Write requests that failed (retried).", stats.failures),
    ):
        fam = CounterMetricFamily(n.PREFIX + name, help, labels=["node"])
        fam.add_metric([node], float(value))
        out.append(fam)
    queued = _gauge(n.PREFIX + "influx_queue_lines", "Lines waiting to be written.")
    queued.add_metric([node], float(writer.queued))  # type: ignore[attr-defined]
    out.append(queued)
    return out
