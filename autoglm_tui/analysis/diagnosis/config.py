"""Thresholds and windows of every finding, with the defaults the README documents."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LatencyConfig:
    """(a) Latency vs resources: a ridge regression of a service's latency (P95 or mean; end to
    end, else time to first token, else time per token) on the node's resources."""

    window_s: float = 900.0
    period_s: float = 60.0
    min_points: int = 60
    min_r2: float = 0.3  # weaker fits say nothing
    min_beta: float = 0.1  # factors below this (standardised) are not named
    flat_cv: float = 0.02  # latency whose std is below 2% of its mean is flat
    flat_abs_s: float = 0.005  # ... or below 5 ms
    flat_abs_token_s: float = 0.0005  # ... or, for time per token, below 0.5 ms
    collinear_r: float = 0.95  # of two inputs this correlated, the weaker one is dropped
    # An input this correlated with time is a steady drift through the window (memory creeping
    # up): it matches any other drift, so beside an input that moves for its own reasons it is
    # left out rather than named
    drift_r: float = 0.95
    alpha: float = 0.01  # ridge penalty per point, on standardised inputs
    min_coverage: float = 0.8  # an input must be known at this share of the latency points
    # A service's latency figures cover the last minute (the monitor's --service-window): the
    # inputs are also fitted averaged over that trailing span, and the better fit is said
    # (0: only as sampled)
    smooth_s: float = 60.0


@dataclass(frozen=True)
class RiseConfig:
    """(a) A latency that went up and stayed up, and what changed at that moment."""

    window_s: float = 900.0
    period_s: float = 30.0
    after_s: float = 60.0  # the rise has lasted this long (a burst is not a rise)
    before_s: float = 300.0  # ... with this much history before it to compare with
    min_points: int = 60  # known latency points in the window
    ratio: float = 1.5  # the median after is this many times the median before, or more
    min_rise_s: float = 0.01  # ... and higher by this much (end to end, first token)
    min_rise_token_s: float = 0.001  # ... (time per token)
    shift_z: float = 3.0  # a resource moved this many spreads of its level before
    # A service's latency figures cover its last minute (the monitor's --service-window) and
    # count requests when they finish, so the figure crosses midway up to about 70 s after
    # its cause (47-64 s measured on llama.cpp): a resource's "before" ends this far ahead of
    # the onset, and its "after" starts `guard_s` past it
    lead_s: float = 90.0
    guard_s: float = 15.0
    min_side_points: int = 6  # a resource needs this many values on each side of the onset
    proc_cpu_rise: float = 20.0  # a process named as what took the CPU gained this (% of a core)
    load_ratio: float = 1.25  # a load figure (requests/s, prompt length...) rose this many times


@dataclass(frozen=True)
class BottleneckConfig:
    """(b) Batch-inference bottlenecks; a condition must hold at `coverage` of the window."""

    window_s: float = 120.0
    period_s: float = 10.0
    min_points: int = 12
    coverage: float = 0.8
    gpu_low_pct: float = 50.0  # GPU under-used below this (mean of the node's GPUs)
    gpu_busy_pct: float = 90.0
    cpu_high_pct: float = 90.0
    pcie_near_limit: float = 0.7  # share of the link's bandwidth, per direction
    pcie_default_limit_bps: float = 31.5e9  # PCIe 4.0 x16 per direction, when the link is unknown
    gpu_mem_full_pct: float = 90.0
    kv_full_pct: float = 95.0
    queue_growth_min: float = 4.0  # requests more at the end of the window than at its start
    throughput_flat: float = 0.1  # tokens/s change over the window within 10% of its mean
    await_high_ms: float = 50.0
    iowait_high_pct: float = 10.0
    io_window_s: float = 300.0  # the IO scenario hints read the IO correlation window
    io_checks: int = 6  # ... at this many points 10 s apart; all but one must match
    throttle_share: float = 0.5  # throttled at least half of the window while busy
    throttle_busy_pct: float = 50.0
    straggler_window_s: float = 120.0


@dataclass(frozen=True)
class ScalingConfig:
    """(c) Kubernetes HPA's rule on a group of replicas."""

    period_s: float = 15.0
    window_s: float = 60.0  # the observed value is the mean over this window
    target_gpu_util_pct: float = 70.0
    target_queue_per_replica: float | None = 4.0  # None: not used
    target_kv_cache_pct: float | None = 80.0
    tolerance: float = 0.1
    min_replicas: int = 1
    max_replicas: int | None = None
    downscale_stabilization_s: float = 300.0
    step_s: float = 30.0  # recommendations inside the stabilisation window are this far apart


@dataclass(frozen=True)
class LeakConfig:
    """(d) Memory that keeps growing per process, and GPU memory that nobody holds."""

    window_s: float = 600.0
    period_s: float = 60.0
    min_span_s: float = 300.0
    min_points: int = 20
    min_growth_bytes: float = 256 * (1 << 20)  # over the window
    min_growth_share: float = 0.002  # ... and at least 0.2% of the memory it can grow into
    max_drawdown: float = 0.25  # a drop of more than this share of the growth: memory is freed
    persist_ratio: float = 0.3  # the second half's slope is at least 30% of the whole
    critical_eta_s: float = 3600.0
    orphan_period_s: float = 30.0
    orphan_min_bytes: float = 1 << 30
    orphan_min_share: float = 0.05


@dataclass(frozen=True)
class DiagnosisConfig:
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    rise: RiseConfig = field(default_factory=RiseConfig)
    bottleneck: BottleneckConfig = field(default_factory=BottleneckConfig)
    scaling: ScalingConfig = field(default_factory=ScalingConfig)
    leak: LeakConfig = field(default_factory=LeakConfig)
    clear_after_s: float = 60.0  # a finding no longer seen stays this long ("clearing")
    group_label: str = "service"  # nodes sharing this label's value are replicas (and peers)
