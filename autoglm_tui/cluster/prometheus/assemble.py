"""One node's query results as the sampler's model objects (pure: no I/O, no clock).

``node_sample(node_id, values, infos, ...)`` gives the ``Sample`` the SSH path would have
delivered, plus the figures Prometheus already derived (rates, which the sampler would ship as
raw counters); ``node_hello`` gives its ``Hello``. For each figure the first exporter kind in
``mapping.KINDS`` order that has it wins; a figure no kind has stays None (N/A), never 0.
"""

from __future__ import annotations

from collections.abc import Mapping

from autoglm_tui.cluster.prometheus.mapping import KINDS
from autoglm_tui.cluster.prometheus.queries import Target
from autoglm_tui.cluster.prometheus.services import RawService, node_services
from autoglm_tui.exporter.names import GPU_HEALTH
from autoglm_tui.model import (
    SCHEMA,
    CpuSample,
    DiskCounters,
    GpuInfo,
    GpuSample,
    Hello,
    HostStatic,
    MemSample,
    NetCounters,
    NvmlInfo,
    ProcGpuUse,
    ProcSample,
    Sample,
    SelfSample,
)
from autoglm_tui.text import clean

Values = Mapping[tuple[str, str, object], Mapping[str, float]]
Infos = Mapping[tuple[str, str, object], Mapping[str, str]]
Derived = dict[tuple[str, "int | str | None"], "float | None"]
ORDER = tuple(k.name for k in KINDS)
HEALTH_FIELDS = tuple((f.attr, f.attr.startswith("throttle")) for f in GPU_HEALTH)
SERVICE_KEYS = tuple(dict.fromkeys(e.key for k in KINDS for e in k.entries
                                   if e.key.startswith("svc.")))
NO_GPU_EXPORTER = ("no GPU exporter for this node in Prometheus (autoglm-tui exporter or "
                   "dcgm-exporter)")


class _Pick:
    """Reads one node's values, first kind first (merged once per subject)."""

    def __init__(self, values: Values) -> None:
        self.values = values
        merged: dict[tuple[str, object], dict[str, float]] = {}
        rank = {k: i for i, k in enumerate(ORDER)}
        # lowest priority first, so that the first kind's values win the update
        for (kind, scope, subject) in sorted(values, key=lambda w: -rank.get(w[0], 99)):
            merged.setdefault((scope, subject), {}).update(values[(kind, scope, subject)])
        self.merged = merged
        self._subjects: dict[str, list[object]] = {}

    def __call__(self, key: str, scope: str = "node", subject: object = None) -> float | None:
        part = self.merged.get((scope, subject))
        return None if part is None else part.get(key)

    def subjects(self, scope: str) -> list[object]:
        """Subjects of `scope` (GPU indices, cores, pids) from the first kind that has any."""
        found = self._subjects.get(scope)
        if found is None:
            found = []
            for kind in ORDER:
                mine = {s for (k, sc, s) in self.values if k == kind and sc == scope}
                if mine:
                    found = sorted(mine)  # type: ignore[type-var]
                    break
            self._subjects[scope] = found
        return found


def _int(value: float | None) -> int | None:
    return None if value is None else round(value)


def _info(infos: Infos, kind: str, key: str, subject: object = None) -> Mapping[str, str]:
    return infos.get((kind, key, subject)) or {}


def node_sample(node_id: str, values: Values, infos: Infos, t: float, seq: int,
                targets: Mapping[str, Target] | None = None, details: bool = False,
                services: Mapping[str, RawService] | None = None) -> tuple[Sample, Derived]:
    """The node's sample at `t` and the figures Prometheus derived (rates) for the state;
    `services` are our exporter's raw service series of the node (read with the details)."""
    pick = _Pick(values)
    loads = (pick("load.1"), pick("load.5"), pick("load.15"))
    cpu = CpuSample(
        util_pct=pick("cpu.util_pct"),
        per_core_pct=tuple(v for v in (pick("core.util_pct", "core", c)
                                        for c in pick.subjects("core")) if v is not None)
        if details else (),
        iowait_pct=pick("cpu.iowait_pct"),
        load=loads if None not in loads else None,  # type: ignore[arg-type]
    )
    total, avail, used = pick("mem.total"), pick("mem.available"), pick("mem.used")
    if used is None and total is not None and avail is not None:
        used = total - avail
    used_pct = None
    if total:
        ref = total - avail if avail is not None else used
        used_pct = None if ref is None else max(0.0, min(100.0, 100.0 * ref / total))
    swap_total, swap_used = pick("swap.total"), pick("swap.used")
    if swap_used is None and swap_total is not None and pick("swap.free") is not None:
        swap_used = swap_total - pick("swap.free")  # type: ignore[operator]
    mem = MemSample(
        total_bytes=_int(total), used_bytes=_int(used), available_bytes=_int(avail),
        used_pct=used_pct, swap_total_bytes=_int(swap_total), swap_used_bytes=_int(swap_used),
        swap_used_pct=(100.0 * swap_used / swap_total) if swap_total and swap_used is not None
        else None,
    )
    speed = pick("net.speed_bytes")
    link_mbps = _int(speed * 8 / 1e6) if speed else None
    self_cpu, self_rss = pick("self.cpu_s"), pick("self.rss")
    sample = Sample(
        t=t, seq=seq, cpu=cpu, mem=mem,
        disk=DiskCounters(None, None, None, None, None, None, None),
        net=NetCounters(None, None, None, None, None, None, link_mbps),
        gpus=_gpus(pick, infos),
        procs=_procs(pick, infos) if details else (),
        procs_fresh=details,
        self_cost=SelfSample(self_cpu, _int(self_rss) or 0) if self_cpu is not None else None,
        services=node_services(services),  # type: ignore[arg-type]
        errors=_target_errors(targets),
    )
    return sample, _derived(pick, link_mbps)


def _derived(pick: _Pick, link_mbps: int | None) -> Derived:
    """Rates Prometheus computed (irate), under the state's metric names."""
    out: Derived = {}
    rb, wb = pick("rate.disk_read_bytes"), pick("rate.disk_write_bytes")
    reads, writes = pick("rate.disk_reads"), pick("rate.disk_writes")
    rt, wt = pick("rate.disk_read_time_s"), pick("rate.disk_write_time_s")
    rx, tx = pick("rate.net_rx_bytes"), pick("rate.net_tx_bytes")
    out[("disk.read_bps", None)] = rb
    out[("disk.write_bps", None)] = wb
    ops = None if reads is None or writes is None else reads + writes
    out[("disk.iops", None)] = ops
    wait = None
    if ops is not None and rt is not None and wt is not None:
        wait = 1000.0 * (rt + wt) / ops if ops > 0 else 0.0  # nothing completed: none waited
    out[("disk.await_ms", None)] = wait
    out[("net.rx_bps", None)] = rx
    out[("net.tx_bps", None)] = tx
    util = None
    if link_mbps and rx is not None and tx is not None:
        util = min(100.0, 100.0 * max(rx, tx) * 8 / (link_mbps * 1e6))
    out[("net.util_pct", None)] = util
    for key in SERVICE_KEYS:  # our exporter's services, servers Prometheus scrapes (vLLM...)
        value = pick(key)
        if value is not None:
            out[(key, None)] = value
    return out


def _gpus(pick: _Pick, infos: Infos) -> tuple[GpuSample, ...]:
    out = []
    for index in pick.subjects("gpu"):
        assert isinstance(index, int)
        used, total = pick("gpu.mem_used", "gpu", index), pick("gpu.mem_total", "gpu", index)
        free = pick("gpu.mem_free", "gpu", index)
        if total is None and used is not None and free is not None:
            total = used + free + (pick("gpu.mem_reserved", "gpu", index) or 0.0)
        state = _info(infos, "autoglm", "gpu_state", index).get("state", "ok")
        out.append(GpuSample(
            index=index,
            uuid=_gpu_uuid(infos, index),
            state=state if state in ("ok", "lost", "error") else "error",
            util_pct=pick("gpu.util_pct", "gpu", index),
            mem_util_pct=pick("gpu.mem_util_pct", "gpu", index),
            mem_used_bytes=_int(used), mem_total_bytes=_int(total),
            temp_c=pick("gpu.temp_c", "gpu", index),
            power_w=pick("gpu.power_w", "gpu", index),
            power_limit_w=pick("gpu.power_limit_w", "gpu", index),
            fan_pct=pick("gpu.fan_pct", "gpu", index),
            sm_clock_mhz=pick("gpu.sm_clock_mhz", "gpu", index),
            pcie_rx_bps=pick("gpu.pcie_rx_bps", "gpu", index),
            pcie_tx_bps=pick("gpu.pcie_tx_bps", "gpu", index),
            ecc_errors=_int(pick("gpu.ecc", "gpu", index)),
            xid=_int(pick("gpu.xid", "gpu", index)),
            **_health(pick, index),
        ))
    return tuple(out)


def _health(pick: _Pick, index: int) -> dict[str, float | int | None]:
    """The GPU health fields our exporter (or dcgm-exporter, for a few) passed on."""
    out: dict[str, float | int | None] = {}
    for attr, is_float in HEALTH_FIELDS:
        value = pick(f"health.{attr}", "gpu", index)
        out[attr] = value if is_float or value is None else round(value)
    return out


def _gpu_uuid(infos: Infos, index: int) -> str:
    return (_info(infos, "autoglm", "gpu", index).get("uuid")
            or _info(infos, "dcgm", "gpu", index).get("UUID") or "")


def _gpu_model(infos: Infos, index: int) -> str:
    return (_info(infos, "autoglm", "gpu", index).get("model")
            or _info(infos, "dcgm", "gpu", index).get("modelName") or "")


def _procs(pick: _Pick, infos: Infos) -> tuple[ProcSample, ...]:
    pids = {s for s in pick.subjects("proc") if isinstance(s, int)}
    pids |= {s for (k, key, s) in infos if key == "processes" and isinstance(s, int)}
    gpu_use: dict[int, list[ProcGpuUse]] = {}
    for subject in pick.subjects("proc_gpu"):
        if isinstance(subject, tuple):
            pid, gpu = subject
            gpu_use.setdefault(pid, []).append(ProcGpuUse(
                gpu, _int(pick("pgpu.mem", "proc_gpu", subject)),
                pick("pgpu.sm_pct", "proc_gpu", subject)))
    out = []
    for pid in sorted(pids):
        info = _info(infos, "autoglm", "processes", pid)
        ppid = info.get("ppid", "")
        out.append(ProcSample(
            pid=pid, ppid=int(ppid) if ppid.isdigit() else None,
            user=info.get("user", ""), name=info.get("name", ""),
            cmdline=info.get("command", ""),
            cpu_pct=pick("proc.cpu_pct", "proc", pid),
            rss_bytes=_int(pick("proc.rss", "proc", pid)),
            create_time=pick("proc.start", "proc", pid),
            num_threads=_int(pick("proc.threads", "proc", pid)),
            gpus=tuple(gpu_use.get(pid, ())),
        ))
    return tuple(out)


def _target_errors(targets: Mapping[str, Target] | None) -> tuple[str, ...]:
    if not targets:
        return ()
    return tuple(
        clean(f"{t.job} target {t.instance}: scrape failed (up=0)", 300)
        for t in sorted(targets.values(), key=lambda t: t.instance) if t.up == 0
    )


def node_hello(node_id: str, values: Values, infos: Infos, t: float, interval_s: float
               ) -> Hello:
    """Static facts of a node: our exporter's node_info first, then node_exporter's uname."""
    pick = _Pick(values)
    ours = _info(infos, "autoglm", "node")
    uname = _info(infos, "node", "uname")
    cores_info = _info(infos, "node", "cores").get("__value__")
    cores = pick("cpu.cores")
    if cores is None and cores_info:
        try:
            cores = float(cores_info)
        except ValueError:
            cores = None
    gpus = []
    for index in pick.subjects("gpu"):
        assert isinstance(index, int)
        total = pick("gpu.mem_total", "gpu", index)
        gpus.append(GpuInfo(
            index=index, uuid=_gpu_uuid(infos, index), name=_gpu_model(infos, index),
            mem_total_bytes=_int(total),
            pci_bus_id=(_info(infos, "autoglm", "gpu", index).get("pci_bus_id")
                        or _info(infos, "dcgm", "gpu", index).get("pci_bus_id") or None),
        ))
    kinds = sorted({k for (k, _s, _x) in values} | {k for (k, _i, _x) in infos},
                   key=lambda k: ORDER.index(k) if k in ORDER else len(ORDER))
    speed = pick("net.speed_bytes")
    static = HostStatic(
        hostname=ours.get("hostname") or uname.get("nodename") or node_id,
        os=ours.get("os") or _info(infos, "node", "os").get("pretty_name", ""),
        kernel=ours.get("kernel") or uname.get("release", ""),
        cpu_model=ours.get("cpu_model", ""),
        cpu_cores_logical=_int(cores), cpu_cores_physical=None,
        mem_total_bytes=_int(pick("mem.total")), swap_total_bytes=_int(pick("swap.total")),
        boot_time=pick("boot.time"),
        nvml=_nvml(infos, bool(gpus)),
        gpus=tuple(gpus),
        net_links_mbps={"all": _int(speed * 8 / 1e6)} if speed else {},  # type: ignore[dict-item]
        collector="prometheus:" + "+".join(kinds),
        interval_s=interval_s,
    )
    return Hello(schema=SCHEMA, host=static.hostname,
                 sampler_version=ours.get("sampler_version") or "prometheus", t=t, static=static)


def _nvml(infos: Infos, has_gpus: bool) -> NvmlInfo:
    ours = _info(infos, "autoglm", "nvml")
    if ours:
        node = _info(infos, "autoglm", "node")
        return NvmlInfo(available=ours.get("__value__") == "1",
                        reason=ours.get("reason") or None,
                        driver_version=node.get("driver_version") or None,
                        nvml_version=node.get("nvml_version") or None)
    dcgm = next((v for (k, key, _s), v in infos.items() if k == "dcgm" and key == "gpu"), None)
    if dcgm is not None:
        return NvmlInfo(available=True, driver_version=dcgm.get("DCGM_FI_DRIVER_VERSION") or None)
    if has_gpus:
        return NvmlInfo(available=True)
    return NvmlInfo(available=False, reason=NO_GPU_EXPORTER)
